"""Teachers: anything that labels examples for a task.

:class:`PromptTeacher` is the loop every provider shares: prompt (``distil_prompt`` hook) →
provider → parse (``distil_parse`` hook), with bounded concurrency, a content-addressed cache, rate
limits, retries, a re-ask on invalid answers, cost and a budget (see :mod:`.execution`).

What the caller may rely on:

* An answer that does not parse becomes a :class:`~distil.records.Prediction` with ``error`` and
  ``raw`` set; so does a request whose retries ran out (``error`` says ``gave up after N
  attempts: ...``). Neither stops the run.
* A permanent :class:`~distil.errors.ProviderError` (bad key, bad request, unknown model) and
  :class:`~distil.errors.BudgetExceeded` stop the run: no new request is sent, the requests in
  flight finish and are delivered to ``on_results`` (so stored), then the error is raised.
* Retries (the only retry layer; providers turn their SDK's retries off): a
  :class:`~distil.errors.TransientProviderError` is retried ``max_retries`` times (6) with
  exponential backoff and jitter (0.5 s doubling, capped at 30 s); a ``Retry-After`` is honoured
  exactly, however long, up to ``max_retry_wait`` (600 s; beyond it the example fails at once
  with that reason), and a 429's ``Retry-After`` pauses every request of the teacher. The SDKs
  retry twice and give up on waits over 120 s; distil waits longer and records why it gave up.
* A re-ask: an answer that fails parsing or validation (not a truncated answer, not a refusal) is
  asked again ``max_reasks`` times (1) with the answer and the error appended; the prediction's
  usage sums every request's tokens, cost and attempts.
* ``usage.attempts`` counts requests sent for the example (0 for a cache hit); ``usage.cost`` is
  priced from the config's ``[prices]`` table (0.0 when unknown).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from .._async import run_sync
from ..errors import BudgetExceeded, ParseError, ProviderError
from ..plugins import PluginHost, get_host
from ..records import Completion, Example, Message, Prediction, Prompt, TaskOutput, Usage
from ..tasks import Task
from .execution import Execution, GaveUp, Stopped
from .ledger import Ledger
from .pricing import Price
from .provider import Provider
from .retry import RetryPolicy


class Cache(Protocol):
    def cache_get(self, key: str) -> dict[str, Any] | None: ...
    def cache_put(self, key: str, value: dict[str, Any]) -> None: ...


OnResults = Callable[[list[Prediction]], Awaitable[None] | None]

#: The user message of a re-ask; ``{error}`` is the parse or validation error.
REASK_MESSAGE = (
    "Your answer was invalid: {error}. Answer again with JSON only that matches the schema."
)


class Teacher:
    """Base class of teachers. ``label`` returns one prediction per example, in order."""

    kind: str = "teacher"

    def source(self, task: Task) -> str:
        """Provenance string stored with every prediction (which teacher, model, prompt)."""
        raise NotImplementedError

    def label(self, task: Task, examples: Sequence[Example]) -> list[Prediction]:
        return run_sync(self.alabel(task, examples))

    async def alabel(
        self,
        task: Task,
        examples: Sequence[Example],
        on_results: OnResults | None = None,
    ) -> list[Prediction]:
        raise NotImplementedError

    def inner_teachers(self) -> list[Teacher]:
        """The teachers this one asks in turn (a cascade's LLM): ``[label]`` and ``[prices]``
        (limits, budget, retries) reach them through it. None for a teacher that answers itself."""
        return []


def _hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def _plain(error: Exception) -> str:
    """An error's message without the ``[E005]`` code prefix (it goes inside a sentence)."""
    return Exception.__str__(error) or type(error).__name__


class PromptTeacher(Teacher):
    """The LLM teacher: prompt → provider → parse, for any provider.

    ``concurrency`` bounds the requests in flight; ``cache`` (usually the project store) makes a
    re-run ask nothing again, and a prompt edit re-ask only the examples whose prompt changed.
    ``rpm`` / ``tpm`` limit requests and tokens per minute (None: unlimited), ``retry`` is the
    :class:`~.retry.RetryPolicy`, ``max_reasks`` the re-asks per invalid answer, ``budget`` a cap
    in dollars, and ``price`` the provider model's :class:`~.pricing.Price` (None: unknown).
    """

    def __init__(
        self,
        provider: Provider,
        *,
        shots: list[Example] | None = None,
        concurrency: int = 4,
        cache: Cache | None = None,
        host: PluginHost | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        retry: RetryPolicy | None = None,
        max_reasks: int = 1,
        budget: float | None = None,
        price: Price | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_reasks < 0:
            raise ValueError("max_reasks must be at least 0")
        self.provider = provider
        self.shots = list(shots or [])
        self.concurrency = concurrency
        self.cache = cache
        self.max_reasks = max_reasks
        self._host = host
        self.execution = Execution(
            provider, rpm=rpm, tpm=tpm, retry=retry, budget=budget, price=price
        )

    @property
    def host(self) -> PluginHost:
        return self._host or get_host()

    @property
    def style(self) -> str:
        return self.provider.style

    @property
    def ledger(self) -> Ledger:
        """The ledger of the latest run (reset when a run starts)."""
        return self.execution.ledger

    def prompt_for(self, task: Task, example: Example) -> Prompt:
        shots = self.shots or task.shots
        prompt = self.host.hook.distil_prompt(
            task=task, example=example.without_answer(), shots=shots, style=self.style, teacher=self
        )
        if prompt is None:
            raise ParseError(
                f"no plugin builds '{self.style}' prompts for {task.kind} tasks "
                "(no distil_prompt implementation returned one)"
            )
        return prompt

    def prompt_hash(self, task: Task) -> str:
        """A hash of what shapes every prompt of this teacher: task, style, shots and a probe prompt."""
        probe = Example(id="__probe__", text="__TEXT__")
        return _hash(
            {
                "task": task.describe(),
                "probe": self.prompt_for(task, probe).model_dump(),
                "shots": [s.model_dump() for s in self.shots],
            }
        )[:8]

    def source(self, task: Task) -> str:
        return f"teacher:{self.provider.describe()}#prompt={self.prompt_hash(task)}"

    def cache_key(self, prompt: Prompt) -> str:
        return _hash({"provider": self.provider.cache_identity(), "prompt": prompt.model_dump()})

    def cached(self, prompt: Prompt) -> Completion | None:
        """The cached answer to ``prompt`` marked as a cache hit (no cost, no attempts), or None."""
        hit = self.cache.cache_get(self.cache_key(prompt)) if self.cache is not None else None
        if hit is None:
            return None
        completion = Completion.model_validate(hit)
        usage = completion.usage.model_copy(update={"cached": True, "cost": 0.0, "attempts": 0})
        return completion.model_copy(update={"usage": usage})

    def remember(self, prompt: Prompt, completion: Completion) -> None:
        if self.cache is not None:
            self.cache.cache_put(self.cache_key(prompt), completion.model_dump(mode="json"))

    async def _complete(self, prompts: list[Prompt]) -> list[Completion | GaveUp]:
        """Answers from the cache, the rest from the provider (one request per provider batch)."""
        results: list[Completion | GaveUp | None] = [self.cached(p) for p in prompts]
        self.ledger.cache_hits += sum(1 for r in results if r is not None)
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            fresh = await self.execution.send([prompts[i] for i in todo])
            if isinstance(fresh, GaveUp):
                for i in todo:
                    results[i] = fresh
            else:
                for i, completion in zip(todo, fresh, strict=True):
                    self.remember(prompts[i], completion)
                    results[i] = completion
        return [r for r in results if r is not None]

    # -- parse and re-ask -----------------------------------------------------------------------
    def parse_output(self, task: Task, example: Example, completion: Completion) -> TaskOutput:
        """The completion as the task's output type; raises ParseError."""
        output = self.host.hook.distil_parse(task=task, example=example, completion=completion)
        if output is None:
            raise ParseError("no distil_parse implementation could parse this completion")
        return task.validate_output(output)

    @staticmethod
    def raw_text(completion: Completion) -> str:
        return completion.text or (
            json.dumps(completion.scores) if completion.scores is not None else ""
        )

    def _prediction(
        self, task: Task, example: Example, output: TaskOutput, completion: Completion, source: str
    ) -> Prediction:
        confidence = None
        scores = getattr(output, "scores", None)
        labels = getattr(output, "labels", None)
        if scores and labels:
            confidence = min(float(scores.get(label, 0.0)) for label in labels)
        elif completion.meta.get("confidence") is not None:
            confidence = float(completion.meta["confidence"])
        return Prediction(
            example_id=example.id,
            source=source,
            output=output,
            confidence=confidence,
            usage=completion.usage,
            raw=self.raw_text(completion),
        )

    def parse(
        self, task: Task, example: Example, completion: Completion, source: str
    ) -> Prediction:
        """One completion as a prediction: the output, or a failure with the error and raw text."""
        try:
            output = self.parse_output(task, example, completion)
        except ParseError as exc:
            return Prediction(
                example_id=example.id,
                source=source,
                error=str(exc),
                raw=self.raw_text(completion),
                usage=completion.usage,
            )
        return self._prediction(task, example, output, completion, source)

    def may_reask(self, completion: Completion) -> bool:
        """Re-ask only chat answers that were complete but invalid (not truncated or refused)."""
        return (
            self.max_reasks > 0
            and self.style == "chat"
            and completion.refusal is None
            and completion.finish_reason != "length"
            and completion.scores is None
        )

    @staticmethod
    def reask_prompt(prompt: Prompt, answer: str, error: ParseError) -> Prompt:
        """The prompt again, with the invalid answer and what was wrong with it appended."""
        messages = [
            *prompt.messages,
            Message(role="assistant", content=answer),
            Message(role="user", content=REASK_MESSAGE.format(error=_plain(error))),
        ]
        return prompt.model_copy(update={"messages": messages})

    async def finish(
        self,
        task: Task,
        example: Example,
        prompt: Prompt,
        answer: Completion | GaveUp,
        source: str,
    ) -> Prediction:
        """Turn an answer into a prediction, re-asking (online) while it is invalid."""
        if isinstance(answer, GaveUp):
            return Prediction(example_id=example.id, source=source, error=answer.reason, raw="")
        completion = answer
        usage: Usage = completion.usage
        reasks = 0
        while True:
            try:
                output = self.parse_output(task, example, completion)
            except ParseError as exc:
                raw = self.raw_text(completion)
                if reasks >= self.max_reasks or not self.may_reask(completion):
                    return Prediction(
                        example_id=example.id, source=source, error=str(exc), raw=raw, usage=usage
                    )
                reasks += 1
                prompt = self.reask_prompt(prompt, raw, exc)
                [again] = await self._complete([prompt])
                if isinstance(again, GaveUp):
                    return Prediction(
                        example_id=example.id,
                        source=source,
                        error=f"{exc}; the re-ask {again.reason}",
                        raw=raw,
                        usage=usage,
                    )
                if not again.usage.cached:
                    self.ledger.reasks += 1
                usage = usage + again.usage
                completion = again
                continue
            final = completion.model_copy(update={"usage": usage})
            return self._prediction(task, example, output, final, source)

    # -- the loop -------------------------------------------------------------------------------
    async def alabel(
        self,
        task: Task,
        examples: Sequence[Example],
        on_results: OnResults | None = None,
    ) -> list[Prediction]:
        """Label ``examples``; a fresh :attr:`ledger` counts this run.

        Raises BudgetExceeded or a permanent ProviderError after the requests in flight have
        been delivered to ``on_results``.
        """
        source = self.source(task)
        self.execution.new_ledger()
        size = max(1, self.provider.batch_size)
        chunks = [list(examples[i : i + size]) for i in range(0, len(examples), size)]
        semaphore = asyncio.Semaphore(self.concurrency)
        out: dict[str, Prediction] = {}

        async def run_chunk(chunk: list[Example]) -> None:
            async with semaphore:
                if self.execution.stop_error is not None:
                    return
                try:
                    prompts = [self.prompt_for(task, ex) for ex in chunk]
                    answers = await self._complete(prompts)
                    preds = [
                        await self.finish(task, ex, p, a, source)
                        for ex, p, a in zip(chunk, prompts, answers, strict=True)
                    ]
                except Stopped:
                    return
                except (BudgetExceeded, ProviderError) as exc:
                    if self.execution.stop_error is None:
                        self.execution.stop_error = exc
                    return
                for p in preds:
                    out[p.example_id] = p
                if on_results is not None:
                    maybe = on_results(preds)
                    if asyncio.iscoroutine(maybe):
                        await maybe

        await asyncio.gather(*(run_chunk(c) for c in chunks))
        if self.execution.stop_error is not None:
            raise self.execution.stop_error
        return [out[ex.id] for ex in examples]
