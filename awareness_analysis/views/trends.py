"""Charts of people over time: completion curves from snapshot history (and, with
:mod:`awareness_analysis.analysis.trends`, trends across campaigns). Each takes a table and
returns a Figure; the notebook ``06_trends_and_people`` and its report page show them."""

from __future__ import annotations

import html

import ipywidgets as w
import numpy as np
import pandas as pd
from IPython.core.formatters import format_display_data
from IPython.display import HTML, display
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from awareness_analysis.analysis.behaviour import blank_rows
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.history import CURVE_COLUMNS, completion_curves
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.stats import format_p
from awareness_analysis.analysis.trends import (
    DEFAULT_REMINDER_DAYS,
    TrendResult,
    campaign_trend,
    missed_again,
    movement,
    repeat_non_completers,
    trend_campaign_ids,
)
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.views.chart_parts import (
    EDGE,
    MIN_TEXT_SIZE,
    NEUTRAL,
    TICK_SIZE,
    WIDTH_PT,
    add_axes,
    floats,
    merge_notes,
    new_figure,
    no_data_figure,
    open_axes,
    suppression_note,
    wrapped_chrome,
)
from awareness_analysis.views.figures import ALL, campaign_list, data_table_html, figure_number
from awareness_analysis.views.plots import PALETTE
from awareness_analysis.views.render import figure_display, figure_html
from awareness_analysis.views.text import text_width
from awareness_analysis.views.widgets import LABEL_STYLE
from awareness_analysis.vocabulary import SUPPRESSED_LABEL

__all__ = [
    "TrendsAndPeople",
    "plot_campaign_trend",
    "plot_completion_curves",
    "plot_department_trends",
    "plot_missed_again",
    "plot_movement",
]

#: Campaign lines in launch order; more campaigns than colours reuse them with another dash.
_LINE_COLOURS = [
    PALETTE["blue"],
    PALETTE["orange"],
    PALETTE["bluish_green"],
    PALETTE["vermillion"],
    PALETTE["reddish_purple"],
    PALETTE["sky_blue"],
    PALETTE["black"],
]
_DASHES = ["-", "--", ":"]
_SHARE_LABELS = {"answered": "answered at least one question", "acknowledged": "acknowledged"}


def plot_completion_curves(
    curves: pd.DataFrame, selection_text: str = "", *, share: str = "answered"
) -> Figure:
    """Each campaign's reach against days since launch: the share of the people sent it who
    had ``answered`` (or ``acknowledged``) it at each snapshot, a marker per snapshot joined by
    lines, with 95% intervals as bars. ``curves`` is
    :func:`~awareness_analysis.analysis.history.completion_curves` (one department's rows, or
    the ``all`` rows). The curve is only as fine as the snapshots: nothing is drawn between two
    fetches but a straight line."""
    if share not in _SHARE_LABELS:
        raise ValueError(f"share must be one of {tuple(_SHARE_LABELS)}, not {share!r}")
    title = f"Completion over time: share of each campaign's audience that {_SHARE_LABELS[share]}"
    note = str(curves.attrs.get("note", ""))
    definitions = (
        "Markers: snapshots (one per fetch); bars: 95% Wilson intervals. Days since the "
        "campaign's launch at each fetch."
    )
    shown = curves[~curves["suppressed"].astype(bool)] if len(curves) else curves
    footnotes = [note, definitions]
    if len(shown) < len(curves):
        footnotes.append(suppression_note(curves.attrs.get("min_group_size")))
    chrome = wrapped_chrome(title, selection_text, footnotes)
    if shown.empty:
        return no_data_figure(chrome, 2.0 * 72, "completion curves", None)
    left, right, below, body = EDGE + 40.0, EDGE + 190.0, 34.0, 210.0
    fig = new_figure(chrome, body + below + 10.0, "completion curves", 1)
    ax = add_axes(fig, left, chrome.bottom + below, WIDTH_PT - left - right, body)
    order = shown.sort_values(["launch_date", "campaign_id"])
    campaigns = list(dict.fromkeys(order["campaign_id"].astype(str)))
    for index, campaign in enumerate(campaigns):
        rows = order[order["campaign_id"].astype(str) == campaign].sort_values("fetched_at")
        days = floats(rows, "days_since_launch")
        value = floats(rows, f"{share}_share")
        low, high = floats(rows, f"{share}_ci_low"), floats(rows, f"{share}_ci_high")
        colour = _LINE_COLOURS[index % len(_LINE_COLOURS)]
        dash = _DASHES[(index // len(_LINE_COLOURS)) % len(_DASHES)]
        name = str(rows["campaign_name"].iloc[0])
        ax.errorbar(
            days,
            value,
            yerr=np.vstack([value - low, high - value]),
            color=colour,
            linestyle=dash,
            marker="o",
            markersize=3.5,
            linewidth=1.4,
            elinewidth=0.8,
            capsize=0,
            label=name if len(name) <= 34 else name[:33] + "\u2026",
        )
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.set_xlim(left=0.0)
    ax.set_xlabel("Days since launch", fontsize=TICK_SIZE)
    open_axes(ax)
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=MIN_TEXT_SIZE,
        frameon=False,
        labelcolor=NEUTRAL,
    )
    return fig


_METRIC_LABELS = {
    "acknowledgement": "Acknowledgement",
    "completion": "Completion",
    "accuracy": "Answer accuracy",
    "all_correct": "All answers correct",
}
_FALLING, _RISING = PALETTE["vermillion"], PALETTE["blue"]
ALL_DEPARTMENTS = "all departments"


def _trend_text(row: pd.Series) -> str:
    if pd.isna(row.get("odds_ratio_per_year")) or pd.isna(row.get("people")):
        return "Trend: not estimable (too few campaigns, people or outcomes)."
    return (
        f"Trend: {row['pp_per_year']:+.1f} percentage points per year "
        f"(95% CI {row['pp_ci_low']:+.1f} to {row['pp_ci_high']:+.1f}); odds ratio per year "
        f"{row['odds_ratio_per_year']:.2f} ({row['ci_low']:.2f}\u2013{row['ci_high']:.2f}), "
        f"p {format_p(float(row['p_value']))}; {int(row['campaigns'])} campaigns, "
        f"{int(row['people']):,} people."
    )


def plot_campaign_trend(result: TrendResult, selection_text: str = "") -> Figure:
    """A metric's rate per campaign against launch date (dots, 95% intervals) and the fitted
    organisation trend (line: the logistic model with person-clustered errors), from
    :func:`~awareness_analysis.analysis.trends.campaign_trend`. Campaigns left out of the fit
    are drawn hollow: targeted ones (sent to a subset; compared with their own audience in the
    table) as diamonds, running ones as circles."""
    label = _METRIC_LABELS.get(result.metric, result.metric)
    title = f"{label} per campaign, and its trend"
    campaigns = result.campaigns
    trend = result.trend.iloc[0] if len(result.trend) else pd.Series(dtype=object)
    notes = merge_notes(
        str(campaigns.attrs.get("note", "")), str(result.trend.attrs.get("note", ""))
    )
    footnotes = [_trend_text(trend) if len(trend) else "", notes]
    shown = campaigns[~campaigns["suppressed"].astype(bool)]
    if len(shown) < len(campaigns):
        footnotes.append(suppression_note(campaigns.attrs.get("min_group_size")))
    chrome = wrapped_chrome(title, selection_text, footnotes)
    if shown.empty:
        return no_data_figure(chrome, 2.0 * 72, "campaign trend", None)
    left, right, below, body = EDGE + 40.0, EDGE + 14.0, 30.0, 200.0
    fig = new_figure(chrome, body + below + 10.0, "campaign trend", 1)
    ax = add_axes(fig, left, chrome.bottom + below, WIDTH_PT - left - right, body)
    dates = pd.to_datetime(shown["launch_date"], utc=True).dt.tz_convert(None)
    rate = floats(shown, "rate")
    low, high = floats(shown, "ci_low"), floats(shown, "ci_high")
    fitted = shown["in_fit"].astype(bool).to_numpy()
    targeted = shown["targeted"].astype(bool).to_numpy()
    for mask, marker, face, name in (
        (fitted, "o", _RISING, "in the trend"),
        (~fitted & targeted, "D", "white", "targeted (not in the trend)"),
        (~fitted & ~targeted, "o", "white", "running (not in the trend)"),
    ):
        if mask.any():
            ax.errorbar(
                dates[mask],
                rate[mask],
                yerr=np.vstack([rate[mask] - low[mask], high[mask] - rate[mask]]),
                fmt=marker,
                color=_RISING,
                markerfacecolor=face,
                markersize=5,
                elinewidth=1.0,
                capsize=0,
                label=name,
            )
    if len(trend) and not pd.isna(trend.get("odds_ratio_per_year")):
        years = floats(campaigns, "years")
        launch = pd.to_datetime(campaigns["launch_date"], utc=True).dt.tz_convert(None)
        origin = launch.iloc[0] - pd.to_timedelta(years[0] * 365.25, unit="D")
        fitted = years[campaigns["in_fit"].astype(bool).to_numpy()]
        # Over the fitted campaigns only: the model says nothing before or after them.
        span = np.linspace(float(np.nanmin(fitted)), float(np.nanmax(fitted)), 50)
        centre = float(trend["centre_years"])
        logit = np.log(trend["rate_at_mean"] / (1 - trend["rate_at_mean"]))
        curve = 1 / (1 + np.exp(-(logit + np.log(trend["odds_ratio_per_year"]) * (span - centre))))
        ax.plot(
            origin + pd.to_timedelta(span * 365.25, unit="D"),
            curve,
            color=NEUTRAL,
            linewidth=1.4,
            linestyle="--",
            label="trend (fitted)",
        )
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    open_axes(ax)
    ax.legend(loc="lower left", fontsize=MIN_TEXT_SIZE, frameon=False, ncols=4)
    return fig


def _dot_rows(
    rows: list[str],
    series: list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]],
    title: str,
    selection_text: str,
    footnotes: list[str],
    chart: str,
    *,
    log: bool = False,
    reference: float | None = None,
    axis_label: str = "",
) -> Figure:
    """Rows of dots with intervals: ``series`` holds (label, colour, value, low, high) per
    row; NaN draws nothing for that row."""
    chrome = wrapped_chrome(title, selection_text, footnotes)
    if not rows:
        return no_data_figure(chrome, 2.0 * 72, chart, None)
    label_width = max(text_width(r, TICK_SIZE) for r in rows) + 10.0
    left, right, below = EDGE + label_width, EDGE + 14.0, 34.0
    body = 18.0 * len(rows) + 10.0
    fig = new_figure(chrome, body + below + 18.0, chart, 1)
    ax = add_axes(fig, left, chrome.bottom + below, WIDTH_PT - left - right, body)
    positions = np.arange(len(rows), dtype=float)
    offsets = np.linspace(-0.15, 0.15, len(series)) if len(series) > 1 else [0.0]
    for (name, colour, value, low, high), offset in zip(series, offsets, strict=True):
        ok = ~np.isnan(value)
        ax.errorbar(
            value[ok],
            positions[ok] + offset,
            xerr=np.vstack([value[ok] - low[ok], high[ok] - value[ok]]),
            fmt="o",
            color=colour,
            markersize=4.5,
            elinewidth=1.0,
            capsize=0,
            label=name,
        )
    ax.set_yticks(positions, rows)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.tick_params(axis="y", left=False)
    if log:
        ax.set_xscale("log")
    else:
        ax.set_xlim(0.0, 1.0)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    if reference is not None:
        ax.axvline(reference, color=NEUTRAL, linewidth=0.8)
    if axis_label:
        ax.set_xlabel(axis_label, fontsize=TICK_SIZE)
    open_axes(ax, grid="x")
    if len(series) > 1:
        ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            fontsize=MIN_TEXT_SIZE,
            frameon=False,
            ncols=len(series),
        )
    return fig


def plot_department_trends(result: TrendResult, selection_text: str = "") -> Figure:
    """Each department's trend (odds ratio per year, 95% interval, log scale) from
    :func:`~awareness_analysis.analysis.trends.campaign_trend`: coloured where the
    Benjamini-Hochberg q-value is below 0.05 (falling or rising), grey otherwise."""
    label = _METRIC_LABELS.get(result.metric, result.metric)
    table = result.departments
    shown = table[
        ~table["suppressed"].astype(bool)
        & table["odds_ratio_per_year"].notna()
        & table["converged"].astype(bool)
    ]
    footnotes = [
        "Odds ratio per year from a logistic model on launch date with person-clustered "
        "errors, per department; 1 = no change. Coloured: Benjamini-Hochberg q < 0.05 over "
        "the departments.",
        str(table.attrs.get("note", "")),
    ]
    if len(shown) < len(table):
        footnotes.append(suppression_note(table.attrs.get("min_group_size")))
    rows = [
        f"{d} ({int(p):,} people)"
        for d, p in zip(shown["department"], shown["people"], strict=True)
    ]
    significant = shown["significant"].fillna(False).astype(bool).to_numpy()
    falling = (shown["direction"].astype(str) == "falling").to_numpy()
    value = floats(shown, "odds_ratio_per_year")
    low, high = floats(shown, "ci_low"), floats(shown, "ci_high")
    series = []
    for name, colour, mask in (
        ("falling (q < 0.05)", _FALLING, significant & falling),
        ("rising (q < 0.05)", _RISING, significant & ~falling),
        ("no clear trend", NEUTRAL, ~significant),
    ):
        if mask.any():
            series.append(
                (
                    name,
                    colour,
                    np.where(mask, value, np.nan),
                    np.where(mask, low, np.nan),
                    np.where(mask, high, np.nan),
                )
            )
    return _dot_rows(
        rows,
        series,
        f"{label}: trend per department",
        selection_text,
        footnotes,
        "department trends",
        log=True,
        reference=1.0,
        axis_label="Odds ratio per year (log scale)",
    )


def plot_missed_again(table: pd.DataFrame, selection_text: str = "") -> Figure:
    """The chance of not answering a campaign after not answering the one before, beside the
    chance after answering it (95% person-clustered intervals), for the organisation and each
    department shown, from :func:`~awareness_analysis.analysis.trends.missed_again`."""
    shown = table[~table["suppressed"].astype(bool)]
    footnotes = [str(table.attrs.get("note", ""))]
    if len(shown) < len(table):
        footnotes.append(suppression_note(table.attrs.get("min_group_size")))
    rows = [
        f"{'Organisation' if level == 'organisation' else d} ({int(p):,} people)"
        for level, d, p in zip(shown["level"], shown["department"], shown["people"], strict=True)
    ]
    series = [
        (
            "missed the campaign before",
            _FALLING,
            floats(shown, "rate_after_miss"),
            floats(shown, "ci_low_after_miss"),
            floats(shown, "ci_high_after_miss"),
        ),
        (
            "answered the campaign before",
            _RISING,
            floats(shown, "rate_after_answer"),
            floats(shown, "ci_low_after_answer"),
            floats(shown, "ci_high_after_answer"),
        ),
    ]
    return _dot_rows(
        rows,
        series,
        "Repeat non-completers: chance of missing a campaign, by what came before",
        selection_text,
        footnotes,
        "missed again",
        axis_label="Share who did not answer",
    )


def plot_movement(table: pd.DataFrame, selection_text: str = "") -> Figure:
    """Among the people in both of two campaigns: the later result of those who failed the
    earlier one beside those who passed it (95% intervals), for the organisation and each
    department shown, from :func:`~awareness_analysis.analysis.trends.movement` (an empty
    table: two different campaigns are needed)."""
    title = "Movement: how people did in the later campaign, by the earlier result"
    if "level" not in table:
        return _dot_rows(
            [], [], title, selection_text, ["Choose two different campaigns."], "movement"
        )
    shown = table[~table["suppressed"].astype(bool)]
    footnotes = [str(table.attrs.get("note", ""))]
    if len(shown) < len(table):
        footnotes.append(suppression_note(table.attrs.get("min_group_size")))
    rows = [
        f"{'Organisation' if level == 'organisation' else d} ({int(p):,} people)"
        for level, d, p in zip(shown["level"], shown["department"], shown["people"], strict=True)
    ]
    series = [
        (
            "failed the earlier campaign",
            _FALLING,
            floats(shown, "rate_after_fail"),
            floats(shown, "ci_low_after_fail"),
            floats(shown, "ci_high_after_fail"),
        ),
        (
            "passed it",
            _RISING,
            floats(shown, "rate_after_pass"),
            floats(shown, "ci_low_after_pass"),
            floats(shown, "ci_high_after_pass"),
        ),
    ]
    return _dot_rows(
        rows,
        series,
        title,
        selection_text,
        footnotes,
        "movement",
        axis_label="Share passing the later campaign",
    )


# --- the page: notebook 06 and its report page ------------------------------------------------


class TrendsAndPeople:
    """Trends across campaigns, repeat non-completers, completion curves and movement between
    campaigns, with a metric choice, the reminder window and "missed the last N" as controls.

    In JupyterLab the controls redraw the charts (the named list of repeat non-completers and
    the movement chart are for the analyst). In a report run (``analysis.report``) the page
    pre-renders a view per metric under the report's disclosure plan and logs what it
    publishes: campaign rates and department trends whose cells the plan covers (see
    :func:`awareness_analysis.analysis.trends.trend_campaign_ids`), the organisation's
    repeat non-completer figures, and the campaigns' completion curves. Movement between two
    campaigns (people in both) is left out of shared reports; the named list is in a report
    only with ``--include-people``.
    """

    title = "Trends and people"

    def __init__(self, analysis: Analysis, *, autodraw: bool = True) -> None:
        self.analysis = analysis
        self.k = analysis.min_group_size
        self.redraws = 0
        self._comparisons: dict[tuple[tuple[str, ...], str], pd.DataFrame] = {}
        self.figures: list[Figure] = []
        self.tables: dict[str, object] = {}
        names = analysis.campaign_names
        ids = list(names)
        self.metric = w.Dropdown(
            options=[(label, m) for m, label in _METRIC_LABELS.items()],
            value="acknowledgement",
            description="Metric",
            style=LABEL_STYLE,
        )
        self.reminder_days = w.BoundedIntText(
            value=DEFAULT_REMINDER_DAYS,
            min=0,
            max=365,
            description="Reminder window (days)",
            style=LABEL_STYLE,
        )
        self.last_n = w.BoundedIntText(
            value=3, min=1, max=50, description="Missed the last", style=LABEL_STYLE
        )
        options = [(names[c], c) for c in ids]
        self.earlier = w.Dropdown(
            options=options,
            value=ids[-3] if len(ids) > 2 else (ids[0] if ids else None),
            description="Earlier",
            style=LABEL_STYLE,
        )
        self.later = w.Dropdown(
            options=options,
            value=ids[-2] if len(ids) > 2 else (ids[-1] if ids else None),
            description="Later",
            style=LABEL_STYLE,
        )
        departments = sorted(set(analysis.users["department"].astype(str)))
        self.curves_for = w.Dropdown(
            options=[(ALL_DEPARTMENTS, ""), *((d, d) for d in departments)],
            value="",
            description="Curves for",
            style=LABEL_STYLE,
        )
        # Completion curves read the store's history once per level (campaign, department).
        self._history: dict[bool, pd.DataFrame] = {}
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
        return [
            self.metric,
            self.reminder_days,
            self.last_n,
            self.curves_for,
            self.earlier,
            self.later,
        ]

    def _on_change(self, change: dict[str, object]) -> None:
        self.redraw()

    def _trend(self, metric: str) -> TrendResult:
        a = self.analysis
        return campaign_trend(a.users, a.campaigns, metric, as_of=a.as_of, k=self.k)

    def _curves(self, department: str = "") -> pd.DataFrame:
        """Completion curves of every campaign (``department``: that department's rows; a
        department is hidden in every snapshot where it is under k in any)."""
        a = self.analysis
        if a.store_root is None:
            return completion_curves_empty()
        by_department = bool(department)
        if by_department not in self._history:
            self._history[by_department] = completion_curves(
                SnapshotStore(a.store_root),
                campaign_ids=tuple(a.campaign_names),
                k=self.k,
                by_department=by_department,
                until=a.snapshot.snapshot_id,
                # The people file's groups, as the department list above offers them.
                regroup=a.people_join.regroup if a.people_join is not None else None,
            )
        curves = self._history[by_department]
        if not by_department:
            return curves
        chosen = curves[curves["department"] == department]
        chosen.attrs = dict(curves.attrs)
        return chosen

    def selection_text(self) -> str:
        hidden = f"groups under {self.k} people hidden" if self.k > 1 else "nothing hidden (k off)"
        return f"{len(self.analysis.campaign_names)} campaigns; all departments; {hidden}"

    def compute(self) -> dict[str, object]:
        """The tables behind the charts for the controls' choice (row-level lists included:
        keep them private)."""
        a = self.analysis
        metric = str(self.metric.value)
        days = int(self.reminder_days.value)
        return {
            "trend": self._trend(metric),
            "missed_again": missed_again(
                a.users,
                a.campaigns,
                as_of=a.as_of,
                reminder_days=days,
                k=self.k,
                by_department=True,
            ),
            "completion_curves": self._curves(str(self.curves_for.value)),
            "movement": (
                movement(a.users, str(self.earlier.value), str(self.later.value), k=self.k)
                if self.earlier.value != self.later.value
                else pd.DataFrame({"suppressed": pd.Series(dtype=bool)})
            ),
            "repeat_non_completers": repeat_non_completers(
                a.users,
                a.campaigns,
                as_of=a.as_of,
                last_n=int(self.last_n.value),
                reminder_days=days,
            ),
        }

    def redraw(self) -> None:
        self.tables = tables = self.compute()
        text = self.selection_text()
        trend = tables["trend"]
        assert isinstance(trend, TrendResult)
        names = self.analysis.campaign_names
        moved = f"{names[str(self.earlier.value)]} \u2192 {names[str(self.later.value)]}"
        self.figures = [
            plot_campaign_trend(trend, text),
            plot_department_trends(trend, text),
            plot_missed_again(tables["missed_again"], text),  # type: ignore[arg-type]
            plot_completion_curves(
                tables["completion_curves"],  # type: ignore[arg-type]
                text.replace("all departments", str(self.curves_for.value) or ALL_DEPARTMENTS),
            ),
            plot_movement(tables["movement"], f"{moved}; {text}"),  # type: ignore[arg-type]
        ]
        listed = tables["repeat_non_completers"]
        assert isinstance(listed, pd.DataFrame)
        outputs = [figure_display(f, f"trends-{i}") for i, f in enumerate(self.figures)]
        caption = (
            f"<b>{len(listed):,} people missed each of their last {self.last_n.value} campaigns"
            "</b> (campaigns inside the reminder window not counted). Personal data: keep it "
            "private."
        )
        outputs.append(HTML(caption + listed.to_html(index=False, max_rows=50)))
        targeted = trend.targeted[~trend.targeted["suppressed"].astype(bool)]
        if len(targeted):
            columns = [
                "campaign_name",
                "people",
                "rate_targeted",
                "rate_baseline",
                "difference",
                "ci_low",
                "ci_high",
                "p_value",
            ]
            outputs.insert(
                2,
                HTML(
                    "<b>Targeted campaigns against their own audience</b> (the same people's "
                    "results in the campaigns of the trend; paired difference, 95% CI)"
                    + targeted[columns].to_html(index=False, float_format="{:.3f}".format)
                ),
            )
        self.redraws += 1
        self.output.outputs = tuple(
            {"output_type": "display_data", "data": data, "metadata": metadata}
            for data, metadata in (format_display_data(o) for o in outputs)
        )

    # -- the report page ---------------------------------------------------------------------

    def static_html(self) -> str:
        """The report page's body: a view per metric (campaign trend and department trends),
        then repeat non-completers and completion curves; every figure logged for the audit."""
        a = self.analysis
        context = a.context
        include_people = context is not None and context.include_people
        records: list[dict[str, object]] = []
        options, panels = [], []
        for index, (metric, label) in enumerate(_METRIC_LABELS.items()):
            trend = self._trend(metric)
            text = f"{label}; {self.selection_text()}"
            campaigns, organisation, departments, view_records = self._planned(trend, label)
            trend = TrendResult(
                metric=trend.metric,
                campaigns=campaigns,
                trend=organisation,
                departments=departments,
                targeted=trend.targeted,
            )
            body = figure_html(
                plot_campaign_trend(trend, text), f"{label} trend", f"trends-v{index}-0"
            ) + figure_html(
                plot_department_trends(trend, text),
                f"{label} by department",
                f"trends-v{index}-1",
            )
            body += data_table_html(view_records)
            records += view_records
            options.append(f'<option value="v{index}">{html.escape(label)}</option>')
            hidden = "" if index == 0 else " hidden"
            panels.append(f'<div class="aa-view" data-view="v{index}"{hidden}>{body}</div>')
        page = (
            f'<div class="aa-views"><label>Metric <select class="aa-view-select">'
            f"{''.join(options)}</select></label>{''.join(panels)}</div>"
        )
        missed, missed_records = self._planned_missed()
        curves, curve_records = self._planned_curves()
        page += figure_html(
            plot_missed_again(missed, self.selection_text()), "Repeat non-completers", "trends-m"
        ) + data_table_html(missed_records)
        page += figure_html(
            plot_completion_curves(curves, self.selection_text()),
            "Completion curves",
            "trends-c",
        ) + data_table_html(curve_records)
        records += missed_records + curve_records
        if include_people:
            listed = repeat_non_completers(
                a.users, a.campaigns, as_of=a.as_of, last_n=int(self.last_n.value)
            )
            page += (
                f"<h3>People who missed each of their last {self.last_n.value} campaigns</h3>"
                + listed.to_html(index=False)
            )
        page += (
            "<p><i>Movement between two campaigns (how those who failed one did in the next) "
            "and the named list of repeat non-completers are in the notebook; a shared report "
            "leaves them out (the list unless made with <code>--include-people</code>).</i></p>"
        )
        if context is not None:
            context.publish(records)
        return page

    def _compared(self, campaign_ids: tuple[str, ...], metric: str) -> pd.DataFrame:
        """The plan's department comparison of ``metric`` over ``campaign_ids``, computed once
        per report page (the campaign rates, trends and curves ask for the same ones)."""
        key = (campaign_ids, metric)
        if key not in self._comparisons:
            view = self.analysis.view(Selection(campaign_ids=campaign_ids), self.k)
            self._comparisons[key] = view.department_comparison(metric)
        return self._comparisons[key]

    def _planned(
        self, trend: TrendResult, label: str
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[dict[str, object]]]:
        """The trend's tables (campaigns, organisation, departments) with what the plan hides
        blanked, and their figure records (the organisation's are the index's trend lines)."""
        names = self.analysis.campaign_names
        metric = trend.metric
        campaigns = trend.campaigns.copy()
        campaigns.attrs = dict(trend.campaigns.attrs)
        records: list[dict[str, object]] = []
        hide = []
        for row in campaigns.itertuples():
            cid = str(row.campaign_id)
            if cid not in names:
                hide.append(True)
                continue
            table = self._compared((cid,), metric)
            hidden = bool(table.attrs.get("org_suppressed")) or bool(row.suppressed)
            hide.append(hidden)
            records.append(
                _record(
                    label,
                    "Campaign trend",
                    f"{metric} rate",
                    names[cid],
                    ALL,
                    row,
                    table.attrs.get("org_cell"),
                    hidden,
                )
            )
        campaigns = blank_rows(
            campaigns, np.asarray(hide, dtype=bool), ("successes", "n", "people")
        )
        fit = tuple(str(c) for c in trend.campaigns.loc[trend.campaigns["in_fit"], "campaign_id"])
        departments = trend.departments.copy()
        departments.attrs = dict(trend.departments.attrs)
        by_department = self._compared(fit, metric) if fit else None
        # A department's trend is published only where the plan shows that department over
        # these campaigns, with the plan's own counts (never the trend's pooled group, whose
        # departments need not be the plan's).
        hide = []
        counts: dict[str, list[object]] = {"n": [], "people": []}
        for row in departments.itertuples():
            shown = None
            if by_department is not None and row.department != SUPPRESSED_LABEL:
                match = by_department[by_department["department"].astype(str) == row.department]
                shown = match.iloc[0] if len(match) else None
            # A fit that did not converge (e.g. every unit the same in one period) has no
            # estimate worth printing.
            hidden = (
                shown is None
                or bool(shown["suppressed"])
                or bool(row.suppressed)
                or not bool(row.converged)
            )
            hide.append(hidden)
            for column in counts:
                counts[column].append(pd.NA if shown is None else shown[column])
            records.append(
                {
                    "view": label,
                    "chart": "Department trends",
                    "metric": f"{metric} odds ratio per year",
                    "campaign": campaign_list([names[c] for c in fit]) if fit else ALL,
                    "department": str(row.department),
                    "question": "",
                    "numerator": None,
                    "n": figure_number(counts["n"][-1]),
                    "people": figure_number(counts["people"][-1]),
                    "rate": figure_number(row.odds_ratio_per_year),
                    "ci_low": figure_number(row.ci_low),
                    "ci_high": figure_number(row.ci_high),
                    "hidden": hidden,
                    "cell": None if shown is None else shown["cell"],
                }
            )
        for column, values in counts.items():
            departments[column] = pd.array(values, dtype="Int64")
        departments = blank_rows(
            departments, np.asarray(hide, dtype=bool), ("n", "people", "campaigns")
        )
        organisation = trend.trend.copy()
        organisation.attrs = dict(trend.trend.attrs)
        org_hidden = (
            by_department is None
            or bool(by_department.attrs.get("org_suppressed"))
            or not bool(organisation["converged"].all())
        )
        organisation = blank_rows(
            organisation,
            np.full(len(organisation), org_hidden) | organisation["suppressed"].to_numpy(bool),
            ("n", "people", "campaigns"),
        )
        records = [r for r in records if r["cell"] is not None]
        return campaigns, organisation, departments, records

    def _planned_missed(self) -> tuple[pd.DataFrame, list[dict[str, object]]]:
        a = self.analysis
        table = missed_again(a.users, a.campaigns, as_of=a.as_of, k=self.k)
        _, eligible = trend_campaign_ids(a.users, a.campaigns, as_of=a.as_of)
        eligible = tuple(c for c in eligible if c in a.campaign_names)
        org = self._compared(eligible, "completion").attrs if eligible else {}
        hidden = not eligible or bool(org.get("org_suppressed"))
        table = blank_rows(
            table,
            np.full(len(table), hidden) | table["suppressed"].to_numpy(bool),
            (
                "people",
                "transitions",
                "n_after_miss",
                "missed_after_miss",
                "people_after_miss",
                "n_after_answer",
                "missed_after_answer",
                "people_after_answer",
            ),
        )
        records = []
        for _, row in table.iterrows():
            for arm, words in (
                ("after_miss", "after missing"),
                ("after_answer", "after answering"),
            ):
                records.append(
                    {
                        "view": "Repeat non-completers",
                        "chart": "Repeat non-completers",
                        "metric": f"missed {words} the campaign before",
                        "campaign": campaign_list([a.campaign_names[c] for c in eligible])
                        if eligible
                        else ALL,
                        "department": ALL,
                        "question": "",
                        "numerator": figure_number(row[f"missed_{arm}"]),
                        "n": figure_number(row[f"n_{arm}"]),
                        "people": figure_number(row[f"people_{arm}"]),
                        "rate": figure_number(row[f"rate_{arm}"]),
                        "ci_low": figure_number(row[f"ci_low_{arm}"]),
                        "ci_high": figure_number(row[f"ci_high_{arm}"]),
                        # An arm nobody is in (no one missed) has no figure to publish.
                        "hidden": bool(row["suppressed"]) or not row[f"n_{arm}"],
                        "cell": org.get("org_cell"),
                    }
                )
        return table, [r for r in records if r["cell"] is not None]

    def _planned_curves(self) -> tuple[pd.DataFrame, list[dict[str, object]]]:
        curves = self._curves()
        names = self.analysis.campaign_names
        keep = curves["campaign_id"].astype(str).isin(set(names))
        curves = curves[keep].reset_index(drop=True)
        records = []
        cells: dict[str, tuple[object, bool]] = {}
        # Only points counting the same people as the latest one: two points over audiences
        # a few people apart would give those people's figures by subtraction.
        latest = curves.groupby("campaign_id")["audience"].last()
        hide = []
        for row in curves.itertuples():
            cid = str(row.campaign_id)
            if cid not in cells:
                attrs = self._compared((cid,), "completion").attrs
                cells[cid] = (attrs.get("org_cell"), bool(attrs.get("org_suppressed")))
            cell, hidden = cells[cid]
            hidden = hidden or bool(row.suppressed) or row.audience != latest[row.campaign_id]
            hide.append(hidden)
            for what in ("acknowledged", "answered"):
                records.append(
                    {
                        "view": "Completion curves",
                        "chart": "Completion curves",
                        "metric": f"{what} by {str(row.fetched_at)[:10]} "
                        f"({row.days_since_launch:.0f} days)",
                        "campaign": names[cid],
                        "department": ALL,
                        "question": "",
                        "numerator": figure_number(getattr(row, what)),
                        "n": figure_number(row.people),
                        "people": figure_number(row.people),
                        "rate": figure_number(getattr(row, f"{what}_share")),
                        "ci_low": figure_number(getattr(row, f"{what}_ci_low")),
                        "ci_high": figure_number(getattr(row, f"{what}_ci_high")),
                        "hidden": hidden,
                        "cell": cell,
                    }
                )
        curves = curves.copy()
        curves.loc[np.asarray(hide, dtype=bool), "suppressed"] = True
        return curves, [r for r in records if r["cell"] is not None]

    def _ipython_display_(self) -> None:
        if self.analysis.report:
            display(HTML(self.static_html()))
        else:
            display(self.widget)


def _record(
    view: str,
    chart: str,
    metric: str,
    campaign: str,
    department: str,
    row: object,
    cell: object,
    hidden: bool,
) -> dict[str, object]:
    return {
        "view": view,
        "chart": chart,
        "metric": metric,
        "campaign": campaign,
        "department": department,
        "question": "",
        "numerator": figure_number(row.successes),
        "n": figure_number(row.n),
        "people": figure_number(row.people),
        "rate": figure_number(row.rate),
        "ci_low": figure_number(row.ci_low),
        "ci_high": figure_number(row.ci_high),
        "hidden": hidden,
        "cell": cell,
    }


def completion_curves_empty() -> pd.DataFrame:
    """An empty completion-curves table (an analysis without a known store)."""
    return pd.DataFrame({column: [] for column in CURVE_COLUMNS})


class TrendLines:
    """The summary's trend lines: per metric, the organisation's change per year over the
    campaigns a trend is fitted on (completed, sent to everyone), with its interval. In a
    report run its figures join the audit (the organisation over those campaigns, a cell the
    plan covers)."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.k = analysis.min_group_size
        a = analysis
        self.results = {
            metric: campaign_trend(a.users, a.campaigns, metric, as_of=a.as_of, k=self.k)
            for metric in _METRIC_LABELS
        }

    def html(self) -> str:
        a = self.analysis
        fitted, _ = trend_campaign_ids(a.users, a.campaigns, as_of=a.as_of)
        fitted = tuple(c for c in fitted if c in a.campaign_names)
        items, records = [], []
        for metric, result in self.results.items():
            row = result.trend.iloc[0]
            attrs = (
                a.view(Selection(campaign_ids=fitted), self.k).department_comparison(metric).attrs
                if fitted
                else {}
            )
            hidden = (
                not fitted
                or bool(attrs.get("org_suppressed"))
                or bool(row["suppressed"])
                or not bool(row["converged"])
            )
            label = _METRIC_LABELS[metric]
            if hidden or pd.isna(row["odds_ratio_per_year"]):
                text = "no trend to show (too few campaigns or people)"
            else:
                text = _trend_text(row).removeprefix("Trend: ")
            items.append(f"<li><strong>{html.escape(label)}</strong>: {html.escape(text)}</li>")
            records.append(
                {
                    "view": "Trends",
                    "chart": "Trend lines",
                    "metric": f"{metric} odds ratio per year",
                    "campaign": campaign_list([a.campaign_names[c] for c in fitted])
                    if fitted
                    else ALL,
                    "department": ALL,
                    "question": "",
                    "numerator": None,
                    "n": figure_number(row["n"]),
                    "people": figure_number(row["people"]),
                    "rate": figure_number(row["odds_ratio_per_year"]),
                    "ci_low": figure_number(row["ci_low"]),
                    "ci_high": figure_number(row["ci_high"]),
                    "hidden": hidden,
                    "cell": attrs.get("org_cell"),
                }
            )
        if a.context is not None:
            a.context.publish([r for r in records if r["cell"] is not None])
        return (
            '<h3>Trends</h3><p class="aa-summary-note">Change per year over the completed '
            "campaigns sent to everyone (a logistic model on launch date with person-clustered "
            "errors; targeted and running campaigns left out). Details on the trends page.</p>"
            f"<ul>{''.join(items)}</ul>"
        )

    def _ipython_display_(self) -> None:
        display(HTML(self.html()))
