"""The project's own files install and run everything: requirements, conda env, Makefile, CI."""

import os
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


def test_ci_runs_offline():
    """CI must prove the offline path: .ci/run disables downloads, and under CI the variable is seen."""
    assert re.search(r"^export LECTURE_OFFLINE=1$", (ROOT / ".ci" / "run").read_text(), re.M)
    if os.environ.get("CI"):
        from lecture_utils import runtime

        assert runtime.offline()
