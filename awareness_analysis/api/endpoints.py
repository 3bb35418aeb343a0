"""The Awareness Training campaign endpoints: what to ask for, validated before anything is sent.

Request bodies follow the recorded API traffic, which differs from the vendor's page: the
campaign goes in ``data[0].id``, users come back at ``data[0].items`` and campaigns at
``data[0].campaigns``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from awareness_analysis.api.transport import JsonDict, MimecastClient, Page, PageCursor
from awareness_analysis.errors import MimecastResponseError
from awareness_analysis.vocabulary import OUTCOMES

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
