"""The command lines of the course (``python -m lecture_utils.course.X``): expected failures are one line.

An unknown notebook, a missing file, no network: the user gets one line naming what failed and what to
do, on stderr, and exit status 2; never a traceback (a traceback means a bug).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..data import DataUnavailableError
from ..models import WeightsUnavailableError

EXPECTED = (ValueError, OSError, DataUnavailableError, WeightsUnavailableError)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (plus a pointer to ``--help``), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line: its lines joined with '; '."""
    text = str(error).strip() or type(error).__name__
    return "; ".join(line.strip().removeprefix("- ") for line in text.splitlines() if line.strip())


def run(main: Callable[[list[str] | None], int | None], prog: str, argv: list[str] | None = None) -> int:
    """Call ``main(argv)``; turn an expected failure into one line on stderr and exit status 2."""
    try:
        return main(argv) or 0
    except EXPECTED as error:
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        return 2
