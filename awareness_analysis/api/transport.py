"""HTTP transport for the Mimecast API: signing, envelope checks, retries and pagination.

One :class:`MimecastClient` wraps one ``requests.Session``. It knows nothing about campaigns:
the endpoint layer (:mod:`awareness_analysis.api.endpoints`) says what to ask for.

Retries are done here rather than with urllib3's ``Retry`` because every attempt must be
signed afresh (new date and request id) and because Mimecast reports some failures inside an
HTTP 200 body (``fail``), which urllib3 cannot see.

A client may be shared by several threads (the concurrent fetch does). They share one rate-limit
budget through a :class:`RateLimitGate`: when any response is HTTP 429, every thread holds its
next request until the reset time the API gave (``X-RateLimit-Reset`` or ``Retry-After``,
bounded by :attr:`RetryPolicy.rate_limit_max_wait_s`), or, when the API gave no hint, for an
exponential backoff with jitter.

They also share one :class:`QuotaTracker`: Mimecast meters calls per administrator as a token
bucket and reports it on every response (``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``). The
tracker paces requests from those headers so the bucket is not overrun (429s become rare), never
takes the last ``quota_reserve`` calls (the account's other integrations share the quota), and
stops the client with :class:`QuotaWaitExceeded` once waiting for quota would pass
``max_wait_s``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import requests
from requests.adapters import HTTPAdapter

from awareness_analysis import __version__
from awareness_analysis.api.auth import MimecastHmacAuth, OAuthClientAuth
from awareness_analysis.api.config import HmacCredentials, Settings
from awareness_analysis.errors import (
    MimecastAPIError,
    MimecastResponseError,
    PaginationError,
    TotalCountMismatch,
)

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: The API documents no maximum page size; 500 is the largest seen working (a vendor connector
#: uses it in production), so larger requests are refused before anything is sent.
MAX_PAGE_SIZE = 500

#: Calls of the account's quota a client leaves for the administrator's other integrations
#: (SIEM connectors and the like share the same bucket of, typically, 800).
DEFAULT_QUOTA_RESERVE = 50

#: Total seconds one client may spend waiting for quota (pacing and 429 pauses) by default.
DEFAULT_MAX_WAIT_S = 14_400.0

#: A quota wait longer than this is logged once, with the time it is expected to end.
LONG_WAIT_LOG_S = 10.0

#: Server clocks further than this from ours make signed requests fail; say so in errors.
CLOCK_SKEW_WARNING_S = 300.0

_HINTS = {
    "err_xdk_invalid_signature": "Check MIMECAST_ACCESS_KEY, MIMECAST_SECRET_KEY and "
    "MIMECAST_APP_KEY, and that MIMECAST_BASE_URL is your account's regional host",
    "err_developer_key": "Check MIMECAST_APP_ID (the application id registered in the "
    "Mimecast Administration Console)",
    "err_xdk_binding_expired": "The access key has expired: create new API 1.0 keys for the "
    "application and update MIMECAST_ACCESS_KEY and MIMECAST_SECRET_KEY",
    "token_expired": "The OAuth token expired and a fresh one was refused too; check "
    "MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET",
    "token_invalid": "Check MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET",
    "err_rate_limit_exceeded": "Mimecast's rate limit stayed exhausted; try again later, or "
    "fetch with fewer --workers or fewer campaigns at once",
}

#: The fix for an API 2.0 call refused with HTTP 401 even with a freshly issued token.
_OAUTH_REFUSED_HINT = (
    "A freshly issued OAuth token was refused too: check MIMECAST_CLIENT_ID and "
    "MIMECAST_CLIENT_SECRET, and that the administrator behind the API 2.0 application has the "
    "'Awareness Training | Dashboard | Read' permission"
)

#: API 2.0 throttles with a body like ``{"detail": "Over throttling limit (10000/hour)"}``.
_THROTTLE_WORDS = ("throttl", "rate limit")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up. Every wait is logged at WARNING level."""

    max_attempts: int = 6
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    #: Upper bound on one rate-limit wait, whatever ``X-RateLimit-Reset`` or ``Retry-After``
    #: says, and on the backoff after a throttling answer that gives no hint.
    rate_limit_max_wait_s: float = 120.0
    #: ``err_developer_key`` is intermittently returned for valid keys: one retry helps.
    developer_key_retries: int = 1
    #: First wait after a throttling answer with no hint; doubled (with jitter) each time.
    #: Longer than ``backoff_initial_s``: an exhausted hourly quota does not refill in 0.5 s.
    throttle_backoff_initial_s: float = 2.0

    def backoff(self, retry_number: int) -> float:
        base = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (retry_number - 1))
        # Jitter keeps parallel workers from retrying in lock-step.
        return base * (0.5 + random.random() / 2)

    def throttle_backoff(self, throttle_number: int) -> float:
        """The wait after the ``throttle_number``-th throttling answer that gave no hint."""
        exponent = min(max(0, throttle_number - 1), 30)  # 2**30 s is past any cap already
        base = min(self.rate_limit_max_wait_s, self.throttle_backoff_initial_s * 2**exponent)
        return base * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class PageCursor:
    """Where a paginated call resumes: the saved token, and what the earlier pages handed
    out (their tokens, their record count, the ``totalCount`` announced)."""

    token: str | None = None
    seen_tokens: tuple[str, ...] = ()
    received: int = 0
    total_count: int | None = None


class _Retry(Exception):
    """Internal: this attempt failed in a way worth another attempt."""

    def __init__(
        self,
        error: Exception,
        wait_s: float | None = None,
        *,
        throttled: bool = False,
        reauth: bool = False,
    ) -> None:
        self.error = error
        #: A rate-limit wait the API asked for (already applied to the shared gate).
        self.wait_s = wait_s
        #: Throttled without a hint: the caller picks an exponential backoff.
        self.throttled = throttled
        #: API 2.0 refused the bearer token (HTTP 401): fetch a new one and try once more.
        self.reauth = reauth


class RateLimitGate:
    """One rate-limit budget shared by every thread sending through one client.

    :meth:`pause` (called on an HTTP 429) moves the resume time forward to now plus the reset
    time, never backward; :meth:`wait` (called before every request) blocks until that time.
    Thread-safe: the resume time is guarded by a lock, and waiting happens outside it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._resume_at = -math.inf
        #: How many 429s have paused the gate so far.
        self.pauses = 0

    @property
    def resume_at(self) -> float:
        """Monotonic time before which no request is sent (``-inf`` when never paused)."""
        with self._lock:
            return self._resume_at

    def pause(self, seconds: float) -> float:
        """Hold every request for ``seconds`` from now (or longer if already held); returns
        the resume time."""
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + max(0.0, seconds))
            self.pauses += 1
            return self._resume_at

    def wait(self, sleep: Callable[[float], None]) -> float:
        """Block with ``sleep`` until no pause is in force; returns the seconds slept.

        After sleeping until the resume time it returns unless another thread moved that time
        on meanwhile (so an injected ``sleep`` that does not pass real time cannot loop).
        """
        slept = 0.0
        last: float | None = None
        while True:
            with self._lock:
                resume_at = self._resume_at
                remaining = resume_at - self._clock()
            if remaining <= 0 or resume_at == last:
                return slept
            if last is None:
                log.debug("Rate limit: holding this request %.2f s", remaining)
            sleep(remaining)
            slept += remaining
            last = resume_at


class QuotaWaitExceeded(MimecastAPIError):
    """Waiting for the account's API quota would pass the client's ``max_wait_s``."""


class QuotaTracker:
    """The account's call quota as one client sees it, shared by every thread of that client.

    Mimecast meters calls per administrator as a token bucket and reports it on every response:
    ``X-RateLimit-Limit`` (the bucket size), ``X-RateLimit-Remaining`` (calls left after this
    one) and ``X-RateLimit-Reset`` (ms until one call is added back). The tracker mirrors that
    bucket: its estimate is the latest Remaining less the calls sent after that one and still in
    flight, plus one call at each expected refill (anchored on the latest Reset). An answer only
    lowers the estimate (the server may count calls in another order than they were sent), and
    an answer that arrives after a later call's answer is ignored, so it errs low, never high.
    :meth:`acquire` lets a request go only while the estimate stays above ``reserve``,
    so a fetch bursts while the quota is plentiful, then goes at one call per refill interval,
    and never takes the last ``reserve`` calls. After an HTTP 429 (the :class:`RateLimitGate`
    holds every thread until the reset) only one call probes the quota until a successful answer
    says how much is left.

    Without these headers (an older API, a proxy that strips them) it never holds a request:
    the client behaves as before, waiting only after a 429. When ``X-RateLimit-Limit`` is not
    above ``reserve`` the reserve cannot be kept; pacing is then off (logged once) and the
    client relies on 429 handling.

    Every wait for quota (pacing here, 429 pauses in the gate) counts, as wall time, against
    ``max_wait_s``; a wait that would pass it raises :class:`QuotaWaitExceeded` at once.
    """

    def __init__(
        self,
        reserve: int = DEFAULT_QUOTA_RESERVE,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(reserve, bool) or not isinstance(reserve, int) or reserve < 0:
            raise ValueError(
                f"quota_reserve must be a whole number of at least 0 (got {reserve!r})."
            )
        if isinstance(max_wait_s, bool) or not (
            isinstance(max_wait_s, int | float) and max_wait_s >= 0 and not math.isnan(max_wait_s)
        ):
            raise ValueError(
                f"max_wait_s must be a number of seconds, at least 0 (got {max_wait_s!r})."
            )
        self.reserve = reserve
        self.max_wait_s = float(max_wait_s)
        self._clock = clock
        self._cond = threading.Condition()
        #: ``X-RateLimit-Limit`` of the latest response that carried the headers.
        self.limit: int | None = None
        #: The lowest ``X-RateLimit-Remaining`` of a successful response so far.
        self.lowest_remaining: int | None = None
        #: Responses that were HTTP 429 (with the quota headers).
        self.throttled = 0
        #: Times a request was held for quota by this tracker.
        self.paced = 0
        self._tokens = 0
        self._next_refill_at = math.inf
        self._interval_s = 0.0
        self._in_flight = 0
        self._tickets = 0  # requests counted so far; each gets the next number
        self._open: set[int] = set()  # tickets of the requests in flight
        self._applied = 0  # the latest ticket whose answer set the estimate
        #: The next answer's Remaining replaces the estimate (first answer, after a 429);
        #: otherwise the estimate only goes down on an answer (up only by projected refills).
        self._resync = True
        self._waiting = 0
        self._wait_started = 0.0
        self._waited_s = 0.0
        self._logged_until = -math.inf
        self._warned_small_limit = False

    @property
    def pacing(self) -> bool:
        """Whether requests are paced: the headers were seen and the limit is above the reserve."""
        with self._cond:
            return self._pacing()

    def _pacing(self) -> bool:
        return self.limit is not None and self.limit > self.reserve

    @property
    def waited_s(self) -> float:
        """Wall-clock seconds spent waiting for quota so far (any thread)."""
        with self._cond:
            return self._waited_now(self._clock())

    def _waited_now(self, now: float) -> float:
        return self._waited_s + (now - self._wait_started if self._waiting else 0.0)

    def _begin_wait(self, now: float) -> None:
        if self._waiting == 0:
            self._wait_started = now
        self._waiting += 1

    def _end_wait(self, now: float) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self._waited_s += now - self._wait_started

    def _advance(self, now: float) -> None:
        """Add the calls the bucket has refilled since the last answer (by our estimate)."""
        if self._interval_s <= 0 or now < self._next_refill_at or self.limit is None:
            return
        refills = int((now - self._next_refill_at) // self._interval_s) + 1
        self._tokens = min(self.limit, self._tokens + refills)
        self._next_refill_at += refills * self._interval_s

    def _check_and_log(self, expected_s: float, now: float, why: str) -> None:
        """Raise if a wait of ``expected_s`` would pass ``max_wait_s``; log a long wait once."""
        waited = self._waited_now(now)
        if waited + expected_s > self.max_wait_s:
            interval = (
                f" (it refills at about one call every {self._interval_s:.1f} s)"
                if self._interval_s > 0
                else ""
            )
            raise QuotaWaitExceeded(
                "err_quota_wait_exceeded",
                f"waited {waited:.1f} s for the account's API call quota so far, and {why} "
                f"needs about {expected_s:.1f} s more: past the {self.max_wait_s:g} s allowed "
                "(max_wait_s, fetch --max-wait)",
                hint="Other integrations of this administrator may be using the quota"
                f"{interval}. Run the fetch again later, allow a longer wait with --max-wait "
                "SECONDS, or lower --quota-reserve",
            )
        end = now + expected_s
        if expected_s > LONG_WAIT_LOG_S and end > self._logged_until:
            self._logged_until = end + LONG_WAIT_LOG_S
            resume = datetime.now(UTC) + timedelta(seconds=expected_s)
            log.warning(
                "Waiting about %.0f s for the Mimecast API quota (%s); expected to resume at "
                "%s UTC",
                expected_s,
                why,
                resume.strftime("%H:%M:%S"),
            )

    def seconds_for(self, calls: int) -> float | None:
        """How long ``calls`` more calls take at the quota's pace, by the current estimate:
        0 while the bucket holds them above the reserve; None without the quota headers."""
        with self._cond:
            if self.limit is None or self._interval_s <= 0:
                return None
            self._advance(self._clock())
            short = calls - max(0, self._tokens - self.reserve)
            return max(0.0, short * self._interval_s)

    def acquire(self) -> int:
        """Hold the calling thread until a call fits in the quota, then count it in flight.

        Returns the request's ticket, to hand to :meth:`observe` with its answer."""
        with self._cond:
            while True:
                now = self._clock()
                if not self._pacing():
                    break
                self._advance(now)
                if self._tokens > self.reserve:
                    self._tokens -= 1
                    break
                if self._interval_s <= 0:
                    # No refill time known yet (only 429s seen): wait for an answer in flight,
                    # or, with none, let this call go (the gate held it for any 429 pause).
                    if self._in_flight == 0:
                        break
                    self._begin_wait(now)
                    try:
                        self._cond.wait(0.05)
                    finally:
                        self._end_wait(self._clock())
                    continue
                needed = self.reserve + 1 - self._tokens
                expected = max(0.0, self._next_refill_at - now) + (needed - 1) * self._interval_s
                self._check_and_log(
                    expected,
                    now,
                    f"{max(0, self._tokens)} calls left of {self.limit}, keeping "
                    f"{self.reserve} for other integrations",
                )
                self.paced += 1
                self._begin_wait(now)
                try:
                    # Woken early when an answer brings fresh headers.
                    self._cond.wait(max(0.0005, min(self._next_refill_at - now, expected)))
                finally:
                    self._end_wait(self._clock())
            self._in_flight += 1
            self._tickets += 1
            self._open.add(self._tickets)
            return self._tickets

    def release(self, ticket: int | None = None, *, unused: bool = False) -> None:
        """A counted request ended without an answer; ``unused``: it was never sent."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if ticket is not None:
                self._open.discard(ticket)
            if unused and self._pacing():
                self._tokens += 1
            self._cond.notify_all()

    def observe(self, headers: Mapping[str, str], status: int, ticket: int | None = None) -> None:
        """Read the quota headers of the answer to a counted request (``ticket``: what
        :meth:`acquire` returned for it; answers that arrive after a later request's answer do
        not move the estimate back). Without a ticket the reading is taken as it is."""
        limit = _int_header(headers, "X-RateLimit-Limit")
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        reset_s = _reset_ms_s(headers.get("X-RateLimit-Reset"))
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if ticket is not None:
                self._open.discard(ticket)
            self._cond.notify_all()
            if limit is None or remaining is None or reset_s is None or limit < 1:
                return
            now = self._clock()
            self.limit = limit
            if status == 429:
                self.throttled += 1
            elif self.lowest_remaining is None or remaining < self.lowest_remaining:
                self.lowest_remaining = remaining
            stale = ticket is not None and ticket < self._applied
            if ticket is not None and not stale:
                self._applied = ticket
            if not self._pacing():
                if not self._warned_small_limit:
                    self._warned_small_limit = True
                    log.warning(
                        "The API quota (X-RateLimit-Limit %d) is not above the quota reserve "
                        "(%d calls): requests are not paced and the client waits only after an "
                        "HTTP 429. Lower --quota-reserve to pace them.",
                        limit,
                        self.reserve,
                    )
                return
            reset_s = min(max(reset_s, 0.001), 86_400.0)
            if stale:
                # Counted before requests already answered: its Remaining may not include them.
                if status != 429:
                    self._interval_s = max(self._interval_s, reset_s)
                return
            if status == 429:
                # The call was refused and the gate holds every thread until the reset; then
                # one call probes the quota, and its answer says how much is left. Refills
                # projected before the refusal were spent (the bucket was empty): the next
                # one to count is the one after the reset's.
                self._tokens = self.reserve + 1
                if self._interval_s > 0:
                    self._next_refill_at = now + reset_s + self._interval_s
                self._resync = True
            else:
                self._interval_s = max(self._interval_s, reset_s)
                self._advance(now)
                anchor = now + reset_s
                if (
                    not self._resync
                    and math.isfinite(self._next_refill_at)
                    and (anchor > self._next_refill_at)
                ):
                    # The server's next refill is later than we expected: it refilled
                    # meanwhile, before our projection credited it. Credit those refills now,
                    # whole intervals only: the answer's own delay on the way (a busy host, a
                    # slow network) also pushes the anchor later, and rounding it up would
                    # credit calls the server never gave back (429s).
                    missed = int((anchor - self._next_refill_at) / self._interval_s)
                    self._tokens = min(limit, self._tokens + missed)
                self._next_refill_at = anchor
                # Calls sent after this one and still in flight are not counted in Remaining.
                later = sum(1 for t in self._open if ticket is None or t > ticket)
                fresh = remaining - later
                if self._resync or ticket is None:
                    self._tokens, self._resync = fresh, False
                else:
                    # The server may have counted calls in another order than they were sent
                    # (so Remaining may miss one sent earlier): never trust a rise.
                    self._tokens = min(self._tokens, fresh)

    def before_pause(self, pause_s: float) -> None:
        """Check (and maybe log) a 429 pause of ``pause_s`` the gate is about to impose."""
        with self._cond:
            self._check_and_log(pause_s, self._clock(), "an HTTP 429 asked to wait")

    def wait_in(self, wait: Callable[[], float]) -> float:
        """Run ``wait`` (a gate wait), counting its time as quota waiting."""
        with self._cond:
            self._begin_wait(self._clock())
        try:
            return wait()
        finally:
            with self._cond:
                self._end_wait(self._clock())


@dataclass(frozen=True)
class Page:
    """One page of a paginated call: the envelope's ``data[0]`` and its pagination meta."""

    data: JsonDict
    pagination: JsonDict
    items: list[Any]


class MimecastClient:
    """Sends signed POSTs to one Mimecast account and returns checked response envelopes."""

    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pool_size: int = 10,
        quota_reserve: int = DEFAULT_QUOTA_RESERVE,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.session = session or requests.Session()
        self._pool_size = 0
        self._adapter: HTTPAdapter | None = None
        self.ensure_pool_size(pool_size)
        self.session.headers.update(
            {
                "Accept": "application/json",
                "User-Agent": f"awareness-analysis/{__version__}",
            }
        )
        self.auth: MimecastHmacAuth | OAuthClientAuth
        if isinstance(settings.credentials, HmacCredentials):
            self.auth = MimecastHmacAuth(settings.credentials)
        else:
            self.auth = OAuthClientAuth(
                settings.credentials,
                f"{settings.base_url}/oauth/token",
                session=self.session,
                timeout=settings.timeout,
            )
        #: Shared by every thread using this client: a 429 holds them all.
        self.rate_limit_gate = RateLimitGate()
        #: Shared by every thread too: paces requests by the quota headers (see the class).
        self.quota = QuotaTracker(quota_reserve, max_wait_s)
        self._counter_lock = threading.Lock()
        self._requests_sent = 0

    @property
    def requests_sent(self) -> int:
        """Requests sent so far (every attempt counts), over all threads."""
        with self._counter_lock:
            return self._requests_sent

    def ensure_pool_size(self, size: int) -> None:
        """Keep at least ``size`` connections per host, so ``size`` threads never wait for one.

        Call before the threads start (it remounts the session's adapters).
        """
        if size <= self._pool_size:
            return
        adapter = HTTPAdapter(pool_connections=size, pool_maxsize=size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        if self._adapter is not None:
            self._adapter.close()
        self._adapter, self._pool_size = adapter, size

    def __repr__(self) -> str:
        return (
            f"MimecastClient(base_url={self.settings.base_url!r}, "
            f"auth=API {self.settings.credentials.scheme})"
        )

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> MimecastClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one call -------------------------------------------------------------------------

    def post(self, path: str, body: Mapping[str, Any]) -> JsonDict:
        """POST ``body`` to ``path`` with retries; return the envelope once ``fail`` is empty.

        Raises :class:`MimecastAPIError` for API failures and :class:`MimecastResponseError`
        for answers that are not a Mimecast envelope, after retrying what is worth retrying.
        """
        url = f"{self.settings.base_url}{path}"
        retries_done = 0
        throttles_without_hint = 0
        developer_key_retries = 0
        token_refreshed = False
        while True:
            try:
                return self._attempt(url, path, body)
            except _Retry as retry:
                error = retry.error
                if retry.reauth and isinstance(self.auth, OAuthClientAuth):
                    # Any 401 may be a token the gateway revoked or forgot before its announced
                    # expiry: one new token is cheap. A second 401 is the credentials' fault.
                    if token_refreshed:
                        raise _oauth_refused(error, path) from None
                    token_refreshed = True
                    log.warning(
                        "API 2.0 refused the OAuth token (HTTP 401%s); fetching a new one and "
                        "retrying once",
                        f", {error.code}" if isinstance(error, MimecastAPIError) else "",
                    )
                    self.auth.invalidate()
                    continue
                if isinstance(error, MimecastAPIError) and error.code == "err_developer_key":
                    if developer_key_retries >= self.retry.developer_key_retries:
                        raise error from None
                    developer_key_retries += 1
                retries_done += 1
                if retries_done >= self.retry.max_attempts:
                    raise error from None
                rate_limited = retry.wait_s is not None or retry.throttled
                if retry.wait_s is not None:
                    wait = retry.wait_s
                elif retry.throttled:
                    throttles_without_hint += 1
                    wait = self.retry.throttle_backoff(throttles_without_hint)
                    # Hold every thread of this client, as a hinted 429 does.
                    self.rate_limit_gate.pause(wait)
                else:
                    wait = self.retry.backoff(retries_done)
                log.warning(
                    "%s; waiting %.2f s before retry %d of %d%s",
                    _describe(error),
                    wait,
                    retries_done,
                    self.retry.max_attempts - 1,
                    " (every request of this client waits too)" if rate_limited else "",
                )
                if not rate_limited:
                    self._sleep(wait)
                # A rate-limit wait happens in the gate, at the start of the next attempt.

    def _wait_for_quota(self) -> int:
        """Wait out any 429 pause, then for room in the quota; the request is then counted."""
        gate = self.rate_limit_gate
        while True:
            resume_at = gate.resume_at
            pause = resume_at - time.monotonic()
            if pause > 0:
                self.quota.before_pause(pause)
                self.quota.wait_in(lambda: gate.wait(self._sleep))
            ticket = self.quota.acquire()
            if gate.resume_at == resume_at or gate.resume_at <= time.monotonic():
                return ticket
            # A 429 arrived while this thread waited for quota: honour its pause first.
            self.quota.release(ticket, unused=True)

    def _attempt(self, url: str, path: str, body: Mapping[str, Any]) -> JsonDict:
        ticket = self._wait_for_quota()
        with self._counter_lock:
            self._requests_sent += 1
        try:
            response = self.session.post(
                url, json=body, auth=self.auth, timeout=self.settings.timeout
            )
            raw = response.content  # read fully here so a reset mid-body is retried
        except BaseException as exc:
            self.quota.release(ticket)
            if isinstance(
                exc,
                (
                    requests.ConnectionError,
                    requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                ),
            ):
                # ChunkedEncodingError: the connection broke mid-body (reset, truncated).
                raise _Retry(
                    MimecastResponseError(
                        f"No complete answer from {self.settings.host}{path}: "
                        f"{type(exc).__name__}. Check the network and MIMECAST_BASE_URL."
                    )
                ) from None
            raise
        status = response.status_code
        self.quota.observe(response.headers, status, ticket)

        detail = _throttle_detail(response, raw)
        if status == 429 or detail is not None:
            self._throttled(response, status, path, detail)

        oauth = isinstance(self.auth, OAuthClientAuth)
        if status == 401 and oauth:
            raise _Retry(_unauthorised(response, raw, path), reauth=True)
        if status == 418:
            _raise_binding_expired(response, raw, path)

        envelope = self._decode(response, raw, path)
        failure = _failure_of(envelope, status, path)
        if failure is not None:
            if failure.http_status in (401, 403, 418):
                skew = _clock_skew_s(response)
                if skew is not None and abs(skew) > CLOCK_SKEW_WARNING_S:
                    failure.hint = (
                        (failure.hint + ". " if failure.hint else "")
                        + f"The server's clock (Date header) differs from this machine's by "
                        f"{skew:+.0f} s; signed requests fail when clocks disagree, so fix "
                        "this machine's clock"
                    )
            if oauth and failure.code in ("token_expired", "token_invalid"):
                raise _Retry(failure, reauth=True)  # a token refusal inside another status
            if _is_transient(failure):
                raise _Retry(failure)
            raise failure
        if status >= 500:
            raise _Retry(MimecastResponseError(f"HTTP {status} from {path}", http_status=status))
        if status >= 400:
            raise MimecastAPIError(
                f"http_{status}",
                "request refused",
                http_status=status,
                path=path,
                hint=_status_hint(status, self.settings),
            )
        meta_status = _meta_status(envelope)
        if meta_status is not None:
            # Mimecast mirrors the outcome in meta.status; a non-200 there with an empty
            # ``fail`` list is a failure that came without details, not data to trust.
            raise MimecastResponseError(
                f"{self.settings.host}{path} answered HTTP {status} but its meta.status is "
                f"{meta_status} and it sent no failure details; not treating it as data. "
                "Retry later; if it persists, report it to Mimecast support.",
                http_status=status,
            )
        return envelope

    def _throttled(
        self, response: requests.Response, status: int, path: str, detail: str | None
    ) -> NoReturn:
        """Raise the retry for a throttling answer (HTTP 429 or API 2.0's throttling body)."""
        hint_s = self._rate_limit_hint(response)
        error = MimecastAPIError(
            "err_rate_limit_exceeded",
            f"rate limit reached (HTTP {status})" + (f": {detail}" if detail else ""),
            retryable=True,
            http_status=status,
            path=path,
            hint=_HINTS["err_rate_limit_exceeded"],
        )
        if hint_s is None:
            raise _Retry(error, throttled=True)
        # Hold every thread now, before this one even logs, so no one spends the budget.
        self.rate_limit_gate.pause(hint_s)
        raise _Retry(error, wait_s=hint_s)

    def _decode(self, response: requests.Response, raw: bytes, path: str) -> JsonDict:
        status = response.status_code
        content_type = response.headers.get("Content-Type", "unknown content type")
        try:
            envelope = response.json() if raw else None
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            envelope = None
        if isinstance(envelope, dict):
            return envelope
        looks_like_json = "json" in content_type
        error = MimecastResponseError(
            f"HTTP {status} from {self.settings.host}{path} is not a Mimecast JSON envelope "
            f"({content_type}, {len(raw)} bytes"
            + (", cut short or malformed" if looks_like_json else "")
            + "). "
            + (
                "The API or a proxy in front of it sent an error page."
                if "html" in content_type
                else "The answer could not be parsed."
            ),
            http_status=status,
        )
        # A cut JSON body or a gateway error page is usually transient; a 2xx HTML page is a
        # proxy or login page that retrying will not change.
        if status >= 500 or looks_like_json:
            raise _Retry(error)
        raise error

    def _rate_limit_hint(self, response: requests.Response) -> float | None:
        """Seconds the API asked us to wait (the longer of ``X-RateLimit-Reset`` and
        ``Retry-After``), capped; ``None`` when it gave no usable hint."""
        hints = [h for h in (_reset_header_s(response), _retry_after_s(response)) if h is not None]
        if not hints:
            return None
        return min(max(hints), self.retry.rate_limit_max_wait_s)

    # -- pagination -------------------------------------------------------------------------

    def paginate(
        self,
        path: str,
        data: Mapping[str, Any] | None,
        items_of: Callable[[JsonDict], list[Any]] | None,
        *,
        page_size: int | None = 500,
        start: PageCursor | None = None,
    ) -> Iterator[Page]:
        """Yield each page of a paginated call until the response carries no ``next`` token.

        Records sit in one of two places: ``items_of`` extracts them from ``data[0]`` (the
        campaign endpoints: ``data[0].items``); ``items_of=None`` takes the envelope's ``data``
        list itself as the records (the company and queue endpoints), each an object, and the
        page's ``data`` is then ``{}``. A repeated token (the one just asked with, or any earlier
        one: tokens that cycle A -> B -> A), or an empty page that still carries ``next``,
        raises :class:`PaginationError` instead of looping; a page's ``next`` is checked before
        the page is yielded, so a caller that saves pages never saves a token that would loop.
        ``start`` resumes at a saved token with what the earlier pages handed out. Records that
        add up to another number than ``totalCount`` raise :class:`TotalCountMismatch` after the
        last page. ``data=None`` sends ``"data": []`` and ``page_size=None`` leaves the page size
        to the API, as the recorded get-campaigns traffic does. A bad ``page_size`` raises
        ValueError at once, before any request.
        """
        if page_size is not None and (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise ValueError(
                f"page_size must be between 1 and {MAX_PAGE_SIZE}, the largest page size known "
                f"to work with Mimecast (got {page_size!r})."
            )
        return self._pages(path, data, items_of, page_size, start or PageCursor())

    def _pages(
        self,
        path: str,
        data: Mapping[str, Any] | None,
        items_of: Callable[[JsonDict], list[Any]] | None,
        page_size: int | None,
        start: PageCursor,
    ) -> Iterator[Page]:
        token = start.token
        # Every token handed out so far -> the page number it was handed out on: remembering
        # them all (not just the last) catches cycles of any length, not only A -> A.
        seen_tokens: dict[str, int] = {t: n + 1 for n, t in enumerate(start.seen_tokens)}
        page_number = len(seen_tokens)
        received = start.received
        expected_total = start.total_count
        while True:
            pagination: JsonDict = {} if page_size is None else {"pageSize": page_size}
            if token is not None:
                pagination["pageToken"] = token
            body: JsonDict = {"data": [] if data is None else [dict(data)]}
            if pagination:
                body = {"meta": {"pagination": pagination}, **body}
            envelope = self.post(path, body)
            if items_of is None:
                first: JsonDict = {}
                items: list[Any] = data_rows(envelope, path)
            else:
                first = _first_data(envelope, path)
                items = items_of(first)
            meta_pagination = _pagination_of(envelope)
            if expected_total is None and isinstance(meta_pagination.get("totalCount"), int):
                expected_total = meta_pagination["totalCount"]
            received += len(items)
            page_number += 1
            next_token = meta_pagination.get("next")
            if next_token:
                self._check_next_token(path, next_token, token, seen_tokens, items, received)
            yield Page(data=first, pagination=meta_pagination, items=items)
            if not next_token:
                break
            seen_tokens[next_token] = page_number
            token = next_token
        if expected_total is not None and received != expected_total:
            raise TotalCountMismatch(
                f"{path} announced {expected_total} records (totalCount) but sent {received}; "
                "the data changed during the fetch or pages were lost. Fetch again."
            )

    @staticmethod
    def _check_next_token(
        path: str,
        next_token: Any,
        token: str | None,
        seen_tokens: Mapping[str, int],
        items: list[Any],
        received: int,
    ) -> None:
        """Refuse a ``next`` token that would loop: not a string, repeated, cycling, or
        carried by an empty page."""
        page_number = len(seen_tokens) + 1
        if not isinstance(next_token, str):
            raise PaginationError(f"{path} returned a pagination token that is not a string.")
        if next_token == token:
            raise PaginationError(
                f"{path} returned the same page token twice after {received} records; "
                "stopping instead of looping forever. Retry later; if it persists, report "
                "it to Mimecast support."
            )
        if next_token in seen_tokens:
            raise PaginationError(
                f"{path} handed out the token for page {seen_tokens[next_token] + 1} "
                f"again on page {page_number} after {received} records: the page tokens "
                "cycle. Stopping instead of looping forever. Retry later; if it persists, "
                "report it to Mimecast support."
            )
        if not items:
            raise PaginationError(
                f"{path} returned an empty page that still has a next token after "
                f"{received} records; stopping instead of looping forever."
            )


def data_rows(envelope: JsonDict, path: str) -> list[JsonDict]:
    """The envelope's ``data`` list as records (endpoints without a ``data[0]`` wrapper)."""
    rows = envelope.get("data")
    if not isinstance(rows, list) or any(not isinstance(r, dict) for r in rows):
        raise MimecastResponseError(f"{path} answered with data that is not a list of objects.")
    return rows


def _first_data(envelope: JsonDict, path: str) -> JsonDict:
    data = envelope.get("data")
    if not isinstance(data, list):
        raise MimecastResponseError(f"{path} answered without a data list.")
    if not data:
        return {}
    if not isinstance(data[0], dict):
        raise MimecastResponseError(f"{path} answered with data[0] that is not an object.")
    return data[0]


def _pagination_of(envelope: JsonDict) -> JsonDict:
    meta = envelope.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    return pagination if isinstance(pagination, dict) else {}


def _json_object(raw: bytes) -> JsonDict | None:
    """``raw`` parsed as a JSON object, or ``None`` if it is not one."""
    try:
        value = json.loads(raw) if raw else None
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None
    return value if isinstance(value, dict) else None


def _throttle_detail(response: requests.Response, raw: bytes) -> str | None:
    """API 2.0's throttling message (``{"detail": "Over throttling limit (10000/hour)"}``),
    whatever the HTTP status; ``None`` for any other answer."""
    # Cheap pre-checks: a throttling body is tiny, and data pages must not be parsed twice.
    if len(raw) > 4096 or b"detail" not in raw:
        return None
    body = _json_object(raw)
    detail = body.get("detail") if body is not None else None
    if not isinstance(detail, str) or not any(w in detail.lower() for w in _THROTTLE_WORDS):
        return None
    return detail[:200]


def _reset_header_s(response: requests.Response) -> float | None:
    """``X-RateLimit-Reset`` (milliseconds) in seconds; ``None`` if absent or unusable."""
    reset = response.headers.get("X-RateLimit-Reset")
    try:
        seconds = float(reset) / 1000.0 if reset is not None else None
    except ValueError:
        return None
    if seconds is None or math.isnan(seconds):
        return None
    return max(0.0, seconds)  # infinity stays, to be capped by the policy


def _retry_after_s(response: requests.Response) -> float | None:
    """``Retry-After`` (seconds, or an HTTP date) in seconds from now; ``None`` if unusable."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # Measure from the server's own Date header when it sent one, so a skewed local clock
    # does not stretch or shrink the wait.
    now = datetime.now(UTC)
    skew = _clock_skew_s(response)
    if skew is not None:
        now = now + timedelta(seconds=skew)
    try:
        return max(0.0, (when - now).total_seconds())
    except OverflowError:
        return None


def _unauthorised(response: requests.Response, raw: bytes, path: str) -> MimecastAPIError:
    """The error for an API 2.0 HTTP 401, whatever its body (envelope, other JSON, nothing)."""
    envelope = _json_object(raw)
    failure = _failure_of(envelope, 401, path) if envelope is not None else None
    if failure is not None:
        return failure
    return MimecastAPIError("http_401", "request refused", http_status=401, path=path)


def _oauth_refused(error: Exception, path: str) -> MimecastAPIError:
    """The clear error for a second API 2.0 HTTP 401 in a row (with a fresh token)."""
    if isinstance(error, MimecastAPIError):
        code, message = error.code, error.message
    else:
        code, message = "http_401", "request refused"
    return MimecastAPIError(code, message, http_status=401, path=path, hint=_OAUTH_REFUSED_HINT)


def _raise_binding_expired(response: requests.Response, raw: bytes, path: str) -> NoReturn:
    """Raise for HTTP 418 (API 1.0 key binding expired), with the fix even without a body."""
    envelope = _json_object(raw)
    failure = _failure_of(envelope, 418, path) if envelope is not None else None
    if failure is None:
        failure = MimecastAPIError(
            "http_418",
            "the API key binding has expired (HTTP 418 without failure details)",
            http_status=418,
            path=path,
        )
    hint = _HINTS["err_xdk_binding_expired"]
    if failure.hint != hint:
        failure.hint = hint + (f". {failure.hint}" if failure.hint else "")
    skew = _clock_skew_s(response)
    if skew is not None and abs(skew) > CLOCK_SKEW_WARNING_S:
        failure.hint += (
            f". The server's clock (Date header) differs from this machine's by {skew:+.0f} s; "
            "signed requests fail when clocks disagree, so fix this machine's clock"
        )
    raise failure


def _meta_status(envelope: JsonDict) -> str | None:
    """``meta.status`` as text when present and not 200, else ``None``."""
    meta = envelope.get("meta")
    status = meta.get("status") if isinstance(meta, dict) else None
    if status is None or status == 200 or status == "200":
        return None
    if not isinstance(status, int | float | str):
        # Never repr() an arbitrary (possibly absurdly nested) JSON value into a message.
        return f"a JSON {type(status).__name__}"
    return repr(status)[:40]


def _failure_of(envelope: JsonDict, status: int, path: str) -> MimecastAPIError | None:
    """Turn an API 1.0 or API 2.0 ``fail`` list into one :class:`MimecastAPIError`."""
    fail = envelope.get("fail")
    if not fail:
        return None
    entry = fail[0] if isinstance(fail, list) else fail
    if not isinstance(entry, dict):
        return MimecastAPIError("unknown_failure", str(entry)[:200], http_status=status, path=path)
    errors = entry.get("errors")
    detail = (
        errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else entry
    )
    code = str(detail.get("code") or "unknown_failure")
    message = str(detail.get("message") or "no message")
    retryable = detail.get("retryable") is True
    return MimecastAPIError(
        code,
        message,
        retryable=retryable,
        http_status=status,
        path=path,
        hint=_HINTS.get(code),
    )


def _is_transient(failure: MimecastAPIError) -> bool:
    if failure.code in ("err_developer_key", "token_expired"):
        return True
    if failure.http_status is not None and failure.http_status >= 500:
        return True
    return failure.retryable


def _status_hint(status: int, settings: Settings) -> str | None:
    if status == 404 and not isinstance(settings.credentials, HmacCredentials):
        return (
            "The API 2.0 gateway may not serve the Awareness Training campaign endpoints; "
            "use API 1.0 keys (MIMECAST_ACCESS_KEY, MIMECAST_SECRET_KEY, MIMECAST_APP_ID, "
            "MIMECAST_APP_KEY) with your regional MIMECAST_BASE_URL"
        )
    if status == 404:
        return "Check MIMECAST_BASE_URL: it should be the API base of your account's region"
    if status in (401, 403):
        return "Check the credentials and the administrator's Awareness Training permission"
    return None


def _clock_skew_s(response: requests.Response) -> float | None:
    """Server minus local clock in seconds, from the response ``Date`` header."""
    header = response.headers.get("Date")
    if not header:
        return None
    try:
        server_time = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if server_time.tzinfo is None:
        server_time = server_time.replace(tzinfo=UTC)
    return (server_time - datetime.now(UTC)).total_seconds()


def _describe(error: Exception) -> str:
    return str(error).rstrip(".")


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    """A whole-number header (``X-RateLimit-Limit``/``-Remaining``); ``None`` if unusable."""
    value = headers.get(name)
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    if number is None or not math.isfinite(number):
        return None
    return int(number)


def _reset_ms_s(value: str | None) -> float | None:
    """An ``X-RateLimit-Reset`` value (milliseconds) in seconds; ``None`` if unusable."""
    try:
        seconds = float(value) / 1000.0 if value is not None else None
    except ValueError:
        return None
    if seconds is None or not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
