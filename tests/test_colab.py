"""The Colab badge and setup block: one URL, in every notebook, written by ``colab sync``."""

import sys
from pathlib import Path

import nbformat
import pytest

from lecture_utils.course import colab

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_urls_come_from_repo_url():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert colab.REPO_URL == pyproject["project"]["urls"]["Repository"] == "https://github.com/inside-cnns/inside-cnns"
    assert colab.colab_url("03_gap_vs_flatten") == (
        "https://colab.research.google.com/github/inside-cnns/inside-cnns/blob/main/notebooks/03_gap_vs_flatten.ipynb")
    assert colab.colab_url("notebooks/03_gap_vs_flatten.ipynb") == colab.colab_url("03_gap_vs_flatten")
    assert f"git+{colab.REPO_URL}@main" in colab.setup_block()
    assert '"lecture-utils @ git+' in colab.setup_block()


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
    assert "git+https://github.com/someone/fork" in nb.cells[1].source
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


def test_setup_block_installs_and_enables_widgets_on_colab(monkeypatch):
    import types

    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("widgets"))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(output=output))
    monkeypatch.setattr("subprocess.run", lambda cmd, check: calls.append(cmd))
    exec(colab.setup_block(), {})
    assert calls == [[sys.executable, "-m", "pip", "install", "-q",
                      f"lecture-utils @ git+{colab.REPO_URL}@main"], "widgets"]
