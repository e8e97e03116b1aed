"""The status model, the wait helper, the submit checks and the app's settings switch.

In process and fast: a real SQLite data dir (``settings_env``), the real PostgreSQL for the
broker-down case; no worker is needed for anything here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filterbets_nb.status import (
    ENDED_STATES,
    JobCancelled,
    JobFailed,
    JobState,
    Status,
    is_ended,
    wait_for,
)
from tests.conftest import free_port, later


class Script:
    """A run whose ``status()`` plays a list of statuses (the last one repeats)."""

    def __init__(self, *statuses: Status) -> None:
        self.statuses = list(statuses)
        self.calls = 0

    def status(self) -> Status:
        self.calls += 1
        return self.statuses[min(self.calls, len(self.statuses)) - 1]


def _status(state: str, error: str | None = None, notice: str | None = None) -> Status:
    return {"state": state, "progress": {}, "error": error, "notice": notice}


def test_states_are_defined_once() -> None:
    from filterbets_nb import client, notebook
    from filterbets_nb.db import models

    assert set(ENDED_STATES) == {"SUCCESS", "FAILURE", "REVOKED"}
    assert models.ENDED_STATES is ENDED_STATES and client.TERMINAL is ENDED_STATES
    assert notebook.TERMINAL_STATES is ENDED_STATES
    assert is_ended(JobState.REVOKED) and not is_ended("PROGRESS")


def test_wait_for_returns_success_and_tells_each_notice_once() -> None:
    told: list[str] = []
    seen: list[str] = []
    run = Script(
        _status("PENDING"),
        _status("PENDING", notice="no worker"),
        _status("PENDING", notice="no worker"),
        _status("PROGRESS"),
        _status("SUCCESS"),
    )
    final = wait_for(
        run, poll=0.0, on_status=lambda s: seen.append(s["state"]), on_notice=told.append
    )
    assert final["state"] == "SUCCESS" and run.calls == 5
    assert told == ["no worker"]
    assert seen == ["PENDING", "PENDING", "PENDING", "PROGRESS", "SUCCESS"]


def test_wait_for_reads_often_at_first_then_every_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short job is seen ending within milliseconds; a long one is read every ``poll``."""
    from filterbets_nb import status as status_module

    pauses: list[float] = []
    monkeypatch.setattr(status_module.time, "sleep", pauses.append)
    # enough reads for the growing pause to pass 0.1 and then stay there
    reads = math.ceil(math.log(0.1 / status_module.FIRST_POLL, status_module.POLL_GROWTH)) + 4
    run = Script(*[_status("PROGRESS")] * reads, _status("SUCCESS"))
    wait_for(run, poll=0.1, on_notice=None)
    assert len(pauses) == reads
    assert pauses[0] == status_module.FIRST_POLL < 0.1
    assert pauses == sorted(pauses)
    assert pauses[-1] == 0.1 and pauses.count(0.1) >= 3


def test_wait_for_raises_the_callers_errors() -> None:
    class Failed(JobFailed):
        pass

    with pytest.raises(Failed, match="sweep 7 failed: boom"):
        wait_for(Script(_status("FAILURE", "boom")), poll=0.0, what="sweep 7", failed=Failed)
    with pytest.raises(JobCancelled, match="was cancelled"):
        wait_for(Script(_status("REVOKED")), poll=0.0)
    with pytest.raises(TimeoutError, match="still PENDING"):
        wait_for(Script(_status("PENDING")), timeout=0.05, poll=0.01, on_notice=None)


def test_no_worker_hint_names_the_command_queues_and_a_masked_broker() -> None:
    from filterbets_nb.client import no_worker_hint
    from filterbets_nb.config import Settings

    hint = no_worker_hint(Settings(broker_url="redis://:s3cret@10.0.0.5:6379/0"))
    assert "filterbets-nb worker" in hint and "backtest,stats" in hint
    assert "10.0.0.5" in hint and "s3cret" not in hint and "***" in hint


FLT: dict[str, Any] = {
    "rules": [{"field": "home_odds", "op": "between", "value": [1.5, 2.2]}],
    "market": "home",
}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"leagues": [1]}, TypeError, "leagues must be strings"),
        ({"leagues": 7}, TypeError, "leagues must be a string or a list"),
        ({"leagues": [""]}, ValueError, "is not a code"),
        ({"seasons": ["x" * 100]}, ValueError, "is not a code"),
        ({"soft_time_limit": 0}, ValueError, "soft_time_limit must be > 0"),
        ({"soft_time_limit": -5}, ValueError, "soft_time_limit must be > 0"),
        ({"soft_time_limit": float("nan")}, ValueError, "soft_time_limit"),
        ({"soft_time_limit": True}, TypeError, "soft_time_limit"),
        ({"label": "x" * 201}, ValueError, "label: longer than 200 characters"),
    ],
)
def test_bad_submit_inputs_are_refused_before_anything_is_stored(
    settings_env: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    import filterbets_nb as fb

    with pytest.raises(error, match=match):
        fb.backtest(FLT, **kwargs)
    assert not (settings_env / "filterbets.db").exists()  # nothing stored, no worker started
    assert not (settings_env / "worker.lock").exists()


def test_scope_codes_are_bounded_once_by_the_columns_they_match() -> None:
    from filterbets_nb.client import scope_codes
    from filterbets_nb.db.limits import MAX_SCOPE_ITEMS, SCOPE_CODE_LIMITS, TEXT_LIMITS

    assert {"leagues": TEXT_LIMITS["league"], "seasons": TEXT_LIMITS["season"]} == SCOPE_CODE_LIMITS
    for what, longest in SCOPE_CODE_LIMITS.items():
        assert scope_codes("x" * longest, what) == ["x" * longest]
        with pytest.raises(ValueError, match=f"1 to {longest} characters"):
            scope_codes("x" * (longest + 1), what)
        with pytest.raises(ValueError, match=f"at most {MAX_SCOPE_ITEMS} {what}"):
            scope_codes(["a"] * (MAX_SCOPE_ITEMS + 1), what)


def test_absurd_stake_and_non_filters_are_refused(settings_env: Path) -> None:
    import filterbets_nb as fb

    with pytest.raises(ValueError, match="stake must be at most"):
        fb.backtest({**FLT, "stake": 1e308})
    with pytest.raises(TypeError, match="needs a Filter or a filter dict, not NoneType"):
        fb.backtest(None)  # type: ignore[arg-type]


def test_one_league_string_means_that_league(settings_env: Path) -> None:
    from filterbets_nb.client import _validate

    assert _validate(FLT, "SYN1", ("2021-22",), "", None).scope == {
        "leagues": ["SYN1"],
        "seasons": ["2021-22"],
    }
    long_default = _validate({**FLT, "rules": FLT["rules"] * 40}, None, None, "", None).label
    assert len(long_default) <= 200


def test_task_status_refuses_empty_ids_and_matches_whole_ids_only(settings_env: Path) -> None:
    import filterbets_nb as fb
    from filterbets_nb.db import store
    from filterbets_nb.db.migrate import ensure_schema
    from filterbets_nb.db.session import run_shared

    ensure_schema()
    ids = ["a1b2c3d4-0000-0000-0000-000000000001", "x", "y"]
    run_shared(lambda s: store.create_job(s, "job-1", {"market": "home"}, {}, ids))
    for bad in ("", "   ", None, 5):
        with pytest.raises(ValueError, match="task id"):
            fb.task_status(bad)  # type: ignore[arg-type]
    assert fb.task_status(ids[0])["job_id"] == "job-1"
    assert fb.task_status(ids[0])["pending"] == "queued"
    for pattern in ("%", "_", "a1b2c3d4", "a1b2c3d4-0000-0000-0000-00000000000_"):
        status = fb.task_status(pattern)
        assert status["job_id"] is None and status["pending"] == "unknown", pattern


@pytest.fixture
def services_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_url: str
) -> Iterator[dict[str, str]]:
    """This process switched to services mode with a broker on a port nothing listens on."""
    from filterbets_nb.config import get_settings
    from filterbets_nb.db.session import dispose_shared

    dead = f"redis://127.0.0.1:{free_port()}/0"
    for key in list(os.environ):
        if key.startswith("FILTERBETS_"):
            monkeypatch.delenv(key)
    values = {
        "FILTERBETS_DATA_DIR": str(tmp_path / "data"),
        "FILTERBETS_DATABASE_URL": pg_url,
        "FILTERBETS_BROKER_URL": dead,
        "FILTERBETS_RESULT_BACKEND": dead,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield values
    dispose_shared()
    get_settings.cache_clear()


def test_get_app_follows_a_settings_switch(
    settings_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filterbets_nb.config import get_settings
    from filterbets_nb.tasks.celery_app import get_app

    assert get_app().conf.broker_url == "filesystem://"
    monkeypatch.setenv("FILTERBETS_BROKER_URL", "redis://127.0.0.1:1/3")
    get_settings.cache_clear()
    app = get_app()
    assert app.conf.broker_url == "redis://127.0.0.1:1/3"
    assert app.conf.result_backend == "redis://127.0.0.1:1/3"
    assert app.conf.broker_transport_options["visibility_timeout"] == 7200
    monkeypatch.delenv("FILTERBETS_BROKER_URL")
    get_settings.cache_clear()
    assert get_app().conf.broker_url == "filesystem://"


@pytest.mark.services
def test_submit_with_the_broker_down_marks_the_job_failed(
    services_settings: dict[str, str],
) -> None:
    import filterbets_nb as fb
    from filterbets_nb.client import SubmitError

    fb.load_demo(n_matches=300, seed=3)  # a scope with matches (checked before sending)
    before = len(fb.jobs())  # the session's database may hold other tests' jobs
    with pytest.raises(SubmitError, match="could not reach the broker") as caught:
        fb.backtest(FLT, leagues="SYN1")
    jobs = fb.jobs()
    assert len(jobs) == before + 1
    row = jobs.iloc[0]  # newest first
    assert row["state"] == "FAILURE" and "could not reach the broker" in row["error"]
    assert str(caught.value).startswith("could not reach the broker redis://127.0.0.1:")


@pytest.mark.services
def test_a_broker_that_took_a_message_is_not_checked_again_for_a_moment(
    services_settings: dict[str, str], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submitting in a loop connects once to check the broker; another broker URL, or one whose
    check failed, is checked again (and a dead one still fails the submit at once)."""
    from kombu.exceptions import OperationalError

    from filterbets_nb import client
    from filterbets_nb.config import get_settings
    from filterbets_nb.tasks.celery_app import get_app

    checks: list[str] = []
    real = type(get_app()).connection_for_write

    def counted(app: Any, *args: Any, **kwargs: Any) -> Any:
        checks.append(str(app.conf.broker_url))
        return real(app, *args, **kwargs)

    monkeypatch.setattr(type(get_app()), "connection_for_write", counted)
    monkeypatch.setattr(client, "_broker_seen", {})
    monkeypatch.setenv("FILTERBETS_BROKER_URL", redis_url)
    monkeypatch.setenv("FILTERBETS_RESULT_BACKEND", redis_url)
    get_settings.cache_clear()
    for _ in range(3):
        client._check_broker()
    assert checks == [redis_url]
    dead = services_settings["FILTERBETS_BROKER_URL"]
    monkeypatch.setenv("FILTERBETS_BROKER_URL", dead)
    monkeypatch.setenv("FILTERBETS_RESULT_BACKEND", dead)
    get_settings.cache_clear()
    for _ in range(2):
        with pytest.raises((OperationalError, OSError)):
            client._check_broker()
    assert checks == [redis_url, dead, dead] and dead not in client._broker_seen


def test_stale_control_messages_are_cleaned_and_fresh_ones_kept(settings_env: Path) -> None:
    from filterbets_nb.config import get_settings
    from filterbets_nb.worker import clean_control_files

    settings = get_settings()
    settings.ensure_dirs()
    folder = settings.broker_folder
    old = [folder / f"1_{i}.fb-dead@vm.celery.pidbox.msg" for i in range(3)]
    old.append(folder / "2_x.abc.reply.celery.pidbox.msg")
    fresh = folder / "3_y.fb-live@vm.celery.pidbox.msg"
    task = folder / "4_z.backtest.msg"
    for path in [*old, fresh, task]:
        path.write_text("{}")
    for path in [*old, task]:
        os.utime(path, (1, 1))  # long ago
    assert clean_control_files(settings) == len(old)
    assert fresh.exists() and task.exists()  # a live reply, and a task message, stay
    assert not any(path.exists() for path in old)


def test_importing_the_package_and_app_reads_and_creates_nothing(tmp_path: Path) -> None:
    from tests.conftest import embedded_env, run_py

    data_dir = tmp_path / "never-made"
    out = run_py(
        embedded_env(data_dir),
        "import json, sys\nimport filterbets_nb as fb\n"
        "heavy = [m for m in ('pandas', 'sqlalchemy', 'celery') if m in sys.modules]\n"
        "import filterbets_nb.tasks.celery_app, filterbets_nb.tasks.backtest_tasks\n"
        "print(json.dumps(heavy))",
    )
    assert out == []  # `import filterbets_nb` is lazy
    assert not data_dir.exists()  # neither import read settings into directories


def test_in_process_and_task_results_share_one_interface() -> None:
    import pandas as pd

    from filterbets_nb.client import BacktestRun
    from filterbets_nb.engine import BacktestResult, run_backtest
    from filterbets_nb.filters import Filter
    from filterbets_nb.formatting import Summary
    from filterbets_nb.results import BacktestResults
    from filterbets_nb.stats import compute_stats, equity_curve
    from filterbets_nb.synthetic import generate_matches

    assert issubclass(BacktestResult, BacktestResults)
    assert issubclass(BacktestRun, BacktestResults)
    for name in ("equity", "monthly", "plot", "simulate"):
        assert getattr(BacktestResult, name) is getattr(BacktestRun, name), name
    for name in ("summary", "bets"):  # methods on both, never attributes
        assert callable(getattr(BacktestResult, name)) and callable(getattr(BacktestRun, name))
    result = run_backtest(generate_matches(n_matches=300, seed=5), Filter.from_dict(FLT))
    bets = result.bets()
    assert isinstance(result.summary(), Summary)
    pd.testing.assert_series_equal(
        pd.Series(result.summary()), compute_stats(bets, **_counts(result)), check_names=False
    )
    pd.testing.assert_frame_equal(result.equity(), equity_curve(bets))
    assert int(result.monthly()["bets"].sum()) == len(bets)
    assert not hasattr(result, "equity_curve")  # one name per view


def _counts(result: object) -> dict[str, int]:
    return {
        key: getattr(result, key)
        for key in ("skipped_no_odds", "skipped_no_edge", "matches_considered")
    }


def _embedded_connection(tmp_path: Path, **options: Any) -> Any:
    """A kombu connection on the embedded transport, its broker folder ``tmp_path/broker``."""
    from kombu import Connection

    folder = tmp_path / "broker"
    folder.mkdir(exist_ok=True)
    folders = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
    }
    transport = "filterbets_nb.tasks.fs_transport:Transport"
    return Connection("filesystem://", transport=transport, transport_options=folders | options)


def test_embedded_transport_writes_whole_messages_only(tmp_path: Path) -> None:
    with _embedded_connection(tmp_path) as conn:
        queue = conn.SimpleQueue("t")
        queue.put({"job": 1})
        names = [p.name for p in (tmp_path / "broker").iterdir()]
        assert len(names) == 1 and names[0].endswith(".t.msg"), names  # no partial file left
        message = queue.get(timeout=5)
        assert message.payload == {"job": 1}
        message.ack()
        queue.close()


def test_the_embedded_transport_delivers_a_message_put_while_it_waits(tmp_path: Path) -> None:
    """A drain waiting on the broker folder (fs_watch) returns with a message another thread
    sends; a sleeping poll (60 s here) would not see it before the get's timeout."""
    with (
        _embedded_connection(tmp_path, polling_interval=60.0) as conn,
        _embedded_connection(tmp_path, polling_interval=60.0) as sender,
    ):
        consumer_queue = conn.SimpleQueue("woken")
        timer = later(lambda: sender.SimpleQueue("woken").put({"job": 2}), 0.2)
        message = consumer_queue.get(timeout=30)
        got = message.payload
        message.ack()
        timer.join()
        consumer_queue.close()
    assert got == {"job": 2}
