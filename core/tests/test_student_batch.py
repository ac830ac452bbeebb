"""distil.CategoriesBatch: array-backed student outputs that read like a list of predictions.

Every check compares the batch with :func:`distil.categories_predictions` (the toolkit's rule,
one object per row) on the same probabilities: same labels, scores, confidence, bit for bit.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

import distil
from distil import CategoriesBatch, StudentPrediction

np = pytest.importorskip("numpy")

#: Real label names: emoji, accents, spaces, and many of them (banking77 has 77).
LABELS = [f"intent {i} {'🙂' if i % 3 else 'café'}" for i in range(77)]


def same(a: StudentPrediction, b: StudentPrediction) -> bool:
    return a.output == b.output and a.confidence == b.confidence


def rows(seed: int, n: int, k: int, *, exclusive: bool) -> Any:
    rng = np.random.default_rng(seed)
    p = rng.random((n, k))
    p[0] = 0.0  # a row of zeros: the first label wins a tie, no label reaches a threshold
    p[1] = 0.5  # every label exactly at the 0.5 threshold
    p[2, -1] = p[2, 1] = 1.0  # a tie between two labels at 1.0
    return p / p.sum(axis=1, keepdims=True).clip(1e-12) if exclusive else p


@pytest.mark.parametrize(
    ("multilabel", "thresholds"),
    [
        (False, 0.5),
        (True, 0.5),
        (True, [0.05 + 0.01 * j for j in range(len(LABELS))]),  # one threshold per label
    ],
)
def test_a_batch_equals_the_toolkits_predictions_row_by_row(multilabel, thresholds) -> None:
    p = rows(1, 300, len(LABELS), exclusive=not multilabel)
    reference = distil.categories_predictions(
        LABELS, p, multilabel=multilabel, thresholds=thresholds
    )
    batch = CategoriesBatch.from_probabilities(
        LABELS, p, multilabel=multilabel, thresholds=thresholds
    )
    assert len(batch) == len(reference) == 300
    assert all(same(a, b) for a, b in zip(batch, reference, strict=True))
    assert all(same(batch[i], reference[i]) for i in (0, 1, 2, 150, -1))
    assert batch == reference and reference == batch
    assert all(type(x.confidence) is float for x in batch)
    assert all(type(s) is float for x in batch for s in x.output.scores.values())
    # the fast accessors read the same values without building a prediction
    assert batch.confidence_list() == [x.confidence for x in reference]
    assert batch.chosen_labels() == [x.output.labels for x in reference]
    assert batch.labels == LABELS and batch.probabilities is p


def test_plain_rows_give_the_same_batch_as_an_array() -> None:
    p = rows(2, 40, len(LABELS), exclusive=False)
    from_array = CategoriesBatch.from_probabilities(LABELS, p, multilabel=True, thresholds=0.3)
    from_lists = CategoriesBatch.from_probabilities(
        LABELS, p.tolist(), multilabel=True, thresholds=0.3
    )
    assert from_lists == from_array
    assert from_lists[5:9] == from_array[5:9]


def test_slices_and_reversal_keep_rows_with_their_predictions() -> None:
    p = rows(3, 50, 2, exclusive=True)
    batch = CategoriesBatch.from_probabilities(["ham", "spam 📵"], p, multilabel=False)
    reference = distil.categories_predictions(["ham", "spam 📵"], p, multilabel=False)
    assert isinstance(batch[10:20], CategoriesBatch)
    assert batch[10:20] == reference[10:20]
    assert batch[::-1] == reference[::-1]
    assert batch[::-1][::-1] == reference
    with pytest.raises(IndexError):
        batch[50]


def test_a_prediction_is_built_once_and_changes_to_it_are_kept() -> None:
    p = rows(4, 600, 3, exclusive=True)
    batch = CategoriesBatch.from_probabilities(["a", "b", "c"], p, multilabel=False)
    assert batch[7] is batch[7]
    first = batch[300]
    assert next(x for i, x in enumerate(batch) if i == 300) is first
    for prediction in batch:
        prediction.confidence = 0.25
    assert {x.confidence for x in batch} == {0.25}
    assert batch[::-1][0].confidence == 0.25  # a slice shares what was built


def test_a_batch_survives_pickling_with_what_was_changed() -> None:
    p = rows(5, 20, 4, exclusive=False)
    batch = CategoriesBatch.from_probabilities(list("wxyz"), p, multilabel=True)
    batch[3].output.scores = {"w": 1.0}
    copy = pickle.loads(pickle.dumps(batch))
    assert copy[3].output.scores == {"w": 1.0}
    assert copy[:3] == batch[:3] and copy[4:] == batch[4:]


def test_an_empty_batch_equals_an_empty_list() -> None:
    empty = CategoriesBatch.from_probabilities(["a", "b"], np.zeros((0, 2)), multilabel=False)
    assert len(empty) == 0 and empty == [] and list(empty) == []


def test_a_batch_differs_from_other_predictions() -> None:
    p = rows(6, 10, 2, exclusive=True)
    batch = CategoriesBatch.from_probabilities(["ham", "spam"], p, multilabel=False)
    reference = distil.categories_predictions(["ham", "spam"], p, multilabel=False)
    reference[4] = StudentPrediction(reference[4].output, 0.123)
    assert batch != reference
    assert batch != reference[:9]
    assert batch != "not predictions"


def test_shapes_that_do_not_match_the_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="one column per label"):
        CategoriesBatch.from_probabilities(["a", "b", "c"], np.zeros((4, 2)), multilabel=False)
    with pytest.raises(ValueError, match="2 thresholds for 3 labels"):
        CategoriesBatch.from_probabilities(
            ["a", "b", "c"], np.zeros((4, 3)), multilabel=True, thresholds=[0.5, 0.5]
        )
    with pytest.raises(ValueError, match="one per document"):
        CategoriesBatch(["a"], np.zeros((3, 1)), [0, 0], [1.0, 1.0, 1.0], multilabel=False)
