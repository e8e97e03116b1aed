"""Benchmark the importer: 25 seasons x 20 leagues (about 190k matches) in the real layouts.

Run ``python benchmarks/importer.py`` (PostgreSQL on loopback for the second half; a few
minutes on a shared 2-core machine). It writes synthetic values into the real column layouts
(the headers of the three ``../shared/data`` files by era, and the extra-leagues layout for 4 of
the 20 leagues: one file per league holding every season), then prints:

a. parsing every file with :func:`read_football_data` against a plain ``pandas.read_csv`` of
   the same files (the baseline: what any script does before it has checked anything), rows/s
   and the ratio;
b. the whole import (parse, one transaction of bulk upserts, every league's features) into a
   fresh SQLite data dir and a fresh PostgreSQL database, then the same files again (all
   unchanged): rows/s by wall time and by this process's CPU time (the machine is shared, so
   CPU is the steadier figure), side by side with the bare ``pandas.read_csv`` baseline, and the
   seconds against the 30 s target.

The PostgreSQL database is created here and dropped at the end (``FILTERBETS_BENCH_PG_ADMIN_URL``,
default ``postgresql://postgres:postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filterbets_nb import testing  # noqa: E402
from filterbets_nb.config import get_settings  # noqa: E402
from filterbets_nb.importer import read_football_data  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "football-data"
EXTRA_HEADER = (
    "Country,League,Season,Date,Time,Home,Away,HG,AG,Res,PSCH,PSCD,PSCA,MaxCH,MaxCD,MaxCA,"
    "AvgCH,AvgCD,AvgCA,BFECH,BFECD,BFECA"
)
EXTRA_COUNTRIES = ("Brazil", "USA", "Norway", "Argentina")
TEXT = {"Referee": "A Referee", "FTR": "", "HTR": "", "Res": ""}


def header_of(season_start: int) -> list[str]:
    """The real header of the era the season belongs to."""
    name = "E0_2000-01.csv" if season_start < 2005 else "E0_2015-16.csv"
    if season_start >= 2019:
        name = "E0_2019-20.csv"
    return (SHARED / name).read_text(encoding="latin-1").splitlines()[0].split(",")


def season_rows(rng: np.random.Generator, teams: int, start: int) -> pd.DataFrame:
    """A double round robin with dates from August to May, scores and plausible prices."""
    home, away = np.meshgrid(np.arange(teams), np.arange(teams), indexing="ij")
    keep = home != away
    home, away = home[keep], away[keep]
    n = home.size
    days = np.sort(rng.integers(0, 280, n))
    dates = pd.Timestamp(f"{start}-08-10") + pd.to_timedelta(days, unit="D")
    fthg, ftag = rng.poisson(1.5, n), rng.poisson(1.2, n)
    hthg, htag = rng.binomial(fthg, 0.45), rng.binomial(ftag, 0.45)
    return pd.DataFrame(
        {
            "date": dates,
            "home": [f"Team {h}" for h in home],
            "away": [f"Team {a}" for a in away],
            "fthg": fthg,
            "ftag": ftag,
            "hthg": hthg,
            "htag": htag,
        }
    )


def result(home: pd.Series, away: pd.Series) -> np.ndarray:
    return np.where(home > away, "H", np.where(home < away, "A", "D"))


def write_main(path: Path, rng: np.random.Generator, league: str, start: int) -> int:
    header = header_of(start)
    rows = season_rows(rng, 20, start)
    n = len(rows)
    short = start < 2005
    cells: dict[str, Any] = {}
    for column in header:
        if column == "Div":
            cells[column] = league
        elif column == "Date":
            cells[column] = rows["date"].dt.strftime("%d/%m/%y" if short else "%d/%m/%Y")
        elif column == "Time":
            cells[column] = "15:00"
        elif column in ("HomeTeam", "AwayTeam"):
            cells[column] = rows["home" if column == "HomeTeam" else "away"]
        elif column in ("FTHG", "FTAG", "HTHG", "HTAG"):
            cells[column] = rows[column.lower()]
        elif column == "FTR":
            cells[column] = result(rows["fthg"], rows["ftag"])
        elif column == "HTR":
            cells[column] = result(rows["hthg"], rows["htag"])
        elif column == "Referee":
            cells[column] = "A Referee"
        elif column in ("Attendance", "HS", "AS", "HST", "AST", "HF", "AF", "HC", "AC"):
            cells[column] = rng.integers(0, 30, n)
        else:
            cells[column] = np.round(rng.uniform(1.05, 12.0, n), 2)
    pd.DataFrame(cells, columns=header).to_csv(path, index=False)
    return n


def write_extra(path: Path, rng: np.random.Generator, country: str, seasons: range) -> int:
    header = EXTRA_HEADER.split(",")
    frames = []
    for start in seasons:
        rows = season_rows(rng, 20, start)
        n = len(rows)
        cells: dict[str, Any] = {
            "Country": country,
            "League": "Top League",
            "Season": f"{start}/{start + 1}",
            "Date": rows["date"].dt.strftime("%d/%m/%Y"),
            "Time": "20:00",
            "Home": rows["home"],
            "Away": rows["away"],
            "HG": rows["fthg"],
            "AG": rows["ftag"],
            "Res": result(rows["fthg"], rows["ftag"]),
        }
        for column in header[10:]:
            cells[column] = np.round(rng.uniform(1.05, 12.0, n), 2)
        frames.append(pd.DataFrame(cells, columns=header))
    pd.concat(frames).to_csv(path, index=False)
    return sum(len(f) for f in frames)


def build(folder: Path, leagues: int, seasons: int, seed: int = 0) -> tuple[list[Path], int]:
    rng = np.random.default_rng(seed)
    starts = range(2024 - seasons + 1, 2025)
    files: list[Path] = []
    rows = 0
    main = leagues - len(EXTRA_COUNTRIES)
    for i in range(main):
        for start in starts:
            path = folder / f"L{i}_{start}.csv"
            rows += write_main(path, rng, f"L{i}", start)
            files.append(path)
    codes = {"Brazil": "BRA", "USA": "USA", "Norway": "NOR", "Argentina": "ARG"}
    for country in EXTRA_COUNTRIES[: leagues - main]:
        path = folder / f"{codes[country]}.csv"
        rows += write_extra(path, rng, country, starts)
        files.append(path)
    return files, rows


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds (this process: parsing, diffing, driver work; not the server's)."""
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - t0, time.process_time() - c0, value


def use_database(data_dir: Path, url: str | None) -> None:
    os.environ["FILTERBETS_DATA_DIR"] = str(data_dir)
    if url:
        os.environ["FILTERBETS_DATABASE_URL"] = url
    else:
        os.environ.pop("FILTERBETS_DATABASE_URL", None)
    get_settings.cache_clear()


def import_runs(files: list[Path], rows: int) -> dict[str, tuple[float, float, str]]:
    """A fresh import, then the same files again (everything unchanged): wall, CPU, report."""
    from filterbets_nb.loading import import_csv

    out: dict[str, tuple[float, float, str]] = {}
    for run in ("fresh", "again"):
        wall, cpu, report = timed(lambda: import_csv(files, progress=False))
        out[run] = (wall, cpu, str(report).split(" in ")[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leagues", type=int, default=20)
    parser.add_argument("--seasons", type=int, default=25)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    admin = os.environ.get(
        "FILTERBETS_BENCH_PG_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)", flush=True)
    with tempfile.TemporaryDirectory(prefix="fb-bench-importer-") as tmp:
        folder = Path(tmp) / "csv"
        folder.mkdir()
        seconds, _, (files, rows) = timed(lambda: build(folder, args.leagues, args.seasons))
        print(f"built {len(files)} files, {rows} matches, in {seconds:.1f} s", flush=True)
        base, base_cpu, _ = timed(lambda: [pd.read_csv(f, encoding="latin-1") for f in files])
        ours, ours_cpu, parsed = timed(lambda: [read_football_data(f) for f in files])
        assert sum(len(p.frame) for p in parsed) == rows
        print(
            f"a. parse: read_football_data {rows / ours:,.0f} rows/s, pandas.read_csv"
            f" {rows / base:,.0f} rows/s: {ours_cpu / base_cpu:.2f}x the baseline's CPU time",
            flush=True,
        )
        results: dict[str, dict[str, tuple[float, float, str]]] = {}
        use_database(Path(tmp) / "sqlite", None)
        results["SQLite"] = import_runs(files, rows)
        if not args.skip_postgres:
            with testing.scratch_database(admin, "fbbench_importer_") as url:
                use_database(Path(tmp) / "pg", url)
                results["PostgreSQL"] = import_runs(files, rows)
    print(
        f"b. import of {rows} matches (parse, upsert, features), rows/s"
        " (wall; CPU of this process):"
    )
    print(f"   {'':22}{'pandas.read_csv':>22}" + "".join(f"{k:>28}" for k in results))
    for run, label in (("fresh", "fresh database"), ("again", "again (unchanged)")):
        cells = "".join(
            f"{rows / r[run][0]:>12,.0f} ({rows / r[run][1]:>9,.0f} CPU)" for r in results.values()
        )
        print(f"   {label:22}{rows / base:>12,.0f} ({rows / base_cpu:>7,.0f} CPU){cells}")
    for name, r in results.items():
        wall = r["fresh"][0]
        verdict = "met" if wall < 30 else "MISSED"
        print(
            f"   {name}: fresh {wall:.1f} s (target < 30 s: {verdict}); {r['fresh'][2]};"
            f" again {r['again'][0]:.1f} s; {r['again'][2]}"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
