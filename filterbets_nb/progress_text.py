"""The one text rendering of a job's status: stage label, percents, timings, the bar's line.

The base every front end draws from, as tqdm's formatting is for its notebook bar: the
notebook's widget (:mod:`filterbets_nb.notebook`), its text fallback and the command line all
render a status with these functions. Pure (time is passed in) and dependency-free, so the CLI
imports this without the notebook's widget machinery.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from filterbets_nb.status import ENDED_STATES


def format_seconds(seconds: float | None) -> str:
    """``mm:ss`` (or ``h:mm:ss``) like tqdm; ``?`` when unknown."""
    if seconds is None or seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "?"
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def eta(elapsed: float | None, percent: float | None) -> float | None:
    """Seconds left if the rate so far holds: ``elapsed * (100 - percent) / percent``.

    None while nothing can be said (no time or no progress yet); 0 once at 100 %.
    """
    if elapsed is None or percent is None:
        return None
    if percent >= 100.0:
        return 0.0
    if percent <= 0.0 or elapsed <= 0.0:
        return None
    return elapsed * (100.0 - percent) / percent


def _progress(status: Mapping[str, Any]) -> Mapping[str, Any]:
    progress = status.get("progress")
    return progress if isinstance(progress, Mapping) else {}


def _state(status: Mapping[str, Any]) -> str:
    return str(status.get("state") or "PENDING").upper()


def _number(value: Any, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return default if number != number else number


def stage_percent(status: Mapping[str, Any]) -> float:
    """Percent of the current stage, clamped to 0-100; 100 once the run succeeded."""
    if _state(status) == "SUCCESS":
        return 100.0
    return min(max(_number(_progress(status).get("percent")), 0.0), 100.0)


#: The ETA is shown once the job is this far along and this many seconds old: before that a
#: rate says nothing (tqdm shows "?"; an analyst reads a blank better than a wild guess).
ETA_AFTER_PERCENT = 3.0
ETA_AFTER_SECONDS = 0.5
#: The most a job that has not ended may show: 100 % means "done", never "last stage done".
RUNNING_CAP = 99.9


def job_percent(status: Mapping[str, Any]) -> float:
    """The whole job's percent, what a bar draws: the task's weighted ``overall`` when it
    sends one (``tasks.progress.STAGE_WEIGHTS``), else equal stages; 100 only on SUCCESS."""
    if _state(status) == "SUCCESS":
        return 100.0
    progress = _progress(status)
    if progress.get("overall") is not None:
        value = _number(progress.get("overall"))
    else:
        value = _equal_stages(status)
    return min(max(value, 0.0), RUNNING_CAP)


def overall_percent(status: Mapping[str, Any]) -> float:
    """Percent of the whole chain for the aggregate bar of :class:`MultiProgress`, where runs
    in different stages must be comparable; any end state counts as 100 (that run needs no
    more waiting)."""
    if _state(status) in ENDED_STATES:
        return 100.0
    return job_percent(status)


def _equal_stages(status: Mapping[str, Any]) -> float:
    """Finished stages count whole, the current one pro rata (a meta without ``overall``)."""
    progress = _progress(status)
    index = int(_number(progress.get("stage_index")))
    stages = int(_number(progress.get("stages")))
    percent = stage_percent(status)
    if stages <= 0 or not 1 <= index <= stages:
        return percent
    return 100.0 * ((index - 1) + percent / 100.0) / stages


def stage_label(status: Mapping[str, Any]) -> str:
    """``"2/3 evaluate"`` from the progress dict; ``"queued"`` before a worker picks it up."""
    progress = _progress(status)
    stage = str(progress.get("stage") or "")
    index = int(_number(progress.get("stage_index")))
    stages = int(_number(progress.get("stages")))
    if stage and index and stages:
        return f"{index}/{stages} {stage}"
    if stage:
        return stage
    state = _state(status)
    return "queued" if state == "PENDING" else state.lower()


def _outcome(status: Mapping[str, Any]) -> str:
    """What the end state means, in words; empty while running."""
    state = _state(status)
    if state == "SUCCESS":
        return "done"
    if state == "FAILURE":
        return f"failed: {status.get('error') or 'unknown error'}"
    if state == "REVOKED":
        return "cancelled"
    return ""


def _details(
    status: Mapping[str, Any], elapsed: float | None, stage_elapsed: float | None
) -> list[str]:
    """The pieces after the bar: counts, percent, timings, bets, description or outcome."""
    progress = _progress(status)
    state = _state(status)
    terminal = state in ENDED_STATES
    parts: list[str] = []
    total = int(_number(progress.get("total")))
    if total > 0:
        parts.append(f"{int(_number(progress.get('current'))):,}/{total:,}")
    percent = job_percent(status)
    parts.append(f"{percent:.1f}%")
    if elapsed is not None:
        if terminal:
            parts.append(f"elapsed {format_seconds(elapsed)}")
        elif percent >= ETA_AFTER_PERCENT and elapsed >= ETA_AFTER_SECONDS:
            left = eta(elapsed, percent)
            parts.append(f"elapsed {format_seconds(elapsed)}, ETA {format_seconds(left)}")
        else:
            parts.append(f"elapsed {format_seconds(elapsed)}")
    if progress.get("bets") is not None:
        bets = int(_number(progress.get("bets")))
        parts.append(f"{bets} bets" if terminal else f"{bets} bets so far")
    if terminal:
        parts.append(_outcome(status))
    elif status.get("notice"):
        parts.append(str(status["notice"]))
    elif state == "PENDING" and not progress:
        parts.append("waiting for a worker")
    elif progress.get("description"):
        parts.append(str(progress["description"]))
    return parts


def render_text(
    status: Mapping[str, Any],
    *,
    elapsed: float | None = None,
    stage_elapsed: float | None = None,
    width: int = 20,
    description: str = "",
) -> str:
    """One line for terminals and logs, e.g.
    ``2/3 evaluate [#######.............]  37.5% | 375/1000 | 37.5% | elapsed 00:03, ETA 00:05``.

    Pure (time is passed in), so it is unit-tested directly. The percent is the whole job's
    (:func:`job_percent`), so the ETA is the whole job's too: ``elapsed`` over that percent.
    """
    percent = job_percent(status)
    filled = int(percent / 100.0 * width)
    bar = "#" * filled + "." * (width - filled)
    head = f"{description}: " if description else ""
    return f"{head}{stage_label(status)} [{bar}] " + " | ".join(
        _details(status, elapsed, stage_elapsed)
    )
