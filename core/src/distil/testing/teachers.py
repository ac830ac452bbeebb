"""Conformance suites for teachers and providers: a plugin's tests subclass them.

.. code-block:: python

    from distil.testing.teachers import TeacherConformance

    class TestMyTeacher(TeacherConformance):
        @pytest.fixture
        def teacher(self):
            return make_my_teacher()

A subclass provides the ``teacher`` (or ``provider``) fixture and may override ``task`` (default:
exclusive ``TextCat(["ham", "spam"])``) and ``examples`` (default: the first 40 rows of the shipped
sms_spam test split). Every test states one rule of the contract and fails for a teacher that
breaks it. The suites are generic: they import no model library.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from .._async import run_sync
from ..records import Completion, Example, Prediction, Prompt
from ..tasks import Task, TextCat
from ..teach.provider import Provider
from ..teach.teacher import PromptTeacher, Teacher
from .data import load_split


def _outputs(predictions: Sequence[Prediction]) -> list[Any]:
    """What a teacher answered, without timing (usage differs between runs)."""
    return [
        (p.example_id, p.output.model_dump() if p.output is not None else None, p.error)
        for p in predictions
    ]


class TeacherConformance:
    """The teacher contract: ``label(task, examples)`` → one prediction per example, in order."""

    @pytest.fixture
    def teacher(self) -> Teacher:
        raise NotImplementedError("a TeacherConformance subclass provides the 'teacher' fixture")

    @pytest.fixture
    def task(self) -> Task:
        return TextCat(["ham", "spam"])

    @pytest.fixture
    def examples(self) -> list[Example]:
        return load_split("sms_spam", "test", limit=40)

    @pytest.fixture
    def predictions(
        self, teacher: Teacher, task: Task, examples: list[Example]
    ) -> list[Prediction]:
        return teacher.label(task, examples)

    def test_label_returns_one_prediction_per_example_in_order(
        self, predictions: list[Prediction], examples: list[Example]
    ) -> None:
        assert [p.example_id for p in predictions] == [ex.id for ex in examples]

    def test_every_prediction_names_the_teacher_as_its_source(
        self, teacher: Teacher, task: Task, predictions: list[Prediction]
    ) -> None:
        source = teacher.source(task)
        assert source.startswith("teacher:")
        assert {p.source for p in predictions} == {source}

    def test_some_predictions_succeed(self, predictions: list[Prediction]) -> None:
        assert any(p.ok for p in predictions), [p.error for p in predictions[:3]]

    def test_successful_outputs_validate_against_the_task(
        self, task: Task, predictions: list[Prediction]
    ) -> None:
        for p in predictions:
            if p.output is not None:
                assert p.error is None, p
                assert task.validate_output(p.output) == p.output

    def test_failures_have_no_output_an_error_and_the_raw_answer(
        self, predictions: list[Prediction]
    ) -> None:
        for p in predictions:
            if p.output is None:
                assert p.error, f"prediction for {p.example_id} has neither output nor error"
                assert p.raw is not None, (
                    f"failed prediction for {p.example_id} lost its raw answer"
                )

    def test_confidence_is_none_or_a_probability(self, predictions: list[Prediction]) -> None:
        for p in predictions:
            assert p.confidence is None or 0.0 <= p.confidence <= 1.0, p

    def test_usage_is_non_negative(self, predictions: list[Prediction]) -> None:
        for p in predictions:
            u = p.usage
            assert min(u.input_tokens, u.output_tokens, u.cost, u.latency_s) >= 0, u

    def test_the_teacher_never_sees_the_gold_answer(
        self, teacher: Teacher, task: Task, examples: list[Example]
    ) -> None:
        # A teacher that reads the reference answer would follow a wrong one: give every example
        # a wrong "gold" label and expect exactly the answers the stripped examples get.
        stripped = [ex.without_answer() for ex in examples]
        poisoned = [
            ex.model_copy(update={"labels": [task.labels[-1]], "spans": []}) for ex in stripped
        ]
        assert _outputs(teacher.label(task, poisoned)) == _outputs(teacher.label(task, stripped))

    def test_labelling_is_deterministic(
        self, teacher: Teacher, task: Task, examples: list[Example], predictions: list[Prediction]
    ) -> None:
        assert _outputs(teacher.label(task, examples)) == _outputs(predictions)


class ProviderConformance:
    """The provider contract: N prompts in, N completions out, honest usage, JSON cache identity."""

    @pytest.fixture
    def provider(self) -> Provider:
        raise NotImplementedError("a ProviderConformance subclass provides the 'provider' fixture")

    @pytest.fixture
    def task(self) -> Task:
        return TextCat(["ham", "spam"])

    @pytest.fixture
    def prompts(self, provider: Provider, task: Task) -> list[Prompt]:
        """Prompts in the provider's style, built by the process-wide host's prompt hooks."""
        teacher = PromptTeacher(provider, concurrency=1)
        return [teacher.prompt_for(task, ex) for ex in load_split("sms_spam", "test", limit=3)]

    @pytest.fixture
    def completions(self, provider: Provider, prompts: list[Prompt]) -> list[Completion]:
        return run_sync(provider.complete_batch(prompts))

    def test_complete_batch_answers_each_prompt(
        self, prompts: list[Prompt], completions: list[Completion]
    ) -> None:
        assert len(completions) == len(prompts)
        assert all(isinstance(c, Completion) for c in completions)

    def test_complete_batch_of_nothing_is_nothing(self, provider: Provider) -> None:
        assert run_sync(provider.complete_batch([])) == []

    def test_usage_is_non_negative(self, completions: list[Completion]) -> None:
        for c in completions:
            u = c.usage
            assert min(u.input_tokens, u.output_tokens, u.cost, u.latency_s) >= 0, u

    def test_cache_identity_is_json_and_names_the_model(self, provider: Provider) -> None:
        identity = provider.cache_identity()
        blob = json.dumps(identity, sort_keys=True)
        assert json.loads(blob) == identity
        assert identity.get("model") == provider.model

    def test_provider_declares_its_name_and_style(self, provider: Provider) -> None:
        assert provider.name and provider.name != "provider"
        assert provider.style in {"chat", "hypotheses"}
        assert provider.describe().startswith(provider.name)
