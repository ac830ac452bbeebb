"""Both transformer students pass core's student conformance suite.

Fine-tuning costs seconds per fit on this machine, so the suite's data is shrunk through its
fixtures (120 sms_spam rows instead of 400, wikigold rows for NER) and the helper ``fitted`` reuses
one fit per (student, task, data) across the checks that only read a fitted student. Every check
that *is* about fitting still fits for real: the fit report, both multi-label checks, and
determinism (a fresh fit compared with the earlier one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import distil
from distil.testing import load_split
from distil.testing.students import (
    StudentConformance,
    StudentFactory,
    _inputs,
    assert_same_predictions,
    default_test_examples,
    default_train_pairs,
    gold_pairs,
    multilabel_examples,
)
from distil_transformers.plugin import make_ner, make_textcat

WIKIGOLD_LABELS = ["PER", "LOC", "ORG", "MISC"]

_FITTED: dict[tuple[str, ...], distil.Student] = {}


class CachedFits(StudentConformance):
    """The suite, with one real fit shared by the checks that only use a fitted student."""

    @staticmethod
    def fitted(
        factory: StudentFactory, task: distil.Task, train_pairs: list[distil.TrainPair]
    ) -> distil.Student:
        probe = factory()
        key = (
            type(probe).__name__,
            repr(getattr(probe, "config", None)),
            task.fingerprint(),
            *(f"{e.id}={o.model_dump_json()}" for e, o in train_pairs),
        )
        if key not in _FITTED:
            _FITTED[key] = StudentConformance.fitted(factory, task, train_pairs)
        return _FITTED[key]

    def test_fit_is_deterministic(
        self,
        student_factory: StudentFactory,
        task: distil.Task,
        train_pairs: list[distil.TrainPair],
        test_examples: list[distil.Example],
    ) -> None:
        inputs = _inputs(test_examples)
        first = self.fitted(student_factory, task, train_pairs).predict(inputs)
        again = StudentConformance.fitted(student_factory, task, train_pairs).predict(inputs)
        assert_same_predictions(first, again, what="second fit on the same data")


class TestTransformersTextcatConformance(CachedFits):
    @pytest.fixture
    def student_factory(self, fast: dict[str, Any]) -> StudentFactory:
        return lambda: make_textcat(epochs=2, **fast)

    @pytest.fixture
    def train_pairs(self, task: distil.Task) -> list[distil.TrainPair]:
        return default_train_pairs(task, limit=120)

    @pytest.fixture
    def test_examples(self) -> list[distil.Example]:
        return default_test_examples(limit=60)

    @pytest.fixture
    def multilabel_student_factory(self, fast: dict[str, Any]) -> StudentFactory:
        return lambda: make_textcat(epochs=3, **fast)

    @pytest.fixture
    def multilabel_train_pairs(self, multilabel_task: distil.Task) -> list[distil.TrainPair]:
        return gold_pairs(multilabel_task, multilabel_examples(120, seed=1))

    @pytest.fixture
    def multilabel_test_examples(self) -> list[distil.Example]:
        return multilabel_examples(60, seed=2)


class TestTransformersNerConformance(CachedFits):
    """The suite on wikigold rows; its category-only check is replaced by a span-aware one."""

    @pytest.fixture
    def student_factory(self, fast: dict[str, Any]) -> StudentFactory:
        return lambda: make_ner(epochs=2, **fast)

    @pytest.fixture
    def task(self) -> distil.Task:
        return distil.NerTask(WIKIGOLD_LABELS)

    @pytest.fixture
    def train_pairs(self, task: distil.Task, shared_data: Path) -> list[distil.TrainPair]:
        return gold_pairs(task, load_split("wikigold", "train", limit=160))

    @pytest.fixture
    def test_examples(self, shared_data: Path) -> list[distil.Example]:
        return load_split("wikigold", "test", limit=60)

    def test_beats_the_majority_class_baseline(
        self,
        student_factory: StudentFactory,
        task: distil.Task,
        train_pairs: list[distil.TrainPair],
        test_examples: list[distil.Example],
        score_spans: Any,
    ) -> None:
        # The span-aware equivalent: the majority answer of NER is "no entity" (span F1 0.0).
        student = self.fitted(student_factory, task, train_pairs)
        f1 = score_spans(test_examples, student.predict(_inputs(test_examples)))
        assert f1 > 0.1, f"span-exact F1 {f1:.3f} barely beats predicting no entities (0.0)"

    def test_predictions_are_spans_inside_the_text(
        self,
        student_factory: StudentFactory,
        task: distil.Task,
        train_pairs: list[distil.TrainPair],
        test_examples: list[distil.Example],
    ) -> None:
        student = self.fitted(student_factory, task, train_pairs)
        predictions = student.predict(_inputs(test_examples))
        assert any(p.output.spans for p in predictions)  # type: ignore[union-attr]
        for example, prediction in zip(test_examples, predictions, strict=True):
            assert isinstance(prediction.output, distil.Spans)
            for span in prediction.output.spans:
                assert 0 <= span.start < span.end <= len(example.text)
                piece = example.text[span.start : span.end]
                assert piece == piece.strip(), f"span {piece!r} has outer whitespace"

    def test_multilabel_outputs_are_valid_and_beat_the_frequent_label_baseline(self) -> None:
        pytest.skip("NER has no multi-label variant")

    def test_multilabel_save_then_load_gives_identical_outputs(self) -> None:
        pytest.skip("NER has no multi-label variant")
