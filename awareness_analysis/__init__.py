"""awareness-analysis: Mimecast Awareness Training campaign data as tidy pandas frames.

The public API, importable from here (loaded on first use, so ``import awareness_analysis``
stays light and the fetch side is imported only by what fetches):

* opening data: :func:`load_analysis`, :class:`Analysis`, :class:`SnapshotStore`,
  :class:`Frames`, :class:`Selection`;
* metrics: :func:`campaign_rates`, :func:`question_accuracy`, :func:`department_comparison`,
  :data:`DEFINITIONS`;
* privacy: :func:`suppress_departments`, :func:`pseudonymise`, :func:`person_keys` (who is one
  person);
* fetching: :class:`MimecastClient`, :func:`load_settings`, :func:`fetch_snapshot`;
* reports: :func:`render_reports`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("awareness-analysis")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# Public name -> module defining it.
_PUBLIC = {
    "load_analysis": "awareness_analysis.app",
    "Analysis": "awareness_analysis.analysis.session",
    "open_analysis": "awareness_analysis.analysis.session",
    "SnapshotStore": "awareness_analysis.data.store",
    "Frames": "awareness_analysis.data.frames",
    "build_frames": "awareness_analysis.data.frames",
    "Selection": "awareness_analysis.analysis.filters",
    "Engine": "awareness_analysis.analysis.engine",
    "DEFINITIONS": "awareness_analysis.analysis.metrics",
    "campaign_rates": "awareness_analysis.analysis.metrics",
    "question_accuracy": "awareness_analysis.analysis.metrics",
    "department_comparison": "awareness_analysis.analysis.metrics",
    "suppress_departments": "awareness_analysis.analysis.privacy",
    "pseudonymise": "awareness_analysis.analysis.privacy",
    "person_keys": "awareness_analysis.analysis.privacy",
    "MimecastClient": "awareness_analysis.api.transport",
    "load_settings": "awareness_analysis.api.config",
    "fetch_snapshot": "awareness_analysis.api.fetch",
    "render_reports": "awareness_analysis.views.report",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'awareness_analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
