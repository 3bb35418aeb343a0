"""The token-bucket quota: the fake's bucket mode and the client's shared quota tracker."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from awareness_analysis import cli
from awareness_analysis.api.auth import MimecastHmacAuth
from awareness_analysis.api.endpoints import GET_USER_DATA_PATH, UserDataQuery, get_user_data
from awareness_analysis.api.transport import (
    DEFAULT_MAX_WAIT_S,
    DEFAULT_QUOTA_RESERVE,
    MimecastClient,
    QuotaTracker,
    QuotaWaitExceeded,
    RetryPolicy,
)
from awareness_analysis.errors import ConfigError
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer, TokenBucket
from tests.conftest import BIG_CAMPAIGN, BIG_CAMPAIGN_USERS, hmac_settings, small_dataset

PAGE_SIZE = 100
PAGES = -(-BIG_CAMPAIGN_USERS // PAGE_SIZE)  # 13


def _statuses(server: FakeMimecastServer) -> list[int]:
    return [r.response_status for r in server.requests if r.path.startswith("/api/")]


def _fetch_in_threads(client: MimecastClient, workers: int) -> list[list[Any]]:
    """``workers`` threads, each reading the big campaign through the one shared client."""
    results: list[list[Any]] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results[n] = get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=PAGE_SIZE)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]
    return results


def test_fake_token_bucket_sends_the_real_headers_and_refuses_when_empty(
    fake_credentials: FakeCredentials,
) -> None:
    bucket = TokenBucket(capacity=3, refill_interval_s=0.2)
    with FakeMimecastServer(small_dataset(), credentials=fake_credentials, quota=bucket) as server:
        settings = hmac_settings(server, fake_credentials)
        auth = MimecastHmacAuth(settings.credentials)  # type: ignore[arg-type]
        url = f"{server.base_url}{GET_USER_DATA_PATH}"
        body = {"data": [{"id": BIG_CAMPAIGN}]}
        responses = [requests.post(url, json=body, auth=auth, timeout=5) for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
        assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"3"}
        resets = [int(r.headers["X-RateLimit-Reset"]) for r in responses]
        assert all(0 < reset <= 200 for reset in resets)
        assert responses[-1].json()["fail"][0]["errors"][0]["code"] == "err_rate_limit_exceeded"
        time.sleep(resets[-1] / 1000 + 0.02)  # one token is back
        again = requests.post(url, json=body, auth=auth, timeout=5)
        assert again.status_code == 200
        assert again.headers["X-RateLimit-Remaining"] == "0"
    assert (bucket.taken, bucket.refused, bucket.lowest_remaining) == (4, 1, 0)


def test_token_bucket_validates_its_settings() -> None:
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(capacity=0, refill_interval_s=1)
    with pytest.raises(ValueError, match="refill_interval_s"):
        TokenBucket(capacity=5, refill_interval_s=0)


def test_workers_sharing_one_client_pace_themselves_with_few_429s(
    fake_credentials: FakeCredentials,
) -> None:
    workers = 4
    # A refill every 100 ms (the real API's is seconds): short enough for a quick test, long
    # enough that an answer delayed by a busy 2-core runner (tens of ms) is not a whole refill
    # interval late, which the client would take for a refill it missed.
    refill_s = 0.1
    bucket = TokenBucket(capacity=10, refill_interval_s=refill_s)
    calls = workers * PAGES
    with (
        FakeMimecastServer(small_dataset(), credentials=fake_credentials, quota=bucket) as server,
        MimecastClient(hmac_settings(server, fake_credentials), quota_reserve=0) as client,
    ):
        start = time.monotonic()
        results = _fetch_in_threads(client, workers)
        elapsed = time.monotonic() - start
        statuses = _statuses(server)
    assert all(len(items) == BIG_CAMPAIGN_USERS for items in results)
    assert statuses.count(200) == calls
    assert statuses.count(429) <= 2, statuses.count(429)
    assert client.quota.paced > 0  # it did wait for refills rather than run into 429s
    minimum = (calls - 10) * refill_s
    assert minimum * 0.9 <= elapsed <= minimum * 2 + 1.0, (elapsed, minimum)


def test_refills_projected_before_a_429_are_not_counted_after_it() -> None:
    """A 429 says the bucket was empty: the refills the tracker had projected before it were
    spent (by other integrations, or by answers still on their way). After the pause only the
    probe may go; the next call waits for the refill after the reset's. (Counting the stale
    refills let every waiting worker go at once, and a busy runner saw 25 429s in 52 calls.)"""
    now = [0.0]
    tracker = QuotaTracker(reserve=0, clock=lambda: now[0])
    limit = {"X-RateLimit-Limit": "10"}
    tracker.observe({**limit, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "100"}, 200)
    now[0] = 0.35  # three projected refills (0.1, 0.2, 0.3) later, the server refuses
    tracker.observe({**limit, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "50"}, 429)
    now[0] = 0.4  # the reset has passed: one call (the probe) fits, two do not
    assert tracker.seconds_for(1) == 0
    assert tracker.seconds_for(2) == pytest.approx(0.1)


def test_remaining_never_goes_below_the_reserve(fake_credentials: FakeCredentials) -> None:
    bucket = TokenBucket(capacity=20, refill_interval_s=0.02)
    with (
        FakeMimecastServer(small_dataset(), credentials=fake_credentials, quota=bucket) as server,
        MimecastClient(hmac_settings(server, fake_credentials), quota_reserve=8) as client,
    ):
        results = _fetch_in_threads(client, 3)
        statuses = _statuses(server)
    assert all(len(items) == BIG_CAMPAIGN_USERS for items in results)
    assert statuses == [200] * (3 * PAGES)
    assert bucket.lowest_remaining >= 8
    assert client.quota.lowest_remaining is not None and client.quota.lowest_remaining >= 8


def test_max_wait_exceeded_stops_with_a_clear_error(fake_credentials: FakeCredentials) -> None:
    bucket = TokenBucket(capacity=5, refill_interval_s=0.3)
    with (
        FakeMimecastServer(small_dataset(), credentials=fake_credentials, quota=bucket) as server,
        MimecastClient(
            hmac_settings(server, fake_credentials), quota_reserve=2, max_wait_s=0.5
        ) as client,
    ):
        start = time.monotonic()
        with pytest.raises(QuotaWaitExceeded) as caught:
            get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=PAGE_SIZE)
        elapsed = time.monotonic() - start
        statuses = _statuses(server)
    message = str(caught.value)
    assert caught.value.code == "err_quota_wait_exceeded"
    assert re.search(r"waited 0\.\d s for the account's API call quota", message), message
    assert "past the 0.5 s allowed" in message and "--max-wait" in message
    assert "Run the fetch again later" in message and "--quota-reserve" in message
    assert 429 not in statuses and bucket.lowest_remaining >= 2
    assert elapsed < 2.0  # it stops as soon as the wait is known to be too long


def test_a_long_wait_is_logged_once_with_its_end(caplog: pytest.LogCaptureFixture) -> None:
    tracker = QuotaTracker(reserve=5)
    tracker.acquire()
    headers = {"X-RateLimit-Limit": "800", "X-RateLimit-Remaining": "0"}
    tracker.observe({**headers, "X-RateLimit-Reset": "4500"}, 200)  # ~27 s to get 6 back
    with caplog.at_level(logging.WARNING, logger="awareness_analysis.api.transport"):
        threads = [threading.Thread(target=tracker.acquire) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        assert all(t.is_alive() for t in threads)  # held for quota
        # Another integration's calls are refunded: a fresh answer says plenty is left.
        tracker.observe(
            {
                "X-RateLimit-Limit": "800",
                "X-RateLimit-Remaining": "700",
                "X-RateLimit-Reset": "4500",
            },
            200,
        )
        for thread in threads:
            thread.join(timeout=5)
        assert not any(t.is_alive() for t in threads)
    waits = [r.getMessage() for r in caplog.records if "Waiting about" in r.getMessage()]
    assert len(waits) == 1, waits
    assert "expected to resume at" in waits[0] and "UTC" in waits[0]
    assert "0 calls left of 800, keeping 5" in waits[0]


def test_without_quota_headers_the_client_waits_only_after_a_429(
    fake_credentials: FakeCredentials,
) -> None:
    bucket = TokenBucket(capacity=3, refill_interval_s=0.05)
    session = requests.Session()

    def strip_quota_headers(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        for name in [h for h in response.headers if h.lower().startswith("x-ratelimit")]:
            del response.headers[name]

    session.hooks["response"].append(strip_quota_headers)
    policy = RetryPolicy(max_attempts=12, throttle_backoff_initial_s=0.05)
    with (
        FakeMimecastServer(small_dataset(), credentials=fake_credentials, quota=bucket) as server,
        MimecastClient(
            hmac_settings(server, fake_credentials), session=session, retry=policy
        ) as client,
    ):
        items = get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=PAGE_SIZE)
        statuses = _statuses(server)
    assert len(items) == BIG_CAMPAIGN_USERS
    assert statuses.count(200) == PAGES
    assert 429 in statuses  # as before: nothing paced it, so the bucket ran out
    assert not client.quota.pacing and client.quota.paced == 0 and client.quota.limit is None


def test_a_tracker_without_headers_never_holds_a_request() -> None:
    tracker = QuotaTracker(reserve=50, max_wait_s=0)
    start = time.monotonic()
    for _ in range(200):
        tracker.acquire()
        tracker.observe({}, 200)
    assert time.monotonic() - start < 1.0
    assert (tracker.paced, tracker.waited_s, tracker.pacing) == (0, 0.0, False)


def test_a_quota_no_larger_than_the_reserve_turns_pacing_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = QuotaTracker(reserve=50, max_wait_s=0)
    headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9"}
    with caplog.at_level(logging.WARNING, logger="awareness_analysis.api.transport"):
        for _ in range(3):
            tracker.acquire()  # not held: the client relies on 429 handling, as before
            tracker.observe(headers, 200)
    assert not tracker.pacing and tracker.paced == 0
    assert caplog.text.count("not above the quota reserve") == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reserve": -1}, "quota_reserve"),
        ({"reserve": 1.5}, "quota_reserve"),
        ({"max_wait_s": -1}, "max_wait_s"),
        ({"max_wait_s": float("nan")}, "max_wait_s"),
    ],
)
def test_tracker_settings_are_validated(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        QuotaTracker(**kwargs)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--quota-reserve", "-1"], "--quota-reserve must be at least 0"),
        (["--max-wait", "-5"], "--max-wait must be a number of seconds"),
        (["--max-wait", "nan"], "--max-wait must be a number of seconds"),
    ],
)
def test_cli_refuses_bad_quota_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    assert cli.main(["fetch", "--out", str(tmp_path / "store"), *option]) == 2
    assert message in capsys.readouterr().err


def test_cli_hands_the_quota_options_to_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_client(settings: object, **kwargs: Any) -> MimecastClient:
        seen.update(kwargs)
        raise ConfigError("stop here")

    monkeypatch.setattr(
        cli, "load_settings", lambda config_file=None, purpose="campaigns": object()
    )
    monkeypatch.setattr(cli, "MimecastClient", fake_client)
    argv = ["fetch", "--out", str(tmp_path / "s"), "--quota-reserve", "7", "--max-wait", "30"]
    assert cli.main(argv) == 2
    assert (seen["quota_reserve"], seen["max_wait_s"]) == (7, 30.0)
    seen.clear()
    assert cli.main(["fetch", "--out", str(tmp_path / "s")]) == 2
    assert (seen["quota_reserve"], seen["max_wait_s"]) == (
        DEFAULT_QUOTA_RESERVE,
        DEFAULT_MAX_WAIT_S,
    )


def test_progress_counts_pages_and_rows_of_the_known_totals_and_the_quota_time_left(
    fake_credentials: FakeCredentials, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from awareness_analysis.api.fetch import fetch_snapshot
    from awareness_analysis.data.store import SnapshotStore

    # 1,234 + 3 users at 100 a page: 13 + 1 pages; a bucket of 4 so the fetch is paced.
    bucket = TokenBucket(capacity=4, refill_interval_s=0.05)
    with (
        FakeMimecastServer(small_dataset(), credentials=fake_credentials, quota=bucket) as server,
        MimecastClient(hmac_settings(server, fake_credentials), quota_reserve=0) as client,
    ):
        fetch_snapshot(client, SnapshotStore(tmp_path / "s"), page_size=100, progress=True)
    err = capsys.readouterr().err
    final = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "1237/1237" in final and "pages 14/14" in final
    assert re.search(r"quota: about \d+ s left", err)  # shown while paced


def test_token_bucket_reset_never_exceeds_its_interval_from_float_noise() -> None:
    bucket = TokenBucket(capacity=3, refill_interval_s=0.2)
    # A large monotonic clock makes now + 0.2 - now differ from 0.2 in the last bits.
    now = 1000.3  # 1000.3 + 0.2 - 1000.3 = 0.20000000000004547
    bucket._last_refill = now
    assert bucket._reset_ms(now) == 200
    assert bucket._reset_ms(now + 0.1995) == 1
    assert bucket._reset_ms(now + 0.5) == 1
