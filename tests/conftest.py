"""Shared fixtures: every test gets its own data folder, so caches never leak between tests."""

import pytest


@pytest.fixture
def tmp_data(tmp_path, monkeypatch):
    """Point LECTURE_DATA at an empty temporary folder for this test, and the shipped checkpoints at
    another one (empty), so neither the user's cache nor the committed checkpoints take part."""
    monkeypatch.setenv("LECTURE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LECTURE_SHIPPED", str(tmp_path / "shipped"))
    for name in ("LECTURE_RETRAIN", "LECTURE_SHIP", "LECTURE_SEED"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"
