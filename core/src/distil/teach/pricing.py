"""Prices and token estimates: what a request costs, or that nobody knows.

Core ships no prices: they change without notice and differ per account, so a price hard-coded in
logic would be wrong silently. The user writes them in the config's ``[prices]`` section, keyed by
the provider's ``describe()`` string (``"<provider name>/<model>"``), in dollars per million
tokens::

    [prices]
    "openai.chat/gpt-4o-mini" = {"input": 0.15, "output": 0.60, "batch_discount": 0.5}
    "anthropic.messages/claude-haiku-4-5" = {"input": 1.0, "output": 5.0, "cached_input": 0.1, "cache_write": 1.25}

A model without a price has an unknown cost: usage records ``cost = 0.0``, the ledger reports
``cost = None`` (shown as "—"), and a ``budget`` cannot be enforced for it (a config error).

Token estimates, used before a request is sent (rate limits, budget, ``--dry-run``), are rough by
design: ``characters / 4`` for the prompt (messages and schema) plus ``max_tokens`` for the answer,
an upper bound on what the answer may cost. The rate limiter corrects them with the real usage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError
from ..records import Prompt, Usage
from .provider import Provider

#: The answer length assumed for estimates when a provider names no ``max_tokens``.
DEFAULT_MAX_TOKENS = 1024
#: Characters per token assumed by the estimate (English text and JSON; a rough, documented guess).
CHARS_PER_TOKEN = 4


class Price(BaseModel):
    """One model's price in dollars per million tokens.

    ``batch_discount`` is the fraction taken off for provider batch jobs (0.5: half price).
    ``cached_input`` prices the input tokens a provider read from its prompt cache (OpenAI's
    ``cached_tokens``, Anthropic's ``cache_read_input_tokens``), ``cache_write`` those it wrote to
    it (Anthropic's ``cache_creation_input_tokens``); unset, they cost ``input``, so that a config
    without them never under-states a cost.
    """

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    batch_discount: float = Field(default=0.5, ge=0, le=1)
    cached_input: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        batch: bool = False,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """Dollars for this usage; ``input_tokens`` includes the cached and written ones."""
        cached = min(max(0, cached_input_tokens), input_tokens)
        written = min(max(0, cache_write_tokens), input_tokens - cached)
        plain = input_tokens - cached - written
        read_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        dollars = (
            plain * self.input
            + cached * read_price
            + written * write_price
            + output_tokens * self.output
        ) / 1_000_000
        return dollars * (1 - self.batch_discount) if batch else dollars

    def usage_cost(self, usage: Usage, *, batch: bool = False) -> float:
        return self.cost(
            usage.input_tokens,
            usage.output_tokens,
            batch=batch,
            cached_input_tokens=usage.cached_input_tokens,
            cache_write_tokens=usage.cache_write_tokens,
        )

    def cache_saving(self, usage: Usage, *, batch: bool = False) -> float:
        """What the provider's prompt cache saved on this usage: its cost with every input token
        at the ``input`` price, less its real cost (negative when cache writes cost more)."""
        uncached = self.cost(usage.input_tokens, usage.output_tokens, batch=batch)
        return uncached - self.usage_cost(usage, batch=batch)


class PriceTable:
    """``"provider/model"`` → :class:`Price`, from the config's ``[prices]`` section."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self.prices = {_key(k): v for k, v in (prices or {}).items()}

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, where: str = "") -> PriceTable:
        """Validate a ``[prices]`` section; errors name the dotted path (``prices."a/b".input``)."""
        prices: dict[str, Price] = {}
        for raw_key, value in (section or {}).items():
            key = _key(raw_key)
            path = f'prices."{key}"'
            if "/" not in key:
                raise ConfigError(
                    f"{where}{path}: a price key is 'provider/model' as the provider describes "
                    'itself (e.g. "openai.chat/gpt-4o-mini")'
                )
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f'{where}{path}: expected {{"input": $/1M tokens, "output": $/1M tokens}}, '
                    f"got {value!r}"
                )
            try:
                prices[key] = Price.model_validate(dict(value))
            except ValidationError as exc:
                lines = []
                for err in exc.errors():
                    sub = ".".join(str(x) for x in err["loc"])
                    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                    lines.append(f"{path}.{sub}: {msg}")
                raise ConfigError(where + "; ".join(lines)) from None
        return cls(prices)

    def get(self, key: str) -> Price | None:
        """The price of ``key`` (exact match first, then ignoring case), or None."""
        if key in self.prices:
            return self.prices[key]
        folded = {k.casefold(): v for k, v in self.prices.items()}
        return folded.get(key.casefold())

    def for_provider(self, provider: Provider) -> Price | None:
        return self.get(provider.describe())

    def __len__(self) -> int:
        return len(self.prices)


def _key(raw: str) -> str:
    return str(raw).strip().strip('"').strip("'")


def max_tokens_of(provider: Provider) -> int:
    """The answer length a provider asks for (its ``max_tokens``), or the estimate's default."""
    for value in (getattr(provider, "max_tokens", None), provider.params.get("max_tokens")):
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_MAX_TOKENS


def prompt_tokens(prompt: Prompt) -> int:
    """A rough count of a prompt's input tokens: its characters / 4 (messages, schema, labels)."""
    chars = sum(len(m.content) + len(m.role) for m in prompt.messages)
    if prompt.json_schema is not None:
        chars += len(json.dumps(prompt.json_schema, separators=(",", ":")))
    chars += sum(len(h) for h in prompt.hypotheses.values())
    return max(1, -(-chars // CHARS_PER_TOKEN))


def estimate_tokens(prompt: Prompt, max_tokens: int) -> tuple[int, int]:
    """``(input, output)`` tokens a request may use: the prompt estimate and ``max_tokens``."""
    return prompt_tokens(prompt), max_tokens


def format_cost(cost: float | None) -> str:
    """``$0.0123`` (more digits for tiny sums), or ``—`` when the cost is unknown."""
    if cost is None:
        return "—"
    if cost == 0 or cost >= 1:
        return f"${cost:,.2f}"
    return f"${cost:.4f}" if cost >= 0.0001 else f"${cost:.6f}"
