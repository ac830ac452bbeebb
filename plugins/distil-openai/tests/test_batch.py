"""The OpenAI Batch API through openai.chat: upload, create, poll, download, by custom id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import distil
from distil.testing import load_split
from distil.testing.loopback import LoopbackLLM
from distil_openai.provider import OpenAIProvider

MakeProvider = Callable[..., OpenAIProvider]
TASK = distil.TextCat(["ham", "spam"])
EXPLODE_MARKER = "EXPLODE"  # the loopback model (conftest.sms_answer) fails on such texts


async def run_batch(
    provider: OpenAIProvider, requests: list[tuple[str, distil.Prompt]]
) -> tuple[list[str], dict[str, distil.Completion | Exception]]:
    job = await provider.submit_batch(requests)
    statuses = [await provider.batch_status(job)]
    while statuses[-1] == "pending":
        statuses.append(await provider.batch_status(job))
    return statuses, await provider.batch_results(job)


def test_a_batch_round_trip_labels_20_sms_spam_examples(
    make_provider: MakeProvider, server: LoopbackLLM, expected_label: Callable[[str], str]
) -> None:
    provider = make_provider()
    teacher = distil.PromptTeacher(provider)
    examples = load_split("sms_spam", "test", limit=20)
    requests = [(ex.id, teacher.prompt_for(TASK, ex)) for ex in examples]
    statuses, results = asyncio.run(run_batch(provider, requests))
    assert statuses == ["pending", "done"]  # in_progress on the first poll, then completed
    assert set(results) == {ex.id for ex in examples}
    source = teacher.source(TASK)
    for ex in examples:
        completion = results[ex.id]
        assert isinstance(completion, distil.Completion)
        assert completion.data == {"labels": [expected_label(ex.text)]}
        assert completion.meta["batch_id"].startswith("batch")
        pred = teacher.parse(TASK, ex, completion, source)
        assert pred.ok and pred.output.labels == [expected_label(ex.text)]
    assert sum(c.usage.input_tokens for c in results.values()) == server.billed["input_tokens"]
    # the uploaded file held one chat completion body per request, with max_tokens and schema
    state = server.state["openai"]
    (upload,) = [f for f in state.files.values() if f["purpose"] == "batch"]
    lines = state.contents[upload["id"]].decode().splitlines()
    assert len(lines) == 20 and all('"url": "/v1/chat/completions"' in line for line in lines)
    assert all('"max_tokens": 512' in line and '"json_schema"' in line for line in lines)


def test_a_failed_request_in_a_batch_is_an_error_for_its_custom_id(
    make_provider: MakeProvider,
) -> None:
    provider = make_provider()
    teacher = distil.PromptTeacher(provider)
    texts = {"ok": "see you at lunch", "bad": f"{EXPLODE_MARKER} now"}
    requests = [
        (k, teacher.prompt_for(TASK, distil.Example(id=k, text=v))) for k, v in texts.items()
    ]
    _, results = asyncio.run(run_batch(provider, requests))
    assert isinstance(results["ok"], distil.Completion)
    assert isinstance(results["bad"], distil.TransientProviderError)
    assert results["bad"].status == 500 and "crashed" in str(results["bad"])


def test_batch_results_before_completion_are_refused(make_provider: MakeProvider) -> None:
    provider = make_provider()
    prompt = distil.PromptTeacher(provider).prompt_for(TASK, distil.Example(id="a", text="hi"))

    async def early() -> None:
        job = await provider.submit_batch([("a", prompt)])
        await provider.batch_results(job)

    with pytest.raises(distil.ProviderError, match="not completed"):
        asyncio.run(early())


def test_an_unknown_batch_is_a_provider_error(make_provider: MakeProvider) -> None:
    with pytest.raises(distil.ProviderError, match="HTTP 404"):
        asyncio.run(make_provider().batch_status("batch-missing"))
