"""The secrets of the docker-compose stack: a ``.env`` of random ones, written once.

``docker-compose.yml`` has no default for any secret (``${VAR:?...}``): a stack started without
them refuses to start instead of running with passwords that are public in this repository (and
a known Jupyter token, which is remote code execution for anyone reaching the port).
``filterbets-nb compose-init`` writes them, readable by the owner only, next to the compose file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: Every secret the compose file requires, and what it guards.
SECRETS: dict[str, str] = {
    "POSTGRES_PASSWORD": "PostgreSQL password of the filterbets user",
    "REDIS_PASSWORD": "Redis password (broker and results)",
    "FLOWER_BASIC_AUTH": "user:password of Flower's web UI and API",
    "JUPYTER_TOKEN": "token JupyterLab asks for",
}
#: Bytes of randomness per secret (32 URL-safe characters).
ENTROPY_BYTES = 24


def generate() -> dict[str, str]:
    """Fresh random values for :data:`SECRETS`, URL-safe (they are used inside URLs)."""
    values = {name: secrets.token_urlsafe(ENTROPY_BYTES) for name in SECRETS}
    values["FLOWER_BASIC_AUTH"] = f"admin:{values['FLOWER_BASIC_AUTH']}"
    return values


def render(values: dict[str, str]) -> str:
    lines = ["# Secrets of docker-compose.yml, written by `filterbets-nb compose-init`."]
    lines.append("# Keep this file out of version control (it is in .gitignore and .dockerignore).")
    for name, text in SECRETS.items():
        lines += [f"# {text}", f"{name}={values[name]}"]
    return "\n".join(lines) + "\n"


def write_env(path: Path, *, force: bool = False) -> dict[str, str]:
    """Write a ``.env`` with new random secrets at ``path``; returns them.

    An existing file is kept (its secrets are what the running stack and its volumes use: new
    ones would lock the database out) unless ``force`` is given.
    """
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory")
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to replace its secrets")
    values = generate()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(render(values))
    os.chmod(path, 0o600)  # also when --force replaced a file that others could read
    return values
