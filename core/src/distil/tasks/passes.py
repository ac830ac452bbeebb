"""Annotation passes as the task kinds build them: what one focused pass is, and the plans the
built-in kinds share.

A task plans its own passes (:meth:`distil.tasks.Task.annotation_passes`), so a task kind from a
plugin gets focused passes without a change to the annotate stage; the stage
(:mod:`distil.annotate.passes`) re-exports everything here and documents the plans. The helpers
below (:func:`check_fix_review`, :func:`per_label_checks`) are what the built-in kinds assemble
their plans from, and what a plugin's task may reuse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..records import Prediction, Spans
from .resolve import REVIEW_PASS

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
#: An extract task's check pass over the records whose span values the planner could place in
#: the text only in part (a value not in the text, or overlapping another): the teacher's
#: partial answers (:attr:`distil.records.Prediction.partial`). The hyphens keep it apart from
#: every ``check:FIELD`` pass (a field name is an identifier).
NOT_IN_TEXT_PASS = "check:not-in-text"


@dataclass(frozen=True)
class Pass:
    """One focused pass. ``label`` is set for the per-label binary passes; ``empty`` marks the
    binary pass over the examples where the teacher found no span; ``partial`` the binary pass
    over the teacher's answers read only in part (:data:`NOT_IN_TEXT_PASS`), which no other pass
    holds."""

    name: str
    mode: Mode
    title: str
    label: str | None = None
    empty: bool = False
    partial: bool = False

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
        if pred is None or pred.output is None:
            return False
        if self.partial or pred.partial:
            return self.partial and pred.partial
        if isinstance(pred.output, Spans) and self.empty:
            return not pred.output.spans
        if isinstance(pred.output, Spans) and self.label is not None:
            return any(s.label == self.label for s in pred.output.spans)
        return True


def review_pass() -> Pass:
    """The pass every plan ends with: resolve disagreements between annotators."""
    return Pass(REVIEW_PASS, "review", "Resolve disagreements between annotators")


def check_fix_review(checks: Sequence[Pass], fix_mode: Mode, fix_title: str) -> list[Pass]:
    """A plan of check passes, then ``fix`` (mode ``fix_mode``) over the rejected examples, then
    ``review``: the shape of every built-in plan but the multi-label card."""
    return [*checks, Pass(FIX_PASS, fix_mode, fix_title), review_pass()]


def per_label_checks(labels: Sequence[str], title: str) -> list[Pass]:
    """One binary ``check:LABEL`` pass per label; ``title`` is formatted with ``{label}``."""
    return [Pass(f"check:{label}", "binary", title.format(label=label), label) for label in labels]


def subtask_passes(sub: Any) -> list[Pass]:
    """The passes of one subtask of an ``extract`` task, under their names inside it.

    The subtask's own plan (a span subtask's ``check:LABEL`` per field and ``check:none``, over
    the records whose slots the teacher left empty), and for a span subtask
    :data:`NOT_IN_TEXT_PASS` after its checks: the records the planner could place only in part
    (a value not in the text), shown with the part it placed. A rejection in either goes to
    ``fix``, like any check pass's. Multi-label textcat subtasks keep one check per label.
    """
    passes = list(sub.annotation_passes(no_span_pass=True, multilabel="per_label"))
    if isinstance(sub.empty_output(), Spans):
        title = (
            "Some of the teacher's values are not in the text: are the spans shown all there is?"
        )
        at = max(i for i, p in enumerate(passes) if p.is_check) + 1
        passes.insert(at, Pass(NOT_IN_TEXT_PASS, "binary", title, partial=True))
    return passes


def extract_passes(subtasks: Mapping[str, Any]) -> list[Pass]:
    """An ``extract`` task's passes: each subtask's own focused passes
    (:func:`subtask_passes`), named ``SUBTASK/PASS``.

    One field (or, for the span subtask, one span label) per check pass, then the span subtask's
    ``check:none`` and :data:`NOT_IN_TEXT_PASS`, then each subtask's fix pass, then each
    subtask's review pass (``SUBTASK/review``): an annotator checks the intent, then the slots,
    never the whole record at once, and every answer is about one subtask
    (:mod:`distil.tasks.extract_answers`; the app serves them through
    :class:`distil.annotate.subtasks.ExtractWorkspace`). ``subtasks`` maps names to tasks.
    """
    passes: list[Pass] = []
    reviews: list[Pass] = []
    for name, sub in subtasks.items():
        field = name.removeprefix("textcat:")
        for p in subtask_passes(sub):
            title = f"{field}: {p.title}" if name.startswith("textcat:") else p.title
            named = Pass(f"{name}/{p.name}", p.mode, title, p.label, p.empty, p.partial)
            (reviews if p.name == REVIEW_PASS else passes).append(named)
    return passes + reviews
