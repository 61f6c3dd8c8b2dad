import math
import time

import nbformat
import torch
from torch import nn

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


def test_inference_seconds_times_a_forward_pass_and_leaves_the_model_in_eval_mode():
    calls = []

    class Slow(nn.Module):
        def forward(self, x):
            calls.append(self.training)
            time.sleep(0.02)
            return x

    model = Slow().train()
    seconds = bench.inference_seconds(model, torch.zeros(2, 3), repeats=2)
    assert 0.02 <= seconds < 0.5
    assert calls == [False, False, False]  # one warm-up, two timed, all in eval mode
