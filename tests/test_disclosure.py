"""Report-wide disclosure control, attacked as a curious recipient would.

An adversarial organisation (departments of 1, 2, 3 and 4 people, a 3-person pilot campaign, a
department whose name contains another's, one person in a department for a single campaign) is
rendered with ``--pseudonymise``; an independent solver (``tests/attack.py``) reads
``figures.csv`` and the org chart and must find no group under k people determined. The audit
must catch a leak planted on purpose, and every number of the pages' Data tables must be in
``figures.csv`` and the reverse.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from awareness_analysis.analysis import disclosure
from awareness_analysis.analysis.disclosure import DisclosurePlan, audit, plan_disclosure
from awareness_analysis.analysis.engine import Cell, Engine
from awareness_analysis.analysis.session import open_analysis
from awareness_analysis.analysis.trends import trend_campaign_ids
from awareness_analysis.data.frames import build_frames
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.views import report as report_module
from awareness_analysis.views.report import ReportError, render_reports, report_publications
from tests.attack import BEHAVIOUR_CHARTS, exposed_groups, exposed_phishing_groups

K = 5
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SIZES = {"Solo": 1, "Pair": 2, "Trio": 3, "Quad": 4, "Sales": 30, "Sales Ops": 12, "Eng": 40}
SMALL = ("Solo", "Pair", "Trio")  # under k people; Quad has 4, and 5 once eng0 joins it


def _campaign(cid: str, name: str, questions: int, month: int) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "title": {
            "id": f"m-{cid}",
            "title": f"Module {name}",
            "correctAnswers": {f"forQuestion{q}": 1 for q in range(1, questions + 1)},
        },
        "launchDate": f"2026-0{month}-01T09:00:00+0000",
    }


def adversarial_frames() -> Any:
    people = [
        (f"{department.lower().replace(' ', '.')}{i}@adv.example", department)
        for department, size in SIZES.items()
        for i in range(size)
    ]
    cycle = ["SENT", "CORRECT", "INCORRECT", "CORRECT", "CORRECT"]

    def items(offset: int, questions: int, who: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [
            {
                "email": email,
                "name": f"Person {email.split('@')[0]}",
                "department": department,
                "acknowledgement": (i * 7 + offset) % 3 != 0,
                "results": {
                    f"forQuestion{q}": cycle[(i + offset + q) % len(cycle)]
                    for q in range(1, questions + 1)
                },
            }
            for i, (email, department) in enumerate(who)
        ]

    # In the second campaign one engineer sits in "Quad" (a department for one campaign only).
    second = [(e, "Quad") if e == "eng0@adv.example" else (e, d) for e, d in people]
    campaigns = [
        _campaign("c-all", "All Hands", 2, 1),
        _campaign("c-wave", "Second Wave", 3, 2),
        _campaign("c-pilot", "Tiny Pilot", 1, 3),
    ]
    users = {
        "c-all": items(0, 2, people),
        "c-wave": items(1, 3, second),
        "c-pilot": items(2, 1, people[-3:]),  # 3 people: the whole campaign is under k
    }
    return build_frames(campaigns, users)


@pytest.fixture(scope="module")
def adversarial_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("adversarial") / "store"
    SnapshotStore(store).write(
        adversarial_frames(), api_host="127.0.0.1:1", query={"campaign_ids": []}
    )
    return store


@pytest.fixture(scope="module")
def adversarial_report(adversarial_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("adversarial-report") / "out"
    render_reports(adversarial_store, out, pseudonymise=True, min_group_size=K, progress=False)
    return out


def visible(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'src="data:[^"]*"', " ", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_attacker_finds_no_small_group(
    adversarial_report: Path, adversarial_store: Path
) -> None:
    assert exposed_groups(adversarial_report, adversarial_store, K) == []
    summary = (adversarial_report / "audit.txt").read_text()
    assert summary.startswith("Disclosure audit:") and summary.strip().endswith("passed.")


def test_the_attacker_reads_figures_pooled_over_some_campaigns(
    adversarial_store: Path, tmp_path: Path
) -> None:
    """A figure over "A + B" minus the same figure over A is B: the attacker must read a
    pooled figure's campaign list as exactly those campaigns (not as every campaign), or it
    would miss a leak the trends page could make."""
    users = SnapshotStore(adversarial_store).load().frames.users
    sizes = users.groupby(["campaign_name", "department"], observed=True)["email"].nunique()
    small = sizes[(sizes > 0) & (sizes < K)]
    (campaign_b, department) = small.index[0]
    others = sizes.xs(department, level="department")
    campaign_a = next(c for c in others.index if c != campaign_b)
    report = tmp_path / "report"
    report.mkdir()
    row = {
        "page": "06_trends_and_people",
        "view": "Completion",
        "chart": "Department trends",
        "metric": "completion odds ratio per year",
        "department": department,
        "question": "",
    }
    pd.DataFrame(
        [row | {"campaign": f"{campaign_a} + {campaign_b}"}, row | {"campaign": campaign_a}]
    ).to_csv(report / "figures.csv", index=False)
    exposed = exposed_groups(report, adversarial_store, K)
    assert f"enrolment cell ({campaign_b!r}, {department!r}) ({small.iloc[0]} people)" in exposed
    # The pooled figure alone does not give B's cell.
    pd.DataFrame([row | {"campaign": f"{campaign_a} + {campaign_b}"}]).to_csv(
        report / "figures.csv", index=False
    )
    cell = f"enrolment cell ({campaign_b!r}, {department!r})"
    assert not any(e.startswith(cell) for e in exposed_groups(report, adversarial_store, K))


def _no_plan(
    engine: Engine, publications: Any, k: int, **options: Any
) -> tuple[DisclosurePlan, Any]:
    """A planner that hides nothing beyond per-table suppression: a leak planted on purpose."""
    return DisclosurePlan(k=k), None


def _two_notebooks(folder: Path) -> Path:
    only = folder / "notebooks"
    only.mkdir()
    for name in ("01_campaign_overview.ipynb", "03_department_comparison.ipynb"):
        shutil.copy(NOTEBOOKS / name, only)
    return only


def test_the_attacker_would_find_them_in_a_report_without_the_plan(
    adversarial_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The solver is not blind: with per-table suppression only (no report-wide plan) and the
    # audit switched off, the same figures expose small groups.
    def no_audit(*args: Any, **kwargs: Any) -> Any:
        return disclosure.AuditResult(0, 0, 0, K)

    monkeypatch.setattr(report_module, "plan_disclosure", _no_plan)
    monkeypatch.setattr(report_module, "audit", no_audit)
    out = tmp_path / "out"
    render_reports(
        adversarial_store, out, min_group_size=K, notebooks=_two_notebooks(tmp_path), progress=False
    )
    assert exposed_groups(out, adversarial_store, K)


def test_a_planted_leak_stops_the_report(
    adversarial_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "plan_disclosure", _no_plan)
    out = tmp_path / "out"
    with pytest.raises(ReportError, match="disclosure audit") as info:
        render_reports(
            adversarial_store,
            out,
            min_group_size=K,
            notebooks=_two_notebooks(tmp_path),
            progress=False,
        )
    message = str(info.value)
    assert "determined" in message
    # The error names the figures that combine into the leak: page, view, chart and metric.
    named = message.split("it comes from these figures: ", 1)[1]
    assert re.search(
        r"0\d_\w+ / [^/]+ / [^/]+ / (acknowledgement|completion|all_correct|accuracy)", named
    )
    assert not out.exists()  # a leaky report is never written
    assert not list(tmp_path.glob(".out.*"))


def test_the_audit_catches_a_difference_of_published_totals() -> None:
    frames = adversarial_frames()
    engine = Engine(frames.users, frames.answers)
    atoms = {(c, d) for c in ("c-all",) for d in SIZES}
    total = Cell("enrolment", frozenset(atoms))
    # Every department of the campaign shown except Pair: Pair = total - the others.
    others = [Cell("enrolment", frozenset({("c-all", d)})) for d in SIZES if d != "Pair"]
    result = audit(engine, [total, *others], [], K)
    assert not result.passed
    assert any("c-all / Pair" in leak for leak in result.leaks)
    # Each leak lists the published cells it is made of.
    pair = next(i for i, leak in enumerate(result.leaks) if "c-all / Pair" in leak)
    assert total in result.leak_cells[pair] and result.leak_cells[pair] <= {total, *others}
    # Hide one more department (Solo is hidden anyway, under k): Pair is safe again.
    safe = audit(engine, [total, *(c for c in others if ("c-all", "Trio") not in c.atoms)], [], K)
    assert not any("/ Pair" in leak for leak in safe.leaks)


def test_the_audit_links_answer_figures_to_completion_counts() -> None:
    # An answer figure's people (who answered) is a completion count: the campaign's total
    # completion minus every other department's answer figure leaves Pair's completion.
    frames = adversarial_frames()
    engine = Engine(frames.users, frames.answers)
    total = Cell("enrolment", frozenset(("c-all", d) for d in SIZES))
    answers = [
        Cell("answer", frozenset(("c-all", d, q) for q in ("1", "2"))) for d in SIZES if d != "Pair"
    ]
    result = audit(engine, [total, *answers], [], K)
    assert any("c-all / Pair" in leak for leak in result.leaks), result.leaks
    # A one-question campaign: its enrolment counts are answer counts too.
    pilot = Cell("enrolment", frozenset({("c-pilot", "Eng")}))
    linked = audit(engine, [pilot], [], K)
    assert any("answer cell c-pilot / Eng" in leak for leak in linked.leaks), linked.leaks


def test_plan_drops_small_campaigns_and_hides_departments_everywhere(
    adversarial_store: Path,
) -> None:
    from awareness_analysis.analysis.session import open_analysis

    analysis = open_analysis(adversarial_store, min_group_size=K)
    plan, result = plan_disclosure(analysis.engine, report_publications(analysis), K)
    assert plan.dropped_campaigns == ("c-pilot",)
    assert set(SMALL) <= set(plan.hidden_departments)
    assert result.passed and result.groups_checked > 0


def test_small_groups_and_the_pilot_never_reach_a_page(adversarial_report: Path) -> None:
    for page in adversarial_report.glob("*.html"):
        text = visible(page.read_text(encoding="utf-8"))
        assert "Tiny Pilot" not in text, page.name
        for department in SMALL:
            assert not re.search(rf"\b{department}\b", text), (page.name, department)
    figures = pd.read_csv(adversarial_report / "figures.csv", keep_default_na=False)
    assert not set(figures["department"]) & set(SMALL)
    people = pd.to_numeric(figures["people"].replace("", None), errors="coerce")
    assert (people.dropna() >= K).all()
    # Only the vendor's own counters (its totals and option spread) have no people count.
    unknown = figures.loc[people.isna(), "metric"]
    assert all("vendor" in m or " wrong option " in m for m in unknown), set(unknown)
    # Quad: 5 people over both campaigns (shown), 4 in All Hands (never published alone).
    quad = figures[figures["department"] == "Quad"]
    assert "All Hands" not in set(quad["campaign"])
    assert not ((figures["view"] == "Quad") & (figures["campaign"] == "All Hands")).any()
    base = {"acknowledgement", "completion", "all_correct", "accuracy"}
    own_metrics = ("05_knowledge_and_behaviour", "06_trends_and_people", "07_question_quality")
    quality = figures["page"] == "08_data_quality"  # counts and the vendor's counters
    assert quality.any() and figures.loc[quality, "metric"].str.len().gt(0).all()
    own = figures["page"].isin(own_metrics) | (figures["chart"] == "Trend lines")
    assert set(figures.loc[~own & ~quality, "metric"]) <= base
    # The trends page and the index's trend lines name what each figure is: a base metric's
    # rate or trend, repeat non-completers' arms, or a completion curve's point.
    trends = figures.loc[own, "metric"]
    assert len(trends) and all(
        m.split()[0] in base or m.startswith(("missed ", "acknowledged by ", "answered by "))
        for m in trends
    )
    assert list(figures.columns) == list(report_module.FIGURE_COLUMNS)


def _data_rows(page: str) -> list[tuple]:
    rows = []
    for table in re.findall(r'<details class="aa-data">.*?</details>', page, re.S):
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
            cells = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
            rows.append(_key(cells))
    return rows


def _key(cells: list[Any]) -> tuple:
    metric, campaign, department, question, numerator, n, people, *rates = cells
    return (
        metric,
        campaign,
        department,
        str(question),
        str(numerator),
        str(n),
        str(people),
        *(f"{float(r):.4f}" if r != "" else "" for r in rates),
    )


def assert_data_tables_match_figures_csv(report: Path) -> None:
    """Every chart's Data table row is a figures.csv row of its page, and the reverse."""
    figures = pd.read_csv(report / "figures.csv", keep_default_na=False, dtype=str)
    charts = {"Campaign overview", "Per-question accuracy", "Department comparison"}
    charts |= BEHAVIOUR_CHARTS
    charts |= {"Campaign trend", "Department trends", "Repeat non-completers", "Completion curves"}
    charts |= {"Question quality", "Data quality", "Reconciliation with the vendor's counters"}
    for page in sorted(report.glob("0*.html")):
        in_tables = sorted(_data_rows(page.read_text(encoding="utf-8")))
        rows = figures[(figures["page"] == page.stem) & figures["chart"].isin(charts)]
        in_csv = sorted(_key(list(r)) for r in rows[list(report_module.FIGURE_COLUMNS[3:])].values)
        assert in_tables == in_csv, page.name


def test_data_tables_and_figures_csv_hold_the_same_numbers(adversarial_report: Path) -> None:
    assert_data_tables_match_figures_csv(adversarial_report)


def test_demo_report_resists_the_attack(tmp_path: Path) -> None:
    import os

    store = Path(os.environ["AWARENESS_STORE"])
    out = tmp_path / "demo"
    render_reports(store, out, pseudonymise=True, min_group_size=K, progress=False)
    # This found the single unassigned person of the Invoice Fraud campaign (completion:
    # a pooled total minus five campaigns minus one accuracy row's people) until answer
    # figures' people counted as completions in the plan.
    assert exposed_groups(out, store, K) == []
    assert exposed_phishing_groups(out, store, K) == []
    assert (out / "audit.txt").read_text().strip().endswith("passed.")
    assert_data_tables_match_figures_csv(out)
    # Figures pooled over some campaigns name exactly those (the attacker above reads them so).
    analysis = open_analysis(store, min_group_size=K)
    fitted, eligible = trend_campaign_ids(analysis.users, analysis.campaigns, as_of=analysis.as_of)
    figures = pd.read_csv(out / "figures.csv", keep_default_na=False)
    names = analysis.campaign_names
    pooled = {
        "Department trends": " + ".join(names[c] for c in fitted),
        "Trend lines": " + ".join(names[c] for c in fitted),
        "Repeat non-completers": " + ".join(names[c] for c in eligible),
    }
    for chart, campaigns in pooled.items():
        assert set(figures.loc[figures["chart"] == chart, "campaign"]) == {campaigns}, chart


def test_the_plan_does_not_depend_on_hash_order() -> None:
    # One store, one k: one plan, whatever order Python's string hashing gives sets.
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from awareness_analysis.analysis.session import open_analysis\n"
        "from awareness_analysis.analysis.disclosure import plan_disclosure\n"
        "from awareness_analysis.views.report import report_publications\n"
        "a = open_analysis(sys.argv[1], min_group_size=5)\n"
        "print(plan_disclosure(a.engine, report_publications(a), 5)[0].to_json())\n"
    )
    plans = {
        subprocess.run(
            [sys.executable, "-c", script, os.environ["AWARENESS_STORE"]],  # the demo
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(plans) == 1 and '"hidden_cells"' in plans.pop()
