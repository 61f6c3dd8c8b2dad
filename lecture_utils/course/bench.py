"""Benchmark: notebook run times and peak memory, and ``fit``'s throughput against a bare PyTorch loop.

Run ``make bench`` or ``python -m lecture_utils.course.bench [--skip-notebooks] [--notebooks DIR]``.
A benchmark, not a test: it prints numbers and asserts nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from .. import runtime
from ..data import to_float
from ..models import cnn_gap
from ..training import fit
from . import cli, describe


def bare_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, lr: float = 1e-3) -> float:
    """One epoch of the plainest PyTorch training loop; returns images per second."""
    device = runtime.device()
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.randperm(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        loss = nn.functional.cross_entropy(model(to_float(x[idx]).to(device)), y[idx].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(x) / (time.perf_counter() - start)


def throughput(n: int = 2048, batch_sizes: tuple[int, ...] = (32, 128)) -> list[dict]:
    """Images/s of ``fit`` and of :func:`bare_loop` on the seeds' CNN-GAP with 64x64 inputs."""
    g = runtime.seed_everything(0)
    x = torch.randint(0, 256, (n, 1, 64, 64), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    rows = []
    for batch_size in batch_sizes:
        model = cnn_gap()
        bare_loop(model, x[:256], y[:256], batch_size)  # warm-up (allocator, kernels)
        bare = bare_loop(model, x, y, batch_size)
        ours = fit(model, (x, y), epochs=1, batch_size=batch_size, progress=False).images_per_s[-1]
        rows.append({"batch": batch_size, "bare loop img/s": bare, "fit img/s": ours, "fit / bare": ours / bare})
    return rows


def run_notebook(path: Path) -> dict:
    """Execute one notebook in a child process, cold: an empty data folder (``LECTURE_DATA``), so only the
    shipped checkpoints are there. Its seconds and peak resident memory (kernel included)."""
    code = (
        "import sys, json, resource, time, nbformat, nbclient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4); t = time.perf_counter()\n"
        "nbclient.NotebookClient(nb, timeout=1800, resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
        "peak = max(resource.getrusage(r).ru_maxrss for r in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'peak_mb': peak / 1024}))\n"
    )
    with tempfile.TemporaryDirectory() as cold:
        done = subprocess.run([sys.executable, "-c", code, str(path), str(path.parent)], capture_output=True,
                              text=True, env={**os.environ, "LECTURE_DATA": cold})
    if done.returncode:
        return {"notebook": path.name, "seconds": float("nan"), "peak MB": float("nan"), "status": "failed"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"notebook": path.name, "seconds": round(result["seconds"], 1), "peak MB": round(result["peak_mb"]),
            "status": "ok"}


def tsne_timings(n: int = 2000, seed: int = 0) -> list[dict]:
    """Why ``codes.tsne`` uses openTSNE: it against scikit-learn's TSNE on the same PCA-50 codes (Fashion-MNIST
    test images as pixels, perplexity 30, PCA initialisation); seconds and trustworthiness (k = 10)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE, trustworthiness

    from .. import codes, data

    x = PCA(50, random_state=seed).fit_transform(data.fashion_mnist().test_images[:n].flatten(1).float().numpy() / 255)
    runs = {"scikit-learn TSNE": lambda: TSNE(2, perplexity=30.0, init="pca", random_state=seed).fit_transform(x),
            "openTSNE (codes.tsne)": lambda: codes.tsne(torch.from_numpy(x), seed=seed)}
    rows = []
    for name, run in runs.items():
        start = time.perf_counter()
        points = run()
        rows.append({"library": name, "points": n, "seconds": round(time.perf_counter() - start, 1),
                     "trustworthiness": round(trustworthiness(x, points, n_neighbors=10), 3)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--notebooks", type=Path, default=runtime.REPO_ROOT / "notebooks")
    parser.add_argument("--skip-notebooks", action="store_true")
    args = parser.parse_args(argv)
    import pandas as pd

    if not args.skip_notebooks and not sorted(args.notebooks.glob("*.ipynb")):
        raise ValueError(f"no notebooks in {args.notebooks}; pass --notebooks DIR (a folder of .ipynb files)")
    describe()
    if not args.skip_notebooks:
        rows = []
        for path in sorted(args.notebooks.glob("*.ipynb")):
            rows.append(run_notebook(path))
            print(f"  {path.name}: {rows[-1]['seconds']} s", flush=True)
        print(f"\nNotebooks ({runtime.mode()} mode):\n{pd.DataFrame(rows).to_string(index=False)}")
    print(f"\nTraining throughput, CNN-GAP on 64x64 ({runtime.device()}, {torch.get_num_threads()} threads):")
    table = pd.DataFrame(throughput()).round({"bare loop img/s": 0, "fit img/s": 0, "fit / bare": 2})
    print(table.to_string(index=False))
    print(f"\nt-SNE (codes.tsne's library), PCA-50 pixel codes of Fashion-MNIST:\n{pd.DataFrame(tsne_timings())}")


if __name__ == "__main__":
    sys.exit(cli.run(main, "python -m lecture_utils.course.bench"))
