"""``openai.azure``: Azure OpenAI deployments through the SDK's ``AsyncAzureOpenAI`` client.

Azure names a *deployment*, not a model, in the URL: a request goes to
``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={api_version}`` with the
key in an ``api-key`` header (not ``Authorization``). Everything else (the body, structured
output, capabilities, errors, redaction) is :class:`~distil_openai.provider.OpenAIProvider`'s.

``model`` is the model behind the deployment (``gpt-4o-mini``, ``o3-mini``): it picks the
capabilities (a reasoning model gets ``max_completion_tokens`` and no ``temperature``) and is what
``[prices]`` is keyed by (``"openai.azure/gpt-4o-mini"``); it defaults to the deployment name.
The endpoint comes from the config or ``$AZURE_OPENAI_ENDPOINT``, the key from
``$AZURE_OPENAI_API_KEY`` (or the variable ``api_key_env`` names). Azure's batch API (a separate
deployment type) is not used: ``mode = "batch"`` is refused for this provider.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import distil

from . import secrets
from .provider import OpenAIProvider, public_url

#: The newest GA data-plane version when this was written; any version Azure knows may be set.
DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAIProvider(OpenAIProvider):
    """Chat completions on an Azure OpenAI deployment."""

    name: ClassVar[str] = "openai.azure"
    capabilities: ClassVar[frozenset[str]] = frozenset({"structured_output", "logprobs"})
    supports_batch: ClassVar[bool] = False

    def __init__(
        self,
        deployment: str,
        *,
        endpoint: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        model: str | None = None,
        api_key_env: str = "AZURE_OPENAI_API_KEY",
        **options: Any,
    ) -> None:
        if not deployment or "/" in deployment:
            raise distil.ConfigError(
                "teacher.provider.deployment must name an Azure OpenAI deployment "
                f"(as the Azure portal lists it, no slashes), got {deployment!r}"
            )
        if not api_version:
            raise distil.ConfigError(
                'teacher.provider.api_version must be an Azure API version, e.g. "2024-10-21"'
            )
        self.deployment = deployment
        self.api_version = api_version
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        super().__init__(model or deployment, api_key_env=api_key_env, **options)
        self.params.update(
            {
                "base_url": None,
                "endpoint": public_url(self._endpoint),
                "deployment": deployment,
            }
        )

    @property
    def hosted(self) -> bool:
        return True  # Azure reads max_completion_tokens, as OpenAI does

    @property
    def endpoint(self) -> str:
        endpoint = self._endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT", "").strip()
        if not endpoint:
            raise distil.ProviderError(
                "openai.azure needs the resource endpoint: set teacher.provider.endpoint "
                '(e.g. "https://my-resource.openai.azure.com") or $AZURE_OPENAI_ENDPOINT'
            )
        return endpoint.rstrip("/")

    def __repr__(self) -> str:
        return (
            f"AzureOpenAIProvider(deployment={self.deployment!r}, model={self.model!r}, "
            f"endpoint={public_url(self._endpoint)!r}, api_key_env={self.api_key_env!r})"
        )

    def _key(self) -> str:
        return secrets.read_key(self.api_key_env, None, where=self.name)

    def _new_client(self, openai: Any, key: str) -> Any:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=self.endpoint,
            azure_deployment=self.deployment,
            api_version=self.api_version,
            api_key=key,
            max_retries=0,
            timeout=self.timeout,
            default_headers=self.extra_headers or None,
        )

    async def submit_batch(self, requests: list[tuple[str, distil.Prompt]]) -> str:
        raise distil.ProviderError(
            "openai.azure: the batch API is not supported for Azure deployments; "
            'use [label] mode = "online"'
        )


def make_azure_provider(
    deployment: str,
    endpoint: str | None = None,
    api_version: str = DEFAULT_API_VERSION,
    model: str | None = None,
    api_key_env: str = "AZURE_OPENAI_API_KEY",
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
) -> AzureOpenAIProvider:
    """``openai.azure.v1``: chat completions on an Azure OpenAI deployment.

    ``deployment`` is the deployment name, ``endpoint`` the resource URL
    (``https://NAME.openai.azure.com``; default ``$AZURE_OPENAI_ENDPOINT``), ``api_version`` the
    data-plane API version, ``model`` the model deployed (capabilities and prices; default: the
    deployment name). The key is read from ``$AZURE_OPENAI_API_KEY`` (``api_key_env``) and sent
    as the ``api-key`` header. The other keys are those of ``openai.chat.v1``.
    """
    return AzureOpenAIProvider(
        deployment,
        endpoint=endpoint,
        api_version=api_version,
        model=model,
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
