"""The CLI prints user text literally: brackets in config sections, paths and ids are not markup.

rich reads ``[teacher]`` as a style tag (the word vanished: "missing section(s) ") and a path
holding ``[/x]`` as a closing tag (a MarkupError traceback instead of the message). Every error
exits 1 with ``error`` and the message as written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distil import hookimpl
from distil.plugins import PluginHost, set_host
from distil.testing import run_cli as cli
from distil.testing.data import load_split
from distil.testing.executors import KeywordStudent, KeywordTeacher

CONFIG = """\
[project]
store = "{store}"
output = "{output}"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "test.keywords.v1"

[student]
@students = "test.keywords.v1"

[data]
train = "{train}"
gold = "{gold}"
"""


class KeywordPlugin:
    @hookimpl
    def register_teachers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordTeacher)

    @hookimpl
    def register_students(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordStudent)


@pytest.fixture(autouse=True)
def host():
    host = PluginHost(entry_points=False, strict=True, modules=[("keywords", KeywordPlugin())])
    set_host(host)
    yield host
    set_host(None)


def write_split(path: Path, split: str, limit: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [ex.model_dump(exclude_none=True) for ex in load_split("sms_spam", split, limit=limit)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def project(root: Path, folder: str = "data", **keys: str) -> Path:
    """A project under ``root`` whose data, store and output live in ``folder``."""
    write_split(root / folder / "train.jsonl", "train", 40)
    write_split(root / folder / "gold.jsonl", "test", 20)
    values = {
        "store": f"{folder}/distil.db",
        "output": f"{folder}/output",
        "train": f"{folder}/train.jsonl",
        "gold": f"{folder}/gold.jsonl",
        **keys,
    }
    cfg = root / "distil.cfg"
    cfg.write_text(CONFIG.format(**values), "utf-8")
    return cfg


def test_a_config_missing_teacher_names_the_section(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path)
    text = cfg.read_text("utf-8")
    cfg.write_text(text.replace('[teacher]\n@teachers = "test.keywords.v1"\n', ""), "utf-8")
    code, out, err = cli(monkeypatch, capsys, "train", str(cfg))
    assert code == 1
    assert err == f"error [E001] {cfg}: missing section(s) [teacher]\n"
    assert out == ""


def test_a_data_path_with_a_closing_tag_is_printed_as_written(
    tmp_path, monkeypatch, capsys
) -> None:
    cfg = project(tmp_path, train="data/[/x]/train.jsonl")
    code, _, err = cli(monkeypatch, capsys, "label", str(cfg))
    missing = tmp_path / "data" / "[/x]" / "train.jsonl"
    assert code == 1
    assert "MarkupError" not in err
    assert err.endswith(f"error [E004] data.train: file not found: {missing}\n")


def test_unknown_sections_keep_their_brackets(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path)
    cfg.write_text(cfg.read_text("utf-8") + "\n[bold]\nx = 1\n[/]\ny = 2\n", "utf-8")
    code, _, err = cli(monkeypatch, capsys, "train", str(cfg))
    assert code == 1
    assert err.startswith(f"error [E001] {cfg}: unknown section(s) [/], [bold]; sections are ")


def test_output_paths_with_brackets_print_after_training(tmp_path, monkeypatch, capsys) -> None:
    """The success lines hold user paths too: the model folder under ``out[/x]`` prints whole."""
    cfg = project(tmp_path, folder="out[/x] [bold]")
    code, out, err = cli(monkeypatch, capsys, "label", str(cfg))
    assert code == 0, err
    assert "labelled 40 of 40 'train' examples (0 already done)" in out
    code, out, err = cli(monkeypatch, capsys, "train", str(cfg))
    assert code == 0, err
    students = tmp_path / "out[/x] [bold]" / "output" / "students"
    (run_dir,) = students.iterdir()
    assert f"→ {run_dir}\n" in out


def test_skipped_answer_lines_keep_ids_and_text_literally(tmp_path, monkeypatch, capsys) -> None:
    cfg = project(tmp_path)
    answers = tmp_path / "answers [red].jsonl"
    first = load_split("sms_spam", "train", limit=1)[0]
    rows = [
        {"id": first.id, "labels": ["spam"]},
        {"id": first.id, "answer": "[bold]maybe[/bold]", "labels": ["ham"]},
        '{"id": "broken [/x]", ',
    ]
    answers.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), "utf-8"
    )
    code, out, err = cli(monkeypatch, capsys, "import", str(cfg), str(answers))
    assert code == 0, err
    assert f"stored 1 answer(s) from {answers}\n" in out
    assert f"skipped {answers}:2: unknown answer '[bold]maybe[/bold]'\n" in out
    assert f"skipped {answers}:3: invalid JSON" in out
