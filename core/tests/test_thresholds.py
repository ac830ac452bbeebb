"""distil.tune_thresholds against a brute-force search over the same grid."""

from __future__ import annotations

import random

import pytest

import distil
from distil.thresholds import GRID


def brute_f1(scores, truth, t, columns=None):
    tp = chosen = positives = 0
    for row, gold in zip(scores, truth, strict=True):
        for j, (s, g) in enumerate(zip(row, gold, strict=True)):
            if columns is not None and j not in columns:
                continue
            tp += s >= t and g
            chosen += s >= t
            positives += g
    return 2 * tp / (chosen + positives) if chosen + positives else 0.0


def data(n_rows=300, n_labels=5, seed=0):
    rng = random.Random(seed)
    truth = [[rng.random() < 0.1 * (j + 1) for j in range(n_labels)] for _ in range(n_rows)]
    # label j's scores separate well around its own point, so the best thresholds differ per label
    scores = [
        [
            min(1.0, max(0.0, (0.15 + 0.12 * j if g else 0.05 * j) + rng.gauss(0, 0.08)))
            for j, g in enumerate(row)
        ]
        for row in truth
    ]
    return scores, truth


def test_global_and_per_label_thresholds_match_a_brute_force_search():
    scores, truth = data()
    tuned = distil.tune_thresholds(scores, truth, 0.5, min_positives=10)
    best = max(brute_f1(scores, truth, t) for t in GRID)
    assert brute_f1(scores, truth, tuned.global_threshold) == pytest.approx(best)
    assert tuned.tuned_labels == 5
    for j, t in enumerate(tuned.per_label):
        best_j = max(brute_f1(scores, truth, u, columns={j}) for u in GRID)
        assert brute_f1(scores, truth, t, columns={j}) == pytest.approx(best_j)
    # low scores: the tuned thresholds sit well below the default 0.5, and differ per label
    assert tuned.global_threshold < 0.5
    assert len(set(tuned.per_label)) > 1


def test_sets_of_indices_are_the_same_as_bool_rows():
    scores, truth = data(seed=1)
    as_sets = [{j for j, g in enumerate(row) if g} for row in truth]
    assert distil.tune_thresholds(scores, as_sets) == distil.tune_thresholds(scores, truth)


def test_rare_labels_keep_the_global_threshold_and_ties_go_to_the_default():
    scores = [[0.9, 0.2], [0.1, 0.2], [0.8, 0.2]]
    truth = [[True, False], [False, False], [True, True]]
    tuned = distil.tune_thresholds(scores, truth, 0.5, min_positives=10)
    assert tuned.tuned_labels == 0
    assert tuned.per_label == [tuned.global_threshold] * 2
    # label 1 alone: any t <= 0.2 finds its positive at the cost of 2 false ones; a label that
    # never matters ties everywhere, and the tie goes to the value closest to the default
    only_negatives = distil.tune_thresholds([[0.3], [0.6]], [[False], [False]], 0.5)
    assert only_negatives.global_threshold == 0.5
    assert "global" in tuned.describe()


def test_mismatched_rows_are_an_error():
    with pytest.raises(ValueError, match="2 rows of scores but 1 rows of gold"):
        distil.tune_thresholds([[0.1], [0.2]], [[True]])


def test_a_small_case_by_hand():
    proba = [[0.3, 0.1], [0.35, 0.9], [0.05, 0.2]]
    gold = [{0}, {0, 1}, set()]
    # Every t in (0.2, 0.3] is perfect (keeps 0.3, 0.35, 0.9; drops 0.2); ties go nearest 0.5.
    assert distil.tune_thresholds(proba, gold, 0.5, per_label=False).global_threshold == 0.3
