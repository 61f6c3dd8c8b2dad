"""make lectures / make slides on tiny generated notebooks (never the real course), and slide tagging."""

import re

import nbformat
import pytest
import yaml

from lecture_utils.course import book, build, colab, slides

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
    monkeypatch.setenv("LECTURE_DEVICE", "cpu")
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
    site = out / book.SITE
    assert "value 42" in (site / "01_good.html").read_text()
    assert "ZeroDivisionError" in (site / "02_bad.html").read_text()  # the traceback, in the failed lecture's page
    index = (site / "index.html").read_text()
    assert '<a class="reference internal" href="01_good.html">01 · A good lecture</a>' in index
    assert re.search(r"<td><p>failed after \d+ s: ZeroDivisionError: division by zero</p></td>", index)
    assert re.search(r"<td><p>ok, \d+ s</p></td>", index)
    assert "fast mode on cpu" in index
    assert "the answer" in (site / "claims.html").read_text() and "the answer" in (out / "claims.html").read_text()
    assert "| 01_good | the answer | 42 | 42 |  |  | 0 | fast | holds |  |  |" in (out / "claims.md").read_text()
    assert not (out / "01_good.html").exists()  # the book's page replaces nbconvert's


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


def _executed(path, cells, widgets=False):
    """A notebook as ``make lectures`` leaves it: code cells with stored outputs, never run here."""
    nb = nbformat.v4.new_notebook()
    for kind, source, *outputs in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(source, execution_count=1, outputs=outputs[0] if outputs else []))
    if widgets:
        nb.metadata["widgets"] = {book.WIDGET_STATE: {"state": {"abc": {"model_name": "IntSliderModel"}}}}
    nbformat.write(nb, path)
    return path


PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def tiny_book(tmp_path_factory):
    """The book of two executed notebooks (one named like a course notebook, for its exercises) and a claim."""
    out = tmp_path_factory.mktemp("build")
    _executed(out / "01_first.ipynb", [
        ("md", "# 01 · First\n" + colab.badge("01_first") + "\n\nIntro.\n\nLearning goals: count to two."),
        ("code", colab.setup_block() + "\n\nraise SystemExit('executed again')",
         [nbformat.v4.new_output("stream", name="stdout", text="stored output 7\n")]),
        ("md", "## Formula\n\nThe shift $\\operatorname{shift}(x) = x + d$ and\n\n$$y = W x + b .$$"),
    ])
    _executed(out / "03_gap_vs_flatten.ipynb", [
        ("md", "# 03 · Second\n" + colab.badge("03_gap_vs_flatten") + "\n\nLearning goals: see | pipes."),
        ("code", "demo()", [
            nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
            nbformat.v4.new_output("display_data", data={book.WIDGET_VIEW: {"model_id": "abc", "version_major": 2,
                                                                             "version_minor": 0},
                                                         "text/plain": "interactive(children=(IntSlider(...)))"}),
        ]),
    ], widgets=True)
    (out / "claims").mkdir()
    (out / "claims" / "01_first.jsonl").write_text(
        '{"notebook": "01_first", "claim": "two is two", "lecture": 2, "ours": 2, "tolerance": 0, "mode": "fast", '
        '"verdict": "holds"}\n')
    assert build.main(["book", "--build-dir", str(out)]) == 0
    return out / book.SITE


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", page)


@pytest.mark.slow
def test_book_shows_the_executed_notebooks_in_order_without_running_them(tiny_book):
    first, second = (tiny_book / "01_first.html").read_text(), (tiny_book / "03_gap_vs_flatten.html").read_text()
    assert "stored output 7" in first and "executed again" in first  # the stored output; the code shown, not run
    assert "SystemExit" not in first.split("stored output 7")[1].split("</section>")[0]  # no traceback of a run
    assert "google.colab" not in first  # the setup block is left out of the page
    assert 'rel="next" title="03 · Second" href="03_gap_vs_flatten.html"' in first
    assert 'rel="next" title="Lecture claims vs our measurements" href="claims.html"' in second
    index = (tiny_book / "index.html").read_text()
    assert index.index('href="01_first.html"') < index.index('href="03_gap_vs_flatten.html"') < index.index(
        'href="claims.html"') < index.index('href="exercises.html"')
    assert "count to two" in index and "see \\| pipes" not in index and "see | pipes" in index  # the course map
    assert "This build" not in index  # no run times: nothing was executed


@pytest.mark.slow
def test_book_is_offline_widgets_static_badge_local(tiny_book):
    for page in tiny_book.glob("*.html"):
        remote = [src for src in _scripts(page.read_text()) if "://" in src]
        assert remote == [], (page.name, remote)  # no CDN: MathJax, widgets, thebe
    first, second = (tiny_book / "01_first.html").read_text(), (tiny_book / "03_gap_vs_flatten.html").read_text()
    assert "_static/mathjax/tex-svg.js" in " ".join(_scripts(first))
    vendored = (build.REVEAL / "mathjax" / "tex-svg.js").read_bytes()
    assert (tiny_book / "_static" / "mathjax" / "tex-svg.js").read_bytes() == vendored
    assert "\\operatorname{shift}" in first  # left for MathJax, in a math element
    assert "tex-svg.js" not in (tiny_book / "exercises.html").read_text()  # loaded only where there is math
    figure = re.search(r'<img alt="_images/[0-9a-f]+\.png" src="(_images/[0-9a-f]+\.png)"', second).group(1)
    assert (tiny_book / figure).is_file()
    assert "IntSlider" not in second and book.WIDGET_STATE not in second  # the static figure only
    assert f'href="{colab.colab_url("03_gap_vs_flatten")}"' in second  # the badge ...
    badge = re.search(r'<img alt="Open In Colab" src="([^"]+)"', second).group(1)
    assert "://" not in badge and (tiny_book / badge).is_file()  # ... with a local image
    for name, page in (("01_first", first), ("03_gap_vs_flatten", second)):  # and the theme's launch button
        assert f'<li><a href="{colab.colab_url(name)}" target="_blank"' in page


@pytest.mark.slow
def test_book_has_claims_table_and_exercises_index(tiny_book):
    claims_page = (tiny_book / "claims.html").read_text()
    assert "<table" in claims_page and "two is two" in claims_page and "1 claims: 1 hold" in claims_page
    assert '<div class="claims-report' in claims_page and (tiny_book / "_static" / "book.css").is_file()
    exercises_page = (tiny_book / "exercises.html").read_text()
    from lecture_utils.course import exercises

    ids = [e.id for e in exercises.for_notebook("03_gap_vs_flatten")]
    assert ids and all(i in exercises_page for i in ids)
    assert 'href="03_gap_vs_flatten.html"' in exercises_page and "01_first.html" not in exercises_page.split(
        "<article")[1].split("</article>")[0]  # 01_first has no exercises: no section


def test_pages_workflow_publishes_what_make_lectures_builds():
    workflow = yaml.safe_load((build.Path(__file__).resolve().parents[1] / ".github/workflows/book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    assert {"run": "make lectures"} in steps
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == f"build/{book.SITE}" == "build/book/html"  # the site book.build writes
    assert workflow["jobs"]["deploy"]["needs"] == "build" and workflow["permissions"]["pages"] == "write"
