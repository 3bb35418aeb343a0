"""Charts and dashboard of knowledge and behaviour (views/behaviour.py) on a demo-like store.

The store is the demo organisation fetched through the fake API with every behaviour source
(``build_demo_store``), so the charts draw the analyses' real output.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.formatters import format_display_data
from IPython.display import HTML
from matplotlib.backends.backend_svg import RendererSVG
from matplotlib.figure import Figure
from matplotlib.text import Text

from awareness_analysis.analysis.behaviour import (
    BEHAVIOURS,
    knowledge_behaviour_pairs,
    knowledge_click_model,
    knowledge_click_risk_ratio,
    phishing_rates,
    safe_vs_accuracy,
    time_to_event,
)
from awareness_analysis.analysis.session import Analysis, open_analysis
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.demo import build_demo_store
from awareness_analysis.errors import StoreError
from awareness_analysis.views import behaviour as behaviour_views
from awareness_analysis.views.behaviour import (
    REPORT_NOTE,
    KnowledgeBehaviour,
    behaviour_tables,
    merge_notes,
    plot_knowledge_effect,
    plot_phishing_rates,
    plot_safe_vs_accuracy,
    plot_time_to_event,
)
from awareness_analysis.views.render import figure_svg
from awareness_analysis.vocabulary import SUPPRESSED_LABEL

K = 5
TINY_DEPARTMENT = "Board Secretariat"  # 3 people in the demo organisation


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("behaviour") / "store"
    build_demo_store(out, progress=False)
    return out


@pytest.fixture(scope="module")
def analysis(store: Path) -> Analysis:
    return open_analysis(store, min_group_size=K)


@pytest.fixture(scope="module")
def tables(analysis: Analysis) -> dict[str, object]:
    data = behaviour_tables(analysis)
    pairs = knowledge_behaviour_pairs(
        analysis.users, analysis.campaigns, data.phish_users, data.phish_campaigns
    )
    models = [knowledge_click_model(pairs, K, outcome=o) for o in BEHAVIOURS]
    model = pd.concat(models, ignore_index=True)
    model.attrs = dict(models[0].attrs)
    tiny = data.phish_users[data.phish_users["department"].astype(str) == TINY_DEPARTMENT]
    assert data.safe_scores is not None
    return {
        "rates": phishing_rates(data.phish_users, K),
        "rates_tiny": phishing_rates(tiny, K),
        "rr": knowledge_click_risk_ratio(pairs, K),
        "rr_tiny": knowledge_click_risk_ratio(
            pairs[pairs["department"].astype(str) == TINY_DEPARTMENT], K
        ),
        "model": model,
        "safe": safe_vs_accuracy(data.safe_scores, analysis.users, K),
        "click": time_to_event(
            data.phish_users, analysis.as_of, "clicked", phish_campaigns=data.phish_campaigns, k=K
        ),
        "report": time_to_event(
            data.phish_users, analysis.as_of, "reported", phish_campaigns=data.phish_campaigns, k=K
        ),
        "click_tiny": time_to_event(tiny, analysis.as_of, "clicked", k=K),
        "report_tiny": time_to_event(tiny, analysis.as_of, "reported", k=K),
    }


def _charts(tables: dict[str, object]) -> Iterator[tuple[str, Figure]]:
    yield "rates", plot_phishing_rates(tables["rates"], "All phishing campaigns")  # type: ignore[arg-type]
    yield "rates tiny", plot_phishing_rates(tables["rates_tiny"], TINY_DEPARTMENT)  # type: ignore[arg-type]
    yield "effect", plot_knowledge_effect(tables["rr"], tables["model"])  # type: ignore[arg-type]
    yield "effect tiny", plot_knowledge_effect(tables["rr_tiny"], tables["model"].iloc[:0])  # type: ignore[arg-type,union-attr]
    yield "safe", plot_safe_vs_accuracy(tables["safe"])  # type: ignore[arg-type]
    yield "time", plot_time_to_event(tables["click"], tables["report"])  # type: ignore[arg-type]
    yield "time tiny", plot_time_to_event(tables["click_tiny"], tables["report_tiny"])  # type: ignore[arg-type]


def _drawn_texts(fig: Figure) -> list[tuple[Text, tuple[float, float, float, float]]]:
    """Every visible non-empty text after an SVG draw, with its extent in points."""
    dpi = fig.dpi
    fig.dpi = 72
    try:
        width, height = fig.get_size_inches() * 72
        renderer = RendererSVG(width, height, io.StringIO())
        fig.draw(renderer)
        found = []
        for text in fig.findobj(Text):
            if text.get_visible() and text.get_text().strip():
                box = text.get_window_extent(renderer)
                found.append((text, (box.x0, box.y0, box.x1, box.y1)))
        return found
    finally:
        fig.dpi = dpi


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _footnote(fig: Figure) -> str:
    return _flat(" ".join(t.get_text() for t in fig.texts if t.get_gid() == "footnote"))


def _gid_texts(fig: Figure, gid: str) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_gid() == gid]


def test_every_text_is_at_least_8_5_points_and_inside_the_figure(
    tables: dict[str, object],
) -> None:
    for name, fig in _charts(tables):
        texts = _drawn_texts(fig)
        assert len(texts) >= 3, name
        small = [(t.get_text(), t.get_fontsize()) for t, _ in texts if t.get_fontsize() < 8.5]
        assert small == [], name
        width, height = fig.get_size_inches() * 72
        for text, (x0, y0, x1, y1) in texts:
            where = f"{name}: {text.get_text()!r}"
            assert x0 >= -0.5 and x1 <= width + 0.5, where
            assert y0 >= -0.5 and y1 <= height + 0.5, where


def _carries(fig: Figure, note: str) -> None:
    footnote = _footnote(fig)
    for sentence in re.split(r"(?<=[.)])\s+(?=[A-Z(])", note):
        assert _flat(sentence) in footnote, sentence


def test_titles_and_footnotes_carry_selection_and_notes(tables: dict[str, object]) -> None:
    rates = tables["rates"]
    fig = plot_phishing_rates(rates, "All phishing campaigns; Finance")  # type: ignore[arg-type]
    assert "Finance" in fig.get_suptitle()
    _carries(fig, rates.attrs["note"])  # type: ignore[union-attr]
    assert "scanner" in _footnote(fig)
    effect = plot_knowledge_effect(tables["rr"], tables["model"], "sel")  # type: ignore[arg-type]
    _carries(effect, tables["rr"].attrs["note"])  # type: ignore[union-attr]
    _carries(effect, tables["model"].attrs["note"])  # type: ignore[union-attr]
    assert "Observational data" in _footnote(effect)
    safe = tables["safe"]
    safe_fig = plot_safe_vs_accuracy(safe)  # type: ignore[arg-type]
    _carries(safe_fig, safe.grades.attrs["note"])  # type: ignore[union-attr]
    rho = float(safe.correlation["rho"].iloc[0])  # type: ignore[union-attr]
    assert f"rho = {rho:.2f}" in safe_fig.get_suptitle()
    time = plot_time_to_event(tables["click"], tables["report"])  # type: ignore[arg-type]
    _carries(time, tables["click"].curve.attrs["note"])  # type: ignore[union-attr]
    _carries(time, tables["report"].curve.attrs["note"])  # type: ignore[union-attr]
    assert time.axes[0].get_xlabel().startswith("Hours")


def test_merge_notes_keeps_each_sentence_once() -> None:
    assert merge_notes("A one. B two.", "B two. C three.") == "A one. B two. C three."


def test_rates_chart_draws_every_campaign_and_metric(tables: dict[str, object]) -> None:
    rates = tables["rates"]
    fig = plot_phishing_rates(rates)  # type: ignore[arg-type]
    assert len(fig.axes) == 3
    n_campaigns = rates["phish_campaign_id"].nunique()  # type: ignore[index]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == n_campaigns
    assert all("people" in label for label in labels)
    points = [line for ax in fig.axes for line in ax.lines if line.get_gid() == "points"]
    assert len(points) == 3 * n_campaigns
    assert _gid_texts(fig, "suppressed") == []


def test_suppressed_rows_are_named_as_suppressed(tables: dict[str, object]) -> None:
    rates_tiny = tables["rates_tiny"]
    assert rates_tiny["suppressed"].all()  # type: ignore[index]
    fig = plot_phishing_rates(rates_tiny)  # type: ignore[arg-type]
    n_campaigns = rates_tiny["phish_campaign_id"].nunique()  # type: ignore[index]
    assert len(_gid_texts(fig, "suppressed")) == 3 * n_campaigns
    assert all("fewer than 5 people" in t for t in _gid_texts(fig, "suppressed"))
    assert not [line for ax in fig.axes for line in ax.lines if line.get_gid() == "points"]
    assert "Suppressed: groups of fewer than 5 people" in _footnote(fig)
    rr_tiny = tables["rr_tiny"]
    assert rr_tiny["suppressed"].all()  # type: ignore[index]
    effect = plot_knowledge_effect(rr_tiny, tables["model"].iloc[:0])  # type: ignore[arg-type,union-attr]
    assert len(_gid_texts(effect, "suppressed")) == len(rr_tiny)  # type: ignore[arg-type]
    time = plot_time_to_event(tables["click_tiny"], tables["report_tiny"])  # type: ignore[arg-type]
    assert len(_gid_texts(time, "suppressed")) == 2
    assert "suppressed" in " ".join(_gid_texts(time, "suppressed"))


def test_forest_plot_is_log_scaled_with_a_line_at_one(tables: dict[str, object]) -> None:
    fig = plot_knowledge_effect(tables["rr"], tables["model"])  # type: ignore[arg-type]
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        lines = [line for line in ax.lines if line.get_gid() == "no-difference"]
        assert len(lines) == 1 and list(lines[0].get_xdata()) == [1.0, 1.0]
        # crude, Mantel-Haenszel, Poisson and the logistic odds ratio
        assert len([line for line in ax.lines if line.get_gid() == "points"]) == 4
    labels = " ".join(t.get_text() for t in fig.axes[0].get_yticklabels())
    for word in ("crude", "Mantel-Haenszel", "Poisson", "Odds ratio"):
        assert word in labels
    rr = tables["rr"]
    crude_click = rr[(rr["outcome"] == "clicked") & (rr["method"] == "crude")].iloc[0]  # type: ignore[index]
    assert f"{crude_click['risk_ratio']:.2f}" in " ".join(_gid_texts(fig, "value"))


def test_safe_chart_rows_are_grades(tables: dict[str, object]) -> None:
    fig = plot_safe_vs_accuracy(tables["safe"])  # type: ignore[arg-type]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert [label.split()[1] for label in labels] == ["A", "B", "C", "D", "F"]


def test_time_chart_has_two_curves_with_bands(tables: dict[str, object]) -> None:
    fig = plot_time_to_event(tables["click"], tables["report"])  # type: ignore[arg-type]
    ax = fig.axes[0]
    assert {line.get_gid() for line in ax.lines} >= {"curve-clicked", "curve-reported"}
    assert len(ax.collections) == 2  # the bands
    svg = figure_svg(fig)
    assert len(svg) < 400_000  # long curves are thinned before drawing


# -- behaviour_tables ---------------------------------------------------------------------


def test_behaviour_tables_error_names_the_fix(analysis: Analysis) -> None:
    bare = replace(analysis, tables={})
    with pytest.raises(StoreError, match="--include all"):
        behaviour_tables(bare)
    with pytest.raises(StoreError, match="--include all"):
        KnowledgeBehaviour(bare)


def test_behaviour_tables_of_the_store(analysis: Analysis, store: Path) -> None:
    data = behaviour_tables(analysis)
    assert len(data.phish_users) and len(data.phish_campaigns)
    assert data.safe_scores is not None
    assert SnapshotStore(store).exists()


# -- dashboard ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(analysis: Analysis) -> KnowledgeBehaviour:
    return KnowledgeBehaviour(analysis)


def _svgs(dashboard: KnowledgeBehaviour) -> list[str]:
    return [figure_svg(f) for f in dashboard.figures]


def test_dashboard_draws_four_charts_at_the_analysis_group_size(
    dashboard: KnowledgeBehaviour, analysis: Analysis
) -> None:
    assert dashboard.redraws == 1
    assert len(dashboard.figures) == 4
    assert len(dashboard.output.outputs) == 4
    assert dashboard.k == analysis.min_group_size == K
    assert dashboard.tables["rates"].attrs["min_group_size"] == K
    # the lists are as tall as their options
    assert dashboard.campaign.rows == len(dashboard.campaign.options)
    assert dashboard.department.rows == min(20, len(dashboard.department.options))


def test_dashboard_redraws_once_per_filter_change(dashboard: KnowledgeBehaviour) -> None:
    before = _svgs(dashboard)
    redraws = dashboard.redraws
    first = dashboard.campaign.options[0][1]
    dashboard.campaign.value = (first,)
    assert dashboard.redraws == redraws + 1
    after = _svgs(dashboard)
    assert after[0] != before[0] and after[1] != before[1] and after[3] != before[3]
    rates = dashboard.tables["rates"]
    assert set(rates["phish_campaign_id"].astype(str)) == {first}
    assert dashboard.campaign.options[0][0] in dashboard.figures[0].get_suptitle()

    department = next(d for d in dashboard.department.options if d != TINY_DEPARTMENT)
    dashboard.department.value = (department,)
    assert dashboard.redraws == redraws + 2
    assert department in dashboard.figures[0].get_suptitle()
    assert _svgs(dashboard)[2] != after[2]  # the SAFE chart follows the department

    # A department under the minimum group size is offered only within the combined group.
    assert TINY_DEPARTMENT not in dashboard.department.options
    dashboard.department.value = (SUPPRESSED_LABEL,)
    assert dashboard.redraws == redraws + 3
    assert SUPPRESSED_LABEL in dashboard.figures[0].get_suptitle()

    dashboard.campaign.value = ()
    dashboard.department.value = ()
    assert dashboard.redraws == redraws + 5
    assert _svgs(dashboard) == before  # back to everything: the same charts


def test_report_mode_without_phishing_tables_says_how_to_fetch_them(
    analysis: Analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = replace(analysis, report=True, tables={})
    dashboard = KnowledgeBehaviour(bare)
    assert dashboard.figures == [] and dashboard.redraws == 0
    shown: list[object] = []
    monkeypatch.setattr(behaviour_views, "display", shown.append)
    dashboard._ipython_display_()
    assert len(shown) == 1 and isinstance(shown[0], HTML)
    data, _ = format_display_data(shown[0])
    assert REPORT_NOTE in html.unescape(data["text/html"])
    assert "--include all" in REPORT_NOTE
    assert "<svg" not in data["text/html"] and "<img" not in data["text/html"]


def test_report_mode_prerenders_every_view(
    analysis: Analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashboard = KnowledgeBehaviour(replace(analysis, report=True))
    assert dashboard.redraws == 0  # no widgets, no redraws: views are drawn once for the page
    page = dashboard.static_html()
    figures = dashboard.report_figures
    assert figures is not None
    views = figures.views()
    assert page.count('class="aa-view"') == len(views)
    # Four charts a view; a phishing campaign's view has no SAFE chart (grades belong to
    # people, not campaigns: it would repeat the chart of all campaigns).
    campaign_views = sum(1 for view in views if view.phish_campaign_ids)
    assert campaign_views == 7
    assert page.count("<svg") == len(views) * 4 - campaign_views
    assert "knowledge from 7 awareness campaigns" in page
    assert TINY_DEPARTMENT not in re.findall(r'<option value="v\d+">([^<]*)</option>', page)


def test_small_departments_are_offered_only_together(store: Path) -> None:
    dashboard = KnowledgeBehaviour(open_analysis(store, min_group_size=50), autodraw=False)
    options = list(dashboard.department.options)
    assert "Board Secretariat" not in options  # 3 people in the demo organisation
    assert SUPPRESSED_LABEL in options and dashboard.hidden_departments
    assert not set(dashboard.hidden_departments) & set(options)
    # Choosing the combined group selects every hidden department's rows, and only those.
    dashboard.department.value = (SUPPRESSED_LABEL,)
    kept = dashboard._keep(dashboard.data.phish_users, None)
    assert set(kept["department"].astype(str)) == set(dashboard.hidden_departments)


def test_pseudonymised_tables_join_the_pseudonymised_users(store: Path) -> None:
    plain = open_analysis(store, min_group_size=K)
    masked = open_analysis(store, min_group_size=K, pseudonymise=True)
    phish = masked.tables["phish_users"]
    assert phish["email"].str.startswith("user-").all()
    assert (phish["email_raw"] == phish["email"]).all()
    assert not set(plain.tables["phish_users"]["email"]) & set(phish["email"])
    # The same person has the same pseudonym in both: the join still finds them.
    assert set(phish["email"]) & set(masked.users["email"])
    assert len(set(phish["email"]) & set(masked.users["email"])) == len(
        set(plain.tables["phish_users"]["email"]) & set(plain.users["email"])
    )
    # The analyses see the same people either way.
    shown = KnowledgeBehaviour(masked, autodraw=False).compute()
    plain_shown = KnowledgeBehaviour(plain, autodraw=False).compute()
    pd.testing.assert_frame_equal(shown["risk_ratio"], plain_shown["risk_ratio"])


def test_people_join_every_source_through_the_alias_map(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from awareness_analysis.analysis.session import ALIAS_DOMAINS_ENV
    from awareness_analysis.fakeapi.demo_org import ALIAS_DOMAIN, PRIMARY_DOMAIN

    monkeypatch.delenv(ALIAS_DOMAINS_ENV, raising=False)
    plain = open_analysis(store, min_group_size=K)
    report = plain.people_report.set_index("source")
    assert set(report.index) >= {"campaigns", "phish_users", "safe_scores", "watchlist"}
    assert (report["matched"] + report["unmatched"] == report["people"]).all()
    assert report["aliased_rows"].sum() == 0
    # The demo's people with a second address at the alias domain become one person each.
    persons = set(plain.people["person"])
    aliased = {p for p in persons if p.endswith("@" + ALIAS_DOMAIN)}
    twins = {p for p in aliased if p.replace(ALIAS_DOMAIN, PRIMARY_DOMAIN) in persons}
    assert len(twins) >= 10
    monkeypatch.setenv(ALIAS_DOMAINS_ENV, f"{ALIAS_DOMAIN}={PRIMARY_DOMAIN}")
    joined = open_analysis(store, min_group_size=K)
    assert joined.people_report["aliased_rows"].sum() > 0
    assert len(joined.people) == len(plain.people) - len(twins)
    assert not joined.people["person"].str.endswith("@" + ALIAS_DOMAIN).any()
    # Pseudonymised (the alias map still set): joined on real addresses first, then masked.
    masked = open_analysis(store, min_group_size=K, pseudonymise=True)
    assert masked.people["person"].str.startswith("user-").all()
    assert len(masked.people) == len(joined.people)


def test_alias_domains_variable_is_checked() -> None:
    from awareness_analysis.analysis.session import alias_domains_from_env

    assert alias_domains_from_env({"AWARENESS_ALIAS_DOMAINS": " a.example=b.example, "}) == {
        "a.example": "b.example"
    }
    with pytest.raises(ValueError, match="old=new domain pairs"):
        alias_domains_from_env({"AWARENESS_ALIAS_DOMAINS": "a.example"})


# -- reuse and caching: the same tables and the same bytes as a fresh drawing ---------------


def test_a_reused_figure_draws_the_same_svg_as_a_new_one(
    tables: dict[str, object], analysis: Analysis
) -> None:
    data = behaviour_tables(analysis)
    assert data.safe_scores is not None
    safe_few = safe_vs_accuracy(data.safe_scores.iloc[:40], analysis.users, K)
    rates: pd.DataFrame = tables["rates"]  # type: ignore[assignment]
    rr: pd.DataFrame = tables["rr"]  # type: ignore[assignment]
    model: pd.DataFrame = tables["model"]  # type: ignore[assignment]
    charts = {
        # each chart through a sequence of tables: full, suppressed or few, empty, full again
        "rates": (
            plot_phishing_rates,
            [(rates,), (tables["rates_tiny"],), (rates.iloc[:0],), (rates,)],
        ),
        "effect": (
            plot_knowledge_effect,
            [
                (rr, model),
                (tables["rr_tiny"], model.iloc[:0]),
                (rr.iloc[:0], model.iloc[:0]),
                (rr, model),
            ],
        ),
        "safe": (plot_safe_vs_accuracy, [(tables["safe"],), (safe_few,), (tables["safe"],)]),
        "time": (
            plot_time_to_event,
            [
                (tables["click"], tables["report"]),
                (tables["click_tiny"], tables["report_tiny"]),
                (tables["click"], tables["report"]),
            ],
        ),
    }
    for name, (plot, inputs) in charts.items():
        figure = None
        for step, args in enumerate(inputs):
            fresh = figure_svg(plot(*args, f"step {step}"), name)  # type: ignore[operator]
            drawn = plot(*args, f"step {step}", figure=figure)  # type: ignore[operator]
            assert figure_svg(drawn, name) == fresh, (name, step)
            figure = drawn
        again = plot(*inputs[-1], "again", figure=figure)  # type: ignore[operator]
        assert again is figure, name  # the same panels: drawn into the figure it was given


def _outputs(dashboard: KnowledgeBehaviour) -> list[str]:
    return [output["data"]["image/svg+xml"] for output in dashboard.output.outputs]


def _assert_same_tables(shown: dict[str, object], fresh: dict[str, object]) -> None:
    assert shown.keys() == fresh.keys()
    for key, table in shown.items():
        other = fresh[key]
        parts = (
            [(table, other)]
            if isinstance(table, pd.DataFrame)
            else [(getattr(table, f), getattr(other, f)) for f in table.__dataclass_fields__]  # type: ignore[union-attr]
        )
        for mine, theirs in parts:
            pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
            assert mine.attrs == theirs.attrs, key


def test_going_back_to_a_selection_computes_and_draws_nothing_and_shows_the_same(
    analysis: Analysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashboard = KnowledgeBehaviour(analysis)
    start = _outputs(dashboard)
    department = next(d for d in dashboard.department.options if d != SUPPRESSED_LABEL)
    campaign = dashboard.campaign.options[2][1]
    dashboard.department.value = (department,)
    dashboard.campaign.value = (campaign,)
    chosen, chosen_tables = _outputs(dashboard), dict(dashboard.tables)
    dashboard.campaign.value = ()
    dashboard.department.value = ()
    assert _outputs(dashboard) == start

    calls: list[str] = []

    def counted(name: str) -> None:
        original = getattr(behaviour_views, name)

        def call(*args: object, **kwargs: object) -> object:
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(behaviour_views, name, call)

    for name in (
        "phishing_rates",
        "knowledge_click_risk_ratio",
        "knowledge_click_model",
        "safe_vs_accuracy",
        "time_to_event",
        "plot_phishing_rates",
        "plot_knowledge_effect",
        "plot_safe_vs_accuracy",
        "plot_time_to_event",
        "figure_display",
    ):
        counted(name)
    redraws = dashboard.redraws
    dashboard.department.value = (department,)
    dashboard.campaign.value = (campaign,)
    assert dashboard.redraws == redraws + 2
    assert calls == []  # both selections were made before: nothing computed or drawn
    assert _outputs(dashboard) == chosen
    assert all(dashboard.tables[key] is table for key, table in chosen_tables.items())
    monkeypatch.undo()

    # The figures (drawn into on first access) and the tables are a fresh dashboard's.
    fresh = KnowledgeBehaviour(analysis, autodraw=False)
    fresh.department.value = (department,)
    fresh.campaign.value = (campaign,)
    _assert_same_tables(dashboard.tables, fresh.tables)
    assert _outputs(dashboard) == _outputs(fresh)
    assert _svgs(dashboard) == _svgs(fresh)
    assert len({id(f) for f in dashboard.figures}) == 4


def test_a_campaign_change_leaves_the_safe_chart_as_it_was(analysis: Analysis) -> None:
    dashboard = KnowledgeBehaviour(analysis)
    safe, shown = dashboard.tables["safe"], dashboard.output.outputs[2]
    figures = dashboard.figures
    dashboard.campaign.value = (dashboard.campaign.options[1][1],)
    assert dashboard.tables["safe"] is safe  # its rows did not change: not computed again
    assert dashboard.output.outputs[2] is shown  # nor drawn again
    assert dashboard.tables["rates"] is not None and dashboard.output.outputs[0] is not shown
    # the other charts were drawn into the figures they had
    assert [id(f) for f in dashboard.figures] == [id(f) for f in figures]
