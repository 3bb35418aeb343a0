"""Item analysis of the knowledge questions: planted bad questions are flagged, fair ones not;
the page publishes only what the report's plan shows; page 07 renders without people."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from awareness_analysis.analysis.disclosure import DisclosurePlan, ReportContext, read_published
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.items import (
    FLAG_COLUMNS,
    item_analysis,
    item_analysis_for,
)
from awareness_analysis.analysis.session import open_analysis
from awareness_analysis.data.behaviour import module_options_frame, training_modules_frame
from awareness_analysis.data.frames import Frames, build_frames
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.views.items import CHART, QuestionQuality, plot_question_quality
from awareness_analysis.views.report import render_reports
from tests.attack import exposed_groups

PAGE = "07_question_quality"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LAUNCH = "2026-03-02T09:00:00+0000"
K = 5


def _campaign(cid: str, questions: int, launch: str = LAUNCH) -> dict[str, Any]:
    return {
        "id": cid,
        "name": f"Campaign {cid}",
        "title": {
            "id": f"module-{cid}",
            "title": f"Module_{cid}",
            "correctAnswers": {f"forQuestion{q}": 1 for q in range(1, questions + 1)},
        },
        "launchDate": launch,
    }


def _items(cid: str, right: np.ndarray) -> list[dict[str, Any]]:
    """One user item per row of ``right`` (people x questions: True correct, False wrong)."""
    return [
        {
            "email": f"person{i}@{cid}.example",
            "name": f"Person {i}",
            "department": f"Dept {i % 4}",
            "acknowledgement": True,
            "results": {
                f"forQuestion{q + 1}": "CORRECT" if value else "INCORRECT"
                for q, value in enumerate(row)
            },
        }
        for i, row in enumerate(right)
    ]


def _fair(rng: np.random.Generator, ability: np.ndarray, easiness: list[float]) -> np.ndarray:
    """Answers where better people are right more often: P(right) = logistic(1.5 ability + e)."""
    logits = 1.5 * ability[:, None] + np.asarray(easiness)[None, :]
    return rng.random(logits.shape) < 1 / (1 + np.exp(-logits))


def planted_frames(seed: int = 7) -> Frames:
    """A campaign of three fair questions, one the better people get wrong, one everyone gets
    right and one everyone gets wrong; and a one-question campaign."""
    rng = np.random.default_rng(seed)
    people = 400
    ability = rng.normal(size=people)
    fair = _fair(rng, ability, [0.3, 1.0, -0.2])
    backwards = rng.random(people) < 1 / (1 + np.exp(1.8 * ability - 0.4))
    right = np.column_stack([fair, backwards, np.ones(people, bool), np.zeros(people, bool)])
    single = _fair(rng, rng.normal(size=60), [0.5])
    return build_frames(
        [_campaign("mixed", 6), _campaign("single", 1)],
        {"mixed": _items("mixed", right), "single": _items("single", single)},
    )


def clean_frames(seed: int = 11) -> Frames:
    """Two campaigns of reasonable questions (shares correct about 35-85%, all fair)."""
    rng = np.random.default_rng(seed)
    first = _fair(rng, rng.normal(size=300), [-0.4, 0.4, 1.2, 0.0])
    second = _fair(rng, rng.normal(size=250), [0.8, -0.2])
    return build_frames(
        [_campaign("first", 4), _campaign("second", 2, "2026-05-04T09:00:00+0000")],
        {"first": _items("first", first), "second": _items("second", second)},
    )


def _row(table: pd.DataFrame, cid: str, question: int) -> pd.Series:
    rows = table[(table["campaign_id"].astype(str) == cid) & (table["question"] == question)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_planted_questions_are_each_flagged_and_the_fair_ones_not() -> None:
    frames = planted_frames()
    table = item_analysis(frames.answers, frames.campaigns, k=K)
    flags = {int(row.question): row for row in table[table["campaign_id"] == "mixed"].itertuples()}
    assert flags[4].negative_discrimination and flags[4].discrimination < -0.2
    assert "better scorers get it wrong more often" in flags[4].flag_reasons
    assert flags[5].too_easy and flags[5].difficulty == 1.0
    assert flags[5].flag_reasons == "almost everyone right"
    assert flags[6].too_hard and flags[6].difficulty == 0.0
    assert flags[6].flag_reasons == "almost everyone wrong"
    # No correlation for a question everyone answers alike, and the reason says why.
    assert np.isnan(flags[5].discrimination) and "no variation" in flags[5].discrimination_note
    for question in (1, 2, 3):
        row = flags[question]
        assert not any(getattr(row, column) for column in FLAG_COLUMNS), question
        assert row.discrimination > 0.1 and row.flag_reasons == ""
    # Who is judged: enough people answered.
    assert (table["flag_note"] == "").all()


def test_clean_questions_flag_nothing() -> None:
    frames = clean_frames()
    table = item_analysis(frames.answers, frames.campaigns, k=K)
    assert len(table) == 6
    assert not table[list(FLAG_COLUMNS)].to_numpy().any()
    assert (table["flag_reasons"] == "").all()
    assert (table["discrimination"] > 0).all()
    assert table["difficulty"].between(0.2, 0.95).all()


def test_a_one_question_campaign_has_no_discrimination_and_says_why() -> None:
    frames = planted_frames()
    row = _row(item_analysis(frames.answers, frames.campaigns, k=K), "single", 1)
    assert np.isnan(row["discrimination"]) and pd.isna(row["discrimination_ci_low"])
    assert row["discrimination_note"].startswith("one question in this module")
    assert not row["negative_discrimination"]
    assert row["difficulty"] == row["correct"] / row["n"]


def test_difficulty_intervals_cover_the_truth_about_95_percent_of_the_time() -> None:
    # 400 one-question campaigns of 150 people, each right with probability 0.6.
    rng = np.random.default_rng(3)
    campaigns, people, truth = 400, 150, 0.6
    answers = pd.DataFrame(
        {
            "campaign_id": np.repeat([f"c{i}" for i in range(campaigns)], people),
            "email": [f"p{j}@x.example" for _ in range(campaigns) for j in range(people)],
            "question": 1,
            "result": np.where(rng.random(campaigns * people) < truth, "correct", "incorrect"),
        }
    )
    table = item_analysis(answers, k=K)
    covered = (table["ci_low"] <= truth) & (truth <= table["ci_high"])
    assert 0.92 <= covered.mean() <= 0.98
    assert (table["n"] == people).all() and (table["people"] == people).all()


def test_difficulty_counts_answers_and_people() -> None:
    # One person listed twice in a campaign (case differs): two answers, one person.
    answers = pd.DataFrame(
        {
            "campaign_id": "c",
            "email": ["a@x.example", "A@x.example ", "b@x.example", "c@x.example", "d@x.example"],
            "question": 1,
            "result": ["correct", "incorrect", "correct", "sent", "correct"],
        }
    )
    row = item_analysis(answers, k=0).iloc[0]
    assert (row["n"], row["people"], row["correct"], row["not_answered"]) == (4, 3, 3, 1)
    assert row["difficulty"] == 0.75
    assert "n counts answers" in item_analysis(answers, k=0).attrs["note"]


def _queue(spread: dict[str, int], correct: int, module: str = "module-mixed") -> dict:
    return {
        "id": f"queue-{module}",
        "title": {"id": module, "title": "Module", "correctAnswer": correct},
        "launchDate": LAUNCH,
        "optionSpread": spread,
    }


def test_the_wrong_option_chosen_most_comes_from_the_queue_spread() -> None:
    frames = planted_frames()
    queue = [_queue({"option-1": 30, "option-2": 200, "option-3": 55, "option-4": 15}, 2)]
    table = item_analysis(
        frames.answers,
        frames.campaigns,
        training_modules=training_modules_frame(queue),
        module_options=module_options_frame(queue),
        k=K,
    )
    first = _row(table, "mixed", 1)
    assert (first["top_wrong_option"], first["top_wrong_count"]) == (3, 55)
    assert first["wrong_in_spread"] == 100 and first["top_wrong_share"] == 0.55
    assert first["option_note"] == ""
    # One spread per module: the other questions say so; a module not queued says so.
    assert "one question per module" in _row(table, "mixed", 2)["option_note"]
    assert pd.isna(_row(table, "mixed", 2)["top_wrong_option"])
    assert "no entry for this module" in _row(table, "single", 1)["option_note"]
    # Without the queue tables, every question says where the spread would come from.
    bare = item_analysis(frames.answers, frames.campaigns, k=K)
    assert bare["top_wrong_option"].isna().all()
    assert bare["option_note"].str.contains("--include queue").all()


def test_small_groups_show_no_figures_notes_or_flags() -> None:
    right = np.ones((3, 2), dtype=bool)  # three people, everyone right: too small to say
    frames = build_frames([_campaign("tiny", 2)], {"tiny": _items("tiny", right)})
    row = item_analysis(frames.answers, frames.campaigns, k=K, min_people=1).iloc[0]
    assert row["suppressed"] and pd.isna(row["n"]) and np.isnan(row["difficulty"])
    assert not row["too_easy"] and row["flag_reasons"] == ""
    assert "no variation" not in row["discrimination_note"]


def test_the_chart_marks_and_names_the_flagged_questions() -> None:
    frames = planted_frames()
    table = item_analysis(frames.answers, frames.campaigns, k=K)
    figure = plot_question_quality(table, "all campaigns")
    assert isinstance(figure, Figure)
    names = {text.get_text() for ax in figure.axes for text in ax.texts}
    assert names == {"Q4 \u00b7 Module mixed", "Q5 \u00b7 Module mixed", "Q6 \u00b7 Module mixed"}
    assert len(figure.axes) == 2  # the strip of questions without a discrimination


@pytest.fixture(scope="module")
def planted_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("items") / "store"
    SnapshotStore(store).write(planted_frames(), api_host="127.0.0.1:1", query={"campaign_ids": []})
    return store


def test_the_page_publishes_only_what_the_plan_shows(planted_store: Path, tmp_path: Path) -> None:
    analysis = open_analysis(planted_store, min_group_size=K)
    # The cells the question-accuracy page publishes; the plan hides the planted question 4.
    cells = analysis.engine.view(Selection(), K, plan=DisclosurePlan(k=K)).question_accuracy()
    planted = (cells["campaign_id"].astype(str) == "mixed") & (cells["question"] == 4)
    (hidden_cell,) = cells.loc[planted, "cell"]
    plan = DisclosurePlan(k=K, hidden_cells=frozenset({hidden_cell}))
    log = tmp_path / "figures.jsonl"
    log.touch()
    context = ReportContext(plan, PAGE, str(log))
    reporting = dataclasses.replace(analysis, report=True, context=context)
    page = QuestionQuality(reporting).static_html()
    records = read_published(str(log))
    assert records and {r["chart"] for r in records} == {CHART}
    by_question = {}
    for record in records:
        by_question.setdefault((record["campaign"], record["question"]), []).append(record)
    hidden = by_question[("Campaign mixed", 4)]
    assert all(r["hidden"] for r in hidden) and all(r["cell"] == hidden_cell for r in hidden)
    shown = [r for key, rs in by_question.items() if key != ("Campaign mixed", 4) for r in rs]
    assert not any(r["hidden"] for r in shown if r["metric"] == "accuracy")
    assert any(r["metric"].startswith("accuracy item-total") for r in shown)
    # The hidden question's flag and correlation are not on the page either.
    assert "Q4 · Module mixed (Campaign mixed): better scorers" not in page
    assert "Q5 · Module mixed (Campaign mixed): almost everyone right" in page
    assert "Q4 · Module mixed" in page and "hidden to protect a small group" in page
    assert "almost everyone right" in page


def test_report_page_07_renders_without_people_and_passes_the_audit(tmp_path: Path) -> None:
    store = Path(os.environ["AWARENESS_STORE"])
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(NOTEBOOKS / f"{PAGE}.ipynb", notebooks)
    out = tmp_path / "report"
    render_reports(
        store, out, pseudonymise=True, min_group_size=K, notebooks=notebooks, progress=False
    )
    page = (out / f"{PAGE}.html").read_text(encoding="utf-8")
    visible = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    assert "@" not in visible
    users = SnapshotStore(store).load().frames.users
    names = set(users["name"].dropna().astype(str)) - {""}
    assert not [name for name in names if name in visible]
    assert "Question quality" in page and page.count("<svg") >= 1
    figures = pd.read_csv(out / "figures.csv", keep_default_na=False)
    mine = figures[figures["page"] == PAGE]
    assert set(mine["chart"]) == {CHART}
    assert {"accuracy", "accuracy item-total correlation (discrimination)"} <= set(mine["metric"])
    assert mine["metric"].str.startswith("accuracy wrong option").any()  # the demo has a queue
    # Every Data-table figure is in figures.csv: the rates of the page are the published ones.
    table = re.search(r'<details class="aa-data">.*?</details>', page, re.S)
    assert table is not None
    in_table = {f"{float(r):.4f}" for r in re.findall(r"<td>(-?0\.\d{4})</td>", table[0])}
    in_csv = {f"{float(v):.4f}" for c in ("rate", "ci_low", "ci_high") for v in mine[c] if v != ""}
    assert in_table and in_table <= in_csv
    assert (out / "audit.txt").read_text().strip().endswith("passed.")
    assert exposed_groups(out, store, K) == []
    # Published figures cover at least k people, and come from the page's own analysis.
    published = mine[mine["metric"] == "accuracy"]
    assert len(published) and (published["people"].astype(int) >= K).all()
    items = item_analysis_for(open_analysis(store, min_group_size=K))
    assert set(published["campaign"]) <= set(items["campaign_name"])


def test_a_perfect_correlation_lies_inside_its_interval() -> None:
    """r = -1 or 1 (a tiny module) once left r a hair outside its own interval, and the
    chart's error bars refused it (a report on a small tenant failed)."""
    from awareness_analysis.analysis.items import _fisher_interval

    r = np.array([-1.0, 1.0, 0.3, np.nan])
    low, high = _fisher_interval(r, np.array([10, 10, 10, 10]))
    assert (low[:3] <= r[:3]).all() and (r[:3] <= high[:3]).all()
    assert np.isnan(low[3]) and np.isnan(high[3])
