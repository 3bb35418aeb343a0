"""A local store of fetched snapshots: Parquet objects shared between snapshots, plus a JSON
manifest per snapshot, written atomically.

Layout::

    ROOT/
      snapshots/
        20261127T065100123456Z-1a2b3c4d/     <fetched_at in UTC>-<first 8 of content hash>
          manifest.json                     the snapshot: which objects make up each table
        objects/                            Parquet objects, shared by every snapshot using them
          3f/3f2a...e9.parquet              named by the sha256 of their data
        .lock                               held while objects or manifests change
      .incomplete-<uuid>/                   a write in progress (or one that crashed)
      staging/                              pages of unfinished fetches, kept for resuming
        <query fingerprint>/                one folder per fetch query (see api/fetch.py)

Sharing. ``users`` and ``answers`` are stored one object per campaign (each contiguous run of
rows with one ``campaign_id``, which is how :func:`~awareness_analysis.data.frames.build_frames`
and ``reuse_frames`` order them; a table whose campaigns are interleaved is stored whole);
``campaigns`` and each extra table are one object each. An object is named by the sha256 of its
data (row count, column names, dtypes, row values and ``attrs``; not of the file's bytes), so
the same rows always map to the same object whoever wrote them, and an object that exists is not
written again: an incremental fetch that reuses 19 of 20 campaigns writes one campaign's rows.
Categorical columns are written with 32-bit dictionary indices, so objects of different
snapshots combine in one pyarrow dataset or DuckDB scan (:meth:`SnapshotStore.table_files`).

Writes are atomic. Under the lock, new objects are written into ``ROOT/.incomplete-<uuid>``,
fsynced and renamed into ``objects/``; the manifest is written there last, and the directory
is renamed into ``snapshots/`` in one step. A failed or interrupted write (including Ctrl-C)
removes its temporary directory: readers only ever see complete snapshots, earlier snapshots are
never touched, and a crash leaves at most unreferenced objects (:meth:`SnapshotStore.prune`
removes them). An existing object is reused only when its file matches a checksum a manifest
records for it; otherwise (damaged, or left by a crash) it is written again. Snapshot ids sort
by fetch time.

The lock (``fcntl.flock`` on ``snapshots/.lock``; ``msvcrt.locking`` on Windows) is held by
:meth:`SnapshotStore.write` while it writes objects and the manifest, and by
:meth:`SnapshotStore.prune` and :meth:`SnapshotStore.migrate`, so a prune in one process never
removes an object a write in another is about to reference. Readers take no lock.

The manifest (``schema_version`` 2) records ``snapshot_id``, ``fetched_at`` (ISO 8601, UTC),
``api_host`` (host and port only: scheme, path and any credentials in a URL are dropped),
``query`` (the fetch parameters), ``package_version``, ``row_counts``, ``content_hash``
(``sha256:`` over column names, dtypes and row values of the three frames: the same data gives
the same hash whatever the parquet writer or file times; extra tables, when present, are hashed
after them, so a snapshot without extras keeps the hash it always had), ``objects`` (per table,
in row order, a list of ``{"object": <64 hex>, "checksum": "sha256:<hex of the file's bytes>",
"rows": <n>}``; the checksums are checked on load, so a damaged object is reported by name) and
``columns`` (dtypes with categories, so frames load back with exactly the dtypes they were
written with, even when empty, whatever categories a shared object was written with). Writers
may add further keys (``extra``); the fetch records ``campaign_counters`` (each stored
campaign's get-campaigns counters) and ``refresh`` (full or incremental, which campaigns were
downloaded and which were reused from which earlier snapshot). Readers ignore keys they do not
know.

Schema version 1 (the layout before sharing) kept ``campaigns.parquet``, ``users.parquet``,
``answers.parquet`` and the extra tables' files inside the snapshot's folder, with ``files``
(file name -> ``sha256:`` of its bytes) instead of ``objects``. Such snapshots are still read
unchanged; :meth:`SnapshotStore.migrate` (``awareness-analysis migrate-store``) converts them,
checking that every migrated snapshot loads back with the same frames and content hash before
its old files are removed.

Optional extra tables (:data:`BEHAVIOUR_TABLES`: phishing, SAFE score, watch list, performance
and training queue frames) are written beside the three core ones in the same atomic write. The
manifest lists them under ``tables`` (in :data:`BEHAVIOUR_TABLES` order) and gives each its
entry in ``row_counts``, ``objects`` and ``columns``, exactly like a core table; a manifest
without ``tables`` (written before extras existed) has none. :attr:`Snapshot.tables` holds them,
loaded with their checksums checked and dtypes restored.

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
import itertools
import json
import logging
import operator
import os
import re
import shlex
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa

from awareness_analysis import __version__
from awareness_analysis.data.frames import Frames
from awareness_analysis.errors import StoreError
from awareness_analysis.vocabulary import BEHAVIOUR_TABLES, TABLES

__all__ = [
    "BEHAVIOUR_TABLES",
    "SCHEMA_VERSION",
    "TABLES",
    "PruneReport",
    "Snapshot",
    "SnapshotStore",
    "content_hash",
    "write_json_atomic",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
#: Manifest versions this version reads: 1 (files inside the snapshot folder) and 2 (objects).
READABLE_SCHEMA_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"
SNAPSHOTS_DIR = "snapshots"
#: Shared objects live beside the snapshot folders (``snapshots/objects``), so the store's root
#: keeps only ``snapshots/`` and ``staging/``; snapshot ids never clash with this name.
OBJECTS_DIR = "objects"
LOCK_NAME = ".lock"
INCOMPLETE_PREFIX = ".incomplete-"
#: A snapshot folder being removed by prune is first renamed to this prefix (in ``snapshots/``).
PRUNING_PREFIX = ".pruning-"
STAGING_DIR = "staging"
#: Prefix of a staged file being written; renamed to its final name once complete.
STAGING_TEMP_PREFIX = ".tmp-"
#: Tables stored as one object per campaign, so unchanged campaigns are shared.
SPLIT_TABLES = ("users", "answers")
SPLIT_COLUMN = "campaign_id"

_SNAPSHOT_ID = re.compile(r"[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}")
_OBJECT_NAME = re.compile(r"[0-9a-f]{64}")
_SECRET_KEY = re.compile(
    r"secret|key|token|password|passwd|authori[sz]ation|credential", re.IGNORECASE
)
_CHUNK = 1 << 20
#: Objects of one table read at once when loading a snapshot.
_READ_THREADS = min(8, os.cpu_count() or 1)
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
        "objects",
        "columns",
        "tables",
    }
)


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's values (not its index); empty for a frame without columns.

    Each row's hash depends on that row alone, so a slice of these is the slice's own hashes.
    """
    if not len(frame.columns):
        return np.empty(0, dtype=np.uint64)
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype="uint64")


def _hash_table(
    digest: Any, name: str, frame: pd.DataFrame, row_hashes: np.ndarray | None = None
) -> None:
    digest.update(f"table {name} rows {len(frame)}\n".encode())
    for column, dtype in frame.dtypes.items():
        digest.update(f"column {column!s} {dtype!s}\n".encode())
    if len(frame.columns):
        hashes = _row_hashes(frame) if row_hashes is None else row_hashes
        digest.update(hashes.tobytes())


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


def _hash_of_tables(every: Mapping[str, pd.DataFrame], row_hashes: Mapping[str, np.ndarray]) -> str:
    """:func:`content_hash` of tables already in order (core, then extras), reusing row hashes."""
    digest = hashlib.sha256()
    for name, frame in every.items():
        _hash_table(digest, name, frame, row_hashes[name])
    return "sha256:" + digest.hexdigest()


def _object_name(piece: pd.DataFrame, row_hashes: np.ndarray, attrs: Mapping[str, Any]) -> str:
    """Hex sha256 naming an object: its rows, columns, dtypes and values, and ``attrs`` (pandas
    writes them into the file and they load back with it, so they are part of the data)."""
    digest = hashlib.sha256(b"awareness-analysis object 1\n")
    digest.update(f"rows {len(piece)}\n".encode())
    for column, dtype in piece.dtypes.items():
        digest.update(f"column {column!s} {dtype!s}\n".encode())
    digest.update(row_hashes.tobytes())
    if attrs:
        digest.update(b"attrs " + json.dumps(attrs, sort_keys=True).encode())
    return digest.hexdigest()


def _row_runs(name: str, frame: pd.DataFrame) -> list[tuple[int, int]]:
    """Row ranges ``[start, stop)`` stored as separate objects: one per campaign for
    :data:`SPLIT_TABLES`, the whole table otherwise (also when a campaign's rows are not
    contiguous: splitting would then make many tiny objects)."""
    rows = len(frame)
    if name not in SPLIT_TABLES or rows == 0 or list(frame.columns).count(SPLIT_COLUMN) != 1:
        return [(0, rows)]
    keys = frame[SPLIT_COLUMN]
    if isinstance(keys.dtype, pd.CategoricalDtype):
        codes = keys.cat.codes.to_numpy()
    else:
        codes = pd.factorize(keys, use_na_sentinel=True)[0]
    starts = (np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist()
    if len(starts) + 1 > len(np.unique(codes)):
        return [(0, rows)]
    bounds = [0, *starts, rows]
    return list(itertools.pairwise(bounds))


def _arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """The frame's Arrow schema, categorical columns with 32-bit dictionary indices.

    pandas picks 8 or 16 bits by the number of categories, which differ between snapshots;
    pyarrow refuses to read files whose index widths differ as one dataset.
    """
    fields = []
    for column in pa.Schema.from_pandas(frame, preserve_index=False):
        if pa.types.is_dictionary(column.type):
            wide = pa.dictionary(pa.int32(), column.type.value_type, column.type.ordered)
            column = column.with_type(wide)
        fields.append(column)
    return pa.schema(fields)


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


def _write_manifest_atomic(path: Path, manifest: Mapping[str, Any]) -> None:
    """Replace a snapshot's manifest in one step: temporary name, fsync, rename, fsync dir."""
    temp = path.with_name(f"{STAGING_TEMP_PREFIX}{uuid.uuid4().hex}-{path.name}")
    try:
        with temp.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(manifest, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _tree_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for item in path.rglob("*"):
        with contextlib.suppress(OSError):  # removed meanwhile
            if item.is_file():
                total += item.stat().st_size
    return total


def _try_lock(handle: IO[bytes]) -> bool:
    """Take the exclusive lock on ``handle`` if free; whether it was taken."""
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _wait_for_lock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        while True:
            handle.seek(0)
            with contextlib.suppress(OSError):  # LK_LOCK gives up after 10 s; keep waiting
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def _unlock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _checked_keep(keep: int) -> int:
    if isinstance(keep, bool):
        raise TypeError(f"keep must be a whole number of snapshots, got {keep!r}")
    try:
        count = operator.index(keep)
    except TypeError:
        raise TypeError(f"keep must be a whole number of snapshots, got {keep!r}") from None
    if count < 1:
        raise ValueError(
            f"keep must be at least 1 (got {count}): prune keeps the newest `keep` snapshots and "
            "never empties a store. Give keep=1 or more; to drop a whole store, delete its folder."
        )
    return count


def _referenced_objects(manifest: Mapping[str, Any]) -> set[str]:
    """Names of the objects a (validated) manifest uses; none for schema version 1."""
    return {
        entry["object"] for entries in manifest.get("objects", {}).values() for entry in entries
    }


def _valid_object_entries(entries: object) -> bool:
    return (
        isinstance(entries, list)
        and bool(entries)
        and all(
            isinstance(entry, dict)
            and isinstance(entry.get("object"), str)
            and _OBJECT_NAME.fullmatch(entry["object"]) is not None
            and isinstance(entry.get("checksum"), str)
            and entry["checksum"].startswith("sha256:")
            and isinstance(entry.get("rows"), int)
            and entry["rows"] >= 0
            for entry in entries
        )
    )


@dataclass(frozen=True)
class _TablePart:
    """One Parquet file of a stored table, what it must hash to, and how errors name it."""

    path: Path
    checksum: str
    rows: int | None  # None: schema version 1 recorded no per-file row count
    label: str
    fix: str


@dataclass(frozen=True)
class PruneReport:
    """What :meth:`SnapshotStore.prune_report` removed (or, with ``dry_run``, would remove)."""

    removed_snapshots: list[str]
    kept_snapshots: list[str]
    #: Objects no kept snapshot uses (those of removed snapshots, and any a crash left).
    removed_objects: list[str]
    #: Bytes of the removed snapshot folders and objects.
    freed_bytes: int
    dry_run: bool


@dataclass
class _ObjectWriter:
    """Stores tables as objects during one locked operation.

    New objects are written into ``staging`` (fsynced) and only moved into ``objects_dir`` by
    :meth:`publish`, just before the manifest that references them.
    """

    objects_dir: Path
    staging: Path
    #: Checksums the manifests record for each object: an existing file is reused only if it
    #: matches one (a damaged file, or one a crash left unreferenced, is written again).
    recorded: dict[str, set[str]]
    #: Objects already checked or written in this operation: name -> file checksum.
    known: dict[str, str] = field(default_factory=dict)
    pending: list[tuple[Path, Path]] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.objects_dir / name[:2] / f"{name}.parquet"

    def store(
        self, table: str, frame: pd.DataFrame, row_hashes: np.ndarray
    ) -> list[dict[str, Any]]:
        """The manifest entries of ``frame``, writing the objects that do not exist yet."""
        entries: list[dict[str, Any]] = []
        schema: pa.Schema | None = None
        for start, stop in _row_runs(table, frame):
            whole = start == 0 and stop == len(frame)
            piece = frame if whole else frame.iloc[start:stop]
            hashes = row_hashes[start:stop] if len(row_hashes) else row_hashes
            name = _object_name(piece, hashes, frame.attrs)
            checksum = self.known.get(name) or self._reusable_checksum(name)
            if checksum is None:
                schema = _arrow_schema(frame) if schema is None else schema
                temp = self.staging / f"{name}.parquet"
                piece.to_parquet(temp, engine="pyarrow", index=False, schema=schema)
                checksum = _hash_and_fsync(temp)
                self.pending.append((temp, self.path(name)))
            self.known[name] = checksum
            entries.append({"object": name, "checksum": checksum, "rows": stop - start})
        return entries

    def _reusable_checksum(self, name: str) -> str | None:
        recorded = self.recorded.get(name)
        path = self.path(name)
        if not recorded or not path.is_file():
            return None
        try:
            actual = _file_hash(path)
        except OSError:
            return None
        if actual not in recorded:
            log.warning("Object %s does not match its recorded checksum; writing it again", path)
            return None
        return actual

    def publish(self) -> None:
        """Move the new objects into place, durably (before any manifest references them)."""
        folders = set()
        for temp, final in self.pending:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)  # replaces only a damaged or unreferenced file
            folders.add(final.parent)
        for folder in sorted(folders):
            _fsync_dir(folder)
        if folders:
            _fsync_dir(self.objects_dir)
        self.pending.clear()

    def record(self, objects: Mapping[str, list[dict[str, Any]]]) -> None:
        """Remember the entries of a manifest now in place (a later snapshot may reuse them)."""
        for entries in objects.values():
            for entry in entries:
                self.recorded.setdefault(entry["object"], set()).add(entry["checksum"])


class SnapshotStore:
    """Snapshots of fetched frames under one root directory (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.snapshots_dir = self.root / SNAPSHOTS_DIR
        self.objects_dir = self.snapshots_dir / OBJECTS_DIR
        self.lock_path = self.snapshots_dir / LOCK_NAME
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
        Only objects the store does not hold yet are written (see the module docstring).
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
        every: dict[str, pd.DataFrame] = {
            **{name: getattr(frames, name) for name in TABLES},
            **extra_tables,
        }
        # Hashed once: the rows' hashes give both the content hash and the objects' names.
        row_hashes = {name: _row_hashes(frame) for name, frame in every.items()}
        data_hash = _hash_of_tables(every, row_hashes)
        snapshot_id = f"{when:%Y%m%dT%H%M%S%f}Z-{data_hash.removeprefix('sha256:')[:8]}"
        final = self.snapshots_dir / snapshot_id
        if final.exists():
            raise StoreError(f"Snapshot {snapshot_id} already exists in {self.root}")

        with self._locked():
            if final.exists():  # written meanwhile by another process
                raise StoreError(f"Snapshot {snapshot_id} already exists in {self.root}")
            temp = self.root / f"{INCOMPLETE_PREFIX}{uuid.uuid4().hex}"
            temp.mkdir()
            try:
                writer = _ObjectWriter(self.objects_dir, temp, self._recorded_checksums())
                objects = {
                    name: writer.store(name, frame, row_hashes[name])
                    for name, frame in every.items()
                }
                writer.publish()
                manifest: dict[str, Any] = {
                    "schema_version": SCHEMA_VERSION,
                    "snapshot_id": snapshot_id,
                    "fetched_at": _format_time(when),
                    "api_host": host,
                    "query": stored_query,
                    "package_version": __version__,
                    "row_counts": {name: len(frame) for name, frame in every.items()},
                    "content_hash": data_hash,
                    "objects": objects,
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

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store's lock: one write, prune or migrate at a time, across processes."""
        self.snapshots_dir.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a+b") as handle:
            if not _try_lock(handle):
                log.info("Waiting for another write, prune or migrate of %s to finish", self.root)
                _wait_for_lock(handle)
            try:
                yield
            finally:
                _unlock(handle)

    def _recorded_checksums(self) -> dict[str, set[str]]:
        """Object name -> the file checksums the readable manifests record for it."""
        recorded: dict[str, set[str]] = {}
        for snapshot_id in self.snapshot_ids():
            try:
                manifest = self._read_manifest(self.snapshots_dir / snapshot_id)
            except StoreError:
                continue  # vouches for nothing; an object only it used is written again
            for entries in manifest.get("objects", {}).values():
                for entry in entries:
                    recorded.setdefault(entry["object"], set()).add(entry["checksum"])
        return recorded

    # -- maintenance: migrate, prune -----------------------------------------------------------

    def migrate(self) -> list[str]:
        """Convert every snapshot of the old layout (schema version 1) to shared objects.

        Each snapshot is loaded (checksums checked), stored as objects, loaded back from them
        and compared (frames, dtypes, ``attrs`` and content hash) before its manifest is
        replaced in one step; only then are its old files removed. Snapshots already in the
        new layout are left as they are (except old files an interrupted migration left
        behind). Returns the ids of the snapshots converted, oldest first. Raises
        :class:`StoreError` naming the snapshot when one cannot be converted (e.g. a damaged
        file): that snapshot and the later ones stay in the old layout, still readable.
        """
        self._require_root("migrate")
        migrated: list[str] = []
        with self._locked():
            recorded = self._recorded_checksums()
            for snapshot_id in self.snapshot_ids():
                directory = self.snapshots_dir / snapshot_id
                manifest = self._read_manifest(directory)
                if manifest["schema_version"] == SCHEMA_VERSION:
                    _remove_old_layout_files(directory)
                    continue
                try:
                    self._migrate_snapshot(directory, manifest, recorded)
                except StoreError as exc:
                    done = (
                        f"{len(migrated)} snapshot(s) were migrated before it. " if migrated else ""
                    )
                    raise StoreError(
                        f"Cannot migrate snapshot {snapshot_id}: {exc}. It was left in the old "
                        f"layout; {done}Restore or delete that snapshot's folder ({directory}), "
                        "then run the migration again."
                    ) from None
                migrated.append(snapshot_id)
        return migrated

    def _migrate_snapshot(
        self, directory: Path, manifest: dict[str, Any], recorded: dict[str, set[str]]
    ) -> None:
        old = self._load_manifest(directory, manifest)
        every = {**{name: getattr(old.frames, name) for name in TABLES}, **old.tables}
        row_hashes = {name: _row_hashes(frame) for name, frame in every.items()}
        data_hash = _hash_of_tables(every, row_hashes)
        if manifest.get("content_hash", data_hash) != data_hash:
            raise StoreError(
                f"its data hash to {data_hash}, but the manifest records {manifest['content_hash']}"
            )
        temp = self.root / f"{INCOMPLETE_PREFIX}{uuid.uuid4().hex}"
        temp.mkdir()
        try:
            writer = _ObjectWriter(self.objects_dir, temp, recorded)
            objects = {
                name: writer.store(name, frame, row_hashes[name]) for name, frame in every.items()
            }
            writer.publish()
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        # Same keys in the same order, ``files`` replaced by ``objects``.
        converted: dict[str, Any] = {}
        for key, value in manifest.items():
            if key == "files":
                converted["objects"] = objects
            else:
                converted[key] = value
        converted["schema_version"] = SCHEMA_VERSION
        converted.setdefault("objects", objects)
        again = self._load_manifest(directory, converted)
        if not _same_data(old, again):
            raise StoreError("its frames read back from the new objects differ from the old files")
        _write_manifest_atomic(directory / MANIFEST_NAME, converted)
        writer.record(objects)
        for file_name in manifest["files"]:
            if Path(file_name).name == file_name:  # a plain name inside the snapshot folder
                (directory / file_name).unlink(missing_ok=True)
        _fsync_dir(directory)

    def prune(self, keep: int) -> list[str]:
        """Remove all but the newest ``keep`` snapshots (``keep`` >= 1), then every object no
        remaining snapshot uses; returns the removed snapshot ids, oldest first.

        Safe beside a write in another process (both hold the store's lock). Raises
        ``ValueError`` for ``keep`` < 1 and :class:`StoreError` when a remaining snapshot's
        manifest cannot be read (nothing is removed then: its objects cannot be told apart).
        See :meth:`prune_report` for the objects and bytes freed, or a dry run.
        """
        return self.prune_report(keep).removed_snapshots

    def prune_report(self, keep: int, *, dry_run: bool = False) -> PruneReport:
        """:meth:`prune`, reporting what was removed and the bytes freed; with ``dry_run``,
        only what would be (nothing is changed)."""
        keep = _checked_keep(keep)
        self._require_root("prune")
        with self._locked():
            # Writes create their folders under this lock: any found now is a crashed one's.
            crashed = sorted(self.root.glob(f"{INCOMPLETE_PREFIX}*"))
            if not dry_run:
                for leftover in self.snapshots_dir.glob(f"{PRUNING_PREFIX}*"):
                    shutil.rmtree(leftover, ignore_errors=True)  # an interrupted prune's
                for leftover in crashed:
                    shutil.rmtree(leftover, ignore_errors=True)
            ids = self.snapshot_ids()
            removed, kept = ids[: max(0, len(ids) - keep)], ids[max(0, len(ids) - keep) :]
            referenced: set[str] = set()
            for snapshot_id in kept:
                try:
                    manifest = self._read_manifest(self.snapshots_dir / snapshot_id)
                except StoreError as exc:
                    raise StoreError(
                        f"{exc}. Prune removed nothing: it cannot tell which shared files that "
                        "snapshot uses. Restore its manifest.json from a backup or delete the "
                        "snapshot's folder, then prune again."
                    ) from None
                referenced |= _referenced_objects(manifest)
            unused = [path for path in self._object_files() if path.stem not in referenced]
            freed = sum(_tree_bytes(self.snapshots_dir / sid) for sid in removed)
            freed += sum(_tree_bytes(path) for path in unused)
            freed += sum(_tree_bytes(path) for path in crashed)
            if not dry_run:
                for snapshot_id in removed:
                    # Renamed first, so the snapshot disappears in one step whatever stops us.
                    doomed = self.snapshots_dir / f"{PRUNING_PREFIX}{uuid.uuid4().hex}"
                    os.rename(self.snapshots_dir / snapshot_id, doomed)
                    shutil.rmtree(doomed, ignore_errors=True)
                _fsync_dir(self.snapshots_dir)
                for path in unused:
                    path.unlink(missing_ok=True)
                    with contextlib.suppress(OSError):
                        path.parent.rmdir()  # only succeeds once its last object is gone
        return PruneReport(
            removed_snapshots=removed,
            kept_snapshots=kept,
            removed_objects=sorted(path.stem for path in unused),
            freed_bytes=freed,
            dry_run=dry_run,
        )

    def _object_files(self) -> list[Path]:
        if not self.objects_dir.is_dir():
            return []
        return sorted(
            path
            for path in self.objects_dir.glob("*/*.parquet")
            if _OBJECT_NAME.fullmatch(path.stem) and path.parent.name == path.stem[:2]
        )

    def _require_root(self, action: str) -> None:
        # Checked before taking the lock, which would create snapshots/ in any folder given.
        if not self.snapshots_dir.is_dir():
            raise StoreError(
                f"No snapshot store at {self.root} (no {SNAPSHOTS_DIR}/ folder there), nothing "
                f"to {action}. Check the path: the folder given to `awareness-analysis fetch "
                "--out`."
            )

    def disk_usage(self) -> int:
        """Bytes of every file under the store's root: snapshots, shared objects, staging."""
        return _tree_bytes(self.root) if self.root.exists() else 0

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
        ids = self._existing_ids()

        if snapshot_id is not None:
            return self._load_dir(self._snapshot_dir(snapshot_id, ids))

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

    def table_files(self, snapshot_id: str, table: str) -> list[Path]:
        """The Parquet files whose rows, concatenated in this order, make up one table of one
        snapshot; for reading history with pyarrow, DuckDB or any Parquet engine without
        loading snapshots into pandas.

        ``table`` is one of :data:`TABLES` or an extra table the snapshot holds. In the shared
        layout these are objects under ``snapshots/objects/`` (one per campaign for ``users``
        and ``answers``), the same path for every snapshot sharing the data, so a query over
        many snapshots can read each file once. Old-layout snapshots give their one file per
        table. The files are not checked against their checksums here (:meth:`load` does);
        read them, never modify them, and note that :meth:`prune` and :meth:`migrate` may
        remove files no longer used. Categorical columns read back as dictionary columns
        whose categories may differ between files; cast them to strings to combine.
        """
        if table not in TABLES and table not in BEHAVIOUR_TABLES:
            raise ValueError(
                f"Unknown table {table!r}: a snapshot holds {', '.join(TABLES)} and maybe "
                f"{', '.join(BEHAVIOUR_TABLES)}."
            )
        directory = self._snapshot_dir(snapshot_id, self._existing_ids())
        manifest = self._read_manifest(directory)
        held = (*TABLES, *manifest.get("tables", []))
        if table not in held:
            raise StoreError(
                f"Snapshot {snapshot_id} holds no {table} table (it has {', '.join(held)}); "
                "fetch with `--include` to add behaviour tables to new snapshots."
            )
        return [part.path for part in self._table_parts(directory, manifest, table)]

    def _existing_ids(self) -> list[str]:
        """:meth:`snapshot_ids`, or a :class:`StoreError` saying how to create a snapshot."""
        ids = self.snapshot_ids()
        if not ids:
            if not self.root.exists():
                problem = f"No snapshot store at {self.root}"
            else:
                problem = f"The snapshot store at {self.root} holds no complete snapshot"
            raise StoreError(f"{problem}. {self._create_hint()}")
        return ids

    def _snapshot_dir(self, snapshot_id: str, ids: list[str]) -> Path:
        if snapshot_id not in ids:
            raise StoreError(
                f"No snapshot {snapshot_id!r} in {self.root}; available: "
                f"{', '.join(ids[-5:])}{' (latest 5 shown)' if len(ids) > 5 else ''}"
            )
        return self.snapshots_dir / snapshot_id

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
        if version not in READABLE_SCHEMA_VERSIONS or isinstance(version, bool):
            raise StoreError(
                f"Snapshot manifest {path} has schema_version {version!r}; this version of "
                f"awareness-analysis ({__version__}) reads schema_version "
                f"{' and '.join(map(str, READABLE_SCHEMA_VERSIONS))}; upgrade it to read this "
                "snapshot"
            )
        listing = "files" if version == 1 else "objects"
        required = ("snapshot_id", "fetched_at", listing, "columns")
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
        if version != 1:
            objects = manifest["objects"]
            # Checked whole (prune trusts these names to decide what is still used).
            if (
                not isinstance(objects, dict)
                or any(not _valid_object_entries(entries) for entries in objects.values())
                or any(name not in objects for name in (*TABLES, *extras))
            ):
                raise StoreError(
                    f"Snapshot manifest {path} has a malformed `objects` list (each table "
                    "needs a list of {object, checksum, rows}); restore the manifest from a "
                    "backup or delete this snapshot's folder"
                )
        return manifest

    def _load_dir(self, directory: Path) -> Snapshot:
        manifest = self._read_manifest(directory)
        try:
            return self._load_manifest(directory, manifest)
        except StoreError:
            # A migration in another process may have replaced this old-layout manifest, and
            # removed its files, while we read them: read the new one.
            if manifest["schema_version"] == 1:
                with contextlib.suppress(StoreError):
                    current = self._read_manifest(directory)
                    if current["schema_version"] != 1:
                        return self._load_manifest(directory, current)
            raise

    def _load_manifest(self, directory: Path, manifest: Mapping[str, Any]) -> Snapshot:
        tables: dict[str, pd.DataFrame] = {}
        # Extra tables are checked and restored exactly like the core ones, eagerly: a
        # corrupted one is reported (by file name) when the snapshot is loaded.
        for name in (*TABLES, *manifest.get("tables", [])):
            tables[name] = self._read_table(directory, manifest, name)
        frames = Frames(**{name: tables.pop(name) for name in TABLES})
        return Snapshot(path=directory, manifest=dict(manifest), frames=frames, tables=tables)

    def _table_parts(
        self, directory: Path, manifest: Mapping[str, Any], name: str
    ) -> list[_TablePart]:
        if manifest["schema_version"] == 1:
            file_name = f"{name}.parquet"
            expected = manifest["files"].get(file_name)
            if expected is None:
                raise StoreError(f"Snapshot {directory.name} lists no checksum for {file_name}")
            return [
                _TablePart(
                    path=directory / file_name,
                    checksum=expected,
                    rows=None,
                    label=f"{file_name} of snapshot {directory}",
                    fix="delete this snapshot directory or load another one",
                )
            ]
        return [
            _TablePart(
                path=self.objects_dir / entry["object"][:2] / f"{entry['object']}.parquet",
                checksum=entry["checksum"],
                rows=entry["rows"],
                label=f"object {entry['object']}.parquet ({name} of snapshot {directory.name})",
                fix=(
                    "other snapshots may share this object; restore it from a backup, or "
                    "delete the snapshots that use it and load another one"
                ),
            )
            for entry in manifest["objects"][name]
        ]

    def _read_table(self, directory: Path, manifest: Mapping[str, Any], name: str) -> pd.DataFrame:
        parts = self._table_parts(directory, manifest, name)
        dtypes = _written_dtypes(manifest["columns"].get(name), parts[0].label)
        if len(parts) == 1:
            return _read_part(parts[0], dtypes)
        # Objects are read side by side: each is small, and pyarrow releases the GIL.
        with ThreadPoolExecutor(max_workers=min(len(parts), _READ_THREADS)) as pool:
            pieces = list(pool.map(lambda part: _read_part(part, dtypes), parts))
        table = pd.concat(pieces, ignore_index=True)
        table.attrs = dict(pieces[0].attrs)  # the same in every piece (they name the object)
        return table


def _read_part(part: _TablePart, dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """One file of a table, its checksum checked and the written dtypes restored."""
    try:
        actual = _file_hash(part.path)
    except OSError as exc:
        raise StoreError(f"Cannot read {part.label}: {exc}; {part.fix}") from None
    if actual != part.checksum:
        raise StoreError(f"{part.label} is corrupted (checksum mismatch); {part.fix}")
    try:
        frame = pd.read_parquet(part.path, engine="pyarrow")
    except Exception as exc:  # pyarrow raises several unrelated types
        raise StoreError(f"Cannot read {part.label}: {exc}") from None
    if part.rows is not None and len(frame) != part.rows:
        raise StoreError(f"{part.label} has {len(frame)} rows, but the manifest lists {part.rows}")
    # Per piece, before concatenating: shared objects may carry other categories.
    return _restore_dtypes(frame, dtypes, part.label)


def _written_dtypes(schema: object, where: str) -> dict[str, Any]:
    """Column name -> the dtype the manifest records, categories included (built once per
    table, not once per object)."""
    if not isinstance(schema, list):
        raise StoreError(f"The manifest has no column list for {where}")
    dtypes: dict[str, Any] = {}
    try:
        for entry in schema:
            if "categories" in entry:
                categories = pd.Index(entry["categories"], dtype=entry["categories_dtype"])
                dtypes[entry["name"]] = pd.CategoricalDtype(categories, ordered=entry["ordered"])
            else:
                dtypes[entry["name"]] = pd.api.types.pandas_dtype(entry["dtype"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"Cannot restore the column types of {where}: {exc}") from None
    return dtypes


def _restore_dtypes(frame: pd.DataFrame, dtypes: Mapping[str, Any], where: str) -> pd.DataFrame:
    """Re-apply the written dtypes (parquet drops the categories of an empty column, and a
    shared object keeps the categories of the snapshot that wrote it)."""
    if list(dtypes) != [str(column) for column in frame.columns]:
        raise StoreError(
            f"{where} has columns {list(frame.columns)}, but the manifest lists {list(dtypes)}"
        )
    restored: dict[str, Any] = {}
    try:
        for name, dtype in dtypes.items():
            column = frame[name]
            restored[name] = column if column.dtype == dtype else column.astype(dtype)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"Cannot restore the column types of {where}: {exc}") from None
    result = pd.DataFrame(restored, index=frame.index)
    # pandas keeps DataFrame.attrs in the parquet metadata (safe_scores records its component
    # scales there); the rebuilt frame would otherwise drop them.
    result.attrs = dict(frame.attrs)
    return result


def _same_data(left: Snapshot, right: Snapshot) -> bool:
    """Whether two loads hold the same tables: values (content hash), dtypes and ``attrs``."""
    if list(left.tables) != list(right.tables):
        return False
    if content_hash(left.frames, left.tables) != content_hash(right.frames, right.tables):
        return False
    pairs = [(getattr(left.frames, name), getattr(right.frames, name)) for name in TABLES]
    pairs += [(left.tables[name], right.tables[name]) for name in left.tables]
    return all(a.dtypes.to_dict() == b.dtypes.to_dict() and a.attrs == b.attrs for a, b in pairs)


def _remove_old_layout_files(directory: Path) -> None:
    """Files of the old layout an interrupted migration left beside a new manifest."""
    for name in (*TABLES, *BEHAVIOUR_TABLES):
        (directory / f"{name}.parquet").unlink(missing_ok=True)
    for leftover in directory.glob(f"{STAGING_TEMP_PREFIX}*-{MANIFEST_NAME}"):
        leftover.unlink(missing_ok=True)
