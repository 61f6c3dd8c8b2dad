"""Exercises with feedback: a registry of exercises per notebook, checkers that diagnose, hints.

In a notebook::

    answer = ...  # parameters of conv2: your number here
    exercises.check("02.conv2_params", answer)
    exercises.hint("02.conv2_params")  # one more hint per call

``check`` prints "not attempted yet" for the blank answer (``...`` or ``None``) and never raises for a
student's answer: a wrong type is feedback too. A checker returns :class:`Feedback`; the helpers
:func:`number_check` and :func:`choice_check` (in :mod:`.checkers`) build checkers that recognise the typical mistakes
(the answer one gets by forgetting the bias, by counting per position, ...) and say which one it is.

Exercise sets live in ``lecture_utils/course/exercise_sets/`` (one module per notebook, loaded on first use);
their reference solutions live outside the package, in ``tests/solutions/``, and a test runs every one
of them through its checker.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import checkers
from .checkers import (  # noqa: F401  (re-exported for notebooks and tests)
    Exercise,
    Feedback,
    as_number,
    choice_check,
    number_check,
    register,
)

BLANK = (None, ...)
_hints_shown: dict[str, int] = {}  # exercise id -> hints revealed so far in this kernel


def _load_sets() -> None:
    """Import every module of ``lecture_utils.course.exercise_sets`` (each registers its exercises)."""
    from . import exercise_sets

    for module in pkgutil.iter_modules(exercise_sets.__path__):
        importlib.import_module(f"{exercise_sets.__name__}.{module.name}")


def get(exercise_id: str) -> Exercise:
    """The registered exercise ``exercise_id``; ValueError listing the known ids otherwise."""
    _load_sets()
    if exercise_id not in checkers.REGISTRY:
        raise ValueError(f"unknown exercise id {exercise_id!r}; known: {', '.join(sorted(checkers.REGISTRY))}")
    return checkers.REGISTRY[exercise_id]


def for_notebook(notebook: str) -> list[Exercise]:
    """The exercises of ``notebook`` (e.g. ``02_counting``), in registration order."""
    _load_sets()
    return [e for e in checkers.REGISTRY.values() if e.notebook == notebook]


def all_exercises() -> list[Exercise]:
    """Every registered exercise of the course."""
    _load_sets()
    return list(checkers.REGISTRY.values())


def feedback(exercise_id: str, answer) -> Feedback:
    """The checker's :class:`Feedback` on ``answer``; never raises for the answer (only for an unknown id)."""
    exercise = get(exercise_id)
    if any(answer is blank for blank in BLANK):
        return Feedback("not attempted", f"{exercise.prompt} Replace `...` with your answer; "
                                         f'exercises.hint("{exercise_id}") gives a hint.')
    try:
        result = exercise.check(answer)
    except Exception as err:  # a student's answer must never crash the notebook
        return Feedback("invalid", f"{answer!r} raised {type(err).__name__}: {err}.")
    if not isinstance(result, Feedback):
        raise TypeError(f"the checker of {exercise_id!r} returned {type(result).__name__}, not Feedback")
    return result


def check(exercise_id: str, answer) -> None:
    """Print the feedback on ``answer`` to exercise ``exercise_id``."""
    print(f"[{exercise_id}] {feedback(exercise_id, answer)}")


def hint(exercise_id: str) -> None:
    """Print the next hint of ``exercise_id`` (each call reveals one more; then all of them again)."""
    hints = get(exercise_id).hints
    if not hints:
        print(f"[{exercise_id}] no hints for this one: reread the section above it.")
        return
    shown = _hints_shown.get(exercise_id, 0)
    if shown < len(hints):
        print(f"[{exercise_id}] hint {shown + 1}/{len(hints)}: {hints[shown]}")
        _hints_shown[exercise_id] = shown + 1
    else:
        print(f"[{exercise_id}] all hints:\n" + "\n".join(f"  {i}. {h}" for i, h in enumerate(hints, 1)))
