"""Answers per subtask of an extract task: stored per subtask by the workspace, resolved per
subtask, and merged field by field over the teacher's record for training."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from distil import Annotation, Categories, Example, Prediction, Span, Spans, Store
from distil.annotate import plan_passes
from distil.annotate.subtasks import ExtractWorkspace
from distil.extract.answers import merge_record, resolve_subtask_answers
from distil.extract.composite import CompositeStudent
from distil.records import Extraction
from distil.tasks.extract import ExtractTask
from distil.train import merge_labels

SOURCE = "teacher:test.extract#prompt=x"


class Booking(BaseModel):
    intent: Literal["book", "cancel"]
    city: str | None = None
    guests: int | None = Field(None, json_schema_extra={"distil": "teacher"})


TEXTS = {
    "e1": "book a table in Paris",
    "e2": "cancel my Rome booking",
    "e3": "book two rooms in Oslo",
}
TEACHER = {
    "e1": {"intent": "book", "city": "Paris", "guests": 2},
    "e2": {"intent": "book", "city": "Rome", "guests": 1},  # wrong intent
    "e3": {"intent": "book", "city": "two", "guests": 2},  # wrong city
}


@pytest.fixture
def store() -> Store:
    s = Store(":memory:")
    s.add_examples([Example(id=i, text=t) for i, t in TEXTS.items()], "train")
    s.add_predictions(
        Prediction(example_id=i, source=SOURCE, output=Extraction(data=r), confidence=0.9)
        for i, r in TEACHER.items()
    )
    return s


def test_the_passes_are_each_subtasks_own_with_one_review_each() -> None:
    names = [p.name for p in plan_passes(ExtractTask(Booking))]
    assert names == [
        "textcat:intent/check",
        "textcat:intent/fix",
        "spans/check:city",
        "spans/check:none",
        "spans/check:not-in-text",
        "spans/fix",
        "textcat:intent/review",
        "spans/review",
    ]


def test_a_corrected_intent_keeps_the_teachers_slots_and_vice_versa() -> None:
    task = ExtractTask(Booking)
    intent = Annotation(
        example_id="e2", answer="correct", output=Categories(labels=["cancel"]), pass_name="fix"
    )
    merged = merge_record(task.plan, TEXTS["e2"], TEACHER["e2"], {"textcat:intent": intent})
    assert merged.data == {"intent": "cancel", "city": "Rome", "guests": 1}
    assert merged.pending == []
    spans = Annotation(
        example_id="e3",
        answer="correct",
        output=Spans(spans=[Span(start=18, end=22, label="city")]),
        pass_name="fix",
    )
    merged = merge_record(task.plan, TEXTS["e3"], TEACHER["e3"], {"spans": spans})
    assert merged.data == {"intent": "book", "city": "Oslo", "guests": 2}
    # A rejection without a correction holds back that subtask's fields only.
    reject = Annotation(example_id="e3", answer="reject", pass_name="check:city")
    merged = merge_record(task.plan, TEXTS["e3"], TEACHER["e3"], {"spans": reject})
    assert merged.data == TEACHER["e3"] and merged.pending == ["city"]


def test_answers_resolve_per_subtask_with_undo_and_whole_record_imports_apart() -> None:
    events = [
        Annotation(example_id="e1", answer="accept", pass_name="textcat:intent/check"),
        Annotation(example_id="e1", answer="reject", pass_name="spans/check:city"),
        Annotation(example_id="e1", answer="ignore", pass_name="spans/distil.undo"),
        Annotation(
            example_id="e2", answer="correct", output=Extraction(data=TEACHER["e1"])
        ),  # an import: no pass
    ]
    whole, per = resolve_subtask_answers(events)
    assert list(whole) == ["e2"] and whole["e2"].pass_name is None
    # The undo cancelled the span rejection; the intent accept stands on its own.
    assert {k: v.answer for k, v in per["e1"].items()} == {"textcat:intent": "accept"}


def test_the_workspace_stores_one_answer_per_subtask_and_training_merges_them(
    store: Store,
) -> None:
    task = ExtractTask(Booking)
    ws = ExtractWorkspace(store, task)
    state = ws.state("ann")
    assert state["pass"] == "textcat:intent/check"
    assert state["card"]["claim"] == "book" and state["task"]["labels"] == ["book", "cancel"]
    # Every city is in its text and none is empty: no check:none or check:not-in-text card.
    assert [row["total"] for row in state["passes"]] == [3, 0, 3, 0, 0, 0, 0, 0]

    # Intent: e2 is wrong; city: e3 is wrong. Everything else accepted.
    for eid in ("e1", "e2", "e3"):
        ws.answer("ann", "textcat:intent/check", eid, "reject" if eid == "e2" else "accept")
    for eid in ("e1", "e2", "e3"):
        ws.answer("ann", "spans/check:city", eid, "reject" if eid == "e3" else "accept")
    state = ws.state("ann")
    assert state["pass"] == "textcat:intent/fix" and state["card"]["example_id"] == "e2"
    assert state["card"]["options"] == ["book", "cancel"]
    ws.answer("ann", "textcat:intent/fix", "e2", "correct", {"labels": ["cancel"]})
    state = ws.state("ann")
    assert state["pass"] == "spans/fix" and state["card"]["example_id"] == "e3"
    shown = [(s["start"], s["end"], s["label"]) for s in state["card"]["suggestion"]["spans"]]
    assert shown == [(5, 8, "city")]  # the teacher's "two", placed by the planner's split
    stored = ws.answer(
        "ann", "spans/fix", "e3", "correct", {"spans": [{"start": 18, "end": 22, "label": "city"}]}
    )
    assert stored.pass_name == "spans/fix" and stored.output == Spans(
        spans=[Span(start=18, end=22, label="city")]
    )
    # On disk already, with the subtask in the pass name and the subtask's output.
    events = store.annotations(annotator="ann")
    assert [a.pass_name for a in events][-2:] == ["textcat:intent/fix", "spans/fix"]
    assert isinstance(events[-2].output, Categories) and events[-2].output.labels == ["cancel"]
    assert ws.state("ann")["card"] is None

    data = merge_labels(store, task, "train", SOURCE)
    records = {ex.id: out.data for ex, out in data.pairs}  # type: ignore[union-attr]
    assert records == {
        "e1": TEACHER["e1"],
        "e2": {"intent": "cancel", "city": "Rome", "guests": 1},
        "e3": {"intent": "book", "city": "Oslo", "guests": 2},
    }
    assert data.from_humans == 3 and data.from_teacher == 0
    assert data.from_answers == {"accept": 4, "correct": 2}  # per subtask answer


def test_undo_takes_back_the_latest_answer_whichever_subtask_it_was(store: Store) -> None:
    ws = ExtractWorkspace(store, ExtractTask(Booking))
    ws.answer("u", "spans/check:city", "e1", "accept")
    ws.answer("u", "textcat:intent/check", "e2", "reject")
    assert ws.undo("u") == {"pass": "textcat:intent/check", "example_id": "e2"}
    assert ws.undo("u") == {"pass": "spans/check:city", "example_id": "e1"}
    assert ws.undo("u") is None
    assert [a.pass_name for a in store.annotations(annotator="u")][2:] == [
        "textcat:intent/distil.undo",
        "spans/distil.undo",
    ]
    assert resolve_subtask_answers(store.annotations()) == ({}, {})


def test_a_rejected_subtask_is_left_out_of_that_subtask_only(store: Store) -> None:
    task = ExtractTask(Booking)
    ws = ExtractWorkspace(store, task)
    ws.answer("r", "spans/check:city", "e3", "reject")
    pairs = merge_labels(store, task, "train", SOURCE).pairs
    split = CompositeStudent._split(task.plan, pairs)
    assert [ex.id for ex, _ in split["textcat:intent"][0]] == ["e1", "e2", "e3"]
    assert [ex.id for ex, _ in split["spans"][0]] == ["e1", "e2"]
    assert split["spans"][1] == ["e3: city pending (rejected)"]


def test_disagreements_are_per_subtask_and_a_review_settles_training(store: Store) -> None:
    task = ExtractTask(Booking)
    ws = ExtractWorkspace(store, task)
    # a and b answer different subtasks of e1: no conflict; they disagree on e2's intent.
    ws.answer("a", "textcat:intent/check", "e1", "accept")
    ws.answer("b", "spans/check:city", "e1", "reject")
    ws.answer("a", "textcat:intent/fix", "e2", "correct", {"labels": ["cancel"]})
    ws.answer("b", "textcat:intent/fix", "e2", "correct", {"labels": ["book"]})
    summary = ws.summary()
    assert summary["agreement"]["conflicts"] == 1
    state = ws.state("rev", "textcat:intent/review")
    assert state["pass"] == "textcat:intent/review" and state["card"]["example_id"] == "e2"
    options = [o["output"]["labels"] for o in state["card"]["review_options"]]
    assert sorted(options) == [["book"], ["cancel"]]
    ws.answer("rev", "textcat:intent/review", "e2", "correct", {"labels": ["cancel"]})
    assert ws.summary()["agreement"]["conflicts"] == 0
    records = {ex.id: out for ex, out in merge_labels(store, task, "train", SOURCE).pairs}
    assert records["e2"].data == {"intent": "cancel", "city": "Rome", "guests": 1}  # type: ignore[attr-defined]
    assert records["e1"].pending == ["city"]  # type: ignore[attr-defined]
