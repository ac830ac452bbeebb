"""Secrets out of logs and error messages: one implementation for every provider.

A provider registers each API key it sends with :func:`protect_secret`; from then on

* every log record, whichever logger makes it, has the key replaced by ``[REDACTED]`` in its
  message, its exception text and its stack text. The SDKs log whole request options at DEBUG, and
  their transports (``httpx``/``httpcore`` for older SDKs, ``httpx2``/``httpcore2`` for openai 3.x
  and anthropic 2.x, ``h11``, ``h2``, ...) log the raw headers a server sent back, so a server that
  echoes the key in a response header would otherwise put it in a DEBUG log verbatim;
* :func:`redact_secrets` does the same for any text (error messages: servers echo rejected keys).

Two layers, so that no logger is missed: a log record factory (installed once, chained to the
factory that was there) cleans every record when it is made, on any logger, including loggers
created after the key was registered; and a filter on the known SDK and transport logger families
(:data:`LOGGERS`, and each existing child: a filter applies only to its own logger's records)
cleans records even if another library replaces the record factory later without chaining it.

Values shorter than :data:`MIN_SECRET_LENGTH` are not registered (redacting ``"abc"`` would mangle
unrelated text; real keys are long). Nothing here imports an SDK.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

REDACTED = "[REDACTED]"
#: Logger families whose records (and their children's) are filtered, besides the record factory.
LOGGERS = (
    "openai",
    "anthropic",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "h11",
    "h2",
    "hpack",
    "urllib3",
    "distil",
    "distil_openai",
    "distil_anthropic",
)
#: Shorter values are not redacted (they would mangle unrelated text); real keys are long.
MIN_SECRET_LENGTH = 8

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_FACTORY_INSTALLED = False
#: How many loggers existed when the filter was last attached (a new one may need it).
_LOGGERS_SEEN = -1


def redact_secrets(text: str) -> str:
    """``text`` with every registered secret replaced by ``[REDACTED]``."""
    for secret in tuple(_SECRETS):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _clean(record: logging.LogRecord) -> None:
    """Rewrite ``record`` in place when its message, exception or stack text holds a secret."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: let logging report it as usual
        return
    cleaned = redact_secrets(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        if redact_secrets(text) != text:
            record.exc_text = text  # formatters use a set exc_text as it is
    if record.exc_text:
        record.exc_text = redact_secrets(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_secrets(record.stack_info)


class RedactSecrets(logging.Filter):
    """A logging filter that removes registered secrets from the records it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            _clean(record)
        return True


FILTER = RedactSecrets()


def _install_factory() -> None:
    global _FACTORY_INSTALLED
    if _FACTORY_INSTALLED:
        return
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _SECRETS:
            _clean(record)
        return record

    logging.setLogRecordFactory(factory)
    _FACTORY_INSTALLED = True


def install_log_filter(extra_loggers: tuple[str, ...] = ()) -> None:
    """Attach the filter to the known logger families and their existing children.

    Called by :func:`protect_secret`, and again whenever a provider makes an SDK client (the
    SDK's child loggers exist by then); ``extra_loggers`` adds families of a plugin's own.
    """
    global _LOGGERS_SEEN
    roots = (*LOGGERS, *extra_loggers)
    manager = logging.Logger.manager
    _LOGGERS_SEEN = len(manager.loggerDict)
    names = [
        name
        for name in list(manager.loggerDict)
        if any(name == root or name.startswith(root + ".") for root in roots)
    ]
    for name in {*roots, *names}:
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)


def protect_secret(secret: str | None = None, extra_loggers: tuple[str, ...] = ()) -> None:
    """Redact ``secret`` from every log record and from :func:`redact_secrets` from now on.

    Cheap when called once per request. Without a secret it only attaches the filter to the
    SDK loggers created since the last call (a provider calls it after making its SDK client).
    """
    if secret and len(secret) >= MIN_SECRET_LENGTH and secret not in _SECRETS:
        with _LOCK:
            _SECRETS.add(secret)
            _install_factory()
    if extra_loggers or len(logging.Logger.manager.loggerDict) != _LOGGERS_SEEN:
        install_log_filter(extra_loggers)


def is_local_url(url: str | None) -> bool:
    """True for a URL on this machine or a private network (``localhost``, ``127.0.0.1``,
    ``[::1]``, ``10.x``, ``192.168.x``, ``*.local``): a server that usually needs no API key."""
    import ipaddress
    from urllib.parse import urlsplit

    if not url:
        return False
    host = (urlsplit(url if "//" in url else "//" + url).hostname or "").lower()
    if host in {"localhost", "0.0.0.0"} or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local
