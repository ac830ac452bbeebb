"""The ledger of one label run: what was sent, what came back, what it cost.

Tokens and money count only what a provider was actually asked in this run (retries that failed
carry no usage; cache hits cost nothing and are counted apart), so the ledger's token totals equal
what the server saw. ``cost`` is None when no price is known for the provider's model.

``cached_input_tokens`` / ``cache_write_tokens`` count the input tokens the provider read from /
wrote to its prompt cache (they are part of ``input_tokens``); ``cache_saving`` is what that cache
saved in dollars against every input token at the full ``input`` price (None without a price).
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
    #: Of ``input_tokens``: read from / written to the provider's prompt cache.
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    #: Dollars the provider's prompt cache saved (None when the price is unknown).
    cache_saving: float | None = None
    #: Dollars spent, from the price table; None when the price is unknown.
    cost: float | None = None
    #: Provider batch jobs submitted in this run (batch mode).
    batch_jobs: int = 0
    #: Seconds spent waiting on rate limits and retry backoff.
    waited_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def add_usage(self, usage: Usage, cost: float | None, saving: float | None = None) -> None:
        """Count one answered request's tokens and money (``saving``: its prompt-cache saving)."""
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cached_input_tokens += usage.cached_input_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost
        if saving is not None:
            self.cache_saving = (self.cache_saving or 0.0) + saving

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
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_saving": self.cache_saving,
            "cost": self.cost,
            "batch_jobs": self.batch_jobs,
            "waited_s": round(self.waited_s, 3),
            **self.extra,
        }

    def summary(self) -> str:
        """One line for the CLI."""
        return ledger_line(self.to_dict())


def prompt_cache_note(ledger: dict[str, Any]) -> str:
    """`` (1,200 from the prompt cache, saving $0.0012)``, or "" when nothing came from it."""
    cached = int(ledger.get("cached_input_tokens") or 0)
    written = int(ledger.get("cache_write_tokens") or 0)
    if not cached and not written:
        return ""
    parts = [f"{cached:,} from the prompt cache"]
    if written:
        parts.append(f"{written:,} written to it")
    saving = ledger.get("cache_saving")
    if saving is not None:
        parts.append(
            f"saving {format_cost(saving)}"
            if saving >= 0
            else f"costing {format_cost(-saving)} more"
        )
    return f" ({', '.join(parts)})"


def ledger_line(ledger: dict[str, Any]) -> str:
    """The CLI's one line for a ledger (as :meth:`Ledger.to_dict` gives it, or a stored run's)."""
    line = (
        f"{ledger['requests']} request(s) ({ledger['retries']} retried, "
        f"{ledger['reasks']} re-asked, {ledger['cache_hits']} from cache"
    )
    if ledger.get("batch_jobs"):
        line += f", {ledger['batch_jobs']} batch job(s)"
    return (
        f"{line}), {ledger['input_tokens']:,} tokens in{prompt_cache_note(ledger)} / "
        f"{ledger['output_tokens']:,} out, cost {format_cost(ledger.get('cost'))}"
    )


def sum_ledgers(total: dict[str, Any] | None, ledger: dict[str, Any]) -> dict[str, Any]:
    """``total`` plus ``ledger`` (both as :meth:`Ledger.to_dict` gives them): counts, tokens,
    money and waits add up; ``cost`` and ``cache_saving`` stay None only while every part's
    is. For a run made of parts (the shards of a corpus, the workers of a cluster)."""
    out = dict(total or {})
    for key, value in ledger.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            if value is not None or key not in out:
                out.setdefault(key, value)
        else:
            out[key] = (out.get(key) or 0) + value
    return out
