"""The annotation app in a real browser: uvicorn in a subprocess, Playwright driving chromium.

Each test reads like a session at the keyboard; screenshots of every mode go to docs/img/ when DISTIL_SCREENSHOTS=1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from distil import Example, Store
from distil.annotate import cohen_kappa, resolve_answers
from distil_annotate.testing import (
    DISTIL,
    SELECT,
    Server,
    card_id,
    free_port,
    http,
    press,
    screenshot,
)

XSS_TEXT = "<script>alert(1)</script> WIN a <b>prize</b> & <img src=x onerror=alert(2)>"


def store_of(config: Path) -> Store:
    return Store(config.parent / "distil.db")


def shot(page: Any, name: str) -> None:
    # docs/img/ only with DISTIL_SCREENSHOTS=1: tests do not write into the work tree
    screenshot(page, name, Path(tempfile.gettempdir()) / "distil-screenshots")


def test_binary_pass_by_keyboard_survives_sigkill_and_resumes(sms_project: Path, page: Any) -> None:
    server = Server(sms_project).start()
    try:
        page.goto(server.url + "/?session=alice")
        expect(page.locator("#pass-title")).to_contain_text("Pass check")
        shot(page, "binary")
        keys = [
            ("a", "accept"),
            ("x", "reject"),
            ("a", "accept"),
            ("Space", "ignore"),
            ("x", "reject"),
        ]
        given = [(press(page, key, answer), answer) for key, answer in keys]
        expected_next = card_id(page)
        server.kill()  # SIGKILL mid-session

        with store_of(sms_project) as store:
            events = [(a.example_id, a.answer) for a in store.annotations(annotator="alice")]
        assert events == given

        server.start()
        page.reload()
        assert card_id(page) == expected_next
        expect(page.locator("nav button[data-pass=check]")).to_have_text("check 5/31")
        expect(page.locator("nav button[data-pass=fix]")).to_have_text("fix 0/2")

        page.click("nav button[data-pass=fix]")
        expect(page.locator("#pass-title")).to_contain_text("Pass fix")
        assert card_id(page) in {given[1][0], given[4][0]}
        shot(page, "choice")
        fixed = press(page, "1", "correct")  # 1 = ham
    finally:
        server.stop()
    with store_of(sms_project) as store:
        final = resolve_answers(store.annotations(annotator="alice"))
    assert final[fixed].answer == "correct" and final[fixed].output.labels == ["ham"]
    assert final[given[0][0]].answer == "accept"
    assert final[given[3][0]].answer == "ignore"


def test_backspace_undo_is_an_event_and_the_undone_answer_does_not_count(
    sms_project: Path, page: Any
) -> None:
    server = Server(sms_project).start()
    try:
        page.goto(server.url + "/?session=undoer")
        first = press(page, "a", "accept")
        assert card_id(page) != first
        page.keyboard.press("Backspace")
        expect(page.locator("#status")).to_have_text(f"undid the answer for {first}")
        assert card_id(page) == first
        expect(page.locator("nav button[data-pass=check]")).to_have_text("check 0/31")
        press(page, "x", "reject")
    finally:
        server.stop()
    with store_of(sms_project) as store:
        events = store.annotations(annotator="undoer")
    assert [(a.example_id, a.answer, a.pass_name) for a in events] == [
        (first, "accept", "check"),
        (first, "ignore", "distil.undo"),
        (first, "reject", "check"),
    ]
    assert resolve_answers(events)[first].answer == "reject"


def test_markup_in_a_text_shows_as_characters(sms_project: Path, page: Any) -> None:
    server = Server(sms_project).start()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(server.url + "/?session=xss&example=xss-1")
        assert card_id(page) == "xss-1"
        assert page.locator("#text").text_content() == XSS_TEXT
        assert page.locator("#card script, #card img, #card b").count() == 0
        page.wait_for_timeout(200)
    finally:
        server.stop()
    assert dialogs == []


def test_span_correction_removes_and_adds_spans(ner_project: Path, page: Any) -> None:
    gold = {
        ex.id: ex
        for ex in map(
            Example.model_validate_json,
            (ner_project.parent / "train.jsonl").read_text().splitlines(),
        )
    }
    server = Server(ner_project).start()
    try:
        page.goto(server.url + "/?session=bob")
        expect(page.locator("#pass-title")).to_contain_text("Pass check:")
        shot(page, "binary-spans")
        rejected = press(page, "x", "reject")
        page.click("nav button[data-pass=fix]")
        expect(page.locator("#pass-title")).to_contain_text("Pass fix")
        assert card_id(page) == rejected
        spans = list(gold[rejected].spans or [])
        teacher = spans[:-1] if len(spans) > 1 else spans
        labels = ["PER", "ORG", "LOC", "MISC"]
        # Remove the teacher's first span: pick its label (digit), then click it.
        page.keyboard.press(str(labels.index(teacher[0].label) + 1))
        page.locator("#text .ent").first.click()
        expect(page.locator("#text .ent")).to_have_count(len(teacher) - 1)
        # Add the first span back as MISC (digit 4) by selecting its text.
        page.keyboard.press("4")
        page.evaluate(SELECT, [teacher[0].start, teacher[0].end])
        expect(page.locator("#text .ent")).to_have_count(len(teacher))
        shot(page, "spans")
        press(page, "Enter", "correct")
    finally:
        server.stop()
    with store_of(ner_project) as store:
        stored = store.annotations(annotator="bob")[-1]
    want = sorted(
        [(teacher[0].start, teacher[0].end, "MISC")]
        + [(s.start, s.end, s.label) for s in teacher[1:]]
    )
    assert stored.answer == "correct" and stored.pass_name == "fix"
    assert sorted((s.start, s.end, s.label) for s in stored.output.spans) == want


def test_multiple_choice_correction_after_a_per_label_rejection(
    multi_project: Path, page: Any
) -> None:
    server = Server(multi_project).start()
    try:
        _, state = server.api("GET", "/api/state?session=m")
        assert state["pass"] == "check:joy" and state["card"]["claim"] == "joy"
        eid = state["card"]["example_id"]
        server.api(
            "POST",
            "/api/answer",
            {"session": "m", "pass": "check:joy", "example_id": eid, "answer": "reject"},
        )
        page.goto(server.url + "/?session=m&pass=fix")
        assert card_id(page) == eid
        expect(page.locator(".option.selected")).to_have_count(0)  # joy was rejected: unticked
        page.keyboard.press("3")  # gratitude
        expect(page.locator(".option.selected")).to_have_text(["3gratitude"])
        shot(page, "multi")
        press(page, "Enter", "correct")
    finally:
        server.stop()
    with store_of(multi_project) as store:
        assert store.annotations(annotator="m")[-1].output.labels == ["gratitude"]


def test_two_sessions_agreement_and_review(sms_project: Path, tmp_path: Path, page: Any) -> None:
    for path in (sms_project.parent.parent / "sms-pristine").iterdir():
        if path.is_file():
            shutil.copy(path, tmp_path / path.name)
    config = tmp_path / sms_project.name
    server = Server(config).start()
    ann1 = ["accept", "accept", "reject", "accept", "reject", "accept"]
    ann2 = ["accept", "reject", "reject", "accept", "accept", "accept"]
    try:
        for name, answers in (("ann1", ann1), ("ann2", ann2)):
            for answer in answers:
                _, state = server.api("GET", f"/api/state?session={name}&pass=check")
                card = state["card"]
                server.api(
                    "POST",
                    "/api/answer",
                    {
                        "session": name,
                        "pass": "check",
                        "example_id": card["example_id"],
                        "answer": answer,
                    },
                )
        status, summary = server.api("GET", "/api/summary")
        assert status == 200
        pairs = summary["agreement"]["passes"]["check"]["pairs"]
        pair = next(p for p in pairs if (p["a"], p["b"]) == ("ann1", "ann2"))
        assert (pair["a"], pair["b"], pair["n"]) == ("ann1", "ann2", 6)
        assert abs(pair["agreement"] - 4 / 6) < 1e-9
        assert abs(pair["kappa"] - 0.25) < 1e-9 and pair["kappa"] == cohen_kappa(ann1, ann2)
        assert summary["agreement"]["conflicts"] == 2

        page.goto(server.url + "/?session=rev&pass=review")
        expect(page.locator("#pass-title")).to_contain_text("Pass review")
        expect(page.locator(".option")).to_have_count(2)
        shot(page, "review")
        reviewed = press(page, "1", "correct")  # ann1's answer: the teacher's label
        _, summary = server.api("GET", "/api/summary")
        assert summary["agreement"]["conflicts"] == 1
    finally:
        server.stop()
    report = subprocess.run(
        [DISTIL, "annotate", str(config), "--report"], capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["agreement"]["conflicts"] == 1
    pairs = data["agreement"]["passes"]["check"]["pairs"]
    assert [p["kappa"] for p in pairs if (p["a"], p["b"]) == ("ann1", "ann2")] == [pair["kappa"]]
    with store_of(config) as store:
        final = resolve_answers(store.annotations())
    assert final[reviewed].pass_name == "review" and final[reviewed].annotator == "rev"


def test_off_loopback_every_api_call_needs_the_generated_token(
    sms_project: Path, page: Any
) -> None:
    server = Server(sms_project, "--host", "0.0.0.0").start()
    try:
        assert server.proc is not None and server.proc.stdout is not None
        lines = [server.proc.stdout.readline() for _ in range(3)]
        token = next(line.split()[1] for line in lines if line.startswith("token: "))
        assert http("GET", server.url + "/api/state")[0] == 401
        assert http("GET", server.url + "/api/state", token="wrong")[0] == 401
        assert http("POST", server.url + "/api/undo", {"session": "t"})[0] == 401
        assert http("GET", server.url + "/api/summary")[0] == 401
        assert http("GET", server.url + "/api/state", token=token)[0] == 200
        page.goto(f"{server.url}/?session=t&token={token}")
        expect(page.locator("#pass-title")).to_contain_text("Pass check")
    finally:
        server.stop()


def test_a_second_server_on_the_same_store_sees_the_first_ones_answers(sms_project: Path) -> None:
    one, two = Server(sms_project).start(), Server(sms_project, port=free_port()).start()
    try:
        _, state = one.api("GET", "/api/state?session=shared")
        eid = state["card"]["example_id"]
        one.api(
            "POST",
            "/api/answer",
            {"session": "shared", "pass": "check", "example_id": eid, "answer": "accept"},
        )
        _, seen = two.api("GET", "/api/state?session=shared")
        assert seen["card"]["example_id"] != eid
        assert seen["passes"][0]["done"] == 1
    finally:
        one.stop()
        two.stop()
