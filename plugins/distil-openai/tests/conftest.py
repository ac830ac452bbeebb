"""Fixtures: a loopback server speaking the OpenAI wire format, and providers pointed at it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import distil
import distil.plugins
import distil_openai.plugin
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import REFUSE, install_openai
from distil_openai.provider import OpenAIProvider

SPAM_WORDS = {"free", "win", "won", "prize", "call", "txt", "claim", "cash", "urgent", "reply"}
#: Texts with these markers make the loopback model refuse, or fail (a 500 for that request).
#: (Test modules repeat the values: conftest is not importable under --import-mode=importlib.)
REFUSE_MARKER = "REFUSE-ME"
EXPLODE_MARKER = "EXPLODE"


def sms_answer(request: dict[str, Any]) -> str:
    """A plausible sms_spam teacher: "spam" when the text has a spammy word, else "ham"."""
    text = request["messages"][-1]["content"]
    if REFUSE_MARKER in text:
        return REFUSE + " I can't help with that."
    if EXPLODE_MARKER in text:
        raise RuntimeError("the model crashed on this request")
    words = set(re.findall(r"[a-z]+", text.lower()))
    return json.dumps({"labels": ["spam" if words & SPAM_WORDS else "ham"]})


def _expected_label(text: str) -> str:
    return "spam" if set(re.findall(r"[a-z]+", text.lower())) & SPAM_WORDS else "ham"


@pytest.fixture
def expected_label() -> Callable[[str], str]:
    """The label the loopback model gives a text."""
    return _expected_label


@pytest.fixture(autouse=True, scope="module")
def host() -> Iterator[distil.PluginHost]:
    """Only core's built-ins and this plugin: tests never load whatever else is installed."""
    host = distil.PluginHost(
        entry_points=False, modules=[("openai", distil_openai.plugin)], strict=True
    )
    distil.plugins.set_host(host)
    yield host
    distil.plugins.set_host(None)


@pytest.fixture
def server(shared_data: object) -> Iterator[LoopbackLLM]:
    with LoopbackLLM(answer=sms_answer) as server:
        install_openai(server, batch_polls=2)
        yield server


@pytest.fixture
def make_provider(server: LoopbackLLM, host: distil.PluginHost) -> Callable[..., OpenAIProvider]:
    """A provider from the registry, pointed at the loopback server (override any key)."""

    def make(**params: Any) -> OpenAIProvider:
        params.setdefault("model", "gpt-test")
        params.setdefault("base_url", server.url + "/v1")
        provider = host.create("providers", "openai.chat.v1", **params)
        assert isinstance(provider, OpenAIProvider)
        return provider

    return make
