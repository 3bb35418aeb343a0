"""Fetch campaigns and their user data from the API into a new snapshot of a store.

Everything is held in memory until the snapshot is written atomically, so a failed or
interrupted fetch leaves the store exactly as it was.

Concurrency
    Campaigns' user data is fetched by up to ``workers`` threads (default
    :data:`DEFAULT_WORKERS`; 1 fetches one campaign after another). They share one client and so
    one rate-limit budget: an HTTP 429 to any of them holds all of them until the reset time
    (see :class:`~awareness_analysis.api.transport.RateLimitGate`). The snapshot does not depend on
    which campaign finished first. The first failure stops the other workers (each stops before
    its next request) and is raised; nothing is written.

Incremental refresh
    When the store already holds a snapshot, only campaigns whose ``get-campaigns`` counters
    (``numSent``, ``numCompleted``, ``numCorrectAnswers`` per question, ``locked``) differ from
    those recorded in the latest snapshot, or that it does not hold, are downloaded again; the
    stored rows of the others are reused. The latest snapshot is used only when it was fetched
    from the same API host with the same user filter (search, statuses, attribute ids; page
    size and campaign selection do not matter), by the same package version, and records its
    campaigns' counters; otherwise, or with ``full=True``, every campaign is downloaded. Either
    way the new snapshot is complete. Campaigns no longer listed (or no longer selected) are
    dropped. A change to user data that leaves every counter unchanged (a renamed department,
    say) is only picked up by a full fetch.

Resuming
    Each page is checkpointed as it arrives, in the store's staging area
    (``STORE/staging/<fingerprint>/``, see :func:`query_fingerprint`): one folder per campaign
    holding the pages (``page-00000.json``, ...) and a ``journal.json`` listing, per page, its
    index, the page token that fetched it, the ``next`` token it carried and its item count,
    plus the campaign's ``totalCount`` and counters. Every file is written under a temporary name
    and renamed, page before journal, so a page is either recorded complete or not at all. A
    fetch that stops for any reason (an exception, Ctrl-C, a kill) leaves its staging folder;
    the next fetch of the same query (same API host, campaign selection, user filter, page size
    and package version) reads the staged pages and asks only for the rest, starting each
    campaign from its last ``next`` token. A campaign whose counters changed since, or whose
    saved token the API refuses (``err_invalid_page_token``: tokens do not outlive the API's
    memory of them), is downloaded again from its first page. A finished campaign is not asked
    for at all. The snapshot is built from the pages in order, so it is the same (same
    ``content_hash``) as an uninterrupted fetch's. Writing the snapshot removes the staging
    folder; another query's folder is never read (``SnapshotStore.clean_staging`` removes stale
    ones) and ``restart=True`` discards this query's folder first.

totalCount
    A campaign whose pages add up to another number of records than the ``totalCount`` of its
    first page is an error (:class:`MimecastResponseError`) for an unfiltered fetch. With a
    status or search filter (or attribute ids) the API's count is not reliable, so the fetch
    goes on and records a ``warnings`` list in the manifest (one message per campaign).

Behaviour sources
    ``include`` adds the other Awareness Training endpoints as extra snapshot tables
    (:data:`~awareness_analysis.vocabulary.BEHAVIOUR_SOURCES`): ``phishing`` (phishing campaigns
    and each one's user data), ``safe`` (SAFE score details and summary), ``watchlist``,
    ``performance`` and ``queue`` (training queue); ``all`` is every one. They are fetched
    after the campaign user data, into the same snapshot, through the behaviour client (API 2.0
    when both credential sets are configured) or the same client, with the same pacing, quota
    and retries. The phishing campaign list is always fetched (one call); phishing user data is
    incremental where the counters allow: when the campaign user data builds on the latest
    snapshot (as above) and that snapshot included phishing and records ``phishing_counters``,
    a phishing campaign whose ``get-campaign`` counters (:data:`PHISHING_COUNTER_FIELDS`; the
    four documented ones must be whole numbers, else it is always downloaded; the undocumented
    ``numReported`` may be absent) equal the recorded ones is not
    asked for: its ``phish_users`` rows are taken from that snapshot. Changed and new campaigns
    are downloaded, unlisted ones dropped; otherwise, or with ``full=True``, every phishing
    campaign is downloaded. ``phish_user_totals`` (see
    :func:`~awareness_analysis.data.behaviour.reuse_phish_user_tables`): each reused row carries
    its person's recorded totals, downloaded rows their own, and the person's totals come from
    the row in the latest-launched campaign as in a full fetch; a person recorded with
    ``totals_disagree`` keeps it while any of their rows is reused. When nothing changed the
    tables equal a full fetch's. The other sources have no counters and are fetched whole each
    time. Each downloaded phishing campaign's user items and each other source's records are
    staged as they complete: a fetch that stops resumes its campaign pages and reuses these (a
    phishing campaign while its counters are unchanged, the others for 24 hours), losing at
    most the campaign or source in progress. The tables are built by
    :mod:`awareness_analysis.data.behaviour` and the manifest's ``query.include`` lists the
    sources.

The manifest records ``campaign_counters`` (a list, one entry per stored campaign, with its
``campaign_id`` and the counters above) and ``refresh`` (``full``, ``reason``,
``base_snapshot``, and the ``refreshed`` and ``reused`` campaign ids); with phishing also
``phishing_counters`` (one entry per phishing campaign: ``phish_campaign_id`` and its counters)
and ``phishing_refresh`` (the same keys as ``refresh``, for the phishing campaigns).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from awareness_analysis import __version__
from awareness_analysis.api.endpoints import (
    DEFAULT_PAGE_SIZE,
    GET_USER_DATA_PATH,
    UserDataFilter,
    UserDataQuery,
    get_performance_details,
    get_phishing_user_data,
    get_safe_score_details,
    get_safe_score_summary,
    get_training_queue,
    get_watchlist_details,
    iter_user_data_pages,
    list_campaigns,
    list_phishing_campaigns,
)
from awareness_analysis.api.transport import (
    JsonDict,
    MimecastClient,
    Page,
    PageCursor,
)
from awareness_analysis.data import behaviour as _behaviour
from awareness_analysis.data import frames as _frames
from awareness_analysis.data.store import Snapshot, SnapshotStore, host_only, write_json_atomic
from awareness_analysis.errors import (
    MimecastAPIError,
    StoreError,
    TotalCountMismatch,
)
from awareness_analysis.vocabulary import BEHAVIOUR_SOURCES

log = logging.getLogger(__name__)

#: Campaigns fetched at once unless told otherwise.
DEFAULT_WORKERS = 4
#: The ``get-campaigns`` fields whose change means a campaign's user data changed.
COUNTER_FIELDS = ("numSent", "numCompleted", "numCorrectAnswers", "locked")


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


def check_workers(workers: object) -> int:
    """``workers`` if it is a whole number of at least 1, else :class:`ValueError`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of at least 1 (got {workers!r}).")
    return workers


# -- behaviour sources -----------------------------------------------------------------------

#: ``include`` value that means every behaviour source.
ALL_SOURCES = "all"


def parse_include(include: Iterable[str] | str) -> tuple[str, ...]:
    """The behaviour sources named by ``include``, in :data:`BEHAVIOUR_SOURCES` order.

    Each value may hold several names separated by commas (as ``fetch --include`` takes them);
    ``all`` means every source; case and surrounding spaces do not matter. Anything else is a
    :class:`ValueError` naming the allowed values.
    """
    values = [include] if isinstance(include, str) else list(include)
    allowed = (*BEHAVIOUR_SOURCES, ALL_SOURCES)
    wanted: set[str] = set()
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"include takes source names ({', '.join(allowed)}), got {value!r}.")
        for part in value.split(","):
            name = part.strip().casefold()
            if name not in allowed:
                raise ValueError(
                    f"Unknown source {part.strip()!r} to include; use one or more of "
                    f"{', '.join(allowed)} (comma-separated)."
                )
            wanted.update(BEHAVIOUR_SOURCES if name == ALL_SOURCES else (name,))
    return tuple(source for source in BEHAVIOUR_SOURCES if source in wanted)


#: How long a staged behaviour source without counters (SAFE scores, watch list, performance,
#: queue) may be reused by a resumed fetch: these change without anything saying so.
STAGED_SOURCE_MAX_AGE_S = 24 * 3600
#: The ``get-campaign`` fields of a phishing campaign whose change means its user data changed.
PHISHING_COUNTER_FIELDS = ("numSent", "numOpened", "numClicked", "numSubmitted", "numReported")
#: Those that must be whole numbers for a campaign to be reused: the documented ones
#: (``numReported`` is undocumented; it is compared when sent, and may be absent).
_PHISHING_COUNTERS_REQUIRED = PHISHING_COUNTER_FIELDS[:4]


class _BehaviourStage:
    """Raw records of behaviour sources staged as each completes: every phishing campaign's
    user items (checked against its counters) and each other source's rows (reused for
    :data:`STAGED_SOURCE_MAX_AGE_S`), so an interrupted fetch loses at most the campaign or
    source in progress. No folder: nothing is staged."""

    def __init__(self, directory: Path | None) -> None:
        self.dir = None if directory is None else directory / "behaviour"

    def _path(self, name: str) -> Path:
        assert self.dir is not None
        return self.dir / f"{hashlib.sha256(name.encode()).hexdigest()[:16]}.json"

    def load(self, name: str, counters: Any = None) -> Any:
        if self.dir is None:
            return None
        try:
            staged = json.loads(self._path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(staged, dict) or staged.get("name") != name:
            return None
        if counters is not None and staged.get("counters") != counters:
            return None  # the campaign changed since: ask again
        age = datetime.now(UTC).timestamp() - float(staged.get("staged_at", 0))
        if counters is None and not 0 <= age <= STAGED_SOURCE_MAX_AGE_S:
            return None
        log.info("Reusing the staged %s from an earlier, unfinished fetch", name)
        return staged.get("records")

    def save(self, name: str, records: Any, counters: Any = None) -> None:
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            self._path(name),
            {
                "name": name,
                "counters": counters,
                "staged_at": datetime.now(UTC).timestamp(),
                "records": records,
            },
        )


def fetch_behaviour_tables(
    client: MimecastClient,
    sources: Collection[str],
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    staging: Path | None = None,
    base: Snapshot | None = None,
    no_base_reason: str = "no earlier snapshot to build on",
    manifest: dict[str, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """Fetch each of ``sources`` (names from :func:`parse_include`) and build its tables.

    Phishing user data is refreshed incrementally against ``base`` (the snapshot the campaign
    user data builds on; ``None``, with ``no_base_reason`` saying why, downloads every phishing
    campaign, as with ``--full``): see :func:`plan_phishing_refresh`. The other sources
    are fetched whole. With ``staging`` (the fetch's staging folder), each downloaded phishing
    campaign's user items and each other source's records are staged as they complete, and a
    resumed fetch reuses them (a phishing campaign only while its counters are unchanged; see
    :class:`_BehaviourStage`). With phishing, ``manifest`` (when given) receives the
    ``phishing_counters`` and ``phishing_refresh`` entries for the snapshot's manifest.
    """
    stage = _BehaviourStage(staging)

    def staged(name: str, fetch: Callable[[], Any], counters: Any = None) -> Any:
        records = stage.load(name, counters)
        if records is None:
            records = fetch()
            stage.save(name, records, counters)
        return records

    tables: dict[str, pd.DataFrame] = {}
    if "phishing" in sources:
        campaigns = list_phishing_campaigns(client)
        # Built before the per-campaign requests: a campaign without an id is a clear error
        # now rather than a failed request later.
        tables["phish_campaigns"] = _behaviour.phish_campaigns_frame(campaigns)
        tables["phish_templates"] = _behaviour.phish_templates_frame(campaigns)
        plan = plan_phishing_refresh(base, campaigns, no_base_reason)
        items = {
            str(c["id"]): staged(
                f"phishing:{c['id']}",
                lambda c=c: get_phishing_user_data(client, str(c["id"]), page_size=page_size),
                phishing_counters(c),
            )
            for c in plan.download
        }
        if plan.base is not None and plan.reuse_ids:
            tables.update(
                _behaviour.reuse_phish_user_tables(
                    plan.base.tables["phish_users"],
                    plan.base.tables["phish_user_totals"],
                    plan.reuse_ids,
                    items,
                    campaigns,
                )
            )
        else:
            tables.update(_behaviour.phish_user_tables(items, campaigns))
        if manifest is not None:
            manifest["phishing_counters"] = [phishing_counters(c) for c in campaigns]
            manifest["phishing_refresh"] = plan.manifest_entry()
    if "safe" in sources:
        rows = staged("safe", lambda: get_safe_score_details(client, page_size=page_size))
        tables["safe_scores"] = _behaviour.safe_scores_frame(rows)
        # get_safe_score_summary returns the scoreCounts object itself; the frame builder
        # takes it wrapped, as the endpoint's data[0] sends it.
        counts = staged("safe-summary", lambda: get_safe_score_summary(client))
        tables["safe_summary"] = _behaviour.safe_summary_frame({"scoreCounts": counts})
    if "watchlist" in sources:
        tables["watchlist"] = _behaviour.watchlist_frame(
            staged("watchlist", lambda: get_watchlist_details(client, page_size=page_size))
        )
    if "performance" in sources:
        tables["performance"] = _behaviour.performance_frame(
            staged("performance", lambda: get_performance_details(client, page_size=page_size))
        )
    if "queue" in sources:
        queue = staged("queue", lambda: get_training_queue(client))
        tables["training_modules"] = _behaviour.training_modules_frame(queue)
        tables["module_options"] = _behaviour.module_options_frame(queue)
    for source in sources:
        log.info(
            "Fetched %s: %s",
            source,
            ", ".join(f"{t} {len(tables[t])} rows" for t in BEHAVIOUR_SOURCES[source]),
        )
    return tables


# -- incremental refresh ---------------------------------------------------------------------


def campaign_counters(campaign: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest record of one campaign: its id and its :data:`COUNTER_FIELDS`."""
    record: dict[str, Any] = {"campaign_id": str(campaign.get("id"))}
    for name in COUNTER_FIELDS:
        record[name] = campaign.get(name)
    return record


def phishing_counters(campaign: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest record of one phishing campaign: its id and :data:`PHISHING_COUNTER_FIELDS`."""
    record: dict[str, Any] = {"phish_campaign_id": str(campaign.get("id"))}
    for name in PHISHING_COUNTER_FIELDS:
        record[name] = campaign.get(name)
    return record


def _counters_known(
    record: Mapping[str, Any], names: Sequence[str] = ("numSent", "numCompleted")
) -> bool:
    """Whether the counters can tell a change at all: the API sent ``names`` as whole numbers
    (for awareness campaigns the main ones; for phishing campaigns every one)."""
    return all(
        isinstance(record.get(name), int) and not isinstance(record.get(name), bool)
        for name in names
    )


def _unchanged_ids(
    recorded: Iterable[Any],
    current: Sequence[Mapping[str, Any]],
    id_key: str,
    known: Sequence[str],
) -> tuple[dict[str, Mapping[str, Any]], list[str]]:
    """(the ``recorded`` manifest records by their ``id_key``, the ids of the ``current``
    records whose ``known`` counters are whole numbers and whose record equals the recorded
    one). The one comparison for awareness and phishing campaigns alike."""
    by_id = {str(entry.get(id_key)): entry for entry in recorded if isinstance(entry, Mapping)}
    unchanged = [
        str(now[id_key])
        for now in current
        if _counters_known(now, known) and dict(by_id.get(str(now[id_key])) or {}) == dict(now)
    ]
    return by_id, unchanged


def _filter_key(query: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two fetches return the same rows for a campaign (order-insensitive)."""
    return (
        query.get("search"),
        sorted(query.get("statuses") or []),
        sorted(query.get("attribute_ids") or []),
    )


@dataclass
class RefreshPlan:
    """Which selected campaigns to download and which to take from ``base``."""

    full: bool
    reason: str
    base: Snapshot | None = None
    download: list[JsonDict] = field(default_factory=list)
    reuse_ids: list[str] = field(default_factory=list)

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "full": self.full,
            "reason": self.reason,
            "base_snapshot": None if self.base is None else self.base.snapshot_id,
            "refreshed": [str(c["id"]) for c in self.download],
            "reused": list(self.reuse_ids),
        }


def _unusable_base(
    store: SnapshotStore, user_filter: UserDataFilter, api_host: str
) -> tuple[Snapshot | None, str | None]:
    """(the latest snapshot, None) if an incremental refresh may build on it, else (None, why)."""
    if not store.exists():
        return None, "the store holds no snapshot yet"
    try:
        latest = store.load()
    except StoreError as exc:
        return None, f"the latest snapshot cannot be read ({exc})"
    manifest = latest.manifest
    name = f"the latest snapshot {latest.snapshot_id}"
    if manifest.get("package_version") != __version__:
        return None, (
            f"{name} was written by awareness-analysis {manifest.get('package_version')}, "
            f"not {__version__}"
        )
    if not isinstance(manifest.get("campaign_counters"), list):
        return None, f"{name} records no campaign counters (it predates incremental refresh)"
    if manifest.get("api_host") != host_only(api_host):
        return None, f"{name} was fetched from {manifest.get('api_host')}, not {api_host}"
    previous = manifest.get("query")
    if not isinstance(previous, Mapping) or _filter_key(previous) != _filter_key(
        user_filter.parameters()
    ):
        return None, f"{name} was fetched with another user filter"
    return latest, None


def _incremental_plan(
    base: Snapshot,
    campaigns: Sequence[JsonDict],
    recorded: Collection[str],
    reusable: Collection[str],
    what: str = "",
) -> RefreshPlan:
    """Reuse ``reusable`` campaigns from ``base``, download the others; logs the counts
    (``what`` names the campaigns, e.g. ``", phishing"``)."""
    plan = RefreshPlan(False, f"incremental refresh of snapshot {base.snapshot_id}", base=base)
    new = changed = 0
    for campaign in campaigns:
        campaign_id = str(campaign.get("id"))
        if campaign_id in reusable:
            plan.reuse_ids.append(campaign_id)
        else:
            plan.download.append(campaign)
            new += campaign_id not in recorded
            changed += campaign_id in recorded
    dropped = len(set(recorded) - {str(c.get("id")) for c in campaigns})
    log.info(
        "Incremental refresh of snapshot %s%s: downloading %d campaign(s) (%d changed, %d new), "
        "reusing %d, dropping %d",
        base.snapshot_id,
        what,
        len(plan.download),
        changed,
        new,
        len(plan.reuse_ids),
        dropped,
    )
    return plan


def plan_refresh(
    store: SnapshotStore,
    campaigns: Sequence[JsonDict],
    user_filter: UserDataFilter,
    *,
    api_host: str,
    full: bool = False,
) -> RefreshPlan:
    """Decide which of ``campaigns`` to download (see the module docstring); logs why."""
    if full:
        log.info("Full fetch: asked for (--full)")
        return RefreshPlan(True, "full fetch asked for", download=list(campaigns))
    base, why_not = _unusable_base(store, user_filter, api_host)
    if base is None:
        log.info("Full fetch: %s", why_not)
        return RefreshPlan(True, str(why_not), download=list(campaigns))
    recorded, unchanged = _unchanged_ids(
        base.manifest["campaign_counters"],
        [campaign_counters(c) for c in campaigns],
        "campaign_id",
        ("numSent", "numCompleted"),
    )
    try:
        # Rows the frames cannot rebuild exactly (e.g. a campaign now declaring fewer
        # questions) are downloaded again even though the counters did not change.
        reusable = set(_frames.reusable_campaign_ids(base.frames, campaigns, unchanged))
    except ValueError as exc:
        why = f"the rows of snapshot {base.snapshot_id} cannot be reused ({exc})"
        log.info("Full fetch: %s", why)
        return RefreshPlan(True, why, download=list(campaigns))
    return _incremental_plan(base, campaigns, recorded, reusable)


def _no_phishing_base(base: Snapshot) -> str | None:
    """Why ``base`` (usable for the campaign user data) cannot give phishing rows, if so."""
    name = f"the latest snapshot {base.snapshot_id}"
    query = base.manifest.get("query")
    if not isinstance(query, Mapping) or "phishing" not in (query.get("include") or ()):
        return f"{name} was fetched without phishing"
    if not isinstance(base.manifest.get("phishing_counters"), list):
        return f"{name} records no phishing counters (it predates incremental phishing refresh)"
    if not {"phish_users", "phish_user_totals"} <= set(base.tables):
        return f"{name} holds no phishing user tables"
    return None


def plan_phishing_refresh(
    base: Snapshot | None, campaigns: Sequence[JsonDict], no_base_reason: str
) -> RefreshPlan:
    """Decide which phishing ``campaigns`` to download; the others' rows are taken from
    ``base`` (see "Behaviour sources" in the module docstring). ``base`` is the snapshot the
    campaign user data builds on (:func:`plan_refresh`), or ``None`` for a full fetch, with
    ``no_base_reason`` saying why. Logs the decision."""
    why = no_base_reason if base is None else _no_phishing_base(base)
    if base is None or why is not None:
        log.info("Full fetch of phishing: %s", why)
        return RefreshPlan(True, str(why), download=list(campaigns))
    recorded, unchanged = _unchanged_ids(
        base.manifest["phishing_counters"],
        [phishing_counters(c) for c in campaigns],
        "phish_campaign_id",
        _PHISHING_COUNTERS_REQUIRED,
    )
    try:
        reusable = set(
            _behaviour.reusable_phish_campaign_ids(
                base.tables["phish_users"], base.tables["phish_user_totals"], unchanged
            )
        )
    except ValueError as exc:
        why = f"the phishing rows of snapshot {base.snapshot_id} cannot be reused ({exc})"
        log.info("Full fetch of phishing: %s", why)
        return RefreshPlan(True, why, download=list(campaigns))
    return _incremental_plan(base, campaigns, recorded, reusable, ", phishing")


# -- paging, resumable -----------------------------------------------------------------------

#: The API's answer to a page token it does not know (any more).
INVALID_PAGE_TOKEN = "err_invalid_page_token"
JOURNAL_NAME = "journal.json"
#: Version of the staging layout; part of the fingerprint, so an old layout is never read.
STAGING_VERSION = 1


def query_fingerprint(
    api_host: str, campaign_ids: Sequence[str], user_filter: UserDataFilter, page_size: int
) -> str:
    """What a fetch's staged pages belong to: 16 hex digits over host, selection, filter, page
    size, package version and staging layout. Another query never reads them."""
    key = {
        "staging_version": STAGING_VERSION,
        "package_version": __version__,
        "api_host": host_only(api_host),
        "campaign_ids": sorted(dict.fromkeys(str(c) for c in campaign_ids)),
        "filter": list(_filter_key(user_filter.parameters())),
        "page_size": page_size,
    }
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CampaignCheckpoint:
    """The staged pages of one campaign: page files plus a journal, each renamed into place."""

    def __init__(self, directory: Path, campaign: JsonDict) -> None:
        self.campaign_id = str(campaign["id"])
        self.counters = campaign_counters(campaign)
        self.dir = directory / hashlib.sha256(self.campaign_id.encode()).hexdigest()[:16]
        self.journal: dict[str, Any] = self._fresh_journal()

    def _fresh_journal(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "counters": self.counters,
            "total_count": None,
            "done": False,
            "pages": [],
        }

    def _page_path(self, index: int) -> Path:
        return self.dir / f"page-{index:05d}.json"

    def load(self) -> list[list[JsonDict]]:
        """The staged pages' items, in order (empty when nothing usable is staged).

        Stops at the first page that is missing or does not match the journal; drops
        everything when the journal is of another campaign or the counters changed.
        """
        try:
            journal = json.loads((self.dir / JOURNAL_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if (
            not isinstance(journal, dict)
            or journal.get("campaign_id") != self.campaign_id
            or journal.get("counters") != self.counters
            or not isinstance(journal.get("pages"), list)
        ):
            if isinstance(journal, dict) and journal.get("counters") != self.counters:
                log.info("Campaign %s changed since its pages were staged", self.campaign_id)
            self.reset()
            return []
        pages: list[list[JsonDict]] = []
        kept = []
        for position, entry in enumerate(journal["pages"]):
            if not isinstance(entry, dict) or entry.get("index") != position:
                break
            try:
                items = json.loads(self._page_path(position).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                break
            if not isinstance(items, list) or len(items) != entry.get("items"):
                break
            pages.append(items)
            kept.append(entry)
        complete = len(kept) == len(journal["pages"])
        self.journal = {
            **self._fresh_journal(),
            "total_count": journal.get("total_count") if kept else None,
            "done": bool(journal.get("done")) and complete,
            "pages": kept,
        }
        return pages

    @property
    def done(self) -> bool:
        return bool(self.journal["done"])

    @property
    def resume_token(self) -> str | None:
        pages = self.journal["pages"]
        return pages[-1].get("next") if pages else None

    @property
    def tokens(self) -> list[str]:
        """The ``next`` tokens handed out by the staged pages, in order."""
        return [p["next"] for p in self.journal["pages"] if isinstance(p.get("next"), str)]

    def save_page(self, page: Page, token: str | None) -> None:
        """Stage one page (its file first, then the journal entry that makes it count)."""
        index = len(self.journal["pages"])
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._page_path(index), page.items)
        total = page.pagination.get("totalCount")
        if self.journal["total_count"] is None and isinstance(total, int):
            self.journal["total_count"] = total
        next_token = page.pagination.get("next")
        self.journal["pages"].append(
            {
                "index": index,
                "token": token,
                "next": next_token if isinstance(next_token, str) else None,
                "items": len(page.items),
            }
        )
        self._write_journal()

    def finish(self) -> None:
        self.journal["done"] = True
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_journal()

    def reset(self) -> None:
        """Forget every staged page of this campaign."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.journal = self._fresh_journal()

    def _write_journal(self) -> None:
        write_json_atomic(self.dir / JOURNAL_NAME, self.journal)


# -- concurrent download ---------------------------------------------------------------------


class _Cancelled(Exception):
    """Internal: another worker failed, so this one stopped before its next request."""


def fetch_user_items(
    client: MimecastClient,
    campaigns: list[JsonDict],
    user_filter: UserDataFilter,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: bool | None = None,
    workers: int = DEFAULT_WORKERS,
    staging: Path | None = None,
    warnings: list[str] | None = None,
    convert: Callable[[str, list[JsonDict]], Any] | None = None,
) -> dict[str, Any]:
    """User items of each campaign, keyed by campaign id in ``campaigns`` order.

    With ``convert``, each campaign's value is ``convert(campaign_id, items)``, called by the
    worker as soon as that campaign's last page is in (so it overlaps the other downloads and
    the quota waits, and the raw items can be freed early).

    Up to ``workers`` campaigns are fetched at once; the first failure stops the rest and is
    raised. With ``staging`` (a folder), every page is checkpointed there and pages already
    staged are not asked for again (see the module docstring). A ``totalCount`` mismatch is
    raised for an unfiltered fetch; with a filter it is appended to ``warnings`` (when given).
    """
    check_workers(workers)
    progress_state = _Progress(client, campaigns, page_size, known=user_filter.is_empty)
    stop = threading.Event()
    bar_lock = threading.Lock()
    # disable=None lets tqdm show the bar only on a terminal, keeping logs and CI output clean.
    with tqdm(
        total=progress_state.rows_total(),
        unit="user",
        desc="Fetching user data",
        disable=None if progress is None else not progress,
    ) as bar:

        def download(
            campaign: JsonDict, checkpoint: CampaignCheckpoint | None, items: list[JsonDict]
        ) -> None:
            query = UserDataQuery(str(campaign["id"]), user_filter)
            resuming = checkpoint is not None and bool(checkpoint.journal["pages"])
            token = checkpoint.resume_token if checkpoint is not None else None
            if resuming and token is None and checkpoint is not None:
                # Every page arrived but the campaign was not marked finished (the fetch
                # stopped in between, or its count was wrong).
                total = checkpoint.journal["total_count"]
                if total is None or total == len(items):
                    return
                if not user_filter.is_empty:
                    raise TotalCountMismatch(
                        f"{GET_USER_DATA_PATH} announced {total} records (totalCount) but "
                        f"sent {len(items)}"
                    )
                # Unfiltered and the count is wrong: the pages are suspect, ask again.
                with bar_lock:
                    bar.update(-len(items))
                checkpoint.reset()
                items.clear()
                resuming = False
            start = None
            if resuming and checkpoint is not None:
                start = PageCursor(
                    token=token,
                    seen_tokens=tuple(checkpoint.tokens),
                    received=len(items),
                    total_count=checkpoint.journal["total_count"],
                )
            pages = iter_user_data_pages(client, query, page_size=page_size, start=start)
            while True:
                try:
                    page = next(pages)
                except StopIteration:
                    break
                except MimecastAPIError as exc:
                    if resuming and exc.code == INVALID_PAGE_TOKEN and checkpoint is not None:
                        log.warning(
                            "The API refused the saved page token of campaign %s (%s); "
                            "downloading its pages again from the first",
                            campaign.get("name") or campaign["id"],
                            exc.code,
                        )
                        with bar_lock:
                            bar.update(-len(items))
                        checkpoint.reset()
                        items.clear()
                        download(campaign, checkpoint, items)
                        return
                    raise
                resuming = False  # the saved token worked; later refusals are errors
                items.extend(page.items)
                if checkpoint is not None:
                    checkpoint.save_page(page, token)
                token = page.pagination.get("next")
                with bar_lock:
                    progress_state.page_done(campaign, page.pagination)
                    bar.total = progress_state.rows_total()
                    bar.set_postfix_str(progress_state.postfix(), refresh=False)
                    bar.update(len(page.items))
                if stop.is_set():  # checked before the next page is asked for
                    raise _Cancelled

        def fetch_one(campaign: JsonDict) -> Any:
            if stop.is_set():
                raise _Cancelled
            checkpoint = None if staging is None else CampaignCheckpoint(staging, campaign)
            items: list[JsonDict] = []
            if checkpoint is not None:
                for staged in checkpoint.load():
                    items.extend(staged)
                if items:
                    log.info(
                        "Resuming campaign %s: %d staged page(s), %d user records%s",
                        campaign.get("name"),
                        len(checkpoint.journal["pages"]),
                        len(items),
                        " (complete)" if checkpoint.done else "",
                    )
                    with bar_lock:
                        progress_state.pages_done += len(checkpoint.journal["pages"])
                        bar.update(len(items))
            if checkpoint is None or not checkpoint.done:
                try:
                    download(campaign, checkpoint, items)
                except TotalCountMismatch as exc:
                    if user_filter.is_empty or warnings is None:
                        if checkpoint is not None:
                            checkpoint.reset()  # its pages disagree: the next fetch asks again
                        raise
                    message = f"campaign {campaign['id']}: {exc} (filtered fetch: kept)"
                    log.warning("%s", message)
                    with bar_lock:
                        warnings.append(message)
                if checkpoint is not None:
                    checkpoint.finish()
            elif not user_filter.is_empty and warnings is not None:
                total = checkpoint.journal["total_count"]
                if isinstance(total, int) and total != len(items):
                    with bar_lock:
                        warnings.append(
                            f"campaign {campaign['id']}: {GET_USER_DATA_PATH} announced {total} "
                            f"records (totalCount) but sent {len(items)} (filtered fetch: kept)"
                        )
            log.info("Fetched %d user records of campaign %s", len(items), campaign.get("name"))
            return items if convert is None else convert(str(campaign["id"]), items)

        n_threads = min(workers, len(campaigns))
        if n_threads <= 1:
            by_id = {str(c["id"]): fetch_one(c) for c in campaigns}
        else:
            client.ensure_pool_size(n_threads)
            by_id = _run_parallel(fetch_one, campaigns, n_threads, stop)
    return {str(c["id"]): by_id[str(c["id"])] for c in campaigns}


def _run_parallel(
    fetch_one: Callable[[JsonDict], Any],
    campaigns: list[JsonDict],
    n_threads: int,
    stop: threading.Event,
) -> dict[str, Any]:
    executor = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="awareness-fetch")
    futures: dict[Future[Any], str] = {
        executor.submit(fetch_one, campaign): str(campaign["id"]) for campaign in campaigns
    }
    results: dict[str, Any] = {}
    try:
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                raise error
            results[futures[future]] = future.result()
    except BaseException as exc:
        stop.set()
        # Running workers stop before their next request; queued campaigns never start. On
        # Ctrl-C do not wait for the running ones' current request.
        executor.shutdown(wait=isinstance(exc, Exception), cancel_futures=True)
        raise
    executor.shutdown(wait=True)
    return results


# -- one fetch -------------------------------------------------------------------------------


def fetch_snapshot(
    client: MimecastClient,
    store: SnapshotStore,
    *,
    campaign_ids: Sequence[str] = (),
    user_filter: UserDataFilter | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: bool | None = None,
    workers: int = DEFAULT_WORKERS,
    full: bool = False,
    restart: bool = False,
    fetched_at: datetime | None = None,
    include: Collection[str] = (),
    behaviour_client: MimecastClient | None = None,
) -> Snapshot:
    """List campaigns, fetch user data of the selected ones, and write one new snapshot.

    Builds on the store's latest snapshot when it can (see the module docstring); ``full=True``
    downloads every selected campaign. ``workers`` campaigns are fetched at once. Pages staged
    by an earlier, unfinished fetch of the same query are reused (see "Resuming" in the module
    docstring); ``restart=True`` discards them first. ``fetched_at`` dates the snapshot
    (default now; the demo organisation dates its snapshot on its as-of day). ``include``
    names behaviour sources (``phishing``, ``safe``, ``watchlist``, ``performance``, ``queue``
    or ``all``; see :func:`parse_include`) stored as extra tables; phishing user data builds on
    the same snapshot where its counters allow, the others are fetched whole (see "Behaviour
    sources" in the module docstring), through ``behaviour_client`` when
    given (the API 2.0 client, when both credential sets are configured; see
    :func:`~awareness_analysis.api.config.load_settings`), else through ``client``.
    """
    check_workers(workers)
    sources = parse_include(include)  # before any request: a typo costs no quota
    user_filter = user_filter or UserDataFilter()
    fingerprint = query_fingerprint(client.settings.host, campaign_ids, user_filter, page_size)
    staging = store.staging_dir(fingerprint)
    if restart and store.discard_staging(fingerprint):
        log.info("Discarded the staged pages of an earlier fetch (--restart)")
    others = [f for f in store.staging_fingerprints() if f != fingerprint]
    if others:
        log.info(
            "The store holds staged pages of %d other fetch query(ies) (%s); they are not used",
            len(others),
            ", ".join(others),
        )
    listed = list_campaigns(client)
    # Check the campaign list before any user-data request: a campaign without an id, or with
    # counters of the wrong type, is a clear error now rather than a crash mid-fetch.
    _frames.campaigns_frame(listed)
    campaigns = select_campaigns(listed, campaign_ids)
    plan = plan_refresh(store, campaigns, user_filter, api_host=client.settings.host, full=full)
    warnings: list[str] = []
    items = fetch_user_items(
        client,
        plan.download,
        user_filter,
        page_size=page_size,
        progress=progress,
        workers=workers,
        staging=staging,
        warnings=warnings,
        # Converted as each campaign completes: the work overlaps the downloads still running
        # (and any wait for quota), and a campaign's raw dicts are freed once converted.
        convert=_frames.convert_user_items,
    )
    try:
        if plan.base is not None and plan.reuse_ids:
            frames = _frames.reuse_frames(plan.base.frames, plan.reuse_ids, campaigns, items)
        else:
            frames = _frames.build_frames(campaigns, items)
    except Exception:
        # The downloaded records themselves are unusable: resuming would only reuse them.
        store.discard_staging(fingerprint)
        raise
    # After the campaign pages: if this fails, they stay staged and the next fetch resumes.
    behaviour_manifest: dict[str, Any] = {}
    tables = fetch_behaviour_tables(
        behaviour_client or client,
        sources,
        page_size=page_size,
        staging=staging,
        base=plan.base,
        no_base_reason=plan.reason,
        manifest=behaviour_manifest,
    )
    query: dict[str, Any] = {
        "campaign_ids": list(campaign_ids),
        **user_filter.parameters(),
        "page_size": page_size,
        "include": list(sources),
    }
    extra: dict[str, Any] = {
        "campaign_counters": [campaign_counters(c) for c in campaigns],
        "refresh": plan.manifest_entry(),
        **behaviour_manifest,
    }
    if warnings:
        extra["warnings"] = sorted(warnings)
    snapshot = store.write(
        frames,
        api_host=client.settings.host,
        query=query,
        extra=extra,
        fetched_at=fetched_at,
        tables=tables,
    )
    store.discard_staging(fingerprint)
    log.info(
        "Wrote snapshot %s: %d campaigns (%d downloaded, %d reused), %d user rows (%d requests)",
        snapshot.snapshot_id,
        len(frames.campaigns),
        len(plan.download),
        len(plan.reuse_ids),
        len(frames.users),
        client.requests_sent,
    )
    return snapshot


class _Progress:
    """What the progress bar says: user rows and pages done out of the known totals, and the
    time the quota still needs while the fetch is being paced.

    Before a campaign's first page, its size is Mimecast's ``numSent``; the first page's
    ``totalCount`` replaces it (filtered fetches know nothing before that page).
    """

    def __init__(
        self, client: MimecastClient, campaigns: Sequence[JsonDict], page_size: int, known: bool
    ) -> None:
        self.client = client
        self.page_size = page_size
        self.rows: dict[str, int | None] = {
            str(c["id"]): (c["numSent"] if known and isinstance(c.get("numSent"), int) else None)
            for c in campaigns
        }
        self.pages_done = 0

    def page_done(self, campaign: JsonDict, pagination: Mapping[str, Any]) -> None:
        self.pages_done += 1
        total = pagination.get("totalCount")
        if isinstance(total, int) and not isinstance(total, bool):
            self.rows[str(campaign["id"])] = total

    def rows_total(self) -> int | None:
        if any(v is None for v in self.rows.values()):
            return None
        return sum(v for v in self.rows.values() if v is not None)

    def pages_total(self) -> int | None:
        if any(v is None for v in self.rows.values()):
            return None
        return sum(max(1, -(-v // self.page_size)) for v in self.rows.values() if v is not None)

    def postfix(self) -> str:
        total = self.pages_total()
        text = f"pages {self.pages_done}/{total if total is not None else '?'}"
        quota = getattr(self.client, "quota", None)
        if total is not None and quota is not None:
            left = quota.seconds_for(max(0, total - self.pages_done))
            if left:
                text += f", quota: about {left:.0f} s left"
        return text
