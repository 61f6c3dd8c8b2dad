"""The shipped checkpoints are honest, and the course gives the same numbers on every run.

Seeded CPU training is not bit-reproducible across machines, so fast mode loads the checkpoints that
`make checkpoints` trained and shipped in data/checkpoints/. These tests check that the manifest
describes its files, that the project's own training code reproduces the manifest's metrics, and that
two runs of a notebook from an empty data folder (1 thread, then 2) record identical claims.
"""

import os
import re
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
def test_every_notebook_names_itself_for_the_seed_spread(path):
    """Its claims tables show the spread (and fragile verdicts) under nbval and in JupyterLab too."""
    import nbformat

    setup = nbformat.read(path, as_version=4).cells[1].source
    assert setup.rstrip().endswith(f'describe("{path.stem}")')


def claims_rows(path: Path) -> list[dict[str, str]]:
    """The rows of the claims tables that a committed notebook shows (their HTML outputs)."""
    import nbformat

    rows = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or "claims.table" not in cell.source:
            continue
        for output in cell.outputs:
            for tr in re.findall(r"<tr>(.*?)</tr>", output.get("data", {}).get("text/html", ""), re.S):
                cells = [re.sub(r"<.*?>", "", td).strip() for td in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)]
                if cells[1:] != [c for c in claims.COLUMNS if c != "notebook"]:  # skip the header row
                    rows.append(dict(zip(["index", *claims.COLUMNS[1:]], cells, strict=True)))
    return rows


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_fast_mode_claim_shown_is_backed_by_the_seed_spread(path):
    import nbformat

    rows = claims_rows(path)
    shows_tables = any("claims.table" in cell.source for cell in nbformat.read(path, as_version=4).cells)
    assert bool(rows) == shows_tables, "a notebook that shows claims tables must yield rows (parser check)"
    unbacked = [row["claim"] for row in rows if row["mode"] == "fast" and not row["seeds"]]
    assert not unbacked, f"no seed spread for these claims: run `make spread` for {path.stem}: {unbacked}"
    fragile = [row for row in rows if row["verdict"] == "fragile"]
    assert all(row["note"].startswith("fragile in fast mode") for row in fragile)
    if path.stem in ("03_gap_vs_flatten", "09_resnets_and_landscapes"):  # the two with the most claims
        assert len(rows) >= 10


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_committed_notebooks_loaded_shipped_checkpoints(path):
    """A committed notebook that trained a model ran a config the shipped set lacks: `make checkpoints`."""
    import nbformat

    printed = "".join(output.get("text", "") for cell in nbformat.read(path, as_version=4).cells
                      if cell.cell_type == "code" for output in cell.outputs)
    assert "trained in" not in printed and "saved to the cache" not in printed
    home, repo = str(Path.home()), str(NOTEBOOKS.parent.resolve())
    assert home not in printed and repo not in printed, "outputs must not show this machine's paths"


@pytest.mark.slow
def test_the_shipped_learning_curves_are_what_the_code_computes():
    """Notebook 04 loads its learning curves (about a hundred trainings) as shipped results: recompute the
    cheap part of one (the linear probe at 10 and 300 images per class, every seed, on the shipped source's
    codes) from the manifest's config alone and compare each accuracy with the shipped table's."""
    import functools

    from lecture_utils import data, transfer

    manifest = training.shipped_manifest()
    (stem,) = [s for s, e in manifest.items() if e["name"] == "04-curve-different"]
    curve = manifest[stem]["config"]
    source_config = manifest[curve["source"]]["config"]
    source, _ = training.cached("04-source", source_config, functools.partial(
        transfer.small_cnn, 5, source_config["width"]), lambda net: pytest.fail("the source must be shipped"))
    mnist = data.mnist()
    assert mnist.key == curve["data"]
    seed = curve["seeds"][0]
    pool = transfer.subset(mnist.train_images, mnist.train_labels, curve["classes"], max(curve["per class"]), seed=seed)
    test = transfer.subset(mnist.test_images, mnist.test_labels, curve["classes"])
    ours = transfer.learning_curve(source, pool, test, (10, 300), ["linear probe"], seeds=curve["seeds"],
                                   images_seen=curve["images_seen"], batch_size=curve["batch_size"], lr=curve["lr"])
    shipped = training.cached_table("04-curve-different", curve, lambda: pytest.fail("the curve must be shipped"))
    shipped = shipped[shipped["strategy"] == "linear probe"].set_index(["per class", "seed"])["test accuracy"]
    assert len(ours) == 2 * len(curve["seeds"])
    for row in ours.to_dict("records"):
        key = (row["per class"], row["seed"])
        assert row["test accuracy"] == pytest.approx(shipped[key], abs=ACCURACY_TOLERANCE), key
