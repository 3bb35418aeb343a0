"""Privacy controls applied before anything is shown: small-group suppression and pseudonyms.

Small-group suppression
-----------------------
A department with fewer than ``k`` people in the selected campaigns is not shown on its own:
its rows are relabelled :data:`SUPPRESSED_LABEL`, so the organisation's totals stay honest while
the small group's figures cannot be read off a chart. The default ``k`` is
:data:`DEFAULT_MIN_GROUP_SIZE` (5), a common small-cell threshold in workforce reporting: below
it, a rate such as "1 of 3 failed" points at individuals.

Hiding one small group alone is not enough, because its count would be the organisation total
minus the shown departments. :func:`suppress_departments` therefore also hides the next smallest
departments (complementary suppression) until the hidden ones together cover at least two
departments and at least ``k`` people.

Any table row (a campaign, a question, a department under a search) covering fewer than ``k``
people is blanked by :func:`suppress_rows`. Suppression is applied by the analysis engine
(:mod:`awareness_analysis.analysis.engine`) to every view; this module holds the rules.

Limits: suppression protects one table at a time. Someone comparing many different selections
(for example the same chart with and without one campaign, or with slightly different filters)
can still difference them; that is outside what a per-table rule can prevent. Analysts sharing
reports should keep ``k`` the same across everything they share and share as few overlapping
cuts as they need.

Pseudonymisation
----------------
:func:`pseudonymise` replaces emails and names with keyed HMAC-SHA256 pseudonyms, so the same
person gets the same pseudonym in every campaign and snapshot analysed with the same key, while
nobody without the key can map a pseudonym back (or check a guessed email against it). The key
comes from :func:`load_pseudonym_key` and never appears in reprs, logs or error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from awareness_analysis.data.frames import normalise_email
from awareness_analysis.vocabulary import SUPPRESSED_LABEL

__all__ = [
    "DEFAULT_KEY_FILE",
    "DEFAULT_MIN_GROUP_SIZE",
    "KEY_ENV",
    "SUPPRESSED_LABEL",
    "SuppressionResult",
    "choose_hidden",
    "load_pseudonym_key",
    "pseudonymise",
    "suppress_departments",
    "suppress_rows",
]

DEFAULT_MIN_GROUP_SIZE = 5
KEY_ENV = "AWARENESS_PSEUDONYM_KEY"
DEFAULT_KEY_FILE = Path("~/.config/awareness-analysis/pseudonym.key")
MIN_KEY_HEX_CHARS = 32
PSEUDONYM_HEX_CHARS = 12

# Rate-table columns that could reveal a suppressed row's size or successes.
_INT_COLUMNS = ("successes", "n", "people", "correct", "incorrect", "not_answered", "rest_n")
_FLOAT_COLUMNS = (
    "rate", "ci_low", "ci_high", "design_effect", "n_effective", "rest_rate", "z", "p_value",
    "q_value",
)  # fmt: skip
_HEX = re.compile(r"[0-9a-fA-F]+")
_NEW_KEY_HINT = "python -c 'import secrets; print(secrets.token_hex(32))'"


# -- small-group suppression ----------------------------------------------------------------


@dataclass(frozen=True)
class SuppressionResult:
    """Outcome of :func:`suppress_departments`.

    ``users`` is the relabelled frame (all rows kept); ``hidden`` every department folded into
    :data:`SUPPRESSED_LABEL` and ``primary`` the ones hidden for being smaller than ``k`` (both
    sorted by name; ``hidden`` minus ``primary`` are the complementary ones). ``k`` is the
    threshold used, 0 when suppression was off. ``everything_hidden`` is True when no department
    is left to show (e.g. the whole selection has fewer than ``k`` people).
    """

    users: pd.DataFrame
    hidden: tuple[str, ...]
    primary: tuple[str, ...]
    k: int
    everything_hidden: bool = False

    def __repr__(self) -> str:
        # The frame is omitted: a repr is for logs, and the frame holds people's data.
        return (
            f"SuppressionResult(rows={len(self.users)}, k={self.k}, hidden={self.hidden!r}, "
            f"primary={self.primary!r}, everything_hidden={self.everything_hidden})"
        )


def threshold(k: int | None) -> int:
    """``k`` as an int, 0 meaning off (None, 0 and 1 all switch suppression off)."""
    if k is None:
        return 0
    k = int(k)
    if k < 0:
        raise ValueError(f"minimum group size must be 0 (off) or more, not {k}")
    return k if k > 1 else 0


def person_keys(emails: pd.Series) -> pd.Series:
    """One key per person (:func:`~awareness_analysis.data.frames.normalise_email`): one person
    may appear with different case or stray spaces. Missing emails stay missing."""
    keys = person_key_array(pa.array(emails.astype("str").array))
    return keys.to_pandas().astype("str").set_axis(emails.index).rename(emails.name)


def person_key_array(text: pa.Array) -> pa.Array:
    """:func:`person_keys` over an Arrow string array (for readers of the Parquet files)."""
    # Vectorised for ASCII addresses, where Arrow's trimming and lower-casing are Python's
    # exactly; the rest through normalise_email itself, since Arrow folds some letters
    # (Turkish dotted I, final sigma) otherwise and two people would then disagree.
    keys = pc.ascii_lower(pc.utf8_trim(text, _ASCII_WHITESPACE))
    other = pc.fill_null(pc.invert(pc.string_is_ascii(text)), False)
    if pc.any(other).as_py():
        spellings = pc.filter(text, other).to_pylist()
        keys = pc.replace_with_mask(
            keys, other, pa.array([normalise_email(v) for v in spellings], type=keys.type)
        )
    return keys


#: What Python's ``str.strip()`` removes from an ASCII string.
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"


def suppress_departments(
    users: pd.DataFrame, k: int | None = DEFAULT_MIN_GROUP_SIZE
) -> SuppressionResult:
    """Fold departments with fewer than ``k`` people into :data:`SUPPRESSED_LABEL`.

    A department's size is its number of distinct people (emails, case-insensitive) in
    ``users`` as given. Departments with ``0 < size < k`` are hidden (``primary``). Then,
    complementary suppression (:func:`choose_hidden`): while exactly one department is hidden,
    or the hidden departments together have fewer than ``k`` people, the smallest still-shown
    department (ties broken by name) is hidden too. If the whole frame has fewer than ``k``
    people every department is hidden (``everything_hidden``).

    Rows are relabelled, never dropped, so organisation totals are unchanged. ``k`` None, 0 or
    1 turns suppression off. The analysis engine does the work
    (:meth:`awareness_analysis.analysis.engine.Engine.view`), as for every view.
    """
    from awareness_analysis.analysis.engine import Engine  # the engine builds on these rules

    view = Engine(users).view(None, k)
    suppression = view.suppression
    return SuppressionResult(
        users=view.users().copy(),
        hidden=suppression.hidden,
        primary=suppression.primary,
        k=suppression.k,
        everything_hidden=suppression.everything_hidden,
    )


def choose_hidden(
    size_of: Mapping[str, int],
    total: int,
    k: int,
    people_in: Callable[[Sequence[str]], int],
    forced: Collection[str] = (),
) -> tuple[list[str], list[str]]:
    """(hidden, primary) department names, both sorted.

    ``size_of`` gives the distinct people of each department present, ``total`` the distinct
    people of the whole baseline and ``people_in(names)`` the distinct people of several
    departments together (someone who moved between two hidden departments counts once).
    ``forced`` departments are hidden whatever their size (and count as primary).
    """
    if total < k:
        hidden = sorted(size_of)
        return hidden, hidden
    primary = sorted(name for name, size in size_of.items() if size < k or name in forced)
    hidden = list(primary)
    shown = sorted((name for name in size_of if name not in primary), key=lambda d: (size_of[d], d))
    hidden_people = people_in(hidden) if hidden else 0
    while hidden and (len(hidden) == 1 or hidden_people < k) and shown:
        hidden.append(shown.pop(0))
        hidden_people = people_in(hidden)
    hidden.sort()
    return hidden, primary


def relabel_codes(categories: pd.Index, hidden: set[str]) -> tuple[np.ndarray, pd.CategoricalDtype]:
    """Old code -> new code (the last slot maps missing, -1, to -1) and the new dtype, with
    ``hidden`` categories folded into :data:`SUPPRESSED_LABEL` (listed last)."""
    kept = [str(c) for c in categories if str(c) not in hidden and str(c) != SUPPRESSED_LABEL]
    new = [*kept, SUPPRESSED_LABEL]
    position = {name: code for code, name in enumerate(new)}
    mapping = np.array(
        [position[SUPPRESSED_LABEL if str(c) in hidden else str(c)] for c in categories] + [-1],
        dtype=np.int32,
    )
    return mapping, pd.CategoricalDtype(pd.Index(new, dtype="str"))


def suppress_rows(
    table: pd.DataFrame, k: int | None = DEFAULT_MIN_GROUP_SIZE, hide: np.ndarray | None = None
) -> pd.DataFrame:
    """Mark rate-table rows covering ``0 < people < k`` as suppressed and blank their numbers.

    People are the ``people`` column where the table has one (distinct people), else ``n``.
    Such rows get ``suppressed`` True, their counts become ``<NA>`` and their rates, intervals
    and test statistics NaN; ``significant`` becomes False and ``direction`` "suppressed" where
    those columns exist. Rows stay in place so charts can name them as suppressed. Rows with
    nobody carry no figures and are left alone. ``attrs["min_group_size"]`` records ``k``
    (charts name it). ``k`` None, 0 or 1 means off (an unchanged copy is returned). ``hide``
    marks further rows to blank the same way (the cells a disclosure plan hides).
    """
    k = threshold(k)
    result = table.copy()
    result.attrs["min_group_size"] = k
    if k == 0 and hide is None:
        return result
    size_column = "people" if "people" in result else "n"
    size = result[size_column].to_numpy(dtype="float64", na_value=np.nan)
    small = (size > 0) & (size < k)
    hide = small if hide is None else (small | np.asarray(hide, dtype=bool))
    previous = (
        result["suppressed"].fillna(False).to_numpy(dtype=bool)
        if "suppressed" in result
        else np.zeros(len(result), dtype=bool)
    )
    result["suppressed"] = previous | hide
    if not hide.any():
        return result
    for column in _INT_COLUMNS:
        if column in result:
            values = result[column].astype("Int64")
            values[hide] = pd.NA
            result[column] = values
    for column in _FLOAT_COLUMNS:
        if column in result:
            values = result[column].astype("float64")
            values[hide] = np.nan
            result[column] = values
    if "significant" in result:
        result["significant"] = result["significant"].fillna(False).to_numpy(dtype=bool) & ~hide
    if "direction" in result:
        direction = result["direction"].astype("str")
        direction[hide] = "suppressed"
        result["direction"] = direction
    return result


# -- pseudonymisation -----------------------------------------------------------------------


def _digest(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]


def pseudonymise(frame: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """A copy of ``frame`` with ``email`` and ``name`` replaced by keyed pseudonyms.

    ``email`` becomes ``"user-"`` + the first 12 hex digits of HMAC-SHA256(key, email with
    surrounding spaces removed, lower-cased); ``name`` becomes ``"person-"`` + 12 hex digits of
    HMAC-SHA256(key, ``"name:"`` + that email). Names are derived from the email, not the name
    text, so one person keeps one pseudonym across campaigns and snapshots even if their display
    name changes, and two people sharing a name stay apart. An empty name stays ``""`` (there
    is nothing to hide, and it keeps "no name" visible). Works on the users frame and on the
    answers frame (email only); every other column is left as it is. The input is not changed.
    """
    if not isinstance(key, bytes | bytearray) or not key:
        raise TypeError("pseudonymise needs the key as non-empty bytes (see load_pseudonym_key)")
    if "email" not in frame:
        raise ValueError("pseudonymise needs an 'email' column (users or answers frame)")
    key = bytes(key)
    result = frame.copy()
    normalised = person_keys(frame["email"]).to_numpy(dtype=object, na_value=None)
    # Hash each distinct address once: a users frame repeats every person per campaign.
    codes, uniques = pd.factorize(normalised, use_na_sentinel=True)
    email_of = np.array([f"user-{_digest(key, e)}" for e in uniques] + [None], dtype=object)
    result["email"] = pd.array(email_of[codes], dtype="str")
    if "name" in frame:
        name_of = np.array(
            [f"person-{_digest(key, 'name:' + e)}" for e in uniques] + [None], dtype=object
        )
        names = frame["name"].astype("str")
        missing = names.isna().to_numpy(dtype=bool)
        blank = names.fillna("").str.strip().eq("").to_numpy(dtype=bool) & ~missing
        pseudonyms = name_of[codes]
        pseudonyms[blank] = ""  # a blank name hides nothing; keep "no name" visible
        pseudonyms[missing] = None
        result["name"] = pd.array(pseudonyms, dtype="str")
    return result


def _parse_key(text: str, source: str) -> bytes:
    """Key bytes from hex ``text``; errors name ``source`` but never show the text."""
    text = text.strip()
    if len(text) < MIN_KEY_HEX_CHARS or len(text) % 2 or not _HEX.fullmatch(text):
        raise ValueError(
            f"{source} must hold a hexadecimal key of at least {MIN_KEY_HEX_CHARS} characters "
            f"(an even number); the value found is not one (not shown). "
            f"Create one with: {_NEW_KEY_HINT}"
        )
    return bytes.fromhex(text)


def load_pseudonym_key(
    env: Mapping[str, str] = os.environ,
    key_file: str | os.PathLike[str] = DEFAULT_KEY_FILE,
    create: bool = True,
) -> bytes:
    """The pseudonymisation key: from ``$AWARENESS_PSEUDONYM_KEY``, else from ``key_file``.

    The environment variable wins (hex, at least 32 hex characters; an empty value counts as
    unset). Otherwise the key file (default ``~/.config/awareness-analysis/pseudonym.key``) is
    read; when it is missing and ``create`` is True (the default, so pseudonymisation works on
    first use) a new key from ``secrets.token_hex(32)`` is written with mode 0600. Keep the
    key: the same key gives the same pseudonyms later, and anyone holding it can test guesses
    of emails against pseudonyms. ``create=False`` raises FileNotFoundError explaining how to
    create one. A key file that group or others may read is refused (as ssh refuses such
    private keys), with the ``chmod`` that fixes it. Errors name the variable or file but never
    contain the key.
    """
    from_env = env.get(KEY_ENV, "")
    if from_env.strip():
        return _parse_key(from_env, f"Environment variable {KEY_ENV}")
    path = Path(key_file).expanduser()
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        if not create:
            raise FileNotFoundError(
                f"No pseudonymisation key: {KEY_ENV} is not set and {path} does not exist. "
                f"Set {KEY_ENV} to a key made with {_NEW_KEY_HINT}, write such a key to {path} "
                f"(mode 0600), or call load_pseudonym_key(create=True) to generate one."
            ) from None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = secrets.token_hex(32)
    try:
        # O_EXCL: if another process created the file meanwhile, use its key instead.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        os.fchmod(handle.fileno(), 0o600)  # the umask can only narrow 0600, but be explicit
        handle.write(text + "\n")
    return bytes.fromhex(text)


def _read_key_file(path: Path) -> bytes:
    """The key in ``path``, refused when anyone but its owner may read or write it."""
    with path.open("rb") as handle:  # one open: the mode checked is the file's that is read
        mode = os.fstat(handle.fileno()).st_mode
        if os.name == "posix" and mode & 0o077:
            raise PermissionError(
                f"Key file {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(mode):04o}): anyone who can read it can test guessed emails "
                f"against pseudonyms. Fix it with: chmod 600 {path}"
            )
        text = handle.read().decode("ascii", errors="replace")
    return _parse_key(text, f"Key file {path}")
