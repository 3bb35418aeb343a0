"""The demo store: the synthetic demo organisation, served on the local fake API and fetched
with the real client, so the demo exercises exactly the code a real tenant does."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from awareness_analysis.api.config import HmacCredentials, Settings
from awareness_analysis.api.fetch import fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.store import Snapshot, SnapshotStore
from awareness_analysis.fakeapi.demo_org import DEMO_SEED, build_demo_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer


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
    """Serve the demo organisation on loopback and fetch it into a new snapshot under ``out``."""
    credentials = FakeCredentials.demo()
    # Dated as of today, so the demo is always current: its newest campaign is still running.
    dataset = build_demo_dataset(seed, as_of=datetime.now(UTC).date())
    with (
        FakeMimecastServer(dataset, credentials=credentials) as server,
        MimecastClient(fake_server_settings(server, credentials)) as client,
    ):
        return fetch_snapshot(client, SnapshotStore(out), progress=progress)


def ensure_demo_store(out: str | os.PathLike[str] | None = None) -> SnapshotStore:
    """The demo store at ``out`` (default :func:`default_demo_store`), built first if empty."""
    out = default_demo_store() if out is None else out
    store = SnapshotStore(out)
    if not store.exists():
        build_demo_store(out)
    return store
