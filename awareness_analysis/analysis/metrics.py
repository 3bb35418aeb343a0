"""What every figure counts, and the public pandas functions that compute rate tables.

A *rate table* is a DataFrame with a plain RangeIndex, key columns (campaign, question or
department) and the common columns

``metric`` (str), ``successes``, ``n``, ``people`` (Int64; ``<NA>`` when suppressed), ``rate``,
``ci_low``, ``ci_high`` (float64, 95% Wilson score interval on the effective n; NaN when
n == 0), ``design_effect`` (float64) and ``suppressed`` (bool). ``attrs["unit"]`` says what
``n`` counts: ``enrolments`` (campaign x person rows) or ``answers``; ``people`` counts
distinct people in n. Within one campaign a person is one enrolment, so n and people agree.

Definitions (see :data:`DEFINITIONS`):

* sent = people enrolled in the campaign (rows of ``users``);
* acknowledgement = acknowledged / sent;
* completion = enrolments with any answer (``outcome != "sent"``) / sent;
* accuracy = correct / (correct + incorrect) answers; unanswered (``sent``) answers are not
  wrong: they leave the denominator and are reported as ``not_answered``;
* all-correct = enrolments correct on every question of the module / enrolments that answered.

Everything is computed by the one engine (:mod:`awareness_analysis.analysis.engine`); the
functions here run it on the frames they are given, with no selection and no suppression.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from awareness_analysis.analysis.engine import SIGNIFICANCE_LEVEL, Engine
from awareness_analysis.analysis.stats import (
    CONFIDENCE,
    benjamini_hochberg,
    funnel_limits,
    wilson_interval,
)
from awareness_analysis.vocabulary import DEPARTMENT_METRICS, SUPPRESSED_LABEL, USER_METRICS

__all__ = [
    "BASELINE_NOTE",
    "CLUSTERING_NOTE",
    "CONFIDENCE",
    "DEFINITIONS",
    "DEPARTMENT_METRICS",
    "SIGNIFICANCE_LEVEL",
    "SIGNIFICANCE_NOTE",
    "SUPPRESSED_LABEL",
    "USER_METRICS",
    "MetricDefinition",
    "benjamini_hochberg",
    "campaign_rates",
    "department_comparison",
    "funnel_limits",
    "question_accuracy",
    "wilson_interval",
]

#: How intervals and tests allow for one person counted many times.
CLUSTERING_NOTE = (
    "Pooled: n counts enrolments or answers, not people; effective n = n / person-clustered "
    "design effect."
)
#: What a department is compared with.
BASELINE_NOTE = (
    "Organisation = everyone in the selected campaigns and statuses, whatever departments or "
    "search are shown."
)
#: When a department is called different.
SIGNIFICANCE_NOTE = (
    "Above/below: z-test of the department against the rest of the organisation, "
    f"Benjamini-Hochberg q < {SIGNIFICANCE_LEVEL}."
)


@dataclass(frozen=True)
class MetricDefinition:
    """What a rate counts, in words fit for a chart footnote."""

    name: str
    label: str
    numerator: str
    denominator: str
    exclusions: tuple[str, ...] = ()

    def text(self) -> str:
        """One plain-text paragraph defining the rate, e.g. for a chart footnote."""
        excludes = f" Excludes: {'; '.join(self.exclusions)}." if self.exclusions else ""
        return (
            f"{self.label} = {self.numerator} / {self.denominator} (n).{excludes} "
            f"{CONFIDENCE:.0%} Wilson interval on the effective n."
        )


DEFINITIONS: dict[str, MetricDefinition] = {
    "acknowledgement": MetricDefinition(
        name="acknowledgement",
        label="Acknowledgement rate",
        numerator="enrolments acknowledged",
        denominator="enrolments sent",
    ),
    "completion": MetricDefinition(
        name="completion",
        label="Completion rate",
        numerator="enrolments with at least one question answered",
        denominator="enrolments sent",
    ),
    "accuracy": MetricDefinition(
        name="accuracy",
        label="Question accuracy",
        numerator="correct answers",
        denominator="answered questions (correct + incorrect)",
        exclusions=("questions not answered (SENT), which are not counted as wrong",),
    ),
    "all_correct": MetricDefinition(
        name="all_correct",
        label="All-correct rate",
        numerator="enrolments correct on every question of the module",
        denominator="enrolments with at least one answer",
        exclusions=("enrolments with nothing answered (SENT)",),
    ),
}


def campaign_rates(users: pd.DataFrame) -> pd.DataFrame:
    """Acknowledgement, completion and all-correct rates per campaign (long form).

    One row per campaign present in ``users`` x metric (``USER_METRICS`` order), key columns
    ``campaign_id`` and ``campaign_name`` before the rate-table columns; campaigns in the order
    of the ``campaign_id`` categories (launch order).
    """
    return Engine(users).view().campaign_rates()


def question_accuracy(answers: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per campaign x question of the answers of ``users``.

    Columns ``campaign_id``, ``campaign_name``, ``question``, ``correct``, ``incorrect``,
    ``not_answered``, then the rate-table columns with metric ``"accuracy"`` (n = correct +
    incorrect). Answers whose (campaign, email) no row of ``users`` has are left out.
    """
    return Engine(users, answers).view().question_accuracy()


def department_comparison(
    users: pd.DataFrame, metric: str, *, answers: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Each department of ``users`` against the rest of ``users``, with BH-adjusted significance.

    ``users`` is the organisation (the baseline). For ``metric="accuracy"`` pass ``answers``.
    See :meth:`awareness_analysis.analysis.engine.View.department_comparison` for the columns.
    """
    if metric == "accuracy" and answers is None:
        raise ValueError("department_comparison(metric='accuracy') needs answers=")
    return Engine(users, answers).view().department_comparison(metric)
