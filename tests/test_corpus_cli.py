"""A corpus of shards from the command line: `distil label --corpus` and `distil predict
--corpus` on the local executor, the real OpenAI SDK against a loopback server as the teacher
and a really trained scikit-learn student.

The corpus is 300 sms_spam rows the project never imports, in a JSONL shard and a Parquet
shard; the server counts what it is asked, so a second run is seen to ask nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import flipping_teacher, run_distil, write_llm_config
from distil.store.corpus import iter_results
from distil.store.sqlite import Store
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai

pytest.importorskip("distil_sklearn")
pytest.importorskip("distil_openai")
pa = pytest.importorskip("pyarrow")


def chat_requests(server: LoopbackLLM) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/chat/completions"))


def test_label_and_predict_a_corpus_of_shards_from_the_cli(
    tmp_path: Path, shared_data: Path
) -> None:
    import pyarrow.parquet as pq

    lines = (shared_data / "sms_spam" / "train.jsonl").read_text().splitlines()
    train = [json.loads(line) for line in lines[:200]]
    corpus_rows = [json.loads(line) for line in lines[200:500]]
    for r in corpus_rows:
        r["text"] += " ✉️"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "part-0.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in corpus_rows[:150])
    )
    pq.write_table(pa.Table.from_pylist(corpus_rows[150:]), corpus / "part-1.parquet")
    env = {"LOOPBACK_KEY": "sk-loopback"}
    with LoopbackLLM(answer=flipping_teacher(train + corpus_rows, set())) as server:
        install_openai(server)
        cfg = write_llm_config(
            tmp_path, server.url + "/v1", train, shared_data / "sms_spam" / "test.jsonl"
        )
        out = tmp_path / "labels"
        labelled = run_distil(
            "label",
            str(cfg),
            "--corpus",
            str(corpus),
            "--output",
            str(out),
            "--into",
            "archive",
            env=env,
        )
        assert labelled.returncode == 0, labelled.stderr
        asked = chat_requests(server)
        again = run_distil(
            "label", str(cfg), "--corpus", str(corpus), "--output", str(out), env=env
        )
        asked_again = chat_requests(server) - asked
        refused = run_distil("label", str(cfg), "--corpus", str(corpus), env=env)
        assert run_distil("label", str(cfg), env=env).returncode == 0
    assert "labelled 300 examples of" in labelled.stdout
    assert "2 of 2 shard(s) in this run" in labelled.stdout
    assert "300 merged into 'archive'" in labelled.stdout
    assert asked == 300 and asked_again == 0
    assert "labelled 0 examples" in again.stdout and "(2 done before)" in again.stdout
    assert refused.returncode != 0 and "--corpus and --output go together" in refused.stderr
    labels = {
        r["example"]["id"]: r["prediction"]["output"]["labels"]
        for shard in ("part-0.jsonl", "part-1.jsonl")
        for r in iter_results(out / shard)
    }
    assert labels == {r["id"]: r["labels"] for r in corpus_rows}  # the teacher's (gold) labels
    with Store(tmp_path / "distil.db") as store:
        assert store.count_examples("archive") == 300
        assert store.count_examples("train") == 200

    trained = run_distil("train", str(cfg), env=env)
    assert trained.returncode == 0, trained.stderr
    predicted = run_distil(
        "predict", str(cfg), "--corpus", str(corpus), "--output", str(tmp_path / "scored"), env=env
    )
    assert predicted.returncode == 0, predicted.stderr
    assert "predicted 300 examples of" in predicted.stdout
    scored = [r for r in iter_results(tmp_path / "scored" / "part-1.jsonl") if "prediction" in r]
    gold = {r["id"]: r["labels"] for r in corpus_rows}
    right = sum(r["prediction"]["output"]["labels"] == gold[r["example"]["id"]] for r in scored)
    assert len(scored) == 150 and right / len(scored) > 0.85  # a real student, really trained
    on_store = run_distil("predict", str(cfg), "--dataset", "archive", env=env)
    assert on_store.returncode == 0, on_store.stderr
    assert "predicted 300 of 300 'archive' examples" in on_store.stdout
