"""API keys: read from the environment at call time, and kept out of every log record and error.

The provider stores the *name* of the environment variable, never its value. The value goes to
the SDK client (which needs it) and to :data:`_SECRETS`, the set this module's logging filter
redacts from every record of the SDK's and its HTTP transport's loggers, so DEBUG logging of
``openai`` / ``httpx2`` shows ``[REDACTED]`` where a key would be. :func:`redact` does the same for
error messages (some servers echo the key they rejected).
"""

from __future__ import annotations

import logging
import os
import threading

import distil

#: Sent instead of a key to a ``base_url`` server when the key's variable is unset (local
#: servers usually need no auth; the SDK refuses to run without some key).
PLACEHOLDER_KEY = "not-needed"
REDACTED = "[REDACTED]"
#: Loggers whose records (and their children's) are filtered.
LOGGERS = ("openai", "httpx", "httpx2", "httpcore", "distil")
#: Shorter values are not redacted (they would mangle unrelated text); real keys are long.
MIN_SECRET_LENGTH = 8

_SECRETS: set[str] = set()
_SEEN: set[str] = set()
_LOCK = threading.Lock()


def read_key(env_var: str, base_url: str | None) -> str:
    """The API key from ``$env_var``; a placeholder for a ``base_url`` server when it is unset."""
    value = os.environ.get(env_var, "").strip()
    if value:
        protect(value)
        return value
    if base_url is not None:
        return PLACEHOLDER_KEY
    raise distil.ProviderError(
        f"openai.chat needs an API key: set the environment variable {env_var} "
        f'(or name another one with api_key_env = "..." in the provider\'s config block). '
        "Keys are read from the environment only, never from the config file."
    )


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``[REDACTED]``."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a log record whose message (or traceback) contains a known secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: let logging report it as usual
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if redact(text) != text:
                record.exc_text = redact(text)  # formatters use a set exc_text as it is
        return True


_FILTER = RedactSecrets()


def protect(secret: str) -> None:
    """Redact ``secret`` from now on, and make sure every SDK and transport logger is filtered."""
    if secret in _SEEN:
        return  # known: the common case, once per request
    with _LOCK:
        _SEEN.add(secret)
        if len(secret) >= MIN_SECRET_LENGTH:
            _SECRETS.add(secret)
    install_filter()


def install_filter() -> None:
    """Attach the filter to the known loggers and their existing children.

    A logger's filters see only the records logged on that logger, not those its children
    propagate, so each child (``openai._base_client``, ...) gets the filter too. It is called
    again whenever a client is made, which catches children created by later imports.
    """
    manager = logging.Logger.manager
    names = [
        name
        for name in list(manager.loggerDict)
        if any(name == root or name.startswith(root + ".") for root in LOGGERS)
    ]
    for name in {*LOGGERS, *names}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
