"""JupyterLab as a student sees it: each topic's live widget renders, and moving its slider changes the shown
prediction. The server runs on 127.0.0.1 (free port, random token) on a temporary copy of a notebook cut down
to the cells the widget needs; it is always shut down.
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
    test asserts that these pixels change when the slider moves. ``slider``: which slider to drag (0-based).
    """

    notebook: str
    cells: tuple[str, ...]
    figure_columns: tuple[float, float]
    slider: int = 0


CASES = [
    WidgetCase("03_gap_vs_flatten", ("Colab setup", "mnist = data.mnist()", "RECIPES = {", "moving_digit_demo("),
               figure_columns=(1 / 3, 1.0), slider=1),  # the probability bars of both nets; drag "cols" (from 12)
]


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


@pytest.fixture(scope="module")
def lab(tmp_path_factory, browser):
    """``(url, token, folder)`` of a JupyterLab server on a temporary folder; stopped afterwards, whatever happens."""
    root = tmp_path_factory.mktemp("lab")
    (root / "config").mkdir()
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "LECTURE_MODE": "fast", "LECTURE_OFFLINE": "1", "LECTURE_DEVICE": "cpu",
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime")}  # no user settings
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
        yield url, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def png_pixels(src: str) -> np.ndarray:
    """The RGB pixels of a ``data:image/png;base64,...`` image source."""
    assert src.startswith("data:image/png;base64,"), src[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))


@pytest.mark.parametrize("case", CASES, ids=[c.notebook for c in CASES])
def test_widget_renders_and_follows_its_slider(lab, page, case):
    url, token, root = lab
    widget_notebook(case, root)
    page.goto(f"{url}/lab/tree/{case.notebook}.ipynb?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function("() => { const w = jupyterapp.shell.currentWidget;"
                           " return w && w.sessionContext && w.sessionContext.session?.kernel?.status === 'idle'; }",
                           timeout=60_000)
    page.evaluate("jupyterapp.commands.execute('notebook:run-all-cells')")
    interact = page.locator(".jp-OutputArea-output .widget-interact").first
    try:
        interact.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    finally:
        text = page.inner_text(".jp-Notebook")
        for error in WIDGET_ERRORS:
            assert error not in text, f"{case.notebook}: {error!r} shown in the notebook"
        assert "Traceback" not in text, text[-2000:]
    figure = interact.locator(".widget-output img").first
    figure.wait_for(state="visible", timeout=60_000)
    before = figure.get_attribute("src")
    slider = interact.locator(".widget-slider").nth(case.slider)
    readout = slider.locator(".widget-readout")
    start_value = readout.inner_text()
    slider.locator(".noUi-handle").focus()  # the keyboard moves it as a student's arrow keys do
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function("([el, v]) => el.innerText !== v", arg=[readout.element_handle(), start_value])
    deadline = time.monotonic() + 60  # the kernel redraws the figure: the output's <img> is replaced
    while (after := figure.get_attribute("src")) == before and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert readout.inner_text() != start_value
    assert after != before, "the figure did not change after the slider moved"
    old, new = png_pixels(before), png_pixels(after)
    assert old.shape == new.shape
    lo, hi = (round(f * old.shape[1]) for f in case.figure_columns)
    changed = np.abs(old[:, lo:hi].astype(int) - new[:, lo:hi].astype(int)).sum(axis=2) > 30
    assert changed.mean() > 0.002, f"the prediction panels did not change ({changed.mean():.4%} of pixels)"
    text = page.inner_text(".jp-Notebook")
    assert not any(error in text for error in WIDGET_ERRORS)
    interact.scroll_into_view_if_needed()
    screenshot(page, f"widget_{case.notebook}", locator=interact.locator("xpath=ancestor::div[contains(@class,"
                                                                        "'jp-OutputArea-child')][1]"))
