"""A local store of fetched snapshots: parquet frames plus a JSON manifest, written atomically.

Layout::

    ROOT/
      snapshots/
        20261127T065100123456Z-1a2b3c4d/     <fetched_at in UTC>-<first 8 of content hash>
          campaigns.parquet
          users.parquet
          answers.parquet
          phish_users.parquet ...           optional extra tables (BEHAVIOUR_TABLES), if fetched
          manifest.json                     written last: no manifest, no snapshot
      .incomplete-<uuid>/                   a write in progress (or one that crashed)
      staging/                              pages of unfinished fetches, kept for resuming
        <query fingerprint>/                one folder per fetch query (see api/fetch.py)

Snapshot ids sort by fetch time. A write goes into ``ROOT/.incomplete-<uuid>``, every file is
fsynced, and the directory is renamed into ``snapshots/`` in one step; a failed or interrupted
write (including Ctrl-C) removes its temporary directory, so readers only ever see complete
snapshots and earlier snapshots are never touched.

The manifest (``schema_version`` 1) records ``snapshot_id``, ``fetched_at`` (ISO 8601, UTC),
``api_host`` (host and port only: scheme, path and any credentials in a URL are dropped),
``query`` (the fetch parameters), ``package_version``, ``row_counts``, ``content_hash``
(``sha256:`` over column names, dtypes and row values of the three frames: the same data gives
the same hash whatever the parquet writer or file times; extra tables, when present, are hashed
after them, so a snapshot without extras keeps the hash it always had), ``files`` (``sha256:``
of each file's bytes, checked on load so a corrupted file is reported by name) and ``columns``
(dtypes with categories, so frames load back with exactly the dtypes they were written with,
even when empty). Writers may add further keys (``extra``); the fetch records
``campaign_counters`` (each stored campaign's get-campaigns counters) and ``refresh`` (full or
incremental, which campaigns were downloaded and which were reused from which earlier snapshot).
Readers ignore keys they do not know.

Optional extra tables (:data:`BEHAVIOUR_TABLES`: phishing, SAFE score, watch list, performance
and training queue frames) are written beside the three core ones in the same atomic write. The
manifest lists them under ``tables`` (in :data:`BEHAVIOUR_TABLES` order) and gives each its
entry in ``row_counts``, ``files`` and ``columns``, exactly like a core table; a manifest
without ``tables`` (written before extras existed) has none, so ``schema_version`` stays 1.
:attr:`Snapshot.tables` holds them, loaded with their checksums checked and dtypes restored.

``staging/`` holds the pages of fetches that stopped before writing their snapshot, one folder
per query fingerprint, so that the next fetch of the same query downloads only what is missing
(see :mod:`awareness_analysis.api.fetch`). Every file in it is written under a temporary name
and renamed (:func:`write_json_atomic`). A finished fetch removes its folder;
:meth:`SnapshotStore.discard_staging` and :meth:`SnapshotStore.clean_staging` remove others.
Snapshots never read from ``staging/``.

No secrets are stored: :meth:`SnapshotStore.write` refuses (``ValueError``) a ``query`` or
``extra`` with a key, at any depth, whose name contains ``secret``, ``key``, ``token``,
``password``, ``passwd``, ``authorization``, ``authorisation`` or ``credential``
(case-insensitive).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from awareness_analysis import __version__
from awareness_analysis.data.frames import Frames
from awareness_analysis.errors import StoreError
from awareness_analysis.vocabulary import BEHAVIOUR_TABLES, TABLES

__all__ = [
    "BEHAVIOUR_TABLES",
    "SCHEMA_VERSION",
    "TABLES",
    "Snapshot",
    "SnapshotStore",
    "content_hash",
    "write_json_atomic",
]

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
SNAPSHOTS_DIR = "snapshots"
INCOMPLETE_PREFIX = ".incomplete-"
STAGING_DIR = "staging"
#: Prefix of a staged file being written; renamed to its final name once complete.
STAGING_TEMP_PREFIX = ".tmp-"

_SNAPSHOT_ID = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}")
_SECRET_KEY = re.compile(
    r"secret|key|token|password|passwd|authori[sz]ation|credential", re.IGNORECASE
)
_CHUNK = 1 << 20
#: Manifest keys written by the store itself; ``extra`` may not replace them.
RESERVED_MANIFEST_KEYS = frozenset(
    {
        "schema_version",
        "snapshot_id",
        "fetched_at",
        "api_host",
        "query",
        "package_version",
        "row_counts",
        "content_hash",
        "files",
        "columns",
        "tables",
    }
)


def _hash_table(digest: Any, name: str, frame: pd.DataFrame) -> None:
    digest.update(f"table {name} rows {len(frame)}\n".encode())
    for column, dtype in frame.dtypes.items():
        digest.update(f"column {column!s} {dtype!s}\n".encode())
    if len(frame.columns):
        row_hashes = pd.util.hash_pandas_object(frame, index=False)
        digest.update(row_hashes.to_numpy(dtype="uint64").tobytes())


def content_hash(frames: Frames, tables: Mapping[str, pd.DataFrame] | None = None) -> str:
    """``sha256:<hex>`` of the frames' data: column names, dtypes and values, in table order.

    Independent of the index, of parquet metadata and of file times; unused categories do not
    count (values are hashed, not category codes). Extra ``tables`` are hashed after the core
    ones, in :data:`BEHAVIOUR_TABLES` order; with none the hash is exactly the core-only hash
    (so snapshots written before extra tables existed keep theirs).
    """
    digest = hashlib.sha256()
    for name in TABLES:
        _hash_table(digest, name, getattr(frames, name))
    for name, frame in _checked_tables(tables).items():
        _hash_table(digest, name, frame)
    return "sha256:" + digest.hexdigest()


def _checked_tables(tables: Mapping[str, pd.DataFrame] | None) -> dict[str, pd.DataFrame]:
    """``tables`` in :data:`BEHAVIOUR_TABLES` order; unknown names or non-frames are refused."""
    if tables is None:
        return {}
    if not isinstance(tables, Mapping):
        raise TypeError(
            f"tables must be a mapping of name to DataFrame, got {type(tables).__name__}"
        )
    unknown = sorted(str(name) for name in tables if name not in BEHAVIOUR_TABLES)
    if unknown:
        raise ValueError(
            f"Unknown extra table(s): {', '.join(unknown)}. A snapshot may hold only "
            f"{', '.join(BEHAVIOUR_TABLES)} besides {', '.join(TABLES)}."
        )
    for name, frame in tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"Extra table {name} must be a DataFrame, got {type(frame).__name__}")
    # A fixed order, so the hash and the manifest do not depend on the caller's dict order.
    return {name: tables[name] for name in BEHAVIOUR_TABLES if name in tables}


@dataclass(frozen=True)
class Snapshot:
    """One stored fetch: where it lives, its manifest, its frames and any extra tables."""

    path: Path
    manifest: dict[str, Any]
    frames: Frames
    #: Extra tables (names from :data:`BEHAVIOUR_TABLES`) the snapshot holds; often none.
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def fetched_at(self) -> datetime:
        return _parse_time(self.manifest["fetched_at"])

    @property
    def snapshot_id(self) -> str:
        return str(self.manifest["snapshot_id"])


def _parse_time(value: datetime | str) -> datetime:
    """A tz-aware UTC datetime from a datetime or ISO 8601 string; naive means UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"Not an ISO 8601 time: {value!r} (expected e.g. '2026-11-27T06:51:00Z')"
            ) from None
    if not isinstance(value, datetime):
        raise TypeError(f"Expected a datetime or ISO 8601 string, got {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _format_time(value: datetime) -> str:
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def host_only(api_host: str) -> str:
    """Host (and port) of a host name or URL; drops scheme, userinfo, path and query."""
    text = api_host.strip()
    parts = urlsplit(text if "://" in text else "//" + text)
    host = parts.hostname
    if not host:
        raise ValueError(f"api_host must be a host name or URL, got {api_host!r}")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"api_host has an invalid port: {api_host!r}") from None
    return f"{host}:{port}" if port is not None else host


def _secret_keys(value: object, path: str = "") -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _SECRET_KEY.search(str(key)):
                yield where
            yield from _secret_keys(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secret_keys(item, f"{path}[{index}]")


def _checked_query(query: Mapping[str, Any], what: str = "query") -> dict[str, Any]:
    if not isinstance(query, Mapping):
        raise ValueError(
            f"{what} must be a mapping of fetch parameters, got {type(query).__name__}"
        )
    secret = list(_secret_keys(query))
    if secret:
        raise ValueError(
            f"Refusing to store {what} keys that look like secrets: {', '.join(secret)}. "
            "Snapshots record the fetch parameters only, never credentials."
        )
    try:
        return json.loads(json.dumps(query, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable: {exc}") from None


def _checked_extra(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if extra is None:
        return {}
    checked = _checked_query(extra, "extra")
    clash = sorted(RESERVED_MANIFEST_KEYS.intersection(checked))
    if clash:
        raise ValueError(
            f"extra may not replace the store's own manifest keys: {', '.join(clash)}."
        )
    return checked


def _column_schema(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = []
    for name, dtype in frame.dtypes.items():
        entry: dict[str, Any] = {"name": str(name), "dtype": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            entry["categories"] = dtype.categories.tolist()
            entry["categories_dtype"] = str(dtype.categories.dtype)
            entry["ordered"] = bool(dtype.ordered)
        columns.append(entry)
    return columns


def _hash_and_fsync(path: Path) -> str:
    digest = hashlib.sha256()
    # r+b: fsync needs a writable descriptor on some platforms.
    with path.open("r+b") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
        os.fsync(handle.fileno())
    return "sha256:" + digest.hexdigest()


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def write_json_atomic(path: Path, value: Any, *, fsync: bool = True) -> None:
    """Write ``value`` as JSON to ``path`` under a temporary name, then rename it into place.

    A reader (or a resumed fetch) sees either the previous file or the complete new one, never
    a partial one, whatever stops the write.
    """
    # json.dumps, not json.dump: the one-shot C encoder is several times faster.
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    temp = path.with_name(f"{STAGING_TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        with temp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    # Makes the rename durable; directories cannot be opened this way on Windows.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class SnapshotStore:
    """Snapshots of fetched frames under one root directory (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.snapshots_dir = self.root / SNAPSHOTS_DIR
        self.staging_root = self.root / STAGING_DIR

    def __repr__(self) -> str:
        return f"SnapshotStore({str(self.root)!r})"

    # -- writing -----------------------------------------------------------------------------

    def write(
        self,
        frames: Frames,
        *,
        api_host: str,
        query: Mapping[str, Any],
        fetched_at: datetime | None = None,
        extra: Mapping[str, Any] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
    ) -> Snapshot:
        """Store ``frames`` (and any extra ``tables``) as a new snapshot, atomically; returns it.

        ``fetched_at`` defaults to now; a naive datetime is taken as UTC. ``extra`` is merged
        into the manifest (JSON values; it may not replace the store's own keys). ``tables``
        maps names from :data:`BEHAVIOUR_TABLES` to frames, written beside the core tables.
        Raises ``ValueError`` for a query or extra holding secret-looking keys, an extra key
        that clashes, an unknown table name or an unusable ``api_host``, and
        :class:`StoreError` when the snapshot id already exists.
        """
        if not isinstance(frames, Frames):
            raise TypeError(f"frames must be a Frames instance, got {type(frames).__name__}")
        extra_tables = _checked_tables(tables)
        when = _parse_time(fetched_at) if fetched_at is not None else datetime.now(UTC)
        host = host_only(api_host)
        stored_query = _checked_query(query)
        stored_extra = _checked_extra(extra)
        data_hash = content_hash(frames, extra_tables)
        every: dict[str, pd.DataFrame] = {
            **{name: getattr(frames, name) for name in TABLES},
            **extra_tables,
        }
        snapshot_id = f"{when:%Y%m%dT%H%M%S%f}Z-{data_hash.removeprefix('sha256:')[:8]}"
        final = self.snapshots_dir / snapshot_id
        if final.exists():
            raise StoreError(f"Snapshot {snapshot_id} already exists in {self.root}")

        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        temp = self.root / f"{INCOMPLETE_PREFIX}{uuid.uuid4().hex}"
        temp.mkdir()
        try:
            files: dict[str, str] = {}
            for name, frame in every.items():
                path = temp / f"{name}.parquet"
                frame.to_parquet(path, engine="pyarrow", index=False)
                files[path.name] = _hash_and_fsync(path)
            manifest: dict[str, Any] = {
                "schema_version": SCHEMA_VERSION,
                "snapshot_id": snapshot_id,
                "fetched_at": _format_time(when),
                "api_host": host,
                "query": stored_query,
                "package_version": __version__,
                "row_counts": {name: len(frame) for name, frame in every.items()},
                "content_hash": data_hash,
                "files": files,
                "columns": {name: _column_schema(frame) for name, frame in every.items()},
                "tables": list(extra_tables),
                **stored_extra,
            }
            manifest_path = temp / MANIFEST_NAME
            manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            _hash_and_fsync(manifest_path)
            _fsync_dir(temp)
            os.rename(temp, final)
        except BaseException:
            # BaseException: a Ctrl-C mid-write must not leave a half-written directory.
            shutil.rmtree(temp, ignore_errors=True)
            raise
        _fsync_dir(self.snapshots_dir)
        return Snapshot(path=final, manifest=manifest, frames=frames, tables=extra_tables)

    # -- staging (resumable fetches) ---------------------------------------------------------

    def staging_dir(self, fingerprint: str) -> Path:
        """The staging folder of one fetch query (not created here)."""
        if not re.fullmatch(r"[0-9a-f]{8,64}", fingerprint):
            raise ValueError(f"A staging fingerprint is lowercase hex, got {fingerprint!r}")
        return self.staging_root / fingerprint

    def staging_fingerprints(self) -> list[str]:
        """Fingerprints of the staging folders present, sorted."""
        if not self.staging_root.is_dir():
            return []
        return sorted(p.name for p in self.staging_root.iterdir() if p.is_dir())

    def discard_staging(self, fingerprint: str) -> bool:
        """Remove one query's staging folder; whether there was one."""
        path = self.staging_dir(fingerprint)
        existed = path.exists()
        shutil.rmtree(path, ignore_errors=True)
        self._drop_empty_staging_root()
        return existed

    def clean_staging(
        self, *, keep: tuple[str, ...] = (), older_than_s: float | None = None
    ) -> list[str]:
        """Remove staging folders (all but ``keep``; with ``older_than_s``, only those not
        written to for that long). Returns the removed fingerprints."""
        removed = []
        now = datetime.now(UTC).timestamp()
        for fingerprint in self.staging_fingerprints():
            if fingerprint in keep:
                continue
            path = self.staging_root / fingerprint
            if older_than_s is not None:
                newest = max(
                    (p.stat().st_mtime for p in path.rglob("*")), default=path.stat().st_mtime
                )
                if now - newest < older_than_s:
                    continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(fingerprint)
        self._drop_empty_staging_root()
        return removed

    def _drop_empty_staging_root(self) -> None:
        with contextlib.suppress(OSError):
            self.staging_root.rmdir()  # only succeeds when empty

    # -- reading -----------------------------------------------------------------------------

    def snapshot_ids(self) -> list[str]:
        """Ids of complete snapshots (those with a manifest), oldest first."""
        if not self.snapshots_dir.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.snapshots_dir.iterdir()
            if _SNAPSHOT_ID.fullmatch(entry.name) and (entry / MANIFEST_NAME).is_file()
        )

    def exists(self) -> bool:
        """Whether the store holds at least one complete snapshot."""
        return bool(self.snapshot_ids())

    def manifests(self) -> list[dict[str, Any]]:
        """Manifests of all complete snapshots, oldest first."""
        return [self._read_manifest(self.snapshots_dir / sid) for sid in self.snapshot_ids()]

    def load(self, at: datetime | str | None = None, *, snapshot_id: str | None = None) -> Snapshot:
        """Load the latest snapshot, the latest fetched at or before ``at``, or one by id.

        ``at`` is a datetime or ISO 8601 string; naive means UTC.
        """
        if at is not None and snapshot_id is not None:
            raise ValueError("Give either `at` or `snapshot_id`, not both")
        ids = self.snapshot_ids()
        if not ids:
            if not self.root.exists():
                problem = f"No snapshot store at {self.root}"
            else:
                problem = f"The snapshot store at {self.root} holds no complete snapshot"
            raise StoreError(f"{problem}. {self._create_hint()}")

        if snapshot_id is not None:
            if snapshot_id not in ids:
                raise StoreError(
                    f"No snapshot {snapshot_id!r} in {self.root}; available: "
                    f"{', '.join(ids[-5:])}{' (latest 5 shown)' if len(ids) > 5 else ''}"
                )
            return self._load_dir(self.snapshots_dir / snapshot_id)

        if at is None:
            return self._load_dir(self.snapshots_dir / ids[-1])

        limit = _parse_time(at)
        manifests = self.manifests()
        candidates = [m for m in manifests if _parse_time(m["fetched_at"]) <= limit]
        if not candidates:
            oldest = _parse_time(manifests[0]["fetched_at"])
            raise StoreError(
                f"No snapshot in {self.root} was fetched at or before {_format_time(limit)}; "
                f"the oldest was fetched at {_format_time(oldest)}. {self._create_hint()}"
            )
        latest = max(candidates, key=lambda m: (_parse_time(m["fetched_at"]), m["snapshot_id"]))
        return self._load_dir(self.snapshots_dir / latest["snapshot_id"])

    def _create_hint(self) -> str:
        store = shlex.quote(str(self.root))
        return (
            f"Run `awareness-analysis fetch --out {store}` (real API) or "
            f"`awareness-analysis demo --out {store}` (demo data) to create a snapshot."
        )

    def _read_manifest(self, directory: Path) -> dict[str, Any]:
        path = directory / MANIFEST_NAME
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"Cannot read snapshot manifest {path}: {exc}") from None
        if not isinstance(manifest, dict):
            raise StoreError(f"Snapshot manifest {path} is not a JSON object")
        version = manifest.get("schema_version")
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"Snapshot manifest {path} has schema_version {version!r}; this version of "
                f"awareness-analysis ({__version__}) reads schema_version {SCHEMA_VERSION}"
            )
        required = ("snapshot_id", "fetched_at", "files", "columns")
        missing = [key for key in required if key not in manifest]
        if missing:
            raise StoreError(f"Snapshot manifest {path} lacks {', '.join(missing)}")
        if manifest["snapshot_id"] != directory.name:
            raise StoreError(
                f"Snapshot manifest {path} names snapshot {manifest['snapshot_id']!r}, "
                f"not its directory {directory.name!r}"
            )
        try:
            _parse_time(manifest["fetched_at"])
        except (TypeError, ValueError) as exc:
            raise StoreError(f"Snapshot manifest {path} has a bad fetched_at: {exc}") from None
        extras = manifest.get("tables", [])  # absent before extra tables existed: none
        if not isinstance(extras, list) or any(name not in BEHAVIOUR_TABLES for name in extras):
            raise StoreError(
                f"Snapshot manifest {path} lists unknown extra tables {extras!r}; this version "
                f"of awareness-analysis ({__version__}) knows {', '.join(BEHAVIOUR_TABLES)}"
            )
        return manifest

    def _load_dir(self, directory: Path) -> Snapshot:
        manifest = self._read_manifest(directory)
        tables: dict[str, pd.DataFrame] = {}
        # Extra tables are checked and restored exactly like the core ones, eagerly: a
        # corrupted one is reported (by file name) when the snapshot is loaded.
        for name in (*TABLES, *manifest.get("tables", [])):
            file_name = f"{name}.parquet"
            path = directory / file_name
            expected = manifest["files"].get(file_name)
            if expected is None:
                raise StoreError(f"Snapshot {directory.name} lists no checksum for {file_name}")
            try:
                actual = _file_hash(path)
            except OSError as exc:
                raise StoreError(
                    f"Cannot read {file_name} of snapshot {path.parent}: {exc}"
                ) from None
            if actual != expected:
                raise StoreError(
                    f"{file_name} of snapshot {directory} is corrupted (checksum mismatch); "
                    "delete this snapshot directory or load another one"
                )
            try:
                frame = pd.read_parquet(path, engine="pyarrow")
            except Exception as exc:  # pyarrow raises several unrelated types
                raise StoreError(
                    f"Cannot read {file_name} of snapshot {directory}: {exc}"
                ) from None
            tables[name] = _restore_dtypes(frame, manifest["columns"].get(name), path)
        frames = Frames(**{name: tables.pop(name) for name in TABLES})
        return Snapshot(path=directory, manifest=manifest, frames=frames, tables=tables)


def _restore_dtypes(frame: pd.DataFrame, schema: object, path: Path) -> pd.DataFrame:
    """Re-apply the written dtypes (parquet drops the categories of an empty column)."""
    if not isinstance(schema, list):
        raise StoreError(f"The manifest has no column list for {path.name} of {path.parent}")
    names = [entry.get("name") for entry in schema if isinstance(entry, dict)]
    if names != [str(column) for column in frame.columns]:
        raise StoreError(
            f"{path.name} of {path.parent} has columns {list(frame.columns)}, "
            f"but the manifest lists {names}"
        )
    restored: dict[str, Any] = {}
    try:
        for entry in schema:
            column = frame[entry["name"]]
            if "categories" in entry:
                categories = pd.Index(entry["categories"], dtype=entry["categories_dtype"])
                dtype: Any = pd.CategoricalDtype(categories, ordered=entry["ordered"])
            else:
                dtype = entry["dtype"]
            restored[entry["name"]] = column if column.dtype == dtype else column.astype(dtype)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"Cannot restore the column types of {path}: {exc}") from None
    result = pd.DataFrame(restored, index=frame.index)
    # pandas keeps DataFrame.attrs in the parquet metadata (safe_scores records its component
    # scales there); the rebuilt frame would otherwise drop them.
    result.attrs = dict(frame.attrs)
    return result
