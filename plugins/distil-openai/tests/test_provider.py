"""openai.chat against a loopback server that speaks the OpenAI wire format (the real SDK, no mocks)."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import distil
from distil.testing import load_split
from distil.testing.loopback import Fault, LoopbackLLM
from distil.testing.loopback_openai import install_openai
from distil.testing.teachers import LoopbackBackend, ProviderConformance, TeacherConformance
from distil_openai.provider import OpenAIProvider
from distil_openai.wire import strict_schema

MakeProvider = Callable[..., OpenAIProvider]
TASK = distil.TextCat(["ham", "spam"])
REFUSE_MARKER = "REFUSE-ME"  # the loopback model (conftest.sms_answer) refuses such texts


def chat_bodies(server: LoopbackLLM) -> list[dict[str, Any]]:
    """The JSON bodies of every chat completion request the server received."""
    return [r.json() for r in server.requests if r.path == "/v1/chat/completions"]


def complete(provider: OpenAIProvider, text: str = "hello there") -> distil.Completion:
    prompt = distil.PromptTeacher(provider).prompt_for(TASK, distil.Example(id="x", text=text))
    return asyncio.run(provider.complete(prompt))


class TestOpenAITeacherConformance(TeacherConformance):
    @pytest.fixture
    def teacher(self, make_provider: MakeProvider) -> distil.Teacher:
        return distil.PromptTeacher(make_provider(), concurrency=8)

    @pytest.fixture
    def backend(self, server: LoopbackLLM) -> LoopbackBackend:
        return LoopbackBackend(server)


class TestOpenAIProviderConformance(ProviderConformance):
    @pytest.fixture
    def provider(self, make_provider: MakeProvider) -> distil.Provider:
        return make_provider(timeout=2.0)  # below the backend's 2.5 s hold: a real timeout

    @pytest.fixture
    def backend(self, server: LoopbackLLM) -> LoopbackBackend:
        return LoopbackBackend(server, hold_s=2.5)


def test_importing_the_plugin_does_not_import_the_sdk() -> None:
    code = "import sys, distil_openai.plugin; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_registered_provider_declares_chat_style_and_its_capabilities(
    make_provider: MakeProvider,
) -> None:
    provider = make_provider(model="any/free-model:name")
    assert provider.name == "openai.chat" and provider.style == "chat"
    assert {"structured_output", "logprobs", "batch"} <= provider.capabilities
    assert provider.supports_batch
    assert provider.describe() == "openai.chat/any/free-model:name"


def test_sms_spam_is_labelled_and_the_tokens_billed_equal_the_usage_recorded(
    make_provider: MakeProvider, server: LoopbackLLM, expected_label: Callable[[str], str]
) -> None:
    examples = load_split("sms_spam", "test", limit=30)
    preds = distil.PromptTeacher(make_provider(), concurrency=8).label(TASK, examples)
    assert [p.output.labels for p in preds if p.output] == [
        [expected_label(e.text)] for e in examples
    ]
    assert sum(p.usage.input_tokens for p in preds) == server.billed["input_tokens"]
    assert sum(p.usage.output_tokens for p in preds) == server.billed["output_tokens"]
    assert server.billed["requests"] == len(examples)


def test_structured_output_sends_the_task_schema_strict_and_max_tokens(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    completion = complete(make_provider(max_tokens=64, seed=7), "WIN a free prize now")
    assert completion.data == {"labels": ["spam"]}
    (body,) = chat_bodies(server)
    assert body["model"] == "gpt-test"
    assert body["max_tokens"] == 64 and body["seed"] == 7 and body["temperature"] == 0.0
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": TASK.json_schema(), "strict": True},
    }
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "logprobs" not in body


def test_without_structured_output_plain_json_prompting_still_parses(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    provider = make_provider(structured_output=False)
    (pred,) = distil.PromptTeacher(provider).label(TASK, [distil.Example(id="a", text="hi mum")])
    assert pred.ok and pred.output.labels == ["ham"]
    assert "response_format" not in chat_bodies(server)[0]


def test_a_schema_strict_mode_cannot_take_is_sent_without_strict() -> None:
    multilabel = distil.TextCat(["a", "b"], multilabel=True).json_schema()
    assert "uniqueItems" in multilabel["properties"]["labels"]
    cleaned = strict_schema(multilabel)
    assert cleaned is not None and "uniqueItems" not in cleaned["properties"]["labels"]
    open_object = {"type": "object", "properties": {"x": {"type": "string"}}}
    assert strict_schema(open_object) is None


def test_hosted_openai_gets_max_completion_tokens_and_needs_the_key(
    make_provider: MakeProvider, server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    # base_url unset: the SDK's own default, redirected to the loopback server by OPENAI_BASE_URL.
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.delenv("DISTIL_TEST_OPENAI_KEY", raising=False)
    provider = make_provider(base_url=None, api_key_env="DISTIL_TEST_OPENAI_KEY", max_tokens=32)
    with pytest.raises(distil.ProviderError, match="DISTIL_TEST_OPENAI_KEY") as err:
        complete(provider)
    assert not isinstance(err.value, distil.TransientProviderError)
    monkeypatch.setenv("DISTIL_TEST_OPENAI_KEY", "sk-hosted-key-0001")
    assert complete(provider).data == {"labels": ["ham"]}
    (body,) = chat_bodies(server)
    assert body["max_completion_tokens"] == 32 and "max_tokens" not in body
    assert server.requests[-1].headers["authorization"] == "Bearer sk-hosted-key-0001"


def test_a_compatible_server_works_without_any_key(
    make_provider: MakeProvider, server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert complete(make_provider()).data == {"labels": ["ham"]}
    assert server.requests[-1].headers["authorization"] == "Bearer not-needed"


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "expected"), [({"retry-after": "0.2"}, 0.2), ({"retry-after-ms": "1500"}, 1.5)]
)
def test_429_is_a_rate_limit_error_with_the_servers_retry_after(
    make_provider: MakeProvider, server: LoopbackLLM, headers: dict[str, str], expected: float
) -> None:
    server.fail_next(429, headers=headers)
    with pytest.raises(distil.RateLimitError) as err:
        complete(make_provider())
    assert err.value.retry_after == pytest.approx(expected)
    assert err.value.status == 429
    assert len(server.requests) == 1  # the SDK did not retry on its own


@pytest.mark.parametrize("status", [408, 409, 500, 503])
def test_server_errors_are_transient(
    make_provider: MakeProvider, server: LoopbackLLM, status: int
) -> None:
    server.fail_next(status)
    with pytest.raises(distil.TransientProviderError) as err:
        complete(make_provider())
    assert err.value.status == status and f"HTTP {status}" in str(err.value)
    assert not isinstance(err.value, distil.RateLimitError)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_not_retried(
    make_provider: MakeProvider, server: LoopbackLLM, status: int
) -> None:
    server.fail_next(status, body={"error": {"message": "nope", "type": "invalid_request_error"}})
    with pytest.raises(distil.ProviderError, match=f"HTTP {status}: nope") as err:
        complete(make_provider())
    assert not isinstance(err.value, distil.TransientProviderError)


def test_a_timeout_is_transient(make_provider: MakeProvider, server: LoopbackLLM) -> None:
    server.inject(Fault(kind="timeout", delay=0.6))
    with pytest.raises(distil.TransientProviderError, match="timed out"):
        complete(make_provider(timeout=0.2))


@pytest.mark.parametrize("kind", ["malformed", "disconnect"])
def test_a_malformed_or_dropped_answer_is_transient(
    make_provider: MakeProvider, server: LoopbackLLM, kind: str
) -> None:
    server.inject(Fault(kind=kind))
    with pytest.raises(distil.TransientProviderError):
        complete(make_provider())
    assert complete(make_provider()).data == {"labels": ["ham"]}  # and the next call works


def test_a_truncated_answer_is_length_and_a_recorded_parse_failure(
    make_provider: MakeProvider,
) -> None:
    provider = make_provider(max_tokens=1)
    completion = complete(provider)
    assert completion.finish_reason == "length" and completion.data is None
    assert completion.text == '{"labels":' and completion.usage.output_tokens == 1
    (pred,) = distil.PromptTeacher(provider).label(TASK, [distil.Example(id="a", text="hi")])
    assert pred.output is None and "truncated" in (pred.error or "")
    assert pred.raw == '{"labels":'


def test_a_refusal_is_recorded_as_such(make_provider: MakeProvider) -> None:
    provider = make_provider()
    completion = complete(provider, f"{REFUSE_MARKER} please")
    assert completion.refusal == "I can't help with that." and completion.text == ""
    example = distil.Example(id="a", text=f"{REFUSE_MARKER} please")
    (pred,) = distil.PromptTeacher(provider).label(TASK, [example])
    assert pred.output is None and "refused" in (pred.error or "")


def test_logprobs_become_the_answers_confidence(make_provider: MakeProvider) -> None:
    with LoopbackLLM(answer=lambda request: '{"labels": ["ham"]}') as server:
        install_openai(server, confidence=lambda request: 0.8)
        provider = make_provider(base_url=server.url + "/v1", logprobs=True)
        completion = complete(provider)
        assert server.requests[-1].json()["logprobs"] is True
        assert completion.meta["confidence"] == pytest.approx(0.8)
        (pred,) = distil.PromptTeacher(provider).label(TASK, [distil.Example(id="a", text="hi")])
        assert pred.confidence == pytest.approx(0.8)


def test_logprobs_without_a_confidence_function_give_certainty(
    make_provider: MakeProvider,
) -> None:
    confidence = complete(make_provider(logprobs=True)).meta["confidence"]
    assert 0.0 < confidence <= 1.0 and math.isclose(confidence, 1.0)


def test_the_provider_answers_in_several_event_loops(make_provider: MakeProvider) -> None:
    provider = make_provider()
    assert complete(provider).data == complete(provider).data == {"labels": ["ham"]}


def test_bad_config_values_are_config_errors(make_provider: MakeProvider) -> None:
    with pytest.raises(distil.ConfigError, match="max_tokens"):
        make_provider(max_tokens=0)
    with pytest.raises(distil.ConfigError, match="timeout"):
        make_provider(timeout=0)


def test_a_schema_is_walked_once_and_again_when_edited_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The strict schema of a task's one schema object is reused across requests, but a schema
    edited in place (or a new object) gets its own: the body is always strict_schema's."""
    from distil_openai import wire

    walks: list[int] = []

    def counted(schema: dict[str, Any]) -> dict[str, Any] | None:
        walks.append(id(schema))
        return strict_schema(schema)

    monkeypatch.setattr(wire, "strict_schema", counted)
    response_format = wire.response_format
    schema = distil.TextCat(["a", "b"]).json_schema()
    first = response_format(schema)
    for _ in range(3):
        assert response_format(schema) == first
    # walked at the first request and at the second (which keeps a copy), then reused
    assert walks == [id(schema), id(schema)]
    assert first["json_schema"]["schema"] == strict_schema(schema)
    schema["properties"]["labels"]["items"]["enum"].append("c")
    edited = response_format(schema)
    assert len(walks) == 3  # the edit is seen: walked again
    assert (
        edited["json_schema"]["schema"] == strict_schema(schema) != first["json_schema"]["schema"]
    )
    schema["additionalProperties"] = True  # no longer strict-able
    assert response_format(schema)["json_schema"] == {
        "name": "answer",
        "schema": schema,
        "strict": False,
    }
