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
``extract`` task keep their own per-label passes only (no ``check:none``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..records import Categories, Extraction, Prediction, Spans, TaskOutput
from ..tasks import SpanTask, Task, TextCat
from .resolve import REVIEW_PASS

__all__ = [
    "CARD_PASS",
    "FIX_PASS",
    "MULTILABEL_PLANS",
    "NO_SPAN_PASS",
    "Mode",
    "MultilabelPlan",
    "Pass",
    "card_answer",
    "extract_passes",
    "plan_passes",
]

Mode = Literal["binary", "choice", "multi", "spans", "review"]
#: How a multi-label task is planned: one card per text, or one binary pass per label.
MultilabelPlan = Literal["card", "per_label"]
MULTILABEL_PLANS: tuple[str, ...] = ("card", "per_label")
FIX_PASS = "fix"
#: The multi-label card pass (mode ``multi``): one card per text. Its answers: ``accept`` (the
#: teacher's label set as it is; no output needed), ``correct`` with ``{"labels": [...]}`` (the
#: final label set, which may be empty; a set equal to the teacher's is stored as ``accept``),
#: ``reject`` (the teacher is wrong and the annotator gives no set: training drops the text) or
#: ``ignore``.
CARD_PASS = "labels"
#: The span tasks' check pass over the examples where the teacher found no span.
NO_SPAN_PASS = "check:none"


@dataclass(frozen=True)
class Pass:
    """One focused pass. ``label`` is set for the per-label binary passes; ``empty`` marks the
    binary pass over the examples where the teacher found no span."""

    name: str
    mode: Mode
    title: str
    label: str | None = None
    empty: bool = False

    @property
    def is_check(self) -> bool:
        return self.mode == "binary"

    @property
    def over_teacher(self) -> bool:
        """Whether the pass holds the examples the teacher answered (:meth:`holds`): the check
        passes and the multi-label card, unlike fix and review, which follow the answers."""
        return self.is_check or self.name == CARD_PASS

    def holds(self, pred: Prediction | None) -> bool:
        """Whether a check pass asks about the example the teacher answered with ``pred``."""
        if pred is None or not pred.ok:
            return False
        if isinstance(pred.output, Spans) and self.empty:
            return not pred.output.spans
        if isinstance(pred.output, Spans) and self.label is not None:
            return any(s.label == self.label for s in pred.output.spans)
        return True


def correction_mode(task: Task) -> Mode:
    if isinstance(task, SpanTask):
        return "spans"
    if isinstance(task, TextCat) and task.multilabel:
        return "multi"
    return "choice"


def plan_passes(
    task: Task, no_span_pass: bool = True, multilabel: MultilabelPlan = "per_label"
) -> list[Pass]:
    """The passes of ``task``, in the order an annotator should take them.

    ``no_span_pass`` adds :data:`NO_SPAN_PASS` to a span task's plan, and ``multilabel`` picks
    a multi-label task's plan (see the module docstring). The per-label plan stays this function's
    default so that library callers built on binary checks (``distil simulate``, the queue
    conformance suite) keep working; the app follows ``[annotate] multilabel`` (default ``card``).
    """
    if multilabel not in MULTILABEL_PLANS:
        raise ValueError(f"unknown multilabel plan {multilabel!r}; use card or per_label")
    subtasks = getattr(getattr(task, "plan", None), "subtasks", None)
    if task.kind == "extract" and subtasks is not None:
        return extract_passes(subtasks)
    if isinstance(task, TextCat) and not task.multilabel:
        passes = [Pass("check", "binary", "Is the teacher's label right?")]
        fix_title = "Choose the right label"
    elif isinstance(task, TextCat) and multilabel == "card":
        title = "Which labels apply? Keep or drop the teacher's, add the missing ones"
        return [
            Pass(CARD_PASS, "multi", title),
            Pass(REVIEW_PASS, "review", "Resolve disagreements between annotators"),
        ]
    elif isinstance(task, TextCat):
        passes = [
            Pass(f"check:{label}", "binary", f"Is the teacher right about {label}?", label)
            for label in task.labels
        ]
        fix_title = "Choose every label that applies"
    else:
        passes = [
            Pass(f"check:{label}", "binary", f"Are the teacher's {label} spans right?", label)
            for label in task.labels
        ]
        if no_span_pass:
            title = "The teacher found no entity: is there really none?"
            # A task with a label called "none" has its own check:none: this one steps aside.
            name = NO_SPAN_PASS if "none" not in task.labels else "check:no-span"
            passes.append(Pass(name, "binary", title, empty=True))
        fix_title = "Correct the spans"
    passes.append(Pass(FIX_PASS, correction_mode(task), fix_title))
    passes.append(Pass(REVIEW_PASS, "review", "Resolve disagreements between annotators"))
    return passes


def extract_passes(subtasks: dict[str, Task]) -> list[Pass]:
    """An ``extract`` task's passes: each subtask's own focused passes, named ``SUBTASK/PASS``.

    One field (or, for the span subtask, one span label) per check pass, then each subtask's fix
    pass, then each subtask's review pass (``SUBTASK/review``): an annotator checks the intent,
    then the slots, never the whole record at once, and every answer is about one subtask
    (:mod:`distil.extract.answers`; the app serves them through
    :class:`distil.annotate.subtasks.ExtractWorkspace`).
    """
    passes: list[Pass] = []
    reviews: list[Pass] = []
    for name, sub in subtasks.items():
        field = name.removeprefix("textcat:")
        for p in plan_passes(sub, no_span_pass=False):
            title = f"{field}: {p.title}" if name.startswith("textcat:") else p.title
            named = Pass(f"{name}/{p.name}", p.mode, title, p.label)
            (reviews if p.name == REVIEW_PASS else passes).append(named)
    return passes + reviews


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
    spans = [s for s in output.spans if p.label is None or s.label == p.label]
    return f"{len(spans)} {p.label or 'span'} span(s)"
