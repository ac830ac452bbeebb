"""`distil label` with an LLM teacher that gives no confidence, `distil train`, then the queue.

The teacher is a real OpenAI-compatible server on 127.0.0.1 (no logprobs, so no confidence) that
answers sms_spam with the gold label, except for a seeded 10% it gets wrong. Everything runs
through the CLI; the workspace is opened the way `distil annotate` opens it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import flipping_teacher, run_distil, write_llm_config
from distil.store.sqlite import Store
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai

pytest.importorskip("cleanlab")
pytest.importorskip("distil_sklearn")
pytest.importorskip("distil_openai")
pytest.importorskip("distil_annotate")

N = 300


def rows_and_flips(shared_data: Path) -> tuple[list[dict[str, Any]], set[str]]:
    rows = [
        json.loads(line)
        for line in (shared_data / "sms_spam" / "train.jsonl").read_text().splitlines()[:N]
    ]
    flips = {r["id"] for r in random.Random(11).sample(rows, N // 10)}
    return rows, flips


def test_train_stores_trust_scores_and_the_check_pass_opens_on_a_likely_teacher_error(
    tmp_path: Path, shared_data: Path
) -> None:
    from distil_annotate.server import open_workspace

    rows, flips = rows_and_flips(shared_data)
    env = {"LOOPBACK_KEY": "sk-loopback"}
    with LoopbackLLM(answer=flipping_teacher(rows, flips)) as server:
        install_openai(server)
        gold = shared_data / "sms_spam" / "test.jsonl"
        cfg = write_llm_config(tmp_path, server.url + "/v1", rows, gold)
        labelled = run_distil("label", str(cfg), env=env)
    assert labelled.returncode == 0, labelled.stderr
    assert f"labelled {N} of {N} 'train' examples" in labelled.stdout
    trained = run_distil("train", str(cfg), env=env)
    assert trained.returncode == 0, trained.stderr
    assert "label issue(s) found among 300 teacher labels (5 folds" in trained.stdout

    with Store(tmp_path / "distil.db") as store:
        teacher = next(s for s in store.sources() if s.startswith("teacher:"))
        assert all(p.confidence is None for p in store.predictions(teacher).values())
        run = store.runs("train")[0]
        trust = store.predictions(run["stats"]["trust_source"])
        assert len(store.predictions(run["stats"]["source"])) == N  # the student on train
    issues = {i for i, p in trust.items() if json.loads(p.raw or "{}")["issue"]}
    assert f"trust scores: {len(issues)} label issue(s)" in trained.stdout
    assert len(issues & flips) >= 19  # measured: 21 of the 30 wrong labels (24 flags)

    workspace, project = open_workspace(cfg)  # as `distil annotate CONFIG` opens it
    try:
        state = workspace.state("ann")
        card = state["card"]
        assert (state["pass"], state["queue"]["strategy"]) == ("check", "label_issues")
        assert card["label_issue"] or card["disagree"]
        assert card["trust"] == min(p.confidence for p in trust.values())
        first = []
        for _ in range(10):
            card = workspace.state("ann", "check")["card"]
            first.append(card["example_id"])
            workspace.answer("ann", "check", card["example_id"], "ignore")
        assert len(set(first) & flips) >= 9  # measured: all of the first 10 cards
        assert workspace.state("ann")["queue"]["stale"] is True
    finally:
        project.close()

    # The strategy comes from the config, with no Python: [annotate] queue.
    cfg.write_text(cfg.read_text() + '\n[annotate]\nqueue = "confidence"\n')
    report = run_distil("annotate", str(cfg), "--report", env=env)
    assert report.returncode == 0, report.stderr
    queue = json.loads(report.stdout)["queue"]
    assert (queue["strategy"], queue["requested"], queue["stale"]) == (
        "confidence",
        "confidence",
        True,
    )
    assert (
        queue["notice"]
        == "10 answer(s) since the last `distil train`: retrain to refresh the queue"
    )
