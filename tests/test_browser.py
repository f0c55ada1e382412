r"""The built book as a reader sees it: every page opened in a real, headless browser.

The HTML of the session's smoke build (``built_book``, tests/conftest.py) is served on localhost
and each page of the table of contents is opened in Debian's Chromium, driven by Playwright with
that executable (never ``playwright install``), at 1280 × 900 px. Every request leaving localhost
is blocked and reported: the book must read offline (MathJax is served from the book itself,
``make mathjax``). Each page must load without console errors, show every image (present,
non-empty, decoded; a PNG at ≥ 2× its displayed width), typeset every formula (MathJax output in
each ``.math`` element, no raw ``$$``, ``\(`` or ``\[`` outside code; a chapter page has at least
one typeset formula), contain no Python traceback, error or stderr output and no
injected-parameters cell, carry a navigation that reaches every page of the table of contents,
and have only internal links that resolve (file and anchor). A screenshot of each page (its
first 12,000 px) is saved under ``$L2LIB_ARTIFACTS`` (default ``test-artifacts/`` in the
repository). The checks are functions returning lists of problems;
``test_checks_catch_a_broken_page`` shows they catch a deleted and an emptied figure, an
injected traceback, an unhidden parameters cell, a dead link and MathJax loaded from a CDN
(blocked, so the formulas stay raw TeX).

Enable with ``apt-get install chromium`` and ``pip install -e '.[browser]'``; without them the
tests skip, unless ``L2LIB_REQUIRE_BROWSER=1`` (set by .ci/run), which turns the skip into a
failure.
"""

from __future__ import annotations

import functools
import html as htmllib
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENABLE = ("install Debian's Chromium (`apt-get install chromium`) and the driver "
          "(`pip install -e '.[browser]'`); set L2LIB_CHROMIUM if it is not /usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Console messages of the tool chain that are known, understood and harmless, with the reason.
KNOWN_CONSOLE_NOISE = {
    "Identifier 'THEBE_JS_URL' has already been declared":
        "Sphinx 7.4 emits sphinx-thebe's inline configuration script twice (a filename None/'' "
        "mismatch in its asset de-duplication); thebe is off in this book",
}
TRACEBACK = "Traceback (most recent call last)"
CDN_MATHJAX = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
ERROR_OUTPUTS = ".output.traceback, .output.error, .output.stderr"
INJECTED = ".tag_injected-parameters"
NAVIGATION = "#pst-primary-sidebar a[href], .bd-sidebar-primary a[href]"
# a screenshot is a record for the reader of the artifacts, not a check: its first 12,000 px
SCREENSHOT_MAX_HEIGHT = 12_000
SCREENSHOT_TIMEOUT_MS = 120_000
# pages whose tables must fit the 1280 px window without sideways scrolling
FITTING_TABLES = {"executed/reproducibility.html"}
# MathJax 3 has typeset a page once its startup promise resolves (false: no MathJax on the page)
MATHJAX_DONE = """async () => {
    const mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.promise) return false;
    await mj.startup.promise;
    return true;
}"""
# formulas Sphinx marked for MathJax that hold no MathJax output (first characters of each)
UNTYPESET = """() => Array.from(document.querySelectorAll("span.math, div.math"))
    .filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.trim().slice(0, 60))"""
# the text a reader sees outside code blocks and typeset maths
PROSE = """() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("pre, code, script, style, mjx-container, .highlight")
        .forEach(e => e.remove());
    return body.textContent;
}"""
RAW_TEX = re.compile(r"\$\$|\\\(|\\\[|\\begin\{|\$[^$\s][^$]*\\[A-Za-z]+[^$]*\$")


# --------------------------------------------------------------------------------------------
# The pages of the book, served on localhost


def toc_pages(toc: dict[str, Any]) -> list[str]:
    """HTML paths (relative to the site root) of every page of a Jupyter Book table of contents."""
    pages = [f"{toc['root']}.html"]

    def walk(entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            if "file" in entry:
                pages.append(f"{entry['file']}.html")
            walk(entry.get("sections", []) + entry.get("chapters", []))

    walk(toc.get("chapters", []) + [c for p in toc.get("parts", []) for c in p["chapters"]])
    return pages


# the pages to check: the repository's, or those of a reused build (L2LIB_BOOK_BUILD, conftest.py)
BUILD_ROOT = Path(os.environ.get("L2LIB_BOOK_BUILD") or ROOT)
PAGES = toc_pages(yaml.safe_load((BUILD_ROOT / "_toc.yml").read_text()))
CHAPTER_STEMS = {src.stem for src in (BUILD_ROOT / "book" / "chapters").glob("[0-9]*.py")}
CHAPTER_PAGES = [p for p in PAGES if p.startswith("executed/")
                 and p.removeprefix("executed/").removesuffix(".html") in CHAPTER_STEMS]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on an ephemeral localhost port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --------------------------------------------------------------------------------------------
# What the browser shows of one page


@dataclass
class PageView:
    """One page as loaded in the browser; URLs are absolute."""

    path: str  # relative to the site root, e.g. "executed/01_onset.html"
    url: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)  # src, width, shown, complete
    text: str = ""
    error_outputs: int = 0
    injected_cells: int = 0
    navigation: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    mathjax: bool = False  # MathJax ran on the page
    typeset: int = 0  # MathJax output elements (mjx-container)
    untypeset: list[str] = field(default_factory=list)  # formulas left as TeX
    prose: str = ""  # text outside code and typeset maths
    wide_tables: int = 0  # tables wider than their container (scrolled sideways)


def open_page(browser: Any, base: str, path: str, screenshot: Path | None = None) -> PageView:
    """Load ``base + path`` in a fresh browser context and record what a reader would meet."""
    view = PageView(path=path, url=urljoin(base, path))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()

        def route(r: Any) -> None:
            if r.request.url.startswith(base):
                r.continue_()
            else:  # the book must read offline: block the request, and report it
                view.external_requests.append(r.request.url)
                r.abort("blockedbyclient")

        page.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and view.console_errors.append(m.text))
        page.on("pageerror", lambda e: view.console_errors.append(str(e)))
        page.on("requestfailed", lambda r: r.url.startswith(base)
                and view.failed_requests.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400
                and view.failed_requests.append(f"{r.url} (HTTP {r.status})"))
        page.goto(view.url, wait_until="load")
        view.mathjax = page.evaluate(MATHJAX_DONE)
        view.typeset = page.locator("mjx-container").count()
        view.untypeset = page.evaluate(UNTYPESET)
        view.prose = page.evaluate(PROSE)
        view.wide_tables = page.eval_on_selector_all(
            ".pst-scrollable-table-container, table",
            "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length")
        view.images = page.eval_on_selector_all(
            "img", "els => els.map(e => ({src: e.src, width: e.naturalWidth,"
                   " shown: e.getBoundingClientRect().width, complete: e.complete}))")
        view.text = page.inner_text("body")
        view.error_outputs = page.locator(ERROR_OUTPUTS).count()
        view.injected_cells = page.locator(INJECTED).count()
        view.navigation = page.eval_on_selector_all(NAVIGATION, "els => els.map(e => e.href)")
        view.links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            # the API page is tens of thousands of pixels tall: a full-page capture of it can
            # take longer than Playwright's 30 s default on two busy cores, and the check is
            # the page's content (read above), so the picture stops at SCREENSHOT_MAX_HEIGHT
            height = min(page.evaluate("document.documentElement.scrollHeight"),
                         SCREENSHOT_MAX_HEIGHT)
            page.screenshot(path=str(screenshot), full_page=True, timeout=SCREENSHOT_TIMEOUT_MS,
                            clip={"x": 0, "y": 0, "width": 1280, "height": height})
    finally:
        context.close()
    return view


# --------------------------------------------------------------------------------------------
# Checks: each returns a list of problems (empty when the page is fine)


def console_problems(view: PageView) -> list[str]:
    """Console errors and uncaught exceptions (except known noise), failed same-site requests."""
    errors = [e for e in view.console_errors
              if not any(known in e for known in KNOWN_CONSOLE_NOISE)]
    return ([f"console error: {e}" for e in errors]
            + [f"request failed: {r}" for r in view.failed_requests]
            + [f"request leaving localhost (blocked; the book must read offline): {u}"
               for u in view.external_requests])


def figure_problems(view: PageView, site: Path, base: str, *, chapter: bool) -> list[str]:
    """Every image loaded and decoded, its file present and non-empty; a chapter has figures."""
    problems = []
    for image in view.images:
        if not image["complete"] or image["width"] == 0:
            problems.append(f"image not shown (missing, empty or broken): {image['src']}")
        file = _local_file(image["src"], site, base)
        if file is not None and (not file.is_file() or file.stat().st_size == 0):
            problems.append(f"image file missing or empty: {image['src']}")
        path = urlsplit(image["src"]).path.lower()
        if path.endswith(".png") and image["width"] < 2 * image["shown"]:
            problems.append(f"PNG below 2× resolution ({image['width']} px shown at "
                            f"{image['shown']:.0f} px; figures should be SVG): {image['src']}")
    if chapter and not view.images:
        problems.append("chapter page shows no figure")
    return problems


def math_problems(view: PageView, *, chapter: bool) -> list[str]:
    """Every formula typeset by MathJax, no raw TeX in the prose; a chapter has typeset maths."""
    problems = [f"formula not typeset: {tex!r}" for tex in view.untypeset]
    raw = sorted({m.group(0)[:40] for m in RAW_TEX.finditer(view.prose)})
    if raw:
        problems.append(f"raw TeX in the text: {raw}")
    if chapter and not view.typeset:
        problems.append("chapter page shows no typeset formula (MathJax "
                        f"{'ran' if view.mathjax else 'did not run'})")
    return problems


def content_problems(view: PageView) -> list[str]:
    """No Python traceback, error/stderr output or unhidden injected-parameters cell."""
    problems = []
    if TRACEBACK in view.text:
        problems.append(f"page shows a Python traceback ({TRACEBACK!r})")
    if view.error_outputs:
        problems.append(f"page shows {view.error_outputs} error or stderr output(s)")
    if view.injected_cells:
        problems.append("page shows papermill's injected-parameters cell")
    return problems


def navigation_problems(view: PageView, pages: list[str], base: str) -> list[str]:
    """The navigation sidebar links to every page of the table of contents."""
    reached = {urldefrag(u).url for u in view.navigation}
    return [f"navigation does not reach {p}" for p in pages if urljoin(base, p) not in reached]


def link_problems(view: PageView, site: Path, base: str) -> list[str]:
    """Every internal link points at an existing file and, if it has one, an existing anchor."""
    problems = []
    for url in sorted(set(view.links)):
        file = _local_file(url, site, base)
        if file is None:
            continue  # external, mailto:, javascript:
        if not file.is_file():
            problems.append(f"dead link: {url}")
            continue
        anchor = unquote(urldefrag(url).fragment)
        if anchor and file.suffix == ".html" and anchor not in _anchors(file):
            problems.append(f"link to a missing anchor: {url}")
    return problems


def page_problems(view: PageView, site: Path, base: str, pages: list[str]) -> list[str]:
    """All checks of one page."""
    chapter = view.path in CHAPTER_PAGES
    fit = ([f"{view.wide_tables} table(s) wider than the page at 1280 px"]
           if view.path in FITTING_TABLES and view.wide_tables else [])
    return (console_problems(view) + figure_problems(view, site, base, chapter=chapter) + fit
            + math_problems(view, chapter=chapter)
            + content_problems(view) + navigation_problems(view, pages, base)
            + link_problems(view, site, base))


def _local_file(url: str, site: Path, base: str) -> Path | None:
    if not url.startswith(base):
        return None
    path = unquote(urlsplit(url).path)[len(urlsplit(base).path):]
    return site / (path + "index.html" if path == "" or path.endswith("/") else path)


@functools.cache
def _anchors(file: Path) -> frozenset[str]:
    text = file.read_text(errors="replace")
    return frozenset(htmllib.unescape(a) for a in re.findall(r'\b(?:id|name)="([^"]+)"', text))


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright; skips (or fails, in CI) when missing."""
    executable = os.environ.get("L2LIB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    missing = []
    if not Path(executable).is_file():
        missing.append(f"no Chromium at {executable}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the Python package playwright is not installed")
    if missing:
        message = f"browser test: {'; '.join(missing)}. To enable it, {ENABLE}."
        if os.environ.get("L2LIB_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (L2LIB_REQUIRE_BROWSER=1: required here)", pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                              headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("L2LIB_ARTIFACTS") or ROOT / "test-artifacts") / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def site(browser, built_book):
    """The built book's HTML served on localhost: (folder, base URL, pages of its toc)."""
    folder = built_book / "_build" / "html"
    pages = toc_pages(yaml.safe_load((built_book / "_toc.yml").read_text()))
    with serve(folder) as base:
        yield folder, base, pages


@pytest.fixture
def broken_site(built_book, tmp_path):
    """A copy of the built HTML with a chapter page broken the ways a reader could meet: one
    figure deleted, one emptied, a traceback and an unhidden parameters cell injected, a dead
    link, and MathJax loaded from a CDN. Returns (folder, chapter page, deleted image, emptied
    image)."""
    folder = tmp_path / "html"
    shutil.copytree(built_book / "_build" / "html", folder)
    chapter = CHAPTER_PAGES[0]
    page = folder / chapter
    text = page.read_text()
    sources = re.findall(r'<img[^>]*\ssrc="([^"]+)"', text)
    assert len(sources) >= 2, f"{chapter} needs two figures for this test"
    deleted, emptied = ((page.parent / s).resolve() for s in sources[:2])
    deleted.unlink()
    emptied.write_bytes(b"")
    injected = (
        '<div class="cell tag_remove-cell tag_injected-parameters docutils container">'
        '<pre># Parameters\nprofile = "smoke"</pre></div>'
        '<div class="cell_output docutils container">'
        '<div class="output traceback highlight-ipythontb notranslate"><pre>'
        f"{TRACEBACK}:\n  File \"&lt;cell&gt;\", line 1\nValueError: injected by the test"
        '</pre></div></div><p><a class="reference internal" href="no-such-page.html">dead</a></p>'
    )
    assert text.count("</main>") == 1
    text = text.replace("</main>", injected + "</main>")
    local = re.search(r'src="[^"]*_static/mathjax/tex-mml-chtml\.js[^"]*"', text)
    assert local, f"{chapter} does not load the book's own MathJax"
    page.write_text(text.replace(local.group(0), f'src="{CDN_MATHJAX}"'))
    return folder, chapter, deleted, emptied


# --------------------------------------------------------------------------------------------
# Tests


@pytest.mark.slow
@pytest.mark.parametrize("path", PAGES)
def test_page_reads_cleanly(site, browser, artifacts, path):
    folder, base, pages = site
    assert path in pages, f"{path} is in _toc.yml but not in the build (a stale L2LIB_BOOK_BUILD?)"
    screenshot = artifacts / path.replace("/", "__").replace(".html", ".png")
    view = open_page(browser, base, path, screenshot)
    problems = page_problems(view, folder, base, pages)
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)


@pytest.mark.slow
def test_checks_catch_a_broken_page(browser, broken_site, artifacts):
    folder, chapter, deleted, emptied = broken_site
    with serve(folder) as base:
        view = open_page(browser, base, chapter, artifacts.parent / "broken-page.png")
        problems = page_problems(view, folder, base, PAGES)
    report = "\n".join(problems)
    expected = ["page shows a Python traceback", "error or stderr output",
                "injected-parameters cell", f"dead link: {base}executed/no-such-page.html",
                "HTTP 404", "console error: Failed to load resource",
                f"request leaving localhost (blocked; the book must read offline): {CDN_MATHJAX}",
                "formula not typeset", "chapter page shows no typeset formula (MathJax did not "
                "run)"]
    for image in (deleted, emptied):
        url = f"{base}{image.relative_to(folder).as_posix()}"
        expected += [f"image not shown (missing, empty or broken): {url}",
                     f"image file missing or empty: {url}"]
    for problem in expected:
        assert problem in report, f"{problem!r} not reported; the checks said:\n{report}"
