"""Fixtures for the annotation app: small real projects, a real server process, a real browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, Prediction, Spans
from distil_annotate.testing import CHROMIUM, CHROMIUM_ARGS, DISTIL

XSS_TEXT = "<script>alert(1)</script> WIN a <b>prize</b> & <img src=x onerror=alert(2)>"
NER_SOURCE = "teacher:test.ner#prompt=fixed"


@pytest.fixture(scope="session")
def sms_project(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """31 SMS texts (one carrying markup) labelled by the zero-shot teacher via `distil label`."""
    root = tmp_path_factory.mktemp("sms")
    rows = (shared_data / "sms_spam" / "train.jsonl").read_text().splitlines()[:30]
    rows.append(json.dumps({"id": "xss-1", "text": XSS_TEXT, "labels": ["spam"]}))
    (root / "train.jsonl").write_text("\n".join(rows) + "\n")
    gold = (shared_data / "sms_spam" / "dev.jsonl").read_text().splitlines()[:10]
    (root / "gold.jsonl").write_text("\n".join(gold) + "\n")
    cfg = root / "distil.cfg"
    cfg.write_text(
        '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n'
        '[teacher]\n@teachers = "local.zeroshot.v1"\n\n'
        '[student]\n@students = "sklearn.textcat.v1"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n'
    )
    result = subprocess.run(
        [DISTIL, "label", str(cfg)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "labelled 31 of 31" in result.stdout
    # An untouched copy for tests that need a store no other session answered in.
    shutil.copytree(root, root.parent / "sms-pristine")
    return cfg


def _project(root: Path, name: str, task: str, rows: list[str], preds: list[Prediction]) -> Path:
    (root / "train.jsonl").write_text("\n".join(rows) + "\n")
    cfg = root / "distil.cfg"
    cfg.write_text(
        f'{task}\n[teacher]\n@teachers = "llm.v1"\n\n[teacher.provider]\n'
        '@providers = "openai.chat.v1"\nmodel = "gpt-4o-mini"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "train.jsonl"\n'
    )
    from distil.project import Project

    with Project.from_config(cfg) as project:
        project.import_data()
        project.store.add_predictions(preds, dataset="train")  # gold is the same file
    return cfg


@pytest.fixture(scope="session")
def ner_project(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """15 wikigold sentences; the 'teacher' is the gold spans with the last span of each dropped."""
    from distil import Example

    rows = (shared_data / "wikigold" / "train.jsonl").read_text().splitlines()[:15]
    preds = []
    for line in rows:
        ex = Example.model_validate_json(line)
        spans = list(ex.spans or [])[:-1] if len(ex.spans or []) > 1 else list(ex.spans or [])
        preds.append(
            Prediction(
                example_id=ex.id, source=NER_SOURCE, output=Spans(spans=spans), confidence=0.5
            )
        )
    task = '[task]\n@tasks = "ner.v1"\nlabels = ["PER", "ORG", "LOC", "MISC"]\n'
    return _project(tmp_path_factory.mktemp("ner"), "ner", task, rows, preds)


@pytest.fixture(scope="session")
def multi_project(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """8 goemotions texts, multi-label over 4 labels; the 'teacher' says joy for all of them."""
    from distil import Categories, Example

    labels = ["joy", "anger", "gratitude", "optimism"]
    rows = (shared_data / "goemotions" / "train.jsonl").read_text().splitlines()[:8]
    # The file is also the gold set: keep only the gold labels this 4-label task knows.
    kept = [json.loads(line) for line in rows]
    rows = [json.dumps({**r, "labels": [x for x in r["labels"] if x in labels]}) for r in kept]
    preds = [
        Prediction(
            example_id=Example.model_validate_json(line).id,
            source="teacher:test.multi#prompt=fixed",
            output=Categories(labels=["joy"], scores={"joy": 0.6, "anger": 0.1}),
            confidence=0.6,
        )
        for line in rows
    ]
    task = f'[task]\n@tasks = "textcat.v1"\nlabels = {json.dumps(labels)}\nmultilabel = true\n'
    task += '\n[annotate]\nmultilabel = "per_label"\n'  # this project tests the per-label passes
    return _project(tmp_path_factory.mktemp("multi"), "multi", task, rows, preds)


# Module scope: Playwright's sync API keeps an event loop running while it is open, which would
# break later tests (in other files) that call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):  # CI must not go green by skipping the browser tests
            pytest.fail("Debian's chromium is not installed (make install-dev installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 640})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


BANKING_TEACHER = "teacher:test.banking#prompt=fixed"
BANKING_STUDENT = "student:test.banking#run=fixed"


def banking_teacher(index: int, gold: str, labels: list[str]) -> tuple[Categories, Categories]:
    """A wrong but confident teacher (its top label is never the gold one, and the gold label
    ranks 20th or lower) and a student that is surer still of a third label, seeded by ``index``.
    Rows 30 and on get an LLM-like teacher: one label, no scores."""
    import random

    rng = random.Random(index)
    wrong = labels[(labels.index(gold) + 7 * index + 1) % len(labels)]
    if wrong == gold:
        wrong = labels[(labels.index(gold) + 1) % len(labels)]
    if index >= 30:
        return Categories(labels=[wrong]), Categories(labels=[wrong])
    scores = {label: round(rng.uniform(0.03, 0.3), 4) for label in labels}
    scores.update({wrong: 0.6, gold: 0.02})
    other = next(x for x in rng.sample(labels, len(labels)) if x not in (gold, wrong))
    student = Categories(labels=[other], scores={other: 0.9, gold: 0.01, wrong: 0.05})
    return Categories(labels=[wrong], scores=scores), student


@pytest.fixture(scope="session")
def banking_project(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """40 banking77 texts over all 77 labels, with :func:`banking_teacher`'s teacher and student
    predictions. Tests copy it (``fresh_copy``) before answering in it."""
    from distil import Example

    rows = (shared_data / "banking77" / "train.jsonl").read_text().splitlines()
    labels = sorted({lab for line in rows for lab in json.loads(line)["labels"]})
    rows = rows[:40]
    preds, students = [], []
    for i, line in enumerate(rows):
        ex = Example.model_validate_json(line)
        teacher, student = banking_teacher(i, (ex.labels or [""])[0], labels)
        confidence = max(teacher.scores.values()) if teacher.scores else None
        preds.append(
            Prediction(
                example_id=ex.id, source=BANKING_TEACHER, output=teacher, confidence=confidence
            )
        )
        students.append(Prediction(example_id=ex.id, source=BANKING_STUDENT, output=student))
    task = f'[task]\n@tasks = "textcat.v1"\nlabels = {json.dumps(labels)}\n'
    cfg = _project(tmp_path_factory.mktemp("banking"), "banking", task, rows, preds)
    from distil.project import Project

    with Project.from_config(cfg) as project:
        project.store.add_predictions(students, dataset="train")
    return cfg


@pytest.fixture
def fresh_copy(tmp_path: Path) -> Any:
    """``fresh_copy(config)``: a copy of that project (data and store) under ``tmp_path``, so a
    test answers in a store no other test touched."""

    def copy(config: Path) -> Path:
        for path in config.parent.iterdir():
            if path.is_file():
                shutil.copy(path, tmp_path / path.name)
        return tmp_path / config.name

    return copy


@pytest.fixture(scope="session")
def make_project() -> Any:
    """``make_project(root, name, task_block, rows, predictions)``: see ``_project``."""
    return _project


class ThreadServer:
    """The app (``create_app``) served by uvicorn in a thread of the test process: starts in a
    fraction of the time of a ``distil annotate`` subprocess. ``delay`` seconds are slept before
    every ``POST /api/answer`` (a knob of this test server only: the real one has none)."""

    def __init__(self, config: Path, delay: float = 0.0) -> None:
        import asyncio
        import threading

        import uvicorn

        from distil_annotate.server import create_app, open_workspace
        from distil_annotate.testing import free_port

        self.workspace, self.project = open_workspace(config)
        app = create_app(self.workspace)
        if delay:

            @app.middleware("http")
            async def slow(request: Any, call_next: Any) -> Any:
                if request.url.path == "/api/answer":
                    await asyncio.sleep(delay)
                return await call_next(request)

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            threading.Event().wait(0.02)
        if not self.server.started:
            self.project.close()
            raise RuntimeError("the test server did not start")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        from distil_annotate.testing import http

        return http(method, self.url + path, body)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.project.close()


@pytest.fixture
def app_server() -> Iterator[Any]:
    """``app_server(config, delay=0.0)`` starts a :class:`ThreadServer`; all stop at teardown."""
    started: list[ThreadServer] = []

    def start(config: Path, delay: float = 0.0) -> ThreadServer:
        started.append(ThreadServer(config, delay))
        return started[-1]

    yield start
    for server in started:
        server.stop()
