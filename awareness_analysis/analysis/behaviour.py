"""Does knowing go with doing? Awareness answers against phishing behaviour and SAFE grades.

Pure functions over the tidy frames of :mod:`awareness_analysis.data.behaviour` (phishing
campaigns and user data, SAFE scores) and :mod:`awareness_analysis.data.frames` (awareness
campaigns, their ``users``); they do no I/O and never change their input.

* :func:`phishing_rates` -- click, submit and report rate per phishing campaign (Wilson).
* :func:`knowledge_behaviour_pairs` -- person x phishing campaign: did the person know, from
  the last awareness campaign they answered *before* it, and what did they do.
* :func:`knowledge_click_risk_ratio` -- risk ratio of clicking (and reporting), knew vs did
  not know: crude, Mantel-Haenszel by department, and a person-clustered log-linear model.
* :func:`knowledge_click_model` -- logistic regression ``clicked ~ knew + C(department)`` with
  person-clustered standard errors.
* :func:`safe_vs_accuracy` -- awareness answer accuracy per SAFE risk grade, and Spearman.
* :func:`time_to_event` -- Kaplan-Meier curve of the time from sending to click or report.

Every returned table says in ``attrs["unit"]`` what a row or ``n`` counts and in
``attrs["note"]`` its caveats, fit for a chart footnote. The common ones:

* **Observational data.** People who answered correctly may differ in many other ways from
  people who did not; an association is not proof that training changes behaviour.
* **Ordering by launch date only.** An awareness campaign counts as "before" a phishing
  campaign when it *launched* strictly earlier; when a person actually answered, or opened the
  phishing email, is not known, so some "before" answers were given after the email arrived.
* **Scanner clicks are not clicks.** A link followed only by a security scanner
  (``time_scanned`` without a click) is not a click: the ``clicked`` flag of
  :func:`~awareness_analysis.data.behaviour.phish_users_frame` already leaves it out.

People are matched by email trimmed and lower-cased (:func:`~awareness_analysis.analysis.
privacy.person_keys`, the same rule as the phishing frames' ``email``); nothing else is joined
on. Map alias domains beforehand (:func:`~awareness_analysis.data.behaviour.person_key`) if
one person uses several.

Small groups follow the project's rule (:mod:`awareness_analysis.analysis.privacy`): a row
covering fewer than ``k`` people shows no figures (``suppressed`` True, counts ``<NA>``, rates
NaN); ``k`` None, 0 or 1 switches suppression off.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.genmod.families import Binomial, Poisson
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.stats.contingency_tables import StratifiedTable, Table2x2

from awareness_analysis.analysis.privacy import (
    DEFAULT_MIN_GROUP_SIZE,
    choose_hidden,
    person_keys,
    suppress_rows,
    threshold,
)
from awareness_analysis.analysis.stats import CONFIDENCE, Z_CONFIDENCE, two_sided_p, wilson_interval
from awareness_analysis.data.behaviour import RISK_DTYPE, RISK_GRADES
from awareness_analysis.vocabulary import SUPPRESSED_LABEL, UNIT_PEOPLE

__all__ = [
    "BEHAVIOURS",
    "OBSERVATIONAL_NOTE",
    "ORDERING_NOTE",
    "PHISH_METRICS",
    "RISK_RATIO_COLUMNS",
    "SCANNER_NOTE",
    "UNIT_PAIRS",
    "SafeAccuracy",
    "TimeToEvent",
    "blank_rows",
    "knowledge_behaviour_pairs",
    "knowledge_click_model",
    "knowledge_click_risk_ratio",
    "phishing_hidden_departments",
    "phishing_rates",
    "safe_vs_accuracy",
    "time_to_event",
]

#: Phishing rates of :func:`phishing_rates`: metric -> flag column of the phish users frame.
PHISH_METRICS: dict[str, str] = {"click": "clicked", "submit": "submitted", "report": "reported"}
#: Behaviours the knowledge analyses relate to knowing: flag columns of the pairs frame.
BEHAVIOURS = ("clicked", "reported")
#: What a row of :func:`knowledge_behaviour_pairs` (and of the pair-level estimates) counts.
UNIT_PAIRS = "person x phishing campaign pairs"

OBSERVATIONAL_NOTE = (
    "Observational data: people who answered correctly may differ in other ways from those "
    "who did not, so this is an association, not proof that training changes behaviour."
)
ORDERING_NOTE = (
    "Before = the awareness campaign launched strictly before the phishing campaign "
    "(launch dates only; when a person answered or opened the email is not known)."
)
SCANNER_NOTE = (
    "A link followed only by a security scanner (scanned, no click) is not counted as a click."
)
_CLUSTER_NOTE = (
    "One person is in many phishing campaigns: pair-level intervals use person-clustered "
    "(sandwich) standard errors."
)

_ALPHA = 1 - CONFIDENCE
_DATE_DTYPE = "datetime64[us, UTC]"


# -- helpers --------------------------------------------------------------------------------------


def require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise unless ``frame`` is a DataFrame with ``columns`` (``name``: what to call it)."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame, not {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}")


def _utc(values: Any) -> pd.Series:
    """Dates as tz-aware UTC ``datetime64[us, UTC]`` (naive dates are refused)."""
    series = pd.Series(values)
    if len(series) and not isinstance(series.dtype, pd.DatetimeTZDtype):
        if pd.api.types.is_datetime64_dtype(series.dtype):
            raise ValueError("dates must be tz-aware (UTC); got naive datetimes")
        series = pd.to_datetime(series, utc=True)
    if not len(series):
        return pd.Series(pd.DatetimeIndex([], dtype=_DATE_DTYPE), index=series.index)
    return series.dt.tz_convert("UTC").astype(_DATE_DTYPE)


def _timestamp(value: datetime | pd.Timestamp | str, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} must be tz-aware (e.g. '2026-01-31T00:00:00+00:00')")
    return stamp.tz_convert("UTC")


def _categorical_like(values: Sequence[Any] | np.ndarray, like: pd.Series) -> Any:
    """``values`` (str ids) with the dtype of ``like`` when it is categorical, else str."""
    if isinstance(like.dtype, pd.CategoricalDtype):
        return pd.Categorical(np.asarray(values, dtype=object), dtype=like.dtype)
    return pd.array(np.asarray(values, dtype=object), dtype="str")


def _launch_of(frame: pd.DataFrame, id_column: str) -> pd.Series:
    """Launch date per campaign id (as str), dated campaigns only; the first row of an id."""
    launches = pd.Series(
        _utc(frame["launch_date"]).array,
        index=frame[id_column].astype("str").to_numpy(dtype=object),
    )
    launches = launches[~launches.index.duplicated(keep="first")]
    return _utc(launches.dropna())


def _phish_people(phish_users: pd.DataFrame, times: Sequence[str] = ()) -> pd.DataFrame:
    """One row per phishing campaign x person: flags any row's, ``times`` the earliest,
    name and department the first row's. Sorted by campaign (category order) then person."""
    flags = [flag for flag in ("clicked", "submitted", "reported") if flag in phish_users]
    work = pd.DataFrame(
        {
            # Categorical ids keep their dtype: groups come out in launch order.
            "phish_campaign_id": phish_users["phish_campaign_id"].reset_index(drop=True),
            "person": person_keys(phish_users["email"]).to_numpy(dtype=object),
        }
    )
    for column in ("phish_campaign_name", "department"):
        if column in phish_users:
            work[column] = phish_users[column].astype("str").to_numpy(dtype=object)
    for flag in flags:
        work[flag] = phish_users[flag].to_numpy(dtype=bool)
    for column in times:
        work[column] = _utc(phish_users[column]).array
    aggregations: dict[str, str] = {flag: "any" for flag in flags}
    aggregations |= {c: "first" for c in ("phish_campaign_name", "department") if c in work}
    aggregations |= dict.fromkeys(times, "min")
    grouped = work.groupby(["phish_campaign_id", "person"], observed=True, sort=True)
    per = grouped.agg(aggregations).reset_index() if len(work) else work.iloc[:0].copy()
    for column in times:
        per[column] = _utc(per[column])
    return per


def _first_per_person(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each person's first phishing campaign of the pairs (earliest launch, then campaign
    order): one row per person, so rows are independent."""
    order = pairs.assign(_code=_codes(pairs["phish_campaign_id"]))
    order = order.sort_values(["phish_launch_date", "_code", "person"], kind="stable")
    return order.drop_duplicates("person", keep="first").drop(columns="_code")


def _codes(column: pd.Series) -> np.ndarray:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(dtype=np.int64)
    return pd.factorize(column, sort=True)[0].astype(np.int64)


def _strata(frame: pd.DataFrame, k: int) -> tuple[np.ndarray, int]:
    """Department per row, departments with fewer than ``k`` distinct people (in ``frame``)
    pooled into one :data:`SUPPRESSED_LABEL` stratum; and how many were pooled."""
    department = frame["department"].astype("str").to_numpy(dtype=object)
    if k == 0 or not len(frame):
        return department, 0
    people = pd.Series(frame["person"].to_numpy(dtype=object)).groupby(department).nunique()
    small = set(people.index[people < k])
    if not small:
        return department, 0
    pooled = np.where(np.isin(department, list(small)), SUPPRESSED_LABEL, department)
    return pooled.astype(object), len(small)


def _arm_counts(knew: np.ndarray, event: np.ndarray) -> tuple[int, int, int, int]:
    """(n knew, events knew, n did not know, events did not know)."""
    return (
        int(knew.sum()),
        int((knew & event).sum()),
        int((~knew).sum()),
        int((~knew & event).sum()),
    )


def _small(k: int, people: int) -> bool:
    """The small-group rule: some people, but fewer than ``k`` (0 = off)."""
    return bool(k) and 0 < people < k


def _finite(value: float) -> float:
    value = float(value)
    return value if np.isfinite(value) else np.nan


def blank_rows(table: pd.DataFrame, hide: np.ndarray, counts: Sequence[str]) -> pd.DataFrame:
    """Blank the figures of ``hide`` rows: ``counts`` to <NA>, every float column to NaN."""
    table["suppressed"] = np.asarray(hide, dtype=bool)
    for column in counts:
        values = table[column].astype("Int64")
        values[hide] = pd.NA
        table[column] = values
    if not table["suppressed"].any():
        return table  # on every dashboard redraw: no float column to rewrite for nothing
    for column in table.columns:
        if table[column].dtype == np.float64:
            table.loc[hide, column] = np.nan
    return table


def _design(knew: np.ndarray, *factors: np.ndarray) -> np.ndarray:
    """Design matrix: constant, knew, then treatment dummies of each factor (its first level,
    sorted, is the reference)."""
    columns = [np.ones(len(knew)), knew.astype(np.float64)]
    for factor in factors:
        codes, levels = pd.factorize(pd.Series(factor, dtype=object), sort=True)
        columns.extend((codes == level).astype(np.float64) for level in range(1, len(levels)))
    return np.column_stack(columns)


def _fit_clustered(
    y: np.ndarray, exog: np.ndarray, groups: np.ndarray, family: Any
) -> tuple[float, float, float, float, bool]:
    """(coefficient of column 1 as exp, CI low, CI high, p, converged) of a GLM with
    person-clustered (sandwich) covariance."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = GLM(y, exog, family=family).fit(cov_type="cluster", cov_kwds={"groups": groups})
    converged = bool(getattr(result, "converged", True)) and not any(
        "separation" in str(w.message).lower() or "converge" in str(w.message).lower()
        for w in caught
    )
    beta = float(result.params[1])
    low, high = np.asarray(result.conf_int(alpha=_ALPHA))[1]
    p = float(result.pvalues[1])
    return (
        _finite(np.exp(beta)),
        _finite(np.exp(low)),
        _finite(np.exp(high)),
        _finite(p),
        converged,
    )


def phishing_hidden_departments(phish_users: pd.DataFrame, k: int) -> tuple[str, ...]:
    """Departments hidden at minimum group size ``k`` among the phishing recipients: the
    small ones and the complementary ones that protect them (the engine's rule)."""
    if k <= 1 or phish_users.empty:
        return ()
    people = person_keys(phish_users["email"])
    departments = phish_users["department"].astype(str)
    members = people.groupby(departments.to_numpy()).agg(set)
    size_of = {str(name): len(group) for name, group in members.items()}

    def people_in(names: Sequence[str]) -> int:
        return len(set().union(*(members[name] for name in names)))

    hidden, _ = choose_hidden(size_of, people.nunique(), k, people_in)
    return tuple(hidden)


# -- 1. phishing rates ----------------------------------------------------------------------------


def phishing_rates(
    phish_users: pd.DataFrame, k: int | None = DEFAULT_MIN_GROUP_SIZE
) -> pd.DataFrame:
    """Click, submit and report rate per phishing campaign, with 95% Wilson intervals.

    One row per campaign present in ``phish_users`` x metric (:data:`PHISH_METRICS` order:
    ``click``, ``submit``, ``report``), campaigns in the order of the ``phish_campaign_id``
    categories (launch order). Columns: ``phish_campaign_id``, ``phish_campaign_name``, then the
    project's rate-table columns ``metric``, ``successes`` (the numerator), ``n`` (people the
    campaign was sent to), ``people``, ``rate``, ``ci_low``, ``ci_high``, ``design_effect``
    (always 1: one row per person) and ``suppressed``.

    A person with several rows in one campaign (two spellings of one address) counts once,
    as having clicked if any row did. Click = the ``clicked`` flag: a link followed only by a
    security scanner is not a click. Submit = credentials submitted; report = the email was
    reported (``time_reported``). Campaigns sent to fewer than ``k`` people are suppressed.
    """
    require_columns(
        phish_users,
        ("phish_campaign_id", "phish_campaign_name", "email", *PHISH_METRICS.values()),
        "phish_users",
    )
    per = _phish_people(phish_users)
    grouped = per.groupby("phish_campaign_id", observed=True, sort=True)
    n = grouped.size()
    ids = n.index.astype("str").to_numpy(dtype=object)
    names = grouped["phish_campaign_name"].first().reindex(n.index).to_numpy(dtype=object)
    metrics = list(PHISH_METRICS)
    successes = (
        np.column_stack(
            [
                grouped[flag].sum().reindex(n.index).to_numpy(dtype=np.int64)
                for flag in PHISH_METRICS.values()
            ]
        )
        if len(n)
        else np.zeros((0, len(metrics)), dtype=np.int64)
    )
    counts = np.repeat(n.to_numpy(dtype=np.int64), len(metrics))
    hits = successes.reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(counts > 0, hits / counts, np.nan)
    low, high = wilson_interval(hits, counts)
    table = pd.DataFrame(
        {
            "phish_campaign_id": _categorical_like(
                np.repeat(ids, len(metrics)), phish_users["phish_campaign_id"]
            ),
            "phish_campaign_name": pd.array(np.repeat(names, len(metrics)), dtype="str"),
            "metric": pd.array(np.tile(np.array(metrics, dtype=object), len(n)), dtype="str"),
            "successes": pd.array(hits, dtype="Int64"),
            "n": pd.array(counts, dtype="Int64"),
            "people": pd.array(counts, dtype="Int64"),
            "rate": rate.astype(np.float64),
            "ci_low": low,
            "ci_high": high,
            "design_effect": np.ones(len(counts)),
            "suppressed": np.zeros(len(counts), dtype=bool),
        }
    )
    table = suppress_rows(table, k)
    k = threshold(k)
    table.attrs["unit"] = UNIT_PEOPLE
    table.attrs["note"] = (
        "n = people the phishing campaign was sent to; click, submit and report rates with "
        f"{CONFIDENCE:.0%} Wilson intervals. Report = a report the vendor recorded. "
        f"{SCANNER_NOTE}"
        + (f" Campaigns sent to fewer than {k} people are suppressed." if k else "")
    )
    return table


# -- 2. knowledge x behaviour pairs ---------------------------------------------------------------


def knowledge_behaviour_pairs(
    users: pd.DataFrame,
    campaigns: pd.DataFrame,
    phish_users: pd.DataFrame,
    phish_campaigns: pd.DataFrame,
) -> pd.DataFrame:
    """Per person x phishing campaign: did the person know, and did they click or report.

    ``users``/``campaigns`` are the awareness campaign frames, ``phish_users``/
    ``phish_campaigns`` the phishing frames. For each person (email trimmed, lower-cased) and
    phishing campaign they were sent, the *knowledge campaign* is the most recent awareness
    campaign the person answered (at least one question correct or incorrect) whose launch
    date is strictly before the phishing campaign's launch date; campaigns with the same
    launch time rank by their order in ``campaigns`` (the later one wins). ``knew`` is True
    when every question the person answered in it was correct (an unanswered question is not
    wrong). Pairs without such a campaign (nothing answered before) are left out, as are
    phishing and awareness campaigns without a launch date; ``attrs["excluded"]`` counts the
    pairs left out.

    Columns: ``person`` (str), ``phish_campaign_id`` (dtype of ``phish_users``),
    ``phish_launch_date``, ``department`` (from the phishing row; category),
    ``knowledge_campaign_id`` (dtype of ``users``), ``knowledge_launch_date``, ``knew``,
    ``clicked``, ``submitted``, ``reported`` (bool; a scanner-only click is not ``clicked``).
    Sorted by phishing campaign (category order) then person.
    """
    require_columns(users, ("campaign_id", "email", "n_correct", "n_incorrect"), "users")
    require_columns(campaigns, ("campaign_id", "launch_date"), "campaigns")
    require_columns(
        phish_users,
        ("phish_campaign_id", "email", "department", "clicked", "submitted", "reported"),
        "phish_users",
    )
    require_columns(phish_campaigns, ("phish_campaign_id", "launch_date"), "phish_campaigns")

    # Knowledge: one row per awareness campaign x person that answered something.
    know = pd.DataFrame(
        {
            "person": person_keys(users["email"]).to_numpy(dtype=object),
            "knowledge_campaign_id": users["campaign_id"].astype("str").to_numpy(dtype=object),
            "correct": users["n_correct"].to_numpy(dtype=np.int64),
            "incorrect": users["n_incorrect"].to_numpy(dtype=np.int64),
        }
    )
    know = know.groupby(["person", "knowledge_campaign_id"], sort=False, as_index=False).sum()
    know = know[(know["correct"] + know["incorrect"]) > 0]
    launch = _launch_of(campaigns, "campaign_id")
    rank = {cid: position for position, cid in enumerate(launch.index)}
    know = know[know["knowledge_campaign_id"].isin(launch.index)].copy()
    know["knowledge_launch_date"] = _utc(
        launch.reindex(know["knowledge_campaign_id"].to_numpy()).array
    ).array
    know["_rank"] = know["knowledge_campaign_id"].map(rank).to_numpy(dtype=np.int64)
    know["knew"] = know["incorrect"].to_numpy() == 0
    know = know.sort_values(["knowledge_launch_date", "_rank"], kind="stable")
    know = know[["person", "knowledge_campaign_id", "knowledge_launch_date", "knew"]]
    know["person"] = know["person"].astype("str")

    # Behaviour: one row per phishing campaign x person.
    per = _phish_people(phish_users)
    total = len(per)
    phish_launch = _launch_of(phish_campaigns, "phish_campaign_id")
    per["phish_launch_date"] = _utc(
        phish_launch.reindex(per["phish_campaign_id"].astype("str").to_numpy()).array
    ).array
    undated = int(per["phish_launch_date"].isna().sum())
    per = per[per["phish_launch_date"].notna()].copy()
    per["person"] = per["person"].astype("str")
    per["_order"] = np.arange(len(per))
    per = per.sort_values("phish_launch_date", kind="stable")

    merged = pd.merge_asof(
        per,
        know,
        left_on="phish_launch_date",
        right_on="knowledge_launch_date",
        by="person",
        direction="backward",
        allow_exact_matches=False,  # strictly before
    )
    no_history = int(merged["knowledge_launch_date"].isna().sum())
    merged = merged[merged["knowledge_launch_date"].notna()]
    merged = merged.sort_values("_order", kind="stable")
    departments = merged["department"].to_numpy(dtype=object)
    pairs = pd.DataFrame(
        {
            "person": pd.array(merged["person"].to_numpy(dtype=object), dtype="str"),
            "phish_campaign_id": _categorical_like(
                merged["phish_campaign_id"].astype("str").to_numpy(dtype=object),
                phish_users["phish_campaign_id"],
            ),
            "phish_launch_date": _utc(merged["phish_launch_date"].array).array,
            "department": pd.Categorical(
                departments, categories=pd.Index(sorted(set(departments)), dtype="str")
            ),
            "knowledge_campaign_id": _categorical_like(
                merged["knowledge_campaign_id"].to_numpy(dtype=object), users["campaign_id"]
            ),
            "knowledge_launch_date": _utc(merged["knowledge_launch_date"].array).array,
            "knew": merged["knew"].to_numpy(dtype=bool),
            "clicked": merged["clicked"].to_numpy(dtype=bool),
            "submitted": merged["submitted"].to_numpy(dtype=bool),
            "reported": merged["reported"].to_numpy(dtype=bool),
        }
    )
    pairs.attrs["unit"] = UNIT_PAIRS
    pairs.attrs["excluded"] = {
        "phish_pairs": total,
        "undated_phishing_campaign": undated,
        "nothing_answered_before": no_history,
    }
    pairs.attrs["note"] = (
        "Knew = every answered question correct in the person's most recent awareness "
        f"campaign answered before the phishing campaign. {ORDERING_NOTE} People who answered "
        f"nothing before a phishing campaign are left out for it. {SCANNER_NOTE} "
        f"{OBSERVATIONAL_NOTE}"
    )
    return pairs


# -- 3. risk ratio and model ----------------------------------------------------------------------

_PAIR_COLUMNS = ("person", "phish_campaign_id", "phish_launch_date", "department", "knew")
#: Columns of :func:`knowledge_click_risk_ratio`, in order.
RISK_RATIO_COLUMNS = (
    "outcome",
    "method",
    "unit",
    "risk_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "n",
    "people",
    "n_knew",
    "events_knew",
    "n_not_knew",
    "events_not_knew",
    "rate_knew",
    "rate_not_knew",
    "strata",
    "suppressed",
)


def _crude(frame: pd.DataFrame, outcome: str) -> dict[str, Any]:
    knew = frame["knew"].to_numpy(dtype=bool)
    event = frame[outcome].to_numpy(dtype=bool)
    n1, a, n0, c = _arm_counts(knew, event)
    row: dict[str, Any] = {
        "risk_ratio": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p_value": np.nan,
        "strata": pd.NA,
    }
    if n1 and n0:
        table = Table2x2(np.array([[a, n1 - a], [c, n0 - c]], dtype=np.float64), shift_zeros=False)
        with np.errstate(divide="ignore", invalid="ignore"):
            row["risk_ratio"] = _finite(table.riskratio) if c else np.nan
            if a and c:
                low, high = table.riskratio_confint(alpha=_ALPHA)
                row |= {
                    "ci_low": _finite(low),
                    "ci_high": _finite(high),
                    "p_value": _finite(table.riskratio_pvalue()),
                }
    return row


def _mantel_haenszel(frame: pd.DataFrame, strata: np.ndarray, outcome: str) -> dict[str, Any]:
    """MH risk ratio over department strata, Greenland-Robins variance of its log."""
    knew = frame["knew"].to_numpy(dtype=bool)
    event = frame[outcome].to_numpy(dtype=bool)
    codes, levels = pd.factorize(pd.Series(strata, dtype=object), sort=True)
    cells = np.zeros((2, 2, len(levels)))
    for row, exposed in enumerate((knew, ~knew)):
        for column, happened in enumerate((event, ~event)):
            cells[row, column] = np.bincount(codes[exposed & happened], minlength=len(levels))
    n1 = cells[0].sum(axis=0)
    n0 = cells[1].sum(axis=0)
    # Strata with only one arm carry no information about the ratio.
    informative = (n1 > 0) & (n0 > 0)
    result: dict[str, Any] = {
        "risk_ratio": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p_value": np.nan,
        "strata": int(informative.sum()),
    }
    if not informative.any():
        return result
    cells = cells[:, :, informative]
    a, c = cells[0, 0], cells[1, 0]
    n1, n0 = cells[0].sum(axis=0), cells[1].sum(axis=0)
    total = n1 + n0
    r = float(np.sum(a * n0 / total))
    s = float(np.sum(c * n1 / total))
    if s == 0:
        return result
    rr = float(StratifiedTable(cells).riskratio_pooled)
    result["risk_ratio"] = rr
    if r == 0:
        return result
    variance = float(np.sum((n1 * n0 * (a + c) - a * c * total) / total**2)) / (r * s)
    if variance <= 0:
        return result
    se = float(np.sqrt(variance))
    z = np.log(rr) / se
    result |= {
        "ci_low": float(np.exp(np.log(rr) - Z_CONFIDENCE * se)),
        "ci_high": float(np.exp(np.log(rr) + Z_CONFIDENCE * se)),
        "p_value": float(two_sided_p(z)),
    }
    return result


def _poisson_clustered(frame: pd.DataFrame, strata: np.ndarray, outcome: str) -> dict[str, Any]:
    """Risk ratio from a log-link Poisson GLM (modified Poisson) with department effects and
    person-clustered standard errors, over all pairs."""
    knew = frame["knew"].to_numpy(dtype=bool)
    event = frame[outcome].to_numpy(dtype=bool)
    n1, a, n0, c = _arm_counts(knew, event)
    result: dict[str, Any] = {
        "risk_ratio": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p_value": np.nan,
        "strata": len(set(strata)),
    }
    if not (n1 and n0 and a and c):
        return result
    exog = _design(knew, strata)
    groups = pd.factorize(frame["person"].to_numpy(dtype=object))[0]
    rr, low, high, p, _ = _fit_clustered(event.astype(np.float64), exog, groups, Poisson())
    return result | {"risk_ratio": rr, "ci_low": low, "ci_high": high, "p_value": p}


def knowledge_click_risk_ratio(
    pairs: pd.DataFrame, k: int | None = DEFAULT_MIN_GROUP_SIZE
) -> pd.DataFrame:
    """Risk ratio of clicking, and of reporting, for people who knew vs people who did not.

    ``pairs`` is :func:`knowledge_behaviour_pairs`. RR = P(event | knew) / P(event | did not
    know): below 1 means fewer clicks (or reports) among those who knew. Three estimates per
    behaviour (:data:`BEHAVIOURS`), one row each, column ``method``:

    * ``crude`` -- person level: one row per person, their *first* eligible phishing campaign
      (earliest launch), so rows are independent; Katz log interval
      (``statsmodels`` ``Table2x2``).
    * ``mantel_haenszel`` -- the same person-level rows, stratified by department
      (``StratifiedTable.riskratio_pooled``), Greenland-Robins variance for the interval,
      Wald p-value. Departments with fewer than ``k`` people are pooled into one
      ``(suppressed)`` stratum (not dropped); strata with only one arm carry no information.
    * ``poisson_clustered`` -- all pairs: log-link Poisson regression ``event ~ knew +
      C(department)`` (same pooling) with person-clustered sandwich errors, so a person in
      many phishing campaigns is not counted as independent evidence.

    Columns: ``outcome``, ``method``, ``unit`` (people or pairs), ``risk_ratio``, ``ci_low``,
    ``ci_high`` (95%), ``p_value`` (against RR = 1), ``n`` (rows used), ``people``,
    ``n_knew``, ``events_knew``, ``n_not_knew``, ``events_not_knew`` (Int64), ``rate_knew``,
    ``rate_not_knew``, ``strata`` (Int64: departments used; <NA> for crude), ``suppressed``.
    A row is suppressed (figures blanked) when either arm has some but fewer than ``k``
    people. The ratio or its bounds are NaN where an arm has no events.
    """
    require_columns(pairs, (*_PAIR_COLUMNS, *BEHAVIOURS), "pairs")
    k = threshold(k)
    first = _first_per_person(pairs)
    first_strata, pooled_first = _strata(first, k)
    all_strata, pooled_all = _strata(pairs, k)
    methods = (
        ("crude", first, _crude),
        (
            "mantel_haenszel",
            first,
            lambda frame, outcome: _mantel_haenszel(frame, first_strata, outcome),
        ),
        (
            "poisson_clustered",
            pairs,
            lambda frame, outcome: _poisson_clustered(frame, all_strata, outcome),
        ),
    )
    rows = []
    hide = []
    for outcome in BEHAVIOURS:
        for method, frame, estimate in methods:
            knew = frame["knew"].to_numpy(dtype=bool)
            event = frame[outcome].to_numpy(dtype=bool)
            n1, a, n0, c = _arm_counts(knew, event)
            person = frame["person"].to_numpy(dtype=object)
            rows.append(
                {
                    "outcome": outcome,
                    "method": method,
                    "unit": UNIT_PEOPLE if frame is first else UNIT_PAIRS,
                    **estimate(frame, outcome),
                    "n": len(frame),
                    "people": len(set(person)),
                    "n_knew": n1,
                    "events_knew": a,
                    "n_not_knew": n0,
                    "events_not_knew": c,
                    "rate_knew": a / n1 if n1 else np.nan,
                    "rate_not_knew": c / n0 if n0 else np.nan,
                }
            )
            people_knew, people_not = len(set(person[knew])), len(set(person[~knew]))
            hide.append(_small(k, people_knew) or _small(k, people_not))
    table = pd.DataFrame(rows, columns=list(RISK_RATIO_COLUMNS))
    table = table.astype(
        {
            "outcome": "str",
            "method": "str",
            "unit": "str",
            "risk_ratio": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
            "p_value": "float64",
            "rate_knew": "float64",
            "rate_not_knew": "float64",
        }
    )
    for column in (
        "n",
        "people",
        "n_knew",
        "events_knew",
        "n_not_knew",
        "events_not_knew",
        "strata",
    ):
        table[column] = table[column].astype("Int64")
    table = blank_rows(
        table,
        np.asarray(hide, dtype=bool),
        ("n", "people", "n_knew", "events_knew", "n_not_knew", "events_not_knew", "strata"),
    )
    table.attrs["unit"] = f"{UNIT_PEOPLE} (crude, mantel_haenszel); {UNIT_PAIRS} (poisson)"
    table.attrs["min_group_size"] = k
    table.attrs["pooled_departments"] = {"people": pooled_first, "pairs": pooled_all}
    pooling = f" Departments with fewer than {k} people are pooled into one stratum." if k else ""
    table.attrs["note"] = (
        "Risk ratio = rate among people who knew / rate among those who did not "
        f"({CONFIDENCE:.0%} CI). Crude and Mantel-Haenszel (by department) use one row per "
        "person, their first phishing campaign after an answered awareness campaign; the "
        f"Poisson estimate uses every pair. {_CLUSTER_NOTE}{pooling} {ORDERING_NOTE} "
        f"{SCANNER_NOTE} {OBSERVATIONAL_NOTE}"
    )
    return table


def knowledge_click_model(
    pairs: pd.DataFrame,
    k: int | None = DEFAULT_MIN_GROUP_SIZE,
    *,
    outcome: Literal["clicked", "reported"] = "clicked",
    campaign_effects: bool = False,
) -> pd.DataFrame:
    """Logistic regression ``outcome ~ knew + C(department)`` over all pairs, person-clustered.

    ``pairs`` is :func:`knowledge_behaviour_pairs`. Fitted with ``statsmodels`` GLM Binomial
    (logit) and ``cov_type="cluster"`` with the person as the group, so a person's repeated
    phishing campaigns are not independent evidence. Departments with fewer than ``k`` people
    are pooled into one ``(suppressed)`` level. ``campaign_effects=True`` adds
    ``C(phish_campaign_id)`` (campaigns differ in how tempting their lure is).

    One row: ``outcome``, ``term`` ("knew"), ``odds_ratio``, ``ci_low``, ``ci_high`` (95%),
    ``p_value``, ``n`` (pairs), ``people`` (clusters), ``n_knew``, ``n_not_knew`` (pairs),
    ``levels`` (department levels), ``converged`` and ``suppressed`` (an arm with 1 to k-1
    people: figures blanked). An odds ratio is not a risk ratio: with click rates of 15-30%
    it lies further from 1 than the risk ratio does.
    """
    if outcome not in BEHAVIOURS:
        raise ValueError(f"outcome must be one of {BEHAVIOURS}, not {outcome!r}")
    require_columns(pairs, (*_PAIR_COLUMNS, outcome), "pairs")
    k = threshold(k)
    knew = pairs["knew"].to_numpy(dtype=bool)
    event = pairs[outcome].to_numpy(dtype=bool)
    person = pairs["person"].to_numpy(dtype=object)
    strata, pooled = _strata(pairs, k)
    people_knew, people_not = len(set(person[knew])), len(set(person[~knew]))
    row: dict[str, Any] = {
        "outcome": outcome,
        "term": "knew",
        "odds_ratio": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p_value": np.nan,
        "n": len(pairs),
        "people": len(set(person)),
        "n_knew": int(knew.sum()),
        "n_not_knew": int((~knew).sum()),
        "levels": len(set(strata)),
        "converged": False,
    }
    if knew.any() and (~knew).any() and event.any() and (~event).any():
        factors = [strata]
        if campaign_effects:
            factors.append(pairs["phish_campaign_id"].astype("str").to_numpy(dtype=object))
        exog = _design(knew, *factors)
        groups = pd.factorize(person)[0]
        odds, low, high, p, converged = _fit_clustered(
            event.astype(np.float64), exog, groups, Binomial()
        )
        row |= {
            "odds_ratio": odds,
            "ci_low": low,
            "ci_high": high,
            "p_value": p,
            "converged": converged,
        }
    table = pd.DataFrame([row]).astype(
        {
            "outcome": "str",
            "term": "str",
            "odds_ratio": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
            "p_value": "float64",
            "converged": "bool",
        }
    )
    hide = np.array([_small(k, people_knew) or _small(k, people_not)])
    table = blank_rows(table, hide, ("n", "people", "n_knew", "n_not_knew", "levels"))
    formula = f"{outcome} ~ knew + C(department)" + (
        " + C(phish_campaign_id)" if campaign_effects else ""
    )
    table.attrs["unit"] = UNIT_PAIRS
    table.attrs["formula"] = formula
    table.attrs["min_group_size"] = k
    table.attrs["pooled_departments"] = pooled
    pooling = f" Departments under {k} people pooled into one level." if k else ""
    table.attrs["note"] = (
        f"Logistic regression {formula}; odds ratio for knew with {CONFIDENCE:.0%} CI. "
        f"{_CLUSTER_NOTE}{pooling} {ORDERING_NOTE} {SCANNER_NOTE} {OBSERVATIONAL_NOTE}"
    )
    return table


# -- 4. SAFE grade vs accuracy --------------------------------------------------------------------


@dataclass(frozen=True)
class SafeAccuracy:
    """:func:`safe_vs_accuracy`: a row per SAFE grade, and the grade-accuracy correlation."""

    grades: pd.DataFrame
    correlation: pd.DataFrame


_SAFE_NOTE = (
    "Accuracy per person = correct / answered questions over all their awareness campaigns, "
    "then averaged over the people of a grade (t interval). The vendor says campaign answers "
    "do not feed the SAFE score, so this comparison is not circular; clicks against the SAFE "
    "human error component probably are (simulated phishing likely feeds it)."
)


def safe_vs_accuracy(
    safe_scores: pd.DataFrame, users: pd.DataFrame, k: int | None = DEFAULT_MIN_GROUP_SIZE
) -> SafeAccuracy:
    """Awareness answer accuracy per SAFE risk grade (A lowest risk ... F highest).

    People are joined on email (trimmed, lower-cased); a person's grade is their last row in
    ``safe_scores`` with a grade. Accuracy per person = correct / (correct + incorrect) over
    all their rows of ``users``; people who answered nothing are left out.

    ``grades``: one row per grade A, B, C, D, F -- ``risk`` (ordered category), ``people``,
    ``answers`` (questions answered; Int64), ``mean_accuracy`` (mean over people), ``ci_low``,
    ``ci_high`` (95% t interval of that mean, clipped to 0..1; NaN for one person),
    ``suppressed``. Grades with fewer than ``k`` people are suppressed, and further grades
    with them (complementary, :func:`~awareness_analysis.analysis.privacy.choose_hidden`) so
    a hidden count cannot be worked out from the total.

    ``correlation``: one row -- ``method`` ("spearman"), ``rho`` (grade A..F coded 0..4
    against accuracy: negative = riskier grades answer worse), ``p_value``, ``people``,
    ``suppressed`` (1 to k-1 people in all).
    """
    require_columns(safe_scores, ("email", "risk"), "safe_scores")
    require_columns(users, ("email", "n_correct", "n_incorrect"), "users")
    k = threshold(k)
    risk = pd.Series(
        pd.Categorical(
            safe_scores["risk"].astype("str").where(safe_scores["risk"].notna()), dtype=RISK_DTYPE
        )
    )
    graded = pd.DataFrame(
        {"person": person_keys(safe_scores["email"]).to_numpy(dtype=object), "risk": risk.cat.codes}
    )
    graded = graded[graded["risk"] >= 0].drop_duplicates("person", keep="last")
    answers = (
        pd.DataFrame(
            {
                "person": person_keys(users["email"]).to_numpy(dtype=object),
                "correct": users["n_correct"].to_numpy(dtype=np.int64),
                "incorrect": users["n_incorrect"].to_numpy(dtype=np.int64),
            }
        )
        .groupby("person", sort=False)
        .sum()
    )
    answers["answered"] = answers["correct"] + answers["incorrect"]
    answers = answers[answers["answered"] > 0]
    answers["accuracy"] = answers["correct"] / answers["answered"]
    joined = graded.join(answers, on="person", how="inner")

    grade_code = joined["risk"].to_numpy(dtype=np.int64)
    accuracy = joined["accuracy"].to_numpy(dtype=np.float64)
    answered = joined["answered"].to_numpy(dtype=np.int64)
    size = len(RISK_GRADES)
    people = np.bincount(grade_code, minlength=size)
    total_answers = np.bincount(grade_code, weights=answered, minlength=size).round()
    sums = np.bincount(grade_code, weights=accuracy, minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(people > 0, sums / people, np.nan)
        squares = np.bincount(
            grade_code, weights=(accuracy - mean[grade_code]) ** 2, minlength=size
        )
        sd = np.where(people > 1, np.sqrt(squares / (people - 1)), np.nan)
        half = np.where(
            people > 1,
            scipy_stats.t.ppf(1 - _ALPHA / 2, np.maximum(people - 1, 1)) * sd / np.sqrt(people),
            np.nan,
        )
    grades = pd.DataFrame(
        {
            "risk": pd.Categorical(list(RISK_GRADES), dtype=RISK_DTYPE),
            "people": pd.array(people, dtype="Int64"),
            "answers": pd.array(total_answers.astype(np.int64), dtype="Int64"),
            "mean_accuracy": mean,
            "ci_low": np.clip(mean - half, 0.0, 1.0),
            "ci_high": np.clip(mean + half, 0.0, 1.0),
        }
    )
    hide = np.zeros(size, dtype=bool)
    total = int(people.sum())
    if k:
        size_of = {
            grade: int(count) for grade, count in zip(RISK_GRADES, people, strict=True) if count > 0
        }
        hidden, _ = choose_hidden(
            size_of, total, k, lambda names: sum(size_of[name] for name in names)
        )
        hide = np.isin(np.array(RISK_GRADES), hidden)
    grades = blank_rows(grades, hide, ("people", "answers"))
    grades.attrs["unit"] = UNIT_PEOPLE
    grades.attrs["min_group_size"] = k
    grades.attrs["note"] = f"{_SAFE_NOTE} {OBSERVATIONAL_NOTE}"

    rho = p = np.nan
    if len(joined) >= 3 and np.ptp(grade_code) > 0 and np.ptp(accuracy) > 0:
        result = scipy_stats.spearmanr(grade_code, accuracy)
        rho, p = float(result.statistic), float(result.pvalue)
    correlation = pd.DataFrame(
        {
            "method": pd.array(["spearman"], dtype="str"),
            "rho": [rho],
            "p_value": [p],
            "people": pd.array([total], dtype="Int64"),
        }
    )
    correlation = blank_rows(correlation, np.array([_small(k, total)]), ("people",))
    correlation.attrs["unit"] = UNIT_PEOPLE
    correlation.attrs["min_group_size"] = k
    correlation.attrs["note"] = (
        "Spearman rank correlation of SAFE grade (A = 0 ... F = 4) with a person's answer "
        f"accuracy; ties share ranks. {_SAFE_NOTE} {OBSERVATIONAL_NOTE}"
    )
    return SafeAccuracy(grades=grades, correlation=correlation)


# -- 5. time to event -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeToEvent:
    """:func:`time_to_event`: the Kaplan-Meier curve and its median."""

    curve: pd.DataFrame
    median: pd.DataFrame


_EVENT_TIMES: dict[str, tuple[str, ...]] = {
    # A submission implies a click: its time stands in when the click time is missing.
    "clicked": ("time_clicked", "time_submitted"),
    "reported": ("time_reported",),
}


def _pointwise_band(surv: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% log(-log) pointwise interval of a survival probability; exact 0 or 1 stay put."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(surv)
        g = np.log(-log_s)
        se_g = se / np.abs(surv * log_s)
        low = np.exp(-np.exp(g + Z_CONFIDENCE * se_g))
        high = np.exp(-np.exp(g - Z_CONFIDENCE * se_g))
    edge = (surv >= 1) | (surv <= 0)
    return np.where(edge, surv, low), np.where(edge, surv, high)


def time_to_event(
    phish_users: pd.DataFrame,
    as_of: datetime | pd.Timestamp | str,
    event: Literal["clicked", "reported"] = "clicked",
    *,
    phish_campaigns: pd.DataFrame | None = None,
    k: int | None = DEFAULT_MIN_GROUP_SIZE,
) -> TimeToEvent:
    """Kaplan-Meier estimate of the time from sending a phishing email to a click (or report).

    One observation per phishing campaign x person (a person's duplicate rows in a campaign
    merge: earliest times, any flag). Start = ``time_scheduled``; where missing, the phishing
    campaign's ``launch_date`` from ``phish_campaigns`` when given; rows with neither are left
    out. Event time: ``time_clicked`` (else ``time_submitted``: a submission implies a click)
    for ``clicked``, ``time_reported`` for ``reported``; only rows whose flag is set have an
    event, so a scanner-only row is no click. Without an event (or with one after ``as_of``)
    the row is censored at ``as_of``, the snapshot time (tz-aware). Left out, and counted in
    ``attrs["excluded"]``: no start, start after ``as_of``, event flagged without a time, event
    before the start. Estimated by ``statsmodels.duration.survfunc.SurvfuncRight``.

    ``curve``: ``time_hours``, ``survival`` (share without the event yet), ``ci_low``,
    ``ci_high`` (95% pointwise, log(-log)), ``at_risk``, ``events`` (Int64); a first row at
    time 0, then one per event time. Event times with fewer than ``k`` rows at risk are cut
    off (the tail would describe a handful of people).

    ``median``: one row -- ``event``, ``n`` (rows), ``people``, ``events``, ``censored``,
    ``median_hours`` (first time the survival falls below 0.5, statsmodels' SAS rule; NaN when
    it never does, e.g. fewer than half click), ``ci_low``, ``ci_high`` (95%, cloglog; NaN
    upper = not reached), ``median_hours_among_events`` (plain median of the event times,
    conditional on the event), ``suppressed`` (1 to k-1 people: curve empty).
    """
    if event not in _EVENT_TIMES:
        raise ValueError(f"event must be one of {tuple(_EVENT_TIMES)}, not {event!r}")
    times = ("time_scheduled", *_EVENT_TIMES[event])
    require_columns(phish_users, ("phish_campaign_id", "email", event, *times), "phish_users")
    k = threshold(k)
    snapshot = _timestamp(as_of, "as_of")
    per = _phish_people(phish_users, times)
    start = per["time_scheduled"]
    if phish_campaigns is not None:
        require_columns(phish_campaigns, ("phish_campaign_id", "launch_date"), "phish_campaigns")
        launch = _launch_of(phish_campaigns, "phish_campaign_id")
        fallback = _utc(launch.reindex(per["phish_campaign_id"].astype("str").to_numpy()).array)
        start = start.fillna(pd.Series(fallback.array, index=start.index))
    happened = per[event].to_numpy(dtype=bool)
    when = per[_EVENT_TIMES[event][0]]
    for column in _EVENT_TIMES[event][1:]:
        when = when.fillna(per[column])
    when = when.where(pd.Series(happened, index=when.index))

    no_start = start.isna().to_numpy()
    future = (~no_start) & (start > snapshot).to_numpy()
    no_time = happened & when.isna().to_numpy() & ~no_start & ~future
    hours_to_event = ((when - start).dt.total_seconds() / 3600).to_numpy(dtype=np.float64)
    negative = happened & ~no_time & ~no_start & ~future & (hours_to_event < 0)
    keep = ~(no_start | future | no_time | negative)
    observed = happened & keep & (when <= snapshot).to_numpy()
    censor_hours = ((snapshot - start).dt.total_seconds() / 3600).to_numpy(dtype=np.float64)
    duration = np.where(observed, hours_to_event, censor_hours)[keep]
    status = observed[keep].astype(np.int64)
    persons = per["person"].to_numpy(dtype=object)[keep]
    n_people = len(set(persons))
    suppressed = _small(k, n_people)

    curve_columns: dict[str, Any] = {
        "time_hours": [0.0],
        "survival": [1.0],
        "ci_low": [1.0],
        "ci_high": [1.0],
        "at_risk": [len(duration)],
        "events": [0],
    }
    median = median_low = median_high = np.nan
    if len(duration) and status.any():
        fit = SurvfuncRight(duration, status)
        surv_times = np.asarray(fit.surv_times, dtype=np.float64)
        surv = np.asarray(fit.surv_prob, dtype=np.float64)
        low, high = _pointwise_band(surv, np.asarray(fit.surv_prob_se, dtype=np.float64))
        at_risk = np.asarray(fit.n_risk, dtype=np.int64)
        events = np.asarray(fit.n_events, dtype=np.float64).round().astype(np.int64)
        lead = int(surv_times[0] > 0)  # a first row at time 0 unless events happen then
        curve_columns = {
            "time_hours": [0.0] * lead + surv_times.tolist(),
            "survival": [1.0] * lead + surv.tolist(),
            "ci_low": [1.0] * lead + low.tolist(),
            "ci_high": [1.0] * lead + high.tolist(),
            "at_risk": [len(duration)] * lead + at_risk.tolist(),
            "events": [0] * lead + events.tolist(),
        }
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = _finite(fit.quantile(0.5))
            bounds = fit.quantile_ci(0.5, alpha=_ALPHA, method="cloglog")
        median_low, median_high = (_finite(bound) for bound in bounds)
    curve = pd.DataFrame(curve_columns).astype(
        {"time_hours": "float64", "survival": "float64", "ci_low": "float64", "ci_high": "float64"}
    )
    curve["at_risk"] = curve["at_risk"].astype("Int64")
    curve["events"] = curve["events"].astype("Int64")
    if k:
        curve = curve[curve["at_risk"].to_numpy(dtype=np.int64) >= k]
    if suppressed:
        curve = curve.iloc[:0]
    curve = curve.reset_index(drop=True)
    event_hours = duration[status == 1]
    summary = pd.DataFrame(
        {
            "event": pd.array([event], dtype="str"),
            "n": pd.array([len(duration)], dtype="Int64"),
            "people": pd.array([n_people], dtype="Int64"),
            "events": pd.array([int(status.sum())], dtype="Int64"),
            "censored": pd.array([int(len(status) - status.sum())], dtype="Int64"),
            "median_hours": [median],
            "ci_low": [median_low],
            "ci_high": [median_high],
            "median_hours_among_events": [
                float(np.median(event_hours)) if len(event_hours) else np.nan
            ],
        }
    )
    summary = blank_rows(summary, np.array([suppressed]), ("n", "people", "events", "censored"))
    excluded = {
        "no_start_time": int(no_start.sum()),
        "started_after_as_of": int(future.sum()),
        "event_without_time": int(no_time.sum()),
        "event_before_start": int(negative.sum()),
    }
    what = "a click" if event == "clicked" else "a report"
    note = (
        f"Kaplan-Meier: share of phishing emails without {what} yet, by hours since sending "
        f"(scheduled time); censored at the snapshot ({snapshot.isoformat()}). "
        + (f"{SCANNER_NOTE} " if event == "clicked" else "")
        + "Rows are person x campaign pairs; intervals treat them as independent, so with "
        "people in many campaigns they are somewhat too narrow."
        + (f" The tail with fewer than {k} at risk is not shown." if k else "")
    )
    for frame in (curve, summary):
        frame.attrs["unit"] = UNIT_PAIRS
        frame.attrs["min_group_size"] = k
        frame.attrs["excluded"] = dict(excluded)
        frame.attrs["as_of"] = snapshot.isoformat()
        frame.attrs["note"] = note
    return TimeToEvent(curve=curve, median=summary)
