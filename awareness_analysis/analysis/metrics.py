"""Rates, intervals and department comparisons computed from the tidy frames.

Every metric function is a pure function of the frames in :mod:`awareness_analysis.data.frames` (or a
filtered subset of them) and returns a *rate table*: a DataFrame with a plain RangeIndex and the
common columns

``metric`` (str), ``successes`` (Int64), ``n`` (Int64), ``rate`` (float64, NaN when n == 0),
``ci_low``, ``ci_high`` (float64, 95% Wilson score interval, NaN when n == 0), ``suppressed``
(bool; always False here, :func:`awareness_analysis.analysis.privacy.suppress_rows` sets it).

``successes`` and ``n`` are nullable so that suppressed rows can hold ``<NA>``.

Definitions (see :data:`DEFINITIONS`):

* sent = users enrolled in the campaign (rows of ``users``); the n of user-level rates;
* acknowledgement = acknowledged / sent;
* completion = users with any answer (``outcome != "sent"``) / sent;
* accuracy = correct / (correct + incorrect) per question; unanswered (``sent``) answers are not
  wrong: they leave the denominator and are reported as ``not_answered``;
* all-correct = users correct on every question of the module (``n_correct == n_questions > 0``)
  / users who answered anything.

Grouping uses ``observed=True`` throughout: a category with no rows in the (filtered) frame, such
as a campaign filtered out, yields no row rather than a row of zeros.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CONFIDENCE",
    "DEFINITIONS",
    "DEPARTMENT_METRICS",
    "SIGNIFICANCE_LEVEL",
    "SUPPRESSED_DEPARTMENT",
    "USER_METRICS",
    "MetricDefinition",
    "benjamini_hochberg",
    "campaign_rates",
    "department_comparison",
    "funnel_limits",
    "question_accuracy",
    "wilson_interval",
]

#: Confidence level of every interval in the rate tables.
CONFIDENCE = 0.95
#: A department differs from the organisation when its BH-adjusted q-value is below this.
SIGNIFICANCE_LEVEL = 0.05
#: Department label of rows pooled by small-group suppression. Same value as
#: ``awareness_analysis.analysis.privacy.SUPPRESSED_LABEL``; repeated here because privacy builds on
#: metrics, not the other way round.
SUPPRESSED_DEPARTMENT = "(suppressed)"
#: Metrics computed per user, in the order :func:`campaign_rates` lists them.
USER_METRICS = ("acknowledgement", "completion", "all_correct")
#: Metrics :func:`department_comparison` accepts.
DEPARTMENT_METRICS = (*USER_METRICS, "accuracy")

_NORMAL = NormalDist()
_COMMON_COLUMNS = ("metric", "successes", "n", "rate", "ci_low", "ci_high", "suppressed")


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
        excludes = "; ".join(self.exclusions) if self.exclusions else "none"
        return (
            f"{self.label} = {self.numerator} / {self.denominator} (n). "
            f"Excludes: {excludes}. {CONFIDENCE:.0%} Wilson interval."
        )


DEFINITIONS: dict[str, MetricDefinition] = {
    "acknowledgement": MetricDefinition(
        name="acknowledgement",
        label="Acknowledgement rate",
        numerator="acknowledged users",
        denominator="users sent the campaign",
    ),
    "completion": MetricDefinition(
        name="completion",
        label="Completion rate",
        numerator="users who answered at least one question",
        denominator="users sent the campaign",
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
        numerator="users correct on every question of the module",
        denominator="users who answered at least one question",
        exclusions=("users who answered nothing (SENT)",),
    ),
}


# --- statistics helpers ---------------------------------------------------------------------


def _float_array(values: Any) -> np.ndarray:
    """``values`` as float64, with pandas <NA> as NaN."""
    if isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _z_for(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def wilson_interval(
    successes: Any, n: Any, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``successes`` out of ``n`` (array-likes, broadcast together).

    Returns float arrays ``(low, high)``, NaN where ``n`` is 0 or missing. Bounds lie in [0, 1];
    ``low`` is exactly 0 at 0 successes and ``high`` exactly 1 at ``n`` successes.
    """
    z = _z_for(confidence)
    x, total = np.broadcast_arrays(_float_array(successes), _float_array(n))
    valid = total > 0  # False for NaN too
    if np.any(valid & ((x < 0) | (x > total) | np.isnan(x))):
        raise ValueError("successes must lie between 0 and n")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / total
        z2_n = z * z / total
        denominator = 1 + z2_n
        centre = (p + z2_n / 2) / denominator
        half = z * np.sqrt(p * (1 - p) / total + z2_n / (4 * total)) / denominator
    low = np.where(valid, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(valid, np.clip(centre + half, 0.0, 1.0), np.nan)
    # centre - half is 0 analytically at p = 0 (and centre + half is 1 at p = 1); pin them so
    # rounding cannot leave a bound a hair inside.
    low = np.where(valid & (x == 0), 0.0, low)
    high = np.where(valid & (x == total), 1.0, high)
    return low, high


def benjamini_hochberg(p_values: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted q-values, in the order of ``p_values``.

    q_(i) = min over j >= i of p_(j) * m / j (p sorted ascending, m = number of non-NaN
    p-values), capped at 1, so q is monotone in p. NaN p-values pass through as NaN and do not
    count towards m.
    """
    p = _float_array(p_values)
    flat = p.ravel()
    q = np.full(flat.shape, np.nan)
    valid = ~np.isnan(flat)
    values = flat[valid]
    if np.any((values < 0) | (values > 1)):
        raise ValueError("p-values must lie between 0 and 1")
    m = values.size
    if m:
        order = np.argsort(values, kind="stable")
        scaled = values[order] * m / np.arange(1, m + 1)
        # Running minimum from the largest p down enforces monotonicity.
        adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        unsorted = np.empty(m)
        unsorted[order] = adjusted
        q[valid] = unsorted
    return q.reshape(p.shape)


def funnel_limits(
    org_rate: float, n: Any, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Funnel-plot control limits ``p0 ± z * sqrt(p0 (1 - p0) / n)`` clipped to [0, 1].

    Normal approximation around the organisation rate ``p0``; use confidence 0.95 and 0.998 for
    the usual two funnels. NaN where ``n`` <= 0 or ``org_rate`` is NaN.
    """
    z = _z_for(confidence)
    p0 = float(org_rate)
    size = _float_array(n)
    valid = (size > 0) & np.isfinite(p0)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = z * np.sqrt(p0 * (1 - p0) / size)
    low = np.where(valid, np.clip(p0 - spread, 0.0, 1.0), np.nan)
    high = np.where(valid, np.clip(p0 + spread, 0.0, 1.0), np.nan)
    return low, high


# --- rate tables ----------------------------------------------------------------------------


def _rate_columns(metric: str, successes: np.ndarray, n: np.ndarray) -> dict[str, Any]:
    """The common rate-table columns for integer ``successes`` out of ``n``."""
    successes = np.asarray(successes, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, successes / n, np.nan)
    low, high = wilson_interval(successes, n)
    return {
        "metric": pd.array([metric] * len(n), dtype="str"),
        "successes": pd.array(successes, dtype="Int64"),
        "n": pd.array(n, dtype="Int64"),
        "rate": rate.astype(np.float64),
        "ci_low": low.astype(np.float64),
        "ci_high": high.astype(np.float64),
        "suppressed": np.zeros(len(n), dtype=bool),
    }


def _compact_categorical(values: Any) -> pd.Categorical | pd.Series:
    """Categorical values without unused categories (keeps category order); others as str."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Categorical(values).remove_unused_categories()
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def _answered(users: pd.DataFrame) -> np.ndarray:
    return (users["outcome"] != "sent").to_numpy(dtype=bool)


def _all_correct(users: pd.DataFrame) -> np.ndarray:
    n_questions = users["n_questions"].to_numpy()
    return _answered(users) & (n_questions > 0) & (users["n_correct"].to_numpy() == n_questions)


def _user_metric(users: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-user (success, counted) flags: counted rows form n, success & counted the numerator."""
    if metric == "acknowledgement":
        return users["acknowledged"].to_numpy(dtype=bool), np.ones(len(users), dtype=bool)
    if metric == "completion":
        return _answered(users), np.ones(len(users), dtype=bool)
    if metric == "all_correct":
        return _all_correct(users), _answered(users)
    raise ValueError(f"unknown user metric {metric!r}; expected one of {USER_METRICS}")


def campaign_rates(users: pd.DataFrame) -> pd.DataFrame:
    """Acknowledgement, completion and all-correct rates per campaign (long form).

    One row per campaign present in ``users`` x metric (``USER_METRICS`` order), with key
    columns ``campaign_id`` and ``campaign_name`` before the common rate-table columns. Campaigns
    come in the order of the ``campaign_id`` categories (launch order); campaigns with no rows
    in ``users`` (e.g. filtered out) do not appear.
    """
    flags = pd.DataFrame(
        {
            "campaign_id": users["campaign_id"],
            "campaign_name": users["campaign_name"],
            "sent": np.ones(len(users), dtype=np.int64),
            "acknowledged": users["acknowledged"].to_numpy(dtype=bool),
            "answered": _answered(users),
            "all_correct": _all_correct(users),
        }
    )
    per_campaign = flags.groupby(["campaign_id", "campaign_name"], observed=True, sort=True).sum()
    return _campaign_rates_table(
        per_campaign.index.get_level_values("campaign_id"),
        per_campaign.index.get_level_values("campaign_name"),
        sent=per_campaign["sent"].to_numpy(),
        acknowledged=per_campaign["acknowledged"].to_numpy(),
        answered=per_campaign["answered"].to_numpy(),
        all_correct=per_campaign["all_correct"].to_numpy(),
    )


def _campaign_rates_table(
    campaign_ids: pd.Index,
    campaign_names: pd.Index,
    *,
    sent: np.ndarray,
    acknowledged: np.ndarray,
    answered: np.ndarray,
    all_correct: np.ndarray,
) -> pd.DataFrame:
    """The :func:`campaign_rates` table from per-campaign counts (one entry per campaign).

    Shared by :func:`campaign_rates` and the precomputed path of
    :mod:`awareness_analysis.analysis.prepared`, so both build the very same table.
    """
    n_metrics = len(USER_METRICS)
    # Campaign-major stacking: row i * 3 + j is campaign i, metric j.
    successes = np.column_stack([acknowledged, answered, all_correct]).reshape(-1)
    n = np.column_stack([sent, sent, answered]).reshape(-1)
    table = pd.DataFrame(
        {
            "campaign_id": _compact_categorical(campaign_ids.repeat(n_metrics)),
            "campaign_name": _compact_categorical(campaign_names.repeat(n_metrics)),
        }
    )
    columns = _rate_columns("", successes, n)
    columns["metric"] = pd.array(list(USER_METRICS) * len(sent), dtype="str")
    for name in _COMMON_COLUMNS:
        table[name] = columns[name]
    return table


def question_accuracy(answers: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per campaign x question: correct / (correct + incorrect).

    Columns: ``campaign_id``, ``campaign_name``, ``question``, ``correct``, ``incorrect``,
    ``not_answered`` (Int64), then the common rate-table columns with metric ``"accuracy"``,
    successes = correct and n = correct + incorrect (n = 0 -> NaN rate and interval when nobody
    answered). ``answers`` should already hold only the selected users
    (:meth:`awareness_analysis.analysis.filters.Selection.apply_answers`); ``users`` supplies campaign
    names (``""`` for a campaign it lacks). Ordered by campaign category order, then question.
    """
    result = answers["result"]
    counts = pd.DataFrame(
        {
            "campaign_id": answers["campaign_id"],
            "question": answers["question"],
            "correct": (result == "correct").to_numpy(dtype=np.int64),
            "incorrect": (result == "incorrect").to_numpy(dtype=np.int64),
            "not_answered": (result == "sent").to_numpy(dtype=np.int64),
        }
    )
    per_question = counts.groupby(["campaign_id", "question"], observed=True, sort=True).sum()
    return _question_accuracy_table(
        per_question.index.get_level_values("campaign_id"),
        per_question.index.get_level_values("question"),
        correct=per_question["correct"].to_numpy(),
        incorrect=per_question["incorrect"].to_numpy(),
        not_answered=per_question["not_answered"].to_numpy(),
        name_of=_campaign_name_of(users),
    )


def _campaign_name_of(users: pd.DataFrame) -> dict[str, str]:
    """Campaign id -> name, from the first row of each campaign in ``users``."""
    names = users.drop_duplicates("campaign_id").set_index("campaign_id")["campaign_name"]
    return dict(zip(names.index.astype(str), names.astype(str), strict=True))


def _question_accuracy_table(
    campaign_ids: pd.Index,
    questions: pd.Index,
    *,
    correct: np.ndarray,
    incorrect: np.ndarray,
    not_answered: np.ndarray,
    name_of: dict[str, str],
) -> pd.DataFrame:
    """The :func:`question_accuracy` table from per campaign x question counts.

    Shared by :func:`question_accuracy` and the precomputed path of
    :mod:`awareness_analysis.analysis.prepared`, so both build the very same table.
    """
    row_names = [name_of.get(cid, "") for cid in campaign_ids.astype(str)]  # one per row, small
    table = pd.DataFrame(
        {
            "campaign_id": _compact_categorical(campaign_ids),
            "campaign_name": pd.Categorical(pd.array(row_names, dtype="str")),
            "question": questions.to_numpy(),
            "correct": pd.array(correct, dtype="Int64"),
            "incorrect": pd.array(incorrect, dtype="Int64"),
            "not_answered": pd.array(not_answered, dtype="Int64"),
        }
    )
    for name, values in _rate_columns("accuracy", correct, correct + incorrect).items():
        table[name] = values
    return table


def _department_flags(
    users: pd.DataFrame, metric: str, answers: pd.DataFrame | None
) -> tuple[Any, np.ndarray, np.ndarray]:
    """(department per row, success, counted) for ``metric``; rows are users or answers."""
    if metric == "accuracy":
        if answers is None:
            raise ValueError("department_comparison(metric='accuracy') needs answers=")
        keys = ["campaign_id", "email"]
        # A user listed twice in a campaign would otherwise count each answer twice.
        people = users[[*keys, "department"]].drop_duplicates(keys)
        joined = answers[[*keys, "result"]].merge(people, on=keys, how="inner")
        counted = (joined["result"] != "sent").to_numpy(dtype=bool)
        success = (joined["result"] == "correct").to_numpy(dtype=bool)
        return joined["department"], success, counted
    if metric not in USER_METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {DEPARTMENT_METRICS}")
    success, counted = _user_metric(users, metric)
    return users["department"], success, counted


def _two_sided_p(z: np.ndarray) -> np.ndarray:
    """Two-sided normal p-value 2 * (1 - Phi(|z|)), written as erfc(|z| / sqrt 2).

    Same quantity as via ``NormalDist().cdf``, but erfc keeps precision far into the tail where
    1 + erf(...) cancels to 0 (|z| > ~8), so large departments keep a nonzero, ordered p.
    """
    # One call per department (tens of rows), not per user.
    return np.array([math.erfc(abs(value) / math.sqrt(2)) for value in z], dtype=np.float64)


def department_comparison(
    users: pd.DataFrame, metric: str, *, answers: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Each department's rate against the organisation's, with BH-adjusted significance.

    One row per department present in ``users`` (for ``metric="accuracy"``: in ``answers``
    joined to ``users`` on campaign_id + email, which gives each answer its department). Columns:
    ``department`` (str), the common rate-table columns, ``org_rate`` (the rate over the whole
    frame), ``z`` = (rate - org_rate) / sqrt(org_rate (1 - org_rate) / n), two-sided normal
    ``p_value``, ``q_value`` (Benjamini-Hochberg over the departments compared),
    ``significant`` (q_value < 0.05) and ``direction`` ("above", "below", "as expected",
    "suppressed" or "no data"). Sorted by rate descending (NaN last), then department name.
    ``attrs`` holds metric, org_rate, org_successes, org_n and confidence.

    The ``"(suppressed)"`` pseudo-department (:data:`SUPPRESSED_DEPARTMENT`, the rows that
    :func:`awareness_analysis.analysis.privacy.suppress_departments` pooled) keeps its numbers, since
    its combined size is at least k and it is part of the organisation total, but it is not a
    real group: it is left out of the test and the BH family (z, p and q NaN, significant False,
    direction "suppressed"). Departments with n == 0 (e.g. nobody answered, for all-correct)
    likewise get NaN statistics and direction "no data". ``suppressed`` stays False: that
    column marks rows hidden by :func:`awareness_analysis.analysis.privacy.suppress_rows`.
    """
    departments, success, counted = _department_flags(users, metric, answers)
    per_department = (
        pd.DataFrame({"department": departments, "successes": success & counted, "n": counted})
        .groupby("department", observed=True, sort=True)
        .sum()
    )
    return _comparison_table(
        per_department.index,
        per_department["successes"].to_numpy(dtype=np.int64),
        per_department["n"].to_numpy(dtype=np.int64),
        metric=metric,
        org_successes=int(np.count_nonzero(success & counted)),
        org_n=int(np.count_nonzero(counted)),
    )


def _comparison_table(
    departments: pd.Index,
    successes: np.ndarray,
    n: np.ndarray,
    *,
    metric: str,
    org_successes: int,
    org_n: int,
) -> pd.DataFrame:
    """The :func:`department_comparison` table from per-department counts.

    Shared by :func:`department_comparison` and the precomputed path of
    :mod:`awareness_analysis.analysis.prepared`, so both build the very same table.
    """
    org_rate = org_successes / org_n if org_n else float("nan")
    names = pd.array(np.asarray(departments, dtype=object), dtype="str")
    table = pd.DataFrame({"department": names})
    for name, values in _rate_columns(metric, successes, n).items():
        table[name] = values

    pooled = np.asarray(names == SUPPRESSED_DEPARTMENT, dtype=bool)
    compared = ~pooled & (n > 0)
    rate = table["rate"].to_numpy()
    z = np.full(len(table), np.nan)
    if np.any(compared):
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.sqrt(org_rate * (1 - org_rate) / n[compared])
            diff = rate[compared] - org_rate
            # org_rate 0 or 1 forces every department to the same rate: no difference at all.
            z[compared] = np.where(se > 0, diff / se, 0.0)
    p_value = np.full(len(table), np.nan)
    p_value[compared] = _two_sided_p(z[compared])
    q_value = np.full(len(table), np.nan)
    q_value[compared] = benjamini_hochberg(p_value[compared])
    significant = compared & (np.nan_to_num(q_value, nan=1.0) < SIGNIFICANCE_LEVEL)
    direction = np.select(
        [pooled, n == 0, significant & (z > 0), significant & (z < 0)],
        ["suppressed", "no data", "above", "below"],
        default="as expected",
    )
    table["org_rate"] = np.full(len(table), org_rate, dtype=np.float64)
    table["z"] = z
    table["p_value"] = p_value
    table["q_value"] = q_value
    table["significant"] = significant
    table["direction"] = pd.array(direction.astype(object), dtype="str")
    table = table.sort_values(
        ["rate", "department"],
        ascending=[False, True],
        na_position="last",
        kind="stable",
        ignore_index=True,
    )
    table.attrs = {
        "metric": metric,
        "org_rate": org_rate,
        "org_successes": org_successes,
        "org_n": org_n,
        "confidence": CONFIDENCE,
    }
    return table
