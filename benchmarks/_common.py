"""Helpers shared by the benchmark scripts: data loading and best-of-N timing."""

from __future__ import annotations

import platform
import random
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


__all__ = ["best_of", "load_split", "machine", "sample", "timed"]
