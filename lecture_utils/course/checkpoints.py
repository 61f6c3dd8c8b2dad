"""Reference checkpoints: the models the fast-mode notebooks train, trained once and shipped with the course.

    python -m lecture_utils.course.checkpoints build [NOTEBOOK ...]   # make checkpoints
    python -m lecture_utils.course.checkpoints verify                  # every manifest entry vs its file

Why: seeded CPU training is not bit-reproducible across machines (thread count and CPU kernels reorder
float sums), so a student's fast-mode run would show other numbers, and sometimes other verdicts, than
the committed notebook. Instead, fast mode loads the checkpoints shipped in ``data/checkpoints/``.

``build`` executes each notebook (all of ``notebooks/`` by default) in fast mode on the CPU with
``LECTURE_RETRAIN=1 LECTURE_SHIP=1``: every ``training.cached`` call trains with the project's own
code and writes ``NAME-CONFIGHASH.pt`` plus its manifest entry (config, SHA-256, final metrics,
training time, torch version, notebook); so does every ``training.cached_table`` call, for results that
take many trainings (notebook 04's learning curves: the table, its columns in the manifest). A notebook's
old entries are removed first, so configs that changed leave no stale files. ``verify`` checks every entry
against its file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from .. import runtime, training
from . import cli
from .build import execute, resolve

MAX_TOTAL_BYTES = 25_000_000  # the shipped set stays small: it lives in the git history


@contextlib.contextmanager
def environment(**values: str):
    """Set environment variables for the notebooks' kernels; restore the old values afterwards."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _drop_entries(notebook: str) -> None:
    """Remove the shipped checkpoints that ``notebook`` made last time (files and manifest entries)."""
    folder = runtime.shipped_dir()
    manifest = training.shipped_manifest()
    stale = [stem for stem, entry in manifest.items() if entry.get("notebook") == notebook]
    for stem in stale:
        (folder / f"{stem}.pt").unlink(missing_ok=True)
        del manifest[stem]
    if stale:
        (folder / training.MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def build(notebooks: list[Path], threads: int = 2) -> int:
    """Retrain and ship every model of ``notebooks`` (fast mode, CPU); 0 if all notebooks ran."""
    failed = []
    with tempfile.TemporaryDirectory() as build_dir, environment(
        LECTURE_MODE="fast", LECTURE_DEVICE="cpu", LECTURE_RETRAIN="1", LECTURE_SHIP="1",
        OMP_NUM_THREADS=str(threads), LECTURE_CLAIMS_DIR="",
    ):
        for path in notebooks:
            _drop_entries(path.stem)
            print(f"{path.stem} ...", end=" ", flush=True)
            result = execute(path, Path(build_dir))
            print(f"{'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s"
                  + (f" ({result.error})" if result.error else ""), flush=True)
            if not result.ok:
                failed.append(path.stem)
    manifest = training.shipped_manifest()
    total = sum(entry["bytes"] for entry in manifest.values())
    print(f"{len(manifest)} shipped checkpoints, {total / 1e6:.1f} MB in {runtime.shown_path(runtime.shipped_dir())}")
    return 1 if failed or verify() else 0


def verify() -> list[str]:
    """Problems of the shipped set: each manifest entry against its file (SHA-256, loadable with
    ``weights_only=True``, the config hash of its config, tensor names and shapes, final metrics of the
    stored history; for a results table its columns), files without an entry, and the total size. Empty
    when all is well."""
    folder = runtime.shipped_dir()
    manifest = training.shipped_manifest()
    problems = []
    for stem, entry in sorted(manifest.items()):
        path = folder / f"{stem}.pt"
        if not path.is_file():
            problems.append(f"{stem}: file {path.name} is missing")
            continue
        try:
            state = training.load_checkpoint(path.read_bytes(), entry["sha256"])
        except Exception as error:
            problems.append(f"{stem}: {error}")
            continue
        if stem != f"{entry['name']}-{training.config_hash(entry['config'])}":
            problems.append(f"{stem}: the name and config hash do not match the entry's config")
        if state["config"] != entry["config"]:
            problems.append(f"{stem}: the file's config differs from the manifest's")
        if "table" in state:  # results of many trainings (training.cached_table)
            if training.table_columns(state["table"]) != entry.get("columns"):
                problems.append(f"{stem}: the table's columns or lengths differ from the manifest's")
            continue
        if training.shapes(state["model"]) != entry["shapes"]:
            problems.append(f"{stem}: tensor names or shapes differ from the manifest's")
        if training.final_metrics(training.History(**state["history"])) != entry["metrics"]:
            problems.append(f"{stem}: the stored history's final metrics differ from the manifest's")
    strays = sorted(p.name for p in folder.glob("*.pt") if p.stem not in manifest)
    problems += [f"{name}: not in the manifest" for name in strays]
    total = sum(entry.get("bytes", 0) for entry in manifest.values())
    if total > MAX_TOTAL_BYTES:
        problems.append(f"the shipped set is {total / 1e6:.1f} MB, over the {MAX_TOTAL_BYTES / 1e6:.0f} MB limit")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = cli.Parser(prog="python -m lecture_utils.course.checkpoints",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("build", "verify"))
    parser.add_argument("notebooks", nargs="*", help="names or paths (default: every notebook)")
    args = parser.parse_args(argv)
    if args.command == "build":
        return build(resolve(args.notebooks, runtime.REPO_ROOT / "notebooks"))
    problems = verify()
    for problem in problems:
        print(problem)
    print(f"{len(training.shipped_manifest())} shipped checkpoints, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(cli.run(main, "python -m lecture_utils.course.checkpoints"))
