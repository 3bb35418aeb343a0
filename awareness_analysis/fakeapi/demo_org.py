"""A deterministic synthetic organisation for the local fake Mimecast API.

``build_demo_dataset()`` builds *Northwind Demo Logistics*, an invented company (all domains use
the reserved ``.example`` TLD), in the recorded API 1.0 shapes. The same ``seed`` and ``as_of``
give a byte-for-byte identical dataset; ``as_of`` only moves the dates (campaigns launch a fixed
number of days before it), the seed changes names, enrolment and answers.

Primary users at ``northwind-demo.example`` (2,353), by department:
Operations 600, Sales 400, Customer Service 320, Engineering 300, Finance 150, Marketing 140,
IT 110, Human Resources 90, Procurement 60, Facilities 45, Legal 40, Executive Office 6,
Internal Audit 5, Data Protection 4, Board Secretariat 3, and 80 with department ``""`` (76
people not yet in the directory and 4 shared mailboxes). Department effects: Customer Service
answers clearly worse and acknowledges less; IT clearly better; Sales somewhat worse.

Campaigns (launch dates for ``DEMO_AS_OF`` = 2026-11-01; knowledge questions in brackets):
Phishing Basics 2025-11-19 [2, locked], Password Hygiene 2026-01-13 [1], Invoice Fraud
2026-02-25 [3, only Finance, Procurement, Legal, Executive Office, Internal Audit and Board
Secretariat; customised email], Safe Remote Working 2026-04-15 [4, question 3 much harder],
Social Engineering 2026-06-10 [2], Clean Desk 2026-08-05 [1], Spot the Spoof 2026-10-20 [3,
launched 12 days earlier so mostly still ``SENT``]. Older campaigns are mostly answered.

Quirks, as in real data: empty departments; empty names (shared mailboxes, most external
addresses); 14 people with a second address at the alias domain ``northwind-mail.example`` (same
local part and name, department ``""``, mostly unanswered), enrolled alongside the person in about
half the campaigns; 36 external addresses at personal-mail ``.example`` domains; about 1%
``SUSPENDED`` and about 1% ``DELETED`` users (who left during the year, so they appear only in
campaigns launched before they left); people who joined during the year appear only in later
campaigns; acknowledgement true for some users still ``SENT`` and false for many who answered; a
few users answered only some questions of a multi-question module.
``allOtherCampaigns`` is ``{}`` except on the two newest campaigns, which carry the object form
(totals over the campaigns launched before them).

``attributes`` gives each internal address ``attr-location`` (office city) and
``attr-employment`` (``Employee`` or ``Contractor``). ``synthetic_dataset()`` is a plain generator
of any size for scale tests and benchmarks (every user in every campaign).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np

from awareness_analysis.fakeapi.dataset import ApiDict, FakeDataset

__all__ = [
    "ALIAS_DOMAIN",
    "ATTRIBUTE_IDS",
    "DEMO_AS_OF",
    "DEMO_DEPARTMENTS",
    "DEMO_SEED",
    "EXTERNAL_DOMAINS",
    "PRIMARY_DOMAIN",
    "SYNTHETIC_DOMAIN",
    "build_demo_dataset",
    "campaign_counters",
    "synthetic_dataset",
]

DEMO_SEED = 20261101
DEMO_AS_OF = date(2026, 11, 1)

PRIMARY_DOMAIN = "northwind-demo.example"
ALIAS_DOMAIN = "northwind-mail.example"
EXTERNAL_DOMAINS = ("mailbox-personal.example", "freemail-demo.example", "homepost.example")
SYNTHETIC_DOMAIN = "synthetic-org.example"
LOCATION_ATTRIBUTE = "attr-location"
EMPLOYMENT_ATTRIBUTE = "attr-employment"
ATTRIBUTE_IDS = (LOCATION_ATTRIBUTE, EMPLOYMENT_ATTRIBUTE)

DATE_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"
RESULT_LABELS = ("SENT", "CORRECT", "INCORRECT")
MAX_QUESTIONS = 4


@dataclass(frozen=True)
class _Department:
    name: str
    size: int
    skill: float  # shift of the log-odds of a correct answer
    diligence: float  # multiplier of the chance to answer at all
    ack_rate: float  # chance to acknowledge once answered


_DEPARTMENT_TABLE = (
    _Department("Operations", 600, -0.2, 0.85, 0.70),
    _Department("Sales", 400, -0.5, 0.90, 0.65),
    _Department("Customer Service", 320, -1.4, 0.80, 0.35),
    _Department("Engineering", 300, 0.5, 0.95, 0.80),
    _Department("Finance", 150, 0.3, 1.00, 0.85),
    _Department("Marketing", 140, 0.0, 0.90, 0.75),
    _Department("IT", 110, 1.5, 1.00, 0.95),
    _Department("Human Resources", 90, 0.2, 1.00, 0.85),
    _Department("Procurement", 60, 0.0, 0.95, 0.80),
    _Department("Facilities", 45, -0.3, 0.85, 0.70),
    _Department("Legal", 40, 0.4, 1.00, 0.90),
    _Department("Executive Office", 6, 0.0, 0.75, 0.60),
    _Department("Internal Audit", 5, 0.8, 1.00, 0.90),
    _Department("Data Protection", 4, 1.0, 1.00, 1.00),
    _Department("Board Secretariat", 3, 0.0, 0.90, 0.80),
    _Department("", 80, -0.3, 0.75, 0.60),
)
#: Department -> number of primary users in the demo organisation ("" = no department).
DEMO_DEPARTMENTS: Mapping[str, int] = {d.name: d.size for d in _DEPARTMENT_TABLE}

_SHARED_MAILBOXES = ("reception", "accounts.payable", "warehouse.desk", "it.helpdesk")
_N_ALIASES = 14
_N_EXTERNALS = 36
# Departments too small to lose members to turnover (suppression tests rely on their sizes).
_STABLE_MIN_SIZE = 10

_FIRST_NAMES = (
    "Aisha", "Alex", "Amelia", "Arjun", "Beatriz", "Ben", "Carla", "Chen", "Chloe", "Daniel",
    "Dmitri", "Elena", "Ella", "Emeka", "Farah", "Finn", "Grace", "Hannah", "Hugo", "Imran",
    "Isla", "Jack", "Jonas", "Kai", "Keiko", "Laila", "Leo", "Lucia", "Maya", "Mateo", "Nadia",
    "Noah", "Olga", "Omar", "Priya", "Quinn", "Rafael", "Rosa", "Ruth", "Sam", "Sofia", "Tariq",
    "Theo", "Uma", "Victor", "Wen", "Yara", "Yusuf", "Zoe", "Zain",
)  # fmt: skip
_LAST_NAMES = (
    "Abbott", "Adeyemi", "Bauer", "Becker", "Brennan", "Carvalho", "Chowdhury", "Costa", "Dalton",
    "Dubois", "Eriksen", "Fischer", "Fontaine", "Garcia", "Hale", "Haddad", "Ivanova", "Jansen",
    "Kowalski", "Lindqvist", "Lopez", "MacLeod", "Moreau", "Nakamura", "Novak", "O'Brien",
    "Okafor", "Patel", "Quigley", "Rahman", "Rossi", "Santos", "Schmidt", "Silva", "Smith-Jones",
    "Tanaka", "Thornton", "Uddin", "Varga", "Walsh", "Weber", "Whitfield", "Xu", "Yilmaz",
    "Young", "Zhang", "Ziegler", "Murphy", "Kaur", "Nguyen",
)  # fmt: skip


@dataclass(frozen=True)
class _Module:
    title: str  # as the API spells it, underscores for spaces
    blurb: str
    ease: tuple[float, ...]  # log-odds of a correct answer per question, before user skill


@dataclass(frozen=True)
class _CampaignPlan:
    name: str
    module: _Module
    days_before: int  # launch date = as_of - days_before
    launch_at: time
    completion: float  # chance to answer for a fully diligent user
    departments: frozenset[str] | None = None  # None: everyone
    group: str = "All Staff"
    locked: bool = False
    email_customized: bool = False
    summary_of_others: bool = False  # allOtherCampaigns in the object form


_DEMO_PLANS = (
    _CampaignPlan(
        "Phishing Basics - All Staff",
        _Module("Phishing_Basics", "learn the tell-tale signs of a phishing email", (1.6, 0.9)),
        347,
        time(9, 30),
        0.98,
        locked=True,
    ),
    _CampaignPlan(
        "Password Hygiene",
        _Module("Password_Hygiene", "find out why one password per account matters", (1.2,)),
        292,
        time(8, 0),
        0.93,
    ),
    _CampaignPlan(
        "Invoice Fraud - Finance and Leadership",
        _Module("Invoice_Fraud", "see how a fake supplier invoice slips through", (1.0, 1.8, 0.4)),
        249,
        time(14, 15),
        0.92,
        departments=frozenset(
            {
                "Finance",
                "Procurement",
                "Legal",
                "Executive Office",
                "Internal Audit",
                "Board Secretariat",
            }
        ),
        group="Finance and Leadership",
        email_customized=True,
    ),
    _CampaignPlan(
        "Safe Remote Working",
        _Module(
            "Working_Remotely",
            "see what can go wrong on a train, in a cafe and at home",
            (1.8, 1.1, -1.1, 1.4),
        ),
        200,
        time(10, 0),
        0.90,
    ),
    _CampaignPlan(
        "Social Engineering Awareness",
        _Module("Tailgating", "see why a friendly stranger at the door is a risk", (1.5, 0.6)),
        144,
        time(11, 45),
        0.86,
    ),
    _CampaignPlan(
        "Clean Desk Policy",
        _Module("Clean_Desk", "see what a visitor can read on an untidy desk", (2.0,)),
        88,
        time(9, 0),
        0.80,
        summary_of_others=True,
    ),
    _CampaignPlan(
        "Spot the Spoof - October",
        _Module("Spot_the_Spoof", "practise spotting a look-alike sender", (0.9, 1.3, 0.2)),
        12,
        time(7, 30),
        0.34,
        summary_of_others=True,
    ),
)

_SYNTHETIC_MODULES = (
    "Phishing_Basics",
    "Password_Hygiene",
    "Invoice_Fraud",
    "Working_Remotely",
    "Tailgating",
    "Clean_Desk",
    "Spot_the_Spoof",
    "Data_Classification",
    "Mobile_Devices",
    "Social_Media",
)
_SYNTHETIC_DEPARTMENTS = (
    "Operations",
    "Sales",
    "Support",
    "Engineering",
    "Finance",
    "Marketing",
    "IT",
    "People",
    "Legal",
    "",
)


@dataclass
class _People:
    """Column-wise addresses: what items show plus the hidden traits that drive answers."""

    email: list[str]
    name: list[str]
    department: list[str]
    state: list[str]
    skill: np.ndarray  # log-odds shift of a correct answer
    diligence: np.ndarray  # multiplier of the chance to answer
    ack_rate: np.ndarray  # chance to acknowledge once answered


# -- public helpers ---------------------------------------------------------------------------


def campaign_counters(items: Sequence[Mapping[str, Any]], n_questions: int) -> dict[str, Any]:
    """The counter fields of a ``get-campaigns`` campaign, computed from its user items.

    ``numCompleted`` counts users with any answer; ``percentCorrect`` is the share of those whose
    given answers are all ``CORRECT`` (0 when nobody answered). Percentages use ``round``.
    """
    keys = _question_keys(n_questions)
    completed = 0
    all_correct = 0
    per_question = dict.fromkeys(keys, 0)
    for item in items:
        results = item.get("results") or {}
        answers = [str(results.get(key, "SENT")).upper() for key in keys]
        if any(answer != "SENT" for answer in answers):
            completed += 1
            if "INCORRECT" not in answers:
                all_correct += 1
        for key, answer in zip(keys, answers, strict=True):
            if answer == "CORRECT":
                per_question[key] += 1
    sent = len(items)
    return {
        "numSent": sent,
        "numCompleted": completed,
        "percentComplete": round(100 * completed / sent) if sent else 0,
        "percentCorrect": round(100 * all_correct / completed) if completed else 0,
        "numCorrectAnswers": per_question,
    }


def build_demo_dataset(seed: int = DEMO_SEED, as_of: date = DEMO_AS_OF) -> FakeDataset:
    """The demo organisation described in the module docstring."""
    rng = np.random.default_rng(seed)
    people, alias_of, is_external, joined, left, attributes = _demo_people(rng)
    department = np.array(people.department, dtype=object)

    campaigns: list[ApiDict] = []
    users: dict[str, list[ApiDict]] = {}
    active_primary = sum(
        1
        for i, state in enumerate(people.state)
        if state == "ACTIVE" and alias_of[i] < 0 and not is_external[i]
    )
    for position, plan in enumerate(_DEMO_PLANS):
        # Drawn for every address whichever branch below uses them, to keep the stream simple.
        draw_enrol = rng.random(len(people.email))
        draw_alias = rng.random(len(people.email))
        eligible = (joined > plan.days_before) & (left < plan.days_before)
        eligible &= alias_of < 0
        if plan.departments is None:
            # Group-sync gaps: a few long-standing staff miss each all-staff campaign (never all
            # of them, so department sizes hold); about half the externals are in, all in the
            # newest, so every address shows up somewhere.
            newest = position == len(_DEMO_PLANS) - 1
            external_in = (draw_enrol < 0.5) | newest
            staff_in = (draw_enrol < 0.97) | (joined < 9999) | (left >= 0)
            eligible &= np.where(is_external, external_in, staff_in)
        else:
            eligible &= np.isin(department, list(plan.departments))
        enrolled = eligible.copy()
        # An alias address is enrolled alongside its person in about half of the campaigns.
        has_alias = alias_of >= 0
        enrolled[has_alias] = enrolled[alias_of[has_alias]] & (draw_alias[has_alias] < 0.5)
        members = np.flatnonzero(enrolled)
        p_complete = np.clip(plan.completion * people.diligence[members], 0.0, 0.99)
        items = _campaign_items(rng, people, members, p_complete, plan.module.ease)
        cid = _opaque_id(110, "campaign", seed, position, plan.name)
        group_size = active_primary if plan.departments is None else len(members)
        campaigns.append(
            _campaign_dict(
                cid=cid,
                name=plan.name,
                module=plan.module,
                launch=datetime.combine(as_of - timedelta(days=plan.days_before), plan.launch_at),
                created_seconds_before=int(rng.integers(90, 3 * 86400)),
                group=_group(seed, plan.group, group_size),
                email_customized=plan.email_customized,
                locked=plan.locked,
                items=items,
            )
        )
        users[cid] = items

    for campaign, plan in zip(campaigns, _DEMO_PLANS, strict=True):
        if plan.summary_of_others:
            earlier = [
                other
                for other, other_plan in zip(campaigns, _DEMO_PLANS, strict=True)
                if other_plan.days_before > plan.days_before
            ]
            campaign["allOtherCampaigns"] = _summary(earlier)
    return FakeDataset(campaigns=campaigns, users=users, attributes=attributes)


def synthetic_dataset(
    *,
    n_users: int,
    n_campaigns: int,
    seed: int = 0,
    as_of: date = DEMO_AS_OF,
    questions: Sequence[int] | None = None,
) -> FakeDataset:
    """A plain organisation of any size: every one of ``n_users`` users in every campaign.

    ``questions`` gives each campaign's number of knowledge questions (1 to 4), cycled when
    shorter than ``n_campaigns``; by default 1, 2, 3, 4, 1, ... Campaigns launch evenly over the
    year before ``as_of``; newer ones have fewer answers. No aliases or external addresses.
    """
    if n_users < 0 or n_campaigns < 0:
        raise ValueError("n_users and n_campaigns must not be negative")
    counts = list(questions) if questions is not None else [1, 2, 3, 4]
    if not counts or any(not 1 <= int(q) <= MAX_QUESTIONS for q in counts):
        raise ValueError(f"questions must be a non-empty list of numbers 1 to {MAX_QUESTIONS}")
    rng = np.random.default_rng(seed)
    people = _synthetic_people(rng, n_users)
    members = np.arange(n_users)
    campaigns: list[ApiDict] = []
    users: dict[str, list[ApiDict]] = {}
    year = timedelta(days=365).total_seconds()
    for position in range(n_campaigns):
        n_questions = int(counts[position % len(counts)])
        age = (n_campaigns - position) / (n_campaigns + 1)  # fraction of the year since launch
        launch = datetime.combine(as_of, time()) - timedelta(seconds=round(age * year))
        title = _SYNTHETIC_MODULES[position % len(_SYNTHETIC_MODULES)]
        ease = tuple(float(e) for e in rng.normal(1.2, 0.8, size=n_questions))
        module = _Module(title, "learn one more way attackers get in", ease)
        p_complete = np.clip((0.3 + 0.65 * age) * people.diligence, 0.0, 0.99)
        items = _campaign_items(rng, people, members, p_complete, module.ease)
        cid = _opaque_id(110, "synthetic-campaign", seed, position)
        campaigns.append(
            _campaign_dict(
                cid=cid,
                name=f"Synthetic Campaign {position + 1:03d}",
                module=module,
                launch=launch,
                created_seconds_before=int(rng.integers(90, 3 * 86400)),
                group=_group(seed, "All Staff", n_users),
                email_customized=False,
                locked=False,
                items=items,
            )
        )
        users[cid] = items
    return FakeDataset(campaigns=campaigns, users=users, attributes={})


# -- people -----------------------------------------------------------------------------------


def _local_part(first: str, last: str) -> str:
    return f"{first}.{last}".lower().replace("'", "").replace(" ", "")


def _unique(local: str, taken: set[str]) -> str:
    """``local``, or ``local`` with the smallest number from 2 that is still free."""
    candidate, number = local, 2
    while candidate in taken:
        candidate, number = f"{local}{number}", number + 1
    taken.add(candidate)
    return candidate


def _demo_people(
    rng: np.random.Generator,
) -> tuple[_People, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, dict[str, str]]]:
    """Primary users, then aliases, then externals; plus who is whose alias, who is external,
    when people joined and left (days before ``as_of``; joined 9999 = before the year, left -1 =
    still here) and the custom attributes."""
    email: list[str] = []
    name: list[str] = []
    department: list[str] = []
    skill: list[float] = []
    diligence: list[float] = []
    ack_rate: list[float] = []
    taken: set[str] = set()
    shared = list(_SHARED_MAILBOXES)
    for dept in _DEPARTMENT_TABLE:
        firsts = rng.integers(0, len(_FIRST_NAMES), size=dept.size)
        lasts = rng.integers(0, len(_LAST_NAMES), size=dept.size)
        for n in range(dept.size):
            if dept.name == "" and n < len(shared):
                # Shared mailboxes: no person behind them, so no name.
                full, local = "", _unique(shared[n], taken)
            else:
                first, last = _FIRST_NAMES[firsts[n]], _LAST_NAMES[lasts[n]]
                full, local = f"{first} {last}", _unique(_local_part(first, last), taken)
            email.append(f"{local}@{PRIMARY_DOMAIN}")
            name.append(full)
            department.append(dept.name)
            skill.append(dept.skill)
            diligence.append(dept.diligence)
            ack_rate.append(dept.ack_rate)
    n_primary = len(email)
    skill_arr = np.asarray(skill) + rng.normal(0.0, 0.7, size=n_primary)
    diligence_arr = np.asarray(diligence) * rng.uniform(0.85, 1.1, size=n_primary)
    ack_arr = np.asarray(ack_rate)
    sizes = np.array([DEMO_DEPARTMENTS[d] for d in department])
    named = np.array([bool(n) for n in name])
    movable = (sizes >= _STABLE_MIN_SIZE) & named

    # Turnover and account states; tiny departments stay intact.
    state = ["ACTIVE"] * n_primary
    joined = np.full(n_primary, 9999)
    left = np.full(n_primary, -1)
    draw = rng.random(n_primary)
    when = rng.integers(20, 361, size=n_primary)
    for i in np.flatnonzero(movable & (draw < 0.015)):
        state[i], left[i] = "DELETED", min(when[i], 300)
    for i in np.flatnonzero(movable & (draw >= 0.015) & (draw < 0.025)):
        state[i] = "SUSPENDED"
        diligence_arr[i] *= 0.3
    joiners = movable & (draw >= 0.025) & (draw < 0.085)
    joined[joiners] = when[joiners]

    # The same person under the alias domain: same local part and name, not in the directory.
    candidates = np.flatnonzero(movable & np.array([s == "ACTIVE" for s in state]))
    alias_sources = np.sort(rng.choice(candidates, size=_N_ALIASES, replace=False))
    alias_of = [-1] * n_primary
    for i in alias_sources:
        email.append(email[i].split("@")[0] + "@" + ALIAS_DOMAIN)
        name.append(name[i])
        department.append("")
        state.append("ACTIVE")
        alias_of.append(int(i))
    n_alias = len(alias_sources)

    # Personal addresses: mostly no name, no department, rarely answering.
    ext_taken: set[str] = set()
    ext_names: list[str] = []
    for _ in range(_N_EXTERNALS):
        first = _FIRST_NAMES[int(rng.integers(len(_FIRST_NAMES)))]
        last = _LAST_NAMES[int(rng.integers(len(_LAST_NAMES)))]
        year = int(rng.integers(1965, 2004))
        domain = EXTERNAL_DOMAINS[int(rng.integers(len(EXTERNAL_DOMAINS)))]
        local = _unique(f"{first.lower()}{last[0].lower()}{year}", ext_taken)
        email.append(f"{local}@{domain}")
        ext_names.append(f"{first} {last}" if rng.random() < 0.25 else "")
    name.extend(ext_names)
    department.extend([""] * _N_EXTERNALS)
    state.extend(["ACTIVE"] * _N_EXTERNALS)
    alias_of.extend([-1] * _N_EXTERNALS)

    people = _People(
        email=email,
        name=name,
        department=department,
        state=state,
        skill=np.concatenate(
            [skill_arr, skill_arr[alias_sources], rng.normal(-0.3, 0.7, size=_N_EXTERNALS)]
        ),
        # An alias is rarely where the person answers; externals often ignore the email.
        diligence=np.concatenate(
            [diligence_arr, np.full(n_alias, 0.15), np.full(_N_EXTERNALS, 0.35)]
        ),
        ack_rate=np.concatenate([ack_arr, np.full(n_alias, 0.2), np.full(_N_EXTERNALS, 0.4)]),
    )
    total = len(email)
    is_external = np.zeros(total, dtype=bool)
    is_external[n_primary + n_alias :] = True
    joined_all = np.concatenate([joined, joined[alias_sources], np.full(_N_EXTERNALS, 9999)])
    left_all = np.concatenate([left, left[alias_sources], np.full(_N_EXTERNALS, -1)])
    attributes = _demo_attributes(rng, people, n_primary, alias_sources)
    return people, np.asarray(alias_of), is_external, joined_all, left_all, attributes


def _demo_attributes(
    rng: np.random.Generator, people: _People, n_primary: int, alias_sources: np.ndarray
) -> dict[str, dict[str, str]]:
    """Office city and employment type for internal addresses; an alias shares its person's."""
    site_depts = {"Operations", "Facilities"}
    site_cities, site_p = ("Leeds", "Rotterdam", "London"), (0.45, 0.35, 0.2)
    office_cities, office_p = ("London", "Manchester", "Dublin", "Leeds"), (0.5, 0.25, 0.15, 0.1)
    city_draw = rng.random(n_primary)
    contract_draw = rng.random(n_primary)
    site_cum, office_cum = np.cumsum(site_p), np.cumsum(office_p)
    attributes: dict[str, dict[str, str]] = {}
    for i in range(n_primary):
        on_site = people.department[i] in site_depts | {"Customer Service"}
        cities, cum = (
            (site_cities, site_cum)
            if people.department[i] in site_depts
            else (office_cities, office_cum)
        )
        # Clipped: rounding can leave the last cumulative weight a hair below a draw.
        city = cities[min(int(np.searchsorted(cum, city_draw[i])), len(cities) - 1)]
        contractor = contract_draw[i] < (0.15 if on_site else 0.05)
        attributes[people.email[i]] = {
            LOCATION_ATTRIBUTE: city,
            EMPLOYMENT_ATTRIBUTE: "Contractor" if contractor else "Employee",
        }
    for offset, i in enumerate(alias_sources):
        attributes[people.email[n_primary + offset]] = dict(attributes[people.email[int(i)]])
    return attributes


def _synthetic_people(rng: np.random.Generator, n_users: int) -> _People:
    weights = 1.0 / np.arange(1, len(_SYNTHETIC_DEPARTMENTS) + 1)
    dept_codes = rng.choice(len(_SYNTHETIC_DEPARTMENTS), size=n_users, p=weights / weights.sum())
    dept_skill = np.linspace(-0.8, 0.8, len(_SYNTHETIC_DEPARTMENTS))
    firsts = rng.integers(0, len(_FIRST_NAMES), size=n_users)
    lasts = rng.integers(0, len(_LAST_NAMES), size=n_users)
    state_draw = rng.random(n_users)
    names = [f"{_FIRST_NAMES[f]} {_LAST_NAMES[s]}" for f, s in zip(firsts, lasts, strict=True)]
    return _People(
        # The running number keeps addresses unique at any size.
        email=[
            f"{_local_part(*n.split(' ', 1))}.{i:06d}@{SYNTHETIC_DOMAIN}"
            for i, n in enumerate(names)
        ],
        name=names,
        department=[_SYNTHETIC_DEPARTMENTS[c] for c in dept_codes],
        state=["SUSPENDED" if d < 0.01 else "ACTIVE" for d in state_draw],
        skill=dept_skill[dept_codes] + rng.normal(0.0, 0.7, size=n_users),
        diligence=rng.uniform(0.7, 1.1, size=n_users),
        ack_rate=rng.uniform(0.5, 0.95, size=n_users),
    )


# -- campaigns and items ----------------------------------------------------------------------


def _question_keys(n_questions: int) -> tuple[str, ...]:
    return tuple(f"forQuestion{q}" for q in range(1, n_questions + 1))


def _campaign_items(
    rng: np.random.Generator,
    people: _People,
    members: np.ndarray,
    p_complete: np.ndarray,
    ease: Sequence[float],
) -> list[ApiDict]:
    """User items of one campaign, sorted by email as the recorded responses are."""
    n, n_questions = len(members), len(ease)
    done = rng.random(n) < p_complete
    logits = people.skill[members][:, None] + np.asarray(ease, dtype=float)[None, :]
    correct = rng.random((n, n_questions)) < 1.0 / (1.0 + np.exp(-logits))
    # A few users answer only the first questions of a multi-question module.
    partial = done & (rng.random(n) < 0.03)
    answered_count = np.where(partial, rng.integers(1, max(n_questions, 2), size=n), n_questions)
    answered = done[:, None] & (np.arange(n_questions)[None, :] < answered_count[:, None])
    codes = np.where(answered, np.where(correct, 1, 2), 0)
    # Real data has acknowledgement false for answered users and true for unanswered ones.
    ack_draw = rng.random(n)
    ack = np.where(done, ack_draw < people.ack_rate[members], ack_draw < 0.04)

    keys = _question_keys(n_questions)
    labels = RESULT_LABELS
    items = [
        {
            "name": people.name[i],
            "email": people.email[i],
            "department": people.department[i],
            "results": {key: labels[code] for key, code in zip(keys, row, strict=True)},
            "acknowledgement": acknowledged,
            "userState": people.state[i],
        }
        for i, row, acknowledged in zip(members.tolist(), codes.tolist(), ack.tolist(), strict=True)
    ]
    items.sort(key=lambda item: item["email"])
    return items


def _opaque_id(n_bytes: int, *parts: object) -> str:
    """A stable urlsafe id shaped like the recorded ones (base64 of a zlib-like stream)."""
    digest = hashlib.shake_256(repr(parts).encode()).digest(n_bytes)
    return base64.urlsafe_b64encode(b"\x78\xda" + digest).decode().rstrip("=")


def _group(seed: int, description: str, user_count: int) -> ApiDict:
    return {
        "id": _opaque_id(100, "group", seed, description),
        "description": description,
        "source": "cloud",
        "parentId": _opaque_id(100, "folder", seed),
        "userCount": user_count,
        "folderCount": 0,
    }


def _email_msg(module: _Module, customized: bool) -> ApiDict:
    label = module.title.replace("_", " ")
    if customized:
        body = (
            "Hello [name],<br><br>Finance and leadership teams handle the payments attackers "
            f'want most, so we ask you to complete "{label}" this month.<br><br>[videoposter]'
            "<br><br>Start here: [platformlink]<br><br>Thank you.<br><br>"
        )
        return {"body": body, "subject": f"Action needed: {label} training"}
    questions = "question" if len(module.ease) == 1 else "questions"
    body = (
        "Hi [name],<br><br>Here's a security training module for you to complete.<br><br>"
        f'[videoposter]<br><br>Click [platformlink] to watch "{label}" and {module.blurb}. '
        f"Then answer the knowledge {questions} to complete your training experience."
        "<br><br>Enjoy.<br><br>"
    )
    return {"body": body, "subject": f"Security Awareness Module | {label}"}


def _campaign_dict(
    *,
    cid: str,
    name: str,
    module: _Module,
    launch: datetime,
    created_seconds_before: int,
    group: ApiDict,
    email_customized: bool,
    locked: bool,
    items: list[ApiDict],
) -> ApiDict:
    """A campaign in the recorded ``get-campaigns`` shape and key order."""
    n_questions = len(module.ease)
    key = (module.title, n_questions)
    answer_bytes = hashlib.shake_256(repr(("answers", *key)).encode()).digest(n_questions)
    counters = campaign_counters(items, n_questions)
    return {
        "id": cid,
        "name": name,
        "title": {
            "id": _opaque_id(125, "module", *key),
            "title": module.title,
            "titleForCustomModule": False,
            "correctAnswers": {
                k: 1 + b % 4 for k, b in zip(_question_keys(n_questions), answer_bytes, strict=True)
            },
            "defaultGifs": {
                "correctGif": f"https://i.giphy.example/{_token('correct', *key)}.gif",
                "incorrectGif": f"https://i.giphy.example/{_token('incorrect', *key)}.gif",
            },
        },
        "group": group,
        "launchDate": launch.strftime(DATE_FORMAT),
        "createDate": (launch - timedelta(seconds=created_seconds_before)).strftime(DATE_FORMAT),
        "emailCustomized": email_customized,
        "emailMsg": _email_msg(module, email_customized),
        "numSent": counters["numSent"],
        "numCompleted": counters["numCompleted"],
        "allOtherCampaigns": {},
        "locked": locked,
        "percentComplete": counters["percentComplete"],
        "percentCorrect": counters["percentCorrect"],
        "numCorrectAnswers": counters["numCorrectAnswers"],
    }


def _token(*parts: object) -> str:
    return hashlib.shake_256(repr(parts).encode()).hexdigest(9)


def _summary(campaigns: Sequence[ApiDict]) -> ApiDict:
    """``allOtherCampaigns`` in its object form: totals over ``campaigns``."""
    return {
        "numCampaigns": len(campaigns),
        "numSent": sum(c["numSent"] for c in campaigns),
        "numComplete": sum(c["numCompleted"] for c in campaigns),
        "numCorrectAnswers": sum(sum(c["numCorrectAnswers"].values()) for c in campaigns),
    }
