"""Widgets benchmark: time from a filter change to the redrawn figure, at 100k and 1M user rows.

    python benchmarks/bench_widgets.py        (or: python -m benchmarks.bench_widgets)
    python benchmarks/bench_widgets.py --changes 3     (quicker)
    python benchmarks/bench_widgets.py --users 5000    (100k user rows only)

Synthetic organisations of 5,000 and 50,000 users x 20 campaigns (``synthetic_dataset``;
100,000 and 1,000,000 user rows, 10 departments) are built into frames, one size at a time.
For each dashboard and each filter control (campaign, department, status, search, minimum
group size; and the metric of the department comparison) the script sets the control's
``.value`` to a series of different values and times each assignment: the dashboard redraws
synchronously inside it (filters, suppression, metric, figure, SVG rendering into the Output
widget), so the time measured is the time from the change to the redrawn figure. Every change
is checked to have caused exactly one redraw. The larger size gets fewer changes per filter
(``--large-changes``) to keep the run short.

Every dashboard computes through the one analysis engine
(:mod:`awareness_analysis.analysis.engine`), built once per analysis and shared by its
dashboards. Printed per size: the engine's build time; median and p90 per dashboard and
filter; where each change's time goes (data work, building the figure, drawing the SVG) and
its CPU time (steadier than the wall clock on a busy machine); and at the end each dashboard's
median over all its changes at every size, against the 150 ms target, which applies at 100k
user rows (1M rows is reported beside it).
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
from datetime import time as dt_time
from typing import Any, ClassVar

import matplotlib
import pandas as pd

from awareness_analysis.analysis.engine import Engine
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.data.frames import build_frames
from awareness_analysis.fakeapi.demo_org import DEMO_AS_OF, synthetic_dataset
from awareness_analysis.views import widgets
from awareness_analysis.views.widgets import (
    CampaignOverview,
    Dashboard,
    DepartmentComparison,
    QuestionAccuracy,
    UserExplorer,
)

SIZES = (5_000, 50_000)  # users; x 20 campaigns: 100k and 1M user rows
N_CAMPAIGNS = 20
TARGET_MS = 150.0
TARGET_USERS = 5_000  # the target is set at 100k user rows
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


# Fetched on the synthetic organisation's day, so its newest campaign is still running.
FETCHED_AT = datetime.combine(DEMO_AS_OF, dt_time(), UTC)


@dataclass(frozen=True)
class _Snapshot:
    """Stands in for a stored snapshot: dashboards read only the frames."""

    snapshot_id: str = "bench"
    manifest: dict[str, Any] | None = None
    fetched_at: datetime = FETCHED_AT


def build_analysis(n_users: int = SIZES[0]) -> Analysis:
    dataset = synthetic_dataset(n_users=n_users, n_campaigns=N_CAMPAIGNS)
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
    """Splits each redraw's time: figure building (the plot functions) and SVG rendering
    (layout, drawing, encoding) are timed by wrapping the names the widgets module calls; the
    rest is the data work (selection, suppression, metric, table) and showing the result."""

    WRAPPED: ClassVar[dict[str, str]] = {
        "plot_campaign_rates": "build",
        "plot_question_accuracy": "build",
        "plot_department_intervals": "build",
        "plot_funnel": "build",
        "figure_display": "svg",
    }

    def __init__(self) -> None:
        self.spent = {"build": 0.0, "svg": 0.0}
        self._originals: dict[str, Any] = {}

    def __enter__(self) -> Phases:
        for name, phase in self.WRAPPED.items():
            original = getattr(widgets, name, None)
            if original is None:  # the widgets module no longer calls it: not split out
                continue
            self._originals[name] = original
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
        self.spent = {"build": 0.0, "svg": 0.0}


@dataclass
class Change:
    """One timed change, in ms: total (wall clock), and its figure-building and SVG parts;
    ``cpu`` is the process's CPU time for the whole change (less sensitive to a busy machine
    than the wall clock, which is what the target is set on)."""

    total: float
    build: float
    svg: float
    cpu: float

    @property
    def data(self) -> float:
        return self.total - self.build - self.svg


def time_changes(dashboard: Dashboard, kind: str, n: int, phases: Phases) -> list[Change]:
    """Each ``.value`` change, timed from the assignment to the end of its redraw."""
    control, values = _changes(dashboard, kind, n)
    start_value = control.value
    changes = []
    for value in values:
        redraws = dashboard.redraws
        phases.reset()
        cpu = time.process_time()
        start = time.perf_counter()
        control.value = value
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        if dashboard.redraws != redraws + 1:
            raise AssertionError(
                f"{kind} change to {value!r} made {dashboard.redraws - redraws} redraws"
            )
        changes.append(
            Change(
                elapsed * 1000, phases.spent["build"] * 1000, phases.spent["svg"] * 1000, cpu * 1000
            )
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


Results = list[tuple[str, float, list[Change]]]


def run_size(n_users: int, changes: int) -> Results:
    """Build one organisation size, time every dashboard's changes, print the tables."""
    start = time.perf_counter()
    analysis = build_analysis(n_users)
    users = analysis.frames.users
    print(
        f"data: {len(users):,} user rows ({n_users:,} users x {N_CAMPAIGNS} campaigns), "
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
        f"{changes} changes per filter; ms from the .value change to the redraw done "
        "(filter, suppression, metric, figure, SVG into the Output widget)"
    )
    print()
    print(f"{'dashboard':<22} {'filter':<15} {'median':>7} {'p90':>7}")
    results: Results = []
    for kind in DASHBOARDS:
        created, timed = _measure(analysis, kind, changes)
        for name in _kinds(kind):
            times = [c.total for c in timed[name]]
            print(
                f"{kind.__name__:<22} {name:<15} {statistics.median(times):7.0f} {_p90(times):7.0f}"
            )
        every = [c for kind_changes in timed.values() for c in kind_changes]
        results.append((kind.__name__, created, every))

    print()
    print("Where a change's time goes (medians over all changes of a dashboard, ms):")
    print(
        f"{'dashboard':<22} {'total':>6} {'data':>6} {'figure':>7} {'SVG':>6} {'CPU':>6} "
        f"{'created':>8}"
    )
    for name, created, every in results:
        print(
            f"{name:<22} {_median(every):6.0f} {_median(every, 'data'):6.1f} "
            f"{_median(every, 'build'):7.0f} {_median(every, 'svg'):6.0f} "
            f"{_median(every, 'cpu'):6.0f} {created:8.0f}"
        )
    print(
        "(data = filter, suppression, metric table, department options and showing the "
        "output; figure = building the matplotlib figure; SVG = drawing and encoding; CPU = "
        "the process's CPU time for the whole change; created = dashboard construction and "
        "first draw, incl. the engine unless the analysis already holds it)"
    )
    print()
    return results


def machine_speed() -> float:
    """CPU ms of a fixed pure-Python loop (median of three): how fast this machine is right
    now. Shared or virtual machines vary by tens of percent from one minute to the next, so a
    run's medians are read beside this figure (a smaller figure is a faster machine)."""
    times = []
    for _ in range(3):
        start = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i * i
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--changes", type=int, default=10, help="changes per filter at 100k user rows (10)"
    )
    parser.add_argument(
        "--large-changes",
        type=int,
        default=3,
        help="changes per filter at sizes above 5,000 users (3)",
    )
    parser.add_argument(
        "--users",
        type=int,
        nargs="+",
        default=list(SIZES),
        help="organisation sizes in users, x 20 campaigns (5000 50000)",
    )
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Widgets benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {cores} cores, "
        f"Python {platform.python_version()}, pandas {pd.__version__}, "
        f"matplotlib {matplotlib.__version__}, load average "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
        + f"; machine speed {machine_speed():.0f} ms"
    )
    by_size: dict[int, Results] = {}
    for n_users in args.users:
        changes = args.changes if n_users <= TARGET_USERS else args.large_changes
        by_size[n_users] = run_size(n_users, changes)
    print(f"machine speed at the end: {machine_speed():.0f} ms (see machine_speed)")

    print("Median over all changes of each dashboard (ms, from the .value change to the output):")
    for n_users, results in by_size.items():
        rows = n_users * N_CAMPAIGNS
        for name, _, every in results:
            median = _median(every)
            cpu = _median(every, "cpu")
            line = f"{rows:>9,} user rows  {name:<22} median {median:5.0f} ms (CPU {cpu:4.0f} ms)"
            if n_users == TARGET_USERS:
                verdict = "met" if median < TARGET_MS else "NOT met"
                line += f"; target < {TARGET_MS:.0f} ms: {verdict}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
