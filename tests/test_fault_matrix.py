"""The fault matrix: every fault the client must survive or refuse, end to end over the fake API.

Each case runs :func:`fetch_snapshot` (the real client, API 1.0 keys unless the case says OAuth)
into a store that already holds one snapshot from a clean fetch, with one fault injected, and
checks one of two outcomes:

``complete``
    the fetch survives and the new snapshot's frames equal a clean fetch's frames;
``error``
    the package's own exception type (``ValueError`` for a bad argument) with a message naming
    the problem, the store's snapshots unchanged and no half-written folder left behind.

``docs/reliability.md`` lists the same cases; :func:`test_reliability_doc_matches_the_matrix`
keeps the two in step.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from awareness_analysis.api.config import Settings
from awareness_analysis.api.endpoints import GET_USER_DATA_PATH
from awareness_analysis.api.fetch import fetch_snapshot
from awareness_analysis.api.transport import MimecastClient, RetryPolicy
from awareness_analysis.data.store import (
    INCOMPLETE_PREFIX,
    STAGING_TEMP_PREFIX,
    TABLES,
    SnapshotStore,
)
from awareness_analysis.errors import MimecastAPIError, MimecastResponseError, PaginationError
from awareness_analysis.fakeapi.server import CAMPAIGNS_PATH, FakeCredentials, FakeMimecastServer
from tests.conftest import SleepRecorder, hmac_settings, oauth_settings, small_dataset

DOC = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
TEST_PREFIX = "tests/test_fault_matrix.py::test_fault"

USERS = GET_USER_DATA_PATH


@dataclass(frozen=True)
class Fault:
    """One row of the matrix."""

    id: str
    #: ``(kind, params)`` passed to :meth:`FakeMimecastServer.inject` (params may hold
    #: ``times`` and ``path``); ``None`` when the fault comes from elsewhere.
    inject: tuple[str, dict[str, Any]] | None
    #: "complete", "error", or "gap" (a known defect: the test fails today and is marked
    #: xfail(strict=True) with ``gap`` as the reason, so fixing the defect flags the row).
    outcome: str
    error: type[BaseException] | None = None
    match: str | None = None
    server: dict[str, Any] = field(default_factory=dict)
    oauth: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    hmac: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy | None = None
    campaign_ids: tuple[str, ...] = ()
    #: Raise KeyboardInterrupt on this API call (1 = get-campaigns, 2 = first user-data page).
    interrupt_on_call: int | None = None
    #: The sleeps the client asked for must include one this long (rate-limit resets).
    expect_wait_s: float | None = None
    #: Why the outcome is not yet the clear error it should be (outcome "gap").
    gap: str | None = None


WRONG_SECRET = base64.b64encode(b"not the secret key of this account").decode()

CASES: list[Fault] = [
    Fault(
        "rate-limit-429",
        ("rate_limit", {"path": USERS, "reset_ms": 2500}),
        "complete",
        expect_wait_s=2.5,
    ),
    Fault(
        "rate-limit-429-exhausted",
        ("rate_limit", {"times": 100, "reset_ms": 1000}),
        "error",
        MimecastAPIError,
        r"err_rate_limit_exceeded.*HTTP 429.*try again later",
    ),
    Fault(
        "retry-after-429",
        ("throttle", {"path": USERS, "retry_after": 3}),
        "complete",
        expect_wait_s=3.0,
    ),
    Fault("throttle-body-no-hint", ("throttle", {"path": USERS, "times": 2}), "complete"),
    Fault("server-error-500", ("server_error", {"path": USERS, "status": 500}), "complete"),
    Fault("server-error-502", ("server_error", {"path": USERS, "status": 502}), "complete"),
    Fault("server-error-503", ("server_error", {"path": USERS, "status": 503}), "complete"),
    Fault("server-error-504", ("server_error", {"path": USERS, "status": 504}), "complete"),
    Fault(
        "server-error-503-json",
        ("server_error", {"path": USERS, "status": 503, "body": "json"}),
        "complete",
    ),
    Fault(
        "server-error-persistent",
        ("server_error", {"path": USERS, "status": 503, "times": 100}),
        "error",
        MimecastResponseError,
        r"HTTP 503 from 127\.0\.0\.1:\d+/api/awareness-training/campaign/get-user-data",
    ),
    Fault("html-error-page-502", ("html_error", {"path": USERS, "status": 502}), "complete"),
    Fault(
        "html-page-200",
        ("html_error", {"path": USERS, "status": 200}),
        "error",
        MimecastResponseError,
        r"HTTP 200 .* not a Mimecast JSON envelope \(text/html.*error page",
    ),
    Fault(
        "read-timeout",
        ("delay", {"path": USERS, "seconds": 3.0}),
        "complete",
        settings={"read_timeout_s": 0.5},
    ),
    Fault(
        "read-timeout-persistent",
        ("delay", {"path": USERS, "seconds": 3.0, "times": 2}),
        "error",
        MimecastResponseError,
        r"No complete answer from .*get-user-data: (ReadTimeout|ConnectionError)",
        settings={"read_timeout_s": 0.5},
        retry=RetryPolicy(max_attempts=2),
    ),
    Fault("connection-reset-mid-body", ("connection_reset", {"path": USERS}), "complete"),
    Fault("malformed-json", ("malformed_json", {"path": USERS}), "complete"),
    Fault(
        "truncated-page",
        ("truncated_page", {"path": USERS}),
        "error",
        MimecastResponseError,
        r"announced 1234 records \(totalCount\) but sent 1233",
    ),
    Fault("fail-retryable", ("fail_retryable", {"path": USERS}), "complete"),
    Fault(
        "fail-permanent",
        ("fail_permanent", {"path": USERS}),
        "error",
        MimecastAPIError,
        r"err_fake_permanent.*Injected permanent failure",
    ),
    Fault("developer-key-once", ("developer_key", {"path": USERS}), "complete"),
    Fault(
        # The first page's token serves the first page again; that page hands back the very
        # token it was asked with.
        "repeated-page-token",
        ("repeat_token", {"path": USERS, "times": 2}),
        "error",
        PaginationError,
        r"same page token twice",
    ),
    Fault(
        "page-token-cycle",
        ("token_cycle", {"path": USERS}),
        "error",
        PaginationError,
        r"handed out the token for page 2 again on page 3.*page tokens cycle",
    ),
    Fault(
        "empty-page-with-next",
        ("empty_page_with_next", {"path": USERS}),
        "error",
        PaginationError,
        r"empty page that still has a next token",
    ),
    Fault(
        "total-count-mismatch",
        ("total_mismatch", {"path": USERS}),
        "error",
        MimecastResponseError,
        r"announced 1239 records \(totalCount\) but sent 1234",
    ),
    Fault("oauth-token-expired", ("token_expired", {"path": USERS}), "complete", oauth=True),
    Fault("oauth-401-other-code", ("auth_refused", {"path": USERS}), "complete", oauth=True),
    Fault(
        "oauth-401-twice",
        ("auth_refused", {"path": USERS, "times": 2}),
        "error",
        MimecastAPIError,
        r"token_invalid.*HTTP 401.*MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET.*permission",
        oauth=True,
    ),
    Fault(
        "wrong-secret-401",
        None,
        "error",
        MimecastAPIError,
        r"err_xdk_invalid_signature.*HTTP 401.*"
        r"MIMECAST_ACCESS_KEY, MIMECAST_SECRET_KEY and MIMECAST_APP_KEY",
        hmac={"secret_key": WRONG_SECRET},
    ),
    Fault(
        "access-key-expired-418",
        ("binding_expired", {}),
        "error",
        MimecastAPIError,
        r"err_xdk_binding_expired.*HTTP 418.*access key has expired.*MIMECAST_ACCESS_KEY",
    ),
    Fault(
        "access-key-expired-418-no-body",
        ("bare_status", {"status": 418}),
        "error",
        MimecastAPIError,
        r"http_418.*HTTP 418.*access key has expired.*MIMECAST_ACCESS_KEY",
    ),
    Fault(
        "meta-status-not-200",
        ("meta_status", {"path": USERS, "status": 500}),
        "error",
        MimecastResponseError,
        r"get-user-data answered HTTP 200 but its meta\.status is 500",
    ),
    Fault(
        "server-clock-1h-ahead",
        None,
        "error",
        MimecastAPIError,
        # The Date header has one-second resolution: allow a second either way.
        r"HTTP 401.*x-mc-date .* behind the server time.*"
        r"clock \(Date header\) differs from this machine's by \+(3599|3600|3601) s",
        server={"clock_offset_s": 3600},
    ),
    Fault(
        "missing-field-user",
        ("missing_fields", {"path": USERS}),
        "error",
        MimecastResponseError,
        r"'email'",
    ),
    Fault(
        "wrong-type-user",
        ("wrong_types", {"path": USERS}),
        "error",
        MimecastResponseError,
        r"'results'",
    ),
    Fault(
        "missing-field-campaign",
        ("missing_fields", {"path": CAMPAIGNS_PATH}),
        "error",
        MimecastResponseError,
        r"'id'",
    ),
    Fault(
        "wrong-type-campaign",
        ("wrong_types", {"path": CAMPAIGNS_PATH}),
        "error",
        MimecastResponseError,
        r"'numSent'",
    ),
    Fault(
        "unknown-campaign-id",
        None,
        "error",
        ValueError,
        r"Unknown campaign id\(s\): nope",
        campaign_ids=("nope",),
    ),
    Fault(
        "ctrl-c-during-paging",
        None,
        "error",
        KeyboardInterrupt,
        None,
        interrupt_on_call=3,
    ),
]


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one snapshot of a clean fetch (copied for every case)."""
    root = tmp_path_factory.mktemp("fault-matrix") / "store"
    with FakeMimecastServer(small_dataset()) as clean:
        settings = hmac_settings(clean, clean.credentials)
        with MimecastClient(settings, sleep=SleepRecorder()) as clean_client:
            fetch_snapshot(clean_client, SnapshotStore(root), progress=False, workers=1)
    return root


def _frames(store: SnapshotStore, snapshot_id: str) -> dict[str, pd.DataFrame]:
    frames = store.load(snapshot_id=snapshot_id).frames
    return {name: getattr(frames, name) for name in TABLES}


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(INCOMPLETE_PREFIX)]


def _client(case: Fault, server: FakeMimecastServer, sleeps: SleepRecorder) -> MimecastClient:
    creds: FakeCredentials = server.credentials
    settings: Settings
    if case.oauth:
        settings = oauth_settings(server, creds)
    else:
        settings = hmac_settings(server, creds, **case.hmac)
    settings = dataclasses.replace(settings, **case.settings)
    return MimecastClient(settings, sleep=sleeps, retry=case.retry or RetryPolicy())


def _interrupt_on(client: MimecastClient, call: int) -> Callable[..., Any]:
    real_post = client.post
    calls = []

    def post(path: str, body: Any) -> Any:
        calls.append(path)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real_post(path, body)

    return post


@pytest.fixture
def fault_server(request: pytest.FixtureRequest) -> Iterator[FakeMimecastServer]:
    case: Fault = request.param
    with FakeMimecastServer(small_dataset(), **case.server) as running:
        yield running


# -- the matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "fault_server"),
    [
        pytest.param(
            case,
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=case.gap)] if case.gap else [],
        )
        for case in CASES
    ],
    indirect=["fault_server"],
)
def test_fault(
    case: Fault,
    fault_server: FakeMimecastServer,
    template_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = fault_server
    root = tmp_path / "store"
    shutil.copytree(template_store, root)
    store = SnapshotStore(root)
    before = store.snapshot_ids()
    assert len(before) == 1
    sleeps = SleepRecorder()
    if case.inject is not None:
        kind, params = case.inject
        server.inject(kind, **params)

    with _client(case, server, sleeps) as client:
        if case.interrupt_on_call is not None:
            monkeypatch.setattr(client, "post", _interrupt_on(client, case.interrupt_on_call))

        def run() -> Any:
            return fetch_snapshot(
                client,
                store,
                campaign_ids=case.campaign_ids,
                progress=False,
                workers=1,
                full=True,
            )

        if case.outcome == "complete":
            snapshot = run()
            after = store.snapshot_ids()
            assert after == sorted([*before, snapshot.snapshot_id])
            expected, got = _frames(store, before[0]), _frames(store, snapshot.snapshot_id)
            for name in TABLES:
                assert len(got[name]) > 0
                pd.testing.assert_frame_equal(got[name], expected[name])
            # The in-memory frames written are the ones read back.
            for name in TABLES:
                pd.testing.assert_frame_equal(
                    getattr(snapshot.frames, name).reset_index(drop=True), got[name]
                )
        else:
            assert case.outcome in ("error", "gap") and case.error is not None
            with pytest.raises(case.error) as raised:
                run()
            if case.error is not KeyboardInterrupt:
                # Exactly the expected type, not a subclass of ValueError from elsewhere.
                assert raised.type is case.error or issubclass(raised.type, case.error)
            if case.match is not None:
                assert re.search(case.match, str(raised.value)), str(raised.value)
            assert store.snapshot_ids() == before
            assert store.load().snapshot_id == before[0]

    # staging/ keeps the pages of a fetch that stopped, for the next fetch to resume from.
    assert {p.name for p in root.iterdir()} <= {"snapshots", "staging"}
    assert _leftovers(root) == []
    assert not list(root.rglob(f"{STAGING_TEMP_PREFIX}*"))  # no half-written staged file

    if case.inject is not None:
        kind, params = case.inject
        # Consumed, whether or not the server recorded its answer yet (a delayed answer is
        # recorded only once the server's sleep ends, after the client gave up).
        left = sum(remaining for k, _path, remaining in server.pending_faults() if k == kind)
        assert left < params.get("times", 1), f"the {kind} fault was never served"
        if case.outcome == "complete":
            assert left == 0
    if case.expect_wait_s is not None:
        assert any(w == pytest.approx(case.expect_wait_s, abs=0.5) for w in sleeps.waits)
        assert max(sleeps.waits) <= case.expect_wait_s + 0.5
    if case.campaign_ids == ("nope",):
        assert not any(r.path == USERS for r in server.requests)
    if case.id in ("oauth-token-expired", "oauth-401-other-code", "oauth-401-twice"):
        # One new token, never more: a second 401 is the credentials' fault.
        assert sum(r.path == "/oauth/token" for r in server.requests) == 2
    if case.id == "throttle-body-no-hint":
        # No hint: an exponential backoff (jittered) instead of a fixed short wait.
        # Later entries are other requests holding at the same resume time (the recorded
        # sleep passes no real time).
        first, second = sleeps.waits[:2]
        initial = RetryPolicy().throttle_backoff_initial_s
        # A wait is recorded as the time left until the resume time, so the moments spent
        # between choosing it and sleeping come off it (a draw of exactly initial / 2 was
        # recorded as 0.99999 s): the lower bounds allow 50 ms for that.
        slack = 0.05
        assert initial / 2 - slack <= first <= initial
        assert initial - slack <= second <= 2 * initial
    if case.id == "server-clock-1h-ahead":
        # Refused on the first request and not retried: retrying cannot fix a clock.
        assert [r.response_status for r in server.requests] == [401]


def test_every_case_id_is_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


# -- the document ------------------------------------------------------------------------------

_ROW = re.compile(r"^\|(?P<cells>.+)\|\s*$")
_TEST_ID = re.compile(r"`(?P<test>tests/test_fault_matrix\.py::test_fault\[(?P<id>[^\]]+)\])`")
_COUNTS = re.compile(
    r"^Counts: (?P<tried>\d+) faults tried, (?P<complete>\d+) survived with complete data, "
    r"(?P<error>\d+) ending in a clear error, (?P<gap>\d+) not yet covered\.?\s*$",
    re.MULTILINE,
)


def _doc_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        match = _ROW.match(line.strip())
        if match is None:
            continue
        cells = [cell.strip() for cell in match["cells"].split("|")]
        if set("".join(cells)) <= set("-: "):  # the separator row
            continue
        rows.append(cells)
    return rows


def test_reliability_doc_matches_the_matrix() -> None:
    # The fault matrix is the document's first table; later sections have tables of their own.
    text = DOC.read_text(encoding="utf-8").split("\n## ", 1)[0]
    rows = _doc_rows(text)
    header, body = rows[0], rows[1:]
    assert [h.lower() for h in header] == ["fault", "injected by", "expected outcome", "test"]
    by_id = {case.id: case for case in CASES}
    doc_ids = []
    for row in body:
        assert len(row) == 4, row
        match = _TEST_ID.fullmatch(row[3])
        assert match is not None, f"no test id in row {row}"
        case_id = match["id"]
        doc_ids.append(case_id)
        assert case_id in by_id, f"{case_id} is documented but not tested"
        outcome = row[2].lower()
        expected_start = {
            "complete": "complete",
            "error": "clear error",
            "gap": "not yet covered",
        }[by_id[case_id].outcome]
        assert outcome.startswith(expected_start), row
    assert len(doc_ids) == len(set(doc_ids)), "a test id is documented twice"
    assert sorted(doc_ids) == sorted(by_id), "tested faults missing from the doc"

    counts = _COUNTS.search(text)
    assert counts is not None, "no Counts line"
    assert int(counts["tried"]) == len(CASES)
    assert int(counts["complete"]) == sum(c.outcome == "complete" for c in CASES)
    assert int(counts["error"]) == sum(c.outcome == "error" for c in CASES)
    assert int(counts["gap"]) == sum(c.outcome == "gap" for c in CASES)


def test_every_case_has_a_known_outcome() -> None:
    for case in CASES:
        assert case.outcome in ("complete", "error", "gap"), case.id
        assert (case.outcome == "gap") == (case.gap is not None), case.id
        assert (case.outcome == "complete") == (case.error is None), case.id


@pytest.mark.parametrize("offset_s", [-3600.0, 3600.0])
def test_clock_offset_moves_the_fake_servers_date_header(offset_s: float) -> None:
    with FakeMimecastServer(small_dataset(), clock_offset_s=offset_s) as running:
        response = requests.post(f"{running.base_url}{CAMPAIGNS_PATH}", json={}, timeout=10)
    served = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
    assert served - time.time() == pytest.approx(offset_s, abs=5)


def test_clock_offset_must_be_finite() -> None:
    with pytest.raises(ValueError, match="clock_offset_s"):
        FakeMimecastServer(small_dataset(), clock_offset_s=float("nan"))
