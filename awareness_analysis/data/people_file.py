"""The local HR join: the analyst's own people file (``--people FILE.csv``).

The vendor's department field is often empty, so analysts bring their own HR export: a CSV with
one row per person, keyed by email (or by a column they name), with department, location,
manager, role or any other column. This module reads and validates that file, and joins it to
the frames: the one grouping column chosen (``group_by``, default ``department``) becomes the
frames' ``department`` values, so every filter, comparison, suppression decision, disclosure
plan and report uses the HR groups with no second code path. The API's own value is kept in
``department_api``.

Privacy: the file is read here, locally, and never written, uploaded or copied into a snapshot
or a report. Of its contents only the chosen grouping column's labels (the aggregated groups)
reach the frames; every other column (manager, salary, ...) stays in this module's memory
(:attr:`PeopleFile.frame`), for the analyst's own pandas work.

Bad files fail with an error naming the file, the problem and the fix: a wrong encoding (only
UTF-8, with or without a byte order mark, is read), a missing key or grouping column, the same
person on two rows that disagree, a key column holding no email address. Problems that leave the
rest usable are :class:`PeopleFileWarning`\\ s, listed with line numbers: empty keys (rows
skipped), keys that are not email addresses, identical repeated rows (one kept), short rows,
and cells a spreadsheet would run as a formula (kept as text; every CSV the project writes
neutralises them, see :mod:`awareness_analysis.data.csv_safe`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from awareness_analysis.data.behaviour import person_keyer
from awareness_analysis.data.csv_safe import FORMULA_PREFIXES
from awareness_analysis.data.frames import normalise_email
from awareness_analysis.errors import AwarenessAnalysisError
from awareness_analysis.vocabulary import SUPPRESSED_LABEL, UNASSIGNED_DEPARTMENT

__all__ = [
    "API_DEPARTMENT_COLUMN",
    "DEFAULT_DEPARTMENT_FROM",
    "DEFAULT_GROUP_BY",
    "DEFAULT_PEOPLE_KEY",
    "DEPARTMENT_FROM",
    "DEPARTMENT_FROM_ENV",
    "GROUP_BY_ENV",
    "PEOPLE_ENV",
    "PEOPLE_KEY_ENV",
    "PeopleFile",
    "PeopleFileError",
    "PeopleFileWarning",
    "PeopleJoin",
    "join_people_file",
    "people_options_from_env",
    "read_people_file",
]

#: Environment variables a notebook session (``load_analysis``, ``make lab``) reads when its
#: parameters leave the people file options unset. Reports and exports take flags only, so a
#: variable exported for the lab never regroups a shared report unasked.
PEOPLE_ENV = "AWARENESS_PEOPLE"
PEOPLE_KEY_ENV = "AWARENESS_PEOPLE_KEY"
GROUP_BY_ENV = "AWARENESS_GROUP_BY"
DEPARTMENT_FROM_ENV = "AWARENESS_DEPARTMENT_FROM"

DEFAULT_PEOPLE_KEY = "email"
DEFAULT_GROUP_BY = "department"
#: Which department wins when both exist: ``api`` = the API's, the file fills empty ones only;
#: ``file`` = the file's wherever it has one.
DEPARTMENT_FROM = ("api", "file")
DEFAULT_DEPARTMENT_FROM = "api"
#: Where the joined frames keep the API's own department.
API_DEPARTMENT_COLUMN = "department_api"

#: How many keys or lines an error or warning quotes before "and N more".
_SHOWN = 10
_SAVE_AS_UTF8 = (
    "save the file as UTF-8 (Excel: File > Save As > 'CSV UTF-8 (Comma delimited)'; "
    "LibreOffice: Save As > Text CSV, character set 'Unicode (UTF-8)')"
)
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_UTF8_BOM = b"\xef\xbb\xbf"


class PeopleFileError(AwarenessAnalysisError, ValueError):
    """The people file cannot be used; the message names the file, the problem and the fix."""


@dataclass(frozen=True)
class PeopleFileWarning:
    """A problem that leaves the rest of the file usable, with the lines it concerns."""

    #: ``formula``, ``empty_key``, ``not_email``, ``repeated_row`` or ``short_row``.
    kind: str
    message: str
    lines: tuple[int, ...] = ()

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class PeopleFile:
    """A validated people file. ``frame`` holds every column as text, indexed by the key
    normalised like the project's emails (trimmed, lower-cased): HR data, keep it private."""

    path: Path
    #: The key column as the file spells it.
    key_column: str
    #: Every column of the file, as spelt there.
    columns: tuple[str, ...]
    frame: pd.DataFrame = field(repr=False, compare=False)
    warnings: tuple[PeopleFileWarning, ...] = ()
    #: SHA-256 of the file's bytes: a report run checks every page read the same file.
    sha256: str = ""

    def column(self, name: str, option: str) -> str:
        """The file's column called ``name`` (exactly, else ignoring case and surrounding
        spaces); ``option`` is how the caller names the choice, for the error."""
        return _find_column(self.columns, name, option, self.path)


def _shown(items: Sequence[object]) -> str:
    text = ", ".join(str(i) for i in items[:_SHOWN])
    return text + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _find_column(columns: Sequence[str], name: str, option: str, path: Path) -> str:
    if name in columns:
        return name
    wanted = name.strip().casefold()
    found = [c for c in columns if c.strip().casefold() == wanted]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(repr(c) for c in columns)
    if found:
        raise PeopleFileError(
            f"People file {path}: {len(found)} columns are called {name!r} (ignoring case): "
            f"{', '.join(repr(c) for c in found)}; rename all but one."
        )
    raise PeopleFileError(
        f"People file {path} has no column {name!r}; the columns found are {listed}. "
        f"Name the column to use with {option}."
    )


def _decode(data: bytes, path: Path) -> str:
    """The file's text: UTF-8, with or without a byte order mark; anything else is refused
    with the byte position and the fix (a guess at another encoding would misread names)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise PeopleFileError(
                f"People file {path} is {encoding} (byte order mark at byte 0), not UTF-8; "
                f"{_SAVE_AS_UTF8}."
            )
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    nul = data.find(b"\x00")
    if nul >= 0:
        # UTF-16 without a byte order mark decodes as "valid" UTF-8 full of NUL bytes.
        raise PeopleFileError(
            f"People file {path} has a NUL byte at byte position {nul} (line "
            f"{_line_of(data, nul)}): it is probably UTF-16, not UTF-8; {_SAVE_AS_UTF8}."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex().upper()
        raise PeopleFileError(
            f"People file {path} is not UTF-8: byte 0x{bad} at byte position {exc.start} "
            f"(line {_line_of(data, exc.start)}) is not valid UTF-8 (the file is "
            f"probably Windows-1252 / Latin-1); {_SAVE_AS_UTF8}."
        ) from None


def _line_of(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1


def _delimiter(text: str) -> str:
    """Comma, semicolon (spreadsheets in locales with a decimal comma) or tab: whichever the
    header line has most of, outside quotes."""
    header = text.split("\n", 1)[0]
    outside, quoted = [], False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(char)
    counts = {d: outside.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _records(text: str, path: Path) -> Iterable[tuple[int, list[str]]]:
    """(first line, cells) per non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if any(c.strip() for c in cells):
                yield start, cells
    except csv.Error as exc:
        raise PeopleFileError(
            f"People file {path} is not valid CSV near line {reader.line_num}: {exc}; check "
            "the quoting there (a value with a comma, quote or line break must be in double "
            "quotes, a quote inside it doubled)."
        ) from None


def _is_formula(value: str) -> bool:
    return value.startswith(FORMULA_PREFIXES)


def read_people_file(path: str | os.PathLike[str], *, key: str = DEFAULT_PEOPLE_KEY) -> PeopleFile:
    """Read and validate the people file at ``path``, keyed by its column ``key`` (matched
    exactly, else ignoring case and surrounding spaces). Raises :class:`PeopleFileError`; see
    the module docstring for what is an error and what a listed warning."""
    source = Path(path).expanduser()
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise PeopleFileError(
            f"People file {source} does not exist; give the path of your HR export (CSV)."
        ) from None
    except IsADirectoryError:
        raise PeopleFileError(f"People file {source} is a folder; give a CSV file.") from None
    text = _decode(data, source)
    records = iter(_records(text, source))
    first = next(records, None)
    if first is None:
        raise PeopleFileError(
            f"People file {source} is empty; it needs a header row naming the columns "
            "(e.g. email,department) and one row per person."
        )
    header_line, header = first
    header = [c.strip() for c in header]
    rows = list(records)
    # Spreadsheets leave trailing columns with no name and no values: drop those silently.
    width = len(header)
    while (
        width
        and not header[width - 1]
        and not any(len(cells) >= width and cells[width - 1].strip() for _, cells in rows)
    ):
        width -= 1
    header = header[:width]
    columns = [name or f"(unnamed column {i + 1})" for i, name in enumerate(header)]
    folded: dict[str, list[str]] = {}
    for name in columns:
        folded.setdefault(name.casefold(), []).append(name)
    twice = [names[0] for names in folded.values() if len(names) > 1]
    if twice:
        raise PeopleFileError(
            f"People file {source}: column(s) {_shown([repr(n) for n in twice])} appear more "
            "than once in the header (ignoring case); rename them so every column has its own "
            "name."
        )
    key_column = _find_column(columns, key, "--people-key COLUMN (people_key=)", source)
    key_index = columns.index(key_column)

    warnings: list[PeopleFileWarning] = []
    formula_lines: dict[str, list[int]] = {}
    for name, raw in zip(columns, header, strict=True):
        if _is_formula(raw):
            formula_lines.setdefault(name, []).append(header_line)
    too_long: list[int] = []
    short: list[int] = []
    empty_key: list[int] = []
    kept: list[tuple[int, str, list[str]]] = []
    for line, cells in rows:
        if len(cells) > width:
            if any(c.strip() for c in cells[width:]):
                too_long.append(line)
                continue
            cells = cells[:width]
        elif len(cells) < width:
            short.append(line)
            cells = cells + [""] * (width - len(cells))
        for name, value in zip(columns, cells, strict=True):
            if _is_formula(value):
                formula_lines.setdefault(name, []).append(line)
        person = normalise_email(cells[key_index])
        if not person:
            empty_key.append(line)
            continue
        kept.append((line, person, cells))
    if too_long:
        raise PeopleFileError(
            f"People file {source}: line(s) {_shown(too_long)} have more values than the "
            f"header's {width} columns; put values that contain the delimiter in double quotes, "
            "or name the extra columns in the header."
        )

    by_key: dict[str, list[tuple[int, list[str]]]] = {}
    for line, person, cells in kept:
        by_key.setdefault(person, []).append((line, cells))
    conflicting = {k: v for k, v in by_key.items() if len(v) > 1 and _differ(v)}
    if conflicting:
        listed = [
            f"{k} (lines {', '.join(str(line) for line, _ in v)})" for k, v in conflicting.items()
        ]
        raise PeopleFileError(
            f"People file {source}: {len(conflicting)} key(s) in column {key_column!r} are on "
            f"more than one row with different values: {_shown(listed)}. Keep one row per "
            "person (keys are compared trimmed and lower-cased, like emails)."
        )
    repeated = sorted(line for v in by_key.values() for line, _ in v[1:])
    if empty_key:
        warnings.append(
            PeopleFileWarning(
                "empty_key",
                f"{len(empty_key)} row(s) have an empty {key_column!r} and were skipped "
                f"(line(s) {_shown(empty_key)}).",
                tuple(empty_key),
            )
        )
    if repeated:
        warnings.append(
            PeopleFileWarning(
                "repeated_row",
                f"{len(repeated)} row(s) repeat an earlier row exactly; one of each was kept "
                f"(line(s) {_shown(repeated)}).",
                tuple(repeated),
            )
        )
    if short:
        warnings.append(
            PeopleFileWarning(
                "short_row",
                f"{len(short)} row(s) have fewer values than the header; the missing ones are "
                f"read as empty (line(s) {_shown(short)}).",
                tuple(short),
            )
        )
    not_email = [v[0][0] for k, v in by_key.items() if "@" not in k]
    if by_key and len(not_email) == len(by_key):
        raise PeopleFileError(
            f"People file {source}: column {key_column!r} holds no email address (line "
            f"{kept[0][0]} has {kept[0][2][key_index]!r}); the key must be the people's email "
            "addresses. Name the column that holds them with --people-key COLUMN (people_key=)."
        )
    if not_email:
        warnings.append(
            PeopleFileWarning(
                "not_email",
                f"{len(not_email)} key(s) in {key_column!r} are not email addresses (no '@') "
                f"and can match no one (line(s) {_shown(sorted(not_email))}).",
                tuple(sorted(not_email)),
            )
        )
    for name, lines in formula_lines.items():
        # Values are not quoted: they may be private (an unused column such as salary).
        warnings.append(
            PeopleFileWarning(
                "formula",
                f"Column {name!r}: {len(lines)} cell(s) start with =, +, -, @, a tab or a "
                f"carriage return, which a spreadsheet would run as a formula (line(s) "
                f"{_shown(lines)}). They are kept as text, and every CSV the project writes "
                "neutralises them.",
                tuple(lines),
            )
        )
    unique = [v[0] for v in by_key.values()]
    frame = pd.DataFrame(
        [cells for _, cells in unique], columns=columns, index=list(by_key), dtype=object
    )
    frame.index.name = "key"
    return PeopleFile(
        path=source,
        key_column=key_column,
        columns=tuple(columns),
        frame=frame,
        warnings=tuple(warnings),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _differ(rows: Sequence[tuple[int, list[str]]]) -> bool:
    first = [c.strip() for c in rows[0][1]]
    return any([c.strip() for c in cells] != first for _, cells in rows[1:])


def _blank(value: object) -> bool:
    """An empty department: missing, blank, or the frames' label for it."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return True
    text = str(value).strip()
    return not text or text == UNASSIGNED_DEPARTMENT


@dataclass(frozen=True)
class PeopleJoin:
    """How the people file groups people, and what matched. ``describe()`` is for the
    analyst (it lists people); a shared report states :meth:`counts_text` only.

    ``unmatched_api``: people in the API data (campaign users and behaviour tables) with no row
    in the file; ``unmatched_file``: people in the file found nowhere in the API data. Both
    are person keys (email trimmed, lower-cased, alias domains mapped), pseudonymised when the
    analysis is."""

    file_name: str
    key_column: str
    #: The file's column that plays the role of the department everywhere.
    group_by: str
    department_from: str
    #: True when ``group_by`` is the file's department: the API's department then takes part
    #: as ``department_from`` says; any other column replaces it outright.
    uses_api_department: bool
    file_people: int
    api_people: int
    matched: int
    #: People whose group is not their API department (first campaign row).
    regrouped: int
    unmatched_api: tuple[str, ...] = field(repr=False)
    unmatched_file: tuple[str, ...] = field(repr=False)
    warnings: tuple[PeopleFileWarning, ...] = ()
    sha256: str = ""
    #: Person key -> the file's group label (None: empty in the file). The group labels are
    #: the only values of the file that leave this module.
    labels: Mapping[str, str | None] = field(default_factory=dict, repr=False, compare=False)
    alias_domains: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def regroup(self, emails: Sequence[object], departments: Sequence[object]) -> np.ndarray:
        """The group of each row, from its email and its API department (see
        :func:`join_people_file`); empty groups become ``(unassigned)``."""
        # Each distinct email and department is looked at once: users repeat per campaign.
        email_codes, email_values = pd.factorize(pd.Series(list(emails), dtype=object))
        key = person_keyer(self.alias_domains)
        from_file = pd.Series(
            np.array(
                [self.labels.get(key(str(e))) for e in email_values] + [None],
                dtype=object,
            )[email_codes],
            dtype=object,
        )
        api_codes, api_values = pd.factorize(pd.Series(list(departments), dtype=object))
        from_api = pd.Series(
            np.array([None if _blank(v) else str(v) for v in api_values] + [None], dtype=object)[
                api_codes
            ],
            dtype=object,
        )
        if not self.uses_api_department:
            chosen = from_file
        elif self.department_from == "file":
            chosen = from_file.where(from_file.notna(), from_api)
        else:
            chosen = from_api.where(from_api.notna(), from_file)
        return chosen.where(chosen.notna(), UNASSIGNED_DEPARTMENT).to_numpy(dtype=object)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (with ``email`` and ``department``) with ``department`` regrouped and the
        API's value kept in ``department_api`` right after it."""
        if API_DEPARTMENT_COLUMN in frame:
            raise ValueError(
                f"The frame already has a {API_DEPARTMENT_COLUMN!r} column: the people file "
                "was joined already; join it to the frames as loaded."
            )
        api = frame["department"]
        groups = self.regroup(frame["email"].to_numpy(dtype=object), api.to_numpy(dtype=object))
        out = frame.copy()
        if isinstance(api.dtype, pd.CategoricalDtype):
            categories = pd.Index(sorted(set(groups)), dtype="str")
            out["department"] = pd.Categorical(groups, categories=categories)
        else:
            out["department"] = pd.array(groups, dtype=api.dtype)
        out.insert(out.columns.get_loc("department") + 1, API_DEPARTMENT_COLUMN, api)
        return out

    def counts_text(self) -> str:
        """What a shared report may say about the join: counts, no one named."""
        return (
            f"groups from column {self.group_by!r} of the people file {self.file_name} "
            f"({_department_rule(self)}); {self.matched:,} of {_people(self.api_people)} "
            f"matched, {len(self.unmatched_api):,} without a row in the file, "
            f"{_people(len(self.unmatched_file))} in the file matching no one"
        )

    def describe(self, limit: int = _SHOWN) -> str:
        """For the analyst: counts, the unmatched people (the first ``limit`` of each list)
        and the file's warnings. Lists people: never put it into a shared report."""
        lines = [
            f"People file {self.file_name} (key column {self.key_column!r}, "
            f"{_people(self.file_people)}): groups from column {self.group_by!r} "
            f"({_department_rule(self)}).",
            f"Matched {self.matched:,} of {_people(self.api_people)} in the API data; "
            f"in another group than their API department: {self.regrouped:,}.",
        ]
        for what, people in (
            ("in the API data without a row in the file", self.unmatched_api),
            ("in the file matching no one in the API data", self.unmatched_file),
        ):
            if people:
                more = f" and {len(people) - limit:,} more" if len(people) > limit else ""
                shown = ", ".join(people[:limit])
                lines.append(f"{_people(len(people)).capitalize()} {what}: {shown}{more}.")
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def unmatched_frame(self) -> pd.DataFrame:
        """Both unmatched lists, one row per person: ``side`` (``api``: no row in the file;
        ``file``: matches no one in the API data) and ``person``. Write it with
        :func:`~awareness_analysis.data.csv_safe.write_csv`."""
        return pd.DataFrame(
            {
                "side": ["api"] * len(self.unmatched_api) + ["file"] * len(self.unmatched_file),
                "person": [*self.unmatched_api, *self.unmatched_file],
            }
        )


def _people(n: int) -> str:
    return f"{n:,} person" if n == 1 else f"{n:,} people"


def _department_rule(join: PeopleJoin) -> str:
    if not join.uses_api_department:
        return "it replaces the API department; people not in the file are (unassigned)"
    if join.department_from == "file":
        return "the file's department wins where it has one"
    return "the API department wins where it is not empty; the file fills empty ones"


def join_people_file(
    people: PeopleFile,
    users: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame] | None = None,
    *,
    group_by: str = DEFAULT_GROUP_BY,
    department_from: str = DEFAULT_DEPARTMENT_FROM,
    alias_domains: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], PeopleJoin]:
    """Regroup ``users`` and every table with ``email`` and ``department`` columns by the
    people file's column ``group_by``; return them and the join's summary.

    A person is their email trimmed, lower-cased and its domain mapped through
    ``alias_domains`` (:func:`~awareness_analysis.data.behaviour.person_key`), on both sides.
    When ``group_by`` is the file's department column, ``department_from`` says which wins:
    ``api`` (default) keeps every non-empty API department and fills empty ones from the
    file; ``file`` takes the file's wherever it has one. Any other column (``location``,
    ``role``, ...) replaces the department outright. Empty groups become ``(unassigned)``.
    Only the group labels enter the frames; the API value is kept in ``department_api``.
    """
    if department_from not in DEPARTMENT_FROM:
        raise PeopleFileError(
            f"department_from must be one of {', '.join(DEPARTMENT_FROM)}, not "
            f"{department_from!r} (--department-from)."
        )
    column = people.column(group_by, "--group-by COLUMN (group_by=)")
    if column == people.key_column:
        raise PeopleFileError(
            f"People file {people.path}: {column!r} is the key column; --group-by must name "
            "another column (e.g. department or location)."
        )
    aliases = dict(alias_domains or {})
    key_of = person_keyer(aliases)
    labels: dict[str, str | None] = {}
    spelt: dict[str, list[str]] = {}
    for key, value in zip(people.frame.index, people.frame[column], strict=True):
        person = key_of(str(key))
        spelt.setdefault(person, []).append(str(key))
        label = None if _blank(value) else str(value).strip()
        if label == SUPPRESSED_LABEL:
            raise PeopleFileError(
                f"People file {people.path}: column {column!r} has the value "
                f"{SUPPRESSED_LABEL!r} (for {key}), the label of groups hidden by suppression; "
                "rename that group."
            )
        labels[person] = label
    aliased = {p: keys for p, keys in spelt.items() if len(keys) > 1}
    if aliased:
        listed = [f"{' and '.join(keys)} (= {p})" for p, keys in aliased.items()]
        raise PeopleFileError(
            f"People file {people.path}: {len(aliased)} person(s) have rows under two "
            f"addresses that the alias domains make one: {_shown(listed)}. Keep one row per "
            "person."
        )
    join = PeopleJoin(
        file_name=people.path.name,
        key_column=people.key_column,
        group_by=column,
        department_from=department_from,
        uses_api_department=column.strip().casefold() == DEFAULT_GROUP_BY,
        file_people=len(labels),
        api_people=0,
        matched=0,
        regrouped=0,
        unmatched_api=(),
        unmatched_file=(),
        warnings=people.warnings,
        sha256=people.sha256,
        labels=labels,
        alias_domains=aliases,
    )
    tables = dict(tables or {})
    joined_users = join.apply(users)
    joined_tables = {
        name: join.apply(table) if {"email", "department"} <= set(table.columns) else table
        for name, table in tables.items()
    }
    in_api: set[str] = set()
    for frame in (users, *(t for t in tables.values() if "email" in t.columns)):
        emails = pd.unique(frame["email"].dropna().astype(str).to_numpy(dtype=object))
        in_api.update(key_of(e) for e in emails)
    # A person moved: their group differs from their API department (first campaign row).
    first = (
        pd.DataFrame(
            {
                "person": [key_of(str(e)) for e in users["email"]],
                "api": users["department"].astype(object).to_numpy(),
                "group": joined_users["department"].astype(object).to_numpy(),
            }
        )
        .drop_duplicates("person")
        .reset_index(drop=True)
    )
    api_label = first["api"].map(lambda v: UNASSIGNED_DEPARTMENT if _blank(v) else str(v))
    summary = replace(
        join,
        api_people=len(in_api),
        matched=len(in_api & labels.keys()),
        regrouped=int((api_label != first["group"]).sum()),
        unmatched_api=tuple(sorted(in_api - labels.keys())),
        unmatched_file=tuple(sorted(labels.keys() - in_api)),
    )
    return joined_users, joined_tables, summary


def people_options_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The people file options set in the environment (``AWARENESS_PEOPLE``,
    ``AWARENESS_PEOPLE_KEY``, ``AWARENESS_GROUP_BY``, ``AWARENESS_DEPARTMENT_FROM``), as
    ``open_analysis`` keywords; unset or blank ones are left out."""
    env = os.environ if environ is None else environ
    names = {
        PEOPLE_ENV: "people_file",
        PEOPLE_KEY_ENV: "people_key",
        GROUP_BY_ENV: "group_by",
        DEPARTMENT_FROM_ENV: "department_from",
    }
    return {option: env[var].strip() for var, option in names.items() if env.get(var, "").strip()}
