"""API 1.0 signing and the OAuth token cache, without a server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime

import pytest
import requests

from awareness_analysis.api.auth import (
    MimecastHmacAuth,
    OAuthClientAuth,
    format_mc_date,
    hmac_signature,
)
from awareness_analysis.api.config import HmacCredentials, OAuthCredentials

SECRET_B64 = "c2VjcmV0LWtleS1mb3ItdGVzdHM="  # base64("secret-key-for-tests")
DATE = "Tue, 24 Nov 2015 12:50:11 UTC"
REQUEST_ID = "8578FCFC-A305-4D9A-99CB-F4D5ECEFE297"
PATH = "/api/awareness-training/campaign/get-user-data"
APP_KEY = "app-key-123"
# Computed independently with: printf '%s' "$DATE:$REQUEST_ID:$PATH:$APP_KEY" |
#   openssl dgst -sha1 -mac HMAC -macopt hexkey:<hex of the decoded secret> -binary | base64
OPENSSL_SIGNATURE = "11oNtBJ17rJGxlvytGBOx2Hb7r0="


def reference_signature(secret_key: str, date: str, request_id: str, uri: str, app_key: str) -> str:
    """The vendor page's Python sample, step by step."""
    data_to_sign = ":".join([date, request_id, uri, app_key])
    digest = hmac.new(base64.b64decode(secret_key), data_to_sign.encode(), digestmod=hashlib.sha1)
    return base64.b64encode(digest.digest()).rstrip().decode()


def test_signature_matches_openssl_and_reference_sample() -> None:
    ours = hmac_signature(base64.b64decode(SECRET_B64), DATE, REQUEST_ID, PATH, APP_KEY)
    assert ours == OPENSSL_SIGNATURE
    assert ours == reference_signature(SECRET_B64, DATE, REQUEST_ID, PATH, APP_KEY)


def test_mc_date_format_is_english_utc() -> None:
    moment = datetime(2015, 11, 24, 12, 50, 11, tzinfo=UTC)
    assert format_mc_date(moment) == DATE
    assert format_mc_date(datetime(2022, 3, 4, 23, 26, 59, tzinfo=UTC)) == (
        "Fri, 04 Mar 2022 23:26:59 UTC"
    )


def test_hmac_auth_sets_headers_and_signs_path_only() -> None:
    creds = HmacCredentials("access-1", SECRET_B64, "app-id-1", APP_KEY)
    auth = MimecastHmacAuth(
        creds,
        clock=lambda: datetime(2015, 11, 24, 12, 50, 11, tzinfo=UTC),
        new_request_id=lambda: REQUEST_ID,
    )
    request = requests.Request(
        "POST", f"https://us-api.mimecast.com{PATH}?ignored=1", json={"data": []}
    ).prepare()
    signed = auth(request)
    assert signed.headers["x-mc-date"] == DATE
    assert signed.headers["x-mc-req-id"] == REQUEST_ID
    assert signed.headers["x-mc-app-id"] == "app-id-1"
    assert signed.headers["Authorization"] == f"MC access-1:{OPENSSL_SIGNATURE}"


def test_hmac_auth_uses_fresh_request_id_each_call() -> None:
    creds = HmacCredentials("access-1", SECRET_B64, "app-id-1", APP_KEY)
    auth = MimecastHmacAuth(creds)
    ids = set()
    for _ in range(3):
        request = requests.Request("POST", f"https://x.example{PATH}").prepare()
        ids.add(auth(request).headers["x-mc-req-id"])
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    assert "access-1" not in repr(auth) and APP_KEY not in repr(auth)


class _TokenSession:
    """Stands in for requests.Session.post on the token endpoint; counts calls."""

    def __init__(self, responses: list[tuple[int, object]]) -> None:
        self.responses = responses
        self.calls: list[dict[str, str]] = []

    def post(self, url: str, data: dict[str, str], timeout: object) -> requests.Response:
        self.calls.append(data)
        status, body = self.responses.pop(0)
        response = requests.Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        return response


def test_oauth_token_cached_and_refreshed_before_expiry() -> None:
    now = [1000.0]
    session = _TokenSession(
        [
            (200, {"access_token": "tok-1", "expires_in": 1800}),
            (200, {"access_token": "tok-2", "expires_in": 1800}),
        ]
    )
    auth = OAuthClientAuth(
        OAuthCredentials("client-1", "shh-secret"),
        "https://api.example/oauth/token",
        session=session,  # type: ignore[arg-type]
        monotonic=lambda: now[0],
    )
    assert auth.token() == "tok-1"
    now[0] += 1000
    assert auth.token() == "tok-1"  # cached
    now[0] += 1800 - 1000 - auth.refresh_margin_s + 1  # inside the refresh margin
    assert auth.token() == "tok-2"
    assert len(session.calls) == 2
    assert session.calls[0]["grant_type"] == "client_credentials"
    assert "shh-secret" not in repr(auth)


def test_oauth_invalidate_forces_new_token() -> None:
    session = _TokenSession(
        [(200, {"access_token": "a", "expires_in": 1800}), (200, {"access_token": "b"})]
    )
    auth = OAuthClientAuth(
        OAuthCredentials("c", "s"),
        "https://api.example/oauth/token",
        session=session,  # type: ignore[arg-type]
    )
    assert auth.token() == "a"
    auth.invalidate()
    assert auth.token() == "b"


def test_oauth_refusal_names_the_variables_not_the_secret() -> None:
    from awareness_analysis.errors import MimecastAPIError

    session = _TokenSession([(401, {"error": "invalid_client"})])
    auth = OAuthClientAuth(
        OAuthCredentials("c", "very-secret-value"),
        "https://api.example/oauth/token",
        session=session,  # type: ignore[arg-type]
    )
    with pytest.raises(MimecastAPIError) as info:
        auth.token()
    text = str(info.value)
    assert "invalid_client" in text and "MIMECAST_CLIENT_SECRET" in text
    assert "very-secret-value" not in text
