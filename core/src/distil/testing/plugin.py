"""The pytest plugin (entry point ``pytest11: distil``): fixtures for distil and its plugins."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..plugins import PluginHost, set_host
from .data import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; the test is skipped with a reason where it is missing.

    Under CI (``CI`` set) a missing folder is an error, so a suite cannot go green by skipping.
    """
    root = shared_data_dir() or shared_data_dir(Path(__file__))
    if root is None:
        if os.environ.get("CI"):
            pytest.fail("shared/data not found beside the checkout (set DISTIL_DATA_DIR)")
        pytest.skip("shared/data not found (set DISTIL_DATA_DIR)")
    return root


@pytest.fixture
def isolated_host() -> Iterator[PluginHost]:
    """A plugin host with only core's built-ins loaded, installed as the process-wide host."""
    host = PluginHost(entry_points=False, strict=True)
    set_host(host)
    try:
        yield host
    finally:
        set_host(None)
