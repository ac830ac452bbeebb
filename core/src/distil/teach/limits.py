"""Rate limits: one token bucket for requests and one for tokens per minute, per teacher.

Every request of a teacher, whichever coroutine sends it, first takes one request and its estimated
tokens from the buckets (:meth:`RateLimiter.acquire`); when the answer's real usage is known the
token bucket is corrected (:meth:`RateLimiter.settle`). A server that answers 429 with
``Retry-After`` pauses the whole limiter (:meth:`RateLimiter.pause`): every request waits, not
only the one that was refused, since they all share the server's limit.

The buckets refill continuously. Their capacity is ``burst_s`` seconds of the rate (at least one
request, and one request's tokens), so requests go out evenly spread instead of a minute's worth
at once: providers enforce their per-minute limits over shorter windows. A request larger than the
token bucket's capacity is admitted when the bucket is full and leaves it in debt.

The servers' own rate-limit headers (OpenAI's ``x-ratelimit-remaining-*`` / ``-reset-*``,
Anthropic's ``anthropic-ratelimit-*``) are read from every answer (:meth:`RateLimiter.observe`):
when one says nothing is left before its reset, every request waits for the reset instead of
being sent into a 429.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

#: The longest wait a rate-limit header may impose (a garbled reset time must not stall a run).
MAX_HEADER_WAIT_S = 120.0


class _Bucket:
    def __init__(self, per_minute: float, burst_s: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self, amount: float) -> float:
        """Seconds until ``amount`` (or a full bucket, if it is larger) is available."""
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate


def header_pause(state: Mapping[str, float] | None) -> float:
    """Seconds to hold every request for, from what a server said of its limits
    (:func:`~distil.teach.http_errors.rate_limit_state`): until the reset when no request (or
    token) is left, capped at :data:`MAX_HEADER_WAIT_S`; 0 when the server said nothing of it.
    Every limiter (the local one, a plugin's distributed one) applies the same rule."""
    if not state:
        return 0.0
    pause = 0.0
    for remaining, reset in (
        ("remaining_requests", "reset_requests_s"),
        ("remaining_tokens", "reset_tokens_s"),
    ):
        left, wait = state.get(remaining), state.get(reset)
        if left is not None and left <= 0 and wait is not None:
            pause = max(pause, min(float(wait), MAX_HEADER_WAIT_S))
    return pause


class RateLimiter:
    """Requests and tokens per minute shared by all concurrent requests; None means unlimited."""

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        burst_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm), ("burst_s", burst_s)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.clock = clock
        now = clock()
        self.requests = _Bucket(rpm, burst_s, now) if rpm else None
        self.tokens = _Bucket(tpm, burst_s, now) if tpm else None
        self.paused_until = 0.0
        self.waited_s = 0.0
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def unlimited(self) -> bool:
        return self.requests is None and self.tokens is None

    def _get_lock(self) -> asyncio.Lock:
        # A lock belongs to one event loop; `Teacher.label` runs a fresh loop per call.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one request with about ``tokens`` tokens may go out, then take them.

        Callers are served in arrival order (the lock is fair), so no request starves.
        """
        if self.unlimited and self.paused_until <= self.clock():
            return
        async with self._get_lock():
            while True:
                now = self.clock()
                wait = self.paused_until - now
                if wait <= 0:
                    wait = 0.0
                    for bucket, amount in ((self.requests, 1), (self.tokens, tokens)):
                        if bucket is not None:
                            bucket.refill(now)
                            wait = max(wait, bucket.wait(amount))
                if wait <= 0:
                    if self.requests is not None:
                        self.requests.level -= 1
                    if self.tokens is not None:
                        self.tokens.level -= tokens
                    return
                self.waited_s += wait
                await asyncio.sleep(wait)

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once a request's real token count is known."""
        if self.tokens is not None:
            self.tokens.refill(self.clock())
            self.tokens.level = min(self.tokens.capacity, self.tokens.level + estimated - actual)

    def observe(self, state: Mapping[str, float] | None) -> None:
        """Slow down before a 429: what a server's answer said of its limits
        (:func:`~distil.teach.http_errors.rate_limit_state`). No request left before the reset
        (``remaining_requests`` or ``remaining_tokens`` at 0) holds every request until then,
        so the next one goes out when the server will take it instead of being refused."""
        wait = header_pause(state)
        if wait > 0:
            self.pause(wait)

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a 429's ``Retry-After``); never shortens a pause."""
        self.paused_until = max(self.paused_until, self.clock() + max(0.0, seconds))
