"""The package's shape: teaching modules at lecture_utils.<topic>, machinery in lecture_utils.course, and an
import graph without cycles (imports inside functions count too)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lecture_utils"


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its body (ast walk: lazy imports too)."""
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = ".".join(base[: len(base) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module or ""
                targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):  # a parent package is no cycle
                    deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_import_graph_has_no_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_lazy_cycles(tmp_path):
    pkg = tmp_path / "lecture_utils"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    assert cycles(import_graph(pkg)) == [["lecture_utils.a", "lecture_utils.b", "lecture_utils.a"]]


def test_teaching_modules_never_import_the_machinery():
    graph = import_graph()
    teaching = [m for m in graph if not m.startswith("lecture_utils.course") and m != "lecture_utils"]
    assert {"lecture_utils.runtime", "lecture_utils.data", "lecture_utils.training", "lecture_utils.models"} <= set(
        teaching)
    offenders = {m: sorted(d for d in graph[m] if d.startswith("lecture_utils.course")) for m in teaching}
    assert {m: d for m, d in offenders.items() if d} == {}


@pytest.mark.parametrize("module", ["build", "bench", "slides", "colab", "claims", "exercises", "checkpoints"])
def test_machinery_lives_in_the_course_subpackage(module):
    assert (PACKAGE / "course" / f"{module}.py").is_file()
    assert not (PACKAGE / f"{module}.py").exists()


def test_runtime_imports_nothing_of_the_package():
    assert import_graph()["lecture_utils.runtime"] == set()
