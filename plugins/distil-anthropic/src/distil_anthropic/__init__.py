"""distil-anthropic: the Anthropic Messages API as a distil provider (``anthropic.messages.v1``).

Importing this package does not import the ``anthropic`` SDK; the provider imports it on first use.
"""

from .provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
