"""The distil-anthropic plugin (entry point ``distil: anthropic``).

Registers the provider ``anthropic.messages.v1``. Importing this module does not import the
``anthropic`` SDK: the provider imports it when it makes its first request.
"""

from __future__ import annotations

from typing import Any

import distil

from .provider import AnthropicProvider


def make_anthropic_provider(
    model: str,
    base_url: str | None = None,
    api_key_env: str = "ANTHROPIC_API_KEY",
    max_tokens: int = 512,
    temperature: float | None = None,
    timeout: float = 60.0,
    structured_output: bool = True,
    prompt_cache: bool = True,
    extra_headers: dict[str, str] | None = None,
    extra_body: dict[str, Any] | None = None,
) -> AnthropicProvider:
    """``anthropic.messages.v1``: any model through the Anthropic Messages API.

    ``model`` is any model id (no built-in list). ``api_key_env`` names the environment variable
    that holds the key (read at call time, never stored). ``max_tokens`` is always sent; an answer
    cut off by it is a parse failure. ``structured_output`` forces a tool call whose input schema is
    the task's JSON schema. ``timeout`` is per request, in seconds. ``temperature`` is left out
    of the request unless set (SDK 2.x no longer has the argument; a set value is sent in the body).
    ``prompt_cache`` marks the shared prefix (the system prompt: instructions, labels, schema,
    few-shot examples) with ``cache_control``, so that its tokens are cache reads (priced
    ``cached_input`` in ``[prices]``) after the first request. The key (``api_key_env``) may be
    unset for a ``base_url`` on this machine or a private network. ``extra_headers`` go with every
    request and ``extra_body`` into every body.
    """
    return AnthropicProvider(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        max_tokens=max_tokens,
        temperature=temperature,
        timeout=timeout,
        structured_output=structured_output,
        prompt_cache=prompt_cache,
        extra_headers=extra_headers,
        extra_body=extra_body,
    )


@distil.hookimpl
def register_providers(register: Any) -> None:
    register("anthropic.messages.v1", make_anthropic_provider)


@distil.hookimpl
def distil_init_choices() -> list[Any]:
    """``distil init --teacher anthropic [--model NAME] [--base-url URL]`` for every task kind."""

    def block(request: distil.InitRequest) -> str:
        model = request.model or "claude-haiku-4-5"
        key_env = "ANTHROPIC_API_KEY"
        return distil.llm_teacher_block("anthropic.messages.v1", model, key_env, request.base_url)

    return [
        distil.TeacherChoice("anthropic", task, block, takes_model=True, priority=10)
        for task in ("textcat", "ner")
    ]
