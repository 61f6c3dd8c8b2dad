"""Build the course into ``build/``: executed notebooks with HTML and an index, the claims report, slides.

    python -m lecture_utils.course.build lectures [NOTEBOOK ...]   # make lectures
    python -m lecture_utils.course.build slides [NOTEBOOK ...]     # make slides

``lectures`` executes each notebook (all of ``notebooks/`` by default, sorted) in a fresh kernel whose
working directory is the notebook's folder, and writes ``build/NAME.ipynb`` and ``build/NAME.html``;
the notebooks themselves are read, never written. A failing notebook is reported and the others still
run; the exit status is 1 if any failed. Then ``build/index.html`` (the course map) and the claims
report ``build/claims.html`` / ``build/claims.md`` (from the claims the notebooks recorded).

``slides`` exports each notebook, as committed (with its outputs), to a reveal.js deck
``build/NAME.slides.html``, one slide per ``#``/``##`` heading (see :mod:`lecture_utils.course.slides`).
"""

from __future__ import annotations

import html
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter, SlidesExporter
from traitlets.config import Config

from .. import runtime
from . import claims, cli
from .slides import for_slides

CELL_TIMEOUT_S = 1800  # per cell; full mode trains for minutes in one cell
REVEAL = Path(__file__).with_name("reveal")  # reveal.js 4.6.1, jQuery, RequireJS, MathJax 3.2.2 (see README there)
TEMPLATES = Path(__file__).with_name("templates")  # nbconvert templates: course_slides (reveal), course_page (lab)
MATHJAX = {"extra_template_paths": [str(TEMPLATES / "offline_mathjax")],  # MathJax 3 (Apache-2.0) in REVEAL/mathjax
           "mathjax_url": f"{REVEAL.name}/mathjax/tex-svg.js"}  # relative to build/, where pages and decks are


@dataclass(frozen=True)
class Result:
    """How one notebook's execution went."""

    name: str
    title: str
    seconds: float
    ok: bool
    error: str = ""


def title(nb: nbformat.NotebookNode, default: str) -> str:
    """The text of the notebook's first markdown heading (``default`` if it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return default


def _error_summary(err: Exception) -> str:
    """``ZeroDivisionError: division by zero`` for a failing cell, else the exception's first line."""
    if isinstance(err, CellExecutionError):
        return f"{err.ename}: {err.evalue}"
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


# Encrypted kernel transport where jupyter_client supports it (8.10+; older versions ignore the setting):
# without it ipykernel >= 7.3 prints a warning about unencrypted TCP into the progress lines.
QUIET_KERNEL = Config({"KernelManager": {"transport_encryption": "auto"}})


def page_exporter() -> HTMLExporter:
    """nbconvert's HTML exporter (lab template), MathJax 3 from ``reveal/mathjax/`` next to the page (copy_mathjax)."""
    return HTMLExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="course_page", **MATHJAX)


def copy_mathjax(build_dir: Path) -> None:
    """Put the vendored MathJax where the pages of ``build_dir`` load it (``slides`` copies all of ``reveal/``)."""
    shutil.copytree(REVEAL / "mathjax", build_dir / REVEAL.name / "mathjax", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("README.md"))


def execute(path: Path, build_dir: Path, timeout: int = CELL_TIMEOUT_S) -> Result:
    """Execute notebook ``path`` into ``build_dir/NAME.ipynb`` and ``NAME.html`` (also when it fails).

    The kernel runs in the notebook's folder, with ``LECTURE_NOTEBOOK=NAME`` and
    ``LECTURE_CLAIMS_DIR=build_dir/claims`` so that :func:`lecture_utils.course.claims.record` reports here.
    """
    name = path.stem
    nb = nbformat.read(path, as_version=4)
    claims_dir = (build_dir / "claims").resolve()
    (claims_dir / f"{name}.jsonl").unlink(missing_ok=True)  # this run's claims only
    env = {**os.environ, "LECTURE_NOTEBOOK": name, "LECTURE_CLAIMS_DIR": str(claims_dir)}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", config=QUIET_KERNEL,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start, error = time.perf_counter(), ""
    try:
        client.execute(env=env)
    except Exception as err:  # a failing notebook must not stop the build of the others
        error = _error_summary(err)
    seconds = time.perf_counter() - start
    nbformat.write(nb, build_dir / f"{name}.ipynb")
    body, _ = page_exporter().from_notebook_node(nb)
    (build_dir / f"{name}.html").write_text(body, encoding="utf-8")
    return Result(name, title(nb, name), seconds, not error, error)


def index_page(results: list[Result]) -> str:
    """The course map: one row per notebook (title linking to its HTML, seconds, status)."""
    rows = "".join(
        f"<tr><td><a href='{html.escape(r.name)}.html'>{html.escape(r.title)}</a></td>"
        f"<td>{html.escape(r.name)}.ipynb</td><td>{r.seconds:.0f} s</td>"
        f"<td class='{'ok' if r.ok else 'failed'}'>{'ok' if r.ok else 'failed: ' + html.escape(r.error)}</td></tr>"
        for r in results
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Inside CNNs</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.ok{background:#d7f5dd}"
        ".failed{background:#fbd9d3}</style></head><body><h1>Inside CNNs: the executed course</h1>"
        f"<p>Built in {runtime.mode()} mode on {runtime.device()}. "
        "<a href='claims.html'>Lecture claims vs our measurements</a>.</p>"
        f"<table><tr><th>Notebook</th><th>File</th><th>Run time</th><th>Status</th></tr>{rows}</table>"
        "</body></html>\n"
    )


def lectures(notebooks: list[Path], build_dir: Path, timeout: int = CELL_TIMEOUT_S) -> int:
    """Execute ``notebooks`` into ``build_dir`` with progress, then the index and claims report; 0 if all ran."""
    build_dir.mkdir(parents=True, exist_ok=True)
    copy_mathjax(build_dir)
    print(f"Executing {len(notebooks)} notebook(s) in {runtime.mode()} mode into {build_dir}/", flush=True)
    results = []
    for i, path in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {path.stem} ...", end=" ", flush=True)
        result = execute(path, build_dir, timeout)
        print(f"{'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s"
              + (f" ({result.error})" if result.error else ""), flush=True)
        results.append(result)
    (build_dir / "index.html").write_text(index_page(results), encoding="utf-8")
    report = claims.gather(build_dir / "claims")
    claims.write_report(report, build_dir)
    print(f"Wrote {build_dir}/index.html and {build_dir}/claims.html ({claims.counts(report)})")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} notebook(s) failed: {', '.join(failed)}"
              f" (see {build_dir}/NAME.html for the traceback)")
    return 1 if failed else 0


def slides_exporter() -> SlidesExporter:
    """nbconvert's reveal.js exporter, offline: local reveal.js (``reveal/`` next to the deck), no prompts."""
    return SlidesExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="course_slides",
                          reveal_url_prefix=REVEAL.name, reveal_theme="white",
                          exclude_input_prompt=True, exclude_output_prompt=True, **MATHJAX)


def slides(notebooks: list[Path], build_dir: Path) -> int:
    """Export each notebook as committed to a reveal.js deck ``build_dir/NAME.slides.html``.

    reveal.js is copied to ``build_dir/reveal/``, so the decks open offline (and ``build/`` can be copied as is).
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REVEAL, build_dir / REVEAL.name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README.md"))
    exporter = slides_exporter()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for_slides(nb)  # in memory: the headings are the slides, whether or not tagging was run
        body, _ = exporter.from_notebook_node(nb)
        out = build_dir / f"{path.stem}.slides.html"
        out.write_text(body, encoding="utf-8")
        print(f"{out}  ({body.count('<section><section>')} slides)")
    return 0


def resolve(names: list[str], notebooks_dir: Path) -> list[Path]:
    """Notebook paths from command-line names (paths, or names in ``notebooks_dir``); all if none given."""
    if not names:
        found = sorted(notebooks_dir.glob("*.ipynb"))
        if not found:
            raise ValueError(f"no notebooks found in {notebooks_dir}")
        return found
    paths = []
    for name in names:
        path = Path(name) if Path(name).is_file() else notebooks_dir / f"{Path(name).stem}.ipynb"
        if not path.is_file():
            raise ValueError(f"notebook {name!r} not found (neither a file nor {path})")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m lecture_utils.course.build", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("lectures", "slides"))
    parser.add_argument("notebooks", nargs="*", help="notebook files or names (default: all in --notebooks-dir)")
    parser.add_argument("--notebooks-dir", type=Path, default=Path("notebooks"))
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S, help="seconds per cell (lectures)")
    args = parser.parse_args(argv)
    try:
        notebooks = resolve(args.notebooks, args.notebooks_dir)
    except ValueError as err:
        parser.error(str(err))
    if args.command == "lectures":
        return lectures(notebooks, args.build_dir, args.timeout)
    return slides(notebooks, args.build_dir)


if __name__ == "__main__":
    sys.exit(cli.run(main, "python -m lecture_utils.course.build"))
