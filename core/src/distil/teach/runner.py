"""The label stage: run a teacher over a data set in the store, resumably.

Examples that already have a prediction from this teacher's source are skipped, and every answer is
committed to the store as soon as it arrives, so a run killed at any point (even with SIGKILL) picks
up where it stopped and asks nothing twice. Parse failures are stored like answers (with ``error``
and ``raw``) and counted; they never stop the run. A budget stop or a permanent provider error
stops it with every earlier answer stored, and the run's stats (with the ledger) written.

``mode="batch"`` sends the pending examples as provider batch jobs (:mod:`.batch`); a restarted
run collects the jobs it stored instead of submitting them again.

A stored failure stays until it is retried on purpose (``distil label --retry-failed``):
:func:`forget_failures` deletes the failed predictions, and the LLM cache entries whose answers
fail to parse along the way a retry would read them (the first answer, then each re-ask), so the
retry asks the provider again instead of re-serving the cached garbage; an entry that parses now
(a fixed parser) is kept and answers the retry for free.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .._async import run_sync
from ..errors import BudgetExceeded, ParseError
from ..records import Example, Prediction, Usage
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
    #: Stored failures that were deleted and asked again in this run (``--retry-failed``).
    retried: int = 0
    #: Failed answers of this source stored on the labelled examples once the run ended.
    failed_total: int = 0

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
    done = store.answered_ids(source, dataset=dataset)
    pending = [ex for ex in examples if ex.id not in done]
    counts = {"labelled": 0, "failures": 0, "cached": 0}
    usage = Usage(attempts=0, cached=True)

    def write(preds: list[Prediction]) -> None:
        nonlocal usage
        if run_id is not None:
            preds = [p.model_copy(update={"run_id": run_id}) for p in preds]
        store.add_predictions(preds, dataset)  # committed before progress is reported
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
                dataset=dataset,
            )
            run_sync(runner.run(pending, write))
        elif pending:
            run_sync(teacher.alabel(task, pending, on_results=write))
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


def failed_cache_keys(task: Task, teacher: PromptTeacher, example: Example) -> list[str]:
    """The cache keys a retry of ``example`` would read whose cached answers fail to parse.

    It walks the path :meth:`PromptTeacher.finish` takes: the prompt's cached answer, and while
    that fails and a re-ask is allowed, the cached answer of the re-ask prompt; it stops at the
    first answer missing from the cache or parsing now.
    """
    prompt = teacher.prompt_for(task, example)
    keys: list[str] = []
    for reasks in range(teacher.max_reasks + 1):
        completion = teacher.cached(prompt)
        if completion is None:
            break
        try:
            teacher.parse_output(task, example, completion)
        except ParseError as exc:
            keys.append(teacher.cache_key(prompt))
            if reasks >= teacher.max_reasks or not teacher.may_reask(completion):
                break
            prompt = teacher.reask_prompt(prompt, teacher.raw_text(completion), exc)
            continue
        break
    return keys


def forget_failures(
    store: Store, task: Task, teacher: Teacher, dataset: str, *, limit: int | None = None
) -> int:
    """Make the stored failures of ``teacher`` on ``dataset`` pending again; return how many.

    The failed cache entries go first, then the predictions: a kill in between leaves failures
    that the next ``--retry-failed`` finds again. Any executor then asks them like new examples.
    """
    source = teacher.source(task)
    failed = store.answered_ids(source, dataset=dataset) - store.answered_ids(
        source, dataset=dataset, ok_only=True
    )
    examples = [ex for ex in store.examples(dataset, limit=limit) if ex.id in failed]
    if not examples:
        return 0
    if isinstance(teacher, PromptTeacher):
        if teacher.cache is None:
            teacher.cache = store
        keys = [key for ex in examples for key in failed_cache_keys(task, teacher, ex)]
        getattr(teacher.cache, "cache_delete", store.cache_delete)(keys)
    return store.delete_failed_predictions(source, dataset, [ex.id for ex in examples])
