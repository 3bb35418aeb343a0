"""Question quality: the item analysis of :mod:`awareness_analysis.analysis.items` as a chart,
a table and a page (the notebook ``07_question_quality`` and its report page).

The chart places each question by its difficulty (share correct, x) and its discrimination
(corrected item-total correlation, y), with both intervals, and marks the flagged ones. The
page shows a question's figures only where the question-accuracy page shows the same
question's accuracy: the difficulty *is* that figure (the same answers counted), so the
report's disclosure plan decides both, through
:meth:`~awareness_analysis.analysis.engine.View.question_accuracy`. The discrimination and
the queue's wrong option are published with it, under the same cell, and never where it is
hidden. Nothing on the page names a person.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as w
import numpy as np
import pandas as pd
from IPython.core.formatters import format_display_data
from IPython.display import HTML, display
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.items import (
    DEFAULT_EASY_AT,
    DEFAULT_HARD_AT,
    DEFAULT_MIN_FLAG_PEOPLE,
    hide_items,
    item_analysis_for,
)
from awareness_analysis.analysis.phases import question_label
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.views.chart_parts import (
    EDGE,
    MIN_TEXT_SIZE,
    NEUTRAL,
    TICK_SIZE,
    WIDTH_PT,
    add_axes,
    floats,
    new_figure,
    no_data_figure,
    open_axes,
    suppression_note,
    wrapped_chrome,
)
from awareness_analysis.views.figures import ALL, data_table_html, figure_number
from awareness_analysis.views.plots import PALETTE
from awareness_analysis.views.render import figure_display, figure_html
from awareness_analysis.views.text import text_width
from awareness_analysis.views.widgets import CONTROL_LAYOUT, LABEL_STYLE, list_rows

__all__ = ["CHART", "QuestionQuality", "plot_question_quality", "question_table"]

#: The chart's name in ``figures.csv`` and the page's Data table.
CHART = "Question quality"
#: The one report view: every question of the analysed campaigns.
REPORT_VIEW = "All questions"
#: Shown instead of a hidden question's figures (the plan or the k rule hides it).
HIDDEN_REASON = "hidden to protect a small group"
_ZONE = "#F3F3F3"
_FAIR, _FLAGGED = PALETTE["blue"], PALETTE["vermillion"]
_NO_DISCRIMINATION = "no discrimination"


def _label(row: pd.Series) -> str:
    return question_label(int(row["question"]), str(row["module_title"]))


def plot_question_quality(table: pd.DataFrame, selection_text: str = "") -> Figure:
    """Each question's difficulty (share correct, x) against its discrimination (y), both
    with 95% intervals, from :func:`~awareness_analysis.analysis.items.item_analysis`.

    Flagged questions are vermillion diamonds, named beside the point; the grey bands are the
    flag zones (almost everyone right or wrong; discrimination below the threshold).
    Questions without a discrimination (a one-question module, no variation) sit in a strip
    under the chart at their difficulty; suppressed questions are left out and counted in the
    footnote."""
    attrs = table.attrs
    easy_at = float(attrs.get("easy_at", DEFAULT_EASY_AT))
    hard_at = float(attrs.get("hard_at", DEFAULT_HARD_AT))
    negative_below = float(attrs.get("negative_below", 0.0))
    suppressed = table["suppressed"].astype(bool).to_numpy() if len(table) else np.zeros(0, bool)
    shown = table[~suppressed & table["difficulty"].notna().to_numpy()]
    footnotes = [
        "Bars: 95% intervals. Grey bands: flag zones. A fair question sits above 0: the people "
        "who do well on the other questions do well on it too. Hollow markers: questions "
        "without a discrimination (see the table's notes).",
        str(attrs.get("note", "")),
    ]
    if suppressed.any():
        footnotes.append(
            f"{int(suppressed.sum())} question(s) not shown. "
            + suppression_note(attrs.get("min_group_size"))
        )
    chrome = wrapped_chrome(
        "Question quality: difficulty against discrimination", selection_text, footnotes
    )
    if shown.empty:
        return no_data_figure(chrome, 2.0 * 72, "question quality", None)
    correlated = shown["discrimination"].notna().to_numpy()
    strip = bool((~correlated).any())
    # Wide enough for the strip's tick label, when there is a strip.
    label_width = text_width(_NO_DISCRIMINATION, TICK_SIZE) + 10.0 if strip else 0.0
    left, right, below, body = EDGE + max(44.0, label_width), EDGE + 14.0, 34.0, 250.0
    strip_height = 26.0 if strip else 0.0
    gap = 30.0 if strip else 0.0
    fig = new_figure(
        chrome, body + gap + strip_height + below + 10.0, "question quality", 1 + int(strip)
    )
    width = WIDTH_PT - left - right
    ax = add_axes(fig, left, chrome.bottom + below + strip_height + gap, width, body)
    flagged = shown["flag_reasons"].astype(str).str.len().to_numpy() > 0
    x, x_low, x_high = (floats(shown, c) for c in ("difficulty", "ci_low", "ci_high"))
    y = floats(shown, "discrimination")
    y_low = floats(shown, "discrimination_ci_low")
    y_high = floats(shown, "discrimination_ci_high")
    finite = np.concatenate([y_low[correlated], y_high[correlated], y[correlated]])
    finite = finite[np.isfinite(finite)]
    bottom = max(-1.0, min(-0.3, float(finite.min(initial=0.0)) - 0.05))
    top = min(1.0, max(0.6, float(finite.max(initial=0.0)) + 0.05))
    ax.axvspan(easy_at, 1.0, color=_ZONE, linewidth=0)
    ax.axvspan(0.0, hard_at, color=_ZONE, linewidth=0)
    ax.axhspan(bottom, negative_below, color=_ZONE, linewidth=0)
    ax.axhline(0.0, color=NEUTRAL, linewidth=0.8)
    for mask, colour, marker, name in (
        (correlated & ~flagged, _FAIR, "o", "question"),
        (correlated & flagged, _FLAGGED, "D", "flagged question"),
    ):
        if mask.any():
            ax.errorbar(
                x[mask],
                y[mask],
                xerr=np.vstack([x[mask] - x_low[mask], x_high[mask] - x[mask]]),
                yerr=np.vstack([y[mask] - y_low[mask], y_high[mask] - y[mask]]),
                fmt=marker,
                color=colour,
                ecolor=colour,
                markersize=5,
                elinewidth=0.7,
                capsize=0,
                label=name,
            )
    for index in np.flatnonzero(correlated & flagged):
        _name_point(ax, _label(shown.iloc[index]), x[index], y[index])
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(bottom, top)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel("Difficulty: share correct", fontsize=TICK_SIZE)
    ax.set_ylabel("Discrimination (item-total r)", fontsize=TICK_SIZE)
    open_axes(ax)
    if correlated.any():
        ax.legend(loc="upper left", fontsize=MIN_TEXT_SIZE, frameon=False)
    if strip:
        lower = add_axes(fig, left, chrome.bottom + below, width, strip_height, index=1)
        lower.axvspan(easy_at, 1.0, color=_ZONE, linewidth=0)
        lower.axvspan(0.0, hard_at, color=_ZONE, linewidth=0)
        lonely = ~correlated
        for mask, colour in ((lonely & ~flagged, _FAIR), (lonely & flagged, _FLAGGED)):
            if mask.any():
                lower.errorbar(
                    x[mask],
                    np.zeros(int(mask.sum())),
                    xerr=np.vstack([x[mask] - x_low[mask], x_high[mask] - x[mask]]),
                    fmt="o",
                    color=colour,
                    markerfacecolor="white",
                    markersize=5,
                    elinewidth=0.7,
                    capsize=0,
                )
        lower.set_xlim(0.0, 1.0)
        lower.set_ylim(-1.0, 1.0)
        for index in np.flatnonzero(lonely & flagged):
            _name_point(lower, _label(shown.iloc[index]), x[index], 0.0)
        lower.set_yticks([0.0], [_NO_DISCRIMINATION])
        lower.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        ax.set_xlabel("")
        lower.set_xlabel("Difficulty: share correct", fontsize=TICK_SIZE)
        open_axes(lower)
        lower.tick_params(axis="y", left=False)
    return fig


def _name_point(ax: Axes, text: str, x: float, y: float) -> None:
    """Name a flagged point beside it, on the side with room (the right edge is near)."""
    right_side = x < 0.75
    ax.annotate(
        text,
        (x, y),
        xytext=(5 if right_side else -5, 4),
        textcoords="offset points",
        ha="left" if right_side else "right",
        fontsize=MIN_TEXT_SIZE,
        color=_FLAGGED,
    )


def _percent(value: object) -> str:
    return "—" if pd.isna(value) else f"{float(value):.0%}"


def _interval(low: object, high: object, percent: bool) -> str:
    if pd.isna(low) or pd.isna(high):
        return "—"
    if percent:
        return f"{float(low):.0%}\u2013{float(high):.0%}"
    return f"{float(low):+.2f} to {float(high):+.2f}"


def question_table(table: pd.DataFrame) -> pd.DataFrame:
    """The item table as readers see it: one row per question, figures as text (what is
    hidden or missing as —, with the reason in the notes column)."""
    rows = []
    for _, row in table.iterrows():
        discrimination = row["discrimination"]
        option = row["top_wrong_option"]
        notes = [
            str(row[c])
            for c in ("discrimination_note", "option_note", "flag_note")
            if str(row[c]) and not (c == "option_note" and not pd.isna(option))
        ]
        rows.append(
            {
                "Campaign": str(row["campaign_name"]),
                "Question": _label(row),
                "Difficulty (share correct)": _percent(row["difficulty"]),
                "95% CI": _interval(row["ci_low"], row["ci_high"], percent=True),
                "Answers": "—" if pd.isna(row["n"]) else f"{int(row['n']):,}",
                "People": "—" if pd.isna(row["people"]) else f"{int(row['people']):,}",
                "Discrimination": "—"
                if pd.isna(discrimination)
                else f"{float(discrimination):+.2f}",
                "Discrimination 95% CI": _interval(
                    row["discrimination_ci_low"], row["discrimination_ci_high"], percent=False
                ),
                "Wrong option chosen most": "—"
                if pd.isna(option)
                else f"option {int(option)} ({_percent(row['top_wrong_share'])} of wrong answers)",
                "Flags": str(row["flag_reasons"]) or "—",
                "Notes": "; ".join(dict.fromkeys(notes)),
            }
        )
    return pd.DataFrame(rows)


def _records(table: pd.DataFrame, cells: Sequence[object]) -> list[dict[str, object]]:
    """What the page publishes for ``table`` (hidden rows marked hidden), one ``cells`` entry
    per row: the question-accuracy cell its figures count."""
    records: list[dict[str, object]] = []
    for (_, row), cell in zip(table.iterrows(), cells, strict=True):
        hidden = bool(row["suppressed"]) or pd.isna(row["n"])
        common = {
            "view": REPORT_VIEW,
            "chart": CHART,
            "campaign": str(row["campaign_name"]),
            "department": ALL,
            "question": int(row["question"]),
            "cell": cell,
        }
        # The difficulty is the question's accuracy: named as such, the same figure (and
        # cell) the question-accuracy page publishes.
        records.append(
            common
            | {
                "metric": "accuracy",
                "numerator": figure_number(row["correct"]),
                "n": figure_number(row["n"]),
                "people": figure_number(row["people"]),
                "rate": figure_number(row["difficulty"]),
                "ci_low": figure_number(row["ci_low"]),
                "ci_high": figure_number(row["ci_high"]),
                "hidden": hidden,
            }
        )
        if not pd.isna(row["discrimination"]) or hidden:
            records.append(
                common
                | {
                    "metric": "accuracy item-total correlation (discrimination)",
                    "numerator": None,
                    "n": figure_number(row["discrimination_people"]),
                    "people": figure_number(row["discrimination_people"]),
                    "rate": figure_number(row["discrimination"]),
                    "ci_low": figure_number(row["discrimination_ci_low"]),
                    "ci_high": figure_number(row["discrimination_ci_high"]),
                    "hidden": hidden or pd.isna(row["discrimination"]),
                }
            )
        if not pd.isna(row["top_wrong_option"]):
            # The vendor's counts of answers in its option spread: it says nothing of people.
            records.append(
                common
                | {
                    "metric": f"accuracy wrong option {int(row['top_wrong_option'])} "
                    "(share of wrong answers, training queue)",
                    "numerator": figure_number(row["top_wrong_count"]),
                    "n": figure_number(row["wrong_in_spread"]),
                    "people": None,
                    "rate": figure_number(row["top_wrong_share"]),
                    "ci_low": None,
                    "ci_high": None,
                    "hidden": hidden,
                }
            )
    return [r for r in records if r["cell"] is not None]


class QuestionQuality:
    """The question-quality page: difficulty, discrimination, the most chosen wrong option
    and flags per question, with campaigns, flag thresholds and "judge from" as controls.

    In JupyterLab the controls redraw the chart and table. In a report run
    (``analysis.report``) the page renders every question of the analysed campaigns once
    under the report's disclosure plan and logs what it publishes (see the module docstring).
    ``tables["items"]`` holds the table behind the chart after each redraw.
    """

    title = "Question quality"

    def __init__(self, analysis: Analysis, *, autodraw: bool = True) -> None:
        self.analysis = analysis
        self.k = analysis.min_group_size
        self.redraws = 0
        self.figures: list[Figure] = []
        self.tables: dict[str, pd.DataFrame] = {}
        names = analysis.campaign_names
        self.campaign = w.SelectMultiple(
            options=[(name, cid) for cid, name in names.items()],
            value=(),
            description="Campaigns",
            rows=list_rows(len(names)),
            layout=CONTROL_LAYOUT,
            style=LABEL_STYLE,
        )
        self.easy_at = w.FloatSlider(
            value=DEFAULT_EASY_AT,
            min=0.5,
            max=1.0,
            step=0.01,
            readout_format=".0%",
            description="Almost everyone right at",
            style=LABEL_STYLE,
        )
        self.hard_at = w.FloatSlider(
            value=DEFAULT_HARD_AT,
            min=0.0,
            max=0.49,
            step=0.01,
            readout_format=".0%",
            description="Almost everyone wrong at",
            style=LABEL_STYLE,
        )
        self.min_people = w.BoundedIntText(
            value=DEFAULT_MIN_FLAG_PEOPLE,
            min=1,
            max=1_000_000,
            description="Judge questions answered by at least (people)",
            style=LABEL_STYLE,
        )
        self.output = w.Output()
        for control in self.controls():
            control.observe(self._on_change, names="value")
        self.widget = w.VBox(
            [
                w.HTML(f"<b>{html.escape(self.title)}</b>"),
                w.HBox(self.controls(), layout=w.Layout(flex_flow="row wrap")),
                self.output,
            ]
        )
        if autodraw and not analysis.report:
            self.redraw()

    def controls(self) -> list[w.ValueWidget]:
        return [self.campaign, self.easy_at, self.hard_at, self.min_people]

    def _on_change(self, change: dict[str, object]) -> None:
        self.redraw()

    def selection(self) -> Selection:
        return Selection(campaign_ids=tuple(self.campaign.value))

    def selection_text(self, selection: Selection | None = None) -> str:
        text = (selection or self.selection()).describe(self.analysis.campaign_names)
        hidden = f"groups under {self.k} people hidden" if self.k > 1 else "nothing hidden (k off)"
        return f"{text}; {hidden}"

    def compute(self, selection: Selection | None = None) -> tuple[pd.DataFrame, list[object]]:
        """The item table of ``selection``'s campaigns (default: the controls'), with the
        questions the question-accuracy figures hide blanked, and each row's cell (None
        outside a report run)."""
        selection = selection or self.selection()
        items = item_analysis_for(
            self.analysis,
            easy_at=float(self.easy_at.value),
            hard_at=min(float(self.hard_at.value), float(self.easy_at.value) - 0.01),
            min_people=int(self.min_people.value),
        )
        if selection.campaign_ids:
            wanted = items["campaign_id"].astype(str).isin(selection.campaign_ids).to_numpy()
            kept = items[wanted].reset_index(drop=True)
            kept.attrs = dict(items.attrs)
            items = kept
        accuracy = self.analysis.view(selection, self.k).question_accuracy()
        by_question = {
            (str(cid), int(q)): (cell, bool(hidden))
            for cid, q, cell, hidden in zip(
                accuracy["campaign_id"].astype(str),
                accuracy["question"],
                accuracy["cell"] if "cell" in accuracy else [None] * len(accuracy),
                accuracy["suppressed"],
                strict=True,
            )
        }
        keys = list(zip(items["campaign_id"].astype(str), items["question"], strict=True))
        # A question the accuracy figures do not show (or do not have) shows nothing here.
        found = [by_question.get((cid, int(q)), (None, True)) for cid, q in keys]
        hide = np.array([hidden for _, hidden in found], dtype=bool)
        return hide_items(items, hide, HIDDEN_REASON), [cell for cell, _ in found]

    def redraw(self) -> None:
        table, _ = self.compute()
        self.tables = {"items": table}
        text = self.selection_text()
        self.figures = [plot_question_quality(table, text)]
        outputs: list[object] = [figure_display(self.figures[0], "items-0")]
        outputs.append(HTML(self._table_html(table)))
        self.redraws += 1
        self.output.outputs = tuple(
            {"output_type": "display_data", "data": data, "metadata": metadata}
            for data, metadata in (format_display_data(o) for o in outputs)
        )

    @staticmethod
    def _table_html(table: pd.DataFrame) -> str:
        flagged = table[table["flag_reasons"].astype(str).str.len() > 0]
        review = (
            "<p><b>To review:</b> "
            + "; ".join(
                html.escape(f"{_label(row)} ({row['campaign_name']}): {row['flag_reasons']}")
                for _, row in flagged.iterrows()
            )
            + ".</p>"
            if len(flagged)
            else "<p><b>To review:</b> no question is flagged.</p>"
        )
        shown = question_table(table)
        body = (
            shown.to_html(index=False, escape=True)
            if len(shown)
            else "<p><i>No questions for this selection.</i></p>"
        )
        return review + body

    # -- the report page ---------------------------------------------------------------------

    def static_html(self) -> str:
        """The report page's body: the chart and table of every question of the analysed
        campaigns, hidden where the question-accuracy figures are; every figure logged."""
        selection = Selection()
        table, cells = self.compute(selection)
        self.tables = {"items": table}
        records = _records(table, cells)
        page = figure_html(
            plot_question_quality(table, self.selection_text(selection)),
            "Question quality: difficulty against discrimination",
            "items-report-0",
        )
        page += data_table_html(records)
        page += self._table_html(table)
        context = self.analysis.context
        if context is not None:
            context.publish(records)
        return page

    def _ipython_display_(self) -> None:
        if self.analysis.report:
            display(HTML(self.static_html()))
        else:
            display(self.widget)
