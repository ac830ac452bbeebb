"""`distil label --retry-failed`: stored failures are asked again, never answered from the cache.

A loopback OpenAI server (the real SDK, ``openai.chat.v1``) answers garbage for some banking77
texts first and valid answers after. A plain re-run sends nothing and says how many failures are
stored; the retry sends exactly the failed prompts (re-asks included) and stores valid answers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import distil
import distil.plugins
from distil.project import Project
from distil.testing import load_split
from distil.testing import run_cli as cli
from distil.testing.loopback import LoopbackLLM

distil_openai_plugin = pytest.importorskip("distil_openai.plugin")
from distil.testing.loopback_openai import install_openai, normalise  # noqa: E402

#: Garbage the model "answers" for a failing text: no JSON at all.
GARBAGE = "Sure! 🙂 I'd say this one is about money, probably."


@pytest.fixture
def host() -> Iterator[distil.PluginHost]:
    host = distil.PluginHost(
        entry_points=False, modules=[("openai", distil_openai_plugin)], strict=True
    )
    distil.plugins.set_host(host)
    yield host
    distil.plugins.set_host(None)


class Model:
    """The loopback model: the gold label of each text, garbage for the ``failing`` texts.

    ``reask_valid``: a re-ask (an invalid answer followed by the re-ask message) gets the valid
    answer even for a failing text.
    """

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.labels = {row["text"]: row["labels"][0] for row in rows}
        self.failing: set[str] = set()
        self.reask_valid = False

    def text_of(self, request: dict[str, Any]) -> str:
        first = next(m["content"] for m in request["messages"] if m["role"] == "user")
        return max((t for t in self.labels if t in first), key=len)

    def __call__(self, request: dict[str, Any]) -> str:
        text = self.text_of(request)
        is_reask = len(request["messages"]) > 1
        if text in self.failing and not (is_reask and self.reask_valid):
            return GARBAGE
        return json.dumps({"labels": [self.labels[text]]})


#: Which of the 16 train rows the model first answers with garbage.
FAILING = (0, 3, 7, 12)


def train_rows() -> list[dict[str, Any]]:
    rows = [ex.model_dump() for ex in load_split("banking77", "train", limit=16)]
    rows[3]["text"] = "my card 💳 was charged twice 😡 — why?"  # emoji in a failing text
    return rows


def make_project(tmp_path: Path, url: str, max_reasks: int = 1) -> Path:
    rows = train_rows()
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps({k: r[k] for k in ("id", "text", "labels")}) + "\n" for r in rows),
        encoding="utf-8",
    )
    gold = [ex.model_dump() for ex in load_split("banking77", "test", limit=4)]
    (tmp_path / "gold.jsonl").write_text(
        "".join(json.dumps({k: r[k] for k in ("id", "text", "labels")}) + "\n" for r in gold),
        encoding="utf-8",
    )
    labels = sorted({r["labels"][0] for r in rows + gold})
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        f"""
[project]
store = "distil.db"

[task]
@tasks = "textcat.v1"
labels = {json.dumps(labels)}

[teacher]
@teachers = "llm.v1"
concurrency = 4

[teacher.provider]
@providers = "openai.chat.v1"
model = "loopback-model"
base_url = "{url}/v1"
api_key_env = "DISTIL_TEST_KEY"
timeout = 10.0
max_tokens = 64

[label]
max_reasks = {max_reasks}

[data]
train = "train.jsonl"
gold = "gold.jsonl"
""",
        encoding="utf-8",
    )
    return cfg


@pytest.fixture
def served(
    tmp_path: Path, host: distil.PluginHost, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LoopbackLLM, Model, Path]]:
    monkeypatch.setenv("DISTIL_TEST_KEY", "sk-test-retry")
    rows = train_rows()
    model = Model(rows + [ex.model_dump() for ex in load_split("banking77", "test", limit=4)])
    model.failing = {rows[i]["text"] for i in FAILING}
    with LoopbackLLM(answer=model) as server:
        install_openai(server)
        yield server, model, make_project(tmp_path, server.url)


def sent_texts(server: LoopbackLLM, model: Model, since: int) -> list[str]:
    chats = [r for r in server.requests[since:] if r.path == "/v1/chat/completions"]
    return [model.text_of(normalise(r.json())) for r in chats]


def test_retry_sends_exactly_the_failed_prompts_and_stores_valid_answers(served) -> None:
    server, model, cfg = served
    with Project.from_config(cfg) as project:
        project.import_data()
        first = project.label("train")
        assert (first.labelled, first.failures, first.failed_total) == (16, 4, 4)
        # every text asked once, and each failing one re-asked once (garbage both times)
        everything = [row["text"] for row in rows_of(cfg)]
        assert sorted(sent_texts(server, model, 0)) == sorted(everything + failing_texts(cfg))

        model.failing = set()  # the model answers well from now on
        seen = len(server.requests)
        plain = project.label("train")
        assert plain.labelled == 0 and plain.failed_total == 4 and plain.retried == 0
        assert len(server.requests) == seen  # without the flag nothing is sent

        retry = project.label("train", retry_failed=True)
        texts = sent_texts(server, model, seen)
        preds = project.store.predictions(retry.source, dataset="train")

    assert sorted(texts) == sorted(failing_texts(cfg))  # exactly the failed prompts, once each
    assert (retry.retried, retry.labelled, retry.failures, retry.failed_total) == (4, 4, 0, 0)
    assert retry.ledger["cache_hits"] == 0 and retry.ledger["requests"] == 4
    assert len(preds) == 16 and all(p.ok for p in preds.values())
    by_text = {row["text"]: row for row in rows_of(cfg)}
    for text in failing_texts(cfg):
        assert preds[by_text[text]["id"]].output.labels == by_text[text]["labels"]
    runs = {r["config"].get("retry_failed"): r for r in stored_runs(cfg) if r["kind"] == "label"}
    assert runs[True]["stats"]["retried"] == 4 and runs[True]["status"] == "finished"


def test_the_reask_of_a_retry_is_not_served_from_the_cache_either(served) -> None:
    """The model repeats its first garbage word for word: only the re-ask would now answer well,
    and the cached garbage re-ask of the first run must not stand in for it."""
    server, model, cfg = served
    with Project.from_config(cfg) as project:
        project.import_data()
        assert project.label("train").failures == 4
        model.reask_valid = True
        seen = len(server.requests)
        retry = project.label("train", retry_failed=True)
        texts = sent_texts(server, model, seen)
        preds = project.store.predictions(retry.source, dataset="train")
    assert sorted(texts) == sorted(failing_texts(cfg) * 2)  # the ask and the re-ask, each sent
    assert retry.failures == 0 and all(p.ok for p in preds.values())
    by_text = {row["text"]: row["id"] for row in rows_of(cfg)}
    retried = [preds[by_text[text]] for text in failing_texts(cfg)]
    assert [p.usage.attempts for p in retried] == [2, 2, 2, 2]
    assert all(not p.usage.cached for p in retried)


def test_label_cli_names_the_failures_and_the_flag_that_retries_them(
    served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, model, cfg = served
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 0
    code, out, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 0, err
    flat = " ".join(out.split())
    assert (
        f"4 'train' example(s) have a failed answer stored: `distil label {cfg} --retry-failed`"
        " asks them again" in flat
    )
    model.failing = set()
    code, out, err = cli(monkeypatch, capsys, "label", str(cfg), "--retry-failed")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "asked 4 failed example(s) again (--retry-failed)" in flat
    assert "failed answer stored" not in flat
    with sqlite3.connect(cfg.parent / "distil.db") as con:
        bad = con.execute("SELECT COUNT(*) FROM predictions WHERE error IS NOT NULL").fetchone()
    assert bad == (0,)


# -- helpers ------------------------------------------------------------------------------------
def rows_of(cfg: Path) -> list[dict[str, Any]]:
    lines = (cfg.parent / "train.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def failing_texts(cfg: Path) -> list[str]:
    rows = rows_of(cfg)
    return [rows[i]["text"] for i in FAILING]


def stored_runs(cfg: Path) -> list[dict[str, Any]]:
    from distil.store.sqlite import Store

    with Store(cfg.parent / "distil.db") as store:
        return store.runs()
