"""The distil plugin module (entry point ``distil: transformers``): registers the encoder students.

Kept cheap to import: torch and transformers are imported only when a student is fitted or loaded
(a test checks that importing this module imports neither).
"""

from __future__ import annotations

from typing import Any, Literal

import distil

from .config import EncoderConfig
from .ner import TransformersNer
from .textcat import TransformersTextcat


def make_textcat(
    model_path: str | None = None,
    max_epochs: int | None = None,
    epochs: int | None = None,
    patience: int = 2,
    eval_steps: int = 0,
    lr: float = 1e-4,
    head_lr: float = 1e-2,
    batch_size: int = 16,
    max_length: int | None = None,
    seed: int = 0,
    pretrained: bool = True,
    warmup_ratio: float = 0.1,
    schedule: Literal["linear", "cosine", "constant"] = "linear",
    weight_decay: float = 0.01,
    freeze_embeddings: bool = True,
    n_threads: int = 2,
    threshold: float = 0.5,
    tune_threshold: bool = True,
) -> TransformersTextcat:
    """``transformers.textcat.v1``: fine-tune an encoder (all-MiniLM-L6-v2 by default) with a
    linear head on mean-pooled tokens; exclusive (softmax) or multi-label (sigmoid + threshold,
    tuned on dev when ``tune_threshold`` and a dev set is given). With a dev set, training stops
    after ``patience`` evaluations without gain and keeps the best weights. ``epochs`` is the old
    name of ``max_epochs``. See the package README."""
    return TransformersTextcat(
        EncoderConfig(
            model_path=model_path,
            max_epochs=max_epochs,
            epochs=epochs,
            patience=patience,
            eval_steps=eval_steps,
            lr=lr,
            head_lr=head_lr,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            pretrained=pretrained,
            warmup_ratio=warmup_ratio,
            schedule=schedule,
            weight_decay=weight_decay,
            freeze_embeddings=freeze_embeddings,
            n_threads=n_threads,
            threshold=threshold,
            tune_threshold=tune_threshold,
        )
    )


def make_ner(
    model_path: str | None = None,
    max_epochs: int | None = None,
    epochs: int | None = None,
    patience: int = 2,
    eval_steps: int = 0,
    lr: float = 1e-4,
    head_lr: float = 1e-2,
    batch_size: int = 16,
    max_length: int | None = None,
    seed: int = 0,
    pretrained: bool = True,
    warmup_ratio: float = 0.1,
    schedule: Literal["linear", "cosine", "constant"] = "linear",
    weight_decay: float = 0.01,
    freeze_embeddings: bool = True,
    n_threads: int = 2,
) -> TransformersNer:
    """``transformers.ner.v1``: fine-tune an encoder (all-MiniLM-L6-v2 by default) for token
    classification with BIO tags over words, decoded to character spans. With a dev set, training
    stops after ``patience`` evaluations without a better span-F1 and keeps the best weights.
    ``epochs`` is the old name of ``max_epochs``. See the package README."""
    return TransformersNer(
        EncoderConfig(
            model_path=model_path,
            max_epochs=max_epochs,
            epochs=epochs,
            patience=patience,
            eval_steps=eval_steps,
            lr=lr,
            head_lr=head_lr,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            pretrained=pretrained,
            warmup_ratio=warmup_ratio,
            schedule=schedule,
            weight_decay=weight_decay,
            freeze_embeddings=freeze_embeddings,
            n_threads=n_threads,
        )
    )


@distil.hookimpl
def register_students(register: Any) -> None:
    register("transformers.textcat.v1", make_textcat)
    register("transformers.ner.v1", make_ner)


@distil.hookimpl
def distil_init_choices() -> list[Any]:
    """``--student transformers`` for textcat and ner."""
    return [
        distil.StudentChoice("transformers", "textcat", "transformers.textcat.v1", priority=30),
        distil.StudentChoice("transformers", "ner", "transformers.ner.v1", priority=50),
    ]
