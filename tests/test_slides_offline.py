"""Decks are self-contained: every script, style sheet and image is local (the browser check: tests/browser)."""

import re

import nbformat

from lecture_utils.course import build, colab, slides


def _notebook():
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# 09 · Title\n{colab.badge('09_title')}\n\nGoals."),
        nbformat.v4.new_code_cell(colab.setup_block() + "\n\nimport math"),
        nbformat.v4.new_markdown_cell("## Section"),
        nbformat.v4.new_code_cell("print(math.pi)"),
    ])


def test_setup_cell_skipped_and_badge_dropped():
    nb = _notebook()
    slides.for_slides(nb)
    assert [c.metadata["slideshow"]["slide_type"] for c in nb.cells] == ["slide", "skip", "slide", "-"]
    assert "colab-badge" not in nb.cells[0].source and nb.cells[0].source.startswith("# 09 · Title\n")


def test_deck_loads_only_local_files(tmp_path):
    path = tmp_path / "09_title.ipynb"
    nbformat.write(_notebook(), path)
    assert build.slides([path], tmp_path / "build") == 0
    deck = (tmp_path / "build" / "09_title.slides.html").read_text()
    sources = re.findall(r"<(?:script|link|img)\b[^>]*?(?:src|href)=\"([^\"]+)\"", deck)
    sources += re.findall(r"\"(\S+\.js)\"", deck)  # RequireJS module paths
    assert sources and all(not re.match(r"(https?:)?//", s) for s in sources), sources
    assert all((tmp_path / "build" / s).is_file() for s in sources), sources
    assert "In&nbsp;[" not in deck and "google.colab" not in deck
