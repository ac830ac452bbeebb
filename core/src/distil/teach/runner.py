"""The label stage: run a teacher over a data set in the store, resumably.

Examples that already have a prediction from this teacher's source are skipped (an anti-join, read
page by page), and answers are committed to the store in batches, with their cache entries, within
:data:`~.teacher.WRITE_S` (0.2 s) of arriving or every :data:`~.teacher.WRITE_ROWS` answers, and
before the run returns or raises (Ctrl-C included), so an interrupted run picks up where it stopped
and asks nothing twice; a SIGKILL loses at most the answers of the last 0.2 s. What the run has
spent on each LLM teacher (a cascade's too) is written with every batch of answers (the store's
``spend`` table), and ``[label] budget`` caps the sum over the project's runs: a run killed
mid-way keeps its spend counted, and a run under a budget already spent sends nothing. Parse
failures are stored like answers (with ``error`` and ``raw``) and counted; they never stop the
run. A budget stop or a permanent provider error stops it with every earlier answer stored, and
the run's stats (with the ledger) written.

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
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .._async import run_sync
from ..errors import BudgetExceeded, ParseError
from ..records import Example, Prediction, Usage
from ..tasks import Task
from .execution import Execution
from .ledger import Ledger
from .pricing import format_cost
from .teacher import CacheEntry, PromptTeacher, Teacher

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
    #: Of ``failures``: requests that got no answer (timeouts, dropped connections, server
    #: errors after every retry, failed batch items), not answers that failed to parse.
    request_failures: int = 0
    #: Per LLM teacher with a budget: ``{"teacher", "spent", "budget", "run"}``, where ``spent``
    #: is what the project has spent on it over every run, this one (``run``) included.
    budgets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def parse_failures(self) -> int:
        return self.failures - self.request_failures

    @property
    def failure_rate(self) -> float:
        return self.failures / self.labelled if self.labelled else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "failure_rate": self.failure_rate,
            "parse_failures": self.parse_failures,
        }


def is_request_failure(prediction: Prediction) -> bool:
    """A failure without an answer: the request timed out, its connection dropped or the
    server kept failing (no raw text, no tokens), as opposed to an answer that did not parse."""
    usage = prediction.usage
    return (
        not prediction.ok
        and not prediction.raw
        and usage.input_tokens == 0
        and usage.output_tokens == 0
    )


def _sum_usage(usage: Usage, preds: Sequence[Prediction]) -> Usage:
    """``usage`` plus every prediction's, as ``Usage.__add__`` sums them, in one model build
    (one per batch, not one per row)."""
    if not preds:
        return usage
    totals = usage.model_dump()
    numeric = [k for k, v in totals.items() if type(v) in (int, float)]  # not the bool
    cached = usage.cached
    for p in preds:
        u = p.usage
        cached = cached and u.cached
        for k in numeric:
            totals[k] += getattr(u, k)
    totals["cached"] = cached
    return Usage(**totals)


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


def llm_executions(teacher: Teacher) -> list[Execution]:
    """The executions of the LLM teachers in ``teacher``: itself, or a cascade's at any depth."""
    if isinstance(teacher, PromptTeacher):
        return [teacher.execution]
    found: list[Execution] = []
    for inner in teacher.inner_teachers():
        found += llm_executions(inner)
    return found


def budget_line(budget: dict[str, Any]) -> str:
    """``spent $0.0480 of $0.0500 budget on openai/gpt-4o-mini ($0.0480 in this run)``."""
    return (
        f"spent {format_cost(budget['spent'])} of {format_cost(budget['budget'])} budget on "
        f"{budget['teacher']} in this project ({format_cost(budget['run'])} in this run)"
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
    page_size: int = 1000,
) -> LabelResult:
    """Label every example of ``dataset`` that this teacher has not answered yet.

    Pending examples are read from the store ``page_size`` at a time and the answers written in
    batches (one transaction each, with their cache entries), so memory does not grow with the
    data set and a re-run with nothing pending costs two counts and one query.

    Raises :class:`~distil.errors.BudgetExceeded` (saying how far the run got) or a permanent
    :class:`~distil.errors.ProviderError` after storing everything answered; with ``run_id`` the
    partial stats are written to the run first.
    """
    if isinstance(teacher, PromptTeacher) and teacher.cache is None:
        teacher.cache = store
    source = teacher.source(task)
    # Counts by query, pending examples by an anti-join in pages: nothing holds the data set.
    count = store.count_examples(dataset)
    total = count if limit is None else max(0, min(limit, count))
    already = store.count_answered(source, dataset, limit=limit)
    pending = total - already
    counts = {"labelled": 0, "failures": 0, "cached": 0, "request_failures": 0}
    usage = Usage(attempts=0, cached=True)
    takes_cache = isinstance(teacher, PromptTeacher) and teacher.cache is store
    executions = llm_executions(teacher)
    account = run_id or uuid.uuid4().hex[:12]

    def spent_now() -> tuple[str, dict[str, float]]:
        spent: dict[str, float] = {}
        for execution in executions:
            key = execution.budget_key
            if execution.run_spent > 0:
                spent[key] = spent.get(key, 0.0) + execution.run_spent
        return account, spent

    def budgets() -> list[dict[str, Any]]:
        return [
            {
                "teacher": e.budget_key,
                "spent": e.spent_total,
                "budget": e.budget,
                "run": e.run_spent,
            }
            for e in executions
            if e.budget is not None
        ]

    def write(preds: list[Prediction], entries: Sequence[CacheEntry] = ()) -> None:
        nonlocal usage
        # the answers, their cache entries and the run's spend so far in one transaction,
        # before progress is reported
        spend = spent_now() if executions else None
        store.add_predictions(preds, dataset, cache=entries, run_id=run_id, spend=spend)
        counts["labelled"] += len(preds)
        counts["failures"] += sum(1 for p in preds if not p.ok)
        counts["request_failures"] += sum(1 for p in preds if is_request_failure(p))
        counts["cached"] += sum(1 for p in preds if p.usage.cached)
        usage = _sum_usage(usage, preds)
        if progress is not None and preds:
            progress(len(preds))

    def result() -> LabelResult:
        if isinstance(teacher, PromptTeacher):
            ledger = teacher.ledger
        else:
            ledger = _usage_ledger(teacher, usage, counts["labelled"], counts["cached"])
        return LabelResult(
            source=source,
            dataset=dataset,
            total=total,
            already_done=already,
            labelled=counts["labelled"],
            failures=counts["failures"],
            request_failures=counts["request_failures"],
            seconds=time.perf_counter() - started,
            usage=usage.model_dump() if counts["labelled"] else {},
            ledger=ledger.to_dict() if pending else {},
            budgets=budgets(),
        )

    def pages() -> Iterator[list[Example]]:
        return store.pending_examples(dataset, source, limit=limit, page_size=page_size)

    started = time.perf_counter()
    if isinstance(teacher, PromptTeacher):
        teacher.execution.new_ledger()
    for execution in executions:
        execution.open_account(store.spent(execution.budget_key, exclude=account))
    try:
        for execution in executions:  # a budget already spent: not even one request
            budget = execution.budget
            if pending and budget is not None and execution.spent_total >= budget:
                raise BudgetExceeded(
                    f"budget {format_cost(budget)} reached: spent "
                    f"{format_cost(execution.spent_total)} in earlier runs"
                )
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
            # read page by page: each job is submitted as soon as it is full
            run_sync(runner.run((ex for page in pages() for ex in page), write))
        elif pending and isinstance(teacher, PromptTeacher):
            on_write, on_results = (write, None) if takes_cache else (None, write)
            run_sync(teacher.astream(task, pages(), on_results, on_write=on_write))
        elif pending:
            run_sync(teacher.astream(task, pages(), on_results=write))
        store.record_spend(*spent_now())
        final = result()
    except BudgetExceeded as exc:
        store.record_spend(*spent_now())
        partial = result()
        if run_id is not None:
            store.update_run(run_id, partial.to_dict())
        answered = partial.already_done + partial.labelled
        spent = "; ".join(budget_line(b) for b in partial.budgets) or (
            f"spent {format_cost(partial.ledger.get('cost'))}"
        )
        raise BudgetExceeded(
            f"stopped before exceeding the budget: {answered} of {partial.total} '{dataset}' "
            f"examples are labelled ({partial.labelled} in this run), {spent}. "
            f"{Exception.__str__(exc)}. Everything answered is stored: the budget counts every "
            "run of this project; raise [label] budget and run again to go on."
        ) from None
    except BaseException:
        store.record_spend(*spent_now())
        if run_id is not None:
            store.update_run(run_id, result().to_dict())
        raise
    finally:
        for execution in executions:
            execution.close_account()
    return final


def failed_cache_keys(task: Task, teacher: PromptTeacher, example: Example) -> list[str]:
    """The cache keys a retry of ``example`` would read whose cached answers fail to parse.

    It walks the path :meth:`PromptTeacher.finish` takes: the first prompt's cached answer (under
    the text-only key or the old whole-prompt key), and while that fails and a re-ask is
    allowed, the cached answer of the re-ask prompt; it stops at the first answer missing from
    the cache or parsing now.
    """
    prompt, _ = teacher.lookup(task, example)
    first = teacher.keys_for(task, example)
    keys: list[str] = []
    for reasks in range(teacher.max_reasks + 1):
        completion = None
        for key in first if reasks == 0 else [teacher.cache_key(prompt)]:
            completion = teacher.cached(prompt, key)
            if completion is not None:
                break
        if completion is None:
            break
        try:
            teacher.parse_output(task, example, completion)
        except ParseError as exc:
            tried = first if reasks == 0 else [teacher.cache_key(prompt)]
            keys.extend(k for k in tried if teacher.cached(prompt, k) is not None)
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
    The failed examples are read by a join, page by page.
    """
    source = teacher.source(task)
    if isinstance(teacher, PromptTeacher) and teacher.cache is None:
        teacher.cache = store
    deleted = 0
    # Pages are read before anything is deleted: deleting moves no example out of later pages.
    pages = list(store.pending_examples(dataset, source, limit=limit, failed_only=True))
    for examples in pages:
        if isinstance(teacher, PromptTeacher):
            keys = [key for ex in examples for key in failed_cache_keys(task, teacher, ex)]
            getattr(teacher.cache, "cache_delete", store.cache_delete)(keys)
        deleted += store.delete_failed_predictions(source, dataset, [ex.id for ex in examples])
    return deleted
