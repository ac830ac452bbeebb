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

The loop streams (:meth:`PromptTeacher.astream`): it pulls pages of examples from an iterator, looks
a whole page up in the cache at once (hits are parsed on the spot, without a coroutine each), and
``concurrency`` workers ask the provider for the rest; answers reach ``on_results`` (and the cache)
in batches of ``write_rows`` predictions or every ``write_s`` seconds, whichever comes first, and
whatever is buffered is delivered before the loop returns or raises (Ctrl-C included). Memory is
bounded by the page size and the concurrency, not the data set.

Prompts of a *text-only* prompt implementation (one marked with :func:`text_only_prompt`, like the
built-in chat prompt) are rendered once per task as a frame, and each example's text is put in
its place; their cache key is ``sha256(frame hash, text)``, where the frame hash covers the
provider's identity and the whole rendered frame, so the key stays content-addressed (editing the
prompt re-asks every example whose prompt changed, and only those). Entries stored under the
older key (the hash of the whole prompt) are still found: a miss looks the old key up before
asking the provider. Other prompt implementations keep the per-example render and the old key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

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
    """The LLM cache a teacher reads and writes (the project store is one).

    A cache may also offer ``cache_get_many_json(keys) -> {key: json text}``,
    ``cache_get_many(keys) -> {key: value}`` and ``cache_put_many(entries)``: the loop uses
    them, when present, for one look-up per page and one write per batch.
    """

    def cache_get(self, key: str) -> dict[str, Any] | None: ...
    def cache_put(self, key: str, value: dict[str, Any]) -> None: ...


OnResults = Callable[[list[Prediction]], Awaitable[None] | None]
#: A cache entry to store: ``(key, completion as JSON-able dict)``.
CacheEntry = tuple[str, dict[str, Any]]
#: What :meth:`PromptTeacher.astream` delivers to when it hands over the cache entries too.
OnWrite = Callable[[list[Prediction], list[CacheEntry]], Awaitable[None] | None]

F = TypeVar("F", bound=Callable[..., Any])

#: Predictions per delivery, and seconds a buffered answer waits at most (see the docstring).
WRITE_ROWS = 1000
WRITE_S = 0.2
#: Prefix of the text-only cache keys: a new key format gets a new prefix.
_KEY_VERSION = b"distil-cache-v2\x00"


def text_only_prompt(fn: F) -> F:
    """Mark a ``distil_prompt`` implementation as *text-only*.

    It promises that the prompt it builds (and whether it builds one) depends on the example only
    through ``example.text``, placed verbatim as the whole content of one or more messages:
    never on the id, the meta, or what the text says. The teacher then renders the prompt once
    per task and substitutes each text (checked on two probe examples; a prompt that fails the
    check is rendered per example as before). A plugin, which imports only ``distil``, sets the
    same attribute itself: ``distil_prompt.distil_text_only = True``.
    """
    fn.distil_text_only = True  # type: ignore[attr-defined]
    return fn


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

    async def astream(
        self,
        task: Task,
        pages: Iterable[Sequence[Example]],
        on_results: OnResults | None = None,
    ) -> None:
        """Label every page of an iterator of pages, delivering each page's predictions.

        Teachers without a streaming loop of their own label page by page with :meth:`alabel`,
        so memory is bounded by a page.
        """
        for page in pages:
            await self.alabel(task, list(page), on_results=on_results)

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


#: Probe texts for the frame check: mixed case, a quote, a backslash, a newline and an invisible
#: separator, so an implementation that escapes, trims or re-cases the text fails the check.
_PROBES = (
    ("__distil_probe_a__", '\u2063Distil probe A: "x"\\\n\u2063'),
    ("__distil_probe_b__", "\u2063distil PROBE b \U0001f600 'y'\u2063"),
)


@dataclass(frozen=True)
class PromptFrame:
    """A task's prompt rendered once, with the places where each example's text goes.

    ``slots`` are the indexes of the messages whose whole content is the text; ``prefix`` is the
    sha256 state of the key version, the provider's identity and the frame, so a key costs one
    hash of the text. ``whole`` holds the JSON text that :meth:`PromptTeacher.cache_key` hashes
    for a prompt of the frame, cut where the text goes: the sha256 state of the piece before the
    first text, and the pieces after each (None: that key is computed in full).
    """

    base: Prompt
    slots: tuple[int, ...]
    prefix: Any  # a hashlib sha256 object, copied per key
    whole: tuple[Any, tuple[bytes, ...]] | None = None

    def prompt(self, text: str) -> Prompt:
        """The prompt of an example with this text (what the prompt hook would build)."""
        messages = list(self.base.messages)
        for i in self.slots:
            messages[i] = Message.model_construct(role=messages[i].role, content=text)
        return Prompt.model_construct(
            messages=messages,
            json_schema=self.base.json_schema,
            hypotheses=self.base.hypotheses,
            template=self.base.template,
        )

    def key(self, text: str) -> str:
        h = self.prefix.copy()
        h.update(text.encode("utf-8"))
        return str(h.hexdigest())

    def whole_key(self, text: str) -> str | None:
        """``cache_key(self.prompt(text))`` (the older, whole-prompt key) from :attr:`whole`,
        without dumping the whole prompt again; None when the frame has no ``whole``."""
        if self.whole is None:
            return None
        # json.dumps encodes a string alone as it does inside the dump (ensure_ascii both ways)
        encoded = json.dumps(text).encode("utf-8")
        start, parts = self.whole
        h = start.copy()
        for part in parts:
            h.update(encoded)
            h.update(part)
        return str(h.hexdigest())


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
        #: Predictions per delivery and the longest an answer waits buffered (see the module).
        self.write_rows = WRITE_ROWS
        self.write_s = WRITE_S
        #: Examples per cache look-up when :meth:`alabel` is given a whole list.
        self.page_size = 1000
        self._frames: dict[int, tuple[Task, str, PromptFrame | None]] = {}
        #: Cache entries of answers not yet delivered (while a streaming run buffers them).
        self._pending_cache: list[CacheEntry] | None = None

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
        """The key of the whole prompt (of re-asks, of prompts rendered per example)."""
        return _hash({"provider": self.provider.cache_identity(), "prompt": prompt.model_dump()})

    # -- the prompt frame and its keys ------------------------------------------------------------
    def _identity(self) -> str:
        return json.dumps(self.provider.cache_identity(), sort_keys=True, default=str)

    def frame(self, task: Task) -> PromptFrame | None:
        """The task's :class:`PromptFrame`, or None when prompts must be rendered per example.

        Built once per task and provider identity (a tuned provider has a new identity).
        """
        identity = self._identity()
        cached = self._frames.get(id(task))
        if cached is not None and cached[0] is task and cached[1] == identity:
            return cached[2]
        frame = self._build_frame(task, identity)
        self._frames[id(task)] = (task, identity, frame)
        return frame

    def _answering_impl_is_text_only(self, task: Task, probe: Example) -> bool:
        """Whether the ``distil_prompt`` implementation that answers ``probe`` is text-only."""
        caller = self.host.hook.distil_prompt
        kwargs = {
            "task": task,
            "example": probe,
            "shots": self.shots or task.shots,
            "style": self.style,
            "teacher": self,
        }
        impls = caller.get_hookimpls()
        if any(getattr(i, "hookwrapper", False) or getattr(i, "wrapper", False) for i in impls):
            return False  # a wrapper may change any result
        for impl in reversed(impls):  # pluggy's call order
            if impl.function(**{name: kwargs[name] for name in impl.argnames}) is not None:
                return bool(getattr(impl.function, "distil_text_only", False))
        return False

    def _build_frame(self, task: Task, identity: str) -> PromptFrame | None:
        (id_a, text_a), (id_b, text_b) = _PROBES
        probe_a, probe_b = Example(id=id_a, text=text_a), Example(id=id_b, text=text_b)
        try:
            if not self._answering_impl_is_text_only(task, probe_a):
                return None
            a, b = self.prompt_for(task, probe_a), self.prompt_for(task, probe_b)
        except ParseError:
            return None  # no implementation: the per-example path raises it where it matters
        slots = tuple(i for i, m in enumerate(a.messages) if m.content == text_a)
        if not slots:
            return None
        shape = a.model_dump(mode="json")
        for i in slots:
            shape["messages"][i]["content"] = None
        blob = json.dumps({"provider": identity, "frame": shape}, sort_keys=True, default=str)
        if "Distil probe A" in blob:  # the text also appears elsewhere: not a plain slot
            return None
        prefix = hashlib.sha256(_KEY_VERSION)
        prefix.update(blob.encode("utf-8"))
        prefix.update(b"\x00")
        frame = PromptFrame(base=a, slots=slots, prefix=prefix)
        if frame.prompt(text_b).model_dump() != b.model_dump():
            return None  # the prompt depends on more than the text
        return self._with_whole(frame, text_a, text_b)

    def _with_whole(self, frame: PromptFrame, *probes: str) -> PromptFrame:
        """``frame`` with :attr:`PromptFrame.whole`, when it gives the probes' whole-prompt keys.

        A miss looks its whole-prompt key up (entries of older stores): dumping the prompt for
        it cost about as much CPU as the rest of the teacher's work on a request. The dump with
        a marker for the text is cut at the marker's JSON, and the pieces are kept only when
        they hash to :meth:`cache_key` for every probe (anything else that encodes like the
        marker would give other keys); otherwise the key is computed in full as before.
        """
        marker = "\u2063distil whole-key slot\u2063"
        dumped = json.dumps(
            {
                "provider": self.provider.cache_identity(),
                "prompt": frame.prompt(marker).model_dump(),
            },
            sort_keys=True,
            default=str,
        )
        parts = dumped.split(json.dumps(marker))
        if len(parts) != len(frame.slots) + 1:
            return frame
        start = hashlib.sha256(parts[0].encode("utf-8"))
        whole = replace(frame, whole=(start, tuple(p.encode("utf-8") for p in parts[1:])))
        if any(whole.whole_key(t) != self.cache_key(frame.prompt(t)) for t in probes):
            return frame
        return whole

    def key_for(self, task: Task, example: Example) -> str:
        """The cache key of ``example``'s first prompt (text-only key when there is a frame)."""
        frame = self.frame(task)
        if frame is not None:
            return frame.key(example.text)
        return self.cache_key(self.prompt_for(task, example))

    def keys_for(self, task: Task, example: Example) -> list[str]:
        """Every key ``example``'s first answer may be cached under: the current, then the old."""
        frame = self.frame(task)
        if frame is None:
            return [self.cache_key(self.prompt_for(task, example))]
        return [frame.key(example.text), self._whole_key(frame, example.text)]

    # -- the cache --------------------------------------------------------------------------------
    @staticmethod
    def _hit(value: dict[str, Any]) -> Completion:
        """A cached completion marked as a cache hit (no cost, no attempts), validated once."""
        usage = value.get("usage")
        usage = dict(usage) if isinstance(usage, dict) else {}
        usage.update(cached=True, cost=0.0, attempts=0)
        return Completion.model_validate({**value, "usage": usage})

    @staticmethod
    def _hit_json(text: str) -> Completion:
        """:meth:`_hit` from the stored JSON text: parsed and validated in one step."""
        completion = Completion.model_validate_json(text)
        # The usage object is this completion's own, just built: mark it in place (a copy
        # of both models would double the cost of a cache hit).
        completion.usage.__dict__.update(cached=True, cost=0.0, attempts=0)
        return completion

    def _cache_get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        """key → cached answer (as a cache hit) for the keys found, in as few look-ups as the
        cache allows (the store: one query per page)."""
        if self.cache is None or not keys:
            return {}
        as_json = getattr(self.cache, "cache_get_many_json", None)
        if callable(as_json):
            return {key: self._hit_json(text) for key, text in as_json(keys).items()}
        many = getattr(self.cache, "cache_get_many", None)
        if callable(many):
            return {key: self._hit(value) for key, value in many(keys).items()}
        out = {}
        for key in keys:
            value = self.cache.cache_get(key)
            if value is not None:
                out[key] = self._hit(value)
        return out

    def _cache_put_many(self, entries: list[CacheEntry]) -> None:
        if self.cache is None or not entries:
            return
        many = getattr(self.cache, "cache_put_many", None)
        if callable(many):
            many(entries)
            return
        for key, value in entries:
            self.cache.cache_put(key, value)

    def cached(self, prompt: Prompt, key: str | None = None) -> Completion | None:
        """The cached answer to ``prompt`` (under ``key`` when given) as a cache hit, or None."""
        if self.cache is None:
            return None
        hit = self.cache.cache_get(key if key is not None else self.cache_key(prompt))
        return self._hit(hit) if hit is not None else None

    def lookup(self, task: Task, example: Example) -> tuple[Prompt, Completion | None]:
        """``example``'s first prompt and its cached answer (current key, then the old one)."""
        frame = self.frame(task)
        prompt = frame.prompt(example.text) if frame is not None else self.prompt_for(task, example)
        if self.cache is not None:
            for key in self.keys_for(task, example):
                hit = self.cache.cache_get(key)
                if hit is not None:
                    return prompt, self._hit(hit)
        return prompt, None

    def remember(self, prompt: Prompt, completion: Completion, key: str | None = None) -> None:
        """Cache an answer under ``key`` (the whole prompt's key when None).

        While a streaming run buffers, the entry is written with its prediction's batch.
        """
        if self.cache is None:
            return
        entry = (
            key if key is not None else self.cache_key(prompt),
            completion.model_dump(mode="json"),
        )
        if self._pending_cache is not None:
            self._pending_cache.append(entry)
        else:
            self.cache.cache_put(*entry)

    async def _complete(
        self, prompts: list[Prompt], keys: Sequence[str | None] | None = None
    ) -> list[Completion | GaveUp]:
        """Answers from the cache, the rest from the provider (one request per provider batch)."""
        keys = list(keys) if keys is not None else [None] * len(prompts)
        results: list[Completion | GaveUp | None] = [
            self.cached(p, k) for p, k in zip(prompts, keys, strict=True)
        ]
        self.ledger.cache_hits += sum(1 for r in results if r is not None)
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            results = await self._ask(prompts, keys, results, todo)
        return [r for r in results if r is not None]

    async def _ask(
        self,
        prompts: Sequence[Prompt],
        keys: Sequence[str | None],
        results: list[Completion | GaveUp | None],
        todo: list[int],
    ) -> list[Completion | GaveUp | None]:
        fresh = await self.execution.send([prompts[i] for i in todo])
        if isinstance(fresh, GaveUp):
            for i in todo:
                results[i] = fresh
        else:
            for i, completion in zip(todo, fresh, strict=True):
                self.remember(prompts[i], completion, keys[i])
                results[i] = completion
        return results

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
            # Without a re-ask the usage is the completion's own: no copy of it (one per answer).
            final = (
                completion
                if usage is completion.usage
                else completion.model_copy(update={"usage": usage})
            )
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
        items = list(examples)
        pages = (items[i : i + self.page_size] for i in range(0, len(items), self.page_size))
        out: dict[str, Prediction] = {}
        await self._stream(task, pages, on_results, None, out)
        return [out[ex.id] for ex in items]

    async def astream(
        self,
        task: Task,
        pages: Iterable[Sequence[Example]],
        on_results: OnResults | None = None,
        *,
        on_write: OnWrite | None = None,
    ) -> None:
        """Label every page of ``pages`` (pulled one at a time), holding no more than a page
        and the requests in flight; a fresh :attr:`ledger` counts this run.

        ``on_write(predictions, cache_entries)``, when given, replaces ``on_results`` and takes
        the new cache entries too (the store writes both in one transaction); otherwise the
        entries go to :attr:`cache` just before each delivery. Raises like :meth:`alabel`.
        """
        await self._stream(task, pages, on_results, on_write, None)

    async def _stream(
        self,
        task: Task,
        pages: Iterable[Sequence[Example]],
        on_results: OnResults | None,
        on_write: OnWrite | None,
        collect: dict[str, Prediction] | None,
    ) -> None:
        source = self.source(task)
        self.execution.new_ledger()
        frame = self.frame(task)
        size = max(1, self.provider.batch_size)
        workers = self.concurrency
        queue: asyncio.Queue[list[_Job] | None] = asyncio.Queue(maxsize=2 * workers)
        writer = _Writer(self, on_results, on_write, collect)
        self._pending_cache = []

        async def produce() -> None:
            try:
                for page in pages:
                    if self.execution.stop_error is not None:
                        break
                    hits, jobs = self._from_cache(task, list(page), frame, source)
                    await writer.add(hits)
                    for i in range(0, len(jobs), size):
                        await queue.put(jobs[i : i + size])
                    if jobs:
                        await asyncio.sleep(0)  # let the workers send them
            finally:
                for _ in range(workers):
                    await queue.put(None)

        async def work() -> None:
            while (chunk := await queue.get()) is not None:
                if self.execution.stop_error is not None:
                    continue
                try:
                    preds = await self._answer(task, chunk, source)
                except Stopped:
                    continue
                except (BudgetExceeded, ProviderError) as exc:
                    if self.execution.stop_error is None:
                        self.execution.stop_error = exc
                    continue
                await writer.add(preds)

        done = asyncio.Event()

        async def tick() -> None:
            # Never cancelled mid-delivery (that would drop the batch it holds): told to stop, it
            # finishes the flush in progress and returns; an error of on_results surfaces below.
            while not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), self.write_s)
                except TimeoutError:
                    await writer.flush()

        running = [asyncio.ensure_future(produce())]
        running += [asyncio.ensure_future(work()) for _ in range(workers)]
        ticker = asyncio.ensure_future(tick())
        try:
            await asyncio.gather(*running)
        finally:
            done.set()
            for job in running:
                if not job.done():
                    job.cancel()
                elif not job.cancelled():
                    job.exception()  # retrieved: gather raised the first one already
            try:
                await asyncio.shield(ticker)  # its delivery in flight, if any, completes
            finally:
                try:
                    await writer.flush()
                finally:
                    self._pending_cache = None
        if self.execution.stop_error is not None:
            raise self.execution.stop_error

    def _from_cache(
        self, task: Task, page: list[Example], frame: PromptFrame | None, source: str
    ) -> tuple[list[Prediction], list[_Job]]:
        """One page: answered from the cache in one look-up (parsed here), and the jobs left.

        With a frame, a miss looks the old whole-prompt key up before it becomes a job.
        """
        hits: list[Prediction] = []
        jobs: list[_Job] = []
        if frame is not None:
            keys = [frame.key(ex.text) for ex in page]
        else:
            prompts = [self.prompt_for(task, ex) for ex in page]
            keys = [self.cache_key(p) for p in prompts]
        found = self._cache_get_many(keys)
        misses: list[_Job] = []
        for i, (ex, key) in enumerate(zip(page, keys, strict=True)):
            value = found.get(key)
            prompt = prompts[i] if frame is None else None
            if value is None:
                misses.append(_Job(ex, prompt, key, None))
            else:
                self._settle(task, _Job(ex, prompt, key, value), source, hits, jobs)
        if frame is not None and misses:
            for job in misses:
                job.prompt = frame.prompt(job.example.text)
            if self.cache is not None:
                old = [self._whole_key(frame, job.example.text, job.prompt) for job in misses]
                found = self._cache_get_many(old)
                left = []
                for job, key in zip(misses, old, strict=True):
                    value = found.get(key)
                    if value is None:
                        left.append(job)
                    else:
                        job.answer = value
                        self._settle(task, job, source, hits, jobs)
                misses = left
        jobs.extend(misses)
        return hits, jobs

    def _whole_key(self, frame: PromptFrame, text: str, prompt: Prompt | None = None) -> str:
        """The whole-prompt key of ``frame``'s prompt for ``text`` (``prompt``, when already
        built): from the frame's pre-cut pieces, else by :meth:`cache_key` in full."""
        key = frame.whole_key(text)
        if key is None:
            key = self.cache_key(prompt if prompt is not None else frame.prompt(text))
        return key

    def _settle(
        self, task: Task, job: _Job, source: str, hits: list[Prediction], jobs: list[_Job]
    ) -> None:
        """A cache hit as a prediction, or a job when its answer fails and may be re-asked."""
        completion = job.answer
        assert isinstance(completion, Completion)
        self.ledger.cache_hits += 1
        try:
            output = self.parse_output(task, job.example, completion)
        except ParseError as exc:
            if self.max_reasks > 0 and self.may_reask(completion):
                jobs.append(job)  # finish() re-asks it online
                return
            hits.append(
                Prediction(
                    example_id=job.example.id,
                    source=source,
                    error=str(exc),
                    raw=self.raw_text(completion),
                    usage=completion.usage,
                )
            )
            return
        hits.append(self._prediction(task, job.example, output, completion, source))

    async def _answer(self, task: Task, chunk: list[_Job], source: str) -> list[Prediction]:
        """Ask the provider for the chunk's jobs without an answer, then finish every job."""
        prompts: list[Prompt] = []
        for job in chunk:
            if job.prompt is None:
                job.prompt = self.prompt_for(task, job.example)
            prompts.append(job.prompt)
        results: list[Completion | GaveUp | None] = [job.answer for job in chunk]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            results = await self._ask(prompts, [job.key for job in chunk], results, todo)
        preds = []
        for job, prompt, answer in zip(chunk, prompts, results, strict=True):
            assert answer is not None
            preds.append(await self.finish(task, job.example, prompt, answer, source))
        return preds


@dataclass
class _Job:
    """An example on its way: its prompt (rendered when needed), cache key, and cached answer."""

    example: Example
    prompt: Prompt | None
    key: str | None
    answer: Completion | None


class _Writer:
    """Buffers a run's predictions (and their cache entries) and delivers them in batches."""

    def __init__(
        self,
        teacher: PromptTeacher,
        on_results: OnResults | None,
        on_write: OnWrite | None,
        collect: dict[str, Prediction] | None,
    ) -> None:
        self.teacher = teacher
        self.on_results = on_results
        self.on_write = on_write
        self.collect = collect
        self.buffer: list[Prediction] = []

    async def add(self, preds: list[Prediction]) -> None:
        if not preds:
            return
        self.buffer.extend(preds)
        if self.collect is not None:
            for p in preds:
                self.collect[p.example_id] = p
        if len(self.buffer) >= self.teacher.write_rows:
            await self.flush()

    async def flush(self) -> None:
        """Deliver what is buffered: the cache entries first (or with the predictions)."""
        preds, self.buffer = self.buffer, []
        entries = self.teacher._pending_cache or []
        if self.teacher._pending_cache is not None:
            self.teacher._pending_cache = []
        if not preds and not entries:
            return
        if self.on_write is not None:
            maybe = self.on_write(preds, entries)
        else:
            self.teacher._cache_put_many(entries)
            maybe = self.on_results(preds) if self.on_results is not None and preds else None
        if asyncio.iscoroutine(maybe):
            await maybe
