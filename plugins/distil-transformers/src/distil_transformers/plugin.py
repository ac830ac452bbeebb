"""The distil plugin module (entry point ``distil: transformers``): registers the encoder students.

Kept cheap to import: torch and transformers are imported only when a student is fitted or loaded
(a test checks that importing this module imports neither).
"""

from __future__ import annotations

from typing import Any

import distil

from .config import EncoderConfig
from .ner import TransformersNer
from .textcat import TransformersTextcat


def make_textcat(
    model_path: str | None = None,
    epochs: int = 3,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    batch_size: int = 16,
    max_length: int = 128,
    seed: int = 0,
    pretrained: bool = True,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    n_threads: int = 2,
    threshold: float = 0.5,
    tune_threshold: bool = True,
) -> TransformersTextcat:
    """``transformers.textcat.v1``: fine-tune an encoder (all-MiniLM-L6-v2 by default) with a
    linear head on mean-pooled tokens; exclusive (softmax) or multi-label (sigmoid + threshold,
    tuned on dev when ``tune_threshold`` and a dev set is given). See the package README."""
    return TransformersTextcat(
        EncoderConfig(
            model_path=model_path,
            epochs=epochs,
            lr=lr,
            head_lr=head_lr,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            pretrained=pretrained,
            warmup_ratio=warmup_ratio,
            weight_decay=weight_decay,
            n_threads=n_threads,
            threshold=threshold,
            tune_threshold=tune_threshold,
        )
    )


def make_ner(
    model_path: str | None = None,
    epochs: int = 3,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    batch_size: int = 16,
    max_length: int = 128,
    seed: int = 0,
    pretrained: bool = True,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    n_threads: int = 2,
) -> TransformersNer:
    """``transformers.ner.v1``: fine-tune an encoder (all-MiniLM-L6-v2 by default) for token
    classification with BIO tags over words, decoded to character spans. See the package README."""
    return TransformersNer(
        EncoderConfig(
            model_path=model_path,
            epochs=epochs,
            lr=lr,
            head_lr=head_lr,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            pretrained=pretrained,
            warmup_ratio=warmup_ratio,
            weight_decay=weight_decay,
            n_threads=n_threads,
        )
    )


@distil.hookimpl
def register_students(register: Any) -> None:
    register("transformers.textcat.v1", make_textcat)
    register("transformers.ner.v1", make_ner)
