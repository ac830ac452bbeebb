"""Structured extraction to a user's pydantic schema, decomposed into parts a small model learns.

* :mod:`.composite` — the composite student (one student per subtask, reassembling the record);
* :mod:`.runtime` — the cascade that asks the teacher for the fields the students do not learn;
* :mod:`.render` — the plan as ``distil plan`` prints it;
* :mod:`.audit` — what the teacher's records say about the plan.

The task itself is :class:`distil.tasks.extract.ExtractTask` (``extract.v1``), and what it calls
lives beside it in the tasks layer, below this stage: the planner (schema fields → textcat
subtasks, one NER subtask, teacher fields; :mod:`distil.tasks.extract_plan`), the normalisers
(:mod:`distil.tasks.extract_normalise`), the record scorer (per-field P/R/F1 and exact-record
match; :mod:`distil.tasks.extract_scoring`) and the per-subtask merge of human answers
(:mod:`distil.tasks.extract_answers`). :mod:`.plan`, :mod:`.normalise`, :mod:`.scoring` and
:mod:`.answers` re-export them under their old import paths.
"""

from ..tasks.extract_plan import FieldPlan, Plan, plan_schema

__all__ = ["FieldPlan", "Plan", "plan_schema"]
