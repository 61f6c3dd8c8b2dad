import pytest
import torch

from lecture_utils import training, transfer


@pytest.fixture(scope="module")
def task():
    """Two learnable classes of 28x28 uint8 noise images: with or without a bright central square."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(2).repeat(60)
    images = torch.randint(0, 100, (120, 1, 28, 28), generator=g, dtype=torch.uint8)
    images[labels == 1, :, 9:19, 9:19] += 120
    return (images[:80], labels[:80]), (images[80:], labels[80:])


@pytest.fixture(scope="module")
def pretrained():
    torch.manual_seed(0)
    return transfer.small_cnn(num_classes=5, width=4)


def test_compare_is_deterministic_and_complete(pretrained, task):
    train, test = task
    first = transfer.compare(pretrained, train, test, epochs=6, seed=3, batch_size=8, lr=1e-2)
    second = transfer.compare(pretrained, train, test, epochs=6, seed=3, batch_size=8, lr=1e-2)
    assert list(first.columns) == ["strategy", "trainable parameters", "seconds", "test accuracy"]
    assert list(first["strategy"]) == list(transfer.STRATEGIES)
    cols = ["strategy", "trainable parameters", "test accuracy"]
    assert first[cols].equals(second[cols])
    # head 16*2+2 = 34; earlier block: 8*2+2; top block conv 8*16*9 + BN 32; all: every conv and BN
    params = dict(zip(first["strategy"], first["trainable parameters"], strict=True))
    assert params["linear probe"] == 34 and params["earlier block"] == 18
    assert params["fine-tune top"] == 34 + 8 * 16 * 9 + 32
    assert params["fine-tune all"] == params["from scratch"] == 34 + 36 + 8 + 288 + 16 + 1152 + 32
    assert first["test accuracy"].iloc[2:].min() >= 0.9  # easy task: every strategy that trains conv layers learns it


def test_frozen_blocks_keep_batchnorm_statistics(pretrained, task):
    (x, y), _ = task
    before = pretrained[0][1].running_mean.clone()
    model, groups = transfer.build(pretrained, "fine-tune top", 2, x)
    training.fit(model, (x, y), epochs=1, param_groups=groups, progress=False)
    assert torch.equal(model.blocks[0][1].running_mean, before)  # frozen: statistics untouched
    assert not torch.equal(model.blocks[2][1].running_mean, pretrained[2][1].running_mean)  # trained block moves
    assert torch.equal(pretrained[0][1].running_mean, before)  # the pretrained net itself is a copy, untouched
    drifting, groups = transfer.build(pretrained, "linear probe", 2, x, freeze_bn=False)
    training.fit(drifting, (x, y), epochs=1, param_groups=groups, progress=False)
    assert not torch.equal(drifting.blocks[0][1].running_mean, before)
    assert all(not p.requires_grad for p in drifting.blocks.parameters())


def test_fine_tune_all_uses_a_smaller_learning_rate_for_pretrained_layers(pretrained, task):
    (x, _), _ = task
    model, groups = transfer.build(pretrained, "fine-tune all", 2, x)
    assert [g["lr_scale"] for g in groups] == [1.0, 0.1]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.head.parameters()}
    assert len(transfer.build(pretrained, "linear probe", 2, x)[1]) == 1


def test_from_scratch_reinitialises(pretrained, task):
    (x, _), _ = task
    model, _ = transfer.build(pretrained, "from scratch", 2, x)
    assert not torch.equal(model.blocks[0][0].weight, pretrained[0][0].weight)
    same, _ = transfer.build(pretrained, "fine-tune all", 2, x)
    assert torch.equal(same.blocks[0][0].weight, pretrained[0][0].weight)


def test_bad_input(pretrained, task):
    train, test = task
    with pytest.raises(ValueError, match="strategies must be among"):
        transfer.compare(pretrained, train, test, strategies=["retrain everything"])
    with pytest.raises(ValueError, match="train must be"):
        transfer.compare(pretrained, (train[0], train[1][:5]), test)
    with pytest.raises(ValueError, match="test must be"):
        transfer.compare(pretrained, train, (test[0][:, 0], test[1]))
    with pytest.raises(ValueError, match="epochs"):
        transfer.compare(pretrained, train, test, epochs=0)
    with pytest.raises(ValueError, match="nn.Sequential"):
        transfer.compare(pretrained[0][0], train, test)


def test_resnet_blocks_compose_to_the_net_and_run_compare_offline():
    """The online path of notebook 04 (ImageNet ResNet-18) with random weights and a tiny task."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    blocks = transfer.resnet_blocks(net)
    x = torch.rand(4, 3, 64, 64)
    assert torch.allclose(blocks(x), net(x), atol=1e-5)  # the same function, the same weights
    images, labels = torch.rand(8, 3, 32, 32), torch.arange(8) % 2
    table = transfer.compare(blocks, (images, labels), (images, labels), strategies=["linear probe"], epochs=1)
    assert table["trainable parameters"].tolist() == [512 * 2 + 2]
