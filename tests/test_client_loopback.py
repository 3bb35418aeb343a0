"""The real client against the local fake Mimecast API over loopback: auth, paging, faults."""

from __future__ import annotations

import logging
import math

import pytest

from awareness_analysis.api.config import Settings
from awareness_analysis.api.endpoints import (
    GET_USER_DATA_PATH,
    UserDataFilter,
    UserDataQuery,
    get_user_data,
    list_campaigns,
)
from awareness_analysis.api.transport import MimecastClient, RetryPolicy
from awareness_analysis.errors import MimecastAPIError, MimecastResponseError, PaginationError
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer
from tests.conftest import (
    BIG_CAMPAIGN,
    BIG_CAMPAIGN_USERS,
    SMALL_CAMPAIGN,
    SleepRecorder,
    hmac_settings,
    oauth_settings,
    small_dataset,
)


def api_requests(server: FakeMimecastServer) -> list:
    return [r for r in server.requests if r.path.startswith("/api/")]


# -- authentication -------------------------------------------------------------------------


def test_hmac_client_lists_campaigns(client: MimecastClient, server: FakeMimecastServer) -> None:
    campaigns = list_campaigns(client)
    assert [c["id"] for c in campaigns] == [BIG_CAMPAIGN, SMALL_CAMPAIGN]
    (request,) = api_requests(server)
    assert request.auth_scheme == "hmac"
    assert request.body == {"data": []}  # exactly the recorded get-campaigns body


def test_every_request_has_a_fresh_request_id(
    client: MimecastClient, server: FakeMimecastServer
) -> None:
    get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=200)
    ids = [r.headers["x-mc-req-id"] for r in api_requests(server)]
    assert len(ids) == math.ceil(BIG_CAMPAIGN_USERS / 200)
    assert len(set(ids)) == len(ids)


def test_oauth_client_fetches_token_once_and_reuses_it(
    oauth_client: MimecastClient, server: FakeMimecastServer
) -> None:
    list_campaigns(oauth_client)
    get_user_data(oauth_client, UserDataQuery(SMALL_CAMPAIGN))
    token_calls = [r for r in server.requests if r.path == "/oauth/token"]
    assert len(token_calls) == 1
    assert all(r.auth_scheme == "bearer" for r in api_requests(server))


def test_oauth_token_expiry_refreshes_once(
    oauth_client: MimecastClient, server: FakeMimecastServer
) -> None:
    list_campaigns(oauth_client)
    server.expire_tokens()
    assert len(list_campaigns(oauth_client)) == 2
    assert len([r for r in server.requests if r.path == "/oauth/token"]) == 2
    assert [r.response_status for r in api_requests(server)] == [200, 401, 200]


def test_oauth_token_expired_fault_is_survived(
    oauth_client: MimecastClient, server: FakeMimecastServer
) -> None:
    list_campaigns(oauth_client)
    server.inject("token_expired")
    assert len(list_campaigns(oauth_client)) == 2


def test_wrong_oauth_secret_is_clear(
    server: FakeMimecastServer, fake_credentials: FakeCredentials
) -> None:
    settings = oauth_settings(server, fake_credentials)
    bad = Settings(
        base_url=settings.base_url,
        credentials=type(settings.credentials)(fake_credentials.client_id, "wrong-secret"),
    )
    with MimecastClient(bad) as client, pytest.raises(MimecastAPIError) as info:
        list_campaigns(client)
    assert "MIMECAST_CLIENT_SECRET" in str(info.value)
    assert "wrong-secret" not in str(info.value)


@pytest.mark.parametrize("field", ["access_key", "secret_key", "app_key"])
def test_wrong_api1_key_gives_invalid_signature_with_hint(
    server: FakeMimecastServer, fake_credentials: FakeCredentials, field: str
) -> None:
    wrong = "d3JvbmctYnV0LXZhbGlkLWJhc2U2NA==" if field == "secret_key" else "wrong-value"
    settings = hmac_settings(server, fake_credentials, **{field: wrong})
    with (
        MimecastClient(settings, sleep=SleepRecorder()) as client,
        pytest.raises(MimecastAPIError) as info,
    ):
        list_campaigns(client)
    error = info.value
    assert error.code == "err_xdk_invalid_signature"
    assert error.http_status == 401
    assert "MIMECAST_SECRET_KEY" in str(error) and "MIMECAST_APP_KEY" in str(error)
    assert wrong not in str(error)
    assert len(api_requests(server)) == 1  # not retried


def test_wrong_app_id_is_retried_once_then_named(
    server: FakeMimecastServer, fake_credentials: FakeCredentials
) -> None:
    settings = hmac_settings(server, fake_credentials, app_id="wrong-app")
    with (
        MimecastClient(settings, sleep=SleepRecorder()) as client,
        pytest.raises(MimecastAPIError) as info,
    ):
        list_campaigns(client)
    assert info.value.code == "err_developer_key"
    assert "MIMECAST_APP_ID" in str(info.value)
    assert len(api_requests(server)) == 2


# -- pagination -----------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [7, 100, 500])
def test_pagination_returns_every_user_exactly_once(
    client: MimecastClient, server: FakeMimecastServer, page_size: int
) -> None:
    items = get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=page_size)
    emails = [i["email"] for i in items]
    assert len(emails) == BIG_CAMPAIGN_USERS == len(set(emails))
    assert len(api_requests(server)) == math.ceil(BIG_CAMPAIGN_USERS / page_size)
    sent_sizes = {r.body["meta"]["pagination"]["pageSize"] for r in api_requests(server)}
    assert sent_sizes == {page_size}


def test_filter_and_search_reach_the_api(client: MimecastClient) -> None:
    incorrect = get_user_data(
        client, UserDataQuery(SMALL_CAMPAIGN, UserDataFilter(statuses=("incorrect",)))
    )
    assert [i["email"] for i in incorrect] == ["alex.doe@alias.example"]
    by_email = get_user_data(
        client, UserDataQuery(SMALL_CAMPAIGN, UserDataFilter("email", "personal-mail"))
    )
    assert [i["email"] for i in by_email] == ["alexd1993@personal-mail.example"]
    by_attribute = get_user_data(
        client,
        UserDataQuery(
            SMALL_CAMPAIGN,
            UserDataFilter("customAttribute", "leeds", attribute_ids=("attr-city",)),
        ),
    )
    assert [i["email"] for i in by_attribute] == ["alex.doe@alias.example"]


def test_repeated_page_token_stops(client: MimecastClient, server: FakeMimecastServer) -> None:
    server.inject("repeat_token", times=5, path=GET_USER_DATA_PATH)
    with pytest.raises(PaginationError, match="same page token"):
        get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=100)
    assert len(api_requests(server)) <= 3


def test_empty_page_with_next_stops(client: MimecastClient, server: FakeMimecastServer) -> None:
    server.inject("empty_page_with_next", times=5, path=GET_USER_DATA_PATH)
    with pytest.raises(PaginationError, match="empty page"):
        get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=100)


def test_total_count_disagreeing_with_rows_is_an_error(
    client: MimecastClient, server: FakeMimecastServer
) -> None:
    server.inject("total_mismatch", path=GET_USER_DATA_PATH)
    with pytest.raises(MimecastResponseError, match="totalCount"):
        get_user_data(client, UserDataQuery(SMALL_CAMPAIGN))


def test_unknown_campaign_is_a_clear_api_error(client: MimecastClient) -> None:
    with pytest.raises(MimecastAPIError) as info:
        get_user_data(client, UserDataQuery("no-such-campaign"))
    assert info.value.retryable is False
    assert "campaign" in str(info.value).lower()


# -- faults that are survived ---------------------------------------------------------------


def test_rate_limit_waits_the_reset_time_and_logs_it(
    client: MimecastClient,
    server: FakeMimecastServer,
    sleeps: SleepRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.inject("rate_limit", times=2, reset_ms=1500)
    with caplog.at_level(logging.WARNING):
        assert len(list_campaigns(client)) == 2
    # The wait happens in the client's shared gate, which sleeps until the resume time.
    assert sleeps.waits == [pytest.approx(1.5, abs=0.05)] * 2
    assert caplog.text.count("waiting 1.50 s") == 2
    assert "429" in caplog.text


def test_rate_limit_wait_is_bounded(
    server: FakeMimecastServer, fake_credentials: FakeCredentials, sleeps: SleepRecorder
) -> None:
    server.inject("rate_limit", reset_ms=10_000_000)
    policy = RetryPolicy(rate_limit_max_wait_s=7.0)
    with MimecastClient(
        hmac_settings(server, fake_credentials), sleep=sleeps, retry=policy
    ) as client:
        list_campaigns(client)
    assert sleeps.waits == [pytest.approx(7.0, abs=0.05)]


def test_real_rate_limit_window_is_respected(fake_credentials: FakeCredentials) -> None:
    with FakeMimecastServer(
        small_dataset(), credentials=fake_credentials, rate_limit=3, rate_window_ms=300
    ) as limited:
        with MimecastClient(hmac_settings(limited, fake_credentials)) as client:
            items = get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=250)
        statuses = [r.response_status for r in api_requests(limited)]
    assert len(items) == BIG_CAMPAIGN_USERS
    assert 429 in statuses and statuses.count(200) == 5


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff(
    client: MimecastClient, server: FakeMimecastServer, sleeps: SleepRecorder, status: int
) -> None:
    server.inject("server_error", times=2, status=status)
    assert len(list_campaigns(client)) == 2
    assert len(sleeps.waits) == 2
    assert 0 < sleeps.waits[0] <= sleeps.waits[1] * 2  # exponential, with jitter
    assert [r.response_status for r in api_requests(server)] == [status, status, 200]


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("html_error", {}),
        ("malformed_json", {}),
        ("connection_reset", {}),
        ("fail_retryable", {"code": "err_temporarily_unavailable"}),
        ("developer_key", {}),
    ],
)
def test_transient_faults_are_survived(
    client: MimecastClient, server: FakeMimecastServer, kind: str, params: dict
) -> None:
    server.inject(kind, path=GET_USER_DATA_PATH, **params)
    items = get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=500)
    assert len({i["email"] for i in items}) == BIG_CAMPAIGN_USERS


def test_read_timeout_is_retried(
    server: FakeMimecastServer, fake_credentials: FakeCredentials
) -> None:
    base = hmac_settings(server, fake_credentials)
    settings = Settings(base.base_url, base.credentials, read_timeout_s=0.3)
    server.inject("delay", seconds=1.0)
    with MimecastClient(settings, sleep=SleepRecorder()) as client:
        assert len(list_campaigns(client)) == 2


# -- faults that end in a clear error -------------------------------------------------------


def test_persistent_html_error_page_names_the_status(
    server: FakeMimecastServer, fake_credentials: FakeCredentials
) -> None:
    server.inject("html_error", times=50, status=502)
    policy = RetryPolicy(max_attempts=3)
    with (
        MimecastClient(
            hmac_settings(server, fake_credentials), sleep=SleepRecorder(), retry=policy
        ) as client,
        pytest.raises(MimecastResponseError) as info,
    ):
        list_campaigns(client)
    assert info.value.http_status == 502
    assert "HTTP 502" in str(info.value) and "html" in str(info.value)
    assert len(api_requests(server)) == 3


def test_retries_are_bounded(server: FakeMimecastServer, fake_credentials: FakeCredentials) -> None:
    server.inject("server_error", times=50, status=503)
    with (
        MimecastClient(
            hmac_settings(server, fake_credentials),
            sleep=SleepRecorder(),
            retry=RetryPolicy(max_attempts=4),
        ) as client,
        pytest.raises(MimecastResponseError, match="HTTP 503"),
    ):
        list_campaigns(client)
    assert len(api_requests(server)) == 4


def test_permanent_fail_in_http_200_is_not_retried(
    client: MimecastClient, server: FakeMimecastServer
) -> None:
    server.inject("fail_permanent", code="err_some_validation")
    with pytest.raises(MimecastAPIError) as info:
        list_campaigns(client)
    assert info.value.code == "err_some_validation"
    assert info.value.http_status == 200
    assert len(api_requests(server)) == 1


def test_expired_access_key_is_named(client: MimecastClient, server: FakeMimecastServer) -> None:
    server.inject("binding_expired")
    with pytest.raises(MimecastAPIError) as info:
        list_campaigns(client)
    assert info.value.code == "err_xdk_binding_expired"
    assert info.value.http_status == 418
    assert "MIMECAST_ACCESS_KEY" in str(info.value)


def test_truncated_page_is_not_accepted_silently(
    client: MimecastClient, server: FakeMimecastServer
) -> None:
    server.inject("truncated_page", path=GET_USER_DATA_PATH)
    with pytest.raises(MimecastResponseError, match="totalCount"):
        get_user_data(client, UserDataQuery(BIG_CAMPAIGN), page_size=500)


def test_client_repr_hides_credentials(client: MimecastClient, fake_credentials) -> None:
    text = repr(client) + repr(client.settings) + repr(client.auth)
    for secret in (
        fake_credentials.secret_key,
        fake_credentials.app_key,
        fake_credentials.access_key,
    ):
        assert secret not in text


def test_unreachable_api_is_retried_then_named(fake_credentials: FakeCredentials) -> None:
    with FakeMimecastServer(small_dataset(), credentials=fake_credentials) as stopped:
        settings = hmac_settings(stopped, fake_credentials)
    sleeps = SleepRecorder()
    with (
        MimecastClient(settings, sleep=sleeps, retry=RetryPolicy(max_attempts=3)) as client,
        pytest.raises(MimecastResponseError) as info,
    ):
        list_campaigns(client)
    assert len(sleeps.waits) == 2
    assert "ConnectionError" in str(info.value) and "MIMECAST_BASE_URL" in str(info.value)
