"""The API key: from the environment only, and nowhere in logs, errors, params or descriptions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

import distil
from distil.teach.runner import label_dataset
from distil.testing import load_split
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai
from distil_openai.provider import OpenAIProvider

MakeProvider = Callable[..., OpenAIProvider]
TASK = distil.TextCat(["ham", "spam"])
SECRET = "sk-test-SECRET-123"
WRONG = "sk-wrong-KEY-456789"


def test_the_key_appears_in_no_log_error_or_description(
    make_provider: MakeProvider,
    server: LoopbackLLM,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_openai(server, api_key=SECRET)  # the server now requires this key
    monkeypatch.setenv("DISTIL_TEST_KEY", SECRET)
    monkeypatch.setenv("DISTIL_TEST_WRONG_KEY", WRONG)
    for name in ("openai", "httpx", "httpx2", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    provider = make_provider(api_key_env="DISTIL_TEST_KEY")
    teacher = distil.PromptTeacher(provider, concurrency=4)
    examples = load_split("sms_spam", "test", limit=5)
    preds = teacher.label(TASK, examples)
    assert all(p.ok for p in preds)
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"

    # The server echoes a rejected key in its 401 message (as OpenAI does, masked).
    wrong = make_provider(api_key_env="DISTIL_TEST_WRONG_KEY")
    with pytest.raises(distil.ProviderError, match="HTTP 401") as err:
        asyncio.run(wrong.complete(teacher.prompt_for(TASK, examples[0])))
    assert not isinstance(err.value, distil.TransientProviderError)
    assert WRONG not in str(err.value) and "[REDACTED]" in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is not None  # suppressed

    # Whatever logs the key on the SDK's loggers (the SDK's debug logging, a custom hook) is redacted.
    logging.getLogger("openai._base_client").debug("Request options: %s", {"api_key": SECRET})
    logging.getLogger("httpx2").info("Authorization: Bearer %s", SECRET)

    assert caplog.records, "DEBUG logging of the SDK should have produced records"
    for record in caplog.records:
        assert SECRET not in record.getMessage() and WRONG not in record.getMessage()
    assert SECRET not in caplog.text and WRONG not in caplog.text
    assert "[REDACTED]" in caplog.text
    for p in (provider, wrong):
        for shown in (repr(p), p.describe(), str(p.cache_identity()), str(p.params), str(vars(p))):
            assert SECRET not in shown and WRONG not in shown
    for pred in preds:
        assert SECRET not in pred.model_dump_json()


def test_credentials_in_a_base_url_stay_out_of_params_and_repr(
    make_provider: MakeProvider, server: LoopbackLLM
) -> None:
    url = server.url.replace("http://", "http://user:hunter2-pass@") + "/v1"
    provider = make_provider(base_url=url)
    assert "hunter2" not in repr(provider) and "hunter2" not in str(provider.cache_identity())


def test_a_key_the_server_echoes_in_a_header_is_in_no_debug_log_store_or_report(
    make_provider: MakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    # openai 3.x logs through httpx2/httpcore2: at DEBUG the transport logs every response header.
    key = "sk-echoed-KEY-7f3a9c1e5b"
    monkeypatch.setenv("DISTIL_ECHO_KEY", key)
    caplog.set_level(logging.DEBUG)  # the root logger: every logger the SDK stack uses
    with LoopbackLLM(answer=lambda request: '{"labels": ["spam"]}') as server:
        install_openai(server, api_key=key, echo_key_header="x-echo-authorization")
        provider = make_provider(base_url=server.url + "/v1", api_key_env="DISTIL_ECHO_KEY")
        store = distil.Store(tmp_path / "distil.db")
        store.add_examples(load_split("sms_spam", "test", limit=4), "train")
        result = label_dataset(store, TASK, distil.PromptTeacher(provider), "train")
        store.close()
        echoed = server.requests[-1].headers["authorization"]
    assert echoed == f"Bearer {key}" and result.labelled == 4 and result.failures == 0
    names = {r.name for r in caplog.records}
    assert {"httpcore2.http11", "openai._base_client"} & names, names  # DEBUG logging ran
    assert any("x-echo-authorization" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert key not in record.getMessage(), record.name
    assert key not in caplog.text and "[REDACTED]" in caplog.text
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("distil.db*"))
    assert key.encode() not in stored
    assert key not in json.dumps(result.to_dict())
