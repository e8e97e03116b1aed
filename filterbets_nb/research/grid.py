"""Grids of filter parameters: a ``make_filter`` callable plus named value lists -> JSON filters.

A sweep is described by data, not code, from here on: every grid point becomes its parameter
values and the filter's canonical dict, which is what travels to the workers and the database.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from filterbets_nb.filters import Filter, FilterError

__all__ = ["GridPoint", "MakeFilter", "expand_grid", "points_from_filters", "template_filter"]

MakeFilter = Callable[..., Filter | Mapping[str, Any]]


@dataclass(frozen=True)
class GridPoint:
    """One filter of a sweep: the grid values that made it and its canonical dict."""

    params: dict[str, Any]
    filter: dict[str, Any]


def _plain(name: str, value: Any) -> str | int | float | bool:
    """A grid value as a JSON scalar (numpy scalars unwrapped), or a ValueError naming it."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"grid parameter {name!r}: {value!r} is not a finite number")
    if isinstance(value, str | bool | int | float):
        return value
    raise ValueError(
        f"grid parameter {name!r}: values must be numbers, strings or booleans, got {value!r}"
    )


def _values(name: str, values: Any) -> list[str | int | float | bool]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"grid parameter {name!r}: expected a list of values, got {values!r}")
    out = [_plain(name, v) for v in values]
    if not out:
        raise ValueError(f"grid parameter {name!r} has no values")
    return out


def expand_grid(make_filter: MakeFilter, grid: Mapping[str, Sequence[Any]]) -> list[GridPoint]:
    """Every combination of ``grid`` (first name varies slowest), made into a validated filter.

    ``make_filter`` takes the grid's names as keyword arguments and returns a
    :class:`~filterbets_nb.filters.Filter` (or its dict). A filter that cannot be built fails
    here, before anything is submitted, with the grid point in the message.
    """
    if not grid:
        raise ValueError("a sweep needs at least one grid parameter, e.g. lo=[1.5, 1.6]")
    names = list(grid)
    axes = [_values(name, grid[name]) for name in names]
    points: list[GridPoint] = []
    for combo in itertools.product(*axes):
        params = dict(zip(names, combo, strict=True))
        try:
            made = make_filter(**params)
            flt = made if isinstance(made, Filter) else Filter.from_dict(made)
        except FilterError as exc:
            raise FilterError(f"grid point {params}: {exc}") from exc
        if not isinstance(flt, Filter):
            raise TypeError(f"make_filter({params}) returned {type(made).__name__}, not a Filter")
        points.append(GridPoint(params, flt.to_dict()))
    return points


def points_from_filters(filters: Sequence[Filter | Mapping[str, Any]]) -> list[GridPoint]:
    """A plain list of filters as a sweep over one parameter, ``filter`` (their position)."""
    return expand_grid(
        lambda **point: filters[int(point["filter"])],
        {"filter": list(range(len(filters)))},
    )


def template_filter(template: Mapping[str, Any], names: Sequence[str]) -> MakeFilter:
    """A ``make_filter`` from a filter dict whose values may be ``"$name"`` placeholders.

    This is how a sweep is written as data (``filterbets-nb sweep SPEC.json``): every string
    equal to ``"$" + grid name`` is replaced by that grid value. A placeholder without a grid
    parameter, or a grid parameter no placeholder uses, is an error naming it.
    """
    used: set[str] = set()

    def walk(value: Any, bind: Mapping[str, Any] | None) -> Any:
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in names:
                raise ValueError(f"filter template uses {value!r} but the grid has no {name!r}")
            used.add(name)
            return None if bind is None else bind[name]
        if isinstance(value, Mapping):
            return {k: walk(v, bind) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v, bind) for v in value]
        return value

    walk(template, None)
    unused = [n for n in names if n not in used]
    if unused:
        raise ValueError(f"grid parameters {unused} appear nowhere in the filter template")
    return lambda **params: walk(template, params)
