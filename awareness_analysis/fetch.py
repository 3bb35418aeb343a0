"""Fetch campaigns and their user data from the API into a new snapshot of a store.

Everything is held in memory until the snapshot is written atomically, so a failed or
interrupted fetch leaves the store exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from awareness_analysis.endpoints import (
    DEFAULT_PAGE_SIZE,
    UserDataFilter,
    UserDataQuery,
    iter_user_data_pages,
    list_campaigns,
)
from awareness_analysis.frames import build_frames
from awareness_analysis.store import Snapshot, SnapshotStore
from awareness_analysis.transport import JsonDict, MimecastClient

log = logging.getLogger(__name__)


def select_campaigns(campaigns: list[JsonDict], wanted_ids: Sequence[str]) -> list[JsonDict]:
    """The campaigns named by ``wanted_ids`` (all when empty); unknown ids are an error."""
    if not wanted_ids:
        return campaigns
    by_id = {str(c.get("id")): c for c in campaigns}
    unknown = [cid for cid in wanted_ids if cid not in by_id]
    if unknown:
        raise ValueError(
            f"Unknown campaign id(s): {', '.join(unknown)}. "
            "List the account's campaigns and their ids with `awareness-analysis campaigns`."
        )
    return [by_id[cid] for cid in dict.fromkeys(wanted_ids)]


def fetch_user_items(
    client: MimecastClient,
    campaigns: list[JsonDict],
    user_filter: UserDataFilter,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: bool | None = None,
) -> dict[str, list[JsonDict]]:
    """User items of each campaign, keyed by campaign id."""
    expected = sum(c.get("numSent", 0) for c in campaigns if isinstance(c.get("numSent"), int))
    items_by_campaign: dict[str, list[JsonDict]] = {}
    # disable=None lets tqdm show the bar only on a terminal, keeping logs and CI output clean.
    with tqdm(
        total=expected if user_filter.is_empty else None,
        unit="user",
        desc="Fetching user data",
        disable=None if progress is None else not progress,
    ) as bar:
        for campaign in campaigns:
            campaign_id = str(campaign["id"])
            query = UserDataQuery(campaign_id, user_filter)
            items: list[JsonDict] = []
            for page in iter_user_data_pages(client, query, page_size=page_size):
                items.extend(page.items)
                bar.update(len(page.items))
            items_by_campaign[campaign_id] = items
            log.info("Fetched %d user records of campaign %s", len(items), campaign.get("name"))
    return items_by_campaign


def fetch_snapshot(
    client: MimecastClient,
    store: SnapshotStore,
    *,
    campaign_ids: Sequence[str] = (),
    user_filter: UserDataFilter | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: bool | None = None,
) -> Snapshot:
    """List campaigns, fetch user data of the selected ones, and write one new snapshot."""
    user_filter = user_filter or UserDataFilter()
    campaigns = select_campaigns(list_campaigns(client), campaign_ids)
    items = fetch_user_items(client, campaigns, user_filter, page_size=page_size, progress=progress)
    frames = build_frames(campaigns, items)
    query: dict[str, Any] = {
        "campaign_ids": list(campaign_ids),
        **user_filter.parameters(),
        "page_size": page_size,
    }
    snapshot = store.write(frames, api_host=client.settings.host, query=query)
    log.info(
        "Wrote snapshot %s: %d campaigns, %d user rows (%d requests)",
        snapshot.snapshot_id,
        len(frames.campaigns),
        len(frames.users),
        client.requests_sent,
    )
    return snapshot
