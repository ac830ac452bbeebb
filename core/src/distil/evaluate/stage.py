"""The evaluate stage: score sources on the gold set and measure their utility.

A source is anything whose predictions are in the store (a teacher's, a student's). Scores come from
the task's scorer plus whatever plugins add through ``distil_evaluate``; utility comes from measured
time (the teacher's recorded latencies, the student's timed ``predict``) and model size.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugins import PluginHost, get_host
from ..records import Example, Prediction
from ..student import Student
from ..tasks import Task
from .report import SourceResult
from .utility import count_words, dir_size

if TYPE_CHECKING:
    from ..store.sqlite import Store


def score_source(
    task: Task,
    gold: list[Example],
    preds: dict[str, Prediction],
    *,
    host: PluginHost | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task's scores for one source, and the metrics plugins add (merged)."""
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
    extra: dict[str, Any] = {}
    for added in host.hook.distil_evaluate(task=task, gold=gold, predictions=aligned):
        if added:
            extra.update(added)
    return scores, extra


def _utility(
    docs: int, words: int, seconds: float, size: int | None, cost: float | None
) -> dict[str, Any]:
    return {
        "docs": docs,
        "words": words,
        "seconds": seconds,
        "docs_per_s": docs / seconds if seconds > 0 else None,
        "words_per_s": words / seconds if seconds > 0 else None,
        "model_size_bytes": size,
        "cost": cost,
        "cost_per_1m_docs": (cost / docs * 1_000_000) if cost is not None and docs else None,
    }


def teacher_result(
    store: Store, task: Task, gold: list[Example], source: str, *, host: PluginHost | None = None
) -> SourceResult:
    """Scores and utility of a teacher whose gold predictions are in the store.

    Speed is sequential-equivalent: total recorded latency of the answers (cache hits keep the
    latency of the original call), so re-running from the cache does not flatter the teacher.
    """
    preds = store.predictions(source, [ex.id for ex in gold])
    scores, extra = score_source(task, gold, preds, host=host)
    answered = [p for p in preds.values()]
    seconds = sum(p.usage.latency_s for p in answered)
    words = count_words([ex.text for ex in gold if ex.id in preds])
    # No price known (a local model, or a provider without a price table entry): cost unknown.
    cost = sum(p.usage.cost for p in answered) or None
    return SourceResult(
        source=source,
        role="teacher",
        name=source.split("#", 1)[0].removeprefix("teacher:"),
        scores=scores,
        utility=_utility(len(answered), words, seconds, None, cost),
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
) -> SourceResult:
    """Predict the gold set with a trained student (timed), store and score the predictions."""
    inputs = [ex.without_answer() for ex in gold]
    started = time.perf_counter()
    outputs = []
    for i in range(0, len(inputs), batch_size):
        outputs.extend(student.predict(inputs[i : i + batch_size]))
    seconds = time.perf_counter() - started
    preds = [
        Prediction(example_id=ex.id, source=source, output=o.output, confidence=o.confidence)
        for ex, o in zip(gold, outputs, strict=True)
    ]
    store.add_predictions(preds)
    scores, extra = score_source(task, gold, {p.example_id: p for p in preds}, host=host)
    words = count_words([ex.text for ex in gold])
    return SourceResult(
        source=source,
        role="student",
        name=source.split("#", 1)[0].removeprefix("student:"),
        scores=scores,
        utility=_utility(len(gold), words, seconds, dir_size(Path(model_dir)), None),
        extra=extra,
    )
