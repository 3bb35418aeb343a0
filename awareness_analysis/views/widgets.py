"""Interactive dashboards: ipywidgets filter controls wired to the plot functions.

Each dashboard builds its controls once and connects each with one ``observe`` call, so redraws
never pile up. A redraw asks the analysis engine (:mod:`awareness_analysis.analysis.engine`) for
the view of the controls' selection (filters, small-group suppression and metric tables in one
path, shared with the public functions and the reports) and draws it into an ``Output`` widget.
The last figure and table stay on the object (``figure``, ``table``, ``redraws``), so tests can
set a control's ``value`` and observe the effect without a browser; ``selected_users`` and
``selected_answers`` are the current selection's rows, to continue in pandas.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import replace
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
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.views.figures import ALL, data_table_html, figure_records
from awareness_analysis.views.plots import (
    plot_campaign_rates,
    plot_department_intervals,
    plot_funnel,
    plot_question_accuracy,
)
from awareness_analysis.views.render import figure_display, figure_html
from awareness_analysis.vocabulary import SUPPRESSED_LABEL

#: What a dashboard draws for one view: its figures, and the table behind them.
Rendered = tuple[list[Figure], pd.DataFrame]

STATUS_OPTIONS = (("Not answered", "sent"), ("Correct", "correct"), ("Incorrect", "incorrect"))
_CONTROL_LAYOUT = w.Layout(width="auto", min_width="260px")
# Labels take their natural width, so "Departments" is not cut short.
_LABEL_STYLE = {"description_width": "initial"}


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
            rows=min(6, max(2, len(names))),
            layout=_CONTROL_LAYOUT,
            style=_LABEL_STYLE,
        )
        self.department = w.SelectMultiple(
            options=[],
            description="Departments",
            rows=6,
            layout=_CONTROL_LAYOUT,
            style=_LABEL_STYLE,
        )
        self.status = w.SelectMultiple(
            options=list(STATUS_OPTIONS),
            description="Status",
            rows=3,
            layout=_CONTROL_LAYOUT,
            style=_LABEL_STYLE,
        )
        self.search = w.Text(
            description="Search",
            placeholder="name, email or department",
            continuous_update=False,
            layout=_CONTROL_LAYOUT,
            style=_LABEL_STYLE,
        )
        self.min_group_size = w.BoundedIntText(
            value=analysis.min_group_size,
            min=0,
            max=1000,
            description="Min group",
            tooltip="Hide departments with fewer people than this (0 turns suppression off)",
            layout=w.Layout(width="160px"),
        )
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
                w.HBox(self.controls(), layout=w.Layout(flex_flow="row wrap")),
                self.note,
                self.output,
            ]
        )
        if autodraw:
            self.redraw()

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
        return f"{text}; groups under {k} people suppressed" if k > 1 else f"{text}; no suppression"

    def view_for(self, selection: Selection) -> View:
        """The engine's view of ``selection`` at the dashboard's minimum group size (and the
        report's disclosure plan, in a report run)."""
        return self.engine.view(selection, self.min_group_size.value, plan=self.analysis.plan)

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
            finally:
                self._syncing = False
            view = self.view_for(self.selection())
        return view

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

    def render(self, view: View, text: str) -> Rendered:
        raise NotImplementedError

    def redraw(self) -> None:
        self.view = self.current_view()
        text = self.selection_text()
        self.figures, self.table = self.render(self.view, text)
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
            f"{self.min_group_size.value} people in the selected campaigns, or hiding it "
            "protects one that had.</i>"
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

    def render(self, view: View, text: str) -> Rendered:
        rates = view.campaign_rates()
        return [plot_campaign_rates(rates, text)], rates


class QuestionAccuracy(Dashboard):
    """Per-question accuracy by campaign."""

    title = "Per-question accuracy"

    def render(self, view: View, text: str) -> Rendered:
        accuracy = view.question_accuracy()
        return [plot_question_accuracy(accuracy, text)], accuracy


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

    def render(self, view: View, text: str) -> Rendered:
        comparison = view.department_comparison(self.metric.value)
        return [plot_department_intervals(comparison, text), plot_funnel(comparison, text)], (
            comparison
        )


USER_COLUMNS = (
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


class UserExplorer(Dashboard):
    """Users matching the filters, as a table, with a CSV export of exactly what is shown."""

    title = "User explorer"
    max_rows_shown = 200

    def __init__(self, analysis: Analysis, **kwargs: Any) -> None:
        self.export_path = w.Text(value="selection.csv", description="CSV file")
        self.export_button = w.Button(description="Export selection", icon="download")
        self.export_status = w.HTML()
        self.export_button.on_click(lambda _button: self._export_clicked())
        super().__init__(analysis, **kwargs)
        self.widget.children = (
            *self.widget.children[:-1],
            w.HBox([self.export_path, self.export_button, self.export_status]),
            self.widget.children[-1],
        )

    def render(self, view: View, text: str) -> Rendered:
        table = view.users(USER_COLUMNS).reset_index(drop=True)
        table.attrs["people"] = view.people
        return [], table

    def caption(self, table: pd.DataFrame, text: str) -> str:
        shown = min(len(table), self.max_rows_shown)
        people = table.attrs.get("people", 0)
        return (
            f"<p>{len(table):,} enrolments (campaign x person rows) of {people:,} people match; "
            f"showing {shown}. Filters: {html.escape(text)}.</p>"
        )

    def displayed(self, figures: list[Figure], table: pd.DataFrame, text: str) -> list[object]:
        return [HTML(self.caption(table, text)), table.head(self.max_rows_shown)]

    def static_table_html(self, table: pd.DataFrame, text: str) -> str:
        if self.analysis.pseudonymise:
            # Never in real-email order: that order would map pseudonyms back to people.
            table = table.sort_values(["email", "campaign_name"], kind="stable")
        head = table.head(self.max_rows_shown)
        return self.caption(table, text) + head.to_html(index=False, na_rep="—")

    def static_html(self) -> str:
        context = self.analysis.context
        if context is None or not context.include_people:
            return (
                '<p class="aa-no-people"><i>Per-person rows are left out of shared reports. '
                "Render the report with <code>--include-people</code> to list them, or open "
                "this notebook in JupyterLab.</i></p>"
            )
        return super().static_html()

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

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the current selection (after suppression) to ``path``; return the path."""
        if self.table is None:
            self.redraw()
        assert self.table is not None
        out = Path(path)
        if not out.parent.exists():
            raise ValueError(f"Folder {out.parent} does not exist; choose another CSV path.")
        tmp = out.with_name(f".{out.name}.partial")
        self.table.to_csv(tmp, index=False)
        tmp.replace(out)  # never leave half a CSV behind
        return out

    def _export_clicked(self) -> None:
        try:
            out = self.export_csv(self.export_path.value)
        except (OSError, ValueError) as exc:
            self.export_status.value = f"<span style='color:#D55E00'>{exc}</span>"
        else:
            rows = 0 if self.table is None else len(self.table)
            self.export_status.value = f"Wrote {rows} rows to {out}"
