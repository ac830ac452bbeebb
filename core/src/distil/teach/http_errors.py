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
* no answer in time → :func:`timeout_error`, transient.

A ``Retry-After`` that cannot be read (garbage, NaN) is ignored, never an exception: the error the
server reported matters more than its hint. The message names the provider (``where``), the status
and the server's own message; pass ``redact`` when a server may echo a key back.
"""

from __future__ import annotations

import json
import math
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
) -> ProviderError:
    """The distil error for an HTTP error answer: what the teacher loop retries, and how long.

    ``where`` names the provider (``"openai.chat (gpt-4o)"``); ``hints`` adds a sentence for a
    permanent status (``{401: "check the key in $OPENAI_API_KEY"}``); ``redact`` cleans the
    message (a server may echo the key it rejected); ``message`` replaces the default text
    (``"{where}: HTTP {status}: {server's message}"``) when an SDK has already formatted one.
    Every error carries ``status``.
    """
    if message is None:
        message = f"{where}: HTTP {status}: {server_message(body) or 'no error message'}"
    if not is_transient(status) and hints and status in hints:
        message += f" ({hints[status]})"
    if redact is not None:
        message = redact(message)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after(headers), status=status)
    if is_transient(status):
        return TransientProviderError(message, retry_after=retry_after(headers), status=status)
    error = ProviderError(message)
    error.status = status  # type: ignore[attr-defined]  # the transient classes have it too
    return error


def timeout_error(where: str, seconds: float | None = None) -> TransientProviderError:
    """No answer in time: transient (the next attempt may be quicker)."""
    within = f" within {seconds:g} s" if seconds is not None else ""
    return TransientProviderError(f"{where}: no answer{within} (the request timed out)")
