"""Tidy frames from Mimecast's other Awareness Training endpoints, and a ``people`` join.

Input is what the API returns, unchanged (the ``data`` rows of each endpoint); the functions do
no I/O. Every frame has fixed columns and dtypes, listed in the ``*_DTYPES`` constants below
(``"category"`` columns have data-dependent categories unless the constant's comment says
otherwise; ``"category|float64"`` is a SAFE score component whose scale is detected per column).

* :func:`phish_campaigns_frame` -- ``phishing/campaign/get-campaign``: one row per campaign.
* :func:`phish_templates_frame` -- the same rows: one row per campaign x template.
* :func:`phish_users_frame` -- ``phishing/campaign/get-user-data``: campaign x address.
* :func:`phish_user_totals_frame` -- the same items: one row per person, lifetime totals.
* :func:`reuse_phish_user_tables` -- the last two for a refreshed snapshot, taking unchanged
  campaigns' rows from an earlier snapshot.
* :func:`safe_scores_frame` -- ``company/get-safe-score-details``: one row per address.
* :func:`safe_summary_frame` -- ``company/get-safe-score-summary``: one row per risk grade.
* :func:`watchlist_frame` -- ``company/get-watchlist-details``: one row per address.
* :func:`performance_frame` -- ``company/get-performance-details``: one row per address.
* :func:`training_modules_frame` -- ``queue/get-queue``: one row per queue entry (module).
* :func:`module_options_frame` -- the same rows: queue entry x answer option.
* :func:`people_frame` -- any of the above plus the campaign ``users`` frame: one row per
  person, and a join report.

Email addresses
---------------
Every per-address frame has ``email`` = the address trimmed and lower-cased
(:func:`normalise_email`; the join key) and ``email_raw`` = the address exactly as the API
sent it (for display and audit; normalising loses information). ``email_domain`` is the text
after the last ``@`` of ``email`` (``""`` without one). A distribution list that appears as one
address stays one row: nothing is expanded. :func:`people_frame` additionally maps the domain
through a caller-supplied alias map (:func:`person_key`); there is no fuzzy matching anywhere.

The company endpoints' sources disagree on the address field: ``email`` or ``emailAddress``
are both accepted on every per-address endpoint; when a row has both they must name the same
address (after normalising), else the row is rejected.

Defaults for missing (absent or ``null``) optional fields
---------------------------------------------------------
* Text (names, titles, locale, template names, safety tip, sender) -> ``""``.
* ``department`` (also ``""``) -> ``"(unassigned)"``; ``userState`` -> ``"UNKNOWN"``
  (the same defaults as the campaign frames).
* Documented counts (``numSent``, ``numOpened``, ``watchlistCount``, ``numCorrect``, ...,
  ``group.userCount``) -> ``0``; booleans (``locked``, ``assignToNewUsers``) -> ``False``.
* Undocumented or per-person lifetime counts (``numReported``, the ``numCampaigns*`` /
  ``numTrainingModulesAssigned`` / ``numCorrectAnswers`` / ``numIncorrectAnswers`` totals) ->
  ``<NA>`` (nullable ``Int32``): absent is not zero.
* Dates -> ``NaT``. Phishing event times may also be ``""``, read as absent (the event did
  not happen).
* ``reactionTime``, SAFE components -> ``NaN``; ``risk`` -> missing category.
* ``status`` (phishing user data) -> derived from the event times: ``submitted`` if
  ``timeSubmitted``, else ``clicked`` if ``timeClicked``, else ``opened`` if ``timeOpened``,
  else ``sent``.
* ``userDetails`` -> ``"null"`` (the JSON text of a missing value).
* ``timeSlotSelected`` (type undocumented) -> ``""``; a string is kept, any other JSON value is
  kept as its JSON text.

Unknown extra fields are ignored everywhere. Anything that cannot be understood raises
:class:`~awareness_analysis.errors.MimecastResponseError` naming the endpoint, the field, the
row (campaign id, position, user) and the offending value: a missing key (``id``, email),
a duplicate campaign or queue id, a wrong type (``numSent: "abc"``), a negative or fractional
count, an unparseable date, a status other than sent/opened/clicked/submitted, a risk other
than A/B/C/D/F, text without a UTF-8 form.

Dates are parsed as :mod:`awareness_analysis.data.frames` parses them: the API form
``2026-10-20T07:30:00+0000`` first, any ISO 8601 form with a UTC offset as a fallback, a date
without an offset is an error; all become tz-aware UTC ``datetime64[us, UTC]``.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import numpy as np
import pandas as pd

from awareness_analysis.data.frames import (
    API_DATE_FORMAT,
    INT32_MAX,
    UNKNOWN_USER_STATE,
    brief,
    normalise_email,
    sorted_categorical,
    str_categories,
)
from awareness_analysis.errors import MimecastResponseError
from awareness_analysis.vocabulary import PHISH_STATUSES, RISK_GRADES, UNASSIGNED_DEPARTMENT

__all__ = [
    "JOIN_REPORT_DTYPES",
    "MODULE_OPTION_DTYPES",
    "PEOPLE_DTYPES",
    "PEOPLE_FIGURES",
    "PEOPLE_SOURCE_PRIORITY",
    "PERFORMANCE_DTYPES",
    "PHISH_CAMPAIGN_DTYPES",
    "PHISH_STATUSES",
    "PHISH_STATUS_DTYPE",
    "PHISH_TEMPLATE_DTYPES",
    "PHISH_USER_DTYPES",
    "PHISH_USER_TOTALS_DTYPES",
    "RISK_DTYPE",
    "RISK_GRADES",
    "SAFE_COMPONENTS",
    "SAFE_SCORE_DTYPES",
    "SAFE_SUMMARY_DTYPES",
    "TRAINING_MODULE_DTYPES",
    "WATCHLIST_DTYPES",
    "alias_map",
    "module_options_frame",
    "normalise_email",
    "people_frame",
    "performance_frame",
    "person_key",
    "person_keyer",
    "phish_campaigns_frame",
    "phish_templates_frame",
    "phish_user_tables",
    "phish_user_totals_frame",
    "phish_users_frame",
    "reusable_phish_campaign_ids",
    "reuse_phish_user_tables",
    "safe_scores_frame",
    "safe_summary_frame",
    "training_modules_frame",
    "watchlist_frame",
]

PHISH_CAMPAIGNS_ENDPOINT = "phishing/campaign/get-campaign"
PHISH_USER_DATA_ENDPOINT = "phishing/campaign/get-user-data"
SAFE_DETAILS_ENDPOINT = "company/get-safe-score-details"
SAFE_SUMMARY_ENDPOINT = "company/get-safe-score-summary"
WATCHLIST_ENDPOINT = "company/get-watchlist-details"
PERFORMANCE_ENDPOINT = "company/get-performance-details"
QUEUE_ENDPOINT = "queue/get-queue"

PHISH_STATUS_DTYPE = pd.CategoricalDtype(pd.Index(PHISH_STATUSES, dtype="str"), ordered=True)
RISK_DTYPE = pd.CategoricalDtype(pd.Index(RISK_GRADES, dtype="str"), ordered=True)
#: SAFE score components: raw field -> column. Their scale (letters or numbers) is unverified.
SAFE_COMPONENTS: dict[str, str] = {
    "humanError": "human_error",
    "sentiment": "sentiment",
    "engagement": "engagement",
    "knowledge": "knowledge",
}

_DATE_DTYPE = "datetime64[us, UTC]"
# Option numbers ("option-N", correctAnswer, answerNumber); a sanity bound, not a vendor limit.
_MAX_OPTION = 99
_OPTION_KEY = re.compile(r"option-([0-9]+)")

PHISH_CAMPAIGN_DTYPES: dict[str, str] = {
    "phish_campaign_id": "category",  # categories in row order (launch order)
    "phish_campaign_name": "str",
    "launch_date": _DATE_DTYPE,
    "locale": "str",
    "locked": "bool",
    "time_slot_selected": "str",
    "sender_name": "str",
    "sender_email": "str",  # as sent: a simulated sender, not a person to join
    "group_name": "str",  # group.description, else group.name
    "group_user_count": "int32",
    "n_templates": "int16",
    "num_sent": "int32",
    "num_opened": "int32",
    "num_clicked": "int32",
    "num_submitted": "int32",
    "num_reported": "Int32",  # undocumented: <NA> when absent
}
PHISH_TEMPLATE_DTYPES: dict[str, str] = {
    "phish_campaign_id": "category",  # same categories as the campaigns frame
    "template_id": "str",
    "template_title": "str",  # displayTitle
}
PHISH_USER_DTYPES: dict[str, str] = {
    "phish_campaign_id": "category",  # campaigns in launch order, then ids only in user data
    "phish_campaign_name": "category",
    "email": "str",
    "email_raw": "str",
    "email_domain": "category",
    "name": "str",
    "department": "category",
    "template_name": "category",
    "user_state": "category",
    "status": "category",  # PHISH_STATUS_DTYPE: ordered sent < opened < clicked < submitted
    "time_scheduled": _DATE_DTYPE,
    "time_opened": _DATE_DTYPE,
    "time_clicked": _DATE_DTYPE,
    "time_reported": _DATE_DTYPE,
    "time_submitted": _DATE_DTYPE,
    "time_scanned": _DATE_DTYPE,
    "reaction_time_raw": "float64",  # unit unknown
    "opened": "bool",
    "clicked": "bool",
    "submitted": "bool",
    "reported": "bool",
    "scanned": "bool",
    # "clicked_ip": "str" only with keep_clicked_ip=True (personal data)
}
_TOTAL_FIELDS: dict[str, str] = {
    "numCampaignsSent": "num_campaigns_sent",
    "numCampaignsClicked": "num_campaigns_clicked",
    "numCampaignsScanned": "num_campaigns_scanned",
    "numCampaignsClickedScanned": "num_campaigns_clicked_scanned",
    "numTrainingModulesAssigned": "num_training_modules_assigned",
    "numCorrectAnswers": "num_correct_answers",
    "numIncorrectAnswers": "num_incorrect_answers",
}
PHISH_USER_TOTALS_DTYPES: dict[str, str] = {
    "email": "str",
    "email_raw": "str",
    "email_domain": "category",
    "name": "str",
    "department": "category",
    "user_state": "category",
    **dict.fromkeys(_TOTAL_FIELDS.values(), "Int32"),
    "n_rows": "int32",  # the person's rows over all campaigns
    "totals_disagree": "bool",  # the rows' totals were not all the same
    "totals_phish_campaign_id": "category",  # the campaign whose row gave the totals
}
_PERSON_DTYPES: dict[str, str] = {
    "email": "str",
    "email_raw": "str",
    "email_domain": "category",
    "name": "str",
    "department": "category",
    "user_state": "category",
}
SAFE_SCORE_DTYPES: dict[str, str] = {
    **_PERSON_DTYPES,
    "risk": "category",  # RISK_DTYPE
    # Ordered category RISK_DTYPE when every value of the column is a letter, else float64;
    # frame.attrs["scales"][column] says "letter" or "numeric".
    **dict.fromkeys(SAFE_COMPONENTS.values(), "category|float64"),
}
SAFE_SUMMARY_DTYPES: dict[str, str] = {
    "risk": "category",  # RISK_DTYPE; always the five rows A, B, C, D, F
    "count": "int64",
    "share": "float64",  # count / total; NaN when the total is 0
}
WATCHLIST_DTYPES: dict[str, str] = {**_PERSON_DTYPES, "watchlist_count": "int32"}
PERFORMANCE_DTYPES: dict[str, str] = {
    **_PERSON_DTYPES,
    "num_correct": "int32",
    "num_incorrect": "int32",
    "num_not_watched": "int32",
    "user_details_json": "str",  # userDetails as JSON text (shape undocumented)
}
TRAINING_MODULE_DTYPES: dict[str, str] = {
    "queue_id": "category",  # the queue entry's id; categories in row order (launch order)
    "module_id": "str",  # title.id
    "module_title": "str",  # title.title, "_" shown as " " (as in the campaigns frame)
    "launch_date": _DATE_DTYPE,
    "num_sent": "int32",
    "num_completed": "int32",
    "num_correct": "int32",
    "locked": "bool",
    "assign_to_new_users": "bool",
    "correct_answer": "Int8",  # title.correctAnswer as an option number; <NA> if unknown
    "custom_answer_number": "Int8",
    "custom_safety_tip": "str",
    "custom_correct_answer": "str",  # customAnswer.correctAnswer as text: meaning unverified
    "n_options": "int8",  # option-N keys in optionSpread
}
MODULE_OPTION_DTYPES: dict[str, str] = {
    "queue_id": "category",  # same categories as the training modules frame
    "module_id": "str",
    "option": "int8",
    "count": "int32",
    "is_correct": "boolean",  # <NA> when the module's correct answer is unknown
    "is_custom": "bool",  # option == customAnswer.answerNumber
}

#: Source keys of :func:`people_frame` in the order they are asked for name and department:
#: the company endpoints are today's directory, phishing totals come from the latest phishing
#: campaign, and campaign rows may be years old.
PEOPLE_SOURCE_PRIORITY = (
    "safe_scores",
    "performance",
    "watchlist",
    "phish_totals",
    "phish_users",
    "campaigns",
)
#: Per-person columns :func:`people_frame` copies from a known source: column -> people column.
PEOPLE_FIGURES: dict[str, dict[str, str]] = {
    "safe_scores": {"risk": "safe_risk"}
    | {column: f"safe_{column}" for column in SAFE_COMPONENTS.values()},
    "watchlist": {"watchlist_count": "watchlist_count"},
    "performance": {
        "num_correct": "performance_num_correct",
        "num_incorrect": "performance_num_incorrect",
        "num_not_watched": "performance_num_not_watched",
    },
    "phish_totals": {column: f"phish_{column}" for column in _TOTAL_FIELDS.values()},
}
#: Fixed columns of the people frame; then ``in_<source>`` (bool) per source given, then the
#: :data:`PEOPLE_FIGURES` of the known sources given (counts as nullable ``Int32``, risk and
#: letter components as categories, numeric components as float64; missing when the person is
#: not in that source).
PEOPLE_DTYPES: dict[str, str] = {
    "person": "str",
    "email_domain": "category",
    "name": "str",
    "department": "category",
    "name_source": "category",  # source key that gave the name; missing when none did
    "department_source": "category",
    "n_sources": "int8",
}
JOIN_REPORT_DTYPES: dict[str, str] = {
    "source": "str",
    "rows": "int64",
    "people": "int64",  # distinct person keys
    "matched": "int64",  # of those, in at least one other source
    "unmatched": "int64",
    "aliased_rows": "int64",  # rows whose domain the alias map changed
}


# -- reading raw records --------------------------------------------------------------------------


def _domain(email: str) -> str:
    _, at, domain = email.rpartition("@")
    return domain if at else ""


class _Record:
    """One raw record plus what an error about it must say (endpoint, which row, field path)."""

    __slots__ = ("endpoint", "prefix", "raw", "where")

    def __init__(self, endpoint: str, raw: Mapping[str, Any], where: str, prefix: str = ""):
        self.endpoint = endpoint
        self.raw = raw
        self.where = where
        self.prefix = prefix

    def bad(self, field: str, value: object, expected: str) -> MimecastResponseError:
        return MimecastResponseError(
            f"Unexpected Mimecast data: field {self.prefix + field!r} of {self.endpoint} "
            f"{self.where} is {brief(value)}; expected {expected}"
        )

    def child(self, field: str) -> _Record:
        """A nested object (``{}`` when missing) that names its fields ``field.sub``."""
        value = self.raw.get(field)
        if value is None:
            value = {}
        elif not isinstance(value, Mapping):
            raise self.bad(field, value, "an object")
        return _Record(self.endpoint, value, self.where, f"{self.prefix}{field}.")

    def text(self, field: str, default: str = "") -> str:
        value = self.raw.get(field)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.bad(field, value, "a string")
        return value

    def department(self) -> str:
        value = self.text("department")
        return value if value else UNASSIGNED_DEPARTMENT

    def user_state(self) -> str:
        return self.text("userState", UNKNOWN_USER_STATE)

    def count(self, field: str) -> int | None:
        """A whole number 0..2**31-1, None when missing."""
        value = self.raw.get(field)
        if value is None:
            return None
        # bool is an int subclass, but True is no count.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.bad(field, value, "a whole number")
        if isinstance(value, float) and not value.is_integer():
            raise self.bad(field, value, "a whole number")
        if not 0 <= value <= INT32_MAX:
            raise self.bad(field, value, f"a whole number from 0 to {INT32_MAX}")
        return int(value)

    def count0(self, field: str) -> int:
        count = self.count(field)
        return 0 if count is None else count

    def number(self, field: str) -> float:
        """A number (a numeric string too), NaN when missing."""
        value = self.raw.get(field)
        if value is None:
            return math.nan
        number = _as_number(value)
        if number is None:
            raise self.bad(field, value, "a number")
        return number

    def flag(self, field: str) -> bool:
        value = self.raw.get(field)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.bad(field, value, "true or false")
        return value

    def date(
        self, field: str, cache: dict[str, datetime], blank_is_missing: bool = False
    ) -> datetime | None:
        value = self.raw.get(field)
        if value is None or (blank_is_missing and value == ""):
            return None
        if isinstance(value, str):
            parsed = cache.get(value)
            if parsed is None:
                parsed = _parse_date(value)
                if isinstance(parsed, str):
                    raise self.bad(field, value, parsed)
                cache[value] = parsed
            return parsed
        raise self.bad(field, value, "a date like '2026-10-20T07:30:00+0000'")

    def option(self, field: str) -> int | None:
        """An answer option number 1..99 given as 2, "2" or "option-2"; None when missing."""
        value = self.raw.get(field)
        if value is None:
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            text = value.strip()
            match = _OPTION_KEY.fullmatch(text)
            if match:
                number = int(match.group(1))
            elif text.isascii() and text.isdigit():
                number = int(text)
        if number is None or not 1 <= number <= _MAX_OPTION:
            raise self.bad(field, value, f"an option number from 1 to {_MAX_OPTION}")
        return number

    def email(self, fields: Sequence[str] = ("email", "emailAddress")) -> tuple[str, str]:
        """(address as sent, normalised) from the first of ``fields`` present; all present
        ones must name the same address."""
        found = [(field, self.raw[field]) for field in fields if self.raw.get(field) is not None]
        if not found:
            spelled = " or ".join(repr(field) for field in fields)
            raise self.bad(fields[0], None, f"a non-empty email address (in {spelled})")
        for field, value in found:
            if not isinstance(value, str) or not value.strip():
                raise self.bad(field, value, "a non-empty email address")
        (first_field, raw), *others = found
        key = normalise_email(raw)
        for field, value in others:
            if normalise_email(value) != key:
                raise self.bad(field, value, f"the same address as {first_field!r} ({raw!r})")
        self.where += f" (user {raw!r})"
        return raw, key


def _parse_date(value: str) -> datetime | str:
    """The UTC datetime, or what was expected (the rules of frames._date_field)."""
    try:
        parsed = datetime.strptime(value, API_DATE_FORMAT)
    except ValueError:
        # Tolerate other ISO 8601 spellings ("Z", fractions) should the API change.
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return "a date like '2026-10-20T07:30:00+0000'"
    if parsed.tzinfo is None:
        return "a date with a UTC offset"
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return "a date between the years 1 and 9999 in UTC"


def _as_number(value: object) -> float | None:
    """A JSON number or numeric string as float; None if it is neither (bool is neither)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range
            return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _rows(rows: object, endpoint: str, what: str = "rows") -> Sequence[Any]:
    if isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Sequence):
        raise MimecastResponseError(
            f"Unexpected Mimecast data: {what} of {endpoint} are {brief(rows)}; expected a list"
        )
    return rows


def _record(raw: object, endpoint: str, where: str) -> _Record:
    if not isinstance(raw, Mapping):
        raise MimecastResponseError(
            f"Unexpected Mimecast data: {where} of {endpoint} is {brief(raw)}; expected an object"
        )
    return _Record(endpoint, raw, where)


def _json_text(value: object) -> str:
    """Stable JSON text of a value whose shape is undocumented."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# -- building columns -----------------------------------------------------------------------------


def _str(values: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    return pd.array(list(values), dtype="str")


def _dates(values: Sequence[datetime | None]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(list(values), dtype=_DATE_DTYPE)


def _person_columns(
    raw: Sequence[str], email: Sequence[str], rest: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The email, name, department and user state columns of a per-address frame."""
    return {
        "email": _str(email),
        "email_raw": _str(raw),
        "email_domain": sorted_categorical([_domain(e) for e in email]),
        "name": _str(rest["name"]),
        "department": sorted_categorical(rest["department"]),
        "user_state": sorted_categorical(rest["user_state"]),
    }


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _clean_text_errors(function: Callable[_P, _T]) -> Callable[_P, _T]:
    """Text that is not valid Unicode (a lone surrogate, which json.loads accepts) fails deep
    inside pandas/pyarrow; turn it into the package's own clear error."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return function(*args, **kwargs)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
            raise MimecastResponseError(
                f"Unexpected Mimecast data: text containing {bad!r} is not valid Unicode; "
                "the API answer is corrupt, fetch again"
            ) from None

    return wrapper


# -- phishing campaigns ---------------------------------------------------------------------------


def _parse_phish_campaigns(rows: object) -> list[dict[str, Any]]:
    """Parsed campaigns sorted by launch date (undated last) then id, with their templates."""
    parsed = []
    seen: set[str] = set()
    cache: dict[str, datetime] = {}
    for position, raw in enumerate(_rows(rows, PHISH_CAMPAIGNS_ENDPOINT)):
        record = _record(raw, PHISH_CAMPAIGNS_ENDPOINT, f"campaign #{position}")
        cid = record.raw.get("id")
        if not isinstance(cid, str) or not cid:
            raise record.bad("id", cid, "a non-empty string")
        record.where = f"campaign {cid!r}"
        if cid in seen:
            raise record.bad("id", cid, "each campaign id once")
        seen.add(cid)
        sender = record.child("sender")
        group = record.child("group")
        templates = record.raw.get("templates")
        if templates is None:
            templates = []
        elif isinstance(templates, str | bytes | Mapping) or not isinstance(templates, Sequence):
            raise record.bad("templates", templates, "a list of templates")
        template_rows = []
        for number, template in enumerate(templates):
            if not isinstance(template, Mapping):
                raise record.bad(f"templates[{number}]", template, "an object")
            entry = _Record(record.endpoint, template, record.where, f"templates[{number}].")
            template_id = template.get("id")
            # A template's id is its key; numbers are accepted as their text.
            if isinstance(template_id, int) and not isinstance(template_id, bool):
                template_id = str(template_id)
            if not isinstance(template_id, str) or not template_id:
                raise entry.bad("id", template_id, "a non-empty string")
            template_rows.append((template_id, entry.text("displayTitle")))
        slot = record.raw.get("timeSlotSelected")
        parsed.append(
            {
                "phish_campaign_id": cid,
                "phish_campaign_name": record.text("name"),
                "launch_date": record.date("launchDate", cache),
                "locale": record.text("locale"),
                "locked": record.flag("locked"),
                "time_slot_selected": (
                    "" if slot is None else slot if isinstance(slot, str) else _json_text(slot)
                ),
                "sender_name": sender.text("name"),
                "sender_email": sender.text("email"),
                "group_name": group.text("description") or group.text("name"),
                "group_user_count": group.count0("userCount"),
                "n_templates": len(template_rows),
                "num_sent": record.count0("numSent"),
                "num_opened": record.count0("numOpened"),
                "num_clicked": record.count0("numClicked"),
                "num_submitted": record.count0("numSubmitted"),
                "num_reported": record.count("numReported"),
                "templates": template_rows,
            }
        )
    latest = datetime.max.replace(tzinfo=UTC)  # stands in for NaT: undated campaigns sort last
    parsed.sort(key=lambda row: (row["launch_date"] or latest, row["phish_campaign_id"]))
    return parsed


@_clean_text_errors
def phish_campaigns_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per phishing campaign (columns :data:`PHISH_CAMPAIGN_DTYPES`).

    Sorted by ``launch_date`` (undated last) then ``phish_campaign_id``, whose categories are
    in that order. ``numReported`` is undocumented: ``<NA>`` when absent, never 0.
    """
    parsed = _parse_phish_campaigns(rows)

    def column(name: str) -> list[Any]:
        return [row[name] for row in parsed]

    ids = column("phish_campaign_id")
    return pd.DataFrame(
        {
            "phish_campaign_id": pd.Categorical(ids, dtype=str_categories(ids)),
            "phish_campaign_name": _str(column("phish_campaign_name")),
            "launch_date": _dates(column("launch_date")),
            "locale": _str(column("locale")),
            "locked": np.array(column("locked"), dtype=bool),
            "time_slot_selected": _str(column("time_slot_selected")),
            "sender_name": _str(column("sender_name")),
            "sender_email": _str(column("sender_email")),
            "group_name": _str(column("group_name")),
            "group_user_count": np.array(column("group_user_count"), dtype=np.int32),
            "n_templates": np.array(column("n_templates"), dtype=np.int16),
            "num_sent": np.array(column("num_sent"), dtype=np.int32),
            "num_opened": np.array(column("num_opened"), dtype=np.int32),
            "num_clicked": np.array(column("num_clicked"), dtype=np.int32),
            "num_submitted": np.array(column("num_submitted"), dtype=np.int32),
            "num_reported": pd.array(column("num_reported"), dtype="Int32"),
        }
    )


@_clean_text_errors
def phish_templates_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per phishing campaign x template (columns :data:`PHISH_TEMPLATE_DTYPES`).

    Campaigns in :func:`phish_campaigns_frame` order, templates in API order; a campaign
    without templates has no row. A numeric template id is kept as its text.
    """
    parsed = _parse_phish_campaigns(rows)
    id_dtype = str_categories([row["phish_campaign_id"] for row in parsed])
    pairs = [(row["phish_campaign_id"], *t) for row in parsed for t in row["templates"]]
    return pd.DataFrame(
        {
            "phish_campaign_id": pd.Categorical([p[0] for p in pairs], dtype=id_dtype),
            "template_id": _str([p[1] for p in pairs]),
            "template_title": _str([p[2] for p in pairs]),
        }
    )


# -- phishing user data ---------------------------------------------------------------------------

_TIME_FIELDS: dict[str, str] = {
    "timeScheduled": "time_scheduled",
    "timeOpened": "time_opened",
    "timeClicked": "time_clicked",
    "timeReported": "time_reported",
    "timeSubmitted": "time_submitted",
    "timeScanned": "time_scanned",
}
_SENT, _OPENED, _CLICKED, _SUBMITTED = range(len(PHISH_STATUSES))
_STATUS_CODES = {status: code for code, status in enumerate(PHISH_STATUSES)}


def _check_items_by_campaign(items: object) -> Mapping[str, Any]:
    if not isinstance(items, Mapping):
        raise MimecastResponseError(
            f"Unexpected Mimecast data: user items of {PHISH_USER_DATA_ENDPOINT} are "
            f"{brief(items)}; expected a mapping of phishing campaign id to items"
        )
    for cid in items:
        if not isinstance(cid, str) or not cid:
            raise MimecastResponseError(
                f"Unexpected Mimecast data: a user items key of {PHISH_USER_DATA_ENDPOINT} is "
                f"{brief(cid)}; expected a non-empty phishing campaign id"
            )
    return items


def _status_code(record: _Record, times: Mapping[str, datetime | None]) -> int:
    value = record.raw.get("status")
    if value is None:
        # Missing: the furthest event that has a time.
        if times["time_submitted"] is not None:
            return _SUBMITTED
        if times["time_clicked"] is not None:
            return _CLICKED
        return _OPENED if times["time_opened"] is not None else _SENT
    code = _STATUS_CODES.get(value.strip().lower()) if isinstance(value, str) else None
    if code is None:
        raise record.bad("status", value, "one of sent, opened, clicked, submitted")
    return code


_ROW_COLUMNS = (
    "code",
    "email",
    "email_raw",
    "name",
    "department",
    "template_name",
    "user_state",
    "status",
    *_TIME_FIELDS.values(),
    "reaction_time_raw",
    "clicked_ip",
    *_TOTAL_FIELDS.values(),
    "totals_disagree",  # a reused row whose person's recorded totals already disagreed
)


def _phish_user_columns(
    user_items_by_campaign: Mapping[str, Sequence[Mapping[str, Any]]],
    campaigns_rows: Sequence[Mapping[str, Any]],
    keep_clicked_ip: bool,
    reused: Mapping[str, list[Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """(parsed campaigns, per-row columns in campaign order then email, API order for ties).

    The columns also hold ``code`` (campaign category code) and the raw totals per row.
    ``reused`` holds rows taken from an earlier snapshot (see :func:`_reused_phish_rows`),
    placed exactly where the same campaigns' parsed items would be.
    """
    campaigns = _parse_phish_campaigns(campaigns_rows)
    items_by_campaign = _check_items_by_campaign(user_items_by_campaign)
    reused = reused or {"campaign_id": []}
    known = [row["phish_campaign_id"] for row in campaigns]
    listed = set(known)
    extra = dict.fromkeys([*items_by_campaign, *reused["campaign_id"]])
    all_ids = known + [cid for cid in extra if cid not in listed]
    columns: dict[str, list[Any]] = {name: [] for name in _ROW_COLUMNS}
    cache: dict[str, datetime] = {}  # scheduled times repeat: parse each spelling once
    for code, cid in enumerate(all_ids):
        items = items_by_campaign.get(cid)
        if items is None:
            continue
        items = _rows(items, PHISH_USER_DATA_ENDPOINT, f"user items for campaign {cid!r}")
        for position, raw in enumerate(items):
            where = f"item #{position} for campaign {cid!r}"
            record = _record(raw, PHISH_USER_DATA_ENDPOINT, where)
            email_raw, email = record.email(("email",))
            times = {
                column: record.date(field, cache, blank_is_missing=True)
                for field, column in _TIME_FIELDS.items()
            }
            row = {
                "code": code,
                "email": email,
                "email_raw": email_raw,
                "name": record.text("name"),
                "department": record.department(),
                "template_name": record.text("templateName"),
                "user_state": record.user_state(),
                "status": _status_code(record, times),
                **times,
                "reaction_time_raw": record.number("reactionTime"),
                # Personal data: not even read unless asked for.
                "clicked_ip": record.text("clickedIp") if keep_clicked_ip else "",
                **{column: record.count(field) for field, column in _TOTAL_FIELDS.items()},
                "totals_disagree": False,
            }
            for name, value in row.items():
                columns[name].append(value)
    if reused["campaign_id"]:
        code_of = {cid: code for code, cid in enumerate(all_ids)}
        columns["code"].extend(code_of[cid] for cid in reused["campaign_id"])
        for name in _ROW_COLUMNS[1:]:
            columns[name].extend(reused[name])
    names = [row["phish_campaign_name"] for row in campaigns] + [""] * (len(all_ids) - len(known))
    # Stable: rows of one campaign come from one source, so ties keep their API order.
    order = sorted(
        range(len(columns["code"])), key=lambda i: (columns["code"][i], columns["email"][i])
    )
    columns = {name: [values[i] for i in order] for name, values in columns.items()}
    columns["_ids"] = all_ids
    columns["_names"] = names
    return campaigns, columns


@_clean_text_errors
def phish_users_frame(
    user_items_by_campaign: Mapping[str, Sequence[Mapping[str, Any]]],
    campaigns_rows: Sequence[Mapping[str, Any]],
    keep_clicked_ip: bool = False,
) -> pd.DataFrame:
    """One row per phishing campaign x address (columns :data:`PHISH_USER_DTYPES`).

    ``user_items_by_campaign`` maps a phishing campaign id to the ``get-user-data`` items
    fetched for it (items carry no campaign id); ``campaigns_rows`` are the ``get-campaign``
    rows, for the campaign order and names. Items of a campaign id not in ``campaigns_rows``
    are kept, with ``phish_campaign_name`` ``""``. Sorted by campaign (launch order) then
    ``email``; duplicate rows are kept in API order.

    Flags, from the event times and the status (a flag is True when either says so):

    * ``opened``: ``timeOpened``, or status opened/clicked/submitted.
    * ``clicked``: ``timeClicked``, or status clicked/submitted.
    * ``submitted``: ``timeSubmitted``, or status submitted.
    * ``reported``: ``timeReported``.
    * ``scanned``: ``timeScanned`` -- a security scanner followed the link. It is kept apart
      from clicks: a scanner click is not a person's click, so a row with only
      ``timeScanned`` is not ``clicked`` (unless the status itself says clicked).

    ``status`` keeps what the API said (lower-cased); see the module docstring for its default.
    The per-person lifetime totals (``numCampaigns*`` ...) are not columns here, so they
    cannot be summed over campaigns by mistake: see :func:`phish_user_totals_frame`.
    ``clickedIp`` is personal data and is dropped unless ``keep_clicked_ip`` is True, which
    adds the ``clicked_ip`` column (str, ``""`` when absent).
    """
    _, columns = _phish_user_columns(user_items_by_campaign, campaigns_rows, keep_clicked_ip)
    return _phish_users_from(columns, keep_clicked_ip)


def _phish_users_from(columns: Mapping[str, list[Any]], keep_clicked_ip: bool) -> pd.DataFrame:
    id_dtype = str_categories(columns["_ids"])
    name_dtype = str_categories(columns["_names"])
    codes = np.asarray(columns["code"], dtype=np.int64)
    name_codes = np.asarray(name_dtype.categories.get_indexer(columns["_names"]), dtype=np.int64)
    status = np.asarray(columns["status"], dtype=np.int8)
    times = {column: _dates(columns[column]) for column in _TIME_FIELDS.values()}
    present = {column: ~values.isna() for column, values in times.items()}
    frame = pd.DataFrame(
        {
            "phish_campaign_id": pd.Categorical.from_codes(codes, dtype=id_dtype),
            "phish_campaign_name": pd.Categorical.from_codes(name_codes[codes], dtype=name_dtype),
            **_person_columns(columns["email_raw"], columns["email"], columns),
            "template_name": sorted_categorical(columns["template_name"]),
            "status": pd.Categorical.from_codes(status, dtype=PHISH_STATUS_DTYPE),
            **times,
            "reaction_time_raw": np.asarray(columns["reaction_time_raw"], dtype=np.float64),
            "opened": present["time_opened"] | (status >= _OPENED),
            "clicked": present["time_clicked"] | (status >= _CLICKED),
            "submitted": present["time_submitted"] | (status == _SUBMITTED),
            "reported": present["time_reported"],
            "scanned": present["time_scanned"],
        }
    )
    # template_name sits after department in PHISH_USER_DTYPES; user_state after it.
    frame = frame[list(PHISH_USER_DTYPES)]
    if keep_clicked_ip:
        frame["clicked_ip"] = _str(columns["clicked_ip"])
    return frame


@_clean_text_errors
def phish_user_totals_frame(
    user_items_by_campaign: Mapping[str, Sequence[Mapping[str, Any]]],
    campaigns_rows: Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """One row per person (normalised ``email``) with the lifetime phishing/training totals
    (columns :data:`PHISH_USER_TOTALS_DTYPES`), sorted by ``email``.

    ``numCampaignsSent`` ... ``numIncorrectAnswers`` describe a person across all campaigns
    and the API repeats them on each of that person's campaign rows, so they are taken once,
    never summed. The row they come from (also for ``email_raw``, ``name``, ``department``,
    ``user_state``) is the person's row in the latest-launched campaign: campaigns with a
    launch date rank by it, above campaigns without one or missing from ``campaigns_rows``
    (we cannot know those are later); ties go to the later campaign in the campaigns frame's
    order, then to the first row in API order. ``totals_disagree`` is True when the person's
    rows did not all carry the same totals (e.g. campaigns fetched at different times), and
    ``totals_phish_campaign_id`` names the campaign chosen. A total absent from the chosen
    row is ``<NA>``.
    """
    campaigns, columns = _phish_user_columns(user_items_by_campaign, campaigns_rows, False)
    return _phish_totals_from(campaigns, columns)


def phish_user_tables(
    user_items_by_campaign: Mapping[str, Sequence[Mapping[str, Any]]],
    campaigns_rows: Sequence[Mapping[str, Any]],
) -> dict[str, pd.DataFrame]:
    """``phish_users`` and ``phish_user_totals`` (as :func:`phish_users_frame` and
    :func:`phish_user_totals_frame` build them) from one parse of the items."""
    campaigns, columns = _phish_user_columns(user_items_by_campaign, campaigns_rows, False)
    return {
        "phish_users": _phish_users_from(columns, False),
        "phish_user_totals": _phish_totals_from(campaigns, columns),
    }


def _phish_totals_from(
    campaigns: Sequence[Mapping[str, Any]], columns: Mapping[str, list[Any]]
) -> pd.DataFrame:
    ids = columns["_ids"]
    launch = [row["launch_date"] for row in campaigns] + [None] * (len(ids) - len(campaigns))
    # Rank of each campaign code: dated campaigns by date above undated ones, then position.
    rank_of = sorted(
        range(len(ids)),
        key=lambda code: (launch[code] is not None, launch[code] or datetime.min, code),
    )
    rank = {code: position for position, code in enumerate(rank_of)}
    total_columns = list(_TOTAL_FIELDS.values())
    chosen: dict[str, int] = {}
    n_rows: dict[str, int] = {}
    totals_seen: dict[str, set[tuple[int | None, ...]]] = {}
    flagged: set[str] = set()
    for i, email in enumerate(columns["email"]):
        n_rows[email] = n_rows.get(email, 0) + 1
        totals_seen.setdefault(email, set()).add(tuple(columns[c][i] for c in total_columns))
        if columns["totals_disagree"][i]:
            flagged.add(email)
        best = chosen.get(email)
        # Strictly greater: the first row in API order wins within the chosen campaign.
        if best is None or rank[columns["code"][i]] > rank[columns["code"][best]]:
            chosen[email] = i
    people = sorted(chosen)
    picks = [chosen[email] for email in people]

    def pick(name: str) -> list[Any]:
        return [columns[name][i] for i in picks]

    rest = {name: pick(name) for name in ("name", "department", "user_state")}
    return pd.DataFrame(
        {
            **_person_columns(pick("email_raw"), people, rest),
            **{column: pd.array(pick(column), dtype="Int32") for column in total_columns},
            "n_rows": np.asarray([n_rows[email] for email in people], dtype=np.int32),
            "totals_disagree": np.asarray(
                [len(totals_seen[email]) > 1 or email in flagged for email in people], dtype=bool
            ),
            "totals_phish_campaign_id": pd.Categorical.from_codes(
                np.asarray(pick("code"), dtype=np.int64), dtype=str_categories(ids)
            ),
        }
    )


# -- reusing an earlier snapshot's phishing rows --------------------------------------------------


def _base_rows(
    base_users: pd.DataFrame, base_totals: pd.DataFrame, campaign_ids: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the ``phish_users`` rows of ``campaign_ids``, ``phish_user_totals`` indexed by email);
    :class:`ValueError` when the earlier tables cannot give them."""
    missing = [c for c in PHISH_USER_DTYPES if c not in base_users.columns] + [
        c for c in PHISH_USER_TOTALS_DTYPES if c not in base_totals.columns
    ]
    if missing:
        raise ValueError(f"the phishing tables lack the column(s) {', '.join(missing)}")
    if base_totals["email"].duplicated().any():
        raise ValueError("phish_user_totals holds a person twice")
    rows = base_users[base_users["phish_campaign_id"].astype(object).isin(list(campaign_ids))]
    return rows, base_totals.set_index("email", drop=False)


def reusable_phish_campaign_ids(
    base_users: pd.DataFrame, base_totals: pd.DataFrame, candidate_ids: Sequence[str]
) -> list[str]:
    """The ids among ``candidate_ids`` whose rows :func:`reuse_phish_user_tables` can take from
    an earlier snapshot's ``phish_users`` and ``phish_user_totals``: the campaign is one of its
    ``phish_campaign_id`` categories (it was fetched, even with no rows) and every person in its
    rows has a totals row. :class:`ValueError` when the tables lack a column."""
    rows, totals = _base_rows(base_users, base_totals, candidate_ids)
    known = {str(c) for c in pd.Categorical(base_users["phish_campaign_id"]).categories}
    orphans = rows.loc[~rows["email"].isin(totals.index), "phish_campaign_id"]
    broken = set(orphans.astype(str))
    return [cid for cid in candidate_ids if cid in known and cid not in broken]


def _reused_phish_rows(
    base_users: pd.DataFrame, base_totals: pd.DataFrame, campaign_ids: Sequence[str]
) -> dict[str, list[Any]]:
    """The earlier rows of ``campaign_ids`` as :func:`_phish_user_columns` columns (with
    ``campaign_id`` instead of ``code``). Each row carries its person's recorded totals, and
    ``totals_disagree`` when those already disagreed (see :func:`reuse_phish_user_tables`)."""
    rows, totals = _base_rows(base_users, base_totals, campaign_ids)
    if not rows["email"].isin(totals.index).all():
        raise ValueError("a reused phishing row has no phish_user_totals row")
    person = totals.loc[rows["email"]]

    def values(frame: pd.DataFrame, column: str, kind: Callable[[Any], Any]) -> list[Any]:
        return [None if pd.isna(v) else kind(v) for v in frame[column].astype(object).tolist()]

    columns: dict[str, list[Any]] = {
        "campaign_id": rows["phish_campaign_id"].astype(str).tolist(),
        "status": pd.Categorical(rows["status"], dtype=PHISH_STATUS_DTYPE).codes.tolist(),
        "clicked_ip": (
            rows["clicked_ip"].tolist() if "clicked_ip" in rows.columns else [""] * len(rows)
        ),
        "reaction_time_raw": rows["reaction_time_raw"].tolist(),
        "totals_disagree": person["totals_disagree"].astype(bool).tolist(),
    }
    for name in ("email", "email_raw", "name", "department", "template_name", "user_state"):
        columns[name] = rows[name].astype(str).tolist()
    for name in _TIME_FIELDS.values():
        columns[name] = values(rows, name, pd.Timestamp)
    for name in _TOTAL_FIELDS.values():
        columns[name] = values(person, name, int)
    return columns


@_clean_text_errors
def reuse_phish_user_tables(
    base_users: pd.DataFrame,
    base_totals: pd.DataFrame,
    keep_campaign_ids: Sequence[str],
    user_items_by_campaign: Mapping[str, Sequence[Mapping[str, Any]]],
    campaigns_rows: Sequence[Mapping[str, Any]],
) -> dict[str, pd.DataFrame]:
    """``phish_users`` and ``phish_user_totals`` of a refreshed snapshot: the rows of
    ``keep_campaign_ids`` taken from an earlier snapshot's two tables, the other campaigns'
    from ``user_items_by_campaign`` (as :func:`phish_users_frame` takes them).

    ``phish_users`` is exactly what :func:`phish_users_frame` gives on all the items (the kept
    campaigns' items being those the earlier rows were built from); campaign names come from
    ``campaigns_rows``. For ``phish_user_totals``, each kept row is given its person's totals
    from the earlier ``phish_user_totals`` (what every one of that person's earlier rows
    carried, unless its ``totals_disagree`` was True), downloaded rows keep their own, and the
    person's totals row is then chosen over all rows exactly as :func:`phish_user_totals_frame`
    does (latest-launched campaign). So a downloaded campaign launched later than the kept ones
    gives fresh totals, ``n_rows`` counts every row, ``totals_disagree`` compares downloaded and
    recorded totals, and a person recorded with ``totals_disagree`` keeps it while any of their
    rows is reused. With nothing downloaded the table equals the earlier one (less people only
    in dropped campaigns). :class:`ValueError` when the earlier tables cannot give the rows
    (see :func:`reusable_phish_campaign_ids`).
    """
    reused = _reused_phish_rows(base_users, base_totals, keep_campaign_ids)
    campaigns, columns = _phish_user_columns(
        user_items_by_campaign, campaigns_rows, False, reused=reused
    )
    return {
        "phish_users": _phish_users_from(columns, False),
        "phish_user_totals": _phish_totals_from(campaigns, columns),
    }


# -- company endpoints ----------------------------------------------------------------------------

_PERSON_FIELDS = ("email_raw", "email", "name", "department", "user_state")


def _person_rows(
    rows: object,
    endpoint: str,
    email_fields: tuple[str, ...],
    read: Callable[[_Record], dict[str, Any]],
    extra: Sequence[str],
) -> tuple[dict[str, list[Any]], list[str]]:
    """Columns of a per-address endpoint (person fields, then the ``extra`` names ``read``
    returns per row), and each row's description for errors found later."""
    columns: dict[str, list[Any]] = {name: [] for name in (*_PERSON_FIELDS, *extra)}
    wheres: list[str] = []
    for position, raw in enumerate(_rows(rows, endpoint)):
        record = _record(raw, endpoint, f"row #{position}")
        email_raw, email = record.email(email_fields)
        row = {
            "email_raw": email_raw,
            "email": email,
            "name": record.text("name"),
            "department": record.department(),
            "user_state": record.user_state(),
            **read(record),
        }
        for name in columns:
            columns[name].append(row[name])
        wheres.append(record.where)
    return columns, wheres


def _risk(record: _Record, field: str) -> str | None:
    value = record.raw.get(field)
    if value is None:
        return None
    grade = value.strip().upper() if isinstance(value, str) else None
    if grade not in RISK_GRADES:
        raise record.bad(field, value, "one of A, B, C, D, F")
    return grade


def _component(
    values: list[Any], field: str, wheres: list[str]
) -> tuple[pd.Categorical | np.ndarray, str]:
    """A SAFE component column and its scale: letters when every value present is one of
    A-F (case-insensitive), else numbers; a column with no values is numeric (all NaN)."""
    present = [value for value in values if value is not None]
    if present and all(
        isinstance(value, str) and value.strip().upper() in RISK_GRADES for value in present
    ):
        grades = [None if value is None else value.strip().upper() for value in values]
        return pd.Categorical(grades, dtype=RISK_DTYPE), "letter"
    numbers = np.full(len(values), np.nan)
    for position, value in enumerate(values):
        if value is None:
            continue
        number = _as_number(value)
        if number is None:
            raise _Record(SAFE_DETAILS_ENDPOINT, {}, wheres[position]).bad(
                field, value, "letters A, B, C, D, F in every row, or numbers in every row"
            )
        numbers[position] = number
    return numbers, "numeric"


@_clean_text_errors
def safe_scores_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per address of ``get-safe-score-details`` (columns :data:`SAFE_SCORE_DTYPES`).

    ``risk`` is the ordered category A < B < C < D < F (rising risk; read case-insensitively).
    The components' scale is unverified, so it is detected per column: when every value
    present is a letter A-F the column is that ordered category, else every value must be a
    number (or numeric string) and the column is float64. ``frame.attrs["scales"]`` maps each
    component column to ``"letter"`` or ``"numeric"``. Rows keep the API order.
    """

    def read(record: _Record) -> dict[str, Any]:
        return {"risk": _risk(record, "risk")} | {
            field: record.raw.get(field) for field in SAFE_COMPONENTS
        }

    columns, wheres = _person_rows(
        rows, SAFE_DETAILS_ENDPOINT, ("emailAddress", "email"), read, ["risk", *SAFE_COMPONENTS]
    )
    frame = pd.DataFrame(
        {
            **_person_columns(columns["email_raw"], columns["email"], columns),
            "risk": pd.Categorical(columns["risk"], dtype=RISK_DTYPE),
        }
    )
    scales: dict[str, str] = {}
    for field, column in SAFE_COMPONENTS.items():
        frame[column], scales[column] = _component(columns[field], field, wheres)
    frame.attrs["scales"] = scales
    return frame


@_clean_text_errors
def safe_summary_frame(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The organisation's SAFE grade counts (columns :data:`SAFE_SUMMARY_DTYPES`).

    ``payload`` is the ``get-safe-score-summary`` response (``data[0].scoreCounts``) or its
    ``data[0]`` object. Keys ``a`` ... ``f`` are read case-insensitively; a grade the counts
    lack is 0; other keys are ignored. Always five rows, A to F.
    """
    endpoint = SAFE_SUMMARY_ENDPOINT
    if not isinstance(payload, Mapping):
        raise MimecastResponseError(
            f"Unexpected Mimecast data: the {endpoint} answer is {brief(payload)}; "
            "expected an object"
        )
    record = _Record(endpoint, payload, "answer")
    if "scoreCounts" not in payload:
        data = _rows(payload.get("data"), endpoint, "data")
        if not data:
            raise record.bad("data", payload.get("data"), "a list with one object")
        record = _record(data[0], endpoint, "answer")
        record.prefix = "data[0]."
    counts = record.child("scoreCounts")
    found: dict[str, int] = {}
    for key in counts.raw:
        grade = key.strip().upper() if isinstance(key, str) else None
        if grade not in RISK_GRADES:
            continue
        if grade in found:
            raise counts.bad(key, counts.raw[key], f"one count for grade {grade}")
        found[grade] = counts.count0(key)
    values = np.asarray([found.get(grade, 0) for grade in RISK_GRADES], dtype=np.int64)
    total = int(values.sum())
    return pd.DataFrame(
        {
            "risk": pd.Categorical(list(RISK_GRADES), dtype=RISK_DTYPE),
            "count": values,
            "share": values / total if total else np.full(len(values), np.nan),
        }
    )


@_clean_text_errors
def watchlist_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per address of ``get-watchlist-details`` (columns :data:`WATCHLIST_DTYPES`).

    The address is read from ``email`` or ``emailAddress`` (sources differ). Rows keep the
    API order; ``watchlistCount`` defaults to 0.
    """
    columns, _ = _person_rows(
        rows,
        WATCHLIST_ENDPOINT,
        ("email", "emailAddress"),
        lambda record: {"watchlist_count": record.count0("watchlistCount")},
        ["watchlist_count"],
    )
    return pd.DataFrame(
        {
            **_person_columns(columns["email_raw"], columns["email"], columns),
            "watchlist_count": np.asarray(columns["watchlist_count"], dtype=np.int32),
        }
    )


@_clean_text_errors
def performance_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per address of ``get-performance-details`` (columns :data:`PERFORMANCE_DTYPES`).

    ``userDetails`` has an undocumented shape, so it is kept as compact JSON text with sorted
    keys (``"null"`` when missing); parse it with ``json.loads`` once its shape is known.
    """

    def read(record: _Record) -> dict[str, Any]:
        return {
            "num_correct": record.count0("numCorrect"),
            "num_incorrect": record.count0("numIncorrect"),
            "num_not_watched": record.count0("numNotWatched"),
            "user_details_json": _json_text(record.raw.get("userDetails")),
        }

    extra = ["num_correct", "num_incorrect", "num_not_watched", "user_details_json"]
    columns, _ = _person_rows(rows, PERFORMANCE_ENDPOINT, ("email", "emailAddress"), read, extra)
    return pd.DataFrame(
        {
            **_person_columns(columns["email_raw"], columns["email"], columns),
            **{name: np.asarray(columns[name], dtype=np.int32) for name in extra[:3]},
            "user_details_json": _str(columns["user_details_json"]),
        }
    )


# -- training queue -------------------------------------------------------------------------------


def _parse_queue(rows: object) -> list[dict[str, Any]]:
    """Parsed queue entries sorted by launch date (undated last) then id, with their options."""
    parsed = []
    seen: set[str] = set()
    cache: dict[str, datetime] = {}
    for position, raw in enumerate(_rows(rows, QUEUE_ENDPOINT)):
        record = _record(raw, QUEUE_ENDPOINT, f"entry #{position}")
        qid = record.raw.get("id")
        if not isinstance(qid, str) or not qid:
            raise record.bad("id", qid, "a non-empty string")
        record.where = f"entry {qid!r}"
        if qid in seen:
            raise record.bad("id", qid, "each queue id once")
        seen.add(qid)
        title = record.child("title")
        custom = record.child("customAnswer")
        custom_correct = custom.raw.get("correctAnswer")
        spread = record.child("optionSpread")
        options = []
        for key in spread.raw:
            match = _OPTION_KEY.fullmatch(key) if isinstance(key, str) else None
            if match is None:
                continue  # unknown extra keys are ignored, as everywhere
            number = int(match.group(1))
            if not 1 <= number <= _MAX_OPTION:
                raise spread.bad(key, spread.raw[key], f"options 1 to {_MAX_OPTION}")
            options.append((number, spread.count0(key)))
        options.sort()
        parsed.append(
            {
                "queue_id": qid,
                "module_id": title.text("id"),
                "module_title": title.text("title").replace("_", " "),
                "launch_date": record.date("launchDate", cache),
                "num_sent": record.count0("numSent"),
                "num_completed": record.count0("numCompleted"),
                "num_correct": record.count0("numCorrect"),
                "locked": record.flag("locked"),
                "assign_to_new_users": record.flag("assignToNewUsers"),
                "correct_answer": title.option("correctAnswer"),
                "custom_answer_number": custom.option("answerNumber"),
                "custom_safety_tip": custom.text("safetyTip"),
                "custom_correct_answer": (
                    ""
                    if custom_correct is None
                    else custom_correct
                    if isinstance(custom_correct, str)
                    else _json_text(custom_correct)
                ),
                "n_options": len(options),
                "options": options,
            }
        )
    latest = datetime.max.replace(tzinfo=UTC)
    parsed.sort(key=lambda row: (row["launch_date"] or latest, row["queue_id"]))
    return parsed


@_clean_text_errors
def training_modules_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per ``queue/get-queue`` entry (columns :data:`TRAINING_MODULE_DTYPES`).

    Sorted by ``launch_date`` (undated last) then ``queue_id``. ``title.correctAnswer`` and
    ``customAnswer.answerNumber`` are option numbers, accepted as ``2``, ``"2"`` or
    ``"option-2"``. ``customAnswer.correctAnswer`` is undocumented in meaning, so it is kept as
    text (a string as is, anything else as JSON text, ``""`` when missing).
    """
    parsed = _parse_queue(rows)

    def column(name: str) -> list[Any]:
        return [row[name] for row in parsed]

    ids = column("queue_id")
    frame = pd.DataFrame(
        {
            "queue_id": pd.Categorical(ids, dtype=str_categories(ids)),
            **{name: _str(column(name)) for name in ("module_id", "module_title")},
            "launch_date": _dates(column("launch_date")),
            **{
                name: np.asarray(column(name), dtype=np.int32)
                for name in ("num_sent", "num_completed", "num_correct")
            },
            "locked": np.asarray(column("locked"), dtype=bool),
            "assign_to_new_users": np.asarray(column("assign_to_new_users"), dtype=bool),
            "correct_answer": pd.array(column("correct_answer"), dtype="Int8"),
            "custom_answer_number": pd.array(column("custom_answer_number"), dtype="Int8"),
            "custom_safety_tip": _str(column("custom_safety_tip")),
            "custom_correct_answer": _str(column("custom_correct_answer")),
            "n_options": np.asarray(column("n_options"), dtype=np.int8),
        }
    )
    return frame


@_clean_text_errors
def module_options_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per queue entry x ``optionSpread`` key ``option-N`` (columns
    :data:`MODULE_OPTION_DTYPES`), entries in :func:`training_modules_frame` order, options
    by number. Only options the spread lists get a row.

    ``count`` is the spread's value for the option (a whole number). ``is_correct`` compares
    the option with ``title.correctAnswer`` (``<NA>`` when the entry has none); ``is_custom``
    marks ``customAnswer.answerNumber``.
    """
    parsed = _parse_queue(rows)
    id_dtype = str_categories([row["queue_id"] for row in parsed])
    ids: list[str] = []
    module_ids: list[str] = []
    numbers: list[int] = []
    counts: list[int] = []
    correct: list[bool | None] = []
    custom: list[bool] = []
    for row in parsed:
        for number, count in row["options"]:
            ids.append(row["queue_id"])
            module_ids.append(row["module_id"])
            numbers.append(number)
            counts.append(count)
            answer = row["correct_answer"]
            correct.append(None if answer is None else number == answer)
            custom.append(number == row["custom_answer_number"])
    return pd.DataFrame(
        {
            "queue_id": pd.Categorical(ids, dtype=id_dtype),
            "module_id": _str(module_ids),
            "option": np.asarray(numbers, dtype=np.int8),
            "count": np.asarray(counts, dtype=np.int32),
            "is_correct": pd.array(correct, dtype="boolean"),
            "is_custom": np.asarray(custom, dtype=bool),
        }
    )


# -- people ---------------------------------------------------------------------------------------


def alias_map(alias_domains: Mapping[str, str] | None) -> dict[str, str]:
    """The alias map with both sides trimmed and lower-cased (a leading "@" dropped), checked:
    two domains per entry, no domain mapped twice, no chains."""
    if alias_domains is None:
        return {}
    if not isinstance(alias_domains, Mapping):
        raise ValueError(f"alias_domains must map a domain to a domain, not {brief(alias_domains)}")
    aliases: dict[str, str] = {}
    for alias, domain in alias_domains.items():
        if not isinstance(alias, str) or not isinstance(domain, str):
            raise ValueError(f"alias_domains must map strings to strings: {alias!r} -> {domain!r}")
        key = normalise_email(alias).removeprefix("@")
        value = normalise_email(domain).removeprefix("@")
        if not key or not value or "@" in key or "@" in value:
            raise ValueError(f"alias_domains entry {alias!r} -> {domain!r} is not two domains")
        if aliases.get(key, value) != value:
            raise ValueError(f"alias_domains maps {key!r} to both {aliases[key]!r} and {value!r}")
        aliases[key] = value
    # One step only: a chain (a -> b -> c) would make the result depend on how it is read.
    chained = sorted(value for key, value in aliases.items() if value in aliases and value != key)
    if chained:
        raise ValueError(
            f"alias_domains is chained: {chained} are both targets and aliases; "
            "map every alias straight to its final domain"
        )
    return aliases


def _key(email: str, aliases: Mapping[str, str]) -> tuple[str, bool]:
    key = normalise_email(email)
    local, at, domain = key.rpartition("@")
    if at and domain in aliases and aliases[domain] != domain:
        return f"{local}@{aliases[domain]}", True
    return key, False


def person_key(email: str, alias_domains: Mapping[str, str] | None = None) -> str:
    """The person an address belongs to, as :func:`people_frame` decides it: trimmed,
    lower-cased, then the domain (after the last ``@``) mapped through ``alias_domains``.
    Exact matching only: no fuzzy or local-part rules."""
    return person_keyer(alias_domains)(email)


def person_keyer(alias_domains: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """:func:`person_key` with the alias map checked once, for keying many addresses."""
    aliases = alias_map(alias_domains)
    return lambda email: _key(email, aliases)[0]


def _source_keys(
    name: str, frame: pd.DataFrame, aliases: Mapping[str, str]
) -> tuple[np.ndarray, int]:
    """Person key per row of a source, and how many rows the alias map changed."""
    if not isinstance(frame, pd.DataFrame) or "email" not in frame.columns:
        raise ValueError(f"people source {name!r} must be a DataFrame with an 'email' column")
    emails = frame["email"]
    if emails.isna().any():
        raise ValueError(f"people source {name!r} has rows without an email")
    # Each distinct spelling is normalised once.
    codes, uniques = pd.factorize(emails.astype(object).to_numpy())
    keyed = [_key(str(email), aliases) for email in uniques]
    keys = np.asarray([key for key, _ in keyed], dtype=object)
    if not all(keys):
        raise ValueError(f"people source {name!r} has a blank email")
    changed = np.asarray([aliased for _, aliased in keyed], dtype=bool)
    return keys[codes], int(changed[codes].sum())


def _last_value_per_person(
    frame: pd.DataFrame, column: str, person: np.ndarray, blank: Sequence[str]
) -> pd.Series:
    """Per person code, the source's last row value that is present and not in ``blank``."""
    if column not in frame.columns:
        return pd.Series(dtype=object)
    values = frame[column].astype(object).to_numpy()
    useful = np.asarray(
        [isinstance(v, str) and v.strip() != "" and v not in blank for v in values], dtype=bool
    )
    series = pd.Series(values[useful], index=person[useful])
    return series[~series.index.duplicated(keep="last")]


def people_frame(
    sources: Mapping[str, pd.DataFrame], alias_domains: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per person over every source, and a join report (see below).

    ``sources`` maps a source key to a frame with an ``email`` column; the known keys are
    ``campaigns`` (the ``users`` frame of :mod:`awareness_analysis.data.frames`),
    ``phish_users``, ``phish_totals``, ``safe_scores``, ``watchlist`` and ``performance`` (the
    frames of this module); other keys are joined for presence only. The person key is
    :func:`person_key`: the email trimmed, lower-cased, then its domain mapped through
    ``alias_domains`` (e.g. ``{"old-example.com": "example.com"}``); one step, exact, nothing
    fuzzy. A distribution list address is one person like any other address.

    The people frame (sorted by ``person``) has :data:`PEOPLE_DTYPES`, then ``in_<key>`` (bool)
    per source in the order given, then the :data:`PEOPLE_FIGURES` of each known source given
    (prefixed ``safe_``, ``performance_``, ``phish_``; counts become nullable ``Int32``), missing
    where the person is not in that source. ``name`` and ``department`` come from the first
    source in :data:`PEOPLE_SOURCE_PRIORITY` (then other keys in the order given) that has a
    non-blank value (a department of ``(unassigned)`` counts as blank); within a source the
    last such row wins (campaign-style frames are in launch order, so the latest campaign).
    Per-person figures likewise come from the person's last row in the source: a per-person
    source normally has one, but two aliased spellings may both appear -- ``rows`` versus
    ``people`` in the report shows it.

    The join report has one row per source (columns :data:`JOIN_REPORT_DTYPES`): rows,
    distinct people, people also found in at least one other source (``matched``), the rest
    (``unmatched``), and rows the alias map changed. Bad input (not a frame, no ``email``
    column, a missing or blank email, a known source without its figure columns, a malformed
    alias map) raises ``ValueError``.
    """
    aliases = alias_map(alias_domains)
    if not isinstance(sources, Mapping):
        raise ValueError(f"sources must map a source key to a frame, not {brief(sources)}")
    names = list(sources)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"people source keys must be non-empty strings, not {name!r}")
    keys: dict[str, np.ndarray] = {}
    aliased: dict[str, int] = {}
    for name in names:
        keys[name], aliased[name] = _source_keys(name, sources[name], aliases)
        for column in PEOPLE_FIGURES.get(name, {}):
            if column not in sources[name].columns:
                raise ValueError(f"people source {name!r} lacks its column {column!r}")
    everyone = sorted(set().union(*(set(k.tolist()) for k in keys.values())))
    index = pd.Index(everyone, dtype=object)
    n = len(everyone)
    person_of = {name: index.get_indexer(keys[name]) for name in names}
    present = {}
    for name in names:
        flags = np.zeros(n, dtype=bool)
        flags[person_of[name]] = True
        present[name] = flags
    n_sources = np.zeros(n, dtype=np.int64)
    for name in names:
        n_sources += present[name]

    # Name and department: first source by priority with a value, last row within it.
    priority = [s for s in PEOPLE_SOURCE_PRIORITY if s in sources] + [
        s for s in names if s not in PEOPLE_SOURCE_PRIORITY
    ]
    picked: dict[str, list[Any]] = {}
    for column, blank in (("name", ()), ("department", (UNASSIGNED_DEPARTMENT,))):
        values: list[Any] = [None] * n
        origin: list[Any] = [None] * n
        for name in priority:
            found = _last_value_per_person(sources[name], column, person_of[name], blank)
            for code, value in found.items():
                if values[code] is None:
                    values[code] = value
                    origin[code] = name
        picked[column] = values
        picked[f"{column}_source"] = origin
    source_dtype = pd.CategoricalDtype(pd.Index(priority, dtype="str"), ordered=False)
    people = pd.DataFrame(
        {
            "person": _str(everyone),
            "email_domain": sorted_categorical([_domain(key) for key in everyone]),
            "name": _str(["" if v is None else v for v in picked["name"]]),
            "department": sorted_categorical(
                [UNASSIGNED_DEPARTMENT if v is None else v for v in picked["department"]]
            ),
            "name_source": pd.Categorical(picked["name_source"], dtype=source_dtype),
            "department_source": pd.Categorical(picked["department_source"], dtype=source_dtype),
            "n_sources": n_sources.astype(np.int8),
            **{f"in_{name}": present[name] for name in names},
        }
    )
    for name in names:
        figures = PEOPLE_FIGURES.get(name)
        if not figures:
            continue
        frame = sources[name]
        last = ~pd.Index(person_of[name]).duplicated(keep="last")
        for column, target in figures.items():
            values = frame[column]
            if pd.api.types.is_integer_dtype(values.dtype):
                values = values.astype("Int32")  # so people not in the source can be <NA>
            series = pd.Series(values.array[last], index=person_of[name][last])
            people[target] = series.reindex(np.arange(n)).array

    report_rows = []
    for name in names:
        in_source = present[name]
        matched = int((in_source & (n_sources > 1)).sum())
        report_rows.append(
            {
                "source": name,
                "rows": len(keys[name]),
                "people": int(in_source.sum()),
                "matched": matched,
                "unmatched": int(in_source.sum()) - matched,
                "aliased_rows": aliased[name],
            }
        )
    report = pd.DataFrame(
        {
            "source": _str([row["source"] for row in report_rows]),
            **{
                column: np.asarray([row[column] for row in report_rows], dtype=np.int64)
                for column in list(JOIN_REPORT_DTYPES)[1:]
            },
        }
    )
    return people, report
