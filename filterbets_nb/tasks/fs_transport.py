"""Celery's ``filesystem://`` transport with messages that appear whole or not at all.

kombu's transport creates a message file under its final name and only then writes it, while
a consuming worker lists the folder, moves any matching file away and reads it. A worker that
picks a file up in between reads an empty message, and the JSONDecodeError ends its consumer
("Unrecoverable error"): the embedded worker dies under a running chain. It happened here on a
loaded machine when a pool process sent a chain's next link while the main process polled.

This channel writes each message to a hidden temporary name in the same folder and renames it
into place (``os.replace`` is atomic on one filesystem), so a reader sees a complete file or
none. Hidden names never match a queue's ``<name>.msg`` pattern, so nothing else changes.
The app uses it for the embedded default (``broker_transport`` in ``celery_app.app_config``).

Its transport also drains in short steps: the worker's consumer waits up to 2 s in one drain
call before it looks at its stop flag again, so a warm shutdown began by waiting out that
polling; here the drain returns within :data:`DRAIN_STEP` of the flag being set. Between two
looks it waits for a message file to land rather than sleeping a polling interval.
"""

from __future__ import annotations

import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from celery.worker import state as worker_state
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

from filterbets_nb.fs_watch import IN_CLOSE_WRITE, IN_MOVED_TO, FolderWatch


class Channel(filesystem.Channel):
    """The filesystem channel, with write-then-rename message files."""

    # kombu's own stubs disagree on this signature (base: message; filesystem: payload, kwargs).
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


#: Seconds between two looks at the worker's stop flag while draining.
DRAIN_STEP = 0.2


class Transport(filesystem.Transport):
    """``filesystem://`` with :class:`Channel`, draining in steps (see the module docstring),
    woken by a message file landing instead of polling (:mod:`filterbets_nb.fs_watch`)."""

    Channel = Channel

    _watch: FolderWatch | None = None

    def _folder_watch(self) -> FolderWatch:
        if self._watch is None:
            options: dict[str, Any] = getattr(self.client, "transport_options", None) or {}
            folder = options.get("data_folder_in", "data_in")
            self._watch = FolderWatch(folder, IN_MOVED_TO | IN_CLOSE_WRITE, suffixes=(".msg",))
        return self._watch

    # kombu's stubs type the base transport's (connection, **kwargs); this is the virtual one.
    def drain_events(  # type: ignore[override]
        self, connection: Any, timeout: float | None = None
    ) -> Any:
        """kombu's loop (deliver one message, else wait and look again), waiting on the folder
        watch where it slept a polling interval: a link sent by a pool process is taken as its
        file lands. Without inotify it sleeps the configured interval, as kombu does."""
        deadline = None if timeout is None else monotonic() + timeout
        watch = self._folder_watch()
        cycle = self.cycle
        assert cycle is not None  # set when the transport was made
        while True:
            try:
                cycle.get(self._deliver, timeout=timeout)
                return None
            except Empty:
                pass
            # Set to an exit code (0 for a warm stop), as celery's maybe_shutdown reads them.
            flags = (worker_state.should_stop, worker_state.should_terminate)
            stopping = any(flag is not None and flag is not False for flag in flags)
            if stopping or (deadline is not None and monotonic() >= deadline):
                raise TimeoutError()
            pause = DRAIN_STEP if watch.active else float(self.polling_interval or DRAIN_STEP)
            if deadline is not None:
                pause = min(pause, deadline - monotonic())
            watch.wait(pause)
