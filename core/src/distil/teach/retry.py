"""The retry policy of the teacher loop, the only retry layer (providers turn SDK retries off).

What distil adds over the SDKs' own retries (two retries, 0.5·2ⁿ s capped at 8 s, ``Retry-After``
honoured only up to 120 s, then the error is raised):

* more patience: ``max_retries`` (6) retries with exponential backoff and jitter, base 0.5 s,
  capped at 30 s, so an outage of a minute or two costs a wait, not a lost example;
* ``Retry-After`` is honoured exactly, whatever its length, up to ``max_retry_wait`` (600 s);
  beyond it the example is recorded as a failure saying why, instead of a silent hour-long sleep;
* a 429 pauses the whole rate limiter, not only the refused request (see :mod:`.limits`);
* a request that still fails becomes a stored failed prediction with the reason (``gave up after
  7 attempts: ...``) and the run goes on; a permanent error (auth, bad request, unknown model)
  stops the run at once, with every earlier answer already stored.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import TransientProviderError


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a :class:`~distil.errors.TransientProviderError`, and how long to wait."""

    max_retries: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    max_retry_wait: float = 600.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be at least 0, got {self.max_retries}")
        if self.base_s < 0 or self.cap_s < 0 or self.max_retry_wait < 0:
            raise ValueError("retry waits must not be negative")

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0-based) without ``Retry-After``.

        Exponential with "equal jitter": half the step is fixed, half random, so concurrent
        requests that failed together do not come back together, yet each waits a while.
        """
        step = min(self.cap_s, self.base_s * (2**retry))
        return step / 2 + random.uniform(0, step / 2)

    def wait_for(self, retry: int, error: TransientProviderError) -> float | None:
        """Seconds to wait before retry number ``retry``, or None to give up now."""
        if retry >= self.max_retries:
            return None
        if error.retry_after is not None:
            wait = max(0.0, float(error.retry_after))
            return wait if wait <= self.max_retry_wait else None
        return self.backoff(retry)

    def give_up_reason(self, attempts: int, error: TransientProviderError) -> str:
        """Why the request was abandoned, for the failed prediction's ``error``."""
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if (
            attempts <= self.max_retries
            and error.retry_after is not None
            and error.retry_after > self.max_retry_wait
        ):
            return (
                f"gave up after {tries}: the provider "
                f"asked to wait {error.retry_after:g} s (Retry-After), more than "
                f"label.max_retry_wait = {self.max_retry_wait:g} s: {_message(error)}"
            )
        return f"gave up after {tries}: {_message(error)}"


def _message(error: Exception) -> str:
    # DistilError's str() starts with its code; the reason reads better without it.
    text = Exception.__str__(error)
    return text or type(error).__name__
