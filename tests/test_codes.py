import matplotlib
import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier
from torch import nn
from torchvision.models import resnet18
from torchvision.models.feature_extraction import create_feature_extractor

from lecture_utils import codes

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return resnet18(weights=None, num_classes=10).train()


@pytest.fixture(scope="module")
def images():
    return torch.randn(5, 3, 64, 64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("layer", ["layer1.0.conv1", "layer3.1.conv2", "layer4", "avgpool", "fc"])
def test_extract_equals_torchvision_feature_extractor(net, images, layer):
    ours = codes.extract(net, images, layer, batch_size=2)
    net.eval()
    with torch.no_grad():
        ref = create_feature_extractor(net, return_nodes=[layer])(images)[layer].flatten(1)
    net.train()
    assert ours.shape == ref.shape and ours.shape[0] == 5
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert net.training  # mode restored
    assert not ours.is_inference() and not ours.requires_grad  # usable later, e.g. to train a probe on


def test_extract_accepts_module_and_removes_hooks(net, images):
    module = net.layer2[0].conv1
    out = codes.extract(net, images, module)
    assert out.shape == (5, 128 * 8 * 8)
    assert not any(m._forward_hooks for m in net.modules())


def test_hooks_removed_and_mode_restored_after_error(net):
    with pytest.raises(RuntimeError):
        codes.extract(net, torch.randn(2, 1, 32, 32), "layer4")  # 1 channel: conv1 raises
    assert not any(m._forward_hooks for m in net.modules())
    assert net.training


def test_bad_input(net, images):
    with pytest.raises(ValueError, match="layer='layer9'.*valid names include"):
        codes.extract(net, images, "layer9")
    with pytest.raises(ValueError, match="submodule"):
        codes.extract(net, images, nn.Linear(2, 2))
    with pytest.raises(ValueError, match="4-D"):
        codes.extract(net, images[0], "fc")
    x = torch.randn(6, 3)
    with pytest.raises(ValueError, match="k must"):
        codes.nearest(x, x, k=0)
    with pytest.raises(ValueError, match="train_labels has 5 entries"):
        codes.knn_accuracy(x, torch.zeros(5), x, torch.zeros(6))
    with pytest.raises(ValueError, match="metric"):
        codes.nearest(x, x, metric="manhattan")
    with pytest.raises(ValueError, match="labels has"):
        codes.separation(x, torch.zeros(3))


def test_nearest_finds_itself_first_and_cosine_ignores_scale():
    x = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    assert codes.nearest(x, x, k=1).squeeze(1).tolist() == list(range(20))
    assert torch.equal(codes.nearest(3 * x, x, k=4, metric="cosine"), codes.nearest(x, x, k=4, metric="cosine"))


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_knn_accuracy_equals_sklearn(k, metric):
    g = torch.Generator().manual_seed(k)
    labels = torch.randint(0, 4, (300,), generator=g)
    x = torch.randn(300, 10, generator=g) + labels[:, None] * 0.4  # overlapping classes: accuracy neither 0 nor 1
    ref = KNeighborsClassifier(k, algorithm="brute", metric=metric).fit(x[:200].numpy(), labels[:200].numpy())
    expected = ref.score(x[200:].numpy(), labels[200:].numpy())
    ours = codes.knn_accuracy(x[:200], labels[:200], x[200:], labels[200:], k=k, metric=metric)
    assert 0.3 < expected < 0.95
    assert ours == pytest.approx(expected, abs=1e-9)
    predicted = codes.knn_predict(x[:200], labels[:200], x[200:], k=k, metric=metric)
    assert predicted.tolist() == ref.predict(x[200:].numpy()).tolist()


def test_neighbour_purity_counts_same_class_neighbours():
    gallery_labels = torch.tensor([0, 0, 1, 2])
    neighbours = torch.tensor([[0, 1, 2], [2, 3, 0], [3, 3, 3]])
    purity = codes.neighbour_purity(neighbours, gallery_labels, torch.tensor([0, 1, 2]))
    assert purity.tolist() == pytest.approx([2 / 3, 1 / 3, 1.0])
    with pytest.raises(ValueError, match="query_labels has 2 entries for 3 queries"):
        codes.neighbour_purity(neighbours, gallery_labels, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="neighbours must be"):
        codes.neighbour_purity(torch.tensor([1, 2]), gallery_labels, torch.tensor([0, 1]))


def test_separation_grows_when_classes_move_apart():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(40)
    noise = torch.randn(120, 5, generator=g)
    near, far = noise + labels[:, None] * 0.5, noise + labels[:, None] * 5.0
    assert codes.separation(far, labels) > 0.6 > codes.separation(near, labels)
    per_image = codes.silhouettes(far, labels)
    assert per_image.shape == (120,) and per_image.mean() == pytest.approx(codes.separation(far, labels))
    # image 0 by the formula: a = mean distance to its own class (without itself), b = to the nearest other class
    d = torch.cdist(far[:1].double(), far.double())[0]
    a, b = d[1:40].mean(), min(d[40:80].mean(), d[80:].mean())
    assert per_image[0] == pytest.approx(((b - a) / max(a, b)).item())


def test_tsne_and_grid_layout():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(2).repeat_interleave(30)
    x = torch.randn(60, 20, generator=g) + labels[:, None] * 6.0
    points = codes.tsne(x, seed=0)
    assert points.shape == (60, 2)
    np.testing.assert_allclose(points, codes.tsne(x, seed=0))
    assert not np.allclose(points, codes.tsne(x, seed=0, perplexity=5))
    with pytest.raises(ValueError, match="perplexity"):
        codes.tsne(x, perplexity=0)
    centre0, centre1 = points[:30].mean(0), points[30:].mean(0)
    assert np.linalg.norm(centre0 - centre1) > 2 * points[:30].std(0).max()
    cells = codes.grid_layout(points, 8, 8)
    assert cells.shape == (60, 2) and len({tuple(c) for c in cells}) == 60
    assert cells.min() >= 0 and cells[:, 0].max() < 8 and cells[:, 1].max() < 8


def test_grid_layout_keeps_an_already_gridded_map():
    r, c = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    cells = np.stack([r.ravel(), c.ravel()], 1)
    points = np.stack([c.ravel(), -r.ravel()], 1).astype(float)  # x = column, y up = row down
    np.testing.assert_array_equal(codes.grid_layout(points, 3, 4), cells)
    with pytest.raises(ValueError, match="rows \\* cols"):
        codes.grid_layout(points, 2, 2)


def test_plots_render():
    points = np.random.default_rng(0).normal(size=(12, 2))
    images = torch.randint(0, 256, (12, 1, 28, 28), dtype=torch.uint8)
    assert codes.scatter_by_class(points, np.arange(12) % 3).axes
    assert codes.thumbnail_scatter(points, images).axes
    assert codes.thumbnail_grid(codes.grid_layout(points, 3, 4), images, 3, 4).axes


def test_neighbour_grid_colours_each_neighbour_by_its_class():
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 0, 1, 1])
    fig = codes.neighbour_grid(images[:2], labels[:2], images, labels, torch.tensor([[2, 3], [4, 0]]), ["a", "b"])
    titles = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes]
    assert titles == [("query: a", "black"), ("a", "green"), ("b", "red"),
                      ("query: b", "black"), ("b", "green"), ("a", "red")]


def test_photo_views_shapes_labels_and_seed():
    photos = [torch.randint(0, 256, (3, 60, 90), dtype=torch.uint8), torch.randint(0, 256, (1, 50, 50),
                                                                                    dtype=torch.uint8)]
    state = torch.get_rng_state()
    gallery, views, labels = codes.photo_views(photos, views=3, size=32, seed=5)
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is untouched
    assert gallery.shape == (2, 3, 32, 32) and views.shape == (6, 3, 32, 32)
    assert gallery.dtype == views.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(gallery[1, 0], gallery[1, 2])  # the grey photo repeated to three channels
    assert torch.equal(views, codes.photo_views(photos, views=3, size=32, seed=5)[1])
    assert not torch.equal(views, codes.photo_views(photos, views=3, size=32, seed=6)[1])
    assert not torch.equal(views[0], views[1])  # each view is drawn anew


def test_photo_views_keep_a_colour_photo_its_colour():
    # flat red, green and blue photos: a crop changes nothing, the colour jitter (hue +-0.05) keeps the hue, so
    # the nearest photo by pixels is always the right one
    photos = [torch.zeros(3, 40, 40, dtype=torch.uint8).index_fill_(0, torch.tensor([c]), 200) for c in range(3)]
    gallery, views, labels = codes.photo_views(photos, views=4, size=16)
    predicted = codes.knn_predict(gallery.flatten(1).float(), torch.arange(3), views.flatten(1).float())
    assert torch.equal(predicted, labels)
    assert views.float().std() > 0 and (views.float().mean((1, 2, 3)) != 200 / 3).any()  # jittered


def test_photo_views_rejects_bad_input():
    with pytest.raises(ValueError, match="views must be"):
        codes.photo_views([torch.zeros(3, 8, 8, dtype=torch.uint8)], views=0)
    with pytest.raises(ValueError, match="photos must be"):
        codes.photo_views([torch.zeros(3, 8, 8)], views=2)
