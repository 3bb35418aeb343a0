"""Resume benchmark: a fetch stopped halfway resumes with only the pages it is missing.

    python -m benchmarks.bench_resume

A fake-API organisation of 20 campaigns x 5,000 users (``synthetic_dataset``) is fetched into a
fresh temporary store with the default workers; the fetch is stopped (an exception from the
client, standing for a crash, a lost connection or Ctrl-C) when about half of its user-data
pages have been answered. A second fetch of the same query then resumes from the staged pages.
Targets: the resume asks for at most (pages left + workers) user-data pages, and its snapshot
has the same content hash as an uninterrupted fetch of the same data. All figures come from
this one run.
"""

from __future__ import annotations

import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from awareness_analysis.api.endpoints import DEFAULT_PAGE_SIZE, GET_USER_DATA_PATH
from awareness_analysis.api.fetch import DEFAULT_WORKERS, fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.demo import fake_server_settings
from awareness_analysis.fakeapi.demo_org import synthetic_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer

N_CAMPAIGNS = 20
N_USERS = 5_000


class _Stop(Exception):
    """Stands for whatever stops the first fetch."""


def _user_data_requests(server: FakeMimecastServer) -> int:
    return sum(1 for r in server.requests if r.path == GET_USER_DATA_PATH)


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    dataset = synthetic_dataset(n_users=N_USERS, n_campaigns=N_CAMPAIGNS)
    credentials = FakeCredentials.demo()
    total_pages = sum(
        max(1, math.ceil(len(items) / DEFAULT_PAGE_SIZE)) for items in dataset.users.values()
    )
    stop_after = total_pages // 2
    workers = DEFAULT_WORKERS
    print(
        f"Resume: {N_CAMPAIGNS} campaigns x {N_USERS:,} users, page size {DEFAULT_PAGE_SIZE}, "
        f"{total_pages} user-data pages, {workers} workers, fake API on loopback"
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-resume-") as root,
        FakeMimecastServer(dataset, credentials=credentials, rate_limit=1_000_000) as server,
        MimecastClient(fake_server_settings(server, credentials)) as client,
    ):
        start = time.perf_counter()
        reference = fetch_snapshot(
            client, SnapshotStore(Path(root) / "reference"), progress=False, workers=workers
        )
        reference_s = time.perf_counter() - start

        store = SnapshotStore(Path(root) / "store")
        real_post = client.post
        lock = threading.Lock()
        sent = [0]

        def stopping_post(path: str, body: Any) -> Any:
            if path == GET_USER_DATA_PATH:
                with lock:
                    sent[0] += 1
                    over = sent[0] > stop_after
                if over:
                    raise _Stop(f"stopped after {stop_after} pages")
            return real_post(path, body)

        client.post = stopping_post  # type: ignore[method-assign]
        server.clear_requests()
        start = time.perf_counter()
        try:
            fetch_snapshot(client, store, progress=False, workers=workers)
        except _Stop:
            pass
        else:
            print("  the first fetch was not stopped (MISSED)")
            return 1
        finally:
            client.post = real_post  # type: ignore[method-assign]
        stopped_s = time.perf_counter() - start
        answered = _user_data_requests(server)
        staged = sum(1 for _ in store.staging_root.rglob("page-*.json"))
        pages_left = total_pages - answered
        print(
            f"  stopped fetch: {answered} of {total_pages} pages answered, {staged} staged; "
            f"{stopped_s:.1f} s"
        )

        server.clear_requests()
        start = time.perf_counter()
        resumed = fetch_snapshot(client, store, progress=False, workers=workers)
        resume_s = time.perf_counter() - start
        downloaded = _user_data_requests(server)
        bound = pages_left + workers
        print(
            f"  resume: {downloaded} pages downloaded, pages left {pages_left} (bound "
            f"{pages_left} + {workers} workers = {bound}): "
            f"{downloaded / max(1, pages_left):.2f}x the pages left "
            f"({_verdict(downloaded <= bound)}); {resume_s:.1f} s "
            f"(uninterrupted fetch {reference_s:.1f} s)"
        )
        same = resumed.manifest["content_hash"] == reference.manifest["content_hash"]
        print(
            "  resumed snapshot identical to an uninterrupted fetch (content hash): "
            f"{same} ({_verdict(same)})"
        )
        cleaned = store.staging_fingerprints() == []
        print(f"  staging area removed after the resume: {cleaned} ({_verdict(cleaned)})")
    return 0 if downloaded <= bound and same and cleaned else 1


if __name__ == "__main__":
    sys.exit(main())
