"""Concurrency benchmark: one worker against the default worker count, 50 ms per request.

    python -m benchmarks.bench_concurrency

A fake-API organisation of 20 campaigns x 5,000 users (``synthetic_dataset``) is served with
50 ms of latency added to every API answer (``latency_s=0.05``) and fetched end to end
(``fetch_snapshot``: requests, frames and the snapshot write) into a fresh temporary store, once
with ``workers=1`` and once with the default number of workers. The fake API runs in a child
process, as a real API runs on another machine, so its own work does not compete with the
client's for this interpreter's GIL. Target: the default at least 3x faster.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from awareness_analysis.api.config import HmacCredentials, Settings
from awareness_analysis.api.endpoints import DEFAULT_PAGE_SIZE
from awareness_analysis.api.fetch import DEFAULT_WORKERS, fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.fakeapi.demo_org import synthetic_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer

N_CAMPAIGNS = 20
N_USERS = 5_000
LATENCY_S = 0.05
TARGET = 3.0


def _serve(connection: Connection, n_users: int, n_campaigns: int, latency_s: float) -> None:
    """Child process: serve the organisation until the parent says stop."""
    dataset = synthetic_dataset(n_users=n_users, n_campaigns=n_campaigns)
    # A rate limit no run reaches: this measures latency overlap, not rate-limit waits.
    with FakeMimecastServer(
        dataset, credentials=FakeCredentials.demo(), latency_s=latency_s, rate_limit=1_000_000
    ) as server:
        connection.send(server.base_url)
        connection.recv()


def _timed_fetch(base_url: str, workers: int) -> tuple[float, int, int]:
    """(seconds, requests, user rows) of one full fetch into a fresh store."""
    keys = FakeCredentials.demo()
    settings = Settings(
        base_url=base_url,
        credentials=HmacCredentials(
            access_key=keys.access_key,
            secret_key=keys.secret_key,
            app_id=keys.app_id,
            app_key=keys.app_key,
        ),
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-concurrency-") as root,
        MimecastClient(settings) as client,
    ):
        start = time.perf_counter()
        snapshot = fetch_snapshot(
            client, SnapshotStore(Path(root) / "store"), workers=workers, progress=False
        )
        elapsed = time.perf_counter() - start
        return elapsed, client.requests_sent, len(snapshot.frames.users)


def main() -> int:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(
        target=_serve, args=(child, N_USERS, N_CAMPAIGNS, LATENCY_S), daemon=True
    )
    server.start()
    try:
        base_url = parent.recv()
        minimum = 1 + N_CAMPAIGNS * math.ceil(N_USERS / DEFAULT_PAGE_SIZE)
        print(
            f"Concurrency: {N_CAMPAIGNS} campaigns x {N_USERS:,} users, "
            f"{LATENCY_S * 1000:.0f} ms latency per request, fake API in a child process; "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
        )
        sequential, seq_requests, seq_rows = _timed_fetch(base_url, 1)
        concurrent, con_requests, con_rows = _timed_fetch(base_url, DEFAULT_WORKERS)
    finally:
        parent.send("stop")
        server.join(timeout=30)
    assert seq_rows == con_rows == N_CAMPAIGNS * N_USERS, (seq_rows, con_rows)
    ratio = sequential / concurrent
    floor = minimum * LATENCY_S
    print(
        f"  workers=1: {sequential:6.2f} s  ({seq_requests} requests, {seq_rows:,} user rows; "
        f"latency alone {floor:.2f} s)"
    )
    print(
        f"  workers={DEFAULT_WORKERS} (default): {concurrent:6.2f} s  ({con_requests} requests, "
        f"{con_rows:,} user rows; latency alone {floor / DEFAULT_WORKERS:.2f} s)"
    )
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"  speed-up: {ratio:.2f}x (target >= {TARGET:.0f}x: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
