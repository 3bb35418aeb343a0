"""Fetching into a snapshot store over loopback: minimal requests, selection, atomicity."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from awareness_analysis.api import fetch as fetch_module
from awareness_analysis.api.endpoints import GET_USER_DATA_PATH, UserDataFilter
from awareness_analysis.api.fetch import fetch_snapshot
from awareness_analysis.api.transport import MimecastClient, RetryPolicy
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.errors import MimecastResponseError
from awareness_analysis.fakeapi.server import FakeMimecastServer
from tests.conftest import BIG_CAMPAIGN, BIG_CAMPAIGN_USERS, SMALL_CAMPAIGN


def test_fetch_all_campaigns_with_minimal_requests(
    client: MimecastClient, server: FakeMimecastServer, tmp_path: Path
) -> None:
    snapshot = fetch_snapshot(client, SnapshotStore(tmp_path / "store"), progress=False)
    frames = snapshot.frames
    assert list(frames.campaigns["campaign_id"]) == [BIG_CAMPAIGN, SMALL_CAMPAIGN]
    assert len(frames.users) == BIG_CAMPAIGN_USERS + 3
    assert len(frames.answers) == BIG_CAMPAIGN_USERS * 2 + 3
    api_calls = [r for r in server.requests if r.path.startswith("/api/")]
    assert len(api_calls) == 1 + math.ceil(BIG_CAMPAIGN_USERS / 500) + 1
    manifest = snapshot.manifest
    assert manifest["api_host"] == server.base_url.removeprefix("http://")
    assert manifest["row_counts"]["users"] == BIG_CAMPAIGN_USERS + 3


def test_fetch_selected_campaign_with_filter_records_query(
    client: MimecastClient, tmp_path: Path
) -> None:
    snapshot = fetch_snapshot(
        client,
        SnapshotStore(tmp_path / "store"),
        campaign_ids=[SMALL_CAMPAIGN],
        user_filter=UserDataFilter(statuses=("incorrect",)),
        progress=False,
    )
    assert list(snapshot.frames.users["email"]) == ["alex.doe@alias.example"]
    assert list(snapshot.frames.campaigns["campaign_id"]) == [SMALL_CAMPAIGN]
    assert snapshot.manifest["query"]["campaign_ids"] == [SMALL_CAMPAIGN]
    assert snapshot.manifest["query"]["statuses"] == ["incorrect"]


def test_unknown_campaign_id_fails_before_user_data_requests(
    client: MimecastClient, server: FakeMimecastServer, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    with pytest.raises(ValueError, match=r"no-such-id.*awareness-analysis campaigns"):
        fetch_snapshot(client, store, campaign_ids=["no-such-id"], progress=False)
    assert not any(r.path == GET_USER_DATA_PATH for r in server.requests)
    assert not store.exists()


def test_failed_fetch_keeps_previous_snapshot(
    server: FakeMimecastServer, client: MimecastClient, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    first = fetch_snapshot(client, store, progress=False)
    server.inject("server_error", times=100, status=503, path=GET_USER_DATA_PATH)
    failing = MimecastClient(
        client.settings, retry=RetryPolicy(max_attempts=2), sleep=lambda _s: None
    )
    with pytest.raises(MimecastResponseError):
        fetch_snapshot(failing, store, progress=False, full=True)
    assert store.snapshot_ids() == [first.snapshot_id]
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["snapshots"]


def test_interrupted_fetch_keeps_previous_snapshot(
    client: MimecastClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SnapshotStore(tmp_path / "store")
    first = fetch_snapshot(client, store, progress=False)
    real_pages = fetch_module.iter_user_data_pages
    calls = []

    def interrupt_on_second_campaign(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_pages(*args, **kwargs)

    monkeypatch.setattr(fetch_module, "iter_user_data_pages", interrupt_on_second_campaign)
    with pytest.raises(KeyboardInterrupt):
        fetch_snapshot(client, store, progress=False, full=True)
    assert store.snapshot_ids() == [first.snapshot_id]
    assert store.load().frames.users.shape == first.frames.users.shape
