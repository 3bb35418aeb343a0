"""Tests of the tidy frames built from API-shaped campaign and user dicts."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awareness_analysis.errors import MimecastResponseError
from awareness_analysis.frames import (
    ANSWER_DTYPES,
    CAMPAIGN_DTYPES,
    OUTCOMES,
    UNASSIGNED_DEPARTMENT,
    USER_DTYPES,
    Frames,
    build_frames,
    campaigns_frame,
)
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
