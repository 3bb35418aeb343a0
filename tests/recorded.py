"""The recorded real API 1.0 traffic (tests/data/recorded-exchanges.json), as raw API dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).parent / "data" / "recorded-exchanges.json"


def load_recorded() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Campaigns and user items (keyed by the requested campaign id) of the recorded traffic."""
    exchanges = json.loads(RECORDED.read_text(encoding="utf-8"))["exchanges"]
    campaigns: list[dict[str, Any]] = []
    items: dict[str, list[dict[str, Any]]] = {}
    for exchange in exchanges:
        body = exchange["response"]["body"]
        if exchange["request"]["path"].endswith("/get-campaigns"):
            campaigns = body["data"][0]["campaigns"]
        else:
            items[exchange["request"]["body"]["data"][0]["id"]] = body["data"][0]["items"]
    return campaigns, items
