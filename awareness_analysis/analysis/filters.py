"""What part of the data a view shows: one :class:`Selection` for metrics, widgets and notebooks.

A selection narrows the users frame by campaign, department, outcome (status), user state and a
free-text search, the way the Mimecast campaign page filters its user list. Every empty field
means "no restriction", so ``Selection()`` selects everything. The analysis engine
(:mod:`awareness_analysis.analysis.engine`) applies it: campaigns and statuses choose the
organisation (the baseline of every comparison, and where group sizes are judged for
suppression); departments and the search choose what is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from awareness_analysis.vocabulary import OUTCOMES, STATUS_LABELS

__all__ = ["STATUSES", "Selection"]

# Outcome values a status filter may name (sent = nothing answered yet).
STATUSES = OUTCOMES
# How many values describe() lists before summarising the rest as "and N more".
_DESCRIBE_MAX_ITEMS = 3


def _as_tuple(values: str | Iterable[str] | None) -> tuple[str, ...]:
    # A lone string is one value, not a sequence of characters.
    if values is None:
        return ()
    if isinstance(values, str):
        return (values,)
    return tuple(str(value) for value in values)


def _listing(values: tuple[str, ...]) -> str:
    if not values:
        return "all"
    if len(values) <= _DESCRIBE_MAX_ITEMS:
        return ", ".join(values)
    shown = ", ".join(values[:_DESCRIBE_MAX_ITEMS])
    return f"{shown} and {len(values) - _DESCRIBE_MAX_ITEMS} more"


@dataclass(frozen=True)
class Selection:
    """Filters for the users frame; every empty field means "all".

    ``campaign_ids``: campaigns to keep (ids as in ``campaign_id``). ``departments``: department
    names (after suppression this may include ``"(suppressed)"``). ``statuses``: outcomes, any
    of ``sent``, ``correct``, ``incorrect`` (case-insensitive; others raise ValueError).
    ``user_states``: values of ``user_state`` such as ``ACTIVE`` (checked against the frame
    when applied, since the API defines no fixed list). ``search``: text looked for in name,
    email and department, case-insensitive and literally (no regex, surrounding spaces
    ignored). Fields combine with AND; values within one field with OR. Lists are accepted and
    stored as tuples.
    """

    campaign_ids: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    user_states: tuple[str, ...] = ()
    search: str = ""

    def __post_init__(self) -> None:
        statuses = tuple(s.strip().lower() for s in _as_tuple(self.statuses))
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise ValueError(
                f"Unknown status {', '.join(map(repr, unknown))}; "
                f"valid statuses are {', '.join(STATUSES)}."
            )
        # Frozen dataclass: normalised values are set through object.__setattr__.
        object.__setattr__(self, "campaign_ids", _as_tuple(self.campaign_ids))
        object.__setattr__(self, "departments", _as_tuple(self.departments))
        object.__setattr__(self, "statuses", statuses)
        object.__setattr__(self, "user_states", _as_tuple(self.user_states))
        object.__setattr__(self, "search", (self.search or "").strip())

    @property
    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return not (
            self.campaign_ids
            or self.departments
            or self.statuses
            or self.user_states
            or self.search
        )

    def mask(self, users: pd.DataFrame) -> np.ndarray:
        """Boolean array: which rows of ``users`` the selection keeps (no suppression)."""
        from awareness_analysis.analysis.engine import Engine  # the engine applies selections

        return Engine(users).view(self, 0).shown

    def apply(self, users: pd.DataFrame) -> pd.DataFrame:
        """The rows of the users frame this selection keeps (a new frame; dtypes unchanged).

        Row-level frames are not suppressed; for figures fit to share use
        :meth:`awareness_analysis.analysis.engine.Engine.view`.
        """
        return users.loc[self.mask(users)].copy()

    def apply_answers(self, answers: pd.DataFrame, selected_users: pd.DataFrame) -> pd.DataFrame:
        """Answers of the users in ``selected_users``, matched on ``campaign_id`` and ``email``."""
        from awareness_analysis.analysis.engine import Engine

        return Engine(selected_users, answers).view().answers().copy()

    def describe(self, campaign_names: Mapping[str, str] | None = None) -> str:
        """Short text for chart titles, e.g. ``Campaigns: Phishing Basics; Departments: all;
        Status: incorrect; Search: 'smith'``. Statuses are named in the vocabulary's words
        ("not answered" for ``sent``).

        Campaigns are shown by name when ``campaign_names`` (id -> name) knows them, else by
        id. Campaigns, departments and status are always listed ("all" when not filtered); user
        state and search only when set. Long lists end in "and N more".
        """
        names = campaign_names or {}
        campaigns = tuple(names.get(cid) or cid for cid in self.campaign_ids)
        parts = [
            f"Campaigns: {_listing(campaigns)}",
            f"Departments: {_listing(self.departments)}",
            f"Status: {_listing(tuple(STATUS_LABELS.get(s, s) for s in self.statuses))}",
        ]
        if self.user_states:
            parts.append(f"User state: {_listing(self.user_states)}")
        if self.search:
            parts.append(f"Search: {self.search!r}")
        return "; ".join(parts)
