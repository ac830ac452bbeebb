"""The ledger of one label run: what was sent, what came back, what it cost.

Tokens and money count only what a provider was actually asked in this run (retries that failed
carry no usage; cache hits cost nothing and are counted apart), so the ledger's token totals equal
what the server saw. ``cost`` is None when no price is known for the provider's model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import Usage
from .pricing import format_cost


@dataclass
class Ledger:
    """Counters of one run; :meth:`to_dict` is what goes into the run's stats in the store."""

    provider: str = ""
    #: Requests sent (first tries, retries and re-asks; a batch job counts each item once).
    requests: int = 0
    #: Requests sent again after a transient failure (429, 5xx, timeout).
    retries: int = 0
    #: Requests sent again because the answer failed validation.
    reasks: int = 0
    #: Examples answered from the cache (no request, no cost).
    cache_hits: int = 0
    #: Examples given up on after the retries ran out (stored as failures).
    gave_up: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    #: Dollars spent, from the price table; None when the price is unknown.
    cost: float | None = None
    #: Provider batch jobs submitted in this run (batch mode).
    batch_jobs: int = 0
    #: Seconds spent waiting on rate limits and retry backoff.
    waited_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def add_usage(self, usage: Usage, cost: float | None) -> None:
        """Count one answered request's tokens and money."""
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost

    @property
    def spent(self) -> float:
        return self.cost or 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "requests": self.requests,
            "retries": self.retries,
            "reasks": self.reasks,
            "cache_hits": self.cache_hits,
            "gave_up": self.gave_up,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": self.cost,
            "batch_jobs": self.batch_jobs,
            "waited_s": round(self.waited_s, 3),
            **self.extra,
        }

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"{self.requests} request(s) ({self.retries} retried, {self.reasks} re-asked, "
            f"{self.cache_hits} from cache), {self.input_tokens:,} tokens in / "
            f"{self.output_tokens:,} out, cost {format_cost(self.cost)}"
        )
