"""Measured numbers in a notebook's prose come from its outputs; only lecture and paper values are typed."""

from pathlib import Path

import nbformat
import pytest

from lecture_utils.course import prose

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def notebook(markdown: str, output: str) -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("print(acc)", outputs=[nbformat.v4.new_output("stream", text=output)])
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown), code])


def test_a_typed_stale_number_is_found():
    nb = notebook("GAP keeps 0.991 of its accuracy on 1,000 digits (He et al. 2016).", "accuracy 0.9906\n")
    assert prose.typed_numbers(nb) == ["1000"]  # 0.991 is the output rounded; 2016 is a year
    nb.cells[1].outputs[0].text = "accuracy 0.9712\n"  # a re-run: the prose is now stale
    assert prose.typed_numbers(nb) == ["0.991", "1000"]
    assert prose.typed_numbers(nb, allowed={"1000"}) == ["0.991"]


def test_links_code_and_math_are_not_prose():
    nb = notebook("See [it](https://x.org/1234.5678), `lr = 0.0125` and $e^{0.25}$; 0.25 here.", "")
    assert prose.typed_numbers(nb) == ["0.25"]


def test_markdown_outputs_count_as_shown():
    nb = notebook("It keeps 0.991.", "")
    nb.cells[1].outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "keeps **0.991**"})]
    assert prose.typed_numbers(nb) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_prose_types_only_lecture_values(path):
    typed = prose.check(path)
    assert not typed, (f"{path.name} types numbers that none of its outputs shows: {typed}. Print measured "
                       f"values from code (claims.say(f'...')); list lecture/paper values with their source in "
                       f"lecture_utils/course/lecture_values/{path.stem}.txt")


@pytest.mark.parametrize("path", sorted(prose.LECTURE_VALUES.glob("*.txt")), ids=lambda p: p.stem)
def test_lecture_value_lists_name_a_source_and_are_used(path):
    notebook_path = Path(__file__).parents[1] / "notebooks" / f"{path.stem}.ipynb"
    assert notebook_path.is_file(), f"{path.name} lists values for a notebook that does not exist"
    nb = nbformat.read(notebook_path, as_version=4)
    typed = set().union(*(prose.numbers(prose.SKIPPED.sub("", c.source)) for c in nb.cells
                          if c.cell_type == "markdown"))
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.split("#")[0].strip():
            value, *source = line.split()
            assert len(source) >= 2, f"{path.name}: {value} needs its source (paper, slide) after it"
            assert value.replace(",", "") in typed, f"{path.name}: {value} is typed in no markdown cell: remove it"
