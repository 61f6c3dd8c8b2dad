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
    assert list(first.columns) == ["strategy", "trainable parameters", "seconds", "test accuracy", "correct"]
    assert list(first["strategy"]) == list(transfer.STRATEGIES)
    cols = ["strategy", "trainable parameters", "test accuracy"]
    assert first[cols].equals(second[cols])
    # head 16*2+2 = 34; earlier block: 8*2+2; top block conv 8*16*9 + BN 32; all: every conv and BN
    params = dict(zip(first["strategy"], first["trainable parameters"], strict=True))
    assert params["linear probe"] == 34 and params["earlier block"] == 18
    assert params["fine-tune top"] == 34 + 8 * 16 * 9 + 32
    assert params["fine-tune all"] == params["from scratch"] == 34 + 36 + 8 + 288 + 16 + 1152 + 32
    assert first["test accuracy"].iloc[2:].min() >= 0.9  # easy task: every strategy that trains conv layers learns it
    for row in first.itertuples():  # the per-image outcomes behind each accuracy, on the 40 test images
        assert row.correct.dtype == bool and row.correct.shape == (40,) and row.correct.mean() == row._4


@pytest.mark.parametrize("strategy", ["linear probe", "earlier block", "fine-tune top"])
def test_training_on_frozen_codes_equals_training_the_whole_model(pretrained, task, strategy):
    """compare trains only what follows the frozen blocks, on their stored codes: the same training as the
    whole model on the images (frozen blocks in eval mode), up to float rounding."""
    train, test = task
    table = transfer.compare(pretrained, train, test, strategies=[strategy], epochs=3, seed=5, batch_size=8, lr=1e-2)
    torch.manual_seed(5)
    model, groups = transfer.build(pretrained, strategy, 2, train[0])
    training.fit(model, train, epochs=3, lr=1e-2, batch_size=8, seed=5, param_groups=groups, progress=False)
    logits = training.predict(model, test[0])
    assert (logits.argmax(1) == test[1]).numpy().tolist() == table["correct"][0].tolist()
    assert torch.allclose(logits, training.predict(model.after(model.n_frozen),
                                                   transfer.FrozenCodes(model.blocks, test[0])(model.n_frozen)),
                          atol=1e-5)


def test_frozen_codes_compute_each_depth_once_in_eval_mode(pretrained, task):
    (x, _), _ = task
    blocks = pretrained[:-1].train()
    codes = transfer.FrozenCodes(blocks, x[:10], batch_size=3)
    second = codes(2)
    assert blocks.training  # the mode is restored
    with torch.no_grad():
        expected = blocks[:2].eval()(x[:10].float() / 255)
    blocks.train()
    assert torch.allclose(second, expected, atol=1e-6)
    assert codes(2) is second and codes(0) is codes._codes[0]  # stored, not recomputed
    with pytest.raises(ValueError, match="k must lie in"):
        codes(4)


def test_subset_indices_are_nested_and_relabelled():
    labels = torch.arange(10).repeat(20)  # 20 of each class
    small, small_y = transfer.subset_indices(labels, [7, 3], per_class=2, seed=1)
    big, big_y = transfer.subset_indices(labels, [7, 3], per_class=5, seed=1)
    assert labels[small].tolist()[:2] == [7, 7] and small_y.tolist() == [0, 0, 1, 1]
    assert set(small.tolist()) <= set(big.tolist()) and big_y.bincount().tolist() == [5, 5]
    assert not torch.equal(transfer.subset_indices(labels, [7, 3], 2, seed=2)[0], small)
    assert len(transfer.subset_indices(labels, [7, 3])[0]) == 40  # None: all of them
    with pytest.raises(ValueError, match="per_class"):
        transfer.subset_indices(labels, [7], per_class=0)
    with pytest.raises(ValueError, match="classes must all occur"):
        transfer.subset_indices(labels, [11], per_class=1)


def test_epochs_for_keeps_the_images_seen_about_equal():
    assert [transfer.epochs_for(n) for n in (5, 50, 500, 3000, 10_000)] == [100, 60, 6, 1, 1]


def test_learning_curve_rows_and_determinism(pretrained, task):
    pool, test = task
    kwargs = dict(per_class=(1, 10), strategies=["linear probe", "from scratch"], seeds=(0, 1), images_seen=400,
                  batch_size=8)
    first = transfer.learning_curve(pretrained, pool, test, **kwargs)
    second = transfer.learning_curve(pretrained, pool, test, **kwargs)
    assert len(first) == 2 * 2 * 2
    assert first["per class"].tolist() == [1] * 4 + [10] * 4
    assert first.loc[first["per class"] == 1, "epochs"].unique().tolist() == [100]  # 400 / 2 images, at most 100
    assert first.loc[first["per class"] == 10, "epochs"].unique().tolist() == [20]  # 400 / 20 images
    assert first["test accuracy"].tolist() == second["test accuracy"].tolist()
    fewer = transfer.learning_curve(pretrained, pool, test, **kwargs, only_at={"from scratch": (10,)})
    assert fewer[["per class", "strategy"]].values.tolist() == [[1, "linear probe"]] * 2 + [
        [10, "linear probe"], [10, "from scratch"]] * 2
    assert fewer["test accuracy"].tolist() == first["test accuracy"].drop([1, 3]).tolist()  # the same runs
    with pytest.raises(ValueError, match="only_at"):
        transfer.learning_curve(pretrained, pool, test, **kwargs, only_at={"from scratch": (50,)})
    big = first[first["per class"] == 10].groupby("strategy")["test accuracy"].mean()
    assert big["from scratch"] >= 0.9  # 20 images of an easy task suffice to learn it from scratch


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


def test_efficientnet_blocks_compose_to_the_net():
    from lecture_utils.models import efficientnet_b0

    torch.manual_seed(0)
    net = efficientnet_b0(num_classes=7).eval()
    blocks = transfer.efficientnet_blocks(net)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(blocks(x), net(x), atol=1e-5)
        assert blocks[0](x).shape == (2, 320, 2, 2) and blocks[1](blocks[0](x)).shape == (2, 1280)
    model, _ = transfer.build(blocks, "earlier block", 3, x)
    assert model.head.in_features == 320


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


def test_fine_tune_all_of_efficientnet_lite_runs_through_learning_curve():
    """Full mode's path for the ImageNet net (fine-tune all: forward and backward through every block), at a
    tiny size with random weights: every parameter but the old classifier trains, plus the new head."""
    from lecture_utils.models import efficientnet_lite0

    torch.manual_seed(0)
    blocks = transfer.efficientnet_blocks(efficientnet_lite0().eval())
    images, labels = torch.rand(6, 3, 32, 32), torch.arange(6) % 2
    before = blocks[0][0][0].weight.clone()
    rows = transfer.learning_curve(blocks, (images, labels), (images, labels), per_class=(2,),
                                   strategies=["linear probe", "fine-tune all"], seeds=(0,), images_seen=8)
    assert rows["strategy"].tolist() == ["linear probe", "fine-tune all"] and rows["epochs"].tolist() == [2, 2]
    features = 4_652_008 - (1280 * 1000 + 1000)  # EfficientNet-Lite0 without its ImageNet classifier
    assert rows["trainable parameters"].tolist() == [1280 * 2 + 2, features + 1280 * 2 + 2]
    assert all(row.correct.shape == (6,) for row in rows.itertuples())
    assert torch.equal(blocks[0][0][0].weight, before)  # strategies train copies: the source is untouched
