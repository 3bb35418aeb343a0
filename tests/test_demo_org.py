"""Tests of the synthetic demo organisation and the generic synthetic generator."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from awareness_analysis.data.frames import build_frames
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.demo_org import (
    ALIAS_DOMAIN,
    ATTRIBUTE_IDS,
    DEMO_AS_OF,
    DEMO_DEPARTMENTS,
    DEMO_SEED,
    EXTERNAL_DOMAINS,
    PRIMARY_DOMAIN,
    build_demo_dataset,
    campaign_counters,
    synthetic_dataset,
)
from tests.recorded import load_recorded

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
RESULTS = {"SENT", "CORRECT", "INCORRECT"}
STATES = {"ACTIVE", "SUSPENDED", "DELETED"}
ID_PATTERN = re.compile(r"eN[A-Za-z0-9_-]{40,}")


@pytest.fixture(scope="module")
def demo() -> FakeDataset:
    return build_demo_dataset()


def dump(dataset: FakeDataset) -> str:
    return json.dumps(
        {"campaigns": dataset.campaigns, "users": dataset.users, "attributes": dataset.attributes}
    )


def n_questions(campaign: Mapping[str, Any]) -> int:
    return len(campaign["title"]["correctAnswers"])


def recount(items: Sequence[Mapping[str, Any]], questions: int) -> dict[str, Any]:
    """Counters recomputed here independently of ``campaign_counters``."""
    keys = [f"forQuestion{q + 1}" for q in range(questions)]
    answered = [i for i in items if set(i["results"].values()) != {"SENT"}]
    all_right = [i for i in answered if "INCORRECT" not in i["results"].values()]
    return {
        "numSent": len(items),
        "numCompleted": len(answered),
        "percentComplete": round(100 * len(answered) / len(items)) if items else 0,
        "percentCorrect": round(100 * len(all_right) / len(answered)) if answered else 0,
        "numCorrectAnswers": {
            k: sum(1 for i in items if i["results"][k] == "CORRECT") for k in keys
        },
    }


def domain(email: str) -> str:
    return email.rsplit("@", 1)[1]


def all_items(dataset: FakeDataset) -> list[dict[str, Any]]:
    return [item for items in dataset.users.values() for item in items]


def launch(campaign: Mapping[str, Any]) -> datetime:
    return datetime.strptime(campaign["launchDate"], DATE_FORMAT)


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_json_and_other_seed_differs(demo: FakeDataset) -> None:
    assert dump(build_demo_dataset(DEMO_SEED, DEMO_AS_OF)) == dump(demo)
    other = build_demo_dataset(DEMO_SEED + 1)
    assert dump(other) != dump(demo)
    assert set(other.campaign_ids()).isdisjoint(demo.campaign_ids())
    emails = {i["email"] for i in all_items(demo)}
    assert {i["email"] for i in all_items(other)} != emails


def test_as_of_only_moves_the_dates(demo: FakeDataset) -> None:
    earlier = build_demo_dataset(as_of=date(2025, 3, 1))
    assert earlier.users == demo.users
    shift = DEMO_AS_OF - date(2025, 3, 1)
    for a, b in zip(earlier.campaigns, demo.campaigns, strict=True):
        assert launch(b) - launch(a) == shift
        assert a["numCorrectAnswers"] == b["numCorrectAnswers"]


# -- size and structure -----------------------------------------------------------------------


def test_demo_has_over_2000_users_in_departments_of_3_to_600(demo: FakeDataset) -> None:
    items = all_items(demo)
    assert len({i["email"] for i in items}) >= 2000
    primary: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if domain(item["email"]) == PRIMARY_DOMAIN:
            primary[item["department"]].add(item["email"])
    sizes = {dept: len(emails) for dept, emails in primary.items()}
    assert sum(sizes.values()) >= 2000
    named = {dept: n for dept, n in sizes.items() if dept}
    assert min(named.values()) == 3
    assert max(named.values()) == 600
    assert all(3 <= n <= 600 for n in named.values())
    assert sum(1 for n in named.values() if n <= 6) >= 3  # something for suppression to hide
    assert sum(1 for n in named.values() if 50 <= n <= 400) >= 5
    assert sizes[""] > 0
    assert sizes == dict(DEMO_DEPARTMENTS)  # the module docstring's table is the truth


def test_campaigns_launch_within_the_year_before_as_of(demo: FakeDataset) -> None:
    as_of = datetime.combine(DEMO_AS_OF, datetime.min.time(), tzinfo=UTC)
    launches = [launch(c) for c in demo.campaigns]
    assert len(demo.campaigns) >= 6
    assert all(as_of - timedelta(days=365) < d < as_of for d in launches)
    assert launches == sorted(launches)
    assert (max(launches) - min(launches)).days > 300  # spread over the year, not bunched
    for campaign in demo.campaigns:
        assert datetime.strptime(campaign["createDate"], DATE_FORMAT) < launch(campaign)


def test_question_counts_with_exactly_one_four_question_module(demo: FakeDataset) -> None:
    counts = [n_questions(c) for c in demo.campaigns]
    assert all(1 <= n <= 4 for n in counts)
    assert counts.count(4) == 1
    assert {1, 2, 3} <= set(counts)
    for campaign in demo.campaigns:
        keys = set(campaign["title"]["correctAnswers"])
        assert set(campaign["numCorrectAnswers"]) == keys
        assert all(1 <= v <= 4 for v in campaign["title"]["correctAnswers"].values())
        assert all(set(i["results"]) == keys for i in demo.users[campaign["id"]])


def test_shapes_match_the_recorded_traffic(demo: FakeDataset) -> None:
    real_campaigns, real_items = load_recorded()
    real_campaign, real_item = real_campaigns[0], next(iter(real_items.values()))[0]
    nested = ("title", "group", "emailMsg")
    for campaign in demo.campaigns:
        assert list(campaign) == list(real_campaign)
        for key in nested:
            assert list(campaign[key]) == list(real_campaign[key])
        assert list(campaign["title"]["defaultGifs"]) == list(real_campaign["title"]["defaultGifs"])
        assert ID_PATTERN.fullmatch(campaign["id"])
        assert ID_PATTERN.fullmatch(campaign["title"]["id"])
        assert ID_PATTERN.fullmatch(campaign["group"]["id"])
        assert isinstance(campaign["locked"], bool)
        assert isinstance(campaign["emailCustomized"], bool)
        assert "[platformlink]" in campaign["emailMsg"]["body"]
        assert campaign["allOtherCampaigns"] == {} or set(campaign["allOtherCampaigns"]) == {
            "numCampaigns",
            "numSent",
            "numComplete",
            "numCorrectAnswers",
        }
        for item in demo.users[campaign["id"]]:
            assert list(item) == list(real_item)
            assert set(item["results"].values()) <= RESULTS
            assert isinstance(item["acknowledgement"], bool)
            assert item["userState"] in STATES
            assert isinstance(item["name"], str)
            assert isinstance(item["department"], str)
    assert len(set(demo.campaign_ids())) == len(demo.campaigns)
    assert set(demo.users) == set(demo.campaign_ids())


def test_each_campaign_lists_each_address_once_sorted(demo: FakeDataset) -> None:
    for items in demo.users.values():
        emails = [i["email"] for i in items]
        assert emails == sorted(set(emails))


def test_frames_parse_the_demo(demo: FakeDataset) -> None:
    frames = build_frames(demo.campaigns, demo.users)
    assert len(frames.campaigns) == len(demo.campaigns)
    assert len(frames.users) == demo.user_count()


# -- counters ---------------------------------------------------------------------------------


COUNTER_KEYS = ("numSent", "numCompleted", "percentComplete", "percentCorrect", "numCorrectAnswers")


def test_counters_agree_with_items(demo: FakeDataset) -> None:
    for campaign in demo.campaigns:
        items = demo.users[campaign["id"]]
        stated = {k: campaign[k] for k in COUNTER_KEYS}
        assert stated == campaign_counters(items, n_questions(campaign))
        assert stated == recount(items, n_questions(campaign))
        assert 0 < campaign["numCompleted"] < campaign["numSent"]


def test_campaign_counters_reproduce_the_recorded_counters() -> None:
    campaigns, items = load_recorded()
    assert items
    for campaign in campaigns:
        if campaign["id"] in items:
            got = campaign_counters(items[campaign["id"]], n_questions(campaign))
            assert got == {k: campaign[k] for k in COUNTER_KEYS}


def test_campaign_counters_edge_cases() -> None:
    def item(*results: str) -> dict[str, Any]:
        return {"results": {f"forQuestion{n + 1}": r for n, r in enumerate(results)}}

    assert campaign_counters([], 2) == {
        "numSent": 0,
        "numCompleted": 0,
        "percentComplete": 0,
        "percentCorrect": 0,
        "numCorrectAnswers": {"forQuestion1": 0, "forQuestion2": 0},
    }
    # A partial answer completes; one INCORRECT spoils "all correct".
    got = campaign_counters(
        [item("CORRECT", "SENT"), item("CORRECT", "INCORRECT"), item("SENT", "SENT")], 2
    )
    assert got["numCompleted"] == 2
    assert got["percentComplete"] == 67
    assert got["percentCorrect"] == 50
    assert got["numCorrectAnswers"] == {"forQuestion1": 2, "forQuestion2": 0}


# -- quirks and effects -----------------------------------------------------------------------


def test_quirks_of_real_data_are_present(demo: FakeDataset) -> None:
    items = all_items(demo)
    assert all(domain(i["email"]).endswith(".example") for i in items)
    assert any(i["department"] == "" and domain(i["email"]) == PRIMARY_DOMAIN for i in items)
    assert any(i["name"] == "" for i in items)
    external = {i["email"] for i in items if domain(i["email"]) in EXTERNAL_DOMAINS}
    assert len(external) >= 10
    assert {domain(i["email"]) for i in items} <= {PRIMARY_DOMAIN, ALIAS_DOMAIN, *EXTERNAL_DOMAINS}
    states = Counter(i["userState"] for i in items)
    assert states["SUSPENDED"] > 0
    assert states["DELETED"] > 0
    assert states["ACTIVE"] > 0.95 * len(items)
    answered = [set(i["results"].values()) != {"SENT"} for i in items]
    assert any(i["acknowledgement"] and not a for i, a in zip(items, answered, strict=True))
    assert any(not i["acknowledgement"] and a for i, a in zip(items, answered, strict=True))


def test_alias_pairs_share_name_in_the_same_campaign(demo: FakeDataset) -> None:
    pairs = set()
    for items in demo.users.values():
        by_email = {i["email"]: i for i in items}
        for email, item in by_email.items():
            if domain(email) == ALIAS_DOMAIN:
                primary = by_email.get(email.split("@")[0] + "@" + PRIMARY_DOMAIN)
                if primary is not None:
                    assert primary["name"] == item["name"] != ""
                    pairs.add(email)
    assert len(pairs) >= 5


def test_enrolment_varies_between_campaigns(demo: FakeDataset) -> None:
    members = [{i["email"] for i in demo.users[c["id"]]} for c in demo.campaigns]
    assert len({frozenset(m) for m in members}) == len(members)
    sizes = [len(m) for m in members]
    targeted = min(range(len(sizes)), key=sizes.__getitem__)
    assert sizes[targeted] < 0.2 * max(sizes)
    targeted_items = demo.users[demo.campaigns[targeted]["id"]]
    # Alias addresses carry no department; every primary member is in a targeted department.
    assert {i["department"] for i in targeted_items if domain(i["email"]) == PRIMARY_DOMAIN} == {
        "Finance",
        "Procurement",
        "Legal",
        "Executive Office",
        "Internal Audit",
        "Board Secretariat",
    }
    # The newest campaign is mostly unanswered, the oldest mostly answered.
    assert demo.campaigns[-1]["percentComplete"] < 50
    assert demo.campaigns[0]["percentComplete"] > 75


def test_department_effects_are_visible(demo: FakeDataset) -> None:
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for item in all_items(demo):
        if domain(item["email"]) != PRIMARY_DOMAIN:
            continue
        t = tally[item["department"]]
        t.update(item["results"].values())
        if set(item["results"].values()) != {"SENT"}:
            t["answered"] += 1
            t["acked"] += item["acknowledgement"]
    large = {d: t for d, t in tally.items() if d and DEMO_DEPARTMENTS[d] >= 50}
    accuracy = {d: t["CORRECT"] / (t["CORRECT"] + t["INCORRECT"]) for d, t in large.items()}
    ack = {d: t["acked"] / t["answered"] for d, t in large.items()}
    worst, best = min(accuracy, key=accuracy.get), max(accuracy, key=accuracy.get)
    assert accuracy[best] - accuracy[worst] > 0.25
    assert ack[best] - ack[worst] > 0.3
    others = [a for d, a in accuracy.items() if d not in {worst, best}]
    assert accuracy[worst] + 0.1 < min(others)  # one department clearly worse, not just noise


def test_one_question_is_much_harder(demo: FakeDataset) -> None:
    four = next(c for c in demo.campaigns if n_questions(c) == 4)
    correct = four["numCorrectAnswers"]
    assert min(correct.values()) < 0.5 * max(correct.values())


def test_attributes_cover_internal_addresses(demo: FakeDataset) -> None:
    emails = {i["email"] for i in all_items(demo)}
    internal = {e for e in emails if domain(e) in {PRIMARY_DOMAIN, ALIAS_DOMAIN}}
    assert internal <= set(demo.attributes)
    assert not any(domain(e) in EXTERNAL_DOMAINS for e in demo.attributes)
    values: dict[str, set[str]] = defaultdict(set)
    for attrs in demo.attributes.values():
        assert set(attrs) == set(ATTRIBUTE_IDS)
        for key, value in attrs.items():
            values[key].add(value)
    assert values["attr-employment"] == {"Employee", "Contractor"}
    assert len(values["attr-location"]) >= 3


# -- synthetic_dataset ------------------------------------------------------------------------


def test_synthetic_sizes_are_exact() -> None:
    data = synthetic_dataset(n_users=137, n_campaigns=5, seed=3, questions=[2, 4])
    assert len(data.campaigns) == 5
    assert all(len(items) == 137 for items in data.users.values())
    assert [n_questions(c) for c in data.campaigns] == [2, 4, 2, 4, 2]
    emails = [{i["email"] for i in items} for items in data.users.values()]
    assert all(len(e) == 137 for e in emails)
    assert all(e == emails[0] for e in emails)
    for campaign in data.campaigns:
        items = data.users[campaign["id"]]
        assert {k: campaign[k] for k in COUNTER_KEYS} == recount(items, n_questions(campaign))
        assert all(set(i["results"]) == set(campaign["numCorrectAnswers"]) for i in items)


def test_synthetic_is_deterministic_and_dated_within_the_year() -> None:
    as_of = date(2030, 6, 1)
    first = synthetic_dataset(n_users=50, n_campaigns=12, seed=9, as_of=as_of)
    assert dump(first) == dump(synthetic_dataset(n_users=50, n_campaigns=12, seed=9, as_of=as_of))
    assert dump(first) != dump(synthetic_dataset(n_users=50, n_campaigns=12, seed=10, as_of=as_of))
    end = datetime.combine(as_of, datetime.min.time(), tzinfo=UTC)
    launches = [launch(c) for c in first.campaigns]
    assert all(end - timedelta(days=365) < d < end for d in launches)
    assert len(set(launches)) == len(launches)
    assert [n_questions(c) for c in first.campaigns[:5]] == [1, 2, 3, 4, 1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_users": -1, "n_campaigns": 1},
        {"n_users": 1, "n_campaigns": 1, "questions": [5]},
        {"n_users": 1, "n_campaigns": 1, "questions": []},
    ],
)
def test_synthetic_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        synthetic_dataset(**kwargs)


def test_synthetic_is_fast_at_scale() -> None:
    start = time.perf_counter()
    data = synthetic_dataset(n_users=5000, n_campaigns=20)
    elapsed = time.perf_counter() - start
    assert data.user_count() == 100_000
    assert elapsed < 5.0, f"20 x 5,000 took {elapsed:.1f} s"
