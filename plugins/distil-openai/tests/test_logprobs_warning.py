"""``logprobs = true`` against a server that returns none: one warning a run, a count, no crash.

The server is distil's simulated LLM teacher (gold labels at a chosen accuracy), which, like most
LLM APIs, sends no logprobs unless told to fake them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import distil
from distil.testing import load_split, simulated_llm
from distil_openai.provider import OpenAIProvider

TASK = distil.TextCat(["ham", "spam"])
WARNING = "returned no logprobs: confidence is unknown; the queue will rank by label issues instead"


def provider_for(host: distil.PluginHost, base_url: str, **params: object) -> OpenAIProvider:
    provider = host.create(
        "providers", "openai.chat.v1", model="sim-model", base_url=base_url, **params
    )
    assert isinstance(provider, OpenAIProvider)
    return provider


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "distil_openai" and r.levelno == logging.WARNING]


@pytest.fixture
def sms() -> list[distil.Example]:
    return load_split("sms_spam", "test", limit=40)


@pytest.fixture
def gold_path(tmp_path: Path, sms: list[distil.Example]) -> Path:
    path = tmp_path / "sms.jsonl"
    distil.write_jsonl(path, sms)
    return path


def test_a_run_asking_for_logprobs_from_a_server_without_them_warns_once(
    host: distil.PluginHost,
    sms: list[distil.Example],
    gold_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with simulated_llm(gold_path, accuracy=0.9, seed=0) as sim:
        provider = provider_for(host, sim.base_url, logprobs=True)
        teacher = distil.PromptTeacher(provider, concurrency=8)
        preds = teacher.label(TASK, sms)
        assert sim.server.requests[-1].json()["logprobs"] is True
        answers, base_url = sim.teacher.answers, sim.base_url
    # every answer still parses, as the server meant it, with no confidence
    assert [p.output.labels for p in preds] == answers
    assert all(p.confidence is None for p in preds)
    (record,) = warnings_of(caplog)
    assert record.getMessage().startswith(f"openai.chat/sim-model {WARNING}")
    assert base_url in record.getMessage()
    assert provider.logprobs_missing == len(sms)
    # the run's ledger counts them too, so `distil label` and the run stats can say so
    assert teacher.ledger.to_dict()["logprobs_missing"] == len(sms)


def test_each_run_warns_again_and_counts_its_own_answers(
    host: distil.PluginHost,
    sms: list[distil.Example],
    gold_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with simulated_llm(gold_path, accuracy=0.9, seed=0) as sim:
        provider = provider_for(host, sim.base_url, logprobs=True)
        teacher = distil.PromptTeacher(provider, concurrency=8)
        teacher.label(TASK, sms)
        teacher.label(TASK, sms[:5])
    assert len(warnings_of(caplog)) == 2
    assert provider.logprobs_missing == 5


def test_no_warning_when_the_server_returns_logprobs(
    host: distil.PluginHost,
    sms: list[distil.Example],
    gold_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with simulated_llm(gold_path, accuracy=0.9, seed=0, logprobs=True) as sim:
        provider = provider_for(host, sim.base_url, logprobs=True)
        preds = distil.PromptTeacher(provider, concurrency=8).label(TASK, sms)
        wrong = sim.teacher.wrong_ids
    confidence = {p.example_id: p.confidence for p in preds}
    assert None not in confidence.values() and wrong
    assert max(float(confidence[i] or 0.0) for i in wrong) <= 0.85  # the fake range of errors
    assert warnings_of(caplog) == [] and provider.logprobs_missing == 0


def test_no_warning_when_logprobs_were_not_asked_for(
    host: distil.PluginHost,
    sms: list[distil.Example],
    gold_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with simulated_llm(gold_path, accuracy=0.9, seed=0) as sim:
        provider = provider_for(host, sim.base_url)
        distil.PromptTeacher(provider, concurrency=8).label(TASK, sms[:10])
        assert "logprobs" not in sim.server.requests[-1].json()
    assert warnings_of(caplog) == [] and provider.logprobs_missing == 0


def test_batch_results_without_logprobs_warn_once_too(
    host: distil.PluginHost,
    sms: list[distil.Example],
    gold_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with simulated_llm(gold_path, accuracy=0.9, seed=0) as sim:
        provider = provider_for(host, sim.base_url, logprobs=True)
        teacher = distil.PromptTeacher(provider)
        requests = [(ex.id, teacher.prompt_for(TASK, ex)) for ex in sms[:12]]

        async def run() -> dict[str, distil.Completion | Exception]:
            job = await provider.submit_batch(requests)
            while await provider.batch_status(job) == "pending":
                pass
            return await provider.batch_results(job)

        results = asyncio.run(run())
    assert all(isinstance(c, distil.Completion) and c.data for c in results.values())
    assert len(warnings_of(caplog)) == 1 and provider.logprobs_missing == 12
