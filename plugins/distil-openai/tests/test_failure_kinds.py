"""Failures stored as what they are (issue 18): a request that got no answer is not a parse
failure, and an out-of-set label is stored without the whole label list."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import distil
from distil.cli.stages import _failures
from distil.teach.retry import RetryPolicy
from distil.teach.runner import label_dataset
from distil.testing.loopback import Fault, LoopbackLLM
from distil.testing.loopback_openai import install_openai
from distil_openai.provider import OpenAIProvider

MakeProvider = Callable[..., OpenAIProvider]
LABELS = [f"card_{i:02d}_💳" for i in range(77)]
TASK = distil.TextCat(LABELS)


def answer(request: dict[str, Any]) -> str:
    text = request["messages"][-1]["content"]
    return json.dumps({"labels": ["refund ✈️" if "refund" in text else LABELS[3]]})


def test_timeouts_are_request_failures_and_bad_labels_parse_failures(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    with LoopbackLLM(answer=answer) as server:
        install_openai(server)
        provider = make_provider(base_url=server.url + "/v1", timeout=0.3)
        teacher = distil.PromptTeacher(
            provider, concurrency=1, max_reasks=1, retry=RetryPolicy(max_retries=0)
        )
        store = distil.Store(tmp_path / "distil.db")
        texts = ["my card is lost", "a refund please", "card stuck in the ATM 🏧"]
        examples = [distil.Example(id=f"e{i}", text=t) for i, t in enumerate(texts)]
        store.add_examples(examples, "train")
        server.inject(Fault(kind="timeout", delay=0.8))  # the first request gets no answer
        result = label_dataset(store, TASK, teacher, "train")
        preds = store.predictions(result.source)
        bodies = [r.json() for r in server.requests if r.path == "/v1/chat/completions"]
        store.close()
    assert result.failures == 2
    assert result.request_failures == 1 and result.parse_failures == 1
    stats = result.to_dict()
    assert stats["request_failures"] == 1 and stats["parse_failures"] == 1
    line = _failures(stats)
    assert line.startswith("1 parse failure(s), 1 request(s) without an answer (timeouts")
    timed_out = preds["e0"]
    assert timed_out.error is not None and "timed out" in timed_out.error
    bad = preds["e1"].error or ""
    assert "['refund ✈️'] not in the task's labels (77 labels, listed in the instructions)" in bad
    assert LABELS[50] not in bad and len(bad) < 200
    # the re-ask repeats the prompt (which lists the labels once), not the labels in the error
    (reask,) = [b for b in bodies if len(b["messages"]) == 4]
    reask_message = reask["messages"][-1]["content"]
    assert "77 labels" in reask_message and LABELS[50] not in reask_message
    assert preds["e2"].ok
