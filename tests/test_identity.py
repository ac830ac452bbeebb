"""Example ids are unique within a data set only: a gold row and a train row that share an id
never share an answer, in the store, in the label and predict stages, and in the report."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, Example, Prediction
from distil.errors import DataError
from distil.project import Project
from distil.store import sqlite as store_module
from distil.store.sqlite import SCHEMA_VERSION, Store
from distil.testing.simulated import simulated_llm

N_TRAIN, N_GOLD = 160, 50


def distinct_rows(path: Path) -> list[dict[str, Any]]:
    seen: set[str] = set()
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["text"].strip() not in seen:
            seen.add(row["text"].strip())
            rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.fixture(scope="module")
def numbered(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Any]:
    """Train rows 1..160 and gold rows 1..50 with other texts (a third of gold is spam, more
    than in train), run through `Project.run` with a simulated teacher 80% right."""
    folder = tmp_path_factory.mktemp("numbered")
    rows = distinct_rows(shared_data / "sms_spam" / "train.jsonl")
    spam = [r for r in rows if r["labels"] == ["spam"]]
    ham = [r for r in rows if r["labels"] == ["ham"]]
    train_rows = spam[:30] + ham[:130]
    gold_rows = spam[30:47] + ham[130:163]
    train = [{**r, "id": str(i)} for i, r in enumerate(train_rows, 1)]
    gold = [{**r, "id": str(i)} for i, r in enumerate(gold_rows, 1)]
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "gold.jsonl", gold)
    # The simulated LLM answers by text; its own file needs ids of its own.
    sim_file = write_jsonl(
        folder / "sim.jsonl",
        [{**r, "id": f"train-{r['id']}"} for r in train]
        + [{**r, "id": f"gold-{r['id']}"} for r in gold],
    )
    cfg = folder / "distil.cfg"
    cfg.write_text(
        '[project]\nstore = "distil.db"\noutput = "out"\n\n'
        '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n'
        '[teacher]\n@teachers = "llm.v1"\n\n'
        '[student]\n@students = "sklearn.textcat.v1"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n'
    )
    with simulated_llm(sim_file, accuracy=0.8, seed=3) as sim:
        answers = sim.teacher.answers
        with Project.from_config(cfg, overrides=sim.config_overrides()) as project:
            result = project.run(output_dir=folder / "report")
            teacher = project.teacher_source
            latest = project.latest_student()
            assert latest is not None
            student, student_source, _ = latest
            stored = {
                name: {
                    src: project.store.predictions(src, dataset=name)
                    for src in (teacher, student_source)
                }
                for name in ("train", "gold")
            }
            student_gold = student.predict([Example(id=r["id"], text=r["text"]) for r in gold])
    return {
        "train": train,
        "gold": gold,
        "train_answers": answers[: len(train)],
        "gold_answers": answers[len(train) :],
        "report": result["report"],
        "teacher": teacher,
        "student": student_source,
        "stored": stored,
        "student_gold": [o.output for o in student_gold],
    }


def accuracy(gold: list[dict[str, Any]], answers: list[list[str]]) -> float:
    return sum(a == g["labels"] for a, g in zip(answers, gold, strict=True)) / len(gold)


def test_the_teachers_gold_predictions_are_its_answers_to_the_gold_texts(
    numbered: dict[str, Any],
) -> None:
    gold_preds = numbered["stored"]["gold"][numbered["teacher"]]
    train_preds = numbered["stored"]["train"][numbered["teacher"]]
    assert len(gold_preds) == N_GOLD and len(train_preds) == N_TRAIN
    assert [gold_preds[r["id"]].output.labels for r in numbered["gold"]] == numbered["gold_answers"]
    assert [train_preds[r["id"]].output.labels for r in numbered["train"]] == numbered[
        "train_answers"
    ]


def test_the_reported_teacher_score_equals_the_score_by_hand(numbered: dict[str, Any]) -> None:
    gold = numbered["gold"]
    right = accuracy(gold, numbered["gold_answers"])
    # What reusing the train answers of ids 1..50 scored: the test would not see the bug if equal.
    reused = accuracy(gold, numbered["train_answers"][:N_GOLD])
    assert right != reused
    teacher = next(s for s in numbered["report"]["sources"] if s["role"] == "teacher")
    assert teacher["scores"]["accuracy"] == pytest.approx(right)
    assert teacher["utility"]["docs"] == N_GOLD


def test_the_reported_student_score_is_its_answers_to_the_gold_texts(
    numbered: dict[str, Any],
) -> None:
    gold = numbered["gold"]
    stored = numbered["stored"]["gold"][numbered["student"]]
    outputs = [stored[r["id"]].output for r in gold]
    assert outputs == numbered["student_gold"]
    student = next(s for s in numbered["report"]["sources"] if s["role"] == "student")
    by_hand = sum(o.labels == r["labels"] for o, r in zip(outputs, gold, strict=True)) / N_GOLD
    assert student["scores"]["accuracy"] == pytest.approx(by_hand)
    # The student's train predictions (for the annotation queue) are kept beside them.
    assert len(numbered["stored"]["train"][numbered["student"]]) == N_TRAIN


def test_the_baseline_answers_the_teachers_most_frequent_train_label(
    numbered: dict[str, Any],
) -> None:
    baseline = numbered["report"]["baseline"]
    counts: dict[str, int] = {}
    for labels in numbered["train_answers"]:
        counts[labels[0]] = counts.get(labels[0], 0) + 1
    assert baseline["label"] == max(sorted(counts), key=counts.__getitem__) == "ham"
    share = sum(r["labels"] == ["ham"] for r in numbered["gold"]) / N_GOLD
    assert baseline["scores"]["accuracy"] == pytest.approx(share)


# -- the store -----------------------------------------------------------------------------------


def answer(ex_id: str, label: str, source: str = "teacher:t") -> Prediction:
    return Prediction(example_id=ex_id, source=source, output=Categories(labels=[label]))


def test_without_a_dataset_the_store_refuses_to_guess_between_colliding_ids(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "s.db") as store:
        store.add_examples(
            [Example(id="1", text="win a prize 🎁"), Example(id="2", text="hi")], "train"
        )
        store.add_examples([Example(id="1", text="lunch at noon?")], "gold")
        with pytest.raises(
            DataError, match=r"example id '1' is ambiguous: data sets 'train', 'gold'"
        ):
            store.add_predictions([answer("1", "spam")])
        assert store.predictions("teacher:t") == {}  # nothing of the refused batch is stored
        store.add_predictions([answer("2", "ham"), answer("orphan", "ham")])  # one holder / none
        assert set(store.predictions("teacher:t", dataset="train")) == {"2", "orphan"}
        store.add_predictions([answer("1", "spam")], "train")
        store.add_predictions([answer("1", "ham")], "gold")
        assert store.predictions("teacher:t", ["1"], dataset="gold")["1"].output == Categories(
            labels=["ham"]
        )
        assert store.answered_ids("teacher:t", dataset="gold") == {"1"}
        with pytest.raises(DataError, match=r"example id '1' in more than one data set"):
            store.predictions("teacher:t")
        assert store.delete_predictions("teacher:t", "gold") == 1
        assert store.predictions("teacher:t")["1"].output == Categories(labels=["spam"])


def old_store(path: Path) -> None:
    """A store as distil wrote it at schema version 2: predictions keyed by (source, id)."""
    conn = sqlite3.connect(path)
    for step in store_module._MIGRATIONS[:2]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    rows = [
        ("train", "1", "prize"),
        ("train", "2", "hi"),
        ("gold", "1", "lunch"),
        ("gold", "g9", "x"),
    ]
    conn.executemany(
        "INSERT INTO examples (dataset, id, data) VALUES (?, ?, ?)",
        [(d, i, Example(id=i, text=t).model_dump_json()) for d, i, t in rows],
    )
    conn.executemany(
        "INSERT INTO predictions (source, example_id, output, usage, created_at)"
        " VALUES ('teacher:t', ?, ?, '{}', 0)",
        [(i, Categories(labels=["ham"]).model_dump_json()) for i in ("1", "2", "g9", "orphan")],
    )
    conn.execute(
        "INSERT INTO batch_jobs (provider, job_id, source, status, requests, created_at)"
        " VALUES ('p', 'job-1', 'teacher:t', 'submitted', '{\"r0\": \"2\"}', 0)"
    )
    conn.commit()
    conn.close()


def test_an_old_store_migrates_and_drops_only_the_answers_it_cannot_place(
    tmp_path: Path,
) -> None:
    old_store(tmp_path / "old.db")
    with Store(tmp_path / "old.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert set(store.predictions("teacher:t", dataset="train")) == {"2", "orphan"}
        assert set(store.predictions("teacher:t", dataset="gold")) == {"g9"}
        # Id 1 is in train and gold: which text its answer was for cannot be told, so it goes
        # (the next label run asks again, free from the LLM cache).
        assert "1" not in store.answered_ids("teacher:t")
        [job] = store.batch_jobs("teacher:t", dataset="gold")
        assert job.dataset is None and job.requests == {"r0": "2"}
        store.add_predictions([answer("1", "spam")], "gold")
        assert store.answered_ids("teacher:t", dataset="gold") == {"1", "g9"}
