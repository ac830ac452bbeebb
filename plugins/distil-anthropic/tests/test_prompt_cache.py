"""Prompt caching, local servers without a key, and keys echoed by a server (issue 18).

The real ``anthropic`` SDK against the loopback Messages API; every assertion reads what the
server captured or billed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import distil
from distil.teach.pricing import Price
from distil.teach.runner import label_dataset
from distil.testing import load_split
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_anthropic import install_anthropic
from distil_anthropic.plugin import make_anthropic_provider

LABELS = [f"intent_{i:02d}_🏦" for i in range(77)]
TASK = distil.TextCat(LABELS)


def answer(request: dict[str, Any]) -> str:
    return json.dumps({"labels": [LABELS[len(request["messages"][-1]["content"]) % 77]]})


@pytest.fixture(autouse=True)
def _data(shared_data: Path) -> None:
    """The shared data sets (skipped without them)."""


def test_the_shared_prefix_is_cached_and_the_ledger_prices_the_cached_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-cache-test-0001")
    with LoopbackLLM(answer) as server:
        install_anthropic(server)
        provider = make_anthropic_provider(model="claude-loopback-1", base_url=server.url)
        price = Price(input=1.0, output=5.0, cached_input=0.1, cache_write=1.25)
        teacher = distil.PromptTeacher(provider, concurrency=1, price=price)
        examples = load_split("sms_spam", "test", limit=5)
        preds = teacher.label(TASK, examples)
        bodies = [r.json() for r in server.requests if r.path == "/v1/messages"]
        billed = dict(server.billed)
    assert all(p.ok for p in preds)
    prompt = teacher.prompt_for(TASK, examples[0])
    for body, example in zip(bodies, examples, strict=True):
        # instructions and all 77 labels before the breakpoint, the text after it
        (system,) = body["system"]
        assert system["cache_control"] == {"type": "ephemeral"}
        assert system["text"] == prompt.messages[0].content and LABELS[76] in system["text"]
        assert body["messages"] == [{"role": "user", "content": example.text}]
    prefix = len(prompt.messages[0].content.split())
    assert billed["cache_write_tokens"] == prefix  # the first request writes the prefix
    assert billed["cached_input_tokens"] == 4 * prefix  # the other four read it
    ledger = teacher.ledger.to_dict()
    assert ledger["input_tokens"] == billed["input_tokens"]
    assert ledger["cached_input_tokens"] == 4 * prefix and ledger["cache_write_tokens"] == prefix
    assert (
        preds[0].usage.cache_write_tokens == prefix and preds[1].usage.cached_input_tokens == prefix
    )
    plain = billed["input_tokens"] - 5 * prefix
    expected = (
        plain * 1.0 + 4 * prefix * 0.1 + prefix * 1.25 + billed["output_tokens"] * 5.0
    ) / 1e6
    assert ledger["cost"] == pytest.approx(expected)
    assert ledger["cache_saving"] == pytest.approx((4 * prefix * 0.9 - prefix * 0.25) / 1e6)


def test_prompt_cache_false_sends_the_system_prompt_as_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-cache-test-0001")
    with LoopbackLLM(answer) as server:
        install_anthropic(server)
        provider = make_anthropic_provider(
            model="claude-loopback-1", base_url=server.url, prompt_cache=False
        )
        distil.PromptTeacher(provider).label(TASK, load_split("sms_spam", "test", limit=2))
        body = server.requests[-1].json()
        assert isinstance(body["system"], str) and server.billed["cached_input_tokens"] == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_local_base_url_needs_no_key(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with LoopbackLLM(answer) as server:
        install_anthropic(server)  # accepts any key
        url = server.url.replace("127.0.0.1", host)
        provider = make_anthropic_provider(model="claude-loopback-1", base_url=url)
        (pred,) = distil.PromptTeacher(provider).label(TASK, [distil.Example(id="a", text="hi")])
        assert pred.ok and server.billed["requests"] == 1


def test_a_remote_base_url_still_needs_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    provider = make_anthropic_provider(model="m", base_url="https://anthropic.example.com")
    with pytest.raises(distil.ProviderError, match="ANTHROPIC_API_KEY"):
        distil.PromptTeacher(provider).label(TASK, [distil.Example(id="a", text="hi")])


def test_a_key_echoed_in_a_response_header_is_in_no_debug_log_store_or_report(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    key = "sk-ant-echoed-KEY-4d2b8e61"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    caplog.set_level(logging.DEBUG)  # every logger: anthropic, httpx2, httpcore2, ...
    with LoopbackLLM(answer) as server:
        install_anthropic(server, api_key=key, echo_key_header="x-echo-key")
        provider = make_anthropic_provider(model="claude-loopback-1", base_url=server.url)
        store = distil.Store(tmp_path / "distil.db")
        store.add_examples(load_split("sms_spam", "test", limit=3), "train")
        result = label_dataset(store, TASK, distil.PromptTeacher(provider), "train")
        store.close()
    assert result.labelled == 3 and result.failures == 0
    assert any("x-echo-key" in r.getMessage() for r in caplog.records)  # the header was logged
    for record in caplog.records:
        assert key not in record.getMessage(), record.name
    assert key not in caplog.text and "[REDACTED]" in caplog.text
    assert key.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("distil.db*"))
    assert key not in json.dumps(result.to_dict())
