"""make lectures / make slides on tiny generated notebooks (never the real course), and slide tagging."""

import nbformat
import pytest

from lecture_utils.course import build, slides

REPO_NOTEBOOKS = sorted((build.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _write(path, cells):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in cells
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A two-notebook course: one reads a file next to it and records a claim, one fails (fast mode)."""
    monkeypatch.setenv("LECTURE_MODE", "fast")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "numbers.txt").write_text("41")
    good = _write(folder / "01_good.ipynb", [
        ("md", "# 01 · A good lecture\nGoals: add one."),
        ("code", "value = int(open('numbers.txt').read()) + 1\nprint('value', value)"),
        ("md", "## Claims"),
        ("code", "from lecture_utils.course import claims\nclaims.record('the answer', 42, value, tolerance=0)\n"
                 "claims.table()"),
    ])
    bad = _write(folder / "02_bad.ipynb", [("md", "# 02 · A broken lecture"), ("code", "1 / 0")])
    return folder, good, bad


@pytest.mark.slow
def test_lectures_builds_all_reports_failures_and_leaves_sources(course, tmp_path, capsys):
    folder, good, bad = course
    before = {p: p.read_bytes() for p in (good, bad)}
    out = tmp_path / "build"
    assert build.main(["lectures", "--notebooks-dir", str(folder), "--build-dir", str(out)]) == 1
    assert {p: p.read_bytes() for p in (good, bad)} == before
    printed = capsys.readouterr().out
    assert "[1/2] 01_good ... ok in" in printed
    assert "[2/2] 02_bad ... FAILED in" in printed and "ZeroDivisionError" in printed
    assert "1 of 2 notebook(s) failed: 02_bad" in printed

    executed = nbformat.read(out / "01_good.ipynb", as_version=4)
    assert executed.cells[1].outputs[0].text == "value 42\n"  # ran in the notebook's folder
    assert "value 42" in (out / "01_good.html").read_text()
    assert "ZeroDivisionError" in (out / "02_bad.html").read_text()
    index = (out / "index.html").read_text()
    assert "<a href='01_good.html'>01 · A good lecture</a>" in index
    assert "failed: ZeroDivisionError: division by zero" in index and "claims.html" in index
    assert "the answer" in (out / "claims.html").read_text()
    assert "| 01_good | the answer | 42 | 42 |  |  | 0 | fast | holds |  |" in (out / "claims.md").read_text()


@pytest.mark.slow
def test_lectures_of_one_notebook_succeeds_and_replaces_its_claims(course, tmp_path, monkeypatch):
    folder, good, _ = course
    out = tmp_path / "build"
    (out / "claims").mkdir(parents=True)
    (out / "claims" / "01_good.jsonl").write_text('{"notebook": "01_good", "claim": "stale"}\n')
    monkeypatch.chdir(tmp_path)
    assert build.main(["lectures", str(good), "--build-dir", "build"]) == 0
    assert (out / "claims" / "01_good.jsonl").read_text().count("\n") == 1
    assert "stale" not in (out / "claims.md").read_text()


def test_resolve_names(course):
    folder, good, bad = course
    assert build.resolve([], folder) == [good, bad]
    assert build.resolve(["02_bad", str(good)], folder) == [bad, good]
    with pytest.raises(ValueError, match="notebook '03_missing' not found"):
        build.resolve(["03_missing"], folder)
    with pytest.raises(ValueError, match="no notebooks found"):
        build.resolve([], folder / "empty")


def test_title_from_first_heading():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# a comment"),
                                         nbformat.v4.new_markdown_cell("intro\n## 03 · Shifted MNIST")])
    assert build.title(nb, "x") == "03 · Shifted MNIST"
    assert build.title(nbformat.v4.new_notebook(), "fallback") == "fallback"


def test_tagging_follows_headings_and_keeps_author_choices():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell("## Section"),
        nbformat.v4.new_markdown_cell("### Detail"),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("# a comment, not a heading"),
        nbformat.v4.new_markdown_cell("## Skipped section"),
        nbformat.v4.new_code_cell("y = 2"),
    ])
    nb.cells[6].metadata["slideshow"] = {"slide_type": "skip"}
    nb.cells[7].metadata["slideshow"] = {"slide_type": "fragment"}
    assert slides.tag_notebook(nb) == 6
    assert [c.metadata["slideshow"]["slide_type"] for c in nb.cells] == [
        "slide", "-", "slide", "subslide", "-", "-", "skip", "fragment"]
    assert slides.tag_notebook(nb) == 0
    assert slides.section_headings(nb) == ["## Section", "## Skipped section"]


def test_slides_cli_tags_in_place_idempotently(course, capsys):
    _, good, _ = course
    assert slides.main(["tag", str(good)]) == 0
    tagged = good.read_bytes()
    assert slides.main(["tag", str(good)]) == 0
    assert good.read_bytes() == tagged
    assert capsys.readouterr().out.splitlines()[-1] == f"{good}: 0 cell(s) tagged"


def _deck_checks(path, out):
    nb = nbformat.read(path, as_version=4)
    deck = (out / f"{path.stem}.slides.html").read_text()
    assert "reveal" in deck
    assert deck.count("<section><section>") >= max(1, len(slides.section_headings(nb)))


def test_slides_of_a_tiny_notebook(course, tmp_path):
    folder, good, _ = course
    assert build.main(["slides", str(good), "--build-dir", str(tmp_path / "build")]) == 0
    _deck_checks(good, tmp_path / "build")
    assert (tmp_path / "build" / "01_good.slides.html").read_text().count("<section><section>") == 2


@pytest.mark.parametrize("path", REPO_NOTEBOOKS, ids=[p.stem for p in REPO_NOTEBOOKS])
def test_every_course_notebook_makes_a_deck(path, tmp_path):
    before = path.read_bytes()
    assert build.slides([path], tmp_path) == 0
    _deck_checks(path, tmp_path)
    assert path.read_bytes() == before
