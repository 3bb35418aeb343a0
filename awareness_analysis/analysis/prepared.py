"""Per-row state precomputed once per pair of frames, so a filter change never re-scans them.

Dashboards redraw on every filter change. Done plainly, each redraw copies the selected rows,
lower-cases every name and email for the search, counts people per department with Python sets,
joins answers to users on (campaign, email) strings and groups the result: a few hundred
milliseconds at 100,000 user rows. :class:`PreparedFrames` does the per-row work once:

* integer codes per user row for campaign, department, outcome and user state, and the
  per-row flags the metrics count (acknowledged, answered, all correct);
* the search haystacks, lower-cased once per distinct name, email and department;
* a person code per row (email trimmed and lower-cased, as suppression counts people) and
  each row's (department, person) pair;
* each answer row's (campaign, email) key matched to the users' keys and to its user row, so
  the answers of a selection are a gather and need no join;
* group codes for the rate tables: (campaign, campaign name) per user row and
  (campaign, question) per answer row.

A selection is then a boolean mask; suppression counts people with ``np.bincount`` over the
pair codes and is cached per (selection without departments, k), so changing only the
department filter reuses it; metrics are ``np.bincount`` over group codes, turned into tables
by the same builders the plain functions in :mod:`awareness_analysis.analysis.metrics` use. The
results equal the plain path exactly (``tests/test_prepared.py`` compares them).

Frames are treated as immutable once prepared (as everywhere in this package).
:func:`prepare` shares one :class:`PreparedFrames` among all dashboards of the same frames.
Frames this module cannot mirror exactly (non-categorical campaign, department or outcome,
missing keys) report ``supported`` False, and dashboards then use the plain path.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.metrics import (
    USER_METRICS,
    _all_correct,
    _answered,
    _campaign_name_of,
    _campaign_rates_table,
    _comparison_table,
    _question_accuracy_table,
    _user_metric,
)
from awareness_analysis.analysis.privacy import (
    SUPPRESSED_LABEL,
    _choose_hidden,
    _person_keys,
    _relabel_codes,
    _threshold,
)

__all__ = ["PreparedFrames", "PreparedView", "Suppressed", "prepare"]

# How many (selection without departments, k) suppression results a PreparedFrames keeps.
_SUPPRESSION_CACHE_SIZE = 8
_SEARCH_COLUMNS = ("name", "email", "department")
# Codes and row numbers are stored as int32: half the memory of int64, as fast to index with.
_CODE = np.int32
_USER_COLUMNS = (
    "campaign_id",
    "campaign_name",
    "email",
    "department",
    "outcome",
    "acknowledged",
    "n_questions",
    "n_correct",
)


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for missing) and the values they stand for.

    Categorical columns keep their category codes; others are factorised in sorted order, so
    code order is the order ``groupby(sort=True)`` uses either way.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(dtype=_CODE), column.cat.categories
    codes, uniques = pd.factorize(column, sort=True)
    return codes.astype(_CODE), pd.Index(uniques)


def _lookup(labels: pd.Index, wanted: Sequence[str]) -> np.ndarray:
    """Boolean per code (plus a False slot for -1): which labels are in ``wanted``."""
    return np.append(np.asarray(labels.isin(list(wanted)), dtype=bool), False)


def _group(*code_arrays: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row -> group code over several code columns (-1 where any is missing), groups sorted
    lexicographically by the columns' codes; and the first row of each group."""
    combined = np.zeros(len(code_arrays[0][0]), dtype=np.int64)
    missing = np.zeros(len(code_arrays[0][0]), dtype=bool)
    for codes, size in code_arrays:
        combined = combined * max(size, 1) + codes
        missing |= codes < 0
    combined[missing] = -1
    uniques, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    if len(uniques) and uniques[0] == -1:
        inverse = inverse - 1  # -1 stays -1, the real groups start at 0
        first = first[1:]
    return inverse.astype(_CODE).reshape(-1), first


def _string_codes(*columns: pd.Series) -> list[np.ndarray]:
    """Codes of several columns compared as plain strings (as ``apply_answers`` compares)."""
    parts = [_codes(column) for column in columns]
    labels = np.concatenate([np.asarray(values.astype("str"), dtype=object) for _, values in parts])
    joint, _ = pd.factorize(labels)
    out, start = [], 0
    for codes, values in parts:
        mapped = joint[start : start + len(values)]
        start += len(values)
        out.append(np.where(codes >= 0, np.append(mapped, -1)[codes], -1))
    return out


@dataclass(frozen=True, eq=False)
class Suppressed:
    """A selection (without its department filter) after small-group suppression.

    ``mask``: user rows selected. ``department_codes``: every user row's department code after
    relabelling, in ``department_dtype``. ``hidden``/``primary``/``everything_hidden`` as in
    :class:`awareness_analysis.analysis.privacy.SuppressionResult`.
    """

    prepared: PreparedFrames = field(repr=False)
    mask: np.ndarray = field(repr=False)
    department_codes: np.ndarray = field(repr=False)
    department_dtype: pd.CategoricalDtype = field(repr=False)
    relabelled: bool
    hidden: tuple[str, ...] = ()
    primary: tuple[str, ...] = ()
    everything_hidden: bool = False

    def department_options(self) -> list[str]:
        """Departments present, sorted, with ``(suppressed)`` last when present (as the
        dashboards' department control lists them)."""
        categories = self.department_dtype.categories
        codes = self.department_codes[self.mask]
        present = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
        names = [str(c) for c, seen in zip(categories, present, strict=True) if seen]
        shown = sorted(name for name in names if name != SUPPRESSED_LABEL)
        if SUPPRESSED_LABEL in names:
            shown.append(SUPPRESSED_LABEL)
        return shown

    def view(self, departments: Sequence[str] = ()) -> PreparedView:
        """The selection narrowed to ``departments`` (names after suppression; () = all)."""
        mask = self.mask
        if departments:
            wanted = _lookup(self.department_dtype.categories, departments)
            mask = mask & wanted[self.department_codes]
        return PreparedView(self, mask)


@dataclass(eq=False)
class PreparedView:
    """The user rows one view shows (after suppression and the department filter), with the
    metric tables and frames of those rows."""

    suppressed: Suppressed
    mask: np.ndarray = field(repr=False)
    _answer_mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def prepared(self) -> PreparedFrames:
        return self.suppressed.prepared

    @property
    def hidden(self) -> tuple[str, ...]:
        return self.suppressed.hidden

    def before_department(self) -> PreparedView:
        return PreparedView(self.suppressed, self.suppressed.mask)

    # -- frames -------------------------------------------------------------------------------

    def _department_column(self, rows: np.ndarray) -> pd.Categorical:
        return pd.Categorical.from_codes(
            self.suppressed.department_codes[rows], dtype=self.suppressed.department_dtype
        )

    def users(self) -> pd.DataFrame:
        """The selected users frame, as the plain path builds it (index and dtypes kept)."""
        # The same steps as the plain path (so even an empty result has the same index type):
        # the selection, suppression's relabelling, then the department filter.
        before = self.suppressed.mask
        result = self.prepared.users.loc[before].copy()
        if self.suppressed.relabelled:
            result["department"] = self._department_column(np.flatnonzero(before))
        if self.mask is not before:
            result = result[self.mask[before]]
        return result

    def user_table(self, columns: Sequence[str]) -> pd.DataFrame:
        """``users()[columns]`` with a fresh RangeIndex, without copying other columns."""
        rows = np.flatnonzero(self.mask)
        table = self.prepared.users[list(columns)].take(rows)
        if self.suppressed.relabelled and "department" in table:
            table["department"] = self._department_column(rows)
        return table.reset_index(drop=True)

    def answer_mask(self) -> np.ndarray:
        """Answer rows of the selected users (matched on campaign and email)."""
        if self._answer_mask is None:
            prepared = self.prepared
            selected = np.zeros(prepared.n_keys + 1, dtype=bool)
            selected[prepared.user_key[self.mask]] = True
            self._answer_mask = selected[prepared.answer_key]
        return self._answer_mask

    def answers(self) -> pd.DataFrame:
        """The answers of the selected users, as ``Selection.apply_answers`` returns them."""
        return self.prepared.answers.loc[self.answer_mask()].copy()

    # -- metrics ------------------------------------------------------------------------------

    def campaign_rates(self) -> pd.DataFrame:
        """Same table as :func:`awareness_analysis.analysis.metrics.campaign_rates` of :meth:`users`."""
        p = self.prepared
        groups = p.campaign_group[self.mask]
        groups = groups[groups >= 0]
        size = len(p.campaign_group_first)

        def count(flags: np.ndarray) -> np.ndarray:
            chosen = p.campaign_group[self.mask & flags]
            return np.bincount(chosen[chosen >= 0], minlength=size)

        sent = np.bincount(groups, minlength=size)
        observed = sent > 0
        first = p.campaign_group_first[observed]
        return _campaign_rates_table(
            pd.Index(p.users["campaign_id"].array.take(first)),
            pd.Index(p.users["campaign_name"].array.take(first)),
            sent=sent[observed],
            acknowledged=count(p.acknowledged)[observed],
            answered=count(p.answered)[observed],
            all_correct=count(p.all_correct)[observed],
        )

    def _first_rows_per_campaign(self) -> np.ndarray:
        """The first selected user row of each campaign present, in row order."""
        p = self.prepared
        rows = np.flatnonzero(self.mask)
        codes = p.campaign[rows]
        if p.campaign_names_fixed:
            # Every row of a campaign carries the same name: any row per campaign will do.
            first = np.full(p.n_campaigns + 1, -1, dtype=np.intp)
            first[codes] = rows
            found = first[:-1]
            return np.sort(found[found >= 0])
        _, index = np.unique(codes, return_index=True)
        return np.sort(rows[index])

    def question_accuracy(self) -> pd.DataFrame:
        """Same table as :func:`awareness_analysis.analysis.metrics.question_accuracy` of
        :meth:`answers` and :meth:`users`."""
        p = self.prepared
        answer_mask = self.answer_mask()
        size = len(p.question_group_first)

        def count(flags: np.ndarray | None) -> np.ndarray:
            chosen = p.question_group[answer_mask if flags is None else answer_mask & flags]
            return np.bincount(chosen[chosen >= 0], minlength=size)

        observed = count(None) > 0
        first = p.question_group_first[observed]
        name_of = _campaign_name_of(p.users.take(self._first_rows_per_campaign()))
        return _question_accuracy_table(
            pd.Index(p.answers["campaign_id"].array.take(first)),
            pd.Index(p.answers["question"].array.take(first)),
            correct=count(p.result_correct)[observed],
            incorrect=count(p.result_incorrect)[observed],
            not_answered=count(p.result_sent)[observed],
            name_of=name_of,
        )

    def department_comparison(self, metric: str) -> pd.DataFrame:
        """Same table as :func:`awareness_analysis.analysis.metrics.department_comparison` of
        :meth:`users` (and :meth:`answers` for accuracy)."""
        p = self.prepared
        codes = self.suppressed.department_codes
        if metric == "accuracy":
            answer_mask = self.answer_mask()
            departments = codes[p.answer_rows(self.mask)[answer_mask]]
            success = p.result_correct[answer_mask]
            counted = p.result_counted[answer_mask]
        elif metric in USER_METRICS:
            departments = codes[self.mask]
            success = p.user_success[metric][self.mask]
            counted = p.user_counted[metric][self.mask]
        else:  # the plain function raises the right error
            from awareness_analysis.analysis.metrics import department_comparison

            return department_comparison(self.users(), metric, answers=self.answers())
        categories = self.suppressed.department_dtype.categories
        known = departments >= 0
        size = len(categories)
        present = np.bincount(departments[known], minlength=size) > 0
        successes = np.bincount(departments[known & success & counted], minlength=size)
        n = np.bincount(departments[known & counted], minlength=size)
        return _comparison_table(
            categories[present],
            successes[present].astype(np.int64),
            n[present].astype(np.int64),
            metric=metric,
            org_successes=int(np.count_nonzero(success & counted)),
            org_n=int(np.count_nonzero(counted)),
        )


class PreparedFrames:
    """Codes, flags and join keys of one users frame and its answers, computed once."""

    def __init__(self, users: pd.DataFrame, answers: pd.DataFrame) -> None:
        self.users = users
        self.answers = answers
        self._lock = threading.Lock()
        self._suppressed: OrderedDict[tuple[Any, ...], Suppressed] = OrderedDict()
        self.supported = self._supports(users, answers)
        if not self.supported:
            return
        n = len(users)
        self.campaign, campaign_labels = _codes(users["campaign_id"])
        self.n_campaigns = len(campaign_labels)
        self.campaign_labels = campaign_labels
        self.department, _ = _codes(users["department"])
        self.department_dtype: pd.CategoricalDtype = users["department"].dtype
        self.outcome, self.outcome_labels = _codes(users["outcome"])
        self._user_state: tuple[np.ndarray, pd.Index] | None = None

        # Per-row flags, from the metric functions' own expressions on the whole frame.
        self.acknowledged = users["acknowledged"].to_numpy(dtype=bool)
        self.answered = _answered(users)
        self.all_correct = _all_correct(users)
        self.user_success: dict[str, np.ndarray] = {}
        self.user_counted: dict[str, np.ndarray] = {}
        for metric in USER_METRICS:
            self.user_success[metric], self.user_counted[metric] = _user_metric(users, metric)

        # Search: each column's distinct values, lower-cased once.
        self._search: list[tuple[np.ndarray, pd.Series, bool]] = []
        for column in _SEARCH_COLUMNS:
            if column in users:
                codes, values = _codes(users[column])
                lowered = pd.Series(values, dtype=values.dtype).astype("str").str.lower()
                categorical = isinstance(users[column].dtype, pd.CategoricalDtype)
                self._search.append((codes, lowered.reset_index(drop=True), categorical))

        # People, as suppression counts them (email trimmed, lower-cased), and each row's
        # (department, person) pair.
        email_codes, emails = _codes(users["email"])
        person_of_email, persons = pd.factorize(_person_keys(pd.Series(emails, dtype=object)))
        self.person = person_of_email.astype(_CODE)[email_codes]
        self.n_persons = len(persons)
        self.pair, first = _group(
            (self.department, len(self.department_dtype.categories)),
            (self.person, self.n_persons),
        )
        self.pair_department = self.department[first]
        self.pair_person = self.person[first]

        # Join keys: (campaign, email) as strings, in users and in answers.
        user_campaign, answer_campaign = _string_codes(users["campaign_id"], answers["campaign_id"])
        user_email, answer_email = _string_codes(users["email"], answers["email"])
        n_emails = int(max(user_email.max(initial=-1), answer_email.max(initial=-1))) + 1
        keys, _ = pd.factorize(
            np.concatenate(
                [
                    user_campaign.astype(np.int64) * n_emails + user_email,
                    answer_campaign.astype(np.int64) * n_emails + answer_email,
                ]
            )
        )
        self.n_keys = int(keys.max(initial=-1)) + 1
        self.user_key = keys[:n].astype(_CODE)
        # An answer whose key no user has points at the extra (never selected) slot.
        answer_key = keys[n:].astype(_CODE)
        user_has_key = np.zeros(self.n_keys + 1, dtype=bool)
        user_has_key[self.user_key] = True
        self.answer_key = np.where(user_has_key[answer_key], answer_key, self.n_keys).astype(_CODE)
        self.unique_user_keys = len(np.unique(self.user_key)) == n
        if self.unique_user_keys:
            row_of_key = np.full(self.n_keys + 1, -1, dtype=_CODE)
            row_of_key[self.user_key] = np.arange(n, dtype=_CODE)
            self._answer_row = row_of_key[self.answer_key]

        # Answers: result flags from the metric functions' own expressions.
        result = answers["result"]
        self.result_correct = (result == "correct").to_numpy(dtype=bool)
        self.result_incorrect = (result == "incorrect").to_numpy(dtype=bool)
        self.result_sent = (result == "sent").to_numpy(dtype=bool)
        self.result_counted = (result != "sent").to_numpy(dtype=bool)

        # Rate-table groups, sorted as groupby(sort=True) sorts them.
        name_codes, name_labels = _codes(users["campaign_name"])
        self.campaign_group, self.campaign_group_first = _group(
            (self.campaign, self.n_campaigns), (name_codes, len(name_labels))
        )
        per_campaign = np.bincount(
            self.campaign[self.campaign_group_first], minlength=self.n_campaigns
        )
        self.campaign_names_fixed = bool(np.all(per_campaign <= 1))
        answer_campaign_codes, answer_campaign_labels = _codes(answers["campaign_id"])
        question_codes, question_labels = _codes(answers["question"])
        self.question_group, self.question_group_first = _group(
            (answer_campaign_codes, len(answer_campaign_labels)),
            (question_codes, len(question_labels)),
        )

    @staticmethod
    def _supports(users: pd.DataFrame, answers: pd.DataFrame) -> bool:
        """Whether the precomputed path can mirror the plain one exactly for these frames."""
        needed = {
            "users": (users, _USER_COLUMNS),
            "answers": (answers, ("campaign_id", "email", "question", "result")),
        }
        for frame, columns in needed.values():
            if any(column not in frame for column in columns):
                return False
        for column in ("campaign_id", "department", "outcome"):
            if not isinstance(users[column].dtype, pd.CategoricalDtype):
                return False
        keys = (
            (users, ("campaign_id", "email", "department")),
            (answers, ("campaign_id", "email")),
        )
        return not any(frame[column].isna().any() for frame, columns in keys for column in columns)

    # -- selection ----------------------------------------------------------------------------

    def _user_states(self) -> tuple[np.ndarray, pd.Index]:
        if self._user_state is None:
            self._user_state = _codes(self.users["user_state"])
        return self._user_state

    def mask(self, selection: Selection) -> np.ndarray:
        """Same as ``selection.mask(users)``, from the precomputed codes."""
        keep = np.ones(len(self.users), dtype=bool)
        if selection.campaign_ids:
            keep &= _lookup(self.campaign_labels, selection.campaign_ids)[self.campaign]
        if selection.departments:
            categories = self.department_dtype.categories
            keep &= _lookup(categories, selection.departments)[self.department]
        if selection.statuses:
            keep &= _lookup(self.outcome_labels, selection.statuses)[self.outcome]
        if selection.user_states:
            selection._check_user_states(self.users)
            codes, labels = self._user_states()
            keep &= _lookup(labels, selection.user_states)[codes]
        if selection.search:
            needle = selection.search.lower()
            found = np.zeros(len(self.users), dtype=bool)
            for codes, lowered, categorical in self._search:
                hits = lowered.str.contains(needle, regex=False)
                hits = hits.fillna(False) if not categorical else hits
                found |= np.append(np.asarray(hits, dtype=bool), False)[codes]
            keep &= found
        return keep

    def suppressed(self, selection: Selection, k: int | None) -> Suppressed:
        """``selection`` (its department filter ignored) after small-group suppression at
        ``k``; cached, so changing only the department filter does not recompute it."""
        base = replace(selection, departments=())
        threshold = _threshold(k)
        key = (base, threshold)
        with self._lock:
            cached = self._suppressed.get(key)
            if cached is not None:
                self._suppressed.move_to_end(key)
                return cached
        result = self._suppress(self.mask(base), threshold)
        with self._lock:
            self._suppressed[key] = result
            while len(self._suppressed) > _SUPPRESSION_CACHE_SIZE:
                self._suppressed.popitem(last=False)
        return result

    def view(self, selection: Selection, k: int | None) -> PreparedView:
        """The rows ``selection`` shows after suppression at ``k``, department filter last."""
        return self.suppressed(selection, k).view(selection.departments)

    def _suppress(self, mask: np.ndarray, threshold: int) -> Suppressed:
        plain = Suppressed(self, mask, self.department, self.department_dtype, relabelled=False)
        if threshold == 0 or not mask.any():
            return plain
        categories = self.department_dtype.categories
        pairs = self.pair[mask]
        present = np.zeros(len(self.pair_department), dtype=bool)
        present[pairs[pairs >= 0]] = True
        pair_department = self.pair_department[present]
        pair_person = self.pair_person[present]
        sizes = np.bincount(pair_department, minlength=len(categories))
        size_of = {str(categories[c]): int(sizes[c]) for c in np.flatnonzero(sizes)}
        code_of = {name: categories.get_loc(name) for name in size_of}

        def people_in(names: Sequence[str]) -> int:
            chosen = np.isin(pair_department, [code_of[name] for name in names])
            return len(np.unique(pair_person[chosen]))

        total = len(np.unique(pair_person))
        hidden, primary = _choose_hidden(size_of, total, threshold, people_in)
        if not hidden:
            return plain
        mapping, dtype = _relabel_codes(categories, set(hidden), self.department_dtype.ordered)
        return Suppressed(
            self,
            mask,
            mapping[self.department],
            dtype,
            relabelled=True,
            hidden=tuple(hidden),
            primary=tuple(primary),
            everything_hidden=len(hidden) == len(size_of),
        )

    def answer_rows(self, mask: np.ndarray) -> np.ndarray:
        """Per answer row: the first selected user row with its key (-1 if none)."""
        if self.unique_user_keys:
            return self._answer_row
        rows = np.flatnonzero(mask)
        keys, index = np.unique(self.user_key[rows], return_index=True)
        row_of_key = np.full(self.n_keys + 1, -1, dtype=np.intp)
        row_of_key[keys] = rows[index]
        return row_of_key[self.answer_key]


_CACHE: weakref.WeakValueDictionary[tuple[int, int], PreparedFrames] = weakref.WeakValueDictionary()
_CACHE_LOCK = threading.Lock()


def prepare(users: pd.DataFrame, answers: pd.DataFrame) -> PreparedFrames:
    """The :class:`PreparedFrames` of these frames, shared while anything holds it."""
    key = (id(users), id(answers))
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        # ids are only reused after a frame is freed, and a live entry holds its frames.
        if found is not None and found.users is users and found.answers is answers:
            return found
    prepared = PreparedFrames(users, answers)
    with _CACHE_LOCK:
        _CACHE[key] = prepared
    return prepared
