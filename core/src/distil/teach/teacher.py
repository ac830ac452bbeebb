"""Teachers: anything that labels examples for a task.

:class:`PromptTeacher` is the loop every provider shares: prompt (``distil_prompt`` hook) →
provider → parse (``distil_parse`` hook), with bounded concurrency and a content-addressed cache.
An answer that does not parse becomes a :class:`~distil.records.Prediction` with ``error`` and
``raw`` set; it never stops the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from ..errors import ParseError
from ..plugins import PluginHost, get_host
from ..records import Completion, Example, Prediction, Prompt
from ..tasks import Task
from .provider import Provider


class Cache(Protocol):
    def cache_get(self, key: str) -> dict[str, Any] | None: ...
    def cache_put(self, key: str, value: dict[str, Any]) -> None: ...


OnResults = Callable[[list[Prediction]], Awaitable[None] | None]


class Teacher:
    """Base class of teachers. ``label`` returns one prediction per example, in order."""

    kind: str = "teacher"

    def source(self, task: Task) -> str:
        """Provenance string stored with every prediction (which teacher, model, prompt)."""
        raise NotImplementedError

    def label(self, task: Task, examples: Sequence[Example]) -> list[Prediction]:
        return asyncio.run(self.alabel(task, examples))

    async def alabel(
        self,
        task: Task,
        examples: Sequence[Example],
        on_results: OnResults | None = None,
    ) -> list[Prediction]:
        raise NotImplementedError


def _hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class PromptTeacher(Teacher):
    """The LLM teacher: prompt → provider → parse, for any provider.

    ``concurrency`` bounds the requests in flight; ``cache`` (usually the project store) makes a
    re-run ask nothing again, and a prompt edit re-ask only the examples whose prompt changed.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        shots: list[Example] | None = None,
        concurrency: int = 4,
        cache: Cache | None = None,
        host: PluginHost | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.provider = provider
        self.shots = list(shots or [])
        self.concurrency = concurrency
        self.cache = cache
        self._host = host

    @property
    def host(self) -> PluginHost:
        return self._host or get_host()

    @property
    def style(self) -> str:
        return self.provider.style

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

    async def _complete(self, prompts: list[Prompt]) -> list[Completion]:
        keys = [self.cache_key(p) for p in prompts]
        results: list[Completion | None] = [None] * len(prompts)
        todo: list[int] = []
        for i, key in enumerate(keys):
            hit = self.cache.cache_get(key) if self.cache is not None else None
            if hit is not None:
                completion = Completion.model_validate(hit)
                usage = completion.usage.model_copy(update={"cached": True, "cost": 0.0})
                results[i] = completion.model_copy(update={"usage": usage})
            else:
                todo.append(i)
        if todo:
            started = time.perf_counter()
            fresh = await self.provider.complete_batch([prompts[i] for i in todo])
            elapsed = (time.perf_counter() - started) / len(todo)
            for i, completion in zip(todo, fresh, strict=True):
                if not completion.usage.latency_s:
                    usage = completion.usage.model_copy(update={"latency_s": elapsed})
                    completion = completion.model_copy(update={"usage": usage})
                if self.cache is not None:
                    self.cache.cache_put(keys[i], completion.model_dump(mode="json"))
                results[i] = completion
        return [r for r in results if r is not None]

    def parse(
        self, task: Task, example: Example, completion: Completion, source: str
    ) -> Prediction:
        raw = completion.text or (
            json.dumps(completion.scores) if completion.scores is not None else ""
        )
        try:
            output = self.host.hook.distil_parse(task=task, example=example, completion=completion)
            if output is None:
                raise ParseError("no distil_parse implementation could parse this completion")
            output = task.validate_output(output)
        except ParseError as exc:
            return Prediction(
                example_id=example.id,
                source=source,
                error=str(exc),
                raw=raw,
                usage=completion.usage,
            )
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
            raw=raw,
        )

    async def alabel(
        self,
        task: Task,
        examples: Sequence[Example],
        on_results: OnResults | None = None,
    ) -> list[Prediction]:
        source = self.source(task)
        size = max(1, self.provider.batch_size)
        chunks = [list(examples[i : i + size]) for i in range(0, len(examples), size)]
        semaphore = asyncio.Semaphore(self.concurrency)
        out: dict[str, Prediction] = {}

        async def run_chunk(chunk: list[Example]) -> None:
            async with semaphore:
                prompts = [self.prompt_for(task, ex) for ex in chunk]
                completions = await self._complete(prompts)
                preds = [
                    self.parse(task, ex, c, source)
                    for ex, c in zip(chunk, completions, strict=True)
                ]
                for p in preds:
                    out[p.example_id] = p
                if on_results is not None:
                    maybe = on_results(preds)
                    if asyncio.iscoroutine(maybe):
                        await maybe

        await asyncio.gather(*(run_chunk(c) for c in chunks))
        return [out[ex.id] for ex in examples]
