"""Where and how the course runs: device, mode, seed and paths.

Every other module may import this one; it imports no other module of the package (not even lazily).

Environment variables (all optional):

- ``LECTURE_DEVICE``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``. Default: cuda, then mps, then cpu.
- ``LECTURE_MODE``: ``fast`` (subsets, few epochs, about a minute per notebook on 2 CPU cores) or
  ``full`` (the lectures' data sizes and numbers). Default: fast on every device, a CUDA GPU included,
  until full mode has been validated on a GPU (:data:`FULL_MODE_VALIDATED_ON_CUDA`; then full on CUDA).
- ``LECTURE_DATA``: folder for downloaded data and checkpoints. Default: ``data/cache`` in the
  repository (git-ignored), or ``~/.cache/inside-cnns`` when the package is installed elsewhere.
- ``LECTURE_OFFLINE``: ``1`` forbids downloads (CI sets it); ``0`` (default) allows them.
- ``LECTURE_SEED``: the base seed of the notebooks' training runs (default 0); the seed-spread script
  sets it to measure how much a fast-mode result depends on the seed.
- ``LECTURE_RETRAIN``: ``1`` trains every model even when a shipped or cached checkpoint exists.
- ``LECTURE_SHIP``: ``1`` (set by ``make checkpoints``) also writes every trained model to the shipped
  checkpoints, ``data/checkpoints/`` of the repository (``LECTURE_SHIPPED`` moves that folder; tests do).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

MODES = ("fast", "full")
DEVICES = ("cpu", "cuda", "cuda:N", "mps")
T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
# No run has yet executed every notebook in full mode on a GPU: until one has (and its seeds' numbers and run
# times are in the README), a CUDA device defaults to fast mode too, and describe() says how to opt in.
FULL_MODE_VALIDATED_ON_CUDA = False


def _env_choice(name: str, allowed: tuple[str, ...]) -> str | None:
    """Read an environment variable that must be one of ``allowed`` (unset or empty means None)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; use one of {', '.join(allowed)} (or unset it).")
    return value


def device() -> torch.device:
    """The device the course computes on: ``LECTURE_DEVICE`` if set, else cuda, then mps, then cpu."""
    value = os.environ.get("LECTURE_DEVICE", "").strip().lower()
    if value:
        is_cuda_n = value.startswith("cuda:") and value[5:].isdigit()
        if value not in ("cpu", "cuda", "mps") and not is_cuda_n:
            raise ValueError(f"LECTURE_DEVICE={value!r} is not allowed; use one of {', '.join(DEVICES)}.")
        if value.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"LECTURE_DEVICE={value!r} but torch sees no CUDA device; unset it or use cpu.")
        if value == "mps" and not torch.backends.mps.is_available():
            raise ValueError("LECTURE_DEVICE='mps' but MPS is not available here; unset it or use cpu.")
        return torch.device(value)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def mode() -> str:
    """``fast`` or ``full``: ``LECTURE_MODE`` if set, else fast (full on CUDA once
    :data:`FULL_MODE_VALIDATED_ON_CUDA` says full mode has been validated there)."""
    chosen = _env_choice("LECTURE_MODE", MODES)
    if chosen is not None:
        return chosen
    return "full" if FULL_MODE_VALIDATED_ON_CUDA and device().type == "cuda" else "fast"


def is_fast() -> bool:
    """True in fast mode."""
    return mode() == "fast"


def pick(fast: T, full: T) -> T:
    """The value for the current mode: the mode changes sizes, never code paths."""
    return fast if is_fast() else full


def offline() -> bool:
    """True when ``LECTURE_OFFLINE=1``: data loaders must not try to download."""
    return _env_choice("LECTURE_OFFLINE", ("0", "1")) == "1"


def seed() -> int:
    """The base seed of training runs: ``LECTURE_SEED`` if set (a non-negative int), else 0."""
    value = os.environ.get("LECTURE_SEED", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise ValueError(f"LECTURE_SEED={value!r} is not allowed; use a non-negative integer (or unset it).")
    return int(value)


def retrain() -> bool:
    """True when ``LECTURE_RETRAIN=1``: train every model, ignoring shipped and cached checkpoints."""
    return _env_choice("LECTURE_RETRAIN", ("0", "1")) == "1"


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a torch generator seeded the same way."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


def data_dir() -> Path:
    """Folder for downloaded data and checkpoints (created if missing)."""
    custom = os.environ.get("LECTURE_DATA", "").strip()
    if custom:
        path = Path(custom).expanduser()
    elif (REPO_ROOT / "data").is_dir() and os.access(REPO_ROOT / "data", os.W_OK):
        path = REPO_ROOT / "data" / "cache"
    else:
        path = Path.home() / ".cache" / "inside-cnns"
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_dir() -> Path:
    """Folder of cached model checkpoints (inside :func:`data_dir`)."""
    path = data_dir() / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shipped_dir() -> Path:
    """The reference checkpoints committed with the course: ``data/checkpoints`` of the repository
    (``LECTURE_SHIPPED`` overrides it), whatever ``LECTURE_DATA`` says."""
    custom = os.environ.get("LECTURE_SHIPPED", "").strip()
    return Path(custom).expanduser() if custom else REPO_ROOT / "data" / "checkpoints"


def ship() -> bool:
    """True when ``LECTURE_SHIP=1``: trained models are also written to :func:`shipped_dir`."""
    return _env_choice("LECTURE_SHIP", ("0", "1")) == "1"


def shown_path(path: os.PathLike | str) -> str:
    """``path`` relative to the repository when inside it, else with the home folder as ``~``: what
    notebooks print, so that committed outputs hold no machine's absolute folders."""
    path = Path(path).resolve()
    for base, label in ((REPO_ROOT, "."), (Path.home(), "~")):
        if path.is_relative_to(base):
            return str(Path(label) / path.relative_to(base))
    return str(path)
