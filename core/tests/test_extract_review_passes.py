"""The extract passes that reach the teacher's slot errors, on real SNIPS queries labelled by the
simulated extraction teacher: a record with a value not in the text gets a ``check:not-in-text``
card (the part placed, the values listed), a record whose slots the teacher left empty gets a
``check:none`` card, the cards come in the queue strategy's order, and the oracle's answers are
on disk before the next card and change the merged training record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distil import Example, Prediction, Store
from distil.annotate.subtasks import ExtractWorkspace
from distil.extract.answers import merge_extract_labels
from distil.extract.composite import CompositeStudent
from distil.extract.examples.snips import SnipsQuery
from distil.records import Extraction, Spans
from distil.simulate import ORACLE, Oracle, _review, _Tally
from distil.tasks.extract import ExtractTask
from distil.testing import SimulatedExtractTeacher, load_split

SOURCE = "teacher:simulated-extract#p=0.85"
NOT_IN_TEXT = "spans/check:not-in-text"
NONE = "spans/check:none"


@pytest.fixture(scope="module")
def task() -> ExtractTask:
    return ExtractTask(SnipsQuery)


@pytest.fixture(scope="module")
def rows() -> list[Example]:
    return load_split("snips", "train", limit=400)


@pytest.fixture(scope="module")
def answers(rows: list[Example], task: ExtractTask) -> dict[str, dict[str, Any]]:
    teacher = SimulatedExtractTeacher(rows, task, accuracy=0.85, empty=0.25, seed=0)
    return {ex.id: record for ex, record in zip(rows, teacher.answers, strict=True)}


def confidence(i: int) -> float:
    """A teacher confidence per row, spread so that the ``confidence`` queue has an order."""
    return round(0.5 + (i * 37 % 50) / 100, 2)


@pytest.fixture
def db(tmp_path: Path, rows: list[Example], answers: dict[str, dict[str, Any]]) -> Path:
    path = tmp_path / "distil.db"
    with Store(path) as store:
        store.add_examples([ex.without_answer() for ex in rows], "train")
        store.add_predictions(
            Prediction(
                example_id=ex.id,
                source=SOURCE,
                output=Extraction(data=answers[ex.id]),
                confidence=confidence(i),
            )
            for i, ex in enumerate(rows)
        )
    return path


def gold_spans(task: ExtractTask, ex: Example) -> Spans:
    record = task.reference(ex)
    assert isinstance(record, Extraction)
    spans = task.plan.split(record.data, ex.text)[0]["spans"]
    assert isinstance(spans, Spans)
    return spans


def span_fields(task: ExtractTask, record: dict[str, Any]) -> dict[str, Any]:
    return {f.path: record.get(f.path) for f in task.plan.fields_of("spans")}


def oracle_of(task: ExtractTask, rows: list[Example]) -> Oracle:
    """The benchmark's oracle for the span subtask: the gold record split into its spans."""
    return Oracle(path=Path("gold"), answers={ex.id: gold_spans(task, ex) for ex in rows})


def test_records_the_split_cannot_place_get_a_card_of_their_own_and_no_other(
    db: Path, task: ExtractTask, rows: list[Example], answers: dict[str, dict[str, Any]]
) -> None:
    partial = [ex for ex in rows if "spans" in task.plan.split(answers[ex.id], ex.text)[1]]
    placed = [ex for ex in rows if ex not in partial]
    assert len(partial) == 100  # a quarter of the teacher's records hold a made-up slot value
    with Store(db) as store:
        ws = ExtractWorkspace(store, task, queue="confidence")
        totals = {row["name"]: row["total"] for row in ws.progress("ann")}
        assert totals[NOT_IN_TEXT] == len(partial)
        # The per-label checks hold the placed records only, as before.
        for f in task.plan.fields_of("spans"):
            having = [ex for ex in placed if span_fields(task, answers[ex.id])[f.path]]
            assert totals[f"spans/check:{f.path}"] == len(having), f.path

        # The queue strategy orders the pass: the least confident partial record first.
        position = {ex.id: i for i, ex in enumerate(rows)}
        first = min(partial, key=lambda ex: (confidence(position[ex.id]), position[ex.id]))
        card = ws.state("ann", NOT_IN_TEXT)["card"]
        assert card["example_id"] == first.id and card["mode"] == "binary"

        # The card shows the part the planner placed, and lists what it could not place.
        spans, missing = task.plan.place_spans(answers[first.id], first.text)
        assert missing and card["suggestion"] == spans.model_dump()
        assert card["not_in_text"] == [
            {"field": m.field, "value": m.value, "why": m.why} for m in missing
        ]
        for m in missing:
            assert m.why == "not found in the text" and str(m.value) not in first.text
        assert card["claim"] == f"{len(spans.spans)} span(s) in the text"


def test_the_oracles_fix_on_a_not_in_text_card_is_on_disk_and_trains_the_slots(
    db: Path, task: ExtractTask, rows: list[Example], answers: dict[str, dict[str, Any]]
) -> None:
    oracle, tally = oracle_of(task, rows), _Tally()
    with Store(db) as store:
        pairs = merge_extract_labels(store, task, "train", SOURCE).pairs
        before = {ex.id: out for ex, out in pairs}
        ws = ExtractWorkspace(store, task, queue="confidence")
        card = ws.state(ORACLE, NOT_IN_TEXT)["card"]
        eid = card["example_id"]
        ex = next(r for r in rows if r.id == eid)
        # Left out of the span subtask while it holds a value not in the text.
        split = CompositeStudent._split(task.plan, pairs)
        assert eid not in {e.id for e, _ in split["spans"][0]}

        _review(ws.subs["spans"], "check:not-in-text", eid, oracle, tally)
        assert (tally.cards, tally.changed) == (1, 1)  # the placed part is not the gold record
        with Store(db) as other:  # on disk: another connection reads both answers
            stored = [(a.pass_name, a.answer) for a in other.annotations(annotator=ORACLE)]
        assert stored == [(NOT_IN_TEXT, "reject"), ("spans/fix", "correct")]
        assert ws.state(ORACLE, NOT_IN_TEXT)["card"]["example_id"] != eid

        pairs = merge_extract_labels(store, task, "train", SOURCE).pairs
    merged = {e.id: out for e, out in pairs}
    record = merged[eid]
    assert isinstance(record, Extraction)
    gold = task.reference(ex)
    assert isinstance(gold, Extraction)
    assert span_fields(task, record.data) == span_fields(task, gold.data)
    assert record.data["intent"] == answers[eid]["intent"]  # the intent stays the teacher's
    assert record != before[eid]
    split = CompositeStudent._split(task.plan, pairs)
    trained = {e.id: out for e, out in split["spans"][0]}
    assert trained[eid] == gold_spans(task, ex)


def test_accepting_a_not_in_text_card_keeps_the_placed_part_and_drops_the_rest(
    db: Path, task: ExtractTask, rows: list[Example], answers: dict[str, dict[str, Any]]
) -> None:
    with Store(db) as store:
        ws = ExtractWorkspace(store, task)
        card = ws.state("ann", NOT_IN_TEXT)["card"]
        eid = card["example_id"]
        ws.answer("ann", NOT_IN_TEXT, eid, "accept")
        merged = {e.id: out for e, out in merge_extract_labels(store, task, "train", SOURCE).pairs}
    record = merged[eid]
    assert isinstance(record, Extraction)
    dropped = {m["field"] for m in card["not_in_text"]}
    for name, value in span_fields(task, answers[eid]).items():
        assert record.data.get(name) == (None if name in dropped else value), name


def test_a_record_whose_slots_the_teacher_left_empty_gets_a_check_none_card_and_a_fix(
    db: Path, task: ExtractTask, rows: list[Example], answers: dict[str, dict[str, Any]]
) -> None:
    empty = [
        ex
        for ex in rows
        if (out := task.plan.split(answers[ex.id], ex.text)[0].get("spans")) is not None
        and not out.spans  # type: ignore[union-attr]
    ]
    # Three queries: the teacher dropped every slot each of them has.
    assert [ex.id for ex in empty] == [
        "GetWeather-train_full-1393",
        "GetWeather-train_full-0935",
        "GetWeather-train_full-0711",
    ]
    assert all(gold_spans(task, ex).spans for ex in empty)
    oracle, tally = oracle_of(task, rows), _Tally()
    with Store(db) as store:
        ws = ExtractWorkspace(store, task, queue="confidence")
        assert {r["name"]: r["total"] for r in ws.progress(ORACLE)}[NONE] == 3
        card = ws.state(ORACLE, NONE)["card"]
        position = {ex.id: i for i, ex in enumerate(rows)}
        first = min(empty, key=lambda ex: (confidence(position[ex.id]), position[ex.id]))
        assert card["example_id"] == first.id
        assert card["suggestion"] == {"kind": "spans", "spans": []}
        assert card["claim"] == "no entity" and card["not_in_text"] == []

        _review(ws.subs["spans"], "check:none", first.id, oracle, tally)
        assert (tally.cards, tally.changed) == (1, 1)
        with Store(db) as other:
            stored = [(a.pass_name, a.answer) for a in other.annotations(annotator=ORACLE)]
        assert stored == [(NONE, "reject"), ("spans/fix", "correct")]
        merged = {e.id: out for e, out in merge_extract_labels(store, task, "train", SOURCE).pairs}
    record, gold = merged[first.id], task.reference(first)
    assert isinstance(record, Extraction) and isinstance(gold, Extraction)
    assert span_fields(task, answers[first.id]) != span_fields(task, gold.data)
    assert span_fields(task, record.data) == span_fields(task, gold.data)
