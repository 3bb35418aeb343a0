"""One analysis session: a loaded snapshot plus the privacy settings every view must respect.

Notebooks and reports start here, so that the store they open, the suppression threshold and
pseudonymisation are decided once and travel with the data into every chart and table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from awareness_analysis import __version__
from awareness_analysis.analysis.privacy import (
    DEFAULT_MIN_GROUP_SIZE,
    load_pseudonym_key,
    pseudonymise,
)
from awareness_analysis.data.frames import Frames
from awareness_analysis.data.store import Snapshot, SnapshotStore


@dataclass(frozen=True)
class Analysis:
    """A snapshot's frames, prepared once for every view of one notebook or report."""

    snapshot: Snapshot
    frames: Frames
    min_group_size: int
    pseudonymised: bool
    #: True when rendering a shared report: dashboards show pre-rendered views, not widgets.
    report: bool = False
    opened_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def campaign_names(self) -> dict[str, str]:
        campaigns = self.frames.campaigns
        return dict(
            zip(
                campaigns["campaign_id"].astype(str),
                campaigns["campaign_name"].astype(str),
                strict=True,
            )
        )

    def provenance(self) -> dict[str, Any]:
        """What a reader needs to trust and reproduce a chart (never a secret)."""
        manifest = self.snapshot.manifest
        return {
            "package_version": __version__,
            "snapshot_id": self.snapshot.snapshot_id,
            "fetched_at": manifest.get("fetched_at"),
            "api_host": manifest.get("api_host"),
            "content_hash": manifest.get("content_hash"),
            "min_group_size": self.min_group_size,
            "pseudonymised": self.pseudonymised,
        }

    def provenance_text(self) -> str:
        p = self.provenance()
        suppression = (
            f"groups under {p['min_group_size']} users suppressed"
            if p["min_group_size"] > 1
            else "small-group suppression OFF (private exploration only)"
        )
        return (
            f"Snapshot {p['snapshot_id']} fetched {p['fetched_at']} from {p['api_host']}; "
            f"data {p['content_hash']}; {suppression}; "
            f"pseudonymisation {'on' if p['pseudonymised'] else 'off'}; "
            f"awareness-analysis {p['package_version']}."
        )

    def with_min_group_size(self, k: int) -> Analysis:
        return replace(self, min_group_size=k)


def open_analysis(
    store: SnapshotStore | str | os.PathLike[str],
    *,
    min_group_size: int | None = DEFAULT_MIN_GROUP_SIZE,
    pseudonymise_people: bool = False,
    snapshot_id: str | None = None,
    at: datetime | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    report: bool = False,
) -> Analysis:
    """Load a snapshot of ``store`` and pseudonymise it if asked."""
    k = int(min_group_size or 0)
    if k < 0:
        raise ValueError(f"min_group_size must be 0 (off) or more, not {k}.")
    store = store if isinstance(store, SnapshotStore) else SnapshotStore(store)
    snapshot = store.load(at, snapshot_id=snapshot_id)
    frames = snapshot.frames
    if pseudonymise_people:
        key = load_pseudonym_key(**({} if key_file is None else {"key_file": Path(key_file)}))
        frames = Frames(
            campaigns=frames.campaigns,
            users=pseudonymise(frames.users, key),
            answers=pseudonymise(frames.answers, key),
        )
    return Analysis(
        snapshot=snapshot,
        frames=frames,
        min_group_size=k,
        pseudonymised=pseudonymise_people,
        report=report,
    )
