"""The demo store: the synthetic demo organisation, served on the local fake API and fetched
with the real client, so the demo exercises exactly the code a real tenant does."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from awareness_analysis.api.config import HmacCredentials, Settings
from awareness_analysis.api.fetch import fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.data.frames import Frames
from awareness_analysis.data.store import Snapshot, SnapshotStore
from awareness_analysis.fakeapi.demo_org import DEMO_AS_OF, DEMO_SEED, build_demo_dataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer

log = logging.getLogger(__name__)

#: When the demo organisation's data counts as fetched: noon UTC on its as-of day.
DEMO_FETCHED_AT = datetime.combine(DEMO_AS_OF, time(12, 0), tzinfo=UTC)
#: Weekly snapshots the demo store also holds before its as-of day (a scheduled fetch's
#: history), so completion curves and history queries have something to show.
DEMO_HISTORY_WEEKS = 12
#: Mean days from launch to acknowledging, and to answering, in the demo's history.
_MEAN_DELAY_DAYS = {"acknowledged": 6.0, "answered": 9.0}


def default_demo_store() -> Path:
    """Where the demo store lives when no path is given: a per-user cache folder.

    ``$XDG_CACHE_HOME/awareness-analysis/demo-store`` (``~/.cache`` by default), so notebooks
    find the same store whatever folder they run from.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "awareness-analysis" / "demo-store"


def fake_server_settings(server: FakeMimecastServer, credentials: FakeCredentials) -> Settings:
    """Client settings that reach ``server`` with its API 1.0 keys."""
    return Settings(
        base_url=server.base_url,
        credentials=HmacCredentials(
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            app_id=credentials.app_id,
            app_key=credentials.app_key,
        ),
    )


def build_demo_store(
    out: str | os.PathLike[str], *, seed: int = DEMO_SEED, progress: bool | None = None
) -> Snapshot:
    """Serve the demo organisation on loopback and fetch it into a new snapshot under ``out``,
    with every behaviour source (phishing, SAFE scores, watch list, performance, training
    queue) as extra tables; then write :data:`DEMO_HISTORY_WEEKS` weekly snapshots before it
    (:func:`history_frames`). Returns the as-of snapshot (the store's latest)."""
    credentials = FakeCredentials.demo()
    with (
        FakeMimecastServer(build_demo_dataset(seed), credentials=credentials) as server,
        MimecastClient(fake_server_settings(server, credentials)) as client,
    ):
        # The demo organisation is a picture of one day (DEMO_AS_OF): its snapshot is dated
        # then, so "days since launch" and "still running" read as they would have that day.
        store = SnapshotStore(out)
        latest = fetch_snapshot(
            client, store, progress=progress, fetched_at=DEMO_FETCHED_AT, include=("all",)
        )
    for weeks in range(DEMO_HISTORY_WEEKS, 0, -1):
        at = DEMO_FETCHED_AT - timedelta(weeks=weeks)
        store.write(
            history_frames(latest.frames, at),
            api_host=str(latest.manifest.get("api_host", "")),
            query=latest.manifest.get("query", {}),
            fetched_at=at,
            extra={"demo_history": True},
        )
    return latest


def _uniform(keys: pd.Series) -> np.ndarray:
    """A deterministic number in (0, 1) per key (the same key, the same number)."""
    hashed = pd.util.hash_pandas_object(keys, index=False).to_numpy(dtype=np.uint64)
    return (hashed.astype(np.float64) + 0.5) / 2.0**64


def history_frames(frames: Frames, at: datetime) -> Frames:
    """The demo organisation as a fetch at ``at`` would have seen it (before its as-of day).

    Campaigns launched after ``at`` are absent. Each acknowledgement and answer of the as-of
    snapshot was given some days after launch (exponential, mean :data:`_MEAN_DELAY_DAYS`,
    drawn per person and campaign from a hash, so every build gives the same history; delays
    that would pass the as-of day are spread over the time before it): at ``at``, those not
    given yet are not there. Synthetic, like the organisation itself.
    """
    launch = pd.Series(
        pd.to_datetime(frames.campaigns["launch_date"], utc=True).array,
        index=frames.campaigns["campaign_id"].astype(str).to_numpy(dtype=object),
    )
    launched = launch.index[(launch <= pd.Timestamp(at)).to_numpy()]
    campaigns = frames.campaigns[frames.campaigns["campaign_id"].astype(str).isin(launched)]
    users = frames.users[frames.users["campaign_id"].astype(str).isin(launched)].copy()
    answers = frames.answers[frames.answers["campaign_id"].astype(str).isin(launched)].copy()
    campaign = users["campaign_id"].astype(str)
    started = pd.to_datetime(campaign.map(launch), utc=True)
    open_days = ((pd.Timestamp(DEMO_FETCHED_AT) - started).dt.total_seconds() / 86400).to_numpy()
    elapsed = ((pd.Timestamp(at) - started).dt.total_seconds() / 86400).to_numpy()
    key = users["email"].astype(str) + "|" + campaign
    answered = (users["n_correct"] + users["n_incorrect"]).to_numpy() > 0
    done = {"acknowledged": users["acknowledged"].to_numpy(dtype=bool), "answered": answered}
    later: dict[str, np.ndarray] = {}
    for what, mean in _MEAN_DELAY_DAYS.items():
        draw = _uniform(key + "|" + what)
        delay = -np.log(draw) * mean
        delay = np.where(delay < open_days, delay, draw * open_days)
        later[what] = done[what] & (delay > elapsed)
    users.loc[later["acknowledged"], "acknowledged"] = False
    pending = later["answered"]
    users.loc[pending, "n_unanswered"] = users.loc[pending, "n_questions"]
    users.loc[pending, ["n_correct", "n_incorrect"]] = 0
    users.loc[pending, "outcome"] = "sent"
    waiting = users.loc[pending]
    not_yet = set(zip(waiting["campaign_id"].astype(str), waiting["email"], strict=True))
    answer_keys = zip(answers["campaign_id"].astype(str), answers["email"], strict=True)
    answers.loc[[k in not_yet for k in answer_keys], "result"] = "sent"

    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index(drop=True)
        for column in ("campaign_id", "campaign_name"):
            if column in frame and isinstance(frame[column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].cat.remove_unused_categories()
        return frame

    return replace(frames, campaigns=tidy(campaigns), users=tidy(users), answers=tidy(answers))


def _is_current_demo(store: SnapshotStore) -> bool:
    """Whether ``store`` holds the demo as this version builds it (dated on its as-of day, with
    the behaviour tables and the weekly history before it)."""
    manifests = store.manifests()
    expected = DEMO_FETCHED_AT.strftime("%Y-%m-%dT%H:%M:%S")
    return (
        bool(manifests)
        and str(manifests[-1].get("fetched_at", "")).startswith(expected)
        and bool(manifests[-1].get("tables"))  # built with the behaviour sources
        and len(manifests) >= DEMO_HISTORY_WEEKS + 1  # and with its weekly history
    )


def ensure_demo_store(out: str | os.PathLike[str] | None = None) -> SnapshotStore:
    """The demo store at ``out`` (default :func:`default_demo_store`), built first if empty.

    A demo store an earlier version built (dated on the day it was built, so nothing in it
    reads as running, or without the behaviour tables) is rebuilt beside it and swapped in.
    """
    out = Path(default_demo_store() if out is None else out)
    store = SnapshotStore(out)
    if not store.exists():
        build_demo_store(out)
    elif not _is_current_demo(store):
        log.info("Rebuilding the demo store at %s (made by an earlier version)", out)
        fresh = out.with_name(f".{out.name}.rebuild-{os.getpid()}")
        shutil.rmtree(fresh, ignore_errors=True)
        build_demo_store(fresh)
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        fresh.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    return store
