"""The project's own files agree with each other: install metadata, conda env, README, CI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import yaml

from tests.conftest import ROOT


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _norm(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_environment_yml_matches_pyproject() -> None:
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    listed_in_pyproject = project["dependencies"] + extras["notebook"] + extras["dev"]
    # The dev extra names the notebook extra by the project's own name; conda lists it expanded.
    wanted = {_norm(r) for r in listed_in_pyproject if not r.startswith(project["name"])}
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
    extras = project["optional-dependencies"]
    assert "filterbets-nb[notebook]" in extras["dev"]


#: What only an analyst's machine needs: a worker or beat machine installs the lean core.
NOTEBOOK_ONLY = ("ipywidgets", "jupyterlab", "matplotlib", "nbval", "IPython")


def test_lean_core_has_no_notebook_dependencies() -> None:
    project = _pyproject()["project"]
    core = " ".join(project["dependencies"]).lower()
    for name in NOTEBOOK_ONLY:
        assert name.lower() not in core, name


def test_worker_side_imports_without_notebook_packages(tmp_path: Path) -> None:
    """The task modules, the CLI and the engine import on a machine without the notebook extra.

    A meta-path finder refuses the notebook-only packages in a fresh interpreter, as if they
    were not installed, then every module a worker or beat loads is imported.
    """
    code = textwrap.dedent(
        f"""
        import importlib, importlib.abc, sys
        BLOCKED = {NOTEBOOK_ONLY!r}
        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (lean install)")
                return None
        sys.meta_path.insert(0, Refuse())
        import pkgutil, filterbets_nb, filterbets_nb.tasks
        for mod in pkgutil.walk_packages(filterbets_nb.__path__, "filterbets_nb."):
            if ".migrations" in mod.name or mod.name.split(".")[1] in ("notebook", "plotting"):
                continue
            importlib.import_module(mod.name)
        import filterbets_nb.cli
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILTERBETS_")}
    env["FILTERBETS_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


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
