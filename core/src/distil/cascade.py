"""The runtime swap: a trained student answers first, the teacher only where the student is unsure.

:class:`Cascade` is a :class:`~distil.teach.teacher.Teacher`, so it goes wherever a teacher goes
(``distil label``, the teacher component of a spaCy pipeline, ``cascade.v1`` or
``extract.cascade.v1`` in a config). It is the one cascade of every task kind: labels, spans and
extraction records alike. **The task decides what is sent** (the task contract,
:mod:`distil.tasks.base`): for each student answer, :meth:`~distil.tasks.Task.cascade_request`
says keep it (None), ask the teacher for the whole answer (``"all"``), or ask for some fields
(an extraction's pending and unsure fields; :meth:`~distil.tasks.Task.cascade_task` is the task
the teacher gets for them and :meth:`~distil.tasks.Task.cascade_merge` puts the answers together).

What the caller may rely on:

* The student predicts every example (one batched call per ``batch_size``).
* **One threshold rule** for every task kind (:func:`~distil.tasks.base.below_threshold`): a
  confidence is too low when ``confidence < threshold``, a missing confidence counting as 0. So
  ``threshold=0`` (the default) sends nothing for doubt — not even an answer with no confidence —
  and leaves the teacher only what the task says the student did not answer (an extraction's
  pending fields); above 0 an answer without a confidence is sent; above 1 everything is.
* Examples asking for the same fields go to the teacher together, one call per group (a label
  task has one group: the whole answer).
* Every returned :class:`~distil.records.Prediction` carries the cascade's ``source``
  (``cascade:<student source>|<teacher source>#threshold=<t>``). Predictions the teacher made
  carry the teacher's ``usage`` (tokens and cost) and ``raw`` answer; the student's carry an
  empty usage with ``attempts=0``.
* When the teacher fails on an example it was sent (a parse failure, retries exhausted),
  ``stats.teacher_failures`` lists it and the task says what is returned: a label task keeps
  the student's answer (a runtime component must answer); an extraction returns the student's
  partial record *with* the error (a record with unfilled fields is not an answer).
* **Shadow mode** (``shadow=True``) runs both on every example (the teacher on the whole answer)
  and returns the student's answers, each with the teacher's usage (the teacher was paid for
  them). Where both answered and the answers differ (label sets for categories, ``(start, end,
  label)`` sets for spans, the record's values for an extraction), the disagreement goes into
  ``stats.disagreements``. With a ``store``, the teacher's predictions are stored under the
  teacher's own source and the student's under the student's source, so the annotation queue can
  put the disagreements in front of a person.
* After each run, :attr:`Cascade.stats` (a :class:`CascadeStats`) says how many examples went to
  the teacher and what they cost; for a task with :attr:`~distil.tasks.Task.cascade_fields` (an
  extraction) it also counts the fields asked.
* :meth:`Cascade.inner_teachers` is the teacher, so ``[label]`` limits, retries and budget reach
  the cascade's LLM (:func:`distil.config.configure_teacher`) for every task kind.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .records import Categories, Example, Extraction, Prediction, Spans, TaskOutput, Usage
from .student import Student, StudentPrediction
from .tasks import Task
from .tasks.base import CascadeRequest, below_threshold
from .teach.teacher import OnResults, Teacher

if TYPE_CHECKING:
    from .store.sqlite import Store

__all__ = ["Cascade", "CascadeStats", "answer_key", "below_threshold"]

#: The field counts of :class:`CascadeStats`, present only for a task that has fields.
_FIELD_KEYS = ("fields", "fields_sent", "sent_by_field")


@dataclass
class CascadeStats:
    """What one cascade run did: how much went to the teacher and what it cost.

    For a task whose answer has :attr:`~distil.tasks.Task.cascade_fields` (an extraction),
    ``fields`` is documents × fields, ``fields_sent`` how many of them were asked of the teacher
    and ``sent_by_field`` how many per field; for other tasks ``fields`` is None and the three
    are left out of :meth:`to_dict` and :meth:`summary`.
    """

    n: int = 0
    sent_to_teacher: int = 0
    teacher_cost: float = 0.0
    teacher_input_tokens: int = 0
    teacher_output_tokens: int = 0
    shadow: bool = False
    sent_ids: list[str] = field(default_factory=list)
    teacher_failures: list[str] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    fields: int | None = None
    fields_sent: int = 0
    sent_by_field: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        """The share of examples the teacher answered (0 for an empty run)."""
        return self.sent_to_teacher / self.n if self.n else 0.0

    @property
    def field_share(self) -> float:
        """The share of fields asked of the teacher (0 without fields)."""
        return self.fields_sent / self.fields if self.fields else 0.0

    @property
    def teacher_tokens(self) -> int:
        return self.teacher_input_tokens + self.teacher_output_tokens

    def to_dict(self) -> dict[str, Any]:
        data = {**asdict(self), "share": self.share, "teacher_tokens": self.teacher_tokens}
        if self.fields is None:
            return {k: v for k, v in data.items() if k not in _FIELD_KEYS}
        return {**data, "field_share": self.field_share}

    def summary(self) -> str:
        """One plain sentence for logs and reports."""
        what = "shadowed" if self.shadow else "sent to the teacher"
        text = (
            f"{self.sent_to_teacher} of {self.n} examples ({self.share:.1%}) {what}; "
            f"teacher cost ${self.teacher_cost:.4f}, {self.teacher_tokens:,} tokens"
        )
        if self.shadow:
            text += f"; {len(self.disagreements)} disagreement(s)"
        if self.fields is not None:
            text += (
                f"; {self.fields_sent} of {self.fields} fields ({self.field_share:.1%}) asked of "
                "the teacher"
            )
        return text + "."


def answer_key(output: TaskOutput | None) -> tuple[Any, ...] | None:
    """What two answers must share to agree: the label set, the ``(start, end, label)`` set, or
    an extraction's ``(field, value)`` pairs (the provenance marks do not count)."""
    if output is None:
        return None
    if isinstance(output, Categories):
        return tuple(sorted(set(output.labels)))
    if isinstance(output, Spans):
        return tuple(sorted({(s.start, s.end, s.label) for s in output.spans}))
    if isinstance(output, Extraction):
        return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in output.data.items()))
    raise TypeError(f"cannot compare outputs of kind {type(output).__name__}")


def _plain(output: TaskOutput | None) -> Any:
    if isinstance(output, Extraction):
        return output.data
    key = answer_key(output)
    return None if key is None else [list(x) if isinstance(x, tuple) else x for x in key]


class Cascade(Teacher):
    """Student first; the teacher for what the task asks below ``threshold`` (module docstring).

    ``student`` must be trained (``fit`` or ``load``); ``student_source`` names it in provenance
    (default ``student:<student.name>``). ``store`` receives both sides' predictions in shadow mode
    (module docstring) and becomes the cache of an LLM teacher that has none.
    """

    kind = "cascade"

    def __init__(
        self,
        student: Student,
        teacher: Teacher,
        threshold: float = 0.0,
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

    def request(self, task: Task, prediction: StudentPrediction) -> CascadeRequest:
        """What this cascade asks the teacher for ``prediction``: ``"all"`` in shadow mode,
        else the task's :meth:`~distil.tasks.Task.cascade_request` at :attr:`threshold`."""
        if self.shadow:
            return "all"
        asked = task.cascade_request(prediction, self.threshold)
        return None if asked is None or asked == [] else asked

    async def alabel(
        self,
        task: Task,
        examples: Sequence[Example],
        on_results: OnResults | None = None,
    ) -> list[Prediction]:
        """Label ``examples``; :attr:`stats` describes the run (also when the teacher raised)."""
        self.student.check_task(task)
        source = self.source(task)
        every = task.cascade_fields
        stats = CascadeStats(
            n=len(examples),
            shadow=self.shadow,
            fields=None if every is None else len(examples) * len(every),
        )
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

        # Group the examples by what is asked: None is the whole answer.
        groups: dict[tuple[str, ...] | None, list[Example]] = {}
        kept: list[str] = []
        for ex in examples:
            asked = self.request(task, by_id[ex.id])
            if asked is None:
                kept.append(ex.id)
            else:
                groups.setdefault(None if asked == "all" else tuple(asked), []).append(ex)
        await deliver([from_student(i) for i in kept])
        to_teacher = {ex.id for group in groups.values() for ex in group}
        stats.sent_ids = [ex.id for ex in examples if ex.id in to_teacher]
        stats.sent_to_teacher = len(stats.sent_ids)
        if every is not None:
            for key, group in groups.items():
                for path in every if key is None else key:
                    stats.fields_sent += len(group)
                    stats.sent_by_field[path] = stats.sent_by_field.get(path, 0) + len(group)

        def on_teacher_for(fields: list[str] | None) -> Any:
            async def on_teacher(preds: list[Prediction]) -> None:
                mine = []
                for tp in preds:
                    stats.teacher_cost += tp.usage.cost
                    stats.teacher_input_tokens += tp.usage.input_tokens
                    stats.teacher_output_tokens += tp.usage.output_tokens
                    if not tp.ok:
                        stats.teacher_failures.append(tp.example_id)
                    sp = by_id[tp.example_id]
                    if self.shadow:
                        self._compare(tp, sp, stats)
                        mine.append(from_student(tp.example_id, tp.usage))
                    else:
                        merged = task.cascade_merge(sp, tp, fields)
                        mine.append(merged.model_copy(update={"source": source}))
                if self.shadow and self.store is not None:
                    # Both sides under their own sources, so the disagreements can be reviewed.
                    own = [
                        from_student(tp.example_id).model_copy(
                            update={"source": self.student_source}
                        )
                        for tp in preds
                    ]
                    self.store.add_predictions([*preds, *own])
                await deliver(mine)

            return on_teacher

        for key, group in groups.items():
            fields = None if key is None else list(key)
            asked_task = task if fields is None else task.cascade_task(fields)
            on_teacher = on_teacher_for(fields)
            answered = await self.teacher.alabel(asked_task, group, on_results=on_teacher)
            # A teacher that does not stream through on_results still returns its answers.
            late = [tp for tp in answered if tp.example_id not in out]
            if late:
                await on_teacher(late)
        return [out[ex.id] for ex in examples]

    @staticmethod
    def _compare(tp: Prediction, sp: StudentPrediction, stats: CascadeStats) -> None:
        if not tp.ok or answer_key(tp.output) == answer_key(sp.output):
            return
        found: dict[str, Any] = {
            "example_id": tp.example_id,
            "student": _plain(sp.output),
            "teacher": _plain(tp.output),
            "student_confidence": sp.confidence,
            "teacher_confidence": tp.confidence,
        }
        if isinstance(tp.output, Extraction) and isinstance(sp.output, Extraction):
            mine, theirs = sp.output.data, tp.output.data
            found["fields"] = sorted(k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k))
        stats.disagreements.append(found)
