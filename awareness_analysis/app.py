"""Entry points that wire the layers together for notebooks and scripts.

:func:`load_analysis` chooses the store (a path, ``$AWARENESS_STORE``, or the demo store,
built on first use) and opens it. Only the demo store needs the fetch side and the local fake
API, so they are imported when it has to be built, never when a store is given.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from awareness_analysis.analysis.session import Analysis, open_analysis
from awareness_analysis.data.people_file import people_options_from_env
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.vocabulary import STORE_ENV


def open_store(store_path: str | os.PathLike[str] | None = None) -> SnapshotStore:
    """The store at ``store_path``; else ``$AWARENESS_STORE``; else the demo store.

    The demo store is built on first use (about a second), so notebooks run on a fresh machine
    with no credentials.
    """
    if store_path is not None and str(store_path).strip():
        return SnapshotStore(store_path)
    from_env = os.environ.get(STORE_ENV, "").strip()
    if from_env:
        return SnapshotStore(from_env)
    from awareness_analysis.demo import ensure_demo_store  # the fetch side, only for the demo

    return ensure_demo_store()


def load_analysis(
    store_path: str | os.PathLike[str] | None = None,
    *,
    at: datetime | str | None = None,
    **options: Any,
) -> Analysis:
    """Open the store :func:`open_store` chooses and load its analysis.

    ``options`` are those of :func:`awareness_analysis.analysis.session.open_analysis`
    (``min_group_size``, ``pseudonymise``, ``campaign_ids``, ``snapshot_id``, ``key_file``,
    ``report``, ``people_file``, ``people_key``, ``group_by``, ``department_from``).

    People file options left unset (None) come from ``$AWARENESS_PEOPLE``,
    ``$AWARENESS_PEOPLE_KEY``, ``$AWARENESS_GROUP_BY`` and ``$AWARENESS_DEPARTMENT_FROM`` in an
    interactive session (``make lab``); never in a report run, whose options the renderer sets.
    """
    if not options.get("report"):
        for name, value in people_options_from_env().items():
            if options.get(name) is None:
                options[name] = value
    return open_analysis(open_store(store_path), at=at, **options)
