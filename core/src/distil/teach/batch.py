"""Batch mode: label through a provider's batch API (half price, answers within hours).

The orchestration is shared by every provider that implements ``submit_batch``, ``batch_status``
and ``batch_results`` (see :class:`~distil.teach.provider.Provider`):

1. jobs this source submitted before and never collected (a run killed while waiting) are picked
   up from the store, never submitted again: a request is paid for once;
2. examples already in the cache are answered from it; the rest are submitted in jobs of
   ``job_size`` requests; each job id is stored with its custom id → example id map the moment
   the provider returns it (the one gap: a kill between the provider accepting a job and that
   write loses the job, not the examples, which are submitted again on resume);
3. every job is polled each ``poll_interval`` seconds until it is ``done`` (its answers are
   priced with the batch discount, cached, parsed and stored; an invalid answer is re-asked online;
   a request the provider failed is stored as a failure with its reason) or finally failed
   (``failed``, ``expired``, ``cancelled``: its examples are stored as failures saying so).

A budget is checked before each job is submitted, counting what the jobs in flight may cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from ..errors import BudgetExceeded, ProviderError, TransientProviderError
from ..records import Completion, Example, Prediction
from ..tasks import Task
from .teacher import OnResults, PromptTeacher

if TYPE_CHECKING:
    from ..store.sqlite import BatchJob, Store

T = TypeVar("T")
FINAL_FAILURES = ("failed", "expired", "cancelled")


class BatchRunner:
    """Runs one label run of ``teacher`` in batch mode against ``store``."""

    def __init__(
        self,
        store: Store,
        task: Task,
        teacher: PromptTeacher,
        *,
        job_size: int = 1000,
        poll_interval: float = 30.0,
        run_id: str | None = None,
        dataset: str | None = None,
    ) -> None:
        if not teacher.provider.supports_batch:
            raise ProviderError(f"{teacher.provider.describe()} has no batch API")
        if job_size < 1:
            raise ValueError("job_size must be at least 1")
        self.store, self.task, self.teacher = store, task, teacher
        self.provider = teacher.provider
        self.execution = teacher.execution
        self.job_size = job_size
        self.poll_interval = poll_interval
        self.run_id = run_id
        #: The data set being labelled: its jobs only are collected, its examples looked up.
        self.dataset = dataset
        self.source = teacher.source(task)
        self._reserved: dict[str, float] = {}

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """A batch API call with the teacher's retry policy; giving up stops the run."""
        retry = 0
        while True:
            try:
                return await call()
            except TransientProviderError as exc:
                wait = self.execution.retry.wait_for(retry, exc)
                retry += 1
                if wait is None:
                    reason = self.execution.retry.give_up_reason(retry, exc)
                    raise ProviderError(
                        f"{what}: {reason}; the stored jobs are collected when you run again"
                    ) from exc
                self.execution.ledger.retries += 1
                await asyncio.sleep(wait)

    def _estimate(self, examples: Sequence[Example]) -> float:
        price = self.execution.price
        if price is None:
            return 0.0
        prompts = [self.teacher.prompt_for(self.task, ex) for ex in examples]
        tokens_in, tokens_out = self.execution.estimate(prompts)
        return price.cost(tokens_in, tokens_out, batch=True)

    async def run(self, examples: Iterable[Example], on_results: OnResults) -> None:
        """Label ``examples`` (the pending ones); deliver predictions job by job.

        ``examples`` is read as it goes (the runner passes the store's pages): each job is
        submitted as soon as it is full and cache hits are delivered every ``job_size``, so
        memory holds one job's examples, not the data set. The jobs in flight keep only their
        custom id → example id maps.
        """
        ledger = self.execution.new_ledger()
        stored = self.store.batch_jobs(self.source, unfinished=True, dataset=self.dataset)
        stored = [job for job in stored if job.provider == self.provider.describe()]
        covered = {eid for job in stored for eid in job.requests.values()}
        jobs: list[BatchJob] = []
        for job in stored:
            self._reserve(job)
            jobs.append(job)

        fresh: list[Example] = []
        hits: list[Prediction] = []
        stop: BaseException | None = None

        async def submit() -> None:
            nonlocal fresh, stop
            chunk, fresh = fresh, []
            try:
                jobs.append(await self._submit(chunk))
            except (BudgetExceeded, ProviderError) as exc:
                stop = exc  # collect what was submitted (it is paid for), then stop

        for ex in examples:
            if ex.id in covered:
                continue
            prompt, cached = self.teacher.lookup(self.task, ex)
            if cached is not None:
                ledger.cache_hits += 1
                hits.append(await self.teacher.finish(self.task, ex, prompt, cached, self.source))
                if len(hits) >= self.job_size:
                    await _deliver(on_results, hits)
                    hits = []
                continue
            fresh.append(ex)
            if len(fresh) >= self.job_size:
                await submit()
                if stop is not None:
                    break
        if hits:
            await _deliver(on_results, hits)
        if fresh and stop is None:
            await submit()
        await self._collect(jobs, on_results)
        if stop is not None:
            raise stop

    def _reserve(self, job: BatchJob) -> None:
        examples = self.store.get_examples(list(job.requests.values()), dataset=self.dataset)
        amount = self._estimate(list(examples.values()))
        self._reserved[job.job_id] = amount
        self.execution.reserve(amount)

    async def _submit(self, chunk: list[Example]) -> BatchJob:
        estimate = self._estimate(chunk)
        self.execution.check_budget(estimate, what=f"the next batch job ({len(chunk)} requests)")
        custom = {f"r{i}": ex for i, ex in enumerate(chunk)}
        requests = [(cid, self.teacher.prompt_for(self.task, ex)) for cid, ex in custom.items()]
        job_id = await self._retrying(
            "submitting a batch job", lambda: self.provider.submit_batch(requests)
        )
        job = self.store.add_batch_job(
            self.provider.describe(),
            job_id,
            self.source,
            {cid: ex.id for cid, ex in custom.items()},
            run_id=self.run_id,
            dataset=self.dataset,
        )
        self._reserved[job_id] = estimate
        self.execution.reserve(estimate)
        self.execution.ledger.batch_jobs += 1
        self.execution.ledger.requests += len(chunk)
        return job

    async def _collect(self, jobs: list[BatchJob], on_results: OnResults) -> None:
        waiting = list(jobs)
        while waiting:
            for job in list(waiting):
                status = await self._retrying(
                    f"polling batch job {job.job_id}",
                    partial(self.provider.batch_status, job.job_id),
                )
                if status == "pending":
                    continue
                waiting.remove(job)
                preds = await self._results(job, status)
                await _deliver(on_results, preds)  # committed before the job is marked done
                self.store.finish_batch_job(job.provider, job.job_id, status)
                self.execution.release(self._reserved.pop(job.job_id, 0.0))
            if waiting:
                await asyncio.sleep(self.poll_interval)

    async def _results(self, job: BatchJob, status: str) -> list[Prediction]:
        examples = self.store.get_examples(list(job.requests.values()), dataset=self.dataset)
        if status != "done":
            reason = (
                f"batch job {job.job_id} ended as '{status}'"
                if status in FINAL_FAILURES
                else f"batch job {job.job_id} reported an unknown status '{status}'"
            )
            self.execution.ledger.gave_up += len(job.requests)
            return [
                Prediction(example_id=eid, source=self.source, error=reason, raw="")
                for eid in job.requests.values()
            ]
        results = await self._retrying(
            f"fetching the results of batch job {job.job_id}",
            lambda: self.provider.batch_results(job.job_id),
        )
        preds = []
        for cid, eid in job.requests.items():
            result = results.get(cid)
            example = examples.get(eid)
            if example is None:  # the example left the store since the job was submitted
                continue
            if not isinstance(result, Completion):
                reason = (
                    f"missing from the results of batch job {job.job_id}"
                    if result is None
                    else f"the batch request failed: {_message(result)}"
                )
                self.execution.ledger.gave_up += 1
                preds.append(Prediction(example_id=eid, source=self.source, error=reason, raw=""))
                continue
            prompt = self.teacher.prompt_for(self.task, example)
            completion = self.execution.record(result, attempts=1, batch=True)
            self.teacher.remember(prompt, completion, self.teacher.key_for(self.task, example))
            preds.append(
                await self.teacher.finish(self.task, example, prompt, completion, self.source)
            )
        return preds


def _message(error: Exception) -> str:
    # without the "[E006]" code of a DistilError: the reason reads as one sentence
    return Exception.__str__(error) or type(error).__name__


async def _deliver(on_results: OnResults, preds: list[Prediction]) -> None:
    maybe = on_results(preds)
    if asyncio.iscoroutine(maybe):
        await maybe
