"""Completion curves from snapshot history, the demo's weekly history, and the trends page."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from awareness_analysis.analysis import history
from awareness_analysis.analysis.disclosure import ReportContext, published_cells, read_published
from awareness_analysis.analysis.history import completion_curves
from awareness_analysis.analysis.privacy import person_keys
from awareness_analysis.analysis.session import Analysis, open_analysis
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.demo import DEMO_FETCHED_AT, DEMO_HISTORY_WEEKS, history_frames
from awareness_analysis.views.report import ReportParameters, plan_report, report_publications
from awareness_analysis.views.trends import TrendsAndPeople

K = 5


@pytest.fixture(scope="module")
def store() -> Path:
    return Path(os.environ["AWARENESS_STORE"])


@pytest.fixture(scope="module")
def analysis(store: Path) -> Analysis:
    return open_analysis(store, min_group_size=K)


def _shares_from_pandas(store: SnapshotStore, snapshot_id: str) -> pd.DataFrame:
    """The same counts, the slow way: the whole snapshot loaded into pandas."""
    users = store.load(snapshot_id=snapshot_id).frames.users
    work = pd.DataFrame(
        {
            "campaign_id": users["campaign_id"].astype(str),
            "person": person_keys(users["email"]),
            "acknowledged": users["acknowledged"].to_numpy(bool),
            "answered": (users["n_correct"] + users["n_incorrect"]).to_numpy() > 0,
        }
    )
    people = work.groupby(["campaign_id", "person"]).agg(
        acknowledged=("acknowledged", "any"), answered=("answered", "any")
    )
    return people.groupby("campaign_id").agg(
        people=("acknowledged", "size"),
        acknowledged=("acknowledged", "sum"),
        answered=("answered", "sum"),
    )


def test_curves_count_what_each_snapshot_holds(store: Path) -> None:
    snapshots = SnapshotStore(store)
    curves = completion_curves(snapshots, k=K)
    ids = snapshots.snapshot_ids()
    assert len(ids) == DEMO_HISTORY_WEEKS + 1
    assert list(dict.fromkeys(curves["snapshot_id"])) == ids
    for snapshot_id in (ids[0], ids[len(ids) // 2], ids[-1]):
        expected = _shares_from_pandas(snapshots, snapshot_id)
        got = curves[curves["snapshot_id"] == snapshot_id].set_index("campaign_id")
        assert sorted(got.index) == sorted(expected.index)
        for column in ("people", "acknowledged", "answered"):
            assert got[column].astype(int).to_dict() == expected[column].astype(int).to_dict()
    # A campaign's reach only grows, week by week, in the demo's history.
    latest = curves[curves["snapshot_id"] == ids[-1]]
    running = latest.sort_values("launch_date").iloc[-1]["campaign_id"]
    series = curves[curves["campaign_id"] == running]["answered_share"].to_numpy()
    assert len(series) >= 2 and np.all(np.diff(series) >= 0) and series[-1] > series[0]


def test_curves_stop_at_until_and_limit_campaigns(store: Path) -> None:
    snapshots = SnapshotStore(store)
    ids = snapshots.snapshot_ids()
    first = str(open_analysis(store, min_group_size=K).campaigns["campaign_id"].iloc[0])
    curves = completion_curves(snapshots, k=K, until=ids[3], campaign_ids=(first,))
    assert set(curves["snapshot_id"]) == set(ids[:4])
    assert set(curves["campaign_id"]) == {first}


def test_shared_files_are_counted_once(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots = SnapshotStore(store)
    files = {
        Path(p) for sid in snapshots.snapshot_ids() for p in snapshots.table_files(sid, "users")
    }
    reads: list[Path] = []
    real = history._counts

    def counted(path: Path, *options: object) -> object:
        reads.append(path)
        return real(path, *options)

    monkeypatch.setattr(history, "_counts", counted)
    completion_curves(snapshots, k=K)
    assert len(reads) == len(set(reads)) == len(files)
    # Unchanged campaigns are shared between snapshots: far fewer files than snapshot x campaign.
    per_snapshot = sum(len(snapshots.table_files(s, "users")) for s in snapshots.snapshot_ids())
    assert len(files) < per_snapshot


def test_a_department_hidden_once_is_hidden_in_every_snapshot(store: Path) -> None:
    curves = completion_curves(SnapshotStore(store), k=K, by_department=True)
    hidden = curves[curves["suppressed"]]
    assert len(hidden) and hidden["people"].isna().all() and hidden["answered_share"].isna().all()
    for (campaign, department), _ in hidden.groupby(["campaign_id", "department"]):
        rows = curves[(curves["campaign_id"] == campaign) & (curves["department"] == department)]
        assert rows["suppressed"].all()
    # Complementary hiding: the campaign's total minus its shown departments is never one
    # department, nor fewer than k people.
    everyone = completion_curves(SnapshotStore(store), k=0, by_department=True)
    merged = curves.merge(everyone, on=["snapshot_id", "campaign_id", "department"])
    for _, rows in merged[merged["suppressed_x"]].groupby(["snapshot_id", "campaign_id"]):
        assert len(rows) >= 2 and rows["people_y"].sum() >= K


def test_demo_history_rolls_progress_back(analysis: Analysis) -> None:
    frames = analysis.snapshot.frames
    week = history_frames(frames, DEMO_FETCHED_AT - timedelta(weeks=1))
    first = DEMO_FETCHED_AT - timedelta(weeks=DEMO_HISTORY_WEEKS)
    month = history_frames(frames, first)
    launched = pd.to_datetime(frames.campaigns["launch_date"], utc=True)
    later = frames.campaigns.loc[launched > first, "campaign_id"]
    assert not set(month.campaigns["campaign_id"].astype(str)) & set(later.astype(str))
    for earlier in (week, month):
        merged = earlier.users.merge(
            frames.users, on=["campaign_id", "email"], suffixes=("_then", "_now")
        )
        # Nothing done then is undone later; something done later was not done then.
        assert not (merged["acknowledged_then"] & ~merged["acknowledged_now"]).any()
        assert (merged["n_correct_then"] <= merged["n_correct_now"]).all()
        assert (~merged["acknowledged_then"] & merged["acknowledged_now"]).any()
    # An answer given later is "sent" in the earlier answers frame too.
    pending = week.users[(week.users["outcome"] == "sent")]
    keys = set(zip(pending["campaign_id"].astype(str), pending["email"], strict=True))
    answers = week.answers
    sent = answers[
        [k in keys for k in zip(answers["campaign_id"].astype(str), answers["email"], strict=True)]
    ]
    assert (sent["result"] == "sent").all()


def test_trends_page_redraws_once_per_change(analysis: Analysis) -> None:
    page = TrendsAndPeople(analysis)
    assert page.redraws == 1 and len(page.figures) == 5
    page.metric.value = "completion"
    assert page.redraws == 2
    assert "Completion" in page.figures[0].get_suptitle()
    listed = page.tables["repeat_non_completers"]
    page.last_n.value = 1
    assert page.redraws == 3 and len(page.tables["repeat_non_completers"]) >= len(listed)
    # Completion curves per department: that department's rows only, named in the chart.
    page.curves_for.value = "Finance"
    curves = page.tables["completion_curves"]
    assert page.redraws == 4 and len(curves) and set(curves["department"]) == {"Finance"}
    assert "Finance" in page.figures[3].get_suptitle()


def test_trends_report_page_logs_planned_figures_and_no_people(store: Path, tmp_path: Path) -> None:
    parameters = ReportParameters(store=store, min_group_size=K)
    planned, plan, _ = plan_report(parameters)
    log = tmp_path / "log.jsonl"
    log.touch()
    context = ReportContext(plan, "06_trends_and_people", str(log))
    report_analysis = replace(planned, report=True, context=context)
    body = TrendsAndPeople(report_analysis).static_html()
    records = read_published(str(log))
    charts = {r["chart"] for r in records}
    assert charts == {
        "Campaign trend",
        "Department trends",
        "Repeat non-completers",
        "Completion curves",
    }
    # Every figure counts a cell the plan weighed (shown or hidden), and none it hides.
    _, planned_shown, planned_hidden = published_cells(
        planned.engine, report_publications(planned), plan
    )
    cells = {r["cell"] for r in records}
    assert cells <= planned_shown | planned_hidden
    shown = {r["cell"] for r in records if not r["hidden"]}
    assert shown and not shown & plan.hidden_cells
    assert "@" not in body  # no addresses without --include-people
    with_people = replace(report_analysis, context=replace(context, include_people=True))
    assert "@" in TrendsAndPeople(with_people).static_html()


def test_a_report_never_shows_curve_points_over_a_different_audience(
    analysis: Analysis, tmp_path: Path
) -> None:
    """A person joining a finished campaign between two fetches: the two points' difference
    would be that person's figures, so the report shows only points counting the latest
    audience (the earlier point of that campaign is hidden, the others stay)."""
    frames = analysis.snapshot.frames
    latest = analysis.snapshot.manifest["fetched_at"]
    first_campaign = str(frames.campaigns["campaign_id"].iloc[0])
    users = frames.users
    joiner = users.index[users["campaign_id"].astype(str) == first_campaign][0]
    earlier_users = users.drop(index=joiner).reset_index(drop=True)
    earlier = replace(frames, users=earlier_users)
    store = SnapshotStore(tmp_path / "store")
    week = pd.Timestamp(latest) - pd.Timedelta(days=7)
    store.write(earlier, api_host="x.invalid", query={}, fetched_at=week.to_pydatetime())
    store.write(frames, api_host="x.invalid", query={}, fetched_at=pd.Timestamp(latest))
    curves = completion_curves(store, k=K)
    first = curves[curves["campaign_id"] == first_campaign]
    others = curves[curves["campaign_id"] != first_campaign]
    assert first["audience"].nunique() == 2 and first["people"].diff().iloc[-1] == 1
    assert (others.groupby("campaign_id")["audience"].nunique() == 1).all()

    planned, plan, _ = plan_report(ReportParameters(store=store.root, min_group_size=K))
    log = tmp_path / "log.jsonl"
    log.touch()
    context = ReportContext(plan, "06_trends_and_people", str(log))
    page = TrendsAndPeople(replace(planned, report=True, context=context))
    shown, records = page._planned_curves()
    hidden = shown[shown["suppressed"]]
    assert set(hidden["campaign_id"]) == {first_campaign}
    assert list(hidden["snapshot_id"]) == [store.snapshot_ids()[0]]
    logged = [r for r in records if r["campaign"] == analysis.campaign_names[first_campaign]]
    assert [r["hidden"] for r in logged] == [True, True, False, False]


def test_trends_page_with_one_campaign_has_no_movement(store: Path) -> None:
    one = str(open_analysis(store, min_group_size=K).campaigns["campaign_id"].iloc[0])
    page = TrendsAndPeople(open_analysis(store, min_group_size=K, campaign_ids=[one]))
    assert page.redraws == 1
    texts = [t.get_text() for t in page.figures[4].texts]
    assert any("Choose two different campaigns" in text for text in texts)


def test_curves_leave_out_snapshots_fetched_with_another_filter(
    analysis: Analysis, tmp_path: Path
) -> None:
    frames = analysis.snapshot.frames
    store = SnapshotStore(tmp_path / "store")
    latest = pd.Timestamp(analysis.snapshot.manifest["fetched_at"])
    answered = frames.users[frames.users["outcome"] != "sent"].reset_index(drop=True)
    store.write(
        frames,
        api_host="x.invalid",
        query={"campaign_ids": []},
        fetched_at=(latest - pd.Timedelta(days=14)).to_pydatetime(),
    )
    filtered = store.write(
        replace(frames, users=answered),
        api_host="x.invalid",
        query={"campaign_ids": [], "statuses": ["correct", "incorrect"]},
        fetched_at=(latest - pd.Timedelta(days=7)).to_pydatetime(),
    )
    store.write(frames, api_host="x.invalid", query={"campaign_ids": []}, fetched_at=latest)
    curves = completion_curves(store, k=K)
    assert filtered.snapshot_id not in set(curves["snapshot_id"])
    assert curves.attrs["snapshots_with_another_filter"] == [filtered.snapshot_id]
    assert curves["snapshot_id"].nunique() == 2
