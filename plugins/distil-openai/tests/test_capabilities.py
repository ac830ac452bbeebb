"""What goes on the wire per model (issue 18): reasoning models, pass-through options, Azure,
prompt-cache usage. Every assertion reads the request the loopback server captured from the
real SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import distil
from distil.teach.pricing import Price
from distil.testing import load_split
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_azure_openai, install_openai
from distil_openai.capabilities import is_reasoning_model
from distil_openai.provider import OpenAIProvider

MakeProvider = Callable[..., OpenAIProvider]
TASK = distil.TextCat(["ham", "spam"])
AZURE_KEY = "azure-key-0123456789abcdef"


def chat_bodies(server: LoopbackLLM) -> list[dict[str, Any]]:
    return [r.json() for r in server.requests if r.path.endswith("/chat/completions")]


def complete(provider: OpenAIProvider, text: str = "hello there") -> distil.Completion:
    prompt = distil.PromptTeacher(provider).prompt_for(TASK, distil.Example(id="x", text=text))
    return asyncio.run(provider.complete(prompt))


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("o1", True),
        ("o3-mini", True),
        ("o4-mini-2025-04-16", True),
        ("gpt-5", True),
        ("gpt-5-nano", True),
        ("openai/o3", True),  # a gateway's vendor prefix
        ("gpt-4o-mini", False),
        ("gpt-4.1", False),
        ("llama3.1:8b", False),
        ("olmo-2", False),
    ],
)
def test_reasoning_models_are_known_by_name(model: str, reasoning: bool) -> None:
    assert is_reasoning_model(model) is reasoning


def test_a_reasoning_model_behind_a_base_url_gets_max_completion_tokens_and_its_effort(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    provider = make_provider(model="o3-mini", reasoning_effort="low", max_tokens=300)
    assert complete(provider).data == {"labels": ["ham"]}
    (body,) = chat_bodies(server)
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    assert "temperature" not in body  # not even null: reasoning models refuse it
    assert body["reasoning_effort"] == "low"
    assert body["response_format"]["type"] == "json_schema"
    assert provider.params["reasoning_effort"] == "low"  # in the cache identity


def test_a_chat_model_behind_a_base_url_keeps_max_tokens_and_temperature(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    complete(make_provider(model="llama3.1:8b", temperature=0.2))
    (body,) = chat_bodies(server)
    assert body["max_tokens"] == 512 and "max_completion_tokens" not in body
    assert body["temperature"] == 0.2 and "reasoning_effort" not in body


def test_temperature_null_sends_none_for_any_model(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    complete(make_provider(model="gpt-4o-mini", temperature=None))
    assert "temperature" not in chat_bodies(server)[0]


def test_the_capabilities_block_overrides_the_defaults_by_name(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    # a gateway's own name for a reasoning model, and JSON mode instead of a schema
    provider = make_provider(
        model="team-reasoner",
        reasoning_effort="high",
        capabilities={
            "temperature": False,
            "max_tokens_field": "max_completion_tokens",
            "reasoning_effort": True,
            "structured_output": "json_object",
        },
    )
    assert complete(provider, "WIN a free prize").data == {"labels": ["spam"]}
    (body,) = chat_bodies(server)
    assert body["max_completion_tokens"] == 512 and "temperature" not in body
    assert body["reasoning_effort"] == "high"
    assert body["response_format"] == {"type": "json_object"}


def test_extra_headers_and_extra_body_arrive_with_every_request(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    provider = make_provider(
        model="gpt-5-mini",
        extra_headers={"X-Team": "search"},
        extra_body={"service_tier": "flex", "metadata": {"run": "issue-18"}},
        timeout=7.5,
    )
    complete(provider)
    complete(provider, "second")
    bodies = chat_bodies(server)
    assert [b["service_tier"] for b in bodies] == ["flex", "flex"]
    assert bodies[0]["metadata"] == {"run": "issue-18"}
    sent = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert all(r.headers["x-team"] == "search" for r in sent)
    assert provider.options.extra_body["service_tier"] == "flex"
    assert "search" not in str(provider.params)  # header values stay out of the identity
    assert (asyncio.run(provider.client())).timeout == 7.5


def test_options_a_model_does_not_take_are_config_errors_naming_the_key(
    make_provider: MakeProvider,
) -> None:
    with pytest.raises(distil.ConfigError, match=r"capabilities\.reasoning_effort"):
        make_provider(model="gpt-4o-mini", reasoning_effort="low")
    with pytest.raises(distil.ConfigError, match="logprobs = false"):
        make_provider(model="o3", logprobs=True)
    with pytest.raises(distil.ConfigError, match="max_tokens_field"):
        make_provider(capabilities={"max_tokens_field": "max_output_tokens"})
    with pytest.raises(distil.ConfigError, match="unknown capability"):
        make_provider(capabilities={"temprature": False})


@pytest.mark.parametrize(
    ("param", "message", "key"),
    [
        (
            "temperature",
            "Unsupported value: 'temperature' does not support 0.0 with this model.",
            "capabilities.temperature = false",
        ),
        (
            "max_tokens",
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            'max_tokens_field = "max_completion_tokens"',
        ),
        (None, "Unrecognized request argument supplied: reasoning_effort", "reasoning_effort"),
    ],
)
def test_a_400_rejecting_a_parameter_names_it_and_the_config_key(
    make_provider: MakeProvider,
    server: LoopbackLLM,
    param: str | None,
    message: str,
    key: str,
) -> None:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param}}
    server.fail_next(400, body=body)
    with pytest.raises(distil.ProviderError) as err:
        complete(make_provider())
    assert not isinstance(err.value, distil.TransientProviderError)
    text = str(err.value)
    name = param or "reasoning_effort"
    assert f"rejects the request parameter '{name}'" in text and key in text
    assert err.value.parameter == name  # type: ignore[attr-defined]


def test_a_400_about_an_extra_body_key_says_to_remove_it(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    body = {"error": {"message": "Unsupported parameter: 'service_tier'", "param": None}}
    server.fail_next(400, body=body)
    with pytest.raises(distil.ProviderError, match=r"remove 'service_tier' from teacher\.provider"):
        complete(make_provider(extra_body={"service_tier": "flex"}))


def test_a_context_length_400_is_not_blamed_on_a_parameter(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    body = {"error": {"message": "maximum context length", "param": "messages"}}
    server.fail_next(400, body=body)
    with pytest.raises(distil.ProviderError) as err:
        complete(make_provider())
    assert "rejects the request parameter" not in str(err.value)


# -- Azure OpenAI -------------------------------------------------------------------------------
def test_azure_requests_hit_the_deployment_url_with_the_api_key_header(
    host: distil.PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    with LoopbackLLM(answer=lambda request: '{"labels": ["spam"]}') as server:
        install_azure_openai(server, api_key=AZURE_KEY, api_version="2024-10-21")
        provider = host.create(
            "providers",
            "openai.azure.v1",
            deployment="prod-o3-mini",
            model="o3-mini",
            endpoint=server.url,
            reasoning_effort="medium",
        )
        assert not provider.supports_batch
        assert complete(provider).data == {"labels": ["spam"]}
        (request,) = server.requests
    assert request.path == "/openai/deployments/prod-o3-mini/chat/completions"
    assert request.query == "api-version=2024-10-21"
    assert request.headers["api-key"] == AZURE_KEY
    assert "authorization" not in request.headers
    body = request.json()
    assert body["max_completion_tokens"] == 512 and "temperature" not in body
    assert body["reasoning_effort"] == "medium"
    assert provider.describe() == "openai.azure/o3-mini"
    assert AZURE_KEY not in repr(provider) and AZURE_KEY not in str(provider.cache_identity())


def test_azure_reads_the_endpoint_from_the_environment_and_needs_a_key(
    host: distil.PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LoopbackLLM(answer=lambda request: '{"labels": ["ham"]}') as server:
        install_azure_openai(server, api_key=AZURE_KEY)
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
        monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
        provider = host.create("providers", "openai.azure.v1", deployment="chat4o")
        with pytest.raises(distil.ProviderError, match="AZURE_OPENAI_API_KEY"):
            complete(provider)
        assert server.requests == []
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-WRONG-key-000000")
        with pytest.raises(distil.ProviderError, match="HTTP 401") as err:
            complete(provider)
        assert "azure-WRONG-key-000000" not in str(err.value)
        monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
        assert complete(provider).data == {"labels": ["ham"]}
        body = server.requests[-1].json()
    # a deployment of a chat model: Azure reads max_completion_tokens, temperature is sent
    assert body["model"] == "chat4o" and body["max_completion_tokens"] == 512
    assert body["temperature"] == 0.0


# -- prompt caching -------------------------------------------------------------------------------
def test_cached_prompt_tokens_are_read_priced_and_shown_in_the_ledger(
    make_provider: MakeProvider,
) -> None:
    labels = [f"intent_{i:02d}_💳" for i in range(77)]
    task = distil.TextCat(labels)

    def answer(request: dict[str, Any]) -> str:
        return '{"labels": ["intent_07_💳"]}'

    with LoopbackLLM(answer=answer) as server:
        install_openai(server, prompt_cache=True)
        provider = make_provider(base_url=server.url + "/v1")
        price = Price(input=2.0, output=8.0, cached_input=0.5)
        teacher = distil.PromptTeacher(provider, concurrency=1, price=price)
        examples = load_split("sms_spam", "test", limit=6)
        preds = teacher.label(task, examples)
        billed = dict(server.billed)
    assert all(p.ok for p in preds)
    ledger = teacher.ledger.to_dict()
    # the 77-label system prompt is the shared prefix: cached from the second request on
    system_tokens = len(teacher.prompt_for(task, examples[0]).messages[0].content.split())
    assert ledger["cached_input_tokens"] == 5 * system_tokens == billed["cached_input_tokens"]
    assert ledger["input_tokens"] == billed["input_tokens"]
    assert preds[0].usage.cached_input_tokens == 0
    assert preds[1].usage.cached_input_tokens == system_tokens
    cached = billed["cached_input_tokens"]
    expected = (
        (billed["input_tokens"] - cached) * 2.0 + cached * 0.5 + billed["output_tokens"] * 8.0
    ) / 1e6
    assert ledger["cost"] == pytest.approx(expected)
    assert ledger["cache_saving"] == pytest.approx(cached * 1.5 / 1e6)
    assert "from the prompt cache, saving $" in teacher.ledger.summary()


# -- server rate-limit headers --------------------------------------------------------------------
def test_the_limiter_waits_for_the_announced_reset_instead_of_meeting_a_429(
    make_provider: MakeProvider,
) -> None:
    with LoopbackLLM(answer=lambda request: '{"labels": ["ham"]}') as server:
        state = install_openai(server, rate_limit=(3, 0.6))  # 3 requests per 0.6 s
        provider = make_provider(base_url=server.url + "/v1")
        teacher = distil.PromptTeacher(provider, concurrency=1)  # no rpm configured
        examples = [distil.Example(id=f"e{i}", text=f"text {i} ✓") for i in range(7)]
        preds = teacher.label(TASK, examples)
        assert state.rejected == 0  # every request waited for the reset it was told of
        assert all(p.ok for p in preds) and teacher.ledger.retries == 0
        assert teacher.ledger.waited_s >= 0.6  # two resets waited for, before sending


def test_rate_limit_headers_of_both_servers_are_read() -> None:
    now = 1_000_000.0
    openai_headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6m0.5s",
        "x-ratelimit-remaining-tokens": "1200",
        "x-ratelimit-reset-tokens": "20ms",
    }
    assert distil.rate_limit_state(openai_headers, now=now) == {
        "remaining_requests": 0,
        "reset_requests_s": 360.5,
        "remaining_tokens": 1200,
        "reset_tokens_s": pytest.approx(0.02),
    }
    anthropic_headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "1970-01-12T13:46:50Z",  # now + 10 s
        "anthropic-ratelimit-tokens-remaining": "garbage",
    }
    assert distil.rate_limit_state(anthropic_headers, now=now) == {
        "remaining_requests": 0,
        "reset_requests_s": pytest.approx(10.0),
    }
