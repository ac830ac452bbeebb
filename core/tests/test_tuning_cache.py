"""The teacher's dev tuning is stored in the project and reused until the teacher or dev changes.

Tuning the zero-shot teacher on dev took 44-66 s of every ``label``/``train``/``evaluate``
process. A teacher with ``tuned_state()`` / ``load_tuned_state()`` now tunes once: later
processes load the state from the store's cache (``tune:`` keys) and say so.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import pytest

from distil import Example, Task, hookimpl
from distil.plugins import PluginHost, set_host
from distil.project import Project
from distil.testing import run_cli as cli
from distil.testing.data import load_split
from distil.testing.executors import KeywordStudent, KeywordTeacher


class TunedTeacher(KeywordTeacher):
    """A keyword teacher whose ``tune`` learns a value from dev and puts it in its source."""

    tunes: ClassVar[list[int]] = []  # one entry (the dev size) per tune() call, all instances

    def __init__(self, margin: int = 1) -> None:
        self.margin = margin
        self.fitted: float | None = None

    def source(self, task: Task) -> str:
        tuned = f"&fitted={self.fitted}" if self.fitted is not None else ""
        return f"teacher:test.tuned#margin={self.margin}{tuned}"

    def tune(self, task: Task, dev: list[Example]) -> float:
        TunedTeacher.tunes.append(len(dev))
        spam = sum(1 for ex in dev if ex.labels == ["spam"])
        self.fitted = round(spam / len(dev), 4)
        return self.fitted

    def tuned_state(self) -> dict[str, Any] | None:
        return None if self.fitted is None else {"fitted": self.fitted}

    def load_tuned_state(self, state: dict[str, Any]) -> None:
        self.fitted = float(state["fitted"])


class ForgetfulTeacher(TunedTeacher):
    """Tunes, but cannot hand its tuning over: it is tuned in every process, as before."""

    tuned_state = None  # type: ignore[assignment]
    load_tuned_state = None  # type: ignore[assignment]


class Plugin:
    @hookimpl
    def register_teachers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.tuned.v1", TunedTeacher)
        register("test.forgetful.v1", ForgetfulTeacher)

    @hookimpl
    def register_students(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordStudent)


@pytest.fixture(autouse=True)
def host():
    host = PluginHost(entry_points=False, strict=True, modules=[("tuned", Plugin())])
    set_host(host)
    TunedTeacher.tunes.clear()
    yield host
    set_host(None)


CONFIG = """\
[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "{teacher}"
{teacher_keys}

[student]
@students = "test.keywords.v1"

[data]
train = "train.jsonl"
dev = "dev.jsonl"
gold = "gold.jsonl"
"""


def write_split(path: Path, split: str, limit: int) -> list[dict[str, Any]]:
    rows = [ex.model_dump(exclude_none=True) for ex in load_split("sms_spam", split, limit=limit)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return rows


def project(root: Path, teacher: str = "test.tuned.v1", teacher_keys: str = "") -> Path:
    write_split(root / "train.jsonl", "train", 30)
    write_split(root / "dev.jsonl", "dev", 25)
    write_split(root / "gold.jsonl", "test", 10)
    cfg = root / "distil.cfg"
    cfg.write_text(CONFIG.format(teacher=teacher, teacher_keys=teacher_keys), "utf-8")
    return cfg


REUSED = re.compile(r"^reused the teacher's dev tuning \(from \d{4}-\d\d-\d\d \d\d:\d\d\)$", re.M)


def test_train_twice_tunes_once_and_says_where_the_tuning_came_from(
    tmp_path, monkeypatch, capsys
) -> None:
    cfg = project(tmp_path)
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 0, err
    assert "tuning the teacher on 25 dev examples\n" in err
    for _ in range(2):
        code, out, err = cli(monkeypatch, capsys, "train", str(cfg))
        assert code == 0, err
        assert REUSED.search(err), err
        assert "tuning the teacher" not in err
        # the reused state gives the teacher the source it labelled train under
        assert "trained student:testing.keywords#run=" in out and " on 30 examples" in out
    assert TunedTeacher.tunes == [25]
    with sqlite3.connect(tmp_path / "distil.db") as db:
        rows = db.execute("SELECT DISTINCT source FROM predictions WHERE source LIKE 'teacher:%'")
        (source,) = [row[0] for row in rows]
    assert re.fullmatch(r"teacher:test\.tuned#margin=1&fitted=0\.\d+", source)


def test_a_changed_dev_file_is_tuned_again(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path)
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 0
    dev = tmp_path / "dev.jsonl"
    rows = [json.loads(line) for line in dev.read_text("utf-8").splitlines()]
    rows[0]["labels"] = ["spam" if rows[0]["labels"] == ["ham"] else "ham"]
    dev.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 0, err
    assert "tuning the teacher on 25 dev examples\n" in err
    assert TunedTeacher.tunes == [25, 25]
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))  # and that tuning is kept
    assert REUSED.search(err) and TunedTeacher.tunes == [25, 25]


def test_a_changed_teacher_is_tuned_again(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path)
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 0
    cfg.write_text(cfg.read_text("utf-8").replace('v1"\n\n', 'v1"\nmargin = 2\n\n', 1), "utf-8")
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 0, err
    assert "tuning the teacher on 25 dev examples\n" in err
    assert TunedTeacher.tunes == [25, 25]


def test_a_teacher_without_a_state_is_tuned_in_every_process(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path, teacher="test.forgetful.v1")
    for _ in range(2):
        code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
        assert code == 0, err
        assert "tuning the teacher on 25 dev examples\n" in err
    assert TunedTeacher.tunes == [25, 25]


def test_the_python_api_logs_the_same_notes(tmp_path, caplog) -> None:
    cfg = project(tmp_path)
    caplog.set_level(logging.INFO, logger="distil")
    with Project.from_config(cfg) as first:
        first.prepare_teacher()
        first.prepare_teacher()  # once per process
    with Project.from_config(cfg) as second:
        second.prepare_teacher()
        fitted = second.config.teacher.fitted  # type: ignore[attr-defined]
    notes = [r.getMessage() for r in caplog.records if r.name == "distil.project"]
    assert notes[0] == "tuning the teacher on 25 dev examples"
    assert REUSED.match(notes[1]) and len(notes) == 2
    assert TunedTeacher.tunes == [25] and fitted is not None
