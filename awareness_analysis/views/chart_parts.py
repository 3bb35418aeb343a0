"""Pieces the chart modules share (:mod:`~awareness_analysis.views.plots` and
:mod:`~awareness_analysis.views.behaviour`): the page width and smallest text size, a figure's
frame (title block and footnote, no layout engine) that a dashboard can hand back to be redrawn
into, its "no data" form, and small number helpers.

Each chart module measures its own title block and footnote (their wrapping and line heights
differ, see the modules) into a :class:`Chrome`; :func:`new_figure` then makes (or empties and
reuses) the figure around it. A figure is reused only for the chart and number of axes it was
made for, and what is drawn into a reused figure is byte for byte what a new one gives
(tests/test_render.py, tests/test_behaviour_views.py).
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from awareness_analysis.views.text import wrap_to

__all__ = [
    "FIGURE_WIDTH",
    "GRID_COLOUR",
    "MIN_TEXT_SIZE",
    "NEUTRAL",
    "NO_DATA_MESSAGE",
    "TICK_SIZE",
    "Chrome",
    "add_axes",
    "count_text",
    "fixed_label_positions",
    "floats",
    "merge_notes",
    "new_figure",
    "no_data_figure",
    "open_axes",
    "suppression_note",
    "wrapped_chrome",
]

#: Width in inches: fits a notebook cell and an HTML report without rescaling the text.
FIGURE_WIDTH = 10.0
#: Smallest text on any chart, in points: a report shows charts at their natural size
#: (FIGURE_WIDTH 10 in = 720 pt = 960 CSS px, 1 pt = 4/3 px), so 8.5 pt is 11.3 px.
MIN_TEXT_SIZE = 8.5
#: Grey for text and groups that need no attention; not a palette hue, so it never competes.
NEUTRAL = "#6E6E6E"
NO_DATA_MESSAGE = "No data for this selection"

TITLE_SIZE = 12.0
FOOTNOTE_SIZE = MIN_TEXT_SIZE
MESSAGE_SIZE = 13.0
WIDTH_PT = FIGURE_WIDTH * 72  # points
EDGE = 7.2  # points kept free at the figure's edges
#: Panel titles sit at the top of their axes. Automatic placement would put them there too
#: (nothing is drawn above these axes), but it measures every tick label again on each draw;
#: a fixed position draws the same pixels in less time.
TITLE_Y = 1.0


@dataclass(frozen=True)
class Chrome:
    """A chart's title block and footnote, wrapped to the figure's width and measured.

    ``top`` and ``bottom`` (points) are what they take from the figure's top and bottom edge,
    gaps included; the chart's body goes between.
    """

    heading: str
    footnote: str
    top: float
    bottom: float


# The chart and number of axes of each figure made here, so a figure handed back for reuse is
# reused only for the same chart with the same panels (weak: a figure dropped is forgotten).
_MADE: weakref.WeakKeyDictionary[Figure, tuple[str, int]] = weakref.WeakKeyDictionary()
# Figure texts a chart adds besides its title: taken out before a figure is reused.
_FIGURE_TEXTS = ("footnote", "no-data")


def new_figure(
    chrome: Chrome, body: float, chart: str, n_axes: int, reuse: Figure | None = None
) -> Figure:
    """A figure ``body`` points tall between its title block and footnote (no layout engine:
    the plot functions place their axes themselves, with :func:`add_axes`).

    ``reuse``, a figure made here for the same ``chart`` with ``n_axes`` axes, is emptied and
    returned instead of a new one: its axes and their ticks stay (making those is most of the
    cost of a chart), everything drawn into them goes, and the caller draws as into a new one.
    """
    height = chrome.top + body + chrome.bottom
    if reuse is not None and _MADE.get(reuse) == (chart, n_axes):
        fig = reuse
        _empty(fig)
        fig.set_size_inches(FIGURE_WIDTH, height / 72)
    else:
        fig = Figure(figsize=(FIGURE_WIDTH, height / 72))
        _MADE[fig] = (chart, n_axes)
    fig.suptitle(
        chrome.heading,
        fontsize=TITLE_SIZE,
        x=EDGE / WIDTH_PT,
        y=1.0 - EDGE / height,
        ha="left",
        va="top",
    )
    if chrome.footnote:
        fig.text(
            EDGE / WIDTH_PT,
            EDGE / height,
            chrome.footnote,
            ha="left",
            va="bottom",
            fontsize=FOOTNOTE_SIZE,
            color=NEUTRAL,
            gid="footnote",
        )
    return fig


def _empty(fig: Figure) -> None:
    """Take a figure made here back to its frame: axes, ticks and styles stay; the artists
    drawn into the axes, legends and the footnote go (the title is set again)."""
    for ax in fig.axes:
        for artist in (*ax.lines, *ax.collections, *ax.texts, *ax.patches):
            artist.remove()
        ax.containers.clear()
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
    for text in [t for t in fig.texts if t.get_gid() in _FIGURE_TEXTS]:
        text.remove()


def add_axes(
    fig: Figure, left: float, bottom: float, width: float, height: float, index: int = 0
) -> Axes:
    """The figure's ``index``-th axes (a new one unless the figure is reused) at a rectangle
    given in points from the figure's bottom-left corner."""
    fig_height = fig.get_figheight() * 72
    rect = (left / WIDTH_PT, bottom / fig_height, width / WIDTH_PT, height / fig_height)
    if index < len(fig.axes):
        ax = fig.axes[index]
        ax.set_position(rect)
        return ax
    return fig.add_axes(rect)


def fixed_label_positions(ax: Axes, x: bool = True, y: bool = True) -> None:
    """Skip matplotlib's search for an axis label position where the axis has no label.

    On every draw it measures all tick labels of the axis to move the label clear of them:
    wasted work for an axis without a label (an empty label is not drawn).
    """
    if x:
        ax.xaxis.set_label_coords(0.5, 0.0)
    if y:
        ax.yaxis.set_label_coords(0.0, 0.5)


def no_data_figure(chrome: Chrome, body: float, chart: str, reuse: Figure | None) -> Figure:
    """A figure that says :data:`NO_DATA_MESSAGE` in a body ``body`` points tall."""
    fig = new_figure(chrome, body, f"{chart} (no data)", 0, reuse)
    height = fig.get_figheight() * 72
    fig.text(
        0.5,
        (chrome.bottom + body / 2) / height,
        NO_DATA_MESSAGE,
        ha="center",
        va="center",
        fontsize=MESSAGE_SIZE,
        color=NEUTRAL,
        gid="no-data",
    )
    return fig


def floats(table: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64 with NaN for missing values (all NaN when there is no column)."""
    if column not in table:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def count_text(value: float) -> str:
    """A count with thousands separators (NaN as 0)."""
    return f"{0 if math.isnan(value) else int(value):,}"


def suppression_note(k: int | None) -> str:
    """The footnote of a chart with suppressed rows, at minimum group size ``k`` (None:
    unknown)."""
    size = f"{k} people" if k is not None else "the minimum group size k"
    return f"Suppressed: groups of fewer than {size} are not shown, to protect individuals."


# Line spacing of wrapped titles and footnotes (:func:`wrapped_chrome`).
_LINE_SPACING = 1.2
_GAP = 8.0


def _text_height(text: str, size: float) -> float:
    # Every line at the line spacing, a single one too (views/plots.py counts a single line
    # at its font size): the charts using wrapped_chrome were laid out with this rule.
    return size * _LINE_SPACING * (text.count("\n") + 1)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.)])\s+(?=[A-Z(])", text) if s.strip()]


def merge_notes(*notes: str) -> str:
    """The sentences of ``notes`` in order, each once (the analyses' notes share caveats)."""
    seen: dict[str, None] = {}
    for note in notes:
        for sentence in _sentences(note or ""):
            seen.setdefault(sentence, None)
    return " ".join(seen)


#: Tick label size and grid colour of the chart modules' axes.
TICK_SIZE = 9.0
GRID_COLOUR = "#E2E2E2"


def open_axes(ax: Axes, *, grid: str | None = "both") -> None:
    """The charts' plain axes: no top or right spine, tick labels at :data:`TICK_SIZE`, and a
    light grid behind the data (``grid``: "x", "y", "both", or None for none)."""
    ax.tick_params(labelsize=TICK_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if grid is not None:
        ax.grid(axis=grid, color=GRID_COLOUR, linewidth=0.6)
    ax.set_axisbelow(True)


def wrapped_chrome(title: str, selection_text: str, footnotes: Sequence[str]) -> Chrome:
    """The title (wrapped, unlike views/plots.py's one-line titles), the selection in force
    and the footnotes, wrapped to the figure's width and measured (points)."""
    width = WIDTH_PT - 2 * EDGE
    heading = wrap_to(title, width, TITLE_SIZE)
    if selection_text.strip():
        heading += "\n" + wrap_to(selection_text.strip(), width, TITLE_SIZE)
    footnote = "\n".join(wrap_to(p, width, FOOTNOTE_SIZE) for p in footnotes if p)
    top = EDGE + _text_height(heading, TITLE_SIZE) + _GAP
    bottom = EDGE + (_text_height(footnote, FOOTNOTE_SIZE) + _GAP if footnote else 0.0)
    return Chrome(heading, footnote, top, bottom)
