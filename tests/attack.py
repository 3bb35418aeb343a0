"""An attacker's solver, written apart from the package: figures.csv and the org chart in, the
groups under k people that the published counts determine out.

The attacker knows every person's department in every campaign (the org chart and who was sent
what: here, the store) and reads ``figures.csv``. Each published row is a count over cells of
(campaign, department) for enrolments, or (campaign, department, question) for answers:

* ``campaign``: a name, several names joined by `` + `` (a figure pooled over those, e.g. a
  trend or a repeat-miss rate), or ``all`` = every campaign the report names anywhere;
* ``department``: a name; ``all`` = every department in the view; ``(suppressed)``: a
  combination the report does not spell out (see ``folded``);
* the view narrows ``all``: a campaign view to that campaign, a department view to that
  department, the summary's "Completed campaigns" to the campaigns no longer running;
* accuracy rows (``accuracy``, and the trends page's ``accuracy rate`` and ``accuracy odds
  ratio per year``) count answers (of one question, or of every question), and their ``people``
  (who answered) is the completion count of the same campaigns and departments;
* in a campaign with one question, an enrolment count is also an answer count.

Anything the attacker can compute by adding and subtracting published counts lies in the row
space of those indicator vectors; a group is exposed when its vector does (compared by
``numpy.linalg.matrix_rank``, no projection code shared with the package).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from awareness_analysis.analysis.session import open_analysis
from awareness_analysis.data.store import SnapshotStore

SUPPRESSED = "(suppressed)"
#: Charts of the knowledge-and-behaviour page: counts over phishing recipients, not over
#: awareness enrolments (see :func:`exposed_phishing_groups`).
BEHAVIOUR_CHARTS = {
    "Phishing rates",
    "Knowledge and behaviour",
    "SAFE grade and accuracy",
    "Time to click and report",
}


def _atoms(users: pd.DataFrame, answers: pd.DataFrame) -> dict[str, dict[tuple, set[str]]]:
    people: dict[str, dict[tuple, set[str]]] = {"enrolment": {}, "answer": {}}
    for row in users.itertuples():
        person = str(row.email).strip().lower()
        key = (str(row.campaign_name), str(row.department))
        people["enrolment"].setdefault(key, set()).add(person)
    merged = answers.merge(
        users.drop_duplicates(["campaign_id", "email"])[
            ["campaign_id", "email", "campaign_name", "department"]
        ],
        on=["campaign_id", "email"],
    )
    for row in merged.itertuples():
        key = (str(row.campaign_name), str(row.department), int(row.question))
        people["answer"].setdefault(key, set()).add(str(row.email).strip().lower())
    return people


def _named(value: str, known: set[str]) -> set[str]:
    """The campaigns a ``campaign`` value names: one name, or several joined by `` + ``."""
    if value in known:
        return {value}
    parts = set(value.split(" + "))
    if not parts <= known:
        raise ValueError(f"figures.csv names campaigns the store does not have: {value!r}")
    return parts


def exposed_groups(report: Path, store: Path, k: int, folded: set[str] | None = None) -> list[str]:
    """Every group under ``k`` people whose counts the report's figures determine.

    ``folded``: the departments every ``(suppressed)`` row combines, if the attacker knows.
    The report does not say, and it varies by view (the report's hidden departments, plus any
    department a view folds in because it has fewer than k people there, minus any hidden cell
    by cell), so by default the attacker cannot use ``(suppressed)`` rows: a guessed
    composition gives equations that do not hold, and "determines" nonsense.
    """
    figures = pd.read_csv(report / "figures.csv", keep_default_na=False)
    figures = figures[~figures["chart"].isin(BEHAVIOUR_CHARTS)]
    frames = SnapshotStore(store).load().frames
    known = set(frames.users["campaign_name"].astype(str))
    listed = {c for c in figures["campaign"] if c not in ("all", SUPPRESSED)}
    named_campaigns = set().union(*(_named(c, known) for c in listed))
    users = frames.users[frames.users["campaign_name"].astype(str).isin(named_campaigns)]
    answers = frames.answers[frames.answers["campaign_id"].isin(set(users["campaign_id"]))]
    people = _atoms(users, answers)
    departments = {str(d) for d in users["department"]}

    # The summary's "Completed campaigns" view pools the campaigns that were no longer running
    # at the snapshot (the attacker reads that off the launch dates).
    phases = open_analysis(store, min_group_size=k).phases
    completed = set(phases.loc[~phases["running"].astype(bool), "campaign_name"].astype(str))
    views = {"Completed campaigns": completed & named_campaigns}

    def cell(row: pd.Series, level: str) -> set[tuple]:
        if row["campaign"] != "all":
            campaigns = _named(row["campaign"], known)
        elif row["view"] in named_campaigns:
            campaigns = {row["view"]}
        else:
            campaigns = views.get(row["view"], named_campaigns)
        if row["department"] == SUPPRESSED:
            chosen = set() if folded is None else folded
        elif row["department"] != "all":
            chosen = {row["department"]}
        else:
            chosen = {row["view"]} if row["view"] in departments else departments
        atoms = {a for a in people[level] if a[0] in campaigns and a[1] in chosen}
        if level == "answer" and row["question"] != "":
            atoms = {a for a in atoms if a[2] == int(row["question"])}
        return atoms

    # The two levels are linked: an accuracy row's people (who answered) is the completion
    # count of its campaigns x departments, and in a one-question campaign an enrolment count
    # is also an answer count. So each row goes into the other level's system as well.
    questions: dict[str, set[int]] = {}
    for campaign, _, question in people["answer"]:
        questions.setdefault(campaign, set()).add(question)
    systems: dict[str, list[set[tuple]]] = {"enrolment": [], "answer": []}
    for _, row in figures.iterrows():
        if row["department"] == SUPPRESSED and folded is None:
            continue
        # "accuracy", "accuracy rate", "accuracy odds ratio per year": counts of answers.
        if row["metric"].split()[0] == "accuracy":
            atoms = cell(row, "answer")
            systems["answer"].append(atoms)
            systems["enrolment"].append({a[:2] for a in atoms})
        else:
            atoms = cell(row, "enrolment")
            systems["enrolment"].append(atoms)
            campaigns = {a[0] for a in atoms}
            if campaigns and all(len(questions.get(c, ())) == 1 for c in campaigns):
                systems["answer"].append({(*a, *questions[a[0]]) for a in atoms})

    exposed = []
    for level in ("enrolment", "answer"):
        rows = systems[level]
        index = {a: i for i, a in enumerate(sorted(set(people[level]).union(*rows), key=str))}
        matrix = np.zeros((len(rows), len(index)))
        for i, atoms in enumerate(rows):
            for atom in atoms:
                matrix[i, index[atom]] = 1.0
        rank = np.linalg.matrix_rank(matrix) if len(rows) else 0
        groups: dict[frozenset, str] = {}
        for atom in people[level]:
            groups.setdefault(frozenset([atom]), f"{level} cell {atom}")
        for position, what in ((0, "campaign"), (1, "department")):
            for value in {a[position] for a in people[level]}:
                atoms = frozenset(a for a in people[level] if a[position] == value)
                groups.setdefault(atoms, f"{what} {value}")
        for atoms, description in groups.items():
            size = len(set().union(*(people[level][a] for a in atoms)))
            if not 0 < size < k:
                continue
            vector = np.zeros(len(index))
            vector[[index[a] for a in atoms]] = 1.0
            if len(rows) and np.linalg.matrix_rank(np.vstack([matrix, vector])) == rank:
                exposed.append(f"{description} ({size} people)")
    return exposed


def _solve(rows: list[set[tuple]], people: dict[tuple, set[str]], k: int, groups: dict) -> list:
    """The groups (atom sets -> description) under k people that ``rows`` determine."""
    index = {a: i for i, a in enumerate(sorted(set(people).union(*rows), key=str))}
    matrix = np.zeros((len(rows), len(index)))
    for i, atoms in enumerate(rows):
        for atom in atoms:
            matrix[i, index[atom]] = 1.0
    rank = np.linalg.matrix_rank(matrix) if len(rows) else 0
    exposed = []
    for atoms, description in groups.items():
        size = len(set().union(*(people[a] for a in atoms)))
        if not 0 < size < k or not rows:
            continue
        vector = np.zeros(len(index))
        vector[[index[a] for a in atoms]] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, vector])) == rank:
            exposed.append(f"{description} ({size} people)")
    return exposed


def exposed_phishing_groups(
    report: Path, store: Path, k: int, phish_users: pd.DataFrame | None = None
) -> list[str]:
    """Every group of phishing recipients under ``k`` people whose counts the knowledge-and-
    behaviour page's figures determine.

    Atoms are (phishing campaign, department) of the recipients (the attacker knows who was
    sent which simulation). A row's ``campaign`` is a phishing campaign's name or ``all`` (the
    view's campaigns: the one a campaign view names, else every one the page names); its
    ``department`` a name or ``all`` (every department). Rates, times to event and the
    knowledge-effect rows all count recipients of their atoms (the effect rows, the subset
    who answered an awareness campaign before: treated as the same atoms, which only gives
    the attacker more). The groups: atoms, campaigns, departments over the campaigns, and the
    departments without a view of their own together, per campaign. ``phish_users``: the
    recipients (default: the store's).
    """
    figures = pd.read_csv(report / "figures.csv", keep_default_na=False)
    figures = figures[figures["chart"].isin(BEHAVIOUR_CHARTS - {"SAFE grade and accuracy"})]
    if phish_users is None:
        phish_users = SnapshotStore(store).load().tables["phish_users"]
    phish = phish_users
    people: dict[tuple, set[str]] = {}
    for name, department, email in zip(
        phish["phish_campaign_name"].astype(str),
        phish["department"].astype(str),
        phish["email"].astype(str),
        strict=True,
    ):
        people.setdefault((name, department), set()).add(email.strip().lower())
    named = {c for c in figures["campaign"] if c != "all"}
    people = {a: p for a, p in people.items() if a[0] in named}
    departments = {a[1] for a in people}
    rows = []
    for _, row in figures.iterrows():
        if row["campaign"] != "all":
            campaigns = {row["campaign"]}
        else:
            campaigns = {row["view"]} if row["view"] in named else named
        chosen = {row["department"]} if row["department"] != "all" else departments
        rows.append({a for a in people if a[0] in campaigns and a[1] in chosen})
    with_view = set(figures.loc[figures["department"] != "all", "department"])
    groups: dict[frozenset, str] = {}
    for atom in people:
        groups.setdefault(frozenset([atom]), f"phishing cell {atom}")
    for position, what in ((0, "phishing campaign"), (1, "department")):
        for value in {a[position] for a in people}:
            atoms = frozenset(a for a in people if a[position] == value)
            groups.setdefault(atoms, f"{what} {value}")
    for campaign in named:
        atoms = frozenset(a for a in people if a[0] == campaign and a[1] not in with_view)
        if atoms:
            groups.setdefault(atoms, f"departments without a view in {campaign}")
    return _solve(rows, people, k, groups)
