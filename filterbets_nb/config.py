"""Settings: one object, read from ``FILTERBETS_*`` environment variables and ``.env``.

Switching from the embedded default (SQLite + a serverless Celery transport, all under
``data_dir``) to Redis + PostgreSQL is a matter of setting three URLs; no code changes.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)@")


def mask_url(text: str) -> str:
    """Replace every password inside ``scheme://user:password@host`` URLs in ``text`` by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


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
    #: Seconds between polls of the filesystem broker (embedded mode only).
    broker_polling_interval: float = 0.05
    #: Concurrency of the worker the package starts for the user in embedded mode.
    worker_concurrency: int = 2
    log_level: str = "INFO"
    #: Least seconds between two PROGRESS updates of a task (and at least 1 % between them).
    progress_interval: float = 0.25
    #: Matches read per database round trip by the evaluate link (progress is reported per page).
    fetch_page_size: int = 50_000
    #: Rows the engine evaluates between two progress callbacks.
    engine_chunk_size: int = 100_000
    #: Megabytes of loaded matches each worker process keeps for the next job over the same
    #: leagues, seasons and unchanged data (a filter sweep loads them once); 0 turns it off.
    match_cache_mb: int = 512
    #: Seconds a Redis message may stay unacknowledged before it is given to another worker. It
    #: must exceed the longest task (the hard time limit is 3600 s), or running tasks would be
    #: delivered twice; a worker killed outright has its task redelivered after this long.
    visibility_timeout: int = 7200
    #: Root of football-data.co.uk, or of a mirror laid out like it, for ``fb.fetch``.
    football_data_url: str = "https://www.football-data.co.uk/"
    #: League codes (comma separated) whose current season the daily refresh fetches; empty
    #: means every stored league that has a match in the current season.
    follow_leagues: str = ""

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().resolve()

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
            return {"visibility_timeout": self.visibility_timeout}
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
    """The process-wide settings (cached; ``get_settings.cache_clear()`` re-reads the env)."""
    return Settings()


class MaskPasswordsFilter(logging.Filter):
    """Logging filter that masks URL passwords in every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_url(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Attach :class:`MaskPasswordsFilter` to every handler of ``logger`` (root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskPasswordsFilter) for f in handler.filters):
            handler.addFilter(MaskPasswordsFilter())
