"""How a metric reads on screen: ``hit_rate 55.51 %``, ``profit -3.20``, ``bets 220``.

Summaries, job lists and comparison tables keep raw floats (fractions for rates, units for money)
so that code and ``--json`` see exact values; everything a person reads goes through
:func:`format_value`, which picks the presentation from the metric's *name*. Names are classified
by rules, not listed one by one, so a metric added later (``half_wins``, ``clv_beat_share``,
``p_adj``) reads right without touching this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pandas as pd

Kind = Literal["count", "percent", "money", "odds", "pvalue", "number", "date", "text"]

#: Shown for a missing value (NaN, None, NaT): an analyst reads "no figure", not "NaN".
MISSING = "\u2013"  # an en dash

_COUNTS = frozenset(
    {"bets", "wins", "losses", "pushes", "half_wins", "half_losses", "clv_bets", "filters"}
)
_COUNT_PARTS = ("streak", "skipped_", "matches", "_count", "fixtures", "rows")
# Fractions stored in [0, 1] (or a small signed return per unit staked) shown times 100.
_PERCENTS = frozenset({"roi", "implied_prob", "expected_value", "clv", "clv_mean", "yield"})
_PERCENT_PARTS = ("hit_rate", "_share", "_pct", "_rate", "prob", "roi_", "p_fair")
_MONEY = frozenset({"staked", "profit", "max_drawdown", "starting_bank", "bank", "cum_profit"})
_MONEY_PARTS = ("profit", "bank", "stake", "drawdown")
_PVALUES = frozenset({"p_value", "p_adj", "p_holm", "p_bh"})


def kind_of(name: str) -> Kind:
    """The presentation of metric ``name`` (see the module docstring)."""
    key = name.lower()
    if key in _PVALUES:
        return "pvalue"
    if key in _COUNTS or key.startswith("n_") or any(part in key for part in _COUNT_PARTS):
        return "count"
    # ``_pct`` metrics are stored as percentages already; the rest are fractions.
    if key in _PERCENTS or any(part in key for part in _PERCENT_PARTS):
        return "percent"
    if key in _MONEY or any(part in key for part in _MONEY_PARTS):
        return "money"
    if key.endswith(("odds", "line")):
        return "odds"
    if key.endswith(("_bet", "_at", "date", "kickoff")):
        return "date"
    return "number"


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_value(name: str, value: Any) -> str:
    """``value`` of metric ``name`` as a person reads it; :data:`MISSING` when there is none."""
    if _missing(value):
        return MISSING
    kind = kind_of(name)
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return _format_date(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if kind == "count" and number == int(number):
        return f"{int(number):,}"
    if kind == "percent":
        scaled = number if name.lower().endswith("_pct") else number * 100.0
        return f"{scaled:.2f} %"
    if kind == "pvalue":
        return "< 0.0001" if number < 1e-4 else f"{number:.4f}"
    if kind in ("money", "odds"):
        return f"{number:,.2f}"
    return f"{number:,.3f}" if abs(number) < 1000 else f"{number:,.1f}"


def _format_date(value: dt.date | dt.datetime | pd.Timestamp) -> str:
    stamp = pd.Timestamp(value)
    if stamp.hour == stamp.minute == stamp.second == 0:
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M")


def format_summary(summary: pd.Series) -> pd.Series:
    """A summary's values as strings, index unchanged (for the text repr and the CLI)."""
    return pd.Series(
        [format_value(str(name), value) for name, value in summary.items()],
        index=summary.index,
        name=summary.name,
        dtype=object,
    )


def formatters(frame: pd.DataFrame) -> dict[str, Callable[[Any], str]]:
    """One formatter per numeric or date column of ``frame``, keyed by column name."""
    out: dict[str, Callable[[Any], str]] = {}
    for column in frame.columns:
        series = frame[column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric or pd.api.types.is_datetime64_any_dtype(series):
            out[str(column)] = _bound(str(column))
        elif series.dtype == object and len(series.dropna()):
            sample = series.dropna().iloc[0]
            if isinstance(sample, int | float | dt.date) and not isinstance(sample, bool):
                out[str(column)] = _bound(str(column))
    return out


def _bound(name: str) -> Callable[[Any], str]:
    return lambda value: format_value(name, value)


def format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose metric columns are display strings (for text tables)."""
    shown = frame.copy()
    for column, fmt in formatters(frame).items():
        shown[column] = frame[column].map(fmt).astype(object)
    return shown


def styled(frame: pd.DataFrame, extra: Mapping[str, Callable[[Any], str]] | None = None) -> Any:
    """A pandas ``Styler`` over ``frame`` that shows formatted numbers and keeps raw values.

    ``styler.data`` is the untouched frame, so copying out of the view loses no precision.
    """
    fmts: dict[str, Callable[[Any], str]] = {**formatters(frame), **(extra or {})}
    view = frame.style.format(fmts, na_rep=MISSING)  # type: ignore[arg-type]
    return view.set_uuid(_uuid_of(frame))


def _uuid_of(frame: pd.DataFrame) -> str:
    """A Styler id from the content, not a random one: a re-executed notebook whose numbers
    did not change stores the same HTML (nbval and ``git diff`` stay quiet)."""
    digest = hashlib.sha1(frame.to_csv().encode("utf-8"), usedforsecurity=False)
    return "fb" + digest.hexdigest()[:8]


class Summary(pd.Series):
    """A summary Series that *reads* formatted and *holds* raw floats.

    ``summary["roi"]`` is the stored fraction and ``to_jsonable`` sees exact values; only the
    text repr and ``_repr_html_`` (what a notebook cell or ``print`` shows) go through
    :func:`format_value`. Selections (``summary[["bets", "roi"]]``) stay a :class:`Summary`.
    """

    @property
    def _constructor(self) -> type[Summary]:
        return Summary

    @property
    def _constructor_expanddim(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def __repr__(self) -> str:
        return summary_text(self)

    def _repr_html_(self) -> str:
        return summary_html(self)


def summary_text(summary: pd.Series) -> str:
    """``name  value`` lines, names left-aligned and values right-aligned (CLI and repr)."""
    shown = format_summary(summary)
    if shown.empty:
        return "(no metrics)"
    names = [str(name) for name in shown.index]
    left = max(len(name) for name in names)
    right = max(len(value) for value in shown)
    return "\n".join(
        f"{name:<{left}}  {value:>{right}}" for name, value in zip(names, shown, strict=True)
    )


def summary_html(summary: pd.Series) -> str:
    """A two-column HTML table of a summary, numbers formatted and right-aligned."""
    shown = format_summary(summary).to_frame(str(summary.name or "value"))
    right = {"text-align": "right"}
    view = shown.style.set_properties(**right).set_uuid(_uuid_of(shown))  # type: ignore[arg-type]
    return str(view.to_html())


class Table(pd.DataFrame):
    """A DataFrame (job list, comparison) that shows formatted numbers and keeps raw values.

    Columns and cells read back exactly as stored; the text repr uses :func:`format_frame`,
    the HTML repr :func:`styled`.
    """

    @property
    def _constructor(self) -> type[Table]:
        return Table

    def __repr__(self) -> str:
        if self.empty:
            return pd.DataFrame(self).__repr__()
        return str(format_frame(pd.DataFrame(self)).to_string())

    def _repr_html_(self) -> str:
        if self.empty:
            return str(pd.DataFrame(self).to_html())
        return str(styled(pd.DataFrame(self)).to_html())
