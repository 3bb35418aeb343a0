"""Interval, test and formatting helpers: thin wrappers over statsmodels and scipy.

The estimators themselves come from the well-kept libraries (Wilson intervals from
``statsmodels.stats.proportion.proportion_confint``, Benjamini-Hochberg from
``statsmodels.stats.multitest.multipletests``, normal tails from ``scipy.stats.norm``); this
module only makes them work on arrays with empty groups and adds the person-clustered design
effect that pooled views need.

Repeated measures. A pooled view counts one row per enrolment (or answer), and one person
contributes several. Their rows are not independent, so the variance of a pooled rate is
estimated with the person as the cluster (the sandwich / ratio-estimator variance):

    var_cluster(p) = sum over people j of (s_j - p * n_j)^2 / n^2

with ``s_j`` successes and ``n_j`` counted rows of person j. The design effect is
``var_cluster / (p (1 - p) / n)``, taken as at least 1 and exactly 1 when each person appears
once, and intervals and tests use the effective n = n / design effect.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "CONFIDENCE",
    "Z_CONFIDENCE",
    "benjamini_hochberg",
    "cluster_pairs",
    "design_effect",
    "format_p",
    "funnel_limits",
    "two_proportion_z",
    "two_sided_p",
    "wilson_interval",
]

#: Confidence level of every interval.
CONFIDENCE = 0.95
#: The two-sided normal quantile of :data:`CONFIDENCE` (1.96): the z of every Wald interval.
Z_CONFIDENCE = float(norm.isf((1 - CONFIDENCE) / 2))


def _float_array(values: Any) -> np.ndarray:
    """``values`` as float64, with pandas <NA> as NaN."""
    if isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")


def wilson_interval(
    successes: Any, n: Any, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``successes`` out of ``n`` (array-likes, broadcast together).

    ``n`` may be fractional (an effective n). Returns float arrays ``(low, high)``, NaN where
    ``n`` is 0 or missing; ``low`` is exactly 0 at 0 successes and ``high`` exactly 1 at ``n``.
    """
    _check_confidence(confidence)
    x, total = np.broadcast_arrays(_float_array(successes), _float_array(n))
    valid = total > 0  # False for NaN too
    if np.any(valid & ((x < 0) | (x > total * (1 + 1e-12)) | np.isnan(x))):
        raise ValueError("successes must lie between 0 and n")
    low = np.full(x.shape, np.nan)
    high = np.full(x.shape, np.nan)
    if np.any(valid):
        lo, hi = proportion_confint(
            np.minimum(x[valid], total[valid]), total[valid], alpha=1 - confidence, method="wilson"
        )
        low[valid], high[valid] = lo, hi
    # The bounds are 0 and 1 analytically there; pin them against rounding.
    low = np.where(valid & (x == 0), 0.0, low)
    high = np.where(valid & (x >= total), 1.0, high)
    return low, high


def design_effect(
    group: np.ndarray,
    person: np.ndarray,
    success: np.ndarray,
    n_groups: int,
    *,
    pairs: tuple[np.ndarray, ...] | None = None,
    distinct: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group: (successes, n, distinct people, design effect) of counted rows.

    ``group`` (codes 0..n_groups-1), ``person`` (codes >= 0) and ``success`` (bool) describe
    the counted rows only. The design effect is the person-clustered variance of the group's
    rate over the binomial one (see the module docstring), at least 1, exactly 1 where every
    person has one row, and 1 where the rate is 0 or 1 (no variance to inflate). ``pairs``:
    :func:`cluster_pairs` of ``group`` and ``person`` when the caller has them already;
    ``distinct``: the caller knows no person has two rows in one group (people = n).
    """
    group = np.asarray(group, dtype=np.int64)
    y = np.asarray(success, dtype=np.float64)
    n = np.bincount(group, minlength=n_groups).astype(np.int64)
    successes = np.bincount(group, weights=y, minlength=n_groups).round().astype(np.int64)
    if distinct:
        return successes, n, n.copy(), np.ones(n_groups)
    pair, pair_group, _ = pairs if pairs is not None else cluster_pairs(group, person)
    pair_n = np.bincount(pair)
    pair_s = np.bincount(pair, weights=y)
    people = np.bincount(pair_group, minlength=n_groups).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / n
        residual = pair_s - p[pair_group] * pair_n
        clustered = np.bincount(pair_group, weights=residual * residual, minlength=n_groups)
        binomial = n * p * (1 - p)
        deff = np.where(binomial > 0, clustered / binomial, 1.0)
    deff = np.where((people == n) | ~np.isfinite(deff), 1.0, np.maximum(deff, 1.0))
    return successes, n, people, deff


def cluster_pairs(group: np.ndarray, person: np.ndarray) -> tuple[np.ndarray, ...]:
    """The distinct (group, person) pairs of rows: per row its pair code, and per pair its
    group and person (codes >= 0), pairs in ascending (group, person) order."""
    group = np.asarray(group, dtype=np.int64)
    person = np.asarray(person, dtype=np.int64)
    width = int(person.max(initial=0)) + 1
    code = group * width + person
    size = (int(group.max(initial=0)) + 1) * width
    if size <= _DENSE_PAIRS:  # a lookup table beats hashing for the usual sizes
        seen = np.zeros(size, dtype=bool)
        seen[code] = True
        uniques = np.flatnonzero(seen)
        number = np.cumsum(seen) - 1
        pairs = number[code]
    else:
        pairs, uniques = pd.factorize(code, sort=True)
        uniques = np.asarray(uniques, dtype=np.int64)
    return pairs.astype(np.int64), uniques // width, uniques % width


#: Largest (groups x people) table :func:`cluster_pairs` numbers pairs with directly.
_DENSE_PAIRS = 1 << 24


def two_sided_p(z: Any) -> np.ndarray:
    """Two-sided normal p-value 2 * P(Z > |z|); precise far into the tail; NaN stays NaN."""
    values = _float_array(z)
    return 2.0 * norm.sf(np.abs(values))


def two_proportion_z(
    successes_1: Any, n_1: Any, successes_0: Any, n_0: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z-test of group 1 against group 0: ``(z, p)`` arrays.

    z = (p1 - p0) / sqrt(p (1 - p) (1/n1 + 1/n0)) with p the pooled rate, the test
    ``statsmodels.stats.proportion.proportions_ztest`` runs for two samples, here for many
    pairs at once and with fractional (effective) n. NaN where either n is 0; z = 0 when the
    pooled rate is 0 or 1 (no difference is possible).
    """
    s1, m1, s0, m0 = (_float_array(v) for v in (successes_1, n_1, successes_0, n_0))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (s1 + s0) / (m1 + m0)
        se = np.sqrt(pooled * (1 - pooled) * (1 / m1 + 1 / m0))
        diff = s1 / m1 - s0 / m0
        z = np.where(se > 0, diff / se, 0.0)
    z = np.where((m1 > 0) & (m0 > 0), z, np.nan)
    return z, two_sided_p(z)


def benjamini_hochberg(p_values: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted q-values in the order of ``p_values``; NaN passes through
    and does not count towards the number of tests."""
    p = _float_array(p_values)
    flat = p.ravel()
    q = np.full(flat.shape, np.nan)
    valid = ~np.isnan(flat)
    if np.any((flat[valid] < 0) | (flat[valid] > 1)):
        raise ValueError("p-values must lie between 0 and 1")
    if np.any(valid):
        q[valid] = multipletests(flat[valid], method="fdr_bh")[1]
    return q.reshape(p.shape)


def funnel_limits(
    org_rate: float, n: Any, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Funnel-plot control limits ``p0 ± z * sqrt(p0 (1 - p0) / n)`` clipped to [0, 1].

    Normal approximation around the organisation rate ``p0``; ``n`` may be an effective n.
    NaN where ``n`` <= 0 or ``org_rate`` is NaN.
    """
    _check_confidence(confidence)
    z = float(norm.isf((1 - confidence) / 2))
    p0 = float(org_rate)
    size = _float_array(n)
    valid = (size > 0) & np.isfinite(p0)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = z * np.sqrt(p0 * (1 - p0) / size)
    low = np.where(valid, np.clip(p0 - spread, 0.0, 1.0), np.nan)
    high = np.where(valid, np.clip(p0 + spread, 0.0, 1.0), np.nan)
    return low, high


def format_p(value: float | None) -> str:
    """A p- or q-value for people: two significant digits, ``< 0.0001`` below that, ``—`` when
    missing (e.g. 0.00026 -> ``0.00026``, 0.0412 -> ``0.041``, 1.0 -> ``1.0``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "—"
    value = float(value)
    if value < 0.0001:
        return "< 0.0001"
    decimals = max(1, 1 - math.floor(math.log10(value)))  # two significant digits
    return f"{value:.{decimals}f}"
