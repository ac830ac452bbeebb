"""The queue: which card comes first in a pass.

The order is a strategy, chosen in the config (``[annotate] queue``) or by the caller:

* ``label_issues``: the lowest trust score first (:mod:`distil.trust`: cleanlab's quality of the
  teacher's label under out-of-fold student probabilities; for a per-label pass of a multi-label
  task, the out-of-fold probability that the teacher's verdict on that label is right); a card
  without a score counts as trusted; ties go by disagreement, then confidence, then data set order;
* ``disagreement`` (what most often finds a real teacher error, measured on banking77:
  disagreement-first shows a real error 63–85% of the time, against 24–38% at random): teacher–
  student disagreement on the pass's question first, when a student's predictions are in the
  store; then the lowest teacher confidence (for a per-label pass of a multi-label task, the
  score of that label closest to 0.5; unknown confidence counts as certain); then data set order;
* ``confidence``: the lowest teacher confidence first, then data set order;
* ``uncertainty`` (active learning with exploration; what beats random order when the teacher is
  weak, measured with the zero-shot teacher in docs/distill.md): every other card is the one the
  student is least sure of (its smallest margin on the pass's question: exclusive, its top
  probability minus the runner-up; a per-label pass or a multi-label card, the score closest to
  0.5; cards without a student prediction last, ties by trust, then data set order), and the
  cards between are drawn in the ``random`` order, so the answers teach the student where it is
  unsure and stay a fair sample of the data (margin alone picks a lopsided sample the student
  then learns from badly). It pays when the student is retrained between batches of cards
  (``distil train`` every few dozen answers, ``distil simulate --step``) and human answers
  outweigh the teacher's labels (``[train] teacher_weight``);
* ``random``: shuffled, seeded by the seed and the pass name (the same seed, the same order).

The default (``None``) is ``label_issues`` when trust scores are stored, else ``disagreement``;
the workspace decides (:class:`distil.annotate.Workspace`). Teams route their own way with the
``distil_queue_order`` hook (firstresult), which always goes last: it gets the cards in the
strategy's order and returns them reordered (or filtered), or None to keep that order.

A multi-label card (:data:`~distil.annotate.passes.CARD_PASS`) asks about every label at once: its
confidence is that of its least certain label (the score closest to 0.5), and its trust that of
the teacher's least trusted verdict, so a card with one doubtful label comes early.

**Leases** (:class:`Leases`): several browser tabs (or people) sharing one session name must not
be shown the same card at once. Each client id of a session holds at most one lease, on the card
it was last shown; other clients of that session skip the card until it is answered, the client
moves on, or the lease expires (``[annotate] lease_seconds``, 300 by default). Leases live in
the server's memory: they only steer who sees what next, no answer depends on them, and a restart
simply lets them lapse.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..records import Categories, Example, Prediction, Spans, TaskOutput
from .passes import CARD_PASS, Pass

if TYPE_CHECKING:
    from ..tasks import Task

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "Card",
    "Lease",
    "Leases",
    "default_order",
    "make_card",
    "order_cards",
    "strategy_order",
]

#: The queue strategies, as ``[annotate] queue`` names them.
STRATEGIES = ("label_issues", "disagreement", "confidence", "uncertainty", "random")
#: The order without trust scores, and what ``order_cards`` uses when not told otherwise.
DEFAULT_STRATEGY = "disagreement"


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
    #: The trust score of the teacher's answer to this pass's question (None: not scored).
    trust: float | None = None
    #: Whether cleanlab flags the label as a likely error.
    issue: bool = False
    #: How sure the student is of its answer to this pass's question, 0 (a coin toss) to 1
    #: (None: no student prediction with scores).
    margin: float | None = None

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
    if p.name == CARD_PASS and isinstance(out, Categories) and out.scores:
        return min(max(float(s), 1.0 - float(s)) for s in out.scores.values())
    if p.label is not None and isinstance(out, Categories) and p.label in out.scores:
        score = float(out.scores[p.label])
        return max(score, 1.0 - score)
    return pred.confidence


def _trust(p: Pass, suggestion: TaskOutput | None, trust: Prediction | None) -> float | None:
    """The trust score of the teacher's answer to ``p``'s question, from a ``trust:`` prediction.

    A per-label pass of a multi-label task asks about one label: its trust is the out-of-fold
    probability that the teacher's verdict on that label is right (cleanlab's per-class
    self-confidence). Every other pass takes the stored score of the whole label.
    """
    if trust is None or not trust.ok:
        return None
    out = trust.output
    if (
        p.name == CARD_PASS
        and isinstance(out, Categories)
        and isinstance(suggestion, Categories)
        and out.scores
    ):  # every label at once: the least trusted verdict
        return min(
            float(prob) if label in suggestion.labels else 1.0 - float(prob)
            for label, prob in out.scores.items()
        )
    if (
        p.label is not None
        and p.is_check
        and isinstance(out, Categories)
        and isinstance(suggestion, Categories)
        and p.label in out.scores
    ):  # a per-label check of Categories: only multi-label tasks have those
        prob = float(out.scores[p.label])
        return prob if p.label in suggestion.labels else 1.0 - prob
    return trust.confidence


def _margin(p: Pass, student: Prediction | None) -> float | None:
    """The student's margin on ``p``'s question (see ``uncertainty`` in the module docstring)."""
    if student is None or not student.ok:
        return None
    out = student.output
    if isinstance(out, Categories) and out.scores:
        if p.label is not None and p.is_check and p.label in out.scores:
            return abs(2.0 * float(out.scores[p.label]) - 1.0)
        if p.name == CARD_PASS:  # multi-label: every label at once, the least certain one
            return min(abs(2.0 * float(s) - 1.0) for s in out.scores.values())
        top = sorted((float(s) for s in out.scores.values()), reverse=True)
        return top[0] - top[1] if len(top) > 1 else 1.0
    return student.confidence


def _issue(trust: Prediction | None) -> bool:
    if trust is None or not trust.raw:
        return False
    try:
        return bool(json.loads(trust.raw).get("issue"))
    except (ValueError, AttributeError):
        return False


def make_card(
    p: Pass,
    example: Example,
    position: int,
    teacher: Prediction | None,
    student: Prediction | None,
    trust: Prediction | None = None,
) -> Card:
    """The card of ``example`` in pass ``p``: the teacher's suggestion and the queue's reasons
    (disagreement with ``student``, teacher confidence, the ``trust`` score of the label)."""
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
        trust=_trust(p, suggestion, trust),
        issue=_issue(trust),
        margin=_margin(p, student),
    )


def _conf(c: Card) -> float:
    return c.confidence if c.confidence is not None else 1.0


def default_order(cards: list[Card]) -> list[Card]:
    """Disagreement first, then lowest confidence, then data set order (``disagreement``)."""
    return sorted(cards, key=lambda c: (not c.disagree, _conf(c), c.position))


def _by_trust(cards: list[Card]) -> list[Card]:
    def key(c: Card) -> tuple[float, bool, float, int]:
        trust = c.trust if c.trust is not None else 1.0
        return (trust, not c.disagree, _conf(c), c.position)

    return sorted(cards, key=key)


def _by_confidence(cards: list[Card]) -> list[Card]:
    return sorted(cards, key=lambda c: (_conf(c), c.position))


def _by_margin(cards: list[Card]) -> list[Card]:
    def key(c: Card) -> tuple[float, float, int]:
        margin = c.margin if c.margin is not None else math.inf
        return (margin, c.trust if c.trust is not None else 1.0, c.position)

    return sorted(cards, key=key)


_ORDERS: dict[str, Callable[[list[Card]], list[Card]]] = {
    "label_issues": _by_trust,
    "disagreement": default_order,
    "confidence": _by_confidence,
}


def _shuffled(cards: list[Card], seed: int, pass_name: str) -> list[Card]:
    shuffled = sorted(cards, key=lambda c: c.position)
    random.Random(f"{seed}:{pass_name}").shuffle(shuffled)
    return shuffled


def _explore(cards: list[Card], seed: int, pass_name: str) -> list[Card]:
    """Least sure first and the random order, alternately, each card once (``uncertainty``)."""
    unsure, shuffled = iter(_by_margin(cards)), iter(_shuffled(cards, seed, pass_name))
    order: list[Card] = []
    seen: set[int] = set()
    while len(order) < len(cards):
        for source in (unsure, shuffled):
            for card in source:
                if id(card) not in seen:
                    seen.add(id(card))
                    order.append(card)
                    break
    return order


def strategy_order(
    cards: list[Card], strategy: str = DEFAULT_STRATEGY, seed: int = 0, pass_name: str = ""
) -> list[Card]:
    """``cards`` in the order of ``strategy`` (one of :data:`STRATEGIES`)."""
    if strategy == "random":
        return _shuffled(cards, seed, pass_name)
    if strategy == "uncertainty":
        return _explore(cards, seed, pass_name)
    try:
        order = _ORDERS[strategy]
    except KeyError:
        raise ValueError(
            f"unknown queue strategy {strategy!r}; use one of {', '.join(STRATEGIES)}"
        ) from None
    return order(cards)


def order_cards(
    task: Task,
    pass_name: str,
    cards: list[Card],
    hook: Any | None = None,
    strategy: str = DEFAULT_STRATEGY,
    seed: int = 0,
) -> list[Card]:
    """The strategy's order, then the ``distil_queue_order`` hook's when a plugin gives one."""
    ordered = strategy_order(cards, strategy, seed, pass_name)
    if hook is not None:
        routed = hook.distil_queue_order(task=task, pass_name=pass_name, cards=ordered)
        if routed is not None:
            return list(routed)
    return ordered


@dataclass
class Lease:
    """One client's hold on one open card of one pass, until ``expires`` (the lease clock's time)."""

    pass_name: str
    example_id: str
    expires: float


class Leases:
    """Which card each client (a browser tab) of each session holds; see the module docstring.

    Not thread-safe by itself: the workspace calls it under its lock, so choosing a card and
    leasing it is one step and two simultaneous requests never get the same card. ``clock``
    defaults to :func:`time.monotonic` (tests pass their own to expire leases without waiting).
    """

    def __init__(self, seconds: float = 300.0, clock: Callable[[], float] | None = None) -> None:
        if not seconds > 0:
            raise ValueError(f"a lease lasts a positive number of seconds, not {seconds!r}")
        self.seconds = float(seconds)
        self.clock = clock or time.monotonic
        self._held: dict[tuple[str, str], Lease] = {}  # (session, client) -> lease

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, lease in self._held.items() if lease.expires <= now]:
            del self._held[key]

    def held(self, session: str, client: str) -> Lease | None:
        """The live lease of ``client`` of ``session``, or None."""
        self._expire()
        return self._held.get((session, client))

    def elsewhere(self, session: str, client: str) -> dict[str, set[str]]:
        """pass → the example ids other clients of ``session`` hold right now."""
        self._expire()
        out: dict[str, set[str]] = {}
        for (who, other), lease in self._held.items():
            if who == session and other != client:
                out.setdefault(lease.pass_name, set()).add(lease.example_id)
        return out

    def take(self, session: str, client: str, pass_name: str, example_id: str) -> Lease:
        """Lease the card to ``client`` (replacing the card it held) for :attr:`seconds`."""
        lease = Lease(pass_name, example_id, self.clock() + self.seconds)
        self._held[(session, client)] = lease
        return lease

    def release(self, session: str, pass_name: str, example_id: str) -> None:
        """Drop every lease of ``session`` on that card (it was answered: it is done for the
        session, whichever tab answered it)."""
        for key in [
            k
            for k, lease in self._held.items()
            if k[0] == session and (lease.pass_name, lease.example_id) == (pass_name, example_id)
        ]:
            del self._held[key]

    def drop(self, session: str, client: str) -> None:
        """Drop ``client``'s lease (it was shown no card)."""
        self._held.pop((session, client), None)
