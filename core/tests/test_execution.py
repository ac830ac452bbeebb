"""The execution layer of the teacher loop: retries, rate limits, re-asks, cost, budget, ledger.

The providers here are in-test stand-ins that raise distil's provider errors the way the real
provider plugins do (their SDK + loopback server tests live with the plugins); every timing is
measured with ``time.monotonic`` on small waits.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import pytest

from distil import (
    BudgetExceeded,
    Completion,
    Example,
    Prompt,
    PromptTeacher,
    Provider,
    ProviderError,
    RateLimitError,
    TextCat,
    TransientProviderError,
    Usage,
)
from distil.store.sqlite import Store
from distil.teach.limits import RateLimiter
from distil.teach.pricing import Price, PriceTable, format_cost, prompt_tokens
from distil.teach.retry import RetryPolicy
from distil.teach.runner import label_dataset

Outcome = str | Completion | Exception


class FlakyProvider(Provider):
    """Answers each user text from a script of outcomes, one per call, then ``default``.

    An outcome is an answer text, a Completion, or an exception to raise. Every call is logged
    with its time (``time.monotonic``) and the messages it got.
    """

    name = "test.flaky"

    def __init__(
        self,
        script: dict[str, list[Outcome]] | None = None,
        *,
        default: str = '{"labels": ["ham"]}',
        delay: float = 0.0,
        delays: dict[str, float] | None = None,
        usage: Callable[[Prompt], Usage] | None = None,
    ) -> None:
        super().__init__("flaky-1", {"max_tokens": 20})
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.default = default
        self.delay = delay
        self.delays = delays or {}
        self.usage = usage or (lambda prompt: Usage(input_tokens=10, output_tokens=3))
        self.calls: list[tuple[float, str, Prompt]] = []

    async def complete(self, prompt: Prompt) -> Completion:
        text = prompt.messages[1].content
        self.calls.append((time.monotonic(), text, prompt))
        await asyncio.sleep(self.delays.get(text, self.delay))
        queue = self.script.get(text)
        outcome: Outcome = queue.pop(0) if queue else self.default
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, Completion):
            return outcome
        return Completion(text=outcome, usage=self.usage(prompt))

    def times(self, text: str) -> list[float]:
        return [t for t, x, _ in self.calls if x == text]


@pytest.fixture
def task() -> TextCat:
    return TextCat(["ham", "spam"])


def examples(n: int) -> list[Example]:
    return [Example(id=f"e{i}", text=f"text {i}") for i in range(n)]


def fast_retry(**kwargs: float) -> RetryPolicy:
    return RetryPolicy(**{"base_s": 0.01, "cap_s": 0.05, **kwargs})  # type: ignore[arg-type]


def store_with(tmp_path, n: int) -> Store:
    store = Store(tmp_path / "p.db")
    store.add_examples(examples(n), "train")
    return store


# -- retries ----------------------------------------------------------------------------------


def test_retry_after_is_waited_exactly_then_the_request_succeeds(isolated_host, task) -> None:
    provider = FlakyProvider(
        {"text 0": [RateLimitError("429 slow down", retry_after=0.2, status=429)]}
    )
    teacher = PromptTeacher(provider)
    [pred] = teacher.label(task, examples(1))
    first, second = provider.times("text 0")
    assert 0.2 <= second - first < 0.35
    assert pred.ok and pred.usage.attempts == 2
    assert (teacher.ledger.requests, teacher.ledger.retries) == (2, 1)


def test_backoff_without_retry_after_grows_exponentially(isolated_host, task) -> None:
    busy = [TransientProviderError("503 overloaded", status=503) for _ in range(3)]
    provider = FlakyProvider({"text 0": busy})
    teacher = PromptTeacher(provider, retry=RetryPolicy(base_s=0.1, cap_s=0.3))
    [pred] = teacher.label(task, examples(1))
    t = provider.times("text 0")
    gaps = [b - a for a, b in itertools.pairwise(t)]
    # equal jitter: retry n waits between half and all of min(cap, base * 2**n)
    assert 0.05 <= gaps[0] < 0.1 + 0.05
    assert 0.1 <= gaps[1] < 0.2 + 0.05
    assert 0.15 <= gaps[2] < 0.3 + 0.05  # capped at 0.3
    assert pred.ok and pred.usage.attempts == 4


def test_gives_up_after_max_retries_records_a_failure_and_the_run_goes_on(
    isolated_host, task, tmp_path
) -> None:
    down = [TransientProviderError("503 service unavailable", status=503) for _ in range(10)]
    provider = FlakyProvider({"text 1": down})
    teacher = PromptTeacher(provider, retry=fast_retry(max_retries=2))
    store = store_with(tmp_path, 4)
    result = label_dataset(store, task, teacher, "train")
    assert (result.labelled, result.failures) == (4, 1)
    assert len(provider.times("text 1")) == 3
    stored = store.predictions(teacher.source(task))
    assert stored["e1"].error == "gave up after 3 attempts: 503 service unavailable"
    assert stored["e1"].output is None and stored["e1"].raw == ""
    assert all(stored[f"e{i}"].ok for i in (0, 2, 3))
    assert result.ledger["gave_up"] == 1 and result.ledger["retries"] == 2


def test_retry_after_beyond_max_retry_wait_fails_at_once_saying_why(isolated_host, task) -> None:
    provider = FlakyProvider({"text 0": [RateLimitError("429 quota", retry_after=900)]})
    teacher = PromptTeacher(provider, retry=RetryPolicy(max_retry_wait=600))
    started = time.monotonic()
    [pred] = teacher.label(task, examples(1))
    assert time.monotonic() - started < 1.0
    assert len(provider.calls) == 1
    assert pred.error == (
        "gave up after 1 attempt: the provider asked to wait 900 s (Retry-After), more than "
        "label.max_retry_wait = 600 s: 429 quota"
    )


def test_a_429_retry_after_pauses_every_request_not_only_the_refused_one(
    isolated_host, task
) -> None:
    # e0 is refused with Retry-After 0.3; e1 is in flight and ends at ~0.05; e2 then must wait
    # for the pause to end, although its own request was never refused.
    provider = FlakyProvider(
        {"text 0": [RateLimitError("429", retry_after=0.3)]},
        delays={"text 1": 0.05},
    )
    teacher = PromptTeacher(provider, concurrency=2)
    started = time.monotonic()
    preds = teacher.label(task, examples(3))
    assert all(p.ok for p in preds)
    assert provider.times("text 1")[0] - started < 0.05
    assert provider.times("text 2")[0] - started >= 0.29


def test_a_permanent_error_stops_the_run_with_earlier_answers_stored(
    isolated_host, task, tmp_path
) -> None:
    provider = FlakyProvider({"text 3": [ProviderError("401 invalid API key")]})
    teacher = PromptTeacher(provider, concurrency=1)
    store = store_with(tmp_path, 10)
    run_id = store.start_run("label")
    with pytest.raises(ProviderError, match="401 invalid API key"):
        label_dataset(store, task, teacher, "train", run_id=run_id)
    assert sorted(store.answered_ids(teacher.source(task))) == ["e0", "e1", "e2"]
    assert [text for _, text, _ in provider.calls] == ["text 0", "text 1", "text 2", "text 3"]
    run = store.get_run(run_id)
    assert run is not None and run["stats"]["labelled"] == 3
    # the next run resumes after the key is fixed
    label_dataset(store, task, teacher, "train")
    assert len(store.answered_ids(teacher.source(task))) == 10


# -- rate limits ------------------------------------------------------------------------------


def test_rpm_spaces_a_burst_after_the_bucket_empties(isolated_host, task) -> None:
    provider = FlakyProvider()
    teacher = PromptTeacher(provider, concurrency=10)
    # 120 requests per minute = 2 per second; 2.5 s of burst = 5 requests at once
    teacher.execution.limiter = RateLimiter(rpm=120, burst_s=2.5)
    teacher.label(task, examples(10))
    t = sorted(t for t, _, _ in provider.calls)
    assert t[4] - t[0] < 0.1  # the first five go at once
    gaps = [b - a for a, b in itertools.pairwise(t[4:])]
    assert all(0.4 < g < 0.65 for g in gaps), gaps  # then one every 0.5 s


def test_tpm_waits_for_tokens_and_is_corrected_by_actual_usage() -> None:
    async def scenario() -> tuple[float, float]:
        limiter = RateLimiter(tpm=6000, burst_s=1.0)  # 100 tokens a second, 100 at most at once
        started = time.monotonic()
        await limiter.acquire(60)
        await limiter.acquire(60)  # 40 left: waits ~0.2 s for 20 more
        waited = time.monotonic() - started
        limiter.settle(estimated=60, actual=0)  # the answer used nothing: the 60 come back
        before = time.monotonic()
        await limiter.acquire(60)
        return waited, time.monotonic() - before

    waited, after_settle = asyncio.run(scenario())
    assert 0.18 <= waited < 0.35
    assert after_settle < 0.05


def test_unlimited_limiter_never_waits(isolated_host, task) -> None:
    provider = FlakyProvider()
    started = time.monotonic()
    PromptTeacher(provider, concurrency=50).label(task, examples(200))
    assert time.monotonic() - started < 1.0


# -- re-ask -----------------------------------------------------------------------------------


def tokens_by_turn(prompt: Prompt) -> Usage:
    return Usage(input_tokens=10 * len(prompt.messages), output_tokens=3)


def test_reask_fixes_an_invalid_answer_and_usage_sums_both(isolated_host, task) -> None:
    provider = FlakyProvider(
        {"text 0": ['{"labels": ["eggs"]}', '{"labels": ["spam"]}']}, usage=tokens_by_turn
    )
    teacher = PromptTeacher(provider, price=Price(input=1.0, output=2.0))
    [pred] = teacher.label(task, examples(1))
    assert pred.ok and pred.output is not None and pred.output.labels == ["spam"]
    first, second = (p for _, _, p in provider.calls)
    assert second.messages[:2] == first.messages
    assert second.messages[2].role == "assistant"
    assert second.messages[2].content == '{"labels": ["eggs"]}'
    assert second.messages[3].role == "user"
    assert second.messages[3].content.startswith("Your answer was invalid: ")
    assert "eggs" in second.messages[3].content
    assert second.messages[3].content.endswith(
        "Answer again with JSON only that matches the schema."
    )
    assert (pred.usage.input_tokens, pred.usage.output_tokens) == (20 + 40, 6)
    assert pred.usage.attempts == 2
    assert pred.usage.cost == pytest.approx((60 * 1.0 + 6 * 2.0) / 1e6)
    assert teacher.ledger.reasks == 1 and teacher.ledger.input_tokens == 60


def test_an_answer_still_invalid_after_the_reask_is_a_parse_failure(isolated_host, task) -> None:
    provider = FlakyProvider({"text 0": ["no idea", '{"labels": ["eggs"]}']})
    [pred] = PromptTeacher(provider).label(task, examples(1))
    assert pred.output is None and "not in the task's labels" in (pred.error or "")
    assert pred.raw == '{"labels": ["eggs"]}'
    assert len(provider.calls) == 2 and pred.usage.input_tokens == 20


def test_truncated_and_refused_answers_are_not_reasked(isolated_host, task) -> None:
    provider = FlakyProvider(
        {
            "text 0": [Completion(text='{"labels": ["sp', finish_reason="length")],
            "text 1": [Completion(text="", refusal="I can't help with that")],
        }
    )
    preds = PromptTeacher(provider).label(task, examples(2))
    assert len(provider.calls) == 2
    assert "truncated" in (preds[0].error or "") and "refused" in (preds[1].error or "")


# -- cost, ledger, budget ----------------------------------------------------------------------


def test_price_table_prices_usage_and_the_ledger_adds_it_up(isolated_host, task, tmp_path) -> None:
    table = PriceTable.from_config(
        {'"test.flaky/flaky-1"': {"input": 3.0, "output": 15.0, "batch_discount": 0.5}}
    )
    provider = FlakyProvider()
    price = table.for_provider(provider)
    assert price == Price(input=3.0, output=15.0, batch_discount=0.5)
    teacher = PromptTeacher(provider, price=price)
    store = store_with(tmp_path, 5)
    result = label_dataset(store, task, teacher, "train")
    each = (10 * 3.0 + 3 * 15.0) / 1e6
    stored = store.predictions(teacher.source(task))
    assert all(p.usage.cost == pytest.approx(each) for p in stored.values())
    assert result.ledger["cost"] == pytest.approx(5 * each)
    assert (result.ledger["input_tokens"], result.ledger["output_tokens"]) == (50, 15)
    assert (result.ledger["requests"], result.ledger["cache_hits"]) == (5, 0)
    # a second run over a bigger set: the first five come from the cache, free
    store.add_examples(examples(7), "train")
    store.delete_predictions(teacher.source(task))
    again = label_dataset(store, task, teacher, "train")
    assert (again.ledger["requests"], again.ledger["cache_hits"]) == (2, 5)
    assert again.ledger["cost"] == pytest.approx(2 * each)
    assert price.cost(1_000_000, 0, batch=True) == 1.5


def test_an_unknown_price_is_an_unknown_cost(isolated_host, task) -> None:
    teacher = PromptTeacher(FlakyProvider())
    [pred] = teacher.label(task, examples(1))
    assert pred.usage.cost == 0.0 and teacher.ledger.cost is None
    assert format_cost(teacher.ledger.cost) == "—"
    assert PriceTable().for_provider(teacher.provider) is None


def test_budget_stops_before_it_is_exceeded_and_keeps_what_was_answered(
    isolated_host, task, tmp_path
) -> None:
    price = Price(input=1000.0, output=1000.0)  # $0.001 a token, to keep the numbers readable
    provider = FlakyProvider()
    probe = PromptTeacher(provider, price=price)
    estimate = prompt_tokens(probe.prompt_for(task, examples(1)[0])) + 20  # + max_tokens
    actual = 13  # 10 in + 3 out
    # room for three answers plus one more request's estimate: the 5th request would exceed it
    budget = (3 * actual + estimate) * 0.001 + 1e-9
    teacher = PromptTeacher(provider, price=price, budget=budget, concurrency=1)
    store = store_with(tmp_path, 10)
    with pytest.raises(BudgetExceeded) as info:
        label_dataset(store, task, teacher, "train")
    assert len(store.answered_ids(teacher.source(task))) == 4
    assert len(provider.calls) == 4
    message = str(info.value)
    assert "4 of 10 'train' examples are labelled (4 in this run), spent $0.0520" in message
    assert "raise [label] budget" in message
    assert teacher.ledger.spent <= budget


def test_budget_counts_requests_in_flight(isolated_host, task) -> None:
    price = Price(input=1000.0, output=1000.0)
    provider = FlakyProvider(delay=0.05)
    estimate = prompt_tokens(PromptTeacher(provider).prompt_for(task, examples(1)[0])) + 20
    # two estimates fit; with 8 concurrent requests only two may be in flight at once, and the
    # others wait for them (an answer costs less than its estimate) instead of stopping the run
    budget = 2.5 * estimate * 0.001
    teacher = PromptTeacher(provider, price=price, budget=budget, concurrency=8)
    with pytest.raises(BudgetExceeded):
        teacher.label(task, examples(40))
    starts = sorted(t for t, _, _ in provider.calls)
    assert max(sum(1 for s in starts if t <= s < t + 0.04) for t in starts) <= 2
    assert len(provider.calls) > 2
    # it stopped when the spend itself left no room for one more estimate
    assert teacher.ledger.spent <= budget < teacher.ledger.spent + estimate * 0.001
