"""The conformance suite for annotation queue plugins (the ``distil_queue_order`` hook).

A queue plugin decides which card an annotator sees first in a pass (the default: teacher–student
disagreement, then the lowest teacher confidence). The hook receives the cards in the default
order and returns them reordered, a subset of them, or None to keep the default. The suite checks
the contract the annotation app relies on, for every pass of an exclusive and a multi-label task:

* the result is the cards it was given (the same objects), each at most once: no new card, no
  copy, no duplicate — a card left out is simply not shown in that pass;
* the cards are not changed (the app reads their fields after ordering);
* the order is a function of the cards: the same cards give the same order;
* an empty queue stays empty; a pass the plugin does not know is answered (None is fine);
* in a real :class:`distil.annotate.Workspace` over a SQLite store, the app shows the plugin's
  first card first and counts exactly the cards the plugin kept.

A plugin's tests subclass :class:`QueueOrderConformance` and provide ``plugin``: the object (or
module) whose ``distil_queue_order`` hook implementation is under test::

    from distil.testing.queue import QueueOrderConformance

    class TestMyQueue(QueueOrderConformance):
        @pytest.fixture
        def plugin(self):
            return my_plugin_module
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from ..annotate.passes import Pass, plan_passes
from ..annotate.queue import Card, make_card, order_cards
from ..plugins import PluginHost
from ..records import Categories, Example, Prediction
from ..tasks import Task, TextCat
from .data import load_split
from .students import MULTILABEL_KEYWORDS, multilabel_examples

PLUGIN = "under-test"
TEACHER = "teacher:testing.queue#v1"
STUDENT = "student:testing.queue#run=1"
SPAM_WORDS = frozenset({"free", "win", "won", "prize", "call", "txt", "claim", "cash", "urgent"})


def teacher_and_student(task: Task, examples: list[Example]) -> list[tuple[Prediction, Prediction]]:
    """For each example a teacher prediction (a keyword guess with varied confidence) and a
    student prediction (the reference answer), so that some cards disagree and confidences vary."""
    out = []
    for i, ex in enumerate(examples):
        words = set(ex.text.lower().split())
        if isinstance(task, TextCat) and task.multilabel:
            scores = {
                label: (0.9 if words & set(kws) else 0.1) - (i % 7) / 20
                for label, kws in MULTILABEL_KEYWORDS.items()
            }
            labels = [label for label, score in scores.items() if score >= 0.5]
        else:
            labels = ["spam" if words & SPAM_WORDS else "ham"]
            scores = {}
        teacher = Prediction(
            example_id=ex.id,
            source=TEACHER,
            output=Categories(labels=labels, scores=scores),
            confidence=0.5 + (i * 7 % 10) / 20,
        )
        student = Prediction(
            example_id=ex.id, source=STUDENT, output=Categories(labels=list(ex.labels or []))
        )
        out.append((teacher, student))
    return out


def build_cards(task: Task, p: Pass, examples: list[Example]) -> list[Card]:
    """The cards of pass ``p`` as the annotation app builds them, before ordering."""
    preds = teacher_and_student(task, examples)
    return [
        make_card(p, ex.without_answer(), n, teacher, student)
        for n, (ex, (teacher, student)) in enumerate(zip(examples, preds, strict=True))
    ]


def _snapshot(cards: list[Card]) -> list[Any]:
    return [copy.deepcopy(vars(card)) for card in cards]


class QueueOrderConformance:
    """Subclass and provide ``plugin``; see the module docstring for the contract."""

    @pytest.fixture
    def plugin(self) -> Any:
        pytest.fail(
            f"{type(self).__name__} must define a `plugin` fixture: the object or module that "
            "implements distil_queue_order"
        )

    @pytest.fixture
    def host(self, plugin: Any) -> PluginHost:
        return PluginHost(entry_points=False, modules=[(PLUGIN, plugin)], strict=True)

    @pytest.fixture(params=["exclusive", "multilabel"])
    def task_and_examples(self, request: pytest.FixtureRequest) -> tuple[Task, list[Example]]:
        if request.param == "exclusive":
            return TextCat(["ham", "spam"]), load_split("sms_spam", "test", limit=40)
        return TextCat(list(MULTILABEL_KEYWORDS), multilabel=True), multilabel_examples(40, seed=3)

    @pytest.fixture
    def queues(
        self, host: PluginHost, task_and_examples: tuple[Task, list[Example]]
    ) -> Iterator[list[tuple[Task, str, list[Card], list[Card]]]]:
        """``(task, pass name, cards given, cards returned)`` for every pass of the task."""
        task, examples = task_and_examples
        out = []
        for p in plan_passes(task):
            cards = build_cards(task, p, examples)
            out.append((task, p.name, cards, order_cards(task, p.name, list(cards), host.hook)))
        yield out

    # -- checks --------------------------------------------------------------------------------
    def test_the_plugin_implements_the_hook(self, host: PluginHost) -> None:
        assert "distil_queue_order" in host.plugins[PLUGIN].hooks

    def test_the_queue_holds_only_the_given_cards_each_at_most_once(
        self, queues: list[tuple[Task, str, list[Card], list[Card]]]
    ) -> None:
        for _, pass_name, cards, ordered in queues:
            assert isinstance(ordered, list), f"{pass_name}: the queue is {type(ordered)}"
            given = {id(card) for card in cards}
            strangers = [c for c in ordered if id(c) not in given]
            assert not strangers, (
                f"{pass_name}: {len(strangers)} cards are not among those given (new cards or "
                "copies); return the given Card objects"
            )
            ids = [card.example_id for card in ordered]
            assert len(ids) == len(set(ids)), f"{pass_name}: a card is queued twice"

    def test_the_cards_are_not_changed(
        self, host: PluginHost, task_and_examples: tuple[Task, list[Example]]
    ) -> None:
        task, examples = task_and_examples
        for p in plan_passes(task):
            cards = build_cards(task, p, examples)
            before = _snapshot(cards)
            order_cards(task, p.name, cards, host.hook)
            assert _snapshot(cards) == before, f"{p.name}: the hook changed the cards"

    def test_the_same_cards_give_the_same_order(
        self, host: PluginHost, task_and_examples: tuple[Task, list[Example]]
    ) -> None:
        task, examples = task_and_examples
        for p in plan_passes(task):
            first = order_cards(task, p.name, build_cards(task, p, examples), host.hook)
            again = order_cards(task, p.name, build_cards(task, p, examples), host.hook)
            assert [c.example_id for c in again] == [c.example_id for c in first], (
                f"{p.name}: the same cards came back in another order"
            )

    def test_an_empty_queue_stays_empty(
        self, host: PluginHost, task_and_examples: tuple[Task, list[Example]]
    ) -> None:
        task, _ = task_and_examples
        for p in plan_passes(task):
            assert order_cards(task, p.name, [], host.hook) == [], p.name

    def test_a_pass_the_plugin_does_not_know_is_answered(
        self, host: PluginHost, task_and_examples: tuple[Task, list[Example]]
    ) -> None:
        task, examples = task_and_examples
        p = Pass("check:unheard-of", "binary", "A pass from a newer distil", "unheard-of")
        cards = build_cards(task, p, examples)
        result = host.hook.distil_queue_order(task=task, pass_name=p.name, cards=list(cards))
        assert result is None or {id(c) for c in result} <= {id(c) for c in cards}

    def test_the_annotation_app_follows_the_plugin_s_order(self, host: PluginHost) -> None:
        from ..annotate.session import Workspace
        from ..store.sqlite import Store

        task = TextCat(["ham", "spam"])
        examples = load_split("sms_spam", "test", limit=40)
        with Store(":memory:") as store:
            store.add_examples(examples, "train")
            preds = teacher_and_student(task, examples)
            store.add_predictions([t for t, _ in preds] + [s for _, s in preds])
            workspace = Workspace(
                store, task, teacher_source=TEACHER, student_source=STUDENT, host=host
            )
            for p in plan_passes(task):
                if not p.is_check:
                    continue  # the fix pass holds only rejected cards: none yet
                expected = order_cards(task, p.name, build_cards(task, p, examples), host.hook)
                state = workspace.state("conformance", pass_name=p.name)
                shown = next(x for x in state["passes"] if x["name"] == p.name)
                assert shown["total"] == len(expected), f"{p.name}: the app counts other cards"
                if expected:
                    assert state["pass"] == p.name and state["card"] is not None
                    assert state["card"]["example_id"] == expected[0].example_id, (
                        f"{p.name}: the app shows {state['card']['example_id']!r} first, the "
                        f"plugin ordered {expected[0].example_id!r} first"
                    )


__all__ = ["QueueOrderConformance", "build_cards", "teacher_and_student"]
