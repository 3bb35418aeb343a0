"""Shared reports: each notebook executed with report parameters and saved as offline HTML.

The pages need no kernel and no network: code cells are hidden, charts are embedded images, each
chart block offers pre-rendered, already-suppressed views (campaigns, departments) switched by a
small inline script, and every page ends with a provenance footer. A report folder is written
beside its target and swapped in at the end, so a failure leaves the previous reports as they
were and nothing half-written.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from tqdm.auto import tqdm

from awareness_analysis import __version__
from awareness_analysis.analysis.behaviour_disclosure import BehaviourFigures, behaviour_figures
from awareness_analysis.analysis.disclosure import (
    DisclosurePlan,
    Publication,
    ReportContext,
    audit,
    dropped_campaigns,
    plan_disclosure,
    read_published,
)
from awareness_analysis.analysis.engine import Cell
from awareness_analysis.analysis.privacy import DEFAULT_MIN_GROUP_SIZE
from awareness_analysis.analysis.session import Analysis, open_analysis
from awareness_analysis.analysis.summary import summary_publications
from awareness_analysis.analysis.trends import trend_publications
from awareness_analysis.data.csv_safe import write_csv
from awareness_analysis.data.people_file import (
    DEFAULT_DEPARTMENT_FROM,
    DEFAULT_GROUP_BY,
    DEFAULT_PEOPLE_KEY,
    read_people_file,
)
from awareness_analysis.data.store import Snapshot, SnapshotStore
from awareness_analysis.errors import AwarenessAnalysisError
from awareness_analysis.views.figures import FIGURE_COLUMNS
from awareness_analysis.views.widgets import (
    CampaignOverview,
    Dashboard,
    DepartmentComparison,
    QuestionAccuracy,
)
from awareness_analysis.vocabulary import DEPARTMENT_METRICS

#: Every figure a report publishes, one row each; and the disclosure audit's summary.
FIGURES_FILE = "figures.csv"
AUDIT_FILE = "audit.txt"
#: Marks a folder as written by this renderer, so replacing it never deletes anything else.
REPORT_MARKER = ".awareness-analysis-report"
CELL_TIMEOUT_S = 600
#: The notebook whose page opens the report's index (the headline), instead of a page.
SUMMARY_NOTEBOOK = "00_summary"
#: Notebook metadata key of the project's settings: ``{"report": false}`` keeps a notebook
#: (and its figures) out of shared reports.
NOTEBOOK_METADATA_KEY = "awareness-analysis"
#: Cell tag for notebook cells that a shared report leaves out (they still run).
ANALYST_ONLY_TAG = "analyst-only"


class ReportError(AwarenessAnalysisError):
    """A report could not be rendered; the message names the notebook, cell and error."""


def default_notebook_dir() -> Path:
    """The notebooks shipped inside the installed package (``awareness_analysis/notebooks``).

    Never the working directory: a ``pip install`` outside the clone renders the same reports.
    """
    return Path(str(resources.files("awareness_analysis").joinpath("notebooks")))


def copy_notebooks(out: str | os.PathLike[str], *, force: bool = False) -> list[Path]:
    """Copy the packaged notebooks into ``out`` (created if missing) for editing.

    Refuses, before writing anything, to overwrite a file of the same name unless ``force``.
    Returns the written files. Render edited copies with ``render_reports(..., notebooks=out)``.
    """
    sources = sorted(default_notebook_dir().glob("*.ipynb"))
    if not sources:
        raise ReportError(f"No notebooks found in the package at {default_notebook_dir()}.")
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ValueError(f"--out {target} is a file; give a folder for the notebooks.")
    existing = [target / s.name for s in sources if (target / s.name).exists()]
    if existing and not force:
        more = f" (and {len(existing) - 1} more notebooks)" if len(existing) > 1 else ""
        raise ValueError(
            f"{existing[0]} already exists{more}; pass --force to overwrite, "
            "or choose another --out folder."
        )
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source in sources:
        destination = target / source.name
        # Copy beside the target, then rename: an interrupted copy never leaves half a notebook.
        partial = target / f".{source.name}.partial-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, destination)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        written.append(destination)
    return written


@dataclass(frozen=True)
class ReportParameters:
    """What every notebook of one report run is told, and what the footer records."""

    store: Path
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE
    pseudonymise: bool = False
    campaign_ids: tuple[str, ...] = field(default_factory=tuple)
    include_people: bool = False
    #: The HR join (``--people``): file, key column, grouping column, which department wins.
    people_file: Path | None = None
    people_key: str = DEFAULT_PEOPLE_KEY
    group_by: str = DEFAULT_GROUP_BY
    department_from: str = DEFAULT_DEPARTMENT_FROM

    def people_options(self) -> dict[str, Any]:
        """The people file options as ``open_analysis`` (and the notebooks) take them."""
        return {
            "people_file": None if self.people_file is None else str(self.people_file),
            "people_key": self.people_key,
            "group_by": self.group_by,
            "department_from": self.department_from,
        }

    def notebook_values(self, context: Path | None = None) -> dict[str, Any]:
        """The notebook parameters; ``context``: the report context file (plan and log)."""
        return {
            "store_path": str(self.store),
            "min_group_size": self.min_group_size,
            "pseudonymise": self.pseudonymise,
            "campaign_ids": list(self.campaign_ids),
            "report": str(context) if context is not None else True,
            **self.people_options(),
        }


def _check(parameters: ReportParameters) -> Snapshot:
    if parameters.min_group_size < 0:
        raise ValueError(f"--min-group-size must be 0 or more (got {parameters.min_group_size}).")
    if parameters.pseudonymise and parameters.min_group_size < 2:
        raise ValueError(
            "--pseudonymise needs small-group suppression: use --min-group-size 2 or more "
            f"(default {DEFAULT_MIN_GROUP_SIZE})."
        )
    snapshot = SnapshotStore(parameters.store).load()
    known = set(snapshot.frames.campaigns["campaign_id"].astype(str))
    unknown = [c for c in parameters.campaign_ids if c not in known]
    if unknown:
        raise ValueError(
            f"Unknown campaign id(s) {', '.join(unknown)} in store {parameters.store}; "
            "list them with `awareness-analysis export --store STORE --table campaigns`."
        )
    return snapshot


def _inject_parameters(notebook: nbformat.NotebookNode, values: dict[str, Any]) -> int:
    """Add a cell setting ``values`` right after the cell tagged ``parameters``."""
    for index, cell in enumerate(notebook.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
            injected = nbformat.v4.new_code_cell(source)
            injected.metadata["tags"] = ["injected-parameters"]
            notebook.cells.insert(index + 1, injected)
            return index + 1
    raise ReportError("the notebook has no cell tagged 'parameters'; add one (see README).")


def _quiet_kernel_client_logs() -> None:
    # jupyter_client warns about zmq context teardown after every kernel; failures still raise.
    logging.getLogger("traitlets").setLevel(logging.ERROR)


def _workers() -> int:
    """Notebooks run at once: one per core, at most 4 (each is a kernel process, mostly one
    busy thread; more than the cores only makes them wait for each other)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


def _execute_all(
    loaded: Sequence[tuple[Path, nbformat.NotebookNode]],
    workdir: Path,
    bar: tqdm,
    exporter: HTMLExporter,
) -> list[str]:
    """Run every notebook (side by side, :func:`_workers` at a time) and export each one's
    HTML body, in the notebooks' order. The first failure stops the rest and is raised."""

    def run(index: int, path: Path, notebook: nbformat.NotebookNode) -> str:
        # A short folder per kernel: its IPC socket paths must stay under the OS's ~107 bytes.
        folder = workdir / f"nb{index}"
        folder.mkdir(exist_ok=True)
        _execute(notebook, path.name, folder, bar)
        return str(exporter.from_notebook_node(notebook)[0])

    with ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="notebook") as pool:
        futures = [pool.submit(run, i, path, nb) for i, (path, nb) in enumerate(loaded)]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _execute(notebook: nbformat.NotebookNode, name: str, workdir: Path, bar: tqdm) -> None:
    # Only the native kernel spec: this interpreter, where the package is installed, whatever
    # other "python3" kernels the user has registered.
    specs = KernelSpecManager()
    specs.kernel_dirs = []
    # IPC sockets in the work folder for the kernel's channels (ipykernel still binds one
    # internal pipe on 127.0.0.1: loopback only).
    manager = KernelManager(
        kernel_name="python3",
        kernel_spec_manager=specs,
        transport="ipc",
        ip=str(workdir / "kernel"),
    )
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            bar.set_postfix_str(f"{name} cell {index + 1}/{len(notebook.cells)}")
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                ename = str(getattr(exc, "ename", "") or type(exc).__name__)
                evalue = str(getattr(exc, "evalue", "") or "")
                if ename == "NoneType":
                    # An error raised while displaying a result arrives unnamed; the last
                    # line of the kernel's traceback names it.
                    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # no terminal colours
                    lines = [line for line in plain.splitlines() if line.strip()]
                    ename, evalue = "error while displaying", lines[-1] if lines else ""
                raise ReportError(
                    f"notebook {name} failed at cell {index + 1} "
                    f"({_first_line(cell.source)!r}): {ename}: {evalue}"
                ) from None
            if cell.cell_type == "code":
                # Warnings and logs are for the analyst, not the shared page.
                cell.outputs = [
                    o
                    for o in cell.outputs
                    if not (o.output_type == "stream" and o.name == "stderr")
                ]
            bar.update(1)
    # Cells for the analyst at the notebook (how to continue in pandas) run, since later
    # cells may use them, but are not part of the shared page.
    notebook.cells = [
        c for c in notebook.cells if ANALYST_ONLY_TAG not in c.metadata.get("tags", ())
    ]


def in_reports(notebook: nbformat.NotebookNode) -> bool:
    """False for a notebook marked ``{"awareness-analysis": {"report": false}}``."""
    settings = notebook.metadata.get(NOTEBOOK_METADATA_KEY, {})
    return not (isinstance(settings, dict) and settings.get("report") is False)


def _first_line(source: str) -> str:
    line = source.strip().splitlines()[0] if source.strip() else ""
    return line[:60]


def _title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;
background:#fafafa;line-height:1.45}
main,header,footer{max-width:1100px;margin:0 auto;padding:0 24px}
header{padding-top:16px}
header nav a{color:#0072B2}
.aa-personal-data{background:#fdecea;border-left:4px solid #D55E00;padding:8px 12px}
img{max-width:100%;height:auto}
figure.aa-chart{margin:8px 0}
figure.aa-chart svg{display:block;max-width:100%;height:auto}
h1{font-size:1.7em;margin:.6em 0 .3em}
h2{font-size:1.3em;margin:1.4em 0 .4em}
.aa-interactive{margin-top:24px;color:#444}
.aa-pages li{margin:4px 0}
table{border-collapse:collapse;font-size:.85em;margin:8px 0;display:block;overflow-x:auto;
max-width:100%}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f0f0f0}
pre,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
pre{white-space:pre-wrap;font-size:.85em;color:#555}
code{font-size:.95em}
.aa-views{margin:12px 0;padding:8px;background:#fff;border:1px solid #e3e3e3;border-radius:6px}
.aa-views label{font-weight:600;margin-right:8px}
.aa-views select{font-size:1em;margin-left:6px;max-width:100%}
.aa-provenance{margin-top:32px;padding:12px 24px;border-top:1px solid #ddd;font-size:.85em;
color:#555}
.aa-provenance summary{cursor:pointer;font-weight:600}
.aa-provenance dd{word-break:break-all}
.aa-provenance dt{font-weight:600;float:left;clear:left;width:190px}
.aa-provenance dd{margin-left:200px}
a.anchor-link{display:none}
"""

# Shows the chosen pre-rendered view; inline, so the page fetches nothing.
_SCRIPT = """
document.querySelectorAll('.aa-views').forEach(function (block) {
  var select = block.querySelector('.aa-view-select');
  if (!select) { return; }
  select.addEventListener('change', function () {
    block.querySelectorAll('.aa-view').forEach(function (view) {
      view.hidden = view.getAttribute('data-view') !== select.value;
    });
  });
});
"""


#: The one line at the bottom of every page that points to the interactive notebooks.
INTERACTIVE_NOTE = (
    "Interactive version: the same charts with free filtering, search, other metrics and CSV "
    "exports are in the project's notebooks (<code>make lab</code>)."
)


def _provenance_html(provenance: dict[str, str]) -> str:
    rows = "".join(
        f"<dt>{html.escape(key)}</dt><dd>{html.escape(value)}</dd>"
        for key, value in provenance.items()
    )
    # Technical details for whoever must reproduce a figure; folded so readers see the
    # summary line (snapshot date and suppression) and not a 64-character hash.
    line = (
        f"Data fetched {html.escape(provenance.get('snapshot fetched at', '')[:10])}; "
        f"{html.escape(provenance.get('suppression', ''))}; "
        f"{html.escape(provenance.get('package version', ''))}."
    )
    return (
        f'<footer class="aa-provenance"><p class="aa-interactive">{INTERACTIVE_NOTE}</p>'
        f"<details><summary>Provenance: {line}</summary><dl>{rows}</dl></details></footer>"
    )


def _page(
    title: str,
    body: str,
    provenance: dict[str, str],
    *,
    index: bool = False,
    personal: bool = False,
) -> str:
    nav = "" if index else '<nav><a href="index.html">&larr; Summary and all pages</a></nav>'
    note = ""
    if personal:
        note = (
            '<p class="aa-personal-data"><b>This report holds personal data</b>: it was made '
            "with <code>--include-people</code> and lists people one by one. Share it only "
            "with those entitled to see it.</p>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(_SCRIPT)}">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header>{nav}{note}</header><main>{body}</main>"
        f"{_provenance_html(provenance)}<script>{_SCRIPT}</script></body></html>\n"
    )


def script_hash(source: str) -> str:
    """The CSP source expression (``'sha256-<base64>'``) that allows exactly one inline
    ``<script>`` whose text, between the tags, is ``source``."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(*scripts: str) -> str:
    """A page's Content-Security-Policy: nothing loads from anywhere (pages work offline and
    phone nowhere), images only from ``data:`` URLs, inline styles, and only the inline
    scripts given, by hash.

    Only the renderer's own script is hashed, never one found in a notebook's output: tenant
    text is escaped, and should anything slip through as a ``<script>`` or an inline event
    handler (``onerror=``), the browser refuses to run it, where ``'unsafe-inline'`` would
    run it. ``base-uri`` and ``form-action`` are not covered by ``default-src``: an injected
    ``<base>`` or ``<form>`` could otherwise redirect links or submit elsewhere.
    """
    hashes = " ".join(script_hash(source) for source in scripts)
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src {hashes}; base-uri 'none'; form-action 'none'"
    )


def _provenance(
    parameters: ReportParameters, snapshot: Snapshot, generated_at: datetime
) -> dict[str, str]:
    manifest = snapshot.manifest
    k = parameters.min_group_size
    return {
        "package version": f"awareness-analysis {__version__}",
        "generated at": generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "snapshot": snapshot.snapshot_id,
        "snapshot fetched at": str(manifest.get("fetched_at", "")),
        "API host": str(manifest.get("api_host", "")),
        "data content hash": str(manifest.get("content_hash", "")),
        "campaigns": ", ".join(parameters.campaign_ids) or "all",
        "suppression": (
            f"groups under {k} people hidden (minimum group size {k})" if k > 1 else "off"
        ),
        "pseudonymisation": "on (emails and names replaced)" if parameters.pseudonymise else "off",
        "parameters": (
            f"--min-group-size {k}"
            + (" --pseudonymise" if parameters.pseudonymise else "")
            + "".join(f" --campaign {c}" for c in parameters.campaign_ids)
            # The file's name only: its folder may name a person or a private share.
            + (
                f" --people {parameters.people_file.name} --people-key {parameters.people_key}"
                f" --group-by {parameters.group_by}"
                f" --department-from {parameters.department_from}"
                if parameters.people_file is not None
                else ""
            )
        ),
    }


def _replace_folder(staged: Path, out: Path) -> None:
    """Swap ``staged`` in as ``out``; an existing ``out`` must be an earlier report."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(old)
        staged.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(out)


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the reports.")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_MARKER).exists():
        raise ValueError(
            f"--out {out} holds files that are not an earlier report; choose an empty or new "
            "folder (reports replace the whole folder)."
        )
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: folder {out.parent} does not exist; create it first.")


def render_reports(
    store: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    pseudonymise: bool = False,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    campaign_ids: Sequence[str] = (),
    notebooks: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    include_people: bool = False,
    raw: bool = False,
    people_file: str | os.PathLike[str] | None = None,
    people_key: str = DEFAULT_PEOPLE_KEY,
    group_by: str = DEFAULT_GROUP_BY,
    department_from: str = DEFAULT_DEPARTMENT_FROM,
) -> list[Path]:
    """Execute every notebook with report parameters and write HTML pages plus ``index.html``.

    One disclosure plan covers every page and view (:func:`plan_report`); what the pages
    publish is logged, written to ``figures.csv`` and audited before the folder is swapped in
    (``audit.txt`` holds the one-line summary). Returns the written pages, index first.
    Raises :class:`ReportError` naming the notebook, cell and error when a notebook fails, or
    the determined group when the audit fails; the output folder is then left as it was.
    Per-person rows are published only with ``include_people``. Text cells of ``figures.csv``
    that a spreadsheet would run as formulas (a campaign or department named ``=HYPERLINK(...)``)
    get a leading apostrophe unless ``raw``; its numbers are written as numbers either way.
    ``people_file`` (with ``people_key``, ``group_by``, ``department_from``): the analyst's HR
    export, read locally; its grouping column replaces the department on every page (see
    :func:`~awareness_analysis.analysis.session.open_analysis`). Only those group labels and
    the join's counts reach the pages; no other column of the file does.
    """
    parameters = ReportParameters(
        store=Path(store).resolve(),
        min_group_size=min_group_size,
        pseudonymise=pseudonymise,
        campaign_ids=tuple(dict.fromkeys(campaign_ids)),
        include_people=include_people,
        people_file=None if people_file is None else Path(people_file).expanduser().resolve(),
        people_key=people_key,
        group_by=group_by,
        department_from=department_from,
    )
    snapshot = _check(parameters)
    out_dir = Path(out).resolve()
    _check_out_dir(out_dir)
    notebook_dir = Path(notebooks) if notebooks is not None else default_notebook_dir()
    paths = sorted(notebook_dir.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"No notebooks (*.ipynb) in {notebook_dir}; give --notebooks DIR.")

    _quiet_kernel_client_logs()
    generated_at = datetime.now(UTC)
    provenance = _provenance(parameters, snapshot, generated_at)
    staged = out_dir.with_name(f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}")
    staged.mkdir()
    exporter = HTMLExporter(
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    try:
        workdir = staged / ".work"
        workdir.mkdir()
        analysis, plan, links = plan_report(parameters)
        people, planned_people = analysis.people_join, None
        if people is not None:
            provenance["people file"] = people.counts_text()  # counts: no one is named
            # Every notebook groups people as the plan did, from the very same file.
            planned_people = {**parameters.people_options(), "sha256": people.sha256}
        log = workdir / "figures.jsonl"
        loaded = [(p, nbformat.read(p, as_version=4)) for p in paths]
        # A notebook whose figures the disclosure plan does not cover yet stays out of shared
        # reports (it says so in its metadata) rather than publishing unaudited figures.
        loaded = [(p, nb) for p, nb in loaded if in_reports(nb)]
        for path, notebook in loaded:
            # One log per notebook: notebooks run side by side, and the audit reads the logs
            # joined in notebook order.
            context = ReportContext(
                plan,
                path.stem,
                str(workdir / f"figures-{path.stem}.jsonl"),
                parameters.include_people,
                people=planned_people,
            )
            context_file = workdir / f"context-{path.stem}.json"
            context_file.write_text(context.to_json(), encoding="utf-8")
            _inject_parameters(notebook, parameters.notebook_values(context_file))
        pages: list[tuple[str, str]] = []
        total_cells = sum(len(nb.cells) for _, nb in loaded)
        with tqdm(
            total=total_cells,
            unit="cell",
            desc="Rendering reports",
            disable=None if progress is None else not progress,
        ) as bar:
            summary_body = ""
            bodies = _execute_all(loaded, workdir, bar, exporter)
            with log.open("w", encoding="utf-8") as joined:
                for path, _ in loaded:
                    part = workdir / f"figures-{path.stem}.jsonl"
                    if part.exists():
                        joined.write(part.read_text(encoding="utf-8"))
            for (path, notebook), body in zip(loaded, bodies, strict=True):
                if path.stem == SUMMARY_NOTEBOOK:
                    summary_body = body  # the index opens with it
                    continue
                title = _title(notebook, path.stem)
                (staged / f"{path.stem}.html").write_text(
                    _page(title, body, provenance, personal=parameters.include_people),
                    encoding="utf-8",
                )
                pages.append((path.stem, title))
        summary = _audit_published(analysis, plan, log, staged / FIGURES_FILE, links, raw=raw)
        (staged / AUDIT_FILE).write_text(summary + "\n", encoding="utf-8")
        shutil.rmtree(workdir)
        links = "".join(
            f'<li><a href="{html.escape(stem)}.html">{html.escape(title)}</a></li>'
            for stem, title in pages
        )
        index_body = (
            (summary_body or "<h1>Awareness Training reports</h1>")
            + f'<h2>Detailed pages</h2><ul class="aa-pages">{links}</ul>'
            f'<p><small><a href="{FIGURES_FILE}">{FIGURES_FILE}</a>: every figure these '
            f"pages publish, one row each. {html.escape(summary)}</small></p>"
        )
        (staged / "index.html").write_text(
            _page(
                "Awareness Training reports",
                index_body,
                provenance,
                index=True,
                personal=parameters.include_people,
            ),
            encoding="utf-8",
        )
        (staged / REPORT_MARKER).write_text(f"awareness-analysis {__version__}\n")
        _replace_folder(staged, out_dir)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return [out_dir / "index.html", *(out_dir / f"{stem}.html" for stem, _ in pages)]


def report_publications(analysis: Analysis) -> list[Publication]:
    """Every table a report of ``analysis`` can publish: each dashboard's report views (every
    metric of the department comparison, whichever the notebooks pick), the tables and the
    summary."""
    publications: list[Publication] = []
    kinds: list[tuple[type[Dashboard], tuple[str, ...]]] = [
        (CampaignOverview, ("campaign_rates",)),
        (QuestionAccuracy, ("question_accuracy",)),
        (DepartmentComparison, tuple(f"departments:{m}" for m in DEPARTMENT_METRICS)),
    ]
    for dashboard, published in kinds:
        for _, _, selection in dashboard(analysis, autodraw=False).report_views():
            publications += [Publication(kind, selection) for kind in published]
    # The summary's own selections (e.g. departments over the completed campaigns only).
    publications += summary_publications(analysis)
    # The trends page's (campaigns a trend is fitted on; those repeat non-completers count).
    publications += trend_publications(analysis)
    return list(dict.fromkeys(publications))


def plan_report(
    parameters: ReportParameters,
) -> tuple[Analysis, DisclosurePlan, BehaviourFigures | None]:
    """The analysis a report run covers (campaigns under k people left out), its plan, and
    the knowledge-and-behaviour figures it covers with the tables (None without phishing
    tables in the snapshot)."""
    k = parameters.min_group_size
    people = parameters.people_options()
    if parameters.people_file is not None:
        # Read once for both openings below (and validated before any notebook runs).
        people["people_file"] = read_people_file(parameters.people_file, key=parameters.people_key)
    analysis = open_analysis(
        parameters.store, min_group_size=k, campaign_ids=parameters.campaign_ids, **people
    )
    dropped = dropped_campaigns(analysis.engine, k)
    if dropped:
        kept = [c for c in analysis.campaign_names if c not in dropped]
        if not kept:
            raise ReportError(
                f"Every campaign reached fewer than {k} people: a shared report would show "
                "individuals. Lower --min-group-size only for private use."
            )
        analysis = open_analysis(parameters.store, min_group_size=k, campaign_ids=kept, **people)
    links = behaviour_figures(analysis)
    plan, _ = plan_disclosure(analysis.engine, report_publications(analysis), k, links=links)
    return analysis, replace(plan, dropped_campaigns=dropped), links


def _figures_named(
    records: list[dict[str, Any]], cells: frozenset[Cell], names: Mapping[str, str]
) -> str:
    """'; it comes from: <page / view / chart / metric / campaign / department>, ...' for the
    published figures whose cells the first leak combines (at most three named)."""
    found = [r for r in records if not r["hidden"] and r["cell"] in cells]
    if not found:
        return ""
    described = sorted(
        {
            " / ".join(
                str(names.get(str(r.get(key)), r.get(key)))
                for key in ("page", "view", "chart", "metric", "campaign", "department")
            )
            + (f" / question {r['question']}" if r.get("question") not in (None, "") else "")
            for r in found
        }
    )
    more = f" and {len(described) - 3} more" if len(described) > 3 else ""
    return "; it comes from these figures: " + "; ".join(described[:3]) + more + "."


def _audit_published(
    analysis: Analysis,
    plan: DisclosurePlan,
    log: Path,
    figures_csv: Path,
    links: BehaviourFigures | None = None,
    *,
    raw: bool = False,
) -> str:
    """Audit what the pages logged; write ``figures.csv`` (formula-safe unless ``raw``); refuse
    a leaky report. Returns the audit's one-line summary."""
    records = read_published(str(log))
    shown = {r["cell"] for r in records if not r["hidden"] and r["cell"] is not None}
    hidden = {r["cell"] for r in records if r["hidden"] and r["cell"] is not None}
    result = audit(analysis.engine, shown, hidden, plan.k, links=links)
    if not result.passed:
        raise ReportError(
            "the disclosure audit found figures that together reveal a group under "
            f"{plan.k} people, so no report was written: {result.leaks[0]}"
            + (f" (and {len(result.leaks) - 1} more)" if len(result.leaks) > 1 else "")
            + _figures_named(records, result.leak_cells[0], analysis.campaign_names)
        )
    rows = [r for r in records if not r["hidden"]]
    frame = pd.DataFrame(rows, columns=list(FIGURE_COLUMNS))
    for column in ("rate", "ci_low", "ci_high"):
        frame[column] = frame[column].astype(float).round(4)
    # Counts stay integers where some rows have none (a ratio has no numerator).
    for column in ("numerator", "n", "people"):
        frame[column] = frame[column].astype("Int64")
    # Campaign, department and view names are tenant text; the counts and rates keep their
    # numeric columns, so a negative difference stays a number, never text with an apostrophe.
    write_csv(frame, figures_csv, raw=raw)
    return result.summary(figures=len(rows))
