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
