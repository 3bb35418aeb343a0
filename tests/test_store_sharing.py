"""Tests of snapshots that share unchanged data: content-addressed objects, the old layout and
its migration, prune (also beside a concurrent write), crashes mid-write, table_files, CLI."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from awareness_analysis import __version__
from awareness_analysis.cli import main
from awareness_analysis.data.frames import Frames, build_frames
from awareness_analysis.data.store import (
    BEHAVIOUR_TABLES,
    SCHEMA_VERSION,
    TABLES,
    Snapshot,
    SnapshotStore,
    content_hash,
)
from awareness_analysis.errors import StoreError
from awareness_analysis.fakeapi.demo_org import synthetic_dataset

HOST = "us-api.mimecast.com"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
N_CAMPAIGNS = 5


def week(n: int) -> datetime:
    return T0 + n * WEEK


@pytest.fixture(scope="module")
def base_frames() -> Frames:
    dataset = synthetic_dataset(n_users=120, n_campaigns=N_CAMPAIGNS, seed=3)
    return build_frames(dataset.campaigns, dataset.users)


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "store")


def campaign_ids(frames: Frames) -> list[str]:
    return [str(c) for c in frames.campaigns["campaign_id"]]


def with_progress(frames: Frames, campaign: str, step: int = 1) -> Frames:
    """``frames`` where people of one campaign acknowledged it since (only its rows change)."""
    users = frames.users.copy()
    rows = users.index[users["campaign_id"] == campaign][: 5 * step]
    users.loc[rows, "acknowledged"] = ~users.loc[rows, "acknowledged"]
    return Frames(campaigns=frames.campaigns, users=users, answers=frames.answers)


def safe_scores_table() -> pd.DataFrame:
    grades = pd.CategoricalDtype(["A", "B", "C", "D", "F"], ordered=True)
    table = pd.DataFrame(
        {
            "email": pd.array(["a@example.com", "b@example.com", "c@example.com"], dtype="str"),
            "risk": pd.Categorical(["A", "F", "C"], dtype=grades),
            "score": [1.5, 9.0, float("nan")],
        }
    )
    table.attrs = {"scales": {"engagement": "letters"}}
    return table


def object_files(store: SnapshotStore) -> dict[str, int]:
    """Object name -> bytes, of every object file in the store."""
    return {path.stem: path.stat().st_size for path in store.objects_dir.glob("*/*.parquet")}


def assert_same_snapshot(left: Snapshot, right: Snapshot) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(left.frames, name), getattr(right.frames, name))
    assert list(left.tables) == list(right.tables)
    for name, table in left.tables.items():
        pd.testing.assert_frame_equal(table, right.tables[name])
        assert table.attrs == right.tables[name].attrs
    assert content_hash(left.frames, left.tables) == content_hash(right.frames, right.tables)


def assert_frames_equal(loaded: Frames, written: Frames) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(written, name))


# -- a writer of the old layout (schema version 1), as the store wrote it before sharing -------


def _old_column_schema(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = []
    for name, dtype in frame.dtypes.items():
        entry: dict[str, Any] = {"name": str(name), "dtype": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            entry["categories"] = dtype.categories.tolist()
            entry["categories_dtype"] = str(dtype.categories.dtype)
            entry["ordered"] = bool(dtype.ordered)
        columns.append(entry)
    return columns


def write_old_layout(
    store: SnapshotStore,
    frames: Frames,
    fetched_at: datetime,
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> str:
    """A schema-version-1 snapshot: every table's file inside the snapshot folder."""
    extra = {name: tables[name] for name in BEHAVIOUR_TABLES if tables and name in tables}
    every = {**{name: getattr(frames, name) for name in TABLES}, **extra}
    data_hash = content_hash(frames, extra)
    snapshot_id = f"{fetched_at:%Y%m%dT%H%M%S%f}Z-{data_hash.removeprefix('sha256:')[:8]}"
    folder = store.snapshots_dir / snapshot_id
    folder.mkdir(parents=True)
    files = {}
    for name, frame in every.items():
        path = folder / f"{name}.parquet"
        frame.to_parquet(path, engine="pyarrow", index=False)
        files[path.name] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = {
        "schema_version": 1,
        "snapshot_id": snapshot_id,
        "fetched_at": fetched_at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "api_host": HOST,
        "query": {},
        "package_version": __version__,
        "row_counts": {name: len(frame) for name, frame in every.items()},
        "content_hash": data_hash,
        "files": files,
        "columns": {name: _old_column_schema(frame) for name, frame in every.items()},
        "tables": list(extra),
        "refresh": {"full": True},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return snapshot_id


# -- sharing -------------------------------------------------------------------------------


def test_unchanged_campaigns_are_stored_once(
    store: SnapshotStore, base_frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    # One object for campaigns, one per campaign for users and for answers.
    assert len(first.manifest["objects"]["users"]) == N_CAMPAIGNS
    assert len(first.manifest["objects"]["answers"]) == N_CAMPAIGNS
    after_first = object_files(store)
    assert len(after_first) == 1 + 2 * N_CAMPAIGNS

    inodes = {path.stem: path.stat().st_ino for path in store.objects_dir.glob("*/*.parquet")}
    written: list[int] = []
    real_to_parquet = pd.DataFrame.to_parquet

    def counting_to_parquet(self: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        written.append(len(self))
        return real_to_parquet(self, *args, **kwargs)

    changed = campaign_ids(base_frames)[2]
    with monkeypatch.context() as patch:
        patch.setattr(pd.DataFrame, "to_parquet", counting_to_parquet)
        second = store.write(
            with_progress(base_frames, changed), api_host=HOST, query={}, fetched_at=week(1)
        )
    # One file written: the changed campaign's users rows; the others were not touched.
    assert written == [second.manifest["objects"]["users"][2]["rows"]]
    for path in store.objects_dir.glob("*/*.parquet"):
        assert inodes.get(path.stem, path.stat().st_ino) == path.stat().st_ino
    after_second = object_files(store)
    new_objects = set(after_second) - set(after_first)
    # Only the changed campaign's users rows were written again.
    assert len(new_objects) == 1
    (new_object,) = new_objects
    users_entries = second.manifest["objects"]["users"]
    assert users_entries[2]["object"] == new_object
    # Bytes: the second snapshot added exactly that one object, far less than a copy.
    added = sum(after_second.values()) - sum(after_first.values())
    assert added == after_second[new_object]
    assert added < sum(after_first.values()) / 3
    # Every other object of the second snapshot is the first's very file.
    first_users = store.table_files(first.snapshot_id, "users")
    second_users = store.table_files(second.snapshot_id, "users")
    assert [a == b for a, b in zip(first_users, second_users, strict=True)] == [
        True,
        True,
        False,
        True,
        True,
    ]
    assert store.table_files(first.snapshot_id, "answers") == store.table_files(
        second.snapshot_id, "answers"
    )
    # The same data written again (another writer, another time) adds no object at all.
    store.write(base_frames, api_host="eu-api.mimecast.com", query={"x": 1}, fetched_at=week(2))
    assert object_files(store) == after_second
    # Snapshot folders hold only their manifest.
    for snapshot_id in store.snapshot_ids():
        assert [p.name for p in (store.snapshots_dir / snapshot_id).iterdir()] == ["manifest.json"]


def test_shared_objects_load_with_each_snapshots_categories(store: SnapshotStore) -> None:
    dataset = synthetic_dataset(n_users=40, n_campaigns=3, seed=5)
    two = build_frames(
        dataset.campaigns[:2], {c["id"]: dataset.users[c["id"]] for c in dataset.campaigns[:2]}
    )
    three = build_frames(dataset.campaigns, dataset.users)
    older = store.write(two, api_host=HOST, query={}, fetched_at=week(0))
    newer = store.write(three, api_host=HOST, query={}, fetched_at=week(1))
    shared = {e["object"] for e in older.manifest["objects"]["users"]} & {
        e["object"] for e in newer.manifest["objects"]["users"]
    }
    assert len(shared) == 2  # the first two campaigns' rows, whatever the category lists
    assert_frames_equal(store.load(snapshot_id=older.snapshot_id).frames, two)
    assert_frames_equal(store.load(snapshot_id=newer.snapshot_id).frames, three)
    loaded_old = store.load(snapshot_id=older.snapshot_id).frames.users
    assert len(loaded_old["campaign_id"].cat.categories) == 2
    assert len(store.load().frames.users["campaign_id"].cat.categories) == 3


def test_load_is_identical_to_the_old_layout(store: SnapshotStore, base_frames: Frames) -> None:
    extras = {"safe_scores": safe_scores_table()}
    empty = build_frames([], {})
    old_id = write_old_layout(store, base_frames, week(0), extras)
    old_empty_id = write_old_layout(store, empty, week(1))
    new = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(2), tables=extras)
    new_empty = store.write(empty, api_host=HOST, query={}, fetched_at=week(3))

    old = store.load(snapshot_id=old_id)
    loaded = store.load(snapshot_id=new.snapshot_id)
    assert old.manifest["schema_version"] == 1 and loaded.manifest["schema_version"] == 2
    assert_same_snapshot(old, loaded)
    assert_frames_equal(loaded.frames, base_frames)  # row order, dtypes, categories
    assert loaded.tables["safe_scores"].attrs == {"scales": {"engagement": "letters"}}
    assert loaded.frames.users.index.equals(pd.RangeIndex(len(base_frames.users)))
    assert old.manifest["content_hash"] == new.manifest["content_hash"]
    assert_same_snapshot(
        store.load(snapshot_id=old_empty_id), store.load(snapshot_id=new_empty.snapshot_id)
    )
    assert len(new_empty.manifest["objects"]["users"]) == 1  # an empty table keeps its schema
    assert new_empty.manifest["objects"]["users"][0]["rows"] == 0


def test_interleaved_campaign_rows_keep_their_order(store: SnapshotStore) -> None:
    users = pd.DataFrame(
        {
            "campaign_id": pd.Categorical(["a", "b", "a", "b"]),
            "email": pd.array(["1@x", "2@x", "3@x", "4@x"], dtype="str"),
        }
    )
    campaigns = pd.DataFrame({"campaign_id": pd.Categorical(["a", "b"])})
    answers = users.iloc[:0]
    frames = Frames(campaigns=campaigns, users=users, answers=answers)
    snap = store.write(frames, api_host=HOST, query={}, fetched_at=week(0))
    assert len(snap.manifest["objects"]["users"]) == 1  # not contiguous: stored whole
    assert_frames_equal(store.load().frames, frames)


# -- old stores and migration ----------------------------------------------------------------


def test_migrate_old_store_keeps_every_snapshot(
    store: SnapshotStore, base_frames: Frames, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = campaign_ids(base_frames)
    written = [
        base_frames,
        with_progress(base_frames, ids[4]),
        with_progress(base_frames, ids[3]),
    ]
    extras = {"safe_scores": safe_scores_table()}
    old_ids = [
        write_old_layout(store, frames, week(n), extras if n == 2 else None)
        for n, frames in enumerate(written)
    ]
    new_id = store.write(written[2], api_host=HOST, query={}, fetched_at=week(3)).snapshot_id
    before = {sid: store.load(snapshot_id=sid) for sid in store.snapshot_ids()}
    bytes_before = store.disk_usage()

    assert store.migrate() == old_ids
    assert store.snapshot_ids() == [*old_ids, new_id]
    for snapshot_id, snapshot in before.items():
        after = store.load(snapshot_id=snapshot_id)
        assert after.manifest["schema_version"] == SCHEMA_VERSION
        assert after.manifest["content_hash"] == snapshot.manifest["content_hash"]
        assert_same_snapshot(snapshot, after)
        # Nothing else in the manifest was lost.
        assert {k: v for k, v in after.manifest.items() if k not in ("files", "objects")} == {
            k: v
            for k, v in snapshot.manifest.items()
            if k not in ("files", "objects", "schema_version")
        } | {"schema_version": SCHEMA_VERSION}
        folder = store.snapshots_dir / snapshot_id
        assert [p.name for p in folder.iterdir()] == ["manifest.json"]
    assert_frames_equal(store.load(snapshot_id=old_ids[1]).frames, written[1])
    # Three near-identical copies became one set of objects (campaigns, 5 users, 5 answers)
    # plus the two changed campaigns' users rows and the extra table.
    assert len(object_files(store)) == 1 + 2 * N_CAMPAIGNS + 2 + 1
    assert store.disk_usage() < bytes_before
    # Objects shared with the snapshot written in the new layout were reused, not rewritten.
    users_objects = [
        {e["object"] for e in store.load(snapshot_id=sid).manifest["objects"]["users"]}
        for sid in (old_ids[2], new_id)
    ]
    assert users_objects[0] == users_objects[1]

    assert store.migrate() == []  # already done
    assert main(["migrate-store", "--store", str(store.root)]) == 0
    assert "Nothing to migrate" in capsys.readouterr().out


def test_migrate_stops_at_a_damaged_old_snapshot(store: SnapshotStore, base_frames: Frames) -> None:
    ids = campaign_ids(base_frames)
    good = write_old_layout(store, base_frames, week(0))
    damaged = write_old_layout(store, with_progress(base_frames, ids[1]), week(1))
    later = write_old_layout(store, with_progress(base_frames, ids[2]), week(2))
    path = store.snapshots_dir / damaged / "users.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with pytest.raises(StoreError) as caught:
        store.migrate()
    message = str(caught.value)
    assert f"Cannot migrate snapshot {damaged}" in message
    assert "users.parquet" in message and "corrupted" in message
    assert "1 snapshot(s) were migrated before it" in message
    assert store.load(snapshot_id=good).manifest["schema_version"] == 2
    for snapshot_id in (damaged, later):
        manifest = json.loads((store.snapshots_dir / snapshot_id / "manifest.json").read_text())
        assert manifest["schema_version"] == 1  # left untouched
    assert (store.snapshots_dir / damaged / "users.parquet").read_bytes() == bytes(data)
    assert_frames_equal(store.load(snapshot_id=later).frames, with_progress(base_frames, ids[2]))


def test_migration_interrupted_after_the_manifest_is_finished_by_the_next_run(
    store: SnapshotStore, base_frames: Frames
) -> None:
    old_id = write_old_layout(store, base_frames, week(0))
    folder = store.snapshots_dir / old_id
    saved = {p.name: p.read_bytes() for p in folder.glob("*.parquet")}
    store.migrate()
    for name, data in saved.items():  # as if stopped before the old files were removed
        (folder / name).write_bytes(data)
    assert store.migrate() == []
    assert [p.name for p in folder.iterdir()] == ["manifest.json"]
    assert_frames_equal(store.load().frames, base_frames)


# -- prune -----------------------------------------------------------------------------------


def test_prune_keeps_the_newest_and_their_shared_objects(
    store: SnapshotStore, base_frames: Frames
) -> None:
    ids = campaign_ids(base_frames)
    written = [base_frames]
    for n in range(1, 4):
        written.append(with_progress(written[-1], ids[n % N_CAMPAIGNS], step=n))
    snapshots = [
        store.write(frames, api_host=HOST, query={}, fetched_at=week(n))
        for n, frames in enumerate(written)
    ]
    first_objects = {e["object"] for es in snapshots[0].manifest["objects"].values() for e in es}

    dry = store.prune_report(2, dry_run=True)
    assert dry.removed_snapshots == [s.snapshot_id for s in snapshots[:2]]
    assert dry.freed_bytes > 0 and dry.removed_objects
    assert len(store.snapshot_ids()) == 4  # a dry run changes nothing
    assert set(dry.removed_objects) <= set(object_files(store))

    bytes_before = store.disk_usage()
    removed = store.prune(2)
    assert removed == [s.snapshot_id for s in snapshots[:2]]
    assert store.snapshot_ids() == [s.snapshot_id for s in snapshots[2:]]
    # Every remaining snapshot loads whole, with the data it was written with.
    for snapshot, frames in zip(snapshots[2:], written[2:], strict=True):
        assert_frames_equal(store.load(snapshot_id=snapshot.snapshot_id).frames, frames)
    # Objects the oldest shared with the remaining ones survive; the rest are gone.
    remaining = {
        e["object"]
        for s in snapshots[2:]
        for es in store.load(snapshot_id=s.snapshot_id).manifest["objects"].values()
        for e in es
    }
    assert set(object_files(store)) == remaining
    assert first_objects & remaining  # shared with a pruned snapshot, still there
    assert (
        set(dry.removed_objects)
        == first_objects.union(
            *(
                {e["object"] for es in s.manifest["objects"].values() for e in es}
                for s in snapshots[1:2]
            )
        )
        - remaining
    )
    assert bytes_before - store.disk_usage() == dry.freed_bytes
    assert store.prune(2) == []


def test_prune_refuses_keep_below_one(store: SnapshotStore, base_frames: Frames) -> None:
    store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    for keep in (0, -1):
        with pytest.raises(ValueError, match="keep must be at least 1"):
            store.prune(keep)
    with pytest.raises(TypeError, match="whole number"):
        store.prune(True)
    with pytest.raises(TypeError, match="whole number"):
        store.prune(1.5)  # type: ignore[arg-type]
    assert len(store.snapshot_ids()) == 1


def test_prune_removes_objects_of_old_layout_and_crashed_writes(
    store: SnapshotStore, base_frames: Frames
) -> None:
    old_id = write_old_layout(store, base_frames, week(0))
    orphan = store.objects_dir / "ab" / ("ab" + "0" * 62 + ".parquet")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a crash")
    kept = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(1))
    # A write killed outright (no cleanup ran) leaves its folder, maybe a full copy's objects.
    dead = store.root / ".incomplete-killed"
    (dead / "objects").mkdir(parents=True)
    (dead / "objects" / "x.parquet").write_bytes(b"half a copy")
    report = store.prune_report(1, dry_run=True)
    assert dead.exists() and report.freed_bytes >= len(b"half a copy")
    assert store.prune(1) == [old_id]
    assert not orphan.exists() and not orphan.parent.exists()
    assert not dead.exists()
    assert_frames_equal(store.load(snapshot_id=kept.snapshot_id).frames, base_frames)


def test_prune_removes_nothing_when_a_kept_manifest_is_unreadable(
    store: SnapshotStore, base_frames: Frames
) -> None:
    first = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    second = store.write(
        with_progress(base_frames, campaign_ids(base_frames)[0]),
        api_host=HOST,
        query={},
        fetched_at=week(1),
    )
    (second.path / "manifest.json").write_text("{broken", encoding="utf-8")
    objects = object_files(store)
    with pytest.raises(StoreError, match=r"manifest\.json.*Prune removed nothing"):
        store.prune(1)
    assert object_files(store) == objects
    assert first.snapshot_id in store.snapshot_ids()


def test_prune_of_a_missing_store_names_it(tmp_path: Path) -> None:
    missing = SnapshotStore(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="No snapshot store at"):
        missing.prune(1)
    with pytest.raises(StoreError, match="No snapshot store at"):
        missing.migrate()
    assert not missing.root.exists()
    # A folder that is not a store (a wrong path) is refused and left as it was.
    elsewhere = tmp_path / "documents"
    elsewhere.mkdir()
    with pytest.raises(StoreError, match="no snapshots/ folder"):
        SnapshotStore(elsewhere).prune(3)
    assert list(elsewhere.iterdir()) == []


def test_prune_waits_for_a_write_in_progress(
    store: SnapshotStore, base_frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write holds the lock from its first object to its manifest: a prune that would remove
    the only snapshot using the objects the write is reusing waits, and removes none of them."""
    ids = campaign_ids(base_frames)
    store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    store.write(with_progress(base_frames, ids[0]), api_host=HOST, query={}, fetched_at=week(1))
    objects_published = threading.Event()
    release_write = threading.Event()
    real_rename = os.rename

    def paused_rename(source: Any, target: Any) -> None:
        if Path(source).name.startswith(".incomplete-"):  # the write's last step
            objects_published.set()
            assert release_write.wait(10)
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", paused_rename)
    # The newest snapshot reuses the oldest snapshot's objects, which prune(keep=1) would
    # consider unused while the new manifest is not in place.
    writing = threading.Thread(
        target=store.write,
        args=(base_frames,),
        kwargs={"api_host": HOST, "query": {}, "fetched_at": week(2)},
    )
    writing.start()
    assert objects_published.wait(10)
    pruned: list[list[str]] = []
    pruning = threading.Thread(target=lambda: pruned.append(SnapshotStore(store.root).prune(1)))
    pruning.start()
    pruning.join(0.5)
    assert pruning.is_alive()  # blocked on the lock
    release_write.set()
    writing.join(10)
    pruning.join(10)
    assert not writing.is_alive() and not pruning.is_alive()
    monkeypatch.undo()
    assert len(pruned[0]) == 2
    (latest,) = store.snapshot_ids()
    assert_frames_equal(store.load(snapshot_id=latest).frames, base_frames)


def _write_weeks(root: str, weeks: int, pause_s: float) -> None:
    """Run in another process: a snapshot a week, alternating between two versions of the
    data, each write pausing (a slow disk) between publishing its objects and its manifest,
    the moment a prune without the lock would find those objects unused."""
    real_rename = os.rename

    def slow_rename(source: Any, target: Any) -> None:
        if Path(source).name.startswith(".incomplete-"):
            time.sleep(pause_s)
        real_rename(source, target)

    os.rename = slow_rename  # this process only
    dataset = synthetic_dataset(n_users=60, n_campaigns=N_CAMPAIGNS, seed=3)
    frames = build_frames(dataset.campaigns, dataset.users)
    versions = [frames, with_progress(frames, campaign_ids(frames)[1])]
    store = SnapshotStore(root)
    for n in range(weeks):
        store.write(versions[n % 2], api_host=HOST, query={}, fetched_at=week(n))


def test_prune_beside_a_writing_process_never_breaks_a_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = SnapshotStore(root)
    writer = multiprocessing.get_context("spawn").Process(
        target=_write_weeks, args=(str(root), 20, 0.05)
    )
    writer.start()
    prunes = 0
    deadline = time.monotonic() + 120  # a writer that died early must not spin this forever
    try:
        while (writer.is_alive() or prunes == 0) and time.monotonic() < deadline:
            if not store.exists():
                time.sleep(0.01)
                continue
            store.prune(1)
            prunes += 1
            # Only this process prunes: every snapshot listed now must load whole.
            for snapshot_id in store.snapshot_ids():
                snapshot = store.load(snapshot_id=snapshot_id)
                assert content_hash(snapshot.frames) == snapshot.manifest["content_hash"]
    finally:
        writer.join(120)
    assert writer.exitcode == 0
    assert prunes > 0
    # The writer may have written several more after the loop's last prune.
    store.prune(1)
    (latest,) = store.snapshot_ids()
    snapshot = store.load(snapshot_id=latest)
    assert content_hash(snapshot.frames) == snapshot.manifest["content_hash"]
    used = {e["object"] for es in snapshot.manifest["objects"].values() for e in es}
    assert set(object_files(store)) == used


# -- crashes and damage ----------------------------------------------------------------------


def test_crash_while_writing_objects_leaves_earlier_snapshots(
    store: SnapshotStore, base_frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    objects_before = object_files(store)
    changed = base_frames
    for campaign in campaign_ids(base_frames)[:3]:
        changed = with_progress(changed, campaign)
    calls = {"n": 0}
    real_to_parquet = pd.DataFrame.to_parquet

    def crashing_to_parquet(self: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")  # the second new object
        return real_to_parquet(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crashing_to_parquet)
    with pytest.raises(OSError, match="disk full"):
        store.write(changed, api_host=HOST, query={}, fetched_at=week(1))
    monkeypatch.undo()

    assert calls["n"] == 2
    assert store.snapshot_ids() == [earlier.snapshot_id]
    assert object_files(store) == objects_before  # nothing published
    assert sorted(p.name for p in store.root.iterdir()) == ["snapshots"]  # no .incomplete-*
    assert_frames_equal(store.load().frames, base_frames)


def test_crash_before_the_manifest_leaves_only_unreferenced_objects(
    store: SnapshotStore, base_frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    objects_before = object_files(store)

    def failing_rename(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", failing_rename)
    changed = with_progress(base_frames, campaign_ids(base_frames)[1])
    with pytest.raises(KeyboardInterrupt):
        store.write(changed, api_host=HOST, query={}, fetched_at=week(1))
    monkeypatch.undo()

    assert store.snapshot_ids() == [earlier.snapshot_id]
    leftover = set(object_files(store)) - set(objects_before)
    assert len(leftover) == 1  # published, never referenced
    assert_frames_equal(store.load().frames, base_frames)
    report = store.prune_report(1)
    assert report.removed_snapshots == [] and report.removed_objects == sorted(leftover)
    assert object_files(store) == objects_before
    # The same write later succeeds and loads.
    store.write(changed, api_host=HOST, query={}, fetched_at=week(1))
    assert_frames_equal(store.load().frames, changed)


def test_damaged_object_is_named_on_load_and_rewritten_by_the_next_write(
    store: SnapshotStore, base_frames: Frames
) -> None:
    snap = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    entry = snap.manifest["objects"]["answers"][1]
    (path,) = [
        p for p in store.table_files(snap.snapshot_id, "answers") if entry["object"] in p.name
    ]
    good = path.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as caught:
        store.load()
    message = str(caught.value)
    assert f"object {entry['object']}.parquet (answers of snapshot {snap.snapshot_id})" in message
    assert "corrupted" in message

    # A new snapshot of the same data does not trust the damaged file: it writes it again.
    again = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(1))
    assert path.read_bytes() != bytes(data)
    assert_frames_equal(store.load(snapshot_id=again.snapshot_id).frames, base_frames)
    path.unlink()
    with pytest.raises(StoreError, match=entry["object"]):
        store.load()


def test_manifest_with_bad_object_names_is_refused(
    store: SnapshotStore, base_frames: Frames
) -> None:
    snap = store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    manifest = dict(snap.manifest)
    manifest["objects"] = {**manifest["objects"], "users": [{"object": "../../x", "rows": 1}]}
    (snap.path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StoreError, match="malformed `objects`"):
        store.load()


# -- table_files -----------------------------------------------------------------------------


def test_table_files_make_up_the_table_in_both_layouts(
    store: SnapshotStore, base_frames: Frames
) -> None:
    old_id = write_old_layout(store, base_frames, week(0))
    new = store.write(
        base_frames,
        api_host=HOST,
        query={},
        fetched_at=week(1),
        tables={"safe_scores": safe_scores_table()},
    )
    assert store.table_files(old_id, "users") == [store.snapshots_dir / old_id / "users.parquet"]
    files = store.table_files(new.snapshot_id, "users")
    assert len(files) == N_CAMPAIGNS
    assert all(path.parent.parent == store.objects_dir for path in files)
    for snapshot_id in (old_id, new.snapshot_id):
        for table in TABLES:
            read = pa.concat_tables(pq.read_table(p) for p in store.table_files(snapshot_id, table))
            expected = getattr(base_frames, table)
            assert read.num_rows == len(expected)
            assert read.column("campaign_id").cast(pa.string()).to_pylist() == [
                str(c) for c in expected["campaign_id"]
            ]
    (scores,) = store.table_files(new.snapshot_id, "safe_scores")
    assert pq.read_table(scores).num_rows == 3

    with pytest.raises(ValueError, match="Unknown table 'people'"):
        store.table_files(new.snapshot_id, "people")
    with pytest.raises(StoreError, match="holds no watchlist table"):
        store.table_files(new.snapshot_id, "watchlist")
    with pytest.raises(StoreError, match="No snapshot '20200101T000000000000Z-00000000'"):
        store.table_files("20200101T000000000000Z-00000000", "users")


def test_history_reads_across_snapshots_as_one_dataset(store: SnapshotStore) -> None:
    """Objects of snapshots with 2 and 200 campaigns (8- and 16-bit category codes in pandas)
    read as one pyarrow dataset."""
    small = synthetic_dataset(n_users=5, n_campaigns=2, seed=1)
    large = synthetic_dataset(n_users=5, n_campaigns=200, seed=1)
    first = store.write(
        build_frames(small.campaigns, small.users), api_host=HOST, query={}, fetched_at=week(0)
    )
    second = store.write(
        build_frames(large.campaigns, large.users), api_host=HOST, query={}, fetched_at=week(1)
    )
    files = [
        str(path)
        for snapshot_id in (first.snapshot_id, second.snapshot_id)
        for path in store.table_files(snapshot_id, "users")
    ]
    table = ds.dataset(files, format="parquet").to_table(columns=["campaign_id", "acknowledged"])
    assert table.num_rows == 2 * 5 + 200 * 5
    counts = pc.value_counts(table.column("campaign_id").cast(pa.string())).to_pylist()
    expected = {c["id"] for c in small.campaigns} | {c["id"] for c in large.campaigns}
    assert {count["values"] for count in counts} == expected
    assert pq.read_table(files).num_rows == table.num_rows


# -- command line ----------------------------------------------------------------------------


def test_cli_migrate_store_and_prune(
    store: SnapshotStore, base_frames: Frames, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = campaign_ids(base_frames)
    old_ids = [
        write_old_layout(store, with_progress(base_frames, ids[n], step=n + 1), week(n))
        for n in range(3)
    ]
    assert main(["migrate-store", "--store", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert all(f"Migrated {sid}" in out for sid in old_ids)
    assert "Migrated 3 of 3 snapshot(s) to the shared layout" in out
    assert all(m["schema_version"] == 2 for m in store.manifests())

    assert main(["prune", "--store", str(store.root), "--keep", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"Would remove snapshot {old_ids[0]}" in out and "would be freed" in out
    assert "Dry run: nothing was changed." in out
    assert store.snapshot_ids() == old_ids

    assert main(["prune", "--store", str(store.root), "--keep", "1"]) == 0
    out = capsys.readouterr().out
    assert f"Removed snapshot {old_ids[0]}" in out and f"Removed snapshot {old_ids[1]}" in out
    assert "Removed 2 snapshot(s) and " in out and " freed. Kept 1 snapshot(s)" in out
    assert store.snapshot_ids() == old_ids[2:]
    assert_frames_equal(store.load().frames, with_progress(base_frames, ids[2], step=3))


def test_cli_errors_name_the_problem(
    store: SnapshotStore, base_frames: Frames, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.write(base_frames, api_host=HOST, query={}, fetched_at=week(0))
    assert main(["prune", "--store", str(store.root), "--keep", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("awareness-analysis prune: error: keep must be at least 1 (got 0)")
    assert len(err.splitlines()) == 1
    assert len(store.snapshot_ids()) == 1

    missing = tmp_path / "nowhere"
    assert main(["prune", "--store", str(missing), "--keep", "2"]) == 1
    assert f"No snapshot store at {missing}" in capsys.readouterr().err
    assert main(["migrate-store", "--store", str(missing)]) == 1
    assert f"No snapshot store at {missing}" in capsys.readouterr().err
    assert not missing.exists()
