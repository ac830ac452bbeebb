"""The ray.v1 executor passes the executor conformance suite every executor plugin runs."""

from __future__ import annotations

from typing import Any

import pytest

from distil.testing.executors import ExecutorConformance
from distil_ray import RayExecutor


class TestRayExecutorConformance(ExecutorConformance):
    @pytest.fixture
    def executor_factory(self, ray_cluster: Any) -> Any:
        # One small actor per predict job: the suite runs six, and each starts its actors.
        return lambda: RayExecutor(
            label_batch_size=16, predict_batch_size=20, predict_actors=1, predict_cpus=0.5
        )
