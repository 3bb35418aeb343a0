"""Resumable fetches over loopback: a fetch stopped at any page resumes with only the missing
pages, and the snapshot it writes is exactly what an uninterrupted fetch writes."""

from __future__ import annotations

import json
import math
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from awareness_analysis.api.endpoints import GET_USER_DATA_PATH, UserDataFilter
from awareness_analysis.api.fetch import JOURNAL_NAME, fetch_snapshot, query_fingerprint
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.store import (
    INCOMPLETE_PREFIX,
    STAGING_TEMP_PREFIX,
    Snapshot,
    SnapshotStore,
)
from awareness_analysis.errors import MimecastResponseError
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.demo_org import synthetic_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer
from tests.conftest import hmac_settings

N_USERS = 230
N_CAMPAIGNS = 4
PAGE_SIZE = 25
PAGES_PER_CAMPAIGN = math.ceil(N_USERS / PAGE_SIZE)
TOTAL_PAGES = N_CAMPAIGNS * PAGES_PER_CAMPAIGN


class Stop(Exception):
    """Stands for whatever stops a fetch: a crash, a lost connection, a kill."""


@pytest.fixture
def org() -> FakeDataset:
    return synthetic_dataset(n_users=N_USERS, n_campaigns=N_CAMPAIGNS, seed=5)


def fetch(client: MimecastClient, store: SnapshotStore, **kwargs: Any) -> Snapshot:
    kwargs.setdefault("page_size", PAGE_SIZE)
    return fetch_snapshot(client, store, progress=False, **kwargs)


def user_data_requests(server: FakeMimecastServer) -> int:
    return sum(1 for r in server.requests if r.path == GET_USER_DATA_PATH)


def stop_after_pages(
    client: MimecastClient,
    monkeypatch: pytest.MonkeyPatch,
    pages: int,
    error: Callable[[], BaseException] = Stop,
) -> None:
    """Make the client's user-data request after the first ``pages`` ones raise ``error``."""
    real_post = client.post
    lock = threading.Lock()
    sent = [0]

    def post(path: str, body: Any) -> Any:
        if path == GET_USER_DATA_PATH:
            with lock:
                sent[0] += 1
                over = sent[0] > pages
            if over:
                raise error()
        return real_post(path, body)

    monkeypatch.setattr(client, "post", post)


def interrupted_fetch(
    client: MimecastClient,
    server: FakeMimecastServer,
    store: SnapshotStore,
    monkeypatch: pytest.MonkeyPatch,
    pages: int,
    error: Callable[[], BaseException] = Stop,
    **kwargs: Any,
) -> int:
    """Run a fetch that stops after ``pages`` user-data pages; the pages the API answered."""
    server.clear_requests()
    with monkeypatch.context() as patch:
        stop_after_pages(client, patch, pages, error)
        with pytest.raises(error):
            fetch(client, store, **kwargs)
    return user_data_requests(server)


@pytest.fixture
def reference(org_client: MimecastClient, tmp_path: Path) -> Snapshot:
    """An uninterrupted fetch of the same query."""
    return fetch(org_client, SnapshotStore(tmp_path / "reference"))


@pytest.mark.parametrize(
    ("seed", "workers"), [(1, 1), (2, 1), (3, 4), (4, 4), (5, 2)], ids=lambda v: str(v)
)
def test_resume_downloads_only_missing_pages(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    reference: Snapshot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    workers: int,
) -> None:
    stop_at = random.Random(seed).randrange(1, TOTAL_PAGES)
    store = SnapshotStore(tmp_path / "store")
    answered = interrupted_fetch(
        org_client, org_server, store, monkeypatch, stop_at, workers=workers
    )
    assert store.snapshot_ids() == []
    assert len(store.staging_fingerprints()) == 1

    org_server.clear_requests()
    resumed = fetch(org_client, store, workers=workers)
    pages_left = TOTAL_PAGES - answered
    downloaded = user_data_requests(org_server)
    assert downloaded <= pages_left + workers, (downloaded, pages_left, stop_at)
    if workers == 1:
        assert downloaded == pages_left
    assert resumed.manifest["content_hash"] == reference.manifest["content_hash"]
    for name in ("campaigns", "users", "answers"):
        pd.testing.assert_frame_equal(
            getattr(resumed.frames, name), getattr(reference.frames, name)
        )
    # The finished fetch removes its staging area.
    assert sorted(p.name for p in store.root.iterdir()) == ["snapshots"]


def test_resume_after_ctrl_c(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    reference: Snapshot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    answered = interrupted_fetch(
        org_client, org_server, store, monkeypatch, 13, KeyboardInterrupt, workers=1
    )
    assert answered == 13
    org_server.clear_requests()
    resumed = fetch(org_client, store, workers=1)
    assert user_data_requests(org_server) == TOTAL_PAGES - 13
    assert resumed.manifest["content_hash"] == reference.manifest["content_hash"]


def test_refused_page_token_restarts_that_campaign(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    reference: Snapshot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    # One campaign done and 4 pages into the second.
    stop_at = PAGES_PER_CAMPAIGN + 4
    interrupted_fetch(org_client, org_server, store, monkeypatch, stop_at, workers=1)
    # The API no longer knows the saved token (e.g. it forgot it overnight).
    org_server.inject(
        "fail_permanent",
        path=GET_USER_DATA_PATH,
        code="err_invalid_page_token",
        message="The pageToken is unknown",
    )
    org_server.clear_requests()
    resumed = fetch(org_client, store, workers=1)
    requests = [r for r in org_server.requests if r.path == GET_USER_DATA_PATH]
    second = org_server.dataset.campaigns[1]["id"]
    # The refused request, then the second campaign from its first page, then the rest.
    assert requests[0].body["meta"]["pagination"].get("pageToken")
    assert requests[1].body["data"][0]["id"] == second
    assert "pageToken" not in requests[1].body["meta"]["pagination"]
    assert len(requests) == 1 + TOTAL_PAGES - PAGES_PER_CAMPAIGN
    assert resumed.manifest["content_hash"] == reference.manifest["content_hash"]


def test_another_querys_staging_is_not_used(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    reference: Snapshot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    interrupted_fetch(org_client, org_server, store, monkeypatch, 7, workers=1, page_size=50)
    other = store.staging_fingerprints()
    assert len(other) == 1

    org_server.clear_requests()
    snapshot = fetch(org_client, store, workers=1)  # page size 25: another query
    assert user_data_requests(org_server) == TOTAL_PAGES
    assert snapshot.manifest["content_hash"] == reference.manifest["content_hash"]
    # The other query's pages are left alone (it may be resumed later) until cleaned.
    assert store.staging_fingerprints() == other
    assert store.clean_staging(older_than_s=3600) == []
    assert store.clean_staging() == other
    assert sorted(p.name for p in store.root.iterdir()) == ["snapshots"]


def test_fingerprint_tells_queries_apart() -> None:
    base = query_fingerprint("eu-api.mimecast.com", ["a", "b"], UserDataFilter(), 500)
    assert base == query_fingerprint(
        "https://eu-api.mimecast.com/", ["b", "a"], UserDataFilter(), 500
    )
    assert base != query_fingerprint("us-api.mimecast.com", ["a", "b"], UserDataFilter(), 500)
    assert base != query_fingerprint("eu-api.mimecast.com", ["a"], UserDataFilter(), 500)
    assert base != query_fingerprint("eu-api.mimecast.com", ["a", "b"], UserDataFilter(), 100)
    assert base != query_fingerprint(
        "eu-api.mimecast.com", ["a", "b"], UserDataFilter(statuses=("correct",)), 500
    )


def test_restart_discards_staging(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    reference: Snapshot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    interrupted_fetch(org_client, org_server, store, monkeypatch, 17, workers=2)
    org_server.clear_requests()
    snapshot = fetch(org_client, store, workers=2, restart=True)
    assert user_data_requests(org_server) == TOTAL_PAGES
    assert snapshot.manifest["content_hash"] == reference.manifest["content_hash"]
    assert store.staging_fingerprints() == []


def test_damaged_staging_resumes_from_the_last_good_page(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    reference: Snapshot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kill can leave a temporary file, and a page file can be lost or damaged."""
    store = SnapshotStore(tmp_path / "store")
    interrupted_fetch(org_client, org_server, store, monkeypatch, 6, workers=1)
    (campaign_dir,) = [p for p in store.staging_dir(store.staging_fingerprints()[0]).iterdir()]
    journal = json.loads((campaign_dir / JOURNAL_NAME).read_text())
    assert [p["index"] for p in journal["pages"]] == list(range(6))
    assert journal["pages"][0]["token"] is None
    assert journal["pages"][1]["token"] == journal["pages"][0]["next"]
    assert journal["total_count"] == N_USERS
    (campaign_dir / f"{STAGING_TEMP_PREFIX}dead-page-00006.json").write_text("[{")
    (campaign_dir / "page-00004.json").write_text('[{"half": ')

    org_server.clear_requests()
    resumed = fetch(org_client, store, workers=1)
    assert user_data_requests(org_server) == TOTAL_PAGES - 4
    assert resumed.manifest["content_hash"] == reference.manifest["content_hash"]
    assert store.staging_fingerprints() == []


def test_changed_campaign_is_not_resumed(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    interrupted_fetch(org_client, org_server, store, monkeypatch, 6, workers=1)
    dataset = org_server.dataset
    campaigns = [dict(c) for c in dataset.campaigns]
    campaigns[0]["locked"] = not campaigns[0].get("locked")  # a counter changed
    org_server.dataset = FakeDataset(
        campaigns=campaigns, users=dataset.users, attributes=dataset.attributes
    )
    org_server.clear_requests()
    fetch(org_client, store, workers=1)
    assert user_data_requests(org_server) == TOTAL_PAGES


# -- totalCount ------------------------------------------------------------------------------


def test_total_count_mismatch_is_a_warning_when_filtered(
    org_client: MimecastClient, org_server: FakeMimecastServer, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    org_server.inject("total_mismatch", path=GET_USER_DATA_PATH, extra=3)
    snapshot = fetch(
        org_client, store, workers=1, user_filter=UserDataFilter(statuses=("correct", "sent"))
    )
    warnings = snapshot.manifest["warnings"]
    assert len(warnings) == 1
    assert "totalCount" in warnings[0] and org_server.dataset.campaigns[0]["id"] in warnings[0]
    assert store.staging_fingerprints() == []


def test_total_count_mismatch_is_an_error_when_unfiltered(
    org_client: MimecastClient, org_server: FakeMimecastServer, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    org_server.inject("total_mismatch", path=GET_USER_DATA_PATH, extra=3)
    with pytest.raises(MimecastResponseError, match="totalCount"):
        fetch(org_client, store, workers=1)
    assert store.snapshot_ids() == []
    # The disagreeing campaign's pages are dropped: the next fetch asks for them again.
    org_server.clear_requests()
    snapshot = fetch(org_client, store, workers=1)
    assert "warnings" not in snapshot.manifest
    assert user_data_requests(org_server) == TOTAL_PAGES


# -- atomic snapshot write -------------------------------------------------------------------


def test_snapshot_never_visible_half_written(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = SnapshotStore(tmp_path / "store")
    first = fetch(org_client, store, workers=1)
    real_to_parquet = pd.DataFrame.to_parquet
    seen: list[tuple[list[str], list[str], list[str], str, bool]] = []

    def object_names() -> set[str]:
        return {p.stem for p in store.objects_dir.glob("*/*.parquet")}

    def watching_to_parquet(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> Any:
        result = real_to_parquet(self, path, *args, **kwargs)
        seen.append(
            (
                sorted(p.name for p in store.snapshots_dir.iterdir()),
                sorted(p.name for p in Path(path).parent.iterdir()),
                [Path(path).parent.name, Path(path).parent.parent.name],
                Path(path).stem,
                Path(path).stem in object_names(),
            )
        )
        return result

    monkeypatch.setattr(pd.DataFrame, "to_parquet", watching_to_parquet)
    # The same data again: every object exists already, so the write writes none.
    again = fetch(org_client, store, workers=1, full=True)
    assert seen == []
    assert again.manifest["objects"] == first.manifest["objects"]
    objects_before = object_names()

    # Changed data: one campaign renamed and one person per campaign moved to another
    # department, so the write writes new campaigns and users objects (answers are unchanged).
    dataset = org_server.dataset
    campaigns = [dict(c) for c in dataset.campaigns]
    campaigns[0]["name"] = "Renamed campaign"
    users = {
        campaign_id: [{**items[0], "department": "Moved"}, *items[1:]]
        for campaign_id, items in dataset.users.items()
    }
    org_server.dataset = FakeDataset(
        campaigns=campaigns, users=users, attributes=dataset.attributes
    )
    third = fetch(org_client, store, workers=1, full=True)
    new_objects = object_names() - objects_before
    assert len(new_objects) == 1 + N_CAMPAIGNS  # campaigns, and users of every campaign
    assert len(seen) == len(new_objects)  # each new object written once, none other
    assert {entry[3] for entry in seen} == new_objects
    earlier = sorted([".lock", "objects", first.snapshot_id, again.snapshot_id])
    for listing, written_so_far, (folder, parent), _, published in seen:
        # Mid-write, snapshots/ holds only the earlier snapshots (and the shared objects,
        # not yet the one being written)...
        assert listing == earlier
        assert not published
        # ...and the files go to a temporary folder outside it, without a manifest yet.
        assert folder.startswith(INCOMPLETE_PREFIX)
        assert Path(store.root).name == parent
        assert "manifest.json" not in written_so_far
    assert store.snapshot_ids() == [first.snapshot_id, again.snapshot_id, third.snapshot_id]
    assert sorted(p.name for p in store.root.iterdir()) == ["snapshots"]
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == sorted(
        [".lock", "objects", *store.snapshot_ids()]
    )


def test_api_that_forgot_its_tokens_restarts_those_campaigns(
    org: FakeDataset,
    fake_credentials: FakeCredentials,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real refusal: the fake API restarted on the same address and knows no old token."""
    store = SnapshotStore(tmp_path / "store")
    with FakeMimecastServer(org, credentials=fake_credentials) as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        with MimecastClient(hmac_settings(first, fake_credentials)) as client:
            reference = fetch(client, SnapshotStore(tmp_path / "reference"), workers=2)
            interrupted_fetch(client, first, store, monkeypatch, 15, workers=2)
    with (
        FakeMimecastServer(org, credentials=fake_credentials, port=port) as second,
        MimecastClient(hmac_settings(second, fake_credentials)) as client,
    ):
        resumed = fetch(client, store, workers=2)
        refused = [r for r in second.requests if r.fault is None and r.response_status == 400]
    assert refused, "the restarted API should have refused the saved tokens"
    assert resumed.manifest["content_hash"] == reference.manifest["content_hash"]
    assert store.staging_fingerprints() == []


def test_stopped_after_last_page_before_finish_needs_no_request(
    org_client: MimecastClient,
    org_server: FakeMimecastServer,
    reference: Snapshot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kill between a campaign's last page and the journal's ``done`` asks for nothing."""
    store = SnapshotStore(tmp_path / "store")
    stop_at = PAGES_PER_CAMPAIGN + 2
    interrupted_fetch(org_client, org_server, store, monkeypatch, stop_at, workers=1)
    staging = store.staging_dir(store.staging_fingerprints()[0])
    paths = [d / JOURNAL_NAME for d in staging.iterdir()]
    (finished,) = [p for p in paths if json.loads(p.read_text())["done"]]
    journal = json.loads(finished.read_text())
    assert journal["pages"][-1]["next"] is None
    finished.write_text(json.dumps({**journal, "done": False}))

    org_server.clear_requests()
    resumed = fetch(org_client, store, workers=1)
    assert user_data_requests(org_server) == TOTAL_PAGES - stop_at
    assert resumed.manifest["content_hash"] == reference.manifest["content_hash"]


def test_cli_restart_reaches_the_fetch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from awareness_analysis import cli

    seen: dict[str, object] = {}

    def fake_fetch(client: object, store: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise KeyboardInterrupt  # stop here: only the arguments matter

    monkeypatch.setattr(cli, "fetch_snapshot", fake_fetch)
    monkeypatch.setenv("MIMECAST_BASE_URL", "http://127.0.0.1:9")
    for name in ("ACCESS_KEY", "SECRET_KEY", "APP_ID", "APP_KEY"):
        monkeypatch.setenv(f"MIMECAST_{name}", "x" if name != "SECRET_KEY" else "eA==")
    assert cli.main(["fetch", "--out", str(tmp_path / "s"), "--restart", "--no-progress"]) == 130
    assert seen["restart"] is True
