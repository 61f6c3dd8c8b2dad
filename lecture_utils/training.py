"""Training on tensors in memory: ``fit``, ``predict``, ``evaluate`` and cached checkpoints.

Images may be uint8 (scaled to [0, 1] batch by batch, so a data set stays small in memory) or float.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from . import runtime
from .data import to_float

MANIFEST = "manifest.json"  # in runtime.shipped_dir(): one entry per shipped checkpoint


@dataclass
class History:
    """Per-epoch record of a training run."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images_per_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[float]]:
        return asdict(self)


@dataclass
class Metrics:
    """Accuracy and macro-averaged precision, recall and F1 (scikit-learn), as on the seeds' slide."""

    accuracy: float
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check_xy(name: str, data) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a ``(images, labels)`` pair."""
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise ValueError(f"{name} must be a tuple (images, labels), got {type(data).__name__}")
    x, y = data
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(f"{name} images must be a tensor (N, ...), got {getattr(x, 'shape', type(x).__name__)}")
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),):
        raise ValueError(f"{name} labels must be a tensor of shape ({len(x)},), got {getattr(y, 'shape', y)}")
    return x, y.long()


def _batches(x: torch.Tensor, batch_size: int, order: torch.Tensor | None = None):
    """Yield (start index tensor) slices of a data set, in ``order`` if given."""
    n = len(x)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size] if order is not None else slice(start, start + batch_size)


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 64, device=None) -> torch.Tensor:
    """Logits of ``model`` (eval mode) on ``images``, in batches (64: fastest on a laptop CPU); on the CPU."""
    device = device or runtime.device()
    model.eval().to(device)
    outputs = [model(to_float(images[idx]).to(device)).float().cpu() for idx in _batches(images, batch_size)]
    return torch.cat(outputs)


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 64) -> Metrics:
    """Accuracy and macro precision / recall / F1 of ``model`` on a labelled set."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    images, labels = _check_xy("evaluate's data", (images, labels))
    pred = predict(model, images, batch_size).argmax(dim=1).numpy()
    true = labels.numpy()
    p, r, f, _ = precision_recall_fscore_support(true, pred, average="macro", zero_division=0)
    return Metrics(float(accuracy_score(true, pred)), float(p), float(r), float(f))


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 32,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "onecycle",
    seed: int = 0,
    device=None,
    progress: bool = True,
    param_groups: list[dict] | None = None,
    batch_loss=None,
) -> History:
    """Train ``model`` with cross-entropy on in-memory tensors; return its :class:`History`.

    optimizer: ``adam`` or ``sgd`` (momentum 0.9). schedule: ``onecycle`` (warm up, then anneal to
    zero: robust with few epochs), ``cosine`` or ``constant``. Shuffling is seeded by ``seed``.
    param_groups: ``[{"params": [...], "lr_scale": s}, ...]`` trains each group with ``lr * s`` (e.g. a
    smaller rate for pretrained layers than for a new head); default: every parameter that requires grad.
    batch_loss: ``(model, images, labels) -> (loss, logits)`` replaces the plain cross-entropy of a batch
    (e.g. adversarial training); ``images`` are floats in [0, 1] on the device.
    """
    x, y = _check_xy("train", train)
    if test is not None:
        _check_xy("test", test)
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    device = device or runtime.device()
    model.to(device)
    if param_groups is None:
        param_groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr_scale": 1.0}]
    params = [{"params": g["params"], "lr": lr * g.get("lr_scale", 1.0)} for g in param_groups]
    max_lr = [g["lr"] for g in params]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    steps = epochs * -(-len(x) // batch_size)
    schedules = {
        "onecycle": lambda: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=steps),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps),
        "constant": lambda: torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0),
    }
    if schedule not in schedules:
        raise ValueError(f"schedule must be one of {sorted(schedules)}, got {schedule!r}")
    scheduler = schedules[schedule]()
    generator = torch.Generator().manual_seed(seed)
    history = History()
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for _ in bar:
        model.train()
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for idx in _batches(x, batch_size, torch.randperm(len(x), generator=generator)):
            xb, yb = to_float(x[idx]).to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
            if batch_loss is None:
                logits = model(xb)
                loss = nn.functional.cross_entropy(logits, yb)
            else:
                loss, logits = batch_loss(model, xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            scheduler.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.argmax(1) == yb).sum()
        seconds = time.perf_counter() - start
        history.train_loss.append(loss_sum.item() / len(x))
        history.train_acc.append(correct.item() / len(x))
        history.seconds.append(seconds)
        history.images_per_s.append(len(x) / seconds)
        if test is not None:
            history.test_acc.append(evaluate(model, *test).accuracy)
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", acc=f"{history.train_acc[-1]:.3f}",
                        **({"test": f"{history.test_acc[-1]:.3f}"} if test is not None else {}))
    model.eval()
    return history


def config_hash(config: dict) -> str:
    """Short SHA-256 of a JSON-serialisable config: the identity of a cached checkpoint."""
    try:
        text = json.dumps(config, sort_keys=True)
    except TypeError as error:
        raise ValueError(f"config must be JSON-serialisable (numbers, strings, lists, dicts): {error}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _atomic_write(path: os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    os.replace(tmp, path)


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def checkpoint_bytes(model: nn.Module, history: History, config: dict) -> bytes:
    """The saved form of a trained model: its state dict (on the CPU), its history and its config."""
    buffer = io.BytesIO()
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model": state_dict, "history": history.as_dict(), "config": config}, buffer)
    return buffer.getvalue()


def load_checkpoint(payload: bytes, expected_sha256: str) -> dict:
    """Verify ``payload`` against its SHA-256, then load it with ``torch.load(weights_only=True)``."""
    if _sha256(payload) != expected_sha256:
        raise ValueError("checksum mismatch (truncated or corrupted file)")
    return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")


def shipped_manifest() -> dict[str, dict]:
    """The manifest of the shipped checkpoints (``{"NAME-HASH": entry}``); empty when there is none."""
    path = runtime.shipped_dir() / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def final_metrics(history: History) -> dict[str, float]:
    """The last value of each per-epoch metric of ``history`` (what the manifest records)."""
    return {key: values[-1] for key, values in history.as_dict().items()
            if values and key in ("train_loss", "train_acc", "test_acc")}


def shapes(state_dict: dict[str, torch.Tensor]) -> dict[str, str]:
    """Each tensor's shape as text, e.g. ``{"conv1.weight": "32x1x3x3"}`` (what the manifest records)."""
    return {key: "x".join(map(str, value.shape)) for key, value in state_dict.items()}


def table_columns(columns: dict) -> dict[str, str]:
    """Each stored column of a results table as text, e.g. ``{"seed": "list of 45", "correct": "45x125"}``
    (what the manifest records for a table)."""
    return {key: "x".join(map(str, value.shape)) if isinstance(value, torch.Tensor) else f"list of {len(value)}"
            for key, value in columns.items()}


def stored_columns(table: pd.DataFrame) -> tuple[dict, dict[str, int]]:
    """A results table as stored: each column a list of numbers or strings, or, when its cells are arrays of
    one shape, one stacked tensor; a column of boolean arrays (which test images a model got right) packed 8
    to a byte (``np.packbits``). Returns the columns and, for each packed column, its arrays' length."""
    columns, bits = {}, {}
    for key in table.columns:
        values = table[key].tolist()
        if values and isinstance(values[0], np.ndarray):
            stacked = np.stack(values)
            if stacked.dtype == bool:
                bits[key], stacked = stacked.shape[-1], np.packbits(stacked, axis=-1)
            columns[key] = torch.from_numpy(stacked)
        else:
            columns[key] = values
    return columns, bits


def table_bytes(columns: dict, bits: dict[str, int], config: dict, seconds: float) -> bytes:
    """The saved form of a results table: its :func:`stored_columns`, its config and the seconds it took."""
    buffer = io.BytesIO()
    torch.save({"table": columns, "bits": bits, "config": config, "seconds": seconds}, buffer)
    return buffer.getvalue()


def _table(state: dict) -> pd.DataFrame:
    """The table that :func:`table_bytes` stored."""
    def cells(key, value):
        if not isinstance(value, torch.Tensor):
            return value
        if key in state["bits"]:
            return list(np.unpackbits(value.numpy(), axis=-1, count=state["bits"][key]).astype(bool))
        return list(value.numpy())

    return pd.DataFrame({key: cells(key, value) for key, value in state["table"].items()})


def _ship(stem: str, payload: bytes, config: dict, described: dict) -> None:
    """Add a trained model or a results table to the shipped set and its entry to the manifest
    (``make checkpoints``); ``described``: what the entry says of the contents (shapes and metrics, or columns)."""
    folder = runtime.shipped_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / f"{stem}.pt", payload)
    manifest = shipped_manifest()
    name, config_hash_ = stem.rsplit("-", 1)
    manifest[stem] = {
        "name": name,
        "config_hash": config_hash_,
        "config": config,
        "sha256": _sha256(payload),
        "bytes": len(payload),
        **described,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "notebook": os.environ.get("LECTURE_NOTEBOOK", ""),
    }
    _atomic_write(folder / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def _stem(name: str, config: dict) -> tuple[str, dict]:
    """The file stem ``NAME-CONFIGHASH`` and the config as stored (as JSON reads it back: tuples become lists,
    so that the file and the manifest hold the same config)."""
    if not name or any(ch in name for ch in "/\\ "):
        raise ValueError(f"name must be a non-empty string without slashes or spaces, got {name!r}")
    return f"{name}-{config_hash(config)}", json.loads(json.dumps(config))


def _load_first(name: str, stem: str, what: str, use: Callable[[dict], object]):
    """The shipped file of ``stem``, else the user's cached one, verified and passed through ``use`` (which
    raises if the contents do not fit); None when neither is usable or ``LECTURE_RETRAIN=1``."""
    if runtime.retrain():
        return None
    path = runtime.checkpoint_dir() / f"{stem}.pt"
    checksum_path = path.with_name(path.name + ".sha256")
    shipped = shipped_manifest().get(stem)
    candidates = [("shipped", runtime.shipped_dir() / f"{stem}.pt", shipped["sha256"] if shipped else None),
                  ("cached", path, checksum_path.read_text().strip() if checksum_path.is_file() else "")]
    for source, candidate, expected in candidates:
        if expected is None or not candidate.is_file():
            continue
        try:
            result = use(load_checkpoint(candidate.read_bytes(), expected))
        except Exception as error:
            warnings.warn(f"{what} {candidate.name} is unusable ({error}); not loaded.", stacklevel=3)
            continue
        print(f"{name}: loaded the {source} {what} {runtime.shown_path(candidate)}")
        return result
    return None


def _save(name: str, stem: str, payload: bytes, verb: str, seconds: float, config: dict, described: dict) -> None:
    """Write a freshly computed ``payload`` to the user's cache (atomically, with its SHA-256) and, under
    ``LECTURE_SHIP=1``, to the shipped set; print one line saying so."""
    why = "LECTURE_RETRAIN=1" if runtime.retrain() else "no checkpoint for this config yet"
    print(f"{name}: {verb} in {seconds:.0f} s ({why}); saved to the cache")
    path = runtime.checkpoint_dir() / f"{stem}.pt"
    _atomic_write(path, payload)
    _atomic_write(path.with_name(path.name + ".sha256"), _sha256(payload).encode())
    if runtime.ship():
        _ship(stem, payload, config, {**described, "train_seconds": round(seconds, 1)})


def cached(
    name: str,
    config: dict,
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], History],
) -> tuple[nn.Module, History]:
    """Load if shipped or cached, else train: the model ``build()`` makes, trained by ``train(model)``.

    The checkpoint of ``(name, config)`` is ``NAME-CONFIGHASH.pt``: state dict, history and config.
    Looked up, in order: the shipped checkpoints of the course (``data/checkpoints/``, trained by
    ``make checkpoints``, listed with their SHA-256 in ``manifest.json``), then the user's cache
    (``checkpoints/`` in ``runtime.data_dir()``, a ``.sha256`` file beside each). ``LECTURE_RETRAIN=1``
    skips both. A truncated or corrupted file is reported and never loaded; the model is retrained and
    written atomically (temp file + rename). Prints one line saying which it did. Loading uses
    ``torch.load(..., weights_only=True)``.
    """
    stem, config = _stem(name, config)

    def use(state):
        model = build()
        model.load_state_dict(state["model"])
        return model.eval(), History(**state["history"])

    loaded = _load_first(name, stem, "checkpoint", use)
    if loaded is not None:
        return loaded
    model = build()
    start = time.perf_counter()
    history = train(model)
    _save(name, stem, checkpoint_bytes(model, history, config), "trained", time.perf_counter() - start, config,
          {"shapes": shapes(model.state_dict()), "metrics": final_metrics(history)})
    return model.eval(), history


def cached_table(name: str, config: dict, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Load if shipped or cached, else compute: a table of results that many trainings produce (a learning
    curve), looked up and stored exactly as :func:`cached` does a model (``NAME-CONFIGHASH.pt``, shipped set
    first, SHA-256 checked, ``LECTURE_RETRAIN=1`` recomputes, ``make checkpoints`` ships it).

    ``config`` must name everything the result depends on (data, sizes, seeds, budget, the checkpoint of
    the pretrained net), since only its hash tells a stored table from a stale one. ``compute()`` returns
    a DataFrame whose cells are numbers, strings or numpy arrays (one shape per column).
    """
    stem, config = _stem(name, config)
    loaded = _load_first(name, stem, "results", _table)
    if loaded is not None:
        return loaded
    start = time.perf_counter()
    table = compute()
    seconds = time.perf_counter() - start
    columns, bits = stored_columns(table)
    _save(name, stem, table_bytes(columns, bits, config, seconds), "computed", seconds, config,
          {"columns": table_columns(columns)})
    return table
