"""The course book (``make lectures``: build/book/html/) in Chromium, offline, as a student opens it (file://).

Uses ``build/book/html/`` when ``make lectures`` has built it; otherwise the book of the committed notebooks
(executed, with their outputs; copied as the "executed copies" and never run again) in a temporary folder,
made with the same function.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from browser_util import REPO, screenshot

from lecture_utils.course import book, claims

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# every same-page anchor of the page's links, by id or name (as browsers: the raw, then the decoded fragment)
MISSING_ANCHORS = """() => [...document.querySelectorAll('a[href]')]
    .filter(a => a.hash && a.pathname === location.pathname)
    .map(a => a.hash.slice(1))
    .filter(f => !(document.getElementById(f) || document.getElementsByName(f).length
                   || document.getElementById(decodeURIComponent(f))))"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, str | None]:
    """The book's folder, and what Sphinx printed while building it (None for ``make lectures``' build)."""
    built = REPO / "build" / book.SITE
    if (built / "index.html").is_file():
        return built, None
    out = tmp_path_factory.mktemp("course")
    for path in NOTEBOOKS:
        shutil.copy(path, out / path.name)
    claims.write_report(claims.gather(out / "claims"), out)
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        index = book.build(sorted(out.glob("*.ipynb")), out)
    return index.parent, printed.getvalue()


def test_the_book_builds_without_warnings(site):
    folder, printed = site
    if printed is None:
        pytest.skip("build/book/html/ was built by make lectures (its warnings were printed there)")
    assert "WARNING" not in printed and "ERROR" not in printed, printed
    assert sorted(p.stem for p in folder.glob("[0-9][0-9]_*.html")) == [p.stem for p in NOTEBOOKS]


def test_next_lecture_navigation(page, site):
    folder, _ = site
    page.goto((folder / "index.html").as_uri())
    page.locator("nav.bd-docs-nav a", has_text="03 · GAP vs flatten").click()
    page.wait_for_url("**/03_gap_vs_flatten.html")
    page.locator("a.right-next").click()  # the "Next" link at the end of the page
    page.wait_for_url("**/04_transfer_learning.html")
    assert page.inner_text("main h1").startswith("04 · Transfer learning")
    page.locator("a.left-prev").click()
    page.wait_for_url("**/03_gap_vs_flatten.html")
    assert page.problems == []


def test_search_finds_gradcam(page, site):
    folder, _ = site
    page.goto((folder / "index.html").as_uri())
    page.locator(".bd-sidebar-primary .search-button-field").click()  # the search field opens a dialog
    page.keyboard.type("Grad-CAM")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search.html?q=Grad-CAM*")
    page.wait_for_function("document.querySelector('#search-results p')?.textContent.includes('found')")
    found = page.eval_on_selector_all("#search-results li a", "as => as.map(a => a.getAttribute('href'))")
    assert found[0].startswith("07_cam_and_gradcam.html"), found  # the Grad-CAM lecture comes first
    assert page.problems == []


def test_every_link_and_image_resolves_and_every_formula_is_typeset(page, site):
    folder, _ = site
    pages, seen, broken, remote_images = [folder / "index.html"], set(), [], []
    while pages:
        html = pages.pop()
        if html in seen:
            continue
        seen.add(html)
        page.goto(html.as_uri())
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            url = urlparse(href)
            if url.scheme in ("http", "https", "mailto"):
                continue  # GitHub, Colab: online only
            target = Path(unquote(url.path))
            if not target.exists():
                broken.append(f"{html.name}: link {href}")
            elif target.suffix == ".html" and target != html:
                pages.append(target)
        broken += [f"{html.name}: anchor #{f}" for f in page.evaluate(MISSING_ANCHORS)]
        images = page.eval_on_selector_all("img", "is => is.map(i => [i.src, i.complete && i.naturalWidth > 0])")
        broken += [f"{html.name}: image {src[:80]}" for src, ok in images if not ok]
        remote_images += [src for src, _ in images if not src.startswith("file:")]
        if page.evaluate("!!window.MathJax"):
            page.evaluate("MathJax.startup.promise")
            errors = page.locator("mjx-merror").count()
            raw = page.locator("main .math").evaluate_all("ms => ms.filter(m => !m.querySelector('mjx-container'))"
                                                          ".map(m => m.textContent.slice(0, 60))")
            broken += [f"{html.name}: {errors} MathJax error(s)"] * bool(errors) + [f"{html.name}: raw TeX {t}"
                                                                                    for t in raw]
        broken += [f"{html.name}: {problem}" for problem in page.problems]
        page.problems.clear()
    assert {p.stem for p in NOTEBOOKS} | {"index", "claims", "exercises"} <= {p.stem for p in seen}
    assert remote_images == []  # the badge and the theme's logos are local files
    assert broken == [], broken


def test_formulas_are_typeset_offline_and_screenshot(page, site):
    folder, _ = site
    page.goto((folder / "03_gap_vs_flatten.html").as_uri())
    page.evaluate("MathJax.startup.promise")  # the vendored MathJax 3 (the network is blocked) has typeset the page
    section = page.locator("main section:has(> h2:has-text('Why: one weight per position'))")
    assert section.locator("mjx-container svg").count() >= 10
    assert "\\operatorname" not in page.inner_text("main") and "\\frac" not in page.inner_text("main")
    section.locator("> h2").evaluate("h => window.scrollTo(0, h.getBoundingClientRect().top + scrollY - 70)")
    screenshot(page, "book_page")
    assert page.problems == []
