"""Read football-data.co.uk CSV files into the canonical matches frame (see :mod:`.schema`).

football-data.co.uk has published its results-and-odds CSV files for more than two decades and
their layout drifted over that time: team columns were once ``HT``/``AT``, dates switched from
``dd/mm/yy`` to ``dd/mm/yyyy`` (sometimes mid-file), a ``Time`` column appeared in 2019, the
market aggregates moved from BetBrain's ``BbAv*``/``BbMx*`` to ``Avg*``/``Max*``, closing prices
(``*C*``) arrived, and old files carry bookmakers that no longer exist.  This module hides that
history: whatever the era, :func:`read_football_data` returns one frame in the schema shape plus
an ``extra_odds`` column, so nothing a file carries about prices is lost.

The module is pure (no database, no network).  Parsing is vectorised: the file is split into
string cells once, and every check is a whole-column numpy/pandas operation that also finds the
*first* offending row, so an error message can point at the exact line and column.

Identity and result errors are all-or-nothing: a file whose dates, teams or goals are malformed
or contradict each other raises :class:`CsvFormatError` and yields no rows.  Importing half a file
would leave silent holes in a backtest, which is worse than a loud failure that names the line to
fix.  A *price* cell that is not a number (real files carry stray text such as a bookmaker's name,
which also shifts the cells after it) costs only its row's prices: the match is kept, none of that
row's prices are (they cannot be trusted), and the row is reported in
:attr:`ImportedFile.dropped_prices`.  ``strict=True`` rejects the file for that too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from filterbets_nb.errors import UserError

from .db.limits import first_violation
from .schema import LINE_COLUMNS, MATCH_COLUMNS, ODDS_COLUMNS, season_of

__all__ = [
    "BOOKMAKER_PREFIXES",
    "EXTRA_LEAGUE_CODES",
    "FRAME_COLUMNS",
    "MAX_CELLS",
    "MAX_PRICE",
    "CsvFormatError",
    "DroppedPrices",
    "ImportedFile",
    "decode_text",
    "parse_football_data",
    "read_football_data",
]

#: Columns of the frame :func:`parse_football_data` returns: the schema columns without
#: ``match_id`` (ids are assigned by whoever stores the rows), then ``extra_odds``.
FRAME_COLUMNS: Final[tuple[str, ...]] = (
    *(c for c in MATCH_COLUMNS if c != "match_id"),
    "extra_odds",
)

#: Individual bookmakers' column prefixes as they appear in football-data files of any era
#: (1X2 columns are ``prefix + H/D/A``).  Used only to derive market aggregates for files that
#: carry none; closing variants (``B365CH`` ...) are deliberately not matched.
BOOKMAKER_PREFIXES: Final[tuple[str, ...]] = (
    "B365",
    "BF",
    "BFD",
    "BFE",
    "BMGM",
    "BS",
    "BV",
    "BW",
    "CB",
    "CL",
    "GB",
    "IW",
    "LB",
    "P",
    "PS",
    "SB",
    "SJ",
    "SO",
    "SY",
    "VC",
    "WH",
    "1XB",
)

#: League codes for football-data's "extra leagues" files (one file per country, all seasons),
#: which have a ``Country`` column instead of ``Div``.  The codes are the site's own file names.
EXTRA_LEAGUE_CODES: Final[dict[str, str]] = {
    "Argentina": "ARG",
    "Austria": "AUT",
    "Brazil": "BRA",
    "China": "CHN",
    "Denmark": "DNK",
    "Finland": "FIN",
    "Ireland": "IRL",
    "Japan": "JPN",
    "Mexico": "MEX",
    "Norway": "NOR",
    "Poland": "POL",
    "Romania": "ROU",
    "Russia": "RUS",
    "Sweden": "SWE",
    "Switzerland": "SWZ",
    "USA": "USA",
}

# Non-price columns: used identity/result columns and match statistics.  Every other named column
# is treated as a betting column (it must be numeric), which is what lets ``extra_odds`` keep
# bookmakers and markets this module has never heard of.
_NON_BETTING_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "Div",
        "Country",
        "League",
        "Season",
        "Date",
        "Time",
        "HomeTeam",
        "AwayTeam",
        "HT",
        "AT",
        "Home",
        "Away",
        "FTHG",
        "FTAG",
        "HG",
        "AG",
        "HTHG",
        "HTAG",
        "FTR",
        "HTR",
        "Res",
        "Attendance",
        "Referee",
        "HS",
        "AS",
        "HST",
        "AST",
        "HHW",
        "AHW",
        "HC",
        "AC",
        "HF",
        "AF",
        "HFKC",
        "AFKC",
        "HO",
        "AO",
        "HY",
        "AY",
        "HR",
        "AR",
        "HBP",
        "ABP",
    }
)

# Accepted spellings of the columns the importer reads, first match wins.  The first spelling
# is the one named in "missing required column" errors.
_HOME_TEAM: Final = ("HomeTeam", "HT", "Home")
_AWAY_TEAM: Final = ("AwayTeam", "AT", "Away")
_FTHG: Final = ("FTHG", "HG")
_FTAG: Final = ("FTAG", "AG")
# Columns the importer may read; a duplicate of one of them in the header is ambiguous.
_READ_COLUMNS: Final[frozenset[str]] = frozenset(
    {
        "Div",
        "Country",
        "League",
        "Season",
        "Date",
        "Time",
        "HTHG",
        "HTAG",
        "FTR",
        "Res",
        *_HOME_TEAM,
        *_AWAY_TEAM,
        *_FTHG,
        *_FTAG,
    }
)

#: Header spellings seen in real files for a column of another name (the site's own typos, such
#: as a closing Pinnacle column spelt with the letters swapped), mapped to the proper name.
_COLUMN_ALIASES: Final[dict[str, str]] = {
    "PCSH": "PSCH",
    "PCSD": "PSCD",
    "PCSA": "PSCA",
    "PSHC": "PSCH",
    "PSDC": "PSCD",
    "PSAC": "PSCA",
}

#: A betting cell above this (or below its negative) is not a price, nor any other number the
#: files carry (bookmaker counts, handicap lines): 1e300 in a price column is a typo or garbage.
MAX_PRICE: Final = 1000.0
#: The most cells a line may have.  The widest real layout has about 130 columns; a line of a
#: million commas would otherwise make a million-column frame before any check could run.
MAX_CELLS: Final = 1000

# How each canonical price source is spelt in the files: (1X2 prefixes, over/under and Asian
# handicap prefixes), in order of preference.  A source of the schema missing here stays NaN.
_SOURCE_SPELLINGS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "b365": (("B365",), ("B365",)),
    "pinnacle": (("PS", "P"), ("P",)),
    "avg": (("Avg", "BbAv"), ("Avg", "BbAv")),
    "max": (("Max", "BbMx"), ("Max", "BbMx")),
    "b365_close": (("B365C",), ("B365C",)),
    "pinnacle_close": (("PSC",), ("PC",)),
    "avg_close": (("AvgC",), ("AvgC",)),
    "max_close": (("MaxC",), ("MaxC",)),
    "betfair_ex": (("BFE",), ("BFE",)),
    "betfair_ex_close": (("BFEC",), ("BFEC",)),
}
_MARKET_SUFFIXES: Final[dict[str, tuple[str, bool]]] = {
    # market -> (suffix, is a 1X2 market)
    "home": ("H", True),
    "draw": ("D", True),
    "away": ("A", True),
    "over25": (">2.5", False),
    "under25": ("<2.5", False),
    "ah_home": ("AHH", False),
    "ah_away": ("AHA", False),
}
# The Asian handicap lines (home side); ``BbAHh`` is the older files' BetBrain line.
_LINE_SPELLINGS: Final[dict[str, tuple[str, ...]]] = dict(
    zip(LINE_COLUMNS, (("AHh", "BbAHh"), ("AHCh",)), strict=True)
)


def _candidate_columns() -> dict[str, tuple[str, ...]]:
    """File columns that may feed each canonical odds column, in order of preference."""
    out: dict[str, tuple[str, ...]] = {}
    for column in ODDS_COLUMNS:
        for source, (prefixes_1x2, prefixes_ou) in _SOURCE_SPELLINGS.items():
            # "avg_close_home" minus "avg_" is "close_home", not a market, so only the
            # "avg_close" source claims it: the test is exact without ordering the sources.
            market = column.removeprefix(source + "_")
            if column.startswith(source + "_") and market in _MARKET_SUFFIXES:
                suffix, is_1x2 = _MARKET_SUFFIXES[market]
                prefixes = prefixes_1x2 if is_1x2 else prefixes_ou
                out[column] = tuple(p + suffix for p in prefixes)
    return out | _LINE_SPELLINGS


_CANDIDATES: Final[dict[str, tuple[str, ...]]] = _candidate_columns()
_BOOK_1X2_RE: Final = re.compile(
    "^(?:" + "|".join(re.escape(p) for p in BOOKMAKER_PREFIXES) + ")([HDA])$"
)
# Day first with the same separator twice (``/``, ``-`` or ``.``); or ISO ``yyyy-mm-dd``.
_DATE_RE: Final = r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})$"
_ISO_DATE_RE: Final = r"^(\d{4})-(\d{1,2})-(\d{1,2})$"
_SEASON_RE: Final = r"^(\d{4})(?:\s*[/\-]\s*(\d{4}|\d{2}))?$"
_TIME_RE: Final = r"^(\d{1,2}):(\d{2})$"


class CsvFormatError(UserError, ValueError):
    """A football-data file that cannot be imported; the whole file is rejected.

    ``line`` is the 1-based physical line in the file (the header is line 1) and ``column`` the
    header name of the offending cell, or ``None`` when the problem is not about one column
    (an empty file, a duplicated match).  For duplicated matches ``other_line`` is the line of
    the first occurrence and ``line`` the later one.
    """

    def __init__(
        self,
        path: str,
        line: int,
        column: str | None,
        problem: str,
        *,
        other_line: int | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.problem = problem
        self.other_line = other_line
        name = Path(path).name
        if other_line is not None:
            where = f"{name} lines {other_line} and {line}"
        else:
            where = f"{name} line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class DroppedPrices:
    """A kept match whose prices were all dropped: where, and the first cell that was wrong."""

    line: int
    column: str
    value: str
    reason: str


@dataclass(frozen=True)
class ImportedFile:
    """One parsed file: the canonical frame and what happened on the way.

    Attributes:
        frame: one row per played match, columns :data:`FRAME_COLUMNS` (schema columns minus
            ``match_id``, plus ``extra_odds``: per row a ``dict`` of every betting column of the
            file not mapped to a canonical column, raw values, NaNs dropped), in file order.
        path: the file path or the name given to :func:`parse_football_data`.
        layout: ``"main"`` (``Div`` column) or ``"extra"`` (the per-country "extra leagues" files).
        encoding: ``"utf-8"`` or ``"latin-1"``, whichever decoded the bytes.
        rows_read: data records after the header, blank ones included.
        rows_skipped_blank: blank lines and rows whose cells are all empty.
        rows_skipped_unplayed: rows with both full-time goals blank (fixtures not yet played,
            in :attr:`fixtures`, not in :attr:`frame`).
        columns_mapped: file columns that fed a canonical odds column.
        columns_extra_odds: file columns that went into ``extra_odds``.
        columns_unmapped: file columns that land nowhere (match statistics, referee, result
            letters, text league/season labels of the extra layout, duplicated statistics).
        derived_sources: canonical sources (``"avg"``, ``"max"``) whose 1X2 prices were derived
            from the individual bookmakers because the file carries no aggregate for them.
        dropped_prices: one entry per kept match whose prices were all dropped because one of
            its betting cells was not a price (file line, column, value, reason).
        fixtures: the rows without a result (matches not played yet), in the frame's columns
            with ``fthg``/``ftag`` NaN (float): stored for a fixture scanner, never bet on.
    """

    frame: pd.DataFrame
    path: str
    layout: Literal["main", "extra"]
    encoding: str
    rows_read: int
    rows_skipped_blank: int
    rows_skipped_unplayed: int
    columns_mapped: tuple[str, ...] = field(default=())
    columns_extra_odds: tuple[str, ...] = field(default=())
    columns_unmapped: tuple[str, ...] = field(default=())
    derived_sources: tuple[str, ...] = field(default=())
    dropped_prices: tuple[DroppedPrices, ...] = field(default=())
    fixtures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FRAME_COLUMNS))

    @property
    def seasons(self) -> tuple[str, ...]:
        """The seasons the file's matches belong to, in order."""
        return tuple(sorted(set(self.frame["season"].astype(str))))

    @property
    def rows_skipped(self) -> int:
        """Records not in :attr:`frame`: blank plus unplayed (``rows_read - len(frame)``)."""
        return self.rows_skipped_blank + self.rows_skipped_unplayed

    @property
    def derived_aggregates(self) -> bool:
        """True when any ``avg``/``max`` 1X2 price was derived rather than read."""
        return bool(self.derived_sources)


def read_football_data(path: str | os.PathLike[str], *, strict: bool = False) -> ImportedFile:
    """Read one football-data.co.uk CSV file of any era; see :func:`parse_football_data`."""
    raw = Path(path).read_bytes()
    return parse_football_data(raw, os.fspath(path), strict=strict)


def parse_football_data(
    data: str | bytes, name: str = "<string>", *, strict: bool = False
) -> ImportedFile:
    """Parse the text (or raw bytes) of a football-data.co.uk CSV file.

    ``name`` is used in error messages and as :attr:`ImportedFile.path`; tests feed strings.

    Decoding and shape: bytes are UTF-8 (a BOM is dropped) or else Latin-1, because older files
    were written on Windows with accented team names.  Blank lines, rows of empty cells and
    trailing empty columns (trailing commas) are ignored; blank rows are counted.

    Identity: league is ``Div`` (or, in the extra-leagues layout, the code of ``Country`` from
    :data:`EXTRA_LEAGUE_CODES`, or of the file name when there is no ``Country`` column); dates
    are day first, ``dd/mm/yy`` or ``dd/mm/yyyy`` with ``/``, ``-`` or ``.`` between the parts
    (mixed in one file is fine; ``00``-``89`` mean 20xx, ``90``-``99`` 19xx), or ISO
    ``yyyy-mm-dd``; a month-first file is refused by name, because no rule can tell 01/02 from
    02/01 in it.  An optional ``Time`` (``HH:MM``) sets the kick-off, else midnight.  ``season``
    is the extra layout's ``Season`` column ("2012" for a calendar-year league, "2012/2013" ->
    "2012-13"); otherwise :func:`.schema.season_of` of the kick-off, except that a file spanning
    at most a year is one season, labelled by its first match (2019-20 ended in July 2020).

    Consistency: the two teams differ, ``FTR``/``Res`` (when present) agrees with the goals,
    half-time goals do not exceed full-time ones, a result is not dated in the future, and every
    value fits the database columns (:mod:`.db.limits`); any of these rejects the file.

    Odds: each canonical column reads the first present of its spellings (``B365H``; ``PSH`` or
    ``PH``; ``AvgH`` or ``BbAvH``; ``MaxH`` or ``BbMxH``; ``B365CH``; ``PSCH``; ``AvgCH``;
    ``MaxCH``; over/under ``B365>2.5``, ``P>2.5``, ``Avg>2.5``/``BbAv>2.5``, ``Max>2.5``/
    ``BbMx>2.5``, ``B365C>2.5``, ``PC>2.5``, ``AvgC>2.5``, ``MaxC>2.5`` and the ``<2.5``
    twins).  A price of 0 or below 1.0 (or infinite) is the sites' way of saying "no price" and
    becomes NaN, as do blank cells.  ``btts_*`` stay NaN: the files do not carry them.  When a
    file carries no 1X2 market average at all (neither ``Avg*`` nor ``BbAv*``), ``avg_home/
    draw/away`` are derived per row as the mean of the individual bookmakers' 1X2 prices
    present (prefixes in :data:`BOOKMAKER_PREFIXES`, closing prices excluded); likewise
    ``max_*`` as the row maximum when there is no ``Max*``/``BbMx*``; NaN where no bookmaker
    priced the row.  Such sources are listed in :attr:`ImportedFile.derived_sources`.  Every
    other betting column (other bookmakers, Asian handicap lines, bookmaker counts, closing
    prices of other books) is kept raw in ``extra_odds``.

    Prices: a betting cell that is not a number, or is beyond :data:`MAX_PRICE`, drops every
    price of its row (the match is kept) and is listed in :attr:`ImportedFile.dropped_prices`;
    a value in an unnamed trailing column of such a row is the same shift, not a second error.

    Raises:
        CsvFormatError: the file is malformed: a required column is missing (``Div``, ``Date``,
            ``HomeTeam``/``AwayTeam``, ``FTHG``/``FTAG``; reported on line 1), a date or time
            does not parse, goals are not non-negative whole numbers, a team (or ``Div``) cell
            is blank, only one of the two full-time goals is blank, an unnamed column carries
            data, a used column is duplicated, the same (league, date, home, away) match appears
            twice, a consistency check above fails, or the text cannot be split into cells (a
            quote, a NUL byte, more than :data:`MAX_CELLS` cells); with ``strict=True`` also a
            betting cell that is not a price.  The first offending line of the file is
            reported.  Rows whose full-time goals are both blank are skipped, not errors.
    """
    text, encoding = decode_text(data)
    return _Parser(text, name, encoding, strict=strict).parse()


def decode_text(data: str | bytes) -> tuple[str, str]:
    """Decode bytes as UTF-8 (BOM dropped) or, failing that, Latin-1, which never fails; with
    the encoding used. Every reader of football-data.co.uk files (imports, the fixture scanner)
    decodes through this, so a file reads the same everywhere."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), "utf-8"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _first(mask: npt.NDArray[np.bool_]) -> int | None:
    """Index of the first True of ``mask``, or None."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


@dataclass(frozen=True)
class _Problem:
    row: int  # index into the kept (non-blank) rows
    position: int  # column position in the header, to order problems on one line
    column: str
    message: str


@dataclass(frozen=True)
class _Layout:
    """Where the records are: header names, physical start line and blankness of each record."""

    header: list[str]
    width: int
    starts: list[int]  # 1-based line of each data record
    blank: list[bool]


def _column_at(header: Sequence[str], index: int) -> str:
    """Header name of the ``index``-th cell (0-based), or how the error messages name a cell
    beyond the header."""
    name = header[index].strip() if index < len(header) else ""
    return name or f"#{index + 1} (no header)"


def _check_text(text: str, name: str) -> None:
    """Refuse what no cell splitting can make sense of, naming the line and column.

    A NUL byte is no text at all; football-data files never quote, so a line with an odd number
    of quotes is a stray quote that would swallow every line after it into one cell.
    """
    nul = text.find("\x00")
    if nul >= 0:
        line_start = text.rfind("\n", 0, nul) + 1
        header = text[: text.find("\n")].split(",") if "\n" in text else []
        cell = text.count(",", line_start, nul)
        raise CsvFormatError(
            name, text.count("\n", 0, nul) + 1, _column_at(header, cell), "contains a NUL byte"
        )
    if '"' not in text:
        return
    lines = text.split("\n")
    header = lines[0].split(",")
    for number, line in enumerate(lines, start=1):
        if line.count('"') % 2:
            cell = line.count(",", 0, line.rfind('"'))
            raise CsvFormatError(
                name, number, _column_at(header, cell), "unbalanced quote: the cell never ends"
            )


def _layout(text: str, name: str) -> _Layout:
    """Header, width and line numbers of the records, without parsing the cells.

    football-data files never quote, so a physical line is a record and counting commas gives
    the widest row (rows longer than the header happen: trailing commas).  Quoted text may hide
    commas (never newlines: :func:`_check_text` ran), so then the csv module splits the lines.
    """
    if '"' in text:
        records: list[list[str]] = []
        for number, line in enumerate(text.split("\n"), start=1):
            try:
                records.append(next(csv.reader([line]), []))
            except csv.Error as exc:
                raise CsvFormatError(name, number, None, f"cannot split into cells: {exc}") from exc
        if records and records[-1] == []:
            records.pop()
        counts = [len(r) - 1 for r in records]
        header = records[0] if records else []
        blank = [not "".join(r).strip() for r in records[1:]]
    else:
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        counts = [line.count(",") for line in lines]
        header = lines[0].split(",") if lines else []
        blank = [not line.strip(", \t") for line in lines[1:]]
    widest = max(counts, default=-1) + 1
    if widest > MAX_CELLS:
        wide = next(i for i, count in enumerate(counts, start=1) if count + 1 > MAX_CELLS)
        raise CsvFormatError(
            name,
            wide,
            None,
            f"{counts[wide - 1] + 1} cells on one line; a football-data file has at most"
            f" {MAX_CELLS} columns",
        )
    return _Layout(header, widest, list(range(2, len(counts) + 1)), blank)


class _Parser:
    """One parse; holds the cells so that the validation steps can share them."""

    def __init__(self, text: str, name: str, encoding: str, *, strict: bool = False) -> None:
        self.name = name
        self.encoding = encoding
        self.strict = strict
        # Universal newlines, as the C tokenizer of pandas sees them, so line numbers agree.
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.problems: list[_Problem] = []
        self.used: set[str] = set()  # header names the parse read
        # Kept rows whose prices are dropped: row -> (position, column, value, reason).
        self.bad_prices: dict[int, tuple[int, str, str, str]] = {}

    # -- reading ---------------------------------------------------------------------------

    def _read(self) -> None:
        """Classify the header, then let pandas' C parser split the cells and parse numbers."""
        _check_text(self.text, self.name)
        layout = _layout(self.text, self.name)
        if not any(h.strip() for h in layout.header):
            raise CsvFormatError(self.name, 1, None, "no header row")
        header = [_COLUMN_ALIASES.get(h.strip(), h.strip()) for h in layout.header]
        header += [""] * (layout.width - len(header))
        self.header = header
        self.position: dict[str, int] = {}
        self.ignored: list[str] = []
        self.betting: list[str] = []
        text_positions: list[int] = []  # read columns and unnamed ones (which must be blank)
        for pos, name in enumerate(header):
            if not name:
                text_positions.append(pos)
            elif name in self.position:
                if name in _READ_COLUMNS or name not in _NON_BETTING_COLUMNS:
                    raise CsvFormatError(self.name, 1, name, "column appears twice in the header")
                self.ignored.append(name)
            else:
                self.position[name] = pos
                if name in _READ_COLUMNS:
                    text_positions.append(pos)
                elif name not in _NON_BETTING_COLUMNS:
                    self.betting.append(name)
        self.rows_read = len(layout.blank)
        blank = np.asarray(layout.blank, dtype=bool)
        self.rows_skipped_blank = int(blank.sum())
        self.lines = np.asarray(layout.starts, dtype=np.int64)[~blank]
        betting_positions = [self.position[b] for b in self.betting]
        try:
            frame = pd.read_csv(
                io.StringIO(self.text),
                header=None,
                skiprows=1,
                names=list(range(layout.width)),
                usecols=sorted(text_positions + betting_positions),  # statistics are not read
                index_col=False,
                dtype=dict.fromkeys(text_positions, "str"),
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
                skipinitialspace=True,
                engine="c",
            )
        except (ValueError, OverflowError, csv.Error) as exc:  # ParserError is a ValueError
            found = re.search(r"(?:line|row) (\d+)", str(exc))
            line = int(found.group(1)) + 1 if found else 1
            raise CsvFormatError(self.name, line, None, f"cannot split into cells: {exc}") from exc
        if len(frame) != len(blank):  # our line bookkeeping must match the tokenizer's
            raise CsvFormatError(self.name, 1, None, "cannot split the file into rows")
        self.cells = frame.loc[~blank].reset_index(drop=True) if blank.any() else frame
        self.n = len(self.cells)
        self.unnamed = [pos for pos, name in enumerate(header) if not name]

    # -- helpers ---------------------------------------------------------------------------

    def _problem(self, row: int, pos: int, column: str, message: str) -> None:
        self.problems.append(_Problem(row, pos, column, message))

    def _strings_at(self, pos: int) -> npt.NDArray[np.str_]:
        return self.cells[pos].fillna("").str.strip().to_numpy(dtype=str, na_value="")

    def _strings(self, name: str) -> npt.NDArray[np.str_]:
        self.used.add(name)
        return self._strings_at(self.position[name])

    def _series(self, name: str) -> pd.Series:
        """A text column as a pandas string series (vectorised regex via pyarrow)."""
        self.used.add(name)
        return self.cells[self.position[name]].fillna("").str.strip()

    def _pick(self, spellings: Sequence[str]) -> str:
        for spelling in spellings:
            if spelling in self.position:
                return spelling
        raise CsvFormatError(self.name, 1, spellings[0], "missing required column")

    def _raise_first_problem(self) -> None:
        if self.problems:
            first = min(self.problems, key=lambda p: (p.row, p.position))
            raise CsvFormatError(self.name, int(self.lines[first.row]), first.column, first.message)

    # -- parsing ---------------------------------------------------------------------------

    def parse(self) -> ImportedFile:
        self._read()
        layout: Literal["main", "extra"]
        extra_markers = {"Country", "Season"} & self.position.keys()
        if (
            "Div" not in self.position
            and extra_markers
            and {"Home", "Away"} <= self.position.keys()
        ):
            layout = "extra"
        else:
            layout = "main"
            self._pick(("Div",))
        self._pick(("Date",))
        home_col = self._pick(_HOME_TEAM)
        away_col = self._pick(_AWAY_TEAM)
        fthg_col = self._pick(_FTHG)
        ftag_col = self._pick(_FTAG)

        league = self._league(layout)
        kickoff = self._kickoff()
        home = self._team(home_col)
        away = self._team(away_col)
        fthg, ftag, played = self._full_time_goals(fthg_col, ftag_col)
        hthg = self._optional_goals("HTHG")
        htag = self._optional_goals("HTAG")
        season_column = self._season_column() if "Season" in self.position else None
        self._check_consistency(home, away, away_col, fthg, ftag, hthg, htag, played, kickoff)
        values = self._numbers()
        self._check_unnamed()
        self._raise_first_problem()
        self._check_duplicates(league, kickoff, home, away)

        dropped = self._drop_bad_prices(values)
        vindex = {name: i for i, name in enumerate(self.betting)}
        odds: dict[str, npt.NDArray[np.float64]] = {}
        mapped: list[str] = []
        for column in ODDS_COLUMNS:
            source_col = next((c for c in _CANDIDATES.get(column, ()) if c in vindex), None)
            if source_col is None:
                odds[column] = np.full(self.n, np.nan)
            else:
                convert = _as_line if column in _LINE_SPELLINGS else _as_price
                odds[column] = convert(values[:, vindex[source_col]])
                mapped.append(source_col)
        derived = _derive_aggregates(odds, values, vindex)
        extra_names = [c for c in self.betting if c not in mapped]
        extra = values[:, [vindex[c] for c in extra_names]]
        seasons = season_column.tolist() if season_column is not None else _seasons(kickoff, layout)
        # Every row, goals as floats (NaN for fixtures); split into played and fixtures below.
        # The prices go in as one float block: a frame of ~70 separate arrays costs more in
        # pandas' per-column bookkeeping than the whole file's parsing.
        prices = np.empty((self.n, len(ODDS_COLUMNS)), dtype=np.float64)
        for j, column in enumerate(ODDS_COLUMNS):
            prices[:, j] = odds[column]
        rows = pd.concat(
            [
                pd.DataFrame(
                    {
                        "league": pd.array(league, dtype="str"),
                        "season": pd.array(seasons, dtype="str"),
                        "kickoff": kickoff,
                        "home_team": pd.array(home, dtype="str"),
                        "away_team": pd.array(away, dtype="str"),
                        "fthg": np.where(played, fthg, np.nan),
                        "ftag": np.where(played, ftag, np.nan),
                        "hthg": hthg,
                        "htag": htag,
                    }
                ),
                pd.DataFrame(prices, columns=list(ODDS_COLUMNS)),
                pd.DataFrame(
                    {"extra_odds": pd.Series(_row_dicts(extra_names, extra), dtype=object)}
                ),
            ],
            axis=1,
        )
        violation = first_violation(rows)
        if violation is not None:
            row, column, problem = violation
            raise CsvFormatError(
                self.name, int(self.lines[row]), self._file_column(column), problem
            )
        if played.all():  # nearly every file: no copy of the rows
            frame, fixtures = rows, rows.iloc[:0].copy()
        else:
            frame = rows.loc[played].reset_index(drop=True)
            fixtures = rows.loc[~played].reset_index(drop=True)
        frame["fthg"] = frame["fthg"].astype(np.int64)
        frame["ftag"] = frame["ftag"].astype(np.int64)
        unmapped = [c for c in self.position if c not in self.used and c not in vindex]
        return ImportedFile(
            frame=frame,
            path=self.name,
            layout=layout,
            encoding=self.encoding,
            rows_read=self.rows_read,
            rows_skipped_blank=self.rows_skipped_blank,
            rows_skipped_unplayed=int((~played).sum()),
            columns_mapped=tuple(mapped),
            columns_extra_odds=tuple(extra_names),
            columns_unmapped=(*unmapped, *self.ignored),
            derived_sources=derived,
            dropped_prices=dropped,
            fixtures=fixtures,
        )

    def _file_column(self, frame_column: str) -> str:
        """The file's header name of the column that fed ``frame_column``."""
        spellings = {
            "league": ("Div", "Country"),
            "season": ("Season", "Date"),
            "home_team": _HOME_TEAM,
            "away_team": _AWAY_TEAM,
            "fthg": _FTHG,
            "ftag": _FTAG,
            "hthg": ("HTHG",),
            "htag": ("HTAG",),
        }.get(frame_column, (frame_column,))
        return next((c for c in spellings if c in self.position), spellings[0])

    def _check_unnamed(self) -> None:
        """A value in a column with no name is an error, except on a row whose prices are
        dropped anyway: a stray text cell shifts the rest of its row one column right."""
        for pos in self.unnamed:
            raw = self._strings_at(pos) != ""
            if not self.strict and self.bad_prices:
                raw[list(self.bad_prices)] = False
            row = _first(raw)
            if row is not None:
                self._problem(row, pos, f"#{pos + 1} (no header)", "value in a column with no name")

    def _drop_bad_prices(self, values: npt.NDArray[np.float64]) -> tuple[DroppedPrices, ...]:
        """Blank every betting value of the rows with a bad price cell; what was dropped."""
        if not self.bad_prices:
            return ()
        rows = sorted(self.bad_prices)
        values[rows, :] = np.nan
        return tuple(
            DroppedPrices(int(self.lines[row]), column, value, reason)
            for row in rows
            for _, column, value, reason in [self.bad_prices[row]]
        )

    def _team(self, column: str) -> npt.NDArray[np.str_]:
        values = self._strings(column)
        row = _first(values == "")
        if row is not None:
            self._problem(row, self.position[column], column, "blank team name")
        return values

    def _league(self, layout: str) -> npt.NDArray[np.str_]:
        if layout == "extra" and "Country" not in self.position:
            return self._league_from_file_name()
        column = "Div" if layout == "main" else "Country"
        # Collapse stray inner spaces too: "Korea  Republic" and "Korea Republic" are one name.
        values = self._series(column).str.replace(r"\s+", " ", regex=True).to_numpy(dtype=str)
        row = _first(values == "")
        if row is not None:
            self._problem(row, self.position[column], column, "blank value")
        if layout == "main":
            return values
        codes = np.array([EXTRA_LEAGUE_CODES.get(c, "") for c in values.tolist()], dtype=str)
        row = _first((codes == "") & (values != ""))
        if row is not None:
            self._problem(
                row,
                self.position[column],
                column,
                f"{str(values[row])!r} is not a country of football-data's extra leagues",
            )
        return codes.reshape(len(values))

    def _league_from_file_name(self) -> npt.NDArray[np.str_]:
        """Extra-league files without a ``Country`` column: the site names them by league code
        (``new/BRA.csv``), and a cached copy keeps that name, so the code is the file's stem."""
        stem = re.split(r"[^A-Za-z]", Path(self.name).stem, maxsplit=1)[0].upper()
        if stem not in EXTRA_LEAGUE_CODES.values():
            codes = ", ".join(sorted(EXTRA_LEAGUE_CODES.values()))
            raise CsvFormatError(
                self.name,
                1,
                "Country",
                "missing required column: without it the league comes from the file name, and"
                f" {Path(self.name).name!r} does not start with an extra-league code ({codes})",
            )
        if "League" in self.position:
            self.used.add("League")
        return np.full(self.n, stem, dtype=f"<U{len(stem)}")

    def _season_column(self) -> npt.NDArray[np.str_]:
        """The extra layout's ``Season``: "2012" stays (calendar-year league), "2012/2013" and
        "2012-13" become "2012-13"; anything else is a problem."""
        raw = self._series("Season")
        parts = raw.str.extract(_SEASON_RE)
        start = pd.to_numeric(parts[0]).to_numpy(dtype=float, na_value=np.nan)
        end = parts[1].fillna("").to_numpy(dtype=str)
        end_year = pd.to_numeric(parts[1]).to_numpy(dtype=float, na_value=np.nan)
        split = end != ""
        with np.errstate(invalid="ignore"):
            next_year = np.where(np.char.str_len(end) == 2, (start + 1) % 100, start + 1)
        good = ~np.isnan(start) & (~split | (end_year == next_year))
        row = _first(~good)
        if row is not None:
            self._problem(
                row,
                self.position["Season"],
                "Season",
                f"{str(raw[row])!r} is not a season (2012, or 2012/2013 for a split one)",
            )
        first = np.where(np.isnan(start), 0, start).astype(np.int64)
        labels = np.where(
            split,
            np.char.add(
                np.char.add(first.astype(str), "-"),
                np.char.zfill(((first + 1) % 100).astype(str), 2),
            ),
            first.astype(str),
        )
        return np.asarray(labels, dtype=str)

    def _kickoff(self) -> npt.NDArray[np.datetime64]:
        """Date (+ optional Time) -> datetime64[ns]; bad cells are recorded as problems."""
        raw = self._series("Date")
        fast = _slash_dates(raw.to_numpy(dtype=str))
        if fast is not None:
            year, month, day = fast
            is_iso = np.zeros(len(raw), dtype=bool)
        else:
            year, month, day, is_iso = _any_dates(raw)
        kickoff = _assemble_dates(year, month, day)
        bad = np.isnat(kickoff)
        row = _first(bad)
        if row is not None:
            # Day-first parts with a "month" above 12 and no day above 12 anywhere: the file is
            # month first, where 01/02 cannot be told from 02/01.  Say so rather than guess.
            day_first = ~is_iso & ~np.isnan(day)
            with np.errstate(invalid="ignore"):
                month_first = bool(
                    (day_first & (month > 12) & (day <= 12)).any()
                    and not (day[day_first] > 12).any()
                )
            if month_first:
                first = _first(day_first & (month > 12))
                assert first is not None
                row = first
                message = (
                    f"{str(raw[row])!r}: the dates of this file are month first (mm/dd/yyyy);"
                    " only day-first (dd/mm/yyyy) and ISO (yyyy-mm-dd) files can be read"
                    " unambiguously"
                )
            else:
                message = f"{str(raw[row])!r} is not a dd/mm/yy(yy) or yyyy-mm-dd date"
            self._problem(row, self.position["Date"], "Date", message)
        if "Time" not in self.position:
            return kickoff
        raw_time = self._series("Time")
        fast_time = _colon_times(raw_time.to_numpy(dtype=str))
        if fast_time is not None:
            hour, minute = fast_time
        else:
            parts = raw_time.str.extract(_TIME_RE)
            hour = pd.to_numeric(parts[0]).to_numpy(dtype=float, na_value=np.nan)
            minute = pd.to_numeric(parts[1]).to_numpy(dtype=float, na_value=np.nan)
        blank = (raw_time == "").to_numpy(dtype=bool)
        with np.errstate(invalid="ignore"):
            good = (hour < 24) & (minute < 60)  # NaN compares False
        row = _first(~blank & ~good)
        if row is not None:
            self._problem(
                row, self.position["Time"], "Time", f"{str(raw_time[row])!r} is not an HH:MM time"
            )
        minutes = np.where(good, hour * 60 + minute, 0).astype(np.int64)
        return kickoff + minutes.astype("timedelta64[m]").astype("timedelta64[ns]")

    def _check_consistency(
        self,
        home: npt.NDArray[np.str_],
        away: npt.NDArray[np.str_],
        away_col: str,
        fthg: npt.NDArray[np.int64],
        ftag: npt.NDArray[np.int64],
        hthg: npt.NDArray[np.float64],
        htag: npt.NDArray[np.float64],
        played: npt.NDArray[np.bool_],
        kickoff: npt.NDArray[np.datetime64],
    ) -> None:
        """What a kept match must satisfy beyond parsing; each failure is a problem."""
        row = _first((home == away) & (home != ""))
        if row is not None:
            self._problem(
                row, self.position[away_col], away_col, f"{str(home[row])!r} plays itself"
            )
        for column, half, full in (("HTHG", hthg, fthg), ("HTAG", htag, ftag)):
            with np.errstate(invalid="ignore"):
                row = _first(played & (half > full))
            if row is not None:
                self._problem(
                    row,
                    self.position[column],
                    column,
                    f"half-time goals {half[row]:.0f} above the full-time {full[row]}",
                )
        result_col = next((c for c in ("FTR", "Res") if c in self.position), None)
        if result_col is not None:
            letters = self._strings(result_col)
            expected = np.where(fthg > ftag, "H", np.where(fthg < ftag, "A", "D"))
            wrong = (letters != "") & (~played | (letters != expected))
            row = _first(wrong)
            if row is not None:
                score = f"the score {fthg[row]}-{ftag[row]}" if played[row] else "no score"
                self._problem(
                    row,
                    self.position[result_col],
                    result_col,
                    f"result {str(letters[row])!r} contradicts {score}",
                )
        tomorrow = np.datetime64(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2), "ns")
        row = _first(played & (kickoff > tomorrow))
        if row is not None:
            self._problem(
                row,
                self.position["Date"],
                "Date",
                f"a result dated {str(kickoff[row])[:10]}, in the future",
            )

    def _whole_numbers(self, column: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Goals as floats (NaN where blank) and the blank mask; anything else is a problem."""
        raw = self._strings(column)
        blank = raw == ""
        good = np.strings.isdecimal(raw)  # digits only: no sign, no decimals
        huge = good & (np.strings.str_len(raw) > 9)  # beyond any int column (and int64 parsing)
        good &= ~huge
        row = _first(~blank & ~good)
        if row is not None:
            problem = "is too large a goal count" if huge[row] else "is not a whole number"
            self._problem(row, self.position[column], column, f"{str(raw[row])[:40]!r} {problem}")
        values = np.full(raw.shape, np.nan)
        values[good] = raw[good].astype(np.int64)
        return values, blank

    def _full_time_goals(
        self, home_col: str, away_col: str
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Full-time goals and the played mask: both blank = not played yet; one blank = bad."""
        home, home_blank = self._whole_numbers(home_col)
        away, away_blank = self._whole_numbers(away_col)
        row = _first(home_blank != away_blank)
        if row is not None:
            column = home_col if home_blank[row] else away_col
            self._problem(row, self.position[column], column, "blank, but the other score is not")
        played = ~(home_blank & away_blank)
        home_goals = np.nan_to_num(home).astype(np.int64)
        away_goals = np.nan_to_num(away).astype(np.int64)
        return home_goals, away_goals, played

    def _optional_goals(self, column: str) -> npt.NDArray[np.float64]:
        if column not in self.position:
            return np.full(self.n, np.nan)
        return self._whole_numbers(column)[0]

    def _numbers(self) -> npt.NDArray[np.float64]:
        """All betting columns as one float matrix (NaN where blank).

        pandas already parsed clean columns to numbers; a column left as text holds a cell that
        is not a number, which ``to_numeric(errors="coerce")`` finds.  Such a cell, or a number
        beyond :data:`MAX_PRICE`, marks its row in :attr:`bad_prices` (strict: a problem).
        """
        positions = [self.position[name] for name in self.betting]
        values = np.full((self.n, len(self.betting)), np.nan)
        numeric = [
            j for j, pos in enumerate(positions) if pd.api.types.is_numeric_dtype(self.cells[pos])
        ]
        if numeric:  # one conversion for every clean column: per-column Series cost adds up
            block = self.cells[[positions[j] for j in numeric]]
            values[:, numeric] = block.to_numpy(dtype=float, na_value=np.nan)
        for j, (name, pos) in enumerate(zip(self.betting, positions, strict=True)):
            if j in numeric:
                continue
            column = self.cells[pos]
            text = column.astype(str).str.strip()
            converted = pd.to_numeric(text.where(text != "nan"), errors="coerce")
            values[:, j] = converted.to_numpy(dtype=float, na_value=np.nan)
            not_number = np.isnan(values[:, j]) & column.notna().to_numpy()
            not_number &= (text != "").to_numpy()
            for row in np.flatnonzero(not_number).tolist():
                self._bad_price(row, pos, name, str(text[row])[:60], "not a number")
        with np.errstate(invalid="ignore"):
            too_big = np.isinf(values) | (np.abs(values) > MAX_PRICE)
        for row, j in zip(*np.nonzero(too_big), strict=True):
            shown = repr(float(values[row, j]))
            reason = f"beyond {MAX_PRICE:.0f}, not a price"
            self._bad_price(int(row), positions[j], self.betting[j], shown, reason)
        return values

    def _bad_price(self, row: int, pos: int, column: str, value: str, reason: str) -> None:
        if self.strict:
            self._problem(row, pos, column, f"{value!r} is {reason}")
        elif row not in self.bad_prices or pos < self.bad_prices[row][0]:
            self.bad_prices[row] = (pos, column, value, reason)

    def _check_duplicates(
        self,
        league: npt.NDArray[np.str_],
        kickoff: npt.NDArray[np.datetime64],
        home: npt.NDArray[np.str_],
        away: npt.NDArray[np.str_],
    ) -> None:
        """The same (league, date, home, away) twice in one file is an error naming both lines."""
        day = kickoff.astype("datetime64[D]")
        keys = pd.DataFrame({"league": league, "day": day, "home": home, "away": away})
        later = _first(keys.duplicated(keep="first").to_numpy())
        if later is None:
            return
        same = (league == league[later]) & (day == day[later])
        same &= (home == home[later]) & (away == away[later])
        earlier = _first(same)
        assert earlier is not None
        raise CsvFormatError(
            self.name,
            int(self.lines[later]),
            None,
            f"duplicate match {league[later]} {day[later]} {home[later]} v {away[later]}",
            other_line=int(self.lines[earlier]),
        )


def _derive_aggregates(
    odds: dict[str, npt.NDArray[np.float64]],
    values: npt.NDArray[np.float64],
    vindex: dict[str, int],
) -> tuple[str, ...]:
    """Fill avg/max 1X2 from the individual bookmakers when the file has no such aggregate.

    Old files (before BetBrain's ``Bb*`` columns) carry only individual bookmakers; without this
    every pre-2005 match would have no ``avg``/``max`` price, the sources most filters use.
    """
    books: dict[str, list[int]] = {"H": [], "D": [], "A": []}
    for name, j in vindex.items():
        match = _BOOK_1X2_RE.match(name)
        if match:
            books[match.group(1)].append(j)
    if not any(books.values()):
        return ()
    derived: list[str] = []
    for source in ("avg", "max"):
        columns = [f"{source}_{m}" for m in ("home", "draw", "away")]
        if any(c in vindex for column in columns for c in _CANDIDATES[column]):
            continue  # the file has its own aggregate
        for column, outcome in zip(columns, "HDA", strict=True):
            prices = _as_price(values[:, books[outcome]])
            priced = ~np.isnan(prices)
            count = priced.sum(axis=1)
            if source == "avg":
                total = np.where(priced, prices, 0.0).sum(axis=1)
                aggregate = total / np.maximum(count, 1)
            else:
                aggregate = np.where(priced, prices, 0.0).max(axis=1, initial=0.0)
            odds[column] = np.where(count > 0, aggregate, np.nan)
        derived.append(source)
    return tuple(derived)


def _any_dates(
    raw: pd.Series,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]
]:
    """Year, month, day (NaN where a cell is no date) and the ISO mask, by regular expression:
    every accepted spelling, at the cost of a Python call per cell."""
    parts = raw.str.extract(_DATE_RE)
    day = pd.to_numeric(parts[0]).to_numpy(dtype=float, na_value=np.nan)
    month = pd.to_numeric(parts[2]).to_numpy(dtype=float, na_value=np.nan)
    year = pd.to_numeric(parts[3]).to_numpy(dtype=float, na_value=np.nan)
    short = (parts[3].str.len() == 2).to_numpy(dtype=bool, na_value=False)
    year = np.where(short, np.where(year < 90, 2000 + year, 1900 + year), year)
    iso = raw.str.extract(_ISO_DATE_RE)
    is_iso = iso[0].notna().to_numpy(dtype=bool)
    if is_iso.any():
        year = np.where(is_iso, pd.to_numeric(iso[0]).to_numpy(dtype=float, na_value=0), year)
        month = np.where(is_iso, pd.to_numeric(iso[1]).to_numpy(dtype=float, na_value=0), month)
        day = np.where(is_iso, pd.to_numeric(iso[2]).to_numpy(dtype=float, na_value=0), day)
    return year, month, day, is_iso


def _digit_codes(
    text: npt.NDArray[np.str_], lengths: tuple[int, ...]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """Code points of every cell (one row per cell, zero-padded) and the cells' lengths, or
    None when a cell's length is not one of ``lengths``."""
    size = np.strings.str_len(text).astype(np.int64)
    if not np.isin(size, lengths).all():
        return None
    width = max(lengths)
    if width == 0:
        return np.zeros((len(text), 0), dtype=np.int64), size
    codes = np.asarray(text, dtype=f"<U{width}").view(np.uint32).reshape(len(text), width)
    return codes.astype(np.int64), size


def _slash_dates(
    text: npt.NDArray[np.str_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Year, month, day when every cell is ``dd/mm/yyyy`` or ``dd/mm/yy`` (what nearly every
    file holds), read from the code points in a few array operations; None otherwise, and
    :func:`_any_dates` reads the file.  Same values as the regular expressions give."""
    found = _digit_codes(text, (8, 10)) if len(text) else None
    if found is None:
        return None
    codes, size = found
    digit = (codes >= ord("0")) & (codes <= ord("9"))
    long = size == 10
    ok = (codes[:, 2] == ord("/")) & (codes[:, 5] == ord("/"))
    ok &= digit[:, [0, 1, 3, 4, 6, 7]].all(axis=1) & (~long | (digit[:, 8] & digit[:, 9]))
    if not ok.all():
        return None
    d = codes - ord("0")
    day = d[:, 0] * 10 + d[:, 1]
    month = d[:, 3] * 10 + d[:, 4]
    two = d[:, 6] * 10 + d[:, 7]
    year = np.where(long, two * 100 + d[:, 8] * 10 + d[:, 9], np.where(two < 90, 2000, 1900) + two)
    return year.astype(float), month.astype(float), day.astype(float)


def _colon_times(
    text: npt.NDArray[np.str_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Hour and minute (NaN where blank) when every cell is ``HH:MM`` or blank; None otherwise
    (the regular expression reads the column then)."""
    found = _digit_codes(text, (0, 5)) if len(text) else None
    if found is None:
        return None
    codes, size = found
    blank = size == 0
    digit = (codes >= ord("0")) & (codes <= ord("9"))
    ok = (codes[:, 2] == ord(":")) & digit[:, [0, 1, 3, 4]].all(axis=1)
    if not (blank | ok).all():
        return None
    d = codes - ord("0")
    hour = np.where(blank, np.nan, d[:, 0] * 10 + d[:, 1])
    minute = np.where(blank, np.nan, d[:, 3] * 10 + d[:, 4])
    return hour, minute


def _assemble_dates(
    year: npt.NDArray[np.float64], month: npt.NDArray[np.float64], day: npt.NDArray[np.float64]
) -> npt.NDArray[np.datetime64]:
    """Calendar dates as datetime64[ns]; NaT where a part is missing or the date is impossible.

    Pure numpy (month arithmetic, then a round-trip check that rejects 31/02) because
    ``pd.to_datetime`` on a frame of parts costs more than the rest of the date handling.
    """
    valid = ~(np.isnan(year) | np.isnan(month) | np.isnan(day))
    valid &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    y = np.where(valid, year, 1970).astype(np.int64)
    m = np.where(valid, month, 1).astype(np.int64)
    d = np.where(valid, day, 1).astype(np.int64)
    first = ((y - 1970) * 12 + m - 1).astype("datetime64[M]")
    dates = first.astype("datetime64[D]") + (d - 1).astype("timedelta64[D]")
    valid &= dates.astype("datetime64[M]") == first  # day beyond the month's end rolled over
    return np.where(valid, dates, np.datetime64("NaT")).astype("datetime64[ns]")


def _as_price(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Odds below 1.0 (0 is the files' "no price"), NaN or infinite become NaN."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values) & (values >= 1.0), values, np.nan)


def _as_line(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Handicap lines are quarter goals; anything else (or a non-finite cell) means no line."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(values) & (values * 4 == np.round(values * 4)), values, np.nan)


def _seasons(kickoff: npt.NDArray[np.datetime64], layout: str) -> list[str]:
    """Season label per kick-off via :func:`.schema.season_of`.

    A main-layout file is one season, and seasons do not always end in June: 2019-20 finished
    in July 2020.  So when a main-layout file spans at most a year, every row gets the season
    of its first kick-off, otherwise a backtest of "2019-20" would miss the last rounds.  Longer
    files (concatenated seasons) and the multi-season extra-leagues files are labelled per row.
    """
    if kickoff.size == 0:
        return []
    first, last = kickoff.min(), kickoff.max()
    if layout == "main" and last - first <= np.timedelta64(366, "D"):
        start = first.astype("datetime64[M]").astype(object)  # datetime.date
        return [season_of(start.year, start.month)] * kickoff.size
    months = kickoff.astype("datetime64[M]")
    unique, inverse = np.unique(months, return_inverse=True)
    labels = [season_of(m.year, m.month) for m in unique.astype(object)]
    return [labels[i] for i in inverse.tolist()]


def _row_dicts(names: Sequence[str], values: npt.NDArray[np.float64]) -> list[dict[str, float]]:
    """Per row, ``{column: value}`` of the non-NaN cells (``x == x`` is the NaN test)."""
    complete = np.asarray(~np.isnan(values).any(axis=1), dtype=bool)
    return [
        dict(zip(names, row, strict=True))
        if full
        else {n: x for n, x in zip(names, row, strict=True) if x == x}
        for row, full in zip(values.tolist(), complete.tolist(), strict=True)
    ]
