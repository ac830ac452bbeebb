"""The runtime of an extraction: the composite student first, the teacher for what it cannot fill.

There is one cascade, :class:`distil.cascade.Cascade` (``extract.cascade.v1`` builds it for a
saved composite, like ``cascade.v1`` for any student); what it asks an extraction's teacher is
decided by the :class:`~distil.tasks.extract.ExtractTask` (its ``cascade_*`` methods). Per
example:

* the composite student predicts every field it can (a *partial record*);
* an example with *pending* fields — fields that stay with the teacher, student fields the
  schema rejected, spans a normaliser could not read — goes to the teacher with a schema of
  **those fields alone** (:func:`fields_task`: the prompt and the structured output name only
  them), examples with the same pending fields in one batch; below the cascade threshold (the
  one rule, :func:`distil.tasks.base.below_threshold`) the fields whose subtask confidence is
  below it are asked too (``ExtractTask.cascade_request``);
* the asked fields are taken from the teacher's answer, the rest stay the student's
  (``ExtractTask.cascade_merge``); ``Extraction.teacher`` names the fields the teacher filled, and the
  merged record is validated by the schema, so the caller gets the same type either way;
* where the teacher fails (its record did not validate, retries ran out), the prediction carries
  the student's partial record *and* an ``error``: it counts as a failure, it is not repaired;
  a required field that is still empty after the teacher is an error that names it.

:class:`~distil.cascade.CascadeStats` counts documents *and* fields sent to the teacher, and
their cost. ``ExtractCascade`` and ``ExtractCascadeStats`` are the old names of the two.

:func:`to_instances` turns predictions into the user's pydantic objects (None for a failure).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..cascade import Cascade, CascadeStats
from ..records import Extraction, Prediction
from ..tasks import Task

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["ExtractCascade", "ExtractCascadeStats", "fields_task", "to_instances"]

#: The old names: the one cascade and its stats serve extraction too.
ExtractCascade = Cascade
ExtractCascadeStats = CascadeStats


def fields_task(task: Task, paths: Sequence[str]) -> Task:
    """An extract task whose schema has only the top-level fields holding ``paths``: what the
    teacher is asked when the student filled the rest (``ExtractTask.cascade_task``). The whole
    task when that is every field."""
    return task.cascade_task(list(paths))


def to_instances(task: Task, predictions: Sequence[Prediction]) -> list[BaseModel | None]:
    """The user's pydantic objects of ``predictions`` (None where one failed or is pending)."""
    out: list[BaseModel | None] = []
    for p in predictions:
        ok = p.ok and isinstance(p.output, Extraction) and not p.output.pending
        out.append(task.instance(p.output) if ok else None)  # type: ignore[attr-defined]
    return out
