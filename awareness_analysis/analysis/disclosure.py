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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

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
    "LevelSpace",
    "Links",
    "Publication",
    "ReportContext",
    "SessionDisclosure",
    "audit",
    "dropped_campaigns",
    "plan_disclosure",
    "published_cells",
    "read_published",
]

#: Table kinds a publication can name.
KINDS = ("campaign_rates", "question_accuracy", *(f"departments:{m}" for m in DEPARTMENT_METRICS))
#: A group whose residual off the published rows' span is below this (relative) is determined;
#: the residual comes from |g|^2 - |Bg|^2, so about the square root of float precision.
_TOLERANCE = 1e-6


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
                    + ([cell.within] if cell.within else [])
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
                Cell(entry[0], frozenset(tuple(atom) for atom in entry[1]), *entry[2:])
                for entry in data["hidden_cells"]
            ),
        )


def _cell_order(cell: Cell) -> tuple[str, list[tuple[str, ...]], str]:
    return cell.level, sorted(cell.atoms), cell.within


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
    people: dict[tuple[str, ...], set[int]],
    k: int,
    level: str,
    labels: tuple[str, str] = ("campaign", "department"),
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
        add(f"{level} {labels[0]} {campaign}", atoms)
    for department, atoms in by["department"].items():
        add(f"{level} {labels[1]} {department} over the {labels[0]}s", atoms)
    if level == ANSWER_LEVEL:
        for key, atoms in by["campaign_department"].items():
            add(f"answers of {' / '.join(key)}", atoms)
    return [(description, atoms) for atoms, description in groups.items()]


# -- the rank test ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelSpace:
    """One level's columns for the rank test, and the groups under k people as columns.

    A plain level has a column per atom. A *refined* level (``parts``) splits each atom into
    columns by what other published figures single out inside it (see
    :mod:`~awareness_analysis.analysis.behaviour_disclosure`); a cell covers all of its atoms'
    columns. ``weigh`` gives the row of a *linked* cell (one whose ``within`` names a link):
    a weighted sum over the columns, for figures that count each unit several times.
    """

    level: str
    index: Mapping[tuple[str, ...], int]
    groups: Sequence[tuple[str, np.ndarray]]
    parts: Mapping[tuple[str, ...], np.ndarray] | None = None
    weigh: Callable[[Cell], tuple[np.ndarray, np.ndarray]] | None = None

    def row(self, cell: Cell) -> tuple[np.ndarray, np.ndarray]:
        """``cell`` as (column ids, weights)."""
        if cell.within and self.weigh is not None:
            return self.weigh(cell)
        if self.parts is None:
            ids = np.fromiter((self.index[a] for a in cell.atoms if a in self.index), np.int64)
        else:
            found = [self.parts[a] for a in cell.atoms if a in self.parts]
            ids = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        return ids, np.ones(len(ids))


def plain_space(
    level: str,
    people: dict[tuple[str, ...], set[int]],
    k: int,
    cells: Iterable[Cell] = (),
    labels: tuple[str, str] = ("campaign", "department"),
    together: Iterable[str] = (),
) -> LevelSpace:
    """A level with a column per atom: ``people``'s, and any other atom ``cells`` name.
    ``together``: departments no view shows apart (folded), checked together too."""
    groups = _sensitive_groups(people, k, level, labels) if k else []
    together = set(together)
    if k and together:
        by_first: dict[str, set[tuple[str, ...]]] = {}
        for atom in people:
            if atom[1] in together:
                by_first.setdefault(atom[0], set()).add(atom)
        for first, atoms in sorted(by_first.items()):
            size = len(set().union(*(people[a] for a in atoms)))
            if 0 < size < k:
                description = f"{level} {labels[0]} {first}: folded departments ({size} people)"
                groups.append((description, frozenset(atoms)))
    atoms = set(people).union(*(c.atoms for c in cells if c.level == level and not c.within))
    index = {atom: i for i, atom in enumerate(sorted(atoms))}
    return LevelSpace(
        level,
        index,
        [(d, np.fromiter((index[a] for a in atoms), np.int64)) for d, atoms in groups],
    )


class Links:
    """Figures beyond the engine's tables that a published set also shows: their own levels,
    and how their cells appear in the engine's levels. The default links nothing."""

    levels: tuple[str, ...] = ()

    def spaces(
        self, people: dict[str, dict[tuple[str, ...], set[int]]], k: int, cells: Iterable[Cell]
    ) -> dict[str, LevelSpace]:
        """Every level's space (the engine's levels as plain spaces)."""
        cells = list(cells)
        return {level: plain_space(level, people[level], k, cells) for level in _LEVELS}

    def images(self, cell: Cell) -> list[Cell]:
        """``cell`` as other levels see it (beyond the engine's own images)."""
        return []

    def cells(self, plan: DisclosurePlan) -> tuple[dict[Cell, int], set[Cell], set[Cell]]:
        """(people per cell, cells published, cells hidden) of the linked figures."""
        return {}, set(), set()

    def is_total(self, cell: Cell) -> bool:
        """Whether a linked cell is a total (hidden last)."""
        return False


class _Checks:
    """One level's published cells (and those of other levels, as this level sees them: see
    :func:`_images`) and the groups that must stay undetermined."""

    def __init__(
        self,
        space: LevelSpace,
        published: Iterable[Cell],
        hidden: Iterable[Cell],
        images: Mapping[Cell, set[Cell]],
    ) -> None:
        level = space.level
        #: Each row of the space -> the published cells it stands for (itself, or the cells of
        #: another level whose image it is): hiding a row means hiding all of these.
        self.sources: dict[Cell, set[Cell]] = {c: {c} for c in published if c.level == level}
        for image, sources in images.items():
            if image.level == level:
                self.sources.setdefault(image, set()).update(sources)
        # Sorted: the planner hides for the first determined group, and a plan must not depend
        # on set order (string hashing differs between processes).
        self.cells = sorted(self.sources, key=_cell_order)
        secret = [
            (f"hidden {_describe(c)}", space.row(c)[0])
            for c in sorted((c for c in hidden if c.level == level), key=_cell_order)
        ]
        self.groups = [*space.groups, *secret]
        self.space = space

    def determined(self, limit: int | None = None) -> list[tuple[str, list[Cell]]]:
        """Each determined group (in order; the first ``limit``), described, with the
        published rows a combination equal to it uses."""
        rows = [self.space.row(c) for c in self.cells]
        found = _determined(
            [ids for ids, _ in rows],
            [ids for _, ids in self.groups],
            len(self.space.index),
            limit,
            weights=[weights for _, weights in rows],
        )
        return [(self.groups[g][0], [self.cells[i] for i in used]) for g, used in found]


def _all_images(
    cells: Iterable[Cell], questions: Mapping[str, set[str]], links: Links
) -> dict[Cell, set[Cell]]:
    """Every published cell's images in other levels: the engine's, and the links'."""
    cells = list(cells)
    images = _images(cells, questions)
    for cell in cells:
        for image in links.images(cell):
            images.setdefault(image, set()).add(cell)
    return images


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
        if cell.level not in _LEVELS or cell.within:
            continue
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


def audit(
    engine: Engine,
    published: Iterable[Cell],
    hidden: Iterable[Cell],
    k: int,
    rows: np.ndarray | None = None,
    links: Links | None = None,
) -> AuditResult:
    """Check that no group under ``k`` people and no hidden cell is a sum or difference of
    published cells. ``rows``: the user rows in scope (default: all); ``links``: figures
    beyond the engine's tables published with them (their levels are checked too)."""
    k = threshold(k)
    links = links or Links()
    published = set(published)
    hidden = set(hidden) - published
    rows = np.ones(len(engine.users), dtype=bool) if rows is None else rows
    people = _atom_people(engine, rows)
    questions = _questions_by_campaign(people[ANSWER_LEVEL])
    spaces = links.spaces(people, k, published | hidden)
    images = _all_images(published, questions, links)
    leaks: list[str] = []
    leak_cells: list[frozenset[Cell]] = []
    checked = 0
    for level in (*_LEVELS, *links.levels):
        checks = _Checks(spaces[level], published, hidden, images)
        checked += len(checks.groups)
        for description, rows in checks.determined():
            leaks.append(f"{description} is determined by published figures")
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
    links: Links | None = None,
) -> tuple[DisclosurePlan, AuditResult]:
    """The disclosure plan of a published set, and its audit (which then passes).

    Campaigns with fewer than k people are dropped; departments are hidden consistently
    across every view; then cells are hidden greedily (least informative first, totals last)
    until no group under k people and no hidden cell is determined by what is published.
    ``links``: figures beyond the engine's tables published with them (see :class:`Links`);
    their cells are planned together with the tables'. Raises ValueError when that takes
    more than ``max_hidden`` cells.
    """
    k = threshold(k)
    links = links or Links()
    for publication in publications:
        if publication.kind not in KINDS:
            raise ValueError(f"Unknown publication kind {publication.kind!r}; one of {KINDS}.")
    if k == 0:
        plan = DisclosurePlan(k=0)
        _, shown, hidden = published_cells(engine, publications, plan)
        _, linked_shown, linked_hidden = links.cells(plan)
        return plan, AuditResult(len(shown | linked_shown), len(hidden | linked_hidden), 0, 0)
    dropped = dropped_campaigns(engine, k)
    kept = tuple(str(c) for c in engine.campaign_labels if str(c) not in dropped)
    publications = [_without(p, dropped, kept) for p in publications]
    publications = [p for p in publications if p is not None]
    rows = engine.baseline_mask(Selection(campaign_ids=kept))
    departments = _hidden_departments(engine, rows, k)
    plan = DisclosurePlan(k=k, dropped_campaigns=dropped, hidden_departments=departments)
    people, shown, hidden = published_cells(engine, publications, plan)
    linked_people, linked_shown, linked_hidden = links.cells(plan)
    people |= linked_people
    hidden |= linked_hidden
    shown = (shown | linked_shown) - hidden
    present = _departments_by_campaign(engine, rows)
    totals = {
        cell
        for cell in people
        if (links.is_total(cell) if cell.level in links.levels else _is_total(cell, present))
    }
    atom_people = _atom_people(engine, rows)
    questions = _questions_by_campaign(atom_people[ANSWER_LEVEL])
    spaces = links.spaces(atom_people, k, shown | hidden)
    for _ in range(max_hidden):
        to_hide: set[Cell] = set()
        images = _all_images(shown, questions, links)
        for level in (*_LEVELS, *links.levels):
            checks = _Checks(spaces[level], shown, hidden, images)
            determined = checks.determined(limit=1)
            if determined:
                _, candidates = determined[0]

                def order(row: Cell, sources: dict[Cell, set[Cell]] = checks.sources) -> tuple:
                    # Totals last; the linked figures before the engine's tables, so adding
                    # a page never blanks the figures the other pages showed without it.
                    cells = sources[row]
                    return (
                        any(c in totals for c in cells),
                        any(c.level not in links.levels for c in cells),
                        max(people.get(c, 0) for c in cells),
                        len(row.atoms),
                        _cell_order(row),
                    )

                to_hide = checks.sources[min(candidates, key=order)]
                break
        if not to_hide:
            plan = replace(plan, hidden_cells=frozenset(hidden))
            return plan, audit(engine, shown, hidden, k, rows, links)
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


# -- a dashboard session: one published set that grows as views are shown --------------------

#: Joins a department and the signature of the narrowed views a refined atom's people fall in.
_REFINED = "\x1f"


class SessionDisclosure:
    """The disclosure plan of one interactive session at one k: everything its dashboards show
    is one published set, checked as it grows.

    It starts with the departments the report plan would hide everywhere (over every campaign).
    Each table a view computes is then :meth:`admit`-ted before anyone sees it: its new cells
    are checked, with the same rank test as a report's, against everything the session has
    shown, and any new cell that would let sums and differences reveal a group under k people
    (or a hidden cell) is blanked, as is any cell hidden earlier in the session. Figures
    already shown are never withdrawn, so the order of choices decides which later figure is
    hidden.

    Search, status and user-state choices narrow the people within atoms, so their cells
    (:attr:`~awareness_analysis.analysis.engine.Cell.within`) are checked on *refined* atoms:
    each (campaign, department[, question]) split by which of the session's narrowed views its
    people fall in. The groups checked are those atoms under k people and the usual ones
    (atoms, campaigns, departments over the campaigns).
    """

    def __init__(self, engine: Engine, k: int) -> None:
        self.engine = engine
        self.k = threshold(k)
        everyone = np.ones(len(engine.users), dtype=bool)
        self.plan = DisclosurePlan(
            k=self.k, hidden_departments=_hidden_departments(engine, everyone, self.k)
        )
        self.shown: set[Cell] = set()
        self.hidden: set[Cell] = set()
        #: Each narrowed view's rows (users), by its cells' ``within``, in arrival order.
        self.masks: dict[str, np.ndarray] = {}
        self._levels = {level: _RefinedLevel(engine, level) for level in _LEVELS}
        self._groups: dict[str, list[np.ndarray]] = {}
        # Caches over the current refinement (cleared when a new narrowed view splits atoms).
        self._refined_of: dict[Cell, Cell] = {}
        self._image_of: dict[Cell, Cell | None] = {}
        self._questions: dict[str, set[str]] | None = None

    def admit(self, view: Any, cells: Sequence[Cell], suppressed: Sequence[bool]) -> np.ndarray:
        """Add one table's figures (its rows' ``cells``; ``suppressed`` already) of ``view`` (an
        engine View) to the set. Returns the rows to blank as well: cells hidden earlier in the
        session, and new cells that would let sums and differences reveal a group under k
        people or a hidden cell."""
        for rows in (view.matched, view.baseline):
            key = view.within(rows)
            if key and key not in self.masks:
                self.masks[key] = rows.copy()
                for level in self._levels.values():
                    level.split(rows)
                self._groups.clear()
                self._refined_of.clear()
                self._image_of.clear()
                self._questions = None
        blank = np.array(
            [not s and c in self.hidden for c, s in zip(cells, suppressed, strict=True)], bool
        )
        self.hidden |= {c for c, s in zip(cells, suppressed, strict=True) if s} - self.shown
        fresh = {
            c
            for c, s, b in zip(cells, suppressed, blank, strict=True)
            if not s and not b and c not in self.shown
        }
        hide: set[Cell] = set()
        while fresh - hide:
            leaks = self._first_leak(self.shown | (fresh - hide), self.hidden | hide)
            if leaks is None:
                break
            chosen: set[Cell] = set()
            for sources in leaks:
                candidates = sorted(
                    (fresh - hide) & sources, key=lambda c: (len(c.atoms), _cell_order(c))
                )
                if not candidates:
                    # Never expected (the set passed before): hiding every new cell keeps the
                    # set as it was.
                    chosen = fresh - hide
                    break
                if chosen.isdisjoint(candidates):  # one new cell per leak (the smallest)
                    chosen.add(candidates[0])
            hide |= chosen
        self.shown |= fresh - hide
        self.hidden |= hide
        return blank | np.array([c in hide for c in cells], dtype=bool)

    def _first_leak(self, shown: set[Cell], hidden: set[Cell]) -> list[set[Cell]] | None:
        """For each of the first determined groups, the published cells it comes from; None
        when nothing is determined."""
        keys = list(self.masks)
        published: dict[Cell, set[Cell]] = {}
        for cell in shown:
            published.setdefault(self._refine(cell, keys), set()).add(cell)
        if self._questions is None:
            self._questions = self._levels[ANSWER_LEVEL].questions()
        for cell in list(published):
            if cell not in self._image_of:
                images = _images([cell], self._questions)
                self._image_of[cell] = next(iter(images), None)
            image = self._image_of[cell]
            if image is not None:
                published.setdefault(image, set()).update(published[cell])
        secret = [self._refine(c, keys) for c in sorted(hidden, key=_cell_order)]
        for level in _LEVELS:
            refined = self._levels[level]
            if level not in self._groups:
                self._groups[level] = [refined.ids(atoms) for _, atoms in refined.groups(self.k)]
            rows = sorted((c for c in published if c.level == level), key=_cell_order)
            groups = self._groups[level] + [
                refined.ids(c.atoms) for c in secret if c.level == level
            ]
            found = _determined(
                [refined.ids(c.atoms) for c in rows], groups, len(refined.names), _LEAKS_PER_ROUND
            )
            if found:
                return [
                    {original for i in used for original in published[rows[i]]} for _, used in found
                ]
        return None

    def _refine(self, cell: Cell, keys: list[str]) -> Cell:
        """``cell`` as refined atoms: its atoms' refined ones, only those inside its narrowed
        view when it has one."""
        refined = self._refined_of.get(cell)
        if refined is None:
            bit = 1 << keys.index(cell.within) if cell.within else 0
            refined = Cell(cell.level, self._levels[cell.level].refined(cell.atoms, bit))
            self._refined_of[cell] = refined
        return refined


_LEVELS = (ENROLMENT_LEVEL, ANSWER_LEVEL)


#: Determined groups resolved per round of a session's check (each gets one cell hidden).
_LEAKS_PER_ROUND = 32


def _determined(
    rows: Sequence[np.ndarray],
    groups: Sequence[np.ndarray],
    n_atoms: int,
    limit: int | None = None,
    weights: Sequence[np.ndarray] | None = None,
) -> list[tuple[int, list[int]]]:
    """The rank test, for reports and sessions alike: each group (index, in order; the first
    ``limit``) that sums and differences of the rows determine, with the rows a combination
    equal to it uses. Rows and groups are arrays of atom ids below ``n_atoms``; ``weights``
    (parallel to ``rows``, default all 1) make a row a weighted sum of its atoms.

    Exact, on a compressed system: atoms no row covers make any group holding them
    undetermined, and atoms covered by exactly the same rows are one column (a group holding
    only some of them is undetermined: their difference is in the null space). Every group is
    then tested at once against an orthonormal basis of the rows.
    """
    if not rows or not groups:
        return []
    published = _incidence(rows, n_atoms, weights)
    covered = np.asarray(abs(published).sum(axis=0)).reshape(-1) > 0
    # Columns with equal vectors have equal random projections (and almost surely only they).
    projection = published.T @ np.random.default_rng(0).random((len(rows), 2))
    keys = np.round(projection[covered], 9)
    _, column_of_covered = np.unique(keys, axis=0, return_inverse=True)
    column = np.full(n_atoms, -1)
    column[covered] = column_of_covered.reshape(-1)
    n_columns = int(column.max(initial=-1)) + 1
    members = sparse.csr_matrix(
        (np.ones(int(covered.sum())), (np.flatnonzero(covered), column[covered])),
        shape=(n_atoms, n_columns),
    )
    wanted_all = _incidence(groups, n_atoms)
    outside = np.asarray(wanted_all @ (~covered).astype(float)).reshape(-1) > 0
    per_column = (wanted_all @ members).tocsr()
    size = np.asarray(members.sum(axis=0)).reshape(-1)
    # A group holding part of a column only: some entry short of the column's size.
    entry_row = np.repeat(np.arange(per_column.shape[0]), np.diff(per_column.indptr))
    partial = np.zeros(per_column.shape[0], dtype=bool)
    partial[entry_row[per_column.data != size[per_column.indices]]] = True
    candidates = np.flatnonzero(~partial & ~outside & (np.diff(per_column.indptr) > 0))
    if not len(candidates):
        return []
    # A merged column's coefficient in a row is its atoms' common weight.
    matrix = (published @ members @ sparse.diags(1.0 / size)).tocsr()
    basis = _sparse_row_basis(matrix)
    wanted = per_column[candidates]
    wanted.data[:] = 1.0
    # |residual|^2 = |g|^2 - |B g|^2 for an orthonormal basis B of the rows.
    squared = np.asarray(wanted.sum(axis=1)).reshape(-1)
    projected = np.asarray(wanted @ basis.T)
    residual = np.sqrt(np.maximum(squared - np.sum(projected**2, axis=1), 0.0))
    scale = np.maximum(1.0, np.sqrt(squared))
    determined = np.flatnonzero(residual < _TOLERANCE * scale)
    if not len(determined):
        return []
    # Every determined group's combination, from one least-squares solve.
    determined = determined[:limit]
    weights, *_ = np.linalg.lstsq(matrix.toarray().T, wanted[determined].toarray().T, rcond=None)
    return [
        (int(candidates[d]), np.flatnonzero(np.abs(w) > 1e-9).tolist())
        for d, w in zip(determined, weights.T, strict=True)
    ]


def _sparse_row_basis(matrix: sparse.csr_matrix) -> np.ndarray:
    """An orthonormal basis of a sparse matrix's row space, from the eigenvectors of its
    (small, dense) Gram matrix: far cheaper than an SVD of the wide matrix."""
    gram = (matrix @ matrix.T).toarray()
    values, vectors = np.linalg.eigh(gram)
    keep = values > max(values.max(initial=0.0), 1.0) * 1e-10
    return np.asarray((vectors[:, keep].T @ matrix) / np.sqrt(values[keep])[:, None])


def _incidence(
    sets: Sequence[np.ndarray], n_atoms: int, weights: Sequence[np.ndarray] | None = None
) -> sparse.csr_matrix:
    """Rows over ``n_atoms`` columns, one per array of atom ids: 0/1, or ``weights``."""
    lengths = [len(x) for x in sets]
    columns = np.concatenate(sets) if sets else np.zeros(0, dtype=np.int64)
    values = np.concatenate(weights) if weights else np.ones(len(columns))
    rows = np.repeat(np.arange(len(sets)), lengths)
    return sparse.csr_matrix((values, (rows, columns)), shape=(len(sets), n_atoms))


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, unordered (pandas' hash table: several times faster than
    ``np.unique`` on millions of int64)."""
    return np.asarray(pd.unique(values))


class _RefinedLevel:
    """One level's atoms split by the narrowed views their units fall in: each unit's refined
    atom id, each refined atom's coarse atom and view bits (bit i: inside the i-th view)."""

    def __init__(self, engine: Engine, level: str) -> None:
        self.engine = engine
        self.level = level
        n_departments = len(engine.department_dtype.categories)
        if level == ENROLMENT_LEVEL:
            self.user_row = np.arange(len(engine.users))
            atom = engine.atom.astype(np.int64)
            self.n_questions = 1
        else:
            linked = engine.answer_row >= 0
            self.user_row = engine.answer_row[linked]
            self.n_questions = max(len(engine.question_labels), 1)
            atom = engine.atom[self.user_row].astype(np.int64) * self.n_questions
            atom = atom + engine.question[linked]
        self.n_departments = n_departments
        self.person = engine.person[self.user_row].astype(np.int64)
        self.n_persons = int(self.person.max(initial=-1)) + 1
        # Atom ids are small: relabelled through a presence table (no sort, no hash).
        present = np.bincount(atom) > 0
        codes = np.flatnonzero(present)
        self.unit = (np.cumsum(present) - 1)[atom]
        # When nobody has two units in one atom (no duplicate enrolment), a refined atom's
        # people are simply its units: counted without another distinct count.
        self.one_unit_each = len(
            _distinct(self.unit.astype(np.int64) * self.n_persons + self.person)
        ) == len(self.unit)
        self.coarse = codes  # refined id -> coarse atom id
        self.bits = [0] * len(codes)  # refined id -> view bits
        self.n_views = 0
        self._coarse_groups: tuple[int, list[tuple[str, int, str]]] | None = None
        self._names()

    def _names(self) -> None:
        coarse_names = {a: self.engine.atom_name(a, self.level) for a in set(self.coarse.tolist())}
        self.names: list[tuple[str, ...]] = []
        self.by_coarse: dict[tuple[str, ...], list[int]] = {}
        for rid, (atom, bits) in enumerate(zip(self.coarse.tolist(), self.bits, strict=True)):
            name = coarse_names[atom]
            self.names.append((name[0], f"{name[1]}{_REFINED}{bits:x}", *name[2:]))
            self.by_coarse.setdefault(name, []).append(rid)
        self.id_of = {name: rid for rid, name in enumerate(self.names)}

    def split(self, rows: np.ndarray) -> None:
        """Split every refined atom by a new narrowed view's user ``rows``."""
        combined = self.unit.astype(np.int64) * 2 + rows[self.user_row]
        # Relabelled in order without sorting: ids stay in (old id, inside) order.
        present = np.bincount(combined, minlength=2 * len(self.coarse)) > 0
        codes = np.flatnonzero(present)
        self.unit = (np.cumsum(present) - 1)[combined]
        old = codes // 2
        self.coarse = self.coarse[old]
        self.bits = [self.bits[o] | (int(b) << self.n_views) for o, b in zip(
            old.tolist(), (codes % 2).tolist(), strict=True)]  # fmt: skip
        self.n_views += 1
        self._names()

    def ids(self, atoms: Iterable[tuple[str, ...]]) -> np.ndarray:
        """Refined atom names as ids (names without units, which count nobody, left out: an
        enrolment cell's image among answers may name atoms nobody answered in)."""
        found = (self.id_of.get(a, -1) for a in atoms)
        return np.fromiter((i for i in found if i >= 0), dtype=np.int64)

    def refined(self, atoms: Iterable[tuple[str, ...]], bit: int) -> frozenset[tuple[str, ...]]:
        return frozenset(
            self.names[rid]
            for atom in atoms
            for rid in self.by_coarse.get(atom, ())
            if not bit or self.bits[rid] & bit
        )

    def questions(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for name in self.by_coarse:
            found.setdefault(name[0], set()).add(name[2])
        return found

    def groups(self, k: int) -> list[tuple[str, frozenset[tuple[str, ...]]]]:
        """Groups under k people, as refined atoms: refined atoms, and (computed once) atoms,
        campaigns, departments over the campaigns, and campaign x department over questions
        for answers. People are counted over the units at once (no per-atom sets)."""
        if k < 2:
            return []
        if self._coarse_groups is None or self._coarse_groups[0] != k:
            self._coarse_groups = (k, self._small_coarse_groups(k))
        found: dict[frozenset[tuple[str, ...]], str] = {}
        if self.one_unit_each:
            sizes = np.bincount(self.unit, minlength=len(self.coarse))
        else:
            pairs = _distinct(self.unit.astype(np.int64) * self.n_persons + self.person)
            sizes = np.bincount(pairs // self.n_persons, minlength=len(self.coarse))
        for rid in np.flatnonzero((sizes > 0) & (sizes < k)).tolist():
            where = " / ".join(self.names[rid])
            found.setdefault(frozenset([self.names[rid]]), f"{self.level} {where}")
        keys = self._coarse_keys(self.coarse)
        for kind, value, description in self._coarse_groups[1]:
            members = np.flatnonzero(keys[kind] == value).tolist()
            atoms = frozenset(self.names[rid] for rid in members)
            found.setdefault(atoms, description)
        return [(description, atoms) for atoms, description in found.items()]

    def _coarse_keys(self, atom: np.ndarray) -> dict[str, np.ndarray]:
        """Per coarse atom id: its cell, campaign, department (and campaign x department)."""
        pair = atom // self.n_questions  # (campaign, department)
        keys = {
            "cell": atom,
            "campaign": pair // self.n_departments,
            "department": pair % self.n_departments,
        }
        if self.level == ANSWER_LEVEL:
            keys["campaign x department"] = pair
        return keys

    def _small_coarse_groups(self, k: int) -> list[tuple[str, int, str]]:
        """(kind, value, description) of the coarse groups under k people."""
        unit_atom = self.coarse[self.unit]
        small = []
        for kind, key in self._coarse_keys(unit_atom).items():
            distinct = _distinct(key.astype(np.int64) * self.n_persons + self.person)
            size = np.bincount(distinct // self.n_persons)
            for value in np.flatnonzero((size > 0) & (size < k)).tolist():
                first = int(np.flatnonzero(key == value)[0])
                name = self.engine.atom_name(int(unit_atom[first]), self.level)
                small.append((kind, value, f"{self.level} {kind} of {' / '.join(name)} "
                              f"({size[value]} people)"))  # fmt: skip
        return small


# -- a report run: its plan, and the log of what its pages publish -----------------------------


@dataclass(frozen=True)
class ReportContext:
    """What the report renderer tells each notebook: the plan, the page, where to log."""

    plan: DisclosurePlan
    page: str
    log: str  # JSON lines, one per published figure (hidden ones marked)
    include_people: bool = False
    #: The people file options the plan was made with (path, key, grouping, sha256); None:
    #: no people file. ``open_analysis`` applies them in every notebook of the run.
    people: Mapping[str, str] | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "plan": json.loads(self.plan.to_json()),
                "page": self.page,
                "log": self.log,
                "include_people": self.include_people,
                "people": dict(self.people) if self.people else None,
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
            people=data.get("people"),
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
