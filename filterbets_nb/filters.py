"""Betting filters as plain data: a list of rules, a market, a price source and a staking plan.

A filter is stored (database, JSON, CLI) as a dict and used in notebooks through a small DSL; both
build the same frozen :class:`Filter`, which validates itself on construction, so an invalid filter
never reaches the engine.

Stored form (``Filter.to_dict()``; ``Filter.from_dict`` accepts it and fills defaults)::

    {
        "rules": [
            {"field": "home_odds", "op": "between", "value": [1.5, 2.2]},
            {"field": "home_form_pts_5", "op": ">=", "value": 10},
            {"field": "league", "op": "in", "value": ["E0", "E1"]},
        ],
        "market": "home",        # one of MARKETS
        "price": "avg",          # one of schema.PRICE_SOURCES
        "stake": 1.0,            # flat: units per bet; kelly: the unit bankroll
        "staking": "flat",       # or "kelly", which adds the two keys below
        # "kelly_fraction": 0.25,   # in (0, 1]
        # "prob_field": "model_p",  # frame column holding the bettor's win probability
        # "fair_method": "shin",    # margin removal for p_fair_close (one of prices.METHODS);
        #                           # stored only when not the default "multiplicative"
    }

Notebook DSL (``F`` is the field namespace; tab completion lists :data:`FIELDS`)::

    from filterbets_nb.filters import F, Filter
    cond = F.home_odds.between(1.5, 2.2) & (F.home_form_pts_5 >= 10) & F.league.isin(["E0"])
    flt = cond.bet("home", price="avg", stake=1.0)            # a Filter
    flt = Filter.where(F.league == "E0", F.draw_odds > 3.2, market="draw")   # same thing
    flt.describe()   # 'home @ avg | home_odds between 1.5 and 2.2 & home_form_pts_5 >= 10 & ...'

Python's ``and``/chained comparisons (``1.5 < F.home_odds < 2``) cannot be overloaded; they raise
``TypeError`` instead of silently dropping a rule: use ``&`` and ``.between()``.

Rules (all must hold; a filter without rules selects every match):

* ops: ``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=``, ``in`` (non-empty list), ``between``
  (``[lo, hi]``, inclusive at both ends, ``lo <= hi``); at most :data:`MAX_RULES` rules.
* fields (:data:`FIELDS`): ``league`` (str; =, !=, in), ``season`` (``"2019-20"``; any op, compared
  as text, which is chronological), ``date`` (``"YYYY-MM-DD"``, compared with the kick-off *date*),
  ``{market}_odds`` (the filter's ``price`` source for that market, e.g. price ``avg`` +
  ``home_odds`` reads ``avg_home``; ``ah_home_odds``/``ah_away_odds`` the Asian handicap prices),
  ``ah_line`` (the home side's Asian handicap line the filter's price source quotes at: ``AHh``,
  or the closing line ``AHCh`` for a ``*_close`` source; the away side's line is its negative),
  every raw odds and line column of :data:`schema.ODDS_COLUMNS` by its own name (e.g.
  ``pinnacle_close_ah_home``, ``ah_home_line_close``), and the pre-match team features of
  :mod:`filterbets_nb.features`.
* missing values: a rule on a NaN (or missing-string) cell never matches, ``!=`` included, so
  "odds != 2.0" does not select matches without odds.
* numeric ``=``/``in`` compare floats exactly (odds in the data have two decimals, so
  ``= 2.1`` works).

Markets: each of :data:`MARKETS` is priced with its own odds column of the price source (an
``under25`` bet reads ``{price}_under25``). ``ah_home``/``ah_away`` bet the Asian handicap at the
source's line (see ``ah_line``) and settle with pushes and quarter lines
(:func:`filterbets_nb.engine.settle_handicap`). Double chance is not offered: the data has no odds
column for it and the package never invents prices.

Fair closing probability: every bet carries ``p_fair_close``, the margin-free closing probability
of its selection (:func:`filterbets_nb.engine.fair_close`); ``fair_method`` names the
margin-removal method of :mod:`filterbets_nb.prices` used for it.

Staking:

* ``flat``: every bet stakes ``stake`` units.
* ``kelly``: stake = ``stake * kelly_fraction * f*`` with ``f* = max(0, (p*o - 1) / (o - 1))``,
  ``o`` the bet's odds and ``p`` the value of the frame column ``prob_field`` (e.g. a model's
  estimate).
  ``stake`` is a fixed unit bankroll: there is no compounding, so results do not depend on the
  order of bets and stay comparable across filters. A zero stake (no edge, or ``p`` NaN) is not a
  bet; the engine counts it as ``skipped_no_edge``. ``p`` outside [0, 1] is an error.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import re
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from filterbets_nb import prices, schema
from filterbets_nb.errors import UserError
from filterbets_nb.features import FEATURE_DESCRIPTIONS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FIELDS",
    "MARKETS",
    "MAX_IN_VALUES",
    "MAX_LABEL_CHARS",
    "MAX_NAME_CHARS",
    "MAX_RULES",
    "MAX_TEXT_CHARS",
    "OPS",
    "STAKING_PLANS",
    "Condition",
    "F",
    "FieldInfo",
    "Filter",
    "FilterError",
    "Rule",
    "as_filter",
    "job_label",
]

MAX_RULES: Final[int] = 50
MAX_IN_VALUES: Final[int] = 1000
#: Longest text value of a rule (a league code): the ``leagues.code`` column is varchar(32).
MAX_TEXT_CHARS: Final[int] = 32
#: Longest ``prob_field`` (a column name of the matches frame).
MAX_NAME_CHARS: Final[int] = 64
#: Longest job label: the ``backtest_jobs.label`` column is varchar(200).
MAX_LABEL_CHARS: Final[int] = 200
OPS: Final[tuple[str, ...]] = ("=", "!=", ">", "<", ">=", "<=", "in", "between")
MARKETS: Final[tuple[str, ...]] = schema.ODDS_MARKETS
STAKING_PLANS: Final[tuple[str, ...]] = ("flat", "kelly")
DEFAULT_KELLY_FRACTION: Final[float] = 0.25
DEFAULT_FAIR_METHOD: Final[str] = "multiplicative"

_ORDER_OPS: Final[frozenset[str]] = frozenset({">", "<", ">=", "<="})
_SEASON_RE: Final[re.Pattern[str]] = re.compile(r"\d{4}-\d{2}")
_DATE_RE: Final[re.Pattern[str]] = re.compile(r"\d{4}-\d{2}-\d{2}")

Kind: TypeAlias = Literal["str", "season", "date", "number"]
Scalar: TypeAlias = str | int | float
Value: TypeAlias = Scalar | tuple[Scalar, ...]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


class FilterError(UserError, ValueError):
    """An invalid filter, or a filter that cannot be evaluated on a given frame.

    The message names the rule (``rule 2 (field 'home_odds')``) and the reason, so a notebook user
    or API client can fix the exact entry.
    """


def did_you_mean(name: object, choices: Iterable[str], listing: str) -> str:
    """`` did you mean 'home_odds'?`` for the closest of ``choices`` plus where to see them all.

    ``listing`` names the full list (``fb.fields() or `filterbets-nb fields```, or the tuple
    itself when it is short).
    """
    close = difflib.get_close_matches(str(name), list(choices), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"{hint}({listing})"


_FIELDS_LISTING: Final[str] = "every field: fb.fields() or `filterbets-nb fields`"


class UnknownFieldError(FilterError, AttributeError):
    """``F.<name>`` with a name outside :data:`FIELDS` (also an AttributeError for ``getattr``)."""


_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 60
_SHOW.maxlist = _SHOW.maxtuple = _SHOW.maxdict = _SHOW.maxset = 6
_SHOW.maxlevel = 3


def _show(value: object) -> str:
    """``repr(value)`` cut to a few dozen characters: error messages quote what is wrong without
    copying a megabyte string (or a list of a million items) into logs and the job's error."""
    text = _SHOW.repr(value)  # bounded per item; nesting can still multiply, so cut the whole
    return text if len(text) <= 100 else f"{text[:97]}..."


def _check_text(value: str, where: str, limit: int) -> str:
    """``value`` if it fits ``limit`` characters and holds no NUL (which PostgreSQL refuses)."""
    if len(value) > limit:
        raise FilterError(f"{where}: longer than {limit} characters ({len(value)})")
    if "\x00" in value:
        raise FilterError(f"{where}: contains a NUL character")
    return value


def job_label(flt: Filter, label: str = "") -> str:
    """The label a job is stored with: ``label`` if given (refused when over
    :data:`MAX_LABEL_CHARS`, so what the user named is never silently changed), else the filter's
    description, cut deterministically to fit (a 50-rule filter describes itself at length)."""
    if label:
        if not isinstance(label, str):
            raise FilterError(f"label: expected a string, got {_show(label)}")
        return _check_text(label, "label", MAX_LABEL_CHARS)
    text = flt.describe()
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 3] + "..."


def as_filter(flt: Filter | Mapping[str, Any], what: str = "a backtest") -> Filter:
    """``flt`` as a :class:`Filter`: every verb takes a Filter or its dict (JSON) form, and
    this one function turns either into a checked Filter, with one message for anything else.
    ``what`` names the verb in that message."""
    if isinstance(flt, Filter):
        return flt
    if not isinstance(flt, Mapping):
        raise TypeError(
            f"{what} needs a Filter or a filter dict, not {type(flt).__name__} "
            "(build one with fb.F, e.g. fb.F.home_odds.between(1.5, 2.2).bet('home'))"
        )
    return Filter.from_dict(dict(flt))


@dataclass(frozen=True)
class FieldInfo:
    """What a filter field is: its value kind, what it means, and how it maps to a column.

    ``column`` is the frame column read, or ``None`` when it depends on the filter's price
    (``{market}_odds``) or is derived (``date`` reads ``kickoff``).
    """

    kind: Kind
    description: str
    column: str | None


def _build_fields() -> dict[str, FieldInfo]:
    fields: dict[str, FieldInfo] = {
        "league": FieldInfo("str", "league code, e.g. 'E0'", "league"),
        "season": FieldInfo("season", "season label 'YYYY-YY', e.g. '2019-20'", "season"),
        "date": FieldInfo("date", "kick-off date 'YYYY-MM-DD'", None),
    }
    for market in schema.ODDS_MARKETS:
        fields[f"{market}_odds"] = FieldInfo(
            "number", f"{market} odds of the filter's price source", None
        )
    fields["ah_line"] = FieldInfo(
        "number", "home Asian handicap line the filter's price source quotes at", None
    )
    for column in schema.PRICE_COLUMNS:
        fields[column] = FieldInfo("number", f"raw odds column {column}", column)
    for column in schema.LINE_COLUMNS:
        fields[column] = FieldInfo("number", f"raw Asian handicap line column {column}", column)
    for column, text in FEATURE_DESCRIPTIONS.items():
        fields[column] = FieldInfo("number", text, column)
    return fields


#: The closed set of rule fields: name -> kind, description, column.
FIELDS: Final[dict[str, FieldInfo]] = _build_fields()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _scalar(value: object, kind: Kind, where: str) -> Scalar:
    """Check one rule value against the field kind; return it as a plain Python value."""
    if kind == "number":
        if not _is_number(value):
            raise FilterError(f"{where}: expected a number, got {_show(value)}")
        number = value.item() if isinstance(value, np.generic) else value
        assert isinstance(number, int | float)
        if not math.isfinite(number):
            raise FilterError(f"{where}: value must be finite, got {_show(value)}")
        return number
    if not isinstance(value, str):
        raise FilterError(f"{where}: expected a string, got {_show(value)}")
    if kind == "str" and not value:
        raise FilterError(f"{where}: empty string")
    _check_text(value, where, MAX_TEXT_CHARS)
    if kind == "season" and not _SEASON_RE.fullmatch(value):
        raise FilterError(f"{where}: season must look like '2019-20', got {_show(value)}")
    if kind == "date":
        try:
            if not _DATE_RE.fullmatch(value):
                raise ValueError
            dt.date.fromisoformat(value)
        except ValueError:
            raise FilterError(f"{where}: date must be 'YYYY-MM-DD', got {_show(value)}") from None
    return value


@dataclass(frozen=True)
class Rule:
    """One condition ``field op value``; validated on construction.

    ``value`` is a scalar, or a tuple for ``in`` (non-empty) and ``between`` (``(lo, hi)``);
    lists are accepted and stored as tuples so rules are hashable and comparable.
    """

    field: str
    op: str
    value: Value
    index: int | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        where = _where(self.index, self.field)
        if not isinstance(self.field, str) or self.field not in FIELDS:
            hint = did_you_mean(self.field, FIELDS, _FIELDS_LISTING)
            raise FilterError(f"{where}: unknown field; {hint}")
        if self.op not in OPS:
            hint = did_you_mean(self.op, OPS, f"ops: {', '.join(OPS)}")
            raise FilterError(f"{where}: unknown op {_show(self.op)}; {hint}")
        kind = FIELDS[self.field].kind
        if kind == "str" and self.op in _ORDER_OPS | {"between"}:
            raise FilterError(f"{where}: op {_show(self.op)} is not allowed on a text field")
        value = self.value
        if self.op in ("in", "between"):
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise FilterError(f"{where}: op {_show(self.op)} needs a list, got {_show(value)}")
            items = tuple(_scalar(v, kind, where) for v in value)
            if self.op == "in":
                if not items:
                    raise FilterError(f"{where}: 'in' needs a non-empty list")
                if len(items) > MAX_IN_VALUES:
                    raise FilterError(f"{where}: 'in' takes at most {MAX_IN_VALUES} values")
            else:
                if len(items) != 2:
                    raise FilterError(f"{where}: 'between' needs [lo, hi], got {_show(value)}")
                lo, hi = items
                if lo > hi:  # type: ignore[operator]
                    raise FilterError(f"{where}: 'between' has lo > hi ({_show(lo)} > {_show(hi)})")
            object.__setattr__(self, "value", items)
        else:
            if isinstance(value, list | tuple):
                raise FilterError(
                    f"{where}: op {_show(self.op)} needs a single value, got {_show(value)}"
                )
            object.__setattr__(self, "value", _scalar(value, kind, where))

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "op": self.op, "value": value}

    def describe(self) -> str:
        if self.op == "between":
            assert isinstance(self.value, tuple)
            lo, hi = self.value
            return f"{self.field} between {lo} and {hi}"
        if self.op == "in":
            assert isinstance(self.value, tuple)
            return f"{self.field} in [{', '.join(str(v) for v in self.value)}]"
        return f"{self.field} {self.op} {self.value}"


def _where(index: int | None, name: object) -> str:
    return f"rule {index} (field {_show(name)})" if index is not None else f"field {_show(name)}"


def _rule_from(obj: object, index: int) -> Rule:
    if isinstance(obj, Rule):
        return Rule(obj.field, obj.op, obj.value, index)
    if not isinstance(obj, Mapping):
        raise FilterError(f"rule {index}: expected a dict with field/op/value, got {_show(obj)}")
    extra = set(obj) - {"field", "op", "value"}
    missing = {"field", "op", "value"} - set(obj)
    if missing or extra:
        raise FilterError(
            f"{_where(index, obj.get('field'))}: needs exactly the keys field, op, value"
            f" (missing {sorted(missing)}, unexpected {_show(sorted(map(str, extra)))})"
        )
    return Rule(obj["field"], obj["op"], obj["value"], index)


def _flatten(rules: object) -> list[object]:
    if isinstance(rules, Condition):
        return list(rules.rules)
    if isinstance(rules, Mapping | str | bytes) or not isinstance(rules, Iterable):
        raise FilterError(f"rules must be a list of rules, got {_show(rules)}")
    out: list[object] = []
    for item in rules:
        out.extend(item.rules if isinstance(item, Condition) else [item])
    return out


@dataclass(frozen=True)
class Filter:
    """A validated betting filter (see the module docstring for the meaning of each part)."""

    rules: tuple[Rule, ...]
    market: str
    price: str = "avg"
    stake: float = 1.0
    staking: str = "flat"
    kelly_fraction: float | None = None
    prob_field: str | None = None
    fair_method: str = DEFAULT_FAIR_METHOD

    def __post_init__(self) -> None:
        items = _flatten(self.rules)
        if len(items) > MAX_RULES:
            raise FilterError(f"too many rules ({len(items)}); at most {MAX_RULES}")
        object.__setattr__(self, "rules", tuple(_rule_from(r, i) for i, r in enumerate(items)))
        if self.market not in MARKETS:
            hint = did_you_mean(self.market, MARKETS, f"markets: {', '.join(MARKETS)}")
            raise FilterError(f"unknown market {_show(self.market)}; {hint}")
        if self.price not in schema.PRICE_SOURCES:
            sources = schema.PRICE_SOURCES
            hint = did_you_mean(self.price, sources, f"price sources: {', '.join(sources)}")
            raise FilterError(f"unknown price {_show(self.price)}; {hint}")
        if self.fair_method not in prices.METHODS:
            raise FilterError(
                f"unknown fair_method {self.fair_method!r}; expected one of {prices.METHODS}"
            )
        if not _is_number(self.stake) or not math.isfinite(self.stake) or self.stake <= 0:
            raise FilterError(f"stake must be a finite number > 0, got {_show(self.stake)}")
        object.__setattr__(self, "stake", float(self.stake))
        if self.staking not in STAKING_PLANS:
            raise FilterError(
                f"unknown staking {_show(self.staking)}; expected one of {STAKING_PLANS}"
            )
        if self.staking == "flat":
            if self.kelly_fraction is not None or self.prob_field is not None:
                raise FilterError("kelly_fraction/prob_field are only allowed with staking 'kelly'")
            return
        if self.kelly_fraction is None:
            object.__setattr__(self, "kelly_fraction", DEFAULT_KELLY_FRACTION)
        frac = self.kelly_fraction
        if not _is_number(frac) or not math.isfinite(frac) or not 0 < frac <= 1:  # type: ignore[arg-type, operator]
            raise FilterError(f"kelly_fraction must be in (0, 1], got {_show(frac)}")
        object.__setattr__(self, "kelly_fraction", float(frac))  # type: ignore[arg-type]
        if not isinstance(self.prob_field, str) or not self.prob_field:
            raise FilterError(
                "staking 'kelly' needs prob_field (a probability column),"
                f" got {_show(self.prob_field)}"
            )
        _check_text(self.prob_field, "prob_field", MAX_NAME_CHARS)

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def where(
        cls,
        *conditions: Condition | Rule | Mapping[str, Any],
        market: str,
        price: str = "avg",
        stake: float = 1.0,
        staking: str = "flat",
        kelly_fraction: float | None = None,
        prob_field: str | None = None,
        fair_method: str = DEFAULT_FAIR_METHOD,
    ) -> Filter:
        """``Filter.where(F.league == "E0", F.home_odds < 2, market="home")``: all must hold."""
        return cls(
            _flatten(conditions),  # type: ignore[arg-type]
            market,
            price,
            stake,
            staking,
            kelly_fraction,
            prob_field,
            fair_method,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Filter:
        """Build from the stored form; unknown keys are an error (typos must not pass silently)."""
        if not isinstance(data, Mapping):
            raise FilterError(f"a filter must be a dict, got {type(data).__name__}")
        allowed = {
            "rules",
            "market",
            "price",
            "stake",
            "staking",
            "kelly_fraction",
            "prob_field",
            "fair_method",
        }
        extra = set(data) - allowed
        if extra:
            raise FilterError(f"unknown filter keys {_show(sorted(map(str, extra)))}")
        for key in ("rules", "market"):
            if key not in data:
                raise FilterError(f"filter needs {_show(key)}")
        rules = data["rules"]
        if not isinstance(rules, list | tuple):
            raise FilterError(f"rules must be a list, got {_show(rules)}")
        return cls(
            tuple(rules),
            data["market"],
            data.get("price", "avg"),
            data.get("stake", 1.0),
            data.get("staking", "flat"),
            data.get("kelly_fraction"),
            data.get("prob_field"),
            data.get("fair_method", DEFAULT_FAIR_METHOD),
        )

    def to_dict(self) -> dict[str, Any]:
        """The canonical, JSON-serialisable form (Kelly keys only with Kelly staking)."""
        out: dict[str, Any] = {
            "rules": [r.to_dict() for r in self.rules],
            "market": self.market,
            "price": self.price,
            "stake": self.stake,
            "staking": self.staking,
        }
        if self.staking == "kelly":
            out["kelly_fraction"] = self.kelly_fraction
            out["prob_field"] = self.prob_field
        if self.fair_method != DEFAULT_FAIR_METHOD:
            # Only when set: the default filter's stored form (and every key derived from it)
            # stays what it was before fair_method existed.
            out["fair_method"] = self.fair_method
        return out

    # ------------------------------------------------------------------------------ evaluation
    def column_of(self, field_name: str) -> str:
        """Frame column a field reads (``home_odds`` -> ``avg_home`` for price avg)."""
        info = FIELDS[field_name]
        if info.column is not None:
            return info.column
        if field_name == "date":
            return "kickoff"
        if field_name == "ah_line":
            line = schema.line_column(self.price, "ah_home")
            assert line is not None
            return line
        return schema.odds_column(self.price, field_name.removesuffix("_odds"))

    @property
    def odds_column(self) -> str:
        """The column pricing this filter's bets."""
        return schema.odds_column(self.price, self.market)

    @property
    def closing_column(self) -> str:
        """Closing-price column of the same market (the price itself if it is a closing one)."""
        source = self.price if self.price.endswith("_close") else f"{self.price}_close"
        return schema.odds_column(source, self.market)

    def compile(self, frame: pd.DataFrame) -> list[tuple[Rule, Any]]:
        """Turn each rule into an array predicate over ``frame`` (done once per backtest).

        Text fields are factorised and the rule is decided per distinct value, so the per-row work
        is one table look-up; dates become day numbers; numbers float64 arrays. Raises FilterError
        naming the rule when its column is missing or not numeric.
        """
        out: list[tuple[Rule, Any]] = []
        for i, rule in enumerate(self.rules):
            col = self.column_of(rule.field)
            if col not in frame.columns:
                hint = (
                    " (add features with features.with_features)"
                    if rule.field in FEATURE_DESCRIPTIONS
                    else ""
                )
                raise FilterError(
                    f"{_where(i, rule.field)}: column {col!r} is not in the matches frame{hint}"
                )
            out.append((rule, _prepare(rule, frame[col], i)))
        return out

    def mask(self, frame: pd.DataFrame) -> BoolArray:
        """Boolean array, True where every rule holds (NaN cells never match)."""
        return evaluate(self.compile(frame), 0, len(frame))

    # ------------------------------------------------------------------------------- display
    def describe(self) -> str:
        """One line: ``"home @ avg | home_odds between 1.5 and 2.2 & home_form_pts_5 >= 10"``."""
        rules = " & ".join(r.describe() for r in self.rules) or "all matches"
        text = f"{self.market} @ {self.price} | {rules}"
        if self.staking == "kelly":
            text += f" | kelly {self.kelly_fraction} x p={self.prob_field}, bank {self.stake}"
        elif self.stake != 1:
            text += f" | stake {self.stake}"
        if self.fair_method != DEFAULT_FAIR_METHOD:
            text += f" | fair close {self.fair_method}"
        return text

    def __str__(self) -> str:
        return self.describe()


# ---------------------------------------------------------------------------------- predicates
def _prepare(rule: Rule, column: pd.Series, index: int) -> Any:
    """Per-rule prepared data: ("lut", codes, table) or ("num", float array) or ("day", ints)."""
    import pandas as pd

    kind = FIELDS[rule.field].kind
    if kind in ("str", "season"):
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        table = np.array([_match_scalar(rule, str(u)) for u in uniques] + [False], dtype=bool)
        # NaN cells get code -1, which indexes the trailing False.
        return ("lut", codes.astype(np.intp), table)
    if kind == "date":
        try:
            days = pd.to_datetime(column).to_numpy().astype("datetime64[D]")
        except (ValueError, TypeError) as exc:
            raise FilterError(
                f"{_where(index, rule.field)}: kickoff is not a date ({exc})"
            ) from None
        values = days.view(np.int64).astype(np.float64)
        values[np.isnat(days)] = np.nan
        return ("num", values, _date_value(rule.value))
    try:
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError):
        raise FilterError(
            f"{_where(index, rule.field)}: column {_show(column.name)} is not numeric"
        ) from None
    return ("num", values, rule.value)


def _date_value(value: Value) -> Value:
    """ISO date string(s) -> day numbers since the epoch (as the kickoff column is)."""
    if isinstance(value, tuple):
        return tuple(_date_value(v) for v in value)  # type: ignore[misc]
    assert isinstance(value, str)
    return float(np.datetime64(value, "D").astype(np.int64))


def _match_scalar(rule: Rule, cell: str) -> bool:
    """Decide a text rule for one distinct value (used on uniques, not rows)."""
    v = rule.value
    match rule.op:
        case "=":
            return cell == v
        case "!=":
            return cell != v
        case "in":
            assert isinstance(v, tuple)
            return cell in v
        case "between":
            assert isinstance(v, tuple)
            return bool(v[0] <= cell <= v[1])  # type: ignore[operator]
        case ">":
            return cell > v  # type: ignore[operator]
        case "<":
            return cell < v  # type: ignore[operator]
        case ">=":
            return cell >= v  # type: ignore[operator]
        case _:
            return cell <= v  # type: ignore[operator]


def _numeric(op: str, x: npt.NDArray[np.float64], v: Any) -> BoolArray:
    """Vectorised numeric rule; comparisons with NaN are False, and ``!=`` is guarded."""
    match op:
        case "=":
            return x == v
        case "!=":
            return (x != v) & ~np.isnan(x)
        case ">":
            return x > v
        case "<":
            return x < v
        case ">=":
            return x >= v
        case "<=":
            return x <= v
        case "between":
            return (x >= v[0]) & (x <= v[1])
        case _:
            return np.isin(x, np.asarray(v, dtype=np.float64))


def evaluate(compiled: list[tuple[Rule, Any]], start: int, stop: int) -> BoolArray:
    """AND of the compiled rules over rows ``start:stop`` (the engine calls it per chunk)."""
    mask = np.ones(stop - start, dtype=bool)
    for rule, prepared in compiled:
        if prepared[0] == "lut":
            _, codes, table = prepared
            mask &= table[codes[start:stop]]
        else:
            _, values, v = prepared
            mask &= _numeric(rule.op, values[start:stop], v)
    return mask


# ------------------------------------------------------------------------------------------ DSL
@dataclass(frozen=True)
class Condition:
    """A conjunction of rules built with the DSL; combine with ``&``, finish with ``.bet()``."""

    rules: tuple[Rule, ...]

    def __and__(self, other: Condition) -> Condition:
        if not isinstance(other, Condition):
            return NotImplemented
        return Condition(self.rules + other.rules)

    def __bool__(self) -> bool:
        raise TypeError(
            "a filter condition has no truth value: combine with '&' (not 'and') and use "
            ".between(lo, hi) instead of chained comparisons like 1.5 < F.home_odds < 2"
        )

    def bet(
        self,
        market: str,
        *,
        price: str = "avg",
        stake: float = 1.0,
        staking: str = "flat",
        kelly_fraction: float | None = None,
        prob_field: str | None = None,
        fair_method: str = DEFAULT_FAIR_METHOD,
    ) -> Filter:
        """The Filter betting ``market`` on every match meeting this condition."""
        return Filter(
            self.rules, market, price, stake, staking, kelly_fraction, prob_field, fair_method
        )

    def to_list(self) -> list[dict[str, Any]]:
        """The stored ``rules`` list of this condition."""
        return [r.to_dict() for r in self.rules]

    def describe(self) -> str:
        return " & ".join(r.describe() for r in self.rules)


class FieldRef:
    """``F.<field>``: comparison operators and ``isin``/``between`` return a :class:`Condition`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if name not in FIELDS:
            hint = did_you_mean(name, FIELDS, _FIELDS_LISTING)
            raise UnknownFieldError(f"unknown filter field {_show(name)}; {hint}")
        self.name = name

    def _cond(self, op: str, value: object) -> Condition:
        return Condition((Rule(self.name, op, value),))  # type: ignore[arg-type]

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        return self._cond("=", value)

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return self._cond("!=", value)

    def __gt__(self, value: object) -> Condition:
        return self._cond(">", value)

    def __lt__(self, value: object) -> Condition:
        return self._cond("<", value)

    def __ge__(self, value: object) -> Condition:
        return self._cond(">=", value)

    def __le__(self, value: object) -> Condition:
        return self._cond("<=", value)

    __hash__ = None  # type: ignore[assignment]

    def isin(self, values: Iterable[Scalar]) -> Condition:
        return self._cond("in", list(values))

    def between(self, lo: Scalar, hi: Scalar) -> Condition:
        """Inclusive at both ends."""
        return self._cond("between", [lo, hi])

    def __repr__(self) -> str:
        return f"F.{self.name}"


class _FieldNamespace:
    """The ``F`` object: attribute (or item) access yields a :class:`FieldRef`."""

    def __getattr__(self, name: str) -> FieldRef:
        if name.startswith("_"):  # keep Python/IPython protocol look-ups working
            raise AttributeError(name)
        return FieldRef(name)

    def __getitem__(self, name: str) -> FieldRef:
        return FieldRef(name)

    def __dir__(self) -> list[str]:
        return sorted(FIELDS)

    def __repr__(self) -> str:
        return f"<filter fields: {len(FIELDS)}; see filters.FIELDS>"


F: Final[_FieldNamespace] = _FieldNamespace()
