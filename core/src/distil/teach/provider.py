"""The provider contract: an LLM (or a scoring model) that answers one prompt.

Providers are small: they turn a :class:`~distil.records.Prompt` into a
:class:`~distil.records.Completion` and nothing else. Caching, concurrency, resume and parsing live
in the teacher loop, shared by every provider.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from ..records import Completion, Prompt


class Provider:
    """Base class of LLM providers.

    Subclasses set ``name`` (the registered name's family, e.g. ``"local.llama"``), ``model`` (any
    free string) and implement :meth:`complete` (async) or :meth:`complete_sync` (run in a thread).
    A provider that is faster in batches (an embedding model) sets ``batch_size`` > 1 and implements
    :meth:`complete_batch`.
    """

    name: ClassVar[str] = "provider"
    #: The prompt style it reads: "chat" (messages + JSON schema) or "hypotheses" (label sentences).
    style: ClassVar[str] = "chat"
    #: What it can do; informational and used by the teacher loop to pick strategies.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, model: str, params: dict[str, Any] | None = None) -> None:
        self.model = model
        self.params = dict(params or {})

    batch_size: int = 1

    async def complete(self, prompt: Prompt) -> Completion:
        return await asyncio.to_thread(self.complete_sync, prompt)

    def complete_sync(self, prompt: Prompt) -> Completion:
        raise NotImplementedError(
            f"{type(self).__name__} implements neither complete nor complete_sync"
        )

    async def complete_batch(self, prompts: list[Prompt]) -> list[Completion]:
        """Answer several prompts; the default answers them one by one."""
        return [await self.complete(p) for p in prompts]

    # -- optional: provider batch APIs (half price for offline labelling) ----------------------
    #: True when the provider implements the three batch methods below.
    supports_batch: ClassVar[bool] = False

    async def submit_batch(self, requests: list[tuple[str, Prompt]]) -> str:
        """Submit ``(custom_id, prompt)`` pairs as one provider batch job; return its job id."""
        raise NotImplementedError(f"{type(self).__name__} has no batch API")

    async def batch_status(self, job_id: str) -> str:
        """``"pending"``, ``"done"``, or a final failure: ``"failed"``, ``"expired"``, ``"cancelled"``."""
        raise NotImplementedError(f"{type(self).__name__} has no batch API")

    async def batch_results(self, job_id: str) -> dict[str, Completion | Exception]:
        """The finished job's answers by custom id: a Completion, or the error for that request."""
        raise NotImplementedError(f"{type(self).__name__} has no batch API")

    def cache_identity(self) -> dict[str, Any]:
        """Everything besides the prompt that changes the answer (hashed into the cache key)."""
        return {"provider": self.name, "model": self.model, "params": self.params}

    def describe(self) -> str:
        return f"{self.name}/{self.model}"
