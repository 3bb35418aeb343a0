"""The behaviour endpoints (phishing, SAFE score, watch list, performance, training queue):
the client functions against the fake server over loopback, the fake's quirks, and the
knowledge -> behaviour effect the generated data carries (or, in the null variant, does not).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from awareness_analysis.api.endpoints import (
    PERFORMANCE_DETAILS_PATH,
    PHISHING_CAMPAIGNS_PATH,
    PHISHING_USER_DATA_PATH,
    SAFE_SCORE_DETAILS_PATH,
    SAFE_SCORE_SUMMARY_PATH,
    TRAINING_QUEUE_PATH,
    WATCHLIST_DETAILS_PATH,
    PhishingUserFilter,
    SafeScoreFilter,
    UserDataQuery,
    get_performance_details,
    get_phishing_campaign,
    get_phishing_user_data,
    get_safe_score_details,
    get_safe_score_summary,
    get_training_queue,
    get_user_data,
    get_watchlist_details,
    iter_performance_pages,
    iter_phishing_user_pages,
    iter_row_pages,
    iter_safe_score_pages,
    list_campaigns,
    list_phishing_campaigns,
    performance_request,
)
from awareness_analysis.api.transport import MimecastClient, PageCursor
from awareness_analysis.errors import (
    MimecastAPIError,
    MimecastResponseError,
    PaginationError,
    TotalCountMismatch,
)
from awareness_analysis.fakeapi import behaviour as fake_behaviour
from awareness_analysis.fakeapi.behaviour import (
    BehaviourData,
    BehaviourEffect,
    behaviour_for,
    build_behaviour,
)
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.demo_org import ATTRIBUTE_IDS, build_demo_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer
from tests.conftest import SMALL_CAMPAIGN, SleepRecorder, hmac_settings, oauth_settings

CREDS = FakeCredentials.demo()
DATE = "%Y-%m-%dT%H:%M:%S%z"
TIME_FIELDS = (
    "timeOpened",
    "timeClicked",
    "timeReported",
    "timeSubmitted",
    "timeScanned",
)
TOTAL_FIELDS = (
    "numCampaignsSent",
    "numCampaignsClicked",
    "numCampaignsScanned",
    "numCampaignsClickedScanned",
    "numTrainingModulesAssigned",
    "numCorrectAnswers",
    "numIncorrectAnswers",
)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> FakeDataset:
    return build_demo_dataset()


@pytest.fixture(scope="module")
def effect_data(demo: FakeDataset) -> BehaviourData:
    return build_behaviour(demo)


@pytest.fixture(scope="module")
def null_data(demo: FakeDataset) -> BehaviourData:
    return build_behaviour(demo, effect=BehaviourEffect.none())


@pytest.fixture
def demo_server(demo: FakeDataset, effect_data: BehaviourData) -> Iterator[FakeMimecastServer]:
    with FakeMimecastServer(demo, credentials=CREDS, behaviour=effect_data) as running:
        yield running


@pytest.fixture
def demo_sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def demo_client(
    demo_server: FakeMimecastServer, demo_sleeps: SleepRecorder
) -> Iterator[MimecastClient]:
    with MimecastClient(hmac_settings(demo_server, CREDS), sleep=demo_sleeps) as running:
        yield running


def bodies(server: FakeMimecastServer, path: str) -> list[Any]:
    return [r.body for r in server.requests if r.path == path]


def address(row: dict[str, Any]) -> str:
    """A watch-list row's address, whichever spelling it came in."""
    return str(row.get("email") or row.get("emailAddress") or "")


# -- phishing campaigns ----------------------------------------------------------------------------


def test_phishing_campaigns_cover_the_demo_year_with_their_counters(
    demo_client: MimecastClient, effect_data: BehaviourData
) -> None:
    campaigns = list_phishing_campaigns(demo_client)
    assert campaigns == effect_data.phishing_campaigns  # raw records, unchanged
    assert len(campaigns) >= 4
    launches = sorted(datetime.strptime(c["launchDate"], DATE) for c in campaigns)
    assert (launches[-1] - launches[0]).days > 270
    for campaign in campaigns:
        assert {"id", "displayTitle"} <= set(campaign["templates"][0])
        assert {"name", "email"} <= set(campaign["sender"])
        assert campaign["locale"] and isinstance(campaign["timeSlotSelected"], bool)
        rows = get_phishing_user_data(demo_client, campaign["id"])
        assert campaign["numSent"] == campaign["group"]["userCount"] == len(rows)
        assert campaign["numClicked"] == sum("timeClicked" in r for r in rows)
        assert campaign["numReported"] == sum("timeReported" in r for r in rows)  # undocumented
        assert campaign["numOpened"] >= campaign["numClicked"] >= campaign["numSubmitted"] > 0


def test_one_phishing_campaign_by_id_and_an_unknown_id(demo_client: MimecastClient) -> None:
    campaigns = list_phishing_campaigns(demo_client)
    assert get_phishing_campaign(demo_client, campaigns[2]["id"]) == campaigns[2]
    with pytest.raises(MimecastAPIError, match="err_campaign_not_found"):
        get_phishing_campaign(demo_client, "no-such-phishing-campaign")


# -- phishing user data: data[0].items -------------------------------------------------------------


def test_phishing_user_data_pages_at_data0_items(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    campaign = list_phishing_campaigns(demo_client)[3]
    pages = list(iter_phishing_user_pages(demo_client, campaign["id"], None, 400))
    assert len(pages) == -(-campaign["numSent"] // 400) >= 5
    assert all("items" in page.data for page in pages)  # rows came from data[0].items
    emails = [row["email"] for page in pages for row in page.items]
    assert len(emails) == len(set(emails)) == campaign["numSent"]
    sent = bodies(demo_server, PHISHING_USER_DATA_PATH)
    assert sent[0] == {"meta": {"pagination": {"pageSize": 400}}, "data": [{"id": campaign["id"]}]}
    assert all("pageToken" in body["meta"]["pagination"] for body in sent[1:])


def test_phishing_rows_carry_the_quirks(effect_data: BehaviourData) -> None:
    all_rows = [row for rows in effect_data.phishing_users.values() for row in rows]
    statuses = Counter(row["status"] for row in all_rows)
    # Upper and lower case across rows, the same four values underneath.
    assert {s for s in statuses if s.isupper()} and {s for s in statuses if s.islower()}
    assert {s.lower() for s in statuses} == {"sent", "opened", "clicked", "submitted"}
    for row in all_rows:
        for name in TIME_FIELDS:
            assert row.get(name, "present") is not None  # absent, never null
        if "timeClicked" in row:
            assert row["status"].lower() in ("clicked", "submitted")
            assert row["timeScheduled"] <= row["timeOpened"] <= row["timeClicked"]
            assert row["clickedIp"] and isinstance(row["reactionTime"], int)
        else:
            assert row["status"].lower() in ("sent", "opened") and row["clickedIp"] == ""
    scanner_only = [r for r in all_rows if "timeScanned" in r and "timeClicked" not in r]
    assert 0 < len(scanner_only) < 0.02 * len(all_rows)  # a few
    assert any("timeReported" in r and "timeOpened" not in r for r in all_rows)
    # One distribution list, in every campaign.
    dl = effect_data.distribution_list
    assert all(
        sum(r["email"] == dl for r in rows) == 1 for rows in effect_data.phishing_users.values()
    )


def test_per_person_totals_repeat_on_every_campaign(
    demo_client: MimecastClient, effect_data: BehaviourData
) -> None:
    by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for campaign in list_phishing_campaigns(demo_client):
        for row in get_phishing_user_data(demo_client, campaign["id"]):
            by_email[row["email"]].append(row)
    repeated = 0
    for email, rows in by_email.items():
        totals = {tuple(row[f] for f in TOTAL_FIELDS) for row in rows}
        assert len(totals) == 1, email  # identical on every campaign's row
        first = rows[0]
        repeated += len(rows) > 1
        # Lifetime totals over every campaign, not the campaign at hand.
        assert first["numCampaignsSent"] == len(rows)
        assert first["numCampaignsClicked"] == sum("timeClicked" in r for r in rows)
        assert first["numCampaignsScanned"] == sum("timeScanned" in r for r in rows)
        assert first["numCampaignsClickedScanned"] == sum(
            "timeClicked" in r and "timeScanned" in r for r in rows
        )
    assert repeated > 2000
    dl = by_email[effect_data.distribution_list][0]
    assert dl["numTrainingModulesAssigned"] == dl["numCorrectAnswers"] == 0


def test_phishing_status_filter_takes_any_case_and_matches_any_case(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    cid = list_phishing_campaigns(demo_client)[4]["id"]
    everyone = get_phishing_user_data(demo_client, cid)
    wanted = PhishingUserFilter(("CLICKED", "submitted"))
    assert wanted.statuses == ("clicked", "submitted")
    rows = get_phishing_user_data(demo_client, cid, wanted, page_size=100)
    assert rows and {r["status"].lower() for r in rows} == {"clicked", "submitted"}
    assert len(rows) == sum(r["status"].lower() in ("clicked", "submitted") for r in everyone)
    assert bodies(demo_server, PHISHING_USER_DATA_PATH)[-1]["data"][0]["filterBy"] == [
        {"fieldName": "status", "value": "clicked"},
        {"fieldName": "status", "value": "submitted"},
    ]


def test_phishing_search_by_department_and_custom_attribute(
    demo_client: MimecastClient, demo: FakeDataset
) -> None:
    cid = list_phishing_campaigns(demo_client)[1]["id"]
    finance = get_phishing_user_data(
        demo_client, cid, PhishingUserFilter(search_field="department", search_value="finance")
    )
    assert finance and {r["department"] for r in finance} == {"Finance"}
    leeds = get_phishing_user_data(
        demo_client,
        cid,
        PhishingUserFilter(
            search_field="customAttribute", search_value="Leeds", attribute_ids=ATTRIBUTE_IDS
        ),
    )
    assert leeds and all("Leeds" in demo.attributes[r["email"]].values() for r in leeds)


# -- company endpoints: rows at data[] -------------------------------------------------------------


def test_safe_score_details_page_at_top_level_data(
    demo_client: MimecastClient, demo_server: FakeMimecastServer, effect_data: BehaviourData
) -> None:
    pages = list(iter_safe_score_pages(demo_client, page_size=400))
    assert len(pages) == -(-len(effect_data.safe_scores) // 400) >= 5
    assert all(page.data == {} for page in pages)
    rows = [row for page in pages for row in page.items]
    assert rows == effect_data.safe_scores
    assert all(set(r) >= {"emailAddress", "risk", "humanError", "knowledge"} for r in rows)
    assert all("email" not in r for r in rows)
    sent = bodies(demo_server, SAFE_SCORE_DETAILS_PATH)
    assert sent[0] == {"meta": {"pagination": {"pageSize": 400}}, "data": []}
    assert all("pageToken" in b["meta"]["pagination"] for b in sent[1:])


def test_safe_score_summary_counts_the_details(demo_client: MimecastClient) -> None:
    counts = get_safe_score_summary(demo_client)
    rows = get_safe_score_details(demo_client)
    expected = dict.fromkeys("abcdf", 0)
    for row in rows:
        expected[row["risk"].lower()] += 1
    assert counts == expected


def test_safe_score_filter_and_search(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    worst = get_safe_score_details(demo_client, SafeScoreFilter(("d", "F")), page_size=150)
    assert worst and {r["risk"] for r in worst} == {"D", "F"}
    assert bodies(demo_server, SAFE_SCORE_DETAILS_PATH)[0]["data"] == [
        {"filterBy": [{"fieldName": "risk", "value": "D"}, {"fieldName": "risk", "value": "F"}]}
    ]
    it = get_safe_score_details(
        demo_client,
        SafeScoreFilter(
            ("A",), grade_field="knowledge", search_field="department", search_value="IT"
        ),
    )
    # searchBy is a case-insensitive substring: "IT" also finds "Facilities".
    assert it and all(r["knowledge"] == "A" and "it" in r["department"].casefold() for r in it)
    assert {r["department"] for r in it} >= {"IT", "Facilities"}


def test_resuming_top_level_pages_from_a_saved_cursor(demo_client: MimecastClient) -> None:
    first = next(iter_safe_score_pages(demo_client, page_size=500))
    token = first.pagination["next"]
    cursor = PageCursor(
        token=token,
        seen_tokens=(token,),
        received=len(first.items),
        total_count=first.pagination["totalCount"],
    )
    rest = [row for page in iter_safe_score_pages(demo_client, start=cursor) for row in page.items]
    assert first.items + rest == get_safe_score_details(demo_client)


def test_watchlist_mixes_both_address_spellings(
    demo_client: MimecastClient, effect_data: BehaviourData
) -> None:
    rows = get_watchlist_details(demo_client, page_size=300)
    spellings = Counter(("email" in r, "emailAddress" in r) for r in rows)
    assert set(spellings) == {(True, False), (False, True)}  # one or the other, never both
    assert len({address(r) for r in rows}) == len(rows) == len(effect_data.watchlist)


@pytest.mark.parametrize("spelling", ["email", "emailAddress"])
def test_watchlist_spelling_can_be_one_throughout(
    demo_server: FakeMimecastServer,
    demo_client: MimecastClient,
    demo: FakeDataset,
    spelling: fake_behaviour.WatchlistEmailKey,
) -> None:
    demo_server.behaviour = build_behaviour(demo, watchlist_email_key=spelling)
    rows = get_watchlist_details(demo_client)
    assert rows and all(spelling in r and len(r) == 5 for r in rows)


@pytest.mark.parametrize(
    ("video_filter", "wanted"),
    [
        ("video_count_0", lambda n: n == 0),
        ("video_count_2", lambda n: n == 2),
        ("video_count_4_or_more", lambda n: n >= 4),
        ("video_count_1_or_more", lambda n: n >= 1),
    ],
)
def test_watchlist_video_filters(
    demo_client: MimecastClient, video_filter: str, wanted: Any
) -> None:
    everyone = get_watchlist_details(demo_client)
    rows = get_watchlist_details(demo_client, video_filter, page_size=250)
    assert rows and all(wanted(r["watchlistCount"]) for r in rows)
    assert len(rows) == sum(wanted(r["watchlistCount"]) for r in everyone)


def test_performance_filter_as_object_and_as_array_agree(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    as_object = get_performance_details(demo_client, video_filter="video_count_1")
    as_array = get_performance_details(
        demo_client, video_filter="video_count_1", filter_form="array", page_size=200
    )
    assert as_object == as_array and as_object
    assert all(r["numNotWatched"] == 1 for r in as_object)
    forms = [body["data"][0]["filterBy"] for body in bodies(demo_server, PERFORMANCE_DETAILS_PATH)]
    # The first fetch (two pages) sent the object form, the second (four pages) the array form.
    assert forms == [{"type": "video_count_1"}] * 2 + [[{"type": "video_count_1"}]] * 4
    everyone = get_performance_details(demo_client, video_filter="video_count_all")
    assert len(everyone) == len(get_performance_details(demo_client)) > len(as_object)


def test_performance_user_details_only_when_asked(demo_client: MimecastClient) -> None:
    plain = get_performance_details(demo_client, search_field="email", search_value="aisha.")
    detailed = get_performance_details(
        demo_client, True, search_field="email", search_value="aisha."
    )
    assert plain and all("userDetails" not in r for r in plain)
    assert [r["email"] for r in detailed] == [r["email"] for r in plain]
    for row in detailed:
        assert {"email", "numCorrect", "numIncorrect", "numNotWatched", "userState"} <= set(row)
        assert isinstance(row["userDetails"], list)  # shape unknown in the real API
        assert sum(d["numCorrect"] for d in row["userDetails"]) == row["numCorrect"]


def test_performance_pages_at_top_level_data(demo_client: MimecastClient) -> None:
    pages = list(iter_performance_pages(demo_client, page_size=500))
    assert len(pages) >= 5 and all(page.data == {} for page in pages)
    assert sum(len(p.items) for p in pages) == pages[0].pagination["totalCount"]


def test_training_queue(demo_client: MimecastClient, demo: FakeDataset) -> None:
    queue = get_training_queue(demo_client)
    assert len(queue) == len(demo.campaigns)
    for entry in queue:
        assert set(entry["title"]) == {"id", "title", "correctAnswer"}
        spread = entry["optionSpread"]
        assert set(spread) == {"option-1", "option-2", "option-3", "option-4"}
        assert spread[f"option-{entry['title']['correctAnswer']}"] == entry["numCorrect"]
        assert sum(spread.values()) <= entry["numCompleted"] <= entry["numSent"]
    assert sum(entry["customAnswer"] is not None for entry in queue) == 1


# -- input validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: PhishingUserFilter(("bounced",)), "'bounced' is not supported.*clicked"),
        (lambda: PhishingUserFilter(("sent", "SENT")), "repeats"),
        (lambda: PhishingUserFilter("clicked"), "sequence of statuses"),  # type: ignore[arg-type]
        (lambda: PhishingUserFilter(attribute_ids=("a", "b", "c", "d")), "at most 3"),
        (
            lambda: PhishingUserFilter(search_field="customAttribute", search_value="x"),
            "requires attributeIds",
        ),
        (lambda: SafeScoreFilter(("E",)), "grade 'E' is not supported"),
        (lambda: SafeScoreFilter(("A",), grade_field="mood"), "grade_field 'mood'"),
        (lambda: SafeScoreFilter(attribute_ids=("a", "b", "c", "d")), "at most 3"),
        (lambda: performance_request(video_filter="video_count_1_or_more"), "video_count_all"),
        (lambda: performance_request(video_filter="video_count_1", filter_form="list"), "array"),
        (lambda: performance_request(attribute_ids=("1", "2", "3", "4")), "at most 3"),
        (lambda: performance_request("yes"), "True or False"),  # type: ignore[arg-type]
    ],
)
def test_invalid_requests_raise_value_error_naming_the_fix(build: Any, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        build()


def test_invalid_calls_send_nothing(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    with pytest.raises(ValueError, match="video_count_1_or_more"):
        get_watchlist_details(demo_client, "video_count_all")
    with pytest.raises(ValueError, match="campaign_id is empty"):
        get_phishing_user_data(demo_client, " ")
    with pytest.raises(ValueError, match="campaign_id is empty"):
        get_phishing_campaign(demo_client, "")
    for size in (0, 501, True):
        with pytest.raises(ValueError, match="page_size"):
            iter_row_pages(demo_client, SAFE_SCORE_DETAILS_PATH, None, page_size=size)
    assert demo_server.requests == []


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (PHISHING_USER_DATA_PATH, {"data": []}, "err_validation_blank_id"),
        (PHISHING_USER_DATA_PATH, {"data": [{"id": "nope"}]}, "err_campaign_not_found"),
        (
            SAFE_SCORE_DETAILS_PATH,
            {"data": [{"attributeIds": ["1", "2", "3", "4"]}]},
            "err_validation_too_many_attribute_ids",
        ),
        (
            PERFORMANCE_DETAILS_PATH,
            {"data": [{"includeUserDetails": True}, {"includeUserDetails": False}]},
            "err_validation_request",
        ),
        (
            WATCHLIST_DETAILS_PATH,
            {"data": [{"filterBy": {"type": "video_count_all"}}]},
            "err_validation_filter_value",
        ),
        (
            SAFE_SCORE_DETAILS_PATH,
            {"data": [{"filterBy": [{"fieldName": "risk", "value": "E"}]}]},
            "err_validation_filter_value",
        ),
    ],
)
def test_the_fake_refuses_what_the_client_would_not_send(
    demo_client: MimecastClient, path: str, body: dict[str, Any], code: str
) -> None:
    with pytest.raises(MimecastAPIError, match=code) as info:
        demo_client.post(path, body)
    assert info.value.http_status == 400


def test_page_tokens_are_bound_to_their_endpoint(demo_client: MimecastClient) -> None:
    page = demo_client.post(WATCHLIST_DETAILS_PATH, {"meta": {"pagination": {"pageSize": 10}}})
    token = page["meta"]["pagination"]["next"]
    body = {"meta": {"pagination": {"pageSize": 10, "pageToken": token}}, "data": []}
    assert demo_client.post(WATCHLIST_DETAILS_PATH, body)["data"]
    with pytest.raises(MimecastAPIError, match="err_invalid_page_token"):
        demo_client.post(SAFE_SCORE_DETAILS_PATH, body)


# -- auth, rate limits and faults ------------------------------------------------------------------


def test_wrong_keys_are_refused_on_behaviour_paths(demo_server: FakeMimecastServer) -> None:
    settings = hmac_settings(demo_server, CREDS, app_key="wrong-app-key")
    with (
        MimecastClient(settings, sleep=SleepRecorder()) as client,
        pytest.raises(MimecastAPIError, match="err_xdk_invalid_signature"),
    ):
        get_training_queue(client)


def test_api_2_bearer_tokens_work_on_behaviour_paths(demo_server: FakeMimecastServer) -> None:
    with MimecastClient(oauth_settings(demo_server, CREDS), sleep=SleepRecorder()) as client:
        assert get_safe_score_summary(client)
    assert {r.auth_scheme for r in demo_server.requests if r.path.startswith("/api/")} == {"bearer"}


def test_rate_limit_fault_is_waited_out(
    demo_client: MimecastClient,
    demo_server: FakeMimecastServer,
    demo_sleeps: SleepRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    demo_server.inject("rate_limit", times=2, path=WATCHLIST_DETAILS_PATH, reset_ms=1500)
    with caplog.at_level(logging.WARNING):
        rows = get_watchlist_details(demo_client, page_size=500)
    assert len(rows) == len(get_watchlist_details(demo_client))
    statuses = [r.response_status for r in demo_server.requests]
    assert statuses[:3] == [429, 429, 200] and 429 not in statuses[3:]
    # Recorded, not slept: the shared gate asks again until the real reset time has passed.
    assert demo_sleeps.waits[:2] == [pytest.approx(1.5, abs=0.05)] * 2
    assert all(0 < wait <= 1.55 for wait in demo_sleeps.waits)


def test_real_rate_limit_window_on_row_pages(demo: FakeDataset, effect_data: BehaviourData) -> None:
    with FakeMimecastServer(
        demo, credentials=CREDS, behaviour=effect_data, rate_limit=3, rate_window_ms=300
    ) as limited:
        with MimecastClient(hmac_settings(limited, CREDS)) as client:
            rows = get_safe_score_details(client, page_size=400)
        statuses = [r.response_status for r in limited.requests]
    assert rows == effect_data.safe_scores
    assert 429 in statuses and statuses.count(200) == 6


def test_server_errors_and_retryable_failures_are_retried(
    demo_client: MimecastClient, demo_server: FakeMimecastServer, demo_sleeps: SleepRecorder
) -> None:
    demo_server.inject("server_error", path=PHISHING_CAMPAIGNS_PATH, status=503)
    demo_server.inject("fail_retryable", path=PHISHING_CAMPAIGNS_PATH)
    assert len(list_phishing_campaigns(demo_client)) >= 4
    assert len(demo_sleeps.waits) == 2


def test_permanent_failure_is_raised(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    demo_server.inject("fail_permanent", path=TRAINING_QUEUE_PATH, code="err_some_validation")
    with pytest.raises(MimecastAPIError, match="err_some_validation"):
        get_training_queue(demo_client)


def test_truncated_top_level_page_is_a_total_mismatch(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    demo_server.inject("truncated_page", path=SAFE_SCORE_DETAILS_PATH, drop=3)
    with pytest.raises(TotalCountMismatch, match="totalCount"):
        get_safe_score_details(demo_client, page_size=500)


@pytest.mark.parametrize(
    ("kind", "path", "pattern"),
    [
        ("repeat_token", WATCHLIST_DETAILS_PATH, "same page token"),
        ("empty_page_with_next", PERFORMANCE_DETAILS_PATH, "empty page"),
        ("token_cycle", SAFE_SCORE_DETAILS_PATH, "cycle"),
        ("repeat_token", PHISHING_USER_DATA_PATH, "same page token"),
        ("token_cycle", PHISHING_USER_DATA_PATH, "cycle"),
    ],
)
def test_looping_page_tokens_stop_on_both_shapes(
    demo_client: MimecastClient, demo_server: FakeMimecastServer, kind: str, path: str, pattern: str
) -> None:
    # One cycle is enough (each injection would plant a fresh ring); the others repeat.
    demo_server.inject(kind, times=1 if kind == "token_cycle" else 5, path=path)
    cid = list_phishing_campaigns(demo_client)[0]["id"]
    fetch = {
        WATCHLIST_DETAILS_PATH: lambda: get_watchlist_details(demo_client, page_size=100),
        PERFORMANCE_DETAILS_PATH: lambda: get_performance_details(demo_client, page_size=100),
        SAFE_SCORE_DETAILS_PATH: lambda: get_safe_score_details(demo_client, page_size=100),
        PHISHING_USER_DATA_PATH: lambda: get_phishing_user_data(demo_client, cid, page_size=100),
    }[path]
    with pytest.raises(PaginationError, match=pattern):
        fetch()
    assert len([r for r in demo_server.requests if r.path == path]) <= 4


def test_field_faults_reach_top_level_rows(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    demo_server.inject("missing_fields", path=SAFE_SCORE_DETAILS_PATH)
    demo_server.inject("wrong_types", path=TRAINING_QUEUE_PATH)
    rows = get_safe_score_details(demo_client)
    assert "emailAddress" not in rows[0] and "emailAddress" in rows[1]
    assert get_training_queue(demo_client)[0]["numSent"] == "2"  # unchanged by the client
    demo_server.inject("missing_fields", path=SAFE_SCORE_SUMMARY_PATH)
    with pytest.raises(MimecastResponseError, match="scoreCounts"):
        get_safe_score_summary(demo_client)


def test_meta_status_fault_is_seen(
    demo_client: MimecastClient, demo_server: FakeMimecastServer
) -> None:
    demo_server.inject("meta_status", path=PERFORMANCE_DETAILS_PATH, status=500)
    with pytest.raises(MimecastResponseError, match=r"meta\.status is 500"):
        get_performance_details(demo_client)


# -- the data: determinism, default derivation -----------------------------------------------------


def test_generation_is_deterministic(demo: FakeDataset, effect_data: BehaviourData) -> None:
    again = build_behaviour(demo)
    assert again == effect_data
    other = build_behaviour(demo, seed=1)
    assert other.phishing_users != effect_data.phishing_users
    # The same people, addresses and departments as the knowledge data.
    people = {i["email"]: i["department"] for items in demo.users.values() for i in items}
    assert {r["emailAddress"] for r in effect_data.safe_scores} <= set(people)
    assert all(people[r["emailAddress"]] == r["department"] for r in effect_data.safe_scores)
    assert {address(r) for r in effect_data.watchlist} == set(people)


def test_a_server_without_behaviour_derives_it_from_its_dataset(
    server: FakeMimecastServer, client: MimecastClient
) -> None:
    # The shared conftest server: a hand-made organisation, no behaviour given.
    campaigns = list_phishing_campaigns(client)
    assert len(campaigns) >= 4
    rows = get_phishing_user_data(client, campaigns[-1]["id"], page_size=200)
    assert len(rows) > 1000 and all(r["email"].endswith("@corp.example") for r in rows)
    assert behaviour_for(server) is behaviour_for(server)  # built once per dataset
    assert behaviour_for(server) == build_behaviour(server.dataset)
    assert len(list_campaigns(client)) == 2  # the knowledge endpoints are untouched
    assert len(get_user_data(client, UserDataQuery(SMALL_CAMPAIGN))) == 3


def test_effect_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match="click_if_correct"):
        BehaviourEffect(click_if_correct=1.5)
    assert not BehaviourEffect.none().has_effect and BehaviourEffect().has_effect
    assert BehaviourEffect.none().parameters()["department_click"] == {}
    assert BehaviourEffect.none(keep_departments=True).parameters()["department_click"]
    with pytest.raises(ValueError, match="watchlist_email_key"):
        build_behaviour(FakeDataset([], {}), watchlist_email_key="mail")  # type: ignore[arg-type]


# -- the effect: knowledge before a phishing campaign predicts behaviour in it ---------------------


@dataclass
class Rates:
    click_correct: float
    click_incorrect: float
    report_correct: float
    report_incorrect: float
    risk_correct: float  # mean grade position, 0 = A ... 4 = F
    risk_incorrect: float


def knowledge_meets_behaviour(client: MimecastClient) -> Rates:
    """Everything fetched through the client: each person's answers per knowledge campaign,
    then, in every phishing campaign launched after a knowledge campaign, click and report
    rates of people whose answers so far were all correct vs those with any wrong answer."""
    answers: dict[str, list[tuple[datetime, int, int]]] = defaultdict(list)
    for campaign in list_campaigns(client):
        launch = datetime.strptime(campaign["launchDate"], DATE)
        for item in get_user_data(client, UserDataQuery(campaign["id"])):
            results = list(item["results"].values())
            answers[item["email"]].append(
                (launch, results.count("CORRECT"), results.count("INCORRECT"))
            )
    clicks: dict[bool, list[bool]] = {True: [], False: []}
    reports: dict[bool, list[bool]] = {True: [], False: []}
    for campaign in list_phishing_campaigns(client):
        launch = datetime.strptime(campaign["launchDate"], DATE)
        for row in get_phishing_user_data(client, campaign["id"]):
            before = [(c, i) for t, c, i in answers.get(row["email"], []) if t < launch]
            if not any(c + i for c, i in before):
                continue  # nothing answered yet: not in either group
            all_correct = not any(i for _, i in before)
            clicks[all_correct].append("timeClicked" in row)
            reports[all_correct].append("timeReported" in row)
    grades: dict[bool, list[int]] = {True: [], False: []}
    for row in get_safe_score_details(client):
        given = answers.get(row["emailAddress"], [])
        correct, incorrect = sum(c for _, c, _ in given), sum(i for _, _, i in given)
        if correct + incorrect:
            grades[correct / (correct + incorrect) >= 0.8].append("ABCDF".index(row["risk"]))

    def mean(values: list[Any]) -> float:
        assert len(values) > 300  # both groups are large
        return sum(values) / len(values)

    return Rates(
        mean(clicks[True]),
        mean(clicks[False]),
        mean(reports[True]),
        mean(reports[False]),
        mean(grades[True]),
        mean(grades[False]),
    )


def test_correct_answerers_click_less_report_more_and_grade_better_later(
    demo_client: MimecastClient,
) -> None:
    rates = knowledge_meets_behaviour(demo_client)
    assert rates.click_incorrect - rates.click_correct > 0.05
    assert rates.report_correct - rates.report_incorrect > 0.05
    assert rates.risk_incorrect - rates.risk_correct > 0.5


def test_the_no_effect_variant_has_nothing_to_find(
    demo: FakeDataset, null_data: BehaviourData
) -> None:
    with (
        FakeMimecastServer(demo, credentials=CREDS, behaviour=null_data) as null_server,
        MimecastClient(hmac_settings(null_server, CREDS)) as client,
    ):
        rates = knowledge_meets_behaviour(client)
    assert abs(rates.click_incorrect - rates.click_correct) < 0.03
    assert abs(rates.report_correct - rates.report_incorrect) < 0.03


def test_the_baseline_campaign_precedes_all_knowledge(
    demo: FakeDataset, effect_data: BehaviourData
) -> None:
    first_knowledge = min(datetime.strptime(c["launchDate"], DATE) for c in demo.campaigns)
    launches = [datetime.strptime(c["launchDate"], DATE) for c in effect_data.phishing_campaigns]
    assert min(launches) < first_knowledge
    assert sum(launch > first_knowledge for launch in launches) >= 4
