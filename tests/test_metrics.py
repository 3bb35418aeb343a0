"""Tests of the metric functions against values worked out by hand on small frames."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from awareness_analysis.analysis.metrics import (
    DEFINITIONS,
    SUPPRESSED_LABEL,
    benjamini_hochberg,
    campaign_rates,
    department_comparison,
    funnel_limits,
    question_accuracy,
    wilson_interval,
)
from awareness_analysis.data.frames import Frames, build_frames

# z for 95%: Phi^-1(0.975) = 1.959964, z^2 = 3.841459. For 99.8%: Phi^-1(0.999) = 3.090232.
Z95 = 1.959964
Z2 = 3.841459

COMMON_DTYPES = {
    "metric": "str",
    "successes": "Int64",
    "n": "Int64",
    "people": "Int64",
    "rate": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "design_effect": "float64",
    "suppressed": "bool",
}
CAMPAIGN_RATE_DTYPES = {"campaign_id": "category", "campaign_name": "category", **COMMON_DTYPES}
ACCURACY_DTYPES = {
    "campaign_id": "category",
    "campaign_name": "category",
    "question": "int64",
    "correct": "Int64",
    "incorrect": "Int64",
    "not_answered": "Int64",
    **COMMON_DTYPES,
}
COMPARISON_DTYPES = {
    "department": "str",
    **COMMON_DTYPES,
    "n_effective": "float64",
    "rest_rate": "float64",
    "rest_n": "Int64",
    "org_rate": "float64",
    "z": "float64",
    "p_value": "float64",
    "q_value": "float64",
    "significant": "bool",
    "direction": "str",
}


def assert_schema(table: pd.DataFrame, dtypes: dict[str, str]) -> None:
    assert list(table.columns) == list(dtypes)
    assert {name: str(dtype) for name, dtype in table.dtypes.items()} == dtypes
    assert isinstance(table.index, pd.RangeIndex)
    assert table.index.start == 0 and table.index.step == 1


def campaign(cid: str, name: str, questions: int, launch: str) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "title": {
            "id": f"module-{cid}",
            "title": "Module",
            "correctAnswers": {f"forQuestion{q}": 1 for q in range(1, questions + 1)},
        },
        "launchDate": launch,
    }


def user(
    email: str, results: str = "", acknowledged: bool = False, department: str = "Sales"
) -> dict[str, Any]:
    """A user item; ``results`` spells answers one letter per question: C, I or S (sent)."""
    codes = {"C": "CORRECT", "I": "INCORRECT", "S": "SENT"}
    return {
        "email": email,
        "name": email.split("@")[0],
        "department": department,
        "acknowledgement": acknowledged,
        "results": {f"forQuestion{q}": codes[c] for q, c in enumerate(results, start=1)},
    }


@pytest.fixture(scope="module")
def frames() -> Frames:
    """Three campaigns in launch order camp-z, camp-a, camp-m (not id order).

    camp-z, 4 questions:            ack  answered  all correct
      u1 C C C C                     yes  yes       yes
      u2 C C C S                     yes  yes       no (Q4 not answered)
      u3 C I C I                     no   yes       no
      u4 S S S S                     yes  no        -  (acknowledged but unanswered)
      u5 (no results at all)         no   no        -
    camp-a, 2 questions, nobody answered; v1 acknowledged.
    camp-m: no users at all (category only).
    """
    campaigns = [
        campaign("camp-a", "Not Started", 2, "2026-02-01T09:00:00+0000"),
        campaign("camp-z", "Four Questions", 4, "2026-01-05T09:00:00+0000"),
        campaign("camp-m", "Nobody Enrolled", 1, "2026-03-01T09:00:00+0000"),
    ]
    items = {
        "camp-z": [
            user("u1@x.example", "CCCC", acknowledged=True),
            user("u2@x.example", "CCCS", acknowledged=True),
            user("u3@x.example", "CICI"),
            user("u4@x.example", "SSSS", acknowledged=True),
            user("u5@x.example", ""),
        ],
        "camp-a": [
            user("v1@x.example", "SS", acknowledged=True),
            user("v2@x.example", "SS"),
            user("v3@x.example", ""),
        ],
    }
    return build_frames(campaigns, items)


# --- definitions ----------------------------------------------------------------------------


def test_definitions_text_and_keys() -> None:
    assert set(DEFINITIONS) == {"acknowledgement", "completion", "accuracy", "all_correct"}
    assert all(key == definition.name for key, definition in DEFINITIONS.items())
    assert DEFINITIONS["acknowledgement"].text() == (
        "Acknowledgement rate = enrolments acknowledged / enrolments sent (n). "
        "95% Wilson interval on the effective n."
    )
    accuracy = DEFINITIONS["accuracy"].text()
    assert accuracy.startswith("Question accuracy = correct answers / answered questions")
    assert "not answered (SENT)" in accuracy
    assert "nothing answered" in DEFINITIONS["all_correct"].text()
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFINITIONS["completion"].label = "changed"  # type: ignore[misc]


# --- Wilson interval ------------------------------------------------------------------------


def test_wilson_8_of_10_by_hand() -> None:
    # p = 0.8, n = 10, z^2/n = 0.3841459
    # denominator = 1 + 0.3841459 = 1.3841459
    # centre = (0.8 + 0.3841459 / 2) / 1.3841459 = 0.9920729 / 1.3841459 = 0.7167402
    # half = 1.959964 * sqrt(0.8 * 0.2 / 10 + 3.841459 / 400) / 1.3841459
    #      = 1.959964 * sqrt(0.016 + 0.0096036) / 1.3841459
    #      = 1.959964 * 0.1600114 / 1.3841459 = 0.2265777
    # low = 0.7167402 - 0.2265777 = 0.4902, high = 0.7167402 + 0.2265777 = 0.9433
    low, high = wilson_interval(8, 10)
    assert float(low) == pytest.approx(0.4902, abs=5e-5)
    assert float(high) == pytest.approx(0.9433, abs=5e-5)
    # Second formulation: the bounds are the roots p of n (p_hat - p)^2 = z^2 p (1 - p).
    for bound in (float(low), float(high)):
        assert 10 * (0.8 - bound) ** 2 == pytest.approx(Z2 * bound * (1 - bound), abs=1e-5)


def test_wilson_edges_vectorised() -> None:
    successes = np.array([0, 10, 0, 3])
    n = np.array([10, 10, 0, 3])
    low, high = wilson_interval(successes, n)
    # 0/n: low = 0; high = (z^2/n) / (1 + z^2/n) = z^2 / (n + z^2) = 3.841459 / 13.841459 = 0.2775
    assert low[0] == 0.0
    assert high[0] == pytest.approx(0.2775, abs=5e-5)
    # n/n mirrors it: high = 1, low = n / (n + z^2) = 10 / 13.841459 = 0.7225
    assert high[1] == 1.0
    assert low[1] == pytest.approx(0.7225, abs=5e-5)
    # n = 0: no interval.
    assert np.isnan(low[2]) and np.isnan(high[2])
    # 3/3: low = 3 / (3 + 3.841459) = 0.4385, high = 1
    assert low[3] == pytest.approx(0.4385, abs=5e-5) and high[3] == 1.0
    finite = ~np.isnan(low)
    assert np.all((low[finite] >= 0) & (high[finite] <= 1) & (low[finite] <= high[finite]))


def test_wilson_accepts_nullable_and_checks_input() -> None:
    low, high = wilson_interval(pd.array([8, pd.NA], dtype="Int64"), pd.array([10, pd.NA]))
    assert low[0] == pytest.approx(0.4902, abs=5e-5)
    assert np.isnan(low[1]) and np.isnan(high[1])
    # 99% is wider than 95% around the same estimate.
    low99, high99 = wilson_interval(8, 10, confidence=0.99)
    assert float(low99) < 0.4902 and float(high99) > 0.9433
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence=1.0)


# --- Benjamini-Hochberg ---------------------------------------------------------------------


def test_benjamini_hochberg_by_hand() -> None:
    # Sorted: 0.005 (rank 1), 0.01 (2), 0.03 (3), 0.04 (4); m = 4.
    # p * m / rank: 0.005*4/1 = 0.02, 0.01*4/2 = 0.02, 0.03*4/3 = 0.04, 0.04*4/4 = 0.04;
    # running minimum from the top leaves them unchanged. Back in input order:
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02])


def test_benjamini_hochberg_monotone_nan_and_empty() -> None:
    # m = 2 (NaN not counted): 0.01*2/1 = 0.02, 0.04*2/2 = 0.04.
    np.testing.assert_allclose(benjamini_hochberg([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    # 0.02*3/1 = 0.06 but 0.03*3/2 = 0.045 is smaller further up, so both become 0.045;
    # 0.9*3/3 = 0.9.
    np.testing.assert_allclose(benjamini_hochberg([0.9, 0.03, 0.02]), [0.9, 0.045, 0.045])
    assert benjamini_hochberg([]).shape == (0,)
    with pytest.raises(ValueError, match="p-values"):
        benjamini_hochberg([0.5, 1.5])


# --- funnel limits --------------------------------------------------------------------------


def test_funnel_limits_by_hand() -> None:
    # p0 = 0.5, n = 100: sqrt(0.25 / 100) = 0.05.
    # 95%:   0.5 -/+ 1.959964 * 0.05 = 0.5 -/+ 0.0979982 -> 0.4020, 0.5980
    # 99.8%: 0.5 -/+ 3.090232 * 0.05 = 0.5 -/+ 0.1545116 -> 0.3455, 0.6545
    low, high = funnel_limits(0.5, [100, 0], 0.95)
    assert low[0] == pytest.approx(0.4020, abs=5e-5)
    assert high[0] == pytest.approx(0.5980, abs=5e-5)
    assert np.isnan(low[1]) and np.isnan(high[1])
    low, high = funnel_limits(0.5, np.array([100]), 0.998)
    assert low[0] == pytest.approx(0.3455, abs=5e-5)
    assert high[0] == pytest.approx(0.6545, abs=5e-5)
    # p0 = 0.05, n = 10: sqrt(0.0475 / 10) = 0.0689202; 0.05 - 1.959964 * 0.0689202 < 0 -> 0;
    # high = 0.05 + 0.1350812 = 0.1851.
    low, high = funnel_limits(0.05, [10], 0.95)
    assert low[0] == 0.0
    assert high[0] == pytest.approx(0.1851, abs=5e-5)


# --- campaign rates -------------------------------------------------------------------------


def test_campaign_rates_by_hand(frames: Frames) -> None:
    rates = campaign_rates(frames.users)
    assert_schema(rates, CAMPAIGN_RATE_DTYPES)
    # Launch order (camp-z before camp-a), metrics in fixed order; camp-m has no users: no rows.
    assert list(rates["campaign_id"].astype(str)) == ["camp-z"] * 3 + ["camp-a"] * 3
    assert list(rates["campaign_id"].cat.categories) == ["camp-z", "camp-a"]
    assert list(rates["campaign_name"].astype(str)) == ["Four Questions"] * 3 + ["Not Started"] * 3
    assert list(rates["metric"]) == ["acknowledgement", "completion", "all_correct"] * 2
    # camp-z: acknowledged u1, u2, u4 = 3/5; answered u1, u2, u3 = 3/5 (u4 acknowledged but
    # answered nothing); all correct only u1 of the 3 who answered = 1/3.
    # camp-a: acknowledged 1/3; nobody answered: completion 0/3, all-correct 0/0.
    assert list(rates["successes"]) == [3, 3, 1, 1, 0, 0]
    assert list(rates["n"]) == [5, 5, 3, 3, 3, 0]
    np.testing.assert_allclose(rates["rate"], [0.6, 0.6, 1 / 3, 1 / 3, 0.0, np.nan])
    assert not rates["suppressed"].any()
    # completion 0/3: low = 0, high = z^2 / (3 + z^2) = 3.841459 / 6.841459 = 0.5615
    all_sent = rates.iloc[4]
    assert all_sent["ci_low"] == 0.0
    assert all_sent["ci_high"] == pytest.approx(0.5615, abs=5e-5)
    # all-correct with n = 0: NaN rate and interval.
    assert np.isnan(rates.iloc[5][["rate", "ci_low", "ci_high"]].astype(float)).all()
    # 3/5: p = 0.6, z^2/n = 0.7682918, denominator 1.7682918,
    # centre = (0.6 + 0.3841459) / 1.7682918 = 0.5564,
    # half = 1.959964 * sqrt(0.048 + 3.841459 / 100) / 1.7682918
    #      = 1.959964 * 0.2939609 / 1.7682918 = 0.3258 -> 0.2307, 0.8824
    assert rates.iloc[0]["ci_low"] == pytest.approx(0.2307, abs=5e-5)
    assert rates.iloc[0]["ci_high"] == pytest.approx(0.8824, abs=5e-5)


def test_campaign_rates_filtered_and_empty(frames: Frames) -> None:
    users = frames.users
    only_a = campaign_rates(users[users["campaign_id"] == "camp-a"])
    assert list(only_a["campaign_id"].astype(str)) == ["camp-a"] * 3
    assert list(only_a["campaign_id"].cat.categories) == ["camp-a"]
    assert list(only_a["n"]) == [3, 3, 0]

    empty = campaign_rates(users.iloc[:0])
    assert len(empty) == 0
    assert_schema(empty, CAMPAIGN_RATE_DTYPES)


# --- question accuracy ----------------------------------------------------------------------


def test_question_accuracy_four_question_module(frames: Frames) -> None:
    table = question_accuracy(frames.answers, frames.users)
    assert_schema(table, ACCURACY_DTYPES)
    four = table[table["campaign_id"] == "camp-z"]
    assert list(four["question"]) == [1, 2, 3, 4]
    assert set(four["campaign_name"].astype(str)) == {"Four Questions"}
    # Answers (u1..u5): Q1 C C C S S, Q2 C C I S S, Q3 C C C S S, Q4 C S I S S.
    assert list(four["correct"]) == [3, 2, 3, 1]
    assert list(four["incorrect"]) == [0, 1, 0, 1]
    assert list(four["not_answered"]) == [2, 2, 2, 3]
    # n = correct + incorrect: SENT is "not answered", never wrong.
    assert list(four["n"]) == [3, 3, 3, 2]
    assert list(four["successes"]) == [3, 2, 3, 1]
    np.testing.assert_allclose(four["rate"], [1.0, 2 / 3, 1.0, 0.5])
    assert (four["metric"] == "accuracy").all()
    # Q4 1/2: z^2/n = 1.9207294, denominator 2.9207294, centre = (0.5 + 0.9603647) / 2.9207294
    # = 0.5; half = 1.959964 * sqrt(0.125 + 3.841459 / 16) / 2.9207294
    # = 1.959964 * 0.6042193 / 2.9207294 = 0.4055 -> 0.0945, 0.9055
    q4 = four.iloc[3]
    assert q4["ci_low"] == pytest.approx(0.0945, abs=5e-5)
    assert q4["ci_high"] == pytest.approx(0.9055, abs=5e-5)


def test_question_accuracy_all_sent_and_empty(frames: Frames) -> None:
    table = question_accuracy(frames.answers, frames.users)
    sent = table[table["campaign_id"] == "camp-a"]
    # 3 users x 2 questions, all SENT: rows exist, but n = 0 -> NaN rate and interval.
    assert list(sent["question"]) == [1, 2]
    assert list(sent["not_answered"]) == [3, 3]
    assert list(sent["n"]) == [0, 0]
    assert sent[["rate", "ci_low", "ci_high"]].isna().all().all()
    # Campaign order follows the categories: camp-z rows come first.
    assert list(table["campaign_id"].astype(str)) == ["camp-z"] * 4 + ["camp-a"] * 2

    empty = question_accuracy(frames.answers.iloc[:0], frames.users)
    assert len(empty) == 0
    assert_schema(empty, ACCURACY_DTYPES)


# --- department comparison ------------------------------------------------------------------


def department_users(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One campaign; per department (acknowledged, users)."""
    items = [
        user(f"{dept[:4].strip('()').lower()}{i}@x.example", "S", i < ack, dept)
        for dept, (ack, size) in counts.items()
        for i in range(size)
    ]
    camp = campaign("c1", "Campaign", 1, "2026-01-05T09:00:00+0000")
    return build_frames([camp], {"c1": items}).users


# Each department is compared with the rest of the organisation by the pooled two-proportion
# z-test: p = (s1 + s0) / (n1 + n0), z = (s1/n1 - s0/n0) / sqrt(p (1 - p) (1/n1 + 1/n0)),
# two-sided normal p; one campaign, so each person is one enrolment and effective n = n.


def test_department_comparison_one_clearly_below() -> None:
    # A 2/40, B, C, D 26/40 each, pooled "(suppressed)" 5/10: org = 85/170 = 0.5.
    # A against the rest 83/130: p = 0.5, se = sqrt(0.25 (1/40 + 1/130)) = 0.0904051,
    # z_A = (0.05 - 0.6384615) / 0.0904051 = -6.5092, p_A = 7.557e-11.
    # B against the rest 59/130: z_B = (0.65 - 0.4538462) / 0.0904051 = 2.1697, p_B = 0.030028.
    # BH over the 4 real departments (m = 4): A rank 1 -> 3.0228e-10; B, C, D tie at ranks
    # 2-4: q = 0.030028 * 4 / 4 = 0.030028 < 0.05, so they are significant too.
    users = department_users(
        {"A": (2, 40), "B": (26, 40), "C": (26, 40), "D": (26, 40), SUPPRESSED_LABEL: (5, 10)}
    )
    table = department_comparison(users, "acknowledgement")
    assert_schema(table, COMPARISON_DTYPES)
    attrs = table.attrs
    assert (attrs["metric"], attrs["unit"], attrs["org_rate"]) == (
        "acknowledgement",
        "enrolments",
        0.5,
    )
    assert (attrs["org_successes"], attrs["org_n"], attrs["org_people"]) == (85, 170, 170)
    # Sorted by rate descending, ties by name.
    assert list(table["department"]) == ["B", "C", "D", SUPPRESSED_LABEL, "A"]
    assert (table["org_rate"] == 0.5).all()
    rows = table.set_index("department")
    assert rows.loc["A", "rest_n"] == 130 and rows.loc["A", "rest_rate"] == pytest.approx(83 / 130)
    assert rows.loc["A", "z"] == pytest.approx(-6.5092, abs=5e-5)
    assert rows.loc["A", "p_value"] == pytest.approx(7.557e-11, rel=1e-3)
    assert rows.loc["A", "q_value"] == pytest.approx(4 * 7.557e-11, rel=1e-3)
    assert rows.loc["A", "significant"] and rows.loc["A", "direction"] == "below"
    for dept in ("B", "C", "D"):
        assert rows.loc[dept, "z"] == pytest.approx(2.1697, abs=5e-5)
        assert rows.loc[dept, "p_value"] == pytest.approx(0.030028, abs=5e-6)
        assert rows.loc[dept, "q_value"] == pytest.approx(0.030028, abs=5e-6)
        assert rows.loc[dept, "significant"] and rows.loc[dept, "direction"] == "above"
    # The pooled pseudo-department keeps its numbers but is not tested.
    pooled = rows.loc[SUPPRESSED_LABEL]
    assert (pooled["successes"], pooled["n"], pooled["rate"]) == (5, 10, 0.5)
    assert not math.isnan(pooled["ci_low"])
    assert np.isnan(pooled[["z", "p_value", "q_value"]].astype(float)).all()
    assert not pooled["significant"] and not pooled["suppressed"]
    assert pooled["direction"] == "suppressed"


def test_department_comparison_above_and_no_data() -> None:
    # all_correct: answered users only. One question; per department results:
    # Good: 9 C, 1 I -> 9/10; Mixed: 5 C, 5 I -> 5/10; Late: 3 users all SENT -> 0/0.
    # Good against Mixed (the rest that answered): p = 0.7, se = sqrt(0.21 (1/10 + 1/10))
    # = 0.2049390, z = 0.4 / 0.2049390 = 1.9518 (p = 0.05096), Mixed the mirror image.
    items = (
        [user(f"g{i}@x.example", "C" if i < 9 else "I", department="Good") for i in range(10)]
        + [user(f"m{i}@x.example", "C" if i < 5 else "I", department="Mixed") for i in range(10)]
        + [user(f"l{i}@x.example", "S", department="Late") for i in range(3)]
    )
    camp = campaign("c1", "Campaign", 1, "2026-01-05T09:00:00+0000")
    users = build_frames([camp], {"c1": items}).users
    table = department_comparison(users, "all_correct")
    assert list(table["department"]) == ["Good", "Mixed", "Late"]  # NaN rate sorts last
    assert list(table["n"]) == [10, 10, 0]
    assert table.attrs["org_rate"] == pytest.approx(0.7)
    np.testing.assert_allclose(table["z"], [1.9518, -1.9518, np.nan], atol=5e-5)
    late = table.iloc[2]
    assert late["direction"] == "no data" and not late["significant"]
    assert np.isnan(late["q_value"])
    assert list(table["direction"][:2]) == ["as expected", "as expected"]

    # completion: Late 0/3 against the rest 20/20: p = 20/23, se = sqrt(0.8695652 * 0.1304348
    # * (1/3 + 1/20)) = 0.2085144, z = -1 / 0.2085144 = -4.7958 (p = 1.62e-6): below.
    completion = department_comparison(users, "completion").set_index("department")
    assert completion.loc["Late", "z"] == pytest.approx(-4.7958, abs=5e-5)
    assert completion.loc["Late", "direction"] == "below"
    assert completion.loc["Good", "direction"] == "as expected"


def test_department_comparison_clearly_above() -> None:
    # Top 38/40 against the rest 60/120: p = 98/160, z = 5.0592; X 20/40 against 78/120:
    # z = -1.6864 (p = 0.091717); X, Y, Z tie as ranks 2-4 of m = 4: q = 0.091717.
    users = department_users({"Top": (38, 40), "X": (20, 40), "Y": (20, 40), "Z": (20, 40)})
    table = department_comparison(users, "acknowledgement").set_index("department")
    assert table.loc["Top", "z"] == pytest.approx(5.0592, abs=5e-5)
    assert table.loc["Top", "direction"] == "above" and table.loc["Top", "significant"]
    assert table.loc["X", "z"] == pytest.approx(-1.6864, abs=5e-5)
    np.testing.assert_allclose(table.loc[["X", "Y", "Z"], "q_value"], 0.091717, atol=5e-6)
    assert set(table.loc[["X", "Y", "Z"], "direction"]) == {"as expected"}


def test_department_comparison_accuracy_joins_answers() -> None:
    # Two questions. X: x1 C C, x2 C I -> 3 correct of 4 answered.
    # Y: y1 I S, y2 S S -> 0 of 1 answered (SENT answers are left out, not wrong).
    # org = 3/5 = 0.6; X against Y: se = sqrt(0.24 (1/4 + 1/1)) = 0.5477226, z = 1.3693.
    # X's 4 answers come from 2 people: people 2, n 4, unit "answers".
    items = [
        user("x1@x.example", "CC", department="X"),
        user("x2@x.example", "CI", department="X"),
        user("y1@x.example", "IS", department="Y"),
        user("y2@x.example", "SS", department="Y"),
    ]
    built = build_frames([campaign("c1", "Campaign", 2, "2026-01-05T09:00:00+0000")], {"c1": items})
    table = department_comparison(built.users, "accuracy", answers=built.answers)
    assert list(table["department"]) == ["X", "Y"]
    assert list(table["successes"]) == [3, 0] and list(table["n"]) == [4, 1]
    assert list(table["people"]) == [2, 1] and table.attrs["unit"] == "answers"
    assert table.attrs["org_rate"] == pytest.approx(0.6)
    np.testing.assert_allclose(table["z"], [1.3693, -1.3693], atol=5e-5)
    assert (table["metric"] == "accuracy").all()

    # Users filtered to X: answers of other users drop out of the join, org becomes 3/4, and
    # with no rest of the organisation there is nothing to test.
    only_x = built.users[built.users["department"] == "X"]
    table = department_comparison(only_x, "accuracy", answers=built.answers)
    assert list(table["department"]) == ["X"]
    assert table.attrs["org_n"] == 4 and table.attrs["org_rate"] == 0.75
    assert np.isnan(table.iloc[0]["z"]) and not table.iloc[0]["significant"]

    with pytest.raises(ValueError, match="answers"):
        department_comparison(built.users, "accuracy")
    with pytest.raises(ValueError, match="Unknown metric"):
        department_comparison(built.users, "speed")


def test_department_comparison_degenerate_and_empty(frames: Frames) -> None:
    # Nobody acknowledged: pooled rate 0, se = 0; no difference is possible, so z = 0, p = 1.
    users = department_users({"A": (0, 5), "B": (0, 7)})
    table = department_comparison(users, "acknowledgement")
    assert list(table["z"]) == [0.0, 0.0]
    assert list(table["p_value"]) == [1.0, 1.0]
    assert set(table["direction"]) == {"as expected"}

    empty = department_comparison(frames.users.iloc[:0], "completion")
    assert len(empty) == 0
    assert_schema(empty, COMPARISON_DTYPES)
    assert empty.attrs["org_n"] == 0 and math.isnan(empty.attrs["org_rate"])
