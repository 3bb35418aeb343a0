"""The knowledge-and-behaviour page of a shared report, under the report's one disclosure plan.

Its figures join the awareness figures in one published set (:mod:`~awareness_analysis.
analysis.disclosure`): the planner hides their cells as it hides the tables', and the audit
checks them with the same rank test. Three levels of their own, each with atoms:

* ``phishing`` -- (phishing campaign, department): people sent the campaign. Phishing rates
  and time to click or report count the people of their atoms.
* ``pairs`` -- the same atoms, for knowledge x behaviour figures (risk ratios, the model):
  they count who knew and who clicked or reported, attributes the phishing figures do not
  show. What they add to the phishing figures is checked there too (a pairs cell is also a
  phishing row).
* ``safe`` -- (SAFE risk grade, department): graded people who answered something; answer
  accuracy per grade.

**Ties to the awareness figures.** Whether a person "knew" before a phishing campaign comes
from their enrolments in awareness campaigns launched before it, so a pairs figure is modelled
as a sum over those enrolments, each counted once per phishing campaign of the figure that it
precedes (a weighted row). Accuracy per SAFE grade is a sum over its people's enrolments. So
the enrolment level is *refined*: each (campaign, department) atom splits by which phishing
atoms its enrolments precede and by the person's SAFE key (grade, department), and these
figures become rows over the refined columns. The groups checked there are the usual ones and
refined atoms, SAFE keys, grades and the enrolments before a phishing atom, under k people.
Without this, an awareness count minus a "knew" count could single out the few people who
were not sent a phishing campaign.

Model estimates (Mantel-Haenszel, Poisson and logistic fits, Spearman's rho) are published
only beside the counts of their cell, and hidden with them; their strata are not published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from awareness_analysis.analysis.behaviour import (
    BEHAVIOURS,
    SafeAccuracy,
    TimeToEvent,
    blank_rows,
    knowledge_behaviour_pairs,
    knowledge_click_model,
    knowledge_click_risk_ratio,
    phishing_hidden_departments,
    phishing_rates,
    safe_vs_accuracy,
    time_to_event,
)
from awareness_analysis.analysis.disclosure import (
    DisclosurePlan,
    LevelSpace,
    Links,
    _sensitive_groups,
    plain_space,
)
from awareness_analysis.analysis.engine import ANSWER_LEVEL, ENROLMENT_LEVEL, Cell, Engine
from awareness_analysis.analysis.privacy import person_keys, threshold
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.data.behaviour import RISK_DTYPE

__all__ = [
    "PAIRS_LEVEL",
    "PHISHING_LEVEL",
    "SAFE_LEVEL",
    "BehaviourFigures",
    "BehaviourView",
    "behaviour_figures",
]

PHISHING_LEVEL = "phishing"
PAIRS_LEVEL = "pairs"
SAFE_LEVEL = "safe"
#: ``Cell.within`` of a pairs or SAFE cell's image among enrolments (a linked row).
_PAIRS_LINK = "pairs"
_SAFE_LINK = "safe"
#: Count columns blanked with a hidden row, per table.
_COUNTS = {
    "rates": ("successes", "n", "people"),
    "risk_ratio": (
        "n",
        "people",
        "n_knew",
        "events_knew",
        "n_not_knew",
        "events_not_knew",
        "strata",
    ),
    "model": ("n", "people", "n_knew", "n_not_knew", "levels"),
    "grades": ("people", "answers"),
    "correlation": ("people",),
    "median": ("n", "people", "events", "censored"),
}

Atom = tuple[str, ...]


@dataclass(frozen=True)
class BehaviourView:
    """One pre-rendered view of the page: phishing campaigns and departments (empty: all)."""

    group: str
    label: str
    phish_campaign_ids: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()


def _people_by_atom(atoms: Iterable[Atom], people: Iterable[Any]) -> dict[Atom, set[Any]]:
    found: dict[Atom, set[Any]] = {}
    for atom, person in zip(atoms, people, strict=True):
        found.setdefault(atom, set()).add(person)
    return found


def _ids(array: Iterable[int]) -> np.ndarray:
    return np.fromiter(array, dtype=np.int64)


class BehaviourFigures(Links):
    """The knowledge-and-behaviour figures of one report: its views, each view's tables with
    the cell every row counts (hidden cells blanked), and the links the planner and the audit
    use (:class:`~awareness_analysis.analysis.disclosure.Links`).

    ``users``/``campaigns`` are the awareness frames the report covers (``engine``, built
    from them, is needed by the planner and the audit only), the phishing and SAFE frames
    those of the same snapshot. Phishing campaigns sent to fewer than ``k`` people are left
    out (``dropped``), as awareness campaigns are. :func:`behaviour_figures` makes one from an
    analysis.
    """

    levels = (PHISHING_LEVEL, PAIRS_LEVEL, SAFE_LEVEL)

    def __init__(
        self,
        *,
        engine: Engine | None,
        users: pd.DataFrame,
        campaigns: pd.DataFrame,
        phish_users: pd.DataFrame,
        phish_campaigns: pd.DataFrame,
        safe_scores: pd.DataFrame | None,
        as_of: datetime,
        k: int,
    ) -> None:
        self.engine = engine
        self.users = users
        self.campaigns = campaigns
        self.k = threshold(k)
        self.as_of = as_of
        self.phish_campaigns = phish_campaigns
        campaign_ids = phish_users["phish_campaign_id"].astype(str).to_numpy(dtype=object)
        persons = person_keys(phish_users["email"]).to_numpy(dtype=object)
        recipients = pd.Series(persons).groupby(campaign_ids).nunique()
        self.dropped = tuple(sorted(c for c, n in recipients.items() if 0 < n < self.k))
        keep = ~np.isin(campaign_ids, list(self.dropped))
        self.phish_users = phish_users.loc[keep]
        self.pairs = knowledge_behaviour_pairs(users, campaigns, self.phish_users, phish_campaigns)
        self.safe_scores = safe_scores
        #: Departments folded among the phishing recipients (no view of their own).
        self.hidden_departments = phishing_hidden_departments(self.phish_users, self.k)
        names = dict(
            zip(
                phish_campaigns["phish_campaign_id"].astype(str),
                phish_campaigns["phish_campaign_name"].astype(str),
                strict=True,
            )
        )
        present = set(campaign_ids[keep].tolist())
        self.campaign_names = {c: names.get(c, c) for c in names if c in present}
        # Who is in each atom, per level (person keys as str).
        phish_atoms = list(
            zip(
                campaign_ids[keep].tolist(),
                self.phish_users["department"].astype(str).tolist(),
                strict=True,
            )
        )
        self.atom_people: dict[str, dict[Atom, set[Any]]] = {
            PHISHING_LEVEL: _people_by_atom(phish_atoms, persons[keep].tolist()),
            PAIRS_LEVEL: _people_by_atom(
                zip(
                    self.pairs["phish_campaign_id"].astype(str).tolist(),
                    self.pairs["department"].astype(str).tolist(),
                    strict=True,
                ),
                self.pairs["person"].astype(str).tolist(),
            ),
            SAFE_LEVEL: {},
        }
        # People who answered something (those safe_vs_accuracy counts), once for every view.
        answered = users["n_correct"].to_numpy() + users["n_incorrect"].to_numpy()
        persons_answering = person_keys(users["email"]).to_numpy(dtype=object)[answered > 0]
        self._answered_people = set(persons_answering)
        self._safe_key = self._safe_keys()
        for person, key in self._safe_key.items():
            self.atom_people[SAFE_LEVEL].setdefault(key, set()).add(person)
        #: The departments the report plan folds (set when the planner asks for the cells).
        self.plan_hidden: tuple[str, ...] = ()

    # -- views and their tables ---------------------------------------------------------------

    def views(self, hidden_departments: Iterable[str] = ()) -> list[BehaviourView]:
        """The page's views: everything, each phishing campaign, each department shown (not
        folded here, nor in ``hidden_departments``: the report plan's)."""
        views = [BehaviourView("", "All phishing campaigns and departments")]
        views += [
            BehaviourView("Phishing campaign", name, (cid,))
            for cid, name in self.campaign_names.items()
        ]
        departments = sorted(
            set(self.phish_users["department"].astype(str))
            - set(self.hidden_departments)
            - set(hidden_departments)
        )
        views += [BehaviourView("Department", d, (), (d,)) for d in departments]
        return views

    def _mask(self, frame: pd.DataFrame, view: BehaviourView, campaign: str | None) -> np.ndarray:
        mask = np.ones(len(frame), dtype=bool)
        if campaign is not None and view.phish_campaign_ids:
            mask &= frame[campaign].astype(str).isin(view.phish_campaign_ids).to_numpy()
        if view.departments:
            mask &= frame["department"].astype(str).isin(view.departments).to_numpy()
        return mask

    def tables(self, view: BehaviourView, hidden: Iterable[Cell] = ()) -> dict[str, Any]:
        """The view's tables (``rates``, ``risk_ratio``, ``model``, ``safe`` (None in a
        phishing campaign's view), ``time_to_click``, ``time_to_report``), each row with its
        ``cell``; rows of ``hidden`` cells blanked like rows the small-group rule hides."""
        hidden = set(hidden)
        k = self.k
        phish = self.phish_users.loc[self._mask(self.phish_users, view, "phish_campaign_id")]
        pairs = self.pairs.loc[self._mask(self.pairs, view, "phish_campaign_id")]
        atoms = self._atoms_by_campaign(phish)
        everything = Cell(PHISHING_LEVEL, frozenset().union(*atoms.values()))
        rates = phishing_rates(phish, k)
        rates["cell"] = [
            Cell(PHISHING_LEVEL, atoms[str(c)]) for c in rates["phish_campaign_id"].astype(str)
        ]
        pair_cell = Cell(PAIRS_LEVEL, self._atoms_of(pairs))
        risk_ratio = knowledge_click_risk_ratio(pairs, k)
        models = [knowledge_click_model(pairs, k, outcome=o) for o in BEHAVIOURS]
        model = pd.concat(models, ignore_index=True)
        model.attrs = dict(models[0].attrs)
        for table in (risk_ratio, model):
            table["cell"] = [pair_cell] * len(table)
        tables: dict[str, Any] = {
            "rates": _hide(rates, hidden, "rates"),
            "risk_ratio": _hide(risk_ratio, hidden, "risk_ratio"),
            "model": _hide(model, hidden, "model"),
            # SAFE grades belong to people, not to phishing campaigns: a campaign's view
            # would repeat the grades of all campaigns, so only the other views have them.
            "safe": None if view.phish_campaign_ids else self._safe(view, hidden),
        }
        for name, event in (("time_to_click", "clicked"), ("time_to_report", "reported")):
            result = time_to_event(
                phish, self.as_of, event, phish_campaigns=self.phish_campaigns, k=k
            )
            median = result.median.assign(cell=[everything])
            median = _hide(median, hidden, "median")
            curve = result.curve.iloc[:0] if median["suppressed"].any() else result.curve
            tables[name] = TimeToEvent(curve=curve, median=median)
        return tables

    def _safe(self, view: BehaviourView, hidden: set[Cell]) -> SafeAccuracy | None:
        if self.safe_scores is None:
            return None
        scores = self.safe_scores.loc[self._mask(self.safe_scores, view, None)]
        result = safe_vs_accuracy(scores, self.users, self.k)
        keys = [
            key
            for key in self._safe_keys(scores).values()
            if key[1] in view.departments or not view.departments
        ]
        by_grade: dict[str, set[Atom]] = {}
        for key in keys:
            by_grade.setdefault(key[0], set()).add(key)
        grades = result.grades.copy()
        grades.attrs = dict(result.grades.attrs)
        grades["cell"] = [
            Cell(SAFE_LEVEL, frozenset(by_grade.get(str(g), ()))) for g in grades["risk"]
        ]
        correlation = result.correlation.copy()
        correlation.attrs = dict(result.correlation.attrs)
        correlation["cell"] = [Cell(SAFE_LEVEL, frozenset(keys))]
        return SafeAccuracy(
            grades=_hide(grades, hidden, "grades"),
            correlation=_hide(correlation, hidden, "correlation"),
        )

    def _atoms_by_campaign(self, phish: pd.DataFrame) -> dict[str, frozenset[Atom]]:
        found: dict[str, set[Atom]] = {}
        for campaign, department in zip(
            phish["phish_campaign_id"].astype(str), phish["department"].astype(str), strict=True
        ):
            found.setdefault(campaign, set()).add((campaign, department))
        return {c: frozenset(a) for c, a in found.items()}

    def _atoms_of(self, pairs: pd.DataFrame) -> frozenset[Atom]:
        return frozenset(
            zip(
                pairs["phish_campaign_id"].astype(str),
                pairs["department"].astype(str),
                strict=True,
            )
        )

    def _safe_keys(self, scores: pd.DataFrame | None = None) -> dict[str, Atom]:
        """Person -> (grade, SAFE department) of their last graded row, for people who
        answered something (those :func:`safe_vs_accuracy` counts)."""
        scores = self.safe_scores if scores is None else scores
        if scores is None or scores.empty:
            return {}
        risk = pd.Series(
            pd.Categorical(
                scores["risk"].astype("str").where(scores["risk"].notna()), dtype=RISK_DTYPE
            )
        )
        graded = pd.DataFrame(
            {
                "person": person_keys(scores["email"]).to_numpy(dtype=object),
                "risk": risk.astype(str).to_numpy(dtype=object),
                "department": scores["department"].astype(str).to_numpy(dtype=object),
            }
        )[risk.notna().to_numpy()]
        graded = graded.drop_duplicates("person", keep="last")
        graded = graded[graded["person"].isin(self._answered_people)]
        return {
            p: (r, d)
            for p, r, d in zip(graded["person"], graded["risk"], graded["department"], strict=True)
        }

    # -- what the planner and the audit need (Links) -------------------------------------------

    def cells(self, plan: DisclosurePlan) -> tuple[dict[Cell, int], set[Cell], set[Cell]]:
        people: dict[Cell, int] = {}
        shown: set[Cell] = set()
        hidden: set[Cell] = set()
        self.plan_hidden = plan.hidden_departments
        for view in self.views(plan.hidden_departments):
            for cell, suppressed in self.view_cells(self.tables(view)):
                people.setdefault(cell, self.people_in(cell))
                (hidden if suppressed else shown).add(cell)
        return people, shown - hidden, hidden

    @staticmethod
    def view_cells(tables: Mapping[str, Any]) -> list[tuple[Cell, bool]]:
        """(cell, hidden) of every row of a view's tables."""
        frames = [tables["rates"], tables["risk_ratio"], tables["model"]]
        if tables["safe"] is not None:
            frames += [tables["safe"].grades, tables["safe"].correlation]
        frames += [tables["time_to_click"].median, tables["time_to_report"].median]
        return [
            (cell, bool(suppressed))
            for frame in frames
            for cell, suppressed in zip(frame["cell"], frame["suppressed"], strict=True)
            if cell.atoms
        ]

    def people_in(self, cell: Cell) -> int:
        atoms = self.atom_people.get(cell.level, {})
        return len(set().union(*(atoms.get(a, set()) for a in cell.atoms)))

    def is_total(self, cell: Cell) -> bool:
        atoms = self.atom_people.get(cell.level, {})
        firsts = {a[0] for a in cell.atoms}
        return all(a in cell.atoms for a in atoms if a[0] in firsts)

    def images(self, cell: Cell) -> list[Cell]:
        if cell.level == PAIRS_LEVEL:
            return [
                Cell(PHISHING_LEVEL, cell.atoms),
                Cell(ENROLMENT_LEVEL, cell.atoms, within=_PAIRS_LINK),
            ]
        if cell.level == SAFE_LEVEL:
            return [Cell(ENROLMENT_LEVEL, cell.atoms, within=_SAFE_LINK)]
        return []

    def spaces(
        self, people: dict[str, dict[Atom, set[int]]], k: int, cells: Iterable[Cell]
    ) -> dict[str, LevelSpace]:
        cells = list(cells)
        labels = {
            PHISHING_LEVEL: ("phishing campaign", "department"),
            PAIRS_LEVEL: ("phishing campaign", "department"),
            SAFE_LEVEL: ("grade", "department"),
        }
        spaces = {
            ENROLMENT_LEVEL: self._enrolment_space(people[ENROLMENT_LEVEL], k),
            ANSWER_LEVEL: plain_space(ANSWER_LEVEL, people[ANSWER_LEVEL], k, cells),
        }
        # Departments without a view of their own: what the "all" views hold beyond the
        # department views, so together they are a group an attacker can isolate.
        together = {atom[1] for atoms in self.atom_people.values() for atom in atoms} - {
            view.departments[0] for view in self.views(self.plan_hidden) if view.departments
        }
        for level, names in labels.items():
            spaces[level] = plain_space(
                level, self.atom_people[level], k, cells, names, together=together
            )
        return spaces

    def _enrolment_space(self, people: dict[Atom, set[int]], k: int) -> LevelSpace:
        """The enrolment level refined by which phishing atoms an enrolment precedes and by
        the person's SAFE key (see the module docstring)."""
        engine = self.engine
        if engine is None:
            raise ValueError("BehaviourFigures needs the engine to plan or audit a report.")
        users = engine.users
        persons = person_keys(users["email"]).to_numpy(dtype=object)
        launch = pd.Series(
            pd.to_datetime(self.campaigns["launch_date"], utc=True).array,
            index=self.campaigns["campaign_id"].astype(str).to_numpy(dtype=object),
        )
        launch = launch[~launch.index.duplicated(keep="first")]
        user_launch = users["campaign_id"].astype(str).map(launch).to_numpy(dtype="datetime64[ns]")
        # Each person's phishing atoms (every recipient's: a "knew" count's support is the
        # enrolments before it of everyone sent it, whatever they answered) with launch dates.
        phish_launch = pd.Series(
            pd.to_datetime(self.phish_campaigns["launch_date"], utc=True).array,
            index=self.phish_campaigns["phish_campaign_id"].astype(str).to_numpy(dtype=object),
        )
        phish_launch = phish_launch[~phish_launch.index.duplicated(keep="first")]
        sent = pd.DataFrame(
            {
                "person": person_keys(self.phish_users["email"]).to_numpy(dtype=object),
                "campaign": self.phish_users["phish_campaign_id"].astype(str).to_numpy(object),
                "department": self.phish_users["department"].astype(str).to_numpy(object),
            }
        ).drop_duplicates()
        sent_launch = sent["campaign"].map(phish_launch).to_numpy(dtype="datetime64[ns]")
        received: dict[Any, list[tuple[np.datetime64, Atom]]] = {}
        for person, campaign, department, when in zip(
            sent["person"], sent["campaign"], sent["department"], sent_launch, strict=True
        ):
            if not np.isnat(when):
                received.setdefault(person, []).append((when, (campaign, department)))
        coarse_names = {
            a: engine.atom_name(a, ENROLMENT_LEVEL) for a in np.unique(engine.atom).tolist()
        }
        signatures: dict[tuple[frozenset[Atom], Atom | None], int] = {}
        refined_of_unit: list[Atom] = []
        for atom, person, when in zip(engine.atom.tolist(), persons, user_launch, strict=True):
            after = frozenset(
                a for at, a in received.get(person, ()) if not np.isnat(when) and at > when
            )
            key = (after, self._safe_key.get(person))
            sig = signatures.setdefault(key, len(signatures))
            coarse = coarse_names[atom]
            refined_of_unit.append((*coarse, str(sig)))
        in_scope = [name for name in refined_of_unit if name[:2] in people]
        names = sorted(set(in_scope))
        index = {name: i for i, name in enumerate(names)}
        unit_people = _people_by_atom(refined_of_unit, engine.person.tolist())
        parts: dict[Atom, list[int]] = {}
        key_of_sig = {sig: key for key, sig in signatures.items()}
        by_pair_atom: dict[Atom, list[int]] = {}
        by_safe_key: dict[Atom, list[int]] = {}
        for name, column in index.items():
            parts.setdefault(name[:2], []).append(column)
            after, safe = key_of_sig[int(name[2])]
            for pair_atom in after:
                by_pair_atom.setdefault(pair_atom, []).append(column)
            if safe is not None:
                by_safe_key.setdefault(safe, []).append(column)
        part_ids = {atom: _ids(columns) for atom, columns in parts.items()}
        pair_ids = {atom: _ids(columns) for atom, columns in by_pair_atom.items()}
        safe_ids = {key: _ids(columns) for key, columns in by_safe_key.items()}

        groups: list[tuple[str, np.ndarray]] = []
        if k:

            def size(columns: Iterable[int]) -> int:
                return len(set().union(*(unit_people[names[c]] for c in columns)))

            for description, atoms in _sensitive_groups(people, k, ENROLMENT_LEVEL):
                groups.append((description, np.concatenate([part_ids[a] for a in atoms])))
            for name, column in index.items():
                if size([column]) < k:
                    groups.append((f"enrolments of {' / '.join(name[:2])} (part)", _ids([column])))
            grades: dict[str, list[int]] = {}
            for key, columns in safe_ids.items():
                grades.setdefault(key[0], []).extend(columns.tolist())
                if size(columns.tolist()) < k:
                    groups.append((f"enrolments of SAFE grade {key[0]} in {key[1]}", columns))
            for grade, columns in grades.items():
                if size(columns) < k:
                    groups.append((f"enrolments of SAFE grade {grade}", _ids(columns)))
            for atom, columns in pair_ids.items():
                if size(columns.tolist()) < k:
                    groups.append((f"enrolments before phishing {' / '.join(atom)}", columns))
            # Within an awareness atom, those sent a phishing atom later and those not: a
            # "knew" count taken from the atom's count isolates either.
            for coarse, columns in parts.items():
                preceding: dict[Atom, set[int]] = {}
                for column in columns:
                    for pair_atom in key_of_sig[int(names[column][2])][0]:
                        preceding.setdefault(pair_atom, set()).add(column)
                for pair_atom, inside in sorted(preceding.items()):
                    outside = set(columns) - inside
                    where = f"{' / '.join(coarse)} {{}} phishing {' / '.join(pair_atom)}"
                    for part, word in ((inside, "before"), (outside, "not before")):
                        if part and size(part) < k:
                            groups.append((f"enrolments of {where.format(word)}", _ids(part)))

        def weigh(cell: Cell) -> tuple[np.ndarray, np.ndarray]:
            by = pair_ids if cell.within == _PAIRS_LINK else safe_ids
            found = [by[a] for a in cell.atoms if a in by]
            if not found:
                return np.zeros(0, dtype=np.int64), np.zeros(0)
            counts = np.bincount(np.concatenate(found), minlength=len(index))
            ids = np.flatnonzero(counts)
            return ids, counts[ids].astype(np.float64)

        return LevelSpace(ENROLMENT_LEVEL, index, groups, parts=part_ids, weigh=weigh)


def _hide(table: pd.DataFrame, hidden: set[Cell], kind: str) -> pd.DataFrame:
    """``table`` with the rows of ``hidden`` cells blanked (and those already hidden)."""
    hide = np.array([cell in hidden for cell in table["cell"]], dtype=bool)
    return blank_rows(table, hide | table["suppressed"].to_numpy(dtype=bool), _COUNTS[kind])


def behaviour_figures(analysis: Analysis) -> BehaviourFigures | None:
    """The knowledge-and-behaviour figures of ``analysis`` (None when its snapshot has no
    phishing tables: the page then shows how to fetch them, and publishes nothing)."""
    tables = analysis.tables
    if not all(name in tables for name in ("phish_campaigns", "phish_users")):
        return None
    return BehaviourFigures(
        engine=analysis.engine,
        users=analysis.users,
        campaigns=analysis.campaigns,
        phish_users=tables["phish_users"],
        phish_campaigns=tables["phish_campaigns"],
        safe_scores=tables.get("safe_scores"),
        as_of=analysis.as_of,
        k=analysis.min_group_size,
    )
