"""distil-embeddings: students on pretrained representations.

``embeddings.textcat.v1`` reads all-MiniLM-L6-v2 sentence embeddings, ``static.textcat.v1`` a
model2vec static model distilled from the same weights; both put the same logistic-regression head
on top. Importing this package is cheap: torch, sentence-transformers, model2vec, scikit-learn and
numpy are imported on first use.
"""

from __future__ import annotations

from .cache import SHARED as embedding_cache
from .embedding import EmbeddingTextcat
from .head import UntrustedModelError
from .static import StaticTextcat

__version__ = "0.1.0"

__all__ = [
    "EmbeddingTextcat",
    "StaticTextcat",
    "UntrustedModelError",
    "__version__",
    "embedding_cache",
]
