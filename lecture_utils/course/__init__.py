"""Course machinery: the notebooks' banner, claims, exercises, slides, Colab cells, the build and benchmarks.

Teaching modules (``lecture_utils.<topic>``) never import this subpackage; notebooks use both.
"""

from __future__ import annotations

import platform

import torch

from .. import data, runtime
from . import claims


def description() -> str:
    """One short block: mode, device, versions, data folder and which data sources are available."""
    import torchvision

    dev = runtime.device()
    gpu = f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""
    lines = [
        f"mode      {runtime.mode()}  (set LECTURE_MODE=fast|full to change)",
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
