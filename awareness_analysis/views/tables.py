"""Tables for notebooks and reports, each shown with the definitions of its numbers.

Every function returns a :class:`DefinedTable`: a DataFrame plus the notes (metric definitions,
suppression) that must travel with it, rendered together in notebooks and HTML reports.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from awareness_analysis.analysis.metrics import (
    DEFINITIONS,
    department_comparison,
    question_accuracy,
)
from awareness_analysis.analysis.privacy import suppress_departments, suppress_rows
from awareness_analysis.analysis.session import Analysis


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
    return f"Groups with fewer than {k} users are suppressed (shown as '(suppressed)' or '—')."


def campaign_summary(analysis: Analysis) -> DefinedTable:
    """One row per campaign: module, launch date, questions and users sent."""
    campaigns = analysis.frames.campaigns
    frame = pd.DataFrame(
        {
            "campaign": campaigns["campaign_name"].astype(str),
            "module": campaigns["module_title"].astype(str),
            "launched": campaigns["launch_date"].dt.strftime("%Y-%m-%d"),
            "questions": campaigns["n_questions"].astype(int),
            "users sent": campaigns["num_sent"].astype(int),
        }
    )
    return DefinedTable(
        frame,
        notes=("Users sent = users enrolled in the campaign, as counted by Mimecast.",),
        title="Campaigns",
    )


def hardest_questions(analysis: Analysis, limit: int = 10) -> DefinedTable:
    """Questions with the lowest accuracy, suppressed rows left out."""
    users = analysis.frames.users
    accuracy = suppress_rows(
        question_accuracy(analysis.frames.answers, users), analysis.min_group_size
    )
    shown = accuracy[~accuracy["suppressed"] & (accuracy["n"].fillna(0) > 0)]
    shown = shown.sort_values("rate", kind="stable").head(limit)
    frame = pd.DataFrame(
        {
            "campaign": shown["campaign_name"].astype(str),
            "question": shown["question"].astype(int),
            "accuracy %": _percent(shown["rate"]),
            "95% CI low %": _percent(shown["ci_low"]),
            "95% CI high %": _percent(shown["ci_high"]),
            "answered (n)": shown["n"].astype("Int64"),
            "not answered": shown["not_answered"].astype("Int64"),
        }
    )
    return DefinedTable(
        frame,
        notes=(DEFINITIONS["accuracy"].text(), _suppression_note(analysis)),
        title="Hardest questions",
    )


def significant_departments(analysis: Analysis, metric: str = "acknowledgement") -> DefinedTable:
    """Departments whose rate differs from the organisation's after BH control."""
    users = suppress_departments(analysis.frames.users, analysis.min_group_size).users
    comparison = department_comparison(users, metric, answers=analysis.frames.answers)
    flagged = comparison[comparison["significant"]]
    frame = pd.DataFrame(
        {
            "department": flagged["department"].astype(str),
            "direction": flagged["direction"].astype(str),
            "rate %": _percent(flagged["rate"]),
            "organisation %": _percent(flagged["org_rate"]),
            "n": flagged["n"].astype("Int64"),
            "q value": flagged["q_value"].round(4),
        }
    )
    return DefinedTable(
        frame,
        notes=(
            DEFINITIONS[metric].text(),
            "Significant = Benjamini-Hochberg adjusted q < 0.05 over all departments compared "
            "(two-sided test of the department's rate against the organisation's).",
            _suppression_note(analysis),
        ),
        title=f"Departments that differ: {DEFINITIONS[metric].label}",
    )
