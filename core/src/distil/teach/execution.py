"""How one teacher's requests go out: rate limits, budget, retries, cost and the ledger.

:class:`Execution` sends a request (one prompt, or one provider batch of prompts) and stands
between the teacher loop and the provider:

1. the budget: a request whose estimated cost would take the spend (plus what requests in flight
   may cost) past ``budget`` is not sent: it waits for the requests in flight when it would fit
   without them, else :class:`~distil.errors.BudgetExceeded` is raised. The
   spend is this run's, plus, when the label pass opened an account (:meth:`Execution.open_account`),
   what the project's store had spent on this teacher model before (budgets per project);
2. the rate limiter: it waits for one request and the estimated tokens (:mod:`.limits`);
3. the provider call; a :class:`~distil.errors.TransientProviderError` is retried by the
   :class:`~.retry.RetryPolicy` (a 429's ``Retry-After`` also pauses the limiter, so every
   request waits, with ``rate_limit_pause="all"``, the default; with ``"request"`` only the
   refused request waits its ``Retry-After`` before it is sent again), and when the
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

#: Seconds between looks at the requests in flight while a request waits for room in the budget.
BUDGET_POLL_S = 0.02
#: What a 429's ``Retry-After`` pauses (``[label] rate_limit_pause``).
RATE_LIMIT_PAUSES = ("all", "request")


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
        rate_limit_pause: str = "all",
    ) -> None:
        if budget is not None and budget < 0:
            raise ValueError(f"budget must not be negative, got {budget}")
        if rate_limit_pause not in RATE_LIMIT_PAUSES:
            raise ValueError(
                f"rate_limit_pause must be one of {', '.join(RATE_LIMIT_PAUSES)}, "
                f"got {rate_limit_pause!r}"
            )
        #: What a 429's ``Retry-After`` holds: ``"all"`` requests, or the refused ``"request"``.
        self.rate_limit_pause = rate_limit_pause
        self.provider = provider
        self.limiter = RateLimiter(rpm, tpm, burst_s=burst_s)
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self.price = price
        #: What the project's store had spent on this teacher before the run (an open account).
        self.spent_before = 0.0
        #: Dollars this run spent, across ledgers (a cascade asks its LLM page by page).
        self.run_spent = 0.0
        self._account = False
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
        if not self._account:
            self.run_spent = 0.0
        return self.ledger

    # -- the project's account (budgets across runs) ----------------------------------------------
    @property
    def budget_key(self) -> str:
        """What a budget is kept for: the provider and model (``openai/gpt-4o-mini``), the key
        of the price table, whatever the prompt."""
        return self.provider.describe()

    def open_account(self, spent_before: float) -> None:
        """Start a label run that has already ``spent_before`` dollars on this teacher in this
        project: the budget caps that plus this run's spend, over every ledger of the run."""
        self.spent_before = spent_before
        self.run_spent = 0.0
        self._account = True

    def close_account(self) -> None:
        self._account = False
        self.spent_before = 0.0

    @property
    def spent_total(self) -> float:
        """Dollars spent on this teacher: before this run (an open account) and in it."""
        return self.spent_before + self.run_spent

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
        committed = self.spent_total + self._reserved
        if committed + estimated_cost > self.budget:
            before = (
                f" ({format_cost(self.spent_before)} of it in earlier runs)"
                if self.spent_before > 0
                else ""
            )
            raise BudgetExceeded(
                f"budget {format_cost(self.budget)} reached: spent "
                f"{format_cost(self.spent_total)}{before}"
                f", and {what} (about {format_cost(estimated_cost)}) would exceed it"
            )

    async def _within_budget(self, estimated_cost: float) -> None:
        """Return when ``estimated_cost`` fits the budget; while it fits only once the requests
        in flight have settled (their answers usually cost less than their estimates), wait for
        them instead of stopping the run below its budget. Raises BudgetExceeded otherwise."""
        while True:
            try:
                self.check_budget(estimated_cost)
                return
            except BudgetExceeded:
                budget = self.budget or 0.0
                if self._reserved <= 0 or self.spent_total + estimated_cost > budget:
                    raise
            await asyncio.sleep(BUDGET_POLL_S)
            if self.stop_error is not None:
                raise Stopped

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
        self.run_spent += cost or 0.0
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
            await self._within_budget(est_cost)
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
                if (
                    isinstance(exc, RateLimitError)
                    and exc.retry_after is not None
                    and self.rate_limit_pause == "all"
                ):
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
