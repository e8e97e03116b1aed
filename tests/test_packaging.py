"""The project's own files agree with each other: install metadata, conda env, README, CI."""

from __future__ import annotations

import re
import tomllib

import yaml

from tests.conftest import ROOT


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _norm(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_environment_yml_matches_pyproject() -> None:
    project = _pyproject()["project"]
    wanted = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_norm(r) for r in pip_section if not r.startswith("-e")}
    assert listed == wanted, (
        f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    )
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python" + project["requires-python"]


def test_console_script_and_extras() -> None:
    project = _pyproject()["project"]
    assert project["scripts"]["filterbets-nb"] == "filterbets_nb.cli:main"
    assert "dev" in project["optional-dependencies"]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    install = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]"'
    assert commands[:2] == [
        f"{install} && filterbets-nb demo",
        "scripts/test",
    ], commands[:2]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == "scripts/test"
