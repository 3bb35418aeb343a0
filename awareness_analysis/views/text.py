"""Text measured as the SVG backend measures it, cached for the life of the process.

matplotlib caches text metrics only per renderer, and every redraw makes a new one, while
dashboards show the same labels redraw after redraw. One cache serves the chart layouts
(:mod:`~awareness_analysis.views.plots`, :mod:`~awareness_analysis.views.behaviour`) and the
caching SVG renderer (:mod:`~awareness_analysis.views.render`). The font settings are part of
every key, so changing rcParams cannot serve another font's metrics.
"""

from __future__ import annotations

import textwrap
from functools import lru_cache

import matplotlib
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

__all__ = ["fonts_key", "line_width", "text_metrics", "text_width", "wrap", "wrap_to"]

_TEXT_TO_PATH = TextToPath()
# The rcParams that decide which font file a FontProperties resolves to (those findfont keys
# its own cache on).
_FONT_RC = ("font.family", "font.serif", "font.sans-serif", "font.cursive", "font.fantasy",
            "font.monospace")  # fmt: skip


def fonts_key() -> str:
    """The current font settings, as part of a cache key."""
    return repr([matplotlib.rcParams[key] for key in _FONT_RC])


@lru_cache(maxsize=32_768)
def text_metrics(
    text: str, prop: FontProperties, ismath: bool | str, fonts: str
) -> tuple[float, float, float]:
    """(width, height, descent) in points: what RendererSVG.get_text_width_height_descent
    returns (the same call). ``prop`` must not be changed afterwards (pass a copy)."""
    return _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath)


def line_width(line: str, size: float, weight: str = "normal", style: str = "normal") -> float:
    """Width in points of one line of text."""
    if not line:
        return 0.0
    prop = FontProperties(size=float(size), weight=weight, style=style)
    return float(text_metrics(line, prop, False, fonts_key())[0])


def text_width(text: str, size: float, weight: str = "normal", style: str = "normal") -> float:
    """Width in points of the widest line of ``text``."""
    return max(line_width(line, size, weight, style) for line in text.split("\n"))


def wrap(text: str, width: int) -> str:
    """``text`` wrapped at ``width`` characters (long words broken)."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=True)) or text


def _chars_per_line(width_pt: float, fontsize: float) -> int:
    # A first guess only (an average glyph is a little over half an em wide in DejaVu Sans);
    # wrap_to measures the lines and narrows until they fit.
    return max(8, int(width_pt / (fontsize * 0.53)))


def wrap_to(text: str, width_pt: float, size: float, style: str = "normal") -> str:
    """``text`` word-wrapped to lines that measure at most ``width_pt`` points."""
    chars = _chars_per_line(width_pt, size)
    while True:
        wrapped = wrap(text, chars)
        if chars <= 8 or text_width(wrapped, size, style=style) <= width_pt:
            return wrapped
        chars -= max(1, chars // 12)
