from __future__ import annotations

import logging
from pathlib import Path

import pytest

from filterbets_nb.config import MaskPasswordsFilter, Settings, mask_url


def test_embedded_default_lives_in_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.mode == "embedded"
    assert s.database == f"sqlite+aiosqlite:///{tmp_path / 'filterbets.db'}"
    assert s.broker == "filesystem://"
    assert s.backend == f"db+sqlite:///{tmp_path / 'celery-results.db'}"
    opts = s.broker_transport_options()
    assert opts["data_folder_in"] == opts["data_folder_out"] == str(tmp_path / "broker")
    assert opts["polling_interval"] == 0.05


def test_default_data_dir_is_under_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILTERBETS_DATA_DIR", raising=False)
    assert Settings(_env_file=None).data_dir.is_relative_to(Path.home())


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "FILTERBETS_BROKER_URL=redis://:s3cret@127.0.0.1:6379/0\n"
        "FILTERBETS_DATABASE_URL=postgresql+asyncpg://fb:pw@db/fb\n"
    )
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path / "d"))
    s = Settings(_env_file=env_file)
    assert s.mode == "services"
    assert s.data_dir == (tmp_path / "d").resolve()
    # With a Redis broker and no explicit backend, results go to the same Redis.
    assert s.backend == "redis://:s3cret@127.0.0.1:6379/0"
    assert s.broker_transport_options() == {"visibility_timeout": 7200}


def test_passwords_are_masked_everywhere() -> None:
    s = Settings(
        data_dir=Path("/tmp/x"),
        database_url="postgresql+asyncpg://fb:hunter2@db:5432/fb",
        broker_url="redis://:topsecret@redis:6379/0",
    )
    for text in (repr(s), str(s), s.describe()):
        assert "hunter2" not in text and "topsecret" not in text, text
    assert "postgresql+asyncpg://fb:***@db:5432/fb" in s.describe()
    assert mask_url("no url here") == "no url here"
    assert (
        mask_url("redis://user:p%40ss@h/0 and x://a:b@c") == "redis://user:***@h/0 and x://a:***@c"
    )


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("filterbets-test-mask")
    handler = caplog.handler
    handler.addFilter(MaskPasswordsFilter())
    try:
        logger.warning("connecting to %s", "postgresql://u:pw123@h/db")
    finally:
        handler.removeFilter(handler.filters[-1])
    assert "pw123" not in caplog.text
    assert "postgresql://u:***@h/db" in caplog.text
