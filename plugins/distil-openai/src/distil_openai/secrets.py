"""API keys: read from the environment at call time, and kept out of every log record and error.

The provider stores the *name* of the environment variable, never its value. The value goes to
the SDK client (which needs it) and to core's redaction (:func:`distil.protect_secret`), which
replaces it with ``[REDACTED]`` in every log record, whichever logger makes it (the SDK's
``openai.*``, its transport's ``httpx2`` / ``httpcore2`` that log the headers a server sends back,
...), and in error messages through :func:`redact` (some servers echo the key they rejected).
One implementation serves every provider plugin.
"""

from __future__ import annotations

import os

import distil

__all__ = ["PLACEHOLDER_KEY", "REDACTED", "install_filter", "protect", "read_key", "redact"]

#: Sent instead of a key to a ``base_url`` server when the key's variable is unset (local
#: servers usually need no auth; the SDK refuses to run without some key).
PLACEHOLDER_KEY = "not-needed"
REDACTED = "[REDACTED]"


def read_key(env_var: str, base_url: str | None, *, where: str = "openai.chat") -> str:
    """The API key from ``$env_var``; a placeholder for a ``base_url`` server when it is unset."""
    value = os.environ.get(env_var, "").strip()
    if value:
        protect(value)
        return value
    if base_url is not None:
        return PLACEHOLDER_KEY
    raise distil.ProviderError(
        f"{where} needs an API key: set the environment variable {env_var} "
        f'(or name another one with api_key_env = "..." in the provider\'s config block). '
        "Keys are read from the environment only, never from the config file."
    )


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``[REDACTED]``."""
    return distil.redact_secrets(text)


def protect(secret: str) -> None:
    """Redact ``secret`` from now on, in every log record and error message."""
    distil.protect_secret(secret)


def install_filter() -> None:
    """Attach the redacting filter to the SDK's and its transport's loggers (and children)."""
    distil.protect_secret()
