"""Two `distil label` processes on one store never pay twice: the second waits for the first
(saying for whom) and then finds the work done, or refuses with --no-wait.

The teacher is ``openai.chat.v1`` (the real SDK) against a loopback server that counts requests
and delays each answer, so the two processes really overlap.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_helpers import DISTIL, run_distil
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai, normalise

pytest.importorskip("distil_openai")

N = 30
ENV = {"DISTIL_TEST_KEY": "sk-test-lock"}


def answer(request: dict) -> str:
    spam = "free" in request["messages"][-1]["content"].lower()
    return json.dumps({"labels": ["spam" if spam else "ham"]})


@pytest.fixture
def server() -> Iterator[LoopbackLLM]:
    with LoopbackLLM(answer=answer, latency=0.15) as srv:
        install_openai(srv)
        yield srv


@pytest.fixture
def cfg(tmp_path: Path, shared_data: Path, server: LoopbackLLM) -> Path:
    rows = (shared_data / "sms_spam" / "train.jsonl").read_text().splitlines()[:N]
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    gold = (shared_data / "sms_spam" / "test.jsonl").read_text().splitlines()[:5]
    (tmp_path / "gold.jsonl").write_text("\n".join(gold) + "\n", encoding="utf-8")
    path = tmp_path / "distil.cfg"
    path.write_text(
        f"""
[project]
store = "distil.db"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "llm.v1"
concurrency = 2

[teacher.provider]
@providers = "openai.chat.v1"
model = "shared-model"
base_url = "{server.url}/v1"
api_key_env = "DISTIL_TEST_KEY"
timeout = 30.0
max_tokens = 32

[data]
train = "train.jsonl"
gold = "gold.jsonl"
""",
        encoding="utf-8",
    )
    return path


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DISTIL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    )


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def asked(server: LoopbackLLM) -> Counter[str]:
    """How often each text was sent (its user message), over every chat request."""
    chats = [r for r in server.requests if r.path == "/v1/chat/completions"]
    return Counter(normalise(r.json())["messages"][-1]["content"] for r in chats)


def test_two_labellers_on_one_store_send_each_text_once(
    cfg: Path, server: LoopbackLLM, tmp_path: Path
) -> None:
    db = tmp_path / "distil.db"
    first = start("label", str(cfg))
    deadline = time.monotonic() + 60
    while stored(db) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = start("label", str(cfg))
    _, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)

    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert f"waiting for another distil label (pid {first.pid}) on this store" in err2
    counts = asked(server)
    assert len(counts) == N and set(counts.values()) == {1}  # each text sent once between them
    assert f"labelled 0 of {N} 'train' examples ({N} already done)" in " ".join(out2.split())
    assert stored(db) == N


def test_started_together_they_still_send_each_text_once(
    cfg: Path, server: LoopbackLLM, tmp_path: Path
) -> None:
    procs = [start("label", str(cfg)) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    counts = asked(server)
    assert len(counts) == N and max(counts.values()) == 1
    labelled = [" ".join(out.split()) for out, _ in results]
    assert sorted(f"labelled {N} of {N}" in line for line in labelled) == [False, True]


def test_no_wait_refuses_naming_the_other_labeller_and_sends_nothing(
    cfg: Path, server: LoopbackLLM, tmp_path: Path
) -> None:
    db = tmp_path / "distil.db"
    first = start("label", str(cfg))
    deadline = time.monotonic() + 60
    while stored(db) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = run_distil("label", str(cfg), "--no-wait", env=ENV)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err

    assert refused.returncode == 1
    assert "[E020] another distil label (pid" in refused.stderr
    assert f"(pid {first.pid}) is running on this store" in refused.stderr
    assert "Traceback" not in refused.stderr
    with sqlite3.connect(db) as con:
        label_runs = con.execute("SELECT status FROM runs WHERE kind = 'label'").fetchall()
    assert label_runs == [("finished",)]  # the refused process started no run
    counts = asked(server)
    assert len(counts) == N and set(counts.values()) == {1}  # nothing was sent twice
