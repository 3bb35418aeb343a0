"""One analysis session: a loaded snapshot plus the settings every view must respect.

Notebooks and reports start here, so that the snapshot, the campaigns analysed, the suppression
threshold and pseudonymisation are decided once and travel with the data into every chart,
table, view and export. :func:`awareness_analysis.load_analysis` chooses the store (including the
demo store) and calls :func:`open_analysis`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from awareness_analysis import __version__
from awareness_analysis.analysis.disclosure import (
    DisclosurePlan,
    ReportContext,
    SessionDisclosure,
)
from awareness_analysis.analysis.engine import Engine, View
from awareness_analysis.analysis.filters import Selection
from awareness_analysis.analysis.phases import campaign_phases
from awareness_analysis.analysis.privacy import (
    DEFAULT_MIN_GROUP_SIZE,
    load_pseudonym_key,
    threshold,
)
from awareness_analysis.analysis.privacy import pseudonymise as pseudonymise_frame
from awareness_analysis.data.behaviour import people_frame
from awareness_analysis.data.frames import Frames
from awareness_analysis.data.people_file import (
    DEFAULT_DEPARTMENT_FROM,
    DEFAULT_GROUP_BY,
    DEFAULT_PEOPLE_KEY,
    PeopleFile,
    PeopleFileError,
    PeopleJoin,
    join_people_file,
    read_people_file,
)
from awareness_analysis.data.store import Snapshot, SnapshotStore


@dataclass(frozen=True)
class Analysis:
    """A snapshot's frames, limited to the analysed campaigns, and the engine over them.

    ``campaigns``, ``users`` and ``answers`` are the row-level frames to continue in pandas
    (pseudonymised when ``pseudonymise`` is on). They are **not suppressed**: small-group
    suppression applies to aggregates (every table, chart and view the engine computes), so
    keep row-level frames private.
    """

    snapshot: Snapshot
    frames: Frames
    min_group_size: int
    pseudonymise: bool
    #: The campaigns analysed; empty = all in the snapshot.
    campaign_ids: tuple[str, ...] = ()
    #: True when rendering a shared report: dashboards show pre-rendered views, not widgets.
    report: bool = False
    #: The report run's disclosure plan and figure log (None outside a report run).
    context: ReportContext | None = None
    opened_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The snapshot's extra tables (phishing, SAFE scores, ...; see ``fetch --include``),
    #: pseudonymised with the same keyed pseudonyms as ``users`` when ``pseudonymise`` is on,
    #: so a person joins across them. Row-level: not suppressed.
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    #: Builds (people, people_report) on first use: most sessions never join people, so
    #: loading does not pay for it (open_analysis binds the real addresses and the key).
    join_people: Callable[[], tuple[pd.DataFrame, pd.DataFrame]] = field(
        default=lambda: (pd.DataFrame(), pd.DataFrame()), repr=False, compare=False
    )
    #: The store the snapshot came from, for history across its snapshots (None: unknown).
    store_root: Path | None = None
    #: The HR join (``people_file``): how groups were made and who matched, for the analyst
    #: (``describe()`` lists people: never publish it). None without a people file.
    people_join: PeopleJoin | None = None

    def __repr__(self) -> str:
        # No frames: a repr is for logs, and the frames hold people's data.
        return (
            f"Analysis(snapshot={self.snapshot.snapshot_id!r}, campaigns={len(self.campaigns)}, "
            f"enrolments={len(self.users)}, min_group_size={self.min_group_size}, "
            f"pseudonymise={self.pseudonymise})"
        )

    # -- frames to continue in pandas -------------------------------------------------------

    @property
    def campaigns(self) -> pd.DataFrame:
        """One row per analysed campaign."""
        return self.frames.campaigns

    @property
    def users(self) -> pd.DataFrame:
        """One row per campaign x person (an enrolment). Row-level: not suppressed."""
        return self.frames.users

    @property
    def answers(self) -> pd.DataFrame:
        """One row per campaign x person x question. Row-level: not suppressed."""
        return self.frames.answers

    @property
    def campaign_names(self) -> dict[str, str]:
        """Campaign id -> name, in launch order."""
        campaigns = self.frames.campaigns
        return dict(
            zip(
                campaigns["campaign_id"].astype(str),
                campaigns["campaign_name"].astype(str),
                strict=True,
            )
        )

    @property
    def as_of(self) -> datetime:
        """When the snapshot was fetched: the day every "running" and "days since" refers to."""
        return self.snapshot.fetched_at

    @cached_property
    def phases(self) -> pd.DataFrame:
        """Each analysed campaign: days since launch at :attr:`as_of`, and whether it is still
        running (see :mod:`awareness_analysis.analysis.phases`)."""
        return campaign_phases(self.frames.campaigns, self.as_of)

    @cached_property
    def _people_and_report(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self.join_people()

    @property
    def people(self) -> pd.DataFrame:
        """One row per person over the campaign users and every behaviour table, joined on
        the email through the alias-domain map (``data.behaviour.people_frame``);
        pseudonymised like ``users`` when that is on. Empty without behaviour tables."""
        return self._people_and_report[0]

    @property
    def people_report(self) -> pd.DataFrame:
        """Per source: rows, people, matched and unmatched people of the :attr:`people` join."""
        return self._people_and_report[1]

    # -- the engine --------------------------------------------------------------------------

    @cached_property
    def engine(self) -> Engine:
        """The analysis engine over these frames (built once, shared by every dashboard)."""
        return Engine(self.frames.users, self.frames.answers)

    @property
    def plan(self) -> DisclosurePlan | None:
        """The disclosure plan every published figure follows (report runs only)."""
        return self.context.plan if self.context is not None else None

    @cached_property
    def _sessions(self) -> dict[int, SessionDisclosure]:
        return {}

    def disclosure(self, k: int | None = None) -> SessionDisclosure | None:
        """This interactive session's published set at minimum group size ``k`` (default the
        session's): everything its dashboards, tables and summary show, checked as it grows
        (:class:`~awareness_analysis.analysis.disclosure.SessionDisclosure`). None in a report
        run (the report's plan rules there) and with suppression off (private use)."""
        k = threshold(self.min_group_size if k is None else k)
        if self.context is not None or k < 2:
            return None
        if k not in self._sessions:
            self._sessions[k] = SessionDisclosure(self.engine, k)
        return self._sessions[k]

    def view(self, selection: Selection | None = None, k: int | None = None) -> View:
        """What ``selection`` shows, suppressed at minimum group size ``k`` (default this
        session's), under the report's disclosure plan in a report run, else checked against
        everything this session has shown (:meth:`disclosure`)."""
        k = self.min_group_size if k is None else k
        return self.engine.view(selection, k, plan=self.plan, session=self.disclosure(k))

    # -- provenance --------------------------------------------------------------------------

    def provenance(self) -> dict[str, Any]:
        """What a reader needs to trust and reproduce a chart (never a secret)."""
        manifest = self.snapshot.manifest
        return {
            "package_version": __version__,
            "snapshot_id": self.snapshot.snapshot_id,
            "fetched_at": manifest.get("fetched_at"),
            "api_host": manifest.get("api_host"),
            "content_hash": manifest.get("content_hash"),
            "campaigns": list(self.campaign_ids) or "all",
            "min_group_size": self.min_group_size,
            "pseudonymise": self.pseudonymise,
            # Counts only: the aggregated groups are all a people file adds to shared output.
            **({"groups": self.people_join.counts_text()} if self.people_join else {}),
        }

    def provenance_text(self) -> str:
        p = self.provenance()
        suppression = (
            f"groups under {p['min_group_size']} people hidden (minimum group size)"
            if p["min_group_size"] > 1
            else "small-group suppression OFF (private exploration only)"
        )
        campaigns = (
            "all campaigns"
            if not self.campaign_ids
            else f"{len(self.campaign_ids)} selected campaign(s)"
        )
        return (
            f"Snapshot {p['snapshot_id']} fetched {p['fetched_at']} from {p['api_host']}; "
            f"{campaigns}; data {p['content_hash']}; {suppression}; "
            f"pseudonymisation {'on' if p['pseudonymise'] else 'off'}; "
            f"awareness-analysis {p['package_version']}."
        ) + (
            # Counts only: text that describes the analysis must never name anyone (a notebook
            # may print it anywhere). The lists: ``analysis.people_join.describe()``.
            f"\nPeople file: {self.people_join.counts_text()}; "
            "analysis.people_join.describe() lists the unmatched people and any warnings."
            if self.people_join
            else ""
        )

    def with_min_group_size(self, k: int) -> Analysis:
        return replace(self, min_group_size=k)


def _limit_to_campaigns(frames: Frames, campaign_ids: Sequence[str], store: Path) -> Frames:
    known = [str(c) for c in frames.campaigns["campaign_id"].astype(str)]
    unknown = [c for c in campaign_ids if c not in known]
    if unknown:
        raise ValueError(
            f"Unknown campaign id(s) {', '.join(unknown)} in store {store}; list them with "
            "`awareness-analysis export --store STORE --table campaigns`."
        )
    wanted = set(campaign_ids)

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.loc[frame["campaign_id"].astype(str).isin(wanted).to_numpy()].copy()
        for column in ("campaign_id", "campaign_name"):
            if column in rows and isinstance(rows[column].dtype, pd.CategoricalDtype):
                rows[column] = rows[column].cat.remove_unused_categories()
        return rows.reset_index(drop=True)

    return Frames(
        campaigns=keep(frames.campaigns), users=keep(frames.users), answers=keep(frames.answers)
    )


#: Environment variable with the alias-domain map: ``old.example=example.com,...``.
ALIAS_DOMAINS_ENV = "AWARENESS_ALIAS_DOMAINS"
#: Behaviour tables joined into ``people``, under the source keys people_frame knows.
_PEOPLE_SOURCES = {
    "phish_users": "phish_users",
    "phish_user_totals": "phish_totals",
    "safe_scores": "safe_scores",
    "watchlist": "watchlist",
    "performance": "performance",
}


def alias_domains_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The alias-domain map of ``AWARENESS_ALIAS_DOMAINS`` (``old=new`` pairs, commas between)."""
    text = (os.environ if environ is None else environ).get(ALIAS_DOMAINS_ENV, "").strip()
    aliases: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        alias, equals, domain = pair.partition("=")
        if not equals or not alias.strip() or not domain.strip():
            raise ValueError(
                f"{ALIAS_DOMAINS_ENV} takes old=new domain pairs separated by commas, e.g. "
                f"old-example.com=example.com; {pair!r} is not one."
            )
        aliases[alias.strip()] = domain.strip()
    return aliases


def _join_people(
    users: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    alias_domains: Mapping[str, str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    sources = {key: tables[name] for name, key in _PEOPLE_SOURCES.items() if name in tables}
    if not sources:
        return pd.DataFrame(), pd.DataFrame()
    aliases = alias_domains_from_env() if alias_domains is None else alias_domains
    return people_frame({"campaigns": users, **sources}, aliases)


def _pseudonymised_table(table: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """A behaviour table with its people replaced by the users frame's pseudonyms (the email
    as sent becomes the same pseudonym; a people table's ``person`` key too)."""
    if "email" in table:
        out = pseudonymise_frame(table, key)
        if "email_raw" in out:
            out["email_raw"] = out["email"]
        return out
    if "person" in table:
        renamed = pseudonymise_frame(table.rename(columns={"person": "email"}), key)
        return renamed.rename(columns={"email": "person"})
    return table


def open_analysis(
    store: SnapshotStore | str | os.PathLike[str],
    *,
    min_group_size: int | None = DEFAULT_MIN_GROUP_SIZE,
    pseudonymise: bool = False,
    campaign_ids: Sequence[str] = (),
    snapshot_id: str | None = None,
    at: datetime | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    report: bool | str | os.PathLike[str] = False,
    alias_domains: Mapping[str, str] | None = None,
    people_file: PeopleFile | str | os.PathLike[str] | None = None,
    people_key: str | None = None,
    group_by: str | None = None,
    department_from: str | None = None,
) -> Analysis:
    """Load a snapshot of ``store``, limit it to ``campaign_ids`` (empty = all), and
    pseudonymise it if asked. Every table, chart, view and export of the session then covers
    only those campaigns.

    ``report``: True for pre-rendered views; the report renderer passes the path of a
    :class:`~awareness_analysis.analysis.disclosure.ReportContext` instead (its plan's dropped
    campaigns are left out, and every figure follows the plan).

    ``alias_domains`` maps an old or alias email domain to the one it stands for (e.g.
    ``{"old-example.com": "example.com"}``), for joining people across sources; default: the
    ``AWARENESS_ALIAS_DOMAINS`` environment variable (``old=new,other=new``), else none.

    ``people_file``: the analyst's HR export (CSV, read locally, never stored), keyed by its
    column ``people_key`` (default ``email``); its column ``group_by`` (default ``department``)
    becomes the department everywhere, ``department_from`` (``api`` default, or ``file``)
    saying which department wins (:func:`~awareness_analysis.data.people_file.
    join_people_file`). :attr:`Analysis.people_join` reports who matched. In a report run the
    report's people file options apply; values given here must agree with them.
    """
    context = None
    if report and not isinstance(report, bool):
        context = ReportContext.from_json(Path(report).read_text(encoding="utf-8"))
    k = int(min_group_size or 0)
    if k < 0:
        raise ValueError(f"min_group_size must be 0 (off) or more, not {k}.")
    store = store if isinstance(store, SnapshotStore) else SnapshotStore(store)
    snapshot = store.load(at, snapshot_id=snapshot_id)
    frames = snapshot.frames
    chosen = tuple(dict.fromkeys(str(c) for c in campaign_ids))
    if context is not None and context.plan.dropped_campaigns:
        everything = chosen or tuple(frames.campaigns["campaign_id"].astype(str))
        chosen = tuple(c for c in everything if c not in context.plan.dropped_campaigns)
    if chosen:
        frames = _limit_to_campaigns(frames, chosen, store.root)
    tables: dict[str, pd.DataFrame] = dict(snapshot.tables)
    people_join: PeopleJoin | None = None
    people = _people_options(context, people_file, people_key, group_by, department_from)
    if people is not None:
        # Before pseudonymisation: the file is keyed by the real addresses.
        users, tables, people_join = join_people_file(
            people[0],
            frames.users,
            tables,
            group_by=people[1],
            department_from=people[2],
            alias_domains=alias_domains_from_env() if alias_domains is None else alias_domains,
        )
        frames = replace(frames, users=users)
    real_users, real_tables = frames.users, tables
    key: bytes | None = None
    if pseudonymise:
        key = load_pseudonym_key(**({} if key_file is None else {"key_file": Path(key_file)}))
        frames = Frames(
            campaigns=frames.campaigns,
            users=pseudonymise_frame(frames.users, key),
            answers=pseudonymise_frame(frames.answers, key),
        )
        tables = {name: _pseudonymised_table(table, key) for name, table in tables.items()}
        if people_join is not None:
            people_join = replace(
                people_join,
                unmatched_api=_pseudonyms(people_join.unmatched_api, key),
                unmatched_file=_pseudonyms(people_join.unmatched_file, key),
            )

    def join_people() -> tuple[pd.DataFrame, pd.DataFrame]:
        # Joined on real addresses (an alias domain is only visible there), then
        # pseudonymised with everything else.
        people, report = _join_people(real_users, real_tables, alias_domains)
        return (people if key is None else _pseudonymised_table(people, key)), report

    return Analysis(
        snapshot=snapshot,
        frames=frames,
        tables=tables,
        join_people=join_people,
        min_group_size=k,
        pseudonymise=pseudonymise,
        campaign_ids=chosen,
        report=bool(report),
        context=context,
        store_root=store.root,
        people_join=people_join,
    )


def _pseudonyms(people: Sequence[str], key: bytes) -> tuple[str, ...]:
    """The keyed pseudonyms of ``people`` (emails), as the users frame shows them."""
    if not people:
        return ()
    frame = pseudonymise_frame(pd.DataFrame({"email": list(people)}), key)
    return tuple(sorted(frame["email"].astype(str)))


#: The people file options of ``open_analysis`` and their defaults.
_PEOPLE_DEFAULTS: dict[str, str | None] = {
    "people_file": None,
    "people_key": DEFAULT_PEOPLE_KEY,
    "group_by": DEFAULT_GROUP_BY,
    "department_from": DEFAULT_DEPARTMENT_FROM,
}


def _people_options(
    context: ReportContext | None,
    people_file: PeopleFile | str | os.PathLike[str] | None,
    people_key: str | None,
    group_by: str | None,
    department_from: str | None,
) -> tuple[PeopleFile, str, str] | None:
    """The people file (read and validated), the grouping column and which department wins;
    None without a file. A report run's options come from its context: the disclosure plan
    was made with those groups, so a notebook passing other values would publish figures the
    plan never checked."""
    path = people_file
    if isinstance(people_file, PeopleFile):
        # A file already read: its key column is the key.
        path, people_key = people_file.path, people_key or people_file.key_column
    given: dict[str, str | None] = {
        # A blank path is no file (not the working folder).
        "people_file": str(Path(path).expanduser().resolve()) if str(path or "").strip() else None,
        "people_key": people_key,
        "group_by": group_by,
        "department_from": department_from,
    }
    chosen = {name: value or _PEOPLE_DEFAULTS[name] for name, value in given.items()}
    if context is not None:
        planned = {**_PEOPLE_DEFAULTS, **dict(context.people or {})}
        for name, value in given.items():
            if value is not None and str(value).casefold() != str(planned[name]).casefold():
                raise ValueError(
                    f"This report run was planned with {name}={planned[name]!r}, but the "
                    f"notebook passes {value!r}; pass the report's parameters to load_analysis."
                )
        chosen = {name: planned[name] for name in given}
    if chosen["people_file"] is None:
        return None
    if (
        isinstance(people_file, PeopleFile)
        and people_file.key_column.casefold() == str(chosen["people_key"]).strip().casefold()
    ):
        people = people_file
    else:
        people = read_people_file(str(chosen["people_file"]), key=str(chosen["people_key"]))
    expected = (context.people or {}).get("sha256") if context is not None else None
    if expected and expected != people.sha256:
        raise PeopleFileError(
            f"People file {people.path} changed while the report was being rendered; render "
            "the report again once the file is final."
        )
    return people, str(chosen["group_by"]), str(chosen["department_from"])
