"""Fixtures for the cross-package tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    return root


@pytest.fixture(autouse=True)
def installed_plugins() -> None:
    """These tests run against everything installed: start each from a freshly loaded host,
    whatever a plugin's own tests installed before them."""
    from distil.plugins import set_host

    set_host(None)
