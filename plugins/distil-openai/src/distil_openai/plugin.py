"""The distil-openai plugin (entry point ``distil: openai``).

Registers the providers ``openai.chat.v1`` and ``openai.azure.v1`` (Azure OpenAI deployments). Importing this module does not import the ``openai``
SDK (a test checks it): the provider imports it when it makes its client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import distil

from .azure import make_azure_provider
from .provider import OpenAIProvider


def make_openai_provider(
    model: str,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    max_tokens: int = 512,
    temperature: float | None = 0.0,
    seed: int | None = None,
    timeout: float = 60.0,
    structured_output: bool = True,
    logprobs: bool = False,
    reasoning_effort: str | None = None,
    capabilities: Mapping[str, Any] | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_body: Mapping[str, Any] | None = None,
) -> OpenAIProvider:
    """``openai.chat.v1``: OpenAI chat completions, or any OpenAI-compatible server.

    ``model`` is any model name the server knows. ``base_url`` points at a compatible server
    (``http://localhost:8000/v1`` for vLLM, ``http://localhost:11434/v1`` for Ollama). The key is
    read from the environment variable named ``api_key_env`` at call time; a ``base_url`` server
    works without it. ``structured_output`` sends the task's JSON schema as ``response_format``
    (turn it off for servers that reject it); ``logprobs`` asks for token logprobs and turns them
    into a confidence per answer.

    What is sent depends on the model's ``capabilities`` (defaults by model name: ``o1``/``o3``/
    ``o4*``/``gpt-5*`` are reasoning models, which get ``max_completion_tokens``, no
    ``temperature`` and the ``reasoning_effort`` set here; other models get ``temperature``, and
    ``max_tokens`` on a ``base_url`` server); the ``capabilities`` table overrides any of
    ``temperature``, ``max_tokens_field``, ``reasoning_effort``, ``logprobs``, ``seed``,
    ``structured_output`` (``"json_schema"``, ``"json_object"``, ``"none"``). ``extra_headers``
    are sent with every request and ``extra_body`` merged into every body, for any model;
    ``timeout`` is per request, in seconds. ``temperature = null`` sends none.
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
        reasoning_effort=reasoning_effort,
        capabilities=capabilities,
        extra_headers=extra_headers,
        extra_body=extra_body,
    )


@distil.hookimpl
def register_providers(register: Any) -> None:
    register("openai.chat.v1", make_openai_provider)
    register("openai.azure.v1", make_azure_provider)


@distil.hookimpl
def distil_init_choices() -> list[Any]:
    """``distil init --teacher openai [--model NAME] [--base-url URL]`` for every task kind."""

    def block(request: distil.InitRequest) -> str:
        model = request.model or "gpt-4o-mini"
        return distil.llm_teacher_block("openai.chat.v1", model, "OPENAI_API_KEY", request.base_url)

    return [
        distil.TeacherChoice("openai", task, block, takes_model=True, priority=10)
        for task in ("textcat", "ner")
    ]
