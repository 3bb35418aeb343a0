"""Request-count benchmark: a full fetch sends the minimum, a refresh only what changed.

    python -m benchmarks.bench_requests

A fake-API organisation of 20 campaigns x 5,000 users (``synthetic_dataset``) is fetched into a
fresh temporary store; the requests the fake API answered are counted (and checked against the
client's own count). Then one campaign's users change (some answer, so its get-campaigns
counters change) and the store is refreshed; then it is refreshed once more with nothing
changed. Targets: full fetch = 1 get-campaigns + sum(ceil(users / page size)) requests; refresh
after one change <= 1 + that campaign's pages; the refreshed snapshot identical to a full fetch.
"""

from __future__ import annotations

import copy
import math
import sys
import tempfile
import time
from pathlib import Path

from awareness_analysis.api.endpoints import DEFAULT_PAGE_SIZE, GET_USER_DATA_PATH
from awareness_analysis.api.fetch import fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.store import Snapshot, SnapshotStore
from awareness_analysis.demo import fake_server_settings
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.demo_org import campaign_counters, synthetic_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer

N_CAMPAIGNS = 20
N_USERS = 5_000
CHANGED_POSITION = 7
N_NEW_ANSWERS = 250


def _pages(n_items: int) -> int:
    return max(1, math.ceil(n_items / DEFAULT_PAGE_SIZE))


def _with_one_campaign_changed(dataset: FakeDataset, position: int) -> FakeDataset:
    """``dataset`` with ``N_NEW_ANSWERS`` unanswered users of one campaign now answered."""
    campaigns = copy.deepcopy(dataset.campaigns)
    campaign = campaigns[position]
    items = copy.deepcopy(dataset.users[campaign["id"]])
    unanswered = [i for i in items if set(i["results"].values()) == {"SENT"}]
    for item in unanswered[:N_NEW_ANSWERS]:
        item["results"] = {key: "CORRECT" for key in item["results"]}
    campaign.update(campaign_counters(items, len(campaign["title"]["correctAnswers"])))
    return FakeDataset(
        campaigns=campaigns,
        users={**dataset.users, campaign["id"]: items},
        attributes=dataset.attributes,
    )


def _fetch(
    server: FakeMimecastServer, client: MimecastClient, store: SnapshotStore, **kwargs: bool
) -> tuple[Snapshot, int, list[str], float]:
    """(snapshot, API requests answered, campaign ids of user-data requests, seconds)."""
    server.clear_requests()
    sent_before = client.requests_sent
    start = time.perf_counter()
    snapshot = fetch_snapshot(client, store, progress=False, **kwargs)
    elapsed = time.perf_counter() - start
    calls = [r for r in server.requests if r.path.startswith("/api/")]
    assert len(calls) == client.requests_sent - sent_before, "client and server counts differ"
    ids = [r.body["data"][0]["id"] for r in calls if r.path == GET_USER_DATA_PATH]
    return snapshot, len(calls), ids, elapsed


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    dataset = synthetic_dataset(n_users=N_USERS, n_campaigns=N_CAMPAIGNS)
    credentials = FakeCredentials.demo()
    minimum = 1 + sum(_pages(len(items)) for items in dataset.users.values())
    print(
        f"Requests: {N_CAMPAIGNS} campaigns x {N_USERS:,} users, page size {DEFAULT_PAGE_SIZE}, "
        "fake API on loopback"
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-requests-") as root,
        FakeMimecastServer(dataset, credentials=credentials, rate_limit=1_000_000) as server,
        MimecastClient(fake_server_settings(server, credentials)) as client,
    ):
        store = SnapshotStore(Path(root) / "store")
        _, full_requests, _, full_s = _fetch(server, client, store)
        print(
            f"  full fetch: {full_requests} requests, minimum {minimum} "
            f"(1 get-campaigns + {minimum - 1} pages): {full_requests / minimum:.2f}x the "
            f"minimum ({_verdict(full_requests == minimum)}); {full_s:.1f} s"
        )

        server.dataset = _with_one_campaign_changed(dataset, CHANGED_POSITION)
        changed_id = dataset.campaigns[CHANGED_POSITION]["id"]
        bound = 1 + _pages(len(server.dataset.users[changed_id]))
        refreshed, refresh_requests, ids, refresh_s = _fetch(server, client, store)
        only_changed = set(ids) <= {changed_id}
        print(
            f"  refresh after changing 1 campaign: {refresh_requests} requests, bound {bound} "
            f"(1 + {bound - 1} pages of that campaign), {refresh_requests / minimum:.1%} of a "
            f"full fetch; user data asked only for the changed campaign: {only_changed} "
            f"({_verdict(refresh_requests <= bound and only_changed)}); {refresh_s:.1f} s"
        )
        refresh = refreshed.manifest["refresh"]
        print(
            f"    manifest: full={refresh['full']}, {len(refresh['refreshed'])} refreshed, "
            f"{len(refresh['reused'])} reused from {refresh['base_snapshot']}"
        )

        _, unchanged_requests, _, unchanged_s = _fetch(server, client, store)
        print(
            f"  refresh with nothing changed: {unchanged_requests} request(s), bound 1 "
            f"({_verdict(unchanged_requests == 1)}); {unchanged_s:.1f} s"
        )

        reference, _, _, _ = _fetch(server, client, SnapshotStore(Path(root) / "reference"))
        same = reference.manifest["content_hash"] == refreshed.manifest["content_hash"]
        print(
            "  refreshed snapshot identical to a full fetch of the same data (content hash): "
            f"{same} ({_verdict(same)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
