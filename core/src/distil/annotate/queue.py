"""The queue: which card comes first in a pass.

The default order puts first what most often finds a real teacher error (measured on banking77:
disagreement-first shows a real error 63–85% of the time, against 24–38% at random):

1. teacher–student disagreement on the pass's question, when a student's predictions for these
   examples are in the store;
2. then the lowest teacher confidence (for a per-label pass of a multi-label task, the score of
   that label closest to 0.5); unknown confidence counts as certain;
3. then the data set's order.

Teams route their own way with the ``distil_queue_order`` hook (firstresult): it gets the cards in
the default order and returns them reordered (or filtered), or None to keep the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..records import Categories, Example, Prediction, Spans, TaskOutput
from .passes import Pass

if TYPE_CHECKING:
    from ..tasks import Task

__all__ = ["Card", "default_order", "make_card", "order_cards"]


@dataclass
class Card:
    """What the app shows for one example in one pass, and why it is where it is in the queue."""

    example: Example
    pass_name: str
    suggestion: TaskOutput | None
    confidence: float | None
    student: TaskOutput | None = None
    disagree: bool = False
    position: int = 0

    @property
    def example_id(self) -> str:
        return self.example.id


def _aspect(p: Pass, output: TaskOutput | None) -> Any:
    """The part of an output a pass asks about, comparable across sources."""
    if output is None:
        return None
    if isinstance(output, Categories):
        if p.label is not None and p.is_check:
            return p.label in output.labels
        return tuple(sorted(output.labels))
    spans = output.spans if isinstance(output, Spans) else []
    return tuple(
        sorted(
            (s.start, s.end, s.label)
            for s in spans
            if p.label is None or not p.is_check or s.label == p.label
        )
    )


def _confidence(p: Pass, pred: Prediction) -> float | None:
    out = pred.output
    if p.label is not None and isinstance(out, Categories) and p.label in out.scores:
        score = float(out.scores[p.label])
        return max(score, 1.0 - score)
    return pred.confidence


def make_card(
    p: Pass,
    example: Example,
    position: int,
    teacher: Prediction | None,
    student: Prediction | None,
) -> Card:
    suggestion = teacher.output if teacher is not None and teacher.ok else None
    student_out = student.output if student is not None and student.ok else None
    disagree = student_out is not None and _aspect(p, student_out) != _aspect(p, suggestion)
    return Card(
        example=example,
        pass_name=p.name,
        suggestion=suggestion,
        confidence=_confidence(p, teacher) if teacher is not None else None,
        student=student_out,
        disagree=disagree,
        position=position,
    )


def default_order(cards: list[Card]) -> list[Card]:
    """Disagreement first, then lowest confidence, then data set order."""

    def key(c: Card) -> tuple[bool, float, int]:
        conf = c.confidence if c.confidence is not None else 1.0
        return (not c.disagree, conf, c.position)

    return sorted(cards, key=key)


def order_cards(
    task: Task, pass_name: str, cards: list[Card], hook: Any | None = None
) -> list[Card]:
    """The default order, then the ``distil_queue_order`` hook's when a plugin gives one."""
    ordered = default_order(cards)
    if hook is not None:
        routed = hook.distil_queue_order(task=task, pass_name=pass_name, cards=ordered)
        if routed is not None:
            return list(routed)
    return ordered
