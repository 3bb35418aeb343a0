"""The data-quality report: planted problems are found and reported, clean data flags nothing.

Planted on a small organisation built from API-shaped dicts (so the frames are exactly what a
fetch makes), on the recorded real traffic, and on the demo store; then the ``check`` command
(exit codes, output) and the report page (no email or name in a shared report).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest

from awareness_analysis.analysis.engine import Engine
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.session import Analysis, open_analysis
from awareness_analysis.cli import CHECK_FAILED_EXIT, main
from awareness_analysis.data.frames import Frames, build_frames
from awareness_analysis.data.quality import (
    ANALYSIS_COMPLETION,
    FAIL,
    INACTIVE_USERS_COUNTED,
    NOTE,
    WARNING,
    QualityReport,
    check_frames,
    check_snapshot,
    fetch_filter_text,
)
from awareness_analysis.data.store import Snapshot, SnapshotStore
from awareness_analysis.fakeapi.demo_org import ALIAS_DOMAIN, EXTERNAL_DOMAINS, PRIMARY_DOMAIN
from awareness_analysis.views.quality import DataQuality, quality_text
from awareness_analysis.views.report import render_reports
from tests.recorded import load_recorded

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ORG = "corp.example"
HOST = "127.0.0.1"


@pytest.fixture(autouse=True)
def no_alias_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the developer's shell says, the check command reads no alias-domain map."""
    monkeypatch.delenv("AWARENESS_ALIAS_DOMAINS", raising=False)


# -- a small organisation in the API's shapes ------------------------------------------------


def item(
    email: str,
    name: str,
    *,
    department: str = "Sales",
    results: dict[str, str] | None = None,
    acknowledged: bool = False,
    state: str = "ACTIVE",
) -> dict[str, Any]:
    return {
        "name": name,
        "email": email,
        "department": department,
        "results": results or {},
        "acknowledgement": acknowledged,
        "userState": state,
    }


def campaign(
    cid: str, n_questions: int, items: list[dict[str, Any]], **overrides: Any
) -> dict[str, Any]:
    """A get-campaigns entry whose counters agree with ``items`` unless ``overrides`` say
    otherwise (numSent, numCompleted, numCorrectAnswers, userCount)."""
    keys = [f"forQuestion{q}" for q in range(1, n_questions + 1)]
    answered = [i for i in items if any(v != "SENT" for v in i["results"].values())]
    correct = {k: sum(i["results"].get(k) == "CORRECT" for i in items) for k in keys}
    return {
        "id": cid,
        "name": f"Campaign {cid}",
        "title": {
            "id": f"module-{cid}",
            "title": f"Module_{cid}",
            "correctAnswers": {k: 1 for k in keys},
        },
        "group": {"description": "Everyone", "userCount": overrides.get("userCount", len(items))},
        "launchDate": f"2026-0{1 + len(cid) % 8}-02T09:00:00+0000",
        "numSent": overrides.get("numSent", len(items)),
        "numCompleted": overrides.get("numCompleted", len(answered)),
        "numCorrectAnswers": overrides.get("numCorrectAnswers", correct),
        "locked": False,
    }


def staff(n: int = 10) -> list[dict[str, Any]]:
    """``n`` people at the organisation's domain with names and departments, mixed results."""
    cycle = ["CORRECT", "INCORRECT", "SENT"]
    return [
        item(
            f"person{i}@{ORG}",
            f"Person Number{i}",
            department=["Sales", "Finance"][i % 2],
            results={"forQuestion1": cycle[i % 3], "forQuestion2": cycle[(i + 1) % 3]},
            acknowledged=i % 2 == 0,
        )
        for i in range(n)
    ]


def counters_of(campaigns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The manifest's ``campaign_counters``, as a fetch records them."""
    return [
        {
            "campaign_id": c["id"],
            "numSent": c["numSent"],
            "numCompleted": c["numCompleted"],
            "numCorrectAnswers": c["numCorrectAnswers"],
            "locked": c["locked"],
        }
        for c in campaigns
    ]


def clean_dataset() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    first, second = staff(), staff()
    campaigns = [campaign("a", 2, first), campaign("bb", 2, second)]
    return campaigns, {"a": first, "bb": second}


def planted_dataset() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """One of every problem the report looks for (see each comment)."""
    people = staff()
    people += [
        # Same local part under another domain (the name differs: only that rule matches).
        item("alex.doe@" + ORG, "Alex Doe", results={"forQuestion1": "CORRECT"}),
        item("alex.doe@corp-mail.example", "A. Doe"),
        # Same name under another domain (the local parts differ: only that rule matches).
        item("sam.lee@" + ORG, "Sam Lee"),
        item("slee@subsidiary.example", "Sam  LEE"),
        # Two people sharing a name under one domain: no alias.
        item("jo.park@" + ORG, "Jo Park"),
        item("jo.park2@" + ORG, "Jo Park"),
        # A personal address and an external one.
        item("alexd1993@gmail.com", ""),
        item("pat@partner.example", "Pat Partner"),
        # Empty department, suspended; acknowledged without answering.
        item("gone@" + ORG, "Gone Person", department="", state="SUSPENDED", acknowledged=True),
        # Enrolled twice (two spellings of one address).
        item("Kim@" + ORG, "Kim Twice"),
        item(" kim@corp.example", "Kim Twice"),
    ]
    # Counters that disagree with the rows: one more sent, numCompleted counts acknowledgements
    # (not answers), question 2's correct answers one off.
    disagreeing = campaign("a", 2, people)
    acknowledged = sum(i["acknowledgement"] for i in people)
    disagreeing["numSent"] += 1
    disagreeing["numCompleted"] = acknowledged
    disagreeing["numCorrectAnswers"]["forQuestion2"] += 1
    no_questions = staff(6)
    for person in no_questions:
        person["results"] = {}
    five_questions = staff(6)
    for person in five_questions:
        person["results"] = {f"forQuestion{q}": "CORRECT" for q in range(1, 6)}
    campaigns = [
        disagreeing,
        campaign("none", 0, no_questions),
        campaign("five", 5, five_questions, userCount=0),
    ]
    return campaigns, {"a": people, "none": no_questions, "five": five_questions}


@pytest.fixture(scope="module")
def clean() -> tuple[Frames, list[dict[str, Any]]]:
    campaigns, items = clean_dataset()
    return build_frames(campaigns, items), counters_of(campaigns)


@pytest.fixture(scope="module")
def planted() -> tuple[Frames, list[dict[str, Any]]]:
    campaigns, items = planted_dataset()
    return build_frames(campaigns, items), counters_of(campaigns)


@pytest.fixture(scope="module")
def planted_report(planted: tuple[Frames, list[dict[str, Any]]]) -> QualityReport:
    frames, counters = planted
    return check_frames(frames, campaign_counters=counters)


def pairs(report: QualityReport) -> dict[tuple[str, str], str]:
    return {(r.email_a, r.email_b): r.rule for r in report.alias_pairs.itertuples()}


def checks(report: QualityReport) -> dict[str, str]:
    return {p.check: p.severity for p in report.problems}


# -- clean data ------------------------------------------------------------------------------


def test_clean_data_flags_nothing(clean: tuple[Frames, list[dict[str, Any]]]) -> None:
    frames, counters = clean
    report = check_frames(frames, campaign_counters=counters)
    assert report.problems == ()
    assert not report.failed
    assert report.organisation_domains == (ORG,) and report.domains_inferred
    for table in (
        report.alias_pairs,
        report.outside_addresses,
        report.inactive_users,
        report.double_enrolments,
        report.question_counts,
        report.empty_groups,
        report.differences,
    ):
        assert table.empty
    assert list(report.reconciliation["status"]) == ["ok", "ok"]
    assert report.correct_by_question["match"].all() and len(report.correct_by_question) == 4
    assert (report.missing_values["people_missing"] == 0).all()
    assert report.people == 10 and report.enrolments == 20
    assert "Nothing to report" in quality_text(report)


# -- each planted problem --------------------------------------------------------------------


def test_aliases_by_both_rules_and_not_within_one_domain(planted_report: QualityReport) -> None:
    found = pairs(planted_report)
    assert found[("alex.doe@corp-mail.example", "alex.doe@corp.example")] == "same local part"
    assert found[("sam.lee@corp.example", "slee@subsidiary.example")] == "same name"
    assert not [pair for pair in found if "jo.park@corp.example" in pair]
    assert len(found) == 2
    assert checks(planted_report)["aliases"] == WARNING
    # Both addresses are in campaign a: one person is counted twice there.
    assert set(planted_report.alias_pairs["shared_campaigns"]) == {1}


def test_an_alias_domain_from_the_map_is_the_organisations(
    planted: tuple[Frames, list[dict[str, Any]]],
) -> None:
    frames, counters = planted
    report = check_frames(
        frames, campaign_counters=counters, alias_domains={"corp-mail.example": ORG}
    )
    known = report.alias_pairs.set_index("email_a")["known_alias_domain"]
    assert known["alex.doe@corp-mail.example"] and not known["sam.lee@corp.example"]
    assert "corp-mail.example" in report.organisation_domains
    assert "corp-mail.example" not in set(report.outside_addresses["domain"])


def test_personal_and_external_addresses(planted_report: QualityReport) -> None:
    outside = planted_report.outside_addresses.set_index("email")
    assert outside.loc["alexd1993@gmail.com", "kind"] == "personal"
    assert outside.loc["pat@partner.example", "kind"] == "external"
    # The alias domains are not the organisation's until configured.
    assert set(outside["kind"]) == {"personal", "external"}
    assert set(outside.index) == {
        "alexd1993@gmail.com",
        "pat@partner.example",
        "alex.doe@corp-mail.example",
        "slee@subsidiary.example",
    }
    assert planted_report.organisation_domains == (ORG,)
    message = next(p.message for p in planted_report.problems if p.check == "outside_addresses")
    assert "1 personal" in message and "3 external" in message


def test_given_organisation_domains_replace_the_inferred_ones(
    planted: tuple[Frames, list[dict[str, Any]]],
) -> None:
    frames, _ = planted
    report = check_frames(frames, organisation_domains=[ORG, "@Partner.example"])
    assert not report.domains_inferred
    assert report.organisation_domains == (ORG, "partner.example")
    assert "pat@partner.example" not in set(report.outside_addresses["email"])


def test_suspended_user_is_listed_and_counted_by_the_engine(
    planted: tuple[Frames, list[dict[str, Any]]], planted_report: QualityReport
) -> None:
    inactive = planted_report.inactive_users
    assert list(inactive["email"]) == ["gone@corp.example"]
    assert list(inactive["user_state"]) == ["SUSPENDED"]
    states = planted_report.user_states.set_index("user_state")
    assert states.loc["SUSPENDED", "inactive"] and states.loc["SUSPENDED", "counted"]
    assert checks(planted_report)["inactive_users"] == NOTE
    # What the report claims about counting holds for the engine: its figures for campaign a
    # count every row, the suspended one included.
    frames, _ = planted
    assert INACTIVE_USERS_COUNTED
    rates = (
        Engine(frames.users, frames.answers).view(Selection(campaign_ids=("a",))).campaign_rates()
    )
    sent = rates.loc[rates["metric"] == "acknowledgement", "n"].iloc[0]
    assert sent == (frames.users["campaign_id"] == "a").sum()
    suspended_only = Selection(campaign_ids=("a",), user_states=("SUSPENDED",))
    engine = Engine(frames.users, frames.answers)
    assert (
        engine.baseline_mask(Selection(campaign_ids=("a",))).sum()
        > engine.baseline_mask(suspended_only).sum()
    )


def test_double_enrolment(planted_report: QualityReport) -> None:
    double = planted_report.double_enrolments
    assert list(double["email"]) == ["kim@corp.example"]
    assert list(double["campaign_id"]) == ["a"] and list(double["rows"]) == [2]
    assert double["spellings"].iloc[0] == " kim@corp.example, Kim@corp.example"
    assert checks(planted_report)["double_enrolments"] == WARNING


def test_campaigns_with_no_questions_and_with_five(planted_report: QualityReport) -> None:
    flagged = planted_report.question_counts.set_index("campaign_id")
    assert flagged.loc["none", "problem"] == "no questions"
    assert flagged.loc["five", "problem"] == "more than 4 questions"
    assert len(flagged) == 2
    assert checks(planted_report)["question_counts"] == WARNING


def test_group_user_count_zero_is_a_note(planted_report: QualityReport) -> None:
    groups = planted_report.empty_groups
    assert list(groups["campaign_id"]) == ["five"] and list(groups["rows"]) == [6]
    assert checks(planted_report)["empty_groups"] == NOTE


def test_empty_department_and_name_shares(planted_report: QualityReport) -> None:
    missing = planted_report.missing_values.set_index("field")
    people = planted_report.people
    assert missing.loc["department", "people_missing"] == 1  # gone@
    assert missing.loc["name", "people_missing"] == 1  # the gmail address
    assert missing.loc["name", "people_share"] == pytest.approx(1 / people)


def test_the_disagreeing_campaign_is_reconciled_with_every_difference(
    planted_report: QualityReport,
) -> None:
    row = planted_report.reconciliation.set_index("campaign_id").loc["a"]
    assert row["rows"] == row["num_sent"] - 1 and not row["rows_match"]
    assert row["matching_definitions"] == "acknowledged"
    assert not row["completion_match"] and not row["correct_match"]
    assert row["status"] == "differs: rows, completion, correct answers"
    others = planted_report.reconciliation.set_index("campaign_id").drop(index="a")
    assert set(others["status"]) == {"ok"}

    differences = planted_report.differences
    assert set(differences["campaign_id"]) == {"a"}
    by_check = differences.set_index("check")
    assert by_check.loc["rows vs numSent", "difference"] == -1
    completion = by_check.loc["completed vs numCompleted"]
    assert completion["received"] == row[f"completed_{ANALYSIS_COMPLETION}"]
    assert completion["note"] == "matches: acknowledged"
    correct = by_check.loc["correct answers vs numCorrectAnswers"]
    assert correct["question"] == 2 and correct["difference"] == -1
    question_one = planted_report.correct_by_question.set_index(["campaign_id", "question"])
    assert question_one.loc[("a", 1), "match"]

    assert planted_report.failed
    assert {p.check for p in planted_report.failures} == {
        "reconciliation.rows",
        "reconciliation.completion",
        "reconciliation.correct_answers",
    }


def test_without_per_question_counters_the_totals_are_compared(
    planted: tuple[Frames, list[dict[str, Any]]],
) -> None:
    frames, _ = planted
    report = check_frames(frames)
    assert report.correct_by_question.empty
    correct = report.differences[report.differences["check"].str.startswith("correct")]
    assert len(correct) == 1 and pd.isna(correct["question"].iloc[0])
    assert correct["difference"].iloc[0] == -1


def test_a_filtered_fetch_makes_differences_warnings(
    planted: tuple[Frames, list[dict[str, Any]]],
) -> None:
    frames, counters = planted
    text = fetch_filter_text({"query": {"statuses": ["incorrect"], "search": None}})
    assert text == "status incorrect"
    report = check_frames(frames, campaign_counters=counters, fetch_filter=text)
    assert not report.failed
    assert checks(report)["reconciliation.rows"] == WARNING
    assert len(report.differences) == 3  # still all listed
    searched = {"query": {"search": {"field": "name", "value": "Alex Doe"}}}
    assert fetch_filter_text(searched) == "search name"  # never the searched value


def test_user_rows_of_an_unlisted_campaign_cannot_reconcile() -> None:
    campaigns, items = clean_dataset()
    items["ghost"] = staff(2)
    report = check_frames(build_frames(campaigns, items))
    ghost = report.reconciliation.set_index("campaign_id").loc["ghost"]
    assert not ghost["listed"] and ghost["status"].startswith("no get-campaigns entry")
    assert checks(report)["reconciliation.unlisted"] == FAIL


def test_frames_without_the_needed_columns_are_refused(clean: tuple[Frames, Any]) -> None:
    frames, _ = clean
    broken = Frames(frames.campaigns.drop(columns=["num_sent"]), frames.users, frames.answers)
    with pytest.raises(ValueError, match=r"missing: campaigns\.num_sent"):
        check_frames(broken)


# -- the recorded real traffic ----------------------------------------------------------------


def test_recorded_traffic() -> None:
    campaigns, items = load_recorded()
    report = check_frames(
        build_frames(campaigns, items),
        campaign_counters=counters_of(campaigns),
        organisation_domains=["corp.example"],
        personal_domains={"personal-mail.example"},
    )
    # One person under two domains, found by both rules.
    assert pairs(report) == {
        ("alex.doe@corp.example", "alex.doe@corp.mime-api.example"): "same local part and same name"
    }
    outside = report.outside_addresses.set_index("email")["kind"].to_dict()
    assert outside == {
        "alex.doe@corp.mime-api.example": "external",
        "alexd1993@personal-mail.example": "personal",
    }
    # Group user counts of 0 while users were sent, on every campaign.
    assert len(report.empty_groups) == 4
    missing = report.missing_values.set_index("field")["people_share"]
    assert missing["department"] == 1.0 and missing["name"] == pytest.approx(1 / 3)
    # The vendor's numCompleted is "answered", not "acknowledged": nobody acknowledged.
    assert not report.failed and set(report.reconciliation["status"]) == {"ok"}
    first = report.reconciliation.set_index("campaign_name").loc["Demo Test Campaign"]
    assert first["num_completed"] == 1 and first["completed_acknowledged"] == 0
    assert "acknowledged" not in first["matching_definitions"].split(", ")


# -- the demo store -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Snapshot:
    # The session's demo store (built by the root conftest.py, or AWARENESS_STORE).
    return SnapshotStore(os.environ["AWARENESS_STORE"]).load()


def test_demo_store_reconciles_and_shows_its_documented_quirks(demo: Snapshot) -> None:
    report = check_snapshot(demo, personal_domains=EXTERNAL_DOMAINS)
    assert not report.failed and set(report.reconciliation["status"]) == {"ok"}
    assert report.differences.empty
    assert report.correct_by_question["match"].all()  # per question, from the manifest
    assert report.organisation_domains == (PRIMARY_DOMAIN,)
    rules = report.alias_pairs["rule"]
    local = report.alias_pairs[rules.str.contains("same local part")]
    assert len(local) >= 10
    assert {e.rsplit("@")[1] for e in local["email_a"]} | {
        e.rsplit("@")[1] for e in local["email_b"]
    } == {PRIMARY_DOMAIN, ALIAS_DOMAIN}
    kinds = report.outside_addresses.groupby("domain")["kind"].first().to_dict()
    assert kinds[ALIAS_DOMAIN] == "external"
    assert all(kinds[d] == "personal" for d in EXTERNAL_DOMAINS if d in kinds)
    assert set(report.inactive_users["user_state"]) == {"SUSPENDED", "DELETED"}
    assert report.double_enrolments.empty and report.question_counts.empty


def test_demo_store_with_its_alias_domain_configured(demo: Snapshot) -> None:
    report = check_snapshot(demo, alias_domains={ALIAS_DOMAIN: PRIMARY_DOMAIN})
    assert ALIAS_DOMAIN not in set(report.outside_addresses["domain"])
    local = report.alias_pairs[report.alias_pairs["rule"].str.contains("same local part")]
    assert local["known_alias_domain"].all()


def test_problems_planted_in_the_demo_store_are_found(demo: Snapshot) -> None:
    frames = demo.frames
    campaigns = frames.campaigns.copy()
    users = frames.users.copy()
    ids = list(campaigns["campaign_id"].astype(str))
    names = dict(zip(ids, campaigns["campaign_name"].astype(str), strict=True))
    # Counters: one more sent in the first campaign.
    campaigns.loc[0, "num_sent"] += 1
    # Question counts: 5 in the second, none in the third.
    campaigns.loc[1, "n_questions"] = 5
    campaigns.loc[2, "n_questions"] = 0
    # A group user count of 0 in the fourth.
    campaigns.loc[3, "group_user_count"] = 0
    emails = users["email"].astype(str)
    # A personal address: one person's rows moved to gmail.com.
    someone = emails.iloc[10]
    users["email"] = emails.replace({someone: "someone.personal@gmail.com"})
    # An alias: another person's local part under a new domain.
    other = emails.iloc[20]
    alias = other.split("@")[0] + "@subsidiary.example"
    first_row = users.index[emails == other][0]
    users.loc[first_row, "email"] = alias
    # A double enrolment: one row of the fifth campaign repeated.
    fifth = users.index[users["campaign_id"].astype(str) == ids[4]][0]
    twice = users.loc[[fifth]]
    doubled = pd.concat([users, twice], ignore_index=True)
    answers_of_twice = frames.answers[
        (frames.answers["campaign_id"].astype(str) == ids[4])
        & (frames.answers["email"] == twice["email"].iloc[0])
    ]
    answers = pd.concat([frames.answers, answers_of_twice], ignore_index=True)
    report = check_frames(Frames(campaigns, doubled, answers))

    assert "someone.personal@gmail.com" in set(
        report.outside_addresses.loc[report.outside_addresses["kind"] == "personal", "email"]
    )
    assert any(alias in (r.email_a, r.email_b) for r in report.alias_pairs.itertuples())
    assert list(report.double_enrolments["campaign_name"]) == [names[ids[4]]]
    flagged = report.question_counts.set_index("campaign_id")["problem"].to_dict()
    assert flagged == {ids[1]: "more than 4 questions", ids[2]: "no questions"}
    assert list(report.empty_groups["campaign_id"]) == [ids[3]]
    status = report.reconciliation.set_index("campaign_id")["status"]
    assert status[ids[0]] == "differs: rows"
    assert status[ids[4]].startswith("differs: rows")  # the repeated row is one too many
    assert report.failed
    differing = set(report.differences["campaign_id"])
    assert differing == {ids[0], ids[4]}


# -- the check command --------------------------------------------------------------------------


def _store(
    root: Path, dataset: tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]
) -> Path:
    campaigns, items = dataset
    SnapshotStore(root).write(
        build_frames(campaigns, items),
        api_host=HOST,
        query={"campaign_ids": [], "search": None, "statuses": [], "attribute_ids": []},
        extra={"campaign_counters": counters_of(campaigns)},
    )
    return root


@pytest.fixture(scope="module")
def planted_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _store(tmp_path_factory.mktemp("planted") / "store", planted_dataset())


def test_check_prints_the_problems_and_exits_0(
    planted_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--store", str(planted_store)]) == 0
    out = capsys.readouterr().out
    assert "Reconciliation with the vendor's counters" in out
    assert "differs: rows, completion, correct answers" in out
    assert "matches: acknowledged" in out
    for listed in ("alexd1993@gmail.com", "slee@subsidiary.example", "gone@corp.example"):
        assert listed in out
    assert "Result: 3 failed reconciliation check(s)" in out


def test_check_strict_exits_with_its_own_code(
    planted_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert CHECK_FAILED_EXIT == 3
    assert main(["check", "--store", str(planted_store), "--strict"]) == CHECK_FAILED_EXIT
    captured = capsys.readouterr()
    assert "rows vs numSent" in captured.out
    assert "3 reconciliation check(s) failed" in captured.err


def test_check_strict_on_clean_data_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(tmp_path / "store", clean_dataset())
    assert main(["check", "--store", str(store), "--strict"]) == 0
    assert "Nothing to report" in capsys.readouterr().out


def test_check_limit_and_bad_input(planted_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--store", str(planted_store), "--limit", "1"]) == 0
    assert "more rows (--limit 0 lists all" in capsys.readouterr().out
    assert main(["check", "--store", str(planted_store), "--limit", "-1"]) == 2
    assert "--limit must be 0" in capsys.readouterr().err
    assert main(["check", "--store", str(planted_store), "--org-domain", " "]) == 2
    assert "--org-domain was given an empty domain" in capsys.readouterr().err
    assert main(["check", "--store", str(planted_store.parent / "missing")]) == 1
    assert "awareness-analysis check: error:" in capsys.readouterr().err


def test_check_escapes_control_characters_from_the_tenant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaigns, items = clean_dataset()
    items["a"][0]["email"] = "evil@elsewhere.example"
    items["a"][0]["name"] = "Evil\x1b[2J\u202eName"
    store = _store(tmp_path / "store", (campaigns, items))
    assert main(["check", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert "Evil\\u001b[2J\\u202eName" in out


# -- the notebook and the report page ------------------------------------------------------------


def test_notebook_parameters_follow_the_other_notebooks() -> None:
    ours = nbformat.read(NOTEBOOKS / "08_data_quality.ipynb", as_version=4)
    model = nbformat.read(NOTEBOOKS / "06_trends_and_people.ipynb", as_version=4)
    assert ours.cells[1].source == model.cells[1].source
    assert ours.cells[1].metadata["tags"] == ["parameters"]
    assert ours.cells[2].source == model.cells[2].source
    assert all(not c.get("outputs") for c in ours.cells if c.cell_type == "code")


def test_report_mode_page_holds_counts_only(planted_store: Path) -> None:
    analysis = open_analysis(planted_store, report=True)
    page = DataQuality(analysis)
    text = page.static_html()
    for person in ("alexd1993@gmail.com", "gone@corp.example", "Sam Lee", "Kim Twice", "@"):
        assert person not in text
    assert page.report.alias_pairs.empty and page.report.inactive_users.empty
    # One suspended person, one double enrolment: fewer than k, not the count.
    assert text.count("fewer than 5") >= 2
    assert "Campaign a" in text and "differs: rows, completion, correct answers" in text


def test_pseudonymised_session_offers_no_list_of_people(
    planted_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWARENESS_PSEUDONYM_KEY", "ab" * 32)
    analysis = open_analysis(planted_store, pseudonymise=True)
    page = DataQuality(analysis)
    offered = {value for _, value in page.list_choice.options}
    assert not offered & {"alias_pairs", "outside_addresses", "inactive_users", "double_enrolments"}
    assert "differences" in offered
    assert "gmail.com" not in page.summary.value + page.listing.value
    # The counts stay.
    assert dict((key, count) for key, _, count, _, _ in page.counts)["outside_addresses"] == 4


def test_interactive_page_lists_people_in_full(planted_store: Path) -> None:
    page = DataQuality(open_analysis(planted_store))
    page.list_choice.value = "outside_addresses"
    assert "alexd1993@gmail.com" in page.listing.value and "4 row(s)" in page.listing.value
    page.list_choice.value = "alias_pairs"
    assert "same local part" in page.listing.value and "same name" in page.listing.value


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    store = Path(os.environ["AWARENESS_STORE"])
    folder = tmp_path_factory.mktemp("quality-report")
    only = folder / "notebooks"
    only.mkdir()
    shutil.copy(NOTEBOOKS / "08_data_quality.ipynb", only)
    campaigns = SnapshotStore(store).load().frames.campaigns
    chosen = [str(c) for c in campaigns["campaign_id"].iloc[:2]]
    out = folder / "out"
    render_reports(store, out, campaign_ids=chosen, notebooks=only, progress=False)
    yield out, chosen


def test_report_page_has_no_email_or_name_and_only_the_shown_campaigns(
    rendered: tuple[Path, list[str]],
) -> None:
    out, chosen = rendered
    page = (out / "08_data_quality.html").read_text(encoding="utf-8")
    assert "Data quality and reconciliation" in (out / "index.html").read_text(encoding="utf-8")
    snapshot = SnapshotStore(os.environ["AWARENESS_STORE"]).load()
    users = snapshot.frames.users
    lowered = page.lower()
    assert not [e for e in set(users["email"]) if e.lower() in lowered]
    assert not [n for n in set(users["name"]) if n and n in page]
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.-]+", page)
    names = dict(
        zip(
            snapshot.frames.campaigns["campaign_id"].astype(str),
            snapshot.frames.campaigns["campaign_name"].astype(str),
            strict=True,
        )
    )
    for cid, name in names.items():
        assert (name in page) == (cid in chosen), name
    assert "Which definition of completion matches numCompleted" in page
    with (out / "figures.csv").open(encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["page"] == "08_data_quality"]
    assert rows and {r["campaign"] for r in rows} <= {names[c] for c in chosen} | {"all"}
    reconciled = {r["metric"] for r in rows}
    assert {"rows received", "numSent (vendor)", "numCompleted (vendor)"} <= reconciled


def test_a_hidden_question_and_the_totals_that_give_it_stay_off_the_page(
    planted_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the plan hides one question of a shown campaign, its correct answers and the
    campaign's totals (which minus the shown questions would give it) are neither shown nor
    published; the other questions' figures stay."""
    analysis = open_analysis(planted_store, report=True)
    real_view = Analysis.view
    campaign_a = next(c for c, n in analysis.campaign_names.items() if n == "Campaign a")

    def view(self: Analysis, selection: Any = None, k: Any = None) -> Any:
        shown = real_view(self, selection, k)
        accuracy = shown.question_accuracy

        def hiding_question_two() -> pd.DataFrame:
            table = accuracy().copy()
            two = (table["campaign_id"].astype(str) == campaign_a) & (table["question"] == 2)
            table.loc[two, "suppressed"] = True
            return table

        monkeypatch.setattr(shown, "question_accuracy", hiding_question_two)
        return shown

    monkeypatch.setattr(Analysis, "view", view)
    page = DataQuality(analysis)
    _, records, hidden, hidden_questions = page._reconciliation_table()
    assert hidden_questions == {(campaign_a, 2)} and campaign_a not in hidden
    by_metric = {
        (r["metric"], r["question"]): r["hidden"] for r in records if r["campaign"] == "Campaign a"
    }
    assert by_metric[("correct answers", 2)] and by_metric[("correct answers", "")]
    assert by_metric[("numCorrectAnswers (vendor)", "")]
    assert not by_metric[("correct answers", 1)] and not by_metric[("rows received", "")]
    text = page.reconciliation_html()
    # Question 2's counter differed by one: the difference is not listed, and neither are the
    # campaign's correct-answer totals.
    differences = text[text.index("Differences") :] if "Differences" in text else ""
    assert "correct answers vs numCorrectAnswers" not in differences
    assert "differs: rows, completion, correct answers" in text  # the campaign still shows


def test_personal_addresses_are_withheld_when_the_external_ones_would_follow(
    planted_store: Path,
) -> None:
    """Outside addresses minus personal ones gives the external ones: a shared report withholds
    the personal count when that difference is 1 to k-1 people."""
    page = DataQuality(open_analysis(planted_store, report=True))
    page.counts = [
        ("outside_addresses", "outside", 8, 100, True),
        ("personal_addresses", "personal", 6, 100, True),
    ]
    assert page._withheld("personal_addresses", 6, True)  # 8 - 6 = 2 external
    assert not page._withheld("outside_addresses", 8, True)
    page.counts[0] = ("outside_addresses", "outside", 11, 100, True)
    assert not page._withheld("personal_addresses", 6, True)  # 5 external: shown
    page.counts[0] = ("outside_addresses", "outside", 6, 100, True)
    assert not page._withheld("personal_addresses", 6, True)  # none external
