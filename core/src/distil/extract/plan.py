"""The decomposition planner (a pydantic schema → subtasks): :mod:`distil.tasks.extract_plan`.

It lives in the tasks layer, beside the ``extract`` task that keeps the plan, so the task needs
nothing from the stage above it; this module keeps the import path the extract stage, tests, docs
and third-party code use (``from distil.extract.plan import plan_schema``).
"""

from __future__ import annotations

from ..tasks.extract_plan import (
    DECISIONS,
    NULL,
    SPAN_SUBTASK,
    Decision,
    FieldKind,
    FieldOverrides,
    FieldPlan,
    Plan,
    get_path,
    is_blank,
    plan_schema,
    present,
    reference_of,
    set_path,
)

__all__ = [
    "DECISIONS",
    "NULL",
    "SPAN_SUBTASK",
    "Decision",
    "FieldKind",
    "FieldOverrides",
    "FieldPlan",
    "Plan",
    "get_path",
    "is_blank",
    "plan_schema",
    "present",
    "reference_of",
    "set_path",
]
