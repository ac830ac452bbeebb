"""The cascade: a real trained student first, a scripted LLM teacher only below the threshold;
shadow mode runs both and records where they disagree."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

import distil
from distil import (
    Cascade,
    Categories,
    Completion,
    Example,
    PluginHost,
    Prompt,
    PromptTeacher,
    Provider,
    TextCat,
    Usage,
)
from distil.config import resolve_section
from distil.store.sqlite import Store
from distil.teach.runner import label_dataset
from distil.testing import load_split

pytest.importorskip("distil_sklearn")
from distil_sklearn.student import SklearnTextcat

COST = 0.002  # what the scripted provider reports per request


class CountingProvider(Provider):
    """Answers with the example's gold label (looked up by text) and records what it was asked."""

    name = "test.counting"

    def __init__(self, answers: dict[str, str], fail: set[str] | None = None) -> None:
        super().__init__("counting-1")
        self.answers = answers
        self.fail = fail or set()
        self.calls: list[str] = []

    async def complete(self, prompt: Prompt) -> Completion:
        text = prompt.messages[-1].content
        self.calls.append(text)
        label = "eggs" if text in self.fail else self.answers.get(text, "ham")
        return Completion(
            text=json.dumps({"labels": [label]}),
            usage=Usage(input_tokens=20, output_tokens=4, cost=COST),
        )


@pytest.fixture(scope="module")
def task() -> TextCat:
    return TextCat(["ham", "spam"])


@pytest.fixture(scope="module")
def student(task: TextCat) -> SklearnTextcat:
    train = load_split("sms_spam", "train", limit=1000)
    model = SklearnTextcat()
    model.fit(task, [(ex, Categories(labels=list(ex.labels or []))) for ex in train])
    return model


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return load_split("sms_spam", "test", limit=200)


@pytest.fixture
def provider(examples: list[Example]) -> CountingProvider:
    return CountingProvider({ex.text: (ex.labels or ["ham"])[0] for ex in examples})


def confidences(student: SklearnTextcat, examples: list[Example]) -> dict[str, float]:
    preds = student.predict([ex.without_answer() for ex in examples])
    return {ex.id: float(p.confidence or 0.0) for ex, p in zip(examples, preds, strict=True)}


def test_exactly_the_examples_below_the_threshold_reach_the_teacher(
    isolated_host, task, student, examples, provider
) -> None:
    conf = confidences(student, examples)
    threshold = sorted(conf.values())[len(conf) // 4]  # about a quarter is below
    below = {i for i, c in conf.items() if c < threshold}
    assert 10 < len(below) < len(examples) - 10
    cascade = Cascade(student, PromptTeacher(provider), threshold=threshold)
    preds = cascade.label(task, examples)

    by_text = {ex.text: ex.id for ex in examples}
    assert sorted(by_text[t] for t in provider.calls) == sorted(below)
    direct = student.predict([ex.without_answer() for ex in examples])
    for ex, pred, mine in zip(examples, preds, direct, strict=True):
        assert pred.example_id == ex.id
        assert pred.source == cascade.source(task)
        if ex.id in below:
            assert pred.output == Categories(labels=list(ex.labels or []))  # the teacher's
            assert pred.usage.cost == COST and pred.usage.input_tokens == 20
        else:
            assert pred.output == mine.output and pred.confidence == mine.confidence
            assert pred.usage.cost == 0 and pred.usage.attempts == 0
    stats = cascade.stats
    assert (stats.n, stats.sent_to_teacher) == (len(examples), len(below))
    assert stats.share == pytest.approx(len(below) / len(examples))
    assert stats.teacher_cost == pytest.approx(COST * len(below))
    assert stats.teacher_tokens == 24 * len(below)
    assert sorted(stats.sent_ids) == sorted(below)
    assert f"{len(below)} of {len(examples)} examples" in stats.summary()
    assert json.loads(json.dumps(stats.to_dict()))["sent_to_teacher"] == len(below)


def test_the_source_names_student_teacher_and_threshold(isolated_host, task, student) -> None:
    teacher = PromptTeacher(CountingProvider({}))
    source = Cascade(student, teacher, threshold=0.75).source(task)
    assert source == f"cascade:student:sklearn.textcat|{teacher.source(task)}#threshold=0.75"


@pytest.mark.parametrize(("threshold", "sent"), [(0.0, 0), (1.01, 200)])
def test_threshold_zero_sends_nothing_and_above_one_sends_everything(
    isolated_host, task, student, examples, provider, threshold: float, sent: int
) -> None:
    cascade = Cascade(student, PromptTeacher(provider), threshold=threshold)
    preds = cascade.label(task, examples)
    assert len(provider.calls) == sent == cascade.stats.sent_to_teacher
    assert len(preds) == len(examples)
    assert cascade.stats.teacher_cost == pytest.approx(COST * sent)


def test_a_teacher_failure_keeps_the_student_answer_and_is_counted(
    isolated_host, task, student, examples
) -> None:
    first = examples[:5]
    provider = CountingProvider({ex.text: "spam" for ex in first}, fail={first[2].text})
    cascade = Cascade(student, PromptTeacher(provider, max_reasks=0), threshold=1.01)
    preds = cascade.label(task, first)
    direct = student.predict([ex.without_answer() for ex in first])
    assert preds[2].output == direct[2].output and preds[2].ok
    assert preds[2].usage.cost == COST  # the failed request was still paid for
    assert [p.output for i, p in enumerate(preds) if i != 2] == [Categories(labels=["spam"])] * 4
    assert cascade.stats.teacher_failures == [first[2].id]


def test_shadow_mode_returns_the_student_and_records_disagreements(
    isolated_host, task, student, examples, provider, tmp_path: Path
) -> None:
    store = Store(tmp_path / "p.db")
    teacher = PromptTeacher(provider)
    cascade = Cascade(student, teacher, threshold=0.5, shadow=True, store=store)
    preds = cascade.label(task, examples)
    direct = student.predict([ex.without_answer() for ex in examples])

    assert len(provider.calls) == len(examples)  # every example is shadowed
    assert [p.output for p in preds] == [d.output for d in direct]
    assert all(p.usage.cost == COST for p in preds)
    wrong = {ex.id for ex, d in zip(examples, direct, strict=True) if d.output.labels != ex.labels}
    assert wrong  # the student makes mistakes the (gold-answering) teacher sees
    stats = cascade.stats
    assert {d["example_id"] for d in stats.disagreements} == wrong
    sample = next(d for d in stats.disagreements)
    ex = next(e for e in examples if e.id == sample["example_id"])
    assert sample["teacher"] == ex.labels and sample["student"] != ex.labels
    assert stats.shadow and stats.sent_to_teacher == len(examples)
    assert stats.teacher_cost == pytest.approx(COST * len(examples))

    ids = [ex.id for ex in examples]
    stored_teacher = store.predictions(teacher.source(task), ids)
    stored_student = store.predictions("student:sklearn.textcat", ids)
    assert len(stored_teacher) == len(stored_student) == len(examples)

    def labels(pred: distil.Prediction) -> list[str]:
        assert isinstance(pred.output, Categories)
        return pred.output.labels

    assert {i for i in ids if labels(stored_teacher[i]) != labels(stored_student[i])} == wrong


def test_a_cascade_plugs_into_the_labelling_stage(
    isolated_host, task, student, examples, provider, tmp_path: Path
) -> None:
    store = Store(tmp_path / "p.db")
    store.add_examples(examples[:40], "test")
    teacher = PromptTeacher(provider)
    cascade = Cascade(student, teacher, threshold=0.9, store=store)
    assert teacher.cache is store
    result = label_dataset(store, task, cascade, "test")
    assert result.labelled == 40
    stored = store.predictions(cascade.source(task), [ex.id for ex in examples[:40]])
    assert len(stored) == 40
    calls = len(provider.calls)
    assert calls == cascade.stats.sent_to_teacher
    assert label_dataset(store, task, cascade, "test").labelled == 0  # resumed: nothing new


def test_cascade_v1_loads_the_saved_student_from_config(task, student, tmp_path: Path) -> None:
    student.save(tmp_path / "model")
    provider = CountingProvider({})
    plugin = types.ModuleType("cascade_test_plugin")

    @distil.hookimpl
    def register_providers(register):  # type: ignore[no-untyped-def]
        register("test.counting.v1", lambda: provider)

    plugin.register_providers = register_providers  # type: ignore[attr-defined]
    host = PluginHost(
        entry_points=False,
        modules=[("sklearn", "distil_sklearn.plugin"), ("scripted", plugin)],
        strict=True,
    )
    block = {
        "@teachers": "cascade.v1",
        "student": {"@students": "sklearn.textcat.v1"},
        "student_path": str(tmp_path / "model"),
        "teacher": {"@providers": "test.counting.v1"},
        "threshold": 0.8,
    }
    cascade = resolve_section(host, "teacher", block)
    assert isinstance(cascade, Cascade) and cascade.threshold == 0.8 and not cascade.shadow
    assert isinstance(cascade.teacher, PromptTeacher) and cascade.teacher.provider is provider
    assert isinstance(cascade.student, SklearnTextcat)
    sample = load_split("sms_spam", "test", limit=20)
    loaded = cascade.student.predict(sample)
    assert [p.output for p in loaded] == [p.output for p in student.predict(sample)]
    with pytest.raises(distil.ConfigError, match="student_path"):
        resolve_section(host, "teacher", {**block, "student_path": str(tmp_path / "nope")})


class _RuleTeacher(distil.Teacher):
    """A non-LLM teacher that returns its answers without streaming them to on_results."""

    def source(self, task: distil.Task) -> str:
        return "teacher:rules#v=1"

    async def alabel(self, task, examples, on_results=None):  # type: ignore[no-untyped-def]
        return [
            distil.Prediction(
                example_id=ex.id,
                source=self.source(task),
                output=Categories(labels=["spam" if "free" in ex.text.lower() else "ham"]),
            )
            for ex in examples
        ]


def test_any_teacher_works_even_one_that_does_not_stream(task, student, examples) -> None:
    cascade = Cascade(student, _RuleTeacher(), threshold=1.01)
    preds = cascade.label(task, examples[:30])
    assert [p.output for p in preds] == [
        Categories(labels=["spam" if "free" in ex.text.lower() else "ham"]) for ex in examples[:30]
    ]
    assert cascade.stats.sent_to_teacher == 30 and cascade.stats.teacher_cost == 0


def test_label_settings_and_budget_reach_the_llm_inside_a_cascade(task, student) -> None:
    """[label] is applied to the cascade's LLM: its limits, and a budget that stops it."""
    from distil.config import LabelSection, configure_teacher
    from distil.teach.pricing import PriceTable

    provider = CountingProvider({})
    llm = PromptTeacher(provider)
    cascade = Cascade(student, llm, threshold=1.01)  # nothing is sure enough: all go to the LLM
    key = provider.describe()
    prices = PriceTable.from_config({key: {"input": 1000, "output": 1000}})  # $0.024 a call
    configure_teacher(cascade, LabelSection(budget=0.1, concurrency=1, max_reasks=0), prices)
    assert llm.concurrency == 1 and llm.max_reasks == 0
    assert llm.execution is not None and llm.execution.budget == 0.1
    sample = load_split("sms_spam", "test", limit=20)
    with pytest.raises(distil.BudgetExceeded):
        cascade.label(task, sample)
    # Each call is estimated (prompt + max_tokens) before it is sent: the budget refuses the
    # calls that could pass $0.10, so the LLM does not answer all 20 texts.
    assert len(provider.calls) < len(sample)
    with pytest.raises(distil.ConfigError, match=f"no price known for {key}"):
        configure_teacher(
            Cascade(student, PromptTeacher(provider), 0.5),
            LabelSection(budget=1.0),
            PriceTable.from_config({}),
        )
