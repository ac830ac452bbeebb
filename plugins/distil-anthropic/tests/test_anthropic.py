"""distil-anthropic against the real ``anthropic`` SDK and a loopback server speaking the Messages API.

No SDK object is mocked: every test sends real HTTP to :class:`LoopbackLLM` on 127.0.0.1, with the
Anthropic routes of :mod:`distil.testing.loopback_anthropic`, and faults injected by the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confection import Config

import distil
from distil.testing.loopback import Fault, LoopbackLLM
from distil.testing.loopback_anthropic import error_body, install_anthropic
from distil.testing.teachers import LoopbackBackend, ProviderConformance, TeacherConformance
from distil_anthropic.plugin import make_anthropic_provider
from distil_anthropic.provider import AnthropicProvider

SECRET = "sk-ant-SECRET-456"
SPAM_WORDS = ("free", "win", "prize", "call", "txt")
TASK = distil.TextCat(["ham", "spam"])


def sms_label(text: str) -> str:
    lowered = text.lower()
    return "spam" if any(word in lowered for word in SPAM_WORDS) else "ham"


def answer(request: dict[str, Any]) -> str:
    """The loopback model: a plausible sms_spam label, plus scripted refusals and failures."""
    text = request["messages"][-1]["content"]
    if "PLEASE-REFUSE" in text:
        return "REFUSE: I can't help with that."
    if any("PLEASE-RAMBLE" in m["content"] for m in request["messages"]):  # re-asks too
        return "I think this one is spam, probably."
    if "PLEASE-FAIL" in text:
        raise RuntimeError("the loopback model failed on purpose")
    return json.dumps({"labels": [sms_label(text)]})


@pytest.fixture(autouse=True)
def _data_and_key(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test needs the shared data (skipped without it) and the key in the environment."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackLLM]:
    with LoopbackLLM(answer) as srv:
        install_anthropic(srv, api_key=SECRET, batch_polls=2)
        yield srv


@pytest.fixture(autouse=True)
def _no_leftover_faults(server: LoopbackLLM) -> Iterator[None]:
    server.faults.clear()
    yield
    server.faults.clear()


def make_provider(server: LoopbackLLM, **kw: Any) -> AnthropicProvider:
    params: dict[str, Any] = {"model": "claude-loopback-1", "base_url": server.url, **kw}
    return make_anthropic_provider(**params)


@pytest.fixture
def provider(server: LoopbackLLM) -> AnthropicProvider:
    return make_provider(server, timeout=5.0)


def prompt_for(provider: distil.Provider, text: str) -> distil.Prompt:
    teacher = distil.PromptTeacher(provider)
    return teacher.prompt_for(TASK, distil.Example(id="x", text=text))


def complete(provider: AnthropicProvider, text: str) -> distil.Completion:
    return asyncio.run(provider.complete(prompt_for(provider, text)))


def fail_with(provider: AnthropicProvider, text: str = "hello") -> distil.ProviderError:
    with pytest.raises(distil.ProviderError) as info:
        complete(provider, text)
    return info.value


class TestProviderConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, server: LoopbackLLM) -> AnthropicProvider:
        return make_provider(server, timeout=2.0)  # below the backend's 2.5 s hold

    @pytest.fixture
    def backend(self, server: LoopbackLLM) -> LoopbackBackend:
        return LoopbackBackend(server, hold_s=2.5)


class TestTeacherConformance(TeacherConformance):
    @pytest.fixture
    def teacher(self, server: LoopbackLLM) -> distil.Teacher:
        return distil.PromptTeacher(make_provider(server), concurrency=8)

    @pytest.fixture
    def backend(self, server: LoopbackLLM) -> LoopbackBackend:
        return LoopbackBackend(server)

    def test_labels_follow_the_loopback_model(
        self, predictions: list[distil.Prediction], examples: list[distil.Example]
    ) -> None:
        got = [p.output.labels if p.output is not None else None for p in predictions]
        assert got == [[sms_label(ex.text)] for ex in examples]


# -- registration and config ------------------------------------------------------------------


def test_the_plugin_registers_the_provider_through_its_entry_point(server: LoopbackLLM) -> None:
    host = distil.PluginHost(strict=True, allow={"anthropic"})
    provider = host.create("providers", "anthropic.messages.v1", model="any-model-name-at-all")
    assert isinstance(provider, AnthropicProvider)
    assert provider.describe() == "anthropic.messages/any-model-name-at-all"
    assert provider.supports_batch and provider.style == "chat"


def test_importing_the_plugin_does_not_import_the_sdk() -> None:
    code = "import sys, distil_anthropic.plugin; print('anthropic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_api_key_env_rejects_a_pasted_key_without_echoing_it(server: LoopbackLLM) -> None:
    with pytest.raises(distil.ConfigError) as info:
        make_provider(server, api_key_env=SECRET)
    assert "NAME of an environment variable" in str(info.value)
    assert SECRET not in str(info.value)


def test_the_readme_config_uses_registered_names_and_keys() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```ini\n(.*?)```", readme, flags=re.DOTALL)
    assert blocks
    config = Config().from_str(blocks[0])
    assert config["teacher"]["@teachers"] == "llm.v1"
    provider_block = dict(config["teacher"]["provider"])
    assert provider_block.pop("@providers") == "anthropic.messages.v1"
    provider = make_anthropic_provider(**provider_block)
    assert provider.model == provider_block["model"]


# -- the request on the wire ------------------------------------------------------------------


def test_the_request_sends_max_tokens_the_system_prompt_and_a_forced_tool(
    server: LoopbackLLM, provider: AnthropicProvider
) -> None:
    prompt = prompt_for(provider, "WIN a FREE prize now")
    completion = asyncio.run(provider.complete(prompt))
    request = server.requests[-1]
    body = request.json()
    assert request.path == "/v1/messages"
    assert body["max_tokens"] == 512
    assert body["model"] == "claude-loopback-1"
    # the shared prefix (instructions, labels) is one system block marked for the prompt cache
    assert body["system"] == [
        {
            "type": "text",
            "text": prompt.messages[0].content,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert body["messages"] == [{"role": "user", "content": "WIN a FREE prize now"}]
    assert body["tools"] == [
        {
            "name": "answer",
            "description": body["tools"][0]["description"],
            "input_schema": TASK.json_schema(),
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "answer"}
    assert "temperature" not in body  # SDK 2.x has no temperature; sent only when configured
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert completion.data == {"labels": ["spam"]}
    assert json.loads(completion.text) == {"labels": ["spam"]}
    assert completion.finish_reason == "stop"
    assert completion.usage.input_tokens > 0 and completion.usage.output_tokens == 2


def test_without_structured_output_the_answer_is_text(server: LoopbackLLM) -> None:
    provider = make_provider(server, structured_output=False, temperature=0.0)
    completion = complete(provider, "see you at lunch")
    body = server.requests[-1].json()
    assert "tools" not in body and "tool_choice" not in body
    assert body["temperature"] == 0.0
    assert completion.data is None and json.loads(completion.text) == {"labels": ["ham"]}


def test_the_usage_matches_what_the_server_billed(server: LoopbackLLM) -> None:
    provider = make_provider(server)
    before = dict(server.billed)
    completion = complete(provider, "txt 8007 to claim")
    assert completion.usage.input_tokens == server.billed["input_tokens"] - before["input_tokens"]
    assert (
        completion.usage.output_tokens == server.billed["output_tokens"] - before["output_tokens"]
    )


def test_the_loopback_answers_400_without_max_tokens(server: LoopbackLLM) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(
        server.url + "/v1/messages",
        data=body,
        headers={"x-api-key": SECRET, "content-type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 400
    payload = json.loads(info.value.read())
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in payload["error"]["message"]
    assert info.value.headers["request-id"].startswith("req_")


# -- errors -----------------------------------------------------------------------------------


def test_429_is_a_rate_limit_error_with_the_servers_retry_after(
    server: LoopbackLLM, provider: AnthropicProvider
) -> None:
    server.fail_next(429, headers={"retry-after": "0.2"}, body=error_body(429))
    sent = len(server.requests)
    error = fail_with(provider)
    assert isinstance(error, distil.RateLimitError)
    assert error.retry_after == pytest.approx(0.2)
    assert error.status == 429
    assert len(server.requests) == sent + 1  # the SDK does not retry: distil's layer does


@pytest.mark.parametrize("status", [500, 503, 529, 408, 409])
def test_server_errors_and_overload_are_transient(
    server: LoopbackLLM, provider: AnthropicProvider, status: int
) -> None:
    server.fail_next(status, body=error_body(status))
    error = fail_with(provider)
    assert isinstance(error, distil.TransientProviderError)
    assert not isinstance(error, distil.RateLimitError)
    assert error.status == status and f"HTTP {status}" in str(error)


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_client_errors_are_permanent(
    server: LoopbackLLM, provider: AnthropicProvider, status: int
) -> None:
    server.fail_next(status, body=error_body(status, "you asked for something odd"))
    error = fail_with(provider)
    assert not isinstance(error, distil.TransientProviderError)
    assert f"HTTP {status}" in str(error) and "you asked for something odd" in str(error)


def test_a_wrong_key_is_a_permanent_error_that_does_not_show_the_key(
    server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-WRONG-789")
    error = fail_with(make_provider(server))
    assert not isinstance(error, distil.TransientProviderError)
    assert "HTTP 401 authentication_error" in str(error)
    assert "ANTHROPIC_API_KEY" in str(error)
    assert "sk-ant-WRONG-789" not in str(error)


def test_a_server_echoing_the_key_does_not_put_it_in_the_error(
    server: LoopbackLLM, provider: AnthropicProvider
) -> None:
    server.fail_next(401, body=error_body(401, f"invalid x-api-key {SECRET}"))
    error = fail_with(provider)
    assert SECRET not in str(error) and "[REDACTED]" in str(error)


def test_a_missing_key_names_the_environment_variable(
    server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_CLAUDE_KEY", raising=False)
    sent = len(server.requests)
    remote = make_anthropic_provider(
        model="claude-loopback-1",
        base_url="https://api.anthropic.invalid",
        api_key_env="MY_CLAUDE_KEY",
    )
    error = fail_with(remote)
    assert "MY_CLAUDE_KEY" in str(error)
    assert not isinstance(error, distil.TransientProviderError)
    assert len(server.requests) == sent
    # a local base_url needs no key: the request goes out, and this server's 401 names the variable
    error = fail_with(make_provider(server, api_key_env="MY_CLAUDE_KEY"))
    assert "HTTP 401" in str(error) and "MY_CLAUDE_KEY" in str(error)
    assert len(server.requests) == sent + 1


def test_the_key_is_read_at_call_time(server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LATE_KEY", raising=False)
    provider = make_provider(server, api_key_env="LATE_KEY")
    monkeypatch.setenv("LATE_KEY", SECRET)
    assert complete(provider, "ok").data == {"labels": ["ham"]}


def test_a_timeout_is_transient(server: LoopbackLLM) -> None:
    provider = make_provider(server, timeout=0.3)
    server.inject(Fault(kind="timeout", delay=0.8))
    started = time.perf_counter()
    error = fail_with(provider)
    assert isinstance(error, distil.TransientProviderError)
    assert "0.3 s" in str(error)
    assert time.perf_counter() - started < 0.75


def test_a_malformed_body_is_transient(server: LoopbackLLM, provider: AnthropicProvider) -> None:
    server.inject(Fault(kind="malformed"))
    error = fail_with(provider)
    assert isinstance(error, distil.TransientProviderError)
    assert "could not be read" in str(error)


def test_a_dropped_connection_is_transient(
    server: LoopbackLLM, provider: AnthropicProvider
) -> None:
    server.inject(Fault(kind="disconnect"))
    assert isinstance(fail_with(provider), distil.TransientProviderError)


# -- truncation and refusal -------------------------------------------------------------------


def test_max_tokens_stop_is_length_and_a_stored_parse_failure(server: LoopbackLLM) -> None:
    provider = make_provider(server, max_tokens=1)  # the answer {"labels": ["spam"]} is 2 tokens
    completion = complete(provider, "free entry")
    assert server.requests[-1].json()["max_tokens"] == 1
    assert completion.finish_reason == "length"
    assert completion.data is None  # a partial tool input is never handed on
    [prediction] = distil.PromptTeacher(provider).label(
        TASK, [distil.Example(id="t1", text="free entry")]
    )
    assert prediction.output is None
    assert prediction.error is not None and "truncated" in prediction.error
    assert prediction.raw is not None


def test_a_refusal_is_recorded_as_a_refused_parse_failure(
    provider: AnthropicProvider,
) -> None:
    completion = complete(provider, "PLEASE-REFUSE this one")
    assert completion.refusal == "I can't help with that."
    assert completion.finish_reason == "refusal" and completion.data is None
    [prediction] = distil.PromptTeacher(provider).label(
        TASK, [distil.Example(id="r1", text="PLEASE-REFUSE this one")]
    )
    assert prediction.output is None
    assert prediction.error is not None and "refused" in prediction.error


def test_an_answer_outside_the_tool_is_a_parse_failure_with_its_raw_text(
    provider: AnthropicProvider,
) -> None:
    [prediction] = distil.PromptTeacher(provider).label(
        TASK, [distil.Example(id="j1", text="PLEASE-RAMBLE")]
    )
    assert prediction.output is None
    assert prediction.error is not None and "not valid JSON" in prediction.error
    assert prediction.raw == "I think this one is spam, probably."


# -- Message Batches --------------------------------------------------------------------------


async def run_batch(
    provider: AnthropicProvider, requests: list[tuple[str, distil.Prompt]]
) -> tuple[list[str], dict[str, distil.Completion | Exception]]:
    job = await provider.submit_batch(requests)
    statuses = [await provider.batch_status(job)]
    while statuses[-1] == "pending":
        statuses.append(await provider.batch_status(job))
    return statuses, await provider.batch_results(job)


def test_a_message_batch_labels_20_sms_spam_examples(
    server: LoopbackLLM, provider: AnthropicProvider
) -> None:
    examples = distil.read_jsonl(_sms_spam_test()).examples[:20]
    teacher = distil.PromptTeacher(provider)
    requests = [(ex.id, teacher.prompt_for(TASK, ex)) for ex in examples]
    statuses, results = asyncio.run(run_batch(provider, requests))
    assert statuses == ["pending", "done"]  # batch_polls=2: in_progress once, then ended
    created = next(r for r in reversed(server.requests) if r.path == "/v1/messages/batches")
    sent = created.json()["requests"]
    assert [r["custom_id"] for r in sent] == [ex.id for ex in examples]
    assert all(r["params"]["max_tokens"] == 512 for r in sent)
    assert sorted(results) == sorted(ex.id for ex in examples)
    source = teacher.source(TASK)
    for ex in examples:
        completion = results[ex.id]
        assert isinstance(completion, distil.Completion)
        assert completion.meta["batch"] is True
        prediction = teacher.parse(TASK, ex, completion, source)
        assert prediction.output is not None
        assert prediction.output.labels == [sms_label(ex.text)]


def test_a_failed_batch_request_comes_back_as_its_error(provider: AnthropicProvider) -> None:
    requests = [
        ("ok-1", prompt_for(provider, "lunch?")),
        ("bad-1", prompt_for(provider, "PLEASE-FAIL")),
    ]
    _, results = asyncio.run(run_batch(provider, requests))
    assert isinstance(results["ok-1"], distil.Completion)
    assert isinstance(results["bad-1"], distil.TransientProviderError)
    assert "api_error" in str(results["bad-1"])


def test_batch_custom_ids_outside_the_api_pattern_are_refused(
    provider: AnthropicProvider,
) -> None:
    with pytest.raises(distil.ProviderError, match="custom ids"):
        asyncio.run(provider.submit_batch([("has space", prompt_for(provider, "x"))]))


def test_an_unknown_batch_is_a_permanent_error(provider: AnthropicProvider) -> None:
    with pytest.raises(distil.ProviderError, match="HTTP 404") as info:
        asyncio.run(provider.batch_status("msgbatch_nope"))
    assert not isinstance(info.value, distil.TransientProviderError)


def _sms_spam_test() -> Path:
    from distil.testing import shared_data_dir

    root = shared_data_dir() or shared_data_dir(Path(__file__))
    assert root is not None
    return root / "sms_spam" / "test.jsonl"


# -- secrets ----------------------------------------------------------------------------------


SDK_LOGGERS = ["anthropic", "anthropic._base_client", "httpx2", "httpcore2", "httpcore2.http11"]


def test_the_key_appears_nowhere_in_debug_logs_or_the_providers_identity(
    server: LoopbackLLM, provider: AnthropicProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in SDK_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    complete(provider, "free txt")
    server.fail_next(401, body=error_body(401, f"bad key {SECRET}"))
    with pytest.raises(distil.ProviderError):
        complete(provider, "again")
    asyncio.run(run_batch(provider, [("s1", prompt_for(provider, "hi"))]))
    # Whatever the SDK or its transport might log with the key in it is redacted, on the SDK's
    # loggers and their children (a logger's filter does not cover its children by itself).
    for name in SDK_LOGGERS:
        logging.getLogger(name).debug("headers: {'authorization': 'Bearer %s'}", SECRET)
    assert "Request options" in caplog.text  # the SDK's DEBUG logging of request bodies ran
    assert caplog.text.count("Bearer [REDACTED]") == len(SDK_LOGGERS)
    assert SECRET not in caplog.text
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    identity = json.dumps(provider.cache_identity())
    for text in (identity, provider.describe(), repr(provider), json.dumps(provider.params)):
        assert SECRET not in text
