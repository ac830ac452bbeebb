"""Helpers shared by the benchmark scripts: data loading and timing.

Timing comparisons use :func:`interleaved` (the sides alternate round by round, so a slow spell of a
shared machine hits every side alike) with CPU time (:data:`CPU`, the process's user + system time)
where one thread does the work, and wall time (:data:`WALL`) only where concurrency is the point.
:func:`best_of` (sequential best-of-N blocks) is kept for the scripts not yet moved over.
"""

from __future__ import annotations

import gc
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from distil.testing import load_split


def best_of(fn: Callable[[], Any], repeats: int = 5) -> float:
    """The fastest of ``repeats`` runs, in seconds (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


#: CPU seconds of this process, all its threads (not a server in another process, not idle waits).
CPU: Callable[[], float] = time.process_time
#: Wall-clock seconds: for what concurrency or waiting is the point of.
WALL: Callable[[], float] = time.perf_counter


def interleaved(
    sides: dict[str, Callable[[], Any]],
    repeats: int,
    *,
    clock: Callable[[], float] = CPU,
    warm_up: bool = True,
    collect: bool = True,
) -> dict[str, list[float]]:
    """Seconds of each side per round, by ``clock``, the sides run in turn ``repeats`` times.

    The order rotates round by round (A B C, B C A, C A B, then the same reversed), so each side
    runs as often first, last and after each other side; each side runs once untimed first when
    ``warm_up``, and a full garbage collection precedes each timed call when ``collect``.
    Read the result with :func:`medians` and :func:`median_ratio`.
    """
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    if warm_up:
        for name in names:
            sides[name]()
    for round_ in range(repeats):
        shift = round_ % len(names)
        order = names[shift:] + names[:shift]
        if (round_ // len(names)) % 2:
            order = order[::-1]
        for name in order:
            if collect:
                gc.collect()
            started = clock()
            sides[name]()
            times[name].append(clock() - started)
    return times


def medians(times: dict[str, list[float]]) -> dict[str, float]:
    """The median of each side's samples."""
    return {name: statistics.median(samples) for name, samples in times.items()}


def median_ratio(times: dict[str, list[float]], side: str, base: str) -> float:
    """The median of the per-round ratios ``side / base`` (robust to a round slow for both)."""
    return statistics.median(a / b for a, b in zip(times[side], times[base], strict=True))


def median_difference(times: dict[str, list[float]], side: str, base: str) -> float:
    """The median of the per-round differences ``side - base``, in seconds."""
    return statistics.median(a - b for a, b in zip(times[side], times[base], strict=True))


@contextmanager
def timed(result: Any, name: str) -> Iterator[None]:
    """Time one step into ``result.seconds[name]`` and print progress (``result.dataset`` names it)."""
    print(f"[{result.dataset}] {name} ...", flush=True)
    started = time.perf_counter()
    yield
    result.seconds[name] = time.perf_counter() - started
    print(f"[{result.dataset}] {name}: {result.seconds[name]:.1f} s", flush=True)


def sample(examples: list[Any], limit: int | None, seed: int) -> list[Any]:
    """A seeded random sample of ``limit`` rows (all rows, shuffled, when ``limit`` is None)."""
    rows = list(examples)
    random.Random(seed).shuffle(rows)
    return rows[:limit] if limit is not None else rows


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


__all__ = [
    "CPU",
    "WALL",
    "best_of",
    "interleaved",
    "load_split",
    "machine",
    "median_difference",
    "median_ratio",
    "medians",
    "sample",
    "timed",
]
