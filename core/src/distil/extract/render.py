"""How ``distil plan`` shows a plan: field → kind → subtask → student, and how to override it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..tasks.extract_plan import SPAN_SUBTASK, Plan

if TYPE_CHECKING:
    from rich.table import Table

KIND_TEXT = {
    "exclusive": "exclusive textcat",
    "multilabel": "multi-label textcat",
    "binary": "binary textcat",
    "span": "span (NER label)",
    "teacher": "stays with the teacher",
}


def _student_of(plan: Plan, subtask: str | None, student: Any) -> str:
    """The student that learns ``subtask``: the composite's block for it, or the cascade."""
    if subtask is None:
        return "teacher (cascade, this field alone)"
    role = "spans" if subtask == SPAN_SUBTASK else "textcat"
    proto = getattr(student, role, None) if student is not None else None
    return getattr(proto, "name", None) or f"[student.{role}] (not configured)"


def plan_rows(plan: Plan, student: Any = None) -> list[list[str]]:
    """One row per field: field, type, kind, subtask, student, why."""
    return [
        [
            f.path,
            f.annotation,
            f"span + {f.normaliser}" if f.normaliser else KIND_TEXT[f.kind],
            f.subtask or "—",
            _student_of(plan, f.subtask, student),
            f.reason,
        ]
        for f in plan.fields
    ]


HEADER = ["field", "type", "kind", "subtask", "student", "why"]


def override_help(plan: Plan) -> list[str]:
    """The config lines that change a decision, with the fields they may name."""
    example = next((f.path for f in plan.fields if f.kind != "teacher"), plan.fields[0].path)
    return [
        "Override any decision in the config (values: auto, textcat, span, teacher, or a "
        "registered normaliser: number.v1, money.v1, date.v1, text.v1):",
        "  [task.fields]",
        f'  "{example}" = "teacher"',
        'or in the schema: Field(json_schema_extra={"distil": "teacher"}).',
    ]


def plan_text(plan: Plan, student: Any = None) -> str:
    """The plan as plain text (tests and logs read this)."""
    rows = [HEADER, *plan_rows(plan, student)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    subtasks = ", ".join(
        f"{name} ({task.kind}, {len(task.labels)} labels)" for name, task in plan.subtasks.items()
    )
    lines += ["", f"{len(plan.subtasks)} subtask(s): {subtasks or 'none'}"]
    teacher = plan.teacher_fields
    if teacher:
        names = ", ".join(f.path for f in teacher)
        lines.append(f"served by the teacher through the cascade: {names}, because")
        lines += [f"  {f.path}: {f.reason}" for f in teacher]
    return "\n".join([*lines, "", *override_help(plan)])


def plan_table(plan: Plan, student: Any = None) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"decomposition of {plan.schema.__name__}")
    for name in HEADER:
        table.add_column(name)
    for row in plan_rows(plan, student):
        table.add_row(*[Text(c) for c in row])
    return table
