import matplotlib
import pytest
import torch
from torch import nn

from lecture_utils import landscape, residual
from lecture_utils.models import cifar_resnet

matplotlib.use("Agg")


def small_net(plain: bool = False, seed: int = 0) -> nn.Module:
    """CIFAR ResNet-8 on 1x12x12 inputs, with BN statistics that are not the defaults (a few training steps)."""
    torch.manual_seed(seed)
    net = cifar_resnet(8, in_channels=1, plain=plain)
    with torch.no_grad():
        net.train()(torch.randn(32, 1, 12, 12) * 2 + 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(40, 1, 12, 12, generator=generator), torch.randint(0, 10, (40,), generator=generator)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_bit_identical(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key


def test_direction_is_filter_normalised_and_ignores_biases_and_bn():
    net = small_net()
    direction = landscape.random_direction(net, seed=3)
    params = dict(net.named_parameters())
    assert direction.keys() == params.keys()
    n_filters = 0
    for name, d in direction.items():
        p = params[name]
        assert d.shape == p.shape and d.dtype == p.dtype
        if p.dim() == 1:
            assert torch.count_nonzero(d) == 0, name  # biases, BN gamma and beta: zero
        else:
            w_norm, d_norm = p.detach().double().flatten(1).norm(dim=1), d.double().flatten(1).norm(dim=1)
            torch.testing.assert_close(d_norm, w_norm, rtol=1e-6, atol=0)
            assert not torch.allclose(d, p)  # a random direction, not the weights themselves
            n_filters += len(p)
    assert n_filters == 16 + 16 * 2 + 32 * 2 + 64 * 2 + 10  # stem, three stages of one block, fc rows


def test_direction_is_gaussian_per_filter_before_scaling():
    net = small_net()
    d = landscape.random_direction(net, seed=0)["layer3.0.conv2.weight"]
    unit = d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)  # undo the scaling: a random unit vector per filter
    cosines = unit.flatten(1) @ (net.layer3[0].conv2.weight / net.layer3[0].conv2.weight.flatten(1).norm(dim=1)
                                 .view(-1, 1, 1, 1)).flatten(1).T
    assert cosines.diagonal().abs().max() < 0.25  # nearly orthogonal to the weights in 576 dimensions


def test_same_seed_same_direction_other_seed_other_direction():
    net = small_net()
    a, b, c = (landscape.random_direction(net, seed=s) for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


def test_surface_centre_equals_plain_evaluation_loss(batch):
    images, labels = batch
    net = small_net()
    with torch.no_grad():
        plain = nn.functional.cross_entropy(net.eval()(images), labels).item()
    dx, dy = landscape.random_direction(net, 0), landscape.random_direction(net, 1)
    surface = landscape.loss_surface(net, images, labels, dx, dy, [-0.5, 0.0, 0.5], [-1.0, 0.0, 1.0, 2.0],
                                     batch_size=16, progress=False)
    assert surface.shape == (4, 3)
    assert surface[1, 1].item() == pytest.approx(plain, rel=1e-6)
    assert (surface > 0).all() and surface.max() > surface[1, 1]
    line = landscape.loss_line(net, images, labels, dx, [0.0, 0.5], progress=False)  # the CPU's batch of 32
    assert line[0].item() == pytest.approx(plain, rel=1e-6)
    whole = landscape.loss_line(net, images, labels, dx, [0.0, 0.5], batch_size=len(images), progress=False)
    torch.testing.assert_close(line, whole, rtol=1e-6, atol=0)  # batching changes nothing but the speed
    assert line[1].item() == pytest.approx(surface[1, 2].item(), rel=1e-5)  # b = 0 row: the same slice


def test_surface_moves_the_weights_as_theta_plus_a_dx_plus_b_dy(batch):
    images, labels = batch
    net = small_net()
    dx, dy = landscape.random_direction(net, 0), landscape.random_direction(net, 1)
    moved = small_net()
    with torch.no_grad():
        for name, p in moved.named_parameters():
            p += 0.3 * dx[name] - 0.7 * dy[name]
        expected = nn.functional.cross_entropy(moved(images), labels).item()
    surface = landscape.loss_surface(net, images, labels, dx, dy, [0.3], [-0.7], progress=False)
    assert surface.item() == pytest.approx(expected, rel=1e-5)


def test_parameters_buffers_and_mode_unchanged_also_when_interrupted(batch):
    images, labels = batch
    net = small_net().train()
    before = snapshot(net)
    dx, dy = landscape.random_direction(net, 0), landscape.random_direction(net, 1)
    landscape.loss_surface(net, images, labels, dx, dy, [-1, 0, 1], [-1, 0, 1], progress=False)
    landscape.loss_line(net, images, labels, dx, [-1, 0, 1], progress=False)
    assert_bit_identical(net, before)
    assert net.training and all(m.training for m in net.modules())

    calls = []

    def interrupt(*_):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt

    handle = net.layer2.register_forward_hook(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            landscape.loss_surface(net, images, labels, dx, dy, [-1, 0, 1], [-1, 0, 1], batch_size=16,
                                   progress=False)
    finally:
        handle.remove()
    assert_bit_identical(net, before)
    assert net.training


def test_interpolate_between_two_solutions(batch):
    images, labels = batch
    a, b = small_net(seed=0), small_net(seed=1)
    before_a, before_b = snapshot(a), snapshot(b)
    losses = landscape.interpolate(a, b, images, labels, [0.0, 0.5, 1.0], progress=False)
    with torch.no_grad():
        ends = [nn.functional.cross_entropy(m(images), labels).item() for m in (a, b)]
    assert losses[0].item() == pytest.approx(ends[0], rel=1e-6)
    assert losses[2].item() == pytest.approx(ends[1], rel=1e-6)
    mid = small_net(seed=0)
    mid.load_state_dict({k: (v + before_b[k]) / 2 if v.is_floating_point() else v for k, v in before_a.items()})
    with torch.no_grad():
        assert losses[1].item() == pytest.approx(nn.functional.cross_entropy(mid(images), labels).item(), rel=1e-5)
    assert_bit_identical(a, before_a)
    assert_bit_identical(b, before_b)
    with pytest.raises(ValueError, match="same architecture"):
        landscape.interpolate(a, cifar_resnet(14, in_channels=1), images, labels, [0.0], progress=False)


def test_bad_input_raises_clear_errors(batch):
    images, labels = batch
    net = small_net()
    d = landscape.random_direction(net)
    missing = {k: v for k, v in d.items() if k != "fc.weight"}
    with pytest.raises(ValueError, match=r"direction.*missing.*fc\.weight"):
        landscape.loss_line(net, images, labels, missing, [0.0], progress=False)
    misshapen = {**d, "conv1.weight": d["conv1.weight"][:4]}
    with pytest.raises(ValueError, match=r"dy\['conv1.weight'\] must be a tensor of shape \(16, 1, 3, 3\)"):
        landscape.loss_surface(net, images, labels, d, misshapen, [0.0], [0.0], progress=False)
    with pytest.raises(ValueError, match="alphas must be a non-empty"):
        landscape.loss_line(net, images, labels, d, [], progress=False)
    with pytest.raises(ValueError, match="betas must be a non-empty"):
        landscape.loss_surface(net, images, labels, d, d, [0.0], torch.tensor([]), progress=False)
    with pytest.raises(ValueError, match="labels must be a tensor of shape"):
        landscape.loss_line(net, images, labels[:5], d, [0.0], progress=False)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        landscape.loss_line(net, images, labels, d, [0.0], batch_size=0, progress=False)
    with pytest.raises(ValueError, match="surface must be"):
        landscape.surface_stats(torch.ones(4, 4))


def test_surface_stats_and_plots():
    alphas = torch.linspace(-1, 1, 5)
    surface = 0.5 + alphas[None] ** 2 + alphas[:, None] ** 2  # a bowl with centre loss 0.5
    stats = landscape.surface_stats(surface)
    assert stats["centre loss"] == pytest.approx(0.5)
    assert stats["loss range"] == pytest.approx(2.0)
    assert stats["share below 2x centre"] == pytest.approx(5 / 25)  # centre and its 4 neighbours at 0.75
    assert "share below chance loss" not in stats
    below = landscape.surface_stats(surface, chance=1.5)["share below chance loss"]
    assert below == pytest.approx(9 / 25)  # a^2 + b^2 < 1
    levels = landscape.log_levels(surface, 10)
    assert levels[0] == pytest.approx(0.5) and levels[-1] == pytest.approx(2.5)
    assert (levels[1:] / levels[:-1]).std() < 1e-9  # log-spaced: constant ratio
    landscape.plot_contour(surface, alphas, alphas)
    landscape.plot_surface_3d(surface, alphas, alphas)
    landscape.plot_lines({"bowl": surface[2]}, alphas)


def test_lesion_deletes_blocks_on_a_copy(batch):
    images, labels = batch
    net = small_net()
    before = snapshot(net)
    blocks = residual.residual_blocks(net)
    assert list(blocks) == ["layer1.0", "layer2.0", "layer3.0"]
    assert [residual.is_downsampling(b) for b in blocks.values()] == [False, True, True]
    lesioned = residual.without_blocks(net, ["layer1.0", "layer2.0"])
    assert isinstance(lesioned.layer1[0], nn.Identity) and lesioned.layer2[0] is not net.layer2[0].downsample
    x = images[:4]
    with torch.no_grad():
        stem = net.relu(net.bn1(net.conv1(x)))
        expected = net.fc(net.avgpool(net.layer3(net.layer2[0].downsample(stem))).flatten(1))
        torch.testing.assert_close(lesioned(x), expected)
    assert_bit_identical(net, before)
    table = residual.lesion_study(net, images, labels)
    assert list(table.index) == ["none", *blocks] and table["downsampling"].tolist() == [False, False, True, True]
    plain = small_net(plain=True)
    plain_lesioned = residual.without_blocks(plain, ["layer3.0"])
    assert plain_lesioned(x).shape == (4, 10)  # the zero-padding map keeps the shapes
    with pytest.raises(ValueError, match="names must be block names"):
        residual.without_blocks(net, ["layer9.0"])


def test_gradient_norms_leave_the_model_untouched(batch):
    images, labels = batch
    net = small_net()
    before = snapshot(net)
    norms = residual.gradient_norms(net, images, labels)
    assert list(norms.index)[:2] == ["conv1", "layer1.0.conv1"] and norms.index[-1] == "fc"
    assert (norms > 0).all()
    reference = small_net().train()
    nn.functional.cross_entropy(reference(images), labels).backward()
    assert norms["layer2.0.conv2"] == pytest.approx(reference.layer2[0].conv2.weight.grad.norm().item(), rel=1e-5)
    assert_bit_identical(net, before)
    assert all(p.grad is None for p in net.parameters()) and not net.training


def test_running_statistics_are_folded_exactly_and_batch_statistics_are_the_images_own(batch):
    images, labels = batch
    net = small_net()
    before = snapshot(net)
    d = landscape.random_direction(net, 0)
    moved = small_net()
    with torch.no_grad():
        for name, p in moved.named_parameters():
            p += 0.8 * d[name]
        frozen = nn.functional.cross_entropy(moved.eval()(images), labels).item()
        batch_stats = nn.functional.cross_entropy(moved.train()(images), labels).item()  # updates moved's stats
    assert abs(frozen - batch_stats) > 1e-3  # the two modes differ at a moved point
    line = landscape.loss_line(net, images, labels, d, [0.8], batch_size=16, progress=False)
    assert line.item() == pytest.approx(frozen, rel=1e-5)  # BN folded into the convs: the same function
    line_batch = landscape.loss_line(net, images, labels, d, [0.8], progress=False, batch_norm="batch")
    assert line_batch.item() == pytest.approx(batch_stats, rel=1e-5)
    assert_bit_identical(net, before)
    assert [p for p in landscape._conv_bn_pairs(net) if "layer2.0" in p[0]] == [
        ("layer2.0.conv1", "layer2.0.bn1"), ("layer2.0.conv2", "layer2.0.bn2")]
    with pytest.raises(ValueError, match="batch_norm must be one of"):
        landscape.loss_line(net, images, labels, d, [0.0], progress=False, batch_norm="frozen")
    with pytest.raises(ValueError, match="statistics of all 40 images"):
        landscape.loss_line(net, images, labels, d, [0.0], batch_size=8, progress=False, batch_norm="batch")


def test_basin_steps_are_dense_at_the_centre():
    steps = landscape.basin_steps(9)
    torch.testing.assert_close(steps, torch.tensor([-1, -0.5625, -0.25, -0.0625, 0, 0.0625, 0.25, 0.5625, 1.0]))
    assert torch.equal(landscape.basin_steps(5, power=1.0), torch.linspace(-1, 1, 5))
    with pytest.raises(ValueError, match="odd n"):
        landscape.basin_steps(8)


def test_shared_levels_and_clipped_plots():
    low, high = torch.full((3, 3), 0.5), torch.full((3, 3), 50.0)
    high[1, 1] = 2.0
    levels = landscape.log_levels([low, high], 5, top=20.0)
    assert levels[0] == pytest.approx(0.5) and levels[-1] == pytest.approx(20.0)
    steps = [-1.0, 0.0, 1.0]
    fig = landscape.plot_contour(high, steps, steps, levels=levels)
    assert len(fig.axes) == 2  # the panel and its colour bar
    fig3d = landscape.plot_surface_3d(high, steps, steps, zlim=(-1.0, 1.0))
    assert fig3d.axes[0].get_zlim() == pytest.approx((-1.0, 1.0))


def test_lesions_share_the_intact_prefix_and_match_deleting_on_a_copy(batch):
    images, labels = batch
    net = cifar_resnet(14, in_channels=1)  # two blocks per stage: identity blocks in every stage
    with torch.no_grad():
        net.train()(images * 3)
    net.eval()
    deletions = {"none": [], "one": ["layer2.1"], "two": ["layer3.1", "layer1.0"], "down": ["layer2.0"]}
    correct = residual.correct_after_deleting(net, images, labels, deletions, batch_size=16)
    assert list(correct.index) == list(deletions) and correct.shape == (4, len(images))
    with torch.no_grad():
        for key, names in deletions.items():
            expected = residual.without_blocks(net, names)(images).argmax(dim=1) == labels
            assert correct.loc[key].tolist() == expected.tolist(), key
    trials = residual.random_deletions(net, counts=(1, 2), trials=4, seed=0, exclude=["layer1.0"])
    assert len(trials) == 8 and all(len(names) == k for (k, _), names in trials.items())
    assert all("layer1.0" not in names and "layer2.0" not in names for names in trials.values())
    assert trials == residual.random_deletions(net, counts=(1, 2), trials=4, seed=0, exclude=["layer1.0"])
    with pytest.raises(ValueError, match="deletions must name blocks"):
        residual.correct_after_deleting(net, images, labels, {"x": ["layer7.0"]})


def test_shares_are_area_weighted_on_a_non_uniform_grid():
    steps = landscape.basin_steps(5)  # -1, -0.25, 0, 0.25, 1
    line = torch.tensor([9.0, 1.0, 0.5, 1.0, 9.0])
    stats = landscape.surface_stats(line, chance=2.0, steps=(steps,))
    assert stats["share below chance loss"] == pytest.approx(0.625)  # 0, +-0.25 stand for [-0.625, 0.625] of [-1, 1]
    assert landscape.surface_stats(line, chance=2.0)["share below chance loss"] == pytest.approx(3 / 5)
    surface = line[:, None] + line[None, :]
    share = landscape.surface_stats(surface, chance=2.1, steps=(steps, steps))["share below chance loss"]
    assert share == pytest.approx(0.625 ** 2)  # the 3x3 centre block stands for [-0.625, 0.625]^2


def test_relative_gradient_norms(batch):
    images, labels = batch
    net = small_net()
    raw, rel = (residual.gradient_norms(net, images, labels, relative=r) for r in (False, True))
    weight_norm = net.layer2[0].conv1.weight.norm().item()
    assert rel["layer2.0.conv1"] == pytest.approx(raw["layer2.0.conv1"] / weight_norm, rel=1e-6)


def test_delete_several_summarises_random_deletions(batch):
    images, labels = batch
    net = cifar_resnet(14, in_channels=1).eval()
    table = residual.delete_several(net, images, labels, counts=(0, 2), trials=3, seed=1)
    assert list(table.index) == [0, 2] and list(table.columns) == ["mean error", "min", "max"]
    intact = 1 - residual.correct_after_deleting(net, images, labels, {"none": []}).mean(axis=1)["none"]
    assert table.loc[0, "mean error"] == pytest.approx(intact)
    sets = residual.random_deletions(net, counts=(0, 2), trials=3, seed=1)
    errors = [1 - (residual.without_blocks(net, sets[(2, t)])(images).argmax(1) == labels).float().mean().item()
              for t in range(3)]
    assert table.loc[2, "mean error"] == pytest.approx(sum(errors) / 3)
    assert table.loc[2, "min"] == pytest.approx(min(errors)) and table.loc[2, "max"] == pytest.approx(max(errors))
