"""The distil plugin module (entry point ``distil: sklearn``): registers the scikit-learn students.

Kept cheap to import: scikit-learn is imported only when a student is fitted or loaded, so that
``distil --help`` and plugin discovery stay fast.
"""

from __future__ import annotations

from typing import Any, Literal

import distil

from .student import SklearnTextcat, TextcatConfig


def make_textcat(
    analyzer: Literal["word", "char_wb", "word+char_wb"] = "word",
    ngram_range_max: int = 2,
    char_ngram_range: tuple[int, int] = (2, 5),
    min_df: int = 1,
    max_features: int | None = 200_000,
    sublinear_tf: bool = True,
    lowercase: bool = True,
    C: float = 4.0,
    class_weight: Literal["balanced"] | None = "balanced",
    max_iter: int = 1000,
    threshold: float = 0.5,
    tune_thresholds: bool = True,
) -> SklearnTextcat:
    """``sklearn.textcat.v1``: TF-IDF features + logistic regression, exclusive or multi-label.

    Exclusive tasks get one multinomial logistic regression; multi-label tasks one binary logistic
    regression per label (one-vs-rest) with a decision ``threshold`` per label, tuned on ``dev``
    when ``tune_thresholds`` and a dev set is given. See the package README for every key.
    """
    config = TextcatConfig(
        analyzer=analyzer,
        ngram_range_max=ngram_range_max,
        char_ngram_range=(int(char_ngram_range[0]), int(char_ngram_range[1])),
        min_df=min_df,
        max_features=max_features,
        sublinear_tf=sublinear_tf,
        lowercase=lowercase,
        C=C,
        class_weight=class_weight,
        max_iter=max_iter,
        threshold=threshold,
        tune_thresholds=tune_thresholds,
    )
    return SklearnTextcat(config)


@distil.hookimpl
def register_students(register: Any) -> None:
    register("sklearn.textcat.v1", make_textcat)


@distil.hookimpl
def distil_init_choices() -> list[Any]:
    """``--student sklearn`` (exclusive and multi-label textcat; the default when it is the only
    textcat student installed)."""
    return [
        distil.StudentChoice("sklearn", "textcat", "sklearn.textcat.v1", priority=20, weights=True)
    ]
