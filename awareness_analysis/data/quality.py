"""Data quality of one snapshot, and its reconciliation with the vendor's own counters.

Real tenants' data is messy (recorded traffic shows empty departments and names, one person
under two domains, a personal address, a group user count of 0 while users were sent).
:func:`check_frames` looks at a snapshot's three frames and returns a :class:`QualityReport`:
tables of everything found plus a list of :class:`Problem` s. Nothing is fixed or dropped:
the report only says what is there, so an analyst can decide.

The checks
----------
* **Missing values**: people (and enrolments) with an empty department or an empty name. A
  person counts as missing when their most recent enrolment (latest-launched campaign) is.
* **Likely aliases**: two addresses under different domains with the same local part
  (``alex.doe@corp.example`` and ``alex.doe@corp-mail.example``) or the same non-empty name
  (case and spacing ignored). Each pair says which rule matched it. The analysis counts such a
  pair as two people (:func:`~awareness_analysis.data.frames.normalise_email` is its one rule
  for who is one person); ``AWARENESS_ALIAS_DOMAINS`` only joins the behaviour tables.
* **Addresses outside the organisation**: the organisation domains are the ones given, else
  inferred: the domain with the most people plus every domain holding at least
  :data:`ORGANISATION_DOMAIN_SHARE` of them (well-known personal mail domains never count),
  in both cases with both sides of the alias-domain map. Every other address is ``personal``
  (its domain is in :data:`PERSONAL_MAIL_DOMAINS`), ``external``, or ``no domain``.
* **Inactive users**: a ``user_state`` other than ``ACTIVE`` (or ``UNKNOWN``, the frames'
  default when the API sends none). They are **counted** in every figure: the analysis engine
  filters by user state only when a selection names user states, and no dashboard or report
  does (:data:`INACTIVE_USERS_COUNTED`).
* **Double enrolments**: one person (normalised address) with more than one row in a campaign.
* **Question counts**: campaigns with no knowledge question, or more than
  :data:`MAX_QUESTIONS_SEEN` (the most the vendor documents and real traffic shows).
* **Empty groups**: campaigns whose ``group.userCount`` is 0 although users were sent (seen in
  the recorded traffic; a note, since the analysis never uses that count).
* **Reconciliation** per campaign, with every difference listed:
  rows received against ``numSent``; users counted as completed against ``numCompleted``
  under each of :data:`COMPLETION_DEFINITIONS` (the report says which match; the check fails
  when the analysis's own definition, :data:`ANALYSIS_COMPLETION`, does not); correct answers
  (from the answers frame) against ``numCorrectAnswers``, per question when the snapshot's
  manifest recorded the per-question counters (``campaign_counters``), else in total.

Severities: ``fail`` (a reconciliation that does not hold: ``awareness-analysis check
--strict`` exits non-zero), ``warning`` (likely wrong or surprising data) and ``note``
(worth knowing). A snapshot fetched with a filter (``--status`` or ``--search``) holds only
part of each campaign, so its reconciliation differences are warnings, still all listed.
A campaign still running may also differ by answers that arrived between the two API calls of
one fetch; fetching again settles that.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from awareness_analysis.data.behaviour import alias_map
from awareness_analysis.data.frames import Frames, normalise_email
from awareness_analysis.data.store import Snapshot
from awareness_analysis.vocabulary import UNASSIGNED_DEPARTMENT

__all__ = [
    "ANALYSIS_COMPLETION",
    "COMPLETION_DEFINITIONS",
    "FAIL",
    "INACTIVE_USERS_COUNTED",
    "MAX_QUESTIONS_SEEN",
    "NOTE",
    "ORGANISATION_DOMAIN_SHARE",
    "PERSONAL_MAIL_DOMAINS",
    "WARNING",
    "Problem",
    "QualityReport",
    "check_frames",
    "check_snapshot",
    "choose_organisation_domains",
    "fetch_filter_text",
    "vendor_correct_answers",
]

FAIL = "fail"
WARNING = "warning"
NOTE = "note"
SEVERITIES = (FAIL, WARNING, NOTE)

#: A domain holding at least this share of the people is one of the organisation's (besides
#: the largest): a group with two real domains should not see half its staff as external.
ORGANISATION_DOMAIN_SHARE = 0.10
#: The vendor documents forQuestion1..3 and real traffic shows up to forQuestion4.
MAX_QUESTIONS_SEEN = 4
ACTIVE_STATE = "ACTIVE"
#: What the frames put in ``user_state`` when the API sent none: unknown, not inactive.
UNKNOWN_STATE = "UNKNOWN"
#: Whether the analysis counts inactive users: yes (see the module docstring); the tests hold
#: this against the engine.
INACTIVE_USERS_COUNTED = True

#: Candidate meanings of the vendor's ``numCompleted``, counted per enrolment (row).
COMPLETION_DEFINITIONS: dict[str, str] = {
    "answered_any": "answered at least one question",
    "answered_all": "answered every question",
    "acknowledged": "acknowledged",
    "acknowledged_and_answered": "acknowledged and answered at least one question",
    "passed": "answered, every answer given correct",
}
#: The definition the analysis's completion rate uses (metrics.DEFINITIONS["completion"]).
ANALYSIS_COMPLETION = "answered_any"

#: Well-known free and ISP mail domains: an address there is a person's own, not the
#: organisation's. Extend it with ``check_frames(personal_domains=...)``.
PERSONAL_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "126.com",
        "163.com",
        "aol.com",
        "att.net",
        "bigpond.com",
        "btinternet.com",
        "comcast.net",
        "fastmail.com",
        "free.fr",
        "gmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hey.com",
        "hotmail.co.uk",
        "hotmail.com",
        "hotmail.de",
        "hotmail.fr",
        "icloud.com",
        "interia.pl",
        "laposte.net",
        "libero.it",
        "live.co.uk",
        "live.com",
        "mac.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "naver.com",
        "o2.pl",
        "orange.fr",
        "outlook.com",
        "outlook.de",
        "pm.me",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "rediffmail.com",
        "rocketmail.com",
        "sbcglobal.net",
        "seznam.cz",
        "sky.com",
        "t-online.de",
        "tutanota.com",
        "verizon.net",
        "virginmedia.com",
        "web.de",
        "wp.pl",
        "yahoo.co.uk",
        "yahoo.com",
        "yahoo.de",
        "yahoo.fr",
        "yandex.com",
        "yandex.ru",
        "ymail.com",
        "zoho.com",
    }
)

_RULE_LOCAL_PART = "same local part"
_CORRECT_CHECK = "correct answers vs numCorrectAnswers"
_RULE_NAME = "same name"


@dataclass(frozen=True)
class Problem:
    """One finding: which check, how serious, how many things, and a sentence saying it."""

    check: str
    severity: str
    count: int
    message: str


@dataclass(frozen=True)
class QualityReport:
    """Everything :func:`check_frames` found in one snapshot (see the module docstring).

    Per-person tables (``alias_pairs``, ``outside_addresses``, ``inactive_users``,
    ``double_enrolments``) hold emails and names: keep them private. The others are counts.
    """

    #: Distinct people (normalised addresses), enrolments (rows) and campaigns checked.
    people: int
    enrolments: int
    campaigns: int
    organisation_domains: tuple[str, ...]
    #: True when the organisation domains were inferred from the data, not given.
    domains_inferred: bool
    #: ``field`` (department, name), ``people``, ``people_missing``, ``people_share``,
    #: ``enrolments``, ``enrolments_missing``, ``enrolments_share``.
    missing_values: pd.DataFrame
    #: ``email_a``, ``email_b``, ``name_a``, ``name_b``, ``rule``, ``known_alias_domain``,
    #: ``shared_campaigns`` (campaigns both addresses are enrolled in).
    alias_pairs: pd.DataFrame
    #: ``email``, ``name``, ``domain``, ``kind`` (personal, external, no domain), ``enrolments``.
    outside_addresses: pd.DataFrame
    #: ``user_state``, ``people``, ``enrolments``, ``inactive``, ``counted``.
    user_states: pd.DataFrame
    #: ``email``, ``name``, ``user_state`` (the latest inactive one), ``enrolments``,
    #: ``inactive_enrolments``.
    inactive_users: pd.DataFrame
    #: ``campaign_id``, ``campaign_name``, ``email``, ``rows``, ``spellings``.
    double_enrolments: pd.DataFrame
    #: ``campaign_id``, ``campaign_name``, ``n_questions``, ``problem``.
    question_counts: pd.DataFrame
    #: ``campaign_id``, ``campaign_name``, ``group_name``, ``group_user_count``, ``num_sent``,
    #: ``rows``.
    empty_groups: pd.DataFrame
    #: One row per campaign; see :func:`reconcile`.
    reconciliation: pd.DataFrame
    #: ``campaign_id``, ``campaign_name``, ``question``, ``correct``, ``vendor``, ``match``
    #: (campaigns with per-question vendor counters only).
    correct_by_question: pd.DataFrame
    #: Every reconciliation difference: ``campaign_id``, ``campaign_name``, ``check``,
    #: ``question``, ``received``, ``vendor``, ``difference``, ``note``.
    differences: pd.DataFrame
    problems: tuple[Problem, ...]
    #: What the snapshot's fetch filtered on ("" = nothing: whole campaigns).
    fetch_filter: str = ""
    snapshot_id: str = ""

    def __repr__(self) -> str:
        # No tables: a repr is for logs, and the tables hold people's addresses.
        return (
            f"QualityReport(snapshot={self.snapshot_id!r}, people={self.people}, "
            f"campaigns={self.campaigns}, problems={len(self.problems)}, failed={self.failed})"
        )

    @property
    def failed(self) -> bool:
        """Whether a reconciliation with the vendor's counters failed."""
        return any(p.severity == FAIL for p in self.problems)

    @property
    def failures(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == FAIL)


# -- helpers ----------------------------------------------------------------------------------


def _text(column: pd.Series) -> pd.Series:
    """A column as plain ``str`` values (object dtype), missing as "".

    A categorical is expanded through its codes, one ``str`` per category: converting a
    million-row column value by value costs seconds, and the frames' text columns are mostly
    categoricals."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Code -1 (missing) picks the "" appended last.
        labels = np.asarray([str(c) for c in column.cat.categories] + [""], dtype=object)
        values = labels[column.cat.codes.to_numpy()]
    elif pd.api.types.is_string_dtype(column.dtype):
        values = column.to_numpy(dtype=object, na_value="")
    else:
        values = column.astype("str").fillna("").to_numpy(dtype=object)
    return pd.Series(values, index=column.index, dtype=object)


def _domain_of(person: str) -> str:
    local, at, domain = person.rpartition("@")
    return domain if at and local else ""


def _local_part(person: str) -> str:
    local, at, _ = person.rpartition("@")
    return local if at else person


def _name_key(name: str) -> str:
    """A name as the alias rule compares it: case-folded, spaces collapsed."""
    return " ".join(name.split()).casefold()


def _clean_domain(domain: str) -> str:
    return normalise_email(domain).removeprefix("@")


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing) and the ``str`` values they stand for; a categorical's
    own codes, else factorised in order of appearance. Grouping by integers keeps a
    million-row frame fast (grouping by Python strings is not)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        labels = [str(c) for c in column.cat.categories]
        return column.cat.codes.to_numpy(dtype=np.int64), np.asarray(labels, dtype=object)
    codes, uniques = pd.factorize(column)
    return codes.astype(np.int64), np.asarray([str(u) for u in uniques], dtype=object)


def _person_codes(emails: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A code per row for the person (:func:`normalise_email` of the address) and the person
    keys the codes stand for; each distinct spelling is normalised once (a users frame
    repeats every person once per campaign)."""
    spelling, spellings = _codes(emails)
    # A missing address (code -1) reads as "", the last spelling.
    keys_of_spelling = [normalise_email(str(e)) for e in spellings] + [""]
    key_code, keys = pd.factorize(np.asarray(keys_of_spelling, dtype=object))
    codes = key_code[spelling]
    used = np.unique(codes)
    # Keep only keys some row uses (the appended "" usually is not), renumbered densely.
    renumber = np.full(len(keys), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return renumber[codes], np.asarray(keys, dtype=object)[used]


def _people(users: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per enrolment (``pid`` = person code, ``person`` = its key, ``order`` = the
    campaign's position), in launch order (the users frame's campaign categories are in launch
    order), so ``last`` is the latest; and the person keys, indexed by ``pid``."""
    pid, keys = _person_codes(users["email"])
    order, _ = _codes(users["campaign_id"])
    rows = pd.DataFrame(
        {
            "campaign_id": _text(users["campaign_id"]),
            "campaign_name": _text(users["campaign_name"]),
            "email_raw": _text(users["email"]),
            "pid": pd.Series(pid, index=users.index),
            "person": pd.Series(keys[pid], index=users.index, dtype=object),
            "name": _text(users["name"]).str.strip(),
            "department": _text(users["department"]).str.strip(),
            "user_state": _text(users["user_state"]),
            "order": pd.Series(order, index=users.index),
        }
    )
    return rows.sort_values("order", kind="stable").reset_index(drop=True), keys


def _latest_names(rows: pd.DataFrame, keys: np.ndarray) -> dict[str, str]:
    """Each person's most recent non-empty name (people who never had one are left out)."""
    named = rows[rows["name"] != ""]
    latest = named.groupby("pid", sort=False)["name"].last()
    return dict(zip(keys[latest.index.to_numpy()], latest.to_numpy(dtype=object), strict=True))


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


# -- the checks -------------------------------------------------------------------------------


def _missing_values(rows: pd.DataFrame) -> pd.DataFrame:
    latest = rows.drop_duplicates("pid", keep="last")
    empty_department = rows["department"].isin(["", UNASSIGNED_DEPARTMENT])
    empty_name = rows["name"] == ""
    records = []
    for field, missing in (("department", empty_department), ("name", empty_name)):
        people_missing = int(missing.loc[latest.index].sum())
        enrolments_missing = int(missing.sum())
        records.append(
            {
                "field": field,
                "people": len(latest),
                "people_missing": people_missing,
                "people_share": _share(people_missing, len(latest)),
                "enrolments": len(rows),
                "enrolments_missing": enrolments_missing,
                "enrolments_share": _share(enrolments_missing, len(rows)),
            }
        )
    return pd.DataFrame(records)


def choose_organisation_domains(
    people_per_domain: Mapping[str, int],
    *,
    given: Collection[str] = (),
    alias_domains: Mapping[str, str] | None = None,
    personal_domains: Collection[str] = PERSONAL_MAIL_DOMAINS,
) -> tuple[tuple[str, ...], bool]:
    """The organisation domains and whether they were inferred (see the module docstring)."""
    aliases = alias_map(alias_domains)
    from_aliases = set(aliases) | set(aliases.values())
    if given:
        return tuple(sorted({_clean_domain(d) for d in given} | from_aliases)), False
    personal = {_clean_domain(d) for d in personal_domains}
    candidates = {d: n for d, n in people_per_domain.items() if d and d not in personal}
    total = sum(people_per_domain.values())
    inferred: set[str] = set()
    if candidates:
        largest = max(candidates.values())
        inferred = {
            d
            for d, n in candidates.items()
            if n == largest or _share(n, total) >= ORGANISATION_DOMAIN_SHARE
        }
    return tuple(sorted(inferred | from_aliases)), True


def _alias_pairs(
    rows: pd.DataFrame, keys: np.ndarray, names: Mapping[str, str], aliases: Mapping[str, str]
) -> pd.DataFrame:
    persons = sorted(keys)
    domain = {p: _domain_of(p) for p in persons}
    rules: dict[tuple[str, str], list[str]] = {}
    for rule, key_of in (
        (_RULE_LOCAL_PART, _local_part),
        (_RULE_NAME, lambda p: _name_key(names.get(p, ""))),
    ):
        groups: dict[str, list[str]] = {}
        for person in persons:
            key = key_of(person)
            if key:
                groups.setdefault(key, []).append(person)
        for members in groups.values():
            for a, b in itertools.combinations(members, 2):
                # Under one domain two people may share a name (or a local part never repeats):
                # only different domains suggest one person with two addresses.
                if domain[a] != domain[b]:
                    rules.setdefault((a, b), []).append(rule)
    # Campaigns per person only for the few people in a pair.
    paired = {person for pair in rules for person in pair}
    in_pairs = rows[rows["person"].isin(paired)]
    campaigns_of: dict[str, set[str]] = {}
    for person, cid in zip(in_pairs["person"], in_pairs["campaign_id"], strict=True):
        campaigns_of.setdefault(person, set()).add(cid)

    def known(a: str, b: str) -> bool:
        da, db = domain[a], domain[b]
        return aliases.get(da, da) == aliases.get(db, db)

    records = [
        {
            "email_a": a,
            "email_b": b,
            "name_a": names.get(a, ""),
            "name_b": names.get(b, ""),
            "rule": " and ".join(matched),
            "known_alias_domain": known(a, b),
            "shared_campaigns": len(campaigns_of[a] & campaigns_of[b]),
        }
        for (a, b), matched in sorted(rules.items())
    ]
    columns = [
        "email_a",
        "email_b",
        "name_a",
        "name_b",
        "rule",
        "known_alias_domain",
        "shared_campaigns",
    ]
    return pd.DataFrame(records, columns=columns)


def _outside_addresses(
    rows: pd.DataFrame,
    keys: np.ndarray,
    names: Mapping[str, str],
    organisation: Collection[str],
    personal_domains: Collection[str],
) -> pd.DataFrame:
    enrolments = np.bincount(rows["pid"].to_numpy(), minlength=len(keys))
    personal = {_clean_domain(d) for d in personal_domains}
    records = []
    for person, count in zip(keys, enrolments, strict=True):
        domain = _domain_of(str(person))
        if domain in organisation:
            continue
        kind = "no domain" if not domain else "personal" if domain in personal else "external"
        records.append(
            {
                "email": person,
                "name": names.get(str(person), ""),
                "domain": domain,
                "kind": kind,
                "enrolments": int(count),
            }
        )
    frame = pd.DataFrame(records, columns=["email", "name", "domain", "kind", "enrolments"])
    return frame.sort_values(["kind", "domain", "email"], kind="stable").reset_index(drop=True)


def _is_inactive(states: pd.Series) -> pd.Series:
    return ~states.isin([ACTIVE_STATE, UNKNOWN_STATE])


def _user_states(rows: pd.DataFrame) -> pd.DataFrame:
    grouped = rows.groupby("user_state", sort=True)
    frame = pd.DataFrame(
        {
            "people": grouped["pid"].nunique(),
            "enrolments": grouped.size(),
        }
    ).reset_index()
    frame["inactive"] = _is_inactive(frame["user_state"])
    frame["counted"] = INACTIVE_USERS_COUNTED | ~frame["inactive"]
    return frame


def _inactive_users(rows: pd.DataFrame, keys: np.ndarray, names: Mapping[str, str]) -> pd.DataFrame:
    enrolments = np.bincount(rows["pid"].to_numpy(), minlength=len(keys))
    chosen = rows[_is_inactive(rows["user_state"])]
    grouped = chosen.groupby("pid", sort=True)
    latest_state = grouped["user_state"].last()
    pids = latest_state.index.to_numpy()
    frame = pd.DataFrame(
        {
            "email": keys[pids],
            "name": [names.get(str(p), "") for p in keys[pids]],
            "user_state": latest_state.to_numpy(dtype=object),
            "enrolments": enrolments[pids].astype(np.int64),
            "inactive_enrolments": grouped.size().to_numpy(dtype=np.int64),
        }
    )
    return frame.sort_values(["user_state", "email"], kind="stable").reset_index(drop=True)


def _double_enrolments(rows: pd.DataFrame) -> pd.DataFrame:
    repeated = rows[rows.duplicated(["order", "pid"], keep=False)]
    grouped = repeated.groupby(["order", "pid"], sort=True)
    frame = grouped.agg(
        campaign_id=("campaign_id", "first"),
        campaign_name=("campaign_name", "first"),
        email=("person", "first"),
        rows=("email_raw", "size"),
        spellings=("email_raw", lambda spelt: ", ".join(sorted(set(spelt)))),
    ).reset_index(drop=True)
    return frame[["campaign_id", "campaign_name", "email", "rows", "spellings"]]


def _question_counts(campaigns: pd.DataFrame) -> pd.DataFrame:
    n = campaigns["n_questions"].astype(int)
    flagged = campaigns[(n == 0) | (n > MAX_QUESTIONS_SEEN)]
    return pd.DataFrame(
        {
            "campaign_id": _text(flagged["campaign_id"]).to_numpy(),
            "campaign_name": _text(flagged["campaign_name"]).to_numpy(),
            "n_questions": flagged["n_questions"].astype(int).to_numpy(),
            "problem": [
                "no questions" if q == 0 else f"more than {MAX_QUESTIONS_SEEN} questions"
                for q in flagged["n_questions"].astype(int)
            ],
        }
    )


def _empty_groups(campaigns: pd.DataFrame, rows_per_campaign: Mapping[str, int]) -> pd.DataFrame:
    ids = _text(campaigns["campaign_id"])
    rows = ids.map(lambda c: rows_per_campaign.get(c, 0))
    sent = (campaigns["num_sent"].astype(int) > 0) | (rows > 0)
    flagged = (campaigns["group_user_count"].astype(int) == 0) & sent
    return pd.DataFrame(
        {
            "campaign_id": ids[flagged].to_numpy(),
            "campaign_name": _text(campaigns.loc[flagged, "campaign_name"]).to_numpy(),
            "group_name": _text(campaigns.loc[flagged, "group_name"]).to_numpy(),
            "group_user_count": campaigns.loc[flagged, "group_user_count"].astype(int).to_numpy(),
            "num_sent": campaigns.loc[flagged, "num_sent"].astype(int).to_numpy(),
            "rows": rows[flagged].astype(int).to_numpy(),
        }
    )


# -- reconciliation ---------------------------------------------------------------------------


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value >= 0 else None


def vendor_correct_answers(
    campaign_counters: Sequence[Mapping[str, Any]] | None,
) -> dict[str, dict[int, int]]:
    """Campaign id -> question -> the vendor's ``numCorrectAnswers.forQuestionN``, from a
    manifest's ``campaign_counters`` (values that are not whole numbers are left out)."""
    found: dict[str, dict[int, int]] = {}
    for record in campaign_counters or ():
        if not isinstance(record, Mapping):
            continue
        per_question = record.get("numCorrectAnswers")
        if not isinstance(per_question, Mapping):
            continue
        counts: dict[int, int] = {}
        for key, value in per_question.items():
            number = str(key).removeprefix("forQuestion")
            count = _whole_number(value)
            if str(key).startswith("forQuestion") and number.isdigit() and count is not None:
                counts[int(number)] = count
        found[str(record.get("campaign_id"))] = counts
    return found


def _completion_flags(users: pd.DataFrame) -> dict[str, np.ndarray]:
    outcome = _text(users["outcome"]).to_numpy()
    answered = outcome != "sent"
    acknowledged = users["acknowledged"].to_numpy(dtype=bool)
    n_questions = users["n_questions"].to_numpy(dtype=np.int64)
    unanswered = users["n_unanswered"].to_numpy(dtype=np.int64)
    return {
        "answered_any": answered,
        "answered_all": (n_questions > 0) & (unanswered == 0),
        "acknowledged": acknowledged,
        "acknowledged_and_answered": acknowledged & answered,
        "passed": outcome == "correct",
    }


def _by_label(counts: pd.Series, labels: np.ndarray) -> dict[str, int]:
    """Counts indexed by code, as label -> count (rows with code -1 left out)."""
    return {str(labels[code]): int(n) for code, n in counts.items() if code >= 0}


def reconcile(
    frames: Frames,
    vendor_by_question: Mapping[str, Mapping[int, int]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per campaign: the rows and answers received against the vendor's counters.

    Returns ``(reconciliation, correct_by_question, differences)``. ``reconciliation`` has one
    row per campaign (get-campaigns order, then campaigns that only have user rows):
    ``campaign_id``, ``campaign_name``, ``listed`` (has a get-campaigns entry), ``rows``,
    ``people``, ``num_sent``, ``rows_match``, ``num_completed``, one ``completed_<definition>``
    count per :data:`COMPLETION_DEFINITIONS` entry, ``matching_definitions`` (those equal to
    ``num_completed``, comma-separated), ``completion_match`` (the analysis's definition
    matches), ``correct_answers``, ``num_correct_answers``, ``correct_match`` (the total and
    every per-question count match), ``group_user_count`` and ``status``.
    """
    campaigns, users, answers = frames.campaigns, frames.users, frames.answers
    vendor_by_question = vendor_by_question or {}
    # Counted per campaign once, grouping by integer codes, not by a mask per campaign: a
    # large tenant has many campaigns and a million rows.
    campaign_code, campaign_labels = _codes(users["campaign_id"])
    enrolments = pd.DataFrame(_completion_flags(users))
    enrolments["campaign"] = campaign_code
    enrolments["pid"] = _person_codes(users["email"])[0]
    by_campaign = enrolments.groupby("campaign", sort=False)
    rows_of = _by_label(by_campaign.size(), campaign_labels)
    people_of = _by_label(by_campaign["pid"].nunique(), campaign_labels)
    completed_of = {
        definition: _by_label(by_campaign[definition].sum(), campaign_labels)
        for definition in COMPLETION_DEFINITIONS
    }
    answer_code, answer_labels = _codes(answers["campaign_id"])
    correct_answers = pd.DataFrame(
        {
            "campaign": answer_code,
            "question": answers["question"].to_numpy(dtype=np.int64),
            "correct": _text(answers["result"]).to_numpy() == "correct",
        }
    )
    correct_of = correct_answers.groupby(["campaign", "question"], sort=False)["correct"].sum()
    correct_of_question = {
        (str(answer_labels[code]), int(question)): int(n)
        for (code, question), n in correct_of.items()
        if code >= 0
    }
    correct_total_of: dict[str, int] = {}
    for (cid, _), n in correct_of_question.items():
        correct_total_of[cid] = correct_total_of.get(cid, 0) + n

    listed_ids = list(_text(campaigns["campaign_id"]))
    # Campaigns with user rows but no get-campaigns entry, in order of first appearance.
    present, first_row = np.unique(campaign_code, return_index=True)
    in_order = [(row, code) for code, row in zip(present, first_row, strict=True) if code >= 0]
    listed = set(listed_ids)
    user_names = {
        str(campaign_labels[code]): str(users["campaign_name"].iloc[row])
        for row, code in sorted(in_order)
        if str(campaign_labels[code]) not in listed
    }
    extra_ids = list(user_names)
    by_id = {str(c): row for c, row in zip(listed_ids, campaigns.itertuples(), strict=True)}
    records, per_question, differences = [], [], []

    def differ(
        cid: str,
        name: str,
        check: str,
        received: int,
        vendor: int | None,
        note: str = "",
        question: int | None = None,
    ) -> None:
        differences.append(
            {
                "campaign_id": cid,
                "campaign_name": name,
                "check": check,
                "question": question,
                "received": received,
                "vendor": vendor,
                "difference": None if vendor is None else received - vendor,
                "note": note,
            }
        )

    for cid in [*listed_ids, *extra_ids]:
        row = by_id.get(cid)
        name = str(row.campaign_name) if row is not None else user_names.get(cid, "")
        rows = rows_of.get(cid, 0)
        completed = {d: completed_of[d].get(cid, 0) for d in COMPLETION_DEFINITIONS}
        correct_total = correct_total_of.get(cid, 0)
        record: dict[str, Any] = {
            "campaign_id": cid,
            "campaign_name": name,
            "listed": row is not None,
            "rows": rows,
            "people": people_of.get(cid, 0),
        }
        if row is None:
            record.update(
                {
                    "num_sent": None,
                    "rows_match": False,
                    "num_completed": None,
                    **{f"completed_{d}": n for d, n in completed.items()},
                    "matching_definitions": "",
                    "completion_match": False,
                    "correct_answers": correct_total,
                    "num_correct_answers": None,
                    "correct_match": False,
                    "group_user_count": None,
                    "status": "no get-campaigns entry: cannot reconcile",
                }
            )
            records.append(record)
            differ(cid, name, "listed in get-campaigns", rows, None, "user rows of an unlisted id")
            continue
        num_sent, num_completed = int(row.num_sent), int(row.num_completed)
        matching = [d for d, n in completed.items() if n == num_completed]
        vendor_questions = vendor_by_question.get(cid)
        correct_match = correct_total == int(row.num_correct_answers)
        if vendor_questions is not None:
            asked = sorted(set(range(1, int(row.n_questions) + 1)) | set(vendor_questions))
            for question in asked:
                received = correct_of_question.get((cid, question), 0)
                vendor = vendor_questions.get(question)
                match = vendor is not None and received == vendor
                correct_match &= match
                per_question.append(
                    {
                        "campaign_id": cid,
                        "campaign_name": name,
                        "question": question,
                        "correct": received,
                        "vendor": vendor,
                        "match": match,
                    }
                )
                if not match:
                    differ(cid, name, _CORRECT_CHECK, received, vendor, question=question)
        elif not correct_match:
            differ(
                cid,
                name,
                _CORRECT_CHECK,
                correct_total,
                int(row.num_correct_answers),
                "total over the questions (no per-question counters recorded)",
            )
        if rows != num_sent:
            people = record["people"]
            note = f"distinct people {people}" + (" match numSent" if people == num_sent else "")
            differ(cid, name, "rows vs numSent", rows, num_sent, note)
        if ANALYSIS_COMPLETION not in matching:
            note = (
                "matches: " + ", ".join(COMPLETION_DEFINITIONS[d] for d in matching)
                if matching
                else "no candidate definition matches"
            )
            differ(
                cid,
                name,
                "completed vs numCompleted",
                completed[ANALYSIS_COMPLETION],
                num_completed,
                note,
            )
        failed = [
            what
            for what, ok in (
                ("rows", rows == num_sent),
                ("completion", ANALYSIS_COMPLETION in matching),
                ("correct answers", correct_match),
            )
            if not ok
        ]
        record.update(
            {
                "num_sent": num_sent,
                "rows_match": rows == num_sent,
                "num_completed": num_completed,
                **{f"completed_{d}": n for d, n in completed.items()},
                "matching_definitions": ", ".join(matching),
                "completion_match": ANALYSIS_COMPLETION in matching,
                "correct_answers": correct_total,
                "num_correct_answers": int(row.num_correct_answers),
                "correct_match": correct_match,
                "group_user_count": int(row.group_user_count),
                "status": "ok" if not failed else "differs: " + ", ".join(failed),
            }
        )
        records.append(record)

    reconciliation = pd.DataFrame(records, columns=_RECONCILIATION_COLUMNS)
    for column in ("num_sent", "num_completed", "num_correct_answers", "group_user_count"):
        reconciliation[column] = pd.array(reconciliation[column], dtype="Int64")
    by_question = pd.DataFrame(per_question, columns=_BY_QUESTION_COLUMNS)
    by_question["vendor"] = pd.array(by_question["vendor"], dtype="Int64")
    found = pd.DataFrame(differences, columns=_DIFFERENCE_COLUMNS)
    for column in ("question", "vendor", "difference"):
        found[column] = pd.array(found[column], dtype="Int64")
    return reconciliation, by_question, found


_RECONCILIATION_COLUMNS = [
    "campaign_id",
    "campaign_name",
    "listed",
    "rows",
    "people",
    "num_sent",
    "rows_match",
    "num_completed",
    *(f"completed_{d}" for d in COMPLETION_DEFINITIONS),
    "matching_definitions",
    "completion_match",
    "correct_answers",
    "num_correct_answers",
    "correct_match",
    "group_user_count",
    "status",
]
_BY_QUESTION_COLUMNS = ["campaign_id", "campaign_name", "question", "correct", "vendor", "match"]
_DIFFERENCE_COLUMNS = [
    "campaign_id",
    "campaign_name",
    "check",
    "question",
    "received",
    "vendor",
    "difference",
    "note",
]


# -- problems ---------------------------------------------------------------------------------


def _listing(values: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _reconciliation_problems(reconciliation: pd.DataFrame, fetch_filter: str) -> list[Problem]:
    # A filtered fetch holds part of each campaign by design: its differences are expected.
    severity = WARNING if fetch_filter else FAIL
    why = f" (the snapshot was fetched with a filter: {fetch_filter})" if fetch_filter else ""
    listed = reconciliation[reconciliation["listed"]]
    problems = []
    unlisted = reconciliation[~reconciliation["listed"]]
    if len(unlisted):
        problems.append(
            Problem(
                "reconciliation.unlisted",
                FAIL,
                len(unlisted),
                f"{len(unlisted)} campaign id(s) have user rows but no get-campaigns entry, so "
                f"they cannot be reconciled: {_listing(list(unlisted['campaign_id']))}; fetch "
                "again (the campaign may have been deleted meanwhile)",
            )
        )
    checks = (
        ("reconciliation.rows", "rows_match", "the rows received differ from numSent", "rows"),
        (
            "reconciliation.completion",
            "completion_match",
            "the users who answered at least one question (the analysis's completion) differ "
            "from numCompleted",
            "completed_answered_any",
        ),
        (
            "reconciliation.correct_answers",
            "correct_match",
            "the correct answers differ from numCorrectAnswers",
            "correct_answers",
        ),
    )
    vendor_column = {
        "rows": "num_sent",
        "completed_answered_any": "num_completed",
        "correct_answers": "num_correct_answers",
    }
    for check, flag, what, received in checks:
        bad = listed[~listed[flag].astype(bool)]
        if not len(bad):
            continue
        names = [
            f"{r.campaign_name or r.campaign_id} ({getattr(r, received)} vs "
            f"{getattr(r, vendor_column[received])})"
            for r in bad.itertuples()
        ]
        problems.append(
            Problem(
                check,
                severity,
                len(bad),
                f"{len(bad)} campaign(s) where {what}{why}: {_listing(names)}",
            )
        )
    return problems


def _problems(report: dict[str, Any], fetch_filter: str) -> tuple[Problem, ...]:
    problems = _reconciliation_problems(report["reconciliation"], fetch_filter)
    missing = report["missing_values"].set_index("field")
    for field in ("department", "name"):
        count = int(missing.loc[field, "people_missing"])
        if count:
            share = float(missing.loc[field, "people_share"])
            problems.append(
                Problem(
                    f"missing.{field}",
                    NOTE,
                    count,
                    f"{count:,} of {int(missing.loc[field, 'people']):,} people ({share:.1%}) "
                    f"have an empty {field}",
                )
            )
    pairs = report["alias_pairs"]
    if len(pairs):
        rules = pairs["rule"].value_counts()
        by_rule = ", ".join(f"{n} by {rule}" for rule, n in rules.items())
        problems.append(
            Problem(
                "aliases",
                WARNING,
                len(pairs),
                f"{len(pairs)} likely alias pair(s) under different domains ({by_rule}); the "
                "analysis counts each address as a separate person",
            )
        )
    outside = report["outside_addresses"]
    if len(outside):
        kinds = outside["kind"].value_counts()
        by_kind = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        domains = ", ".join(report["organisation_domains"]) or "(none)"
        how = "inferred" if report["domains_inferred"] else "given"
        problems.append(
            Problem(
                "outside_addresses",
                WARNING,
                len(outside),
                f"{len(outside)} address(es) outside the organisation domains ({by_kind}); "
                f"organisation domains ({how}): {domains}",
            )
        )
    inactive = report["inactive_users"]
    if len(inactive):
        states = inactive["user_state"].value_counts()
        by_state = ", ".join(f"{n} {state}" for state, n in states.items())
        problems.append(
            Problem(
                "inactive_users",
                NOTE,
                len(inactive),
                f"{len(inactive)} inactive user(s) ({by_state}), counted in every figure like "
                "active ones",
            )
        )
    double = report["double_enrolments"]
    if len(double):
        problems.append(
            Problem(
                "double_enrolments",
                WARNING,
                len(double),
                f"{len(double)} person(s) enrolled more than once in one campaign "
                f"({double['campaign_name'].nunique()} campaign(s)); each row counts as an "
                "enrolment",
            )
        )
    questions = report["question_counts"]
    if len(questions):
        described = [
            f"{r.campaign_name or r.campaign_id} ({r.problem})" for r in questions.itertuples()
        ]
        problems.append(
            Problem(
                "question_counts",
                WARNING,
                len(questions),
                f"{len(questions)} campaign(s) with an unusual number of questions: "
                f"{_listing(described)}",
            )
        )
    groups = report["empty_groups"]
    if len(groups):
        problems.append(
            Problem(
                "empty_groups",
                NOTE,
                len(groups),
                f"{len(groups)} campaign(s) report a group user count of 0 although users were "
                f"sent: {_listing([str(n) for n in groups['campaign_name']])} (a vendor quirk "
                "seen in real traffic; the analysis does not use that count)",
            )
        )
    return tuple(problems)


# -- entry points -----------------------------------------------------------------------------


def _limited(frames: Frames, campaign_ids: Collection[str]) -> Frames:
    wanted = {str(c) for c in campaign_ids}

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[_text(frame["campaign_id"]).isin(wanted).to_numpy()].reset_index(drop=True)

    return Frames(keep(frames.campaigns), keep(frames.users), keep(frames.answers))


def check_frames(
    frames: Frames,
    *,
    campaign_counters: Sequence[Mapping[str, Any]] | None = None,
    campaign_ids: Collection[str] | None = None,
    organisation_domains: Collection[str] = (),
    alias_domains: Mapping[str, str] | None = None,
    personal_domains: Collection[str] = PERSONAL_MAIL_DOMAINS,
    fetch_filter: str = "",
    snapshot_id: str = "",
) -> QualityReport:
    """Every check of the module docstring over ``frames``.

    ``campaign_counters``: a manifest's ``campaign_counters`` (per-question correct answers);
    ``campaign_ids``: check only these campaigns (None = all); ``organisation_domains``: the
    organisation's domains (empty = inferred); ``alias_domains``: alias -> domain map (both
    sides count as the organisation's); ``personal_domains``: personal mail domains;
    ``fetch_filter``: what the fetch filtered on (see :func:`fetch_filter_text`).
    """
    missing = [
        f"{name}.{column}"
        for name, frame, columns in (
            ("campaigns", frames.campaigns, _CAMPAIGN_COLUMNS),
            ("users", frames.users, _USER_COLUMNS),
            ("answers", frames.answers, _ANSWER_COLUMNS),
        )
        for column in columns
        if column not in frame
    ]
    if missing:
        raise ValueError(
            f"check_frames needs the snapshot frames' columns; missing: {', '.join(missing)}. "
            "Pass the frames of a stored snapshot (SnapshotStore(...).load().frames)."
        )
    if campaign_ids is not None:
        frames = _limited(frames, campaign_ids)
    rows, keys = _people(frames.users)
    names = _latest_names(rows, keys)
    aliases = alias_map(alias_domains)
    people_per_domain: dict[str, int] = {}
    for person in keys:
        domain = _domain_of(str(person))
        people_per_domain[domain] = people_per_domain.get(domain, 0) + 1
    domains, inferred = choose_organisation_domains(
        people_per_domain,
        given=organisation_domains,
        alias_domains=aliases,
        personal_domains=personal_domains,
    )
    reconciliation, by_question, differences = reconcile(
        frames, vendor_correct_answers(campaign_counters)
    )
    rows_per_campaign = dict(
        zip(reconciliation["campaign_id"], reconciliation["rows"].astype(int), strict=True)
    )
    parts: dict[str, Any] = {
        "organisation_domains": domains,
        "domains_inferred": inferred,
        "missing_values": _missing_values(rows),
        "alias_pairs": _alias_pairs(rows, keys, names, aliases),
        "outside_addresses": _outside_addresses(rows, keys, names, set(domains), personal_domains),
        "user_states": _user_states(rows),
        "inactive_users": _inactive_users(rows, keys, names),
        "double_enrolments": _double_enrolments(rows),
        "question_counts": _question_counts(frames.campaigns),
        "empty_groups": _empty_groups(frames.campaigns, rows_per_campaign),
        "reconciliation": reconciliation,
    }
    return QualityReport(
        people=len(keys),
        enrolments=len(rows),
        campaigns=len(reconciliation),
        correct_by_question=by_question,
        differences=differences,
        problems=_problems(parts, fetch_filter),
        fetch_filter=fetch_filter,
        snapshot_id=snapshot_id,
        **parts,
    )


_CAMPAIGN_COLUMNS = (
    "campaign_id",
    "campaign_name",
    "num_sent",
    "num_completed",
    "num_correct_answers",
    "n_questions",
    "group_name",
    "group_user_count",
)
_USER_COLUMNS = (
    "campaign_id",
    "campaign_name",
    "email",
    "name",
    "department",
    "user_state",
    "acknowledged",
    "n_questions",
    "n_unanswered",
    "outcome",
)
_ANSWER_COLUMNS = ("campaign_id", "email", "question", "result")


def fetch_filter_text(manifest: Mapping[str, Any]) -> str:
    """What a snapshot's fetch kept of each campaign, from its manifest's ``query``: "" for
    whole campaigns, else e.g. ``status incorrect`` or ``search department``."""
    query = manifest.get("query")
    if not isinstance(query, Mapping):
        return ""
    parts = []
    statuses = query.get("statuses")
    if isinstance(statuses, Sequence) and not isinstance(statuses, str) and statuses:
        parts.append("status " + ", ".join(str(s) for s in statuses))
    search = query.get("search")
    if search:
        # The field only: the searched value may be a person's name.
        field = search.get("field") if isinstance(search, Mapping) else None
        parts.append(f"search {field}" if field else "search")
    return "; ".join(parts)


def check_snapshot(
    snapshot: Snapshot,
    *,
    campaign_ids: Collection[str] | None = None,
    organisation_domains: Collection[str] = (),
    alias_domains: Mapping[str, str] | None = None,
    personal_domains: Collection[str] = PERSONAL_MAIL_DOMAINS,
) -> QualityReport:
    """:func:`check_frames` of a stored snapshot, with its manifest's per-question counters
    and fetch filter."""
    manifest = snapshot.manifest
    counters = manifest.get("campaign_counters")
    return check_frames(
        snapshot.frames,
        campaign_counters=counters if isinstance(counters, list) else None,
        campaign_ids=campaign_ids,
        organisation_domains=organisation_domains,
        alias_domains=alias_domains,
        personal_domains=personal_domains,
        fetch_filter=fetch_filter_text(manifest),
        snapshot_id=snapshot.snapshot_id,
    )
