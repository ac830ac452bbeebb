"""The SDK's exceptions (and HTTP statuses of batch results) as distil's provider errors.

distil's retry layer acts on the class: :class:`distil.RateLimitError` (429) and
:class:`distil.TransientProviderError` (408, 409, 5xx, timeouts, dropped connections, bodies that
are not JSON) are retried, honouring ``retry_after``; :class:`distil.ProviderError` (400, 401, 403,
404, 422, ...) is not. Every message passes through :func:`~distil_openai.secrets.redact`: a
server may echo the key it rejected.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import distil

from .secrets import redact

TRANSIENT_STATUSES = frozenset({408, 409})


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value:
        parsed = email.utils.parsedate_tz(value)
        if parsed is not None:
            return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None


def _server_message(body: Any) -> str:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])
    return ""


def from_status(
    status: int, body: Any, headers: Mapping[str, str] | None = None, *, what: str = "request"
) -> distil.ProviderError:
    """The distil error for an HTTP error status (live call or batch result line)."""
    message = _server_message(body) or "no error message"
    text = redact(f"openai.chat: the {what} failed with HTTP {status}: {message}")
    wait = retry_after(headers)
    if status == 429:
        return distil.RateLimitError(text, retry_after=wait, status=status)
    if status in TRANSIENT_STATUSES or status >= 500:
        return distil.TransientProviderError(text, retry_after=wait, status=status)
    if status in {401, 403}:
        text += " (check the key in the environment variable named by api_key_env)"
    elif status == 404:
        text += " (check the model name and base_url)"
    error = distil.ProviderError(text)
    error.status = status  # type: ignore[attr-defined]
    return error


def from_exception(exc: BaseException) -> distil.ProviderError:
    """The distil error for an exception raised by an SDK call."""
    import openai

    if isinstance(exc, distil.ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return from_status(exc.status_code, exc.body, exc.response.headers)
    if isinstance(exc, openai.APITimeoutError):
        return distil.TransientProviderError("openai.chat: the request timed out")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        return distil.TransientProviderError(
            redact(f"openai.chat: the connection to the server failed{detail}")
        )
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return distil.TransientProviderError(
            redact(
                f"openai.chat: the server's answer is not valid JSON or not a chat completion ({exc})"
            )
        )
    return distil.ProviderError(redact(f"openai.chat: {type(exc).__name__}: {exc}"))
