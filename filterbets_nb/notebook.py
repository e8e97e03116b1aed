"""Live progress of backtests in Jupyter (ipywidgets) or anywhere else (one line of text).

Modelled on tqdm's notebook front end, with one difference: a bar is *driven by polling*, not by
the code doing the work. The work happens in a Celery worker, so all a notebook can do is ask
"how far along are you?". A bar therefore needs only a ``status_fn`` returning the status dict of
``BacktestRun.status()``::

    {"state": "PROGRESS", "error": None, "started_at": ..., "finished_at": ...,
     "progress": {"current", "total", "percent", "stage", "stage_index", "stages",
                  "description", ...extras such as "bets"}}

and, optionally, a ``cancel_fn``. Knowing nothing about Celery keeps the bar testable with a list
of dicts and reusable for any job that reports the same shape.

Front ends (chosen once, when the bar is made):

* **widget** — in a Jupyter kernel with ipywidgets importable: an ``HBox`` of a stage ``Label``,
  a ``FloatProgress`` (0-100, carrying the CSS class ``widget-progress``), an ``HTML`` with
  counts, percent, elapsed time, ETA and bets so far, and a Cancel ``Button``. The bar turns
  green (``bar_style="success"``) on SUCCESS, red (``"danger"``, error text shown) on FAILURE and
  grey on REVOKED: ``bar_style=""`` plus ``style.bar_color`` :data:`REVOKED_COLOR`, because none
  of the Bootstrap-like styles means "stopped on purpose" ("warning" orange reads as a problem).
* **text** — plain Python, the CLI, CI, or ipywidgets missing: one line on a stream (stderr by
  default), redrawn in place with ``\\r`` on a terminal, and one line per stage or end state
  otherwise, so logs stay short.

A daemon thread polls every ``interval`` seconds (never faster than :data:`MIN_INTERVAL`, to keep
a database-backed ``status_fn`` cheap), touches the widget only when what it shows changed,
stops at an end state or :meth:`ProgressBar.close`, and never lets an exception reach the kernel:
failures are shown in the bar's text instead.

Stored notebooks are compared by nbval, so the ``text/plain`` repr of every widget made here is
a fixed string without timings or progress; timings live only in the HTML value.
"""

from __future__ import annotations

import contextlib
import html
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TextIO

from filterbets_nb.progress_text import (
    _details,
    _number,
    _state,
    eta,
    format_seconds,
    job_percent,
    overall_percent,
    render_text,
    stage_label,
    stage_percent,
)
from filterbets_nb.status import ENDED_STATES

__all__ = [
    "DEFAULT_INTERVAL",
    "MIN_INTERVAL",
    "REVOKED_COLOR",
    "TERMINAL_STATES",
    "MultiProgress",
    "ProgressBar",
    "eta",
    "format_seconds",
    "in_notebook",
    "job_percent",
    "overall_percent",
    "render_html",
    "render_text",
    "stage_label",
    "task_status_html",
    "task_status_widget",
]

StatusFn = Callable[[], Mapping[str, Any]]
CancelFn = Callable[[], None]
Mode = Literal["auto", "widget", "text"]

# The one definition of the end states lives in the dependency-free status module, so this
# module still imports nothing heavy (no Celery, no SQLAlchemy).
TERMINAL_STATES = ENDED_STATES
DEFAULT_INTERVAL = 0.2
MIN_INTERVAL = 0.1
REVOKED_COLOR = "#9e9e9e"
_ERROR_COLOR = "var(--jp-error-color1, #d32f2f)"
_BAR_STYLES = {"SUCCESS": "success", "FAILURE": "danger"}
_ONE_LINE = "display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis"


# ---------------------------------------------------------------------------------------------
# Environment detection
# ---------------------------------------------------------------------------------------------


def _widgets() -> Any | None:
    """The ipywidgets module, or None when it cannot be imported (the text fallback applies).

    Any exception counts as "missing": a half-broken install must not break a backtest.
    """
    try:
        import ipywidgets
    except Exception:
        return None
    return ipywidgets


def in_notebook() -> bool:
    """True in a Jupyter kernel (``IPKernelApp`` in the shell's config) with ipywidgets.

    Terminal IPython has a shell but no kernel, and cannot render widgets, so it gets text.
    """
    try:
        from IPython import get_ipython
    except Exception:
        return False
    try:
        shell = get_ipython()
        kernel = shell is not None and "IPKernelApp" in shell.config
    except Exception:
        return False
    return bool(kernel) and _widgets() is not None


def _fixed_repr(widget: Any, text: str) -> Any:
    """Give ``widget`` a constant repr, hence a constant ``text/plain`` output.

    ipywidgets uses ``repr(widget)`` (children, values and all) as the ``text/plain`` part of a
    displayed widget; nbval compares that part, so it must not carry progress or timings.
    A per-base subclass is used because ``__repr__`` is looked up on the type.
    """
    base = type(widget)
    cls = _FIXED_REPR_CLASSES.get(base)
    if cls is None:
        cls = type(base.__name__, (base,), {"__repr__": _constant_repr, "__module__": __name__})
        _FIXED_REPR_CLASSES[base] = cls
    widget.__class__ = cls
    widget._fb_repr = text
    return widget


def _constant_repr(self: Any) -> str:
    return str(getattr(self, "_fb_repr", "widget"))


_FIXED_REPR_CLASSES: dict[type, type] = {}


# ---------------------------------------------------------------------------------------------
# HTML rendering (the text pieces come from progress_text)
# ---------------------------------------------------------------------------------------------


def render_html(
    status: Mapping[str, Any],
    *,
    elapsed: float | None = None,
    stage_elapsed: float | None = None,
    note: str = "",
) -> str:
    """The widget's HTML text: the same details as :func:`render_text`, escaped, with a
    failure (or ``note``, e.g. a status_fn error) in the theme's error colour."""
    parts = [html.escape(part) for part in _details(status, elapsed, stage_elapsed)]
    if _state(status) == "FAILURE":
        parts[-1] = f'<span style="color:{_ERROR_COLOR}">{parts[-1]}</span>'
    body = " · ".join(parts)
    if note:
        body += f' · <span style="color:{_ERROR_COLOR}">{html.escape(note)}</span>'
    # One line whatever the width: what does not fit is cut with "…" (the title shows it all).
    title = html.escape(" · ".join(_details(status, elapsed, stage_elapsed)), quote=True)
    return (
        f'<span class="filterbets-progress-text" title="{title}" style="{_ONE_LINE}">{body}</span>'
    )


def _bar_style(state: str) -> tuple[str, str | None]:
    """``(bar_style, bar_color)`` for a state; grey for REVOKED is a colour, not a style."""
    if state == "REVOKED":
        return "", REVOKED_COLOR
    return _BAR_STYLES.get(state, ""), None


# ---------------------------------------------------------------------------------------------
# Polling machinery shared by ProgressBar and MultiProgress
# ---------------------------------------------------------------------------------------------


def _resolve_mode(mode: Mode) -> bool:
    """Whether to build widgets. ``"widget"`` insists (ImportError if ipywidgets is missing),
    ``"auto"`` uses widgets only in a Jupyter kernel, ``"text"`` never."""
    if mode == "text":
        return False
    if mode == "widget":
        if _widgets() is None:
            raise ImportError("ProgressBar(mode='widget') needs ipywidgets: pip install ipywidgets")
        return True
    if mode == "auto":
        return in_notebook()
    raise ValueError(f"mode must be 'auto', 'widget' or 'text', not {mode!r}")


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


class _Poller:
    """A daemon thread calling :meth:`_tick` every ``interval`` until it reports the end.

    Subclasses implement ``_tick`` (returns True when finished) and ``_show``; everything that
    touches threads lives here so both bar kinds stop, join and display the same way.
    """

    def __init__(self, interval: float, use_widget: bool, stream: TextIO | None) -> None:
        self.interval = max(_number(interval, DEFAULT_INTERVAL), MIN_INTERVAL)
        self.use_widget = use_widget
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self._tty = _isatty(self.stream)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False
        self._handle: Any = None

    def _init_widget(self) -> None:
        """The widget parts, built only when a notebook front end can draw them."""
        self.widget: Any = None
        self.label: Any = None
        self.progress: Any = None
        self.text: Any = None
        self.button: Any = None
        if self.use_widget:
            self._build_widget()

    def _build_widget(self) -> None:
        raise NotImplementedError

    def _fallback(self) -> tuple[str, str]:
        """``(one text line, one line of HTML)`` of what the bar shows now, without widgets."""
        raise NotImplementedError

    def _bundle(self) -> dict[str, Any]:
        """The widget's display data plus a static ``text/plain`` and ``text/html`` of the bar.

        A stored notebook opened without the widget state (untrusted, GitHub, nbviewer) shows
        these instead of ``ProgressBar('quickstart')``. Both start with a fixed head (the
        repr; the ``filterbets-static`` div) that ``notebooks/sanitize.cfg`` keeps for nbval.
        """
        data = dict(self.widget._repr_mimebundle_() or {})
        text, body = self._fallback()
        data["text/plain"] = f"{self!r}: {text}"
        data["text/html"] = f'<div class="filterbets-static">{body}</div>'
        return data

    def _display_widget(self) -> None:
        from IPython.display import display

        self._handle = display(self._bundle(), raw=True, display_id=True)

    def _publish_final(self) -> None:
        """Replace the displayed output's static parts with the final state (once)."""
        handle, self._handle = self._handle, None
        if handle is None or self.widget is None:
            return
        # A closed kernel channel must not raise: the live widget still shows the end.
        with contextlib.suppress(Exception):
            handle.update(self._bundle(), raw=True)

    @property
    def finished(self) -> bool:
        """True once an end state was seen (or the bar gave up on an unreachable status)."""
        return self._finished.is_set()

    @property
    def running(self) -> bool:
        """True while the poller thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _tick(self) -> bool:
        raise NotImplementedError

    def _show(self) -> None:
        raise NotImplementedError

    def _after_stop(self) -> None:
        """Hook run once polling ends (disable buttons, end the text line)."""

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                if self._tick():
                    break
                self._stop.wait(self.interval)
        except BaseException:  # never into the kernel: _tick already reports its own errors
            pass
        finally:
            self._after_stop()

    def start(self) -> None:
        """Start polling in a daemon thread (idempotent; no-op once finished or closed)."""
        with self._lock:
            if self._thread is not None or self.finished or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._loop, name=f"filterbets-{type(self).__name__}", daemon=True
            )
            self._thread.start()

    def display(self) -> None:
        """Show the bar (widget output, or the first text line) and start polling."""
        if not self._shown:
            self._shown = True
            self._show()
            if self.finished:  # ended before display: no poller will run to publish the end
                self._publish_final()
        self.start()

    def _ipython_display_(self) -> None:
        """IPython hook: a bar as a cell's last expression displays itself."""
        self.display()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until polling ended (starting it if needed); True if it ended in time.

        Blocking the kernel is the caller's choice: the widget keeps updating meanwhile,
        because updates come from the poller thread.
        """
        self.start()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def close(self) -> None:
        """Stop polling (the widget stays on screen, frozen, its button disabled)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(self.interval * 10, 2.0))
        if thread is None:
            self._after_stop()


@dataclass(frozen=True)
class _Frame:
    """Everything one redraw shows; equal frames mean nothing to send to the browser."""

    label: str
    percent: float
    html: str
    text: str
    bar_style: str
    bar_color: str | None
    finished: bool
    line_key: tuple[Any, ...]


def _datetime_span(status: Mapping[str, Any]) -> float | None:
    started, finished = status.get("started_at"), status.get("finished_at")
    if isinstance(started, datetime) and isinstance(finished, datetime):
        try:
            return max((finished - started).total_seconds(), 0.0)
        except TypeError:  # naive vs aware
            return None
    return None


def _bar_row(
    *, label: str, html_value: str, button: str, tooltip: str, can_cancel: bool
) -> tuple[Any, Any, Any, Any, Any]:
    """``(Label, FloatProgress, HTML, Button, HBox)`` of one bar row.

    Fixed widths for the label and bar keep rows of a :class:`MultiProgress` aligned and stop
    the bar from jumping as the text grows; the text takes the rest and wraps if it must.
    """
    widgets = _widgets()
    assert widgets is not None  # callers checked through _resolve_mode
    # Sized for JupyterLab's default notebook width (~ 800 px of output): label, bar and a
    # one-line text that cuts what does not fit, so the row never wraps.
    label_widget = widgets.Label(value=label, layout=widgets.Layout(width="11em", flex="0 0 auto"))
    progress = widgets.FloatProgress(
        value=0.0, min=0.0, max=100.0, layout=widgets.Layout(width="30%", flex="0 0 auto")
    )
    # FloatProgress draws as "widget-hprogress"; add stable names that
    # scripts/browser_check.py and user CSS can rely on.
    progress.add_class("widget-progress")
    progress.add_class("filterbets-progress")
    text = widgets.HTML(
        value=html_value, layout=widgets.Layout(flex="1 1 auto", min_width="0", overflow="hidden")
    )
    button_widget = widgets.Button(
        description=button,
        icon="stop",
        tooltip=tooltip,
        disabled=not can_cancel,
        layout=widgets.Layout(width="auto", flex="0 0 auto"),
    )
    if not can_cancel:
        button_widget.layout.display = "none"
    box = widgets.HBox(
        [label_widget, progress, text, button_widget], layout=widgets.Layout(flex_flow="row nowrap")
    )
    box.add_class("filterbets-progress-bar")
    return label_widget, progress, text, button_widget, box


class ProgressBar(_Poller):
    """Live view of one run, driven only by ``status_fn`` (and ``cancel_fn`` for the button).

    >>> bar = ProgressBar(run.status, run.cancel, description="quickstart")
    >>> bar            # in Jupyter: a widget, updated by a background thread
    >>> bar.wait(60)   # elsewhere: text on stderr until the run ends

    Elapsed time is measured with ``clock`` from the first status seen (the job's own
    ``started_at``/``finished_at`` are used for the final figure when both are datetimes, so a
    bar attached to an old run does not claim it took no time). ``silent`` suppresses text
    output; :class:`MultiProgress` uses it to draw one line for many runs.
    """

    def __init__(
        self,
        status_fn: StatusFn,
        cancel_fn: CancelFn | None = None,
        *,
        description: str = "",
        interval: float = DEFAULT_INTERVAL,
        mode: Mode = "auto",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_errors: int = 10,
        silent: bool = False,
    ) -> None:
        super().__init__(interval, _resolve_mode(mode), stream)
        self.status_fn = status_fn
        self.cancel_fn = cancel_fn
        self.description = description
        self.max_errors = max(int(max_errors), 1)
        self.silent = silent
        self._clock = clock
        self.status: dict[str, Any] = {"state": "PENDING", "progress": {}, "error": None}
        self.error: str | None = None  # last status_fn / cancel_fn failure, shown in the text
        self._errors = 0
        self._cancelling = False
        self._t0: float | None = None
        self._t_end: float | None = None
        self._stage: str | None = None
        self._stage_t0: float | None = None
        self._frame: _Frame | None = None
        self._line_key: tuple[Any, ...] | None = None
        self._line_len = 0
        self._line_open = False
        self._init_widget()

    def __repr__(self) -> str:
        return f"ProgressBar({self.description!r})" if self.description else "ProgressBar()"

    @property
    def state(self) -> str:
        """The last state seen (PENDING before the first poll)."""
        return _state(self.status)

    @property
    def line(self) -> str:
        """The current text line (what the text front end shows; handy in logs and tests)."""
        return self._frame.text if self._frame is not None else render_text(self.status)

    # -- widget ------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        self.label, self.progress, self.text, self.button, box = _bar_row(
            label="queued",
            html_value=render_html(self.status),
            button="Cancel",
            tooltip="Revoke every task of this run",
            can_cancel=self.cancel_fn is not None,
        )
        self.button.on_click(self._on_click)
        self.widget = _fixed_repr(box, repr(self))

    def _on_click(self, _button: Any) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Call ``cancel_fn`` once (the button does this); errors are shown, not raised.

        The poller then sees REVOKED and ends the bar, so the bar's state always comes from
        the job, never from the click alone.
        """
        with self._lock:
            if self.cancel_fn is None or self.finished or self._cancelling:
                return
            self._cancelling = True  # a double click must not revoke twice
        if self.button is not None:
            self.button.disabled = True
            self.button.description = "Cancelling…"
        try:
            self.cancel_fn()
        except Exception as exc:
            self._cancelling = False
            self.error = f"cancel failed: {type(exc).__name__}: {exc}"
            if self.button is not None:
                self.button.disabled = False
                self.button.description = "Cancel"
            self._redraw()

    # -- polling -----------------------------------------------------------------------------

    def poll(self) -> dict[str, Any] | None:
        """Call ``status_fn`` once and redraw; the status, or None if it raised.

        Never raises. After ``max_errors`` failures in a row the bar ends (red, with the
        error), so a deleted job does not keep a thread polling forever.
        """
        try:
            status = dict(self.status_fn())
        except Exception as exc:
            self._errors += 1
            self.error = f"status unavailable: {type(exc).__name__}: {exc}"
            if self._errors >= self.max_errors:
                self._finished.set()
            self._redraw()
            return None
        self._errors = 0
        if self.error and self.error.startswith("status unavailable"):
            self.error = None
        self.update(status)
        return status

    def update(self, status: Mapping[str, Any]) -> None:
        """Show ``status`` (push-style use, and what :meth:`poll` does with each result)."""
        with self._lock:
            now = self._clock()
            if self._t0 is None:
                self._t0 = now
            self.status = dict(status)
            label = stage_label(self.status)
            if label != self._stage:
                self._stage, self._stage_t0 = label, now
            if self.state in TERMINAL_STATES:
                if self._t_end is None:
                    self._t_end = now
                self._finished.set()
        self._redraw(now)

    def _tick(self) -> bool:
        self.poll()
        return self.finished

    def _elapsed(self, now: float) -> tuple[float | None, float | None]:
        if self._t0 is None:
            return None, None
        end = self._t_end if self._t_end is not None else now
        span = _datetime_span(self.status) if self._t_end is not None else None
        elapsed = span if span is not None else end - self._t0
        stage_t0 = self._stage_t0 if self._stage_t0 is not None else self._t0
        return elapsed, end - stage_t0

    def _make_frame(self, now: float) -> _Frame:
        elapsed, stage_elapsed = self._elapsed(now)
        state = self.state
        failed_polling = self.finished and state not in TERMINAL_STATES
        style, color = _bar_style("FAILURE" if failed_polling else state)
        text = render_text(
            self.status,
            elapsed=elapsed,
            stage_elapsed=stage_elapsed,
            description=self.description,
        )
        if self.error:
            text += f" | {self.error}"
        label = stage_label(self.status)
        return _Frame(
            label=f"{self.description}: {label}" if self.description else label,
            percent=job_percent(self.status),
            html=render_html(
                self.status, elapsed=elapsed, stage_elapsed=stage_elapsed, note=self.error or ""
            ),
            text=text,
            bar_style=style,
            bar_color=color,
            finished=self.finished,
            line_key=(state, label, self.status.get("notice")),
        )

    def _redraw(self, now: float | None = None) -> None:
        """Render and push only what changed; any failure ends up in the text, not raised.

        ``now`` is the clock reading of the status being shown, so one update reads the clock
        once (deterministic under a fake clock); other redraws read it afresh.
        """
        try:
            with self._lock:
                frame = self._make_frame(self._clock() if now is None else now)
                if frame == self._frame:
                    return
                self._frame = frame
                if self.use_widget:
                    self._apply_widget(frame)
                elif not self.silent:
                    self._write_text(frame)
        except Exception as exc:  # a rendering bug must not kill the poller or the kernel
            self.error = f"display error: {type(exc).__name__}: {exc}"

    def _apply_widget(self, frame: _Frame) -> None:
        self.label.value = frame.label
        self.progress.value = frame.percent
        self.progress.bar_style = frame.bar_style
        self.progress.style.bar_color = frame.bar_color
        self.text.value = frame.html
        if frame.finished:
            self.button.disabled = True
            self.button.description = "Cancel"

    def _write_text(self, frame: _Frame) -> None:
        if not self._shown:
            return
        if self._tty:
            line = frame.text
            pad = max(self._line_len - len(line), 0)
            self.stream.write("\r" + line + " " * pad)
            self._line_len = len(line)
            self._line_open = True
            if frame.finished:
                self.stream.write("\n")
                self._line_open = False
        elif frame.line_key != self._line_key or (frame.finished and self._line_open):
            self.stream.write(frame.text + "\n")
            self._line_open = not frame.finished
        self._line_key = frame.line_key
        self.stream.flush()

    def _show(self) -> None:
        """Display, then draw at once: the first status is fetched here, synchronously, so a
        bar attached to a finished run never starts with a stray "queued" line."""
        if self.use_widget:
            self._display_widget()
        self._frame = None  # draw now even if a frame was computed before showing
        if self._t0 is None:
            self.poll()
        else:
            self._redraw()

    def _fallback(self) -> tuple[str, str]:
        frame = self._frame
        if frame is None:
            return render_text(self.status, description=self.description), ""
        bar = f'<progress max="100" value="{frame.percent:.1f}"></progress>'
        return frame.text, f"{html.escape(frame.label)} {bar} {frame.html}"

    def _after_stop(self) -> None:
        self._publish_final()
        with self._lock:
            if self.button is not None:
                self.button.disabled = True
            if not self.use_widget and self._tty and self._line_open and not self.silent:
                try:
                    self.stream.write("\n")
                    self.stream.flush()
                except Exception:
                    pass
                self._line_open = False


# ---------------------------------------------------------------------------------------------
# Several runs: one aggregate bar plus one bar each
# ---------------------------------------------------------------------------------------------


class MultiProgress(_Poller):
    """An aggregate bar over several runs (e.g. ``fb.compare([...])``) plus one bar per run.

    One thread polls every unfinished run in turn, so N runs cost one thread, not N. The
    aggregate shows how many runs ended and the mean of :func:`overall_percent`; it ends green
    if all succeeded, red if any failed, grey otherwise. In text mode only the aggregate line
    is drawn, plus one line per run when it ends.
    """

    def __init__(
        self,
        status_fns: Sequence[StatusFn] | Mapping[str, StatusFn],
        cancel_fns: Sequence[CancelFn | None] | Mapping[str, CancelFn | None] | None = None,
        *,
        description: str = "runs",
        interval: float = DEFAULT_INTERVAL,
        mode: Mode = "auto",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(interval, _resolve_mode(mode), stream)
        if isinstance(status_fns, Mapping):
            names = [str(name) for name in status_fns]
            fns = list(status_fns.values())
        else:
            fns = list(status_fns)
            names = [f"#{i + 1}" for i in range(len(fns))]
        if isinstance(cancel_fns, Mapping):
            cancels: list[CancelFn | None] = [cancel_fns.get(name) for name in names]
        else:
            cancels = list(cancel_fns or [])
        cancels += [None] * (len(fns) - len(cancels))
        self.description = description
        self._clock = clock
        self.bars = [
            ProgressBar(
                fn,
                cancel,
                description=name,
                interval=interval,
                mode="widget" if self.use_widget else "text",
                stream=self.stream,
                clock=clock,
                silent=True,
            )
            for name, fn, cancel in zip(names, fns, cancels, strict=True)
        ]
        self._t0: float | None = None
        self._t_end: float | None = None
        self._reported: set[int] = set()
        self._last_line: str | None = None
        self._line_len = 0
        self._init_widget()
        if not self.bars:
            self._finished.set()

    def __repr__(self) -> str:
        return f"MultiProgress({self.description!r}, runs={len(self.bars)})"

    def _build_widget(self) -> None:
        widgets = _widgets()
        assert widgets is not None  # _resolve_mode checked
        self.label, self.progress, self.text, self.button, head = _bar_row(
            label=self._label(),
            html_value="",
            button="Cancel all",
            tooltip="Revoke every run that has not ended",
            can_cancel=any(bar.cancel_fn for bar in self.bars),
        )
        self.button.on_click(lambda _b: self.cancel())
        box = widgets.VBox([head, *(bar.widget for bar in self.bars)])
        self.widget = _fixed_repr(box, repr(self))

    @property
    def statuses(self) -> list[dict[str, Any]]:
        """The last status of each run, in order."""
        return [bar.status for bar in self.bars]

    @property
    def percent(self) -> float:
        """Mean of the runs' :func:`overall_percent` (100 when there are none)."""
        if not self.bars:
            return 100.0
        return sum(overall_percent(bar.status) for bar in self.bars) / len(self.bars)

    def _label(self) -> str:
        done = sum(bar.finished for bar in self.bars)
        return f"{self.description}: {done}/{len(self.bars)} done"

    def _outcome_state(self) -> str:
        states = [bar.state if bar.state in TERMINAL_STATES else "FAILURE" for bar in self.bars]
        if any(state == "FAILURE" for state in states):
            return "FAILURE"
        if all(state == "SUCCESS" for state in states):
            return "SUCCESS"
        return "REVOKED"

    def cancel(self) -> None:
        """Cancel every run that has not ended and has a ``cancel_fn``."""
        for bar in self.bars:
            bar.cancel()

    def poll(self) -> None:
        """Poll each unfinished run once, then redraw the aggregate. Never raises."""
        for bar in self.bars:
            if not bar.finished:
                bar.poll()
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        if all(bar.finished for bar in self.bars):
            if self._t_end is None:
                self._t_end = now
            self._finished.set()
        self._redraw()

    def _tick(self) -> bool:
        self.poll()
        return self.finished

    def _summary(self) -> tuple[str, str]:
        """(text details, html) of the aggregate."""
        elapsed = None
        if self._t0 is not None:
            end = self._t_end if self._t_end is not None else self._clock()
            elapsed = end - self._t0
        percent = self.percent
        parts = [f"{percent:.1f}%"]
        if elapsed is not None:
            if self.finished:
                parts.append(f"elapsed {format_seconds(elapsed)}")
            else:
                left = format_seconds(eta(elapsed, percent))
                parts.append(f"elapsed {format_seconds(elapsed)}, ETA {left}")
        failed = sum(bar.state == "FAILURE" for bar in self.bars)
        if failed:
            parts.append(f"{failed} failed")
        text = " | ".join(parts)
        return text, '<span class="filterbets-progress-text">' + html.escape(
            " · ".join(parts)
        ) + "</span>"

    def _redraw(self) -> None:
        try:
            with self._lock:
                details, body = self._summary()
                if self.use_widget:
                    self.label.value = self._label()
                    self.progress.value = self.percent
                    style, color = (
                        _bar_style(self._outcome_state()) if self.finished else ("", None)
                    )
                    self.progress.bar_style = style
                    self.progress.style.bar_color = color
                    self.text.value = body
                    if self.finished:
                        self.button.disabled = True
                elif self._shown:
                    self._write_text(details)
        except Exception:  # never into the kernel; the per-run bars still show their errors
            pass

    def _write_text(self, details: str) -> None:
        filled = int(self.percent / 100.0 * 20)
        line = f"{self._label()} [{'#' * filled}{'.' * (20 - filled)}] {details}"
        for i, bar in enumerate(self.bars):
            if bar.finished and i not in self._reported and bar._frame is not None:
                self._reported.add(i)
                if self._tty:
                    self.stream.write("\r" + " " * self._line_len + "\r")
                self.stream.write(bar._frame.text + "\n")
                self._last_line = None
        if self._tty:
            self.stream.write("\r" + line + " " * max(self._line_len - len(line), 0))
            self._line_len = len(line)
            if self.finished:
                self.stream.write("\n")
        elif self._last_line is None or (self.finished and self._last_line != line):
            self.stream.write(line + "\n")
        self._last_line = line
        self.stream.flush()

    def _show(self) -> None:
        if self.use_widget:
            self._display_widget()
        if self._t0 is None and not self.finished:
            self.poll()
        else:
            self._redraw()

    def _fallback(self) -> tuple[str, str]:
        details, body = self._summary()
        rows = [f"{html.escape(self._label())} {body}"]
        rows += [bar._fallback()[1] for bar in self.bars]
        return f"{self._label()} | {details}", "<br>".join(rows)

    def _after_stop(self) -> None:
        for bar in self.bars:
            bar._after_stop()
        self._publish_final()
        if self.button is not None:
            self.button.disabled = True


# ---------------------------------------------------------------------------------------------
# Static view of one task's status (fb.task_status)
# ---------------------------------------------------------------------------------------------

_STATUS_COLORS = {
    "SUCCESS": "var(--jp-success-color1, #388e3c)",
    "FAILURE": _ERROR_COLOR,
    "REVOKED": REVOKED_COLOR,
}


def _html_value(value: Any, limit: int = 2000) -> str:
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, indent=1, default=str, sort_keys=True)
    else:
        text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return f'<pre style="margin:0">{html.escape(text)}</pre>'


def task_status_html(status: Mapping[str, Any]) -> str:
    """A small HTML table of a task status dict: task_id, status (coloured), result, then any
    other keys (error, traceback, ...). Pure, so it is tested without widgets."""
    state = str(status.get("status") or status.get("state") or "PENDING")
    color = _STATUS_COLORS.get(state.upper(), "var(--jp-brand-color1, #1976d2)")
    rows = [
        ("task_id", html.escape(str(status.get("task_id", "")))),
        ("status", f'<b style="color:{color}">{html.escape(state)}</b>'),
        ("result", _html_value(status.get("result"))),
    ]
    for key, value in status.items():
        if key in ("task_id", "status", "state", "result") or value is None or value == "":
            continue
        if isinstance(value, Mapping | list | tuple) and not value:
            continue
        if key == "progress" and isinstance(value, Mapping):
            # The same words as the live bar: "2/3 evaluate 40.0%", not a dict dump.
            shown = {"state": state, "progress": value}
            cell = html.escape(f"{stage_label(shown)} {stage_percent(shown):.1f}%")
            rows.append(("progress", cell))
            continue
        rows.append((html.escape(str(key)), _html_value(value)))
    cells = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{k}</th><td>{v}</td></tr>'
        for k, v in rows
    )
    return f'<table class="filterbets-task-status">{cells}</table>'


class _StaticHTML:
    """What :func:`task_status_widget` returns without ipywidgets: IPython and nbconvert
    render ``_repr_html_``, terminals the repr."""

    def __init__(self, value: str, text: str) -> None:
        self.value = value
        self._text = text

    def _repr_html_(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return self._text


def task_status_widget(status: Mapping[str, Any]) -> Any:
    """A static view of a task status dict, for ``fb.task_status(...)``.

    An ``ipywidgets.HTML`` (with a constant-per-status text repr for nbval) when ipywidgets is
    importable, else an object with ``_repr_html_``; both expose the HTML as ``.value``.
    """
    state = str(status.get("status") or status.get("state") or "PENDING")
    text = f"TaskStatus(task_id={str(status.get('task_id', ''))!r}, status={state!r})"
    value = task_status_html(status)
    widgets = _widgets()
    if widgets is None:
        return _StaticHTML(value, text)
    return _fixed_repr(widgets.HTML(value=value), text)
