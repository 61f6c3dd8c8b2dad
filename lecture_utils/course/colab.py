"""Google Colab: the one place that holds the repository URL, the badge and the setup cell.

Every notebook's first cell carries an "Open in Colab" badge pointing at its own file in the public
repository, and its second cell starts with a setup block that, on Colab only, gives the kernel the
whole course (a shallow clone of the repository in ``/content``, installed editable: the shipped
checkpoints and the seed spread come with it) and enables the ipywidgets manager; elsewhere it does
nothing. Both are written from here. The repository URL is one setting, ``Repository`` under ``[project.urls]`` in
``pyproject.toml`` (a fork changes that line); ``make sync`` (``python -m lecture_utils.course.colab
sync notebooks/*.ipynb``) then updates every notebook (idempotent: an up-to-date notebook is not
rewritten). ``check`` instead of ``sync`` only reports the notebooks that are out of date (exit 1).
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import nbformat

from .. import runtime
from . import cli

PACKAGE = "lecture-utils"  # the distribution name in pyproject.toml


def repository_url() -> str:
    """``[project.urls] Repository`` of pyproject.toml (the source tree), else of the installed package."""
    pyproject = runtime.REPO_ROOT / "pyproject.toml"
    if pyproject.is_file():
        urls = tomllib.loads(pyproject.read_text()).get("project", {}).get("urls", {})
    else:  # installed from a wheel (pip install from git): the same value, from the package metadata
        urls = dict(entry.split(", ", 1) for entry in metadata.metadata(PACKAGE).get_all("Project-URL") or [])
    if "Repository" not in urls:
        raise ValueError("pyproject.toml needs [project.urls] Repository = \"https://github.com/OWNER/NAME\"")
    return urls["Repository"].rstrip("/")


REPO_URL = repository_url()
BRANCH = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
CLONE_PARENT = "/content"  # Colab's working folder: the course is cloned into /content/NAME
SETUP_BEGIN = "# --- Colab setup (written by `make sync`; edit lecture_utils/course/colab.py) ---"
SETUP_END = "# --- end of Colab setup ---"
_SETUP_BEGIN_LINE = re.compile(r"^# --- Colab setup .*---$", re.MULTILINE)
_BADGE_LINE = re.compile(r"^.*colab-badge\.svg.*$", re.MULTILINE)


def colab_url(name: str) -> str:
    """URL that opens notebook ``name`` (e.g. ``03_gap_vs_flatten``) from the repository on Colab."""
    repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/notebooks/{Path(name).stem}.ipynb"


def badge(name: str, image: str = BADGE_IMAGE) -> str:
    """The markdown "Open in Colab" badge of notebook ``name`` (``image``: Colab's badge, or a local copy)."""
    return f"[![Open In Colab]({image})]({colab_url(name)})"


def with_badge_image(title_source: str, name: str, image: str) -> str:
    """``title_source`` with its badge showing ``image`` (the book uses a local file: it opens offline)."""
    return _BADGE_LINE.sub(lambda _: badge(name, image), title_source, count=1)


def clone_folder() -> str:
    """Where the setup cell clones the course on Colab: ``/content/NAME`` (NAME: the repository's)."""
    return f"{CLONE_PARENT}/{REPO_URL.rsplit('/', 1)[-1].removesuffix('.git')}"


def setup_block() -> str:
    """Source of the setup block. On Colab: a shallow clone of the repository and an editable install of
    it (the first run only), so that the shipped checkpoints, the seed spread and the photos' sources are
    there; the running kernel imports ``lecture_utils`` from the clone (an editable install reaches only
    kernels started after it); the widget manager is enabled. Elsewhere: nothing."""
    return "\n".join([
        SETUP_BEGIN,
        "import sys",
        "",
        'if "google.colab" in sys.modules:  # on Colab only: the whole course (checkpoints, seed spread), widgets',
        "    import os",
        "    import shutil",
        "    import subprocess",
        "",
        f'    course = "{clone_folder()}"',
        "    if not os.path.isdir(course):  # the first run only: clone, then install (editable)",
        f'        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", "{BRANCH}",',
        f'                        "{REPO_URL}", course], check=True)',
        "        try:",
        '            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", course], check=True)',
        "        except subprocess.CalledProcessError:",
        "            shutil.rmtree(course)  # so that running this cell again starts afresh",
        "            raise",
        "    if course not in sys.path:  # this kernel started before the install: import lecture_utils from the clone",
        "        sys.path.insert(0, course)",
        "    from google.colab import output",
        "",
        "    output.enable_custom_widget_manager()",
        SETUP_END,
    ])


def _with_badge(title_source: str, name: str) -> str:
    """Markdown of the first cell with its badge line replaced, or inserted after the title line."""
    if _BADGE_LINE.search(title_source):
        return _BADGE_LINE.sub(lambda _: badge(name), title_source, count=1)
    lines = title_source.split("\n")
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("#")), 0)
    return "\n".join(lines[:at] + [badge(name)] + lines[at:])


def is_setup_code(code: str) -> bool:
    """True if ``code`` is a setup cell written by ``sync`` (any wording of the begin marker)."""
    return bool(_SETUP_BEGIN_LINE.match(code))


def without_badge(title_source: str) -> str:
    """``title_source`` with its "Open in Colab" badge line removed (decks are offline: no remote image)."""
    return _BADGE_LINE.sub("", title_source).replace("\n\n\n", "\n\n")


def _setup_span(code: str) -> tuple[int, int] | None:
    """Start and end of the setup block in ``code`` (any earlier wording of the begin marker counts), or None."""
    begin = _SETUP_BEGIN_LINE.search(code)
    end = code.find(SETUP_END)
    return (begin.start(), end + len(SETUP_END)) if begin and end > begin.start() else None


def without_setup(code: str) -> str:
    """``code`` with its setup block removed (the book shows what a notebook does, not how Colab gets it)."""
    span = _setup_span(code)
    return code if span is None else (code[: span[0]] + code[span[1]:]).lstrip()


def _with_setup(code: str) -> str:
    """Code of the setup cell with the block between the markers replaced, or prepended."""
    span = _setup_span(code)
    if span is not None:
        return code[: span[0]] + setup_block() + code[span[1]:]
    return setup_block() + ("\n\n" + code if code.strip() else "")


def sync_notebook(nb: nbformat.NotebookNode, name: str) -> bool:
    """Write the badge into cell 1 and the setup block into cell 2 of ``nb``; True if anything changed.

    Cell 1 must be markdown (the title cell). If cell 2 is not a code cell, a setup cell is inserted.
    """
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        raise ValueError(f"notebook {name!r}: cell 1 must be the markdown title cell (title, badge, goals)")
    before = [cell.source for cell in nb.cells[:2]]
    nb.cells[0].source = _with_badge(nb.cells[0].source, name)
    if len(nb.cells) < 2 or nb.cells[1].cell_type != "code":
        nb.cells.insert(1, nbformat.v4.new_code_cell(""))
    nb.cells[1].source = _with_setup(nb.cells[1].source)
    return [cell.source for cell in nb.cells[:2]] != before


def problems(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """What is missing or stale in ``nb``'s badge (cell 1) and setup block (cell 2); empty when up to date."""
    found = []
    if not nb.cells or badge(name) not in nb.cells[0].source:
        found.append(f"{name}: cell 1 lacks the badge {badge(name)}")
    if len(nb.cells) < 2 or setup_block() not in nb.cells[1].source:
        found.append(f"{name}: cell 2 lacks the current setup block (run python -m lecture_utils.course.colab sync)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m lecture_utils.course.colab", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("sync", "check"))
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    stale = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.command == "sync":
            if sync_notebook(nb, path.stem):
                nbformat.write(nb, path)
                print(f"updated {path}")
        else:
            stale += problems(nb, path.stem)
    print("\n".join(stale) or f"{len(args.notebooks)} notebook(s) up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(cli.run(main, "python -m lecture_utils.course.colab"))
