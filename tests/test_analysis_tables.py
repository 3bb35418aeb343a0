"""The notebook session (store choice, privacy settings, provenance) and the defined tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from awareness_analysis.analysis.metrics import DEFINITIONS
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.app import load_analysis, open_store
from awareness_analysis.demo import build_demo_store
from awareness_analysis.views.tables import (
    campaign_summary,
    hardest_questions,
    significant_departments,
)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("analysis") / "demo-store"
    build_demo_store(store, progress=False)
    return store


@pytest.fixture(scope="module")
def analysis(demo_store: Path) -> Analysis:
    return load_analysis(demo_store)


def test_open_store_prefers_path_then_environment_then_demo(
    demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWARENESS_STORE", raising=False)
    assert open_store(demo_store).root == demo_store
    monkeypatch.setenv("AWARENESS_STORE", str(demo_store))
    assert open_store(None).root == demo_store
    monkeypatch.delenv("AWARENESS_STORE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    store = open_store(None)  # built on first use, in the user's cache folder
    assert store.exists()
    assert store.root == tmp_path / "awareness-analysis" / "demo-store"


def test_provenance_names_snapshot_hash_and_privacy(analysis: Analysis) -> None:
    provenance = analysis.provenance()
    assert provenance["content_hash"].startswith("sha256:")
    assert provenance["min_group_size"] == 5 and provenance["pseudonymise"] is False
    text = analysis.provenance_text()
    assert (
        analysis.snapshot.snapshot_id in text
        and "groups under 5 people hidden (minimum group size)" in text
    )


def test_pseudonymised_analysis_holds_no_raw_email_or_name(
    demo_store: Path, analysis: Analysis, tmp_path: Path
) -> None:
    masked = load_analysis(demo_store, pseudonymise=True, key_file=tmp_path / "pseudonym.key")
    raw_emails = set(analysis.frames.users["email"])
    raw_names = set(analysis.frames.users["name"]) - {""}
    assert not raw_emails & set(masked.frames.users["email"])
    assert not raw_emails & set(masked.frames.answers["email"])
    assert not raw_names & set(masked.frames.users["name"])
    assert masked.frames.users["email"].str.startswith("user-").all()
    assert "pseudonymisation on" in masked.provenance_text()
    assert len(masked.frames.users) == len(analysis.frames.users)


def test_negative_group_size_is_refused(demo_store: Path) -> None:
    with pytest.raises(ValueError, match="min_group_size"):
        load_analysis(demo_store, min_group_size=-1)


def test_campaign_summary(analysis: Analysis) -> None:
    table = campaign_summary(analysis)
    assert list(table.frame.columns) == [
        "campaign",
        "module",
        "launched",
        "status",
        "questions",
    ]
    assert len(table.frame) == len(analysis.frames.campaigns)
    assert table.frame["questions"].max() == 4
    # The demo's newest campaign is still running on the day its data was fetched.
    status = dict(zip(table.frame["campaign"], table.frame["status"], strict=True))
    assert status["Spot the Spoof - October"] == "running, 12 days since launch"
    assert status["Clean Desk Policy"] == "completed"
    assert any("Running:" in note for note in table.notes)
    # One heading, the table's own.
    assert table._repr_html_().count("<h2>Campaigns</h2>") == 1


def test_hardest_questions_lowest_accuracy_first_with_definition(analysis: Analysis) -> None:
    table = hardest_questions(analysis, limit=5)
    accuracy = table.frame["accuracy %"].tolist()
    assert accuracy == sorted(accuracy) and len(accuracy) == 5
    # The demo's 4-question module has one much harder question (question 3).
    first = table.frame.iloc[0]
    # Named by number and module title (the API has no question text).
    assert (first["campaign"], first["question"]) == (
        "Safe Remote Working",
        "Q3 · Working Remotely",
    )
    assert "Spot the Spoof - October (running)" in table.frame["campaign"].tolist()
    assert DEFINITIONS["accuracy"].text() in table.notes
    html = table._repr_html_()
    assert "<h2>Hardest questions</h2>" in html and "<table" in html
    assert DEFINITIONS["accuracy"].text().split(" = ")[0] in html


def test_significant_departments_and_suppression(analysis: Analysis) -> None:
    table = significant_departments(analysis, ("acknowledgement",))
    directions = dict(zip(table.frame["department"], table.frame["direction"], strict=True))
    assert directions["Customer Service"] == "below"
    assert directions["IT"] == "above"
    assert "Board Secretariat" not in directions  # 3 people: suppressed at k=5
    assert all(q == "< 0.0001" or float(q) < 0.05 for q in table.frame["q value"])
    assert any("Benjamini-Hochberg" in note for note in table.notes)
    assert any("rest of the organisation" in note for note in table.notes)


def test_significant_departments_list_every_metric_with_units(analysis: Analysis) -> None:
    table = significant_departments(analysis)
    labels = {DEFINITIONS[m].label for m in ("acknowledgement", "completion", "accuracy")}
    assert labels <= set(table.frame["metric"])
    accuracy = table.frame[table.frame["metric"] == DEFINITIONS["accuracy"].label]
    # Pooled over campaigns: people and answers are separate figures.
    assert accuracy["n"].str.endswith(" answers").all()
    assert all(
        people < int(n.split()[0].replace(",", ""))
        for people, n in zip(accuracy["people"], accuracy["n"], strict=True)
    )


def test_campaign_selection_limits_every_table(demo_store: Path) -> None:
    full = load_analysis(demo_store)
    one = full.campaigns["campaign_id"].astype(str).iloc[2]
    limited = load_analysis(demo_store, campaign_ids=[one])
    assert list(limited.campaigns["campaign_id"].astype(str)) == [one]
    assert set(limited.users["campaign_id"].astype(str)) == {one}
    assert set(limited.answers["campaign_id"].astype(str)) == {one}
    name = str(limited.campaigns["campaign_name"].iloc[0])
    assert list(campaign_summary(limited).frame["campaign"]) == [name]
    assert set(hardest_questions(limited).frame["campaign"]) == {name}
    people = limited.users["email"].nunique()
    assert limited.view().department_comparison("completion").attrs["org_people"] == people
    with pytest.raises(ValueError, match="Unknown campaign id"):
        load_analysis(demo_store, campaign_ids=["nope"])


def test_analysis_frames_to_continue_in_pandas(analysis: Analysis) -> None:
    assert analysis.users is analysis.frames.users
    assert analysis.answers is analysis.frames.answers
    assert analysis.campaigns is analysis.frames.campaigns
    assert "@" not in repr(analysis)  # a repr names no person


def test_suppression_off_is_announced(analysis: Analysis) -> None:
    table = hardest_questions(analysis.with_min_group_size(0))
    assert any("OFF" in note for note in table.notes)
