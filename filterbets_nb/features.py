"""Pre-match team features, computed without look-ahead.

Every feature of a match describes the two teams as they stood *before* kick-off: it is built only
from matches that kicked off strictly earlier (a team's other match at the very same kick-off time,
which only happens in messy data, is not "earlier" and is ignored). That is what makes a backtest
honest: a filter such as ``home_form_pts_5 >= 10`` can only use what a bettor could have known.

Definitions (``side`` is ``home`` or ``away``; the team is identified by its name *within its
league*, so two leagues may share a team name without mixing histories):

* season to date (the match's own season, earlier matches of that season only):
  ``{side}_played`` (count), ``{side}_ppg`` (points per game, 3/1/0), ``{side}_gf_avg`` /
  ``{side}_ga_avg`` (goals for / against per game), ``{side}_gf_avg_home`` / ``{side}_ga_avg_home``
  (the same over that team's *home* matches only) and ``..._away`` (its away matches only),
  ``{side}_clean_sheet_pct`` / ``{side}_failed_to_score_pct`` (percent, 0-100).
* form (the team's last 5 or 10 matches in the whole frame, across seasons):
  ``{side}_form_pts_{n}`` (points), ``{side}_form_w_{n}``, ``{side}_form_d_{n}``,
  ``{side}_form_l_{n}`` (wins / draws / losses). With fewer than ``n`` earlier matches the window
  covers what exists (a team's 3rd match has form over 2 matches); with none it is NaN.

Averages and percentages over zero matches are NaN (``played`` is then 0), so a rule on them never
matches (see :mod:`filterbets_nb.filters`). Matches without a full-time result (NaN goals, e.g.
fixtures not yet played) get features but contribute nothing to later matches.

Implementation: one long frame with two rows per match (one per team), sorted by team, kick-off and
``match_id``; prefix sums over that order give every "sum over earlier matches" with two array
look-ups, so the cost is a couple of sorts regardless of the number of teams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from filterbets_nb import schema

if TYPE_CHECKING:
    import pandas as pd

SIDES: Final[tuple[str, str]] = ("home", "away")
FORM_WINDOWS: Final[tuple[int, ...]] = (5, 10)

#: Per-team statistic -> description; a feature column is ``f"{side}_{stat}"``.
_STAT_DESCRIPTIONS: Final[dict[str, str]] = {
    "played": "matches played this season before kick-off",
    "ppg": "points per game this season before kick-off (3 win, 1 draw)",
    "form_pts_5": "points in the last 5 matches (any season) before kick-off",
    "form_pts_10": "points in the last 10 matches (any season) before kick-off",
    "form_w_5": "wins in the last 5 matches before kick-off",
    "form_d_5": "draws in the last 5 matches before kick-off",
    "form_l_5": "losses in the last 5 matches before kick-off",
    "form_w_10": "wins in the last 10 matches before kick-off",
    "form_d_10": "draws in the last 10 matches before kick-off",
    "form_l_10": "losses in the last 10 matches before kick-off",
    "gf_avg": "goals scored per game this season before kick-off",
    "ga_avg": "goals conceded per game this season before kick-off",
    "gf_avg_home": "goals scored per home game this season before kick-off",
    "ga_avg_home": "goals conceded per home game this season before kick-off",
    "gf_avg_away": "goals scored per away game this season before kick-off",
    "ga_avg_away": "goals conceded per away game this season before kick-off",
    "clean_sheet_pct": "percent of this season's earlier matches without conceding",
    "failed_to_score_pct": "percent of this season's earlier matches without scoring",
}

#: Per-team statistic names, owned by the schema (the database has one column per feature).
TEAM_STATS: Final[tuple[str, ...]] = schema.FEATURE_NAMES
if set(TEAM_STATS) != set(_STAT_DESCRIPTIONS):  # pragma: no cover - guards schema edits
    raise ImportError("features._STAT_DESCRIPTIONS is out of sync with schema.FEATURE_NAMES")

#: Every column :func:`compute_features` returns, home side first (= schema.FEATURE_COLUMNS).
FEATURE_COLUMNS: Final[tuple[str, ...]] = schema.FEATURE_COLUMNS

#: Feature column -> one-line description (used by ``filters.FIELDS`` and the docs).
FEATURE_DESCRIPTIONS: Final[dict[str, str]] = {
    f"{side}_{stat}": f"{side} team: {_STAT_DESCRIPTIONS[stat]}"
    for side in SIDES
    for stat in TEAM_STATS
}

#: Columns of :func:`team_snapshot`.
SNAPSHOT_COLUMNS: Final[tuple[str, ...]] = (
    "league",
    "team",
    "season",
    "last_match",
    "played",
    "ppg",
    "form_pts_5",
    "form_pts_10",
    "gf_avg",
    "ga_avg",
)

_REQUIRED = schema.SETTLEMENT_COLUMNS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class _Long:
    """Two rows per match (home rows then away rows), as plain arrays."""

    def __init__(self, matches: pd.DataFrame) -> None:
        import pandas as pd

        missing = [c for c in _REQUIRED if c not in matches.columns]
        if missing:
            raise ValueError(f"matches frame lacks columns {missing}")
        n = len(matches)
        league = pd.factorize(matches["league"])[0].astype(np.int64)
        names = pd.concat([matches["home_team"], matches["away_team"]], ignore_index=True)
        team_name_code = pd.factorize(names)[0].astype(np.int64)
        # Identity = (league, team name): combine the two codes into one integer.
        n_names = int(team_name_code.max()) + 1 if len(team_name_code) else 1
        self.team = np.concatenate([league, league]) * n_names + team_name_code
        season_codes = pd.factorize(matches["season"], sort=True)[0].astype(np.int64)
        self.season = np.concatenate([season_codes, season_codes])
        kick = _kickoff_ns(matches["kickoff"])
        self.kickoff = np.concatenate([kick, kick])
        mid = matches["match_id"].to_numpy()
        self.match_id = np.concatenate([mid, mid])
        hg = matches["fthg"].to_numpy(dtype=np.float64, na_value=np.nan)
        ag = matches["ftag"].to_numpy(dtype=np.float64, na_value=np.nan)
        self.is_home = np.concatenate([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
        gf = np.concatenate([hg, ag])
        ga = np.concatenate([ag, hg])
        self.played = ~(np.isnan(gf) | np.isnan(ga))
        self.gf = np.where(self.played, gf, 0.0)
        self.ga = np.where(self.played, ga, 0.0)
        self.win = self.played & (self.gf > self.ga)
        self.draw = self.played & (self.gf == self.ga)
        self.loss = self.played & (self.gf < self.ga)
        self.points = 3.0 * self.win + 1.0 * self.draw
        self.n = n


def _kickoff_ns(kickoff: pd.Series) -> IntArray:
    """Kick-off as int64 nanoseconds, whatever datetime unit pandas chose for the column."""
    import pandas as pd

    values = pd.to_datetime(kickoff).to_numpy().astype("datetime64[ns]")
    return values.view(np.int64)


def _run_start(*keys: npt.NDArray[np.int64]) -> IntArray:
    """Index of the first row of each row's run of equal ``keys`` (arrays already sorted)."""
    n = len(keys[0])
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
        for key in keys:
            new[1:] |= key[1:] != key[:-1]
    return np.maximum.accumulate(np.where(new, np.arange(n), 0))


def _prefix(values: FloatArray) -> FloatArray:
    """Exclusive prefix sums with a leading zero: ``out[j]`` = sum of ``values[:j]``."""
    out = np.zeros(len(values) + 1, dtype=np.float64)
    np.cumsum(values, out=out[1:])
    return out


class _Windows:
    """Sums over a sorted long frame between per-row start and end indices.

    ``end`` is exclusive (rows ``start..end-1``); with ``window`` the start is moved forward so the
    range holds at most ``window`` *played* rows (unplayed rows carry zeros, so skipping them in the
    count is what makes "last 5 matches" mean five results).
    """

    def __init__(
        self, played: BoolArray, group_start: IntArray, end: IntArray, window: int | None
    ) -> None:
        played_cum = _prefix(played.astype(np.float64))
        start = group_start
        if window is not None:
            target = played_cum[end] - window
            first = np.searchsorted(played_cum, target, side="left").astype(np.int64)
            start = np.maximum(group_start, np.minimum(first, end))
        self.start = start
        self.end = end
        self.count = played_cum[end] - played_cum[start]

    def total(self, values: FloatArray) -> FloatArray:
        pre = _prefix(values)
        return pre[self.end] - pre[self.start]

    def mean(self, values: FloatArray, count: FloatArray | None = None) -> FloatArray:
        """Sum / count, NaN over an empty range."""
        denom = self.count if count is None else count
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, self.total(values) / np.where(denom > 0, denom, 1), np.nan)


def _season_stats(lg: _Long, order: IntArray, end: IntArray) -> dict[str, FloatArray]:
    """Season-to-date statistics for rows sorted by ``order`` (team, season, kickoff, id)."""
    group_start = _run_start(lg.team[order], lg.season[order])
    played = lg.played[order]
    w = _Windows(played, group_start, end, None)
    gf, ga, home = lg.gf[order], lg.ga[order], lg.is_home[order]
    home_played = (played & home).astype(np.float64)
    away_played = (played & ~home).astype(np.float64)
    home_count = w.total(home_played)
    away_count = w.total(away_played)
    return {
        "played": w.count,
        "ppg": w.mean(lg.points[order]),
        "gf_avg": w.mean(gf),
        "ga_avg": w.mean(ga),
        "gf_avg_home": w.mean(np.where(home, gf, 0.0), home_count),
        "ga_avg_home": w.mean(np.where(home, ga, 0.0), home_count),
        "gf_avg_away": w.mean(np.where(home, 0.0, gf), away_count),
        "ga_avg_away": w.mean(np.where(home, 0.0, ga), away_count),
        "clean_sheet_pct": 100.0 * w.mean((played & (ga == 0)).astype(np.float64)),
        "failed_to_score_pct": 100.0 * w.mean((played & (gf == 0)).astype(np.float64)),
    }


def _form_stats(lg: _Long, order: IntArray, end: IntArray) -> dict[str, FloatArray]:
    """Last-N form for rows sorted by ``order`` (team, kickoff, id), across seasons."""
    group_start = _run_start(lg.team[order])
    played = lg.played[order]
    out: dict[str, FloatArray] = {}
    for n in FORM_WINDOWS:
        w = _Windows(played, group_start, end, n)
        empty = w.count == 0
        for name, values in (
            (f"form_pts_{n}", lg.points[order]),
            (f"form_w_{n}", lg.win[order].astype(np.float64)),
            (f"form_d_{n}", lg.draw[order].astype(np.float64)),
            (f"form_l_{n}", lg.loss[order].astype(np.float64)),
        ):
            out[name] = np.where(empty, np.nan, w.total(values))
    return out


def _scatter(sorted_values: FloatArray, order: IntArray) -> FloatArray:
    """Undo a sort: put ``sorted_values`` back at the original long-frame positions."""
    out = np.empty_like(sorted_values)
    out[order] = sorted_values
    return out


def compute_features(matches: pd.DataFrame) -> pd.DataFrame:
    """Pre-match features for every match, indexed by ``match_id`` (columns: FEATURE_COLUMNS).

    Join them onto the matches with :func:`with_features` (or
    ``matches.join(compute_features(matches), on="match_id")``) before running a backtest.
    """
    import pandas as pd

    lg = _Long(matches)
    # Season stats: sorted by team, season, kickoff, match_id; the window of a row ends at the first
    # row of its (team, season, kickoff) run, so same-kick-off rows never see each other.
    season_order = np.lexsort((lg.match_id, lg.kickoff, lg.season, lg.team)).astype(np.int64)
    season_end = _run_start(
        lg.team[season_order], lg.season[season_order], lg.kickoff[season_order]
    )
    stats = {
        k: _scatter(v, season_order) for k, v in _season_stats(lg, season_order, season_end).items()
    }
    form_order = np.lexsort((lg.match_id, lg.kickoff, lg.team)).astype(np.int64)
    form_end = _run_start(lg.team[form_order], lg.kickoff[form_order])
    stats.update(
        {k: _scatter(v, form_order) for k, v in _form_stats(lg, form_order, form_end).items()}
    )
    n = lg.n
    columns: dict[str, npt.NDArray[np.generic]] = {}
    for offset, side in ((0, "home"), (n, "away")):
        for stat in TEAM_STATS:
            values = stats[stat][offset : offset + n]
            columns[f"{side}_{stat}"] = (
                values.astype(np.int64) if stat == "played" else values.astype(np.float64)
            )
    index = pd.Index(matches["match_id"].to_numpy(), name="match_id")
    return pd.DataFrame(columns, index=index)[list(FEATURE_COLUMNS)]


def with_features(matches: pd.DataFrame) -> pd.DataFrame:
    """``matches`` plus its feature columns (replacing stale ones), row order kept."""
    import pandas as pd

    feats = compute_features(matches)
    base = matches.drop(columns=[c for c in FEATURE_COLUMNS if c in matches.columns])
    added = pd.DataFrame({col: feats[col].to_numpy() for col in FEATURE_COLUMNS}, index=base.index)
    return pd.concat([base, added], axis=1)


def team_snapshot(matches: pd.DataFrame) -> pd.DataFrame:
    """Current statistics of every (league, team), counting all matches with a result.

    One row per team (columns: SNAPSHOT_COLUMNS), sorted by league and team: ``season`` is the
    season of the team's last played match, ``played``/``ppg``/``gf_avg``/``ga_avg`` cover that
    season, ``form_pts_5``/``form_pts_10`` the last 5/10 matches across seasons and
    ``last_match`` is the kick-off of its last played match. This is what a daily refresh writes
    to the ``team_stats`` table; teams without any result are left out.
    """
    import pandas as pd

    done = matches[_played_mask(matches)]
    if done.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SNAPSHOT_COLUMNS})
    lg = _Long(done)
    order = np.lexsort((lg.match_id, lg.kickoff, lg.season, lg.team)).astype(np.int64)
    team_sorted = lg.team[order]
    # Last row of every team in (team, season, kickoff, id) order = the team's latest match when
    # seasons follow kick-off order.
    last = np.flatnonzero(np.r_[team_sorted[1:] != team_sorted[:-1], True])
    last_rows = order[last]
    end = np.repeat(last + 1, np.diff(np.r_[0, last + 1]))
    season = _season_stats(lg, order, end)
    form_order = np.lexsort((lg.match_id, lg.kickoff, lg.team)).astype(np.int64)
    form_team = lg.team[form_order]
    form_last = np.flatnonzero(np.r_[form_team[1:] != form_team[:-1], True])
    form_end = np.repeat(form_last + 1, np.diff(np.r_[0, form_last + 1]))
    form = _form_stats(lg, form_order, form_end)
    n = lg.n
    src = np.where(last_rows < n, last_rows, last_rows - n)
    team_names = np.where(
        last_rows < n,
        done["home_team"].to_numpy(dtype=object)[src],
        done["away_team"].to_numpy(dtype=object)[src],
    )
    out = pd.DataFrame(
        {
            "league": done["league"].to_numpy(dtype=object)[src],
            "team": team_names,
            "season": done["season"].to_numpy(dtype=object)[src],
            "last_match": pd.to_datetime(lg.kickoff[last_rows]),
            "played": season["played"][last].astype(np.int64),
            "ppg": season["ppg"][last],
            "form_pts_5": form["form_pts_5"][form_last],
            "form_pts_10": form["form_pts_10"][form_last],
            "gf_avg": season["gf_avg"][last],
            "ga_avg": season["ga_avg"][last],
        }
    )
    return out.sort_values(["league", "team"], kind="stable").reset_index(drop=True)


def _played_mask(matches: pd.DataFrame) -> BoolArray:
    hg = matches["fthg"].to_numpy(dtype=np.float64, na_value=np.nan)
    ag = matches["ftag"].to_numpy(dtype=np.float64, na_value=np.nan)
    return ~(np.isnan(hg) | np.isnan(ag))
