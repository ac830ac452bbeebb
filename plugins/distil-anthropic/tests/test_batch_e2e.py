"""Batch mode end to end (issue 18, item 8): ``distil label`` with ``[label] mode = "batch"`` in a
subprocess, killed with SIGKILL once its job is submitted, then run again: the second run
collects the stored job instead of submitting another, and every row is answered and paid once.
The real ``anthropic`` SDK against the loopback server's Message Batches endpoints."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distil.store.sqlite import Store
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_anthropic import STATE_KEY, install_anthropic

DISTIL = str(Path(sys.executable).with_name("distil"))
TEXTS = [
    "WIN a FREE prize 🎉 call now to claim",
    "are we still on for lunch? 🍕",
    "URGENT: reply YES to claim your cash 💰",
    "see you at 8 😴",
    "You won a £1000 voucher 🎁 txt WIN",
    "pick up milk pls 🥛",
    "Free entry in a wkly comp 🏆",
    "mum says hi 👋 — «ça va?»",
]
CONFIG = """
[project]
store = "distil.db"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "llm.v1"

[teacher.provider]
@providers = "anthropic.messages.v1"
model = "claude-batch"
base_url = "{url}"
max_tokens = 16

[data]
train = "train.jsonl"
gold = "gold.jsonl"

[label]
mode = "batch"
poll_interval = 0.1

[prices]
"anthropic.messages/claude-batch" = {{"input": 1000, "output": 1000, "batch_discount": 0.5}}
"""


def label_of(text: str) -> str:
    return "spam" if any(w in text.lower() for w in ("win", "free", "claim", "cash")) else "ham"


def answer(request: dict[str, object]) -> str:
    text = str(request["messages"][-1]["content"])  # type: ignore[index]
    return json.dumps({"labels": [label_of(text)]})


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as con:
        try:
            return con.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the first run has not made its tables yet
            return []


def test_a_batch_run_killed_after_submitting_is_collected_by_the_next(tmp_path: Path) -> None:
    rows = [{"id": f"t{i}", "text": t} for i, t in enumerate(TEXTS)]
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    gold = {"id": "g", "text": "free cash 💰", "labels": ["spam"]}
    (tmp_path / "gold.jsonl").write_text(json.dumps(gold) + "\n", encoding="utf-8")
    db = tmp_path / "distil.db"
    env = {
        k: v for k, v in os.environ.items() if k not in {"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"}
    }
    with LoopbackLLM(answer=answer) as server:
        install_anthropic(server, batch_polls=10**9)  # in progress until the test says
        (tmp_path / "distil.cfg").write_text(CONFIG.format(url=server.url), encoding="utf-8")
        first = subprocess.Popen(
            [DISTIL, "label", "distil.cfg"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 120
            # killed once the job is stored and polled: the run is waiting on the provider
            while not (
                query(db, "SELECT job_id FROM batch_jobs")
                and any(
                    r.method == "GET" and r.path.startswith("/v1/messages/batches/")
                    for r in server.requests
                )
            ):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the first run never submitted its job"
                time.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == -signal.SIGKILL
        assert query(db, "SELECT COUNT(*) FROM predictions") == [(0,)]
        [(job_id, status)] = query(db, "SELECT job_id, status FROM batch_jobs")
        assert status == "submitted" and server.billed["requests"] == 0

        server.state[STATE_KEY]["batch_polls"] = 1  # the job ends at the next poll
        second = subprocess.run(
            [DISTIL, "label", "distil.cfg"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        submitted = [
            r for r in server.requests if r.method == "POST" and r.path == "/v1/messages/batches"
        ]
        online = [r for r in server.requests if r.path == "/v1/messages"]
        billed = dict(server.billed)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"labelled {len(TEXTS)} of {len(TEXTS)} 'train' examples" in second.stdout
    # one job submitted, ever; every row answered once, by it; nothing asked online
    assert len(submitted) == 1 and online == [] and billed["requests"] == len(TEXTS)
    assert query(db, "SELECT job_id, status FROM batch_jobs") == [(job_id, "done")]
    stored = query(db, "SELECT example_id, output, error FROM predictions ORDER BY example_id")
    assert [r[0] for r in stored] == sorted(r["id"] for r in rows)
    by_id = {r[0]: json.loads(str(r[1]))["labels"] for r in stored if r[2] is None}
    assert by_id == {r["id"]: [label_of(r["text"])] for r in rows}
    # the killed run is shown interrupted; the spend is the batch answers at the batch price, once
    with Store(db) as store:
        statuses = sorted(run["status"] for run in store.runs("label"))
    assert statuses == ["finished", "interrupted"]  # the killed run's process is gone
    [(spent,)] = query(db, "SELECT SUM(cost) FROM spend")
    tokens = billed["input_tokens"] + billed["output_tokens"]
    assert spent == pytest.approx(tokens * 0.001 * 0.5)
