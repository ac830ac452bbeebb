"""``openai.chat``: OpenAI chat completions, and every server that speaks them (vLLM, Ollama, ...).

One :class:`openai.AsyncOpenAI` client per provider and event loop, made on first use with
``max_retries=0``: distil's retry layer (which honours ``Retry-After``) is the only one, so a
429 is not retried three times over. The SDK is imported on first use, never at plugin import.

With ``logprobs = true`` and a server that sends none (most compatible servers and hosted APIs
but OpenAI's own), the answers still parse, with no confidence: the provider logs one warning a
run (a run is one event loop, as each label run is) on the ``distil_openai`` logger, and counts
those answers in :attr:`OpenAIProvider.logprobs_missing`. It never fails a request for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import distil

from . import capabilities as caps
from . import errors, secrets, wire

logger = logging.getLogger("distil_openai")

#: OpenAI batch statuses as distil's: pending, done, or a final failure.
BATCH_STATUS = {
    "validating": "pending",
    "in_progress": "pending",
    "finalizing": "pending",
    "cancelling": "pending",
    "completed": "done",
    "failed": "failed",
    "expired": "expired",
    "cancelled": "cancelled",
}


def public_url(url: str | None) -> str | None:
    """``url`` without user:password (a base_url may carry credentials; they stay out of logs)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _string_map(value: Mapping[str, Any] | None, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise distil.ConfigError(
            f"teacher.provider.{key} must map header names to strings, e.g. "
            '{"X-Team": "search"}; keys go in the environment (api_key_env), never here'
        )
    return dict(value)


async def _close_with_loop(client: Any) -> AsyncGenerator[None, None]:
    # An async generator the event loop closes at shutdown (asyncio.run calls
    # loop.shutdown_asyncgens()): its finally closes the client in the loop it was made for.
    try:
        yield
    finally:
        await client.close()


class OpenAIProvider(distil.Provider):
    """Chat completions through the official ``openai`` SDK.

    The API key is read from the environment variable named ``api_key_env`` when a client is
    made; it is never stored on the provider, in its params, cache identity or description.
    """

    name: ClassVar[str] = "openai.chat"
    style: ClassVar[str] = "chat"
    capabilities: ClassVar[frozenset[str]] = frozenset({"structured_output", "logprobs", "batch"})
    supports_batch: ClassVar[bool] = True

    def __init__(
        self,
        model: str,
        *,
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
    ) -> None:
        where = self.name
        if not model:
            raise distil.ConfigError(f"{where}: model must be a model name, e.g. 'gpt-4o-mini'")
        if max_tokens < 1:
            raise distil.ConfigError(f"{where}: max_tokens must be >= 1, got {max_tokens}")
        if timeout <= 0:
            raise distil.ConfigError(f"{where}: timeout must be > 0 seconds, got {timeout}")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.extra_headers = _string_map(extra_headers, "extra_headers")
        extra = dict(extra_body or {})
        #: What the model takes (defaults by model-name pattern, the config's block on top).
        self.caps = caps.resolve(model, hosted=self.hosted, overrides=capabilities)
        if reasoning_effort is not None and not self.caps.reasoning_effort:
            raise distil.ConfigError(
                f"teacher.provider.reasoning_effort: {model!r} does not take reasoning_effort "
                f"(it is not a reasoning model by name); remove it, or set "
                f"{caps.WHERE}.reasoning_effort = true if the model takes it"
            )
        if logprobs and not self.caps.logprobs:
            raise distil.ConfigError(
                f"teacher.provider.logprobs: {model!r} does not return logprobs (reasoning "
                f"models refuse them); set logprobs = false, or {caps.WHERE}.logprobs = true "
                "if the model returns them"
            )
        style = self.caps.structured_output if structured_output else "none"
        self.options = wire.Options(
            model=model,
            max_tokens=max_tokens,
            temperature=temperature if self.caps.temperature else None,
            seed=seed if self.caps.seed else None,
            structured_output=style != "none",
            logprobs=logprobs,
            max_tokens_field=self.caps.max_tokens_field,
            reasoning_effort=reasoning_effort,
            json_mode=style == "json_object",
            extra_body=extra,
        )
        #: A 400 naming one of these parameters says which config key to change.
        self.parameter_hints = {
            **caps.PARAMETER_HINTS,
            **{k: f"remove {k!r} from teacher.provider.extra_body" for k in extra},
        }
        # params: what changes the answer (hashed into the cache key); never the key, and no
        # header values (a gateway's headers may carry credentials).
        params: dict[str, Any] = {
            "base_url": public_url(self.base_url),
            "max_tokens": max_tokens,
            "temperature": self.options.temperature,
            "seed": self.options.seed,
            "structured_output": self.options.structured_output,
            "logprobs": logprobs,
        }
        # Only when set, so that configs without them keep their cache keys.
        if reasoning_effort is not None:
            params["reasoning_effort"] = reasoning_effort
        if self.options.json_mode:
            params["json_mode"] = True
        if extra:
            params["extra_body"] = extra
        super().__init__(model, params)
        self._client: Any = None
        self._response_class: Any = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncGenerator[None, None] | None = None
        #: Answers of the current run that came without the logprobs the config asks for.
        self.logprobs_missing = 0
        self._run_loop: asyncio.AbstractEventLoop | None = None

    @property
    def hosted(self) -> bool:
        """True for OpenAI's own API (no base_url): it reads max_completion_tokens for every
        model; compatible servers read max_tokens."""
        return self.base_url is None

    def __repr__(self) -> str:
        where = f", base_url={public_url(self.base_url)!r}" if self.base_url else ""
        return f"OpenAIProvider(model={self.model!r}{where}, api_key_env={self.api_key_env!r})"

    # -- the client -------------------------------------------------------------------------
    async def client(self) -> Any:
        """The SDK client of the running event loop (made on first use, with the current key)."""
        loop = asyncio.get_running_loop()
        if self._run_loop is not loop:  # a new run: count (and warn about) its answers afresh
            self._run_loop, self.logprobs_missing = loop, 0
        key = self._key()
        # A new client when the loop changed (a client is bound to its loop) or the key did.
        if self._client is None or self._client_loop is not loop or self._client.api_key != key:
            import openai
            import openai._base_client as base_client

            # The SDK's HTTP library: httpx for openai 1.x, httpx2 for 3.x.
            http = getattr(base_client, "httpx2", None) or getattr(base_client, "httpx")  # noqa: B009
            self._response_class = http.Response
            secrets.install_filter()  # the SDK's loggers exist now
            self._client = self._new_client(openai, key)
            self._client_loop = loop
            self._closer = _close_with_loop(self._client)
            await self._closer.__anext__()
        return self._client

    def _key(self) -> str:
        return secrets.read_key(self.api_key_env, self.base_url, where=self.name)

    def _new_client(self, openai: Any, key: str) -> Any:
        return openai.AsyncOpenAI(
            api_key=key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout,
            default_headers=self.extra_headers or None,
        )

    def _error(self, exc: BaseException) -> distil.ProviderError:
        return errors.from_exception(
            exc, where=self.name, timeout=self.timeout, parameters=self.parameter_hints
        )

    async def aclose(self) -> None:
        """Close the SDK client now (it is also closed when its event loop shuts down)."""
        if self._closer is not None:
            closer, self._closer, self._client = self._closer, None, None
            await closer.aclose()

    # -- one request --------------------------------------------------------------------------
    async def complete(self, prompt: distil.Prompt) -> distil.Completion:
        client = await self.client()
        body = wire.request_body(self.options, prompt)
        started = time.perf_counter()
        try:
            # client.post, the SDK's documented way to send a body as it is: ours is plain JSON
            # already, so the typed-params transform of chat.completions.create (about 0.5-1 ms
            # of CPU per call) is skipped. Status errors, timeouts and auth work as in create.
            response = await client.post(
                "/chat/completions", body=body, cast_to=self._response_class
            )
            payload = response.json()
        except Exception as exc:
            raise self._error(exc) from None  # the SDK's error may quote the key
        latency = time.perf_counter() - started
        if not isinstance(payload, dict):
            raise distil.TransientProviderError(
                "openai.chat: the server's answer is not a JSON object"
            )
        structured = self.options.structured_output and prompt.json_schema is not None
        completion = wire.to_completion(
            payload, self.options, structured=structured, latency_s=latency
        )
        limits = distil.rate_limit_state(response.headers)
        if limits:  # read (and removed) by the teacher's rate limiter: slow down before a 429
            completion.meta["rate_limit"] = limits
        self._check_logprobs(completion)
        return completion

    def _check_logprobs(self, completion: distil.Completion) -> None:
        """Count an answer that lacks the logprobs asked for; warn at the run's first one."""
        if not completion.meta.get(wire.LOGPROBS_MISSING):
            return
        self.logprobs_missing += 1
        if self.logprobs_missing == 1:
            server = public_url(self.base_url) or "the OpenAI API"
            logger.warning(
                "%s returned no logprobs: confidence is unknown; the queue will rank by label "
                "issues instead (the config asks for logprobs = true, but %s sent none; set "
                "logprobs = false to stop asking)",
                self.describe(),
                server,
            )

    async def complete_batch(self, prompts: list[distil.Prompt]) -> list[distil.Completion]:
        if len(prompts) == 1:  # the teacher's usual call: awaited in place, not in a Task
            return [await self.complete(prompts[0])]
        return list(await asyncio.gather(*(self.complete(p) for p in prompts)))

    # -- the Batch API ------------------------------------------------------------------------
    async def submit_batch(self, requests: list[tuple[str, distil.Prompt]]) -> str:
        """Upload the requests as a JSONL file and start a batch job; return the batch id."""
        if not requests:
            raise distil.ProviderError("openai.chat: a batch needs at least one request")
        client = await self.client()
        lines = [
            json.dumps(
                {
                    "custom_id": custom_id,
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": wire.request_body(self.options, prompt),
                }
            )
            for custom_id, prompt in requests
        ]
        content = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            upload = await client.files.create(
                file=("distil-batch.jsonl", content, "application/jsonl"), purpose="batch"
            )
            batch = await client.batches.create(
                input_file_id=upload.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"created_by": "distil"},
            )
        except Exception as exc:
            raise self._error(exc) from None
        return str(batch.id)

    async def _batch(self, job_id: str) -> Any:
        client = await self.client()
        try:
            return await client.batches.retrieve(job_id)
        except Exception as exc:
            raise self._error(exc) from None

    async def batch_status(self, job_id: str) -> str:
        batch = await self._batch(job_id)
        return BATCH_STATUS.get(str(batch.status), "failed")

    async def batch_results(self, job_id: str) -> dict[str, distil.Completion | Exception]:
        """Every answered request of a completed batch: a Completion, or its error."""
        batch = await self._batch(job_id)
        if batch.status != "completed":
            raise distil.ProviderError(
                f"openai.chat: batch {job_id} is {batch.status}, not completed; "
                "ask for results once batch_status says 'done'"
            )
        client = await self.client()
        results: dict[str, distil.Completion | Exception] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            try:
                text = (await client.files.content(file_id)).text
            except Exception as exc:
                raise self._error(exc) from None
            for line in text.splitlines():
                if line.strip():
                    custom_id, result = self._batch_line(line, job_id)
                    results[custom_id] = result
        return results

    def _batch_line(self, line: str, job_id: str) -> tuple[str, distil.Completion | Exception]:
        row = json.loads(line)
        custom_id = str(row.get("custom_id"))
        response = row.get("response") or {}
        status = int(response.get("status_code") or 0)
        body = response.get("body")
        if row.get("error") or status != 200 or not isinstance(body, dict):
            if status and status != 200:
                return custom_id, errors.from_status(
                    status, body, what="batch request", parameters=self.parameter_hints
                )
            message = (row.get("error") or {}).get("message") or "no answer"
            return custom_id, distil.TransientProviderError(
                secrets.redact(f"openai.chat: batch request {custom_id} failed: {message}")
            )
        structured = self.options.structured_output
        try:
            completion = wire.to_completion(body, self.options, structured=structured)
        except distil.ProviderError as exc:
            return custom_id, exc
        completion.meta["batch_id"] = job_id
        self._check_logprobs(completion)
        return custom_id, completion

    # -- identity -----------------------------------------------------------------------------
    def describe(self) -> str:
        return f"{self.name}/{self.model}"
