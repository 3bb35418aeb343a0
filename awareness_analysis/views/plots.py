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
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from awareness_analysis.analysis.metrics import (
    BASELINE_NOTE,
    CLUSTERING_NOTE,
    DEFINITIONS,
    SIGNIFICANCE_NOTE,
)
from awareness_analysis.analysis.stats import funnel_limits
from awareness_analysis.vocabulary import SUPPRESSED_LABEL, UNIT_PEOPLE

__all__ = [
    "DIRECTION_COLOURS",
    "FIGURE_WIDTH",
    "METRIC_COLOURS",
    "NEUTRAL",
    "NO_DATA_MESSAGE",
    "PALETTE",
    "plot_campaign_rates",
    "plot_department_intervals",
    "plot_funnel",
    "plot_question_accuracy",
]

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
#: Grey for text and groups that need no attention; not a palette hue, so it never competes.
NEUTRAL = "#6E6E6E"

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

#: Width in inches: fits a notebook cell and an HTML report without rescaling the text.
FIGURE_WIDTH = 10.0
NO_DATA_MESSAGE = "No data for this selection"
CAMPAIGN_METRICS = ("acknowledgement", "completion", "all_correct")
FUNNEL_CONFIDENCES = (0.95, 0.998)

_TITLE_SIZE = 12.0
_FOOTNOTE_SIZE = 7.5
_TICK_SIZE = 8.5
_NOTE_SIZE = 8.0
_LABEL_WRAP = 34  # characters per line of a campaign or department tick label
_COMBINED_LABEL = SUPPRESSED_LABEL
_LOG_SPAN = 30.0  # department sizes spanning more than this factor get a log n axis
# Panel titles sit at the top of their axes. Automatic placement would put them there too
# (nothing is drawn above these axes), but it measures every tick label again on each layout
# pass and draw; a fixed position draws the same pixels in less time.
_TITLE_Y = 1.0


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


def _floats(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _rows(table: pd.DataFrame, labels: Iterable[str], extra: Sequence[str] = ()) -> list[_Row]:
    suppressed = (
        table["suppressed"].fillna(False).astype(bool).to_numpy()
        if "suppressed" in table
        else np.zeros(len(table), dtype=bool)
    )
    numbers = {
        c: _floats(table, c) for c in ("successes", "n", "people", "rate", "ci_low", "ci_high")
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
    k = _min_group_size(table)
    size = f"{k} people" if k is not None else "the minimum group size k"
    return f"Suppressed: groups of fewer than {size} are not shown, to protect individuals."


def _count(value: float) -> str:
    return f"{0 if math.isnan(value) else int(value):,}"


def _n_text(row: _Row, table: pd.DataFrame) -> str:
    """What the row counts: "600 people", or "600 people, 3,368 enrolments" when pooled."""
    if row.suppressed:
        k = _min_group_size(table)
        return f"fewer than {k if k is not None else 'k'} people"
    return _units_text(row.people, row.n, table)


def _units_text(people: float, n: float, table: pd.DataFrame) -> str:
    unit = str(table.attrs.get("unit") or "")
    if math.isnan(people):  # a table without a people column: say only n
        return f"n={_count(n)}"
    if people == n or not unit:
        return f"{_count(people)} {UNIT_PEOPLE}"
    return f"{_count(people)} {UNIT_PEOPLE}, {_count(n)} {unit}"


def _pooled(rows: Iterable[_Row]) -> bool:
    """Whether any row counts one person more than once (its intervals use effective n)."""
    return any(not math.isnan(r.people) and r.people < r.n for r in rows)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width, break_long_words=True)) or text


def _chars_per_line(width_in: float, fontsize: float) -> int:
    # An average glyph is a little over half an em wide in DejaVu Sans.
    return max(20, int(width_in * 72 / (fontsize * 0.53)))


def _definitions(metrics: Iterable[str]) -> list[str]:
    return [DEFINITIONS[m].text() for m in metrics if m in DEFINITIONS]


def _metric_label(metric: str) -> str:
    definition = DEFINITIONS.get(metric)
    return definition.label if definition is not None else metric.replace("_", " ").capitalize()


def _new_figure(height: float) -> Figure:
    return Figure(figsize=(FIGURE_WIDTH, height), layout="constrained")


def _footnote_height(paragraphs: Sequence[str]) -> tuple[str, float]:
    width = _chars_per_line(FIGURE_WIDTH - 0.3, _FOOTNOTE_SIZE)
    text = "\n".join(_wrap(p, width) for p in paragraphs if p)
    lines = text.count("\n") + 1 if text else 0
    return text, (lines * _FOOTNOTE_SIZE * 1.3 + 10) / 72


def _finish(fig: Figure, title: str, selection_text: str, footnotes: Sequence[str]) -> Figure:
    """Title with the selection in force; footnote with definitions in space reserved below."""
    width = _chars_per_line(FIGURE_WIDTH - 0.5, _TITLE_SIZE)
    heading = title
    if selection_text.strip():
        heading += "\n" + _wrap(selection_text.strip(), width)
    fig.suptitle(heading, fontsize=_TITLE_SIZE, x=0.01, ha="left")
    text, height = _footnote_height(footnotes)
    if text:
        bottom = min(0.45, height / fig.get_figheight())
        # constrained layout ignores figure texts, so keep the axes out of the footnote's band
        fig.get_layout_engine().set(rect=(0.0, bottom, 1.0, 1.0 - bottom))
        fig.text(
            0.01,
            0.01,
            text,
            ha="left",
            va="bottom",
            fontsize=_FOOTNOTE_SIZE,
            color=NEUTRAL,
            gid="footnote",
        )
    return fig


def _empty_figure(title: str, selection_text: str, footnotes: Sequence[str]) -> Figure:
    _, foot = _footnote_height(footnotes)
    fig = _new_figure(2.6 + foot)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        NO_DATA_MESSAGE,
        ha="center",
        va="center",
        fontsize=13,
        color=NEUTRAL,
        transform=ax.transAxes,
        gid="no-data",
    )
    return _finish(fig, title, selection_text, footnotes)


def _percent_axis(ax: Axes, axis: str = "x", ticks: int = 6) -> None:
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    if axis == "x":
        ax.set_xlim(0.0, 1.0)
        ax.set_xticks(np.linspace(0, 1, ticks))
        if ticks == 3:  # narrow panels: label 0/50/100% but keep the quarter gridlines
            ax.set_xticks([0.25, 0.75], minor=True)
    else:
        ax.set_ylim(0.0, 1.0)
        ax.set_yticks(np.linspace(0, 1, ticks))
    ax.grid(axis=axis, which="both", color="#E2E2E2", linewidth=0.6)
    ax.set_axisbelow(True)


def _row_axis(ax: Axes, count: int) -> None:
    """Rows 0..count-1 top to bottom, without the frame lines a dot plot does not need."""
    ax.set_ylim(count - 0.5, -0.5)
    ax.tick_params(axis="y", length=0, labelsize=_TICK_SIZE)
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
) -> None:
    if not rows:
        return
    rates = np.array([r.rate for r in rows])
    low = np.clip(rates - np.array([r.ci_low for r in rows]), 0, None)
    high = np.clip(np.array([r.ci_high for r in rows]) - rates, 0, None)
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
    )
    container.lines[0].set_gid(gid)
    container.lines[0].set_clip_on(False)  # a dot at exactly 0% or 100% stays whole


def _value_label(
    ax: Axes, y: float, row: _Row, text: str, panel_width: float, colour: str = "#222222"
) -> None:
    """Write ``text`` beside the interval, on a side where it fits inside the 0-100% panel.

    ``panel_width`` (inches, approximate) converts the text's width into a share of the axis.
    """
    low = row.ci_low if not math.isnan(row.ci_low) else row.rate
    high = row.ci_high if not math.isnan(row.ci_high) else row.rate
    needed = (len(text) * _NOTE_SIZE * 0.6 + 8) / 72 / panel_width
    kwargs: dict[str, Any] = {
        "va": "center",
        "fontsize": _NOTE_SIZE,
        "color": colour,
        "textcoords": "offset points",
        "gid": "value",
    }
    if 1.0 - high >= needed or (low < needed and 1.0 - high >= low):
        ax.annotate(text, (high, y), xytext=(5, 0), ha="left", annotation_clip=False, **kwargs)
    elif low >= needed:
        ax.annotate(text, (low, y), xytext=(-5, 0), ha="right", **kwargs)
    else:  # a wide interval leaves no room on either side: sit just above the dot
        ax.annotate(text, (row.rate, y), xytext=(0, 5), ha="center", **kwargs | {"va": "bottom"})


def _status_text(ax: Axes, y: float, text: str, gid: str) -> None:
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


def _rows_height(labels: Sequence[str], per_line: float = 0.19, minimum: float = 0.34) -> float:
    return sum(max(minimum, 0.12 + per_line * (label.count("\n") + 1)) for label in labels)


# --- campaign rates -------------------------------------------------------------------------


def plot_campaign_rates(rates: pd.DataFrame, selection_text: str = "") -> Figure:
    """Acknowledgement, completion and all-correct rate by campaign, one panel per metric.

    Dots are rates with 95% Wilson intervals; tick labels carry each campaign's people sent,
    and a rate whose n differs from that (all-correct counts only those who answered) prints
    its own count beside the value.
    """
    title = "Campaign rates"
    present = [] if rates.empty else list(dict.fromkeys(rates["metric"].astype(str)))
    metrics = [m for m in CAMPAIGN_METRICS if m in present] + [
        m for m in present if m not in CAMPAIGN_METRICS
    ]
    notes = _definitions(metrics or CAMPAIGN_METRICS)
    if rates.empty:
        return _empty_figure(title, selection_text, notes)

    order, display = _campaign_keys(rates)
    keys = (
        rates["campaign_id"].astype(str) if "campaign_id" in rates else rates["campaign_name"]
    ).tolist()
    by_metric: dict[str, dict[str, _Row]] = {m: {} for m in metrics}
    for key, metric, row in zip(keys, rates["metric"].astype(str), _rows(rates, keys), strict=True):
        by_metric[metric][key] = row

    # n in the tick label is users sent, read off the first metric that counts every user.
    base = next((m for m in ("acknowledgement", "completion") if m in by_metric), metrics[0])
    labels = []
    for key in order:
        row = by_metric[base].get(key)
        n_part = f" ({_n_text(row, rates)})" if row is not None else ""
        labels.append(_wrap(display[key] + n_part, _LABEL_WRAP - 6))

    fig = _new_figure(1.6 + _rows_height(labels) + _footnote_height(notes)[1])
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    panel_width = (FIGURE_WIDTH - 2.8) / len(metrics)
    suppressed_text = _suppressed_text(rates)
    for ax, metric in zip(axes, metrics, strict=True):
        rows = by_metric[metric]
        plotted = [(y, rows[k]) for y, k in enumerate(order) if k in rows and rows[k].plotted]
        _interval_dots(
            ax,
            [y for y, _ in plotted],
            [r for _, r in plotted],
            METRIC_COLOURS.get(metric, PALETTE["black"]),
        )
        for y, key in enumerate(order):
            row = rows.get(key)
            if row is None:
                continue
            if row.suppressed:
                _status_text(ax, y, suppressed_text, "suppressed")
            elif row.no_data:
                _status_text(ax, y, "no data", "no-data")
            else:
                base_row = by_metric[base].get(key)
                same_n = base_row is not None and base_row.n == row.n
                text = _pct(row.rate) if same_n else f"{_pct(row.rate)} ({_n_text(row, rates)})"
                _value_label(ax, y, row, text, panel_width)
        ax.set_title(_metric_label(metric), fontsize=10, loc="left", y=_TITLE_Y)
        _percent_axis(ax, "x")
        _row_axis(ax, len(order))
    axes[0].set_yticks(range(len(order)), labels)
    all_rows = [r for rows in by_metric.values() for r in rows.values()]
    if any(r.suppressed for r in all_rows):
        notes = [*notes, _suppression_note(rates)]
    if _pooled(all_rows):
        notes = [*notes, CLUSTERING_NOTE]
    notes = [*notes, "Dots: rate; lines: 95% Wilson score interval."]
    return _finish(fig, title, selection_text, notes)


# --- per-question accuracy ------------------------------------------------------------------


def plot_question_accuracy(accuracy: pd.DataFrame, selection_text: str = "") -> Figure:
    """Accuracy per question (one panel each) by campaign, with 95% Wilson intervals.

    Each panel's tick labels give that question's n (people who answered it); unanswered
    questions are not in n, and the footnote says so.
    """
    title = "Per-question accuracy"
    notes = _definitions(["accuracy"])
    if accuracy.empty:
        return _empty_figure(title, selection_text, notes)

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

    names = [_wrap(display[k], _LABEL_WRAP - 4) for k in order]
    fig = _new_figure(1.7 + _rows_height(names) + _footnote_height(notes)[1])
    axes = fig.subplots(
        1, len(panels), squeeze=False, gridspec_kw={"width_ratios": [1.0] * len(panels)}
    )[0]
    panel_width = (FIGURE_WIDTH - 2.8 - 0.7 * (len(panels) - 1)) / len(panels)
    suppressed_text = _suppressed_text(accuracy)
    any_suppressed = False
    for i, (ax, question) in enumerate(zip(axes, panels, strict=True)):
        rows = by_question[question]
        plotted = [(y, rows[k]) for y, k in enumerate(order) if k in rows and rows[k].plotted]
        _interval_dots(
            ax, [y for y, _ in plotted], [r for _, r in plotted], METRIC_COLOURS["accuracy"]
        )
        ticks = []
        for y, key in enumerate(order):
            row = rows.get(key)
            if row is None:
                ticks.append("not asked")
                continue
            ticks.append(_n_text(row, accuracy))
            if row.suppressed:
                any_suppressed = True
                _status_text(ax, y, suppressed_text, "suppressed")
            elif row.no_data:
                _status_text(ax, y, "no data", "no-data")
            else:
                _value_label(ax, y, row, _pct(row.rate), panel_width)
        if i == 0:
            # the first panel names the campaign; its n is question 1's, as in the other panels
            ticks = [f"{name}  {tick}" for name, tick in zip(names, ticks, strict=True)]
        ax.set_yticks(range(len(order)), ticks)
        ax.set_title(f"Question {question}", fontsize=10, loc="left", y=_TITLE_Y)
        _percent_axis(ax, "x", ticks=3 if panel_width < 2.2 else 6)
        _row_axis(ax, len(order))
    if any_suppressed:
        notes = [*notes, _suppression_note(accuracy)]
    if _pooled(r for rows in by_question.values() for r in rows.values()):
        notes = [*notes, CLUSTERING_NOTE]
    notes = [
        *notes,
        "Beside each row: the people (and answers) who answered that question. Dots: accuracy; "
        "lines: 95% Wilson score interval.",
    ]
    return _finish(fig, title, selection_text, notes)


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
    rates = _floats(comparison, "org_rate")
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


def plot_department_intervals(comparison: pd.DataFrame, selection_text: str = "") -> Figure:
    """Departments sorted by rate with 95% Wilson intervals, against the organisation rate.

    Departments that differ significantly are drawn with a direction marker and colour and
    labelled "above/below organisation" beside their interval, so no legend is needed.
    """
    metric = _comparison_metric(comparison)
    label = _metric_label(metric) if metric else "Rate"
    title = f"{label} by department"
    notes = _comparison_notes(metric)
    if comparison.empty:
        return _empty_figure(title, selection_text, notes)

    rows = _department_rows(comparison)
    org_rate = _org_rate(comparison)
    # plotted rows by rate (highest first), then departments without a dot at the bottom
    rows = (
        sorted((r for r in rows if r.plotted), key=lambda r: -r.rate)
        + [r for r in rows if r.no_data]
        + [r for r in rows if r.suppressed]
    )
    labels = [
        _wrap(f"{_department_name(r)} ({_n_text(r, comparison)})", _LABEL_WRAP + 14) for r in rows
    ]
    fig = _new_figure(1.9 + _rows_height(labels, 0.17, 0.27) + _footnote_height(notes)[1] + 0.6)
    ax = fig.add_subplot()
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
    # Values and verdicts go in a column right of the axes, clear of intervals and the org line.
    suppressed_text = _suppressed_text(comparison)
    column = ax.get_yaxis_transform()  # x in axes fraction, y in data rows
    for y, row in enumerate(rows):
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
        ax.text(
            1.02, y, text, transform=column, ha="left", va="center", fontsize=_NOTE_SIZE,
            gid=gid, **style,
        )  # fmt: skip

    if not math.isnan(org_rate):
        ax.axvline(org_rate, color=PALETTE["black"], linestyle="--", linewidth=1, gid="org-rate")
        ax.text(
            org_rate,
            1.0,
            _org_text(comparison, rows, org_rate),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=_NOTE_SIZE,
            gid="org-rate-label",
        )
    ax.set_yticks(range(len(rows)), labels)
    _percent_axis(ax, "x")
    _row_axis(ax, len(rows))
    ax.set_xlabel(label, fontsize=9)
    notes = [
        *notes,
        *_comparison_footnotes(comparison, rows),
        "Dots: rate; lines: 95% interval.",
    ]
    return _finish(fig, title, selection_text, notes)


def plot_funnel(comparison: pd.DataFrame, selection_text: str = "") -> Figure:
    """Department rate against department size n, inside 95% and 99.8% control limits.

    Limits come from :func:`awareness_analysis.analysis.stats.funnel_limits` around the
    organisation rate; the x-axis is each department's effective n (its people for one
    campaign, enrolments or answers divided by the design effect when pooled). Departments
    outside the 99.8% limits are labelled by name; filled markers are the departments the
    comparison table marks significant against the rest of the organisation.
    """
    metric = _comparison_metric(comparison)
    label = _metric_label(metric) if metric else "Rate"
    title = f"{label} by department size (funnel plot)"
    notes = _comparison_notes(metric)
    if comparison.empty:
        return _empty_figure(title, selection_text, notes)

    rows = _department_rows(comparison)
    shown = [r for r in rows if r.plotted]
    org_rate = _org_rate(comparison)
    fig = _new_figure(6.2 + _footnote_height(notes)[1])
    ax = fig.add_subplot()
    _percent_axis(ax, "y")
    ax.grid(axis="x", color="#EEEEEE", linewidth=0.6)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.set_xlabel(
        "Effective size (people; pooled: enrolments or answers \u00f7 design effect)",
        fontsize=9,
    )
    ax.set_ylabel(label, fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    sizes = np.array([_effective_n(r) for r in shown])
    outliers: list[_Row] = []
    handles: list[Any] = []
    if len(shown):
        low_n, high_n = float(sizes.min()), float(sizes.max())
        log_scale = high_n / max(low_n, 1.0) > _LOG_SPAN
        if log_scale:
            ax.set_xscale("log")
            grid = np.geomspace(max(1.0, low_n / 1.3), high_n * 1.3, 300)
            ax.set_xlim(grid[0], grid[-1])
        else:
            pad = max(1.0, 0.05 * (high_n - low_n))
            grid = np.linspace(max(1.0, low_n - pad), high_n + pad, 300)
            ax.set_xlim(max(0.0, low_n - 2 * pad), high_n + 2 * pad)
        if not math.isnan(org_rate):
            styles = {0.95: ("--", PALETTE["sky_blue"]), 0.998: (":", PALETTE["reddish_purple"])}
            for confidence in FUNNEL_CONFIDENCES:
                lower, upper = funnel_limits(org_rate, grid, confidence)
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
        ax.set_xlim(0, 1)

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
    if handles:
        # beside the axes (not fig.legend) so constrained layout keeps it clear of the title
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=_NOTE_SIZE,
            frameon=False,
            borderaxespad=0.0,
        )
    notes = [
        *notes,
        *_comparison_footnotes(comparison, rows),
        "Control limits: organisation rate \u00b1 z\u00b7\u221a(p(1\u2212p)/n), n the "
        "effective size, 95% and 99.8%; outside 99.8%: labelled. Filled: significant.",
    ]
    _finish(fig, title, selection_text, notes)
    if outliers:
        _label_outliers(fig, ax, outliers)
    return fig


def _text_entry(text: str) -> Line2D:
    """A legend row that is only text (no marker), wrapped to the legend column's width."""
    return Line2D([], [], linestyle="none", label=_wrap(text, 34))


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

    Runs after layout so data-to-pixel transforms are final. Running the layout engine alone
    gives the same positions as a full draw_without_rendering, at a fraction of the cost.
    """
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    else:
        fig.draw_without_rendering()
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
        text = _wrap(row.label, 24)
        lines = text.split("\n")
        width = max(len(line) for line in lines) * _NOTE_SIZE * 0.6 * scale
        height = _NOTE_SIZE * 1.25 * len(lines) * scale
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
