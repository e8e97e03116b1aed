"""``fb.monitor()``: Flower's essentials in the notebook, refreshed every couple of seconds.

What it shows (one :func:`snapshot`): the workers that answer (name, pool, active tasks), the
queue depths (Redis list lengths; message files waiting in the filesystem broker), the running
jobs with their bars, and the last finished jobs. Reading only: the monitor never changes a job.

A daemon thread polls; :meth:`Monitor.stop` (or the kernel ending) stops it. In Jupyter it is an
``ipywidgets.HTML``; elsewhere one text block per refresh on a stream.
"""

from __future__ import annotations

import html
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, TextIO

from filterbets_nb.config import Settings, get_settings
from filterbets_nb.formatting import format_value
from filterbets_nb.notebook import _widgets, in_notebook, job_percent, render_text

#: The queues the workers listen on (``filterbets-nb worker -Q backtest,stats``).
QUEUES = ("backtest", "stats")
DEFAULT_REFRESH = 2.0
#: Finished jobs listed under the running ones.
RECENT = 5


@dataclass
class Snapshot:
    """One look at the task system."""

    workers: list[dict[str, Any]] = field(default_factory=list)
    queues: dict[str, int | None] = field(default_factory=dict)
    running: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def queue_depths(settings: Settings) -> dict[str, int | None]:
    """Messages waiting per queue: Redis list lengths, or the filesystem broker's files."""
    if settings.mode == "embedded":
        folder = settings.broker_folder
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        return {q: sum(name.endswith(f".{q}.msg") for name in names) for q in QUEUES}
    import redis

    client = redis.Redis.from_url(settings.broker, socket_timeout=2)
    try:
        return {q: int(client.llen(q)) for q in QUEUES}
    finally:
        client.close()


def _workers(timeout: float) -> list[dict[str, Any]]:
    from filterbets_nb.tasks.celery_app import get_app

    inspect = get_app().control.inspect(timeout=timeout)
    stats = inspect.stats() or {}
    active = inspect.active() or {}
    rows = []
    for name in sorted(set(stats) | set(active)):
        pool = (stats.get(name) or {}).get("pool") or {}
        rows.append(
            {
                "name": name,
                "pool": f"{pool.get('implementation', '?').split(':')[-1]} "
                f"x{pool.get('max-concurrency', '?')}",
                "active": len(active.get(name) or []),
            }
        )
    return rows


def snapshot(timeout: float = 1.0, recent: int = RECENT) -> Snapshot:
    """Workers, queue depths, running jobs (with their status) and the last finished jobs."""
    from filterbets_nb.client import load_results
    from filterbets_nb.db import store
    from filterbets_nb.db.session import run_shared
    from filterbets_nb.status import is_ended

    settings = get_settings()
    shot = Snapshot()
    try:
        shot.workers = _workers(timeout)
        shot.queues = queue_depths(settings)
        jobs = run_shared(lambda s: store.list_jobs(s, 50))
    except Exception as exc:  # a broker or database that is down is shown, not raised
        shot.error = f"{type(exc).__name__}: {exc}"
        return shot
    rows: list[dict[str, Any]] = [
        {str(k): v for k, v in row.items()} for row in jobs.to_dict("records")
    ]
    for row in rows:
        if not is_ended(str(row["state"])):
            run = load_results(str(row["job_id"]))
            shot.running.append((run.label or run.job_id, dict(run.status())))
    shot.recent = [row for row in rows if is_ended(str(row["state"]))][:recent]
    return shot


def render_snapshot_text(shot: Snapshot) -> str:
    """The text front end's block (also the widget's ``text/plain``)."""
    lines = [f"workers: {len(shot.workers)}"]
    lines += [f"  {w['name']}  pool {w['pool']}  active {w['active']}" for w in shot.workers]
    queues = ", ".join(f"{q} {n if n is not None else '?'}" for q, n in shot.queues.items())
    lines.append(f"queues: {queues or '?'}")
    lines.append(f"running: {len(shot.running)}")
    lines += [f"  {render_text(status, description=name)}" for name, status in shot.running]
    lines.append("recent:")
    for row in shot.recent:
        when = format_value("finished_at", row.get("finished_at"))
        bets, roi = format_value("bets", row.get("bets")), format_value("roi", row.get("roi"))
        lines.append(
            f"  {row['label']} [{row['leagues']} {row['seasons']}] {row['state']} {when} "
            f"bets {bets} roi {roi}"
        )
    if shot.error:
        lines.append(f"unavailable: {shot.error}")
    return "\n".join(lines)


def render_snapshot_html(shot: Snapshot) -> str:
    """The widget's HTML: four small tables."""

    def table(head: list[str], rows: list[list[str]]) -> str:
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        return f'<table class="filterbets-monitor"><tr>{th}</tr>{cells}</table>'

    parts = [
        "<b>Workers</b>",
        table(
            ["name", "pool", "active"],
            [[w["name"], w["pool"], str(w["active"])] for w in shot.workers],
        ),
        "<b>Queues</b>",
        table(
            ["queue", "waiting"],
            [[q, "?" if n is None else str(n)] for q, n in shot.queues.items()],
        ),
        "<b>Running</b>",
    ]
    for name, status in shot.running:
        bar = f'<progress max="100" value="{job_percent(status):.1f}"></progress>'
        parts.append(f"<div>{html.escape(name)} {bar} {html.escape(render_text(status))}</div>")
    parts.append("<b>Recent</b>")
    parts.append(
        table(
            ["label", "leagues", "seasons", "state", "finished", "bets", "roi"],
            [
                [
                    str(r["label"]),
                    str(r["leagues"]),
                    str(r["seasons"]),
                    str(r["state"]),
                    format_value("finished_at", r.get("finished_at")),
                    format_value("bets", r.get("bets")),
                    format_value("roi", r.get("roi")),
                ]
                for r in shot.recent
            ],
        )
    )
    if shot.error:
        parts.append(f"<div style='color:#d32f2f'>unavailable: {html.escape(shot.error)}</div>")
    return "".join(parts)


class Monitor:
    """A live view of the task system, polled by a daemon thread every ``refresh`` seconds."""

    def __init__(
        self, refresh: float = DEFAULT_REFRESH, *, mode: str = "auto", stream: TextIO | None = None
    ) -> None:
        self.refresh = max(float(refresh), 0.5)
        self.use_widget = mode == "widget" or (mode == "auto" and in_notebook())
        self.stream = stream if stream is not None else sys.stderr
        self.last: Snapshot | None = None
        self.refreshes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.widget: Any = None
        if self.use_widget:
            widgets = _widgets()
            if widgets is None:
                raise ImportError("fb.monitor(mode='widget') needs ipywidgets")
            self.widget = widgets.HTML(value="<i>monitor starting…</i>")

    def __repr__(self) -> str:
        return f"Monitor(refresh={self.refresh:g})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def update(self) -> Snapshot:
        """Take one snapshot and show it (what the poller does every ``refresh`` seconds)."""
        shot = snapshot()
        self.last = shot
        self.refreshes += 1
        if self.widget is not None:
            self.widget.value = render_snapshot_html(shot)
        else:
            self.stream.write(render_snapshot_text(shot) + "\n\n")
            self.stream.flush()
        return shot

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.update()
            except Exception as exc:  # never into the kernel
                self.last = Snapshot(error=f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.refresh)

    def start(self) -> Monitor:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="filterbets-monitor", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the poller (the last view stays on screen)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(self.refresh * 3, 10.0))

    def _ipython_display_(self) -> None:
        """The widget, with a text/HTML copy of the first view for a notebook stored without
        widget state (instead of the widget's ``HTML(value=...)`` repr)."""
        from IPython.display import display

        if self.widget is not None:
            shot = self.last if self.last is not None else self.update()
            data = dict(self.widget._repr_mimebundle_() or {})
            data["text/plain"] = render_snapshot_text(shot)
            data["text/html"] = render_snapshot_html(shot)
            display(data, raw=True)
        self.start()


def monitor(refresh: float = DEFAULT_REFRESH, *, mode: str = "auto") -> Monitor:
    """A live monitor (a widget in Jupyter, text on stderr elsewhere); ``.stop()`` ends it."""
    return Monitor(refresh, mode=mode).start()
