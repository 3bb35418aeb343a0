"""Dashboards in plain pytest: set a control's value, observe the redraw and what it drew."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from awareness_analysis.analysis.privacy import SUPPRESSED_LABEL
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.app import load_analysis
from awareness_analysis.data.csv_safe import neutralise_formula, spreadsheet_safe
from awareness_analysis.demo import build_demo_store
from awareness_analysis.views.render import figure_svg
from awareness_analysis.views.widgets import (
    MAX_LIST_ROWS,
    CampaignOverview,
    Dashboard,
    DepartmentComparison,
    QuestionAccuracy,
    UserExplorer,
    list_rows,
)
from awareness_analysis.vocabulary import SELECTION_HINT

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


def download(explorer: UserExplorer) -> tuple[str, str]:
    """Click Export selection; return the link's file name and the CSV text it saves."""
    explorer.export_button.click()
    link = re.search(
        r'<a download="([^"]+)" href="data:text/csv;charset=utf-8;base64,([^"]+)"',
        explorer.export_status.value,
    )
    assert link, explorer.export_status.value
    return link.group(1), base64.b64decode(link.group(2)).decode("utf-8")


def test_user_explorer_search_status_and_export(analysis: Analysis, tmp_path: Path) -> None:
    explorer = UserExplorer(analysis)
    everyone = len(explorer.table)
    explorer.search.value = "ABBOTT"
    assert 0 < len(explorer.table) < everyone
    assert explorer.table["email"].str.contains("abbott").all()
    explorer.status.value = ("incorrect",)
    assert set(explorer.table["outcome"]) == {"incorrect"}
    out = explorer.export_csv(tmp_path / "selection.csv")
    exported = pd.read_csv(out)  # from code: a plain CSV, its provenance beside it
    assert len(exported) == len(explorer.table)
    assert list(exported.columns) == list(explorer.table.columns)
    assert list(exported.columns[:2]) == ["campaign_id", "campaign_name"]
    provenance = json.loads((tmp_path / "selection.provenance.json").read_text())
    assert provenance["snapshot_id"] == analysis.snapshot.snapshot_id
    assert provenance["rows"] == len(exported)
    assert "Search: 'ABBOTT'" in provenance["filters"]
    assert "Status: incorrect" in provenance["filters"]


def test_export_downloads_a_csv_with_its_provenance(analysis: Analysis, tmp_path: Path) -> None:
    explorer = UserExplorer(analysis)
    explorer.status.value = ("sent",)
    name, text = download(explorer)
    assert name == f"awareness-selection-all-{datetime.now(UTC).date().isoformat()}.csv"
    lines = text.splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert lines[: len(comments)] == comments  # provenance first, then the table
    head = "\n".join(comments)
    for words in ("snapshot " + analysis.snapshot.snapshot_id, "fetched ", "api host "):
        assert words in head
    assert "exported " in head and "filters " in head and "Status: not answered" in head
    exported = pd.read_csv(io.StringIO(text), comment="#")
    assert len(exported) == len(explorer.table) > 0  # every row, not only those shown
    assert list(exported.columns[:2]) == ["campaign_id", "campaign_name"]
    assert set(exported["campaign_id"]) <= set(analysis.campaign_names)
    assert set(exported["outcome"]) == {"not answered"}  # the controls' words
    # The file is what export_csv(path, comments=True) writes from code.
    out = explorer.export_csv(tmp_path / "same.csv", comments=True)
    again = pd.read_csv(out, comment="#")
    pd.testing.assert_frame_equal(again, exported)
    # One campaign chosen: the file says which.
    explorer.campaign.value = (first_campaign(explorer),)
    assert download(explorer)[0].startswith("awareness-selection-phishing-basics-all-staff-")


def test_export_link_is_dropped_when_the_selection_changes(analysis: Analysis) -> None:
    explorer = UserExplorer(analysis)
    download(explorer)
    explorer.search.value = "finance"
    assert explorer.export_status.value == ""


def test_export_holds_no_secret_and_no_hidden_department(analysis: Analysis) -> None:
    explorer = UserExplorer(analysis)
    assert TINY_DEPARTMENT not in set(explorer.table["department"].astype(str))
    _, text = download(explorer)
    assert TINY_DEPARTMENT not in text
    assert set(explorer.provenance()) == {
        "snapshot_id",
        "fetched_at",
        "api_host",
        "content_hash",
        "exported_at",
        "filters",
        "rows",
        "pseudonymise",
        "package_version",
    }
    head = "\n".join(line for line in text.splitlines() if line.startswith("#")).lower()
    assert not [w for w in ("secret", "token", "password", "authorization") if w in head]


def test_export_neutralises_spreadsheet_formulas(analysis: Analysis) -> None:
    assert neutralise_formula("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    for text in ("+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise_formula(text) == "'" + text
    assert neutralise_formula("Finance") == "Finance" and neutralise_formula(-1) == -1
    frame = pd.DataFrame({"text": ["=1+2", "ok"], "number": [-5, 3], "flag": [True, False]})
    safe = spreadsheet_safe(frame)
    assert safe["text"].tolist() == ["'=1+2", "ok"]
    assert safe["number"].tolist() == [-5, 3] and safe["flag"].tolist() == [True, False]
    explorer = UserExplorer(analysis)
    explorer.search.value = "abbott"
    table = explorer.table.copy()
    table["name"] = table["name"].astype(object)
    table.loc[0, "name"] = '=HYPERLINK("http://x.example","click")'
    table.loc[1, "name"] = "#1 fan, @home"
    explorer.table = table
    exported = pd.read_csv(io.StringIO(download(explorer)[1]), comment="#")
    assert exported.loc[0, "name"] == "'" + table.loc[0, "name"]
    assert exported.loc[1, "name"] == "#1 fan, @home"  # quoted: a '#' in a cell is data
    assert len(exported) == len(table)
    assert (exported["n_questions"] >= 0).all()  # numbers stay numbers


def test_export_to_missing_folder_is_a_clear_error(analysis: Analysis, tmp_path: Path) -> None:
    explorer = UserExplorer(analysis)
    with pytest.raises(ValueError, match="does not exist"):
        explorer.export_csv(tmp_path / "nope" / "x.csv")


def test_no_people_rows_in_a_report_without_include_people(analysis: Analysis) -> None:
    explorer = UserExplorer(replace(analysis, report=True))
    assert "data:" not in explorer.download_html()
    assert "aa-no-people" in explorer.static_html()


def _shown_html(explorer: UserExplorer) -> str:
    (output,) = explorer.output.outputs
    return output["data"]["text/html"]


def _showing(html_text: str) -> int:
    match = re.search(r"showing (?:all|the first) ([\d,]+)", html_text)
    assert match, html_text
    return int(match.group(1).replace(",", ""))


def test_explorer_shows_the_rows_it_says_it_shows(analysis: Analysis) -> None:
    explorer = UserExplorer(analysis)
    shown = _shown_html(explorer)
    assert len(explorer.table) > explorer.max_rows_shown
    assert _showing(shown) == shown.count("<tr>") - 1 == explorer.max_rows_shown  # + head row
    explorer.search.value = str(analysis.users["email"].iloc[0])  # one person
    shown = _shown_html(explorer)
    assert _showing(shown) == shown.count("<tr>") - 1 == len(explorer.table) > 0
    assert "showing all" in shown


def test_explorer_table_reads_well_and_fits(analysis: Analysis) -> None:
    explorer = UserExplorer(analysis)
    shown = _shown_html(explorer)
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", shown)
    assert heads[:4] == ["Campaign", "Email", "Name", "Department"]
    assert {"Acknowledged", "Status", "Not answered"} <= set(heads)
    assert not [h for h in heads if "_" in h]
    assert "overflow:auto" in shown and "max-height:" in shown  # a scroll box, not a wide page
    assert "@<wbr>" in shown  # long emails may wrap
    explorer.status.value = ("sent",)
    cells = re.findall(r"<td>([^<]*)</td>", _shown_html(explorer))
    assert "not answered" in cells and "sent" not in cells


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


# -- controls that show their options -----------------------------------------------------------


@pytest.mark.parametrize("kind", (*DASHBOARDS, UserExplorer))
def test_lists_are_as_tall_as_their_options(analysis: Analysis, kind: type[Dashboard]) -> None:
    dashboard = kind(analysis)
    assert len(dashboard.campaign.options) == 7
    assert dashboard.campaign.rows == 7  # every demo campaign visible, the newest included
    assert dashboard.department.rows == len(dashboard.department.options) > 10
    assert dashboard.status.rows == 3
    before = len(dashboard.department.options)
    dashboard.min_group_size.value = 0  # suppression off: more departments, a taller list
    assert len(dashboard.department.options) > before
    assert dashboard.department.rows == len(dashboard.department.options)
    assert list_rows(0) == 1 and list_rows(MAX_LIST_ROWS + 30) == MAX_LIST_ROWS


@pytest.mark.parametrize("kind", (*DASHBOARDS, UserExplorer))
def test_all_and_clear_redraw_once_each(analysis: Analysis, kind: type[Dashboard]) -> None:
    dashboard = kind(analysis)
    for key, control in dashboard.lists.items():
        values = tuple(o[1] if isinstance(o, tuple) else o for o in control.options)
        redraws = dashboard.redraws
        dashboard.all_buttons[key].click()
        assert tuple(control.value) == values, key
        assert dashboard.redraws == redraws + 1, key
        dashboard.clear_buttons[key].click()
        assert control.value == (), key
        assert dashboard.redraws == redraws + 2, key
    assert dashboard.selection() == type(dashboard.selection())()  # empty again: all


def test_hint_says_how_to_choose(analysis: Analysis) -> None:
    dashboard = CampaignOverview(analysis)
    assert dashboard.hint in dashboard.widget.children
    assert SELECTION_HINT in dashboard.hint.value.replace("&#x27;", "'")
    for words in ("Ctrl-click", "Cmd-click", "Shift-click", "empty choice means all"):
        assert words in SELECTION_HINT
    assert "\n" not in SELECTION_HINT


def test_dashboards_use_the_same_words(analysis: Analysis) -> None:
    dashboard = DepartmentComparison(analysis)
    assert [label for label, _ in dashboard.status.options] == [
        "not answered",
        "correct",
        "incorrect",
    ]
    assert dashboard.min_group_size.description == "Minimum group size"
    assert "minimum group size" in dashboard.min_group_size.tooltip
    dashboard.status.value = ("sent", "incorrect")
    text = dashboard.selection_text()
    assert "Status: not answered, incorrect" in text and "sent" not in text
    assert text.endswith("groups under 5 people hidden (minimum group size)")
    assert "minimum group size" in dashboard.note.value
    dashboard.min_group_size.value = 0
    assert "minimum group size off" in dashboard.selection_text()
    labels = [label for group, label, _ in UserExplorer(analysis).report_views() if group]
    assert labels == ["not answered", "correct", "incorrect"]


def test_campaign_overview_marks_running_campaigns(analysis: Analysis) -> None:
    dashboard = CampaignOverview(analysis)
    table = dashboard.table
    assert {"running", "days_since_launch", "module_title"} <= set(table.columns)
    running = table.groupby("campaign_name", observed=True)["running"].all()
    assert running["Spot the Spoof - October"]
    assert not running.drop("Spot the Spoof - October").any()


def test_question_accuracy_names_the_module(analysis: Analysis) -> None:
    table = QuestionAccuracy(analysis).table
    assert {"running", "module_title"} <= set(table.columns)
    assert (table["module_title"].str.len() > 0).all()


@pytest.mark.parametrize("kind", [CampaignOverview, QuestionAccuracy, DepartmentComparison])
def test_redrawing_into_the_same_figures_draws_what_a_fresh_render_draws(
    analysis: Analysis, kind: type[Dashboard]
) -> None:
    dashboard = kind(analysis)
    reused = []
    for change in (
        lambda: setattr(dashboard.status, "value", ("correct", "incorrect")),
        lambda: setattr(dashboard.campaign, "value", (first_campaign(dashboard),)),
        lambda: setattr(dashboard.min_group_size, "value", 50),
        lambda: setattr(dashboard.campaign, "value", ()),
    ):
        before = list(dashboard.figures)
        change()
        reused.append(any(a is b for a, b in zip(before, dashboard.figures, strict=True)))
        view = dashboard.view_for(dashboard.selection())
        fresh, _ = dashboard.render(view, dashboard.selection_text())
        assert [figure_svg(f) for f in dashboard.figures] == [figure_svg(f) for f in fresh]
    # A status change keeps the panels: the dashboard drew into the figures it had.
    assert reused[0], reused
