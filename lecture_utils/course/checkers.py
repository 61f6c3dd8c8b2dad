"""Checkers that diagnose an exercise's answer, and the registry the exercise sets fill.

:func:`number_check` and :func:`choice_check` build checkers that recognise the typical mistakes (the
answer one gets by forgetting the bias, by counting per position, ...) and say which one it is. Each
module of ``exercise_sets/`` calls :func:`register`; :mod:`lecture_utils.course.exercises` is what a
notebook uses.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass

STATUS_LABELS = {"correct": "✅ correct", "wrong": "❌ not quite", "invalid": "⚠️ cannot check this answer",
                 "not attempted": "✏️ not attempted yet"}


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``correct``, ``wrong``, ``invalid`` (not checkable) or ``not attempted``."""

    status: str
    message: str

    def __post_init__(self):
        if self.status not in STATUS_LABELS:
            raise ValueError(f"status must be one of {', '.join(STATUS_LABELS)}, got {self.status!r}")

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        return f"{STATUS_LABELS[self.status]}: {self.message}"


@dataclass(frozen=True)
class Exercise:
    """One exercise: a stable id (``NN.name``), its notebook, the question, a checker and hints."""

    id: str
    notebook: str
    prompt: str
    check: Callable[[object], Feedback]
    hints: tuple[str, ...] = ()


REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to the registry (re-registering the same id for the same notebook replaces it)."""
    known = REGISTRY.get(exercise.id)
    if known is not None and known.notebook != exercise.notebook:
        raise ValueError(f"exercise id {exercise.id!r} is already used by notebook {known.notebook!r}")
    REGISTRY[exercise.id] = exercise
    return exercise


def as_number(answer) -> float | None:
    """``answer`` as a float if it is a real number (int, float, NumPy or 0-d torch scalar), else None."""
    if hasattr(answer, "item") and getattr(answer, "ndim", None) == 0:
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, numbers.Real) or math.isnan(answer):
        return None
    return float(answer)


def _show(value: float) -> str:
    """18496.0 -> '18,496'; 3.8227 -> '3.823'."""
    return f"{int(value):,}" if value.is_integer() else f"{value:,.4g}"


def number_check(expected: float, mistakes: Mapping[float, str] | None = None, *, why: str = "",
                 rel_tol: float = 0.0, unit: str = "", also_correct: Mapping[float, str] | None = None
                 ) -> Callable[[object], Feedback]:
    """A checker for a numeric answer; ``why`` (the worked formula) is shown with a correct answer.

    ``mistakes`` maps the value a typical mistake produces to its diagnosis; ``also_correct`` maps
    accepted variants (another convention) to a remark. Values match within ``rel_tol`` (relative).
    """
    def close(a: float, b: float) -> bool:
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9)

    def check(answer) -> Feedback:
        value = as_number(answer)
        if value is None:
            return Feedback("invalid", f"expected a number{f' ({unit})' if unit else ''}, got "
                                       f"{type(answer).__name__} {answer!r}.")
        if close(value, expected):
            return Feedback("correct", f"{_show(value)} {unit}".strip() + (f": {why}" if why else "."))
        for variant, remark in (also_correct or {}).items():
            if close(value, variant):
                return Feedback("correct", remark)
        for wrong, diagnosis in (mistakes or {}).items():
            if close(value, wrong):
                return Feedback("wrong", diagnosis)
        direction = "too large" if value > expected else "too small"
        return Feedback("wrong", f"{_show(value)} is {direction}; try the formula term by term (or ask for a hint).")

    return check


def choice_check(expected: str, options: Mapping[str, str], aliases: Mapping[str, str] | None = None
                 ) -> Callable[[object], Feedback]:
    """A checker for a choice among ``options`` (option -> explanation shown when it is chosen).

    The answer is compared case-insensitively after mapping ``aliases`` (e.g. ``"cnn-gap" -> "gap"``).
    """
    if expected not in options:
        raise ValueError(f"expected={expected!r} must be one of the options {list(options)}")

    def check(answer) -> Feedback:
        if not isinstance(answer, str):
            return Feedback("invalid", f"answer with one of {', '.join(map(repr, options))}, got {answer!r}.")
        key = answer.strip().lower()
        key = (aliases or {}).get(key, key)
        if key not in options:
            return Feedback("invalid", f"{answer!r} is not one of {', '.join(map(repr, options))}.")
        return Feedback("correct" if key == expected else "wrong", options[key])

    return check
