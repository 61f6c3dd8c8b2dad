"""Training on tensors in memory: ``fit``, ``predict``, ``evaluate`` and cached checkpoints.

Images may be uint8 (scaled to [0, 1] batch by batch, so a data set stays small in memory) or float.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from . import runtime
from .data import to_float


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
) -> History:
    """Train ``model`` with cross-entropy on in-memory tensors; return its :class:`History`.

    optimizer: ``adam`` or ``sgd`` (momentum 0.9). schedule: ``onecycle`` (warm up, then anneal to
    zero: robust with few epochs), ``cosine`` or ``constant``. Shuffling is seeded by ``seed``.
    """
    x, y = _check_xy("train", train)
    if test is not None:
        _check_xy("test", test)
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    device = device or runtime.device()
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    steps = epochs * -(-len(x) // batch_size)
    schedules = {
        "onecycle": lambda: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps),
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
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
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


def cached(
    name: str,
    config: dict,
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], History],
) -> tuple[nn.Module, History]:
    """Load if cached, else train: the model ``build()`` makes, trained by ``train(model)``.

    The checkpoint ``checkpoints/{name}-{config_hash}.pt`` holds the state dict, the history and the
    config; a ``.sha256`` file beside it holds its checksum. A missing, truncated or corrupted file
    is reported and the model retrained; files are written atomically (temp file + rename).
    Loading uses ``torch.load(..., weights_only=True)``.
    """
    import io

    if not name or any(ch in name for ch in "/\\ "):
        raise ValueError(f"name must be a non-empty string without slashes or spaces, got {name!r}")
    path = runtime.checkpoint_dir() / f"{name}-{config_hash(config)}.pt"
    checksum_path = path.with_name(path.name + ".sha256")
    model = build()
    if path.is_file():
        payload = path.read_bytes()
        expected = checksum_path.read_text().strip() if checksum_path.is_file() else ""
        try:
            if hashlib.sha256(payload).hexdigest() != expected:
                raise ValueError("checksum mismatch (truncated or corrupted file)")
            state = torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
            model.load_state_dict(state["model"])
            return model.eval(), History(**state["history"])
        except Exception as error:
            warnings.warn(f"checkpoint {path.name} is unusable ({error}); retraining.", stacklevel=2)
            model = build()
    history = train(model)
    buffer = io.BytesIO()
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model": state_dict, "history": history.as_dict(), "config": config}, buffer)
    payload = buffer.getvalue()
    _atomic_write(path, payload)
    _atomic_write(checksum_path, hashlib.sha256(payload).hexdigest().encode())
    return model.eval(), history
