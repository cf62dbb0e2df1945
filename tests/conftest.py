"""Fixtures every test package may use. Each package's own fixtures live in its conftest.py."""

from __future__ import annotations

import pytest

from core.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    """Every test gets its own data directory; nothing leaks between tests or into ./data."""
    monkeypatch.setenv("OPMON_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings() -> Settings:
    return get_settings()
