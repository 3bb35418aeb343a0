"""Phishing behaviour, SAFE scores, watch list, performance and training queue for the fake API.

:func:`build_behaviour` derives, deterministically from a :class:`FakeDataset` (normally the demo
organisation of :mod:`awareness_analysis.fakeapi.demo_org`), what seven more Awareness Training
endpoints serve: the same people, addresses, names, departments and account states, and their
knowledge answers drive what they do.

The effect the analysis should find (:class:`BehaviourEffect`): a person's click probability in a
phishing campaign depends on the share of knowledge questions they answered correctly in the
knowledge campaigns launched BEFORE it (by default 0.30 for all wrong, 0.15 for all right,
interpolated between; 0.25 with nothing answered yet), shifted by a department effect and a
per-person propensity (log-odds noise). Reporting goes the other way (0.10 to 0.30), and the
overall SAFE ``risk`` grade leans on knowledge. ``BehaviourEffect.none()`` generates the same
shapes with knowledge changing nothing (and, by default, no department effects): a dataset with
nothing to find.

Phishing campaigns: one baseline campaign three weeks before the first knowledge campaign, then
one halfway between each pair of consecutive knowledge campaigns (7 for the demo year), topped
up to at least four. Recipients are the addresses at the organisation's main domain (the most
common one), present at the time (first seen at most 45 days later, deleted accounts only up to
30 days after they were last seen), less about 2% group-sync gaps, plus one distribution list.

Quirks, as real traffic is suspected to have: event times absent when the event did not happen;
``status`` upper case on some rows and lower case on others; lifetime per-person totals
(``numCampaigns*``, ``numTrainingModules*``, ``num*Answers``, counted over ALL campaigns, so they
leak the future into any earlier campaign) repeated on every campaign's row of that person; a few
scanner-only events (``timeScanned`` without ``timeClicked``); reports without an open (tracking
pixels blocked); one distribution-list address whose row aggregates many readers (it clicks
often); the watch list spelling the address ``email`` on some rows and ``emailAddress`` on others
(or one spelling throughout, see ``watchlist_email_key``); the performance ``filterBy`` accepted
as an object or an array; ``userDetails`` (shape unknown in the real API; invented here) only
when asked for; ``customAnswer`` ``null`` except on one queue entry.

Request forms the fake accepts (its own reading of unconfirmed documentation): status filter
``[{"fieldName": "status", "value": "clicked"}]`` (exact status, any case); SAFE score filter
``[{"fieldName": "risk", "value": "A"}]`` (also ``humanError``, ``sentiment``, ``engagement``,
``knowledge``); video filter ``{"type": "video_count_1"}`` or ``[{"type": "video_count_1"}]``
(on ``watchlistCount`` and ``numNotWatched``, the number of modules not watched).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from awareness_analysis.fakeapi.dataset import ApiDict, FakeDataset

if TYPE_CHECKING:
    from awareness_analysis.fakeapi.server import FakeMimecastServer, _Exchange, _Listing

__all__ = [
    "BEHAVIOUR_PATHS",
    "DEFAULT_BEHAVIOUR_SEED",
    "DEPARTMENT_CLICK_SHIFT",
    "GRADES",
    "PAGED_BEHAVIOUR_PATHS",
    "PERFORMANCE_DETAILS_PATH",
    "PERFORMANCE_VIDEO_FILTERS",
    "PHISHING_CAMPAIGNS_PATH",
    "PHISHING_STATUSES",
    "PHISHING_USER_DATA_PATH",
    "QUEUE_PATH",
    "SAFE_SCORE_DETAILS_PATH",
    "SAFE_SCORE_FIELDS",
    "SAFE_SCORE_SUMMARY_PATH",
    "WATCHLIST_DETAILS_PATH",
    "WATCHLIST_VIDEO_FILTERS",
    "BehaviourData",
    "BehaviourEffect",
    "behaviour_for",
    "build_behaviour",
    "serve_behaviour",
]

PHISHING_CAMPAIGNS_PATH = "/api/awareness-training/phishing/campaign/get-campaign"
PHISHING_USER_DATA_PATH = "/api/awareness-training/phishing/campaign/get-user-data"
SAFE_SCORE_DETAILS_PATH = "/api/awareness-training/company/get-safe-score-details"
SAFE_SCORE_SUMMARY_PATH = "/api/awareness-training/company/get-safe-score-summary"
WATCHLIST_DETAILS_PATH = "/api/awareness-training/company/get-watchlist-details"
PERFORMANCE_DETAILS_PATH = "/api/awareness-training/company/get-performance-details"
QUEUE_PATH = "/api/awareness-training/queue/get-queue"
BEHAVIOUR_PATHS = frozenset(
    {
        PHISHING_CAMPAIGNS_PATH,
        PHISHING_USER_DATA_PATH,
        SAFE_SCORE_DETAILS_PATH,
        SAFE_SCORE_SUMMARY_PATH,
        WATCHLIST_DETAILS_PATH,
        PERFORMANCE_DETAILS_PATH,
        QUEUE_PATH,
    }
)
#: The endpoints that page (page tokens); the others answer everything at once.
PAGED_BEHAVIOUR_PATHS = frozenset(
    {
        PHISHING_USER_DATA_PATH,
        SAFE_SCORE_DETAILS_PATH,
        WATCHLIST_DETAILS_PATH,
        PERFORMANCE_DETAILS_PATH,
    }
)

PHISHING_STATUSES = ("sent", "opened", "clicked", "submitted")
GRADES = ("A", "B", "C", "D", "F")
SAFE_SCORE_FIELDS = ("risk", "humanError", "sentiment", "engagement", "knowledge")
WATCHLIST_VIDEO_FILTERS = (
    "video_count_0",
    "video_count_1",
    "video_count_2",
    "video_count_3",
    "video_count_4_or_more",
    "video_count_1_or_more",
)
PERFORMANCE_VIDEO_FILTERS = (
    "video_count_0",
    "video_count_1",
    "video_count_2",
    "video_count_3",
    "video_count_4_or_more",
    "video_count_all",
)
WatchlistEmailKey = Literal["mixed", "email", "emailAddress"]

DEFAULT_BEHAVIOUR_SEED = 20261102
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"

#: Department -> shift of the log-odds of clicking (unlisted departments: 0). Deliberately
#: partly aligned with the demo's knowledge skill (IT knows more and clicks less, Sales and
#: Customer Service the opposite), so a raw comparison is confounded by department.
DEPARTMENT_CLICK_SHIFT: Mapping[str, float] = MappingProxyType(
    {
        "Sales": 0.30,
        "Customer Service": 0.25,
        "Executive Office": 0.45,
        "Marketing": 0.15,
        "Operations": 0.10,
        "Facilities": 0.10,
        "": 0.20,
        "Finance": -0.20,
        "Engineering": -0.15,
        "Legal": -0.10,
        "IT": -0.45,
        "Internal Audit": -0.30,
        "Data Protection": -0.40,
    }
)

# Event probabilities and delays that knowledge does not change.
_P_OPEN = 0.55  # opened without clicking
_P_SUBMIT = 0.35  # submitted, once clicked
_P_SCAN_CLICKED = 0.85  # URL protection scanned the link the person clicked
_P_SCAN_ONLY = 0.006  # a scanner fetched the link and nobody clicked
_P_LOWER_STATUS = 0.3  # rows whose status comes in lower case
_P_GROUP_GAP = 0.02  # present staff missing from one campaign's group
_DL_P_CLICK = 0.6  # a distribution list aggregates many readers
_DL_P_REPORT = 0.5

#: (name, template display titles, sender name, sender local part).
_PHISHING_PLANS = (
    ("Parcel Delivery Notice", ("Missed delivery: reschedule now",), "Parcel Desk", "tracking"),
    (
        "Shared Document",
        ("A document has been shared with you", "Review the attached contract"),
        "Docs Share",
        "no-reply",
    ),
    ("Password Expiry", ("Your password expires today",), "IT Service Desk", "it-support"),
    (
        "Invoice Overdue",
        ("Overdue invoice #4471", "Payment reminder: final notice"),
        "Accounts Receivable",
        "billing",
    ),
    ("Payroll Update", ("Update your bank details for payroll",), "Payroll Team", "payroll"),
    ("Voicemail Received", ("You have a new voicemail (0:47)",), "Voice Portal", "voicemail"),
    (
        "Gift Card Request",
        ("Quick favour before my meeting", "Are you at your desk?"),
        "Office of the CEO",
        "ceo.office",
    ),
)
_SENDER_DOMAINS = ("parcel-notify.example", "docs-share.example", "it-helpdesk-portal.example")


@dataclass(frozen=True)
class BehaviourEffect:
    """How knowledge (and department) shapes generated behaviour.

    Probabilities interpolate linearly on the share of knowledge questions a person answered
    correctly before the phishing campaign (``*_if_incorrect`` at 0, ``*_if_correct`` at 1,
    ``*_if_untested`` with nothing answered yet); department shifts and a per-person normal
    propensity (``person_sd``) are then added on the log-odds scale.
    ``grade_knowledge_weight`` is how much lifetime knowledge counts in the SAFE ``risk`` grade
    (the ``knowledge`` sub-grade always measures knowledge).
    """

    click_if_incorrect: float = 0.30
    click_if_correct: float = 0.15
    click_if_untested: float = 0.25
    report_if_incorrect: float = 0.10
    report_if_correct: float = 0.30
    report_if_untested: float = 0.15
    grade_knowledge_weight: float = 1.0
    department_click: Mapping[str, float] = field(default_factory=lambda: DEPARTMENT_CLICK_SHIFT)
    person_sd: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "click_if_incorrect",
            "click_if_correct",
            "click_if_untested",
            "report_if_incorrect",
            "report_if_correct",
            "report_if_untested",
        ):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"BehaviourEffect.{name} must be a probability in (0, 1).")
        if self.person_sd < 0 or self.grade_knowledge_weight < 0:
            raise ValueError("person_sd and grade_knowledge_weight must not be negative.")
        object.__setattr__(self, "department_click", MappingProxyType(dict(self.department_click)))

    @classmethod
    def none(
        cls, *, click: float = 0.25, report: float = 0.15, keep_departments: bool = False
    ) -> BehaviourEffect:
        """Knowledge changes nothing: every person clicks with ``click`` and reports with
        ``report`` (before person noise), and knowledge does not move the ``risk`` grade.
        ``keep_departments`` keeps the department shifts (a confounded null: a raw comparison
        then shows a difference that disappears within departments)."""
        return cls(
            click_if_incorrect=click,
            click_if_correct=click,
            click_if_untested=click,
            report_if_incorrect=report,
            report_if_correct=report,
            report_if_untested=report,
            grade_knowledge_weight=0.0,
            department_click=DEPARTMENT_CLICK_SHIFT if keep_departments else {},
        )

    @property
    def has_effect(self) -> bool:
        return (
            self.click_if_correct != self.click_if_incorrect
            or self.report_if_correct != self.report_if_incorrect
            or self.grade_knowledge_weight > 0
        )

    def parameters(self) -> dict[str, Any]:
        """The effect as plain values (for a test's or a notebook's record)."""
        return {
            "click_if_incorrect": self.click_if_incorrect,
            "click_if_correct": self.click_if_correct,
            "click_if_untested": self.click_if_untested,
            "report_if_incorrect": self.report_if_incorrect,
            "report_if_correct": self.report_if_correct,
            "report_if_untested": self.report_if_untested,
            "grade_knowledge_weight": self.grade_knowledge_weight,
            "department_click": dict(self.department_click),
            "person_sd": self.person_sd,
        }


@dataclass
class BehaviourData:
    """What the seven behaviour endpoints serve, in their response shapes.

    ``phishing_users``: phishing campaign id -> rows of ``data[0].items``.
    ``user_details``: address -> the performance ``userDetails`` list (sent when asked for).
    ``attributes``: address -> custom attributes, for ``searchBy`` ``customAttribute``.
    """

    phishing_campaigns: list[ApiDict]
    phishing_users: dict[str, list[ApiDict]]
    safe_scores: list[ApiDict]
    score_counts: dict[str, int]
    watchlist: list[ApiDict]
    performance: list[ApiDict]
    user_details: dict[str, list[ApiDict]]
    queue: list[ApiDict]
    attributes: Mapping[str, Mapping[str, str]]
    effect: BehaviourEffect
    seed: int
    distribution_list: str


# -- people and their knowledge ---------------------------------------------------------------


@dataclass
class _Person:
    email: str
    name: str
    department: str
    state: str
    #: (launch, correct answers, incorrect answers, answered anything) per knowledge campaign.
    modules: list[tuple[datetime, int, int, bool]] = field(default_factory=list)
    #: (campaign id, name, launch date text) per knowledge campaign, same order as ``modules``.
    campaigns: list[tuple[str, str, str]] = field(default_factory=list)

    def share_before(self, moment: datetime) -> float | None:
        """Share of questions answered correctly in campaigns launched before ``moment``."""
        correct = sum(c for launch, c, _, _ in self.modules if launch < moment)
        incorrect = sum(i for launch, _, i, _ in self.modules if launch < moment)
        answered = correct + incorrect
        return correct / answered if answered else None

    @property
    def correct(self) -> int:
        return sum(c for _, c, _, _ in self.modules)

    @property
    def incorrect(self) -> int:
        return sum(i for _, _, i, _ in self.modules)

    @property
    def not_watched(self) -> int:
        return sum(not answered for _, _, _, answered in self.modules)

    @property
    def first_seen(self) -> datetime:
        return min(launch for launch, _, _, _ in self.modules)

    @property
    def last_seen(self) -> datetime:
        return max(launch for launch, _, _, _ in self.modules)


def _parse_launch(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        return None


def _knowledge(
    dataset: FakeDataset,
) -> tuple[dict[str, _Person], list[tuple[ApiDict, datetime]]]:
    """Every address of the knowledge campaigns with its answers per campaign, and the
    campaigns (with a readable launch date) oldest first."""
    dated = [
        (campaign, launch)
        for campaign in dataset.campaigns
        if (launch := _parse_launch(campaign.get("launchDate"))) is not None
    ]
    dated.sort(key=lambda pair: (pair[1], str(pair[0].get("id"))))
    people: dict[str, _Person] = {}
    for campaign, launch in dated:
        for item in dataset.users.get(campaign["id"], []):
            email = str(item.get("email") or "")
            if not email:
                continue
            results = item.get("results") if isinstance(item.get("results"), Mapping) else {}
            answers = [str(v).upper() for v in results.values()]
            person = people.get(email)
            if person is None:
                person = people[email] = _Person(email, "", "", "ACTIVE")
            # The newest campaign's item has the newest name, department and state.
            person.name = str(item.get("name") or "")
            person.department = str(item.get("department") or "")
            person.state = str(item.get("userState") or "ACTIVE")
            correct, incorrect = answers.count("CORRECT"), answers.count("INCORRECT")
            person.modules.append((launch, correct, incorrect, correct + incorrect > 0))
            person.campaigns.append(
                (str(campaign["id"]), str(campaign.get("name", "")), str(campaign["launchDate"]))
            )
    return dict(sorted(people.items())), dated


# -- helpers ----------------------------------------------------------------------------------


def _opaque_id(*parts: object) -> str:
    """A stable id shaped like the recorded ones (urlsafe base64, no padding)."""
    digest = hashlib.shake_256(repr(("behaviour", *parts)).encode()).digest(60)
    return base64.urlsafe_b64encode(b"\x78\xda" + digest).decode().rstrip("=")


def _stable_int(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big")


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _interpolate(
    share: list[float | None], if_incorrect: float, if_correct: float, untested: float
) -> np.ndarray:
    """Per-person probability from the share of correct answers so far."""
    return np.array(
        [untested if s is None else if_incorrect + (if_correct - if_incorrect) * s for s in share],
        dtype=float,
    )


def _grade(score: float) -> str:
    for letter, floor in zip(GRADES, (0.82, 0.70, 0.58, 0.45), strict=False):
        if score >= floor:
            return letter
    return "F"


def _fmt(moment: datetime) -> str:
    return moment.strftime(DATE_FORMAT)


def _main_domain(emails: Sequence[str]) -> str:
    domains = Counter(e.rsplit("@", 1)[-1].lower() for e in emails if "@" in e)
    if not domains:
        return "organisation.example"
    # Most common, ties to the alphabetically first, so the choice is stable.
    return min(domains.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _phishing_dates(launches: Sequence[datetime]) -> list[datetime]:
    """A baseline before the first knowledge campaign, then one halfway between each pair of
    consecutive ones, topped up to four a fortnight apart after the last."""
    distinct = sorted(set(launches))
    if not distinct:
        distinct = [datetime(2026, 1, 5, 10, 0, tzinfo=UTC)]
    dates = [distinct[0] - timedelta(days=21)]
    dates += [a + (b - a) / 2 for a, b in itertools.pairwise(distinct)]
    while len(dates) < 4:
        dates.append(max(dates[-1], distinct[-1]) + timedelta(days=14))
    # Whole minutes, 10:00 UTC on the day, like a scheduled launch.
    return [d.replace(hour=10, minute=0, second=0, microsecond=0) for d in dates]


# -- the generator ----------------------------------------------------------------------------


def build_behaviour(
    dataset: FakeDataset,
    *,
    seed: int = DEFAULT_BEHAVIOUR_SEED,
    effect: BehaviourEffect | None = None,
    watchlist_email_key: WatchlistEmailKey = "mixed",
) -> BehaviourData:
    """Behaviour data for ``dataset``'s people (see the module docstring).

    The same ``dataset``, ``seed``, ``effect`` and ``watchlist_email_key`` give identical data.
    ``effect=BehaviourEffect.none()`` gives a dataset where knowledge predicts nothing.
    ``watchlist_email_key`` ``"mixed"`` spells the address ``email`` on about two rows in three
    and ``emailAddress`` on the rest; ``"email"`` or ``"emailAddress"`` use one spelling.
    """
    if watchlist_email_key not in ("mixed", "email", "emailAddress"):
        raise ValueError(
            "watchlist_email_key must be 'mixed', 'email' or 'emailAddress', not "
            f"{watchlist_email_key!r}."
        )
    effect = effect if effect is not None else BehaviourEffect()
    rng = np.random.default_rng(seed)
    people, dated = _knowledge(dataset)
    domain = _main_domain(list(people))
    staff = [p for p in people.values() if p.email.lower().endswith("@" + domain)]
    dl_email = _distribution_list(domain, people)

    n = len(staff)
    dept_shift = np.array([effect.department_click.get(p.department, 0.0) for p in staff])
    click_noise = rng.normal(0.0, effect.person_sd, size=n)
    report_noise = rng.normal(0.0, effect.person_sd, size=n)

    dates = _phishing_dates([launch for _, launch in dated])
    # Per campaign: member indices (into staff; -1 is the list) and their events.
    plans: list[tuple[ApiDict, list[int], dict[str, np.ndarray]]] = []
    for position, launch in enumerate(dates):
        draws = rng.random((10, n + 1))  # one column per person, the last for the list
        present = np.array(
            [
                p.first_seen - timedelta(days=45) <= launch
                and (p.state != "DELETED" or launch <= p.last_seen + timedelta(days=30))
                for p in staff
            ],
            dtype=bool,
        )
        members = np.flatnonzero(present & (draws[0, :n] >= _P_GROUP_GAP))
        share = [staff[i].share_before(launch) for i in members]
        p_click = _interpolate(
            share, effect.click_if_incorrect, effect.click_if_correct, effect.click_if_untested
        )
        p_click = _sigmoid(_logit(p_click) + dept_shift[members] + click_noise[members])
        p_report = _interpolate(
            share, effect.report_if_incorrect, effect.report_if_correct, effect.report_if_untested
        )
        p_report = _sigmoid(_logit(p_report) + report_noise[members])
        # The distribution list rides along as the last member.
        p_click = np.append(p_click, _DL_P_CLICK)
        p_report = np.append(p_report, _DL_P_REPORT)
        cols = np.append(members, n)
        u = draws[:, cols]
        clicked = u[1] < p_click
        opened = clicked | (u[2] < _P_OPEN)
        opened[-1] = True
        submitted = clicked & (u[3] < _P_SUBMIT)
        reported = u[4] < np.where(clicked, p_report / 2, p_report)
        scanned = np.where(clicked, u[5] < _P_SCAN_CLICKED, u[5] < _P_SCAN_ONLY)
        events = {
            "clicked": clicked,
            "opened": opened,
            "submitted": submitted,
            "reported": reported,
            "scanned": scanned,
            "timing": u[6:10],
        }
        campaign = _phishing_campaign(position, launch, seed)
        plans.append((campaign, [*members.tolist(), -1], events))

    # Lifetime totals per person over every phishing campaign (repeated on each row): sent,
    # clicked, scanned, clicked and scanned, submitted, reported. Row n is the list.
    totals = np.zeros((n + 1, 6), dtype=int)
    for _, member_list, events in plans:
        idx = np.array([m if m >= 0 else n for m in member_list])
        counted = (
            np.ones(len(idx), dtype=bool),
            events["clicked"],
            events["scanned"],
            events["clicked"] & events["scanned"],
            events["submitted"],
            events["reported"],
        )
        for column, happened in enumerate(counted):
            np.add.at(totals[:, column], idx, happened.astype(int))

    dl_person = _Person(dl_email, "All Staff (distribution list)", "", "ACTIVE")
    phishing_campaigns: list[ApiDict] = []
    phishing_users: dict[str, list[ApiDict]] = {}
    for campaign, member_list, events in plans:
        rows = _phishing_rows(
            campaign, member_list, events, staff, dl_person, totals, rng, seed=seed
        )
        _count_into(campaign, rows, len(member_list))
        phishing_campaigns.append(campaign)
        phishing_users[campaign["id"]] = rows

    safe_scores = _safe_scores(staff, totals, effect, rng)
    counts = Counter(row["risk"] for row in safe_scores)
    score_counts = {letter.lower(): counts.get(letter, 0) for letter in GRADES}
    watchlist, performance, user_details = _training_rows(people, watchlist_email_key)
    queue = _queue(dated, dataset, rng)
    return BehaviourData(
        phishing_campaigns=phishing_campaigns,
        phishing_users=phishing_users,
        safe_scores=safe_scores,
        score_counts=score_counts,
        watchlist=watchlist,
        performance=performance,
        user_details=user_details,
        queue=queue,
        attributes=dataset.attributes,
        effect=effect,
        seed=seed,
        distribution_list=dl_email,
    )


def _distribution_list(domain: str, people: Mapping[str, _Person]) -> str:
    local, number = "all-staff-list", 2
    while f"{local}@{domain}" in people:
        local, number = f"all-staff-list{number}", number + 1
    return f"{local}@{domain}"


def _phishing_campaign(position: int, launch: datetime, seed: int) -> ApiDict:
    name, titles, sender_name, sender_local = _PHISHING_PLANS[position % len(_PHISHING_PLANS)]
    cid = _opaque_id("phishing-campaign", seed, position, name)
    return {
        "id": cid,
        "name": f"{name} - {launch:%B %Y}",
        "templates": [
            {"id": _opaque_id("template", title), "displayTitle": title} for title in titles
        ],
        "sender": {
            "name": sender_name,
            "email": f"{sender_local}@{_SENDER_DOMAINS[position % len(_SENDER_DOMAINS)]}",
        },
        "group": {
            "id": _opaque_id("phishing-group", seed),
            "description": "All Staff",
            "source": "cloud",
            "userCount": 0,  # filled in from the rows
        },
        "launchDate": _fmt(launch),
        # One campaign in the US locale: locales are per campaign, not per organisation.
        "locale": "en_US" if position == 3 else "en_GB",
        "locked": position < 2,
        # Spread over working hours on alternate campaigns, all at once on the others.
        "timeSlotSelected": position % 2 == 1,
        "numSent": 0,
        "numOpened": 0,
        "numClicked": 0,
        "numSubmitted": 0,
        "numReported": 0,
    }


def _phishing_rows(
    campaign: ApiDict,
    member_list: list[int],
    events: Mapping[str, np.ndarray],
    staff: Sequence[_Person],
    dl_person: _Person,
    totals: np.ndarray,
    rng: np.random.Generator,
    *,
    seed: int,
) -> list[ApiDict]:
    launch = datetime.strptime(campaign["launchDate"], "%Y-%m-%dT%H:%M:%S%z")
    spread_s = 8 * 3600 if campaign["timeSlotSelected"] else 600
    templates = [t["displayTitle"] for t in campaign["templates"]]
    timing = events["timing"]
    lower = rng.random(len(member_list)) < _P_LOWER_STATUS
    which_template = rng.integers(0, len(templates), size=len(member_list))
    rows: list[ApiDict] = []
    for k, member in enumerate(member_list):
        person = staff[member] if member >= 0 else dl_person
        total = totals[member if member >= 0 else len(staff)]
        scheduled = launch + timedelta(seconds=int(timing[0, k] * spread_s))
        opened_at = scheduled + timedelta(seconds=30 + int(-9000 * np.log1p(-timing[1, k])))
        clicked_at = opened_at + timedelta(seconds=5 + int(-900 * np.log1p(-timing[2, k])))
        clicked = bool(events["clicked"][k])
        if clicked:
            reported_at = clicked_at + timedelta(seconds=60 + int(timing[3, k] * 3540))
            scanned_at = clicked_at - timedelta(seconds=1 + int(timing[3, k] * 3))
        else:
            reported_at = opened_at + timedelta(seconds=20 + int(timing[3, k] * 1800))
            scanned_at = scheduled + timedelta(seconds=2 + int(timing[3, k] * 88))
        status = (
            "submitted"
            if events["submitted"][k]
            else "clicked"
            if clicked
            else "opened"
            if events["opened"][k]
            else "sent"
        )
        row: ApiDict = {
            "email": person.email,
            "name": person.name,
            "department": person.department,
            "templateName": templates[int(which_template[k])],
            "status": status if lower[k] else status.upper(),
            "userState": person.state,
            "timeScheduled": _fmt(scheduled),
        }
        # Absent, not null, when the event did not happen.
        if events["opened"][k]:
            row["timeOpened"] = _fmt(opened_at)
        if clicked:
            row["timeClicked"] = _fmt(clicked_at)
        if events["reported"][k]:
            row["timeReported"] = _fmt(reported_at)
        if events["submitted"][k]:
            row["timeSubmitted"] = _fmt(clicked_at + timedelta(seconds=20 + k % 280))
        if events["scanned"][k]:
            row["timeScanned"] = _fmt(scanned_at)
        reactions = [
            t
            for t, happened in ((clicked_at, clicked), (reported_at, "timeReported" in row))
            if happened
        ]
        row["reactionTime"] = (
            int((min(reactions) - scheduled).total_seconds()) if reactions else None
        )
        row["clickedIp"] = (
            f"198.51.100.{1 + _stable_int(seed, person.email) % 254}" if clicked else ""
        )
        row["numCampaignsSent"] = int(total[0])
        row["numCampaignsClicked"] = int(total[1])
        row["numCampaignsScanned"] = int(total[2])
        row["numCampaignsClickedScanned"] = int(total[3])
        row["numTrainingModulesAssigned"] = len(person.modules)
        row["numCorrectAnswers"] = person.correct
        row["numIncorrectAnswers"] = person.incorrect
        rows.append(row)
    rows.sort(key=lambda row: row["email"])
    return rows


def _count_into(campaign: ApiDict, rows: Sequence[ApiDict], members: int) -> None:
    campaign["group"]["userCount"] = members
    campaign["numSent"] = len(rows)
    campaign["numOpened"] = sum("timeOpened" in r for r in rows)
    campaign["numClicked"] = sum("timeClicked" in r for r in rows)
    campaign["numSubmitted"] = sum("timeSubmitted" in r for r in rows)
    campaign["numReported"] = sum("timeReported" in r for r in rows)


def _safe_scores(
    staff: Sequence[_Person],
    totals: np.ndarray,
    effect: BehaviourEffect,
    rng: np.random.Generator,
) -> list[ApiDict]:
    """SAFE grades: knowledge (lifetime share correct), engagement (share of modules answered),
    human error (clicks and submissions per phishing email, reports help), sentiment (noise);
    ``risk`` combines them, knowledge weighted by ``effect.grade_knowledge_weight``."""
    n = len(staff)
    sentiment = rng.beta(4.0, 2.0, size=n)
    noise = rng.normal(0.0, 0.04, size=n)
    rows: list[ApiDict] = []
    w = effect.grade_knowledge_weight
    for i, person in enumerate(staff):
        answered = person.correct + person.incorrect
        knowledge = person.correct / answered if answered else 0.5
        engagement = 1.0 - person.not_watched / len(person.modules) if person.modules else 0.5
        sent = int(totals[i, 0])
        if sent:
            error = (int(totals[i, 1]) + int(totals[i, 4])) / sent
            human = float(np.clip(1.0 - 1.5 * error + 0.3 * int(totals[i, 5]) / sent, 0.0, 1.0))
        else:
            human = 0.75
        risk = (w * knowledge + 2.0 * human + 0.5 * engagement + 0.5 * sentiment[i]) / (w + 3.0)
        rows.append(
            {
                "emailAddress": person.email,
                "name": person.name,
                "department": person.department,
                "risk": _grade(float(risk + noise[i])),
                "humanError": _grade(human),
                "sentiment": _grade(float(sentiment[i])),
                "engagement": _grade(engagement),
                "knowledge": _grade(knowledge),
                "userState": person.state,
            }
        )
    return rows


def _training_rows(
    people: Mapping[str, _Person], email_key: WatchlistEmailKey
) -> tuple[list[ApiDict], list[ApiDict], dict[str, list[ApiDict]]]:
    """Watch list and performance rows for every address of the knowledge campaigns."""
    watchlist: list[ApiDict] = []
    performance: list[ApiDict] = []
    details: dict[str, list[ApiDict]] = {}
    for person in people.values():
        if email_key == "mixed":
            key = "emailAddress" if _stable_int("watchlist", person.email) % 3 == 0 else "email"
        else:
            key = email_key
        watchlist.append(
            {
                key: person.email,
                "name": person.name,
                "department": person.department,
                "watchlistCount": person.not_watched,
                "userState": person.state,
            }
        )
        performance.append(
            {
                "email": person.email,
                "name": person.name,
                "department": person.department,
                "numCorrect": person.correct,
                "numIncorrect": person.incorrect,
                "numNotWatched": person.not_watched,
                "userState": person.state,
            }
        )
        details[person.email] = [
            {
                "campaignId": cid,
                "campaignName": name,
                "launchDate": launch_text,
                "numCorrect": correct,
                "numIncorrect": incorrect,
                "watched": answered,
            }
            for (cid, name, launch_text), (_, correct, incorrect, answered) in zip(
                person.campaigns, person.modules, strict=True
            )
        ]
    return watchlist, performance, details


def _queue(
    dated: Sequence[tuple[ApiDict, datetime]], dataset: FakeDataset, rng: np.random.Generator
) -> list[ApiDict]:
    """One queue entry per knowledge module: its first question, how answers spread over the
    four options, and (on one entry) a custom answer."""
    entries: list[ApiDict] = []
    descriptions = Counter(str((c.get("group") or {}).get("description", "")) for c, _ in dated)
    everyone = descriptions.most_common(1)[0][0] if descriptions else ""
    for position, (campaign, _) in enumerate(dated):
        title = campaign.get("title") if isinstance(campaign.get("title"), Mapping) else {}
        answers = (
            title.get("correctAnswers") if isinstance(title.get("correctAnswers"), Mapping) else {}
        )
        correct_option = int(answers.get("forQuestion1", 1) or 1)
        items = dataset.users.get(campaign["id"], [])
        first = [
            str((item.get("results") or {}).get("forQuestion1", "SENT")).upper() for item in items
        ]
        n_correct, n_incorrect = first.count("CORRECT"), first.count("INCORRECT")
        wrong = rng.multinomial(n_incorrect, [0.5, 0.3, 0.2])
        others = [o for o in range(1, 5) if o != correct_option]
        spread = {f"option-{o}": 0 for o in range(1, 5)}
        spread[f"option-{correct_option}"] = n_correct
        for option, count in zip(others, wrong.tolist(), strict=True):
            spread[f"option-{option}"] = count
        custom = position == 1  # one module with an administrator's own answer text
        entries.append(
            {
                "id": _opaque_id("queue", campaign["id"]),
                "title": {
                    "id": title.get("id", ""),
                    "title": title.get("title", ""),
                    "correctAnswer": correct_option,
                },
                "launchDate": campaign.get("launchDate", ""),
                "numSent": len(items),
                "numCompleted": sum(
                    any(str(v).upper() != "SENT" for v in (item.get("results") or {}).values())
                    for item in items
                ),
                "numCorrect": n_correct,
                "locked": bool(campaign.get("locked", False)),
                "assignToNewUsers": (campaign.get("group") or {}).get("description") == everyone,
                "customAnswer": {
                    "answerNumber": correct_option,
                    "safetyTip": "When in doubt, use the Report Phish button.",
                    "correctAnswer": correct_option,
                }
                if custom
                else None,
                "optionSpread": spread,
            }
        )
    return entries


# -- serving ----------------------------------------------------------------------------------

_DERIVED_LOCK = threading.Lock()
#: id(dataset) -> (dataset, its default behaviour); the dataset is kept so its id stays unique.
_DERIVED: OrderedDict[int, tuple[FakeDataset, BehaviourData]] = OrderedDict()
_DERIVED_MAX = 4


def behaviour_for(server: FakeMimecastServer) -> BehaviourData:
    """The behaviour ``server`` serves: its ``behaviour`` if set, else one built (once per
    dataset, with the defaults) from its current ``dataset``."""
    explicit = getattr(server, "behaviour", None)
    if explicit is not None:
        return explicit
    dataset = server.dataset
    with _DERIVED_LOCK:  # built under the lock: concurrent first requests build it once
        cached = _DERIVED.get(id(dataset))
        if cached is not None and cached[0] is dataset:
            _DERIVED.move_to_end(id(dataset))
            return cached[1]
        built = build_behaviour(dataset)
        _DERIVED[id(dataset)] = (dataset, built)
        while len(_DERIVED) > _DERIVED_MAX:
            _DERIVED.popitem(last=False)
        return built


def _server() -> ModuleType:
    # Imported when serving: the server module imports this one (for the paths) at load time.
    from awareness_analysis.fakeapi import server

    return server


def _reject(code: str, message: str, key: Any = None) -> Exception:
    return _server()._Reject(400, code, message, key=key)


@dataclass
class _Answer:
    payload: ApiDict
    rows_key: str  # where the server's data faults find the rows: "items" (paged) or "campaigns"
    top_level: bool  # rows at data[] rather than data[0].items
    fingerprint: str | None = None
    offset: int = 0
    sent_token: str | None = None


#: Path -> (field a missing_fields fault drops, field a wrong_types fault breaks, its bad value).
_BROKEN = {
    PHISHING_CAMPAIGNS_PATH: ("id", "numSent", "2"),
    PHISHING_USER_DATA_PATH: ("email", "numCampaignsSent", "2"),
    SAFE_SCORE_DETAILS_PATH: ("emailAddress", "risk", 3),
    SAFE_SCORE_SUMMARY_PATH: ("scoreCounts", "scoreCounts", "a=1"),
    WATCHLIST_DETAILS_PATH: ("watchlistCount", "watchlistCount", "2"),
    PERFORMANCE_DETAILS_PATH: ("email", "numCorrect", "2"),
    QUEUE_PATH: ("id", "numSent", "2"),
}


def serve_behaviour(
    server: FakeMimecastServer, ex: _Exchange, params: Mapping[str, Any]
) -> _Listing:
    """Answer one authenticated, rate-counted request to a behaviour path, with the data fault
    ``ex.fault`` (if any) applied; raises the server's refusal for invalid requests."""
    data = behaviour_for(server)
    body = ex.body or {}
    rows, pagination = server._request_parts(body)
    handler = _HANDLERS[ex.path]
    answer = handler(server, data, rows, pagination)
    srv = _server()
    if ex.fault in srv._DATA_FAULTS:
        _apply_fault(server, answer, ex.path, ex.fault, params)
    return srv._Listing(
        answer.payload, answer.rows_key, answer.fingerprint, answer.offset, answer.sent_token
    )


def _apply_fault(
    server: FakeMimecastServer,
    answer: _Answer,
    path: str,
    kind: str,
    params: Mapping[str, Any],
) -> None:
    """Bend the answer with the server's own fault code: top-level rows are shown to it in a
    ``data[0].<key>`` wrapper that shares the row list and meta, so its edits land in place."""
    srv = _server()
    payload = answer.payload
    view = payload
    if answer.top_level:
        view = {"meta": payload["meta"], "data": [{answer.rows_key: payload["data"]}]}
    listing = srv._Listing(
        view, answer.rows_key, answer.fingerprint, answer.offset, answer.sent_token
    )
    missing, wrong, wrong_value = _BROKEN[path]
    merged = dict(params)
    if kind == "missing_fields":
        merged["field"] = merged.get("field") or missing
    elif kind == "wrong_types":
        merged["field"] = merged.get("field") or wrong
        if merged.get("value") is None:
            merged["value"] = wrong_value
    server._bend(listing, kind, merged)


def _query(rows: list[Any], *, required: bool = False) -> ApiDict:
    if len(rows) > 1:
        raise _reject("err_validation_request", "data holds at most one object")
    query = rows[0] if rows else {}
    if not isinstance(query, dict):
        raise _reject("err_validation_request", "data[0] must be an object")
    if required and not rows:
        raise _reject("err_validation_blank_id", "data[0].id (the campaign id) is required")
    return query


def _page(
    server: FakeMimecastServer,
    path: str,
    query: ApiDict,
    matching: list[ApiDict],
    pagination: ApiDict,
    *,
    top_level: bool,
) -> _Answer:
    """One page of ``matching``, with page tokens bound to this path and query."""
    page_size, sent_token = server._page_request(pagination)
    fingerprint = json.dumps({"path": path, "query": query}, sort_keys=True, default=str)
    offset = 0
    if sent_token is not None:
        with server._lock:
            bound = server._page_tokens.get(sent_token)
        if bound is None or bound[0] != fingerprint:
            why = "unknown" if bound is None else "issued for another endpoint or query"
            raise _reject("err_invalid_page_token", f"The pageToken is {why}", query or None)
        offset = bound[1]
    rows = copy.deepcopy(matching[offset : offset + page_size])
    meta_pagination: ApiDict = {"pageSize": len(rows), "totalCount": len(matching)}
    if offset + page_size < len(matching):
        meta_pagination["next"] = server._issue_page_token(fingerprint, offset + page_size)
    with server._lock:
        cycle_next = server._cycle_next.get(sent_token) if sent_token is not None else None
    if cycle_next is not None:
        meta_pagination["next"] = cycle_next  # a token_cycle fault planted this token
    payload: ApiDict = {
        "meta": {"status": 200, "pagination": meta_pagination},
        "data": rows if top_level else [{"items": rows}],
        "fail": [],
    }
    return _Answer(payload, "items", top_level, fingerprint, offset, sent_token)


def _whole(rows: list[ApiDict]) -> _Answer:
    """Everything at once, like get-campaigns: no pagination meta."""
    payload = {"meta": {"status": 200}, "data": copy.deepcopy(rows), "fail": []}
    return _Answer(payload, "campaigns", True)


def _search(
    rows: list[ApiDict],
    query: ApiDict,
    attributes: Mapping[str, Mapping[str, str]],
    email_key: str,
) -> list[ApiDict]:
    """``searchBy`` as the campaign endpoint's fake applies it (case-insensitive substring)."""
    srv = _server()
    attribute_ids = srv._attribute_ids(query.get("attributeIds"), query)
    search = query.get("searchBy")
    if search is None:
        return rows
    if not isinstance(search, dict):
        raise _reject("err_validation_search_field", "searchBy must be an object", query)
    field_name, value = search.get("fieldName"), search.get("value")
    if field_name not in srv.SEARCH_FIELDS:
        raise _reject(
            "err_validation_search_field",
            f"searchBy fieldName must be one of {', '.join(srv.SEARCH_FIELDS)}",
            query,
        )
    if not isinstance(value, str):
        raise _reject("err_validation_search_value", "searchBy value must be a string", query)
    needle = value.casefold()
    if field_name != "customAttribute":
        key = email_key if field_name == "email" else field_name
        return [r for r in rows if needle in str(r.get(key) or "").casefold()]
    if not attribute_ids:
        raise _reject(
            "err_validation_attribute_ids_required",
            "searchBy customAttribute needs attributeIds",
            query,
        )
    by_email = {email.casefold(): attrs for email, attrs in attributes.items()}

    def has_value(row: ApiDict) -> bool:
        attrs = by_email.get(str(row.get(email_key) or "").casefold(), {})
        return any(needle in str(attrs.get(a, "")).casefold() for a in attribute_ids if a in attrs)

    return [r for r in rows if has_value(r)]


def _field_filter(
    rows: list[ApiDict], query: ApiDict, fields: Sequence[str], values: Sequence[str]
) -> list[ApiDict]:
    """``filterBy`` ``[{fieldName, value}]``: rows matching any entry (values any case)."""
    filter_by = query.get("filterBy")
    if filter_by is None:
        return rows
    if not isinstance(filter_by, list):
        raise _reject("err_validation_filter_field", "filterBy must be a list", query)
    wanted: list[tuple[str, str]] = []
    for entry in filter_by:
        if not isinstance(entry, dict) or entry.get("fieldName") not in fields:
            raise _reject(
                "err_validation_filter_field",
                f"filterBy fieldName must be one of {', '.join(fields)}",
                query,
            )
        value = entry.get("value")
        if not isinstance(value, str) or value.casefold() not in {v.casefold() for v in values}:
            raise _reject(
                "err_validation_filter_value",
                f"filterBy {entry['fieldName']} must be one of {', '.join(values)}, not {value!r}",
                query,
            )
        wanted.append((entry["fieldName"], value.casefold()))
    return [r for r in rows if any(str(r.get(f, "")).casefold() == v for f, v in wanted)]


def _video_filter(
    rows: list[ApiDict], query: ApiDict, count_key: str, allowed: Sequence[str]
) -> list[ApiDict]:
    """``filterBy`` video type, as an object ``{"type": ...}`` or an array of them (a union)."""
    filter_by = query.get("filterBy")
    if filter_by is None:
        return rows
    entries = [filter_by] if isinstance(filter_by, dict) else filter_by
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise _reject(
            "err_validation_filter_field",
            'filterBy must be an object {"type": ...} or an array of them',
            query,
        )
    types: list[str] = []
    for entry in entries:
        value = entry.get("type")
        if value not in allowed:
            raise _reject(
                "err_validation_filter_value",
                f"filterBy type must be one of {', '.join(allowed)}, not {value!r}",
                query,
            )
        types.append(value)
    if not types:
        return rows

    def matches(count: int, kind: str) -> bool:
        if kind == "video_count_all":
            return True
        if kind == "video_count_4_or_more":
            return count >= 4
        if kind == "video_count_1_or_more":
            return count >= 1
        return count == int(kind.rsplit("_", 1)[1])

    return [r for r in rows if any(matches(int(r.get(count_key) or 0), t) for t in types)]


Handler = Callable[["FakeMimecastServer", BehaviourData, list[Any], ApiDict], _Answer]


def _get_phishing_campaigns(
    server: FakeMimecastServer, data: BehaviourData, rows: list[Any], pagination: ApiDict
) -> _Answer:
    # Pagination meta is accepted and ignored, as on get-campaigns.
    query = _query(rows)
    campaigns = data.phishing_campaigns
    if "id" in query:
        cid = query["id"]
        if not isinstance(cid, str) or not cid.strip():
            raise _reject("err_validation_blank_id", "data[0].id must be a campaign id", query)
        campaigns = [c for c in campaigns if c["id"] == cid]
        if not campaigns:
            raise _reject("err_campaign_not_found", f"No phishing campaign with id {cid!r}", query)
    return _whole(campaigns)


def _get_phishing_user_data(
    server: FakeMimecastServer, data: BehaviourData, rows: list[Any], pagination: ApiDict
) -> _Answer:
    query = _query(rows, required=True)
    cid = query.get("id")
    if not isinstance(cid, str) or not cid.strip():
        raise _reject("err_validation_blank_id", "data[0].id (the campaign id) is required", query)
    if cid not in data.phishing_users:
        raise _reject("err_campaign_not_found", f"No phishing campaign with id {cid!r}", query)
    matching = _field_filter(data.phishing_users[cid], query, ("status",), PHISHING_STATUSES)
    matching = _search(matching, query, data.attributes, "email")
    return _page(server, PHISHING_USER_DATA_PATH, query, matching, pagination, top_level=False)


def _get_safe_score_details(
    server: FakeMimecastServer, data: BehaviourData, rows: list[Any], pagination: ApiDict
) -> _Answer:
    query = _query(rows)
    matching = _field_filter(data.safe_scores, query, SAFE_SCORE_FIELDS, GRADES)
    matching = _search(matching, query, data.attributes, "emailAddress")
    return _page(server, SAFE_SCORE_DETAILS_PATH, query, matching, pagination, top_level=True)


def _get_safe_score_summary(
    server: FakeMimecastServer, data: BehaviourData, rows: list[Any], pagination: ApiDict
) -> _Answer:
    _query(rows)
    return _whole([{"scoreCounts": dict(data.score_counts)}])


def _get_watchlist_details(
    server: FakeMimecastServer, data: BehaviourData, rows: list[Any], pagination: ApiDict
) -> _Answer:
    query = _query(rows)
    matching = _video_filter(data.watchlist, query, "watchlistCount", WATCHLIST_VIDEO_FILTERS)
    return _page(server, WATCHLIST_DETAILS_PATH, query, matching, pagination, top_level=True)


def _get_performance_details(
    server: FakeMimecastServer, data: BehaviourData, rows: list[Any], pagination: ApiDict
) -> _Answer:
    query = _query(rows)
    include = query.get("includeUserDetails", False)
    if not isinstance(include, bool):
        raise _reject("err_validation_request", "includeUserDetails must be true or false", query)
    matching = _video_filter(data.performance, query, "numNotWatched", PERFORMANCE_VIDEO_FILTERS)
    matching = _search(matching, query, data.attributes, "email")
    if include:
        matching = [{**r, "userDetails": data.user_details.get(r["email"], [])} for r in matching]
    return _page(server, PERFORMANCE_DETAILS_PATH, query, matching, pagination, top_level=True)


def _get_queue(
    server: FakeMimecastServer, data: BehaviourData, rows: list[Any], pagination: ApiDict
) -> _Answer:
    _query(rows)
    return _whole(data.queue)


_HANDLERS: Mapping[str, Handler] = {
    PHISHING_CAMPAIGNS_PATH: _get_phishing_campaigns,
    PHISHING_USER_DATA_PATH: _get_phishing_user_data,
    SAFE_SCORE_DETAILS_PATH: _get_safe_score_details,
    SAFE_SCORE_SUMMARY_PATH: _get_safe_score_summary,
    WATCHLIST_DETAILS_PATH: _get_watchlist_details,
    PERFORMANCE_DETAILS_PATH: _get_performance_details,
    QUEUE_PATH: _get_queue,
}
