"""Each spaCy student passes core's student conformance suite.

Textcat runs the suite's defaults (sms_spam); the span students run it on wikigold rows, with the
categories-only baseline check replaced by a span-aware one (it must find entities: F1 above the
empty prediction's 0). Training is kept small (the whole suite fits each student about ten times).
"""

from __future__ import annotations

import pytest
from _helpers import ner_task, span_f1, wikigold

from distil.testing.students import StudentConformance, gold_pairs
from distil_spacy.plugin import make_ner, make_spancat, make_textcat, make_textcat_multilabel


class TestSpacyTextcatConformance(StudentConformance):
    @pytest.fixture
    def student_factory(self):
        return lambda: make_textcat(architecture="bow", max_epochs=3)


class TestSpacyTextcatMultilabelConformance(StudentConformance):
    @pytest.fixture
    def student_factory(self):
        return lambda: make_textcat_multilabel(architecture="bow", max_epochs=10)


class SpanConformance(StudentConformance):
    min_f1 = 0.2
    n_train = 60

    @pytest.fixture
    def task(self):
        return ner_task()

    @pytest.fixture
    def train_pairs(self, task):
        return gold_pairs(task, wikigold("train", self.n_train))

    @pytest.fixture
    def test_examples(self):
        return list(wikigold("test", 40))

    def test_beats_the_majority_class_baseline(
        self, student_factory, task, train_pairs, test_examples
    ):
        # Span-aware variant: the "majority" span output is no spans at all (F1 0).
        student = self.fitted(student_factory, task, train_pairs)
        predicted = [p.output for p in student.predict([e.without_answer() for e in test_examples])]
        f1 = span_f1(task, [task.reference(e) for e in test_examples], predicted)
        assert f1 > self.min_f1, f"span F1 {f1:.3f}"


class TestSpacyNerConformance(SpanConformance):
    @pytest.fixture
    def student_factory(self):
        return lambda: make_ner(max_epochs=2)


class TestSpacySpancatConformance(SpanConformance):
    # spancat needs far more training than the suite's budget allows to be good; here it must
    # beat the trivial baseline (no spans, F1 0).
    min_f1 = 0.0
    n_train = 40

    @pytest.fixture
    def student_factory(self):
        return lambda: make_spancat(max_epochs=2, threshold=0.3, max_span_length=4)
