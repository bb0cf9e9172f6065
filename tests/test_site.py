"""The built website as a reader sees it, in headless Chromium.

Needs ``_build/html`` (``make book-strict`` builds it first in ``make test``), Debian's
``chromium`` and npm's ``axe-core`` in ``node_modules/`` (``make browser`` installs both).
Every page is read offline, as the course promises: a request that leaves localhost is
refused and recorded, and the tests fail on it. Each page of the table of contents is
visited once, at 1280 px and then at phone width (390 px), with screenshots of both under
``_build/screenshots/``. At both widths, and once more in dark mode for colour contrast,
axe-core (injected from ``node_modules``, nothing downloaded) checks the page against
WCAG 2.2 A and AA and its best practices.
"""

import functools
import http.server
import json
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pytest
from notebook_checks import NOTEBOOKS, ROOT, code_cells, read, repository_url, toc_files

pytestmark = pytest.mark.site

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium flags that work on a machine without a display or a network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Every URL that does not go to the local server (data: URLs are never routed).
OUTSIDE = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])")
# Every page of the table of contents, as a path without suffix: book/intro, notebooks/...
PAGES = toc_files()
NOTEBOOK_PAGES = [f"notebooks/{path.stem}" for path in NOTEBOOKS]
# Pages whose every block, commands included, must fit the content column at 1280 px.
WHOLE_PAGE_FITS = {"book/intro", "book/setup"}
# Printed output that keeps its lines on a phone and scrolls sideways instead: tables drawn
# with box characters, in cells tagged box-table (book/_static/custom.css).
KEEPS_ITS_LINES = ".tag_box-table"
# The theme gives a block that scrolls a tab stop 300 ms after a resize (pydata-sphinx-theme's
# debounced addTabStopsToScrollableElements); axe reads the phone layout after that.
THEME_RESIZE_DEBOUNCE_MS = 300

# axe-core, the accessibility engine, from npm (package.json pins it; `make browser` runs
# npm ci). Every finding fails a test, serious and critical ones first; a finding that is
# the theme's and cannot be fixed here is excluded by rule and selector in AXE_EXCLUSIONS.
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious")


@dataclass(frozen=True)
class Exclusion:
    """One axe-core rule not checked on the elements that match one CSS selector."""

    rule: str
    selector: str
    reason: str
    upstream: str


# Empty: the theme's findings are fixed in book/_templates/ (the search and colour-mode
# buttons' names, label-content-name-mismatch; the sidebar's title outside a landmark,
# region) and docutils' and MyST-NB's in book/_ext/accessible_html.py (the bibliography's
# list, the hidden outputs' names, pandas' empty header cells). Add one only for markup
# the course cannot change, with the upstream issue that tracks it.
AXE_EXCLUSIONS: tuple[Exclusion, ...] = ()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url():
    if not (HTML / "index.html").is_file():
        pytest.fail("no _build/html/index.html: run `make book-strict` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is missing: `make browser` (or apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Reader:
    """One offline browser session: requests that leave localhost are refused and kept."""

    def __init__(self, browser, site_url: str):
        self.site_url = site_url
        self.outside: list[str] = []
        self.context = browser.new_context(viewport=DESKTOP)
        self.context.route(OUTSIDE, self._refuse)

    def _refuse(self, route):
        self.outside.append(route.request.url)
        route.abort()

    def open(self, url: str, lands_on: str | None = None):
        """The page at ``url`` (relative to the site), loaded and typeset, and its errors."""
        page = self.context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        response = page.goto(f"{self.site_url}/{url}", wait_until="load")
        assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
        if lands_on:
            page.wait_for_url(lands_on)
            page.wait_for_load_state("load")
        if page.locator(".math").count():
            # MathJax 3 typesets after loading; its startup promise settles when it is done.
            from playwright.sync_api import TimeoutError as PlaywrightTimeout

            try:
                page.wait_for_function("() => window.MathJax?.startup?.promise", timeout=10_000)
                typeset = page.evaluate("() => Promise.race([MathJax.startup.promise.then(() => true), "
                                        "new Promise(r => setTimeout(() => r(false), 20000))])")
                if not typeset:
                    errors.append("MathJax did not finish typesetting within 20 s")
            except PlaywrightTimeout:
                errors.append("MathJax did not load: the page's math stays raw TeX")
        return page, errors


@pytest.fixture(scope="module")
def reader(browser, site_url):
    reader = Reader(browser, site_url)
    yield reader
    reader.context.close()


# What a reader notices on a page, measured in the browser.
_IMAGES = """() => Array.from(document.querySelectorAll('article img')).map(i => ({
  src: i.getAttribute('src'), alt: i.getAttribute('alt') || '',
  output: !!i.closest('.cell_output'),
  numbered: !!i.closest('figure')?.querySelector('figcaption .caption-number'),
  caption: i.closest('figure')?.querySelector('figcaption .caption-text')?.innerText || '',
}))"""
_TOO_WIDE = """(selector) => Array.from(document.querySelectorAll(selector)).filter(e => {
  const column = e.closest('article').getBoundingClientRect();
  return e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > column.right + 1;
}).map(e => e.textContent.trim().split('\\n')[0].slice(0, 80))"""
_MATH = """() => {
  const maths = Array.from(document.querySelectorAll('article .math'));
  const clone = document.querySelector('article').cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, .math').forEach(e => e.remove());
  return {
    maths: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                    .map(m => m.textContent.slice(0, 60)),
    raw: clone.textContent.match(/\\\\[([][^]{0,40}/g) || [],
  };
}"""
_VISIBLE_SEARCH = """() => Array.from(document.querySelectorAll(
    '.search-button__button, .search-button-field, input[type=search]'))
  .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden').length"""
# After a resize the theme slides its sidebars away: wait for finite animations to end.
# Two frames, then every finite animation finished; given up after 5 s (page.evaluate has no
# timeout of its own: a promise that never settles would hang the whole suite).
_SETTLED = """() => Promise.race([
  new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))
    .then(() => Promise.all(document.getAnimations()
      .filter(a => a.effect?.getComputedTiming().iterations !== Infinity)
      .map(a => a.finished.catch(() => null)))),
  new Promise(r => setTimeout(r, 5000))])"""
_CITATIONS = """() => Array.from(document.querySelectorAll('.bibtex-citation a.reference.internal'))
  .map(a => [a.innerText.trim(), a.getAttribute('href').split('#')[1]])"""
# Figures (and any image) wider than the content column or outside it.
_FIGURES_OUTSIDE = """() => Array.from(document.querySelectorAll('article img')).filter(i => {
  const column = i.closest('article').getBoundingClientRect(), box = i.getBoundingClientRect();
  return box.width > 0 && (box.left < column.left - 1 || box.right > column.right + 1);
}).map(i => i.getAttribute('src'))"""
# The whole page scrolls sideways: something sticks out of the window, cut off on a phone.
_PAGE_WIDER_THAN_WINDOW = "() => document.scrollingElement.scrollWidth > window.innerWidth + 1"
# axe-core's violations, one per element, less the exclusions (each counted when it applies).
_AXE = """async ({rules, exclusions}) => {
  const options = {resultTypes: ['violations']};
  if (rules) options.runOnly = {type: 'rule', values: rules};
  const result = await Promise.race([axe.run(document, options), new Promise((_, fail) =>
    setTimeout(() => fail(new Error('axe-core did not finish within 60 s')), 60000))]);
  const findings = [], excluded = exclusions.map(() => 0);
  for (const violation of result.violations) {
    for (const node of violation.nodes) {
      const element = node.target.length === 1 ? document.querySelector(node.target[0]) : null;
      const index = exclusions.findIndex(([rule, selector]) =>
        rule === violation.id && element && element.matches(selector));
      if (index >= 0) { excluded[index] += 1; continue; }
      findings.push({rule: violation.id, impact: violation.impact, help: violation.help,
                     target: node.target.join(' '), html: node.html.slice(0, 160)});
    }
  }
  return {findings, excluded};
}"""
_DARK = """() => { document.documentElement.dataset.theme = 'dark';
                    document.documentElement.dataset.mode = 'dark'; }"""
_LIGHT = """() => { document.documentElement.dataset.theme = 'light';
                     document.documentElement.dataset.mode = 'light'; }"""


@dataclass
class Visit:
    """What one page showed, at 1280 px unless the name says otherwise."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    too_wide: list[str] = field(default_factory=list)
    too_wide_phone: list[str] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    search_boxes: int = 0
    search_boxes_phone: int = 0
    mode: str = ""
    print_buttons: int = 0
    citations: list[list[str]] = field(default_factory=list)
    figures_outside: list[str] = field(default_factory=list)
    figures_outside_phone: list[str] = field(default_factory=list)
    wider_than_window: bool = False
    wider_than_window_phone: bool = False
    # axe-core's findings at 1280 px, in dark mode (colour contrast only) and at 390 px
    axe: list[dict] = field(default_factory=list)
    axe_dark: list[dict] = field(default_factory=list)
    axe_phone: list[dict] = field(default_factory=list)
    # how many elements each of AXE_EXCLUSIONS spared, in order
    excluded: list[int] = field(default_factory=list)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail("axe-core is missing from node_modules: `make browser` (npm ci)")
    return AXE.read_text()


def _axe(page, visit: Visit, rules: list[str] | None = None) -> list[dict]:
    """axe-core's findings on the page as it is now, less AXE_EXCLUSIONS."""
    exclusions = [[e.rule, e.selector] for e in AXE_EXCLUSIONS]
    result = page.evaluate(_AXE, {"rules": rules, "exclusions": exclusions})
    visit.excluded = [a + b for a, b in zip(visit.excluded or [0] * len(exclusions), result["excluded"])]
    return result["findings"]


@pytest.fixture(scope="module")
def visits(reader, axe_source) -> dict[str, Visit]:
    """Every page of the table of contents, read once at each width."""
    result = {}
    for path in PAGES:
        before = len(reader.outside)
        page, errors = reader.open(f"{path}.html")
        visit = Visit(mode=page.evaluate("document.documentElement.dataset.mode"))
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_load_state("load")
        page.add_script_tag(content=axe_source)
        visit.axe = _axe(page, visit)
        # Dark mode: the same page in the theme's dark colours, checked for contrast.
        page.evaluate(_DARK)
        page.evaluate(_SETTLED)
        visit.axe_dark = _axe(page, visit, rules=["color-contrast"])
        page.evaluate(_LIGHT)
        page.evaluate(_SETTLED)
        visit.figures_outside = page.evaluate(_FIGURES_OUTSIDE)
        visit.wider_than_window = page.evaluate(_PAGE_WIDER_THAN_WINDOW)
        visit.images = page.evaluate(_IMAGES)
        # Every code and output block; on the setup page every block, its shell commands included.
        visit.too_wide = page.evaluate(_TOO_WIDE, "article pre" if path in WHOLE_PAGE_FITS
                                       else ".cell_output pre, .cell_input pre")
        visit.math = page.evaluate(_MATH)
        visit.search_boxes = page.evaluate(_VISIBLE_SEARCH)
        visit.print_buttons = page.locator("[onclick*='print'], .btn-download-pdf-button").count()
        visit.citations = page.evaluate(_CITATIONS)
        page.evaluate("window.scrollTo(0, 0)")
        _shot(page, f"{PurePosixPath(path).name}-1280")
        page.set_viewport_size(PHONE)
        page.evaluate(_SETTLED)
        page.wait_for_timeout(THEME_RESIZE_DEBOUNCE_MS + 100)
        # On a phone, printed text wraps; box-drawn tables and HTML outputs (pandas' tables)
        # scroll sideways inside the column, and axe checks that a keyboard reaches them.
        visit.too_wide_phone = page.evaluate(
            _TOO_WIDE, f".cell:not({KEEPS_ITS_LINES}) .cell_output :not(.text_html) > pre")
        visit.search_boxes_phone = page.evaluate(_VISIBLE_SEARCH)
        visit.figures_outside_phone = page.evaluate(_FIGURES_OUTSIDE)
        visit.wider_than_window_phone = page.evaluate(_PAGE_WIDER_THAN_WINDOW)
        visit.axe_phone = _axe(page, visit)
        _shot(page, f"{PurePosixPath(path).name}-390")
        page.close()
        visit.errors = errors
        visit.outside = reader.outside[before:]
        result[path] = visit
    return result


def _plain(text: str) -> str:
    """Undo Sphinx's typographic quotes, so titles compare with the notebook source."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


def _broken_images(page) -> list[str]:
    return page.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)"
    )


def _is_path(alt: str) -> bool:
    return bool(re.search(r"[/\\]|\.(png|jpe?g|svg|gif|webp)$", alt, re.IGNORECASE))


@pytest.mark.parametrize("path", PAGES)
def test_page_reads_cleanly_offline(visits, path):
    """No console error, no request off localhost, one search box, light mode, no print."""
    visit = visits[path]
    assert visit.errors == [], f"{path}: console errors {visit.errors}"
    assert visit.outside == [], f"{path}: requests that left localhost {visit.outside}"
    assert visit.mode == "light", f"{path}: theme mode {visit.mode!r} on a first visit"
    assert visit.search_boxes == 1 and visit.search_boxes_phone == 1, (
        f"{path}: {visit.search_boxes} search boxes at 1280 px, "
        f"{visit.search_boxes_phone} at 390 px")
    assert visit.print_buttons == 0, f"{path}: a 'PDF' button that only prints"
    assert (SHOTS / f"{PurePosixPath(path).name}-1280.png").is_file()
    assert (SHOTS / f"{PurePosixPath(path).name}-390.png").is_file()


@pytest.mark.parametrize("path", PAGES)
def test_math_is_typeset_offline(visits, path):
    math = visits[path].math
    assert math["untypeset"] == [], f"{path}: math MathJax did not typeset {math['untypeset']}"
    assert math["raw"] == [], f"{path}: raw TeX in the text {math['raw']}"


def test_chapters_with_math_are_typeset(visits):
    """The chapters whose formulas showed as raw TeX offline are typeset by the local MathJax."""
    for path in ["notebooks/02_layer_by_layer", "notebooks/03_lrn_vs_batchnorm",
                 "notebooks/04_augmentation"]:
        if path in visits:
            assert visits[path].math["maths"] > 0, f"{path}: no math on the page"


@pytest.mark.parametrize("path", PAGES)
def test_blocks_fit_the_content_column(visits, path):
    visit = visits[path]
    assert visit.too_wide == [], f"{path}: blocks wider than the column at 1280 px {visit.too_wide}"
    assert visit.too_wide_phone == [], (
        f"{path}: printed output wider than a 390 px phone {visit.too_wide_phone}")
    assert not visit.wider_than_window, f"{path}: the page scrolls sideways at 1280 px"
    assert not visit.wider_than_window_phone, f"{path}: the page scrolls sideways at 390 px"


@pytest.mark.parametrize("path", PAGES)
def test_figures_fit_the_content_column(visits, path):
    visit = visits[path]
    assert visit.figures_outside == [], f"{path}: images outside the column at 1280 px {visit.figures_outside}"
    assert visit.figures_outside_phone == [], (
        f"{path}: images outside the column at 390 px {visit.figures_outside_phone}")


def _axe_report(visit: Visit, impacts) -> list[str]:
    return [f"{where}: {f['impact']} {f['rule']} ({f['help']}) at {f['target']}: {f['html']}"
            for where, findings in (("1280 px", visit.axe), ("dark mode", visit.axe_dark),
                                    ("390 px", visit.axe_phone))
            for f in findings if f["impact"] in impacts]


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_no_serious_violation(visits, path):
    """axe-core: nothing serious or critical, at either width or in dark mode."""
    found = _axe_report(visits[path], BLOCKING)
    assert found == [], f"{path}: axe-core found\n" + "\n".join(found)


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_no_lesser_violation(visits, path):
    """axe-core: nothing moderate or minor either (the site has none; keep it so)."""
    found = _axe_report(visits[path], ("moderate", "minor"))
    assert found == [], f"{path}: axe-core found\n" + "\n".join(found)


def test_axe_exclusions_are_documented_and_used(visits):
    """Each exclusion says why, names its upstream issue, and still spares something."""
    for index, exclusion in enumerate(AXE_EXCLUSIONS):
        assert exclusion.reason and exclusion.upstream.startswith("https://"), exclusion
        used = sum(visit.excluded[index] for visit in visits.values() if visit.excluded)
        assert used > 0, f"{exclusion.rule} on {exclusion.selector}: excludes nothing any more"


# A Keras summary printed with Rich's terminal colours: a call of .summary() without print_fn
# in a cell, and in a stored output 256-colour escape codes or Rich's coloured HTML spans.
_COLOURED_SUMMARY_CALL = re.compile(r"\.summary\((?![^)]*print_fn)")
_COLOURED_OUTPUT = re.compile(r"\x1b\[38;5;\d+m|<span style=\"color: #")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_model_summaries_are_plain_text(path):
    """Keras' colours (#00d7ff on the light code background: contrast 1.56) do not read on
    the site: chapters print models.summary_text(model), the same table in plain text."""
    for cell in code_cells(read(path)):
        assert not _COLOURED_SUMMARY_CALL.search(cell.source), (
            f"{path.name}: prints a coloured Keras summary; use print(models.summary_text(model))"
            f"\n{cell.source}")
        for output in cell.get("outputs", []):
            text = output.get("text", "") + "".join(
                str(value) for value in output.get("data", {}).values())
            assert not _COLOURED_OUTPUT.search(text), (
                f"{path.name}: a stored output in terminal colours\n{cell.source}")


def test_axe_core_is_the_pinned_one(axe_source):
    """The engine injected is npm's axe-core at the version package.json pins."""
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["axe-core"]
    assert f"axe v{pinned}" in axe_source[:400], f"node_modules has not axe-core {pinned}: `make browser`"


@pytest.mark.parametrize("path", [p for p in PAGES if p not in NOTEBOOK_PAGES])
def test_images_on_book_pages_have_alt_text(visits, path):
    bad = [i["src"] for i in visits[path].images if not i["alt"] or _is_path(i["alt"])]
    assert bad == [], f"{path}: images without alt text {bad}"


@pytest.mark.parametrize("path", NOTEBOOK_PAGES)
def test_notebook_figures_have_alt_text(visits, path):
    """Alt text comes from the figure cell's metadata: mystnb.image.alt."""
    bad = [i["src"] for i in visits[path].images if not i["alt"] or _is_path(i["alt"])]
    assert bad == [], f"{path}: images whose alt text is missing or a file path {bad}"


@pytest.mark.parametrize("path", NOTEBOOK_PAGES)
def test_notebook_figures_are_numbered_and_captioned(visits, path):
    """Captions and numbers come from the cell's metadata: mystnb.figure.caption and .name."""
    figures = [i for i in visits[path].images if i["output"]]
    bad = [i["src"] for i in figures if not (i["numbered"] and i["caption"].strip())]
    assert figures and bad == [], f"{path}: figures without a number and caption {bad}"


def test_bibliography_matches_its_citations(reader, visits):
    page, errors = reader.open("book/bibliography.html")
    entries = page.evaluate("""() => Array.from(document.querySelectorAll('div.citation')).map(c => ({
        id: c.id, label: c.querySelector('.label').innerText.replace(/^\\[|\\]$/g, '').trim(),
        text: c.querySelector('p').innerText,
        links: Array.from(c.querySelectorAll('a.reference.external')).map(a => a.href)}))""")
    page.close()
    assert errors == []
    bib = (ROOT / "book" / "references.bib").read_text()
    assert len(entries) == bib.count("\n@") + bib.startswith("@") > 0
    labels = {entry["id"]: entry["label"] for entry in entries}
    for entry in entries:
        # One style: author and year, as the citations read; never an alpha label (KSH12).
        assert re.fullmatch(r"\D+, \d{4}[a-z]?", entry["label"]), entry["label"]
        assert any(link.startswith("https://") for link in entry["links"]), (
            f"{entry['label']}: no DOI or URL")
    text = " ".join(entry["text"] for entry in entries)
    for name in ["ImageNet", "Boltzmann", "Fisher", "Fashion-MNIST"]:
        assert name in text, f"{name} lost its capitals in the bibliography"
    assert "Imagenet" not in text and "boltzmann" not in text
    cited = [(path, c) for path, visit in visits.items() for c in visit.citations]
    assert len(cited) >= 20
    for path, (shown, target) in cited:
        assert shown == labels.get(target), f"{path}: cites [{shown}] for [{labels.get(target)}]"


def test_index_redirects_to_the_intro(reader):
    page, errors = reader.open("index.html", lands_on="**/book/intro.html")
    assert "AlexNet, from paper to practice" in page.title()
    assert page.locator("h1").first.inner_text().startswith("AlexNet, from paper to practice")
    assert _broken_images(page) == []
    body = page.locator("main").inner_text()
    # The Markdown pages are not notebooks, and the landing page says so.
    assert "Every page is an executed notebook" not in body
    assert "Every chapter is an executed notebook" in body
    page.close()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_page(reader, path):
    notebook = read(path)
    heading = next(c.source for c in notebook.cells if c.cell_type == "markdown")
    title = heading.splitlines()[0].lstrip("# ").strip()
    page, _ = reader.open(f"notebooks/{path.stem}.html")
    assert _plain(page.locator("h1").first.inner_text()).startswith(title)
    assert title in _plain(page.title())

    images = page.locator("img")
    figures = sum(
        1 for cell in notebook.cells for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    )
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("load")
    assert _broken_images(page) == []
    assert images.count() >= figures > 0

    colab = page.locator("a[href*='colab.research.google.com']")
    assert colab.count() >= 1, "no Colab launch link"
    owner_repo = repository_url().removeprefix("https://github.com/")
    expected = (
        f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{path.name}"
    )
    assert colab.first.get_attribute("href") == expected
    # The stored outputs are on the page, with no stderr lines.
    body = page.locator("main").inner_text()
    assert "profile=quick" in body
    assert "I0000" not in body and "absl::InitializeLog" not in body
    page.close()


@pytest.mark.parametrize("page_name, title", [("assignments", "Assignments"),
                                              ("instructors", "Instructors"),
                                              ("setup", "Setup")])
def test_book_pages(reader, page_name, title):
    page, _ = reader.open(f"book/{page_name}.html")
    assert _plain(page.locator("h1").first.inner_text()).startswith(title)
    assert _broken_images(page) == []
    if page_name == "assignments":
        links = page.locator("a[href*='colab.research.google.com']")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        owner_repo = repository_url().removeprefix("https://github.com/")
        students = sorted((ROOT / "assignments" / "student").glob("*.ipynb"))
        assert students and hrefs == [
            f"https://colab.research.google.com/github/{owner_repo}/blob/main/"
            f"assignments/student/{p.name}" for p in students]
    page.close()
