"""The canonical shape of a matches table, shared by every part of the package.

The CSV importer and the synthetic generator produce frames in this shape, the database stores
it, the feature pass adds columns to it and the engine reads it. Keeping the names in one module
means a new price source or market is added in one place.

A matches frame has one row per match with:

* identity: ``match_id`` (int, unique, stable), ``league`` (str, football-data ``Div`` code such
  as ``"E0"``), ``season`` (str, ``"2019-20"``: July to June), ``kickoff`` (naive
  ``datetime64[ns]``; midnight when the source file has no ``Time`` column), ``home_team``,
  ``away_team`` (str);
* result: ``fthg``, ``ftag`` (full-time goals, int), ``hthg``, ``htag`` (half-time goals, float,
  NaN when unknown);
* odds: one float column per price source and market, named ``f"{source}_{market}"`` (for example
  ``avg_home``, ``b365_close_over25``, ``pinnacle_close_ah_away``); NaN when the source does not
  price that match;
* Asian handicap lines: ``ah_home_line`` (football-data ``AHh``/``BbAHh``, the home side's
  handicap the pre-closing AH prices are quoted at) and ``ah_home_line_close`` (``AHCh``, the line
  of the closing prices). The away side's line is the negative. They travel with the odds columns
  (:data:`ODDS_COLUMNS` holds both) because they are stored, loaded and filtered the same way.
"""

from __future__ import annotations

from typing import Final

#: Where a price comes from. ``avg``/``max`` are the market average and best price of the day
#: (football-data's ``Avg*``/``Max*``, or ``BbAv*``/``BbMx*`` in older files); ``*_close`` are the
#: closing prices, which only newer files carry; ``betfair_ex*`` is the Betfair exchange (``BFE*``,
#: newest files only).
PRICE_SOURCES: Final[tuple[str, ...]] = (
    "b365",
    "pinnacle",
    "avg",
    "max",
    "b365_close",
    "pinnacle_close",
    "avg_close",
    "max_close",
    "betfair_ex",
    "betfair_ex_close",
)

#: Markets that have an odds column. ``btts_*`` (both teams to score) odds are absent from
#: football-data files, but the synthetic generator prices them.
ODDS_MARKETS: Final[tuple[str, ...]] = (
    "home",
    "draw",
    "away",
    "over25",
    "under25",
    "btts_yes",
    "btts_no",
    "ah_home",
    "ah_away",
)

#: Asian handicap markets: priced at a line (see :func:`line_column`), settled with quarter lines.
AH_MARKETS: Final[tuple[str, ...]] = ("ah_home", "ah_away")

#: The outcomes one book prices together: margin removal works over one of these groups.
MARKET_OUTCOMES: Final[dict[str, tuple[str, ...]]] = {
    market: group
    for group in (
        ("home", "draw", "away"),
        ("over25", "under25"),
        ("btts_yes", "btts_no"),
        ("ah_home", "ah_away"),
    )
    for market in group
}

#: Sources of a bet's fair closing probability, in order of preference: Pinnacle's closing
#: prices where the row has all of the market's outcomes, else the market average at the close.
FAIR_CLOSE_SOURCES: Final[tuple[str, ...]] = ("pinnacle_close", "avg_close")

#: Asian handicap line columns (home side): the pre-closing line and the closing line.
LINE_COLUMNS: Final[tuple[str, ...]] = ("ah_home_line", "ah_home_line_close")

IDENTITY_COLUMNS: Final[tuple[str, ...]] = (
    "match_id",
    "league",
    "season",
    "kickoff",
    "home_team",
    "away_team",
)
RESULT_COLUMNS: Final[tuple[str, ...]] = ("fthg", "ftag", "hthg", "htag")
#: What every settled-match computation (the engine, the feature pass) needs at the least.
SETTLEMENT_COLUMNS: Final[tuple[str, ...]] = (*IDENTITY_COLUMNS, "fthg", "ftag")


def odds_column(source: str, market: str) -> str:
    """Name of the column holding ``source``'s price for ``market``."""
    if source not in PRICE_SOURCES:
        raise ValueError(f"unknown price source {source!r}; expected one of {PRICE_SOURCES}")
    if market not in ODDS_MARKETS:
        raise ValueError(f"unknown odds market {market!r}; expected one of {ODDS_MARKETS}")
    return f"{source}_{market}"


#: Every price column, source-major (``b365_home``, ``b365_draw``, ...).
PRICE_COLUMNS: Final[tuple[str, ...]] = tuple(
    f"{source}_{market}" for source in PRICE_SOURCES for market in ODDS_MARKETS
)
#: The per-match market columns a file carries and the database stores: prices and AH lines.
ODDS_COLUMNS: Final[tuple[str, ...]] = PRICE_COLUMNS + LINE_COLUMNS


def closing_source(source: str) -> str:
    """The closing counterpart of a price source (a closing source is its own)."""
    if source not in PRICE_SOURCES:
        raise ValueError(f"unknown price source {source!r}; expected one of {PRICE_SOURCES}")
    return source if source.endswith("_close") else f"{source}_close"


def line_column(source: str, market: str) -> str | None:
    """Column of the (home) line ``source``'s price for ``market`` is quoted at; None if no line.

    Closing sources are quoted at the closing line ``AHCh``, the others at ``AHh``.
    """
    if market not in AH_MARKETS:
        return None
    return LINE_COLUMNS[1] if closing_source(source) == source else LINE_COLUMNS[0]


def market_columns(source: str, market: str) -> tuple[str, ...]:
    """Every column a backtest of ``market`` at ``source`` reads besides identity and goals.

    The bet's price and line, the same source's closing price (for ``clv_beat_share``), and all
    outcomes of the market at each :data:`FAIR_CLOSE_SOURCES` source with their line (for the
    fair closing probability). This is the one place that knows it; a loader that reads only the
    columns a filter needs asks here.
    """
    columns = [odds_column(source, market), odds_column(closing_source(source), market)]
    for fair in FAIR_CLOSE_SOURCES:
        columns += [odds_column(fair, m) for m in MARKET_OUTCOMES[market]]
    columns += [c for s in (source, FAIR_CLOSE_SOURCES[0]) if (c := line_column(s, market))]
    return tuple(dict.fromkeys(columns))


MATCH_COLUMNS: Final[tuple[str, ...]] = IDENTITY_COLUMNS + RESULT_COLUMNS + ODDS_COLUMNS


def season_of(year: int, month: int) -> str:
    """Season label of a date: July to June, e.g. (2019, 8) and (2020, 5) are ``"2019-20"``."""
    start = year if month >= 7 else year - 1
    return f"{start}-{(start + 1) % 100:02d}"


#: Pre-match team features per side (computed by :mod:`filterbets_nb.features`, stored in the
#: ``match_features`` table): ``f"{side}_{name}"`` for side in ``("home", "away")``.
FEATURE_NAMES: Final[tuple[str, ...]] = (
    "played",
    "ppg",
    "form_pts_5",
    "form_pts_10",
    "form_w_5",
    "form_d_5",
    "form_l_5",
    "form_w_10",
    "form_d_10",
    "form_l_10",
    "gf_avg",
    "ga_avg",
    "gf_avg_home",
    "ga_avg_home",
    "gf_avg_away",
    "ga_avg_away",
    "clean_sheet_pct",
    "failed_to_score_pct",
)
FEATURE_COLUMNS: Final[tuple[str, ...]] = tuple(
    f"{side}_{name}" for side in ("home", "away") for name in FEATURE_NAMES
)

#: The result columns that settle a bet on each market, besides the identity columns. The data
#: path reads exactly these for a filter's market, so a market settled from more (a handicap
#: line, corners...) adds them to its entry here and nothing else changes.
MARKET_SETTLEMENT_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    market: ("fthg", "ftag") for market in ODDS_MARKETS
}
