"""How answer events become one answer per example: undo, per-pass re-answers, several annotators.

Answers are append-only events in the store (:meth:`Store.add_annotation`); nothing is updated or
deleted. This module is the one place that reads them back into decisions: ``distil train`` uses
it (the standard merge, and the ``extract`` task's per-subtask one in
:mod:`distil.tasks.extract_answers`), and so do the annotation app and the report (through
:mod:`distil.annotate.resolve`, which re-exports it), so they always agree. The rules:

1. **Undo** is an event too: ``Annotation(answer="ignore", pass_name=UNDO_PASS)`` for the same
   ``example_id`` and ``annotator``. It cancels that annotator's most recent not yet cancelled
   answer on that example (two undos cancel the two latest, and so on). A reader that does not
   know the marker sees an ``ignore``, which drops the example from training: the conservative
   side, an undone answer never counts.
2. **Re-answers**: within one pass an annotator's later answer replaces the earlier one.
3. **One annotator, several passes** (say ``check:PER`` accepted and ``check:LOC`` rejected): the
   latest ``correct`` wins unless a ``reject`` or ``ignore`` came after it; otherwise any
   ``reject`` makes the answer a reject, any ``ignore`` an ignore, and only when every pass
   accepted is the answer an accept (of the output the latest accept carries).
4. **Several annotators**: the latest answer of the ``review`` pass wins (it resolves their
   conflict); without one, the annotator whose resolved answer was given last wins.

Imported answers have no pass (``pass_name=None``), so one annotator's latest import wins, as before.

The rules are pure functions of the events (records only), so they live in the tasks layer, below
both the train stage and the tasks whose own merge reads answers back; the passes they name
(:data:`REVIEW_PASS`) are the ones :mod:`distil.tasks.passes` plans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..records import Annotation

__all__ = [
    "REVIEW_PASS",
    "UNDO_PASS",
    "Resolved",
    "effective_events",
    "is_undo",
    "resolve_annotator",
    "resolve_answers",
    "undo_event",
]

#: ``pass_name`` of an undo event (whose ``answer`` is ``"ignore"``).
UNDO_PASS = "distil.undo"
#: ``pass_name`` of the review pass: its answers settle conflicts between annotators.
REVIEW_PASS = "review"


def is_undo(a: Annotation) -> bool:
    return a.pass_name == UNDO_PASS


def undo_event(example_id: str, annotator: str, created_at: float | None = None) -> Annotation:
    """The event that cancels ``annotator``'s latest live answer on ``example_id``."""
    return Annotation(
        example_id=example_id,
        annotator=annotator,
        answer="ignore",
        output=None,
        pass_name=UNDO_PASS,
        created_at=created_at,
    )


@dataclass(frozen=True)
class Resolved:
    """One decision with the position (in event order) of the event that made it."""

    order: int
    annotation: Annotation


def effective_events(events: Iterable[Annotation]) -> list[Resolved]:
    """The events (in the order given, which must be event order) minus undo markers and what
    they cancelled."""
    live: list[Annotation | None] = []
    stacks: dict[tuple[str, str], list[int]] = {}
    for a in events:
        key = (a.annotator, a.example_id)
        if is_undo(a):
            stack = stacks.get(key)
            if stack:
                live[stack.pop()] = None
            continue
        stacks.setdefault(key, []).append(len(live))
        live.append(a)
    return [Resolved(i, a) for i, a in enumerate(live) if a is not None]


def resolve_annotator(events: Sequence[Resolved]) -> Resolved | None:
    """Rules 2 and 3 over one annotator's effective events on one example (in event order)."""
    per_pass: dict[str | None, Resolved] = {}
    for r in events:
        per_pass.pop(r.annotation.pass_name, None)  # re-insert: dict order follows event order
        per_pass[r.annotation.pass_name] = r
    latest = list(per_pass.values())
    if not latest:
        return None
    corrects = [i for i, r in enumerate(latest) if r.annotation.answer == "correct"]
    if corrects:
        after = [r for r in latest[corrects[-1] + 1 :] if r.annotation.answer != "accept"]
        return after[-1] if after else latest[corrects[-1]]
    for answer in ("reject", "ignore"):
        found = [r for r in latest if r.annotation.answer == answer]
        if found:
            return found[-1]
    return latest[-1]


def resolve_answers(events: Iterable[Annotation]) -> dict[str, Annotation]:
    """example id → the answer that counts (rule 4 over rules 1–3), in event order."""
    grouped: dict[str, dict[str, list[Resolved]]] = {}
    reviews: dict[str, Resolved] = {}
    for r in effective_events(events):
        a = r.annotation
        if a.pass_name == REVIEW_PASS:
            reviews[a.example_id] = r
        else:
            grouped.setdefault(a.example_id, {}).setdefault(a.annotator, []).append(r)
    winners: dict[str, Resolved] = dict(reviews)
    for example_id, by_annotator in grouped.items():
        if example_id in winners:
            continue
        # The annotator who answered last (their latest event, whichever pass) wins.
        finals = [
            (evs[-1].order, f)
            for evs in by_annotator.values()
            if (f := resolve_annotator(evs)) is not None
        ]
        if finals:
            winners[example_id] = max(finals, key=lambda t: t[0])[1]
    ordered = sorted(winners.values(), key=lambda f: f.order)
    return {r.annotation.example_id: r.annotation for r in ordered}
