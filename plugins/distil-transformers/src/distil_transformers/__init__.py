"""distil-transformers: fine-tuned small encoder students for distil (all-MiniLM-L6-v2 by default).

Importing this package is cheap: torch and transformers are imported on first use.
"""

from __future__ import annotations

from .config import EncoderConfig
from .ner import TransformersNer
from .textcat import TransformersTextcat

__version__ = "0.1.0"

__all__ = ["EncoderConfig", "TransformersNer", "TransformersTextcat", "__version__"]
