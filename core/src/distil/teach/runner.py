"""The label stage: run a teacher over a data set in the store, resumably.

Examples that already have a prediction from this teacher's source are skipped, and every answer is
committed to the store as soon as it arrives, so a run killed at any point (even with SIGKILL) picks
up where it stopped and asks nothing twice. Parse failures are stored like answers (with ``error``
and ``raw``) and counted; they never stop the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..records import Prediction, Usage
from ..tasks import Task
from .teacher import PromptTeacher, Teacher

if TYPE_CHECKING:
    from ..store.sqlite import Store

Progress = Callable[[int], None]


@dataclass
class LabelResult:
    """What one label run did."""

    source: str
    dataset: str
    total: int
    already_done: int
    labelled: int
    failures: int
    seconds: float
    usage: dict[str, Any] = field(default_factory=dict)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.labelled if self.labelled else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failure_rate": self.failure_rate}


def label_dataset(
    store: Store,
    task: Task,
    teacher: Teacher,
    dataset: str,
    *,
    limit: int | None = None,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> LabelResult:
    """Label every example of ``dataset`` that this teacher has not answered yet."""
    if isinstance(teacher, PromptTeacher) and teacher.cache is None:
        teacher.cache = store
    examples = store.examples(dataset, limit=limit)
    source = teacher.source(task)
    done = store.answered_ids(source)
    pending = [ex for ex in examples if ex.id not in done]
    counts = {"labelled": 0, "failures": 0}
    usage = Usage(attempts=0, cached=True)

    def write(preds: list[Prediction]) -> None:
        nonlocal usage
        if run_id is not None:
            preds = [p.model_copy(update={"run_id": run_id}) for p in preds]
        store.add_predictions(preds)  # committed before progress is reported
        counts["labelled"] += len(preds)
        counts["failures"] += sum(1 for p in preds if not p.ok)
        for p in preds:
            usage = usage + p.usage
        if progress is not None:
            progress(len(preds))

    started = time.perf_counter()
    if pending:
        asyncio.run(teacher.alabel(task, pending, on_results=write))
    return LabelResult(
        source=source,
        dataset=dataset,
        total=len(examples),
        already_done=len(examples) - len(pending),
        labelled=counts["labelled"],
        failures=counts["failures"],
        seconds=time.perf_counter() - started,
        usage=usage.model_dump() if pending else {},
    )
