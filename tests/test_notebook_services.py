"""Notebook 05 again, against Redis and PostgreSQL: the same stored outputs, other URLs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from filterbets_nb import testing
from tests.conftest import PG_ADMIN_URL, ROOT, SHARED_DATA, free_port, services_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared football-data files absent"),
]


def test_notebook_05_on_services(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    name = "fbnb05_" + pg_url.rsplit("_", 1)[1]
    database = pg_url.rsplit("/", 1)[0] + "/" + name
    testing.pg_admin(PG_ADMIN_URL, f'CREATE DATABASE "{name}"')
    # The notebook starts with fb.fetch: serve ../shared/data as the site, as scripts/test does.
    port = free_port()
    site = subprocess.Popen(
        [sys.executable, "-m", "tests.football_data_site", "--port", str(port)], cwd=ROOT
    )
    try:
        # The run's own Redis index (no other test's worker is alive while this one runs).
        env = services_env(tmp_path / "data", database, redis_url)
        env["FILTERBETS_FOOTBALL_DATA_URL"] = f"http://127.0.0.1:{port}/"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--nbval",
                "--nbval-sanitize-with",
                "notebooks/sanitize.cfg",
                "notebooks/05_real_data_and_services.ipynb",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=800,
        )
    finally:
        site.terminate()
        site.wait(10)
        testing.drop_database(PG_ADMIN_URL, name)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
