"""The distil-ray plugin (entry point ``distil: ray``): registers the ``ray.v1`` executor.

Importing this module does not import Ray (a test checks it): ``distil --help`` and every project
that keeps the local executor pay nothing for this plugin being installed.
"""

from __future__ import annotations

from typing import Any

import distil

from .executor import RayExecutor


def make_ray_executor(
    address: str | None = None,
    num_cpus: int | None = None,
    object_store_memory: int | None = None,
    label_batch_size: int = 16,
    label_tasks: int = 2,
    label_cpus: float = 0.5,
    predict_batch_size: int = 1024,
    predict_actors: int = 2,
    predict_cpus: float = 1.0,
    max_retries: int | None = None,
    shards_path: str | None = None,
) -> RayExecutor:
    """``ray.v1``: run the label and predict stages on Ray Data.

    ``address`` is the cluster to join (``"auto"``, ``"ray://head:10001"``); None starts a local
    Ray on this machine (with ``num_cpus`` and ``object_store_memory`` when given). Teacher
    labelling runs as ``map_batches`` tasks: ``label_tasks`` at once, ``label_batch_size``
    examples each, ``label_cpus`` CPUs reserved per task (LLM calls wait on the network, so a
    fraction is right). Student inference runs on ``predict_actors`` actors that each load the
    model once. ``max_retries`` limits the re-runs of a task whose worker died (None: Ray Data's
    default, without limit; 0 makes a dead worker fail the job, which a re-run resumes). ``shards_path`` is where result
    shards go (default: ``ray-shards`` beside the store; on a cluster, a folder every node
    reaches).
    """
    return RayExecutor(
        address=address,
        num_cpus=num_cpus,
        object_store_memory=object_store_memory,
        label_batch_size=label_batch_size,
        label_tasks=label_tasks,
        label_cpus=label_cpus,
        predict_batch_size=predict_batch_size,
        predict_actors=predict_actors,
        predict_cpus=predict_cpus,
        max_retries=max_retries,
        shards_path=shards_path,
    )


@distil.hookimpl
def register_executors(register: Any) -> None:
    register("ray.v1", make_ray_executor)
