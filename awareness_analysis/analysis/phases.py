"""Where each campaign stands on the day its data was fetched: still running, or completed.

The API has no campaign status. A campaign counts as **running** while fewer than
:data:`RUNNING_DAYS` days have passed between its launch and the snapshot's fetch time: people are
still receiving and answering it, so its low completion is progress, not failure. Campaigns
without a launch date count as completed (they sort last and cannot be dated).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

__all__ = ["RUNNING_DAYS", "annotate_campaigns", "campaign_phases", "question_label"]

#: Days after launch during which a campaign counts as running (Mimecast's default reminder
#: cycle ends well within this; an analyst can pass another value).
RUNNING_DAYS = 30


def as_utc(value: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """``value`` as a UTC timestamp; a naive time is taken as UTC (snapshot times are UTC)."""
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        raise ValueError(f"Expected a date and time, got a missing value ({value!r}).")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def campaign_phases(
    campaigns: pd.DataFrame, as_of: datetime | pd.Timestamp, running_days: int = RUNNING_DAYS
) -> pd.DataFrame:
    """One row per campaign: ``campaign_id``, ``campaign_name``, ``module_title``,
    ``launch_date``, ``days_since_launch`` (whole days at ``as_of``; NaN without a launch date)
    and ``running``.

    ``as_of`` is the snapshot's fetch time (a naive datetime is taken as UTC).
    """
    if isinstance(running_days, bool) or not isinstance(running_days, int) or running_days < 0:
        raise ValueError(f"running_days must be a whole number of days >= 0, not {running_days!r}")
    when = as_utc(as_of)
    launch = pd.to_datetime(campaigns["launch_date"], utc=True)
    elapsed = (when - launch) / pd.Timedelta(days=1)
    days = np.floor(elapsed.to_numpy(dtype=float, na_value=np.nan))
    running = (days >= 0) & (days < running_days)  # NaN compares False: undated = completed
    return pd.DataFrame(
        {
            "campaign_id": campaigns["campaign_id"].astype(str).to_numpy(),
            "campaign_name": campaigns["campaign_name"].astype(str).to_numpy(),
            "module_title": (
                campaigns["module_title"].astype(str).to_numpy()
                if "module_title" in campaigns
                else np.full(len(campaigns), "", dtype=object)
            ),
            "launch_date": launch.to_numpy(),
            "days_since_launch": days,
            "running": running,
        }
    )


def annotate_campaigns(table: pd.DataFrame, phases: pd.DataFrame) -> pd.DataFrame:
    """``table`` (any table with ``campaign_id``) with ``running``, ``days_since_launch`` and
    ``module_title`` columns from ``phases``; campaigns not in ``phases`` count as completed,
    with no module title. The input is left alone."""
    out = table.copy()
    if "campaign_id" not in out or phases.empty:
        out["running"] = False
        out["days_since_launch"] = np.nan
        out["module_title"] = ""
        return out
    by_id = phases.set_index("campaign_id")
    ids = out["campaign_id"].astype(str)
    out["running"] = ids.map(by_id["running"]).fillna(False).astype(bool).to_numpy()
    out["days_since_launch"] = ids.map(by_id["days_since_launch"]).astype(float).to_numpy()
    out["module_title"] = ids.map(by_id["module_title"]).fillna("").astype(str).to_numpy()
    return out


def question_label(question: int, module_title: str) -> str:
    """How a question is named to readers: "Q3 · Spot the Spoof" (the API has no question
    text; the module title says which course it belongs to)."""
    title = module_title.strip()
    return f"Q{int(question)} \u00b7 {title}" if title else f"Q{int(question)}"
