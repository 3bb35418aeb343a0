"""Tables for notebooks and reports, each shown with the definitions of its numbers.

Every function returns a :class:`DefinedTable`: a DataFrame plus the notes (metric definitions,
suppression) that must travel with it, rendered together in notebooks and HTML reports.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from awareness_analysis.analysis.metrics import (
    BASELINE_NOTE,
    CLUSTERING_NOTE,
    DEFINITIONS,
    SIGNIFICANCE_NOTE,
)
from awareness_analysis.analysis.phases import RUNNING_DAYS, annotate_campaigns, question_label
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.stats import format_p
from awareness_analysis.views.figures import figure_records
from awareness_analysis.vocabulary import DEPARTMENT_METRICS, SUPPRESSED_LABEL

RUNNING_NOTE = (
    f"Running: launched fewer than {RUNNING_DAYS} days before the data was fetched; people are "
    "still answering, so its rates will rise."
)


@dataclass(frozen=True)
class DefinedTable:
    """A table and the sentences that define its numbers."""

    frame: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)
    title: str = ""
    #: One sentence under the title: what the table is for.
    lead: str = ""

    def _repr_html_(self) -> str:
        # The table's own section heading, so a notebook needs no heading of its own above it.
        heading = f"<h2>{html.escape(self.title)}</h2>" if self.title else ""
        lead = f"<p>{html.escape(self.lead)}</p>" if self.lead else ""
        notes = "".join(f"<p><small>{html.escape(n)}</small></p>" for n in self.notes)
        body = (
            "<p><i>No rows for this selection.</i></p>"
            if self.frame.empty
            else self.frame.to_html(index=False, na_rep="—", float_format=_percent_or_number)
        )
        return heading + lead + body + notes

    def __repr__(self) -> str:
        parts = [self.title] if self.title else []
        if self.lead:
            parts.append(self.lead)
        parts.append(self.frame.to_string(index=False) if not self.frame.empty else "(no rows)")
        parts.extend(self.notes)
        return "\n".join(parts)


def _percent_or_number(value: float) -> str:
    return f"{value:.1f}"


def _percent(series: pd.Series) -> pd.Series:
    return (series * 100).round(1)


def _suppression_note(analysis: Analysis) -> str:
    k = analysis.min_group_size
    if k <= 1:
        return "Small-group suppression is OFF: for private exploration only, do not share."
    return (
        f"Groups of fewer than {k} people (the minimum group size) are hidden, shown as "
        f"'{SUPPRESSED_LABEL}' or '—'."
    )


def _status(running: pd.Series, days: pd.Series) -> list[str]:
    return [
        f"running, {int(d)} day{'s' if int(d) != 1 else ''} since launch" if r else "completed"
        for r, d in zip(running, days, strict=True)
    ]


def campaign_summary(analysis: Analysis) -> DefinedTable:
    """One row per analysed campaign: module, launch date, questions and whether it is still
    running (the people each campaign reached are in the campaign chart, as suppression
    allows)."""
    campaigns = annotate_campaigns(analysis.campaigns, analysis.phases)
    frame = pd.DataFrame(
        {
            "campaign": campaigns["campaign_name"].astype(str),
            "module": campaigns["module_title"].astype(str),
            "launched": campaigns["launch_date"].dt.strftime("%Y-%m-%d"),
            "status": _status(campaigns["running"], campaigns["days_since_launch"]),
            "questions": campaigns["n_questions"].astype(int),
        }
    )
    return DefinedTable(
        frame,
        notes=(RUNNING_NOTE,),
        title="Campaigns",
        lead="Every campaign analysed, oldest first.",
    )


def hardest_questions(analysis: Analysis, limit: int = 10) -> DefinedTable:
    """Questions with the lowest accuracy, suppressed rows left out."""
    accuracy = analysis.view().question_accuracy()
    shown = accuracy[~accuracy["suppressed"] & (accuracy["n"].fillna(0) > 0)]
    shown = shown.sort_values("rate", kind="stable").head(limit)
    _publish(analysis, shown, "Hardest questions")
    shown = annotate_campaigns(shown, analysis.phases)
    frame = pd.DataFrame(
        {
            "campaign": [
                f"{name} (running)" if running else name
                for name, running in zip(
                    shown["campaign_name"].astype(str), shown["running"], strict=True
                )
            ],
            "question": [
                question_label(q, m)
                for q, m in zip(shown["question"].astype(int), shown["module_title"], strict=True)
            ],
            "accuracy %": _percent(shown["rate"]),
            "95% CI low %": _percent(shown["ci_low"]),
            "95% CI high %": _percent(shown["ci_high"]),
            "people who answered": shown["people"].astype("Int64"),
        }
    )
    return DefinedTable(
        frame,
        notes=(DEFINITIONS["accuracy"].text(), _suppression_note(analysis)),
        title="Hardest questions",
        lead=(
            "Lowest accuracy first; questions answered by fewer people than the minimum group "
            "size are left out."
        ),
    )


def significant_departments(
    analysis: Analysis, metrics: Sequence[str] = DEPARTMENT_METRICS
) -> DefinedTable:
    """Departments whose rate differs from the rest of the organisation, for every metric.

    One row per (metric, department) flagged significant (Benjamini-Hochberg q < 0.05 over
    the departments tested for that metric), with p- and q-values to two significant digits.
    """
    view = analysis.view()
    parts = []
    for metric in metrics:
        comparison = view.department_comparison(metric)
        flagged = comparison[comparison["significant"]]
        _publish(analysis, flagged, "Departments that differ")
        unit = comparison.attrs["unit"]
        parts.append(
            pd.DataFrame(
                {
                    "metric": DEFINITIONS[metric].label,
                    "department": flagged["department"].astype(str),
                    "direction": flagged["direction"].astype(str),
                    "rate %": _percent(flagged["rate"]),
                    "organisation %": _percent(flagged["org_rate"]),
                    "people": flagged["people"].astype("Int64"),
                    "n": [f"{int(n):,} {unit}" for n in flagged["n"]],
                    "p value": [format_p(p) for p in flagged["p_value"]],
                    "q value": [format_p(q) for q in flagged["q_value"]],
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return DefinedTable(
        frame,
        notes=(
            *(DEFINITIONS[metric].text() for metric in metrics),
            SIGNIFICANCE_NOTE,
            BASELINE_NOTE,
            CLUSTERING_NOTE,
            _suppression_note(analysis),
        ),
        title="Departments that differ from the rest of the organisation",
        lead="Every metric, so the table agrees with whichever metric the chart shows.",
    )


def _publish(analysis: Analysis, rows: pd.DataFrame, title: str) -> None:
    """Log the figures a table shows in a report run (``figures.csv`` and the audit); a
    department table's organisation line comes with it."""
    if analysis.context is not None and len(rows):
        view = "All campaigns and departments"
        analysis.context.publish(figure_records(rows, view=view, chart=title))
