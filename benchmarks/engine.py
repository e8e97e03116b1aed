"""Benchmark the backtest engine and the feature pass against plain-Python and bare-numpy baselines.

Run ``python benchmarks/engine.py [--matches 1000000] [--feature-matches 100000]``. It builds
seeded synthetic matches in the schema shape (every odds column of ``schema.ODDS_COLUMNS``), then
prints one figure per line:

* the engine on ``--matches`` rows with a 3-rule filter: its core (``select_bets``: rule
  evaluation, staking, settlement) and the full ``run_backtest`` (plus the sorted bets frame and
  the summary), best of 3 each;
* the row-loop reference (``tests/reference_engine.py``) timed on a ``--reference-sample`` row
  sample and extrapolated linearly to ``--matches`` rows, and the engine's speed-up over it
  (target >= 200x);
* a bare numpy mask + settlement over the same arrays (integer league codes precomputed, no
  result frame) and the engine core / numpy ratio (target <= 5x; the full-run ratio is printed
  too);
* ``compute_features`` on ``--feature-matches`` matches (target < 3 s) and its speed-up over a
  per-team Python loop written below (checked to give the same numbers);
* the engine's peak traced memory (tracemalloc, a separate run).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filterbets_nb import schema  # noqa: E402
from filterbets_nb.engine import run_backtest, select_bets  # noqa: E402
from filterbets_nb.features import FEATURE_COLUMNS, compute_features  # noqa: E402
from filterbets_nb.filters import F, Filter  # noqa: E402

T = TypeVar("T")

LEAGUES = ("E0", "E1", "E2", "E3", "SC0", "SP1", "D1", "I1", "F1", "N1")
TEAMS_PER_LEAGUE = 20


def synthetic_matches(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` random matches in the schema shape: 10 leagues, 20 teams each, realistic-ish odds."""
    rng = np.random.default_rng(seed)
    league_idx = rng.integers(0, len(LEAGUES), n)
    home = rng.integers(0, TEAMS_PER_LEAGUE, n)
    away = (home + rng.integers(1, TEAMS_PER_LEAGUE, n)) % TEAMS_PER_LEAGUE
    start = np.datetime64("2005-08-01T00:00", "m")
    span_minutes = 20 * 365 * 24 * 60
    kickoff = np.sort(start + rng.integers(0, span_minutes // 15, n) * 15)
    ts = pd.DatetimeIndex(kickoff.astype("datetime64[ns]"))
    season_start = np.where(ts.month >= 7, ts.year, ts.year - 1)
    season = pd.Series(season_start).map(lambda y: f"{y}-{(y + 1) % 100:02d}").to_numpy()
    league_names = np.array(LEAGUES)[league_idx]
    team_names = np.array([f"Team{i:02d}" for i in range(TEAMS_PER_LEAGUE)], dtype=object)
    fthg = rng.poisson(1.5, n)
    ftag = rng.poisson(1.15, n)
    frame: dict[str, Any] = {
        "match_id": np.arange(1, n + 1),
        "league": league_names,
        "season": season,
        "kickoff": ts,
        "home_team": np.char.add(np.char.add(league_names, "-"), team_names[home].astype(str)),
        "away_team": np.char.add(np.char.add(league_names, "-"), team_names[away].astype(str)),
        "fthg": fthg,
        "ftag": ftag,
        "hthg": np.minimum(fthg, rng.poisson(0.7, n)).astype(float),
        "htag": np.minimum(ftag, rng.poisson(0.5, n)).astype(float),
    }
    p_home = rng.uniform(0.15, 0.75, n)
    p_draw = (1 - p_home) * rng.uniform(0.3, 0.45, n)
    fair = {
        "home": p_home,
        "draw": p_draw,
        "away": 1 - p_home - p_draw,
        "over25": rng.uniform(0.35, 0.7, n),
    }
    fair["under25"] = 1 - fair["over25"]
    fair["btts_yes"] = rng.uniform(0.4, 0.65, n)
    fair["btts_no"] = 1 - fair["btts_yes"]
    for source in schema.PRICE_SOURCES:
        margin = 1.03 if source.startswith(("pinnacle", "max")) else 1.06
        for market in fair:  # the 1X2, over/under and BTTS markets (no Asian handicap here)
            noise = rng.normal(1.0, 0.02, n)
            odds = np.round(np.maximum(1.01, 1 / (fair[market] * margin) * noise), 2)
            odds[rng.random(n) < 0.05] = np.nan
            frame[schema.odds_column(source, market)] = odds
    out = pd.DataFrame(frame)
    # A pre-match feature column for the engine benchmark (real ones are timed separately).
    out["home_form_pts_5"] = rng.integers(0, 16, n).astype(float)
    return out


def best_of(repeats: int, fn: Callable[[], T]) -> tuple[float, T]:
    best, result = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    assert result is not None
    return best, result


BENCH_FILTER: Filter = (
    F.home_odds.between(1.5, 2.5) & (F.home_form_pts_5 >= 7) & F.league.isin(["E0", "SP1", "D1"])
).bet("home", price="avg", stake=1.0)


def numpy_baseline(arrays: dict[str, np.ndarray], league_ok: np.ndarray) -> float:
    """The same selection and settlement with nothing but numpy, returning total profit."""
    odds, form = arrays["avg_home"], arrays["home_form_pts_5"]
    mask = (odds >= 1.5) & (odds <= 2.5) & (form >= 7) & league_ok[arrays["league_code"]]
    idx = np.flatnonzero(mask & (odds > 1.0))
    o = odds[idx]
    won = arrays["fthg"][idx] > arrays["ftag"][idx]
    profit = np.where(won, o - 1.0, -1.0)
    np.cumsum(profit)
    return float(profit.sum())


# ----------------------------------------------------------------------- per-team loop features
def loop_features(matches: pd.DataFrame) -> pd.DataFrame:
    """Per-team Python loop: walk each team's matches in order keeping running tallies."""
    n = len(matches)
    out = {c: [math.nan] * n for c in FEATURE_COLUMNS}
    teams: dict[tuple[str, str], list[tuple[Any, Any, int, str, float, float, str]]] = {}
    rows = zip(
        matches["league"],
        matches["season"],
        matches["kickoff"],
        matches["match_id"],
        matches["home_team"],
        matches["away_team"],
        matches["fthg"],
        matches["ftag"],
        strict=True,
    )
    for i, (league, season, kick, mid, home, away, hg, ag) in enumerate(rows):
        teams.setdefault((league, home), []).append((kick, mid, i, "home", hg, ag, season))
        teams.setdefault((league, away), []).append((kick, mid, i, "away", ag, hg, season))
    for items in teams.values():
        items.sort(key=lambda t: (t[0], t[1]))
        last10: deque[int] = deque(maxlen=10)
        season_key = None
        tally = dict.fromkeys(
            ("n", "pts", "gf", "ga", "hn", "hgf", "hga", "an", "agf", "aga", "cs", "fts"), 0.0
        )
        j = 0
        while j < len(items):
            k = j
            while k < len(items) and items[k][0] == items[j][0]:
                k += 1
            group = items[j:k]
            for _, _, i, side, _, _, season in group:
                if season != season_key:
                    tally = dict.fromkeys(tally, 0.0)
                    season_key = season
                played = tally["n"]
                out[f"{side}_played"][i] = played
                if played:
                    out[f"{side}_ppg"][i] = tally["pts"] / played
                    out[f"{side}_gf_avg"][i] = tally["gf"] / played
                    out[f"{side}_ga_avg"][i] = tally["ga"] / played
                    out[f"{side}_clean_sheet_pct"][i] = 100.0 * tally["cs"] / played
                    out[f"{side}_failed_to_score_pct"][i] = 100.0 * tally["fts"] / played
                if tally["hn"]:
                    out[f"{side}_gf_avg_home"][i] = tally["hgf"] / tally["hn"]
                    out[f"{side}_ga_avg_home"][i] = tally["hga"] / tally["hn"]
                if tally["an"]:
                    out[f"{side}_gf_avg_away"][i] = tally["agf"] / tally["an"]
                    out[f"{side}_ga_avg_away"][i] = tally["aga"] / tally["an"]
                for size in (5, 10):
                    window = list(last10)[-size:]
                    if window:
                        out[f"{side}_form_pts_{size}"][i] = float(sum(window))
                        out[f"{side}_form_w_{size}"][i] = float(window.count(3))
                        out[f"{side}_form_d_{size}"][i] = float(window.count(1))
                        out[f"{side}_form_l_{size}"][i] = float(window.count(0))
            for _, _, _, side, gf, ga, season in group:
                if season != season_key:
                    tally = dict.fromkeys(tally, 0.0)
                    season_key = season
                pts = 3 if gf > ga else (1 if gf == ga else 0)
                last10.append(pts)
                tally["n"] += 1
                tally["pts"] += pts
                tally["gf"] += gf
                tally["ga"] += ga
                tally["cs"] += ga == 0
                tally["fts"] += gf == 0
                prefix = "h" if side == "home" else "a"
                tally[prefix + "n"] += 1
                tally[prefix + "gf"] += gf
                tally[prefix + "ga"] += ga
            j = k
    return pd.DataFrame(out, index=pd.Index(matches["match_id"].to_numpy(), name="match_id"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--matches", type=int, default=1_000_000)
    parser.add_argument("--feature-matches", type=int, default=100_000)
    parser.add_argument("--reference-sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    n = args.matches

    t0 = time.perf_counter()
    matches = synthetic_matches(n, args.seed)
    print(
        f"synthetic matches: {n:,} rows x {matches.shape[1]} columns "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    print(f"filter: {BENCH_FILTER.describe()}")

    core_s, core = best_of(3, lambda: select_bets(matches, BENCH_FILTER))
    print(
        f"engine core, filter eval + settlement ({n:,} matches, 3 rules, best of 3): "
        f"{core_s:.3f} s ({len(core.rows):,} bets)"
    )
    engine_s, result = best_of(3, lambda: run_backtest(matches, BENCH_FILTER))
    print(
        f"engine full run_backtest incl. bets frame + summary (best of 3): {engine_s:.3f} s "
        f"(profit {result.summary()['profit']:.2f})"
    )

    sys.path.insert(0, str(ROOT / "tests"))
    from reference_engine import reference_backtest

    sample = matches.iloc[: args.reference_sample]
    t0 = time.perf_counter()
    ref = reference_backtest(sample, BENCH_FILTER.to_dict())
    ref_sample_s = time.perf_counter() - t0
    ref_s = ref_sample_s * n / len(sample)
    check = run_backtest(sample, BENCH_FILTER)
    assert len(check.bets()) == len(ref.bets), "engine and reference disagree on the sample"
    assert abs(check.summary()["profit"] - sum(b["profit"] for b in ref.bets)) < 1e-9
    print(
        f"reference row loop: {ref_s:.1f} s (extrapolated from {ref_sample_s:.2f} s "
        f"on a {len(sample):,}-row sample)"
    )
    print(f"engine (full run) speed-up vs reference: {ref_s / engine_s:.0f}x (target >= 200x)")

    codes, uniques = pd.factorize(matches["league"])
    league_ok = np.r_[np.isin(uniques.to_numpy(dtype=object), ["E0", "SP1", "D1"]), False]
    arrays = {
        "avg_home": matches["avg_home"].to_numpy(dtype=np.float64),
        "home_form_pts_5": matches["home_form_pts_5"].to_numpy(dtype=np.float64),
        "league_code": codes,
        "fthg": matches["fthg"].to_numpy(),
        "ftag": matches["ftag"].to_numpy(),
    }
    numpy_s, numpy_profit = best_of(3, lambda: numpy_baseline(arrays, league_ok))
    assert abs(numpy_profit - result.summary()["profit"]) < 1e-6, "numpy baseline disagrees"
    print(f"bare numpy mask + settlement: {numpy_s:.3f} s")
    print(f"engine core / numpy ratio: {core_s / numpy_s:.1f}x (target <= 5x)")
    print(f"engine full run / numpy ratio: {engine_s / numpy_s:.1f}x")

    feature_matches = synthetic_matches(args.feature_matches, args.seed + 1)
    feat_s, feats = best_of(3, lambda: compute_features(feature_matches))
    print(
        f"compute_features ({len(feature_matches):,} matches, best of 3): {feat_s:.3f} s "
        f"(target < 3 s)"
    )
    t0 = time.perf_counter()
    looped = loop_features(feature_matches)
    loop_s = time.perf_counter() - t0
    pd.testing.assert_frame_equal(
        feats.astype(float), looped.astype(float), check_exact=False, atol=1e-9
    )
    print(f"per-team Python loop features: {loop_s:.2f} s (same numbers checked)")
    print(f"features speed-up vs loop: {loop_s / feat_s:.0f}x")

    tracemalloc.start()
    run_backtest(matches, BENCH_FILTER)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"engine peak traced memory: {peak / 2**20:.0f} MiB "
        f"(input frame {matches.memory_usage(deep=False).sum() / 2**20:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
