"""Frames benchmark: ``build_frames`` against ``pandas.json_normalize`` on the same pages.

Run from the repository root with ``python -m benchmarks.bench_frames`` (or
``python benchmarks/bench_frames.py``). Every figure and ratio printed comes from this one run.

Data: ``synthetic_dataset`` organisations of 20 campaigns (1 to 4 questions each, about 2.5 answer
rows per user row) with 500, 5,000 and 50,000 users: 10k, 100k and 1M user rows. Each campaign's
items are cut into 500-item page envelopes as ``campaign/get-user-data`` sends them and serialised
once with ``json.dumps`` (the raw bytes); the parsed pages are ``json.loads`` of those bytes, i.e.
exactly the objects the HTTP layer holds (a freshly parsed heap, not the generator's objects).
Generation and serialisation happen before any timing.

(a) parsed pages -> finished ``users`` and ``answers`` frames: ``build_frames`` against
    ``json_normalize`` per campaign plus the pandas steps that reach equal frames (defaults,
    case-insensitive result codes, per-user counts, sort, categories, melt into answers). Both
    sides also parse the campaign list with ``campaigns_frame``. Target: at least 3x.
(b) raw page bytes -> frames: the same two builds with ``json.loads`` of every page inside the
    timing. Ratio reported.
(c) ``users`` memory per row at 1M rows (``memory_usage(deep=True).sum() / len``): target at most
    150 bytes.

Times are ``time.perf_counter`` wall-clock seconds, best of 3 runs at 10k and 100k and best of 2
at 1M. The baseline's frames are checked equal to ``build_frames``' (the only assert: a sanity
check that both sides do the same job).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from awareness_analysis.data.frames import (
    OUTCOME_DTYPE,
    UNASSIGNED_DEPARTMENT,
    build_frames,
    campaigns_frame,
)
from awareness_analysis.fakeapi.demo_org import synthetic_dataset

N_CAMPAIGNS = 20
SIZES = (("10k", 500), ("100k", 5_000), ("1M", 50_000))  # (label, users per campaign)
PAGE_SIZE = 500
TARGET_RATIO = 3.0
TARGET_BYTES_PER_ROW = 150.0
RESULT_CODES = {"sent": 0, "correct": 1, "incorrect": 2}

Items = dict[str, list[dict[str, Any]]]


# -- the baseline -----------------------------------------------------------------------------


def json_normalize_frames(
    campaigns: Sequence[Mapping[str, Any]], items_by_campaign: Mapping[str, list[dict[str, Any]]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``users`` and ``answers`` as build_frames makes them, the plain pandas way."""
    campaign_rows = campaigns_frame(campaigns)
    id_dtype = campaign_rows["campaign_id"].dtype
    ids = [str(cid) for cid in campaign_rows["campaign_id"]]
    parts = []
    for cid in ids:
        if items_by_campaign.get(cid):
            part = pd.json_normalize(items_by_campaign[cid])
            part.insert(0, "campaign_id", cid)
            parts.append(part)
    flat = pd.concat(parts, ignore_index=True)
    campaign = pd.Categorical(flat["campaign_id"], dtype=id_dtype)

    # Result codes, case-insensitive; an absent key is "sent".
    columns = {
        int(column.removeprefix("results.forQuestion")): column
        for column in flat.columns
        if column.startswith("results.forQuestion")
    }
    width = max(columns, default=0)
    codes = np.zeros((len(flat), width), dtype=np.int8)
    highest_key = np.zeros(len(flat), dtype=np.int64)
    for number, column in columns.items():
        mapped = flat[column].str.lower().map(RESULT_CODES)
        if (mapped.isna() & flat[column].notna()).any():
            raise ValueError(f"unexpected value in {column}")
        codes[:, number - 1] = mapped.fillna(0).to_numpy(dtype=np.int8)
        highest_key = np.where(flat[column].notna(), np.maximum(highest_key, number), highest_key)
    # Declared question counts, raised to the highest results key of the campaign.
    n_questions = pd.Series(highest_key).groupby(campaign.codes).max()
    declared = campaign_rows["n_questions"].to_numpy(dtype=np.int64)
    declared[n_questions.index] = np.maximum(declared[n_questions.index], n_questions.to_numpy())

    user_n = declared[campaign.codes]
    n_correct = (codes == 1).sum(axis=1)
    n_incorrect = (codes == 2).sum(axis=1)
    email = flat["email"].astype("str")
    has_at = email.str.contains("@", regex=False)
    domain = email.str.rpartition("@")[2].str.lower().where(has_at, "")
    users = pd.DataFrame(
        {
            "campaign_id": campaign,
            "campaign_name": pd.Categorical.from_codes(
                campaign_rows["campaign_name"].cat.codes.to_numpy()[campaign.codes],
                dtype=campaign_rows["campaign_name"].dtype,
            ),
            "email": email,
            "email_domain": domain.astype("category"),
            "name": flat["name"].fillna("").astype("str"),
            "department": flat["department"]
            .replace("", None)
            .fillna(UNASSIGNED_DEPARTMENT)
            .astype("str")
            .astype("category"),
            "user_state": flat["userState"].fillna("UNKNOWN").astype("str").astype("category"),
            "acknowledged": flat["acknowledgement"].fillna(False).astype(bool),
            "n_questions": user_n.astype(np.int8),
            "n_correct": n_correct.astype(np.int8),
            "n_incorrect": n_incorrect.astype(np.int8),
            "n_unanswered": (user_n - n_correct - n_incorrect).astype(np.int8),
            "outcome": pd.Categorical.from_codes(
                np.select([n_incorrect > 0, n_correct > 0], [2, 1], 0), dtype=OUTCOME_DTYPE
            ),
        }
    )
    order = users.sort_values(["campaign_id", "email"], kind="stable").index.to_numpy()
    users = users.take(order).reset_index(drop=True)
    codes = codes[order]

    # Answers: wide result codes melted to long form, questions past the campaign's count dropped.
    wide = pd.DataFrame(codes, columns=pd.RangeIndex(1, width + 1))
    wide["user"] = np.arange(len(users))
    long = wide.melt(id_vars="user", var_name="question", value_name="code")
    long = long[long["question"].to_numpy() <= users["n_questions"].to_numpy()[long["user"]]]
    long = long.sort_values(["user", "question"], kind="stable")
    user = long["user"].to_numpy()
    answers = pd.DataFrame(
        {
            "campaign_id": users["campaign_id"].array.take(user),
            "email": users["email"].array.take(user),
            "question": long["question"].to_numpy(dtype=np.int8),
            "result": pd.Categorical.from_codes(long["code"].to_numpy(), dtype=OUTCOME_DTYPE),
        }
    )
    return users, answers


# -- data -------------------------------------------------------------------------------------


def make_pages(users_per_campaign: int) -> tuple[list[dict[str, Any]], dict[str, list[bytes]]]:
    """Campaigns and, per campaign, the raw bytes of its 500-item get-user-data pages."""
    dataset = synthetic_dataset(n_users=users_per_campaign, n_campaigns=N_CAMPAIGNS)
    raw: dict[str, list[bytes]] = {}
    for cid, items in dataset.users.items():
        pages = []
        for offset in range(0, len(items), PAGE_SIZE):
            page_items = items[offset : offset + PAGE_SIZE]
            pagination: dict[str, Any] = {"pageSize": len(page_items), "totalCount": len(items)}
            if offset + PAGE_SIZE < len(items):
                pagination["next"] = f"page-token-{cid[-8:]}-{offset + PAGE_SIZE}"
            envelope = {
                "meta": {"status": 200, "pagination": pagination},
                "data": [{"items": page_items}],
                "fail": [],
            }
            pages.append(json.dumps(envelope).encode())
        raw[cid] = pages
    return dataset.campaigns, raw


def parse_pages(raw: Mapping[str, list[bytes]]) -> Items:
    """What the HTTP layer holds: each page's items, parsed, extended per campaign."""
    items: Items = {}
    for cid, pages in raw.items():
        collected: list[dict[str, Any]] = []
        for page in pages:
            collected.extend(json.loads(page)["data"][0]["items"])
        items[cid] = collected
    return items


# -- timing -----------------------------------------------------------------------------------


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
        del result
    return best


def build(campaigns: list[dict[str, Any]], items: Items) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = build_frames(campaigns, items)
    return frames.users, frames.answers


def end_to_end(
    make: Callable[[list[dict[str, Any]], Items], object],
    campaigns: list[dict[str, Any]],
    raw: Mapping[str, list[bytes]],
) -> object:
    return make(campaigns, parse_pages(raw))


def measure(users_per_campaign: int, repeat: int) -> dict[str, float]:
    """Figures of one size: (a) and (b) times of both sides, rows, answers and users bytes/row."""
    campaigns, raw = make_pages(users_per_campaign)
    items = parse_pages(raw)
    users, answers = build(campaigns, items)
    base_users, base_answers = json_normalize_frames(campaigns, items)
    # Sanity: both sides make the same frames.
    pd.testing.assert_frame_equal(base_users, users)
    pd.testing.assert_frame_equal(base_answers, answers)
    figures = {
        "rows": len(users),
        "answers": len(answers),
        "bytes_per_row": users.memory_usage(deep=True).sum() / len(users),
    }
    del users, answers, base_users, base_answers
    figures["a_build"] = best_of(repeat, partial(build, campaigns, items))
    figures["a_base"] = best_of(repeat, partial(json_normalize_frames, campaigns, items))
    del items
    figures["b_build"] = best_of(repeat, partial(end_to_end, build, campaigns, raw))
    figures["b_base"] = best_of(repeat, partial(end_to_end, json_normalize_frames, campaigns, raw))
    return figures


def main() -> None:
    print("Frames benchmark: build_frames vs pandas.json_normalize + dtype conversions")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}; "
        f"Python {platform.python_version()}, pandas {pd.__version__}, pyarrow {pa.__version__}"
    )
    print(
        f"{N_CAMPAIGNS} campaigns x N users, {PAGE_SIZE}-item pages; best of 3 runs "
        "(best of 2 at 1M); seconds"
    )
    header = (
        f"{'rows':>5} {'answers':>9} | {'(a) build':>9} {'normalize':>9} {'ratio':>6} | "
        f"{'(b) build':>9} {'normalize':>9} {'ratio':>6} | {'users B/row':>11}"
    )
    print(header)
    print("-" * len(header))
    ratios_a: dict[str, float] = {}
    bytes_per_row = float("nan")
    started = time.perf_counter()
    for label, users_per_campaign in SIZES:
        f = measure(users_per_campaign, repeat=2 if label == "1M" else 3)
        ratios_a[label] = f["a_base"] / f["a_build"]
        if label == "1M":
            bytes_per_row = f["bytes_per_row"]
        print(
            f"{label:>5} {f['answers']:>9,.0f} | "
            f"{f['a_build']:9.3f} {f['a_base']:9.3f} {f['a_base'] / f['a_build']:5.1f}x | "
            f"{f['b_build']:9.3f} {f['b_base']:9.3f} {f['b_base'] / f['b_build']:5.1f}x | "
            f"{f['bytes_per_row']:11.1f}"
        )
        sys.stdout.flush()

    print("-" * len(header))
    met_a = all(ratio >= TARGET_RATIO for ratio in ratios_a.values())
    print(
        f"target (a) >= {TARGET_RATIO:.0f}x faster at every size: "
        f"{'met' if met_a else 'NOT met'} (lowest {min(ratios_a.values()):.1f}x)"
    )
    print(
        f"target (c) users frame <= {TARGET_BYTES_PER_ROW:.0f} bytes/row at 1M: "
        f"{'met' if bytes_per_row <= TARGET_BYTES_PER_ROW else 'NOT met'} "
        f"({bytes_per_row:.1f} bytes/row)"
    )
    print("(b) has no target; its ratio includes json.loads of every page on both sides")
    print(f"total benchmark time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
