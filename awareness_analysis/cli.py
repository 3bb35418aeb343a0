"""Command line interface: ``awareness-analysis campaigns|fetch|demo|export|report|notebooks|
migrate-store|prune|check``.

Failures end with a one-line reason on stderr and a non-zero exit code:
1 for API, response and store errors, 2 for bad input or configuration, 130 when interrupted;
``check --strict`` exits 3 when a reconciliation with the vendor's counters fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from awareness_analysis import __version__
from awareness_analysis.analysis.privacy import DEFAULT_MIN_GROUP_SIZE
from awareness_analysis.api.config import load_settings
from awareness_analysis.api.endpoints import (
    DEFAULT_PAGE_SIZE,
    SEARCH_FIELDS,
    STATUSES,
    UserDataFilter,
    describe,
    list_campaigns,
    parse_search,
)
from awareness_analysis.api.fetch import ALL_SOURCES, DEFAULT_WORKERS, fetch_snapshot, parse_include
from awareness_analysis.api.transport import (
    DEFAULT_MAX_WAIT_S,
    DEFAULT_QUOTA_RESERVE,
    MAX_PAGE_SIZE,
    MimecastClient,
)
from awareness_analysis.data.csv_safe import csv_text, write_csv
from awareness_analysis.data.people_file import (
    DEFAULT_GROUP_BY,
    DEFAULT_PEOPLE_KEY,
    DEPARTMENT_FROM,
    PeopleJoin,
)
from awareness_analysis.data.store import Snapshot, SnapshotStore
from awareness_analysis.demo import build_demo_store
from awareness_analysis.errors import AwarenessAnalysisError, ConfigError
from awareness_analysis.vocabulary import BEHAVIOUR_SOURCES, TABLES

ENVIRONMENT_HELP = """\
environment variables:
  MIMECAST_BASE_URL       API base, e.g. https://us-api.mimecast.com (API 1.0 regional host)
                          or https://api.services.mimecast.com (API 2.0 gateway)
  MIMECAST_ACCESS_KEY, MIMECAST_SECRET_KEY, MIMECAST_APP_ID, MIMECAST_APP_KEY
                          API 1.0 keys (HMAC signing)
  MIMECAST_CLIENT_ID, MIMECAST_CLIENT_SECRET
                          API 2.0 OAuth client credentials
  MIMECAST_AUTH           1.0 or 2.0, when both sets are present (default: 1.0)
  MIMECAST_CONFIG         TOML config file with the same settings (see README)
"""

RAW_HELP = (
    "write text cells exactly as stored; by default a cell starting with =, +, -, @, tab or "
    "carriage return gets a leading apostrophe so a spreadsheet shows it instead of running it"
)


def _build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="awareness-analysis",
        description="Fetch and store Mimecast Awareness Training campaign data.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML config file (default: $MIMECAST_CONFIG if set)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    campaigns = commands.add_parser(
        "campaigns",
        help="list the account's campaigns",
        description="List the account's Awareness Training campaigns with their ids.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=formatter,
    )
    campaigns.add_argument("--format", choices=("table", "csv", "json"), default="table")
    campaigns.add_argument("--raw", action="store_true", help=RAW_HELP)

    fetch = commands.add_parser(
        "fetch",
        help="fetch user-level campaign data into a new snapshot",
        description="Fetch campaigns and their user-level data into a new snapshot under "
        "STORE. All campaigns are fetched when none is named. When STORE already holds a "
        "snapshot fetched with the same filter, only campaigns whose counters (sent, completed, "
        "correct answers, locked) changed are downloaded again and the stored rows of the "
        "others are reused; the new snapshot is complete either way (--full downloads "
        "everything). Several campaigns are fetched at once (--workers); an HTTP 429 pauses "
        "them all. Requests are paced by the API's quota headers so the account's quota is "
        "not overrun and --quota-reserve calls stay for its other integrations. The previous "
        "snapshot stays intact if the fetch fails.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=formatter,
    )
    fetch.add_argument("--out", required=True, metavar="STORE", help="snapshot store folder")
    fetch.add_argument(
        "--campaign",
        action="append",
        default=[],
        metavar="ID",
        help="campaign id to fetch (repeatable; see `awareness-analysis campaigns`)",
    )
    fetch.add_argument(
        "--status",
        action="append",
        default=[],
        choices=STATUSES,
        help="only users with this outcome (repeatable)",
    )
    fetch.add_argument(
        "--search",
        metavar="FIELD=VALUE",
        help=f"only users whose FIELD contains VALUE; FIELD is one of {', '.join(SEARCH_FIELDS)}",
    )
    fetch.add_argument(
        "--attribute-id",
        action="append",
        default=[],
        metavar="ID",
        help="custom attribute id for --search customAttribute=VALUE (at most 3)",
    )
    _add_page_size(fetch)
    fetch.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"campaigns fetched at once (default {DEFAULT_WORKERS}; 1 = one after another)",
    )
    fetch.add_argument(
        "--quota-reserve",
        type=int,
        default=DEFAULT_QUOTA_RESERVE,
        metavar="N",
        help="calls of the account's API quota (X-RateLimit-Remaining) left for the "
        f"administrator's other integrations: the fetch waits for refills instead of going "
        f"below N (default {DEFAULT_QUOTA_RESERVE}; 0 = use the whole quota)",
    )
    fetch.add_argument(
        "--max-wait",
        type=float,
        default=DEFAULT_MAX_WAIT_S,
        metavar="SECONDS",
        help="total time the fetch may spend waiting for API quota before it stops with an "
        f"error (default {DEFAULT_MAX_WAIT_S:.0f}, i.e. {DEFAULT_MAX_WAIT_S / 3600:g} h)",
    )
    fetch.add_argument(
        "--full",
        action="store_true",
        help="download every campaign again instead of reusing unchanged ones from the "
        "latest snapshot",
    )
    fetch.add_argument(
        "--restart",
        action="store_true",
        help="discard the pages a stopped fetch of the same query saved, instead of resuming",
    )
    fetch.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="SOURCES",
        help="also fetch these behaviour sources into extra snapshot tables, fetched whole each "
        f"time: {', '.join(BEHAVIOUR_SOURCES)} or {ALL_SOURCES} (comma-separated, repeatable)",
    )
    fetch.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    demo = commands.add_parser(
        "demo",
        help="build a store from the synthetic demo organisation",
        description="Serve the synthetic demo organisation on a local fake Mimecast API "
        "(loopback only) and fetch it with the real client into a new snapshot under STORE. "
        "Needs no account or credentials.",
        formatter_class=formatter,
    )
    demo.add_argument("--out", required=True, metavar="STORE", help="snapshot store folder")
    demo.add_argument("--seed", type=int, default=None, help="demo organisation seed")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    export = commands.add_parser(
        "export",
        help="write one table of a snapshot as CSV",
        description="Write one table of a stored snapshot (the latest by default) as CSV.",
        formatter_class=formatter,
    )
    export.add_argument("--store", required=True, metavar="STORE", help="snapshot store folder")
    export.add_argument("--table", required=True, choices=TABLES)
    export.add_argument("--out", required=True, metavar="FILE.csv", help="CSV file to write")
    export.add_argument("--raw", action="store_true", help=RAW_HELP)
    when = export.add_mutually_exclusive_group()
    when.add_argument("--snapshot", metavar="ID", help="snapshot id (default: latest)")
    when.add_argument(
        "--at", metavar="TIME", help="latest snapshot fetched at or before TIME (ISO 8601)"
    )
    _add_people_options(export, "the users table's department")
    report = commands.add_parser(
        "report",
        help="render the notebooks as shared HTML reports",
        description="Execute each notebook on a stored snapshot and write one self-contained "
        "HTML page per notebook plus index.html into DIR. Pages work offline, hide code, and "
        "offer pre-rendered campaign and department views. DIR is replaced only when every "
        "notebook succeeded.",
        formatter_class=formatter,
    )
    report.add_argument("--store", required=True, metavar="STORE", help="snapshot store folder")
    report.add_argument("--out", required=True, metavar="DIR", help="folder for the HTML pages")
    report.add_argument(
        "--pseudonymise",
        action="store_true",
        dest="pseudonymise",
        help="replace emails and names with keyed pseudonyms (suppression stays on)",
    )
    report.add_argument(
        "--anonymize",
        action="store_true",
        dest="pseudonymise",
        help="the old spelling of --pseudonymise, still accepted",
    )
    report.add_argument(
        "--include-people",
        action="store_true",
        help="add per-person rows (names, emails) to the user explorer page and the list of "
        "repeat non-completers on the trends page; every page then says the report holds "
        "personal data. Off by default: shared reports carry aggregates only",
    )
    report.add_argument(
        "--min-group-size",
        type=int,
        default=DEFAULT_MIN_GROUP_SIZE,
        metavar="K",
        help=(
            f"hide any group of fewer than K people: departments, campaigns, cells "
            f"(default {DEFAULT_MIN_GROUP_SIZE}; 0 = off, private use only)"
        ),
    )
    report.add_argument(
        "--campaign",
        action="append",
        default=[],
        metavar="ID",
        help="limit the reports to this campaign (repeatable; default: all)",
    )
    report.add_argument(
        "--notebooks",
        metavar="DIR",
        help="notebook folder, e.g. edited copies from `awareness-analysis notebooks` "
        "(default: the notebooks shipped with the package)",
    )
    report.add_argument("--raw", action="store_true", help=f"in figures.csv, {RAW_HELP}")
    _add_people_options(report, "the department on every page")
    report.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    check = commands.add_parser(
        "check",
        help="check a snapshot's data quality and reconcile it with the vendor's counters",
        description="Print the data-quality report of a stored snapshot (the latest by "
        "default): empty departments and names, likely aliases (same local part or same name "
        "under different domains), addresses outside the organisation domains (personal or "
        "external), inactive users (counted in every figure), users enrolled twice in one "
        "campaign, campaigns with no questions or more than four, group user counts of 0, and "
        "each campaign's rows, completions and correct answers against the vendor's own "
        "counters, every difference listed. Alias domains come from AWARENESS_ALIAS_DOMAINS "
        f"(old=new,...). Exits 0, or {CHECK_FAILED_EXIT} with --strict when a reconciliation "
        "fails.",
        formatter_class=formatter,
    )
    check.add_argument("--store", required=True, metavar="STORE", help="snapshot store folder")
    check_when = check.add_mutually_exclusive_group()
    check_when.add_argument("--snapshot", metavar="ID", help="snapshot id (default: latest)")
    check_when.add_argument(
        "--at", metavar="TIME", help="latest snapshot fetched at or before TIME (ISO 8601)"
    )
    check.add_argument(
        "--org-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="a mail domain of the organisation (repeatable; default: inferred, the largest "
        "domain and any holding at least 10%% of the people)",
    )
    check.add_argument(
        "--limit",
        type=int,
        default=50,
        metavar="N",
        help="rows printed per list of people (default 50; 0 = all); reconciliation "
        "differences are always listed in full",
    )
    check.add_argument(
        "--strict",
        action="store_true",
        help=f"exit {CHECK_FAILED_EXIT} when a reconciliation with the vendor's counters fails "
        "(for scheduled runs)",
    )

    notebooks = commands.add_parser(
        "notebooks",
        help="copy the packaged notebooks into a folder for editing",
        description="Copy the notebooks shipped with the package into DIR (created if "
        "missing) to edit them; render the edited copies with `awareness-analysis report "
        "--notebooks DIR`. Existing files of the same name are kept unless --force.",
        formatter_class=formatter,
    )
    notebooks.add_argument("--out", required=True, metavar="DIR", help="folder for the copies")
    notebooks.add_argument(
        "--force", action="store_true", help="overwrite notebooks of the same name in DIR"
    )

    migrate = commands.add_parser(
        "migrate-store",
        help="convert old snapshots to the shared layout",
        description="Convert every snapshot of STORE written in the old layout (one copy of "
        "every table per snapshot) to the shared layout, where snapshots share the files of "
        "unchanged campaigns. Each snapshot is checked to load back with exactly the same data "
        "before its old files are removed; snapshots already converted are left alone. Old "
        "snapshots also load without this; it saves the space of their repeated data.",
        formatter_class=formatter,
    )
    migrate.add_argument("--store", required=True, metavar="STORE", help="snapshot store folder")

    prune = commands.add_parser(
        "prune",
        help="remove old snapshots, keeping the newest N",
        description="Remove every snapshot of STORE but the newest N (by fetch time), then "
        "every shared file no remaining snapshot uses, and print what was removed and the "
        "space freed. Remaining snapshots always stay complete, also while a fetch writes into "
        "STORE.",
        formatter_class=formatter,
    )
    prune.add_argument("--store", required=True, metavar="STORE", help="snapshot store folder")
    prune.add_argument(
        "--keep", required=True, type=int, metavar="N", help="newest snapshots to keep (>= 1)"
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="only list what would be removed; change nothing"
    )
    return parser


def _add_page_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--page-size",
        type=int,
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help=f"records per API page (default {DEFAULT_PAGE_SIZE})",
    )


def _add_people_options(parser: argparse.ArgumentParser, replaces: str) -> None:
    people = parser.add_argument_group(
        "your own HR data",
        "Read locally: never uploaded, stored, or copied into the output beyond the group "
        "labels and match counts.",
    )
    people.add_argument(
        "--people",
        metavar="FILE.csv",
        help=f"your HR export (CSV, UTF-8, one row per person, keyed by email): its "
        f"--group-by column replaces {replaces}",
    )
    people.add_argument(
        "--people-key",
        metavar="COLUMN",
        help=f"the file's column of email addresses (default: {DEFAULT_PEOPLE_KEY})",
    )
    people.add_argument(
        "--group-by",
        metavar="COLUMN",
        help="the file's column that groups people wherever the department does, e.g. "
        f"location (default: {DEFAULT_GROUP_BY})",
    )
    people.add_argument(
        "--department-from",
        choices=DEPARTMENT_FROM,
        help="with --group-by department, which department wins: api (default) keeps the "
        "API's and fills empty ones from the file; file takes the file's wherever it has one",
    )
    people.add_argument(
        "--people-unmatched",
        metavar="FILE.csv",
        help="also write who did not match (API users without a row in the file, file rows "
        "matching no one) to FILE.csv, to fix the file; never part of the output",
    )


def _people_options(args: argparse.Namespace) -> dict[str, str | None]:
    """The people file options of ``args`` as ``open_analysis`` takes them ({} without
    --people); the other people options alone are refused, not silently ignored."""
    options = {
        "people_key": args.people_key,
        "group_by": args.group_by,
        "department_from": args.department_from,
        "people_unmatched": args.people_unmatched,
    }
    if args.people is None:
        given = [f"--{name.replace('_', '-')}" for name, value in options.items() if value]
        if given:
            raise ValueError(f"{', '.join(given)} need(s) --people FILE.csv (your HR export).")
        return {}
    del options["people_unmatched"]
    return {"people_file": args.people, **{k: v for k, v in options.items() if v is not None}}


def _report_people(join: PeopleJoin | None, args: argparse.Namespace) -> None:
    """Tell the analyst who matched (this lists people: the terminal, never the output)."""
    if join is None:
        return
    print(join.describe())
    if args.people_unmatched:
        written = write_csv(join.unmatched_frame(), args.people_unmatched, raw=args.raw)
        count = len(join.unmatched_api) + len(join.unmatched_file)
        print(f"Wrote the {count:,} unmatched people to {written}.")


def _client(
    config: str | None,
    *,
    pool_size: int = 10,
    quota_reserve: int = DEFAULT_QUOTA_RESERVE,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
) -> MimecastClient:
    return MimecastClient(
        load_settings(config_file=config),
        pool_size=pool_size,
        quota_reserve=quota_reserve,
        max_wait_s=max_wait_s,
    )


def _cmd_campaigns(args: argparse.Namespace) -> int:
    with _client(args.config) as client:
        rows = [describe(c) for c in list_campaigns(client)]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    frame = pd.DataFrame(
        rows, columns=["id", "name", "module", "launch_date", "num_sent", "num_completed"]
    )
    if args.format == "csv":
        # Campaign names are typed by people in the tenant: neutralised like every CSV.
        sys.stdout.write(csv_text(frame, raw=args.raw))
    elif frame.empty:
        print("No campaigns.")
    else:
        print(frame.to_string(index=False))
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    field, value = parse_search(args.search) if args.search else (None, None)
    # Validate every argument before the first request is sent.
    user_filter = UserDataFilter(field, value, tuple(args.status), tuple(args.attribute_id))
    if not 1 <= args.page_size <= MAX_PAGE_SIZE:
        raise ValueError(
            f"--page-size must be between 1 and {MAX_PAGE_SIZE} (got {args.page_size})."
        )
    sources = parse_include(args.include)
    if any(not c.strip() for c in args.campaign):
        raise ValueError("--campaign was given an empty id.")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1 (got {args.workers}).")
    if args.quota_reserve < 0:
        raise ValueError(f"--quota-reserve must be at least 0 (got {args.quota_reserve}).")
    if not args.max_wait >= 0 or args.max_wait == float("inf"):
        raise ValueError(
            f"--max-wait must be a number of seconds, at least 0 (got {args.max_wait})."
        )
    store = SnapshotStore(args.out)
    with (
        _client(
            args.config,
            pool_size=max(10, args.workers),
            quota_reserve=args.quota_reserve,
            max_wait_s=args.max_wait,
        ) as client,
        contextlib.ExitStack() as stack,
    ):
        # With both credential sets, the behaviour endpoints go through API 2.0 (their
        # catalogue) while the campaign endpoints stay on API 1.0; one set serves both.
        behaviour_client = None
        behaviour = load_settings(config_file=args.config, purpose="behaviour") if sources else None
        if behaviour is not None and behaviour != client.settings:
            behaviour_client = stack.enter_context(
                MimecastClient(
                    behaviour, quota_reserve=args.quota_reserve, max_wait_s=args.max_wait
                )
            )
        snapshot = fetch_snapshot(
            client,
            store,
            campaign_ids=args.campaign,
            user_filter=user_filter,
            page_size=args.page_size,
            progress=False if args.no_progress else None,
            workers=args.workers,
            full=args.full,
            restart=args.restart,
            include=sources,
            behaviour_client=behaviour_client,
        )
    _print_snapshot(snapshot)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    kwargs = {} if args.seed is None else {"seed": args.seed}
    snapshot = build_demo_store(args.out, progress=False if args.no_progress else None, **kwargs)
    _print_snapshot(snapshot)
    return 0


def _print_snapshot(snapshot: Snapshot) -> None:
    counts = snapshot.manifest["row_counts"]
    refresh = snapshot.manifest.get("refresh")
    how = ""
    if isinstance(refresh, dict) and not refresh.get("full"):
        how = (
            f" ({len(refresh.get('refreshed', []))} campaigns downloaded, "
            f"{len(refresh.get('reused', []))} unchanged reused from "
            f"{refresh.get('base_snapshot')})"
        )
    print(
        f"Snapshot {snapshot.snapshot_id} written to {snapshot.path}: "
        f"{counts['campaigns']} campaigns, {counts['users']} user rows, "
        f"{counts['answers']} answer rows{how}."
    )
    if snapshot.tables:
        extras = ", ".join(f"{name} {len(frame)}" for name, frame in snapshot.tables.items())
        print(f"Extra tables (rows): {extras}.")


def _cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: folder {out.parent} does not exist; create it first.")
    people = _people_options(args)
    if people:
        if args.table != "users":
            raise ValueError(
                f"--people regroups the users table's department; the {args.table} table has "
                "none. Export --table users with it, or leave --people out."
            )
        from awareness_analysis.analysis.session import open_analysis

        # The one join every view uses: the snapshot's users, department regrouped (the
        # snapshot is loaded once, by the analysis).
        analysis = open_analysis(
            args.store, min_group_size=0, snapshot_id=args.snapshot, at=args.at, **people
        )
        _report_people(analysis.people_join, args)
        snapshot, frame = analysis.snapshot, analysis.users
    else:
        snapshot = SnapshotStore(args.store).load(args.at, snapshot_id=args.snapshot)
        frame = getattr(snapshot.frames, args.table)
    # Atomic (an interrupted export never leaves half a file) and formula-safe unless --raw.
    write_csv(frame, out, raw=args.raw)
    print(f"Wrote {len(frame)} rows of {args.table} from snapshot {snapshot.snapshot_id} to {out}.")
    return 0


#: Exit code of ``check --strict`` when a reconciliation fails; 1, 2 and 130 already mean an
#: error, bad input and an interrupt, so a scheduler can tell bad data from a broken run.
CHECK_FAILED_EXIT = 3


def _cmd_check(args: argparse.Namespace) -> int:
    # Imported here: the report's text comes from the views layer, which only `check` needs.
    from awareness_analysis.analysis.session import alias_domains_from_env
    from awareness_analysis.data.quality import check_snapshot
    from awareness_analysis.views.quality import quality_text

    if args.limit < 0:
        raise ValueError(f"--limit must be 0 (list everything) or more (got {args.limit}).")
    empty = [d for d in args.org_domain if not d.strip().lstrip("@")]
    if empty:
        raise ValueError("--org-domain was given an empty domain; give e.g. --org-domain corp.com")
    snapshot = SnapshotStore(args.store).load(args.at, snapshot_id=args.snapshot)
    report = check_snapshot(
        snapshot, organisation_domains=args.org_domain, alias_domains=alias_domains_from_env()
    )
    header = (
        f"Data quality of snapshot {snapshot.snapshot_id} (fetched "
        f"{snapshot.manifest.get('fetched_at')}) in {args.store}"
    )
    print(quality_text(report, limit=args.limit, header=header))
    if args.strict and report.failed:
        print(
            f"awareness-analysis check: {len(report.failures)} reconciliation check(s) failed "
            f"with --strict; exit code {CHECK_FAILED_EXIT}.",
            file=sys.stderr,
        )
        return CHECK_FAILED_EXIT
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from awareness_analysis.views.report import AUDIT_FILE, render_reports

    people = _people_options(args)
    if people:
        from awareness_analysis.analysis.session import open_analysis

        # Checked (and who matched told) before the notebooks run, not after a minute.
        analysis = open_analysis(
            args.store,
            min_group_size=args.min_group_size,
            pseudonymise=args.pseudonymise,
            campaign_ids=args.campaign,
            **people,
        )
        _report_people(analysis.people_join, args)

    pages = render_reports(
        args.store,
        args.out,
        pseudonymise=args.pseudonymise,
        min_group_size=args.min_group_size,
        campaign_ids=args.campaign,
        notebooks=args.notebooks,
        progress=False if args.no_progress else None,
        include_people=args.include_people,
        **people,
        raw=args.raw,
    )
    print((pages[0].parent / AUDIT_FILE).read_text(encoding="utf-8").strip())
    print(f"Wrote {len(pages)} pages. Open {pages[0].as_uri()} in a browser.")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from awareness_analysis.views.report import copy_notebooks

    written = copy_notebooks(args.out, force=args.force)
    for path in written:
        print(f"Wrote {path}")
    print(
        f"Copied {len(written)} notebooks. Render your edits with `awareness-analysis report "
        f"--store STORE --out DIR --notebooks {args.out}`."
    )
    return 0


def _format_size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _cmd_migrate_store(args: argparse.Namespace) -> int:
    store = SnapshotStore(args.store)
    before = store.disk_usage()
    try:
        migrated = store.migrate()
    except KeyboardInterrupt:
        # Each snapshot is converted in one step: the store stays readable either way.
        print(
            "awareness-analysis migrate-store: interrupted; every snapshot is intact, in the "
            "old or the new layout. Run the command again to finish.",
            file=sys.stderr,
        )
        return 130
    total = len(store.snapshot_ids())
    if not migrated:
        print(f"Nothing to migrate: the {total} snapshot(s) in {store.root} use the new layout.")
        return 0
    for snapshot_id in migrated:
        print(f"Migrated {snapshot_id}")
    print(
        f"Migrated {len(migrated)} of {total} snapshot(s) to the shared layout; the store went "
        f"from {_format_size(before)} to {_format_size(store.disk_usage())}."
    )
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    store = SnapshotStore(args.store)
    try:
        report = store.prune_report(args.keep, dry_run=args.dry_run)
    except KeyboardInterrupt:
        print(
            "awareness-analysis prune: interrupted; the snapshots left are complete. Run the "
            "command again to finish.",
            file=sys.stderr,
        )
        return 130
    verb = "Would remove" if report.dry_run else "Removed"
    for snapshot_id in report.removed_snapshots:
        print(f"{verb} snapshot {snapshot_id}")
    freed = "would be freed" if report.dry_run else "freed"
    print(
        f"{verb} {len(report.removed_snapshots)} snapshot(s) and "
        f"{len(report.removed_objects)} shared file(s) no kept snapshot uses; "
        f"{_format_size(report.freed_bytes)} {freed}. Kept {len(report.kept_snapshots)} "
        f"snapshot(s) in {store.root}."
    )
    if report.dry_run:
        print("Dry run: nothing was changed.")
    return 0


_COMMANDS = {
    "campaigns": _cmd_campaigns,
    "fetch": _cmd_fetch,
    "demo": _cmd_demo,
    "export": _cmd_export,
    "check": _cmd_check,
    "report": _cmd_report,
    "notebooks": _cmd_notebooks,
    "migrate-store": _cmd_migrate_store,
    "prune": _cmd_prune,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except (ConfigError, ValueError) as exc:
        print(f"awareness-analysis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except AwarenessAnalysisError as exc:
        print(f"awareness-analysis {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"awareness-analysis {args.command}: interrupted; nothing was written and the "
            "store is unchanged.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
