"""The distil-openai plugin (entry point ``distil: openai``).

Registers the provider ``openai.chat.v1``. Importing this module does not import the ``openai``
SDK (a test checks it): the provider imports it when it makes its client.
"""

from __future__ import annotations

from typing import Any

import distil

from .provider import OpenAIProvider


def make_openai_provider(
    model: str,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    max_tokens: int = 512,
    temperature: float = 0.0,
    seed: int | None = None,
    timeout: float = 60.0,
    structured_output: bool = True,
    logprobs: bool = False,
) -> OpenAIProvider:
    """``openai.chat.v1``: OpenAI chat completions, or any OpenAI-compatible server.

    ``model`` is any model name the server knows. ``base_url`` points at a compatible server
    (``http://localhost:8000/v1`` for vLLM, ``http://localhost:11434/v1`` for Ollama). The key is
    read from the environment variable named ``api_key_env`` at call time; a ``base_url`` server
    works without it. ``max_tokens`` is always sent; ``structured_output`` sends the task's JSON
    schema as ``response_format`` (turn it off for servers that reject it); ``logprobs`` asks
    for token logprobs and turns them into a confidence per answer.
    """
    return OpenAIProvider(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        timeout=timeout,
        structured_output=structured_output,
        logprobs=logprobs,
    )


@distil.hookimpl
def register_providers(register: Any) -> None:
    register("openai.chat.v1", make_openai_provider)
