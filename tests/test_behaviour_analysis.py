"""Tests of the "does knowing go with doing?" analyses (analysis/behaviour.py).

The frames are built in the tests from raw API-shaped records through the project's own frame
builders (so the column names and dtypes are the real ones), or -- for the many seeded
no-effect datasets -- directly as a pairs frame with the dtypes knowledge_behaviour_pairs
returns. Effects are planted with known sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportion_confint

from awareness_analysis.analysis.behaviour import (
    BEHAVIOURS,
    PHISH_METRICS,
    RISK_RATIO_COLUMNS,
    knowledge_behaviour_pairs,
    knowledge_click_model,
    knowledge_click_risk_ratio,
    phishing_rates,
    safe_vs_accuracy,
    time_to_event,
)
from awareness_analysis.data.behaviour import (
    RISK_DTYPE,
    RISK_GRADES,
    phish_campaigns_frame,
    phish_users_frame,
    safe_scores_frame,
)
from awareness_analysis.data.frames import Frames, build_frames
from awareness_analysis.vocabulary import SUPPRESSED_LABEL

T0 = pd.Timestamp("2024-06-03T08:00:00", tz="UTC")


def stamp(value: pd.Timestamp) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S+0000")


# -- raw records ----------------------------------------------------------------------------------


def awareness_campaign(cid: str, launch: str, questions: int = 2) -> dict[str, Any]:
    return {
        "id": cid,
        "name": f"Module {cid}",
        "title": {
            "id": f"module-{cid}",
            "title": "Spot_the_phish",
            "correctAnswers": {f"forQuestion{q}": 1 for q in range(1, questions + 1)},
        },
        "launchDate": launch,
        "numSent": 0,
    }


def awareness_user(email: str, answers: list[str], department: str = "Sales") -> dict[str, Any]:
    """``answers``: one of CORRECT / INCORRECT / SENT per question."""
    return {
        "email": email,
        "name": email.split("@")[0],
        "department": department,
        "results": {f"forQuestion{q}": a for q, a in enumerate(answers, start=1)},
        "acknowledgement": True,
        "userState": "ACTIVE",
    }


def phish_campaign(cid: str, launch: pd.Timestamp | None) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": cid, "name": f"Lure {cid}", "numSent": 0}
    if launch is not None:
        raw["launchDate"] = stamp(launch)
    return raw


def phish_item(
    email: str,
    scheduled: pd.Timestamp | None,
    department: str = "Sales",
    *,
    clicked: pd.Timestamp | None = None,
    submitted: pd.Timestamp | None = None,
    reported: pd.Timestamp | None = None,
    scanned: pd.Timestamp | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "email": email,
        "name": email.split("@")[0],
        "department": department,
        "userState": "ACTIVE",
        "timeScheduled": stamp(scheduled) if scheduled is not None else "",
    }
    for field, value in (
        ("timeClicked", clicked),
        ("timeSubmitted", submitted),
        ("timeReported", reported),
        ("timeScanned", scanned),
    ):
        if value is not None:
            item[field] = stamp(value)
    return item


# -- a synthetic organisation with a planted effect -----------------------------------------------

K_LAUNCH = {
    "k1": "2024-01-10T09:00:00+0000",
    "k2": "2024-03-10T09:00:00+0000",
    "k3": "2024-05-10T09:00:00+0000",  # after every phishing campaign: must never count
}
P_LAUNCH = {
    "p1": pd.Timestamp("2024-02-10T09:00:00", tz="UTC"),
    "p2": pd.Timestamp("2024-04-10T09:00:00", tz="UTC"),
}


@dataclass
class World:
    awareness: Frames
    phish_campaigns: pd.DataFrame
    phish_users: pd.DataFrame


def make_world(
    seed: int,
    people: int,
    departments: dict[str, tuple[float, float, float]],
    risk_ratio: float,
) -> World:
    """``departments``: name -> (share of people, P(knew), P(click | did not know)).

    In each knowledge campaign k1, k2 a person knows with the department's probability
    (answers both questions correct) or not (one answer wrong); 10% answer nothing in k1.
    Phishing p1 follows k1, p2 follows k2; k3 comes after both and is all-correct for
    everyone, so it would wipe out the effect if it were (wrongly) counted. The click
    probability is the department's base, times ``risk_ratio`` for people who knew; the
    report probability is 0.2, times 1.5 for people who knew.
    """
    rng = np.random.default_rng(seed)
    names = list(departments)
    shares = np.array([departments[d][0] for d in names])
    dept = rng.choice(len(names), size=people, p=shares / shares.sum())
    items: dict[str, list[dict[str, Any]]] = {"k1": [], "k2": [], "k3": []}
    phish: dict[str, list[dict[str, Any]]] = {"p1": [], "p2": []}
    for i in range(people):
        email = f"Person{i:05d}@Example.com"  # mixed case: joined case-insensitively
        department = names[dept[i]]
        _, p_knew, base = departments[department]
        for kc, pc in (("k1", "p1"), ("k2", "p2")):
            knew = rng.random() < p_knew
            if kc == "k1" and rng.random() < 0.1:
                answers = ["SENT", "SENT"]
                knew = None  # answered nothing
            else:
                answers = ["CORRECT", "CORRECT"] if knew else ["CORRECT", "INCORRECT"]
            items[kc].append(awareness_user(email, answers, department))
            p_click = base * (risk_ratio if knew else 1.0)
            p_report = 0.2 * (1.5 if knew else 1.0)
            start = P_LAUNCH[pc]
            clicked = (
                start + pd.Timedelta(hours=float(rng.exponential(5)))
                if (rng.random() < p_click)
                else None
            )
            reported = (
                start + pd.Timedelta(hours=float(rng.exponential(8)))
                if (rng.random() < p_report)
                else None
            )
            phish[pc].append(
                phish_item(email.lower(), start, department, clicked=clicked, reported=reported)
            )
        items["k3"].append(awareness_user(email, ["CORRECT", "CORRECT"], department))
    awareness = build_frames(
        [awareness_campaign(cid, launch) for cid, launch in K_LAUNCH.items()], items
    )
    campaigns_rows = [phish_campaign(cid, launch) for cid, launch in P_LAUNCH.items()]
    return World(
        awareness=awareness,
        phish_campaigns=phish_campaigns_frame(campaigns_rows),
        phish_users=phish_users_frame(phish, campaigns_rows),
    )


def pairs_of(world: World) -> pd.DataFrame:
    return knowledge_behaviour_pairs(
        world.awareness.users,
        world.awareness.campaigns,
        world.phish_users,
        world.phish_campaigns,
    )


@pytest.fixture(scope="module")
def plain_world() -> World:
    """The brief's case: one department, clicks 0.30 if not knew, 0.15 if knew (RR 0.5)."""
    return make_world(11, 2000, {"All": (1.0, 0.5, 0.30)}, risk_ratio=0.5)


@pytest.fixture(scope="module")
def confounded_world() -> World:
    """RR 0.5 within each department, but the department that knows more also clicks less
    anyway, so the crude ratio overstates the effect (about 0.33)."""
    return make_world(
        12, 2000, {"Sales": (0.5, 0.2, 0.40), "Engineering": (0.5, 0.8, 0.20)}, risk_ratio=0.5
    )


def row(table: pd.DataFrame, outcome: str, method: str) -> pd.Series:
    found = table[(table["outcome"] == outcome) & (table["method"] == method)]
    assert len(found) == 1
    return found.iloc[0]


# -- 1. phishing rates ----------------------------------------------------------------------------


def small_phish() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [phish_campaign("big", T0), phish_campaign("tiny", T0 + pd.Timedelta(days=30))]
    hour = pd.Timedelta(hours=1)
    big = []
    for i in range(40):
        kwargs: dict[str, Any] = {}
        if i < 9:
            kwargs["clicked"] = T0 + hour
        if i < 3:
            kwargs["submitted"] = T0 + 2 * hour
        if 30 <= i < 37:
            kwargs["reported"] = T0 + 3 * hour
        if 20 <= i < 30:
            kwargs["scanned"] = T0 + pd.Timedelta(seconds=5)  # scanner only: not clicks
        big.append(phish_item(f"u{i}@example.com", T0, **kwargs))
    # One person twice (two spellings): one person, clicked once.
    big.append(phish_item(" U0@Example.com ", T0, clicked=T0 + hour))
    tiny = [phish_item(f"t{i}@example.com", T0, clicked=T0 + hour) for i in range(3)]
    return phish_users_frame({"big": big, "tiny": tiny}, rows), phish_campaigns_frame(rows)


def test_phishing_rates_wilson_and_scanner() -> None:
    users, _ = small_phish()
    assert users["scanned"].sum() == 10 and not (users["scanned"] & users["clicked"]).any()
    table = phishing_rates(users, k=5)
    assert list(table.columns) == [
        "phish_campaign_id",
        "phish_campaign_name",
        "metric",
        "successes",
        "n",
        "people",
        "rate",
        "ci_low",
        "ci_high",
        "design_effect",
        "suppressed",
    ]
    assert table["metric"].tolist() == list(PHISH_METRICS) * 2
    assert table["phish_campaign_id"].dtype == users["phish_campaign_id"].dtype
    big = table[table["phish_campaign_id"] == "big"].set_index("metric")
    assert big["n"].tolist() == [40, 40, 40]  # 41 rows, 40 people
    assert big.loc["click", "successes"] == 9  # the 10 scanner-only rows are not clicks
    assert big.loc["submit", "successes"] == 3
    assert big.loc["report", "successes"] == 7
    low, high = proportion_confint(
        np.array([9, 3, 7]), np.array([40, 40, 40]), alpha=0.05, method="wilson"
    )
    np.testing.assert_allclose(big["ci_low"].to_numpy(), low, rtol=1e-12)
    np.testing.assert_allclose(big["ci_high"].to_numpy(), high, rtol=1e-12)
    np.testing.assert_allclose(big["rate"].to_numpy(), [9 / 40, 3 / 40, 7 / 40])
    assert not big["suppressed"].any()
    assert table.attrs["unit"] == "people"
    assert "scanner" in table.attrs["note"]


def test_phishing_rates_suppress_small_campaigns() -> None:
    users, _ = small_phish()
    table = phishing_rates(users, k=5)
    tiny = table[table["phish_campaign_id"] == "tiny"]
    assert tiny["suppressed"].all()
    assert tiny[["rate", "ci_low", "ci_high"]].isna().all().all()
    assert tiny[["successes", "n", "people"]].isna().all().all()
    assert table.attrs["min_group_size"] == 5
    shown = phishing_rates(users, k=3)  # 3 people is not fewer than 3
    assert not shown["suppressed"].any()
    assert shown[shown["phish_campaign_id"] == "tiny"]["rate"].tolist() == [1.0, 0.0, 0.0]
    assert not phishing_rates(users, k=None)["suppressed"].any()


# -- 2. pairs and ordering ------------------------------------------------------------------------


def ordering_case() -> pd.DataFrame:
    awareness = build_frames(
        [
            awareness_campaign("early", "2024-01-01T09:00:00+0000"),
            awareness_campaign("mid", "2024-02-01T09:00:00+0000"),
            awareness_campaign("same_day", "2024-03-01T09:00:00+0000"),
            awareness_campaign("late", "2024-04-01T09:00:00+0000"),
            awareness_campaign("undated", "2024-01-02T09:00:00+0000") | {"launchDate": None},
        ],
        {
            # Wrong before, right only after the phishing campaign: did not know.
            "early": [awareness_user("ann@example.com", ["CORRECT", "INCORRECT"])],
            "late": [
                awareness_user("ann@example.com", ["CORRECT", "CORRECT"]),
                awareness_user("ben@example.com", ["CORRECT", "CORRECT"]),
            ],
            # Ben answered only after, and on the phishing launch day: excluded.
            "same_day": [
                awareness_user("ben@example.com", ["CORRECT", "CORRECT"]),
                awareness_user("Cat@Example.com", ["INCORRECT", "INCORRECT"]),
            ],
            # Cat (any spelling): wrong in same_day (does not count), right in mid, where
            # her unanswered question is not wrong. Dan answered nothing in mid.
            "mid": [
                awareness_user("CAT@example.com", ["CORRECT", "SENT"]),
                awareness_user("dan@example.com", ["SENT", "SENT"]),
            ],
            "undated": [awareness_user("dan@example.com", ["CORRECT", "CORRECT"])],
        },
    )
    rows = [phish_campaign("phish", pd.Timestamp("2024-03-01T09:00:00", tz="UTC"))]
    hour = pd.Timedelta(hours=1)
    launch = pd.Timestamp("2024-03-01T09:00:00", tz="UTC")
    phish = {
        "phish": [
            phish_item("ann@example.com", launch, clicked=launch + hour),
            phish_item("ben@example.com", launch),
            phish_item("cat@example.com", launch, "Finance", reported=launch + hour),
            phish_item("dan@example.com", launch),
        ],
        "unlisted": [phish_item("ann@example.com", launch)],  # no launch date known
    }
    return knowledge_behaviour_pairs(
        awareness.users,
        awareness.campaigns,
        phish_users_frame(phish, rows),
        phish_campaigns_frame(rows),
    )


def test_pairs_ordering_by_launch_date() -> None:
    pairs = ordering_case()
    assert list(pairs.columns) == [
        "person",
        "phish_campaign_id",
        "phish_launch_date",
        "department",
        "knowledge_campaign_id",
        "knowledge_launch_date",
        "knew",
        "clicked",
        "submitted",
        "reported",
    ]
    by_person = pairs.set_index("person")
    assert by_person.index.tolist() == ["ann@example.com", "cat@example.com"]
    # Ann's correct answers came in a campaign launched after the phishing one.
    assert by_person.loc["ann@example.com", "knowledge_campaign_id"] == "early"
    assert not by_person.loc["ann@example.com", "knew"]
    assert by_person.loc["ann@example.com", "clicked"]
    # Cat: same_day (launched with the phishing campaign) does not count; mid does, and her
    # unanswered question there is not wrong.
    assert by_person.loc["cat@example.com", "knowledge_campaign_id"] == "mid"
    assert by_person.loc["cat@example.com", "knew"]
    assert by_person.loc["cat@example.com", "reported"]
    assert by_person.loc["cat@example.com", "department"] == "Finance"
    assert pairs.attrs["excluded"] == {
        "phish_pairs": 5,
        "undated_phishing_campaign": 1,
        "nothing_answered_before": 2,  # ben (only same day / after), dan (only undated)
    }
    assert "launch" in pairs.attrs["note"] and pairs.attrs["unit"]
    assert str(pairs["phish_launch_date"].dtype) == "datetime64[us, UTC]"
    assert str(pairs["knowledge_launch_date"].dtype) == "datetime64[us, UTC]"


def test_pairs_of_the_synthetic_world(plain_world: World) -> None:
    pairs = pairs_of(plain_world)
    # k3 (after both phishing campaigns, all correct) never counts.
    assert set(pairs["knowledge_campaign_id"].astype(str)) == {"k1", "k2"}
    p1 = pairs[pairs["phish_campaign_id"] == "p1"]
    p2 = pairs[pairs["phish_campaign_id"] == "p2"]
    assert set(p1["knowledge_campaign_id"].astype(str)) == {"k1"}
    assert set(p2["knowledge_campaign_id"].astype(str)) == {"k2"}
    assert len(p2) == 2000 and 1700 < len(p1) < 1900  # ~10% answered nothing in k1
    assert pairs["person"].str.islower().all()


# -- 3. risk ratio and model ----------------------------------------------------------------------


def test_risk_ratio_recovers_planted_effect(plain_world: World) -> None:
    table = knowledge_click_risk_ratio(pairs_of(plain_world), k=5)
    assert list(table.columns) == list(RISK_RATIO_COLUMNS)
    assert table["outcome"].tolist() == [o for o in BEHAVIOURS for _ in range(3)]
    for method in ("crude", "mantel_haenszel", "poisson_clustered"):
        clicks = row(table, "clicked", method)
        assert clicks["ci_low"] < 0.5 < clicks["ci_high"], (method, clicks.to_dict())
        assert clicks["ci_high"] < 1, method
        assert clicks["p_value"] < 0.001
        reports = row(table, "reported", method)
        assert reports["ci_low"] < 1.5 < reports["ci_high"], (method, reports.to_dict())
        assert reports["ci_low"] > 1
    crude = row(table, "clicked", "crude")
    assert crude["unit"] == "people" and crude["n"] == crude["people"] == 2000
    assert row(table, "clicked", "poisson_clustered")["n"] > 3000  # every pair
    assert row(table, "clicked", "poisson_clustered")["people"] == 2000
    # With one department Mantel-Haenszel is the crude ratio (Greenland-Robins = Katz).
    mh = row(table, "clicked", "mantel_haenszel")
    assert mh["strata"] == 1
    for column in ("risk_ratio", "ci_low", "ci_high"):
        assert mh[column] == pytest.approx(crude[column], rel=1e-9)
    assert crude["rate_knew"] == pytest.approx(crude["events_knew"] / crude["n_knew"])
    assert not table["suppressed"].any()
    assert "Observational" in table.attrs["note"]


def test_mantel_haenszel_removes_department_confounding(confounded_world: World) -> None:
    table = knowledge_click_risk_ratio(pairs_of(confounded_world), k=5)
    crude = row(table, "clicked", "crude")
    assert crude["ci_high"] < 0.5  # confounded: looks stronger than it is
    for method in ("mantel_haenszel", "poisson_clustered"):
        adjusted = row(table, "clicked", method)
        assert adjusted["ci_low"] < 0.5 < adjusted["ci_high"], (method, adjusted.to_dict())
        assert adjusted["ci_high"] < 1
        assert adjusted["strata"] == 2
    model = knowledge_click_model(pairs_of(confounded_world))
    assert list(model.columns) == [
        "outcome",
        "term",
        "odds_ratio",
        "ci_low",
        "ci_high",
        "p_value",
        "n",
        "people",
        "n_knew",
        "n_not_knew",
        "levels",
        "converged",
        "suppressed",
    ]
    fit = model.iloc[0]
    # Within departments the odds ratios are 0.375 and 0.44: between those, clearly below 1.
    assert fit["ci_low"] < 0.41 < fit["ci_high"] < 1
    assert fit["converged"] and fit["levels"] == 2 and fit["people"] == 2000
    assert model.attrs["formula"] == "clicked ~ knew + C(department)"
    with_campaigns = knowledge_click_model(pairs_of(confounded_world), campaign_effects=True)
    assert with_campaigns.iloc[0]["ci_high"] < 1
    assert "C(phish_campaign_id)" in with_campaigns.attrs["formula"]


def null_pairs(seed: int, people: int = 400, campaigns: int = 3) -> pd.DataFrame:
    """A pairs frame with no effect of knowing: knowing and clicking both depend on the
    department and on the person (persistent habits), never on each other."""
    rng = np.random.default_rng(seed)
    departments = np.array(["A", "B", "C", "tiny"])
    dept = rng.choice(4, size=people, p=[0.4, 0.35, 0.24, 0.01])
    p_knew = np.array([0.3, 0.5, 0.7, 0.5])[dept]
    base = np.array([0.35, 0.25, 0.15, 0.25])[dept]
    # Person frailty: some people click (and know) far more often than others.
    click_p = np.clip(base * rng.gamma(2.0, 0.5, size=people), 0, 0.95)
    knower = rng.random(people) < p_knew
    rows: dict[str, list[Any]] = {c: [] for c in ("person", "phish", "dept", "knew", "clk")}
    for c in range(campaigns):
        knew = np.where(rng.random(people) < 0.8, knower, rng.random(people) < p_knew)
        rows["person"] += [f"p{i}@example.com" for i in range(people)]
        rows["phish"] += [f"c{c}"] * people
        rows["dept"] += departments[dept].tolist()
        rows["knew"] += knew.tolist()
        rows["clk"] += (rng.random(people) < click_p).tolist()
    n = len(rows["person"])
    launch = {f"c{c}": T0 + pd.Timedelta(days=30 * c) for c in range(campaigns)}
    return pd.DataFrame(
        {
            "person": pd.array(rows["person"], dtype="str"),
            "phish_campaign_id": pd.Categorical(
                rows["phish"], categories=pd.Index(list(launch), dtype="str")
            ),
            "phish_launch_date": pd.DatetimeIndex(
                [launch[c] for c in rows["phish"]], dtype="datetime64[us, UTC]"
            ),
            "department": pd.Categorical(rows["dept"]),
            "knowledge_campaign_id": pd.Categorical(["k"] * n),
            "knowledge_launch_date": pd.DatetimeIndex([T0 - pd.Timedelta(days=9)] * n),
            "knew": np.array(rows["knew"], dtype=bool),
            "clicked": np.array(rows["clk"], dtype=bool),
            "submitted": np.zeros(n, dtype=bool),
            "reported": rng.random(n) < 0.2,
        }
    )


def test_no_effect_is_rarely_significant() -> None:
    datasets = 40
    significant = {"mantel_haenszel": 0, "poisson_clustered": 0, "logistic": 0, "reported": 0}
    for seed in range(datasets):
        pairs = null_pairs(1000 + seed)
        table = knowledge_click_risk_ratio(pairs, k=5)
        significant["mantel_haenszel"] += row(table, "clicked", "mantel_haenszel")["p_value"] < 0.05
        significant["poisson_clustered"] += (
            row(table, "clicked", "poisson_clustered")["p_value"] < 0.05
        )
        significant["reported"] += row(table, "reported", "mantel_haenszel")["p_value"] < 0.05
        significant["logistic"] += knowledge_click_model(pairs, k=5).iloc[0]["p_value"] < 0.05
        if seed == 0:
            # The tiny department is pooled, not shown or dropped.
            assert table.attrs["pooled_departments"]["people"] == 1
    # Expected 2 of 40 at the 5% level; 5 allows for chance (P(>= 6) is about 1.4%).
    assert max(significant.values()) <= 5, significant


def test_pair_level_intervals_allow_for_repeated_people() -> None:
    """The same people in many campaigns are not independent evidence: the clustered interval
    is wider than one that pretends every pair is a new person."""
    import statsmodels.api as sm

    pairs = null_pairs(7, people=400, campaigns=6)
    fit = knowledge_click_model(pairs, k=0).iloc[0]
    exog = np.column_stack(
        [np.ones(len(pairs)), pairs["knew"].astype(float)]
        + [(pairs["department"] == d).astype(float) for d in ("B", "C", "tiny")]
    )
    naive = sm.GLM(pairs["clicked"].astype(float), exog, family=sm.families.Binomial()).fit()
    naive_low, naive_high = np.exp(np.asarray(naive.conf_int())[1])
    assert fit["ci_high"] / fit["ci_low"] > naive_high / naive_low
    assert fit["odds_ratio"] == pytest.approx(np.exp(naive.params.iloc[1]), rel=1e-6)


def test_risk_ratio_suppressed_when_an_arm_is_small() -> None:
    pairs = null_pairs(3, people=60, campaigns=1)
    knowers = pairs.index[pairs["knew"]]
    pairs.loc[knowers[3:], "knew"] = False  # three people knew
    table = knowledge_click_risk_ratio(pairs, k=5)
    assert table["suppressed"].all()
    assert table[["risk_ratio", "ci_low", "ci_high", "p_value", "rate_knew"]].isna().all().all()
    assert table[["n", "n_knew", "events_knew"]].isna().all().all()
    model = knowledge_click_model(pairs, k=5)
    assert model["suppressed"].all() and np.isnan(model.iloc[0]["odds_ratio"])
    assert not knowledge_click_risk_ratio(pairs, k=3)["suppressed"].any()


def test_model_rejects_unknown_outcome(plain_world: World) -> None:
    with pytest.raises(ValueError, match="outcome"):
        knowledge_click_model(pairs_of(plain_world), outcome="opened")  # type: ignore[arg-type]


# -- 4. SAFE grade vs accuracy --------------------------------------------------------------------


def test_safe_vs_accuracy() -> None:
    rng = np.random.default_rng(5)
    grades = {"A": 30, "B": 30, "C": 20, "D": 3, "F": 12}
    mean_accuracy = {"A": 0.9, "B": 0.8, "C": 0.7, "D": 0.6, "F": 0.5}
    safe_rows = []
    awareness: dict[str, list[dict[str, Any]]] = {"k1": [], "k2": []}
    expected: dict[str, list[float]] = {grade: [] for grade in grades}
    person = 0
    for grade, count in grades.items():
        for _ in range(count):
            email = f"Someone{person}@Example.com"
            person += 1
            safe_rows.append({"emailAddress": email, "risk": grade.lower()})
            correct = total = 0
            for cid in awareness:
                answers = [
                    "CORRECT" if rng.random() < mean_accuracy[grade] else "INCORRECT"
                    for _ in range(4)
                ]
                answers[3] = "SENT"  # unanswered: not wrong
                correct += answers.count("CORRECT")
                total += 3
                awareness[cid].append(awareness_user(email.upper(), answers))
            expected[grade].append(correct / total)
    # Graded but never answered, and answered but not graded: both left out.
    safe_rows.append({"emailAddress": "idle@example.com", "risk": "A"})
    awareness["k1"].append(awareness_user("ungraded@example.com", ["CORRECT"] * 4))
    users = build_frames(
        [awareness_campaign(cid, K_LAUNCH[cid], questions=4) for cid in awareness], awareness
    ).users
    result = safe_vs_accuracy(safe_scores_frame(safe_rows), users, k=5)
    table = result.grades
    assert table["risk"].dtype == RISK_DTYPE and table["risk"].tolist() == list(RISK_GRADES)
    # D has 3 people (< 5) and is hidden; so is the next smallest, F, so D's count cannot be
    # worked out from the total.
    assert table["suppressed"].tolist() == [False, False, False, True, True]
    assert table.loc[table["suppressed"], ["mean_accuracy", "ci_low", "ci_high"]].isna().all().all()
    assert table.loc[table["suppressed"], "people"].isna().all()
    for _, shown in table[~table["suppressed"]].iterrows():
        values = np.array(expected[shown["risk"]])
        assert shown["people"] == len(values)
        assert shown["answers"] == 6 * len(values)
        assert shown["mean_accuracy"] == pytest.approx(values.mean())
        low, high = scipy_stats.t.interval(
            0.95, len(values) - 1, loc=values.mean(), scale=scipy_stats.sem(values)
        )
        assert shown["ci_low"] == pytest.approx(max(low, 0.0))
        assert shown["ci_high"] == pytest.approx(min(high, 1.0))
    correlation = result.correlation.iloc[0]
    codes = np.concatenate([[i] * grades[g] for i, g in enumerate(RISK_GRADES)])
    values = np.concatenate([expected[g] for g in RISK_GRADES])
    rho, p = scipy_stats.spearmanr(codes, values)
    assert correlation["rho"] == pytest.approx(rho) and correlation["p_value"] == pytest.approx(p)
    assert correlation["rho"] < -0.4 and correlation["p_value"] < 0.001
    assert correlation["people"] == sum(grades.values())
    assert "human error" in result.correlation.attrs["note"]
    assert "not circular" in table.attrs["note"]
    everything = safe_vs_accuracy(safe_scores_frame(safe_rows), users, k=None).grades
    assert not everything["suppressed"].any() and everything["people"].sum() == 95


# -- 5. time to event -----------------------------------------------------------------------------


def km_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    hour = pd.Timedelta(hours=1)
    rows = [phish_campaign("p", T0)]
    items = [
        phish_item("a@example.com", T0, clicked=T0 + 1 * hour),
        phish_item("b@example.com", T0, clicked=T0 + 2 * hour, reported=T0 + 5 * hour),
        # Submitted, click time missing: the submission time stands in.
        phish_item("c@example.com", T0, submitted=T0 + 3 * hour) | {"status": "submitted"},
        phish_item("d@example.com", T0, scanned=T0 + 0.5 * hour),  # scanner only: no click
        phish_item("e@example.com", T0),
        phish_item("f@example.com", None),  # no start time: left out
        # Clicked after the snapshot: censored at it.
        phish_item("g@example.com", T0, clicked=T0 + 20 * hour),
    ]
    return phish_users_frame({"p": items}, rows), phish_campaigns_frame(rows)


def test_kaplan_meier_by_hand() -> None:
    users, _ = km_case()
    result = time_to_event(users, as_of=T0 + pd.Timedelta(hours=10), k=None)
    curve = result.curve
    # 6 rows (f has no start): events at 1 h (a), 2 h (b), 3 h (c, by its submission);
    # d (scanner only), e and g (clicked after the snapshot) are censored at 10 h.
    # S = 5/6, then 5/6 * 4/5 = 4/6, then 4/6 * 3/4 = 3/6: never *below* 0.5, so no median.
    assert curve["time_hours"].tolist() == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(curve["survival"], [1, 5 / 6, 4 / 6, 3 / 6])
    assert curve["at_risk"].tolist() == [6, 6, 5, 4]
    assert curve["events"].tolist() == [0, 1, 1, 1]
    assert (curve["ci_low"] <= curve["survival"]).all()
    assert (curve["survival"] <= curve["ci_high"]).all()
    median = result.median.iloc[0]
    assert (median["n"], median["people"], median["events"], median["censored"]) == (6, 6, 3, 3)
    assert np.isnan(median["median_hours"])  # S never falls below 0.5
    assert median["median_hours_among_events"] == 2.0
    assert result.median.attrs["excluded"]["no_start_time"] == 1
    assert "scanner" in result.curve.attrs["note"]


def test_kaplan_meier_median_by_hand() -> None:
    users, campaigns = km_case()
    # With e clicking at 4 h: S = 5/6, 4/6, 3/6, 2/6 -> median 4 h (first below 0.5).
    extra = users[users["email"] == "e@example.com"].index
    users.loc[extra, "clicked"] = True
    users.loc[extra, "time_clicked"] = T0 + pd.Timedelta(hours=4)
    result = time_to_event(users, as_of=T0 + pd.Timedelta(hours=10), k=None)
    np.testing.assert_allclose(result.curve["survival"], [1, 5 / 6, 4 / 6, 3 / 6, 2 / 6])
    median = result.median.iloc[0]
    assert median["median_hours"] == 4.0
    assert median["ci_low"] <= 4.0
    assert median["median_hours_among_events"] == 2.5
    # The launch date stands in for the missing scheduled time when campaigns are given.
    with_launch = time_to_event(
        users, as_of=T0 + pd.Timedelta(hours=10), phish_campaigns=campaigns, k=None
    )
    assert with_launch.median.iloc[0]["n"] == 7
    assert with_launch.median.attrs["excluded"]["no_start_time"] == 0
    # Small-group rule: only event times with at least k at risk are drawn.
    cut = time_to_event(users, as_of=T0 + pd.Timedelta(hours=10), k=5)
    assert cut.curve["at_risk"].min() >= 5 and len(cut.curve) == 3
    assert cut.median.iloc[0]["median_hours"] == 4.0
    hidden = time_to_event(users, as_of=T0 + pd.Timedelta(hours=10), k=10)
    assert hidden.curve.empty and hidden.median["suppressed"].all()
    assert np.isnan(hidden.median.iloc[0]["median_hours"])


def test_time_to_report_and_validation() -> None:
    users, _ = km_case()
    result = time_to_event(users, as_of=T0 + pd.Timedelta(hours=10), event="reported", k=None)
    assert result.curve["time_hours"].tolist() == [0.0, 5.0]
    np.testing.assert_allclose(result.curve["survival"], [1, 5 / 6])
    with pytest.raises(ValueError, match="tz-aware"):
        time_to_event(users, as_of="2024-06-04T00:00:00")
    with pytest.raises(ValueError, match="event"):
        time_to_event(users, as_of=T0, event="opened")  # type: ignore[arg-type]


def test_time_to_click_of_the_synthetic_world(plain_world: World) -> None:
    result = time_to_event(plain_world.phish_users, as_of=pd.Timestamp("2024-06-01", tz="UTC"))
    curve = result.curve
    assert curve["survival"].is_monotonic_decreasing
    # About a fifth click, none after the snapshot: the curve levels off near 0.78.
    assert 0.74 < curve["survival"].iloc[-1] < 0.82
    assert np.isnan(result.median.iloc[0]["median_hours"])
    assert 2 < result.median.iloc[0]["median_hours_among_events"] < 5
    assert result.median.iloc[0]["people"] == 2000 and result.median.iloc[0]["n"] == 4000


def test_small_departments_are_pooled_into_one_stratum() -> None:
    pairs = null_pairs(2, people=1000, campaigns=2)
    tiny = pairs["department"] == "tiny"
    people = pairs.loc[tiny, "person"].unique()
    assert 4 <= len(people) <= 16
    moved = pairs["person"].isin(people[: len(people) // 2]).to_numpy()
    pairs["department"] = pd.Categorical(np.where(moved, "tiny2", pairs["department"].astype(str)))
    k = len(people)  # each tiny department has fewer than k people, together k
    pooled = knowledge_click_risk_ratio(pairs, k=k)
    unpooled = knowledge_click_risk_ratio(pairs, k=None)
    assert row(pooled, "clicked", "poisson_clustered")["strata"] == 4  # A, B, C, pooled
    assert row(unpooled, "clicked", "poisson_clustered")["strata"] == 5
    assert pooled.attrs["pooled_departments"] == {"people": 2, "pairs": 2}
    model = knowledge_click_model(pairs, k=k).iloc[0]
    assert model["levels"] == 4 and model["n"] == len(pairs)  # pooled, not dropped
    assert "pooled into one level" in knowledge_click_model(pairs, k=k).attrs["note"]
    assert SUPPRESSED_LABEL == "(suppressed)"
