"""Disclosure control across everything published together: one plan, and an audit.

Small-group suppression inside one table is not enough for a shared report: its readers know
the organisation chart and who was sent which campaign, and can add and subtract figures from
different views (a campaign's total minus its shown departments, a department's pooled figure
minus its other campaigns). So a *published set* (one report run) gets one plan:

* campaigns with fewer than k people are left out of the set entirely;
* one set of hidden departments for every view: a department hidden in any view (fewer than k
  people there, or hidden to protect one that is) is folded into ``(suppressed)`` in all views;
* hidden *cells*: every figure counts a set of atoms ((campaign, department) for enrolments,
  (campaign, department, question) for answers; :class:`~awareness_analysis.analysis.engine.
  Cell`); a cell hidden once is hidden wherever it appears.

The **audit** is a linear-algebra test in the spirit of tau-argus and sdcTable: every published
count is a sum over atoms, so anything an attacker can compute by adding and subtracting
published counts lies in the row space of the published cells' indicator vectors. A group is
*determined* when its indicator vector lies in that space. The audit checks every group under k
people (each atom, each department over the campaigns, each campaign) and every hidden cell;
the planner hides further cells (smallest first, totals last) until nothing is determined.
Numerators and denominators are counts over the same atoms, so one test per level covers both.

Not covered (see docs/privacy.md): reports made with different k, snapshots or campaign choices
compared with each other; intervals an attacker narrows with non-negativity; the pseudonym key
holder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from awareness_analysis.analysis.engine import (
    ANSWER_LEVEL,
    ENROLMENT_LEVEL,
    Cell,
    Engine,
)
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.privacy import threshold
from awareness_analysis.vocabulary import DEPARTMENT_METRICS

__all__ = [
    "AuditResult",
    "DisclosurePlan",
    "Publication",
    "ReportContext",
    "audit",
    "dropped_campaigns",
    "plan_disclosure",
    "published_cells",
    "read_published",
]

#: Table kinds a publication can name.
KINDS = ("campaign_rates", "question_accuracy", *(f"departments:{m}" for m in DEPARTMENT_METRICS))
_TOLERANCE = 1e-8


@dataclass(frozen=True)
class Publication:
    """One table a published set shows: its kind (see :data:`KINDS`) for one selection."""

    kind: str
    selection: Selection = field(default_factory=Selection)


@dataclass(frozen=True)
class DisclosurePlan:
    """What one published set hides: campaigns left out, departments, cells."""

    k: int
    dropped_campaigns: tuple[str, ...] = ()
    hidden_departments: tuple[str, ...] = ()
    hidden_cells: frozenset[Cell] = frozenset()

    def to_json(self) -> str:
        return json.dumps(
            {
                "k": self.k,
                "dropped_campaigns": list(self.dropped_campaigns),
                "hidden_departments": list(self.hidden_departments),
                "hidden_cells": [
                    [cell.level, sorted(list(atom) for atom in cell.atoms)]
                    for cell in sorted(self.hidden_cells, key=_cell_order)
                ],
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> DisclosurePlan:
        data = json.loads(text)
        return cls(
            k=int(data["k"]),
            dropped_campaigns=tuple(data["dropped_campaigns"]),
            hidden_departments=tuple(data["hidden_departments"]),
            hidden_cells=frozenset(
                Cell(level, frozenset(tuple(atom) for atom in atoms))
                for level, atoms in data["hidden_cells"]
            ),
        )


def _cell_order(cell: Cell) -> tuple[str, list[tuple[str, ...]]]:
    return cell.level, sorted(cell.atoms)


@dataclass(frozen=True)
class AuditResult:
    """What the audit checked and found. ``leaks``: each determined group, described."""

    published: int
    hidden: int
    groups_checked: int
    k: int
    leaks: tuple[str, ...] = ()
    #: For each leak, the published cells whose sums and differences determine it.
    leak_cells: tuple[frozenset[Cell], ...] = ()

    @property
    def passed(self) -> bool:
        return not self.leaks

    def summary(self, figures: int | None = None) -> str:
        """One line: what was published and hidden, what was checked, the verdict."""
        result = "passed" if self.passed else f"FAILED ({len(self.leaks)} determined)"
        if self.k == 0:
            return "Disclosure audit skipped: small-group suppression is off (k = 0)."
        published = (
            f"{figures:,} figures ({self.published:,} cells)"
            if figures
            else (f"{self.published:,} cells")
        )
        return (
            f"Disclosure audit: {published} published, {self.hidden:,} cells hidden; "
            f"{self.groups_checked:,} groups under {self.k} people and hidden cells checked "
            f"against every sum and difference of published counts: {result}."
        )


# -- atoms and sensitive groups ---------------------------------------------------------------


def _atom_people(engine: Engine, rows: np.ndarray) -> dict[str, dict[tuple[str, ...], set[int]]]:
    """Per level, atom name -> the people in it, over user ``rows`` (a boolean mask)."""
    people: dict[str, dict[tuple[str, ...], set[int]]] = {ENROLMENT_LEVEL: {}, ANSWER_LEVEL: {}}
    for atom, person in zip(engine.atom[rows].tolist(), engine.person[rows].tolist(), strict=True):
        people[ENROLMENT_LEVEL].setdefault(engine.atom_name(atom, ENROLMENT_LEVEL), set()).add(
            person
        )
    linked = engine.answer_row >= 0
    answer_rows = engine.answer_row[linked]
    keep = rows[answer_rows]
    n_questions = max(len(engine.question_labels), 1)
    atoms = engine.atom[answer_rows][keep] * n_questions + engine.question[linked][keep]
    persons = engine.person[answer_rows][keep]
    unique = np.unique(np.column_stack([atoms, persons]), axis=0)
    for atom, person in zip(unique[:, 0].tolist(), unique[:, 1].tolist(), strict=True):
        people[ANSWER_LEVEL].setdefault(engine.atom_name(atom, ANSWER_LEVEL), set()).add(person)
    return people


def _sensitive_groups(
    people: dict[tuple[str, ...], set[int]], k: int, level: str
) -> list[tuple[str, frozenset[tuple[str, ...]]]]:
    """Groups under k people: atoms, and their unions by campaign and by department (and by
    campaign x department over questions, for answers)."""
    groups: dict[frozenset[tuple[str, ...]], str] = {}

    def add(description: str, atoms: Iterable[tuple[str, ...]]) -> None:
        atoms = frozenset(atoms)
        size = len(set().union(*(people[a] for a in atoms))) if atoms else 0
        if 0 < size < k and atoms not in groups:
            groups[atoms] = f"{description} ({size} people)"

    by: dict[str, dict[Any, list[tuple[str, ...]]]] = {"campaign": {}, "department": {}}
    by["campaign_department"] = {}
    for atom in people:
        by["campaign"].setdefault(atom[0], []).append(atom)
        by["department"].setdefault(atom[1], []).append(atom)
        by["campaign_department"].setdefault(atom[:2], []).append(atom)
        add(f"{level} cell {' / '.join(atom)}", [atom])
    for campaign, atoms in by["campaign"].items():
        add(f"campaign {campaign}", atoms)
    for department, atoms in by["department"].items():
        add(f"department {department} over the campaigns", atoms)
    if level == ANSWER_LEVEL:
        for key, atoms in by["campaign_department"].items():
            add(f"answers of {' / '.join(key)}", atoms)
    return [(description, atoms) for atoms, description in groups.items()]


# -- the rank test ----------------------------------------------------------------------------


class _Checks:
    """One level's published cells (and the other level's, as this level sees them: see
    :func:`_images`) and the groups that must stay undetermined."""

    def __init__(
        self,
        level: str,
        people: dict[tuple[str, ...], set[int]],
        groups: list[tuple[str, frozenset[tuple[str, ...]]]],
        published: Iterable[Cell],
        hidden: Iterable[Cell],
        questions: Mapping[str, set[str]],
    ) -> None:
        published = list(published)
        #: Each row of the space -> the published cells it stands for (itself, or the cells of
        #: the other level whose image it is): hiding a row means hiding all of these.
        self.sources: dict[Cell, set[Cell]] = {c: {c} for c in published if c.level == level}
        for image, sources in _images(published, questions).items():
            if image.level == level:
                self.sources.setdefault(image, set()).update(sources)
        cells = sorted(self.sources, key=_cell_order)
        # Sorted: the planner hides for the first determined group, and a plan must not depend
        # on set order (string hashing differs between processes).
        secret = [
            (f"hidden {_describe(c)}", c.atoms)
            for c in sorted((c for c in hidden if c.level == level), key=_cell_order)
        ]
        self.groups = groups + secret
        atoms = set(people).union(*(c.atoms for c in cells), *(a for _, a in secret))
        self.space = _RowSpace(cells, {atom: i for i, atom in enumerate(sorted(atoms))})

    def determined(self) -> list[tuple[str, np.ndarray]]:
        found = []
        for description, group in self.groups:
            vector = self.space.vector(group)
            if self.space.determines(vector):
                found.append((description, vector))
        return found


def _questions_by_campaign(people: dict[tuple[str, ...], set[int]]) -> dict[str, set[str]]:
    """Answer atoms' questions per campaign."""
    questions: dict[str, set[str]] = {}
    for campaign, _, question in people:
        questions.setdefault(campaign, set()).add(question)
    return questions


def _images(cells: Iterable[Cell], questions: Mapping[str, set[str]]) -> dict[Cell, set[Cell]]:
    """Published cells as the *other* level sees them, each with the cells it comes from.

    The two levels are not independent. An answer figure's ``people`` (who answered) is the
    completion count of its campaigns x departments, so every answer cell is also an enrolment
    cell (exactly for one campaign; for several, a distinct count treated as a sum, which errs
    on the safe side). In a campaign with a single question, an enrolment's completion and
    all-correct are its one answer's count and correctness, so an enrolment cell of such
    campaigns is also an answer cell.
    """
    images: dict[Cell, set[Cell]] = {}
    for cell in cells:
        if cell.level == ANSWER_LEVEL:
            image = Cell(ENROLMENT_LEVEL, frozenset(atom[:2] for atom in cell.atoms))
        else:
            single = {c: questions.get(c, set()) for c in {atom[0] for atom in cell.atoms}}
            if not single or any(len(q) != 1 for q in single.values()):
                continue
            image = Cell(
                ANSWER_LEVEL,
                frozenset((*atom, next(iter(single[atom[0]]))) for atom in cell.atoms),
            )
        images.setdefault(image, set()).add(cell)
    return images


class _RowSpace:
    """The span of the published cells' indicator vectors over one level's atoms."""

    def __init__(self, cells: Sequence[Cell], index: dict[tuple[str, ...], int]) -> None:
        self.index = index
        self.cells = list(cells)
        self.matrix = np.zeros((len(self.cells), len(index)))
        for row, cell in enumerate(self.cells):
            self.matrix[row, [index[a] for a in cell.atoms]] = 1.0
        self._basis = self._orthonormal(self.matrix)

    @staticmethod
    def _orthonormal(matrix: np.ndarray) -> np.ndarray:
        if not matrix.size:
            return np.zeros((0, matrix.shape[1]))
        _, singular, vt = np.linalg.svd(matrix, full_matrices=False)
        rank = int(np.sum(singular > singular.max(initial=0) * 1e-10))
        return vt[:rank]

    def vector(self, atoms: Iterable[tuple[str, ...]]) -> np.ndarray:
        v = np.zeros(len(self.index))
        v[[self.index[a] for a in atoms]] = 1.0
        return v

    def determines(self, vector: np.ndarray) -> bool:
        residual = vector - self._basis.T @ (self._basis @ vector)
        return float(np.linalg.norm(residual)) < _TOLERANCE * max(1.0, np.linalg.norm(vector))

    def contributors(self, vector: np.ndarray) -> list[int]:
        """Rows a least-squares combination giving ``vector`` uses (nonzero weight)."""
        weights, *_ = np.linalg.lstsq(self.matrix.T, vector, rcond=None)
        return [int(i) for i in np.flatnonzero(np.abs(weights) > 1e-9)]


def audit(
    engine: Engine,
    published: Iterable[Cell],
    hidden: Iterable[Cell],
    k: int,
    rows: np.ndarray | None = None,
) -> AuditResult:
    """Check that no group under ``k`` people and no hidden cell is a sum or difference of
    published cells. ``rows``: the user rows in scope (default: all)."""
    k = threshold(k)
    published = set(published)
    hidden = set(hidden) - published
    rows = np.ones(len(engine.users), dtype=bool) if rows is None else rows
    people = _atom_people(engine, rows)
    questions = _questions_by_campaign(people[ANSWER_LEVEL])
    leaks: list[str] = []
    leak_cells: list[frozenset[Cell]] = []
    checked = 0
    for level in (ENROLMENT_LEVEL, ANSWER_LEVEL):
        groups = _sensitive_groups(people[level], k, level) if k else []
        checks = _Checks(level, people[level], groups, published, hidden, questions)
        checked += len(checks.groups)
        for description, vector in checks.determined():
            leaks.append(f"{description} is determined by published figures")
            rows = [checks.space.cells[i] for i in checks.space.contributors(vector)]
            leak_cells.append(frozenset().union(*(checks.sources[row] for row in rows)))
    return AuditResult(
        published=len(published),
        hidden=len(hidden),
        groups_checked=checked,
        k=k,
        leaks=tuple(leaks),
        leak_cells=tuple(leak_cells),
    )


def _describe(cell: Cell) -> str:
    campaigns = sorted({a[0] for a in cell.atoms})
    departments = sorted({a[1] for a in cell.atoms})
    what = f"{cell.level} cell of {len(departments)} department(s) in {len(campaigns)} campaign(s)"
    if len(departments) == 1:
        what += f" ({departments[0]})"
    return what


# -- the planner ------------------------------------------------------------------------------


def published_cells(
    engine: Engine, publications: Sequence[Publication], plan: DisclosurePlan
) -> tuple[dict[Cell, int], set[Cell], set[Cell]]:
    """Run every publication under ``plan``: (people per cell, cells published, cells hidden).

    Totals (the organisation line, a whole campaign) are published cells too, marked by
    :func:`_is_total` when the planner chooses what to hide.
    """
    people: dict[Cell, int] = {}
    shown: set[Cell] = set()
    hidden: set[Cell] = set()
    for publication in publications:
        view = engine.view(publication.selection, plan.k, plan=plan)
        if publication.kind == "campaign_rates":
            tables = [view.campaign_rates()]
        elif publication.kind == "question_accuracy":
            tables = [view.question_accuracy()]
        else:
            metric = publication.kind.split(":", 1)[1]
            table = view.department_comparison(metric)
            org = table.attrs.get("org_cell")
            if org is not None:
                people[org] = int(table.attrs.get("org_people") or 0)
                (hidden if table.attrs.get("org_suppressed") else shown).add(org)
            tables = [table]
        for table in tables:
            for cell, suppressed, size in zip(
                table["cell"], table["suppressed"], _people(table), strict=True
            ):
                people.setdefault(cell, size)
                (hidden if suppressed else shown).add(cell)
    return people, shown - hidden, hidden


def _people(table: pd.DataFrame) -> list[int]:
    """People per row; a blanked row counts as 0 (it is hidden already)."""
    return [0 if pd.isna(v) else int(v) for v in table["people"]]


def _hidden_departments(engine: Engine, rows: np.ndarray, k: int) -> tuple[str, ...]:
    """Departments hidden in every view: those small-group suppression hides over everything
    published (smaller cells of a single campaign are left to cell suppression)."""
    return engine.suppress_baseline(rows, k).hidden


def dropped_campaigns(engine: Engine, k: int | None) -> tuple[str, ...]:
    """Campaigns that reached fewer than ``k`` people: left out of a published set, since any
    figure of theirs, or the difference they make to a total, shows individuals."""
    k = threshold(k)
    people = [
        (str(engine.campaign_labels[c]), len(np.unique(engine.person[engine.campaign == c])))
        for c in range(engine.n_campaigns)
    ]
    return tuple(sorted(c for c, n in people if 0 < n < k))


def plan_disclosure(
    engine: Engine,
    publications: Sequence[Publication],
    k: int,
    *,
    max_hidden: int = 5000,
) -> tuple[DisclosurePlan, AuditResult]:
    """The disclosure plan of a published set, and its audit (which then passes).

    Campaigns with fewer than k people are dropped; departments are hidden consistently
    across every view; then cells are hidden greedily (least informative first, totals last)
    until no group under k people and no hidden cell is determined by what is published.
    Raises ValueError when that takes more than ``max_hidden`` cells.
    """
    k = threshold(k)
    for publication in publications:
        if publication.kind not in KINDS:
            raise ValueError(f"Unknown publication kind {publication.kind!r}; one of {KINDS}.")
    if k == 0:
        plan = DisclosurePlan(k=0)
        _, shown, hidden = published_cells(engine, publications, plan)
        return plan, AuditResult(len(shown), len(hidden), 0, 0)
    dropped = dropped_campaigns(engine, k)
    kept = tuple(str(c) for c in engine.campaign_labels if str(c) not in dropped)
    publications = [_without(p, dropped, kept) for p in publications]
    publications = [p for p in publications if p is not None]
    rows = engine.baseline_mask(Selection(campaign_ids=kept))
    departments = _hidden_departments(engine, rows, k)
    plan = DisclosurePlan(k=k, dropped_campaigns=dropped, hidden_departments=departments)
    people, shown, hidden = published_cells(engine, publications, plan)
    present = _departments_by_campaign(engine, rows)
    totals = {cell for cell in people if _is_total(cell, present)}
    atom_people = _atom_people(engine, rows)
    questions = _questions_by_campaign(atom_people[ANSWER_LEVEL])
    groups = {level: _sensitive_groups(atom_people[level], k, level) for level in atom_people}
    for _ in range(max_hidden):
        to_hide: set[Cell] = set()
        for level in (ENROLMENT_LEVEL, ANSWER_LEVEL):
            checks = _Checks(level, atom_people[level], groups[level], shown, hidden, questions)
            determined = checks.determined()
            if determined:
                _, vector = determined[0]
                candidates = [checks.space.cells[i] for i in checks.space.contributors(vector)]

                def order(row: Cell, sources: dict[Cell, set[Cell]] = checks.sources) -> tuple:
                    cells = sources[row]
                    return (
                        any(c in totals for c in cells),
                        max(people.get(c, 0) for c in cells),
                        len(row.atoms),
                        _cell_order(row),
                    )

                to_hide = checks.sources[min(candidates, key=order)]
                break
        if not to_hide:
            plan = replace(plan, hidden_cells=frozenset(hidden))
            return plan, audit(engine, shown, hidden, k, rows)
        shown -= to_hide
        hidden |= to_hide
    raise ValueError(
        f"No disclosure plan found after hiding {max_hidden} cells; publish fewer views or "
        "use a larger minimum group size."
    )


def _without(
    publication: Publication, dropped: tuple[str, ...], kept: tuple[str, ...]
) -> Publication | None:
    """``publication`` without the dropped campaigns (None when nothing is left)."""
    chosen = publication.selection.campaign_ids
    if chosen:
        remaining = tuple(c for c in chosen if c not in dropped)
        if not remaining:
            return None
        return replace(
            publication, selection=replace(publication.selection, campaign_ids=remaining)
        )
    return replace(publication, selection=replace(publication.selection, campaign_ids=kept))


def _is_total(cell: Cell, present: dict[str, set[str]]) -> bool:
    """Whether ``cell`` covers every department of each of its campaigns (a campaign total or
    the organisation line): hidden last, since readers need them most."""
    departments: dict[str, set[str]] = {}
    for atom in cell.atoms:
        departments.setdefault(atom[0], set()).add(atom[1])
    return all(found >= present.get(c, set()) for c, found in departments.items())


def _departments_by_campaign(engine: Engine, rows: np.ndarray) -> dict[str, set[str]]:
    present: dict[str, set[str]] = {}
    for atom in np.unique(engine.atom[rows]).tolist():
        campaign, department = engine.atom_name(atom, ENROLMENT_LEVEL)
        present.setdefault(campaign, set()).add(department)
    return present


# -- a report run: its plan, and the log of what its pages publish -----------------------------


@dataclass(frozen=True)
class ReportContext:
    """What the report renderer tells each notebook: the plan, the page, where to log."""

    plan: DisclosurePlan
    page: str
    log: str  # JSON lines, one per published figure (hidden ones marked)
    include_people: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "plan": json.loads(self.plan.to_json()),
                "page": self.page,
                "log": self.log,
                "include_people": self.include_people,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ReportContext:
        data = json.loads(text)
        return cls(
            plan=DisclosurePlan.from_json(json.dumps(data["plan"])),
            page=str(data["page"]),
            log=str(data["log"]),
            include_people=bool(data.get("include_people", False)),
        )

    def publish(self, records: Iterable[dict[str, Any]]) -> None:
        """Append ``records`` (figure dicts with a ``cell`` and a ``hidden`` flag) to the log."""
        with open(self.log, "a", encoding="utf-8") as handle:
            for record in records:
                cell = record["cell"]
                line = {**record, "page": self.page}
                line["cell"] = [cell.level, sorted(list(a) for a in cell.atoms)]
                handle.write(json.dumps(line, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def read_published(path: str) -> list[dict[str, Any]]:
    """The records a report run logged, cells restored."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            level, atoms = record["cell"]
            record["cell"] = Cell(level, frozenset(tuple(a) for a in atoms))
            records.append(record)
    return records
