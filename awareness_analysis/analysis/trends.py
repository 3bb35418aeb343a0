"""People over time: campaign trends, repeat non-completers and movement between campaigns.

Pure functions over the tidy frames of :mod:`awareness_analysis.data.frames` (``users``, one
row per campaign x person, and ``campaigns``); they do no I/O and never change their input.

* :func:`campaign_trend` -- a metric per campaign in launch order, and its trend: a logistic
  regression on years since the first launch, person-clustered, for the organisation and per
  department; targeted campaigns are marked and compared with their own audience only.
* :func:`completion_history` -- one row per person: campaigns received, answered,
  acknowledged, and runs of consecutive misses, counting only campaigns past their reminder
  window.
* :func:`missed_again` -- the chance of not answering a campaign after not answering the
  previous one, beside the chance after answering it.
* :func:`repeat_non_completers` -- the named people who missed each of their last campaigns.
* :func:`movement` -- among people in two campaigns: how those who failed the earlier one did
  in the later one, against those who passed it, and the paired change.

A person is a person: people are matched by email trimmed and lower-cased
(:func:`~awareness_analysis.analysis.privacy.person_keys`), and a person listed twice in one
campaign is one enrolment there (flags: any row's; answers: summed). Figures pooled over several
campaigns count enrolments (campaign x person), answers or transitions (pairs of campaigns), not
people, and their intervals and tests treat the person as the cluster (person-clustered sandwich
errors, or the person-clustered design effect of :mod:`awareness_analysis.analysis.stats`).

Metrics are the project's (:data:`awareness_analysis.analysis.metrics.DEFINITIONS`):
acknowledgement = acknowledged / enrolments; completion = enrolments with any answer /
enrolments; all-correct = enrolments correct on every question / enrolments that answered;
accuracy = correct / answered questions (from the ``n_correct`` and ``n_incorrect`` counts of
``users``, which :func:`~awareness_analysis.data.frames.build_frames` derives from the same
results as the ``answers`` frame; unanswered questions are not wrong).

Every returned table says in ``attrs["unit"]`` what a row or ``n`` counts and in
``attrs["note"]`` its caveats. Small groups follow the project's rule
(:mod:`awareness_analysis.analysis.privacy`): a row covering fewer than ``k`` people shows no
figures (``suppressed`` True, counts ``<NA>``, rates NaN); departments under ``k`` people are
folded into :data:`~awareness_analysis.vocabulary.SUPPRESSED_LABEL` together with further
departments chosen by :func:`~awareness_analysis.analysis.privacy.choose_hidden`, so a hidden
department cannot be worked out as the organisation minus the departments shown. ``k`` None, 0
or 1 switches suppression off. :func:`completion_history` and :func:`repeat_non_completers`
name people: they are lists for whoever may act on them, not for sharing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from scipy.special import expit
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep

from awareness_analysis.analysis.behaviour import blank_rows, require_columns
from awareness_analysis.analysis.disclosure import Publication
from awareness_analysis.analysis.engine import SIGNIFICANCE_LEVEL
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.phases import RUNNING_DAYS, as_utc, campaign_phases
from awareness_analysis.analysis.privacy import (
    DEFAULT_MIN_GROUP_SIZE,
    choose_hidden,
    person_keys,
    threshold,
)
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.stats import (
    CONFIDENCE,
    Z_CONFIDENCE,
    benjamini_hochberg,
    design_effect,
    two_sided_p,
    wilson_interval,
)
from awareness_analysis.vocabulary import (
    ACCURACY,
    DEPARTMENT_METRICS,
    SUPPRESSED_LABEL,
    UNASSIGNED_DEPARTMENT,
    UNIT_ANSWERS,
    UNIT_ENROLMENTS,
    UNIT_PEOPLE,
    USER_METRICS,
)

__all__ = [
    "DEFAULT_REMINDER_DAYS",
    "DEFAULT_TARGETED_SHARE",
    "DEFAULT_TARGETED_WINDOW_DAYS",
    "MOVEMENT_METRICS",
    "ORGANISATION_LABEL",
    "UNIT_TRANSITIONS",
    "TrendResult",
    "campaign_trend",
    "completion_history",
    "missed_again",
    "movement",
    "repeat_non_completers",
    "trend_campaign_ids",
    "trend_publications",
]

#: Days a campaign is given before a person who has not answered counts as having missed it
#: (Mimecast sends reminders for a few weeks after launch).
DEFAULT_REMINDER_DAYS = 28
#: A campaign whose audience is below this share of the largest audience around it is targeted.
DEFAULT_TARGETED_SHARE = 0.8
#: "Around it": campaigns launched at most this many days before or after.
DEFAULT_TARGETED_WINDOW_DAYS = 183
#: Metrics :func:`movement` accepts (pass / fail per person and campaign).
MOVEMENT_METRICS = USER_METRICS
#: Label of the organisation row in tables with one row per department as well.
ORGANISATION_LABEL = "(organisation)"
#: What a row of :func:`missed_again` counts.
UNIT_TRANSITIONS = "pairs of campaigns (consecutive campaigns one person received)"

_ALPHA = 1 - CONFIDENCE
_YEAR = pd.Timedelta(days=365.25)
_DATE_DTYPE = "datetime64[us, UTC]"
_USER_COLUMNS = (
    "campaign_id",
    "email",
    "department",
    "acknowledged",
    "outcome",
    "n_questions",
    "n_correct",
    "n_incorrect",
)
_CLUSTER_NOTE = (
    "One person is in many campaigns: pooled intervals and tests treat the person as the "
    "cluster (sandwich errors / design effect), so repeated rows are not independent evidence."
)
_OBSERVATIONAL_NOTE = (
    "Observational: campaigns differ in module and difficulty, and who is enrolled changes; a "
    "trend describes the results, not why they changed."
)


# -- helpers --------------------------------------------------------------------------------------


def _snapshot(value: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """``as_of`` in UTC; a naive time is taken as UTC."""
    try:
        return as_utc(value)
    except ValueError:
        raise ValueError("as_of must be a date and time, not missing") from None


def _days(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a whole number of days >= 0, not {value!r}")
    return int(value)


def _finite(value: float) -> float:
    value = float(value)
    return value if np.isfinite(value) else np.nan


def _small(k: int, people: int) -> bool:
    """The small-group rule: some people, but fewer than ``k`` (0 = off)."""
    return bool(k) and 0 < people < k


def _int(values: Any) -> pd.arrays.IntegerArray:
    return pd.array(np.asarray(values, dtype=np.int64), dtype="Int64")


def _campaign_table(
    users: pd.DataFrame, campaigns: pd.DataFrame, as_of: pd.Timestamp, running_days: int
) -> pd.DataFrame:
    """One row per campaign present in ``users``, in launch order (undated last, then by the
    order of ``campaigns``): ``campaign_id``, ``campaign_name``, ``launch_date``,
    ``days_since_launch`` (whole days at ``as_of``; NaN undated), ``running`` (the phases
    rule) and ``dated``."""
    require_columns(campaigns, ("campaign_id", "launch_date"), "campaigns")
    ids = campaigns["campaign_id"].astype("str").to_numpy(dtype=object)
    first = np.flatnonzero(~pd.Series(ids).duplicated().to_numpy())
    known = campaigns.iloc[first]
    if "campaign_name" not in known:
        known = known.assign(campaign_name=ids[first])
    phases = campaign_phases(known, as_of, running_days)
    table = pd.DataFrame(
        {
            "campaign_id": phases["campaign_id"].to_numpy(dtype=object),
            "campaign_name": known["campaign_name"].astype("str").to_numpy(dtype=object),
            "launch_date": pd.to_datetime(known["launch_date"], utc=True).to_numpy(),
            "days_since_launch": phases["days_since_launch"].to_numpy(dtype=np.float64),
            "running": phases["running"].to_numpy(dtype=bool),
        }
    )
    user_ids = users["campaign_id"]
    if isinstance(user_ids.dtype, pd.CategoricalDtype):
        used = user_ids.cat.categories[np.unique(user_ids.cat.codes[user_ids.cat.codes >= 0])]
        present = [str(cid) for cid in used]
    else:
        present = [str(cid) for cid in pd.unique(user_ids.astype("str").dropna())]
    listed = set(table["campaign_id"])
    extra = [cid for cid in present if cid not in listed]
    if extra:
        names = users["campaign_name"] if "campaign_name" in users else users["campaign_id"]
        name_of = (
            pd.Series(names.astype("str").to_numpy(dtype=object))
            .groupby(users["campaign_id"].astype("str").to_numpy(dtype=object))
            .first()
        )
        table = pd.concat(
            [
                table,
                pd.DataFrame(
                    {
                        "campaign_id": extra,
                        "campaign_name": [name_of.get(cid, cid) for cid in extra],
                        "launch_date": pd.Series(
                            pd.NaT, index=range(len(extra)), dtype=_DATE_DTYPE
                        ),
                        "days_since_launch": np.nan,
                        "running": False,
                    }
                ),
            ],
            ignore_index=True,
        )
    table = table[table["campaign_id"].isin(set(present))].reset_index(drop=True)
    table["launch_date"] = pd.to_datetime(table["launch_date"], utc=True).astype(_DATE_DTYPE)
    table["_order"] = np.arange(len(table))
    table = table.sort_values(["launch_date", "_order"], na_position="last", kind="stable")
    table = table.drop(columns="_order").reset_index(drop=True)
    table["dated"] = table["launch_date"].notna().to_numpy()
    table["campaign_id"] = table["campaign_id"].astype("str")
    table["campaign_name"] = table["campaign_name"].astype("str")
    return table


def _enrolments(users: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign x person, sorted by campaign (launch order) then person:
    ``campaign`` (position in ``table``), ``person`` (key), ``pcode`` (person code), ``email``,
    ``name``, ``department`` (the first row's), ``acknowledged``, ``answered``,
    ``all_correct`` (any row's), ``correct``, ``incorrect`` (summed over the rows)."""
    require_columns(users, _USER_COLUMNS, "users")
    if users["email"].isna().any():
        raise ValueError("users has rows without an email")
    position_of = pd.Series(
        np.arange(len(table), dtype=np.int64), index=table["campaign_id"].to_numpy(dtype=object)
    )
    campaign = position_of.reindex(users["campaign_id"].astype("str").to_numpy(dtype=object))
    if campaign.isna().any():
        raise ValueError("users has rows without a campaign_id")
    department = users["department"].astype("str").fillna(UNASSIGNED_DEPARTMENT)
    outcome = users["outcome"].astype("str").fillna("sent").to_numpy(dtype=object)
    answered = outcome != "sent"
    n_questions = users["n_questions"].to_numpy(dtype=np.int64)
    correct = users["n_correct"].to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "campaign": campaign.to_numpy(dtype=np.int64),
            "person": person_keys(users["email"]).to_numpy(dtype=object),
            "email": users["email"].astype("str").to_numpy(dtype=object),
            "name": (
                users["name"].astype("str").fillna("").to_numpy(dtype=object)
                if "name" in users
                else np.full(len(users), "", dtype=object)
            ),
            "department": department.to_numpy(dtype=object),
            "acknowledged": users["acknowledged"].fillna(False).to_numpy(dtype=bool),
            "answered": answered,
            "all_correct": answered & (n_questions > 0) & (correct == n_questions),
            "correct": correct,
            "incorrect": users["n_incorrect"].to_numpy(dtype=np.int64),
        }
    )
    enrol = frame.groupby(["campaign", "person"], sort=True).agg(
        email=("email", "first"),
        name=("name", "first"),
        department=("department", "first"),
        acknowledged=("acknowledged", "max"),
        answered=("answered", "max"),
        all_correct=("all_correct", "max"),
        correct=("correct", "sum"),
        incorrect=("incorrect", "sum"),
    )
    enrol = enrol.reset_index()
    enrol["pcode"] = pd.factorize(enrol["person"], sort=True)[0].astype(np.int64)
    return enrol


def _units(enrol: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counted enrolment mask, successes, trials) per enrolment for ``metric``: trials are 1
    for the enrolment metrics and the answered questions for accuracy."""
    answered = enrol["answered"].to_numpy(dtype=bool)
    everyone = np.ones(len(enrol), dtype=bool)
    ones = np.ones(len(enrol), dtype=np.int64)
    if metric == "acknowledgement":
        return everyone, enrol["acknowledged"].to_numpy(dtype=np.int64), ones
    if metric == "completion":
        return everyone, answered.astype(np.int64), ones
    if metric == "all_correct":
        return answered, enrol["all_correct"].to_numpy(dtype=np.int64), ones
    correct = enrol["correct"].to_numpy(dtype=np.int64)
    trials = correct + enrol["incorrect"].to_numpy(dtype=np.int64)
    return trials > 0, correct, trials


def _expand(successes: np.ndarray, trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per trial: (source index, success), the first ``successes`` of each a success."""
    rows = np.repeat(np.arange(len(trials)), trials)
    start = np.repeat(np.cumsum(trials) - trials, trials)
    return rows, (np.arange(len(rows)) - start) < successes[rows]


def _group_rates(
    group: np.ndarray, person: np.ndarray, successes: np.ndarray, trials: np.ndarray, size: int
) -> tuple[np.ndarray, ...]:
    """Per group: (successes, n, people, design effect, CI low, CI high); Wilson on the
    person-clustered effective n (:func:`~awareness_analysis.analysis.stats.design_effect`)."""
    rows, success = _expand(successes, trials)
    s, n, people, deff = design_effect(group[rows], person[rows], success, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, s / n, np.nan)
        n_eff = np.where(n > 0, n / deff, 0.0)
    low, high = wilson_interval(np.nan_to_num(rate) * n_eff, n_eff)
    return s, n, people, deff, low, high


def _hidden_departments(
    department: np.ndarray, person: np.ndarray, k: int, arms: Sequence[np.ndarray] = ()
) -> list[str]:
    """Departments to fold into :data:`SUPPRESSED_LABEL`: those under ``k`` people and the
    complementary ones of :func:`choose_hidden`. ``arms`` are row masks of sub-groups a row
    reports on (e.g. people who missed the previous campaign): a department where an arm has
    1 to k-1 people is hidden too, and further departments join the hidden ones until their
    pooled arms are not small either."""
    if not k or not len(department):
        return []
    frame = pd.DataFrame({"department": department, "person": person})
    members = frame.groupby("department")["person"].agg(set)
    arm_members = [
        frame[np.asarray(arm, dtype=bool)].groupby("department")["person"].agg(set) for arm in arms
    ]
    size_of = {str(name): len(group) for name, group in members.items()}

    def people_in(names: Sequence[str]) -> int:
        return len(set().union(*(members[name] for name in names)))

    def small_arm(names: Sequence[str]) -> bool:
        for groups in arm_members:
            present = [groups[name] for name in names if name in groups.index]
            if _small(k, len(set().union(*present)) if present else 0):
                return True
        return False

    forced = {name for name in size_of if small_arm([name])}
    total = len(set(person))
    while True:
        hidden, _ = choose_hidden(size_of, total, k, people_in, forced)
        shown = sorted(set(size_of) - set(hidden), key=lambda d: (size_of[d], d))
        if not hidden or not shown or not small_arm(hidden):
            return hidden
        forced.add(shown[0])


def _last_of_each(codes: np.ndarray) -> np.ndarray:
    """Mask of the last row of each run of equal ``codes`` (rows grouped by code)."""
    if not len(codes):
        return np.zeros(0, dtype=bool)
    return np.r_[codes[1:] != codes[:-1], True]


def _relabel(department: np.ndarray, hidden: Sequence[str]) -> np.ndarray:
    if not hidden:
        return department
    return np.where(np.isin(department, list(hidden)), SUPPRESSED_LABEL, department).astype(object)


def _labels(department: np.ndarray) -> list[str]:
    """Departments present, sorted, :data:`SUPPRESSED_LABEL` last."""
    names = sorted({str(name) for name in department} - {SUPPRESSED_LABEL})
    return [*names, SUPPRESSED_LABEL] if SUPPRESSED_LABEL in set(department) else names


# -- 1. campaign trend ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendResult:
    """:func:`campaign_trend`: per-campaign rates, the organisation trend, the trend per
    department and the targeted campaigns compared with their own audience."""

    metric: str
    campaigns: pd.DataFrame
    trend: pd.DataFrame
    departments: pd.DataFrame
    targeted: pd.DataFrame

    def __repr__(self) -> str:
        return (
            f"TrendResult(metric={self.metric!r}, campaigns={len(self.campaigns)}, "
            f"departments={len(self.departments)}, targeted={len(self.targeted)})"
        )


_TREND_COLUMNS = (
    "odds_ratio_per_year",
    "ci_low",
    "ci_high",
    "p_value",
    "pp_per_year",
    "pp_ci_low",
    "pp_ci_high",
    "rate_at_mean",
    "centre_years",
    "converged",
)


#: |log odds ratio per year|, and half an interval's width, beyond which a fit is degenerate.
_MAX_LOG_ODDS = float(np.log(1e6))


def _fit_trend(
    years: np.ndarray, successes: np.ndarray, trials: np.ndarray, person: np.ndarray
) -> dict[str, Any]:
    """Logistic GLM ``successes / trials ~ years`` with person-clustered sandwich errors.

    ``odds_ratio_per_year`` with its 95% CI and Wald p (against 1); ``pp_per_year``: the
    slope of the fitted rate at the mean date, in percentage points per year (delta-method
    CI); ``rate_at_mean``: the fitted rate at the mean date, ``centre_years`` (years since the
    first launch; with the odds ratio, the fitted curve). NaN when there is nothing to fit
    (one date, one person, or every unit the same)."""
    out: dict[str, Any] = dict.fromkeys(_TREND_COLUMNS, np.nan) | {"converged": False}
    total = int(trials.sum())
    hits = int(successes.sum())
    if total == 0 or hits in (0, total) or np.ptp(years) == 0 or len(np.unique(person)) < 2:
        return out
    centre = float(np.average(years, weights=trials))
    exog = np.column_stack([np.ones(len(years)), years - centre])
    endog = np.column_stack([successes, trials - successes]).astype(np.float64)
    groups = pd.factorize(person)[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = GLM(endog, exog, family=Binomial()).fit(
            cov_type="cluster", cov_kwds={"groups": groups}
        )
    converged = bool(getattr(result, "converged", True)) and not any(
        "separation" in str(w.message).lower() or "converge" in str(w.message).lower()
        for w in caught
    )
    b0, b1 = (float(v) for v in result.params)
    cov = np.asarray(result.cov_params(), dtype=np.float64)
    low, high = np.asarray(result.conf_int(alpha=_ALPHA))[1]
    # Quasi-separation (e.g. every unit of one period the same) may converge without a warning
    # to an interval spanning many orders of magnitude: no estimate to speak of.
    if not (abs(b1) < _MAX_LOG_ODDS and high - low < 2 * _MAX_LOG_ODDS):
        converged = False
    p = float(expit(b0))
    slope = b1 * p * (1 - p)
    gradient = np.array([b1 * p * (1 - p) * (1 - 2 * p), p * (1 - p)])
    se = float(np.sqrt(max(gradient @ cov @ gradient, 0.0)))
    return {
        "odds_ratio_per_year": _finite(np.exp(b1)),
        "ci_low": _finite(np.exp(low)),
        "ci_high": _finite(np.exp(high)),
        "p_value": _finite(result.pvalues[1]),
        "pp_per_year": _finite(100 * slope),
        "pp_ci_low": _finite(100 * (slope - Z_CONFIDENCE * se)),
        "pp_ci_high": _finite(100 * (slope + Z_CONFIDENCE * se)),
        "rate_at_mean": _finite(p),
        "centre_years": centre,
        "converged": converged,
    }


def _fit_campaigns(
    table: pd.DataFrame, enrol: pd.DataFrame, targeted_share: float, window_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per campaign of ``table``: (audience in people, reference audience, targeted, in the
    trend fit): a trend is fitted on launched campaigns neither running nor targeted."""
    audience = np.bincount(enrol["campaign"].to_numpy(dtype=np.int64), minlength=len(table))
    reference = _reference_audience(table["launch_date"], audience, window_days)
    targeted = audience < targeted_share * reference
    launched = table["dated"].to_numpy(dtype=bool) & (
        np.nan_to_num(table["days_since_launch"].to_numpy(dtype=np.float64), nan=-1.0) >= 0
    )
    in_fit = launched & ~table["running"].to_numpy(dtype=bool) & ~targeted
    return audience, reference, targeted, in_fit


def _reference_audience(launch: pd.Series, audience: np.ndarray, window_days: int) -> np.ndarray:
    """Per campaign: the largest audience among campaigns launched within ``window_days``
    either side (itself included); undated campaigns: the largest audience of all."""
    reference = np.full(len(audience), int(audience.max(initial=0)), dtype=np.int64)
    dated = launch.notna().to_numpy()
    stamps = launch.to_numpy(dtype="datetime64[us]")
    window = np.timedelta64(int(window_days) * 86_400_000_000, "us")
    for i in np.flatnonzero(dated):
        near = dated & (np.abs(stamps - stamps[i]) <= window)
        reference[i] = int(audience[near].max())
    return reference


def _targeted_comparison(
    table: pd.DataFrame,
    units: pd.DataFrame,
    successes: np.ndarray,
    trials: np.ndarray,
    in_fit: np.ndarray,
    audience: np.ndarray,
    k: int,
) -> pd.DataFrame:
    """Each targeted campaign against the same people's results in the trend campaigns."""
    campaign = units["campaign"].to_numpy(dtype=np.int64)
    person = units["pcode"].to_numpy(dtype=np.int64)
    size = int(person.max(initial=-1)) + 1
    base = in_fit[campaign]
    base_s = np.bincount(person[base], weights=successes[base], minlength=size)
    base_n = np.bincount(person[base], weights=trials[base], minlength=size)
    base_campaigns = pd.Series(campaign[base]).groupby(person[base]).agg(set)
    rows = []
    for position in np.flatnonzero(table["targeted"].to_numpy(dtype=bool)):
        chosen = campaign == position
        who = person[chosen]
        has = base_n[who] > 0
        own = successes[chosen][has] / trials[chosen][has]
        usual = base_s[who[has]] / base_n[who[has]]
        diff = own - usual
        m = len(diff)
        mean = float(diff.mean()) if m else np.nan
        low = high = p = np.nan
        if m >= 2:
            se = float(diff.std(ddof=1) / np.sqrt(m))
            if se > 0:
                t = float(scipy_stats.t.ppf(1 - _ALPHA / 2, m - 1))
                low, high = mean - t * se, mean + t * se
                p = float(2 * scipy_stats.t.sf(abs(mean / se), m - 1))
            else:
                low = high = mean
        used = who[has]
        rows.append(
            {
                "campaign_id": table["campaign_id"].iat[position],
                "campaign_name": table["campaign_name"].iat[position],
                "launch_date": table["launch_date"].iat[position],
                "running": bool(table["running"].iat[position]),
                "audience": int(audience[position]),
                "people": m,
                "n_baseline": int(base_n[used].sum()),
                "baseline_campaigns": len(
                    set().union(*(base_campaigns[j] for j in used)) if m else set()
                ),
                "rate_targeted": float(own.mean()) if m else np.nan,
                "rate_baseline": float(usual.mean()) if m else np.nan,
                "difference": mean,
                "ci_low": low,
                "ci_high": high,
                "p_value": p,
            }
        )
    columns = [
        "campaign_id",
        "campaign_name",
        "launch_date",
        "running",
        "audience",
        "people",
        "n_baseline",
        "baseline_campaigns",
        "rate_targeted",
        "rate_baseline",
        "difference",
        "ci_low",
        "ci_high",
        "p_value",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.astype(
        {
            "campaign_id": "str",
            "campaign_name": "str",
            "running": "bool",
            "rate_targeted": "float64",
            "rate_baseline": "float64",
            "difference": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
            "p_value": "float64",
        }
    )
    frame["launch_date"] = pd.to_datetime(frame["launch_date"], utc=True).astype(_DATE_DTYPE)
    counts = ("audience", "people", "n_baseline", "baseline_campaigns")
    for column in counts:
        frame[column] = frame[column].astype("Int64")
    hide = np.array([_small(k, int(v)) for v in frame["people"]], dtype=bool)
    return blank_rows(frame, hide, counts)


def campaign_trend(
    users: pd.DataFrame,
    campaigns: pd.DataFrame,
    metric: str,
    *,
    as_of: datetime | pd.Timestamp | str,
    k: int | None = DEFAULT_MIN_GROUP_SIZE,
    targeted_share: float = DEFAULT_TARGETED_SHARE,
    targeted_window_days: int = DEFAULT_TARGETED_WINDOW_DAYS,
    running_days: int = RUNNING_DAYS,
) -> TrendResult:
    """A metric per campaign in launch order, and its trend over the years.

    ``metric``: ``acknowledgement``, ``completion``, ``all_correct`` (units: enrolments) or
    ``accuracy`` (units: answered questions). ``as_of`` is the snapshot's fetch time (naive =
    UTC).

    **Running** campaigns (launched fewer than ``running_days`` days before ``as_of``, the
    rule of :mod:`~awareness_analysis.analysis.phases`) are marked and left out of the fits:
    their rates are still moving. Campaigns without a launch date (or launched after
    ``as_of``) cannot be placed in time and are left out too.

    **Targeted** campaigns: a campaign's *audience* is its distinct people; it is targeted
    when its audience is below ``targeted_share`` of the *reference audience*, the largest
    audience of any campaign launched within ``targeted_window_days`` days before or after it
    (itself included; undated campaigns: the largest audience of all). A local reference is
    used because a growing or shrinking organisation makes a global one (largest campaign
    ever, or everyone ever enrolled) call old all-staff campaigns targeted. Targeted campaigns
    are left out of the trend and compared with their own audience instead (``targeted``).

    Returns a :class:`TrendResult`:

    ``campaigns`` -- one row per campaign present in ``users``, launch order: ``campaign_id``,
    ``campaign_name``, ``launch_date``, ``years`` (since the first launch), ``days_since_launch``,
    ``running``, ``audience`` (people), ``reference_audience``, ``audience_share``,
    ``targeted``, ``in_fit`` (used by the trend), then ``metric``, ``successes``, ``n``
    (enrolments, or answers for accuracy), ``people``, ``rate``, ``ci_low``, ``ci_high`` (95%
    Wilson on the person-clustered effective n: for accuracy one person answers several
    questions), ``design_effect``, ``suppressed`` (an audience, or people counted, of 1 to k-1:
    figures blanked).

    ``trend`` -- one row: logistic GLM ``success ~ years`` over the enrolments (answers) of the
    ``in_fit`` campaigns, person-clustered sandwich errors (statsmodels ``cov_type="cluster"``):
    ``metric``, ``odds_ratio_per_year`` with ``ci_low``, ``ci_high`` (95%), ``p_value``
    (against 1), ``pp_per_year`` (slope of the fitted rate at the mean date, percentage
    points per year) with ``pp_ci_low``, ``pp_ci_high`` (delta method), ``rate_at_mean``,
    ``converged``, ``n``, ``people``, ``campaigns``, ``first_launch``, ``last_launch``,
    ``suppressed``. The odds ratio is population-averaged (a marginal model): with people who
    differ persistently it is nearer 1 than a per-person (random-effects) odds ratio would be.

    ``departments`` -- the same fit per department (the department each enrolment was listed
    under), the same columns plus ``department``, ``q_value`` (Benjamini-Hochberg over the
    departments tested), ``significant`` (q < 0.05) and ``direction`` (rising, falling, no
    clear trend, too little data, suppressed). Departments under ``k`` people are folded into
    ``(suppressed)`` with complementary ones (:func:`choose_hidden`); that pooled row keeps its
    figures but is not tested.

    ``targeted`` -- one row per targeted campaign: ``campaign_id``, ``campaign_name``,
    ``launch_date``, ``running``, ``audience``, ``people`` (its audience counted for the metric
    who also have results in the trend campaigns), ``n_baseline`` (their enrolments or answers
    there), ``baseline_campaigns``, ``rate_targeted`` and ``rate_baseline`` (means over those
    people of their own rate in the targeted campaign and in the trend campaigns),
    ``difference`` (paired: mean over people of own minus usual) with ``ci_low``, ``ci_high``
    (95% t interval over people) and ``p_value``, ``suppressed`` (fewer than ``k`` people).
    """
    if metric not in DEPARTMENT_METRICS:
        raise ValueError(f"metric must be one of {DEPARTMENT_METRICS}, not {metric!r}")
    if not 0 < float(targeted_share) <= 1:
        raise ValueError(f"targeted_share must be in (0, 1], not {targeted_share!r}")
    window = _days(targeted_window_days, "targeted_window_days")
    k = threshold(k)
    snapshot = _snapshot(as_of)
    table = _campaign_table(users, campaigns, snapshot, _days(running_days, "running_days"))
    enrol = _enrolments(users, table)
    size = len(table)
    audience, reference, targeted, in_fit = _fit_campaigns(table, enrol, targeted_share, window)
    running = table["running"].to_numpy(dtype=bool)
    launch = table["launch_date"]
    origin = launch.min()
    years = ((launch - origin) / _YEAR).to_numpy(dtype=np.float64, na_value=np.nan)

    counted, successes, trials = _units(enrol, metric)
    units = enrol[counted].reset_index(drop=True)
    successes, trials = successes[counted], trials[counted]
    group = units["campaign"].to_numpy(dtype=np.int64)
    person = units["pcode"].to_numpy(dtype=np.int64)
    s, n, people, deff, low, high = _group_rates(group, person, successes, trials, size)
    unit = UNIT_ANSWERS if metric == ACCURACY else UNIT_ENROLMENTS
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, s / n, np.nan)
        share = np.where(reference > 0, audience / reference, np.nan)
    table_out = pd.DataFrame(
        {
            "campaign_id": pd.array(table["campaign_id"], dtype="str"),
            "campaign_name": pd.array(table["campaign_name"], dtype="str"),
            "launch_date": table["launch_date"].to_numpy(),
            "years": years,
            "days_since_launch": table["days_since_launch"].to_numpy(dtype=np.float64),
            "running": running,
            "audience": _int(audience),
            "reference_audience": _int(reference),
            "audience_share": share.astype(np.float64),
            "targeted": targeted,
            "in_fit": in_fit,
            "metric": pd.array([metric] * size, dtype="str"),
            "successes": _int(s),
            "n": _int(n),
            "people": _int(people),
            "rate": rate.astype(np.float64),
            "ci_low": low,
            "ci_high": high,
            "design_effect": deff.astype(np.float64),
        }
    )
    table_out["launch_date"] = pd.to_datetime(table_out["launch_date"], utc=True).astype(
        _DATE_DTYPE
    )
    hide = np.array(
        [_small(k, int(a)) or _small(k, int(p)) for a, p in zip(audience, people, strict=True)],
        dtype=bool,
    )
    table_out = blank_rows(table_out, hide, ("audience", "successes", "n", "people"))

    fit = in_fit[group]
    x = years[group[fit]]
    fit_s, fit_n, fit_person = successes[fit], trials[fit], person[fit]
    fit_people = len(np.unique(fit_person))
    fitted_campaigns = np.unique(group[fit])
    org = _fit_trend(x, fit_s, fit_n, fit_person) | {
        "metric": metric,
        "n": int(fit_n.sum()),
        "people": fit_people,
        "campaigns": len(fitted_campaigns),
        "first_launch": launch.iloc[fitted_campaigns].min() if len(fitted_campaigns) else pd.NaT,
        "last_launch": launch.iloc[fitted_campaigns].max() if len(fitted_campaigns) else pd.NaT,
    }
    trend = pd.DataFrame([org])
    trend = trend[
        [
            "metric",
            *_TREND_COLUMNS,
            "n",
            "people",
            "campaigns",
            "first_launch",
            "last_launch",
        ]
    ]
    trend = _trend_dtypes(trend)
    for column in ("first_launch", "last_launch"):
        trend[column] = pd.to_datetime(trend[column], utc=True).astype(_DATE_DTYPE)
    trend = blank_rows(trend, np.array([_small(k, fit_people)]), ("n", "people", "campaigns"))
    trend["converged"] = trend["converged"] & ~trend["suppressed"]

    departments = _department_trends(
        units["department"].to_numpy(dtype=object)[fit], x, fit_s, fit_n, fit_person, group[fit], k
    )
    departments.insert(1, "metric", pd.array([metric] * len(departments), dtype="str"))
    compared = _targeted_comparison(table_out, units, successes, trials, in_fit, audience, k)

    definition = {
        "acknowledgement": "acknowledged / enrolments",
        "completion": "enrolments with any answer / enrolments",
        "all_correct": "enrolments correct on every question / enrolments that answered",
        "accuracy": "correct / answered questions (unanswered not counted as wrong)",
    }[metric]
    running_note = (
        f"Running campaigns (launched under {running_days} days before {snapshot.date()}) and "
        "undated ones are left out of the fit."
    )
    targeted_note = (
        f"Targeted = audience under {targeted_share:.0%} of the largest audience launched within "
        f"{window} days either side; left out of the trend."
    )
    suppression = f" Groups under {k} people are suppressed." if k else ""
    for frame in (table_out, trend, departments):
        frame.attrs["metric"] = metric
        frame.attrs["unit"] = unit
        frame.attrs["min_group_size"] = k
        frame.attrs["as_of"] = snapshot.isoformat()
    table_out.attrs["note"] = (
        f"{metric} = {definition}, per campaign in launch order with {CONFIDENCE:.0%} Wilson "
        f"intervals (person-clustered effective n). {running_note} {targeted_note}{suppression}"
    )
    fit_note = (
        f"Logistic regression {metric} ~ years since first launch over the {unit} of the trend "
        f"campaigns; odds ratio per year and change in percentage points per year at the mean "
        f"date ({CONFIDENCE:.0%} CI). {_CLUSTER_NOTE} {running_note} {targeted_note} "
        f"{_OBSERVATIONAL_NOTE}"
    )
    trend.attrs["note"] = fit_note + suppression
    departments.attrs["note"] = (
        f"{fit_note} Per department (as listed in each campaign); Benjamini-Hochberg q over the "
        f"departments tested, significant when q < {SIGNIFICANCE_LEVEL}."
        + (
            f" Departments under {k} people are combined into {SUPPRESSED_LABEL} with others, "
            "so none can be worked out from the total; that row is not tested."
            if k
            else ""
        )
    )
    compared.attrs["metric"] = metric
    compared.attrs["unit"] = UNIT_PEOPLE
    compared.attrs["min_group_size"] = k
    compared.attrs["as_of"] = snapshot.isoformat()
    compared.attrs["note"] = (
        f"Each targeted campaign against the same people's {metric} in the trend campaigns: "
        "people = its audience who also have results there; rates are means over those people "
        f"of their own rate; difference with a paired {CONFIDENCE:.0%} t interval over people. "
        f"{targeted_note}{suppression}"
    )
    return TrendResult(
        metric=metric,
        campaigns=table_out,
        trend=trend,
        departments=departments,
        targeted=compared,
    )


def _trend_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({column: "float64" for column in _TREND_COLUMNS[:-1]})
    frame["converged"] = frame["converged"].astype(bool)
    for column in ("n", "people", "campaigns"):
        frame[column] = frame[column].astype("Int64")
    if "metric" in frame:
        frame["metric"] = frame["metric"].astype("str")
    return frame


def _department_trends(
    department: np.ndarray,
    years: np.ndarray,
    successes: np.ndarray,
    trials: np.ndarray,
    person: np.ndarray,
    campaign: np.ndarray,
    k: int,
) -> pd.DataFrame:
    hidden = _hidden_departments(department, person, k)
    label = _relabel(department, hidden)
    rows = []
    for name in _labels(label):
        chosen = label == name
        rows.append(
            {
                "department": name,
                **_fit_trend(years[chosen], successes[chosen], trials[chosen], person[chosen]),
                "n": int(trials[chosen].sum()),
                "people": len(np.unique(person[chosen])),
                "campaigns": len(np.unique(campaign[chosen])),
            }
        )
    frame = pd.DataFrame(rows, columns=["department", *_TREND_COLUMNS, "n", "people", "campaigns"])
    frame = _trend_dtypes(frame)
    frame["department"] = frame["department"].astype("str")
    names = frame["department"].to_numpy(dtype=object)
    people = frame["people"].to_numpy(dtype=np.int64)
    pooled = names == SUPPRESSED_LABEL
    small = np.array([_small(k, int(v)) for v in people], dtype=bool)
    p_value = frame["p_value"].to_numpy(dtype=np.float64)
    tested = ~pooled & ~small & np.isfinite(p_value)
    q_value = benjamini_hochberg(np.where(tested, p_value, np.nan))
    significant = tested & (np.nan_to_num(q_value, nan=1.0) < SIGNIFICANCE_LEVEL)
    odds = frame["odds_ratio_per_year"].to_numpy(dtype=np.float64)
    direction = np.select(
        [pooled | small, ~np.isfinite(odds), significant & (odds > 1), significant & (odds < 1)],
        ["suppressed", "too little data", "rising", "falling"],
        default="no clear trend",
    )
    frame.insert(frame.columns.get_loc("p_value") + 1, "q_value", q_value)
    frame.insert(frame.columns.get_loc("q_value") + 1, "significant", significant)
    frame.insert(
        frame.columns.get_loc("significant") + 1,
        "direction",
        pd.array(direction.astype(object), dtype="str"),
    )
    frame = blank_rows(frame, small, ("n", "people", "campaigns"))
    frame["converged"] = frame["converged"] & ~frame["suppressed"]
    frame.attrs["hidden_departments"] = tuple(hidden)
    return frame


# -- 2. repeat non-completers ---------------------------------------------------------------------


def _eligible(
    users: pd.DataFrame, campaigns: pd.DataFrame, as_of: Any, reminder_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, pd.Timestamp]:
    """(campaign table, enrolments sorted by person then launch order, eligible per campaign,
    pending per campaign, snapshot). Eligible: launched at least ``reminder_days`` whole days
    before ``as_of``; pending: launched, but more recently."""
    reminder_days = _days(reminder_days, "reminder_days")
    snapshot = _snapshot(as_of)
    table = _campaign_table(users, campaigns, snapshot, RUNNING_DAYS)
    enrol = _enrolments(users, table)
    enrol = enrol.sort_values(["pcode", "campaign"], kind="stable").reset_index(drop=True)
    days = np.nan_to_num(table["days_since_launch"].to_numpy(dtype=np.float64), nan=-1.0)
    dated = table["dated"].to_numpy(dtype=bool)
    eligible = dated & (days >= reminder_days)
    pending = dated & (days >= 0) & (days < reminder_days)
    return table, enrol, eligible, pending, snapshot


def _history_note(reminder_days: int, snapshot: pd.Timestamp) -> str:
    return (
        f"Counts only campaigns launched at least {reminder_days} days before "
        f"{snapshot.date()} (the reminder window): a person has not missed a campaign they may "
        "still answer. Answered = at least one question answered; missed = received and not "
        "answered. Campaigns without a launch date are not counted. Runs are consecutive "
        "misses among the campaigns the person received, in launch order."
    )


def completion_history(
    users: pd.DataFrame,
    campaigns: pd.DataFrame,
    *,
    as_of: datetime | pd.Timestamp | str,
    reminder_days: int = DEFAULT_REMINDER_DAYS,
) -> pd.DataFrame:
    """One row per person: what they received, answered and missed, and their runs of misses.

    A campaign counts (is *eligible*) once it launched at least ``reminder_days`` whole days
    before ``as_of``; a younger one is ``pending`` and counts in no other column, so a fresh
    campaign does not make everyone look negligent. Undated campaigns and ones launched after
    ``as_of`` are not counted at all.

    Columns: ``person`` (the key: email trimmed, lower-cased), ``email``, ``name``,
    ``department`` (as listed in the person's latest launched campaign), ``received``,
    ``answered`` (at least one question), ``acknowledged``, ``missed`` (received - answered),
    ``pending`` (campaigns in the reminder window), ``current_run`` (consecutive misses
    ending at the person's latest eligible campaign, in launch order), ``longest_run``,
    ``last_received`` and ``last_answered`` (launch dates; NaT when none) and
    ``received_latest`` (the person is in the latest eligible campaign of ``users``: False
    for people who left or were not sent it). Sorted by ``current_run``, then
    ``longest_run`` (both descending), then person. People with only pending campaigns have
    zeros. Names people: not for sharing.
    """
    table, enrol, eligible, pending, snapshot = _eligible(users, campaigns, as_of, reminder_days)
    people = int(enrol["pcode"].to_numpy(dtype=np.int64).max(initial=-1)) + 1
    campaign = enrol["campaign"].to_numpy(dtype=np.int64)
    pcode = enrol["pcode"].to_numpy(dtype=np.int64)
    launch = table["launch_date"]
    elig = eligible[campaign]
    answered = enrol["answered"].to_numpy(dtype=bool)
    acknowledged = enrol["acknowledged"].to_numpy(dtype=bool)

    received = np.bincount(pcode[elig], minlength=people)
    answered_n = np.bincount(pcode[elig & answered], minlength=people)
    acknowledged_n = np.bincount(pcode[elig & acknowledged], minlength=people)
    pending_n = np.bincount(pcode[pending[campaign]], minlength=people)

    # Runs of misses over each person's eligible campaigns (rows are by person, then launch).
    e_person = pcode[elig]
    missed = ~answered[elig]
    index = np.arange(len(e_person))
    starts = np.r_[True, e_person[1:] != e_person[:-1]] if len(e_person) else np.zeros(0, bool)
    start_of = np.maximum.accumulate(np.where(starts, index, 0)) if len(index) else index
    last_break = np.maximum.accumulate(np.where(~missed, index, -1)) if len(index) else index
    run = np.where(missed, index - np.maximum(last_break, start_of - 1), 0)
    longest = np.zeros(people, dtype=np.int64)
    np.maximum.at(longest, e_person, run)
    ends = _last_of_each(e_person)  # each person's latest eligible campaign
    current = np.zeros(people, dtype=np.int64)
    current[e_person[ends]] = run[ends]
    e_launch = launch.to_numpy(dtype="datetime64[us]")[campaign[elig]]
    last_received = np.full(people, np.datetime64("NaT"), dtype="datetime64[us]")
    last_received[e_person[ends]] = e_launch[ends]
    last_answered = np.full(people, np.datetime64("NaT"), dtype="datetime64[us]")
    answered_person, answered_launch = e_person[~missed], e_launch[~missed]
    answered_ends = _last_of_each(answered_person)
    last_answered[answered_person[answered_ends]] = answered_launch[answered_ends]
    eligible_present = np.flatnonzero(eligible & (np.bincount(campaign, minlength=len(table)) > 0))
    latest = int(eligible_present.max()) if len(eligible_present) else -1
    received_latest = np.zeros(people, dtype=bool)
    received_latest[pcode[campaign == latest]] = True

    # Name and department from the person's latest launched campaign (else their last row).
    days = np.nan_to_num(table["days_since_launch"].to_numpy(dtype=np.float64), nan=-1.0)
    launched = (table["dated"].to_numpy(dtype=bool) & (days >= 0))[campaign]
    order = np.lexsort((campaign, launched, pcode))
    last_row = np.zeros(people, dtype=np.int64)
    order_ends = _last_of_each(pcode[order])
    last_row[pcode[order][order_ends]] = order[order_ends]
    persons = enrol["person"].to_numpy(dtype=object)
    history = pd.DataFrame(
        {
            "person": pd.array(persons[last_row], dtype="str"),
            "email": pd.array(enrol["email"].to_numpy(dtype=object)[last_row], dtype="str"),
            "name": pd.array(enrol["name"].to_numpy(dtype=object)[last_row], dtype="str"),
            "department": pd.array(
                enrol["department"].to_numpy(dtype=object)[last_row], dtype="str"
            ),
            "received": received.astype(np.int64),
            "answered": answered_n.astype(np.int64),
            "acknowledged": acknowledged_n.astype(np.int64),
            "missed": (received - answered_n).astype(np.int64),
            "pending": pending_n.astype(np.int64),
            "current_run": current,
            "longest_run": longest,
            "last_received": pd.to_datetime(last_received).tz_localize("UTC"),
            "last_answered": pd.to_datetime(last_answered).tz_localize("UTC"),
            "received_latest": received_latest,
        }
    )
    for column in ("last_received", "last_answered"):
        history[column] = history[column].astype(_DATE_DTYPE)
    history = history.sort_values(
        ["current_run", "longest_run", "person"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)
    history.attrs["unit"] = UNIT_PEOPLE
    history.attrs["as_of"] = snapshot.isoformat()
    history.attrs["reminder_days"] = int(reminder_days)
    history.attrs["eligible_campaigns"] = tuple(table["campaign_id"][eligible])
    history.attrs["pending_campaigns"] = tuple(table["campaign_id"][pending])
    history.attrs["note"] = (
        f"One row per person. {_history_note(int(reminder_days), snapshot)} Lists named people: "
        "for whoever may follow them up, not for sharing."
    )
    return history


def repeat_non_completers(
    users: pd.DataFrame,
    campaigns: pd.DataFrame,
    *,
    as_of: datetime | pd.Timestamp | str,
    last_n: int,
    reminder_days: int = DEFAULT_REMINDER_DAYS,
) -> pd.DataFrame:
    """The people who did not answer any of their last ``last_n`` eligible campaigns.

    From :func:`completion_history` (same eligibility rule): people whose current run of
    misses is at least ``last_n``. Columns: ``email``, ``name``, ``department`` (latest),
    ``run_length`` (current run of misses), ``received``, ``answered``, ``last_received``
    (launch date of their latest eligible campaign) and ``received_latest`` (False: they were
    not in the latest eligible campaign, e.g. they left). Sorted by run length (longest
    first), then email. A named list: the caller decides where it may be shown.
    """
    if isinstance(last_n, bool) or not isinstance(last_n, int | np.integer) or last_n < 1:
        raise ValueError(f"last_n must be a whole number >= 1, not {last_n!r}")
    history = completion_history(users, campaigns, as_of=as_of, reminder_days=reminder_days)
    chosen = history[history["current_run"] >= int(last_n)]
    result = pd.DataFrame(
        {
            "email": chosen["email"],
            "name": chosen["name"],
            "department": chosen["department"],
            "run_length": chosen["current_run"],
            "received": chosen["received"],
            "answered": chosen["answered"],
            "last_received": chosen["last_received"],
            "received_latest": chosen["received_latest"],
        }
    )
    result = result.sort_values(
        ["run_length", "email"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    result.attrs = dict(history.attrs)
    result.attrs["last_n"] = int(last_n)
    result.attrs["note"] = (
        f"People who answered none of their last {int(last_n)} eligible campaigns. "
        f"{_history_note(int(history.attrs['reminder_days']), _snapshot(as_of))} Lists named "
        "people: the caller decides where it may be shown."
    )
    return result


_MISSED_COUNTS = (
    "people",
    "transitions",
    "n_after_miss",
    "missed_after_miss",
    "people_after_miss",
    "n_after_answer",
    "missed_after_answer",
    "people_after_answer",
)


def _cluster_contrast(
    after_miss: np.ndarray, event: np.ndarray, person: np.ndarray
) -> dict[str, float]:
    """Difference and ratio of P(event | after miss) and P(event | after answer), with
    person-clustered (linearised sandwich) 95% intervals and the Wald p of the difference."""
    out = dict.fromkeys(
        (
            "difference",
            "difference_ci_low",
            "difference_ci_high",
            "ratio",
            "ratio_ci_low",
            "ratio_ci_high",
            "p_value",
        ),
        np.nan,
    )
    codes, _ = pd.factorize(person)
    size = int(codes.max(initial=-1)) + 1
    n1 = np.bincount(codes[after_miss], minlength=size).astype(np.float64)
    s1 = np.bincount(codes[after_miss & event], minlength=size).astype(np.float64)
    n0 = np.bincount(codes[~after_miss], minlength=size).astype(np.float64)
    s0 = np.bincount(codes[~after_miss & event], minlength=size).astype(np.float64)
    total1, total0 = n1.sum(), n0.sum()
    if not total1 or not total0 or size < 2:
        return out
    p1, p0 = s1.sum() / total1, s0.sum() / total0
    correction = size / (size - 1)
    z = (s1 - p1 * n1) / total1 - (s0 - p0 * n0) / total0
    se = float(np.sqrt(correction * np.sum(z * z)))
    difference = p1 - p0
    out["difference"] = difference
    out["difference_ci_low"] = difference - Z_CONFIDENCE * se
    out["difference_ci_high"] = difference + Z_CONFIDENCE * se
    if se > 0:
        out["p_value"] = float(two_sided_p(difference / se))
    if p1 > 0 and p0 > 0:
        ratio = p1 / p0
        z_log = (s1 - p1 * n1) / (total1 * p1) - (s0 - p0 * n0) / (total0 * p0)
        se_log = float(np.sqrt(correction * np.sum(z_log * z_log)))
        out["ratio"] = ratio
        out["ratio_ci_low"] = float(np.exp(np.log(ratio) - Z_CONFIDENCE * se_log))
        out["ratio_ci_high"] = float(np.exp(np.log(ratio) + Z_CONFIDENCE * se_log))
    return out


def _missed_row(after_miss: np.ndarray, event: np.ndarray, person: np.ndarray) -> dict[str, Any]:
    arm = after_miss.astype(np.int64)
    s, n, people, deff, low, high = _group_rates(
        arm, person, event.astype(np.int64), np.ones(len(arm), dtype=np.int64), 2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, s / n, np.nan)
    return {
        "people": len(np.unique(person)),
        "transitions": len(person),
        "n_after_miss": int(n[1]),
        "missed_after_miss": int(s[1]),
        "people_after_miss": int(people[1]),
        "rate_after_miss": float(rate[1]),
        "ci_low_after_miss": float(low[1]),
        "ci_high_after_miss": float(high[1]),
        "design_effect_after_miss": float(deff[1]),
        "n_after_answer": int(n[0]),
        "missed_after_answer": int(s[0]),
        "people_after_answer": int(people[0]),
        "rate_after_answer": float(rate[0]),
        "ci_low_after_answer": float(low[0]),
        "ci_high_after_answer": float(high[0]),
        "design_effect_after_answer": float(deff[0]),
        **_cluster_contrast(after_miss, event, person),
    }


def missed_again(
    users: pd.DataFrame,
    campaigns: pd.DataFrame,
    *,
    as_of: datetime | pd.Timestamp | str,
    reminder_days: int = DEFAULT_REMINDER_DAYS,
    k: int | None = DEFAULT_MIN_GROUP_SIZE,
    by_department: bool = False,
) -> pd.DataFrame:
    """The chance of not answering the next campaign after not answering one, and after
    answering one.

    A *transition* is a pair of consecutive eligible campaigns one person received (in launch
    order, among the campaigns they were sent; eligibility as in :func:`completion_history`).
    ``rate_after_miss`` = P(missed c+1 | missed c), ``rate_after_answer`` = P(missed c+1 |
    answered c), with 95% Wilson intervals on the person-clustered effective n (a person
    contributes many transitions); ``difference`` (after miss - after answer) and ``ratio``
    with person-clustered sandwich intervals, and ``p_value`` (Wald, difference against 0).

    One row for the organisation (``level`` "organisation", ``department``
    ``(organisation)``), then with ``by_department`` one per department (the department the
    person was listed under in campaign c+1). Columns: ``level``, ``department``, ``people``,
    ``transitions``, then per arm (``_after_miss``, ``_after_answer``) ``n``, ``missed``,
    ``people``, ``rate``, ``ci_low``, ``ci_high``, ``design_effect``; then ``difference``,
    ``difference_ci_low``, ``difference_ci_high``, ``ratio``, ``ratio_ci_low``,
    ``ratio_ci_high``, ``p_value`` and ``suppressed``.

    Suppression: a row is blanked when it covers 1 to k-1 people, or when either arm does (a
    rate over two people who missed points at them). Departments failing either test are
    folded into ``(suppressed)`` with complementary departments until that pooled row passes,
    so no hidden department can be worked out from the organisation row.
    """
    k = threshold(k)
    _, enrol, eligible, _, snapshot = _eligible(users, campaigns, as_of, reminder_days)
    campaign = enrol["campaign"].to_numpy(dtype=np.int64)
    chosen = eligible[campaign]
    person = enrol["pcode"].to_numpy(dtype=np.int64)[chosen]
    missed = ~enrol["answered"].to_numpy(dtype=bool)[chosen]
    department = enrol["department"].to_numpy(dtype=object)[chosen]
    same = person[1:] == person[:-1] if len(person) else np.zeros(0, dtype=bool)
    after_miss = missed[:-1][same]
    event = missed[1:][same]
    who = person[1:][same]
    where = department[1:][same]

    rows = [
        {"level": "organisation", "department": ORGANISATION_LABEL}
        | _missed_row(after_miss, event, who)
    ]
    hidden: list[str] = []
    if by_department:
        hidden = _hidden_departments(where, who, k, (after_miss, ~after_miss))
        label = _relabel(where, hidden)
        for name in _labels(label):
            part = label == name
            rows.append(
                {"level": "department", "department": name}
                | _missed_row(after_miss[part], event[part], who[part])
            )
    frame = pd.DataFrame(rows)
    frame["level"] = frame["level"].astype("str")
    frame["department"] = frame["department"].astype("str")
    for column in _MISSED_COUNTS:
        frame[column] = frame[column].astype("Int64")
    hide = np.array(
        [
            _small(k, int(row.people))
            or _small(k, int(row.people_after_miss))
            or _small(k, int(row.people_after_answer))
            for row in frame.itertuples()
        ],
        dtype=bool,
    )
    frame = blank_rows(frame, hide, _MISSED_COUNTS)
    frame.attrs["unit"] = UNIT_TRANSITIONS
    frame.attrs["min_group_size"] = k
    frame.attrs["as_of"] = snapshot.isoformat()
    frame.attrs["reminder_days"] = int(reminder_days)
    frame.attrs["hidden_departments"] = tuple(hidden)
    frame.attrs["note"] = (
        "Rate = share of transitions (a campaign and the next one the same person received) "
        "where the later campaign was missed, after missing / after answering the earlier one; "
        f"{CONFIDENCE:.0%} intervals. {_CLUSTER_NOTE} "
        f"{_history_note(int(reminder_days), snapshot)}"
        + (
            f" Rows covering fewer than {k} people, or with an arm of fewer than {k}, are "
            f"suppressed; such departments are combined into {SUPPRESSED_LABEL} with others."
            if k
            else ""
        )
    )
    return frame


# -- 3. movement between campaigns ----------------------------------------------------------------

_MOVEMENT_COUNTS = (
    "people",
    "failed_earlier",
    "passed_after_fail",
    "passed_earlier",
    "passed_after_pass",
    "improved",
    "slipped",
)


def _paired_difference(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    """Later minus earlier pass rate among the same people, with Newcombe's hybrid score
    interval for paired proportions (Newcombe 1998, method 10: Wilson limits of the two rates
    combined with their estimated correlation). ``a`` passed both, ``b`` passed earlier only,
    ``c`` passed later only, ``d`` neither."""
    n = a + b + c + d
    if n == 0:
        return np.nan, np.nan, np.nan
    later, earlier = (a + c) / n, (a + b) / n
    (l_later, l_earlier), (u_later, u_earlier) = wilson_interval(
        np.array([a + c, a + b]), np.array([n, n])
    )
    product = float(a + b) * (c + d) * (a + c) * (b + d)
    # Newcombe's correlation estimate: a positive numerator is reduced by n / 2 (not below 0).
    numerator = float(a * d - b * c)
    numerator = numerator if numerator < 0 else max(numerator - n / 2, 0.0)
    phi = numerator / np.sqrt(product) if product > 0 else 0.0
    theta = later - earlier
    delta = np.sqrt(
        max(
            (later - l_later) ** 2
            - 2 * phi * (later - l_later) * (u_earlier - earlier)
            + (u_earlier - earlier) ** 2,
            0.0,
        )
    )
    epsilon = np.sqrt(
        max(
            (u_later - later) ** 2
            - 2 * phi * (u_later - later) * (earlier - l_earlier)
            + (earlier - l_earlier) ** 2,
            0.0,
        )
    )
    return float(theta), float(theta - delta), float(theta + epsilon)


def _movement_row(earlier: np.ndarray, later: np.ndarray) -> dict[str, Any]:
    """Figures of one group: ``earlier``/``later`` pass flags, one entry per person."""
    failed = ~earlier
    n_fail, n_pass = int(failed.sum()), int(earlier.sum())
    after_fail, after_pass = int((later & failed).sum()), int((later & earlier).sum())
    (l_fail, l_pass), (u_fail, u_pass) = wilson_interval(
        np.array([after_fail, after_pass]), np.array([n_fail, n_pass])
    )
    a = after_pass
    b = n_pass - after_pass  # passed earlier, failed later
    c = after_fail  # failed earlier, passed later
    d = n_fail - after_fail
    gap = gap_low = gap_high = np.nan
    if n_fail and n_pass:
        gap = after_pass / n_pass - after_fail / n_fail
        gap_low, gap_high = (
            float(v)
            for v in confint_proportions_2indep(
                after_pass, n_pass, after_fail, n_fail, method="newcomb", compare="diff"
            )
        )
    change, change_low, change_high = _paired_difference(a, b, c, d)
    p = np.nan
    if len(earlier):
        exact = (b + c) < 25
        p = float(mcnemar(np.array([[a, b], [c, d]]), exact=exact, correction=True).pvalue)
    n = len(earlier)
    return {
        "people": n,
        "failed_earlier": n_fail,
        "passed_after_fail": after_fail,
        "rate_after_fail": after_fail / n_fail if n_fail else np.nan,
        "ci_low_after_fail": float(l_fail),
        "ci_high_after_fail": float(u_fail),
        "passed_earlier": n_pass,
        "passed_after_pass": after_pass,
        "rate_after_pass": after_pass / n_pass if n_pass else np.nan,
        "ci_low_after_pass": float(l_pass),
        "ci_high_after_pass": float(u_pass),
        "gap": gap,
        "gap_ci_low": gap_low,
        "gap_ci_high": gap_high,
        "earlier_rate": n_pass / n if n else np.nan,
        "later_rate": (a + c) / n if n else np.nan,
        "change": change,
        "change_ci_low": change_low,
        "change_ci_high": change_high,
        "improved": c,
        "slipped": b,
        "mcnemar_p": _finite(p),
    }


def movement(
    users: pd.DataFrame,
    earlier_id: str,
    later_id: str,
    *,
    metric: str = "all_correct",
    k: int | None = DEFAULT_MIN_GROUP_SIZE,
) -> pd.DataFrame:
    """How people who failed one campaign did in a later one, against those who passed it.

    People are those in both campaigns (email trimmed, lower-cased); for ``all_correct``
    only those who answered both (the metric's denominator), for ``completion`` and
    ``acknowledgement`` everyone in both. Pass = correct on every question (``all_correct``),
    answered anything (``completion``) or acknowledged. One entry per person, so the plain
    Wilson and paired methods apply.

    One row for the organisation (``level`` "organisation", ``department``
    ``(organisation)``), then one per department (the person's department in the later
    campaign). Columns: ``level``, ``department``, ``people``; ``failed_earlier``,
    ``passed_after_fail``, ``rate_after_fail`` (later pass rate of those who failed the
    earlier campaign) with ``ci_low_after_fail``, ``ci_high_after_fail`` (95% Wilson); the same
    ``_after_pass`` for those who passed it (``passed_earlier``, ...); ``gap`` (after pass -
    after fail, Newcombe interval ``gap_ci_low``/``gap_ci_high``); ``earlier_rate``,
    ``later_rate``, ``change`` (later - earlier among the same people, Newcombe's paired
    interval ``change_ci_low``/``change_ci_high``), ``improved`` (failed, then passed),
    ``slipped`` (passed, then failed), ``mcnemar_p`` (McNemar's test of no change, exact
    binomial when fewer than 25 people changed) and ``suppressed``.

    Suppression: a row covering 1 to k-1 people, or with 1 to k-1 people who failed (or
    passed) the earlier campaign, shows no figures; such departments are folded into
    ``(suppressed)`` with complementary ones (:func:`choose_hidden`) so none can be worked out
    as the organisation minus the departments shown.
    """
    if metric not in MOVEMENT_METRICS:
        raise ValueError(f"metric must be one of {MOVEMENT_METRICS}, not {metric!r}")
    require_columns(users, _USER_COLUMNS, "users")
    k = threshold(k)
    earlier_id, later_id = str(earlier_id), str(later_id)
    if earlier_id == later_id:
        raise ValueError("earlier_id and later_id must be two different campaigns")
    ids = users["campaign_id"].astype("str")
    present = set(ids.dropna())
    for cid in (earlier_id, later_id):
        if cid not in present:
            raise ValueError(f"campaign {cid!r} has nobody in users")
    table = pd.DataFrame(
        {"campaign_id": [earlier_id, later_id], "campaign_name": [earlier_id, later_id]}
    )
    rows = ids.isin([earlier_id, later_id]).to_numpy()
    enrol = _enrolments(users[rows], table)
    flag = {"acknowledgement": "acknowledged", "completion": "answered"}.get(metric, metric)
    first = enrol[enrol["campaign"] == 0].set_index("person")
    second = enrol[enrol["campaign"] == 1].set_index("person")
    both = first.index.intersection(second.index)
    first, second = first.loc[both], second.loc[both]
    if metric == "all_correct":
        answered = first["answered"].to_numpy(dtype=bool) & second["answered"].to_numpy(bool)
        first, second = first[answered], second[answered]
    earlier = first[flag].to_numpy(dtype=bool)
    later = second[flag].to_numpy(dtype=bool)
    person = first.index.to_numpy(dtype=object)
    department = second["department"].to_numpy(dtype=object)

    hidden = _hidden_departments(department, person, k, (earlier, ~earlier))
    label = _relabel(department, hidden)
    rows_out = [
        {"level": "organisation", "department": ORGANISATION_LABEL} | _movement_row(earlier, later)
    ]
    for name in _labels(label):
        part = label == name
        rows_out.append(
            {"level": "department", "department": name} | _movement_row(earlier[part], later[part])
        )
    frame = pd.DataFrame(rows_out)
    frame["level"] = frame["level"].astype("str")
    frame["department"] = frame["department"].astype("str")
    for column in _MOVEMENT_COUNTS:
        frame[column] = frame[column].astype("Int64")
    for column in frame.columns:
        if column not in _MOVEMENT_COUNTS and column not in ("level", "department"):
            frame[column] = frame[column].astype("float64")
    hide = np.array(
        [
            _small(k, int(row.people))
            or _small(k, int(row.failed_earlier))
            or _small(k, int(row.passed_earlier))
            for row in frame.itertuples()
        ],
        dtype=bool,
    )
    frame = blank_rows(frame, hide, _MOVEMENT_COUNTS)
    pass_word = {
        "all_correct": "correct on every question (people who answered both)",
        "completion": "answered at least one question (everyone in both)",
        "acknowledgement": "acknowledged (everyone in both)",
    }[metric]
    frame.attrs["metric"] = metric
    frame.attrs["unit"] = UNIT_PEOPLE
    frame.attrs["min_group_size"] = k
    frame.attrs["earlier_id"] = earlier_id
    frame.attrs["later_id"] = later_id
    frame.attrs["hidden_departments"] = tuple(hidden)
    frame.attrs["note"] = (
        f"People in both campaigns {earlier_id} and {later_id}; pass = {pass_word}. Later pass "
        f"rate of those who failed and of those who passed the earlier campaign "
        f"({CONFIDENCE:.0%} Wilson), their gap (Newcombe), and the paired change later - "
        "earlier (Newcombe paired interval, McNemar test). Those who failed first tend to "
        "improve and those who passed to slip by chance alone (regression to the mean): "
        "the gap is not an effect of the training."
        + (
            f" Rows with fewer than {k} people, or fewer than {k} who failed or passed the "
            f"earlier campaign, are suppressed; such departments are combined into "
            f"{SUPPRESSED_LABEL} with others."
            if k
            else ""
        )
    )
    return frame


# -- for a report's disclosure plan ---------------------------------------------------------------


def trend_campaign_ids(
    users: pd.DataFrame,
    campaigns: pd.DataFrame,
    *,
    as_of: Any,
    reminder_days: int = DEFAULT_REMINDER_DAYS,
    targeted_share: float = DEFAULT_TARGETED_SHARE,
    targeted_window_days: int = DEFAULT_TARGETED_WINDOW_DAYS,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(campaigns a trend is fitted on, campaigns the repeat non-completer figures count):
    the dated campaigns neither running nor targeted (as :func:`campaign_trend` decides), and
    those at least ``reminder_days`` old. What a report publishes over them is planned with the
    rest of the report (their department comparisons over these selections)."""
    snapshot = _snapshot(as_of)
    table = _campaign_table(users, campaigns, snapshot, RUNNING_DAYS)
    enrol = _enrolments(users, table)
    window = _days(targeted_window_days, "targeted_window_days")
    fitted = _fit_campaigns(table, enrol, targeted_share, window)[3]
    days = np.nan_to_num(table["days_since_launch"].to_numpy(dtype=np.float64), nan=-1.0)
    eligible = table["dated"].to_numpy(dtype=bool) & (days >= _days(reminder_days, "reminder_days"))
    ids = table["campaign_id"].to_numpy(dtype=object)
    return tuple(str(c) for c in ids[fitted]), tuple(str(c) for c in ids[eligible])


def trend_publications(analysis: Analysis) -> list[Publication]:
    """What the trends page and the summary's trend lines publish, for a report's plan: each
    metric's department comparison over the campaigns a trend is fitted on (the organisation
    line is the trend's population, the departments its department trends), and completion
    over the campaigns the repeat non-completer figures count."""
    fitted, eligible = trend_campaign_ids(analysis.users, analysis.campaigns, as_of=analysis.as_of)
    publications = []
    if fitted:
        selection = Selection(campaign_ids=fitted)
        publications += [Publication(f"departments:{m}", selection) for m in DEPARTMENT_METRICS]
    if eligible:
        publications.append(Publication("departments:completion", Selection(campaign_ids=eligible)))
    return publications
