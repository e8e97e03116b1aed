"""Signal handlers that open the shared worker's door (:mod:`filterbets_nb.worker_door`).

Only the data dir's shared worker imports this module (``celery worker -I``, see
:func:`filterbets_nb.worker.ensure_shared_worker`): private and services-mode workers have no
door, and a process that merely sends tasks connects nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutting_down

from filterbets_nb.config import get_settings
from filterbets_nb.worker_door import close_doors, open_door, socket_path


@worker_ready.connect
def _open(**_: Any) -> None:
    open_door(get_settings())


@worker_process_init.connect
def _close_in_child(**_: Any) -> None:
    close_doors()


@worker_shutting_down.connect
def _close(**_: Any) -> None:
    close_doors()
    path = socket_path(get_settings())
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()
