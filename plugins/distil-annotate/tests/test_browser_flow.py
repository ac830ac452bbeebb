"""The flow of a session in a real browser: keys queued and applied in order while the server is
slow, the history strip (click to revise: a new answer event), the progress estimate, the
student's label on disagreement cards and the end-of-queue screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from distil import Categories, Example, Prediction, Store
from distil.annotate import resolve_answers

ANSWER = {"a": "accept", "x": "reject"}


def answers_of(config: Path, who: str) -> list[tuple[str, str, str | None]]:
    with Store(config.parent / "distil.db") as store:
        return [(a.example_id, a.answer, a.pass_name) for a in store.annotations(annotator=who)]


def test_ten_keys_faster_than_the_server_make_ten_answers_in_order(
    banking_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(banking_project)
    server = app_server(config, delay=0.25)  # every answer takes at least 0.25 s
    page.goto(server.url + "/?session=fast")
    expect(page.locator("#card[data-example]")).to_have_count(1)
    keys = "axaaxaxxaa"
    for key in keys:
        page.keyboard.press(key)  # each press returns at once: nine wait their turn
    expect(page.locator("#pending")).to_contain_text("queued")
    expect(page.locator("nav button[data-pass=check]")).to_have_text("check 10/40", timeout=15_000)
    expect(page.locator("#pending")).to_have_text("")
    stored = answers_of(config, "fast")
    assert [answer for _, answer, _ in stored] == [ANSWER[k] for k in keys]
    assert len({eid for eid, _, _ in stored}) == 10  # ten cards, each answered once
    assert {p for _, _, p in stored} == {"check"}
    expect(page.locator("#history button.past")).to_have_count(8)  # the last eight, newest first
    assert page.locator("#history button.past").first.get_attribute("data-example") == stored[-1][0]


def test_clicking_a_past_answer_revises_it_with_a_new_event(
    banking_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(banking_project)
    server = app_server(config)
    page.goto(server.url + "/?session=rev")
    given = []
    for key in "aax":
        eid = page.locator("#card").get_attribute("data-example")
        page.keyboard.press(key)
        expect(page.locator("#status")).to_have_text(f"saved {ANSWER[key]} for {eid}")
        given.append(eid)
    upcoming = page.locator("#card").get_attribute("data-example")
    past = page.locator("#history button.past")
    expect(past).to_have_count(3)
    assert past.nth(1).get_attribute("data-example") == given[1]
    past.nth(1).click()
    expect(page.locator("#card")).to_have_attribute("data-example", given[1])
    expect(page.locator("#pass-title")).to_contain_text(
        "Revising your answer in check (was: accept"
    )
    page.keyboard.press("x")
    expect(page.locator("#status")).to_have_text(f"saved reject for {given[1]}")
    expect(page.locator("#card")).to_have_attribute("data-example", upcoming)  # back to the queue
    stored = answers_of(config, "rev")
    assert stored == [
        (given[0], "accept", "check"),
        (given[1], "accept", "check"),
        (given[2], "reject", "check"),
        (given[1], "reject", "check"),
    ]
    with Store(config.parent / "distil.db") as store:
        final = resolve_answers(store.annotations(annotator="rev"))
    assert final[given[1]].answer == "reject"
    expect(page.locator("nav button[data-pass=fix]")).to_have_text("fix 0/2")


STUDENT = "student:test.tiny#run=fixed"


@pytest.fixture(scope="module")
def tiny_project(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, make_project: Any
) -> Path:
    """Three banking77 texts; the student disagrees with the teacher on each."""
    rows = (shared_data / "banking77" / "train.jsonl").read_text().splitlines()[:3]
    preds, students = [], []
    for line in rows:
        ex = Example.model_validate_json(line)
        preds.append(
            Prediction(
                example_id=ex.id,
                source="teacher:test.tiny#prompt=fixed",
                output=Categories(labels=["card_arrival"]),
            )
        )
        students.append(
            Prediction(example_id=ex.id, source=STUDENT, output=Categories(labels=ex.labels or []))
        )
    labels = sorted({json.loads(x)["labels"][0] for x in rows} | {"card_arrival"})
    task = f'[task]\n@tasks = "textcat.v1"\nlabels = {json.dumps(labels)}\n'
    config = make_project(tmp_path_factory.mktemp("tiny"), "tiny", task, rows, preds)
    from distil.project import Project

    with Project.from_config(config) as project:
        project.store.add_predictions(students, dataset="train")
    return config


def test_progress_estimate_student_label_and_what_to_run_at_the_end(
    tiny_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(tiny_project)
    server = app_server(config)
    gold = {
        ex.id: (ex.labels or [""])[0]
        for ex in map(Example.model_validate_json, (config.parent / "train.jsonl").open())
    }
    page.goto(server.url + "/?session=p")
    eid = page.locator("#card").get_attribute("data-example")
    expect(page.locator("#meta .flag", has_text="student disagrees")).to_have_count(1)
    expect(page.locator("#meta .student")).to_have_text(f"Student says: {gold[eid]}")
    progress = page.locator("#progress-text")
    expect(progress).to_contain_text("0 of 3 done in check · 3 card(s) left in all passes")
    expect(progress).to_contain_text("an estimate comes after your first answers")
    page.keyboard.press("a")
    expect(progress).to_contain_text("1 of 3 done in check · 2 card(s) left in all passes")
    expect(progress).to_contain_text("s/card (median)")
    assert "about " in (progress.text_content() or "")
    page.keyboard.press("a")
    page.keyboard.press("a")
    expect(page.locator("#pass-title")).to_have_text("All done")
    expect(page.locator("#text pre.command").first).to_have_text("distil train CONFIG")
    assert [a for _, a, _ in answers_of(config, "p")] == ["accept"] * 3
