"""Fetching the behaviour sources (phishing, SAFE, watch list, performance, queue) into extra
snapshot tables: store round trip, manifest, checksums, hash compatibility, include and CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from awareness_analysis import cli
from awareness_analysis.api.endpoints import GET_CAMPAIGNS_PATH, GET_USER_DATA_PATH
from awareness_analysis.api.fetch import fetch_snapshot, parse_include
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.frames import Frames
from awareness_analysis.data.store import Snapshot, SnapshotStore, content_hash
from awareness_analysis.errors import StoreError
from awareness_analysis.fakeapi.server import FakeMimecastServer
from awareness_analysis.vocabulary import BEHAVIOUR_SOURCES, BEHAVIOUR_TABLES, TABLES


def _api_calls(server: FakeMimecastServer) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith("/api/")]


@pytest.fixture
def full_snapshot(client: MimecastClient, tmp_path: Path) -> Snapshot:
    """A snapshot of the small organisation with every behaviour source included."""
    return fetch_snapshot(
        client, SnapshotStore(tmp_path / "store"), progress=False, include=["all"]
    )


def test_include_all_writes_every_behaviour_table(full_snapshot: Snapshot) -> None:
    assert list(full_snapshot.tables) == list(BEHAVIOUR_TABLES)
    manifest = full_snapshot.manifest
    assert manifest["tables"] == list(BEHAVIOUR_TABLES)
    assert manifest["query"]["include"] == list(BEHAVIOUR_SOURCES)
    store = SnapshotStore(full_snapshot.path.parent.parent)
    assert list(manifest["objects"]) == [*TABLES, *BEHAVIOUR_TABLES]
    for name, frame in full_snapshot.tables.items():
        assert manifest["row_counts"][name] == len(frame)
        # Each extra table is one object of the store, listed with its checksum and rows.
        (entry,) = manifest["objects"][name]
        assert entry["rows"] == len(frame)
        assert [c["name"] for c in manifest["columns"][name]] == list(frame.columns)
        (path,) = store.table_files(full_snapshot.snapshot_id, name)
        assert path == store.objects_dir / entry["object"][:2] / f"{entry['object']}.parquet"
        assert path.is_file()
        assert entry["checksum"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    # The snapshot folder itself holds only the manifest.
    assert [p.name for p in full_snapshot.path.iterdir()] == ["manifest.json"]
    # The small organisation has data for every source (the fake derives it).
    assert all(len(full_snapshot.tables[name]) for name in BEHAVIOUR_TABLES)


def test_behaviour_tables_load_back_identical(full_snapshot: Snapshot) -> None:
    loaded = SnapshotStore(full_snapshot.path.parent.parent).load()
    assert loaded.snapshot_id == full_snapshot.snapshot_id
    assert list(loaded.tables) == list(BEHAVIOUR_TABLES)
    for name in BEHAVIOUR_TABLES:
        written, read = full_snapshot.tables[name], loaded.tables[name]
        assert dict(read.dtypes) == dict(written.dtypes), name
        pd.testing.assert_frame_equal(read, written, check_exact=True, obj=name)
    # safe_scores records its component scales in attrs; they survive the round trip.
    assert loaded.tables["safe_scores"].attrs == full_snapshot.tables["safe_scores"].attrs
    assert content_hash(loaded.frames, loaded.tables) == full_snapshot.manifest["content_hash"]


def test_content_hash_covers_the_extra_tables(full_snapshot: Snapshot) -> None:
    frames, tables = full_snapshot.frames, dict(full_snapshot.tables)
    assert content_hash(frames, tables) == full_snapshot.manifest["content_hash"]
    assert content_hash(frames, tables) != content_hash(frames)
    # The caller's dict order does not matter: tables are hashed in BEHAVIOUR_TABLES order.
    assert content_hash(frames, dict(reversed(tables.items()))) == content_hash(frames, tables)
    changed = {**tables, "watchlist": tables["watchlist"].iloc[:-1]}
    assert content_hash(frames, changed) != content_hash(frames, tables)


def test_corrupted_extra_table_is_reported_by_name(full_snapshot: Snapshot) -> None:
    store = SnapshotStore(full_snapshot.path.parent.parent)
    (path,) = store.table_files(full_snapshot.snapshot_id, "safe_scores")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupted") as caught:
        store.load()
    message = str(caught.value)
    # Names the damaged object and the table (and snapshot) it belongs to.
    assert path.name in message
    assert f"safe_scores of snapshot {full_snapshot.snapshot_id}" in message


def test_missing_extra_table_file_is_reported_by_name(full_snapshot: Snapshot) -> None:
    store = SnapshotStore(full_snapshot.path.parent.parent)
    (path,) = store.table_files(full_snapshot.snapshot_id, "module_options")
    path.unlink()
    with pytest.raises(StoreError, match="Cannot read") as caught:
        store.load()
    message = str(caught.value)
    # Names the missing object and the table (and snapshot) it belongs to.
    assert path.name in message
    assert f"module_options of snapshot {full_snapshot.snapshot_id}" in message


def _content_hash_before_extra_tables(frames: Frames) -> str:
    """The store's content_hash exactly as it was before extra tables existed."""
    digest = hashlib.sha256()
    for name in TABLES:
        frame: pd.DataFrame = getattr(frames, name)
        digest.update(f"table {name} rows {len(frame)}\n".encode())
        for column, dtype in frame.dtypes.items():
            digest.update(f"column {column!s} {dtype!s}\n".encode())
        if len(frame.columns):
            row_hashes = pd.util.hash_pandas_object(frame, index=False)
            digest.update(row_hashes.to_numpy(dtype="uint64").tobytes())
    return "sha256:" + digest.hexdigest()


def test_snapshot_without_extras_keeps_its_content_hash(
    client: MimecastClient, server: FakeMimecastServer, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    snapshot = fetch_snapshot(client, store, progress=False)
    assert snapshot.tables == {}
    assert snapshot.manifest["tables"] == []
    assert snapshot.manifest["query"]["include"] == []
    expected = _content_hash_before_extra_tables(snapshot.frames)
    assert snapshot.manifest["content_hash"] == expected
    assert content_hash(snapshot.frames) == content_hash(snapshot.frames, {}) == expected
    # No behaviour endpoint was asked.
    assert set(_api_calls(server)) == {GET_CAMPAIGNS_PATH, GET_USER_DATA_PATH}


def test_manifest_from_before_extra_tables_loads_without_them(
    client: MimecastClient, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    snapshot = fetch_snapshot(client, store, progress=False)
    manifest_path = snapshot.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["tables"]  # as written by earlier versions
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    loaded = store.load()
    assert loaded.tables == {}
    assert content_hash(loaded.frames) == snapshot.manifest["content_hash"]


def test_manifest_naming_an_unknown_extra_table_is_refused(
    client: MimecastClient, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    snapshot = fetch_snapshot(client, store, progress=False)
    manifest_path = snapshot.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["tables"] = ["mystery"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StoreError, match=r"unknown extra tables.*mystery"):
        store.load()


def test_write_refuses_unknown_table_names(full_snapshot: Snapshot, tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "other")
    with pytest.raises(ValueError, match=r"mystery.*phish_campaigns.*module_options"):
        store.write(
            full_snapshot.frames,
            api_host="h",
            query={},
            tables={"mystery": pd.DataFrame({"a": [1]})},
        )
    with pytest.raises(ValueError, match="users"):  # a core table is not an extra one
        store.write(full_snapshot.frames, api_host="h", query={}, tables={"users": pd.DataFrame()})
    with pytest.raises(TypeError, match="watchlist"):
        store.write(full_snapshot.frames, api_host="h", query={}, tables={"watchlist": [1]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="tables"):  # the store's own manifest key
        store.write(full_snapshot.frames, api_host="h", query={}, extra={"tables": []})
    assert not store.exists()


def test_some_sources_only(
    client: MimecastClient, server: FakeMimecastServer, tmp_path: Path
) -> None:
    snapshot = fetch_snapshot(
        client, SnapshotStore(tmp_path / "store"), progress=False, include=["queue, SAFE"]
    )
    assert list(snapshot.tables) == [
        "safe_scores",
        "safe_summary",
        "training_modules",
        "module_options",
    ]
    assert snapshot.manifest["query"]["include"] == ["safe", "queue"]
    assert not [p for p in _api_calls(server) if "phishing" in p or "watchlist" in p]


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        ((), ()),
        (["all"], tuple(BEHAVIOUR_SOURCES)),
        ("watchlist", ("watchlist",)),
        (["queue,phishing", "phishing"], ("phishing", "queue")),
        ([" Performance ", "all"], tuple(BEHAVIOUR_SOURCES)),
    ],
)
def test_parse_include(include: Any, expected: tuple[str, ...]) -> None:
    assert parse_include(include) == expected


@pytest.mark.parametrize("include", [["phish"], ["safe,"], ["safe,,queue"], [""], [3]])
def test_parse_include_names_the_allowed_values(include: Any) -> None:
    with pytest.raises(ValueError, match="phishing, safe, watchlist, performance, queue, all"):
        parse_include(include)


def test_bad_include_fails_before_any_request(
    client: MimecastClient, server: FakeMimecastServer, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "store")
    with pytest.raises(ValueError, match="'phish'"):
        fetch_snapshot(client, store, progress=False, include=["phish"])
    assert _api_calls(server) == []
    assert not store.exists()


def test_cli_include_reaches_fetch_snapshot(
    api_env: FakeMimecastServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[Any] = []
    real = cli.fetch_snapshot

    def recording(*args: Any, **kwargs: Any) -> Snapshot:
        seen.append(kwargs["include"])
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "fetch_snapshot", recording)
    store = tmp_path / "store"
    argv = ["fetch", "--out", str(store), "--no-progress", "--include", "watchlist,queue"]
    assert cli.main([*argv, "--include", "performance"]) == 0
    assert seen == [("watchlist", "performance", "queue")]
    out = capsys.readouterr().out
    assert "Extra tables (rows): watchlist " in out
    assert list(SnapshotStore(store).load().tables) == [
        "watchlist",
        "performance",
        "training_modules",
        "module_options",
    ]


def test_cli_rejects_unknown_include_before_any_request(
    api_env: FakeMimecastServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["fetch", "--out", str(tmp_path / "s"), "--no-progress", "--include", "x"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'x'" in err and "phishing, safe, watchlist, performance, queue, all" in err
    assert _api_calls(api_env) == []


def test_behaviour_sources_go_through_their_own_client(
    client: MimecastClient,
    oauth_client: MimecastClient,
    server: FakeMimecastServer,
    tmp_path: Path,
) -> None:
    server.clear_requests()
    snapshot = fetch_snapshot(
        client,
        SnapshotStore(tmp_path / "store"),
        include=("all",),
        behaviour_client=oauth_client,
        progress=False,
    )
    assert list(snapshot.tables) == list(BEHAVIOUR_TABLES)
    schemes = {r.path: r.auth_scheme for r in server.requests if r.path.startswith("/api/")}
    campaign_paths = {p for p in schemes if "/awareness-training/campaign/" in p}
    behaviour_paths = set(schemes) - campaign_paths
    assert campaign_paths and behaviour_paths
    assert {schemes[p] for p in campaign_paths} == {"hmac"}
    assert {schemes[p] for p in behaviour_paths} == {"bearer"}


def test_cli_fetch_with_both_credential_sets_splits_the_schemes(
    api_env: FakeMimecastServer,
    fake_credentials: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("MIMECAST_CLIENT_ID", fake_credentials.client_id)
    monkeypatch.setenv("MIMECAST_CLIENT_SECRET", fake_credentials.client_secret)
    monkeypatch.setenv("MIMECAST_API2_BASE_URL", api_env.base_url)
    api_env.clear_requests()
    code = cli.main(["fetch", "--out", str(tmp_path / "store"), "--include", "safe,queue"])
    assert code == 0
    schemes = {r.path: r.auth_scheme for r in api_env.requests if r.path.startswith("/api/")}
    assert schemes[GET_CAMPAIGNS_PATH] == "hmac"
    behaviour = {p: s for p, s in schemes.items() if "/awareness-training/campaign/" not in p}
    assert behaviour and set(behaviour.values()) == {"bearer"}


class _Stop(Exception):
    """Stands for Ctrl-C, a dropped VPN or a closed laptop lid mid-fetch."""


def test_a_stopped_fetch_resumes_the_behaviour_sources_it_had(
    client: MimecastClient,
    server: FakeMimecastServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from awareness_analysis.api.endpoints import (
        PERFORMANCE_DETAILS_PATH,
        PHISHING_USER_DATA_PATH,
        SAFE_SCORE_DETAILS_PATH,
    )

    reference = fetch_snapshot(
        client, SnapshotStore(tmp_path / "reference"), progress=False, include=["all"]
    )
    store = SnapshotStore(tmp_path / "store")
    real_post = client.post

    def post(path: str, body: Any) -> Any:
        if path == PERFORMANCE_DETAILS_PATH:
            raise _Stop
        return real_post(path, body)

    with monkeypatch.context() as patch:
        patch.setattr(client, "post", post)
        with pytest.raises(_Stop):
            fetch_snapshot(client, store, progress=False, include=["all"])
    assert store.snapshot_ids() == []

    server.clear_requests()
    resumed = fetch_snapshot(client, store, progress=False, include=["all"])
    calls = _api_calls(server)
    # What had arrived is not asked for again: campaign pages, phishing users, SAFE scores.
    for done in (GET_USER_DATA_PATH, PHISHING_USER_DATA_PATH, SAFE_SCORE_DETAILS_PATH):
        assert done not in calls, (done, calls)
    assert PERFORMANCE_DETAILS_PATH in calls  # the source in progress is
    assert resumed.manifest["content_hash"] == reference.manifest["content_hash"]
    assert sorted(p.name for p in store.root.iterdir()) == ["snapshots"]  # staging removed


def test_a_changed_phishing_campaign_is_not_taken_from_staging(tmp_path: Path) -> None:
    from awareness_analysis.api.fetch import _BehaviourStage

    stage = _BehaviourStage(tmp_path)
    counters = {"numSent": 5, "numClicked": 1}
    stage.save("phishing:p1", [{"email": "a@x.example"}], counters)
    assert stage.load("phishing:p1", counters) == [{"email": "a@x.example"}]
    assert stage.load("phishing:p1", {**counters, "numClicked": 2}) is None
    assert stage.load("phishing:p2", counters) is None
    # A source without counters is reused for a day only.
    stage.save("safe", [{"emailAddress": "a@x.example"}])
    assert stage.load("safe") == [{"emailAddress": "a@x.example"}]
    path = next(p for p in (tmp_path / "behaviour").iterdir() if "safe" in p.read_text())
    staged = json.loads(path.read_text())
    staged["staged_at"] -= 2 * 24 * 3600
    path.write_text(json.dumps(staged))
    assert stage.load("safe") is None
