"""Multi-label that scales: one card per text (keep, drop and add labels together) instead of one
binary card per label per text, planned over real goemotions texts and its 28 labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distil import Categories, Example, Prediction, Store, TextCat
from distil.annotate import Workspace, plan_passes, resolve_answers
from distil.annotate.passes import CARD_PASS
from distil.annotate.queue import make_card
from distil.annotate.session import AnswerError
from distil.config import AnnotateSection
from distil.train import merge_labels

SOURCE = "teacher:test.emotions#prompt=fixed"


def emotions(shared_data: Path, n: int) -> tuple[Store, TextCat, list[dict]]:
    """The first ``n`` goemotions train texts; the 'teacher' is the gold set, except that every
    fourth text loses its first label to ``neutral`` (a real kind of multi-label error)."""
    lines = (shared_data / "goemotions" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    every = [json.loads(x) for x in lines]
    labels = sorted({label for row in every for label in row["labels"]})
    rows = every[:n]
    store = Store(":memory:")
    store.add_examples([Example(id=r["id"], text=r["text"]) for r in rows], "train")
    preds = []
    for i, r in enumerate(rows):
        said = list(r["labels"]) if i % 4 else [*r["labels"][1:], "neutral"]
        said = sorted(set(said))
        scores = {x: (0.8 if x in said else 0.04) for x in labels}
        preds.append(
            Prediction(
                example_id=r["id"],
                source=SOURCE,
                output=Categories(labels=said, scores=scores),
                confidence=0.8,
            )
        )
    store.add_predictions(preds)
    return store, TextCat(labels, multilabel=True), rows


def test_28_labels_over_1000_texts_plan_one_card_per_text_not_28(shared_data: Path) -> None:
    store, task, rows = emotions(shared_data, 1000)
    assert len(task.labels) == 28
    per_label = [p for p in plan_passes(task, multilabel="per_label") if p.is_check]
    teacher = store.predictions(SOURCE, [r["id"] for r in rows])
    assert sum(p.holds(pred) for p in per_label for pred in teacher.values()) == 28_000

    ws = Workspace(store, task, multilabel="card")
    assert [(p.name, p.mode) for p in ws.passes] == [(CARD_PASS, "multi"), ("review", "review")]
    assert {row["name"]: row["total"] for row in ws.progress("ana")} == {
        CARD_PASS: 1000,
        "review": 0,
    }
    # Two annotators answer every card; bo drops a label on 100 texts: 100 conflicts to review.
    for i, r in enumerate(rows):
        ws.answer("ana", CARD_PASS, r["id"], "accept")
        said = teacher[r["id"]].output.labels
        if i % 10 == 0 and len(said) > 1:
            ws.answer("bo", CARD_PASS, r["id"], "correct", {"labels": said[1:]})
        else:
            ws.answer("bo", CARD_PASS, r["id"], "accept")
    conflicts = sum(
        1 for i, r in enumerate(rows) if i % 10 == 0 and len(teacher[r["id"]].output.labels) > 1
    )
    totals = {row["name"]: row["total"] for row in ws.progress("rui")}
    assert totals == {CARD_PASS: 1000, "review": conflicts}
    assert 0 < conflicts <= 100 and (totals[CARD_PASS] + totals["review"]) / len(rows) < 2


def test_a_card_answer_is_the_final_label_set_and_training_takes_it(shared_data: Path) -> None:
    store, task, rows = emotions(shared_data, 8)
    ws = Workspace(store, task, multilabel="card")
    card = ws.state("ana")["card"]
    assert (card["pass"], card["mode"], len(card["options"])) == (CARD_PASS, "multi", 28)
    assert card["suggestion"]["labels"] == ws.teacher[card["example_id"]].output.labels
    ids = [r["id"] for r in rows]
    said = {i: ws.teacher[i].output.labels for i in ids}

    kept = ws.answer("ana", CARD_PASS, ids[0], "accept")  # no output: the teacher's set
    assert kept.answer == "accept" and kept.output == ws.teacher[ids[0]].output
    same = ws.answer("ana", CARD_PASS, ids[1], "correct", {"labels": said[ids[1]][::-1]})
    assert same.answer == "accept"  # the teacher's own set, in another order, is an accept
    fixed = ws.answer("ana", CARD_PASS, ids[2], "correct", {"labels": ["remorse", "gratitude"]})
    assert fixed.answer == "correct" and sorted(fixed.output.labels) == ["gratitude", "remorse"]
    none = ws.answer("ana", CARD_PASS, ids[3], "correct", {"labels": []})
    assert none.answer == "correct" and none.output.labels == []
    ws.answer("ana", CARD_PASS, ids[4], "reject")
    with pytest.raises(AnswerError, match="does not fit"):
        ws.answer("ana", CARD_PASS, ids[5], "correct", {"labels": ["joy", "schadenfreude"]})
    assert [row["done"] for row in ws.progress("ana")] == [5, 0]
    assert ws.state("ana")["card"]["example_id"] not in ids[:5]

    final = resolve_answers(ws.events)
    assert [final[i].answer for i in ids[:5]] == [
        "accept",
        "accept",
        "correct",
        "correct",
        "reject",
    ]
    labels = {ex.id: out.labels for ex, out in merge_labels(store, task, "train", SOURCE).pairs}
    assert sorted(labels[ids[2]]) == ["gratitude", "remorse"] and labels[ids[3]] == []
    assert labels[ids[0]] == said[ids[0]] and ids[4] not in labels


def test_the_card_queue_puts_the_text_with_the_least_certain_label_first() -> None:
    store = Store(":memory:")
    texts = {"sure": "Thanks so much!! 🙏", "doubt": "Well... I guess?", "mid": "lol ok 😂"}
    store.add_examples([Example(id=i, text=t) for i, t in texts.items()], "train")
    scores = {
        "sure": {"gratitude": 0.95, "joy": 0.1},
        "doubt": {"gratitude": 0.52},
        "mid": {"joy": 0.75},
    }
    store.add_predictions(
        Prediction(
            example_id=i,
            source=SOURCE,
            output=Categories(labels=[x for x, s in sc.items() if s > 0.5], scores=sc),
            confidence=0.99,  # the same for all: only the per-label scores tell them apart
        )
        for i, sc in scores.items()
    )
    ws = Workspace(
        store, TextCat(["gratitude", "joy"], multilabel=True), multilabel="card", queue="confidence"
    )
    order = []
    while (card := ws.state("a")["card"]) is not None and card["pass"] == CARD_PASS:
        order.append(card["example_id"])
        ws.answer("a", CARD_PASS, card["example_id"], "accept")
    assert order == ["doubt", "mid", "sure"]

    p = next(x for x in ws.passes if x.name == CARD_PASS)
    teacher = ws.teacher["sure"]
    trust = Prediction(
        example_id="sure",
        source="trust:test",
        output=Categories(labels=[], scores={"gratitude": 0.7, "joy": 0.9}),
    )
    # The least trusted verdict: "not joy" with P(joy) = 0.9 has trust 0.1.
    card = make_card(p, ws.examples["sure"], 0, teacher, None, trust)
    assert card.trust == pytest.approx(0.1)


def test_the_app_plans_cards_by_default_and_per_label_passes_stay_an_option() -> None:
    assert AnnotateSection().multilabel == "card"
    task = TextCat(["a", "b", "c"], multilabel=True)
    assert [p.name for p in plan_passes(task, multilabel="per_label")] == [
        "check:a",
        "check:b",
        "check:c",
        "fix",
        "review",
    ]
    assert [p.name for p in plan_passes(TextCat(["x", "y"]), multilabel="card")] == [
        "check",
        "fix",
        "review",
    ]  # an exclusive task has no multi-label plan to choose
    with pytest.raises(ValueError, match="use card or per_label"):
        plan_passes(task, multilabel="cards")  # type: ignore[arg-type]
