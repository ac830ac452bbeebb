"""The SDK's exceptions (and HTTP statuses of batch results) as distil's provider errors.

distil's retry layer acts on the class: :class:`distil.RateLimitError` (429) and
:class:`distil.TransientProviderError` (408, 409, 5xx, timeouts, dropped connections, bodies that
are not JSON) are retried, honouring ``retry_after``; :class:`distil.ProviderError` (400, 401, 403,
404, 422, ...) is not. Every message passes through :func:`~distil_openai.secrets.redact`: a
server may echo the key it rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import distil

from .capabilities import PARAMETER_HINTS
from .secrets import redact

#: A sentence added to the message of a permanent error, by status.
HINTS = {
    401: "check the key in the environment variable named by api_key_env",
    403: "check the key in the environment variable named by api_key_env",
    404: "check the model name and base_url",
}


def from_status(
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    what: str = "request",
    where: str = "openai.chat",
    parameters: Mapping[str, str] | None = None,
) -> distil.ProviderError:
    """The distil error for an HTTP error status (live call or batch result line).

    The mapping (and ``Retry-After`` as seconds or a date) is core's :func:`distil.http_error`,
    shared with every provider. ``parameters``: request parameter → the config change that stops
    sending it, for a 400 that rejects one (:data:`~distil_openai.capabilities.PARAMETER_HINTS`)."""
    return distil.http_error(
        status,
        headers,
        body,
        where=f"{where} ({what})",
        hints=HINTS,
        redact=redact,
        parameters=PARAMETER_HINTS if parameters is None else parameters,
    )


def from_exception(
    exc: BaseException,
    *,
    where: str = "openai.chat",
    timeout: float | None = None,
    parameters: Mapping[str, str] | None = None,
) -> distil.ProviderError:
    """The distil error for an exception raised by an SDK call."""
    import openai

    if isinstance(exc, distil.ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return from_status(
            exc.status_code, exc.body, exc.response.headers, where=where, parameters=parameters
        )
    if isinstance(exc, openai.APITimeoutError):
        return distil.timeout_error(f"{where} (teacher.provider.timeout)", timeout)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        return distil.TransientProviderError(
            redact(f"{where}: the connection to the server failed{detail}")
        )
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return distil.TransientProviderError(
            redact(
                f"{where}: the server's answer is not valid JSON or not a chat completion ({exc})"
            )
        )
    return distil.ProviderError(redact(f"{where}: {type(exc).__name__}: {exc}"))
