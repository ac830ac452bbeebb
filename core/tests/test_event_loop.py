"""The synchronous API works where an event loop already runs (Jupyter), and reports progress.

A notebook cell runs inside the kernel's event loop; ``asyncio.run`` there fails with "cannot be
called from a running event loop". The tests run the API as a cell does: from ``async def``
code under ``asyncio.run(main())``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

import distil
from distil import Completion, Prompt, PromptTeacher, Provider, TextCat, Usage, hookimpl
from distil._async import run_sync
from distil.plugins import PluginHost, set_host
from distil.store.sqlite import Store
from distil.testing.data import load_split
from distil.testing.executors import KeywordStudent, KeywordTeacher


class EchoLLM(Provider):
    """An async provider: "spam" when the prompt mentions a prize, else "ham"."""

    name = "test.echo"

    async def complete(self, prompt: Prompt) -> Completion:
        await asyncio.sleep(0)
        text = prompt.messages[-1].content.lower()
        label = "spam" if any(w in text for w in ("prize", "free", "win")) else "ham"
        return Completion(text=json.dumps({"labels": [label]}), usage=Usage(input_tokens=9))


def make_echo(model: str = "echo-1") -> EchoLLM:
    return EchoLLM(model, {})


class Plugin:
    @hookimpl
    def register_teachers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordTeacher)

    @hookimpl
    def register_providers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.echo.v1", make_echo)

    @hookimpl
    def register_students(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordStudent)


@pytest.fixture(autouse=True)
def host():
    host = PluginHost(entry_points=False, strict=True, modules=[("loop", Plugin())])
    set_host(host)
    yield host
    set_host(None)


CONFIG = """\
[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

{teacher}

[student]
@students = "test.keywords.v1"

[data]
train = "train.jsonl"
gold = "gold.jsonl"
"""
KEYWORDS = '[teacher]\n@teachers = "test.keywords.v1"'
LLM = '[teacher]\n@teachers = "llm.v1"\n\n[teacher.provider]\n@providers = "test.echo.v1"'


def project(root: Path, teacher: str = KEYWORDS) -> Path:
    for name, split, n in (("train", "train", 30), ("gold", "test", 10)):
        rows = [ex.model_dump(exclude_none=True) for ex in load_split("sms_spam", split, limit=n)]
        (root / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8"
        )
    cfg = root / "distil.cfg"
    cfg.write_text(CONFIG.format(teacher=teacher), "utf-8")
    return cfg


@pytest.mark.parametrize("teacher", [KEYWORDS, LLM], ids=["keywords", "llm"])
def test_label_inside_a_running_loop_stores_the_answers(tmp_path, teacher) -> None:
    cfg = project(tmp_path, teacher)

    async def cell() -> Any:  # what a notebook cell is: code run by a running event loop
        with distil.Project.from_config(cfg) as project_:
            return project_.label()

    result = asyncio.run(cell())
    assert (result.labelled, result.failures) == (30, 0)
    with Store(tmp_path / "distil.db") as store:
        answers = store.predictions(result.source)
    train = load_split("sms_spam", "train", limit=30)
    assert sorted(answers) == sorted(ex.id for ex in train)
    assert all(p.ok for p in answers.values())


def test_the_whole_loop_runs_inside_a_running_loop(tmp_path) -> None:
    cfg = project(tmp_path, LLM)

    async def cell() -> dict[str, Any]:
        with distil.Project(distil.load_config(cfg)) as project_:
            return project_.run(tmp_path / "report")

    result = asyncio.run(cell())
    assert result["label"]["labelled"] == 30
    assert result["train"]["n_train"] == 30
    assert (tmp_path / "report" / "report.json").is_file()


def test_teacher_label_inside_a_running_loop() -> None:
    examples = load_split("sms_spam", "test", limit=5)
    teacher = PromptTeacher(make_echo())

    async def cell() -> list[Any]:
        return teacher.label(TextCat(["ham", "spam"]), examples)

    predictions = asyncio.run(cell())
    assert [p.example_id for p in predictions] == [ex.id for ex in examples]
    assert all(p.ok for p in predictions)


def test_run_sync_outside_a_loop_runs_in_this_thread() -> None:
    async def where() -> str:
        return threading.current_thread().name

    assert run_sync(where()) == threading.current_thread().name


def test_run_sync_inside_a_loop_uses_a_worker_and_keeps_context_and_errors() -> None:
    tag: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="unset")

    async def inner() -> tuple[str, str, bool]:
        loop = asyncio.get_running_loop()
        return threading.current_thread().name, tag.get(), loop is outer_loop[0]

    async def boom() -> None:
        raise ValueError("ünïcode 🙂 survives")

    outer_loop: list[asyncio.AbstractEventLoop] = []

    async def cell() -> tuple[str, str, bool]:
        outer_loop.append(asyncio.get_running_loop())
        tag.set("from the cell")
        with pytest.raises(ValueError, match="ünïcode 🙂 survives"):
            run_sync(boom())
        return run_sync(inner())

    name, seen, same_loop = asyncio.run(cell())
    assert name == "distil-run-sync"
    assert seen == "from the cell"
    assert not same_loop


def test_label_without_a_callback_logs_progress(tmp_path, caplog) -> None:
    cfg = project(tmp_path)
    caplog.set_level(logging.INFO, logger="distil")
    with distil.Project.from_config(cfg) as project_:
        project_.label()
    lines = [r.getMessage() for r in caplog.records if r.name == "distil.progress"]
    assert lines and lines[-1] == "label train: 30/30"
    assert len(lines) <= 11


def test_project_and_load_config_are_public() -> None:
    from distil.config import load_config
    from distil.project import Project

    assert distil.Project is Project and distil.load_config is load_config
    assert {"Project", "load_config"} <= set(distil.__all__)
