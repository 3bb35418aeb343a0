"""Interactive dashboards: ipywidgets filter controls wired to the plot functions.

Each dashboard builds its controls once and connects each with one ``observe`` call, so redraws
never pile up. A redraw asks the analysis engine (:mod:`awareness_analysis.analysis.engine`) for
the view of the controls' selection (filters, small-group suppression and metric tables in one
path, shared with the public functions and the reports) and draws it into an ``Output`` widget.
The last figure and table stay on the object (``figure``, ``table``, ``redraws``), so tests can
set a control's ``value`` and observe the effect without a browser; ``selected_users`` and
``selected_answers`` are the current selection's rows, to continue in pandas.

Every multi-select list is as tall as its options (up to :data:`MAX_LIST_ROWS`) and has *All* and
*Clear* buttons; a one-line hint under the controls says how choosing works (an empty choice
means all). The user explorer's export downloads in the browser: a CSV whose leading ``#`` lines
carry its provenance (read it with ``pandas.read_csv(f, comment="#")``).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd
from IPython.core.formatters import format_display_data
from IPython.display import HTML, display
from matplotlib.figure import Figure

from awareness_analysis.analysis.engine import View
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.metrics import DEFINITIONS
from awareness_analysis.analysis.phases import annotate_campaigns
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.data import csv_safe
from awareness_analysis.views.figures import ALL, data_table_html, figure_records
from awareness_analysis.views.plots import (
    plot_campaign_rates,
    plot_department_intervals,
    plot_funnel,
    plot_question_accuracy,
)
from awareness_analysis.views.render import figure_display, figure_html
from awareness_analysis.vocabulary import (
    MIN_GROUP_SIZE_LABEL,
    SELECTION_HINT,
    STATUS_LABELS,
    SUPPRESSED_LABEL,
)

#: What a dashboard draws for one view: its figures, and the table behind them.
Rendered = tuple[list[Figure], pd.DataFrame]

#: (label, value) of each status option: the vocabulary's words ("not answered" for ``sent``).
STATUS_OPTIONS = tuple((label, value) for value, label in STATUS_LABELS.items())
#: A multi-select list shows all its options up to this many rows, then scrolls.
MAX_LIST_ROWS = 20
CONTROL_LAYOUT = w.Layout(width="auto", min_width="260px")
# Labels take their natural width, so "Departments" is not cut short.
LABEL_STYLE = {"description_width": "initial"}
_BUTTON_LAYOUT = w.Layout(width="auto")


def list_rows(n_options: int) -> int:
    """Rows of a multi-select list with ``n_options`` options: all of them, at most
    :data:`MAX_LIST_ROWS` (beyond that the list scrolls)."""
    return max(1, min(MAX_LIST_ROWS, n_options))


def _option_values(control: w.SelectMultiple) -> tuple[Any, ...]:
    """The values of a selection widget's options ((label, value) pairs or plain values)."""
    return tuple(o[1] if isinstance(o, tuple) else o for o in control.options)


def _reused(figures: Sequence[Figure], index: int) -> Figure | None:
    return figures[index] if index < len(figures) else None


class Dashboard:
    """Filter controls (campaign, department, status, search, minimum group size) and a view.

    Subclasses implement :meth:`render`: the figures and table of one engine view.
    """

    title = "Dashboard"

    def __init__(
        self,
        analysis: Analysis,
        *,
        campaign_ids: Sequence[str] = (),
        autodraw: bool = True,
    ) -> None:
        self.analysis = analysis
        self.engine = analysis.engine
        names = analysis.campaign_names
        self.campaign = w.SelectMultiple(
            options=[(name, cid) for cid, name in names.items()],
            value=tuple(c for c in campaign_ids if c in names),
            description="Campaigns",
            rows=list_rows(len(names)),
            layout=CONTROL_LAYOUT,
            style=LABEL_STYLE,
        )
        self.department = w.SelectMultiple(
            options=[],
            description="Departments",
            rows=list_rows(0),
            layout=CONTROL_LAYOUT,
            style=LABEL_STYLE,
        )
        self.status = w.SelectMultiple(
            options=list(STATUS_OPTIONS),
            description="Status",
            rows=list_rows(len(STATUS_OPTIONS)),
            layout=CONTROL_LAYOUT,
            style=LABEL_STYLE,
        )
        #: The multi-select lists by name, each with an All and a Clear button.
        self.lists: dict[str, w.SelectMultiple] = {
            "campaign": self.campaign,
            "department": self.department,
            "status": self.status,
        }
        self.all_buttons: dict[str, w.Button] = {}
        self.clear_buttons: dict[str, w.Button] = {}
        for key, control in self.lists.items():
            noun = str(control.description).lower()
            self.all_buttons[key] = self._button(
                "All", f"Pick every one of the {noun}", lambda c=control: self.select_all(c)
            )
            self.clear_buttons[key] = self._button(
                "Clear",
                f"Empty the choice of {noun} (an empty choice means all)",
                lambda c=control: self.clear_choice(c),
            )
        self.search = w.Text(
            description="Search",
            placeholder="name, email or department",
            continuous_update=False,
            layout=CONTROL_LAYOUT,
            style=LABEL_STYLE,
        )
        self.min_group_size = w.BoundedIntText(
            value=analysis.min_group_size,
            min=0,
            max=1000,
            description=MIN_GROUP_SIZE_LABEL,
            tooltip=(
                "Departments and rows with fewer people than this minimum group size are "
                "hidden (0 turns hiding off, for private exploration only)"
            ),
            layout=w.Layout(width="220px"),
            style=LABEL_STYLE,
        )
        self.hint = w.HTML(f"<small>{html.escape(SELECTION_HINT)}</small>")
        self.note = w.HTML()
        self.output = w.Output()
        self.figures: list[Figure] = []
        self.table: pd.DataFrame | None = None
        self.view: View | None = None
        self.redraws = 0
        self._syncing = False
        for control in self.controls():
            control.observe(self._on_change, names="value")
        self.widget = w.VBox(
            [
                w.HTML(f"<b>{self.title}</b>"),
                w.HBox(self.control_boxes(), layout=w.Layout(flex_flow="row wrap")),
                self.hint,
                self.note,
                self.output,
            ]
        )
        if autodraw:
            self.redraw()

    @staticmethod
    def _button(label: str, tooltip: str, action: Callable[[], None]) -> w.Button:
        button = w.Button(description=label, tooltip=tooltip, layout=_BUTTON_LAYOUT)
        button.on_click(lambda _button: action())
        return button

    def control_boxes(self) -> list[w.Widget]:
        """The controls as laid out: each multi-select list above its All and Clear buttons."""
        boxes: list[w.Widget] = []
        for control in self.controls():
            key = next((k for k, c in self.lists.items() if c is control), None)
            if key is None:
                boxes.append(control)
            else:
                buttons = w.HBox([self.all_buttons[key], self.clear_buttons[key]])
                boxes.append(w.VBox([control, buttons]))
        return boxes

    # -- state ------------------------------------------------------------------------------

    def controls(self) -> list[w.ValueWidget]:
        return [self.campaign, self.department, self.status, self.search, self.min_group_size]

    @property
    def figure(self) -> Figure | None:
        """The first figure of the last redraw."""
        return self.figures[0] if self.figures else None

    @property
    def hidden_departments(self) -> tuple[str, ...]:
        return self.view.hidden if self.view is not None else ()

    def selection(self) -> Selection:
        return Selection(
            campaign_ids=tuple(self.campaign.value),
            departments=tuple(self.department.value),
            statuses=tuple(self.status.value),
            search=self.search.value,
        )

    def selection_text(self, selection: Selection | None = None) -> str:
        text = (selection or self.selection()).describe(self.analysis.campaign_names)
        k = self.min_group_size.value
        if k > 1:
            return f"{text}; groups under {k} people hidden (minimum group size)"
        return f"{text}; nothing hidden (minimum group size off)"

    def view_for(self, selection: Selection) -> View:
        """The view of ``selection`` at the dashboard's minimum group size: under the report's
        disclosure plan in a report run, else checked against everything the session has
        shown (one published set per session and minimum group size)."""
        return self.analysis.view(selection, self.min_group_size.value)

    def current_view(self) -> View:
        """The view of the controls' state; a department that suppression now hides leaves the
        department control (and the selection) first."""
        view = self.view_for(self.selection())
        options = view.department_options()
        if list(self.department.options) != options:
            kept = tuple(d for d in self.department.value if d in options)
            self._syncing = True
            try:
                self.department.options = options
                self.department.value = kept
                self.department.rows = list_rows(len(options))
            finally:
                self._syncing = False
            view = self.view_for(self.selection())
        return view

    def set_choice(self, control: w.SelectMultiple, values: Iterable[Any]) -> None:
        """Set a list's choice from code and redraw exactly once (however many values change,
        and even when none does: a button click always answers with one redraw)."""
        self._syncing = True
        try:
            control.value = tuple(values)
        finally:
            self._syncing = False
        self.redraw()

    def select_all(self, control: w.SelectMultiple) -> None:
        """Pick every option of ``control`` (the All button)."""
        self.set_choice(control, _option_values(control))

    def clear_choice(self, control: w.SelectMultiple) -> None:
        """Empty the choice of ``control``, which means all (the Clear button)."""
        self.set_choice(control, ())

    @property
    def selected_users(self) -> pd.DataFrame:
        """Rows of the users frame the controls select (departments as shown). Row-level:
        not suppressed; keep it private."""
        return (self.view or self.current_view()).users()

    @property
    def selected_answers(self) -> pd.DataFrame:
        """Answers of :attr:`selected_users`. Row-level: not suppressed; keep it private."""
        return (self.view or self.current_view()).answers()

    # -- drawing ----------------------------------------------------------------------------

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.redraw()

    def render(self, view: View, text: str, reuse: Sequence[Figure] = ()) -> Rendered:
        """The figures and table of ``view``. ``reuse`` holds the figures of the previous
        redraw: the plot functions redraw into them when the panels are the same (the same
        chart, drawn faster); reports pass nothing, so each view gets figures of its own."""
        raise NotImplementedError

    def redraw(self) -> None:
        self.view = self.current_view()
        text = self.selection_text()
        self.figures, self.table = self.render(self.view, text, reuse=self.figures)
        self.redraws += 1
        self.note.value = self._note_html()
        self._show(*self.displayed(self.figures, self.table, text))

    def displayed(self, figures: list[Figure], table: pd.DataFrame, text: str) -> list[object]:
        """What the Output widget shows for one redraw."""
        return [figure_display(figure, f"{self.title}-{i}") for i, figure in enumerate(figures)]

    def _show(self, *objects: object) -> None:
        # One assignment of the whole output list (rather than `with output: display(...)`)
        # works from any thread and outside a kernel, and the front end never shows a
        # half-replaced set of charts.
        outputs = []
        for obj in objects:
            data, metadata = format_display_data(obj)
            outputs.append({"output_type": "display_data", "data": data, "metadata": metadata})
        self.output.outputs = tuple(outputs)

    def _note_html(self) -> str:
        hidden = len(self.hidden_departments)
        if not hidden:
            return ""
        return (
            f"<i>{hidden} department(s) are combined as {SUPPRESSED_LABEL}: each had fewer than "
            f"{self.min_group_size.value} people (the minimum group size) in the selected "
            "campaigns, or hiding it protects one that had.</i>"
        )

    # -- static report views ------------------------------------------------------------------

    def report_views(self) -> list[tuple[str, str, Selection]]:
        """(group, label, selection) of each pre-rendered view a static report offers."""
        base = Selection(campaign_ids=tuple(self.campaign.value))
        names = self.analysis.campaign_names
        views = [("", "All campaigns and departments", base)]
        for campaign_id in base.campaign_ids or tuple(names):
            views.append(("Campaign", names[campaign_id], Selection(campaign_ids=(campaign_id,))))
        for department in self.report_departments(base):
            views.append(("Department", department, replace(base, departments=(department,))))
        return views

    def report_departments(self, base: Selection) -> list[str]:
        """Departments shown (not suppressed) in ``base``: the department views of a report."""
        return [d for d in self.view_for(base).department_options() if d != SUPPRESSED_LABEL]

    def static_html(self) -> str:
        """Every report view pre-rendered, with a selector that switches them in the page.

        Needs no kernel and no network: images are embedded, and the switching script is the
        report page's own inline script.
        """
        options: list[str] = []
        panels: list[str] = []
        group = None
        for index, (view_group, label, selection) in enumerate(self.report_views()):
            if view_group != group:
                if group:
                    options.append("</optgroup>")
                if view_group:
                    options.append(f'<optgroup label="{html.escape(view_group)}">')
                group = view_group
            options.append(f'<option value="v{index}">{html.escape(label)}</option>')
            text = self.selection_text(selection)
            figures, table = self.render(self.view_for(selection), text)
            records = self.figure_records(table, label, selection)
            if self.analysis.context is not None:
                self.analysis.context.publish(records)
            body = "".join(
                figure_html(f, f"{self.title}: {label}", f"{self.title}-v{index}-{i}")
                for i, f in enumerate(figures)
            ) or self.static_table_html(table, text)
            body += data_table_html(records)
            hidden = "" if index == 0 else " hidden"
            panels.append(f'<div class="aa-view" data-view="v{index}"{hidden}>{body}</div>')
        if group:
            options.append("</optgroup>")
        return (
            f'<div class="aa-views"><label>View <select class="aa-view-select">'
            f"{''.join(options)}</select></label>{''.join(panels)}</div>"
        )

    def static_table_html(self, table: pd.DataFrame, text: str) -> str:
        return table.to_html(index=False, na_rep="—")

    def figure_records(
        self, table: pd.DataFrame, label: str, selection: Selection
    ) -> list[dict[str, Any]]:
        """The figures one report view of this dashboard publishes (see ``figures.csv``)."""
        names = self.analysis.campaign_names
        campaign = names[selection.campaign_ids[0]] if len(selection.campaign_ids) == 1 else ALL
        department = selection.departments[0] if len(selection.departments) == 1 else ALL
        return figure_records(
            table, view=label, chart=self.title, campaign=campaign, department=department
        )

    def _ipython_display_(self) -> None:
        if self.analysis.report:
            display(HTML(self.static_html()))
        else:
            display(self.widget)


class CampaignOverview(Dashboard):
    """Acknowledgement, completion and all-correct rates per campaign."""

    title = "Campaign overview"

    def render(self, view: View, text: str, reuse: Sequence[Figure] = ()) -> Rendered:
        # Running campaigns (under 30 days since launch at the snapshot) are drawn as running.
        rates = annotate_campaigns(view.campaign_rates(), self.analysis.phases)
        return [plot_campaign_rates(rates, text, figure=_reused(reuse, 0))], rates


class QuestionAccuracy(Dashboard):
    """Per-question accuracy by campaign."""

    title = "Per-question accuracy"

    def render(self, view: View, text: str, reuse: Sequence[Figure] = ()) -> Rendered:
        # The module title names each question ("Q3 · Spot the Spoof"); running campaigns show.
        accuracy = annotate_campaigns(view.question_accuracy(), self.analysis.phases)
        return [plot_question_accuracy(accuracy, text, figure=_reused(reuse, 0))], accuracy


class DepartmentComparison(Dashboard):
    """Each department against the rest of the organisation: interval and funnel plots."""

    title = "Department comparison"

    def __init__(
        self, analysis: Analysis, *, metric: str = "acknowledgement", **kwargs: Any
    ) -> None:
        self.metric = w.Dropdown(
            options=[(DEFINITIONS[m].label, m) for m in DEFINITIONS],
            value=metric,
            description="Metric",
            layout=w.Layout(width="280px"),
        )
        super().__init__(analysis, **kwargs)

    def controls(self) -> list[w.ValueWidget]:
        return [self.metric, *super().controls()]

    def report_departments(self, base: Selection) -> list[str]:
        # The chart compares all departments; one department alone would be a single dot.
        return []

    def render(self, view: View, text: str, reuse: Sequence[Figure] = ()) -> Rendered:
        comparison = view.department_comparison(self.metric.value)
        figures = [
            plot_department_intervals(comparison, text, figure=_reused(reuse, 0)),
            plot_funnel(comparison, text, figure=_reused(reuse, 1)),
        ]
        return figures, comparison


#: The users-frame columns the explorer keeps and exports (under these names).
USER_COLUMNS = (
    "campaign_id",
    "campaign_name",
    "email",
    "name",
    "department",
    "user_state",
    "acknowledged",
    "outcome",
    "n_questions",
    "n_correct",
    "n_incorrect",
    "n_unanswered",
)
#: The columns the explorer's table shows, and their headings. The campaign id is for
#: machines, and the question count is the sum of the last three: both stay in the CSV only,
#: so the table fits a notebook's width.
USER_COLUMN_LABELS: dict[str, str] = {
    "campaign_name": "Campaign",
    "email": "Email",
    "name": "Name",
    "department": "Department",
    "user_state": "User state",
    "acknowledged": "Acknowledged",
    "outcome": "Status",
    "n_correct": "Correct",
    "n_incorrect": "Incorrect",
    "n_unanswered": "Not answered",
}


def _status_words(values: pd.Series) -> pd.Series:
    """Outcome values in the controls' words ("not answered" for ``sent``)."""
    return values.astype(object).map(lambda value: STATUS_LABELS.get(value, value))


def _cell_html(value: object) -> str:
    missing = value is None or value is pd.NA or (isinstance(value, float) and value != value)
    return "\u2014" if missing else html.escape(str(value))


def _email_html(value: object) -> str:
    """An email that may wrap after its ``@`` and before each ``.`` (never mid-word)."""
    return _cell_html(value).replace("@", "@<wbr>").replace(".", "<wbr>.")


#: Tight cells for the explorer's table (a page or output that drops ``<style>`` still shows
#: the table, only roomier).
_TABLE_STYLE = (
    "<style>.aa-explorer-table th,.aa-explorer-table td"
    "{padding:0.25em 0.4em;vertical-align:top}</style>"
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "campaign"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _comment_value(text: object) -> str:
    """Tenant text (filter names) for a ``#`` line of a CSV: one line, and no comma or double
    quote, so a spreadsheet keeps it inside the line's first cell (after the ``#``) instead of
    starting a cell with it, where ``=HYPERLINK(...)`` would run."""
    return _one_line(text).replace(",", ";").replace('"', "'")


class UserExplorer(Dashboard):
    """Users matching the filters, as a table, with a CSV download of the whole selection.

    The table lists the first :attr:`max_rows_shown` rows in a scroll box with readable column
    names; *Export selection* prepares every row of the selection as a CSV and shows a link that
    saves it in the browser (nothing is written on the server). From code,
    :meth:`export_csv` writes the same rows to a path.
    """

    title = "User explorer"
    max_rows_shown = 200
    #: Height of the table's scroll box (rows beyond it scroll inside the box).
    table_height = "28em"

    def __init__(self, analysis: Analysis, **kwargs: Any) -> None:
        self.export_button = w.Button(
            description="Export selection",
            icon="download",
            tooltip="Prepare every row of the selection as a CSV file to save from the browser",
            layout=_BUTTON_LAYOUT,
        )
        self.export_status = w.HTML()
        self.export_button.on_click(lambda _button: self._export_clicked())
        super().__init__(analysis, **kwargs)
        self.widget.children = (
            *self.widget.children[:-1],
            w.HBox([self.export_button, self.export_status]),
            self.widget.children[-1],
        )

    def render(self, view: View, text: str, reuse: Sequence[Figure] = ()) -> Rendered:
        table = view.users(USER_COLUMNS).reset_index(drop=True)
        table.attrs["people"] = view.people
        return [], table

    def redraw(self) -> None:
        super().redraw()
        # A link prepared for the previous selection would download the wrong rows; dropping
        # it also keeps people's rows out of the widget state for no longer than needed.
        self.export_status.value = ""

    # -- the table ----------------------------------------------------------------------------

    def rows_shown(self, table: pd.DataFrame) -> int:
        return min(len(table), self.max_rows_shown)

    def caption(self, table: pd.DataFrame, text: str) -> str:
        shown = self.rows_shown(table)
        people = table.attrs.get("people", 0)
        showing = (
            f"showing all {shown:,}"
            if shown == len(table)
            else f"showing the first {shown:,} (Export selection saves all {len(table):,})"
        )
        return (
            f"<p>{len(table):,} enrolments (campaign x person rows) of {people:,} people match; "
            f"{showing}. Filters: {html.escape(text)}.</p>"
        )

    def people_table(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` as people read it: the shown columns under readable names, statuses and
        acknowledgement in words."""
        shown = table.loc[:, [c for c in USER_COLUMN_LABELS if c in table]].copy()
        if "acknowledged" in shown:
            shown["acknowledged"] = shown["acknowledged"].map({True: "yes", False: "no"})
        if "outcome" in shown:
            shown["outcome"] = _status_words(shown["outcome"])
        return shown.rename(columns=USER_COLUMN_LABELS)

    def table_html(self, table: pd.DataFrame, text: str) -> str:
        """The caption and the first :attr:`max_rows_shown` rows, in a scroll box of fixed
        height whose cells wrap (long emails included), so the table never runs off sideways."""
        frame = self.people_table(table.head(self.rows_shown(table)))
        head_style = "position:sticky;top:0;background:var(--jp-layout-color1,#fff)"
        head = "".join(
            f'<th style="{head_style}">{html.escape(str(c))}</th>' for c in frame.columns
        )
        cell = [
            _email_html if column == USER_COLUMN_LABELS["email"] else _cell_html
            for column in frame.columns
        ]
        body = "".join(
            "<tr>"
            + "".join(f"<td>{f(v)}</td>" for f, v in zip(cell, values, strict=True))
            + "</tr>"
            for values in frame.itertuples(index=False, name=None)
        )
        # Text wraps at spaces (emails at "@" and "."), in a slightly smaller type with tight
        # cells; the box scrolls down, and sideways only in a window too narrow for even the
        # wrapped columns.
        return (
            f"{self.caption(table, text)}{_TABLE_STYLE}"
            f'<div class="aa-explorer-table" style="max-height:{self.table_height};'
            'overflow:auto">'
            '<table style="width:100%;table-layout:auto;font-size:var(--jp-ui-font-size0,0.85em)">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )

    def displayed(self, figures: list[Figure], table: pd.DataFrame, text: str) -> list[object]:
        return [HTML(self.table_html(table, text))]

    def static_table_html(self, table: pd.DataFrame, text: str) -> str:
        if self.analysis.pseudonymise:
            # Never in real-email order: that order would map pseudonyms back to people.
            table = table.sort_values(["email", "campaign_name"], kind="stable")
        return self.table_html(table, text)

    def static_html(self) -> str:
        if not self._people_allowed():
            return (
                '<p class="aa-no-people"><i>Per-person rows are left out of shared reports. '
                "Render the report with <code>--include-people</code> to list them, or open "
                "this notebook in JupyterLab.</i></p>"
            )
        return super().static_html()

    def _people_allowed(self) -> bool:
        """False in a report run without ``--include-people``: no per-person rows there."""
        if not self.analysis.report:
            return True
        context = self.analysis.context
        return context is not None and context.include_people

    def figure_records(
        self, table: pd.DataFrame, label: str, selection: Selection
    ) -> list[dict[str, Any]]:
        return []  # row-level: personal data, not figures

    def report_views(self) -> list[tuple[str, str, Selection]]:
        base = Selection(campaign_ids=tuple(self.campaign.value))
        views = [("", "All users", base)]
        views += [
            ("Status", label, replace(base, statuses=(value,))) for label, value in STATUS_OPTIONS
        ]
        return views

    # -- export -------------------------------------------------------------------------------

    def _current_table(self) -> pd.DataFrame:
        if self.table is None:
            self.redraw()
        assert self.table is not None
        return self.table

    def export_frame(self, *, raw: bool = False) -> pd.DataFrame:
        """Every row of the current selection (after suppression) as exported: the data's
        column names (``campaign_id`` and ``campaign_name`` first), statuses in the controls'
        words, and text cells a spreadsheet cannot run as formulas (unless ``raw``: names and
        departments exactly as the directory holds them, for programs, not spreadsheets)."""
        frame = self._current_table().copy()
        frame["outcome"] = _status_words(frame["outcome"])
        return frame if raw else csv_safe.spreadsheet_safe(frame)

    def provenance(self) -> dict[str, Any]:
        """Where the exported rows come from and how they were chosen (never a secret)."""
        p = self.analysis.provenance()
        return {
            "snapshot_id": p["snapshot_id"],
            "fetched_at": p["fetched_at"],
            "api_host": p["api_host"],
            "content_hash": p["content_hash"],
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "filters": self.selection_text(),
            "rows": len(self._current_table()),
            "pseudonymise": p["pseudonymise"],
            "package_version": p["package_version"],
        }

    @staticmethod
    def provenance_lines(provenance: dict[str, Any]) -> list[str]:
        """The ``#`` lines a downloaded CSV starts with."""
        p = {key: _comment_value(value) for key, value in provenance.items()}
        return [
            "# awareness-analysis user explorer export: per-person data, keep it private",
            f"# snapshot {p['snapshot_id']}, fetched {p['fetched_at']}, api host {p['api_host']}, "
            f"data {p['content_hash']}, exported {p['exported_at']}, "
            f"awareness-analysis {p['package_version']}",
            f"# filters {p['filters']}; pseudonymisation "
            f"{'on' if provenance['pseudonymise'] else 'off'}; {p['rows']} rows",
            '# read with pandas.read_csv(path, comment="#")',
        ]

    def csv_text(self, *, comments: bool = True, raw: bool = False) -> str:
        """The selection as CSV text; with ``comments``, led by the provenance ``#`` lines
        (``pandas.read_csv(f, comment="#")`` skips them: text cells are quoted, so a ``#``
        inside one is data). Formula-looking text cells are neutralised unless ``raw``."""
        head = ""
        if comments:
            head = "\n".join(self.provenance_lines(self.provenance())) + "\n"
        # The project's one CSV writer neutralises (or not): never a second copy of the rule.
        return head + csv_safe.csv_text(
            self.export_frame(raw=True),
            raw=raw,
            quoting=csv.QUOTE_NONNUMERIC,
            lineterminator="\n",
        )

    def download_name(self, when: datetime | None = None) -> str:
        """``awareness-selection-<campaign or all>-<date>.csv`` for the current choice."""
        names = self.analysis.campaign_names
        ids = tuple(self.campaign.value) or (tuple(names) if len(names) == 1 else ())
        if not ids:
            scope = "all"
        elif len(ids) == 1:
            scope = _slug(names.get(ids[0], ids[0]))
        else:
            scope = f"{len(ids)}-campaigns"
        day = (when or datetime.now(UTC)).date().isoformat()
        return f"awareness-selection-{scope}-{day}.csv"

    def download_html(self, *, raw: bool = False) -> str:
        """A link that saves the selection's CSV (provenance lines first) in the browser;
        formula-looking text cells neutralised unless ``raw``."""
        if not self._people_allowed():
            return "<i>Per-person rows are left out of shared reports.</i>"
        text = self.csv_text(comments=True, raw=raw)
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        name = html.escape(self.download_name())
        rows = len(self._current_table())
        return (
            f'<a download="{name}" href="data:text/csv;charset=utf-8;base64,{data}" '
            f'title="Save {name}">Download {name}</a> ({rows:,} rows of per-person data: keep '
            "the file private)"
        )

    def export_csv(
        self, path: str | os.PathLike[str], *, comments: bool = False, raw: bool = False
    ) -> Path:
        """Write the current selection (after suppression) to ``path``; return the path.

        Without ``comments`` the CSV is plain and its provenance goes beside it, in
        ``<name>.provenance.json``; with ``comments`` the file is the browser download's (the
        provenance as leading ``#`` lines). Either way it is written whole or not at all.
        Text cells a spreadsheet would run as formulas get a leading apostrophe unless ``raw``.
        """
        out = Path(path)
        if not out.parent.exists():
            raise ValueError(f"Folder {out.parent} does not exist; choose another CSV path.")
        files = {out: self.csv_text(comments=comments, raw=raw)}
        if not comments:
            sidecar = out.with_name(f"{out.stem}.provenance.json")
            files[sidecar] = json.dumps(self.provenance(), indent=2) + "\n"
        for target, text in files.items():
            tmp = target.with_name(f".{target.name}.partial")
            tmp.write_text(text, encoding="utf-8", newline="")
            tmp.replace(target)  # never leave half a file behind
        return out

    def _export_clicked(self) -> None:
        self.export_status.value = self.download_html()
