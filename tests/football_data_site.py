"""A real HTTP server laid out like football-data.co.uk, built from ``../shared/data``.

Tests start it in a thread (:class:`SiteServer`); ``scripts/test`` runs it as a process
(``python -m tests.football_data_site --port N``) so that notebook 05's ``fb.fetch`` reads a
local mirror.  It answers conditional requests the way the site does (``ETag`` and
``Last-Modified``, 304 when unchanged) and can be told to drop connections.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "football-data"


def site_path(league: str, season: str) -> str:
    """``E0``, ``2015-16`` -> ``mmz4281/1516/E0.csv``."""
    start = int(season[:4])
    return f"mmz4281/{start % 100:02d}{(start + 1) % 100:02d}/{league}.csv"


def build_site(root: Path, source: Path = SHARED_DATA) -> list[str]:
    """Copy every ``{league}_{season}.csv`` of ``source`` to its place on the site under
    ``root``; the site paths made."""
    made = []
    for path in sorted(source.glob("*.csv")):
        found = re.fullmatch(r"([A-Za-z0-9]+)_(\d{4}-\d{2})\.csv", path.name)
        if not found:
            continue
        relative = site_path(found.group(1), found.group(2))
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, root / relative)
        made.append(relative)
    return made


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    drops: int  # connections still to drop
    drop_midway: bool  # send the headers and half the body first
    requests: list[tuple[str, int]]  # (path, status) of every request answered


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read :attr:`SiteServer.requests` instead."""

    def do_GET(self) -> None:
        server = self.server
        path = (server.root / self.path.split("?")[0].lstrip("/")).resolve()
        if not path.is_file() or server.root.resolve() not in path.parents:
            server.requests.append((self.path, 404))
            self.send_error(404)
            return
        data = path.read_bytes()
        if server.drops > 0:
            server.drops -= 1
            server.requests.append((self.path, 0))
            if server.drop_midway:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        mtime = int(path.stat().st_mtime)
        match = self.headers.get("If-None-Match")
        since = self.headers.get("If-Modified-Since")
        unchanged = match == etag if match else False
        if not match and since:
            parsed = email.utils.parsedate_to_datetime(since)
            unchanged = parsed is not None and mtime <= parsed.timestamp()
        if unchanged:
            server.requests.append((self.path, 304))
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        server.requests.append((self.path, 200))
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        self.end_headers()
        self.wfile.write(data)


class SiteServer:
    """The mirror on a free loopback port, served by a thread until :meth:`stop`."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.root = root
        self.server.drops = 0
        self.server.drop_midway = False
        self.server.requests = []
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    @property
    def requests(self) -> list[tuple[str, int]]:
        return self.server.requests

    def drop(self, connections: int, *, midway: bool = False) -> None:
        """Drop the next ``connections`` requests (closing the socket; ``midway`` after half
        the body)."""
        self.server.drops = connections
        self.server.drop_midway = midway

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def __enter__(self) -> SiteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """Serve a mirror built in a temp dir until the parent process (scripts/test) is gone."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    parent = os.getppid()
    with tempfile.TemporaryDirectory(prefix="football-data-site-") as root:
        build_site(Path(root))
        with SiteServer(Path(root), args.port):
            while os.getppid() == parent:  # reparented: whoever started us has exited
                time.sleep(1)


if __name__ == "__main__":
    main()
