"""Charts and a dashboard of "does knowing go with doing?" (:mod:`awareness_analysis.analysis.
behaviour`): awareness answers against phishing behaviour and SAFE grades.

Like :mod:`awareness_analysis.views.plots`, every plot function takes the analysis' table and
returns a :class:`matplotlib.figure.Figure` built without pyplot, in the project's look: the
Okabe-Ito palette, :data:`~awareness_analysis.views.plots.FIGURE_WIDTH` wide, a title with the
selection in force, a footnote with the table's ``attrs["note"]`` (its caveats) and the
definitions, and no text under :data:`~awareness_analysis.views.plots.MIN_TEXT_SIZE` points.
Rows hidden by small-group suppression are named as suppressed instead of vanishing. As there,
a dashboard may hand a chart's last figure back (``figure=``) to have it redrawn into, and the
figure frame and small helpers are shared (:mod:`~awareness_analysis.views.chart_parts`).

* :func:`plot_phishing_rates` -- click, submit and report rate per phishing campaign.
* :func:`plot_knowledge_effect` -- forest plot of the risk ratios (and the odds ratio) of
  clicking and reporting, knew vs did not know.
* :func:`plot_safe_vs_accuracy` -- mean answer accuracy per SAFE risk grade.
* :func:`plot_time_to_event` -- Kaplan-Meier curves of the time to a click and to a report.
* :func:`behaviour_tables` -- the snapshot's phishing and SAFE tables (or a clear error).
* :class:`KnowledgeBehaviour` -- the four charts under phishing campaign and department filters.
"""

from __future__ import annotations

import html
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import ipywidgets as w
import numpy as np
import pandas as pd
from IPython.core.formatters import format_display_data
from IPython.display import HTML, display
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    MaxNLocator,
    NullLocator,
    PercentFormatter,
)

from awareness_analysis.analysis.behaviour import (
    BEHAVIOURS,
    PHISH_METRICS,
    SafeAccuracy,
    TimeToEvent,
    knowledge_behaviour_pairs,
    knowledge_click_model,
    knowledge_click_risk_ratio,
    phishing_hidden_departments,
    phishing_rates,
    safe_vs_accuracy,
    time_to_event,
)
from awareness_analysis.analysis.behaviour_disclosure import (
    BehaviourView,
    behaviour_figures,
)
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.stats import format_p
from awareness_analysis.errors import StoreError
from awareness_analysis.views.chart_parts import (
    EDGE,
    GRID_COLOUR,
    MIN_TEXT_SIZE,
    NEUTRAL,
    TICK_SIZE,
    TITLE_Y,
    WIDTH_PT,
    Chrome,
    add_axes,
    count_text,
    fixed_label_positions,
    floats,
    merge_notes,
    new_figure,
    no_data_figure,
    open_axes,
    suppression_note,
    wrapped_chrome,
)
from awareness_analysis.views.figures import ALL, data_table_html, figure_number
from awareness_analysis.views.plots import PALETTE
from awareness_analysis.views.render import figure_display, figure_html
from awareness_analysis.views.text import text_width, wrap_to
from awareness_analysis.views.widgets import CONTROL_LAYOUT, LABEL_STYLE, list_rows
from awareness_analysis.vocabulary import SELECTION_HINT, SUPPRESSED_LABEL

__all__ = [
    "REPORT_NOTE",
    "BehaviourTables",
    "KnowledgeBehaviour",
    "behaviour_records",
    "behaviour_tables",
    "plot_knowledge_effect",
    "plot_phishing_rates",
    "plot_safe_vs_accuracy",
    "plot_time_to_event",
]

#: What a report page shows when the snapshot has no phishing tables.
REPORT_NOTE = (
    "Knowledge and behaviour: this snapshot has no phishing tables, so the page has no "
    "figures. Fetch with --include all (`awareness-analysis fetch --include all`) to add them."
)
#: Tables a snapshot needs for the phishing charts.
REQUIRED_TABLES = ("phish_campaigns", "phish_users")

METRIC_COLOURS: dict[str, str] = {
    "click": PALETTE["vermillion"],
    "submit": PALETTE["orange"],
    "report": PALETTE["bluish_green"],
}
_METRIC_LABELS = {"click": "Clicked", "submit": "Submitted credentials", "report": "Reported"}
_BEHAVIOUR_COLOURS = {"clicked": PALETTE["vermillion"], "reported": PALETTE["bluish_green"]}
_BEHAVIOUR_LABELS = {"clicked": "Clicked the link", "reported": "Reported the email"}
_METHOD_LABELS = {
    "crude": "Risk ratio, crude\n(people, first campaign)",
    "mantel_haenszel": "Risk ratio, Mantel-Haenszel\nby department (people)",
    "poisson_clustered": "Risk ratio, Poisson\n(all pairs, person-clustered)",
    "logistic": "Odds ratio, logistic\n(all pairs, person-clustered)",
}
_METHOD_COLOURS = {
    "crude": PALETTE["blue"],
    "mantel_haenszel": PALETTE["blue"],
    "poisson_clustered": PALETTE["blue"],
    "logistic": PALETTE["reddish_purple"],
}

# Sizes in points, as in views/plots.py.
_TITLE_SIZE = 12.0
_PANEL_TITLE_SIZE = 10.0
_NOTE_SIZE = MIN_TEXT_SIZE
_WIDTH_PT = WIDTH_PT
_EDGE = EDGE
_GAP = 8.0
_PANEL_GAP = 22.0
_LINE_SPACING = 1.2
_TEXT = "#222222"

# --- text and layout ------------------------------------------------------------------------


def _page(title: str, selection_text: str, footnotes: Sequence[str]) -> Chrome:
    return wrapped_chrome(title, selection_text, footnotes)


def _empty_figure(
    title: str, selection_text: str, footnotes: Sequence[str], chart: str, reuse: Figure | None
) -> Figure:
    return no_data_figure(_page(title, selection_text, footnotes), 2.0 * 72, chart, reuse)


def _row_axis(ax: Axes, count: int) -> None:
    # Unlike views/plots.py's: the x grid is drawn here, and minor x tick labels styled too.
    ax.set_ylim(count - 0.5, -0.5)
    ax.tick_params(axis="y", left=False, labelsize=TICK_SIZE)
    ax.tick_params(axis="x", which="both", labelsize=TICK_SIZE)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", which="major", color=GRID_COLOUR, linewidth=0.6)
    ax.set_axisbelow(True)


def _percent_axis(ax: Axes, high: float = 1.0) -> None:
    # Up to ``high`` (a rate axis may stop short of 100%, see _nice_percent_limit); the caller
    # sets the ticks. views/plots.py's always spans 0-100% and sets its ticks and grid.
    ax.set_xlim(0.0, high)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def _nice_percent_limit(values: Iterable[float]) -> float:
    """An upper limit for a rate axis: the largest value rounded up to 10%, at least 20%."""
    finite = [v for v in values if not math.isnan(v)]
    top = max(finite, default=0.0)
    return float(min(1.0, max(0.2, math.ceil((top + 0.02) * 10) / 10)))


def _flags(table: pd.DataFrame, column: str = "suppressed") -> np.ndarray:
    if column not in table:
        return np.zeros(len(table), dtype=bool)
    return table[column].fillna(False).astype(bool).to_numpy()


def _k_of(*tables: pd.DataFrame) -> int | None:
    for table in tables:
        value = table.attrs.get("min_group_size")
        if isinstance(value, int | np.integer) and value > 1:
            return int(value)
    return None


def _suppressed_text(k: int | None) -> str:
    return f"suppressed: fewer than {k if k is not None else 'k'} people"


def _pct(value: float) -> str:
    # One decimal under 10% (phishing rates are often a few percent); views/plots.py's
    # awareness rates are whole percents.
    return f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def _status(ax: Axes, x: float, y: float, text: str, gid: str) -> None:
    ax.text(
        x,
        y,
        text,
        ha="left",
        va="center",
        fontsize=_NOTE_SIZE,
        style="italic",
        color=NEUTRAL,
        gid=gid,
        transform=ax.get_yaxis_transform(),
    )


def _dot(
    ax: Axes, x: float, y: float, low: float, high: float, colour: str, marker: str = "o"
) -> None:
    # The lines ax.plot would make, added directly (ax.plot parses its arguments and asks for
    # autoscaling, which the charts' fixed limits switch off): the same drawing, made faster.
    if not math.isnan(low) and not math.isnan(high):
        interval = Line2D([low, high], [y, y], color=colour, linewidth=1.6, zorder=2)
        interval.set_solid_capstyle("butt")
        ax.add_line(interval)
    line = ax.add_line(Line2D([x], [y], marker=marker, color=colour, markersize=6, zorder=3))
    line.set_gid("points")
    line.set_clip_on(False)


def _value_text(ax: Axes, y: float, text: str, high: float, limit: float) -> None:
    """``text`` just right of the interval's upper end (kept within the axis limit)."""
    ax.annotate(
        text,
        (min(high, limit), y),
        xytext=(5, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=_NOTE_SIZE,
        color=_TEXT,
        gid="value",
        annotation_clip=False,
    )


# --- 1. phishing rates ----------------------------------------------------------------------


def plot_phishing_rates(
    rates: pd.DataFrame, selection_text: str = "", *, figure: Figure | None = None
) -> Figure:
    """Click, submit and report rate per phishing campaign (one panel each), with 95% Wilson
    intervals. ``rates`` is :func:`~awareness_analysis.analysis.behaviour.phishing_rates`.

    Rows are campaigns in launch order, labelled with the people sent; a suppressed campaign
    keeps its row, labelled as suppressed, without figures.

    ``figure``, a figure this function returned before (a dashboard's last one), is redrawn
    into when the new chart has the same panels: the result is the same chart (byte for byte),
    made faster. Otherwise a new figure is returned. Pass only a figure that nothing else
    still shows or keeps.
    """
    title = "Phishing simulation: click, submit and report rates"
    definitions = (
        "Click = followed the link (a security scanner alone is not a click); submit = entered "
        "credentials; report = reported the email. Dots: rate; lines: 95% Wilson interval."
    )
    note = str(rates.attrs.get("note", ""))
    if rates.empty:
        return _empty_figure(title, selection_text, [note, definitions], "phishing rates", figure)

    k = _k_of(rates)
    ids = rates["phish_campaign_id"].astype(str).tolist()
    order = list(dict.fromkeys(ids))
    names = dict(zip(ids, rates["phish_campaign_name"].astype(str), strict=True))
    metrics = [m for m in PHISH_METRICS if m in set(rates["metric"].astype(str))]
    rate = floats(rates, "rate")
    low, high = floats(rates, "ci_low"), floats(rates, "ci_high")
    people = floats(rates, "people")
    hidden = _flags(rates)
    cell: dict[tuple[str, str], int] = {
        (cid, metric): i
        for i, (cid, metric) in enumerate(zip(ids, rates["metric"].astype(str), strict=True))
    }
    labels = []
    for cid in order:
        first = min(i for (c, _), i in cell.items() if c == cid)
        size = (
            f"fewer than {k if k is not None else 'k'} people"
            if hidden[first]
            else f"{count_text(people[first])} people"
        )
        labels.append(wrap_to(f"{names[cid]} ({size})", 190, TICK_SIZE))
    footnotes = [note, definitions]
    if hidden.any():
        footnotes.append(suppression_note(k))

    page = _page(title, selection_text, footnotes)
    label_width = max(text_width(label, TICK_SIZE) for label in labels)
    left = _EDGE + label_width + 8.0
    right = _EDGE + 14.0
    panel = (_WIDTH_PT - left - right - _PANEL_GAP * (len(metrics) - 1)) / len(metrics)
    lines = max(label.count("\n") + 1 for label in labels)
    rows_height = len(order) * max(24.0, lines * TICK_SIZE * _LINE_SPACING + 8)
    above, below = _PANEL_TITLE_SIZE * _LINE_SPACING + 8.0, 20.0
    fig = new_figure(page, above + rows_height + below, "phishing rates", len(metrics), figure)
    limit = _nice_percent_limit(high[~hidden])
    for index, metric in enumerate(metrics):
        ax = add_axes(
            fig, left + index * (panel + _PANEL_GAP), page.bottom + below, panel, rows_height, index
        )
        fixed_label_positions(ax)
        colour = METRIC_COLOURS.get(metric, PALETTE["black"])
        for y, cid in enumerate(order):
            i = cell.get((cid, metric))
            if i is None:
                continue
            if hidden[i]:
                _status(ax, 0.02, y, _suppressed_text(k), "suppressed")
            elif math.isnan(rate[i]):
                _status(ax, 0.02, y, "no data", "no-data")
            else:
                _dot(ax, rate[i], y, low[i], high[i], colour)
                _value_text(ax, y, _pct(rate[i]), high[i], limit)
        ax.set_title(
            _METRIC_LABELS.get(metric, metric),
            fontsize=_PANEL_TITLE_SIZE,
            loc="left",
            color=colour,
            y=TITLE_Y,
        )
        _row_axis(ax, len(order))
        _percent_axis(ax, limit)
        ax.set_xticks(np.linspace(0, limit, 3))
        if index == 0:
            ax.set_yticks(range(len(order)), labels)
        else:
            ax.set_yticks([])
    return fig


# --- 2. knowledge effect (forest plot) ------------------------------------------------------


def _ratio_text(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "not estimable"
    if math.isnan(low) or math.isnan(high):
        return f"{value:.2f}"
    return f"{value:.2f} ({low:.2f}\u2013{high:.2f})"


def _log_ticks(low: float, high: float) -> list[float]:
    candidates = [0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.75, 1.0, 1.33, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0]
    ticks = [t for t in candidates if low <= t <= high]
    while len(ticks) > 6:
        ticks = [t for i, t in enumerate(ticks) if i % 2 == 0 or t == 1.0]
    return ticks


def plot_knowledge_effect(
    rr_table: pd.DataFrame,
    model_row: pd.DataFrame,
    selection_text: str = "",
    *,
    figure: Figure | None = None,
) -> Figure:
    """Forest plot: how much more (or less) often people who knew clicked and reported.

    ``rr_table`` is :func:`~awareness_analysis.analysis.behaviour.knowledge_click_risk_ratio`
    (crude, Mantel-Haenszel by department and clustered Poisson risk ratios per behaviour);
    ``model_row`` is one or more rows of
    :func:`~awareness_analysis.analysis.behaviour.knowledge_click_model` (one per outcome,
    concatenated), drawn as the logistic odds ratio. One panel per behaviour, a log x-axis with
    a line at 1 (no difference); left of 1 = less often among those who knew.

    ``figure``, a figure this function returned before (a dashboard's last one), is redrawn
    into when the new chart has the same panels: the result is the same chart (byte for byte),
    made faster. Otherwise a new figure is returned. Pass only a figure that nothing else
    still shows or keeps.
    """
    title = "Knew the answers vs did not: clicking and reporting a phishing email"
    definitions = (
        "Knew = every answered question correct in the person's last awareness campaign before "
        "the phishing campaign. Ratio < 1: less often among people who knew; dots with 95% "
        "intervals on a log scale; the odds ratio lies further from 1 than a risk ratio."
    )
    rr_note = str(rr_table.attrs.get("note", ""))
    model_note = str(model_row.attrs.get("note", "")) if model_row is not None else ""
    note = merge_notes(rr_note, model_note)
    if rr_table.empty and (model_row is None or model_row.empty):
        return _empty_figure(title, selection_text, [note, definitions], "knowledge effect", figure)

    k = _k_of(rr_table, model_row) if model_row is not None else _k_of(rr_table)
    # (outcome, method) -> (value, low, high, suppressed)
    estimates: dict[tuple[str, str], tuple[float, float, float, bool]] = {}
    for frame, value_column, method in (
        (rr_table, "risk_ratio", None),
        (model_row, "odds_ratio", "logistic"),
    ):
        if frame is None or frame.empty:
            continue
        values, lows, highs = (floats(frame, c) for c in (value_column, "ci_low", "ci_high"))
        hidden = _flags(frame)
        for i, outcome in enumerate(frame["outcome"].astype(str)):
            key = method or str(frame["method"].iloc[i])
            estimates[(outcome, key)] = (values[i], lows[i], highs[i], bool(hidden[i]))
    outcomes = [b for b in BEHAVIOURS if any(o == b for o, _ in estimates)]
    methods = [m for m in _METHOD_LABELS if any(k_ == m for _, k_ in estimates)]
    shown = [
        v
        for value, low, high, hidden in estimates.values()
        if not hidden
        for v in (value, low, high)
        if not math.isnan(v) and v > 0
    ]
    low_limit = min([*shown, 1.0]) / 1.25
    high_limit = max([*shown, 1.0]) * 1.25
    labels = [_METHOD_LABELS[m] for m in methods]
    footnotes = [note, definitions]
    if any(hidden for *_, hidden in estimates.values()):
        footnotes.append(suppression_note(k))

    page = _page(title, selection_text, footnotes)
    label_width = max(text_width(label, TICK_SIZE) for label in labels)
    left = _EDGE + label_width + 8.0
    right = _EDGE + 4.0
    panel = (_WIDTH_PT - left - right - _PANEL_GAP * (len(outcomes) - 1)) / len(outcomes)
    rows_height = len(methods) * 40.0
    above, below = _PANEL_TITLE_SIZE * _LINE_SPACING + 8.0, 20.0
    fig = new_figure(page, above + rows_height + below, "knowledge effect", len(outcomes), figure)
    log_low, log_high = math.log(low_limit), math.log(high_limit)
    for index, outcome in enumerate(outcomes):
        ax = add_axes(
            fig, left + index * (panel + _PANEL_GAP), page.bottom + below, panel, rows_height, index
        )
        fixed_label_positions(ax)
        ax.set_xscale("log")
        ax.axvline(1.0, color=NEUTRAL, linewidth=1.0, zorder=1, gid="no-difference")
        for y, method in enumerate(methods):
            found = estimates.get((outcome, method))
            if found is None:
                continue
            value, low, high, hidden = found
            if hidden:
                _status(ax, 0.02, y, _suppressed_text(k), "suppressed")
                continue
            if math.isnan(value) or value <= 0:
                _status(ax, 0.02, y, "not estimable (an arm without events)", "no-data")
                continue
            colour = _METHOD_COLOURS[method]
            _dot(ax, value, y, low, high, colour, "s" if method == "logistic" else "o")
            share = (math.log(value) - log_low) / (log_high - log_low)
            ha = "left" if share < 0.3 else "right" if share > 0.7 else "center"
            ax.annotate(
                _ratio_text(value, low, high),
                (value, y),
                xytext=(0, 7),
                textcoords="offset points",
                ha=ha,
                va="bottom",
                fontsize=_NOTE_SIZE,
                color=_TEXT,
                gid="value",
                annotation_clip=False,
            )
        ax.set_title(
            _BEHAVIOUR_LABELS.get(outcome, outcome),
            fontsize=_PANEL_TITLE_SIZE,
            loc="left",
            color=_BEHAVIOUR_COLOURS.get(outcome, PALETTE["black"]),
            y=TITLE_Y,
        )
        _row_axis(ax, len(methods))
        ax.set_xlim(low_limit, high_limit)
        ax.xaxis.set_major_locator(FixedLocator(_log_ticks(low_limit, high_limit)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        if index == 0:
            ax.set_yticks(range(len(methods)), labels)
        else:
            ax.set_yticks([])
    return fig


# --- 3. SAFE grade vs accuracy --------------------------------------------------------------


def _p_text(p: float) -> str:
    if math.isnan(p):
        return "p n/a"
    text = format_p(p)  # the project's one p-value format (two significant digits)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def plot_safe_vs_accuracy(
    safe_accuracy: SafeAccuracy, selection_text: str = "", *, figure: Figure | None = None
) -> Figure:
    """Mean awareness answer accuracy per SAFE risk grade (A lowest risk ... F highest), with
    95% t intervals; the Spearman rank correlation in the title. ``safe_accuracy`` is
    :func:`~awareness_analysis.analysis.behaviour.safe_vs_accuracy`.

    ``figure``, a figure this function returned before (a dashboard's last one), is redrawn
    into when the new chart has the same panels: the result is the same chart (byte for byte),
    made faster. Otherwise a new figure is returned. Pass only a figure that nothing else
    still shows or keeps.
    """
    grades = safe_accuracy.grades
    correlation = safe_accuracy.correlation
    note = merge_notes(str(grades.attrs.get("note", "")), str(correlation.attrs.get("note", "")))
    definitions = "Dots: mean accuracy of the people of a grade; lines: 95% t interval."
    rho_text = "Spearman rho not available"
    if not correlation.empty:
        row = correlation.iloc[0]
        if bool(_flags(correlation)[0]):
            rho_text = "Spearman rho suppressed (too few people)"
        elif not math.isnan(float(row["rho"])):
            rho_text = (
                f"Spearman rho = {float(row['rho']):.2f} ({_p_text(float(row['p_value']))}, "
                f"{count_text(float(row['people']))} people)"
            )
    title = f"Answer accuracy by SAFE risk grade \u2014 {rho_text}"
    people = floats(grades, "people")
    if grades.empty or (np.nansum(people) == 0 and not _flags(grades).any()):
        return _empty_figure(title, selection_text, [note, definitions], "safe accuracy", figure)

    k = _k_of(grades, correlation)
    hidden = _flags(grades)
    mean = floats(grades, "mean_accuracy")
    low, high = floats(grades, "ci_low"), floats(grades, "ci_high")
    risks = grades["risk"].astype(str).tolist()
    labels = [
        f"Grade {risk} ("
        + (
            f"fewer than {k if k is not None else 'k'} people"
            if hidden[i]
            else f"{count_text(people[i])} people"
        )
        + ")"
        for i, risk in enumerate(risks)
    ]
    footnotes = [note, definitions]
    if hidden.any():
        footnotes.append(suppression_note(k))
    page = _page(title, selection_text, footnotes)
    label_width = max(text_width(label, TICK_SIZE) for label in labels)
    left = _EDGE + label_width + 8.0
    right = _EDGE + 14.0
    rows_height = len(risks) * 24.0
    below = 34.0
    fig = new_figure(page, 6.0 + rows_height + below, "safe accuracy", 1, figure)
    ax = add_axes(fig, left, page.bottom + below, _WIDTH_PT - left - right, rows_height)
    fixed_label_positions(ax, x=False)  # the x axis has a label
    colour = PALETTE["blue"]
    for y in range(len(risks)):
        if hidden[y]:
            _status(ax, 0.02, y, _suppressed_text(k), "suppressed")
        elif math.isnan(mean[y]):
            _status(ax, 0.02, y, "no people with this grade", "no-data")
        else:
            _dot(ax, mean[y], y, low[y], high[y], colour)
            _value_text(ax, y, _pct(mean[y]), high[y], 1.0)
    _row_axis(ax, len(risks))
    _percent_axis(ax, 1.0)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_yticks(range(len(risks)), labels)
    ax.set_xlabel("Mean answer accuracy", fontsize=TICK_SIZE)
    return fig


# --- 4. time to event -----------------------------------------------------------------------


def _median_text(result: TimeToEvent) -> str:
    if result.median.empty:
        return ""
    row = result.median.iloc[0]
    if bool(_flags(result.median)[0]):
        return "suppressed"
    events, n = float(row["events"]), float(row["n"])
    median = float(row["median_hours"])
    among = float(row["median_hours_among_events"])
    parts = [f"{count_text(events)} of {count_text(n)} emails"]
    if not math.isnan(median):
        parts.append(f"median {median:.1f} h")
    if not math.isnan(among):
        parts.append(f"median {among:.1f} h among those who did")
    return ", ".join(parts)


#: A step curve is drawn with at most this many steps (a screen shows no more).
MAX_STEPS = 80


def _thinned(hours: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """A step function (``hours`` ascending) read at :data:`MAX_STEPS` evenly spaced times
    and its last time: visually the same curve, with a path small enough to draw and send."""
    if len(hours) <= MAX_STEPS:
        return (hours, *values)
    grid = np.unique(np.append(np.linspace(hours[0], hours[-1], MAX_STEPS), hours[-1]))
    index = np.searchsorted(hours, grid, side="right") - 1
    return (grid, *(v[index] for v in values))


def plot_time_to_event(
    click_result: TimeToEvent,
    report_result: TimeToEvent,
    selection_text: str = "",
    *,
    figure: Figure | None = None,
) -> Figure:
    """Share of phishing emails clicked, and reported, by hours since sending: 1 - the
    Kaplan-Meier survival curve (steps) with its 95% pointwise band. The results are
    :func:`~awareness_analysis.analysis.behaviour.time_to_event` for ``clicked`` and
    ``reported``.

    ``figure``, a figure this function returned before (a dashboard's last one), is redrawn
    into when the new chart has the same panels: the result is the same chart (byte for byte),
    made faster. Otherwise a new figure is returned. Pass only a figure that nothing else
    still shows or keeps.
    """
    title = "How soon after sending: share of phishing emails clicked and reported"
    definitions = (
        "Curve = 1 \u2212 Kaplan-Meier survival: share of emails with the event by that many "
        "hours after sending; shaded: 95% pointwise interval."
    )
    results = {"clicked": click_result, "reported": report_result}
    note = merge_notes(*(str(r.curve.attrs.get("note", "")) for r in results.values()))
    if all(r.curve.empty for r in results.values()) and not any(
        _flags(r.median).any() for r in results.values()
    ):
        return _empty_figure(title, selection_text, [note, definitions], "time to event", figure)
    k = _k_of(click_result.curve, report_result.curve)
    suppressed = any(_flags(r.median).any() for r in results.values())
    footnotes = [note, definitions]
    if suppressed:
        footnotes.append(suppression_note(k))
    page = _page(title, selection_text, footnotes)
    left, right = _EDGE + 40.0, _EDGE + 14.0
    body_height = 190.0
    below = 34.0
    fig = new_figure(page, 14.0 + body_height + below, "time to event", 1, figure)
    ax = add_axes(fig, left, page.bottom + below, _WIDTH_PT - left - right, body_height)
    fixed_label_positions(ax, x=False)  # the x axis has a label
    top = 0.0
    right_edge = 1.0
    status_y = 0.92
    for event, result in results.items():
        curve = result.curve
        colour = _BEHAVIOUR_COLOURS[event]
        label = f"{_BEHAVIOUR_LABELS[event]}: {_median_text(result)}"
        if curve.empty:
            text = _suppressed_text(k) if _flags(result.median).any() else "no events to show"
            ax.text(
                0.02,
                status_y,
                f"{_BEHAVIOUR_LABELS[event]}: {text}",
                transform=ax.transAxes,
                fontsize=_NOTE_SIZE,
                style="italic",
                color=NEUTRAL,
                gid="suppressed",
            )
            status_y -= 0.1
            continue
        hours, share, band_low, band_high = _thinned(
            floats(curve, "time_hours"),
            1.0 - floats(curve, "survival"),
            1.0 - floats(curve, "ci_high"),
            1.0 - floats(curve, "ci_low"),
        )
        ax.fill_between(
            hours, band_low, band_high, step="post", color=colour, alpha=0.2, linewidth=0
        )
        (line,) = ax.step(hours, share, where="post", color=colour, linewidth=1.8, label=label)
        line.set_gid(f"curve-{event}")
        top = max(top, float(np.nanmax(band_high)))
        right_edge = max(right_edge, float(np.nanmax(hours)))
    # A round right end, so every tick label lies within the axes.
    x_ticks = MaxNLocator(nbins=8).tick_values(0.0, right_edge)
    x_ticks = x_ticks[x_ticks >= 0]
    ax.set_xlim(0.0, float(x_ticks[-1]))
    ax.set_xticks(x_ticks)
    ax.set_ylim(0.0, _nice_percent_limit([top]))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlabel("Hours since the email was sent", fontsize=TICK_SIZE)
    open_axes(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=_NOTE_SIZE, frameon=False)
    return fig


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BehaviourTables:
    """The behaviour tables of a snapshot the charts need (``safe_scores`` may be None)."""

    phish_campaigns: pd.DataFrame
    phish_users: pd.DataFrame
    safe_scores: pd.DataFrame | None


def behaviour_tables(analysis: Analysis) -> BehaviourTables:
    """The snapshot's phishing (and SAFE score) tables.

    Raises :class:`~awareness_analysis.errors.StoreError` naming the fix when the snapshot
    was fetched without them: fetch again with ``--include all``.
    """
    tables = analysis.tables  # pseudonymised like analysis.users when that is on
    missing = [name for name in REQUIRED_TABLES if name not in tables]
    if missing:
        raise StoreError(
            f"Snapshot {analysis.snapshot.snapshot_id} has no phishing tables "
            f"({', '.join(missing)} missing): it was fetched without the behaviour sources. "
            "Fetch with --include all (`awareness-analysis fetch --include all`) to add them."
        )
    return BehaviourTables(
        phish_campaigns=tables["phish_campaigns"],
        phish_users=tables["phish_users"],
        safe_scores=tables.get("safe_scores"),
    )


# --- dashboard ------------------------------------------------------------------------------


#: Selections a dashboard remembers (least recently shown dropped first): going back to one
#: shows its charts again without computing or drawing anything.
CACHED_SELECTIONS = 16


class _LRU:
    """A small least-recently-used cache: ``get(key, make)`` returns the value kept for
    ``key``, or makes, keeps and returns it (the oldest key beyond ``size`` is dropped)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


def _rows_key(mask: np.ndarray) -> bytes:
    """Which rows a selection keeps, as a compact hashable key."""
    return np.packbits(mask).tobytes() + len(mask).to_bytes(8, "little")


class KnowledgeBehaviour:
    """Phishing campaign and department filters over the four knowledge-and-behaviour charts.

    Each control is wired with one ``observe``; a change redraws once (``redraws`` counts),
    keeping the figures (``figures``) and the tables behind them (``tables``). An empty choice
    means all. The minimum group size is the analysis' (``analysis.min_group_size``). The SAFE
    chart follows the department filter only (SAFE grades belong to people, not to phishing
    campaigns). In a report run (``analysis.report``) it shows :data:`REPORT_NOTE` and draws
    nothing.

    Work that no control changes is done once, when the dashboard is made: the knowledge and
    behaviour pairs, and each source's campaign and department columns as codes for the
    filters. An analysis is computed once per set of rows it is given (a change that leaves a
    table's rows as they were, such as a campaign change for the SAFE grades, refits nothing),
    and a chart is drawn once per table and title; both are kept for the last
    :data:`CACHED_SELECTIONS` selections, so going back to one is instant. A chart is redrawn
    into the figure it had (see :func:`plot_phishing_rates`); ``figures`` draws the charts
    shown from the cache into the figures when it is read.
    """

    title = "Knowledge and behaviour"

    def __init__(self, analysis: Analysis, *, autodraw: bool = True) -> None:
        self.analysis = analysis
        self.k = analysis.min_group_size
        self.tables: dict[str, Any] = {}
        self.redraws = 0
        self.output = w.Output()
        # Per chart: its figure, the key of what it shows, and the key of what it should show
        # (with the function that draws it) after the last redraw.
        self._figures: list[Figure | None] = []
        self._drawn: list[Hashable] = []
        self._charts: list[tuple[Hashable, Callable[[Figure | None], Figure]]] = []
        if analysis.report:
            # A report page: pre-rendered views under the report's disclosure plan.
            self.report_figures = behaviour_figures(analysis)
            self.widget: w.Widget = w.HTML(f"<p><i>{html.escape(REPORT_NOTE)}</i></p>")
            return
        self.data = behaviour_tables(analysis)
        campaigns = self.data.phish_campaigns
        names = dict(
            zip(
                campaigns["phish_campaign_id"].astype(str),
                campaigns["phish_campaign_name"].astype(str),
                strict=True,
            )
        )
        self.campaign_names = names
        self.campaign = w.SelectMultiple(
            options=[(name, cid) for cid, name in names.items()],
            value=(),
            description="Phishing campaigns",
            rows=list_rows(len(names)),
            layout=CONTROL_LAYOUT,
            style=LABEL_STYLE,
        )
        # As in the other dashboards, departments under the minimum group size (and the
        # complementary ones protecting them) are offered only together, as one choice:
        # comparing "all" with "all but one" must not reveal a small department.
        self.hidden_departments = phishing_hidden_departments(self.data.phish_users, self.k)
        shown = sorted(
            set(self.data.phish_users["department"].astype(str)) - set(self.hidden_departments)
        )
        departments = shown + ([SUPPRESSED_LABEL] if self.hidden_departments else [])
        self.department = w.SelectMultiple(
            options=departments,
            value=(),
            description="Departments",
            rows=list_rows(len(departments)),
            layout=CONTROL_LAYOUT,
            style=LABEL_STYLE,
        )
        # The pairs over everything, once: a redraw only filters them.
        self._pairs = knowledge_behaviour_pairs(
            analysis.users,
            analysis.campaigns,
            self.data.phish_users,
            self.data.phish_campaigns,
        )
        # (frame, column) -> the column's values as codes and each value's code, for the
        # dashboard's own frames (made on first use).
        self._codes: dict[tuple[int, str], tuple[pd.DataFrame, np.ndarray, dict[str, int]]] = {}
        self._results = _LRU(CACHED_SELECTIONS * 6)  # (analysis, rows) -> its result
        self._outputs = _LRU(CACHED_SELECTIONS * 4)  # (chart, rows, title) -> its output
        for control in self.controls():
            control.observe(self._on_change, names="value")
        self.widget = w.VBox(
            [
                w.HTML(f"<b>{html.escape(self.title)}</b>"),
                w.HBox(self.controls(), layout=w.Layout(flex_flow="row wrap")),
                w.HTML(f"<small>{html.escape(SELECTION_HINT)}</small>"),
                self.output,
            ]
        )
        if autodraw:
            self.redraw()

    def controls(self) -> list[w.SelectMultiple]:
        return [self.campaign, self.department]

    def selection_text(
        self,
        campaigns: Sequence[str] | None = None,
        departments: Sequence[str] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> str:
        """The charts' selection line (the controls' choice unless given)."""
        campaigns = self.campaign.value if campaigns is None else campaigns
        departments = self.department.value if departments is None else departments
        names = self.campaign_names if names is None else names
        if not campaigns:
            what = "All phishing campaigns"
        elif len(campaigns) == 1:
            what = f"Phishing campaign {names[campaigns[0]]}"
        else:
            what = f"{len(campaigns)} phishing campaigns"
        where = (
            "all departments"
            if not departments
            else (departments[0] if len(departments) == 1 else f"{len(departments)} departments")
        )
        hidden = (
            f"groups under {self.k} people hidden"
            if self.k > 1
            else "nothing hidden (minimum group size off)"
        )
        return f"{what}; {where}; {hidden}"

    def effect_selection_text(self, text: str) -> str:
        """The knowledge chart's selection line: ``text`` and where "knew" comes from."""
        names = list(self.analysis.campaign_names.values())
        source = names[0] if len(names) == 1 else f"{len(names)} awareness campaigns"
        return f"{text}; knowledge from {source}"

    def safe_selection_text(self, departments: Sequence[str] | None = None) -> str:
        """The SAFE chart's selection line: it follows the departments only."""
        departments = self.department.value if departments is None else departments
        safe_text = "All departments" if not departments else ", ".join(departments)
        return f"{safe_text} (phishing campaign filter does not apply)"

    def _isin(self, frame: pd.DataFrame, column: str, values: Iterable[str]) -> np.ndarray:
        """``frame[column].astype(str).isin(values)``, from codes made once per frame."""
        found = self._codes.get((id(frame), column))
        if found is None or found[0] is not frame:
            codes, uniques = pd.factorize(frame[column].astype(str))
            found = (frame, codes, {str(value): code for code, value in enumerate(uniques)})
            if any(frame is own for own in self._own_frames()):
                self._codes[(id(frame), column)] = found
        _, codes, code_of = found
        wanted = [code_of[value] for value in values if value in code_of]
        return np.isin(codes, wanted)

    def _own_frames(self) -> list[pd.DataFrame]:
        frames = [self.data.phish_users, self._pairs]
        return frames if self.data.safe_scores is None else [*frames, self.data.safe_scores]

    def _mask(self, frame: pd.DataFrame, campaign_column: str | None) -> np.ndarray:
        """The rows of ``frame`` the controls select."""
        mask = np.ones(len(frame), dtype=bool)
        if campaign_column is not None and self.campaign.value:
            mask &= self._isin(frame, campaign_column, self.campaign.value)
        if self.department.value and "department" in frame:
            chosen = set(self.department.value)
            if SUPPRESSED_LABEL in chosen:
                chosen |= set(self.hidden_departments)
            mask &= self._isin(frame, "department", chosen)
        return mask

    def _keep(self, frame: pd.DataFrame, campaign_column: str | None) -> pd.DataFrame:
        return frame.loc[self._mask(frame, campaign_column)]

    def _selected(self) -> dict[str, tuple[bytes, Callable[[], pd.DataFrame]]]:
        """Per source (``phish_users``, ``pairs``, ``safe_scores``): the key of the rows the
        controls select, and a function giving those rows (filtered on first call only)."""
        sources = {
            "phish_users": (self.data.phish_users, "phish_campaign_id"),
            "pairs": (self._pairs, "phish_campaign_id"),
        }
        if self.data.safe_scores is not None:
            sources["safe_scores"] = (self.data.safe_scores, None)
        selected = {}
        for name, (frame, campaign_column) in sources.items():
            mask = self._mask(frame, campaign_column)
            rows = cache(lambda frame=frame, mask=mask: frame.loc[mask])
            selected[name] = (_rows_key(mask), rows)
        return selected

    def compute(self) -> dict[str, Any]:
        """The analyses' tables for the controls' selection (each computed once per set of
        rows it is given, see the class docstring; do not change them)."""
        return self._compute(self._selected())

    def _compute(
        self, selected: dict[str, tuple[bytes, Callable[[], pd.DataFrame]]]
    ) -> dict[str, Any]:
        k = self.k
        users_key, users = selected["phish_users"]
        pairs_key, pairs = selected["pairs"]
        as_of = self.analysis.as_of
        campaigns = self.data.phish_campaigns

        def model() -> pd.DataFrame:
            models = [knowledge_click_model(pairs(), k, outcome=o) for o in BEHAVIOURS]
            table = pd.concat(models, ignore_index=True)
            table.attrs = dict(models[0].attrs)
            return table

        def result(name: str, key: bytes, make: Callable[[], Any]) -> Any:
            return self._results.get((name, key), make)

        safe = None
        if "safe_scores" in selected:
            safe_key, safe_scores = selected["safe_scores"]
            safe = result(
                "safe",
                safe_key,
                lambda: safe_vs_accuracy(safe_scores(), self.analysis.users, k),
            )
        return {
            "rates": result("rates", users_key, lambda: phishing_rates(users(), k)),
            "risk_ratio": result(
                "risk_ratio", pairs_key, lambda: knowledge_click_risk_ratio(pairs(), k)
            ),
            "model": result("model", pairs_key, model),
            "safe": safe,
            "time_to_click": result(
                "time_to_click",
                users_key,
                lambda: time_to_event(users(), as_of, "clicked", phish_campaigns=campaigns, k=k),
            ),
            "time_to_report": result(
                "time_to_report",
                users_key,
                lambda: time_to_event(users(), as_of, "reported", phish_campaigns=campaigns, k=k),
            ),
        }

    def _chart_makers(
        self, tables: dict[str, Any], text: str
    ) -> list[Callable[[Figure | None], Figure]]:
        """Per chart, a function drawing it (into the figure given, when it can)."""
        makers: list[Callable[[Figure | None], Figure]] = [
            lambda figure: plot_phishing_rates(tables["rates"], text, figure=figure),
            lambda figure: plot_knowledge_effect(
                tables["risk_ratio"],
                tables["model"],
                self.effect_selection_text(text),
                figure=figure,
            ),
        ]
        if tables["safe"] is not None:
            safe_text = self.safe_selection_text()
            makers.append(
                lambda figure: plot_safe_vs_accuracy(tables["safe"], safe_text, figure=figure)
            )
        makers.append(
            lambda figure: plot_time_to_event(
                tables["time_to_click"], tables["time_to_report"], text, figure=figure
            )
        )
        return makers

    @property
    def figures(self) -> list[Figure]:
        """The charts on show (a chart shown from the cache is drawn into its figure here)."""
        figures = []
        for i, (key, make) in enumerate(self._charts):
            figure = self._figures[i]
            if figure is None or self._drawn[i] != key:
                figure = self._draw(i, key, make)
            figures.append(figure)
        return figures

    def _draw(self, i: int, key: Hashable, make: Callable[[Figure | None], Figure]) -> Figure:
        while len(self._figures) <= i:
            self._figures.append(None)
            self._drawn.append(None)
        figure = make(self._figures[i])
        self._figures[i], self._drawn[i] = figure, key
        return figure

    def _on_change(self, change: dict[str, Any]) -> None:
        self.redraw()

    def redraw(self) -> None:
        selected = self._selected()
        self.tables = self._compute(selected)
        text = self.selection_text()
        makers = self._chart_makers(self.tables, text)
        # What each chart shows: its rows and title (the SAFE chart's rows and title follow
        # the departments only).
        users_key, pairs_key = selected["phish_users"][0], selected["pairs"][0]
        keys: list[Hashable] = [("rates", users_key, text), ("effect", pairs_key, text)]
        if self.tables["safe"] is not None:
            keys.append(("safe", selected["safe_scores"][0], self.safe_selection_text()))
        keys.append(("time", users_key, text))
        self._charts = list(zip(keys, makers, strict=True))
        outputs = []
        for i, (key, make) in enumerate(self._charts):

            def output(
                i: int = i, key: Hashable = key, make: Callable[[Figure | None], Figure] = make
            ) -> dict[str, Any]:
                figure = self._draw(i, key, make)
                data, metadata = format_display_data(figure_display(figure, f"behaviour-{i}"))
                return {"output_type": "display_data", "data": data, "metadata": metadata}

            outputs.append(self._outputs.get((i, key), output))
        self.redraws += 1
        self.output.outputs = tuple(outputs)

    # -- static report views ------------------------------------------------------------------

    def static_html(self) -> str:
        """Every report view pre-rendered under the report's disclosure plan, with a selector
        that switches them in the page; what each publishes goes to the report's log."""
        figures = self.report_figures
        if figures is None:
            return f"<p><i>{html.escape(REPORT_NOTE)}</i></p>"
        context = self.analysis.context
        plan = context.plan if context is not None else None
        hidden = plan.hidden_cells if plan is not None else frozenset()
        views = figures.views(plan.hidden_departments if plan is not None else ())
        names = figures.campaign_names
        options: list[str] = []
        panels: list[str] = []
        group = None
        for index, view in enumerate(views):
            if view.group != group:
                if group:
                    options.append("</optgroup>")
                if view.group:
                    options.append(f'<optgroup label="{html.escape(view.group)}">')
                group = view.group
            options.append(f'<option value="v{index}">{html.escape(view.label)}</option>')
            tables = figures.tables(view, hidden)
            text = self.selection_text(view.phish_campaign_ids, view.departments, names)
            charts = [
                plot_phishing_rates(tables["rates"], text),
                plot_knowledge_effect(
                    tables["risk_ratio"], tables["model"], self.effect_selection_text(text)
                ),
            ]
            if tables["safe"] is not None:
                safe_text = self.safe_selection_text(view.departments)
                charts.append(plot_safe_vs_accuracy(tables["safe"], safe_text))
            charts.append(
                plot_time_to_event(tables["time_to_click"], tables["time_to_report"], text)
            )
            records = behaviour_records(tables, view, names)
            if context is not None:
                context.publish(records)
            body = "".join(
                figure_html(chart, f"{self.title}: {view.label}", f"behaviour-v{index}-{i}")
                for i, chart in enumerate(charts)
            ) + data_table_html(records)
            hidden_attr = "" if index == 0 else " hidden"
            panels.append(f'<div class="aa-view" data-view="v{index}"{hidden_attr}>{body}</div>')
        if group:
            options.append("</optgroup>")
        return (
            f'<div class="aa-views"><label>View <select class="aa-view-select">'
            f"{''.join(options)}</select></label>{''.join(panels)}</div>"
        )

    def _ipython_display_(self) -> None:
        if self.analysis.report:
            display(HTML(self.static_html()))
        else:
            display(self.widget)


def _records_of(
    table: pd.DataFrame,
    chart: str,
    columns: Mapping[str, str | None],
    metric: Callable[[pd.Series], str],
    common: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """One figure record per row: ``columns`` maps a record field to the table's column."""
    records = []
    for _, row in table.iterrows():
        record = {**common, "chart": chart, "metric": metric(row), "question": ""}
        for field, column in columns.items():
            record[field] = figure_number(row[column]) if column is not None else None
        record["hidden"] = bool(row["suppressed"])
        record["cell"] = row["cell"]
        records.append(record)
    return records


def behaviour_records(
    tables: Mapping[str, Any], view: BehaviourView, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The figures one view of the page publishes (see ``figures.csv``): rates, the arms and
    estimates of the knowledge effect, accuracy per SAFE grade, median times to event. Each
    ``metric`` says what its ``rate`` is (a share, a ratio, a correlation or hours)."""
    department = view.departments[0] if len(view.departments) == 1 else ALL
    common = {"view": view.label, "campaign": ALL, "department": department}
    rates = tables["rates"].assign(
        campaign=[names.get(str(c), str(c)) for c in tables["rates"]["phish_campaign_id"]]
    )
    records = _records_of(
        rates,
        "Phishing rates",
        {"numerator": "successes", "n": "n", "people": "people", "rate": "rate",
         "ci_low": "ci_low", "ci_high": "ci_high"},
        lambda r: f"{r['metric']} rate",
        common,
    )  # fmt: skip
    for record, campaign in zip(records, rates["campaign"], strict=True):
        record["campaign"] = campaign
    effect = tables["risk_ratio"]
    for arm, n, events, rate in (
        ("knew", "n_knew", "events_knew", "rate_knew"),
        ("did not know", "n_not_knew", "events_not_knew", "rate_not_knew"),
    ):
        records += _records_of(
            effect,
            "Knowledge and behaviour",
            {"numerator": events, "n": n, "people": None, "rate": rate, "ci_low": None,
             "ci_high": None},
            lambda r, arm=arm: f"{r['outcome']} | {arm} ({r['method']}, {r['unit']})",
            common,
        )  # fmt: skip
    records += _records_of(
        effect,
        "Knowledge and behaviour",
        {"numerator": None, "n": "n", "people": "people", "rate": "risk_ratio",
         "ci_low": "ci_low", "ci_high": "ci_high"},
        lambda r: f"{r['outcome']} risk ratio, knew vs not ({r['method']})",
        common,
    )  # fmt: skip
    records += _records_of(
        tables["model"],
        "Knowledge and behaviour",
        {"numerator": None, "n": "n", "people": "people", "rate": "odds_ratio",
         "ci_low": "ci_low", "ci_high": "ci_high"},
        lambda r: f"{r['outcome']} odds ratio, knew vs not (logistic, pairs)",
        common,
    )  # fmt: skip
    safe = tables["safe"]
    if safe is not None:
        records += _records_of(
            safe.grades,
            "SAFE grade and accuracy",
            {"numerator": None, "n": "answers", "people": "people", "rate": "mean_accuracy",
             "ci_low": "ci_low", "ci_high": "ci_high"},
            lambda r: f"mean answer accuracy, SAFE grade {r['risk']}",
            common,
        )  # fmt: skip
        records += _records_of(
            safe.correlation,
            "SAFE grade and accuracy",
            {"numerator": None, "n": "people", "people": "people", "rate": "rho",
             "ci_low": None, "ci_high": None},
            lambda r: "Spearman rho, SAFE grade vs accuracy",
            common,
        )  # fmt: skip
    for name in ("time_to_click", "time_to_report"):
        records += _records_of(
            tables[name].median,
            "Time to click and report",
            {"numerator": "events", "n": "n", "people": "people", "rate": "median_hours",
             "ci_low": "ci_low", "ci_high": "ci_high"},
            lambda r: f"median hours to {'click' if r['event'] == 'clicked' else 'report'}",
            common,
        )  # fmt: skip
    return records
