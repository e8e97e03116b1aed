"""Progress through task meta: a recorder on the task side, a reader on the client side.

The recorder publishes ``PROGRESS`` states with one meta shape; the reader turns any task id into
that same dict, whatever state the task is in, so a progress bar needs to know nothing else.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from celery.exceptions import SoftTimeLimitExceeded

from filterbets_nb.config import clip
from filterbets_nb.status import ENDED_STATES

STAGES = ("fetch", "evaluate", "save")
#: Share of a backtest's typical time each stage takes (counting and feature refresh; loading
#: and evaluating the matches; one summary write), so ``overall`` moves at an even pace.
STAGE_WEIGHTS: dict[str, float] = {"fetch": 0.05, "evaluate": 0.9, "save": 0.05}


def overall_of(stage: str, stage_percent: float) -> float | None:
    """The whole job's percent when ``stage`` is ``stage_percent`` done (None off the chain)."""
    if stage not in STAGE_WEIGHTS:
        return None
    before = sum(STAGE_WEIGHTS[name] for name in STAGES[: STAGES.index(stage)])
    return round(100.0 * (before + STAGE_WEIGHTS[stage] * stage_percent / 100.0), 2)


class _UpdatesState(Protocol):
    def update_state(
        self, task_id: str | None = ..., state: str | None = ..., meta: dict[str, Any] | None = ...
    ) -> None: ...


def progress_meta(
    current: int,
    total: int,
    *,
    stage: str = "",
    description: str = "",
    fraction: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The one progress dict: current/total, percent (0-100) of the stage, ``overall`` (0-100,
    the whole chain's, by :data:`STAGE_WEIGHTS`), stage, description, extras.

    ``fraction`` (0-1) is the stage's done share when ``current/total`` is not it (the evaluate
    stage counts matches twice over: loaded, then evaluated, over the same ``total``).
    """
    if fraction is not None:
        percent = round(100.0 * min(max(fraction, 0.0), 1.0), 2)
    else:
        percent = 100.0 if total <= 0 else round(100.0 * min(current, total) / total, 2)
    stage_index = STAGES.index(stage) + 1 if stage in STAGES else 0
    overall = overall_of(stage, percent)
    if overall is not None:
        extra = {"overall": overall, **extra}
    meta: dict[str, Any] = {
        "current": int(current),
        "total": int(total),
        "percent": percent,
        "stage": stage,
        "stage_index": stage_index,
        "stages": len(STAGES) if stage_index else 0,
        "description": description,
        **extra,
    }
    return meta


class ProgressRecorder:
    """Publishes ``PROGRESS`` meta for a bound task, at most every ``min_interval`` seconds
    and every ``min_step`` percent, so a million-row backtest does not flood the backend."""

    def __init__(
        self,
        task: _UpdatesState,
        *,
        stage: str,
        description: str = "",
        min_interval: float = 0.25,
        min_step: float = 1.0,
    ) -> None:
        self.task = task
        # Captured now: the task's request is thread-local, and database pages report progress
        # from a helper thread.
        request = getattr(task, "request", None)
        self.task_id: str | None = getattr(request, "id", None)
        self.stage = stage
        self.description = description
        self.min_interval = min_interval
        self.min_step = min_step
        self._last_time = float("-inf")
        self._last_percent = float("-inf")
        self.published = 0
        #: The last meta set (published or not), for a task that must record where it stopped.
        self.last: dict[str, Any] = {}

    def set(
        self,
        current: int,
        total: int,
        *,
        force: bool = False,
        fraction: float | None = None,
        **extra: Any,
    ) -> bool:
        """Record progress; returns whether it was published."""
        meta = progress_meta(
            current,
            total,
            stage=self.stage,
            description=self.description,
            fraction=fraction,
            **extra,
        )
        self.last = meta
        now = time.monotonic()
        due = (
            now - self._last_time >= self.min_interval
            and meta["percent"] - self._last_percent >= self.min_step
        )
        if not (due or force):
            return False
        self.task.update_state(task_id=self.task_id, state="PROGRESS", meta=meta)
        self._last_time, self._last_percent = now, meta["percent"]
        self.published += 1
        return True


def describe_error(exc: BaseException) -> str:
    """One wording for a failed task, whether the worker or a client reads it first."""
    if isinstance(exc, SoftTimeLimitExceeded):
        return "time limit exceeded (soft limit of the backtest task)"
    return clip(f"{type(exc).__name__}: {exc}")


def read_progress(task_id: str, app: Any = None) -> dict[str, Any]:
    """``{"task_id", "state", "ready", "progress": {...}, "result", "error"}`` for any task id."""
    if app is None:
        from filterbets_nb.tasks.celery_app import get_app

        app = get_app()
    # One read of the backend: ``AsyncResult.state`` and ``.info`` each fetch the meta again, so
    # a task finishing between the two would pair state PROGRESS with its return value.
    meta = app.backend.get_task_meta(task_id)
    state = str(meta.get("status", "PENDING"))
    info = meta.get("result")
    progress: dict[str, Any] = {}
    error: str | None = None
    value: Any = None
    if state == "PROGRESS" and isinstance(info, dict):
        progress = info
    elif state == "SUCCESS":
        value = info
        progress = progress_meta(1, 1, description="done")
        if isinstance(info, dict) and info.get("group_id"):
            start = float(info.get("group_from") or 0.0)
            state, progress, error = _follow_group(
                app, str(info["group_id"]), state, progress, start
            )
    elif state in ("FAILURE", "REVOKED"):
        error = describe_error(info) if isinstance(info, BaseException) else str(info)
    return {
        "task_id": task_id,
        "state": state,
        "ready": state in ENDED_STATES,
        "progress": progress,
        "result": value,
        "error": error,
    }


def _follow_group(
    app: Any, group_id: str, state: str, progress: dict[str, Any], start: float = 0.0
) -> tuple[str, dict[str, Any], str | None]:
    """A task that fanned its work out (it returns ``{"group_id": ...}``) is done when its
    group is: PROGRESS over the subtasks until then, FAILURE if one of them failed.

    This keeps the recorder/reader split: the fanning-out task records nothing more, and any
    reader (a notebook bar, ``fb.task_status``, the CLI) sees the same progress, whoever sent
    the task (a user or the daily beat entry). A group whose results expired reads as done.
    ``start`` is the job-wide percent the task had reached when it fanned out (its
    ``group_from``): the group's share of done subtasks fills the rest of the bar.
    """
    from celery.result import GroupResult

    parts = GroupResult.restore(group_id, app=app)
    if parts is None:
        return state, progress, None
    total, done = len(parts.results), parts.completed_count()
    failed = [r for r in parts.results if r.failed()]
    share = 1.0 if total <= 0 else done / total
    progress = progress_meta(
        done,
        total,
        stage="stats",
        description=f"{done}/{total} leagues",
        overall=round(start + (100.0 - start) * share, 2),
    )
    if failed:
        errors = "; ".join(
            describe_error(r.result) if isinstance(r.result, BaseException) else str(r.result)
            for r in failed
        )
        return "FAILURE", progress, errors
    return ("SUCCESS" if done == total else "PROGRESS"), progress, None
