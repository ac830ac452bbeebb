"""Scores: text classification (accuracy, micro/macro P/R/F1, per label) and span-exact scores
for span tasks (:func:`score_spans`), with bootstrap CIs and paired comparisons for both.

The scorers live beside the task kinds that call them (:meth:`distil.tasks.Task.score`,
:meth:`~distil.tasks.Task.paired_bootstrap`), in the ``tasks`` layer, so a task never reaches up
into the evaluate stage; ``distil.evaluate.metrics`` re-exports them under their old names. They
read only ``task.labels`` (and ``multilabel``), never the task kind: the task picks its scorer.
Any task whose answers are sets of labelled items (:func:`score_items`, :func:`paired_items`)
gets every number below, CIs and paired comparisons included, without a scorer of its own.

Pure standard library (no numpy): the evaluate stage runs wherever core runs. The conventions match
scikit-learn so numbers can be checked against it:

- A ``None`` prediction (parse failure, missing answer) predicts *no label*: it adds a false
  negative for each gold label and no false positive, and it is never counted as correct.
- Per label, ``p = tp / (tp + fp)``, ``r = tp / (tp + fn)``, ``f1 = 2·tp / (2·tp + fp + fn)``; a
  zero denominator gives 0 (scikit-learn's ``zero_division=0``).
- Micro scores pool the counts of all labels. For an exclusive task without failures micro P, R and
  F1 all equal accuracy.
- Macro scores are the unweighted mean over the labels that *occur* in the gold answers or in the
  predictions, like ``f1_score(average="macro", labels=<labels in gold ∪ predictions>)``. A task
  label that nobody used does not drag the mean to 0; ``macro_labels`` says how many were averaged.

Confidence intervals come from a percentile bootstrap over examples. The per-example true-positive,
false-positive and false-negative label ids are computed once; each resample then only counts ids
(``Counter`` over a flattened selection, which runs in C), so 1000 resamples of 1000 examples take a
fraction of a second even with 77 labels.

Span tasks (``ner``, ``spans``) reuse the same machinery: a span counts as a true positive only
when its ``(start, end, label)`` equals a gold span's exactly (no partial credit, like CoNLL and
seqeval's default), so the per-document contributions are label ids of matched, spurious and
missed spans, and micro/macro/per-label/bootstrap work unchanged.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, Protocol

from ..records import Categories, Spans, TaskOutput


class Labelled(Protocol):
    """What the scorers read of a task: its labels (a multi-label task also has ``multilabel``)."""

    @property
    def labels(self) -> list[str]: ...


#: A labelled item of one answer: ``(key, label)``; two answers agree on an item when the keys
#: are equal (a label for categories, ``(start, end, label)`` for spans).
Item = tuple[Any, str]

#: How a failed (``None``) prediction shows in a confusion matrix.
NONE_LABEL = "<none>"

#: Metrics that :func:`paired_categories` / :func:`paired_items` can compare (all computed from pooled counts).
PAIRED_METRICS = (
    "accuracy",
    "micro_p",
    "micro_r",
    "micro_f1",
    "macro_p",
    "macro_r",
    "macro_f1",
)

_CI_METRICS = ("accuracy", "micro_f1", "macro_f1")
_IdTuple = tuple[int, ...]


@dataclass
class _Prepared:
    """Per-example contributions, computed once and summed by every bootstrap resample."""

    labels: list[str]
    tp: list[_IdTuple]
    fp: list[_IdTuple]
    fn: list[_IdTuple]
    correct: list[int]
    failed: int
    positive: int | None  # label id whose F1 is reported for a binary task

    @property
    def n(self) -> int:
        return len(self.correct)


def _labels_of(output: TaskOutput | None, what: str, i: int) -> list[str] | None:
    if output is None:
        return None
    if not isinstance(output, Categories):
        raise TypeError(f"{what}[{i}] is {type(output).__name__}, expected Categories")
    return list(output.labels)


def _check_pairing(gold: Sequence[Any], predicted: Sequence[Any]) -> None:
    """Gold and predictions pair up by index, and there is something to score."""
    if len(gold) != len(predicted):
        raise ValueError(
            f"{len(gold)} gold answers but {len(predicted)} predictions: they must pair up by index"
        )
    if not gold:
        raise ValueError("there are no gold answers to score against")


def _prepare(
    task: Labelled,
    gold: Sequence[TaskOutput],
    predicted: Sequence[TaskOutput | None],
) -> _Prepared:
    """:func:`_prepare_items` over each answer's labels, with the categories' own rules: an
    exclusive answer is right when its label list equals gold's, and a binary task reports the
    rarer gold label's F1."""
    _check_pairing(gold, predicted)
    multilabel = bool(getattr(task, "multilabel", False))
    g_items: list[set[Item] | None] = []
    p_items: list[set[Item] | None] = []
    correct: list[int] = []
    for i, (g_out, p_out) in enumerate(zip(gold, predicted, strict=True)):
        g_list = _labels_of(g_out, "gold", i)
        if g_list is None:
            raise ValueError(f"gold[{i}] is None: every gold example needs an answer")
        p_list = _labels_of(p_out, "predicted", i)
        g_items.append({(name, name) for name in g_list})
        p_items.append(None if p_list is None else {(name, name) for name in p_list})
        if p_list is None:
            ok = False
        elif multilabel:
            ok = set(g_list) == set(p_list)
        else:
            ok = g_list == p_list
        correct.append(int(ok))
    prep = _prepare_items(task.labels, g_items, p_items, order=lambda item: item[1])
    prep.correct = correct
    if not multilabel and len(task.labels) == 2:
        # The rarer gold label is the "positive" class (spam, not ham); a tie picks the second.
        support = Counter(j for ids in (*prep.tp, *prep.fn) for j in ids)
        prep.positive = 0 if support[0] < support[1] else 1
    return prep


def _spans_of(output: TaskOutput | None, what: str, i: int) -> set[Item] | None:
    if output is None:
        return None
    if not isinstance(output, Spans):
        raise TypeError(f"{what}[{i}] is {type(output).__name__}, expected Spans")
    return {((s.start, s.end, s.label), s.label) for s in output.spans}


def span_items(output: TaskOutput | None) -> set[Item] | None:
    """The items of a span answer: ``((start, end, label), label)`` per span (None: a failure)."""
    return _spans_of(output, "output", 0)


def _prepare_items(
    labels_in: Sequence[str],
    gold: Sequence[set[Item] | None],
    predicted: Sequence[set[Item] | None],
    order: Callable[[Item], Any] = repr,
) -> _Prepared:
    """Per-document label ids of matched (tp), spurious (fp) and missed (fn) items (a label
    outside ``labels_in`` is appended, in ``order`` of the items, rather than dropped)."""
    _check_pairing(gold, predicted)
    index: dict[str, int] = {label: j for j, label in enumerate(labels_in)}
    labels = list(labels_in)

    def ids(items: set[Item]) -> _IdTuple:
        out = []
        for _, name in sorted(items, key=order):
            if name not in index:  # a label outside the task: count it rather than drop it
                index[name] = len(labels)
                labels.append(name)
            out.append(index[name])
        return tuple(out)

    tp: list[_IdTuple] = []
    fp: list[_IdTuple] = []
    fn: list[_IdTuple] = []
    correct: list[int] = []
    failed = 0
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        if g is None:
            raise ValueError(f"gold[{i}] is None: every gold example needs an answer")
        if p is None:
            failed += 1
        found = p if p is not None else set()
        tp.append(ids(g & found))
        fp.append(ids(found - g))
        fn.append(ids(g - found))
        correct.append(int(p is not None and g == found))
    return _Prepared(labels, tp, fp, fn, correct, failed, None)


def _prepare_spans(
    task: Labelled,
    gold: Sequence[TaskOutput],
    predicted: Sequence[TaskOutput | None],
) -> _Prepared:
    """Per-document label ids of exact matches (tp), spurious (fp) and missed (fn) spans."""
    _check_pairing(gold, predicted)
    g_items = [_spans_of(g, "gold", i) for i, g in enumerate(gold)]
    p_items = [_spans_of(p, "predicted", i) for i, p in enumerate(predicted)]
    return _prepare_items(task.labels, g_items, p_items)


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _summary(
    tp: Counter[int], fp: Counter[int], fn: Counter[int], n_correct: int, n: int
) -> dict[str, float]:
    """Accuracy, micro and macro P/R/F1 from pooled per-label counts."""
    present = set(tp) | set(fp) | set(fn)
    t, f_p, f_n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    mp = mr = mf = 0.0
    for j in present:
        a, b, c = tp[j], fp[j], fn[j]
        mp += _ratio(a, a + b)
        mr += _ratio(a, a + c)
        mf += _ratio(2 * a, 2 * a + b + c)
    k = len(present)
    return {
        "accuracy": _ratio(n_correct, n),
        "micro_p": _ratio(t, t + f_p),
        "micro_r": _ratio(t, t + f_n),
        "micro_f1": _ratio(2 * t, 2 * t + f_p + f_n),
        "macro_p": _ratio(mp, k),
        "macro_r": _ratio(mr, k),
        "macro_f1": _ratio(mf, k),
    }


def _pick(items: list[Any], idx: list[int]) -> Sequence[Any]:
    if len(idx) == 1:  # itemgetter with one key returns the item, not a tuple
        return [items[idx[0]]]
    picked: Sequence[Any] = itemgetter(*idx)(items)
    return picked


def _resample(prep: _Prepared, idx: list[int]) -> dict[str, float]:
    tp: Counter[int] = Counter(chain.from_iterable(_pick(prep.tp, idx)))
    fp: Counter[int] = Counter(chain.from_iterable(_pick(prep.fp, idx)))
    fn: Counter[int] = Counter(chain.from_iterable(_pick(prep.fn, idx)))
    out = _summary(tp, fp, fn, sum(_pick(prep.correct, idx)), len(idx))
    if prep.positive is not None:
        j = prep.positive
        out["positive_f1"] = _ratio(2 * tp[j], 2 * tp[j] + fp[j] + fn[j])
    return out


def _percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation (numpy's default method)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def _interval(values: list[float], level: float = 0.95) -> list[float]:
    ordered = sorted(values)
    tail = (1.0 - level) / 2.0 * 100.0
    return [_percentile(ordered, tail), _percentile(ordered, 100.0 - tail)]


def _draws(n: int, n_boot: int, seed: int) -> list[list[int]]:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    # Only Random.random() is used: its stream is the part Python keeps stable across versions.
    rand = random.Random(seed).random
    return [[int(rand() * n) for _ in range(n)] for _ in range(n_boot)]


def score_categories(
    task: Labelled,
    gold: Sequence[TaskOutput],
    predicted: Sequence[TaskOutput | None],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score category predictions against gold answers (exclusive or multi-label task).

    ``predicted[i]`` answers ``gold[i]``; ``None`` is a failure (see the module docstring).
    ``accuracy`` is label match for an exclusive task and exact set match for a multi-label one.
    Macro scores average over the labels present in gold or predictions (scikit-learn's
    ``labels=<present>``, ``zero_division=0``). ``per_label`` has every task label (and any label
    outside the task that occurs, so nothing is silently dropped). ``ci`` holds percentile-bootstrap
    95% intervals over examples for accuracy, micro-F1 and macro-F1 (``n_boot`` resamples from
    ``random.Random(seed)``: the same inputs and seed give the same intervals). For a binary
    exclusive task, ``positive_label`` (the rarer gold label; the second label on a tie) and
    ``positive_f1`` are added, with a CI. The result is JSON-able.
    """
    return _scores(_prepare(task, gold, predicted), n_boot, seed, _CI_METRICS)


def score_spans(
    task: Labelled,
    gold: Sequence[TaskOutput],
    predicted: Sequence[TaskOutput | None],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Span-exact scores of span predictions (``ner`` or ``spans`` task) against gold spans.

    A predicted span is a true positive only when a gold span of the same document has the same
    ``(start, end, label)``; every other predicted span is a false positive and every unmatched
    gold span a false negative (duplicates within a document count once). ``None`` is a failure:
    all of its document's gold spans are misses. The result has the shape of
    :func:`score_categories` without ``accuracy``: ``n`` (documents), ``micro_p/r/f1``,
    ``macro_p/r/f1`` (over labels present in gold or predictions), ``macro_labels``,
    ``failure_rate``, ``per_label`` (``p``, ``r``, ``f1``, ``support`` = gold spans), ``ci`` for
    ``micro_f1`` and ``macro_f1`` (percentile bootstrap over documents), ``n_boot``, and
    ``exact_match`` (share of documents whose spans are all right).
    """
    result = _scores(_prepare_spans(task, gold, predicted), n_boot, seed, ("micro_f1", "macro_f1"))
    result["exact_match"] = result.pop("accuracy")
    return result


def label_prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    """Precision, recall, F1 and support (gold count) of one label from its counts."""
    return {
        "p": _ratio(tp, tp + fp),
        "r": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "support": tp + fn,
    }


def _scores(
    prep: _Prepared, n_boot: int, seed: int, ci_metrics_base: Sequence[str]
) -> dict[str, Any]:
    tp: Counter[int] = Counter(chain.from_iterable(prep.tp))
    fp: Counter[int] = Counter(chain.from_iterable(prep.fp))
    fn: Counter[int] = Counter(chain.from_iterable(prep.fn))
    point = _summary(tp, fp, fn, sum(prep.correct), prep.n)
    per_label: dict[str, dict[str, float | int]] = {}
    for j, label in enumerate(prep.labels):
        per_label[label] = label_prf(tp[j], fp[j], fn[j])
    result: dict[str, Any] = {"n": prep.n, **point}
    result["macro_labels"] = len(set(tp) | set(fp) | set(fn))
    result["failure_rate"] = prep.failed / prep.n
    ci_metrics = list(ci_metrics_base)
    if prep.positive is not None:
        label = prep.labels[prep.positive]
        result["positive_label"] = label
        result["positive_f1"] = per_label[label]["f1"]
        ci_metrics.append("positive_f1")
    result["per_label"] = per_label
    samples = [_resample(prep, idx) for idx in _draws(prep.n, n_boot, seed)]
    result["ci"] = {m: _interval([s[m] for s in samples]) for m in ci_metrics}
    result["n_boot"] = n_boot
    return result


def score_items(
    labels: Sequence[str],
    gold: Sequence[set[Item] | None],
    predicted: Sequence[set[Item] | None],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Scores of any answers that are sets of labelled items (the generic task scorer).

    ``gold[i]`` and ``predicted[i]`` are the items of one document (:data:`Item`); ``None`` is a
    failed prediction. The result has the shape of :func:`score_categories`: ``accuracy`` is the
    share of documents whose items are exactly right, micro/macro P/R/F1 and ``per_label`` count
    items by label, and ``ci`` holds bootstrap intervals of accuracy, micro-F1 and macro-F1.
    """
    return _scores(_prepare_items(labels, gold, predicted), n_boot, seed, _CI_METRICS)


def _paired(
    prep_a: _Prepared, prep_b: _Prepared, metric: str, n_boot: int, seed: int
) -> dict[str, Any]:
    if metric not in PAIRED_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(PAIRED_METRICS)}")
    return paired_resamples(
        lambda idx: _resample(prep_a, idx)[metric],
        lambda idx: _resample(prep_b, idx)[metric],
        prep_a.n,
        metric,
        n_boot=n_boot,
        seed=seed,
    )


def _same_length(pred_a: Sequence[Any], pred_b: Sequence[Any]) -> None:
    if len(pred_a) != len(pred_b):
        raise ValueError(f"the two sources have {len(pred_a)} and {len(pred_b)} predictions")


def paired_categories(
    task: Labelled,
    gold: Sequence[TaskOutput],
    pred_a: Sequence[TaskOutput | None],
    pred_b: Sequence[TaskOutput | None],
    metric: str = "macro_f1",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare two sources' category answers on the same gold set (a paired bootstrap).

    Both sources are scored on the *same* resampled examples, so the interval of ``delta``
    (``metric(a) − metric(b)``) reflects only their difference, not the sampling of the gold set.
    ``p_value`` is a two-sided bootstrap sign test: twice the share of resamples whose delta is on
    the other side of zero from the observed one (or exactly zero), capped at 1; it is 1.0 when the
    observed delta is 0. It is a rough guide, not an exact test.
    """
    _same_length(pred_a, pred_b)
    if metric not in PAIRED_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(PAIRED_METRICS)}")
    prep_a, prep_b = _prepare(task, gold, pred_a), _prepare(task, gold, pred_b)
    return _paired(prep_a, prep_b, metric, n_boot, seed)


def paired_spans(
    task: Labelled,
    gold: Sequence[TaskOutput],
    pred_a: Sequence[TaskOutput | None],
    pred_b: Sequence[TaskOutput | None],
    metric: str = "micro_f1",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`paired_categories` on span-exact scores; ``accuracy`` is not defined for spans
    (use ``micro_f1``, the usual NER headline, or ``macro_f1``)."""
    if metric == "accuracy":
        raise ValueError("accuracy is not defined for a span task; use micro_f1")
    _same_length(pred_a, pred_b)
    if metric not in PAIRED_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(PAIRED_METRICS)}")
    prep_a, prep_b = _prepare_spans(task, gold, pred_a), _prepare_spans(task, gold, pred_b)
    return _paired(prep_a, prep_b, metric, n_boot, seed)


def paired_items(
    labels: Sequence[str],
    gold: Sequence[set[Item] | None],
    pred_a: Sequence[set[Item] | None],
    pred_b: Sequence[set[Item] | None],
    metric: str = "macro_f1",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`paired_categories` for answers given as item sets (see :func:`score_items`)."""
    _same_length(pred_a, pred_b)
    if metric not in PAIRED_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(PAIRED_METRICS)}")
    prep_a = _prepare_items(labels, gold, pred_a)
    prep_b = _prepare_items(labels, gold, pred_b)
    return _paired(prep_a, prep_b, metric, n_boot, seed)


def paired_resamples(
    score_a: Callable[[list[int]], float],
    score_b: Callable[[list[int]], float],
    n: int,
    metric: str,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The paired percentile bootstrap behind :func:`paired_categories`, for any scorer.

    ``score_a(rows)`` and ``score_b(rows)`` give each source's metric on the gold rows ``rows``
    (indices, with repeats); both are called on the same resamples.
    """
    everything = list(range(n))
    value_a, value_b = score_a(everything), score_b(everything)
    delta = value_a - value_b
    deltas = [score_a(idx) - score_b(idx) for idx in _draws(n, n_boot, seed)]
    if delta == 0:
        p_value = 1.0
    else:
        flips = sum(1 for d in deltas if d * delta <= 0)
        p_value = min(1.0, 2.0 * flips / n_boot)
    return {
        "metric": metric,
        "value_a": value_a,
        "value_b": value_b,
        "delta": delta,
        "ci": _interval(deltas),
        "p_value": p_value,
        "n": n,
        "n_boot": n_boot,
    }


def confusion_matrix(
    task: Labelled,
    gold: Sequence[TaskOutput],
    predicted: Sequence[TaskOutput | None],
) -> dict[str, Any]:
    """Counts of (gold, predicted) pairs.

    Exclusive task: ``{gold_label: {predicted_label: count}}``, sparse (only pairs that occur),
    with ``"<none>"`` as the predicted label of a failure; gold labels follow the task's order.
    Multi-label task (no single pairing exists): ``{label: {"tp", "fp", "fn", "tn"}}`` for every
    label, where a failure predicts no label. Span tasks have no confusion matrix.
    """
    if any(isinstance(g, Spans) for g in gold):
        raise ValueError("a span task has no confusion matrix; see score_spans per_label")
    prep = _prepare(task, gold, predicted)
    if getattr(task, "multilabel", False):
        tp: Counter[int] = Counter(chain.from_iterable(prep.tp))
        fp: Counter[int] = Counter(chain.from_iterable(prep.fp))
        fn: Counter[int] = Counter(chain.from_iterable(prep.fn))
        return {
            label: {
                "tp": tp[j],
                "fp": fp[j],
                "fn": fn[j],
                "tn": prep.n - tp[j] - fp[j] - fn[j],
            }
            for j, label in enumerate(prep.labels)
        }
    pairs: Counter[tuple[str, str]] = Counter()
    for i, (g_out, p_out) in enumerate(zip(gold, predicted, strict=True)):
        g_list = _labels_of(g_out, "gold", i) or [NONE_LABEL]
        p_list = _labels_of(p_out, "predicted", i) or [NONE_LABEL]
        pairs[(g_list[0], p_list[0])] += 1
    order = {label: j for j, label in enumerate(prep.labels)}
    matrix: dict[str, dict[str, int]] = {}
    for (g, p), count in sorted(
        pairs.items(),
        key=lambda kv: (order.get(kv[0][0], len(order)), order.get(kv[0][1], len(order))),
    ):
        matrix.setdefault(g, {})[p] = count
    return matrix
