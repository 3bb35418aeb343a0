"""Fixtures for the real-browser tests: one headless Chromium per session, a demo store, free
loopback ports and the artefact folder for screenshots.

These tests are kept out of ``make test``; run them with ``make test-browser``. They need
Debian's ``chromium`` at /usr/bin/chromium and Playwright for Python in the venv
(``scripts/install-browser.sh`` installs both). Nothing is skipped: a missing browser or
Playwright fails the run with a message saying how to install them.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path(os.environ.get("AA_CHROMIUM", "/usr/bin/chromium"))
INSTALL_HINT = "run `scripts/install-browser.sh` (or `make install-browser`) first"

#: Flags for Chromium as root in a sandboxed CI machine with no network: without the
#: background-networking flags Chromium keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``<repo>/test-artifacts/``: screenshots the tests save (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh demo store in a temporary folder (about a second to build)."""
    from awareness_analysis.demo import build_demo_store

    store = tmp_path_factory.mktemp("browser-store") / "demo-store"
    build_demo_store(store, progress=False)
    return store


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Debian Chromium for the whole session, driven by Playwright."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: {INSTALL_HINT}", pytrace=False)
    if importlib.util.find_spec("playwright") is None:
        pytest.fail(f"Playwright for Python is not installed: {INSTALL_HINT}", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Any]:
    """A factory for pages, each in its own fresh context, all closed after the test."""
    contexts = []

    def make(**options: Any) -> Page:
        options.setdefault("viewport", {"width": 1400, "height": 1000})
        context = browser.new_context(**options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
