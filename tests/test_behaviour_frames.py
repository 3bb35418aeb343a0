"""Tests of the frames built from the phishing, SAFE score, watchlist, performance and queue
endpoints, and of the people join."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest

from awareness_analysis.analysis.privacy import person_keys
from awareness_analysis.data.behaviour import (
    JOIN_REPORT_DTYPES,
    MODULE_OPTION_DTYPES,
    PEOPLE_DTYPES,
    PERFORMANCE_DTYPES,
    PHISH_CAMPAIGN_DTYPES,
    PHISH_STATUS_DTYPE,
    PHISH_TEMPLATE_DTYPES,
    PHISH_USER_DTYPES,
    PHISH_USER_TOTALS_DTYPES,
    RISK_DTYPE,
    SAFE_SCORE_DTYPES,
    SAFE_SUMMARY_DTYPES,
    TRAINING_MODULE_DTYPES,
    WATCHLIST_DTYPES,
    module_options_frame,
    normalise_email,
    people_frame,
    performance_frame,
    person_key,
    phish_campaigns_frame,
    phish_templates_frame,
    phish_user_totals_frame,
    phish_users_frame,
    safe_scores_frame,
    safe_summary_frame,
    training_modules_frame,
    watchlist_frame,
)
from awareness_analysis.data.frames import build_frames
from awareness_analysis.errors import MimecastResponseError

UTC = "UTC"


def dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {str(column): str(dtype) for column, dtype in frame.dtypes.items()}


def assert_dtypes(frame: pd.DataFrame, expected: dict[str, str]) -> None:
    actual = dtypes(frame)
    assert list(actual) == list(expected)
    for column, dtype in expected.items():
        assert actual[column] in dtype.split("|"), (column, actual[column], dtype)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


# -- raw records, as the API sends them -----------------------------------------------------------


def phish_campaign(cid: str, launch: str | None, **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": cid,
        "name": f"Lure {cid}",
        "templates": [{"id": f"{cid}-t1", "displayTitle": "Invoice overdue"}],
        "sender": {"name": "IT Desk", "email": "it-desk@lure.example"},
        "group": {"id": "g1", "description": "All staff", "userCount": 5},
        "launchDate": launch,
        "locale": "en-GB",
        "locked": False,
        "timeSlotSelected": "morning",
        "numSent": 5,
        "numOpened": 3,
        "numClicked": 2,
        "numSubmitted": 1,
    }
    raw.update(extra)
    return raw


OLD = phish_campaign("p0", "2026-03-01T09:00:00Z", templates=[])
NEW = phish_campaign(
    "p1",
    "2026-10-20T07:30:00+0000",
    templates=[
        {"id": "t1", "displayTitle": "Invoice overdue", "extra": 1},
        {"id": 7, "displayTitle": "Parcel waiting"},
    ],
    numReported=2,
    somethingNew={"ignored": True},
)
CAMPAIGNS = [NEW, OLD]  # not in launch order on purpose


def totals(sent: int, clicked: int) -> dict[str, int]:
    return {
        "numCampaignsSent": sent,
        "numCampaignsClicked": clicked,
        "numCampaignsScanned": 1,
        "numCampaignsClickedScanned": 0,
        "numTrainingModulesAssigned": 4,
        "numCorrectAnswers": 10,
        "numIncorrectAnswers": 2,
    }


def phish_item(email: str, status: str | None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "email": email,
        "name": "Some One",
        "department": "Sales",
        "templateName": "Invoice overdue",
        "userState": "ACTIVE",
        "timeScheduled": "2026-10-20T07:30:00+0000",
        "clickedIp": "203.0.113.9",
    }
    if status is not None:
        item["status"] = status
    item.update(extra)
    return item


ALICE_NEW = phish_item(
    "  Alice@Example.COM ",
    "CLICKED",
    name="Alice Smith",
    timeOpened="2026-10-20T08:00:00+0000",
    timeClicked="2026-10-20T08:01:30+0200",
    reactionTime=90,
    **totals(sent=2, clicked=2),
)
BOB_SCANNER = phish_item(
    "bob@example.com", "sent", timeScanned="2026-10-20T07:30:05+0000", **totals(2, 0)
)
LIST_ADDRESS = phish_item("all-staff@example.com", "Opened", timeOpened="2026-10-20T09:00:00+0000")
CAROL = phish_item(
    "carol@example.com",
    "submitted",
    timeOpened="2026-10-20T09:00:00+0000",
    timeClicked="2026-10-20T09:01:00+0000",
    timeSubmitted="2026-10-20T09:02:00+0000",
    timeReported="2026-10-20T09:05:00+0000",
    department="",
)
DAVE_NO_STATUS = phish_item(
    "dave@example.com", None, timeOpened="2026-10-20T10:00:00+0000", timeClicked=""
)
ALICE_OLD = phish_item("alice@example.com", "sent", name="Alice S.", **totals(sent=1, clicked=0))
BOB_OLD = phish_item("bob@example.com", "SENT", **totals(2, 0))

USER_ITEMS = {
    "p1": [ALICE_NEW, BOB_SCANNER, LIST_ADDRESS, CAROL, DAVE_NO_STATUS],
    "p0": [ALICE_OLD, BOB_OLD],
    "p9": [phish_item("erin@example.com", "sent")],  # a campaign get-campaign did not list
}


# -- phishing campaigns ---------------------------------------------------------------------------


def test_phish_campaigns_frame() -> None:
    frame = phish_campaigns_frame(CAMPAIGNS)
    assert_dtypes(frame, PHISH_CAMPAIGN_DTYPES)
    assert frame["phish_campaign_id"].tolist() == ["p0", "p1"]  # launch order
    assert frame["phish_campaign_id"].cat.categories.tolist() == ["p0", "p1"]
    assert frame["launch_date"].tolist() == [ts("2026-03-01 09:00"), ts("2026-10-20 07:30")]
    # numReported is undocumented: absent is unknown, not zero.
    assert frame["num_reported"].isna().tolist() == [True, False]
    assert frame["num_reported"].iloc[1] == 2
    assert frame["n_templates"].tolist() == [0, 2]
    row = frame.iloc[1]
    assert (row["sender_name"], row["sender_email"]) == ("IT Desk", "it-desk@lure.example")
    assert (row["group_name"], row["group_user_count"]) == ("All staff", 5)
    assert (row["num_sent"], row["num_opened"], row["num_clicked"]) == (5, 3, 2)
    assert row["time_slot_selected"] == "morning"
    assert "somethingNew" not in frame.columns


def test_phish_campaign_defaults() -> None:
    frame = phish_campaigns_frame(
        [{"id": "bare", "timeSlotSelected": {"from": 9, "to": 12}}, {"id": "a"}]
    )
    assert frame["phish_campaign_id"].tolist() == ["a", "bare"]  # undated: by id
    assert frame["launch_date"].isna().all()
    assert frame["num_sent"].tolist() == [0, 0]
    assert frame["locked"].tolist() == [False, False]
    assert frame["group_name"].tolist() == ["", ""]
    assert frame["time_slot_selected"].tolist() == ["", '{"from":9,"to":12}']


def test_phish_templates_frame() -> None:
    frame = phish_templates_frame(CAMPAIGNS)
    assert_dtypes(frame, PHISH_TEMPLATE_DTYPES)
    assert frame["phish_campaign_id"].tolist() == ["p1", "p1"]
    assert frame["phish_campaign_id"].cat.categories.tolist() == ["p0", "p1"]
    assert frame["template_id"].tolist() == ["t1", "7"]
    assert frame["template_title"].tolist() == ["Invoice overdue", "Parcel waiting"]


# -- phishing user data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def phish_users() -> pd.DataFrame:
    return phish_users_frame(USER_ITEMS, CAMPAIGNS)


def row_of(frame: pd.DataFrame, campaign: str, email: str) -> pd.Series:
    rows = frame[(frame["phish_campaign_id"] == campaign) & (frame["email"] == email)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_phish_users_columns_and_order(phish_users: pd.DataFrame) -> None:
    assert_dtypes(phish_users, PHISH_USER_DTYPES)
    assert phish_users["status"].dtype == PHISH_STATUS_DTYPE
    assert phish_users["status"].cat.ordered
    # Campaigns in launch order, then ids only in the user data; email order within.
    assert phish_users["phish_campaign_id"].cat.categories.tolist() == ["p0", "p1", "p9"]
    assert list(zip(phish_users["phish_campaign_id"], phish_users["email"], strict=True)) == [
        ("p0", "alice@example.com"),
        ("p0", "bob@example.com"),
        ("p1", "alice@example.com"),
        ("p1", "all-staff@example.com"),
        ("p1", "bob@example.com"),
        ("p1", "carol@example.com"),
        ("p1", "dave@example.com"),
        ("p9", "erin@example.com"),
    ]
    assert row_of(phish_users, "p9", "erin@example.com")["phish_campaign_name"] == ""
    assert row_of(phish_users, "p1", "bob@example.com")["phish_campaign_name"] == "Lure p1"


def test_phish_users_email_and_defaults(phish_users: pd.DataFrame) -> None:
    alice = row_of(phish_users, "p1", "alice@example.com")
    assert alice["email_raw"] == "  Alice@Example.COM "
    assert alice["email_domain"] == "example.com"
    assert alice["reaction_time_raw"] == 90.0
    assert row_of(phish_users, "p1", "carol@example.com")["department"] == "(unassigned)"
    assert np.isnan(row_of(phish_users, "p1", "bob@example.com")["reaction_time_raw"])
    # A distribution list is one address, one row: never expanded.
    assert (phish_users["email"] == "all-staff@example.com").sum() == 1


def test_phish_users_status_lowercase_and_ordered(phish_users: pd.DataFrame) -> None:
    statuses = {
        email: str(row_of(phish_users, "p1", email)["status"])
        for email in ["alice@example.com", "all-staff@example.com", "carol@example.com"]
    }
    assert statuses == {
        "alice@example.com": "clicked",  # sent as CLICKED
        "all-staff@example.com": "opened",  # sent as Opened
        "carol@example.com": "submitted",
    }
    assert row_of(phish_users, "p0", "bob@example.com")["status"] == "sent"  # sent as SENT
    p1 = phish_users[phish_users["phish_campaign_id"] == "p1"]
    assert (p1["status"] >= "clicked").sum() == 2
    # No status: the furthest event with a time (timeClicked "" is absent).
    assert row_of(phish_users, "p1", "dave@example.com")["status"] == "opened"


def test_phish_users_times(phish_users: pd.DataFrame) -> None:
    alice = row_of(phish_users, "p1", "alice@example.com")
    assert alice["time_clicked"] == ts("2026-10-20 06:01:30")  # +0200 converted to UTC
    assert alice["time_opened"] == ts("2026-10-20 08:00")
    assert alice["time_scheduled"] == ts("2026-10-20 07:30")
    assert pd.isna(alice["time_submitted"]) and pd.isna(alice["time_scanned"])
    assert str(alice["time_clicked"].tz) == "UTC"
    assert pd.isna(row_of(phish_users, "p1", "dave@example.com")["time_clicked"])


def test_phish_users_flags(phish_users: pd.DataFrame) -> None:
    flags = ["opened", "clicked", "submitted", "reported", "scanned"]

    def of(campaign: str, email: str) -> list[bool]:
        return [bool(row_of(phish_users, campaign, email)[flag]) for flag in flags]

    assert of("p1", "alice@example.com") == [True, True, False, False, False]
    assert of("p1", "carol@example.com") == [True, True, True, True, False]
    assert of("p1", "dave@example.com") == [True, False, False, False, False]
    # A security scanner followed the link: scanned, but no person clicked.
    assert of("p1", "bob@example.com") == [False, False, False, False, True]
    p1 = phish_users[phish_users["phish_campaign_id"] == "p1"]
    assert int(p1["clicked"].sum()) == 2
    assert int(p1["scanned"].sum()) == 1


def test_clicked_when_only_the_status_or_only_the_time_says_so() -> None:
    frame = phish_users_frame(
        {
            "p1": [
                phish_item("a@x.example", "clicked"),  # no time
                phish_item("b@x.example", "sent", timeClicked="2026-10-20T08:00:00+0000"),
            ]
        },
        CAMPAIGNS,
    )
    assert frame["clicked"].tolist() == [True, True]
    assert frame["opened"].tolist() == [True, False]


def test_clicked_ip_dropped_unless_asked_for(phish_users: pd.DataFrame) -> None:
    assert "clicked_ip" not in phish_users.columns
    assert not any("ip" in column.split("_") for column in phish_users.columns)
    kept = phish_users_frame(USER_ITEMS, CAMPAIGNS, keep_clicked_ip=True)
    assert list(kept.columns) == [*PHISH_USER_DTYPES, "clicked_ip"]
    assert str(kept["clicked_ip"].dtype) == "str"
    assert set(kept["clicked_ip"]) == {"203.0.113.9"}


def test_totals_are_not_user_columns(phish_users: pd.DataFrame) -> None:
    assert not any(column.startswith("num_") for column in phish_users.columns)


def test_phish_user_totals_one_row_per_person_from_the_latest_campaign() -> None:
    frame = phish_user_totals_frame(USER_ITEMS, CAMPAIGNS)
    assert_dtypes(frame, PHISH_USER_TOTALS_DTYPES)
    assert frame["email"].tolist() == [
        "alice@example.com",
        "all-staff@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "erin@example.com",
    ]
    alice = frame.iloc[0]
    # Alice's totals are on both campaigns' rows; taken from p1 (latest launch), not summed.
    assert alice["num_campaigns_sent"] == 2
    assert alice["num_campaigns_clicked"] == 2
    assert alice["num_correct_answers"] == 10
    assert alice["n_rows"] == 2
    assert bool(alice["totals_disagree"])
    assert alice["totals_phish_campaign_id"] == "p1"
    assert (alice["email_raw"], alice["name"]) == ("  Alice@Example.COM ", "Alice Smith")
    bob = frame.iloc[2]
    assert (bob["num_campaigns_sent"], bob["n_rows"], bool(bob["totals_disagree"])) == (2, 2, False)
    # Absent totals are unknown, not zero.
    carol = frame.iloc[3]
    assert pd.isna(carol["num_campaigns_sent"])
    assert carol["department"] == "(unassigned)"
    assert int(frame["num_campaigns_sent"].sum()) == 2 + 2


def test_totals_latest_launch_beats_api_and_undated_order() -> None:
    undated = phish_campaign("p5", None)
    items = {
        "p5": [phish_item("a@x.example", "sent", **totals(9, 9))],
        "p1": [phish_item("a@x.example", "sent", **totals(3, 1))],
        "p0": [phish_item("a@x.example", "sent", **totals(1, 1))],
        "zz": [phish_item("A@X.example", "sent", **totals(8, 8))],  # not listed: no date
    }
    frame = phish_user_totals_frame(items, [undated, OLD, NEW])
    assert len(frame) == 1
    assert frame["totals_phish_campaign_id"].iloc[0] == "p1"
    assert frame["num_campaigns_sent"].iloc[0] == 3
    assert frame["n_rows"].iloc[0] == 4


# -- SAFE scores ----------------------------------------------------------------------------------


def test_safe_scores_letters_and_numbers() -> None:
    rows = [
        {
            "emailAddress": "Alice@Example.com",
            "name": "Alice Smith",
            "department": "Sales",
            "risk": "B",
            "humanError": "a",
            "sentiment": 3,
            "engagement": None,
            "knowledge": "F",
            "userState": "ACTIVE",
        },
        {
            "email": "bob@example.com",  # the other spelling
            "risk": "f",
            "humanError": "C",
            "sentiment": "4.5",
            "knowledge": "B",
        },
    ]
    frame = safe_scores_frame(rows)
    assert_dtypes(frame, SAFE_SCORE_DTYPES)
    assert frame["email"].tolist() == ["alice@example.com", "bob@example.com"]
    assert frame["email_raw"].tolist() == ["Alice@Example.com", "bob@example.com"]
    assert frame["risk"].dtype == RISK_DTYPE
    assert frame["risk"].tolist() == ["B", "F"]
    assert frame["risk"].iloc[0] < frame["risk"].iloc[1]  # ordered A < B < C < D < F
    assert frame.attrs["scales"] == {
        "human_error": "letter",
        "sentiment": "numeric",
        "engagement": "numeric",  # no value at all
        "knowledge": "letter",
    }
    assert frame["human_error"].dtype == RISK_DTYPE
    assert frame["human_error"].tolist() == ["A", "C"]
    assert frame["sentiment"].dtype == np.float64
    assert frame["sentiment"].tolist() == [3.0, 4.5]
    assert frame["engagement"].isna().all()
    assert (frame["name"].iloc[1], frame["department"].iloc[1]) == ("", "(unassigned)")
    assert frame["user_state"].iloc[1] == "UNKNOWN"


def test_safe_component_mixing_letters_and_numbers_is_an_error() -> None:
    rows = [
        {"emailAddress": "a@x.example", "knowledge": 70},
        {"emailAddress": "b@x.example", "knowledge": "B"},
    ]
    with pytest.raises(MimecastResponseError) as error:
        safe_scores_frame(rows)
    message = str(error.value)
    assert "'knowledge'" in message
    assert "company/get-safe-score-details" in message
    assert "'B'" in message and "b@x.example" in message


def test_safe_summary_frame() -> None:
    payload = {"meta": {"status": 200}, "data": [{"scoreCounts": {"a": 5, "b": 3, "D": 1, "f": 1}}]}
    frame = safe_summary_frame(payload)
    assert_dtypes(frame, SAFE_SUMMARY_DTYPES)
    assert frame["risk"].dtype == RISK_DTYPE
    assert frame["risk"].tolist() == ["A", "B", "C", "D", "F"]
    assert frame["count"].tolist() == [5, 3, 0, 1, 1]
    assert frame["share"].tolist() == pytest.approx([0.5, 0.3, 0.0, 0.1, 0.1])
    same = safe_summary_frame({"scoreCounts": {"a": 5, "b": 3, "d": 1, "f": 1, "x": 7}})
    pd.testing.assert_frame_equal(frame, same)
    empty = safe_summary_frame({"data": [{"scoreCounts": {}}]})
    assert empty["count"].tolist() == [0] * 5
    assert empty["share"].isna().all()


# -- watchlist and performance --------------------------------------------------------------------


def test_watchlist_accepts_both_spellings() -> None:
    rows = [
        {"email": "Alice@Example.com", "name": "Alice", "watchlistCount": 3, "userState": "A"},
        {"emailAddress": "bob@example.com", "department": "Ops", "watchlistCount": 1},
        {"email": "carol@example.com", "emailAddress": " CAROL@example.com"},  # both, same
    ]
    frame = watchlist_frame(rows)
    assert_dtypes(frame, WATCHLIST_DTYPES)
    assert frame["email"].tolist() == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert frame["watchlist_count"].tolist() == [3, 1, 0]
    assert frame["department"].tolist() == ["(unassigned)", "Ops", "(unassigned)"]


def test_conflicting_address_spellings_are_an_error() -> None:
    with pytest.raises(MimecastResponseError, match=r"'emailAddress'.*watchlist"):
        watchlist_frame([{"email": "a@x.example", "emailAddress": "b@x.example"}])


def test_performance_frame() -> None:
    rows = [
        {
            "email": "alice@example.com",
            "name": "Alice",
            "numCorrect": 8,
            "numIncorrect": 2,
            "numNotWatched": 1,
            "userDetails": {"b": [1, 2], "a": "é"},
        },
        {"emailAddress": "bob@example.com"},
    ]
    frame = performance_frame(rows)
    assert_dtypes(frame, PERFORMANCE_DTYPES)
    assert frame["num_correct"].tolist() == [8, 0]
    assert frame["num_not_watched"].tolist() == [1, 0]
    assert frame["user_details_json"].tolist() == ['{"a":"é","b":[1,2]}', "null"]


# -- training queue -------------------------------------------------------------------------------

QUEUE = [
    {
        "id": "q2",
        "title": {"id": "m2", "title": "Password_Hygiene", "correctAnswer": 3},
        "launchDate": "2026-05-01T09:00:00+0000",
        "numSent": 10,
        "numCompleted": 7,
        "numCorrect": 5,
        "locked": True,
        "assignToNewUsers": True,
        "customAnswer": {
            "answerNumber": "option-2",
            "safetyTip": "Use a manager",
            "correctAnswer": False,
        },
        "optionSpread": {"option-3": 5, "option-1": 1, "option-2": 1, "option-4": 0, "other": 9},
    },
    {
        "id": "q1",
        "title": {"id": "m1", "title": "Phishing_Basics"},
        "launchDate": "2026-01-01T09:00:00+0000",
        "optionSpread": {"option-1": 2, "option-2": 4},
    },
]


def test_training_modules_frame() -> None:
    frame = training_modules_frame(QUEUE)
    assert_dtypes(frame, TRAINING_MODULE_DTYPES)
    assert frame["queue_id"].tolist() == ["q1", "q2"]
    assert frame["module_title"].tolist() == ["Phishing Basics", "Password Hygiene"]
    q2 = frame.iloc[1]
    assert (q2["num_sent"], q2["num_completed"], q2["num_correct"]) == (10, 7, 5)
    assert bool(q2["locked"]) and bool(q2["assign_to_new_users"])
    assert (q2["correct_answer"], q2["custom_answer_number"]) == (3, 2)
    assert (q2["custom_safety_tip"], q2["custom_correct_answer"]) == ("Use a manager", "false")
    assert q2["n_options"] == 4
    q1 = frame.iloc[0]
    assert pd.isna(q1["correct_answer"]) and pd.isna(q1["custom_answer_number"])
    assert (q1["num_sent"], bool(q1["locked"]), q1["custom_correct_answer"]) == (0, False, "")


def test_module_options_frame() -> None:
    frame = module_options_frame(QUEUE)
    assert_dtypes(frame, MODULE_OPTION_DTYPES)
    assert list(zip(frame["queue_id"], frame["option"], frame["count"], strict=True)) == [
        ("q1", 1, 2),
        ("q1", 2, 4),
        ("q2", 1, 1),
        ("q2", 2, 1),
        ("q2", 3, 5),
        ("q2", 4, 0),
    ]
    assert frame["queue_id"].cat.categories.tolist() == ["q1", "q2"]
    q2 = frame[frame["queue_id"] == "q2"]
    assert q2["is_correct"].tolist() == [False, False, True, False]
    assert q2["is_custom"].tolist() == [False, True, False, False]
    assert frame[frame["queue_id"] == "q1"]["is_correct"].isna().all()


# -- empty input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: phish_campaigns_frame([]), PHISH_CAMPAIGN_DTYPES),
        (lambda: phish_templates_frame([]), PHISH_TEMPLATE_DTYPES),
        (lambda: phish_users_frame({}, []), PHISH_USER_DTYPES),
        (lambda: phish_user_totals_frame({}, []), PHISH_USER_TOTALS_DTYPES),
        (lambda: safe_scores_frame([]), SAFE_SCORE_DTYPES),
        (lambda: watchlist_frame([]), WATCHLIST_DTYPES),
        (lambda: performance_frame([]), PERFORMANCE_DTYPES),
        (lambda: training_modules_frame([]), TRAINING_MODULE_DTYPES),
        (lambda: module_options_frame([]), MODULE_OPTION_DTYPES),
    ],
)
def test_empty_input_gives_the_documented_columns(build: Any, expected: dict[str, str]) -> None:
    frame = build()
    assert len(frame) == 0
    assert_dtypes(frame, expected)


# -- bad data -------------------------------------------------------------------------------------


def with_change(raw: dict[str, Any], **change: Any) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    changed.update(change)
    return changed


BAD_CASES: list[tuple[str, Any, str, str]] = [
    (
        "numSent",
        lambda: phish_campaigns_frame([with_change(NEW, numSent="abc")]),
        "phishing/campaign/get-campaign",
        "'abc'",
    ),
    (
        "launchDate",
        lambda: phish_campaigns_frame([with_change(NEW, launchDate="2026-10-20T07:30:00")]),
        "phishing/campaign/get-campaign",
        "UTC offset",
    ),
    (
        "id",
        lambda: phish_campaigns_frame([NEW, NEW]),
        "phishing/campaign/get-campaign",
        "'p1'",
    ),
    (
        "templates[0].id",
        lambda: phish_campaigns_frame([with_change(NEW, templates=[{"displayTitle": "x"}])]),
        "phishing/campaign/get-campaign",
        "None",
    ),
    (
        "status",
        lambda: phish_users_frame({"p1": [phish_item("a@x.example", "bogus")]}, CAMPAIGNS),
        "phishing/campaign/get-user-data",
        "'bogus'",
    ),
    (
        "timeClicked",
        lambda: phish_users_frame(
            {"p1": [phish_item("a@x.example", "clicked", timeClicked="yesterday")]}, CAMPAIGNS
        ),
        "phishing/campaign/get-user-data",
        "'yesterday'",
    ),
    (
        "reactionTime",
        lambda: phish_users_frame(
            {"p1": [phish_item("a@x.example", "sent", reactionTime="fast")]}, CAMPAIGNS
        ),
        "phishing/campaign/get-user-data",
        "'fast'",
    ),
    (
        "numCampaignsSent",
        lambda: phish_user_totals_frame(
            {"p1": [phish_item("a@x.example", "sent", numCampaignsSent=-1)]}, CAMPAIGNS
        ),
        "phishing/campaign/get-user-data",
        "-1",
    ),
    (
        "email",
        lambda: phish_users_frame({"p1": [phish_item("   ", "sent")]}, CAMPAIGNS),
        "phishing/campaign/get-user-data",
        "'   '",
    ),
    (
        "risk",
        lambda: safe_scores_frame([{"emailAddress": "a@x.example", "risk": "E"}]),
        "company/get-safe-score-details",
        "'E'",
    ),
    (
        "emailAddress",
        lambda: safe_scores_frame([{"name": "nobody"}]),
        "company/get-safe-score-details",
        "None",
    ),
    (
        "sentiment",
        lambda: safe_scores_frame([{"emailAddress": "a@x.example", "sentiment": True}]),
        "company/get-safe-score-details",
        "True",
    ),
    (
        "data[0].scoreCounts.b",
        lambda: safe_summary_frame({"data": [{"scoreCounts": {"a": 1, "b": "many"}}]}),
        "company/get-safe-score-summary",
        "'many'",
    ),
    (
        "watchlistCount",
        lambda: watchlist_frame([{"email": "a@x.example", "watchlistCount": 1.5}]),
        "company/get-watchlist-details",
        "1.5",
    ),
    (
        "numNotWatched",
        lambda: performance_frame([{"email": "a@x.example", "numNotWatched": "2"}]),
        "company/get-performance-details",
        "'2'",
    ),
    (
        "title.correctAnswer",
        lambda: training_modules_frame([with_change(QUEUE[0], title={"correctAnswer": "x"})]),
        "queue/get-queue",
        "'x'",
    ),
    (
        "optionSpread.option-2",
        lambda: module_options_frame(
            [with_change(QUEUE[0], optionSpread={"option-1": 1, "option-2": 0.5})]
        ),
        "queue/get-queue",
        "0.5",
    ),
    (
        "locked",
        lambda: training_modules_frame([with_change(QUEUE[0], locked="yes")]),
        "queue/get-queue",
        "'yes'",
    ),
]


@pytest.mark.parametrize(
    ("field", "build", "endpoint", "value"), BAD_CASES, ids=[case[0] for case in BAD_CASES]
)
def test_bad_values_name_endpoint_field_and_value(
    field: str, build: Any, endpoint: str, value: str
) -> None:
    with pytest.raises(MimecastResponseError) as error:
        build()
    message = str(error.value)
    assert f"field {field!r}" in message
    assert endpoint in message
    assert value in message


def test_bad_shapes_are_response_errors() -> None:
    with pytest.raises(MimecastResponseError, match="expected a list"):
        phish_campaigns_frame({"id": "p1"})  # type: ignore[arg-type]
    with pytest.raises(MimecastResponseError, match="mapping of phishing campaign id"):
        phish_users_frame([ALICE_NEW], CAMPAIGNS)  # type: ignore[arg-type]
    with pytest.raises(MimecastResponseError, match="item #0 for campaign 'p1'"):
        phish_users_frame({"p1": ["alice@example.com"]}, CAMPAIGNS)  # type: ignore[list-item]
    with pytest.raises(MimecastResponseError, match="not valid Unicode"):
        watchlist_frame([{"email": "a@x.example", "name": "bad \ud800"}])


def test_the_error_names_the_campaign_and_user() -> None:
    with pytest.raises(MimecastResponseError) as error:
        phish_users_frame({"p1": [ALICE_NEW, phish_item("Bob@x.example", "lost")]}, CAMPAIGNS)
    assert "item #1 for campaign 'p1' (user 'Bob@x.example')" in str(error.value)


# -- people ---------------------------------------------------------------------------------------


def campaign_users() -> pd.DataFrame:
    campaign = {"id": "c1", "name": "Module 1", "launchDate": "2026-02-01T09:00:00+0000"}
    items = {
        "c1": [
            {"email": "Alice@Old-Example.com", "name": "Alice (2019)", "department": "Sales"},
            {"email": "frank@example.com", "name": "Frank", "department": ""},
        ]
    }
    return build_frames([campaign], items).users


@pytest.fixture(scope="module")
def sources() -> dict[str, pd.DataFrame]:
    return {
        "campaigns": campaign_users(),
        "phish_users": phish_users_frame(USER_ITEMS, CAMPAIGNS),
        "phish_totals": phish_user_totals_frame(USER_ITEMS, CAMPAIGNS),
        "safe_scores": safe_scores_frame(
            [
                {"emailAddress": "alice@old-example.com", "risk": "B", "knowledge": 71},
                {"emailAddress": "gina@example.com", "name": "Gina", "risk": "D"},
            ]
        ),
        "watchlist": watchlist_frame(
            [{"email": "ALICE@example.com", "name": "Alice Smith", "watchlistCount": 2}]
        ),
        "performance": performance_frame(
            [{"email": "bob@example.com", "department": "Ops", "numCorrect": 4}]
        ),
    }


def test_people_frame_joins_alias_spellings(sources: dict[str, pd.DataFrame]) -> None:
    people, _ = people_frame(sources, {"Old-Example.com": "example.com"})
    assert list(people.columns)[: len(PEOPLE_DTYPES)] == list(PEOPLE_DTYPES)
    assert_dtypes(people[list(PEOPLE_DTYPES)], PEOPLE_DTYPES)
    assert people["person"].tolist() == [
        "alice@example.com",
        "all-staff@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "erin@example.com",
        "frank@example.com",
        "gina@example.com",
    ]
    alice = people.iloc[0]
    # Both spellings (old domain in campaigns and SAFE, new one elsewhere) are one person.
    assert alice["n_sources"] == 5
    assert [name for name in sources if alice[f"in_{name}"]] == [
        "campaigns",
        "phish_users",
        "phish_totals",
        "safe_scores",
        "watchlist",
    ]
    # Name: SAFE has none, performance lacks Alice, the watchlist has one.
    assert (alice["name"], alice["name_source"]) == ("Alice Smith", "watchlist")
    # Department: the first source by priority with a real department.
    assert (alice["department"], alice["department_source"]) == ("Sales", "phish_totals")
    assert alice["safe_risk"] == "B"
    assert alice["safe_knowledge"] == 71.0
    assert alice["watchlist_count"] == 2
    assert alice["phish_num_campaigns_sent"] == 2
    assert pd.isna(alice["performance_num_correct"])
    bob = people.iloc[2]
    assert (bob["department"], bob["department_source"]) == ("Ops", "performance")
    assert bob["performance_num_correct"] == 4
    frank = people.iloc[6]
    assert (frank["name"], frank["department"]) == ("Frank", "(unassigned)")
    assert pd.isna(frank["department_source"])
    assert frank["n_sources"] == 1
    assert pd.isna(frank["safe_risk"]) and pd.isna(frank["watchlist_count"])
    assert str(people["watchlist_count"].dtype) == "Int32"
    assert people["safe_risk"].dtype == RISK_DTYPE
    assert str(people["phish_num_campaigns_sent"].dtype) == "Int32"


def test_join_report_counts(sources: dict[str, pd.DataFrame]) -> None:
    _, report = people_frame(sources, {"old-example.com": "example.com"})
    assert_dtypes(report, JOIN_REPORT_DTYPES)
    table = report.set_index("source").to_dict("index")
    assert table["campaigns"] == {
        "rows": 2,
        "people": 2,
        "matched": 1,  # Alice, via the alias map
        "unmatched": 1,  # Frank
        "aliased_rows": 1,
    }
    # Every phishing address is also in the totals made from the same rows.
    assert table["phish_users"] == {
        "rows": 8,
        "people": 6,
        "matched": 6,
        "unmatched": 0,
        "aliased_rows": 0,
    }
    without_totals = {name: frame for name, frame in sources.items() if name != "phish_totals"}
    _, report = people_frame(without_totals, {"old-example.com": "example.com"})
    table = report.set_index("source").to_dict("index")
    # Alice (aliased) and Bob are elsewhere; the list address, Carol, Dave and Erin are not.
    assert (table["phish_users"]["matched"], table["phish_users"]["unmatched"]) == (2, 4)
    assert table["safe_scores"] == {
        "rows": 2,
        "people": 2,
        "matched": 1,
        "unmatched": 1,  # Gina
        "aliased_rows": 1,
    }
    assert table["watchlist"]["unmatched"] == 0
    assert table["performance"]["unmatched"] == 0


def test_without_the_alias_map_the_spellings_stay_apart(sources: dict[str, pd.DataFrame]) -> None:
    people, report = people_frame(sources)
    assert {"alice@example.com", "alice@old-example.com"} <= set(people["person"])
    table = report.set_index("source")
    # The old spelling still meets itself in SAFE scores, but not the rest of Alice's rows.
    assert table.loc["campaigns", "matched"] == 1
    assert table.loc["campaigns", "unmatched"] == 1
    assert table.loc["watchlist", "matched"] == 1
    assert table.loc["safe_scores", "aliased_rows"] == 0
    old_alice = people[people["person"] == "alice@old-example.com"].iloc[0]
    assert old_alice["n_sources"] == 2  # campaigns and SAFE scores only


def test_people_keys_are_exact_not_fuzzy() -> None:
    aliases = {"old-example.com": "example.com"}
    assert person_key("  ALICE@Old-Example.COM ", aliases) == "alice@example.com"
    assert person_key("alice@mail.old-example.com", aliases) == "alice@mail.old-example.com"
    assert person_key("a.lice@example.com", aliases) == "a.lice@example.com"
    assert person_key("no-at-sign", aliases) == "no-at-sign"
    # The engine's rule exactly, so joins and counts agree on who is one person.
    assert normalise_email(" Straße@Example.com") == "straße@example.com"
    tricky = pd.Series(
        [
            " Straße@Example.com",
            "ANNA@x.example ",
            "Zoë@X.example",
            "İlker@X.example",
            "ΣΑΣ@x.gr",
            "\x1cBob@X.example\x1f\t",
        ]
    )
    # Including letters pyarrow's lower-casing folds otherwise (dotted İ, final sigma).
    assert [normalise_email(e) for e in tricky] == person_keys(tricky).tolist()


def test_person_keys_keep_missing_emails_missing_and_the_index() -> None:
    emails = pd.Series(["A@x.example", None, " a@X.example"], index=[10, 20, 30], dtype=object)
    keys = person_keys(emails)
    assert keys.index.tolist() == [10, 20, 30]
    assert keys.iloc[0] == keys.iloc[2] == "a@x.example"
    assert pd.isna(keys.iloc[1])


def test_people_frame_unknown_source_is_presence_only() -> None:
    extra = pd.DataFrame({"email": ["x@example.com", "X@example.com "], "name": ["X", "Y"]})
    people, report = people_frame({"hr_export": extra})
    assert people["person"].tolist() == ["x@example.com"]
    assert (people["name"].iloc[0], people["name_source"].iloc[0]) == ("Y", "hr_export")
    assert report["rows"].tolist() == [2] and report["people"].tolist() == [1]
    assert report["unmatched"].tolist() == [1]


def test_people_frame_of_nothing() -> None:
    people, report = people_frame({})
    assert len(people) == 0 and len(report) == 0
    assert list(people.columns) == list(PEOPLE_DTYPES)
    assert list(report.columns) == list(JOIN_REPORT_DTYPES)


@pytest.mark.parametrize(
    ("sources", "aliases", "message"),
    [
        ({"campaigns": pd.DataFrame({"mail": ["a@x"]})}, None, "'email' column"),
        ({"campaigns": pd.DataFrame({"email": ["a@x", None]})}, None, "without an email"),
        ({"campaigns": pd.DataFrame({"email": ["  "]})}, None, "blank email"),
        ({"watchlist": pd.DataFrame({"email": ["a@x"]})}, None, "'watchlist_count'"),
        ({}, {"a.example": "b.example", "b.example": "c.example"}, "chained"),
        ({}, {"a.example": "someone@b.example"}, "not two domains"),
    ],
)
def test_people_frame_rejects_bad_input(
    sources: dict[str, pd.DataFrame], aliases: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        people_frame(sources, aliases)
