"""Charts: checked on Figure and Axes objects built from hand-made rate tables (no images)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import PercentFormatter

from awareness_analysis.analysis.metrics import DEFINITIONS, funnel_limits
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
    assert ax.get_ylim() == (0.0, 1.0)
    assert sorted(_points(ax)) == [(20.0, 0.45), (40.0, 0.6), (1000.0, 0.8), (2000.0, 0.47)]

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
