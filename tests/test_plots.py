"""plots: one scale when asked (vmin/vmax), signed maps centred on 0."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lecture_utils import plots  # noqa: E402


def test_show_images_keeps_a_shared_scale_when_given():
    images = torch.stack([torch.full((4, 4), 0.2), torch.full((4, 4), 0.8)])
    fig = plots.show_images(images, vmin=0, vmax=1, cmap="RdBu_r")
    norms = [ax.images[0].norm for ax in fig.axes if ax.images]
    assert [(n.vmin, n.vmax) for n in norms] == [(0, 1), (0, 1)]
    assert fig.axes[0].images[0].get_cmap().name == "RdBu_r"
    colour = plots.show_images(torch.full((1, 3, 2, 2), 2.0), vmin=0, vmax=4)  # RGB: mapped to [0, 1]
    assert colour.axes[0].images[0].get_array().max() == pytest.approx(0.5)
    plt.close("all")


def test_signed_maps_use_one_symmetric_scale_per_row():
    images = torch.rand(2, 3, 5, 5)
    maps = torch.stack([torch.full((5, 5), 0.1), torch.full((5, 5), -0.4)])
    fig = plots.signed_maps(images, {"drop": maps}, titles=["a", "b"])
    row = [ax.images[0].norm for ax in fig.axes[2:4]]
    assert all((n.vmin, n.vmax) == (pytest.approx(-0.4), pytest.approx(0.4)) for n in row)
    with pytest.raises(ValueError, match="one map per image"):
        plots.signed_maps(images, {"drop": maps[:1]})
    plt.close("all")
