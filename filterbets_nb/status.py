"""The one status model: job states, the states a job ends in, the dicts that carry them, and
the one loop that waits for a job to end.

This module imports nothing but the standard library, so every layer can use it: the task side
writes these shapes, and every reader (client, progress bars, CLI, monitor) reads them, with one
key, ``state``.

How a new kind of run plugs in (a sweep, a scan, ...): give it a ``status()`` method returning a
:class:`Status` (``state`` from :class:`JobState`, ``progress`` a :class:`ProgressMeta`, ``error``
and, when the run is waiting for something a user must do, ``notice``). Then
:func:`wait_for` blocks on it, ``filterbets_nb.notebook.ProgressBar(run.status)`` draws it and
the CLI renders it, with nothing else to write::

    class SweepRun:
        def status(self) -> Status: ...

        def wait(self, timeout: float | None = None) -> SweepRun:
            wait_for(self, timeout=timeout, what=f"sweep {self.sweep_id}")
            return self

Reading a status must never write: a run whose worker could not record its end is repaired by
an explicit reconcile step, not by looking at it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, NotRequired, Protocol, TypedDict


class JobState(StrEnum):
    """Celery's task states, which are also the states of a job row (``str`` subclass)."""

    PENDING = "PENDING"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"


#: The states a job or task ends in; nothing changes after them (plain strings, so a database
#: query can use them as they are).
ENDED_STATES: tuple[str, ...] = (
    JobState.SUCCESS.value,
    JobState.FAILURE.value,
    JobState.REVOKED.value,
)


def is_ended(state: str) -> bool:
    """Whether ``state`` is one a job ends in."""
    return state in ENDED_STATES


class ProgressMeta(TypedDict, total=False):
    """The PROGRESS meta a task publishes (``tasks.progress.progress_meta`` builds it).

    Extra keys (``bets`` so far, ``failed``, ...) are allowed and shown by the bars as details.
    """

    current: int
    total: int
    percent: float
    stage: str
    stage_index: int
    stages: int
    description: str
    bets: int


class Status(TypedDict):
    """What ``status()`` of any run returns, and what bars, ``wait_for`` and the CLI read."""

    state: str
    progress: ProgressMeta
    error: str | None
    #: Something the user should know while the run waits (e.g. no worker took it yet).
    notice: NotRequired[str | None]
    job_id: NotRequired[str]
    created_at: NotRequired[datetime | None]
    started_at: NotRequired[datetime | None]
    finished_at: NotRequired[datetime | None]


class TaskStatusDict(TypedDict):
    """Status of one Celery task id (``fb.task_status``): the spec's dict, keyed ``state``."""

    task_id: str
    state: str
    result: Any
    progress: ProgressMeta
    error: str | None
    job_id: str | None
    #: While PENDING: ``"queued"`` (a job's chain holds it) or ``"unknown"``; else None.
    pending: str | None


class HasStatus(Protocol):
    """Anything :func:`wait_for` can wait on. A run may also have a ``wake()`` method returning
    a :class:`Wake` (:mod:`filterbets_nb.result_wake` makes them): then each pause ends as soon
    as one of its tasks stores an end."""

    def status(self) -> Status: ...


class Wake(Protocol):
    """``wait(timeout)`` pauses up to ``timeout`` seconds and returns True if it woke early.

    ``prompt``: every end a task stores wakes it, once the state (and the rows the task
    committed before storing it) can be read; then nothing is gained by reading often, and
    :func:`wait_for`'s pauses start at ``poll``. A Redis wake is prompt; a file watch is not (a
    SQLite commit writes its log before readers see it, so a waiter woken by it may read too
    early and must read again soon)."""

    @property
    def prompt(self) -> bool: ...

    def wait(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class JobFailed(RuntimeError):
    """A run ended as FAILURE; the message carries the stored reason."""


class JobCancelled(RuntimeError):
    """A run was revoked before it finished."""


#: The first pause of :func:`wait_for`; it grows by :data:`POLL_GROWTH` up to ``poll``. A job that
#: ends in a fraction of a second (a warm backtest, a small sweep) is seen ending within a few
#: milliseconds, while a long one is still read only every ``poll`` seconds. Each pause is about
#: a fifth of the time waited so far, so the end is seen at most ~20 % (on average ~10 %) late
#: until the pauses reach ``poll``: at 1.5 a half-second sweep was seen 50-70 ms late, a third
#: of the serial time that keeps a 20-filter sweep from scaling to a second worker process.
FIRST_POLL = 0.005
POLL_GROWTH = 1.2


def _print_notice(text: str) -> None:
    print(f"filterbets-nb: {text}", file=sys.stderr, flush=True)


def wait_for(
    run: HasStatus,
    *,
    timeout: float | None = None,
    poll: float = 0.1,
    what: str = "job",
    on_status: Callable[[Status], None] | None = None,
    on_notice: Callable[[str], None] | None = _print_notice,
    failed: type[JobFailed] = JobFailed,
    cancelled: type[JobCancelled] = JobCancelled,
    sleep: Callable[[float], object] | None = None,
) -> Status:
    """Poll ``run.status()`` until it ends; return the SUCCESS status or raise.

    ``on_status`` sees every status (the CLI draws its bar with it); ``on_notice`` gets each new
    ``notice`` once (default: one line on stderr), so a job no worker takes does not wait in
    silence. Raises ``failed`` on FAILURE, ``cancelled`` on REVOKED, :class:`TimeoutError` after
    ``timeout`` seconds (the job itself keeps running). The pause between reads starts at
    :data:`FIRST_POLL` and grows to ``poll``; ``sleep`` takes it, and may return early when
    it learns that something changed. By default that is the run's ``wake()`` (its tasks'
    states as the result backend stores them) if it has one, else :func:`time.sleep`; with a
    wake that hears every end as it becomes readable (``prompt``) the pauses are ``poll`` from
    the start, since the end wakes the wait anyway.
    """
    wake: Wake | None = None
    if sleep is None:
        make_wake: Callable[[], Wake] | None = getattr(run, "wake", None)
        wake = make_wake() if make_wake is not None else None
    nap = sleep or (wake.wait if wake is not None else time.sleep)
    deadline = None if timeout is None else time.monotonic() + timeout
    told: str | None = None
    pause = poll if wake is not None and wake.prompt else min(poll, FIRST_POLL)
    try:
        while True:
            status = run.status()
            if on_status is not None:
                on_status(status)
            notice = status.get("notice")
            if notice and notice != told and on_notice is not None:
                on_notice(notice)
                told = notice
            state = status["state"]
            if state == JobState.SUCCESS:
                return status
            if state == JobState.FAILURE:
                raise failed(f"{what} failed: {status['error']}")
            if state == JobState.REVOKED:
                raise cancelled(f"{what} was cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{what} still {state} after {timeout} s")
            nap(pause)
            pause = min(poll, pause * POLL_GROWTH)
    finally:
        if wake is not None:
            wake.close()
