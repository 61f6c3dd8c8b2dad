"""The HTML course build (index, claims report, one page per notebook) has no broken link or image.

Uses ``build/`` when ``make lectures`` has filled it; otherwise a build of the committed notebooks (their
saved outputs, not re-executed) in a temporary folder, made with the same functions.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
from browser_util import REPO

from lecture_utils.course import build, claims

# Remote images that only an online reader sees (offline they are skipped, never counted as broken).
ONLINE_IMAGES = ("https://colab.research.google.com/assets/colab-badge.svg",)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    built = REPO / "build"
    if (built / "index.html").is_file() and (built / "claims.html").is_file():
        return built
    out = tmp_path_factory.mktemp("course")
    build.copy_mathjax(out)
    results = []
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        (out / f"{path.stem}.html").write_text(build.page_exporter().from_notebook_node(nb)[0], encoding="utf-8")
        results.append(build.Result(path.stem, build.title(nb, path.stem), 0.0, True))
    (out / "index.html").write_text(build.index_page(results), encoding="utf-8")
    claims.write_report(claims.gather(out / "claims"), out)
    return out


def test_every_link_and_image_resolves(page, course):
    pages, seen, broken, remote = [course / "index.html"], set(), [], set()
    while pages:
        html = pages.pop()
        if html in seen:
            continue
        seen.add(html)
        page.goto(html.as_uri())
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            url = urlparse(href)
            if url.scheme in ("http", "https", "mailto"):
                remote.add(href)
                continue
            target = Path(unquote(url.path))
            if not target.is_file():
                broken.append(f"{html.name}: link {href}")
            elif target.suffix == ".html":
                pages.append(target)
            if url.fragment and target == html and not page.evaluate(  # as browsers: the raw, then the decoded id
                    "fs => fs.some(f => document.getElementById(f) || document.getElementsByName(f).length)",
                    [url.fragment, unquote(url.fragment)]):
                broken.append(f"{html.name}: anchor #{url.fragment}")
        images = page.eval_on_selector_all("img", "is => is.map(i => [i.src, i.complete && i.naturalWidth > 0])")
        broken += [f"{html.name}: image {src[:80]}" for src, ok in images if not ok and src not in ONLINE_IMAGES]
    assert {p.name for p in seen} >= {"index.html", "claims.html"}
    assert len(seen) >= 3, seen  # the index, the claims report and the notebooks' pages
    assert broken == [], broken


def test_pages_typeset_math_offline(page, course):
    page.goto((course / "03_gap_vs_flatten.html").as_uri())
    page.evaluate("MathJax.startup.promise")  # the vendored MathJax 3 (the network is blocked) has typeset the page
    assert page.locator("mjx-container svg").count() >= 3
    assert "\\operatorname" not in page.inner_text("body")  # notebook 03's shift formula is no raw TeX
