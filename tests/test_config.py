from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filterbets_nb.config import (
    MAX_MESSAGE_CHARS,
    MaskPasswordsFilter,
    Settings,
    SettingsError,
    clip,
    get_settings,
    load_settings,
    mask_url,
    redelivery_sweep,
)


def test_embedded_default_lives_in_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.mode == "embedded"
    assert s.database == f"sqlite+aiosqlite:///{tmp_path / 'filterbets.db'}"
    assert s.broker == "filesystem://"
    assert s.backend == f"db+sqlite:///{tmp_path / 'celery-results.db'}"
    opts = s.broker_transport_options()
    assert opts["data_folder_in"] == opts["data_folder_out"] == str(tmp_path / "broker")
    assert opts["polling_interval"] == 0.02


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


def test_a_short_visibility_timeout_looks_for_timed_out_messages_often() -> None:
    """kombu's own sweep (about every 100 s) would dwarf a visibility timeout of a few seconds."""
    short = Settings(
        data_dir=Path("/tmp/x"), broker_url="redis://127.0.0.1:6379/0", visibility_timeout=4
    )
    assert short.broker_transport_options() == {
        "visibility_timeout": 4,
        "unacked_restore_interval": 1.0,
        "unacked_restore_throttle": 1,
    }
    assert redelivery_sweep(60) == {"unacked_restore_interval": 15.0, "unacked_restore_throttle": 1}
    assert redelivery_sweep(400) == redelivery_sweep(7200) == {}


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


# --- masking and clipping are linear and bounded ----------------------------------------------

#: The pattern mask_url replaced (quadratic on long runs of scheme characters): the reference
#: the linear scan must agree with on short inputs.
_REFERENCE = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)@")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", "B", "1", "+", ":", "/", "@", " ", "://", "x:y@", "é"])))
def test_mask_url_agrees_with_the_reference_pattern(parts: list[str]) -> None:
    text = "".join(parts)
    assert mask_url(text) == _REFERENCE.sub(r"\g<head>***@", text)


def _lines_run(fn: Callable[[str], object], text: str) -> int:
    """Python lines ``fn`` executes on ``text``: a count of work that does not depend on the
    machine's load, unlike a timing."""
    count = 0

    def tracer(frame: FrameType, event: str, arg: object) -> object:
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn(text)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize(
    "unit", ["a", "a://", "a://b:", "x://u:p@", "a://" + "b" * 50 + ":", "ab:/@ \t"]
)
def test_mask_url_work_is_linear_in_its_input(unit: str) -> None:
    """The audit's 60k-character input took 6 s (quadratic): doubling the input must at most
    double the work."""
    small = _lines_run(mask_url, unit * 2_000)
    large = _lines_run(mask_url, unit * 4_000)
    assert large <= 2.05 * small + 50, (small, large)
    assert mask_url("a" * 1_000_000 + "://u:pw@h").endswith("://u:***@h")


def test_clip_bounds_log_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("filterbets-test-clip")
    caplog.handler.addFilter(MaskPasswordsFilter())
    try:
        logger.warning("value %s", "v" * 1_000_000)
    finally:
        caplog.handler.removeFilter(caplog.handler.filters[-1])
    assert len(caplog.records[-1].getMessage()) < MAX_MESSAGE_CHARS + 100
    assert "more characters]" in caplog.text
    assert clip("short") == "short"


# --- settings are validated at load, one line naming the variable -------------------------------

MALFORMED: list[tuple[dict[str, str], str]] = [
    ({"FILTERBETS_DATABASE_URL": "mysql://u@h/db"}, "FILTERBETS_DATABASE_URL: unknown scheme"),
    ({"FILTERBETS_DATABASE_URL": "not a url"}, "FILTERBETS_DATABASE_URL: not a URL"),
    ({"FILTERBETS_DATABASE_URL": "postgresql+asyncpg:///db"}, "FILTERBETS_DATABASE_URL: no host"),
    ({"FILTERBETS_DATABASE_URL": "sqlite+aiosqlite://rel.db"}, "FILTERBETS_DATABASE_URL: expected"),
    ({"FILTERBETS_BROKER_URL": "amqp://guest@h//"}, "FILTERBETS_BROKER_URL: unknown scheme"),
    ({"FILTERBETS_BROKER_URL": "redis://h:99999/0"}, "FILTERBETS_BROKER_URL: bad host or port"),
    ({"FILTERBETS_BROKER_URL": "redis://:pw@h:abc/0"}, "FILTERBETS_BROKER_URL: bad host or port"),
    ({"FILTERBETS_BROKER_URL": "redis://h/zero"}, "FILTERBETS_BROKER_URL: Redis database"),
    ({"FILTERBETS_BROKER_URL": "redis://h:0/1"}, "FILTERBETS_BROKER_URL: port 0"),
    ({"FILTERBETS_RESULT_BACKEND": "rpc://"}, "FILTERBETS_RESULT_BACKEND: unknown scheme"),
    ({"FILTERBETS_WORKER_CONCURRENCY": "0"}, "FILTERBETS_WORKER_CONCURRENCY:"),
    ({"FILTERBETS_WORKER_CONCURRENCY": "two"}, "FILTERBETS_WORKER_CONCURRENCY:"),
    ({"FILTERBETS_BROKER_POLLING_INTERVAL": "-1"}, "FILTERBETS_BROKER_POLLING_INTERVAL:"),
    ({"FILTERBETS_PROGRESS_INTERVAL": "-0.5"}, "FILTERBETS_PROGRESS_INTERVAL:"),
    ({"FILTERBETS_FETCH_PAGE_SIZE": "0"}, "FILTERBETS_FETCH_PAGE_SIZE:"),
    ({"FILTERBETS_ENGINE_CHUNK_SIZE": "-5"}, "FILTERBETS_ENGINE_CHUNK_SIZE:"),
    ({"FILTERBETS_MATCH_CACHE_MB": "-1"}, "FILTERBETS_MATCH_CACHE_MB:"),
    ({"FILTERBETS_VISIBILITY_TIMEOUT": "-3"}, "FILTERBETS_VISIBILITY_TIMEOUT:"),
    ({"FILTERBETS_LOG_LEVEL": "LOUD"}, "FILTERBETS_LOG_LEVEL: unknown log level"),
]


@pytest.mark.parametrize(("env", "expected"), MALFORMED)
def test_malformed_settings_get_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert expected in message and "\n" not in message, message
    assert "pw" not in message.replace("password", "")


def test_a_data_dir_that_is_a_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(afile))
    with pytest.raises(SettingsError, match=r"FILTERBETS_DATA_DIR: .* is not a directory"):
        load_settings(_env_file=None)


def test_get_settings_reports_malformed_settings_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FILTERBETS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FILTERBETS_BROKER_URL", "redis://:secret@h:70000/0")
    monkeypatch.setenv("FILTERBETS_WORKER_CONCURRENCY", "0")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(info.value)
    assert "FILTERBETS_BROKER_URL" in message and "FILTERBETS_WORKER_CONCURRENCY" in message
    assert "secret" not in message and "\n" not in message


def test_every_accepted_scheme_loads(tmp_path: Path) -> None:
    s = load_settings(
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://fb:pw@db:5432/fb",
        broker_url="rediss://:pw@redis:6380/3",
        result_backend="db+sqlite:///" + str(tmp_path / "r.db"),
        log_level="debug",
    )
    assert s.log_level == "DEBUG" and s.mode == "services"
