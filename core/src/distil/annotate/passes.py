"""The pass planner: which focused passes a task gets, and which examples each pass holds.

One pass asks one question, so the annotator keeps one thing in mind (the seed: "multiple passes
through the data, focusing on only one aspect each time"). The plan follows from the task alone:

* exclusive ``textcat``: ``check`` (binary: is the teacher's label right?) over every example the
  teacher answered, then ``fix`` (single choice) over the examples the annotator rejected;
* multi-label ``textcat``, as one card per text (``multilabel="card"``, what ``[annotate]
  multilabel`` defaults to): ``labels`` (mode ``multi``) over every answered example: the card shows
  the teacher's labels, the annotator keeps or drops each and adds missing ones, and the answer is
  the final label set (see :data:`CARD_PASS`). No fix pass follows: the card is the fix. 28 labels
  over 1,000 texts plan 1,000 cards, not 28,000;
* multi-label ``textcat`` per label (``multilabel="per_label"``, for focused work on a few labels):
  ``check:LABEL`` (binary: is the teacher right that LABEL applies, or does not?) per label over
  every answered example, then ``fix`` (multiple choice) over the examples with a rejection in any
  check pass;
* ``ner`` / ``spans``: ``check:LABEL`` (binary: are the teacher's LABEL spans right?) per label
  over the examples where the teacher found a LABEL span, then ``check:none`` (binary: is there
  really no entity?) over the examples where the teacher found no span at all — the teacher's
  missed entities, which no per-label pass can reach — then ``fix`` (span correction) over the
  examples with a rejection in any check pass (a rejected ``check:none`` card means "there is an
  entity here": the annotator marks it in ``fix``);
* every task: ``review`` (pick one of the annotators' answers) over the examples where annotators
  disagree.

Membership of ``fix`` is per annotator: it holds what *that* annotator rejected. The subtasks of an
``extract`` task keep their own passes (:func:`subtask_passes`): the span subtask's
``check:LABEL`` per field and ``check:none`` (the records whose slots the teacher left empty),
and after them ``check:not-in-text`` (:data:`NOT_IN_TEXT_PASS`): the records whose span values
the planner could place in the text only in part, shown with the part it placed and the values
it could not (a rejection goes to ``fix``, where the annotator marks the right spans; an accept
keeps the placed part and drops the values not in the text). A task kind without a plan of its
own (a plugin's) gets ``check`` → ``fix`` → ``review``
(:meth:`distil.tasks.Task.annotation_passes`).
"""

from __future__ import annotations

from ..records import Categories, Extraction, Spans, TaskOutput
from ..tasks import Task
from ..tasks.passes import (
    CARD_PASS,
    FIX_PASS,
    MULTILABEL_PLANS,
    NO_SPAN_PASS,
    NOT_IN_TEXT_PASS,
    Mode,
    MultilabelPlan,
    Pass,
    extract_passes,
    subtask_passes,
)

__all__ = [
    "CARD_PASS",
    "FIX_PASS",
    "MULTILABEL_PLANS",
    "NOT_IN_TEXT_PASS",
    "NO_SPAN_PASS",
    "Mode",
    "MultilabelPlan",
    "Pass",
    "card_answer",
    "extract_passes",
    "plan_passes",
    "subtask_passes",
]


def correction_mode(task: Task) -> Mode:
    """The mode of ``task``'s fix pass (:attr:`distil.tasks.Task.correction_mode`)."""
    return task.correction_mode


def plan_passes(
    task: Task, no_span_pass: bool = True, multilabel: MultilabelPlan = "per_label"
) -> list[Pass]:
    """The passes of ``task``, in the order an annotator should take them.

    The task plans them (:meth:`distil.tasks.Task.annotation_passes`, so a plugin's task kind
    brings its own). ``no_span_pass`` adds :data:`NO_SPAN_PASS` to a span task's plan, and
    ``multilabel`` picks a multi-label task's plan (see the module docstring). The per-label plan
    stays this function's default so that library callers built on binary checks (``distil
    simulate``, the queue conformance suite) keep working; the app follows ``[annotate]
    multilabel`` (default ``card``).
    """
    if multilabel not in MULTILABEL_PLANS:
        raise ValueError(f"unknown multilabel plan {multilabel!r}; use card or per_label")
    return task.annotation_passes(no_span_pass=no_span_pass, multilabel=multilabel)


def card_answer(
    answer: str, parsed: TaskOutput | None, suggestion: TaskOutput | None
) -> tuple[str, TaskOutput | None]:
    """The answer a :data:`CARD_PASS` card stores, from what the annotator sent.

    ``accept`` without an output takes the teacher's set; a final set equal to the teacher's is
    an ``accept`` of it (with the teacher's scores), so agreement and the report count it as one.
    """
    if answer == "accept" and parsed is None:
        if not isinstance(suggestion, Categories):
            raise ValueError("the teacher gave no label set to accept: answer correct with labels")
        return "accept", suggestion
    if (
        isinstance(parsed, Categories)
        and isinstance(suggestion, Categories)
        and set(parsed.labels) == set(suggestion.labels)
    ):
        return "accept", suggestion
    return "correct", parsed


def claim(p: Pass, output: Categories | Spans | Extraction | None) -> str:
    """The statement a binary card asks the annotator to accept or reject."""
    if output is None or isinstance(output, Extraction):
        return ""  # a whole record is never one claim: its subtasks' passes ask about each part
    if isinstance(output, Categories):
        if p.label is None:
            return ", ".join(output.labels)
        return p.label if p.label in output.labels else f"not {p.label}"
    if p.empty:
        return "no entity"
    if p.partial:  # the app lists the values not in the text beside it
        return f"{len(output.spans)} span(s) in the text"
    spans = [s for s in output.spans if p.label is None or s.label == p.label]
    return f"{len(spans)} {p.label or 'span'} span(s)"
