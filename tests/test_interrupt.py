"""Ctrl-C (and SIGTERM) on a real `distil` process: exit 130, the line, the run `interrupted`,
and every answer received before the signal stored (a resumed run asks only the rest).

The teacher is ``openai.chat.v1`` (the real SDK) against a loopback server that delays each
answer, so the signal always lands while requests are in flight.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli_helpers import DISTIL, make_dist, run_distil
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai

pytest.importorskip("distil_openai")
pytest.importorskip("distil_sklearn")

LINE = "interrupted: the work done so far is saved; run again to resume"
N = 40


def answer(request: dict) -> str:
    text = request["messages"][-1]["content"].lower()
    spam = any(w in text for w in ("free", "win", "prize", "call", "txt", "claim", "cash"))
    return json.dumps({"labels": ["spam" if spam else "ham"]})


@pytest.fixture
def server() -> Iterator[LoopbackLLM]:
    with LoopbackLLM(answer=answer, latency=0.25) as srv:
        install_openai(srv)
        yield srv


def write_project(tmp_path: Path, shared_data: Path, url: str, student: str) -> Path:
    for split, name in (("train", "train.jsonl"), ("test", "gold.jsonl")):
        rows = (shared_data / "sms_spam" / f"{split}.jsonl").read_text().splitlines()[:N]
        (tmp_path / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
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
model = "slow-model"
base_url = "{url}/v1"
api_key_env = "DISTIL_TEST_KEY"
timeout = 30.0
max_tokens = 32

[student]
@students = "{student}"

[train]
trust = false

[data]
train = "train.jsonl"
gold = "gold.jsonl"
""",
        encoding="utf-8",
    )
    return cfg


def stored(db: Path, dataset: str) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            sql = "SELECT COUNT(*) FROM predictions WHERE dataset = ? AND error IS NULL"
            return int(con.execute(sql, (dataset,)).fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def runs(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT kind, status, config FROM runs ORDER BY seq").fetchall()
    return [(kind, status, json.loads(config).get("dataset", "")) for kind, status, config in rows]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(
    args: list[str], until: Callable[[], bool], env: dict[str, str], sig: int = signal.SIGINT
) -> subprocess.CompletedProcess[str]:
    """Start `distil ARGS`, send ``sig`` once ``until()`` holds; return how it ended."""
    proc = subprocess.Popen(
        [DISTIL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        # A suite started as a background job inherits SIGINT ignored, and so would the command:
        # give it the default disposition a terminal's Ctrl-C meets.
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 120
    while not until() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the command ended before it could be interrupted"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


ENV = {"DISTIL_TEST_KEY": "sk-test-interrupt"}


@pytest.mark.parametrize(
    ("command", "dataset"), [("label", "train"), ("evaluate", "gold"), ("run", "train")]
)
def test_ctrl_c_while_the_teacher_answers_exits_130_and_keeps_every_answer(
    command: str, dataset: str, tmp_path: Path, shared_data: Path, server: LoopbackLLM
) -> None:
    cfg = write_project(tmp_path, shared_data, server.url, "sklearn.textcat.v1")
    db = tmp_path / "distil.db"
    result = interrupt([command, str(cfg)], lambda: stored(db, dataset) >= 6, ENV)

    assert result.returncode == 130, result.stderr
    assert LINE in result.stderr and "Traceback" not in result.stderr
    kind, status, labelled = runs(db)[-1]
    assert (kind, status, labelled) == ("label", "interrupted", dataset)
    kept = stored(db, dataset)
    assert 6 <= kept < N
    with sqlite3.connect(db) as con:
        stats = json.loads(con.execute("SELECT stats FROM runs ORDER BY seq DESC").fetchone()[0])
    assert stats["labelled"] == kept  # the stats say what was stored

    # what was answered before the signal is not asked again: the resumed run asks the rest
    asked_before = len(server.requests)
    again = run_distil("label", str(cfg), "--dataset", dataset, env=ENV)
    assert again.returncode == 0, again.stderr
    assert f"({kept} already done)" in " ".join(again.stdout.split())
    assert len(server.requests) - asked_before == N - kept
    assert stored(db, dataset) == N


def test_sigterm_takes_the_same_path_and_exits_143(
    tmp_path: Path, shared_data: Path, server: LoopbackLLM
) -> None:
    cfg = write_project(tmp_path, shared_data, server.url, "sklearn.textcat.v1")
    db = tmp_path / "distil.db"
    result = interrupt(["label", str(cfg)], lambda: stored(db, "train") >= 4, ENV, signal.SIGTERM)
    assert result.returncode == 143, result.stderr
    assert LINE in result.stderr
    assert runs(db)[-1][:2] == ("label", "interrupted")
    assert stored(db, "train") >= 4


SLOW_STUDENT = """
import time
from pathlib import Path
from distil import hookimpl
from distil.student import Student


class SlowStudent(Student):
    name = "test.slow"
    task_kinds = frozenset({"textcat"})

    def fit(self, task, train, dev=None):
        Path(__import__("os").environ["SLOW_FIT_MARK"]).write_text("fitting")
        time.sleep(60)
        return {}

    def predict(self, examples):
        return []

    def save(self, path):
        pass

    @classmethod
    def load(cls, path):
        return cls()


@hookimpl
def register_students(register):
    register("test.slow.v1", SlowStudent)
"""


def test_ctrl_c_during_train_ends_the_train_run_interrupted(
    tmp_path: Path, shared_data: Path, server: LoopbackLLM, plugin_path: Path
) -> None:
    make_dist(plugin_path, "distil-slow-student", SLOW_STUDENT)
    cfg = write_project(tmp_path, shared_data, server.url, "test.slow.v1")
    db = tmp_path / "distil.db"
    env = {**ENV, "PYTHONPATH": str(plugin_path), "SLOW_FIT_MARK": str(tmp_path / "mark")}
    labelled = run_distil("label", str(cfg), env=env)
    assert labelled.returncode == 0, labelled.stderr

    result = interrupt(["train", str(cfg)], (tmp_path / "mark").exists, env)
    assert result.returncode == 130, result.stderr
    assert LINE in result.stderr
    assert runs(db)[-1][:2] == ("train", "interrupted")
