"""Run a coroutine to completion from synchronous code, whether or not an event loop is running.

distil's synchronous API (``Project.label``, ``Teacher.label``, ...) drives async teachers. Plain
``asyncio.run`` refuses to start when the calling thread already runs an event loop, which is
always the case in Jupyter and IPython (and inside any ``async def``): the call failed with
"asyncio.run() cannot be called from a running event loop". :func:`run_sync` is the one place
core turns a coroutine into a result:

* no loop running in this thread (a script, the CLI, a test): ``asyncio.run``, as before;
* a loop running (a notebook cell, a coroutine calling the sync API): the coroutine runs in a
  worker thread with its own fresh loop, and this thread waits for it. The caller's loop is
  blocked meanwhile, which is what a synchronous call means; nothing is scheduled on it.

Exceptions propagate unchanged, and ``contextvars`` are copied into the worker. A Ctrl-C (a
notebook's "interrupt") reaches the waiting thread, not the worker: the worker finishes its
current step and every answer it stored stays stored, so the next call resumes.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result, run on a new event loop (see the module docstring for where)."""
    if not _loop_running():
        return asyncio.run(coro)
    context = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:  # re-raised in the calling thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="distil-run-sync", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
