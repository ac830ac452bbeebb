"""The distil plugin module (entry point ``distil: fasttext``): registers ``fasttext.textcat.v1``.

A student plugin registers a factory whose keyword arguments are the ``[student]`` config keys.
fastText is imported when a student is fitted or loaded, never here: every ``distil`` command
imports this module.
"""

from __future__ import annotations

from typing import Any

import distil

from .student import FastTextConfig, FastTextStudent


def make_textcat(
    epoch: int = 25,
    lr: float = 0.5,
    dim: int = 32,
    word_ngrams: int = 2,
    bucket: int = 50_000,
    min_count: int = 1,
    threshold: float = 0.5,
    lowercase: bool = True,
    threads: int = 1,
    seed: int = 0,
) -> FastTextStudent:
    """``fasttext.textcat.v1``: a fastText classifier, exclusive (softmax) or multi-label (one-vs-all).

    ``word_ngrams`` word n-grams hashed into ``bucket`` rows, ``dim``-wide embeddings, ``epoch``
    passes at learning rate ``lr``; ``threshold`` decides each label of a multi-label task.
    ``threads=1`` keeps training deterministic.
    """
    return FastTextStudent(
        FastTextConfig(
            epoch=epoch,
            lr=lr,
            dim=dim,
            word_ngrams=word_ngrams,
            bucket=bucket,
            min_count=min_count,
            threshold=threshold,
            lowercase=lowercase,
            threads=threads,
            seed=seed,
        )
    )


@distil.hookimpl
def register_students(register: Any) -> None:
    register("fasttext.textcat.v1", make_textcat)
