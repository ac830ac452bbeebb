"""Human answers per subtask, merged over the teacher's records for training.

The annotation app asks about one subtask of an ``extract`` task at a time (the intent, then the
slots), so an answer is about that subtask only: it is stored as an
:class:`~distil.records.Annotation` whose ``pass_name`` is ``"SUBTASK/PASS"`` (say
``"textcat:intent/fix"``) and whose output is that subtask's answer (a
:class:`~distil.records.Categories` or :class:`~distil.records.Spans`), never a whole record.
Undo events of the app are stored as ``"SUBTASK/distil.undo"``.

Training reads them back per subtask with the same rules as every other task
(:func:`distil.tasks.resolve.resolve_answers`, applied to each subtask's events alone), then
merges them into the teacher's record:

* a ``correct`` or ``accept`` replaces the fields of that subtask only (a corrected intent keeps
  the teacher's slots, corrected slots keep the teacher's intent);
* a ``reject`` or ``ignore`` without a correction marks that subtask's fields ``pending``: the
  record still teaches every other subtask, and the composite leaves it out of that one;
* fields with no human answer, and fields that stay with the teacher, keep the teacher's value.

An answer imported for a whole record (``distil import``, no pass) is the base instead of the
teacher's record; a ``reject``/``ignore`` of a whole record drops it, as for other tasks.

The merge lives in the tasks layer, beside the task that calls it
(:meth:`distil.tasks.extract.ExtractTask.merge_labels`); ``distil.extract.answers`` re-exports it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ParseError
from ..records import Annotation, Extraction, TaskOutput
from ..training_data import TrainingData
from .extract_plan import Plan, get_path, set_path
from .resolve import resolve_answers

if TYPE_CHECKING:
    from ..store.sqlite import Store
    from .base import Task

__all__ = ["merge_extract_labels", "merge_record", "resolve_subtask_answers", "subtask_of"]


def subtask_of(pass_name: str | None) -> tuple[str, str] | None:
    """``("textcat:intent", "fix")`` for ``"textcat:intent/fix"``; None for a whole-record pass."""
    if not pass_name or "/" not in pass_name:
        return None
    subtask, _, inner = pass_name.partition("/")
    return subtask, inner


def resolve_subtask_answers(
    events: Iterable[Annotation],
) -> tuple[dict[str, Annotation], dict[str, dict[str, Annotation]]]:
    """The whole-record answers (example → answer) and the per-subtask ones
    (example → subtask → answer), each resolved by the rules of
    :func:`~distil.tasks.resolve.resolve_answers` over its own events."""
    whole: list[Annotation] = []
    per: dict[str, list[Annotation]] = {}
    for a in events:
        found = subtask_of(a.pass_name)
        if found is None:
            whole.append(a)
        else:
            per.setdefault(found[0], []).append(a.model_copy(update={"pass_name": found[1]}))
    out: dict[str, dict[str, Annotation]] = {}
    for subtask, items in per.items():
        for example_id, ann in resolve_answers(items).items():
            out.setdefault(example_id, {})[subtask] = ann
    return resolve_answers(whole), out


def merge_record(
    plan: Plan, text: str, base: dict[str, Any], answers: dict[str, Annotation]
) -> Extraction:
    """``base`` (the teacher's record) with each subtask's human answer over that subtask's
    fields; rejected or ignored subtasks are listed in ``pending``."""
    data = copy.deepcopy(base)
    pending: list[str] = []
    for subtask, ann in answers.items():
        fields = plan.fields_of(subtask)
        if ann.answer in ("correct", "accept") and ann.output is not None:
            outputs: dict[str, TaskOutput | None] = {subtask: ann.output}
            assembled = plan.assemble(outputs, text)
            for f in fields:
                set_path(data, f.path, get_path(assembled, f.path))
        else:
            pending += [f.path for f in fields]
    return Extraction(data=data, pending=pending)


def merge_extract_labels(
    store: Store, task: Task, dataset: str, teacher_source: str | None
) -> TrainingData:
    """:func:`distil.train.merge_labels` for an ``extract`` task: human answers per subtask over
    the teacher's record (see the module docstring). ``from_answers`` counts subtask answers by
    kind; a merged record the schema rejects is dropped as ``human_invalid``."""
    plan: Plan = getattr(task, "plan")  # noqa: B009  (an ExtractTask)
    teacher = store.predictions(teacher_source, dataset=dataset) if teacher_source else {}
    whole, per = resolve_subtask_answers(store.annotations())
    data = TrainingData(pairs=[])
    dropped: dict[str, int] = {}

    def drop(reason: str) -> None:
        dropped[reason] = dropped.get(reason, 0) + 1

    for ex in store.examples(dataset):
        record = whole.get(ex.id)
        answers = per.get(ex.id, {})
        base: dict[str, Any] | None = None
        if record is not None and record.answer in ("reject", "ignore"):
            drop(f"human_{record.answer}")
            continue
        if record is not None and isinstance(record.output, Extraction):
            base = record.output.data
            data.from_answers[record.answer] = data.from_answers.get(record.answer, 0) + 1
        else:
            pred = teacher.get(ex.id)
            if pred is None:
                drop("unlabelled")
                continue
            if not pred.ok or not isinstance(pred.output, Extraction):
                drop("teacher_failed")
                continue
            base = pred.output.data
        if not answers:
            output: TaskOutput = Extraction(data=base)
        else:
            output = merge_record(plan, ex.text, base, answers)
            for ann in answers.values():
                data.from_answers[ann.answer] = data.from_answers.get(ann.answer, 0) + 1
        try:
            output = task.validate_output(output)
        except ParseError:
            drop("human_invalid")
            continue
        data.pairs.append((ex.without_answer(), output))
        if record is not None or answers:
            data.from_humans += 1
        else:
            data.from_teacher += 1
    data.dropped = dropped
    return data
