"""The shipped checkpoints are honest, and the course gives the same numbers on every run.

Seeded CPU training is not bit-reproducible across machines, so fast mode loads the checkpoints that
`make checkpoints` trained and shipped in data/checkpoints/. These tests check that the manifest
describes its files, that the project's own training code reproduces the manifest's metrics, and that
two runs of a notebook from an empty data folder (1 thread, then 2) record identical claims.
"""

import os
from pathlib import Path

import pytest

from lecture_utils import runtime, training
from lecture_utils.course import checkpoints, claims
from lecture_utils.course.build import execute

NOTEBOOKS = runtime.REPO_ROOT / "notebooks"
# How close a retrained model must come to its manifest: seeded CPU training on another machine (other
# thread count, other kernels) drifts a little, epoch after epoch.
ACCURACY_TOLERANCE = 0.02
LOSS_TOLERANCE = 0.15  # relative


def run(notebook: str, out: Path, **env: str):
    """Execute ``notebook`` (fast mode, CPU) into ``out`` with extra environment variables."""
    saved = dict(os.environ)
    os.environ.update({"LECTURE_MODE": "fast", "LECTURE_DEVICE": "cpu", "LECTURE_RETRAIN": "0",
                       "LECTURE_SHIP": "0", "LECTURE_SEED": "0", **env})
    try:
        out.mkdir(parents=True)
        result = execute(NOTEBOOKS / f"{notebook}.ipynb", out)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert result.ok, result.error
    return (out / f"{notebook}.ipynb").read_text()


def test_every_manifest_entry_matches_its_file():
    manifest = training.shipped_manifest()
    assert manifest, "no shipped checkpoints: run `make checkpoints`"
    assert checkpoints.verify() == []
    for entry in manifest.values():
        assert entry["torch"] and entry["train_seconds"] > 0 and entry["notebook"] in {
            p.stem for p in NOTEBOOKS.glob("*.ipynb")}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["00_start_here", "01_architectures"])
def test_retraining_from_scratch_reproduces_the_manifest(notebook, tmp_path):
    shipped = {stem: e for stem, e in training.shipped_manifest().items() if e["notebook"] == notebook}
    assert shipped, f"{notebook} ships no checkpoint"
    run(notebook, tmp_path / "build", LECTURE_DATA=str(tmp_path / "data"), LECTURE_RETRAIN="1",
        LECTURE_SHIP="1", LECTURE_SHIPPED=str(tmp_path / "shipped"), OMP_NUM_THREADS="2")
    os.environ["LECTURE_SHIPPED"] = str(tmp_path / "shipped")
    try:
        retrained = training.shipped_manifest()
    finally:
        del os.environ["LECTURE_SHIPPED"]
    assert set(retrained) == set(shipped)  # same models, same configs
    for stem, entry in shipped.items():
        ours, theirs = retrained[stem]["metrics"], entry["metrics"]
        assert ours.keys() == theirs.keys()
        for key, value in theirs.items():
            if key.endswith("acc"):
                assert ours[key] == pytest.approx(value, abs=ACCURACY_TOLERANCE), (stem, key)
            else:
                assert ours[key] == pytest.approx(value, rel=LOSS_TOLERANCE), (stem, key)
        assert retrained[stem]["shapes"] == entry["shapes"]


@pytest.mark.slow
def test_same_claims_with_1_and_2_threads_from_an_empty_cache(tmp_path):
    runs = {}
    for threads in ("1", "2"):
        out = tmp_path / f"threads-{threads}"
        executed = run("03_gap_vs_flatten", out, LECTURE_DATA=str(tmp_path / f"data-{threads}"),
                       OMP_NUM_THREADS=threads)
        assert "loaded the shipped checkpoint" in executed and "trained in" not in executed
        report = claims.gather(out / "claims")
        runs[threads] = claims.to_markdown(report.drop(columns="mode"))
    assert runs["1"] == runs["2"]
    assert runs["1"].count("\n") > 10


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_committed_notebooks_loaded_shipped_checkpoints(path):
    """A committed notebook that trained a model ran a config the shipped set lacks: `make checkpoints`."""
    import nbformat

    printed = "".join(output.get("text", "") for cell in nbformat.read(path, as_version=4).cells
                      if cell.cell_type == "code" for output in cell.outputs)
    assert "trained in" not in printed and "saved to the cache" not in printed
    home, repo = str(Path.home()), str(NOTEBOOKS.parent.resolve())
    assert home not in printed and repo not in printed, "outputs must not show this machine's paths"
