"""Storage benchmark: a year of weekly snapshots that share their unchanged campaigns.

    python benchmarks/bench_storage.py [--users N] [--weeks W]

Data: a ``synthetic_dataset`` organisation of 20 campaigns (1 to 4 questions each, about 2.5
answer rows per user row) x 50,000 users (``--users``): 1M user rows and 2.5M answer rows, built
once with ``build_frames``. Each week one campaign (week number modulo 20) makes progress: 2% of
its users acknowledge it and answer every question correctly, so that campaign's users and
answers rows and the campaigns table change, and nothing else. Each week's frames are written
with ``SnapshotStore.write`` into a fresh store (``--weeks`` snapshots, default 52).

Measured, all from this one run:

* disk use of the store (bytes of every file under it) against 52 full copies, one full copy
  being the old layout's three Parquet files for the first week's frames (written the way the
  store wrote every snapshot before sharing);
* target: at most 1.5x one full copy plus what changed, i.e. the old-layout bytes of each later
  week's changed campaign's users and answers rows and of that week's campaigns table;
* write time per snapshot (median, and the first one, which writes everything);
* the latest snapshot loaded back equals what was written (content hash), and its load time
  (best of 3) against checking and reading the old layout's three files (best of 3);
* how many distinct files a query over every snapshot's ``users`` reads through
  ``table_files`` (each shared object counted once).

The target is for the default size. Much smaller organisations (``--users 5000``) miss it:
there one file per table holds every campaign's e-mail addresses in a single Parquet dictionary
(under its 1 MB page limit), which per-campaign objects cannot share, so the first snapshot is
several times one old-layout copy; sharing still makes 52 snapshots about 3x smaller than 52
copies. At 50,000 users the dictionary no longer fits and splitting costs about 5%.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from awareness_analysis.data.frames import Frames, build_frames
from awareness_analysis.data.store import TABLES, SnapshotStore, content_hash
from awareness_analysis.fakeapi.demo_org import synthetic_dataset

N_CAMPAIGNS = 20
DEFAULT_USERS = 50_000
DEFAULT_WEEKS = 52
#: Share of a campaign's users who acknowledge and answer it in the week it changes.
PROGRESS_SHARE = 0.02
TARGET_FULL_COPIES = 1.5
LOAD_RUNS = 3
FIRST_WEEK = datetime(2025, 11, 3, 6, 0, tzinfo=UTC)


def verdict(ok: bool) -> str:
    """How a benchmark prints a target's outcome."""
    return "met" if ok else "MISSED"


def _mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def _best_of(runs: int, action: Callable[[], object]) -> float:
    """Fastest of ``runs`` wall-clock timings of ``action``, in seconds."""
    timings = []
    for _ in range(runs):
        begin = time.perf_counter()
        action()
        timings.append(time.perf_counter() - begin)
    return min(timings)


def _parquet_bytes(frame: pd.DataFrame) -> int:
    """Bytes of ``frame`` as one Parquet file, written as the old layout wrote each table."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getbuffer().nbytes


class WeeklyProgress:
    """The organisation's frames week by week: one campaign makes progress each week."""

    def __init__(self, frames: Frames, seed: int = 0) -> None:
        self.campaigns = frames.campaigns.copy()
        self.users = frames.users.copy()
        self.answers = frames.answers.copy()
        self.rng = np.random.default_rng(seed)
        self.ids = [str(c) for c in self.campaigns["campaign_id"]]
        # Contiguous row ranges per campaign (build_frames sorts users and answers by campaign).
        self.user_rows = self._ranges(self.users)
        self.answer_rows = self._ranges(self.answers)

    def _ranges(self, frame: pd.DataFrame) -> dict[str, tuple[int, int]]:
        codes = frame["campaign_id"].cat.codes.to_numpy()
        categories = frame["campaign_id"].cat.categories
        starts = np.searchsorted(codes, np.arange(len(categories)), side="left")
        stops = np.searchsorted(codes, np.arange(len(categories)), side="right")
        return {str(c): (int(a), int(b)) for c, a, b in zip(categories, starts, stops, strict=True)}

    def advance(self, campaign: str) -> Frames:
        """Frames after ``campaign``'s users made a week's progress."""
        start, stop = self.user_rows[campaign]
        n = max(1, round(PROGRESS_SHARE * (stop - start)))
        picked = np.sort(self.rng.choice(np.arange(start, stop), size=n, replace=False))
        questions = self.users["n_questions"].to_numpy()[picked].astype(np.int8)
        users = self.users.copy(deep=False)
        users.iloc[picked, users.columns.get_loc("acknowledged")] = True
        users.iloc[picked, users.columns.get_loc("n_correct")] = questions
        users.iloc[picked, users.columns.get_loc("n_incorrect")] = np.int8(0)
        users.iloc[picked, users.columns.get_loc("n_unanswered")] = np.int8(0)
        users.iloc[picked, users.columns.get_loc("outcome")] = "correct"
        a_start, a_stop = self.answer_rows[campaign]
        emails = set(users["email"].iloc[picked])
        answered = a_start + np.flatnonzero(
            self.answers["email"].iloc[a_start:a_stop].isin(emails).to_numpy()
        )
        answers = self.answers.copy(deep=False)
        answers.iloc[answered, answers.columns.get_loc("result")] = "correct"
        campaigns = self.campaigns.copy(deep=False)
        position = self.ids.index(campaign)
        completed = users["n_unanswered"].iloc[start:stop].eq(0).sum()
        campaigns.iloc[position, campaigns.columns.get_loc("num_completed")] = np.int32(completed)
        self.campaigns, self.users, self.answers = campaigns, users, answers
        return Frames(campaigns=campaigns, users=users, answers=answers)

    def changed_bytes(self, campaign: str) -> int:
        """Old-layout bytes of what a week changes: the campaign's rows and the campaigns."""
        start, stop = self.user_rows[campaign]
        a_start, a_stop = self.answer_rows[campaign]
        return (
            _parquet_bytes(self.users.iloc[start:stop])
            + _parquet_bytes(self.answers.iloc[a_start:a_stop])
            + _parquet_bytes(self.campaigns)
        )


def run(n_users: int, weeks: int) -> int:
    start = time.perf_counter()
    dataset = synthetic_dataset(n_users=n_users, n_campaigns=N_CAMPAIGNS)
    frames = build_frames(dataset.campaigns, dataset.users)
    del dataset
    print(
        f"  data: {N_CAMPAIGNS} campaigns x {n_users:,} users = {len(frames.users):,} user rows, "
        f"{len(frames.answers):,} answer rows; built in {time.perf_counter() - start:.1f} s "
        "(not timed)"
    )
    full_copy = sum(_parquet_bytes(getattr(frames, name)) for name in TABLES)
    progress = WeeklyProgress(frames)
    changed_total = 0
    write_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        store = SnapshotStore(Path(tmp) / "store")
        week_frames = frames
        for week in range(weeks):
            if week:
                campaign = progress.ids[week % N_CAMPAIGNS]
                week_frames = progress.advance(campaign)
                changed_total += progress.changed_bytes(campaign)
            begin = time.perf_counter()
            written = store.write(
                week_frames,
                api_host="bench.invalid",
                query={},
                fetched_at=FIRST_WEEK + timedelta(weeks=week),
            )
            write_s.append(time.perf_counter() - begin)
        store_bytes = store.disk_usage()
        objects = list(store.objects_dir.glob("*/*.parquet"))

        latest = store.load()
        same = content_hash(latest.frames) == written.manifest["content_hash"]
        old_dir = Path(tmp) / "old-layout"
        old_dir.mkdir()
        for name in TABLES:
            getattr(week_frames, name).to_parquet(old_dir / f"{name}.parquet", index=False)

        def load_old_layout() -> None:
            for name in TABLES:  # what the old layout's load did: checksum, then read
                hashlib.sha256((old_dir / f"{name}.parquet").read_bytes()).hexdigest()
                pd.read_parquet(old_dir / f"{name}.parquet")

        load_s = _best_of(LOAD_RUNS, store.load)
        old_load_s = _best_of(LOAD_RUNS, load_old_layout)
        history = [store.table_files(sid, "users") for sid in store.snapshot_ids()]
        distinct = len({path for files in history for path in files})
        listed = sum(len(files) for files in history)

    copies = weeks * full_copy
    target = TARGET_FULL_COPIES * full_copy + changed_total
    met = store_bytes <= target
    print(f"  one full copy (old layout, 3 files): {_mb(full_copy)}")
    print(
        f"  store after {weeks} weekly snapshots: {_mb(store_bytes)} in {len(objects)} objects "
        f"= {store_bytes / full_copy:.2f}x one full copy; {weeks} full copies would take "
        f"{_mb(copies)}: {store_bytes / copies:.3f}x of that ({copies / store_bytes:.1f}x less)"
    )
    print(
        f"  target: at most {TARGET_FULL_COPIES}x one full copy + the {weeks - 1} weeks' changed "
        f"campaigns ({_mb(changed_total)} in the old layout) = {_mb(target)}: "
        f"{store_bytes / target:.2f}x the target ({verdict(met)})"
    )
    print(
        f"  write: first snapshot {write_s[0]:.2f} s (every object), then median "
        f"{statistics.median(write_s[1:] or write_s):.2f} s per snapshot "
        f"(one campaign written, {len(frames.users) + len(frames.answers):,} rows hashed)"
    )
    objects_of = {name: len(entries) for name, entries in latest.manifest["objects"].items()}
    print(
        f"  load of the latest snapshot (best of {LOAD_RUNS}): {load_s:.2f} s "
        f"({objects_of['users']} users + {objects_of['answers']} answers + "
        f"{objects_of['campaigns']} campaigns objects, checksums checked) against "
        f"{old_load_s:.2f} s for the old layout's 3 files (checksums checked): "
        f"{load_s / old_load_s:.1f}x; equal to what was written (content hash): {same} "
        f"({verdict(same)})"
    )
    print(
        f"  history: users of all {weeks} snapshots via table_files = {listed} file entries, "
        f"{distinct} distinct files to read"
    )
    return 0 if met and same else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--users",
        type=int,
        default=DEFAULT_USERS,
        help=f"users per campaign (default {DEFAULT_USERS:,}; smaller for a quick run)",
    )
    parser.add_argument(
        "--weeks", type=int, default=DEFAULT_WEEKS, help=f"snapshots (default {DEFAULT_WEEKS})"
    )
    args = parser.parse_args(argv)
    if args.users < 1 or args.weeks < 1:
        parser.error("--users and --weeks must be at least 1")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Storage benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {cores} cores, "
        f"Python {platform.python_version()}, pandas {pd.__version__}, pyarrow {pa.__version__}"
    )
    start = time.perf_counter()
    code = run(args.users, args.weeks)
    print(f"  total run time {time.perf_counter() - start:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
