"""The data a fake Mimecast API serves: campaigns and user items in the real API's shapes.

This is the contract between the demo organisation (which builds a dataset), the fake API server
(which serves it) and the frame builder (which parses what the client fetched back).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ApiDict = dict[str, Any]


@dataclass
class FakeDataset:
    """Campaigns and per-campaign user items in the recorded API 1.0 shapes.

    ``campaigns``: items of ``data[0].campaigns`` from ``campaign/get-campaigns``.
    ``users``: campaign id -> items of ``data[0].items`` from ``campaign/get-user-data``.
    ``attributes``: email -> {custom attribute id: value}; never returned in items, only used to
    answer ``searchBy`` ``customAttribute`` requests.
    """

    campaigns: list[ApiDict]
    users: dict[str, list[ApiDict]]
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def campaign_ids(self) -> list[str]:
        return [campaign["id"] for campaign in self.campaigns]

    def user_count(self) -> int:
        return sum(len(items) for items in self.users.values())
