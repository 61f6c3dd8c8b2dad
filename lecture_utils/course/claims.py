"""Lecture claim vs our measurement: one call per claim, one table per experiment, one report per course.

In a notebook, at the end of an experiment::

    claims.record("CNN-flatten accuracy, shifted digits", 0.1103, acc, tolerance=0.05)
    claims.record("CNN-GAP parameters", 101_578, count_parameters(net), tolerance=0)
    claims.table(last=2)

A measured value carries its uncertainty: ``record(..., n=1000)`` for a proportion over n test items
(Wilson interval), ``outcomes=`` for the per-item values behind a mean, or a :class:`Measurement` from
:func:`proportion`, :func:`mean` (bootstrap over trials or items) or :func:`difference` (paired bootstrap
for "A beats B" on one test set)::

    claims.record("CNN-GAP accuracy, shifted digits", 0.9906, acc, tolerance=0.01, n=1000)
    claims.record("GAP beats flatten on shifted digits", "> 0", claims.difference(gap_correct, flat_correct))

The lecture's side is a number with a tolerance (absolute, ``0.05``, or relative, ``"5%"``), a bound such as
``"> 0"`` or ``"<= 0.3"``, or a string for an exact, noise-free check (``"same scores"``). Verdicts:

- ``holds``: the whole 95% interval lies inside the lecture's region (within the tolerance, or on the
  bound's side); ``differs``: the whole interval lies outside it;
- ``inconclusive (n too small: about N would settle it)``: the interval straddles the region's edge;
- ``fragile``: a fast-mode claim whose verdict is not the same for every seed of the measured spread
  (``data/seed_spread.csv``, written by :mod:`lecture_utils.course.spread`; each seed's value judged with
  this run's interval moved to it); full mode is the real check;
- ``measured``: a number worth showing, with no lecture value to check it against (no tolerance).

A value given without any uncertainty is treated as exact (counts, identities). Recording the same claim
again (a re-run cell) replaces it. :func:`say` prints a verdict paragraph as Markdown from the run's values,
so that prose cannot go stale.

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
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .. import runtime

COLUMNS = ["notebook", "claim", "lecture", "ours", "interval", "unit", "tolerance", "mode", "verdict", "seeds",
           "note"]
VERDICT_COLORS = {"holds": "#d7f5dd", "differs": "#fbd9d3", "inconclusive": "#e3e7fb", "measured": "#eef0f3",
                  "fragile": "#fdf0c4"}
CONFIDENCE = 0.95  # every interval of the course is a 95% interval
RESAMPLES = 2000  # bootstrap resamples: the interval's ends move by well under 1% of its width between seeds
SPREAD_FILE = runtime.REPO_ROOT / "data" / "seed_spread.csv"  # one row per fast-mode claim, over seeds
_notebook = ""  # set by set_notebook


@dataclass(frozen=True)
class Claim:
    """One claim of a lecture next to our measured value, in the mode it was measured."""

    notebook: str
    claim: str
    lecture: float | int | str
    ours: float | int | str
    interval: str
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


@dataclass(frozen=True)
class Measurement:
    """A measured value with its 95% interval ``[low, high]``, from ``n`` items (or trials) by ``method``."""

    value: float
    low: float
    high: float
    n: int
    method: str

    def __str__(self) -> str:
        return f"{format_value(self.value)} [{format_value(self.low)}, {format_value(self.high)}]"

    def describe(self) -> str:
        """The interval as the claims tables show it: ``[0.912, 0.941] Wilson, n = 1,000``."""
        return f"[{format_value(self.low)}, {format_value(self.high)}] {self.method}, n = {self.n:,}"


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% interval of a proportion k/n (Wilson 1927), good even for small n and p near 0 or 1::

        centre = (p + z^2 / 2n) / (1 + z^2 / n),   half-width = z / (1 + z^2 / n) * sqrt(p(1-p)/n + z^2 / 4n^2)

    with p = k/n and z = 1.96 (the 97.5% normal quantile).
    """
    if not (isinstance(n, numbers.Integral) and n >= 1):
        raise ValueError(f"n must be a positive whole number of items, got {n!r}")
    if not (isinstance(k, numbers.Integral) and 0 <= k <= n):
        raise ValueError(f"k must be a whole number of successes between 0 and n = {n}, got {k!r}")
    z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def _values(values, name: str) -> np.ndarray:
    """Per-item values (a list, NumPy array or tensor; booleans become 0/1) as a 1-d float array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=float).ravel() if not isinstance(values, str) else np.array([])
    if array.size < 2 or not np.isfinite(array).all():
        raise ValueError(f"{name} must hold at least two finite per-item values (one per test item or trial), "
                         f"got {values!r:.80}")
    return array


def proportion(k_or_outcomes, n: int | None = None) -> Measurement:
    """A proportion with its Wilson interval: ``proportion(k, n)`` or ``proportion(correct)`` for per-item
    outcomes (booleans or 0/1), e.g. which test images a net classified right."""
    if n is None:
        outcomes = _values(k_or_outcomes, "outcomes")
        if not np.isin(outcomes, (0, 1)).all():
            raise ValueError("outcomes of a proportion must be booleans or 0/1 (use mean() for other values)")
        k_or_outcomes, n = int(outcomes.sum()), outcomes.size
    k = _number(k_or_outcomes, "k")
    low, high = wilson(k, n)
    return Measurement(k / n, low, high, n, "Wilson")


def _bootstrap(samples: tuple[np.ndarray, ...], statistic, paired: bool, seed: int) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of ``statistic`` (scipy.stats.bootstrap, ``RESAMPLES`` resamples,
    seeded: the same data and seed give the same interval)."""
    result = stats.bootstrap(samples, statistic, paired=paired, vectorized=True, n_resamples=RESAMPLES,
                             confidence_level=CONFIDENCE, method="percentile", batch=100,
                             rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean(values, seed: int = 0) -> Measurement:
    """The mean of per-item values or of trials (e.g. one accuracy per seed) with a bootstrap 95% interval:
    resample the values with replacement, take the mean, keep the middle 95% of those means.

    With few trials (3-5) the bootstrap interval is narrower than the truth: few trials rarely settle a claim.
    """
    array = _values(values, "values")
    low, high = _bootstrap((array,), lambda x, axis: x.mean(axis=axis), paired=False, seed=seed)
    return Measurement(float(array.mean()), low, high, array.size, "bootstrap")


def difference(a, b, paired: bool = True, seed: int = 0) -> Measurement:
    """mean(a) - mean(b) with a bootstrap 95% interval, for "A beats B".

    ``paired=True`` (the usual case): a[i] and b[i] are outcomes on the same test item i (e.g. A and B right
    or wrong on image i); the resampling keeps the pairs, so the noise of which items are easy cancels.
    ``paired=False``: independent samples (two models tested on different items, or trials of two set-ups).
    """
    a, b = _values(a, "a"), _values(b, "b")
    if paired and a.shape != b.shape:
        raise ValueError(f"a and b must have one outcome per shared test item (paired), got {a.size} and {b.size}")
    if paired:  # resampling the pairs = resampling the per-item differences a[i] - b[i]
        low, high = _bootstrap((a - b,), lambda d, axis: d.mean(axis=axis), paired=False, seed=seed)
    else:
        low, high = _bootstrap((a, b), lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis), False, seed)
    return Measurement(float(a.mean() - b.mean()), low, high, min(a.size, b.size),
                       "paired bootstrap" if paired else "bootstrap")


BOUND = re.compile(r"^\s*(>=|<=|>|<)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")


def _region(lecture, tolerance) -> tuple[float, float, bool, bool] | None:
    """Where the lecture puts the true value: (lower, upper, lower end included, upper end included).
    A bound string ``"> 0.5"`` is a half-line; a number with a tolerance is a band; None when there is no
    region (no tolerance: a ``measured`` value; a qualitative string: compared by equality)."""
    if isinstance(lecture, str):
        match = BOUND.match(lecture)
        if match is None:
            return None
        op, x = match.group(1), float(match.group(2))
        return (x, math.inf, op == ">=", False) if op.startswith(">") else (-math.inf, x, False, op == "<=")
    if tolerance is None:
        return None
    try:
        is_percent = isinstance(tolerance, str) and tolerance.endswith("%")
        allowed = float(tolerance[:-1]) / 100 * abs(lecture) if is_percent else float(_number(tolerance, "tolerance"))
    except ValueError:
        allowed = math.nan
    if not allowed >= 0:
        raise ValueError(f"tolerance must be a number >= 0 or a percentage like '5%', got {tolerance!r}")
    return lecture - allowed, lecture + allowed, True, True


def _inside(x: float, region) -> bool:
    lower, upper, closed_low, closed_high = region
    return (x > lower or (closed_low and x == lower)) and (x < upper or (closed_high and x == upper))


def verdict(lecture, ours, tolerance: float | str | None, interval: Measurement | None = None) -> str:
    """The verdict on one claim (see the module's docstring).

    ``lecture`` is a number with ``tolerance`` (absolute, or ``"N%"`` of |lecture|), a bound string
    (``"> 0"``, ``"<= 0.3"``) or a qualitative string (equality, with ``tolerance=0``); without a tolerance or
    a bound the value is ``measured`` (shown, with its interval, not checked). ``interval``: our value's 95%
    interval; without one, ``ours`` counts as exact. A claim is settled only when the whole interval is on
    one side of the region's edges; otherwise it is ``inconclusive``, with the sample size that would
    settle it (:func:`_settling_n`).
    """
    region = _region(lecture, tolerance)
    if region is None:
        if tolerance is None:  # nothing to check against (the lecture gives no number, e.g. "not stated")
            return "measured"
        if isinstance(ours, str) or isinstance(lecture, str):
            if interval is not None:
                raise ValueError("a qualitative claim (a string) cannot carry an interval: record the number with "
                                 "a bound such as '> 0' instead")
            return "holds" if str(lecture) == str(ours) else "differs"
    if isinstance(ours, str):
        raise ValueError(f"ours must be a number for a claim with a numeric region, got {ours!r}")
    low, high = (interval.low, interval.high) if interval is not None else (ours, ours)
    if _inside(low, region) and _inside(high, region):
        return "holds"
    lower, upper = region[:2]
    if high < lower or low > upper or (high == lower and not region[2]) or (low == upper and not region[3]):
        return "differs"
    edges = [e for e in (lower, upper) if math.isfinite(e)]
    edge = min(edges, key=lambda e: abs(ours - e))
    distance = abs(ours - edge)
    half = (ours - low) if edge <= ours else (high - ours)
    if distance == 0 or interval is None:
        return "inconclusive (on the edge: no sample size settles it)"
    return f"inconclusive (n too small: about {_settling_n(interval, half, distance):,} would settle it)"


def _settling_n(interval: Measurement, half: float, distance: float) -> int:
    """The sample size at which the interval's half-width equals ``distance``, the value's distance to the
    region's edge. A proportion: z^2 p (1 - p) / distance^2 (the normal approximation; Wilson's small-n
    interval is too skewed to extrapolate from). Otherwise the half-width shrinks as 1/sqrt(n):
    n (half-width / distance)^2."""
    if interval.method == "Wilson":
        z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
        p = interval.value
        return max(interval.n + 1, math.ceil(z**2 * max(p * (1 - p), 1 / interval.n) / distance**2))
    return max(interval.n + 1, math.ceil(interval.n * (half / distance) ** 2))


def base_verdict(text: str) -> str:
    """``"inconclusive (n too small: ...)"`` -> ``"inconclusive"``; other verdicts unchanged."""
    return text.split(" (")[0]


def say(text: str) -> None:
    """Show ``text`` as Markdown below the cell. Write verdict paragraphs with it, numbers formatted from the
    run's values (an f-string), so that a re-run cannot leave the prose stale."""
    from IPython.display import Markdown, display

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty Markdown string, got {text!r}")
    display(Markdown(text))


def seed_spread() -> dict[tuple[str, str], dict[str, str]]:
    """The committed seed-spread table, keyed by (notebook, claim); empty if there is none."""
    if not SPREAD_FILE.is_file():
        return {}
    with open(SPREAD_FILE, newline="", encoding="utf-8") as f:
        return {(row["notebook"], row["claim"]): row for row in csv.DictReader(f)}


def _spread_of(notebook: str, claim: str, lecture, tolerance,
               interval: Measurement | None = None) -> tuple[str, bool]:
    """What the seed spread says of a fast-mode claim: (summary, same verdict for every seed). The
    verdicts are recomputed from the spread's values with the claim's current tolerance. The spread file keeps
    one value per seed, not its interval, so each seed's value is judged with this run's ``interval`` moved to
    it (the same test items, so about the same width): a seed whose value lies inside the noise of the edge
    reads inconclusive, not holds or differs. Without an interval (an exact value) the values are judged as
    they are."""
    row = seed_spread().get((notebook, claim))
    if row is None:
        return "", True
    values = [_parsed(v) for v in row["values"].split(";")]

    def judged(value):
        if interval is None or not isinstance(value, float):
            return verdict(lecture, value, tolerance)
        moved = Measurement(value, value - (interval.value - interval.low), value + (interval.high - interval.value),
                            interval.n, interval.method)
        return verdict(lecture, value, tolerance, moved)

    try:
        verdicts = [base_verdict(judged(v)) for v in values]
    except ValueError:  # a row from before the claim changed kind (e.g. "yes" -> a number): no spread yet
        return "", True
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


def _measurement(ours, n, outcomes) -> Measurement | None:
    """Our value's interval from ``n`` (a proportion over n items), ``outcomes`` (per-item values whose mean is
    ours) or a :class:`Measurement`; None for a value given without uncertainty (exact)."""
    if isinstance(ours, Measurement):
        if n is not None or outcomes is not None:
            raise ValueError("give either a Measurement or n= / outcomes=, not both")
        return ours
    if n is not None and outcomes is not None:
        raise ValueError("give n= (a proportion over n items) or outcomes= (the per-item values), not both")
    if n is not None:
        if not isinstance(ours, numbers.Real) or not 0 <= ours <= 1:
            raise ValueError(f"n= says ours is a proportion, so ours must be in [0, 1], got {ours!r}")
        if not (isinstance(n, numbers.Integral) and n >= 1):
            raise ValueError(f"n must be a positive whole number of test items, got {n!r}")
        return proportion(round(ours * n), int(n))
    if outcomes is not None:
        array = _values(outcomes, "outcomes")
        if isinstance(ours, str) or not math.isclose(ours, array.mean(), rel_tol=1e-6, abs_tol=1e-9):
            raise ValueError(f"ours ({ours!r}) must be the mean of outcomes ({array.mean():.6g})")
        return proportion(array) if np.isin(array, (0, 1)).all() else mean(array)
    return None


def record(claim: str, lecture, ours, *, notebook: str | None = None, tolerance: float | str | None = None,
           n: int | None = None, outcomes=None, unit: str = "", note: str = "") -> Claim:
    """Record one claim (text, the lecture's value, our value and its uncertainty) with its verdict.

    ``ours`` is a number, a string (an exact qualitative check) or a :class:`Measurement`; ``n`` or
    ``outcomes`` give a number's uncertainty (see the module's docstring). Returns the :class:`Claim`;
    appends it to ``$LECTURE_CLAIMS_DIR/<notebook>.jsonl`` when that is set.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError(f"claim must be a non-empty string describing the lecture's claim, got {claim!r}")
    interval = _measurement(ours if isinstance(ours, Measurement) else _number(ours, "ours"), n, outcomes)
    lecture = _number(lecture, "lecture")
    ours = interval.value if isinstance(ours, Measurement) else _number(ours, "ours")
    if isinstance(ours, float) and math.isnan(ours):
        raise ValueError(f"ours is NaN for claim {claim!r}: the measurement failed")
    name = notebook or os.environ.get("LECTURE_NOTEBOOK", "").strip() or _notebook or "unnamed"
    seeds, stable = _spread_of(name, claim, lecture, tolerance, interval) if runtime.is_fast() else ("", True)
    result = verdict(lecture, ours, tolerance, interval)
    if not stable and base_verdict(result) in ("holds", "differs"):
        result = "fragile"
        note = "fragile in fast mode: the verdict depends on the seed; full mode is the real check" + (
            f"; {note}" if note else "")
    entry = Claim(name, claim, lecture, ours, interval.describe() if interval else "", unit, tolerance,
                  runtime.mode(), result, seeds, note)
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
    """One line such as ``12 claims: 7 hold, 2 differ, 1 inconclusive, 1 fragile, 1 measured``."""
    n = claims["verdict"].map(base_verdict).value_counts()
    return (f"{len(claims)} claims: {n.get('holds', 0)} hold, {n.get('differs', 0)} differ, "
            f"{n.get('inconclusive', 0)} inconclusive, {n.get('fragile', 0)} fragile, "
            f"{n.get('measured', 0)} measured")


def to_markdown(claims: pd.DataFrame) -> str:
    """The claims as a markdown table (pipes in text escaped)."""
    shown = _display_frame(claims)
    cells = [[str(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in shown.itertuples(index=False)]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells]) + "\n"


LEGEND = ("Verdict: *holds* when our value's whole 95% interval (column *interval*; none for exact values) lies "
          "within the lecture's tolerance or bound, *differs* when it lies wholly outside, *inconclusive* when it "
          "straddles the edge (with the sample size that would settle it), *fragile* when the verdict is not the "
          "same for every seed of the fast-mode spread (column *seeds*: each seed's value judged with this run's "
          "interval width), *measured* shown without a lecture value. "
          "Mode: fast uses subsets and few epochs, full the lectures' data sizes.")


def to_html(claims: pd.DataFrame) -> str:
    """A standalone HTML page of the claims, verdicts coloured."""
    legend = re.sub(r"[*]([^*]+)[*]", r"<em>\1</em>", html.escape(LEGEND))
    styled = (_display_frame(claims).style.hide(axis="index").format(escape="html")
              .map(lambda v: f"background-color: {VERDICT_COLORS.get(base_verdict(v), 'white')}", subset=["verdict"]))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Inside CNNs: lecture claims</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Lecture claims vs our measurements</h1><p>{html.escape(counts(claims))}. "
        f"{legend}</p>{styled.to_html()}</body></html>\n"
    )


def write_report(claims: pd.DataFrame, folder: str | Path) -> tuple[Path, Path]:
    """Write ``claims.html`` and ``claims.md`` into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, md_path = folder / "claims.html", folder / "claims.md"
    html_path.write_text(to_html(claims), encoding="utf-8")
    md_path.write_text(f"# Lecture claims vs our measurements\n\n{counts(claims)}. {LEGEND}\n\n"
                       f"{to_markdown(claims)}", encoding="utf-8")
    return html_path, md_path
