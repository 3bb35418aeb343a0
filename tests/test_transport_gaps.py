"""Transport gaps closed: throttling hints and backoff, API 2.0 re-authentication, meta.status,
HTTP 418 without a body, the page-size limit and cycling page tokens.

Loopback tests run the real client against the local fake API; header parsing is unit-tested on
bare ``requests.Response`` objects.
"""

from __future__ import annotations

import logging
import time
from email.utils import formatdate
from pathlib import Path

import pytest
import requests

from awareness_analysis.api import transport
from awareness_analysis.api.endpoints import (
    GET_USER_DATA_PATH,
    UserDataQuery,
    get_user_data,
    list_campaigns,
)
from awareness_analysis.api.transport import MAX_PAGE_SIZE, MimecastClient, RetryPolicy
from awareness_analysis.cli import main
from awareness_analysis.errors import MimecastAPIError, MimecastResponseError, PaginationError
from awareness_analysis.fakeapi.server import (
    CAMPAIGNS_PATH,
    TOKEN_PATH,
    FakeCredentials,
    FakeMimecastServer,
)
from tests.conftest import (
    BIG_CAMPAIGN,
    BIG_CAMPAIGN_USERS,
    SleepRecorder,
    hmac_settings,
    oauth_settings,
)

THROTTLE_DETAIL = "Over throttling limit (10000/hour)"


def api_requests(server: FakeMimecastServer) -> list:
    return [r for r in server.requests if r.path.startswith("/api/")]


def token_requests(server: FakeMimecastServer) -> list:
    return [r for r in server.requests if r.path == TOKEN_PATH]


def response_with(headers: dict[str, str], status: int = 429) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return response


# -- 1. throttling: Retry-After, API 2.0's throttling body, backoff without a hint ------------


def test_retry_after_seconds_is_honoured_and_logged(
    client: MimecastClient,
    server: FakeMimecastServer,
    sleeps: SleepRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.inject("throttle", retry_after=7)
    with caplog.at_level(logging.WARNING):
        assert len(list_campaigns(client)) == 2
    assert sleeps.waits == [pytest.approx(7.0, abs=0.05)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "waiting 7.00 s" in warnings[0].getMessage()
    assert THROTTLE_DETAIL in warnings[0].getMessage()


def test_retry_after_http_date_is_honoured(
    client: MimecastClient, server: FakeMimecastServer, sleeps: SleepRecorder
) -> None:
    server.inject("throttle", retry_after=formatdate(time.time() + 30, usegmt=True))
    assert len(list_campaigns(client)) == 2
    # One-second date resolution plus the request's own time.
    assert sleeps.waits == [pytest.approx(30.0, abs=2.0)]


def test_retry_after_is_capped(
    server: FakeMimecastServer, fake_credentials: FakeCredentials, sleeps: SleepRecorder
) -> None:
    server.inject("throttle", retry_after=86_400)
    policy = RetryPolicy(rate_limit_max_wait_s=9.0)
    with MimecastClient(
        hmac_settings(server, fake_credentials), sleep=sleeps, retry=policy
    ) as client:
        list_campaigns(client)
    assert sleeps.waits == [pytest.approx(9.0, abs=0.05)]


@pytest.mark.parametrize("status", [429, 200, 403])
def test_throttling_body_without_hint_backs_off_exponentially(
    client: MimecastClient,
    server: FakeMimecastServer,
    sleeps: SleepRecorder,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    # API 2.0 answered 429 with only {"detail": ...}; the same body with another status is
    # throttling too, not data and not a refusal.
    server.inject("throttle", times=3, status=status)
    with caplog.at_level(logging.WARNING):
        assert len(list_campaigns(client)) == 2
    initial = RetryPolicy().throttle_backoff_initial_s
    assert len(sleeps.waits) == 3
    for n, wait in enumerate(sleeps.waits):
        base = initial * 2**n
        assert base / 2 - 0.05 <= wait <= base + 0.05, sleeps.waits  # jittered, doubling
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all(THROTTLE_DETAIL in w and "every request of this client" in w for w in warnings)


def test_bare_429_without_hint_backs_off_not_fixed(
    client: MimecastClient, server: FakeMimecastServer, sleeps: SleepRecorder
) -> None:
    server.inject("throttle", times=4, detail="")  # no body, no headers at all
    assert len(list_campaigns(client)) == 2
    assert len(sleeps.waits) == 4
    assert sleeps.waits[-1] > sleeps.waits[0]  # grows (2 -> 16 s base), unlike a fixed 0.5 s
    assert min(sleeps.waits) >= RetryPolicy().throttle_backoff_initial_s / 2 - 0.05


def test_throttle_backoff_is_bounded(
    server: FakeMimecastServer, fake_credentials: FakeCredentials, sleeps: SleepRecorder
) -> None:
    server.inject("throttle", times=5)
    policy = RetryPolicy(throttle_backoff_initial_s=4.0, rate_limit_max_wait_s=6.0)
    with MimecastClient(
        hmac_settings(server, fake_credentials), sleep=sleeps, retry=policy
    ) as client:
        list_campaigns(client)
    assert len(sleeps.waits) == 5
    assert max(sleeps.waits) <= 6.0 + 0.05
    assert policy.throttle_backoff(10_000) <= 6.0  # no overflow for absurd counts


def test_persistent_throttling_is_a_clear_error(
    server: FakeMimecastServer, fake_credentials: FakeCredentials
) -> None:
    server.inject("throttle", times=100)
    with (
        MimecastClient(
            hmac_settings(server, fake_credentials),
            sleep=SleepRecorder(),
            retry=RetryPolicy(max_attempts=3),
        ) as client,
        pytest.raises(MimecastAPIError) as info,
    ):
        list_campaigns(client)
    assert info.value.code == "err_rate_limit_exceeded"
    assert info.value.http_status == 429
    assert THROTTLE_DETAIL in str(info.value) and "try again later" in str(info.value)
    assert len(api_requests(server)) == 3


def test_throttle_pause_holds_the_shared_gate(
    client: MimecastClient, server: FakeMimecastServer
) -> None:
    server.inject("throttle")
    list_campaigns(client)
    assert client.rate_limit_gate.pauses == 1  # other threads wait too


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": " 1.5 "}, 1.5),
        ({"Retry-After": "-4"}, 0.0),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "Fri, 31 Dec 99999 23:59:59 GMT"}, None),
        ({"Retry-After": "Mon, 01 Jan 1990 00:00:00 GMT"}, 0.0),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    got = transport._retry_after_s(response_with(headers))
    assert got == (None if expected is None else pytest.approx(expected))


def test_retry_after_date_is_measured_from_the_servers_clock() -> None:
    # The server's clock is an hour ahead; its Retry-After date is 20 s after its own Date.
    server_now = time.time() + 3600
    response = response_with(
        {
            "Date": formatdate(server_now, usegmt=True),
            "Retry-After": formatdate(server_now + 20, usegmt=True),
        }
    )
    assert transport._retry_after_s(response) == pytest.approx(20.0, abs=1.5)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-RateLimit-Reset": "2500"}, 2.5),
        ({"Retry-After": "4"}, 4.0),
        ({"X-RateLimit-Reset": "2500", "Retry-After": "4"}, 4.0),  # the longer hint wins
        ({"X-RateLimit-Reset": "9000", "Retry-After": "4"}, 9.0),
        ({"X-RateLimit-Reset": "inf"}, 120.0),  # capped
        ({"X-RateLimit-Reset": "nan"}, None),
        ({}, None),
    ],
)
def test_rate_limit_hint_combines_headers(
    client: MimecastClient, headers: dict[str, str], expected: float | None
) -> None:
    got = client._rate_limit_hint(response_with(headers))
    assert got == (None if expected is None else pytest.approx(expected))


def test_a_detail_that_is_not_throttling_is_not_throttling() -> None:
    raw = b'{"detail": "Not found"}'
    assert transport._throttle_detail(response_with({}, 404), raw) is None
    raw = b'{"detail": "Over throttling limit (10000/hour)"}'
    assert transport._throttle_detail(response_with({}, 429), raw) == THROTTLE_DETAIL


# -- 2. API 2.0: any 401 re-authenticates once --------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("auth_refused", {}),  # token_invalid
        ("auth_refused", {"code": "err_unauthorised", "message": "Unauthorised"}),
        ("bare_status", {"status": 401}),  # no body at all
        ("token_expired", {}),
    ],
)
def test_oauth_any_401_fetches_a_new_token_once(
    oauth_client: MimecastClient,
    server: FakeMimecastServer,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    params: dict,
) -> None:
    list_campaigns(oauth_client)
    server.inject(kind, **params)
    with caplog.at_level(logging.WARNING):
        assert len(list_campaigns(oauth_client)) == 2
    assert len(token_requests(server)) == 2
    assert [r.response_status for r in api_requests(server)] == [200, 401, 200]
    assert "fetching a new one and retrying once" in caplog.text


@pytest.mark.parametrize(
    ("kind", "params"),
    [("auth_refused", {}), ("bare_status", {"status": 401}), ("token_expired", {})],
)
def test_oauth_second_401_is_a_clear_error_without_secrets(
    server: FakeMimecastServer,
    fake_credentials: FakeCredentials,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    params: dict,
) -> None:
    server.inject(kind, times=2, **params)
    with (
        caplog.at_level(logging.DEBUG),
        MimecastClient(oauth_settings(server, fake_credentials), sleep=SleepRecorder()) as client,
        pytest.raises(MimecastAPIError) as info,
    ):
        list_campaigns(client)
    error = info.value
    text = str(error)
    assert error.http_status == 401
    assert "MIMECAST_CLIENT_ID" in text and "MIMECAST_CLIENT_SECRET" in text
    assert "permission" in text
    assert len(token_requests(server)) == 2 and len(api_requests(server)) == 2
    bearer_tokens = [r.headers["authorization"].split(" ", 1)[1] for r in api_requests(server)]
    for secret in (fake_credentials.client_secret, *bearer_tokens):
        assert secret not in text and secret not in repr(error)
        assert secret not in caplog.text


def test_oauth_wrong_secret_is_not_retried_as_a_401(
    server: FakeMimecastServer, fake_credentials: FakeCredentials
) -> None:
    # A refusal by the token endpoint itself is not an API 401: no second token request.
    settings = oauth_settings(server, fake_credentials)
    bad = type(settings)(
        base_url=settings.base_url,
        credentials=type(settings.credentials)(fake_credentials.client_id, "wrong-secret"),
    )
    with MimecastClient(bad, sleep=SleepRecorder()) as client, pytest.raises(MimecastAPIError):
        list_campaigns(client)
    assert len(token_requests(server)) == 1


def test_hmac_401_is_still_not_retried(client: MimecastClient, server: FakeMimecastServer) -> None:
    server.inject("auth_refused", code="err_xdk_invalid_signature", message="bad signature")
    with pytest.raises(MimecastAPIError) as info:
        list_campaigns(client)
    assert info.value.http_status == 401
    assert "MIMECAST_SECRET_KEY" in str(info.value)
    assert len(api_requests(server)) == 1


# -- 3. meta.status not 200 with an empty fail list ---------------------------------------------


@pytest.mark.parametrize("status", [500, 400, 206])
def test_meta_status_not_200_is_an_error(
    client: MimecastClient, server: FakeMimecastServer, status: int
) -> None:
    server.inject("meta_status", status=status, path=CAMPAIGNS_PATH)
    with pytest.raises(MimecastResponseError) as info:
        list_campaigns(client)
    assert f"meta.status is {status}" in str(info.value)
    assert info.value.http_status == 200
    assert len(api_requests(server)) == 1


def test_meta_status_on_a_later_page_stops_paging(
    client: MimecastClient, server: FakeMimecastServer
) -> None:
    # The first page is fine; the fault is queued for the second.
    server.inject("meta_status", path=GET_USER_DATA_PATH, status=200)
    server.inject("meta_status", path=GET_USER_DATA_PATH, status=503)
    with pytest.raises(MimecastResponseError, match=r"meta\.status is 503"):
        get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=500)


def test_meta_status_absent_or_200_is_fine() -> None:
    assert transport._meta_status({"data": []}) is None
    assert transport._meta_status({"meta": {}}) is None
    assert transport._meta_status({"meta": {"status": 200}}) is None
    assert transport._meta_status({"meta": {"status": "200"}}) is None
    assert transport._meta_status({"meta": {"status": "oops"}}) == "'oops'"
    assert transport._meta_status({"meta": {"status": [[1]]}}) == "a JSON list"


# -- 4. HTTP 418 always names the expired binding -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("bare_status", {"status": 418}),  # empty body
        ("server_error", {"status": 418}),  # a plain-text body
        ("binding_expired", {}),  # the API 1.0 envelope
    ],
)
def test_http_418_always_gets_the_binding_expired_hint(
    client: MimecastClient, server: FakeMimecastServer, kind: str, params: dict
) -> None:
    server.inject(kind, **params)
    with pytest.raises(MimecastAPIError) as info:
        list_campaigns(client)
    text = str(info.value)
    assert info.value.http_status == 418
    assert "access key has expired" in text
    assert "MIMECAST_ACCESS_KEY" in text and "MIMECAST_SECRET_KEY" in text
    assert text.count("access key has expired") == 1
    assert len(api_requests(server)) == 1  # retrying cannot renew a key


# -- 5. page size at most 500 -------------------------------------------------------------------


def test_max_page_size_is_500() -> None:
    assert MAX_PAGE_SIZE == 500


@pytest.mark.parametrize("page_size", [501, 1000, 0, -1])
def test_page_size_out_of_range_is_refused_before_sending(
    client: MimecastClient, server: FakeMimecastServer, page_size: int
) -> None:
    with pytest.raises(ValueError, match="between 1 and 500"):
        get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=page_size)
    assert api_requests(server) == []


@pytest.mark.parametrize("items_of", [lambda first: first.get("items", []), None])
def test_paginate_refuses_a_bad_page_size_when_called_for_both_row_shapes(
    client: MimecastClient, server: FakeMimecastServer, items_of: object
) -> None:
    # Raised by the call itself, not on the first next(): a caller that builds the iterator
    # early (the fetch's workers) learns of the mistake before any request is queued.
    with pytest.raises(ValueError, match="between 1 and 500"):
        client.paginate(GET_USER_DATA_PATH, None, items_of, page_size=501)  # type: ignore[arg-type]
    assert api_requests(server) == []


def test_page_size_500_is_accepted(client: MimecastClient, server: FakeMimecastServer) -> None:
    items = get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=500)
    assert len(items) == BIG_CAMPAIGN_USERS


def test_cli_refuses_page_size_over_500(
    api_env: FakeMimecastServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["fetch", "--out", str(tmp_path / "s"), "--no-progress", "--page-size", "501"])
    assert code == 2
    assert "between 1 and 500" in capsys.readouterr().err
    assert not [r for r in api_env.requests if r.path.startswith("/api/")]


# -- 6. page tokens that cycle ------------------------------------------------------------------


@pytest.mark.parametrize("length", [2, 3])
def test_cycling_page_tokens_stop(
    client: MimecastClient, server: FakeMimecastServer, length: int
) -> None:
    server.inject("token_cycle", path=GET_USER_DATA_PATH, length=length)
    with pytest.raises(PaginationError, match="page tokens cycle"):
        get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=100)
    sent = [
        r.body["meta"]["pagination"].get("pageToken")
        for r in api_requests(server)
        if r.path == GET_USER_DATA_PATH
    ]
    # The first page, then each token of the ring once; its return is caught, not followed.
    assert len(sent) == length + 1
    assert sent[0] is None and len(set(sent[1:])) == length


def test_fake_token_cycle_really_cycles(server: FakeMimecastServer) -> None:
    # Follow the fake's tokens by hand: A -> B -> A, each serving a non-empty page.
    creds = server.credentials
    with MimecastClient(hmac_settings(server, creds), sleep=SleepRecorder()) as client:
        server.inject("token_cycle", path=GET_USER_DATA_PATH)
        tokens: list[str | None] = [None]
        for _ in range(3):
            pagination: dict = {"pageSize": 100}
            if tokens[-1] is not None:
                pagination["pageToken"] = tokens[-1]
            body = {"meta": {"pagination": pagination}, "data": [{"id": BIG_CAMPAIGN}]}
            envelope = client.post(GET_USER_DATA_PATH, body)
            assert envelope["data"][0]["items"]
            tokens.append(envelope["meta"]["pagination"]["next"])
    _, first, second, third = tokens
    assert first != second and third == first


def test_token_cycle_fault_is_user_data_only(server: FakeMimecastServer) -> None:
    with pytest.raises(ValueError, match="only to path"):
        server.inject("token_cycle")
    with pytest.raises(ValueError, match="at least 2"):
        server.inject("token_cycle", path=GET_USER_DATA_PATH, length=1)
