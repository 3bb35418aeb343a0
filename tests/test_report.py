"""Shared HTML reports: offline, code hidden, views pre-rendered, provenance, privacy, safety."""

from __future__ import annotations

import csv
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from awareness_analysis.cli import main
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.views.report import (
    NOTEBOOK_METADATA_KEY,
    REPORT_MARKER,
    SUMMARY_NOTEBOOK,
    ReportError,
    ReportParameters,
    in_reports,
    render_reports,
)
from awareness_analysis.vocabulary import SUPPRESSED_LABEL

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


# Every notebook is a page, except the summary, which opens the index, and notebooks kept out
# of shared reports.
STEMS = [
    p.stem
    for p in sorted(NOTEBOOKS.glob("*.ipynb"))
    if p.stem != SUMMARY_NOTEBOOK and in_reports(nbformat.read(p, as_version=4))
]
TINY_DEPARTMENT = "Board Secretariat"  # 3 people in the demo organisation


@pytest.fixture(scope="module")
def store() -> Path:
    # The session's demo store (built by the root conftest.py for the notebooks too).
    return Path(os.environ["AWARENESS_STORE"])


@pytest.fixture(scope="module")
def pseudonymised(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reports") / "pseudonymised"
    render_reports(store, out, pseudonymise=True, progress=False)
    return out


def pages(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.html"))}


def test_one_page_per_notebook_and_an_index(pseudonymised: Path) -> None:
    assert sorted(pages(pseudonymised)) == sorted(["index.html", *(f"{s}.html" for s in STEMS)])
    index = pages(pseudonymised)["index.html"]
    for stem in STEMS:
        assert f'href="{stem}.html"' in index
    assert not list(pseudonymised.parent.glob(".pseudonymised.*"))  # nothing staged left behind


def test_pages_are_self_contained_and_fetch_nothing(pseudonymised: Path) -> None:
    for name, text in pages(pseudonymised).items():
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), name
        assert not re.search(r"<link\b", text), name
        assert not re.search(r"<script[^>]*\bsrc=", text), name
        assert "@import" not in text and "url(http" not in text, name
        assert "Content-Security-Policy" in text, name
        images = re.findall(r'<img [^>]*src="([^"]{0,30})', text)
        assert all(src.startswith("data:image/") for src in images), name
        # Inline SVG charts link only to their own ids.
        links = re.findall(r'xlink:href="([^"]*)"', text)
        assert all(link.startswith("#") for link in links), name


def test_code_is_hidden_but_charts_tables_and_definitions_show(pseudonymised: Path) -> None:
    texts = pages(pseudonymised)
    for stem in STEMS:
        text = texts[f"{stem}.html"]
        assert "load_analysis" not in text and "import " not in text
        assert "Continue in pandas" not in text  # analyst-only cells stay in the notebook
    overview = texts["01_campaign_overview.html"]
    assert overview.count('class="aa-chart"') >= 10
    assert "Acknowledgement rate = enrolments acknowledged / enrolments sent" in overview
    assert "<table" in overview  # the campaigns table
    accuracy = texts["02_question_accuracy.html"]
    assert "Hardest questions" in accuracy and "never" in accuracy  # SENT is never wrong
    assert "Benjamini-Hochberg" in texts["03_department_comparison.html"]


def test_views_switch_campaigns_and_departments(pseudonymised: Path) -> None:
    text = pages(pseudonymised)["01_campaign_overview.html"]
    blocks = re.findall(r'<div class="aa-views">(.*?)</div></div>(?=<|$)', text, re.S)
    assert blocks
    selects = re.findall(r'<select class="aa-view-select">(.*?)</select>', text, re.S)
    options = re.findall(r'<option value="(v\d+)">([^<]*)</option>', selects[0])
    panels = re.findall(r'<div class="aa-view" data-view="(v\d+)"( hidden(?:="")?)?>', text)
    first_block_panels = panels[: len(options)]
    assert [p[0] for p in first_block_panels] == [o[0] for o in options]
    assert [bool(p[1]) for p in first_block_panels] == [False] + [True] * (len(options) - 1)
    labels = [label for _, label in options]
    assert "Phishing Basics - All Staff" in labels and "Customer Service" in labels
    assert 'optgroup label="Campaign"' in selects[0] and 'optgroup label="Department"' in selects[0]
    # No banner on top; one line at the bottom says the notebooks offer more.
    assert "make lab" in text.split("<footer", 1)[1] and "make lab" not in text.split("<main", 1)[0]


def test_provenance_footer_on_every_page(pseudonymised: Path, store: Path) -> None:
    manifest = SnapshotStore(store).load().manifest
    for name, text in pages(pseudonymised).items():
        footer = text[text.index('<footer class="aa-provenance">') :]
        for expected in (
            manifest["content_hash"],
            manifest["fetched_at"],
            manifest["snapshot_id"],
            "awareness-analysis ",
            "generated at",
            "minimum group size 5",
            "pseudonymisation</dt><dd>on",
            "--min-group-size 5 --pseudonymise",
        ):
            assert expected in footer, (name, expected)
        # Above the footer, no hash: the technical details are folded at the bottom.
        assert manifest["content_hash"] not in text[: text.index('<footer class="aa-provenance">')]


def test_pseudonymised_reports_hold_no_email_or_name_and_no_small_group(
    pseudonymised: Path, store: Path
) -> None:
    users = SnapshotStore(store).load().frames.users
    emails = set(users["email"])
    names = {n for n in users["name"] if n}
    assert len(emails) > 2000 and len(names) > 1000
    for name, text in pages(pseudonymised).items():
        lowered = text.lower()
        assert not [e for e in emails if e.lower() in lowered], name
        assert not [n for n in names if n in text], name
        assert TINY_DEPARTMENT not in text, name
    explorer = pages(pseudonymised)["04_user_explorer.html"]
    # People-free by default: no per-person rows, not even pseudonymised ones.
    assert "user-" not in explorer and "person-" not in explorer
    assert "Per-person rows are left out of shared reports" in explorer
    assert "personal data" not in pages(pseudonymised)["01_campaign_overview.html"]


class _ReaderText(HTMLParser):
    """Text nodes and the attributes a reader sees (tooltips, alt text, labels), outside
    scripts and styles."""

    SEEN_ATTRIBUTES = ("title", "alt", "aria-label", "label")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [v for k, v in attrs if k in self.SEEN_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    """What a reader sees: text and visible attributes, without scripts and styles."""
    parser = _ReaderText()
    parser.feed(page)
    parser.close()
    return " ".join(parser.parts)


def test_campaign_parameter_limits_the_whole_report(store: Path, tmp_path: Path) -> None:
    campaigns = SnapshotStore(store).load().frames.campaigns
    chosen = str(campaigns["campaign_id"].iloc[2])
    name = str(campaigns["campaign_name"].iloc[2])
    others = [str(n) for n in campaigns["campaign_name"] if str(n) != name]
    out = tmp_path / "out"
    args = ["report", "--store", str(store), "--out", str(out), "--campaign", chosen]
    assert main([*args, "--no-progress"]) == 0
    texts = pages(out)
    assert "index.html" in texts  # the summary opens it
    for page, text in texts.items():
        seen = visible_text(text)
        assert not [other for other in others if other in seen], page
        # The explorer's report page is people-free by default: it names no campaign at all.
        assert name in seen or page == "04_user_explorer.html", page
        assert f"--campaign {chosen}" in text, page
    overview = texts["01_campaign_overview.html"]
    (select,) = re.findall(r'<select class="aa-view-select">(.*?)</select>', overview, re.S)
    campaign_group = re.search(r'<optgroup label="Campaign">(.*?)</optgroup>', select, re.S)
    assert campaign_group is not None
    assert re.findall(r">([^<]+)</option>", campaign_group.group(1)) == [name]
    # figures.csv: every published figure is of this campaign, or the whole (one-campaign) view;
    # the knowledge-and-behaviour page names phishing campaigns (its knowledge from this one).
    with (out / "figures.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    behaviour = "05_knowledge_and_behaviour"
    campaigns_published = {row["campaign"] for row in rows if row["page"] != behaviour}
    assert campaigns_published <= {name, "all", SUPPRESSED_LABEL}
    phishing = set(SnapshotStore(store).load().tables["phish_campaigns"]["phish_campaign_name"])
    assert {row["campaign"] for row in rows if row["page"] == behaviour} <= phishing | {"all"}


def broken_notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "broken-notebooks"
    folder.mkdir()
    notebook = nbformat.read(NOTEBOOKS / "01_campaign_overview.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom in the report')"))
    nbformat.write(notebook, folder / "01_campaign_overview.ipynb")
    return folder


def test_failing_notebook_names_itself_and_keeps_previous_reports(
    store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    (out / REPORT_MARKER).write_text("earlier\n")
    (out / "index.html").write_text("earlier report")
    with pytest.raises(ReportError) as info:
        render_reports(store, out, notebooks=broken_notebooks(tmp_path), progress=False)
    message = str(info.value)
    assert "01_campaign_overview.ipynb" in message
    assert re.search(r"cell \d+", message) and "RuntimeError: boom in the report" in message
    assert (out / "index.html").read_text() == "earlier report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken-notebooks", "reports"]


def test_an_error_while_displaying_a_result_is_named(store: Path, tmp_path: Path) -> None:
    """A view that fails while it is displayed (not in the cell's code) reaches the kernel
    without an exception name; the message still says what went wrong."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = nbformat.read(NOTEBOOKS / "01_campaign_overview.ipynb", as_version=4)
    notebook.cells = [
        *notebook.cells[:3],
        nbformat.v4.new_code_cell(
            "class Failing:\n"
            "    def _ipython_display_(self):\n"
            "        raise ValueError('planted display failure')\n"
            "Failing()"
        ),
    ]
    nbformat.write(notebook, folder / "01_campaign_overview.ipynb")
    with pytest.raises(ReportError) as info:
        render_reports(store, tmp_path / "out", notebooks=folder, progress=False)
    message = str(info.value)
    assert "ValueError: planted display failure" in message and "NoneType" not in message
    assert "\x1b[" not in message


def test_refuses_to_replace_a_folder_that_is_not_a_report(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.docx").write_text("keep me")
    with pytest.raises(ValueError, match="not an earlier report"):
        render_reports(store, out, progress=False)
    assert (out / "thesis.docx").read_text() == "keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--pseudonymise", "--min-group-size", "0"],
            "--pseudonymise needs small-group suppression",
        ),
        # The old spelling is still accepted (same option).
        (["--anonymize", "--min-group-size", "1"], "--pseudonymise needs small-group suppression"),
        (["--campaign", "no-such-campaign"], "Unknown campaign id"),
        (["--min-group-size", "-3"], "must be 0 or more"),
    ],
)
def test_cli_refuses_bad_input(
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code = main(["report", "--store", str(store), "--out", str(tmp_path / "r"), *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_cli_failure_is_one_line_exit_1(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "report",
        "--store",
        str(store),
        "--out",
        str(tmp_path / "r"),
        "--no-progress",
        "--notebooks",
        str(broken_notebooks(tmp_path)),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "boom in the report" in err


def test_missing_store_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--store", str(tmp_path / "none"), "--out", str(tmp_path / "r")]) == 1
    assert "awareness-analysis demo" in capsys.readouterr().err


@pytest.fixture(scope="module")
def with_people(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("people")
    only = folder / "notebooks"
    only.mkdir()
    shutil.copy(NOTEBOOKS / "04_user_explorer.ipynb", only)
    out = folder / "out"
    render_reports(
        store, out, pseudonymise=True, include_people=True, notebooks=only, progress=False
    )
    return out


def test_people_rows_only_when_asked_and_ordered_by_pseudonym(
    with_people: Path, store: Path
) -> None:
    text = pages(with_people)["04_user_explorer.html"]
    assert "This report holds personal data" in text
    shown = re.findall(r"<td>(user-[0-9a-f]{12})</td>", text)
    assert len(shown) > 100 and shown[:200] == sorted(shown[:200])
    users = SnapshotStore(store).load().frames.users
    lowered = text.lower()
    assert not [e for e in set(users["email"]) if e.lower() in lowered]


def test_explorer_table_matches_the_frames(with_people: Path, store: Path) -> None:
    text = pages(with_people)["04_user_explorer.html"]
    users = SnapshotStore(store).load().frames.users
    people = users["email"].str.lower().nunique()
    assert f"{len(users):,} enrolments (campaign x person rows) of {people:,} people match" in text
    incorrect = users[users["outcome"] == "incorrect"]
    assert (
        f"{len(incorrect):,} enrolments (campaign x person rows) of "
        f"{incorrect['email'].str.lower().nunique():,} people match"
    ) in text


def test_notebooks_are_told_pseudonymise() -> None:
    values = ReportParameters(store=Path("store"), pseudonymise=True).notebook_values()
    assert values["pseudonymise"] is True
    assert ReportParameters(store=Path("store")).notebook_values()["pseudonymise"] is False


def test_a_notebook_marked_out_of_reports_is_not_rendered(store: Path, tmp_path: Path) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    source = nbformat.read(NOTEBOOKS / "01_campaign_overview.ipynb", as_version=4)
    nbformat.write(source, notebooks / "01_campaign_overview.ipynb")
    kept_out = nbformat.read(NOTEBOOKS / "01_campaign_overview.ipynb", as_version=4)
    kept_out.metadata[NOTEBOOK_METADATA_KEY] = {"report": False}
    kept_out.cells[2].source = "raise RuntimeError('a kept-out notebook was executed')"
    nbformat.write(kept_out, notebooks / "02_kept_out.ipynb")
    out = tmp_path / "reports"
    render_reports(store, out, notebooks=notebooks, progress=False)
    assert sorted(p.name for p in out.glob("*.html")) == ["01_campaign_overview.html", "index.html"]
    assert "02_kept_out" not in (out / "index.html").read_text(encoding="utf-8")
