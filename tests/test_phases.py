"""Campaign phases: running while fewer than RUNNING_DAYS days have passed since launch."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from awareness_analysis.analysis.phases import (
    RUNNING_DAYS,
    annotate_campaigns,
    campaign_phases,
    question_label,
)


def campaigns(*launches: str | None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign_id": [f"c{i}" for i in range(len(launches))],
            "campaign_name": [f"Campaign {i}" for i in range(len(launches))],
            "launch_date": pd.to_datetime(list(launches), utc=True),
        }
    )


def test_running_until_the_limit_then_completed() -> None:
    as_of = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    frame = campaigns(
        "2026-10-20T07:30:00Z",  # 12 days: running
        "2026-10-02T12:00:01Z",  # 29.99 days: still day 29, running
        "2026-10-02T12:00:00Z",  # exactly 30 days: completed
        "2026-11-02T00:00:00Z",  # after the fetch (clock skew): not running
        None,  # undated
    )
    phases = campaign_phases(frame, as_of)
    assert phases["running"].tolist() == [True, True, False, False, False]
    assert phases["days_since_launch"].tolist()[:3] == [12.0, 29.0, 30.0]
    assert np.isnan(phases["days_since_launch"].iloc[4])
    assert RUNNING_DAYS == 30


def test_naive_as_of_is_utc_and_the_limit_can_change() -> None:
    frame = campaigns("2026-10-20T07:30:00Z")
    assert campaign_phases(frame, datetime(2026, 11, 1), running_days=10)["running"].tolist() == [
        False
    ]
    with pytest.raises(ValueError, match="running_days"):
        campaign_phases(frame, datetime(2026, 11, 1), running_days=-1)


def test_annotate_campaigns_adds_the_columns_to_any_campaign_table() -> None:
    phases = campaign_phases(
        campaigns("2026-10-20T07:30:00Z", "2026-01-01T00:00:00Z"), datetime(2026, 11, 1)
    )
    table = pd.DataFrame({"campaign_id": ["c1", "c0", "other"], "rate": [0.5, 0.2, 0.9]})
    marked = annotate_campaigns(table, phases)
    assert marked["running"].tolist() == [False, True, False]
    assert marked["days_since_launch"].iloc[1] == 11.0  # 11 days and 16.5 hours
    assert np.isnan(marked["days_since_launch"].iloc[2])
    assert marked["module_title"].tolist() == ["", "", ""]  # the test frame has none
    assert "running" not in table  # the input is left alone


def test_question_label_names_number_and_module() -> None:
    assert question_label(3, " Spot the Spoof ") == "Q3 \u00b7 Spot the Spoof"
    assert question_label(2, "") == "Q2"


def test_demo_newest_campaign_is_running() -> None:
    from awareness_analysis.app import load_analysis

    analysis = load_analysis(min_group_size=5)
    running = analysis.phases.loc[analysis.phases["running"], "campaign_name"].tolist()
    assert running == ["Spot the Spoof - October"]


def test_a_demo_store_from_an_earlier_version_is_rebuilt(tmp_path: Path) -> None:
    from awareness_analysis.data.store import SnapshotStore
    from awareness_analysis.demo import (
        DEMO_FETCHED_AT,
        DEMO_HISTORY_WEEKS,
        build_demo_store,
        ensure_demo_store,
    )

    out = tmp_path / "demo-store"
    build_demo_store(out)
    store = SnapshotStore(out)
    as_of = DEMO_FETCHED_AT.strftime("%Y-%m-%dT%H:%M:%S")
    # The version before kept no weekly history: only the as-of snapshot.
    for snapshot_id in store.snapshot_ids()[:-1]:
        shutil.rmtree(out / "snapshots" / snapshot_id)
    assert len(store.manifests()) == 1
    ensure_demo_store(out)
    manifests = SnapshotStore(out).manifests()
    assert len(manifests) == DEMO_HISTORY_WEEKS + 1
    assert manifests[-1]["fetched_at"].startswith(as_of)
    # An earlier version still dated the demo snapshot on the day it was built.
    manifest_path = out / "snapshots" / manifests[-1]["snapshot_id"] / "manifest.json"
    text = manifest_path.read_text()
    manifest_path.write_text(text.replace("2026-11-01T12:00:00", "2026-11-30T09:00:00"))
    assert not store.manifests()[-1]["fetched_at"].startswith(as_of)
    ensure_demo_store(out)
    manifests = SnapshotStore(out).manifests()
    assert len(manifests) == DEMO_HISTORY_WEEKS + 1
    assert manifests[-1]["fetched_at"].startswith(as_of)
    assert [p.name for p in tmp_path.iterdir()] == ["demo-store"]  # nothing left beside it
