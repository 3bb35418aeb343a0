"""The department dashboard, live in JupyterLab, driven by a real browser.

Starts JupyterLab from this venv on loopback against a fresh demo store, opens
``03_department_comparison.ipynb`` in headless Chromium, runs all cells from the Run menu, and
checks that changing the Campaigns selection in the browser redraws the chart. The notebook file
in the repository is never written: autosave is off and checkpoints go to a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK = "03_department_comparison.ipynb"
BIN = Path(sys.prefix) / "bin"  # the venv running the tests, whose kernel the notebook gets

STARTUP_TIMEOUT = 60  # seconds until the server answers
KERNEL_TIMEOUT_MS = 60_000  # kernel start (about 3-10 s here)
RUN_TIMEOUT_MS = 90_000  # running all cells until the dashboard shows its charts
REDRAW_TIMEOUT_MS = 30_000

#: JupyterLab user settings for the test: no news prompt or update check (no network, and the
#: toast would cover the screenshot), and no autosave (the repository's notebook stays as is).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

#: The first chart image of the dashboard's Output widget.
CHART_JS = "() => { const i = document.querySelector('.widget-output img'); return i && i.src; }"


@dataclass
class Lab:
    url: str
    token: str
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (kernels run in sessions of their own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Terminate JupyterLab (it shuts its kernels down), wait, and kill on timeout."""
    if process.poll() is not None:
        return
    kernels = _children(process.pid)
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [process.pid, *kernels]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_until_up(process: subprocess.Popen[bytes], lab: Lab) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    request = urllib.request.Request(
        f"{lab.url}/api/status", headers={"Authorization": f"token {lab.token}"}
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_TIMEOUT} s:\n{lab.log_tail()}")


@contextmanager
def running_lab(tmp_path: Path, store: Path, port: int) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1:``port`` with a random token, its state in ``tmp_path``."""
    home = tmp_path / "jupyter"
    settings = home / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        **os.environ,
        "AWARENESS_STORE": str(store),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    env.pop("MPLBACKEND", None)  # the kernel must pick the inline backend itself
    lab = Lab(f"http://127.0.0.1:{port}", secrets.token_hex(16), tmp_path / "jupyterlab.log")
    command = [
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--ServerApp.token={lab.token}",
        f"--ServerApp.root_dir={NOTEBOOKS}",
        f"--FileCheckpoints.root_dir={home / 'checkpoints'}",
        "--allow-root",
    ]
    with lab.log.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(process, lab)
        yield lab
    finally:
        _stop(process)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.timeout(180)
def test_dashboard_redraws_when_campaign_changes(
    new_page, demo_store: Path, port: int, tmp_path: Path, artifacts: Path
) -> None:
    notebook = NOTEBOOKS / NOTEBOOK
    before = _sha256(notebook)
    had_checkpoints = (NOTEBOOKS / ".ipynb_checkpoints").exists()

    with running_lab(tmp_path, demo_store, port) as lab:
        page = new_page(viewport={"width": 1400, "height": 2200})
        outside: list[str] = []

        def only_loopback(route) -> None:
            url = route.request.url
            if url.startswith((f"{lab.url}/", "data:", "blob:")):
                route.continue_()
            else:
                outside.append(url)
                route.abort()

        page.route("**/*", only_loopback)
        page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
        try:
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=KERNEL_TIMEOUT_MS)
            # The toolbar's indicator reads "idle" before a kernel exists; the status bar
            # says "<kernel> | Idle" only once the kernel has started and answered.
            page.wait_for_function(
                """() => {
                    const indicator = document.querySelector(
                        '.jp-NotebookPanel [data-status]');
                    const items = [...document.querySelectorAll('.jp-StatusBar-TextItem')];
                    return indicator && indicator.dataset.status === 'idle'
                        && items.some(e => /\\|\\s*Idle\\s*$/.test(e.textContent));
                }""",
                timeout=KERNEL_TIMEOUT_MS,
            )
        except Exception as exc:
            page.screenshot(path=str(artifacts / "lab-failure.png"))
            pytest.fail(f"kernel never became idle ({exc}):\n{lab.log_tail()}")

        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()

        campaigns = page.locator(
            ".widget-select-multiple:has(> label:text-is('Campaigns')) select[multiple]"
        )
        try:
            campaigns.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
            page.wait_for_function(CHART_JS, timeout=RUN_TIMEOUT_MS)
        except Exception as exc:
            page.screenshot(path=str(artifacts / "lab-failure.png"))
            pytest.fail(f"the dashboard did not render ({exc}):\n{lab.log_tail()}")

        first = page.evaluate(CHART_JS)
        assert first.startswith("data:image/png;base64,")
        assert page.locator(".widget-output img").count() == 2  # interval and funnel plots
        options = campaigns.locator("option")
        assert options.count() >= 2, "the demo store should have several campaigns"
        assert page.locator(
            ".widget-select-multiple:has(> label:text-is('Departments')) option"
        ).count()
        assert page.locator(".widget-dropdown:has(> label:text-is('Metric')) select").count()

        # Pick one campaign, as a user would; the kernel redraws into the Output widget.
        chosen = options.nth(1).get_attribute("value")
        campaigns.select_option(value=[chosen])
        try:
            page.wait_for_function(
                f"() => ({CHART_JS})() && ({CHART_JS})() !== {json.dumps(first)}",
                timeout=REDRAW_TIMEOUT_MS,
            )
        except Exception as exc:
            page.screenshot(path=str(artifacts / "lab-failure.png"))
            pytest.fail(f"the chart did not change after choosing {chosen!r} ({exc})")
        assert campaigns.evaluate("s => [...s.selectedOptions].map(o => o.value)") == [chosen]
        page.wait_for_function(
            "() => { const imgs = [...document.querySelectorAll('.widget-output img')];"
            " return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
            timeout=REDRAW_TIMEOUT_MS,
        )
        assert page.locator(".widget-output img").count() == 2

        dashboard = page.locator(".jp-Cell").filter(has=page.locator(".widget-output img"))
        dashboard.locator(".jp-OutputArea").first.screenshot(
            path=str(artifacts / "lab-dashboard.png")
        )
        assert not outside, f"JupyterLab requested non-loopback URLs: {outside}"

    assert _sha256(notebook) == before, f"{notebook} was modified by the test"
    if not had_checkpoints:
        assert not (NOTEBOOKS / ".ipynb_checkpoints").exists()
