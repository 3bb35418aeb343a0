"""The fake Mimecast API server, exercised over loopback with plain ``requests``.

Signing is done by a helper written here from the vendor's description, independent of the
server's own code, so a shared mistake cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import socket
import sys
import threading
import time
import types
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from awareness_analysis.fakeapi import __main__ as fakeapi_main
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.server import (
    FAULT_PARAMS,
    FakeCredentials,
    FakeMimecastServer,
    RecordedRequest,
)

CAMPAIGNS = "/api/awareness-training/campaign/get-campaigns"
USER_DATA = "/api/awareness-training/campaign/get-user-data"
TOKEN = "/oauth/token"
ALPHA = "camp-alpha"
BETA = "camp-beta"
CREDS = FakeCredentials.demo()


# -- a tiny organisation in the recorded shapes ---------------------------------------------


def _user(name: str, email: str, department: str, *results: str) -> dict[str, Any]:
    return {
        "name": name,
        "email": email,
        "department": department,
        "results": {f"forQuestion{n}": r for n, r in enumerate(results, start=1)},
        "acknowledgement": False,
        "userState": "ACTIVE",
    }


def _campaign(campaign_id: str, name: str, users: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "name": name,
        "title": {
            "id": f"title-{campaign_id}",
            "title": "For_the_Kids",
            "titleForCustomModule": False,
            "correctAnswers": {"forQuestion1": 1, "forQuestion2": 2},
        },
        "group": {"id": "group-1", "description": "Integration", "userCount": len(users)},
        "launchDate": "2022-01-11T23:32:00+0000",
        "createDate": "2022-01-11T23:25:24+0000",
        "numSent": len(users),
        "numCompleted": 1,
        "allOtherCampaigns": {},
        "locked": False,
        "percentComplete": 50,
        "percentCorrect": 100,
        "numCorrectAnswers": {"forQuestion1": 1, "forQuestion2": 0},
    }


def make_dataset() -> FakeDataset:
    alpha = [
        _user("Alex Doe", "alex.doe@corp.example", "Finance", "CORRECT", "CORRECT"),
        _user("Alex Doe", "alex.doe@alias.example", "Finance", "SENT", "SENT"),
        _user("", "alexd1993@personal-mail.example", "", "SENT", "SENT"),
        _user("Bea Smith", "bea.smith@corp.example", "Sales", "CORRECT", "INCORRECT"),
        _user("Cai Jones", "cai.jones@corp.example", "Sales", "CORRECT", "SENT"),
        _user("Dee Brown", "dee.brown@corp.example", "IT", "INCORRECT", "SENT"),
        _user("Eli Green", "eli.green@corp.example", "IT", "CORRECT", "CORRECT"),
    ]
    beta = [
        _user("Alex Doe", "alex.doe@corp.example", "Finance", "SENT"),
        _user("Bea Smith", "bea.smith@corp.example", "Sales", "INCORRECT"),
        _user("Eli Green", "eli.green@corp.example", "IT", "CORRECT"),
    ]
    return FakeDataset(
        campaigns=[_campaign(ALPHA, "Alpha", alpha), _campaign(BETA, "Beta", beta)],
        users={ALPHA: alpha, BETA: beta},
        attributes={
            "bea.smith@corp.example": {"attr-city": "Leeds", "attr-floor": "2"},
            "Dee.Brown@corp.example": {"attr-city": "York"},
            "eli.green@corp.example": {"attr-floor": "Leeds Road"},
        },
    )


# -- client side helpers --------------------------------------------------------------------


def mc_date(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S UTC")


def signed_headers(
    path: str,
    *,
    access_key: str = CREDS.access_key,
    secret_key: str = CREDS.secret_key,
    app_id: str = CREDS.app_id,
    app_key: str = CREDS.app_key,
    date: str | None = None,
    req_id: str | None = None,
) -> dict[str, str]:
    """API 1.0 headers, signed as the vendor documents it."""
    date = date or mc_date()
    req_id = req_id or str(uuid.uuid4())
    to_sign = ":".join([date, req_id, path, app_key]).encode()
    digest = hmac.new(base64.b64decode(secret_key), to_sign, hashlib.sha1).digest()
    return {
        "Authorization": f"MC {access_key}:{base64.b64encode(digest).decode()}",
        "x-mc-date": date,
        "x-mc-req-id": req_id,
        "x-mc-app-id": app_id,
        "Content-Type": "application/json",
    }


def call(
    server: FakeMimecastServer,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    **sign: Any,
) -> requests.Response:
    if body is None:
        body = {"data": []}
    return requests.post(
        server.base_url + path,
        json=body,
        headers=headers if headers is not None else signed_headers(path, **sign),
        timeout=10,
    )


def user_body(
    campaign_id: str | None = ALPHA,
    *,
    page_size: int | None = None,
    token: str | None = None,
    **q: Any,
) -> dict[str, Any]:
    query = dict(q)
    if campaign_id is not None:
        query["id"] = campaign_id
    pagination: dict[str, Any] = {}
    if page_size is not None:
        pagination["pageSize"] = page_size
    if token is not None:
        pagination["pageToken"] = token
    body: dict[str, Any] = {"data": [query]}
    if pagination:
        body["meta"] = {"pagination": pagination}
    return body


def emails(response: requests.Response) -> list[str]:
    return [item["email"] for item in response.json()["data"][0]["items"]]


def v1_error(response: requests.Response) -> dict[str, Any]:
    fail = response.json()["fail"]
    assert len(fail) == 1
    return fail[0]["errors"][0]


TOKEN_FORM = {
    "client_id": CREDS.client_id,
    "client_secret": CREDS.client_secret,
    "grant_type": "client_credentials",
}


def bearer_token(server: FakeMimecastServer) -> str:
    response = requests.post(
        server.base_url + TOKEN,
        data=TOKEN_FORM,
        timeout=10,
    )
    assert response.status_code == 200
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def server() -> Iterator[FakeMimecastServer]:
    with FakeMimecastServer(make_dataset(), credentials=CREDS, max_page_size=5) as running:
        yield running


# -- API 1.0 authentication -----------------------------------------------------------------


def test_signed_request_is_answered_in_the_recorded_shape(server: FakeMimecastServer) -> None:
    response = call(server, CAMPAIGNS)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    payload = response.json()
    assert payload["meta"] == {"status": 200}
    assert payload["fail"] == []
    assert [c["id"] for c in payload["data"][0]["campaigns"]] == [ALPHA, BETA]
    assert response.headers["X-RateLimit-Limit"] == "800"
    assert response.headers["X-RateLimit-Remaining"] == "799"
    assert 0 < int(response.headers["X-RateLimit-Reset"]) <= 60_000
    [record] = server.requests
    assert isinstance(record, RecordedRequest)
    assert (record.method, record.path, record.auth_scheme) == ("POST", CAMPAIGNS, "hmac")
    assert record.body == {"data": []}
    assert record.response_status == 200
    assert record.headers["x-mc-app-id"] == CREDS.app_id


def test_rfc1123_gmt_date_is_accepted(server: FakeMimecastServer) -> None:
    # .NET's ToString("R"), used by the vendor's C# sample, ends in GMT rather than UTC.
    date = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert call(server, CAMPAIGNS, date=date).status_code == 200


@pytest.mark.parametrize(
    "wrong",
    [
        {"access_key": "another-access-key"},
        {"secret_key": base64.b64encode(b"another secret").decode()},
        {"app_key": "another-app-key"},
    ],
    ids=["access_key", "secret_key", "app_key"],
)
def test_wrong_key_is_an_invalid_signature(
    server: FakeMimecastServer, wrong: dict[str, str]
) -> None:
    response = call(server, CAMPAIGNS, **wrong)
    assert response.status_code == 401
    error = v1_error(response)
    assert error["code"] == "err_xdk_invalid_signature"
    assert error["retryable"] is False
    assert response.headers["X-RateLimit-Remaining"] == "800"  # refused calls are not counted


def test_signature_covers_the_path(server: FakeMimecastServer) -> None:
    headers = signed_headers(CAMPAIGNS)
    response = call(server, USER_DATA, user_body(), headers=headers)
    assert response.status_code == 401
    assert v1_error(response)["code"] == "err_xdk_invalid_signature"


def test_wrong_app_id_is_a_developer_key_failure_in_http_200(server: FakeMimecastServer) -> None:
    response = call(server, CAMPAIGNS, app_id="another-app-id")
    assert response.status_code == 200
    assert response.json()["data"] == []
    error = v1_error(response)
    assert error["code"] == "err_developer_key"
    assert error["retryable"] is False


@pytest.mark.parametrize("header", ["x-mc-date", "x-mc-req-id", "x-mc-app-id", "Authorization"])
def test_missing_header_is_refused(server: FakeMimecastServer, header: str) -> None:
    headers = signed_headers(CAMPAIGNS)
    del headers[header]
    response = call(server, CAMPAIGNS, headers=headers)
    assert response.status_code == 401
    error = v1_error(response)
    assert error["code"] == "err_xdk_missing_headers"
    assert header.lower() in error["message"]


def test_unknown_authorization_scheme_is_refused(server: FakeMimecastServer) -> None:
    headers = {**signed_headers(CAMPAIGNS), "Authorization": "Basic dXNlcjpwYXNz"}
    response = call(server, CAMPAIGNS, headers=headers)
    assert response.status_code == 401
    assert v1_error(response)["code"] == "err_xdk_invalid_authorization"
    assert server.requests[0].auth_scheme is None


@pytest.mark.parametrize("offset_s", [-1000, 1000])
def test_date_outside_the_allowed_skew_names_the_server_time(
    server: FakeMimecastServer, offset_s: int
) -> None:
    date = mc_date(datetime.now(UTC) + timedelta(seconds=offset_s))
    response = call(server, CAMPAIGNS, date=date)
    assert response.status_code == 401
    error = v1_error(response)
    assert error["code"] == "err_xdk_invalid_date"
    assert "server time" in error["message"]
    assert datetime.now(UTC).strftime("%d %b %Y") in error["message"]


def test_date_within_the_skew_is_accepted(server: FakeMimecastServer) -> None:
    date = mc_date(datetime.now(UTC) - timedelta(seconds=600))
    assert call(server, CAMPAIGNS, date=date).status_code == 200


def test_unparseable_date_is_refused(server: FakeMimecastServer) -> None:
    response = call(server, CAMPAIGNS, date="yesterday")
    assert response.status_code == 401
    assert v1_error(response)["code"] == "err_xdk_invalid_date"


def test_reused_request_id_is_refused(server: FakeMimecastServer) -> None:
    headers = signed_headers(CAMPAIGNS)
    first = call(server, CAMPAIGNS, headers=headers)
    replay = call(server, CAMPAIGNS, headers=headers)
    assert first.status_code == 200
    assert replay.status_code == 401
    assert v1_error(replay)["code"] == "err_xdk_duplicate_request_id"
    # A request re-signed with a fresh id goes through.
    assert call(server, CAMPAIGNS).status_code == 200


# -- get-user-data: pages, filters, searches ------------------------------------------------


def test_pagination_returns_every_item_exactly_once(server: FakeMimecastServer) -> None:
    seen: list[str] = []
    metas: list[dict[str, Any]] = []
    tokens: list[str] = []
    token: str | None = None
    while True:
        response = call(server, USER_DATA, user_body(page_size=3, token=token))
        assert response.status_code == 200
        metas.append(response.json()["meta"]["pagination"])
        seen += emails(response)
        token = metas[-1].get("next")
        if token is None:
            break
        tokens.append(token)
    expected = [u["email"] for u in make_dataset().users[ALPHA]]
    assert seen == expected
    assert [m["pageSize"] for m in metas] == [3, 3, 1]
    assert {m["totalCount"] for m in metas} == {7}
    assert len(set(tokens)) == 2
    assert all(ALPHA not in t for t in tokens)  # opaque: the query is bound server-side


def test_default_page_size_is_25_and_large_sizes_are_clamped() -> None:
    users = [_user(f"U{n}", f"u{n}@corp.example", "", "SENT") for n in range(30)]
    dataset = FakeDataset(campaigns=[_campaign(ALPHA, "A", users)], users={ALPHA: users})
    with FakeMimecastServer(dataset, credentials=CREDS, max_page_size=10) as small_pages:
        clamped = call(small_pages, USER_DATA, user_body(page_size=1000))
        assert clamped.json()["meta"]["pagination"]["pageSize"] == 10
    with FakeMimecastServer(dataset, credentials=CREDS) as default_pages:
        default = call(default_pages, USER_DATA, user_body())
        pagination = default.json()["meta"]["pagination"]
        assert pagination["pageSize"] == 25
        assert pagination["totalCount"] == 30
        assert "next" in pagination


def test_single_page_has_no_next(server: FakeMimecastServer) -> None:
    response = call(server, USER_DATA, user_body(BETA, page_size=5))
    assert response.json()["meta"]["pagination"] == {"pageSize": 3, "totalCount": 3}


def test_get_campaigns_accepts_and_ignores_pagination(server: FakeMimecastServer) -> None:
    body = {"data": [], "meta": {"pagination": {"pageSize": 1}}}
    payload = call(server, CAMPAIGNS, body).json()
    assert len(payload["data"][0]["campaigns"]) == 2
    assert "pagination" not in payload["meta"]


@pytest.mark.parametrize("reuse", ["garbage", "other_campaign", "other_query"])
def test_page_token_is_bound_to_its_campaign_and_query(
    server: FakeMimecastServer, reuse: str
) -> None:
    token = call(server, USER_DATA, user_body(page_size=2)).json()["meta"]["pagination"]["next"]
    body = {
        "garbage": user_body(page_size=2, token="bm90LWEtdG9rZW4"),
        "other_campaign": user_body(BETA, page_size=2, token=token),
        "other_query": user_body(
            page_size=2, token=token, filterBy=[{"fieldName": "status", "value": "sent"}]
        ),
    }[reuse]
    response = call(server, USER_DATA, body)
    assert response.status_code == 400
    assert v1_error(response)["code"] == "err_invalid_page_token"


def test_missing_campaign_id_is_a_validation_failure(server: FakeMimecastServer) -> None:
    for body in ({"data": []}, user_body(None), user_body("")):
        response = call(server, USER_DATA, body)
        assert response.status_code == 400
        assert response.json()["meta"]["status"] == 400
        assert v1_error(response)["code"] == "err_validation_blank_id"


def test_unknown_campaign_is_not_found(server: FakeMimecastServer) -> None:
    response = call(server, USER_DATA, user_body("no-such-campaign"))
    assert response.status_code == 400
    fail = response.json()["fail"][0]
    assert fail["key"] == {"id": "no-such-campaign"}
    assert fail["errors"][0] == {
        "code": "err_campaign_not_found",
        "message": "No campaign with id 'no-such-campaign'",
        "retryable": False,
    }


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["sent"], {"alex.doe@alias.example", "alexd1993@personal-mail.example"}),
        (["incorrect"], {"bea.smith@corp.example", "dee.brown@corp.example"}),
        (
            ["correct"],
            {"alex.doe@corp.example", "cai.jones@corp.example", "eli.green@corp.example"},
        ),
        (
            ["sent", "incorrect"],
            {
                "alex.doe@alias.example",
                "alexd1993@personal-mail.example",
                "bea.smith@corp.example",
                "dee.brown@corp.example",
            },
        ),
    ],
)
def test_filter_by_status(
    server: FakeMimecastServer, statuses: list[str], expected: set[str]
) -> None:
    filters = [{"fieldName": "status", "value": s} for s in statuses]
    response = call(server, USER_DATA, user_body(page_size=5, filterBy=filters))
    assert set(emails(response)) == expected
    assert response.json()["meta"]["pagination"]["totalCount"] == len(expected)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("name", "ALEX", ["alex.doe@corp.example", "alex.doe@alias.example"]),
        ("email", "Personal-Mail", ["alexd1993@personal-mail.example"]),
        ("department", "it", ["dee.brown@corp.example", "eli.green@corp.example"]),
    ],
)
def test_search_by_field_is_a_case_insensitive_substring(
    server: FakeMimecastServer, field: str, value: str, expected: list[str]
) -> None:
    body = user_body(searchBy={"fieldName": field, "value": value})
    assert emails(call(server, USER_DATA, body)) == expected


def test_search_by_custom_attribute_uses_the_given_attribute_ids(
    server: FakeMimecastServer,
) -> None:
    search = {"fieldName": "customAttribute", "value": "leeds"}
    city = call(server, USER_DATA, user_body(searchBy=search, attributeIds=["attr-city"]))
    assert emails(city) == ["bea.smith@corp.example"]
    both = user_body(searchBy=search, attributeIds=["attr-city", "attr-floor"])
    assert emails(call(server, USER_DATA, both)) == [
        "bea.smith@corp.example",
        "eli.green@corp.example",
    ]
    york = user_body(searchBy={**search, "value": "york"}, attributeIds=["attr-city"])
    assert emails(call(server, USER_DATA, york)) == ["dee.brown@corp.example"]  # email case


def test_filter_and_search_combine(server: FakeMimecastServer) -> None:
    body = user_body(
        searchBy={"fieldName": "department", "value": "sales"},
        filterBy=[{"fieldName": "status", "value": "correct"}],
    )
    assert emails(call(server, USER_DATA, body)) == ["cai.jones@corp.example"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"filterBy": [{"fieldName": "outcome", "value": "sent"}]}, "err_validation_filter_field"),
        ({"filterBy": [{"fieldName": "status", "value": "SENT"}]}, "err_validation_filter_value"),
        ({"searchBy": {"fieldName": "phone", "value": "1"}}, "err_validation_search_field"),
        ({"searchBy": {"fieldName": "name"}}, "err_validation_search_value"),
        (
            {"searchBy": {"fieldName": "customAttribute", "value": "x"}},
            "err_validation_attribute_ids_required",
        ),
        ({"attributeIds": ["a", "b", "c", "d"]}, "err_validation_too_many_attribute_ids"),
        ({"attributeIds": "attr-city"}, "err_validation_attribute_ids"),
    ],
)
def test_invalid_request_values_are_validation_failures(
    server: FakeMimecastServer, query: dict[str, Any], code: str
) -> None:
    response = call(server, USER_DATA, user_body(**query))
    assert response.status_code == 400
    assert v1_error(response)["code"] == code


@pytest.mark.parametrize(
    ("pagination", "code"),
    [
        ({"pageSize": 0}, "err_validation_page_size"),
        ({"pageSize": "5"}, "err_validation_page_size"),
    ],
)
def test_invalid_page_size_is_refused(
    server: FakeMimecastServer, pagination: dict[str, Any], code: str
) -> None:
    body = {"data": [{"id": ALPHA}], "meta": {"pagination": pagination}}
    response = call(server, USER_DATA, body)
    assert response.status_code == 400
    assert v1_error(response)["code"] == code


def test_body_that_is_not_json_is_refused(server: FakeMimecastServer) -> None:
    response = requests.post(
        server.base_url + USER_DATA,
        data=b"{not json",
        headers=signed_headers(USER_DATA),
        timeout=10,
    )
    assert response.status_code == 400
    assert v1_error(response)["code"] == "err_invalid_json"


def test_replaced_dataset_is_served_on_the_next_fetch(server: FakeMimecastServer) -> None:
    assert len(emails(call(server, USER_DATA, user_body(BETA)))) == 3
    changed = make_dataset()
    changed.users[BETA] = changed.users[BETA][:1]
    server.dataset = changed
    assert emails(call(server, USER_DATA, user_body(BETA))) == ["alex.doe@corp.example"]


def test_served_items_are_copies(server: FakeMimecastServer) -> None:
    server.inject("missing_fields")
    call(server, USER_DATA, user_body())
    assert server.dataset.users[ALPHA][0]["email"] == "alex.doe@corp.example"


# -- paths and methods ----------------------------------------------------------------------


def test_unknown_path_is_404(server: FakeMimecastServer) -> None:
    path = "/api/awareness-training/campaign/get-nothing"
    response = call(server, path)
    assert response.status_code == 404
    assert v1_error(response)["code"] == "err_not_found"


def test_non_post_is_405(server: FakeMimecastServer) -> None:
    response = requests.get(
        server.base_url + CAMPAIGNS, headers=signed_headers(CAMPAIGNS), timeout=10
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert v1_error(response)["code"] == "err_method_not_allowed"
    assert requests.get(server.base_url + TOKEN, timeout=10).status_code == 405


# -- API 2.0: token endpoint and bearer auth ------------------------------------------------


def test_token_endpoint_issues_bearer_tokens_that_work(server: FakeMimecastServer) -> None:
    response = requests.post(
        server.base_url + TOKEN,
        data=TOKEN_FORM,
        timeout=10,
    )
    payload = response.json()
    assert payload["token_type"] == "Bearer"
    assert payload["expires_in"] == 1800
    assert len(payload["access_token"]) >= 32
    api = call(server, USER_DATA, user_body(BETA), headers=bearer(payload["access_token"]))
    assert api.status_code == 200
    assert len(emails(api)) == 3
    token_record, api_record = server.requests
    assert token_record.body["grant_type"] == "client_credentials"
    assert token_record.auth_scheme is None
    assert api_record.auth_scheme == "bearer"
    assert api.headers["X-RateLimit-Remaining"] == "799"  # the token call is not counted


def test_token_endpoint_accepts_http_basic_client_credentials(server: FakeMimecastServer) -> None:
    response = requests.post(
        server.base_url + TOKEN,
        data={"grant_type": "client_credentials"},
        auth=(CREDS.client_id, CREDS.client_secret),
        timeout=10,
    )
    assert response.status_code == 200
    assert "access_token" in response.json()


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": CREDS.client_id, "client_secret": "nope"}, 401, "invalid_client"),
        ({"client_id": "nope", "client_secret": CREDS.client_secret}, 401, "invalid_client"),
        ({}, 401, "invalid_client"),
        (
            {"client_id": CREDS.client_id, "client_secret": CREDS.client_secret},
            400,
            "unsupported_grant_type",
        ),
    ],
)
def test_token_endpoint_refusals(
    server: FakeMimecastServer, form: dict[str, str], status: int, error: str
) -> None:
    if status == 401:
        form = {**form, "grant_type": "client_credentials"}
    response = requests.post(server.base_url + TOKEN, data=form, timeout=10)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_unknown_bearer_token_is_refused_in_the_api_2_shape(server: FakeMimecastServer) -> None:
    response = call(server, CAMPAIGNS, headers=bearer("not-a-token"))
    assert response.status_code == 401
    assert response.json()["fail"] == [
        {"code": "token_invalid", "message": "The bearer token is not valid"}
    ]


def test_expired_tokens_are_refused(server: FakeMimecastServer) -> None:
    token = bearer_token(server)
    assert call(server, CAMPAIGNS, headers=bearer(token)).status_code == 200
    server.expire_tokens()
    response = call(server, CAMPAIGNS, headers=bearer(token))
    assert response.status_code == 401
    [fail] = response.json()["fail"]
    assert fail["code"] == "token_expired"
    fresh = bearer_token(server)
    assert call(server, CAMPAIGNS, headers=bearer(fresh)).status_code == 200


def test_token_ttl_is_enforced() -> None:
    with FakeMimecastServer(make_dataset(), credentials=CREDS, token_ttl_s=0) as server:
        token = bearer_token(server)
        response = call(server, CAMPAIGNS, headers=bearer(token))
    assert response.json()["fail"][0]["code"] == "token_expired"


def test_bearer_failures_use_the_api_2_shape(server: FakeMimecastServer) -> None:
    response = call(server, USER_DATA, user_body(None), headers=bearer(bearer_token(server)))
    assert response.status_code == 400
    [fail] = response.json()["fail"]
    assert fail["code"] == "err_validation_blank_id"
    assert set(fail) == {"code", "message"}


# -- rate limit -----------------------------------------------------------------------------


def test_rate_limit_answers_429_with_headers_until_the_window_resets() -> None:
    with FakeMimecastServer(
        make_dataset(), credentials=CREDS, rate_limit=2, rate_window_ms=400
    ) as server:
        responses = [call(server, CAMPAIGNS) for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["1", "0", "0"]
        limited = responses[-1]
        assert limited.headers["X-RateLimit-Limit"] == "2"
        reset_ms = int(limited.headers["X-RateLimit-Reset"])
        assert 0 < reset_ms <= 400
        error = v1_error(limited)
        assert (error["code"], error["retryable"]) == ("err_rate_limit_exceeded", True)
        time.sleep(reset_ms / 1000 + 0.05)
        assert call(server, CAMPAIGNS).status_code == 200


def test_token_calls_do_not_count_against_the_rate_limit() -> None:
    with FakeMimecastServer(make_dataset(), credentials=CREDS, rate_limit=1) as server:
        token = bearer_token(server)
        bearer_token(server)
        assert call(server, CAMPAIGNS, headers=bearer(token)).status_code == 200
        assert call(server, CAMPAIGNS, headers=bearer(token)).status_code == 429


# -- injected faults ------------------------------------------------------------------------


def test_rate_limit_fault_uses_its_reset(server: FakeMimecastServer) -> None:
    server.inject("rate_limit", times=2, reset_ms=50)
    first, second, third = (call(server, CAMPAIGNS) for _ in range(3))
    for response in (first, second):
        assert response.status_code == 429
        assert response.headers["X-RateLimit-Reset"] == "50"
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert v1_error(response)["retryable"] is True
    assert third.status_code == 200
    assert [r.fault for r in server.requests] == ["rate_limit", "rate_limit", None]


@pytest.mark.parametrize(("status", "body"), [(503, "text"), (500, "json")])
def test_server_error_fault(server: FakeMimecastServer, status: int, body: str) -> None:
    server.inject("server_error", status=status, body=body)
    response = call(server, CAMPAIGNS)
    assert response.status_code == status
    if body == "json":
        error = v1_error(response)
        assert error["retryable"] is True
    else:
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.text == "Service Unavailable"
    assert "X-RateLimit-Limit" in response.headers


def test_html_error_fault(server: FakeMimecastServer) -> None:
    server.inject("html_error")
    response = call(server, CAMPAIGNS)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text


@pytest.mark.parametrize(
    ("kind", "params", "status", "code", "retryable"),
    [
        ("developer_key", {}, 200, "err_developer_key", False),
        ("binding_expired", {}, 418, "err_xdk_binding_expired", False),
        ("fail_retryable", {}, 200, "err_fake_transient", True),
        ("fail_permanent", {"code": "err_some_thing"}, 200, "err_some_thing", False),
    ],
)
def test_api_failure_faults(
    server: FakeMimecastServer,
    kind: str,
    params: dict[str, Any],
    status: int,
    code: str,
    retryable: bool,
) -> None:
    server.inject(kind, **params)
    response = call(server, CAMPAIGNS)
    assert response.status_code == status
    assert response.json()["data"] == []
    error = v1_error(response)
    assert (error["code"], error["retryable"]) == (code, retryable)
    assert server.requests[-1].fault == kind


def test_token_expired_fault_also_expires_the_token(server: FakeMimecastServer) -> None:
    token = bearer_token(server)
    server.inject("token_expired")
    response = call(server, CAMPAIGNS, headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["fail"][0]["code"] == "token_expired"
    again = call(server, CAMPAIGNS, headers=bearer(token))
    assert again.json()["fail"][0]["code"] == "token_expired"
    assert server.requests[-1].fault is None  # refused by the expiry itself, not a fault


def test_malformed_json_fault(server: FakeMimecastServer) -> None:
    server.inject("malformed_json")
    response = call(server, USER_DATA, user_body())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.text.startswith('{"meta"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_truncated_page_fault(server: FakeMimecastServer) -> None:
    server.inject("truncated_page", drop=2)
    response = call(server, USER_DATA, user_body(page_size=5))
    pagination = response.json()["meta"]["pagination"]
    assert pagination["pageSize"] == 5
    assert pagination["totalCount"] == 7
    assert len(emails(response)) == 3


def test_repeat_token_fault(server: FakeMimecastServer) -> None:
    server.inject("repeat_token", times=2)
    first = call(server, USER_DATA, user_body(page_size=3)).json()
    token = first["meta"]["pagination"]["next"]
    second = call(server, USER_DATA, user_body(page_size=3, token=token)).json()
    assert second["meta"]["pagination"]["next"] == token
    # The first page's token served the first page again.
    assert first["data"] == second["data"]


def test_empty_page_with_next_fault_resumes_where_it_was(server: FakeMimecastServer) -> None:
    server.inject("empty_page_with_next")
    empty = call(server, USER_DATA, user_body(page_size=5)).json()
    assert empty["data"][0]["items"] == []
    assert empty["meta"]["pagination"]["pageSize"] == 0
    token = empty["meta"]["pagination"]["next"]
    resumed = call(server, USER_DATA, user_body(page_size=5, token=token))
    assert emails(resumed)[0] == "alex.doe@corp.example"


def test_total_mismatch_fault(server: FakeMimecastServer) -> None:
    server.inject("total_mismatch", extra=3)
    response = call(server, USER_DATA, user_body(BETA))
    assert response.json()["meta"]["pagination"]["totalCount"] == 6
    assert len(emails(response)) == 3


def test_connection_reset_fault(server: FakeMimecastServer) -> None:
    server.inject("connection_reset")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        call(server, USER_DATA, user_body())
    assert server.requests[-1].fault == "connection_reset"
    assert call(server, USER_DATA, user_body()).status_code == 200  # the server carries on


def test_delay_fault_can_trip_a_read_timeout(server: FakeMimecastServer) -> None:
    server.inject("delay", seconds=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            server.base_url + CAMPAIGNS,
            json={"data": []},
            headers=signed_headers(CAMPAIGNS),
            timeout=(5, 0.1),
        )
    start = time.monotonic()
    server.inject("delay", seconds=0.3)
    assert call(server, CAMPAIGNS).status_code == 200
    assert time.monotonic() - start >= 0.3


def test_missing_fields_and_wrong_types_faults(server: FakeMimecastServer) -> None:
    server.inject("missing_fields")
    server.inject("wrong_types")
    server.inject("missing_fields", field="department")
    server.inject("wrong_types", path=CAMPAIGNS)
    missing = call(server, USER_DATA, user_body()).json()["data"][0]["items"]
    assert "email" not in missing[0] and "email" in missing[1]
    wrong = call(server, USER_DATA, user_body()).json()["data"][0]["items"]
    assert wrong[0]["results"] == "CORRECT"
    missing_department = call(server, USER_DATA, user_body()).json()["data"][0]["items"]
    assert "department" not in missing_department[0]
    campaigns = call(server, CAMPAIGNS).json()["data"][0]["campaigns"]
    assert campaigns[0]["numSent"] == "2"


def test_data_faults_on_get_campaigns_add_a_pagination_meta(server: FakeMimecastServer) -> None:
    server.inject("truncated_page")
    server.inject("empty_page_with_next")
    truncated = call(server, CAMPAIGNS).json()
    assert truncated["meta"]["pagination"] == {"pageSize": 2, "totalCount": 2}
    assert len(truncated["data"][0]["campaigns"]) == 1
    empty = call(server, CAMPAIGNS).json()
    assert empty["data"][0]["campaigns"] == []
    assert empty["meta"]["pagination"]["next"]


def test_faults_are_consumed_in_order_by_matching_paths(server: FakeMimecastServer) -> None:
    server.inject("fail_permanent", path=USER_DATA)
    server.inject("developer_key", times=2)
    assert v1_error(call(server, CAMPAIGNS))["code"] == "err_developer_key"
    assert v1_error(call(server, USER_DATA, user_body()))["code"] == "err_fake_permanent"
    assert v1_error(call(server, USER_DATA, user_body()))["code"] == "err_developer_key"
    assert server.pending_faults() == []
    assert call(server, USER_DATA, user_body()).json()["fail"] == []


def test_faults_wait_for_an_authenticated_request(server: FakeMimecastServer) -> None:
    server.inject("server_error")
    assert call(server, CAMPAIGNS, app_key="wrong").status_code == 401
    assert server.pending_faults() == [("server_error", None, 1)]
    assert call(server, CAMPAIGNS).status_code == 503


def test_token_endpoint_faults_must_be_asked_for_by_path(server: FakeMimecastServer) -> None:
    server.inject("server_error", path=TOKEN)
    server.inject("html_error")
    response = requests.post(
        server.base_url + TOKEN,
        data=TOKEN_FORM,
        timeout=10,
    )
    assert response.status_code == 503
    assert server.pending_faults() == [("html_error", None, 1)]


def test_inject_refuses_unknown_kinds_params_and_paths(server: FakeMimecastServer) -> None:
    with pytest.raises(ValueError, match="Unknown fault kind"):
        server.inject("gremlins")
    with pytest.raises(ValueError, match="no parameter"):
        server.inject("rate_limit", reset_s=1)
    with pytest.raises(ValueError, match="Unknown path"):
        server.inject("delay", path="/api/nope")
    with pytest.raises(ValueError, match="does not apply"):
        server.inject("truncated_page", path=TOKEN)
    with pytest.raises(ValueError, match="times"):
        server.inject("delay", times=0)
    assert server.pending_faults() == []
    assert "connection_reset" in FAULT_PARAMS


# -- recording, latency, concurrency --------------------------------------------------------


def test_clear_requests(server: FakeMimecastServer) -> None:
    call(server, CAMPAIGNS)
    assert len(server.requests) == 1
    server.clear_requests()
    assert server.requests == []


def test_latency_is_added_to_each_api_answer() -> None:
    with FakeMimecastServer(make_dataset(), credentials=CREDS, latency_s=0.2) as server:
        start = time.monotonic()
        assert call(server, CAMPAIGNS).status_code == 200
        assert time.monotonic() - start >= 0.2


def test_concurrent_clients_are_all_served_and_counted() -> None:
    with FakeMimecastServer(
        make_dataset(), credentials=CREDS, latency_s=0.05, max_page_size=5
    ) as server:
        results: list[int] = []
        remaining: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(5):
                response = call(server, USER_DATA, user_body(page_size=2))
                with lock:
                    results.append(response.status_code)
                    remaining.append(response.headers["X-RateLimit-Remaining"])

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [200] * 40
        # Every call took its own slot in the window: no two saw the same remaining count.
        assert sorted(int(r) for r in remaining) == list(range(760, 800))
        assert len(server.requests) == 40


# -- binding and lifecycle ------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::", "10.0.0.1"])
def test_non_loopback_host_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeMimecastServer(make_dataset(), credentials=CREDS, host=host)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.5"])
def test_loopback_hosts_are_served(host: str) -> None:
    with FakeMimecastServer(make_dataset(), credentials=CREDS, host=host) as server:
        assert server.base_url.startswith("http://127.0.0.")
        assert call(server, CAMPAIGNS).status_code == 200


def test_ipv6_loopback_is_served() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = FakeMimecastServer(make_dataset(), credentials=CREDS, host="::1").start()
    except OSError:
        pytest.skip("::1 not configured here")
    with server:
        assert server.base_url.startswith("http://[::1]:")
        assert call(server, CAMPAIGNS).status_code == 200


def test_server_stops_cleanly_with_open_connections() -> None:
    server = FakeMimecastServer(make_dataset(), credentials=CREDS).start()
    base_url = server.base_url
    session = requests.Session()  # keeps its connection open after the answer
    assert session.post(
        base_url + CAMPAIGNS, json={"data": []}, headers=signed_headers(CAMPAIGNS), timeout=10
    ).ok
    port = base_url.rsplit(":", 1)[1]
    threads_before = {t for t in threading.enumerate() if f"fake-mimecast-{port}" in t.name}
    assert len(threads_before) == 2  # the server loop and the kept-alive connection's worker
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 3
    assert not any(t.is_alive() for t in threads_before)
    assert not server.running
    with pytest.raises(requests.ConnectionError):
        requests.post(base_url + CAMPAIGNS, json={}, headers=signed_headers(CAMPAIGNS), timeout=2)
    session.close()
    server.stop()  # a second stop is harmless
    with pytest.raises(RuntimeError):
        server.start()


def test_stop_cuts_a_long_delay_short() -> None:
    server = FakeMimecastServer(make_dataset(), credentials=CREDS).start()
    server.inject("delay", seconds=30)
    errors: list[BaseException] = []

    def slow_call() -> None:
        try:
            call(server, CAMPAIGNS)
        except requests.RequestException as exc:  # the connection may close under it
            errors.append(exc)

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.2)
    start = time.monotonic()
    server.stop()
    caller.join(5)
    assert time.monotonic() - start < 5
    assert not caller.is_alive()


def test_base_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not been started"):
        _ = FakeMimecastServer(make_dataset(), credentials=CREDS).base_url


@pytest.mark.parametrize(
    "option", [{"port": 70000}, {"max_page_size": 0}, {"rate_window_ms": 0}, {"latency_s": -1}]
)
def test_invalid_options_are_refused(option: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        FakeMimecastServer(make_dataset(), credentials=CREDS, **option)


# -- credentials ----------------------------------------------------------------------------


def test_demo_credentials_are_fixed_and_fake() -> None:
    assert FakeCredentials.demo() == FakeCredentials.demo()
    demo = FakeCredentials.demo()
    assert all(
        "fake" in value
        for value in (
            demo.access_key,
            demo.app_id,
            demo.app_key,
            demo.client_id,
            demo.client_secret,
        )
    )
    assert b"fake" in base64.b64decode(demo.secret_key)
    assert demo.secret_key not in repr(demo)
    assert demo.client_secret not in repr(demo)


def test_custom_credentials_are_enforced() -> None:
    creds = FakeCredentials(
        access_key="ak",
        secret_key=base64.b64encode(b"custom secret").decode(),
        app_id="id",
        app_key="key",
        client_id="cid",
        client_secret="cs",
    )
    with FakeMimecastServer(make_dataset(), credentials=creds) as server:
        good = {
            "access_key": "ak",
            "secret_key": creds.secret_key,
            "app_id": "id",
            "app_key": "key",
        }
        assert call(server, CAMPAIGNS, **good).status_code == 200
        assert call(server, CAMPAIGNS).status_code == 401  # the demo keys are not accepted


def test_secret_key_must_be_base64() -> None:
    with pytest.raises(ValueError, match="base64"):
        FakeCredentials("ak", "not base64!", "id", "key", "cid", "cs")


# -- python -m awareness_analysis.fakeapi ---------------------------------------------------


def test_main_serves_the_demo_organisation_and_prints_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seeds: list[int] = []

    def build_demo_dataset(seed: int = 7) -> FakeDataset:
        seeds.append(seed)
        return make_dataset()

    demo_org = types.ModuleType("awareness_analysis.fakeapi.demo_org")
    demo_org.build_demo_dataset = build_demo_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "awareness_analysis.fakeapi.demo_org", demo_org)
    out = io.StringIO()
    statuses: list[int] = []

    def use_the_printed_environment() -> None:
        env = dict(
            line.strip().removeprefix("export ").split("=", 1)
            for line in out.getvalue().splitlines()
            if line.strip().startswith("export ")
        )
        assert set(env) == {
            "MIMECAST_BASE_URL",
            "MIMECAST_ACCESS_KEY",
            "MIMECAST_SECRET_KEY",
            "MIMECAST_APP_ID",
            "MIMECAST_APP_KEY",
        }
        headers = signed_headers(
            CAMPAIGNS,
            access_key=env["MIMECAST_ACCESS_KEY"],
            secret_key=env["MIMECAST_SECRET_KEY"],
            app_id=env["MIMECAST_APP_ID"],
            app_key=env["MIMECAST_APP_KEY"],
        )
        response = requests.post(
            env["MIMECAST_BASE_URL"] + CAMPAIGNS, json={"data": []}, headers=headers, timeout=10
        )
        statuses.append(response.status_code)

    code = fakeapi_main.main(
        ["--port", "0", "--seed", "42"], wait=use_the_printed_environment, out=out
    )
    assert code == 0
    assert statuses == [200]
    assert seeds == [42]
    assert "http://127.0.0.1:" in out.getvalue()
    assert out.getvalue().rstrip().endswith("Stopped.")


def test_main_refuses_a_non_loopback_host(monkeypatch: pytest.MonkeyPatch) -> None:
    demo_org = types.ModuleType("awareness_analysis.fakeapi.demo_org")
    demo_org.build_demo_dataset = lambda seed=0: make_dataset()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "awareness_analysis.fakeapi.demo_org", demo_org)
    waited: list[bool] = []
    code = fakeapi_main.main(["--host", "0.0.0.0"], wait=lambda: waited.append(True))
    assert code == 2
    assert waited == []
