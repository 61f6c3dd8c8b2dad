"""Adversarial examples: a small perturbation ``r`` that changes a CNN's decision.

- ``fooling``: the slide's optimisation (Szegedy et al. 2014), ``min_r CE(f(I + r), y2) + c ||r||_2``;
- ``fgsm``: the fast gradient sign method (Goodfellow et al. 2015), ``x' = x + eps sign(grad_x J(x, y))``;
- ``pgd``: projected gradient descent (Madry et al. 2018), FGSM steps projected back onto the eps-ball,
  optionally from several random starts (the strongest per image is kept);
- ``correct_under_attack`` / ``robust_accuracy``: which images (and how many) the net still gets right under
  attack, for several eps; ``adversarial_training``: training on them;
- ``linear_change``: the linear explanation, ``w.(x + eps sign(w)) - w.x = eps ||w||_1``; ``linearisation``:
  the same first-order prediction for a net's loss, with and without the clamp to [0, 1];
- ``pixel_model``: a net that expects standardised inputs, wrapped so that attacks work on pixels in [0, 1].

Images live in pixel space [0, 1] (any normalisation belongs inside the model). Every attack clamps to
[0, 1], returns new tensors, and leaves the model's mode, its parameters' ``requires_grad`` and ``.grad``
as they were (gradients are taken with respect to the input only).
"""

from __future__ import annotations

import contextlib

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from torchvision import transforms

from . import training
from .data import to_float


def mnist_cnn(width: int = 16, hidden: int = 64) -> nn.Sequential:
    """A small MNIST CNN without BatchNorm or dropout (its mode does not change what an attack sees):
    conv5-ReLU-pool, conv5-ReLU-pool, dense-ReLU, dense."""
    return nn.Sequential(
        nn.Conv2d(1, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 7 * 7, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def _check(images, labels=None, eps: float | None = None) -> torch.Tensor:
    if not torch.is_tensor(images) or images.dim() != 4:
        raise ValueError(f"images must be a 4-D tensor (N, C, H, W), got "
                         f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    images = to_float(images)
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"images must lie in [0, 1] (pixel space), got values in "
                         f"[{images.min().item():.3g}, {images.max().item():.3g}]")
    if labels is not None and (not torch.is_tensor(labels) or labels.shape != (len(images),)):
        raise ValueError(f"labels must be a tensor of shape ({len(images)},), one per image, got "
                         f"{tuple(labels.shape) if torch.is_tensor(labels) else type(labels).__name__}")
    if eps is not None and not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    return images


@contextlib.contextmanager
def _attacking(model: nn.Module):
    """Eval mode and frozen parameters for the attack (autograd then skips the weights' gradients); the
    model's mode and its parameters' ``requires_grad`` restored afterwards, also on error."""
    was_training = model.training
    parameters = list(model.parameters())
    trainable = [p.requires_grad for p in parameters]
    model.eval()
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        model.train(was_training)
        for p, flag in zip(parameters, trainable, strict=True):
            p.requires_grad_(flag)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def input_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``grad_x J(x, y)``: the gradient of the mean cross-entropy with respect to the images (N, C, H, W).

    Only the input's gradient is computed: the parameters' ``.grad`` stay as they were. Works inside
    ``torch.no_grad()`` too (gradients are switched on for this computation).
    """
    x = images.detach().to(_device(model)).requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), labels.to(x.device))
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, targeted: bool = False
         ) -> torch.Tensor:
    """FGSM: ``x' = clip_[0,1](x + eps sign(grad_x J(x, y)))``; targeted (``labels`` are the targets):
    ``x' = clip(x - eps sign(grad_x J(x, y_target)))``, a step *down* the target's loss."""
    x = _check(images, labels, eps).to(_device(model))
    with _attacking(model):
        step = eps * input_gradient(model, x, labels).sign()
    return (x - step if targeted else x + step).clamp(0, 1).detach()


def _attack_objective(model: nn.Module, adv: torch.Tensor, labels: torch.Tensor, targeted: bool
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: did the attack succeed (wrong class; targeted: the target class), and the attacker's
    objective (the loss; targeted: minus the target's loss)."""
    with torch.no_grad():
        logits = model(adv)
    loss = F.cross_entropy(logits, labels, reduction="none")
    hit = logits.argmax(1) == labels
    return (hit, -loss) if targeted else (~hit, loss)


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, alpha: float, steps: int,
        random_start: bool = True, targeted: bool = False, seed: int | None = None, restarts: int = 1
        ) -> torch.Tensor:
    """L-infinity PGD (Madry et al.): from x (or a uniform start in the eps-ball, seeded by ``seed``), ``steps``
    times ``x' <- Proj(x' + alpha sign(grad_x J(x', y)))``, Proj = clip to ``[x - eps, x + eps]`` and to [0, 1].

    ``restarts`` > 1: that many random starts (seeds ``seed``, ``seed + 1``, ...; ``seed=None``: unseeded);
    per image the run that succeeds is kept, among those (or if none does) the one with the highest loss
    (targeted: the lowest loss of the target).
    """
    x = _check(images, labels, eps).to(_device(model))
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if restarts < 1 or (restarts > 1 and not random_start):
        raise ValueError(f"restarts must be >= 1 (and > 1 only with random_start=True), got {restarts}")
    labels = labels.to(x.device)
    best = best_success = best_objective = None
    with _attacking(model):
        for restart in range(restarts):
            adv = x.clone()
            if random_start:
                generator = torch.Generator().manual_seed(seed + restart) if seed is not None else None
                noise = torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1
                adv = (adv + eps * noise).clamp(0, 1)
            for _ in range(steps):
                step = alpha * input_gradient(model, adv, labels).sign()
                adv = adv - step if targeted else adv + step
                adv = (x + (adv - x).clamp(-eps, eps)).clamp(0, 1)
            if restarts == 1:
                return adv.detach()
            success, objective = _attack_objective(model, adv, labels, targeted)
            if best is None:
                best, best_success, best_objective = adv, success, objective
                continue
            better = (success & ~best_success) | ((success == best_success) & (objective > best_objective))
            best = torch.where(better.view(-1, 1, 1, 1), adv, best)
            best_success, best_objective = best_success | success, torch.where(better, objective, best_objective)
    return best.detach()


def fooling(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, c: float, steps: int, lr: float
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The slide's fooling image: ``min_r CE(f(I + r), y2) + c ||r||_2`` with ``I + r`` kept in [0, 1], by
    Adam on ``r`` (Szegedy et al. used box-constrained L-BFGS). Returns ``r`` (N, C, H, W) and whether
    ``I + r`` is classified as its target (N,) bool."""
    x = _check(images, targets).to(_device(model))
    if c < 0 or steps < 1 or not lr > 0:
        raise ValueError(f"need c >= 0, steps >= 1, lr > 0; got {c}, {steps}, {lr}")
    y2 = targets.to(x.device)
    r = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.Adam([r], lr=lr)
    with _attacking(model), torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(model(x + r), y2, reduction="sum") + c * r.flatten(1).norm(dim=1).sum()
            (grad,) = torch.autograd.grad(loss, r)
            r.grad = grad
            opt.step()
            with torch.no_grad():
                r.copy_((x + r).clamp(0, 1) - x)  # keep I + r a valid image
        with torch.no_grad():
            success = model(x + r).argmax(1) == y2
    return r.detach(), success.cpu()


def _pgd10(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
    """PGD as ``robust_accuracy`` runs it: alpha = eps/4, 10 steps, seeded random start (eps = 0: no change)."""
    if eps == 0:
        return _check(images, labels).clone()
    return pgd(model, images, labels, eps, alpha=eps / 4, steps=10, seed=0)


ATTACKS = {"fgsm": fgsm, "pgd": _pgd10}


def correct_under_attack(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack, eps_values,
                         batch_size: int = 500) -> torch.Tensor:
    """Which images ``model`` still classifies right on ``attack(model, x, y, eps)``: a bool tensor
    (len(eps_values), N), one row per eps (the per-image outcomes behind an accuracy and its interval).

    ``attack``: ``"fgsm"``, ``"pgd"`` (alpha = eps/4, 10 steps, seeded random start) or such a function.
    """
    if isinstance(attack, str):
        if attack not in ATTACKS:
            raise ValueError(f"attack must be one of {sorted(ATTACKS)} or a function, got {attack!r}")
        attack = ATTACKS[attack]
    images = _check(images, labels)
    rows = []
    for eps in eps_values:
        adv = torch.cat([attack(model, images[i:i + batch_size], labels[i:i + batch_size], eps).cpu()
                         for i in range(0, len(images), batch_size)])
        rows.append(training.predict(model, adv, batch_size).argmax(1) == labels)
    return torch.stack(rows)


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack, eps_values,
                    batch_size: int = 500) -> pd.DataFrame:
    """Accuracy on ``attack(model, x, y, eps)`` for each eps: a DataFrame with columns ``eps``, ``accuracy``
    (the means of :func:`correct_under_attack`'s rows)."""
    correct = correct_under_attack(model, images, labels, attack, eps_values, batch_size)
    return pd.DataFrame({"eps": list(eps_values), "accuracy": correct.float().mean(1).tolist()})


def adversarial_training(model: nn.Module, train, test=None, *, eps: float, attack: str = "fgsm",
                         mix: float = 0.5, pgd_steps: int = 7, **fit_kwargs) -> training.History:
    """``training.fit`` on the objective ``mix J(x, y) + (1 - mix) J(x_adv, y)`` (the FGSM paper: mix = 0.5;
    Madry et al.: mix = 0, PGD). ``x_adv`` is made afresh for every batch against the current weights with
    ``attack`` (``"fgsm"`` or ``"pgd"``: ``pgd_steps`` steps of eps/4 from a random start)."""
    if attack not in ATTACKS or not 0 <= mix <= 1 or not eps >= 0:
        raise ValueError(f"need attack in {sorted(ATTACKS)}, 0 <= mix <= 1, eps >= 0; got {attack!r}, {mix}, {eps}")
    generator = torch.Generator().manual_seed(fit_kwargs.get("seed", 0))

    def batch_loss(net, x, y):
        if attack == "fgsm" or eps == 0:
            x_adv = fgsm(net, x, y, eps)
        else:
            x_adv = pgd(net, x, y, eps, alpha=eps / 4, steps=pgd_steps,
                        seed=int(torch.randint(2**31, (1,), generator=generator)))
        logits = net(x)
        loss = mix * F.cross_entropy(logits, y) + (1 - mix) * F.cross_entropy(net(x_adv), y)
        return loss, logits

    return training.fit(model, train, test, batch_loss=batch_loss, **fit_kwargs)


def linear_change(w: torch.Tensor, eps: float) -> tuple[float, float]:
    """The linear explanation: for ``x' = x + eps sign(w)``, ``w.x' - w.x`` (computed) and ``eps ||w||_1``
    (the formula). Each coordinate moves by only eps, yet the activation moves by eps times the dimension
    times the mean |w|."""
    x = torch.rand(w.numel(), generator=torch.Generator().manual_seed(0), dtype=w.dtype)
    w = w.flatten()
    return (w @ (x + eps * w.sign()) - w @ x).item(), eps * w.abs().sum().item()


def linearisation(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps_values) -> pd.DataFrame:
    """FGSM's loss increase against its first-order predictions, per image and eps (long format: columns
    ``eps``, ``image``, ``predicted``, ``clamp-aware``, ``actual``, ``clamped``).

    With g = grad_x J(x, y) of each image's own loss and x' its FGSM image:
    ``predicted`` = eps ||g||_1 (the linear explanation, no clamp), ``clamp-aware`` = g.(x' - x) (the step
    that is actually taken: pixels at 0 or 1 cannot move outwards), ``actual`` = J(x') - J(x), and
    ``clamped`` = the share of the image's pixels whose step [0, 1] cut short.
    """
    x = _check(images, labels).to(_device(model))
    labels = labels.to(x.device)

    def loss(z):
        with torch.no_grad():
            return F.cross_entropy(model(z), labels, reduction="none")

    rows = []
    with _attacking(model):
        g = (input_gradient(model, x, labels) * len(x)).flatten(1)  # per image: undo the batch mean
        clean = loss(x)
        for eps in eps_values:
            adv = fgsm(model, x, labels, eps)
            step = (adv - x).flatten(1)
            rows.append(pd.DataFrame({
                "eps": eps, "image": range(len(x)), "predicted": (eps * g.abs().sum(1)).cpu(),
                "clamp-aware": (g * step).sum(1).cpu(), "actual": (loss(adv) - clean).cpu(),
                "clamped": ((step.abs() < eps - 1e-7) & (g != 0)).float().mean(1).cpu()}))
    return pd.concat(rows, ignore_index=True)


def pixel_model(net: nn.Module, mean, std) -> nn.Sequential:
    """``net`` behind its standardisation ``(x - mean) / std``: a model of pixels in [0, 1], so eps is measured
    in pixel units (eps = 1/255: one grey level of an 8-bit image). In the net's input units the same step
    is eps / std_c per channel."""
    if len(mean) != len(std) or not all(s > 0 for s in std):
        raise ValueError(f"mean and std must have one entry per channel and std > 0, got {mean}, {std}")
    return nn.Sequential(transforms.Normalize(mean, std), net).eval()


def plot_fooling(image: torch.Tensor, r: torch.Tensor, probs_before: torch.Tensor, probs_after: torch.Tensor,
                 classes=None) -> plt.Figure:
    """Original, perturbation (magnified to the full colour range, with its scale), result, and the
    class probabilities before and after."""
    classes = list(classes) if classes is not None else [str(i) for i in range(len(probs_before))]
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.8), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    scale = r.abs().max().item()
    before, after = probs_before.argmax().item(), probs_after.argmax().item()
    panels = [(image, f"original: {classes[before]} ({probs_before[before]:.0%})", "gray", 0, 1),
              (r, f"perturbation r (±{scale:.3f}, magnified)", "RdBu_r", -scale, scale),
              ((image + r).clamp(0, 1), f"I + r: {classes[after]} ({probs_after[after]:.0%})", "gray", 0, 1)]
    for ax, (img, title, cmap, lo, hi) in zip(axes, panels, strict=False):
        ax.imshow(img.squeeze().cpu(), cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    positions = torch.arange(len(classes))
    axes[3].bar(positions - 0.2, probs_before.cpu(), 0.4, label="original")
    axes[3].bar(positions + 0.2, probs_after.cpu(), 0.4, label="I + r")
    axes[3].set_xticks(positions, classes, fontsize=8)
    axes[3].set_ylabel("probability")
    axes[3].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_eps(tables: dict[tuple[str, str] | str, pd.DataFrame],
                         reference: dict[str, tuple[float, float]] | None = None) -> plt.Figure:
    """Accuracy against eps, one line per ``(net, attack)`` table (or ``"net / attack"``): colour by net, line
    style by attack, a band where the table has ``low`` / ``high`` columns (the interval); ``reference``
    points (eps, accuracy) marked."""
    tables = {key if isinstance(key, tuple) else tuple(key.split(" / ", 1)): table for key, table in tables.items()}
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    nets = list(dict.fromkeys(net for net, _ in tables))
    attacks = list(dict.fromkeys(attack for _, attack in tables))
    styles = ["-", "--", ":", "-."]
    for (net, attack), table in tables.items():
        color, style = f"C{nets.index(net)}", styles[attacks.index(attack) % len(styles)]
        ax.plot(table["eps"], table["accuracy"], marker="o", ms=3, color=color, linestyle=style,
                label=f"{net} / {attack}")
        if {"low", "high"} <= set(table.columns):
            ax.fill_between(table["eps"], table["low"], table["high"], color=color, alpha=0.15, linewidth=0)
    for i, (name, (eps, acc)) in enumerate((reference or {}).items()):
        ax.scatter([eps], [acc], marker="*", s=140, zorder=3, color="k" if i == 0 else "0.5", label=name)
    ax.set_xlabel("eps (L-infinity, pixels in [0, 1])")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_predictions(images: torch.Tensor, probabilities: torch.Tensor, labels: torch.Tensor,
                     column_titles=None, row_titles=None) -> plt.Figure:
    """A grid of images (rows, columns, C, H, W) titled with the net's prediction and its probability
    (``probabilities``: rows, columns, classes), green where it equals ``labels`` and red where not.
    ``labels``: one per row (rows,), e.g. the true digits, or one per image (rows, columns), e.g. targets."""
    if images.dim() != 5 or probabilities.shape[:2] != images.shape[:2] or labels.shape not in (
            images.shape[:1], images.shape[:2]):
        raise ValueError(f"need images (R, C, ch, H, W), probabilities (R, C, classes) and labels (R,) or (R, C); "
                         f"got {tuple(images.shape)}, {tuple(probabilities.shape)}, {tuple(labels.shape)}")
    rows, cols = images.shape[:2]
    labels = labels.view(rows, -1).expand(rows, cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.35 * cols, 1.45 * rows), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            p, ax = probabilities[r, c], axes[r, c]
            ax.imshow(images[r, c].squeeze().cpu(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{p.argmax().item()} ({p.max():.0%})", fontsize=8,
                         color="green" if p.argmax().item() == labels[r, c].item() else "red")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and column_titles is not None:
                ax.set_xlabel(column_titles[c], fontsize=8)
                ax.xaxis.set_label_position("top")
            if c == 0 and row_titles is not None:
                ax.set_ylabel(row_titles[r], fontsize=8)
    fig.tight_layout()
    return fig


def plot_photo_attack(image: torch.Tensor, adversarials: dict[str, torch.Tensor],
                      probabilities: dict[str, torch.Tensor], classes) -> plt.Figure:
    """A colour photo x (3, H, W) in [0, 1], then for each attack (a name -> x'): the perturbation x' - x,
    magnified to the full colour range (grey = no change), and x'. ``probabilities``: ``"x"`` and each name ->
    the net's class probabilities; each title gives the top class, x''s also what x's top class kept."""
    def top(p):
        k = p.argmax().item()
        return k, f"{classes[k]} ({p[k]:.0%})"

    original, title = top(probabilities["x"])
    fig, axes = plt.subplots(1, 1 + 2 * len(adversarials), figsize=(2.6 * (1 + 2 * len(adversarials)), 3.0))
    panels = [(image, f"x: {title}")]
    for name, adv in adversarials.items():
        r = adv - image
        scale = r.abs().max().clamp(min=1e-12)
        kept = f"{classes[original]}: {probabilities[name][original]:.0%}"
        panels += [((r / scale + 1) / 2, f"x' - x, {name}\n(±{scale * 255:.0f}/255, magnified)"),
                   (adv, f"x' ({name}): {top(probabilities[name])[1]}\n{kept}")]
    for ax, (img, text) in zip(axes, panels, strict=True):
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).cpu())
        ax.set_title(text, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_tradeoff(table: pd.DataFrame) -> plt.Figure:
    """Clean and robust accuracy against the training eps (columns ``train eps``, ``accuracy``, ``low``,
    ``high``, ``evaluated on``: one line per kind of evaluation), with their intervals as error bars."""
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    for i, (kind, rows) in enumerate(table.groupby("evaluated on", sort=False)):
        ax.errorbar(rows["train eps"], rows["accuracy"],
                    yerr=[(rows["accuracy"] - rows["low"]).clip(lower=0),
                          (rows["high"] - rows["accuracy"]).clip(lower=0)],
                    marker="o", ms=4, capsize=3, color=f"C{i}", label=kind)
    ax.set_xlabel("training eps (PGD adversarial training; 0 = standard)")
    ax.set_ylabel("accuracy (1,000 test digits)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
