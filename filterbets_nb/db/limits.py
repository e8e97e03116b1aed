"""What the matches tables can hold, read from the models, checked before anything is written.

PostgreSQL refuses a team name longer than its ``varchar(128)``, a goal count beyond a 32-bit
``integer`` or a NUL byte with a raw driver error; SQLite stores all three silently, so the same
file would import on one database and not on the other.  Checking the frame against the column
types first gives every database the same answer, and an error that names the row and column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from sqlalchemy import String

from filterbets_nb.db.models import League, Team, matches_table

if TYPE_CHECKING:
    import pandas as pd

#: The largest value of an ``Integer`` column on every supported database (PostgreSQL's int4).
INT_MAX: Final = 2**31 - 1


def _length(column: object) -> int:
    kind = getattr(column, "type", None)
    assert isinstance(kind, String) and kind.length is not None
    return int(kind.length)


#: Longest text per frame column, from the column it is stored in.
TEXT_LIMITS: Final[dict[str, int]] = {
    "league": _length(League.__table__.c.code),
    "season": _length(matches_table.c.season),
    "home_team": _length(Team.__table__.c.name),
    "away_team": _length(Team.__table__.c.name),
}
#: Longest code of a backtest scope, per scope key: the column the code is matched against.
SCOPE_CODE_LIMITS: Final[dict[str, int]] = {
    "leagues": TEXT_LIMITS["league"],
    "seasons": TEXT_LIMITS["season"],
}
#: Most codes one scope key may list.
MAX_SCOPE_ITEMS: Final = 500


def check_scope_codes(what: str, codes: Sequence[str]) -> None:
    """The one bound check of scope codes (``what`` is ``leagues`` or ``seasons``): a code no
    stored match could carry fails here, naming it, before anything is read or stored."""
    if len(codes) > MAX_SCOPE_ITEMS:
        raise ValueError(f"at most {MAX_SCOPE_ITEMS} {what}, got {len(codes)}")
    longest = SCOPE_CODE_LIMITS[what]
    for code in codes:
        if not code.strip() or len(code) > longest or "\x00" in code:
            shown = code if len(code) <= 40 else code[:40] + "..."
            raise ValueError(f"{what}: {shown!r} is not a code (1 to {longest} characters, no NUL)")


#: Frame columns stored as ``Integer``.
INT_COLUMNS: Final[tuple[str, ...]] = ("fthg", "ftag", "hthg", "htag")


def first_violation(frame: pd.DataFrame) -> tuple[int, str, str] | None:
    """``(row position, column, problem)`` of the first cell the tables cannot hold, or None.

    Rows are checked in order, columns in the order above, so the report names the first
    offending row of the frame (the importer maps it back to a file line).
    """
    import numpy as np
    import pandas as pd

    found: list[tuple[int, int, str, str]] = []
    checks = [*TEXT_LIMITS.items(), *((c, 0) for c in INT_COLUMNS)]
    for order, (column, limit) in enumerate(checks):
        if column not in frame:
            continue
        values = frame[column]
        if limit:
            # A column holds a few dozen distinct names: checking those first makes the common
            # case (nothing wrong) cost one hash pass instead of two string scans per row.
            distinct = pd.unique(values).tolist()
            if not any("\x00" in t or len(t) > limit for t in map(str, distinct)):
                continue
            text = values.astype(str)
            nul = text.str.contains("\x00", regex=False).to_numpy(dtype=bool)
            long = (text.str.len() > limit).to_numpy(dtype=bool)
            problems = (
                (nul, "contains a NUL byte"),
                (long, f"is longer than the {limit} characters the database stores"),
            )
            for mask, problem in problems:
                hits = np.flatnonzero(mask)
                if hits.size:
                    row = int(hits[0])
                    shown = str(text.iloc[row])[:40].replace("\x00", "\\x00")
                    found.append((row, order, column, f"{shown!r} {problem}"))
        else:
            if pd.api.types.is_numeric_dtype(values.dtype):
                numbers = values.to_numpy(dtype=float, na_value=np.nan)
            else:
                numbers = pd.to_numeric(values, errors="coerce").to_numpy(
                    dtype=float, na_value=np.nan
                )
            with np.errstate(invalid="ignore"):
                hits = np.flatnonzero((numbers > INT_MAX) | (numbers < 0))
            if hits.size:
                row = int(hits[0])
                found.append((row, order, column, f"{numbers[row]:.0f} is outside 0..{INT_MAX}"))
    if not found:
        return None
    row, _, column, problem = min(found)
    return row, column, problem
