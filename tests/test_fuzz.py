"""Fuzzing (issue 6): the response parser, frame builder and request builder over odd input.

Properties:

* ``build_frames`` / ``campaigns_frame`` over arbitrary JSON and over API-shaped data with
  corruptions: valid frames (dtypes and count invariants hold) or ``MimecastResponseError``.
* ``MimecastClient.post`` and ``paginate`` (through the endpoint functions) over fuzzed HTTP
  answers served by an in-process requests adapter (no network at all): a result or
  ``MimecastAPIError`` / ``MimecastResponseError`` / ``PaginationError``.
* ``UserDataFilter`` / ``UserDataQuery``: accepted input gives a body the vendor page's schema
  allows; rejected input raises ``ValueError`` naming the offending field.

Every property counts its examples in :data:`FUZZED`; ``test_fuzz_totals`` (last in this module)
asserts each property that ran saw inputs and prints the totals (``pytest -rP`` shows them; set
``AWARENESS_FUZZ_COUNTS=path.json`` to also write them to a file for docs/reliability.md).

Hypothesis runs derandomized with no example database, so CI sees the same inputs every run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from awareness_analysis.api.config import HmacCredentials, Settings
from awareness_analysis.api.endpoints import (
    GET_USER_DATA_PATH,
    MAX_ATTRIBUTE_IDS,
    SEARCH_FIELDS,
    STATUSES,
    UserDataFilter,
    UserDataQuery,
    get_user_data,
    list_campaigns,
)
from awareness_analysis.api.transport import MimecastClient, RetryPolicy
from awareness_analysis.data.frames import (
    ANSWER_DTYPES,
    CAMPAIGN_DTYPES,
    OUTCOMES,
    USER_DTYPES,
    Frames,
    build_frames,
    campaigns_frame,
    convert_user_items,
)
from awareness_analysis.errors import MimecastAPIError, MimecastResponseError, PaginationError

#: Examples run per property (name -> count), reported by test_fuzz_totals.
FUZZED: Counter[str] = Counter()
#: Outcome tally per property ("<name>:ok" / "<name>:<ErrorType>"), to show both sides are hit.
OUTCOMES_SEEN: Counter[str] = Counter()
PROPERTIES = (
    "build_frames_any_json",
    "build_frames_shaped",
    "campaigns_frame_shaped",
    "client_post",
    "client_paginate",
    "request_builder",
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _tally(name: str, outcome: str) -> None:
    FUZZED[name] += 1
    OUTCOMES_SEEN[f"{name}:{outcome}"] += 1


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``choices`` with the given weights (``st.one_of`` merges repeated strategies)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda n: table[n])


# -- JSON strategies -------------------------------------------------------------------------

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT = st.one_of(
    st.text(max_size=8),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=3), SURROGATE, st.text(max_size=3)),
    st.sampled_from(
        [
            "",
            " ",
            "CORRECT",
            "incorrect",
            "Sent",
            "forQuestion1",
            "forQuestion100",
            "forQuestion101",
            "forQuestion0",
            "forQuestion٣",  # a non-ASCII digit: [0-9] must not match it
            "2022-01-11T23:32:00+0000",
            "2022-01-11T23:32:00",
            "9999-12-31T23:59:59-2359",
            "0001-01-01T00:00:00+2359",
            "a@x.example",
            "nan",
            "inf",
            "\x00",
            "é\u0301",
        ]
    ),
)
INTS = st.one_of(
    st.integers(-3, 5),
    st.integers(),
    st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**63, 2**64, 10**30, -(10**30)]),
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALAR = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT)
KEYS = st.one_of(
    TEXT,
    st.sampled_from(
        ["id", "email", "name", "results", "items", "data", "fail", "meta", "errors", "code"]
    ),
)
JSON = st.recursive(
    SCALAR,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=12,
)


def corrupt(valid: Any) -> st.SearchStrategy[Any]:
    """Mostly ``valid``; sometimes null, a scalar of another type or any JSON value."""
    return weighted((3, st.just(valid)), (1, st.none()), (1, SCALAR), (1, JSON))


_DROP = object()


@st.composite
def shaped(draw: st.DrawFn, template: Mapping[str, Any]) -> Any:
    """An object following ``template`` whose fields may be corrupted, dropped or joined by junk.

    Template values that are strategies are drawn from first.
    """
    out: dict[Any, Any] = {}
    # Half the objects are clean; the others have one to three fields broken.
    n_bad = draw(st.sampled_from([0, 0, 0, 0, 1, 1, 2, 3]))
    bad = set(draw(st.lists(st.sampled_from(list(template)), max_size=n_bad)) if n_bad else [])
    for key, value in template.items():
        if isinstance(value, st.SearchStrategy):
            value = draw(value)
        if key not in bad:
            out[key] = value
        elif draw(st.booleans()):
            out[key] = draw(corrupt(value))
    if draw(st.integers(0, 3)) == 3:  # unknown extra fields, which must be ignored
        extra = draw(st.dictionaries(TEXT, JSON, max_size=2))
        out.update({key: value for key, value in extra.items() if key not in template})
    return out


RESULT_VALUE = st.sampled_from(["SENT", "CORRECT", "INCORRECT", "sent", "Correct", "incorrect"])
QUESTION_KEY = st.one_of(
    st.integers(1, 5).map(lambda q: f"forQuestion{q}"),
    st.sampled_from(["forQuestion0", "forQuestion01", "forQuestion101", "question1"]),
)


def campaign_strategy(cid: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    questions = st.integers(0, 5)
    correct = questions.map(lambda n: {f"forQuestion{q}": 1 for q in range(1, n + 1)})
    return shaped(
        {
            "id": cid,
            "name": st.sampled_from(["Campaign", "", "Ünïcode"]),
            "title": shaped({"id": "module-1", "title": "Module_One", "correctAnswers": correct}),
            "group": shaped({"id": "g", "description": "Everyone", "userCount": st.integers(0, 9)}),
            "launchDate": st.sampled_from(
                ["2026-03-02T09:00:00+0000", "2026-03-02T09:00:00Z", "2026-03-02T09:00:00+01:00"]
            ),
            "createDate": "2026-03-01T09:00:00+0000",
            "numSent": st.integers(0, 10),
            "numCompleted": st.integers(0, 10),
            "percentComplete": st.floats(0, 100),
            "percentCorrect": st.integers(0, 100),
            "locked": st.booleans(),
            "numCorrectAnswers": st.dictionaries(QUESTION_KEY, st.integers(0, 10), max_size=3),
        }
    )


def user_strategy() -> st.SearchStrategy[Any]:
    return shaped(
        {
            "email": st.sampled_from(
                ["a@x.example", "b@X.Example", "nodomain", "c@@y", "a@x.example"]
            ),
            "name": st.sampled_from(["Alex", "", "Łukasz"]),
            "department": st.sampled_from(["Sales", "", "(unassigned)"]),
            "userState": st.sampled_from(["ACTIVE", "SUSPENDED"]),
            "acknowledgement": st.booleans(),
            "results": st.dictionaries(QUESTION_KEY, RESULT_VALUE, max_size=4),
        }
    )


CAMPAIGN_IDS = st.sampled_from(["c1", "c2", "c3"])
SHAPED_CAMPAIGNS = st.lists(
    weighted((19, campaign_strategy(CAMPAIGN_IDS)), (1, JSON)),
    max_size=4,
    # Mostly distinct ids (a duplicate id is one well-tested error, not worth most examples).
    unique_by=lambda c: repr(c.get("id")) if isinstance(c, dict) else repr(c),
)
SHAPED_ITEMS = st.dictionaries(
    st.one_of(CAMPAIGN_IDS, TEXT),
    weighted((6, st.lists(weighted((19, user_strategy()), (1, JSON)), max_size=6)), (1, JSON)),
    max_size=3,
)


# -- frame invariants ------------------------------------------------------------------------


def check_dtypes(frame: pd.DataFrame, expected: Mapping[str, str]) -> None:
    assert list(frame.columns) == list(expected)
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == dict(expected)
    for name, dtype in frame.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            assert str(dtype.categories.dtype) == "str", name
    assert frame.index.equals(pd.RangeIndex(len(frame)))


def check_frames(frames: Frames, campaigns: Any) -> None:
    check_dtypes(frames.campaigns, CAMPAIGN_DTYPES)
    check_dtypes(frames.users, USER_DTYPES)
    check_dtypes(frames.answers, ANSWER_DTYPES)
    assert len(frames.campaigns) == len(campaigns)
    users, answers = frames.users, frames.answers
    for frame, column in ((users, "outcome"), (answers, "result")):
        assert list(frame[column].cat.categories) == list(OUTCOMES)
        assert not frame[column].isna().any()
    assert (
        not users[["campaign_id", "email", "name", "department", "user_state"]].isna().any().any()
    )
    assert (users["email"].str.len() > 0).all()
    n_questions = users["n_questions"].astype(int)
    counts = users["n_correct"].astype(int) + users["n_incorrect"].astype(int)
    assert ((users[["n_correct", "n_incorrect", "n_unanswered"]].astype(int)) >= 0).all().all()
    assert (counts + users["n_unanswered"].astype(int)).equals(n_questions)
    assert len(answers) == int(n_questions.sum())
    expected = np.where(
        users["n_incorrect"] > 0, "incorrect", np.where(users["n_correct"] > 0, "correct", "sent")
    )
    assert users["outcome"].astype(str).tolist() == expected.tolist()
    # Answers are users repeated n_questions times, with questions 1..n.
    expected_questions = [q for n in n_questions.tolist() for q in range(1, n + 1)]
    assert answers["question"].astype(int).tolist() == expected_questions
    assert answers["email"].tolist() == np.repeat(users["email"].to_numpy(), n_questions).tolist()
    campaigns_q = frames.campaigns.set_index(frames.campaigns["campaign_id"].astype(str))
    for cid, n in users.groupby(users["campaign_id"].astype(str))["n_questions"].max().items():
        if cid in campaigns_q.index:
            assert int(campaigns_q.loc[cid, "n_questions"]) == int(n)


def _has_surrogate(value: object) -> bool:
    return isinstance(value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def _converted(items: Any) -> Any:
    """``items`` with every campaign's list converted ahead, as the fetch does."""
    if not isinstance(items, dict) or not all(isinstance(k, str) and k for k in items):
        return None
    return {cid: convert_user_items(cid, value) for cid, value in items.items()}


def run_build_frames(name: str, campaigns: Any, items: Any) -> None:
    converted = _converted(items)
    try:
        frames = build_frames(campaigns, items)
    except MimecastResponseError as error:
        assert str(error)  # a message, not an empty error
        if converted is not None:  # converted ahead: the same error, word for word
            with pytest.raises(MimecastResponseError) as again:
                build_frames(campaigns, converted)
            assert str(again.value) == str(error)
        _tally(name, "MimecastResponseError")
        return
    check_frames(frames, campaigns)
    if converted is not None:  # converted ahead: the same frames
        ahead = build_frames(campaigns, converted)
        for table in ("campaigns", "users", "answers"):
            pd.testing.assert_frame_equal(getattr(ahead, table), getattr(frames, table))
    _tally(name, "ok")


# -- 1. frames over arbitrary and corrupted JSON ----------------------------------------------


@FUZZ
@given(campaigns=st.one_of(st.lists(JSON, max_size=4), JSON), items=JSON)
@example(campaigns=[], items={})
@example(
    campaigns=[{"id": "c"}], items={"c": [{"email": "a@x", "results": {"forQuestion1": None}}]}
)
@example(campaigns=[{"id": "c", "numSent": 2**64}], items={})
@example(campaigns=[{"id": "c", "percentCorrect": float("inf")}], items={})
@example(campaigns=[{"id": "\ud800"}], items={"\ud800": [{"email": "\udfff"}]})
def test_build_frames_any_json(campaigns: Any, items: Any) -> None:
    run_build_frames("build_frames_any_json", campaigns, items)


@FUZZ
@given(campaigns=SHAPED_CAMPAIGNS, items=SHAPED_ITEMS)
def test_build_frames_shaped(campaigns: list[Any], items: dict[Any, Any]) -> None:
    run_build_frames("build_frames_shaped", campaigns, items)


@FUZZ
@given(campaigns=weighted((3, SHAPED_CAMPAIGNS), (1, JSON)))
@example(campaigns=[{"id": "c", "launchDate": "9999-12-31T23:59:59-2359"}])
@example(campaigns=[{"id": "c", "numCorrectAnswers": {"forQuestion1": 2**31}}])
@example(campaigns=[{"id": "c", "title": {"correctAnswers": {"forQuestion100": 1}}}])
def test_campaigns_frame_shaped(campaigns: Any) -> None:
    name = "campaigns_frame_shaped"
    try:
        frame = campaigns_frame(campaigns)
    except MimecastResponseError as error:
        assert str(error)
        _tally(name, "MimecastResponseError")
        return
    check_dtypes(frame, CAMPAIGN_DTYPES)
    assert len(frame) == len(campaigns)
    assert frame["campaign_id"].is_unique
    assert (frame[["num_sent", "num_completed", "group_user_count"]] >= 0).all().all()
    _tally(name, "ok")


@pytest.mark.parametrize(
    ("campaigns", "items"),
    [
        pytest.param([{"id": "\ud800"}], {}, id="campaign-id"),
        pytest.param([{"id": "c", "name": "\ud800"}], {}, id="campaign-name"),
        pytest.param([{"id": "c", "title": {"id": "\ud800"}}], {}, id="title-id"),
        pytest.param([{"id": "c", "title": {"title": "\ud800"}}], {}, id="title-title"),
        pytest.param([{"id": "c", "group": {"description": "\ud800"}}], {}, id="group"),
        pytest.param([], {"\ud800": []}, id="user-items-key"),
    ],
)
def test_campaign_level_surrogate_is_a_response_error(campaigns: Any, items: Any) -> None:
    with pytest.raises(MimecastResponseError):
        build_frames(campaigns, items)


@pytest.mark.parametrize(
    "date",
    ["9999-12-31T23:59:59-0001", "0001-01-01T00:00:00+0100", "9999-12-31T23:59:59-00:01"],
)
@pytest.mark.parametrize("field", ["launchDate", "createDate"])
def test_extreme_dates_are_a_response_error(field: str, date: str) -> None:
    with pytest.raises(MimecastResponseError):
        campaigns_frame([{"id": "c", field: date}])


# -- 1b. transport: envelope handling over fuzzed HTTP answers -------------------------------

FAKE_SETTINGS = Settings(
    base_url="https://fuzz.example.invalid",
    credentials=HmacCredentials(
        access_key="fuzz-access-key",
        secret_key="ZnV6ei1zZWNyZXQta2V5LW5vdC1yZWFs",  # base64 of an obviously fake key
        app_id="fuzz-app-id",
        app_key="fuzz-app-key",
    ),
)


class CannedAdapter(BaseAdapter):
    """A requests adapter answering from a list of canned responses; never touches a network.

    After the list runs out it answers with a final empty page, so paging always ends.
    """

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.bodies: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.bodies.append(json.loads(request.body) if request.body else None)
        status, headers, content = (
            self.answers.pop(0)
            if self.answers
            else (200, {"Content-Type": "application/json"}, b'{"data": [{}], "fail": []}')
        )
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response._content = content
        response.url = request.url or ""
        response.request = request
        response.reason = "fuzz"
        return response

    def close(self) -> None:
        pass


def fuzz_client(
    answers: list[tuple[int, dict[str, str], bytes]],
) -> tuple[MimecastClient, CannedAdapter]:
    client = MimecastClient(
        FAKE_SETTINGS, retry=RetryPolicy(max_attempts=1), sleep=lambda _seconds: None
    )
    adapter = CannedAdapter(answers)
    client.session.mount("https://", adapter)
    client.session.mount("http://", adapter)
    return client, adapter


def dumps(value: Any) -> bytes:
    # ensure_ascii escapes lone surrogates (json.loads turns them back into str), NaN allowed
    # as Python's json does.
    return json.dumps(value).encode()


FAIL_ENTRY = st.one_of(
    shaped(
        {
            "errors": st.lists(
                shaped(
                    {
                        "code": st.sampled_from(
                            ["err_xdk_invalid_signature", "err_developer_key", "token_expired"]
                        ),
                        "message": "no",
                        "retryable": st.booleans(),
                    }
                ),
                max_size=2,
            )
        }
    ),
    shaped({"code": "token_invalid", "message": "bad token", "retryable": False}),
    JSON,
)
PAGINATION = shaped(
    {
        "pageSize": st.integers(1, 1000),
        "totalCount": st.one_of(st.integers(0, 6), INTS, st.booleans()),
        "next": st.one_of(st.sampled_from(["t1", "t2", "t3"]), st.none(), JSON),
    }
)
ENVELOPE = shaped(
    {
        "meta": shaped({"status": st.sampled_from([200, 400, 500]), "pagination": PAGINATION}),
        "data": st.lists(
            st.one_of(
                shaped({"items": st.lists(st.one_of(user_strategy(), JSON), max_size=3)}),
                shaped(
                    {
                        "campaigns": st.lists(
                            st.one_of(campaign_strategy(CAMPAIGN_IDS), JSON), max_size=3
                        )
                    }
                ),
                JSON,
            ),
            max_size=2,
        ),
        "fail": st.one_of(st.just([]), st.lists(FAIL_ENTRY, max_size=2), JSON),
    }
)
BODY = weighted(
    (4, ENVELOPE.map(dumps)),
    (1, JSON.map(dumps)),
    (1, st.binary(max_size=40)),
    (1, ENVELOPE.map(dumps).flatmap(lambda raw: st.integers(0, len(raw)).map(lambda n: raw[:n]))),
    (
        1,
        st.sampled_from(
            [
                b"",
                b"<html><body>502 Bad Gateway</body></html>",
                b"\xef\xbb\xbf{}",
                b'{"fail": [], "data": [{"items": []}]}',
                b"null",
                b"NaN",
                b"[1e999]",
                b'"\\ud800"',
                b'{"data": [{"items": [1]}]}',
            ]
        ),
    ),
)
STATUS = weighted(
    (3, st.just(200)),
    (3, st.sampled_from([400, 401, 403, 404, 418, 429, 500, 502, 503, 504])),
    (1, st.integers(100, 599)),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "text/html; charset=utf-8",
                "application/json; charset=latin-1",
                "",
            ]
        ),
        "Date": st.one_of(
            st.sampled_from(
                [
                    "Fri, 27 Nov 2026 08:00:00 GMT",
                    "Mon, 01 Jan 1990 00:00:00 GMT",
                    "Fri, 31 Dec 9999 23:59:59 -2359",
                    "Fri, 31 Dec 99999 23:59:59 GMT",
                    "Thu, 01 Jan 0000 00:00:00 +0000",
                    "yesterday",
                    "",
                ]
            ),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        ),
        "X-RateLimit-Reset": st.one_of(
            st.sampled_from(["1000", "-5", "nan", "inf", "-inf", "1e400", "x", ""]),
            INTS.map(str),
        ),
    },
)
ANSWER = st.tuples(STATUS, HEADERS, BODY)
TRANSPORT_ERRORS = (MimecastAPIError, MimecastResponseError)


@FUZZ
@given(answer=ANSWER)
@example(answer=(200, {"Content-Type": "application/json"}, b"[]" * 1))
@example(answer=(401, {"Date": "Fri, 31 Dec 99999 23:59:59 GMT"}, b'{"fail": [{}]}'))
@example(answer=(429, {"X-RateLimit-Reset": "nan"}, b""))
def test_client_post(answer: tuple[int, dict[str, str], bytes]) -> None:
    client, _ = fuzz_client([answer])
    with client:
        try:
            envelope = client.post(GET_USER_DATA_PATH, {"data": [{"id": "c1"}]})
        except TRANSPORT_ERRORS as error:
            assert str(error)
            _tally("client_post", type(error).__name__)
            return
    assert isinstance(envelope, dict)
    assert answer[0] < 400 and not envelope.get("fail")
    _tally("client_post", "ok")


@FUZZ
@given(
    answers=st.lists(st.tuples(st.just(200), HEADERS, BODY), min_size=1, max_size=4),
    campaigns_call=st.booleans(),
)
def test_client_paginate(
    answers: list[tuple[int, dict[str, str], bytes]], campaigns_call: bool
) -> None:
    client, adapter = fuzz_client(answers)
    with client:
        try:
            if campaigns_call:
                records = list_campaigns(client)
            else:
                records = get_user_data(client, UserDataQuery("c1"), page_size=3)
        except TRANSPORT_ERRORS as error:  # PaginationError is a MimecastResponseError
            assert str(error)
            _tally("client_paginate", type(error).__name__)
            return
    assert isinstance(records, list) and all(isinstance(r, dict) for r in records)
    for body in adapter.bodies:
        assert body["data"] == ([] if campaigns_call else [{"id": "c1"}])
    # Each token is asked for once: paging never loops.
    tokens = [b.get("meta", {}).get("pagination", {}).get("pageToken") for b in adapter.bodies]
    tokens = [t for t in tokens if t is not None]
    assert len(tokens) == len(set(tokens))
    _tally("client_paginate", "ok")


def test_pagination_error_is_a_response_error() -> None:
    # The paginate property relies on this to accept PaginationError via MimecastResponseError.
    assert issubclass(PaginationError, MimecastResponseError)


DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


def test_client_post_deeply_nested_body() -> None:
    client, _ = fuzz_client([(200, {"Content-Type": "application/json"}, DEEP_JSON)])
    with client, pytest.raises(MimecastResponseError):
        client.post(GET_USER_DATA_PATH, {"data": []})


# -- 2. request builder ----------------------------------------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2), st.lists(st.text(max_size=2), max_size=2)
)
FIELD = st.one_of(
    st.none(), st.sampled_from(SEARCH_FIELDS), st.sampled_from(["title", "Name", ""]), TEXT, JUNK
)
VALUE = st.one_of(
    st.none(), TEXT, st.sampled_from(["Finance", "a@x.example", " x ", "   ", "\t"]), JUNK
)
STATUS_ITEM = st.one_of(
    st.sampled_from(STATUSES), st.sampled_from(["SENT", "done", ""]), TEXT, JUNK
)
STATUS_LIST = weighted(
    (4, st.lists(st.sampled_from(STATUSES), unique=True, max_size=3)),
    (1, st.lists(STATUS_ITEM, max_size=4)),
)
ATTRIBUTE_ITEM = st.one_of(st.sampled_from(["attr-1", "attr-2", "attr-3", "attr-4"]), TEXT, JUNK)
ATTRIBUTE_LIST = weighted(
    (4, st.lists(st.sampled_from(["attr-1", "attr-2", "attr-3"]), max_size=3)),
    (1, st.lists(ATTRIBUTE_ITEM, max_size=5)),
)
CAMPAIGN_ID = weighted((8, st.sampled_from(["camp-1", "c", " c "])), (1, TEXT), (1, JUNK))


def violations(
    field: Any, value: Any, statuses: list[Any], attribute_ids: list[Any], campaign_id: Any
) -> set[str]:
    """The words that may name each broken rule in the error message (empty: input is valid)."""
    broken: list[set[str]] = []
    if (field is None) != (value is None):
        broken.append({"searchBy"})
    elif field is not None:
        if field not in SEARCH_FIELDS:
            broken.append({"searchBy", "fieldName"})
        elif not isinstance(value, str) or not value.strip():
            broken.append({"searchBy"})
    if any(s not in STATUSES for s in statuses) or len(set(map(repr, statuses))) != len(statuses):
        broken.append({"filterBy", "status"})
    if len(attribute_ids) > MAX_ATTRIBUTE_IDS or any(
        not isinstance(a, str) or not a.strip() for a in attribute_ids
    ):
        broken.append({"attributeIds"})
    if field == "customAttribute" and not attribute_ids:
        broken.append({"customAttribute", "attributeIds"})
    if not isinstance(campaign_id, str) or not campaign_id.strip():
        broken.append({"campaign_id"})
    return set().union(*broken)


def check_request_schema(data: Mapping[str, Any]) -> None:
    """``data[0]`` of a get-user-data request as the vendor page (and recorded traffic) allow."""
    assert set(data) <= {"id", "searchBy", "filterBy", "attributeIds"}
    assert isinstance(data["id"], str) and data["id"].strip()
    if "searchBy" in data:
        search = data["searchBy"]
        assert set(search) == {"fieldName", "value"}
        assert search["fieldName"] in SEARCH_FIELDS
        assert isinstance(search["value"], str) and search["value"].strip()
        if search["fieldName"] == "customAttribute":
            assert data.get("attributeIds")
    if "filterBy" in data:
        filters = data["filterBy"]
        assert isinstance(filters, list) and filters
        for entry in filters:
            assert entry.keys() == {"fieldName", "value"}
            assert entry["fieldName"] == "status" and entry["value"] in STATUSES
        assert len({entry["value"] for entry in filters}) == len(filters)
    if "attributeIds" in data:
        ids = data["attributeIds"]
        assert isinstance(ids, list) and 1 <= len(ids) <= MAX_ATTRIBUTE_IDS
        assert all(isinstance(a, str) and a.strip() for a in ids)
    text = json.dumps({"data": [data]}, allow_nan=False)  # as requests serialises it
    assert json.loads(text) == {"data": [data]}


@FUZZ
@given(
    search=weighted(
        (2, st.tuples(st.none(), st.none())),
        (2, st.tuples(st.sampled_from(SEARCH_FIELDS), st.sampled_from(["Finance", " x ", "é"]))),
        (1, st.tuples(FIELD, VALUE)),
    ),
    statuses=STATUS_LIST,
    attribute_ids=ATTRIBUTE_LIST,
    campaign_id=CAMPAIGN_ID,
)
@example(search=("customAttribute", "Leeds"), statuses=[], attribute_ids=[], campaign_id="c")
@example(search=(None, None), statuses=["sent", "sent"], attribute_ids=[], campaign_id="c")
@example(search=("name", "x"), statuses=[], attribute_ids=["a"] * 4, campaign_id=" ")
@example(search=("name", "\ud800"), statuses=["correct"], attribute_ids=["\udfff"], campaign_id="c")
def test_request_builder(
    search: tuple[Any, Any], statuses: list[Any], attribute_ids: list[Any], campaign_id: Any
) -> None:
    field, value = search
    expected = violations(field, value, statuses, attribute_ids, campaign_id)
    try:
        query = UserDataQuery(
            campaign_id, UserDataFilter(field, value, tuple(statuses), tuple(attribute_ids))
        )
    except ValueError as error:
        message = str(error)
        assert expected, f"valid input refused: {message}"
        assert any(word in message for word in expected), (message, expected)
        _tally("request_builder", "ValueError")
        return
    assert not expected, f"invalid input accepted (should name {expected})"
    data = query.request_data()
    check_request_schema(data)
    assert data["id"] == campaign_id
    assert query.filter.is_empty == (set(data) == {"id"})
    json.dumps(query.filter.parameters(), allow_nan=False)  # manifests hold it
    _tally("request_builder", "ok")


# -- 3. totals ---------------------------------------------------------------------------------


def test_fuzz_totals() -> None:
    """Last in the module: every property that ran saw inputs; print (and maybe save) totals."""
    ran = {name: FUZZED[name] for name in PROPERTIES if FUZZED[name]}
    if not ran:
        pytest.skip("no fuzz property ran in this session (deselected)")
    assert all(count > 0 for count in ran.values())
    report = {
        "inputs_fuzzed": sum(ran.values()),
        "per_property": ran,
        "outcomes": dict(sorted(OUTCOMES_SEEN.items())),
    }
    print(json.dumps(report, indent=2))
    target = os.environ.get("AWARENESS_FUZZ_COUNTS")
    if target:
        Path(target).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
