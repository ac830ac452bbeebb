"""Structured extraction to a user's pydantic schema, decomposed into parts a small model learns.

* :mod:`.plan` — the planner: schema fields → textcat subtasks, one NER subtask, teacher fields;
* :mod:`.composite` — the composite student (one student per subtask, reassembling the record);
* :mod:`.runtime` — the cascade that asks the teacher for the fields the students do not learn;
* :mod:`.scoring` — per-field P/R/F1 and exact-record match;
* :mod:`.render` — the plan as ``distil plan`` prints it.

The task itself is :class:`distil.tasks.extract.ExtractTask` (``extract.v1``).
"""

from .plan import FieldPlan, Plan, plan_schema

__all__ = ["FieldPlan", "Plan", "plan_schema"]
