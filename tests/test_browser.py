"""scripts/browser_check.py against real JupyterLab and headless Chromium.

Each test writes a small notebook to a temp dir and runs the script on it in a subprocess, as
CI would. One notebook shows a ProgressBar (driven by a fake status_fn, so no worker is needed)
and a pandas summary table, and must pass; the other shows a widget the browser cannot draw and
neither bar nor summary, and must fail with every problem named, so the check is known to be
able to fail.

Needs /usr/bin/chromium (Debian's ``chromium`` package) and the ``playwright`` Python package
(never ``playwright install``). Without them the tests skip locally and fail in CI (``CI`` set).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "browser_check.py"
CHROMIUM = Path("/usr/bin/chromium")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

GOOD_SETUP = """\
import itertools

import pandas as pd

from filterbets_nb.notebook import ProgressBar
from filterbets_nb.tasks.progress import progress_meta


def state(name, current, total, stage, **extra):
    meta = progress_meta(current, total, stage=stage, **extra)
    return {"state": name, "progress": meta, "error": None}


steps = [{"state": "PENDING", "progress": {}, "error": None}, state("STARTED", 50, 50, "fetch")]
steps += [state("PROGRESS", i, 100, "evaluate", bets=i // 4) for i in range(10, 100, 15)]
steps += [state("SUCCESS", 1, 1, "save", description="done", bets=25)]
feed = itertools.chain(steps, itertools.repeat(steps[-1]))
bar = ProgressBar(lambda: next(feed), lambda: None, description="browser check", interval=0.1)
bar"""

BAD_SETUP = '''\
import ipywidgets
from traitlets import Unicode


class Unrenderable(ipywidgets.DOMWidget):
    """Its front-end module does not exist, so the page shows a widget error."""

    _model_module = Unicode("filterbets-no-such-module").tag(sync=True)
    _view_module = Unicode("filterbets-no-such-module").tag(sync=True)
    _model_name = Unicode("NopeModel").tag(sync=True)
    _view_name = Unicode("NopeView").tag(sync=True)


Unrenderable()'''


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    """Skip with the reason when Chromium or Playwright is missing; in CI that is a failure."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install playwright)")
    if missing:
        message = "browser check needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def write_notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={"kernelspec": KERNELSPEC},
    )
    nbformat.write(notebook, path)
    return path


def run_check(notebook: Path, screenshot: Path) -> tuple[int, dict[str, Any], str]:
    """Run the script; (exit code, its JSON report, its stderr log)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILTERBETS_")}
    args = ["--notebook", str(notebook), "--screenshot", str(screenshot), "--json"]
    args += ["--timeout", "240", "--widget-timeout", "20"]
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=800)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the script then still stops its JupyterLab and Chromium.
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        pytest.fail(f"browser_check.py did not finish in time:\n{stderr}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    return proc.returncode, report, stderr


def painted_pixels(png: Path, rgb: tuple[int, int, int], tolerance: int = 4) -> int:
    """How many pixels of the screenshot have (about) this colour."""
    import matplotlib.image
    import numpy as np

    image = matplotlib.image.imread(png)[..., :3]
    pixels = (image * 255).round().astype(int)
    return int((np.abs(pixels - np.array(rgb)).max(axis=-1) <= tolerance).sum())


def test_progress_bar_renders_in_jupyterlab(tmp_path: Path) -> None:
    notebook = write_notebook(
        tmp_path / "progress_demo.ipynb",
        [
            GOOD_SETUP,
            "bar.wait(60)\nbar.state",
            'pd.DataFrame({"value": [25, 12, -1.5, -0.06]},'
            ' index=["bets", "wins", "profit", "roi"])',
        ],
    )
    screenshot = tmp_path / "shots" / "progress_demo.png"
    code, report, log = run_check(notebook, screenshot)
    assert code == 0, log
    assert report["problems"] == []
    assert report["notebook"]["executed"] == 3 and report["notebook"]["errors"] == []
    page = report["page"]
    assert page["widgetErrors"] == [] and page["errorViews"] == 0
    assert page["progress"] == 1 and page["progressVisible"] == 1
    assert page["summaryTables"] >= 1
    # The poller thread kept updating the widget after its cell: it shows the end state.
    assert any("done" in text and "25 bets" in text for text in page["barTexts"])
    (bar,) = page["bars"]
    assert bar["fill"] == pytest.approx(1.0, abs=0.01)
    red, green, blue = (int(c) for c in bar["color"].strip("rgba()").split(",")[:3])
    assert green > red and green > blue, bar["color"]  # bar_style "success"

    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The green bar really is in the picture, not just in the DOM.
    assert painted_pixels(screenshot, (red, green, blue)) > 1000


def test_check_fails_without_widget_or_summary(tmp_path: Path) -> None:
    notebook = write_notebook(
        tmp_path / "broken_demo.ipynb", [BAD_SETUP, "print('no bar, no summary')"]
    )
    screenshot = tmp_path / "broken_demo.png"
    code, report, log = run_check(notebook, screenshot)
    assert code == 1, log
    problems = " | ".join(report["problems"])
    assert "did not render" in problems or "widget error view" in problems
    assert "no .widget-progress element" in problems
    assert "no visible summary output" in problems
    assert screenshot.exists()  # a failed check still leaves its picture
    assert "FAIL:" in log


def test_quickstart_notebook_renders_bar_and_summary() -> None:
    """The real notebook 01, run from scratch in JupyterLab: embedded mode, a worker started
    by ``fb.connect()``, the live bar of a real backtest, and the summary."""
    screenshot = ROOT / "artifacts" / "browser" / "01_quickstart.png"
    code, report, log = run_check(ROOT / "notebooks" / "01_quickstart.ipynb", screenshot)
    assert code == 0, log
    assert report["problems"] == [] and report["notebook"]["errors"] == []
    page = report["page"]
    assert page["progress"] >= 1 and page["widgetErrors"] == []
    assert any("done" in text for text in page["barTexts"]), page["barTexts"]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
