"""A corpus of the user's shards, labelled and predicted where it lies (local executor).

Real sms_spam texts (with emoji added) in a nested folder of JSONL and Parquet shards; a
scripted LLM that counts what it is asked, so "asked once" is counted at the LLM's door; a run
killed in the middle and run again; the results merged into the store and trained on.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, Completion, Example, Prompt, PromptTeacher, Provider, Usage
from distil.errors import ConfigError, DataError
from distil.execute import LocalExecutor
from distil.store.corpus import corpus_shards, iter_results, read_header
from distil.store.sqlite import Store
from distil.tasks import TextCat
from distil.testing.data import load_split

SPAM_WORDS = {"free", "win", "won", "prize", "call", "txt", "claim", "cash", "urgent", "reply"}


class Killed(Exception):
    """Stands in for the process dying (not a DistilError: nothing handles it)."""


class CountingLLM(Provider):
    """Answers spam for a spammy word, else ham; counts texts; can die after ``die_after``."""

    name = "test.counting"

    def __init__(self, die_after: int | None = None, model: str = "counting-1") -> None:
        super().__init__(model, {})
        self.asked: Counter[str] = Counter()
        self.die_after = die_after

    async def complete(self, prompt: Prompt) -> Completion:
        if self.die_after is not None and sum(self.asked.values()) >= self.die_after:
            raise Killed
        text = prompt.messages[-1].content
        self.asked[text] += 1
        spam = set(re.findall(r"[a-z]+", text.lower())) & SPAM_WORDS
        label = "spam" if spam else "ham"
        return Completion(text=json.dumps({"labels": [label]}), usage=Usage(input_tokens=9))


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    examples = load_split("sms_spam", "train", limit=start + n)[start:]
    return [
        {"id": ex.id, "text": f"{ex.text} 🦀", "source_file": "sms", "labels": ex.labels}
        for ex in examples
    ]


def write_jsonl(path: Path, items: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            (x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in items
        )
    )


def write_parquet(path: Path, items: list[dict[str, Any]]) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(items), path)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Three shards in two folders: 30 JSONL rows (one bad line, one id twice), 25 Parquet rows
    and 20 JSONL rows whose ids collide with the first shard's (another shard: another row)."""
    root = tmp_path / "corpus"
    first = rows(30)
    write_jsonl(
        root / "a" / "part-0.jsonl",
        [*first[:10], "{not json", *first[10:], {"id": first[3]["id"], "text": "dup 🦀"}],
    )
    write_parquet(root / "b" / "part-1.parquet", rows(25, start=30))
    collide = [{**r, "id": first[i]["id"]} for i, r in enumerate(rows(20, start=55))]
    write_jsonl(root / "b" / "part-2.jsonl", collide)
    (root / "notes.txt").write_text("not a shard")
    return root


def label(store: Store, corpus: Path, out: Path, llm: CountingLLM, **kw: Any) -> Any:
    teacher = PromptTeacher(llm, concurrency=4, max_reasks=0)
    task = TextCat(["ham", "spam"])
    return LocalExecutor(batch_size=8).label_corpus(store, task, teacher, corpus, out, **kw)


def results(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {str(p.relative_to(out)): list(iter_results(p)) for p in sorted(out.rglob("*.jsonl"))}


def test_a_corpus_is_labelled_where_it_lies_one_result_shard_per_input_shard(
    tmp_path: Path, corpus: Path
) -> None:
    llm = CountingLLM()
    with Store(tmp_path / "distil.db") as store:
        result = label(store, corpus, tmp_path / "out", llm)
        assert store.count_examples("corpus") == 0  # nothing imported: no store round trip
    got = results(tmp_path / "out")
    assert sorted(got) == ["a/part-0.jsonl", "b/part-1.jsonl", "b/part-2.jsonl"]
    first = got["a/part-0.jsonl"]
    answered = [r for r in first if "prediction" in r]
    rejected = [r["rejected"] for r in first if "rejected" in r]
    assert len(answered) == 30
    assert [(r["line"], r["reason"][:14]) for r in rejected] == [
        (11, "invalid JSON: "),
        (32, "duplicate id '"),
    ]
    assert rejected[0]["path"].endswith("part-0.jsonl") and rejected[0]["raw"] == "{not json"
    assert len([r for r in got["b/part-1.jsonl"] if "prediction" in r]) == 25
    assert len([r for r in got["b/part-2.jsonl"] if "prediction" in r]) == 20
    # each text asked once, whatever shard or colliding id it came with
    assert sum(llm.asked.values()) == 75 and max(llm.asked.values()) == 1
    by_text = {r["example"]["text"]: r["prediction"]["output"]["labels"] for r in answered}
    assert {lab for labs in by_text.values() for lab in labs} == {"ham", "spam"}
    assert all(t.endswith("🦀") for t in by_text)
    assert answered[0]["example"]["meta"] == {"source_file": "sms"}
    header = read_header(tmp_path / "out" / "a" / "part-0.jsonl")
    assert header is not None and header["stage"] == "label" and header["source"] == result.source
    assert (result.shards, result.shards_done_before, result.answered) == (3, 0, 75)
    assert (result.failures, result.rejected, result.merged) == (0, 2, 0)
    assert result.ledger is not None and result.ledger["requests"] == 75


def test_a_run_killed_mid_shard_resumes_asking_each_text_once(tmp_path: Path, corpus: Path) -> None:
    out = tmp_path / "out"
    with Store(tmp_path / "distil.db") as store:
        dying = CountingLLM(die_after=40)  # dies inside the second shard
        with pytest.raises(Killed):
            label(store, corpus, out, dying)
        assert (out / "a" / "part-0.jsonl").exists()  # the first shard finished
        partial = out / "b" / "part-1.jsonl.partial"
        assert partial.exists() and not (out / "b" / "part-1.jsonl").exists()
        with partial.open("a", encoding="utf-8") as fh:
            fh.write('{"key": "cut short by the ki')  # a line the kill left half-written
        resumed = CountingLLM()
        result = label(store, corpus, out, resumed)
    assert result.shards_done_before == 1 and result.answered == 45  # 25 + 20, in this run
    both = dying.asked + resumed.asked
    # asked once each; a request in flight at the kill (at most the concurrency) is asked again
    # when its answer was never written, and cached answers are served from the store's cache
    assert set(both) == {r["text"] for r in rows(75)} and sum(resumed.asked.values()) <= 35
    assert max(resumed.asked.values()) == 1
    lines = results(out)["b/part-1.jsonl"]
    keys = [r["key"] for r in lines]
    assert len(keys) == len(set(keys)) == 25
    again = CountingLLM()
    with Store(tmp_path / "distil.db") as store:
        done = label(store, corpus, out, again)
    assert (done.shards_done_before, done.answered, sum(again.asked.values())) == (3, 0, 0)


def test_merged_into_the_store_a_corpus_is_a_data_set_to_train_on(
    tmp_path: Path, corpus: Path
) -> None:
    from distil.testing.executors import KeywordStudent

    with Store(tmp_path / "distil.db") as store:
        first = label(store, corpus, tmp_path / "out", CountingLLM())  # results only
        assert store.count_examples("corpus") == 0
        # run again with a data set: nothing asked, the finished shards merged
        llm = CountingLLM()
        result = label(store, corpus, tmp_path / "out", llm, dataset="corpus")
        assert sum(llm.asked.values()) == 0 and result.shards_done_before == 3
        examples = store.examples("corpus")
        preds = store.predictions(result.source, dataset="corpus")
        again = label(store, corpus, tmp_path / "out", CountingLLM(), dataset="corpus")
        assert store.count_examples("corpus") == len(examples)  # nothing twice
        # the merged cache answers a local label pass over the same texts without asking
        store.add_examples([Example(id="x", text=examples[0].text)], "train")
        llm = CountingLLM()
        from distil.teach.runner import label_dataset

        label_dataset(store, TextCat(["ham", "spam"]), PromptTeacher(llm), "train")
        assert sum(llm.asked.values()) == 0
    # 75 rows, but the third shard's 20 ids collide with the first's: the later one replaces
    assert first.merged == 0 and result.merged == 75 and len(examples) == 55 and len(preds) == 55
    assert again.merged == 0 and again.shards_done_before == 3
    student = KeywordStudent()
    train = [(ex, preds[ex.id].output) for ex in examples if preds[ex.id].ok]
    student.fit(TextCat(["ham", "spam"]), train)
    assert {p.output.labels[0] for p in student.predict(examples)} == {"ham", "spam"}


def test_predicting_a_corpus_writes_the_student_answers_and_resumes(
    tmp_path: Path, corpus: Path
) -> None:
    from distil.testing.executors import KeywordStudent

    task = TextCat(["ham", "spam"])
    train = load_split("sms_spam", "train", limit=200)
    student = KeywordStudent()
    student.fit(task, [(ex, Categories(labels=ex.labels or [])) for ex in train])
    out = tmp_path / "pred"
    with Store(tmp_path / "distil.db") as store:
        result = LocalExecutor(batch_size=8).predict_corpus(
            store, task, student, corpus, out, source="student:kw", dataset="scored"
        )
        assert store.count_examples("scored") == 55
        again = LocalExecutor().predict_corpus(
            store, task, student, corpus, out, source="student:kw"
        )
    got = results(out)
    texts = [r["example"]["text"] for r in got["b/part-1.jsonl"] if "prediction" in r]
    expected = [o.output.labels for o in student.predict([Example(id="t", text=t) for t in texts])]
    assert [
        r["prediction"]["output"]["labels"] for r in got["b/part-1.jsonl"] if "prediction" in r
    ] == expected
    assert (result.answered, result.rejected, again.answered, again.shards_done_before) == (
        75,
        2,
        0,
        3,
    )


def test_bad_corpus_arguments_get_clear_errors(tmp_path: Path, corpus: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        corpus_shards(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \*.jsonl or \*.parquet shard"):
        corpus_shards(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ConfigError, match="inside the corpus"):
        corpus_shards(corpus, corpus / "out")
    with Store(tmp_path / "distil.db") as store:
        label(store, corpus, tmp_path / "out", CountingLLM())
        other = PromptTeacher(CountingLLM(model="counting-2"))
        with pytest.raises(ConfigError, match="holds the label results of"):
            LocalExecutor().label_corpus(
                store, TextCat(["ham", "spam"]), other, corpus, tmp_path / "out"
            )
