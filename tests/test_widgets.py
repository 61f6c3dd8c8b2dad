"""show_widget: a static rendering of the default state comes first, then the live widget."""

import ipywidgets
import pytest
from IPython.display import HTML
from matplotlib import pyplot as plt

from lecture_utils import widgets


@pytest.fixture
def shown(monkeypatch):
    objects = []
    monkeypatch.setattr(widgets, "display", objects.append)
    return objects


def test_static_figure_then_widget(shown):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    slider = ipywidgets.IntSlider(3)
    widgets.show_widget(slider, fig, caption="Default: shift 3")
    assert isinstance(shown[0], HTML) and "Default: shift 3" in shown[0].data
    assert shown[1:] == [fig, slider]
    assert not plt.fignum_exists(fig.number)  # closed: the inline backend will not draw it twice


def test_static_html_is_kept(shown):
    table = HTML("<table><tr><td>1</td></tr></table>")
    widgets.show_widget(ipywidgets.Button(), table)
    assert shown[1] is table and "static" in shown[0].data


def test_bad_arguments():
    with pytest.raises(ValueError, match="widget must be an ipywidgets.Widget, got Figure"):
        widgets.show_widget(plt.figure(), HTML("x"))
    with pytest.raises(ValueError, match="static must be a rendering"):
        widgets.show_widget(ipywidgets.Button(), None)
    plt.close("all")
