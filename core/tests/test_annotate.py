"""The annotation logic without a browser: pass plans, queue order, undo, merge, agreement."""

from __future__ import annotations

from typing import Any

import pytest

import distil
from distil import Annotation, Categories, Example, NerTask, Prediction, Span, Spans, Store, TextCat
from distil.annotate import (
    Workspace,
    cohen_kappa,
    plan_passes,
    resolve_answers,
    undo_event,
)
from distil.annotate.session import AnswerError
from distil.plugins import PluginHost
from distil.train import merge_labels

SOURCE = "teacher:test#prompt=x"


def ann(
    example_id: str,
    answer: str,
    pass_name: str | None = None,
    who: str = "a",
    labels: list[str] | None = None,
) -> Annotation:
    out = Categories(labels=labels) if labels is not None else None
    return Annotation(
        example_id=example_id, annotator=who, answer=answer, pass_name=pass_name, output=out
    )  # type: ignore[arg-type]


def test_pass_plans_follow_the_task() -> None:
    assert [p.name for p in plan_passes(TextCat(["ham", "spam"]))] == ["check", "fix", "review"]
    multi = plan_passes(TextCat(["a", "b"], multilabel=True))
    assert [(p.name, p.mode) for p in multi] == [
        ("check:a", "binary"),
        ("check:b", "binary"),
        ("fix", "multi"),
        ("review", "review"),
    ]
    ner = plan_passes(NerTask(["PER", "LOC"]))
    assert [(p.name, p.mode) for p in ner] == [
        ("check:PER", "binary"),
        ("check:LOC", "binary"),
        ("fix", "spans"),
        ("review", "review"),
    ]
    assert plan_passes(TextCat(["x", "y"]))[1].mode == "choice"


def test_undo_cancels_the_latest_live_answer_of_that_annotator() -> None:
    events = [ann("e1", "accept", "check", labels=["spam"]), undo_event("e1", "a")]
    assert resolve_answers(events) == {}
    events += [
        ann("e1", "reject", "check"),
        ann("e1", "correct", "fix", labels=["ham"]),
        undo_event("e1", "a"),
    ]
    assert resolve_answers(events)["e1"].answer == "reject"  # the fix was undone, the reject stands


def test_a_reject_in_one_pass_is_not_cleared_by_an_accept_in_another() -> None:
    events = [ann("e", "reject", "check:PER"), ann("e", "accept", "check:LOC", labels=["x"])]
    assert resolve_answers(events)["e"].answer == "reject"
    events.append(ann("e", "correct", "fix", labels=["y"]))
    assert resolve_answers(events)["e"].output == Categories(labels=["y"])


def test_re_answering_a_pass_replaces_the_earlier_answer_and_review_settles_conflicts() -> None:
    events = [ann("e", "reject", "check"), ann("e", "accept", "check", labels=["ham"])]
    assert resolve_answers(events)["e"].answer == "accept"
    events = [
        ann("e", "correct", "fix", who="x", labels=["ham"]),
        ann("e", "correct", "fix", who="y", labels=["spam"]),
        ann("e", "correct", "review", who="r", labels=["ham"]),
        ann("e", "correct", "fix", who="y", labels=["spam"]),
    ]
    winner = resolve_answers(events)["e"]
    assert (winner.annotator, winner.output) == ("r", Categories(labels=["ham"]))


def test_cohen_kappa_matches_the_textbook_values() -> None:
    a = ["accept", "accept", "reject", "accept", "reject", "accept"]
    b = ["accept", "reject", "reject", "accept", "accept", "accept"]
    assert cohen_kappa(a, b) == pytest.approx(0.25)
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa([], []) is None


def _store(n: int = 6) -> tuple[Store, TextCat]:
    store = Store(":memory:")
    task = TextCat(["ham", "spam"])
    store.add_examples([Example(id=f"e{i}", text=f"text {i}") for i in range(n)], "train")
    store.add_predictions(
        Prediction(
            example_id=f"e{i}", source=SOURCE, output=Categories(labels=["spam"]), confidence=c
        )
        for i, c in enumerate([0.9, 0.6, 0.95, 0.55, 0.8, 0.7][:n])
    )
    return store, task


def test_queue_puts_disagreement_then_low_confidence_first() -> None:
    store, task = _store()
    store.add_predictions(
        [Prediction(example_id="e2", source="student:s#run=1", output=Categories(labels=["ham"]))]
    )
    ws = Workspace(store, task)
    order = []
    for _ in range(6):
        card = ws.state("a")["card"]
        order.append(card["example_id"])
        ws.answer("a", "check", card["example_id"], "accept")
    assert order == ["e2", "e3", "e1", "e5", "e4", "e0"]


def test_the_queue_order_hook_routes_cards() -> None:
    class Reverse:
        @distil.hookimpl
        def distil_queue_order(self, cards: list[Any]) -> list[Any]:
            return [c for c in cards if c.example_id != "e0"][::-1]

    host = PluginHost(entry_points=False, modules=[("reverse", Reverse())])
    store, task = _store()
    ws = Workspace(store, task, host=host)
    state = ws.state("a")
    assert state["card"]["example_id"] == "e2"  # the most confident first, e0 left out
    assert state["passes"][0]["total"] == 5


def test_a_new_workspace_resumes_from_the_store_and_training_counts_answers() -> None:
    store, task = _store()
    ws = Workspace(store, task)
    first = ws.state("a")["card"]["example_id"]
    ws.answer("a", "check", first, "reject")
    second = ws.state("a")["card"]["example_id"]
    ws.answer("a", "check", second, "accept")
    ws.answer("a", "fix", first, "correct", {"labels": ["ham"]})
    again = Workspace(store, task)
    state = again.state("a")
    assert state["card"]["example_id"] not in {first, second}
    assert [(p["name"], p["done"], p["total"]) for p in state["passes"]] == [
        ("check", 2, 6),
        ("fix", 1, 1),
        ("review", 0, 0),
    ]
    data = merge_labels(store, task, "train", SOURCE)
    assert (data.from_humans, data.from_teacher, data.from_answers) == (
        2,
        4,
        {"correct": 1, "accept": 1},
    )
    with pytest.raises(AnswerError, match="needs an output"):
        again.answer("a", "fix", first, "correct")
    with pytest.raises(AnswerError, match="not in the task's labels"):
        again.answer("a", "fix", first, "correct", {"labels": ["eggs"]})


def test_span_answers_are_checked_against_the_text() -> None:
    store = Store(":memory:")
    task = NerTask(["PER"])
    store.add_examples([Example(id="s", text="Ann met Bob")], "train")
    store.add_predictions(
        [
            Prediction(
                example_id="s",
                source=SOURCE,
                output=Spans(spans=[Span(start=0, end=3, label="PER")]),
            )
        ]
    )
    ws = Workspace(store, task)
    assert ws.state("a")["pass"] == "check:PER"
    with pytest.raises(AnswerError, match="outside the text"):
        ws.answer("a", "fix", "s", "correct", {"spans": [{"start": 8, "end": 40, "label": "PER"}]})
    stored = ws.answer(
        "a",
        "fix",
        "s",
        "correct",
        {
            "spans": [
                {"start": 8, "end": 11, "label": "PER"},
                {"start": 0, "end": 3, "label": "PER"},
            ]
        },
    )
    assert [s.start for s in stored.output.spans] == [0, 8]  # type: ignore[union-attr]
