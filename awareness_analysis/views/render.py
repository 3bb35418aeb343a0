"""How a chart leaves matplotlib: one image form for dashboards, notebooks and reports.

Charts are SVG with text kept as text (``svg.fonttype: none``): sharp on HiDPI screens and in
print, a fraction of a PNG's size, searchable and readable by screen readers, and quicker to
produce than rasterising glyphs. Ids inside each SVG are salted with a caller-given key, so many
charts inline in one page never share a clip-path id, and the same chart gives the same bytes.

Drawing is matplotlib's own SVG backend, with two savings for dashboards that redraw on every
filter change: text metrics are remembered across renders (matplotlib keeps them per renderer
only, and each render makes a new one), and the written SVG is compacted (one font-family on the
root element instead of on every text, coordinates to 0.01 pt, no identity rotations).
"""

from __future__ import annotations

import html
import io
import re
from functools import lru_cache
from typing import Any

import matplotlib
from IPython.display import SVG
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import RendererSVG
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font

from awareness_analysis.views.text import fonts_key, text_metrics

__all__ = ["figure_display", "figure_html", "figure_svg"]

#: Fonts an SVG names once, on its root element; the first one a browser has wins. Charts are
#: laid out in DejaVu Sans (matplotlib's font); the rest are matplotlib's default fallbacks that
#: browsers have, in matplotlib's order (without 'Computer Modern Sans Serif', 'Lucid' and
#: 'Avant Garde', which none has).
FONT_FAMILY = (
    "'DejaVu Sans', 'Bitstream Vera Sans', 'Lucida Grande', Verdana, Geneva, Arial, Helvetica, "
    "sans-serif"
)
# Text stays text. While drawing, "sans-serif" means DejaVu Sans alone: the font the charts
# are measured in, and a one-name family each text element repeats until _compact drops it.
_SVG_RC: dict[str, Any] = {"svg.fonttype": "none", "font.sans-serif": ["DejaVu Sans"]}
_TEXT_FAMILY = "font-family: 'DejaVu Sans', sans-serif"
_METADATA: dict[str, Any] = {"Date": None, "Creator": None}
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_METADATA_ELEMENT = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
# Numbers with more than two decimals are shortened inside tags only, never in text content
# (a campaign named "v1.2345" keeps its name), one tag at a time: a lookahead to the tag's end
# from every number would rescan a long path's tag per number (quadratic; a minute a curve).
_TAG = re.compile(r"<[^<>]*>")
_LONG_NUMBER = re.compile(r"(\d\.\d\d)\d+")
_ID = re.compile(r' id="([^"]*)"')
_REFERENCE = re.compile(r'(?:url\(#|href="#)([^)"]+)')
# The ids matplotlib numbers itself: "text_12", "matplotlib.axis_2", "LineCollection_1".
_AUTOMATIC_ID = re.compile(r"[A-Za-z][\w.]*_\d+")
_IDENTITY_ROTATION = re.compile(r' transform="rotate\(-?0 [-\d.]+ [-\d.]+\)"')
_PATH_DATA = re.compile(r' d="([^"]*)"')
_BETWEEN_TAGS = re.compile(r">\s+<")


@lru_cache(maxsize=1024)
def _height_metrics(prop: FontProperties, fonts: str) -> tuple[float, float, float]:
    # What Text._get_layout reads from the font file for every text it lays out (ascent,
    # descent and line gap from the OS/2 table, else hhea), in points.
    font = get_font(findfont(prop))
    table = font.get_sfnt_table("OS/2")
    keys = ("sTypoLineGap", "sTypoAscender", "sTypoDescender")
    if table is None:
        table = font.get_sfnt_table("hhea")
        keys = ("lineGap", "ascent", "descent")
    scale = prop.get_size_in_points() / font.get_sfnt_table("head")["unitsPerEm"]
    return table[keys[1]] * scale, -table[keys[2]] * scale, table[keys[0]] * scale


class _Renderer(RendererSVG):
    """matplotlib's SVG renderer, measuring text through caches that outlive it.

    The numbers are those matplotlib computes (the same calls; tests/test_render.py checks the
    SVG is byte for byte the plain renderer's); only the caches are shared. Dashboards redraw
    the same tick labels and values again and again, and measuring a string costs about as much
    as drawing it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fonts = fonts_key()

    def get_text_width_height_descent(
        self, s: str, prop: FontProperties, ismath: bool | str
    ) -> tuple[float, float, float]:
        if ismath == "TeX":
            return super().get_text_width_height_descent(s, prop, ismath)
        # a copy: FontProperties is mutable, and a cache key must not change under the cache
        return text_metrics(s, prop.copy(), ismath, self._fonts)

    def _get_font_height_metrics(self, prop: FontProperties) -> tuple[float, float, float]:
        # matplotlib >= 3.11 asks a renderer that has this method (its PDF/PS backends do)
        # instead of reading the font's tables for every text; older versions never call it.
        # Values in points, which are the SVG renderer's pixels (figure dpi 72 while drawing).
        return _height_metrics(prop.copy(), self._fonts)


def _draw(figure: Figure, out: io.StringIO) -> None:
    """Draw ``figure`` as SVG into ``out``: what ``savefig(format="svg")`` does for a figure
    without a layout engine (matplotlib's FigureCanvasSVG.print_svg), with the caching
    renderer."""
    dpi = figure.dpi
    figure.dpi = 72  # SVG user units are points
    try:
        width, height = figure.get_size_inches()
        svg = _Renderer(width * 72, height * 72, out, image_dpi=dpi, metadata=_METADATA)
        renderer = MixedModeRenderer(figure, width, height, dpi, svg)
        figure.draw(renderer)
        renderer.finalize()
    finally:
        figure.dpi = dpi


def _compact(svg: str) -> str:
    """The same drawing in fewer bytes: the font family once, on the root element (texts
    inherit it), numbers in tags to 0.01 pt, path data and the space between elements without
    padding, no identity ``rotate(0)`` transforms, and ids only where something refers to them.

    matplotlib gives every group an id ("text_12", "ytick_3"): the same ids in every chart of
    a report page, where ids must be unique. Those no ``url(#...)``/``href="#..."`` refers to
    are dropped; an artist's gid ("value", "footnote") becomes a class, which may repeat. What
    stays are the clip-path and marker ids, salted per key.
    """
    svg = svg.replace(f"; {_TEXT_FAMILY}", "").replace(f"{_TEXT_FAMILY}; ", "")
    svg = svg.replace("<svg ", f'<svg style="font-family: {FONT_FAMILY}" ', 1)
    referenced = set(_REFERENCE.findall(svg))

    def identify(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in referenced:
            return match.group(0)
        return "" if _AUTOMATIC_ID.fullmatch(name) else f' class="{name}"'

    svg = _ID.sub(identify, svg)
    svg = _TAG.sub(lambda tag: _LONG_NUMBER.sub(r"\1", tag.group(0)), svg)
    svg = _PATH_DATA.sub(lambda data: f' d="{_path_data(data.group(1))}"', svg)
    # Whitespace between elements draws nothing (text sits inside its element).
    svg = _BETWEEN_TAGS.sub("><", svg)
    return _IDENTITY_ROTATION.sub("", svg)


def _path_data(data: str) -> str:
    """Path data without the spaces and line breaks around its commands ("M 1 2 \nL 3 4" is
    "M1 2L3 4"): a step curve is mostly these."""
    return re.sub(r"\s*([A-Za-z])\s*", r"\1", data.strip())


def figure_svg(figure: Figure, key: str = "chart") -> str:
    """The figure as a standalone ``<svg>`` element (no XML prologue, no metadata)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**_SVG_RC, "svg.hashsalt": key}):
        if figure.get_layout_engine() is None:
            _draw(figure, buffer)
        else:  # a layout engine needs savefig's extra draw before the real one
            figure.savefig(buffer, format="svg", metadata=_METADATA)
    text = _PROLOGUE.sub("", buffer.getvalue(), count=1)
    return _compact(_METADATA_ELEMENT.sub("", text, count=1))


class _ChartSVG(SVG):
    """IPython's SVG display object for an ``<svg>`` element made here. IPython's own parses
    its data with minidom to find the ``<svg>`` element (about 13 ms for a chart, on every
    redraw); figure_svg's output is that element already."""

    @property
    def data(self) -> str | None:
        return self._data

    @data.setter
    def data(self, svg: str | None) -> None:
        self._data = svg


def figure_display(figure: Figure, key: str = "chart") -> SVG:
    """What a dashboard's Output widget (and a notebook cell) shows for the figure."""
    return _ChartSVG(figure_svg(figure, key))


def figure_html(figure: Figure, alt: str, key: str) -> str:
    """The figure inline in a report page, labelled for screen readers."""
    svg = figure_svg(figure, key)
    return f'<figure class="aa-chart" role="img" aria-label="{html.escape(alt)}">{svg}</figure>'
