"""Seeded synthetic football leagues: the package's own demo and benchmark data.

Real football-data.co.uk files cannot ship with the package, yet the notebooks, the CLI demo and
the benchmarks need matches with results *and* prices that behave like real ones: home advantage,
bookmaker margins, a market that is roughly right and sharper at kick-off, occasional missing
prices.  :func:`generate_matches` fabricates such a frame in the canonical shape of
:mod:`.schema`, deterministically from a seed, so a notebook, a test and a benchmark all see the
same numbers.

Model, per league: every team has an attack and a defence strength that drift a little from
season to season; goals are Poisson with rates ``exp(mu + home_adv + att_home - def_away)`` and
``exp(mu + att_away - def_home)``, truncated at 10 goals.  The true probabilities of home/draw/
away, over/under 2.5 and both-teams-to-score follow exactly from the two rates.  The market's
opinion is the truth plus a small error; five bookmakers price that opinion with their margin
(Pinnacle ~2.5 %, Bet365 ~5 %, three others 5.5-7.5 %) and a little lognormal noise; ``avg`` and
``max`` are the mean and best of the five; closing prices come from an opinion whose error has
shrunk towards the truth (closing lines are sharper).  Pinnacle does not price BTTS.  About 1 %
of each source's markets are missing at random, so consumers meet NaN prices.

Asian handicap follows from the same two rates: the goal difference's distribution gives, for
every quarter line ``h``, the fair two-way probability of the home side
``W / (W + L)`` (``W``, ``L``: the chances that the home stake, split in halves on ``h -/+ 0.25``
for quarter lines, wins or loses; pushes return the stake and so drop out).  The market's opinion
is that probability with a logit error (smaller at the close), its line (``ah_home_line``, and
``ah_home_line_close`` from the closing opinion) is the quarter line whose opinion is nearest to
50/50, and the five books price both sides at that line with their margins, exactly as for the
other markets; so there is a margin and no exploitable edge.  The Betfair exchange is not
simulated (its columns stay NaN).

Randomness is keyed by (seed, league, season), not drawn from one stream, so a league-season is
the same whichever other leagues are requested, and ``n_matches=k`` is the first ``k`` matches of
the frame generated without ``n_matches`` (same leagues and seasons).  Only per-league-season
loops exist (a few RNG calls each); all per-match work is vectorised numpy.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

from .schema import LINE_COLUMNS, MATCH_COLUMNS, ODDS_COLUMNS, season_of

__all__ = [
    "DEFAULT_DEMO",
    "SYNTHETIC_LEAGUES",
    "DemoArguments",
    "generate_match_blocks",
    "generate_matches",
]


class DemoArguments(TypedDict, total=False):
    """Keyword arguments of :func:`generate_matches` (typed, so ``**DEFAULT_DEMO`` checks)."""

    leagues: tuple[str, ...]
    seasons: int
    teams_per_league: int
    seed: int
    start_season: int


#: Codes of the synthetic leagues. They are not football-data codes on purpose: demo matches
#: must never mix with real ones imported into the same database.
SYNTHETIC_LEAGUES: Final[tuple[str, ...]] = ("SYN1", "SYN2", "SYN3")

#: The CLI demo: a few seasons of a few leagues (3 x 3 x 380 = 3,420 matches), seconds to run.
DEFAULT_DEMO: Final[DemoArguments] = {
    "leagues": SYNTHETIC_LEAGUES,
    "seasons": 3,
    "teams_per_league": 20,
    "seed": 0,
    "start_season": 2021,
}

MAX_GOALS: Final = 10
_HALF_TIME_SHARE: Final = 0.45  # share of goals scored before the break
# Bookmakers: (margin, noise sd of log price).  Index 0 is Pinnacle, 1 is Bet365.
_BOOK_MARGINS: Final = np.array([0.025, 0.05, 0.055, 0.065, 0.075])
_BOOK_NOISE: Final = np.array([0.012, 0.02, 0.02, 0.02, 0.02])
_CLOSING_NOISE_FACTOR: Final = 0.6
_OPINION_ERROR: Final = 0.10  # sd of the market's log-probability error at opening
_CLOSING_ERROR_SHARE: Final = 0.35  # share of that error left at kick-off
_MISSING_RATE: Final = 0.01
_MIN_ODDS: Final = 1.01
_CHUNK_ROWS: Final = 60_000

# Market groups that go missing together (a bookmaker prices a whole market or none of it).
_GROUPS: Final[tuple[tuple[str, ...], ...]] = (
    ("home", "draw", "away"),
    ("over25", "under25"),
    ("btts_yes", "btts_no"),
)
_PLACE_HEADS: Final[tuple[str, ...]] = (
    "North", "South", "East", "West", "Ash", "Oak", "Elm", "Brook", "Stone", "Green",
    "Black", "White", "Red", "High", "Low", "Kings", "Queens", "Castle", "Mill", "Fair",
    "Marsh", "Hill", "Clay", "Lang", "Thorn", "Wind", "Har", "Bram", "Kil", "Ray",
    "Cold", "Deep", "Long", "New", "Old", "Rose", "Silver", "Iron", "Ald", "Bever",
    "Carr", "Dun", "Every", "Fern", "Glen", "Holm", "Ive", "Kirk", "Lyn", "Mor",
    "Nether", "Orm", "Pen", "Rother", "Sal", "Tarn", "Up", "Whit", "Yarm", "Bar",
)  # fmt: skip
_PLACE_TAILS: Final[tuple[str, ...]] = (
    "bridge", "ford", "ton", "field", "wick", "ham", "bury", "mouth", "port", "stead",
    "well", "worth", "by", "dale", "gate", "minster", "moor", "chester", "land", "hurst",
    "combe", "leigh", "mere", "borough", "haven", "cliff", "side", "brook", "wood", "ley",
    "thorpe", "holme", "caster", "wich", "ridge", "shaw", "field Park", "ington", "sey", "don",
)  # fmt: skip
_CLUB_FORMS: Final[tuple[str, ...]] = (
    "{}", "{} United", "{} City", "{} Town", "{} Rovers", "{} Athletic", "{} Wanderers",
    "{} Albion", "{} County", "{} Rangers", "Real {}", "Sporting {}", "Racing {}",
    "Dynamo {}", "Inter {}", "Olympic {}",
)  # fmt: skip
_POOL_SIZE: Final = len(_PLACE_HEADS) * len(_PLACE_TAILS) * len(_CLUB_FORMS)


def generate_matches(
    *,
    n_matches: int | None = None,
    leagues: Sequence[str] = SYNTHETIC_LEAGUES,
    seasons: Sequence[str] | int = 3,
    teams_per_league: int = 20,
    seed: int = 0,
    start_season: int = 2021,
) -> pd.DataFrame:
    """Synthetic matches in the schema shape (:data:`.schema.MATCH_COLUMNS`), kick-off order.

    Args:
        n_matches: exactly this many rows: the earliest ``n_matches`` matches of the requested
            leagues and seasons; when those hold fewer, more leagues are added (football-data
            codes, then ``X001``, ``X002`` ...) rather than more seasons, so the dates stay
            plausible.  ``None``: every match of the requested leagues and seasons.
        leagues: league codes; each is a double round robin per season.
        seasons: a number of consecutive seasons from ``start_season``, or labels such as
            ``"2021-22"``.
        teams_per_league: 2 to 40 (odd numbers get a bye each round).
        seed: non-negative; the same arguments always give a bitwise-identical frame.
        start_season: first season's starting year when ``seasons`` is a number.

    ``match_id`` is 1..N in kick-off order (ties: league order, then fixture order).  Kick-offs
    are Saturdays 15:00 or Sundays 16:30 between August and May, plus a few midweek rounds
    (Tuesday 19:45 / Wednesday 20:00).  Teams keep their league across seasons (no promotion).
    """
    frame = _generate(
        n_matches, leagues, seasons, teams_per_league, seed, start_season, blocks=False
    )
    assert isinstance(frame, pd.DataFrame)
    return frame


def _generate(
    n_matches: int | None,
    leagues: Sequence[str],
    seasons: Sequence[str] | int,
    teams_per_league: int,
    seed: int,
    start_season: int,
    *,
    blocks: bool,
    first_block: int = 0,
) -> pd.DataFrame | Iterator[pd.DataFrame]:
    league_codes = _check_leagues(leagues)
    years = _season_years(seasons, start_season)
    if not 2 <= teams_per_league <= 40:
        raise ValueError(f"teams_per_league must be between 2 and 40, got {teams_per_league}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    fixtures = _Fixtures.build(teams_per_league)
    if n_matches is not None:
        if n_matches < 0:
            raise ValueError(f"n_matches must be non-negative, got {n_matches}")
        per_league = fixtures.size * len(years)
        league_codes = _enough_leagues(league_codes, math.ceil(n_matches / per_league))
        # Seasons after the one that reaches n_matches would all be cut by the truncation.
        per_season = fixtures.size * len(league_codes)
        years = years[: max(1, math.ceil(n_matches / per_season))]
    generator = _Generator(league_codes, years, fixtures, seed)
    if blocks:
        return generator.blocks(n_matches, first_block)
    return generator.frame(n_matches)


def generate_match_blocks(
    *,
    n_matches: int | None = None,
    leagues: Sequence[str] = SYNTHETIC_LEAGUES,
    seasons: Sequence[str] | int = 3,
    teams_per_league: int = 20,
    seed: int = 0,
    start_season: int = 2021,
    first_block: int = 0,
) -> Iterator[pd.DataFrame]:
    """The rows of :func:`generate_matches` (same arguments) as blocks of whole league-seasons
    of about 60,000 rows, each in kick-off order, made one at a time.

    Concatenated and sorted by ``match_id`` they are the frame :func:`generate_matches` returns;
    a million matches are never in memory at once. ``first_block`` skips the blocks before it
    without making them (each league-season draws from generators of its own), so that one
    process can make the first block while another makes the rest.
    """
    blocks = _generate(
        n_matches,
        leagues,
        seasons,
        teams_per_league,
        seed,
        start_season,
        blocks=True,
        first_block=first_block,
    )
    assert not isinstance(blocks, pd.DataFrame)
    return blocks


def _check_leagues(leagues: Sequence[str]) -> list[str]:
    codes = [leagues] if isinstance(leagues, str) else list(leagues)
    if not codes:
        raise ValueError("at least one league is needed")
    if len(set(codes)) != len(codes) or not all(isinstance(c, str) and c for c in codes):
        raise ValueError(f"leagues must be distinct non-empty codes, got {codes}")
    return codes


def _season_years(seasons: Sequence[str] | int, start_season: int) -> list[int]:
    """Starting years of the seasons, ascending; labels must be :func:`.schema.season_of`'s."""
    if isinstance(seasons, int):
        if seasons < 1:
            raise ValueError(f"seasons must be at least 1, got {seasons}")
        return [start_season + k for k in range(seasons)]
    labels = [seasons] if isinstance(seasons, str) else list(seasons)
    years: set[int] = set()
    for label in labels:
        head = label[:4]
        if not head.isdigit() or season_of(int(head), 8) != label:
            raise ValueError(f"season labels look like '2021-22', got {label!r}")
        years.add(int(head))
    if not years:
        raise ValueError("at least one season is needed")
    return sorted(years)


def _enough_leagues(codes: list[str], needed: int) -> list[str]:
    """``codes`` plus extra codes until there are ``needed`` leagues."""
    taken = set(codes)
    extra = (c for c in (f"SYN{i}" for i in itertools.count(1)) if c not in taken)
    return codes + list(itertools.islice(extra, max(needed - len(codes), 0)))


@dataclass(frozen=True)
class _Fixtures:
    """A double round robin template for ``teams`` slots: rounds, home slot, away slot.

    Circle method: each pair meets once in the first half and again, sides swapped, in the
    second half, so every team has as many home as away games.
    """

    teams: int
    rounds: int
    round_of: npt.NDArray[np.int64]
    home: npt.NDArray[np.int64]
    away: npt.NDArray[np.int64]

    @property
    def size(self) -> int:
        return int(self.home.size)

    @classmethod
    def build(cls, teams: int) -> _Fixtures:
        slots = teams + teams % 2  # a dummy slot gives the bye when the count is odd
        ring = list(range(slots))
        rounds, homes, aways = [], [], []
        for r in range(slots - 1):
            for i in range(slots // 2):
                a, b = ring[i], ring[slots - 1 - i]
                if (r + i) % 2:
                    a, b = b, a
                if a < teams and b < teams:
                    rounds.append(r)
                    homes.append(a)
                    aways.append(b)
            ring = [ring[0], ring[-1], *ring[1:-1]]
        half = slots - 1
        return cls(
            teams=teams,
            rounds=2 * half,
            round_of=np.array(rounds + [r + half for r in rounds], dtype=np.int64),
            home=np.array(homes + aways, dtype=np.int64),
            away=np.array(aways + homes, dtype=np.int64),
        )


def _rng(seed: int, league: str, *stream: int) -> np.random.Generator:
    """An independent generator per (seed, league, purpose, season...): stable keys."""
    key = zlib.crc32(league.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([seed, key, *stream]))


def _team_names(codes: Sequence[str], teams: int, seed: int) -> dict[str, list[str]]:
    """Plausible club names, unique across all the requested leagues, deterministic."""
    used: set[int] = set()
    out: dict[str, list[str]] = {}
    for code in codes:
        rng = _rng(seed, code, 0)
        picked: list[int] = []
        while len(picked) < teams:
            if len(used) >= _POOL_SIZE:
                raise ValueError("not enough synthetic team names for that many leagues")
            for idx in rng.integers(0, _POOL_SIZE, size=4 * teams).tolist():
                if idx not in used and len(picked) < teams:
                    used.add(idx)
                    picked.append(idx)
        out[code] = [_name(i) for i in picked]
    return out


def _name(index: int) -> str:
    place, form = divmod(index, len(_CLUB_FORMS))
    head, tail = divmod(place, len(_PLACE_TAILS))
    town = _PLACE_HEADS[head] + _PLACE_TAILS[tail]
    return _CLUB_FORMS[form].format(town)


def _round_dates(year: int, rounds: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Dates (days since epoch) of the rounds: weekends August to May, a few midweek rounds."""
    first = np.datetime64(f"{year}-08-05")
    saturday = first + (5 - (first.astype(np.int64) + 3) % 7) % 7  # epoch day 0 was a Thursday
    last = np.datetime64(f"{year + 1}-05-24")
    weekends = np.arange(saturday, last + 1, 7).astype(np.int64)
    midweek = max(rounds - weekends.size, 0) + (3 if rounds >= 10 else 0)
    midweek = min(midweek, weekends.size - 1)
    sats = np.sort(rng.permutation(weekends.size)[: rounds - midweek])
    tues = np.sort(rng.permutation(weekends.size - 1)[:midweek])
    return np.sort(np.concatenate([weekends[sats], weekends[tues] + 3]))


class _Generator:
    """One generation: schedule everything first, then play only the matches that are kept."""

    def __init__(self, codes: list[str], years: list[int], fixtures: _Fixtures, seed: int) -> None:
        self.codes = codes
        self.years = years
        self.fixtures = fixtures
        self.seed = seed

    def frame(self, n_matches: int | None) -> pd.DataFrame:
        home, away, kickoff, order, dest = self._schedule(n_matches)
        n = order.size
        # column-major so that every odds column of the frame is a contiguous view, not a copy
        odds = np.full((n, len(ODDS_COLUMNS)), np.nan, order="F")
        goals = np.empty((n, 4), dtype=np.int64)
        for at, chunk_goals, chunk_odds in self._played(home, away, dest):
            goals[at] = chunk_goals
            odds[at] = chunk_odds
        return self._assemble(order, home, away, kickoff, goals, odds)

    def blocks(self, n_matches: int | None, first: int = 0) -> Iterator[pd.DataFrame]:
        """The rows of :meth:`frame`, a chunk of league-seasons at a time (kick-off order),
        from chunk ``first`` on."""
        home, away, kickoff, order, dest = self._schedule(n_matches)
        for at, chunk_goals, chunk_odds in self._played(home, away, dest, first):
            sort = np.argsort(at, kind="stable")
            rows = at[sort]
            odds = np.asfortranarray(chunk_odds[sort])
            yield self._assemble(
                order[rows], home, away, kickoff, chunk_goals[sort], odds, first_rows=rows
            )

    def _schedule(
        self, n_matches: int | None
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        npt.NDArray[np.datetime64],
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
    ]:
        """Every fixture's home and away team and kick-off (generation order); the kept
        fixtures in output order; and each fixture's output row (-1: truncated away)."""
        fx = self.fixtures
        n_ls = len(self.codes) * len(self.years)
        per = fx.size
        total = n_ls * per
        # --- schedule: per league-season, a slot->team permutation and round dates ----------
        home = np.empty(total, dtype=np.int64)
        away = np.empty(total, dtype=np.int64)
        kickoff = np.empty(total, dtype="datetime64[m]")
        for ls, (code, year) in enumerate(self._league_seasons()):
            rng = _rng(self.seed, code, 1, year)
            perm = rng.permutation(fx.teams)
            days = _round_dates(year, fx.rounds, rng)[fx.round_of]
            late = rng.random(per) < 0.25  # Sunday 16:30 / Wednesday 20:00
            span = slice(ls * per, (ls + 1) * per)
            home[span] = perm[fx.home]
            away[span] = perm[fx.away]
            weekday = (days + 3) % 7  # 0 = Monday
            minutes = np.where(weekday == 5, 15 * 60, 19 * 60 + 45)
            minutes = np.where(
                late, np.where(weekday == 5, 24 * 60 + 16 * 60 + 30, 24 * 60 + 20 * 60), minutes
            )
            kickoff[span] = days.astype("datetime64[D]") + minutes.astype("timedelta64[m]")
        order = np.argsort(kickoff, kind="stable")
        if n_matches is not None:
            order = order[:n_matches]
        n = order.size
        # dest[row in generation order] = row in the output (-1: truncated away)
        dest = np.full(total, -1, dtype=np.int64)
        dest[order] = np.arange(n)
        return home, away, kickoff, order, dest

    def _played(
        self,
        home: npt.NDArray[np.int64],
        away: npt.NDArray[np.int64],
        dest: npt.NDArray[np.int64],
        first: int = 0,
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
        """Results and prices, chunk by chunk of league-seasons from chunk ``first`` on: each
        chunk's output rows, goals and odds of its kept fixtures."""
        per = self.fixtures.size
        n_ls = len(self.codes) * len(self.years)
        strengths = self._strengths()
        for first_ls, last_ls in itertools.islice(self._chunks(n_ls, per, dest), first, None):
            rows = np.arange(first_ls * per, last_ls * per)
            keep = dest[rows] >= 0
            draws = self._draws(first_ls, last_ls)
            ls_of_row = rows // per
            att, dfn, mu, adv = strengths
            h, a = home[rows], away[rows]
            lam_home = np.exp(
                mu[ls_of_row] + adv[ls_of_row] + att[ls_of_row, h] - dfn[ls_of_row, a]
            )
            lam_away = np.exp(mu[ls_of_row] + att[ls_of_row, a] - dfn[ls_of_row, h])
            chunk_goals, chunk_odds = _play(lam_home, lam_away, draws)
            yield dest[rows[keep]], chunk_goals[keep], chunk_odds[keep]

    def _league_seasons(self) -> Iterator[tuple[str, int]]:
        for code in self.codes:
            for year in self.years:
                yield code, year

    def _chunks(
        self, n_ls: int, per: int, dest: npt.NDArray[np.int64]
    ) -> Iterator[tuple[int, int]]:
        """Ranges of league-seasons of about ``_CHUNK_ROWS`` rows that have a kept match."""
        kept = np.asarray((dest.reshape(n_ls, per) >= 0).any(axis=1), dtype=bool)
        step = max(1, _CHUNK_ROWS // per)
        for start in range(0, n_ls, step):
            stop = min(start + step, n_ls)
            if kept[start:stop].any():
                yield start, stop

    def _strengths(
        self,
    ) -> tuple[
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
        npt.NDArray[np.float64],
    ]:
        """Attack, defence (league-season x team), log goal rate and home advantage."""
        teams = self.fixtures.teams
        n_ls = len(self.codes) * len(self.years)
        att = np.empty((n_ls, teams))
        dfn = np.empty((n_ls, teams))
        mu = np.empty(n_ls)
        adv = np.empty(n_ls)
        ls = 0
        for code in self.codes:
            rng = _rng(self.seed, code, 3)
            base_att = rng.normal(0.0, 0.25, teams)
            base_def = rng.normal(0.0, 0.20, teams)
            league_mu = math.log(1.15) + rng.normal(0.0, 0.04)
            league_adv = 0.25 + rng.normal(0.0, 0.03)
            drift_att = np.zeros(teams)
            drift_def = np.zeros(teams)
            for k, year in enumerate(self.years):
                if k:  # each later season drifts a little from the previous one
                    step = _rng(self.seed, code, 4, year).normal(0.0, 0.07, (2, teams))
                    drift_att += step[0]
                    drift_def += step[1]
                a, d = base_att + drift_att, base_def + drift_def
                att[ls], dfn[ls] = a - a.mean(), d - d.mean()
                mu[ls], adv[ls] = league_mu, league_adv
                ls += 1
        return att, dfn, mu, adv

    def _draws(self, first_ls: int, last_ls: int) -> _Draws:
        """The chunk's uniforms and normals, each league-season from its own generators.

        Asian handicap draws come from a generator of their own (stream 5), so adding that
        market left every other number of a seeded frame as it was.
        """
        per = self.fixtures.size
        seasons = list(self._league_seasons())
        size = (last_ls - first_ls) * per
        uniforms = np.empty((size, _N_UNIFORMS))
        # float32 normals: plenty for noise of a few per cent, and half the memory traffic
        normals = np.empty((size, _N_NORMALS), dtype=np.float32)
        ah_uniforms = np.empty((size, _N_AH_UNIFORMS))
        ah_normals = np.empty((size, _N_AH_NORMALS), dtype=np.float32)
        for i, ls in enumerate(range(first_ls, last_ls)):
            code, year = seasons[ls]
            rng = _rng(self.seed, code, 2, year)
            rows = slice(i * per, (i + 1) * per)
            uniforms[rows] = rng.random((per, _N_UNIFORMS))
            normals[rows] = rng.standard_normal((per, _N_NORMALS), dtype=np.float32)
            rng = _rng(self.seed, code, 5, year)
            ah_uniforms[rows] = rng.random((per, _N_AH_UNIFORMS))
            ah_normals[rows] = rng.standard_normal((per, _N_AH_NORMALS), dtype=np.float32)
        return _Draws(uniforms, normals, ah_uniforms, ah_normals)

    def _assemble(
        self,
        order: npt.NDArray[np.int64],
        home: npt.NDArray[np.int64],
        away: npt.NDArray[np.int64],
        kickoff: npt.NDArray[np.datetime64],
        goals: npt.NDArray[np.int64],
        odds: npt.NDArray[np.float64],
        first_rows: npt.NDArray[np.int64] | None = None,
    ) -> pd.DataFrame:
        """Output rows from the fixtures ``order`` lists; ``first_rows``: their positions in
        the whole output (``match_id - 1``), when these are not all of it."""
        per = self.fixtures.size
        teams = self.fixtures.teams
        ids = np.arange(order.size, dtype=np.int64) if first_rows is None else first_rows
        names = _team_names(self.codes, teams, self.seed)
        ls = order // per
        league_idx = ls // len(self.years)
        year_idx = ls % len(self.years)
        name_table = np.array([names[c] for c in self.codes], dtype=object).reshape(-1, teams)
        codes = np.array(self.codes, dtype=object)
        labels = np.array([season_of(y, 8) for y in self.years], dtype=object)
        columns = {
            "match_id": ids + 1,
            "league": pd.array(codes[league_idx], dtype="str"),
            "season": pd.array(labels[year_idx], dtype="str"),
            "kickoff": kickoff[order].astype("datetime64[ns]"),
            "home_team": pd.array(name_table[league_idx, home[order]], dtype="str"),
            "away_team": pd.array(name_table[league_idx, away[order]], dtype="str"),
            "fthg": goals[:, 0],
            "ftag": goals[:, 1],
            "hthg": goals[:, 2].astype(np.float64),
            "htag": goals[:, 3].astype(np.float64),
            **{c: odds[:, j] for j, c in enumerate(ODDS_COLUMNS)},
        }
        return pd.DataFrame({c: columns[c] for c in MATCH_COLUMNS}, copy=False)


# --- the per-match model, vectorised over a chunk ------------------------------------------

# The markets and sources of the original model, in the order its random draws are laid out;
# kept fixed so that the schema gaining markets or sources does not reshuffle seeded data.
_MARKETS: Final[tuple[str, ...]] = tuple(m for group in _GROUPS for m in group)
_SOURCES: Final[tuple[str, ...]] = (
    "b365",
    "pinnacle",
    "avg",
    "max",
    "b365_close",
    "pinnacle_close",
    "avg_close",
    "max_close",
)
_COLUMN_INDEX: Final = {c: j for j, c in enumerate(ODDS_COLUMNS)}
_BASE_COLUMNS: Final = np.array([_COLUMN_INDEX[f"{s}_{m}"] for s in _SOURCES for m in _MARKETS])
_AH_COLUMNS: Final = np.array(
    [_COLUMN_INDEX[f"{s}_{m}"] for s in _SOURCES for m in ("ah_home", "ah_away")]
)
_LINE_INDEX: Final = np.array([_COLUMN_INDEX[c] for c in LINE_COLUMNS])
#: Quarter lines the synthetic market may choose from (home side).
_AH_LINES: Final = np.arange(-3.5, 3.5 + 0.125, 0.25)

_BOOKS: Final = _BOOK_MARGINS.size
_N_OUTCOMES: Final = len(_MARKETS)  # home draw away over under btts_yes btts_no
_N_UNIFORMS: Final = 4 + len(_SOURCES) * len(_GROUPS)  # goals x2, half-time x2, missing
_N_AH_UNIFORMS: Final = len(_SOURCES)  # a source misses its AH prices
_N_AH_NORMALS: Final = 1 + 2 * _BOOKS * 2  # opinion error, opening and closing noise
_N_NORMALS: Final = 5 + 2 * _BOOKS * _N_OUTCOMES  # opinion errors, opening and closing noise
_GROUP_OF_MARKET: Final = np.array(
    [next(g for g, markets in enumerate(_GROUPS) if m in markets) for m in _MARKETS]
)
_K: Final = np.arange(MAX_GOALS + 1)
_LOG_FACTORIAL: Final = np.array([math.lgamma(k + 1) for k in range(MAX_GOALS + 1)])
# _HALF_TIME_CDF[n, k] = P(Binomial(n, share) <= k): half-time goals as thinned full-time ones.
_HALF_TIME_CDF: Final = np.cumsum(
    [
        [math.comb(n, k) * _HALF_TIME_SHARE**k * (1 - _HALF_TIME_SHARE) ** (n - k) for k in _K]
        for n in _K
    ],
    axis=1,
)


def _poisson_pmf(lam: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """P(goals = 0..MAX_GOALS), renormalised so that the truncated model is a distribution."""
    log_pmf = np.log(lam)[:, None] * _K - lam[:, None] - _LOG_FACTORIAL
    pmf = np.exp(log_pmf)
    return pmf / pmf.sum(axis=1, keepdims=True)


def _true_probabilities(
    pmf_home: npt.NDArray[np.float64], pmf_away: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Columns in ``_MARKETS`` order, from two independent score pmfs."""
    cdf_home = pmf_home.cumsum(axis=1)
    cdf_away = pmf_away.cumsum(axis=1)
    home_win = (pmf_away * (1.0 - cdf_home)).sum(axis=1)  # sum_j P(A=j) P(H>j)
    away_win = (pmf_home * (1.0 - cdf_away)).sum(axis=1)
    draw = (pmf_home * pmf_away).sum(axis=1)
    under = (
        pmf_home[:, 0] * cdf_away[:, 2]
        + pmf_home[:, 1] * cdf_away[:, 1]
        + pmf_home[:, 2] * cdf_away[:, 0]
    )
    btts = (1.0 - pmf_home[:, 0]) * (1.0 - pmf_away[:, 0])
    probs = {
        "home": home_win,
        "draw": draw,
        "away": away_win,
        "over25": 1.0 - under,
        "under25": under,
        "btts_yes": btts,
        "btts_no": 1.0 - btts,
    }
    return np.column_stack([probs[m] for m in _MARKETS])


def _opinion(
    truth: npt.NDArray[np.float64], error: npt.NDArray[np.float32], scale: float
) -> npt.NDArray[np.float64]:
    """The market's probabilities: the truth with a log-scale error, each market renormalised."""
    out = np.empty_like(truth)
    idx = {m: i for i, m in enumerate(_MARKETS)}
    one_x_two = [idx[m] for m in _GROUPS[0]]
    raw = truth[:, one_x_two] * np.exp(scale * error[:, :3])
    out[:, one_x_two] = raw / raw.sum(axis=1, keepdims=True)
    for j, (yes, no) in enumerate(_GROUPS[1:]):
        p = truth[:, idx[yes]]
        logit = np.log(p / (1.0 - p)) + scale * error[:, 3 + j]
        out[:, idx[yes]] = 1.0 / (1.0 + np.exp(-logit))
        out[:, idx[no]] = 1.0 - out[:, idx[yes]]
    return out


def _book_prices(
    opinion: npt.NDArray[np.float64], noise: npt.NDArray[np.float32], noise_factor: float
) -> npt.NDArray[np.float64]:
    """Prices (rows x books x outcomes): 1 / (p (1 + margin)) x lognormal noise, 2 dp, >= 1.01."""
    noise = noise.reshape(-1, _BOOKS, opinion.shape[1])
    sd = (_BOOK_NOISE * noise_factor).astype(noise.dtype)[None, :, None]
    fair = 1.0 / (opinion[:, None, :] * (1.0 + _BOOK_MARGINS)[None, :, None])
    return np.maximum(np.round(fair * np.exp(sd * noise), 2), _MIN_ODDS)  # rounded in float64


def _source_prices(books: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float64]]:
    """Per source (b365, pinnacle, avg, max) a rows x outcomes block; Pinnacle has no BTTS.

    ``avg``/``max`` of the BTTS markets are taken over the books that price them.
    """
    btts = [i for i, m in enumerate(_MARKETS) if m.startswith("btts")]
    pinnacle = books[:, 0].copy()
    pinnacle[:, btts] = np.nan
    average = books.mean(axis=1)
    average[:, btts] = books[:, 1:, btts].mean(axis=1)
    best = books.max(axis=1)
    best[:, btts] = books[:, 1:, btts].max(axis=1)
    return {"b365": books[:, 1], "pinnacle": pinnacle, "avg": np.round(average, 2), "max": best}


@dataclass(frozen=True)
class _Draws:
    """The random numbers of a chunk: base model (stream 2) and Asian handicap (stream 5)."""

    uniforms: npt.NDArray[np.float64]
    normals: npt.NDArray[np.float32]
    ah_uniforms: npt.NDArray[np.float64]
    ah_normals: npt.NDArray[np.float32]


def _half_stakes(sign: int) -> npt.NDArray[np.float64]:
    """(goal difference x line): how many half-stakes of a home bet win (sign 1) / lose (-1)."""
    d = np.arange(-MAX_GOALS, MAX_GOALS + 1)[:, None]
    quarter = (_AH_LINES * 4) % 2 == 1
    halves = (_AH_LINES - 0.25 * quarter, _AH_LINES + 0.25 * quarter)
    return np.asarray(sum(np.sign(d + h) == sign for h in halves), dtype=np.float64)


_AH_WIN_HALVES: Final = _half_stakes(1)
_AH_LOSE_HALVES: Final = _half_stakes(-1)


def _ah_home_probability(
    pmf_home: npt.NDArray[np.float64], pmf_away: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Fair two-way probability of the home side at every line of ``_AH_LINES`` (rows x lines).

    With ``W``/``L`` the expected winning/losing share of a home stake (quarter lines split in
    halves on ``h -/+ 0.25``), a price ``o`` breaks even when ``W (o - 1) = L``, so the fair price
    is ``(W + L) / W`` and the probability it implies ``W / (W + L)``; the away side gets
    ``L / (W + L)``.
    """
    # P(D = d) for d = -MAX_GOALS..MAX_GOALS (column d + MAX_GOALS): the convolution of the home
    # pmf with the reversed away pmf, one shifted whole-array add per away score
    p_diff = np.zeros((len(pmf_home), 2 * MAX_GOALS + 1))
    for j in _K:
        p_diff[:, MAX_GOALS - j : 2 * MAX_GOALS + 1 - j] += pmf_home * pmf_away[:, [j]]
    # einsum, not ``@``: a matrix product goes to BLAS, whose idle threads then spin on the
    # core the loader's database thread needs (about 2.5 s of a million-match demo load). The
    # sums come out as ``@``'s here, and no longer depend on which BLAS a machine has.
    win = np.einsum("ij,jk->ik", p_diff, _AH_WIN_HALVES)
    lose = np.einsum("ij,jk->ik", p_diff, _AH_LOSE_HALVES)
    return np.asarray(win / (win + lose), dtype=np.float64)


def _ah_market(
    fair_logit: npt.NDArray[np.float64],
    error: npt.NDArray[np.float32],
    scale: float,
    noise: npt.NDArray[np.float32],
    noise_factor: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(home line, books x [home, away] prices): the opinion is ``fair_logit + scale x error``."""
    logit = fair_logit + scale * error[:, None]
    pick = np.abs(logit).argmin(axis=1)  # nearest to 50/50: the logit nearest to 0
    p_home = 1.0 / (1.0 + np.exp(-logit[np.arange(len(pick)), pick]))
    prices = _book_prices(np.column_stack([p_home, 1.0 - p_home]), noise, noise_factor)
    return _AH_LINES[pick], prices


def _asian_handicap(
    pmf_home: npt.NDArray[np.float64], pmf_away: npt.NDArray[np.float64], draws: _Draws
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(rows x [line, close line], rows x sources x [home, away] AH prices, ``_SOURCES`` order)."""
    fair = np.clip(_ah_home_probability(pmf_home, pmf_away), 1e-6, 1 - 1e-6)
    fair = np.log(fair / (1.0 - fair))  # as logits, computed once for both opinions
    error = draws.ah_normals[:, 0]
    n_book = _BOOKS * 2
    lines, prices = [], []
    for scale, noise, factor in (
        (_OPINION_ERROR, draws.ah_normals[:, 1 : 1 + n_book], 1.0),
        (
            _OPINION_ERROR * _CLOSING_ERROR_SHARE,
            draws.ah_normals[:, 1 + n_book :],
            _CLOSING_NOISE_FACTOR,
        ),
    ):
        line, books = _ah_market(fair, error, scale, noise, factor)
        lines.append(line)
        prices += [books[:, 1], books[:, 0], np.round(books.mean(axis=1), 2), books.max(axis=1)]
    block = np.stack(prices, axis=1)  # rows x sources x 2, sources in _SOURCES order
    block[draws.ah_uniforms < _MISSING_RATE] = np.nan
    return np.column_stack(lines), block


def _play(
    lam_home: npt.NDArray[np.float64], lam_away: npt.NDArray[np.float64], draws: _Draws
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Goals (fthg, ftag, hthg, htag) and the odds block (rows x ODDS_COLUMNS) of a chunk."""
    uniforms, normals = draws.uniforms, draws.normals
    pmf_home, pmf_away = _poisson_pmf(lam_home), _poisson_pmf(lam_away)
    fthg = (uniforms[:, [0]] > pmf_home.cumsum(axis=1)).sum(axis=1).clip(max=MAX_GOALS)
    ftag = (uniforms[:, [1]] > pmf_away.cumsum(axis=1)).sum(axis=1).clip(max=MAX_GOALS)
    hthg = (uniforms[:, [2]] > _HALF_TIME_CDF[fthg]).sum(axis=1).clip(max=fthg)
    htag = (uniforms[:, [3]] > _HALF_TIME_CDF[ftag]).sum(axis=1).clip(max=ftag)
    goals = np.column_stack([fthg, ftag, hthg, htag]).astype(np.int64)

    truth = _true_probabilities(pmf_home, pmf_away)
    error = normals[:, :5]
    n_book = _BOOKS * _N_OUTCOMES
    opening = _book_prices(_opinion(truth, error, _OPINION_ERROR), normals[:, 5 : 5 + n_book], 1.0)
    closing = _book_prices(
        _opinion(truth, error, _OPINION_ERROR * _CLOSING_ERROR_SHARE),
        normals[:, 5 + n_book :],
        _CLOSING_NOISE_FACTOR,
    )
    by_source = _source_prices(opening)
    by_source.update({f"{s}_close": p for s, p in _source_prices(closing).items()})
    nan_block = np.full((lam_home.size, _N_OUTCOMES), np.nan)
    # rows x sources x markets in _SOURCES x _MARKETS order (source-major)
    prices = np.stack([by_source.get(source, nan_block) for source in _SOURCES], axis=1)
    missing = (uniforms[:, 4:] < _MISSING_RATE).reshape(-1, len(_SOURCES), len(_GROUPS))
    prices[missing[:, :, _GROUP_OF_MARKET]] = np.nan
    out = np.full((lam_home.size, len(ODDS_COLUMNS)), np.nan)
    out[:, _BASE_COLUMNS] = prices.reshape(lam_home.size, -1)
    lines, ah_prices = _asian_handicap(pmf_home, pmf_away, draws)
    out[:, _AH_COLUMNS] = ah_prices.reshape(lam_home.size, -1)
    out[:, _LINE_INDEX] = lines
    return goals, out
