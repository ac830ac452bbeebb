"""The ordinal rating task: one label of an ordered scale (``"1"`` … ``"5"`` stars).

A rating is an exclusive classification whose labels are ordered, so the task builds on
:class:`distil.TextCat` (every textcat student learns it, since a student accepts the kinds a task
specialises) and overrides only what the order changes, through the task contract that core
calls (:class:`distil.Task`; core has no line about ratings):

- :meth:`OrdinalTask.score` adds ``mae`` (mean absolute error in scale steps, a failure counting
  as the worst error) and ``within_one`` (share of answers at most one step off), each with a
  bootstrap 95% interval, to the textcat scores; the headline stays macro-F1, so the report's
  table, CIs and paired comparison read as for any classifier.
- :meth:`OrdinalTask.annotation_passes` words the passes for ratings: *is the teacher's rating
  right?*, then pick the right one on the scale.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

import distil

#: The default scale: one to five stars.
STARS = ["1", "2", "3", "4", "5"]


def _interval(values: list[float], level: float = 0.95) -> list[float]:
    ordered = sorted(values)
    if not ordered:
        return [float("nan"), float("nan")]

    def pct(q: float) -> float:
        pos = (len(ordered) - 1) * q
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    tail = (1.0 - level) / 2.0
    return [pct(tail), pct(1.0 - tail)]


class OrdinalTask(distil.TextCat):
    """Rate a text on an ordered scale: exactly one of ``labels``, lowest first.

    ``labels`` are the scale's points in order (default ``"1"`` … ``"5"``); their order is what
    the error metrics measure, so ``["bad", "ok", "good"]`` works as well as digits.
    """

    kind: ClassVar[str] = "ordinal"

    def __init__(
        self,
        labels: list[str] | None = None,
        multilabel: bool = False,
        descriptions: dict[str, str] | None = None,
        instructions: str | None = None,
        shots: list[distil.Example] | None = None,
    ) -> None:
        if multilabel:
            raise ValueError("an ordinal task has one rating per text: multilabel must be false")
        if labels is not None and len(labels) < 2:
            raise ValueError(f"an ordinal scale needs at least two points, got {labels}")
        super().__init__(
            list(labels or STARS),
            multilabel=False,
            descriptions=descriptions,
            instructions=instructions
            or "Rate the text on the scale, lowest first: " + ", ".join(labels or STARS) + ".",
            shots=shots,
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "scale": list(self.labels)}

    # -- the order -----------------------------------------------------------------------------
    def position(self, output: distil.TaskOutput | None) -> int | None:
        """The index on the scale of an answer's rating (None for a failure or no rating)."""
        if not isinstance(output, distil.Categories) or not output.labels:
            return None
        label = output.labels[0]
        return self.labels.index(label) if label in self.labels else None

    def errors(
        self, gold: Sequence[distil.TaskOutput], predicted: Sequence[distil.TaskOutput | None]
    ) -> list[int]:
        """Absolute error in scale steps per document; a failure is the widest error there is."""
        worst = len(self.labels) - 1
        out = []
        for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
            want = self.position(g)
            if want is None:
                raise ValueError(f"gold[{i}] has no rating on the scale {self.labels}")
            got = self.position(p)
            out.append(worst if got is None else abs(got - want))
        return out

    # -- the contract: what core asks --------------------------------------------------------
    def score(
        self,
        gold: list[distil.TaskOutput],
        predicted: list[distil.TaskOutput | None],
        *,
        n_boot: int = 1000,
        seed: int = 0,
    ) -> dict[str, Any]:
        """The textcat scores plus ``mae`` and ``within_one``, with bootstrap intervals."""
        scores = super().score(gold, predicted, n_boot=n_boot, seed=seed)
        errors = self.errors(gold, predicted)
        n = len(errors)
        rand = random.Random(seed).random
        maes, withins = [], []
        for _ in range(n_boot):
            picked = [errors[int(rand() * n)] for _ in range(n)]
            maes.append(sum(picked) / n)
            withins.append(sum(1 for e in picked if e <= 1) / n)
        scores["mae"] = sum(errors) / n
        scores["within_one"] = sum(1 for e in errors if e <= 1) / n
        scores["ci"]["mae"] = _interval(maes)
        scores["ci"]["within_one"] = _interval(withins)
        return scores

    def annotation_passes(
        self, *, no_span_pass: bool = True, multilabel: Any = "per_label"
    ) -> list[distil.Pass]:
        """``check`` (is the teacher's rating right?), ``fix`` (choose the rating), ``review``."""
        scale = f"{self.labels[0]}–{self.labels[-1]}"
        return [
            distil.Pass("check", "binary", "Is the teacher's rating right?"),
            distil.Pass("fix", "choice", f"Choose the right rating ({scale})"),
            *[p for p in super().annotation_passes() if p.mode == "review"],
        ]
