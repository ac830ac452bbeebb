"""Span offsets that are right, in a real browser: the store counts code points (Python's str),
the DOM counts UTF-16 code units, and the page converts at the boundary both ways. Texts with
emoji, combining marks, CJK, right-to-left script and CRLF line ends; selections snap to whole
tokens unless Alt is held."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from distil import Prediction, Span, Spans, Store
from distil.annotate import resolve_answers
from distil_annotate.testing import SELECT

LABELS = ["PER", "ORG", "LOC", "MISC"]
SOURCE = "teacher:test.unicode-ner#prompt=fixed"

#: id -> (text, the teacher's spans as (words, label), words the test selects and their label).
TEXTS: dict[str, tuple[str, list[tuple[str, str]], tuple[str, str]]] = {
    "emoji": (
        "😀😀 John Smith flew to Paris 🇫🇷 on Tuesday.",
        [("John Smith", "PER")],
        ("Paris", "LOC"),
    ),
    "combining": (
        unicodedata.normalize("NFD", "José Martí visited Bogotá with Zoë Ibáñez."),
        [(unicodedata.normalize("NFD", "José Martí"), "PER")],
        (unicodedata.normalize("NFD", "Zoë Ibáñez"), "PER"),
    ),
    "cjk": (
        "昨日 山田太郎 met 👩‍👩‍👧 Alice Chen in 東京都 today.",
        [("山田太郎", "PER")],
        ("東京都", "LOC"),
    ),
    "rtl": (
        "שלום! Avi Cohen from תל אביב wrote مرحبا to Omar Haddad.",
        [("Avi Cohen", "PER")],
        ("Omar Haddad", "PER"),
    ),
    "crlf": (
        "First line 😀\r\nMaria Lopez works at\r\nAcme Corp in Lyon.",
        [("Maria Lopez", "PER")],
        ("Acme Corp", "ORG"),
    ),
}


def at(text: str, words: str) -> tuple[int, int]:
    start = text.index(words)
    return start, start + len(words)


def units(text: str, point: int) -> int:
    """A code point offset as the DOM counts it (UTF-16 code units), computed independently."""
    return len(text[:point].encode("utf-16-le")) // 2


@pytest.fixture(scope="module")
def unicode_project(tmp_path_factory: pytest.TempPathFactory, make_project: Any) -> Path:
    rows, preds = [], []
    for eid, (text, spans, _) in TEXTS.items():
        found = [
            Span(start=a, end=b, label=lab) for words, lab in spans for a, b in [at(text, words)]
        ]
        gold = [x.model_dump() for x in found]  # the config's gold is the same file
        rows.append(json.dumps({"id": eid, "text": text, "spans": gold}, ensure_ascii=False))
        preds.append(
            Prediction(example_id=eid, source=SOURCE, output=Spans(spans=found), confidence=0.5)
        )
    task = f'[task]\n@tasks = "ner.v1"\nlabels = {json.dumps(LABELS)}\n'
    return make_project(tmp_path_factory.mktemp("unicode"), "unicode", task, rows, preds)


def open_fix(page: Any, server: Any, session: str, eid: str) -> None:
    status, _ = server.api(
        "POST",
        "/api/answer",
        {"session": session, "pass": "check:PER", "example_id": eid, "answer": "reject"},
    )
    assert status == 200
    page.goto(f"{server.url}/?session={session}&pass=fix&example={eid}")
    expect(page.locator("#card")).to_have_attribute("data-example", eid)
    expect(page.locator("#card")).to_have_attribute("data-pass", "fix")


def test_highlights_show_exactly_the_words_of_code_point_spans(
    unicode_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    server = app_server(fresh_copy(unicode_project))
    for eid, (text, spans, _) in TEXTS.items():
        page.goto(f"{server.url}/?session=viewer&pass=check:PER&example={eid}")
        expect(page.locator("#card")).to_have_attribute("data-example", eid)
        expect(page.locator("#text .ent")).to_have_text([words for words, _ in spans])
        assert page.locator("#text").text_content() == text  # nothing lost around the spans


def test_selected_words_are_stored_as_exactly_those_words(
    unicode_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(unicode_project)
    server = app_server(config)
    for eid, (text, _, (words, label)) in TEXTS.items():
        open_fix(page, server, "sel", eid)
        page.keyboard.press(str(LABELS.index(label) + 1))
        start, end = at(text, words)
        page.evaluate(SELECT, [units(text, start), units(text, end), False])
        expect(page.locator("#text .ent", has_text=words)).to_have_count(1)
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text(f"saved correct for {eid}")
    with Store(config.parent / "distil.db") as store:
        final = resolve_answers(store.annotations(annotator="sel"))
    for eid, (text, spans, (words, label)) in TEXTS.items():
        got = {(text[s.start : s.end], s.label) for s in final[eid].output.spans}
        assert got == {*spans, (words, label)}, eid


def test_a_mid_word_drag_snaps_to_whole_words_and_alt_keeps_it_exact(
    unicode_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(unicode_project)
    server = app_server(config)
    text = TEXTS["emoji"][0]
    open_fix(page, server, "snap", "emoji")
    page.keyboard.press("4")  # MISC
    start, _ = at(text, "lew t")  # from inside "flew" to inside "to"
    page.evaluate(SELECT, [units(text, start), units(text, start + 5), False])
    expect(page.locator("#text .ent[data-label=MISC]")).to_have_text("flew to")
    start, _ = at(text, "uesda")  # inside "Tuesday", Alt held: exactly what was dragged
    page.evaluate(SELECT, [units(text, start), units(text, start + 5), True])
    expect(page.locator("#text .ent[data-label=MISC]")).to_have_text(["flew to", "uesda"])
    # A drag over the flag (two code points, four code units) snaps to the whole flag.
    flag = text.index("🇫🇷")
    page.evaluate(SELECT, [units(text, flag), units(text, flag) + 2, False])
    expect(page.locator("#text .ent[data-label=MISC]")).to_have_text(["flew to", "🇫🇷", "uesda"])
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("saved correct for emoji")
    with Store(config.parent / "distil.db") as store:
        stored = store.annotations(annotator="snap")[-1]
    got = [(text[s.start : s.end], s.label) for s in stored.output.spans]
    assert got == [("John Smith", "PER"), ("flew to", "MISC"), ("🇫🇷", "MISC"), ("uesda", "MISC")]
