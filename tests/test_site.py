"""The built website as a reader sees it, in headless Chromium.

Needs ``_build/html`` (``make book-strict`` builds it first in ``make test``) and
Debian's ``chromium``. Screenshots go to ``_build/screenshots/``.
"""

import functools
import http.server
import shutil
import threading

import pytest
from notebook_checks import NOTEBOOKS, ROOT, read, repository_url

pytestmark = pytest.mark.site

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium flags that work on a machine without a display or a network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


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


def _open(browser, url: str, shot: str, lands_on: str | None = None):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
    if lands_on:
        page.wait_for_url(lands_on)
        page.wait_for_load_state("load")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=False)
    return page


def _plain(text: str) -> str:
    """Undo Sphinx's typographic quotes, so titles compare with the notebook source."""
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')


def _broken_images(page) -> list[str]:
    return page.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)"
    )


def test_index_redirects_to_the_intro(site_url, browser):
    page = _open(browser, f"{site_url}/index.html", "intro", lands_on="**/book/intro.html")
    assert "AlexNet, from paper to practice" in page.title()
    assert page.locator("h1").first.inner_text().startswith("AlexNet, from paper to practice")
    assert _broken_images(page) == []
    page.close()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_page(site_url, browser, path):
    notebook = read(path)
    heading = next(c.source for c in notebook.cells if c.cell_type == "markdown")
    title = heading.splitlines()[0].lstrip("# ").strip()
    page = _open(browser, f"{site_url}/notebooks/{path.stem}.html", path.stem)
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
def test_book_pages(site_url, browser, page_name, title):
    page = _open(browser, f"{site_url}/book/{page_name}.html", page_name)
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
