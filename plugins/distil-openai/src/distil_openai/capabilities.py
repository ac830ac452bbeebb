"""Which request parameters a model takes: defaults by model-name pattern, overridable in config.

OpenAI's reasoning models (``o1``, ``o3``, ``o4-mini``, ``gpt-5*``) refuse ``temperature`` (even
``null``), ``max_tokens`` (they read ``max_completion_tokens``) and ``logprobs``, and take a
``reasoning_effort``; chat models take all of the first three; OpenAI-compatible servers (vLLM,
Ollama, llama.cpp) read ``max_tokens``. No model list is hard-coded: a name is matched against the
patterns of :data:`PATTERNS` (after any ``vendor/`` prefix a gateway adds, so
``openai/o3-mini`` is a reasoning model too), and the provider's ``capabilities`` config block
overrides any field::

    [teacher.provider]
    @providers = "openai.chat.v1"
    model = "my-gateway-name-for-o3"
    base_url = "https://gateway.example/v1"
    reasoning_effort = "low"

    [teacher.provider.capabilities]
    temperature = false
    max_tokens_field = "max_completion_tokens"
    reasoning_effort = true
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import distil

#: ``max_tokens_field`` values: what the server reads the answer length from.
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")
#: ``structured_output`` values: JSON schema (strict when the schema allows), JSON mode, none.
STRUCTURED_STYLES = ("json_schema", "json_object", "none")
REASONING_EFFORTS = ("minimal", "low", "medium", "high")
#: The config path of the override block, for error messages.
WHERE = "teacher.provider.capabilities"


@dataclass(frozen=True)
class Capabilities:
    """The parameters one model takes (see the module docstring)."""

    temperature: bool = True
    max_tokens_field: str = "max_tokens"
    reasoning_effort: bool = False
    logprobs: bool = True
    seed: bool = True
    structured_output: str = "json_schema"

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: (pattern on the model name, what differs from the defaults). The first match wins.
PATTERNS: tuple[tuple[re.Pattern[str], dict[str, Any]], ...] = (
    (
        re.compile(r"^(o\d+|gpt-5)([-.:_].*)?$", re.IGNORECASE),
        {
            "temperature": False,
            "max_tokens_field": "max_completion_tokens",
            "reasoning_effort": True,
            "logprobs": False,
        },
    ),
)


def is_reasoning_model(model: str) -> bool:
    """True when ``model`` (any ``vendor/`` prefix ignored) matches a reasoning-model pattern."""
    return defaults(model, hosted=True).reasoning_effort


def defaults(model: str, *, hosted: bool) -> Capabilities:
    """The capabilities assumed for ``model``: by pattern; ``hosted`` (OpenAI or Azure itself,
    not a compatible server) reads ``max_completion_tokens`` for every model."""
    base = Capabilities(max_tokens_field="max_completion_tokens" if hosted else "max_tokens")
    name = model.rsplit("/", 1)[-1]
    for pattern, changes in PATTERNS:
        if pattern.match(name):
            return replace(base, **changes)
    return base


def resolve(model: str, *, hosted: bool, overrides: Mapping[str, Any] | None) -> Capabilities:
    """The defaults for ``model`` with the config's ``overrides``; a ConfigError names a bad key."""
    caps = defaults(model, hosted=hosted)
    if not overrides:
        return caps
    known = {f.name: f.type for f in fields(Capabilities)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in known:
            raise distil.ConfigError(
                f"{WHERE}.{key}: unknown capability; choose from {', '.join(sorted(known))}"
            )
        if key == "max_tokens_field":
            if value not in MAX_TOKENS_FIELDS:
                raise distil.ConfigError(
                    f"{WHERE}.max_tokens_field must be one of {list(MAX_TOKENS_FIELDS)}, "
                    f"got {value!r}"
                )
        elif key == "structured_output":
            if value not in STRUCTURED_STYLES:
                raise distil.ConfigError(
                    f"{WHERE}.structured_output must be one of {list(STRUCTURED_STYLES)}, "
                    f"got {value!r}"
                )
        elif not isinstance(value, bool):
            raise distil.ConfigError(f"{WHERE}.{key} must be true or false, got {value!r}")
        changes[key] = value
    return replace(caps, **changes)


#: A server 400 naming one of these parameters: the config key that changes what is sent.
PARAMETER_HINTS = {
    "temperature": (
        f"set {WHERE}.temperature = false (or teacher.provider.temperature = null) "
        "so that it is not sent"
    ),
    "max_tokens": f'set {WHERE}.max_tokens_field = "max_completion_tokens"',
    "max_completion_tokens": f'set {WHERE}.max_tokens_field = "max_tokens"',
    "reasoning_effort": (
        f"remove teacher.provider.reasoning_effort, or set {WHERE}.reasoning_effort = false"
    ),
    "logprobs": f"set teacher.provider.logprobs = false (or {WHERE}.logprobs = false)",
    "top_logprobs": "set teacher.provider.logprobs = false",
    "seed": f"set teacher.provider.seed = null (or {WHERE}.seed = false)",
    "response_format": (
        f'set {WHERE}.structured_output = "json_object" (JSON mode) or "none", or '
        "teacher.provider.structured_output = false"
    ),
}
