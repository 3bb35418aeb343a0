"""Tests of people over time (analysis/trends.py): trends, repeat non-completers, movement.

Organisations are built in the tests with effects of known size: a trend in the
population-averaged log-odds per year, persistent differences between people (a latent normal
person effect, so one person's results are correlated across campaigns while the marginal rate
of each campaign is exactly the planted one), a planted set of people who never answer, a
planted Markov chain of missing, and planted later pass rates after failing or passing. The
frames have the dtypes :func:`~awareness_analysis.data.frames.build_frames` gives (one test
builds them through it from API-shaped records).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import norm
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.stats.proportion import proportion_confint

from awareness_analysis.analysis.trends import (
    ORGANISATION_LABEL,
    UNIT_TRANSITIONS,
    campaign_trend,
    completion_history,
    missed_again,
    movement,
    repeat_non_completers,
)
from awareness_analysis.data.frames import OUTCOME_DTYPE, build_frames
from awareness_analysis.vocabulary import SUPPRESSED_LABEL, UNIT_ANSWERS, UNIT_ENROLMENTS

T0 = pd.Timestamp("2021-01-04T09:00:00", tz="UTC")
YEAR = pd.Timedelta(days=365.25)


# -- building organisations -----------------------------------------------------------------------


def frames_from(
    campaign: Any,
    email: Any,
    department: Any,
    acknowledged: Any,
    n_correct: Any,
    n_incorrect: Any,
    n_questions: int,
    launches: dict[str, pd.Timestamp],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``users`` and ``campaigns`` frames with the project's dtypes from flat arrays."""
    ids = list(launches)
    cid = pd.Categorical(np.asarray(campaign, dtype=object), categories=pd.Index(ids, dtype="str"))
    correct = np.asarray(n_correct, dtype=np.int64)
    incorrect = np.asarray(n_incorrect, dtype=np.int64)
    questions = np.full(correct.shape, n_questions, dtype=np.int64)
    outcome = np.where(incorrect > 0, "incorrect", np.where(correct > 0, "correct", "sent"))
    emails = np.asarray(email, dtype=object)
    users = pd.DataFrame(
        {
            "campaign_id": cid,
            "campaign_name": pd.Categorical([f"Module {c}" for c in cid.astype(str)]),
            "email": pd.array(emails, dtype="str"),
            "name": pd.array([str(e).split("@")[0] for e in emails], dtype="str"),
            "department": pd.Categorical(np.asarray(department, dtype=object)),
            "acknowledged": np.asarray(acknowledged, dtype=bool),
            "n_questions": questions.astype(np.int8),
            "n_correct": correct.astype(np.int8),
            "n_incorrect": incorrect.astype(np.int8),
            "n_unanswered": (questions - correct - incorrect).astype(np.int8),
            "outcome": pd.Categorical(outcome, dtype=OUTCOME_DTYPE),
        }
    )
    campaigns = pd.DataFrame(
        {
            "campaign_id": pd.Categorical(ids, categories=pd.Index(ids, dtype="str")),
            "campaign_name": pd.Categorical([f"Module {c}" for c in ids]),
            "launch_date": pd.Series(list(launches.values()), dtype="datetime64[us, UTC]"),
        }
    )
    return users, campaigns


def latent_flags(
    rng: np.random.Generator, person_effect: np.ndarray, probability: np.ndarray, rho: float
) -> np.ndarray:
    """Flags with marginal probability exactly ``probability`` per person, correlated within a
    person through ``person_effect`` (a latent normal with intra-person correlation ``rho``)."""
    noise = rng.standard_normal(len(person_effect))
    latent = np.sqrt(rho) * person_effect + np.sqrt(1 - rho) * noise
    return latent < norm.ppf(probability)


@dataclass
class Org:
    users: pd.DataFrame
    campaigns: pd.DataFrame
    as_of: pd.Timestamp
    department: np.ndarray


def acknowledgement_org(
    seed: int,
    departments: dict[str, int],
    launches: dict[str, pd.Timestamp],
    probability: Callable[[str, float, np.ndarray], np.ndarray],
    *,
    audience: dict[str, np.ndarray] | None = None,
    rho: float = 0.5,
    as_of: pd.Timestamp | None = None,
) -> Org:
    """People in departments (name -> head count); in each campaign a person acknowledges with
    ``probability(campaign_id, years since T0, department per person)``; everyone answers both
    questions correctly. ``audience``: campaign -> mask of the people enrolled (default all)."""
    rng = np.random.default_rng(seed)
    department = np.repeat(np.array(list(departments), dtype=object), list(departments.values()))
    people = len(department)
    emails = np.array([f"person{j:04d}@corp.example" for j in range(people)], dtype=object)
    effect = rng.standard_normal(people)
    parts: dict[str, list[np.ndarray]] = {"campaign": [], "email": [], "dept": [], "ack": []}
    for cid, launch in launches.items():
        chosen = np.ones(people, dtype=bool) if audience is None else audience.get(cid, True)
        chosen = np.broadcast_to(chosen, (people,))
        years = (launch - T0) / YEAR
        flags = latent_flags(rng, effect, probability(cid, years, department), rho)
        parts["campaign"].append(np.full(int(chosen.sum()), cid, dtype=object))
        parts["email"].append(emails[chosen])
        parts["dept"].append(department[chosen])
        parts["ack"].append(flags[chosen])
    ack = np.concatenate(parts["ack"])
    users, campaigns = frames_from(
        np.concatenate(parts["campaign"]),
        np.concatenate(parts["email"]),
        np.concatenate(parts["dept"]),
        ack,
        np.full(len(ack), 2),
        np.zeros(len(ack)),
        2,
        launches,
    )
    snapshot = as_of if as_of is not None else max(launches.values()) + pd.Timedelta(days=60)
    return Org(users, campaigns, snapshot, department)


def half_yearly(n: int) -> dict[str, pd.Timestamp]:
    return {f"c{t}": T0 + pd.Timedelta(days=182 * t) for t in range(n)}


def logistic(base: float, slope: float) -> Callable[[str, float, np.ndarray], np.ndarray]:
    def probability(cid: str, years: float, department: np.ndarray) -> np.ndarray:
        return np.full(len(department), expit(base + slope * years))

    return probability


# -- 1. campaign trend ----------------------------------------------------------------------------


def test_trend_recovers_the_planted_slope() -> None:
    slope, base = 0.4, -0.3
    launches = half_yearly(8)
    org = acknowledgement_org(11, {"Sales": 300, "IT": 300}, launches, logistic(base, slope))
    result = campaign_trend(org.users, org.campaigns, "acknowledgement", as_of=org.as_of, k=5)
    trend = result.trend.iloc[0]
    assert trend["ci_low"] < np.exp(slope) < trend["ci_high"]
    assert trend["ci_low"] > 1 and trend["p_value"] < 1e-6
    # The change in percentage points per year at the mean date: planted b * p * (1 - p).
    mean_years = np.mean([(launch - T0) / YEAR for launch in launches.values()])
    p = expit(base + slope * mean_years)
    assert trend["pp_ci_low"] < 100 * slope * p * (1 - p) < trend["pp_ci_high"]
    assert (trend["n"], trend["people"], trend["campaigns"]) == (4800, 600, 8)
    assert result.trend.attrs["unit"] == UNIT_ENROLMENTS
    assert "cluster" in result.trend.attrs["note"]
    table = result.campaigns
    assert list(table["campaign_id"]) == list(launches)  # launch order
    assert table["in_fit"].all() and not table["running"].any() and not table["targeted"].any()
    assert (table["rate"].diff().dropna() > -0.08).all()  # rising, give or take noise


def test_without_a_trend_the_interval_covers_one() -> None:
    """Over 40 organisations with no trend (people differing persistently), the 95% interval
    of the odds ratio per year covers 1 in about 95% of them."""
    covered, small_p = 0, 0
    launches = half_yearly(5)
    for seed in range(40):
        org = acknowledgement_org(1000 + seed, {"All": 150}, launches, logistic(0.2, 0.0), rho=0.6)
        trend = campaign_trend(
            org.users, org.campaigns, "acknowledgement", as_of=org.as_of, k=5
        ).trend.iloc[0]
        covered += trend["ci_low"] < 1 < trend["ci_high"]
        small_p += trend["p_value"] < 0.05
    assert covered >= 35
    assert small_p <= 5


def test_trend_interval_is_person_clustered_when_people_repeat() -> None:
    """People who stay for two campaigns each (rotating cohorts) and differ persistently:
    the slope's clustered interval is wider than a GLM's that takes rows as independent."""
    launches = half_yearly(8)
    people = 1600
    cohort = np.arange(people) % 7  # person in campaigns cohort and cohort + 1
    audience = {f"c{t}": (cohort == t) | (cohort == t - 1) for t in range(8)}
    org = acknowledgement_org(
        0, {"All": people}, launches, logistic(0.0, 0.3), audience=audience, rho=0.8
    )
    # The first and last campaigns reach one cohort only: not targeted, at a share of 0.4.
    trend = campaign_trend(
        org.users, org.campaigns, "acknowledgement", as_of=org.as_of, k=5, targeted_share=0.4
    ).trend.iloc[0]
    assert trend["campaigns"] == 8
    assert trend["ci_low"] < np.exp(0.3) < trend["ci_high"]
    years = (
        org.users["campaign_id"]
        .astype(str)
        .map({cid: (launch - T0) / YEAR for cid, launch in launches.items()})
    )
    exog = np.column_stack([np.ones(len(years)), years.to_numpy(dtype=float)])
    naive = GLM(org.users["acknowledged"].to_numpy(dtype=float), exog, family=Binomial()).fit()
    naive_low, naive_high = np.asarray(naive.conf_int())[1]
    clustered_width = np.log(trend["ci_high"]) - np.log(trend["ci_low"])
    assert clustered_width > 1.15 * (naive_high - naive_low)  # about 1.24 here
    assert trend["odds_ratio_per_year"] == pytest.approx(np.exp(naive.params[1]))


def test_department_trends_flag_the_rising_one_and_hide_small_ones() -> None:
    slopes = {"Sales": 0.9, "IT": 0.0, "Finance": 0.0, "Legal": 0.0}

    def probability(cid: str, years: float, department: np.ndarray) -> np.ndarray:
        return expit(np.array([slopes[d] for d in department]) * years - 0.2)

    heads = {"Sales": 250, "IT": 250, "Finance": 150, "Legal": 3}
    org = acknowledgement_org(5, heads, half_yearly(6), probability)
    result = campaign_trend(org.users, org.campaigns, "acknowledgement", as_of=org.as_of, k=5)
    table = result.departments.set_index("department")
    # Legal (3 people) and the smallest other department are folded together.
    assert set(table.index) == {"Sales", "IT", SUPPRESSED_LABEL}
    assert result.departments.attrs["hidden_departments"] == ("Finance", "Legal")
    sales, it = table.loc["Sales"], table.loc["IT"]
    assert sales["significant"] and sales["q_value"] < 0.05 and sales["direction"] == "rising"
    assert sales["ci_low"] < np.exp(0.9) < sales["ci_high"]
    assert not it["significant"] and it["direction"] == "no clear trend"
    assert it["ci_low"] < 1 < it["ci_high"]
    pooled = table.loc[SUPPRESSED_LABEL]
    assert np.isnan(pooled["q_value"]) and pooled["direction"] == "suppressed"
    # The hidden department cannot be recovered as organisation minus the departments shown.
    remainder = int(result.trend["n"].iloc[0]) - int(sales["n"]) - int(it["n"])
    assert remainder == int(pooled["n"]) == 6 * (150 + 3)
    assert remainder != 6 * 3 and int(pooled["people"]) >= 5
    # Suppression off: Legal is shown on its own.
    shown = campaign_trend(org.users, org.campaigns, "acknowledgement", as_of=org.as_of, k=None)
    assert "Legal" in set(shown.departments["department"])


def test_running_campaigns_are_marked_and_left_out_of_the_fit() -> None:
    launches = half_yearly(6)
    as_of = launches["c5"] + pd.Timedelta(days=10)

    def probability(cid: str, years: float, department: np.ndarray) -> np.ndarray:
        # The running campaign has barely started: few have acknowledged yet.
        rate = 0.05 if cid == "c5" else expit(-0.3 + 0.5 * years)
        return np.full(len(department), rate)

    org = acknowledgement_org(21, {"All": 500}, launches, probability, as_of=as_of)
    result = campaign_trend(org.users, org.campaigns, "acknowledgement", as_of=as_of, k=5)
    table = result.campaigns.set_index("campaign_id")
    assert table.loc["c5", "running"] and not table.loc["c5", "in_fit"]
    assert table.loc["c5", "days_since_launch"] == 10
    assert not table.loc[["c0", "c1", "c2", "c3", "c4"], "running"].any()
    trend = result.trend.iloc[0]
    assert trend["campaigns"] == 5 and trend["n"] == 2500
    assert trend["ci_low"] < np.exp(0.5) < trend["ci_high"]
    # Counting the running campaign as if it were finished would drag the trend down.
    naive = campaign_trend(
        org.users, org.campaigns, "acknowledgement", as_of=as_of, k=5, running_days=0
    ).trend.iloc[0]
    assert naive["campaigns"] == 6 and naive["odds_ratio_per_year"] < trend["ci_low"]


def test_targeted_campaigns_are_marked_and_compared_with_their_own_audience() -> None:
    heads = {"IT": 100, "Sales": 400}
    launches = half_yearly(6) | {
        "t-IT": T0 + pd.Timedelta(days=400),
        "t-tiny": T0 + pd.Timedelta(days=500),
    }
    launches = dict(sorted(launches.items(), key=lambda item: item[1]))
    department = np.repeat(["IT", "Sales"], [100, 400])
    rng = np.random.default_rng(0)
    audience = {
        "t-IT": department == "IT",
        "t-tiny": np.isin(np.arange(500), [0, 1, 2]),
        # Turnover: a campaign to 85% of people is still an all-staff campaign.
        "c3": rng.random(500) < 0.85,
    }

    def probability(cid: str, years: float, dept: np.ndarray) -> np.ndarray:
        return np.where(dept == "IT", 0.25, 0.8)  # IT acknowledges far less, in every campaign

    org = acknowledgement_org(3, heads, launches, probability, audience=audience, rho=0.4)
    result = campaign_trend(org.users, org.campaigns, "acknowledgement", as_of=org.as_of, k=5)
    table = result.campaigns.set_index("campaign_id")
    assert set(table.index[table["targeted"]]) == {"t-IT", "t-tiny"}
    assert table.loc["t-IT", "audience_share"] == pytest.approx(0.2)
    assert not table.loc["c3", "targeted"] and table.loc["c3", "in_fit"]
    assert not table.loc[["t-IT", "t-tiny"], "in_fit"].any()
    # The organisation trend counts only the all-staff campaigns.
    assert result.trend["n"].iloc[0] == table.loc[table["in_fit"], "n"].sum()
    # The tiny campaign is blanked (3 people).
    assert table.loc["t-tiny", "suppressed"] and pd.isna(table.loc["t-tiny", "audience"])
    assert np.isnan(table.loc["t-tiny", "rate"])

    compared = result.targeted.set_index("campaign_id")
    it_row = compared.loc["t-IT"]
    assert it_row["people"] == 100 and it_row["audience"] == 100
    # Its baseline is the same people's own rate in the all-staff campaigns, not the org's.
    users = org.users
    usual = (
        users[users["department"].eq("IT") & users["campaign_id"].astype(str).str.startswith("c")]
        .groupby("email")["acknowledged"]
        .mean()
    )
    assert it_row["rate_baseline"] == pytest.approx(usual.mean())
    assert it_row["ci_low"] < 0 < it_row["ci_high"]  # IT did as IT usually does
    org_rate = users[users["campaign_id"].astype(str).str.startswith("c")]["acknowledged"].mean()
    assert org_rate - it_row["rate_targeted"] > 0.3  # against everyone it would look awful
    assert compared.loc["t-tiny", "suppressed"] and pd.isna(compared.loc["t-tiny", "people"])


def test_accuracy_counts_answers_and_its_intervals_are_person_clustered() -> None:
    rng = np.random.default_rng(8)
    people, questions = 300, 5
    launches = half_yearly(4)
    ability = rng.beta(1.5, 1.5, size=people)  # people differ a lot
    rows: dict[str, list[Any]] = {"c": [], "e": [], "correct": [], "incorrect": []}
    for cid in launches:
        answered = rng.integers(3, questions + 1, size=people)
        correct = rng.binomial(answered, ability)
        rows["c"] += [cid] * people
        rows["e"] += [f"p{j}@corp.example" for j in range(people)]
        rows["correct"] += list(correct)
        rows["incorrect"] += list(answered - correct)
    total = len(rows["c"])
    users, campaigns = frames_from(
        rows["c"],
        rows["e"],
        ["All"] * total,
        np.ones(total, dtype=bool),
        rows["correct"],
        rows["incorrect"],
        questions,
        launches,
    )
    as_of = max(launches.values()) + pd.Timedelta(days=90)
    result = campaign_trend(users, campaigns, "accuracy", as_of=as_of, k=5)
    table = result.campaigns
    assert table.attrs["unit"] == UNIT_ANSWERS
    answered = np.asarray(rows["correct"]) + np.asarray(rows["incorrect"])
    assert int(table["n"].sum()) == int(answered.sum())
    assert (table["people"] == people).all()
    assert (table["design_effect"] > 1.5).all()
    naive_low, naive_high = proportion_confint(
        table["successes"].to_numpy(dtype=float),
        table["n"].to_numpy(dtype=float),
        method="wilson",
    )
    assert ((table["ci_high"] - table["ci_low"]) > 1.2 * (naive_high - naive_low)).all()
    trend = result.trend.iloc[0]
    assert trend["ci_low"] < 1 < trend["ci_high"]  # no trend planted
    assert trend["n"] == int(answered.sum())


# -- 2. repeat non-completers ---------------------------------------------------------------------


def awareness_campaign(cid: str, launch: pd.Timestamp) -> dict[str, Any]:
    return {
        "id": cid,
        "name": f"Module {cid}",
        "title": {
            "id": f"module-{cid}",
            "title": "Spot_the_phish",
            "correctAnswers": {"forQuestion1": 1, "forQuestion2": 1},
        },
        "launchDate": launch.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "numSent": 0,
    }


def awareness_user(email: str, answered: bool, department: str = "Sales") -> dict[str, Any]:
    result = "CORRECT" if answered else "SENT"
    return {
        "email": email,
        "name": email.split("@")[0],
        "department": department,
        "results": {"forQuestion1": result, "forQuestion2": result},
        "acknowledgement": answered,
        "userState": "ACTIVE",
    }


def test_reminder_window_rule() -> None:
    """Campaigns 100, 70, 40 and 10 days old: the 10-day-old one is not missed yet."""
    as_of = pd.Timestamp("2025-06-01T12:00:00", tz="UTC")
    ages = {"a100": 100, "a70": 70, "a40": 40, "a10": 10}
    answered = {  # who answered which campaign
        "never@corp.example": set(),
        "keen@corp.example": {"a100", "a70", "a40"},
        "lapsed@corp.example": {"a100", "a70"},
    }
    campaigns_raw = [
        awareness_campaign(cid, as_of - pd.Timedelta(days=d)) for cid, d in ages.items()
    ]
    items = {
        cid: [awareness_user(email, cid in done) for email, done in answered.items()]
        for cid in ages
    }
    frames = build_frames(campaigns_raw, items)
    users, campaigns = frames.users, frames.campaigns

    def history(**options: Any) -> pd.DataFrame:
        table = completion_history(users, campaigns, as_of=as_of, **options)
        return table.set_index("email")

    default = history()
    assert default.loc["never@corp.example", ["received", "missed", "pending"]].tolist() == [
        3,
        3,
        1,
    ]
    assert default.loc["never@corp.example", "current_run"] == 3
    assert default.loc["keen@corp.example", ["missed", "current_run"]].tolist() == [0, 0]
    assert default.loc["lapsed@corp.example", ["missed", "current_run"]].tolist() == [1, 1]
    assert default.attrs["pending_campaigns"] == ("a10",)

    longer = history(reminder_days=45)  # the 40-day-old campaign is now within the window
    assert longer.loc["never@corp.example", ["received", "pending", "current_run"]].tolist() == [
        2,
        2,
        2,
    ]
    assert longer.loc["lapsed@corp.example", "current_run"] == 0
    shorter = history(reminder_days=5)  # now even the 10-day-old campaign counts
    assert shorter.loc["never@corp.example", ["received", "current_run"]].tolist() == [4, 4]
    assert shorter.loc["keen@corp.example", "current_run"] == 1

    def named(**options: Any) -> set[str]:
        listed = repeat_non_completers(users, campaigns, as_of=as_of, last_n=1, **options)
        return set(listed["email"])

    assert named() == {"never@corp.example", "lapsed@corp.example"}
    assert named(reminder_days=5) == set(answered)  # a fresh campaign makes everyone look bad


def test_repeat_non_completers_finds_exactly_the_planted_people() -> None:
    rng = np.random.default_rng(17)
    people, count = 400, 10
    launches = {f"m{t}": T0 + pd.Timedelta(days=30 * t) for t in range(count)}
    as_of = launches["m9"] + pd.Timedelta(days=10)  # m9 is still in its reminder window
    never = set(range(12))
    lapsed = set(range(12, 20))  # answered until their last 4 eligible campaigns, then stopped
    emails = np.array([f"person{j:03d}@corp.example" for j in range(people)], dtype=object)
    rows: dict[str, list[Any]] = {"c": [], "e": [], "d": [], "answered": []}
    for t, cid in enumerate(launches):
        for j in range(people):
            if j in never:
                done = False
            elif j in lapsed:
                done = t < 5
            else:
                done = bool(rng.random() > 0.1)
            if cid == "m9":
                done = done and rng.random() < 0.2  # few have answered the fresh one yet
            email = emails[j].upper() if (j in never and t % 2) else emails[j]  # same person
            rows["c"].append(cid)
            rows["e"].append(email)
            rows["d"].append("IT" if j % 3 else "Sales")
            rows["answered"].append(done)
    done = np.asarray(rows["answered"])
    users, campaigns = frames_from(
        rows["c"], rows["e"], rows["d"], done, done * 2, np.zeros(len(done)), 2, launches
    )
    listed = repeat_non_completers(users, campaigns, as_of=as_of, last_n=4)
    planted = {emails[j] for j in never | lapsed}
    assert set(listed["email"].str.lower()) == planted
    runs = dict(zip(listed["email"].str.lower(), listed["run_length"], strict=True))
    assert all(runs[emails[j]] == 9 for j in never)  # nine eligible campaigns, all missed
    assert all(runs[emails[j]] == 4 for j in lapsed)
    assert listed["run_length"].is_monotonic_decreasing
    assert set(listed.columns) >= {"email", "name", "department", "run_length"}
    history = completion_history(users, campaigns, as_of=as_of)
    assert len(history) == people  # one row per person, whatever the spelling of the email
    assert (history["received"] == 9).all() and (history["pending"] == 1).all()
    assert history.attrs["unit"] == "people"


def markov_org(
    seed: int,
    heads: dict[str, int],
    stay: float,
    start: float,
    campaigns: int = 8,
    propensity: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, np.ndarray]:
    """Missing follows a chain: P(miss | missed the previous) = ``stay``, P(miss | answered
    it) = ``start``; or, with ``propensity``, each person misses independently with their own
    probability."""
    rng = np.random.default_rng(seed)
    department = np.repeat(np.array(list(heads), dtype=object), list(heads.values()))
    people = len(department)
    missed = np.zeros((people, campaigns), dtype=bool)
    for t in range(campaigns):
        if propensity is not None:
            chance = propensity
        elif t == 0:
            chance = np.full(people, 0.3)
        else:
            chance = np.where(missed[:, t - 1], stay, start)
        missed[:, t] = rng.random(people) < chance
    launches = {f"c{t}": T0 + pd.Timedelta(days=60 * t) for t in range(campaigns)}
    flat = missed.T.reshape(-1)
    users, frame = frames_from(
        np.repeat(list(launches), people),
        np.tile([f"p{j:04d}@corp.example" for j in range(people)], campaigns),
        np.tile(department, campaigns),
        ~flat,
        np.where(flat, 0, 2),
        np.zeros(len(flat)),
        2,
        launches,
    )
    return users, frame, max(launches.values()) + pd.Timedelta(days=40), missed


def test_missed_again_recovers_the_planted_transition_probabilities() -> None:
    """Planted P(miss | missed) = 0.55 and P(miss | answered) = 0.12, over 20 organisations:
    each 95% interval covers its planted value in about 19 of them, and the estimates
    centre on the planted values."""
    planted = {
        "after_miss": 0.55,
        "after_answer": 0.12,
        "difference": 0.43,
        "ratio": 0.55 / 0.12,
    }
    covered = dict.fromkeys(planted, 0)
    estimates: dict[str, list[float]] = {name: [] for name in planted}
    for seed in range(20):
        users, campaigns, as_of, _ = markov_org(400 + seed, {"All": 300}, stay=0.55, start=0.12)
        table = missed_again(users, campaigns, as_of=as_of, k=5)
        assert len(table) == 1 and table.attrs["unit"] == UNIT_TRANSITIONS
        row = table.iloc[0]
        assert row["department"] == ORGANISATION_LABEL and row["transitions"] == 300 * 7
        for name, value in planted.items():
            if name.startswith("after"):
                low, high, estimate = (
                    row[f"ci_low_{name}"],
                    row[f"ci_high_{name}"],
                    row[f"rate_{name}"],
                )
            else:
                low, high, estimate = row[f"{name}_ci_low"], row[f"{name}_ci_high"], row[name]
            covered[name] += low < value < high
            estimates[name].append(estimate)
        assert row["p_value"] < 1e-6
    assert all(count >= 17 for count in covered.values()), covered
    for name, value in planted.items():
        assert np.mean(estimates[name]) == pytest.approx(value, rel=0.05)


def test_person_clustered_intervals_are_wider_than_naive_ones() -> None:
    """People who differ persistently (each with their own chance of missing) make one
    person's transitions alike: the clustered intervals are wider than Wilson on raw counts."""
    rng = np.random.default_rng(9)
    propensity = rng.beta(0.6, 2.0, size=600)
    users, campaigns, as_of, _ = markov_org(
        9, {"All": 600}, 0, 0, campaigns=10, propensity=propensity
    )
    row = missed_again(users, campaigns, as_of=as_of, k=5).iloc[0]
    for arm in ("after_miss", "after_answer"):
        assert row[f"design_effect_{arm}"] > 1.2
        low, high = proportion_confint(row[f"missed_{arm}"], row[f"n_{arm}"], method="wilson")
        assert row[f"ci_high_{arm}"] - row[f"ci_low_{arm}"] > 1.1 * (high - low)
    # Missing again is far likelier after missing, though no one's chance depends on the last
    # campaign: persistent differences between people, not the campaign, make the gap.
    assert row["difference_ci_low"] > 0.1


def test_missed_again_by_department_hides_small_groups_and_small_arms() -> None:
    heads = {"Sales": 400, "IT": 390, "Ops": 20, "Legal": 3}
    users, campaigns, as_of, missed = markov_org(6, heads, stay=0.55, start=0.12)
    # In Ops only one person ever misses (once, mid-way): a rate "after missing" would be
    # about that one person.
    ops = np.flatnonzero(np.repeat(list(heads), list(heads.values())) == "Ops")
    missed[ops] = False
    missed[ops[0], 3] = True
    flat = missed.T.reshape(-1)
    users = users.assign(
        acknowledged=~flat,
        n_correct=np.where(flat, 0, 2).astype(np.int8),
        n_unanswered=np.where(flat, 2, 0).astype(np.int8),
        outcome=pd.Categorical(np.where(flat, "sent", "correct"), dtype=OUTCOME_DTYPE),
    )
    table = missed_again(users, campaigns, as_of=as_of, k=5, by_department=True)
    named = table.set_index("department")
    assert {"Ops", "Legal"} <= set(table.attrs["hidden_departments"])
    assert "Ops" not in named.index and "Legal" not in named.index
    assert SUPPRESSED_LABEL in named.index
    for _, row in table.iterrows():
        if not row["suppressed"]:
            assert row["people"] >= 5 and row["people_after_miss"] >= 5
            assert row["people_after_answer"] >= 5
    shown = named.drop(index=[ORGANISATION_LABEL, SUPPRESSED_LABEL])
    remainder = int(named.loc[ORGANISATION_LABEL, "transitions"]) - int(shown["transitions"].sum())
    assert remainder == int(named.loc[SUPPRESSED_LABEL, "transitions"])
    assert remainder not in (20 * 7, 3 * 7)  # neither Ops nor Legal on its own

    unsuppressed = missed_again(users, campaigns, as_of=as_of, k=None, by_department=True)
    ops_row = unsuppressed.set_index("department").loc["Ops"]
    assert ops_row["people_after_miss"] == 1  # what suppression protected
    assert not unsuppressed["suppressed"].any()


# -- 3. movement ----------------------------------------------------------------------------------


def movement_org(seed: int, heads: dict[str, int]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Earlier campaign: 90% answer, of whom 60% get all correct. Later campaign: all correct
    with 0.8 after passing, 0.4 after failing. 30 leavers are only in the earlier campaign and
    50 joiners only in the later one."""
    rng = np.random.default_rng(seed)
    department = np.repeat(np.array(list(heads), dtype=object), list(heads.values()))
    people = len(department)
    answered_1 = rng.random(people) < 0.9
    passed_1 = answered_1 & (rng.random(people) < 0.6)
    answered_2 = rng.random(people) < 0.9
    passed_2 = answered_2 & (rng.random(people) < np.where(passed_1, 0.8, 0.4))
    emails = np.array([f"p{j:04d}@corp.example" for j in range(people)], dtype=object)
    leavers = [f"leaver{j}@corp.example" for j in range(30)]
    joiners = [f"joiner{j}@corp.example" for j in range(50)]
    campaign = ["early"] * (people + 30) + ["late"] * (people + 50)
    email = [*emails, *leavers, *emails, *joiners]
    dept = [*department, *["Sales"] * 30, *department, *["Sales"] * 50]
    answered = np.r_[answered_1, np.ones(30, bool), answered_2, np.ones(50, bool)]
    passed = np.r_[passed_1, np.ones(30, bool), passed_2, np.ones(50, bool)]
    correct = np.where(passed, 2, np.where(answered, 1, 0))
    incorrect = np.where(answered & ~passed, 1, 0)
    launches = {"early": T0, "late": T0 + pd.Timedelta(days=90)}
    users, _ = frames_from(campaign, email, dept, answered, correct, incorrect, 2, launches)
    truth = {
        "both_answered": int((answered_1 & answered_2).sum()),
        "department": department,
        "passed_1": passed_1,
        "passed_2": passed_2,
        "answered": answered_1 & answered_2,
    }
    return users, truth


def test_movement_recovers_planted_rates_and_the_paired_change() -> None:
    users, truth = movement_org(2, {"Sales": 600, "IT": 500})
    table = movement(users, "early", "late", metric="all_correct", k=5)
    org = table.set_index("department").loc[ORGANISATION_LABEL]
    assert org["people"] == truth["both_answered"]  # only people in both who answered both
    assert org["ci_low_after_fail"] < 0.4 < org["ci_high_after_fail"]
    assert org["ci_low_after_pass"] < 0.8 < org["ci_high_after_pass"]
    assert org["gap_ci_low"] < 0.4 < org["gap_ci_high"]
    # Among people who answered both: earlier pass 0.6, later 0.6 * 0.8 + 0.4 * 0.4 = 0.64.
    assert org["change_ci_low"] < 0.04 < org["change_ci_high"]
    both = truth["answered"]
    first, second = truth["passed_1"][both], truth["passed_2"][both]
    assert org["improved"] == int((~first & second).sum())
    assert org["slipped"] == int((first & ~second).sum())
    assert org["earlier_rate"] == pytest.approx(first.mean())
    assert 0 <= org["mcnemar_p"] <= 1
    assert table.attrs["unit"] == "people"

    completion = movement(users, "early", "late", metric="completion", k=5)
    everyone = completion.set_index("department").loc[ORGANISATION_LABEL]
    assert everyone["people"] == len(truth["department"])  # everyone in both campaigns


def test_movement_by_department_hides_small_groups_and_small_arms() -> None:
    heads = {"Sales": 500, "IT": 400, "Audit": 60, "Legal": 3}
    users, truth = movement_org(12, heads)
    # In Audit only two people fail the earlier campaign.
    audit = np.flatnonzero(truth["department"] == "Audit")
    early_audit = (users["campaign_id"] == "early").to_numpy() & users["email"].isin(
        [f"p{j:04d}@corp.example" for j in audit]
    ).to_numpy()
    fail = np.zeros(len(users), dtype=bool)
    fail[np.flatnonzero(early_audit)[:2]] = True
    users = users.assign(
        n_correct=np.where(early_audit, np.where(fail, 1, 2), users["n_correct"]).astype(np.int8),
        n_incorrect=np.where(early_audit, np.where(fail, 1, 0), users["n_incorrect"]).astype(
            np.int8
        ),
        outcome=pd.Categorical(
            np.where(early_audit, np.where(fail, "incorrect", "correct"), users["outcome"]),
            dtype=OUTCOME_DTYPE,
        ),
        acknowledged=np.where(early_audit, True, users["acknowledged"]),
    )
    table = movement(users, "early", "late", metric="all_correct", k=5)
    named = table.set_index("department")
    assert {"Audit", "Legal"} <= set(table.attrs["hidden_departments"])
    assert "Audit" not in named.index and "Legal" not in named.index
    pooled = named.loc[SUPPRESSED_LABEL]
    shown = named.drop(index=[ORGANISATION_LABEL, SUPPRESSED_LABEL])
    for column in ("people", "failed_earlier"):
        remainder = int(named.loc[ORGANISATION_LABEL, column]) - int(shown[column].sum())
        assert remainder == int(pooled[column]) and remainder >= 5
    assert int(pooled["failed_earlier"]) != 2  # not Audit's two people
    open_table = movement(users, "early", "late", metric="all_correct", k=0)
    assert open_table.set_index("department").loc["Audit", "failed_earlier"] == 2


# -- purity and arguments -------------------------------------------------------------------------


def test_inputs_are_left_unchanged_and_bad_arguments_refused() -> None:
    users, campaigns, as_of, _ = markov_org(1, {"Sales": 40, "IT": 30, "Legal": 2}, 0.5, 0.1)
    before_users, before_campaigns = users.copy(deep=True), campaigns.copy(deep=True)
    campaign_trend(users, campaigns, "completion", as_of=as_of, k=5)
    campaign_trend(users, campaigns, "accuracy", as_of=as_of, k=5)
    completion_history(users, campaigns, as_of=as_of)
    missed_again(users, campaigns, as_of=as_of, k=5, by_department=True)
    repeat_non_completers(users, campaigns, as_of=as_of, last_n=2)
    movement(users, "c0", "c1", metric="completion", k=5)
    pd.testing.assert_frame_equal(users, before_users)
    pd.testing.assert_frame_equal(campaigns, before_campaigns)
    with pytest.raises(ValueError, match="metric"):
        campaign_trend(users, campaigns, "clicks", as_of=as_of)
    with pytest.raises(ValueError, match="last_n"):
        repeat_non_completers(users, campaigns, as_of=as_of, last_n=0)
    with pytest.raises(ValueError, match="reminder_days"):
        completion_history(users, campaigns, as_of=as_of, reminder_days=-1)
    with pytest.raises(ValueError, match="different"):
        movement(users, "c0", "c0")
    with pytest.raises(ValueError, match="nobody"):
        movement(users, "c0", "nope")
