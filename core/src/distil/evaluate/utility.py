"""Utility figures of a source: throughput, latency, size and money.

Quality alone does not decide whether a student replaces its teacher; what it costs to run does too.
:class:`Utility` holds those figures in one JSON-able record, :func:`measure` times any batched
callable to produce one, and :func:`dir_size` / :func:`count_words` are the small helpers behind it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


def count_words(texts: Iterable[str]) -> int:
    """Number of whitespace-separated words in all ``texts`` (``str.split()`` semantics)."""
    return sum(len(text.split()) for text in texts)


def dir_size(path: str | Path) -> int:
    """Bytes on disk of a file, or of every regular file below a folder (symlinks not followed)."""
    root = Path(path)
    if root.is_file():
        return root.stat().st_size
    if not root.is_dir():
        raise FileNotFoundError(f"cannot measure the size of {root}: no such file or folder")
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            file = Path(folder) / name
            if file.is_file() and not file.is_symlink():
                total += file.stat().st_size
    return total


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class Utility(BaseModel):
    """What running a source over ``docs`` documents took.

    Rates are per wall-clock second over the whole run. Latency percentiles are in milliseconds over
    the timed calls; ``latency_unit`` says whether one call was one document or one batch
    (``batch_size`` documents). Optional figures are ``None`` when unknown: ``cost`` is the money
    spent on the run (in the provider's currency), ``cost_per_1m_docs`` scales it to a million docs.
    ``cost_basis`` says where the cost came from: ``"price"`` (the provider's price table, via the
    ledger) or ``"compute"`` (measured seconds × the configured $/CPU-hour, see
    :func:`compute_cost`). ``peak_memory_bytes`` is the tracemalloc peak of one predict call
    (Python-heap allocations only: memory a native library allocates on its own is not seen).
    """

    model_config = ConfigDict(extra="forbid")

    docs: int = Field(ge=0)
    words: int = Field(ge=0)
    seconds: float = Field(ge=0)
    docs_per_s: float | None = None
    words_per_s: float | None = None
    p50_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    latency_unit: Literal["doc", "batch"] | None = None
    batch_size: int | None = None
    model_size_bytes: int | None = None
    cost: float | None = None
    cost_per_1m_docs: float | None = None
    cost_basis: Literal["price", "compute"] | None = None
    peak_memory_bytes: int | None = None

    @classmethod
    def from_timings(
        cls,
        *,
        docs: int,
        words: int,
        seconds: float,
        latencies_s: Sequence[float] | None = None,
        batch_size: int | None = None,
        model_size_bytes: int | None = None,
        cost: float | None = None,
        cost_basis: Literal["price", "compute"] | None = None,
        peak_memory_bytes: int | None = None,
    ) -> Utility:
        """Derive rates, latency percentiles and cost per million docs from raw measurements.

        ``latencies_s`` are the durations of the individual calls in seconds; with
        ``batch_size`` greater than 1 they are per batch, otherwise per document.
        """
        p50 = p95 = None
        unit: Literal["doc", "batch"] | None = None
        if latencies_s:
            p50 = _percentile(latencies_s, 50) * 1000.0
            p95 = _percentile(latencies_s, 95) * 1000.0
            unit = "batch" if batch_size is not None and batch_size > 1 else "doc"
        return cls(
            docs=docs,
            words=words,
            seconds=seconds,
            docs_per_s=docs / seconds if seconds > 0 else None,
            words_per_s=words / seconds if seconds > 0 else None,
            p50_latency_ms=p50,
            p95_latency_ms=p95,
            latency_unit=unit,
            batch_size=batch_size,
            model_size_bytes=model_size_bytes,
            cost=cost,
            cost_per_1m_docs=cost / docs * 1_000_000 if cost is not None and docs else None,
            cost_basis=cost_basis if cost is not None else None,
            peak_memory_bytes=peak_memory_bytes,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field (``None`` where unknown)."""
        return self.model_dump(mode="json")


def _text_of(item: Any) -> str:
    if isinstance(item, str):
        return item
    text = getattr(item, "text", None)
    if isinstance(text, str):
        return text
    raise TypeError(f"cannot count the words of {type(item).__name__}: give str or Example items")


def measure(
    fn: Callable[[list[T]], Iterable[Any]],
    examples: Sequence[T],
    *,
    batch_size: int = 32,
    model_size_bytes: int | None = None,
    cost: float | None = None,
) -> tuple[list[Any], Utility]:
    """Call ``fn`` on consecutive batches of ``examples`` and time it.

    ``fn`` takes a list of examples (``str`` or anything with a ``.text``) and returns one result
    per example; the results of all batches are concatenated in order. Each call is timed with
    ``time.perf_counter``; the latencies are per batch (per document when ``batch_size`` is 1).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    items = list(examples)
    words = count_words(_text_of(item) for item in items)
    results: list[Any] = []
    latencies: list[float] = []
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        t0 = time.perf_counter()
        out = list(fn(batch))
        latencies.append(time.perf_counter() - t0)
        if len(out) != len(batch):
            raise ValueError(
                f"the measured function returned {len(out)} results for a batch of {len(batch)}"
            )
        results.extend(out)
    utility = Utility.from_timings(
        docs=len(items),
        words=words,
        seconds=sum(latencies),
        latencies_s=latencies,
        batch_size=batch_size,
        model_size_bytes=model_size_bytes,
        cost=cost,
    )
    return results, utility


# -- money ----------------------------------------------------------------------------------------
def compute_cost(seconds: float, cpu_hour_cost: float) -> float:
    """What ``seconds`` of one CPU cost at ``cpu_hour_cost`` $ per CPU-hour.

    This prices models that have no price table (local teachers, students, training runs) from
    measured wall-clock time on one process; it is an estimate whose rate is an assumption of the
    config (``[evaluate] cpu_hour_cost``), not a bill.
    """
    return seconds * cpu_hour_cost / 3600.0


def break_even(
    *,
    teacher_cost_per_doc: float | None,
    student_cost_per_doc: float | None,
    human_annotations: int,
    training_seconds: float,
    seconds_per_annotation: float,
    annotation_hour_cost: float,
    cpu_hour_cost: float,
    teacher_share: float = 0.0,
) -> dict[str, Any]:
    """After how many documents the distilled student is cheaper than calling the teacher.

    The student's fixed cost is the human time behind its training data
    (``human_annotations × seconds_per_annotation / 3600 × annotation_hour_cost``) plus its
    training compute (:func:`compute_cost` of ``training_seconds``); each document then saves
    ``teacher_cost_per_doc − student_cost_per_doc``. ``break_even_docs`` is fixed / saving, or
    ``None`` when the student saves nothing per document (it never pays off) or a cost is unknown.
    Teacher labels the student was trained on are not counted: they were bought either way.

    ``teacher_share`` is the share of documents for which the student still needs the teacher (an
    extraction composite's pending fields, answered by the LLM in the cascade): each such document
    also costs a teacher call (counted as a whole call, an upper bound for a prompt that asks for
    the pending fields alone), so the student's cost per document becomes
    ``student + teacher_share × teacher`` and a student that leaves every document to the teacher
    never pays for itself.
    """
    if not 0.0 <= teacher_share <= 1.0:
        raise ValueError(f"teacher_share must be between 0 and 1, got {teacher_share}")
    annotation = human_annotations * seconds_per_annotation / 3600.0 * annotation_hour_cost
    training = compute_cost(training_seconds, cpu_hour_cost)
    fixed = annotation + training
    if student_cost_per_doc is not None and teacher_share:
        student_cost_per_doc = (
            None
            if teacher_cost_per_doc is None
            else student_cost_per_doc + teacher_share * teacher_cost_per_doc
        )
    saving = (
        teacher_cost_per_doc - student_cost_per_doc
        if teacher_cost_per_doc is not None and student_cost_per_doc is not None
        else None
    )
    return {
        "human_annotations": human_annotations,
        "annotation_cost": annotation,
        "training_seconds": training_seconds,
        "training_cost": training,
        "fixed_cost": fixed,
        "teacher_cost_per_doc": teacher_cost_per_doc,
        "student_cost_per_doc": student_cost_per_doc,
        "saving_per_doc": saving,
        "break_even_docs": fixed / saving if saving is not None and saving > 0 else None,
        "teacher_share": teacher_share,
    }


def single_doc_latencies(
    fn: Callable[[list[T]], Iterable[Any]], examples: Sequence[T], n: int = 50
) -> list[float]:
    """Seconds of ``fn`` on one document at a time, for the first ``n`` of ``examples``.

    Batched throughput hides what one request waits; this is the latency a service calling the
    model per document sees (p50/p95 are taken over these).
    """
    out = []
    for item in list(examples)[:n]:
        t0 = time.perf_counter()
        list(fn([item]))
        out.append(time.perf_counter() - t0)
    return out


def peak_memory(fn: Callable[[list[T]], Iterable[Any]], batch: Sequence[T]) -> int:
    """The tracemalloc peak (bytes) while ``fn`` predicts ``batch``: Python-heap only.

    Run separately from the timed passes because tracing slows allocation down. Memory that a
    native library allocates outside Python's allocator (some BLAS buffers, torch) is not counted.
    """
    import tracemalloc

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        list(fn(list(batch)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - base)
