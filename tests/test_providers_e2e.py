"""Each API provider through the whole label stage, with the real SDK against a loopback server.

Faults are injected (429s with Retry-After, 500s, a timeout, a malformed body, an invalid answer):
every example must end labelled or recorded as a failure with its reason, none twice, and the
ledger's token count must equal what the server billed. The API key must appear nowhere.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from distil.project import Project
from distil.testing.loopback import Fault, LoopbackLLM
from distil.testing.loopback_anthropic import install_anthropic
from distil.testing.loopback_openai import install_openai

SPAMMY = re.compile(r"\b(free|win|won|prize|call|txt|claim|urgent|cash)\b", re.I)
N = 120
SECRET = "sk-test-SECRET-9f8e7d6c5b4a"

PROVIDERS = {
    "openai": (install_openai, "openai.chat.v1", "OPENAI_API_KEY", "/v1"),
    "anthropic": (install_anthropic, "anthropic.messages.v1", "ANTHROPIC_API_KEY", ""),
}


def answer(request: dict) -> str:
    text = request["messages"][-1]["content"]
    if "BROKEN" in text:
        return '{"labels": ["not-a-label"]}'
    return json.dumps({"labels": ["spam" if SPAMMY.search(text) else "ham"]})


def config(tmp_path: Path, shared_data: Path, provider: str, url: str, key_env: str) -> Path:
    rows = (shared_data / "sms_spam" / "train.jsonl").read_text().splitlines()[:N]
    first = json.loads(rows[0])
    first["text"] = "BROKEN " + first["text"]  # the model answers this one with an unknown label
    rows[0] = json.dumps(first)
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        f"""
[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "llm.v1"
concurrency = 8

[teacher.provider]
@providers = "{provider}"
model = "test-model-1"
base_url = "{url}"
api_key_env = "{key_env}"
timeout = 4.0
max_tokens = 64

[label]
max_reasks = 0

[data]
train = "train.jsonl"
gold = "{shared_data}/sms_spam/test.jsonl"
gold_limit = 20
"""
    )
    return cfg


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_labelling_with_faults_ends_with_every_example_once_and_an_exact_ledger(
    name: str,
    tmp_path: Path,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    install, provider, key_env, suffix = PROVIDERS[name]
    monkeypatch.setenv(key_env, SECRET)
    caplog.set_level(logging.DEBUG)
    with LoopbackLLM(answer=answer) as server:
        install(server)
        server.fail_next(429, times=4, headers={"retry-after": "0.05"})
        server.fail_next(500, times=3)
        server.inject(Fault(kind="timeout", delay=4.5))
        server.inject(Fault(kind="malformed"))
        with Project.from_config(
            config(tmp_path, shared_data, provider, server.url + suffix, key_env)
        ) as project:
            project.import_data()
            result = project.label("train")
            ids = [
                r[0]
                for r in sqlite3.connect(project.config.store_path).execute(
                    "SELECT example_id FROM predictions"
                )
            ]
            preds = project.store.predictions(result.source)
            report, paths = project.evaluate(tmp_path / "report")
        billed = dict(server.billed)
        post_paths = [r.path for r in server.requests if r.method == "POST"]

    assert len(ids) == len(set(ids))  # none twice
    assert len(preds) == N
    failed = {i: p for i, p in preds.items() if not p.ok}
    assert all(p.error for p in failed.values())
    assert any("not in the task's labels" in (p.error or "") for p in failed.values())
    assert sum(p.ok for p in preds.values()) >= N - 3
    # every request that was sent and answered was billed; the ledger counts exactly those tokens
    ledger = result.ledger
    assert ledger["retries"] >= 4 + 3 + 2
    gold_in = sum(p.usage.input_tokens for p in gold_answers(tmp_path / "distil.db"))
    assert gold_in > 0
    assert ledger["input_tokens"] == billed["input_tokens"] - gold_in
    assert len(post_paths) >= N + 9
    # the key is nowhere: logs, store, report
    assert SECRET not in caplog.text
    store_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("distil.db*"))
    assert SECRET.encode() not in store_bytes
    for path in paths.values():
        assert SECRET not in Path(path).read_text()
    assert report["sources"][0]["role"] == "teacher"


def gold_answers(db: Path) -> list:
    """The teacher's answers on the gold set (asked after the train run), from the store."""
    from distil.store.sqlite import Store

    with Store(db) as store:
        gold_ids = [ex.id for ex in store.examples("gold")]
        teachers = [s for s in store.sources() if s.startswith("teacher:")]
        return [p for s in teachers for p in store.predictions(s, gold_ids).values()]
