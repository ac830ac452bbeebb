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

from distil import Prediction, Spans
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
        project.store.add_predictions(preds)
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
