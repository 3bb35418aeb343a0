"""The one analysis engine against a plain pandas reference, and what its figures count.

The reference below is written from the definitions (README, metrics.DEFINITIONS, engine
docstring) with pandas group-bys, Python sets and statsmodels, sharing no code with the engine:
selection, suppression (complementary step included), campaign rates, question accuracy and the
department comparison (rest-of-organisation baseline, person-clustered effective n,
Benjamini-Hochberg). Hypothesis draws random organisations (people who move departments, mixed
case emails, enrolments listed twice, departments whose names contain others), selections and k.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from awareness_analysis.analysis.engine import Engine
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.metrics import (
    campaign_rates,
    department_comparison,
    question_accuracy,
)
from awareness_analysis.analysis.stats import (
    design_effect,
    format_p,
    two_proportion_z,
    wilson_interval,
)
from awareness_analysis.data.frames import Frames, build_frames
from awareness_analysis.vocabulary import SUPPRESSED_LABEL, UNASSIGNED_DEPARTMENT, USER_METRICS

DEPARTMENTS = ("Sales", "Sales Ops", "IT", "", "Legal", "Audit")
TOLERANCE = 1e-9


# -- organisations --------------------------------------------------------------------------


def _campaign(index: int, questions: int) -> dict[str, Any]:
    return {
        "id": f"c{index}",
        "name": f"Campaign {index}",
        "title": {"correctAnswers": {f"forQuestion{q}": 1 for q in range(1, questions + 1)}},
        "launchDate": f"2026-0{index + 1}-01T09:00:00+0000",
    }


def make_organisation(
    seed: int,
    n_people: int,
    n_campaigns: int,
    repeat: bool = True,
    extra: float = 0.0,
    twice: float = 0.03,
) -> Frames:
    """A random organisation: each person has a home department (some move between campaigns),
    campaigns go to random subsets; ``extra`` shifts department 0's acknowledgement."""
    rng = np.random.default_rng(seed)
    home = rng.choice(len(DEPARTMENTS), n_people)
    campaigns, items = [], {}
    for c in range(n_campaigns):
        questions = int(rng.integers(1, 4))
        campaigns.append(_campaign(c, questions))
        members = np.flatnonzero(rng.random(n_people) < (0.8 if repeat else 1.0))
        if not repeat:
            members = np.arange(c, n_people, n_campaigns)  # each person in one campaign
        rows = []
        for person in members:
            department = DEPARTMENTS[home[person]]
            if rng.random() < 0.1:
                department = DEPARTMENTS[rng.integers(len(DEPARTMENTS))]  # moved
            email = f"p{person}@corp.example"
            if rng.random() < 0.1:
                email = email.upper()  # the same person, differently spelled
            skill = 0.3 + 0.5 * (home[person] / len(DEPARTMENTS))
            results = {
                f"forQuestion{q}": str(
                    rng.choice(
                        ["SENT", "CORRECT", "INCORRECT"], p=[0.2, 0.8 * skill, 0.8 * (1 - skill)]
                    )
                )
                for q in range(1, questions + 1)
            }
            acknowledged = rng.random() < 0.5 + (extra if home[person] == 0 else 0.0)
            row = {
                "email": email,
                "name": f"Person {person}",
                "department": department,
                "acknowledgement": bool(acknowledged),
                "results": results,
            }
            rows.append(row)
            if rng.random() < twice:
                rows.append(dict(row))  # listed twice in one campaign
        items[f"c{c}"] = rows
    return build_frames(campaigns, items)


# -- the reference ---------------------------------------------------------------------------


def ref_rate(success: pd.Series, person: pd.Series) -> dict[str, float]:
    """Counts, rate, design effect and clustered Wilson interval of counted units."""
    n = len(success)
    s = int(success.sum())
    people = person.nunique()
    if n == 0:
        return {"successes": 0, "n": 0, "people": 0, "rate": math.nan, "deff": 1.0,
                "ci_low": math.nan, "ci_high": math.nan}  # fmt: skip
    p = s / n
    per = pd.DataFrame({"y": success.astype(float), "person": person}).groupby("person")["y"]
    clustered = float(((per.sum() - p * per.count()) ** 2).sum())
    binomial = n * p * (1 - p)
    deff = 1.0 if people == n or binomial == 0 else max(1.0, clustered / binomial)
    low, high = proportion_confint(p * n / deff, n / deff, method="wilson")
    return {"successes": s, "n": n, "people": people, "rate": p, "deff": deff,
            "ci_low": 0.0 if s == 0 else low, "ci_high": 1.0 if s == n else high}  # fmt: skip


def ref_hidden(base: pd.DataFrame, k: int) -> set[str]:
    if k < 2 or base.empty:
        return set()
    members = {d: set(g) for d, g in base.groupby("dept")["person"]}
    total = base["person"].nunique()
    if total < k:
        return set(members)
    hidden = sorted(d for d, m in members.items() if len(m) < k)
    shown = sorted((d for d in members if d not in hidden), key=lambda d: (len(members[d]), d))

    def people(names: list[str]) -> int:
        return len(set().union(*(members[d] for d in names)))

    while hidden and (len(hidden) == 1 or people(hidden) < k) and shown:
        hidden.append(shown.pop(0))
    return set(hidden)


def ref_frames(frames: Frames, selection: Selection, k: int) -> dict[str, Any]:
    """Baseline, matched and shown user rows, and the answers of each, by the definitions."""
    users = frames.users.reset_index(drop=True).copy()
    users["person"] = users["email"].astype(str).str.strip().str.lower()
    users["dept"] = users["department"].astype(str)
    keep = pd.Series(True, index=users.index)
    if selection.campaign_ids:
        keep &= users["campaign_id"].astype(str).isin(selection.campaign_ids)
    if selection.statuses:
        keep &= users["outcome"].astype(str).isin(selection.statuses)
    base = users[keep]
    hidden = ref_hidden(base, k)
    users["shown_dept"] = users["dept"].where(~users["dept"].isin(hidden), SUPPRESSED_LABEL)
    base = users[keep]
    matched = base
    if selection.search:
        needle = selection.search.lower()
        hit = pd.Series(False, index=base.index)
        for column in ("name", "email", "shown_dept"):
            hit |= base[column].astype(str).str.lower().str.contains(needle, regex=False)
        matched = base[hit]
    shown = matched
    if selection.departments:
        shown = matched[matched["shown_dept"].isin(selection.departments)]
    # Each answer belongs to the first user row with its (campaign, email).
    first = users.drop_duplicates(["campaign_id", "email"], keep="first")
    answers = frames.answers.copy()
    answers["row"] = answers.merge(
        first.reset_index()[["campaign_id", "email", "index"]],
        on=["campaign_id", "email"],
        how="left",
    )["index"].to_numpy()
    answers = answers.dropna(subset=["row"])
    answers["row"] = answers["row"].astype(int)
    return {"users": users, "base": base, "matched": matched, "shown": shown,
            "hidden": hidden, "answers": answers}  # fmt: skip


def ref_units(ref: dict[str, Any], rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Counted units of ``metric`` for user rows ``rows``: success, person, dept, campaign."""
    if metric == "accuracy":
        answers = ref["answers"]
        answers = answers[answers["row"].isin(rows.index)]
        answers = answers[answers["result"].astype(str) != "sent"]
        owner = ref["users"].loc[answers["row"]]
        return pd.DataFrame({
            "success": (answers["result"].astype(str) == "correct").to_numpy(),
            "person": owner["person"].to_numpy(), "dept": owner["shown_dept"].to_numpy(),
            "campaign": owner["campaign_id"].astype(str).to_numpy(),
            "row": answers["row"].to_numpy(),
        })  # fmt: skip
    answered = rows["outcome"].astype(str) != "sent"
    all_correct = answered & (rows["n_questions"] > 0) & (rows["n_correct"] == rows["n_questions"])
    success = {"acknowledgement": rows["acknowledged"], "completion": answered,
               "all_correct": all_correct}[metric]  # fmt: skip
    counted = answered if metric == "all_correct" else pd.Series(True, index=rows.index)
    return pd.DataFrame({
        "success": success[counted].to_numpy(), "person": rows["person"][counted].to_numpy(),
        "dept": rows["shown_dept"][counted].to_numpy(),
        "campaign": rows["campaign_id"].astype(str)[counted].to_numpy(),
        "row": rows.index[counted].to_numpy(),
    })  # fmt: skip


def ref_comparison(ref: dict[str, Any], metric: str, k: int) -> tuple[pd.DataFrame, dict]:
    base = ref_units(ref, ref["base"], metric)
    matched = ref_units(ref, ref["matched"], metric)
    org = ref_rate(base["success"], base["person"])
    # Departments present: any matched row (with answers, for accuracy), counted or not.
    present = ref["matched"]
    if metric == "accuracy":
        present = present[present.index.isin(ref["answers"]["row"])]
    rows = []
    for dept in sorted(set(present["shown_dept"])):
        group = matched[matched["dept"] == dept]
        # A user row's counted units are all in the group or all outside it.
        rest = base[~base["row"].isin(group["row"])]
        one = ref_rate(group["success"], group["person"])
        other = ref_rate(rest["success"], rest["person"])
        tested = (
            dept != SUPPRESSED_LABEL
            and not (0 < one["people"] < k)
            and one["n"] > 0
            and other["n"] > 0
        )
        z = p = math.nan
        if tested:
            n1, n0 = one["n"] / one["deff"], other["n"] / other["deff"]
            counts = np.array([one["rate"] * n1, other["rate"] * n0])
            if 0 < counts.sum() < n1 + n0:
                z, p = proportions_ztest(counts, np.array([n1, n0]))
            else:
                z, p = 0.0, 1.0
        rows.append({"department": dept, **one, "z": z, "p_value": p, "tested": tested,
                     "rest_n": other["n"], "rest_rate": other["rate"]})  # fmt: skip
    table = pd.DataFrame(rows)
    if len(table):
        tested = table["tested"].to_numpy(dtype=bool)
        table["q_value"] = math.nan
        if tested.any():
            table.loc[tested, "q_value"] = multipletests(
                table.loc[tested, "p_value"], method="fdr_bh"
            )[1]
        table["significant"] = tested & (table["q_value"].fillna(1.0) < 0.05)
    return table, org


# -- property tests ----------------------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Frames, Selection, int]:
    frames = make_organisation(
        seed=draw(st.integers(0, 2**32 - 1)),
        n_people=draw(st.integers(1, 45)),
        n_campaigns=draw(st.integers(1, 4)),
        repeat=draw(st.booleans()),
    )
    campaigns = sorted(frames.campaigns["campaign_id"].astype(str))
    chosen = draw(st.lists(st.sampled_from(campaigns), unique=True, max_size=len(campaigns)))
    statuses = draw(st.lists(st.sampled_from(["sent", "correct", "incorrect"]), unique=True))
    names = [d or UNASSIGNED_DEPARTMENT for d in DEPARTMENTS] + [SUPPRESSED_LABEL]
    departments = draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
    search = draw(st.sampled_from(["", "sales", "person 1", "p2@", "(s", "it"]))
    k = draw(st.sampled_from([0, 2, 3, 5, 8]))
    selection = Selection(
        campaign_ids=chosen, statuses=statuses, departments=departments, search=search
    )
    return frames, selection, k


def _close(actual: Any, expected: Any) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return actual is None or pd.isna(actual)
    return not pd.isna(actual) and abs(float(actual) - float(expected)) <= TOLERANCE


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(scenarios())
def test_selection_and_suppression_match_the_reference(
    scenario: tuple[Frames, Selection, int],
) -> None:
    frames, selection, k = scenario
    view = Engine(frames.users, frames.answers).view(selection, k)
    ref = ref_frames(frames, selection, k)
    assert set(view.hidden) == ref["hidden"]
    users = view.users()
    assert list(users.index) == list(frames.users.index[ref["shown"].index])
    assert list(users["department"].astype(str)) == list(ref["shown"]["shown_dept"])
    assert view.enrolments == len(ref["shown"])
    assert view.people == ref["shown"]["person"].nunique()
    expected_answers = ref["answers"][ref["answers"]["row"].isin(ref["shown"].index)]
    assert sorted(view.answers().index) == sorted(expected_answers.index)


@PROPERTY_SETTINGS
@given(scenarios())
def test_campaign_rates_match_the_reference(scenario: tuple[Frames, Selection, int]) -> None:
    frames, selection, k = scenario
    table = Engine(frames.users, frames.answers).view(selection, k).campaign_rates()
    ref = ref_frames(frames, selection, k)
    shown = ref["shown"]
    expected = []
    for campaign in frames.users["campaign_id"].cat.categories.astype(str):
        rows = shown[shown["campaign_id"].astype(str) == campaign]
        if rows.empty:
            continue
        for metric in USER_METRICS:
            units = ref_units(ref, rows, metric)
            expected.append({"campaign_id": campaign, "metric": metric,
                             **ref_rate(units["success"], units["person"])})  # fmt: skip
    assert len(table) == len(expected)
    for (_, row), want in zip(table.iterrows(), expected, strict=True):
        assert str(row["campaign_id"]) == want["campaign_id"] and row["metric"] == want["metric"]
        hide = 0 < want["people"] < k
        assert bool(row["suppressed"]) == hide
        if hide:
            assert pd.isna(row["n"]) and pd.isna(row["rate"]) and pd.isna(row["people"])
            continue
        for column in ("successes", "n", "people", "rate", "ci_low", "ci_high"):
            assert _close(row[column], want[column]), (column, row[column], want[column])
        assert _close(row["design_effect"], want["deff"])


@PROPERTY_SETTINGS
@given(scenarios())
def test_question_accuracy_matches_the_reference(scenario: tuple[Frames, Selection, int]) -> None:
    frames, selection, k = scenario
    table = Engine(frames.users, frames.answers).view(selection, k).question_accuracy()
    ref = ref_frames(frames, selection, k)
    answers = ref["answers"][ref["answers"]["row"].isin(ref["shown"].index)]
    owner = ref["users"].loc[answers["row"]]
    answers = answers.assign(person=owner["person"].to_numpy())
    expected = {}
    for (campaign, question), group in answers.groupby(
        [answers["campaign_id"].astype(str), "question"]
    ):
        counted = group[group["result"].astype(str) != "sent"]
        want = ref_rate(counted["result"].astype(str) == "correct", counted["person"])
        want["not_answered"] = int((group["result"].astype(str) == "sent").sum())
        expected[(campaign, int(question))] = want
    assert len(table) == len(expected)
    for _, row in table.iterrows():
        want = expected[(str(row["campaign_id"]), int(row["question"]))]
        if 0 < want["people"] < k:
            assert row["suppressed"] and pd.isna(row["n"])
            continue
        for column in ("successes", "n", "people", "rate", "ci_low", "ci_high", "not_answered"):
            assert _close(row[column], want[column]), (column, row[column], want[column])


@PROPERTY_SETTINGS
@given(scenarios(), st.sampled_from(["acknowledgement", "completion", "all_correct", "accuracy"]))
def test_department_comparison_matches_the_reference(
    scenario: tuple[Frames, Selection, int], metric: str
) -> None:
    frames, selection, k = scenario
    table = Engine(frames.users, frames.answers).view(selection, k).department_comparison(metric)
    ref = ref_frames(frames, selection, k)
    expected, org = ref_comparison(ref, metric, k)
    if selection.departments and len(expected):
        expected = expected[expected["department"].isin(selection.departments)]
    assert (
        sorted(table["department"]) == sorted(expected["department"])
        if len(expected)
        else (table.empty)
    )
    if org["people"] and not 0 < org["people"] < k:
        assert table.attrs["org_n"] == org["n"] and table.attrs["org_people"] == org["people"]
        assert _close(table.attrs["org_rate"], org["rate"])
        assert _close(table.attrs["org_ci_low"], org["ci_low"])
    by_name = {row["department"]: row for _, row in expected.iterrows()}
    for _, row in table.iterrows():
        want = by_name[row["department"]]
        if 0 < want["people"] < k:
            assert row["suppressed"] and pd.isna(row["n"]) and not row["significant"]
            continue
        for column in ("successes", "n", "people", "rate", "ci_low", "ci_high", "rest_n"):
            assert _close(row[column], want[column]), (column, row[column], want[column])
        assert _close(row["design_effect"], want["deff"])
        for column in ("z", "p_value", "q_value"):
            assert _close(row[column], want[column]) or (
                # z = +-inf (p = 0) when the rest has no variance at all
                column == "z" and math.isinf(row[column])
            ), (column, row[column], want[column])
        assert bool(row["significant"]) == bool(want["significant"])


# -- what a figure counts ---------------------------------------------------------------------


def _org(seed: int = 7) -> Frames:
    return make_organisation(seed, n_people=400, n_campaigns=5)


def test_pooled_views_count_people_and_enrolments_separately() -> None:
    frames = _org()
    view = Engine(frames.users, frames.answers).view(Selection(), 5)
    assert view.enrolments == len(frames.users)
    assert view.people == frames.users["email"].str.lower().nunique() < view.enrolments
    table = view.department_comparison("acknowledgement")
    shown = table[~table["suppressed"]]
    assert (shown["people"] < shown["n"]).all()  # every department: people counted once
    assert table.attrs["unit"] == "enrolments" and table.attrs["org_people"] == view.people
    accuracy = view.department_comparison("accuracy")
    assert accuracy.attrs["unit"] == "answers"
    assert (accuracy["people"] < accuracy["n"]).all()


def test_single_campaign_rates_count_people() -> None:
    frames = make_organisation(7, n_people=400, n_campaigns=3, twice=0.0)
    one = str(frames.campaigns["campaign_id"].iloc[0])
    rates = Engine(frames.users).view(Selection(campaign_ids=(one,))).campaign_rates()
    assert (rates["people"] == rates["n"]).all()
    assert (rates["design_effect"] == 1.0).all()
    # A person listed twice in one campaign is one person and two enrolments.
    doubled = make_organisation(7, n_people=400, n_campaigns=1, twice=0.2)
    rates = campaign_rates(doubled.users)
    assert (rates["people"] < rates["n"]).all()
    assert rates["people"].iloc[0] == doubled.users["email"].str.lower().nunique()


def test_clustered_intervals_are_wider_when_people_repeat_and_equal_when_they_do_not() -> None:
    # Repeated: the same people in five campaigns, with a stable personal tendency.
    rng = np.random.default_rng(3)
    person = np.repeat(np.arange(200), 5)
    tendency = rng.random(200)[person]
    success = rng.random(len(person)) < tendency
    group = np.zeros(len(person), dtype=np.int64)
    s, n, people, deff = design_effect(group, person, success, 1)
    assert people[0] == 200 and n[0] == 1000 and deff[0] > 1.5
    clustered = wilson_interval(s / n * (n / deff), n / deff)
    naive = proportion_confint(s[0], n[0], method="wilson")
    assert clustered[0][0] < naive[0] and clustered[1][0] > naive[1]
    # Each person once: the design effect is exactly 1 and the interval statsmodels' Wilson.
    s1, n1, people1, deff1 = design_effect(group[:200], np.arange(200), success[:200], 1)
    assert deff1[0] == 1.0 and people1[0] == n1[0] == 200
    low, high = wilson_interval(s1, n1)
    assert (low[0], high[0]) == pytest.approx(proportion_confint(s1[0], n1[0], method="wilson"))

    frames = make_organisation(7, 400, 5, repeat=False, twice=0.0)  # each person once
    table = Engine(frames.users).view().department_comparison("acknowledgement")
    assert (table["design_effect"] == 1.0).all() and (table["people"] == table["n"]).all()
    for _, row in table.iterrows():
        low, high = proportion_confint(row["successes"], row["n"], method="wilson")
        assert row["ci_low"] == pytest.approx(low, abs=1e-12)
        assert row["ci_high"] == pytest.approx(high, abs=1e-12)


def test_clustered_variance_is_the_sandwich_statsmodels_computes() -> None:
    rng = np.random.default_rng(11)
    person = rng.integers(0, 60, 400)
    success = rng.random(400) < 0.3 + 0.5 * (person % 3 == 0)
    s, n, _, deff = design_effect(np.zeros(400, dtype=np.int64), person, success, 1)
    p = s[0] / n[0]
    fit = sm.OLS(success.astype(float), np.ones((400, 1))).fit(
        cov_type="cluster", cov_kwds={"groups": person, "use_correction": False}
    )
    assert fit.bse[0] ** 2 == pytest.approx(deff[0] * p * (1 - p) / n[0], rel=1e-10)


def test_two_proportion_test_is_statsmodels_pooled_z_test() -> None:
    z, p = two_proportion_z([30, 5], [50, 40], [20, 80], [50, 100])
    for i, (counts, nobs) in enumerate((([30, 20], [50, 50]), ([5, 80], [40, 100]))):
        want_z, want_p = proportions_ztest(np.array(counts), np.array(nobs))
        assert z[i] == pytest.approx(want_z) and p[i] == pytest.approx(want_p)


def test_the_organisation_line_never_moves_with_departments_or_search() -> None:
    frames = _org()
    engine = Engine(frames.users, frames.answers)
    for metric in ("acknowledgement", "accuracy"):
        whole = engine.view(Selection(), 5).department_comparison(metric)
        departments = [d for d in whole["department"] if d != SUPPRESSED_LABEL][:2]
        for selection in (
            Selection(departments=departments),
            Selection(departments=(SUPPRESSED_LABEL,)),
            Selection(search="person 1"),
            Selection(search="sales", departments=departments),
        ):
            part = engine.view(selection, 5).department_comparison(metric)
            for key in ("org_rate", "org_n", "org_people", "org_ci_low", "org_ci_high"):
                assert part.attrs[key] == whole.attrs[key], (selection, key)
            assert (part["org_rate"] == whole.attrs["org_rate"]).all()
        # The department filter only chooses rows: figures and flags stay the same.
        chosen = engine.view(Selection(departments=departments), 5).department_comparison(metric)
        expected = whole[whole["department"].isin(departments)].reset_index(drop=True)
        pd.testing.assert_frame_equal(chosen.reset_index(drop=True), expected)


def test_each_department_is_compared_with_the_rest_of_the_organisation() -> None:
    frames = make_organisation(5, n_people=300, n_campaigns=1, extra=0.3, twice=0.0)
    table = department_comparison(frames.users, "acknowledgement")
    users = frames.users
    for _, row in table.iterrows():
        rest = users[users["department"].astype(str) != row["department"]]
        assert row["rest_n"] == len(rest)
        assert row["rest_rate"] == pytest.approx(rest["acknowledged"].mean())
        z, p = proportions_ztest(
            np.array([row["successes"], rest["acknowledged"].sum()]),
            np.array([row["n"], len(rest)]),
        )
        assert row["z"] == pytest.approx(z) and row["p_value"] == pytest.approx(p)


def test_significance_is_decided_by_q_not_p() -> None:
    # Ten departments of 100 people, one campaign; "Edge" is a little above the rest.
    items, rng = [], np.random.default_rng(0)
    rates = {f"D{i}": 0.5 for i in range(9)} | {"Edge": 0.61}
    for department, rate in rates.items():
        successes = set(rng.choice(100, int(rate * 100), replace=False))
        for i in range(100):
            items.append({"email": f"{department}.{i}@corp.example", "department": department,
                          "acknowledgement": i in successes, "results": {}})  # fmt: skip
    frames = build_frames([_campaign(0, 1)], {"c0": items})
    table = department_comparison(frames.users, "acknowledgement")
    edge = table.set_index("department").loc["Edge"]
    assert edge["p_value"] < 0.05 <= edge["q_value"]
    assert not edge["significant"] and edge["direction"] == "as expected"
    assert not table["significant"].any()


def test_format_p_keeps_significant_digits() -> None:
    assert format_p(0.00026) == "0.00026"
    assert format_p(0.0412) == "0.041"
    assert format_p(0.5) == "0.50"
    assert format_p(1.0) == "1.0"
    assert format_p(0.00009) == "< 0.0001"
    assert format_p(float("nan")) == "—" and format_p(None) == "—"


def test_public_functions_are_the_engine_without_selection() -> None:
    frames = _org()
    view = Engine(frames.users, frames.answers).view()
    pd.testing.assert_frame_equal(campaign_rates(frames.users), view.campaign_rates())
    pd.testing.assert_frame_equal(
        question_accuracy(frames.answers, frames.users), view.question_accuracy()
    )
    pd.testing.assert_frame_equal(
        department_comparison(frames.users, "accuracy", answers=frames.answers),
        view.department_comparison("accuracy"),
    )


def test_engine_refuses_frames_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        Engine(pd.DataFrame({"email": ["a@x"]}))
    frames = _org()
    with pytest.raises(ValueError, match="Unknown metric"):
        Engine(frames.users).view().department_comparison("clicks")


def test_a_person_in_two_hidden_departments_counts_once() -> None:
    # x is in A for c0 and in B for c1: A and B together hold 4 people (x, y, w, z), not 5,
    # so with k = 5 the next smallest department (Mid) must be hidden with them.
    def item(email: str, department: str) -> dict[str, Any]:
        return {"email": email, "department": department, "results": {}}

    big = [item(f"big{i}@corp.example", "Big") for i in range(20)]
    mid = [item(f"mid{i}@corp.example", "Mid") for i in range(6)]
    c0 = [*big, *mid, *(item(f"{e}@corp.example", "A") for e in "xyw")]
    c1 = [*big, *mid, *(item(f"{e}@corp.example", "B") for e in "xz")]
    frames = build_frames([_campaign(0, 1), _campaign(1, 1)], {"c0": c0, "c1": c1})
    view = Engine(frames.users).view(Selection(), 5)
    assert view.hidden == ("A", "B", "Mid")
    assert view.suppression.primary == ("A", "B")
