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
) -> AnthropicProvider:
    """``anthropic.messages.v1``: any model through the Anthropic Messages API.

    ``model`` is any model id (no built-in list). ``api_key_env`` names the environment variable
    that holds the key (read at call time, never stored). ``max_tokens`` is always sent; an answer
    cut off by it is a parse failure. ``structured_output`` forces a tool call whose input schema is
    the task's JSON schema. ``timeout`` is per request, in seconds. ``temperature`` is left out
    of the request unless set (SDK 2.x no longer has the argument; a set value is sent in the body).
    """
    return AnthropicProvider(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        max_tokens=max_tokens,
        temperature=temperature,
        timeout=timeout,
        structured_output=structured_output,
    )


@distil.hookimpl
def register_providers(register: Any) -> None:
    register("anthropic.messages.v1", make_anthropic_provider)
