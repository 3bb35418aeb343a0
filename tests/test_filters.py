"""Tests of Selection: the filters every view applies to the users and answers frames."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.privacy import SUPPRESSED_LABEL, suppress_departments
from awareness_analysis.data.frames import Frames, build_frames

NAMES = {"c1": "Phishing Basics", "c22": "Password Hygiene"}


def person(
    email: str, name: str, department: str, results: dict[str, str], state: str = "ACTIVE"
) -> dict[str, Any]:
    return {
        "email": email,
        "name": name,
        "department": department,
        "userState": state,
        "acknowledgement": True,
        "results": results,
    }


@pytest.fixture
def frames() -> Frames:
    right = {"forQuestion1": "CORRECT", "forQuestion2": "CORRECT"}
    wrong = {"forQuestion1": "CORRECT", "forQuestion2": "INCORRECT"}
    c1 = [
        person("ann@corp.example", "Ann Smith", "Finance", right),
        person("bob@corp.example", "Bob Jones", "Sales", wrong),
        person("carol@corp.example", "Carol Smithers", "", {}, state="SUSPENDED"),
        person("dave.smith@corp.example", "Dave Brown", "IT", wrong),
        person("eunice@corp.example", "Eunice Ng", "R&D (EU)", right),
    ]
    c22 = [
        person("ann@corp.example", "Ann Smith", "Finance", {}),
        person("bob@corp.example", "Bob Jones", "Sales", right),
    ]
    campaigns = [
        {
            "id": cid,
            "name": NAMES[cid],
            "title": {"correctAnswers": {"forQuestion1": 1, "forQuestion2": 1}},
            "launchDate": f"2026-0{len(cid)}-01T09:00:00+0000",
        }
        for cid in NAMES
    ]
    return build_frames(campaigns, {"c1": c1, "c22": c22})


def keys(users: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(users["campaign_id"].astype(str), users["email"], strict=True))


def test_empty_selection_keeps_everything(frames: Frames) -> None:
    selection = Selection()
    assert selection.is_empty
    result = selection.apply(frames.users)
    pd.testing.assert_frame_equal(result, frames.users)
    assert result is not frames.users


def test_campaign_filter(frames: Frames) -> None:
    result = Selection(campaign_ids=("c22",)).apply(frames.users)
    assert keys(result) == [("c22", "ann@corp.example"), ("c22", "bob@corp.example")]
    # Unknown ids simply match nothing.
    assert Selection(campaign_ids=("nope",)).apply(frames.users).empty


def test_department_filter_includes_unassigned(frames: Frames) -> None:
    result = Selection(departments=("Finance", "(unassigned)")).apply(frames.users)
    assert sorted(result["email"]) == [
        "ann@corp.example",
        "ann@corp.example",
        "carol@corp.example",
    ]


def test_status_filter(frames: Frames) -> None:
    incorrect = Selection(statuses=("incorrect",)).apply(frames.users)
    assert keys(incorrect) == [("c1", "bob@corp.example"), ("c1", "dave.smith@corp.example")]
    sent = Selection(statuses=["SENT"]).apply(frames.users)  # case and lists are accepted
    assert keys(sent) == [("c1", "carol@corp.example"), ("c22", "ann@corp.example")]


def test_user_state_filter(frames: Frames) -> None:
    result = Selection(user_states=("SUSPENDED",)).apply(frames.users)
    assert keys(result) == [("c1", "carol@corp.example")]


def test_fields_combine_with_and_values_with_or(frames: Frames) -> None:
    selection = Selection(
        campaign_ids=("c1",), departments=("Sales", "IT", "Finance"), statuses=("incorrect",)
    )
    assert keys(selection.apply(frames.users)) == [
        ("c1", "bob@corp.example"),
        ("c1", "dave.smith@corp.example"),
    ]
    both = Selection(statuses=("correct", "incorrect"), search="smith").apply(frames.users)
    assert keys(both) == [("c1", "ann@corp.example"), ("c1", "dave.smith@corp.example")]


@pytest.mark.parametrize(
    ("search", "emails"),
    [
        # name (Ann Smith, Carol Smithers) and email (dave.smith@...), any case
        ("SMITH", {"ann@corp.example", "carol@corp.example", "dave.smith@corp.example"}),
        ("bob@", {"bob@corp.example"}),  # email
        ("finan", {"ann@corp.example"}),  # department (a category)
        ("unassigned", {"carol@corp.example"}),
        ("  jones ", {"bob@corp.example"}),  # surrounding spaces ignored
        # Literal, not a regex: "(eu)" would otherwise also match "Eunice".
        ("(eu)", {"eunice@corp.example"}),
        ("r&d (", {"eunice@corp.example"}),
        (".*", set()),
        ("nobody", set()),
    ],
)
def test_search(frames: Frames, search: str, emails: set[str]) -> None:
    result = Selection(search=search).apply(frames.users)
    assert set(result["email"]) == emails


def test_unknown_status_names_the_valid_values() -> None:
    with pytest.raises(ValueError, match="sent, correct, incorrect") as caught:
        Selection(statuses=("failed",))
    assert "'failed'" in str(caught.value)


def test_unknown_user_state_names_the_valid_values(frames: Frames) -> None:
    selection = Selection(user_states=("ACTIVE", "GONE"))
    with pytest.raises(ValueError, match="ACTIVE, SUSPENDED") as caught:
        selection.apply(frames.users)
    assert "'GONE'" in str(caught.value)


def test_lone_strings_are_single_values() -> None:
    selection = Selection(campaign_ids="c1", statuses="Incorrect", departments=["IT"])
    assert selection.campaign_ids == ("c1",)
    assert selection.statuses == ("incorrect",)
    assert selection.departments == ("IT",)


def test_selection_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Selection().search = "x"  # type: ignore[misc]


def test_categorical_dtypes_and_categories_are_preserved(frames: Frames) -> None:
    users = frames.users
    result = Selection(campaign_ids=("c1",), search="smith").apply(users)
    assert result.dtypes.to_dict() == users.dtypes.to_dict()
    for column in ("campaign_id", "campaign_name", "department", "user_state", "outcome"):
        # Unused categories stay, so counts over the selection still show zero rows.
        assert list(result[column].cat.categories) == list(users[column].cat.categories)
    counts = result["outcome"].value_counts(sort=False)
    assert counts.to_dict() == {"sent": 1, "correct": 1, "incorrect": 1}


def test_apply_does_not_share_data_with_the_input(frames: Frames) -> None:
    result = Selection(departments=("Sales",)).apply(frames.users)
    result["acknowledged"] = False
    assert frames.users["acknowledged"].all()


def test_apply_answers_keeps_answers_of_selected_users(frames: Frames) -> None:
    selection = Selection(campaign_ids=("c22",), departments=("Finance",))
    users = selection.apply(frames.users)
    answers = selection.apply_answers(frames.answers, users)
    # Ann's c22 answers only: not her c1 answers, nor anyone else's.
    assert set(keys(answers)) == {("c22", "ann@corp.example")}
    assert answers["question"].tolist() == [1, 2]
    assert answers["result"].astype(str).tolist() == ["sent", "sent"]
    assert answers.dtypes.to_dict() == frames.answers.dtypes.to_dict()
    assert list(answers.columns) == list(frames.answers.columns)


def test_apply_answers_after_suppression(frames: Frames) -> None:
    selection = Selection(departments=(SUPPRESSED_LABEL,))
    suppressed = suppress_departments(frames.users, 2).users
    users = selection.apply(suppressed)
    answers = selection.apply_answers(frames.answers, users)
    # Every department here has one person, so all are folded together.
    assert len(users) == len(frames.users)
    assert len(answers) == len(frames.answers)


def test_apply_answers_with_no_users(frames: Frames) -> None:
    users = Selection(search="nobody").apply(frames.users)
    answers = Selection().apply_answers(frames.answers, users)
    assert answers.empty
    assert answers.dtypes.to_dict() == frames.answers.dtypes.to_dict()


def test_describe_everything() -> None:
    assert Selection().describe() == "Campaigns: all; Departments: all; Status: all"


def test_describe_uses_campaign_names() -> None:
    text = Selection(campaign_ids=("c1",), statuses=("incorrect",), search="smith").describe(NAMES)
    assert (
        text == "Campaigns: Phishing Basics; Departments: all; Status: incorrect; Search: 'smith'"
    )


def test_describe_falls_back_to_ids_and_shortens_long_lists() -> None:
    selection = Selection(
        campaign_ids=("c22", "c9"),
        departments=("A", "B", "C", "D", "E"),
        user_states=("ACTIVE",),
    )
    assert selection.describe(NAMES) == (
        "Campaigns: Password Hygiene, c9; Departments: A, B, C and 2 more; Status: all; "
        "User state: ACTIVE"
    )
