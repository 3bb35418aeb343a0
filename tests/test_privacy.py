"""Tests of small-group suppression and keyed pseudonymisation."""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from awareness_analysis.analysis.privacy import (
    DEFAULT_KEY_FILE,
    DEFAULT_MIN_GROUP_SIZE,
    KEY_ENV,
    SUPPRESSED_LABEL,
    SuppressionResult,
    load_pseudonym_key,
    pseudonymise,
    suppress_departments,
    suppress_rows,
)
from awareness_analysis.data.frames import UNASSIGNED_DEPARTMENT, build_frames

K = 5


def campaign(cid: str, questions: int = 2) -> dict[str, Any]:
    return {
        "id": cid,
        "name": f"Campaign {cid}",
        "title": {"correctAnswers": {f"forQuestion{q}": 1 for q in range(1, questions + 1)}},
        "launchDate": f"2026-0{len(cid)}-01T09:00:00+0000",
    }


def users_from_sizes(sizes: dict[str, int], campaigns: tuple[str, ...] = ("c1",)) -> pd.DataFrame:
    """A users frame where each department has ``size`` distinct people in every campaign."""
    items = []
    for department, size in sizes.items():
        slug = re.sub(r"[^a-z]", "", department.lower()) or "dept"
        for i in range(size):
            items.append(
                {
                    "email": f"{slug}{i}@corp.example",
                    "name": f"{department} Person {i}",
                    # "(unassigned)" is what the API's empty department becomes.
                    "department": "" if department == UNASSIGNED_DEPARTMENT else department,
                    "acknowledgement": i % 2 == 0,
                    "results": {"forQuestion1": "CORRECT" if i % 3 else "INCORRECT"},
                }
            )
    return build_frames(
        [campaign(cid) for cid in campaigns], {cid: items for cid in campaigns}
    ).users


def department_sizes(users: pd.DataFrame) -> dict[str, int]:
    counts = users.groupby("department", observed=True)["email"].nunique()
    return {str(name): int(n) for name, n in counts.items()}


def assert_not_recoverable(result: SuppressionResult, original: pd.DataFrame) -> None:
    """Total minus shown departments gives only the combined hidden group, never one group."""
    before = department_sizes(original)
    after = department_sizes(result.users)
    shown = {d: n for d, n in after.items() if d != SUPPRESSED_LABEL}
    total = int(result.users["email"].nunique())
    remainder = total - sum(shown.values())
    hidden_total = sum(before[d] for d in result.hidden)
    assert remainder == hidden_total == after[SUPPRESSED_LABEL]
    assert remainder >= result.k
    assert len(result.hidden) >= 2
    assert all(n >= result.k for n in shown.values())


# -- suppress_departments: hand-worked cases ------------------------------------------------


def test_default_threshold_is_five() -> None:
    assert DEFAULT_MIN_GROUP_SIZE == 5
    assert SUPPRESSED_LABEL == "(suppressed)"


def test_no_small_group_hides_nothing() -> None:
    users = users_from_sizes({"Alpha": 10, "Bravo": 6, "Charlie": 5})
    result = suppress_departments(users, K)
    assert result.hidden == () and result.primary == ()
    assert not result.everything_hidden
    pd.testing.assert_frame_equal(result.users, users)
    assert SUPPRESSED_LABEL not in result.users["department"].cat.categories


def test_one_small_group_hides_the_next_smallest_too() -> None:
    users = users_from_sizes({"Alpha": 20, "Bravo": 8, "Charlie": 6, "Delta": 2})
    result = suppress_departments(users, K)
    assert result.primary == ("Delta",)
    # Delta alone would be 36 - (20 + 8 + 6) = 2: Charlie (smallest shown) goes with it.
    assert result.hidden == ("Charlie", "Delta")
    assert department_sizes(result.users) == {"Alpha": 20, "Bravo": 8, SUPPRESSED_LABEL: 8}
    assert_not_recoverable(result, users)


def test_two_small_groups_below_k_together_get_a_third() -> None:
    users = users_from_sizes({"Alpha": 20, "Bravo": 9, "Charlie": 7, "Delta": 2, "Echo": 1})
    result = suppress_departments(users, K)
    assert result.primary == ("Delta", "Echo")
    # 2 + 1 = 3 < 5, so the smallest shown department (Charlie, 7) joins them: 10 >= 5.
    assert result.hidden == ("Charlie", "Delta", "Echo")
    assert department_sizes(result.users) == {"Alpha": 20, "Bravo": 9, SUPPRESSED_LABEL: 10}
    assert_not_recoverable(result, users)


def test_two_small_groups_reaching_k_together_need_no_complement() -> None:
    users = users_from_sizes({"Alpha": 20, "Bravo": 3, "Charlie": 4})
    result = suppress_departments(users, K)
    assert result.primary == result.hidden == ("Bravo", "Charlie")
    assert department_sizes(result.users) == {"Alpha": 20, SUPPRESSED_LABEL: 7}
    assert_not_recoverable(result, users)


def test_ties_for_the_complement_are_broken_by_name() -> None:
    users = users_from_sizes({"Zulu": 20, "Bravo": 6, "Alpha": 6, "Delta": 1})
    result = suppress_departments(users, K)
    assert result.primary == ("Delta",)
    assert result.hidden == ("Alpha", "Delta")
    assert department_sizes(result.users) == {"Bravo": 6, "Zulu": 20, SUPPRESSED_LABEL: 7}
    assert_not_recoverable(result, users)


def test_whole_frame_below_k_hides_everything() -> None:
    users = users_from_sizes({"Alpha": 2, "Bravo": 1})
    result = suppress_departments(users, K)
    assert result.everything_hidden
    assert result.hidden == result.primary == ("Alpha", "Bravo")
    assert (result.users["department"] == SUPPRESSED_LABEL).all()
    assert list(result.users["department"].cat.categories) == [SUPPRESSED_LABEL]


def test_single_department_below_k_is_hidden() -> None:
    result = suppress_departments(users_from_sizes({"Alpha": 3}), K)
    assert result.everything_hidden and result.hidden == ("Alpha",)


def test_complement_can_hide_everything_even_when_total_reaches_k() -> None:
    users = users_from_sizes({"Alpha": 1, "Bravo": 9})
    result = suppress_departments(users, K)
    # Showing Bravo would reveal Alpha as 10 - 9 = 1, so both go.
    assert result.primary == ("Alpha",)
    assert result.hidden == ("Alpha", "Bravo")
    assert result.everything_hidden
    assert department_sizes(result.users) == {SUPPRESSED_LABEL: 10}


@pytest.mark.parametrize("k", [None, 0, 1])
def test_k_of_one_or_less_turns_suppression_off(k: int | None) -> None:
    users = users_from_sizes({"Alpha": 20, "Bravo": 1})
    result = suppress_departments(users, k)
    assert result.hidden == () and result.k == 0
    pd.testing.assert_frame_equal(result.users, users)


def test_negative_k_is_an_error() -> None:
    with pytest.raises(ValueError, match="0 \\(off\\) or more"):
        suppress_departments(users_from_sizes({"Alpha": 20}), -3)


def test_unassigned_is_treated_like_any_department() -> None:
    small = suppress_departments(
        users_from_sizes({UNASSIGNED_DEPARTMENT: 3, "Alpha": 10, "Bravo": 7}), K
    )
    assert small.primary == (UNASSIGNED_DEPARTMENT,)
    assert small.hidden == (UNASSIGNED_DEPARTMENT, "Bravo")

    large = suppress_departments(
        users_from_sizes({UNASSIGNED_DEPARTMENT: 30, "Alpha": 2, "Bravo": 4}), K
    )
    assert large.hidden == ("Alpha", "Bravo")
    assert UNASSIGNED_DEPARTMENT in large.users["department"].cat.categories


def test_empty_frame() -> None:
    users = users_from_sizes({"Alpha": 3}).iloc[:0]
    result = suppress_departments(users, K)
    assert result.hidden == () and not result.everything_hidden
    assert result.users.empty
    pd.testing.assert_frame_equal(result.users, users)


def test_relabelled_frame_keeps_every_row_and_drops_hidden_names() -> None:
    users = users_from_sizes({"Alpha": 20, "Bravo": 8, "Charlie": 6, "Delta": 2}, ("c1", "c22"))
    before = users.copy()
    result = suppress_departments(users, K)
    relabelled = result.users
    pd.testing.assert_frame_equal(users, before)  # input untouched
    assert relabelled.index.equals(users.index)
    # Organisation totals are unchanged: same rows, same outcomes, only department differs.
    pd.testing.assert_frame_equal(
        relabelled.drop(columns="department"), users.drop(columns="department")
    )
    assert relabelled["acknowledged"].sum() == users["acknowledged"].sum()
    categories = list(relabelled["department"].cat.categories)
    assert not set(result.hidden) & set(categories)
    assert categories == ["Alpha", "Bravo", SUPPRESSED_LABEL]
    moved = users["department"].isin(result.hidden).to_numpy()
    assert (relabelled["department"].to_numpy()[moved] == SUPPRESSED_LABEL).all()
    kept = relabelled["department"].astype("str")[~moved]
    assert (kept == users["department"].astype("str")[~moved]).all()
    assert not relabelled["department"].astype("str").isin(result.hidden).any()


def test_size_counts_people_not_rows() -> None:
    # Four people in three campaigns are 12 rows but still a group of 4.
    users = users_from_sizes({"Alpha": 20, "Bravo": 4, "Charlie": 6}, ("c1", "c22", "c333"))
    result = suppress_departments(users, K)
    assert result.primary == ("Bravo",)
    assert result.hidden == ("Bravo", "Charlie")


def test_size_counts_an_email_once_regardless_of_case() -> None:
    users = users_from_sizes({"Alpha": 20, "Bravo": 4})
    variant = users[users["department"] == "Bravo"].copy()
    variant["email"] = variant["email"].str.upper()
    doubled = pd.concat([users, variant], ignore_index=True)
    # Still four people in Bravo (not eight), so Bravo is suppressed.
    assert "Bravo" in suppress_departments(doubled, K).primary


def test_suppression_result_repr_leaves_out_people() -> None:
    users = users_from_sizes({"Alpha": 20, "Bravo": 2, "Charlie": 6})
    text = repr(suppress_departments(users, K))
    assert "Bravo" in text and "k=5" in text
    assert "@corp.example" not in text and "Person" not in text


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=10),
    k=st.integers(min_value=2, max_value=12),
)
def test_suppression_property(sizes: list[int], k: int) -> None:
    names = [f"Dept{chr(ord('a') + i)}" for i in range(len(sizes))]
    users = users_from_sizes(dict(zip(names, sizes, strict=True)))
    result = suppress_departments(users, k)
    after = department_sizes(result.users)
    shown = {d: n for d, n in after.items() if d != SUPPRESSED_LABEL}

    assert len(result.users) == len(users)
    assert all(n >= k for n in shown.values())
    assert set(result.primary) == {d for d, n in zip(names, sizes, strict=True) if n < k}
    assert set(result.primary) <= set(result.hidden)
    assert not set(result.hidden) & set(result.users["department"].cat.categories)
    if result.everything_hidden:
        assert not shown and set(result.hidden) == set(names)
    elif result.hidden:
        hidden_total = after[SUPPRESSED_LABEL]
        assert hidden_total == sum(sizes) - sum(shown.values())
        assert hidden_total >= k
        assert len(result.hidden) >= 2
    else:
        assert min(sizes) >= k


# -- suppress_rows --------------------------------------------------------------------------


def rate_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign_id": ["c1", "c2", "c3", "c4"],
            "metric": ["completion"] * 4,
            "successes": np.array([0, 2, 5, 60], dtype=np.int64),
            "n": np.array([0, 3, 5, 120], dtype=np.int64),
            "rate": [np.nan, 2 / 3, 1.0, 0.5],
            "ci_low": [np.nan, 0.2, 0.57, 0.41],
            "ci_high": [np.nan, 0.94, 1.0, 0.59],
            "suppressed": [False, False, False, False],
        }
    )


def test_suppress_rows_blanks_rows_below_k() -> None:
    table = rate_table()
    before = table.copy()
    result = suppress_rows(table, K)
    pd.testing.assert_frame_equal(table, before)  # input untouched
    assert result["suppressed"].tolist() == [False, True, False, False]
    assert result["successes"].dtype == "Int64" and result["n"].dtype == "Int64"
    assert result.loc[1, ["successes", "n"]].isna().all()
    assert np.isnan(result.loc[1, ["rate", "ci_low", "ci_high"]].to_numpy(dtype=float)).all()
    # n == 0 carries no figures and is not "suppressed"; n == k is shown.
    assert result.loc[0, "n"] == 0 and result.loc[2, "n"] == 5
    assert result.loc[3, "successes"] == 60 and result.loc[3, "rate"] == 0.5
    assert result["campaign_id"].tolist() == table["campaign_id"].tolist()
    assert result.attrs["min_group_size"] == K  # for the charts' "n < k" labels


def test_suppress_rows_blanks_question_counts_and_tests() -> None:
    table = rate_table()
    table["correct"] = table["successes"]
    table["incorrect"] = table["n"] - table["successes"]
    table["not_answered"] = pd.array([4, 9, 0, 3], dtype="Int64")
    table["q_value"] = [np.nan, 0.01, 0.5, 0.2]
    table["significant"] = [False, True, False, False]
    table["direction"] = ["no data", "above", "as expected", "as expected"]
    result = suppress_rows(table, K)
    row = result.loc[1]
    for column in ("correct", "incorrect", "not_answered"):
        assert pd.isna(row[column]), column
    assert np.isnan(row["q_value"])
    assert not row["significant"]
    assert row["direction"] == "suppressed"
    assert result.loc[3, "incorrect"] == 60 and result.loc[3, "direction"] == "as expected"


def test_suppress_rows_keeps_earlier_suppression_and_adds_the_column() -> None:
    table = rate_table()
    table.loc[3, "suppressed"] = True
    assert suppress_rows(table, K)["suppressed"].tolist() == [False, True, False, True]
    result = suppress_rows(rate_table().drop(columns="suppressed"), K)
    assert result["suppressed"].tolist() == [False, True, False, False]


@pytest.mark.parametrize("k", [None, 0, 1])
def test_suppress_rows_off(k: int | None) -> None:
    table = rate_table()
    result = suppress_rows(table, k)
    pd.testing.assert_frame_equal(result, table)
    assert result is not table


# -- pseudonymise ---------------------------------------------------------------------------

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PEOPLE = {
    "alex.doe@corp.example": "Alex Doe",
    "sam.lee@corp.example": "Sam Lee",
    "nameless@corp.example": "",
}


def people_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    first = [
        {"email": email, "name": name, "department": "Finance", "results": {"forQuestion1": "SENT"}}
        for email, name in PEOPLE.items()
    ]
    # The same Alex in a later campaign, with the address typed differently.
    second = [{"email": " Alex.Doe@CORP.example ", "name": "Alex Doe", "department": "Finance"}]
    frames = build_frames([campaign("c1"), campaign("c22")], {"c1": first, "c22": second})
    return frames.users, frames.answers


def expected(prefix: str, key: bytes, text: str) -> str:
    return prefix + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:12]


def test_pseudonyms_follow_the_contract_formula() -> None:
    users, _ = people_frames()
    result = pseudonymise(users, KEY)
    alex = result[users["email"] == "alex.doe@corp.example"].iloc[0]
    assert alex["email"] == expected("user-", KEY, "alex.doe@corp.example")
    assert alex["name"] == expected("person-", KEY, "name:alex.doe@corp.example")
    assert result["email"].str.fullmatch(r"user-[0-9a-f]{12}").all()
    assert result["email"].dtype == users["email"].dtype
    assert result["name"].dtype == users["name"].dtype


def test_pseudonyms_are_stable_across_campaigns_and_frames() -> None:
    users, answers = people_frames()
    result = pseudonymise(users, KEY)
    alex_rows = result[users["email"].str.strip().str.lower() == "alex.doe@corp.example"]
    assert len(alex_rows) == 2  # one per campaign, spelled differently in the raw data
    assert alex_rows["email"].nunique() == 1 and alex_rows["name"].nunique() == 1
    # Answers pseudonymised separately match users, so frames still join.
    answer_emails = set(pseudonymise(answers, KEY)["email"])
    assert answer_emails == set(result["email"])
    # A later snapshot with the same key gives the same pseudonyms.
    pd.testing.assert_frame_equal(pseudonymise(users.copy(), KEY), result)


def test_different_keys_give_different_pseudonyms() -> None:
    users, _ = people_frames()
    one = pseudonymise(users, KEY)
    other = pseudonymise(users, OTHER_KEY)
    assert not set(one["email"]) & set(other["email"])
    assert not set(one["name"]) - {""} & set(other["name"])


def test_no_raw_email_or_name_left_anywhere() -> None:
    users, answers = people_frames()
    raw = [e for e in PEOPLE] + [n for n in PEOPLE.values() if n] + ["alex.doe", "Alex.Doe"]
    for frame in (users, answers):
        result = pseudonymise(frame, KEY)
        cells = [str(v) for v in result.astype(object).to_numpy().ravel()]
        cells += [str(c) for c in result.columns] + [str(i) for i in result.index]
        for value in raw:
            assert not any(value.lower() in cell.lower() for cell in cells), value


def test_empty_names_stay_empty_and_other_columns_are_untouched() -> None:
    users, _ = people_frames()
    result = pseudonymise(users, KEY)
    nameless = users["email"] == "nameless@corp.example"
    assert (result.loc[nameless, "name"] == "").all()
    assert result.loc[~nameless, "name"].str.fullmatch(r"person-[0-9a-f]{12}").all()
    pd.testing.assert_frame_equal(
        result.drop(columns=["email", "name"]), users.drop(columns=["email", "name"])
    )


def test_answers_only_have_email_replaced() -> None:
    _, answers = people_frames()
    result = pseudonymise(answers, KEY)
    assert list(result.columns) == list(answers.columns)
    pd.testing.assert_frame_equal(result.drop(columns="email"), answers.drop(columns="email"))
    assert (result["email"] != answers["email"]).all()


def test_pseudonymise_returns_a_copy() -> None:
    users, _ = people_frames()
    before = copy.deepcopy(users)
    result = pseudonymise(users, KEY)
    pd.testing.assert_frame_equal(users, before)
    assert result is not users


def test_pseudonymise_rejects_a_non_bytes_key_without_showing_it() -> None:
    users, _ = people_frames()
    secret = "ab" * 32
    with pytest.raises(TypeError) as caught:
        pseudonymise(users, secret)  # type: ignore[arg-type]
    assert secret not in str(caught.value)
    with pytest.raises(ValueError, match="email"):
        pseudonymise(pd.DataFrame({"name": ["Alex Doe"]}), KEY)


# -- load_pseudonym_key ---------------------------------------------------------------------


def test_key_from_environment(tmp_path: Path) -> None:
    value = "0f" * 32
    key_file = tmp_path / "pseudonym.key"
    assert load_pseudonym_key({KEY_ENV: value}, key_file) == bytes.fromhex(value)
    assert not key_file.exists()  # the variable wins; no file is created


def test_key_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "A1" * 20)
    assert load_pseudonym_key() == bytes.fromhex("a1" * 20)


@pytest.mark.parametrize(
    "value",
    [
        "toosecret-not-hex-at-all-but-long-enough-for-32",
        "abcd1234",  # hex but too short
        "a" * 33,  # odd number of hex digits
    ],
)
def test_invalid_key_in_environment(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_pseudonym_key({KEY_ENV: value}, tmp_path / "k")
    message = str(caught.value)
    assert KEY_ENV in message
    assert value not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "awareness-analysis" / "pseudonym.key"
    first = load_pseudonym_key({}, key_file)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert key_file.read_text().strip() == first.hex()
    second = load_pseudonym_key({}, key_file)
    assert second == first
    # An empty variable counts as unset: the file is used.
    assert load_pseudonym_key({KEY_ENV: "  "}, key_file) == first


def test_missing_key_file_without_create_explains_how(tmp_path: Path) -> None:
    key_file = tmp_path / "pseudonym.key"
    with pytest.raises(FileNotFoundError) as caught:
        load_pseudonym_key({}, key_file, create=False)
    message = str(caught.value)
    assert KEY_ENV in message and str(key_file) in message
    assert "token_hex" in message and "create=True" in message
    assert not key_file.exists()


def test_bad_key_file_names_the_file_not_the_content(tmp_path: Path) -> None:
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text("my-secret-password\n")
    key_file.chmod(0o600)
    with pytest.raises(ValueError) as caught:
        load_pseudonym_key({}, key_file)
    assert str(key_file) in str(caught.value)
    assert "my-secret-password" not in str(caught.value)


def test_default_key_file_is_in_the_user_config_folder() -> None:
    assert DEFAULT_KEY_FILE.parts[-3:] == (".config", "awareness-analysis", "pseudonym.key")
    assert str(DEFAULT_KEY_FILE).startswith("~")


def test_blank_and_missing_names() -> None:
    frame = pd.DataFrame(
        {
            "email": pd.array(["a@x.example", "b@x.example", "c@x.example"], dtype="str"),
            "name": pd.array(["  ", None, "Cy"], dtype="str"),
        }
    )
    result = pseudonymise(frame, KEY)
    assert result.loc[0, "name"] == ""
    assert pd.isna(result.loc[1, "name"])
    assert result.loc[2, "name"] == expected("person-", KEY, "name:c@x.example")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text("ab" * 32 + "\n")
    key_file.chmod(mode)
    with pytest.raises(PermissionError, match=f"chmod 600 {key_file}") as info:
        load_pseudonym_key(env={}, key_file=key_file)
    assert "ab" * 32 not in str(info.value)
    key_file.chmod(0o600)
    assert load_pseudonym_key(env={}, key_file=key_file) == bytes.fromhex("ab" * 32)
