"""The course website: a Jupyter Book 1.x (Sphinx, sphinx-book-theme, myst-nb) of the executed notebooks.

:func:`build` writes the book into ``build/book/``: its generated sources in ``src/``, the site in ``html/``
(``index.html`` first): a landing page (what the course is, the course map, how to run it), the notebooks
in lecture order, the claims report as a page with its table, and the exercises' index. The book shows the
notebooks as they were executed: myst-nb never runs them again (execution off). It builds offline:
formulas are typeset by the vendored MathJax 3 (``reveal/mathjax/``, copied to the site; no CDN), the
"Open in Colab" badge is a local image, and interactive widgets, which need a kernel, are left out (every
widget cell also shows its static figure; no widget JavaScript from a CDN).
"""

from __future__ import annotations

import shutil
import string
import warnings
from pathlib import Path

import nbformat
import yaml

from .. import runtime
from . import colab, exercises

REVEAL = Path(__file__).with_name("reveal")  # the vendored MathJax 3.2.2 is in reveal/mathjax (see README there)
TEMPLATES = Path(__file__).with_name("templates") / "book"  # the landing page, the local Colab badge, book.css
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BADGE_IMAGE = "colab-badge.svg"  # next to the notebooks in the book's sources
PAGES = ("claims", "exercises")  # the book's own pages after the lectures
BOOK = "book"  # in build/: src/ (the generated sources), html/ (the site: GitHub Pages publishes it), and what
# Sphinx and myst-nb keep between the two (doctrees, jupyter_execute/: myst-nb writes it next to html/)
SITE = f"{BOOK}/html"
# Static files copied into the site's _static/ (not the sources' own _static/: Jupyter Book would load every
# script in there on every page, MathJax included)
VENDORED = "_vendored"
# Jupyter Book's default Sphinx extensions, less sphinx-thebe (live code cells from a CDN, off here; with
# Sphinx 7.4 its settings script lands twice in each page, a JavaScript error) and intersphinx (online)
EXTENSIONS = ["sphinx_togglebutton", "sphinx_copybutton", "myst_nb", "jupyter_book", "sphinx_external_toc",
              "sphinx_comments", "sphinx_design", "sphinx_book_theme"]


def title(nb: nbformat.NotebookNode, default: str) -> str:
    """The text of the notebook's first markdown heading (``default`` if it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return default


def goals(nb: nbformat.NotebookNode) -> str:
    """The "Learning goals: ..." paragraph of the title cell, on one line, without the label ("" if none)."""
    for paragraph in nb.cells[0].source.split("\n\n") if nb.cells else ():
        if paragraph.startswith("Learning goals:"):
            return " ".join(paragraph.removeprefix("Learning goals:").split())
    return ""


def static_notebook(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` for the book: widget views and the saved widget state removed (the static figure
    printed by every widget cell stays), the Colab setup block left out and the Colab badge showing the local
    image."""
    nb = nbformat.from_dict(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = colab.without_setup(cell.source)
            cell.outputs = [out for out in cell.outputs if WIDGET_VIEW not in out.get("data", {})]
    if nb.cells and nb.cells[0].cell_type == "markdown":
        nb.cells[0].source = colab.with_badge_image(nb.cells[0].source, name, BADGE_IMAGE)
    return nb


def _cell(text: str) -> str:
    """``text`` as one cell of a markdown table (pipes escaped)."""
    return text.replace("|", "\\|")


def course_map(notebooks: list[Path], status: dict[str, str] | None = None) -> str:
    """Markdown table of the lectures: title (a link to its page) and learning goals, and this build's
    ``status`` of each notebook (run time or failure) when given."""
    header = ["lecture", "learning goals"] + (["this build"] if status is not None else [])
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        cells = [f"[{_cell(title(nb, path.stem))}]({path.stem}.ipynb)", _cell(goals(nb))]
        if status is not None:
            cells.append(_cell(status.get(path.stem, "")))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def landing_page(notebooks: list[Path], status: dict[str, str] | None = None) -> str:
    """The book's first page (``templates/book/index.md``) with the course map; with ``status`` (from
    ``make lectures``) also the mode and device of this build."""
    built = "" if status is None else (
        f"\nThis build: {runtime.mode()} mode on {runtime.device()}; the run times are in the course map.\n")
    template = string.Template((TEMPLATES / "index.md").read_text(encoding="utf-8"))
    return template.substitute(course_map=course_map(notebooks, status), this_build=built,
                               repository=f"[the repository]({colab.REPO_URL})")


def claims_page(claims_md: str) -> str:
    """The claims report (``claims.md`` of :func:`claims.write_report`) as a page: its wide table across the
    page's whole width, in a smaller font (``book.css``)."""
    heading, _, body = claims_md.partition("\n")
    return f"{heading}\n\n:::{{div}} claims-report\n{body.strip()}\n:::\n"


def exercises_page(notebooks: list[Path]) -> str:
    """The exercises' index: each lecture's exercises (id and question), linked to the lecture's page."""
    lines = ["# Exercises", "",
             "Each exercise is a code cell `answer = ...` in its lecture: replace `...` with your answer and run "
             "the cell; `exercises.check` says what is right or which typical mistake it is, "
             "`exercises.hint(id)` reveals one more hint per call.", ""]
    for path in notebooks:
        found = exercises.for_notebook(path.stem)
        if found:
            nb = nbformat.read(path, as_version=4)
            lines += [f"## [{title(nb, path.stem)}]({path.stem}.ipynb)", ""]
            lines += [f"- `{exercise.id}`: {' '.join(exercise.prompt.split())}" for exercise in found] + [""]
    return "\n".join(lines)


def config() -> dict:
    """The book's ``_config.yml``: offline (local MathJax, no widget JavaScript), never executing, with a
    Colab launch button on every lecture (the repository's ``notebooks/NAME.ipynb``)."""
    return {
        "title": "Inside CNNs",
        "author": "The Inside CNNs authors",
        "copyright": "2026",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["amsmath", "colon_fence", "dollarmath", "linkify"]},
        "repository": {"url": colab.REPO_URL, "path_to_book": "notebooks", "branch": colab.BRANCH},
        "launch_buttons": {"colab_url": "https://colab.research.google.com"},
        "html": {"use_repository_button": True},
        "latex": {"use_jupyterbook_latex": False},  # a PDF is not built
        "sphinx": {"recursive_update": True, "config": {
            "html_theme_options": {"navbar_persistent": []},  # one search field (the sidebar's), no header bar
            "extensions": EXTENSIONS,
            "html_static_path": [VENDORED],
            "html_css_files": ["book.css"],
            "mathjax_path": "mathjax/tex-svg.js",  # relative to _static: the vendored copy, not a CDN
            "nb_ipywidgets_js": {},  # no widget manager from a CDN (static_notebook drops the views)
            "html_show_search_summary": False,  # the summaries are fetched, which a file:// page may not do
        }},
    }


def toc(notebooks: list[Path]) -> dict:
    """The book's ``_toc.yml``: the landing page, the lectures in order, then the claims and the exercises."""
    return {"format": "jb-book", "root": "index", "parts": [
        {"caption": "Lectures", "chapters": [{"file": path.stem} for path in notebooks]},
        {"caption": "Course", "chapters": [{"file": page} for page in PAGES]},
    ]}


def write_sources(notebooks: list[Path], claims_md: Path, source: Path, status: dict[str, str] | None = None) -> None:
    """Write the book's sources into ``source``: config, table of contents, pages, the notebooks' static copies."""
    (source / VENDORED / "mathjax").mkdir(parents=True)
    shutil.copy(REVEAL / "mathjax" / "tex-svg.js", source / VENDORED / "mathjax" / "tex-svg.js")
    shutil.copy(TEMPLATES / "book.css", source / VENDORED / "book.css")
    shutil.copy(TEMPLATES / BADGE_IMAGE, source / BADGE_IMAGE)
    (source / "_config.yml").write_text(yaml.safe_dump(config(), sort_keys=False), encoding="utf-8")
    (source / "_toc.yml").write_text(yaml.safe_dump(toc(notebooks), sort_keys=False), encoding="utf-8")
    (source / "index.md").write_text(landing_page(notebooks, status), encoding="utf-8")
    (source / "claims.md").write_text(claims_page(claims_md.read_text(encoding="utf-8")), encoding="utf-8")
    (source / "exercises.md").write_text(exercises_page(notebooks), encoding="utf-8")
    for path in notebooks:
        nbformat.write(static_notebook(nbformat.read(path, as_version=4), path.stem), source / path.name)


def build(notebooks: list[Path], build_dir: Path, status: dict[str, str] | None = None) -> Path:
    """Build the book of the executed ``notebooks`` into ``build_dir/book/html/``; return its ``index.html``.

    The claims report is ``build_dir/claims.md`` (written by :func:`claims.write_report`). ``status``: this
    build's run time or failure per notebook, shown in the course map. Sphinx's warnings are printed; an
    error raises RuntimeError.
    """
    from jupyter_book.sphinx import build_sphinx  # Sphinx and its extensions load in a second or two

    source, html = build_dir / BOOK / "src", build_dir / SITE
    shutil.rmtree(build_dir / BOOK, ignore_errors=True)  # no page of an earlier build may linger
    write_sources(notebooks, build_dir / "claims.md", source, status)
    overrides = {"external_toc_path": str((source / "_toc.yml").resolve()), "latex_individualpages": False}
    with warnings.catch_warnings():  # sphinx-external-toc looks at every live object: torch's deprecated
        warnings.filterwarnings("ignore", message=".*reduce_op", category=FutureWarning)  # alias warns then
        result = build_sphinx(source, html, doctreedir=build_dir / BOOK / "doctrees", noconfig=True,
                              path_config=source / "_config.yml", confoverrides=overrides, freshenv=True, quiet=True)
    if result != 0:
        raise RuntimeError(f"the book did not build (Sphinx: {result})")
    return html / "index.html"
