"""show_widget: a static rendering of the default state comes first, then the live widget."""

import re
from pathlib import Path

import ipywidgets
import nbformat
import pytest
from IPython.display import HTML
from matplotlib import pyplot as plt

from lecture_utils import widgets

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WIDGET = "application/vnd.jupyter.widget-view+json"
PROGRESS_BAR = re.compile(r"\d+/\d+ \[")  # tqdm.auto's bar: "epochs:  0%|   | 0/2 [00:00<?, ?it/s]"


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


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_widget_in_the_course_comes_with_a_static_rendering(path):
    """A committed notebook's live widgets (tqdm's progress bars aside) sit after a figure or HTML in their cell."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        kinds = [kind for output in cell.get("outputs", []) for kind in output.get("data", {})]
        texts = [output["data"].get("text/plain", "") for output in cell.get("outputs", [])
                 if WIDGET in output.get("data", {})]
        live = [text for text in texts if not PROGRESS_BAR.search(text)]
        if live:
            first_widget = kinds.index(WIDGET)
            assert {"image/png", "text/html"} & set(kinds[:first_widget]), (
                f"{path.name} cell {index}: widget {live[0]!r} without a static rendering before it (show_widget)")
