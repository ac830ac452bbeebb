"""distil-local: embedded, offline teachers for distil.

Importing this package is cheap: torch, transformers and llama_cpp are imported on first use.
"""

__version__ = "0.1.0"
