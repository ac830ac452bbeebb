"""Mistakes a user makes are messages, not tracebacks: each says what, where and what to do.

Each test makes one mistake through the real CLI (in-process, on a host with a keyword teacher
and student) and checks the exact line on stderr and the exit code 1.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, Example, Prediction, Teacher, hookimpl
from distil.errors import DataError
from distil.plugins import PluginHost, set_host
from distil.project import Project
from distil.store.jsonl import read_jsonl
from distil.store.sqlite import Store
from distil.tasks import Task
from distil.testing import run_cli as cli
from distil.testing.data import load_split
from distil.testing.executors import KeywordStudent, KeywordTeacher

CONFIG = """\
[project]
store = "{store}"

[task]
@tasks = "{task}"
labels = {labels}

[teacher]
@teachers = "{teacher}"

[student]
@students = "test.keywords.v1"

[data]
train = "train.jsonl"
gold = "gold.jsonl"
"""


class HamTeacher(Teacher):
    """A teacher stuck on one answer, as tiny LLMs are: "ham" for every text."""

    def source(self, task: Task) -> str:
        return "teacher:test.ham#v1"

    async def alabel(
        self, task: Task, examples: Sequence[Example], on_results: Any = None
    ) -> list[Prediction]:
        preds = [
            Prediction(
                example_id=ex.id, source=self.source(task), output=Categories(labels=["ham"])
            )
            for ex in examples
        ]
        if on_results is not None:
            on_results(preds)
        return preds


class Plugin:
    @hookimpl
    def register_teachers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordTeacher)
        register("test.ham.v1", HamTeacher)

    @hookimpl
    def register_students(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordStudent)


@pytest.fixture(autouse=True)
def host():
    host = PluginHost(entry_points=False, strict=True, modules=[("friendly", Plugin())])
    set_host(host)
    yield host
    set_host(None)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def split_rows(split: str, limit: int) -> list[dict[str, Any]]:
    return [ex.model_dump(exclude_none=True) for ex in load_split("sms_spam", split, limit=limit)]


def project(
    root: Path,
    *,
    store: str = "distil.db",
    task: str = "textcat.v1",
    labels: str = '["ham", "spam"]',
    teacher: str = "test.keywords.v1",
) -> Path:
    write_rows(root / "train.jsonl", split_rows("train", 40))
    write_rows(root / "gold.jsonl", split_rows("test", 20))
    cfg = root / "distil.cfg"
    cfg.write_text(CONFIG.format(store=store, task=task, labels=labels, teacher=teacher), "utf-8")
    return cfg


def test_a_student_that_cannot_learn_the_task_names_both(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path, task="ner.v1", labels='["PER", "LOC"]')
    code, _, err = cli(monkeypatch, capsys, "train", str(cfg))
    assert code == 1
    assert err == (
        f"error [E011] {cfg}: student: 'test.keywords.v1' cannot learn the task 'ner.v1': "
        "student testing.keywords learns ['textcat'] tasks, not 'ner'. Pick a student for ner "
        "tasks (`distil plugins` lists them) or change [task]\n"
    )


def test_a_store_path_that_is_a_folder(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path, store="stores")
    (tmp_path / "stores").mkdir()
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 1
    assert err == (
        f"error [E010] {tmp_path / 'stores'}: is a folder, not a distil store; set [project] "
        "store to a file path such as distil.db\n"
    )


def test_a_store_file_that_is_not_sqlite(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path, store="notes.db")
    (tmp_path / "notes.db").write_text("these are my notes, not a database 🙂\n" * 200, "utf-8")
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 1
    assert err == (
        f"error [E010] {tmp_path / 'notes.db'}: not a usable distil store "
        "(file is not a database)\n"
    )
    assert (tmp_path / "notes.db").read_text("utf-8").startswith("these are my notes")


def test_a_store_with_damaged_pages(tmp_path, monkeypatch, capsys) -> None:
    """The header is intact, so the file opens; the first read of a damaged page fails."""
    db = tmp_path / "distil.db"
    with Store(db) as store:
        store.add_examples(load_split("banking77", "train", limit=300), "train")
    data = bytearray(db.read_bytes())
    for start in range(4096, len(data), 4096):  # every page but the first (header + schema)
        data[start : start + 4096] = b"\xff" * len(data[start : start + 4096])
    db.write_bytes(bytes(data))
    cfg = project(tmp_path)
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 1
    assert err == (
        f"error [E010] {db}: the distil store is damaged (database disk image is malformed); "
        "restore it from a backup, or move it away to start a new store\n"
    )


def test_evaluate_after_the_model_folder_is_gone(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path)
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 0
    assert cli(monkeypatch, capsys, "train", str(cfg))[0] == 0
    students = tmp_path / "output" / "students"
    (model_dir,) = students.iterdir()
    shutil.rmtree(students)
    code, _, err = cli(monkeypatch, capsys, "evaluate", str(cfg))
    assert code == 1
    assert err.endswith(
        f"error [E013] no trained student: the model folder {model_dir} of the latest train "
        "run is gone (the output folder was moved or deleted?); "
        f"run distil train {cfg}\n"
    )


def test_a_model_folder_missing_its_files(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path)
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 0
    assert cli(monkeypatch, capsys, "train", str(cfg))[0] == 0
    (model_dir,) = (tmp_path / "output" / "students").iterdir()
    (model_dir / "votes.json").unlink()
    code, _, err = cli(monkeypatch, capsys, "evaluate", str(cfg))
    assert code == 1
    assert err.startswith("error [E013] no trained student: [Errno 2] No such file or directory")
    assert err.endswith(f"votes.json'; run distil train {cfg}\n")


def test_training_data_of_one_class(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path, teacher="test.ham.v1")
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 0
    code, _, err = cli(monkeypatch, capsys, "train", str(cfg))
    assert code == 1
    assert err == (
        "error [E012] the teacher gave every train row the label 'ham': a classifier needs two. "
        "Check the teacher (its prompt, its model), or import corrections with other labels\n"
    )
    assert not (tmp_path / "output" / "students").exists()  # no fit was tried


def test_one_class_with_human_answers_counts_both(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path, teacher="test.ham.v1")
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 0
    answers = tmp_path / "answers.jsonl"
    write_rows(answers, [{"id": r["id"], "labels": ["ham"]} for r in split_rows("train", 3)])
    assert cli(monkeypatch, capsys, "import", str(cfg), str(answers))[0] == 0
    code, _, err = cli(monkeypatch, capsys, "train", str(cfg))
    assert code == 1
    assert err == (
        "error [E012] every train row has the label 'ham' (37 from the teacher, 3 from human "
        "answers): a classifier needs two\n"
    )


def test_training_before_labelling(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path)
    code, _, err = cli(monkeypatch, capsys, "train", str(cfg))
    assert code == 1
    assert err == (
        "error [E012] no training data in 'train': label it with the teacher or import "
        "answers first\n"
    )


def test_gold_examples_without_labels_stop_evaluate_before_labelling(tmp_path) -> None:
    """Gold imported earlier without answers (the file since gone): said before any teacher call."""
    cfg = project(tmp_path)
    gold = [ex.without_answer() for ex in load_split("sms_spam", "test", limit=3)]
    rest = load_split("sms_spam", "test", limit=10)[3:]
    with Store(tmp_path / "distil.db") as store:
        store.add_examples([*gold, *rest], "gold")
    (tmp_path / "gold.jsonl").unlink()
    with Project.from_config(cfg) as project_, pytest.raises(DataError) as caught:
        project_.evaluate()
    ids = ", ".join(repr(ex.id) for ex in gold)
    assert str(caught.value) == (
        f"[E004] {tmp_path / 'gold.jsonl'}: 3 gold example(s) have no labels, e.g. id {ids}; "
        "every gold row needs its answer to be scored: add the labels or remove the row"
    )
    with Store(tmp_path / "distil.db") as store:
        assert store.answered_ids("teacher:testing.keywords#v1") == set()


def test_a_lone_surrogate_line_is_quarantined_and_the_rest_loads(tmp_path) -> None:
    """``"\\ud800"`` is valid JSON but no Unicode text: it failed the store with a traceback."""
    rows = split_rows("train", 5)
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines.insert(2, '{"id": "bad-1", "text": "half an emoji \\ud83d 🙂", "labels": ["ham"]}')
    lines.insert(4, '{"id": "pair-1", "text": "a whole one \\ud83d\\ude00", "labels": ["ham"]}')
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    quarantine = tmp_path / "q" / "train.quarantine.jsonl"
    result = read_jsonl(path, quarantine=quarantine)
    assert [ex.id for ex in result.examples] == [
        rows[0]["id"],
        rows[1]["id"],
        rows[2]["id"],
        "pair-1",
        *[r["id"] for r in rows[3:]],
    ]
    assert result.examples[3].text == "a whole one 😀"
    assert [str(e) for e in result.errors] == [
        f"{path}:3: lone UTF-16 surrogate \\ud83d in a string (not a Unicode character; "
        "the text cannot be stored as UTF-8)"
    ]
    (entry,) = [json.loads(line) for line in quarantine.read_text("utf-8").splitlines()]
    assert entry["line"] == 3 and entry["raw"] == lines[2]
    with Store(tmp_path / "distil.db") as store:  # what loaded can be stored
        assert store.add_examples(result.examples, "train") == 6
