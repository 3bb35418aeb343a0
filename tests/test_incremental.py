"""Incremental refresh over loopback: only changed campaigns are downloaded again, and the
snapshot it writes is exactly what a full fetch would write."""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path

import pandas as pd
import pytest

from awareness_analysis.api.endpoints import GET_CAMPAIGNS_PATH, GET_USER_DATA_PATH, UserDataFilter
from awareness_analysis.api.fetch import fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.frames import Frames
from awareness_analysis.data.store import MANIFEST_NAME, Snapshot, SnapshotStore
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.demo_org import campaign_counters, synthetic_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer
from tests.conftest import hmac_settings

N_USERS = 230
N_CAMPAIGNS = 4
PAGE_SIZE = 100
PAGES = math.ceil(N_USERS / PAGE_SIZE)


@pytest.fixture
def org() -> FakeDataset:
    return synthetic_dataset(n_users=N_USERS, n_campaigns=N_CAMPAIGNS, seed=5)


def fetch(client: MimecastClient, store: SnapshotStore, **kwargs: object) -> Snapshot:
    return fetch_snapshot(client, store, page_size=PAGE_SIZE, progress=False, **kwargs)  # type: ignore[arg-type]


def api_calls(server: FakeMimecastServer) -> list:
    return [r for r in server.requests if r.path.startswith("/api/")]


def user_data_ids(server: FakeMimecastServer) -> list[str]:
    return [r.body["data"][0]["id"] for r in api_calls(server) if r.path == GET_USER_DATA_PATH]


def assert_frames_equal(left: Frames, right: Frames) -> None:
    for name in ("campaigns", "users", "answers"):
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name), obj=name)


def full_fetch_elsewhere(client: MimecastClient, tmp_path: Path, name: str) -> Snapshot:
    """What a full fetch of the server's current data gives, into a store of its own."""
    return fetch(client, SnapshotStore(tmp_path / name), full=True)


def with_changed_campaign(dataset: FakeDataset, position: int, n_answers: int = 7) -> FakeDataset:
    """A copy of ``dataset`` where ``n_answers`` unanswered users of one campaign answered
    (and one moved department), with that campaign's counters updated to match."""
    changed = copy.deepcopy(dataset)
    campaign = changed.campaigns[position]
    items = changed.users[campaign["id"]]
    n_questions = len(campaign["title"]["correctAnswers"])
    unanswered = [i for i in items if set(i["results"].values()) == {"SENT"}]
    assert len(unanswered) >= n_answers
    for item in unanswered[:n_answers]:
        item["results"] = {key: "CORRECT" for key in item["results"]}
    unanswered[0]["department"] = "Moved Department"
    campaign.update(campaign_counters(items, n_questions))
    return changed


def test_refresh_downloads_only_the_changed_campaign(
    org: FakeDataset,
    org_server: FakeMimecastServer,
    org_client: MimecastClient,
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    first = fetch(org_client, store)
    assert first.manifest["refresh"]["full"] is True
    assert len(api_calls(org_server)) == 1 + N_CAMPAIGNS * PAGES

    org_server.dataset = with_changed_campaign(org, 2)
    changed_id = org.campaigns[2]["id"]
    org_server.clear_requests()
    second = fetch(org_client, store)

    calls = api_calls(org_server)
    assert [r.path for r in calls].count(GET_CAMPAIGNS_PATH) == 1
    assert user_data_ids(org_server) == [changed_id] * PAGES
    assert len(calls) == 1 + PAGES
    refresh = second.manifest["refresh"]
    assert refresh["full"] is False
    assert refresh["base_snapshot"] == first.snapshot_id
    assert refresh["refreshed"] == [changed_id]
    assert sorted(refresh["reused"]) == sorted(
        c["id"] for c in org.campaigns if c["id"] != changed_id
    )

    full = full_fetch_elsewhere(org_client, tmp_path, "fresh")
    assert_frames_equal(second.frames, full.frames)
    assert_frames_equal(store.load().frames, full.frames)  # and as stored on disk
    assert second.manifest["content_hash"] == full.manifest["content_hash"]
    assert "Moved Department" in set(second.frames.users["department"])
    assert (
        second.frames.campaigns.set_index("campaign_id").loc[changed_id, "num_completed"]
        == (org_server.dataset.campaigns[2]["numCompleted"])
    )


def test_unchanged_data_makes_only_the_campaigns_request(
    org_server: FakeMimecastServer, org_client: MimecastClient, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    first = fetch(org_client, store)
    org_server.clear_requests()
    second = fetch(org_client, store)
    assert [r.path for r in api_calls(org_server)] == [GET_CAMPAIGNS_PATH]
    assert second.snapshot_id != first.snapshot_id
    assert store.snapshot_ids() == [first.snapshot_id, second.snapshot_id]
    assert_frames_equal(second.frames, first.frames)
    assert second.manifest["refresh"]["refreshed"] == []
    assert len(second.manifest["refresh"]["reused"]) == N_CAMPAIGNS


def test_counters_are_recorded_per_campaign(
    org: FakeDataset, org_client: MimecastClient, tmp_path: Path
) -> None:
    snapshot = fetch(org_client, SnapshotStore(tmp_path / "store"))
    recorded = snapshot.manifest["campaign_counters"]
    assert [entry["campaign_id"] for entry in recorded] == [c["id"] for c in org.campaigns]
    for entry, campaign in zip(recorded, org.campaigns, strict=True):
        for name in ("numSent", "numCompleted", "numCorrectAnswers", "locked"):
            assert entry[name] == campaign[name]


def test_new_campaign_is_fetched_and_removed_one_dropped(
    org: FakeDataset,
    org_server: FakeMimecastServer,
    org_client: MimecastClient,
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    fetch(org_client, store)
    other = synthetic_dataset(n_users=150, n_campaigns=1, seed=99)
    (new_campaign,) = other.campaigns
    removed = org.campaigns[1]
    changed = copy.deepcopy(org)
    changed.campaigns = [c for c in changed.campaigns if c["id"] != removed["id"]]
    del changed.users[removed["id"]]
    changed.campaigns.append(new_campaign)
    changed.users[new_campaign["id"]] = other.users[new_campaign["id"]]
    org_server.dataset = changed
    org_server.clear_requests()

    refreshed = fetch(org_client, store)
    assert user_data_ids(org_server) == [new_campaign["id"]] * math.ceil(150 / PAGE_SIZE)
    ids = set(refreshed.frames.campaigns["campaign_id"])
    assert new_campaign["id"] in ids and removed["id"] not in ids
    assert removed["id"] not in set(refreshed.frames.users["campaign_id"])
    assert refreshed.manifest["refresh"]["refreshed"] == [new_campaign["id"]]
    assert_frames_equal(refreshed.frames, full_fetch_elsewhere(org_client, tmp_path, "f").frames)


def test_locked_change_refetches_that_campaign(
    org: FakeDataset,
    org_server: FakeMimecastServer,
    org_client: MimecastClient,
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    fetch(org_client, store)
    changed = copy.deepcopy(org)
    changed.campaigns[0]["locked"] = True
    org_server.dataset = changed
    org_server.clear_requests()
    fetch(org_client, store)
    assert user_data_ids(org_server) == [org.campaigns[0]["id"]] * PAGES


def test_changed_filter_is_a_full_fetch(
    org_server: FakeMimecastServer,
    org_client: MimecastClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    fetch(org_client, store)
    org_server.clear_requests()
    with caplog.at_level(logging.INFO, logger="awareness_analysis.api.fetch"):
        filtered = fetch(
            org_client, store, user_filter=UserDataFilter(statuses=("incorrect", "sent"))
        )
    assert "Full fetch" in caplog.text and "another user filter" in caplog.text
    assert len(set(user_data_ids(org_server))) == N_CAMPAIGNS
    assert filtered.manifest["refresh"]["full"] is True
    assert set(filtered.frames.users["outcome"]) == {"incorrect", "sent"}
    # The same filter again (statuses in another order, another page size) reuses everything.
    org_server.clear_requests()
    again = fetch_snapshot(
        org_client,
        store,
        user_filter=UserDataFilter(statuses=("sent", "incorrect")),
        page_size=50,
        progress=False,
    )
    assert [r.path for r in api_calls(org_server)] == [GET_CAMPAIGNS_PATH]
    assert_frames_equal(again.frames, filtered.frames)


def test_campaign_selection_reuses_what_it_can(
    org: FakeDataset,
    org_server: FakeMimecastServer,
    org_client: MimecastClient,
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    chosen = [org.campaigns[3]["id"], org.campaigns[0]["id"]]
    fetch(org_client, store, campaign_ids=chosen[:1])
    org_server.clear_requests()
    both = fetch(org_client, store, campaign_ids=chosen)
    assert user_data_ids(org_server) == [chosen[1]] * PAGES
    expected = fetch(org_client, SnapshotStore(tmp_path / "f"), campaign_ids=chosen)
    assert_frames_equal(both.frames, expected.frames)


def test_full_flag_downloads_everything(
    org_server: FakeMimecastServer, org_client: MimecastClient, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    first = fetch(org_client, store)
    org_server.clear_requests()
    again = fetch(org_client, store, full=True)
    assert len(api_calls(org_server)) == 1 + N_CAMPAIGNS * PAGES
    assert again.manifest["refresh"] == {
        "full": True,
        "reason": "full fetch asked for",
        "base_snapshot": None,
        "refreshed": first.manifest["refresh"]["refreshed"],
        "reused": [],
    }
    assert_frames_equal(again.frames, first.frames)


def test_full_fetch_picks_up_changes_the_counters_miss(
    org: FakeDataset,
    org_server: FakeMimecastServer,
    org_client: MimecastClient,
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    fetch(org_client, store)
    renamed = copy.deepcopy(org)
    for item in renamed.users[org.campaigns[0]["id"]]:
        item["department"] = "Renamed"  # counters stay the same
    org_server.dataset = renamed
    assert "Renamed" not in set(fetch(org_client, store).frames.users["department"])
    assert "Renamed" in set(fetch(org_client, store, full=True).frames.users["department"])


def test_snapshot_without_counters_is_a_full_fetch(
    org_server: FakeMimecastServer,
    org_client: MimecastClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    first = fetch(org_client, store)
    manifest_path = first.path / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    del manifest["campaign_counters"]  # as written before incremental refresh existed
    manifest_path.write_text(json.dumps(manifest))
    org_server.clear_requests()
    with caplog.at_level(logging.INFO, logger="awareness_analysis.api.fetch"):
        second = fetch(org_client, store)
    assert "records no campaign counters" in caplog.text
    assert len(api_calls(org_server)) == 1 + N_CAMPAIGNS * PAGES
    assert second.manifest["refresh"]["full"] is True
    assert_frames_equal(second.frames, first.frames)


def test_other_api_host_is_a_full_fetch(
    org: FakeDataset,
    org_client: MimecastClient,
    fake_credentials: FakeCredentials,
    tmp_path: Path,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    fetch(org_client, store)
    with (
        FakeMimecastServer(org, credentials=fake_credentials) as other,
        MimecastClient(hmac_settings(other, fake_credentials)) as other_client,
    ):
        snapshot = fetch(other_client, store)
        assert len(api_calls(other)) == 1 + N_CAMPAIGNS * PAGES
    assert "was fetched from" in snapshot.manifest["refresh"]["reason"]


def test_store_extra_refuses_secrets_and_reserved_keys(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "store")
    frames = Frames(campaigns=pd.DataFrame(), users=pd.DataFrame(), answers=pd.DataFrame())
    with pytest.raises(ValueError, match="secrets"):
        store.write(frames, api_host="h", query={}, extra={"refresh": {"api_token": "x"}})
    with pytest.raises(ValueError, match="content_hash"):
        store.write(frames, api_host="h", query={}, extra={"content_hash": "x"})
    assert not store.exists()
    snapshot = store.write(frames, api_host="h", query={}, extra={"note": [1, 2]})
    assert store.load(snapshot_id=snapshot.snapshot_id).manifest["note"] == [1, 2]
