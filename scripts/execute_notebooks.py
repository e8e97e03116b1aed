#!/usr/bin/env python3
"""Execute the notebooks in order and store them with their outputs, as `scripts/test` checks them.

    .venv/bin/python scripts/execute_notebooks.py                  # every notebook
    .venv/bin/python scripts/execute_notebooks.py notebooks/02_filters.ipynb

The run mirrors what nbval sees in CI: one fresh embedded data dir shared by the notebooks in
file order (a first run's outputs), football-data.co.uk served from ``../shared/data`` by the
local mirror (``tests/football_data_site.py``), and no other ``FILTERBETS_*`` variable. Each
notebook is written the way JupyterLab saves it (``nbformat.writes`` plus a trailing newline,
kernelspec display name "Python 3 (ipykernel)"), with the widget state, so opening and saving it
changes nothing (``tests/test_notebooks_clean.py``). The shared worker and the mirror are
stopped at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "football-data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the football-data mirror did not come up on port {port}")


def execute(path: Path, timeout: int) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        # Cells marked NBVAL_RAISES_EXCEPTION raise on purpose; nbval checks every output after.
        allow_errors=True,
    )
    client.execute()
    nb.metadata.setdefault("kernelspec", {}).update(
        {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    )
    path.write_text(nbformat.writes(nb, version=4) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for key in [k for k in os.environ if k.startswith("FILTERBETS_")]:
        del os.environ[key]
    os.environ["FILTERBETS_DATA_DIR"] = tempfile.mkdtemp(prefix="filterbets-notebooks-")
    mirror = None
    if SHARED.is_dir():
        port = _free_port()
        mirror = subprocess.Popen(
            [sys.executable, "-m", "tests.football_data_site", "--port", str(port)], cwd=ROOT
        )
        _wait_for_port(port)
        os.environ["FILTERBETS_FOOTBALL_DATA_URL"] = f"http://127.0.0.1:{port}/"
    try:
        for path in paths:
            started = time.monotonic()
            execute(path.resolve(), args.timeout)
            print(f"{path.name}: executed in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        subprocess.run(
            [sys.executable, "-m", "filterbets_nb.cli", "worker", "stop"],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        if mirror is not None:
            mirror.terminate()
            mirror.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
