"""The Anthropic Messages API as a distil provider.

Structured output goes through tool use: the prompt's JSON schema becomes the ``input_schema`` of one
tool (``answer``) and ``tool_choice`` forces the model to call it, so the answer is the tool's input
object. The SDK is imported on first use, its own retries are off (``max_retries=0``: distil's retry
layer is the only one), and its failures are turned into distil's errors:

- 429 → :class:`distil.RateLimitError` with the server's ``Retry-After``;
- 408, 409, 5xx (529 overloaded included), timeouts, dropped connections, unreadable bodies →
  :class:`distil.TransientProviderError`;
- any other status (400, 401, 403, 404, 413, ...) → :class:`distil.ProviderError`.

The API key is read from the environment variable named by ``api_key_env`` at call time; it is kept
only inside the SDK client, never in ``params``, the cache identity, ``describe()``, error messages or
logs (core's redaction, :func:`distil.protect_secret`, covers every logger the SDK and its transport use).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import weakref
from typing import Any

import distil

TOOL_NAME = "answer"
TOOL_DESCRIPTION = "Give your answer. Its input is the answer, in the required structure."
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: Anthropic's stop_reason → distil's finish_reason ("length" and "refusal" parse as failures).
_FINISH = {
    "max_tokens": "length",
    "refusal": "refusal",
    "end_turn": "stop",
    "tool_use": "stop",
    "stop_sequence": "stop",
}
#: Sent as the key to a local server (``base_url`` on this machine) when the variable is unset.
LOCAL_KEY = "not-needed"
#: A 400 that rejects one of these parameters says which config key to change.
PARAMETER_HINTS = {
    "temperature": "remove teacher.provider.temperature (current models fix their sampling)",
    "max_tokens": "change teacher.provider.max_tokens",
    "system": "set teacher.provider.prompt_cache = false (sends the system prompt as plain text)",
    "cache_control": "set teacher.provider.prompt_cache = false",
    "tools": "set teacher.provider.structured_output = false",
    "tool_choice": "set teacher.provider.structured_output = false",
}
#: Batch result types that a later attempt may turn into an answer.
_RETRYABLE_ERRORS = {"api_error", "overloaded_error", "timeout_error", "rate_limit_error"}


class AnthropicProvider(distil.Provider):
    """``anthropic.messages.v1``: any Claude model (a free string) through the Messages API."""

    name = "anthropic.messages"
    style = "chat"
    capabilities = frozenset({"structured_output", "batch"})
    supports_batch = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        max_tokens: int = 512,
        temperature: float | None = None,
        timeout: float = 60.0,
        structured_output: bool = True,
        prompt_cache: bool = True,
        extra_headers: dict[str, str] | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise distil.ConfigError(
                "teacher.provider.model must name a model, e.g. a Claude model id"
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", api_key_env or ""):
            # Never echo the value: a user may have pasted the key itself here.
            raise distil.ConfigError(
                "teacher.provider.api_key_env takes the NAME of an environment variable "
                '(e.g. "ANTHROPIC_API_KEY"), not the key itself; put the key in that variable'
            )
        if max_tokens < 1:
            raise distil.ConfigError(
                f"teacher.provider.max_tokens must be at least 1, got {max_tokens}"
            )
        if temperature is not None and not 0.0 <= temperature <= 1.0:
            raise distil.ConfigError(
                f"teacher.provider.temperature must be between 0 and 1 for Anthropic, got {temperature}"
            )
        if timeout <= 0:
            raise distil.ConfigError(f"teacher.provider.timeout must be positive, got {timeout}")
        super().__init__(
            model,
            {
                "base_url": base_url,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "structured_output": structured_output,
            },
        )
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout = timeout
        self.structured_output = structured_output
        self.prompt_cache = prompt_cache
        if extra_headers is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra_headers.items()
        ):
            raise distil.ConfigError(
                "teacher.provider.extra_headers must map header names to strings; keys go in "
                "the environment (api_key_env), never here"
            )
        self.extra_headers = dict(extra_headers or {})
        self.extra_body = dict(extra_body or {})
        if self.extra_body:
            self.params["extra_body"] = self.extra_body
        # One client per event loop (an httpx2 pool cannot outlive the loop it was made in).
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, Any]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return (
            f"AnthropicProvider(model={self.model!r}, base_url={self.base_url!r}, "
            f"api_key_env={self.api_key_env!r}, max_tokens={self.max_tokens})"
        )

    # -- the SDK client ---------------------------------------------------------------------------
    def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if not key and distil.is_local_url(self.base_url):
            return LOCAL_KEY  # a local server (llama.cpp, a proxy on this machine): no key needed
        if not key:
            raise distil.ProviderError(
                f"anthropic.messages: the environment variable {self.api_key_env} is not set; "
                f"export your Anthropic API key as {self.api_key_env} (or set "
                "teacher.provider.api_key_env to the variable that holds it)"
            )
        return key

    def _client(self) -> Any:
        key = self._api_key()
        loop = asyncio.get_running_loop()
        held = self._clients.get(loop)
        if held is not None and held[0] == key:
            return held[1]
        try:
            import anthropic
        except ImportError as exc:  # pragma: no cover - the package depends on it
            raise distil.ProviderError(
                "anthropic.messages needs the anthropic SDK: pip install distil-anthropic"
            ) from exc
        client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=self.base_url,
            timeout=self.timeout,
            max_retries=0,
            default_headers=self.extra_headers or None,
        )
        distil.protect_secret(key)  # after the SDK created its loggers
        self._clients[loop] = (key, client)
        return client

    # -- requests and answers ---------------------------------------------------------------------
    def request_params(self, prompt: distil.Prompt) -> dict[str, Any]:
        """The Messages API parameters for one prompt (also the ``params`` of a batch request)."""
        system = "\n\n".join(m.content for m in prompt.messages if m.role == "system")
        messages = [
            {"role": m.role, "content": m.content} for m in prompt.messages if m.role != "system"
        ]
        if not messages:
            raise distil.ProviderError(
                "anthropic.messages: the prompt has no user message (the Messages API needs one)"
            )
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": messages,
        }
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if system and self.prompt_cache:
            # The shared prefix (instructions, labels, schema, few-shot examples: the system
            # prompt; the tools come before it in the cache's order) is marked for the prompt
            # cache; the text, in the user message, comes after the breakpoint.
            params["system"] = [
                {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
            ]
        elif system:
            params["system"] = system
        if self.structured_output and prompt.json_schema is not None:
            params["tools"] = [
                {
                    "name": TOOL_NAME,
                    "description": TOOL_DESCRIPTION,
                    "input_schema": prompt.json_schema,
                }
            ]
            params["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return params

    def to_completion(self, message: Any, latency_s: float = 0.0) -> distil.Completion:
        """A Completion from an SDK ``Message`` (or its dict form, as batch results carry it)."""
        data = message if isinstance(message, dict) else message.model_dump()
        texts: list[str] = []
        tool_input: Any = None
        for block in data.get("content") or []:
            if block.get("type") == "text":
                texts.append(block.get("text") or "")
            elif block.get("type") == "tool_use" and block.get("name") == TOOL_NAME:
                tool_input = block.get("input")
        stop = data.get("stop_reason")
        usage_data = data.get("usage") or {}
        cache_read = int(usage_data.get("cache_read_input_tokens") or 0)
        cache_write = int(usage_data.get("cache_creation_input_tokens") or 0)
        usage = distil.Usage(
            # Anthropic's input_tokens leaves out the cache reads and writes: distil counts
            # every input token there (as OpenAI does), with the cached ones apart.
            input_tokens=int(usage_data.get("input_tokens") or 0) + cache_read + cache_write,
            output_tokens=int(usage_data.get("output_tokens") or 0),
            cached_input_tokens=cache_read,
            cache_write_tokens=cache_write,
            latency_s=latency_s,
        )
        text = json.dumps(tool_input) if tool_input is not None else "".join(texts)
        finish = _FINISH.get(stop or "", stop)
        refusal = None
        if stop == "refusal":
            refusal = "".join(texts).strip() or "the model refused (stop_reason=refusal)"
        return distil.Completion(
            text=text,
            # A truncated tool input is never handed on as data: it is partial by definition.
            data=tool_input if finish != "length" else None,
            finish_reason=finish,
            refusal=refusal,
            usage=usage,
            model=data.get("model") or self.model,
            meta={"id": data.get("id"), "stop_reason": stop},
        )

    async def complete(self, prompt: distil.Prompt) -> distil.Completion:
        params = self.request_params(prompt)
        # SDK 2.x has no `temperature` argument (current models fix their sampling): when the user
        # sets one, it goes into the body as it is for servers and models that still take it.
        taken = {"temperature": params.pop("temperature")} if "temperature" in params else {}
        extra = {**taken, **self.extra_body} or None
        client = self._client()
        started = time.perf_counter()
        try:
            # the raw response: its anthropic-ratelimit-* headers tell the limiter to slow down
            raw = await client.messages.with_raw_response.create(**params, extra_body=extra)
            message = await raw.parse()
        except Exception as exc:
            raise self._error(exc) from None
        try:
            completion = self.to_completion(message, time.perf_counter() - started)
        except (AttributeError, TypeError, ValueError) as exc:
            raise distil.TransientProviderError(
                f"anthropic.messages ({self.model}): the answer is not a Messages API message: {exc}"
            ) from None
        limits = distil.rate_limit_state(raw.headers)
        if limits:  # read (and removed) by the teacher's rate limiter
            completion.meta["rate_limit"] = limits
        return completion

    async def complete_batch(self, prompts: list[distil.Prompt]) -> list[distil.Completion]:
        if len(prompts) == 1:  # the teacher's usual call: awaited in place, not in a Task
            return [await self.complete(prompts[0])]
        return list(await asyncio.gather(*(self.complete(p) for p in prompts)))

    # -- Message Batches ----------------------------------------------------------------------------
    async def submit_batch(self, requests: list[tuple[str, distil.Prompt]]) -> str:
        bad = [cid for cid, _ in requests if not _CUSTOM_ID.match(cid)]
        if bad:
            raise distil.ProviderError(
                f"anthropic.messages: batch custom ids must match ^[a-zA-Z0-9_-]{{1,64}}$; "
                f"{len(bad)} do not, e.g. {bad[0][:80]!r}"
            )
        body = [{"custom_id": cid, "params": self.request_params(p)} for cid, p in requests]
        client = self._client()
        try:
            batch = await client.messages.batches.create(requests=body)
        except Exception as exc:
            raise self._error(exc) from None
        return str(batch.id)

    async def batch_status(self, job_id: str) -> str:
        client = self._client()
        try:
            batch = await client.messages.batches.retrieve(job_id)
        except Exception as exc:
            raise self._error(exc) from None
        if batch.processing_status != "ended":
            return "pending"
        counts = batch.request_counts
        total = counts.succeeded + counts.errored + counts.canceled + counts.expired
        if total and counts.canceled == total:
            return "cancelled"
        if total and counts.expired == total:
            return "expired"
        return "done"

    async def batch_results(self, job_id: str) -> dict[str, distil.Completion | Exception]:
        client = self._client()
        out: dict[str, distil.Completion | Exception] = {}
        try:
            decoder = await client.messages.batches.results(job_id)
            async for line in decoder:
                out[line.custom_id] = self._batch_item(line.result.model_dump())
        except Exception as exc:
            raise self._error(exc) from None
        return out

    def _batch_item(self, result: dict[str, Any]) -> distil.Completion | Exception:
        kind = result.get("type")
        if kind == "succeeded":
            completion = self.to_completion(result["message"])
            return completion.model_copy(update={"meta": {**completion.meta, "batch": True}})
        if kind == "errored":
            error = (result.get("error") or {}).get("error") or {}
            etype = error.get("type") or "api_error"
            message = f"anthropic.messages batch request {etype}: {error.get('message')}"
            if etype == "rate_limit_error":
                return distil.RateLimitError(message, status=429)
            if etype in _RETRYABLE_ERRORS:
                return distil.TransientProviderError(message)
            return distil.ProviderError(message)
        # canceled or expired: never processed, a later attempt may succeed
        return distil.TransientProviderError(f"anthropic.messages batch request was {kind}")

    # -- errors -------------------------------------------------------------------------------------
    def _error(self, exc: Exception) -> distil.ProviderError:
        """distil's error for an SDK failure; the message never carries the API key."""
        if isinstance(exc, distil.ProviderError):
            return exc
        import anthropic

        where = f"anthropic.messages ({self.model})"
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            kind = getattr(exc, "type", None) or "error"
            detail = getattr(exc, "api_message", None) or exc.message
            request_id = getattr(exc, "request_id", None)
            message = f"{where}: HTTP {status} {kind}: {detail}" + (
                f" (request-id {request_id})" if request_id else ""
            )
            hint = f"check the key in ${self.api_key_env}"
            # core's one mapping: 429 → RateLimitError, 408/409/425/5xx (529) → transient
            # (both with Retry-After as seconds or a date), any other status → permanent.
            return distil.http_error(
                status,
                exc.response.headers,
                getattr(exc, "body", None),
                where=where,
                message=message,
                hints={401: hint, 403: hint},
                redact=distil.redact_secrets,
                parameters={
                    **PARAMETER_HINTS,
                    **{
                        k: f"remove {k!r} from teacher.provider.extra_body" for k in self.extra_body
                    },
                },
            )
        if isinstance(exc, anthropic.APITimeoutError):
            return distil.timeout_error(f"{where} (teacher.provider.timeout)", self.timeout)
        if isinstance(exc, anthropic.APIConnectionError):
            return distil.TransientProviderError(f"{where}: connection failed: {exc}")
        if isinstance(exc, anthropic.APIResponseValidationError | ValueError):
            # ValueError covers json.JSONDecodeError: a 200 whose body is not valid JSON.
            return distil.TransientProviderError(
                distil.redact_secrets(f"{where}: the server's answer could not be read: {exc}")
            )
        if isinstance(exc, anthropic.AnthropicError):
            return distil.ProviderError(distil.redact_secrets(f"{where}: {exc}"))
        raise exc
