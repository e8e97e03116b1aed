#!/usr/bin/env python3
"""Run a notebook in real JupyterLab in headless Chromium and check its widgets rendered.

nbval proves a notebook's cells run and their text outputs match; it cannot see whether the
browser actually draws a widget (a missing or mismatched widget manager only shows "Loading
widget..." or "Error displaying widget" in the page). This script closes that gap:

1. copies the notebook's folder to a temp dir and starts ``jupyter lab`` there on a free port
   with a random token and a fresh ``FILTERBETS_DATA_DIR`` (so it never touches a real one);
2. opens the notebook in headless Chromium (Playwright driving Debian's ``/usr/bin/chromium``;
   Playwright's own browser download is never used), clears the stored outputs and runs all
   cells through ``jupyterapp.commands``;
3. waits, with a bound on every wait, until the kernel is idle and every code cell ran;
4. saves a screenshot, then exits 1 if a widget did not render ("Loading widget...",
   "Error displaying widget", no ``.widget-progress`` element), no summary table is visible,
   or a cell raised; 2 if the check itself could not run (no Chromium, JupyterLab did not
   start); 0 otherwise;
5. shuts JupyterLab (and its kernels) and Chromium down, whatever happened.

    python scripts/browser_check.py                     # notebooks/01_quickstart.ipynb
    python scripts/browser_check.py --notebook /tmp/x/demo.ipynb --screenshot /tmp/x.png
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"
DEFAULT_SCREENSHOT = ROOT / "artifacts" / "browser" / "01_quickstart.png"
CHROMIUM = "/usr/bin/chromium"
# As root Chromium needs --no-sandbox; the rest keeps a sandboxed CI machine from trying the
# network (there is none) and from spending time on first-run chores.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Texts the widget manager puts in place of a widget it could not draw: a model that never
# arrived, a model id it does not know, a view class that failed to load.
WIDGET_ERRORS = ("Loading widget...", "Error displaying widget", "Click to show javascript error")
MARKER_ENV = "FILTERBETS_BROWSER_CHECK"  # tags every process this run starts, for cleanup

# JupyterLab user settings for the run: attach every cell to the DOM (the default windowing
# may leave off-screen outputs out of the page, which would look like a missing widget) and no
# news/update requests (no network, and no toast over the screenshot).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

JS_NOTEBOOK_STATE = """
() => {
  const app = window.jupyterapp;
  if (!app) return {stage: "app"};
  const panel = app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return {stage: "notebook"};
  const session = panel.sessionContext;
  const kernel = session.session && session.session.kernel;
  const cells = panel.content.widgets.filter((c) => c.model.type === "code");
  const prompts = Array.from(panel.node.querySelectorAll(".jp-CodeCell .jp-InputPrompt"));
  const errors = [];
  for (const cell of cells) {
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === "error") errors.push(out.ename + ": " + out.evalue);
    }
  }
  return {
    stage: "ready",
    contextReady: panel.context.isReady,
    sessionReady: session.isReady,
    kernel: kernel ? kernel.status : null,
    cells: cells.length,
    executed: cells.filter((c) => c.model.executionCount !== null).length,
    running: prompts.filter((p) => p.textContent.includes("*")).length,
    errors: errors,
  };
}
"""

JS_PAGE_FACTS = """
(args) => {
  const [selector, keys, markers] = args;
  const root = document.querySelector(".jp-Notebook") || document.body;
  const text = root.textContent || "";
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = window.getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const progress = Array.from(document.querySelectorAll(".widget-progress"));
  const summaries = Array.from(document.querySelectorAll(selector)).filter(
    (el) => visible(el) && keys.every((k) => (el.textContent || "").includes(k))
  );
  const errorViews = document.querySelectorAll(".jupyter-widgets-error-widget").length;
  return {
    widgetErrors: markers.filter((marker) => text.includes(marker)),
    errorViews: errorViews,
    progress: progress.length,
    progressVisible: progress.filter(visible).length,
    summaries: summaries.length,
    summaryTables: summaries.filter((el) => el.tagName === "TABLE").length,
    bars: progress.map((el) => {
      const fill = el.querySelector(".progress-bar");
      const box = el.getBoundingClientRect();
      return {
        fill: fill && box.width ? fill.getBoundingClientRect().width / box.width : 0,
        color: fill ? window.getComputedStyle(fill).backgroundColor : null,
      };
    }),
    barTexts: Array.from(document.querySelectorAll(".filterbets-progress-text")).map(
      (el) => el.textContent
    ),
  };
}
"""


class CheckError(RuntimeError):
    """The check could not run (exit 2), as opposed to a notebook that failed it (exit 1)."""


@dataclass
class Report:
    """What the page showed; ``problems`` empty means the notebook passed."""

    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    screenshot: Path | None = None


def log(message: str) -> None:
    print(f"[browser_check] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deadline_loop(timeout: float, step: float = 0.25) -> Any:
    """Yield until ``timeout`` seconds passed, sleeping ``step`` between rounds: every wait in
    this script is bounded by construction."""
    end = time.monotonic() + timeout
    while True:
        yield
        if time.monotonic() >= end:
            return
        time.sleep(step)


class JupyterLab:
    """A ``jupyter lab`` server on loopback, in a temp copy of the notebook's folder."""

    def __init__(self, notebook: Path, workdir: Path, marker: str) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.root = workdir / "notebooks"
        shutil.copytree(
            notebook.parent,
            self.root,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc"),
        )
        self.notebook = notebook.name
        self.log_path = workdir / "jupyterlab.log"
        settings_dir = workdir / "lab-settings"
        for rel, values in LAB_SETTINGS.items():
            path = settings_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ)
        env.update(
            FILTERBETS_DATA_DIR=str(workdir / "filterbets-data"),
            JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
            JUPYTERLAB_WORKSPACES_DIR=str(workdir / "lab-workspaces"),
            JUPYTER_RUNTIME_DIR=str(workdir / "jupyter-runtime"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            **{MARKER_ENV: marker},
        )
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            # ServerApp.token is deprecated in jupyter_server 2; this is its replacement.
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.disable_check_xsrf=True",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if os.geteuid() == 0:  # CI containers run as root; jupyter refuses without this
            cmd.append("--allow-root")
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            cmd,
            env=env,
            cwd=self.root,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self) -> str:
        return f"{self.base_url}/lab/tree/{self.notebook}?token={self.token}"

    def _api(self, path: str, method: str = "GET", timeout: float = 5.0) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float) -> None:
        for _ in deadline_loop(timeout):
            if self.process.poll() is not None:
                raise CheckError(f"jupyter lab exited ({self.process.returncode}):\n{self.tail()}")
            try:
                self._api("/api/status", timeout=2.0)
                return
            except (OSError, urllib.error.URLError, ValueError):
                continue
        raise CheckError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Shut kernels down through the API (so their atexit hooks stop any worker they
        started), then the server: SIGTERM to its process group, SIGKILL if it lingers."""
        if self.process.poll() is None:
            try:
                for kernel in self._api("/api/kernels") or []:
                    self._api(f"/api/kernels/{kernel['id']}", method="DELETE", timeout=15.0)
            except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError) as exc:
                log(f"kernel shutdown through the API failed: {exc}")
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._log.close()


def leftover_pids(marker: str) -> list[int]:
    """Processes still carrying this run's marker in their environment (kernels, workers
    started from a kernel): only ones this run started, found by id, never by name."""
    needle = f"{MARKER_ENV}={marker}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_leftovers(marker: str, grace: float = 10.0) -> None:
    pids = leftover_pids(marker)
    if not pids:
        return
    for pid in pids:
        try:
            cmd = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            cmd = b"?"
        log(f"stopping leftover process {pid}: {cmd.decode(errors='replace')[:120]}")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for _ in deadline_loop(grace):
        if not leftover_pids(marker):
            return
    for pid in leftover_pids(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run_in_browser(lab: JupyterLab, args: argparse.Namespace, workdir: Path) -> Report:
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise CheckError(f"playwright is not installed ({exc}); pip install playwright") from exc

    report = Report()
    with sync_playwright() as pw:
        try:
            # A persistent context is how Playwright takes an explicit, fresh --user-data-dir.
            context = pw.chromium.launch_persistent_context(
                str(workdir / "chromium-profile"),
                executable_path=args.chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000},
                timeout=60_000,
            )
        except PlaywrightError as exc:
            raise CheckError(f"Chromium did not start: {exc}") from exc
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            console: list[str] = []
            page.on(
                "console",
                lambda msg: (
                    console.append(f"{msg.type}: {msg.text}")
                    if msg.type in ("error", "warning")
                    else None
                ),
            )
            page.goto(lab.notebook_url(), wait_until="domcontentloaded", timeout=60_000)
            state = wait_for_kernel(page, args.timeout)
            log(f"notebook open, kernel {state.get('kernel')}, {state.get('cells')} code cells")
            page.evaluate(
                "() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')"
            )
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
            state = wait_for_cells(page, args.timeout)
            log(f"ran {state['executed']}/{state['cells']} cells; kernel {state['kernel']}")
            facts = wait_for_widgets(page, args)
            report.facts = {"notebook": state, "page": facts, "console": console[-20:]}
            if state["errors"]:
                report.problems.append("a cell raised: " + "; ".join(state["errors"]))
            if state["executed"] < state["cells"]:
                report.problems.append(
                    f"only {state['executed']} of {state['cells']} code cells ran"
                )
            for marker in facts["widgetErrors"]:
                report.problems.append(f"the page shows {marker!r}: a widget did not render")
            if facts["errorViews"] and not facts["widgetErrors"]:
                report.problems.append(f"{facts['errorViews']} widget error view(s) on the page")
            if not facts["progress"]:
                report.problems.append("no .widget-progress element: the progress bar is missing")
            elif not facts["progressVisible"]:
                report.problems.append(".widget-progress exists but is not visible")
            if not facts["summaries"]:
                report.problems.append(
                    f"no visible summary output ({args.summary_selector!r} "
                    f"containing {args.summary_keys})"
                )
            report.screenshot = screenshot(page, args.screenshot)
        finally:
            if report.screenshot is None:  # a failed wait: the picture helps most then
                try:
                    report.screenshot = screenshot(page, args.screenshot)
                    log(f"screenshot of the failed state: {report.screenshot}")
                except Exception as exc:
                    log(f"no screenshot: {exc}")
            context.close()
    return report


def wait_for_kernel(page: Any, timeout: float) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for _ in deadline_loop(timeout, step=0.5):
        state = page.evaluate(JS_NOTEBOOK_STATE)
        if (
            state.get("stage") == "ready"
            and state["contextReady"]
            and state["sessionReady"]
            and state["kernel"] == "idle"
        ):
            return state
    raise CheckError(f"the notebook's kernel was not ready within {timeout:.0f} s: {state}")


def wait_for_cells(page: Any, timeout: float) -> dict[str, Any]:
    """Until the kernel is idle twice in a row with no cell running, and every code cell ran
    (or one raised: Run All stops there)."""
    state: dict[str, Any] = {}
    idle_rounds = 0
    for _ in deadline_loop(timeout, step=0.5):
        state = page.evaluate(JS_NOTEBOOK_STATE)
        quiet = state.get("kernel") == "idle" and state.get("running") == 0
        complete = state.get("executed") == state.get("cells") or bool(state.get("errors"))
        idle_rounds = idle_rounds + 1 if quiet and complete else 0
        if idle_rounds >= 2:
            return state
    raise CheckError(f"cells still running after {timeout:.0f} s: {state}")


def wait_for_widgets(page: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Give the widget manager time to draw: until no "Loading widget..." is left and the
    progress bars show an end state, or a widget error with nothing left loading (an error is
    final: waiting longer cannot make the page pass), or ``--widget-timeout``; then report what
    is there."""
    facts: dict[str, Any] = {}
    for _ in deadline_loop(args.widget_timeout, step=0.5):
        facts = page.evaluate(
            JS_PAGE_FACTS, [args.summary_selector, args.summary_keys, list(WIDGET_ERRORS)]
        )
        settled = facts["progress"] and all(
            any(word in text for word in ("done", "failed", "cancelled", "unavailable"))
            for text in facts["barTexts"]
        )
        if not facts["widgetErrors"] and not facts["errorViews"] and settled:
            break
        loading, *failed = WIDGET_ERRORS
        shown = facts["widgetErrors"]
        if loading not in shown and (facts["errorViews"] or any(m in shown for m in failed)):
            break
    return facts


def screenshot(page: Any, path: Path) -> Path:
    """Viewport screenshot with the first progress bar scrolled to the middle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate(
        """() => {
            const bar = document.querySelector(".widget-progress");
            if (bar) bar.scrollIntoView({block: "center"});
        }"""
    )
    page.wait_for_timeout(300)  # one paint after scrolling
    page.screenshot(path=str(path))
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument(
        "screenshot_pos",
        nargs="?",
        type=Path,
        default=None,
        metavar="SCREENSHOT",
        help=f"PNG to write (default {DEFAULT_SCREENSHOT.relative_to(ROOT)})",
    )
    parser.add_argument("--screenshot", type=Path, default=None, help="same as SCREENSHOT")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium binary")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for the kernel to start and for all cells to run (each)",
    )
    parser.add_argument(
        "--widget-timeout",
        type=float,
        default=30.0,
        help="seconds for widgets to finish drawing after the cells ran",
    )
    parser.add_argument(
        "--summary-selector",
        default=".jp-OutputArea-output table, .jp-OutputArea-output pre",
        help="CSS selector of the summary output",
    )
    parser.add_argument(
        "--summary-keys",
        default="profit,roi",
        help="comma-separated words the summary output must contain",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, profile)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    args = parser.parse_args(argv)
    args.screenshot = args.screenshot or args.screenshot_pos or DEFAULT_SCREENSHOT
    args.summary_keys = [key.strip() for key in args.summary_keys.split(",") if key.strip()]
    args.notebook = args.notebook.resolve()
    args.screenshot = args.screenshot.resolve()
    return args


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    """Turn SIGTERM (a CI timeout, a test's terminate()) into SystemExit, so the ``finally``
    in :func:`main` still stops JupyterLab, its kernels and Chromium."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if not args.notebook.is_file():
        log(f"no notebook at {args.notebook}")
        return 2
    if not Path(args.chromium).exists():
        log(f"no Chromium at {args.chromium}: apt-get install -y chromium")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="filterbets-browser-"))
    marker = uuid.uuid4().hex
    lab: JupyterLab | None = None
    code = 2
    try:
        lab = JupyterLab(args.notebook, workdir, marker)
        lab.wait_ready(timeout=120)
        log(f"JupyterLab on {lab.base_url}, notebook {lab.notebook}")
        report = run_in_browser(lab, args, workdir)
        if args.json:
            print(json.dumps({"problems": report.problems, **report.facts}, default=str))
        log(f"screenshot: {report.screenshot}")
        for problem in report.problems:
            log(f"FAIL: {problem}")
        if not report.problems:
            facts = report.facts["page"]
            log(
                f"OK: {facts['progress']} progress bar(s), {facts['summaries']} summary output(s), "
                f"no widget errors"
            )
        code = 1 if report.problems else 0
    except CheckError as exc:
        log(f"ERROR: {exc}")
    except Exception as exc:  # report, clean up, exit 2: never leave servers behind
        log(f"ERROR: {type(exc).__name__}: {exc}")
        if lab is not None:
            log(f"JupyterLab log tail:\n{lab.tail()}")
    finally:
        if lab is not None:
            lab.stop()
        kill_leftovers(marker)
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
