"""History benchmark: completion curves over a year of weekly snapshots, read from the store's
files with pyarrow, against loading every snapshot into pandas.

    python -m benchmarks.bench_history [--users N] [--weeks W]

Data: the storage benchmark's organisation (``bench_storage``: 20 campaigns x 50,000 users,
one campaign making progress each week) written as 52 weekly snapshots into a fresh store (not
timed). Then, each in its own Python process (so one's memory does not count for the other):

* **query**: ``completion_curves(store)``: per snapshot and campaign, people, acknowledged and
  answered, from the users columns it needs, each (shared) file read once;
* **pandas**: the same counts the direct way: every snapshot loaded with
  ``SnapshotStore.load`` and grouped in pandas, one snapshot at a time.

Each process first does the same work on a two-snapshot store of 200 users (not timed): the
first use of pyarrow's parquet reader and compute kernels pages in over 100 MB of library code
and allocator arenas, the same for any history, whatever its size.

Printed, from this one run: each one's wall time and peak memory (the process's peak resident
set size since it started, ``VmHWM``; its growth over the process after imports and the warm-up
run; and the whole peak's ratio), and whether the two give the same counts. Targets: the query
at least 5x faster and at most a fifth of the memory (compared on the growth, which is what
reading history costs; the whole peak also holds the interpreter and libraries).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

TARGET_SPEEDUP = 5.0
TARGET_MEMORY_SHARE = 0.2

_CHILD = r"""
import json, sys, time
import pandas as pd
from awareness_analysis.analysis.history import completion_curves
from awareness_analysis.analysis.privacy import person_keys
from awareness_analysis.data.store import SnapshotStore


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def history(store, how):
    if how == "query":
        curves = completion_curves(store, k=0)
        return {
            f"{s}|{c}": [int(p), int(a), int(n)]
            for s, c, p, a, n in zip(curves["snapshot_id"], curves["campaign_id"],
                                     curves["people"], curves["acknowledged"], curves["answered"])
        }
    counts = {}
    for snapshot_id in store.snapshot_ids():
        users = store.load(snapshot_id=snapshot_id).frames.users
        work = pd.DataFrame({
            "campaign_id": users["campaign_id"].astype(str),
            "person": person_keys(users["email"]),
            "acknowledged": users["acknowledged"].to_numpy(bool),
            "answered": (users["n_correct"] + users["n_incorrect"]).to_numpy() > 0,
        })
        people = work.groupby(["campaign_id", "person"]).agg(
            acknowledged=("acknowledged", "any"), answered=("answered", "any"))
        per = people.groupby("campaign_id").agg(
            people=("acknowledged", "size"), acknowledged=("acknowledged", "sum"),
            answered=("answered", "sum"))
        for campaign, row in per.iterrows():
            counts[f"{snapshot_id}|{campaign}"] = [int(row.people), int(row.acknowledged),
                                                   int(row.answered)]
        del users, work, people, per
    return counts


store, how, warm = SnapshotStore(sys.argv[1]), sys.argv[2], SnapshotStore(sys.argv[3])
imported = status_kb("VmRSS")
# The same work on a tiny store first: libraries page their code in and allocators set up
# their arenas on first use (over 100 MB for pyarrow's parquet and compute kernels), a fixed
# cost that is not what reading history needs.
history(warm, how)
base = status_kb("VmRSS")
start = time.perf_counter()
counts = history(store, how)
seconds = time.perf_counter() - start
# VmHWM: this process's peak since exec (ru_maxrss would count the parent's memory the
# child shared between fork and exec).
peak = status_kb("VmHWM")
print(json.dumps({"seconds": seconds, "peak_kb": peak, "base_kb": base, "imported_kb": imported,
                  "counts": counts}))
"""


def _run(store: Path, how: str, warm: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(store), how, str(warm)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    from awareness_analysis.data.frames import build_frames
    from awareness_analysis.data.store import SnapshotStore
    from awareness_analysis.fakeapi.demo_org import synthetic_dataset
    from benchmarks.bench_storage import (
        DEFAULT_USERS,
        DEFAULT_WEEKS,
        FIRST_WEEK,
        N_CAMPAIGNS,
        WeeklyProgress,
        verdict,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--users", type=int, default=DEFAULT_USERS, help=f"users (default {DEFAULT_USERS:,})"
    )
    parser.add_argument(
        "--weeks",
        type=int,
        default=DEFAULT_WEEKS,
        help=f"weekly snapshots (default {DEFAULT_WEEKS})",
    )
    args = parser.parse_args(argv)
    print(
        f"History benchmark: {N_CAMPAIGNS} campaigns x {args.users:,} users, "
        f"{args.weeks} weekly snapshots"
    )
    begin = time.perf_counter()
    dataset = synthetic_dataset(n_users=args.users, n_campaigns=N_CAMPAIGNS)
    frames = build_frames(dataset.campaigns, dataset.users)
    del dataset
    progress = WeeklyProgress(frames)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        store = SnapshotStore(Path(tmp) / "store")
        week_frames = frames
        for week in range(args.weeks):
            if week:
                week_frames = progress.advance(progress.ids[week % N_CAMPAIGNS])
            store.write(
                week_frames,
                api_host="bench.invalid",
                query={},
                fetched_at=FIRST_WEEK + timedelta(weeks=week),
            )
        del frames, week_frames, progress
        # A two-snapshot store of 200 users for each process's warm-up run.
        warm = SnapshotStore(Path(tmp) / "warm")
        small = synthetic_dataset(n_users=200, n_campaigns=2)
        for week in range(2):
            warm.write(
                build_frames(small.campaigns, small.users),
                api_host="bench.invalid",
                query={},
                fetched_at=FIRST_WEEK + timedelta(weeks=week),
            )
        print(f"  store built in {time.perf_counter() - begin:.0f} s (not timed)")
        query = _run(store.root, "query", warm.root)
        pandas = _run(store.root, "pandas", warm.root)
    same = query["counts"] == pandas["counts"]
    speedup = float(pandas["seconds"]) / float(query["seconds"])
    growth = {
        name: (int(r["peak_kb"]) - int(r["base_kb"])) / 1024
        for name, r in (("query", query), ("pandas", pandas))
    }
    share = growth["query"] / growth["pandas"]
    for name, result in (
        ("query (pyarrow, shared files once)", query),
        ("pandas (load each)", pandas),
    ):
        print(
            f"  {name}: {float(result['seconds']):.2f} s; peak RSS "
            f"{int(result['peak_kb']) / 1024:.0f} MB, {growth[name.split()[0]]:.0f} MB over "
            f"{int(result['base_kb']) / 1024:.0f} MB after imports and a warm-up run "
            f"({int(result['imported_kb']) / 1024:.0f} MB after imports alone)"
        )
    print(
        f"  speed: the query is {speedup:.1f}x faster (target at least {TARGET_SPEEDUP:.0f}x: "
        f"{verdict(speedup >= TARGET_SPEEDUP)})"
    )
    print(
        f"  memory growth: the query needs {share:.3f}x of pandas' (target at most "
        f"{TARGET_MEMORY_SHARE}: {verdict(share <= TARGET_MEMORY_SHARE)}); peak RSS ratio "
        f"{int(query['peak_kb']) / int(pandas['peak_kb']):.2f}"
    )
    print(f"  same counts from both ({len(query['counts']):,} snapshot x campaign rows): {same}")
    return 0 if same and speedup >= TARGET_SPEEDUP and share <= TARGET_MEMORY_SHARE else 1


if __name__ == "__main__":
    sys.exit(main())
