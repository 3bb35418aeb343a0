"""The rendered HTML reports, opened from disk in a real browser with the network cut off.

A session fixture builds a demo store and runs ``awareness-analysis report`` once. Each page is
then opened from a ``file://`` URL with every request intercepted: anything that is not a local
file or a ``data:`` URL is recorded and aborted, and the tests require there was none (the pages
work offline and phone nowhere). The view switchers must show exactly one view at a time and
change the chart; no code input may show; each page carries a provenance footer.

Set ``AWARENESS_REPORT_DIR`` to an already rendered report folder to test that instead of
rendering one (quicker while working on the pages).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

NOTEBOOK_STEMS = (
    "01_campaign_overview",
    "02_question_accuracy",
    "03_department_comparison",
    "04_user_explorer",
)
#: Pages whose notebooks draw charts, so they must offer at least one view switcher.
CHART_STEMS = NOTEBOOK_STEMS[:3]
PAGES = ("index", *NOTEBOOK_STEMS)
CLI = Path(sys.prefix) / "bin" / "awareness-analysis"
RENDER_TIMEOUT = 600  # seconds for the CLI to execute and render all notebooks
LOCAL = ("file:", "data:")  # the only URLs a report page may load

#: Per block: the ``data-view`` of every visible view, and the drawn content of its charts
#: (inline SVG markup), or its text when it has no chart (a table view).
VISIBLE_VIEWS_JS = """block => [...block.querySelectorAll(':scope > .aa-view')]
    .filter(view => view.checkVisibility())
    .map(view => ({
        view: view.dataset.view,
        images: [...view.querySelectorAll('svg, img')].map(
            chart => chart.tagName === 'IMG' ? chart.src : chart.innerHTML),
        text: view.innerText,
    }))"""

#: Every visible piece of text on the page with the size it renders at, in CSS pixels: SVG
#: text at its font size times the chart's on-screen scale, HTML text at its computed size.
RENDERED_TEXT_SIZES_JS = """() => {
    const sizes = [];
    for (const text of document.querySelectorAll('svg text')) {
        if (!text.textContent.trim() || !text.checkVisibility()) continue;
        const matrix = text.getScreenCTM();
        const scale = Math.hypot(matrix.a, matrix.b);
        const px = parseFloat(getComputedStyle(text).fontSize) * scale;
        sizes.push({where: 'chart', text: text.textContent.trim().slice(0, 50), px});
    }
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode;
        const element = node.parentElement;
        if (!node.textContent.trim() || !element) continue;
        if (element.closest('svg, script, style')) continue;
        if (!element.checkVisibility()) continue;
        const px = parseFloat(getComputedStyle(element).fontSize);
        const where = element.tagName.toLowerCase();
        sizes.push({where, text: node.textContent.trim().slice(0, 50), px});
    }
    return sizes;
}"""
MIN_TEXT_PX = 11.0


@dataclass
class Report:
    folder: Path
    content_hash: str | None  # of the snapshot the pages were rendered from, when known

    def page(self, stem: str) -> Path:
        return self.folder / f"{stem}.html"


@pytest.fixture(scope="session")
def report(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The demo store rendered by ``awareness-analysis report`` (about 30 s), once a session."""
    given = os.environ.get("AWARENESS_REPORT_DIR")
    if given:
        return Report(Path(given).resolve(), None)
    from awareness_analysis.data.store import SnapshotStore

    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: install the project into this venv (make install)")
    help_run = subprocess.run(
        [str(CLI), "report", "--help"], capture_output=True, text=True, check=False
    )
    if help_run.returncode != 0:
        pytest.fail(f"`awareness-analysis report` is not available:\n{help_run.stderr}")
    out = tmp_path_factory.mktemp("browser-report") / "reports"
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    run = subprocess.run(
        [str(CLI), "report", "--store", str(demo_store), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=RENDER_TIMEOUT,
        check=False,
    )
    if run.returncode != 0:
        pytest.fail(f"awareness-analysis report failed ({run.returncode}):\n{run.stderr[-4000:]}")
    manifest = SnapshotStore(demo_store).manifests()[-1]
    return Report(out, manifest["content_hash"])


@dataclass
class Opened:
    page: object  # playwright Page
    outside: list[str] = field(default_factory=list)  # requests that would leave the machine
    errors: list[str] = field(default_factory=list)  # script errors and console errors


@pytest.fixture
def open_page(new_page) -> Iterator[object]:
    """Open a report page from disk with every non-local request recorded and aborted."""

    def open_(path: Path) -> Opened:
        assert path.is_file(), f"{path} is missing"
        page = new_page(viewport={"width": 1280, "height": 900})
        opened = Opened(page)

        def guard(route) -> None:
            if route.request.url.startswith(LOCAL):
                route.continue_()
            else:
                route.abort()  # recorded by the "request" listener below

        page.route("**/*", guard)
        page.on(
            "request",
            lambda request: (
                None if request.url.startswith(LOCAL) else opened.outside.append(request.url)
            ),
        )
        page.on("websocket", lambda ws: opened.outside.append(ws.url))
        page.on("pageerror", lambda exc: opened.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                opened.errors.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error"
                else None
            ),
        )
        page.goto(path.as_uri(), wait_until="load")
        return opened

    yield open_


@pytest.mark.parametrize("stem", PAGES)
def test_page_works_offline(report: Report, open_page, artifacts: Path, stem: str) -> None:
    opened = open_page(report.page(stem))
    page = opened.page
    page.wait_for_load_state("networkidle")
    broken = page.evaluate(
        "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.alt || i.src.slice(0, 60))"
    )
    page.screenshot(path=str(artifacts / f"report-{stem}.png"), full_page=True)
    assert not opened.outside, f"{stem}.html made network requests: {opened.outside}"
    assert not opened.errors, f"{stem}.html logged errors: {opened.errors}"
    assert not broken, f"{stem}.html has images that did not decode: {broken}"
    assert page.title().strip(), f"{stem}.html has no title"


def _local_links(page, folder: Path) -> dict[str, Path]:
    """Every link of the page, as written, and the local file it resolves to."""
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    raw = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    links = {}
    for written, absolute in zip(raw, hrefs, strict=True):
        if written.startswith("#"):
            continue
        url = urlparse(absolute)
        assert url.scheme == "file", f"link {written!r} leaves the report folder"
        links[written] = Path(unquote(url.path))
    return links


def test_index_links_every_notebook_page(report: Report, open_page) -> None:
    opened = open_page(report.page("index"))
    links = _local_links(opened.page, report.folder)
    targets = {path.resolve() for path in links.values()}
    for written, path in links.items():
        assert path.is_file(), f"index.html links {written!r}, which does not exist"
    for stem in NOTEBOOK_STEMS:
        assert report.page(stem).resolve() in targets, f"index.html does not link {stem}.html"


@pytest.mark.parametrize("stem", NOTEBOOK_STEMS)
def test_notebook_page_links_resolve(report: Report, open_page, stem: str) -> None:
    opened = open_page(report.page(stem))
    for written, path in _local_links(opened.page, report.folder).items():
        assert path.is_file(), f"{stem}.html links {written!r}, which does not exist"


@pytest.mark.parametrize("stem", NOTEBOOK_STEMS)
def test_view_switcher_shows_one_view_and_changes_the_chart(
    report: Report, open_page, stem: str
) -> None:
    opened = open_page(report.page(stem))
    page = opened.page
    blocks = page.locator(".aa-views:has(.aa-view-select)")
    if stem in CHART_STEMS:
        assert blocks.count() >= 1, f"{stem}.html has no view switcher"
    for index in range(blocks.count()):
        block = blocks.nth(index)
        select = block.locator(".aa-view-select")
        where = f"{stem}.html, switcher {index + 1}"
        values = select.evaluate("s => [...s.options].map(o => o.value)")
        assert len(values) >= 2, f"{where}: a switcher needs two views or more"

        shown = block.evaluate(VISIBLE_VIEWS_JS)
        assert [v["view"] for v in shown] == [select.input_value()], (
            f"{where}: before any choice, shows {[v['view'] for v in shown]}"
        )
        before = shown[0]
        other = next(v for v in values if v != before["view"])
        select.select_option(other)
        shown = block.evaluate(VISIBLE_VIEWS_JS)
        assert [v["view"] for v in shown] == [other], (
            f"{where}: choosing {other!r} shows {[v['view'] for v in shown]}"
        )
        after = shown[0]
        if before["images"] or after["images"]:
            assert after["images"] and after["images"][0] != before["images"][0], (
                f"{where}: the visible image did not change after choosing {other!r}"
            )
        else:
            assert after["text"] != before["text"], f"{where}: view {other!r} shows the same"

        # Every other choice also leaves exactly its own view visible.
        for value in values:
            select.select_option(value)
            visible = [v["view"] for v in block.evaluate(VISIBLE_VIEWS_JS)]
            assert visible == [value], f"{where}: choosing {value!r} shows {visible}"
    assert not opened.errors, f"{stem}.html logged errors: {opened.errors}"


#: Collects the page's Content-Security-Policy violations from now on (events, not just text).
WATCH_CSP_JS = """() => {
    window.aaViolations = [];
    document.addEventListener('securitypolicyviolation',
        e => window.aaViolations.push(`${e.effectiveDirective} ${e.blockedURI}`));
}"""


def test_csp_allows_the_view_script_by_hash_only(report: Report, open_page) -> None:
    opened = open_page(report.page("01_campaign_overview"))
    page = opened.page
    policy = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    directives = {d.split()[0]: d.split()[1:] for d in (policy or "").split(";") if d.strip()}
    script_src = directives.get("script-src", [])
    assert script_src and all(s.startswith("'sha256-") for s in script_src), policy
    page.evaluate(WATCH_CSP_JS)

    # The hashed script runs under the enforced policy: the View menu still switches.
    block = page.locator(".aa-views:has(.aa-view-select)").first
    select = block.locator(".aa-view-select")
    (before,) = block.evaluate(VISIBLE_VIEWS_JS)
    values = select.evaluate("s => [...s.options].map(o => o.value)")
    other = next(v for v in values if v != before["view"])
    select.select_option(other)
    (after,) = block.evaluate(VISIBLE_VIEWS_JS)
    assert after["view"] == other, f"choosing {other!r} shows {after['view']!r}"
    shown = (after["images"], after["text"])
    assert shown != (before["images"], before["text"]), "the visible content did not change"
    assert page.evaluate("() => window.aaViolations") == []
    assert not opened.errors, f"errors (a refused script is logged as one): {opened.errors}"

    # Enforced, not only written down: an injected inline handler is refused and reported.
    page.evaluate(
        """() => document.body.insertAdjacentHTML('beforeend',
            '<img src="data:," onerror="window.aaInjectedRan = true">')"""
    )
    page.wait_for_function("() => window.aaViolations.length > 0")
    assert page.evaluate("() => window.aaInjectedRan") is None
    assert any(v.startswith("script-src") for v in page.evaluate("() => window.aaViolations"))


@pytest.mark.parametrize("stem", NOTEBOOK_STEMS)
def test_no_code_is_shown(report: Report, open_page, stem: str) -> None:
    page = open_page(report.page(stem)).page
    for selector in (".jp-InputArea", ".jp-InputPrompt", ".input_area", ".input_prompt"):
        visible = page.locator(f"{selector} >> visible=true").count()
        assert visible == 0, f"{stem}.html shows {visible} code input(s) ({selector})"
    text = page.evaluate("() => document.body.innerText")
    assert "In [" not in text, f"{stem}.html shows input prompts"
    for code in ("import ", "load_analysis(", "store_path = "):
        assert code not in text, f"{stem}.html shows notebook code ({code!r})"


@pytest.mark.parametrize("stem", PAGES)
def test_provenance_footer(report: Report, open_page, stem: str) -> None:
    page = open_page(report.page(stem)).page
    footer = page.locator(".aa-provenance")
    assert footer.count() >= 1, f"{stem}.html has no provenance footer (.aa-provenance)"
    # Folded: a reader sees one line; the details open on a click.
    assert "Data fetched" in footer.first.inner_text()
    footer.first.locator("summary").click()
    text = footer.first.inner_text()
    assert "content hash" in text.lower() or "sha256:" in text, (
        f"{stem}.html: the provenance footer names no content hash: {text!r}"
    )
    if report.content_hash:
        assert report.content_hash in text, (
            f"{stem}.html: provenance does not name the store's {report.content_hash}"
        )


@pytest.mark.parametrize("stem", PAGES)
def test_no_text_renders_below_11px_at_1366_wide(report: Report, new_page, stem: str) -> None:
    page = new_page(viewport={"width": 1366, "height": 900})
    page.goto(report.page(stem).as_uri(), wait_until="load")
    checked = 0
    blocks = page.locator(".aa-views:has(.aa-view-select)")
    # The first view of each switcher, and one campaign and one department view.
    for index in range(max(1, blocks.count())):
        if blocks.count():
            select = blocks.nth(index).locator(".aa-view-select")
            values = select.evaluate("s => [...s.options].map(o => o.value)")
            choices = [values[0], values[1], values[-1]] if len(values) > 2 else values
        else:
            choices = [None]
        for value in choices:
            if value is not None:
                select.select_option(value)
            sizes = page.evaluate(RENDERED_TEXT_SIZES_JS)
            small = [s for s in sizes if s["px"] < MIN_TEXT_PX - 0.05]
            assert not small, f"{stem}.html (view {value}): text under 11 px: {small[:5]}"
            checked += len(sizes)
    assert checked > 0, f"{stem}.html: no text found to measure"
    if stem in CHART_STEMS:
        charts = page.locator("figure.aa-chart svg text").count()
        assert charts > 0, f"{stem}.html: no chart text (are charts inline SVG?)"


def test_index_opens_with_the_summary(report: Report, open_page, artifacts: Path) -> None:
    opened = open_page(report.page("index"))
    page = opened.page
    page.set_viewport_size({"width": 1366, "height": 900})
    summary = page.locator(".aa-summary").first
    assert summary.count() == 1, "index.html does not open with the summary"
    text = summary.inner_text()
    # Headline numbers with intervals, for the latest completed campaign.
    for word in ("Acknowledg", "Complet", "ccuracy", "Clean Desk Policy"):
        assert word in text, f"the summary does not mention {word!r}: {text[:400]!r}"
    assert text.count("%") >= 6, f"the summary shows few percentages: {text[:400]!r}"
    # The running campaign is marked as running, not failing.
    assert "Spot the Spoof - October" in text and "running" in text.lower()
    # Then the links to every detailed page.
    box = summary.bounding_box()
    assert box is not None and box["y"] < 400, "the summary is not at the top of index.html"
    links = _local_links(page, report.folder)
    for stem in NOTEBOOK_STEMS:
        assert f"{stem}.html" in links, f"index.html does not link {stem}.html"
    page.screenshot(path=str(artifacts / "report-summary.png"), full_page=True)
    assert not opened.errors, opened.errors
