"""Incremental refresh of the phishing user data: phishing campaigns whose get-campaign counters
are unchanged since the latest snapshot are not asked for again; their rows are reused, and
the tables are what a full fetch of the same data gives."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from awareness_analysis.api.endpoints import GET_CAMPAIGNS_PATH
from awareness_analysis.api.fetch import PHISHING_COUNTER_FIELDS, fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.behaviour import reusable_phish_campaign_ids, reuse_phish_user_tables
from awareness_analysis.data.store import MANIFEST_NAME, Snapshot, SnapshotStore
from awareness_analysis.fakeapi.behaviour import (
    PHISHING_CAMPAIGNS_PATH,
    PHISHING_USER_DATA_PATH,
    BehaviourData,
    behaviour_for,
)
from awareness_analysis.fakeapi.server import FakeMimecastServer


def fetch(client: MimecastClient, store: SnapshotStore, **kwargs: Any) -> Snapshot:
    return fetch_snapshot(client, store, progress=False, include=["phishing"], **kwargs)


def phishing_user_data_ids(server: FakeMimecastServer) -> list[str]:
    """The phishing campaign id of each get-user-data request (one per page)."""
    return [r.body["data"][0]["id"] for r in server.requests if r.path == PHISHING_USER_DATA_PATH]


def api_paths(server: FakeMimecastServer) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith("/api/")]


def assert_same_tables(left: Snapshot, right: Snapshot) -> None:
    assert list(left.tables) == list(right.tables)
    for name in left.tables:
        pd.testing.assert_frame_equal(left.tables[name], right.tables[name], check_exact=True)
    assert left.manifest["content_hash"] == right.manifest["content_hash"]


def full_fetch_elsewhere(client: MimecastClient, tmp_path: Path, name: str) -> Snapshot:
    """What a full fetch of the server's current data gives, into a store of its own."""
    return fetch(client, SnapshotStore(tmp_path / name), full=True)


def serve_changed(
    server: FakeMimecastServer, change: Callable[[BehaviourData], None]
) -> BehaviourData:
    """Serve a copy of the fake's behaviour data with ``change`` applied (the server's
    ``behaviour`` attribute is its hook for explicit behaviour data)."""
    served = behaviour_for(server)
    data = dataclasses.replace(
        served,
        phishing_campaigns=copy.deepcopy(served.phishing_campaigns),
        phishing_users=copy.deepcopy(served.phishing_users),
    )
    change(data)
    server.behaviour = data
    return data


def recount(campaign: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Set a phishing campaign's counters from its rows, as the fake builds them."""
    campaign["numSent"] = len(rows)
    for counter, event in (
        ("numOpened", "timeOpened"),
        ("numClicked", "timeClicked"),
        ("numSubmitted", "timeSubmitted"),
        ("numReported", "timeReported"),
    ):
        campaign[counter] = sum(event in row for row in rows)


def latest_launched(data: BehaviourData) -> str:
    return max(data.phishing_campaigns, key=lambda c: c["launchDate"])["id"]


@pytest.fixture
def store(client: MimecastClient, server: FakeMimecastServer, tmp_path: Path) -> SnapshotStore:
    """A store whose latest snapshot includes phishing; the server's request log is cleared."""
    snapshots = SnapshotStore(tmp_path / "store")
    fetch(client, snapshots)
    server.clear_requests()
    return snapshots


def test_counters_are_recorded_per_phishing_campaign(
    store: SnapshotStore, server: FakeMimecastServer
) -> None:
    manifest = store.load().manifest
    campaigns = behaviour_for(server).phishing_campaigns
    recorded = manifest["phishing_counters"]
    assert [entry["phish_campaign_id"] for entry in recorded] == [c["id"] for c in campaigns]
    for entry, campaign in zip(recorded, campaigns, strict=True):
        assert entry == {"phish_campaign_id": campaign["id"]} | {
            name: campaign[name] for name in PHISHING_COUNTER_FIELDS
        }
    assert manifest["phishing_refresh"]["full"] is True
    assert manifest["phishing_refresh"]["refreshed"] == [c["id"] for c in campaigns]


def test_nothing_changed_asks_for_no_phishing_user_data(
    client: MimecastClient,
    server: FakeMimecastServer,
    store: SnapshotStore,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = store.load()
    with caplog.at_level(logging.INFO, logger="awareness_analysis.api.fetch"):
        second = fetch(client, store)
    assert api_paths(server) == [GET_CAMPAIGNS_PATH, PHISHING_CAMPAIGNS_PATH]
    ids = [c["id"] for c in behaviour_for(server).phishing_campaigns]
    assert second.manifest["phishing_refresh"] == {
        "full": False,
        "reason": f"incremental refresh of snapshot {first.snapshot_id}",
        "base_snapshot": first.snapshot_id,
        "refreshed": [],
        "reused": ids,
    }
    assert f"phishing: downloading 0 campaign(s) (0 changed, 0 new), reusing {len(ids)}" in (
        caplog.text
    )
    assert_same_tables(second, full_fetch_elsewhere(client, tmp_path, "full"))
    assert_same_tables(store.load(), second)  # and as stored on disk


@pytest.mark.parametrize("which", ["latest", "earliest"])
def test_only_the_changed_phishing_campaign_is_downloaded(
    client: MimecastClient,
    server: FakeMimecastServer,
    store: SnapshotStore,
    tmp_path: Path,
    which: str,
) -> None:
    before = behaviour_for(server)
    ordered = sorted(before.phishing_campaigns, key=lambda c: c["launchDate"])
    changed_id = (ordered[-1] if which == "latest" else ordered[0])["id"]
    rows_before = before.phishing_users[changed_id]
    # Someone who only received the email now clicks; their lifetime totals on this campaign's
    # row move on (the fake leaves their rows in the other campaigns as they were).
    position = next(i for i, r in enumerate(rows_before) if "timeOpened" not in r)
    email = rows_before[position]["email"]

    def click(data: BehaviourData) -> None:
        rows = data.phishing_users[changed_id]
        row = rows[position]
        row["timeOpened"] = row["timeClicked"] = "2026-06-01T10:00:00+0000"
        row["status"] = "clicked"
        row["numCampaignsClicked"] += 1
        campaign = next(c for c in data.phishing_campaigns if c["id"] == changed_id)
        recount(campaign, rows)

    after = serve_changed(server, click)
    refreshed = fetch(client, store)

    assert set(phishing_user_data_ids(server)) == {changed_id}
    entry = refreshed.manifest["phishing_refresh"]
    assert entry["full"] is False
    assert entry["refreshed"] == [changed_id]
    assert entry["reused"] == [c["id"] for c in after.phishing_campaigns if c["id"] != changed_id]
    users = refreshed.tables["phish_users"]
    mine = users[(users["phish_campaign_id"] == changed_id) & (users["email"] == email)]
    assert mine["clicked"].tolist() == [True]
    assert_same_tables(refreshed, full_fetch_elsewhere(client, tmp_path, "full"))
    totals = refreshed.tables["phish_user_totals"].set_index("email").loc[email]
    assert bool(totals["totals_disagree"])  # the changed row's totals differ from the others'
    clicked_before = rows_before[position]["numCampaignsClicked"]
    if which == "latest":  # the latest-launched campaign gives the totals: the new ones
        assert totals["totals_phish_campaign_id"] == changed_id
        assert totals["num_campaigns_clicked"] == clicked_before + 1
    else:  # a reused, later campaign gives them: the recorded ones
        assert totals["totals_phish_campaign_id"] == latest_launched(after)
        assert totals["num_campaigns_clicked"] == clicked_before


def test_unlisted_phishing_campaign_is_dropped_and_a_new_one_downloaded(
    client: MimecastClient, server: FakeMimecastServer, store: SnapshotStore, tmp_path: Path
) -> None:
    before = behaviour_for(server)
    dropped, renamed = before.phishing_campaigns[1]["id"], before.phishing_campaigns[2]["id"]

    def drop_and_add(data: BehaviourData) -> None:
        data.phishing_campaigns = [c for c in data.phishing_campaigns if c["id"] != dropped]
        rows = data.phishing_users.pop(dropped)
        # The same rows under a new id: a campaign the latest snapshot does not hold.
        new = {**before.phishing_campaigns[1], "id": "phish-new", "name": "New"}
        data.phishing_campaigns.append(new)
        data.phishing_users["phish-new"] = rows
        # A new name alone changes no counter; the reused rows take the name listed now.
        data.phishing_campaigns[1]["name"] = "Renamed campaign"

    serve_changed(server, drop_and_add)
    refreshed = fetch(client, store)
    assert set(phishing_user_data_ids(server)) == {"phish-new"}
    entry = refreshed.manifest["phishing_refresh"]
    assert entry["refreshed"] == ["phish-new"] and dropped not in entry["reused"]
    users = refreshed.tables["phish_users"]
    assert dropped not in set(users["phish_campaign_id"].astype(str))
    assert set(users.loc[users["phish_campaign_id"] == renamed, "phish_campaign_name"]) == {
        "Renamed campaign"
    }
    assert_same_tables(refreshed, full_fetch_elsewhere(client, tmp_path, "full"))


def test_full_downloads_every_phishing_campaign(
    client: MimecastClient, server: FakeMimecastServer, store: SnapshotStore
) -> None:
    first = store.load()
    again = fetch(client, store, full=True)
    ids = [c["id"] for c in behaviour_for(server).phishing_campaigns]
    assert set(phishing_user_data_ids(server)) == set(ids)
    assert again.manifest["phishing_refresh"] == {
        "full": True,
        "reason": "full fetch asked for",
        "base_snapshot": None,
        "refreshed": ids,
        "reused": [],
    }
    assert_same_tables(again, first)


def test_base_fetched_without_phishing_downloads_every_campaign(
    client: MimecastClient,
    server: FakeMimecastServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SnapshotStore(tmp_path / "plain")
    fetch_snapshot(client, store, progress=False)
    server.clear_requests()
    with caplog.at_level(logging.INFO, logger="awareness_analysis.api.fetch"):
        snapshot = fetch(client, store)
    assert "Full fetch of phishing: the latest snapshot" in caplog.text
    assert "was fetched without phishing" in caplog.text
    ids = [c["id"] for c in behaviour_for(server).phishing_campaigns]
    assert set(phishing_user_data_ids(server)) == set(ids)
    assert snapshot.manifest["refresh"]["full"] is False  # the campaign user data was reused
    entry = snapshot.manifest["phishing_refresh"]
    assert entry["full"] is True and "without phishing" in entry["reason"]


def test_base_without_phishing_counters_downloads_every_campaign(
    client: MimecastClient,
    server: FakeMimecastServer,
    store: SnapshotStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    manifest_path = store.load().path / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    del manifest["phishing_counters"]  # as written before incremental phishing refresh
    manifest_path.write_text(json.dumps(manifest))
    with caplog.at_level(logging.INFO, logger="awareness_analysis.api.fetch"):
        snapshot = fetch(client, store)
    assert "records no phishing counters" in caplog.text
    ids = [c["id"] for c in behaviour_for(server).phishing_campaigns]
    assert set(phishing_user_data_ids(server)) == set(ids)
    assert snapshot.manifest["phishing_refresh"]["full"] is True


def test_campaigns_without_whole_number_counters_are_always_downloaded(
    client: MimecastClient, server: FakeMimecastServer, tmp_path: Path
) -> None:
    ids = [c["id"] for c in behaviour_for(server).phishing_campaigns]

    def blur(data: BehaviourData) -> None:
        del data.phishing_campaigns[0]["numSent"]
        data.phishing_campaigns[1]["numOpened"] = None
        data.phishing_campaigns[2]["numClicked"] = float(data.phishing_campaigns[2]["numClicked"])
        del data.phishing_campaigns[3]["numReported"]  # undocumented: its absence is no change

    serve_changed(server, blur)
    store = SnapshotStore(tmp_path / "store")
    fetch(client, store)
    server.clear_requests()
    again = fetch(client, store)  # the same counters as recorded, but not all whole numbers
    assert set(phishing_user_data_ids(server)) == set(ids[:3])
    assert again.manifest["phishing_refresh"]["reused"] == ids[3:]
    assert_same_tables(again, full_fetch_elsewhere(client, tmp_path, "full"))


class _Stop(Exception):
    """Stands for Ctrl-C or a dropped connection mid-fetch."""


def test_a_stopped_incremental_fetch_resumes_its_phishing_campaigns(
    client: MimecastClient,
    server: FakeMimecastServer,
    store: SnapshotStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaigns = behaviour_for(server).phishing_campaigns
    first_id, second_id = campaigns[0]["id"], campaigns[3]["id"]

    def unsend_last(data: BehaviourData) -> None:
        for campaign in data.phishing_campaigns:
            if campaign["id"] in (first_id, second_id):
                rows = data.phishing_users[campaign["id"]]
                rows.pop()
                recount(campaign, rows)

    serve_changed(server, unsend_last)
    real_post = client.post

    def post(path: str, body: Any) -> Any:
        if path == PHISHING_USER_DATA_PATH and body["data"][0]["id"] == second_id:
            raise _Stop
        return real_post(path, body)

    with monkeypatch.context() as patch:
        patch.setattr(client, "post", post)
        with pytest.raises(_Stop):
            fetch(client, store)
    assert set(phishing_user_data_ids(server)) == {first_id}
    server.clear_requests()
    resumed = fetch(client, store)
    # The first changed campaign comes from staging, the reused ones from the snapshot.
    assert set(phishing_user_data_ids(server)) == {second_id}
    assert resumed.manifest["phishing_refresh"]["refreshed"] == [first_id, second_id]
    assert_same_tables(resumed, full_fetch_elsewhere(client, tmp_path, "full"))
    assert sorted(p.name for p in store.root.iterdir()) == ["snapshots"]  # staging removed


def test_reuse_helpers_refuse_tables_they_cannot_read(store: SnapshotStore) -> None:
    tables = store.load().tables
    users, totals = tables["phish_users"], tables["phish_user_totals"]
    ids = [str(c) for c in users["phish_campaign_id"].cat.categories]
    assert reusable_phish_campaign_ids(users, totals, [*ids, "unknown"]) == ids
    # A person without a totals row makes the campaigns they are in unusable.
    someone = users.loc[users["phish_campaign_id"] == ids[0], "email"].iloc[0]
    in_campaigns = set(users.loc[users["email"] == someone, "phish_campaign_id"].astype(str))
    fewer = totals[totals["email"] != someone]
    assert reusable_phish_campaign_ids(users, fewer, ids) == [
        cid for cid in ids if cid not in in_campaigns
    ]
    with pytest.raises(ValueError, match="n_rows"):
        reusable_phish_campaign_ids(users, totals.drop(columns="n_rows"), ids)
    with pytest.raises(ValueError, match="no phish_user_totals row"):
        reuse_phish_user_tables(users, fewer, ids, {}, [])
