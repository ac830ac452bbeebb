"""Several annotators done right: cards leased per tab, reviewers named, the review pass kept
from annotators who are part of the conflict. API-level tests run in-process (TestClient over
a real store of banking77 texts); one browser test drives two contexts sharing a session name."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from distil import Categories, Example, Prediction, Store, TextCat
from distil.annotate import Workspace
from distil.annotate.queue import Leases
from distil.annotate.session import ReviewRefused
from distil.errors import ConfigError
from distil_annotate.server import create_app, open_workspace
from distil_annotate.testing import card_id

SOURCE = "teacher:test.banking#prompt=fixed"


def copy_project(config: Path, into: Path) -> Path:
    """A fresh copy of a session-scoped project (its data and store) to answer in."""
    for path in config.parent.iterdir():
        if path.is_file():
            shutil.copy(path, into / path.name)
    return into / config.name


class Clock:
    """A lease clock the test moves by hand (no sleeping, no timing asserts)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def banking_store(shared_data: Path, n: int = 12) -> tuple[Store, TextCat]:
    """``n`` banking77 texts; the 'teacher' gives every text the gold label of the next one."""
    rows = [json.loads(x) for x in (shared_data / "banking77" / "train.jsonl").open()][:n]
    labels = sorted({r["labels"][0] for r in rows})
    store = Store(":memory:")
    store.add_examples([Example(id=r["id"], text=r["text"]) for r in rows], "train")
    store.add_predictions(
        Prediction(
            example_id=r["id"],
            source=SOURCE,
            output=Categories(labels=[rows[(i + 1) % n]["labels"][0]]),
            confidence=0.5 + i / 100,
        )
        for i, r in enumerate(rows)
    )
    return store, TextCat(labels)


def get(client: TestClient, session: str, tab: str | None, **params: str) -> dict[str, Any]:
    headers = {"X-Distil-Client": tab} if tab else {}
    reply = client.get("/api/state", params={"session": session, **params}, headers=headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def post(client: TestClient, tab: str, **body: Any) -> Any:
    return client.post("/api/answer", json=body, headers={"X-Distil-Client": tab})


# -- leases ---------------------------------------------------------------------------------------
def test_two_client_ids_of_one_session_never_get_the_same_card_while_the_lease_holds(
    shared_data: Path,
) -> None:
    store, task = banking_store(shared_data)
    clock = Clock()
    client = TestClient(create_app(Workspace(store, task, leases=Leases(300, clock))))
    a = get(client, "ana", "tab-1")["card"]["example_id"]
    b = get(client, "ana", "tab-2")
    assert b["card"]["example_id"] != a and b["leased_elsewhere"] == 1
    # A reload of either tab shows the card it holds, not the next one.
    assert get(client, "ana", "tab-1")["card"]["example_id"] == a
    assert get(client, "ana", "tab-2")["card"]["example_id"] == b["card"]["example_id"]
    # Another annotator is not held back: each annotator answers every card.
    assert get(client, "bo", "tab-9")["card"]["example_id"] == a

    # tab-1 answers: its lease ends and it gets a third card, never tab-2's.
    reply = post(client, "tab-1", session="ana", example_id=a, answer="accept", **{"pass": "check"})
    assert reply.status_code == 200
    c = reply.json()["card"]["example_id"]
    assert c not in {a, b["card"]["example_id"]}
    # tab-2 goes quiet: after 5 minutes its lease lapses and a third tab may take its card.
    assert get(client, "ana", "tab-3")["card"]["example_id"] not in {a, b["card"]["example_id"], c}
    clock.now += 301
    assert get(client, "ana", "tab-4")["card"]["example_id"] == b["card"]["example_id"]


def test_calls_without_a_client_id_share_one_and_respect_the_tabs_leases(
    shared_data: Path,
) -> None:
    store, task = banking_store(shared_data, 4)
    client = TestClient(create_app(Workspace(store, task)))
    held = get(client, "ana", "tab-1")["card"]["example_id"]
    first = get(client, "ana", None)["card"]["example_id"]
    assert first != held and get(client, "ana", None)["card"]["example_id"] == first


def test_simultaneous_requests_from_eight_tabs_get_eight_different_cards(
    shared_data: Path,
) -> None:
    store, task = banking_store(shared_data, 12)
    ws = Workspace(store, task)
    seen: dict[str, str] = {}
    barrier = threading.Barrier(8)

    def tab(n: int) -> None:
        barrier.wait()
        seen[f"t{n}"] = ws.state("ana", "check", client=f"t{n}")["card"]["example_id"]

    threads = [threading.Thread(target=tab, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen.values())) == 8
    # Four cards are left for four more tabs; a thirteenth tab gets none (all twelve are held).
    rest = [ws.state("ana", "check", client=f"u{n}")["card"] for n in range(5)]
    assert len({c["example_id"] for c in rest[:4]}) == 4 and rest[4] is None
    assert ws.state("ana", "check", client="u4")["leased_elsewhere"] == 12


def test_leases_of_the_whole_session_on_a_card_end_when_any_tab_answers_it(
    shared_data: Path,
) -> None:
    store, task = banking_store(shared_data, 3)
    ws = Workspace(store, task)
    a = ws.state("ana", client="tab-1")["card"]["example_id"]
    ws.answer("ana", "check", a, "reject")  # answered from a script, not from tab-1
    two = ws.state("ana", client="tab-2")
    assert two["card"]["example_id"] != a and two["leased_elsewhere"] == 0  # tab-1's lease ended
    one = ws.state("ana", client="tab-1")
    assert one["card"]["example_id"] not in {a, two["card"]["example_id"]}
    assert one["leased_elsewhere"] == 1
    with pytest.raises(ValueError, match="positive number of seconds"):
        Leases(0)


# -- reviewers ------------------------------------------------------------------------------------
def conflicted(shared_data: Path, reviewers: list[str] | None) -> tuple[Workspace, str, str]:
    """A workspace where ana and bo disagree on two texts (and agree on a third)."""
    store, task = banking_store(shared_data, 5)
    ws = Workspace(store, task, reviewers=reviewers)
    ids = list(ws.examples)
    for who, answers in (("ana", ["accept", "reject", "accept"]), ("bo", ["reject", "accept"])):
        for eid, answer in zip(ids, answers, strict=False):
            ws.answer(who, "check", eid, answer)
    ws.answer("bo", "check", ids[2], "accept")
    return ws, ids[0], ids[1]


def test_only_named_reviewers_see_the_review_pass_and_a_non_reviewer_is_refused_403(
    shared_data: Path,
) -> None:
    ws, first, second = conflicted(shared_data, reviewers=["rui"])
    client = TestClient(create_app(ws))
    for who in ("cy", "ana"):
        state = get(client, who, "t")
        assert "review" not in [p["name"] for p in state["passes"]]
        reply = post(
            client, "t", session=who, example_id=first, answer="reject", **{"pass": "review"}
        )
        assert reply.status_code == 403
        assert f"session '{who}' is not a reviewer" in reply.json()["detail"]
        assert "rui" in reply.json()["detail"]
    rui = get(client, "rui", "t", **{"pass": "review"})
    assert rui["pass"] == "review" and rui["card"]["example_id"] in {first, second}
    review = next(p for p in rui["passes"] if p["name"] == "review")
    assert (review["total"], review["done"]) == (2, 0)
    ok = post(client, "t", session="rui", example_id=first, answer="reject", **{"pass": "review"})
    assert ok.status_code == 200 and ok.json()["stored"]["annotator"] == "rui"
    assert [a.annotator for a in ws.events if a.pass_name == "review"] == ["rui"]


def test_a_reviewer_who_is_part_of_a_conflict_is_not_sent_to_review_it(
    shared_data: Path,
) -> None:
    ws, first, second = conflicted(shared_data, reviewers=["ana", "rui"])
    state = ws.state("ana", "review")
    review = next(p for p in state["passes"] if p["name"] == "review")
    assert review["total"] == 0 and state["pass"] != "review"
    with pytest.raises(ReviewRefused, match=f"answered example '{first}' itself"):
        ws.answer("ana", "review", first, "accept")
    # With no reviewers named anyone may review, but still not their own conflicts.
    open_ws, first, _ = conflicted(shared_data, reviewers=None)
    assert open_ws.state("cy", "review")["card"]["example_id"] in {first, second}
    with pytest.raises(ReviewRefused, match="answered example"):
        open_ws.answer("bo", "review", first, "accept")
    assert not [a for a in open_ws.events if a.pass_name == "review"]


def test_reviewers_come_from_the_config_and_the_command_line(
    banking_project: Path, tmp_path: Path
) -> None:
    config = copy_project(banking_project, tmp_path)
    config.write_text(config.read_text() + '\n[annotate]\nreviewers = ["ana", " rui "]\n')
    workspace, project = open_workspace(config, reviewers=["zoë", "ana"])
    try:
        assert workspace.reviewers == {"ana", "rui", "zoë"}
    finally:
        project.close()
    with pytest.raises(ConfigError, match=r"reviewer 'a\\x07b': session names may not hold"):
        open_workspace(config, reviewers=["a\x07b"])


# -- two browser contexts -------------------------------------------------------------------------
def test_two_browser_contexts_with_one_session_name_never_show_the_same_card(
    banking_project: Path, tmp_path: Path, browser: Any, app_server: Any
) -> None:
    config = copy_project(banking_project, tmp_path)
    server = app_server(config)
    contexts = [browser.new_context(viewport={"width": 1000, "height": 640}) for _ in range(2)]
    try:
        one, two = (c.new_page() for c in contexts)
        for page in (one, two):
            page.set_default_timeout(10_000)
        one.goto(server.url + "/?session=shared")
        a = card_id(one)
        two.goto(server.url + "/?session=shared")
        b = card_id(two)
        assert b != a
        one.keyboard.press("a")
        expect(one.locator("#status")).to_have_text(f"saved accept for {a}")
        expect(one.locator("#card")).not_to_have_attribute("data-example", a)
        c = card_id(one)
        assert c not in {a, b}
        two.reload()  # the tab keeps its id (and its card) across a reload
        assert card_id(two) == b
        two.keyboard.press("x")
        expect(two.locator("#status")).to_have_text(f"saved reject for {b}")
        expect(two.locator("#card")).not_to_have_attribute("data-example", b)
        assert card_id(two) not in {a, b, c}
    finally:
        for context in contexts:
            context.close()
    with Store(config.parent / "distil.db") as store:
        answers = [(x.example_id, x.answer) for x in store.annotations(annotator="shared")]
    assert answers == [(a, "accept"), (b, "reject")]
