"""Attacks against torchattacks (the reference implementation, a test-only dependency), and their contracts."""

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
