"""The dashboards, live in JupyterLab, driven by a real browser.

Starts JupyterLab from this venv on loopback against a fresh demo store, opens a notebook in
headless Chromium and runs all its cells from the Run menu. The department dashboard must show
every campaign without scrolling, redraw when the Campaigns selection changes, and its All and
Clear buttons must select everything and nothing; the user explorer's export must arrive as a
browser download that parses as CSV with the campaign columns. The notebook files in the
repository are never written: autosave is off and checkpoints go to a temporary folder.
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
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NOTEBOOK = "03_department_comparison.ipynb"
EXPLORER = "04_user_explorer.ipynb"
BIN = Path(sys.prefix) / "bin"  # the venv running the tests, whose kernel the notebook gets

STARTUP_TIMEOUT = 60  # seconds until the server answers
KERNEL_TIMEOUT_MS = 60_000  # kernel start (about 3-10 s here)
RUN_TIMEOUT_MS = 90_000  # running all cells until the dashboard shows its charts
REDRAW_TIMEOUT_MS = 30_000

#: JupyterLab user settings for the test: no autosave (the repository's notebook stays as is).
#: The news prompt and update check are off through the project's own overrides
#: (jupyter/overrides.json, installed by `make lab` and `make test-browser`), which the tests
#: check rather than set.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
NOTIFICATION_SETTINGS = "@jupyterlab/apputils-extension:notification"

#: The first chart of the dashboard's Output widget (SVG, drawn by JupyterLab as an image or
#: inline), as a string that changes when the chart does.
CHART_JS = """() => {
    const chart = document.querySelector('.widget-output img, .widget-output svg');
    if (!chart) return null;
    return chart.tagName === 'IMG' ? chart.src : chart.outerHTML;
}"""
CHARTS = ".widget-output img, .widget-output svg"


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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def notebook_page(
    new_page, lab: Lab, notebook: str, artifacts: Path, viewport: dict[str, int]
) -> Iterator[tuple[Any, list[str]]]:
    """``notebook`` open in JupyterLab with its kernel idle and all cells run; the page and the
    list of non-loopback URLs it tried (aborted)."""
    page = new_page(viewport=viewport, accept_downloads=True)
    outside: list[str] = []

    def only_loopback(route) -> None:
        url = route.request.url
        if url.startswith((f"{lab.url}/", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}")
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
    yield page, outside


def _multi_select(page: Any, label: str) -> Any:
    return page.locator(
        f".widget-select-multiple:has(> label:text-is('{label}')) select[multiple]"
    ).first


def _button_under(page: Any, label: str, text: str) -> Any:
    """The All or Clear button below the multi-select called ``label``."""
    box = page.locator(".widget-vbox").filter(
        has=page.locator(f".widget-select-multiple:has(> label:text-is('{label}'))")
    )
    return box.locator("button", has_text=re.compile(f"^{text}$")).first


def _selected(select: Any) -> list[str]:
    return select.evaluate("s => [...s.selectedOptions].map(o => o.value)")


def _wait_for_new_chart(page: Any, before: str, why: str, artifacts: Path) -> str:
    try:
        page.wait_for_function(
            f"() => ({CHART_JS})() && ({CHART_JS})() !== {json.dumps(before)}",
            timeout=REDRAW_TIMEOUT_MS,
        )
    except Exception as exc:
        page.screenshot(path=str(artifacts / "lab-failure.png"))
        pytest.fail(f"the chart did not change after {why} ({exc})")
    return page.evaluate(CHART_JS)


@pytest.mark.timeout(240)
def test_dashboard_shows_its_options_and_redraws(
    new_page, demo_store: Path, port: int, tmp_path: Path, artifacts: Path
) -> None:
    notebook = NOTEBOOKS / NOTEBOOK
    before = _sha256(notebook)
    had_checkpoints = (NOTEBOOKS / ".ipynb_checkpoints").exists()

    with (
        running_lab(tmp_path, demo_store, port) as lab,
        notebook_page(new_page, lab, NOTEBOOK, artifacts, {"width": 1400, "height": 2200}) as (
            page,
            outside,
        ),
    ):
        campaigns = _multi_select(page, "Campaigns")
        try:
            campaigns.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
            page.wait_for_function(CHART_JS, timeout=RUN_TIMEOUT_MS)
        except Exception as exc:
            page.screenshot(path=str(artifacts / "lab-failure.png"))
            pytest.fail(f"the dashboard did not render ({exc}):\n{lab.log_tail()}")

        # The project's overrides turn JupyterLab's news prompt off: no toast covers the widgets.
        request = urllib.request.Request(
            f"{lab.url}/lab/api/settings/{NOTIFICATION_SETTINGS}",
            headers={"Authorization": f"token {lab.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            # Overrides replace the schema's defaults (the user's own settings stay empty).
            defaults = {
                name: spec.get("default")
                for name, spec in json.load(response)["schema"]["properties"].items()
            }
        assert defaults.get("fetchNews") == "false", defaults
        assert defaults.get("checkForUpdates") is False, defaults
        assert page.get_by_text("official Jupyter news").count() == 0

        first = page.evaluate(CHART_JS)
        assert page.locator(CHARTS).count() == 2  # interval and funnel plots
        assert first.startswith("data:image/svg+xml") or first.startswith("<svg"), first[:80]

        # Every list shows all its items: no scrolling needed to find the newest campaign.
        options = campaigns.locator("option")
        assert options.count() == 7, "the demo organisation has seven campaigns"
        for label in ("Campaigns", "Departments", "Status"):
            select = _multi_select(page, label)
            fits = select.evaluate("s => s.scrollHeight <= s.clientHeight + 1")
            assert fits, f"the {label} list needs scrolling to show its options"
        newest = options.nth(6)
        assert newest.is_visible() and "Spot the Spoof" in newest.inner_text().replace("\xa0", " ")
        hint = page.locator(".widget-html", has_text="empty choice means all")
        assert hint.count() >= 1, "no hint on how selection works"
        assert page.locator(".widget-dropdown:has(> label:text-is('Metric')) select").count()

        # Pick one campaign, as a user would; the kernel redraws into the Output widget.
        chosen = options.nth(1).get_attribute("value")
        campaigns.select_option(value=[chosen])
        chart = _wait_for_new_chart(page, first, f"choosing {chosen!r}", artifacts)
        assert _selected(campaigns) == [chosen]

        # All selects every campaign, Clear selects none (which means all); each redraws.
        _button_under(page, "Campaigns", "All").click()
        page.wait_for_function(
            "s => s.selectedOptions.length === s.options.length",
            arg=campaigns.element_handle(),
            timeout=REDRAW_TIMEOUT_MS,
        )
        chart = _wait_for_new_chart(page, chart, "clicking All", artifacts)
        _button_under(page, "Campaigns", "Clear").click()
        page.wait_for_function(
            "s => s.selectedOptions.length === 0",
            arg=campaigns.element_handle(),
            timeout=REDRAW_TIMEOUT_MS,
        )
        page.wait_for_function(
            f"() => [...document.querySelectorAll({json.dumps(CHARTS)})].length === 2",
            timeout=REDRAW_TIMEOUT_MS,
        )

        dashboard = page.locator(".jp-Cell").filter(has=page.locator(CHARTS))
        dashboard.locator(".jp-OutputArea").first.screenshot(
            path=str(artifacts / "lab-dashboard.png")
        )
        assert not outside, f"JupyterLab requested non-loopback URLs: {outside}"

    assert _sha256(notebook) == before, f"{notebook} was modified by the test"
    if not had_checkpoints:
        assert not (NOTEBOOKS / ".ipynb_checkpoints").exists()


@pytest.mark.timeout(240)
def test_explorer_export_downloads_a_csv(
    new_page, demo_store: Path, port: int, tmp_path: Path, artifacts: Path
) -> None:
    import pandas as pd

    notebook = NOTEBOOKS / EXPLORER
    before = _sha256(notebook)
    with (
        running_lab(tmp_path, demo_store, port) as lab,
        notebook_page(new_page, lab, EXPLORER, artifacts, {"width": 1366, "height": 1600}) as (
            page,
            outside,
        ),
    ):
        export = page.locator("button", has_text="Export selection").first
        try:
            export.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
        except Exception as exc:
            page.screenshot(path=str(artifacts / "lab-failure.png"))
            pytest.fail(f"the explorer did not render ({exc}):\n{lab.log_tail()}")
        campaigns = _multi_select(page, "Campaigns")
        chosen = campaigns.locator("option").nth(6).get_attribute("value")
        campaigns.select_option(value=[chosen])
        page.wait_for_function(
            "s => s.selectedOptions.length === 1", arg=campaigns.element_handle()
        )
        export.click()
        link = page.locator("a[download]").first
        link.wait_for(state="visible", timeout=REDRAW_TIMEOUT_MS)
        with page.expect_download(timeout=REDRAW_TIMEOUT_MS) as download_info:
            link.click()
        download = download_info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        assert saved.name.startswith("awareness-selection-") and saved.suffix == ".csv"
        text = saved.read_text(encoding="utf-8")
        assert text.startswith("#"), "the download carries no provenance lines"
        assert "fetched" in text.split("\n", 1)[0] or "snapshot" in text.lower()[:400]
        frame = pd.read_csv(saved, comment="#")
        assert {"campaign_id", "campaign_name"} <= set(frame.columns)
        # ipywidgets' option values are the labels: the campaign's name.
        assert len(frame) > 0 and set(frame["campaign_name"]) == {chosen}
        assert frame["campaign_id"].nunique() == 1
        assert not outside, f"JupyterLab requested non-loopback URLs: {outside}"
    assert _sha256(notebook) == before, f"{notebook} was modified by the test"
