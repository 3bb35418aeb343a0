"""The demo store: the synthetic demo organisation, served on the local fake API and fetched
with the real client, so the demo exercises exactly the code a real tenant does."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime, time
from pathlib import Path

from awareness_analysis.api.config import HmacCredentials, Settings
from awareness_analysis.api.fetch import fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.store import Snapshot, SnapshotStore
from awareness_analysis.fakeapi.demo_org import DEMO_AS_OF, DEMO_SEED, build_demo_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer

log = logging.getLogger(__name__)

#: When the demo organisation's data counts as fetched: noon UTC on its as-of day.
DEMO_FETCHED_AT = datetime.combine(DEMO_AS_OF, time(12, 0), tzinfo=UTC)


def default_demo_store() -> Path:
    """Where the demo store lives when no path is given: a per-user cache folder.

    ``$XDG_CACHE_HOME/awareness-analysis/demo-store`` (``~/.cache`` by default), so notebooks
    find the same store whatever folder they run from.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "awareness-analysis" / "demo-store"


def fake_server_settings(server: FakeMimecastServer, credentials: FakeCredentials) -> Settings:
    """Client settings that reach ``server`` with its API 1.0 keys."""
    return Settings(
        base_url=server.base_url,
        credentials=HmacCredentials(
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            app_id=credentials.app_id,
            app_key=credentials.app_key,
        ),
    )


def build_demo_store(
    out: str | os.PathLike[str], *, seed: int = DEMO_SEED, progress: bool | None = None
) -> Snapshot:
    """Serve the demo organisation on loopback and fetch it into a new snapshot under ``out``,
    with every behaviour source (phishing, SAFE scores, watch list, performance, training
    queue) as extra tables."""
    credentials = FakeCredentials.demo()
    with (
        FakeMimecastServer(build_demo_dataset(seed), credentials=credentials) as server,
        MimecastClient(fake_server_settings(server, credentials)) as client,
    ):
        # The demo organisation is a picture of one day (DEMO_AS_OF): its snapshot is dated
        # then, so "days since launch" and "still running" read as they would have that day.
        return fetch_snapshot(
            client,
            SnapshotStore(out),
            progress=progress,
            fetched_at=DEMO_FETCHED_AT,
            include=("all",),
        )


def _is_current_demo(store: SnapshotStore) -> bool:
    """Whether ``store`` holds the demo as this version builds it (dated on its as-of day)."""
    manifests = store.manifests()
    expected = DEMO_FETCHED_AT.strftime("%Y-%m-%dT%H:%M:%S")
    return (
        bool(manifests)
        and str(manifests[-1].get("fetched_at", "")).startswith(expected)
        and bool(manifests[-1].get("tables"))  # built with the behaviour sources
    )


def ensure_demo_store(out: str | os.PathLike[str] | None = None) -> SnapshotStore:
    """The demo store at ``out`` (default :func:`default_demo_store`), built first if empty.

    A demo store an earlier version built (dated on the day it was built, so nothing in it
    reads as running, or without the behaviour tables) is rebuilt beside it and swapped in.
    """
    out = Path(default_demo_store() if out is None else out)
    store = SnapshotStore(out)
    if not store.exists():
        build_demo_store(out)
    elif not _is_current_demo(store):
        log.info("Rebuilding the demo store at %s (made by an earlier version)", out)
        fresh = out.with_name(f".{out.name}.rebuild-{os.getpid()}")
        shutil.rmtree(fresh, ignore_errors=True)
        build_demo_store(fresh)
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        fresh.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    return store
