"""Calibration: reliability bins, ECE and what counts as a correct answer."""

from __future__ import annotations

import pytest

from distil import Categories, Prediction, TextCat
from distil.evaluate.calibration import calibration, is_correct, reliability
from distil.evaluate.utility import break_even


def test_reliability_bins_by_confidence_and_weights_the_gap_by_count() -> None:
    confs = [0.95, 0.95, 0.95, 0.95, 0.55, 0.55, 1.0, 0.05]
    correct = [True, True, True, False, True, False, True, False]

    result = reliability(confs, correct)

    assert result["n"] == 8 and len(result["bins"]) == 10
    top = result["bins"][9]  # 0.95 ×4 and 1.0 (the last bin holds 1.0)
    assert top["count"] == 5
    assert top["mean_confidence"] == pytest.approx(0.96)
    assert top["accuracy"] == pytest.approx(0.8)
    assert result["bins"][5] == {
        "lower": 0.5,
        "upper": 0.6,
        "count": 2,
        "mean_confidence": pytest.approx(0.55),
        "accuracy": 0.5,
    }
    assert result["bins"][3]["count"] == 0 and result["bins"][3]["accuracy"] is None
    expected = 5 / 8 * 0.16 + 2 / 8 * 0.05 + 1 / 8 * 0.05
    assert result["ece"] == pytest.approx(expected)


def test_exclusive_textcat_is_correct_when_the_chosen_label_is_gold() -> None:
    task = TextCat(["ham", "spam"])
    gold = Categories(labels=["spam"])
    assert is_correct(task, gold, Categories(labels=["spam"], scores={"spam": 0.9}))
    assert not is_correct(task, gold, Categories(labels=["ham"]))
    assert not is_correct(task, gold, None)


def test_multilabel_needs_the_exact_label_set() -> None:
    task = TextCat(["a", "b", "c"], multilabel=True)
    gold = Categories(labels=["a", "b"])
    assert is_correct(task, gold, Categories(labels=["b", "a"]))
    assert not is_correct(task, gold, Categories(labels=["a"]))


def test_calibration_skips_failures_and_answers_without_confidence() -> None:
    task = TextCat(["ham", "spam"])
    gold = [Categories(labels=["ham"])] * 3
    preds = [
        Prediction(example_id="1", source="s", output=Categories(labels=["ham"]), confidence=0.8),
        Prediction(example_id="2", source="s", output=Categories(labels=["ham"])),
        Prediction(example_id="3", source="s", error="parse", confidence=0.9),
    ]
    result = calibration(task, gold, preds)
    assert result is not None and result["n"] == 1
    assert result["ece"] == pytest.approx(0.2)
    assert calibration(task, gold[:1], [preds[1]]) is None


def test_break_even_divides_the_fixed_cost_by_the_saving_per_document() -> None:
    result = break_even(
        teacher_cost_per_doc=0.001,
        student_cost_per_doc=0.0000001,
        human_annotations=300,
        training_seconds=36.0,
        seconds_per_annotation=6.0,
        annotation_hour_cost=30.0,
        cpu_hour_cost=0.10,
    )
    # 300 × 6 s = 0.5 h of annotation at $30/h = $15; 36 s of CPU at $0.10/h = $0.001.
    assert result["annotation_cost"] == pytest.approx(15.0)
    assert result["training_cost"] == pytest.approx(0.001)
    assert result["fixed_cost"] == pytest.approx(15.001)
    assert result["break_even_docs"] == pytest.approx(15.001 / 0.0009999)


def test_break_even_is_never_when_the_student_saves_nothing() -> None:
    result = break_even(
        teacher_cost_per_doc=0.0001,
        student_cost_per_doc=0.0001,
        human_annotations=10,
        training_seconds=1.0,
        seconds_per_annotation=5.0,
        annotation_hour_cost=30.0,
        cpu_hour_cost=0.05,
    )
    assert result["saving_per_doc"] == 0
    assert result["break_even_docs"] is None
