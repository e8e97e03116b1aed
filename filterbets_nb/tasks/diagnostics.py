"""Tiny tasks for health checks and benchmarks: they touch no database."""

from __future__ import annotations

from typing import Any

from filterbets_nb.tasks.celery_app import celery_app


@celery_app.task(name="filterbets_nb.tasks.diagnostics.echo", bind=True)
def echo(self: Any, payload: Any = None) -> dict[str, Any]:
    """Return ``payload`` unchanged inside a status dict (an empty chain link)."""
    return {"status": "success", "payload": payload}
