"""The project's own files install and run everything: requirements, conda env, Makefile, CI."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines(lines) -> dict[str, str]:
    """{package name: version range} of requirement strings, comments skipped."""
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, spec = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", line).groups()
            out[name.lower()] = spec.replace(" ", "")
    return out


def test_environment_yml_lists_the_same_packages_as_requirements():
    reqs = requirement_lines((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert requirement_lines(pip_section) == reqs


def test_no_exact_pins_that_would_reinstall_torch_on_colab():
    reqs = requirement_lines((ROOT / "requirements.txt").read_text().splitlines())
    assert not [name for name, spec in reqs.items() if "==" in spec]
    assert reqs["torch"].startswith(">=") and reqs["torchvision"].startswith(">=")


def test_runtime_dependencies_of_the_package_are_in_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = requirement_lines((ROOT / "requirements.txt").read_text().splitlines())
    assert requirement_lines(project["dependencies"]).items() <= reqs.items()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lectures" in readme
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lectures", "test", "test-full", "lab", "slides", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_ci_runs_offline(monkeypatch):
    """CI proves the offline path: .ci/run disables downloads before it calls the test command. (Not
    "CI=true implies offline": services that set CI=true and call `make test` directly are online.)"""
    run = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export LECTURE_OFFLINE=1$", run, re.M)
    assert run.index("export LECTURE_OFFLINE=1") < run.index("make test")
    from lecture_utils import runtime

    monkeypatch.setenv("LECTURE_OFFLINE", "1")
    assert runtime.offline()
