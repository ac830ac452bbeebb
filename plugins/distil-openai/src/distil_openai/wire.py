"""The OpenAI chat completions wire format: request bodies out, :class:`distil.Completion` in.

Pure functions on plain data, shared by the live calls and the Batch API (whose input file holds
the same bodies and whose output file the same responses). No SDK import here.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import distil

#: JSON Schema keywords that OpenAI's strict structured output accepts. A schema that uses
#: others (``uniqueItems``, ``minLength``, ...) is sent with those keywords removed: distil
#: validates every answer against the task anyway.
STRICT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "anyOf",
        "description",
        "title",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "pattern",
        "format",
        "$defs",
        "definitions",
        "$ref",
    }
)
#: ``Completion.meta`` key set on an answer whose logprobs were asked for but not sent.
LOGPROBS_MISSING = "logprobs_missing"
#: Keywords whose value is a map of names to schemas (the names are not keywords).
_SCHEMA_MAPS = ("properties", "$defs", "definitions")


@dataclass(frozen=True)
class Options:
    """The request options of one provider (everything besides the prompt), as they are sent:
    a None ``temperature``, ``seed`` or ``reasoning_effort`` is left out of the body (the
    provider resolves them from the model's capabilities, :mod:`~distil_openai.capabilities`)."""

    model: str
    max_tokens: int
    temperature: float | None
    seed: int | None
    structured_output: bool
    logprobs: bool
    #: ``max_completion_tokens`` for OpenAI itself and reasoning models anywhere (they refuse
    #: ``max_tokens``), ``max_tokens`` for compatible servers (what vLLM, Ollama, llama.cpp read).
    max_tokens_field: str = "max_tokens"
    reasoning_effort: str | None = None
    #: ``True``: JSON mode (``{"type": "json_object"}``) instead of the task's JSON schema.
    json_mode: bool = False
    #: Merged into every body last (a gateway's or a model's own parameters).
    extra_body: Mapping[str, Any] = field(default_factory=dict)


def strict_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """``schema`` as OpenAI's strict mode accepts it, or None when its structure does not allow it.

    Strict mode needs every object closed (``additionalProperties: false``) with every property
    required; other keywords it does not know are dropped (distil validates answers itself).
    """

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        if node.get("type") == "object" or "properties" in node:
            props = node.get("properties", {})
            if node.get("additionalProperties") is not False:
                raise ValueError("open object")
            if set(node.get("required", [])) != set(props):
                raise ValueError("optional property")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in STRICT_KEYWORDS:
                continue
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                out[key] = {name: walk(sub) for name, sub in value.items()}
            else:
                out[key] = walk(value)
        return out

    try:
        result = walk(schema)
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


#: strict_schema's recent results by id of the schema: ``(schema, copy of it or None, result)``.
#: Each entry holds its schema, so no other object can have that id while the entry lives.
_STRICT: dict[int, tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]] = {}
_STRICT_MAX = 64


def _strict_for(schema: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`strict_schema` of ``schema``, walked once per schema object.

    Every request of a task sends the same schema (its prompt frame's one object), and the walk
    cost more CPU than the rest of the body. An entry answers while its schema still equals the
    copy taken then (a schema edited in place is walked again). The copy is taken at the
    object's second request, so a schema built per prompt costs one walk, as before. The result
    is shared by the bodies, as a non-strict schema already is.
    """
    entry = _STRICT.get(id(schema))
    if entry is not None and entry[1] is not None and entry[1] == schema:
        return entry[2]
    strict = strict_schema(schema)
    if entry is None and len(_STRICT) >= _STRICT_MAX:
        _STRICT.clear()
    _STRICT[id(schema)] = (schema, copy.deepcopy(schema) if entry is not None else None, strict)
    return strict


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    strict = _strict_for(schema)
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": strict if strict is not None else schema,
            "strict": strict is not None,
        },
    }


def request_body(options: Options, prompt: distil.Prompt) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body for one prompt.

    The messages keep the prompt's order: the shared prefix (the system prompt with the
    instructions, labels, schema and few-shot examples) first and the text last, so that a
    server's automatic prompt caching (OpenAI's, for prefixes of 1,024 tokens and more) reuses
    the prefix across requests.
    """
    body: dict[str, Any] = {
        "model": options.model,
        "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
        options.max_tokens_field: options.max_tokens,
    }
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.seed is not None:
        body["seed"] = options.seed
    if options.reasoning_effort is not None:
        body["reasoning_effort"] = options.reasoning_effort
    if options.structured_output and prompt.json_schema is not None:
        if options.json_mode:
            body["response_format"] = {"type": "json_object"}
        else:
            body["response_format"] = response_format(prompt.json_schema)
    if options.logprobs:
        body["logprobs"] = True
    if options.extra_body:
        body.update(options.extra_body)
    return body


def confidence(logprobs: Any) -> float | None:
    """exp(sum of the answer tokens' logprobs): the probability of the whole answer, in (0, 1].

    Under structured output the JSON punctuation is forced (logprob ≈ 0), so this is about the
    probability of the label tokens. None when the server sent no token logprobs.
    """
    content = (logprobs or {}).get("content") if isinstance(logprobs, dict) else None
    if not content:
        return None
    total = sum(float(t.get("logprob") or 0.0) for t in content if isinstance(t, dict))
    return min(1.0, max(math.exp(total), 1e-12))


def cached_tokens(usage: Mapping[str, Any]) -> int:
    """The prompt tokens the server read from its prompt cache
    (``usage.prompt_tokens_details.cached_tokens``; 0 when the server does not say)."""
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, Mapping):
        return 0
    try:
        return max(0, int(details.get("cached_tokens") or 0))
    except (TypeError, ValueError):
        return 0


def to_completion(
    body: dict[str, Any], options: Options, *, structured: bool, latency_s: float = 0.0
) -> distil.Completion:
    """A chat completion response body (a dict) as a :class:`distil.Completion`.

    ``structured``: the request asked for structured output, so the text is parsed as JSON into
    ``data`` (left None when it is not JSON: the parser then records why).
    """
    choices = body.get("choices") or []
    if not choices:
        raise distil.TransientProviderError(
            f"openai.chat: the server answered without choices (response id {body.get('id')!r})"
        )
    choice = choices[0]
    message = choice.get("message") or {}
    text = message.get("content") or ""
    refusal = message.get("refusal") or None
    finish_reason = choice.get("finish_reason")
    if finish_reason == "content_filter" and not text and refusal is None:
        refusal = "the answer was withheld by the server's content filter"
    data = None
    if structured and text and finish_reason != "length" and refusal is None:
        try:
            data = json.loads(text)
        except ValueError:
            data = None  # left to the parser, which records why it failed
    usage = body.get("usage") or {}
    meta: dict[str, Any] = {"id": body.get("id")}
    if options.logprobs:
        value = confidence(choice.get("logprobs"))
        if value is not None:
            meta["confidence"] = value
        elif refusal is None:
            meta[LOGPROBS_MISSING] = True  # asked for, not sent: the provider warns once a run
    return distil.Completion(
        text=text,
        data=data,
        finish_reason=finish_reason,
        refusal=refusal,
        usage=distil.Usage(
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            cached_input_tokens=cached_tokens(usage),
            latency_s=latency_s,
        ),
        model=body.get("model") or options.model,
        meta=meta,
    )
