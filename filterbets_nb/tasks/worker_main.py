"""Start a worker of this app without Celery's command line: ``python -m`` this module.

``celery -A filterbets_nb.tasks.celery_app worker`` first loads click, every installed
``celery`` sub-command plugin (Flower's web app among them) and click-repl: about 0.3 s before
the worker itself starts, out of the 1.4 s a worker takes to get ready here. That start is what
a cold CLI backtest, a notebook's first submit and every private worker wait for, so the workers
this package starts for the user (:func:`filterbets_nb.worker.worker_command`) come up through
this module instead. It takes the same flags as ``celery worker`` for the options this package
uses and hands them to ``app.Worker`` as Celery's worker command does. Operators keep starting
workers with ``celery -A filterbets_nb.tasks.celery_app worker`` or ``filterbets-nb worker``.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys


def parse(argv: list[str]) -> argparse.Namespace:
    """The ``celery worker`` flags :func:`filterbets_nb.worker.worker_command` writes."""
    parser = argparse.ArgumentParser(prog="python -m filterbets_nb.tasks.worker_main")
    parser.add_argument("-Q", "--queues", default=None)
    parser.add_argument("-c", "--concurrency", type=int, default=None)
    parser.add_argument("-l", "--loglevel", default="WARNING")
    parser.add_argument("-I", "--include", default=None)
    parser.add_argument("-n", "--hostname", default=None)
    parser.add_argument("-P", "--pool", default=None)
    parser.add_argument("-B", "--beat", action="store_true")
    parser.add_argument("-s", "--schedule", default=None)
    parser.add_argument("-f", "--logfile", default=None)
    return parser.parse_args(argv)


class _ExitWithoutTeardown:
    """Ends the process once every other exit handler has run, skipping the interpreter's
    teardown of a heap that holds pandas, pyarrow and SQLAlchemy: 0.6-1 s of a 1.1-1.5 s stop,
    paid by every caller waiting for a worker to go (``worker stop``, the tests).

    Exit handlers run last-registered first, so this one, registered before Celery and billiard
    add theirs (the pool's finalizers among them), runs after all of them; logging's own
    handler may come earlier or later, so logs are flushed here too.
    """

    def __init__(self) -> None:
        self.code: int | None = None
        atexit.register(self)

    def __call__(self) -> None:
        if self.code is None:  # the worker did not return (an exception): the usual way out
            return
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(self.code)


def main(argv: list[str] | None = None) -> int:
    """Run the worker until it is told to stop; its exit code."""
    args = parse(sys.argv[1:] if argv is None else argv)
    from celery import concurrency
    from celery.utils.nodenames import default_nodename, host_format

    from filterbets_nb.tasks.celery_app import get_app

    def names(value: str | None) -> list[str] | None:
        return [part for part in value.split(",") if part] if value else None

    options: dict[str, object] = {}
    if args.schedule:
        options["schedule_filename"] = args.schedule
    worker = get_app().Worker(
        hostname=host_format(default_nodename(args.hostname)),
        queues=names(args.queues),
        concurrency=args.concurrency,
        loglevel=args.loglevel,
        logfile=args.logfile,
        include=names(args.include),
        # None: the app's worker_pool (filterbets_nb.tasks.pool:TaskPool), as `celery worker`
        # without -P.
        pool_cls=concurrency.get_implementation(args.pool) if args.pool else None,
        beat=args.beat,
        **options,
    )
    worker.start()
    return int(worker.exitcode or 0)


if __name__ == "__main__":
    way_out = _ExitWithoutTeardown()
    way_out.code = main()
    sys.exit(way_out.code)
