"""Scores of extracted records: per field, and per record.

A field's value becomes a set of *items* per document, and items are compared exactly:

* textcat fields (Literal, Enum, bool, list of those): the chosen value(s); ``None`` is no item;
* span fields: the span text(s), whitespace runs collapsed, case kept. This is span-exact on the
  value: a partial string gets no credit (the composite's spans come from character offsets, the
  teacher's from its copied strings, the gold from the data's offsets, so the text is the common
  ground);
* fields that stay with the teacher, and span fields with a normaliser (a price, a date): the
  JSON of the value.

**Empty values** follow the planner's one rule (:func:`distil.tasks.extract_plan.is_blank`): ``None``,
a missing key, ``""`` and whitespace are *no value* — no item, so a ``""`` where gold has none is
right, and where gold has a value it is a miss, not a wrong value. Each field (and ``values``, over
all fields) counts per document what went wrong: ``missing`` (gold has a value, the prediction
none — empty, absent, or a failed record), ``wrong`` (both have values and they differ),
``extra`` (a value where gold has none), and apart from those ``empty``: how many predictions
wrote an empty string instead of leaving the value out.

``pending`` counts the documents and fields a prediction left pending (a composite's answer that
still needs the teacher for them): the calls to the LLM that a report of the student alone must
not hide.

Per field, ``p = tp/(tp+fp)``, ``r = tp/(tp+fn)``, ``f1 = 2tp/(2tp+fp+fn)`` (0 for a zero
denominator), ``support`` the gold items, and ``accuracy`` the share of documents whose value is
exactly right. A failed record (``None``: the answer did not validate) has no items: every gold item
is a miss and the record is not an exact match. The top level has the shape of the other tasks'
scores so the report shows it unchanged: ``accuracy`` is the **exact-record match** (every field
right; also under ``exact_record``), ``micro_*`` pool every field's items, ``macro_*`` average the
fields that occur in gold or predictions, ``per_label`` is per field. Bootstrap intervals (over
documents) cover exact-record match, micro-F1 and macro-F1.

The counting and the bootstrap are those of :mod:`distil.tasks.scoring` (the other tasks'
scorers), so the intervals agree with theirs; ``distil.extract.scoring`` re-exports this module.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..records import Extraction, TaskOutput
from .extract_plan import FieldPlan, Plan, get_path, is_blank
from .scoring import _draws, _interval, _ratio, _summary, label_prf, paired_resamples

__all__ = ["OUTCOMES", "paired_records", "score_records"]

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
        if is_blank(v):
            continue
        if f.kind == "span" and not f.normaliser:
            out.add(_WS.sub(" ", str(v)).strip())
        elif f.kind in ("teacher", "span"):
            out.add(json.dumps(v, sort_keys=True))
        else:
            out.add(json.dumps(v))
    return frozenset(out)


def _wrote_empty(f: FieldPlan, data: dict[str, Any] | None) -> bool:
    """True when ``data`` gives ``f`` an empty string (or a list holding one)."""
    value = get_path(data, f.path) if data is not None else None
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and is_blank(v) for v in values)


#: What can go wrong with one field of one document (scoring's module docstring).
OUTCOMES = ("missing", "wrong", "extra", "empty")


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
        self.outcomes = [dict.fromkeys(OUTCOMES, 0) for _ in self.fields]
        self.failed = 0
        self.pending_docs = 0
        self.pending_fields = 0
        for g, p in zip(gold, pred, strict=True):
            gd, pd = _data(g), _data(p)
            held = p.pending if isinstance(p, Extraction) else []
            self.pending_docs += bool(held)
            self.pending_fields += len(held)
            self.failed += pd is None
            counts: _DocCounts = []
            right = True
            for j, f in enumerate(self.fields):
                gi, pi = _items(f, gd), _items(f, pd)
                same = pd is not None and gi == pi
                self.field_right[j] += same
                seen = self.outcomes[j]
                seen["empty"] += _wrote_empty(f, pd)
                if gi and not pi:
                    seen["missing"] += 1
                elif pi and not gi:
                    seen["extra"] += 1
                elif gi != pi:
                    seen["wrong"] += 1
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
            **prep.outcomes[j],
        }
    result["values"] = {k: sum(o[k] for o in prep.outcomes) for k in OUTCOMES}
    # A composite's answer with pending fields still needs the teacher for them (the cascade):
    # the share a report must count as LLM calls (docs/extract.md, "an honest report").
    cells = prep.n * len(prep.fields)
    result["pending"] = {
        "documents": prep.pending_docs,
        "document_share": _ratio(prep.pending_docs, prep.n),
        "fields": prep.pending_fields,
        "field_share": _ratio(prep.pending_fields, cells),
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
