"""Campaign progress across snapshots: completion curves, read straight from the store's files.

Each snapshot is a complete picture of one moment; a campaign fetched every week is a series of
pictures of how far it has reached its audience. :func:`completion_curves` reads only the users
columns it needs from every snapshot's Parquet files with pyarrow (no snapshot is loaded into
pandas), counts people per campaign (and department) in Arrow, and aggregates each file once:
snapshots share unchanged campaigns' files, so a year of weekly snapshots reads little more than
one. The same files stay readable by DuckDB, Spark or any Parquet engine
(:meth:`~awareness_analysis.data.store.SnapshotStore.table_files`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from awareness_analysis.analysis.phases import as_utc
from awareness_analysis.analysis.privacy import (
    DEFAULT_MIN_GROUP_SIZE,
    choose_hidden,
    person_key_array,
    threshold,
)
from awareness_analysis.analysis.stats import CONFIDENCE, wilson_interval
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.vocabulary import UNIT_PEOPLE

__all__ = ["CURVE_COLUMNS", "completion_curves"]

#: Columns of :func:`completion_curves`, in order.
CURVE_COLUMNS = (
    "snapshot_id",
    "fetched_at",
    "campaign_id",
    "campaign_name",
    "launch_date",
    "days_since_launch",
    "department",
    "people",
    "acknowledged",
    "answered",
    "acknowledged_share",
    "acknowledged_ci_low",
    "acknowledged_ci_high",
    "answered_share",
    "answered_ci_low",
    "answered_ci_high",
    "suppressed",
    "audience",
)
_READ = ["campaign_id", "email", "department", "acknowledged", "n_correct", "n_incorrect"]
#: The group of each row from its emails and stored departments (``PeopleJoin.regroup``).
Regroup = Callable[[Sequence[object], Sequence[object]], Sequence[object]]
_ALL = "all"


def _codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Each value's position in the distinct values (missing values are one of them)."""
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def _counts(path: Path, by_department: bool, regroup: Regroup | None = None) -> pd.DataFrame:
    """People, and people who acknowledged / answered, per campaign (x department) of one
    users file. A person is their email trimmed and lower-cased; one with two rows in a
    campaign counts once, as having done what either row did. ``regroup``: the analysis's
    groups (a people file) from each row's email and stored department.

    Counted on integer codes with numpy rather than with pyarrow's group-by, whose hash
    tables cost many times the file's size in memory on each file."""
    table = pq.read_table(path, columns=_READ)
    emails = table["email"].cast(pa.string()).combine_chunks()
    person, persons = _codes(person_key_array(emails))
    campaign, campaigns = _codes(table["campaign_id"].cast(pa.string()))
    answered = pc.greater(pc.add(table["n_correct"], table["n_incorrect"]), 0)
    group, width = campaign, 1
    if by_department:
        department = table["department"].cast(pa.string())
        if regroup is not None:
            groups = regroup(table["email"].to_pylist(), department.to_pylist())
            department = pa.chunked_array([pa.array(list(groups), type=pa.string())])
        codes, departments = _codes(department)
        width = len(departments)
        group = campaign * width + codes
    # One entry per person in each group (any row's flags), then people per group.
    entry, row_entry = np.unique(group * len(persons) + person, return_inverse=True)
    flags = {
        name: np.bincount(
            row_entry,
            weights=column.to_numpy(zero_copy_only=False).astype(np.float64),
            minlength=len(entry),
        )
        > 0
        for name, column in (
            ("acknowledged", table["acknowledged"].cast(pa.bool_()).fill_null(False)),
            ("answered", answered.fill_null(False)),
        )
    }
    owner, entry_group = np.unique(entry // len(persons), return_inverse=True)
    # A fingerprint of who is in each group: the sum of a 31-bit hash per person (the same
    # people give the same sum; an int64 sum of 31-bit values cannot overflow).
    hashed = (pd.util.hash_array(persons.to_numpy(zero_copy_only=False)) >> np.uint64(33)).astype(
        np.int64
    )
    audience = np.zeros(len(owner), dtype=np.int64)
    np.add.at(audience, entry_group, hashed[entry % len(persons)])
    frame = pd.DataFrame(
        {
            "campaign_id": campaigns.to_numpy(zero_copy_only=False)[owner // width],
            "people": np.bincount(entry_group, minlength=len(owner)).astype(np.int64),
            "acknowledged": np.bincount(
                entry_group, weights=flags["acknowledged"], minlength=len(owner)
            ).astype(np.int64),
            "answered": np.bincount(
                entry_group, weights=flags["answered"], minlength=len(owner)
            ).astype(np.int64),
            "audience": audience,
        }
    )
    if by_department:
        frame.insert(1, "department", departments.to_numpy(zero_copy_only=False)[owner % width])
    return frame


def completion_curves(
    store: SnapshotStore | str | Path,
    *,
    campaign_ids: Sequence[str] = (),
    by_department: bool = False,
    k: int | None = DEFAULT_MIN_GROUP_SIZE,
    until: str | None = None,
    regroup: Regroup | None = None,
) -> pd.DataFrame:
    """Each campaign's reach in every snapshot: the share of its audience (people sent it)
    that had acknowledged it and that had answered at least one question, against days since
    its launch, with 95% Wilson intervals.

    One row per snapshot x campaign (x department with ``by_department``) where the campaign
    is in the snapshot, in snapshot order (columns :data:`CURVE_COLUMNS`). ``campaign_ids``
    limits the campaigns (default all), ``until`` the snapshots (ids up to it: the history of
    an analysis opened at an earlier snapshot stops there). The curve is only as fine as the
    snapshots: a point per fetch (``fetched_at``), nothing in between. Rows of fewer than
    ``k`` people show no figures (``suppressed``), with the complementary departments that
    protect them (the total minus the shown departments must not give one); a department is
    hidden in every snapshot where it is hidden in any, so its figures never come and go.
    ``audience`` is a fingerprint of the people a row counts: equal values, the same people (a
    shared report publishes only points whose audience is the latest's, so no difference
    between two points isolates a few joiners or leavers). Only snapshots fetched with the
    last one's filter (``query``) make the series; ``attrs["snapshots_with_another_filter"]``
    lists the others. ``regroup`` replaces each stored row's department by the analysis's group
    (the people file's, :attr:`~awareness_analysis.analysis.session.Analysis.people_join`), so
    the curves of a group are those of the same people the other dashboards count.
    """
    store = store if isinstance(store, SnapshotStore) else SnapshotStore(store)
    k = threshold(k)
    wanted = {str(c) for c in campaign_ids}
    rows: list[pd.DataFrame] = []
    counted: dict[tuple[Path, bool], pd.DataFrame] = {}
    read: dict[Path, pa.Table] = {}
    manifests = {str(m["snapshot_id"]): m for m in store.manifests()}
    ids = [s for s in store.snapshot_ids() if until is None or s <= until]
    # One series: snapshots fetched with the last one's filter (a one-off `fetch --status` or
    # `--search` into the same store holds a part of each audience, not a point of the curve).
    query = manifests[ids[-1]].get("query") if ids else None
    skipped = [s for s in ids if manifests[s].get("query") != query]
    for snapshot_id in ids:
        if snapshot_id in skipped:
            continue
        manifest = manifests[snapshot_id]
        fetched_at = as_utc(manifest["fetched_at"])
        campaigns = _campaigns(store, snapshot_id, read)
        parts = []
        for path in store.table_files(snapshot_id, "users"):
            # Shared (content-addressed) files are counted once, however many snapshots hold them.
            key = (Path(path), by_department)
            if key not in counted:
                counted[key] = _counts(Path(path), by_department, regroup)
            parts.append(counted[key])
        if not parts:
            continue
        counts = pd.concat(parts, ignore_index=True)
        if wanted:
            counts = counts[counts["campaign_id"].isin(wanted)]
        counts = counts.merge(campaigns, on="campaign_id", how="left")
        counts["snapshot_id"] = snapshot_id
        counts["fetched_at"] = fetched_at
        rows.append(counts)
    curves = _curve_table(rows, by_department, k)
    curves.attrs["snapshots_with_another_filter"] = skipped
    return curves


def _campaigns(store: SnapshotStore, snapshot_id: str, read: dict[Path, pa.Table]) -> pd.DataFrame:
    """The snapshot's campaign ids, names and launch dates; ``read`` keeps each (shared)
    campaigns file read once across snapshots."""
    files = store.table_files(snapshot_id, "campaigns")
    for path in files:
        if Path(path) not in read:
            columns = ["campaign_id", "campaign_name", "launch_date"]
            read[Path(path)] = pq.read_table(path, columns=columns)
    table = pa.concat_tables([read[Path(path)] for path in files])
    frame = pd.DataFrame(
        {
            "campaign_id": table["campaign_id"].cast(pa.string()).to_pylist(),
            "campaign_name": table["campaign_name"].cast(pa.string()).to_pylist(),
            "launch_date": pd.to_datetime(table["launch_date"].to_pandas(), utc=True).array,
        }
    )
    return frame.drop_duplicates("campaign_id")


def _hidden_in_every_snapshot(frame: pd.DataFrame, small: np.ndarray, k: int) -> np.ndarray:
    """Per campaign, the departments hidden in any snapshot, and as many more (smallest first)
    as the project's complementary rule needs so that the campaign's row minus the shown
    departments never gives one of them (:func:`~awareness_analysis.analysis.privacy.
    choose_hidden`), hidden in every snapshot: figures must not flicker into view."""
    hide = np.zeros(len(frame), dtype=bool)
    for _, rows in frame.groupby("campaign_id", sort=False):
        forced = set(rows.loc[small[rows.index], "department"])
        if not forced:
            continue
        size_of = rows.groupby("department")["people"].max().astype(int).to_dict()
        # Departments are disjoint within a snapshot: people add up.
        hidden, _ = choose_hidden(
            size_of,
            int(rows.groupby("snapshot_id")["people"].sum().max()),
            k,
            lambda names, sizes=size_of: sum(sizes[n] for n in names),
            forced=forced,
        )
        hide[rows.index[rows["department"].isin(hidden)]] = True
    return hide | small


def _curve_table(rows: Iterable[pd.DataFrame], by_department: bool, k: int) -> pd.DataFrame:
    rows = [r for r in rows if len(r)]
    if not rows:
        return pd.DataFrame({column: [] for column in CURVE_COLUMNS})
    frame = pd.concat(rows, ignore_index=True)
    if not by_department:
        frame["department"] = _ALL
    frame["days_since_launch"] = (
        (frame["fetched_at"] - frame["launch_date"]).dt.total_seconds() / 86400
    ).round(2)
    people = frame["people"].to_numpy(dtype=np.int64)
    for what in ("acknowledged", "answered"):
        hits = frame[what].to_numpy(dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            frame[f"{what}_share"] = np.where(people > 0, hits / people, np.nan)
        low, high = wilson_interval(hits, people)
        frame[f"{what}_ci_low"], frame[f"{what}_ci_high"] = low, high
    small = (people > 0) & (people < k) if k else np.zeros(len(frame), dtype=bool)
    if by_department and k:
        small = _hidden_in_every_snapshot(frame, small, k)
    frame["suppressed"] = small
    for column in ("people", "acknowledged", "answered"):
        values = frame[column].astype("Int64")
        values[small] = pd.NA
        frame[column] = values
    floats = [c for c in CURVE_COLUMNS if c.endswith(("_share", "_low", "_high"))]
    frame.loc[small, floats] = np.nan
    frame = frame.sort_values(["fetched_at", "launch_date", "campaign_id", "department"])
    frame = frame[list(CURVE_COLUMNS)].reset_index(drop=True)
    frame.attrs["unit"] = UNIT_PEOPLE
    frame.attrs["min_group_size"] = k
    frame.attrs["note"] = (
        "Share of the people sent each campaign who had acknowledged it, and who had answered "
        f"at least one question, at each snapshot ({CONFIDENCE:.0%} Wilson intervals), by days "
        "since launch. A point per snapshot: the curve is only as fine as the fetches."
        + (f" Groups of fewer than {k} people are hidden in every snapshot." if k else "")
    )
    return frame
