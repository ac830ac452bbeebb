"""Keep API keys out of logs, including the SDK's and its HTTP stack's DEBUG logging.

At DEBUG level the ``anthropic`` SDK logs whole request options, and its transport (``httpx2``,
``httpcore2``; ``httpx``/``httpcore`` for older SDKs) logs its own traces. A filter on those loggers
replaces every known key value with ``[REDACTED]`` before any handler sees the record.

A filter on a logger does not apply to its children (``anthropic._base_client`` logs on its own
logger), so :func:`protect` attaches the filter to each existing logger under the SDK's roots, and
is called again whenever a client is built (after the SDK has created its loggers).
"""

from __future__ import annotations

import logging
import threading

#: The logger families the SDK writes to (httpx/httpcore for SDKs before the httpx2 transport).
SDK_LOGGERS = ("anthropic", "httpx2", "httpcore2", "httpx", "httpcore")
MASK = "[REDACTED]"


class SecretRedactor(logging.Filter):
    """Replaces registered secret values in a record's message, arguments and exception text."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


REDACTOR = SecretRedactor()


def protect(secret: str) -> None:
    """Register ``secret`` and make sure every SDK logger carries the redacting filter."""
    REDACTOR.add(secret)
    names = [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if any(name == root or name.startswith(root + ".") for root in SDK_LOGGERS)
    ]
    for name in {*SDK_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)
