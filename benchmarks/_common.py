"""Helpers shared by the benchmark scripts: data loading and best-of-N timing."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
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


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


__all__ = ["best_of", "load_split", "machine"]
