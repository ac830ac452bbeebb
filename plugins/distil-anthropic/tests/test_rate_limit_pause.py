"""``[label] rate_limit_pause`` (issue 18, item 4) with the real ``anthropic`` SDK against the
loopback Messages API: ``"all"`` pauses every request on a 429's ``Retry-After``, ``"request"``
only the refused one; both answer every row once and lose none."""

from __future__ import annotations

import json
from typing import Any

import pytest

import distil
from distil.config import LabelSection, configure_teacher
from distil.teach.pricing import PriceTable
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_anthropic import install_anthropic
from distil_anthropic.plugin import make_anthropic_provider

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


def label_of(text: str) -> str:
    return "spam" if any(w in text.lower() for w in ("win", "free", "claim", "cash")) else "ham"


def answer(request: dict[str, Any]) -> str:
    return json.dumps({"labels": [label_of(request["messages"][-1]["content"])]})


def user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[-1]["text"]


@pytest.mark.parametrize("mode", ["all", "request"])
def test_a_429_pauses_every_request_or_only_the_refused_one(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-pause-test-0001")
    task = distil.TextCat(["ham", "spam"])
    examples = [distil.Example(id=f"e{i}", text=t) for i, t in enumerate(ROWS)]
    with LoopbackLLM(answer, latency=LATENCY) as server:
        install_anthropic(server)
        provider = make_anthropic_provider(model="claude-loopback-1", base_url=server.url)
        teacher = distil.PromptTeacher(provider)
        label = LabelSection(concurrency=CONCURRENCY, rate_limit_pause=mode, max_reasks=0)
        configure_teacher(teacher, label, PriceTable.from_config({}))
        server.fail_next(
            429,
            path="/v1/messages",
            headers={"retry-after": str(RETRY_AFTER)},
            body={"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        )
        preds = teacher.label(task, examples)
        sent = [
            (r.received_at, user_text(r.json()))
            for r in server.requests
            if r.path == "/v1/messages"
        ]
        billed = server.billed["requests"]

    assert [p.example_id for p in preds] == [ex.id for ex in examples]
    assert all(p.ok for p in preds), [p.error for p in preds if not p.ok]
    assert [p.output.labels for p in preds] == [[label_of(t)] for t in ROWS]
    assert len(sent) == len(ROWS) + 1 and billed == len(ROWS)
    (refused_at, refused), *rest = sent
    assert sorted(text for _, text in rest) == sorted(ROWS)
    assert teacher.ledger.retries == 1
    again = next(i for i, (_, text) in enumerate(rest) if text == refused)
    held = (refused_at + SLACK, refused_at + RETRY_AFTER - 0.1)
    during_pause = [t for t, _ in rest if held[0] < t < held[1]]
    if mode == "all":
        assert during_pause == []  # once the client had the 429, nothing until Retry-After
    else:
        assert again == len(rest) - 1  # the others went on while the refused one waited
