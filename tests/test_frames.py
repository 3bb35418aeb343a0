"""Tests of the tidy frames built from API-shaped campaign and user dicts."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awareness_analysis.data import frames as frames_module
from awareness_analysis.data.frames import (
    ANSWER_DTYPES,
    CAMPAIGN_DTYPES,
    OUTCOMES,
    UNASSIGNED_DEPARTMENT,
    USER_DTYPES,
    Frames,
    build_frames,
    campaigns_frame,
    convert_user_items,
    reusable_campaign_ids,
    reuse_frames,
)
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.errors import MimecastResponseError
from awareness_analysis.fakeapi.demo_org import build_demo_dataset, synthetic_dataset
from tests.recorded import load_recorded

CORP = "alex.doe@corp.mime-api.example"
PERSONAL = "alexd1993@personal-mail.example"
ALIAS = "alex.doe@corp.example"


@pytest.fixture(scope="module")
def recorded() -> Frames:
    campaigns, items = load_recorded()
    return build_frames(campaigns, items)


def campaign(cid: str = "c1", questions: int = 1, **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": cid,
        "name": f"Campaign {cid}",
        "title": {
            "id": f"module-{cid}",
            "title": "Some_Module",
            "correctAnswers": {f"forQuestion{q}": 1 for q in range(1, questions + 1)},
        },
        "group": {"description": "Everyone", "userCount": 10},
        "launchDate": "2022-01-11T23:32:00+0000",
        "createDate": "2022-01-11T23:25:24+0000",
        "numSent": 3,
        "numCompleted": 1,
        "percentComplete": 33,
        "percentCorrect": 100,
        "numCorrectAnswers": {f"forQuestion{q}": 1 for q in range(1, questions + 1)},
        "locked": False,
    }
    raw.update(extra)
    return raw


def user(email: str, results: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": "Some One",
        "email": email,
        "department": "Sales",
        "results": results if results is not None else {"forQuestion1": "SENT"},
        "acknowledgement": False,
        "userState": "ACTIVE",
    }
    item.update(extra)
    return item


def assert_dtypes(frames: Frames) -> None:
    for frame, expected in (
        (frames.campaigns, CAMPAIGN_DTYPES),
        (frames.users, USER_DTYPES),
        (frames.answers, ANSWER_DTYPES),
    ):
        assert list(frame.columns) == list(expected)
        assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == expected
        for name, dtype in frame.dtypes.items():
            if isinstance(dtype, pd.CategoricalDtype):
                assert str(dtype.categories.dtype) == "str", name
    for frame, column in ((frames.users, "outcome"), (frames.answers, "result")):
        assert list(frame[column].cat.categories) == list(OUTCOMES)


# -- recorded traffic -------------------------------------------------------------------------


def test_recorded_campaigns(recorded: Frames) -> None:
    campaigns = recorded.campaigns
    assert campaigns["campaign_name"].tolist() == [
        "Demo Test Campaign",
        "Another Campaign",
        "Demo HIPAA Campaign",
        "Demo Info Protection",
    ]
    assert campaigns["module_title"].tolist() == [
        "For the Kids",
        "The Test Data",
        "HIPAA 101",
        "Birthday Wishes",
    ]
    assert campaigns["launch_date"].tolist() == [
        pd.Timestamp("2022-01-11T23:32:00Z"),
        pd.Timestamp("2022-01-12T21:12:00Z"),
        pd.Timestamp("2022-01-13T18:37:00Z"),
        pd.Timestamp("2022-01-13T18:42:00Z"),
    ]
    assert campaigns["create_date"].iloc[0] == pd.Timestamp("2022-01-11T23:25:24Z")
    assert str(campaigns["launch_date"].dt.tz) == "UTC"
    assert campaigns["n_questions"].tolist() == [1, 1, 1, 1]
    assert campaigns["num_sent"].tolist() == [2, 3, 3, 3]
    assert campaigns["num_completed"].tolist() == [1, 1, 0, 0]
    assert campaigns["percent_complete"].tolist() == [50.0, 33.0, 0.0, 0.0]
    assert campaigns["percent_correct"].tolist() == [100.0, 0.0, 0.0, 0.0]
    assert campaigns["num_correct_answers"].tolist() == [1, 0, 0, 0]
    assert campaigns["group_name"].tolist() == ["Integration"] * 4
    assert campaigns["group_user_count"].tolist() == [0] * 4
    assert not campaigns["locked"].any()
    assert campaigns["campaign_id"].iloc[0].startswith("eNqrVipOTS4tSs1MUbJSqrAo")


def test_recorded_users(recorded: Frames) -> None:
    users = recorded.users
    assert len(users) == 11
    demo = users[users["campaign_name"] == "Demo Test Campaign"].set_index("email")
    assert demo.loc[CORP, "outcome"] == "correct"
    assert demo.loc[CORP, "name"] == "Alex Doe"
    assert demo.loc[PERSONAL, "outcome"] == "sent"
    assert demo.loc[PERSONAL, "name"] == ""
    assert demo.loc[PERSONAL, "email_domain"] == "personal-mail.example"
    assert set(users["department"]) == {UNASSIGNED_DEPARTMENT}
    assert set(users["user_state"]) == {"ACTIVE"}
    assert not users["acknowledged"].any()

    another = users[users["campaign_name"] == "Another Campaign"]
    counts = another["outcome"].value_counts()
    assert counts.to_dict() == {"sent": 2, "correct": 0, "incorrect": 1}
    assert another.loc[another["outcome"] == "incorrect", "email"].tolist() == [CORP]
    assert (users["n_correct"] + users["n_incorrect"] + users["n_unanswered"] == 1).all()

    # Alias domains of the same person stay apart and are visible per domain.
    assert set(users["email_domain"]) == {
        "corp.mime-api.example",
        "corp.example",
        "personal-mail.example",
    }
    # Campaign order follows launch dates, then emails sort within each campaign.
    assert (
        users["campaign_name"].tolist()[:5] == ["Demo Test Campaign"] * 2 + ["Another Campaign"] * 3
    )
    assert users["email"].tolist()[2:5] == [ALIAS, CORP, PERSONAL]


def test_recorded_answers(recorded: Frames) -> None:
    answers = recorded.answers
    assert len(answers) == 11
    assert set(answers["question"]) == {1}
    assert answers["result"].value_counts().to_dict() == {"sent": 9, "correct": 1, "incorrect": 1}
    merged = answers.merge(recorded.users, on=["campaign_id", "email"], validate="one_to_one")
    # With one question per campaign, each answer equals the user's outcome.
    assert (merged["result"].astype(str) == merged["outcome"].astype(str)).all()


def test_recorded_dtypes(recorded: Frames) -> None:
    assert_dtypes(recorded)
    ids = recorded.campaigns["campaign_id"].cat.categories
    assert recorded.users["campaign_id"].cat.categories.equals(ids)
    assert recorded.answers["campaign_id"].cat.categories.equals(ids)
    # Shared categories keep the dtype through a merge.
    merged = recorded.users.merge(recorded.campaigns[["campaign_id", "num_sent"]])
    assert isinstance(merged["campaign_id"].dtype, pd.CategoricalDtype)


def test_campaigns_frame_matches_build_frames(recorded: Frames) -> None:
    campaigns, _ = load_recorded()
    pd.testing.assert_frame_equal(campaigns_frame(campaigns), recorded.campaigns)


# -- hand-made cases --------------------------------------------------------------------------


def test_four_question_module() -> None:
    items = {
        "c4": [
            user("all@x.example", {f"forQuestion{q}": "CORRECT" for q in range(1, 5)}),
            user(
                "one-wrong@x.example",
                {
                    "forQuestion1": "CORRECT",
                    "forQuestion2": "INCORRECT",
                    "forQuestion3": "CORRECT",
                    "forQuestion4": "SENT",
                },
            ),
            user("partial@x.example", {"forQuestion1": "CORRECT", "forQuestion2": "SENT"}),
            user("none@x.example", {}),
        ]
    }
    frames = build_frames([campaign("c4", questions=4)], items)
    assert frames.campaigns["n_questions"].tolist() == [4]
    assert frames.campaigns["num_correct_answers"].tolist() == [4]
    users = frames.users.set_index("email")
    assert users["n_questions"].tolist() == [4, 4, 4, 4]
    assert users.loc["all@x.example", ["n_correct", "n_incorrect", "n_unanswered"]].tolist() == [
        4,
        0,
        0,
    ]
    assert users.loc["one-wrong@x.example", "outcome"] == "incorrect"
    assert users.loc["one-wrong@x.example", "n_unanswered"] == 1
    # Answered some, all right so far: counts as correct.
    assert users.loc["partial@x.example", "outcome"] == "correct"
    assert users.loc["partial@x.example", "n_unanswered"] == 3
    assert users.loc["none@x.example", "outcome"] == "sent"

    answers = frames.answers
    assert len(answers) == 16
    assert answers.groupby("email", observed=True).size().eq(4).all()
    partial = answers[answers["email"] == "partial@x.example"]
    # Questions missing from results count as sent.
    assert partial["result"].tolist() == ["correct", "sent", "sent", "sent"]
    assert partial["question"].tolist() == [1, 2, 3, 4]
    assert_dtypes(frames)


def test_n_questions_falls_back_and_is_raised_by_results() -> None:
    from_counts = campaign("a", numCorrectAnswers={"forQuestion1": 2, "forQuestion2": 1})
    from_counts["title"] = {"title": "T"}
    no_info = campaign("b", numCorrectAnswers={})
    no_info["title"] = {"title": "T"}
    frames = build_frames(
        [from_counts, no_info],
        {"b": [user("u@x.example", {"forQuestion2": "correct"})]},
    )
    campaigns = frames.campaigns.set_index("campaign_id")
    assert campaigns.loc["a", "n_questions"] == 2
    assert campaigns.loc["a", "num_correct_answers"] == 3
    # No correctAnswers and no counts: 0, then raised to the highest question a user answered.
    assert campaigns.loc["b", "n_questions"] == 2
    assert campaigns_frame([no_info])["n_questions"].tolist() == [0]
    assert frames.answers["result"].tolist() == ["sent", "correct"]
    assert frames.users["n_unanswered"].tolist() == [1]


def test_missing_optional_fields_get_defaults() -> None:
    frames = build_frames([{"id": "bare"}], {"bare": [{"email": "only@x.example"}]})
    row = frames.users.iloc[0]
    assert row["name"] == ""
    assert row["department"] == UNASSIGNED_DEPARTMENT
    assert row["user_state"] == "UNKNOWN"
    assert not row["acknowledged"]
    assert row["outcome"] == "sent"
    assert row["n_questions"] == 0
    assert len(frames.answers) == 0

    c = frames.campaigns.iloc[0]
    assert c["campaign_name"] == "" and c["module_title"] == "" and c["module_id"] == ""
    assert pd.isna(c["launch_date"]) and pd.isna(c["create_date"])
    assert c["num_sent"] == 0 and c["num_correct_answers"] == 0 and c["group_user_count"] == 0
    assert pd.isna(c["percent_complete"]) and pd.isna(c["percent_correct"])
    assert not c["locked"] and c["group_name"] == ""
    assert_dtypes(frames)


def test_null_optional_fields_get_defaults() -> None:
    item = user("n@x.example", None, name=None, department=None, userState=None)
    item.update(results=None, acknowledgement=None)
    frames = build_frames([campaign("c", title=None, group=None)], {"c": [item]})
    row = frames.users.iloc[0]
    assert (row["name"], row["department"], row["user_state"]) == (
        "",
        UNASSIGNED_DEPARTMENT,
        "UNKNOWN",
    )
    assert frames.campaigns["n_questions"].tolist() == [1]  # from numCorrectAnswers
    assert frames.answers["result"].tolist() == ["sent"]


def test_unknown_extra_fields_are_ignored() -> None:
    base_campaign = campaign("c1", questions=2)
    base_items = [user("a@x.example", {"forQuestion1": "CORRECT", "forQuestion2": "SENT"})]
    extended_campaign = copy.deepcopy(base_campaign)
    extended_campaign.update(newField={"nested": [1, 2]}, allOtherCampaigns={"numSent": 9})
    extended_campaign["title"]["brandNew"] = "x"
    extended_campaign["group"]["colour"] = "blue"
    extended_items = copy.deepcopy(base_items)
    extended_items[0].update(watchlistCount=3, riskScore="A", customAttributes={"a": "b"})
    expected = build_frames([base_campaign], {"c1": base_items})
    actual = build_frames([extended_campaign], {"c1": extended_items})
    for name in ("campaigns", "users", "answers"):
        pd.testing.assert_frame_equal(getattr(actual, name), getattr(expected, name))


@pytest.mark.parametrize(
    ("spellings", "outcome"),
    [
        (("correct", "correct"), "correct"),
        (("Correct", "sent"), "correct"),
        (("correct", "incorrect"), "incorrect"),
        (("sent", "Sent"), "sent"),
    ],
)
def test_result_values_are_case_insensitive(spellings: tuple[str, str], outcome: str) -> None:
    results = {"forQuestion1": spellings[0], "forQuestion2": spellings[1]}
    frames = build_frames([campaign("c", questions=2)], {"c": [user("a@x.example", results)]})
    assert frames.users["outcome"].tolist() == [outcome]
    assert frames.answers["result"].tolist() == [s.lower() for s in spellings]


def test_department_and_domain() -> None:
    frames = build_frames(
        [campaign("c")],
        {
            "c": [
                user("Mixed.Case@Corp.EXAMPLE", department="Finance"),
                user("nodomain", department=""),
            ]
        },
    )
    users = frames.users.set_index("email")
    assert users.loc["Mixed.Case@Corp.EXAMPLE", "department"] == "Finance"
    assert users.loc["Mixed.Case@Corp.EXAMPLE", "email_domain"] == "corp.example"
    assert users.loc["nodomain", "department"] == UNASSIGNED_DEPARTMENT
    assert users.loc["nodomain", "email_domain"] == ""


def test_items_for_unknown_campaign_are_kept() -> None:
    frames = build_frames(
        [campaign("known")],
        {"known": [user("a@x.example")], "orphan": [user("b@x.example", {"forQuestion3": "SENT"})]},
    )
    assert frames.campaigns["campaign_id"].tolist() == ["known"]
    orphan = frames.users[frames.users["campaign_id"] == "orphan"]
    assert orphan["campaign_name"].tolist() == [""]
    assert orphan["n_questions"].tolist() == [3]
    assert list(frames.users["campaign_id"].cat.categories) == ["known", "orphan"]
    assert len(frames.answers[frames.answers["campaign_id"] == "orphan"]) == 3


def test_campaigns_sorted_by_launch_date_then_id() -> None:
    frames = build_frames(
        [
            campaign("z", launchDate="2022-03-01T00:00:00+0000"),
            campaign("undated", launchDate=None),
            campaign("b", launchDate="2022-02-01T00:00:00+0100"),
            campaign("a", launchDate="2022-01-31T23:00:00+0000"),
        ],
        {"z": [user("z@x.example")], "a": [user("a@x.example")]},
    )
    # b's +0100 launch is the same instant as a's; the id breaks the tie. Undated sorts last.
    assert frames.campaigns["campaign_id"].tolist() == ["a", "b", "z", "undated"]
    assert frames.users["campaign_id"].tolist() == ["a", "z"]


def test_empty_inputs_give_empty_typed_frames() -> None:
    frames = build_frames([], {})
    assert (len(frames.campaigns), len(frames.users), len(frames.answers)) == (0, 0, 0)
    assert_dtypes(frames)
    assert len(campaigns_frame([])) == 0
    no_users = build_frames([campaign("c")], {"c": []})
    assert len(no_users.users) == 0 and len(no_users.answers) == 0
    assert list(no_users.users["campaign_id"].cat.categories) == ["c"]
    assert_dtypes(no_users)


BAD_INPUTS = [
    pytest.param([{"name": "No id"}], {}, ["'id'", "'No id'", "None"], id="campaign-without-id"),
    pytest.param([campaign("c9", numSent="abc")], {}, ["'numSent'", "'c9'", "'abc'"], id="numSent"),
    pytest.param([campaign("c9", numSent=True)], {}, ["'numSent'", "True"], id="numSent-bool"),
    pytest.param([campaign("c9", numCompleted=2.5)], {}, ["'numCompleted'", "2.5"], id="float"),
    pytest.param([campaign("c9", numSent=-1)], {}, ["'numSent'", "-1"], id="negative"),
    pytest.param(
        [campaign("c9", percentCorrect="high")], {}, ["'percentCorrect'", "'high'"], id="percent"
    ),
    pytest.param(
        [campaign("c9", launchDate="yesterday")], {}, ["'launchDate'", "'yesterday'"], id="date"
    ),
    pytest.param(
        [campaign("c9", launchDate="2022-01-11T23:32:00")], {}, ["'launchDate'", "UTC"], id="naive"
    ),
    pytest.param(
        [campaign("c9", numCorrectAnswers={"forQuestion1": "x"})],
        {},
        ["numCorrectAnswers.forQuestion1", "'x'"],
        id="numCorrectAnswers",
    ),
    pytest.param([campaign("c9", title="x")], {}, ["'title'", "'x'"], id="title"),
    pytest.param([campaign("c9", locked="no")], {}, ["'locked'", "'no'"], id="locked"),
    pytest.param([campaign("c9"), campaign("c9")], {}, ["'id'", "'c9'", "once"], id="duplicate"),
    pytest.param(["not a campaign"], {}, ["campaign #0", "'not a campaign'"], id="not-object"),
    pytest.param(
        [campaign("c9")], {"c9": [{"name": "N"}]}, ["'email'", "'c9'", "None"], id="no-email"
    ),
    pytest.param(
        [campaign("c9")],
        {"c9": [user("u@x.example", {"forQuestion1": "maybe"})]},
        ["results.forQuestion1", "'c9'", "'maybe'", "u@x.example"],
        id="bad-result",
    ),
    pytest.param(
        [campaign("c9")],
        {"c9": [user("u@x.example", {"forQuestion1": 1})]},
        ["results.forQuestion1", "1"],
        id="result-not-string",
    ),
    pytest.param(
        [campaign("c9")],
        {"c9": [user("u@x.example", ["CORRECT"])]},  # type: ignore[arg-type]
        ["'results'", "'c9'", "['CORRECT']"],
        id="results-list",
    ),
    pytest.param(
        [campaign("c9")],
        {"c9": [user("u@x.example", {"question1": "SENT"})]},
        ["'results'", "'question1'"],
        id="results-key",
    ),
    pytest.param(
        [campaign("c9")],
        {"c9": [user("u@x.example", {"forQuestion0": "SENT"})]},
        ["'forQuestion0'"],
        id="question-zero",
    ),
    pytest.param(
        [campaign("c9")],
        {"c9": [user("u@x.example", acknowledgement="yes")]},
        ["'acknowledgement'", "'yes'"],
        id="acknowledgement",
    ),
    pytest.param(
        [campaign("c9")], {"c9": [user("u@x.example", name=7)]}, ["'name'", "7"], id="name"
    ),
    pytest.param([campaign("c9")], {"c9": "oops"}, ["'items'", "'c9'", "'oops'"], id="items"),
    pytest.param([campaign("c9")], {"c9": ["oops"]}, ["'items'", "item #0"], id="item"),
    pytest.param({"id": "x"}, {}, ["campaigns"], id="campaigns-not-list"),
]


@pytest.mark.parametrize(("campaigns", "items", "fragments"), BAD_INPUTS)
def test_malformed_input_raises_helpful_error(
    campaigns: Any, items: Any, fragments: list[str]
) -> None:
    with pytest.raises(MimecastResponseError) as caught:
        build_frames(campaigns, items)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_campaigns_frame_rejects_malformed_input() -> None:
    with pytest.raises(MimecastResponseError, match="'numSent' of campaign 'c9'"):
        campaigns_frame([campaign("c9", numSent="abc")])


RESULT = st.sampled_from(["SENT", "CORRECT", "INCORRECT", "sent", "correct", "incorrect"])


@settings(max_examples=60, deadline=None)
@given(
    campaign_questions=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    users_per_campaign=st.lists(
        st.lists(st.dictionaries(st.integers(1, 4), RESULT, max_size=4), max_size=5),
        min_size=4,
        max_size=4,
    ),
)
def test_counts_are_consistent(
    campaign_questions: list[int], users_per_campaign: list[list[dict[int, str]]]
) -> None:
    campaigns = [campaign(f"c{i}", questions=n) for i, n in enumerate(campaign_questions)]
    items = {
        f"c{i}": [
            user(f"u{j}@x.example", {f"forQuestion{q}": r for q, r in results.items()})
            for j, results in enumerate(users_per_campaign[i])
        ]
        for i in range(len(campaign_questions))
    }
    frames = build_frames(campaigns, items)
    users = frames.users
    assert len(users) == sum(len(group) for group in items.values())
    assert (users["n_correct"] + users["n_incorrect"] + users["n_unanswered"]).equals(
        users["n_questions"]
    )
    assert len(frames.answers) == int(users["n_questions"].astype(int).sum())
    expected_outcome = [
        "incorrect" if bad else "correct" if good else "sent"
        for bad, good in zip(users["n_incorrect"] > 0, users["n_correct"] > 0, strict=True)
    ]
    assert users["outcome"].tolist() == expected_outcome
    per_user = (
        frames.answers.assign(correct=frames.answers["result"] == "correct")
        .groupby(["campaign_id", "email"], observed=True)["correct"]
        .sum()
    )
    answered = users[users["n_questions"] > 0].set_index(["campaign_id", "email"])["n_correct"]
    assert per_user.sort_index().tolist() == answered.sort_index().tolist()
    assert_dtypes(frames)


def test_unencodable_text_is_a_response_error() -> None:
    # json.loads turns "\ud800" escapes into lone surrogates, which have no UTF-8 form.
    with pytest.raises(MimecastResponseError, match=r"'name' of campaign 'c'.*valid Unicode"):
        build_frames([campaign("c")], {"c": [user("u@x.example", name="bad \ud800")]})
    # Any other problem, in any campaign, is reported first, as before.
    with pytest.raises(MimecastResponseError, match="'email' of campaign 'd'"):
        build_frames(
            [campaign("c"), campaign("d")],
            {"c": [user("u@x.example", name="bad \ud800")], "d": [{"name": "no email"}]},
        )


# -- the fast (pyarrow) path against the validating Python path -------------------------------


def assert_frames_equal(actual: Frames, expected: Frames) -> None:
    for name in ("campaigns", "users", "answers"):
        pd.testing.assert_frame_equal(getattr(actual, name), getattr(expected, name), obj=name)


@contextmanager
def validating_path_only() -> Iterator[None]:
    """build_frames with the pyarrow fast path switched off: the item-by-item reference."""
    with mock.patch.object(frames_module, "_fast_pieces", return_value=None):
        yield


@contextmanager
def fast_path_only() -> Iterator[None]:
    """Fail the test if any campaign falls back to the validating path."""

    def refuse(cid: str, items: object) -> None:
        raise AssertionError(f"campaign {cid!r} took the validating path")

    with mock.patch.object(frames_module, "_slow_piece", side_effect=refuse):
        yield


def outcome_of(campaigns: Any, items: Any) -> Frames | str:
    try:
        return build_frames(campaigns, items)
    except MimecastResponseError as error:
        return f"error: {error}"


def assert_same_outcome(campaigns: Any, items: Any) -> None:
    with validating_path_only():
        expected = outcome_of(copy.deepcopy(campaigns), copy.deepcopy(items))
    actual = outcome_of(campaigns, items)
    if isinstance(expected, str) or isinstance(actual, str):
        assert actual == expected
    else:
        assert_frames_equal(actual, expected)


def test_fast_path_handles_api_shaped_data() -> None:
    demo = build_demo_dataset()
    synthetic = synthetic_dataset(n_users=300, n_campaigns=6)
    campaigns, recorded_items = load_recorded()
    for dataset_campaigns, items in (
        (demo.campaigns, demo.users),
        (synthetic.campaigns, synthetic.users),
        (campaigns, recorded_items),
    ):
        with fast_path_only():
            fast = build_frames(dataset_campaigns, items)
        with validating_path_only():
            reference = build_frames(dataset_campaigns, items)
        assert_frames_equal(fast, reference)


def test_fast_path_handles_defaults_gaps_and_extra_fields() -> None:
    items = {
        "c": [
            {"email": "bare@x.example"},
            user("partial@x.example", {"forQuestion2": "Incorrect"}, department=""),
            user("null@x.example", None, name=None, userState=None, acknowledgement=None),
            user("extra@x.example", riskScore=3, tags=["a"], nested={"k": None}),
            user("b@x.example", {}, department="(unassigned)"),
        ],
        "orphan": [user("o@x.example", {"forQuestion7": "correct"})],
        "empty": [],
    }
    with fast_path_only():
        fast = build_frames([campaign("c", questions=3), campaign("empty")], items)
    with validating_path_only():
        reference = build_frames([campaign("c", questions=3), campaign("empty")], items)
    assert_frames_equal(fast, reference)


@pytest.mark.parametrize(
    "items",
    [
        pytest.param([user("a@x.example", {"forQuestion1": None})], id="null-result-value"),
        pytest.param([user("a@x.example", []), user("b@x.example")], id="results-empty-list"),
        pytest.param([user("a@x.example", riskScore=1), user("b@x.example", riskScore="A")]),
        pytest.param([user("a@x.example", {"forQuestion1": "SENT", "forQuestion01": "CORRECT"})]),
        pytest.param([user("a@x.example"), {1: "non-string key", "email": "b@x.example"}]),
        pytest.param((user("a@x.example"),), id="tuple-of-items"),
        pytest.param([user("a@x.example", name=b"bytes")], id="bytes"),
        pytest.param([user("a@x.example", acknowledgement=1)], id="ack-int"),
        pytest.param([user("a@x.example", department=float("nan"))], id="nan"),
        pytest.param([user("a@x.example", name=2**70)], id="huge-int"),
        pytest.param([user("a@x.example"), None], id="null-item"),
        pytest.param([user("a@x.example"), user("")], id="empty-email"),
        pytest.param([user("a@x.example", {"forQuestion1": ("CORRECT",)})], id="tuple-value"),
    ],
)
def test_fast_path_defers_to_validation(items: Any) -> None:
    # Whatever pyarrow makes of these, the outcome is the validating path's: frames or the same
    # MimecastResponseError, never a pyarrow exception.
    assert_same_outcome([campaign("c", questions=2)], {"c": items})


JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2, allow_nan=False),
    st.text(max_size=3),
)
JSON_VALUE = st.one_of(
    JSON_SCALAR,
    st.lists(JSON_SCALAR, max_size=2),
    st.dictionaries(st.text(max_size=2), JSON_SCALAR),
)
RESULT_KEY = st.sampled_from(
    [f"forQuestion{q}" for q in range(1, 6)] + ["forQuestion0", "forQuestion01", "question1"]
)
RESULT_VALUE = st.one_of(
    st.sampled_from(["SENT", "CORRECT", "INCORRECT", "sent", "Correct", "incorrect"]),
    JSON_VALUE,
)


def maybe(valid: st.SearchStrategy[Any], odd_one: float) -> st.SearchStrategy[Any]:
    """Mostly ``valid`` values, sometimes any JSON value (``odd_one`` is the weight)."""
    return st.one_of(valid, JSON_VALUE) if odd_one else valid


@st.composite
def json_items(draw: st.DrawFn, odd: bool) -> list[Any]:
    items: list[Any] = []
    for _ in range(draw(st.integers(0, 6))):
        item: dict[str, Any] = {}
        fields: dict[str, st.SearchStrategy[Any]] = {
            "email": st.sampled_from(["a@x.example", "B@Y.example", "nodomain", "a@x.example"]),
            "name": st.sampled_from(["A", "", None]),
            "department": st.sampled_from(["Sales", "IT", "", None, UNASSIGNED_DEPARTMENT]),
            "userState": st.sampled_from(["ACTIVE", "SUSPENDED", None]),
            "acknowledgement": st.sampled_from([True, False, None]),
            "results": st.one_of(
                st.none(),
                st.dictionaries(
                    RESULT_KEY if odd else st.sampled_from(["forQuestion1", "forQuestion3"]),
                    RESULT_VALUE if odd else st.sampled_from(["SENT", "correct", "INCORRECT"]),
                    max_size=3,
                ),
            ),
            "extra": JSON_VALUE,
        }
        for field, values in fields.items():
            if draw(st.booleans()) or field == "email":
                item[field] = draw(st.one_of(values, JSON_VALUE) if odd else values)
        items.append(item if not odd or draw(st.integers(0, 20)) else draw(JSON_VALUE))
    return items


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_matches_validating_path(data: st.DataObject) -> None:
    odd = data.draw(st.booleans(), label="odd values")
    items = {
        cid: data.draw(json_items(odd), label=cid)
        for cid in data.draw(st.lists(st.sampled_from(["c1", "c2", "x"]), unique=True))
    }
    campaigns = [campaign("c1", questions=2), campaign("c2", questions=0)]
    assert_same_outcome(campaigns, items)


# -- reuse_frames ----------------------------------------------------------------------------


def all_items_for(
    previous_items: Mapping[str, Sequence[Any]],
    previous: Frames,
    keep: set[str],
    new_items: Mapping[str, Sequence[Any]],
) -> dict[str, Sequence[Any]]:
    """The user items build_frames needs for the snapshot reuse_frames stands for."""
    kept = [str(cid) for cid in previous.users["campaign_id"].cat.categories if cid in keep]
    return {**{cid: previous_items.get(cid, []) for cid in kept}, **new_items}


def test_reuse_demo_organisation() -> None:
    demo = build_demo_dataset()
    previous = build_frames(demo.campaigns, demo.users)
    ids = [c["id"] for c in demo.campaigns]
    assert reusable_campaign_ids(previous, demo.campaigns, ids) == ids
    for keep in (set(), set(ids[::2]), set(ids[1:]), set(ids)):
        new_items = {cid: demo.users[cid] for cid in ids if cid not in keep}
        actual = reuse_frames(previous, keep, demo.campaigns, new_items)
        expected = build_frames(
            demo.campaigns, all_items_for(demo.users, previous, keep, new_items)
        )
        assert_frames_equal(actual, expected)
        assert_frames_equal(actual, previous)


def test_reuse_with_changed_campaigns_and_departments_only_in_reused_rows() -> None:
    old_campaigns = [
        campaign("kept", questions=2),
        campaign("gone", questions=1, launchDate="2021-12-01T00:00:00+0000"),
        campaign("changed", questions=1),
        campaign("empty"),
    ]
    old_items = {
        "kept": [
            user("z@x.example", {"forQuestion1": "CORRECT"}, department="Only Kept"),
            user("a@y.example", {"forQuestion2": "incorrect"}, department=""),
            user("a@y.example", {"forQuestion1": "sent"}, department="Dup"),  # duplicate email
        ],
        "gone": [user("g@gone.example", department="Only Gone")],
        "changed": [user("c@x.example")],
        "empty": [],
        "orphan": [user("o@x.example", {"forQuestion3": "SENT"}, department="Only Orphan")],
    }
    previous = build_frames(old_campaigns, old_items)
    new_campaigns = [
        campaign("new", questions=3, launchDate="2021-01-01T00:00:00+0000"),
        campaign("kept", questions=4, name="Renamed"),  # more questions: reusable
        campaign("changed", questions=2),
        campaign("empty"),
    ]
    new_items = {
        "new": [user("n@new.example", department="Sales")],
        "changed": [user("c@x.example", {"forQuestion2": "CORRECT"}, department="Sales")],
        "late": [user("l@x.example")],
    }
    keep = {"kept", "empty", "orphan"}
    actual = reuse_frames(previous, keep, new_campaigns, new_items)
    expected = build_frames(new_campaigns, all_items_for(old_items, previous, keep, new_items))
    assert_frames_equal(actual, expected)
    departments = set(actual.users["department"].cat.categories)
    assert {"Only Kept", "Only Orphan", "Dup"} <= departments
    assert "Only Gone" not in departments
    # Launch date then id, then unlisted ids: kept ones first, then those with new items.
    assert list(actual.users["campaign_id"].cat.categories) == [
        "new",
        "changed",
        "empty",
        "kept",
        "orphan",
        "late",
    ]
    assert actual.campaigns.set_index("campaign_id").loc["kept", "n_questions"] == 4


def test_reuse_when_question_count_drops() -> None:
    # Previous frames cannot show whether a user's results had a key with a SENT value or no key:
    # both of these give the same previous frames, and different frames once the campaign says
    # it has one question.
    explicit = {"c": [user("a@x.example", {"forQuestion1": "SENT", "forQuestion2": "SENT"})]}
    implicit = {"c": [user("a@x.example", {"forQuestion1": "SENT"})]}
    previous = build_frames([campaign("c", questions=2)], explicit)
    assert_frames_equal(build_frames([campaign("c", questions=2)], implicit), previous)
    fewer = [campaign("c", questions=1)]
    assert build_frames(fewer, explicit).users["n_questions"].tolist() == [2]
    assert build_frames(fewer, implicit).users["n_questions"].tolist() == [1]
    assert reusable_campaign_ids(previous, fewer) == []
    with pytest.raises(ValueError, match=r"\['c'\] cannot be reused"):
        reuse_frames(previous, {"c"}, fewer, {})

    # An answer to the last question proves its key was there: reusable.
    answered = {"c": [user("a@x.example", {"forQuestion2": "CORRECT"})]}
    previous = build_frames([campaign("c", questions=2)], answered)
    assert reusable_campaign_ids(previous, fewer) == ["c"]
    assert_frames_equal(reuse_frames(previous, {"c"}, fewer, {}), build_frames(fewer, answered))
    # A campaign that is no longer listed counts as having no questions of its own.
    assert_frames_equal(reuse_frames(previous, {"c"}, [], {}), build_frames([], answered))


def test_reuse_from_a_stored_snapshot(tmp_path: Path) -> None:
    synthetic = synthetic_dataset(n_users=200, n_campaigns=5)
    store = SnapshotStore(tmp_path / "store")
    store.write(
        build_frames(synthetic.campaigns, synthetic.users), api_host="api.example", query={}
    )
    previous = store.load().frames
    ids = [c["id"] for c in synthetic.campaigns]
    keep = set(ids[:3])
    new_items = {cid: synthetic.users[cid] for cid in ids[3:]}
    actual = reuse_frames(previous, keep, synthetic.campaigns, new_items)
    assert_frames_equal(actual, build_frames(synthetic.campaigns, synthetic.users))


def test_reuse_rejects_bad_requests() -> None:
    items = {"c": [user("a@x.example")], "d": [user("b@x.example")]}
    previous = build_frames([campaign("c"), campaign("d")], items)
    with pytest.raises(ValueError, match="not in the previous frames"):
        reuse_frames(previous, {"zz"}, [campaign("c")], {})
    with pytest.raises(ValueError, match="both kept and given new user items"):
        reuse_frames(previous, {"c"}, [campaign("c")], {"c": []})
    with pytest.raises(MimecastResponseError, match="'numSent'"):
        reuse_frames(previous, {"c"}, [campaign("c", numSent="x")], {})
    with pytest.raises(MimecastResponseError, match="'email' of campaign 'd'"):
        reuse_frames(previous, {"c"}, [campaign("c"), campaign("d")], {"d": [{"name": "N"}]})
    tampered = Frames(previous.campaigns, previous.users, previous.answers.iloc[1:])
    with pytest.raises(ValueError, match="not frames made by build_frames"):
        reuse_frames(tampered, {"c"}, [campaign("c")], {})


CAMPAIGN_IDS = ["c0", "c1", "c2", "c3", "c4"]


@st.composite
def organisation(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """Campaigns (random question counts and dates) and user items, some for unlisted ids."""
    listed = draw(st.lists(st.sampled_from(CAMPAIGN_IDS), unique=True, max_size=4))
    campaigns = [
        campaign(
            cid,
            questions=draw(st.integers(0, 3)),
            launchDate=draw(st.sampled_from([None, "2022-01-01T00:00:00+0000"])),
            name=draw(st.sampled_from(["A", "B"])),
        )
        for cid in listed
    ]
    with_items = draw(st.lists(st.sampled_from(CAMPAIGN_IDS), unique=True, max_size=5))
    items = {cid: draw(json_items(odd=False)) for cid in with_items}
    for cid, campaign_items in items.items():
        for item in campaign_items:  # departments only some campaigns have
            if draw(st.integers(0, 4)) == 0:
                item["department"] = f"Only {cid}"
    return campaigns, items


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(old=organisation(), new=organisation(), data=st.data())
def test_reuse_frames_equals_build_frames(
    old: tuple[list[dict[str, Any]], dict[str, list[Any]]],
    new: tuple[list[dict[str, Any]], dict[str, list[Any]]],
    data: st.DataObject,
) -> None:
    old_campaigns, old_items = old
    new_campaigns, fresh_items = new
    previous = build_frames(old_campaigns, old_items)
    in_previous = [str(cid) for cid in previous.users["campaign_id"].cat.categories]
    keep = (
        set(data.draw(st.sets(st.sampled_from(in_previous)), label="keep"))
        if in_previous
        else set()
    )
    new_items = {cid: items for cid, items in fresh_items.items() if cid not in keep}
    expected = build_frames(new_campaigns, all_items_for(old_items, previous, keep, new_items))

    reusable = set(reusable_campaign_ids(previous, new_campaigns))
    if keep <= reusable:
        assert_frames_equal(reuse_frames(previous, keep, new_campaigns, new_items), expected)
    else:
        with pytest.raises(ValueError, match="cannot be reused"):
            reuse_frames(previous, keep, new_campaigns, new_items)
    # Refused only where the campaign now has fewer questions and nothing shows the keys.
    declared = campaigns_frame(new_campaigns).set_index("campaign_id")["n_questions"]
    for cid in set(in_previous) - reusable:
        rows = previous.users[previous.users["campaign_id"] == cid]
        answered = previous.answers[
            (previous.answers["campaign_id"] == cid) & (previous.answers["result"] != "sent")
        ]
        n_previous = int(rows["n_questions"].iloc[0])
        assert int(declared.get(cid, 0)) < n_previous
        assert int(answered["question"].max()) < n_previous if len(answered) else True


# -- items converted ahead (as the fetch does, campaign by campaign) ------------------------------


def test_converted_items_build_the_same_frames_as_raw_items() -> None:
    dataset = synthetic_dataset(n_users=300, n_campaigns=4)
    raw = build_frames(dataset.campaigns, dataset.users)
    converted = {cid: convert_user_items(cid, items) for cid, items in dataset.users.items()}
    assert [len(value) for value in converted.values()] == [
        len(items) for items in dataset.users.values()
    ]
    ahead = build_frames(dataset.campaigns, converted)
    for table in ("campaigns", "users", "answers"):
        pd.testing.assert_frame_equal(getattr(ahead, table), getattr(raw, table))
    # Reuse takes them too: keep the first campaign, convert the rest.
    first, *rest = dataset.campaign_ids()
    reused = reuse_frames(raw, [first], dataset.campaigns, {cid: converted[cid] for cid in rest})
    pd.testing.assert_frame_equal(reused.users, raw.users)


def test_a_problem_found_in_conversion_is_raised_when_the_frames_are_built() -> None:
    items = [{"email": "a@example.com", "results": {"forQuestion1": "MAYBE"}}]
    converted = convert_user_items("c1", items)  # no error yet: the fetch keeps going
    assert "invalid" in repr(converted)
    with pytest.raises(MimecastResponseError) as raw_error:
        build_frames([{"id": "c1"}], {"c1": items})
    with pytest.raises(MimecastResponseError) as ahead_error:
        build_frames([{"id": "c1"}], {"c1": converted})
    assert str(ahead_error.value) == str(raw_error.value)
    assert "MAYBE" in str(ahead_error.value)


def test_converted_items_given_for_another_campaign_are_refused() -> None:
    converted = convert_user_items("c1", [{"email": "a@example.com"}])
    with pytest.raises(ValueError, match="converted for campaign 'c1' were given for 'c2'"):
        build_frames([{"id": "c2"}], {"c2": converted})
