"""Browser tests: what students (JupyterLab) and instructors (slides, the built course) see, in Chromium.

Playwright drives the system Chromium (``CHROMIUM``, default ``/usr/bin/chromium``: Debian's ``chromium``
package, installed by ``.ci/run``); no browser is ever downloaded. Without it, or without playwright, every
test here is skipped with the reason. Network access from the page is blocked: only 127.0.0.1 and local
files load. Screenshots go to ``build/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real browser (Chromium); skipped when none is installed")


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


def _missing() -> str:
    """Why the browser tests cannot run here ("" if they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM=/path/to/chromium)"
    return ""


def offline_only(route):
    """Playwright route handler: local pages load, anything on the network is aborted (an offline classroom)."""
    url = route.request.url
    if url.startswith(("file:", "data:", "blob:", "http://127.0.0.1", "ws://127.0.0.1")):
        route.continue_()
    else:
        route.abort("internetdisconnected")


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (the system one) for the whole session."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh page with the network blocked; records failed requests and page errors (``page.problems``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.route("**/*", offline_only)
    page = context.new_page()
    page.problems = []
    page.on("requestfailed", lambda r: page.problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    yield page
    context.close()
