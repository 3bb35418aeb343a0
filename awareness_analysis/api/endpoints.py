"""The Awareness Training campaign endpoints: what to ask for, validated before anything is sent.

Request bodies follow the recorded API traffic, which differs from the vendor's page: the
campaign goes in ``data[0].id``, users come back at ``data[0].items`` and campaigns at
``data[0].campaigns``.

The behaviour endpoints (phishing campaigns and their users, SAFE scores, watch list,
performance, training queue) follow at the end. Their request forms are unconfirmed: see the
fake's reading in :mod:`awareness_analysis.fakeapi.behaviour`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from awareness_analysis.api.transport import (
    JsonDict,
    MimecastClient,
    Page,
    PageCursor,
    data_rows,
)
from awareness_analysis.errors import MimecastResponseError
from awareness_analysis.vocabulary import OUTCOMES, PHISH_STATUSES, RISK_GRADES

GET_CAMPAIGNS_PATH = "/api/awareness-training/campaign/get-campaigns"
GET_USER_DATA_PATH = "/api/awareness-training/campaign/get-user-data"

SEARCH_FIELDS = ("name", "email", "department", "customAttribute")
STATUSES = OUTCOMES
MAX_ATTRIBUTE_IDS = 3
DEFAULT_PAGE_SIZE = 500


@dataclass(frozen=True)
class UserDataFilter:
    """The optional part of a ``campaign/get-user-data`` request: search, status, attributes.

    Invalid combinations raise :class:`ValueError` on construction, before any request.
    """

    search_field: str | None = None
    search_value: str | None = None
    statuses: tuple[str, ...] = ()
    attribute_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "statuses", tuple(self.statuses))
        object.__setattr__(self, "attribute_ids", tuple(self.attribute_ids))
        if (self.search_field is None) != (self.search_value is None):
            raise ValueError(
                "searchBy needs both a field and a value, e.g. --search department=Finance."
            )
        if self.search_field is not None:
            if self.search_field not in SEARCH_FIELDS:
                raise ValueError(
                    f"searchBy fieldName {self.search_field!r} is not supported; use one of "
                    f"{', '.join(SEARCH_FIELDS)}."
                )
            if not isinstance(self.search_value, str) or not self.search_value.strip():
                raise ValueError(f"searchBy value for {self.search_field} is empty.")
        for status in self.statuses:
            if status not in STATUSES:
                raise ValueError(
                    f"filterBy status {status!r} is not supported; use one of "
                    f"{', '.join(STATUSES)}."
                )
        if len(set(self.statuses)) != len(self.statuses):
            raise ValueError(f"filterBy status repeats a value: {', '.join(self.statuses)}.")
        if len(self.attribute_ids) > MAX_ATTRIBUTE_IDS:
            raise ValueError(
                f"attributeIds holds {len(self.attribute_ids)} ids; the API accepts at most "
                f"{MAX_ATTRIBUTE_IDS}."
            )
        if any(not isinstance(a, str) or not a.strip() for a in self.attribute_ids):
            raise ValueError("attributeIds contains an empty id.")
        if self.search_field == "customAttribute" and not self.attribute_ids:
            raise ValueError(
                "searchBy customAttribute requires attributeIds (e.g. --attribute-id ID): "
                "the API searches the values of those custom attributes."
            )

    @property
    def is_empty(self) -> bool:
        return self.search_field is None and not self.statuses and not self.attribute_ids

    def parameters(self) -> JsonDict:
        """The filter as plain values, for snapshot manifests (never holds a secret)."""
        return {
            "search": None
            if self.search_field is None
            else {"field": self.search_field, "value": self.search_value},
            "statuses": list(self.statuses),
            "attribute_ids": list(self.attribute_ids),
        }


@dataclass(frozen=True)
class UserDataQuery:
    """One ``campaign/get-user-data`` request: a campaign id plus a :class:`UserDataFilter`."""

    campaign_id: str
    filter: UserDataFilter = UserDataFilter()

    def __post_init__(self) -> None:
        if not isinstance(self.campaign_id, str) or not self.campaign_id.strip():
            raise ValueError(
                "campaign_id is empty: pass a campaign id as listed by "
                "`awareness-analysis campaigns`."
            )

    def request_data(self) -> JsonDict:
        """The ``data[0]`` object of the request body."""
        data: JsonDict = {"id": self.campaign_id}
        f = self.filter
        if f.search_field is not None:
            data["searchBy"] = {"fieldName": f.search_field, "value": f.search_value}
        if f.statuses:
            data["filterBy"] = [{"fieldName": "status", "value": s} for s in f.statuses]
        if f.attribute_ids:
            data["attributeIds"] = list(f.attribute_ids)
        return data


def parse_search(text: str) -> tuple[str, str]:
    """Split ``FIELD=VALUE`` (as given on the command line) into its two parts."""
    field_name, sep, value = text.partition("=")
    if not sep or not field_name.strip() or not value.strip():
        raise ValueError(
            f"--search expects FIELD=VALUE with FIELD one of {', '.join(SEARCH_FIELDS)} "
            f"(got {text!r})."
        )
    return field_name.strip(), value.strip()


def _list_of_dicts(container: JsonDict, key: str, path: str) -> list[JsonDict]:
    value = container.get(key, [])
    if not isinstance(value, list) or any(not isinstance(v, dict) for v in value):
        raise MimecastResponseError(
            f"{path} answered with data[0].{key} that is not a list of objects."
        )
    return value


def list_campaigns(client: MimecastClient) -> list[JsonDict]:
    """All campaigns from ``campaign/get-campaigns`` (following ``next`` if it ever appears)."""
    campaigns: list[JsonDict] = []
    for page in client.paginate(
        GET_CAMPAIGNS_PATH,
        None,
        lambda first: _list_of_dicts(first, "campaigns", GET_CAMPAIGNS_PATH),
        page_size=None,
    ):
        campaigns.extend(page.items)
    return campaigns


def iter_user_data_pages(
    client: MimecastClient,
    query: UserDataQuery,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    start: PageCursor | None = None,
) -> Iterator[Page]:
    """Yield pages of ``campaign/get-user-data`` for one query; items are the user records.
    ``start`` resumes at a saved page token (see :meth:`MimecastClient.paginate`)."""
    return client.paginate(
        GET_USER_DATA_PATH,
        query.request_data(),
        lambda first: _list_of_dicts(first, "items", GET_USER_DATA_PATH),
        page_size=page_size,
        start=start,
    )


def get_user_data(
    client: MimecastClient, query: UserDataQuery, *, page_size: int = DEFAULT_PAGE_SIZE
) -> list[JsonDict]:
    """Every user record of one campaign matching ``query``."""
    items: list[JsonDict] = []
    for page in iter_user_data_pages(client, query, page_size=page_size):
        items.extend(page.items)
    return items


def campaign_ids(campaigns: Iterable[JsonDict]) -> list[str]:
    return [str(c.get("id")) for c in campaigns if isinstance(c, dict) and c.get("id")]


def describe(campaign: JsonDict) -> dict[str, Any]:
    """A short summary of a raw campaign, for the ``campaigns`` command."""
    title = campaign.get("title") if isinstance(campaign.get("title"), dict) else {}
    return {
        "id": campaign.get("id", ""),
        "name": campaign.get("name", ""),
        "module": str(title.get("title", "")).replace("_", " "),
        "launch_date": campaign.get("launchDate", ""),
        "num_sent": campaign.get("numSent", ""),
        "num_completed": campaign.get("numCompleted", ""),
    }


# -- behaviour endpoints: phishing, SAFE score, watch list, performance, training queue ------
#
# Two response shapes, one pagination path: phishing user data keeps its rows at
# ``data[0].items``; the company endpoints and the queue put their rows straight in ``data[]``
# (:func:`iter_row_pages`: :meth:`MimecastClient.paginate` with ``items_of=None``).

PHISHING_CAMPAIGNS_PATH = "/api/awareness-training/phishing/campaign/get-campaign"
PHISHING_USER_DATA_PATH = "/api/awareness-training/phishing/campaign/get-user-data"
SAFE_SCORE_DETAILS_PATH = "/api/awareness-training/company/get-safe-score-details"
SAFE_SCORE_SUMMARY_PATH = "/api/awareness-training/company/get-safe-score-summary"
WATCHLIST_DETAILS_PATH = "/api/awareness-training/company/get-watchlist-details"
PERFORMANCE_DETAILS_PATH = "/api/awareness-training/company/get-performance-details"
TRAINING_QUEUE_PATH = "/api/awareness-training/queue/get-queue"

#: The SAFE score fields that carry a grade (:data:`~awareness_analysis.vocabulary.RISK_GRADES`).
SAFE_SCORE_FIELDS = ("risk", "humanError", "sentiment", "engagement", "knowledge")
#: ``filterBy`` types of the watch list and of performance details (number of videos not
#: watched); they differ in their last choice.
WATCHLIST_VIDEO_FILTERS = (
    "video_count_0",
    "video_count_1",
    "video_count_2",
    "video_count_3",
    "video_count_4_or_more",
    "video_count_1_or_more",
)
PERFORMANCE_VIDEO_FILTERS = (
    "video_count_0",
    "video_count_1",
    "video_count_2",
    "video_count_3",
    "video_count_4_or_more",
    "video_count_all",
)
#: How performance ``filterBy`` is sent: sources disagree (an object, or an array of one).
FILTER_FORMS = ("object", "array")


def _search_request(
    search_field: str | None, search_value: str | None, attribute_ids: tuple[str, ...]
) -> JsonDict:
    """``searchBy`` and ``attributeIds`` after the same checks as the campaign endpoint's."""
    # UserDataFilter validates search and attribute ids (fields, at most 3, customAttribute
    # needs ids) with the messages the CLI already uses; its statuses are not involved.
    UserDataFilter(search_field, search_value, (), attribute_ids)
    data: JsonDict = {}
    if search_field is not None:
        data["searchBy"] = {"fieldName": search_field, "value": search_value}
    if attribute_ids:
        data["attributeIds"] = list(attribute_ids)
    return data


def _choices(values: Iterable[str], allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """``values`` checked against ``allowed`` (case-insensitively), in ``allowed``'s spelling."""
    by_fold = {a.casefold(): a for a in allowed}
    chosen: list[str] = []
    for value in values:
        if not isinstance(value, str) or value.casefold() not in by_fold:
            raise ValueError(f"{what} {value!r} is not supported; use one of {', '.join(allowed)}.")
        chosen.append(by_fold[value.casefold()])
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"{what} repeats a value: {', '.join(chosen)}.")
    return tuple(chosen)


@dataclass(frozen=True)
class PhishingUserFilter:
    """The optional part of a ``phishing/campaign/get-user-data`` request.

    ``statuses`` (a union) from :data:`PHISH_STATUSES`, any case; search and attribute ids
    as for :class:`UserDataFilter`. Invalid values raise :class:`ValueError` on construction.
    """

    statuses: tuple[str, ...] = ()
    search_field: str | None = None
    search_value: str | None = None
    attribute_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.statuses, str):
            raise ValueError("statuses must be a sequence of statuses, e.g. ('clicked',).")
        object.__setattr__(
            self, "statuses", _choices(self.statuses, PHISH_STATUSES, "filterBy status")
        )
        object.__setattr__(self, "attribute_ids", tuple(self.attribute_ids))
        _search_request(self.search_field, self.search_value, self.attribute_ids)

    def request_data(self, campaign_id: str) -> JsonDict:
        """The ``data[0]`` object of the request body for ``campaign_id``."""
        data: JsonDict = {"id": campaign_id}
        if self.statuses:
            data["filterBy"] = [{"fieldName": "status", "value": s} for s in self.statuses]
        data.update(_search_request(self.search_field, self.search_value, self.attribute_ids))
        return data


@dataclass(frozen=True)
class SafeScoreFilter:
    """The optional ``data[0]`` of ``company/get-safe-score-details``: ``grades`` (a union,
    A-F, any case) of ``grade_field`` (``risk`` by default), search and attribute ids."""

    grades: tuple[str, ...] = ()
    grade_field: str = "risk"
    search_field: str | None = None
    search_value: str | None = None
    attribute_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.grades, str):
            raise ValueError("grades must be a sequence of grades, e.g. ('D', 'F').")
        object.__setattr__(self, "grades", _choices(self.grades, RISK_GRADES, "grade"))
        if self.grade_field not in SAFE_SCORE_FIELDS:
            raise ValueError(
                f"grade_field {self.grade_field!r} is not supported; use one of "
                f"{', '.join(SAFE_SCORE_FIELDS)}."
            )
        object.__setattr__(self, "attribute_ids", tuple(self.attribute_ids))
        _search_request(self.search_field, self.search_value, self.attribute_ids)

    def request_data(self) -> JsonDict | None:
        """The ``data[0]`` object, or ``None`` (send ``"data": []``) when nothing is asked."""
        data: JsonDict = {}
        if self.grades:
            data["filterBy"] = [{"fieldName": self.grade_field, "value": g} for g in self.grades]
        data.update(_search_request(self.search_field, self.search_value, self.attribute_ids))
        return data or None


def _video_filter(
    video_filter: str | None, allowed: tuple[str, ...], form: str = "object"
) -> JsonDict | list[JsonDict] | None:
    if form not in FILTER_FORMS:
        raise ValueError(
            f"filter_form {form!r} is not supported; use one of {', '.join(FILTER_FORMS)}."
        )
    if video_filter is None:
        return None
    if video_filter not in allowed:
        raise ValueError(
            f"filterBy type {video_filter!r} is not supported here; use one of "
            f"{', '.join(allowed)}."
        )
    entry: JsonDict = {"type": video_filter}
    return entry if form == "object" else [entry]


def iter_row_pages(
    client: MimecastClient,
    path: str,
    data: Mapping[str, Any] | None,
    *,
    page_size: int | None = DEFAULT_PAGE_SIZE,
    start: PageCursor | None = None,
) -> Iterator[Page]:
    """Yield the pages of an endpoint whose records are the envelope's ``data`` list itself:
    :meth:`MimecastClient.paginate` with ``items_of=None`` (same request body, ``next`` tokens,
    ``start`` cursor, loop guards and ``totalCount`` check). Each page's ``items`` are the rows;
    its ``data`` is ``{}``. ``page_size=None`` sends no pagination meta (the whole list at once,
    ``next`` still followed if it appears)."""
    return client.paginate(path, data, None, page_size=page_size, start=start)


def _all_items(pages: Iterable[Page]) -> list[JsonDict]:
    items: list[JsonDict] = []
    for page in pages:
        items.extend(page.items)
    return items


def list_phishing_campaigns(client: MimecastClient) -> list[JsonDict]:
    """Every phishing campaign from ``phishing/campaign/get-campaign`` (rows at ``data[]``)."""
    return _all_items(iter_row_pages(client, PHISHING_CAMPAIGNS_PATH, None, page_size=None))


def get_phishing_campaign(client: MimecastClient, campaign_id: str) -> JsonDict:
    """One phishing campaign by id (the endpoint's optional ``data[0].id``)."""
    _require_campaign_id(campaign_id)
    rows = _all_items(
        iter_row_pages(client, PHISHING_CAMPAIGNS_PATH, {"id": campaign_id}, page_size=None)
    )
    if len(rows) != 1:
        raise MimecastResponseError(
            f"{PHISHING_CAMPAIGNS_PATH} answered {len(rows)} campaigns for id {campaign_id!r}, "
            "not one."
        )
    return rows[0]


def _require_campaign_id(campaign_id: str) -> None:
    if not isinstance(campaign_id, str) or not campaign_id.strip():
        raise ValueError(
            "campaign_id is empty: pass a phishing campaign id as listed by "
            "list_phishing_campaigns()."
        )


def iter_phishing_user_pages(
    client: MimecastClient,
    campaign_id: str,
    filter: PhishingUserFilter | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    start: PageCursor | None = None,
) -> Iterator[Page]:
    """Yield pages of ``phishing/campaign/get-user-data``; items are the rows of
    ``data[0].items``. ``start`` resumes at a saved page token."""
    _require_campaign_id(campaign_id)
    data = (filter or PhishingUserFilter()).request_data(campaign_id)
    return client.paginate(
        PHISHING_USER_DATA_PATH,
        data,
        lambda first: _list_of_dicts(first, "items", PHISHING_USER_DATA_PATH),
        page_size=page_size,
        start=start,
    )


def get_phishing_user_data(
    client: MimecastClient,
    campaign_id: str,
    filter: PhishingUserFilter | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> list[JsonDict]:
    """Every row of one phishing campaign matching ``filter``, unchanged."""
    return _all_items(iter_phishing_user_pages(client, campaign_id, filter, page_size))


def iter_safe_score_pages(
    client: MimecastClient,
    filter: SafeScoreFilter | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    start: PageCursor | None = None,
) -> Iterator[Page]:
    """Yield pages of ``company/get-safe-score-details`` (rows at ``data[]``)."""
    data = (filter or SafeScoreFilter()).request_data()
    return iter_row_pages(client, SAFE_SCORE_DETAILS_PATH, data, page_size=page_size, start=start)


def get_safe_score_details(
    client: MimecastClient,
    filter: SafeScoreFilter | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> list[JsonDict]:
    """Every person's SAFE score row (``emailAddress``, ``risk`` A-F, ...), unchanged."""
    return _all_items(iter_safe_score_pages(client, filter, page_size=page_size))


def get_safe_score_summary(client: MimecastClient) -> JsonDict:
    """``data[0].scoreCounts`` of ``company/get-safe-score-summary``: people per risk grade,
    keyed ``a`` to ``f``, unchanged."""
    envelope = client.post(SAFE_SCORE_SUMMARY_PATH, {"data": []})
    rows = data_rows(envelope, SAFE_SCORE_SUMMARY_PATH)
    counts = rows[0].get("scoreCounts") if rows else None
    if not isinstance(counts, dict):
        raise MimecastResponseError(
            f"{SAFE_SCORE_SUMMARY_PATH} answered without a data[0].scoreCounts object."
        )
    return counts


def iter_watchlist_pages(
    client: MimecastClient,
    video_filter: str | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    start: PageCursor | None = None,
) -> Iterator[Page]:
    """Yield pages of ``company/get-watchlist-details`` (rows at ``data[]``)."""
    filter_by = _video_filter(video_filter, WATCHLIST_VIDEO_FILTERS)
    data = None if filter_by is None else {"filterBy": filter_by}
    return iter_row_pages(client, WATCHLIST_DETAILS_PATH, data, page_size=page_size, start=start)


def get_watchlist_details(
    client: MimecastClient, video_filter: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
) -> list[JsonDict]:
    """Every watch-list row, unchanged: the address is ``email`` on some rows and
    ``emailAddress`` on others (sources differ), so read both."""
    return _all_items(iter_watchlist_pages(client, video_filter, page_size=page_size))


def performance_request(
    include_user_details: bool = False,
    video_filter: str | None = None,
    *,
    filter_form: str = "object",
    search_field: str | None = None,
    search_value: str | None = None,
    attribute_ids: Iterable[str] = (),
) -> JsonDict:
    """The single ``data`` object of a ``company/get-performance-details`` request.

    ``filter_form`` sends ``filterBy`` as ``{"type": ...}`` (``"object"``) or
    ``[{"type": ...}]`` (``"array"``): the sources disagree, so the caller can pick the one
    their account accepts.
    """
    if not isinstance(include_user_details, bool):
        raise ValueError("include_user_details must be True or False.")
    data: JsonDict = {"includeUserDetails": include_user_details}
    filter_by = _video_filter(video_filter, PERFORMANCE_VIDEO_FILTERS, filter_form)
    if filter_by is not None:
        data["filterBy"] = filter_by
    data.update(_search_request(search_field, search_value, tuple(attribute_ids)))
    return data


def iter_performance_pages(
    client: MimecastClient,
    include_user_details: bool = False,
    video_filter: str | None = None,
    *,
    filter_form: str = "object",
    search_field: str | None = None,
    search_value: str | None = None,
    attribute_ids: Iterable[str] = (),
    page_size: int = DEFAULT_PAGE_SIZE,
    start: PageCursor | None = None,
) -> Iterator[Page]:
    """Yield pages of ``company/get-performance-details`` (rows at ``data[]``)."""
    data = performance_request(
        include_user_details,
        video_filter,
        filter_form=filter_form,
        search_field=search_field,
        search_value=search_value,
        attribute_ids=attribute_ids,
    )
    return iter_row_pages(client, PERFORMANCE_DETAILS_PATH, data, page_size=page_size, start=start)


def get_performance_details(
    client: MimecastClient,
    include_user_details: bool = False,
    video_filter: str | None = None,
    *,
    filter_form: str = "object",
    search_field: str | None = None,
    search_value: str | None = None,
    attribute_ids: Iterable[str] = (),
    page_size: int = DEFAULT_PAGE_SIZE,
) -> list[JsonDict]:
    """Every performance row (``numCorrect``, ``numIncorrect``, ``numNotWatched``, and
    ``userDetails`` of unknown shape when asked for), unchanged."""
    return _all_items(
        iter_performance_pages(
            client,
            include_user_details,
            video_filter,
            filter_form=filter_form,
            search_field=search_field,
            search_value=search_value,
            attribute_ids=attribute_ids,
            page_size=page_size,
        )
    )


def get_training_queue(client: MimecastClient) -> list[JsonDict]:
    """Every entry of ``queue/get-queue`` (rows at ``data[]``), unchanged."""
    return _all_items(iter_row_pages(client, TRAINING_QUEUE_PATH, None, page_size=None))
