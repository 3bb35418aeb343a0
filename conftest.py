"""Test session set-up shared by the unit tests and the notebooks (run by nbval)."""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # nbval runs each notebook in its own kernel process, which inherits this environment:
    # point the notebooks at a throwaway demo store instead of the user's cache folder.
    if "AWARENESS_STORE" not in os.environ:
        from awareness_analysis.demo import build_demo_store

        store = os.path.join(tempfile.mkdtemp(prefix="awareness-tests-"), "demo-store")
        build_demo_store(store, progress=False)
        os.environ["AWARENESS_STORE"] = store
