"""The weak-teacher recipe from the command line: `distil train` with `teacher_weight = "auto"`
chooses the teacher labels' weight on the dev split and says which, with the dev scores.

The teacher is a real OpenAI-compatible server on 127.0.0.1 that gets 60% of sms_spam wrong (a
teacher worse than a coin); 40 human answers with the gold labels are in the store, as the
annotation app writes them.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from cli_helpers import flipping_teacher, run_distil, write_llm_config
from distil import Annotation, Categories
from distil.store.sqlite import Store
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai

pytest.importorskip("distil_sklearn")
pytest.importorskip("distil_openai")

N = 300


def test_train_with_auto_chooses_a_low_teacher_weight_for_a_teacher_that_is_mostly_wrong(
    tmp_path: Path, shared_data: Path
) -> None:
    rows = [
        json.loads(line)
        for line in (shared_data / "sms_spam" / "train.jsonl").read_text().splitlines()[:N]
    ]
    wrong = {r["id"] for r in random.Random(5).sample(rows, int(N * 0.6))}
    dev = (shared_data / "sms_spam" / "dev.jsonl").read_text().splitlines()[:150]
    (tmp_path / "dev.jsonl").write_text("\n".join(dev) + "\n")
    env = {"LOOPBACK_KEY": "sk-loopback"}
    with LoopbackLLM(answer=flipping_teacher(rows, wrong)) as server:
        install_openai(server)
        cfg = write_llm_config(
            tmp_path,
            server.url + "/v1",
            rows,
            shared_data / "sms_spam" / "test.jsonl",
            model="wrong-most-of-the-time",
            data='dev = "dev.jsonl"',
            extra='[train]\ntrust = false\nteacher_weight = "auto"\n',
        )
        labelled = run_distil("label", str(cfg), env=env)
    assert labelled.returncode == 0, labelled.stderr
    first = run_distil("train", str(cfg), env=env)
    assert first.returncode == 0, first.stderr
    assert "teacher weight: auto → 1 (no human answer yet)" in first.stdout
    ham = [r for r in rows if r["labels"] == ["ham"]][:20]
    spam = [r for r in rows if r["labels"] == ["spam"]][:20]
    with Store(tmp_path / "distil.db") as store:
        store.add_annotations(
            Annotation(example_id=r["id"], annotator="ann", output=Categories(labels=r["labels"]))
            for r in ham + spam
        )
    trained = run_distil("train", str(cfg), env=env)
    assert trained.returncode == 0, trained.stderr
    line = next(x for x in trained.stdout.splitlines() if x.startswith("teacher weight:"))
    found = re.fullmatch(
        r"teacher weight: auto → (\S+) \(dev macro_f1: 1: (\S+), 0\.1: (\S+), 0\.01: (\S+), "
        r"0: (\S+); 0: human answers alone\)",
        line,
    )
    assert found, line
    chosen, *scores = found.groups()
    by_weight = dict(zip(["1", "0.1", "0.01", "0"], map(float, scores), strict=True))
    assert float(chosen) < 1 and by_weight[chosen] == max(by_weight.values())
    assert by_weight["1"] < 0.5  # the teacher's labels alone are mostly wrong
    with Store(tmp_path / "distil.db") as store:
        run = store.runs("train")[0]
    assert run["stats"]["teacher_weight"]["chosen"] == float(chosen)
