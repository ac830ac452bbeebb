"""Small helpers shared by the tests: wikigold data and span-exact F1."""

from __future__ import annotations

from functools import cache

import distil
from distil.testing import load_split

WIKIGOLD_LABELS = ["PER", "LOC", "ORG", "MISC"]


def ner_task() -> distil.SpanTask:
    return distil.NerTask(WIKIGOLD_LABELS)


@cache
def wikigold(split: str, limit: int) -> tuple[distil.Example, ...]:
    return tuple(load_split("wikigold", split, limit=limit))


def span_f1(
    task: distil.Task, gold: list[distil.TaskOutput], predicted: list[distil.TaskOutput | None]
) -> float:
    """Micro span-exact F1: core's ``task.score`` when it exists, else a plain exact-match count."""
    try:
        scores = task.score(gold, predicted)
        for key in ("micro_f1", "f1"):
            if isinstance(scores.get(key), float):
                return scores[key]
    except NotImplementedError:
        pass
    tp = fp = fn = 0
    for g, p in zip(gold, predicted, strict=True):
        want = {(s.start, s.end, s.label) for s in g.spans}  # type: ignore[union-attr]
        got = {(s.start, s.end, s.label) for s in p.spans} if p is not None else set()  # type: ignore[union-attr]
        tp, fp, fn = tp + len(want & got), fp + len(got - want), fn + len(want - got)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
