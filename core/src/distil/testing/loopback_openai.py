"""The OpenAI wire format for the loopback server: chat completions, files, batches, models.

Faithful enough for the real ``openai`` SDK (and anything else that speaks the format), so a
provider is tested over real HTTP with no mock of the SDK::

    with LoopbackLLM(answer=my_answer) as server:
        install_openai(server, batch_polls=2)
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)

What the routes do:

- ``POST /v1/chat/completions`` reads ``model``, ``messages``, ``max_tokens`` (or
  ``max_completion_tokens``), ``response_format`` and ``logprobs``, and answers
  ``server.answer(request)`` where ``request`` is the normalised form
  ``{"system", "messages", "schema", "model", "max_tokens", "logprobs"}``. An answer with more
  tokens (:func:`~distil.testing.loopback.count_tokens`: words) than ``max_tokens`` is cut to
  ``max_tokens`` words with ``finish_reason="length"``. An answer that starts with
  :data:`REFUSE` becomes a refusal (``message.refusal``, no content). Usage counts the words of
  every message content (prompt) and of the answer (completion) and is billed to
  ``server.bill``. With ``logprobs`` every answer word is one token whose logprobs sum to
  ``log(confidence(request))`` (0 without a ``confidence`` function); a server installed with
  ``logprobs=False`` sends ``"logprobs": null`` instead, as many servers do.
- ``POST /v1/files`` (multipart, ``purpose=batch``), ``GET /v1/files/{id}``,
  ``GET /v1/files/{id}/content``; ``POST /v1/batches``, ``GET /v1/batches/{id}``,
  ``POST /v1/batches/{id}/cancel``. A batch reports ``validating`` when created, ``in_progress``
  on polls before the ``batch_polls``-th and ``completed`` from then on; its requests are answered
  when it completes: successes in the output file, failures (bad request, an answer function
  that raised) in the error file, one line per request.
- ``GET /v1/models`` lists ``models`` and every model name seen so far.
- :func:`install_azure_openai` adds Azure OpenAI's shape:
  ``POST /openai/deployments/{name}/chat/completions?api-version=...`` with an ``api-key`` header.
- ``usage.prompt_tokens_details.cached_tokens`` is always reported: 0, or with
  ``prompt_cache=True`` the tokens of a shared prefix seen before (OpenAI's automatic caching).

Errors have OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``; every response
carries an ``x-request-id``. With ``api_key`` set, requests without ``Authorization: Bearer
<api_key>`` get a 401 whose message repeats the key that was sent, as a careless server might: a
provider must keep it out of its own errors. State (files, batches) lives in
``server.state["openai"]``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .loopback import LoopbackLLM, Request, Response, count_tokens

#: An answer that starts with this marker is sent as a refusal (the rest is the refusal text).
REFUSE = "REFUSE:"


@dataclass
class OpenAIState:
    """What the OpenAI routes keep between requests (``server.state["openai"]``)."""

    batch_polls: int = 2
    models: list[str] = field(default_factory=lambda: ["loopback-model"])
    api_key: str | None = None
    confidence: Callable[[dict[str, Any]], float] | None = None
    #: Whether requests that ask for logprobs get them (False: ``"logprobs": null``).
    logprobs: bool = True
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    seen_models: set[str] = field(default_factory=set)
    #: Simulate OpenAI's automatic prompt caching (see :func:`install_openai`).
    prompt_cache: bool = False
    cache_min_tokens: int = 0
    prefixes: set[str] = field(default_factory=set)
    #: A response header that repeats the credential the request sent (a careless server).
    echo_key_header: str | None = None
    #: ``(requests, window_s)``: the live chat route's limit (see :func:`install_openai`).
    rate_limit: tuple[int, float] | None = None
    window_start: float = 0.0
    window_count: int = 0
    #: Chat requests refused with a 429 by ``rate_limit``.
    rejected: int = 0


def install_openai(
    server: LoopbackLLM,
    *,
    batch_polls: int = 2,
    models: list[str] | None = None,
    api_key: str | None = None,
    confidence: Callable[[dict[str, Any]], float] | None = None,
    logprobs: bool = True,
    prompt_cache: bool = False,
    cache_min_tokens: int = 0,
    echo_key_header: str | None = None,
    rate_limit: tuple[int, float] | None = None,
) -> OpenAIState:
    """Register the OpenAI routes on ``server`` and return their state.

    ``batch_polls``: how many ``GET /v1/batches/{id}`` it takes for a batch to complete.
    ``api_key``: when set, the key every request must send. ``confidence``: the probability
    (0, 1] of a request's answer, spread over its tokens' logprobs. ``logprobs=False``: a server
    that returns no logprobs even when asked (like most LLM APIs but OpenAI's own).
    ``prompt_cache``: OpenAI's automatic prompt caching: a request whose messages before the last
    one (the shared prefix) were seen before, with at least ``cache_min_tokens`` tokens (OpenAI:
    1,024), reports those tokens in ``usage.prompt_tokens_details.cached_tokens`` (they stay in
    ``prompt_tokens``, as OpenAI counts them). ``echo_key_header``: every answer carries this
    header with the credential the request sent (``Authorization``, or Azure's ``api-key``).
    ``rate_limit=(n, window_s)``: ``POST /v1/chat/completions`` takes ``n`` requests per window
    (from the window's first request) and says so in ``x-ratelimit-limit-requests``,
    ``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests`` (``"250ms"``), as OpenAI
    does; one more in the window gets a 429 with ``retry-after`` (counted in ``state.rejected``).
    """
    state = OpenAIState(
        batch_polls=batch_polls,
        api_key=api_key,
        confidence=confidence,
        logprobs=logprobs,
        prompt_cache=prompt_cache,
        cache_min_tokens=cache_min_tokens,
        echo_key_header=echo_key_header,
        rate_limit=rate_limit,
    )
    if models is not None:
        state.models = list(models)
    server.state["openai"] = state
    routes: list[tuple[str, str, Callable[[LoopbackLLM, Request], Response]]] = [
        ("POST", "/v1/chat/completions", _chat_route),
        ("POST", "/v1/files", _upload_file),
        ("POST", "/v1/batches", _create_batch),
        ("GET", "/v1/models", _list_models),
    ]
    for method, path, handler in routes:
        server.route(method, path, _guarded(handler))
    server.route_prefix("GET", "/v1/files/", _guarded(_get_file))
    server.route_prefix("GET", "/v1/batches/", _guarded(_get_batch))
    server.route_prefix("POST", "/v1/batches/", _guarded(_cancel_batch))
    return state


# -- plumbing -------------------------------------------------------------------------------------
def _state(server: LoopbackLLM) -> OpenAIState:
    state = server.state["openai"]
    assert isinstance(state, OpenAIState)
    return state


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def error_body(
    message: str, kind: str = "invalid_request_error", code: str | None = None
) -> dict[str, Any]:
    """An error body in OpenAI's shape."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error(
    status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
) -> Response:
    """An error response in OpenAI's shape."""
    return Response(status, error_body(message, kind, code))


def _guarded(
    handler: Callable[[LoopbackLLM, Request], Response],
) -> Callable[[LoopbackLLM, Request], Response]:
    """Check the key (when one is required) and stamp an ``x-request-id`` on the answer."""

    def route(server: LoopbackLLM, request: Request) -> Response:
        expected = _state(server).api_key
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if expected is not None and sent != expected:
            response = error(
                401,
                f"Incorrect API key provided: {sent}. You can find your API key in your account.",
                "invalid_request_error",
                "invalid_api_key",
            )
        else:
            response = handler(server, request)
        response.headers.setdefault("x-request-id", _new_id("req"))
        _echo_key(_state(server), request, response)
        return response

    return route


def _echo_key(state: OpenAIState, request: Request, response: Response) -> None:
    if state.echo_key_header:
        sent = request.headers.get("authorization") or request.headers.get("api-key") or ""
        response.headers[state.echo_key_header] = sent


# -- chat completions ----------------------------------------------------------------------------
def _content_text(content: Any) -> str:
    """A message content as text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def normalise(body: dict[str, Any]) -> dict[str, Any]:
    """The wire-independent request the answer function reads."""
    messages = [
        {"role": str(m.get("role", "user")), "content": _content_text(m.get("content"))}
        for m in body.get("messages", [])
        if isinstance(m, dict)
    ]
    system = "\n".join(m["content"] for m in messages if m["role"] in {"system", "developer"})
    schema = None
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    return {
        "system": system,
        "messages": [m for m in messages if m["role"] not in {"system", "developer"}],
        "schema": schema,
        "model": body.get("model"),
        "max_tokens": max_tokens,
        "logprobs": bool(body.get("logprobs")),
    }


def _validate(body: Any) -> str | None:
    """Why a chat request is invalid, or None."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        return f"invalid max_tokens: {max_tokens!r} (expected an integer >= 1)"
    return None


def _logprobs(words: list[str], confidence: float) -> dict[str, Any]:
    per_token = math.log(confidence) / len(words) if words and confidence > 0 else 0.0
    content = []
    for i, word in enumerate(words):
        token = word if i == 0 else " " + word
        content.append(
            {
                "token": token,
                "logprob": per_token,
                "bytes": list(token.encode("utf-8")),
                "top_logprobs": [],
            }
        )
    return {"content": content, "refusal": None}


def chat_completion(server: LoopbackLLM, body: Any) -> tuple[int, dict[str, Any]]:
    """Answer one chat request body: ``(status, response body)``. Used by the route and batches."""
    problem = _validate(body)
    if problem is not None:
        return 400, error_body(problem)
    state = _state(server)
    request = normalise(body)
    state.seen_models.add(body["model"])
    text = server.answer(request)
    prompt_tokens = sum(count_tokens(m["content"]) for m in request["messages"]) + count_tokens(
        request["system"]
    )
    finish_reason = "stop"
    refusal = None
    content: str | None = text
    if text.startswith(REFUSE):
        refusal, content = text[len(REFUSE) :].strip(), None
        words = refusal.split()
    else:
        words = text.split()
        limit = request["max_tokens"]
        if limit is not None and len(words) > limit:
            words = words[:limit]
            content = " ".join(words)
            finish_reason = "length"
    completion_tokens = len(words)
    cached = _cached_prefix_tokens(state, body)
    server.bill(prompt_tokens, completion_tokens, cached_input_tokens=cached)
    logprobs = None
    if request["logprobs"] and state.logprobs and content is not None:
        confidence = state.confidence(request) if state.confidence is not None else 1.0
        logprobs = _logprobs(words, confidence)
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": refusal},
        "logprobs": logprobs,
        "finish_reason": finish_reason,
    }
    return 200, {
        "id": _new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_loopback",
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def _cached_prefix_tokens(state: OpenAIState, body: dict[str, Any]) -> int:
    """The prefix tokens served from the simulated prompt cache (and remember the prefix)."""
    if not state.prompt_cache:
        return 0
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    prefix = messages[:-1]
    tokens = sum(count_tokens(_content_text(m.get("content"))) for m in prefix)
    if not prefix or tokens < max(1, state.cache_min_tokens):
        return 0
    key = json.dumps([body.get("model"), prefix], sort_keys=True)
    if key in state.prefixes:
        return tokens
    state.prefixes.add(key)
    return 0


def _take_rate_limit(server: LoopbackLLM) -> tuple[dict[str, str], Response | None]:
    """The rate-limit headers of one chat request, and the 429 when it is over the limit."""
    state = _state(server)
    if state.rate_limit is None:
        return {}, None
    limit, window = state.rate_limit
    with server.lock:
        now = time.monotonic()
        if state.window_count == 0 or now - state.window_start >= window:
            state.window_start, state.window_count = now, 0
        reset = max(0.0, window - (now - state.window_start))
        over = state.window_count >= limit
        if over:
            state.rejected += 1
        else:
            state.window_count += 1
        remaining = limit - state.window_count
    headers = {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": f"{round(reset * 1000)}ms",
    }
    if not over:
        return headers, None
    refusal = error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded")
    refusal.headers.update({**headers, "retry-after": f"{reset:.3f}"})
    return headers, refusal


def _chat_route(server: LoopbackLLM, request: Request) -> Response:
    try:
        body = request.json()
    except ValueError:
        return error(400, "the request body is not valid JSON")
    headers, refusal = _take_rate_limit(server)
    if refusal is not None:
        return refusal
    status, payload = chat_completion(server, body)
    return Response(status, payload, headers)


def _list_models(server: LoopbackLLM, request: Request) -> Response:
    state = _state(server)
    names = list(dict.fromkeys([*state.models, *sorted(state.seen_models)]))
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "loopback"} for n in names]
    return Response(200, {"object": "list", "data": data})


# -- files ---------------------------------------------------------------------------------------
def _multipart(request: Request) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    ctype = request.headers.get("content-type", "")
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str):
            fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return fields


def _store_file(state: OpenAIState, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
    file_id = _new_id("file")
    meta = {
        "id": file_id,
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": None,
    }
    state.files[file_id] = meta
    state.contents[file_id] = content
    return meta


def _upload_file(server: LoopbackLLM, request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return error(400, "file uploads must be multipart/form-data")
    fields = _multipart(request)
    if "file" not in fields or "purpose" not in fields:
        return error(400, "a file upload needs the fields 'file' and 'purpose'")
    filename, content = fields["file"]
    purpose = fields["purpose"][1].decode("utf-8")
    if purpose == "batch":
        for number, line in enumerate(content.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                return error(400, f"line {number} of the batch file is not valid JSON")
            if not isinstance(row, dict) or not {"custom_id", "body"} <= row.keys():
                return error(400, f"line {number} of the batch file needs custom_id and body")
    with server.lock:
        meta = _store_file(_state(server), content, filename or "upload", purpose)
    return Response(200, meta)


def _get_file(server: LoopbackLLM, request: Request) -> Response:
    state = _state(server)
    rest = request.path.removeprefix("/v1/files/")
    file_id, _, tail = rest.partition("/")
    if file_id not in state.files:
        return error(404, f"No such File object: {file_id}", code="not_found")
    if tail == "content":
        return Response(200, state.contents[file_id], {"content-type": "application/octet-stream"})
    if tail:
        return error(404, f"no route GET {request.path}", code="not_found")
    return Response(200, state.files[file_id])


# -- batches -------------------------------------------------------------------------------------
def _create_batch(server: LoopbackLLM, request: Request) -> Response:
    state = _state(server)
    body = request.json()
    if not isinstance(body, dict):
        return error(400, "the request body must be a JSON object")
    input_file_id = body.get("input_file_id")
    if input_file_id not in state.files:
        return error(404, f"No such File object: {input_file_id}", code="not_found")
    if body.get("endpoint") != "/v1/chat/completions":
        return error(400, f"unsupported batch endpoint {body.get('endpoint')!r}")
    if body.get("completion_window") != "24h":
        return error(400, "completion_window must be '24h'")
    lines = state.contents[input_file_id].decode("utf-8").splitlines()
    total = sum(1 for line in lines if line.strip())
    batch = {
        "id": _new_id("batch"),
        "object": "batch",
        "endpoint": body["endpoint"],
        "errors": None,
        "input_file_id": input_file_id,
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": int(time.time()),
        "in_progress_at": None,
        "expires_at": int(time.time()) + 86400,
        "completed_at": None,
        "cancelled_at": None,
        "request_counts": {"total": total, "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
    }
    with server.lock:
        state.batches[batch["id"]] = batch
        state.polls[batch["id"]] = 0
    return Response(200, batch)


def _run_batch(server: LoopbackLLM, state: OpenAIState, batch: dict[str, Any]) -> None:
    """Answer every request of a batch; write the output and error files."""
    outputs: list[str] = []
    errors: list[str] = []
    for line in state.contents[batch["input_file_id"]].decode("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            status, payload = chat_completion(server, row.get("body"))
        except Exception as exc:  # the answer function failed for this request
            status, payload = 500, error_body(f"{type(exc).__name__}: {exc}", "server_error")
        result = {
            "id": _new_id("batch_req"),
            "custom_id": row["custom_id"],
            "response": {"status_code": status, "request_id": _new_id("req"), "body": payload},
            "error": None,
        }
        (outputs if status == 200 else errors).append(json.dumps(result))
    now = int(time.time())
    for name, rows in (("output_file_id", outputs), ("error_file_id", errors)):
        if rows:
            content = ("\n".join(rows) + "\n").encode("utf-8")
            batch[name] = _store_file(
                state, content, f"{batch['id']}_{name}.jsonl", "batch_output"
            )["id"]
    batch["request_counts"] = {
        "total": len(outputs) + len(errors),
        "completed": len(outputs),
        "failed": len(errors),
    }
    batch.update(status="completed", completed_at=now, finalizing_at=now)


def _get_batch(server: LoopbackLLM, request: Request) -> Response:
    state = _state(server)
    batch_id = request.path.removeprefix("/v1/batches/")
    with server.lock:
        batch = state.batches.get(batch_id)
        if batch is None:
            return error(404, f"No such Batch object: {batch_id}", code="not_found")
        if batch["status"] in {"validating", "in_progress"}:
            state.polls[batch_id] += 1
            done = state.polls[batch_id] >= state.batch_polls
            started = batch["in_progress_at"] or int(time.time())
            # "finalizing" while its answers are made, so that a concurrent poll runs nothing twice
            batch.update(status="finalizing" if done else "in_progress", in_progress_at=started)
        else:
            done = False
    if done:
        _run_batch(server, state, batch)  # outside the lock: it bills through server.bill
    return Response(200, batch)


def _cancel_batch(server: LoopbackLLM, request: Request) -> Response:
    state = _state(server)
    batch_id, _, action = request.path.removeprefix("/v1/batches/").partition("/")
    if action != "cancel":
        return error(404, f"no route POST {request.path}", code="not_found")
    with server.lock:
        batch = state.batches.get(batch_id)
        if batch is None:
            return error(404, f"No such Batch object: {batch_id}", code="not_found")
        if batch["status"] in {"validating", "in_progress"}:
            batch.update(status="cancelled", cancelled_at=int(time.time()))
    return Response(200, batch)


# -- Azure OpenAI ---------------------------------------------------------------------------------
AZURE_PREFIX = "/openai/deployments/"


def install_azure_openai(
    server: LoopbackLLM,
    *,
    api_key: str | None = None,
    api_version: str | None = None,
    **options: Any,
) -> OpenAIState:
    """Serve Azure OpenAI's URL shape on ``server`` (besides the OpenAI routes).

    ``POST /openai/deployments/{deployment}/chat/completions?api-version=...`` answers as the
    OpenAI route does, for the deployment's name as the model when the body names none. A request
    without ``api-version`` (or with another one than ``api_version``, when given) gets Azure's
    404; with ``api_key`` set, one whose ``api-key`` header differs gets Azure's 401 (an
    ``Authorization: Bearer`` header does not count: Azure keys go in ``api-key``). ``options``
    go to :func:`install_openai` when the OpenAI routes are not installed yet. The deployments
    called are in ``server.state["azure_openai"]["deployments"]``.
    """
    state = server.state.get("openai")
    if not isinstance(state, OpenAIState):
        state = install_openai(server, **options)
    server.state["azure_openai"] = {
        "api_key": api_key,
        "api_version": api_version,
        "deployments": set(),
    }
    server.route_prefix("POST", AZURE_PREFIX, _azure_route)
    return state


def _azure_error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})


def _azure_route(server: LoopbackLLM, request: Request) -> Response:
    from urllib.parse import parse_qs

    azure = server.state["azure_openai"]
    deployment, _, tail = request.path.removeprefix(AZURE_PREFIX).partition("/")
    versions = parse_qs(request.query).get("api-version", [])
    if tail != "chat/completions" or not deployment:
        response = _azure_error(404, "404", "Resource not found")
    elif not versions or (azure["api_version"] and versions[0] != azure["api_version"]):
        response = _azure_error(404, "404", "Resource not found (api-version)")
    elif azure["api_key"] is not None and request.headers.get("api-key") != azure["api_key"]:
        response = _azure_error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
            "to provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.",
        )
    else:
        try:
            body = request.json()
        except ValueError:
            return error(400, "the request body is not valid JSON")
        if isinstance(body, dict) and not body.get("model"):
            body["model"] = deployment
        with server.lock:
            azure["deployments"].add(deployment)
        status, payload = chat_completion(server, body)
        response = Response(status, payload)
    response.headers.setdefault("apim-request-id", _new_id("apim"))
    _echo_key(_state(server), request, response)
    return response
