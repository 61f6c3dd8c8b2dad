"""Claims: verdicts, the kernel's table, the JSON lines the build gathers, and the report."""

import json

import numpy as np
import pytest
import torch

from lecture_utils.course import claims


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setattr(claims, "_recorded", {})
    monkeypatch.setenv("LECTURE_MODE", "fast")
    monkeypatch.delenv("LECTURE_CLAIMS_DIR", raising=False)
    monkeypatch.delenv("LECTURE_NOTEBOOK", raising=False)


@pytest.mark.parametrize(("lecture", "ours", "tolerance", "expected"), [
    (0.1103, 0.14, 0.05, "holds"),
    (0.1103, 0.17, 0.05, "differs"),
    (388_298, 388_298, 0, "holds"),
    (388_298, 388_299, 0, "differs"),
    (854e6, 860e6, "1%", "holds"),
    (854e6, 870e6, "1%", "differs"),
    (0.99, 0.5, None, "measured"),
    ("flatten", "flatten", 0, "holds"),
    ("flatten", "gap", 0, "differs"),
])
def test_verdict(lecture, ours, tolerance, expected):
    assert claims.verdict(lecture, ours, tolerance) == expected


@pytest.mark.parametrize("tolerance", [-0.1, "five%", "x", True, [1]])
def test_bad_tolerance_raises(tolerance):
    with pytest.raises(ValueError, match="tolerance must be a number >= 0 or a percentage"):
        claims.record("c", 1.0, 1.0, tolerance=tolerance)


def test_bad_values_raise():
    with pytest.raises(ValueError, match="claim must be a non-empty string"):
        claims.record("  ", 1, 1)
    with pytest.raises(ValueError, match="ours must be a number or a string"):
        claims.record("c", 1, [1, 2])
    with pytest.raises(ValueError, match="ours is NaN"):
        claims.record("c", 1, float("nan"))


def test_record_converts_scalars_and_tables_in_order():
    first = claims.record("flatten, shifted accuracy", 0.1103, torch.tensor(0.14), tolerance=0.05, notebook="03")
    assert first.ours == pytest.approx(0.14) and isinstance(first.ours, float)
    assert (first.mode, first.verdict, first.notebook) == ("fast", "holds", "03")
    claims.record("GAP params", 101_578, np.int64(101_578), tolerance=0, notebook="03")
    claims.record("GAP, shifted accuracy", 0.9906, 0.5, tolerance=0.05, unit="", notebook="03")
    table = claims.table()
    assert list(table["claim"]) == ["flatten, shifted accuracy", "GAP params", "GAP, shifted accuracy"]
    assert list(table["verdict"]) == ["holds", "holds", "differs"]
    assert list(table["ours"]) == ["0.14", "101,578", "0.5"]
    assert "notebook" not in table.columns
    assert list(claims.table(last=1)["claim"]) == ["GAP, shifted accuracy"]


def test_rerecording_replaces():
    claims.record("acc", 0.99, 0.5, tolerance=0.01, notebook="n")
    claims.record("acc", 0.99, 0.985, tolerance=0.01, notebook="n")
    assert list(claims.table()["verdict"]) == ["holds"]


def test_jsonl_written_and_gathered(monkeypatch, tmp_path):
    monkeypatch.setenv("LECTURE_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("LECTURE_NOTEBOOK", "03_gap_vs_flatten")
    claims.record("acc", 0.99, 0.5, tolerance=0.01)
    claims.record("acc", 0.99, 0.985, tolerance=0.01)  # a re-run cell: the last value wins
    claims.record("params", 388_298, 388_298, tolerance=0, notebook="02_counting")
    lines = (tmp_path / "claims" / "03_gap_vs_flatten.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["ours"] == 0.985
    gathered = claims.gather(tmp_path / "claims")
    assert gathered[["notebook", "claim", "verdict"]].values.tolist() == [
        ["02_counting", "params", "holds"], ["03_gap_vs_flatten", "acc", "holds"]]
    assert claims.counts(gathered) == "2 claims: 2 hold, 0 differ, 0 measured"


def test_gather_empty_and_corrupt(tmp_path):
    assert claims.gather(tmp_path / "missing").empty
    (tmp_path / "a.jsonl").write_text('{"notebook": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=r"a.jsonl:2 is not a JSON line"):
        claims.gather(tmp_path)


def test_report_files(monkeypatch, tmp_path):
    monkeypatch.setenv("LECTURE_CLAIMS_DIR", str(tmp_path / "claims"))
    claims.record("params <b>", 388_298, 388_298, tolerance=0, notebook="02_counting", note="a | b")
    claims.record("acc", 0.9906, 0.5, tolerance=0.05, notebook="03_gap_vs_flatten")
    claims.record("time", 60, 55.5, notebook="03_gap_vs_flatten", unit="s")
    frame = claims.gather(tmp_path / "claims")
    html_path, md_path = claims.write_report(frame, tmp_path)
    page = html_path.read_text()
    assert "1 hold, 1 differ, 1 measured" in page and "params &lt;b&gt;" in page and "388,298" in page
    md = md_path.read_text().splitlines()
    assert md[0] == "# Lecture claims vs our measurements"
    assert md[4] == "| notebook | claim | lecture | ours | unit | tolerance | mode | verdict | note |"
    assert md[6] == "| 02_counting | params <b> | 388,298 | 388,298 |  | 0 | fast | holds | a \\| b |"
    assert len(md) == 9
