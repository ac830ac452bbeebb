"""Runs say how they ended: finished, interrupted (Ctrl-C, SIGTERM, a killed process) or failed
(with the message); `distil runs` lists them; reports are written atomically.

A scripted provider is the teacher and a word-count student the student, so the stages run for
real in this process; a killed run is a real child process killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, Completion, Example, Prompt, Provider, Usage, hookimpl
from distil.errors import ProviderError
from distil.evaluate import report as report_mod
from distil.plugins import PluginHost, set_host
from distil.project import Project
from distil.store.sqlite import _MIGRATIONS, SCHEMA_VERSION, Store
from distil.student import Student, StudentPrediction
from distil.tasks import Task
from distil.testing import run_cli as cli

SPAMMY = {"free", "win", "prize", "call", "txt", "claim", "cash"}


class FlakyLLM(Provider):
    """Answers ham/spam by keyword; on call ``explode_at`` raises ``explode`` (class-wide), or
    with ``explode = None`` the process gets SIGINT (Ctrl-C) while the request is in flight."""

    name = "test.flaky"
    explode_at: int | None = None
    explode: BaseException | None = None
    calls = 0

    def __init__(self, model: str = "flaky-1") -> None:
        super().__init__(model, {})

    async def complete(self, prompt: Prompt) -> Completion:
        type(self).calls += 1
        if type(self).calls == self.explode_at:
            if self.explode is not None:
                raise self.explode
            signal.raise_signal(signal.SIGINT)  # asyncio cancels the run, as for a real Ctrl-C
            await asyncio.sleep(30)
        text = prompt.messages[-1].content
        label = "spam" if set(text.lower().split()) & SPAMMY else "ham"
        usage = Usage(input_tokens=10, output_tokens=2, cost=0.25)
        return Completion(text=json.dumps({"labels": [label]}), usage=usage)


class MajorityStudent(Student):
    """Predicts the most frequent training label; ``fail_with`` makes ``fit`` raise it."""

    name = "test.majority"
    task_kinds = frozenset({"textcat"})
    fail_with: BaseException | None = None

    def __init__(self) -> None:
        self.label = "ham"

    def fit(self, task: Task, train: list[Any], dev: list[Any] | None = None) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        labels = [output.labels[0] for _, output in train]
        self.label = max(sorted(set(labels)), key=labels.count)
        return {}

    def predict(self, examples: list[Example]) -> list[StudentPrediction]:
        return [StudentPrediction(Categories(labels=[self.label]), 1.0) for _ in examples]

    def save(self, path: str | Path) -> None:
        (Path(path) / "label.json").write_text(json.dumps(self.label))

    @classmethod
    def load(cls, path: str | Path) -> MajorityStudent:
        student = cls()
        student.label = json.loads((Path(path) / "label.json").read_text())
        return student


class RunsPlugin:
    @hookimpl
    def register_providers(self, register: Any) -> None:
        register("test.flaky.v1", FlakyLLM)

    @hookimpl
    def register_students(self, register: Any) -> None:
        register("test.majority.v1", MajorityStudent)


@pytest.fixture(autouse=True)
def host() -> Iterator[PluginHost]:
    FlakyLLM.calls, FlakyLLM.explode_at, FlakyLLM.explode = 0, None, None
    MajorityStudent.fail_with = None
    host = PluginHost(entry_points=False, strict=True, modules=[("runs", RunsPlugin())])
    set_host(host)
    yield host
    set_host(None)


TEXTS = ["free prize call now 🎉", "see you at lunch", "win cash txt claim", "the meeting moved"]


def project_dir(tmp_path: Path) -> Path:
    rows = [
        {"id": f"m{i}", "text": f"{text} #{i}", "labels": ["spam" if i % 2 == 0 else "ham"]}
        for i, text in enumerate(TEXTS * 3)
    ]
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (tmp_path / "train.jsonl").write_text(lines, encoding="utf-8")
    (tmp_path / "gold.jsonl").write_text(lines, encoding="utf-8")  # the same ids as train
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        """
[project]
store = "distil.db"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "llm.v1"
concurrency = 1

[teacher.provider]
@providers = "test.flaky.v1"

[student]
@students = "test.majority.v1"

[data]
train = "train.jsonl"
gold = "gold.jsonl"
"""
    )
    return cfg


# -- how runs end -------------------------------------------------------------------------------
@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Python's own SIGINT handler (KeyboardInterrupt), as a terminal's Ctrl-C meets it: a suite
    started as a background job inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_in_label_ends_the_run_interrupted_with_the_answers_before_it_stored(
    tmp_path: Path, ctrl_c: None
) -> None:
    FlakyLLM.explode_at, FlakyLLM.explode = 5, None
    with Project.from_config(project_dir(tmp_path)) as project:
        project.import_data()
        with pytest.raises(KeyboardInterrupt):
            project.label("train")
        [run] = project.store.runs("label")
        stored = project.store.predictions(project.teacher_source, dataset="train")
    assert run["status"] == "interrupted" and run["finished_at"] is not None
    assert run["error"] == "interrupted (KeyboardInterrupt)"
    assert len(stored) == 4 and all(p.run_id == run["id"] for p in stored.values())
    assert run["stats"]["labelled"] == 4


def test_an_error_in_label_ends_the_run_failed_with_its_message(tmp_path: Path) -> None:
    FlakyLLM.explode_at, FlakyLLM.explode = 2, RuntimeError("model exploded on [teacher] 💥")
    with Project.from_config(project_dir(tmp_path)) as project:
        project.import_data()
        with pytest.raises(RuntimeError):
            project.label("train")
        [run] = project.store.runs("label")
    assert run["status"] == "failed"
    assert run["error"] == "RuntimeError: model exploded on [teacher] 💥"


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (KeyboardInterrupt(), "interrupted", "interrupted (KeyboardInterrupt)"),
        (ValueError("no labels left"), "failed", "ValueError: no labels left"),
    ],
)
def test_train_runs_end_interrupted_or_failed(
    tmp_path: Path, error: BaseException, status: str, message: str
) -> None:
    with Project.from_config(project_dir(tmp_path)) as project:
        project.import_data()
        project.label("train")
        MajorityStudent.fail_with = error
        with pytest.raises(type(error)):
            project.train()
        [run] = project.store.runs("train")
        assert project.store.open_runs == []
    assert (run["status"], run["error"]) == (status, message)


def test_every_finished_run_records_its_process(tmp_path: Path) -> None:
    with Project.from_config(project_dir(tmp_path)) as project:
        project.import_data()
        project.label("train")
        project.train()
        runs = project.store.runs()
    assert [(r["kind"], r["status"]) for r in runs] == [
        ("train", "finished"),
        ("label", "finished"),
    ]
    assert all(r["pid"] == os.getpid() and r["host"] and r["error"] is None for r in runs)


# -- a process killed outright ------------------------------------------------------------------
CHILD = """
import sys, time
from distil.store.sqlite import Store
store = Store(sys.argv[1])
run_id = store.start_run("label", {"dataset": "train"})
print(run_id, flush=True)
time.sleep(120)
"""


def start_child(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_a_run_whose_process_was_killed_reads_interrupted_and_a_live_one_running(
    tmp_path: Path,
) -> None:
    db = tmp_path / "distil.db"
    killed, killed_id = start_child(db)
    alive, alive_id = start_child(db)
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        with Store(db) as store:
            runs = {r["id"]: r for r in store.runs()}
            assert store.get_run(alive_id)["status"] == "running"  # type: ignore[index]
    finally:
        alive.kill()
        alive.wait()
    assert runs[killed_id]["status"] == "interrupted"
    assert runs[killed_id]["error"] == "its process ended before the run finished (killed?)"
    assert runs[killed_id]["finished_at"] == runs[killed_id]["started_at"]  # it stored nothing
    assert runs[alive_id]["status"] == "running" and runs[alive_id]["pid"] == alive.pid
    # the verdict is stored: read with plain SQL, the killed run is interrupted too
    with sqlite3.connect(db) as con:
        status = con.execute("SELECT status FROM runs WHERE id = ?", (killed_id,)).fetchone()
    assert status == ("interrupted",)


def test_a_run_of_another_host_or_of_an_old_store_is_never_judged(tmp_path: Path) -> None:
    db = tmp_path / "distil.db"
    killed, killed_id = start_child(db)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    with sqlite3.connect(db) as con:
        con.execute("UPDATE runs SET host = 'build-box-7' WHERE id = ?", (killed_id,))
        con.execute(
            "INSERT INTO runs (id, kind, status, config, stats, started_at)"
            " VALUES ('old', 'label', 'running', '{}', '{}', 1.0)"
        )
    with Store(db) as store:
        assert {r["id"]: r["status"] for r in store.runs()} == {
            killed_id: "running",
            "old": "running",
        }


def test_a_store_of_the_previous_schema_gains_the_run_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    step = next(i for i, s in enumerate(_MIGRATIONS) if any("ADD COLUMN pid" in q for q in s))
    with sqlite3.connect(db) as con:
        for statements in _MIGRATIONS[:step]:
            for statement in statements:
                con.execute(statement)
        con.execute(
            "INSERT INTO runs (id, kind, status, config, stats, started_at, finished_at)"
            " VALUES ('r1', 'train', 'finished', '{}', '{\"n_train\": 3}', 1.0, 2.0)"
        )
        con.execute(f"PRAGMA user_version = {step}")
    with Store(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        [run] = store.runs()
    assert run["status"] == "finished" and run["stats"] == {"n_train": 3}
    assert (run["pid"], run["host"], run["error"]) == (None, None, None)


# -- distil runs --------------------------------------------------------------------------------


def test_distil_runs_lists_each_run_with_status_counts_and_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project_dir(tmp_path)
    FlakyLLM.explode_at, FlakyLLM.explode = 3, ProviderError("quota [hit] for org")
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 1
    FlakyLLM.explode_at = None
    assert cli(monkeypatch, capsys, "label", str(cfg))[0] == 0
    assert cli(monkeypatch, capsys, "train", str(cfg))[0] == 0

    code, out, err = cli(monkeypatch, capsys, "runs", str(cfg))
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split() == [
        "id",
        "kind",
        "status",
        "started",
        "duration",
        "counts",
        "cost",
        "note",
    ]
    assert [line.split()[1:3] for line in lines] == [
        ["train", "finished"],
        ["label", "finished"],
        ["label", "failed"],
    ]
    train, label, failed = lines
    assert "trained on 12 rows" in train
    assert "labelled 10, 0 failed" in label and "$2.50" in label  # 10 answers at $0.25
    assert "labelled 2, 0 failed" in failed and "$0.50" in failed
    assert failed.endswith("[E006] quota [hit] for org")  # printed literally

    code, out, _ = cli(monkeypatch, capsys, "runs", str(cfg), "--kind", "label", "--json")
    rows = json.loads(out)
    assert [r["status"] for r in rows] == ["finished", "failed"]
    assert rows[1]["note"] == "[E006] quota [hit] for org"


def test_distil_runs_on_a_fresh_project_says_there_are_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = project_dir(tmp_path)
    code, out, _ = cli(monkeypatch, capsys, "runs", str(cfg))
    assert code == 0 and out.strip() == f"no runs yet in {cfg}'s store"


# -- reports written atomically -----------------------------------------------------------------
def old_report(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    with Project.from_config(project_dir(tmp_path)) as project:
        project.import_data()
        _, paths = project.evaluate(tmp_path / "report")
    return tmp_path / "report", {name: p.read_bytes() for name, p in paths.items()}


def test_an_error_while_rendering_html_leaves_the_old_report_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, before = old_report(tmp_path)
    report = json.loads(before["json"])
    report["meta"] = {**report.get("meta", {}), "changed": "yes"}

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("the HTML writer died")

    monkeypatch.setattr("distil.evaluate.html.render_html", broken)
    with pytest.raises(RuntimeError, match="HTML writer died"):
        report_mod.write_report(report, folder)
    after = {name: (folder / f"report.{name}").read_bytes() for name in before}
    assert after == before
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.json", "report.md"]


def test_a_kill_between_two_files_leaves_each_file_whole_old_or_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, before = old_report(tmp_path)
    report = json.loads(before["json"])
    report["meta"] = {**report.get("meta", {}), "changed": "yes ✓"}
    real_replace = os.replace
    calls: list[str] = []

    def killed_on_second(src: Any, dst: Any) -> None:
        calls.append(str(dst))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies while the second file is swapped in
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_on_second)
    with pytest.raises(KeyboardInterrupt):
        report_mod.write_report(report, folder)
    new_json = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert new_json["meta"]["changed"] == "yes ✓"  # the first file: whole and new
    assert (folder / "report.md").read_bytes() == before["md"]  # the others: whole and old
    assert (folder / "report.html").read_bytes() == before["html"]
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # no temp file left
