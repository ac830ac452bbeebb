"""Fixtures: one local Ray per test module (2 CPUs, a small object store) and the plugin host."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

import distil
import distil.plugins
import distil_openai.plugin
import distil_ray.plugin
import distil_sklearn.plugin

PLUGINS = [
    ("openai", distil_openai.plugin),
    ("ray", distil_ray.plugin),
    ("sklearn", distil_sklearn.plugin),
]


@pytest.fixture(autouse=True, scope="module")
def host() -> Iterator[distil.PluginHost]:
    """Only core's built-ins and the plugins these tests use, in the driver and the workers."""
    host = distil.PluginHost(entry_points=False, modules=PLUGINS, strict=True)
    distil.plugins.set_host(host)
    yield host
    distil.plugins.set_host(None)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A local Ray with 2 CPUs and a 150 MB object store, shut down after the module."""
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        object_store_memory=150 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    yield ray
    ray.shutdown()
