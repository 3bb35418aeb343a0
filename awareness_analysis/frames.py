"""Tidy pandas frames built from Awareness Training API data.

Input is what the API returns, unchanged: campaign objects from ``data[0].campaigns`` of
``campaign/get-campaigns`` and user items from ``data[0].items`` of ``campaign/get-user-data``,
grouped by the campaign id they were fetched for (items carry no campaign id themselves).

Three frames come out (see :class:`Frames`):

``campaigns``
    One row per campaign, sorted by ``launch_date`` then ``campaign_id``.
``users``
    One row per campaign x user, sorted by campaign (in ``campaigns`` order) then ``email``.
``answers``
    Long form: one row per campaign x user x question ``1..n_questions`` of that campaign.

Columns and dtypes are listed in :data:`CAMPAIGN_DTYPES`, :data:`USER_DTYPES` and
:data:`ANSWER_DTYPES`. ``campaign_id`` shares one category list across the three frames (campaigns
in launch order, then ids that only appear in ``user_items``), so frames merge without losing the
categorical dtype. ``outcome`` and ``result`` always have the categories ``sent``, ``correct``,
``incorrect`` in that order, so empty categories still show in counts.

Defaults for missing (absent or ``null``) optional fields
---------------------------------------------------------
User items:

* ``name`` -> ``""``
* ``department`` (also when ``""``) -> ``"(unassigned)"`` (:data:`UNASSIGNED_DEPARTMENT`)
* ``acknowledgement`` -> ``False``
* ``userState`` -> ``"UNKNOWN"``
* ``results`` -> ``{}`` (every question counts as ``sent``)

Campaigns:

* ``name`` -> ``""``; ``title`` -> ``{}`` (``module_id`` and ``module_title`` ``""``)
* ``launchDate``/``createDate`` -> ``NaT`` (such campaigns sort last)
* ``numSent``, ``numCompleted``, ``group.userCount`` -> ``0``; ``percentComplete``,
  ``percentCorrect`` -> ``NaN``; ``numCorrectAnswers`` -> ``{}``; ``locked`` -> ``False``
* ``group`` -> ``{}`` (``group_name`` ``""``)

Interpretation rules:

* ``n_questions`` of a campaign is the highest ``N`` among the ``forQuestionN`` keys of
  ``title.correctAnswers``, else of ``numCorrectAnswers``, else 0; :func:`build_frames` raises it
  to the highest question found in that campaign's user results. A question the campaign has but
  a user's ``results`` lack counts as ``sent``.
* Result values are read case-insensitively (the vendor page says ``correct``, real traffic says
  ``CORRECT``).
* ``outcome`` per user: ``incorrect`` if any answer is incorrect, else ``correct`` if any answer is
  correct, else ``sent`` (nothing answered yet, or no questions).
* User items for a campaign id absent from ``campaigns`` are kept, with ``campaign_name`` ``""``;
  they get no row in ``campaigns``.
* Unknown extra fields are ignored everywhere.

Anything that cannot be understood raises :class:`~awareness_analysis.errors.MimecastResponseError`
naming the field, the campaign id and the offending value: a campaign without ``id``, a duplicate
campaign id, an item without ``email``, ``results`` that is not an object, a ``results`` key that
is not ``forQuestionN``, a result value other than sent/correct/incorrect, a wrong type (e.g.
``numSent: "abc"``) or an unparseable date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from awareness_analysis.errors import MimecastResponseError

__all__ = [
    "ANSWER_DTYPES",
    "CAMPAIGN_DTYPES",
    "OUTCOMES",
    "UNASSIGNED_DEPARTMENT",
    "USER_DTYPES",
    "Frames",
    "build_frames",
    "campaigns_frame",
]

UNASSIGNED_DEPARTMENT = "(unassigned)"
OUTCOMES = ("sent", "correct", "incorrect")
UNKNOWN_USER_STATE = "UNKNOWN"
API_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# Guards the dense users x questions matrix against a absurd key such as forQuestion99999.
MAX_QUESTIONS = 100

OUTCOME_DTYPE = pd.CategoricalDtype(pd.Index(OUTCOMES, dtype="str"), ordered=False)
_DATE_DTYPE = "datetime64[us, UTC]"

# Column -> dtype name ("category" columns have data-dependent categories).
CAMPAIGN_DTYPES: dict[str, str] = {
    "campaign_id": "category",
    "campaign_name": "category",
    "module_id": "str",
    "module_title": "str",
    "launch_date": _DATE_DTYPE,
    "create_date": _DATE_DTYPE,
    "num_sent": "int32",
    "num_completed": "int32",
    "percent_complete": "float64",
    "percent_correct": "float64",
    "num_correct_answers": "int32",
    "n_questions": "int8",
    "locked": "bool",
    "group_name": "str",
    "group_user_count": "int32",
}
USER_DTYPES: dict[str, str] = {
    "campaign_id": "category",
    "campaign_name": "category",
    "email": "str",
    "email_domain": "category",
    "name": "str",
    "department": "category",
    "user_state": "category",
    "acknowledged": "bool",
    "n_questions": "int8",
    "n_correct": "int8",
    "n_incorrect": "int8",
    "n_unanswered": "int8",
    "outcome": "category",
}
ANSWER_DTYPES: dict[str, str] = {
    "campaign_id": "category",
    "email": "str",
    "question": "int8",
    "result": "category",
}

_QUESTION_KEY = re.compile(r"forQuestion([0-9]+)")
# Exact spellings seen or documented; anything else goes through str.lower() once.
_RESULT_CODES: dict[str, int] = {}
for _code, _outcome in enumerate(OUTCOMES):
    _RESULT_CODES[_outcome] = _code
    _RESULT_CODES[_outcome.upper()] = _code
_SENT, _CORRECT, _INCORRECT = 0, 1, 2
_INT32_MAX = int(np.iinfo(np.int32).max)


@dataclass(frozen=True)
class Frames:
    """The three tidy frames of one fetch (see the module docstring for columns)."""

    campaigns: pd.DataFrame
    users: pd.DataFrame
    answers: pd.DataFrame


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(
    field: str, campaign_id: object, value: object, expected: str, where: str = ""
) -> MimecastResponseError:
    where = f" {where}" if where else ""
    return MimecastResponseError(
        f"Unexpected Mimecast data: field {field!r} of campaign {campaign_id!r}{where} "
        f"is {_show(value)}; expected {expected}"
    )


def _str_field(obj: Mapping[str, Any], field: str, cid: object, default: str = "") -> str:
    value = obj.get(field)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _bad(field, cid, value, "a string")
    return value


def _count_field(obj: Mapping[str, Any], field: str, cid: object, label: str = "") -> int:
    value = obj.get(field)
    if value is None:
        return 0
    label = label or field
    # bool is an int subclass, but True is no count.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(label, cid, value, "a whole number")
    if isinstance(value, float) and not value.is_integer():
        raise _bad(label, cid, value, "a whole number")
    if not 0 <= value <= _INT32_MAX:
        raise _bad(label, cid, value, f"a whole number from 0 to {_INT32_MAX}")
    return int(value)


def _percent_field(obj: Mapping[str, Any], field: str, cid: object) -> float:
    value = obj.get(field)
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(field, cid, value, "a number")
    return float(value)


def _bool_field(obj: Mapping[str, Any], field: str, cid: object, where: str = "") -> bool:
    value = obj.get(field)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(field, cid, value, "true or false", where)
    return value


def _date_field(obj: Mapping[str, Any], field: str, cid: object) -> datetime | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.strptime(value, API_DATE_FORMAT)
        except ValueError:
            # Tolerate other ISO 8601 spellings ("Z", fractions) should the API change.
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                raise _bad(field, cid, value, "a date with a UTC offset")
            return parsed.astimezone(UTC)
    raise _bad(field, cid, value, "a date like '2022-01-11T23:32:00+0000'")


def _mapping_field(obj: Mapping[str, Any], field: str, cid: object) -> Mapping[str, Any]:
    value = obj.get(field)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(field, cid, value, "an object")
    return value


def _question_numbers(obj: Mapping[str, Any]) -> list[int]:
    """Question numbers of the ``forQuestionN`` keys; other keys are ignored."""
    numbers = []
    for key in obj:
        match = _QUESTION_KEY.fullmatch(key) if isinstance(key, str) else None
        if match:
            numbers.append(int(match.group(1)))
    return numbers


def _check_question(number: int, field: str, cid: object, key: object, where: str = "") -> int:
    if not 1 <= number <= MAX_QUESTIONS:
        raise _bad(field, cid, key, f"question numbers from 1 to {MAX_QUESTIONS}", where)
    return number


def _parse_campaign(raw: object, position: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise MimecastResponseError(
            f"Unexpected Mimecast data: campaign #{position} is {_show(raw)}; expected an object"
        )
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid:
        raise MimecastResponseError(
            f"Unexpected Mimecast data: field 'id' of campaign #{position} "
            f"(name {_show(raw.get('name'))}) is {_show(cid)}; expected a non-empty string"
        )
    title = _mapping_field(raw, "title", cid)
    group = _mapping_field(raw, "group", cid)
    correct_answers = _mapping_field(title, "correctAnswers", cid)
    per_question = _mapping_field(raw, "numCorrectAnswers", cid)

    questions = _question_numbers(correct_answers) or _question_numbers(per_question)
    n_questions = max(questions, default=0)
    if n_questions > MAX_QUESTIONS:
        raise _bad("title.correctAnswers", cid, n_questions, f"at most {MAX_QUESTIONS} questions")
    num_correct = 0
    for key in per_question:
        if isinstance(key, str) and _QUESTION_KEY.fullmatch(key):
            num_correct += _count_field(per_question, key, cid, f"numCorrectAnswers.{key}")

    return {
        "campaign_id": cid,
        "campaign_name": _str_field(raw, "name", cid),
        "module_id": _str_field(title, "id", cid),
        "module_title": _str_field(title, "title", cid).replace("_", " "),
        "launch_date": _date_field(raw, "launchDate", cid),
        "create_date": _date_field(raw, "createDate", cid),
        "num_sent": _count_field(raw, "numSent", cid),
        "num_completed": _count_field(raw, "numCompleted", cid),
        "percent_complete": _percent_field(raw, "percentComplete", cid),
        "percent_correct": _percent_field(raw, "percentCorrect", cid),
        "num_correct_answers": num_correct,
        "n_questions": n_questions,
        "locked": _bool_field(raw, "locked", cid),
        "group_name": _str_field(group, "description", cid),
        "group_user_count": _count_field(group, "userCount", cid),
    }


def _parse_campaigns(campaigns: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(campaigns, str | bytes | Mapping) or not isinstance(campaigns, Sequence):
        raise MimecastResponseError(
            f"Unexpected Mimecast data: campaigns is {_show(campaigns)}; expected a list"
        )
    rows = [_parse_campaign(raw, position) for position, raw in enumerate(campaigns)]
    seen: set[str] = set()
    for row in rows:
        if row["campaign_id"] in seen:
            raise _bad("id", row["campaign_id"], row["campaign_id"], "each campaign id once")
        seen.add(row["campaign_id"])
    # Python's datetime max stands in for NaT so undated campaigns sort last.
    latest = datetime.max.replace(tzinfo=UTC)
    rows.sort(key=lambda row: (row["launch_date"] or latest, row["campaign_id"]))
    return rows


def _str_categories(values: Sequence[str]) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(pd.Index(list(dict.fromkeys(values)), dtype="str"), ordered=False)


def _sorted_categorical(values: Sequence[str] | np.ndarray) -> pd.Categorical:
    """Categorical with lexically sorted str categories (also right when ``values`` is empty)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), sort=True)
    dtype = pd.CategoricalDtype(pd.Index(uniques, dtype="str"), ordered=False)
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _campaigns_df(
    rows: list[dict[str, Any]], id_dtype: pd.CategoricalDtype, n_questions: np.ndarray
) -> pd.DataFrame:
    names = [row["campaign_name"] for row in rows]

    def column(name: str) -> list[Any]:
        return [row[name] for row in rows]

    frame = pd.DataFrame(
        {
            "campaign_id": pd.Categorical(column("campaign_id"), dtype=id_dtype),
            "campaign_name": pd.Categorical(names, dtype=_str_categories(names)),
            "module_id": pd.array(column("module_id"), dtype="str"),
            "module_title": pd.array(column("module_title"), dtype="str"),
            "launch_date": pd.DatetimeIndex(column("launch_date"), dtype=_DATE_DTYPE),
            "create_date": pd.DatetimeIndex(column("create_date"), dtype=_DATE_DTYPE),
            "num_sent": np.array(column("num_sent"), dtype=np.int32),
            "num_completed": np.array(column("num_completed"), dtype=np.int32),
            "percent_complete": np.array(column("percent_complete"), dtype=np.float64),
            "percent_correct": np.array(column("percent_correct"), dtype=np.float64),
            "num_correct_answers": np.array(column("num_correct_answers"), dtype=np.int32),
            "n_questions": n_questions.astype(np.int8),
            "locked": np.array(column("locked"), dtype=bool),
            "group_name": pd.array(column("group_name"), dtype="str"),
            "group_user_count": np.array(column("group_user_count"), dtype=np.int32),
        }
    )
    return frame


def campaigns_frame(campaigns: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per campaign from ``get-campaigns`` objects (columns: :data:`CAMPAIGN_DTYPES`)."""
    rows = _parse_campaigns(campaigns)
    ids = [row["campaign_id"] for row in rows]
    n_questions = np.array([row["n_questions"] for row in rows], dtype=np.int8)
    return _campaigns_df(rows, _str_categories(ids), n_questions)


@dataclass
class _FlatUsers:
    """User items flattened into column lists in one pass (the only per-item Python loop)."""

    campaign_code: list[int]
    email: list[str]
    name: list[str]
    department: list[str]
    user_state: list[str]
    acknowledged: list[bool]
    # One entry per (user, question) present in results.
    answer_user: list[int]
    answer_question: list[int]
    answer_code: list[int]


def _result_code(value: object, cid: str, key: str, email: str) -> int:
    code = _RESULT_CODES.get(value) if isinstance(value, str) else None
    if code is None:
        code = _RESULT_CODES.get(value.lower()) if isinstance(value, str) else None
        if code is None:
            raise _bad(
                f"results.{key}", cid, value, "one of SENT, CORRECT, INCORRECT", f"user {email!r}"
            )
        _RESULT_CODES[value] = code  # cache the new spelling (e.g. "Correct")
    return code


def _flatten_users(groups: list[tuple[str, Sequence[Mapping[str, Any]]]]) -> _FlatUsers:
    flat = _FlatUsers([], [], [], [], [], [], [], [], [])
    question_of: dict[str, int] = {}
    row = 0
    for code, (cid, items) in enumerate(groups):
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
            raise _bad("items", cid, items, "a list of user objects")
        for position, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise _bad("items", cid, item, "a user object", f"item #{position}")
            email = item.get("email")
            if not isinstance(email, str) or not email:
                raise _bad("email", cid, email, "a non-empty string", f"item #{position}")
            where = f"user {email!r}"
            name = item.get("name")
            if name is None:
                name = ""
            elif not isinstance(name, str):
                raise _bad("name", cid, name, "a string", where)
            department = item.get("department")
            if department is None or department == "":
                department = UNASSIGNED_DEPARTMENT
            elif not isinstance(department, str):
                raise _bad("department", cid, department, "a string", where)
            state = item.get("userState")
            if state is None:
                state = UNKNOWN_USER_STATE
            elif not isinstance(state, str):
                raise _bad("userState", cid, state, "a string", where)
            results = item.get("results")
            if results is None:
                results = {}
            elif not isinstance(results, Mapping):
                raise _bad("results", cid, results, "an object {forQuestionN: result}", where)
            for key, value in results.items():
                number = question_of.get(key) if isinstance(key, str) else None
                if number is None:
                    match = _QUESTION_KEY.fullmatch(key) if isinstance(key, str) else None
                    if match is None:
                        raise _bad("results", cid, key, "keys like 'forQuestion1'", where)
                    number = _check_question(int(match.group(1)), "results", cid, key, where)
                    question_of[key] = number
                flat.answer_user.append(row)
                flat.answer_question.append(number)
                flat.answer_code.append(_result_code(value, cid, key, email))
            flat.campaign_code.append(code)
            flat.email.append(email)
            flat.name.append(name)
            flat.department.append(department)
            flat.user_state.append(state)
            flat.acknowledged.append(_bool_field(item, "acknowledgement", cid, where))
            row += 1
    return flat


def build_frames(
    campaigns: Sequence[Mapping[str, Any]],
    user_items: Mapping[str, Sequence[Mapping[str, Any]]],
) -> Frames:
    """Build the campaigns, users and answers frames (see the module docstring).

    ``user_items`` maps a campaign id to the ``data[0].items`` fetched for it.
    """
    rows = _parse_campaigns(campaigns)
    if not isinstance(user_items, Mapping):
        raise MimecastResponseError(
            f"Unexpected Mimecast data: user items are {_show(user_items)}; "
            "expected a mapping of campaign id to items"
        )
    known_ids = [row["campaign_id"] for row in rows]
    known = set(known_ids)
    for cid in user_items:
        if not isinstance(cid, str) or not cid:
            raise _bad("id", cid, cid, "a non-empty campaign id string", "(user items key)")
    extra_ids = [cid for cid in user_items if cid not in known]
    all_ids = known_ids + extra_ids
    id_dtype = _str_categories(all_ids)
    # all_ids is already in category order, so a position in it is the category code.
    groups = [(cid, user_items[cid]) for cid in all_ids if cid in user_items]
    code_of = {cid: code for code, cid in enumerate(all_ids)}
    flat = _flatten_users(groups)

    # Per campaign code: n_questions raised to the highest question any user has results for.
    n_campaigns = len(all_ids)
    n_questions = np.zeros(n_campaigns, dtype=np.int64)
    n_questions[: len(rows)] = [row["n_questions"] for row in rows]
    to_campaign = np.array([code_of[cid] for cid, _ in groups], dtype=np.int64)
    user_campaign = to_campaign[np.asarray(flat.campaign_code, dtype=np.int64)]
    answer_user = np.asarray(flat.answer_user, dtype=np.int64)
    answer_question = np.asarray(flat.answer_question, dtype=np.int64)
    np.maximum.at(n_questions, user_campaign[answer_user], answer_question)

    # Dense users x questions matrix of result codes; questions nobody answered stay sent.
    n_users = len(flat.email)
    width = int(n_questions.max(initial=0))
    results = np.full((n_users, width), _SENT, dtype=np.int8)
    results[answer_user, answer_question - 1] = np.asarray(flat.answer_code, dtype=np.int8)
    user_n_questions = n_questions[user_campaign]
    in_campaign = np.arange(width)[None, :] < user_n_questions[:, None]

    # Order: campaign (launch order) then email; stable so duplicates keep API order.
    emails = np.asarray(flat.email, dtype=object)
    email_codes, email_uniques = pd.factorize(emails, sort=True)
    order = np.lexsort((email_codes, user_campaign))
    user_campaign = user_campaign[order]
    email_codes = email_codes[order]
    results = results[order]
    in_campaign = in_campaign[order]
    user_n_questions = user_n_questions[order]

    n_correct = (results == _CORRECT).sum(axis=1)
    n_incorrect = (results == _INCORRECT).sum(axis=1)
    outcome = np.where(n_incorrect > 0, _INCORRECT, np.where(n_correct > 0, _CORRECT, _SENT))

    # Domains are computed once per distinct address, not per row.
    domains = [email.rpartition("@")[2].lower() if "@" in email else "" for email in email_uniques]
    domain_codes, domain_uniques = pd.factorize(np.asarray(domains, dtype=object), sort=True)
    domain_dtype = pd.CategoricalDtype(pd.Index(domain_uniques, dtype="str"), ordered=False)

    names_by_code = [row["campaign_name"] for row in rows] + [""] * len(extra_ids)
    name_dtype = _str_categories(names_by_code)
    name_codes = np.asarray(name_dtype.categories.get_indexer(names_by_code), dtype=np.int64)

    sorted_emails = pd.array(emails[order], dtype="str")
    users = pd.DataFrame(
        {
            "campaign_id": pd.Categorical.from_codes(user_campaign, dtype=id_dtype),
            "campaign_name": pd.Categorical.from_codes(name_codes[user_campaign], dtype=name_dtype),
            "email": sorted_emails,
            "email_domain": pd.Categorical.from_codes(
                domain_codes[email_codes], dtype=domain_dtype
            ),
            "name": pd.array(np.asarray(flat.name, dtype=object)[order], dtype="str"),
            "department": _sorted_categorical(np.asarray(flat.department, dtype=object)[order]),
            "user_state": _sorted_categorical(np.asarray(flat.user_state, dtype=object)[order]),
            "acknowledged": np.asarray(flat.acknowledged, dtype=bool)[order],
            "n_questions": user_n_questions.astype(np.int8),
            "n_correct": n_correct.astype(np.int8),
            "n_incorrect": n_incorrect.astype(np.int8),
            "n_unanswered": (user_n_questions - n_correct - n_incorrect).astype(np.int8),
            "outcome": pd.Categorical.from_codes(outcome, dtype=OUTCOME_DTYPE),
        }
    )

    # np.nonzero walks row-major: answers come out by user, then question.
    answer_rows, answer_cols = np.nonzero(in_campaign)
    answers = pd.DataFrame(
        {
            "campaign_id": pd.Categorical.from_codes(user_campaign[answer_rows], dtype=id_dtype),
            "email": sorted_emails.take(answer_rows),
            "question": (answer_cols + 1).astype(np.int8),
            "result": pd.Categorical.from_codes(
                results[answer_rows, answer_cols], dtype=OUTCOME_DTYPE
            ),
        }
    )
    return Frames(
        campaigns=_campaigns_df(rows, id_dtype, n_questions[: len(rows)]),
        users=users,
        answers=answers,
    )
