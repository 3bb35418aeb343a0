"""Request signing for Mimecast API 1.0 (HMAC-SHA1) and API 2.0 (OAuth client credentials).

Both are ``requests.auth.AuthBase`` subclasses: requests calls them for every request it
prepares, so each attempt of a retried call gets a fresh date, request id and signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

from awareness_analysis.api.config import HmacCredentials, OAuthCredentials
from awareness_analysis.errors import MimecastAPIError, MimecastResponseError

log = logging.getLogger(__name__)

# English names whatever the process locale: strftime's %a/%b follow LC_TIME.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_mc_date(moment: datetime) -> str:
    """Format ``moment`` as Mimecast's ``x-mc-date``: ``Tue, 24 Nov 2015 12:50:11 UTC``."""
    utc = moment.astimezone(UTC)
    return (
        f"{_DAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} UTC"
    )


def hmac_signature(secret_key: bytes, date: str, request_id: str, path: str, app_key: str) -> str:
    """Base64 HMAC-SHA1 over ``{date}:{request_id}:{path}:{app_key}`` keyed by the secret key.

    ``secret_key`` is the base64-decoded secret; ``path`` is the URI path only.
    """
    message = f"{date}:{request_id}:{path}:{app_key}".encode()
    digest = hmac.new(secret_key, message, hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class MimecastHmacAuth(requests.auth.AuthBase):
    """API 1.0 signing: ``Authorization: MC {accessKey}:{signature}`` plus x-mc-* headers."""

    def __init__(
        self,
        credentials: HmacCredentials,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_request_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._credentials = credentials
        self._secret = credentials.secret_key_bytes()
        self._clock = clock
        self._new_request_id = new_request_id

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path = urlsplit(request.url or "").path
        date = format_mc_date(self._clock())
        request_id = self._new_request_id()
        signature = hmac_signature(self._secret, date, request_id, path, self._credentials.app_key)
        request.headers["x-mc-date"] = date
        request.headers["x-mc-req-id"] = request_id
        request.headers["x-mc-app-id"] = self._credentials.app_id
        request.headers["Authorization"] = f"MC {self._credentials.access_key}:{signature}"
        return request

    def __repr__(self) -> str:
        return f"MimecastHmacAuth(app_id={self._credentials.app_id!r})"


class OAuthClientAuth(requests.auth.AuthBase):
    """API 2.0: a bearer token from ``{base}/oauth/token``, cached and refreshed before expiry."""

    #: Refresh this long before the announced expiry, so a token never expires mid-flight.
    refresh_margin_s = 60.0

    def __init__(
        self,
        credentials: OAuthCredentials,
        token_url: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 30.0),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._token_url = token_url
        self._session = session or requests.Session()
        self._timeout = timeout
        self._monotonic = monotonic
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._monotonic() >= self._expires_at - self.refresh_margin_s:
                self._fetch_token()
            assert self._token is not None
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (the API said it expired); the next call fetches another."""
        with self._lock:
            self._token = None

    def _fetch_token(self) -> None:
        form = {
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
            "grant_type": "client_credentials",
        }
        try:
            response = self._session.post(self._token_url, data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise MimecastResponseError(
                f"Could not reach the OAuth token endpoint {self._token_url}: {type(exc).__name__}."
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            detail = body.get("error", "") if isinstance(body, dict) else ""
            raise MimecastAPIError(
                str(detail or f"http_{response.status_code}"),
                "the OAuth token request was refused",
                http_status=response.status_code,
                path=urlsplit(self._token_url).path,
                hint="Check MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET, and that "
                "MIMECAST_BASE_URL is the API 2.0 gateway for your region",
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise MimecastResponseError(
                "The OAuth token response has no access_token.", http_status=200
            )
        try:
            lifetime = float(body.get("expires_in", 1800))
        except (TypeError, ValueError):
            lifetime = 1800.0
        self._token = token
        self._expires_at = self._monotonic() + lifetime
        self.tokens_fetched += 1
        log.debug("Fetched an OAuth token valid for %.0f s", lifetime)

    def __repr__(self) -> str:
        return f"OAuthClientAuth(client_id={self._credentials.client_id!r})"
