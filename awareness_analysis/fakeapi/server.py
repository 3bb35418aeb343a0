"""A local fake of the Mimecast API, served over loopback HTTP for the tests and the demo.

It serves ``campaign/get-campaigns`` and ``campaign/get-user-data`` from a :class:`FakeDataset`
in the recorded API 1.0 shapes, checks API 1.0 HMAC signatures and API 2.0 bearer tokens (from
its own ``/oauth/token``), pages with opaque tokens, enforces a fixed-window rate limit (or,
with ``quota=TokenBucket(...)``, the real API's token-bucket quota), and plays back queued
faults (:meth:`FakeMimecastServer.inject`) so a client can be tested against every failure it
must survive.

Failure codes seen in real traffic or the vendor's docs: ``err_xdk_invalid_signature`` (401),
``err_developer_key`` (HTTP 200), ``err_xdk_binding_expired`` (418), ``token_expired`` (API 2.0,
401). Every other code is invented here and is fake-only (the real API's codes for these cases
are unknown): ``err_xdk_missing_headers``, ``err_xdk_invalid_authorization``,
``err_xdk_invalid_date``, ``err_xdk_duplicate_request_id``, ``token_invalid``,
``err_rate_limit_exceeded``, ``err_not_found``, ``err_method_not_allowed``, ``err_invalid_json``,
``err_invalid_page_token``, ``err_campaign_not_found``, ``err_service_unavailable``,
``err_fake_transient``, ``err_fake_permanent`` and every ``err_validation_*`` code.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hashlib
import hmac
import http
import ipaddress
import json
import logging
import math
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from awareness_analysis.fakeapi.behaviour import (
    BEHAVIOUR_PATHS,
    PAGED_BEHAVIOUR_PATHS,
    BehaviourData,
    serve_behaviour,
)
from awareness_analysis.fakeapi.dataset import ApiDict, FakeDataset
from awareness_analysis.vocabulary import OUTCOMES

logger = logging.getLogger(__name__)

CAMPAIGNS_PATH = "/api/awareness-training/campaign/get-campaigns"
USER_DATA_PATH = "/api/awareness-training/campaign/get-user-data"
TOKEN_PATH = "/oauth/token"
API_PATHS = frozenset({CAMPAIGNS_PATH, USER_DATA_PATH, *BEHAVIOUR_PATHS})

#: ``x-mc-date`` as the vendor documents it; RFC 1123 ``GMT`` dates are accepted too.
MC_DATE_FORMAT = "%a, %d %b %Y %H:%M:%S UTC"
DEFAULT_PAGE_SIZE = 25
MAX_ATTRIBUTE_IDS = 3
SEARCH_FIELDS = ("name", "email", "department", "customAttribute")
STATUSES = OUTCOMES
MAX_BODY_BYTES = 10 * 1024 * 1024

#: Fault kinds -> their parameters and defaults. ``None`` defaults depend on the endpoint.
FAULT_PARAMS: Mapping[str, Mapping[str, Any]] = {
    "rate_limit": {"reset_ms": 100},
    # A gateway's plain-text page by default; body="json" answers in the API 1.0 envelope.
    "server_error": {"status": 503, "body": "text"},
    "html_error": {"status": 502},
    "developer_key": {},
    "token_expired": {},
    "binding_expired": {},
    "fail_retryable": {"code": "err_fake_transient", "message": "Injected transient failure"},
    "fail_permanent": {"code": "err_fake_permanent", "message": "Injected permanent failure"},
    "malformed_json": {},
    "truncated_page": {"drop": 1},
    "repeat_token": {},
    "empty_page_with_next": {},
    "total_mismatch": {"extra": 5},
    "connection_reset": {},
    "delay": {"seconds": 1.0},
    "missing_fields": {"field": None},
    "wrong_types": {"field": None, "value": None},
    # API 2.0's throttling: a ``{"detail": ...}`` body (none if detail is empty), an optional
    # Retry-After header (seconds or an HTTP date, sent as given) and no X-RateLimit-* headers.
    "throttle": {
        "status": 429,
        "detail": "Over throttling limit (10000/hour)",
        "retry_after": None,
    },
    # HTTP 401 with a failure other than token_expired, in the request's envelope shape.
    "auth_refused": {"code": "token_invalid", "message": "The bearer token is not valid"},
    # The status alone: an empty body (e.g. a 418 or 401 from a gateway that sends no details).
    "bare_status": {"status": 418},
    # A normal answer whose meta.status is this, with an empty fail list.
    "meta_status": {"status": 500},
    # get-user-data only: the page's next token starts a cycle of ``length`` tokens
    # (A -> B -> A for 2), each serving a real page, that never ends.
    "token_cycle": {"length": 2},
}
#: Faults that make sense on ``/oauth/token`` (it has no pages, items or API 1.0 envelope).
TOKEN_FAULTS = frozenset(
    {"server_error", "html_error", "malformed_json", "connection_reset", "delay"}
)
#: Faults that bend a successful data response rather than replace it.
_DATA_FAULTS = frozenset(
    {
        "truncated_page",
        "repeat_token",
        "empty_page_with_next",
        "total_mismatch",
        "missing_fields",
        "wrong_types",
        "meta_status",
        "token_cycle",
    }
)
#: (field, wrong value) used by ``missing_fields``/``wrong_types`` when no field is given.
_DEFAULT_BROKEN_FIELD = {"items": ("email", None), "campaigns": ("id", None)}
_DEFAULT_WRONG_TYPE = {"items": ("results", "CORRECT"), "campaigns": ("numSent", "2")}
#: ``next`` handed out by page faults on get-campaigns, which itself never pages.
_CAMPAIGNS_FAULT_TOKEN = "fake-campaigns-page-token"

_DEMO_SECRET = (
    "ZmFrZS1taW1lY2FzdC1zZWNyZXQta2V5OiBsb2NhbCBkZW1vIG9ubHksIG5vdCBhIHJlYWwgY3JlZGVudGlhbA=="
)


class TokenBucket:
    """The real API's per-administrator quota: ``capacity`` calls at once, then one call added
    back every ``refill_interval_s`` (Mimecast: 800, about one per 4.5 s).

    Each API call takes a token; with none left the call is refused (HTTP 429). Thread-safe.
    :attr:`lowest_remaining` and :attr:`refused` record what the bucket saw.
    """

    def __init__(self, capacity: int, refill_interval_s: float) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a whole number of at least 1, not {capacity!r}.")
        if not (math.isfinite(refill_interval_s) and refill_interval_s > 0):
            raise ValueError(f"refill_interval_s must be above 0, not {refill_interval_s!r}.")
        self.capacity = capacity
        self.refill_interval_s = float(refill_interval_s)
        self._lock = threading.Lock()
        self._tokens = capacity
        self._last_refill = time.monotonic()
        #: The lowest ``X-RateLimit-Remaining`` handed out after a successful call.
        self.lowest_remaining = capacity
        #: Calls refused with HTTP 429.
        self.refused = 0
        #: Calls let through.
        self.taken = 0

    def _refill(self, now: float) -> None:
        added = int((now - self._last_refill) // self.refill_interval_s)
        if added > 0:
            self._tokens = min(self.capacity, self._tokens + added)
            self._last_refill += added * self.refill_interval_s
        if self._tokens >= self.capacity:
            # A full bucket adds nothing: the refill clock starts with the next call taken.
            self._last_refill = now

    def _reset_ms(self, now: float) -> int:
        wait_s = min(self.refill_interval_s, self._last_refill + self.refill_interval_s - now)
        # Rounded before ceil: float noise (now + 0.2 - now > 0.2) is not a millisecond.
        return max(1, math.ceil(round(wait_s * 1000, 6)))

    def peek(self) -> tuple[int, int]:
        """(tokens left, ms until the next token) without taking one."""
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            return self._tokens, self._reset_ms(now)

    def take(self) -> tuple[bool, int, int]:
        """Take a token if there is one: (taken, tokens left after, ms until the next)."""
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            taken = self._tokens > 0
            if taken:
                self._tokens -= 1
                self.taken += 1
                self.lowest_remaining = min(self.lowest_remaining, self._tokens)
            else:
                self.refused += 1
            return taken, self._tokens, self._reset_ms(now)


@dataclass(frozen=True)
class FakeCredentials:
    """The keys the fake server accepts: API 1.0 HMAC keys and an API 2.0 OAuth client.

    ``secret_key`` is base64 text, as Mimecast issues it. Secrets are left out of ``repr``.
    """

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    app_id: str
    app_key: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        for name in ("access_key", "secret_key", "app_id", "app_key", "client_id", "client_secret"):
            if not getattr(self, name):
                raise ValueError(f"FakeCredentials.{name} must not be empty.")
        try:
            base64.b64decode(self.secret_key, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("FakeCredentials.secret_key must be base64 text.") from exc

    @classmethod
    def demo(cls) -> FakeCredentials:
        """Fixed, obviously fake keys for the demo and the tests (never valid at Mimecast)."""
        return cls(
            access_key="fake-access-key-demo-0000",
            secret_key=_DEMO_SECRET,
            app_id="fake-app-id-00000000-0000-0000-0000-000000000000",
            app_key="fake-app-key-00000000-0000-0000-0000-000000000000",
            client_id="fake-client-id-demo",
            client_secret="fake-client-secret-demo",
        )

    @property
    def secret_bytes(self) -> bytes:
        """The decoded HMAC key."""
        return base64.b64decode(self.secret_key)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server answered, as it arrived, and the status it got.

    ``body`` is the parsed JSON (API paths) or form fields (``/oauth/token``), ``None`` when empty
    or unparseable. ``auth_scheme`` is the scheme presented (``"hmac"``, ``"bearer"`` or
    ``None``), valid or not. ``fault`` names the injected fault that answered it, if any.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    auth_scheme: str | None
    response_status: int
    fault: str | None = None


@dataclass
class _QueuedFault:
    kind: str
    path: str | None
    params: dict[str, Any]
    remaining: int


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Send the headers and half the body, then close: a connection dropped mid-response.
    cut_connection: bool = False


@dataclass
class _Exchange:
    """A request being answered, filled in as it is understood."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any = None
    auth_scheme: str | None = None
    token: str | None = None
    fault: str | None = None


@dataclass
class _Listing:
    """Where a successful data response keeps its list, for the data faults to bend."""

    payload: ApiDict
    list_key: str
    fingerprint: str | None
    offset: int
    sent_token: str | None


class _Reject(Exception):
    """A request refused with an API failure; carries what the response needs."""

    def __init__(self, status: int, code: str, message: str, *, key: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.key = key


def _signature(secret: bytes, date: str, req_id: str, path: str, app_key: str) -> str:
    """The API 1.0 signature of one request (path only, no host or query)."""
    message = f"{date}:{req_id}:{path}:{app_key}".encode()
    return base64.b64encode(hmac.new(secret, message, hashlib.sha1).digest()).decode()


def _same(left: str, right: str) -> bool:
    """Constant-time text comparison that tolerates non-ASCII input."""
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def _parse_mc_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # A date without a zone ("-0000") cannot be compared with the server's clock.
    return parsed if parsed.tzinfo is not None else None


def _loopback_bind_address(host: str) -> tuple[str, socket.AddressFamily]:
    """The address to bind for ``host``, refusing anything that is not loopback."""
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"FakeMimecastServer binds only to loopback (127.0.0.0/8, localhost or ::1), "
            f"not {host!r}: it accepts well-known fake keys."
        )
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return str(address), family


def _outcome(item: Mapping[str, Any]) -> str:
    """A user's campaign outcome as ``filterBy`` status sees it."""
    results = item.get("results")
    answers = [str(v).upper() for v in results.values()] if isinstance(results, Mapping) else []
    if "INCORRECT" in answers:
        return "incorrect"
    if all(answer == "SENT" for answer in answers):
        return "sent"
    return "correct"


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that can close its open connections and join its workers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, app: Any) -> None:
        self.address_family = family
        self.app = app
        #: Seconds since the epoch on the fake's own clock (its ``Date`` header).
        self.clock: Any = time.time
        self._tracked_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Daemon workers never block interpreter exit; tracking them lets stop() join them.
        worker = threading.Thread(
            target=self._work,
            args=(request, client_address),
            daemon=True,
            name=f"fake-mimecast-{self.server_address[1]}-worker",
        )
        with self._tracked_lock:
            self._connections.add(request)
            self._workers.add(worker)
        worker.start()

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracked_lock:
                self._connections.discard(request)
                self._workers.discard(threading.current_thread())

    def close_connections(self) -> None:
        """Wake every worker blocked on a kept-alive connection."""
        with self._tracked_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def join_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._tracked_lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts, stop()) are normal here, not errors worth a traceback.
        logger.debug("fake Mimecast connection from %s ended abruptly", client_address, exc_info=1)


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, asks the fake for an answer, writes it."""

    protocol_version = "HTTP/1.1"  # keep-alive, like a pooled requests.Session expects
    # Headers and body go out in separate writes; with Nagle on, each kept-alive answer
    # waits ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server_version = "FakeMimecast/1.0"
    sys_version = ""
    timeout = 60  # idle kept-alive connections are dropped after a minute
    server: _HTTPServer

    def _answer(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Invalid Content-Length")
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self.send_error(413, "Request body too large")
            return
        raw = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        response: _Response = self.server.app(self.command, self.path, headers, raw)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.cut_connection:
            self.wfile.write(response.body[: max(1, len(response.body) // 2)])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(response.body)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the fake's own clock, which may be set off from this host's.
        if timestamp is None:
            timestamp = self.server.clock()
        return formatdate(timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake Mimecast %s: " + format, self.address_string(), *args)


class FakeMimecastServer:
    """The fake Mimecast API on loopback; use as a context manager or call start()/stop().

    ``dataset`` may be replaced between fetches. All state is guarded by one lock so several
    client threads can call at once.

    ``clock_offset_s`` sets the fake's own clock that many seconds ahead of this host's (behind
    when negative): its ``Date`` header and its ``x-mc-date`` check both use it, so a client
    whose clock is far from the server's can be simulated.

    ``quota`` (a :class:`TokenBucket`) replaces the fixed window (``rate_limit`` per
    ``rate_window_ms``) with the real API's token bucket: ``X-RateLimit-Limit`` is its capacity,
    ``X-RateLimit-Remaining`` the tokens left after the call and ``X-RateLimit-Reset`` the ms
    until the next token.

    ``behaviour`` is what the phishing, SAFE score, watch list, performance and queue endpoints
    serve (:mod:`awareness_analysis.fakeapi.behaviour`); ``None`` derives it from ``dataset``.
    """

    def __init__(
        self,
        dataset: FakeDataset,
        *,
        credentials: FakeCredentials | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_page_size: int = 500,
        rate_limit: int = 800,
        rate_window_ms: int = 60_000,
        token_ttl_s: float = 1800,
        latency_s: float = 0.0,
        max_clock_skew_s: float = 900,
        clock_offset_s: float = 0.0,
        quota: TokenBucket | None = None,
        behaviour: BehaviourData | None = None,
    ) -> None:
        self._bind_host, self._family = _loopback_bind_address(host)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, not {port}.")
        for name, value, low in (
            ("max_page_size", max_page_size, 1),
            ("rate_limit", rate_limit, 0),
            ("rate_window_ms", rate_window_ms, 1),
            ("token_ttl_s", token_ttl_s, 0),
            ("latency_s", latency_s, 0),
            ("max_clock_skew_s", max_clock_skew_s, 0),
        ):
            if value < low:
                raise ValueError(f"{name} must be at least {low}, not {value}.")
        self.dataset = dataset
        self.behaviour = behaviour
        self.credentials = credentials if credentials is not None else FakeCredentials.demo()
        self.port = port
        self.max_page_size = max_page_size
        self.rate_limit = rate_limit
        self.rate_window_ms = rate_window_ms
        self.quota = quota
        self.token_ttl_s = token_ttl_s
        self.latency_s = latency_s
        self.max_clock_skew_s = max_clock_skew_s
        if not math.isfinite(clock_offset_s):
            raise ValueError(f"clock_offset_s must be a finite number, not {clock_offset_s}.")
        self.clock_offset_s = float(clock_offset_s)

        self._lock = threading.Lock()
        self._lifecycle_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._base_url: str | None = None
        self._requests: list[RecordedRequest] = []
        self._faults: list[_QueuedFault] = []
        self._tokens: dict[str, float] = {}  # bearer token -> monotonic expiry
        self._seen_req_ids: dict[str, float] = {}  # x-mc-req-id -> monotonic time first seen
        self._page_tokens: dict[str, tuple[str, int]] = {}  # token -> (query fingerprint, offset)
        self._cycle_next: dict[str, str] = {}  # token planted by token_cycle -> its forced next
        self._window_start: float | None = None
        self._window_count = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread. A stopped server cannot be started again."""
        with self._lifecycle_lock:
            if self._httpd is not None:
                raise RuntimeError("FakeMimecastServer is already running.")
            if self._stopped:
                raise RuntimeError("FakeMimecastServer was stopped; create a new one.")
            httpd = _HTTPServer((self._bind_host, self.port), self._family, self._serve)
            httpd.clock = self._timestamp
            port = httpd.server_address[1]
            host = f"[{self._bind_host}]" if self._family == socket.AF_INET6 else self._bind_host
            self._base_url = f"http://{host}:{port}"
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                # A short poll keeps stop() fast (shutdown waits for one poll); idle cost is tiny.
                kwargs={"poll_interval": 0.02},
                daemon=True,
                name=f"fake-mimecast-{port}",
            )
            self._httpd = httpd
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: shutdown, close open connections and the socket, join the threads."""
        with self._lifecycle_lock:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
            if httpd is None:
                return
            self._stopped = True
        self._stopping.set()  # cuts injected delays and latency short
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=10)
        httpd.join_workers(timeout=10)

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._base_url is None:
            raise RuntimeError("FakeMimecastServer has not been started.")
        return self._base_url

    def environment(self) -> dict[str, str]:
        """The ``MIMECAST_*`` environment variables an API 1.0 client needs to reach this server."""
        return {
            "MIMECAST_BASE_URL": self.base_url,
            "MIMECAST_ACCESS_KEY": self.credentials.access_key,
            "MIMECAST_SECRET_KEY": self.credentials.secret_key,
            "MIMECAST_APP_ID": self.credentials.app_id,
            "MIMECAST_APP_KEY": self.credentials.app_key,
        }

    # -- test controls ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request answered so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def expire_tokens(self) -> None:
        """Make every bearer token issued so far expired from now on."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = -math.inf

    def inject(self, kind: str, times: int = 1, path: str | None = None, **params: Any) -> None:
        """Queue a fault for the next ``times`` authenticated requests to ``path``.

        ``path=None`` matches any API path (never ``/oauth/token``, which must be named, and
        takes only :data:`TOKEN_FAULTS`). Faults are consumed first-in, first-out. See
        :data:`FAULT_PARAMS` for each kind's parameters and defaults.
        """
        if kind not in FAULT_PARAMS:
            raise ValueError(f"Unknown fault kind {kind!r}; known: {', '.join(FAULT_PARAMS)}.")
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}.")
        if path is not None and path not in API_PATHS and path != TOKEN_PATH:
            raise ValueError(f"Unknown path {path!r} for a fault.")
        if path == TOKEN_PATH and kind not in TOKEN_FAULTS:
            raise ValueError(f"Fault {kind!r} does not apply to {TOKEN_PATH}.")
        if kind == "token_cycle" and path != USER_DATA_PATH and path not in PAGED_BEHAVIOUR_PATHS:
            # get-campaigns ignores page tokens, so a cycle there cannot be served.
            raise ValueError(
                f"Fault 'token_cycle' applies only to path={USER_DATA_PATH!r} or a paged "
                "behaviour path."
            )
        unknown = set(params) - set(FAULT_PARAMS[kind])
        if unknown:
            raise ValueError(f"Fault {kind!r} takes no parameter(s) {sorted(unknown)}.")
        merged = {**FAULT_PARAMS[kind], **params}
        if "status" in merged and not 100 <= int(merged["status"]) <= 599:
            raise ValueError(f"status must be an HTTP status code, not {merged['status']}.")
        if merged.get("body", "text") not in ("json", "text"):
            raise ValueError("server_error body must be 'json' or 'text'.")
        if kind == "token_cycle" and int(merged["length"]) < 2:
            raise ValueError(f"token_cycle length must be at least 2, not {merged['length']}.")
        with self._lock:
            self._faults.append(_QueuedFault(kind, path, merged, times))

    def pending_faults(self) -> list[tuple[str, str | None, int]]:
        """(kind, path, remaining) of every fault not consumed yet."""
        with self._lock:
            return [(f.kind, f.path, f.remaining) for f in self._faults]

    # -- request handling ------------------------------------------------------------------

    def _serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Response:
        """Answer one request and record it (before anything is written, so a test that got
        its response always finds the record)."""
        exchange = _Exchange(method=method, path=urlsplit(target).path, headers=headers, raw=raw)
        if exchange.path == TOKEN_PATH:
            response = self._serve_token(exchange)
        else:
            response = self._serve_api(exchange)
        record = RecordedRequest(
            method=method,
            path=exchange.path,
            headers=dict(headers),
            body=exchange.body,
            auth_scheme=exchange.auth_scheme,
            response_status=response.status,
            fault=exchange.fault,
        )
        with self._lock:
            self._requests.append(record)
        return response

    def _timestamp(self) -> float:
        """Now on the fake's clock, in seconds since the epoch."""
        return time.time() + self.clock_offset_s

    def _now(self) -> datetime:
        """Now on the fake's clock (``clock_offset_s`` from this host's)."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _serve_api(self, ex: _Exchange) -> _Response:
        authorization = ex.headers.get("authorization", "")
        scheme_word = authorization.split(" ", 1)[0].lower()
        ex.auth_scheme = {"mc": "hmac", "bearer": "bearer"}.get(scheme_word)
        bearer = ex.auth_scheme == "bearer"
        body_error = self._parse_json_body(ex)
        self._sleep(self.latency_s)

        if ex.path not in API_PATHS:
            return self._failure(
                bearer, 404, "err_not_found", f"No such endpoint: {ex.path}", self._rate_peek()
            )
        if ex.method != "POST":
            headers = {**self._rate_peek(), "Allow": "POST"}
            return self._failure(
                bearer, 405, "err_method_not_allowed", f"{ex.method} not allowed; use POST", headers
            )
        auth_failure = self._authenticate(ex)
        if auth_failure is not None:
            return self._with_headers(auth_failure, self._rate_peek())
        rate_headers, over = self._rate_take()
        if over:
            return self._failure(
                bearer,
                429,
                "err_rate_limit_exceeded",
                self._rate_message(),
                rate_headers,
                retryable=True,
            )

        fault = self._take_fault(ex.path)
        params: dict[str, Any] = {}
        if fault is not None:
            ex.fault, params = fault.kind, fault.params
            early = self._early_fault(ex, params, bearer, rate_headers)
            if early is not None:
                return early

        try:
            if body_error is not None:
                raise body_error
            if ex.path == CAMPAIGNS_PATH:
                listing = self._get_campaigns(ex)
            elif ex.path == USER_DATA_PATH:
                listing = self._get_user_data(ex)
            else:
                # The behaviour endpoints apply their data faults themselves (rows at data[]).
                listing = serve_behaviour(self, ex, params)
        except _Reject as reject:
            response = self._failure(
                bearer, reject.status, reject.code, reject.message, rate_headers, key=reject.key
            )
        else:
            if ex.fault in _DATA_FAULTS and ex.path not in BEHAVIOUR_PATHS:
                self._bend(listing, ex.fault, params)
            response = _Response(200, _json_bytes(listing.payload), headers=rate_headers)
        return self._late_fault(response, ex.fault)

    def _early_fault(
        self, ex: _Exchange, params: Mapping[str, Any], bearer: bool, rate_headers: dict[str, str]
    ) -> _Response | None:
        """The response of a fault that replaces normal handling; None if it does not."""
        kind = ex.fault
        if kind == "delay":
            self._sleep(float(params["seconds"]))
            return None
        if kind == "rate_limit":
            headers = {
                **rate_headers,
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(params["reset_ms"])),
            }
            return self._failure(
                bearer, 429, "err_rate_limit_exceeded", "Rate limit exceeded", headers, True
            )
        if kind in ("server_error", "html_error"):
            return self._error_page(kind, params, rate_headers, oauth=False)
        if kind == "developer_key":
            message = "The application id in x-mc-app-id was rejected"
            return self._failure(bearer, 200, "err_developer_key", message, rate_headers)
        if kind == "token_expired":
            if ex.token is not None:
                with self._lock:
                    self._tokens[ex.token] = -math.inf
            payload = self._envelope(401, [{"code": "token_expired", "message": "Token expired"}])
            return _Response(401, _json_bytes(payload), headers=rate_headers)
        if kind == "binding_expired":
            message = "The access key binding has expired; create new keys"
            return self._failure(bearer, 418, "err_xdk_binding_expired", message, rate_headers)
        if kind in ("fail_retryable", "fail_permanent"):
            retryable = kind == "fail_retryable"
            code, message = str(params["code"]), str(params["message"])
            return self._failure(bearer, 200, code, message, rate_headers, retryable)
        if kind == "throttle":
            detail = params["detail"]
            body = _json_bytes({"detail": str(detail)}) if detail else b""
            headers = (
                {} if params["retry_after"] is None else {"Retry-After": str(params["retry_after"])}
            )
            return _Response(int(params["status"]), body, headers=headers)
        if kind == "auth_refused":
            code, message = str(params["code"]), str(params["message"])
            return self._failure(bearer, 401, code, message, rate_headers)
        if kind == "bare_status":
            return _Response(int(params["status"]), b"", "text/plain", rate_headers)
        return None

    def _late_fault(self, response: _Response, kind: str | None) -> _Response:
        """Faults that damage a finished response on its way out."""
        if kind == "malformed_json":
            response.body = response.body[: max(1, len(response.body) // 2)]
        elif kind == "connection_reset":
            response.cut_connection = True
        return response

    def _take_fault(self, path: str) -> _QueuedFault | None:
        with self._lock:
            for queued in self._faults:
                if queued.path == path or (queued.path is None and path != TOKEN_PATH):
                    queued.remaining -= 1
                    if queued.remaining == 0:
                        self._faults.remove(queued)
                    return _QueuedFault(queued.kind, queued.path, dict(queued.params), 1)
        return None

    def _error_page(
        self, kind: str, params: Mapping[str, Any], headers: dict[str, str], *, oauth: bool
    ) -> _Response:
        status = int(params["status"])
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        if kind == "html_error":
            page = (
                f"<html><head><title>{status} {phrase}</title></head><body>"
                f"<center><h1>{status} {phrase}</h1></center><hr>"
                f"<center>fake-mimecast</center></body></html>"
            )
            return _Response(status, page.encode(), "text/html; charset=utf-8", headers)
        if params.get("body", "text") == "text":
            return _Response(status, phrase.encode(), "text/plain; charset=utf-8", headers)
        if oauth:
            payload: ApiDict = {"error": "server_error", "error_description": phrase}
        else:
            payload = self._envelope(
                status,
                [
                    {
                        "errors": [
                            {
                                "code": "err_service_unavailable",
                                "message": phrase,
                                "retryable": True,
                            }
                        ]
                    }
                ],
            )
        return _Response(status, _json_bytes(payload), headers=headers)

    # -- envelope helpers ------------------------------------------------------------------

    @staticmethod
    def _envelope(status: int, fail: list[ApiDict]) -> ApiDict:
        return {"meta": {"status": status}, "data": [], "fail": fail}

    def _failure(
        self,
        bearer: bool,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        retryable: bool = False,
        *,
        key: Any = None,
    ) -> _Response:
        """An API failure in the API 2.0 shape for bearer requests, else the API 1.0 shape."""
        if bearer:
            fail: list[ApiDict] = [{"code": code, "message": message}]
        else:
            entry: ApiDict = {}
            if key is not None:
                entry["key"] = key
            entry["errors"] = [{"code": code, "message": message, "retryable": retryable}]
            fail = [entry]
        return _Response(status, _json_bytes(self._envelope(status, fail)), headers=headers or {})

    @staticmethod
    def _with_headers(response: _Response, headers: dict[str, str]) -> _Response:
        response.headers = {**headers, **response.headers}
        return response

    # -- rate limit ------------------------------------------------------------------------

    def _rate_headers(self, remaining: int, reset_ms: int) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset_ms),
        }

    def _rate_message(self) -> str:
        if self.quota is not None:
            return (
                f"Quota of {self.quota.capacity} calls exhausted; one call is added back every "
                f"{self.quota.refill_interval_s * 1000:g} ms"
            )
        return f"Rate limit of {self.rate_limit} requests per {self.rate_window_ms} ms exceeded"

    def _quota_headers(self, remaining: int, reset_ms: int) -> dict[str, str]:
        assert self.quota is not None
        return {
            "X-RateLimit-Limit": str(self.quota.capacity),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset_ms),
        }

    def _rate_peek(self) -> dict[str, str]:
        """Rate headers for a response that does not count (refused before authentication)."""
        if self.quota is not None:
            return self._quota_headers(*self.quota.peek())
        with self._lock:
            now = time.monotonic()
            window = self.rate_window_ms / 1000
            if self._window_start is None or now >= self._window_start + window:
                return self._rate_headers(self.rate_limit, self.rate_window_ms)
            reset_ms = max(0, math.ceil((self._window_start + window - now) * 1000))
            return self._rate_headers(max(0, self.rate_limit - self._window_count), reset_ms)

    def _rate_take(self) -> tuple[dict[str, str], bool]:
        """Count one API call in the fixed window (or take a token from the quota bucket);
        (headers, over the limit)."""
        if self.quota is not None:
            taken, remaining, reset_ms = self.quota.take()
            return self._quota_headers(remaining, reset_ms), not taken
        with self._lock:
            now = time.monotonic()
            window = self.rate_window_ms / 1000
            if self._window_start is None or now >= self._window_start + window:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            reset_ms = max(0, math.ceil((self._window_start + window - now) * 1000))
            remaining = max(0, self.rate_limit - self._window_count)
            over = self._window_count > self.rate_limit
        return self._rate_headers(remaining, reset_ms), over

    # -- authentication --------------------------------------------------------------------

    def _authenticate(self, ex: _Exchange) -> _Response | None:
        """None if the request may proceed, else the refusal."""
        authorization = ex.headers.get("authorization", "")
        if ex.auth_scheme == "bearer":
            return self._check_bearer(ex, authorization)
        if ex.auth_scheme == "hmac":
            return self._check_hmac(ex, authorization)
        if not authorization:
            return self._failure(
                False, 401, "err_xdk_missing_headers", "Missing header(s): authorization"
            )
        return self._failure(
            False,
            401,
            "err_xdk_invalid_authorization",
            "Authorization must be 'MC {accessKey}:{signature}' or 'Bearer {token}'",
        )

    def _check_bearer(self, ex: _Exchange, authorization: str) -> _Response | None:
        token = authorization.split(" ", 1)[1].strip() if " " in authorization else ""
        with self._lock:
            expiry = self._tokens.get(token) if token else None
        if expiry is None:
            return self._failure(True, 401, "token_invalid", "The bearer token is not valid")
        if time.monotonic() >= expiry:
            return self._failure(True, 401, "token_expired", "The bearer token has expired")
        ex.token = token
        return None

    def _check_hmac(self, ex: _Exchange, authorization: str) -> _Response | None:
        missing = [
            name for name in ("x-mc-date", "x-mc-req-id", "x-mc-app-id") if not ex.headers.get(name)
        ]
        if missing:
            message = f"Missing header(s): {', '.join(missing)}"
            return self._failure(False, 401, "err_xdk_missing_headers", message)
        date, req_id = ex.headers["x-mc-date"], ex.headers["x-mc-req-id"]
        creds = self.credentials
        access_key, sep, signature = authorization[3:].strip().rpartition(":")
        expected = _signature(creds.secret_bytes, date, req_id, ex.path, creds.app_key)
        # Evaluate both comparisons so the time taken does not reveal which one failed.
        key_ok = _same(access_key, creds.access_key)
        signature_ok = _same(signature, expected)
        if not (sep and key_ok and signature_ok):
            return self._failure(
                False,
                401,
                "err_xdk_invalid_signature",
                "The signature does not match (check access key, secret key and application key)",
            )
        sent = _parse_mc_date(date)
        now = self._now()
        server_time = now.strftime(MC_DATE_FORMAT)
        if sent is None:
            message = f"x-mc-date {date!r} is not a date like {server_time!r} (server time)"
            return self._failure(False, 401, "err_xdk_invalid_date", message)
        skew = (sent - now).total_seconds()
        if abs(skew) > self.max_clock_skew_s:
            message = (
                f"x-mc-date {date!r} is {abs(skew):.0f} s "
                f"{'ahead of' if skew > 0 else 'behind'} the server time {server_time}; "
                f"at most {self.max_clock_skew_s:.0f} s allowed"
            )
            return self._failure(False, 401, "err_xdk_invalid_date", message)
        if not self._first_use_of(req_id):
            message = f"x-mc-req-id {req_id!r} was already used; sign every request afresh"
            return self._failure(False, 401, "err_xdk_duplicate_request_id", message)
        if not _same(ex.headers["x-mc-app-id"], creds.app_id):
            message = "The application id in x-mc-app-id is not recognised"
            return self._failure(False, 200, "err_developer_key", message)
        return None

    def _first_use_of(self, req_id: str) -> bool:
        now = time.monotonic()
        # A replayed id older than twice the allowed skew already fails the date check.
        horizon = now - 2 * self.max_clock_skew_s - 60
        with self._lock:
            if req_id in self._seen_req_ids:
                return False
            if len(self._seen_req_ids) > 10_000:
                self._seen_req_ids = {k: t for k, t in self._seen_req_ids.items() if t > horizon}
            self._seen_req_ids[req_id] = now
        return True

    # -- OAuth token endpoint ---------------------------------------------------------------

    def _serve_token(self, ex: _Exchange) -> _Response:
        form = {
            key: values[-1]
            for key, values in parse_qs(
                ex.raw.decode("utf-8", "replace"), keep_blank_values=True
            ).items()
        }
        ex.body = form or None
        authorization = ex.headers.get("authorization", "")
        if ex.method != "POST":
            return self._oauth_error(405, "invalid_request", "Use POST", {"Allow": "POST"})
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id and authorization.lower().startswith("basic "):
            # RFC 6749 also lets a client send its credentials with HTTP Basic.
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        creds = self.credentials
        id_ok = _same(client_id, creds.client_id)
        secret_ok = _same(client_secret, creds.client_secret)
        if not (id_ok and secret_ok):
            return self._oauth_error(401, "invalid_client", "Client authentication failed")
        if form.get("grant_type") != "client_credentials":
            return self._oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        fault = self._take_fault(TOKEN_PATH)
        if fault is not None:
            ex.fault = fault.kind
            if fault.kind == "delay":
                self._sleep(float(fault.params["seconds"]))
            elif fault.kind in ("server_error", "html_error"):
                return self._error_page(fault.kind, fault.params, {}, oauth=True)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_s
        payload = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.token_ttl_s),
        }
        return self._late_fault(_Response(200, _json_bytes(payload)), ex.fault)

    @staticmethod
    def _oauth_error(
        status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> _Response:
        payload = {"error": error, "error_description": description}
        return _Response(status, _json_bytes(payload), headers=headers or {})

    # -- endpoints -------------------------------------------------------------------------

    def _parse_json_body(self, ex: _Exchange) -> _Reject | None:
        """Parse the JSON body into ``ex.body``; the refusal to raise later if it is unusable."""
        if not ex.raw.strip():
            ex.body = None
            return None
        try:
            ex.body = json.loads(ex.raw)
        except (ValueError, UnicodeDecodeError):
            ex.body = None
            return _Reject(400, "err_invalid_json", "The request body is not valid JSON")
        if not isinstance(ex.body, dict):
            return _Reject(400, "err_validation_request", "The request body must be a JSON object")
        return None

    @staticmethod
    def _request_parts(body: Any) -> tuple[list[Any], ApiDict]:
        """(data, pagination) of a request body, validated for shape."""
        body = body or {}
        data = body.get("data", [])
        if not isinstance(data, list):
            raise _Reject(400, "err_validation_request", "data must be a list")
        meta = body.get("meta") or {}
        if not isinstance(meta, dict):
            raise _Reject(400, "err_validation_request", "meta must be an object")
        pagination = meta.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise _Reject(400, "err_validation_request", "meta.pagination must be an object")
        return data, pagination

    def _get_campaigns(self, ex: _Exchange) -> _Listing:
        # Pagination meta is accepted and ignored: the real endpoint was never seen paging.
        self._request_parts(ex.body)
        campaigns = copy.deepcopy(list(self.dataset.campaigns))
        payload = {"meta": {"status": 200}, "data": [{"campaigns": campaigns}], "fail": []}
        return _Listing(payload, "campaigns", None, 0, None)

    def _get_user_data(self, ex: _Exchange) -> _Listing:
        dataset = self.dataset  # one dataset for the whole request, even if a test swaps it
        data, pagination = self._request_parts(ex.body)
        query = data[0] if data else {}
        if not isinstance(query, dict):
            raise _Reject(400, "err_validation_request", "data[0] must be an object")
        campaign_id = query.get("id")
        if not isinstance(campaign_id, str) or not campaign_id.strip():
            raise _Reject(
                400,
                "err_validation_blank_id",
                "data[0].id (the campaign id) is required",
                key=query,
            )
        if campaign_id not in dataset.users and campaign_id not in dataset.campaign_ids():
            raise _Reject(
                400, "err_campaign_not_found", f"No campaign with id {campaign_id!r}", key=query
            )
        page_size, sent_token = self._page_request(pagination)
        matching = self._matching_items(dataset, query)
        fingerprint = json.dumps(
            {k: query.get(k) for k in ("id", "filterBy", "searchBy", "attributeIds")},
            sort_keys=True,
        )
        offset = 0
        if sent_token is not None:
            with self._lock:
                bound = self._page_tokens.get(sent_token)
            if bound is None or bound[0] != fingerprint:
                why = "unknown" if bound is None else "issued for another campaign or query"
                raise _Reject(400, "err_invalid_page_token", f"The pageToken is {why}", key=query)
            offset = bound[1]
        items = copy.deepcopy(matching[offset : offset + page_size])
        meta_pagination: ApiDict = {"pageSize": len(items), "totalCount": len(matching)}
        if offset + page_size < len(matching):
            meta_pagination["next"] = self._issue_page_token(fingerprint, offset + page_size)
        with self._lock:
            cycle_next = self._cycle_next.get(sent_token) if sent_token is not None else None
        if cycle_next is not None:
            meta_pagination["next"] = cycle_next  # a token_cycle fault planted this token
        payload = {
            "meta": {"status": 200, "pagination": meta_pagination},
            "data": [{"items": items}],
            "fail": [],
        }
        return _Listing(payload, "items", fingerprint, offset, sent_token)

    def _page_request(self, pagination: ApiDict) -> tuple[int, str | None]:
        page_size = pagination.get("pageSize", DEFAULT_PAGE_SIZE)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise _Reject(
                400, "err_validation_page_size", "pageSize must be a whole number of at least 1"
            )
        token = pagination.get("pageToken")
        if token is not None and not isinstance(token, str):
            raise _Reject(400, "err_invalid_page_token", "pageToken must be a string")
        return min(page_size, self.max_page_size), token or None

    def _issue_page_token(self, fingerprint: str, offset: int) -> str:
        token = secrets.token_urlsafe(18)
        with self._lock:
            self._page_tokens[token] = (fingerprint, offset)
        return token

    @staticmethod
    def _matching_items(dataset: FakeDataset, query: ApiDict) -> list[ApiDict]:
        """The campaign's items that pass ``filterBy`` (a union) and ``searchBy``."""
        items = list(dataset.users.get(query["id"], []))
        statuses = _statuses(query.get("filterBy"), query)
        attribute_ids = _attribute_ids(query.get("attributeIds"), query)
        search = query.get("searchBy")
        if statuses:
            items = [item for item in items if _outcome(item) in statuses]
        if search is None:
            return items
        if not isinstance(search, dict):
            raise _Reject(
                400, "err_validation_search_field", "searchBy must be an object", key=query
            )
        field_name, value = search.get("fieldName"), search.get("value")
        if field_name not in SEARCH_FIELDS:
            raise _Reject(
                400,
                "err_validation_search_field",
                f"searchBy fieldName must be one of {', '.join(SEARCH_FIELDS)}",
                key=query,
            )
        if not isinstance(value, str):
            raise _Reject(
                400, "err_validation_search_value", "searchBy value must be a string", key=query
            )
        needle = value.casefold()
        if field_name != "customAttribute":
            return [i for i in items if needle in str(i.get(field_name) or "").casefold()]
        if not attribute_ids:
            raise _Reject(
                400,
                "err_validation_attribute_ids_required",
                "searchBy customAttribute needs attributeIds",
                key=query,
            )
        by_email = {email.casefold(): attrs for email, attrs in dataset.attributes.items()}

        def has_value(item: ApiDict) -> bool:
            attrs = by_email.get(str(item.get("email") or "").casefold(), {})
            return any(
                needle in str(attrs.get(a, "")).casefold() for a in attribute_ids if a in attrs
            )

        return [item for item in items if has_value(item)]

    # -- data faults -----------------------------------------------------------------------

    def _bend(self, listing: _Listing, kind: str, params: Mapping[str, Any]) -> None:
        """Damage a successful data response as the fault ``kind`` asks."""
        payload = listing.payload
        if kind == "meta_status":
            payload["meta"]["status"] = int(params["status"])
            return
        if kind == "token_cycle":
            self._plant_cycle(listing, int(params["length"]))
            return
        items: list[ApiDict] = payload["data"][0][listing.list_key]
        meta = payload["meta"]
        # get-campaigns has no pagination of its own: the page faults give it one.
        pagination = meta.setdefault(
            "pagination", {"pageSize": len(items), "totalCount": len(items)}
        )
        if kind == "truncated_page":
            drop = min(max(0, int(params["drop"])), len(items))
            del items[len(items) - drop :]
        elif kind == "repeat_token":
            pagination["next"] = listing.sent_token or self._token_for(listing, listing.offset)
        elif kind == "empty_page_with_next":
            items.clear()
            pagination["pageSize"] = 0
            pagination["next"] = self._token_for(listing, listing.offset)
        elif kind == "total_mismatch":
            pagination["totalCount"] += max(1, int(params["extra"]))
        elif kind in ("missing_fields", "wrong_types") and items:
            defaults = _DEFAULT_BROKEN_FIELD if kind == "missing_fields" else _DEFAULT_WRONG_TYPE
            default_field, default_value = defaults[listing.list_key]
            name = params.get("field") or default_field
            first = dict(items[0])
            if kind == "missing_fields":
                first.pop(name, None)
            else:
                value = params.get("value")
                first[name] = default_value if value is None else value
            items[0] = first
        if listing.list_key == "campaigns" and kind in ("missing_fields", "wrong_types"):
            del meta["pagination"]

    def _plant_cycle(self, listing: _Listing, length: int) -> None:
        """Make this page's ``next`` the first of ``length`` tokens that lead to one another in
        a ring, each serving the following page (or this page's, past the last record)."""
        assert listing.fingerprint is not None  # inject() allows token_cycle on user data only
        pagination = listing.payload["meta"]["pagination"]
        size = max(1, int(pagination["pageSize"]))
        total = int(pagination["totalCount"])
        offsets = [listing.offset + size * n for n in range(1, length + 1)]
        ring = [
            self._issue_page_token(listing.fingerprint, o if o < total else listing.offset)
            for o in offsets
        ]
        with self._lock:
            for n, token in enumerate(ring):
                self._cycle_next[token] = ring[(n + 1) % length]
        pagination["next"] = ring[0]

    def _token_for(self, listing: _Listing, offset: int) -> str:
        """A page token that serves ``offset`` again (get-user-data) or a fixed stand-in."""
        if listing.fingerprint is None:
            return _CAMPAIGNS_FAULT_TOKEN
        return self._issue_page_token(listing.fingerprint, offset)


def _statuses(filter_by: Any, query: ApiDict) -> set[str]:
    """The ``filterBy`` statuses asked for (empty: no filter)."""
    if filter_by is None:
        return set()
    if not isinstance(filter_by, list):
        raise _Reject(400, "err_validation_filter_field", "filterBy must be a list", key=query)
    statuses: set[str] = set()
    for entry in filter_by:
        if not isinstance(entry, dict) or entry.get("fieldName") != "status":
            raise _Reject(
                400, "err_validation_filter_field", "filterBy fieldName must be 'status'", key=query
            )
        value = entry.get("value")
        if value not in STATUSES:
            raise _Reject(
                400,
                "err_validation_filter_value",
                f"filterBy status must be one of {', '.join(STATUSES)}, not {value!r}",
                key=query,
            )
        statuses.add(value)
    return statuses


def _attribute_ids(value: Any, query: ApiDict) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Reject(
            400, "err_validation_attribute_ids", "attributeIds must be a list of strings", key=query
        )
    if len(value) > MAX_ATTRIBUTE_IDS:
        raise _Reject(
            400,
            "err_validation_too_many_attribute_ids",
            f"At most {MAX_ATTRIBUTE_IDS} attributeIds are allowed, not {len(value)}",
            key=query,
        )
    return value


__all__ = [
    "API_PATHS",
    "CAMPAIGNS_PATH",
    "FAULT_PARAMS",
    "TOKEN_FAULTS",
    "TOKEN_PATH",
    "USER_DATA_PATH",
    "FakeCredentials",
    "FakeMimecastServer",
    "RecordedRequest",
    "TokenBucket",
]
