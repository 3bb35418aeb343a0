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
``numSent: "abc"``), text without a UTF-8 form (lone surrogates) or an unparseable date.

How the user rows are built
---------------------------
Each campaign's items go through ``pyarrow.array(items)`` (C++ type inference and conversion into
one struct array), then column by column through pyarrow compute and numpy: strings stay Arrow
arrays, repeated strings are dictionary-encoded into categoricals, result values are mapped once
per distinct spelling. No Python code runs per item. Whatever that path cannot type exactly
(pyarrow refuses the items, a field has an unexpected type or value, an email is missing, ...)
sends the campaign through the item-by-item validating path, which raises the precise error
above or, for odd but valid input, builds the same rows. Both paths produce one columnar
intermediate per campaign, as do the previous frames in :func:`reuse_frames`; one function
assembles the frames from it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from awareness_analysis.errors import MimecastResponseError
from awareness_analysis.vocabulary import OUTCOMES, UNASSIGNED_DEPARTMENT

__all__ = [
    "ANSWER_DTYPES",
    "CAMPAIGN_DTYPES",
    "OUTCOMES",
    "UNASSIGNED_DEPARTMENT",
    "USER_DTYPES",
    "ConvertedItems",
    "Frames",
    "build_frames",
    "campaigns_frame",
    "convert_user_items",
    "normalise_email",
    "reusable_campaign_ids",
    "reuse_frames",
]

UNKNOWN_USER_STATE = "UNKNOWN"
API_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# Guards the dense users x questions matrix against a absurd key such as forQuestion99999.
MAX_QUESTIONS = 100

OUTCOME_DTYPE = pd.CategoricalDtype(pd.Index(OUTCOMES, dtype="str"), ordered=False)
_DATE_DTYPE = "datetime64[us, UTC]"


def normalise_email(address: str) -> str:
    """The address trimmed and lower-cased with Python's own ``str.strip`` and ``str.lower``:
    one spelling per mailbox. The one rule for who is one person: the engine's person keys
    (:func:`~awareness_analysis.analysis.privacy.person_keys`) and the behaviour joins both
    apply it, so a person joined there is the person counted here."""
    return address.strip().lower()


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
INT32_MAX = int(np.iinfo(np.int32).max)


@dataclass(frozen=True)
class Frames:
    """The three tidy frames of one fetch (see the module docstring for columns)."""

    campaigns: pd.DataFrame
    users: pd.DataFrame
    answers: pd.DataFrame


def brief(value: object) -> str:
    """``repr(value)``, cut to 80 characters: what an error message quotes of bad data."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(
    field: str, campaign_id: object, value: object, expected: str, where: str = ""
) -> MimecastResponseError:
    where = f" {where}" if where else ""
    return MimecastResponseError(
        f"Unexpected Mimecast data: field {field!r} of campaign {campaign_id!r}{where} "
        f"is {brief(value)}; expected {expected}"
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
    if not 0 <= value <= INT32_MAX:
        raise _bad(label, cid, value, f"a whole number from 0 to {INT32_MAX}")
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
            try:
                return parsed.astimezone(UTC)
            except OverflowError:
                raise _bad(
                    field, cid, value, "a date between the years 1 and 9999 in UTC"
                ) from None
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
            f"Unexpected Mimecast data: campaign #{position} is {brief(raw)}; expected an object"
        )
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid:
        raise MimecastResponseError(
            f"Unexpected Mimecast data: field 'id' of campaign #{position} "
            f"(name {brief(raw.get('name'))}) is {brief(cid)}; expected a non-empty string"
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
            f"Unexpected Mimecast data: campaigns is {brief(campaigns)}; expected a list"
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


def str_categories(values: Sequence[str]) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(pd.Index(list(dict.fromkeys(values)), dtype="str"), ordered=False)


def sorted_categorical(values: Sequence[str] | np.ndarray) -> pd.Categorical:
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
            "campaign_name": pd.Categorical(names, dtype=str_categories(names)),
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


def _campaigns_frame_unchecked(campaigns: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per campaign from ``get-campaigns`` objects (columns: :data:`CAMPAIGN_DTYPES`)."""
    rows = _parse_campaigns(campaigns)
    ids = [row["campaign_id"] for row in rows]
    n_questions = np.array([row["n_questions"] for row in rows], dtype=np.int8)
    return _campaigns_df(rows, str_categories(ids), n_questions)


# -- user rows: one columnar intermediate ---------------------------------------------------------
#
# Raw user items (fast pyarrow path or the validating Python path) and the rows of a previous
# snapshot both become _Piece objects; _assemble builds the users and answers frames from them.


@dataclass(frozen=True)
class _Coded:
    """Strings as codes into ``values`` (values may repeat or go unused; no missing values)."""

    codes: np.ndarray
    values: list[str]


@dataclass(frozen=True)
class _Piece:
    """User rows of one campaign (or part of one) in columnar form, defaults already applied."""

    email: pa.LargeStringArray  # non-empty strings
    name: pa.LargeStringArray
    department: _Coded  # "" and missing already mapped to UNASSIGNED_DEPARTMENT
    user_state: _Coded
    acknowledged: np.ndarray  # bool
    # Result codes (_SENT, _CORRECT, _INCORRECT) of questions 1..width; _SENT where absent.
    results: np.ndarray  # int8, shape (rows, width)
    # Highest N among the results' forQuestionN keys (raises the campaign's n_questions).
    max_question: int

    def __len__(self) -> int:
        return len(self.acknowledged)


_EMPTY_STRINGS = pa.array([], type=pa.large_string())
# Large outputs of unknown final size (conversion, concatenation, take of strings) are built in
# the system allocator's pool: with pyarrow's default mimalloc pool, taking 2.5M short strings
# measured about 0.3 s against 0.05 s here, and a 1M-row build about 1.5x slower overall.
_POOL = pa.system_memory_pool()
# What the fast path may meet in pyarrow conversion or compute calls; any of it means "use the
# validating path", which then raises the precise MimecastResponseError (or copes).
_ARROW_TROUBLE = (pa.ArrowException, TypeError, ValueError, OverflowError, UnicodeError)


class _NotFast(Exception):
    """Raised inside the fast path when the validating path has to take over."""


class _UnencodableText(Exception):
    """Text without a UTF-8 form (lone surrogates): reported after every other check passed."""

    def __init__(self, error: MimecastResponseError) -> None:
        super().__init__(str(error))
        self.error = error


def _strings_or_bad(values: list[str], field: str, cid: str, emails: list[str]) -> pa.Array:
    """``values`` as a large_string array; text that has no UTF-8 form is a response error."""
    try:
        return pa.array(values, type=pa.large_string())
    except UnicodeError:
        for position, value in enumerate(values):
            try:
                value.encode("utf-8")
            except UnicodeError:
                where = f"user {emails[position]!r}" if field != "email" else f"item #{position}"
                raise _UnencodableText(
                    _bad(field, cid, value, "valid Unicode text", where)
                ) from None
        raise


def _coded_strings(values: list[str], field: str, cid: str, emails: list[str]) -> _Coded:
    encoded = _strings_or_bad(values, field, cid, emails).dictionary_encode()
    return _Coded(
        np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
        encoded.dictionary.to_pylist(),
    )


def _slow_piece(cid: str, items: object) -> _Piece:
    """Validate item by item and flatten (the reference path, used when the fast one cannot)."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise _bad("items", cid, items, "a list of user objects")
    emails: list[str] = []
    names: list[str] = []
    departments: list[str] = []
    states: list[str] = []
    acknowledged: list[bool] = []
    answer_user: list[int] = []
    answer_question: list[int] = []
    answer_code: list[int] = []
    question_of: dict[str, int] = {}
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
            answer_user.append(len(emails))
            answer_question.append(number)
            answer_code.append(_result_code(value, cid, key, email))
        emails.append(email)
        names.append(name)
        departments.append(department)
        states.append(state)
        acknowledged.append(_bool_field(item, "acknowledgement", cid, where))
    width = max(answer_question, default=0)
    matrix = np.full((len(emails), width), _SENT, dtype=np.int8)
    questions = np.asarray(answer_question, dtype=np.int64)
    matrix[np.asarray(answer_user, dtype=np.int64), questions - 1] = np.asarray(
        answer_code, dtype=np.int8
    )
    return _Piece(
        email=_strings_or_bad(emails, "email", cid, emails),
        name=_strings_or_bad(names, "name", cid, emails),
        department=_coded_strings(departments, "department", cid, emails),
        user_state=_coded_strings(states, "userState", cid, emails),
        acknowledged=np.asarray(acknowledged, dtype=bool),
        results=matrix,
        max_question=width,
    )


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


def _fast_strings(column: pa.Array | None, n: int, default: str) -> pa.Array:
    """An optional string field with missing values set to ``default``, as large_string."""
    if column is None or pa.types.is_null(column.type):
        return pa.nulls(n, pa.large_string()).fill_null(default)
    if not pa.types.is_string(column.type):
        raise _NotFast
    if column.null_count:
        column = column.fill_null(default)
    return column.cast(pa.large_string())


def _fast_coded(column: pa.Array | None, n: int, default: str, blank_is_missing: bool) -> _Coded:
    """An optional string field dictionary-encoded, missing (and maybe "") set to ``default``."""
    if column is None or pa.types.is_null(column.type):
        return _Coded(np.zeros(n, dtype=np.int64), [default])
    if not pa.types.is_string(column.type):
        raise _NotFast
    encoded = column.dictionary_encode()
    values = encoded.dictionary.to_pylist()
    if blank_is_missing:
        values = [default if value == "" else value for value in values]
    indices = encoded.indices
    if indices.null_count:
        indices = indices.fill_null(len(values))
        values.append(default)
    return _Coded(np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64), values)


def _fast_results(
    column: pa.Array | None, items: list[Any], start: int, n: int
) -> tuple[np.ndarray, int]:
    """The dense result-code matrix of an inferred ``results`` struct, and its highest question."""
    if column is None or pa.types.is_null(column.type):
        return np.zeros((n, 0), dtype=np.int8), 0
    if not pa.types.is_struct(column.type):
        raise _NotFast
    numbers = []
    for field in column.type:
        match = _QUESTION_KEY.fullmatch(field.name)
        if match is None or not 1 <= int(match.group(1)) <= MAX_QUESTIONS:
            raise _NotFast
        numbers.append(int(match.group(1)))
    if len(set(numbers)) != len(numbers):  # e.g. forQuestion1 and forQuestion01
        raise _NotFast
    width = max(numbers, default=0)
    matrix = np.full((n, width), _SENT, dtype=np.int8)
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    # Null under a valid results object: the key is absent (fine) or its value is null (an
    # error); pyarrow cannot tell which, so those rows are looked at below.
    unclear = np.zeros(n, dtype=bool)
    # flatten() folds the parent's validity into each child: null where results is null too.
    for number, values in zip(numbers, column.flatten(), strict=True):
        if pa.types.is_null(values.type):
            unclear |= valid
            continue
        if not pa.types.is_string(values.type):
            raise _NotFast
        if values.null_count:
            unclear |= valid & np.asarray(values.is_null().to_numpy(zero_copy_only=False))
        encoded = values.dictionary_encode()
        lookup = []
        for spelling in encoded.dictionary.to_pylist():
            code = _RESULT_CODES.get(spelling)
            if code is None:
                code = _RESULT_CODES.get(spelling.lower())
            if code is None:
                raise _NotFast
            lookup.append(code)
        lookup.append(_SENT)  # where the key is absent
        indices = encoded.indices.fill_null(len(lookup) - 1)
        codes = np.asarray(lookup, dtype=np.int8)
        matrix[:, number - 1] = codes[indices.to_numpy(zero_copy_only=False)]
    for row in np.flatnonzero(unclear).tolist():
        if None in items[start + row]["results"].values():
            raise _NotFast
    return matrix, width


def _fast_piece(chunk: pa.Array, items: list[Any], start: int) -> _Piece:
    """A piece from pyarrow's conversion of ``items[start:start + len(chunk)]``."""
    if not pa.types.is_struct(chunk.type) or chunk.null_count:
        raise _NotFast
    n = len(chunk)
    fields = {field.name: chunk.field(i) for i, field in enumerate(chunk.type)}
    email = fields.get("email")
    if email is None or not pa.types.is_string(email.type) or email.null_count:
        raise _NotFast
    if n and pc.min(pc.binary_length(email)).as_py() == 0:
        raise _NotFast
    acknowledgement = fields.get("acknowledgement")
    if acknowledgement is None or pa.types.is_null(acknowledgement.type):
        acknowledged = np.zeros(n, dtype=bool)
    elif pa.types.is_boolean(acknowledgement.type):
        acknowledged = np.asarray(
            acknowledgement.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
        )
    else:
        raise _NotFast
    results, max_question = _fast_results(fields.get("results"), items, start, n)
    return _Piece(
        email=email.cast(pa.large_string()),
        name=_fast_strings(fields.get("name"), n, ""),
        department=_fast_coded(fields.get("department"), n, UNASSIGNED_DEPARTMENT, True),
        user_state=_fast_coded(fields.get("userState"), n, UNKNOWN_USER_STATE, False),
        acknowledged=acknowledged,
        results=results,
        max_question=max_question,
    )


def _fast_pieces(items: object) -> list[_Piece] | None:
    """Pieces via ``pyarrow.array(items)`` (type inference, in C++), or None if it cannot."""
    if type(items) is not list:
        return None
    try:
        converted = pa.array(items, memory_pool=_POOL)
        chunks = converted.chunks if isinstance(converted, pa.ChunkedArray) else [converted]
        if not items:
            return []
        pieces = []
        start = 0
        for chunk in chunks:
            pieces.append(_fast_piece(chunk, items, start))
            start += len(chunk)
        return pieces
    except (_NotFast, *_ARROW_TROUBLE):
        return None


def _pieces_from_items(cid: str, items: object) -> list[_Piece]:
    """One campaign's raw user items as pieces: fast when possible, else validated item by item."""
    pieces = _fast_pieces(items)
    return pieces if pieces is not None else [_slow_piece(cid, items)]


class ConvertedItems:
    """One campaign's user items already in columnar form (see :func:`convert_user_items`).

    :func:`build_frames` and :func:`reuse_frames` take it wherever they take that campaign's
    item list, with the same result; a problem found in conversion is raised there, in the same
    order as for raw items. It holds no Python dicts, so it is also far smaller in memory.
    """

    __slots__ = ("_error", "_pieces", "campaign_id", "n_items")

    def __init__(self, campaign_id: str, pieces: list[_Piece] | None, error: Exception | None):
        self.campaign_id = campaign_id
        self._pieces = pieces
        self._error = error
        self.n_items = sum(len(piece) for piece in pieces or ())

    def __len__(self) -> int:
        return self.n_items

    def __repr__(self) -> str:
        state = "invalid" if self._error is not None else f"{self.n_items} items"
        return f"ConvertedItems({self.campaign_id!r}, {state})"

    def pieces(self, cid: str) -> list[_Piece]:
        if cid != self.campaign_id:
            raise ValueError(
                f"user items converted for campaign {self.campaign_id!r} were given for {cid!r}"
            )
        if self._error is not None:
            raise self._error
        return self._pieces or []


def convert_user_items(campaign_id: str, items: Sequence[Mapping[str, Any]]) -> ConvertedItems:
    """Convert one campaign's raw user items now, so the frames can be built later without them.

    The fetch calls it as each campaign's last page arrives, while other campaigns are still
    downloading or waiting for quota; a problem in the items is kept and raised by
    :func:`build_frames`. This is the same conversion :func:`build_frames` runs on raw items.
    """
    try:
        return ConvertedItems(campaign_id, _pieces_from_items(campaign_id, items), None)
    except (_UnencodableText, MimecastResponseError, UnicodeEncodeError) as error:
        return ConvertedItems(campaign_id, None, error)


def _pieces_in_order(
    all_ids: list[str],
    user_items: Mapping[str, Any],
    reused: Mapping[str, _Piece] | None = None,
) -> list[tuple[int, list[_Piece]]]:
    """(category code, pieces) of every campaign with rows, validated in category order.

    Unencodable text is reported only when no campaign has another problem, as it always was.
    """
    reused = reused or {}
    pieces = []
    unencodable: _UnencodableText | None = None
    for code, cid in enumerate(all_ids):
        if cid in reused:
            pieces.append((code, [reused[cid]]))
        elif cid in user_items:
            items = user_items[cid]
            try:
                if isinstance(items, ConvertedItems):
                    pieces.append((code, items.pieces(cid)))
                else:
                    pieces.append((code, _pieces_from_items(cid, items)))
            except _UnencodableText as error:
                unencodable = unencodable or error
    if unencodable is not None:
        raise unencodable.error
    return pieces


# -- assembly -------------------------------------------------------------------------------------


def _take(values: pa.Array, positions: np.ndarray) -> pa.Array:
    return pc.take(values, pa.array(positions), memory_pool=_POOL)


def _categorical(parts: list[_Coded], order: np.ndarray | None) -> pd.Categorical:
    """The parts' strings, concatenated, as a categorical with lexically sorted used values."""
    values: list[str] = []
    shifted = []
    for part in parts:
        shifted.append(part.codes + len(values))
        values.extend(part.values)
    codes = np.concatenate(shifted) if shifted else np.zeros(0, dtype=np.int64)
    used = np.zeros(len(values), dtype=bool)
    used[codes] = True
    categories = sorted({values[slot] for slot in np.flatnonzero(used).tolist()})
    rank = {value: code for code, value in enumerate(categories)}
    to_category = np.asarray([rank.get(value, -1) for value in values], dtype=np.int64)
    final = to_category[codes] if order is None else to_category[codes[order]]
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype="str"), ordered=False)
    return pd.Categorical.from_codes(final, dtype=dtype)


def _domains(emails: pa.Array) -> pd.Categorical:
    """Lower-cased text after the last ``@`` ("" without one), computed once per address."""
    encoded = emails.dictionary_encode()
    after_at = pc.extract_regex(encoded.dictionary, r"(?s)@(?P<domain>[^@]*)$")
    domain = after_at.field("domain").fill_null("").dictionary_encode()
    # str.lower() on the few distinct domains keeps Python's exact lower-casing.
    lowered = _Coded(
        np.asarray(domain.indices.to_numpy(zero_copy_only=False), dtype=np.int64),
        [value.lower() for value in domain.dictionary.to_pylist()],
    )
    per_address = _categorical([lowered], None)
    codes = per_address.codes.astype(np.int64)[encoded.indices.to_numpy(zero_copy_only=False)]
    return pd.Categorical.from_codes(codes, dtype=per_address.dtype)


def _user_order(campaign: np.ndarray, email: pa.Array) -> np.ndarray | None:
    """Stable order by campaign code then email; None when the rows already are in it."""
    n = len(campaign)
    if n < 2:
        return None
    same = campaign[1:] == campaign[:-1]
    rising = campaign[1:] > campaign[:-1]
    in_email_order = np.asarray(
        pc.less_equal(email.slice(0, n - 1), email.slice(1)).to_numpy(zero_copy_only=False)
    )
    if bool(np.all(rising | (same & in_email_order))):
        return None
    table = pa.table({"campaign": campaign, "email": email})
    order = pc.sort_indices(table, sort_keys=[("campaign", "ascending"), ("email", "ascending")])
    return np.asarray(order.to_numpy(), dtype=np.int64)


def _assemble(
    rows: list[dict[str, Any]], extra_ids: list[str], pieces: list[tuple[int, list[_Piece]]]
) -> Frames:
    """The three frames from parsed campaigns and per-campaign-code pieces (in code order)."""
    all_ids = [row["campaign_id"] for row in rows] + extra_ids
    id_dtype = str_categories(all_ids)

    # Per campaign code: n_questions raised to the highest question any user has results for.
    n_questions = np.zeros(len(all_ids), dtype=np.int64)
    n_questions[: len(rows)] = [row["n_questions"] for row in rows]
    flat = [(code, piece) for code, group in pieces for piece in group]
    for code, piece in flat:
        n_questions[code] = max(n_questions[code], piece.max_question)
    width = int(n_questions.max(initial=0))

    lengths = np.asarray([len(piece) for _, piece in flat], dtype=np.int64)
    n_users = int(lengths.sum())
    user_campaign = np.repeat(np.asarray([code for code, _ in flat], dtype=np.int64), lengths)
    emails = pa.concat_arrays([p.email for _, p in flat], _POOL) if flat else _EMPTY_STRINGS
    names = pa.concat_arrays([p.name for _, p in flat], _POOL) if flat else _EMPTY_STRINGS
    acknowledged = np.concatenate([p.acknowledged for _, p in flat]) if flat else np.zeros(0, bool)
    results = np.full((n_users, width), _SENT, dtype=np.int8)
    start = 0
    for (_, piece), length in zip(flat, lengths.tolist(), strict=True):
        # Columns past the campaign's question count are all sent (see _max_question_of).
        columns = min(piece.results.shape[1], width)
        results[start : start + length, :columns] = piece.results[:, :columns]
        start += length

    # Order: campaign (launch order) then email; stable so duplicates keep API order.
    order = _user_order(user_campaign, emails)
    if order is not None:
        user_campaign = user_campaign[order]
        emails = _take(emails, order)
        names = _take(names, order)
        acknowledged = acknowledged[order]
        results = results[order]
    user_n_questions = n_questions[user_campaign]

    n_correct = (results == _CORRECT).sum(axis=1)
    n_incorrect = (results == _INCORRECT).sum(axis=1)
    outcome = np.where(n_incorrect > 0, _INCORRECT, np.where(n_correct > 0, _CORRECT, _SENT))

    names_by_code = [row["campaign_name"] for row in rows] + [""] * len(extra_ids)
    name_dtype = str_categories(names_by_code)
    name_codes = np.asarray(name_dtype.categories.get_indexer(names_by_code), dtype=np.int64)

    sorted_emails = pd.array(emails, dtype="str")
    users = pd.DataFrame(
        {
            "campaign_id": pd.Categorical.from_codes(user_campaign, dtype=id_dtype),
            "campaign_name": pd.Categorical.from_codes(name_codes[user_campaign], dtype=name_dtype),
            "email": sorted_emails,
            "email_domain": _domains(emails),
            "name": pd.array(names, dtype="str"),
            "department": _categorical([p.department for _, p in flat], order),
            "user_state": _categorical([p.user_state for _, p in flat], order),
            "acknowledged": acknowledged,
            "n_questions": user_n_questions.astype(np.int8),
            "n_correct": n_correct.astype(np.int8),
            "n_incorrect": n_incorrect.astype(np.int8),
            "n_unanswered": (user_n_questions - n_correct - n_incorrect).astype(np.int8),
            "outcome": pd.Categorical.from_codes(outcome, dtype=OUTCOME_DTYPE),
        }
    )

    # Long form, by user then question 1..n_questions of the user's campaign.
    answer_rows = np.repeat(np.arange(n_users, dtype=np.int64), user_n_questions)
    first_answer = np.cumsum(user_n_questions) - user_n_questions
    answer_cols = np.arange(len(answer_rows), dtype=np.int64) - np.repeat(
        first_answer, user_n_questions
    )
    answers = pd.DataFrame(
        {
            "campaign_id": pd.Categorical.from_codes(user_campaign[answer_rows], dtype=id_dtype),
            "email": pd.array(_take(emails, answer_rows), dtype="str"),
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


def _check_user_items(user_items: object, label: str = "user items") -> None:
    if not isinstance(user_items, Mapping):
        raise MimecastResponseError(
            f"Unexpected Mimecast data: {label} are {brief(user_items)}; "
            "expected a mapping of campaign id to items"
        )
    for cid in user_items:
        if not isinstance(cid, str) or not cid:
            raise _bad("id", cid, cid, "a non-empty campaign id string", "(user items key)")


def _build_frames_unchecked(
    campaigns: Sequence[Mapping[str, Any]],
    user_items: Mapping[str, Sequence[Mapping[str, Any]] | ConvertedItems],
) -> Frames:
    """Build the campaigns, users and answers frames (see the module docstring).

    ``user_items`` maps a campaign id to the ``data[0].items`` fetched for it.
    """
    rows = _parse_campaigns(campaigns)
    _check_user_items(user_items)
    known = {row["campaign_id"] for row in rows}
    extra_ids = [cid for cid in user_items if cid not in known]
    all_ids = [row["campaign_id"] for row in rows] + extra_ids
    # all_ids is in category order, so a position in it is the category code.
    pieces = _pieces_in_order(all_ids, user_items)
    return _assemble(rows, extra_ids, pieces)


# -- reuse of a previous snapshot's rows ----------------------------------------------------------


@dataclass(frozen=True)
class _Previous:
    """Per-campaign facts of previous frames, for reusing their user rows."""

    frames: Frames
    campaign_ids: list[str]  # the users frame's campaign_id categories
    user_codes: np.ndarray
    answer_codes: np.ndarray
    result_codes: np.ndarray
    n_rows: np.ndarray  # per campaign code
    n_questions: np.ndarray  # per campaign code (0 without rows)
    highest_answered: np.ndarray  # per campaign code: highest question answered (not sent)
    listed: frozenset[str]  # ids with a row in the previous campaigns frame


def _previous(frames: Frames) -> _Previous:
    users, answers = frames.users, frames.answers
    bad = ValueError("previous frames are not frames made by build_frames or reuse_frames")
    try:
        campaign_ids = [str(cid) for cid in users["campaign_id"].cat.categories]
        if [str(cid) for cid in answers["campaign_id"].cat.categories] != campaign_ids:
            raise bad
        user_codes = users["campaign_id"].cat.codes.to_numpy().astype(np.int64)
        answer_codes = answers["campaign_id"].cat.codes.to_numpy().astype(np.int64)
        user_n = users["n_questions"].to_numpy().astype(np.int64)
        questions = answers["question"].to_numpy().astype(np.int64)
        result_codes = pd.Categorical(answers["result"], categories=list(OUTCOMES)).codes
        listed = frozenset(str(cid) for cid in frames.campaigns["campaign_id"])
        if users[["email", "name", "department", "user_state"]].isna().to_numpy().any():
            raise bad
    except (KeyError, AttributeError, TypeError) as error:
        raise bad from error
    # Answers are the users' rows repeated n_questions times with questions 1..n, in user order.
    if len(answer_codes) != int(user_n.sum()) or (user_codes < 0).any() or (result_codes < 0).any():
        raise bad
    first = np.repeat(np.cumsum(user_n) - user_n, user_n)
    expected_questions = np.arange(len(questions), dtype=np.int64) - first + 1
    if not (
        np.array_equal(answer_codes, np.repeat(user_codes, user_n))
        and np.array_equal(questions, expected_questions)
    ):
        raise bad
    n_campaigns = len(campaign_ids)
    n_rows = np.bincount(user_codes, minlength=n_campaigns)
    n_questions = np.zeros(n_campaigns, dtype=np.int64)
    np.maximum.at(n_questions, user_codes, user_n)
    if not np.array_equal(user_n, n_questions[user_codes]):
        raise bad
    answered = result_codes != _SENT
    highest_answered = np.zeros(n_campaigns, dtype=np.int64)
    np.maximum.at(highest_answered, answer_codes[answered], questions[answered])
    return _Previous(
        frames=frames,
        campaign_ids=campaign_ids,
        user_codes=user_codes,
        answer_codes=answer_codes,
        result_codes=np.asarray(result_codes, dtype=np.int8),
        n_rows=n_rows,
        n_questions=n_questions,
        highest_answered=highest_answered,
        listed=listed,
    )


def _max_question_of(previous: _Previous, code: int, declared: int) -> int | None:
    """A ``max_question`` for reused rows that gives the same n_questions as the raw items.

    The raw items' highest results key ``k`` raised the previous count to ``n = max(d_old, k)``;
    the new count is ``max(declared, k)``. A ``SENT`` result and an absent key look alike in the
    frames, so ``k`` is known only as ``highest answered <= k <= n``, exactly when the campaign
    was not listed (``d_old`` was 0) or had no rows. None when the new count cannot be known.
    """
    n = int(previous.n_questions[code])
    answered = int(previous.highest_answered[code])
    if previous.n_rows[code] == 0:
        return 0
    if previous.campaign_ids[code] not in previous.listed:
        return n
    if declared >= n or answered == n:
        return answered
    return None


def _declared_questions(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {row["campaign_id"]: int(row["n_questions"]) for row in rows}


def reusable_campaign_ids(
    previous: Frames,
    campaigns: Sequence[Mapping[str, Any]],
    candidate_ids: Collection[str] | None = None,
) -> list[str]:
    """The ids among ``candidate_ids`` (default: all of ``previous``) whose rows can be reused.

    A campaign's previous rows can be reused by :func:`reuse_frames` unless ``campaigns`` gives
    it fewer questions than ``previous`` has and the previous frames cannot tell whether the
    raw results held the extra question keys (only ``SENT`` answers to them). Ids without a
    category in ``previous`` are not reusable. The order is that of ``candidate_ids``.
    """
    info = _previous(previous)
    declared = _declared_questions(_parse_campaigns(campaigns))
    code_of = {cid: code for code, cid in enumerate(info.campaign_ids)}
    candidates = info.campaign_ids if candidate_ids is None else list(candidate_ids)
    return [
        cid
        for cid in candidates
        if cid in code_of and _max_question_of(info, code_of[cid], declared.get(cid, 0)) is not None
    ]


def _large_strings(values: Any) -> pa.Array:
    converted = pa.array(values)
    if isinstance(converted, pa.ChunkedArray):
        converted = converted.combine_chunks() if converted.num_chunks else _EMPTY_STRINGS
    return converted.cast(pa.large_string())


def _pieces_from_frames(
    info: _Previous, wanted: dict[str, int]
) -> tuple[dict[str, _Piece], list[str]]:
    """Pieces of the previous rows of ``wanted`` (id -> declared question count), and the ids
    whose rows cannot be reused exactly (see :func:`_max_question_of`)."""
    users = info.frames.users
    emails = _large_strings(users["email"].array)
    names = _large_strings(users["name"].array)
    departments = users["department"].array
    states = users["user_state"].array
    department_values = [str(v) for v in departments.categories]
    state_values = [str(v) for v in states.categories]
    department_codes = np.asarray(departments.codes, dtype=np.int64)
    state_codes = np.asarray(states.codes, dtype=np.int64)
    acknowledged = users["acknowledged"].to_numpy(dtype=bool)
    code_of = {cid: code for code, cid in enumerate(info.campaign_ids)}
    pieces: dict[str, _Piece] = {}
    ambiguous: list[str] = []
    for cid, declared in wanted.items():
        code = code_of[cid]
        max_question = _max_question_of(info, code, declared)
        if max_question is None:
            ambiguous.append(cid)
            continue
        positions = np.flatnonzero(info.user_codes == code)
        n_prev = int(info.n_questions[code])
        answer_positions = np.flatnonzero(info.answer_codes == code)
        pieces[cid] = _Piece(
            email=_take(emails, positions),
            name=_take(names, positions),
            department=_Coded(department_codes[positions], department_values),
            user_state=_Coded(state_codes[positions], state_values),
            acknowledged=acknowledged[positions],
            results=info.result_codes[answer_positions].reshape(len(positions), n_prev),
            max_question=max_question,
        )
    return pieces, ambiguous


def _reuse_frames_unchecked(
    previous: Frames,
    keep_campaign_ids: Collection[str],
    campaigns: Sequence[Mapping[str, Any]],
    new_user_items: Mapping[str, Sequence[Mapping[str, Any]] | ConvertedItems],
) -> Frames:
    """Frames of a refreshed snapshot that reuses ``previous`` rows of unchanged campaigns.

    ``campaigns`` is the fresh ``get-campaigns`` list (the campaigns frame is rebuilt from it);
    the users and answers rows of the campaigns in ``keep_campaign_ids`` come from ``previous``
    and those of every other campaign from ``new_user_items``. The result equals
    ``build_frames(campaigns, all_items)``, where ``all_items`` holds the items ``previous`` was
    built from for the kept ids (in the order of ``previous``'s campaign categories) followed by
    ``new_user_items`` -- same values, dtypes, categories and their order, row order and index.

    Raises ``ValueError`` when a kept id has no category in ``previous``, also appears in
    ``new_user_items``, or its rows cannot be reused exactly (see
    :func:`reusable_campaign_ids`; fetch such campaigns again), and when ``previous`` is not
    frames made by :func:`build_frames` or :func:`reuse_frames`.
    :class:`~awareness_analysis.errors.MimecastResponseError` as for :func:`build_frames`.
    """
    rows = _parse_campaigns(campaigns)
    _check_user_items(new_user_items, "new user items")
    info = _previous(previous)
    keep = set(keep_campaign_ids)
    unknown = sorted(str(cid) for cid in keep - set(info.campaign_ids))
    if unknown:
        raise ValueError(f"campaign(s) to keep are not in the previous frames: {unknown}")
    both = sorted(keep & set(new_user_items))
    if both:
        raise ValueError(f"campaign(s) both kept and given new user items: {both}")
    kept_ids = [cid for cid in info.campaign_ids if cid in keep]
    declared = _declared_questions(rows)
    reused, ambiguous = _pieces_from_frames(info, {cid: declared.get(cid, 0) for cid in kept_ids})
    if ambiguous:
        raise ValueError(
            f"the previous rows of campaign(s) {ambiguous} cannot be reused: they now have fewer "
            "questions and the previous frames do not show which results keys the users had; "
            "fetch their user data again (see reusable_campaign_ids)"
        )
    known = set(declared)
    extra_ids = [cid for cid in [*kept_ids, *new_user_items] if cid not in known]
    all_ids = [row["campaign_id"] for row in rows] + extra_ids
    return _assemble(rows, extra_ids, _pieces_in_order(all_ids, new_user_items, reused))


# -- public entry points --------------------------------------------------------------------------
#
# Text that is not valid Unicode (a lone surrogate, which json.loads accepts) fails deep inside
# pandas and pyarrow; the entry points turn it into the package's own clear error.


def _invalid_text(exc: UnicodeEncodeError) -> MimecastResponseError:
    bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
    return MimecastResponseError(
        f"Unexpected Mimecast data: text containing {bad!r} is not valid Unicode; "
        "the API answer is corrupt, fetch again"
    )


def campaigns_frame(campaigns: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per campaign from ``get-campaigns`` objects (columns: :data:`CAMPAIGN_DTYPES`)."""
    try:
        return _campaigns_frame_unchecked(campaigns)
    except UnicodeEncodeError as exc:
        raise _invalid_text(exc) from None


def build_frames(
    campaigns: Sequence[Mapping[str, Any]],
    user_items: Mapping[str, Sequence[Mapping[str, Any]] | ConvertedItems],
) -> Frames:
    """The three tidy frames from campaigns and user items grouped by campaign id.

    See :func:`_build_frames_unchecked` for the details; bad data raises
    :class:`MimecastResponseError`.
    """
    try:
        return _build_frames_unchecked(campaigns, user_items)
    except UnicodeEncodeError as exc:
        raise _invalid_text(exc) from None


def reuse_frames(
    previous: Frames,
    keep_campaign_ids: Collection[str],
    campaigns: Sequence[Mapping[str, Any]],
    new_user_items: Mapping[str, Sequence[Mapping[str, Any]] | ConvertedItems],
) -> Frames:
    """Frames of a refreshed snapshot reusing kept campaigns' rows (see
    :func:`_reuse_frames_unchecked`); equal to :func:`build_frames` on all the items."""
    try:
        return _reuse_frames_unchecked(previous, keep_campaign_ids, campaigns, new_user_items)
    except UnicodeEncodeError as exc:
        raise _invalid_text(exc) from None
