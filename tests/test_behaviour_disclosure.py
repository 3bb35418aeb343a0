"""The knowledge-and-behaviour page under the report's one disclosure plan: its levels, its ties
to the awareness figures, and an attacker reading its figures."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from awareness_analysis.analysis.behaviour_disclosure import (
    PAIRS_LEVEL,
    BehaviourFigures,
    BehaviourView,
    behaviour_figures,
)
from awareness_analysis.analysis.disclosure import (
    DisclosurePlan,
    Publication,
    _determined,
    audit,
    plan_disclosure,
)
from awareness_analysis.analysis.engine import ENROLMENT_LEVEL, Cell
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.privacy import person_keys
from awareness_analysis.analysis.session import Analysis, open_analysis
from awareness_analysis.views.behaviour import behaviour_records
from awareness_analysis.views.figures import FIGURE_COLUMNS
from awareness_analysis.views.report import render_reports, report_publications
from tests.attack import exposed_groups, exposed_phishing_groups

K = 5
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PAGE = "05_knowledge_and_behaviour"


@pytest.fixture(scope="module")
def store() -> Path:
    return Path(os.environ["AWARENESS_STORE"])


@pytest.fixture(scope="module")
def analysis(store: Path) -> Analysis:
    return open_analysis(store, min_group_size=K)


def test_weighted_rows_determine_what_their_weights_combine() -> None:
    # a + 2b and b are published: a = (a + 2b) - 2b is determined, and so is b.
    rows = [np.array([0, 1]), np.array([1])]
    weights = [np.array([1.0, 2.0]), np.array([1.0])]
    found = _determined(rows, [np.array([0]), np.array([2])], 3, weights=weights)
    assert [group for group, _ in found] == [0]  # atom 2 is in no row: never determined
    # 2a + 2b alone: a and b are one column (the same weight everywhere), only a + b is known.
    found = _determined(
        [np.array([0, 1])], [np.array([0]), np.array([0, 1])], 2, weights=[np.array([2.0, 2.0])]
    )
    assert [group for group, _ in found] == [1]
    # Unweighted rows give what they gave before weights existed.
    plain = _determined(rows, [np.array([0]), np.array([1])], 2)
    assert [group for group, _ in plain] == [0, 1]


def _figures_without(
    analysis: Analysis, campaign: str, department: str, left_out: set[str]
) -> BehaviourFigures:
    """The analysis' behaviour figures with ``left_out`` people not sent ``campaign``."""
    phish = analysis.tables["phish_users"]
    keys = person_keys(phish["email"])
    drop = (
        (phish["phish_campaign_id"].astype(str) == campaign)
        & keys.isin(left_out).to_numpy()
        & (phish["department"].astype(str) == department).to_numpy()
    )
    return BehaviourFigures(
        engine=analysis.engine,
        users=analysis.users,
        campaigns=analysis.campaigns,
        phish_users=phish.loc[~drop.to_numpy()],
        phish_campaigns=analysis.tables["phish_campaigns"],
        safe_scores=analysis.tables.get("safe_scores"),
        as_of=analysis.as_of,
        k=K,
    )


def test_knew_counts_tie_to_awareness_counts_through_the_enrolments_before(
    analysis: Analysis,
) -> None:
    """A phishing campaign sent to a department but a few people: its knowledge-effect counts
    (who had answered the awareness campaign before it) subtracted from that campaign's
    completion count give those few people's completions. The linked audit sees it."""
    users = analysis.users
    phish_campaigns = analysis.tables["phish_campaigns"].sort_values("launch_date")
    campaigns = analysis.campaigns.sort_values("launch_date")
    first_awareness = campaigns.iloc[0]
    # The first phishing campaign after the first awareness campaign (and before the second).
    after = phish_campaigns[
        (phish_campaigns["launch_date"] > first_awareness["launch_date"])
        & (phish_campaigns["launch_date"] < campaigns.iloc[1]["launch_date"])
    ].iloc[0]
    campaign_id, phish_id = str(first_awareness["campaign_id"]), str(after["phish_campaign_id"])
    department = "Finance"
    enrolled = users[
        (users["campaign_id"].astype(str) == campaign_id)
        & (users["department"].astype(str) == department)
    ]
    completed = enrolled["n_correct"] + enrolled["n_incorrect"] > 0
    phish = analysis.tables["phish_users"]
    sent = phish[
        (phish["phish_campaign_id"].astype(str) == phish_id)
        & (phish["department"].astype(str) == department)
    ]
    keys = person_keys(enrolled["email"])
    not_sent = set(keys) - set(person_keys(sent["email"]))  # joiners and leavers
    left_out = set(keys[~keys.isin(not_sent)].iloc[: K - 1 - len(not_sent)])
    assert left_out  # the demo has fewer than k - 1 such people in this department
    figures = _figures_without(analysis, phish_id, department, left_out)

    # The attacker's arithmetic, from published figures only.
    view = BehaviourView("", "Finance, one campaign", (phish_id,), (department,))
    effect = figures.tables(view)["risk_ratio"]
    crude = effect[(effect["method"] == "crude") & (effect["outcome"] == "clicked")].iloc[0]
    had_answered = int(crude["n_knew"]) + int(crude["n_not_knew"])
    rates = analysis.view(Selection(campaign_ids=(campaign_id,), departments=(department,)), K)
    table = rates.campaign_rates()
    completion = table[table["metric"] == "completion"].iloc[0]
    recovered = int(completion["successes"]) - had_answered
    few = (keys.isin(left_out | not_sent)).to_numpy()
    assert few.sum() < K
    assert recovered == int(completed[few].sum())  # those people's completions, exactly

    # Blind without the link; the linked audit names those people's enrolments.
    published = {completion["cell"], effect["cell"].iloc[0]}
    assert audit(analysis.engine, published, set(), K).passed
    result = audit(analysis.engine, published, set(), K, links=figures)
    assert not result.passed
    assert any(department in leak and "enrolments" in leak for leak in result.leaks)

    # The planner, given both figures, publishes only what keeps the two hidden.
    pair_cell = effect["cell"].iloc[0]

    def only_the_pair(plan: DisclosurePlan) -> tuple[dict[Cell, int], set[Cell], set[Cell]]:
        return {pair_cell: figures.people_in(pair_cell)}, {pair_cell}, set()

    figures.cells = only_the_pair  # type: ignore[method-assign]
    selection = Selection(campaign_ids=(campaign_id,), departments=(department,))
    plan, result = plan_disclosure(
        analysis.engine, [Publication("campaign_rates", selection)], K, links=figures
    )
    assert result.passed
    assert plan.hidden_cells & published  # one of the two is hidden
    assert pair_cell.level == PAIRS_LEVEL and completion["cell"].level == ENROLMENT_LEVEL


def test_the_page_follows_the_plan_and_folds_small_departments(analysis: Analysis) -> None:
    figures = behaviour_figures(analysis)
    assert figures is not None
    views = figures.views()
    labels = [view.label for view in views]
    assert labels[0] == "All phishing campaigns and departments"
    assert "Board Secretariat" not in labels  # 3 people: folded, no view of its own
    assert set(figures.hidden_departments) <= set(
        analysis.tables["phish_users"]["department"].astype(str)
    )
    everything = figures.tables(views[0])
    assert not everything["rates"]["suppressed"].any()
    # A hidden cell is blanked wherever it appears, and only there.
    cell = everything["rates"]["cell"].iloc[0]
    hidden = figures.tables(views[0], {cell})["rates"]
    blank = hidden[hidden["cell"] == cell]
    assert blank["suppressed"].all() and blank["n"].isna().all() and blank["rate"].isna().all()
    assert not hidden.loc[hidden["cell"] != cell, "suppressed"].any()


def _only_notebook(folder: Path) -> Path:
    only = folder / "notebooks"
    only.mkdir()
    shutil.copy(NOTEBOOKS / f"{PAGE}.ipynb", only)
    return only


def _figures_csv(figures: BehaviourFigures, hidden: frozenset[Cell], folder: Path) -> Path:
    """What the page publishes with ``hidden`` cells blanked, as a report's figures.csv."""
    records = []
    for view in figures.views():
        tables = figures.tables(view, hidden)
        records += behaviour_records(tables, view, figures.campaign_names)
    shown = [{**r, "page": PAGE} for r in records if not r["hidden"]]
    folder.mkdir()
    pd.DataFrame(shown, columns=list(FIGURE_COLUMNS)).to_csv(folder / "figures.csv", index=False)
    return folder


def test_the_phishing_attacker_is_not_blind_and_the_plan_stops_it(
    analysis: Analysis, store: Path, tmp_path: Path
) -> None:
    # One small department (Data Protection's people moved to Legal) and no folding: its
    # view's rows are hidden by per-table suppression, but "all departments" minus the other
    # departments' rows gives them back.
    phish = analysis.tables["phish_users"].copy()
    department = phish["department"].astype(str)
    phish["department"] = department.where(department != "Data Protection", "Legal")
    figures = BehaviourFigures(
        engine=analysis.engine,
        users=analysis.users,
        campaigns=analysis.campaigns,
        phish_users=phish,
        phish_campaigns=analysis.tables["phish_campaigns"],
        safe_scores=analysis.tables.get("safe_scores"),
        as_of=analysis.as_of,
        k=K,
    )
    figures.hidden_departments = ()
    assert "Board Secretariat" in [view.label for view in figures.views()]
    published = _figures_csv(figures, frozenset(), tmp_path / "a")
    exposed = exposed_phishing_groups(published, store, K, phish)
    assert any("Board Secretariat" in group for group in exposed)
    # The plan's rank test sees the same sums and hides further cells.
    plan, result = plan_disclosure(analysis.engine, report_publications(analysis), K, links=figures)
    assert result.passed
    planned = _figures_csv(figures, plan.hidden_cells, tmp_path / "b")
    assert exposed_phishing_groups(planned, store, K, phish) == []


def test_the_page_in_a_report(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    render_reports(
        store,
        out,
        pseudonymise=True,
        min_group_size=K,
        notebooks=_only_notebook(tmp_path),
        progress=False,
    )
    page = (out / f"{PAGE}.html").read_text(encoding="utf-8")
    options = re.findall(r'<option value="v\d+">([^<]*)</option>', page)
    assert options[0] == "All phishing campaigns and departments"
    assert "Board Secretariat" not in options and "Finance" in options
    assert page.count('class="aa-view"') == len(options) and page.count("<svg") >= 4 * 10
    for caveat in ("observational", "launch date", "scanner"):
        assert caveat in page.lower()
    # No person on the page: no address, no name.
    phish = open_analysis(store, min_group_size=K).tables["phish_users"]
    assert "@" not in re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    names = set(phish["name"].dropna().astype(str)) - {""}
    assert not [name for name in names if f">{name}<" in page]
    # Every figure is in figures.csv, with what it counts; the audit covered them.
    figures = pd.read_csv(out / "figures.csv", keep_default_na=False)
    mine = figures[figures["page"] == PAGE]
    assert set(mine["chart"]) == {
        "Phishing rates",
        "Knowledge and behaviour",
        "SAFE grade and accuracy",
        "Time to click and report",
    }
    assert mine["metric"].str.contains("risk ratio").any()
    assert (out / "audit.txt").read_text().strip().endswith("passed.")
    assert exposed_phishing_groups(out, store, K) == []
    assert exposed_groups(out, store, K) == []  # the awareness attacker ignores this page
