"""explain: every method against its reference implementation (pytorch-grad-cam, captum) and the hook contract."""

import pytest
import torch
import torchvision
from captum.attr import Saliency
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from lecture_utils import explain
from lecture_utils.localization import cam_net

TARGETS = [1, 3, 7]


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


@pytest.fixture(scope="module")
def gap_net():
    torch.manual_seed(0)
    net = cam_net()
    for p in net.parameters():  # Keras init leaves zero biases: give them values so the test sees them
        nn.init.normal_(p, std=0.1)
    return net.eval()


@pytest.fixture(scope="module")
def canvases():
    torch.manual_seed(1)
    return torch.rand(3, 1, 48, 48)


def reference(cls, model, layer, images, targets):
    method = cls(model, [model.get_submodule(layer)])
    method.batch_size = 64
    return torch.from_numpy(method(images, [ClassifierOutputTarget(t) for t in targets]))


@pytest.mark.parametrize("layer", ["layer3", "layer4"])
@pytest.mark.parametrize(("ours", "theirs"), [(explain.grad_cam, GradCAM),
                                              (explain.grad_cam_plus_plus, GradCAMPlusPlus)])
def test_grad_cam_family_equals_pytorch_grad_cam_on_resnet18(resnet, layer, ours, theirs):
    images = torch.randn(3, 3, 112, 112, generator=torch.Generator().manual_seed(2))
    maps = ours(resnet, images, layer, TARGETS)
    assert maps.shape == (3, 112, 112) and maps.dtype == torch.float32
    assert torch.allclose(maps, reference(theirs, resnet, layer, images, TARGETS), atol=1e-4)
    assert maps.amax(dim=(1, 2)).eq(1).all() and maps.amin() == 0  # min-max per image


def test_score_cam_equals_pytorch_grad_cam(gap_net, canvases):
    maps = explain.score_cam(gap_net, canvases, "relu3", TARGETS, batch_size=50)
    assert torch.allclose(maps, reference(ScoreCAM, gap_net, "relu3", canvases, TARGETS), atol=1e-4)


def test_cam_equals_grad_cam_on_a_gap_net(gap_net, canvases):
    grad = explain.grad_cam(gap_net, canvases, "relu3", TARGETS)
    assert torch.allclose(explain.cam(gap_net, canvases, "relu3", gap_net.output, TARGETS), grad, atol=1e-4)
    assert torch.allclose(explain.cam(gap_net, canvases, gap_net.relu3, gap_net.output.weight, TARGETS), grad,
                          atol=1e-4)
    other = explain.grad_cam(gap_net, canvases, "relu3", [t + 1 for t in TARGETS])
    assert (other - grad).abs().max() > 0.1  # the class matters


def test_targets_none_is_the_predicted_class(gap_net, canvases):
    predicted = gap_net(canvases).argmax(1).tolist()
    assert torch.equal(explain.grad_cam(gap_net, canvases, "relu3"),
                       explain.grad_cam(gap_net, canvases, "relu3", predicted))
    assert torch.equal(explain.grad_cam(gap_net, canvases, "relu3", 4),
                       explain.grad_cam(gap_net, canvases, "relu3", [4, 4, 4]))


def test_smooth_grad_cam_plus_plus_is_seeded_and_tends_to_grad_cam_plus_plus(gap_net, canvases):
    a = explain.smooth_grad_cam_plus_plus(gap_net, canvases, "relu3", TARGETS, samples=4, seed=3)
    assert torch.equal(a, explain.smooth_grad_cam_plus_plus(gap_net, canvases, "relu3", TARGETS, samples=4, seed=3))
    no_noise = explain.smooth_grad_cam_plus_plus(gap_net, canvases, "relu3", TARGETS, samples=2, noise=0.0)
    assert torch.allclose(no_noise, explain.grad_cam_plus_plus(gap_net, canvases, "relu3", TARGETS), atol=1e-5)


def test_saliency_equals_captum_max_over_channels(resnet):
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    theirs = Saliency(resnet).attribute(images.clone().requires_grad_(True), target=[2, 5], abs=True).amax(dim=1)
    ours = explain.saliency(resnet, images, [2, 5])
    assert ours.shape == (2, 64, 64) and torch.allclose(ours, theirs, atol=1e-6)


def hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_hooks_never_leak_and_state_is_restored(gap_net, canvases):
    gap_net.train()
    gap_net.output.weight.grad = torch.ones_like(gap_net.output.weight)
    gap_net.conv1.weight.requires_grad_(False)
    try:
        for _ in range(100):
            explain.grad_cam(gap_net, canvases[:1], "relu3")
        assert hooks(gap_net) == 0
        with pytest.raises(ValueError, match="targets"):
            explain.grad_cam_plus_plus(gap_net, canvases, "relu3", [0, 1, 99])  # raises after the forward pass
        with pytest.raises(RuntimeError):
            explain.grad_cam(gap_net, torch.rand(1, 2, 48, 48), "relu3")  # the forward pass itself raises
        assert hooks(gap_net) == 0
        assert all(m.training for m in gap_net.modules())
        assert not gap_net.conv1.weight.requires_grad and gap_net.conv2.weight.requires_grad
        assert torch.equal(gap_net.output.weight.grad, torch.ones_like(gap_net.output.weight))
        assert gap_net.conv2.weight.grad is None
    finally:
        gap_net.eval()
        gap_net.output.weight.grad = None
        gap_net.conv1.weight.requires_grad_(True)


@pytest.mark.parametrize(("call", "message"), [
    (lambda m, x: explain.grad_cam(m, x, "relu3", 10), "targets"),
    (lambda m, x: explain.grad_cam(m, x, "relu3", -1), "targets"),
    (lambda m, x: explain.grad_cam(m, x, "relu3", [1, 2]), "targets"),
    (lambda m, x: explain.score_cam(m, x, "conv9"), "layer 'conv9' not found"),
    (lambda m, x: explain.grad_cam(m, x, nn.ReLU()), "submodule"),
    (lambda m, x: explain.grad_cam(m, x[0], "relu3"), "images"),
    (lambda m, x: explain.saliency(m, x.to(torch.uint8)), "images"),
    (lambda m, x: explain.cam(m, x, "relu3", m.output, 10), "targets"),
    (lambda m, x: explain.cam(m, x, "relu3", "output"), "classifier"),
    (lambda m, x: explain.cam(m, x, "relu2", m.output), "channels"),
    (lambda m, x: explain.grad_cam(m, x, "flatten"), "feature maps"),
    (lambda m, x: explain.occlusion(m, x, None, patch=60, stride=4), "patch"),
    (lambda m, x: explain.class_model(m, 12, steps=1, shape=(1, 48, 48)), "targets"),
])
def test_bad_input_raises_a_clear_error(gap_net, canvases, call, message):
    with pytest.raises(ValueError, match=message):
        call(gap_net, canvases)
    assert hooks(gap_net) == 0


def test_occlusion_matches_occluding_by_hand(gap_net, canvases):
    maps = explain.occlusion(gap_net, canvases[:2], [3, 5], patch=16, stride=16, fill=0.5)
    assert maps.shape == (2, 48, 48)
    occluded = canvases[:1].clone()
    occluded[..., 16:32, 32:48] = 0.5
    expected = gap_net(occluded).softmax(1)[0, 3]
    assert torch.allclose(maps[0, 16:32, 32:48], expected.expand(16, 16), atol=1e-5)
    one_patch = explain.occlusion(gap_net, canvases[:1], 3, patch=48, stride=1, fill=0.0)
    assert torch.allclose(one_patch, gap_net(torch.zeros(1, 1, 48, 48)).softmax(1)[0, 3].expand(1, 48, 48))


def test_class_model_raises_the_class_score(gap_net):
    start = gap_net(0.01 * torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)))[0, 2]
    image = explain.class_model(gap_net, 2, steps=30, l2=1e-3, shape=(1, 32, 32))
    assert image.shape == (1, 32, 32)
    assert gap_net(image[None])[0, 2] > start + 1


def test_class_model_batch_and_regularisers(gap_net):
    targets = [2, 5]
    images = explain.class_model(gap_net, targets, steps=30, l2=1e-3, shape=(1, 32, 32), jitter=2, blur_every=5,
                                 clip=(-0.5, 0.5))
    assert images.shape == (2, 1, 32, 32) and images.min() >= -0.5 and images.max() <= 0.5
    scores = gap_net(images)
    assert scores[0, 2] > scores[1, 2] and scores[1, 5] > scores[0, 5]  # each image raises its own class
    again = explain.class_model(gap_net, targets, steps=30, l2=1e-3, shape=(1, 32, 32), jitter=2, blur_every=5,
                                clip=(-0.5, 0.5))
    assert torch.equal(images, again)  # the jitter is seeded
    sharp = explain.class_model(gap_net, targets, steps=30, l2=1e-3, shape=(1, 32, 32), jitter=2, clip=(-0.5, 0.5))
    assert (explain.total_variation(images) < explain.total_variation(sharp)).all()  # the blur smooths
    plain = explain.class_model(gap_net, 2, steps=5, shape=(1, 32, 32))
    assert torch.equal(plain, explain.class_model(gap_net, [2], steps=5, shape=(1, 32, 32))[0])
    with pytest.raises(ValueError, match="jitter"):
        explain.class_model(gap_net, 2, steps=5, jitter=-1)


def test_fourier_image_gives_each_frequency_a_1_over_f_amplitude():
    h = w = 16
    spectrum = torch.zeros(2, 3, h, w // 2 + 1, 2)
    spectrum[0, 0, 0, 2, 0] = spectrum[1, 0, 0, 4, 0] = 1.0  # one cosine along x, frequency 2/16 and 4/16
    logits = torch.logit(explain.fourier_image(spectrum, (h, w)).double())  # = C . x, x the decorrelated channels
    x = torch.linalg.solve(explain.COLOUR_CORRELATION.double(), logits.permute(0, 2, 3, 1)[..., None])[..., 0]
    wave = x[..., 0]  # channel 0: a cosine, the same in every row
    assert torch.allclose(wave, wave[:, :1].expand_as(wave), atol=1e-6)
    amplitude = wave.amax(dim=(1, 2)) - wave.amin(dim=(1, 2))
    assert amplitude[0] / amplitude[1] == pytest.approx(2.0, rel=1e-4)  # twice the frequency, half the amplitude
    assert torch.allclose(x[..., 1:], torch.zeros(()).double(), atol=1e-6)  # the other channels stay 0
    # the colour matrix: its largest column has norm 1, and channel 0 is the (mostly grey) luminance direction
    assert explain.COLOUR_CORRELATION.norm(dim=0).max().item() == pytest.approx(1.0)
    grey_axis = explain.COLOUR_CORRELATION[:, 0]
    assert (grey_axis.max() - grey_axis.min()) / grey_axis.mean() < 0.05
    with pytest.raises(ValueError, match="spectrum must have shape"):
        explain.fourier_image(torch.zeros(1, 3, h, w, 2), (h, w))


def test_class_model_fourier_raises_each_class_score_and_is_seeded(gap_net):
    def grey(images):  # the gap net takes one channel, centred
        return images.mean(dim=1, keepdim=True) - 0.5

    targets = [2, 5]
    start = gap_net(grey(explain.fourier_image(torch.zeros(2, 3, 32, 17, 2), (32, 32))))
    images = explain.class_model_fourier(gap_net, targets, grey, steps=60, size=(32, 32), lr=0.2, jitter=2)
    assert images.shape == (2, 3, 32, 32) and images.min() >= 0 and images.max() <= 1
    scores = gap_net(grey(images))
    assert scores[0, 2] > start[0, 2] + 0.4 and scores[1, 5] > start[1, 5] + 0.4  # from the grey start
    assert scores[0, 2] > scores[1, 2] and scores[1, 5] > scores[0, 5]  # each image raises its own class
    again = explain.class_model_fourier(gap_net, targets, grey, steps=60, size=(32, 32), lr=0.2, jitter=2)
    assert torch.equal(images, again)
    with pytest.raises(ValueError, match="jitter"):
        explain.class_model_fourier(gap_net, targets, grey, steps=5, jitter=-1)


def test_activations_come_from_one_pass_and_give_relu_sparsity(gap_net, canvases):
    acts = explain.activations(gap_net, canvases, ["relu1", "relu3"])
    for layer, f in acts.items():
        with torch.no_grad(), explain.capture(gap_net, layer) as store:
            gap_net(canvases)
        assert torch.equal(f, store["activations"])
    stats = explain.relu_sparsity(gap_net, canvases, ["relu3"])["relu3"]
    f = acts["relu3"]
    assert stats["zero activations"] == pytest.approx((f == 0).float().mean().item())
    assert stats["dead channels"] == pytest.approx((f.amax(dim=(0, 2, 3)) == 0).float().mean().item())
    assert 0 < stats["zero activations"] < 1
    assert hooks(gap_net) == 0


def test_invert_reduces_the_feature_distance(gap_net, canvases):
    def distance(x):
        with explain.capture(gap_net, "relu2") as store:
            gap_net(torch.stack([x, canvases[0]]))
        f = store["activations"]
        return ((f[0] - f[1]).norm() / f[1].norm()).item()

    start = canvases[0].mean() + 0.1 * torch.randn(canvases[0].shape, generator=torch.Generator().manual_seed(0))
    inverted = explain.invert(gap_net, "relu2", canvases[0], steps=40, tv=1e-3)
    assert inverted.shape == canvases[0].shape
    assert distance(inverted) < 0.5 * distance(start)
    assert hooks(gap_net) == 0


def test_receptive_field_and_top_patches():
    same, valid = cam_net(same=True).eval(), cam_net().eval()
    assert explain.receptive_field(same, "relu3") == (18, 4, 1.5)
    assert explain.receptive_field(valid, "relu3") == (18, 4, 8.5)
    assert explain.receptive_field(valid, "pool1") == (4, 2, 1.5)
    with pytest.raises(ValueError, match="layer"):
        explain.receptive_field(valid, "conv7")
    images = torch.zeros(2, 1, 28, 28)
    images[1, 0, 10, 20] = 1.0  # one bright pixel: relu1's best unit for a detector of it is centred there
    with torch.no_grad():
        valid.conv1.weight.zero_()
        valid.conv1.weight[0, 0, 1, 1] = 1.0  # channel 0 copies the centre pixel
        valid.conv1.bias.zero_()
    patches = explain.top_patches(valid, "relu1", images, channel=0, k=1)
    assert patches.shape == (1, 1, 3, 3) and patches[0, 0, 1, 1] == 1.0 and patches.sum() == 1.0


def test_augmented_grad_cam_solves_its_inverse_problem(gap_net, canvases):
    maps = explain.augmented_grad_cam(gap_net, canvases, "relu3", TARGETS, copies=4, steps=20, seed=1)
    assert maps.shape == (3, 48, 48) and maps.min() >= 0 and maps.amax(dim=(1, 2)).eq(1).all()
    assert torch.equal(maps, explain.augmented_grad_cam(gap_net, canvases, "relu3", TARGETS, copies=4, steps=20,
                                                        seed=1))
    # One copy (the image itself), no TV: the solution's area-downsampled map reproduces the raw Grad-CAM.
    raw = explain.raw_grad_cam(gap_net, canvases, "relu3", TARGETS)
    single = explain.augmented_grad_cam(gap_net, canvases, "relu3", TARGETS, copies=1, tv=0.0, steps=300)
    down = torch.nn.functional.interpolate(single[:, None], size=raw.shape[-2:], mode="area")[:, 0]
    for a, b in zip(down, raw, strict=True):  # equal up to the final min-max: correlation 1
        assert torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1] > 0.99
    assert torch.allclose(explain.normalize(raw, (48, 48)), explain.grad_cam(gap_net, canvases, "relu3", TARGETS),
                          atol=1e-5)
    assert hooks(gap_net) == 0


# ---------------------------------------------------------------------------------------------------------------
# CAM family helpers: aligned upsampling, all classes at once, silent channels, sanity check, top classes


def test_normalize_on_a_grid_places_each_cell_at_its_centre():
    maps = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(0))
    # cells tiling a 64 canvas are centred on 1.5, 5.5, ...: the same as align_corners=False upsampling
    assert torch.allclose(explain.normalize(maps, (64, 64), grid=(1.5, 4)), explain.normalize(maps, (64, 64)),
                          atol=1e-5)
    one = torch.zeros(1, 12, 12)
    one[0, 3, 7] = 1.0  # a single cell: with cells at 8.5 + 4 i, cell (3, 7) is centred on pixel (20.5, 36.5)
    placed = explain.normalize(one, (64, 64), grid=(8.5, 4))[0]
    assert placed[20:22, 36:38].min() > 0.999  # the four pixels around (20.5, 36.5) share the maximum
    stretched = explain.normalize(one, (64, 64))[0]
    row, col = divmod(int(stretched.argmax()), 64)
    assert (row, col) != (20, 36) and abs(col - 36.5) > 1  # the usual upsampling moves it (stretch 64/48)


def test_class_activation_maps_give_every_class_and_the_logits(gap_net, canvases):
    logits, maps = explain.class_activation_maps(gap_net, canvases, "relu3", gap_net.output, batch_size=2)
    assert maps.shape == (3, 10, 8, 8)  # relu3 of the valid net on a 48 canvas
    assert torch.allclose(logits, gap_net(canvases), atol=1e-5)
    assert torch.allclose(maps.mean(dim=(2, 3)) + gap_net.output.bias, logits, atol=1e-4)  # S_c = mean M_c + b_c
    chosen = explain.normalize(maps[torch.arange(3), torch.tensor(TARGETS)], (48, 48))
    assert torch.allclose(chosen, explain.cam(gap_net, canvases, "relu3", gap_net.output, TARGETS), atol=1e-5)
    assert hooks(gap_net) == 0 and gap_net.conv1.weight.is_contiguous()  # channels-last undone


def test_score_cam_with_silent_channels_equals_pytorch_grad_cam(gap_net, canvases):
    silent = cam_net()
    silent.load_state_dict(gap_net.state_dict())
    with torch.no_grad():
        silent.conv3.bias[::2] = -50.0  # every other relu3 channel is zero everywhere
    silent.eval()
    with torch.no_grad(), explain.capture(silent, "relu3") as store:
        silent(canvases)
    assert (store["activations"].flatten(2).amax(2) == 0).float().mean() >= 0.5
    maps = explain.score_cam(silent, canvases, "relu3", TARGETS, batch_size=7)
    assert torch.allclose(maps, reference(ScoreCAM, silent, "relu3", canvases, TARGETS), atol=1e-4)


def test_cascading_randomization_changes_the_maps_and_leaves_the_model(gap_net, canvases):
    before = {k: v.clone() for k, v in gap_net.state_dict().items()}
    maps = explain.cascading_randomization(gap_net, ["output", "conv3", "conv2"], canvases, "relu3", TARGETS)
    assert len(maps) == 4 and torch.equal(maps[0], explain.grad_cam(gap_net, canvases, "relu3", TARGETS))
    assert all(torch.equal(v, gap_net.state_dict()[k]) for k, v in before.items())
    similarity = [explain.rank_correlation(maps[0], m).mean().item() for m in maps]
    assert similarity[0] == pytest.approx(1.0) and similarity[-1] < 0.9
    again = explain.cascading_randomization(gap_net, ["output", "conv3", "conv2"], canvases, "relu3", TARGETS)
    assert all(torch.equal(a, b) for a, b in zip(maps, again, strict=True))  # seeded


def test_rank_correlation_equals_scipy_spearman():
    from scipy.stats import spearmanr

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 8, 8, generator=g), torch.rand(3, 8, 8, generator=g)
    b[0] = a[0] ** 2  # monotone: 1
    ours = explain.rank_correlation(a, b)
    assert ours[0] == pytest.approx(1.0)
    assert ours[1] == pytest.approx(spearmanr(a[1].flatten(), b[1].flatten()).statistic)
    assert explain.rank_correlation(a[:1], torch.zeros(1, 8, 8)).item() == 0  # a constant map orders nothing
    with pytest.raises(ValueError, match="maps_a"):
        explain.rank_correlation(a, b[:2])


def test_top_class_maps_on_a_random_resnet50():
    """The online ResNet-50 path of notebook 07, with random weights (offline): the top classes and a map each."""
    from lecture_utils import models

    torch.manual_seed(0)
    resnet = models.resnet50().eval()
    photo = torch.randn(1, 3, 112, 112, generator=torch.Generator().manual_seed(1))
    probabilities, classes, maps = explain.top_class_maps(resnet, photo, "layer4", k=3)
    expected = resnet(photo).softmax(1).topk(3)
    assert torch.allclose(probabilities, expected.values, atol=1e-6) and torch.equal(classes, expected.indices)
    assert maps.shape == (1, 3, 112, 112)
    assert torch.allclose(maps[0, 1], explain.grad_cam(resnet, photo, "layer4", int(classes[0, 1]))[0], atol=1e-5)


def test_score_cam_scores_a_repeated_image_once_per_class(gap_net, canvases):
    twice = canvases[:1].expand(2, -1, -1, -1)
    both = explain.score_cam(gap_net, torch.cat([twice, canvases[1:]]), "relu3", [1, 5, 3, 7], batch_size=50)
    alone = [explain.score_cam(gap_net, canvases[:1], "relu3", [c], batch_size=50) for c in (1, 5)]
    assert torch.allclose(both[0], alone[0][0], atol=1e-5) and torch.allclose(both[1], alone[1][0], atol=1e-5)
    assert torch.allclose(both[2:], explain.score_cam(gap_net, canvases[1:], "relu3", [3, 7], batch_size=50),
                          atol=1e-5)


def test_plot_overlays_panels_keep_the_images_aspect_and_draw_both_boxes():
    import matplotlib

    matplotlib.use("Agg")
    wide = torch.rand(2, 3, 32, 64)  # two photos side by side: twice as wide as high
    boxes = torch.tensor([[0, 0, 32, 32], [32, 0, 64, 32]])
    fig = explain.plot_overlays(wide, {"map": torch.rand(2, 32, 64)}, boxes={"map": boxes},
                                predicted={"map": boxes.flip(0)}, size=1.5)
    assert fig.get_size_inches().tolist() == [1.5 * 2 * 2, 1.5 * 2]
    drawn = [p.get_edgecolor()[:3] for p in fig.axes[2].patches]  # the map row's first panel
    assert drawn == [(0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]  # true box in lime, predicted in red


@pytest.mark.parametrize("method", [explain.grad_cam, explain.grad_cam_plus_plus, explain.score_cam,
                                    explain.smooth_grad_cam_plus_plus,
                                    lambda m, x, layer, t, batch_size: explain.cam(m, x, layer, m.output, t,
                                                                                   batch_size=batch_size)])
def test_the_cam_family_in_batches_gives_the_maps_of_one_batch(gap_net, method):
    images = torch.rand(5, 1, 48, 48, generator=torch.Generator().manual_seed(6))
    targets = [1, 3, 7, 0, 2]
    whole = method(gap_net, images, "relu3", targets, batch_size=5)
    assert torch.allclose(method(gap_net, images, "relu3", targets, batch_size=2), whole, atol=1e-5)
    assert torch.allclose(method(gap_net, images, "relu3", 4, batch_size=2),  # Score-CAM: float rounding only
                          method(gap_net, images, "relu3", [4] * 5, batch_size=5), atol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        method(gap_net, images, "relu3", targets, batch_size=0)
    with pytest.raises(ValueError, match="targets"):
        method(gap_net, images, "relu3", targets[:4], batch_size=2)
    assert hooks(gap_net) == 0


def test_class_activation_maps_in_batches_equal_one_batch(gap_net):
    images = torch.rand(5, 1, 48, 48, generator=torch.Generator().manual_seed(7))
    one = explain.class_activation_maps(gap_net, images, "relu3", gap_net.output, batch_size=5)
    for got, expected in zip(explain.class_activation_maps(gap_net, images, "relu3", gap_net.output), one,
                             strict=True):
        assert torch.allclose(got, expected, atol=1e-5)


def test_relu_in_place_gives_the_same_scores_and_restores_the_modules(gap_net):
    images = torch.rand(4, 1, 48, 48, generator=torch.Generator().manual_seed(8))
    first = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 2, 3), nn.ReLU6())  # a leading ReLU would edit the input
    with torch.no_grad():
        expected = gap_net(images)
        with explain.relu_in_place(gap_net), explain.relu_in_place(first):
            assert all(m.inplace for m in gap_net.modules() if isinstance(m, nn.ReLU))
            assert not first[0].inplace and first[2].inplace
            got = gap_net(images)
            first(images - 0.5)
    assert torch.equal(got, expected)
    assert not any(m.inplace for m in [*gap_net.modules(), *first.modules()] if isinstance(m, nn.ReLU | nn.ReLU6))


def test_score_cam_scores_a_masked_image_that_is_all_zero_as_the_blank_image(gap_net):
    images = torch.zeros(2, 1, 48, 48)
    images[:, :, 4:12, 30:40] = torch.rand(2, 1, 8, 10, generator=torch.Generator().manual_seed(9))  # ink in a corner
    seen = []
    handle = gap_net.register_forward_pre_hook(lambda _m, inputs: seen.append(len(inputs[0])))
    try:
        maps = explain.score_cam(gap_net, images, "relu3", [2, 5], batch_size=512)
    finally:
        handle.remove()
    assert torch.allclose(maps, reference(ScoreCAM, gap_net, "relu3", images, [2, 5]), atol=1e-4)
    assert seen[-1] < 2 * 128  # some masks miss the ink: those masked images were not run


def test_occlusion_skips_patches_that_change_no_pixel(gap_net):
    image = torch.zeros(1, 1, 48, 48)
    image[..., 30:40, 8:20] = torch.rand(10, 12, generator=torch.Generator().manual_seed(10))  # ink; the rest 0
    seen = []
    handle = gap_net.register_forward_pre_hook(lambda _m, inputs: seen.append(len(inputs[0])))
    try:
        maps = explain.occlusion(gap_net, image, 4, patch=12, stride=12, fill=0.0)
    finally:
        handle.remove()
    assert seen == [1, 4]  # the image, then only the 4 of 16 positions whose patch covers ink
    by_hand = torch.empty(48, 48)
    with torch.no_grad():
        for r in range(0, 48, 12):
            for c in range(0, 48, 12):
                occluded = image.clone()
                occluded[..., r : r + 12, c : c + 12] = 0.0
                by_hand[r : r + 12, c : c + 12] = gap_net(occluded).softmax(1)[0, 4]
    assert torch.allclose(maps[0], by_hand, atol=1e-5)


def test_class_model_same_start_equals_one_call_per_class(gap_net):
    kwargs = dict(steps=20, l2=1e-2, shape=(1, 32, 32), jitter=2, blur_every=5)
    together = explain.class_model(gap_net, [2, 5, 7], same_start=True, **kwargs)
    for image, target in zip(together, [2, 5, 7], strict=True):
        assert torch.allclose(image, explain.class_model(gap_net, target, **kwargs), atol=1e-5)
    assert not torch.allclose(explain.class_model(gap_net, [2, 5, 7], **kwargs)[1], together[1], atol=1e-5)


def test_top_patches_of_several_channels_equal_one_call_each(gap_net, canvases):
    several = explain.top_patches(gap_net, "relu2", canvases, [3, 0, 7], k=4)
    assert several.shape == (3, 4, 1, 8, 8)
    for patches, channel in zip(several, [3, 0, 7], strict=True):
        assert torch.equal(patches, explain.top_patches(gap_net, "relu2", canvases, channel, k=4))


def test_activations_in_batches_equal_one_batch(gap_net):
    images = torch.rand(5, 1, 48, 48, generator=torch.Generator().manual_seed(11))
    one = explain.activations(gap_net, images, ["relu1", "relu3"], batch_size=5)
    for layer, f in explain.activations(gap_net, images, ["relu1", "relu3"], batch_size=2).items():
        assert torch.allclose(f, one[layer], atol=1e-6)


def test_class_models_in_pixels_and_fourier_equal_the_two_calls(gap_net):
    def grey(images):  # the gap net takes one channel, centred
        return images.mean(dim=1, keepdim=True) - 0.5

    pixels = dict(shape=(1, 32, 32), l2=1e-3, lr=0.1, jitter=2, blur_every=5, clip=(-0.5, 0.5))
    fourier = dict(size=(32, 32), lr=0.2, jitter=3, seed=1)
    in_pixels, in_fourier = explain.class_models_in_pixels_and_fourier(gap_net, [2, 5], grey, 20, pixels, fourier)
    assert torch.allclose(in_pixels, explain.class_model(gap_net, [2, 5], steps=20, **pixels), atol=1e-5)
    assert torch.allclose(in_fourier, explain.class_model_fourier(gap_net, [2, 5], grey, steps=20, **fourier),
                          atol=1e-5)
    with pytest.raises(ValueError, match="size"):
        explain.class_models_in_pixels_and_fourier(gap_net, [2], grey, 2, {"shape": (1, 16, 16)}, fourier)
