"""Charts of rate tables: a rate table (see :mod:`awareness_analysis.analysis.metrics`) in, a
Figure out.

Every function builds a :class:`matplotlib.figure.Figure` directly, never through pyplot, so
dashboards that redraw on every filter change leave no figures behind in pyplot's registry; the
caller decides how to show or save it. Each chart states the filter in force in its title, the
metric definition(s) in a footnote, and for every group what it counts: people, and enrolments
or answers where a pooled view counts one person more than once. Rows hidden by small-group
suppression are named as suppressed instead of vanishing, and an empty table gives a figure
that says so.

Rates are fractions (0-1) in the tables and shown as percent (0-100%) on the axes.

Layout is computed here, once, from text metrics (no layout engine): each chart knows its tick
labels, titles and footnotes before it places its axes, so it measures them (widths cached
across redraws, see :func:`~awareness_analysis.views.text.line_width`) and puts the axes
where they fit. A layout engine would measure every text again on several passes per draw,
and make ``savefig`` draw twice; a dashboard redrawing on every filter change cannot afford
that. No text is smaller than :data:`MIN_TEXT_SIZE` points, so a report page shown at its
natural width (10 in = 960 CSS px) has no text under 11 px.

A dashboard may hand its last figure back (``figure=``): when the new table has the same panels,
the chart is drawn into it by the same code, keeping its axes and ticks, which are most of what
a chart costs to make (tests/test_render.py checks the result is byte for byte a new figure's).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter
from matplotlib.transforms import ScaledTranslation

from awareness_analysis.analysis.metrics import (
    BASELINE_NOTE,
    CLUSTERING_NOTE,
    DEFINITIONS,
    SIGNIFICANCE_NOTE,
)
from awareness_analysis.analysis.phases import RUNNING_DAYS, question_label
from awareness_analysis.analysis.stats import funnel_limits
from awareness_analysis.views.chart_parts import (
    EDGE,
    FIGURE_WIDTH,
    MIN_TEXT_SIZE,
    NEUTRAL,
    NO_DATA_MESSAGE,
    TITLE_Y,
    WIDTH_PT,
    Chrome,
    add_axes,
    count_text,
    fixed_label_positions,
    floats,
    new_figure,
    no_data_figure,
    suppression_note,
)
from awareness_analysis.views.text import line_width, text_width, wrap, wrap_to
from awareness_analysis.vocabulary import SUPPRESSED_LABEL, UNIT_PEOPLE

__all__ = [
    "DIRECTION_COLOURS",
    "FIGURE_WIDTH",
    "METRIC_COLOURS",
    "MIN_TEXT_SIZE",
    "NEUTRAL",
    "NO_DATA_MESSAGE",
    "PALETTE",
    "RUNNING_NOTE",
    "plot_campaign_rates",
    "plot_department_intervals",
    "plot_funnel",
    "plot_question_accuracy",
]

# FIGURE_WIDTH, MIN_TEXT_SIZE, NEUTRAL and NO_DATA_MESSAGE live in views/chart_parts.py with
# the figure frame both chart modules draw into; they are exported here as before.

#: Okabe-Ito colour-blind-safe palette (Okabe & Ito 2008).
PALETTE: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

METRIC_COLOURS: dict[str, str] = {
    "acknowledgement": PALETTE["blue"],
    "completion": PALETTE["orange"],
    "all_correct": PALETTE["bluish_green"],
    "accuracy": PALETTE["blue"],
}
DIRECTION_COLOURS: dict[str, str] = {
    "above": PALETTE["blue"],
    "below": PALETTE["vermillion"],
    "as expected": NEUTRAL,
}
_DIRECTION_MARKERS = {"above": "^", "below": "v", "as expected": "o"}
_DIRECTION_WORDS = {"above": "\u25b2 above the rest", "below": "\u25bc below the rest"}

CAMPAIGN_METRICS = ("acknowledgement", "completion", "all_correct")
FUNNEL_CONFIDENCES = (0.95, 0.998)
#: Footnote of a campaign chart with running campaigns: their low rates are progress.
RUNNING_NOTE = (
    f"Running: launched under {RUNNING_DAYS} days before the data was fetched; rates will "
    "still rise. Hollow dots: running campaigns."
)

_TITLE_SIZE = 12.0
_PANEL_TITLE_SIZE = 10.0
_AXIS_LABEL_SIZE = 9.0
_TICK_SIZE = 9.0
_NOTE_SIZE = MIN_TEXT_SIZE  # values, status texts, legends, outlier labels
_FOOTNOTE_SIZE = MIN_TEXT_SIZE
_LABEL_WRAP = 34  # characters per line of a campaign or department tick label
_COMBINED_LABEL = SUPPRESSED_LABEL
_LOG_SPAN = 30.0  # department sizes spanning more than this factor get a log n axis
_TITLE_Y = TITLE_Y  # panel titles at the top of their axes (see chart_parts.TITLE_Y)

# Layout, in points (1/72 in).
_WIDTH_PT = WIDTH_PT
_EDGE = EDGE  # space kept free at the figure's edges
_GAP = 8.0  # between stacked blocks: title, panels, footnote
_TICK_PAD = 3.5  # matplotlib's default distance from a tick to its label
_TICK_LENGTH = 3.5  # matplotlib's default major tick length
_TITLE_PAD = 6.0  # matplotlib's default distance from an axes' top to its title
_LABEL_PAD = 4.0  # matplotlib's default distance from tick labels to the axis label
_LINE_SPACING = 1.2  # of multi-line text, in font sizes (DejaVu Sans at 'normal' spacing)


# --- text metrics (widths and wrapping: awareness_analysis.views.text) ----------------------


def _text_height(text: str, size: float) -> float:
    lines = text.count("\n") + 1
    return size if lines == 1 else size * _LINE_SPACING * lines


# --- shared pieces --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One rate-table row as plain Python values (nullable pandas scalars made float/NaN)."""

    label: str
    successes: float
    n: float
    people: float
    rate: float
    ci_low: float
    ci_high: float
    suppressed: bool
    extra: dict[str, Any]

    @property
    def plotted(self) -> bool:
        return not self.suppressed and self.n > 0 and not math.isnan(self.rate)

    @property
    def no_data(self) -> bool:
        return not self.suppressed and not self.n > 0


def _rows(table: pd.DataFrame, labels: Iterable[str], extra: Sequence[str] = ()) -> list[_Row]:
    suppressed = (
        table["suppressed"].fillna(False).astype(bool).to_numpy()
        if "suppressed" in table
        else np.zeros(len(table), dtype=bool)
    )
    numbers = {
        c: floats(table, c) for c in ("successes", "n", "people", "rate", "ci_low", "ci_high")
    }
    extras = {c: table[c].tolist() if c in table else [None] * len(table) for c in extra}
    return [
        _Row(
            label=label,
            successes=float(numbers["successes"][i]),
            n=float(numbers["n"][i]),
            people=float(numbers["people"][i]),
            rate=float(numbers["rate"][i]),
            ci_low=float(numbers["ci_low"][i]),
            ci_high=float(numbers["ci_high"][i]),
            suppressed=bool(suppressed[i]),
            extra={c: extras[c][i] for c in extra},
        )
        for i, label in enumerate(labels)
    ]


def _min_group_size(table: pd.DataFrame) -> int | None:
    # suppress_rows may record k in attrs; without it the label still says what happened.
    for key in ("min_group_size", "k"):
        value = table.attrs.get(key)
        if isinstance(value, int | np.integer) and value > 1:
            return int(value)
    return None


def _suppressed_text(table: pd.DataFrame) -> str:
    k = _min_group_size(table)
    return f"(suppressed: n < {k if k is not None else 'k'})"


def _suppression_note(table: pd.DataFrame) -> str:
    return suppression_note(_min_group_size(table))


def _n_text(row: _Row, table: pd.DataFrame) -> str:
    """What the row counts: "600 people", or "600 people, 3,368 enrolments" when pooled."""
    if row.suppressed:
        k = _min_group_size(table)
        return f"fewer than {k if k is not None else 'k'} people"
    return _units_text(row.people, row.n, table)


def _units_text(people: float, n: float, table: pd.DataFrame) -> str:
    unit = str(table.attrs.get("unit") or "")
    if math.isnan(people):  # a table without a people column: say only n
        return f"n={count_text(n)}"
    if people == n or not unit:
        return f"{count_text(people)} {UNIT_PEOPLE}"
    return f"{count_text(people)} {UNIT_PEOPLE}, {count_text(n)} {unit}"


def _pooled(rows: Iterable[_Row]) -> bool:
    """Whether any row counts one person more than once (its intervals use effective n)."""
    return any(not math.isnan(r.people) and r.people < r.n for r in rows)


def _definitions(metrics: Iterable[str]) -> list[str]:
    return [DEFINITIONS[m].text() for m in metrics if m in DEFINITIONS]


def _metric_label(metric: str) -> str:
    definition = DEFINITIONS.get(metric)
    return definition.label if definition is not None else metric.replace("_", " ").capitalize()


# --- page layout ----------------------------------------------------------------------------


def _chrome(title: str, selection_text: str, footnotes: Sequence[str]) -> Chrome:
    """Title with the selection in force; footnote with definitions, both measured."""
    width = _WIDTH_PT - 2 * _EDGE
    heading = title
    if selection_text.strip():
        heading += "\n" + wrap_to(selection_text.strip(), width, _TITLE_SIZE)
    footnote = "\n".join(wrap_to(p, width, _FOOTNOTE_SIZE) for p in footnotes if p)
    top = _EDGE + _text_height(heading, _TITLE_SIZE) + _GAP
    bottom = _EDGE + (_text_height(footnote, _FOOTNOTE_SIZE) + _GAP if footnote else 0.0)
    return Chrome(heading, footnote, top, bottom)


def _x_ticks_height(size: float = _TICK_SIZE) -> float:
    """Points below an axes taken by its x ticks and their labels."""
    return _TICK_LENGTH + _TICK_PAD + size + 2.0


def _percent_overhang() -> float:
    """How far the "100%" (or "0%") x tick label reaches past its axes' edge, in points."""
    return line_width("100%", _TICK_SIZE) / 2


def _empty_figure(
    title: str, selection_text: str, footnotes: Sequence[str], chart: str, reuse: Figure | None
) -> Figure:
    return no_data_figure(_chrome(title, selection_text, footnotes), 2.6 * 72, chart, reuse)


def _percent_axis(ax: Axes, axis: str = "x", ticks: int = 6) -> None:
    # Rate dot plots keep the whole 0-100% scale: panels and charts side by side stay
    # comparable, and a rate's distance from 100% reads as the share still to go. (The funnel
    # plot fits its rate axis to the data instead; see _fit_rate_axis.)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    # Tick styles before the ticks: each new tick is made with them, not restyled after.
    ax.grid(axis=axis, which="both", color="#E2E2E2", linewidth=0.6)
    ax.set_axisbelow(True)
    if axis == "x":
        ax.set_xlim(0.0, 1.0)
        ax.set_xticks(np.linspace(0, 1, ticks))
        if ticks == 3:  # narrow panels: label 0/50/100% but keep the quarter gridlines
            ax.set_xticks([0.25, 0.75], minor=True)
        elif len(ax.xaxis.get_minorticklocs()):  # a reused figure's narrow panel
            ax.set_xticks([], minor=True)
    else:
        ax.set_ylim(0.0, 1.0)
        ax.set_yticks(np.linspace(0, 1, ticks))


def _row_axis(ax: Axes, count: int) -> None:
    """Rows 0..count-1 top to bottom, without the frame lines a dot plot does not need.

    Call before setting ticks, so each tick is made in this style rather than restyled.
    """
    ax.set_ylim(count - 0.5, -0.5)
    ax.tick_params(axis="y", left=False, labelsize=_TICK_SIZE)  # labels without tick marks
    ax.tick_params(axis="x", labelsize=_TICK_SIZE)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _interval_dots(
    ax: Axes,
    y: Sequence[float],
    rows: Sequence[_Row],
    colour: str,
    marker: str = "o",
    gid: str = "points",
    hollow: bool = False,
) -> None:
    if not rows:
        return
    rates = np.array([r.rate for r in rows])
    low = np.clip(rates - np.array([r.ci_low for r in rows]), 0, None)
    high = np.clip(np.array([r.ci_high for r in rows]) - rates, 0, None)
    # Hollow (white-filled, so the interval line does not show through): still running.
    style = {"markerfacecolor": "white", "markeredgewidth": 1.5} if hollow else {}
    container = ax.errorbar(
        rates,
        list(y),
        xerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]),
        fmt=marker,
        color=colour,
        markersize=6,
        elinewidth=1.6,
        capsize=0,
        zorder=3,
        **style,
    )
    container.lines[0].set_gid(gid)
    container.lines[0].set_clip_on(False)  # a dot at exactly 0% or 100% stays whole


def _value_label(
    ax: Axes, y: float, row: _Row, text: str, panel_width: float, colour: str = "#222222"
) -> None:
    """Write ``text`` beside the interval, on a side where it fits inside the 0-100% panel.

    ``panel_width`` (points) converts the text's measured width into a share of the axis.
    When neither side has room the text sits just above the dot, kept inside the panel.
    """
    low = row.ci_low if not math.isnan(row.ci_low) else row.rate
    high = row.ci_high if not math.isnan(row.ci_high) else row.rate
    width = line_width(text, _NOTE_SIZE)
    needed = (width + 7) / panel_width
    # Text offset by points from a data position: what annotate(textcoords="offset points")
    # draws, as a plain Text, which is cheaper to make and to draw.
    if 1.0 - high >= needed:
        x, dx, dy, ha = high, 5.0, 0.0, "left"
    elif low >= needed:
        x, dx, dy, ha = low, -5.0, 0.0, "right"
    else:  # a wide interval leaves no room on either side: sit just above the dot
        share = width / panel_width
        left = min(max(row.rate - share / 2, 0.0), max(0.0, 1.0 - share))
        x, dx, dy, ha = row.rate, (left + share / 2 - row.rate) * panel_width, 5.0, "center"
    ax.text(
        x,
        y,
        text,
        transform=ax.transData + ScaledTranslation(dx / 72, dy / 72, ax.figure.dpi_scale_trans),
        ha=ha,
        va="center" if dy == 0 else "bottom",
        fontsize=_NOTE_SIZE,
        color=colour,
        gid="value",
    )


def _status_text(ax: Axes, y: float, text: str, gid: str, panel_width: float) -> None:
    # Narrow panels (many questions) break the text rather than run into the next panel.
    text = wrap_to(text, panel_width * 0.97, _NOTE_SIZE, style="italic")
    ax.text(
        0.01, y, text, ha="left", va="center", fontsize=_NOTE_SIZE, color=NEUTRAL,
        style="italic", gid=gid,
    )  # fmt: skip


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _campaign_keys(table: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Campaigns in table order (launch order) and a display name for each."""
    ids = table["campaign_id"].astype(str) if "campaign_id" in table else None
    names = (
        table["campaign_name"].astype(str)
        if "campaign_name" in table
        else pd.Series([""] * len(table))
    )
    keys = ids if ids is not None else names
    order = list(dict.fromkeys(keys.tolist()))
    display: dict[str, str] = {}
    for key, name in zip(keys.tolist(), names.tolist(), strict=True):
        display.setdefault(key, name.strip() or key)
    return order, display


def _campaign_column(table: pd.DataFrame, keys: Sequence[str], column: str) -> dict[str, Any]:
    """Each campaign's value of a per-campaign column (its first row's), or {} without it."""
    if column not in table:
        return {}
    values: dict[str, Any] = {}
    for key, value in zip(keys, table[column].tolist(), strict=True):
        values.setdefault(key, value)
    return values


def _rows_height(labels: Sequence[str], per_line: float = 0.19, minimum: float = 0.34) -> float:
    """Inches of the rows of a dot plot: each at least ``minimum``, taller for wrapped labels."""
    return sum(max(minimum, 0.12 + per_line * (label.count("\n") + 1)) for label in labels)


def _panel_columns(tick_widths: Sequence[float]) -> tuple[list[float], float, list[float]]:
    """Side-by-side 0-100% panels sharing rows: each panel's y tick labels (``tick_widths``,
    points; 0 for a panel without them) fit left of it, and no panel's "100%" meets the next
    one's "0%". Returns each panel's left edge, the panel width, and the room after each panel
    (up to the next one, or the figure's edge), all in points."""
    overhang = _percent_overhang()
    # a little more than the tick pad, so a value label at a panel's right end stays clear of
    # the next panel's tick labels
    lefts = [w + _TICK_PAD + 8.0 if w else 0.0 for w in tick_widths]
    gaps = [max(lefts[i + 1], 2 * overhang + 12.0) for i in range(len(lefts) - 1)]
    start = _EDGE + lefts[0]
    width = (_WIDTH_PT - start - sum(gaps) - _EDGE - overhang) / len(lefts)
    xs = [start + i * width + sum(gaps[:i]) for i in range(len(lefts))]
    return xs, width, [*gaps, overhang]


def _add_panels(
    fig: Figure, xs: Sequence[float], width: float, bottom: float, height: float
) -> list[Axes]:
    axes = []
    for index, x in enumerate(xs):
        ax = add_axes(fig, x, bottom, width, height, index)
        fixed_label_positions(ax)
        axes.append(ax)
    return axes


def _running_days(table: pd.DataFrame, keys: Sequence[str]) -> dict[str, float]:
    """Days since launch (NaN when unknown) of each running campaign; {} without the
    ``running`` column (see :func:`awareness_analysis.analysis.phases.annotate_campaigns`)."""
    flags = _campaign_column(table, keys, "running")
    days = _campaign_column(table, keys, "days_since_launch")
    running = {}
    for key, flag in flags.items():
        if flag is not None and not pd.isna(flag) and bool(flag):
            value = days.get(key)
            running[key] = math.nan if value is None or pd.isna(value) else float(value)
    return running


def _running_text(days: float) -> str:
    if math.isnan(days):
        return "running"
    whole = int(days)
    return f"running \u00b7 {whole} day{'' if whole == 1 else 's'}"


# --- campaign rates -------------------------------------------------------------------------


def plot_campaign_rates(
    rates: pd.DataFrame, selection_text: str = "", *, figure: Figure | None = None
) -> Figure:
    """Acknowledgement, completion and all-correct rate by campaign, one panel per metric.

    Dots are rates with 95% Wilson intervals; tick labels carry each campaign's people sent,
    and a rate whose n differs from that (all-correct counts only those who answered) prints
    its own count beside the value. With a boolean ``running`` column (and
    ``days_since_launch``), running campaigns get hollow dots and "running · 12 days" in their
    label, so a low completion reads as progress rather than failure.

    ``figure``, a figure this function returned before (a dashboard's last one), is redrawn
    in place and returned when it has the same panels: the same chart, much quicker, as its
    axes and ticks are kept and only what is drawn in them is replaced. Otherwise a new figure
    is returned. Pass only a figure that nothing else still shows or keeps.
    """
    title = "Campaign rates"
    present = [] if rates.empty else list(dict.fromkeys(rates["metric"].astype(str)))
    metrics = [m for m in CAMPAIGN_METRICS if m in present] + [
        m for m in present if m not in CAMPAIGN_METRICS
    ]
    notes = _definitions(metrics or CAMPAIGN_METRICS)
    if rates.empty:
        return _empty_figure(title, selection_text, notes, "campaign rates", figure)

    order, display = _campaign_keys(rates)
    keys = (
        rates["campaign_id"].astype(str) if "campaign_id" in rates else rates["campaign_name"]
    ).tolist()
    by_metric: dict[str, dict[str, _Row]] = {m: {} for m in metrics}
    for key, metric, row in zip(keys, rates["metric"].astype(str), _rows(rates, keys), strict=True):
        by_metric[metric][key] = row
    running = _running_days(rates, keys)

    # n in the tick label is users sent, read off the first metric that counts every user.
    base = next((m for m in ("acknowledgement", "completion") if m in by_metric), metrics[0])
    labels = []
    for key in order:
        row = by_metric[base].get(key)
        n_part = f" ({_n_text(row, rates)})" if row is not None else ""
        label = wrap(display[key] + n_part, _LABEL_WRAP - 6)
        if key in running:
            label += "\n" + _running_text(running[key])
        labels.append(label)

    all_rows = [r for rows in by_metric.values() for r in rows.values()]
    if any(r.suppressed for r in all_rows):
        notes = [*notes, _suppression_note(rates)]
    if _pooled(all_rows):
        notes = [*notes, CLUSTERING_NOTE]
    if running:
        notes = [*notes, RUNNING_NOTE]
    notes = [*notes, "Dots: rate; lines: 95% Wilson score interval."]

    chrome = _chrome(title, selection_text, notes)
    label_width = max(text_width(label, _TICK_SIZE) for label in labels)
    xs, panel_width, _ = _panel_columns([label_width] + [0.0] * (len(metrics) - 1))
    titles = [wrap_to(_metric_label(m), panel_width, _PANEL_TITLE_SIZE) for m in metrics]
    rows_height = _rows_height(labels) * 72
    above = _TITLE_PAD + max(_text_height(t, _PANEL_TITLE_SIZE) for t in titles) + 2.0
    below = _x_ticks_height()
    fig = new_figure(chrome, above + rows_height + below, "campaign rates", len(xs), figure)
    axes = _add_panels(fig, xs, panel_width, chrome.bottom + below, rows_height)
    suppressed_text = _suppressed_text(rates)
    for ax, metric, panel_title in zip(axes, metrics, titles, strict=True):
        rows = by_metric[metric]
        plotted = [(y, rows[k], k in running) for y, k in enumerate(order) if k in rows]
        plotted = [(y, r, live) for y, r, live in plotted if r.plotted]
        colour = METRIC_COLOURS.get(metric, PALETTE["black"])
        for live in (False, True):
            group = [(y, r) for y, r, is_live in plotted if is_live == live]
            _interval_dots(
                ax,
                [y for y, _ in group],
                [r for _, r in group],
                colour,
                gid="points-running" if live else "points",
                hollow=live,
            )
        for y, key in enumerate(order):
            row = rows.get(key)
            if row is None:
                continue
            if row.suppressed:
                _status_text(ax, y, suppressed_text, "suppressed", panel_width)
            elif row.no_data:
                _status_text(ax, y, "no data", "no-data", panel_width)
            else:
                base_row = by_metric[base].get(key)
                same_n = base_row is not None and base_row.n == row.n
                text = _pct(row.rate) if same_n else f"{_pct(row.rate)} ({_n_text(row, rates)})"
                _value_label(ax, y, row, text, panel_width)
        ax.set_title(panel_title, fontsize=_PANEL_TITLE_SIZE, loc="left", y=_TITLE_Y)
        _row_axis(ax, len(order))
        _percent_axis(ax, "x")
    axes[0].set_yticks(range(len(order)), labels)
    for ax in axes[1:]:
        # The rows are labelled once, left of the first panel; the others need no y ticks.
        ax.set_yticks([])
    return fig


# --- per-question accuracy ------------------------------------------------------------------


def _module_titles(table: pd.DataFrame, keys: Sequence[str]) -> dict[str, str]:
    """Each campaign's module title ("" when unknown); {} without a ``module_title`` column."""
    return {
        key: "" if value is None or pd.isna(value) else str(value).strip()
        for key, value in _campaign_column(table, keys, "module_title").items()
    }


def plot_question_accuracy(
    accuracy: pd.DataFrame, selection_text: str = "", *, figure: Figure | None = None
) -> Figure:
    """Accuracy per question (one panel each) by campaign, with 95% Wilson intervals.

    Each panel's tick labels give that question's n (people who answered it); unanswered
    questions are not in n, and the footnote says so. With a ``module_title`` column, questions
    are named by number and module (:func:`~awareness_analysis.analysis.phases.question_label`):
    in the panel titles when every campaign shown has the same module, else "Q1", "Q2", ... with
    each campaign's module beside its name.

    ``figure``, a figure this function returned before (a dashboard's last one), is redrawn
    in place and returned when it has the same panels: the same chart, much quicker, as its
    axes and ticks are kept and only what is drawn in them is replaced. Otherwise a new figure
    is returned. Pass only a figure that nothing else still shows or keeps.
    """
    title = "Per-question accuracy"
    notes = _definitions(["accuracy"])
    if accuracy.empty:
        return _empty_figure(title, selection_text, notes, "question accuracy", figure)

    order, display = _campaign_keys(accuracy)
    keys = (
        accuracy["campaign_id"].astype(str)
        if "campaign_id" in accuracy
        else accuracy["campaign_name"].astype(str)
    ).tolist()
    questions = pd.to_numeric(accuracy["question"], errors="coerce").astype("Int64").tolist()
    by_question: dict[int, dict[str, _Row]] = {}
    for key, question, row in zip(keys, questions, _rows(accuracy, keys), strict=True):
        if question is pd.NA:
            continue
        by_question.setdefault(int(question), {})[key] = row
    panels = sorted(by_question)

    modules = _module_titles(accuracy, keys)
    shared = {modules.get(k, "") for k in order}
    names = [wrap(display[k], _LABEL_WRAP - 4) for k in order]
    if "module_title" not in accuracy:
        panel_titles = [f"Question {q}" for q in panels]
    elif len(shared) == 1:  # one module: "Q3 · Spot the Spoof" over its panel
        panel_titles = [question_label(q, next(iter(shared))) for q in panels]
    else:  # campaigns of different modules: "Q3" over the panel, the module under each name
        panel_titles = [question_label(q, "") for q in panels]
        names = [
            name + "\n" + wrap(modules[k], _LABEL_WRAP - 4) if modules[k] else name
            for name, k in zip(names, order, strict=True)
        ]
        notes = [*notes, "Q1, Q2, ...: the question's number in the campaign's module, named "
                 "under the campaign."]  # fmt: skip

    any_suppressed = False
    ticks_by_panel: list[list[str]] = []
    for i, question in enumerate(panels):
        rows = by_question[question]
        ticks = []
        for key in order:
            row = rows.get(key)
            ticks.append("not asked" if row is None else _n_text(row, accuracy))
            any_suppressed = any_suppressed or (row is not None and row.suppressed)
        if i == 0:
            # the first panel names the campaign; its n is question 1's, as in the other panels
            ticks = [f"{name}  {tick}" for name, tick in zip(names, ticks, strict=True)]
        ticks_by_panel.append(ticks)
    if any_suppressed:
        notes = [*notes, _suppression_note(accuracy)]
    if _pooled(r for rows in by_question.values() for r in rows.values()):
        notes = [*notes, CLUSTERING_NOTE]
    notes = [
        *notes,
        "Beside each row: the people (and answers) who answered that question. Dots: accuracy; "
        "lines: 95% Wilson score interval.",
    ]

    chrome = _chrome(title, selection_text, notes)
    rows_height = _rows_height(names) * 72
    below = _x_ticks_height()
    widths = [max(text_width(t, _TICK_SIZE) for t in ticks) for ticks in ticks_by_panel]
    xs, panel_width, after = _panel_columns(widths)
    # A panel title may run on over the gap to the next panel (its tick labels sit lower).
    titles = [
        wrap_to(text, panel_width + gap - 6.0, _PANEL_TITLE_SIZE)
        for text, gap in zip(panel_titles, after, strict=True)
    ]
    above = _TITLE_PAD + max(_text_height(t, _PANEL_TITLE_SIZE) for t in titles) + 2.0
    fig = new_figure(chrome, above + rows_height + below, "question accuracy", len(xs), figure)
    axes = _add_panels(fig, xs, panel_width, chrome.bottom + below, rows_height)

    suppressed_text = _suppressed_text(accuracy)
    for ax, question, ticks, panel_title in zip(axes, panels, ticks_by_panel, titles, strict=True):
        rows = by_question[question]
        plotted = [(y, rows[k]) for y, k in enumerate(order) if k in rows and rows[k].plotted]
        _interval_dots(
            ax, [y for y, _ in plotted], [r for _, r in plotted], METRIC_COLOURS["accuracy"]
        )
        for y, key in enumerate(order):
            row = rows.get(key)
            if row is None:
                continue
            if row.suppressed:
                _status_text(ax, y, suppressed_text, "suppressed", panel_width)
            elif row.no_data:
                _status_text(ax, y, "no data", "no-data", panel_width)
            else:
                _value_label(ax, y, row, _pct(row.rate), panel_width)
        ax.set_title(panel_title, fontsize=_PANEL_TITLE_SIZE, loc="left", y=_TITLE_Y)
        _row_axis(ax, len(order))
        _percent_axis(ax, "x", ticks=3 if panel_width < 2.2 * 72 else 6)
        ax.set_yticks(range(len(order)), ticks)
    return fig


# --- department comparison ------------------------------------------------------------------


def _comparison_metric(comparison: pd.DataFrame) -> str | None:
    metric = comparison.attrs.get("metric")
    if isinstance(metric, str) and metric:
        return metric
    if "metric" in comparison and len(comparison):
        return str(comparison["metric"].iloc[0])
    return None


def _org_rate(comparison: pd.DataFrame) -> float:
    value = comparison.attrs.get("org_rate")
    if value is not None and not pd.isna(value):
        return float(value)
    rates = floats(comparison, "org_rate")
    rates = rates[~np.isnan(rates)]
    return float(rates[0]) if len(rates) else math.nan


def _org_text(comparison: pd.DataFrame, rows: Sequence[_Row], org_rate: float) -> str:
    """ "Organisation 45% (2,402 people, 13,594 enrolments)" from the table's attrs."""
    n = comparison.attrs.get("org_n")
    if n is None or pd.isna(n):
        n = sum(r.n for r in rows if not math.isnan(r.n))
    people = comparison.attrs.get("org_people")
    people = math.nan if people is None or pd.isna(people) else float(people)
    return f"Organisation {_pct(org_rate)} ({_units_text(people, float(n), comparison)})"


def _comparison_footnotes(comparison: pd.DataFrame, rows: Sequence[_Row]) -> list[str]:
    """Suppression, baseline, test and clustering notes of a department chart."""
    notes = [_suppression_note(comparison)] if any(r.suppressed for r in rows) else []
    if comparison.attrs.get("org_suppressed"):
        notes.append("The organisation line is hidden: fewer people than the minimum group size.")
    notes += [BASELINE_NOTE, SIGNIFICANCE_NOTE]
    people = comparison.attrs.get("org_people")
    if _pooled(rows) or (people is not None and people != comparison.attrs.get("org_n")):
        notes.append(CLUSTERING_NOTE)
    return notes


def _direction(row: _Row, org_rate: float) -> str:
    """'above' / 'below' only for departments the table marks significant, else 'as expected'."""
    significant = row.plotted and bool(row.extra.get("significant") or False)
    if not significant:
        return "as expected"
    direction = str(row.extra.get("direction") or "")
    if direction in ("above", "below"):
        return direction
    return "above" if row.rate > org_rate else "below"  # table without a usable direction


def _department_rows(comparison: pd.DataFrame) -> list[_Row]:
    labels = comparison["department"].astype(str).tolist() if "department" in comparison else []
    return _rows(comparison, labels, extra=("direction", "significant", "q_value", "n_effective"))


def _effective_n(row: _Row) -> float:
    """The row's effective n (n / design effect; n itself for a table without it)."""
    value = row.extra.get("n_effective")
    return row.n if value is None or pd.isna(value) else float(value)


def _department_name(row: _Row) -> str:
    # privacy.suppress_departments folds small departments into one "(suppressed)" group that
    # still has figures; say what it is so it does not read as a hidden row.
    if row.label == _COMBINED_LABEL and not row.suppressed:
        return f"{_COMBINED_LABEL} small departments combined"
    return row.label


def _comparison_notes(metric: str | None) -> list[str]:
    return _definitions([metric]) if metric else ["Rate = successes / n."]


def _axis_label_height() -> float:
    """Points below an axes taken by x ticks, their labels and an axis label."""
    return _x_ticks_height() + _LABEL_PAD + _AXIS_LABEL_SIZE + 2.0


def plot_department_intervals(
    comparison: pd.DataFrame, selection_text: str = "", *, figure: Figure | None = None
) -> Figure:
    """Departments sorted by rate with 95% Wilson intervals, against the organisation rate.

    Departments that differ significantly are drawn with a direction marker and colour and
    labelled "above/below organisation" beside their interval, so no legend is needed.

    ``figure``, a figure this function returned before (a dashboard's last one), is redrawn
    in place and returned when it has the same panels: the same chart, much quicker, as its
    axes and ticks are kept and only what is drawn in them is replaced. Otherwise a new figure
    is returned. Pass only a figure that nothing else still shows or keeps.
    """
    metric = _comparison_metric(comparison)
    label = _metric_label(metric) if metric else "Rate"
    title = f"{label} by department"
    notes = _comparison_notes(metric)
    if comparison.empty:
        return _empty_figure(title, selection_text, notes, "department intervals", figure)

    rows = _department_rows(comparison)
    org_rate = _org_rate(comparison)
    # plotted rows by rate (highest first), then departments without a dot at the bottom
    rows = (
        sorted((r for r in rows if r.plotted), key=lambda r: -r.rate)
        + [r for r in rows if r.no_data]
        + [r for r in rows if r.suppressed]
    )
    labels = [
        wrap(f"{_department_name(r)} ({_n_text(r, comparison)})", _LABEL_WRAP + 14) for r in rows
    ]
    # Values and verdicts go in a column right of the axes, clear of intervals and the org line.
    suppressed_text = _suppressed_text(comparison)
    column: list[tuple[str, str, dict[str, Any]]] = []  # (text, gid, style) per row
    for row in rows:
        style: dict[str, Any] = {"color": NEUTRAL, "style": "italic"}
        if row.suppressed:
            text, gid = suppressed_text, "suppressed"
        elif row.no_data:
            text, gid = "no data", "no-data"
        else:
            direction = _direction(row, org_rate)
            words = _DIRECTION_WORDS.get(direction)
            text = _pct(row.rate) + (f"  {words}" if words else "")
            style = {"color": DIRECTION_COLOURS[direction] if words else "#222222"}
            gid = "value"
        column.append((text, gid, style))
    notes = [
        *notes,
        *_comparison_footnotes(comparison, rows),
        "Dots: rate; lines: 95% interval.",
    ]

    chrome = _chrome(title, selection_text, notes)
    rows_height = _rows_height(labels, 0.17, 0.27) * 72
    above = _NOTE_SIZE + 6.0  # the organisation line's label
    below = _axis_label_height()
    fig = new_figure(chrome, above + rows_height + below, "department intervals", 1, figure)
    left = _EDGE + max(text_width(t, _TICK_SIZE) for t in labels) + _TICK_PAD + 2.0
    column_width = max(
        text_width(text, _NOTE_SIZE, style=style.get("style", "normal"))
        for text, _, style in column
    )
    # The column starts 2% of the axes' width right of the axes.
    width = (_WIDTH_PT - left - column_width - _EDGE) / 1.02
    ax = add_axes(fig, left, chrome.bottom + below, width, rows_height)
    fixed_label_positions(ax, x=False)
    for direction in ("as expected", "above", "below"):
        group = [
            (y, r) for y, r in enumerate(rows) if r.plotted and _direction(r, org_rate) == direction
        ]
        _interval_dots(
            ax,
            [y for y, _ in group],
            [r for _, r in group],
            DIRECTION_COLOURS[direction],
            _DIRECTION_MARKERS[direction],
            gid=f"points-{direction.replace(' ', '-')}",
        )
    transform = ax.get_yaxis_transform()  # x in axes fraction, y in data rows
    for y, (text, gid, style) in enumerate(column):
        ax.text(
            1.02, y, text, transform=transform, ha="left", va="center", fontsize=_NOTE_SIZE,
            gid=gid, **style,
        )  # fmt: skip

    if not math.isnan(org_rate):
        ax.axvline(org_rate, color=PALETTE["black"], linestyle="--", linewidth=1, gid="org-rate")
        org_text = _org_text(comparison, rows, org_rate)
        # Centred on the line, unless that would run past the figure's edge.
        half = text_width(org_text, _NOTE_SIZE) / 2
        if org_rate * width < half - (left - _EDGE):
            ha = "left"
        elif (1 - org_rate) * width < half - (1.02 * width - width + column_width):
            ha = "right"
        else:
            ha = "center"
        ax.text(
            org_rate,
            1.0,
            org_text,
            transform=ax.get_xaxis_transform(),
            ha=ha,
            va="bottom",
            fontsize=_NOTE_SIZE,
            gid="org-rate-label",
        )
    _row_axis(ax, len(rows))
    _percent_axis(ax, "x")
    ax.set_yticks(range(len(rows)), labels)
    ax.set_xlabel(label, fontsize=_AXIS_LABEL_SIZE)
    return fig


def _fit_rate_axis(values: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Limits and percent ticks of a rate axis fitted to ``values`` (fractions): their range
    with a little padding, at least 4 points wide, within 0-100%."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return 0.0, 1.0, np.linspace(0, 1, 6)
    low, high = float(finite.min()), float(finite.max())
    span = max(high - low, 0.04)
    middle = (low + high) / 2
    low, high = middle - span / 2, middle + span / 2
    pad = 0.06 * span
    low, high = max(0.0, low - pad), min(1.0, high + pad)
    step = next((s for s in (0.01, 0.02, 0.05, 0.1, 0.2) if (high - low) / s <= 7), 0.25)
    ticks = np.arange(math.ceil(low / step - 1e-9) * step, high + 1e-9, step)
    return low, high, np.round(ticks, 6)


def _legend_width(labels: Sequence[str]) -> float:
    """Points a frameless legend of these entries takes: matplotlib's borderpad (0.4 em each
    side), handle (2 em) and handle-to-text pad (0.8 em) beside the widest label."""
    return _NOTE_SIZE * 3.6 + max(text_width(t, _NOTE_SIZE) for t in labels)


def plot_funnel(
    comparison: pd.DataFrame, selection_text: str = "", *, figure: Figure | None = None
) -> Figure:
    """Department rate against department size n, inside 95% and 99.8% control limits.

    Limits come from :func:`awareness_analysis.analysis.stats.funnel_limits` around the
    organisation rate; the x-axis is each department's effective n (its people for one
    campaign, enrolments or answers divided by the design effect when pooled). The rate axis
    spans the departments' rates and the control limits (with a little padding), not always
    0-100%, so differences between departments are visible. Departments outside the 99.8%
    limits are labelled by name; filled markers are the departments the comparison table marks
    significant against the rest of the organisation.

    ``figure``, a figure this function returned before (a dashboard's last one), is redrawn
    in place and returned when it has the same panels: the same chart, much quicker, as its
    axes and ticks are kept and only what is drawn in them is replaced. Otherwise a new figure
    is returned. Pass only a figure that nothing else still shows or keeps.
    """
    metric = _comparison_metric(comparison)
    label = _metric_label(metric) if metric else "Rate"
    title = f"{label} by department size (funnel plot)"
    notes = _comparison_notes(metric)
    if comparison.empty:
        return _empty_figure(title, selection_text, notes, "funnel", figure)

    rows = _department_rows(comparison)
    shown = [r for r in rows if r.plotted]
    org_rate = _org_rate(comparison)
    notes = [
        *notes,
        *_comparison_footnotes(comparison, rows),
        "Control limits: organisation rate \u00b1 z\u00b7\u221a(p(1\u2212p)/n), n the "
        "effective size, 95% and 99.8%; outside 99.8%: labelled. Filled: significant.",
    ]
    chrome = _chrome(title, selection_text, notes)
    axes_height = 4.8 * 72
    above = _TICK_SIZE / 2 + 2.0  # the top tick label reaches half its height above the axes
    below = _axis_label_height()
    fig = new_figure(chrome, above + axes_height + below, "funnel", 1, figure)
    ax = add_axes(fig, 0.0, chrome.bottom + below, 1.0, axes_height)  # placed below
    ax.grid(axis="x", color="#EEEEEE", linewidth=0.6)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.set_xlabel(
        "Effective size (people; pooled: enrolments or answers \u00f7 design effect)",
        fontsize=_AXIS_LABEL_SIZE,
    )
    ax.set_ylabel(label, fontsize=_AXIS_LABEL_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    sizes = np.array([_effective_n(r) for r in shown])
    outliers: list[_Row] = []
    handles: list[Any] = []
    extent: list[np.ndarray] = []  # the rates and limits the rate axis must show
    if len(shown):
        low_n, high_n = float(sizes.min()), float(sizes.max())
        log_scale = high_n / max(low_n, 1.0) > _LOG_SPAN
        if log_scale:
            ax.set_xscale("log")
            grid = np.geomspace(max(1.0, low_n / 1.3), high_n * 1.3, 300)
            ax.set_xlim(grid[0], grid[-1])
        else:
            if ax.get_xscale() != "linear":  # a reused figure's log axis
                ax.set_xscale("linear")
            pad = max(1.0, 0.05 * (high_n - low_n))
            grid = np.linspace(max(1.0, low_n - pad), high_n + pad, 300)
            ax.set_xlim(max(0.0, low_n - 2 * pad), high_n + 2 * pad)
        extent.append(np.array([r.rate for r in shown]))
        if not math.isnan(org_rate):
            styles = {0.95: ("--", PALETTE["sky_blue"]), 0.998: (":", PALETTE["reddish_purple"])}
            for confidence in FUNNEL_CONFIDENCES:
                lower, upper = funnel_limits(org_rate, grid, confidence)
                extent += [lower, upper]
                linestyle, colour = styles[confidence]
                name = f"{confidence:.1%}".replace(".0%", "%")
                for bound, values in (("lower", lower), ("upper", upper)):
                    (line,) = ax.plot(
                        grid, values, linestyle=linestyle, color=colour, linewidth=1.4,
                        gid=f"limit-{name}-{bound}",
                    )  # fmt: skip
                handles.append(line)
                line.set_label(f"{name} control limits")
                if confidence == max(FUNNEL_CONFIDENCES):
                    limit_low, limit_high = funnel_limits(org_rate, sizes, confidence)
                    outliers = [
                        r
                        for r, lo, hi in zip(shown, limit_low, limit_high, strict=True)
                        if r.rate < lo or r.rate > hi
                    ]
            (org_line,) = ax.plot(
                # every grid point, so outlier labels can steer clear of the line
                grid, np.full_like(grid, org_rate), color=PALETTE["black"], linewidth=1.2,
                label=f"Organisation {_pct(org_rate)}", gid="org-rate",
            )  # fmt: skip
            handles.insert(0, org_line)
            extent.append(np.array([org_rate]))

        for direction, significant in (("as expected", False), ("above", True), ("below", True)):
            group = [r for r in shown if _direction(r, org_rate) == direction]
            if not group:
                continue
            colour = DIRECTION_COLOURS[direction]
            points = ax.scatter(
                [_effective_n(r) for r in group],
                [r.rate for r in group],
                s=46 if significant else 34,
                marker=_DIRECTION_MARKERS[direction],
                facecolors=colour if significant else "none",
                edgecolors=colour,
                linewidths=1.3,
                zorder=3,
                gid=f"points-{direction.replace(' ', '-')}",
                label=(
                    f"Significantly {direction} (q < 0.05)" if significant else "Not significant"
                ),
            )
            handles.append(points)
    else:
        if ax.get_xscale() != "linear":
            ax.set_xscale("linear")
        ax.set_xlim(0, 1)
    low, high, ticks = _fit_rate_axis(np.concatenate(extent) if extent else np.array([]))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_ylim(low, high)
    ax.set_yticks(ticks)
    ax.grid(axis="y", color="#E2E2E2", linewidth=0.6)
    ax.set_axisbelow(True)

    hidden = [r for r in rows if r.suppressed]
    empty = [r for r in rows if r.no_data]
    # Departments without a point are named in the legend column rather than dropped.
    if hidden:
        names = ", ".join(r.label for r in hidden)
        handles.append(_text_entry(f"Not plotted {_suppressed_text(comparison)}: {names}"))
    if empty:
        handles.append(_text_entry("Not plotted (no data): " + ", ".join(r.label for r in empty)))
    if outliers:
        handles.append(_text_entry("Labelled: outside 99.8% limits"))

    # Left: the rate label (rotated, so as wide as it is tall) and the widest tick label.
    tick_width = max(line_width(f"{t * 100:.0f}%", _TICK_SIZE) for t in ticks)
    left = _EDGE + _AXIS_LABEL_SIZE + _LABEL_PAD + tick_width + _TICK_PAD + _TICK_LENGTH + 2.0
    legend = _legend_width([str(h.get_label()) for h in handles]) if handles else 0.0
    # The legend starts 1% of the axes' width right of the axes.
    width = (_WIDTH_PT - left - legend - _EDGE) / (1.01 if handles else 1.0)
    height = fig.get_figheight() * 72
    ax.set_position((left / _WIDTH_PT, (chrome.bottom + below) / height, width / _WIDTH_PT,
                     axes_height / height))  # fmt: skip
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=_NOTE_SIZE,
            frameon=False,
            borderaxespad=0.0,
        )
    if outliers:
        _label_outliers(fig, ax, outliers)
    return fig


def _text_entry(text: str) -> Line2D:
    """A legend row that is only text (no marker), wrapped to the legend column's width."""
    return Line2D([], [], linestyle="none", label=wrap(text, 34))


# Label positions tried around a point, in points: (dx, dy, ha, va), nearest first.
_LABEL_OFFSETS = [
    (dx * scale, dy * scale, ha, va)
    for scale in (1, 2.2, 3.5)
    for dx, dy, ha, va in (
        (5, 5, "left", "bottom"),
        (5, -5, "left", "top"),
        (-5, 5, "right", "bottom"),
        (-5, -5, "right", "top"),
        (0, 8, "center", "bottom"),
        (0, -8, "center", "top"),
        (8, 0, "left", "center"),
        (-8, 0, "right", "center"),
    )
]


def _label_outliers(fig: Figure, ax: Axes, outliers: Sequence[_Row]) -> None:
    """Name each outlier where its label covers the fewest points, lines and other labels.

    Runs once the axes are placed and their limits set, so data-to-pixel transforms are final
    (no draw needed: nothing moves the axes later).
    """
    scale = fig.dpi / 72
    # Pixel positions of what a label should not cover: each line (sampled densely along
    # its grid) is one obstacle, each marker another.
    obstacles: list[np.ndarray] = []
    for line in ax.lines:
        xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
        obstacles.append(ax.transData.transform(xy))
    for collection in ax.collections:
        offsets = np.asarray(collection.get_offsets(), float).reshape(-1, 2)
        obstacles.extend(ax.transData.transform(offsets)[:, None, :])
    frame = ax.get_window_extent()
    placed: list[tuple[float, float, float, float]] = []

    def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    for row in sorted(outliers, key=lambda r: -abs(r.rate - 0.5)):
        px, py = ax.transData.transform((_effective_n(row), row.rate))
        text = wrap(row.label, 24)
        width = text_width(text, _NOTE_SIZE) * scale
        height = _text_height(text, _NOTE_SIZE) * scale
        best: tuple[float, tuple[float, float, str, str], tuple[float, float, float, float]]
        best = (math.inf, _LABEL_OFFSETS[0], (0.0, 0.0, 0.0, 0.0))
        for offset in _LABEL_OFFSETS:
            dx, dy, ha, va = offset
            x0 = px + dx * scale - {"left": 0, "center": width / 2, "right": width}[ha]
            y0 = py + dy * scale - {"bottom": 0, "center": height / 2, "top": height}[va]
            box = (x0, y0, x0 + width, y0 + height)
            covered = sum(
                bool(
                    np.any(
                        (xy[:, 0] >= x0 - 2)
                        & (xy[:, 0] <= box[2] + 2)
                        & (xy[:, 1] >= y0 - 2)
                        & (xy[:, 1] <= box[3] + 2)
                    )
                )
                for xy in obstacles
            )
            overlaps = sum(overlap(box, other) for other in placed)
            outside = not overlap(box, (frame.x0, frame.y0, frame.x1, frame.y1)) or not (
                frame.x0 <= x0 and box[2] <= frame.x1 and frame.y0 <= y0 and box[3] <= frame.y1
            )
            score = covered + 20 * overlaps + 40 * outside
            if score < best[0]:
                best = (score, offset, box)
            if score == 0:
                break
        _, (dx, dy, ha, va), box = best
        placed.append(box)
        ax.annotate(
            text,
            (_effective_n(row), row.rate),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=_NOTE_SIZE,
            color=PALETTE["black"],
            gid="outlier-label",
        )
