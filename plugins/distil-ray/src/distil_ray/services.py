"""The two services a label job shares across its workers, run as named Ray actors.

:class:`SharedBudget` holds the provider's rate limit for the whole cluster. A provider's
requests- and tokens-per-minute limit is per API key, not per process: with ten workers each
holding its own limiter the cluster would send ten times the limit and be answered with 429s.
So one actor holds the token buckets, and every worker's teacher asks it before each request
(:class:`RemoteLimiter` stands in for the teacher's local limiter). The actor hands out
*reservations*: it takes the request and its tokens at once and says how long to wait, so one
round trip per request suffices and the order is first come, first served.

:class:`ResultLog` makes a job resumable without asking anything twice. Each worker hands it every
answer as soon as the teacher has it; the log appends it to a JSONL shard and flushes it before
returning, and keeps the keys it has in memory. A worker starting a batch (a retry after a
worker died, or a restarted job) first asks the log which examples are already answered and sends
only the others. One actor serialises the appends, so no answer is written twice.

Both are plain classes (tested here without Ray) made into actors by :mod:`.executor`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import distil

from .shards import iter_result_lines


class _Bucket:
    """A token bucket that may go into debt: a reservation is taken now and waited for later."""

    def __init__(self, per_minute: float, burst_s: float, now: float) -> None:
        if per_minute <= 0:
            raise ValueError(f"a rate limit must be positive, got {per_minute}")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.updated = now

    def reserve(self, amount: float, now: float) -> float:
        """Take ``amount`` and return the seconds until it is covered (0: at once).

        An amount above the capacity waits for a full bucket and leaves it in debt, as the local
        limiter does, so a large request is admitted instead of waiting forever.
        """
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        need = min(amount, self.capacity)
        wait = 0.0 if self.level >= need else (need - self.level) / self.rate
        self.level -= amount
        return wait


class SharedBudget:
    """Requests and tokens per minute for every worker of a job (None: that limit is off)."""

    def __init__(
        self,
        rpm: float | None,
        tpm: float | None,
        burst_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        now = clock()
        self.requests = _Bucket(rpm, burst_s, now) if rpm else None
        self.tokens = _Bucket(tpm, burst_s, now) if tpm else None
        self.paused_until = 0.0
        self.granted = 0
        self.waited_s = 0.0

    def reserve(self, tokens: int = 0) -> float:
        """Reserve one request with ``tokens`` tokens; the caller sleeps the returned seconds."""
        now = self.clock()
        wait = max(0.0, self.paused_until - now)
        if self.requests is not None:
            wait = max(wait, self.requests.reserve(1, now))
        if self.tokens is not None:
            wait = max(wait, self.tokens.reserve(tokens, now))
        self.granted += 1
        self.waited_s += wait
        return wait

    def settle(self, estimated: int, actual: int) -> None:
        """Give back (or take) the difference once a request's real token count is known."""
        if self.tokens is not None:
            self.tokens.level = min(self.tokens.capacity, self.tokens.level + estimated - actual)

    def pause(self, seconds: float) -> None:
        """Hold every worker's requests for ``seconds`` (a 429's ``Retry-After``)."""
        self.paused_until = max(self.paused_until, self.clock() + max(0.0, seconds))

    def stats(self) -> dict[str, float]:
        return {"granted": self.granted, "waited_s": self.waited_s}


class RemoteLimiter:
    """The teacher's rate limiter on a worker, backed by the job's :class:`SharedBudget` actor.

    It has the local limiter's interface (``acquire``/``settle``/``pause``, and ``requests`` /
    ``tokens`` that are None when that limit is off), so the teacher's request policy runs
    unchanged on a worker.
    """

    def __init__(self, budget: Any | None, *, requests: bool, tokens: bool) -> None:
        self.budget = budget
        self.requests: bool | None = True if requests else None
        self.tokens: bool | None = True if tokens else None
        self.waited_s = 0.0

    @property
    def unlimited(self) -> bool:
        return self.requests is None and self.tokens is None

    async def acquire(self, tokens: int = 0) -> None:
        if self.budget is None:
            return
        wait = await self.budget.reserve.remote(tokens)
        if wait > 0:
            self.waited_s += wait
            await asyncio.sleep(wait)

    def settle(self, estimated: int, actual: int) -> None:
        if self.budget is not None:
            self.budget.settle.remote(estimated, actual)

    def pause(self, seconds: float) -> None:
        if self.budget is not None:
            self.budget.pause.remote(seconds)

    def observe(self, state: Any) -> None:
        """A server's remaining/reset headers: no request left holds every worker until the
        reset (the local limiter's rule, :func:`distil.header_pause`)."""
        wait = distil.header_pause(state)
        if wait > 0:
            self.pause(wait)


class ResultLog:
    """The durable record of a job's answers: JSONL shards in ``folder``, keys in memory.

    On start it reads the shards a killed earlier job left, so their examples count as done.
    Each instance appends to a shard of its own (``part-<uuid>.jsonl``).
    """

    def __init__(self, folder: str, sync_every_s: float = 1.0) -> None:
        self.folder = Path(folder)
        self.sync_every_s = sync_every_s
        self._synced = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict[str, Any]] = {}
        for record in iter_result_lines(self.folder):
            self.records.setdefault(record["key"], record)
        self.path = self.folder / f"part-{uuid.uuid4().hex[:12]}.jsonl"
        self._fh = self.path.open("a", encoding="utf-8")

    def lookup(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The records already logged for any of ``keys``."""
        return {k: self.records[k] for k in keys if k in self.records}

    def add(self, records: list[dict[str, Any]]) -> int:
        """Append the records not logged yet; written to the file before this returns.

        The write is flushed to the operating system at once, so it survives the death of any
        process (a worker, this actor, the driver). It is fsync'd at most every
        ``sync_every_s`` seconds: an fsync per answer would cost more than the answers, and
        only a crash of the whole node can lose that last second (those examples are asked
        again; nothing is stored twice).
        """
        new = [r for r in records if r["key"] not in self.records]
        for r in new:
            self._fh.write(json.dumps(r, separators=(",", ":")) + "\n")
            self.records[r["key"]] = r
        if new:
            self._fh.flush()
            if time.monotonic() - self._synced >= self.sync_every_s:
                os.fsync(self._fh.fileno())
                self._synced = time.monotonic()
        return len(new)

    def count(self) -> int:
        return len(self.records)

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
