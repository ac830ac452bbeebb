"""The annotation logic without a browser: pass plans, queue order, undo, merge, agreement."""

from __future__ import annotations

import json
import time
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
        ("check:none", "binary"),
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


# -- queue strategies, trust scores, staleness ------------------------------------------------------
TRUST = "trust:s#run=r1"
STUDENT = "student:s#run=r1"


def _trained(store: Store, trust: dict[str, float], labels_as_of: float = 0.0) -> str:
    """A finished train run that stored trust scores (and a student agreeing with the teacher)."""
    run_id = store.start_run("train", {"student": "s"})
    store.add_predictions(
        Prediction(
            example_id=ex_id,
            source=TRUST,
            output=Categories(labels=["ham"]),
            confidence=score,
            raw=json.dumps({"issue": score < 0.3}),
        )
        for ex_id, score in trust.items()
    )
    store.add_predictions(
        Prediction(example_id=ex_id, source=STUDENT, output=Categories(labels=["spam"]))
        for ex_id in trust
    )
    stats = {"source": STUDENT, "trust_source": TRUST, "labels_as_of": labels_as_of}
    store.finish_run(run_id, "finished", stats)
    return run_id


def _order(ws: Workspace, pass_name: str = "check", n: int = 6) -> list[str]:
    order = []
    for _ in range(n):
        card = ws.state("a", pass_name)["card"]
        order.append(card["example_id"])
        ws.answer("a", pass_name, card["example_id"], "accept")
    return order


def test_stored_trust_scores_make_the_queue_lowest_trust_first() -> None:
    store, task = _store()
    _trained(store, {"e0": 0.5, "e1": 0.9, "e2": 0.05, "e3": 0.7, "e4": 0.2, "e5": 0.95})
    ws = Workspace(store, task)
    first = ws.state("a")
    assert first["queue"]["strategy"] == "label_issues" and first["queue"]["requested"] is None
    assert (first["card"]["trust"], first["card"]["label_issue"]) == (0.05, True)
    assert _order(ws) == ["e2", "e4", "e0", "e3", "e1", "e5"]


def test_the_config_s_strategy_wins_and_the_hook_still_goes_last() -> None:
    store, task = _store()  # teacher confidences 0.9 0.6 0.95 0.55 0.8 0.7
    _trained(store, {"e0": 0.5, "e1": 0.9, "e2": 0.05, "e3": 0.7, "e4": 0.2, "e5": 0.95})
    assert _order(Workspace(store, task, queue="confidence")) == [
        "e3",
        "e1",
        "e5",
        "e4",
        "e0",
        "e2",
    ]
    store2, _ = _store()
    shuffled = [_order(Workspace(_store()[0], task, queue="random", seed=s)) for s in (1, 1, 2)]
    assert shuffled[0] == shuffled[1] and sorted(shuffled[0]) == [f"e{i}" for i in range(6)]
    assert shuffled[0] != shuffled[2]

    class Reverse:
        @distil.hookimpl
        def distil_queue_order(self, cards: list[Any]) -> list[Any]:
            return cards[::-1]

    host = PluginHost(entry_points=False, modules=[("reverse", Reverse())])
    _trained(store2, {"e0": 0.5, "e1": 0.9, "e2": 0.05, "e3": 0.7, "e4": 0.2, "e5": 0.95})
    assert _order(Workspace(store2, task, host=host)) == ["e5", "e1", "e3", "e0", "e4", "e2"]
    with pytest.raises(ValueError, match="unknown queue strategy 'loudest'"):
        Workspace(store2, task, queue="loudest")


def test_without_trust_scores_the_default_is_disagreement_and_label_issues_says_so() -> None:
    store, task = _store()
    untrained = Workspace(store, task).state("a")["queue"]
    assert untrained["strategy"] == "disagreement" and untrained["train_run"] is None
    assert untrained["notice"].startswith("no trained student yet: run `distil train`")
    run_id = store.start_run("train")
    store.finish_run(run_id, "finished", {"trust_source": None, "labels_as_of": time.time()})
    assert Workspace(store, task).state("a")["queue"]["strategy"] == "disagreement"
    state = Workspace(store, task, queue="label_issues").state("a")
    assert state["queue"]["strategy"] == "label_issues"
    assert (
        "stored no trust scores: the queue falls back to disagreement" in state["queue"]["notice"]
    )


def test_a_multilabel_check_pass_ranks_by_that_label_s_out_of_fold_probability() -> None:
    store = Store(":memory:")
    task = TextCat(["a", "b"], multilabel=True)
    store.add_examples([Example(id=i, text=f"texte {i} ✓") for i in ("x1", "x2", "x3")], "train")
    store.add_predictions(
        Prediction(example_id=i, source=SOURCE, output=Categories(labels=["a"]))
        for i in ("x1", "x2", "x3")
    )
    run_id = store.start_run("train")
    oof = {"x1": {"a": 0.9, "b": 0.1}, "x2": {"a": 0.2, "b": 0.95}, "x3": {"a": 0.1, "b": 0.2}}
    store.add_predictions(
        Prediction(
            example_id=i,
            source=TRUST,
            output=Categories(labels=[k for k, v in s.items() if v >= 0.5], scores=s),
            confidence=0.5,
        )
        for i, s in oof.items()
    )
    store.finish_run(run_id, "finished", {"trust_source": TRUST, "labels_as_of": 0.0})
    ws = Workspace(store, task)
    # check:a: the teacher says "a" everywhere; trust = P(a). check:b: it says "not b"; 1 - P(b).
    assert _order(ws, "check:a", 3) == ["x3", "x2", "x1"]
    assert _order(ws, "check:b", 3) == ["x2", "x3", "x1"]


def test_answers_or_teacher_labelling_after_the_train_run_make_the_queue_stale() -> None:
    store, task = _store()
    run_id = _trained(store, {"e0": 0.5, "e1": 0.9}, labels_as_of=time.time())
    ws = Workspace(store, task)
    fresh = ws.state("a")["queue"]
    assert (fresh["train_run"], fresh["stale"], fresh["notice"]) == (run_id, False, None)
    ws.answer("a", "check", "e0", "accept")
    ws.undo("a")
    ws.answer("a", "check", "e1", "reject")
    stale = ws.state("a")["queue"]
    assert (stale["stale"], stale["answers_since"], stale["labelled_since"]) == (True, 2, 0)
    assert stale["notice"] == (
        "2 answer(s) since the last `distil train`: retrain to refresh the queue"
    )
    label_run = store.start_run("label", {"dataset": "train", "source": SOURCE})
    store.finish_run(label_run, "finished", {"labelled": 3})
    again = Workspace(store, task).state("a")["queue"]
    assert again["labelled_since"] == 1
    assert again["notice"].startswith("2 answer(s) and new teacher labels since")


def test_the_no_entity_pass_holds_exactly_the_sentences_without_a_teacher_span() -> None:
    from distil.testing.data import load_split

    rows = load_split("wnut17", "train", limit=60)
    task = NerTask(["corporation", "creative-work", "group", "location", "person"])
    store = Store(":memory:")
    store.add_examples(rows, "train")
    # The teacher misses every entity of every third sentence; the student finds the gold ones.
    teacher = {
        ex.id: Spans(spans=[] if n % 3 == 0 else list(ex.spans or [])) for n, ex in enumerate(rows)
    }
    store.add_predictions(
        Prediction(example_id=i, source=SOURCE, output=out) for i, out in teacher.items()
    )
    store.add_predictions(
        Prediction(example_id=ex.id, source=STUDENT, output=Spans(spans=list(ex.spans or [])))
        for ex in rows
    )
    empty = {i for i, out in teacher.items() if not out.spans}
    missed = {ex.id for n, ex in enumerate(rows) if n % 3 == 0 and ex.spans}
    assert missed and empty - missed  # some misses, some sentences truly without an entity
    ws = Workspace(store, task, student_source=STUDENT)
    state = ws.state("a", "check:none")
    row = next(p for p in state["passes"] if p["name"] == "check:none")
    assert (row["total"], row["mode"]) == (len(empty), "binary")
    assert state["card"]["claim"] == "no entity" and state["card"]["disagree"]
    seen = []
    while (card := ws.state("a", "check:none")["card"]) is not None and card[
        "pass"
    ] == "check:none":
        seen.append(card["example_id"])
        # "There is an entity here" (reject) for the misses; "none indeed" (accept) otherwise.
        ws.answer("a", "check:none", card["example_id"], "reject" if card["disagree"] else "accept")
    assert set(seen) == empty and len(seen) == len(empty)
    assert set(seen[: len(missed)]) == missed  # the student's disagreements come first
    fix = next(p for p in ws.state("a", "fix")["passes"] if p["name"] == "fix")
    assert fix["total"] == len(missed)
    accepted = resolve_answers(store.annotations())
    kept = next(i for i in empty - missed)
    assert accepted[kept].answer == "accept" and accepted[kept].output == Spans(spans=[])


def _margin_store() -> tuple[Store, TextCat]:
    store = Store(":memory:")
    labels = ["card_arrival 💳", "refund", "top_up", "pin"]
    task = TextCat(labels)
    ids = ["u1", "u2", "u3", "u4", "u5"]
    store.add_examples([Example(id=i, text=f"où est ma carte {i} 💳") for i in ids], "train")
    store.add_predictions(  # the teacher says "refund" everywhere, very sure of itself
        Prediction(
            example_id=i, source=SOURCE, output=Categories(labels=["refund"]), confidence=0.99
        )
        for i in ids
    )
    student = {  # top minus runner-up: u1 0.60, u2 0.02, u3 0.30, u4 none, u5 0.02 (tie with u2)
        "u1": [0.7, 0.1, 0.1, 0.1],
        "u2": [0.41, 0.39, 0.1, 0.1],
        "u3": [0.1, 0.2, 0.5, 0.2],
        "u5": [0.39, 0.41, 0.1, 0.1],
    }
    run_id = store.start_run("train")
    store.add_predictions(
        Prediction(
            example_id=i,
            source=STUDENT,
            output=Categories(
                labels=[labels[max(range(4), key=p.__getitem__)]],
                scores=dict(zip(labels, p, strict=True)),
            ),
        )
        for i, p in student.items()
    )
    trust = {"u2": 0.8, "u5": 0.1}  # breaks the u2/u5 tie: the less trusted label first
    store.add_predictions(
        Prediction(example_id=i, source=TRUST, output=Categories(labels=["refund"]), confidence=t)
        for i, t in trust.items()
    )
    store.finish_run(
        run_id, "finished", {"source": STUDENT, "trust_source": TRUST, "labels_as_of": 0.0}
    )
    return store, task


def test_the_uncertainty_queue_alternates_the_least_sure_card_and_a_random_one() -> None:
    store, task = _margin_store()
    ws = Workspace(store, task, queue="uncertainty", seed=3)
    assert ws.state("a")["queue"]["strategy"] == "uncertainty"
    got = _order(ws, n=5)
    shuffled = _order(Workspace(_margin_store()[0], task, queue="random", seed=3), n=5)
    # Least sure first (lowest margin; the example the student never scored goes last), then
    # the random order's first card not yet shown, and so on.
    unsure = ["u5", "u2", "u3", "u1", "u4"]
    expected: list[str] = []
    while len(expected) < 5:
        for source in (unsure, shuffled):
            nxt = next((i for i in source if i not in expected), None)
            if nxt is not None:
                expected.append(nxt)
    assert got == expected[:5]
    assert got[0] == "u5" and got != unsure and got != shuffled


def test_the_uncertainty_queue_of_a_per_label_pass_ranks_by_that_label_s_score() -> None:
    store = Store(":memory:")
    task = TextCat(["joy 😀", "anger"], multilabel=True)
    store.add_examples(
        [Example(id=i, text=f"so happy {i} 😀") for i in ("m1", "m2", "m3")], "train"
    )
    store.add_predictions(
        Prediction(example_id=i, source=SOURCE, output=Categories(labels=["joy 😀"]))
        for i in ("m1", "m2", "m3")
    )
    scores = {
        "m1": {"joy 😀": 0.55, "anger": 0.99},
        "m2": {"joy 😀": 0.9, "anger": 0.5},
        "m3": {"joy 😀": 0.2, "anger": 0.1},
    }
    run_id = store.start_run("train")
    store.add_predictions(
        Prediction(
            example_id=i,
            source=STUDENT,
            output=Categories(labels=[k for k, v in s.items() if v >= 0.5], scores=s),
        )
        for i, s in scores.items()
    )
    store.finish_run(run_id, "finished", {"source": STUDENT, "labels_as_of": 0.0})
    ws = Workspace(store, task, queue="uncertainty")
    # |2p - 1| on the pass's own label: joy 0.1, 0.8, 0.6; anger 0.98, 0.0, 0.8. The least
    # sure card of each pass comes first (the second is the random order's).
    assert ws.state("a", "check:joy 😀")["card"]["example_id"] == "m1"
    assert ws.state("a", "check:anger")["card"]["example_id"] == "m2"


def test_the_uncertainty_queue_without_a_trained_student_says_what_would_rank_it() -> None:
    store = Store(":memory:")
    task = TextCat(["refund", "pin"])
    store.add_examples([Example(id=f"x{i}", text=f"mon code 🔢 {i}") for i in range(3)], "train")
    store.add_predictions(
        Prediction(example_id=f"x{i}", source=SOURCE, output=Categories(labels=["pin"]))
        for i in range(3)
    )
    state = Workspace(store, task, queue="uncertainty").state("a")
    assert state["queue"]["strategy"] == "uncertainty"
    notice = state["queue"]["notice"]
    assert "least sure" in notice and "distil train" in notice
