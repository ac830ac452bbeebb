"""What the teacher's records look like before anyone learns from them: counted, never repaired.

:func:`audit_records` reads a teacher's stored predictions for a data set and counts the records
that failed validation (with the failing fields), and per subtask the valid records a subtask
cannot learn from (a span value that is not in the text, or overlaps another span field's value).
``distil plan`` shows it once the teacher has labelled; the composite's fit report counts the
same drops.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..records import Extraction
from ..tasks.extract_plan import Plan

if TYPE_CHECKING:
    from ..store.sqlite import Store

_FIELD = re.compile(r"(?:^|; )([\w.]+): ")


def audit_records(store: Store, plan: Plan, source: str, dataset: str = "train") -> dict[str, Any]:
    """Counts of ``source``'s records on ``dataset`` (see the module docstring)."""
    examples = store.examples(dataset)
    preds = store.predictions(source, [ex.id for ex in examples], dataset=dataset)
    invalid: list[dict[str, str]] = []
    failing_fields: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    dropped_fields: Counter[str] = Counter()
    valid = 0
    for ex in examples:
        p = preds.get(ex.id)
        if p is None:
            continue
        if not p.ok or not isinstance(p.output, Extraction):
            reason = p.error or "no record"
            invalid.append({"id": ex.id, "error": reason})
            for name in _FIELD.findall(reason.split("invalid field(s): ", 1)[-1]):
                failing_fields[name] += 1
            continue
        valid += 1
        _, failed = plan.split(p.output.data, ex.text)
        for subtask, why in failed.items():
            dropped[subtask] += 1
            dropped_fields[why.split(":", 1)[0]] += 1
    return {
        "dataset": dataset,
        "source": source,
        "n": len(examples),
        "answered": len(preds),
        "valid": valid,
        "invalid": len(invalid),
        "invalid_examples": invalid[:10],
        "invalid_fields": dict(failing_fields.most_common()),
        "dropped_by_subtask": dict(dropped),
        "dropped_by_field": dict(dropped_fields.most_common()),
    }


def audit_lines(audit: dict[str, Any]) -> list[str]:
    """The audit in plain sentences."""
    if not audit["answered"]:
        return [f"the teacher has not labelled '{audit['dataset']}' yet (run distil label)"]
    lines = [
        f"teacher records on '{audit['dataset']}': {audit['answered']} answered, "
        f"{audit['valid']} valid, {audit['invalid']} invalid or partial (counted as failures, "
        "not repaired)"
    ]
    if audit["invalid_fields"]:
        worst = ", ".join(f"{k} {v}" for k, v in list(audit["invalid_fields"].items())[:8])
        lines.append(f"  failing fields: {worst}")
    for item in audit["invalid_examples"][:3]:
        lines.append(f"  {item['id']}: {item['error']}")
    for subtask, n in audit["dropped_by_subtask"].items():
        fields = ", ".join(f"{k} {v}" for k, v in list(audit["dropped_by_field"].items())[:8])
        lines.append(
            f"  subtask {subtask} cannot learn from {n} valid record(s) (value not in the text "
            f"or overlapping another field): {fields}"
        )
    return lines
