"""Interactive dashboards: ipywidgets filter controls wired to the plot functions.

Each dashboard builds its controls once and connects each with one ``observe`` call, so redraws
never pile up. A redraw applies the filters, then small-group suppression, then the metric, and
draws into an ``Output`` widget. The last figure and table stay on the object (``figure``,
``table``, ``redraws``), so tests can set a control's ``value`` and observe the effect without a
browser.

By default a dashboard filters through :mod:`awareness_analysis.analysis.prepared`: codes, flags and join
keys computed once per frames (and shared by every dashboard of the same analysis), so a filter
change is a few array operations rather than a re-scan of the frames. ``precompute=False``
keeps the plain path (filter the frames, suppress, compute the metric on the result); both
draw the same figures from the same tables.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd
from IPython.core.formatters import format_display_data
from IPython.display import HTML, Image, display
from matplotlib.figure import Figure

from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.metrics import (
    DEFINITIONS,
    campaign_rates,
    department_comparison,
    question_accuracy,
)
from awareness_analysis.analysis.prepared import PreparedFrames, PreparedView, prepare
from awareness_analysis.analysis.privacy import (
    SUPPRESSED_LABEL,
    suppress_departments,
    suppress_rows,
)
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.views.plots import (
    plot_campaign_rates,
    plot_department_intervals,
    plot_funnel,
    plot_question_accuracy,
)

#: What a dashboard view draws: its figures, and the table behind them.
View = tuple[list[Figure], pd.DataFrame]

STATUS_OPTIONS = (("Not answered", "sent"), ("Correct", "correct"), ("Incorrect", "incorrect"))
_CONTROL_LAYOUT = w.Layout(width="auto", min_width="260px")
# Labels take their natural width, so "Departments" is not cut short.
_LABEL_STYLE = {"description_width": "initial"}


#: zlib level of the PNGs: charts are flat colour, so level 1 is as small as the default level
#: 6 (often smaller) and encodes faster. The pixels are the same at every level.
PNG_COMPRESS_LEVEL = 1


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes: shows the same in JupyterLab, nbval and exported HTML."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buffer.getvalue()


class Dashboard:
    """Filter controls (campaign, department, status, search, minimum group size) and a view.

    Subclasses implement :meth:`render`, returning the figures and table to show, and may
    implement :meth:`render_view` to compute them from a precomputed
    :class:`~awareness_analysis.analysis.prepared.PreparedView` (the default materialises its frames
    and calls :meth:`render`). ``precompute=False`` uses the plain path throughout.
    """

    title = "Dashboard"

    def __init__(
        self,
        analysis: Analysis,
        *,
        campaign_ids: Sequence[str] = (),
        autodraw: bool = True,
        precompute: bool = True,
    ) -> None:
        self.analysis = analysis
        self.users = analysis.frames.users
        self.answers = analysis.frames.answers
        self.prepared: PreparedFrames | None = None
        if precompute:
            prepared = prepare(self.users, self.answers)
            # Frames the prepared path cannot mirror exactly take the plain path.
            self.prepared = prepared if prepared.supported else None
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
            tooltip="Hide departments with fewer users than this (0 turns suppression off)",
            layout=w.Layout(width="160px"),
        )
        self.note = w.HTML()
        self.output = w.Output()
        self.figures: list[Figure] = []
        self.table: pd.DataFrame | None = None
        self.hidden_departments: tuple[str, ...] = ()
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
        return f"{text}; groups under {k} suppressed" if k > 1 else f"{text}; no suppression"

    @property
    def precompute(self) -> bool:
        """Whether redraws use the precomputed path (:mod:`awareness_analysis.analysis.prepared`)."""
        return self.prepared is not None

    def view_for(self, selection: Selection) -> PreparedView:
        """The precomputed view of ``selection`` after suppression (see :meth:`frames_for`)."""
        if self.prepared is None:
            raise RuntimeError("this dashboard was made with precompute=False")
        view = self.prepared.view(selection, self.min_group_size.value)
        self.hidden_departments = view.hidden
        return view

    def frames_for(self, selection: Selection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Users and answers of ``selection`` after suppression, as every view sees them.

        Suppression runs on the selection before the department filter, so a department's
        size is judged within what is shown, and hidden departments never reach the options.
        Returns (users, answers, users before the department filter).
        """
        if self.prepared is not None:
            view = self.view_for(selection)
            return view.users(), view.answers(), view.before_department().users()
        before_department = Selection(
            campaign_ids=selection.campaign_ids,
            statuses=selection.statuses,
            search=selection.search,
        ).apply(self.users)
        suppressed = suppress_departments(before_department, self.min_group_size.value)
        self.hidden_departments = suppressed.hidden
        users = suppressed.users
        if selection.departments:
            users = users[users["department"].isin(selection.departments)]
        return users, selection.apply_answers(self.answers, users), suppressed.users

    def selected_view(self) -> PreparedView:
        """The precomputed view for the controls' current state (syncs the department options,
        as :meth:`selected_frames` does)."""
        selection = self.selection()
        before = self.view_for(replace(selection, departments=())).suppressed
        self._set_department_options(before.department_options())
        return before.view(self.department.value)

    def selected_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Users and answers for the controls' current state."""
        if self.prepared is not None:
            view = self.selected_view()
            return view.users(), view.answers()
        selection = self.selection()
        _, _, users = self.frames_for(replace(selection, departments=()))
        # Options first: a department that became hidden must leave the selection too.
        self._sync_department_options(users)
        if self.department.value:
            users = users[users["department"].isin(self.department.value)]
        return users, selection.apply_answers(self.answers, users)

    def _sync_department_options(self, users: pd.DataFrame) -> None:
        shown = sorted(str(d) for d in users["department"].unique() if d != SUPPRESSED_LABEL)
        if (users["department"] == SUPPRESSED_LABEL).any():
            shown.append(SUPPRESSED_LABEL)
        self._set_department_options(shown)

    def _set_department_options(self, shown: list[str]) -> None:
        if list(self.department.options) == shown:
            return
        kept = tuple(d for d in self.department.value if d in shown)
        self._syncing = True
        try:
            self.department.options = shown
            self.department.value = kept
        finally:
            self._syncing = False

    # -- drawing ----------------------------------------------------------------------------

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.redraw()

    def render(self, users: pd.DataFrame, answers: pd.DataFrame, text: str) -> View:
        raise NotImplementedError

    def render_view(self, view: PreparedView, text: str) -> View:
        """What :meth:`render` returns, from a precomputed view (override to skip frames)."""
        return self.render(view.users(), view.answers(), text)

    def _render_prepared(self, view: PreparedView, text: str) -> View:
        # A subclass that overrides render() below the class defining render_view() gets its
        # own render(), on frames materialised from the view.
        mro = type(self).__mro__
        depth = {
            name: next(i for i, cls in enumerate(mro) if name in cls.__dict__)
            for name in ("render", "render_view")
        }
        if depth["render_view"] <= depth["render"]:
            return self.render_view(view, text)
        return self.render(view.users(), view.answers(), text)

    def _render_selection(self, selection: Selection, text: str) -> View:
        """Figures and table of ``selection`` (a report view), by either path."""
        if self.prepared is not None:
            return self._render_prepared(self.view_for(selection), text)
        users, answers, _ = self.frames_for(selection)
        return self.render(users, answers, text)

    def redraw(self) -> None:
        if self.prepared is not None:
            view = self.selected_view()
            text = self.selection_text()
            self.figures, self.table = self._render_prepared(view, text)
        else:  # the plain path: filter, suppress and compute on the frames themselves
            users, answers = self.selected_frames()
            text = self.selection_text()
            self.figures, self.table = self.render(users, answers, text)
        self.redraws += 1
        self.note.value = self._note_html()
        self._show(*self.displayed(self.figures, self.table, text))

    def displayed(self, figures: list[Figure], table: pd.DataFrame, text: str) -> list[object]:
        """What the Output widget shows for one redraw."""
        return [Image(figure_png(figure)) for figure in figures]

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
            f"{self.min_group_size.value} users in this selection, or hiding it protects one "
            "that had.</i>"
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
        if self.prepared is not None:
            options = self.view_for(base).suppressed.department_options()
            return [name for name in options if name != SUPPRESSED_LABEL]
        _, _, before_department = self.frames_for(base)
        return sorted(
            str(d) for d in before_department["department"].unique() if d != SUPPRESSED_LABEL
        )

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
            figures, table = self._render_selection(selection, text)
            body = "".join(
                f'<img alt="{html.escape(self.title)}: {html.escape(label)}" '
                f'src="data:image/png;base64,{base64.b64encode(figure_png(f)).decode()}">'
                for f in figures
            ) or self.static_table_html(table, text)
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

    def _ipython_display_(self) -> None:
        if self.analysis.report:
            display(HTML(self.static_html()))
        else:
            display(self.widget)


class CampaignOverview(Dashboard):
    """Acknowledgement, completion and all-correct rates per campaign."""

    title = "Campaign overview"

    def render(self, users: pd.DataFrame, answers: pd.DataFrame, text: str) -> View:
        return self._draw(campaign_rates(users), text)

    def render_view(self, view: PreparedView, text: str) -> View:
        return self._draw(view.campaign_rates(), text)

    def _draw(self, rates: pd.DataFrame, text: str) -> View:
        rates = suppress_rows(rates, self.min_group_size.value)
        return [plot_campaign_rates(rates, text)], rates


class QuestionAccuracy(Dashboard):
    """Per-question accuracy by campaign."""

    title = "Per-question accuracy"

    def render(self, users: pd.DataFrame, answers: pd.DataFrame, text: str) -> View:
        return self._draw(question_accuracy(answers, users), text)

    def render_view(self, view: PreparedView, text: str) -> View:
        return self._draw(view.question_accuracy(), text)

    def _draw(self, accuracy: pd.DataFrame, text: str) -> View:
        accuracy = suppress_rows(accuracy, self.min_group_size.value)
        return [plot_question_accuracy(accuracy, text)], accuracy


class DepartmentComparison(Dashboard):
    """Each department against the organisation: interval dot plot and funnel plot."""

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

    def render(self, users: pd.DataFrame, answers: pd.DataFrame, text: str) -> View:
        return self._draw(department_comparison(users, self.metric.value, answers=answers), text)

    def render_view(self, view: PreparedView, text: str) -> View:
        return self._draw(view.department_comparison(self.metric.value), text)

    def _draw(self, comparison: pd.DataFrame, text: str) -> View:
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

    def render(self, users: pd.DataFrame, answers: pd.DataFrame, text: str) -> View:
        table = users.loc[:, list(USER_COLUMNS)].reset_index(drop=True)
        return [], table

    def render_view(self, view: PreparedView, text: str) -> View:
        return [], view.user_table(USER_COLUMNS)

    def caption(self, table: pd.DataFrame, text: str) -> str:
        shown = min(len(table), self.max_rows_shown)
        return f"<p>{len(table)} users match; showing {shown}. Filters: {html.escape(text)}.</p>"

    def displayed(self, figures: list[Figure], table: pd.DataFrame, text: str) -> list[object]:
        return [HTML(self.caption(table, text)), table.head(self.max_rows_shown)]

    def static_table_html(self, table: pd.DataFrame, text: str) -> str:
        head = table.head(self.max_rows_shown)
        return self.caption(table, text) + head.to_html(index=False, na_rep="—")

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
