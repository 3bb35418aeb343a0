"""The figures a chart or table publishes, as records: for ``figures.csv``, the Data tables
under report charts, and the disclosure audit of a report run.

One record per published number group: a rate with its numerator, n, people and interval, for
one (campaign, department, question) of one view of one chart. ``campaign`` and ``department``
are a name, ``all`` for everything in the view's selection, or ``(suppressed)`` for a combined
hidden group; a figure pooled over some of the campaigns names them, joined by `` + ``
(:func:`campaign_list`). Rows a plan or the k rule hides are returned marked ``hidden`` (their
numbers are never published, but the audit must know they were hidden).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ALL",
    "CAMPAIGN_JOINER",
    "FIGURE_COLUMNS",
    "campaign_list",
    "data_table_html",
    "figure_number",
    "figure_records",
]

#: The columns of ``figures.csv`` (and of every Data table, page and view aside).
FIGURE_COLUMNS = (
    "page",
    "view",
    "chart",
    "metric",
    "campaign",
    "department",
    "question",
    "numerator",
    "n",
    "people",
    "rate",
    "ci_low",
    "ci_high",
)
#: ``campaign`` / ``department`` of a figure that covers everything in its view.
ALL = "all"
#: Joins the campaigns a pooled figure covers (see :func:`campaign_list`).
CAMPAIGN_JOINER = " + "
_SHOWN = FIGURE_COLUMNS[3:]


def campaign_list(names: Sequence[str]) -> str:
    """The ``campaign`` of a figure pooled over ``names`` (in the order given, e.g. launch
    order): the names joined by :data:`CAMPAIGN_JOINER`, so a reader (or an auditor) knows
    exactly which campaigns a trend or a repeat-miss rate counts."""
    if not names:
        raise ValueError("campaign_list needs at least one campaign name.")
    return CAMPAIGN_JOINER.join(str(n) for n in names)


def figure_number(value: Any) -> float | int | None:
    """A published number as plain Python (None when missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    if isinstance(value, float | np.floating):
        return float(value)
    return int(value)  # counts: Python, numpy or pandas integers


def figure_records(
    table: pd.DataFrame,
    *,
    view: str,
    chart: str,
    campaign: str = ALL,
    department: str = ALL,
) -> list[dict[str, Any]]:
    """The records of an engine table (campaign rates, question accuracy or department
    comparison) shown in ``view`` of ``chart``. ``campaign`` / ``department``: the view's own
    scope (a name, or ``all``). Tables made without a disclosure plan have no cells; their
    records carry ``cell`` None."""
    records = []
    cells = table["cell"] if "cell" in table else [None] * len(table)
    for (_, row), cell in zip(table.iterrows(), cells, strict=True):
        records.append(
            {
                "view": view,
                "chart": chart,
                "metric": str(row["metric"]),
                "campaign": str(row["campaign_name"]) if "campaign_name" in table else campaign,
                "department": str(row["department"]) if "department" in table else department,
                "question": int(row["question"]) if "question" in table else "",
                "numerator": figure_number(row["successes"]),
                "n": figure_number(row["n"]),
                "people": figure_number(row["people"]),
                "rate": figure_number(row["rate"]),
                "ci_low": figure_number(row["ci_low"]),
                "ci_high": figure_number(row["ci_high"]),
                "hidden": bool(row["suppressed"]) or pd.isna(row["n"]),
                "cell": cell,
            }
        )
    org = table.attrs.get("org_n") if "department" in table else None
    if "department" in table and ("org_cell" in table.attrs or org is not None):
        attrs = table.attrs
        rate = attrs.get("org_rate")
        records.append(
            {
                "view": view,
                "chart": chart,
                "metric": str(attrs.get("metric", "")),
                "campaign": campaign,
                "department": ALL,
                "question": "",
                "numerator": figure_number(attrs.get("org_successes")),
                "n": figure_number(org),
                "people": figure_number(attrs.get("org_people")),
                "rate": figure_number(rate),
                "ci_low": figure_number(attrs.get("org_ci_low")),
                "ci_high": figure_number(attrs.get("org_ci_high")),
                "hidden": bool(attrs.get("org_suppressed")) or org is None,
                "cell": attrs.get("org_cell"),
            }
        )
    return records


def _cell_text(value: Any, column: str) -> str:
    if value is None or value == "":
        return ""
    if column in ("rate", "ci_low", "ci_high"):
        return f"{float(value):.4f}"
    return html.escape(str(value))


def data_table_html(records: Sequence[dict[str, Any]], title: str = "Data") -> str:
    """The published records as a collapsed HTML table (hidden rows left out), for screen
    readers and copy-paste: the same numbers ``figures.csv`` holds, to four decimals."""
    shown = [r for r in records if not r["hidden"]]
    if not shown:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in _SHOWN)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell_text(r[c], c)}</td>" for c in _SHOWN) + "</tr>" for r in shown
    )
    return (
        f'<details class="aa-data"><summary>{html.escape(title)}</summary>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"
    )
