"""JupyterLab as a student sees it: each topic's live widget renders, and moving its slider (or dropdown) changes
the shown prediction; with ipywidgets' lab extension disabled, the same check fails. The server runs on 127.0.0.1
(free port, random token) on a temporary copy of a notebook cut down to the cells the widget needs; it is always
shut down.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
from browser_util import REPO, screenshot
from PIL import Image

# Training when no checkpoint is cached takes about a minute (more on a loaded machine); loading, seconds.
RUN_TIMEOUT_MS = 300_000
WIDGET_ERRORS = ("Error displaying widget", "model not found", "Model not found")


@dataclass(frozen=True)
class WidgetCase:
    """A notebook's widget: the cells it needs (each found by a piece of its source, in order) and what to check.

    ``figure_columns``: the part (fractions of the width) of the widget's figure that shows the prediction; the
    test asserts that these pixels change when the control moves. ``control``: which slider or dropdown to move
    (0-based, in page order); ``key``: the arrow key a student presses on it, ``presses`` times per move.
    """

    notebook: str
    cells: tuple[str, ...]
    figure_columns: tuple[float, float]
    control: int = 0
    key: str = "ArrowLeft"
    presses: int = 6


CASES = [
    WidgetCase("03_gap_vs_flatten", ("Colab setup", "mnist = data.mnist()", "RECIPE = dict(", "moving_digit_demo("),
               figure_columns=(1 / 3, 1.0), control=1),  # the probability bars of both nets; drag "cols" (from 12)
    # 04 (transfer learning) and 06 (visualizing CNNs) have no live widget.
    WidgetCase("05_cnn_codes", ("Colab setup", "fashion = data.fashion_mnist()", "LAYERS = {", "all_maps = {"),
               figure_columns=(0.0, 1.0), key="ArrowUp", presses=1),  # the layer picker: block 3 -> 2 -> 1
    WidgetCase("07_cam_and_gradcam", ("Colab setup", "SIZE = 64", "VARIANTS = {", "explain.explorer("),
               figure_columns=(0.0, 1.0), key="ArrowRight", presses=1),  # the image slider: the map moves
    WidgetCase("08_adversarial_examples", ("Colab setup", "mnist = data.mnist()", "x_test = data.to_float",
                                           "def show_fgsm("),
               figure_columns=(0.65, 1.0), key="ArrowRight", presses=4),  # eps 0.1 -> 0.14 -> 0.18: "6" -> "4"
    # 09 (ResNets and landscapes) has no live widget.
]
CONTROLS = ".widget-slider .noUi-handle, .widget-dropdown select"  # what a student can move with arrow keys


def widget_notebook(case: WidgetCase, folder: Path) -> Path:
    """A copy of ``case.notebook`` in ``folder`` with only the cells ``case.cells`` name, outputs cleared."""
    nb = nbformat.read(REPO / "notebooks" / f"{case.notebook}.ipynb", as_version=4)
    cells = []
    for marker in case.cells:
        found = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
        assert len(found) == 1, f"{case.notebook}: {len(found)} code cells contain {marker!r} (expected 1)"
        found[0].outputs, found[0].execution_count = [], None
        cells.append(found[0])
    nb.cells = cells
    path = folder / f"{case.notebook}.ipynb"
    nbformat.write(nb, path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_lab(root: Path, disabled_extensions: tuple[str, ...] = ()):
    """Run JupyterLab on ``root``, ``disabled_extensions`` switched off; yield ``(url, token)``; always stop it."""
    labconfig = root / "config" / "labconfig"  # a config folder of its own: no user settings
    labconfig.mkdir(parents=True)
    disabled = ("@jupyterlab/apputils-extension:announcements", *disabled_extensions)  # no news prompt in screenshots
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": dict.fromkeys(disabled, True)}))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "LECTURE_MODE": "fast", "LECTURE_OFFLINE": "1", "LECTURE_DEVICE": "cpu",
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    json.load(response)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not start:\n{(root / 'server.log').read_text()}") from None
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser):
    """``(url, token, folder)`` of a JupyterLab server on a temporary folder, as a student has it."""
    root = tmp_path_factory.mktemp("lab")
    with jupyter_lab(root) as (url, token):
        yield url, token, root


def png_pixels(src: str) -> np.ndarray:
    """The RGB pixels of a ``data:image/png;base64,...`` image source."""
    assert src.startswith("data:image/png;base64,"), src[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))


def assert_no_widget_errors(page, case: WidgetCase) -> None:
    text = page.inner_text(".jp-Notebook")
    for error in WIDGET_ERRORS:
        assert error not in text, f"{case.notebook}: {error!r} shown in the notebook"
    assert "Traceback" not in text, text[-2000:]


def move(page, widget, case: WidgetCase) -> str:
    """Press the case's arrow key on its control; return the widget figure's source once the kernel redrew it."""
    figure = widget.locator(".widget-output img").first
    previous = figure.get_attribute("src") if figure.count() else None  # a widget may draw on its first change only
    control = widget.locator(CONTROLS).nth(case.control)
    value = "el => el.closest('.widget-slider')?.querySelector('.widget-readout').innerText ?? el.value"
    control.evaluate("el => el.scrollIntoView({block: 'center'})")  # off-screen cells are not laid out (windowing)
    start_value = control.evaluate(value)
    if control.evaluate("el => el.tagName") == "SELECT":  # JupyterLab takes a dropdown's arrow keys (next cell):
        step = -case.presses if case.key in ("ArrowUp", "ArrowLeft") else case.presses  # pick as a mouse user does
        control.select_option(index=control.evaluate("el => el.selectedIndex") + step)
    else:
        control.focus()  # the keyboard moves a slider as a student's arrow keys do
        for _ in range(case.presses):
            page.keyboard.press(case.key)
    assert control.evaluate(value) != start_value, f"{case.notebook}: {case.key} did not move the control"
    deadline = time.monotonic() + 60  # the kernel redraws the figure: the output's <img> is replaced
    while (src := figure.get_attribute("src") if figure.count() else None) in (None, previous):
        assert time.monotonic() < deadline, f"{case.notebook}: the figure did not change after the control moved"
        page.wait_for_timeout(250)
    while time.monotonic() < deadline:  # one redraw per key press: wait for the last (unchanged for 1.5 s)
        page.wait_for_timeout(1500)
        if (latest := figure.get_attribute("src")) == src:
            break
        src = latest
    return src


def check_widget(page, url: str, token: str, root: Path, case: WidgetCase) -> None:
    """Open the case's cut-down notebook in JupyterLab, run it, move the widget's control twice: the figure's
    prediction region must change, and no widget error may show. Raises AssertionError otherwise."""
    widget_notebook(case, root)
    page.goto(f"{url}/lab/workspaces/{case.notebook}/tree/{case.notebook}.ipynb?token={token}")  # nothing else open
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("() => { const w = jupyterapp.shell.currentWidget;"
                           " return w && w.sessionContext && w.sessionContext.session?.kernel?.status === 'idle'; }",
                           timeout=60_000)
    page.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function("() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                           ".map(e => e.innerText.trim());"  # done: nothing queued or running, something ran
                           " return !p.includes('[*]:') && p.some(t => /\\[\\d+\\]/.test(t)); }",
                           timeout=RUN_TIMEOUT_MS)
    assert_no_widget_errors(page, case)
    widget = page.locator(".jp-OutputArea-output .widget-vbox").first
    deadline = time.monotonic() + 20  # views render just after the kernel went idle
    while not widget.count():
        assert time.monotonic() < deadline, f"{case.notebook}: no live widget rendered (widgets' JavaScript missing?)"
        page.wait_for_timeout(250)
    old, new = png_pixels(move(page, widget, case)), png_pixels(move(page, widget, case))
    assert old.shape == new.shape
    lo, hi = (round(f * old.shape[1]) for f in case.figure_columns)
    changed = np.abs(old[:, lo:hi].astype(int) - new[:, lo:hi].astype(int)).sum(axis=2) > 30
    assert changed.mean() > 0.002, f"the prediction panels did not change ({changed.mean():.4%} of pixels)"
    assert_no_widget_errors(page, case)
    widget.scroll_into_view_if_needed()
    screenshot(page, f"widget_{case.notebook}", locator=widget.locator("xpath=ancestor::div[contains(@class,"
                                                                      "'jp-OutputArea-child')][1]"))


@pytest.mark.parametrize("case", CASES, ids=[c.notebook for c in CASES])
def test_widget_renders_and_follows_its_slider(lab, page, case):
    check_widget(page, *lab, case)


def test_widget_check_fails_without_the_widgets_javascript(tmp_path, browser, page):
    """The check above can fail: with ipywidgets' JupyterLab extension disabled, no widget renders."""
    with jupyter_lab(tmp_path, disabled_extensions=("@jupyter-widgets/jupyterlab-manager",)) as (url, token):
        with pytest.raises(AssertionError, match="no live widget rendered"):
            check_widget(page, url, token, tmp_path, CASES[0])
