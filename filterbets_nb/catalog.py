"""Every filter field with what it means, its type and where its values come from.

Derived, not written out: the fields are :data:`filters.FIELDS` and the football-data columns
are the importer's own spellings (the ones it reads, in order of preference), so a field or a
spelling added there shows up here (``fb.fields()``, ``filterbets-nb fields``) by itself.
"""

from __future__ import annotations

import pandas as pd

from filterbets_nb import importer, schema
from filterbets_nb.filters import FIELDS

#: Where the fields that no single odds column feeds come from.
_IDENTITY_SOURCES: dict[str, str] = {
    "league": "Div (or the file name's league code)",
    "season": "Date (the season the kick-off falls in)",
    "date": "Date, Time",
}
_DERIVED = "computed by filterbets-nb from earlier matches' FTHG/FTAG (no look-ahead)"


def _spellings(column: str) -> str:
    # The importer's own table of accepted spellings (read, not copied: one source of truth).
    spelt = importer._CANDIDATES.get(column, ())
    return " / ".join(spelt) if spelt else "not in football-data files (synthetic data only)"


def _source_of(name: str) -> str:
    if name in _IDENTITY_SOURCES:
        return _IDENTITY_SOURCES[name]
    info = FIELDS[name]
    if info.column is not None and info.column in schema.ODDS_COLUMNS:
        return _spellings(info.column)
    if info.column is None:  # priced by the filter's own price source
        market = name.removesuffix("_odds")
        if name == "ah_line":
            return "per price source, e.g. avg: " + _spellings("ah_home_line")
        return "per price source, e.g. avg: " + _spellings(schema.odds_column("avg", market))
    return _DERIVED


def field_catalog() -> pd.DataFrame:
    """One row per filter field: ``field``, ``type``, ``description``, ``football_data``
    (the file columns that carry it, ``A / B`` meaning either spelling)."""
    rows = [
        {
            "field": name,
            "type": info.kind,
            "description": info.description,
            "football_data": _source_of(name),
        }
        for name, info in FIELDS.items()
    ]
    return pd.DataFrame(rows, columns=["field", "type", "description", "football_data"])
