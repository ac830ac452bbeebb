"""How one teacher's requests go out: rate limits, budget, retries, cost and the ledger.

:class:`Execution` sends a request (one prompt, or one provider batch of prompts) and stands
between the teacher loop and the provider:

1. the budget: a request whose estimated cost would take the spend (plus what requests in flight
   may cost) past ``budget`` is not sent; :class:`~distil.errors.BudgetExceeded` is raised;
2. the rate limiter: it waits for one request and the estimated tokens (:mod:`.limits`);
3. the provider call; a :class:`~distil.errors.TransientProviderError` is retried by the
   :class:`~.retry.RetryPolicy` (a 429's ``Retry-After`` also pauses the limiter), and when the
   retries run out the result is a :class:`GaveUp` with the reason, for a failed prediction;
   a permanent :class:`~distil.errors.ProviderError` propagates and stops the run;
4. the answer's usage gets its cost from the price table and ``attempts``, and goes in the ledger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import BudgetExceeded, ProviderError, RateLimitError, TransientProviderError
from ..records import Completion, Prompt, Usage
from .ledger import Ledger
from .limits import RateLimiter
from .pricing import Price, format_cost, max_tokens_of, prompt_tokens
from .provider import Provider
from .retry import RetryPolicy


@dataclass(frozen=True)
class GaveUp:
    """A request abandoned after its retries: ``reason`` becomes the prediction's ``error``."""

    reason: str
    attempts: int


class Stopped(Exception):
    """Internal: the run is stopping (budget or permanent error); this request is not sent."""


class Execution:
    """The request policy of one teacher; shared by all its concurrent requests."""

    def __init__(
        self,
        provider: Provider,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        retry: RetryPolicy | None = None,
        budget: float | None = None,
        price: Price | None = None,
        burst_s: float = 1.0,
    ) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"budget must not be negative, got {budget}")
        self.provider = provider
        self.limiter = RateLimiter(rpm, tpm, burst_s=burst_s)
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self.price = price
        self.ledger = self.new_ledger()
        self.stop_error: BaseException | None = None
        self._reserved = 0.0

    def new_ledger(self) -> Ledger:
        """Start a fresh ledger (one per run) and clear a previous run's stop."""
        self.ledger = Ledger(
            provider=self.provider.describe(), cost=0.0 if self.price is not None else None
        )
        self.stop_error = None
        self._reserved = 0.0
        return self.ledger

    # -- estimates and money --------------------------------------------------------------------
    @property
    def max_tokens(self) -> int:
        return max_tokens_of(self.provider)

    def estimate(self, prompts: Sequence[Prompt]) -> tuple[int, int]:
        """``(input, output)`` tokens these prompts may use (output: ``max_tokens`` each)."""
        return sum(prompt_tokens(p) for p in prompts), self.max_tokens * len(prompts)

    def cost_of(self, usage: Usage, *, batch: bool = False) -> float | None:
        """The usage's cost from the price table; a provider-reported cost when none is known."""
        if self.price is not None:
            return self.price.usage_cost(usage, batch=batch)
        return usage.cost if usage.cost > 0 else None

    def check_budget(self, estimated_cost: float, what: str = "the next request") -> None:
        """Raise BudgetExceeded when ``estimated_cost`` would take the spend past the budget."""
        if self.budget is None:
            return
        committed = self.ledger.spent + self._reserved
        if committed + estimated_cost > self.budget:
            raise BudgetExceeded(
                f"budget {format_cost(self.budget)} reached: spent {format_cost(self.ledger.spent)}"
                f", and {what} (about {format_cost(estimated_cost)}) would exceed it"
            )

    def reserve(self, amount: float) -> None:
        """Count money committed but not yet spent (requests in flight, submitted batch jobs)."""
        self._reserved += amount

    def release(self, amount: float) -> None:
        self._reserved -= amount

    def record(self, completion: Completion, attempts: int, *, batch: bool = False) -> Completion:
        """Set the answer's cost and attempts, and count it in the ledger."""
        cost = self.cost_of(completion.usage, batch=batch)
        usage = completion.usage.model_copy(
            update={"cost": cost if cost is not None else 0.0, "attempts": attempts}
        )
        saving = self.price.cache_saving(usage, batch=batch) if self.price is not None else None
        self.ledger.add_usage(usage, cost, saving)
        if completion.meta.get("logprobs_missing"):  # asked for logprobs, the server sent none
            extra = self.ledger.extra
            extra["logprobs_missing"] = extra.get("logprobs_missing", 0) + 1
        return completion.model_copy(update={"usage": usage})

    # -- sending ----------------------------------------------------------------------------------
    async def send(self, prompts: list[Prompt]) -> list[Completion] | GaveUp:
        """Ask the provider (``complete_batch``), within the limits, retrying transient errors."""
        n = len(prompts)
        # the estimate costs a JSON dump per prompt: only made when a limit or a price needs it
        needed = self.price is not None or self.limiter.tokens is not None
        est_in, est_out = self.estimate(prompts) if needed else (0, 0)
        est_cost = self.price.cost(est_in, est_out) if self.price is not None else 0.0
        attempts = 0
        while True:
            if self.stop_error is not None:
                raise Stopped
            self.check_budget(est_cost)
            started_wait = time.perf_counter()
            await self.limiter.acquire(est_in + est_out)
            self.ledger.waited_s += time.perf_counter() - started_wait
            if self.stop_error is not None:
                raise Stopped
            attempts += 1
            self.ledger.requests += n
            if attempts > 1:
                self.ledger.retries += n
            self._reserved += est_cost
            started = time.perf_counter()
            try:
                completions = await self.provider.complete_batch(prompts)
            except TransientProviderError as exc:
                self.limiter.settle(est_in + est_out, 0)
                wait = self.retry.wait_for(attempts - 1, exc)
                if isinstance(exc, RateLimitError) and exc.retry_after is not None:
                    self.limiter.pause(min(exc.retry_after, self.retry.max_retry_wait))
                if wait is None:
                    self.ledger.gave_up += n
                    return GaveUp(self.retry.give_up_reason(attempts, exc), attempts)
                self.ledger.waited_s += wait
                await asyncio.sleep(wait)
                continue
            finally:
                self._reserved -= est_cost
            if len(completions) != n:  # a provider bug: say so, not zip()'s "shorter than"
                raise ProviderError(
                    f"{self.provider.describe()} answered {len(completions)} of {n} prompts "
                    "in one complete_batch call: a provider must return one completion per "
                    "prompt, in order"
                )
            for completion in completions:  # the server's rate-limit headers, if it sent them
                self.limiter.observe(completion.meta.pop("rate_limit", None))
            elapsed = (time.perf_counter() - started) / max(1, n)
            actual = sum(c.usage.input_tokens + c.usage.output_tokens for c in completions)
            self.limiter.settle(est_in + est_out, actual or est_in + est_out)
            out = []
            for completion in completions:
                if not completion.usage.latency_s:
                    usage = completion.usage.model_copy(update={"latency_s": elapsed})
                    completion = completion.model_copy(update={"usage": usage})
                out.append(self.record(completion, attempts))
            return out
