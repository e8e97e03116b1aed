"""The notebook progress bar, driven by fake status functions (no Celery, no kernel needed).

Time comes from a fake clock wherever timings are asserted, so nothing here depends on how fast
the machine is; the thread tests only assert that threads end, with generous bounded waits.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from filterbets_nb import notebook
from filterbets_nb.notebook import (
    MIN_INTERVAL,
    REVOKED_COLOR,
    MultiProgress,
    ProgressBar,
    eta,
    format_seconds,
    in_notebook,
    job_percent,
    overall_percent,
    render_html,
    render_text,
    stage_label,
    task_status_html,
    task_status_widget,
)
from filterbets_nb.tasks.progress import progress_meta

# ---------------------------------------------------------------------------------------------
# Fakes
# ---------------------------------------------------------------------------------------------


def status(state: str, progress: Mapping[str, Any] | None = None, error: str | None = None) -> dict:
    """A status dict shaped like ``BacktestRun.status()``."""
    return {
        "job_id": "job-1",
        "state": state,
        "progress": dict(progress or {}),
        "error": error,
        "created_at": None,
        "started_at": None,
        "finished_at": None,
    }


def fetch(done: int = 100) -> dict:
    return status("STARTED", progress_meta(done, 100, stage="fetch", description="100 matches"))


def evaluating(current: int, total: int = 100, **extra: Any) -> dict:
    meta = progress_meta(current, total, stage="evaluate", description="evaluating filter", **extra)
    return status("PROGRESS", meta)


def success(bets: int = 470) -> dict:
    return status("SUCCESS", progress_meta(1, 1, stage="save", description="done", bets=bets))


HAPPY = [
    status("PENDING"),
    fetch(),
    evaluating(10, bets=3),
    evaluating(50, bets=20),
    evaluating(90, bets=41),
    success(),
]


class FakeStatus:
    """Returns the given statuses in turn, then repeats the last one; counts calls."""

    def __init__(self, statuses: list[dict]) -> None:
        self.statuses = statuses
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> dict:
        with self.lock:
            index = min(self.calls, len(self.statuses) - 1)
            self.calls += 1
        return self.statuses[index]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


class TTYStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def widget_bar(statuses: list[dict], **kwargs: Any) -> tuple[ProgressBar, FakeStatus, FakeClock]:
    fake, clock = FakeStatus(statuses), FakeClock()
    bar = ProgressBar(fake, mode="widget", clock=clock, **kwargs)
    return bar, fake, clock


@pytest.fixture
def no_ipywidgets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make ``import ipywidgets`` fail as if it were not installed."""
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    yield


# ---------------------------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed", "percent", "expected"),
    [
        (10.0, 25.0, 30.0),
        (3.0, 50.0, 3.0),
        (8.0, 80.0, 2.0),
        (5.0, 100.0, 0.0),
        (5.0, 120.0, 0.0),
        (5.0, 0.0, None),
        (0.0, 40.0, None),
        (None, 40.0, None),
        (5.0, None, None),
    ],
)
def test_eta_is_elapsed_times_remaining_over_done(
    elapsed: float | None, percent: float | None, expected: float | None
) -> None:
    result = eta(elapsed, percent)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "00:00"), (9.9, "00:09"), (75, "01:15"), (3725, "1:02:05"), (None, "?"), (-3, "00:00")],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text
    assert format_seconds(float("nan")) == "?"


def test_stage_labels_follow_the_chain() -> None:
    assert stage_label(status("PENDING")) == "queued"
    assert stage_label(fetch()) == "1/3 fetch"
    assert stage_label(evaluating(5)) == "2/3 evaluate"
    assert stage_label(success()) == "3/3 save"
    assert stage_label(status("STARTED")) == "started"
    assert stage_label(status("PROGRESS", {"stage": "custom"})) == "custom"


def test_overall_percent_weights_stages_by_their_typical_cost() -> None:
    # fetch 5 %, evaluate 90 %, save 5 % of a job (tasks.progress.STAGE_WEIGHTS)
    assert overall_percent(status("PENDING")) == 0.0
    assert overall_percent(fetch(50)) == pytest.approx(2.5)
    assert overall_percent(evaluating(50)) == pytest.approx(50.0)
    assert overall_percent(status("FAILURE", evaluating(10)["progress"], "x")) == 100.0
    assert overall_percent(status("PROGRESS", {"percent": 40})) == 40.0
    # a meta without "overall" (another kind of task) counts its stages equally
    assert overall_percent(
        status("PROGRESS", {"percent": 50, "stage_index": 2, "stages": 3})
    ) == pytest.approx(50.0)


def test_the_bar_never_shows_100_percent_while_the_job_runs() -> None:
    last_stage_done = status("PROGRESS", progress_meta(1, 1, stage="save"))
    assert job_percent(last_stage_done) == 99.9
    assert job_percent(success()) == 100.0
    assert "99.9%" in render_text(last_stage_done)


def test_eta_appears_after_a_few_percent_and_half_a_second() -> None:
    assert "ETA" not in render_text(fetch(40), elapsed=10.0)  # 2 % of the job
    assert "ETA" not in render_text(evaluating(50), elapsed=0.2)  # too soon
    assert "ETA 00:10" in render_text(evaluating(50), elapsed=10.0)


def test_render_text_running_line() -> None:
    line = render_text(evaluating(25, bets=7), elapsed=22.0, width=8)
    # The whole job's percent (5 + 0.9 x 25 = 27.5) and ETA: 22 s for 27.5 % leaves 58 s.
    assert line == (
        "2/3 evaluate [##......] 25/100 | 27.5% | elapsed 00:22, ETA 00:58 | "
        "7 bets so far | evaluating filter"
    )


def test_render_text_without_stage_time_uses_elapsed() -> None:
    assert "ETA 00:10" in render_text(evaluating(50), elapsed=10.0)


def test_render_text_end_states() -> None:
    assert render_text(success(), elapsed=4.0).endswith(
        "1/1 | 100.0% | elapsed 00:04 | 470 bets | done"
    )
    failed = render_text(status("FAILURE", evaluating(40)["progress"], "ValueError: boom"))
    assert failed.startswith("2/3 evaluate [########............] 40/100 | 41.0%")
    assert failed.endswith("failed: ValueError: boom")
    assert render_text(status("REVOKED", fetch()["progress"], "cancelled")).endswith("cancelled")
    assert render_text(status("PENDING")).endswith("waiting for a worker")
    assert render_text(status("PENDING"), description="run A").startswith("run A: queued [")


def test_render_text_survives_odd_progress() -> None:
    odd = status("PROGRESS", {"percent": "n/a", "current": None, "total": "x", "stage_index": []})
    assert "0.0%" in render_text(odd)
    assert "0.0%" in render_text({"state": None, "progress": None})


def test_render_html_escapes_and_colours_the_error() -> None:
    value = render_html(status("FAILURE", {}, "<script>alert(1)</script>"), elapsed=2.0)
    assert "<script>" not in value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in value
    assert 'style="color:' in value
    assert "elapsed 00:02" in value


# ---------------------------------------------------------------------------------------------
# Widget front end
# ---------------------------------------------------------------------------------------------


def test_widget_follows_a_successful_run() -> None:
    bar, _fake, clock = widget_bar(HAPPY, cancel_fn=lambda: None)
    assert [type(w).__name__ for w in bar.widget.children] == [
        "Label",
        "FloatProgress",
        "HTML",
        "Button",
    ]
    assert "widget-progress" in bar.progress._dom_classes
    assert (bar.progress.min, bar.progress.max) == (0.0, 100.0)

    seen = []
    for _ in HAPPY:
        bar.poll()
        seen.append((bar.label.value, bar.progress.value, bar.progress.bar_style))
        if not bar.finished:
            assert bar.button.disabled is False
        clock.tick(2.0)
    assert seen == [
        ("queued", 0.0, ""),
        ("1/3 fetch", 5.0, ""),
        ("2/3 evaluate", 14.0, ""),
        ("2/3 evaluate", 50.0, ""),
        ("2/3 evaluate", 86.0, ""),
        ("3/3 save", 100.0, "success"),
    ]
    assert bar.finished and bar.state == "SUCCESS"
    assert bar.button.disabled is True
    assert "470 bets" in bar.text.value and "done" in bar.text.value
    assert "elapsed 00:10" in bar.text.value


def test_widget_html_has_counts_timings_and_bets_so_far() -> None:
    bar, _fake, clock = widget_bar([fetch(), evaluating(20, bets=5), evaluating(40, bets=9)])
    bar.poll()  # fetch, t=0
    clock.tick(3.0)
    bar.poll()  # evaluate starts, t=3
    clock.tick(4.0)
    bar.poll()  # 41 % of the job after 7 s: 10 s left
    value = bar.text.value
    assert "40/100" in value and "41.0%" in value
    assert "elapsed 00:07" in value and "ETA 00:10" in value
    assert "9 bets so far" in value


def test_widget_shows_a_failure_in_red() -> None:
    failure = status("FAILURE", evaluating(30)["progress"], "FilterError: no such field 'xg'")
    bar, _fake, _clock = widget_bar([status("PENDING"), evaluating(30), failure])
    for _ in range(3):
        bar.poll()
    assert bar.progress.bar_style == "danger"
    assert bar.label.value == "2/3 evaluate"
    assert "FilterError: no such field &#x27;xg&#x27;" in bar.text.value
    assert bar.button.disabled is True
    assert bar.finished


def test_widget_shows_revoked_in_grey() -> None:
    bar, _fake, _clock = widget_bar([evaluating(30), status("REVOKED", {}, "cancelled")])
    bar.poll()
    assert bar.progress.style.bar_color is None
    bar.poll()
    assert bar.progress.bar_style == ""
    assert bar.progress.style.bar_color == REVOKED_COLOR
    assert "cancelled" in bar.text.value
    assert bar.button.disabled is True


def test_cancel_button_calls_cancel_fn_once() -> None:
    calls: list[int] = []
    bar, _fake, _clock = widget_bar([evaluating(30)], cancel_fn=lambda: calls.append(1))
    bar.poll()
    assert bar.button.layout.display != "none"
    bar.button.click()
    bar.button.click()  # a double click revokes once
    assert calls == [1]
    assert bar.button.disabled is True
    assert not bar.finished  # the job, not the click, decides the end state


def test_cancel_error_is_shown_not_raised() -> None:
    def broken() -> None:
        raise ConnectionError("broker down")

    bar, _fake, _clock = widget_bar([evaluating(30)], cancel_fn=broken)
    bar.poll()
    bar.button.click()
    assert "cancel failed: ConnectionError: broker down" in bar.text.value
    assert bar.button.disabled is False  # the user may try again


def test_no_cancel_fn_hides_the_button() -> None:
    bar, _fake, _clock = widget_bar([evaluating(30)])
    assert bar.button.disabled is True
    assert bar.button.layout.display == "none"
    bar.button.click()  # harmless


def test_cancel_after_the_end_is_ignored() -> None:
    calls: list[int] = []
    bar, _fake, _clock = widget_bar([success()], cancel_fn=lambda: calls.append(1))
    bar.poll()
    bar.cancel()
    assert calls == []


def test_widget_text_repr_is_deterministic() -> None:
    """nbval compares text/plain: it must not change with progress or time."""
    bar, _fake, clock = widget_bar(HAPPY, description="quickstart")
    reprs = set()
    for _ in HAPPY:
        bar.poll()
        clock.tick(1.5)
        reprs.add(bar.widget._repr_mimebundle_()["text/plain"])
    assert reprs == {"ProgressBar('quickstart')"}
    assert "application/vnd.jupyter.widget-view+json" in bar.widget._repr_mimebundle_()


def test_widget_is_only_touched_when_something_changed() -> None:
    bar, _fake, clock = widget_bar([evaluating(30)])
    changes: list[str] = []
    bar.text.observe(lambda change: changes.append(change["new"]), names="value")
    bar.progress.observe(lambda change: changes.append(str(change["new"])), names="value")
    bar.poll()
    clock.tick(3.0)
    bar.poll()
    first = len(changes)
    assert first > 0
    for _ in range(5):  # same status, same shown time: nothing to send
        bar.poll()
    assert len(changes) == first
    clock.tick(5.0)  # only the elapsed time and ETA shown change
    bar.poll()
    assert len(changes) == first + 1
    assert "elapsed 00:08" in changes[-1]


def test_final_elapsed_comes_from_job_timestamps() -> None:
    started = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    done = success()
    done.update(started_at=started, finished_at=started + timedelta(seconds=42))
    bar, _fake, _clock = widget_bar([done])
    bar.poll()
    assert "elapsed 00:42" in bar.text.value


def test_status_fn_errors_are_shown_then_the_bar_gives_up() -> None:
    def broken() -> dict:
        raise KeyError("no backtest job 'x' in the database")

    bar = ProgressBar(broken, mode="widget", max_errors=3)
    assert bar.poll() is None
    assert "status unavailable: KeyError" in bar.text.value
    assert not bar.finished
    bar.poll()
    bar.poll()
    assert bar.finished
    assert bar.progress.bar_style == "danger"


def test_status_fn_recovers_after_a_transient_error() -> None:
    answers: list[Any] = [ConnectionError("blip"), evaluating(20)]

    def flaky() -> dict:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    bar = ProgressBar(flaky, mode="widget")
    bar.poll()
    assert "blip" in bar.text.value
    bar.poll()
    assert "blip" not in bar.text.value
    assert bar.error is None


def test_task_status_widget() -> None:
    info = {"task_id": "abc-123", "status": "FAILURE", "result": {"x": [1, 2]}, "error": "<bad>"}
    widget = task_status_widget(info)
    assert type(widget).__mro__[1].__name__ == "HTML"
    assert widget._repr_mimebundle_()["text/plain"] == (
        "TaskStatus(task_id='abc-123', status='FAILURE')"
    )
    value = widget.value
    assert value == task_status_html(info)
    assert "abc-123" in value and "FAILURE" in value
    assert '"x": [' in value.replace("&quot;", '"')
    assert "&lt;bad&gt;" in value and "<bad>" not in value


def test_task_status_html_for_get_task_status_shape() -> None:
    info = {
        "task_id": "t-2",
        "status": "PROGRESS",
        "result": None,
        "progress": evaluating(40)["progress"],
        "error": None,
        "job_id": "job-1",
        "pending": None,
    }
    value = task_status_html(info)
    assert "2/3 evaluate 40.0%" in value
    assert "job-1" in value
    assert "pending" not in value and ">error<" not in value  # empty fields are left out
    assert "{}" not in task_status_html({**info, "progress": {}})


# ---------------------------------------------------------------------------------------------
# Text front end and environment detection
# ---------------------------------------------------------------------------------------------


def test_text_fallback_writes_one_line_per_stage_when_not_a_tty() -> None:
    stream, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(FakeStatus(HAPPY), mode="text", stream=stream, clock=clock)
    assert bar.widget is None
    bar.display()  # shows the first line and starts the poller; stop it, step by hand
    bar.close()
    for _ in HAPPY:
        bar.poll()
        clock.tick(1.0)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert [line.split(" [")[0] for line in lines] == [
        "queued",
        "1/3 fetch",
        "2/3 evaluate",
        "3/3 save",
    ]
    assert lines[-1].endswith("| 470 bets | done")


def test_text_fallback_redraws_in_place_on_a_tty() -> None:
    stream, clock = TTYStream(), FakeClock()
    bar = ProgressBar(FakeStatus(HAPPY), mode="text", stream=stream, clock=clock)
    bar._shown = True  # as display() would, without a thread
    for _ in HAPPY:
        bar.poll()
        clock.tick(1.0)
    out = stream.getvalue()
    assert out.count("\r") == len(HAPPY)
    assert out.count("\n") == 1 and out.endswith("\n")
    assert out.rstrip().endswith("470 bets | done")
    assert "2/3 evaluate [#################...] 90/100 | 86.0%" in out


def test_text_display_of_a_finished_run_prints_only_the_end() -> None:
    stream = io.StringIO()
    bar = ProgressBar(FakeStatus([success()]), mode="text", stream=stream)
    bar.display()
    assert bar.wait(timeout=30)
    assert stream.getvalue().splitlines() == [bar.line]
    assert bar.line.startswith("3/3 save [")


def test_unchanged_status_is_not_redrawn() -> None:
    stream, clock = TTYStream(), FakeClock()
    bar = ProgressBar(FakeStatus([evaluating(30)]), mode="text", stream=stream, clock=clock)
    bar._shown = True
    for _ in range(5):
        bar.poll()
    assert stream.getvalue().count("\r") == 1
    clock.tick(2.0)  # the elapsed time shown changes: one redraw
    bar.poll()
    assert stream.getvalue().count("\r") == 2


def test_text_failure_line_carries_the_error() -> None:
    stream = io.StringIO()
    failure = status("FAILURE", evaluating(30)["progress"], "ValueError: no matches")
    bar = ProgressBar(FakeStatus([evaluating(30), failure]), mode="text", stream=stream)
    bar.display()
    assert bar.wait(timeout=30)
    assert stream.getvalue().splitlines()[-1].endswith("failed: ValueError: no matches")


def test_auto_mode_outside_a_kernel_is_text() -> None:
    assert in_notebook() is False  # pytest is no Jupyter kernel
    bar = ProgressBar(FakeStatus(HAPPY), stream=io.StringIO())
    assert bar.use_widget is False and bar.widget is None


def test_kernel_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython

    class Shell:
        def __init__(self, config: dict) -> None:
            self.config = config

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell({"IPKernelApp": {}}))
    assert in_notebook() is True
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell({"TerminalIPythonApp": {}}))
    assert in_notebook() is False
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert in_notebook() is False


def test_kernel_without_ipywidgets_falls_back_to_text(
    monkeypatch: pytest.MonkeyPatch, no_ipywidgets: None
) -> None:
    import IPython

    class Shell:
        config: ClassVar[dict[str, Any]] = {"IPKernelApp": {}}

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert in_notebook() is False
    stream = io.StringIO()
    bar = ProgressBar(FakeStatus([success()]), stream=stream)
    assert bar.use_widget is False
    bar.display()
    assert bar.wait(timeout=30)
    assert stream.getvalue().endswith("done\n")
    with pytest.raises(ImportError, match="ipywidgets"):
        ProgressBar(FakeStatus([success()]), mode="widget")


def test_no_ipython_at_all(monkeypatch: pytest.MonkeyPatch, no_ipywidgets: None) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)
    assert in_notebook() is False
    stream = io.StringIO()
    bar = ProgressBar(FakeStatus(HAPPY), stream=stream)
    bar.display()
    assert bar.wait(timeout=30)
    assert bar.state == "SUCCESS"
    html_view = task_status_widget({"task_id": "t", "status": "SUCCESS", "result": 3})
    assert "SUCCESS" in html_view._repr_html_()
    assert repr(html_view) == "TaskStatus(task_id='t', status='SUCCESS')"


def test_bad_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="mode"):
        ProgressBar(FakeStatus(HAPPY), mode="gui")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The poller thread
# ---------------------------------------------------------------------------------------------


def test_interval_never_below_the_floor() -> None:
    assert ProgressBar(FakeStatus(HAPPY), mode="text", interval=0.001).interval == MIN_INTERVAL
    assert ProgressBar(FakeStatus(HAPPY), mode="text").interval == 0.2


def test_thread_polls_until_the_end_state_and_stops() -> None:
    fake = FakeStatus(HAPPY)
    bar = ProgressBar(fake, mode="widget", interval=0.1)
    bar.display()
    assert bar.wait(timeout=30)
    assert not bar.running
    assert bar.state == "SUCCESS" and bar.progress.bar_style == "success"
    assert bar.button.disabled is True
    calls = fake.calls
    assert calls == len(HAPPY)  # it stopped polling at SUCCESS
    bar.start()  # a finished bar does not start again
    assert not bar.running and fake.calls == calls


def test_thread_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    hooked: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)

    def broken() -> dict:
        raise RuntimeError("database gone")

    bar = ProgressBar(broken, mode="widget", interval=0.1, max_errors=2)
    bar.start()
    assert bar.wait(timeout=30)
    assert hooked == []
    assert "database gone" in bar.text.value


def test_close_stops_a_running_bar() -> None:
    fake = FakeStatus([evaluating(10)])
    bar = ProgressBar(fake, mode="widget", interval=0.1, cancel_fn=lambda: None)
    bar.start()
    assert bar.running
    bar.close()
    assert bar.wait(timeout=30)  # joins; close() itself only waits briefly
    assert not bar.running
    assert not bar.finished
    assert bar.button.disabled is True
    calls = fake.calls
    bar.start()  # closed for good
    assert not bar.running and fake.calls == calls


def test_several_bars_run_at_once() -> None:
    failure = status("FAILURE", evaluating(5)["progress"], "boom")
    bars = [
        ProgressBar(FakeStatus(HAPPY), mode="widget", interval=0.1),
        ProgressBar(FakeStatus([status("PENDING"), evaluating(5), failure]), mode="widget"),
        ProgressBar(FakeStatus([status("REVOKED")]), mode="text", stream=io.StringIO()),
    ]
    for bar in bars:
        bar.start()
    assert all(bar.wait(timeout=30) for bar in bars)
    assert [bar.state for bar in bars] == ["SUCCESS", "FAILURE", "REVOKED"]
    assert bars[0].widget.model_id != bars[1].widget.model_id


def test_ipython_display_hook_shows_and_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    shown: list[Any] = []
    updates: list[dict[str, Any]] = []

    class Handle:
        def update(self, obj: dict[str, Any], raw: bool = False) -> None:
            updates.append(obj)

    def display(obj: Any, raw: bool = False, display_id: bool = False) -> Handle:
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    bar = ProgressBar(FakeStatus([success()]), mode="widget", interval=0.1, description="q")
    bar._ipython_display_()
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]
    assert shown[0]["application/vnd.jupyter.widget-view+json"]["model_id"] == bar.widget.model_id
    assert bar.wait(timeout=30)
    bar._ipython_display_()  # shown once
    assert len(shown) == 1
    # the stored output ends with a static copy of the final bar (nbviewer, GitHub)
    (final,) = updates
    assert final["text/plain"].startswith("ProgressBar('q'): q: 3/3 save [")
    assert final["text/plain"].endswith("470 bets | done")
    assert final["text/html"].startswith('<div class="filterbets-static">q: 3/3 save <progress')
    assert "470 bets" in final["text/html"] and "\n" not in final["text/html"]


# ---------------------------------------------------------------------------------------------
# MultiProgress
# ---------------------------------------------------------------------------------------------


def test_multi_progress_aggregates_runs() -> None:
    clock = FakeClock()
    failure = status("FAILURE", evaluating(5)["progress"], "boom")
    cancelled: list[str] = []
    multi = MultiProgress(
        {
            "A": FakeStatus([evaluating(50), success()]),
            "B": FakeStatus([fetch(100), evaluating(20), failure]),
        },
        {"A": lambda: cancelled.append("A"), "B": lambda: cancelled.append("B")},
        description="compare",
        mode="widget",
        clock=clock,
    )
    head, *rows = multi.widget.children
    assert [row for row in rows] == [bar.widget for bar in multi.bars]
    assert "widget-progress" in head.children[1]._dom_classes
    assert repr(multi.widget) == "MultiProgress('compare', runs=2)"

    multi.poll()
    assert head.children[0].value == "compare: 0/2 done"
    # A: evaluate 50 % -> 50 overall; B: fetch done -> 5 overall
    assert multi.progress.value == pytest.approx((50 + 5) / 2)
    assert multi.bars[0].label.value == "A: 2/3 evaluate"

    multi.poll()
    assert head.children[0].value == "compare: 1/2 done"
    head.children[3].click()  # Cancel all: only B is still running
    assert cancelled == ["B"]

    multi.poll()
    assert multi.finished
    assert head.children[0].value == "compare: 2/2 done"
    assert multi.progress.value == 100.0
    assert multi.progress.bar_style == "danger"  # one run failed
    assert "1 failed" in multi.text.value
    assert [s["state"] for s in multi.statuses] == ["SUCCESS", "FAILURE"]


def test_multi_progress_all_success_is_green_and_threaded() -> None:
    fakes = [FakeStatus(HAPPY), FakeStatus([evaluating(1), success(3)])]
    multi = MultiProgress(fakes, mode="widget", interval=0.1)
    multi.start()
    assert multi.wait(timeout=30)
    assert multi.finished and not multi.running
    assert multi.progress.bar_style == "success"
    assert all(bar.button.disabled for bar in multi.bars)


def test_multi_progress_text_lines() -> None:
    stream, clock = io.StringIO(), FakeClock()
    multi = MultiProgress(
        [FakeStatus([evaluating(10), success()]), FakeStatus([status("REVOKED")])],
        mode="text",
        stream=stream,
        clock=clock,
    )
    multi._shown = True
    multi.poll()
    multi.poll()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("#2: queued") is False
    assert any(line.startswith("#2: ") and "cancelled" in line for line in lines)
    assert any(line.startswith("#1: 3/3 save") and "done" in line for line in lines)
    assert lines[-1].startswith("runs: 2/2 done [####################] 100.0%")


def test_multi_progress_with_no_runs_is_done() -> None:
    multi = MultiProgress([], mode="text", stream=io.StringIO())
    assert multi.finished and multi.percent == 100.0
    assert multi.wait(timeout=5)


def test_module_all_is_importable() -> None:
    for name in notebook.__all__:
        assert hasattr(notebook, name)
