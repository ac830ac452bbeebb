"""Many labels by keyboard only, in a real browser: ranked options on 1-9, a fuzzy search over
all labels (type, arrows, enter), recent labels first among ties, for exclusive and multi-label
fix passes. The projects are real texts (banking77's 77 intents, goemotions' 28 emotions) with
fixed teacher and student predictions, so the expected ranking is known exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from distil import Categories, Example, Prediction, Store
from distil.annotate import resolve_answers
from distil.annotate.session import option_scores


def shown_labels(page: Any) -> list[str]:
    return page.locator("#options .option").evaluate_all("bs => bs.map(b => b.dataset.label)")


def expected_ranking(card: dict[str, Any]) -> list[str]:
    """The app's order for an exclusive fix card whose teacher label was rejected and no label
    was picked before: by the higher of teacher and student score, then the task's order."""
    scores = card["scores"]
    rejected = set(card["suggestion"]["labels"])
    order = {label: i for i, label in enumerate(card["options"])}
    return sorted(
        card["options"],
        key=lambda x: (x in rejected, -scores.get(x, -1.0), order[x]),
    )


def reject(server: Any, session: str, example_id: str, pass_name: str = "check") -> None:
    status, _ = server.api(
        "POST",
        "/api/answer",
        {"session": session, "pass": pass_name, "example_id": example_id, "answer": "reject"},
    )
    assert status == 200


def test_a_label_outside_the_top_nine_by_type_arrow_enter(
    banking_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(banking_project)
    server = app_server(config)
    gold = "declined_cash_withdrawal"  # train-05079; "declined" matches two other labels
    page.goto(server.url + "/?session=fixer&example=train-05079")
    expect(page.locator("#card")).to_have_attribute("data-example", "train-05079")
    page.keyboard.press("x")
    expect(page.locator("#status")).to_have_text("saved reject for train-05079")
    page.keyboard.press("]")  # the next pass with cards: fix
    expect(page.locator("#card")).to_have_attribute("data-pass", "fix")

    state = server.workspace.state("fixer", "fix")  # in process: no lease is looked at
    card = state["card"]
    assert card["example_id"] == "train-05079" and len(card["options"]) == 77
    # The student is surer of its label (0.9) than the teacher of any: the max ranks it first.
    student = card["student"]["labels"][0]
    assert card["scores"][student] == 0.9
    ranking = expected_ranking(card)
    assert ranking[0] == student and ranking.index(gold) >= 9
    assert shown_labels(page) == ranking[:9]
    expect(page.locator("#meta .student")).to_have_text(f"Student says: {student}")

    page.keyboard.type("declined")
    matches = [x for x in ranking if x.startswith("declined")]
    assert shown_labels(page) == matches and matches[-1] == gold
    for _ in range(len(matches) - 1):
        page.keyboard.press("ArrowDown")
    expect(page.locator("#options .option.cursor")).to_have_attribute("data-label", gold)
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("saved correct for train-05079")

    with Store(config.parent / "distil.db") as store:
        final = resolve_answers(store.annotations(annotator="fixer"))
    assert final["train-05079"].answer == "correct"
    assert final["train-05079"].output.labels == [gold]


def test_fuzzy_search_skips_letters_and_recent_labels_come_first_among_ties(
    banking_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(banking_project)
    server = app_server(config)
    rows = [Example.model_validate_json(x) for x in (config.parent / "train.jsonl").open()]
    first = rows[30].id  # an LLM-like teacher: one label, no scores
    reject(server, "r", first)
    page.goto(f"{server.url}/?session=r&pass=fix&example={first}")
    expect(page.locator("#card")).to_have_attribute("data-example", first)
    state = server.workspace.state("r", "fix", first)
    tied = [x for x in state["card"]["options"] if x not in state["card"]["suggestion"]["labels"]]
    assert shown_labels(page) == tied[:9]  # no scores, nothing picked yet: the task's order
    # A subsequence, not a substring: "vrfid" finds the verify_* labels, word starts first.
    page.keyboard.type("vrfid")
    expect(page.locator("#options .option").first).to_have_attribute(
        "data-label", "verify_my_identity"
    )
    assert set(shown_labels(page)) >= {"verify_my_identity", "why_verify_identity"}
    page.keyboard.press("Escape")  # clears the search: the top nine are back
    assert shown_labels(page) == tied[:9]
    page.keyboard.type("twice")  # transaction_charged_twice
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text(f"saved correct for {first}")
    with Store(config.parent / "distil.db") as store:
        final = resolve_answers(store.annotations(annotator="r"))
    assert final[first].output.labels == ["transaction_charged_twice"]


def test_recent_label_ranks_first_on_the_next_tied_card(
    banking_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(banking_project)
    server = app_server(config)
    rows = [Example.model_validate_json(x) for x in (config.parent / "train.jsonl").open()]
    ids = [rows[i].id for i in (32, 33)]
    for eid in ids:
        reject(server, "t", eid)
    page.goto(f"{server.url}/?session=t&pass=fix&example={ids[0]}")
    expect(page.locator("#card")).to_have_attribute("data-example", ids[0])
    page.keyboard.type("pin blo")  # pin_blocked: a space matches the underscore
    expect(page.locator("#options .option").first).to_have_attribute("data-label", "pin_blocked")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text(f"saved correct for {ids[0]}")
    expect(page.locator("#card")).to_have_attribute("data-example", ids[1])
    labels = shown_labels(page)
    assert labels[0] == "pin_blocked"  # every score ties at zero: the recent label leads
    state = server.workspace.state("t", "fix")
    rest = [x for x in state["card"]["options"] if x not in state["card"]["suggestion"]["labels"]]
    assert labels[1:] == [x for x in rest if x != "pin_blocked"][:8]
    page.keyboard.press("1")
    expect(page.locator("#status")).to_have_text(f"saved correct for {ids[1]}")
    with Store(config.parent / "distil.db") as store:
        final = resolve_answers(store.annotations(annotator="t"))
    assert [final[i].output.labels for i in ids] == [["pin_blocked"], ["pin_blocked"]]


GOEMOTIONS = "teacher:test.goemotions#prompt=fixed"


@pytest.fixture(scope="module", params=["card", "per_label"])
def emotions_project(
    request: Any, tmp_path_factory: pytest.TempPathFactory, shared_data: Path, make_project: Any
) -> Path:
    """12 goemotions texts, multi-label over all 28 labels; the teacher says admiration and joy.
    Once with one card per text (``[annotate] multilabel = "card"``), once per label."""
    rows = (shared_data / "goemotions" / "train.jsonl").read_text().splitlines()
    labels = sorted({lab for line in rows for lab in json.loads(line)["labels"]})
    scores = {label: 0.01 * (i % 7) for i, label in enumerate(labels)}
    scores.update({"admiration": 0.8, "joy": 0.7, "remorse": 0.0})
    preds = [
        Prediction(
            example_id=Example.model_validate_json(line).id,
            source=GOEMOTIONS,
            output=Categories(labels=["admiration", "joy"], scores=scores),
            confidence=0.7,
        )
        for line in rows[:12]
    ]
    task = (
        f'[task]\n@tasks = "textcat.v1"\nlabels = {json.dumps(labels)}\nmultilabel = true\n\n'
        f'[annotate]\nmultilabel = "{request.param}"\n'
    )
    return make_project(tmp_path_factory.mktemp("emotions"), "emotions", task, rows[:12], preds)


def test_multi_label_fix_adds_a_label_outside_the_top_nine_by_search(
    emotions_project: Path, fresh_copy: Any, page: Any, app_server: Any
) -> None:
    config = fresh_copy(emotions_project)
    server = app_server(config)
    state = server.workspace.state("m")
    multi = next(p for p in state["passes"] if p["mode"] == "multi")
    eid = state["card"]["example_id"]
    if multi["total"] == 0:  # per-label checks first: a rejection opens the multi-label card
        assert state["card"]["mode"] == "binary"
        reject(server, "m", eid, state["pass"])
    state = server.workspace.state("m", multi["name"], eid)
    card = state["card"]
    assert card["mode"] == "multi" and len(card["options"]) == 28
    ticked = set(card["suggestion"]["labels"])
    ranking = sorted(card["options"], key=lambda x: -card["scores"].get(x, -1.0))
    assert ranking.index("remorse") >= 9 and "remorse" not in ticked

    page.goto(f"{server.url}/?session=m&pass={multi['name']}&example={eid}")
    expect(page.locator("#card")).to_have_attribute("data-example", eid)
    expect(page.locator("#options .option")).to_have_count(9)
    page.keyboard.type("remor")
    expect(page.locator("#options .option")).to_have_count(1)
    page.keyboard.press("Enter")  # ticks remorse and clears the search
    expect(page.locator("#chosen .chip", has_text="remorse")).to_have_count(1)
    expect(page.locator("#options .option")).to_have_count(9)
    page.keyboard.press("Enter")  # no search open: submits
    expect(page.locator("#status")).to_have_text(f"saved correct for {eid}")
    with Store(config.parent / "distil.db") as store:
        stored = store.annotations(annotator="m")[-1]
    assert stored.pass_name == multi["name"]
    assert set(stored.output.labels) == ticked | {"remorse"}


def test_option_scores_take_the_higher_source_and_count_unscored_labels_as_sure() -> None:
    teacher = Categories(labels=["a"], scores={"a": 0.4, "b": 0.3})
    student = Categories(labels=["b"], scores={"b": 0.9, "c": 0.1})
    assert option_scores(teacher, student) == {"a": 0.4, "b": 0.9, "c": 0.1}
    assert option_scores(Categories(labels=["z"]), None) == {"z": 1.0}
