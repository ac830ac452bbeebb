"""The student conformance suite fails wrong students: each broken student below breaks one rule,
and the suite check for that rule must fail on it (not pass, not crash for another reason)."""

from __future__ import annotations

import inspect
import os
import pickle
import random
from pathlib import Path
from typing import Any

import pytest

import distil
from distil.testing.students import (
    StudentConformance,
    default_test_examples,
    default_train_pairs,
)
from distil_sklearn.student import SklearnTextcat, TextcatConfig

TASK = distil.TextCat(["ham", "spam"])


@pytest.fixture(scope="module")
def data(shared_data: Path) -> dict[str, Any]:
    return {
        "task": TASK,
        "train_pairs": default_train_pairs(TASK),
        "test_examples": default_test_examples(),
    }


class Reversing(SklearnTextcat):
    def predict(self, examples):
        return super().predict(examples)[::-1]


class Majority(SklearnTextcat):
    def predict(self, examples):
        return [distil.StudentPrediction(distil.Categories(labels=["ham"]), 1.0) for _ in examples]


class Pickling(SklearnTextcat):
    def save(self, path):
        super().save(path)
        with open(Path(path) / "model.data", "wb") as handle:
            pickle.dump({"C": self.config.C}, handle)


class Lossy(SklearnTextcat):
    """Loses precision on load: scores come back rounded."""

    rounded = False

    @classmethod
    def load(cls, path):
        student = super().load(path)
        student.rounded = True
        return student

    def predict(self, examples):
        predictions = super().predict(examples)
        if self.rounded:
            for p in predictions:
                p.output.scores = {k: round(v, 3) for k, v in p.output.scores.items()}
        return predictions


class Unseeded(SklearnTextcat):
    def fit(self, task, train, dev=None):
        self.config = TextcatConfig(C=random.Random(os.urandom(8)).uniform(0.5, 8.0))
        return super().fit(task, train, dev)


class FailsOnEmpty(SklearnTextcat):
    def predict(self, examples):
        return [p for p in super().predict(examples or [distil.Example(id="x", text="")])]


class Peeking(SklearnTextcat):
    def predict(self, examples):
        predictions = super().predict(examples)
        for example, p in zip(examples, predictions, strict=True):
            if example.labels:
                p.output = distil.Categories(labels=list(example.labels))
        return predictions


class OverConfident(SklearnTextcat):
    def predict(self, examples):
        predictions = super().predict(examples)
        for p in predictions:
            p.confidence = 1.5
        return predictions


class UnknownLabel(SklearnTextcat):
    def predict(self, examples):
        return [distil.StudentPrediction(distil.Categories(labels=["eggs"]), 0.5) for _ in examples]


class NotJsonReport(SklearnTextcat):
    def fit(self, task, train, dev=None):
        return {**super().fit(task, train, dev), "when": object()}


class NoMultilabel(SklearnTextcat):
    supports_multilabel = False


class IgnoresWeights(SklearnTextcat):
    """Says it takes weights, takes them, and fits as if they were all 1."""

    def fit(self, task, train, dev=None, weights=None):
        return super().fit(task, train, dev)


class TakesAnyWeights(SklearnTextcat):
    """Fits with whatever weights it gets, never checking them."""

    def fit(self, task, train, dev=None, weights=None):
        if weights is not None and len(weights) != len(train):
            weights = None
        if weights is not None:
            weights = [max(w, 1e-6) for w in weights]
        return super().fit(task, train, dev, weights=weights)


class NoWeights(SklearnTextcat):
    supports_weights = False


SUITE = StudentConformance()


CHECKS = [
    "test_fit_returns_a_json_able_report",
    "test_predict_returns_one_valid_prediction_per_example",
    "test_predictions_follow_the_input_order",
    "test_predict_ignores_reference_answers",
    "test_beats_the_majority_class_baseline",
    "test_save_then_load_gives_identical_outputs",
    "test_save_writes_no_pickle_files",
    "test_predict_of_no_examples_is_an_empty_list",
    "test_fit_is_deterministic",
    "test_weights_decide_between_conflicting_labels",
    "test_weights_of_the_wrong_length_or_sign_are_refused",
]


def run_check(check: str, factory: Any, data: dict[str, Any], tmp_path: Path) -> None:
    """Call one suite check directly, passing the fixture values it asks for."""
    method = getattr(SUITE, check)
    wanted = inspect.signature(method).parameters
    kwargs = {k: v for k, v in {**data, "tmp_path": tmp_path}.items() if k in wanted}
    method(student_factory=factory, **kwargs)


def test_every_exclusive_check_is_covered_here():
    assert sorted(CHECKS) == sorted(
        name
        for name in dir(StudentConformance)
        if name.startswith("test_") and "multilabel" not in name and name != "test_examples"
    )


@pytest.mark.parametrize("check", CHECKS)
def test_the_suite_passes_the_correct_student(data, tmp_path, check):
    run_check(check, SklearnTextcat, data, tmp_path)


@pytest.mark.parametrize(
    ("student", "check", "error"),
    [
        (Reversing, "test_predictions_follow_the_input_order", AssertionError),
        (Majority, "test_beats_the_majority_class_baseline", AssertionError),
        (Pickling, "test_save_writes_no_pickle_files", AssertionError),
        (Lossy, "test_save_then_load_gives_identical_outputs", AssertionError),
        (Unseeded, "test_fit_is_deterministic", AssertionError),
        (FailsOnEmpty, "test_predict_of_no_examples_is_an_empty_list", AssertionError),
        (Peeking, "test_predict_ignores_reference_answers", AssertionError),
        (OverConfident, "test_predict_returns_one_valid_prediction_per_example", AssertionError),
        (UnknownLabel, "test_predict_returns_one_valid_prediction_per_example", distil.ParseError),
        (NotJsonReport, "test_fit_returns_a_json_able_report", TypeError),
        (IgnoresWeights, "test_weights_decide_between_conflicting_labels", AssertionError),
        (
            TakesAnyWeights,
            "test_weights_of_the_wrong_length_or_sign_are_refused",
            pytest.fail.Exception,
        ),
    ],
)
def test_the_suite_fails_a_student_that_breaks_its_rule(data, tmp_path, student, check, error):
    with pytest.raises(error):
        run_check(check, student, data, tmp_path)


def test_the_multilabel_checks_skip_a_student_without_multilabel_support(tmp_path):
    with pytest.raises(pytest.skip.Exception, match="does not support multi-label"):
        SUITE.test_multilabel_save_then_load_gives_identical_outputs(
            multilabel_student_factory=NoMultilabel,
            multilabel_task=distil.TextCat(["a", "b"], multilabel=True),
            multilabel_train_pairs=[],
            multilabel_test_examples=[],
            tmp_path=tmp_path,
        )


def test_the_weight_checks_skip_a_student_that_takes_no_weights(data, tmp_path):
    with pytest.raises(pytest.skip.Exception, match="takes no example weights"):
        run_check("test_weights_decide_between_conflicting_labels", NoWeights, data, tmp_path)
