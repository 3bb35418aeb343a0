"""Reports benchmark: time to render the demo report set (target under 60 s on 2 cores) and the
size of each page (targets: at most 1.5 MB per page, 3 MB for the set).

    python benchmarks/bench_reports.py        (or: python -m benchmarks.bench_reports)

The demo store is built into a temporary folder first (outside the timing); then
``awareness_analysis.views.report.render_reports(store, out)`` runs every notebook in ``notebooks/``
in a kernel and writes the offline HTML pages, as ``make report`` does; the notebooks run side
by side (one kernel per core, at most 4). Prints the total time, each notebook's execution time
(kernel start, cells, pre-rendered views; measured by wrapping the renderer's per-notebook step),
the wall time of the notebook phase and of the rest (planning, audit, index), then the same
render with one notebook at a time and the ratio, then the size of every page.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from awareness_analysis.demo import build_demo_store
from awareness_analysis.views import report

TARGET_S = 60.0
PAGE_LIMIT_MB = 1.5
SET_LIMIT_MB = 3.0


def main() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Reports benchmark: demo store, notebooks in {report.default_notebook_dir()}; "
        f"{cores} cores, Python {platform.python_version()}, {platform.machine()}"
    )
    timings: list[tuple[str, float]] = []
    execute = report._execute
    workers_of = report._workers

    def timed(notebook: Any, name: str, workdir: Path, bar: Any) -> None:
        start = time.perf_counter()
        try:
            execute(notebook, name, workdir, bar)
        finally:
            timings.append((name, time.perf_counter() - start))

    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        store = Path(tmp) / "demo-store"
        start = time.perf_counter()
        build_demo_store(store, progress=False)
        print(f"demo store built in {time.perf_counter() - start:.1f} s (not timed)")
        phase: list[float] = []
        execute_all = report._execute_all

        def timed_all(*args: Any) -> list[str]:
            start = time.perf_counter()
            try:
                return execute_all(*args)
            finally:
                phase.append(time.perf_counter() - start)

        report._execute, report._execute_all = timed, timed_all
        try:
            start = time.perf_counter()
            pages = report.render_reports(store, Path(tmp) / "reports", progress=False)
            total = time.perf_counter() - start
            workers = report._workers()
            report._workers = lambda: 1  # the same render, one notebook at a time
            start = time.perf_counter()
            report.render_reports(store, Path(tmp) / "sequential", progress=False)
            sequential = time.perf_counter() - start
        finally:
            report._execute, report._execute_all = execute, execute_all
            report._workers = workers_of
        sizes = [(page.name, page.stat().st_size / 1e6) for page in pages]
    size = sum(mb for _, mb in sizes) * 1e6
    for name, seconds in timings[: len(timings) // 2]:
        print(f"  {name:<36} {seconds:6.1f} s")
    print(f"  {f'notebooks, {workers} at a time (wall)':<36} {phase[0]:6.1f} s")
    print(f"  {'(planning, audit, index)':<36} {total - phase[0]:6.1f} s")
    verdict = "met" if total < TARGET_S else "NOT met"
    print(
        f"render_reports: {total:.1f} s for {len(pages)} pages ({size / 1e6:.1f} MB); "
        f"target < {TARGET_S:.0f} s on 2 cores: {verdict}"
    )
    print(
        f"one notebook at a time: {sequential:.1f} s; side by side is "
        f"{sequential / total:.2f}x faster"
    )
    print("page sizes (self-contained HTML, charts inline):")
    for name, mb in sizes:
        mark = "met" if mb <= PAGE_LIMIT_MB else "NOT met"
        print(f"  {name:<36} {mb:6.2f} MB  (target <= {PAGE_LIMIT_MB} MB: {mark})")
    total_mb = size / 1e6
    mark = "met" if total_mb <= SET_LIMIT_MB else "NOT met"
    print(f"  {'report set':<36} {total_mb:6.2f} MB  (target <= {SET_LIMIT_MB} MB: {mark})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
