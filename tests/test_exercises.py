"""Exercises: every reference solution passes its checker, every blank answer is "not attempted",
wrong answers get their specific diagnosis, and no student input makes ``check`` raise."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from lecture_utils.course import checkers, exercises
from lecture_utils.course.exercises import Exercise, Feedback, choice_check, number_check

SOLUTIONS_DIR = Path(__file__).parent / "solutions"


def _solutions() -> dict:
    found = {}
    for path in sorted(SOLUTIONS_DIR.glob("nb*.py")):
        spec = importlib.util.spec_from_file_location(f"solutions_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update(module.SOLUTIONS)
    return found


SOLUTIONS = _solutions()
IDS = [e.id for e in exercises.all_exercises()]


def test_every_exercise_has_a_solution_and_hints():
    assert sorted(IDS) == sorted(SOLUTIONS)
    assert {"02_counting", "03_gap_vs_flatten"} <= {e.notebook for e in exercises.all_exercises()}
    assert len(exercises.for_notebook("02_counting")) == 4 and len(exercises.for_notebook("03_gap_vs_flatten")) == 4
    assert all(e.hints and e.id.startswith(e.notebook[:2] + ".") for e in exercises.all_exercises())


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_solution_passes(exercise_id, capsys):
    result = exercises.feedback(exercise_id, SOLUTIONS[exercise_id])
    assert result.status == "correct", result.message
    exercises.check(exercise_id, SOLUTIONS[exercise_id])
    assert capsys.readouterr().out.startswith(f"[{exercise_id}] ✅ correct")


@pytest.mark.parametrize("blank", [..., None])
@pytest.mark.parametrize("exercise_id", IDS)
def test_blank_answer_is_not_attempted(exercise_id, blank, capsys):
    exercises.check(exercise_id, blank)
    out = capsys.readouterr().out
    assert "not attempted yet" in out and f'exercises.hint("{exercise_id}")' in out


@pytest.mark.parametrize("answer", ["18496", [1, 2], {"a": 1}, float("nan"), True, torch.ones(3), object()])
@pytest.mark.parametrize("exercise_id", IDS)
def test_odd_answers_never_raise(exercise_id, answer):
    assert exercises.feedback(exercise_id, answer).status in ("invalid", "wrong")


@pytest.mark.parametrize(("exercise_id", "answer", "diagnosis"), [
    ("01.dense_channels", 256, "the block's output"),
    ("01.dense_channels", 160, "you left out the block's input"),
    ("01.compound_flops", (1.2 * 1.1 * 1.15) ** 2, "quadratically with width"),
    ("01.compound_flops", 1.92, "raised to the power"),
    ("01.fc_kernel", 12, "pool3 halves it"),
    ("01.fc_kernel", 128, "the depth of each filter"),
    ("01.heatmap_width", 8, "you forgot the first window"),
    ("01.heatmap_width", 65, "stride of 1"),
    ("02.conv2_params", 18_432, "you forgot the bias"),
    ("02.conv2_params", 18_432 + 64 * 29 * 29, "once per output position"),
    ("02.conv2_params", 18_496 * 29 * 29, "locally connected"),
    ("02.conv2_params", 640, "spans all 32 input channels"),
    ("02.conv2_macs", 31_002_624, "that is FLOPs"),
    ("02.conv2_macs", 31 * 31 * 64 * 288, "you used the input size 31x31"),
    ("02.receptive_field", 7, "you ignored the pooling layers"),
    ("02.receptive_field", 15, "each 2x2 pooling window widens the field"),
    ("02.flatten_classifier_params", 1_179_712, "pool3 halves it"),
    ("03.which_fails", "GAP", "GAP is the robust one"),
    ("03.which_fails", "both", "only the head differs"),
    ("03.gap_params", 128, "an average has nothing to learn"),
    ("03.gap_head_params", 8_256, "add the output layer"),
    ("03.gap_head_params", 8_832, "you forgot the biases"),
    ("03.gap_head_params", 295_626, "CNN-flatten's head"),
    ("03.param_ratio", 0.26, "inverted"),
])
def test_wrong_answers_get_their_diagnosis(exercise_id, answer, diagnosis):
    result = exercises.feedback(exercise_id, answer)
    assert result.status == "wrong" and diagnosis in result.message


def test_answer_types_and_conventions():
    assert exercises.feedback("02.conv2_params", np.int64(18_496))
    assert exercises.feedback("02.conv2_params", torch.tensor(18_496))
    assert exercises.feedback("02.conv2_params", 18_496.0)
    assert exercises.feedback("03.which_fails", " CNN-Flatten ")
    variant = exercises.feedback("02.conv2_macs", 15_501_312 + 53_824)
    assert variant.status == "correct" and "bias additions" in variant.message
    rounded = exercises.feedback("01.compound_flops", 4)
    assert rounded.status == "correct" and "rounded rule" in rounded.message and "3.69" in rounded.message
    unknown = exercises.feedback("02.conv2_params", 20_000)
    assert unknown.status == "wrong" and "20,000 is too large" in unknown.message
    assert "expected a number" in exercises.feedback("02.conv2_params", "18496").message
    assert "not one of" in exercises.feedback("03.which_fails", "the big one").message


def test_hints_are_revealed_one_by_one(monkeypatch, capsys):
    monkeypatch.setattr(exercises, "_hints_shown", {})
    hints = exercises.get("02.conv2_params").hints
    for _ in range(3):
        exercises.hint("02.conv2_params")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"[02.conv2_params] hint 1/2: {hints[0]}"
    assert out[1] == f"[02.conv2_params] hint 2/2: {hints[1]}"
    assert out[2] == "[02.conv2_params] all hints:" and out[3] == f"  1. {hints[0]}"


def test_author_errors_raise(monkeypatch):
    monkeypatch.setattr(checkers, "REGISTRY", dict(checkers.REGISTRY))
    with pytest.raises(ValueError, match="unknown exercise id '99.nope'"):
        exercises.check("99.nope", 1)
    with pytest.raises(ValueError, match="already used by notebook '02_counting'"):
        exercises.register(Exercise("02.conv2_params", "05_other", "?", number_check(1)))
    exercises.register(Exercise("99.bad", "99_x", "?", lambda answer: True))
    with pytest.raises(TypeError, match="returned bool, not Feedback"):
        exercises.feedback("99.bad", 1)
    with pytest.raises(ValueError, match="expected='c' must be one of the options"):
        choice_check("c", {"a": "", "b": ""})
    with pytest.raises(ValueError, match="status must be one of"):
        Feedback("maybe", "")


def test_a_crashing_checker_is_reported_not_raised(monkeypatch):
    monkeypatch.setattr(checkers, "REGISTRY", dict(checkers.REGISTRY))

    def fragile(answer):
        return Feedback("correct" if answer["x"] == 1 else "wrong", "")

    exercises.register(Exercise("99.fragile", "99_x", "?", fragile))
    result = exercises.feedback("99.fragile", 5)
    assert result.status == "invalid" and "TypeError" in result.message
