"""Helpers of the browser tests (a module name of its own: ``conftest`` would clash with tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "screenshots"


def screenshot(page, name: str, **kwargs) -> Path:
    """Save a PNG of ``page`` (or of ``kwargs['locator']``) as ``build/screenshots/NAME.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    target = kwargs.pop("locator", page)
    target.screenshot(path=path, **kwargs)
    return path
