"""The student contract: a small model trained on the corrected labels.

A student reads and writes the same typed records as the teacher, so one can replace the other.
Formats must be safe to load: no unpickling of untrusted files (scikit-learn students use skops).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from .errors import ParseError
from .records import Categories, Example, TaskOutput
from .tasks import Task, TextCat

#: One training pair: the example (its answer fields are ignored) and the label to learn.
TrainPair = tuple[Example, TaskOutput]


class StudentPrediction:
    """What ``predict`` returns for one example: the output and a confidence in [0, 1]."""

    __slots__ = ("confidence", "output")

    def __init__(self, output: TaskOutput, confidence: float | None) -> None:
        self.output = output
        self.confidence = confidence

    def __repr__(self) -> str:
        return f"StudentPrediction({self.output!r}, confidence={self.confidence})"


class Student:
    """Base class of students.

    ``fit`` trains from scratch on ``train`` (``dev`` may be used for early stopping or tuning) and
    returns a JSON-able report. ``predict`` is batched and returns one StudentPrediction per example,
    in order (a list, or an array-backed :class:`~distil.CategoriesBatch`). ``save(dir)`` writes
    everything needed by ``load(dir)`` into ``dir``.

    A student that sets ``supports_weights`` also takes ``weights=`` in ``fit``: one positive
    float per training pair, in order, scaling that pair's loss (scikit-learn's
    ``sample_weight``). ``[train] teacher_weight`` needs it; a student without it never gets
    ``weights``.
    """

    #: Registered name family, e.g. "sklearn.textcat". Used in provenance.
    name: ClassVar[str] = "student"
    #: Task kinds this student can learn, e.g. {"textcat"}.
    task_kinds: ClassVar[frozenset[str]] = frozenset()
    #: Whether ``fit`` takes ``weights`` (see the class docstring).
    supports_weights: ClassVar[bool] = False

    def fit(
        self, task: Task, train: list[TrainPair], dev: list[TrainPair] | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def predict(self, examples: list[Example]) -> Sequence[StudentPrediction]:
        """A list, or a sequence that builds each prediction on access (``distil.CategoriesBatch``)."""
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path) -> Student:
        raise NotImplementedError

    def check_task(self, task: Task) -> None:
        if self.task_kinds and not self.task_kinds & task.kinds:
            raise ValueError(
                f"student {self.name} learns {sorted(self.task_kinds)} tasks, not '{task.kind}'"
            )


def check_weights(weights: list[float] | None, pairs: list[TrainPair], who: str) -> None:
    """Raise ``ValueError`` unless ``weights`` is None or one finite, positive float per pair."""
    if weights is None:
        return
    if len(weights) != len(pairs):
        raise ValueError(f"{who}: {len(weights)} weights for {len(pairs)} training pairs")
    for n, w in enumerate(weights):
        if not (isinstance(w, int | float) and math.isfinite(w) and w > 0):
            raise ValueError(f"{who}: weight {n} is {w!r}; weights must be finite and above 0")


def textcat_targets(
    task: TextCat, pairs: list[TrainPair], split: str = "train"
) -> tuple[list[str], list[list[int]]]:
    """Texts and task-label indices of text-classification training pairs.

    Every output is checked against the task first; one that does not fit raises ``ValueError``
    naming the split, the pair's position and the example id.
    """
    index = {label: j for j, label in enumerate(task.labels)}
    texts: list[str] = []
    targets: list[list[int]] = []
    for n, (example, output) in enumerate(pairs):
        try:
            checked = task.validate_output(output)
        except ParseError as exc:
            raise ValueError(f"{split} pair {n} (example {example.id!r}): {exc}") from exc
        assert isinstance(checked, Categories)
        texts.append(example.text)
        targets.append([index[label] for label in checked.labels])
    return texts, targets
