"""The shared worker's door: a Unix socket through which a short-lived process (the CLI) submits
a backtest and follows it, without importing the task system itself.

Why: a CLI backtest is one small chain, about 0.3 s of work for a warm worker, but a new
process pays about a second to import what submitting and reading a job take (SQLAlchemy,
Celery, numpy, pydantic models). The data dir's shared worker has all of that loaded, so it
submits on the caller's behalf through the same :func:`filterbets_nb.client.backtest` and
:func:`filterbets_nb.status.wait_for` a notebook uses, and streams every status back as one JSON
line; the CLI draws them with the notebook's text renderer. The work still flows caller → chain
→ tasks → database; only the submitting moved into a process that is already warm.

The socket is ``worker.sock`` in the data dir, mode 0600, opened by the shared worker (the
process holding ``worker.lock``) once it is ready, so only that worker ever binds it. A caller
whose settings differ from the worker's (another database or result backend on the same data
dir) is refused and submits by itself, as it does in services mode or with no shared worker.

Protocol, one JSON object per line. The caller sends one request::

    {"verb": "backtest", "filter": {...}, "leagues": [...] | null, "seasons": [...] | null,
     "timeout": seconds | null, "settings": {"database": ..., "backend": ...}}

and reads, in order: ``{"job_id": ...}`` once submitted, then ``{"status": Status}`` at every
poll and ``{"notice": text}`` when :func:`wait_for` has one, and last either
``{"done": {"job_id": ..., "summary": {...}, "text": "..."}}`` or
``{"error": message, "kind": KIND}``. KIND is ``refused`` (nothing was submitted: submit by
yourself), ``filter`` (the filter is invalid), ``user`` (a bad scope, or the broker is down),
``failed``, ``cancelled`` or ``timeout``. A caller that closes the socket stops only the
following, as Ctrl-C does on a direct wait: the job goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from filterbets_nb.config import Settings, get_settings

logger = logging.getLogger(__name__)

#: AF_UNIX paths are at most 107 bytes on Linux; a data dir deeper than that has no door.
MAX_SOCKET_PATH = 100
#: A request is a filter and a scope: anything bigger is not one.
MAX_REQUEST_BYTES = 1 << 20
#: Seconds between status polls in the worker (a database read each, on the pooled engine).
POLL = 0.05


class DoorUnavailable(RuntimeError):
    """Nothing was submitted through the door (none, refused, or it closed first): the caller
    submits by itself."""


class DoorClosed(RuntimeError):
    """The door closed after the job was submitted (the worker stopped): ``job_id`` is known."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"the shared worker stopped while backtest {job_id} ran")
        self.job_id = job_id


def socket_path(settings: Settings) -> Path | None:
    """Where the data dir's door is, or None if that path is too long for a Unix socket."""
    path = settings.data_dir / "worker.sock"
    return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None


def settings_key(settings: Settings) -> dict[str, str]:
    """What must match between caller and worker for the worker to submit on its behalf."""
    return {"database": settings.database, "backend": settings.backend}


# --- the caller's side ---------------------------------------------------------------------


def connect(settings: Settings, *, wait: float = 0.0) -> socket.socket:
    """A connection to the data dir's door, retrying for ``wait`` seconds while the shared
    worker starts. Raises :class:`DoorUnavailable` when there is none (or no worker runs)."""
    import time

    from filterbets_nb.worker import shared_worker_info

    path = socket_path(settings)
    if path is None:
        raise DoorUnavailable(f"the data dir's path is too long for a socket: {settings.data_dir}")
    deadline = time.monotonic() + wait
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError as exc:
            sock.close()
            info = shared_worker_info(settings)
            # A worker started by an older version never opens one: do not wait for it.
            if time.monotonic() >= deadline or info is None or not info.get("door"):
                raise DoorUnavailable(f"no door at {path}: {exc.strerror or exc}") from None
        time.sleep(0.02)


def backtest(
    settings: Settings,
    request: Mapping[str, Any],
    *,
    on_status: Callable[[dict[str, Any]], None],
    on_notice: Callable[[str], None],
    wait: float = 0.0,
) -> dict[str, Any]:
    """Submit a backtest through the door and follow it to its last reply line (``done`` or
    ``error``, returned as read); ``request`` holds filter, leagues, seasons and timeout.

    Raises :class:`DoorUnavailable` if nothing was submitted, :class:`DoorClosed` if the door
    closed after the submit.
    """
    sock = connect(settings, wait=wait)
    job_id: str | None = None
    with sock, sock.makefile("rb") as replies:
        line = {**request, "verb": "backtest", "settings": settings_key(settings)}
        try:
            sock.sendall(json.dumps(line).encode() + b"\n")
        except OSError as exc:
            raise DoorUnavailable(f"the door closed: {exc}") from None
        for raw in replies:
            reply = json.loads(raw)
            if "status" in reply:
                on_status(reply["status"])
            elif "notice" in reply:
                on_notice(reply["notice"])
            elif "job_id" in reply:
                job_id = reply["job_id"]
            elif reply.get("kind") == "refused":
                raise DoorUnavailable(reply["error"])
            else:
                return dict(reply)
    if job_id is None:
        raise DoorUnavailable("the door closed before the job was submitted")
    raise DoorClosed(job_id)


# --- the worker's side ---------------------------------------------------------------------


def serve_backtest(request: Mapping[str, Any], send: Callable[[dict[str, Any]], None]) -> None:
    """Run one door request in the worker: submit, follow, reply (see the module docstring)."""
    from filterbets_nb.client import BacktestCancelled, BacktestFailed, SubmitError
    from filterbets_nb.client import backtest as submit
    from filterbets_nb.filters import FilterError, as_filter
    from filterbets_nb.formatting import Summary, summary_text
    from filterbets_nb.stats import from_jsonable
    from filterbets_nb.status import JobCancelled, JobFailed, wait_for

    if request.get("settings") != settings_key(get_settings()) or "filter" not in request:
        send({"error": "this worker uses other settings", "kind": "refused"})
        return
    try:
        flt = as_filter(request["filter"], "a backtest")
    except (FilterError, TypeError, ValueError, RecursionError) as exc:
        send({"error": str(exc), "kind": "filter"})
        return
    try:
        run = submit(flt, leagues=request.get("leagues"), seasons=request.get("seasons"))
    except (SubmitError, TypeError, ValueError) as exc:
        send({"error": str(exc), "kind": "user"})
        return
    send({"job_id": run.job_id})
    logger.info("door: backtest %s submitted for a caller", run.job_id)
    try:
        wait_for(
            run,
            timeout=request.get("timeout"),
            poll=POLL,
            what=f"backtest {run.job_id}",
            on_status=lambda status: send({"status": status}),
            on_notice=lambda text: send({"notice": text}),
            failed=BacktestFailed,
            cancelled=BacktestCancelled,
        )
    except JobFailed as exc:
        send({"error": str(exc), "kind": "failed"})
    except JobCancelled as exc:
        send({"error": str(exc), "kind": "cancelled"})
    except TimeoutError as exc:
        send({"error": str(exc), "kind": "timeout"})
    else:
        stored = run.summary_json()  # one read of the job row for both forms
        text = summary_text(Summary(from_jsonable(stored)))
        send({"done": {"job_id": run.job_id, "summary": stored, "text": text}})


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        def send(reply: dict[str, Any]) -> None:
            self.wfile.write(json.dumps(reply, default=str).encode() + b"\n")
            self.wfile.flush()

        raw = self.rfile.readline(MAX_REQUEST_BYTES)
        try:
            request = json.loads(raw)
        except (ValueError, RecursionError):
            request = None
        if not isinstance(request, dict) or request.get("verb") != "backtest":
            send({"error": "not a door request", "kind": "refused"})
            return
        try:
            serve_backtest(request, send)
        except (BrokenPipeError, ConnectionResetError):
            logger.info("door: the caller left; its job goes on")
        except Exception as exc:
            logger.exception("door: the request failed")
            with contextlib.suppress(OSError):
                send({"error": f"{type(exc).__name__}: {exc}", "kind": "user"})


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


_open: list[_Server] = []


def open_door(settings: Settings) -> Path | None:
    """Bind the data dir's door and serve it from daemon threads; returns its path, or None
    when the path is too long. Only the shared worker calls it (it holds the lock, so a socket
    file found there is a dead worker's and is replaced)."""
    path = socket_path(settings)
    if path is None:
        logger.warning("no door: %s is too long for a Unix socket", settings.data_dir)
        return None
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    # Connecting needs write permission on the socket, which the usual umask already denies
    # group and others; 0600 then makes "only this user submits" explicit. (Not a umask
    # change: that is process-wide, and the worker's other threads create files meanwhile.)
    server = _Server(str(path), _Handler)
    path.chmod(0o600)
    _open.append(server)
    threading.Thread(target=server.serve_forever, name="filterbets-door", daemon=True).start()
    return path


def close_doors() -> None:
    """Stop serving, and close the listening sockets (in this process only: a pool child that
    inherited one closes its copy so it never holds the door open)."""
    while _open:
        server = _open.pop()
        server.socket.close()
