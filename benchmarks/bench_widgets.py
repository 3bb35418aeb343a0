"""Widgets benchmark: time from a filter change to the redrawn figure, at 100,000 user rows.

    python benchmarks/bench_widgets.py        (or: python -m benchmarks.bench_widgets)
    python benchmarks/bench_widgets.py --changes 5     (quicker)

A synthetic organisation of 5,000 users x 20 campaigns (``synthetic_dataset``; 100,000 user
rows, 10 departments) is built into frames once. For each dashboard and each filter control
(campaign, department, status, search, minimum group size; and the metric of the department
comparison) the script sets the control's ``.value`` to a series of different values and times
each assignment: the dashboard redraws synchronously inside it (filters, suppression, metric,
figure, PNG encoding into the Output widget), so the time measured is the time from the
change to the redrawn figure. Every change is checked to have caused exactly one redraw.

Every dashboard computes through the one analysis engine
(:mod:`awareness_analysis.analysis.engine`), built once per analysis and shared by its
dashboards. Printed: the engine's build time; median and p90 per dashboard and filter; where
each change's time goes (data work, building the figure, PNG layout/render/encode); and each
dashboard's median over all its changes against the 200 ms target, beside the figures the
former two-path design had in its own run (README, 2026-11-27).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import matplotlib
import pandas as pd

from awareness_analysis.analysis.engine import Engine
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.data.frames import build_frames
from awareness_analysis.fakeapi.demo_org import synthetic_dataset
from awareness_analysis.views import widgets
from awareness_analysis.views.widgets import (
    CampaignOverview,
    Dashboard,
    DepartmentComparison,
    QuestionAccuracy,
    UserExplorer,
)

N_USERS = 5_000
N_CAMPAIGNS = 20
TARGET_MS = 200.0
#: Medians of the former design (precomputed second path), README 2026-11-27, same machine size.
PREVIOUS_MS = {
    "CampaignOverview": 276.0,
    "QuestionAccuracy": 330.0,
    "DepartmentComparison": 201.0,
    "UserExplorer": 4.0,
}
DASHBOARDS: tuple[type[Dashboard], ...] = (
    CampaignOverview,
    QuestionAccuracy,
    DepartmentComparison,
    UserExplorer,
)
SEARCHES = ("a", "smith", "op", "jo", "", "an", "zzq", "e", "sa", "")
MIN_GROUP_SIZES = (10, 50, 300, 1000, 0, 5, 100, 2, 20, 500)
STATUSES = (
    ("sent",),
    ("correct",),
    ("incorrect",),
    ("correct", "incorrect"),
    (),
)


@dataclass(frozen=True)
class _Snapshot:
    """Stands in for a stored snapshot: dashboards read only the frames."""

    snapshot_id: str = "bench"
    manifest: dict[str, Any] | None = None


def build_analysis() -> Analysis:
    dataset = synthetic_dataset(n_users=N_USERS, n_campaigns=N_CAMPAIGNS)
    frames = build_frames(dataset.campaigns, dataset.users)
    if frames.users["department"].nunique() < 2:
        # Synthetic data has departments; should it ever not, assign them deterministically.
        names = [f"Department {i % 10:02d}" for i in range(len(frames.users))]
        frames.users["department"] = pd.Categorical(names)
    return Analysis(
        snapshot=_Snapshot(manifest={}),  # type: ignore[arg-type]
        frames=frames,
        min_group_size=5,
        pseudonymise=False,
    )


def _cycle(values: Sequence[Any], n: int) -> list[Any]:
    """``n`` values from ``values``, repeated as needed, never the same twice in a row."""
    out: list[Any] = []
    i = 0
    while len(out) < n:
        value = values[i % len(values)]
        if not out or out[-1] != value:
            out.append(value)
        i += 1
    return out


def _changes(dashboard: Dashboard, kind: str, n: int) -> tuple[Any, list[Any]]:
    """(the control, the values to set it to, in order) for one filter kind."""
    if kind == "campaign":
        ids = [cid for _, cid in dashboard.campaign.options]
        values = [(ids[i],) for i in range(0, len(ids), 3)]
        values += [tuple(ids[:3]), (), tuple(ids[5:12]), ()]
        return dashboard.campaign, _cycle(values, n)
    if kind == "department":
        options = list(dashboard.department.options)
        values = [(d,) for d in options] + [tuple(options[:2]), ()]
        return dashboard.department, _cycle(values, n)
    if kind == "status":
        return dashboard.status, _cycle(STATUSES, n)
    if kind == "search":
        return dashboard.search, _cycle(SEARCHES, n)
    if kind == "min group size":
        return dashboard.min_group_size, _cycle(MIN_GROUP_SIZES, n)
    if kind == "metric":
        assert isinstance(dashboard, DepartmentComparison)
        metrics = [m for _, m in dashboard.metric.options]
        return dashboard.metric, _cycle(metrics[1:] + metrics[:1], n)
    raise ValueError(kind)


def _kinds(kind: type[Dashboard]) -> list[str]:
    kinds = ["campaign", "department", "status", "search", "min group size"]
    return [*kinds, "metric"] if kind is DepartmentComparison else kinds


class Phases:
    """Splits each redraw's time: figure building (the plot functions) and PNG encoding are
    timed by wrapping the names the widgets module calls; the rest is the data work
    (selection, suppression, metric, table) and showing the result."""

    WRAPPED = (
        "plot_campaign_rates",
        "plot_question_accuracy",
        "plot_department_intervals",
        "plot_funnel",
        "figure_png",
    )

    def __init__(self) -> None:
        self.spent = {"build": 0.0, "png": 0.0}
        self._originals: dict[str, Any] = {}

    def __enter__(self) -> Phases:
        for name in self.WRAPPED:
            original = getattr(widgets, name)
            self._originals[name] = original
            phase = "png" if name == "figure_png" else "build"
            setattr(widgets, name, self._timed(original, phase))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._originals.items():
            setattr(widgets, name, original)

    def _timed(self, function: Callable[..., Any], phase: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.spent[phase] += time.perf_counter() - start

        return timed

    def reset(self) -> None:
        self.spent = {"build": 0.0, "png": 0.0}


@dataclass
class Change:
    """One timed change, in ms: total, and its figure-building and PNG parts."""

    total: float
    build: float
    png: float

    @property
    def data(self) -> float:
        return self.total - self.build - self.png


def time_changes(dashboard: Dashboard, kind: str, n: int, phases: Phases) -> list[Change]:
    """Each ``.value`` change, timed from the assignment to the end of its redraw."""
    control, values = _changes(dashboard, kind, n)
    start_value = control.value
    changes = []
    for value in values:
        redraws = dashboard.redraws
        phases.reset()
        start = time.perf_counter()
        control.value = value
        elapsed = time.perf_counter() - start
        if dashboard.redraws != redraws + 1:
            raise AssertionError(
                f"{kind} change to {value!r} made {dashboard.redraws - redraws} redraws"
            )
        changes.append(
            Change(elapsed * 1000, phases.spent["build"] * 1000, phases.spent["png"] * 1000)
        )
    if control.value != start_value:
        control.value = start_value  # back to the default state; not timed
    return changes


def _p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _median(changes: Sequence[Change], part: str = "total") -> float:
    return statistics.median(getattr(c, part) for c in changes)


def _measure(
    analysis: Analysis, kind: type[Dashboard], n: int
) -> tuple[float, dict[str, list[Change]]]:
    start = time.perf_counter()
    dashboard = kind(analysis)
    created = (time.perf_counter() - start) * 1000
    with Phases() as phases:
        return created, {k: time_changes(dashboard, k, n, phases) for k in _kinds(kind)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=10, help="changes per filter (10)")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Widgets benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {cores} cores, "
        f"Python {platform.python_version()}, pandas {pd.__version__}, "
        f"matplotlib {matplotlib.__version__}, load average "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    start = time.perf_counter()
    analysis = build_analysis()
    users = analysis.frames.users
    print(
        f"data: {len(users):,} user rows ({N_USERS:,} users x {N_CAMPAIGNS} campaigns), "
        f"{len(analysis.frames.answers):,} answer rows, "
        f"{users['department'].nunique()} departments; built in "
        f"{time.perf_counter() - start:.1f} s (not timed)"
    )
    start = time.perf_counter()
    Engine(users, analysis.frames.answers)
    print(
        "analysis engine built (once per analysis, shared by its dashboards): "
        f"{(time.perf_counter() - start) * 1000:.0f} ms"
    )
    print(
        f"{args.changes} changes per filter; ms from the .value change to the redraw done "
        "(filter, suppression, metric, figure, PNG into the Output widget)"
    )
    print()
    print(f"{'dashboard':<22} {'filter':<15} {'median':>7} {'p90':>7}")
    results: list[tuple[str, float, list[Change]]] = []
    for kind in DASHBOARDS:
        created, changes = _measure(analysis, kind, args.changes)
        for name in _kinds(kind):
            times = [c.total for c in changes[name]]
            print(
                f"{kind.__name__:<22} {name:<15} {statistics.median(times):7.0f} {_p90(times):7.0f}"
            )
        every = [c for kind_changes in changes.values() for c in kind_changes]
        results.append((kind.__name__, created, every))

    print()
    print("Where a change's time goes (medians over all changes of a dashboard, ms):")
    print(f"{'dashboard':<22} {'total':>6} {'data':>6} {'figure':>7} {'PNG':>6} {'created':>8}")
    for name, created, every in results:
        print(
            f"{name:<22} {_median(every):6.0f} {_median(every, 'data'):6.1f} "
            f"{_median(every, 'build'):7.0f} {_median(every, 'png'):6.0f} {created:8.0f}"
        )
    print(
        "(data = filter, suppression, metric table, department options and showing the "
        "output; figure = building the matplotlib figure; PNG = layout, rendering and "
        "encoding; created = dashboard construction and first draw, incl. the engine unless "
        "the analysis already holds it)"
    )
    print()
    for name, _, every in results:
        median = _median(every)
        verdict = "met" if median < TARGET_MS else "NOT met"
        previous = PREVIOUS_MS[name]
        print(
            f"{name:<22} median over all changes {median:5.0f} ms; target < {TARGET_MS:.0f} ms: "
            f"{verdict} (former two-path design: {previous:.0f} ms on 2026-11-27, another run "
            "on another day, not a ratio of this one)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
