"""The headline summary ("At a glance"): the engine's numbers, the right campaigns, nothing hidden
named, escaped HTML, and every shown figure logged in a report run."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from awareness_analysis.analysis.disclosure import (
    DisclosurePlan,
    ReportContext,
    audit,
    plan_disclosure,
    read_published,
)
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.phases import question_label
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.summary import (
    ATTENTION_QUESTIONS,
    DEPARTMENT_SUMMARY_METRICS,
    Summary,
    summarise,
    summary_publications,
)
from awareness_analysis.app import load_analysis
from awareness_analysis.data.frames import Frames
from awareness_analysis.views.summary import SummaryPanel, summary_html
from awareness_analysis.vocabulary import ACCURACY

HEADLINE = "Clean Desk Policy"  # the demo's latest completed campaign
RUNNING = "Spot the Spoof - October"  # launched 12 days before the demo's fetch time
PREVIOUS = "Social Engineering Awareness"  # launched before Clean Desk, similar audience
SMALL_AUDIENCE = "Invoice Fraud - Finance and Leadership"  # ~250 people, others ~2,200


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    # The session's demo store ($AWARENESS_STORE, set by the root conftest.py).
    return load_analysis(min_group_size=5)


@pytest.fixture(scope="module")
def summary(analysis: Analysis) -> Summary:
    return summarise(analysis)


@pytest.fixture(scope="module")
def page(analysis: Analysis, summary: Summary) -> str:
    return summary_html(analysis, summary)


def campaign_id(analysis: Analysis, name: str) -> str:
    ids = [cid for cid, n in analysis.campaign_names.items() if n == name]
    assert len(ids) == 1, name
    return ids[0]


def completed_ids(analysis: Analysis) -> tuple[str, ...]:
    phases = analysis.phases
    return tuple(phases.loc[~phases["running"], "campaign_id"])


def text_of(fragment: str) -> str:
    """The fragment as a reader sees it: no style block, no tags, entities decoded."""
    import html

    fragment = re.sub(r"<style>.*?</style>", "", fragment, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment)))


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


# -- the headline ------------------------------------------------------------------------------


def test_headline_is_the_latest_completed_campaign(analysis: Analysis, summary: Summary) -> None:
    phases = analysis.phases
    completed = phases[~phases["running"]]
    latest = completed.loc[completed["launch_date"].idxmax(), "campaign_name"]
    assert summary.headline_campaign is not None
    assert summary.headline_campaign.name == latest == HEADLINE
    # The newest campaign is still running, so it is not the headline.
    assert phases.loc[phases["launch_date"].idxmax(), "campaign_name"] == RUNNING


def test_headline_rates_are_the_engines(analysis: Analysis, summary: Summary) -> None:
    cid = campaign_id(analysis, HEADLINE)
    view = analysis.view(Selection(campaign_ids=(cid,)))
    rates = view.campaign_rates().set_index("metric")
    for metric in ("acknowledgement", "completion"):
        rate = summary.rate(metric)
        assert rate is not None and rate.shown
        row = rates.loc[metric]
        assert rate.rate == row["rate"]
        assert (rate.ci_low, rate.ci_high) == (row["ci_low"], row["ci_high"])
        assert (rate.successes, rate.n, rate.people) == (row["successes"], row["n"], row["people"])
        assert rate.unit == "enrolments"
    accuracy = summary.rate(ACCURACY)
    org = view.department_comparison(ACCURACY).attrs
    assert accuracy is not None and accuracy.unit == "answers"
    assert accuracy.rate == org["org_rate"]
    assert (accuracy.ci_low, accuracy.ci_high) == (org["org_ci_low"], org["org_ci_high"])
    assert (accuracy.successes, accuracy.n, accuracy.people) == (
        org["org_successes"],
        org["org_n"],
        org["org_people"],
    )


def test_headline_rates_recomputed_with_plain_pandas(analysis: Analysis, summary: Summary) -> None:
    cid = campaign_id(analysis, HEADLINE)
    users = analysis.users[analysis.users["campaign_id"].astype(str) == cid]
    people = users["email"].str.strip().str.lower().nunique()
    acknowledgement = summary.rate("acknowledgement")
    completion = summary.rate("completion")
    assert acknowledgement is not None and completion is not None
    assert acknowledgement.n == len(users) and acknowledgement.people == people
    assert acknowledgement.successes == int(users["acknowledged"].sum())
    assert acknowledgement.rate == pytest.approx(users["acknowledged"].mean(), abs=1e-12)
    assert completion.rate == pytest.approx((users["outcome"] != "sent").mean(), abs=1e-12)
    answers = analysis.answers[analysis.answers["campaign_id"].astype(str) == cid]
    counted = answers[answers["result"].isin(["correct", "incorrect"])]
    accuracy = summary.rate(ACCURACY)
    assert accuracy is not None and accuracy.n == len(counted)
    assert accuracy.rate == pytest.approx((counted["result"] == "correct").mean(), abs=1e-12)


def test_headline_html_shows_each_figure_with_what_it_counts(summary: Summary, page: str) -> None:
    text = text_of(page)
    assert page.startswith('<section class="aa-summary">')
    assert "<html" not in page and "<body" not in page
    assert "At a glance" in text and f"Latest completed campaign: {HEADLINE}" in text
    acknowledgement = summary.rate("acknowledgement")
    accuracy = summary.rate(ACCURACY)
    assert acknowledgement is not None and accuracy is not None
    assert percent(acknowledgement.rate) in text
    assert (
        f"95% CI {100 * acknowledgement.ci_low:.1f}\u2013{100 * acknowledgement.ci_high:.1f}%"
        in text
    )
    assert f"of {acknowledgement.people:,} people acknowledged" in text
    assert f"of {accuracy.n:,} answers correct, from {accuracy.people:,} people" in text
    assert "Groups of fewer than 5 people are hidden" in text


# -- the change from the previous comparable campaign ------------------------------------------


def test_previous_comparable_campaign_and_the_sign_of_each_change(
    analysis: Analysis, summary: Summary
) -> None:
    previous = summary.previous
    assert previous is not None and previous.campaign.name == PREVIOUS
    assert {c.metric for c in previous.changes} == {"acknowledgement", "completion", ACCURACY}
    before = analysis.view(Selection(campaign_ids=(campaign_id(analysis, PREVIOUS),)))
    before_rates = before.campaign_rates().set_index("metric")["rate"]
    before_rates[ACCURACY] = before.department_comparison(ACCURACY).attrs["org_rate"]
    for change in previous.changes:
        current = summary.rate(change.metric)
        assert current is not None
        expected = current.rate - before_rates[change.metric]
        assert change.difference_pp == pytest.approx(100 * expected, abs=1e-9)
        assert np.sign(change.difference_pp) == np.sign(expected) != 0
        assert change.ci_low_pp <= change.difference_pp <= change.ci_high_pp
    # Plain pandas: the demo's acknowledgement fell from Social Engineering to Clean Desk.
    users = analysis.users
    ack = users.groupby(users["campaign_name"].astype(str))["acknowledged"].mean()
    change = next(c for c in previous.changes if c.metric == "acknowledgement")
    assert change.difference_pp == pytest.approx(100 * (ack[HEADLINE] - ack[PREVIOUS]), abs=1e-9)
    assert change.difference_pp < 0


def test_change_significance_is_person_clustered(analysis: Analysis, summary: Summary) -> None:
    """The p-value allows for the same people in both campaigns: it is the sandwich variance
    over people of the difference, recomputed here by hand (an independent two-sample test
    would give another p-value)."""
    assert summary.previous is not None
    change = next(c for c in summary.previous.changes if c.metric == "completion")
    users = analysis.users[analysis.users["campaign_name"].astype(str).isin([HEADLINE, PREVIOUS])]
    y = (users["outcome"] != "sent").astype(float)
    current = users["campaign_name"].astype(str) == HEADLINE
    person = users["email"].str.strip().str.lower()
    n1, n0 = int(current.sum()), int((~current).sum())
    p1, p0 = y[current].mean(), y[~current].mean()
    # Each person's contribution to the difference's estimating equation.
    share = np.where(current, (y - p1) / n1, -(y - p0) / n0)
    per_person = pd.Series(share, index=users.index).groupby(person.to_numpy()).sum()
    clusters, rows = len(per_person), len(users)
    correction = clusters / (clusters - 1) * (rows - 1) / (rows - 2)  # statsmodels' CR1
    z = (p1 - p0) / math.sqrt(correction * float((per_person**2).sum()))
    assert change.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-6)
    shared = set(person[current]) & set(person[~current])
    assert len(shared) > 1000  # the case for clustering: most people took both
    pooled = (y[current].sum() + y[~current].sum()) / rows
    independent_z = (p1 - p0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    assert not math.isclose(z, independent_z, rel_tol=1e-3)


def test_the_most_recent_comparable_campaign_is_chosen(analysis: Analysis) -> None:
    names = ["Password Hygiene", SMALL_AUDIENCE, "Safe Remote Working"]
    chosen = load_analysis(min_group_size=5, campaign_ids=[campaign_id(analysis, n) for n in names])
    result = summarise(chosen)
    assert result.headline_campaign is not None
    assert result.headline_campaign.name == "Safe Remote Working"
    # The campaign just before went to one department (~250 people): skipped as not comparable.
    assert result.previous is not None and result.previous.campaign.name == "Password Hygiene"


def test_no_comparable_earlier_campaign_is_said(analysis: Analysis) -> None:
    names = [SMALL_AUDIENCE, "Safe Remote Working"]
    chosen = load_analysis(min_group_size=5, campaign_ids=[campaign_id(analysis, n) for n in names])
    result = summarise(chosen)
    assert result.previous is None
    text = text_of(summary_html(chosen, result))
    assert "No comparable earlier campaign" in text
    assert "▲" not in text.split("Still running")[0] and " pp vs " not in text


def test_department_note_says_pooled_only_over_several_campaigns(
    analysis: Analysis, page: str
) -> None:
    assert len(completed_ids(analysis)) > 1
    assert "Pooled over campaigns, so counts are enrolments or answers" in text_of(page)
    one = load_analysis(min_group_size=5, campaign_ids=[campaign_id(analysis, HEADLINE)])
    text = text_of(summary_html(one, summarise(one)))
    assert "Over the 1 completed campaign" in text
    assert "Pooled over campaigns" not in text and "Counts are people" in text


# -- running campaigns -------------------------------------------------------------------------


def test_running_campaigns_listed_with_days_since_launch(
    analysis: Analysis, summary: Summary, page: str
) -> None:
    phases = analysis.phases
    running = phases[phases["running"]]
    assert [r.campaign.name for r in summary.running] == running["campaign_name"].tolist()
    assert [r.campaign.name for r in summary.running] == [RUNNING]
    item = summary.running[0]
    days = int(running["days_since_launch"].iloc[0])
    assert item.campaign.days_since_launch == days
    engine = analysis.view(Selection(campaign_ids=(item.campaign.campaign_id,)))
    rates = engine.campaign_rates().set_index("metric")
    assert item.completion.rate == rates.loc["completion", "rate"]
    text = text_of(page)
    assert f"{RUNNING}: still running, {days} days since launch" in text
    assert f"{percent(item.completion.rate)} completed so far" in text
    assert not re.search(r"\bfail", text, flags=re.I)


def test_no_completed_campaign_yet(analysis: Analysis) -> None:
    only_running = load_analysis(min_group_size=5, campaign_ids=[campaign_id(analysis, RUNNING)])
    result = summarise(only_running)
    assert result.headline_campaign is None and result.headline == ()
    assert result.departments == () and result.questions == ()
    text = text_of(summary_html(only_running, result))
    assert "No campaign has completed yet" in text and f"{RUNNING}: still running" in text


# -- departments ---------------------------------------------------------------------------------


def test_departments_are_exactly_those_the_engine_flags(
    analysis: Analysis, summary: Summary, page: str
) -> None:
    view = analysis.view(Selection(campaign_ids=completed_ids(analysis)))
    expected = set()
    for metric in DEPARTMENT_SUMMARY_METRICS:
        table = view.department_comparison(metric)
        flagged = table[table["significant"]]
        expected |= {
            (metric, str(d), str(direction))
            for d, direction in zip(flagged["department"], flagged["direction"], strict=True)
        }
    listed = {(d.metric, d.department, d.direction) for d in summary.departments}
    assert listed == expected
    assert {"below", "above"} <= {direction for _, _, direction in listed}
    text = text_of(page)
    for department in summary.departments:
        line = f"{department.direction}: {department.department} {percent(department.rate.rate)}"
        assert line in text


def test_hidden_departments_are_never_named(analysis: Analysis, page: str) -> None:
    strict = analysis.with_min_group_size(50)
    # Departments are named from the view over the completed campaigns: those it hides.
    hidden = set(strict.view(Selection(campaign_ids=completed_ids(strict))).hidden)
    assert {"Legal", "Internal Audit"} <= hidden  # flagged at k = 5, hidden at k = 50
    assert "Legal" in text_of(page) and "Internal Audit" in text_of(page)
    strict_page = summary_html(strict)
    for department in hidden:
        assert department not in strict_page, department
    assert "Groups of fewer than 50 people are hidden" in text_of(strict_page)


# -- questions -----------------------------------------------------------------------------------


def test_questions_are_the_lowest_accuracy_named_by_question_label(
    analysis: Analysis, summary: Summary, page: str
) -> None:
    accuracy = analysis.view(Selection(campaign_ids=completed_ids(analysis))).question_accuracy()
    shown = accuracy[~accuracy["suppressed"]].sort_values("rate")
    assert len(summary.questions) == ATTENTION_QUESTIONS
    assert [q.accuracy.rate for q in summary.questions] == shown["rate"].head(3).tolist()
    modules = dict(
        zip(analysis.phases["campaign_id"], analysis.phases["module_title"], strict=True)
    )
    text = text_of(page)
    for question in summary.questions:
        expected = question_label(question.question, modules[question.campaign.campaign_id])
        assert question.label == expected and expected.startswith(f"Q{question.question} · ")
        assert f"{expected} ({question.campaign.name}): {percent(question.accuracy.rate)}" in text
        assert f"{question.accuracy.n:,} answers" in text


# -- HTML safety and display -------------------------------------------------------------------


def renamed(analysis: Analysis, old: str, new: str) -> Analysis:
    """``analysis`` with one campaign renamed in every frame (engine and phases rebuilt)."""

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if "campaign_name" in frame:
            frame["campaign_name"] = frame["campaign_name"].cat.rename_categories({old: new})
        return frame

    frames = analysis.frames
    return replace(
        analysis,
        frames=Frames(
            campaigns=rename(frames.campaigns),
            users=rename(frames.users),
            answers=rename(frames.answers),
        ),
    )


def test_html_escapes_campaign_names(analysis: Analysis) -> None:
    hostile = "Clean <script>alert(1)</script> & Desk"
    fragment = summary_html(renamed(analysis, HEADLINE, hostile))
    assert "<script>" not in fragment
    assert "Clean &lt;script&gt;alert(1)&lt;/script&gt; &amp; Desk" in fragment


def test_summary_panel_displays_the_fragment(analysis: Analysis) -> None:
    panel = SummaryPanel(analysis)
    assert panel._repr_html_() == panel.html == summary_html(analysis, panel.summary)
    assert HEADLINE in repr(panel)


# -- a report run ------------------------------------------------------------------------------


def in_report(analysis: Analysis, plan: DisclosurePlan, log: Path) -> Analysis:
    log.touch()
    return replace(analysis, report=True, context=ReportContext(plan, "index", str(log)))


def test_report_run_logs_every_figure_shown_and_passes_the_audit(
    analysis: Analysis, tmp_path: Path
) -> None:
    plan, _ = plan_disclosure(analysis.engine, summary_publications(analysis), 5)
    log = tmp_path / "figures.jsonl"
    reporting = in_report(analysis, plan, log)
    result = summarise(reporting)
    text = text_of(summary_html(reporting, result))
    records = read_published(str(log))
    assert records and all(r["cell"] is not None and r["page"] == "index" for r in records)
    shown = [r for r in records if not r["hidden"]]
    for rate in result.headline:
        assert any(r["rate"] == rate.rate and r["metric"] == rate.metric for r in shown)
    logged_departments = {(r["metric"], r["department"]) for r in shown}
    for department in result.departments:
        assert (department.metric, department.department) in logged_departments
        assert department.department in text
    for question in result.questions:
        assert any(r["question"] == question.question and r["rate"] == question.accuracy.rate
                   for r in shown)  # fmt: skip
    verdict = audit(
        analysis.engine,
        {r["cell"] for r in shown},
        {r["cell"] for r in records if r["hidden"]},
        5,
    )
    assert verdict.passed, verdict.leaks


def test_a_cell_the_plan_hides_is_not_shown(analysis: Analysis, tmp_path: Path) -> None:
    cid = campaign_id(analysis, HEADLINE)
    unplanned = DisclosurePlan(k=5)
    cells = analysis.engine.view(Selection(campaign_ids=(cid,)), 5, plan=unplanned)
    total = cells.campaign_rates()["cell"].iloc[0]  # the campaign's enrolments, all of them
    plan = DisclosurePlan(k=5, hidden_cells=frozenset({total}))
    log = tmp_path / "figures.jsonl"
    reporting = in_report(analysis, plan, log)
    result = summarise(reporting)
    acknowledgement = result.rate("acknowledgement")
    assert acknowledgement is not None and acknowledgement.hidden and not acknowledgement.shown
    # Its size is hidden too, so no campaign can be judged comparable to it.
    assert result.previous is None
    fragment = summary_html(reporting, result)
    values = re.findall(r'<div class="aa-summary-value">(.*?)</div>', fragment)
    accuracy = result.rate(ACCURACY)
    assert accuracy is not None and accuracy.shown  # answers are another cell: still shown
    assert values == ["—", "—", percent(accuracy.rate)]
    assert "hidden: fewer than 5 people" in text_of(fragment)
    assert "No change is shown: this campaign's totals are hidden" in text_of(fragment)
    hidden = [r for r in read_published(str(log)) if r["hidden"]]
    assert any(r["cell"] == total and r["rate"] is None for r in hidden)


def test_a_report_plans_the_summarys_tables(analysis: Analysis) -> None:
    from awareness_analysis.views.report import report_publications

    assert set(summary_publications(analysis)) <= set(report_publications(analysis))
