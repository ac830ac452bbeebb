"""HTTP failures as distil's provider errors: one mapping for every provider.

distil's retry layer acts on the error's class, so every provider must map an HTTP answer the same
way; before this module, three copies (two providers and the plugin template) had drifted apart.
What a provider may rely on:

* 429 → :class:`~distil.errors.RateLimitError`; its ``retry_after`` comes from ``retry-after-ms``
  or ``Retry-After`` (seconds, or an HTTP date such as ``Wed, 21 Oct 2015 07:28:00 GMT``);
* 408, 409, 425 and every 5xx (Anthropic's 529 "overloaded" too) →
  :class:`~distil.errors.TransientProviderError`, with the ``Retry-After`` a 503 may carry;
* any other status (400, 401, 403, 404, 413, 422, ...) → a permanent
  :class:`~distil.errors.ProviderError`: retrying will not fix it;
* no answer in time → :func:`timeout_error`, transient;
* a 400/422 that rejects a request parameter (OpenAI's ``"param": "temperature"``, or a message
  such as ``Unsupported parameter: 'max_tokens'``) → a permanent error that names the parameter
  and, when the provider passes ``parameters``, the config key that changes it; its
  ``parameter`` attribute holds the name.

A ``Retry-After`` that cannot be read (garbage, NaN) is ignored, never an exception: the error the
server reported matters more than its hint. The message names the provider (``where``), the status
and the server's own message; pass ``redact`` when a server may echo a key back.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import ProviderError, RateLimitError, TransientProviderError

#: Statuses below 500 that a retry may fix: request timeout, conflict, too early.
TRANSIENT_STATUSES = frozenset({408, 409, 425})
#: The longest server message kept in an error (a proxy's HTML error page is not worth more).
MAX_DETAIL = 300


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value, whatever the case of its name (plain dicts are case-sensitive)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return None if value is None else str(value).strip()


def _folded(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` by lower-cased name, in one pass, holding the value :func:`_header` returns
    for a lower-case name: the exact name's when it has one, else the first name's that differs
    from it only in case."""
    folded: dict[str, str] = {}
    for key, value in headers.items():
        lower = key.lower()
        if lower not in folded or (lower == key and value is not None):
            folded[lower] = value
    return folded


def _seconds(value: str, divisor: float = 1.0) -> float | None:
    try:
        seconds = float(value) / divisor
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _until(date: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive: RFC 9110 dates are UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def retry_after(headers: Mapping[str, str] | None, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (or said garbage).

    ``retry-after-ms`` (OpenAI, Anthropic) wins over ``Retry-After``; ``Retry-After`` is seconds
    or an HTTP date (a date in the past means 0). ``now`` (epoch seconds) is for tests.
    """
    ms = _header(headers, "retry-after-ms")
    if ms:
        wait = _seconds(ms, 1000.0)
        if wait is not None:
            return wait
    value = _header(headers, "retry-after")
    if not value:
        return None
    wait = _seconds(value)
    if wait is not None:
        return wait
    return _until(value, time.time() if now is None else now)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
#: (distil's key, OpenAI's header, Anthropic's header) for what a server says of its limits.
_RATE_HEADERS = (
    (
        "remaining_requests",
        "x-ratelimit-remaining-requests",
        "anthropic-ratelimit-requests-remaining",
    ),
    ("reset_requests_s", "x-ratelimit-reset-requests", "anthropic-ratelimit-requests-reset"),
    ("remaining_tokens", "x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"),
    ("reset_tokens_s", "x-ratelimit-reset-tokens", "anthropic-ratelimit-tokens-reset"),
)


def _reset_seconds(value: str, now: float) -> float | None:
    """A reset time as seconds from now: OpenAI's duration (``1s``, ``6m0s``, ``20ms``), plain
    seconds, or Anthropic's RFC 3339 time (``2026-12-02T19:20:00Z``)."""
    plain = _seconds(value)
    if plain is not None:
        return plain
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value.replace(" ", ""):
        return sum(float(n) * _UNIT_S[u] for n, u in parts)
    try:
        from datetime import datetime

        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def rate_limit_state(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> dict[str, float]:
    """What a server's answer says of its rate limits: ``remaining_requests``,
    ``reset_requests_s``, ``remaining_tokens``, ``reset_tokens_s`` (only those it sent).

    Reads OpenAI's ``x-ratelimit-remaining-*`` / ``x-ratelimit-reset-*`` and Anthropic's
    ``anthropic-ratelimit-*-remaining`` / ``-reset``; a value that cannot be read is left out."""
    out: dict[str, float] = {}
    if not headers:
        return out
    # Read from every answer: the names are lower-cased in one pass over the headers instead of
    # eight look-ups (an SDK's Headers.get scans and decodes every header each time, and
    # _header scans them again on a miss); each value is the one _header would return.
    folded = _folded(headers)
    moment = time.time() if now is None else now
    for key, *names in _RATE_HEADERS:
        for name in names:
            value = folded.get(name)
            if value is None:
                continue
            value = str(value).strip()
            if not value:
                continue
            number = _reset_seconds(value, moment) if key.startswith("reset") else _seconds(value)
            if number is not None:
                out[key] = number
                break
    return out


def server_message(body: Any) -> str:
    """The server's own error message from a JSON body (``{"error": {"message"}}`` and the
    like), else the body's text, shortened; "" for an empty body."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return body.strip()[:MAX_DETAIL]
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])[:MAX_DETAIL]
        if isinstance(inner, str) and inner:
            return inner[:MAX_DETAIL]
    return "" if body is None else str(body)[:MAX_DETAIL]


#: Ways servers name a parameter they reject, in their error messages.
_PARAMETER_MESSAGES = (
    re.compile(r"[Uu]nsupported (?:parameter|value)s?:?\s*['\"`]?([A-Za-z_][\w.]*)"),
    re.compile(r"[Uu]nrecognized request arguments? supplied:?\s*['\"`]?([A-Za-z_][\w.]*)"),
    re.compile(r"['\"`]([A-Za-z_][\w.]*)['\"`] is not (?:supported|permitted|allowed)"),
    re.compile(r"^([A-Za-z_][\w.]*):\s*(?:Extra inputs|[Uu]nexpected|not supported|[Ii]nvalid)"),
)


def rejected_parameter(body: Any, known: Mapping[str, str] | None = None) -> str | None:
    """The request parameter a 400 answer rejects, or None.

    The body's ``error.param`` (OpenAI) wins; otherwise the message is searched for the usual
    phrasings. With ``known``, only those names (or their first dotted part) are accepted, so
    that neither a word in a sentence nor ``"param": "messages"`` of a too-long prompt is taken
    for a parameter the config could stop sending."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            body = {"error": {"message": body if isinstance(body, str) else ""}}
    inner = body.get("error", body) if isinstance(body, Mapping) else None

    def accepted(name: str) -> bool:
        return known is None or name in known or name.split(".")[0] in known

    param = inner.get("param") if isinstance(inner, Mapping) else None
    if isinstance(param, str) and param and accepted(param):
        return param
    message = server_message(body)
    for pattern in _PARAMETER_MESSAGES:
        found = pattern.search(message)
        if found and accepted(found.group(1)):
            return found.group(1)
    return None


def is_transient(status: int) -> bool:
    """True when a retry may fix this status (429, 408, 409, 425, 5xx)."""
    return status == 429 or status in TRANSIENT_STATUSES or status >= 500


def http_error(
    status: int,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    *,
    where: str,
    hints: Mapping[int, str] | None = None,
    redact: Callable[[str], str] | None = None,
    message: str | None = None,
    parameters: Mapping[str, str] | None = None,
) -> ProviderError:
    """The distil error for an HTTP error answer: what the teacher loop retries, and how long.

    ``where`` names the provider (``"openai.chat (gpt-4o)"``); ``hints`` adds a sentence for a
    permanent status (``{401: "check the key in $OPENAI_API_KEY"}``); ``redact`` cleans the
    message (a server may echo the key it rejected); ``message`` replaces the default text
    (``"{where}: HTTP {status}: {server's message}"``) when an SDK has already formatted one.
    ``parameters`` maps a request parameter to the config change that stops sending it: a
    400/422 that rejects one says so (``parameter`` is set on the error). Every error carries
    ``status``.
    """
    if message is None:
        message = f"{where}: HTTP {status}: {server_message(body) or 'no error message'}"
    parameter = rejected_parameter(body, parameters) if status in (400, 422) else None
    if parameter is not None:
        hint = (parameters or {}).get(parameter) or (parameters or {}).get(parameter.split(".")[0])
        message += f" (the server rejects the request parameter '{parameter}'" + (
            f": {hint})" if hint else ")"
        )
    elif not is_transient(status) and hints and status in hints:
        message += f" ({hints[status]})"
    if redact is not None:
        message = redact(message)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after(headers), status=status)
    if is_transient(status):
        return TransientProviderError(message, retry_after=retry_after(headers), status=status)
    error = ProviderError(message)
    error.status = status  # type: ignore[attr-defined]  # the transient classes have it too
    error.parameter = parameter  # type: ignore[attr-defined]
    return error


def timeout_error(where: str, seconds: float | None = None) -> TransientProviderError:
    """No answer in time: transient (the next attempt may be quicker)."""
    within = f" within {seconds:g} s" if seconds is not None else ""
    return TransientProviderError(f"{where}: no answer{within} (the request timed out)")
