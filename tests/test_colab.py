"""The Colab badge and setup block: one URL, in every notebook, written by ``colab sync``; the setup cell run
as on Colab (a fresh environment, the repository a local git URL) loads the shipped checkpoints."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from lecture_utils.course import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_urls_come_from_repo_url():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert colab.REPO_URL == pyproject["project"]["urls"]["Repository"] == "https://github.com/inside-cnns/inside-cnns"
    assert colab.colab_url("03_gap_vs_flatten") == (
        "https://colab.research.google.com/github/inside-cnns/inside-cnns/blob/main/notebooks/03_gap_vs_flatten.ipynb")
    assert colab.colab_url("notebooks/03_gap_vs_flatten.ipynb") == colab.colab_url("03_gap_vs_flatten")
    assert colab.clone_folder() == "/content/inside-cnns"
    clone = f'"git", "clone", "--quiet", "--depth", "1", "--branch", "main",\n{" " * 24}"{colab.REPO_URL}", course]'
    assert clone in colab.setup_block()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_has_badge_and_setup(path):
    nb = nbformat.read(path, as_version=4)
    assert colab.problems(nb, path.stem) == []
    assert colab.badge(path.stem) in nb.cells[0].source and nb.cells[0].cell_type == "markdown"
    assert colab.REPO_URL in nb.cells[1].source and nb.cells[1].cell_type == "code"


def _notebook():
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 09 Demo\n\nGoals: learn things."),
        nbformat.v4.new_code_cell("from lecture_utils.course import describe\n\ndescribe()"),
        nbformat.v4.new_markdown_cell("## Section"),
    ])


def test_sync_inserts_then_is_idempotent(tmp_path):
    path = tmp_path / "09_demo.ipynb"
    nbformat.write(_notebook(), path)
    assert colab.main(["check", str(path)]) == 1
    assert colab.main(["sync", str(path)]) == 0
    first = path.read_bytes()
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].source.split("\n") == ["# 09 Demo", colab.badge("09_demo"), "", "Goals: learn things."]
    assert nb.cells[1].source == colab.setup_block() + "\n\nfrom lecture_utils.course import describe\n\ndescribe()"
    assert len(nb.cells) == 3
    assert colab.main(["sync", str(path)]) == 0
    assert path.read_bytes() == first
    assert colab.main(["check", str(path)]) == 0


def test_sync_replaces_stale_badge_and_block(monkeypatch):
    nb = _notebook()
    colab.sync_notebook(nb, "09_demo")
    monkeypatch.setattr(colab, "REPO_URL", "https://github.com/someone/fork")
    assert colab.problems(nb, "09_demo") != []
    assert colab.sync_notebook(nb, "09_demo") is True
    assert nb.cells[0].source.count("colab-badge.svg") == 1 and "someone/fork" in nb.cells[0].source
    assert nb.cells[1].source.count(colab.SETUP_BEGIN) == 1
    assert '"https://github.com/someone/fork", course]' in nb.cells[1].source
    assert 'course = "/content/fork"' in nb.cells[1].source
    assert nb.cells[1].source.endswith("describe()")
    assert colab.sync_notebook(nb, "09_demo") is False


def test_sync_replaces_a_block_whose_marker_was_worded_differently():
    nb = _notebook()
    colab.sync_notebook(nb, "09_demo")
    old_marker = "# --- Colab setup (written by `python -m lecture_utils.colab sync`; edit lecture_utils/colab.py) ---"
    nb.cells[1].source = nb.cells[1].source.replace(colab.SETUP_BEGIN, old_marker)
    assert colab.sync_notebook(nb, "09_demo") is True
    assert nb.cells[1].source.count("# --- Colab setup") == 1 and old_marker not in nb.cells[1].source
    assert nb.cells[1].source.count(colab.SETUP_END) == 1


def test_sync_inserts_setup_cell_when_cell_2_is_markdown():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_markdown_cell("x")])
    colab.sync_notebook(nb, "t")
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "markdown"]
    assert nb.cells[1].source == colab.setup_block()


def test_sync_rejects_notebook_without_title_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    with pytest.raises(ValueError, match="cell 1 must be the markdown title cell"):
        colab.sync_notebook(nb, "x")


def test_setup_block_does_nothing_off_colab(monkeypatch):
    calls = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: calls.append(a))
    assert "google.colab" not in sys.modules
    exec(colab.setup_block(), {})
    assert calls == []


@pytest.fixture
def on_colab(monkeypatch, tmp_path):
    """``google.colab`` stubbed (enabling the widget manager is recorded), the clone going to tmp_path, and
    subprocess.run recorded (a git clone creates its folder, like git)."""
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("widgets"))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(output=output))
    monkeypatch.setattr(colab, "CLONE_PARENT", str(tmp_path))
    monkeypatch.setattr(sys, "path", list(sys.path))

    def run(cmd, check):
        calls.append(cmd)
        if cmd[:2] == ["git", "clone"]:
            Path(cmd[-1]).mkdir()

    monkeypatch.setattr("subprocess.run", run)
    return calls


def test_setup_block_clones_installs_and_enables_widgets_once(on_colab, tmp_path):
    course = str(tmp_path / "inside-cnns")
    exec(colab.setup_block(), {})
    assert on_colab == [["git", "clone", "--quiet", "--depth", "1", "--branch", "main", colab.REPO_URL, course],
                        [sys.executable, "-m", "pip", "install", "-q", "-e", course], "widgets"]
    assert sys.path[0] == course  # this kernel imports lecture_utils from the clone
    exec(colab.setup_block(), {})  # run again: no clone, no install, the path added once
    assert on_colab[3:] == ["widgets"] and sys.path.count(course) == 1


def test_setup_block_removes_the_clone_when_the_install_fails(on_colab, tmp_path, monkeypatch):
    def run(cmd, check):
        on_colab.append(cmd)
        if cmd[:2] == ["git", "clone"]:
            Path(cmd[-1]).mkdir()
        else:
            raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr("subprocess.run", run)
    with pytest.raises(subprocess.CalledProcessError):
        exec(colab.setup_block(), {})
    assert not (tmp_path / "inside-cnns").exists()  # running the cell again starts afresh


def test_without_setup_and_local_badge():
    nb = _notebook()
    colab.sync_notebook(nb, "09_demo")
    assert colab.without_setup(nb.cells[1].source) == "from lecture_utils.course import describe\n\ndescribe()"
    assert colab.without_setup("x = 1") == "x = 1"
    local = colab.with_badge_image(nb.cells[0].source, "09_demo", "colab-badge.svg")
    assert f"[![Open In Colab](colab-badge.svg)]({colab.colab_url('09_demo')})" in local.split("\n")
    assert colab.problems(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(local)]), "09_demo")[0] \
        .startswith("09_demo: cell 1 lacks the badge")


# Run in the fresh environment's Python as a Colab kernel would: google.colab stubbed, then the cells in order.
KERNEL = """
import json, sys, types
calls = []
colab = types.ModuleType("google.colab")
colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("widgets"))
sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = colab
namespace = {}
for source in json.load(open(sys.argv[1])):
    exec(compile(source, "<cell>", "exec"), namespace)
import lecture_utils
from lecture_utils import runtime
print("widget manager enabled", len(calls), "time(s); lecture_utils from", lecture_utils.__file__,
      "; REPO_ROOT", runtime.REPO_ROOT)
"""


@pytest.mark.slow
def test_setup_cell_on_a_fresh_colab_loads_the_shipped_checkpoint(tmp_path, monkeypatch):
    """The repository a bare clone of this one (a local git URL); a fresh Python environment whose only
    packages are the ones Colab brings (here: this checkout's virtual environment, by a .pth line, without
    its lecture_utils); notebook 00 as committed: its setup cell (twice) and its cells up to the first model."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(origin)], check=True)
    monkeypatch.setattr(colab, "REPO_URL", origin.as_uri())
    monkeypatch.setattr(colab, "CLONE_PARENT", str(tmp_path / "content"))
    course = Path(colab.clone_folder())
    committed = subprocess.run(["git", "--git-dir", str(origin), "show", "HEAD:notebooks/00_start_here.ipynb"],
                               check=True, capture_output=True, text=True).stdout
    code = [cell.source for cell in nbformat.reads(committed, as_version=4).cells if cell.cell_type == "code"]
    first_model = next(i for i, source in enumerate(code) if "training.cached(" in source)
    setup = colab.setup_block() + "\n\n" + colab.without_setup(code[0])
    (tmp_path / "cells.json").write_text(json.dumps([setup, setup] + code[1:first_model + 1]))
    (tmp_path / "kernel.py").write_text(KERNEL)

    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "colab_packages.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LECTURE_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(LECTURE_OFFLINE="1", MPLBACKEND="Agg", PIP_NO_INDEX="1",
               PIP_NO_BUILD_ISOLATION="0")  # pip's "0": off; the build uses the environment's setuptools
    python = str(venv / "bin" / "python")
    (tmp_path / "content").mkdir()  # Colab's working folder
    ran = subprocess.run([python, str(tmp_path / "kernel.py"), str(tmp_path / "cells.json")], cwd=tmp_path / "content",
                         env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    printed = ran.stdout
    assert "start_here: loaded the shipped checkpoint data/checkpoints/start_here-" in printed, printed
    assert "trained in" not in printed
    assert printed.count("mode      fast") == 2  # the setup cell ran twice (the second time clones nothing)
    assert (f"widget manager enabled 2 time(s); lecture_utils from {course / 'lecture_utils' / '__init__.py'} "
            f"; REPO_ROOT {course}") in printed
    assert (course / "data" / "seed_spread.csv").is_file() and (course / "data" / "checkpoints").is_dir()
    installed = subprocess.run([python, "-c", "import lecture_utils; print(lecture_utils.__file__)"], env=env,
                               capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert installed.strip() == str(course / "lecture_utils" / "__init__.py")  # a restarted kernel: the clone too
