"""Wake when files in a folder change, instead of sleeping a fixed poll (Linux inotify).

The embedded default moves every message and every result through files: a chain's next link
is a file renamed into the broker folder, a task's end is a commit to a SQLite file. Polled,
each hop waits half a polling interval on average (three links and the end of a warm
backtest: about 50 ms of its 0.2 s). Watched, the waiter wakes as the file lands. A poll
stays as the fallback: where inotify is missing (not Linux, or its limits are reached)
:meth:`FolderWatch.wait` simply sleeps, and every waiter here bounds its wait anyway.

Only the standard library, through ctypes, so importing this costs nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import time
import weakref
from pathlib import Path

#: inotify event bits (``<sys/inotify.h>``).
IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100

_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name
_libc: ctypes.CDLL | None = None


def _inotify() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.inotify_init1  # noqa: B018  (missing off Linux: AttributeError)
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


class FolderWatch:
    """Changes (``mask``: ``IN_*`` bits) to files in one folder, optionally only to files whose
    names end in one of ``suffixes``, for waiters that would otherwise poll it. With no folder
    it watches nothing, and :meth:`wait` sleeps."""

    #: A change wakes :meth:`wait` as it is written, which for a SQLite log is before a reader
    #: sees the commit: a waiter woken by it may have to read again a moment later
    #: (:class:`filterbets_nb.status.Wake`).
    prompt = False

    def __init__(
        self, folder: str | Path | None, mask: int = 0, suffixes: tuple[str, ...] = ()
    ) -> None:
        self.suffixes = tuple(p.encode() for p in suffixes)
        self.fd = -1
        libc = _inotify()
        if folder is None or libc is None:
            return
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return
        if libc.inotify_add_watch(fd, os.fsencode(folder), mask) < 0:
            os.close(fd)
            return
        self.fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)

    @property
    def active(self) -> bool:
        """Whether changes wake :meth:`wait` (else it sleeps its whole timeout)."""
        return self.fd >= 0

    def wait(self, timeout: float) -> bool:
        """Return True as soon as a watched file changed (also one that changed since the last
        call), False after ``timeout`` seconds without one."""
        if not self.active:
            time.sleep(max(timeout, 0.0))
            return False
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([self.fd], [], [], max(left, 0.0))
            if readable and self._matching(self._read()):
                return True
            if time.monotonic() >= deadline:
                return False

    def _read(self) -> bytes:
        chunks = []
        with contextlib.suppress(BlockingIOError):
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    def _matching(self, events: bytes) -> bool:
        if not self.suffixes:
            return bool(events)
        offset = 0
        while offset + _EVENT.size <= len(events):
            _, _, _, length = _EVENT.unpack_from(events, offset)
            name = events[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            if name.endswith(self.suffixes):
                return True
            offset += _EVENT.size + length
        return False

    def close(self) -> None:
        if self.active:
            self._finalizer()
            self.fd = -1
