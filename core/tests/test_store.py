"""The project store: real SQLite files, committed writes, exact round-trips."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from distil.errors import DataError
from distil.records import Annotation, Categories, Example, Prediction, Span, Spans, Usage
from distil.store import Store, read_jsonl
from distil.store.sqlite import SCHEMA_VERSION


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "project" / "distil.db") as s:
        yield s


def _pred(
    example_id: str, source: str = "teacher:x", label: str = "spam", **kw: object
) -> Prediction:
    return Prediction(
        example_id=example_id,
        source=source,
        output=Categories(labels=[label], scores={label: 0.875}),
        confidence=0.875,
        **kw,  # type: ignore[arg-type]
    )


# -- the file --------------------------------------------------------------------------------


def test_store_creates_parent_folders_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "distil.db"
    with Store(path) as store:
        assert path.exists()
        assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "distil.db"
    with Store(path) as store:
        store.add_examples([Example(id="1", text="t")], "d")
    with Store(path) as store:
        assert store.datasets() == {"d": 1}


def test_a_store_from_a_newer_distil_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "distil.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(DataError, match="newer than this distil supports"):
        Store(path)


def test_a_file_that_is_not_sqlite_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "distil.db"
    path.write_text("this is not a database" * 100)
    with pytest.raises(DataError, match="not a usable distil store"):
        Store(path)


def test_created_in_one_thread_and_used_in_another(store: Store) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            store.add_examples([Example(id="t", text="from a thread")], "d")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    assert store.examples("d")[0].text == "from a thread"


# -- examples --------------------------------------------------------------------------------


def test_examples_round_trip_with_labels_spans_and_meta(store: Store) -> None:
    examples = [
        Example(id="a", text="ham text", labels=["ham"]),
        Example(
            id="b",
            text="Paris, France",
            spans=[Span(start=0, end=5, label="LOC"), Span(start=7, end=13, label="LOC")],
            meta={"source": "wiki", "score": 0.1, "nested": {"xs": [1, None, "é"]}},
        ),
        Example(id="c", text="both", labels=["x", "y"], spans=[]),
    ]
    assert store.add_examples(examples, "train") == 3
    assert store.examples("train") == examples
    assert store.examples("train", limit=2) == examples[:2]
    assert store.get_examples(["c", "missing", "b"]) == {"c": examples[2], "b": examples[1]}


def test_add_examples_replaces_by_id_keeps_order_and_counts_only_new(store: Store) -> None:
    store.add_examples([Example(id=str(i), text=f"v1 {i}") for i in range(3)], "train")
    new = store.add_examples([Example(id="1", text="v2 1"), Example(id="3", text="v1 3")], "train")
    assert new == 1
    assert [(ex.id, ex.text) for ex in store.examples("train")] == [
        ("0", "v1 0"),
        ("1", "v2 1"),
        ("2", "v1 2"),
        ("3", "v1 3"),
    ]
    assert store.count_examples("train") == 4


def test_datasets_are_separate_namespaces(store: Store) -> None:
    store.add_examples([Example(id="1", text="train one"), Example(id="2", text="t")], "train")
    store.add_examples([Example(id="1", text="gold one")], "gold")
    assert store.datasets() == {"train": 2, "gold": 1}
    assert store.count_examples("gold") == 1
    assert store.count_examples("nothing") == 0
    assert store.examples("gold")[0].text == "gold one"
    assert store.get_examples(["1"], dataset="train")["1"].text == "train one"
    assert store.get_examples(["1"])["1"].text == "gold one"  # most recently added


def test_many_ids_are_queried_in_chunks(store: Store) -> None:
    examples = [Example(id=f"id{i}", text=str(i)) for i in range(2500)]
    store.add_examples(examples, "big")
    found = store.get_examples([ex.id for ex in examples])
    assert len(found) == 2500 and found["id2499"].text == "2499"


def test_real_shared_data_loads_into_the_store(store: Store, shared_data: Path) -> None:
    examples = read_jsonl(shared_data / "wikigold" / "test.jsonl").examples
    assert store.add_examples(examples, "wikigold-test") == len(examples) == 433
    assert store.examples("wikigold-test") == examples


# -- predictions -----------------------------------------------------------------------------


def test_predictions_round_trip_every_field(store: Store) -> None:
    pred = Prediction(
        example_id="a",
        source="teacher:openai/gpt-4o-mini#prompt=3f2a",
        output=Spans(spans=[Span(start=0, end=4, label="ORG")]),
        confidence=0.5,
        usage=Usage(input_tokens=10, output_tokens=3, cost=0.0001, latency_s=0.25, cached=True),
        raw='{"spans": []}',
        run_id="r1",
    )
    failed = Prediction(example_id="b", source=pred.source, error="invalid JSON", raw="nope")
    assert store.add_predictions([pred, failed]) == 2
    assert store.predictions(pred.source) == {"a": pred, "b": failed}
    assert store.predictions(pred.source, ["b", "zzz"]) == {"b": failed}


def test_a_later_prediction_for_the_same_source_and_example_replaces_the_earlier(
    store: Store,
) -> None:
    store.add_predictions([_pred("1", label="ham"), _pred("2", label="ham")])
    store.add_predictions([_pred("1", label="spam"), _pred("1", source="student:y", label="ham")])

    teacher = store.predictions("teacher:x")
    assert {k: p.output.labels for k, p in teacher.items()} == {  # type: ignore[union-attr]
        "1": ["spam"],
        "2": ["ham"],
    }
    assert store.answered_ids("teacher:x") == {"1", "2"}
    assert store.answered_ids("student:y") == {"1"}
    assert store.answered_ids("nobody") == set()
    assert store.sources() == ["student:y", "teacher:x"]
    conn = sqlite3.connect(store.path)  # type: ignore[arg-type]
    assert conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 3
    conn.close()


def test_answered_ids_can_leave_out_failed_predictions(store: Store) -> None:
    store.add_predictions(
        [_pred("ok"), Prediction(example_id="bad", source="teacher:x", error="timeout")]
    )
    assert store.answered_ids("teacher:x") == {"ok", "bad"}
    assert store.answered_ids("teacher:x", ok_only=True) == {"ok"}


def test_predictions_are_committed_when_add_predictions_returns(store: Store) -> None:
    store.add_predictions([_pred("1"), _pred("2")])
    other = sqlite3.connect(store.path)  # type: ignore[arg-type]
    rows = other.execute(
        "SELECT example_id, output, created_at FROM predictions WHERE source = 'teacher:x'"
        " ORDER BY example_id"
    ).fetchall()
    other.close()
    assert [r[0] for r in rows] == ["1", "2"]
    assert json.loads(rows[0][1])["labels"] == ["spam"]
    assert all(isinstance(r[2], float) and r[2] > 0 for r in rows)


def test_a_failing_batch_stores_nothing(store: Store) -> None:
    class Boom(Exception):
        pass

    def preds() -> Iterator[Prediction]:
        yield _pred("1")
        raise Boom

    with pytest.raises(Boom):
        store.add_predictions(preds())
    assert store.predictions("teacher:x") == {}


def test_delete_predictions_of_one_source(store: Store) -> None:
    store.add_predictions([_pred("1"), _pred("2"), _pred("1", source="student:y")])
    assert store.delete_predictions("teacher:x") == 2
    assert store.delete_predictions("teacher:x") == 0
    assert store.sources() == ["student:y"]


# -- annotations -----------------------------------------------------------------------------


def test_annotations_are_append_only_events_with_a_latest_view(store: Store) -> None:
    first = store.add_annotation(
        Annotation(example_id="1", annotator="alice", answer="accept", suggestion_source="t")
    )
    second = store.add_annotation(
        Annotation(
            example_id="1",
            annotator="alice",
            answer="correct",
            output=Categories(labels=["ham"]),
            pass_name="label:ham",
            created_at=123.5,
        )
    )
    third = store.add_annotation(Annotation(example_id="1", annotator="bob", answer="reject"))
    store.add_annotation(Annotation(example_id="2", annotator="alice", answer="ignore"))
    assert first < second < third

    events = store.annotations()
    assert [(a.example_id, a.annotator, a.answer) for a in events] == [
        ("1", "alice", "accept"),
        ("1", "alice", "correct"),
        ("1", "bob", "reject"),
        ("2", "alice", "ignore"),
    ]
    assert events[0].created_at is not None and events[0].created_at > 1e9  # filled in
    assert events[1].created_at == 123.5
    assert events[1].output == Categories(labels=["ham"])
    assert events[1].pass_name == "label:ham"

    assert [a.answer for a in store.annotations(example_ids=["1"])] == [
        "accept",
        "correct",
        "reject",
    ]
    assert [a.answer for a in store.annotations(["1"], annotator="alice")] == ["accept", "correct"]

    latest = store.latest_annotations()
    assert {k: (a.annotator, a.answer) for k, a in latest.items()} == {
        "1": ("bob", "reject"),
        "2": ("alice", "ignore"),
    }
    alice = store.latest_annotations(annotator="alice")
    assert {k: a.answer for k, a in alice.items()} == {"1": "correct", "2": "ignore"}
    assert store.latest_annotations(annotator="carol") == {}


def test_add_annotations_in_bulk(store: Store) -> None:
    items = [Annotation(example_id=str(i), answer="accept") for i in range(5)]
    assert store.add_annotations(items) == 5
    assert [a.example_id for a in store.annotations()] == ["0", "1", "2", "3", "4"]


# -- cache -----------------------------------------------------------------------------------


def test_cache_persists_across_reopen_and_can_be_cleared(tmp_path: Path) -> None:
    path = tmp_path / "distil.db"
    value = {"text": "spam", "usage": {"input_tokens": 3}, "scores": {"spam": 0.25}, "é": None}
    with Store(path) as store:
        assert store.cache_get("k1") is None
        store.cache_put("k1", value)
        store.cache_put("k2", {"v": 1})
        store.cache_put("k2", {"v": 2})
    with Store(path) as store:
        assert store.cache_get("k1") == value
        assert store.cache_get("k2") == {"v": 2}
        assert store.cache_stats()["entries"] == 2
        assert store.cache_clear() == 2
        assert store.cache_get("k1") is None
        assert store.cache_stats()["entries"] == 0


# -- runs ------------------------------------------------------------------------------------


def test_runs_record_status_config_and_merged_stats_newest_first(store: Store) -> None:
    teach = store.start_run("teach", {"model": "gpt-4o-mini"})
    train = store.start_run("train")
    assert len(teach) == 12 and int(teach, 16) >= 0 and teach != train

    run = store.get_run(teach)
    assert run is not None
    assert run["status"] == "running" and run["finished_at"] is None
    assert run["config"] == {"model": "gpt-4o-mini"} and run["stats"] == {}

    store.update_run(teach, {"done": 10, "cost": 0.5})
    store.update_run(teach, {"done": 20})
    store.finish_run(teach, stats={"failed": 1})
    store.finish_run(train, status="failed")

    run = store.get_run(teach)
    assert run is not None
    assert run["status"] == "finished"
    assert run["stats"] == {"done": 20, "cost": 0.5, "failed": 1}
    assert run["finished_at"] >= run["started_at"]
    assert [r["id"] for r in store.runs()] == [train, teach]
    assert [r["id"] for r in store.runs(kind="teach")] == [teach]
    assert store.runs(kind="train")[0]["status"] == "failed"
    assert store.get_run("nope") is None
    with pytest.raises(KeyError):
        store.update_run("nope", {"x": 1})
