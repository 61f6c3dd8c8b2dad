"""Widgets that also read well headless: every live demo shows a static rendering of its default state.

A widget needs a Jupyter front end; a notebook executed headless (CI, ``make lectures``) or viewed on
GitHub only keeps a text placeholder for it. :func:`show_widget` therefore displays a static picture of
the default setting first (a matplotlib figure, HTML, a DataFrame, ...), then the live widget::

    demo = widgets.interactive(draw, shift=widgets.IntSlider(0, -20, 20))
    show_widget(demo, draw(shift=0), caption="Default: the digit at the centre")
"""

from __future__ import annotations

import ipywidgets
from IPython.display import HTML, display
from matplotlib import pyplot as plt
from matplotlib.figure import Figure


def show_widget(widget: ipywidgets.Widget, static, caption: str = "") -> None:
    """Display ``static`` (the default state, rendered once), then the live ``widget``.

    A matplotlib ``static`` figure is closed after display, so the inline backend does not show it twice.
    """
    if not isinstance(widget, ipywidgets.Widget):
        raise ValueError(f"widget must be an ipywidgets.Widget, got {type(widget).__name__}")
    if static is None:
        raise ValueError("static must be a rendering of the widget's default state (a figure, HTML, ...), got None")
    note = caption or "Default setting (static, for viewers without a live kernel)"
    display(HTML(f"<p><em>{note}.</em> The controls below change it when the notebook runs live.</p>"))
    display(static)
    if isinstance(static, Figure):
        plt.close(static)
    display(widget)
