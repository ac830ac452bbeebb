"""The Anthropic Messages wire format for the loopback server, faithful enough for the real SDK.

:func:`install_anthropic` adds these routes to a :class:`~distil.testing.loopback.LoopbackLLM`:

- ``POST /v1/messages``: one message. The request is checked the way the API checks it (``model``,
  ``messages`` and ``max_tokens`` are required: 400 ``invalid_request_error`` without them; a
  forced ``tool_choice`` must name a tool that was sent), normalised to ``{"system", "messages",
  "schema", "model"}`` and given to ``server.answer``. With a forced tool the answer text (JSON) comes
  back as a ``tool_use`` block whose ``input`` is the parsed object, otherwise as a ``text`` block.
- ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}`` (``in_progress`` for
  ``batch_polls`` polls, then ``ended`` with a ``results_url`` on this server),
  ``GET /v1/messages/batches/{id}/results`` (JSONL, one line per request) and
  ``POST /v1/messages/batches/{id}/cancel``. The SDK's ``batches.results(id)`` retrieves the batch
  first and then GETs its ``results_url`` as an absolute URL, so that URL points back here.

Conventions of the loopback model (documented so that tests can rely on them):

- Tokens are :func:`~distil.testing.loopback.count_tokens` words. Input tokens count the system
  prompt and every message; output tokens count the answer text. Every answered message is billed
  with ``server.bill`` with exactly the usage it reports.
- **Truncation**: when the answer has more tokens than ``max_tokens``, ``stop_reason`` is
  ``"max_tokens"`` and ``output_tokens == max_tokens``. A text answer is cut to its first
  ``max_tokens`` words. A forced tool answer keeps its ``tool_use`` block, as the API does, but its
  ``input`` is ``{}``: the real API cannot hand back half a JSON object, and an empty object is the
  partial input that fails the task schema. Clients must look at ``stop_reason``, not at the input.
- An answer text that is not a JSON object, under a forced tool, comes back as a ``text`` block
  with ``stop_reason: "end_turn"`` (a model that ignored the tool): the way to test parse failures
  through the tool path.
- **Refusal**: an answer text starting with ``"REFUSE:"`` is sent as ``stop_reason: "refusal"`` with
  the rest of the text in a ``text`` block (and no tool call).
- An answer function that raises becomes a 500 ``api_error`` (an ``errored`` result in a batch).
- **Prompt caching**: a ``cache_control`` breakpoint makes the prefix up to it a cache write the
  first time and a cache read after (``cache_creation_input_tokens`` /
  ``cache_read_input_tokens``; ``input_tokens`` counts the rest, as the API does); ``server.bill``
  counts every input token, with the reads and writes apart.
- With ``api_key`` given, a request whose ``x-api-key`` / ``authorization: Bearer`` header carries
  another key gets 401 ``authentication_error``; a request with neither header always does.

Faults come from the core server (``server.fail_next``, ``server.inject``); :func:`error_body`
builds an Anthropic-shaped error body for them. State lives in ``server.state["anthropic"]``.
"""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from .loopback import LoopbackLLM, Request, Response, count_tokens

STATE_KEY = "anthropic"
RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
    529: "overloaded_error",
}


class _Invalid(Exception):
    """A request the API would answer with 400 invalid_request_error."""


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """An Anthropic error body for ``status``: ``{"type": "error", "error": {"type", "message"}}``."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {
        "type": "error",
        "error": {"type": kind, "message": message or f"injected {status} ({kind})"},
    }


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "request-id": "req_" + secrets.token_hex(12),
        "anthropic-organization-id": "loopback-org",
        "anthropic-ratelimit-requests-limit": "4000",
        "anthropic-ratelimit-requests-remaining": "3999",
        **(extra or {}),
    }


def _error(status: int, message: str) -> Response:
    return Response(status, error_body(status, message), _headers())


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _text_of(content: Any) -> str:
    """The text of a ``content`` field: a string, or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if not isinstance(block, dict):
                raise _Invalid("content blocks must be objects")
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                parts.append(_text_of(block.get("content", "")))
            elif block.get("type") == "tool_use":
                parts.append(json.dumps(block.get("input", {})))
        return "\n".join(parts)
    raise _Invalid("content must be a string or a list of content blocks")


def normalise(params: Any) -> tuple[dict[str, Any], int, str | None]:
    """Check a Messages request body; return (normalised request, max_tokens, forced tool name)."""
    if not isinstance(params, dict):
        raise _Invalid("the request body must be a JSON object")
    for key in ("model", "messages", "max_tokens"):
        if key not in params:
            raise _Invalid(f"{key}: Field required")
    max_tokens = params["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise _Invalid("max_tokens: must be an integer greater than or equal to 1")
    messages = params["messages"]
    if not isinstance(messages, list) or not messages:
        raise _Invalid("messages: at least one message is required")
    normalised_messages = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise _Invalid(f"messages.{i}.role: must be 'user' or 'assistant'")
        normalised_messages.append(
            {"role": message["role"], "content": _text_of(message.get("content", ""))}
        )
    if normalised_messages[0]["role"] != "user":
        raise _Invalid("messages: the first message must use the 'user' role")
    tools = params.get("tools") or []
    choice = params.get("tool_choice")
    forced: str | None = None
    schema: dict[str, Any] | None = None
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            raise _Invalid("tool_choice.type: must be one of 'auto', 'any', 'tool', 'none'")
        if choice["type"] == "tool":
            forced = choice.get("name")
            matching = [t for t in tools if isinstance(t, dict) and t.get("name") == forced]
            if not matching:
                raise _Invalid(f"tool_choice: tool {forced!r} was not provided in tools")
            schema = matching[0].get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                raise _Invalid(f"tools.{forced}.input_schema: must be a JSON schema of type object")
    request = {
        "system": _text_of(params.get("system", "")),
        "messages": normalised_messages,
        "schema": schema,
        "model": str(params["model"]),
    }
    return request, max_tokens, forced


def _input_tokens(request: dict[str, Any]) -> int:
    return count_tokens(request["system"]) + sum(
        count_tokens(m["content"]) for m in request["messages"]
    )


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def cache_prefix(params: dict[str, Any]) -> tuple[str, int] | None:
    """``(identity, tokens)`` of the prefix up to the request's last ``cache_control``
    breakpoint (tools, then system blocks, then message blocks, the API's order), or None."""
    parts: list[Any] = [params.get("model"), params.get("tools") or []]
    tokens = 0
    found: tuple[str, int] | None = None
    blocks = [("system", b) for b in _blocks(params.get("system", ""))]
    for message in params.get("messages") or []:
        if isinstance(message, dict):
            blocks += [(str(message.get("role")), b) for b in _blocks(message.get("content"))]
    for role, block in blocks:
        parts.append([role, block.get("text", block.get("input", ""))])
        tokens += count_tokens(_text_of([block]))
        if isinstance(block.get("cache_control"), dict):
            found = (json.dumps(parts, sort_keys=True, default=str), tokens)
    return found


def _cache_usage(server: LoopbackLLM, params: dict[str, Any]) -> tuple[int, int]:
    """``(read, written)`` prompt-cache tokens of a request (Anthropic's explicit caching)."""
    prefix = cache_prefix(params)
    state = server.state[STATE_KEY]
    if prefix is None or prefix[1] < max(1, state.get("cache_min_tokens", 0)):
        return 0, 0
    # its own lock: a batch ends (and answers its messages) under state["lock"]
    with state.setdefault("cache_lock", threading.Lock()):
        if prefix[0] in state.setdefault("cached_prefixes", set()):
            return prefix[1], 0
        state["cached_prefixes"].add(prefix[0])
    return 0, prefix[1]


def make_message(server: LoopbackLLM, params: Any) -> dict[str, Any]:
    """Answer one Messages request body with a Message object (raises ``_Invalid`` on bad input).

    A request with ``cache_control`` breakpoints reports the prefix up to the last one as
    ``cache_creation_input_tokens`` the first time and ``cache_read_input_tokens`` after; as the
    API does, ``input_tokens`` then counts only the tokens after the breakpoint. Prefixes shorter
    than ``cache_min_tokens`` (the API: 1,024 or more, by model) are not cached.
    """
    request, max_tokens, forced = normalise(params)
    answer = server.answer(request)
    input_tokens = _input_tokens(request)
    cache_read, cache_write = _cache_usage(server, params)
    content: list[dict[str, Any]]
    if answer.startswith("REFUSE:"):
        text = answer[len("REFUSE:") :].strip()
        output_tokens = min(count_tokens(text), max_tokens)
        content, stop_reason = [{"type": "text", "text": text}], "refusal"
    else:
        output_tokens = count_tokens(answer)
        truncated = output_tokens > max_tokens
        stop_reason = "max_tokens" if truncated else ("tool_use" if forced else "end_turn")
        if truncated:
            output_tokens = max_tokens
        tool_input = {} if truncated else _json_object(answer)
        if forced and tool_input is not None:
            content = [
                {
                    "type": "tool_use",
                    "id": "toolu_" + secrets.token_hex(12),
                    "name": forced,
                    "input": tool_input,
                }
            ]
        else:
            if forced:  # not a JSON object: the model "ignored the tool" and answered in text
                stop_reason = "end_turn"
            text = " ".join(answer.split()[:max_tokens]) if truncated else answer
            content = [{"type": "text", "text": text}]
    server.bill(
        input_tokens,
        output_tokens,
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
    )
    return {
        "id": "msg_" + secrets.token_hex(12),
        "type": "message",
        "role": "assistant",
        "model": request["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": max(0, input_tokens - cache_read - cache_write),
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
        },
    }


def _authorised(server: LoopbackLLM, request: Request) -> Response | None:
    """None when the request carries an accepted key, else the 401 the API would send."""
    key = request.headers.get("x-api-key")
    bearer = request.headers.get("authorization", "")
    if key is None and bearer.lower().startswith("bearer "):
        key = bearer[len("bearer ") :]
    if not key:
        return _error(401, "x-api-key header is required")
    expected = server.state[STATE_KEY]["api_key"]
    if expected is not None and key != expected:
        return _error(401, "invalid x-api-key")
    return None


def _echo(server: LoopbackLLM, request: Request, response: Response) -> Response:
    header = server.state[STATE_KEY].get("echo_key_header")
    if header:
        sent = request.headers.get("x-api-key") or request.headers.get("authorization") or ""
        response.headers[header] = sent
    return response


def _messages(server: LoopbackLLM, request: Request) -> Response:
    return _echo(server, request, _answer_messages(server, request))


def _answer_messages(server: LoopbackLLM, request: Request) -> Response:
    denied = _authorised(server, request)
    if denied is not None:
        return denied
    try:
        message = make_message(server, request.json())
    except (_Invalid, json.JSONDecodeError) as exc:
        return _error(400, str(exc))
    except Exception as exc:  # the test's answer function failed: the API's 500
        return _error(500, f"{type(exc).__name__}: {exc}")
    return Response(200, message, _headers())


# -- Message Batches -------------------------------------------------------------------------


def _batch_object(server: LoopbackLLM, batch: dict[str, Any]) -> dict[str, Any]:
    ended = batch["status"] == "ended"
    counts = dict.fromkeys(RESULT_TYPES, 0)
    if ended:
        for line in batch["results"]:
            counts[line["result"]["type"]] += 1
    return {
        "id": batch["id"],
        "type": "message_batch",
        "processing_status": batch["status"],
        "request_counts": {"processing": 0 if ended else len(batch["requests"]), **counts},
        "created_at": _iso(batch["created_at"]),
        "expires_at": _iso(batch["created_at"] + timedelta(hours=24)),
        "ended_at": _iso(batch["ended_at"]),
        "cancel_initiated_at": _iso(batch["cancel_initiated_at"]),
        "archived_at": None,
        "results_url": f"{server.url}/v1/messages/batches/{batch['id']}/results" if ended else None,
    }


def _batch_result(server: LoopbackLLM, params: Any) -> dict[str, Any]:
    try:
        return {"type": "succeeded", "message": make_message(server, params)}
    except (_Invalid, json.JSONDecodeError) as exc:
        body = error_body(400, str(exc))
    except Exception as exc:
        body = error_body(500, f"{type(exc).__name__}: {exc}")
    return {"type": "errored", "error": {**body, "request_id": "req_" + secrets.token_hex(12)}}


def _end(server: LoopbackLLM, batch: dict[str, Any]) -> None:
    """Process every request of the batch (or cancel them) and mark it ended."""
    if batch["status"] == "canceling":
        results = [{"type": "canceled"} for _ in batch["requests"]]
    else:
        results = [_batch_result(server, r["params"]) for r in batch["requests"]]
    batch["results"] = [
        {"custom_id": r["custom_id"], "result": result}
        for r, result in zip(batch["requests"], results, strict=True)
    ]
    batch["status"] = "ended"
    batch["ended_at"] = _now()


def _create_batch(server: LoopbackLLM, request: Request) -> Response:
    denied = _authorised(server, request)
    if denied is not None:
        return denied
    body = request.json()
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return _error(400, "requests: at least one request is required")
    seen: set[str] = set()
    for i, item in enumerate(requests):
        custom_id = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(custom_id, str) or not custom_id or len(custom_id) > 64:
            return _error(
                400, f"requests.{i}.custom_id: a string of 1 to 64 characters is required"
            )
        if not all(c.isascii() and (c.isalnum() or c in "_-") for c in custom_id):
            return _error(400, f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$")
        if custom_id in seen:
            return _error(400, f"requests.{i}.custom_id: duplicate custom_id {custom_id!r}")
        if not isinstance(item.get("params"), dict):
            return _error(400, f"requests.{i}.params: Field required")
        seen.add(custom_id)
    state = server.state[STATE_KEY]
    batch = {
        "id": "msgbatch_" + secrets.token_hex(12),
        "requests": requests,
        "status": "in_progress",
        "polls": 0,
        "created_at": _now(),
        "ended_at": None,
        "cancel_initiated_at": None,
        "results": [],
    }
    with state["lock"]:
        state["batches"][batch["id"]] = batch
    return Response(200, _batch_object(server, batch), _headers())


def _batch_path(server: LoopbackLLM, request: Request) -> Response:
    denied = _authorised(server, request)
    if denied is not None:
        return denied
    rest = request.path[len("/v1/messages/batches/") :]
    batch_id, _, action = rest.partition("/")
    state = server.state[STATE_KEY]
    with state["lock"]:
        batch = state["batches"].get(batch_id)
        if batch is None:
            return _error(404, f"message batch {batch_id!r} not found")
        if request.method == "POST" and action == "cancel":
            if batch["status"] == "in_progress":
                batch["status"] = "canceling"
                batch["cancel_initiated_at"] = _now()
            return Response(200, _batch_object(server, batch), _headers())
        if request.method != "GET" or action not in ("", "results"):
            return _error(404, f"no route {request.method} {request.path}")
        if action == "results":
            if batch["status"] != "ended":
                return _error(400, f"message batch {batch_id!r} has not ended yet")
            lines = "".join(json.dumps(line) + "\n" for line in batch["results"])
            return Response(200, lines, _headers({"content-type": "application/x-jsonl"}))
        batch["polls"] += 1
        if batch["status"] != "ended" and batch["polls"] >= state["batch_polls"]:
            _end(server, batch)
        return Response(200, _batch_object(server, batch), _headers())


def install_anthropic(
    server: LoopbackLLM,
    *,
    api_key: str | None = None,
    batch_polls: int = 2,
    cache_min_tokens: int = 0,
    echo_key_header: str | None = None,
) -> LoopbackLLM:
    """Serve the Anthropic Messages API (and Message Batches) on ``server``.

    ``api_key``: when given, only that key is accepted (others get 401). ``batch_polls``: a batch
    reports ``in_progress`` until its ``batch_polls``-th retrieval, which ends it (0 or 1: the
    first retrieval ends it). ``cache_min_tokens``: the shortest prefix the simulated prompt
    cache keeps (see :func:`make_message`). ``echo_key_header``: every ``/v1/messages`` answer
    carries this header with the credential the request sent (a careless server).
    """
    server.state[STATE_KEY] = {
        "api_key": api_key,
        "batch_polls": batch_polls,
        "batches": {},
        "lock": threading.Lock(),
        "cache_min_tokens": cache_min_tokens,
        "cached_prefixes": set(),
        "cache_lock": threading.Lock(),
        "echo_key_header": echo_key_header,
    }
    server.route("POST", "/v1/messages", _messages)
    server.route("POST", "/v1/messages/batches", _create_batch)
    server.route_prefix("GET", "/v1/messages/batches/", _batch_path)
    server.route_prefix("POST", "/v1/messages/batches/", _batch_path)
    return server


__all__ = ["error_body", "install_anthropic", "make_message", "normalise"]
