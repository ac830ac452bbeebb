"""The runtime swap: a trained student answers first, the teacher only where the student is unsure.

:class:`Cascade` is a :class:`~distil.teach.teacher.Teacher`, so it goes wherever a teacher goes
(``distil label``, the teacher component of a spaCy pipeline, ``cascade.v1`` in a config).

What the caller may rely on:

* The student predicts every example (one batched call per ``batch_size``). An example whose
  student confidence is below ``threshold`` — or has no confidence at all — is sent to the
  teacher; the others keep the student's answer. ``threshold=0`` sends nothing, anything above
  1 sends everything.
* Every returned :class:`~distil.records.Prediction` carries the cascade's ``source``
  (``cascade:<student source>|<teacher source>#threshold=<t>``). Predictions the teacher made
  carry the teacher's ``usage`` (tokens and cost) and ``raw`` answer; the student's carry an
  empty usage with ``attempts=0``.
* When the teacher fails on an example it was sent (a parse failure, retries exhausted), the
  student's answer is kept — a runtime component must answer — and ``stats.teacher_failures``
  lists the example.
* **Shadow mode** (``shadow=True``) runs both on every example and returns the student's answers,
  each with the teacher's usage (the teacher was paid for them). Where both answered and the
  answers differ (label sets for categories, ``(start, end, label)`` sets for spans), the
  disagreement goes into ``stats.disagreements``. With a ``store``, the teacher's predictions
  are stored under the teacher's own source and the student's under the student's source, so the
  annotation queue can put the disagreements in front of a person.
* After each run, :attr:`Cascade.stats` (a :class:`CascadeStats`) says how many examples went to
  the teacher and what they cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .records import Categories, Example, Prediction, Spans, TaskOutput, Usage
from .student import Student, StudentPrediction
from .tasks import Task
from .teach.teacher import OnResults, Teacher

if TYPE_CHECKING:
    from .store.sqlite import Store


@dataclass
class CascadeStats:
    """What one cascade run did: how much went to the teacher and what it cost."""

    n: int = 0
    sent_to_teacher: int = 0
    teacher_cost: float = 0.0
    teacher_input_tokens: int = 0
    teacher_output_tokens: int = 0
    shadow: bool = False
    sent_ids: list[str] = field(default_factory=list)
    teacher_failures: list[str] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def share(self) -> float:
        """The share of examples the teacher answered (0 for an empty run)."""
        return self.sent_to_teacher / self.n if self.n else 0.0

    @property
    def teacher_tokens(self) -> int:
        return self.teacher_input_tokens + self.teacher_output_tokens

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "share": self.share, "teacher_tokens": self.teacher_tokens}

    def summary(self) -> str:
        """One plain sentence for logs and reports."""
        what = "shadowed" if self.shadow else "sent to the teacher"
        text = (
            f"{self.sent_to_teacher} of {self.n} examples ({self.share:.1%}) {what}; "
            f"teacher cost ${self.teacher_cost:.4f}, {self.teacher_tokens:,} tokens"
        )
        if self.shadow:
            text += f"; {len(self.disagreements)} disagreement(s)"
        return text + "."


def answer_key(output: TaskOutput | None) -> tuple[Any, ...] | None:
    """What two answers must share to agree: the label set, or the ``(start, end, label)`` set."""
    if output is None:
        return None
    if isinstance(output, Categories):
        return tuple(sorted(set(output.labels)))
    if isinstance(output, Spans):
        return tuple(sorted({(s.start, s.end, s.label) for s in output.spans}))
    raise TypeError(f"cannot compare outputs of kind {type(output).__name__}")


def _plain(output: TaskOutput | None) -> Any:
    key = answer_key(output)
    return None if key is None else [list(x) if isinstance(x, tuple) else x for x in key]


class Cascade(Teacher):
    """Student first, teacher below ``threshold`` student confidence (or on everything, shadowed).

    ``student`` must be trained (``fit`` or ``load``); ``student_source`` names it in provenance
    (default ``student:<student.name>``). ``store`` receives both sides' predictions in shadow mode
    (module docstring) and becomes the cache of an LLM teacher that has none.
    """

    kind = "cascade"

    def __init__(
        self,
        student: Student,
        teacher: Teacher,
        threshold: float,
        shadow: bool = False,
        store: Store | None = None,
        *,
        student_source: str | None = None,
        batch_size: int = 1024,
    ) -> None:
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.student = student
        self.teacher = teacher
        self.threshold = float(threshold)
        self.shadow = shadow
        self.store = store
        if store is not None and getattr(teacher, "cache", False) is None:
            teacher.cache = store  # type: ignore[attr-defined]  # an LLM teacher caches there
        self.student_source = student_source or f"student:{student.name}"
        self.batch_size = batch_size
        self.stats = CascadeStats(shadow=shadow)

    def inner_teachers(self) -> list[Teacher]:
        return [self.teacher]

    def source(self, task: Task) -> str:
        both = f"{self.student_source}|{self.teacher.source(task)}"
        return f"cascade:{both}#threshold={self.threshold:g}"

    def _predict(self, examples: Sequence[Example]) -> list[StudentPrediction]:
        inputs = [ex.without_answer() for ex in examples]
        out: list[StudentPrediction] = []
        for i in range(0, len(inputs), self.batch_size):
            out.extend(self.student.predict(inputs[i : i + self.batch_size]))
        if len(out) != len(inputs):
            raise RuntimeError(
                f"student {self.student.name} returned {len(out)} predictions for "
                f"{len(inputs)} examples"
            )
        return out

    def _confident(self, pred: StudentPrediction) -> bool:
        return pred.confidence is not None and pred.confidence >= self.threshold

    async def alabel(
        self,
        task: Task,
        examples: Sequence[Example],
        on_results: OnResults | None = None,
    ) -> list[Prediction]:
        """Label ``examples``; :attr:`stats` describes the run (also when the teacher raised)."""
        self.student.check_task(task)
        source = self.source(task)
        stats = CascadeStats(n=len(examples), shadow=self.shadow)
        self.stats = stats
        student_preds = await asyncio.to_thread(self._predict, examples)
        by_id = {ex.id: sp for ex, sp in zip(examples, student_preds, strict=True)}
        out: dict[str, Prediction] = {}

        async def deliver(preds: list[Prediction]) -> None:
            for p in preds:
                out[p.example_id] = p
            if on_results is not None and preds:
                maybe = on_results(preds)
                if asyncio.iscoroutine(maybe):
                    await maybe

        def from_student(example_id: str, usage: Usage | None = None) -> Prediction:
            sp = by_id[example_id]
            return Prediction(
                example_id=example_id,
                source=source,
                output=sp.output,
                confidence=sp.confidence,
                usage=usage or Usage(attempts=0),
            )

        def count(tp: Prediction) -> None:
            stats.teacher_cost += tp.usage.cost
            stats.teacher_input_tokens += tp.usage.input_tokens
            stats.teacher_output_tokens += tp.usage.output_tokens
            if not tp.ok:
                stats.teacher_failures.append(tp.example_id)

        if self.shadow:
            to_teacher = list(examples)
        else:
            to_teacher = [
                ex
                for ex, sp in zip(examples, student_preds, strict=True)
                if not self._confident(sp)
            ]
            kept = [ex.id for ex in examples if self._confident(by_id[ex.id])]
            await deliver([from_student(i) for i in kept])
        stats.sent_to_teacher = len(to_teacher)
        stats.sent_ids = [ex.id for ex in to_teacher]

        async def on_teacher(preds: list[Prediction]) -> None:
            mine = []
            for tp in preds:
                count(tp)
                if self.shadow:
                    self._compare(tp, by_id[tp.example_id], stats)
                    mine.append(from_student(tp.example_id, tp.usage))
                elif tp.ok:
                    mine.append(tp.model_copy(update={"source": source}))
                else:
                    mine.append(from_student(tp.example_id, tp.usage))
            if self.shadow and self.store is not None:
                # Both sides under their own sources, so the disagreements can be reviewed.
                own = [
                    from_student(tp.example_id).model_copy(update={"source": self.student_source})
                    for tp in preds
                ]
                self.store.add_predictions([*preds, *own])
            await deliver(mine)

        if to_teacher:
            answered = await self.teacher.alabel(task, to_teacher, on_results=on_teacher)
            # A teacher that does not stream through on_results still returns its answers.
            late = [tp for tp in answered if tp.example_id not in out]
            if late:
                await on_teacher(late)
        return [out[ex.id] for ex in examples]

    @staticmethod
    def _compare(tp: Prediction, sp: StudentPrediction, stats: CascadeStats) -> None:
        if not tp.ok or answer_key(tp.output) == answer_key(sp.output):
            return
        stats.disagreements.append(
            {
                "example_id": tp.example_id,
                "student": _plain(sp.output),
                "teacher": _plain(tp.output),
                "student_confidence": sp.confidence,
                "teacher_confidence": tp.confidence,
            }
        )
