"""How much a fast-mode verdict depends on the seed: each notebook run once per seed, retraining.

    python -m lecture_utils.course.spread [NOTEBOOK ...] [--seeds 0 1 2]

Seeded CPU training differs between machines, and a fast-mode run trains on a subset for a few epochs:
a verdict that holds for seed 0 may not hold for seed 1. This script executes each notebook in fast
mode with ``LECTURE_SEED=s`` and ``LECTURE_RETRAIN=1`` for every seed, gathers the claims, and writes
one row per claim to ``data/seed_spread.csv`` (rows of other notebooks are kept): our value for each
seed. :func:`lecture_utils.course.claims.record` reads that file, computes each seed's verdict with
the claim's current tolerance, and reports a claim whose verdict changes with the seed as ``fragile``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

from .. import runtime
from . import claims, cli
from .build import execute, resolve
from .checkpoints import environment

SPREAD_COLUMNS = ["notebook", "claim", "lecture", "tolerance", "seeds", "values", "verdicts", "stable"]
SAVED_COLUMNS = ["notebook", "claim", "lecture", "seeds", "values"]  # verdicts depend on today's tolerance


def run_seeds(notebook: Path, seeds: list[int], threads: int = 2) -> pd.DataFrame:
    """Execute ``notebook`` once per seed (fast mode, CPU, retraining); its claims, one row per claim."""
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in seeds:
            out = Path(scratch) / f"seed-{seed}"
            out.mkdir()
            with environment(LECTURE_MODE="fast", LECTURE_DEVICE="cpu", LECTURE_RETRAIN="1", LECTURE_SHIP="0",
                             LECTURE_SEED=str(seed), LECTURE_DATA=str(Path(scratch) / "data"),
                             OMP_NUM_THREADS=str(threads)):
                result = execute(notebook, out)
            print(f"{notebook.stem} seed {seed}: {'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s",
                  flush=True)
            if not result.ok:
                raise ValueError(f"{notebook.stem} failed with seed {seed}: {result.error}")
            runs.append(claims.gather(out / "claims").assign(seed=seed))
    return spread_table(pd.concat(runs, ignore_index=True))


def spread_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Claims of several seeded runs (a ``seed`` column) -> one row per claim with values and verdicts.

    A claim whose text changes with the seed (a number formatted into it) cannot be compared: it is left
    out, with a warning to move the number out of the text. So is a claim whose reference value changes with
    the seed (a measured quantity in the ``lecture`` slot): each seed's value must meet the same reference.
    """
    rows, n_seeds = [], runs["seed"].nunique()
    for (notebook, claim), group in runs.groupby(["notebook", "claim"], sort=False):
        group = group.sort_values("seed")
        if len(group) != n_seeds:
            print(f"  skipped (not recorded for every seed; keep numbers out of claim texts): {claim}")
            continue
        if group["lecture"].astype(str).nunique() > 1:
            print(f"  skipped (its reference value changes with the seed; compare with a fixed one): {claim}")
            continue
        # each seed's own verdict (a run that read the committed spread may have recorded "fragile")
        verdicts = [claims.verdict(lecture, ours, None if pd.isna(tolerance) else tolerance)
                    for lecture, ours, tolerance in group[["lecture", "ours", "tolerance"]].values]
        rows.append({
            "notebook": notebook, "claim": claim, "lecture": claims.format_value(group["lecture"].iloc[0]),
            "tolerance": claims.format_value(group["tolerance"].iloc[0]),
            "seeds": ";".join(map(str, group["seed"])),
            "values": ";".join(claims.format_value(v) for v in group["ours"]),
            "verdicts": ";".join(verdicts),
            "stable": "yes" if len(set(verdicts)) == 1 else "no",
        })
    return pd.DataFrame(rows, columns=SPREAD_COLUMNS)


def update(table: pd.DataFrame, path: Path = claims.SPREAD_FILE) -> pd.DataFrame:
    """Replace the rows of ``table``'s notebooks in the committed spread file; keep the others."""
    old = (pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file()
           else pd.DataFrame(columns=SAVED_COLUMNS))
    merged = pd.concat([old[~old["notebook"].isin(table["notebook"])], table[SAVED_COLUMNS]], ignore_index=True)
    merged = merged.sort_values("notebook", kind="stable").reset_index(drop=True)
    merged.to_csv(path, index=False)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m lecture_utils.course.spread", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="names or paths (default: every notebook)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    if len(args.seeds) < 2 or min(args.seeds) < 0:
        raise ValueError(f"--seeds needs at least two non-negative seeds, got {args.seeds}")
    for path in resolve(args.notebooks, runtime.REPO_ROOT / "notebooks"):
        table = run_seeds(path, args.seeds)
        update(table)
        fragile = table[table["stable"] == "no"]
        print(f"{path.stem}: {len(table)} claims, {len(fragile)} fragile"
              + "".join(f"\n  fragile: {c} ({v}: {d})" for c, v, d in fragile[["claim", "values", "verdicts"]].values))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main, "python -m lecture_utils.course.spread"))
