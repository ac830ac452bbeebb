"""The distil plugin module (entry point ``distil: embeddings``): registers the embedding students.

Kept cheap to import: torch, sentence-transformers, model2vec, scikit-learn and numpy are imported
only when a student encodes, fits or loads, so ``distil --help`` and plugin discovery stay fast (a
test checks this in a subprocess).
"""

from __future__ import annotations

from typing import Any, Literal

import distil

from .config import EmbeddingConfig, StaticConfig
from .embedding import EmbeddingTextcat
from .static import StaticTextcat


def make_embeddings_textcat(
    C: float = EmbeddingConfig.C,
    class_weight: Literal["balanced"] | None = EmbeddingConfig.class_weight,
    max_iter: int = EmbeddingConfig.max_iter,
    tfidf: bool = EmbeddingConfig.tfidf,
    tfidf_weight: float = EmbeddingConfig.tfidf_weight,
    threshold: float = EmbeddingConfig.threshold,
    tune_thresholds: bool = EmbeddingConfig.tune_thresholds,
    batch_size: int = EmbeddingConfig.batch_size,
    n_threads: int = EmbeddingConfig.n_threads,
    cache_dir: str | None = EmbeddingConfig.cache_dir,
) -> EmbeddingTextcat:
    """``embeddings.textcat.v1``: normalised all-MiniLM-L6-v2 sentence embeddings (optionally
    beside TF-IDF word+char features) + logistic regression, exclusive or multi-label. Each text
    is encoded once per process (and once per ``cache_dir``). See the package README."""
    return EmbeddingTextcat(
        EmbeddingConfig(
            C=C,
            class_weight=class_weight,
            max_iter=max_iter,
            tfidf=tfidf,
            tfidf_weight=tfidf_weight,
            threshold=threshold,
            tune_thresholds=tune_thresholds,
            batch_size=batch_size,
            n_threads=n_threads,
            cache_dir=cache_dir,
        )
    )


def make_static_textcat(
    C: float = StaticConfig.C,
    class_weight: Literal["balanced"] | None = StaticConfig.class_weight,
    max_iter: int = StaticConfig.max_iter,
    tfidf: bool = StaticConfig.tfidf,
    tfidf_weight: float = StaticConfig.tfidf_weight,
    threshold: float = StaticConfig.threshold,
    tune_thresholds: bool = StaticConfig.tune_thresholds,
    pca_dims: int | None = StaticConfig.pca_dims,
) -> StaticTextcat:
    """``static.textcat.v1``: a model2vec static model distilled locally from all-MiniLM-L6-v2
    (cached on disk) + the same head as ``embeddings.textcat.v1``. See the package README."""
    return StaticTextcat(
        StaticConfig(
            C=C,
            class_weight=class_weight,
            max_iter=max_iter,
            tfidf=tfidf,
            tfidf_weight=tfidf_weight,
            threshold=threshold,
            tune_thresholds=tune_thresholds,
            pca_dims=pca_dims,
        )
    )


@distil.hookimpl
def register_students(register: Any) -> None:
    register("embeddings.textcat.v1", make_embeddings_textcat)
    register("static.textcat.v1", make_static_textcat)


@distil.hookimpl
def distil_init_choices() -> list[Any]:
    """``--student embeddings`` (the textcat default: the highest ceiling in docs/students.md)
    and ``--student static`` (the fast one)."""
    return [
        distil.StudentChoice(
            "embeddings", "textcat", "embeddings.textcat.v1", priority=100, weights=True
        ),
        distil.StudentChoice("static", "textcat", "static.textcat.v1", priority=50, weights=True),
    ]
