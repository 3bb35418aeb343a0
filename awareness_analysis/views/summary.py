"""The report's headline summary as an HTML fragment: "At a glance".

:func:`summary_html` renders :func:`awareness_analysis.analysis.summary.summarise` as a compact
fragment (no ``<html>`` or ``<body>``) for the top of a report's index page and for notebooks
(:class:`SummaryPanel` displays it in Jupyter). In a report run it logs every figure it shows
through ``analysis.context.publish``, as dashboards do, so the report's disclosure audit and
``figures.csv`` cover it. It shows aggregates only, never a person.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from awareness_analysis.analysis.engine import SIGNIFICANCE_LEVEL
from awareness_analysis.analysis.metrics import DEFINITIONS
from awareness_analysis.analysis.phases import RUNNING_DAYS
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.stats import CONFIDENCE
from awareness_analysis.analysis.summary import (
    COMPARABLE_SIZE_TOLERANCE,
    DEPARTMENT_SUMMARY_METRICS,
    SUMMARY_CHART,
    AttentionQuestion,
    Change,
    DifferingDepartment,
    Rate,
    RunningCampaign,
    Summary,
    summarise,
)
from awareness_analysis.views.figures import ALL, figure_records
from awareness_analysis.vocabulary import ACCURACY, UNIT_ANSWERS

__all__ = ["SUMMARY_CSS", "SummaryPanel", "publish_summary", "summary_html", "summary_records"]

#: What each headline figure is called on the page.
HEADLINE_LABELS = {
    "acknowledgement": "Acknowledged",
    "completion": "Completed",
    ACCURACY: "Answers correct",
}
#: The verb under a headline figure: "1,122 of 2,265 people acknowledged".
_HEADLINE_VERBS = {
    "acknowledgement": "acknowledged",
    "completion": "answered at least one question",
    ACCURACY: "correct",
}

#: Styles scoped to the fragment (Okabe-Ito colours, as the charts use); the report page's
#: Content-Security-Policy allows inline styles (but no inline script or event handler: it
#: lists the page's own script by hash, so this fragment must stay script-free).
SUMMARY_CSS = """
.aa-summary{margin:16px 0 24px}
.aa-summary h2{margin-bottom:4px}
.aa-summary h3{margin:20px 0 6px}
.aa-summary h4{margin:12px 0 4px;font-size:1em}
.aa-summary-figures{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.aa-summary-figure{flex:1 1 220px;background:#fff;border:1px solid #e3e3e3;border-radius:6px;
padding:10px 14px}
.aa-summary-label{font-weight:600;color:#444}
.aa-summary-value{font-size:2.4em;font-weight:700;line-height:1.15;color:#1d1d1f}
.aa-summary-detail,.aa-summary-change{font-size:.88em;color:#555}
.aa-summary-change{margin-top:6px}
.aa-summary-up.aa-summary-significant{color:#007A5A}
.aa-summary-down.aa-summary-significant{color:#B34700}
.aa-summary-note{font-size:.85em;color:#555}
.aa-summary ul,.aa-summary ol{margin:4px 0;padding-left:22px}
"""


# -- numbers as text -------------------------------------------------------------------------


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _interval(rate: Rate) -> str:
    return f"{CONFIDENCE:.0%} CI {100 * rate.ci_low:.1f}\u2013{100 * rate.ci_high:.1f}%"


def _signed(value: float) -> str:
    """A signed change with a true minus sign: "+0.6", "\u22125.0"."""
    return f"{value:+.1f}".replace("-", "\u2212")


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _counted(rate: Rate, verb: str = "") -> str:
    """What a rate counts: "460 of 1,675 answers correct, from 1,675 people", "1,122 of 2,265
    people acknowledged" (one campaign: an enrolment is a person) or "377 of 1,479 enrolments,
    317 people" (pooled over campaigns)."""
    done = f" {verb}" if verb else ""
    counted = f"{_count(rate.successes)} of {_count(rate.n)}"
    if rate.unit == UNIT_ANSWERS:
        return f"{counted} answers{done}, from {_count(rate.people)} people"
    if rate.n == rate.people:
        return f"{counted} people{done}"
    return f"{counted} enrolments{done}, {_count(rate.people)} people"


def _hidden_text(k: int) -> str:
    return f"hidden: fewer than {k} people" if k > 1 else "no data"


def _e(text: object) -> str:
    return html.escape(str(text))


def _date(launch: pd.Timestamp | None) -> str:
    return launch.strftime("%Y-%m-%d") if launch is not None else "undated"


# -- sections ----------------------------------------------------------------------------------


def _change_html(change: Change | None, previous_name: str) -> str:
    if change is None:
        return ""
    pp = change.difference_pp
    rounded = round(pp, 1)
    if rounded > 0:
        symbol, word, direction = "▲", "up", "aa-summary-up"
    elif rounded < 0:
        symbol, word, direction = "▼", "down", "aa-summary-down"
    else:
        symbol, word, direction = "=", "no change,", "aa-summary-same"
    if math.isfinite(change.ci_low_pp) and math.isfinite(change.ci_high_pp):
        interval = (
            f"{CONFIDENCE:.0%} CI {_signed(change.ci_low_pp)} to {_signed(change.ci_high_pp)} pp"
        )
    else:
        interval = "no interval: no variation to estimate"
    verdict = "a significant change" if change.significant else "not significant"
    significant = " aa-summary-significant" if change.significant else ""
    return (
        f'<div class="aa-summary-change {direction}{significant}">'
        f'<span aria-hidden="true">{symbol}</span> {word} {abs(rounded):.1f} pp vs '
        f"{_e(previous_name)} ({_percent(change.previous.rate)}): {verdict} "
        f"({_e(interval)})</div>"
    )


def _headline_html(summary: Summary) -> str:
    campaign = summary.headline_campaign
    if campaign is None:
        return (
            "<p>No campaign has completed yet: every campaign analysed launched fewer than "
            f"{RUNNING_DAYS} days before the data was fetched (see <i>Still running</i>).</p>"
        )
    changes = {c.metric: c for c in summary.previous.changes} if summary.previous else {}
    previous_name = summary.previous.campaign.name if summary.previous else ""
    figures = []
    for rate in summary.headline:
        label = HEADLINE_LABELS[rate.metric]
        if rate.shown:
            value = _percent(rate.rate)
            detail = f"{_e(_interval(rate))}<br>{_e(_counted(rate, _HEADLINE_VERBS[rate.metric]))}"
        else:
            value, detail = "—", _e(_hidden_text(summary.min_group_size))
        figures.append(
            '<div class="aa-summary-figure">'
            f'<div class="aa-summary-label">{_e(label)}</div>'
            f'<div class="aa-summary-value">{_e(value)}</div>'
            f'<div class="aa-summary-detail">{detail}</div>'
            f"{_change_html(changes.get(rate.metric), previous_name)}</div>"
        )
    when = _date(campaign.launch_date)
    days = (
        f", {_plural(campaign.days_since_launch, 'day')} before the data was fetched"
        if campaign.days_since_launch is not None
        else ""
    )
    lead = (
        f'<p class="aa-summary-lead">Latest completed campaign: <strong>{_e(campaign.name)}'
        f"</strong> ({_e(campaign.module_title)}, launched {_e(when)}{_e(days)}).</p>"
    )
    return lead + f'<div class="aa-summary-figures">{"".join(figures)}</div>'


def _comparison_html(summary: Summary) -> str:
    if summary.headline_campaign is None:
        return ""
    tolerance = f"±{COMPARABLE_SIZE_TOLERANCE:.0%}"
    previous = summary.previous
    headline_people = next(
        (r.people for r in summary.headline if r.metric == "acknowledgement" and r.shown), None
    )
    if previous is None and headline_people is None:
        return (
            '<p class="aa-summary-note">No change is shown: this campaign\'s totals are hidden, '
            "so no earlier campaign can be judged comparable.</p>"
        )
    if previous is None:
        return (
            '<p class="aa-summary-note">No comparable earlier campaign: no completed campaign '
            f"launched before it was sent to a similar audience (people sent within {tolerance}"
            "), so no change is shown.</p>"
        )
    sentence = (
        f"Change from <strong>{_e(previous.campaign.name)}</strong> (launched "
        f"{_e(_date(previous.campaign.launch_date))}, sent to {previous.people:,} people"
    )
    if headline_people is not None:
        sentence += f", within {tolerance} of this campaign's {headline_people:,}"
    sentence += (
        "), in percentage points (pp). The same people are in both campaigns, so intervals "
        "and significance allow for it (person-clustered); a change is called significant at "
        f"Benjamini-Hochberg q &lt; {SIGNIFICANCE_LEVEL} over the metrics compared."
    )
    if not previous.same_module:
        sentence += (
            f" The campaigns taught different modules ({_e(summary.headline_campaign.module_title)}"
            f", {_e(previous.campaign.module_title)}), so the accuracy change compares "
            "different questions."
        )
    if not previous.changes:
        sentence += " Its figures are hidden, so no change is shown."
    return f'<p class="aa-summary-note">{sentence}</p>'


def _running_item(item: RunningCampaign, k: int) -> str:
    campaign, completion = item.campaign, item.completion
    days = (
        f"{_plural(campaign.days_since_launch, 'day')} since launch"
        if campaign.days_since_launch is not None
        else "launch date unknown"
    )
    if completion.shown:
        progress = (
            f"{_percent(completion.rate)} completed so far ({_counted(completion)}; "
            f"{_interval(completion)}); this rises as people answer"
        )
    else:
        progress = f"completion {_hidden_text(k)}"
    return (
        f"<li><strong>{_e(campaign.name)}</strong>: still running, {_e(days)}; {_e(progress)}.</li>"
    )


def _running_html(summary: Summary) -> str:
    if not summary.running:
        items = "<p>None: every campaign analysed has completed.</p>"
    else:
        items = (
            "<ul>"
            + "".join(_running_item(r, summary.min_group_size) for r in summary.running)
            + "</ul>"
        )
    return (
        "<h3>Still running</h3>"
        f'<p class="aa-summary-note">Launched fewer than {RUNNING_DAYS} days before the data was '
        "fetched: people are still answering, so these rates are progress, not results.</p>" + items
    )


def _department_item(department: DifferingDepartment) -> str:
    symbol = "▲" if department.direction == "above" else "▼"
    rate = department.rate
    return (
        f'<li class="aa-summary-{_e(department.direction)}"><span aria-hidden="true">{symbol}'
        f"</span> {_e(department.direction)}: <strong>{_e(department.department)}</strong> "
        f"{_e(_percent(rate.rate))} ({_e(_interval(rate))}; {_e(_counted(rate))})</li>"
    )


def _departments_html(summary: Summary) -> str:
    if not summary.completed_campaigns:
        return ""
    scope = _plural(len(summary.completed_campaigns), "completed campaign")
    counted = (
        " Pooled over campaigns, so counts are enrolments or answers, and one person counts "
        "once per campaign."
        if len(summary.completed_campaigns) > 1
        else " Counts are people, and answers for accuracy."
    )
    parts = [
        "<h3>Departments that differ</h3>",
        f'<p class="aa-summary-note">Over the {_e(scope)}, each department against the rest of '
        "the organisation (z-test on the person-clustered effective n, Benjamini-Hochberg "
        f"q &lt; {SIGNIFICANCE_LEVEL}): the rule the department pages use.{counted}</p>",
    ]
    for metric in DEPARTMENT_SUMMARY_METRICS:
        flagged = [d for d in summary.departments if d.metric == metric]
        organisation = next(
            (d.organisation_rate for d in flagged if math.isfinite(d.organisation_rate)), None
        )
        heading = DEFINITIONS[metric].label
        if organisation is not None:
            heading += f" (organisation {_percent(organisation)})"
        parts.append(f"<h4>{_e(heading)}</h4>")
        if flagged:
            parts.append("<ul>" + "".join(_department_item(d) for d in flagged) + "</ul>")
        else:
            parts.append("<p>No department differs from the rest of the organisation.</p>")
    return "".join(parts)


def _question_item(question: AttentionQuestion) -> str:
    accuracy = question.accuracy
    return (
        f"<li><strong>{_e(question.label)}</strong> ({_e(question.campaign.name)}): "
        f"{_e(_percent(accuracy.rate))} correct ({_e(_interval(accuracy))}; "
        f"{_e(_counted(accuracy))})</li>"
    )


def _questions_html(summary: Summary) -> str:
    if not summary.completed_campaigns:
        return ""
    body = (
        "<ol>" + "".join(_question_item(q) for q in summary.questions) + "</ol>"
        if summary.questions
        else "<p>No question has answers to show.</p>"
    )
    return (
        "<h3>Questions that need attention</h3>"
        '<p class="aa-summary-note">The lowest accuracy among the questions of the completed '
        "campaigns (the API has no question text: each is named by number and module).</p>" + body
    )


def _counts_note(summary: Summary) -> str:
    k = summary.min_group_size
    suppression = (
        f"Groups of fewer than {k} people are hidden, and a hidden department is never named."
        if k > 1
        else "Small-group suppression is OFF: for private exploration only, do not share."
    )
    return (
        '<p class="aa-summary-note"><small>What the figures count: acknowledgement and '
        "completion count the people sent a campaign (one enrolment per person); accuracy counts "
        "answered questions (correct out of correct + incorrect; a question not answered is "
        "not counted as wrong). "
        f"Intervals are {CONFIDENCE:.0%} Wilson intervals. {_e(suppression)} Data as of "
        f"{_e(summary.as_of.strftime('%Y-%m-%d'))}.</small></p>"
    )


# -- the fragment, and what it publishes -------------------------------------------------------


def summary_records(summary: Summary) -> list[dict[str, Any]]:
    """The figures the summary shows, as report records (see
    :func:`awareness_analysis.views.figures.figure_records`): engine rows with their cells."""
    records: list[dict[str, Any]] = []
    for shown in summary.shown:
        records += figure_records(
            shown.table, view=shown.view, chart=SUMMARY_CHART, campaign=shown.campaign or ALL
        )
    return records


def publish_summary(analysis: Analysis, summary: Summary) -> None:
    """In a report run, log the summary's figures (``figures.csv`` and the disclosure audit)."""
    if analysis.context is not None:
        analysis.context.publish(summary_records(summary))


def summary_html(analysis: Analysis, summary: Summary | None = None) -> str:
    """The "At a glance" fragment of ``analysis`` (``summary``: :func:`summarise` of it, when
    already computed). In a report run its figures are logged for the audit: call it once per
    page that shows it."""
    summary = summary if summary is not None else summarise(analysis)
    publish_summary(analysis, summary)
    return (
        f'<section class="aa-summary"><style>{SUMMARY_CSS}</style>'
        "<h2>At a glance</h2>"
        f"{_headline_html(summary)}{_comparison_html(summary)}{_running_html(summary)}"
        f"{_departments_html(summary)}{_questions_html(summary)}{_counts_note(summary)}"
        "</section>"
    )


class SummaryPanel:
    """The summary for a notebook: Jupyter shows it as the :func:`summary_html` fragment.

    Rendered (and, in a report run, published) once, when made; ``summary`` holds the numbers
    to continue with in Python.
    """

    def __init__(self, analysis: Analysis, summary: Summary | None = None) -> None:
        self.summary = summary if summary is not None else summarise(analysis)
        self.html = summary_html(analysis, self.summary)

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        campaign = self.summary.headline_campaign
        name = campaign.name if campaign is not None else "no completed campaign"
        return f"SummaryPanel(headline={name!r}, running={len(self.summary.running)})"
