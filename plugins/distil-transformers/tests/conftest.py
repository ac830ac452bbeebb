"""Fixtures shared by this package's tests: small fit settings and independent scorers.

The machine running the tests has two shared cores, so every fit here is tiny: a few hundred short
texts, one or two epochs, ``max_length`` 48 to 64, one torch thread (under CPU contention one
thread trained 1.5-2x faster than two).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import distil

#: Settings of the students fitted in tests: fast, and still well above chance on the data.
FAST = {"lr": 2e-4, "batch_size": 8, "max_length": 48, "n_threads": 1}

WIKIGOLD_LABELS = ["PER", "LOC", "ORG", "MISC"]


def ner_task() -> distil.SpanTask:
    return distil.NerTask(WIKIGOLD_LABELS)


def span_f1(gold: list[distil.Example], predicted: list[distil.StudentPrediction]) -> float:
    """Span-exact micro-F1: a predicted span counts when start, end and label all match."""
    tp = n_gold = n_pred = 0
    for example, prediction in zip(gold, predicted, strict=True):
        assert isinstance(prediction.output, distil.Spans)
        want = {(s.start, s.end, s.label) for s in example.spans or []}
        got = {(s.start, s.end, s.label) for s in prediction.output.spans}
        tp += len(want & got)
        n_gold += len(want)
        n_pred += len(got)
    return 2 * tp / (n_gold + n_pred) if n_gold + n_pred else 1.0


def spam_f1(gold: list[distil.Example], predicted: list[distil.StudentPrediction]) -> float:
    tp = fp = fn = 0
    for example, prediction in zip(gold, predicted, strict=True):
        assert isinstance(prediction.output, distil.Categories)
        want = "spam" in (example.labels or [])
        got = "spam" in prediction.output.labels
        tp += want and got
        fp += got and not want
        fn += want and not got
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


@pytest.fixture
def fast() -> dict[str, Any]:
    return dict(FAST)


@pytest.fixture
def score_spans() -> Callable[[list[distil.Example], list[distil.StudentPrediction]], float]:
    return span_f1


@pytest.fixture
def score_spam() -> Callable[[list[distil.Example], list[distil.StudentPrediction]], float]:
    return spam_f1
