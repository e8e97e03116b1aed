"""Stored notebooks stay clean: saving them in JupyterLab changes nothing, widget outputs read
without the widget state, expected errors are one line, and no output shows a local path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: What JupyterLab writes for the ipykernel kernel (its kernelspec's display name).
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"
#: Prefixes of paths of the machines that execute notebooks (checkouts, temp dirs, homes).
LOCAL_PATHS = ("/work/", "/tmp/", "/home/", "/root/", "/Users/", "C:\\\\")


def _outputs(nb: Any) -> list[Any]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saving_in_jupyterlab_changes_nothing(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    # JupyterLab's contents manager: nbformat.writes (indent 1, sorted keys, no ASCII
    # escaping), plus the trailing newline of the file it writes.
    assert nbformat.writes(nb, version=4) + "\n" == text
    assert nb.metadata.kernelspec.display_name == KERNEL_DISPLAY_NAME
    assert nb.metadata.kernelspec.name == "python3"
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    shown = [out for out in _outputs(nb) if WIDGET_VIEW in out.get("data", {})]
    if shown:  # every displayed widget's model is in the stored state, as JupyterLab saves it
        assert state is not None and state["version_major"] == 2
        for out in shown:
            assert out["data"][WIDGET_VIEW]["model_id"] in state["state"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_read_without_widgets_and_show_no_local_path(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for out in _outputs(nb):
        data = out.get("data", {})
        if WIDGET_VIEW in data and "ProgressBar(" in data.get("text/plain", ""):
            # the final bar as text and HTML, not just ProgressBar('quickstart')
            assert data["text/plain"].count(": ") >= 1 and "text/html" in data
            assert "filterbets-static" in data["text/html"]
        if out.output_type == "error":
            assert out.ename.endswith("Error")
            assert len(out.traceback) == 1, out.traceback  # the one-line message
        shown = json.dumps({k: v for k, v in out.items() if k != "metadata"})
        for prefix in LOCAL_PATHS:
            assert prefix not in shown, f"{path.name}: an output shows a local path {prefix}"


def test_quickstart_runs_on_an_explicit_demo_scope() -> None:
    nb = nbformat.read(ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4)
    submit = next(
        c.source for c in nb.cells if c.cell_type == "code" and "fb.backtest(" in c.source
    )
    assert '"leagues"' in submit and '"seasons"' in submit
