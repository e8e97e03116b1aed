"""Download football-data.co.uk files into the data dir's cache, then import them.

The site publishes one file per league and season (``mmz4281/1516/E0.csv``) and one file per
"extra league" holding every season (``new/BRA.csv``).  :func:`fetch` maps league codes and
seasons to those addresses under :attr:`.config.Settings.football_data_url`, keeps a copy of each
file in ``<data_dir>/football-data/`` laid out like the site, and revalidates it with a
conditional request (``If-None-Match`` / ``If-Modified-Since``), so a re-run downloads only what
changed.  A connection error is retried with exponential backoff; when the site stays
unreachable the fetch says so and imports what the cache holds.  A 404 (a season the site does
not have) is reported for that file only.

Only files whose bytes were not imported into this database yet are imported, so the daily
refresh of an unchanged season costs a few conditional requests and nothing else.

The standard library's ``urllib`` is enough for a handful of GETs; no HTTP dependency.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import pandas as pd

from filterbets_nb.config import get_settings
from filterbets_nb.importer import EXTRA_LEAGUE_CODES, CsvFormatError, read_football_data
from filterbets_nb.loading import PushProgress
from filterbets_nb.schema import season_of

__all__ = [
    "DEFAULT_SITE",
    "FIRST_SEASON",
    "FetchReport",
    "FetchedFile",
    "current_season",
    "expand_seasons",
    "fetch",
    "file_url",
]

logger = logging.getLogger(__name__)

DEFAULT_SITE: Final = "https://www.football-data.co.uk/"
#: The first season the site has per-season files for (1993-94); ``seasons="all"`` starts here.
FIRST_SEASON: Final = 1993
#: League codes of the per-country files under ``new/`` (all seasons in one file).
EXTRA_CODES: Final[frozenset[str]] = frozenset(EXTRA_LEAGUE_CODES.values())
#: Connection attempts after the first, and the first pause between them (doubled each time).
RETRIES: Final = 3
BACKOFF: Final = 0.5
_TIMEOUT: Final = 30.0
_CHUNK: Final = 64 * 1024
_USER_AGENT: Final = "filterbets-nb (+https://github.com/filterbets-nb)"
#: What a connection that failed before any HTTP answer raises: retried, then "offline".
_CONNECTION_ERRORS: Final = (
    urllib.error.URLError,
    http.client.HTTPException,  # IncompleteRead, RemoteDisconnected, BadStatusLine
    ConnectionError,
    TimeoutError,
)


def current_season(today: dt.date | None = None) -> str:
    """The season running on ``today`` (July to June), e.g. ``"2025-26"`` in December 2025."""
    today = today or dt.datetime.now(dt.UTC).date()
    return season_of(today.year, today.month)


def _season_start(label: str) -> int:
    start, _, end = label.partition("-")
    if not (start.isdigit() and len(start) == 4 and end.isdigit() and len(end) == 2):
        raise ValueError(f"season {label!r} is not of the form 2015-16")
    if (int(start) + 1) % 100 != int(end):
        raise ValueError(f"season {label!r}: {end} does not follow {start}")
    return int(start)


def expand_seasons(seasons: str | Sequence[str] | None, today: dt.date | None = None) -> list[str]:
    """Season labels to fetch: None is the current season, ``"all"`` every season the site has,
    two seasons a range (every season between, both included), more a plain list."""
    latest = _season_start(current_season(today))
    if seasons is None:
        return [current_season(today)]
    if isinstance(seasons, str):
        seasons = [seasons]
    if list(seasons) == ["all"]:
        starts: Iterable[int] = range(FIRST_SEASON, latest + 1)
    elif len(seasons) == 2:
        first, last = sorted(_season_start(s) for s in seasons)
        starts = range(first, last + 1)
    else:
        starts = sorted({_season_start(s) for s in seasons})
    return [season_of(start, 7) for start in starts]


def file_url(site: str, league: str, season: str | None) -> str:
    """The site's address of one file: ``mmz4281/1516/E0.csv``, or ``new/BRA.csv``."""
    base = site if site.endswith("/") else site + "/"
    if league in EXTRA_CODES:
        return f"{base}new/{league}.csv"
    assert season is not None
    start = _season_start(season)
    return f"{base}mmz4281/{start % 100:02d}{(start + 1) % 100:02d}/{league}.csv"


def _relative(league: str, season: str | None) -> str:
    return file_url("", league, season).lstrip("/")


@dataclass(frozen=True)
class FetchedFile:
    """One file of a fetch: where it came from, what the site answered, what the import did.

    ``status`` is ``downloaded``, ``not modified`` (304, the cached copy is current),
    ``cached`` (the site could not be reached; the cached copy is used), ``missing`` (404),
    or ``failed`` (anything else; ``error`` says what).  ``imported`` is ``imported``,
    ``unchanged`` (these bytes were imported into this database before), ``rejected``
    (``error`` names the file, line and column) or empty when there was nothing to import.
    """

    league: str
    season: str | None
    url: str
    path: Path
    status: str
    bytes: int = 0
    error: str = ""
    imported: str = ""


@dataclass
class FetchReport:
    """What :func:`fetch` did per file, and the import report of what it imported."""

    files: list[FetchedFile]
    site: str
    offline: bool = False
    offline_reason: str = ""
    imported: Any = None  # loading.LoadReport of the files imported, None if none were
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per file: league, season, download status, bytes, import outcome, error."""
        rows = [
            (f.league, f.season or "all", f.status, f.bytes, f.imported, f.error)
            for f in self.files
        ]
        return pd.DataFrame(
            rows, columns=["league", "season", "download", "bytes", "import", "error"]
        )

    def __str__(self) -> str:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        parts = [f"{n} {status}" for status, n in counts.items()]
        head = f"{len(self.files)} file(s) from {self.site}: {', '.join(parts) or 'none'}"
        lines = [head, *self.notes]
        if self.imported is not None:
            lines.append(f"imported: {self.imported}")
        return "\n".join(lines)


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(_meta_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) and path.is_file() else {}


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    tmp = _meta_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, sort_keys=True))
    tmp.replace(_meta_path(path))


def _download(
    url: str, path: Path, on_bytes: Callable[[int], None], retries: int, backoff: float
) -> tuple[str, int, str]:
    """GET ``url`` into ``path`` unless the cached copy is current: ``(status, bytes, error)``.

    Raises the last connection error when every attempt failed before an HTTP answer.
    """
    meta = _read_meta(path)
    headers = {"User-Agent": _USER_AGENT}
    if meta.get("etag"):
        headers["If-None-Match"] = meta["etag"]
    if meta.get("last_modified"):
        headers["If-Modified-Since"] = meta["last_modified"]
    for attempt in range(retries + 1):
        received = 0
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".part")
                with tmp.open("wb") as out:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        on_bytes(len(chunk))
                length = response.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) != received:
                    raise http.client.IncompleteRead(b"", int(length) - received)
                tmp.replace(path)
                meta = {
                    "url": url,
                    "etag": response.headers.get("ETag"),
                    "last_modified": response.headers.get("Last-Modified"),
                    "imported": meta.get("imported", {}),
                }
                _write_meta(path, meta)
                return "downloaded", received, ""
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return "not modified", 0, ""
            if exc.code == 404:
                return "missing", 0, f"{url}: 404 not found"
            if exc.code >= 500 and attempt < retries:
                on_bytes(-received)
                time.sleep(backoff * 2**attempt)
                continue
            return "failed", 0, f"{url}: HTTP {exc.code} {exc.reason}"
        except _CONNECTION_ERRORS:
            on_bytes(-received)
            if attempt >= retries:
                raise
            logger.info("fetch %s: attempt %d failed, retrying", url, attempt + 1)
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _database_key() -> str:
    """Which database an import went into, without its password (the meta file is plain text)."""
    return hashlib.sha256(get_settings().database.encode()).hexdigest()[:16]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: The steps of a fetch, as its progress bar (and the daily refresh's task meta) counts them.
FETCH_STAGES: Final[tuple[str, ...]] = ("download", "import", "store", "features")


def fetch(
    leagues: str | Sequence[str],
    seasons: str | Sequence[str] | None = None,
    *,
    strict: bool = False,
    progress: bool = True,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    import_files: bool = True,
    on_status: Callable[[dict[str, Any]], None] | None = None,
) -> FetchReport:
    """Download football-data.co.uk files (cached, revalidated) and import them.

    >>> fb.fetch(["E0", "SP1"], ["2015-16", "2024-25"])   # ten seasons of two leagues
    >>> fb.fetch("BRA")                                   # an extra league: all its seasons

    ``seasons`` as in :func:`expand_seasons` (default: the current season); extra-league codes
    (:data:`EXTRA_CODES`) ignore it, their one file holds every season.  ``strict`` is passed
    to the importer.  A file the importer rejects is reported and the others are imported.
    ``progress`` shows the package's progress bar; ``on_status`` receives the same status dict
    once per file and step (the daily refresh task publishes it as its task meta).
    """
    from filterbets_nb.loading import import_files as store_files

    if isinstance(leagues, str):
        leagues = [leagues]
    codes = [str(code).strip() for code in leagues]
    if not codes or any(not code for code in codes):
        raise ValueError("fetch needs at least one league code, e.g. fetch(['E0'])")
    settings = get_settings()
    site = settings.football_data_url
    labels = expand_seasons(seasons)
    wanted: list[tuple[str, str | None]] = []
    for code in dict.fromkeys(codes):
        wanted += [(code, None)] if code in EXTRA_CODES else [(code, s) for s in labels]
    cache = settings.data_dir / "football-data"
    bar = PushProgress("fetch", FETCH_STAGES, len(wanted), progress, on_status)
    files: list[FetchedFile] = []
    offline_reason = ""
    downloaded = 0

    def on_bytes(n: int) -> None:
        nonlocal downloaded
        downloaded += n
        bar.set("download", len(files), len(wanted), f"{downloaded / 1e6:.1f} MB downloaded")

    for league, season in wanted:
        url = file_url(site, league, season)
        path = cache / _relative(league, season)
        if offline_reason:
            status = "cached" if path.is_file() else "failed"
            files.append(FetchedFile(league, season, url, path, status, error=offline_reason))
            continue
        try:
            status, size, error = _download(url, path, on_bytes, retries, backoff)
        except _CONNECTION_ERRORS as exc:
            offline_reason = f"cannot reach {site}: {exc}"
            status, size = ("cached" if path.is_file() else "failed"), 0
            error = offline_reason
        files.append(FetchedFile(league, season, url, path, status, size, error))
        bar.set("download", len(files), len(wanted), f"{downloaded / 1e6:.1f} MB downloaded")

    report = FetchReport(files, site, bool(offline_reason), offline_reason)
    if offline_reason:
        cached = sum(f.status == "cached" for f in files)
        report.notes.append(
            f"offline: {offline_reason}; importing the {cached} cached file(s) of the"
            f" {len(files)} asked for"
        )
        logger.warning("fetch: %s", report.notes[-1])
    if import_files:
        try:
            _import(report, bar, strict, store_files)
        except BaseException as exc:
            bar.end(f"{type(exc).__name__}: {exc}")
            raise
    bar.end()
    return report


def _import(report: FetchReport, bar: PushProgress, strict: bool, store_files: Any) -> None:
    """Parse the files not imported into this database in their current form, store the
    good ones in one transaction, and record what was imported in each file's meta."""
    database = _database_key()
    todo: list[int] = []
    for i, f in enumerate(report.files):
        if f.status not in ("downloaded", "not modified", "cached"):
            continue
        meta = _read_meta(f.path)
        digest = _digest(f.path)
        if meta.get("imported", {}).get(database) == digest:
            report.files[i] = replace(f, imported="unchanged")
        else:
            todo.append(i)
    parsed = []
    for n, i in enumerate(todo):
        f = report.files[i]
        bar.set("import", n, len(todo), f"reading {f.path.name}")
        try:
            parsed.append((i, read_football_data(f.path, strict=strict)))
        except CsvFormatError as exc:
            report.files[i] = replace(f, imported="rejected", error=str(exc))
    if not parsed:
        return
    bar.set("import", len(todo), len(todo), f"storing {len(parsed)} file(s)")
    # Cached files keep the site's name (E0.csv in every season): name them by league/season.
    named = [
        replace(p, path=f"{report.files[i].league}_{report.files[i].season or 'all'}.csv")
        for i, p in parsed
    ]
    report.imported = store_files(named, progress=bar.set)
    for i, _ in parsed:
        f = report.files[i]
        meta = _read_meta(f.path)
        meta.setdefault("imported", {})[database] = _digest(f.path)
        _write_meta(f.path, meta)
        report.files[i] = replace(f, imported="imported")
