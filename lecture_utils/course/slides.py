"""Slides from notebooks: the headings are the slides.

The convention (reveal.js via ``nbconvert --to slides``, or RISE in a live notebook):

- a markdown cell starting with ``# `` or ``## `` opens a new slide,
- a markdown cell starting with ``### `` opens a sub-slide (below the current slide),
- the code cell holding the Colab setup block (see :mod:`lecture_utils.course.colab`) is skipped,
- every other cell continues the current slide (``-``),
- a cell an author marked ``skip``, ``notes`` or ``fragment`` keeps that mark.

``python -m lecture_utils.course.slides tag notebooks/*.ipynb`` writes these marks into the cells' metadata
(``metadata.slideshow.slide_type``; idempotent); ``make slides`` applies the same rule to a copy of each
notebook before exporting it, so a deck never depends on tagging having been run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from . import cli
from .colab import is_setup_code, without_badge

KEPT = ("skip", "notes", "fragment")  # an author's explicit choice, never overwritten


def slide_type(cell: nbformat.NotebookNode) -> str:
    """The slide type the convention gives ``cell`` (slide, subslide, skip or -), ignoring its metadata."""
    if cell.cell_type == "code" and is_setup_code(cell.source):
        return "skip"
    if cell.cell_type == "markdown":
        text = cell.source.lstrip()
        if text.startswith(("# ", "## ")):
            return "slide"
        if text.startswith("### "):
            return "subslide"
    return "-"


def tag_notebook(nb: nbformat.NotebookNode) -> int:
    """Set ``metadata.slideshow.slide_type`` of every cell from the convention; return how many changed.

    Heading cells get ``slide``/``subslide``, the Colab setup cell ``skip``; other cells get ``-`` when unset.
    ``skip``, ``notes`` and ``fragment`` set by an author are kept, and so is any explicit type on a non-heading cell.
    """
    changed = 0
    for cell in nb.cells:
        current = cell.metadata.get("slideshow", {}).get("slide_type")
        wanted = slide_type(cell)
        if current in KEPT or (wanted == "-" and current is not None):
            continue
        if current != wanted:
            cell.metadata.setdefault("slideshow", {})["slide_type"] = wanted
            changed += 1
    return changed


def for_slides(nb: nbformat.NotebookNode) -> None:
    """Prepare ``nb`` (in memory) for a deck: tag its cells, drop the Colab badge (a remote image, offline)."""
    tag_notebook(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = without_badge(cell.source)


def section_headings(nb: nbformat.NotebookNode) -> list[str]:
    """The ``## `` section headings of ``nb`` (first line of each), in order."""
    return [
        cell.source.lstrip().split("\n")[0]
        for cell in nb.cells
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## ")
    ]


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m lecture_utils.course.slides", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("tag",))
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        changed = tag_notebook(nb)
        if changed:
            nbformat.write(nb, path)
        print(f"{path}: {changed} cell(s) tagged")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main, "python -m lecture_utils.course.slides"))
