"""Conformance suites for teachers and providers: a plugin's tests subclass them.

.. code-block:: python

    from distil.testing.teachers import LoopbackBackend, TeacherConformance

    class TestMyTeacher(TeacherConformance):
        @pytest.fixture
        def teacher(self):
            return make_my_teacher()

        @pytest.fixture          # optional: a model the suite can script and make fail
        def backend(self, loopback_llm):
            return LoopbackBackend(loopback_llm)

A subclass provides the ``teacher`` (or ``provider``) fixture and may override ``task`` (default:
exclusive ``TextCat(["ham", "spam"])``) and ``examples`` (default: the first 40 rows of the shipped
sms_spam test split). Every test states one rule of the contract and fails for a teacher that
breaks it. The suites are generic: they import no model library.

What they check, beyond shapes: every answer belongs to its own example (a batch answers each
example as that example alone gets answered; the answers are not all one when the gold answers
differ) and most answers parse (:attr:`TeacherConformance.min_parse_rate`). With a ``backend``
(a :class:`Backend`: the model behind the plugin, scripted by the suite) they also send 40
prompts (real texts, 20 labels) whose right answer each comes from its own text, and check
every answer against its own prompt (a reversed, copied, constant or dropped answer fails),
and make the transport answer 429 with ``Retry-After``, 503, 500, 400 and time out, expecting
:class:`~distil.RateLimitError` with its wait, transient, transient, permanent and transient.
Without a ``backend`` those tests are skipped, saying so.
"""

from __future__ import annotations

import email.utils
import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

import pytest

from .._async import run_sync
from ..errors import ProviderError, RateLimitError, TransientProviderError
from ..records import Completion, Example, Message, Prediction, Prompt
from ..tasks import Task, TextCat
from ..teach.provider import Provider
from ..teach.teacher import PromptTeacher, Teacher
from .data import load_split
from .loopback import Fault, LoopbackLLM

#: The model behind a provider, as the suite scripts it: a normalised request
#: (``{"system", "messages": [{"role", "content"}], "schema", "model", ...}``) → the answer text.
Answer = Callable[[dict[str, Any]], str]

NO_BACKEND = (
    "{suite}: no 'backend' fixture, so the suite cannot script this plugin's model or make its "
    "transport fail; the prompt-alignment and error-mapping checks did not run. Give the test "
    "class a 'backend' fixture (LoopbackBackend(server) for a provider on distil's loopback "
    "server; any distil.testing.teachers.Backend otherwise) to run them."
)


class Backend(Protocol):
    """What the suite needs from the model behind a plugin to check alignment and errors."""

    def answer_with(self, answer: Answer) -> Answer | None:
        """Make the model answer every request with ``answer(request)``; return the old one."""
        ...

    def fail_next(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        """Make the transport answer the next request with this HTTP status and headers."""
        ...

    def time_out_next(self) -> None:
        """Make the next request get no answer (the provider's timeout, or a closed socket)."""
        ...


class LoopbackBackend:
    """:class:`Backend` for a provider talking to a :class:`~distil.testing.loopback.LoopbackLLM`.

    A "timeout" holds the connection ``hold_s`` seconds, then closes it unanswered: a provider
    whose timeout is shorter sees its own timeout, any other one a dropped connection; both
    must be transient.
    """

    def __init__(self, server: LoopbackLLM, *, hold_s: float = 1.0) -> None:
        self.server = server
        self.hold_s = hold_s

    def answer_with(self, answer: Answer) -> Answer | None:
        previous, self.server.answer = self.server.answer, answer
        return previous

    def fail_next(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        self.server.fail_next(status, headers=dict(headers or {}))

    def time_out_next(self) -> None:
        self.server.inject(Fault(kind="timeout", delay=self.hold_s))


# -- distinguishable prompts ------------------------------------------------------------------
#: Labels for the scripted prompts: many, with long shared prefixes (banking77's names), so a
#: provider or parser that truncates or confuses labels is caught too.
ALIGNED_LABELS = (
    "card_arrival",
    "card_delivery_estimate",
    "card_linking",
    "card_not_working",
    "card_payment_fee_charged",
    "card_payment_not_recognised",
    "card_payment_wrong_exchange_rate",
    "cash_withdrawal_charge",
    "cash_withdrawal_not_recognised",
    "declined_card_payment",
    "declined_cash_withdrawal",
    "declined_transfer",
    "pending_card_payment",
    "pending_cash_withdrawal",
    "pending_top_up",
    "pending_transfer",
    "top_up_by_bank_transfer_charge",
    "top_up_by_card_charge",
    "top_up_failed",
    "transfer_not_received_by_recipient",
)


@functools.lru_cache(maxsize=1)
def _aligned_rows() -> tuple[Example, ...]:
    texts: dict[str, Example] = {}
    for ex in load_split("sms_spam", "test", limit=80):  # the packaged sample has 180 rows
        texts.setdefault(ex.text.strip(), ex)
    rows = list(texts.values())[:40]
    n = len(ALIGNED_LABELS)
    # neighbours never share a label, and each label is used twice
    return tuple(
        Example(id=f"aligned-{i:02d}-{ex.id}", text=ex.text, labels=[ALIGNED_LABELS[i * 7 % n]])
        for i, ex in enumerate(rows)
    )


def aligned_examples() -> tuple[TextCat, list[Example]]:
    """40 distinct real texts (sms_spam, packaged with distil), each given its own label of 20:
    the scripted model answers each prompt with its own example's label, so every answer can be
    checked against its own prompt; neighbours differ, so a shifted or copied answer shows."""
    return TextCat(list(ALIGNED_LABELS)), list(_aligned_rows())


def answer_from_own_text(examples: Sequence[Example]) -> Answer:
    """A scripted model that answers each request with the gold label of the example whose text
    it carries (the longest text found in a user message), else a sentence that cannot parse."""
    gold = {ex.text: (ex.labels or [""])[0] for ex in examples}

    def answer(request: dict[str, Any]) -> str:
        users = [str(m.get("content", "")) for m in request.get("messages", [])]
        users = [
            c
            for c, m in zip(users, request.get("messages", []), strict=True)
            if m.get("role") == "user"
        ]
        for content in reversed(users):
            if content.strip() in gold:
                return json.dumps({"labels": [gold[content.strip()]]})
            found = [text for text in gold if text in content]
            if found:
                return json.dumps({"labels": [gold[max(found, key=len)]]})
        return "no example text in this request"

    return answer


def _labels(prediction: Prediction) -> list[str] | None:
    return list(getattr(prediction.output, "labels", []) or []) if prediction.ok else None


def _misaligned(predictions: Sequence[Prediction], examples: Sequence[Example]) -> list[str]:
    """One line per answer that is not its own example's label."""
    return [
        f"#{i} {ex.id}: expected {ex.labels}, got {_labels(p) or p.error}"
        for i, (ex, p) in enumerate(zip(examples, predictions, strict=True))
        if _labels(p) != list(ex.labels or [])
    ]


def _close(a: Any, b: Any, tol: float = 1e-3) -> bool:
    """Equal, except that floats (scores) may differ by ``tol``: a model that embeds a batch at
    once (padding) differs from itself alone in the last digits, not in its answer."""
    if isinstance(a, float) and isinstance(b, float | int):
        return abs(a - b) <= tol
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _outputs(predictions: Sequence[Prediction]) -> list[Any]:
    """What a teacher answered, without timing (usage differs between runs)."""
    return [
        (p.example_id, p.output.model_dump() if p.output is not None else None, p.error)
        for p in predictions
    ]


class _Scripted:
    """The ``backend`` hook both suites share, and the scripted prompts built on it."""

    @pytest.fixture
    def backend(self) -> Backend:
        pytest.skip(NO_BACKEND.format(suite=type(self).__name__))

    @pytest.fixture
    def scripted(self, backend: Backend) -> Iterator[tuple[TextCat, list[Example]]]:
        """The aligned task and examples, with the backend answering each from its own text."""
        task, examples = aligned_examples()
        previous = backend.answer_with(answer_from_own_text(examples))
        yield task, examples
        if previous is not None:
            backend.answer_with(previous)


class TeacherConformance(_Scripted):
    """The teacher contract: ``label(task, examples)`` → one prediction per example, in order,
    each the answer to its own example."""

    #: The share of examples that must get a parsed answer. None: 0.75 for a PromptTeacher (an
    #: LLM's answers must mostly parse), no floor for other teachers (a rules teacher abstains
    #: where no rule matches). Lower it, saying why, only for a model known to fail often.
    min_parse_rate: ClassVar[float | None] = None
    #: False for a teacher too weak to tell the default examples apart (a tiny test model): the
    #: suite then cannot catch a teacher that gives every example one answer.
    answers_vary: ClassVar[bool] = True
    #: How many examples the "answered alone" check labels one at a time.
    alone_checks: ClassVar[int] = 8

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

    def test_each_answer_is_the_one_its_example_gets_alone(
        self, teacher: Teacher, task: Task, examples: list[Example], predictions: list[Prediction]
    ) -> None:
        # A batch answered in the wrong order, or with one answer copied, differs from what each
        # example gets when it is labelled by itself.
        n = min(self.alone_checks, len(examples))
        alone = [teacher.label(task, [ex])[0] for ex in examples[:n]]
        wrong = [
            f"#{i} {a[0]}: in the batch {b[1] or b[2]}, alone {a[1] or a[2]}"
            for i, (a, b) in enumerate(zip(_outputs(alone), _outputs(predictions[:n]), strict=True))
            if not _close(a, b)
        ]
        assert not wrong, "answers in a batch are not each example's own:\n" + "\n".join(wrong)

    def test_answers_are_not_all_one_when_the_gold_answers_differ(
        self, task: Task, examples: list[Example], predictions: list[Prediction]
    ) -> None:
        if not self.answers_vary:
            pytest.skip(f"{type(self).__name__}.answers_vary is False")
        gold = {json.dumps(self._gold(task, ex), sort_keys=True) for ex in examples}
        gold.discard("null")
        if len(gold) < 2:
            pytest.skip("the examples' gold answers are all one (or missing): nothing to compare")
        # an abstention (a failure) counts as an answer of its own: a keyword teacher that
        # labels only what its keywords match still tells the examples apart
        answers = {
            json.dumps(p.output.model_dump() if p.output else None, sort_keys=True)
            for p in predictions
        }
        assert len(answers) >= 2, (
            f"every example got the same answer ({answers}) though their gold answers differ "
            f"({len(gold)} distinct): a constant or copied answer"
        )

    @staticmethod
    def _gold(task: Task, example: Example) -> Any:
        try:
            reference = task.reference(example)
        except NotImplementedError:
            return None
        return reference.model_dump() if reference is not None else None

    def test_most_examples_get_a_parsed_answer(
        self, teacher: Teacher, predictions: list[Prediction]
    ) -> None:
        floor = self.min_parse_rate
        if floor is None:
            if not isinstance(teacher, PromptTeacher):
                pytest.skip("not a PromptTeacher: set min_parse_rate for a floor on its answers")
            floor = 0.75
        ok = sum(p.ok for p in predictions)
        errors = [p.error for p in predictions if not p.ok][:3]
        assert ok >= floor * len(predictions), (
            f"only {ok} of {len(predictions)} answers parsed (the floor is {floor:.0%}); "
            f"first errors: {errors}"
        )

    def test_each_answer_follows_its_own_prompt(
        self, teacher: Teacher, scripted: tuple[TextCat, list[Example]]
    ) -> None:
        task, examples = scripted
        predictions = teacher.label(task, examples)
        assert [p.example_id for p in predictions] == [ex.id for ex in examples]
        wrong = _misaligned(predictions, examples)
        assert not wrong, (
            f"{len(wrong)} of {len(examples)} answers are not the answer to their own prompt "
            "(the scripted model answers each prompt with its own example's label):\n"
            + "\n".join(wrong[:10])
        )


class ProviderConformance(_Scripted):
    """The provider contract: N prompts in, N completions out, each the answer to its own prompt,
    honest usage, JSON cache identity, and HTTP failures as distil's error classes."""

    #: The share of scripted answers that must parse.
    min_parse_rate: ClassVar[float] = 0.75

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

    @pytest.fixture
    def scripted_answers(
        self, provider: Provider, scripted: tuple[TextCat, list[Example]]
    ) -> tuple[list[Example], list[Prediction]]:
        """The 40 scripted prompts sent as one batch, each answer parsed for its own example."""
        task, examples = scripted
        teacher = PromptTeacher(provider, concurrency=1)
        prompts = [teacher.prompt_for(task, ex) for ex in examples]
        completions = run_sync(provider.complete_batch(prompts))
        assert len(completions) == len(prompts), (
            f"{provider.describe()} answered {len(completions)} of {len(prompts)} prompts"
        )
        source = teacher.source(task)
        return examples, [
            teacher.parse(task, ex, c, source) for ex, c in zip(examples, completions, strict=True)
        ]

    def _fail(self, provider: Provider, call: Callable[[], None]) -> BaseException:
        """Arrange a failure with ``call``, send one prompt, return the error it raised."""
        prompt = Prompt(messages=[Message(role="user", content="Ça va? 🙂 answer in JSON")])
        call()
        with pytest.raises(ProviderError) as info:
            run_sync(provider.complete_batch([prompt]))
        return info.value

    def test_complete_batch_answers_each_prompt(
        self, provider: Provider, prompts: list[Prompt], completions: list[Completion]
    ) -> None:
        assert len(completions) == len(prompts), (
            f"{provider.describe()} answered {len(completions)} of {len(prompts)} prompts"
        )
        assert all(isinstance(c, Completion) for c in completions)

    def test_a_batch_answers_each_prompt_as_if_asked_alone(
        self, provider: Provider, prompts: list[Prompt], completions: list[Completion]
    ) -> None:
        alone = [run_sync(provider.complete_batch([p]))[0] for p in prompts]
        for i, (a, b) in enumerate(zip(alone, completions, strict=True)):
            assert a.text == b.text, f"prompt #{i}: alone {a.text!r}, in the batch {b.text!r}"
            if a.scores is not None or b.scores is not None:
                assert a.scores == pytest.approx(b.scores, abs=1e-3), f"prompt #{i}"

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

    # -- with a backend: alignment, parse rate, error mapping --------------------------------
    def test_each_answer_follows_its_own_prompt(
        self, provider: Provider, scripted_answers: tuple[list[Example], list[Prediction]]
    ) -> None:
        examples, predictions = scripted_answers
        wrong = _misaligned(predictions, examples)
        assert not wrong, (
            f"{len(wrong)} of {len(examples)} answers of {provider.describe()} are not the "
            "answer to their own prompt (the scripted model answers each prompt with its own "
            "example's label):\n" + "\n".join(wrong[:10])
        )

    def test_most_scripted_answers_parse(
        self, scripted_answers: tuple[list[Example], list[Prediction]]
    ) -> None:
        _, predictions = scripted_answers
        ok = sum(p.ok for p in predictions)
        assert ok >= self.min_parse_rate * len(predictions), (
            f"only {ok} of {len(predictions)} answers parsed (the floor is "
            f"{self.min_parse_rate:.0%}); first errors: "
            f"{[p.error for p in predictions if not p.ok][:3]}"
        )

    @pytest.mark.parametrize("when", ["seconds", "http-date"])
    def test_a_429_is_a_rate_limit_error_with_its_retry_after(
        self, provider: Provider, backend: Backend, when: str
    ) -> None:
        value = "7" if when == "seconds" else email.utils.formatdate(time.time() + 120, usegmt=True)
        error = self._fail(provider, lambda: backend.fail_next(429, {"Retry-After": value}))
        assert isinstance(error, RateLimitError), (
            f"a 429 became {type(error).__name__}, not RateLimitError: {error}"
        )
        expected = 7.0 if when == "seconds" else 120.0
        assert error.retry_after == pytest.approx(expected, abs=5), (
            f"Retry-After {value!r} became retry_after={error.retry_after}"
        )

    def test_a_503_is_transient_and_keeps_its_retry_after(
        self, provider: Provider, backend: Backend
    ) -> None:
        error = self._fail(provider, lambda: backend.fail_next(503, {"Retry-After": "3"}))
        assert isinstance(error, TransientProviderError), f"a 503 became {error!r}"
        assert not isinstance(error, RateLimitError), f"a 503 became {error!r}"
        assert error.retry_after == pytest.approx(3.0), "a 503's Retry-After was dropped"

    def test_a_500_is_transient(self, provider: Provider, backend: Backend) -> None:
        error = self._fail(provider, lambda: backend.fail_next(500))
        assert isinstance(error, TransientProviderError), f"a 500 became {error!r}"

    def test_a_400_is_permanent(self, provider: Provider, backend: Backend) -> None:
        error = self._fail(provider, lambda: backend.fail_next(400))
        assert not isinstance(error, TransientProviderError), (
            f"a 400 became {type(error).__name__}: it would be retried for nothing"
        )

    def test_a_timeout_is_transient(self, provider: Provider, backend: Backend) -> None:
        error = self._fail(provider, backend.time_out_next)
        assert isinstance(error, TransientProviderError), f"a timeout became {error!r}"
