"""Course machinery: the notebooks' banner, claims, exercises, slides, Colab cells, the build and benchmarks.

Teaching modules (``lecture_utils.<topic>``) never import this subpackage; notebooks use both.
"""

from __future__ import annotations

import os
import platform

import torch

from .. import data, runtime
from . import claims


def _mode_lines(dev: torch.device) -> list[str]:
    """The banner's mode line; on a GPU left at its default (fast, until full mode is validated there), how
    to opt in to full mode."""
    mode, chosen = runtime.mode(), os.environ.get("LECTURE_MODE", "").strip()
    if mode == "fast" and dev.type == "cuda" and not chosen:
        return [f"mode      {mode}  (the default on a GPU until full mode has been validated there)",
                "          for full mode: a first cell %env LECTURE_MODE=full (before the imports), then run all"]
    return [f"mode      {mode}  (set LECTURE_MODE=fast|full to change)"]


def description() -> str:
    """One short block: mode, device, versions, data folder and which data sources are available."""
    import torchvision

    dev = runtime.device()
    gpu = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    lines = _mode_lines(dev) + [
        f"device    {dev}{gpu}, {torch.get_num_threads()} CPU threads",
        f"versions  python {platform.python_version()}, torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}",
        f"data      {runtime.shown_path(runtime.data_dir())}{'  (offline: no downloads)' if runtime.offline() else ''}",
    ]
    lines += [f"  {name:<14}{where}" for name, where in data.available().items()]
    return "\n".join(lines)


def describe(notebook: str | None = None) -> None:
    """Print :func:`description`: the first output of every notebook, so a screenshot says how it was made.

    ``notebook`` (the notebook's file name without ``.ipynb``) names the notebook for
    :func:`claims.set_notebook`, so its claims tables show the seed spread and ``fragile`` verdicts.
    """
    if notebook is not None:
        claims.set_notebook(notebook)
    print(description())
