"""Shared fixtures: every test gets its own data folder, so caches never leak between tests."""

import pytest


@pytest.fixture
def tmp_data(tmp_path, monkeypatch):
    """Point LECTURE_DATA at an empty temporary folder for this test."""
    monkeypatch.setenv("LECTURE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"
