"""Lecture claim vs our measurement: one call per claim, one table per experiment, one report per course.

In a notebook, at the end of an experiment::

    claims.record("CNN-flatten accuracy, shifted digits", 0.1103, acc, tolerance=0.05)
    claims.record("CNN-GAP parameters", 101_578, count_parameters(net), tolerance=0)
    claims.table(last=2)

Verdict: ``holds`` when |ours - lecture| <= tolerance, ``differs`` otherwise, ``measured`` when no
tolerance is given (a number worth showing, not a check), and ``fragile`` for a fast-mode claim whose
verdict is not the same for every seed of the measured spread (``data/seed_spread.csv``, written by
:mod:`lecture_utils.course.spread`): one lucky seed proves nothing, full mode is the real check.
The tolerance is absolute (``0.05``) or relative to the lecture's value (``"5%"``). Recording the same
claim again (a re-run cell) replaces it.

When ``LECTURE_CLAIMS_DIR`` is set (``make lectures`` sets it), each claim is also appended as a JSON
line to ``$LECTURE_CLAIMS_DIR/<notebook>.jsonl``. The notebook name is the ``notebook`` argument, else
``LECTURE_NOTEBOOK`` (set by the build), else the name the notebook gave :func:`set_notebook` (its
first cell does, through ``describe("03_gap_vs_flatten")``): it is the key of the seed spread.
:func:`gather` and :func:`write_report` turn those files into ``build/claims.html`` and ``build/claims.md``.
"""

from __future__ import annotations

import csv
import html
import json
import math
import numbers
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from .. import runtime

COLUMNS = ["notebook", "claim", "lecture", "ours", "unit", "tolerance", "mode", "verdict", "seeds", "note"]
VERDICT_COLORS = {"holds": "#d7f5dd", "differs": "#fbd9d3", "measured": "#eef0f3", "fragile": "#fdf0c4"}
SPREAD_FILE = runtime.REPO_ROOT / "data" / "seed_spread.csv"  # one row per fast-mode claim, over seeds
_notebook = ""  # set by set_notebook


@dataclass(frozen=True)
class Claim:
    """One claim of a lecture next to our measured value, in the mode it was measured."""

    notebook: str
    claim: str
    lecture: float | int | str
    ours: float | int | str
    unit: str
    tolerance: float | str | None
    mode: str
    verdict: str
    seeds: str
    note: str


_recorded: dict[tuple[str, str], Claim] = {}  # this kernel's claims, in recording order


def set_notebook(name: str) -> None:
    """Name the notebook whose claims this kernel records: its file name without ``.ipynb``, e.g.
    ``"03_gap_vs_flatten"``. The seed spread is keyed by it, so the claims tables show it."""
    global _notebook
    if not isinstance(name, str) or not name.strip() or "/" in name or name.endswith(".ipynb"):
        raise ValueError(f"notebook must be a notebook's file name without folder and '.ipynb' "
                         f"(e.g. '03_gap_vs_flatten'), got {name!r}")
    _notebook = name.strip()


def _number(value, name: str) -> float | int | str:
    """A plain int/float from Python, NumPy or 0-d torch values; strings pass through (qualitative claims)."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, str) or (isinstance(value, numbers.Real) and not isinstance(value, bool)):
        return value
    raise ValueError(f"{name} must be a number or a string, got {type(value).__name__}: {value!r}")


def verdict(lecture, ours, tolerance: float | str | None) -> str:
    """``holds`` if |ours - lecture| <= tolerance (absolute, or ``"N%"`` of |lecture|), ``differs``
    otherwise, ``measured`` when ``tolerance`` is None. Strings compare by equality."""
    if tolerance is None:
        return "measured"
    if isinstance(lecture, str) or isinstance(ours, str):
        return "holds" if str(lecture) == str(ours) else "differs"
    try:
        is_percent = isinstance(tolerance, str) and tolerance.endswith("%")
        allowed = float(tolerance[:-1]) / 100 * abs(lecture) if is_percent else float(_number(tolerance, "tolerance"))
    except ValueError:
        allowed = math.nan
    if not allowed >= 0:
        raise ValueError(f"tolerance must be a number >= 0 or a percentage like '5%', got {tolerance!r}")
    return "holds" if abs(ours - lecture) <= allowed else "differs"


def seed_spread() -> dict[tuple[str, str], dict[str, str]]:
    """The committed seed-spread table, keyed by (notebook, claim); empty if there is none."""
    if not SPREAD_FILE.is_file():
        return {}
    with open(SPREAD_FILE, newline="", encoding="utf-8") as f:
        return {(row["notebook"], row["claim"]): row for row in csv.DictReader(f)}


def _spread_of(notebook: str, claim: str, lecture, tolerance) -> tuple[str, bool]:
    """What the seed spread says of a fast-mode claim: (summary, same verdict for every seed). The
    verdicts are recomputed from the spread's values with the claim's current tolerance."""
    row = seed_spread().get((notebook, claim))
    if row is None:
        return "", True
    values = [_parsed(v) for v in row["values"].split(";")]
    verdicts = [verdict(lecture, v, tolerance) for v in values]
    numbers = all(isinstance(v, float) for v in values)
    if len(set(values)) == 1:
        shown = format_value(values[0])
    else:
        shown = f"{format_value(min(values))} to {format_value(max(values))}" if numbers else "/".join(map(str, values))
    stable = len(set(verdicts)) == 1
    return f"{shown} over {len(values)} seeds ({verdicts[0] if stable else ', '.join(verdicts)})", stable


def _parsed(text: str) -> float | str:
    """A value as the spread file shows it ('388,298', '0.944', 'yes') back as a number or a string."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return text


def record(claim: str, lecture, ours, *, notebook: str | None = None, tolerance: float | str | None = None,
           unit: str = "", note: str = "") -> Claim:
    """Record one claim (text, the lecture's value, our value) with its verdict in the current mode.

    Returns the :class:`Claim`; appends it to ``$LECTURE_CLAIMS_DIR/<notebook>.jsonl`` when that is set.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim must be a non-empty string describing the lecture's claim, got {claim!r}")
    lecture, ours = _number(lecture, "lecture"), _number(ours, "ours")
    if isinstance(ours, float) and math.isnan(ours):
        raise ValueError(f"ours is NaN for claim {claim!r}: the measurement failed")
    name = notebook or os.environ.get("LECTURE_NOTEBOOK", "").strip() or _notebook or "unnamed"
    seeds, stable = _spread_of(name, claim, lecture, tolerance) if runtime.is_fast() else ("", True)
    result = verdict(lecture, ours, tolerance)
    if not stable and result != "measured":
        result = "fragile"
        note = "fragile in fast mode: the verdict depends on the seed; full mode is the real check" + (
            f"; {note}" if note else "")
    entry = Claim(name, claim, lecture, ours, unit, tolerance, runtime.mode(), result, seeds, note)
    _recorded.pop((name, claim), None)
    _recorded[(name, claim)] = entry
    folder = os.environ.get("LECTURE_CLAIMS_DIR", "").strip()
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with open(Path(folder) / f"{name}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(entry)) + "\n")
    return entry


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def table(last: int | None = None) -> pd.DataFrame:
    """The claims recorded in this kernel (only the ``last`` n if given), formatted for reading."""
    rows = [asdict(c) for c in _recorded.values()]
    return _display_frame(_frame(rows[-last:] if last else rows)).drop(columns="notebook")


def gather(folder: str | Path) -> pd.DataFrame:
    """All claims in ``folder/*.jsonl`` (notebooks sorted; a re-recorded claim keeps its last value)."""
    rows = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{number} is not a JSON line ({err})") from err
    return _frame(rows).drop_duplicates(["notebook", "claim"], keep="last").reset_index(drop=True)


def format_value(value) -> str:
    """388298 -> '388,298'; 0.110345 -> '0.1103'; None/NaN -> ''."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, numbers.Integral) or (isinstance(value, float) and abs(value) >= 1e3):
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _display_frame(claims: pd.DataFrame) -> pd.DataFrame:
    return claims.assign(**{col: claims[col].map(format_value) for col in ("lecture", "ours", "tolerance")})


def counts(claims: pd.DataFrame) -> str:
    """One line such as ``12 claims: 8 hold, 2 differ, 1 fragile, 1 measured``."""
    n = claims["verdict"].value_counts()
    return (f"{len(claims)} claims: {n.get('holds', 0)} hold, {n.get('differs', 0)} differ, "
            f"{n.get('fragile', 0)} fragile, {n.get('measured', 0)} measured")


def to_markdown(claims: pd.DataFrame) -> str:
    """The claims as a markdown table (pipes in text escaped)."""
    shown = _display_frame(claims)
    cells = [[str(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in shown.itertuples(index=False)]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells]) + "\n"


def to_html(claims: pd.DataFrame) -> str:
    """A standalone HTML page of the claims, verdicts coloured."""
    styled = (_display_frame(claims).style.hide(axis="index").format(escape="html")
              .map(lambda v: f"background-color: {VERDICT_COLORS.get(v, 'white')}", subset=["verdict"]))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Inside CNNs: lecture claims</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Lecture claims vs our measurements</h1><p>{html.escape(counts(claims))}. "
        "Verdict: <em>holds</em> within the stated tolerance, <em>differs</em> outside it, "
        "<em>measured</em> shown without a tolerance, <em>fragile</em> when the verdict is not the same for "
        "every seed of the fast-mode spread (column <em>seeds</em>). Mode: fast uses subsets and few epochs, full the "
        f"lectures' data sizes.</p>{styled.to_html()}</body></html>\n"
    )


def write_report(claims: pd.DataFrame, folder: str | Path) -> tuple[Path, Path]:
    """Write ``claims.html`` and ``claims.md`` into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, md_path = folder / "claims.html", folder / "claims.md"
    html_path.write_text(to_html(claims), encoding="utf-8")
    md_path.write_text(f"# Lecture claims vs our measurements\n\n{counts(claims)}.\n\n{to_markdown(claims)}",
                       encoding="utf-8")
    return html_path, md_path
