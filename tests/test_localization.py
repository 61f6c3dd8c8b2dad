"""localization: boxes from maps (CAM paper's rule), IoU against torchvision, the compared nets."""

import pytest
import torch
from torchvision.ops import box_iou

from lecture_utils import localization


def test_iou_equals_torchvision_box_iou_diagonal():
    g = torch.Generator().manual_seed(0)
    corners = torch.randint(0, 40, (50, 2, 2), generator=g)
    a = torch.cat([corners[:, 0], corners[:, 0] + torch.randint(1, 25, (50, 2), generator=g)], dim=1)
    b = torch.cat([corners[:, 1], corners[:, 1] + torch.randint(1, 25, (50, 2), generator=g)], dim=1)
    b[0] = a[0]  # identical: 1
    b[1] = torch.tensor([100, 100, 110, 110])  # disjoint: 0
    ours = localization.iou(a, b)
    assert torch.allclose(ours, box_iou(a.float(), b.float()).diagonal(), atol=1e-6)
    assert ours[0] == 1 and ours[1] == 0


def test_box_from_map_keeps_the_largest_component_with_edge_coordinates():
    m = torch.zeros(20, 30)
    m[2:5, 3:6] = 1.0  # 9 pixels, the maximum
    m[10:16, 12:20] = 0.5  # 48 pixels above 20% of the max: the largest component
    m[0, 29] = 0.1  # below the threshold
    assert localization.box_from_map(m).tolist() == [12, 10, 20, 16]
    assert localization.box_from_map(m, threshold=0.6).tolist() == [3, 2, 6, 5]
    batch = localization.box_from_map(torch.stack([m, torch.zeros(20, 30)]))
    assert batch.shape == (2, 4) and batch.dtype == torch.int64
    assert batch[1].tolist() == [0, 0, 30, 20]  # nothing to box: the whole image


def test_box_from_map_and_iou_reject_bad_input():
    with pytest.raises(ValueError, match="heatmap"):
        localization.box_from_map(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="threshold"):
        localization.box_from_map(torch.zeros(4, 4), threshold=20)
    with pytest.raises(ValueError, match="boxes_a"):
        localization.iou(torch.zeros(3, 4), torch.zeros(2, 4))


def test_centred_boxes_and_accuracy_table():
    boxes = localization.centred_boxes(3, 64, 20, 18)
    assert boxes.tolist() == [[22, 23, 42, 41]] * 3
    true = torch.tensor([[22, 23, 42, 41], [0, 0, 20, 18], [24, 23, 44, 41]])
    table = localization.accuracy_table({"centre": boxes}, true)
    assert table.loc["centre", "accuracy (IoU >= 0.5)"] == pytest.approx(2 / 3)


def test_nets_shapes_and_box_training_reduces_the_loss():
    assert localization.cam_net("max")(torch.zeros(2, 1, 64, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="pooling"):
        localization.cam_net("sum")
    torch.manual_seed(0)
    net = localization.BoxNet()
    images = torch.rand(64, 1, 64, 64)
    labels, boxes = torch.randint(0, 10, (64,)), torch.tensor([[10, 12, 30, 34]]).expand(64, 4)
    history = localization.fit_class_and_box(net, images, labels, boxes, alpha=0.2, epochs=3, lr=3e-3)
    assert history.train_loss[-1] < history.train_loss[0]
    classes, predicted = localization.predict_boxes(net, images)
    assert classes.shape == (64,) and predicted.shape == (64, 4)
    with pytest.raises(ValueError, match="alpha"):
        localization.fit_class_and_box(net, images, labels, boxes, alpha=1.5, epochs=1)


def test_pointing_game_sorts_each_peak_into_own_other_or_neither():
    maps = torch.zeros(4, 20, 20)
    for i, (row, col) in enumerate([(2, 2), (12, 15), (18, 0), (5, 5)]):
        maps[i, row, col] = 1.0
    own = torch.tensor([[0, 0, 8, 8]] * 4)
    other = torch.tensor([[10, 10, 20, 20]] * 3 + [[4, 4, 9, 9]])  # the last overlaps the own box
    game = localization.pointing_game(maps, own, other)
    assert game["own"].tolist() == [True, False, False, True]  # in both boxes: own
    assert game["other"].tolist() == [False, True, False, False]
    assert game["neither"].tolist() == [False, False, True, False]
    assert (game["own"].int() + game["other"].int() + game["neither"].int()).eq(1).all()


def test_paste_puts_photos_at_their_corners_and_returns_their_boxes():
    a, b = torch.full((3, 4, 6), 0.2), torch.full((3, 5, 5), 0.9)
    canvas, boxes = localization.paste([a, b], (10, 20), [(1, 2), (5, 14)], fill=0.5)
    assert canvas.shape == (3, 10, 20) and boxes.tolist() == [[2, 1, 8, 5], [14, 5, 19, 10]]
    assert canvas[:, 1:5, 2:8].eq(0.2).all() and canvas[:, 5:10, 14:19].eq(0.9).all()
    assert canvas[:, 0].eq(0.5).all()
    with pytest.raises(ValueError, match="does not fit"):
        localization.paste([b], (10, 20), [(6, 0)])
    with pytest.raises(ValueError, match="same length"):
        localization.paste([a, b], (10, 20), [(0, 0)])


def test_threshold_sweep_and_the_interval_columns():
    m = torch.zeros(2, 20, 20)
    m[:, 5:10, 5:10] = 1.0
    m[:, 2:14, 2:14] += 0.3  # a halo: inside the box from thresholds <= 0.3
    true = torch.tensor([[2, 2, 14, 14], [5, 5, 10, 10]])
    sweep = localization.threshold_sweep({"map": m}, true, thresholds=(0.2, 0.5))
    assert sweep.loc["map"].tolist() == [0.5, 0.5]  # t = 0.2 boxes the halo (right for 0), 0.5 the core (for 1)
    assert localization.correct(localization.box_from_map(m, 0.2), true).tolist() == [True, False]

    class Interval:
        def __init__(self, hits):
            self.low, self.high = 0.0, float(hits.float().mean())

    table = localization.accuracy_table({"map": localization.box_from_map(m, 0.5)}, true, interval=Interval)
    assert table.loc["map", "n"] == 2 and table.loc["map", "high"] == 0.5


def test_grad_cam_of_two_classes_falls_on_their_own_photos():
    """Issue 19: on a canvas of two photos (cat left, espresso right), each class's Grad-CAM is on its photo."""
    from lecture_utils import data, explain, models

    net, classes = models.pretrained("efficientnet_lite0"), models.imagenet_classes()
    photos = data.photos(["chelsea", "coffee"])
    side = 128
    pixels = [data.efficientnet_lite_input(photos[name][None], side)[0] for name in ("chelsea", "coffee")]
    canvas, boxes = localization.paste(pixels, (side, 2 * side), [(0, 0), (0, side)])
    asked = [classes.index("Egyptian cat"), classes.index("espresso")]
    maps = explain.grad_cam(net, canvas[None].expand(2, -1, -1, -1), net.features[-1], asked)
    game = localization.pointing_game(maps, boxes, boxes.flip(0))
    assert game["own"].all()
    for i in (0, 1):  # most of each map's mass is on its own photo
        assert maps[i, :, side * i : side * (i + 1)].sum() > 0.7 * maps[i].sum()


def test_box_from_map_on_many_maps_equals_labelling_each_map_alone():
    import numpy as np
    import scipy.ndimage

    def one_by_one(m, threshold):  # the recipe, one map at a time
        if m.max() <= 0:
            return [0, 0, m.shape[1], m.shape[0]]
        labels, _ = scipy.ndimage.label(m >= threshold * m.max())
        rows, cols = np.nonzero(labels == 1 + np.bincount(labels.ravel())[1:].argmax())  # ties: the first found
        return [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]

    g = torch.Generator().manual_seed(0)
    maps = (torch.rand(200, 9, 11, generator=g) * (torch.rand(200, 1, 1, generator=g) > 0.1)).round(decimals=1)
    maps[:20] = (torch.rand(20, 9, 11, generator=g) > 0.6).float()  # many regions of equal size
    for threshold in (0.0, 0.2, 0.5, 1.0):
        expected = torch.tensor([one_by_one(m.numpy(), threshold) for m in maps])
        assert torch.equal(localization.box_from_map(maps, threshold), expected)
    assert torch.equal(localization.box_from_map(torch.zeros(3, 4, 5)), torch.tensor([[0, 0, 5, 4]] * 3))
