"""Every `python -m lecture_utils...` command line: an expected failure is one line naming what failed and
what to do, on stderr, with exit status 2 and no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "fetch offline": (["lecture_utils.data", "fetch", "cifar10"], "could not download cifar10"),
    "fetch unknown": (["lecture_utils.data", "fetch", "imagenet"], "unknown data set(s) imagenet; choose from"),
    "fetch usage": (["lecture_utils.data"], "usage: python -m lecture_utils.data fetch"),
    "build unknown notebook": (["lecture_utils.course.build", "lectures", "99_nothing"],
                               "notebook '99_nothing' not found"),
    "build unknown command": (["lecture_utils.course.build", "lecturez"], "invalid choice: 'lecturez'"),
    "checkpoints unknown notebook": (["lecture_utils.course.checkpoints", "build", "99_nothing"],
                                     "notebook '99_nothing' not found"),
    "spread one seed": (["lecture_utils.course.spread", "03_gap_vs_flatten", "--seeds", "1"],
                        "--seeds needs at least two non-negative seeds"),
    "colab missing file": (["lecture_utils.course.colab", "check", "missing.ipynb"],
                           "No such file or directory: 'missing.ipynb'"),
    "slides missing file": (["lecture_utils.course.slides", "tag", "missing.ipynb"],
                            "No such file or directory: 'missing.ipynb'"),
    "bench no notebooks": (["lecture_utils.course.bench", "--notebooks", "nowhere"], "no notebooks in nowhere"),
}


@pytest.mark.parametrize("case", CASES)
def test_expected_failures_are_one_line_with_status_2(case, tmp_path):
    args, expected = CASES[case]
    env = {**os.environ, "LECTURE_OFFLINE": "1", "LECTURE_DATA": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in lines[0]


def test_fetch_offline_says_what_to_do(tmp_data, monkeypatch):
    from lecture_utils import data

    monkeypatch.setenv("LECTURE_OFFLINE", "1")
    with pytest.raises(data.DataUnavailableError, match="connect to the internet .* and run this command again"):
        data.fetch(["mnist"])
