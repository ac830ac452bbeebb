"""``[label] rate_limit_pause`` (issue 18, item 4): what a 429's ``Retry-After`` holds, with the
real OpenAI SDK against the loopback server. ``"all"`` pauses every request of the teacher;
``"request"`` holds only the refused one. Both answer every row once, and lose none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from distil import Example, PromptTeacher, TextCat
from distil.config import LabelSection, configure_teacher
from distil.teach.pricing import PriceTable
from distil.testing.loopback import LoopbackLLM

RETRY_AFTER = 2.5
#: Seconds the client may take to read the 429 (a loaded machine) before the pause must hold.
SLACK = 0.8
CONCURRENCY = 4
BASE = [
    "WIN a FREE prize 🎉 call now to claim",
    "are we still on for lunch? 🍕",
    "URGENT: reply YES to claim your cash 💰",
    "see you at 8 😴",
    "You won a £1000 voucher 🎁 txt WIN",
    "pick up milk pls 🥛",
    "Free entry in a wkly comp 🏆",
    "mum says hi 👋",
    "Claim your free ringtone 🎶",
    "running 10 min late 🚗",
    "chosen for a cash prize 💷, call now",
    "thanks for dinner ❤️",
]
#: 36 distinct rows; each answer takes LATENCY s, so without a pause some would be asked in it.
ROWS = [f"{text} #{i}" for i in range(3) for text in BASE]
LATENCY = 0.1


def chat_texts(server: LoopbackLLM) -> list[tuple[float, str]]:
    """(received at, the example's text) of every chat request, in arrival order."""
    out = []
    for request in server.requests:
        if request.path.endswith("/chat/completions"):
            out.append((request.received_at, request.json()["messages"][-1]["content"]))
    return out


@pytest.mark.parametrize("mode", ["all", "request"])
def test_a_429_pauses_every_request_or_only_the_refused_one(
    mode: str,
    server: LoopbackLLM,
    make_provider: Callable[..., Any],
    expected_label: Callable[[str], str],
) -> None:
    server.latency = LATENCY
    provider = make_provider()
    teacher = PromptTeacher(provider)
    label = LabelSection(concurrency=CONCURRENCY, rate_limit_pause=mode, max_reasks=0)
    configure_teacher(teacher, label, PriceTable.from_config({}))
    assert teacher.execution.rate_limit_pause == mode
    task = TextCat(labels=["ham", "spam"])
    examples = [Example(id=f"e{i}", text=t) for i, t in enumerate(ROWS)]
    # the first chat request is refused with a Retry-After
    server.fail_next(
        429,
        path="/v1/chat/completions",
        headers={"retry-after": str(RETRY_AFTER)},
        body={"error": {"message": "Rate limit reached", "type": "requests"}},
    )
    preds = teacher.label(task, examples)

    # every row answered, none twice; one request more than rows (the refused one, retried)
    assert [p.example_id for p in preds] == [ex.id for ex in examples]
    assert all(p.ok for p in preds), [p.error for p in preds if not p.ok]
    assert [p.output.labels for p in preds] == [[expected_label(t)] for t in ROWS]
    sent = chat_texts(server)
    assert len(sent) == len(ROWS) + 1 and server.billed["requests"] == len(ROWS)
    (refused_at, refused), *rest = sent
    again = next(i for i, (_, text) in enumerate(rest) if text == refused)
    assert sorted(text for _, text in rest) == sorted(ROWS)
    assert teacher.ledger.retries == 1 and teacher.ledger.requests == len(ROWS) + 1
    assert [p.usage.attempts for p in preds].count(2) == 1
    held = (refused_at + SLACK, refused_at + RETRY_AFTER - 0.1)
    during_pause = [t for t, _ in rest if held[0] < t < held[1]]
    if mode == "all":
        # once the client had the 429, nothing was sent until its Retry-After was over
        assert during_pause == []
    else:
        # the others went on: every other row was asked before the refused one was sent again
        assert again == len(rest) - 1


def test_rate_limit_pause_is_checked() -> None:
    with pytest.raises(ValueError, match="rate_limit_pause"):
        LabelSection(rate_limit_pause="some")  # type: ignore[arg-type]
