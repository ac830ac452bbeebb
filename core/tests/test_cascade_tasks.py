"""One cascade for labels and extraction (issue 16, item 3): the same threshold rule on a textcat
and an extract task, the task deciding what is asked, shadow mode and ``[label]`` on extraction.

Real SNIPS queries (../shared/data/snips), with emoji added to some of them; scripted students
whose confidences are fixed per row, so the rule is checked exactly, at 0, below and above 1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

import distil
from distil import Cascade, Categories, Completion, Example, Prompt, Provider, TextCat, Usage
from distil.cascade import CascadeStats
from distil.extract.composite import RecordPrediction
from distil.extract.examples.snips import SnipsQuery
from distil.extract.runtime import ExtractCascade, ExtractCascadeStats
from distil.records import Extraction, Prediction
from distil.store.sqlite import Store
from distil.student import Student, StudentPrediction
from distil.tasks import Task
from distil.tasks.base import below_threshold
from distil.tasks.extract import ExtractTask
from distil.teach.teacher import PromptTeacher, Teacher
from distil.testing import load_split

COST = 0.002
#: Per row, in turn: no confidence, 0, below 0.5, exactly 0.5, above, certain.
CONFIDENCES: list[float | None] = [None, 0.0, 0.3, 0.5, 0.9, 1.0]
EMOJI = [" 🎵", " 🍕🍕", "", " ⭐️", " 🌧️", " 🎬"]


@pytest.fixture(scope="module")
def rows() -> list[Example]:
    """12 SNIPS test queries of several intents; every row but each 3rd ends with an emoji."""
    rows = load_split("snips", "test", limit=12)
    assert len({ex.labels[0] for ex in rows if ex.labels}) >= 3
    return [ex.model_copy(update={"text": ex.text + EMOJI[i % 6]}) for i, ex in enumerate(rows)]


@pytest.fixture(scope="module")
def extract_task() -> ExtractTask:
    return ExtractTask(SnipsQuery)


@pytest.fixture(scope="module")
def textcat_task(extract_task: ExtractTask) -> TextCat:
    return TextCat(list(extract_task.plan.field("intent").choices))


def confidence(i: int) -> float | None:
    return CONFIDENCES[i % len(CONFIDENCES)]


def wrong_intent(gold: str) -> str:
    return "RateBook" if gold != "RateBook" else "PlayMusic"


class ScriptedStudent(Student):
    """Answers each text with the prediction scripted for it (any task kind)."""

    name: ClassVar[str] = "test.scripted"

    def __init__(self, answers: dict[str, StudentPrediction]) -> None:
        self.answers = answers

    def predict(self, examples: list[Example]) -> list[StudentPrediction]:
        return [self.answers[ex.text] for ex in examples]


class GoldTeacher(Teacher):
    """Answers from the SNIPS gold: the intent for textcat, the fields asked for an extraction."""

    def __init__(self, rows: Sequence[Example]) -> None:
        self.by_id = {ex.id: ex for ex in rows}
        self.asked: list[str] = []
        self.schemas: list[list[str]] = []

    def source(self, task: Task) -> str:
        return "teacher:test.gold"

    async def alabel(
        self, task: Task, examples: Sequence[Example], on_results: Any = None
    ) -> list[Prediction]:
        self.asked += [ex.id for ex in examples]
        out = []
        for ex in examples:
            gold = self.by_id[ex.id]
            if isinstance(task, ExtractTask):
                self.schemas.append(list(task.schema.model_fields))
                record = ExtractTask(SnipsQuery).reference(gold)
                assert isinstance(record, Extraction)
                answer: Any = Extraction(
                    data={k: v for k, v in record.data.items() if k in task.schema.model_fields}
                )
            else:
                answer = Categories(labels=list(gold.labels or []))
            out.append(
                Prediction(
                    example_id=ex.id,
                    source=self.source(task),
                    output=answer,
                    confidence=0.8,
                    usage=Usage(input_tokens=30, output_tokens=5, cost=COST),
                )
            )
        return out


def gold_record(task: ExtractTask, ex: Example) -> dict[str, Any]:
    record = task.reference(ex)
    assert isinstance(record, Extraction)
    return dict(record.data)


def test_the_rule_a_missing_confidence_counts_as_zero_and_zero_trusts_the_student() -> None:
    assert [below_threshold(c, 0.0) for c in CONFIDENCES] == [False] * 6
    assert [below_threshold(c, 0.5) for c in CONFIDENCES] == [True, True, True, False, False, False]
    assert [below_threshold(c, 1.01) for c in CONFIDENCES] == [True] * 6


@pytest.mark.parametrize(
    ("threshold", "sent_rows"),
    [(0.0, []), (0.5, [0, 1, 2, 6, 7, 8]), (1.01, list(range(12)))],
)
def test_textcat_and_extract_send_the_same_rows_under_one_threshold_rule(
    rows, textcat_task, extract_task, threshold: float, sent_rows: list[int]
) -> None:
    expected = [rows[i].id for i in sent_rows]
    # textcat: the student names a wrong intent, the teacher the gold one.
    labels = GoldTeacher(rows)
    student = ScriptedStudent(
        {
            ex.text: StudentPrediction(
                Categories(labels=[wrong_intent(ex.labels[0])]), confidence(i)
            )
            for i, ex in enumerate(rows)
            if ex.labels
        }
    )
    cascade = Cascade(student, labels, threshold=threshold)
    preds = cascade.label(textcat_task, rows)
    assert labels.asked == expected and cascade.stats.sent_ids == expected
    for i, (ex, pred) in enumerate(zip(rows, preds, strict=True)):
        gold = ex.labels[0] if ex.labels else ""
        want = gold if i in sent_rows else wrong_intent(gold)
        assert pred.output == Categories(labels=[want])
        assert pred.source == cascade.source(textcat_task)
    assert cascade.stats.fields is None and "fields" not in cascade.stats.to_dict()
    assert "fields" not in cascade.stats.summary()

    # extract: the same confidences on whole records (no per-field confidences, nothing pending).
    records = GoldTeacher(rows)
    student_records = {}
    for i, ex in enumerate(rows):
        data = gold_record(extract_task, ex)
        data["intent"] = wrong_intent(data["intent"])
        student_records[ex.text] = StudentPrediction(Extraction(data=data), confidence(i))
    cascade = Cascade(ScriptedStudent(student_records), records, threshold=threshold)
    preds = cascade.label(extract_task, rows)
    every = list(SnipsQuery.model_fields)
    assert records.asked == expected and records.schemas == [every] * len(expected)
    for i, (ex, pred) in enumerate(zip(rows, preds, strict=True)):
        assert isinstance(pred.output, Extraction) and pred.ok
        if i in sent_rows:  # an unsure record without per-field confidences is asked whole
            assert pred.output.data == gold_record(extract_task, ex)
            assert pred.output.teacher == every and pred.usage.cost == COST
        else:
            assert pred.output == student_records[ex.text].output and pred.usage.attempts == 0
    stats = cascade.stats
    assert (stats.n, stats.sent_to_teacher, stats.fields) == (12, len(expected), 12 * 40)
    assert stats.fields_sent == 40 * len(expected)
    assert stats.sent_by_field == ({f: len(expected) for f in every} if expected else {})
    assert stats.to_dict()["field_share"] == pytest.approx(len(expected) / 12)


def test_an_extraction_asks_pending_fields_at_any_threshold_and_unsure_fields_below_it(
    rows, extract_task
) -> None:
    """Pending fields are not a matter of doubt: they go even at 0; per-field confidences pick
    the unsure fields below the threshold, by the same rule (a missing one counts as 0)."""
    slots = [f for f in SnipsQuery.model_fields if f != "intent"]
    answers = {}
    for i, ex in enumerate(rows):
        data = gold_record(extract_task, ex)
        if i % 2 == 0:  # the artist is left to the teacher
            data["artist"] = None
            output = Extraction(data=data, pending=["artist"])
        else:
            output = Extraction(data=data)
        intent = [0.3, None, 0.9][i % 3]
        per = {"intent": intent, **{s: 0.95 for s in slots if s != "artist" or i % 2}}
        record = min((c for c in per.values() if c is not None), default=None)
        answers[ex.text] = RecordPrediction(output, None if intent is None else record, per)
    student = ScriptedStudent(answers)

    teacher = GoldTeacher(rows)
    trusting = Cascade(student, teacher)  # threshold 0
    preds = trusting.label(extract_task, rows)
    assert teacher.asked == [ex.id for i, ex in enumerate(rows) if i % 2 == 0]
    assert {tuple(s) for s in teacher.schemas} == {("artist",)}  # that field alone
    assert all(p.output.teacher == ["artist"] for p in preds[::2])
    assert [p.output.data for p in preds] == [gold_record(extract_task, ex) for ex in rows]
    assert (trusting.stats.fields_sent, trusting.stats.sent_by_field) == (6, {"artist": 6})

    teacher = GoldTeacher(rows)
    unsure = Cascade(student, teacher, threshold=0.5)
    preds = unsure.label(extract_task, rows)
    asked = {
        0: ["intent", "artist"],  # 0.3, pending
        1: ["intent"],  # no intent confidence
        2: ["artist"],
        3: ["intent"],
        4: ["intent", "artist"],
        # 5: intent 0.9, nothing pending: kept
    }
    want = {rows[i + 6 * k].id: fields for k in range(2) for i, fields in asked.items()}
    assert sorted(teacher.asked) == sorted(want)
    assert {p.example_id: p.output.teacher for p in preds if p.output.teacher} == want
    assert unsure.stats.sent_by_field == {"intent": 8, "artist": 6}
    assert unsure.stats.fields_sent == 14 and unsure.stats.fields == 12 * 40
    assert "14 of 480 fields (2.9%) asked of the teacher" in unsure.stats.summary()


def test_shadow_mode_on_an_extraction_returns_the_student_and_records_field_disagreements(
    rows, extract_task, tmp_path: Path
) -> None:
    answers, wrong = {}, set()
    for i, ex in enumerate(rows):
        data = gold_record(extract_task, ex)
        if i % 3 == 0:
            data["intent"] = wrong_intent(data["intent"])
            wrong.add(ex.id)
        answers[ex.text] = StudentPrediction(Extraction(data=data), 0.99)
    store = Store(tmp_path / "p.db")
    teacher = GoldTeacher(rows)
    cascade = Cascade(ScriptedStudent(answers), teacher, threshold=0.5, shadow=True, store=store)
    preds = cascade.label(extract_task, rows)

    assert teacher.asked == [ex.id for ex in rows]  # every record, whole
    assert teacher.schemas == [list(SnipsQuery.model_fields)] * 12
    assert [p.output for p in preds] == [answers[ex.text].output for ex in rows]
    assert all(p.usage.cost == COST and p.source == cascade.source(extract_task) for p in preds)
    stats = cascade.stats
    assert stats.shadow and stats.sent_to_teacher == 12 and stats.fields_sent == 480
    assert {d["example_id"] for d in stats.disagreements} == wrong
    for d in stats.disagreements:
        assert d["fields"] == ["intent"]
        gold = gold_record(extract_task, next(ex for ex in rows if ex.id == d["example_id"]))
        assert d["teacher"] == gold and d["student"]["intent"] == wrong_intent(gold["intent"])
    assert "4 disagreement(s)" in stats.summary()
    ids = [ex.id for ex in rows]
    stored_teacher = store.predictions("teacher:test.gold", ids)
    stored_student = store.predictions("student:test.scripted", ids)
    differ = {i for i in ids if stored_teacher[i].output != stored_student[i].output}
    assert differ == wrong


class RecordProvider(Provider):
    """Answers every prompt with one intent as JSON; counts the prompts."""

    name = "test.record"

    def __init__(self) -> None:
        super().__init__("record-1")
        self.calls = 0

    async def complete(self, prompt: Prompt) -> Completion:
        self.calls += 1
        return Completion(
            text=json.dumps({"intent": "PlayMusic"}),
            usage=Usage(input_tokens=400, output_tokens=20, cost=COST),
        )


def test_label_settings_and_budget_reach_the_llm_of_an_extraction_cascade(
    rows, extract_task
) -> None:
    from distil.config import LabelSection, configure_teacher
    from distil.teach.pricing import PriceTable

    answers = {}
    for ex in rows:
        data = {**gold_record(extract_task, ex), "intent": None}
        answers[ex.text] = StudentPrediction(Extraction(data=data, pending=["intent"]), 1.0)
    provider = RecordProvider()
    llm = PromptTeacher(provider)
    cascade = Cascade(ScriptedStudent(answers), llm)
    provider.max_tokens = 20  # type: ignore[attr-defined]  # what each call is estimated at
    prices = PriceTable.from_config({provider.describe(): {"input": 100, "output": 100}})
    configure_teacher(cascade, LabelSection(budget=0.1, concurrency=1, max_reasks=0), prices)
    assert llm.concurrency == 1 and llm.max_reasks == 0
    assert llm.execution is not None and llm.execution.budget == 0.1
    with pytest.raises(distil.BudgetExceeded):
        cascade.label(extract_task, rows)  # 12 calls of $0.042 would pass $0.10
    assert 0 < provider.calls < len(rows)


def test_the_old_extract_names_are_the_one_cascade() -> None:
    assert ExtractCascade is Cascade and ExtractCascadeStats is CascadeStats
    assert distil.Cascade is Cascade
