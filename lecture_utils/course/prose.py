"""Numbers typed into a notebook's prose that no output of the notebook shows: prose that can go stale.

A measured value belongs in an output (``claims.say(f"...")`` prints a verdict paragraph from the run), so
a re-run updates it. A markdown cell may type only the lectures' and papers' values, listed per notebook in
``lecture_values/NAME.txt`` beside this module, one a line, followed by its source::

    2048    ResNet-50's feature width (He et al. 2016)

A number here is one with a decimal point or of four or more digits (``0.92``, ``1,516``, ``60000``);
years (1950-2039), links, inline code and ``$math$`` are skipped, and an output that shows more decimals
than the prose counts (``0.8283`` shown, ``0.83`` typed).

    python -m lecture_utils.course.prose notebooks/*.ipynb    # lists what each notebook types
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

from . import cli

NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d{4,})(?![\w])")
YEAR = re.compile(r"19[5-9]\d|20[0-3]\d")
SKIPPED = re.compile(r"\(https?://[^)]*\)|`[^`]*`|\$[^$]*\$")  # links, inline code, math
LECTURE_VALUES = Path(__file__).with_name("lecture_values")


def numbers(text: str) -> set[str]:
    """The numbers of ``text`` as written, thousands separators removed: ``'1,516 and 0.92'`` -> {1516, 0.92}."""
    return {m.replace(",", "") for m in NUMBER.findall(text)}


def _rounds_to(shown: str, typed: str) -> bool:
    """An output may show more decimals than the prose: 0.8283 shown, 0.83 typed."""
    if "." not in typed or "." not in shown:
        return False
    decimals = len(typed.split(".")[1])
    return len(shown.split(".")[1]) > decimals and f"{float(shown):.{decimals}f}" == typed


def lecture_values(name: str) -> set[str]:
    """The lecture and paper values that notebook ``name`` may type (its list; empty if it has none)."""
    path = LECTURE_VALUES / f"{name}.txt"
    if not path.is_file():
        return set()
    lines = (line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line.split()[0].replace(",", "") for line in lines if line}


def shown_numbers(nb: nbformat.NotebookNode) -> set[str]:
    """Every number the notebook's outputs show (streams, plain text and Markdown)."""
    shown = set()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            shown |= numbers("".join(out.get("text", "")) + "".join(data.get("text/plain", ""))
                             + "".join(data.get("text/markdown", "")))
    return shown


def typed_numbers(nb: nbformat.NotebookNode, allowed: set[str] = frozenset()) -> list[str]:
    """The numbers in ``nb``'s markdown cells that are neither ``allowed`` nor shown by one of its outputs."""
    prose = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            prose |= numbers(SKIPPED.sub("", cell.source))
    shown = shown_numbers(nb)
    return sorted(n for n in prose - shown - set(allowed)
                  if not YEAR.fullmatch(n) and not any(_rounds_to(s, n) for s in shown))


def check(path: Path) -> list[str]:
    """The typed numbers of the notebook at ``path``, with its own list of lecture values allowed."""
    return typed_numbers(nbformat.read(path, as_version=4), lecture_values(path.stem))


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m lecture_utils.course.prose", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    status = 0
    for path in parser.parse_args(argv).notebooks:
        typed = check(path)
        if typed:
            status = 1
            print(f"{path.stem}: {len(typed)} typed numbers no output shows: {', '.join(typed)}")
    return status


if __name__ == "__main__":
    sys.exit(cli.run(main, "python -m lecture_utils.course.prose"))
