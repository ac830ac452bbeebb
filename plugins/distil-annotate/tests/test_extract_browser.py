"""An extract project in the app: one focused pass per subtask, answers stored per subtask, a
record whose value is not in the text shown in its own pass, and `distil train` learning from
every correction while keeping the teacher's other fields."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from distil import Example, Prediction, Store
from distil.records import Categories, Extraction, Spans
from distil_annotate.testing import DISTIL, SELECT, Server, card_id, press, screenshot

SCHEMA = """
from typing import Literal
from pydantic import BaseModel


class Order(BaseModel):
    intent: Literal["buy", "sell"]
    item: str | None = None
"""
NAMES = ["Alice", "Bob", "Chen", "Dana", "Eve", "Femi", "Gus", "Hana"]
ITEMS = ["mugs", "plates", "lamps", "chairs"]
SELL = "sell-0"  # the teacher says buy: the annotator corrects the intent
GHOST = "buy-3"  # the teacher takes the name for the item: the annotator corrects the span
MADE_UP = "buy-5"  # the teacher's item is not in the text: shown in spans/check:not-in-text


def rows() -> list[tuple[str, str, dict[str, Any], float]]:
    """(id, text, teacher record, teacher confidence): the teacher always says "buy"."""
    out = []
    for i in range(16):
        name, item = NAMES[i % len(NAMES)], ITEMS[i % len(ITEMS)]
        text = f"{name} wants to buy some {item} today"
        out.append((f"buy-{i}", text, {"intent": "buy", "item": item}, 0.9))
    out[3] = (GHOST, out[3][1], {"intent": "buy", "item": NAMES[3]}, 0.4)
    out[5] = (MADE_UP, out[5][1], {"intent": "buy", "item": "sofas"}, 0.9)
    sell = f"Please sell my old {ITEMS[2]} quickly"
    out.append((SELL, sell, {"intent": "buy", "item": ITEMS[2]}, 0.3))
    return out


@pytest.fixture
def extract_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "order_schema.py").write_text(SCHEMA)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the app and `distil train` subprocesses
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # never used: the records are in the store
    monkeypatch.delitem(sys.modules, "order_schema", raising=False)
    data = rows()
    (tmp_path / "train.jsonl").write_text(
        "".join(Example(id=i, text=t).model_dump_json() + "\n" for i, t, _, _ in data)
    )
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        '[task]\n@tasks = "extract.v1"\nschema = "order_schema:Order"\n\n'
        '[teacher]\n@teachers = "llm.v1"\n\n[teacher.provider]\n'
        '@providers = "openai.chat.v1"\nmodel = "gpt-4o-mini"\n\n'
        '[student]\n@students = "extract.composite.v1"\n\n'
        '[student.textcat]\n@students = "sklearn.textcat.v1"\n\n'
        '[student.spans]\n@students = "spacy.ner.v1"\nmax_epochs = 20\n'
        "learn_rate = 0.005\nbatch_size = 4\n\n"
        '[data]\ntrain = "train.jsonl"\ngold = "train.jsonl"\n'
    )
    from distil.project import Project

    with Project.from_config(cfg) as project:  # the records the teacher would have given
        project.import_data()
        records = [
            Prediction(
                example_id=i, source=project.teacher_source, output=Extraction(data=r), confidence=c
            )
            for i, _, r, c in data
        ]
        # gold is the same file: these are the teacher's train answers
        project.store.add_predictions(records, dataset="train")
    return cfg


def shot(page: Any, name: str) -> None:
    # docs/img/ only with DISTIL_SCREENSHOTS=1: tests do not write into the work tree
    screenshot(page, name, Path(tempfile.gettempdir()) / "distil-screenshots")


def nav(page: Any, name: str) -> Any:
    return page.locator(f'nav button[data-pass="{name}"]')


def correct_span(page: Any, start: int, end: int) -> None:
    """In the span fix pass: remove the teacher's one span, select ``start:end``, submit."""
    page.keyboard.press("1")  # the item label
    page.locator("#text .ent").first.click()  # remove the teacher's wrong span
    expect(page.locator("#text .ent")).to_have_count(0)
    page.evaluate(SELECT, [start, end])
    expect(page.locator("#text .ent")).to_have_text(["chairs"])
    shot(page, "extract-spans")
    press(page, "Enter", "correct")


def last_answer(config: Path) -> Any:
    with Store(config.parent / "distil.db") as store:
        return store.annotations(annotator="ann")[-1]


def test_one_pass_per_subtask_corrections_per_subtask_and_training_merges_them(
    extract_project: Path, page: Any
) -> None:
    texts = {i: t for i, t, _, _ in rows()}
    server = Server(extract_project).start()
    try:
        page.goto(server.url + "/?session=ann")
        # One focused pass per subtask: the intent textcat, then the item span.
        names = [page.locator("nav button").nth(i).get_attribute("data-pass") for i in range(8)]
        assert names == [
            "textcat:intent/check",
            "textcat:intent/fix",
            "spans/check:item",
            "spans/check:none",
            "spans/check:not-in-text",
            "spans/fix",
            "textcat:intent/review",
            "spans/review",
        ]
        expect(nav(page, "spans/check:not-in-text")).to_have_text("spans/check:not-in-text 0/1")
        expect(page.locator("#pass-title")).to_contain_text(
            "Pass textcat:intent/check: intent: Is the teacher's label right?"
        )
        expect(page.locator("#claim")).to_have_text("Teacher says: buy")
        assert card_id(page) == SELL  # lowest teacher confidence first
        shot(page, "extract-intent")

        # The intent of SELL is wrong: reject it, then choose "sell" (key 2) in the fix pass.
        press(page, "x", "reject")
        assert last_answer(extract_project).pass_name == "textcat:intent/check"
        nav(page, "textcat:intent/fix").click()
        expect(page.locator("#pass-title")).to_contain_text("Pass textcat:intent/fix")
        assert card_id(page) == SELL
        press(page, "2", "correct")
        stored = last_answer(extract_project)  # on disk before the next card showed
        assert (stored.example_id, stored.pass_name) == (SELL, "textcat:intent/fix")
        assert stored.output == Categories(labels=["sell"])

        # The item spans: SELL's is right, GHOST's (the name) is wrong.
        nav(page, "spans/check:item").click()
        expect(page.locator("#pass-title")).to_contain_text("Pass spans/check:item")
        assert card_id(page) == SELL
        expect(page.locator("#text .ent")).to_have_text(["lamps"])
        press(page, "a", "accept")
        assert card_id(page) == GHOST
        expect(page.locator("#text .ent")).to_have_text([NAMES[3]])
        press(page, "x", "reject")
        nav(page, "spans/fix").click()
        expect(page.locator("#pass-title")).to_contain_text("Pass spans/fix")
        assert card_id(page) == GHOST
        start = texts[GHOST].index("chairs")
        correct_span(page, start, start + len("chairs"))
        # Backspace undoes it (an event of that subtask) and shows the card again.
        page.keyboard.press("Backspace")
        expect(page.locator("#status")).to_have_text(f"undid the answer for {GHOST}")
        assert card_id(page) == GHOST
        assert last_answer(extract_project).pass_name == "spans/distil.undo"
        correct_span(page, start, start + len("chairs"))
        stored = last_answer(extract_project)
        assert (stored.example_id, stored.pass_name) == (GHOST, "spans/fix")
        assert stored.output == Spans.model_validate(
            {"spans": [{"start": start, "end": start + 6, "label": "item"}]}
        )

        # MADE_UP's item ("sofas") is not in its text: no check:item card, one of its own that
        # shows what the teacher said; reject it and mark the right span in the fix pass.
        nav(page, "spans/check:not-in-text").click()
        expect(page.locator("#pass-title")).to_contain_text("Pass spans/check:not-in-text")
        assert card_id(page) == MADE_UP
        expect(page.locator("#claim .not-in-text")).to_have_text(
            "Teacher also said (not in the text): item = \u201csofas\u201d"
        )
        expect(page.locator("#claim .label")).to_have_text("0 span(s) in the text")
        expect(page.locator("#text .ent")).to_have_count(0)  # nothing of it could be placed
        shot(page, "extract-not-in-text")
        press(page, "x", "reject")
        assert last_answer(extract_project).pass_name == "spans/check:not-in-text"
        nav(page, "spans/fix").click()
        expect(page.locator("#pass-title")).to_contain_text("Pass spans/fix")
        assert card_id(page) == MADE_UP
        expect(page.locator("#claim .not-in-text")).to_contain_text("item = \u201csofas\u201d")
        start = texts[MADE_UP].index("plates")
        page.keyboard.press("1")  # the item label
        page.evaluate(SELECT, [start, start + len("plates")])
        expect(page.locator("#text .ent")).to_have_text(["plates"])
        press(page, "Enter", "correct")
        stored = last_answer(extract_project)
        assert (stored.example_id, stored.pass_name) == (MADE_UP, "spans/fix")
        assert stored.output == Spans.model_validate(
            {"spans": [{"start": start, "end": start + 6, "label": "item"}]}
        )
        expect(nav(page, "textcat:intent/fix")).to_have_text("textcat:intent/fix 1/1")
        expect(nav(page, "spans/check:not-in-text")).to_have_text("spans/check:not-in-text 1/1")
    finally:
        server.stop()

    report = subprocess.run(
        [DISTIL, "annotate", str(extract_project), "--report"], capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr
    summary = json.loads(report.stdout)
    assert summary["annotators"]["ann"]["textcat:intent/fix"] == 1
    assert summary["annotators"]["ann"]["spans/fix"] == 2
    assert summary["resolved_by_subtask"] == {
        "textcat:intent": {"correct": 1},
        "spans": {"accept": 1, "correct": 2},
    }

    trained = subprocess.run(
        [DISTIL, "train", str(extract_project)], capture_output=True, text=True, timeout=300
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr

    from distil.project import Project
    from distil.train import merge_labels

    with Project.from_config(extract_project) as project:
        merged = merge_labels(project.store, project.config.task, "train", project.teacher_source)
        loaded = project.latest_student()
        run = project.store.runs("train")[0]["stats"]
    records = {ex.id: out.data for ex, out in merged.pairs}  # type: ignore[attr-defined]
    # Each correction replaced its own field; the teacher's other field stayed.
    assert records[SELL] == {"intent": "sell", "item": "lamps"}
    assert records[GHOST] == {"intent": "buy", "item": "chairs"}
    assert records[MADE_UP] == {"intent": "buy", "item": "plates"}
    assert records["buy-0"] == {"intent": "buy", "item": "mugs"}
    assert run["from_humans"] == 3 and run["from_teacher"] == 14
    assert run["from_answers"] == {"correct": 3, "accept": 1}  # the rejects were corrected

    # The composite learnt from both: without the correction the intent was a constant "buy".
    assert loaded is not None
    composite = loaded[0]
    fit = run["report"]["subtasks"]
    assert fit["textcat:intent"]["student"] == "sklearn.textcat"
    # MADE_UP trains the slots now (its teacher record was left out of them: "sofas").
    assert fit["spans"]["n_train"] == 17 and fit["spans"]["dropped"] == 0
    preds = composite.predict([Example(id=i, text=texts[i]) for i in (SELL, GHOST)])
    assert preds[0].output.data["intent"] == "sell"
    assert preds[1].output.data == {"intent": "buy", "item": "chairs"}
