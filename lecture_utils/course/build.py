"""Build the course into ``build/``: the executed notebooks, the course book, the claims report, slides.

    python -m lecture_utils.course.build lectures [NOTEBOOK ...]   # make lectures
    python -m lecture_utils.course.build book [NOTEBOOK ...]       # the book again, from the executed copies
    python -m lecture_utils.course.build slides [NOTEBOOK ...]     # make slides

``lectures`` executes each notebook (all of ``notebooks/`` by default, sorted) in a fresh kernel whose
working directory is the notebook's folder, and writes the executed copy ``build/NAME.ipynb``; the
notebooks themselves are read, never written. A failing notebook is reported and the others still run;
the exit status is 1 if any failed. Then the claims report ``build/claims.html`` / ``build/claims.md``
(from the claims the notebooks recorded) and the course book of the executed copies,
``build/book/html/index.html`` (see :mod:`lecture_utils.course.book`). ``book`` rebuilds the report and the
book from executed copies without executing anything (by default every ``build/NN_*.ipynb``).

``slides`` exports each notebook, as committed (with its outputs), to a reveal.js deck
``build/NAME.slides.html``, one slide per ``#``/``##`` heading (see :mod:`lecture_utils.course.slides`).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import SlidesExporter
from traitlets.config import Config

from .. import runtime
from . import book, claims, cli
from .book import title
from .slides import for_slides

EXECUTED = "[0-9][0-9]_*.ipynb"  # the executed copies of the lectures in build/ (the book's sources are elsewhere)
CELL_TIMEOUT_S = 1800  # per cell; full mode trains for minutes in one cell
REVEAL = Path(__file__).with_name("reveal")  # reveal.js 4.6.1, jQuery, RequireJS, MathJax 3.2.2 (see README there)
TEMPLATES = Path(__file__).with_name("templates")  # course_slides: nbconvert's reveal template, offline
MATHJAX = {"extra_template_paths": [str(TEMPLATES / "offline_mathjax")],  # MathJax 3 (Apache-2.0) in REVEAL/mathjax
           "mathjax_url": f"{REVEAL.name}/mathjax/tex-svg.js"}  # relative to build/, where the decks are


@dataclass(frozen=True)
class Result:
    """How one notebook's execution went."""

    name: str
    title: str
    seconds: float
    ok: bool
    error: str = ""


def _error_summary(err: Exception) -> str:
    """``ZeroDivisionError: division by zero`` for a failing cell, else the exception's first line."""
    if isinstance(err, CellExecutionError):
        return f"{err.ename}: {err.evalue}"
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


# Encrypted kernel transport where jupyter_client supports it (8.10+; older versions ignore the setting):
# without it ipykernel >= 7.3 prints a warning about unencrypted TCP into the progress lines.
QUIET_KERNEL = Config({"KernelManager": {"transport_encryption": "auto"}})


def execute(path: Path, build_dir: Path, timeout: int = CELL_TIMEOUT_S) -> Result:
    """Execute notebook ``path`` into ``build_dir/NAME.ipynb`` (also when it fails: the error is in its cell).

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
    return Result(name, title(nb, name), seconds, not error, error)


def report_and_book(executed: list[Path], build_dir: Path, status: dict[str, str] | None = None) -> Path:
    """The claims report (``build_dir/claims.html`` and ``.md``) and the book of the ``executed`` notebooks."""
    report = claims.gather(build_dir / "claims")
    claims.write_report(report, build_dir)
    start = time.perf_counter()
    index = book.build(executed, build_dir, status)
    print(f"Wrote {build_dir}/claims.html ({claims.counts(report)}) and the course book in "
          f"{time.perf_counter() - start:.0f} s: open {index}", flush=True)
    return index


def _status(result: Result) -> str:
    """How a notebook's run went, for the book's course map: ``ok, 15 s`` or ``failed after 3 s: NameError: ...``."""
    return f"ok, {result.seconds:.0f} s" if result.ok else f"failed after {result.seconds:.0f} s: {result.error}"


def lectures(notebooks: list[Path], build_dir: Path, timeout: int = CELL_TIMEOUT_S) -> int:
    """Execute ``notebooks`` into ``build_dir`` with progress, then the claims report and the book; 0 if all ran."""
    build_dir.mkdir(parents=True, exist_ok=True)
    print(f"Executing {len(notebooks)} notebook(s) in {runtime.mode()} mode into {build_dir}/", flush=True)
    results = []
    for i, path in enumerate(notebooks, start=1):
        print(f"[{i}/{len(notebooks)}] {path.stem} ...", end=" ", flush=True)
        result = execute(path, build_dir, timeout)
        print(f"{'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s"
              + (f" ({result.error})" if result.error else ""), flush=True)
        results.append(result)
    report_and_book([build_dir / f"{r.name}.ipynb" for r in results], build_dir, {r.name: _status(r) for r in results})
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} notebook(s) failed: {', '.join(failed)}"
              f" (see {build_dir}/{book.SITE}/NAME.html for the traceback)")
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


def resolve(names: list[str], notebooks_dir: Path, pattern: str = "*.ipynb") -> list[Path]:
    """Notebook paths from command-line names (paths, or names in ``notebooks_dir``); all that match
    ``pattern`` there if none given."""
    if not names:
        found = sorted(notebooks_dir.glob(pattern))
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
    parser.add_argument("command", choices=("lectures", "book", "slides"))
    parser.add_argument("notebooks", nargs="*", help="notebook files or names (default: all in --notebooks-dir; "
                                                     "book: the executed copies NN_*.ipynb in --build-dir)")
    parser.add_argument("--notebooks-dir", type=Path, default=Path("notebooks"))
    parser.add_argument("--build-dir", type=Path, default=Path("build"))
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT_S, help="seconds per cell (lectures)")
    args = parser.parse_args(argv)
    try:
        notebooks = (resolve(args.notebooks, args.build_dir, EXECUTED) if args.command == "book"
                     else resolve(args.notebooks, args.notebooks_dir))
    except ValueError as err:
        parser.error(str(err))
    if args.command == "lectures":
        return lectures(notebooks, args.build_dir, args.timeout)
    if args.command == "book":
        report_and_book(notebooks, args.build_dir)
        return 0
    return slides(notebooks, args.build_dir)


if __name__ == "__main__":
    sys.exit(cli.run(main, "python -m lecture_utils.course.build"))
