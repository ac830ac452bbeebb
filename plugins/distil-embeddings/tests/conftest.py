"""Fixtures shared by this package's tests.

The MiniLM encoder is loaded once per process and every text is encoded once (the package's own
cache), so tests may fit students freely on texts other tests already used. The static model is
distilled at most once per machine: it is kept in the disk cache (``$DISTIL_CACHE_DIR`` or
``~/.cache/distil``), as it is for users; the first session on a fresh machine pays about 100 s of
CPU for it, later ones load it in a second.
"""

from __future__ import annotations

import os

import pytest

import distil
from distil.testing import load_split

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def textcat_for(*splits: list[distil.Example], multilabel: bool = False) -> distil.TextCat:
    labels = sorted({label for split in splits for e in split for label in e.labels or []})
    return distil.TextCat(labels, multilabel=multilabel)


def macro_f1(gold: list[distil.Example], predicted: list[distil.StudentPrediction]) -> float:
    """Macro-F1 over the labels of an exclusive task (independent of the package's code)."""
    labels = {x for e in gold for x in e.labels or []}
    total = 0.0
    for label in labels:
        tp = fp = fn = 0
        for example, prediction in zip(gold, predicted, strict=True):
            want = label in (example.labels or [])
            got = label in prediction.output.labels  # type: ignore[union-attr]
            tp, fp, fn = tp + (want and got), fp + (got and not want), fn + (want and not got)
        total += 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return total / len(labels)


@pytest.fixture(scope="session")
def score_macro_f1():
    return macro_f1


@pytest.fixture(scope="session")
def task_for():
    return textcat_for


@pytest.fixture(scope="session")
def banking77(shared_data) -> dict[str, list[distil.Example]]:
    """2,000 gold train rows and 500 test rows of banking77 (77 intents)."""
    return {
        "train": load_split("banking77", "train", limit=2000),
        "test": load_split("banking77", "test", limit=500),
    }


@pytest.fixture(scope="session")
def static_model():
    """The distilled static model (from the disk cache; distilled there the first time)."""
    from distil_embeddings import encoders

    return encoders.static_model(256)[0]
