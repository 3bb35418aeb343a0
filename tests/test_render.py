"""Charts as SVG: the same drawing as matplotlib's own SVG backend, in fewer bytes."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import matplotlib
import pandas as pd
import pytest
from IPython.core.formatters import format_display_data
from matplotlib.figure import Figure

from awareness_analysis.views import render
from awareness_analysis.views.plots import (
    plot_campaign_rates,
    plot_department_intervals,
    plot_funnel,
    plot_question_accuracy,
)
from awareness_analysis.views.render import figure_display, figure_html, figure_svg
from tests.test_plots import (
    DEPARTMENTS,
    LONG_NAME,
    SELECTION,
    accuracy_table,
    campaign_table,
    comparison_table,
)

matplotlib.use("Agg")


def _charts() -> list[tuple[str, Callable[[], Figure]]]:
    campaigns = campaign_table(
        [
            ("c1", "Phishing Basics v1.23456", 200, 150, 120, 120, 72),
            ("c2", LONG_NAME, 150, 30, 0, 0, 0),
            ("c3", "Tiny Pilot", None, 0, 0, None, 0),
        ],
        k=5,
    )
    accuracy = accuracy_table(
        [("c1", "Phishing Basics", q, 40 + q, 10, 2) for q in (1, 2, 3)]
        + [("c2", "Password Hygiene", 1, None, None, 0)],
        k=5,
    )
    comparison = comparison_table(
        [*DEPARTMENTS, ("Outlier Dept", 800, 1000, True, "above")], org_rate=0.5, k=5
    )
    return [
        ("campaigns", lambda: plot_campaign_rates(campaigns, SELECTION)),
        ("accuracy", lambda: plot_question_accuracy(accuracy, SELECTION)),
        ("intervals", lambda: plot_department_intervals(comparison, SELECTION)),
        ("funnel", lambda: plot_funnel(comparison, SELECTION)),
        ("empty", lambda: plot_funnel(comparison_table([], 0.5), SELECTION)),
    ]


CHARTS = _charts()


def _matplotlib_svg(figure: Figure, key: str) -> str:
    """The figure through savefig: matplotlib's own SVG renderer, nothing cached."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**render._SVG_RC, "svg.hashsalt": key}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def _bare(svg: str) -> str:
    """An SVG without its XML prologue and metadata element, as figure_svg returns it."""
    text = render._PROLOGUE.sub("", svg, count=1)
    return render._METADATA_ELEMENT.sub("", text, count=1)


@pytest.mark.parametrize(("name", "make"), CHARTS, ids=[name for name, _ in CHARTS])
def test_svg_is_matplotlibs_drawing_compacted(name: str, make: Callable[[], Figure]) -> None:
    # The caching renderer measures text as matplotlib does: byte for byte the same drawing
    # (twice, so the second render runs on warm caches).
    for _ in range(2):
        figure = make()
        assert figure_svg(figure, name) == render._compact(_bare(_matplotlib_svg(figure, name)))


def test_svg_is_a_bare_element_and_smaller() -> None:
    figure = CHARTS[0][1]()
    svg = figure_svg(figure, "campaigns")
    buffer = io.StringIO()  # matplotlib's SVG as it comes, with text as text
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "campaigns"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plain = _bare(buffer.getvalue())

    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "<metadata>" not in svg and "DOCTYPE" not in svg
    # one font list, on the root element; texts inherit it
    assert svg.count("font-family") == 1
    assert re.match(r"<svg style=\"font-family: 'DejaVu Sans', [^\"]*sans-serif\"", svg)
    assert "rotate(-0 " not in svg
    # coordinates to 0.01 pt in tags, while text keeps every digit
    tags = "".join(re.findall(r"<[^>]+>", svg))
    assert not re.search(r"\d\.\d{3}", tags)
    assert "Phishing Basics v1.23456" in svg
    # ids only where referenced; gids become classes
    assert not re.search(r'id="(text|line2d|xtick|ytick|axes|figure|patch)_\d+"', svg)
    assert 'class="footnote"' in svg and 'class="value"' in svg
    assert len(svg) < 0.65 * len(plain)


def test_same_chart_same_bytes_and_ids_salted_by_key() -> None:
    make = CHARTS[3][1]
    first, again, other = figure_svg(make(), "a"), figure_svg(make(), "a"), figure_svg(make(), "b")
    assert first == again

    ids = [re.findall(r' id="([^"]+)"', svg) for svg in (first, other)]
    assert ids[0] and len(set(ids[0])) == len(ids[0])  # unique within the chart
    assert not set(ids[0]) & set(ids[1])  # and between charts of different keys
    # every id left is referred to (clip paths and marker definitions)
    assert all(f"#{name}" in first for name in ids[0])


def test_display_and_html_carry_the_svg() -> None:
    figure = CHARTS[1][1]()
    svg = figure_svg(figure, "k")

    data, _ = format_display_data(figure_display(figure, "k"))
    assert data["image/svg+xml"] == svg

    page = figure_html(figure, 'Accuracy: "all" <campaigns>', "k")
    assert page.startswith('<figure class="aa-chart" role="img" aria-label="Accuracy: ')
    assert "&quot;all&quot; &lt;campaigns&gt;" in page
    assert svg in page


def test_a_figure_with_a_layout_engine_is_drawn_by_savefig() -> None:
    def make() -> Figure:
        figure = Figure(figsize=(4, 3), layout="constrained")
        ax = figure.add_subplot()
        ax.plot([0, 1], [0, 1])
        ax.set_ylabel("a label the layout engine makes room for")
        return figure

    # (each on a fresh figure: constrained layout starts from where the last run left it)
    assert figure_svg(make(), "engine") == render._compact(_bare(_matplotlib_svg(make(), "engine")))


def test_changing_fonts_is_not_served_cached_metrics() -> None:
    table = campaign_table([("c1", "Phishing Basics", 200, 150, 120, 120, 72)])
    default = figure_svg(plot_campaign_rates(table), "k")
    with matplotlib.rc_context({"font.family": "monospace"}):
        mono = plot_campaign_rates(table)
        assert figure_svg(mono, "k") == render._compact(_bare(_matplotlib_svg(mono, "k")))
    assert figure_svg(plot_campaign_rates(table), "k") == default


def test_report_page_budget_per_chart() -> None:
    # Report page 02 inlines ~76 charts and must stay under 1.5 MB; this chart was 33.5 kB
    # before the SVG was compacted (20.5 kB after).
    accuracy = accuracy_table(
        [(f"c{i}", f"Campaign {i}", q, 30 + i, 10, 2) for i in range(6) for q in (1, 2, 3)]
    )
    svg = figure_svg(plot_question_accuracy(accuracy, SELECTION), "k")
    assert len(svg.encode()) < 24_000, len(svg.encode())


# --- redrawing into a figure made before ------------------------------------------------------


def _reuse_cases() -> list[tuple[str, Callable[..., Figure], list[pd.DataFrame]]]:
    """Per chart, tables one after another as filters change: rows come and go, panels narrow
    and widen, rows get suppressed, tables empty out and fill again."""
    many = [(f"c{i}", f"{LONG_NAME} #{i}", 100 + i, 50, 60, 60, 30) for i in range(8)]
    campaigns = [
        campaign_table(many),
        campaign_table([*many[:3], ("c9", "Tiny", None, 0, 0, None, 0)], k=5),
        campaign_table([]),
        campaign_table(many[2:5]),
        campaign_table(many[:1]),
    ]
    # three questions: wide panels (0-100% in 20s) for short names, narrow ones (0/50/100%)
    # beside long names
    wide = [("c1", "A", q, 40, 10, 2) for q in (1, 2, 3)]
    narrow = [(f"c{i}", f"{LONG_NAME} #{i}", q, 30 + i, 10, 2) for i in range(5) for q in (1, 2, 3)]
    accuracy = [
        accuracy_table(wide),
        accuracy_table(narrow),
        accuracy_table([*narrow[:6], ("c9", "Hidden", 1, None, None, 0), ("c9", "H", 2, 1, 1, 0)]),
        accuracy_table(wide),
        accuracy_table([]),
        accuracy_table(narrow[:2]),
    ]
    spread = [*DEPARTMENTS, ("Outlier Dept", 800, 1000, True, "above"), ("Tiny", 9, 20, False, "")]
    linear = [("A", 52, 100, False, "as expected"), ("B", 95, 200, False, "as expected")]
    comparisons = [
        comparison_table(spread, 0.5, k=5),  # sizes 20..1000: a log axis
        comparison_table(linear, 0.5, "acknowledgement"),
        comparison_table(spread, 0.45, k=5),
        comparison_table([], 0.5),
        comparison_table(DEPARTMENTS, 0.3, k=5),
    ]
    return [
        ("campaigns", plot_campaign_rates, campaigns),
        ("accuracy", plot_question_accuracy, accuracy),
        ("intervals", plot_department_intervals, comparisons),
        ("funnel", plot_funnel, comparisons),
    ]


@pytest.mark.parametrize(
    ("name", "plot", "tables"), _reuse_cases(), ids=[name for name, _, _ in _reuse_cases()]
)
def test_a_reused_figure_draws_what_a_new_one_draws(
    name: str, plot: Callable[..., Figure], tables: list[pd.DataFrame]
) -> None:
    # A dashboard hands its last figure back on each redraw: every redraw must be the chart a
    # new figure would be, byte for byte, whatever the table before it was.
    figure = None
    reused = 0
    for i, table in enumerate(tables):
        text = f"{SELECTION} #{i}"
        fresh = figure_svg(plot(table, text), name)
        previous = figure
        figure = plot(table, text, figure=figure)
        assert figure_svg(figure, name) == fresh, f"{name}, table {i}"
        if previous is not None and len(previous.axes) == len(figure.axes):
            assert figure is previous  # same panels: redrawn in place
            reused += 1
    assert reused >= 2


def test_a_figure_of_another_chart_is_not_reused() -> None:
    rates = campaign_table([("c1", "Phishing Basics", 200, 150, 120, 120, 72)])
    comparison = comparison_table(DEPARTMENTS, 0.5)
    intervals = plot_department_intervals(comparison)
    funnel = plot_funnel(comparison, figure=intervals)
    assert funnel is not intervals
    assert plot_campaign_rates(rates, figure=funnel) is not funnel
    foreign = Figure()
    foreign.add_subplot()
    assert plot_department_intervals(comparison, figure=foreign) is not foreign
    assert plot_department_intervals(comparison, figure=intervals) is intervals
