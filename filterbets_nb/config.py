"""Settings: one object, read from ``FILTERBETS_*`` environment variables and ``.env``.

Switching from the embedded default (SQLite + a serverless Celery transport, all under
``data_dir``) to Redis + PostgreSQL is a matter of setting three URLs; no code changes.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from filterbets_nb.errors import UserError

#: Characters of one log record or stored error message; the rest is cut (see :func:`clip`).
MAX_MESSAGE_CHARS = 2000
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_USER_END = frozenset(":/@") | frozenset(" \t\n\r\f\v")
_PASSWORD_END = frozenset("@") | frozenset(" \t\n\r\f\v")


def mask_url(text: str) -> str:
    """Replace every password inside ``scheme://user:password@host`` URLs in ``text`` by ``***``.

    A hand-written scan rather than a regular expression: a backtracking pattern needs time
    quadratic in a long run of scheme-like characters (60k characters took 6 s), and this runs on
    every log record. Each character is looked at a bounded number of times.
    """
    out: list[str] = []
    done = 0  # text[:done] is settled (copied into ``out``)
    n = len(text)
    pos = text.find("://")
    while pos != -1:
        start = pos
        while start > done and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        colon = pos + 3
        while colon < n and text[colon] not in _USER_END:
            colon += 1
        has_scheme = any(c.isalpha() for c in text[start:pos]) if start < pos else False
        if has_scheme and colon < n and text[colon] == ":":
            at = colon + 1
            while at < n and text[at] not in _PASSWORD_END:
                at += 1
            if at < n and text[at] == "@" and at > colon + 1:
                out.append(text[done : colon + 1])
                out.append("***")
                done = at
                pos = text.find("://", at)
                continue
            # No ``@`` before the next blank: nothing up to ``at`` can be a password.
            pos = text.find("://", max(at, pos + 3))
            continue
        pos = text.find("://", max(colon, pos + 3))
    out.append(text[done:])
    return "".join(out)


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out, so one oversized
    value cannot flood a log, a job's error column or a terminal."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Schemes each URL setting accepts (an empty URL means the embedded default). The database needs
#: an async driver; results go to Redis or a SQLAlchemy database (``db+...``).
URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "database_url": ("sqlite+aiosqlite", "postgresql+asyncpg"),
    "broker_url": ("redis", "rediss", "filesystem", "memory"),
    "result_backend": ("redis", "rediss", "db+sqlite", "db+postgresql", "cache+memory"),
}
#: Longest URL a setting may hold.
MAX_URL_CHARS = 2000


class SettingsError(UserError, ValueError):
    """A malformed setting: one line naming the environment variable and what is wrong."""


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    """``value`` if it is empty or a well-formed URL with one of ``schemes``."""
    value = value.strip()
    if not value:
        return value
    if len(value) > MAX_URL_CHARS:
        raise ValueError(f"longer than {MAX_URL_CHARS} characters")
    scheme, sep, rest = value.partition("://")
    if not sep:
        raise ValueError(f"not a URL (expected scheme://...): {clip(mask_url(value), 80)!r}")
    if scheme not in schemes:
        raise ValueError(
            f"unknown scheme {clip(scheme, 40)!r}; expected one of "
            + ", ".join(f"{s}://" for s in schemes)
        )
    if any(c.isspace() for c in value) or "\x00" in value:
        raise ValueError("contains blanks or NUL characters")
    if scheme in ("redis", "rediss", "postgresql+asyncpg", "db+postgresql"):
        try:
            parts = urlsplit(value)
            port = parts.port  # raises ValueError when not a number in 0..65535
        except ValueError as exc:
            raise ValueError(f"bad host or port in {mask_url(value)!r}: {exc}") from None
        if not parts.hostname:
            raise ValueError(f"no host in {mask_url(value)!r}")
        if port == 0:
            raise ValueError(f"port 0 in {mask_url(value)!r}")
        db = parts.path.strip("/")
        if scheme.startswith("redis") and db and not db.isdigit():
            raise ValueError(f"Redis database must be a number, got {clip(db, 40)!r}")
    elif scheme.startswith(("sqlite", "db+sqlite")) and not rest.startswith("/"):
        raise ValueError(f"expected {scheme}:///path/to/file.db")
    return value


def _one_line(exc: ValidationError) -> str:
    """pydantic's multi-line report as one line per problem, joined: variable, then reason."""
    problems = []
    for error in exc.errors():
        name = (
            "FILTERBETS_" + "_".join(str(p) for p in error["loc"]).upper() if error["loc"] else ""
        )
        reason = str(error["msg"]).removeprefix("Value error, ")
        if name and error["type"] != "value_error":
            reason += f", got {clip(mask_url(repr(error.get('input'))), 60)}"
        problems.append(f"{name}: {reason}" if name else reason)
    return "invalid settings: " + "; ".join(problems)


#: kombu's Redis transport looks for unacknowledged messages past their visibility timeout on a
#: 10 s timer, scanning on every 10th tick: about every 100 s.
KOMBU_REDELIVERY_SWEEP = 100.0


def redelivery_sweep(visibility_timeout: int) -> dict[str, float]:
    """kombu transport options that look for timed-out messages every quarter of the
    visibility timeout (at least once a second, at most kombu's 100 s), so a short timeout
    (``scripts/chaos``, the fault tests) brings a killed worker's task back after about that
    timeout instead of after kombu's sweep; the default 7200 s keeps kombu's own settings."""
    period = min(KOMBU_REDELIVERY_SWEEP, max(1.0, visibility_timeout / 4))
    if period >= KOMBU_REDELIVERY_SWEEP:
        return {}
    return {"unacked_restore_interval": period, "unacked_restore_throttle": 1}


def default_data_dir() -> Path:
    return Path.home() / ".filterbets-nb"


class Settings(BaseSettings):
    """Where the data lives and how tasks travel.

    Empty URLs mean the embedded default, derived from ``data_dir`` (see :attr:`resolved`): a
    SQLite database, Celery's ``filesystem://`` broker and a SQLite result backend. All three keep
    their state on disk, so jobs survive a kernel restart, and the worker runs in its own process,
    so the notebook stays responsive while a backtest runs.
    """

    model_config = SettingsConfigDict(
        env_prefix="FILTERBETS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    broker_url: str = ""
    result_backend: str = ""
    #: Seconds between polls of the filesystem broker (embedded mode) where inotify is missing.
    #: On Linux the worker wakes as a message file lands (``fs_watch``) and looks on its own
    #: only every 0.2 s; polled, each link of a chain waits for a poll, and at 0.02 s an idle
    #: worker's polling costs about 1 % of a core.
    broker_polling_interval: float = Field(0.02, gt=0, le=60)
    #: Concurrency of the worker the package starts for the user in embedded mode.
    worker_concurrency: int = Field(2, ge=1, le=256)
    log_level: str = "INFO"
    #: Least seconds between two PROGRESS updates of a task (and at least 1 % between them).
    progress_interval: float = Field(0.25, ge=0, le=3600)
    #: Fault injection for the fault tests and ``scripts/chaos``: seconds the evaluate link waits
    #: after loading its matches, so a job is reliably caught mid-run (0, the default, in use).
    evaluate_delay: float = Field(0.0, ge=0, le=600)
    #: Matches read per database round trip by the evaluate link (progress is reported per page).
    fetch_page_size: int = Field(50_000, ge=1)
    #: Rows the engine evaluates between two progress callbacks.
    engine_chunk_size: int = Field(100_000, ge=1)
    #: Megabytes of loaded matches each worker process keeps for the next job over the same
    #: leagues, seasons and unchanged data (a filter sweep loads them once); 0 turns it off.
    match_cache_mb: int = Field(512, ge=0)
    #: Megabytes of those columns kept as files under ``data_dir/snapshots``, shared by every
    #: worker process using the data dir (a fresh worker maps them instead of reading the
    #: database); 0 turns them off.
    snapshot_files_mb: int = Field(4096, ge=0)
    #: On PostgreSQL, also keep the columns a worker read in the database (``column_snapshots``),
    #: where workers on other machines fetch them instead of reading the matches (see
    #: ``tasks.db_snapshots``); False reads the matches on every machine.
    db_snapshots: bool = True
    #: Seconds a Redis message may stay unacknowledged before it is given to another worker. It
    #: must exceed the longest task (the hard time limit is 3600 s), or running tasks would be
    #: delivered twice; a worker killed outright has its task redelivered after this long.
    visibility_timeout: int = Field(7200, gt=0)
    #: Seconds before the first retry of a task that met a passing fault; later retries wait
    #: 3x and 9x as long, each ± 20 % (see ``tasks.base.retry_countdown``).
    retry_base_seconds: float = Field(5.0, gt=0, le=600)
    #: Root of football-data.co.uk, or of a mirror laid out like it, for ``fb.fetch``.
    football_data_url: str = "https://www.football-data.co.uk/"
    #: League codes (comma separated) whose current season the daily refresh fetches; empty
    #: means every stored league that has a match in the current season.
    follow_leagues: str = ""

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        path = value.expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} exists and is not a directory")
        return path

    @field_validator("database_url", "broker_url", "result_backend", mode="after")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        return _check_url(value, URL_SCHEMES[str(info.field_name)])

    @field_validator("log_level", mode="after")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {clip(value, 40)!r}; expected one of {LOG_LEVELS}")
        return level

    @property
    def mode(self) -> Literal["embedded", "services"]:
        """``embedded`` when the broker is the package's serverless default."""
        return "embedded" if self.broker.startswith("filesystem://") else "services"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'filterbets.db'}"

    @property
    def broker(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def backend(self) -> str:
        if self.result_backend:
            return self.result_backend
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return f"db+sqlite:///{self.data_dir / 'celery-results.db'}"

    @property
    def broker_folder(self) -> Path:
        return self.data_dir / "broker"

    def broker_transport_options(self) -> dict[str, Any]:
        if self.broker.startswith(("redis://", "rediss://")):
            return {
                "visibility_timeout": self.visibility_timeout,
                **redelivery_sweep(self.visibility_timeout),
            }
        if not self.broker.startswith("filesystem://"):
            return {}
        folder = str(self.broker_folder)
        return {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": str(self.data_dir / "broker-control"),
            "polling_interval": self.broker_polling_interval,
        }

    def ensure_dirs(self) -> None:
        """Create the folders the embedded default writes to."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.mode == "embedded":
            self.broker_folder.mkdir(parents=True, exist_ok=True)
            (self.data_dir / "broker-control").mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        """One line for humans: mode and URLs, passwords masked."""
        return mask_url(
            f"{self.mode} mode: database={self.database} broker={self.broker} "
            f"results={self.backend} data_dir={self.data_dir}"
        )

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if isinstance(value, str) else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; ``get_settings.cache_clear()`` re-reads the env).

    Raises :class:`SettingsError` (one line per problem, naming the variable) when a setting is
    malformed, so a typo is reported where the settings are read rather than as a traceback
    from the driver that first tries to use it.
    """
    return load_settings()


def load_settings(**overrides: Any) -> Settings:
    """``Settings(**overrides)``, with validation errors turned into a :class:`SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


class MaskPasswordsFilter(logging.Filter):
    """Logging filter that masks URL passwords in every record it sees and clips it to
    :data:`MAX_MESSAGE_CHARS`, so one huge value cannot stall or flood a worker's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = clip(mask_url(message))
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Attach :class:`MaskPasswordsFilter` to every handler of ``logger`` (root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskPasswordsFilter) for f in handler.filters):
            handler.addFilter(MaskPasswordsFilter())
