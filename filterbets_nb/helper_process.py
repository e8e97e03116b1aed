"""Iterating over items a generator function makes in a helper process, ahead of their use.

Loading a million demo matches is two CPU-bound jobs taking turns: numpy generating a block of
matches, then Python boxing its values for SQLite and SQLite storing them. A thread cannot run
them side by side: the SQLite thread needs the GIL for every row it binds, so it stalls
whenever the other thread holds it (a helper thread made the load slower). A process has its
own interpreter; the items come back pickled through a pipe (a 50,000-match block is about
50 MB, a few hundredths of a second), and the pipe's small buffer keeps the helper at most one
item ahead.

The helper is a fresh ``python`` running :func:`serve`, not a :mod:`multiprocessing` child:
those re-run the parent's main script first, which fails in a script that calls the loader at
top level without an ``if __name__ == "__main__"`` guard.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")

#: Seconds to wait for a helper to exit after its last item, or after being told to stop.
_EXIT_SECONDS = 10.0


def can_help() -> bool:
    """Whether a helper process would run beside this one: another core is there to run it,
    and this is not a daemonic process (a Celery pool process), which must not leave
    children behind."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return cores > 1 and not multiprocessing.current_process().daemon


class HelperItems(Generic[T]):
    """``factory(**kwargs)``'s items, made in a helper process started at once.

    ``factory`` must be importable by name (a module-level function) and its items picklable.
    Iterate once; an error in the helper is raised as a RuntimeError. :meth:`close` (or leaving
    a ``with`` block) waits for the helper to exit, stopping it first if it has not finished
    (the consumer failed or left early).
    """

    def __init__(self, factory: Callable[..., Iterable[T]], **kwargs: Any) -> None:
        read, write = os.pipe()
        # The same modules as here, whatever this interpreter's path was changed to.
        path = os.pathsep.join(p for p in sys.path if p)
        self._process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import serve; serve({write})"],
            stdin=subprocess.PIPE,
            pass_fds=(write,),
            env={**os.environ, "PYTHONPATH": path},
        )
        os.close(write)  # the helper holds the only writing end: its exit ends the stream
        self._items: IO[bytes] = os.fdopen(read, "rb")
        self._ended = False
        stdin = self._process.stdin
        assert stdin is not None
        with stdin:
            pickle.dump((factory, kwargs), stdin)

    def __iter__(self) -> Iterator[T]:
        while not self._ended:
            try:
                kind, payload = pickle.load(self._items)
            except EOFError:
                self._ended = True
                code = self._process.wait(timeout=_EXIT_SECONDS)
                raise RuntimeError(f"the helper process ended early (exit code {code})") from None
            if kind == "item":
                yield payload
                continue
            self._ended = True
            if kind == "error":
                raise RuntimeError(f"in the helper process: {payload}")

    def close(self) -> None:
        """Wait for the helper to exit, stopping it first unless it sent everything."""
        if not self._ended:  # it may be blocked writing the next item
            self._process.terminate()
        try:
            self._process.wait(timeout=_EXIT_SECONDS)
        except subprocess.TimeoutExpired:  # pragma: no cover - stuck past its last item
            self._process.kill()
            self._process.wait()
        self._items.close()

    def __enter__(self) -> HelperItems[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(fd: int) -> None:
    """The helper: read ``(factory, kwargs)`` from stdin, write ``("item", item)`` for each
    item to ``fd``, then ``("done", None)``; an error as ``("error", text)``."""
    factory, kwargs = pickle.load(sys.stdin.buffer)
    with os.fdopen(fd, "wb") as out:
        try:
            for item in factory(**kwargs):
                pickle.dump(("item", item), out, protocol=pickle.HIGHEST_PROTOCOL)
                # Whole now, not when the next item's first bytes push out the buffer's tail:
                # otherwise the consumer waits for every next item to be made.
                out.flush()
            pickle.dump(("done", None), out)
        except BrokenPipeError:  # the consumer is gone: nobody to tell
            return
        except Exception as exc:  # told to the consumer, which raises it
            pickle.dump(("error", f"{type(exc).__name__}: {exc}"), out)
