"""Dashboards in plain pytest: set a control's value, observe the redraw and what it drew."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from awareness_analysis.analysis.privacy import SUPPRESSED_LABEL
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.app import load_analysis
from awareness_analysis.demo import build_demo_store
from awareness_analysis.views.widgets import (
    CampaignOverview,
    Dashboard,
    DepartmentComparison,
    QuestionAccuracy,
    UserExplorer,
)

DASHBOARDS = (CampaignOverview, QuestionAccuracy, DepartmentComparison)
TINY_DEPARTMENT = "Board Secretariat"  # 3 people in the demo organisation


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> Analysis:
    store = tmp_path_factory.mktemp("widgets") / "demo-store"
    build_demo_store(store, progress=False)
    return load_analysis(store, min_group_size=5)


def drawn(figures: list[Figure]) -> str:
    """What the figures plot: tick labels and data, not titles (which echo the filters)."""
    parts: list[object] = []
    for figure in figures:
        for ax in figure.axes:
            parts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
            parts += [np.round(line.get_xydata(), 6).tolist() for line in ax.get_lines()]
            parts += [np.round(np.asarray(c.get_offsets()), 6).tolist() for c in ax.collections]
            parts += [(round(p.get_width(), 6), round(p.get_height(), 6)) for p in ax.patches]
    return repr(parts)


def first_campaign(dashboard: Dashboard) -> str:
    return dashboard.campaign.options[0][1]


@pytest.mark.parametrize("kind", DASHBOARDS)
def test_dashboard_draws_on_creation(analysis: Analysis, kind: type[Dashboard]) -> None:
    dashboard = kind(analysis)
    assert dashboard.redraws == 1
    assert dashboard.figures and all(isinstance(f, Figure) for f in dashboard.figures)
    assert dashboard.table is not None and not dashboard.table.empty
    assert len(dashboard.output.outputs) >= len(dashboard.figures)


@pytest.mark.parametrize("kind", DASHBOARDS)
def test_campaign_filter_changes_the_drawing(analysis: Analysis, kind: type[Dashboard]) -> None:
    dashboard = kind(analysis)
    before = drawn(dashboard.figures)
    dashboard.campaign.value = (first_campaign(dashboard),)
    assert dashboard.redraws == 2  # exactly one redraw per change: callbacks do not pile up
    assert drawn(dashboard.figures) != before
    assert "Phishing Basics" in dashboard.figures[0].axes[0].get_title() + "".join(
        t.get_text() for t in dashboard.figures[0].texts
    )


@pytest.mark.parametrize("kind", DASHBOARDS)
def test_department_filter_changes_the_drawing(analysis: Analysis, kind: type[Dashboard]) -> None:
    dashboard = kind(analysis)
    before = drawn(dashboard.figures)
    dashboard.department.value = ("Customer Service",)
    assert drawn(dashboard.figures) != before
    assert set(dashboard.selected_users["department"]) == {"Customer Service"}


@pytest.mark.parametrize("kind", DASHBOARDS)
def test_status_filter_changes_the_drawing(analysis: Analysis, kind: type[Dashboard]) -> None:
    dashboard = kind(analysis)
    before = drawn(dashboard.figures)
    dashboard.status.value = ("incorrect",)
    assert drawn(dashboard.figures) != before
    assert set(dashboard.selected_users["outcome"]) == {"incorrect"}


@pytest.mark.parametrize("kind", DASHBOARDS)
def test_search_changes_the_drawing(analysis: Analysis, kind: type[Dashboard]) -> None:
    dashboard = kind(analysis)
    before = drawn(dashboard.figures)
    dashboard.search.value = "finance"
    assert drawn(dashboard.figures) != before


@pytest.mark.parametrize("kind", DASHBOARDS)
def test_min_group_size_changes_the_drawing(analysis: Analysis, kind: type[Dashboard]) -> None:
    dashboard = kind(analysis)
    before = drawn(dashboard.figures)
    # Invoice Fraud reached 254 users: at k=300 its rows and many departments are hidden.
    dashboard.min_group_size.value = 300
    assert drawn(dashboard.figures) != before


def test_hidden_departments_never_reach_the_options(analysis: Analysis) -> None:
    dashboard = DepartmentComparison(analysis)
    assert TINY_DEPARTMENT not in dashboard.department.options
    assert SUPPRESSED_LABEL in dashboard.department.options
    assert TINY_DEPARTMENT in dashboard.hidden_departments
    assert TINY_DEPARTMENT not in dashboard.table["department"].astype(str).tolist()
    dashboard.min_group_size.value = 0  # suppression off: private exploration
    assert TINY_DEPARTMENT in dashboard.department.options
    assert SUPPRESSED_LABEL not in dashboard.department.options


def test_department_selection_survives_option_changes(analysis: Analysis) -> None:
    dashboard = DepartmentComparison(analysis)
    dashboard.department.value = ("IT", "Finance")
    redraws = dashboard.redraws
    dashboard.status.value = ("correct",)
    assert set(dashboard.department.value) == {"IT", "Finance"}
    assert dashboard.redraws == redraws + 1


def test_metric_choice_redraws(analysis: Analysis) -> None:
    dashboard = DepartmentComparison(analysis)
    before = drawn(dashboard.figures)
    dashboard.metric.value = "accuracy"
    assert drawn(dashboard.figures) != before
    assert len(dashboard.figures) == 2  # interval plot and funnel plot


def test_user_explorer_search_status_and_export(analysis: Analysis, tmp_path: Path) -> None:
    explorer = UserExplorer(analysis)
    everyone = len(explorer.table)
    explorer.search.value = "ABBOTT"
    assert 0 < len(explorer.table) < everyone
    assert explorer.table["email"].str.contains("abbott").all()
    explorer.status.value = ("incorrect",)
    assert set(explorer.table["outcome"]) == {"incorrect"}
    out = explorer.export_csv(tmp_path / "selection.csv")
    exported = pd.read_csv(out)
    assert len(exported) == len(explorer.table)
    assert list(exported.columns) == list(explorer.table.columns)


def test_user_explorer_suppresses_small_departments(analysis: Analysis, tmp_path: Path) -> None:
    explorer = UserExplorer(analysis)
    assert TINY_DEPARTMENT not in set(explorer.table["department"].astype(str))
    explorer.export_path.value = str(tmp_path / "all.csv")
    explorer.export_button.click()
    assert "Wrote" in explorer.export_status.value
    assert TINY_DEPARTMENT not in (tmp_path / "all.csv").read_text()


def test_export_to_missing_folder_is_a_clear_error(analysis: Analysis, tmp_path: Path) -> None:
    explorer = UserExplorer(analysis)
    explorer.export_path.value = str(tmp_path / "nope" / "x.csv")
    explorer.export_button.click()
    assert "does not exist" in explorer.export_status.value


def _org_label(dashboard: DepartmentComparison) -> list[str]:
    texts = dashboard.figures[0].findobj(lambda artist: artist.get_gid() == "org-rate-label")
    return [t.get_text() for t in texts]


def test_departments_and_search_never_move_the_organisation_line(analysis: Analysis) -> None:
    dashboard = DepartmentComparison(analysis)
    keys = ("org_rate", "org_n", "org_people", "org_ci_low", "org_ci_high")
    whole = {key: dashboard.table.attrs[key] for key in keys}
    label = _org_label(dashboard)
    assert label and "people" in label[0] and "enrolments" in label[0]  # pooled: both counts
    options = [d for d in dashboard.department.options if d != SUPPRESSED_LABEL]
    for change in (
        lambda: setattr(dashboard.department, "value", tuple(options[:4])),
        lambda: setattr(dashboard.department, "value", (SUPPRESSED_LABEL,)),
        lambda: setattr(dashboard.department, "value", ()),
        lambda: setattr(dashboard.search, "value", "finance"),
    ):
        change()
        assert {key: dashboard.table.attrs[key] for key in keys} == whole
        assert _org_label(dashboard) == label
    # Campaigns and status choose the organisation: they do move it.
    dashboard.search.value = ""
    dashboard.status.value = ("correct", "incorrect")
    assert dashboard.table.attrs["org_n"] < whole["org_n"]


def test_dashboards_hand_their_selection_to_pandas(analysis: Analysis) -> None:
    dashboard = DepartmentComparison(analysis)
    dashboard.department.value = ("IT",)
    users, answers = dashboard.selected_users, dashboard.selected_answers
    assert set(users["department"].astype(str)) == {"IT"}
    assert set(answers["email"]) <= set(users["email"])
    it = dashboard.table.set_index("department").loc["IT"]
    assert it["n"] == len(users) and it["people"] == users["email"].str.lower().nunique()
    assert it["people"] < it["n"]  # pooled over campaigns: enrolments, not people


def test_explorer_counts_enrolments_and_people(analysis: Analysis) -> None:
    explorer = UserExplorer(analysis)
    people = analysis.users["email"].str.lower().nunique()
    caption = explorer.caption(explorer.table, "")
    assert f"{len(analysis.users):,} enrolments (campaign x person rows) of {people:,} people" in (
        caption
    )


def test_a_search_that_isolates_a_few_people_shows_suppressed(analysis: Analysis) -> None:
    for kind in DASHBOARDS:
        dashboard = kind(analysis)
        dashboard.search.value = "abbott"  # a handful of people
        table = dashboard.table
        small = table["people"].isna() | (table["people"].fillna(0) < 5)
        assert table.loc[small, "suppressed"].all(), kind.__name__
        assert (table.loc[~table["suppressed"], "people"] >= 5).all(), kind.__name__
        # Searching a hidden department's name finds nothing to isolate.
        dashboard.search.value = TINY_DEPARTMENT
        assert dashboard.table.empty or dashboard.table["suppressed"].all(), kind.__name__
