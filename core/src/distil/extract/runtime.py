"""The runtime of an extraction: the composite student first, the teacher for what it cannot fill.

:class:`ExtractCascade` is a :class:`~distil.teach.teacher.Teacher` (``extract.cascade.v1``), so it
goes wherever a teacher goes. Per example:

* the composite student predicts every field it has a subtask for;
* an example with *pending* fields — fields that stay with the teacher, or student fields the
  schema rejected — or whose student confidence is below ``threshold`` is sent to the teacher,
  which fills the whole record through structured output;
* the pending fields are taken from the teacher's record (below ``threshold``: the whole record),
  the rest stay the student's; ``Extraction.teacher`` names the fields the teacher filled, and
  the merged record is validated by the schema, so the caller gets the same type either way;
* where the teacher fails (its record did not validate, retries ran out), the prediction carries
  the student's partial record *and* an ``error``: it counts as a failure, it is not repaired.

:func:`to_instances` turns predictions into the user's pydantic objects (None for a failure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..cascade import CascadeStats
from ..errors import ParseError
from ..records import Example, Extraction, Prediction, Usage
from ..student import Student, StudentPrediction
from ..tasks import Task
from ..teach.teacher import OnResults, Teacher
from .plan import get_path, set_path

if TYPE_CHECKING:
    from pydantic import BaseModel


class ExtractCascade(Teacher):
    """A trained composite student, and a teacher for the fields it leaves pending."""

    kind = "extract-cascade"

    def __init__(
        self,
        student: Student,
        teacher: Teacher,
        threshold: float = 0.0,
        *,
        student_source: str | None = None,
    ) -> None:
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, got {threshold}")
        self.student = student
        self.teacher = teacher
        self.threshold = float(threshold)
        self.student_source = student_source or f"student:{student.name}"
        self.stats = CascadeStats()

    def source(self, task: Task) -> str:
        both = f"{self.student_source}|{self.teacher.source(task)}"
        return f"extract-cascade:{both}#threshold={self.threshold:g}"

    def _unsure(self, sp: StudentPrediction) -> bool:
        return self.threshold > 0 and (sp.confidence is None or sp.confidence < self.threshold)

    async def alabel(
        self,
        task: Task,
        examples: Sequence[Example],
        on_results: OnResults | None = None,
    ) -> list[Prediction]:
        self.student.check_task(task)
        source = self.source(task)
        stats = CascadeStats(n=len(examples))
        self.stats = stats
        inputs = [ex.without_answer() for ex in examples]
        student_preds = await asyncio.to_thread(self.student.predict, inputs)
        by_id = dict(zip([ex.id for ex in examples], student_preds, strict=True))
        out: dict[str, Prediction] = {}

        def needs_teacher(sp: StudentPrediction) -> bool:
            pending = sp.output.pending if isinstance(sp.output, Extraction) else []
            return bool(pending) or self._unsure(sp)

        for ex in examples:
            sp = by_id[ex.id]
            if not needs_teacher(sp):
                out[ex.id] = Prediction(
                    example_id=ex.id,
                    source=source,
                    output=sp.output,
                    confidence=sp.confidence,
                    usage=Usage(attempts=0),
                )
        to_teacher = [ex for ex in examples if ex.id not in out]
        stats.sent_to_teacher = len(to_teacher)
        stats.sent_ids = [ex.id for ex in to_teacher]
        if to_teacher:
            answered = await self.teacher.alabel(task, to_teacher)
            for tp in answered:
                stats.teacher_cost += tp.usage.cost
                stats.teacher_input_tokens += tp.usage.input_tokens
                stats.teacher_output_tokens += tp.usage.output_tokens
                if not tp.ok:
                    stats.teacher_failures.append(tp.example_id)
                out[tp.example_id] = self._merge(task, tp, by_id[tp.example_id], source)
        result = [out[ex.id] for ex in examples]
        if on_results is not None and result:
            maybe = on_results(result)
            if asyncio.iscoroutine(maybe):
                await maybe
        return result

    def _merge(self, task: Task, tp: Prediction, sp: StudentPrediction, source: str) -> Prediction:
        mine = sp.output
        assert isinstance(mine, Extraction)
        if not tp.ok or not isinstance(tp.output, Extraction):
            return Prediction(
                example_id=tp.example_id,
                source=source,
                output=mine,
                confidence=sp.confidence,
                usage=tp.usage,
                error=f"the teacher could not fill {mine.pending or 'the record'}: {tp.error}",
                raw=tp.raw,
            )
        plan = getattr(task, "plan")  # noqa: B009  (an ExtractTask)
        fields = (
            [f.path for f in plan.fields] if self._unsure(sp) and not mine.pending else mine.pending
        )
        data: dict[str, Any] = _copy(mine.data)
        for path in fields:
            set_path(data, path, get_path(tp.output.data, path))
        try:
            data = task.validate_data(data)  # type: ignore[attr-defined]
        except ParseError as exc:
            return Prediction(
                example_id=tp.example_id,
                source=source,
                output=mine,
                confidence=sp.confidence,
                usage=tp.usage,
                error=f"the merged record is invalid: {exc}",
                raw=tp.raw,
            )
        return Prediction(
            example_id=tp.example_id,
            source=source,
            output=Extraction(data=data, teacher=fields),
            confidence=tp.confidence if tp.confidence is not None else sp.confidence,
            usage=tp.usage,
            raw=tp.raw,
        )


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(data)


def to_instances(task: Task, predictions: Sequence[Prediction]) -> list[BaseModel | None]:
    """The user's pydantic objects of ``predictions`` (None where one failed or is pending)."""
    out: list[BaseModel | None] = []
    for p in predictions:
        ok = p.ok and isinstance(p.output, Extraction) and not p.output.pending
        out.append(task.instance(p.output) if ok else None)  # type: ignore[attr-defined]
    return out


def make_extract_cascade(
    student: Student, student_path: str, teacher: Any, threshold: float = 0.0
) -> ExtractCascade:
    """``extract.cascade.v1``: the trained composite at ``student_path`` (saved by ``distil
    train``), and the teacher (a teacher or provider block) for the fields it leaves pending."""
    from pathlib import Path

    from ..errors import ConfigError
    from ..teach.provider import Provider
    from ..teach.teacher import PromptTeacher

    if isinstance(teacher, Provider):
        teacher = PromptTeacher(teacher)
    if not isinstance(teacher, Teacher):
        raise ConfigError(
            f"teacher.teacher must be a registered teacher or provider, got {teacher!r}"
        )
    if not Path(student_path).is_dir():
        raise ConfigError(
            f"teacher.student_path: {student_path} is not a folder; run distil train first"
        )
    return ExtractCascade(type(student).load(student_path), teacher, threshold)
