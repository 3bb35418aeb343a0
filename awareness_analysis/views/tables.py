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
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.stats import format_p
from awareness_analysis.views.figures import figure_records
from awareness_analysis.vocabulary import DEPARTMENT_METRICS


@dataclass(frozen=True)
class DefinedTable:
    """A table and the sentences that define its numbers."""

    frame: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)
    title: str = ""

    def _repr_html_(self) -> str:
        heading = f"<h4>{html.escape(self.title)}</h4>" if self.title else ""
        notes = "".join(f"<p><small>{html.escape(n)}</small></p>" for n in self.notes)
        body = (
            "<p><i>No rows for this selection.</i></p>"
            if self.frame.empty
            else self.frame.to_html(index=False, na_rep="—", float_format=_percent_or_number)
        )
        return heading + body + notes

    def __repr__(self) -> str:
        parts = [self.title] if self.title else []
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
    return f"Groups of fewer than {k} people are suppressed (shown as '(suppressed)' or '—')."


def campaign_summary(analysis: Analysis) -> DefinedTable:
    """One row per analysed campaign: module, launch date and questions (the people each
    campaign reached are in the campaign chart, as suppression allows)."""
    campaigns = analysis.campaigns
    frame = pd.DataFrame(
        {
            "campaign": campaigns["campaign_name"].astype(str),
            "module": campaigns["module_title"].astype(str),
            "launched": campaigns["launch_date"].dt.strftime("%Y-%m-%d"),
            "questions": campaigns["n_questions"].astype(int),
        }
    )
    return DefinedTable(frame, title="Campaigns")


def hardest_questions(analysis: Analysis, limit: int = 10) -> DefinedTable:
    """Questions with the lowest accuracy, suppressed rows left out."""
    accuracy = analysis.view().question_accuracy()
    shown = accuracy[~accuracy["suppressed"] & (accuracy["n"].fillna(0) > 0)]
    shown = shown.sort_values("rate", kind="stable").head(limit)
    _publish(analysis, shown, "Hardest questions")
    frame = pd.DataFrame(
        {
            "campaign": shown["campaign_name"].astype(str),
            "question": shown["question"].astype(int),
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
    )


def _publish(analysis: Analysis, rows: pd.DataFrame, title: str) -> None:
    """Log the figures a table shows in a report run (``figures.csv`` and the audit); a
    department table's organisation line comes with it."""
    if analysis.context is not None and len(rows):
        view = "All campaigns and departments"
        analysis.context.publish(figure_records(rows, view=view, chart=title))
