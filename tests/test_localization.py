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
