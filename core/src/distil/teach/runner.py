"""The label stage: run a teacher over a data set in the store, resumably.

Examples that already have a prediction from this teacher's source are skipped, and every answer is
committed to the store as soon as it arrives, so a run killed at any point (even with SIGKILL) picks
up where it stopped and asks nothing twice. Parse failures are stored like answers (with ``error``
and ``raw``) and counted; they never stop the run. A budget stop or a permanent provider error
stops it with every earlier answer stored, and the run's stats (with the ledger) written.

``mode="batch"`` sends the pending examples as provider batch jobs (:mod:`.batch`); a restarted
run collects the jobs it stored instead of submitting them again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BudgetExceeded
from ..records import Prediction, Usage
from ..tasks import Task
from .ledger import Ledger
from .pricing import format_cost
from .teacher import PromptTeacher, Teacher

if TYPE_CHECKING:
    from ..store.sqlite import Store

Progress = Callable[[int], None]


@dataclass
class LabelResult:
    """What one label run did; ``ledger`` is the :class:`~.ledger.Ledger` as a dict."""

    source: str
    dataset: str
    total: int
    already_done: int
    labelled: int
    failures: int
    seconds: float
    usage: dict[str, Any] = field(default_factory=dict)
    ledger: dict[str, Any] = field(default_factory=dict)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.labelled if self.labelled else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failure_rate": self.failure_rate}


def _usage_ledger(teacher: Teacher, usage: Usage, count: int, cached: int) -> Ledger:
    """A ledger for teachers without one (no LLM requests): tokens and cost from the usage."""
    describe = getattr(getattr(teacher, "provider", None), "describe", None)
    return Ledger(
        provider=describe() if callable(describe) else type(teacher).__name__,
        requests=count - cached,
        cache_hits=cached,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost=usage.cost if usage.cost > 0 else None,
    )


def label_dataset(
    store: Store,
    task: Task,
    teacher: Teacher,
    dataset: str,
    *,
    limit: int | None = None,
    run_id: str | None = None,
    progress: Progress | None = None,
    mode: str = "online",
    batch_size_jobs: int = 1000,
    poll_interval: float = 30.0,
) -> LabelResult:
    """Label every example of ``dataset`` that this teacher has not answered yet.

    Raises :class:`~distil.errors.BudgetExceeded` (saying how far the run got) or a permanent
    :class:`~distil.errors.ProviderError` after storing everything answered; with ``run_id`` the
    partial stats are written to the run first.
    """
    if isinstance(teacher, PromptTeacher) and teacher.cache is None:
        teacher.cache = store
    examples = store.examples(dataset, limit=limit)
    source = teacher.source(task)
    done = store.answered_ids(source)
    pending = [ex for ex in examples if ex.id not in done]
    counts = {"labelled": 0, "failures": 0, "cached": 0}
    usage = Usage(attempts=0, cached=True)

    def write(preds: list[Prediction]) -> None:
        nonlocal usage
        if run_id is not None:
            preds = [p.model_copy(update={"run_id": run_id}) for p in preds]
        store.add_predictions(preds)  # committed before progress is reported
        counts["labelled"] += len(preds)
        counts["failures"] += sum(1 for p in preds if not p.ok)
        counts["cached"] += sum(1 for p in preds if p.usage.cached)
        for p in preds:
            usage = usage + p.usage
        if progress is not None:
            progress(len(preds))

    def result() -> LabelResult:
        if isinstance(teacher, PromptTeacher):
            ledger = teacher.ledger
        else:
            ledger = _usage_ledger(teacher, usage, counts["labelled"], counts["cached"])
        return LabelResult(
            source=source,
            dataset=dataset,
            total=len(examples),
            already_done=len(examples) - len(pending),
            labelled=counts["labelled"],
            failures=counts["failures"],
            seconds=time.perf_counter() - started,
            usage=usage.model_dump() if counts["labelled"] else {},
            ledger=ledger.to_dict() if pending else {},
        )

    started = time.perf_counter()
    if isinstance(teacher, PromptTeacher):
        teacher.execution.new_ledger()
    try:
        if pending and mode == "batch":
            from .batch import BatchRunner

            if not isinstance(teacher, PromptTeacher):
                raise TypeError("batch mode needs an LLM teacher (PromptTeacher)")
            runner = BatchRunner(
                store,
                task,
                teacher,
                job_size=batch_size_jobs,
                poll_interval=poll_interval,
                run_id=run_id,
            )
            asyncio.run(runner.run(pending, write))
        elif pending:
            asyncio.run(teacher.alabel(task, pending, on_results=write))
    except BudgetExceeded as exc:
        partial = result()
        if run_id is not None:
            store.update_run(run_id, partial.to_dict())
        answered = partial.already_done + partial.labelled
        raise BudgetExceeded(
            f"stopped before exceeding the budget: {answered} of {partial.total} '{dataset}' "
            f"examples are labelled ({partial.labelled} in this run), spent "
            f"{format_cost(partial.ledger.get('cost'))}. {Exception.__str__(exc)}. Everything "
            "answered is stored: raise [label] budget and run again to go on."
        ) from None
    except BaseException:
        if run_id is not None:
            store.update_run(run_id, result().to_dict())
        raise
    return result()
