"""Concurrent fetch over loopback: bounded workers, one shared rate-limit budget, every row
exactly once, and a failing worker stops the fetch without writing a snapshot."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from awareness_analysis.api.endpoints import GET_USER_DATA_PATH
from awareness_analysis.api.fetch import DEFAULT_WORKERS, fetch_snapshot
from awareness_analysis.api.transport import MimecastClient, RateLimitGate, RetryPolicy
from awareness_analysis.data.store import Snapshot, SnapshotStore
from awareness_analysis.errors import MimecastAPIError
from awareness_analysis.fakeapi import server as server_module
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.demo_org import synthetic_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer
from tests.conftest import hmac_settings

N_USERS = 300
N_CAMPAIGNS = 6
PAGE_SIZE = 100


@dataclass(frozen=True)
class Sent:
    """One request as the client saw it: when it was handed to the session and answered."""

    start: float
    end: float
    status: int
    reset_s: float | None


class Timeline:
    """Wraps a client's ``session.post`` to time every request on the client side (the fake
    server records no times)."""

    def __init__(self, client: MimecastClient) -> None:
        self._lock = threading.Lock()
        self.sent: list[Sent] = []
        self._post = client.session.post
        client.session.post = self._timed  # type: ignore[method-assign]

    def _timed(self, *args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        response = self._post(*args, **kwargs)
        end = time.monotonic()
        reset = response.headers.get("X-RateLimit-Reset")
        with self._lock:
            self.sent.append(
                Sent(start, end, response.status_code, None if reset is None else int(reset) / 1000)
            )
        return response

    def max_in_flight(self) -> int:
        edges = sorted([(s.start, 1) for s in self.sent] + [(s.end, -1) for s in self.sent])
        level = peak = 0
        for _, step in edges:
            level += step
            peak = max(peak, level)
        return peak


@pytest.fixture
def org() -> FakeDataset:
    return synthetic_dataset(n_users=N_USERS, n_campaigns=N_CAMPAIGNS, seed=11)


def run_fetch(
    server: FakeMimecastServer,
    creds: FakeCredentials,
    store: SnapshotStore,
    *,
    workers: int,
    retry: RetryPolicy | None = None,
    timeline: bool = False,
    **kwargs: Any,
) -> tuple[Snapshot, Timeline | None]:
    with MimecastClient(hmac_settings(server, creds), retry=retry) as client:
        recorder = Timeline(client) if timeline else None
        snapshot = fetch_snapshot(
            client, store, workers=workers, page_size=PAGE_SIZE, progress=False, **kwargs
        )
    return snapshot, recorder


@pytest.fixture
def sequential(org: FakeDataset, fake_credentials: FakeCredentials, tmp_path: Path) -> Snapshot:
    """The reference: the same organisation fetched by one worker with no faults."""
    with FakeMimecastServer(org, credentials=fake_credentials) as plain:
        snapshot, _ = run_fetch(plain, fake_credentials, SnapshotStore(tmp_path / "seq"), workers=1)
    return snapshot


def test_concurrent_fetch_under_429s_returns_every_row_exactly_once(
    org: FakeDataset,
    fake_credentials: FakeCredentials,
    sequential: Snapshot,
    tmp_path: Path,
) -> None:
    # A real fixed window (10 calls per 250 ms) plus five injected 429s with a 200 ms reset.
    with FakeMimecastServer(
        org, credentials=fake_credentials, rate_limit=10, rate_window_ms=250
    ) as limited:
        limited.inject("rate_limit", times=5, reset_ms=200, path=GET_USER_DATA_PATH)
        snapshot, timeline = run_fetch(
            limited,
            fake_credentials,
            SnapshotStore(tmp_path / "concurrent"),
            workers=DEFAULT_WORKERS,
            retry=RetryPolicy(max_attempts=12),
            timeline=True,
        )
        statuses = [r.response_status for r in limited.requests]
        assert limited.pending_faults() == []
    assert timeline is not None
    assert statuses.count(429) >= 5
    assert statuses.count(200) == 1 + N_CAMPAIGNS * (N_USERS // PAGE_SIZE)

    for name in ("campaigns", "users", "answers"):
        pd.testing.assert_frame_equal(
            getattr(snapshot.frames, name), getattr(sequential.frames, name), obj=name
        )
    users = snapshot.frames.users
    assert len(users) == N_USERS * N_CAMPAIGNS
    assert not users.duplicated(["campaign_id", "email"]).any()

    # All workers paused: once a 429 is in, no request starts before its reset time. (50 ms of
    # slack for a request already past the gate while the 429 was being read.)
    limited_429s = [s for s in timeline.sent if s.status == 429]
    assert len(limited_429s) >= 5
    for stop in limited_429s:
        assert stop.reset_s is not None
        started_too_early = [
            s.start for s in timeline.sent if stop.end + 0.05 < s.start < stop.end + stop.reset_s
        ]
        assert started_too_early == [], (stop, started_too_early)
    assert timeline.max_in_flight() >= 2


def test_worker_count_bounds_requests_in_flight(
    org: FakeDataset, fake_credentials: FakeCredentials, tmp_path: Path
) -> None:
    with FakeMimecastServer(org, credentials=fake_credentials, latency_s=0.03) as slow:
        _, timeline = run_fetch(
            slow, fake_credentials, SnapshotStore(tmp_path / "s"), workers=3, timeline=True
        )
    assert timeline is not None
    assert 2 <= timeline.max_in_flight() <= 3


def test_one_worker_fetches_campaigns_one_after_another(
    org: FakeDataset, fake_credentials: FakeCredentials, tmp_path: Path
) -> None:
    with FakeMimecastServer(org, credentials=fake_credentials, latency_s=0.01) as slow:
        _, timeline = run_fetch(
            slow, fake_credentials, SnapshotStore(tmp_path / "s"), workers=1, timeline=True
        )
        ids = [r.body["data"][0]["id"] for r in slow.requests if r.path == GET_USER_DATA_PATH]
    assert timeline is not None
    assert timeline.max_in_flight() == 1
    pages = N_USERS // PAGE_SIZE
    assert ids == [c["id"] for c in org.campaigns for _ in range(pages)]


class _FailingServer(FakeMimecastServer):
    """Answers every get-user-data request for one campaign with HTTP 503."""

    failing_id = ""

    def _get_user_data(self, ex: Any) -> Any:
        body = ex.body if isinstance(ex.body, dict) else {}
        data = body.get("data") or [{}]
        if isinstance(data[0], dict) and data[0].get("id") == self.failing_id:
            raise server_module._Reject(503, "err_service_unavailable", "Injected outage")
        return super()._get_user_data(ex)


@pytest.fixture
def failing_server(
    fake_credentials: FakeCredentials,
) -> Iterator[tuple[_FailingServer, FakeDataset]]:
    org = synthetic_dataset(n_users=300, n_campaigns=12, seed=3)
    with _FailingServer(org, credentials=fake_credentials) as running:
        running.failing_id = org.campaigns[0]["id"]
        yield running, org


def test_worker_failure_raises_and_writes_no_snapshot(
    failing_server: tuple[_FailingServer, FakeDataset],
    fake_credentials: FakeCredentials,
    tmp_path: Path,
) -> None:
    server, org = failing_server
    store = SnapshotStore(tmp_path / "store")
    with (
        MimecastClient(
            hmac_settings(server, fake_credentials),
            retry=RetryPolicy(max_attempts=3),
            sleep=lambda _s: None,
        ) as client,
        pytest.raises(MimecastAPIError) as info,
    ):
        fetch_snapshot(client, store, workers=2, page_size=PAGE_SIZE, progress=False)
    assert info.value.http_status == 503 and info.value.code == "err_service_unavailable"
    assert not store.exists()
    assert not list((tmp_path / "store").glob(".incomplete-*"))
    # The other workers stopped: most campaigns were never asked for.
    asked = {r.body["data"][0]["id"] for r in server.requests if r.path == GET_USER_DATA_PATH}
    assert len(asked) < len(org.campaigns)


def test_fetch_rejects_bad_worker_counts_before_any_request(
    org: FakeDataset, fake_credentials: FakeCredentials, tmp_path: Path
) -> None:
    with FakeMimecastServer(org, credentials=fake_credentials) as running:
        for workers in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="workers must be"):
                run_fetch(running, fake_credentials, SnapshotStore(tmp_path / "s"), workers=workers)  # type: ignore[arg-type]
        assert running.requests == []


# -- the gate on its own ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_gate_holds_until_the_reset_and_never_moves_back() -> None:
    clock = FakeClock()
    gate = RateLimitGate(clock)
    assert gate.wait(clock.sleep) == 0.0
    gate.pause(2.0)
    gate.pause(0.5)  # a shorter reset does not shorten the pause
    assert gate.resume_at == 102.0
    assert gate.wait(clock.sleep) == pytest.approx(2.0)
    assert gate.wait(clock.sleep) == 0.0
    assert clock.slept == [pytest.approx(2.0)]


def test_gate_is_shared_by_threads() -> None:
    gate = RateLimitGate()
    gate.pause(0.2)
    released: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        gate.wait(time.sleep)
        with lock:
            released.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(released) == 4
    assert min(released) >= gate.resume_at
