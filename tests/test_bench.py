import math

import nbformat

from lecture_utils.course import bench


def test_throughput_compares_fit_with_the_bare_loop():
    rows = bench.throughput(n=64, batch_sizes=(16,))
    assert [row["batch"] for row in rows] == [16]
    row = rows[0]
    assert row["bare loop img/s"] > 0 and row["fit img/s"] > 0
    assert math.isclose(row["fit / bare"], row["fit img/s"] / row["bare loop img/s"], rel_tol=1e-9)


def test_run_notebook_reports_time_memory_and_failure(tmp_path):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1 + 1")]), good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), bad)
    ok = bench.run_notebook(good)
    assert ok["status"] == "ok" and ok["seconds"] > 0 and ok["peak MB"] > 10  # a kernel takes tens of MB
    failed = bench.run_notebook(bad)
    assert failed["status"] == "failed" and math.isnan(failed["seconds"])
