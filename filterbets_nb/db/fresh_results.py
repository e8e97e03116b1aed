"""The played matches an import inserted into leagues it created, kept for its feature refresh.

An import recomputes the features of every league it wrote from that league's played matches.
For a league the import itself created, those matches are exactly the rows it inserted a moment
before, so reading them back bought nothing: loading a million demo matches into SQLite spent
about a tenth of its time there (the query, a million rows of Python values, the text
kick-offs parsed again). :class:`FreshResults` keeps, per inserted played match, the few
numbers features need (about 40 bytes) and hands them back in the shape
:func:`filterbets_nb.db.store.load_results` reads.

A league stops being covered once the import updates one of its rows (a key repeated in the
data); its refresh then reads what is stored, as any other league's does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

#: Columns kept per match, with the compact dtype they are kept in.
_KEPT: dict[str, type[np.generic]] = {
    "match_id": np.int64,
    "league_id": np.int64,
    "season": np.int32,
    "kickoff": np.int64,
    "home_team_id": np.int64,
    "away_team_id": np.int64,
    "fthg": np.int32,
    "ftag": np.int32,
}


class FreshResults:
    """Results an import inserted into the leagues it created (one import, one transaction)."""

    def __init__(self) -> None:
        self._codes: dict[int, str] = {}  # covered league id -> code
        self._teams: dict[int, str] = {}  # team id -> name, of covered leagues
        self._seasons: dict[str, int] = {}  # season label -> code
        self._parts: list[dict[str, npt.NDArray[Any]]] = []

    def created(self, leagues: Mapping[str, int]) -> None:
        """``leagues`` (code -> id) were created by this import: they hold no match yet."""
        self._codes.update({int(league_id): code for code, league_id in leagues.items()})

    def name_teams(self, teams: Mapping[tuple[int, str], int]) -> None:
        """Remember the names of the teams (``(league id, name) -> id``) of covered leagues."""
        self._teams.update(
            {int(team): name for (league, name), team in teams.items() if league in self._codes}
        )

    def inserted(self, rows: pd.DataFrame, ids: npt.NDArray[np.int64]) -> None:
        """``rows`` (the upsert's keyed rows: ids, ``season``, ``kickoff``, goals) were inserted
        as matches ``ids``; those of covered leagues with a result are kept."""
        league = rows["league_id"].to_numpy(dtype=np.int64)
        fthg = rows["fthg"].to_numpy(dtype=np.float64)
        keep = np.isin(league, np.fromiter(self._codes, dtype=np.int64)) & ~np.isnan(fthg)
        if not keep.any():
            return
        labels = rows["season"].to_numpy(dtype=object)[keep]
        for label in pd.unique(labels):
            self._seasons.setdefault(str(label), len(self._seasons))
        codes = pd.Series(labels).map(self._seasons).to_numpy(dtype=np.int32)
        kickoff = rows["kickoff"].to_numpy().astype("datetime64[us]").view(np.int64)
        values = {
            "match_id": np.asarray(ids, dtype=np.int64)[keep],
            "league_id": league[keep],
            "season": codes,
            "kickoff": kickoff[keep],
            "home_team_id": rows["home_team_id"].to_numpy()[keep],
            "away_team_id": rows["away_team_id"].to_numpy()[keep],
            "fthg": fthg[keep],
            "ftag": rows["ftag"].to_numpy(dtype=np.float64)[keep],
        }
        self._parts.append({k: values[k].astype(dtype) for k, dtype in _KEPT.items()})

    def spoil(self, league_ids: Iterable[int]) -> None:
        """Rows of ``league_ids`` were updated: their stored results are no longer these."""
        for league_id in league_ids:
            self._codes.pop(int(league_id), None)

    def covers(self, league: str) -> bool:
        """Whether the results of ``league`` (a code) are all here."""
        return league in self._codes.values()

    def _rows(self, leagues: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
        """The kept columns of the matches of ``leagues`` (all covered), in no set order."""
        if not all(self.covers(league) for league in leagues):
            raise ValueError(f"not every league of {list(leagues)} is covered")
        if len(self._parts) > 1:  # joined once, on first use
            self._parts = [{k: np.concatenate([p[k] for p in self._parts]) for k in _KEPT}]
        if not self._parts:
            return {k: np.empty(0, dtype=dtype) for k, dtype in _KEPT.items()}
        wanted = [i for i, code in self._codes.items() if code in set(leagues)]
        part = self._parts[0]
        keep = np.isin(part["league_id"], np.asarray(wanted, dtype=np.int64))
        return {k: v[keep] for k, v in part.items()}

    def counts(self, leagues: Sequence[str]) -> dict[str, int]:
        """Played matches per league of ``leagues`` (all covered; none: left out), as
        :func:`filterbets_nb.db.store.count_results` counts them."""
        rows = self._rows(leagues)
        ids, counts = np.unique(rows["league_id"], return_counts=True)
        return {self._codes[int(i)]: int(n) for i, n in zip(ids, counts, strict=True)}

    def results(self, leagues: Sequence[str]) -> pd.DataFrame:
        """What :func:`filterbets_nb.db.store.load_results` reads for ``leagues`` (all
        covered): same columns, types and order."""
        rows = self._rows(leagues)
        league_ids = np.array(sorted(self._codes), dtype=np.int64)
        league_codes = np.array([self._codes[int(i)] for i in league_ids], dtype=object)
        team_ids = np.array(sorted(self._teams), dtype=np.int64)
        team_names = np.array([self._teams[int(i)] for i in team_ids], dtype=object)
        seasons = np.array(sorted(self._seasons, key=self._seasons.__getitem__), dtype=object)

        def named(ids: npt.NDArray[np.int64], keys: npt.NDArray[np.int64], names: Any) -> Any:
            return names[np.searchsorted(keys, ids)]

        frame = pd.DataFrame(
            {
                "match_id": rows["match_id"],
                "league": pd.array(named(rows["league_id"], league_ids, league_codes), dtype="str"),
                "season": seasons[rows["season"]]
                if len(seasons)
                else rows["season"].astype(object),
                "kickoff": rows["kickoff"].view("datetime64[us]"),
                "home_team": named(rows["home_team_id"], team_ids, team_names),
                "away_team": named(rows["away_team_id"], team_ids, team_names),
                "fthg": rows["fthg"].astype(np.int64),
                "ftag": rows["ftag"].astype(np.int64),
            }
        )
        return frame.sort_values(["kickoff", "match_id"], kind="stable", ignore_index=True)
