"""The evaluate stage: score sources on the gold set and measure their utility.

A source is anything whose predictions are in the store (a teacher's, a student's). Scores come from
the task's scorer plus whatever plugins add through ``distil_evaluate``, with the confusion matrix
(exclusive textcat) and the calibration of the stored confidences added; utility comes from measured
time (the teacher's recorded latencies, the student's timed ``predict``), model size and money
(the ledger's price, or measured compute time at ``cpu_hour_cost`` $/CPU-hour when there is none).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugins import PluginHost, get_host
from ..records import Categories, Example, Prediction
from ..student import Student
from ..tasks import Task
from .calibration import calibration
from .report import SourceResult
from .utility import Utility, compute_cost, count_words, dir_size, peak_memory, single_doc_latencies

if TYPE_CHECKING:
    from ..store.sqlite import Store


def score_source(
    task: Task,
    gold: list[Example],
    preds: dict[str, Prediction],
    *,
    host: PluginHost | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task's scores for one source, and the metrics plugins add (merged).

    The scores also carry ``confusion_matrix`` (when the task has one,
    :meth:`~distil.tasks.Task.confusion_matrix`: exclusive textcat's gold → predicted → count)
    and ``calibration`` (reliability curve and ECE, when the predictions have confidences).
    """
    host = host or get_host()
    gold_outputs = []
    for ex in gold:
        ref = task.reference(ex)
        if ref is None:
            raise ValueError(f"gold example '{ex.id}' has no reference answer")
        gold_outputs.append(ref)
    aligned = [preds.get(ex.id) for ex in gold]
    outputs = [p.output if p is not None and p.ok else None for p in aligned]
    scores = task.score(gold_outputs, outputs)
    matrix = task.confusion_matrix(gold_outputs, outputs)
    if matrix is not None:
        scores["confusion_matrix"] = matrix
    calib = calibration(task, gold_outputs, aligned)
    if calib is not None:
        scores["calibration"] = calib
    extra: dict[str, Any] = {}
    for added in host.hook.distil_evaluate(task=task, gold=gold, predictions=aligned):
        if added:
            extra.update(added)
    return scores, extra


def teacher_result(
    store: Store,
    task: Task,
    gold: list[Example],
    source: str,
    *,
    host: PluginHost | None = None,
    cpu_hour_cost: float = 0.05,
    dataset: str = "gold",
) -> SourceResult:
    """Scores and utility of a teacher whose predictions on ``dataset`` are in the store.

    Speed is sequential-equivalent: total recorded latency of the answers (cache hits keep the
    latency of the original call), so re-running from the cache does not flatter the teacher;
    p50/p95 latency are over the answers' recorded latencies. Cost is the ledger's (the price
    table) when any answer had a price, else the recorded seconds at ``cpu_hour_cost``.
    """
    preds = store.predictions(source, [ex.id for ex in gold], dataset=dataset)
    scores, extra = score_source(task, gold, preds, host=host)
    answered = list(preds.values())
    latencies = [p.usage.latency_s for p in answered]
    seconds = sum(latencies)
    words = count_words([ex.text for ex in gold if ex.id in preds])
    priced = sum(p.usage.cost for p in answered)
    if priced:
        cost, basis = priced, "price"
    else:
        # No price known (a local model, or a provider without a price table entry).
        cost, basis = compute_cost(seconds, cpu_hour_cost), "compute"
    utility = Utility.from_timings(
        docs=len(answered),
        words=words,
        seconds=seconds,
        latencies_s=latencies or None,
        cost=cost if answered else None,
        cost_basis=basis,  # type: ignore[arg-type]
    )
    return SourceResult(
        source=source,
        role="teacher",
        name=source.split("#", 1)[0].removeprefix("teacher:"),
        scores=scores,
        utility=utility.to_dict(),
        extra=extra,
    )


def student_result(
    store: Store,
    task: Task,
    gold: list[Example],
    student: Student,
    *,
    source: str,
    model_dir: str | Path,
    batch_size: int = 1024,
    host: PluginHost | None = None,
    cpu_hour_cost: float = 0.05,
    latency_sample: int = 50,
    dataset: str = "gold",
) -> SourceResult:
    """Predict the gold set with a trained student (timed), store and score the predictions.

    The predictions are stored as the student's answers on ``dataset`` (the gold set's name).

    Throughput comes from predicting in batches of ``batch_size``; p50/p95 latency from predicting
    the first ``latency_sample`` documents one at a time; peak memory from one more (traced)
    predict of the first batch; cost from the batched seconds at ``cpu_hour_cost`` $/CPU-hour.
    """
    inputs = [ex.without_answer() for ex in gold]
    started = time.perf_counter()
    outputs: list[Any] = []
    for i in range(0, len(inputs), batch_size):
        outputs.extend(student.predict(inputs[i : i + batch_size]))
    seconds = time.perf_counter() - started
    latencies = single_doc_latencies(student.predict, inputs, latency_sample)
    peak = peak_memory(student.predict, inputs[:batch_size]) if inputs else None
    preds = [
        Prediction(example_id=ex.id, source=source, output=o.output, confidence=o.confidence)
        for ex, o in zip(gold, outputs, strict=True)
    ]
    store.add_predictions(preds, dataset)
    scores, extra = score_source(task, gold, {p.example_id: p for p in preds}, host=host)
    utility = Utility.from_timings(
        docs=len(gold),
        words=count_words([ex.text for ex in gold]),
        seconds=seconds,
        latencies_s=latencies or None,
        batch_size=1,
        model_size_bytes=dir_size(Path(model_dir)),
        cost=compute_cost(seconds, cpu_hour_cost) if gold else None,
        cost_basis="compute",
        peak_memory_bytes=peak,
    )
    return SourceResult(
        source=source,
        role="student",
        name=source.split("#", 1)[0].removeprefix("student:"),
        scores=scores,
        utility=utility.to_dict(),
        extra=extra,
    )


#: The name of the majority-class baseline's column in the report.
BASELINE_NAME = "majority baseline"


def majority_label(
    store: Store, task: Task, teacher_source: str, dataset: str = "train"
) -> tuple[str, int] | None:
    """The teacher's most frequent label on ``dataset`` and how many labels it counted, or None.

    Exclusive tasks only (:attr:`~distil.tasks.Task.exclusive`: one label per answer is what "the majority class" means). The
    teacher's *train* labels, never gold's: the teacher labels the gold set too, and a baseline
    that peeked at gold would flatter itself. Ties go to the label that sorts first.
    """
    if not task.exclusive:
        return None
    ids = [ex.id for ex in store.examples(dataset)]
    counts: dict[str, int] = {}
    for pred in store.predictions(teacher_source, ids, dataset=dataset).values():
        if pred.ok and isinstance(pred.output, Categories) and len(pred.output.labels) == 1:
            label = pred.output.labels[0]
            counts[label] = counts.get(label, 0) + 1
    if not counts:
        return None
    label = max(sorted(counts), key=counts.__getitem__)
    return label, sum(counts.values())


def majority_baseline(
    store: Store, task: Task, gold: list[Example], teacher_source: str
) -> dict[str, Any] | None:
    """The report's baseline: the teacher's most frequent train label answered for every gold
    row, scored like a source (None when :func:`majority_label` has none).

    What a student must beat before it has learned anything from the text: on a skewed data
    set, answering the common label everywhere is right most of the time.
    """
    found = majority_label(store, task, teacher_source)
    if found is None:
        return None
    label, n = found
    golds = []
    for ex in gold:
        ref = task.reference(ex)
        if ref is None:
            raise ValueError(f"gold example '{ex.id}' has no reference answer")
        golds.append(ref)
    outputs: list[Any] = [Categories(labels=[label]) for _ in gold]
    return {
        "name": BASELINE_NAME,
        "role": "baseline",
        "label": label,
        "from": {"source": teacher_source, "dataset": "train", "labels": n},
        "scores": task.score(golds, outputs),
    }
