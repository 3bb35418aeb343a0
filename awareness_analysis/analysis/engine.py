"""The one analysis engine: selection, then small-group suppression, then metric tables.

Every figure the package shows comes from here: the public pandas functions in
:mod:`awareness_analysis.analysis.metrics`, :meth:`Selection.apply
<awareness_analysis.analysis.filters.Selection.apply>`, :func:`suppress_departments
<awareness_analysis.analysis.privacy.suppress_departments>`, the dashboards and the shared
reports. :class:`Engine` does the per-row work once per pair of frames (integer codes, flags,
person codes, the answer-to-user join); a :class:`View` is then a few boolean masks and
``np.bincount`` calls, fast enough to redraw a dashboard on every filter change.

What a view counts (see :data:`awareness_analysis.analysis.metrics.DEFINITIONS`):

* The **baseline** is everyone in the selected campaigns with the selected statuses (and user
  states). It is the organisation: the organisation line and the group every department is
  compared with. Department and search filters choose what is *shown*, never the baseline.
* **Suppression** is decided on the baseline, counting distinct people (email trimmed and
  lower-cased): departments under k people are combined into ``(suppressed)``, with the
  complementary step of :func:`awareness_analysis.analysis.privacy.choose_hidden`. Any table
  row covering fewer than k people is blanked (:func:`~awareness_analysis.analysis.privacy.
  suppress_rows`), and the organisation figures too when the baseline has fewer than k people.
* **Units.** Every rate table carries ``n`` (enrolments = campaign x person rows, or answers for
  accuracy), ``people`` (distinct people in n) and ``design_effect``; intervals and tests use
  the person-clustered effective n (:mod:`awareness_analysis.analysis.stats`), so a pooled view
  over many campaigns never treats one person's repeated rows as independent.
* Each **department is compared with the rest of the organisation** (baseline rows outside the
  department) by a pooled two-proportion z-test on effective n, Benjamini-Hochberg adjusted over
  the departments tested; significant means q < 0.05.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.privacy import (
    choose_hidden,
    person_keys,
    relabel_codes,
    suppress_rows,
    threshold,
)
from awareness_analysis.analysis.stats import (
    CONFIDENCE,
    benjamini_hochberg,
    cluster_pairs,
    design_effect,
    two_proportion_z,
    wilson_interval,
)
from awareness_analysis.vocabulary import (
    ACCURACY,
    DEPARTMENT_METRICS,
    OUTCOMES,
    SUPPRESSED_LABEL,
    UNASSIGNED_DEPARTMENT,
    UNIT_ANSWERS,
    UNIT_ENROLMENTS,
    USER_METRICS,
)

if TYPE_CHECKING:
    from awareness_analysis.analysis.disclosure import DisclosurePlan, SessionDisclosure

__all__ = [
    "ANSWER_LEVEL",
    "ENROLMENT_LEVEL",
    "SIGNIFICANCE_LEVEL",
    "USER_COLUMNS",
    "Cell",
    "Engine",
    "Suppression",
    "View",
]

#: Levels of the atoms a figure counts: enrolments (campaign, department) and answers
#: (campaign, department, question).
ENROLMENT_LEVEL = "enrolment"
ANSWER_LEVEL = "answer"


@dataclass(frozen=True)
class Cell:
    """What one published figure counts: a set of atoms of one level. Two figures with the
    same cell count the same people, wherever they are shown."""

    level: str
    atoms: frozenset[tuple[str, ...]]
    #: The people a figure counts within its atoms when a search, status or user-state choice
    #: narrows them: a digest of those rows (see :meth:`View.within`); empty for everyone.
    within: str = ""

    def __repr__(self) -> str:
        return f"Cell({self.level}, {len(self.atoms)} atoms)"

    def __deepcopy__(self, memo: dict[int, Any]) -> Cell:
        return self  # immutable; pandas deep-copies table attrs (the organisation's cell) often


#: A department differs from the rest of the organisation when its BH q-value is below this.
SIGNIFICANCE_LEVEL = 0.05
#: Columns of the users frame the engine needs.
USER_COLUMNS = (
    "campaign_id",
    "campaign_name",
    "email",
    "department",
    "outcome",
    "acknowledged",
    "n_questions",
    "n_correct",
)
ANSWER_COLUMNS = ("campaign_id", "email", "question", "result")
_SEARCH_COLUMNS = ("name", "email")  # and the department as shown (after suppression)
_SUPPRESSION_CACHE_SIZE = 16
_CODE = np.int32


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for missing) and the values they stand for; categories keep their
    order, other columns are factorised sorted (the order ``groupby(sort=True)`` uses)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(dtype=_CODE), column.cat.categories
    codes, uniques = pd.factorize(column, sort=True)
    return codes.astype(_CODE), pd.Index(uniques)


def _lookup(labels: pd.Index, wanted: Sequence[str]) -> np.ndarray:
    """Boolean per code, plus a False slot for -1: which labels are in ``wanted``."""
    names = np.asarray(labels.astype("str"), dtype=object)
    return np.append(np.isin(names, list(wanted)), False)


def _string_codes(*columns: pd.Series) -> list[np.ndarray]:
    """Codes of several columns compared as plain strings (-1 for missing)."""
    parts = [_codes(column) for column in columns]
    labels = np.concatenate([np.asarray(values.astype("str"), dtype=object) for _, values in parts])
    joint, _ = pd.factorize(labels)
    out, start = [], 0
    for codes, values in parts:
        mapped = joint[start : start + len(values)]
        start += len(values)
        out.append(np.where(codes >= 0, np.append(mapped, -1)[codes], -1))
    return out


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame]
    if missing:
        raise ValueError(
            f"The {name} frame lacks column(s) {', '.join(missing)}; pass the frames that "
            "awareness_analysis.data.frames.build_frames makes (e.g. analysis.users)."
        )


@dataclass(frozen=True, eq=False)
class Suppression:
    """Small-group suppression decided on one baseline.

    ``department``: every user row's department code after relabelling, in ``dtype``.
    ``hidden``: departments folded into ``(suppressed)``; ``primary``: those under k themselves.
    """

    k: int
    department: np.ndarray = field(repr=False)
    dtype: pd.CategoricalDtype = field(repr=False)
    hidden: tuple[str, ...] = ()
    primary: tuple[str, ...] = ()
    everything_hidden: bool = False
    baseline_people: int = 0


class Engine:
    """Codes, flags and join keys of one users frame (and its answers), computed once.

    Frames are treated as immutable. Build one per pair of frames and ask it for views:
    ``engine.view(Selection(...), k)``.
    """

    def __init__(self, users: pd.DataFrame, answers: pd.DataFrame | None = None) -> None:
        _require(users, USER_COLUMNS, "users")
        if answers is None:
            answers = pd.DataFrame({c: pd.Series(dtype="str") for c in ANSWER_COLUMNS})
        _require(answers, ANSWER_COLUMNS, "answers")
        self.users = users
        self.answers = answers
        self._lock = threading.Lock()
        self._suppressions: OrderedDict[tuple[Any, ...], Suppression] = OrderedDict()
        n = len(users)

        self.campaign, self.campaign_labels = _codes(users["campaign_id"])
        if np.any(self.campaign < 0):
            raise ValueError("The users frame has rows without a campaign_id.")
        self.n_campaigns = len(self.campaign_labels)
        first_row = np.full(self.n_campaigns, -1, dtype=np.int64)
        first_row[self.campaign[::-1]] = np.arange(n - 1, -1, -1)
        names = users["campaign_name"].astype("str").to_numpy(dtype=object, na_value="")
        self.campaign_names = np.array(
            [names[row] if row >= 0 else "" for row in first_row], dtype=object
        )

        department = users["department"]
        if department.isna().any():
            department = department.astype("str").fillna(UNASSIGNED_DEPARTMENT)
        self.department, labels = _codes(department)
        self.department_dtype = pd.CategoricalDtype(pd.Index(labels.astype("str"), dtype="str"))

        outcome = users["outcome"].astype("str").to_numpy(dtype=object, na_value="")
        unknown = sorted(set(outcome) - set(OUTCOMES))
        if unknown:
            raise ValueError(f"Unknown outcome(s) {unknown}; expected {', '.join(OUTCOMES)}.")
        self.outcome, self.outcome_labels = _codes(users["outcome"])
        self.acknowledged = users["acknowledged"].to_numpy(dtype=bool)
        self.answered = outcome != "sent"
        n_questions = users["n_questions"].to_numpy(dtype=np.int64)
        self.all_correct = (
            self.answered & (n_questions > 0) & (users["n_correct"].to_numpy() == n_questions)
        )
        everyone = np.ones(n, dtype=bool)
        self.user_flags: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "acknowledgement": (self.acknowledged, everyone),
            "completion": (self.answered, everyone),
            "all_correct": (self.all_correct, self.answered),
        }

        # People, as suppression counts them: email trimmed and lower-cased.
        if users["email"].isna().any():
            raise ValueError("The users frame has rows without an email.")
        email_codes, emails = _codes(users["email"])
        person_of_email, persons = pd.factorize(person_keys(pd.Series(emails, dtype="str")))
        self.person = person_of_email.astype(np.int64)[email_codes]
        self.n_persons = len(persons)

        # Search haystacks, lower-cased once per distinct value.
        self._search: list[tuple[np.ndarray, np.ndarray]] = []
        for column in _SEARCH_COLUMNS:
            if column in users:
                codes, values = _codes(users[column])
                lowered = pd.Series(values.astype("str")).str.lower().fillna("")
                self._search.append((codes, lowered.to_numpy(dtype=object)))
        self._user_state: tuple[np.ndarray, pd.Index] | None = None

        # Answers joined to the first user row with the same (campaign, email) strings.
        user_campaign, answer_campaign = _string_codes(users["campaign_id"], answers["campaign_id"])
        user_email, answer_email = _string_codes(users["email"], answers["email"])
        width = int(max(user_email.max(initial=-1), answer_email.max(initial=-1))) + 2
        keys, _ = pd.factorize(
            np.concatenate(
                [
                    user_campaign.astype(np.int64) * width + user_email,
                    answer_campaign.astype(np.int64) * width + answer_email,
                ]
            )
        )
        row_of_key = np.full(int(keys.max(initial=-1)) + 2, -1, dtype=np.int64)
        row_of_key[keys[:n][::-1]] = np.arange(n - 1, -1, -1)  # first row wins
        self.answer_row = row_of_key[keys[n:]]
        result = answers["result"].astype("str").to_numpy(dtype=object, na_value="")
        self.result_correct = result == "correct"
        self.result_counted = (result == "correct") | (result == "incorrect")
        self.result_sent = result == "sent"
        self.question, self.question_labels = _codes(answers["question"])

        # Atoms: the finest cells a published figure can count, (campaign, department) for
        # enrolments and (campaign, department, question) for answers.
        self.atom = self.campaign.astype(np.int64) * len(self.department_dtype.categories) + (
            self.department
        )
        # Whether anyone is listed twice in a campaign (or answers a question twice): when
        # not, per-campaign and per-question figures count each person once, with no
        # clustering to estimate.
        self.distinct_enrolments = _distinct(self.campaign, self.person)
        linked = self.answer_row >= 0
        row = self.answer_row[linked]
        question_group = self.campaign[row].astype(np.int64) * max(len(self.question_labels), 1)
        self.distinct_answers = _distinct(question_group + self.question[linked], self.person[row])

    # -- selection ------------------------------------------------------------------------

    def _user_states(self) -> tuple[np.ndarray, pd.Index]:
        if self._user_state is None:
            if "user_state" not in self.users:
                raise ValueError("The users frame has no user_state column to filter on.")
            self._user_state = _codes(self.users["user_state"])
        return self._user_state

    def baseline_mask(self, selection: Selection) -> np.ndarray:
        """Rows in the selected campaigns, statuses and user states: the organisation."""
        keep = np.ones(len(self.users), dtype=bool)
        if selection.campaign_ids:
            keep &= _lookup(self.campaign_labels, selection.campaign_ids)[self.campaign]
        if selection.statuses:
            keep &= _lookup(self.outcome_labels, selection.statuses)[self.outcome]
        if selection.user_states:
            codes, labels = self._user_states()
            valid = [str(label) for label in labels]
            unknown = [s for s in selection.user_states if s not in valid]
            if unknown:
                raise ValueError(
                    f"Unknown user state {', '.join(map(repr, unknown))}; "
                    f"valid user states in this data are {', '.join(valid) or '(none)'}."
                )
            keep &= _lookup(labels, selection.user_states)[codes]
        return keep

    def suppression(self, selection: Selection, k: int | None) -> Suppression:
        """Suppression on the baseline of ``selection`` at ``k`` (cached: a department or
        search change reuses it)."""
        k = threshold(k)
        key = (selection.campaign_ids, selection.statuses, selection.user_states, k)
        with self._lock:
            cached = self._suppressions.get(key)
            if cached is not None:
                self._suppressions.move_to_end(key)
                return cached
        result = self.suppress_baseline(self.baseline_mask(selection), k)
        with self._lock:
            self._suppressions[key] = result
            while len(self._suppressions) > _SUPPRESSION_CACHE_SIZE:
                self._suppressions.popitem(last=False)
        return result

    def suppress_baseline(
        self, baseline: np.ndarray, k: int, forced: Sequence[str] = ()
    ) -> Suppression:
        """Suppression on ``baseline``; ``forced`` departments are hidden whatever their size
        (a disclosure plan hides a department everywhere it is hidden anywhere)."""
        people = len(np.unique(self.person[baseline]))
        plain = Suppression(k, self.department, self.department_dtype, baseline_people=people)
        if k == 0 or not baseline.any():
            return plain
        categories = self.department_dtype.categories
        pairs, pair_department, pair_person = cluster_pairs(
            self.department[baseline], self.person[baseline]
        )
        del pairs
        sizes = np.bincount(pair_department, minlength=len(categories))
        size_of = {str(categories[c]): int(sizes[c]) for c in np.flatnonzero(sizes)}
        code_of = {name: categories.get_loc(name) for name in size_of}

        def people_in(names: Sequence[str]) -> int:
            chosen = np.isin(pair_department, [code_of[name] for name in names])
            return len(np.unique(pair_person[chosen]))

        hidden, primary = choose_hidden(size_of, people, k, people_in, forced=forced)
        if not hidden:
            return plain
        mapping, dtype = relabel_codes(categories, set(hidden))
        return Suppression(
            k,
            mapping[self.department],
            dtype,
            hidden=tuple(hidden),
            primary=tuple(primary),
            everything_hidden=len(hidden) == len(size_of),
            baseline_people=people,
        )

    def view(
        self,
        selection: Selection | None = None,
        k: int | None = 0,
        plan: DisclosurePlan | None = None,
        session: SessionDisclosure | None = None,
    ) -> View:
        """What ``selection`` shows after suppression at ``k`` (0 or None: off).

        With a disclosure ``plan`` (one per published set, e.g. a report), the plan's hidden
        departments are hidden in every view and its hidden cells wherever they appear;
        tables then carry each row's ``cell`` (what it counts, see
        :mod:`awareness_analysis.analysis.disclosure`). With a dashboard ``session`` (one
        published set that grows), its plan applies and every table is checked against what
        the session has shown before it is returned.
        """
        selection = selection or Selection()
        if session is not None and plan is None:
            plan = session.plan
        baseline = self.baseline_mask(selection)
        if plan is not None:
            suppression = self.suppress_baseline(baseline, threshold(k), plan.hidden_departments)
        else:
            suppression = self.suppression(selection, k)
        matched = baseline
        if selection.search:
            matched = baseline & self._search_mask(selection.search, suppression)
        shown = matched
        if selection.departments:
            wanted = _lookup(suppression.dtype.categories, selection.departments)
            shown = matched & wanted[suppression.department]
        return View(self, selection, suppression, baseline, matched, shown, plan, session)

    def atom_name(self, atom: int, level: str) -> tuple[str, ...]:
        """(campaign id, department[, question]) of an atom id of ``level``."""
        n_departments = len(self.department_dtype.categories)
        if level == ANSWER_LEVEL:
            atom, question = divmod(int(atom), max(len(self.question_labels), 1))
            campaign, department = divmod(atom, n_departments)
            return (
                str(self.campaign_labels[campaign]),
                str(self.department_dtype.categories[department]),
                str(self.question_labels[question]),
            )
        campaign, department = divmod(int(atom), n_departments)
        return str(self.campaign_labels[campaign]), str(
            self.department_dtype.categories[department]
        )

    def _search_mask(self, text: str, suppression: Suppression) -> np.ndarray:
        needle = text.lower()
        found = np.zeros(len(self.users), dtype=bool)
        haystacks = [
            *self._search,
            (
                suppression.department,
                np.asarray(suppression.dtype.categories.str.lower(), dtype=object),
            ),
        ]
        for codes, lowered in haystacks:
            hits = np.fromiter((needle in value for value in lowered), bool, len(lowered))
            found |= np.append(hits, False)[codes]
        return found


class View:
    """The rows one selection shows, after suppression, with its frames and metric tables.

    ``baseline``: rows of the organisation (selected campaigns and statuses); ``matched``: those
    the search matches; ``shown``: those also in the chosen departments. Masks are over the
    engine's users frame.
    """

    def __init__(
        self,
        engine: Engine,
        selection: Selection,
        suppression: Suppression,
        baseline: np.ndarray,
        matched: np.ndarray,
        shown: np.ndarray,
        plan: DisclosurePlan | None = None,
        session: SessionDisclosure | None = None,
    ) -> None:
        self.engine = engine
        self.session = session
        self.selection = selection
        self.suppression = suppression
        self.baseline = baseline
        self.matched = matched
        self.shown = shown
        self.plan = plan
        self._answer_shown: np.ndarray | None = None
        #: Every cell this view's tables have shown (False) or hidden (True), in order: what
        #: a dashboard session adds to its published set.
        self.published: list[tuple[Cell, bool]] = []

    # -- cells: what each figure counts, for a disclosure plan -------------------------------

    def within(self, rows: np.ndarray) -> str:
        """The :attr:`Cell.within` of figures over ``rows`` (this view's ``matched`` or
        ``baseline``): empty unless a search, status or user-state choice narrows the people."""
        selection = self.selection
        narrowed = selection.statuses or selection.user_states
        if rows is self.matched:
            narrowed = narrowed or selection.search
        if not narrowed:
            return ""
        return hashlib.blake2b(np.packbits(rows).tobytes(), digest_size=12).hexdigest()

    def _cells(
        self,
        level: str,
        group: np.ndarray,
        atom: np.ndarray,
        groups: np.ndarray,
        within: str = "",
    ) -> list:
        """The cell of each of ``groups``: the atoms its units fall in (units: ``group`` and
        ``atom`` per unit)."""
        width = int(atom.max(initial=0)) + 1
        pairs = np.unique(group.astype(np.int64) * width + atom)
        by_group: dict[int, list[tuple[str, ...]]] = {}
        for g, a in zip((pairs // width).tolist(), (pairs % width).tolist(), strict=True):
            by_group.setdefault(g, []).append(self.engine.atom_name(a, level))
        return [Cell(level, frozenset(by_group.get(int(g), ())), within) for g in groups]

    def _planned(self, table: pd.DataFrame, cells: list) -> np.ndarray:
        """Add the ``cell`` column; rows the plan hides (True where hidden)."""
        table["cell"] = pd.Series(cells, index=table.index, dtype=object)
        hidden = self.plan.hidden_cells if self.plan is not None else frozenset()
        return np.array([cell in hidden for cell in cells], dtype=bool)

    def _log(self, table: pd.DataFrame, extra: Sequence[tuple[Cell, bool]] = ()) -> pd.DataFrame:
        """Record what ``table`` (suppressed already) shows and hides, ``extra`` (cell,
        suppressed) pairs beside its rows (the organisation line); with a session, blank what
        it refuses first. Returns the table."""
        if "cell" not in table:
            return table
        cells = [*table["cell"], *(cell for cell, _ in extra)]
        suppressed = [*table["suppressed"].fillna(False).astype(bool), *(s for _, s in extra)]
        if self.session is not None:
            blank = self.session.admit(self, cells, suppressed)
            if blank[: len(table)].any():
                table = suppress_rows(table, self.k, hide=blank[: len(table)])
            suppressed = [s or b for s, b in zip(suppressed, blank.tolist(), strict=True)]
        self.published += list(zip(cells, suppressed, strict=True))
        return table

    def __repr__(self) -> str:
        # No rows: a repr is for logs, and the rows are people's data.
        return (
            f"View(selection={self.selection!r}, k={self.k}, enrolments={self.enrolments}, "
            f"people={self.people}, hidden={len(self.hidden)} department(s))"
        )

    @property
    def k(self) -> int:
        return self.suppression.k

    @property
    def hidden(self) -> tuple[str, ...]:
        return self.suppression.hidden

    @property
    def enrolments(self) -> int:
        """Rows shown: one per campaign x person."""
        return int(np.count_nonzero(self.shown))

    @property
    def people(self) -> int:
        """Distinct people shown."""
        counts = np.bincount(self.engine.person[self.shown], minlength=self.engine.n_persons)
        return int(np.count_nonzero(counts))

    def department_options(self) -> list[str]:
        """Departments of the baseline as shown (sorted; ``(suppressed)`` last when present)."""
        categories = self.suppression.dtype.categories
        codes = self.suppression.department[self.baseline]
        present = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
        names = [str(c) for c, seen in zip(categories, present, strict=True) if seen]
        options = sorted(name for name in names if name != SUPPRESSED_LABEL)
        return [*options, SUPPRESSED_LABEL] if SUPPRESSED_LABEL in names else options

    # -- frames -----------------------------------------------------------------------------

    def users(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The shown rows of the users frame (index kept), departments as shown.

        Row-level: not suppressed. Only aggregates are; keep these frames private.
        """
        rows = np.flatnonzero(self.shown)
        frame = self.engine.users if columns is None else self.engine.users[list(columns)]
        result = frame.take(rows)
        if self.suppression.hidden and "department" in result:
            result = result.copy()
            result["department"] = pd.Categorical.from_codes(
                self.suppression.department[rows], dtype=self.suppression.dtype
            )
        return result

    def answer_shown(self) -> np.ndarray:
        """Answer rows of the shown users (matched on campaign and email)."""
        if self._answer_shown is None:
            row = self.engine.answer_row
            self._answer_shown = (row >= 0) & np.append(self.shown, False)[row]
        return self._answer_shown

    def answers(self) -> pd.DataFrame:
        """The answers of the shown users (index kept). Row-level: not suppressed."""
        return self.engine.answers.loc[self.answer_shown()]

    # -- metric tables ----------------------------------------------------------------------

    def campaign_rates(self) -> pd.DataFrame:
        """Acknowledgement, completion and all-correct rate per campaign shown (long form).

        Columns ``campaign_id``, ``campaign_name``, then the rate-table columns (see
        :mod:`awareness_analysis.analysis.metrics`). Campaign-major, launch order.
        """
        e = self.engine
        present = np.bincount(e.campaign[self.shown], minlength=e.n_campaigns) > 0
        campaigns = np.flatnonzero(present)
        parts = []
        for metric in USER_METRICS:
            success, counted = e.user_flags[metric]
            rows = self.shown & counted
            stats = design_effect(
                e.campaign[rows],
                e.person[rows],
                success[rows],
                e.n_campaigns,
                distinct=e.distinct_enrolments,
            )
            parts.append([column[campaigns] for column in stats])
        # Interleave: campaign i, metric j is row i * 3 + j.
        successes, n, people, deff = (
            np.column_stack([part[i] for part in parts]).reshape(-1) for i in range(4)
        )
        table = pd.DataFrame(
            {
                "campaign_id": pd.Categorical(
                    np.repeat(np.asarray(e.campaign_labels[campaigns], dtype=object), 3),
                    categories=pd.Index(e.campaign_labels[campaigns].astype("str"), dtype="str"),
                ),
                "campaign_name": _names(np.repeat(e.campaign_names[campaigns], 3)),
                **_rate_columns(
                    np.tile(np.array(USER_METRICS, dtype=object), len(campaigns)),
                    successes,
                    n,
                    people,
                    deff,
                ),
            }
        )
        table.attrs["unit"] = UNIT_ENROLMENTS
        hide = None
        if self.plan is not None:
            cells = self._cells(
                ENROLMENT_LEVEL,
                e.campaign[self.shown],
                e.atom[self.shown],
                campaigns,
                self.within(self.matched),
            )
            hide = self._planned(table, [cell for cell in cells for _ in USER_METRICS])
        return self._log(suppress_rows(table, self.k, hide=hide))

    def question_accuracy(self) -> pd.DataFrame:
        """Accuracy per campaign x question of the shown users' answers.

        Columns ``campaign_id``, ``campaign_name``, ``question``, ``correct``, ``incorrect``,
        ``not_answered``, then the rate-table columns with metric ``accuracy`` (n = answered,
        a question still at SENT is not answered, never wrong).
        """
        e = self.engine
        shown = self.answer_shown()
        n_questions = max(len(e.question_labels), 1)
        user_row = e.answer_row[shown]
        group = e.campaign[user_row].astype(np.int64) * n_questions + e.question[shown]
        n_groups = e.n_campaigns * n_questions
        present = np.flatnonzero(np.bincount(group, minlength=n_groups) > 0)
        counted = e.result_counted[shown]
        successes, n, people, deff = (
            column[present]
            for column in design_effect(
                group[counted],
                e.person[user_row][counted],
                e.result_correct[shown][counted],
                n_groups,
                distinct=e.distinct_answers,
            )
        )
        not_answered = np.bincount(group, weights=e.result_sent[shown], minlength=n_groups)
        campaigns = present // n_questions
        table = pd.DataFrame(
            {
                "campaign_id": pd.Categorical(
                    np.asarray(e.campaign_labels[campaigns], dtype=object),
                    categories=pd.Index(
                        e.campaign_labels[np.unique(campaigns)].astype("str"), dtype="str"
                    ),
                ),
                "campaign_name": _names(e.campaign_names[campaigns]),
                "question": np.asarray(e.question_labels[present % n_questions]).astype(np.int64),
                "correct": pd.array(successes, dtype="Int64"),
                "incorrect": pd.array(n - successes, dtype="Int64"),
                "not_answered": pd.array(not_answered[present].round(), dtype="Int64"),
                **_rate_columns(
                    np.full(len(present), ACCURACY, dtype=object), successes, n, people, deff
                ),
            }
        )
        table.attrs["unit"] = UNIT_ANSWERS
        hide = None
        if self.plan is not None:
            answer_atom = e.atom[user_row] * n_questions + e.question[shown]
            cells = self._cells(
                ANSWER_LEVEL, group, answer_atom, present, self.within(self.matched)
            )
            hide = self._planned(table, cells)
        return self._log(suppress_rows(table, self.k, hide=hide))

    def _units(self, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(user row, success, counted) per unit of ``metric``: users, or answers."""
        e = self.engine
        if metric == ACCURACY:
            linked = e.answer_row >= 0
            return e.answer_row[linked], e.result_correct[linked], e.result_counted[linked]
        if metric not in USER_METRICS:
            raise ValueError(
                f"Unknown metric {metric!r}; expected one of {', '.join(DEPARTMENT_METRICS)}."
            )
        success, counted = e.user_flags[metric]
        return np.arange(len(e.users)), success, counted

    def _unit_atoms(self, metric: str, user_row: np.ndarray) -> tuple[str, np.ndarray]:
        """(level, atom per unit) of ``metric``'s units (:meth:`_units`)."""
        e = self.engine
        if metric == ACCURACY:
            question = e.question[e.answer_row >= 0]
            n_questions = max(len(e.question_labels), 1)
            return ANSWER_LEVEL, e.atom[user_row] * n_questions + question
        return ENROLMENT_LEVEL, e.atom[user_row]

    def department_comparison(self, metric: str) -> pd.DataFrame:
        """Each department shown against the rest of the organisation, for ``metric``.

        One row per department among the search-matched rows (then narrowed to the department
        filter, which never changes the figures or flags). Columns: ``department``, the
        rate-table columns, ``n_effective``, ``rest_rate``, ``rest_n``, ``org_rate``, ``z``,
        ``p_value``, ``q_value`` (BH over the departments tested), ``significant`` (q < 0.05)
        and ``direction`` (above, below, as expected, suppressed, no data). ``attrs`` hold the
        organisation's figures (``org_rate``, ``org_n``, ``org_people``, ``org_ci_low``, ...):
        the baseline, never the filtered view. Sorted by rate (highest first), then name.
        """
        e = self.engine
        user_row, success, counted = self._units(metric)
        in_baseline = counted & self.baseline[user_row]
        person = e.person[user_row]
        y = success.astype(np.float64)

        # The organisation: every counted unit of the baseline.
        org_s, org_n, org_people, org_deff = (
            float(v[0])
            for v in design_effect(
                np.zeros(np.count_nonzero(in_baseline), dtype=np.int64),
                person[in_baseline],
                success[in_baseline],
                1,
            )
        )
        org_rate = org_s / org_n if org_n else np.nan
        org_low, org_high = wilson_interval(org_rate * org_n / org_deff, org_n / org_deff)

        # Departments among the matched units; each person's organisation totals beside.
        matched = counted & self.matched[user_row]
        categories = self.suppression.dtype.categories
        size = len(categories)
        department = self.suppression.department[user_row][matched]
        pairs = cluster_pairs(department, person[matched])
        successes, n, people, deff = design_effect(
            department, person[matched], success[matched], size, pairs=pairs
        )
        # Present: any unit among the matched rows, counted or not (n = 0 shows as "no data").
        all_units = self.suppression.department[user_row][self.matched[user_row]]
        present = np.bincount(all_units, minlength=size) > 0

        rest_n = org_n - n
        rest_s = org_s - successes
        with np.errstate(divide="ignore", invalid="ignore"):
            rest_rate = np.where(rest_n > 0, rest_s / rest_n, np.nan)
        rest_deff = _rest_design_effect(
            pairs,
            y[matched],
            person[in_baseline],
            y[in_baseline],
            e.n_persons,
            size,
            rest_rate,
            rest_n,
            org_people,
        )
        n_eff = np.where(n > 0, n / deff, 0.0)
        rest_eff = np.where(rest_n > 0, rest_n / rest_deff, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(n > 0, successes / n, np.nan)
        z, p_value = two_proportion_z(rate * n_eff, n_eff, rest_rate * rest_eff, rest_eff)

        names = np.asarray(categories.astype("str"), dtype=object)
        k = self.k
        small = (people > 0) & (people < k)
        pooled = names == SUPPRESSED_LABEL
        tested = present & ~pooled & ~small & (n > 0) & (rest_n > 0)
        p_value = np.where(tested, p_value, np.nan)
        z = np.where(tested, z, np.nan)
        q_value = benjamini_hochberg(p_value)
        significant = tested & (np.nan_to_num(q_value, nan=1.0) < SIGNIFICANCE_LEVEL)
        direction = np.select(
            [pooled | small, n == 0, significant & (z > 0), significant & (z < 0)],
            ["suppressed", "no data", "above", "below"],
            default="as expected",
        )
        shown = present.copy()
        if self.selection.departments:
            shown &= np.isin(names, list(self.selection.departments))
        rows = np.flatnonzero(shown)
        table = pd.DataFrame(
            {
                "department": pd.array(names[rows], dtype="str"),
                **_rate_columns(
                    np.full(len(rows), metric, dtype=object),
                    successes[rows],
                    n[rows],
                    people[rows],
                    deff[rows],
                ),
                "n_effective": n_eff[rows],
                "rest_rate": rest_rate[rows],
                "rest_n": pd.array(rest_n[rows].astype(np.int64), dtype="Int64"),
                "org_rate": np.full(len(rows), org_rate),
                "z": z[rows],
                "p_value": p_value[rows],
                "q_value": q_value[rows],
                "significant": significant[rows],
                "direction": pd.array(direction[rows].astype(object), dtype="str"),
            }
        )
        hide = None
        if self.plan is not None:
            level, atom = self._unit_atoms(metric, user_row)
            in_view = self.matched[user_row]
            units_department = self.suppression.department[user_row][in_view]
            cells = self._cells(
                level, units_department, atom[in_view], rows, self.within(self.matched)
            )
            hide = self._planned(table, cells)
            org_cells = self._cells(
                level,
                np.zeros(np.count_nonzero(self.baseline[user_row]), dtype=np.int64),
                atom[self.baseline[user_row]],
                np.zeros(1, dtype=np.int64),
                self.within(self.baseline),
            )
            table.attrs["org_cell"] = org_cells[0]
            org_planned_hidden = org_cells[0] in self.plan.hidden_cells
        else:
            org_planned_hidden = False
        table = suppress_rows(table, k, hide=hide)
        # The pseudo-department keeps its figures (it is a combination of groups), but is no
        # real group: never tested, direction "suppressed".
        table = table.sort_values(
            ["rate", "department"], ascending=[False, True], na_position="last", kind="stable"
        ).reset_index(drop=True)
        org_hidden = (0 < org_people < k) or org_planned_hidden
        if self.plan is not None:
            table = self._log(table, [(table.attrs["org_cell"], bool(org_hidden))])
            org_hidden = self.published[-1][1]
        table.attrs.update(
            {
                "metric": metric,
                "unit": UNIT_ANSWERS if metric == ACCURACY else UNIT_ENROLMENTS,
                "org_rate": np.nan if org_hidden else org_rate,
                "org_successes": None if org_hidden else int(org_s),
                "org_n": None if org_hidden else int(org_n),
                "org_people": None if org_hidden else int(org_people),
                "org_design_effect": np.nan if org_hidden else org_deff,
                "org_ci_low": np.nan if org_hidden else float(org_low),
                "org_ci_high": np.nan if org_hidden else float(org_high),
                "org_suppressed": org_hidden,
                "confidence": CONFIDENCE,
                "min_group_size": k,
            }
        )
        if org_hidden:
            table["org_rate"] = np.nan
        return table


def _distinct(group: np.ndarray, person: np.ndarray) -> bool:
    """Whether no person has two rows in one group."""
    pair, _, _ = cluster_pairs(group, person)
    return int(pair.max(initial=-1)) + 1 == len(pair)


def _names(values: np.ndarray) -> pd.Categorical:
    """Campaign names as a categorical, categories in order of appearance (launch order)."""
    strings = pd.array(np.asarray(values, dtype=object), dtype="str")
    return pd.Categorical(strings, categories=pd.unique(strings))


def _rate_columns(
    metric: np.ndarray,
    successes: np.ndarray,
    n: np.ndarray,
    people: np.ndarray,
    deff: np.ndarray,
) -> dict[str, Any]:
    """The rate-table columns: counts, rate, clustered Wilson interval, design effect."""
    successes = np.asarray(successes, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, successes / n, np.nan)
        n_eff = np.where(n > 0, n / deff, 0.0)
    low, high = wilson_interval(np.nan_to_num(rate) * n_eff, n_eff)
    return {
        "metric": pd.array(np.asarray(metric, dtype=object), dtype="str"),
        "successes": pd.array(successes, dtype="Int64"),
        "n": pd.array(n, dtype="Int64"),
        "people": pd.array(np.asarray(people, dtype=np.int64), dtype="Int64"),
        "rate": rate.astype(np.float64),
        "ci_low": low,
        "ci_high": high,
        "design_effect": np.asarray(deff, dtype=np.float64),
        "suppressed": np.zeros(len(n), dtype=bool),
    }


def _rest_design_effect(
    pairs: tuple[np.ndarray, ...],
    group_y: np.ndarray,
    org_person: np.ndarray,
    org_y: np.ndarray,
    n_persons: int,
    n_groups: int,
    rest_rate: np.ndarray,
    rest_n: np.ndarray,
    org_people: float,
) -> np.ndarray:
    """Design effect of "the organisation without group g", for every g, without a pass per g.

    The rest's clustered variance numerator is sum_j (R_j - p0 M_j)^2 over people j, with
    R_j, M_j the person's successes and counted units outside g: the organisation's totals
    minus the group's. Expanded, that is an organisation-wide sum plus corrections over the
    people in g only (see :mod:`awareness_analysis.analysis.stats` for the definition).
    """
    big_s = np.bincount(org_person, weights=org_y, minlength=n_persons)
    big_n = np.bincount(org_person, minlength=n_persons).astype(np.float64)
    ss, sn, nn = float(big_s @ big_s), float(big_s @ big_n), float(big_n @ big_n)
    pair, pair_group, pair_person = pairs
    s1 = np.bincount(pair, weights=group_y)
    n1 = np.bincount(pair).astype(np.float64)
    p0 = np.nan_to_num(rest_rate)[pair_group]
    outer = big_s[pair_person] - p0 * big_n[pair_person]
    inner = s1 - p0 * n1
    correction = np.bincount(
        pair_group, weights=inner * inner - 2 * outer * inner, minlength=n_groups
    )
    whole = np.bincount(pair_group, weights=n1 == big_n[pair_person], minlength=n_groups)
    p = np.nan_to_num(rest_rate)
    clustered = ss - 2 * p * sn + p * p * nn + correction
    with np.errstate(divide="ignore", invalid="ignore"):
        binomial = rest_n * p * (1 - p)
        deff = np.where(binomial > 0, clustered / binomial, 1.0)
    rest_people = org_people - whole
    return np.where((rest_people == rest_n) | ~np.isfinite(deff), 1.0, np.maximum(deff, 1.0))
