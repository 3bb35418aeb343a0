"""Charts: checked on Figure and Axes objects built from hand-made rate tables (no images)."""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import RendererSVG
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import PercentFormatter

from awareness_analysis.analysis.engine import Engine
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.metrics import DEFINITIONS, funnel_limits
from awareness_analysis.analysis.phases import (
    RUNNING_DAYS,
    annotate_campaigns,
    campaign_phases,
    question_label,
)
from awareness_analysis.data.frames import build_frames
from awareness_analysis.fakeapi.demo_org import DEMO_AS_OF, synthetic_dataset
from awareness_analysis.views import plots
from awareness_analysis.views.plots import (
    NO_DATA_MESSAGE,
    PALETTE,
    plot_campaign_rates,
    plot_department_intervals,
    plot_funnel,
    plot_question_accuracy,
)

# Tests only (pyplot resolves its backend lazily, so this still comes first); the library itself
# never selects a backend.
matplotlib.use("Agg")

SELECTION = "Campaigns: Phishing Basics; Departments: all; Status: incorrect; Search: 'smith'"


# --- building rate tables by hand, following the contract's schema ---------------------------


def _common(metric: str, successes: int | None, n: int | None, suppressed: bool) -> dict:
    """The common rate-table columns for one row; a rough +-10 point interval suffices here."""
    if suppressed or n is None:
        return {
            "metric": metric,
            "successes": pd.NA,
            "n": pd.NA,
            "rate": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "suppressed": True,
        }
    rate = successes / n if n else np.nan
    return {
        "metric": metric,
        "successes": successes,
        "n": n,
        "rate": rate,
        "ci_low": max(0.0, rate - 0.1) if n else np.nan,
        "ci_high": min(1.0, rate + 0.1) if n else np.nan,
        "suppressed": False,
    }


COMMON_COLUMNS = ["metric", "successes", "n", "rate", "ci_low", "ci_high", "suppressed"]


def _typed(rows: list[dict], keys: Sequence[str], k: int | None = None) -> pd.DataFrame:
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=[*keys, *COMMON_COLUMNS])
    table = table.astype(
        {
            "metric": "str",
            "successes": "Int64",
            "n": "Int64",
            "rate": "float64",
            "ci_low": "float64",
            "ci_high": "float64",
            "suppressed": "bool",
        }
    )
    if k is not None:
        table.attrs["min_group_size"] = k
    return table


def campaign_table(
    campaigns: Sequence[tuple[str, str, int | None, int, int, int | None, int]],
    k: int | None = None,
) -> pd.DataFrame:
    """(id, name, sent, acknowledged, completed, answered, all_correct); sent None = suppressed."""
    rows = []
    for campaign_id, name, sent, acknowledged, completed, answered, all_correct in campaigns:
        hidden = sent is None
        for metric, successes, n in (
            ("acknowledgement", acknowledged, sent),
            ("completion", completed, sent),
            ("all_correct", all_correct, answered),
        ):
            rows.append(
                {"campaign_id": campaign_id, "campaign_name": name}
                | _common(metric, successes, n, hidden)
            )
    table = _typed(rows, ["campaign_id", "campaign_name"], k)
    return table.astype({"campaign_id": "category", "campaign_name": "category"})


def accuracy_table(
    rows_in: Sequence[tuple[str, str, int, int | None, int | None, int]], k: int | None = None
) -> pd.DataFrame:
    """(id, name, question, correct, incorrect, not_answered); correct None = suppressed."""
    rows = []
    for campaign_id, name, question, correct, incorrect, not_answered in rows_in:
        hidden = correct is None
        common = _common(
            "accuracy", correct, None if hidden else correct + (incorrect or 0), hidden
        )
        rows.append(
            {
                "campaign_id": campaign_id,
                "campaign_name": name,
                "question": question,
                "correct": pd.NA if hidden else correct,
                "incorrect": pd.NA if hidden else incorrect,
                "not_answered": pd.NA if hidden else not_answered,
            }
            | common
        )
    keys = ["campaign_id", "campaign_name", "question", "correct", "incorrect", "not_answered"]
    table = _typed(rows, keys, k)
    return table.astype(
        {
            "campaign_id": "category",
            "campaign_name": "category",
            "question": "int8",
            "correct": "Int64",
            "incorrect": "Int64",
            "not_answered": "Int64",
        }
    )


def comparison_table(
    departments: Sequence[tuple[str, int | None, int | None, bool, str]],
    org_rate: float,
    metric: str = "completion",
    k: int | None = None,
) -> pd.DataFrame:
    """(department, successes, n, significant, direction); n None = suppressed, 0 = no data."""
    rows = []
    for department, successes, n, significant, direction in departments:
        common = _common(metric, successes, n, n is None)
        rate = common["rate"]
        z = (rate - org_rate) / np.sqrt(org_rate * (1 - org_rate) / n) if n else np.nan
        rows.append(
            {"department": department}
            | common
            | {
                "org_rate": org_rate,
                "z": z,
                "p_value": np.nan if np.isnan(z) else 0.5,
                "q_value": np.nan if np.isnan(z) else (0.01 if significant else 0.5),
                "significant": significant,
                "direction": direction,
            }
        )
    extra = ["org_rate", "z", "p_value", "q_value", "significant", "direction"]
    table = _typed(rows, ["department", *extra], k)
    table = table.astype({"department": "str", "significant": "bool", "direction": "str"})
    table = table.sort_values("rate", ascending=False, na_position="last", ignore_index=True)
    table.attrs = {
        "metric": metric,
        "org_rate": org_rate,
        "org_successes": 0,
        "org_n": 1000,
        "confidence": 0.95,
    } | ({"min_group_size": k} if k is not None else {})
    return table


# --- reading figures back -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_pyplot_figures() -> Iterator[None]:
    """Plot functions must never register figures with pyplot (widgets would leak them)."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _title(fig: Figure) -> str:
    assert fig._suptitle is not None
    return _flat(fig._suptitle.get_text())


def _footnote(fig: Figure) -> str:
    notes = [t.get_text() for t in fig.texts if t.get_gid() == "footnote"]
    assert len(notes) == 1
    return _flat(notes[0])


def _axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.axison]


def _texts(artist: Figure | Axes, gid: str | None = None) -> list[Text]:
    found = [t for t in artist.findobj(Text) if t.get_text()]
    return [t for t in found if gid is None or t.get_gid() == gid]


def _tick_labels(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _point_lines(ax: Axes) -> list[Line2D]:
    return [ln for ln in ax.lines if str(ln.get_gid() or "").startswith("points")]


def _points(ax: Axes) -> list[tuple[float, float]]:
    """(x, y) of every plotted dot (errorbar data lines and funnel scatters)."""
    xy = [
        (float(x), float(y))
        for ln in _point_lines(ax)
        for x, y in zip(ln.get_xdata(), ln.get_ydata(), strict=True)
    ]
    for collection in ax.collections:
        if str(collection.get_gid() or "").startswith("points"):
            xy.extend((float(x), float(y)) for x, y in collection.get_offsets())
    return xy


def _interval_segments(ax: Axes) -> int:
    return sum(len(c.get_segments()) for c in ax.collections if isinstance(c, LineCollection))


def _renders(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


# --- campaign rates -------------------------------------------------------------------------

LONG_NAME = "Invoice Fraud and Payment Diversion - Finance, Procurement and Leadership (2026 Q1)"


def test_campaign_rates_plots_each_metric_with_intervals_and_n() -> None:
    rates = campaign_table(
        [
            ("c1", "Phishing Basics", 200, 150, 120, 120, 72),
            ("c2", LONG_NAME, 150, 30, 0, 0, 0),  # nobody answered: all-correct has no data
            ("c3", "Tiny Pilot", None, 0, 0, None, 0),  # fewer than k users: suppressed
        ],
        k=5,
    )
    fig = plot_campaign_rates(rates, SELECTION)

    assert isinstance(fig, Figure)
    axes = _axes(fig)
    assert [ax.get_title(loc="left") for ax in axes] == [
        DEFINITIONS[m].label for m in ("acknowledgement", "completion", "all_correct")
    ]
    assert [len(_points(ax)) for ax in axes] == [2, 2, 1]
    assert [_interval_segments(ax) for ax in axes] == [2, 2, 1]
    ack_points = sorted(_points(axes[0]), key=lambda p: p[1])
    assert ack_points == [(0.75, 0.0), (0.2, 1.0)]  # first campaign on row 0, at top
    assert axes[0].yaxis_inverted()
    for ax in axes:
        assert isinstance(ax.xaxis.get_major_formatter(), PercentFormatter)
        assert ax.get_xlim() == (0.0, 1.0)

    ticks = _tick_labels(axes[0])
    assert "(n=200)" in ticks[0] and "Phishing Basics" in ticks[0]
    assert "(n=150)" in _flat(ticks[1])
    assert "fewer than 5" in _flat(ticks[2])
    # the long name is wrapped onto several short lines, nothing cut off
    assert ticks[1].count("\n") >= 2
    assert _flat(ticks[1]).replace("- ", "-").startswith("Invoice Fraud")
    assert max(len(line) for tick in ticks for line in tick.split("\n")) <= 40

    # all-correct counts only users who answered, so its own n is written beside the value
    assert "60% (n=120)" in [t.get_text() for t in _texts(axes[2], "value")]
    assert "75%" in [t.get_text() for t in _texts(axes[0], "value")]

    assert _title(fig).startswith("Campaign rates")
    assert _flat(SELECTION) in _title(fig)
    footnote = _footnote(fig)
    for metric in ("acknowledgement", "completion", "all_correct"):
        assert _flat(DEFINITIONS[metric].text()) in footnote
    assert "fewer than 5 people" in footnote
    assert _renders(fig).startswith(b"\x89PNG")


def test_campaign_rates_names_suppressed_and_empty_rows_without_dots() -> None:
    rates = campaign_table(
        [("c1", "Phishing Basics", 200, 150, 120, 120, 60), ("c2", "Tiny", None, 0, 0, None, 0)]
    )
    fig = plot_campaign_rates(rates)

    for ax in _axes(fig):
        suppressed = _texts(ax, "suppressed")
        # no k recorded in the table's attrs: the label still says why the row is empty
        assert [t.get_text() for t in suppressed] == ["(suppressed: n < k)"]
        assert suppressed[0].get_position()[1] == 1  # on the suppressed campaign's row
        assert all(y != 1 for _, y in _points(ax))
    assert "fewer than k people" in _flat(_tick_labels(_axes(fig)[0])[1])


def test_campaign_rates_marks_rows_with_no_users_as_no_data() -> None:
    rates = campaign_table([("c1", "Launched today", 40, 0, 0, 0, 0)])
    fig = plot_campaign_rates(rates)

    all_correct = _axes(fig)[2]
    assert [t.get_text() for t in _texts(all_correct, "no-data")] == ["no data"]
    assert _points(all_correct) == []
    assert len(_points(_axes(fig)[0])) == 1  # 0% acknowledged is a real rate, still plotted


def test_campaign_rates_scale_to_twenty_long_campaign_names() -> None:
    rates = campaign_table(
        [(f"c{i}", f"{LONG_NAME} #{i}", 100 + i, 50, 60, 60, 30) for i in range(20)]
    )
    small = plot_campaign_rates(rates.iloc[:6].reset_index(drop=True))
    fig = plot_campaign_rates(rates)

    assert fig.get_figwidth() == small.get_figwidth() == plots.FIGURE_WIDTH
    assert fig.get_figheight() > small.get_figheight() + 5  # rows keep their height
    assert len(_tick_labels(_axes(fig)[0])) == 20
    assert sum(len(_points(ax)) for ax in _axes(fig)) == 60
    assert _renders(fig)


# --- per-question accuracy ------------------------------------------------------------------


def test_question_accuracy_panels_per_question_with_n() -> None:
    accuracy = accuracy_table(
        [
            ("c1", "Phishing Basics", 1, 80, 20, 10),
            ("c1", "Phishing Basics", 2, 45, 45, 20),
            ("c1", "Phishing Basics", 3, None, None, 0),  # suppressed
            ("c2", "Password Hygiene", 1, 30, 10, 0),
            ("c2", "Password Hygiene", 2, 0, 0, 40),  # nobody answered: no data
        ],
        k=5,
    )
    fig = plot_question_accuracy(accuracy, SELECTION)

    axes = _axes(fig)
    assert [ax.get_title(loc="left") for ax in axes] == ["Question 1", "Question 2", "Question 3"]
    assert [len(_points(ax)) for ax in axes] == [2, 1, 0]
    assert [_interval_segments(ax) for ax in axes] == [2, 1, 0]
    assert sorted(_points(axes[0])) == [(0.75, 1.0), (0.8, 0.0)]
    for ax in axes:
        assert isinstance(ax.xaxis.get_major_formatter(), PercentFormatter)
        assert ax.get_xlim() == (0.0, 1.0)

    assert _tick_labels(axes[0]) == ["Phishing Basics  n=100", "Password Hygiene  n=40"]
    assert _tick_labels(axes[1]) == ["n=90", "n=0"]
    assert _tick_labels(axes[2]) == ["fewer than 5 people", "not asked"]
    assert [t.get_text() for t in _texts(axes[1], "no-data")] == ["no data"]
    assert [t.get_text() for t in _texts(axes[2], "suppressed")] == ["(suppressed: n < 5)"]

    assert SELECTION in _title(fig)
    footnote = _footnote(fig)
    assert _flat(DEFINITIONS["accuracy"].text()) in footnote
    assert "people (and answers) who answered that question" in footnote
    assert _renders(fig)


# --- department comparison: interval dot plot -----------------------------------------------

DEPARTMENTS = [
    ("Finance", 120, 150, True, "above"),
    ("Sales", 40, 200, True, "below"),
    ("Marketing", 52, 100, False, "as expected"),
    ("Board", None, None, False, "suppressed"),
    ("New Team", 0, 0, False, "no data"),
]


def test_department_intervals_sorted_with_org_line_and_direct_labels() -> None:
    comparison = comparison_table(DEPARTMENTS, org_rate=0.5, k=5)
    fig = plot_department_intervals(comparison, SELECTION)

    (ax,) = _axes(fig)
    ticks = _tick_labels(ax)
    assert ticks == [
        "Finance (n=150)",
        "Marketing (n=100)",
        "Sales (n=200)",
        "New Team (n=0)",
        "Board (fewer than 5 people)",
    ]
    assert sorted(_points(ax), key=lambda p: p[1]) == [(0.8, 0.0), (0.52, 1.0), (0.2, 2.0)]
    assert _interval_segments(ax) == 3
    assert isinstance(ax.xaxis.get_major_formatter(), PercentFormatter)
    assert ax.get_xlim() == (0.0, 1.0)

    markers = {ln.get_gid(): ln.get_marker() for ln in _point_lines(ax) if len(ln.get_xdata())}
    assert markers == {"points-above": "^", "points-below": "v", "points-as-expected": "o"}
    values = {t.get_position()[1]: t for t in _texts(ax, "value")}
    assert values[0].get_text() == "80%  \u25b2 above the rest"
    assert values[0].get_color() == PALETTE["blue"]
    assert values[2].get_text() == "20%  \u25bc below the rest"
    assert values[2].get_color() == PALETTE["vermillion"]
    assert values[1].get_text() == "52%"
    assert [t.get_text() for t in _texts(ax, "no-data")] == ["no data"]
    suppressed = _texts(ax, "suppressed")
    assert [(t.get_text(), t.get_position()[1]) for t in suppressed] == [("(suppressed: n < 5)", 4)]

    (org_line,) = [ln for ln in ax.lines if ln.get_gid() == "org-rate"]
    assert list(org_line.get_xdata()) == [0.5, 0.5]
    assert [t.get_text() for t in _texts(ax, "org-rate-label")] == ["Organisation 50% (n=1,000)"]
    assert ax.get_legend() is None and not fig.legends  # labelled directly, no legend

    assert SELECTION in _title(fig)
    assert DEFINITIONS["completion"].label in _title(fig)
    assert _flat(DEFINITIONS["completion"].text()) in _footnote(fig)
    assert "Benjamini-Hochberg" in _footnote(fig)
    assert _renders(fig)


def test_department_intervals_direction_needs_significance() -> None:
    # a department above the organisation but not significant after BH is not called "above"
    comparison = comparison_table(
        [("Legal", 30, 50, False, "above"), ("IT", 50, 100, False, "as expected")], org_rate=0.5
    )
    fig = plot_department_intervals(comparison)

    (ax,) = _axes(fig)
    assert not any("above" in t.get_text() for t in _texts(ax, "value"))
    assert {ln.get_gid() for ln in _point_lines(ax) if len(ln.get_xdata())} == {
        "points-as-expected"
    }


def test_department_intervals_explain_the_combined_suppressed_group() -> None:
    comparison = comparison_table(
        [("(suppressed)", 9, 12, False, "suppressed"), ("IT", 50, 100, False, "as expected")],
        org_rate=0.5,
    )
    fig = plot_department_intervals(comparison)

    (ax,) = _axes(fig)
    assert "(suppressed) small departments combined (n=12)" in _tick_labels(ax)
    assert len(_points(ax)) == 2  # the combined group has real figures and is plotted


def test_department_intervals_fit_forty_departments() -> None:
    departments = [
        (f"Department {i:02d}", 10 + i, 40 + 2 * i, False, "as expected") for i in range(40)
    ]
    fig = plot_department_intervals(comparison_table(departments, org_rate=0.3))

    (ax,) = _axes(fig)
    assert len(_points(ax)) == 40
    rates = [x for x, _ in sorted(_points(ax), key=lambda p: p[1])]
    assert rates == sorted(rates, reverse=True)
    assert fig.get_figheight() >= 40 * 0.25
    assert _renders(fig)


# --- department comparison: funnel ----------------------------------------------------------


def _limit_lines(ax: Axes) -> dict[str, Line2D]:
    return {str(ln.get_gid()): ln for ln in ax.lines if str(ln.get_gid()).startswith("limit-")}


def test_funnel_has_limits_org_line_and_labels_outliers() -> None:
    comparison = comparison_table(
        [
            ("Outlier Dept", 800, 1000, True, "above"),
            ("Finance", 24, 40, False, "as expected"),
            ("Sales", 940, 2000, True, "below"),  # significant but inside the 99.8% funnel
            ("Small Team", 9, 20, False, "as expected"),
            ("Board", None, None, False, "suppressed"),
        ],
        org_rate=0.5,
        k=5,
    )
    fig = plot_funnel(comparison, SELECTION)

    (ax,) = _axes(fig)
    assert ax.get_xscale() == "log"  # sizes 20..2000 span more than 30x
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)
    assert sorted(_points(ax)) == [(20.0, 0.45), (40.0, 0.6), (1000.0, 0.8), (2000.0, 0.47)]
    _assert_rate_axis_fits(ax)

    limits = _limit_lines(ax)
    assert set(limits) == {
        "limit-95%-lower",
        "limit-95%-upper",
        "limit-99.8%-lower",
        "limit-99.8%-upper",
    }
    grid = np.asarray(limits["limit-99.8%-upper"].get_xdata(), dtype=float)
    assert len(grid) >= 100 and grid.min() <= 20 and grid.max() >= 2000
    low, high = funnel_limits(0.5, grid, 0.998)
    np.testing.assert_allclose(limits["limit-99.8%-upper"].get_ydata(), high)
    np.testing.assert_allclose(limits["limit-99.8%-lower"].get_ydata(), low)
    _, high95 = funnel_limits(0.5, grid, 0.95)
    np.testing.assert_allclose(limits["limit-95%-upper"].get_ydata(), high95)
    (org_line,) = [ln for ln in ax.lines if ln.get_gid() == "org-rate"]
    assert set(np.asarray(org_line.get_ydata())) == {0.5}

    assert [t.get_text() for t in _texts(ax, "outlier-label")] == ["Outlier Dept"]

    # significant departments are filled in their direction's colour, the rest hollow grey
    scatters = {c.get_gid(): c for c in ax.collections if str(c.get_gid()).startswith("points")}
    assert set(scatters) == {"points-above", "points-below", "points-as-expected"}
    assert scatters["points-above"].get_facecolors()[0][3] == 1.0
    assert scatters["points-as-expected"].get_facecolors().size == 0 or (
        scatters["points-as-expected"].get_facecolors()[0][3] == 0.0
    )

    legend_texts = [_flat(t.get_text()) for t in ax.get_legend().get_texts()]
    assert "Not plotted (suppressed: n < 5): Board" in legend_texts
    assert "Significantly above (q < 0.05)" in legend_texts

    assert SELECTION in _title(fig)
    assert _flat(DEFINITIONS["completion"].text()) in _footnote(fig)
    assert "99.8%" in _footnote(fig)
    assert _renders(fig)


def test_funnel_keeps_a_linear_axis_for_similar_sizes_and_labels_nothing_inside() -> None:
    comparison = comparison_table(
        [("A", 52, 100, False, "as expected"), ("B", 95, 200, False, "as expected")],
        org_rate=0.5,
        metric="acknowledgement",
    )
    fig = plot_funnel(comparison)

    (ax,) = _axes(fig)
    assert ax.get_xscale() == "linear"
    assert len(_limit_lines(ax)) == 4
    assert _texts(ax, "outlier-label") == []
    assert len(_points(ax)) == 2
    assert DEFINITIONS["acknowledgement"].label in _title(fig)


def test_funnel_labels_outlier_below_the_funnel() -> None:
    comparison = comparison_table(
        [("Laggards", 100, 1000, True, "below"), ("Others", 500, 1000, False, "as expected")],
        org_rate=0.5,
    )
    fig = plot_funnel(comparison)

    (ax,) = _axes(fig)
    (label,) = _texts(ax, "outlier-label")
    assert label.get_text() == "Laggards"
    assert label.xy == (1000.0, 0.1)  # type: ignore[attr-defined]


# --- empty tables and pyplot hygiene --------------------------------------------------------


@pytest.mark.parametrize(
    ("plot", "table", "definition"),
    [
        (plot_campaign_rates, campaign_table([]), "all_correct"),
        (plot_question_accuracy, accuracy_table([]), "accuracy"),
        (plot_department_intervals, comparison_table([], 0.5, "all_correct"), "all_correct"),
        (plot_funnel, comparison_table([], 0.5, "all_correct"), "all_correct"),
    ],
)
def test_empty_table_gives_a_no_data_figure(plot, table: pd.DataFrame, definition: str) -> None:
    assert table.empty
    fig = plot(table, SELECTION)

    assert isinstance(fig, Figure)
    messages = [t.get_text() for t in _texts(fig, "no-data")]
    assert messages == [NO_DATA_MESSAGE]
    assert SELECTION in _title(fig)
    assert _flat(DEFINITIONS[definition].text()) in _footnote(fig)
    assert _renders(fig)


def test_no_selection_text_gives_a_one_line_title() -> None:
    fig = plot_campaign_rates(campaign_table([("c1", "Phishing", 10, 5, 5, 5, 2)]))
    assert fig._suptitle is not None
    assert fig._suptitle.get_text() == "Campaign rates"


def test_library_leaves_pyplot_and_backend_alone() -> None:
    backend = matplotlib.get_backend()
    comparison = comparison_table(DEPARTMENTS, org_rate=0.5)
    figures = [
        plot_campaign_rates(campaign_table([("c1", "Phishing", 10, 5, 5, 5, 2)])),
        plot_question_accuracy(accuracy_table([("c1", "Phishing", 1, 3, 2, 0)])),
        plot_department_intervals(comparison),
        plot_funnel(comparison),
    ]
    for fig in figures:
        _renders(fig)
    assert plt.get_fignums() == []
    assert matplotlib.get_backend() == backend
    source = Path(plots.__file__).read_text(encoding="utf-8")
    for forbidden in ("matplotlib.pyplot", "import pyplot", "matplotlib.use(", ".show("):
        assert forbidden not in source


# --- fitted funnel axis ---------------------------------------------------------------------


def _assert_rate_axis_fits(ax: Axes) -> None:
    """The funnel's rate axis shows every point and control limit, within 0-100%."""
    low, high = ax.get_ylim()
    assert 0.0 <= low < high <= 1.0
    shown = [y for _, y in _points(ax)]
    for line in ax.lines:
        values = np.asarray(line.get_ydata(), dtype=float)
        shown.extend(values[np.isfinite(values)].tolist())
    assert low <= min(shown) and max(shown) <= high
    ticks = ax.get_yticks()
    assert len(ticks) >= 3 and all(low - 1e-9 <= t <= high + 1e-9 for t in ticks)
    assert isinstance(ax.yaxis.get_major_formatter(), PercentFormatter)


def test_funnel_rate_axis_is_fitted_to_the_data_and_limits() -> None:
    departments = [
        (f"Department {i}", 400 + 10 * i, 900 + 40 * i, False, "as expected") for i in range(8)
    ]
    fig = plot_funnel(comparison_table(departments, org_rate=0.45))

    (ax,) = _axes(fig)
    _assert_rate_axis_fits(ax)
    low, high = ax.get_ylim()
    assert high - low < 0.3  # not the whole 0-100% scale, half of it empty
    assert low > 0.2 and high < 0.7


def test_funnel_rate_axis_stops_at_zero() -> None:
    # small departments around a low organisation rate: the lower limits reach 0%
    comparison = comparison_table(
        [("A", 1, 12, False, "as expected"), ("B", 40, 400, False, "as expected")],
        org_rate=0.08,
    )
    (ax,) = _axes(plot_funnel(comparison))
    _assert_rate_axis_fits(ax)
    assert ax.get_ylim()[0] == 0.0


# --- running campaigns and module titles ----------------------------------------------------


def _with_phases(table: pd.DataFrame, running: dict[str, float]) -> pd.DataFrame:
    """``table`` with the columns annotate_campaigns adds: running campaign id -> days."""
    out = table.copy()
    ids = out["campaign_id"].astype(str)
    out["running"] = ids.isin(running).to_numpy()
    out["days_since_launch"] = ids.map(lambda c: running.get(c, 200.0)).astype(float).to_numpy()
    return out


def test_campaign_rates_draw_a_running_campaign_as_running() -> None:
    rates = campaign_table(
        [("c1", "Phishing Basics", 200, 150, 120, 120, 72), ("c2", "New Module", 150, 30, 9, 9, 3)]
    )
    fig = plot_campaign_rates(_with_phases(rates, {"c2": 12.0}))

    axes = _axes(fig)
    ticks = _tick_labels(axes[0])
    assert "running \u00b7 12 days" in ticks[1] and "New Module" in ticks[1]
    assert "running" not in ticks[0]
    for ax in axes:
        lines = {str(ln.get_gid()): ln for ln in _point_lines(ax)}
        assert list(lines["points-running"].get_ydata()) == [1.0]
        assert list(lines["points"].get_ydata()) == [0.0]
        # hollow: a white face inside the metric's colour, unlike the completed campaign's dot
        assert lines["points-running"].get_markerfacecolor() == "white"
        assert lines["points"].get_markerfacecolor() == lines["points"].get_color()
    footnote = _footnote(fig)
    assert f"Running: launched under {RUNNING_DAYS} days before the data was fetched" in footnote
    assert "rates will still rise" in footnote


def test_campaign_rates_without_running_campaigns_say_nothing_of_them() -> None:
    rates = campaign_table([("c1", "Phishing Basics", 200, 150, 120, 120, 72)])
    for table in (rates, _with_phases(rates, {})):
        fig = plot_campaign_rates(table)
        assert "Running" not in _footnote(fig)
        assert "running" not in _tick_labels(_axes(fig)[0])[0]
        assert all(ln.get_gid() == "points" for ax in _axes(fig) for ln in _point_lines(ax))


def _with_modules(table: pd.DataFrame, modules: dict[str, str]) -> pd.DataFrame:
    out = table.copy()
    out["module_title"] = out["campaign_id"].astype(str).map(modules).to_numpy()
    return out


ACCURACY_ROWS = [
    ("c1", "Phishing Basics", 1, 80, 20, 10),
    ("c1", "Phishing Basics", 2, 45, 45, 20),
    ("c2", "Password Hygiene", 1, 30, 10, 0),
]


def test_question_accuracy_names_questions_by_number_and_module() -> None:
    one = accuracy_table(ACCURACY_ROWS[:2])
    fig = plot_question_accuracy(_with_modules(one, {"c1": "Spot the Spoof"}))
    titles = [_flat(ax.get_title(loc="left")) for ax in _axes(fig)]
    assert titles == [question_label(1, "Spot the Spoof"), question_label(2, "Spot the Spoof")]
    assert titles[0] == "Q1 \u00b7 Spot the Spoof"


def test_question_accuracy_with_several_modules_names_each_under_its_campaign() -> None:
    accuracy = accuracy_table(ACCURACY_ROWS)
    fig = plot_question_accuracy(
        _with_modules(accuracy, {"c1": "Spot the Spoof", "c2": "Password Hygiene module"})
    )
    axes = _axes(fig)
    assert [ax.get_title(loc="left") for ax in axes] == [question_label(1, ""), "Q2"]
    ticks = [_flat(t) for t in _tick_labels(axes[0])]
    assert ticks[0].startswith("Phishing Basics Spot the Spoof")
    assert ticks[1].startswith("Password Hygiene Password Hygiene module")
    assert "n=100" in ticks[0]  # the row still counts who answered question 1
    assert "module" in _footnote(fig)


# --- every chart: text size and layout ------------------------------------------------------


def _demo_tables() -> dict[str, pd.DataFrame]:
    """Rate tables of the synthetic organisation through the analysis engine, as dashboards
    see them: campaigns annotated with their phase and module, a department suppressed."""
    dataset = synthetic_dataset(n_users=300, n_campaigns=6)
    frames = build_frames(dataset.campaigns, dataset.users)
    engine = Engine(frames.users, frames.answers)
    phases = campaign_phases(frames.campaigns, datetime.combine(DEMO_AS_OF, time(), UTC))
    view = engine.view(Selection(), 35)  # some of the 10 departments have fewer than 35 people
    comparison = view.department_comparison("completion")
    one_campaign = engine.view(Selection(campaign_ids=(str(phases["campaign_id"].iloc[-1]),)), 5)
    return {
        "campaigns": annotate_campaigns(view.campaign_rates(), phases),
        "accuracy": annotate_campaigns(view.question_accuracy(), phases),
        "accuracy of one campaign": annotate_campaigns(one_campaign.question_accuracy(), phases),
        "comparison": comparison,
    }


@pytest.fixture(scope="module")
def demo_tables() -> dict[str, pd.DataFrame]:
    return _demo_tables()


def _every_chart(demo: dict[str, pd.DataFrame]) -> Iterator[tuple[str, Figure]]:
    comparison = comparison_table(DEPARTMENTS, org_rate=0.5, k=5)
    suppressed_campaigns = campaign_table(
        [("c1", "Phishing Basics", 200, 150, 120, 120, 72), ("c2", "Tiny", None, 0, 0, None, 0)],
        k=5,
    )
    suppressed_accuracy = accuracy_table(
        [("c1", "Phishing Basics", q, 40, 10, 0) for q in (1, 2, 3, 4)]
        + [("c2", LONG_NAME, q, None, None, 0) for q in (1, 2, 3, 4)],
        k=5,
    )
    yield "demo campaigns", plot_campaign_rates(demo["campaigns"], SELECTION)
    yield "demo accuracy", plot_question_accuracy(demo["accuracy"], SELECTION)
    yield "demo accuracy, one", plot_question_accuracy(demo["accuracy of one campaign"])
    yield "demo intervals", plot_department_intervals(demo["comparison"], SELECTION)
    yield "demo funnel", plot_funnel(demo["comparison"], SELECTION)
    yield "suppressed campaigns", plot_campaign_rates(suppressed_campaigns, SELECTION)
    yield "suppressed accuracy", plot_question_accuracy(suppressed_accuracy, SELECTION)
    yield "suppressed intervals", plot_department_intervals(comparison, SELECTION)
    yield "suppressed funnel", plot_funnel(comparison, SELECTION)
    # the organisation line near an edge: its label must not run off the figure
    for org_rate in (0.01, 0.99):
        edge = comparison_table(DEPARTMENTS, org_rate=org_rate, k=5)
        yield f"intervals, organisation at {org_rate:.0%}", plot_department_intervals(edge)
    yield "empty campaigns", plot_campaign_rates(campaign_table([]), SELECTION)
    yield "empty accuracy", plot_question_accuracy(accuracy_table([]), SELECTION)
    yield "empty intervals", plot_department_intervals(comparison_table([], 0.5), SELECTION)
    yield "empty funnel", plot_funnel(comparison_table([], 0.5), SELECTION)


def _drawn_texts(fig: Figure) -> list[tuple[Text, tuple[float, float, float, float]]]:
    """Every visible, non-empty text after an SVG draw, with its extent in points (the SVG
    backend's text metrics: what a browser lays out)."""
    dpi = fig.dpi
    fig.dpi = 72
    try:
        width, height = fig.get_size_inches() * 72
        renderer = RendererSVG(width, height, io.StringIO())
        fig.draw(renderer)  # tick labels get their text and place when drawn
        found = []
        for text in fig.findobj(Text):
            if text.get_visible() and text.get_text().strip():
                box = text.get_window_extent(renderer)
                found.append((text, (box.x0, box.y0, box.x1, box.y1)))
        return found
    finally:
        fig.dpi = dpi


def test_every_text_is_at_least_8_5_points(demo_tables: dict[str, pd.DataFrame]) -> None:
    # Reports show charts at natural size: 10 in = 960 CSS px, so 8.5 pt is 11.3 px.
    assert plots.MIN_TEXT_SIZE == 8.5
    for name, fig in _every_chart(demo_tables):
        texts = _drawn_texts(fig)
        assert len(texts) >= 3, name
        small = [(t.get_text(), t.get_fontsize()) for t, _ in texts if t.get_fontsize() < 8.5]
        assert small == [], name


def test_every_text_stays_inside_the_figure(demo_tables: dict[str, pd.DataFrame]) -> None:
    # Layout is computed from text metrics (no layout engine): nothing may be cut off.
    for name, fig in _every_chart(demo_tables):
        width, height = fig.get_size_inches() * 72
        for text, (x0, y0, x1, y1) in _drawn_texts(fig):
            where = f"{name}: {text.get_text()!r}"
            assert x0 >= -0.5 and x1 <= width + 0.5, where
            assert y0 >= -0.5 and y1 <= height + 0.5, where


def test_panels_and_their_tick_labels_do_not_overlap(demo_tables: dict[str, pd.DataFrame]) -> None:
    for name, fig in _every_chart(demo_tables):
        axes = sorted(_axes(fig), key=lambda ax: ax.get_position().x0)
        for left, right in itertools.pairwise(axes):
            assert left.get_position().x1 < right.get_position().x0, name
        texts = dict((id(t), box) for t, box in _drawn_texts(fig))
        for left, right in itertools.pairwise(axes):
            edge = right.get_position().x0 * fig.get_figwidth() * 72
            labels = [texts[id(t)] for t in right.get_yticklabels() if id(t) in texts]
            assert all(x1 <= edge for _, _, x1, _ in labels), name
            # the panel on the left keeps its value labels left of these tick labels
            values = [texts[id(t)] for t in _texts(left, "value") if id(t) in texts]
            start = min((x0 for x0, _, _, _ in labels), default=edge)
            assert all(x1 <= start + 0.5 for _, _, x1, _ in values), name
