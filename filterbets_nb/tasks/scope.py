"""The scope a job or research run is stored with, as the loaders take it.

A scope is stored as ``{"leagues": [...], "seasons": [...]}`` where an empty list means every
league (season); the loaders take ``None`` for that. Backtest links, research chunks and the
research client all read scopes through :func:`scope_args`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["scope_args"]


def scope_args(scope: Mapping[str, Any]) -> tuple[list[str] | None, list[str] | None]:
    """``(leagues, seasons)`` of a stored scope, ``None`` where it covers everything."""
    return list(scope.get("leagues") or []) or None, list(scope.get("seasons") or []) or None
