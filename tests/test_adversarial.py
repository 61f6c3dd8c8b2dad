"""Attacks against torchattacks (the reference implementation, a test-only dependency), and their contracts."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch
from torch import nn

from lecture_utils import adversarial, data, training

torchattacks = pytest.importorskip("torchattacks")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return adversarial.mnist_cnn(width=4, hidden=16).eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)


@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_equals_torchattacks(model, batch, targeted):
    x, y = batch
    reference = torchattacks.FGSM(model, eps=0.1)
    if targeted:
        reference.set_mode_targeted_by_label(quiet=True)
    assert torch.allclose(adversarial.fgsm(model, x, y, 0.1, targeted=targeted), reference(x, y), atol=1e-6)


@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_without_random_start_equals_torchattacks(model, batch, targeted):
    x, y = batch
    reference = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=5, random_start=False)
    if targeted:
        reference.set_mode_targeted_by_label(quiet=True)
    ours = adversarial.pgd(model, x, y, 0.1, alpha=0.02, steps=5, random_start=False, targeted=targeted)
    assert torch.allclose(ours, reference(x, y), atol=1e-6)


def test_pgd_random_start_is_seeded_and_stays_in_the_ball(model, batch):
    x, y = batch
    a = adversarial.pgd(model, x, y, 0.1, alpha=0.03, steps=3, seed=7)
    assert torch.equal(a, adversarial.pgd(model, x, y, 0.1, alpha=0.03, steps=3, seed=7))
    assert not torch.equal(a, adversarial.pgd(model, x, y, 0.1, alpha=0.03, steps=3, seed=8))
    for adv in (a, adversarial.fgsm(model, x, y, 0.1)):
        assert (adv - x).abs().max() <= 0.1 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1


def test_attacks_work_inside_no_grad(model, batch):
    x, y = batch
    with torch.no_grad():
        assert torch.equal(adversarial.fgsm(model, x, y, 0.1), adversarial.fgsm(model, x, y, 0.1))
        assert not torch.equal(adversarial.fgsm(model, x, y, 0.1), x)


def test_eps_zero_changes_nothing(model, batch):
    x, y = batch
    assert torch.equal(adversarial.fgsm(model, x, y, 0.0), x)
    assert torch.equal(adversarial.pgd(model, x, y, 0.0, alpha=0.01, steps=2), x)


def test_attacks_leave_the_model_as_it_was(batch):
    x, y = batch
    torch.manual_seed(0)
    net = adversarial.mnist_cnn(width=4, hidden=16).train()
    net[0].weight.requires_grad_(False)
    net[-1].weight.grad = torch.ones_like(net[-1].weight)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x_before = x.clone()
    adversarial.fgsm(net, x, y, 0.1)
    adversarial.pgd(net, x, y, 0.1, alpha=0.05, steps=2, seed=0)
    adversarial.fooling(net, x[:2], y[:2], c=0.1, steps=2, lr=0.01)
    assert net.training and not net[0].weight.requires_grad and net[-1].bias.requires_grad
    assert torch.equal(net[-1].weight.grad, torch.ones_like(net[-1].weight)) and net[3].weight.grad is None
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert torch.equal(x, x_before)  # new tensors, the input untouched


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, x, y: adversarial.fgsm(m, x, y, -0.1), "eps must be >= 0"),
        (lambda m, x, y: adversarial.fgsm(m, x, y[:3], 0.1), r"labels must be a tensor of shape \(8,\)"),
        (lambda m, x, y: adversarial.pgd(m, x, y, 0.1, alpha=0, steps=3), "alpha must be > 0"),
        (lambda m, x, y: adversarial.pgd(m, x, y, 0.1, alpha=0.01, steps=0), "steps must be >= 1"),
        (lambda m, x, y: adversarial.fgsm(m, x * 2 - 0.5, y, 0.1), r"images must lie in \[0, 1\]"),
        (lambda m, x, y: adversarial.fgsm(m, x[0], y, 0.1), "images must be a 4-D tensor"),
        (lambda m, x, y: adversarial.robust_accuracy(m, x, y, "cw", [0.1]), "attack must be one of"),
        (lambda m, x, y: adversarial.fooling(m, x, y, c=-1, steps=5, lr=0.1), "need c >= 0"),
    ],
)
def test_bad_input_raises_a_clear_error(model, batch, call, match):
    with pytest.raises(ValueError, match=match):
        call(model, *batch)


def test_linear_change_is_eps_times_the_l1_norm():
    w = torch.randn(784, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    computed, formula = adversarial.linear_change(w, 0.1)
    assert computed == pytest.approx(formula, rel=1e-9)
    assert adversarial.linear_change(torch.cat([w, w]), 0.1)[1] == pytest.approx(2 * formula)  # grows with dimension


def blobs(n=256, seed=0):
    """Two classes of 1x28x28 images in [0, 1]: bright left half vs bright right half."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.3
    y = torch.arange(n) % 2
    x[y == 0, :, :, :14] += 0.6
    x[y == 1, :, :, 14:] += 0.6
    return (x * 255).to(torch.uint8), y


def test_fooling_reaches_its_targets_and_fgsm_hurts_a_trained_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 2))
    training.fit(net, blobs(), epochs=3, lr=0.01, progress=False)
    x, y = blobs(64, 1)
    x = x.float() / 255
    r, success = adversarial.fooling(net, x[:8], 1 - y[:8], c=0.01, steps=100, lr=0.01)
    assert success.all() and ((x[:8] + r) >= 0).all() and ((x[:8] + r) <= 1).all()
    table = adversarial.robust_accuracy(net, x, y, "fgsm", [0.0, 0.3])
    assert list(table.columns) == ["eps", "accuracy"]
    assert table["accuracy"].iloc[0] == 1.0 and table["accuracy"].iloc[1] <= 0.5  # eps ||w||_1 outweighs the margin
    assert (adversarial.robust_accuracy(net, x, y, "pgd", [0.3])["accuracy"] <= table["accuracy"].iloc[1]).all()


def test_adversarial_training_trains_through_fit_and_keeps_more_accuracy_under_attack():
    mnist = data.mnist(full=False)  # 5,000 real digits, offline
    train = mnist.train_images[:2000], mnist.train_labels[:2000]
    test = mnist.test_images[:500], mnist.test_labels[:500]
    accuracy = {}
    for name, robust in (("standard", False), ("robust", True)):
        torch.manual_seed(0)
        net = adversarial.mnist_cnn(width=4, hidden=32)
        kwargs = {"epochs": 2, "lr": 3e-3, "progress": False}
        history = (adversarial.adversarial_training(net, train, test, eps=0.2, **kwargs) if robust
                   else training.fit(net, train, test, **kwargs))
        assert len(history.test_acc) == 2 and history.test_acc[-1] >= 0.75  # learns the clean task too
        accuracy[name] = adversarial.robust_accuracy(net, test[0], test[1], "fgsm", [0.2])["accuracy"].item()
    assert accuracy["standard"] <= 0.2  # measured 0.05
    assert accuracy["robust"] >= accuracy["standard"] + 0.2  # measured 0.36
    with pytest.raises(ValueError, match="need attack in"):
        adversarial.adversarial_training(net, train, eps=0.1, attack="cw", epochs=1)


def test_pgd_restarts_keep_the_strongest_run_per_image(model, batch):
    x, y = batch
    singles = [adversarial.pgd(model, x, y, 0.1, alpha=0.03, steps=3, seed=5 + r) for r in range(3)]
    best = adversarial.pgd(model, x, y, 0.1, alpha=0.03, steps=3, seed=5, restarts=3)
    assert torch.equal(adversarial.pgd(model, x, y, 0.1, alpha=0.03, steps=3, seed=5, restarts=1), singles[0])
    with torch.no_grad():
        losses = torch.stack([nn.functional.cross_entropy(model(s), y, reduction="none") for s in singles])
        fooled = torch.stack([model(s).argmax(1) != y for s in singles])
        best_loss = nn.functional.cross_entropy(model(best), y, reduction="none")
        best_fooled = model(best).argmax(1) != y
    assert torch.equal(best_fooled, fooled.any(0))  # fooled if any run fooled it
    for i in range(len(y)):  # each image is one of the runs: among the fooling runs (or all), the highest loss
        runs = fooled[:, i] if fooled[:, i].any() else torch.ones(3, dtype=torch.bool)
        assert any(torch.equal(best[i], s[i]) for s in singles)
        assert best_loss[i] == pytest.approx(losses[runs, i].max().item(), abs=1e-6)
    targets = (y + 1) % 10
    hit = adversarial.pgd(model, x, targets, 0.1, alpha=0.03, steps=3, seed=5, restarts=3, targeted=True)
    with torch.no_grad():
        single_hits = torch.stack([model(adversarial.pgd(model, x, targets, 0.1, alpha=0.03, steps=3, seed=5 + r,
                                                         targeted=True)).argmax(1) == targets for r in range(3)])
        assert torch.equal(model(hit).argmax(1) == targets, single_hits.any(0))
    with pytest.raises(ValueError, match="restarts must be >= 1"):
        adversarial.pgd(model, x, y, 0.1, alpha=0.03, steps=3, restarts=2, random_start=False)


def test_correct_under_attack_rows_are_the_accuracies(model, batch):
    x, y = batch
    correct = adversarial.correct_under_attack(model, x, y, "fgsm", [0.0, 0.1])
    assert correct.shape == (2, 8) and correct.dtype == torch.bool
    with torch.no_grad():
        assert torch.equal(correct[0], model(x).argmax(1) == y)
        assert torch.equal(correct[1], model(adversarial.fgsm(model, x, y, 0.1)).argmax(1) == y)
    table = adversarial.robust_accuracy(model, x, y, "fgsm", [0.0, 0.1])
    assert table["accuracy"].tolist() == pytest.approx(correct.float().mean(1).tolist())


def test_linearisation_is_exact_for_small_steps_and_sees_the_clamp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).double()
    g = torch.Generator().manual_seed(3)
    inside = (0.3 + 0.4 * torch.rand(16, 1, 28, 28, generator=g)).double()  # far from 0 and 1: no clamp
    y = torch.randint(0, 10, (16,), generator=g)
    table = adversarial.linearisation(net, inside, y, [1e-4, 0.05])
    assert list(table.columns) == ["eps", "image", "predicted", "clamp-aware", "actual", "clamped"]
    assert len(table) == 32 and (table["clamped"] == 0).all()
    assert table["clamp-aware"].to_numpy() == pytest.approx(table["predicted"].to_numpy(), rel=1e-9)
    tiny = table[table["eps"] == 1e-4]
    assert tiny["actual"].to_numpy() == pytest.approx(tiny["predicted"].to_numpy(), rel=1e-3)  # first order
    black = torch.zeros_like(inside)  # every pixel at 0: only the steps up survive the clamp
    clamped = adversarial.linearisation(net, black, y, [0.05])
    gradient = adversarial.input_gradient(net, black, y).flatten(1) * 16
    assert clamped["clamp-aware"].to_numpy() == pytest.approx((0.05 * gradient.clamp(min=0).sum(1)).numpy())
    assert clamped["clamped"].to_numpy() == pytest.approx((gradient < 0).double().mean(1).numpy())


def test_pixel_model_standardises_inside_so_eps_is_in_pixel_units(model, batch):
    x, y = batch
    rgb = nn.Sequential(nn.Conv2d(3, 1, 1), model).eval()
    x3 = x.expand(-1, 3, -1, -1).contiguous()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    wrapped = adversarial.pixel_model(rgb, mean, std)
    standardised = (x3 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(wrapped(x3), rgb(standardised), atol=1e-6)
    adv = adversarial.fgsm(wrapped, x3, y, 2 / 255)
    assert torch.allclose(adv, torchattacks.FGSM(wrapped, eps=2 / 255)(x3, y), atol=1e-6)
    assert (adv - x3).abs().max() <= 2 / 255 + 1e-7  # two grey levels of an 8-bit image, in pixel units
    with pytest.raises(ValueError, match="one entry per channel and std > 0"):
        adversarial.pixel_model(rgb, mean, (0.2, 0.0, 0.2))


def test_accuracy_plot_colours_by_net_and_styles_by_attack():
    table = pd.DataFrame({"eps": [0.0, 0.1], "accuracy": [0.9, 0.5], "low": [0.85, 0.4], "high": [0.95, 0.6]})
    tables = {(net, attack): table for net in ("standard", "robust") for attack in ("FGSM", "PGD")}
    fig = adversarial.plot_accuracy_vs_eps(tables)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert lines["standard / FGSM"].get_color() == lines["standard / PGD"].get_color()
    assert lines["standard / FGSM"].get_color() != lines["robust / FGSM"].get_color()
    assert lines["robust / FGSM"].get_linestyle() == lines["standard / FGSM"].get_linestyle()
    assert lines["robust / FGSM"].get_linestyle() != lines["robust / PGD"].get_linestyle()
    assert len(fig.axes[0].collections) == 4  # one interval band per line
    plt.close(fig)
    named = adversarial.plot_accuracy_vs_eps({f"{net} / {attack}": table for net, attack in tables})
    assert [(line.get_label(), line.get_color(), line.get_linestyle()) for line in named.axes[0].get_lines()] == [
        (label, line.get_color(), line.get_linestyle()) for label, line in lines.items()]  # "net / attack" keys too
    plt.close(named)


def test_prediction_grid_titles_are_green_when_right():
    probs = torch.zeros(2, 3, 10)
    probs[0, :, 4], probs[1, 0, 7], probs[1, 1:, 1] = 0.9, 0.8, 0.6
    fig = adversarial.plot_predictions(torch.zeros(2, 3, 1, 28, 28), probs, torch.tensor([4, 7]), ["a", "b", "c"])
    titles = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes]
    assert titles[0] == ("4 (90%)", "green") and titles[3] == ("7 (80%)", "green") and titles[4] == ("1 (60%)", "red")
    plt.close(fig)
    with pytest.raises(ValueError, match="need images"):
        adversarial.plot_predictions(torch.zeros(2, 3, 28, 28), probs, torch.tensor([4, 7]))
