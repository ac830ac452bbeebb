"""distil-openai: OpenAI chat completions, and every server that speaks them, as distil providers.

Importing this package is cheap: the ``openai`` SDK is imported when a provider makes its client.
"""

__version__ = "0.1.0"
