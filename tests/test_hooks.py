"""Each hook that had no test of its own, exercised through the code path core really uses.

tests/test_docs_meta.py requires every hookspec to be named by a test (implemented or called);
these are the tests for the hooks no other test covered: the registration of tasks, teachers and
executors (resolved from a config), plugin commands (through ``distil.cli.main``), and the train
and evaluate lifecycle hooks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import distil
import distil.project
from distil.config import load_config
from distil.evaluate.stage import score_source
from distil.plugins import PluginHost
from distil.records import Categories, Example, Prediction
from distil.store.sqlite import Store
from distil.train import train_student


class KeywordTeacher(distil.Teacher):
    """Labels a text with the first label whose keyword it contains, else ``default``."""

    def __init__(self, keywords: dict[str, str], default: str) -> None:
        self.keywords, self.default = keywords, default

    def source(self, task: distil.Task) -> str:
        return "teacher:test.keywords.v1"

    async def alabel(
        self, task: distil.Task, examples: Sequence[Example], on_results: Any = None
    ) -> list[Prediction]:
        preds = []
        for ex in examples:
            label = next(
                (lab for word, lab in self.keywords.items() if word in ex.text.lower()),
                self.default,
            )
            preds.append(
                Prediction(
                    example_id=ex.id,
                    source=self.source(task),
                    output=Categories(labels=[label]),
                    confidence=1.0,
                )
            )
        if on_results is not None:
            on_results(preds)
        return preds


class Inline:
    """An executor that only records that it was built with its config keys."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers


class RegistersThings:
    @distil.hookimpl
    def register_tasks(self, register: Any) -> None:
        register("test.spam.v1", lambda: distil.TextCat(["ham", "spam"]))

    @distil.hookimpl
    def register_teachers(self, register: Any) -> None:
        register("test.keywords.v1", KeywordTeacher)

    @distil.hookimpl
    def register_executors(self, register: Any) -> None:
        register("test.inline.v1", Inline)


CONFIG = """
[task]
@tasks = "test.spam.v1"

[teacher]
@teachers = "test.keywords.v1"
default = "ham"

[teacher.keywords]
prize = "spam"
free = "spam"

[data]
train = "train.jsonl"
gold = "test.jsonl"
"""


def test_registered_task_and_teacher_resolve_from_a_config_and_label() -> None:
    host = PluginHost(entry_points=False, modules=[("things", RegistersThings())], strict=True)
    cfg = load_config(CONFIG, host=host)
    assert cfg.task.labels == ["ham", "spam"]
    assert isinstance(cfg.teacher, KeywordTeacher)
    preds = cfg.teacher.label(
        cfg.task,
        [Example(id="a", text="You won a PRIZE"), Example(id="b", text="see you at 6")],
    )
    assert [p.output.labels for p in preds] == [["spam"], ["ham"]]
    assert host.registries["tasks"]["test.spam.v1"].plugin == "things"
    assert host.registries["teachers"]["test.keywords.v1"].plugin == "things"
    assert host.plugins["things"].registered == {
        "tasks": ["test.spam.v1"],
        "teachers": ["test.keywords.v1"],
        "executors": ["test.inline.v1"],
    }


def test_registered_executor_is_built_with_its_config_keys() -> None:
    host = PluginHost(entry_points=False, modules=[("things", RegistersThings())], strict=True)
    executor = host.create("executors", "test.inline.v1", workers=3)
    assert isinstance(executor, Inline) and executor.workers == 3
    with pytest.raises(distil.RegistryError, match=r"test\.inline\.v1"):
        host.get("executors", "test.inline.v2")


def test_register_commands_adds_a_command_that_distil_main_runs(tmp_path: Path) -> None:
    # A subprocess: distil.cli.app is process-wide, and main() adds plugin commands to it.
    (tmp_path / "hello_plugin.py").write_text(
        textwrap.dedent(
            """
            import typer
            import distil

            @distil.hookimpl
            def register_commands(cli):
                @cli.command("hello")
                def hello(name: str = typer.Option("world", help="Who to greet.")) -> None:
                    '''Greet someone (added by a plugin).'''
                    typer.echo(f"hello {name}")
            """
        )
    )
    script = textwrap.dedent(
        """
        import sys
        import hello_plugin
        from distil.plugins import PluginHost, set_host
        from distil.cli import main

        set_host(PluginHost(entry_points=False, modules=[("hello", hello_plugin)], strict=True))
        sys.argv = ["distil", *sys.argv[1:]]
        main()
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, "hello", "--name", "plugins"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello plugins"
    helped = subprocess.run(
        [sys.executable, "-c", script, "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "hello" in helped.stdout and "Greet someone" in helped.stdout


class DropsMarked:
    """A ``distil_train`` that filters: examples whose text says DROP are not trained on."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    @distil.hookimpl
    def distil_train(self, data: list[tuple[Example, Any]]) -> list[tuple[Example, Any]]:
        self.seen.append(len(data))
        return [(ex, out) for ex, out in data if "DROP" not in ex.text]


class Doubles:
    """A ``distil_train`` that augments: every pair twice (sees the other plugin's result)."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    @distil.hookimpl
    def distil_train(
        self, task: distil.Task, student: Any, data: list[tuple[Example, Any]]
    ) -> list[tuple[Example, Any]]:
        self.seen.append(len(data))
        return data + data


def _store_with_teacher_labels(path: Path) -> Store:
    store = Store(path)
    texts = [
        ("s1", "win a free prize now", "spam"),
        ("s2", "free cash prize claim", "spam"),
        ("s3", "DROP claim your prize", "spam"),
        ("h1", "see you at dinner", "ham"),
        ("h2", "call me when you land", "ham"),
        ("h3", "DROP lunch tomorrow?", "ham"),
    ]
    store.add_examples([Example(id=i, text=t) for i, t, _ in texts], "train")
    store.add_predictions(
        Prediction(example_id=i, source="teacher:test", output=Categories(labels=[lab]))
        for i, _, lab in texts
    )
    return store


def test_distil_train_hooks_filter_and_augment_what_the_student_fits(tmp_path: Path) -> None:
    drops, doubles = DropsMarked(), Doubles()
    host = PluginHost(
        entry_points=False,
        modules=[("sklearn", "distil_sklearn.plugin"), ("drops", drops), ("doubles", doubles)],
        strict=True,
    )
    task = distil.TextCat(["ham", "spam"])
    student = host.create("students", "sklearn.textcat.v1", tune_thresholds=False)
    with _store_with_teacher_labels(tmp_path / "d.db") as store:
        result = train_student(
            store, task, student, teacher_source="teacher:test", model_dir=tmp_path, host=host
        )
    # Both ran once, each on the other's output or the merged data: 6 -> drop 2 -> double = 8,
    # or 6 -> double 12 -> drop 4 = 8 — the order is pluggy's, the chaining is core's.
    assert sorted(drops.seen + doubles.seen) in ([4, 6], [6, 12])
    assert result.n_train == 8
    assert result.from_teacher == 6


def test_distil_evaluate_metrics_from_every_plugin_are_merged(isolated_host: PluginHost) -> None:
    class Coverage:
        @distil.hookimpl
        def distil_evaluate(self, gold: list[Example], predictions: list[Any]) -> dict[str, Any]:
            answered = sum(p is not None for p in predictions)
            return {"coverage": answered / len(gold)}

    class Lengths:
        @distil.hookimpl
        def distil_evaluate(self, task: distil.Task, gold: list[Example]) -> dict[str, Any]:
            return {"mean_chars": sum(len(ex.text) for ex in gold) / len(gold), "kind": task.kind}

    host = PluginHost(
        entry_points=False, modules=[("coverage", Coverage()), ("lengths", Lengths())], strict=True
    )
    task = distil.TextCat(["ham", "spam"])
    gold = [
        Example(id="1", text="free prize", labels=["spam"]),
        Example(id="2", text="hi mum", labels=["ham"]),
        Example(id="3", text="lunch?", labels=["ham"]),
        Example(id="4", text="WIN", labels=["spam"]),
    ]
    preds = {
        "1": Prediction(example_id="1", source="s", output=Categories(labels=["spam"])),
        "2": Prediction(example_id="2", source="s", output=Categories(labels=["spam"])),
        "3": Prediction(example_id="3", source="s", output=Categories(labels=["ham"])),
    }
    scores, extra = score_source(task, gold, preds, host=host)
    assert extra == {"coverage": 0.75, "mean_chars": (10 + 6 + 6 + 3) / 4, "kind": "textcat"}
    assert scores["accuracy"] == pytest.approx(0.5)


class RoutesInterns:
    """A ``distil_annotate`` that routes: an intern's correction is stored as one to review."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @distil.hookimpl
    def distil_annotate(self, example: Example, annotation: Any) -> Any:
        self.seen.append((example.id, annotation.annotator))
        if annotation.annotator == "intern":
            return annotation.model_copy(update={"annotator": "intern", "answer": "ignore"})
        return None


def test_distil_annotate_sees_every_imported_answer_and_may_replace_it(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in [("a", "win"), ("b", "hi")])
    )
    (tmp_path / "test.jsonl").write_text(json.dumps({"id": "g", "text": "x", "labels": ["ham"]}))
    (tmp_path / "distil.cfg").write_text(CONFIG)
    (tmp_path / "answers.jsonl").write_text(
        json.dumps({"id": "a", "labels": ["spam"], "annotator": "alice"})
        + "\n"
        + json.dumps({"id": "b", "labels": ["spam"], "annotator": "intern"})
        + "\n"
    )
    router = RoutesInterns()
    host = PluginHost(
        entry_points=False,
        modules=[("things", RegistersThings()), ("router", router)],
        strict=True,
    )
    with distil.project.Project.from_config(tmp_path / "distil.cfg", host=host) as project:
        project.import_data()
        report = project.import_answers(tmp_path / "answers.jsonl")
        stored = project.store.latest_annotations()
    assert report["stored"] == 2
    assert router.seen == [("a", "alice"), ("b", "intern")]
    assert stored["a"].answer == "correct" and stored["a"].output.labels == ["spam"]
    assert stored["b"].answer == "ignore"
