"""Scores of extracted records: per field, and per record.

A field's value becomes a set of *items* per document, and items are compared exactly:

* textcat fields (Literal, Enum, bool, list of those): the chosen value(s); ``None`` is no item;
* span fields: the span text(s), whitespace runs collapsed, case kept. This is span-exact on the
  value: a partial string gets no credit (the composite's spans come from character offsets, the
  teacher's from its copied strings, the gold from the data's offsets, so the text is the common
  ground);
* fields that stay with the teacher: the JSON of the value.

Per field, ``p = tp/(tp+fp)``, ``r = tp/(tp+fn)``, ``f1 = 2tp/(2tp+fp+fn)`` (0 for a zero
denominator), ``support`` the gold items, and ``accuracy`` the share of documents whose value is
exactly right. A failed record (``None``: the answer did not validate) has no items: every gold item
is a miss and the record is not an exact match. The top level has the shape of the other tasks'
scores so the report shows it unchanged: ``accuracy`` is the **exact-record match** (every field
right; also under ``exact_record``), ``micro_*`` pool every field's items, ``macro_*`` average the
fields that occur in gold or predictions, ``per_label`` is per field. Bootstrap intervals (over
documents) cover exact-record match, micro-F1 and macro-F1.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..evaluate.metrics import (
    _draws,
    _interval,
    _ratio,
    _summary,
    label_prf,
    paired_resamples,
)
from ..records import Extraction, TaskOutput
from .plan import FieldPlan, Plan, get_path

_WS = re.compile(r"\s+")
#: One document's nonzero counts: (field index, tp, fp, fn).
_DocCounts = list[tuple[int, int, int, int]]


def _items(f: FieldPlan, data: dict[str, Any] | None) -> frozenset[str]:
    if data is None:
        return frozenset()
    value = get_path(data, f.path)
    values = list(value) if isinstance(value, list) else [value]
    out = set()
    for v in values:
        if v is None:
            continue
        if f.kind == "span":
            out.add(_WS.sub(" ", str(v)).strip())
        elif f.kind == "teacher":
            out.add(json.dumps(v, sort_keys=True))
        else:
            out.add(json.dumps(v))
    return frozenset(out)


def _data(output: TaskOutput | None) -> dict[str, Any] | None:
    if output is None:
        return None
    if not isinstance(output, Extraction):
        raise TypeError(f"extract scores extractions, got {type(output).__name__}")
    return output.data


class _Prepared:
    def __init__(self, plan: Plan, gold: Sequence[TaskOutput], pred: Sequence[TaskOutput | None]):
        if len(gold) != len(pred):
            raise ValueError(f"{len(gold)} gold records but {len(pred)} predictions")
        self.fields = plan.fields
        self.docs: list[_DocCounts] = []
        self.exact: list[int] = []
        self.field_right = [0] * len(self.fields)
        self.failed = 0
        for g, p in zip(gold, pred, strict=True):
            gd, pd = _data(g), _data(p)
            self.failed += pd is None
            counts: _DocCounts = []
            right = True
            for j, f in enumerate(self.fields):
                gi, pi = _items(f, gd), _items(f, pd)
                same = pd is not None and gi == pi
                self.field_right[j] += same
                right = right and same
                tp = len(gi & pi)
                fp, fn = len(pi) - tp, len(gi) - tp
                if tp or fp or fn:
                    counts.append((j, tp, fp, fn))
            self.docs.append(counts)
            self.exact.append(int(right))

    @property
    def n(self) -> int:
        return len(self.docs)

    def summary(self, idx: Sequence[int]) -> dict[str, float]:
        tp: Counter[int] = Counter()
        fp: Counter[int] = Counter()
        fn: Counter[int] = Counter()
        for i in idx:
            for j, a, b, c in self.docs[i]:
                # only counts that are there: _summary's macro averages over fields that have any
                if a:
                    tp[j] += a
                if b:
                    fp[j] += b
                if c:
                    fn[j] += c
        return _summary(tp, fp, fn, sum(self.exact[i] for i in idx), len(idx))


def score_records(
    plan: Plan,
    gold: Sequence[TaskOutput],
    predicted: Sequence[TaskOutput | None],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-field and per-record scores of ``predicted`` against ``gold`` (module docstring)."""
    prep = _Prepared(plan, gold, predicted)
    everything = list(range(prep.n))
    result: dict[str, Any] = {"n": prep.n, **prep.summary(everything)}
    result["exact_record"] = result["accuracy"]
    result["failure_rate"] = _ratio(prep.failed, prep.n)
    result["failures"] = prep.failed
    per_field: dict[str, dict[str, Any]] = {}
    totals = {j: [0, 0, 0] for j in range(len(prep.fields))}
    for doc in prep.docs:
        for j, a, b, c in doc:
            totals[j][0] += a
            totals[j][1] += b
            totals[j][2] += c
    for j, f in enumerate(prep.fields):
        a, b, c = totals[j]
        per_field[f.path] = {
            **label_prf(a, b, c),
            "accuracy": _ratio(prep.field_right[j], prep.n),
            "kind": f.kind,
        }
    result["macro_labels"] = sum(1 for a, b, c in totals.values() if a or b or c)
    result["per_label"] = per_field
    samples = [prep.summary(idx) for idx in _draws(prep.n, n_boot, seed)] if prep.n else []
    metrics = ("accuracy", "micro_f1", "macro_f1")
    result["ci"] = {m: _interval([s[m] for s in samples]) for m in metrics} if samples else {}
    result["n_boot"] = n_boot
    return result


def paired_records(
    plan: Plan,
    gold: Sequence[TaskOutput],
    pred_a: Sequence[TaskOutput | None],
    pred_b: Sequence[TaskOutput | None],
    *,
    metric: str = "macro_f1",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired percentile bootstrap of two sources' records, shaped like
    :func:`distil.evaluate.metrics.paired_bootstrap` (``accuracy`` is exact-record match)."""
    a, b = _Prepared(plan, gold, pred_a), _Prepared(plan, gold, pred_b)
    if metric not in a.summary(list(range(a.n))):
        raise ValueError(f"unknown metric {metric!r} for extract records")
    return paired_resamples(
        lambda idx: a.summary(idx)[metric],
        lambda idx: b.summary(idx)[metric],
        a.n,
        metric,
        n_boot=n_boot,
        seed=seed,
    )
