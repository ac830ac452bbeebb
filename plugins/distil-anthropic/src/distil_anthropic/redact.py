"""Keep API keys out of logs, including the SDK's and its HTTP stack's DEBUG logging.

At DEBUG level the ``anthropic`` SDK logs whole request options, and its transport (``httpx2``,
``httpcore2``; ``httpx``/``httpcore`` for older SDKs) logs the raw headers of every answer. Core's
redaction (:mod:`distil.teach.redaction`, shared with every provider plugin) replaces each
registered key with ``[REDACTED]`` in every log record, whichever logger makes it, and in error
messages (:meth:`SecretRedactor.redact`).
"""

from __future__ import annotations

import distil

#: The logger families the SDK writes to (all among those core filters, besides every record).
SDK_LOGGERS = ("anthropic", "httpx2", "httpcore2", "httpx", "httpcore")
MASK = "[REDACTED]"


class SecretRedactor:
    """The plugin's handle on core's redaction: ``add`` a secret, ``redact`` a text."""

    def add(self, secret: str) -> None:
        distil.protect_secret(secret)

    def redact(self, text: str) -> str:
        return distil.redact_secrets(text)


REDACTOR = SecretRedactor()


def protect(secret: str) -> None:
    """Register ``secret`` and make sure every SDK logger carries the redacting filter."""
    distil.protect_secret(secret)
