"""How a chart leaves matplotlib: one image form for dashboards, notebooks and reports.

Charts are SVG with text kept as text (``svg.fonttype: none``): sharp on HiDPI screens and in
print, a fraction of a PNG's size, searchable and readable by screen readers, and quicker to
produce than rasterising glyphs. Ids inside each SVG are salted with a caller-given key, so many
charts inline in one page never share a clip-path id, and the same chart gives the same bytes.
"""

from __future__ import annotations

import html
import io
import re

import matplotlib
from IPython.display import SVG
from matplotlib.figure import Figure

__all__ = ["figure_display", "figure_html", "figure_svg"]

# Text stays text; no creation date, so the same chart is the same bytes.
_SVG_RC = {"svg.fonttype": "none"}
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def figure_svg(figure: Figure, key: str = "chart") -> str:
    """The figure as a standalone ``<svg>`` element (no XML prologue, no metadata)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**_SVG_RC, "svg.hashsalt": key}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = _PROLOGUE.sub("", buffer.getvalue(), count=1)
    return _METADATA.sub("", text, count=1)


def figure_display(figure: Figure, key: str = "chart") -> SVG:
    """What a dashboard's Output widget (and a notebook cell) shows for the figure."""
    return SVG(figure_svg(figure, key))


def figure_html(figure: Figure, alt: str, key: str) -> str:
    """The figure inline in a report page, labelled for screen readers."""
    svg = figure_svg(figure, key)
    return f'<figure class="aa-chart" role="img" aria-label="{html.escape(alt)}">{svg}</figure>'
