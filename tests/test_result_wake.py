"""The wake of a wait: a state stored on the Redis result backend ends the waiter's pause (a
real Redis, states stored by Celery's own backend); without one the wait polls as before."""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from filterbets_nb.result_wake import RedisWake, SleepWake, _is_end, result_wake
from filterbets_nb.status import FIRST_POLL, JobState, Status, wait_for
from tests.conftest import NEVER, free_port, later


@pytest.fixture
def redis_settings(settings_env: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from filterbets_nb.config import get_settings

    monkeypatch.setenv("FILTERBETS_BROKER_URL", redis_url)
    monkeypatch.setenv("FILTERBETS_RESULT_BACKEND", redis_url)
    get_settings.cache_clear()
    return redis_url


def _store_later(task_id: str, state: str, delay: float = 0.05) -> threading.Timer:
    from filterbets_nb.tasks.celery_app import get_app

    backend = get_app().backend
    result: Any = ValueError("a fault") if state == "FAILURE" else {"current": 1}
    return later(lambda: backend.store_result(task_id, result, state), delay)


@pytest.mark.usefixtures("redis_settings")
def test_the_end_of_a_task_stored_on_redis_wakes_its_wait_and_nothing_else_does() -> None:
    mine, mine_too, other = (str(uuid.uuid4()) for _ in range(3))
    wake = result_wake([mine, mine_too])
    try:
        assert isinstance(wake, RedisWake) and wake.prompt
        _store_later(other, "SUCCESS").join()
        assert wake.wait(0.2) is False  # another task's end
        _store_later(mine, "PROGRESS").join()
        assert wake.wait(0.2) is False  # progress: a bar reads it on its own polls
        timer = _store_later(mine, "SUCCESS")
        assert wake.wait(NEVER) is True
        timer.join()
        assert wake.wait(0.05) is False  # heard once, nothing new since
        timer = _store_later(mine_too, "FAILURE")  # (Celery never overwrites a SUCCESS)
        assert wake.wait(NEVER) is True
        timer.join()
    finally:
        wake.close()
    assert not wake.prompt


def test_a_published_state_that_cannot_be_read_wakes_the_wait() -> None:
    assert _is_end({"type": "message", "data": b'{"status": "SUCCESS"}'})
    assert not _is_end({"type": "message", "data": b'{"status": "PROGRESS"}'})
    assert _is_end({"type": "message", "data": b"\x80 not json"})
    assert not _is_end({"type": "subscribe", "data": 1})


def test_an_unreachable_redis_gives_a_wait_that_polls(
    settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filterbets_nb.config import get_settings

    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    wake = RedisWake(nowhere, [b"celery-task-meta-x"])
    assert not wake.active and not wake.prompt
    assert wake.wait(0.01) is False
    monkeypatch.setenv("FILTERBETS_BROKER_URL", nowhere)
    monkeypatch.setenv("FILTERBETS_RESULT_BACKEND", nowhere)
    get_settings.cache_clear()
    assert isinstance(result_wake([str(uuid.uuid4())]), SleepWake)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
def test_the_embedded_backend_wakes_on_its_results_file_and_is_not_prompt(
    settings_env: Path,
) -> None:
    from filterbets_nb.config import get_settings

    get_settings().ensure_dirs()  # as a submit leaves it: the results file's folder exists
    wake = result_wake([str(uuid.uuid4())])
    try:
        assert getattr(wake, "active", False) and not wake.prompt
    finally:
        wake.close()


class _Run:
    """A run that ends after ``reads`` status reads, with a wake of its own."""

    def __init__(self, wake: Any, reads: int) -> None:
        self._wake, self.reads, self.left = wake, 0, reads

    def status(self) -> Status:
        self.reads += 1
        ended = self.reads >= self.left
        return {
            "state": JobState.SUCCESS if ended else JobState.STARTED,
            "progress": {},
            "error": None,
        }

    def wake(self) -> Any:
        return self._wake


class _Wake:
    def __init__(self, prompt: bool) -> None:
        self.prompt = prompt
        self.pauses: list[float] = []
        self.closed = False

    def wait(self, timeout: float) -> bool:
        self.pauses.append(timeout)
        return True

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("prompt", [True, False])
def test_wait_for_pauses_on_the_runs_wake_and_closes_it(prompt: bool) -> None:
    wake = _Wake(prompt)
    run = _Run(wake, reads=3)
    assert wait_for(run, poll=0.5)["state"] == JobState.SUCCESS
    assert run.reads == 3 and len(wake.pauses) == 2 and wake.closed
    # A prompt wake hears the end, so there is no reason to read often at first.
    assert wake.pauses[0] == (0.5 if prompt else FIRST_POLL)


def test_wait_for_closes_the_wake_when_it_gives_up() -> None:
    wake = _Wake(prompt=True)
    run = _Run(wake, reads=10**9)
    with pytest.raises(TimeoutError):
        wait_for(run, timeout=0.0, poll=0.01)
    assert wake.closed
