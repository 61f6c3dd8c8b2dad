"""`make slides` decks in Chromium, offline: reveal.js loads from local files, the arrow keys advance."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_util import REPO, screenshot

from lecture_utils.course import build

NOTEBOOK = REPO / "notebooks" / "03_gap_vs_flatten.ipynb"
# reveal.js sets its `ready` class a tick after Reveal.isReady() turns true: wait for both
READY = "window.Reveal && Reveal.isReady() && document.querySelector('.reveal').classList.contains('ready')"


@pytest.fixture(scope="module")
def deck(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("slides")
    assert build.slides([NOTEBOOK], out) == 0
    return out / f"{NOTEBOOK.stem}.slides.html"


def test_deck_runs_offline_and_advances(page, deck):
    page.goto(deck.as_uri())
    page.wait_for_function(READY, timeout=15_000)
    assert page.problems == []  # every script, style sheet and font loaded from local files
    text = page.inner_text(".slides")
    assert "In [" not in text and "Out[" not in text  # no prompts
    assert "Colab setup" not in text and "google.colab" not in text  # the setup cell is skipped
    title = page.inner_text("section.present")
    assert title.lstrip().lower().startswith("03 · gap vs flatten")  # upper case: the white theme is applied
    screenshot(page, "slide_title")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("Reveal.getIndices().h === 1")
    assert "the experiment" in page.inner_text("section.present").lower()


def test_figure_slide_shows_its_image_and_math(page, deck):
    page.goto(deck.as_uri())
    page.wait_for_function(READY, timeout=15_000)
    headings = page.eval_on_selector_all(".slides > section", "s => s.map(x => x.querySelector('h1, h2')?.textContent)")
    index = next(i for i, h in enumerate(headings) if h and h.startswith("Accuracy as a function of the shift"))
    for _ in range(index):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"Reveal.getIndices().h === {index}")
    image = page.locator("section.present img").first
    image.scroll_into_view_if_needed()
    assert image.is_visible()
    width, height = image.evaluate("img => [img.naturalWidth, img.getBoundingClientRect().width]")
    assert width > 100 and height > 100  # decoded, and drawn at a readable size
    page.evaluate("MathJax.startup.promise")  # the vendored MathJax 3 has typeset the deck
    text = page.inner_text("section.present")
    assert page.locator("section.present mjx-container svg").count() >= 3  # d, the shift formula, theta
    assert "$" not in text and "\\operatorname" not in text, text  # no raw TeX left
    screenshot(page, "slide_figure")
    assert page.problems == []
