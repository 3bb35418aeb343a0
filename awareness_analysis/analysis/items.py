"""Item analysis of the knowledge questions: which questions work, and which to rewrite.

Pure functions over the tidy frames of :mod:`awareness_analysis.data.frames` (``answers``, one
row per campaign x person x question, and ``campaigns``) and, where the snapshot has them, the
training queue's tables (``training_modules`` and ``module_options``, ``fetch --include
queue``); they do no I/O and never change their input.

Per question (a campaign's question N; the API has no question text):

* **Difficulty** = correct answers / answered (a question still at SENT is not answered, never
  wrong), the share correct: higher is easier. Its 95% Wilson interval uses the
  person-clustered effective n (:func:`~awareness_analysis.analysis.stats.design_effect`), as
  the question-accuracy page does, so the figure is that page's figure. ``n`` counts answers
  and ``people`` the distinct people who gave them (email trimmed and lower-cased).
* **Discrimination** = the corrected item-total correlation: across the people who answered
  this question and at least one other question of the same campaign (one module), the Pearson
  (point-biserial) correlation between being right on this question and the share right on
  the *other* questions (leaving the question itself out of the total, so it does not
  correlate with itself). Positive: the people who do well elsewhere get it right more
  often, as a fair question should. Negative: they get it wrong more often, so the question
  (or its marked answer) misleads those who know the subject. It counts people, one entry per
  person (a person listed twice in a campaign is one person, their answers averaged). With an
  approximate 95% interval by Fisher's z (atanh r +- z / sqrt(people - 3)). NaN, with the
  reason in ``discrimination_note``, where it cannot be computed: a module with one question,
  fewer than four people, or no variation.
* **The wrong option chosen most**, from the training queue's ``optionSpread``: the queue
  reports one spread per module, with one correct answer, and the API does not say which
  question it counts; it is shown against question 1 (the first question, as far as known)
  and said so. Counted in answers, as the vendor counts them (its own totals, which may
  include people outside the analysed campaigns). Where the snapshot has no queue, or the
  queue no entry for the module, ``option_note`` says so.
* **Flags**, judged only where at least ``min_people`` people answered (default 20; fewer is
  noise): *almost everyone right* (difficulty >= ``easy_at``, default 95%: the question
  teaches or measures little), *almost everyone wrong* (difficulty <= ``hard_at``, default
  20%, below the 25% that guessing among four options gives: people are drawn to a wrong
  answer, so the question or its marked answer may be wrong), and *better scorers get it
  wrong more often* (the whole 95% interval of the discrimination below ``negative_below``,
  default 0, so that noise around zero in a small group never flags a fair question).

Small groups follow the project's rule (:mod:`awareness_analysis.analysis.privacy`): a row
whose answers come from fewer than ``k`` people shows no figures, notes or flags
(``suppressed`` True), and a discrimination over fewer than ``k`` people is not shown. The
table has no per-person rows. Every table says in ``attrs["unit"]`` what ``n`` counts and in
``attrs["note"]`` its caveats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from awareness_analysis.analysis.privacy import DEFAULT_MIN_GROUP_SIZE, person_keys, threshold
from awareness_analysis.analysis.session import Analysis
from awareness_analysis.analysis.stats import (
    CONFIDENCE,
    Z_CONFIDENCE,
    design_effect,
    wilson_interval,
)
from awareness_analysis.vocabulary import UNIT_ANSWERS

__all__ = [
    "DEFAULT_EASY_AT",
    "DEFAULT_HARD_AT",
    "DEFAULT_MIN_FLAG_PEOPLE",
    "DEFAULT_NEGATIVE_BELOW",
    "FLAG_COLUMNS",
    "FLAG_LABELS",
    "MIN_CORRELATION_PEOPLE",
    "hide_items",
    "item_analysis",
    "item_analysis_for",
]

#: A question is "almost everyone right" at this share correct or more.
DEFAULT_EASY_AT = 0.95
#: A question is "almost everyone wrong" at this share correct or less: below the 25% that
#: guessing among the modules' four options gives.
DEFAULT_HARD_AT = 0.20
#: Negative discrimination: the whole interval of the correlation lies below this.
DEFAULT_NEGATIVE_BELOW = 0.0
#: Questions answered by fewer people are not judged (not flagged): their shares are noise.
DEFAULT_MIN_FLAG_PEOPLE = 20
#: Fisher's interval needs more than three people; a correlation over fewer says nothing.
MIN_CORRELATION_PEOPLE = 4
#: The flag columns and what each says, in the order ``flag_reasons`` lists them.
FLAG_LABELS = {
    "too_easy": "almost everyone right",
    "too_hard": "almost everyone wrong",
    "negative_discrimination": "better scorers get it wrong more often",
}
FLAG_COLUMNS = tuple(FLAG_LABELS)

#: The queue's option spread is shown against this question of each module (see module doc).
SPREAD_QUESTION = 1
# A variance below this is none: shares of 0/1 answers, so far above rounding error.
_NO_VARIANCE = 1e-12
_ANSWER_COLUMNS = ("campaign_id", "email", "question", "result")
#: Counts blanked on a hidden row (as <NA>); every float column becomes NaN.
_COUNT_COLUMNS = (
    "correct",
    "incorrect",
    "not_answered",
    "n",
    "people",
    "discrimination_people",
    "top_wrong_option",
    "top_wrong_count",
    "wrong_in_spread",
)
_NOTE_COLUMNS = ("discrimination_note", "option_note", "flag_reasons", "flag_note")


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame]
    if missing:
        raise ValueError(
            f"The {name} frame lacks column(s) {', '.join(missing)}; pass the frames that "
            "awareness_analysis.data.frames.build_frames makes (e.g. analysis.answers)."
        )


def _check_thresholds(
    easy_at: float, hard_at: float, negative_below: float, min_people: int
) -> None:
    if not 0.0 <= hard_at < easy_at <= 1.0:
        raise ValueError(
            f"need 0 <= hard_at < easy_at <= 1 (shares correct), got hard_at={hard_at!r}, "
            f"easy_at={easy_at!r}"
        )
    if not -1.0 <= negative_below <= 1.0:
        raise ValueError(f"negative_below is a correlation (-1 to 1), got {negative_below!r}")
    if int(min_people) < 1:
        raise ValueError(f"min_people must be 1 or more, got {min_people!r}")


def _campaign_order(answers: pd.DataFrame, campaigns: pd.DataFrame | None) -> list[str]:
    """Campaign ids in launch order (the campaigns frame's order), then any others the
    answers name (categories' order, else sorted)."""
    ordered = [] if campaigns is None else [str(c) for c in campaigns["campaign_id"]]
    column = answers["campaign_id"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = [str(c) for c in column.cat.categories]
    else:
        present = sorted(set(column.astype("str").dropna()))
    return list(dict.fromkeys([*ordered, *present]))


def _correlations(
    item: np.ndarray,
    person: np.ndarray,
    correct: np.ndarray,
    item_campaign: np.ndarray,
    n_items: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per item: (people correlated, r, item variance, rest variance) of the corrected
    item-total correlation over counted answers (``item``, ``person``, ``correct`` per row).

    One entry per (item, person): the share right of that person's answers to the item (0 or
    1 unless listed twice). A person's rest score for an item is the mean of their entries
    for the *other* items of the campaign, so people who skipped a question still count, on
    the questions they answered.
    """
    width = int(person.max(initial=0)) + 1
    pair, pair_keys = pd.factorize(item.astype(np.int64) * width + person, sort=True)
    pair_keys = np.asarray(pair_keys, dtype=np.int64)
    y = np.bincount(pair, weights=correct.astype(np.float64)) / np.bincount(pair)
    pair_item = pair_keys // width
    pair_campaign = item_campaign[pair_item]
    enrolment, _ = pd.factorize(pair_campaign.astype(np.int64) * width + pair_keys % width)
    total = np.bincount(enrolment, weights=y)
    answered = np.bincount(enrolment)
    others = answered[enrolment] - 1
    use = others >= 1
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(use, (total[enrolment] - y) / others, np.nan)
    group, x, r = pair_item[use], y[use], rest[use]
    count = np.bincount(group, minlength=n_items).astype(np.float64)

    def mean(values: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.bincount(group, weights=values, minlength=n_items) / count

    mean_x, mean_r = mean(x), mean(r)
    # Centred on each item's means before the products: the plain sums of squares lose
    # precision for shares near 0 or 1.
    dx, dr = x - mean_x[group], r - mean_r[group]
    var_x, var_r, cov = mean(dx * dx), mean(dr * dr), mean(dx * dr)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.sqrt(var_x * var_r)
    return count.astype(np.int64), corr, var_x, var_r


def _fisher_interval(r: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Approximate interval of a correlation: tanh(atanh r -+ z / sqrt(n - 3)); NaN where
    r is NaN or n <= 3."""
    valid = np.isfinite(r) & (n > 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12))
        half = Z_CONFIDENCE / np.sqrt(np.where(valid, n - 3, 1.0))
    # At r = -1 or 1 (tiny modules) the clipped centre would leave r just outside its own
    # interval; the interval always holds the estimate.
    low = np.where(valid, np.minimum(np.tanh(centre - half), r), np.nan)
    high = np.where(valid, np.maximum(np.tanh(centre + half), r), np.nan)
    return low, high


def _module_spreads(
    campaigns: pd.DataFrame, training_modules: pd.DataFrame, module_options: pd.DataFrame
) -> dict[str, tuple[int, int, int, str]]:
    """Per campaign id: (most chosen wrong option, its count, wrong answers in the spread,
    note) from its module's queue entries; option -1 with the reason in the note where none."""
    entries = training_modules[["queue_id", "module_id", "launch_date"]]
    own = campaigns[["campaign_id", "module_id", "launch_date"]].astype({"campaign_id": "str"})
    pairs = own.merge(entries, on="module_id", suffixes=("", "_queue"))
    # A module queued more than once: the entry launched with the campaign is its own; without
    # one, the module's entries are pooled (the spread is then the module's, not the campaign's).
    pairs["same_launch"] = pairs["launch_date"] == pairs["launch_date_queue"]
    has_own = pairs.groupby("campaign_id")["same_launch"].transform("any")
    pairs = pairs[pairs["same_launch"] | ~has_own]
    options = module_options[["queue_id", "option", "count", "is_correct"]].merge(
        pairs[["campaign_id", "queue_id"]], on="queue_id"
    )
    spreads: dict[str, tuple[int, int, int, str]] = {}
    for cid in own["campaign_id"]:
        queued = pairs.loc[pairs["campaign_id"] == cid, "queue_id"].nunique()
        spread = options[options["campaign_id"] == cid]
        if not queued:
            spreads[cid] = (-1, -1, -1, "the training queue has no entry for this module")
        elif spread.empty:
            spreads[cid] = (-1, -1, -1, "the queue's entry for this module has no option spread")
        elif spread["is_correct"].isna().any():
            spreads[cid] = (-1, -1, -1, "the training queue does not say which option is correct")
        else:
            wrong = spread[~spread["is_correct"].astype(bool)]
            counts = wrong.groupby("option")["count"].sum()
            total = int(counts.sum())
            if total == 0:
                spreads[cid] = (-1, -1, -1, "nobody chose a wrong option in the queue's spread")
                continue
            # Ties go to the lowest option number, so the answer does not depend on row order.
            top = int(counts[counts == counts.max()].index.min())
            pooled = f"pooled over the module's {queued} queue entries" if queued > 1 else ""
            spreads[cid] = (top, int(counts[top]), total, pooled)
    return spreads


def _option_spread(
    campaign_ids: np.ndarray,
    questions: np.ndarray,
    campaigns: pd.DataFrame | None,
    training_modules: pd.DataFrame | None,
    module_options: pd.DataFrame | None,
) -> dict[str, np.ndarray]:
    """Per item: the most chosen wrong option of its module's queue spread (-1: none), its
    count, the wrong answers in the spread, and a note saying why none is shown."""
    size = len(campaign_ids)
    found: dict[str, np.ndarray] = {
        "top_wrong_option": np.full(size, -1, dtype=np.int64),
        "top_wrong_count": np.full(size, -1, dtype=np.int64),
        "wrong_in_spread": np.full(size, -1, dtype=np.int64),
        "option_note": np.full(size, "", dtype=object),
    }
    if training_modules is None or module_options is None:
        found["option_note"][:] = (
            "no training-queue data in this snapshot (fetch with --include queue)"
        )
        return found
    if campaigns is None or "module_id" not in campaigns or "launch_date" not in campaigns:
        found["option_note"][:] = "no campaigns table to match the queue's modules with"
        return found
    spreads = _module_spreads(campaigns, training_modules, module_options)
    missing = (-1, -1, -1, "the training queue has no entry for this module")
    for index, (cid, question) in enumerate(zip(campaign_ids, questions, strict=True)):
        top, count, total, note = spreads.get(str(cid), missing)
        if int(question) != SPREAD_QUESTION:
            top, count, total = -1, -1, -1
            note = (
                "the queue's option spread counts one question per module (shown against "
                f"question {SPREAD_QUESTION})"
            )
        found["top_wrong_option"][index] = top
        found["top_wrong_count"][index] = count
        found["wrong_in_spread"][index] = total
        found["option_note"][index] = note
    return found


def _optional_counts(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Counts as Int64, <NA> where negative (not available)."""
    counts = pd.array(np.where(values >= 0, values, 0), dtype="Int64")
    counts[values < 0] = pd.NA
    return counts


def hide_items(table: pd.DataFrame, hide: np.ndarray, reason: str) -> pd.DataFrame:
    """``table`` (an :func:`item_analysis` table) with the figures, notes and flags of the
    ``hide`` rows blanked (``suppressed`` True, counts <NA>, floats NaN, notes ``reason``):
    even a note such as "everyone gave the same answer" describes the people in the row."""
    hide = np.asarray(hide, dtype=bool)
    result = table.copy()
    result.attrs = dict(table.attrs)
    result["suppressed"] = result["suppressed"].to_numpy(dtype=bool) | hide
    if not hide.any():
        return result
    for column in _COUNT_COLUMNS:
        values = result[column].astype("Int64")
        values[hide] = pd.NA
        result[column] = values
    for column in result.columns:
        if result[column].dtype == np.float64:
            result.loc[hide, column] = np.nan
    for column in FLAG_COLUMNS:
        result.loc[hide, column] = False
    for column in _NOTE_COLUMNS:
        values = result[column].astype(object).to_numpy(copy=True)
        values[hide] = reason if column != "flag_reasons" else ""
        result[column] = pd.array(values, dtype="str")
    return result


def item_analysis(
    answers: pd.DataFrame,
    campaigns: pd.DataFrame | None = None,
    *,
    training_modules: pd.DataFrame | None = None,
    module_options: pd.DataFrame | None = None,
    easy_at: float = DEFAULT_EASY_AT,
    hard_at: float = DEFAULT_HARD_AT,
    negative_below: float = DEFAULT_NEGATIVE_BELOW,
    min_people: int = DEFAULT_MIN_FLAG_PEOPLE,
    k: int | None = DEFAULT_MIN_GROUP_SIZE,
) -> pd.DataFrame:
    """Difficulty, discrimination, the most chosen wrong option and flags per question.

    One row per (campaign, question) the answers hold, campaigns in launch order (the
    ``campaigns`` frame's order; it also gives names, module titles and the module each
    campaign teaches, for the queue's option spread). Columns:

    * ``campaign_id``, ``campaign_name``, ``module_title``, ``question``;
    * ``correct``, ``incorrect``, ``not_answered`` (answers still at SENT), ``n`` (answers
      counted: correct + incorrect), ``people`` (distinct people in n);
    * ``difficulty`` (correct / n), ``ci_low``, ``ci_high`` (95% Wilson on the
      person-clustered effective n), ``design_effect``;
    * ``discrimination`` (corrected item-total correlation), ``discrimination_ci_low``,
      ``discrimination_ci_high`` (Fisher's z, approximate), ``discrimination_people`` (people
      who answered it and another question of the campaign), ``discrimination_note`` (why
      there is none, else empty);
    * ``top_wrong_option`` (an option number), ``top_wrong_count``, ``wrong_in_spread``
      (every wrong answer in the queue's spread), ``top_wrong_share`` (the first over the
      second), ``option_note`` (why there is none, or that a spread is pooled);
    * ``too_easy``, ``too_hard``, ``negative_discrimination`` (the flags), ``flag_reasons`` (their
      words, ``; ``-separated), ``flag_note`` (why a question is not judged);
    * ``suppressed`` (fewer than ``k`` people answered: no figures).

    ``training_modules`` / ``module_options``: the snapshot's queue tables (``None``: not
    fetched). Thresholds: see the module docstring. ``k`` None, 0 or 1: suppression off.
    """
    _require(answers, _ANSWER_COLUMNS, "answers")
    _check_thresholds(easy_at, hard_at, negative_below, min_people)
    k = threshold(k)
    min_people = int(min_people)
    order = _campaign_order(answers, campaigns)
    position = {cid: index for index, cid in enumerate(order)}
    campaign = (
        answers["campaign_id"].astype("str").map(position).to_numpy(dtype=np.int64, na_value=-1)
    )
    if np.any(campaign < 0):
        raise ValueError("The answers frame has rows without a campaign_id.")
    if answers["email"].isna().any():
        raise ValueError("The answers frame has rows without an email.")
    question = answers["question"].to_numpy(dtype=np.int64)
    result = answers["result"].astype("str").to_numpy(dtype=object, na_value="")
    correct = result == "correct"
    counted = correct | (result == "incorrect")
    person, _ = pd.factorize(person_keys(answers["email"]))
    person = person.astype(np.int64)

    # Items in launch order, then question number.
    width = int(question.max(initial=0)) + 1
    item, item_keys = pd.factorize(campaign * width + question, sort=True)
    item_keys = np.asarray(item_keys, dtype=np.int64)
    n_items = len(item_keys)
    item_campaign = item_keys // width
    item_question = item_keys % width

    successes, n, people, deff = design_effect(
        item[counted], person[counted], correct[counted], n_items
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        difficulty = np.where(n > 0, successes / n, np.nan)
        n_effective = np.where(n > 0, n / deff, 0.0)
    ci_low, ci_high = wilson_interval(np.nan_to_num(difficulty) * n_effective, n_effective)
    not_answered = np.bincount(item, weights=result == "sent", minlength=n_items)

    people_correlated, r, var_item, var_rest = _correlations(
        item[counted], person[counted], correct[counted], item_campaign, n_items
    )
    # Questions with answers per campaign (the campaigns frame may know of more).
    answered_items = np.bincount(item_campaign[n > 0], minlength=len(order))
    module_size = answered_items.copy()
    if campaigns is not None and "n_questions" in campaigns:
        known = dict(
            zip(campaigns["campaign_id"].astype(str), campaigns["n_questions"], strict=True)
        )
        declared = np.array([int(known.get(cid, 0) or 0) for cid in order], dtype=np.int64)
        module_size = np.maximum(module_size, declared)
    size_of_module = module_size[item_campaign]
    others_answered = answered_items[item_campaign]
    reasons = [
        (n == 0, "nobody answered this question"),
        (size_of_module < 2, "one question in this module: no other question to correlate with"),
        (others_answered < 2, "no other question of this module has answers"),
        (
            people_correlated < MIN_CORRELATION_PEOPLE,
            f"fewer than {MIN_CORRELATION_PEOPLE} people answered it and another question",
        ),
        (var_item <= _NO_VARIANCE, "no variation: everyone gave it the same result"),
        (var_rest <= _NO_VARIANCE, "no variation in the scores on the other questions"),
        (
            (people_correlated < k) if k else np.zeros(n_items, dtype=bool),
            f"fewer than {k} people answered it and another question (suppressed)",
        ),
    ]
    discrimination_note = np.select(
        [condition for condition, _ in reasons], [text for _, text in reasons], default=""
    ).astype(object)
    r = np.where(discrimination_note == "", r, np.nan)
    r_low, r_high = _fisher_interval(r, people_correlated.astype(np.float64))

    ids = np.array(order, dtype=object)[item_campaign]
    spread = _option_spread(ids, item_question, campaigns, training_modules, module_options)
    with np.errstate(divide="ignore", invalid="ignore"):
        top_share = np.where(
            spread["wrong_in_spread"] > 0,
            spread["top_wrong_count"] / spread["wrong_in_spread"],
            np.nan,
        )

    judged = people >= min_people
    too_easy = judged & (np.nan_to_num(difficulty, nan=-1.0) >= easy_at)
    too_hard = judged & (np.nan_to_num(difficulty, nan=2.0) <= hard_at)
    negative = (people_correlated >= min_people) & (
        np.nan_to_num(r_high, nan=np.inf) < negative_below
    )
    flag_reasons = np.array(
        [
            "; ".join(label for label, on in zip(FLAG_LABELS.values(), row, strict=True) if on)
            for row in zip(too_easy, too_hard, negative, strict=True)
        ],
        dtype=object,
    )
    flag_note = np.where(judged, "", f"fewer than {min_people} people answered: not judged").astype(
        object
    )

    names, titles = _campaign_text(order, campaigns)
    table = pd.DataFrame(
        {
            "campaign_id": pd.Categorical(
                ids.astype(str), categories=pd.Index(order, dtype="str")
            ).remove_unused_categories(),
            "campaign_name": pd.array(names[item_campaign], dtype="str"),
            "module_title": pd.array(titles[item_campaign], dtype="str"),
            "question": item_question.astype(np.int64),
            "correct": pd.array(successes, dtype="Int64"),
            "incorrect": pd.array(n - successes, dtype="Int64"),
            "not_answered": pd.array(not_answered.round().astype(np.int64), dtype="Int64"),
            "n": pd.array(n, dtype="Int64"),
            "people": pd.array(people, dtype="Int64"),
            "difficulty": difficulty.astype(np.float64),
            "ci_low": ci_low,
            "ci_high": ci_high,
            "design_effect": deff.astype(np.float64),
            "discrimination": r.astype(np.float64),
            "discrimination_ci_low": r_low,
            "discrimination_ci_high": r_high,
            "discrimination_people": pd.array(people_correlated, dtype="Int64"),
            "discrimination_note": pd.array(discrimination_note, dtype="str"),
            **{
                column: _optional_counts(spread[column])
                for column in ("top_wrong_option", "top_wrong_count", "wrong_in_spread")
            },
            "top_wrong_share": top_share.astype(np.float64),
            "option_note": pd.array(spread["option_note"], dtype="str"),
            "too_easy": too_easy,
            "too_hard": too_hard,
            "negative_discrimination": negative,
            "flag_reasons": pd.array(flag_reasons, dtype="str"),
            "flag_note": pd.array(flag_note, dtype="str"),
            "suppressed": np.zeros(n_items, dtype=bool),
        }
    )
    small = (people > 0) & (people < k) if k else np.zeros(n_items, dtype=bool)
    table = hide_items(table, small, f"suppressed: fewer than {k} people answered")
    table.attrs.update(
        {
            "unit": UNIT_ANSWERS,
            "min_group_size": k,
            "easy_at": float(easy_at),
            "hard_at": float(hard_at),
            "negative_below": float(negative_below),
            "min_people": min_people,
            "confidence": CONFIDENCE,
            "note": _note(easy_at, hard_at, negative_below, min_people, k),
        }
    )
    return table


def _campaign_text(
    order: Sequence[str], campaigns: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray]:
    """(campaign name, module title) per campaign of ``order``; the id when unnamed."""
    names = dict.fromkeys(order, "")
    titles = dict.fromkeys(order, "")
    if campaigns is not None:
        ids = campaigns["campaign_id"].astype(str)
        if "campaign_name" in campaigns:
            names.update(zip(ids, campaigns["campaign_name"].astype(str), strict=True))
        if "module_title" in campaigns:
            titles.update(zip(ids, campaigns["module_title"].astype(str), strict=True))
    return (
        np.array([names[c] or c for c in order], dtype=object),
        np.array([titles[c] for c in order], dtype=object),
    )


def _note(easy_at: float, hard_at: float, negative_below: float, min_people: int, k: int) -> str:
    return (
        "Difficulty = correct answers / answered (n counts answers, people the distinct people "
        "who gave them; a question still at SENT is not answered, never wrong), with "
        f"{CONFIDENCE:.0%} Wilson intervals on the person-clustered effective n. "
        "Discrimination = corrected item-total correlation: over the people who answered the "
        "question and another of the same campaign, the correlation between being right on it "
        "and the share right on the other questions (Fisher-z interval, approximate); it counts "
        "people. The most chosen wrong option comes from the training queue's option spread "
        "(the vendor's counts of answers, one spread per module, shown against question "
        f"{SPREAD_QUESTION}). Flags, for questions at least {min_people} people answered: almost "
        f"everyone right (difficulty >= {easy_at:.0%}), almost everyone wrong (difficulty <= "
        f"{hard_at:.0%}), better scorers get it wrong more often (the discrimination's whole "
        f"interval below {negative_below:g})."
        + (
            f" Questions answered by fewer than {k} people, and correlations over fewer than "
            f"{k}, are suppressed."
            if k
            else ""
        )
    )


def item_analysis_for(analysis: Analysis, **options: Any) -> pd.DataFrame:
    """:func:`item_analysis` of an analysis session: its answers and campaigns, the
    snapshot's training-queue tables where fetched, its minimum group size unless ``options``
    say otherwise (``easy_at``, ``hard_at``, ``negative_below``, ``min_people``, ``k``)."""
    options.setdefault("k", analysis.min_group_size)
    return item_analysis(
        analysis.answers,
        analysis.campaigns,
        training_modules=analysis.tables.get("training_modules"),
        module_options=analysis.tables.get("module_options"),
        **options,
    )
