"""Tests of the snapshot store: round trips, lookup by time and id, manifests, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from awareness_analysis import __version__
from awareness_analysis.data.frames import Frames, build_frames
from awareness_analysis.data.store import TABLES, Snapshot, SnapshotStore, content_hash
from awareness_analysis.errors import StoreError

RECORDED = Path(__file__).parent / "data" / "recorded-exchanges.json"
T1 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 8, 8, 0, tzinfo=UTC)
T3 = datetime(2026, 11, 15, 8, 0, tzinfo=UTC)
HOST = "us-api.mimecast.com"


def recorded_frames() -> Frames:
    exchanges = json.loads(RECORDED.read_text(encoding="utf-8"))["exchanges"]
    campaigns = exchanges[0]["response"]["body"]["data"][0]["campaigns"]
    items = {
        ex["request"]["body"]["data"][0]["id"]: ex["response"]["body"]["data"][0]["items"]
        for ex in exchanges[1:]
    }
    return build_frames(campaigns, items)


@pytest.fixture
def frames() -> Frames:
    return recorded_frames()


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "store")


def assert_frames_equal(left: Frames, right: Frames) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name))


def with_changed_outcome(frames: Frames) -> Frames:
    users = frames.users.copy()
    users.loc[1, "outcome"] = "correct"
    return Frames(campaigns=frames.campaigns, users=users, answers=frames.answers)


def visible_entries(store: SnapshotStore) -> list[str]:
    return sorted(os.listdir(store.root))


def object_names(store: SnapshotStore) -> set[str]:
    """Names of every object file in the store's shared objects folder."""
    return {path.stem for path in store.objects_dir.glob("*/*.parquet")}


def with_changed_campaigns(frames: Frames) -> Frames:
    """``frames`` with one outcome changed in each of three campaigns (three users objects)."""
    users = frames.users.copy()
    rows = [1, 2, 5]  # the recorded data's first three campaigns, one row each
    assert users.loc[rows, "campaign_id"].nunique() == 3
    assert (users.loc[rows, "outcome"] == "sent").all()
    users.loc[rows, "outcome"] = "correct"
    return Frames(campaigns=frames.campaigns, users=users, answers=frames.answers)


def test_round_trip_keeps_values_and_dtypes(store: SnapshotStore, frames: Frames) -> None:
    written = store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    loaded = store.load()
    assert_frames_equal(loaded.frames, frames)
    assert loaded.snapshot_id == written.snapshot_id
    assert loaded.path == store.root / "snapshots" / written.snapshot_id
    assert loaded.fetched_at == T1
    assert loaded.fetched_at.tzinfo is not None and loaded.fetched_at.utcoffset() == timedelta(0)
    # The snapshot folder holds only its manifest; the data are shared objects beside it.
    assert sorted(p.name for p in loaded.path.iterdir()) == ["manifest.json"]
    assert sorted(p.name for p in store.snapshots_dir.iterdir()) == [
        ".lock",
        written.snapshot_id,
        "objects",
    ]
    # Each table's files are objects of the store, and the store holds exactly those: one for
    # campaigns, one per campaign (4) for users and for answers.
    files = {name: store.table_files(written.snapshot_id, name) for name in TABLES}
    assert {name: len(paths) for name, paths in files.items()} == {
        "campaigns": 1,
        "users": 4,
        "answers": 4,
    }
    for paths in files.values():
        assert all(p.is_file() and p.parent.parent == store.objects_dir for p in paths)
    assert object_names(store) == {p.stem for paths in files.values() for p in paths}
    assert len(object_names(store)) == 9


def test_round_trip_of_empty_frames_keeps_categories(store: SnapshotStore) -> None:
    campaigns_only = build_frames([{"id": "c1", "name": "Only"}], {"c1": []})
    empty = build_frames([], {})
    store.write(campaigns_only, api_host=HOST, query={}, fetched_at=T1)
    store.write(empty, api_host=HOST, query={}, fetched_at=T2)
    assert_frames_equal(store.load(T1).frames, campaigns_only)
    loaded_empty = store.load()
    assert_frames_equal(loaded_empty.frames, empty)
    assert loaded_empty.manifest["row_counts"] == {"campaigns": 0, "users": 0, "answers": 0}
    # Parquet alone would lose the categories of a zero-row column.
    users = store.load(T1).frames.users
    assert list(users["campaign_id"].cat.categories) == ["c1"]
    assert list(users["outcome"].cat.categories) == ["sent", "correct", "incorrect"]


def test_load_latest_by_time_and_by_id(store: SnapshotStore, frames: Frames) -> None:
    changed = with_changed_outcome(frames)
    # Written out of time order on purpose: ids sort by fetch time, not by write order.
    s2 = store.write(changed, api_host=HOST, query={"n": 2}, fetched_at=T2)
    s1 = store.write(frames, api_host=HOST, query={"n": 1}, fetched_at=T1)
    s3 = store.write(frames, api_host=HOST, query={"n": 3}, fetched_at=T3)
    assert store.snapshot_ids() == [s1.snapshot_id, s2.snapshot_id, s3.snapshot_id]
    assert [m["query"] for m in store.manifests()] == [{"n": 1}, {"n": 2}, {"n": 3}]

    assert store.load().snapshot_id == s3.snapshot_id
    assert store.load(T2).snapshot_id == s2.snapshot_id  # exactly at counts
    assert store.load(T2 + timedelta(days=1)).snapshot_id == s2.snapshot_id
    assert store.load(T3 - timedelta(microseconds=1)).snapshot_id == s2.snapshot_id
    assert store.load(datetime(2030, 1, 1, tzinfo=UTC)).snapshot_id == s3.snapshot_id
    # ISO strings; naive means UTC, offsets are honoured.
    assert store.load("2026-11-08T09:00:00").snapshot_id == s2.snapshot_id
    assert store.load("2026-11-08T08:00:00Z").snapshot_id == s2.snapshot_id
    assert store.load("2026-11-08T09:00:00+02:00").snapshot_id == s1.snapshot_id
    plus_two = timezone(timedelta(hours=2))
    assert store.load(datetime(2026, 11, 8, 10, 0, tzinfo=plus_two)).snapshot_id == s2.snapshot_id
    assert store.load(datetime(2026, 11, 8, 9, 0)).snapshot_id == s2.snapshot_id

    by_id = store.load(snapshot_id=s2.snapshot_id)
    assert_frames_equal(by_id.frames, changed)
    assert by_id.manifest["query"] == {"n": 2}


def test_load_errors_for_unknown_id_too_old_and_both_arguments(
    store: SnapshotStore, frames: Frames
) -> None:
    s1 = store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    with pytest.raises(StoreError) as caught:
        store.load(snapshot_id="20200101T000000000000Z-deadbeef")
    assert s1.snapshot_id in str(caught.value) and str(store.root) in str(caught.value)

    with pytest.raises(StoreError) as caught:
        store.load("2026-10-01")
    message = str(caught.value)
    assert str(store.root) in message
    assert "2026-11-01T08:00:00.000000Z" in message  # the oldest available time
    assert "awareness-analysis fetch --out" in message
    assert "awareness-analysis demo --out" in message

    with pytest.raises(ValueError, match="either"):
        store.load(T1, snapshot_id=s1.snapshot_id)
    with pytest.raises(ValueError, match="ISO 8601"):
        store.load("last tuesday")


def test_missing_store_error(tmp_path: Path) -> None:
    missing = SnapshotStore(tmp_path / "nowhere")
    assert not missing.exists()
    assert missing.snapshot_ids() == []
    assert missing.manifests() == []
    with pytest.raises(StoreError) as caught:
        missing.load()
    message = str(caught.value)
    assert f"No snapshot store at {tmp_path / 'nowhere'}" in message
    assert f"awareness-analysis fetch --out {tmp_path / 'nowhere'}" in message
    assert f"awareness-analysis demo --out {tmp_path / 'nowhere'}" in message
    assert not (tmp_path / "nowhere").exists()  # reading never creates the store


def test_empty_store_error(tmp_path: Path) -> None:
    (tmp_path / "store" / "snapshots").mkdir(parents=True)
    store = SnapshotStore(tmp_path / "store")
    assert not store.exists()
    with pytest.raises(StoreError, match="holds no complete snapshot") as caught:
        store.load(T1)
    assert "awareness-analysis demo --out" in str(caught.value)


def test_manifest_content(store: SnapshotStore, frames: Frames) -> None:
    query = {"campaign_ids": ["a", "b"], "filterBy": [{"fieldName": "status", "value": "sent"}]}
    snap = store.write(
        frames,
        api_host="https://ops:hunter2@us-api.mimecast.com:443/api/awareness-training?x=1",
        query=query,
        fetched_at=datetime(2026, 11, 27, 6, 51, 0, 123456, tzinfo=UTC),
    )
    text = (snap.path / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(text)
    assert manifest == snap.manifest
    assert manifest["schema_version"] == 2
    assert manifest["snapshot_id"] == snap.snapshot_id == snap.path.name
    assert snap.snapshot_id.startswith("20261127T065100123456Z-")
    assert manifest["fetched_at"] == "2026-11-27T06:51:00.123456Z"
    assert manifest["api_host"] == "us-api.mimecast.com:443"
    assert "hunter2" not in text and "ops:" not in text
    assert manifest["query"] == query
    assert manifest["package_version"] == __version__
    assert manifest["row_counts"] == {"campaigns": 4, "users": 11, "answers": 11}
    assert manifest["content_hash"] == content_hash(frames)
    assert snap.snapshot_id.endswith(manifest["content_hash"][len("sha256:") :][:8])
    assert "files" not in manifest
    objects = manifest["objects"]
    assert list(objects) == ["campaigns", "users", "answers"]
    # users and answers: one object per campaign, in row order; campaigns: one object.
    assert [len(entries) for entries in objects.values()] == [1, 4, 4]
    for name, entries in objects.items():
        assert sum(entry["rows"] for entry in entries) == manifest["row_counts"][name]
        paths = store.table_files(snap.snapshot_id, name)
        assert [p.stem for p in paths] == [entry["object"] for entry in entries]
        for entry, path in zip(entries, paths, strict=True):
            assert set(entry) == {"object", "checksum", "rows"}
            assert re.fullmatch(r"[0-9a-f]{64}", entry["object"])
            assert entry["checksum"].startswith("sha256:") and len(entry["checksum"]) == 71
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert entry["checksum"] == "sha256:" + digest
    assert [e["rows"] for e in objects["users"]] == [2, 3, 3, 3]


@pytest.mark.parametrize(
    ("api_host", "expected"),
    [
        ("us-api.mimecast.com", "us-api.mimecast.com"),
        ("https://eu-api.mimecast.com/", "eu-api.mimecast.com"),
        ("HTTPS://User:Pass@EU-API.mimecast.com/api/x?token=abc", "eu-api.mimecast.com"),
        ("http://127.0.0.1:8123", "127.0.0.1:8123"),
        ("localhost:8123/api", "localhost:8123"),
    ],
)
def test_api_host_is_reduced_to_host(
    store: SnapshotStore, frames: Frames, api_host: str, expected: str
) -> None:
    assert store.write(frames, api_host=api_host, query={}).manifest["api_host"] == expected


@pytest.mark.parametrize(
    "query",
    [
        {"access_key": "AK"},
        {"secretKey": "s"},
        {"options": {"Authorization": "MC a:b"}},
        {"pages": [{"pageToken": "t"}]},
        {"PASSWORD": "x"},
        {"client_credential": "x"},
    ],
)
def test_secret_looking_query_keys_are_refused(
    store: SnapshotStore, frames: Frames, query: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="look like secrets"):
        store.write(frames, api_host=HOST, query=query)
    # Checked before anything touches the disk.
    assert not store.root.exists()


def test_bad_api_host_and_query_are_refused(store: SnapshotStore, frames: Frames) -> None:
    with pytest.raises(ValueError, match="api_host"):
        store.write(frames, api_host="https://", query={})
    with pytest.raises(ValueError, match="JSON"):
        store.write(frames, api_host=HOST, query={"since": datetime(2026, 1, 1)})
    assert not store.root.exists()


def test_content_hash_is_stable_and_tracks_data(store: SnapshotStore, frames: Frames) -> None:
    first = store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    again = store.write(recorded_frames(), api_host="eu-api.mimecast.com", query={"x": 1})
    assert again.manifest["content_hash"] == first.manifest["content_hash"]
    assert again.snapshot_id != first.snapshot_id
    # The hash ignores the parquet files themselves: recomputed from loaded frames it matches.
    assert content_hash(store.load(T1).frames) == first.manifest["content_hash"]
    # The index does not count, values do.
    reindexed = Frames(frames.campaigns, frames.users.set_axis(range(5, 16)), frames.answers)
    assert content_hash(reindexed) == content_hash(frames)
    changed = store.write(with_changed_outcome(frames), api_host=HOST, query={})
    assert changed.manifest["content_hash"] != first.manifest["content_hash"]
    renamed = Frames(frames.campaigns, frames.users.rename(columns={"name": "nm"}), frames.answers)
    assert content_hash(renamed) != content_hash(frames)
    retyped = Frames(frames.campaigns, frames.users.astype({"n_correct": "int64"}), frames.answers)
    assert content_hash(retyped) != content_hash(frames)


def test_same_id_twice_is_refused(store: SnapshotStore, frames: Frames) -> None:
    store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    with pytest.raises(StoreError, match="already exists"):
        store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    assert len(store.snapshot_ids()) == 1
    assert visible_entries(store) == ["snapshots"]


def test_naive_fetched_at_is_utc(store: SnapshotStore, frames: Frames) -> None:
    snap = store.write(frames, api_host=HOST, query={}, fetched_at=datetime(2026, 11, 1, 8, 0))
    assert snap.fetched_at == T1
    assert store.load().fetched_at == T1


@pytest.mark.parametrize("fail_at", ["parquet-1", "parquet-3", "rename"])
def test_interrupted_write_leaves_previous_snapshot(
    store: SnapshotStore, frames: Frames, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    previous = store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    objects_before = object_names(store)
    calls = {"n": 0}
    original = pd.DataFrame.to_parquet

    def failing_to_parquet(self: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        result = original(self, *args, **kwargs)
        if fail_at == f"parquet-{calls['n']}":
            raise KeyboardInterrupt  # as if Ctrl-C arrived right after this file was written
        return result

    def failing_rename(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing_to_parquet)
    if fail_at == "rename":
        monkeypatch.setattr(os, "rename", failing_rename)
    expected = OSError if fail_at == "rename" else KeyboardInterrupt
    # Three campaigns' users rows change: the write writes three new objects (the others
    # exist already), so every failure point below is a file the write really writes.
    with pytest.raises(expected):
        store.write(with_changed_campaigns(frames), api_host=HOST, query={}, fetched_at=T2)
    monkeypatch.undo()

    # The interruption happened where intended: after the 1st or 3rd (last) new object, or
    # at the final rename once all three were written.
    assert calls["n"] == {"parquet-1": 1, "parquet-3": 3, "rename": 3}[fail_at]
    assert visible_entries(store) == ["snapshots"]  # no .incomplete-* left behind
    if fail_at == "rename":
        # Published before the manifest, never referenced (prune removes them).
        assert len(object_names(store) - objects_before) == 3
    else:
        assert object_names(store) == objects_before  # nothing published
    assert store.snapshot_ids() == [previous.snapshot_id]
    loaded = store.load()
    assert loaded.snapshot_id == previous.snapshot_id
    assert_frames_equal(loaded.frames, frames)


def test_leftovers_and_foreign_directories_are_ignored(
    store: SnapshotStore, frames: Frames
) -> None:
    snap = store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    leftover = store.root / ".incomplete-0123abcd"
    leftover.mkdir()
    (leftover / "campaigns.parquet").write_bytes(b"half")
    no_manifest = store.root / "snapshots" / "20991231T000000000000Z-00000000"
    no_manifest.mkdir()
    (no_manifest / "users.parquet").write_bytes(b"half")
    (store.root / "snapshots" / "notes").mkdir()
    (store.root / "snapshots" / "notes" / "manifest.json").write_text("{}")
    assert store.snapshot_ids() == [snap.snapshot_id]
    assert store.load().snapshot_id == snap.snapshot_id
    assert len(store.manifests()) == 1


def test_corrupted_file_is_detected(store: SnapshotStore, frames: Frames) -> None:
    snap = store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    path = store.table_files(snap.snapshot_id, "users")[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupted") as caught:
        store.load()
    message = str(caught.value)
    # Names the damaged object, the table and the snapshot using it.
    assert path.name in message
    assert f"users of snapshot {snap.snapshot_id}" in message


def test_missing_file_is_detected(store: SnapshotStore, frames: Frames) -> None:
    snap = store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    path = store.table_files(snap.snapshot_id, "answers")[1]
    path.unlink()
    with pytest.raises(StoreError, match="Cannot read") as caught:
        store.load()
    message = str(caught.value)
    # Names the missing object, the table and the snapshot using it.
    assert path.name in message
    assert f"answers of snapshot {snap.snapshot_id}" in message


def test_unreadable_manifest_is_reported(store: SnapshotStore, frames: Frames) -> None:
    snap = store.write(frames, api_host=HOST, query={}, fetched_at=T1)
    manifest = snap.path / "manifest.json"
    manifest.write_text('{"schema_version": 1, "snap', encoding="utf-8")
    with pytest.raises(StoreError, match=r"manifest\.json"):
        store.load()
    manifest.write_text(json.dumps({**snap.manifest, "schema_version": 3}), encoding="utf-8")
    with pytest.raises(StoreError, match="schema_version 3"):
        store.load()


def test_snapshot_properties_from_manifest(frames: Frames, tmp_path: Path) -> None:
    snap = Snapshot(
        path=tmp_path,
        manifest={"snapshot_id": "x", "fetched_at": "2026-11-01T10:00:00+02:00"},
        frames=frames,
    )
    assert snap.snapshot_id == "x"
    assert snap.fetched_at == T1
    assert snap.fetched_at.tzinfo == UTC
