"""The distil plugin module (entry point ``distil: ordinal``): registers ``ordinal.v1``.

A third-party task kind needs exactly this: a factory whose keyword arguments are the keys of the
``[task]`` config block, registered under a versioned name by ``register_tasks``::

    [task]
    @tasks = "ordinal.v1"
    scale = ["1", "2", "3", "4", "5"]     # lowest first; the default

and, optionally, metrics for the report through ``distil_evaluate`` (here the mean absolute error,
which the report shows as a row beside the scores).
"""

from __future__ import annotations

from typing import Any

import distil

from .task import STARS, OrdinalTask


def make_ordinal(
    scale: list[str] | None = None,
    descriptions: dict[str, str] | None = None,
    instructions: str | None = None,
    shots_path: str | None = None,
) -> OrdinalTask:
    """``ordinal.v1``: rate each text with one point of ``scale`` (default 1–5 stars)."""
    shots = distil.read_jsonl(shots_path).examples if shots_path else None
    try:
        return OrdinalTask(
            list(scale or STARS), descriptions=descriptions, instructions=instructions, shots=shots
        )
    except ValueError as exc:
        raise distil.ConfigError(f"task: {exc}") from None


@distil.hookimpl
def register_tasks(register: Any) -> None:
    register("ordinal.v1", make_ordinal)


@distil.hookimpl
def distil_evaluate(
    task: distil.Task, gold: list[distil.Example], predictions: list[distil.Prediction | None]
) -> dict[str, Any] | None:
    """``mae``: the mean absolute rating error of a source (a failure is the widest error)."""
    if not isinstance(task, OrdinalTask):
        return None
    pairs = [
        (ref, p.output if p is not None and p.ok else None)
        for ex, p in zip(gold, predictions, strict=True)
        if (ref := task.reference(ex)) is not None
    ]
    errors = task.errors([g for g, _ in pairs], [o for _, o in pairs])
    return {"mae": round(sum(errors) / len(errors), 4)} if errors else None
