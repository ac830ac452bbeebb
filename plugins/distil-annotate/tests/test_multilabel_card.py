"""The multi-label card through the app: ``[annotate] multilabel`` (default ``card``) plans one
card per text; its answer is the final label set. Real goemotions texts, 28 labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from distil import Categories, Example, Prediction
from distil_annotate.server import create_app, open_workspace

SOURCE = "teacher:test.emotions#prompt=fixed"


def emotions_project(root: Path, shared_data: Path, annotate: str = "") -> Path:
    """12 goemotions texts; the 'teacher' says admiration and joy for every one."""
    from distil.project import Project

    lines = (shared_data / "goemotions" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    labels = sorted({label for line in lines for label in json.loads(line)["labels"]})
    (root / "train.jsonl").write_text("\n".join(lines[:12]) + "\n", encoding="utf-8")
    dev = (shared_data / "goemotions" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
    (root / "gold.jsonl").write_text("\n".join(dev[:5]) + "\n", encoding="utf-8")
    cfg = root / "distil.cfg"
    cfg.write_text(
        f'[task]\n@tasks = "textcat.v1"\nlabels = {json.dumps(labels)}\nmultilabel = true\n\n'
        '[teacher]\n@teachers = "llm.v1"\n\n[teacher.provider]\n'
        '@providers = "openai.chat.v1"\nmodel = "gpt-4o-mini"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n' + annotate
    )
    scores = {label: 0.05 for label in labels} | {"admiration": 0.8, "joy": 0.6}
    with Project.from_config(cfg) as project:
        project.import_data()
        project.store.add_predictions(
            Prediction(
                example_id=Example.model_validate_json(line).id,
                source=SOURCE,
                output=Categories(labels=["admiration", "joy"], scores=scores),
            )
            for line in lines[:12]
        )
    return cfg


@pytest.fixture
def app(tmp_path: Path, shared_data: Path) -> Any:
    workspace, project = open_workspace(emotions_project(tmp_path, shared_data))
    yield TestClient(create_app(workspace))
    project.close()


def answer(client: TestClient, example_id: str, verdict: str, output: Any = None) -> Any:
    body = {"session": "m", "pass": "labels", "example_id": example_id, "answer": verdict}
    if output is not None:
        body["output"] = output
    return client.post("/api/answer", json=body)


def test_one_multi_card_per_text_answered_with_its_final_label_set(app: TestClient) -> None:
    state = app.get("/api/state?session=m").json()
    assert [(p["name"], p["mode"], p["total"]) for p in state["passes"]] == [
        ("labels", "multi", 12),
        ("review", "review", 0),
    ]
    card = state["card"]
    assert (card["pass"], card["mode"], len(card["options"])) == ("labels", "multi", 28)
    assert card["suggestion"]["labels"] == ["admiration", "joy"]
    first = card["example_id"]

    # Keep admiration, drop joy, add remorse: one answer, the final set.
    reply = answer(app, first, "correct", {"labels": ["admiration", "remorse"]})
    assert reply.status_code == 200
    stored = reply.json()["stored"]
    assert stored["answer"] == "correct" and stored["pass_name"] == "labels"
    assert sorted(stored["output"]["labels"]) == ["admiration", "remorse"]
    second = reply.json()["card"]["example_id"]
    assert second != first
    reply = answer(app, second, "accept")  # the teacher's set, as it is
    kept, third = reply.json()["stored"], reply.json()["card"]["example_id"]
    assert kept["answer"] == "accept" and kept["output"]["labels"] == ["admiration", "joy"]
    as_list = answer(app, third, "correct", ["joy"])  # the set must come as {"labels": [...]}
    assert as_list.status_code == 400 and "'output' must be an object" in as_list.json()["detail"]
    assert answer(app, third, "correct", {"labels": "joy"}).status_code == 400
    progress = app.get("/api/state?session=m").json()["passes"][0]
    assert (progress["done"], progress["remaining"]) == (2, 10)


def test_per_label_passes_stay_an_option_in_the_config(tmp_path: Path, shared_data: Path) -> None:
    cfg = emotions_project(tmp_path, shared_data, '\n[annotate]\nmultilabel = "per_label"\n')
    workspace, project = open_workspace(cfg)
    try:
        names = [p.name for p in workspace.passes]
        assert (
            len(names) == 30
            and names[0] == "check:admiration"
            and names[-2:]
            == [
                "fix",
                "review",
            ]
        )
        state = TestClient(create_app(workspace)).get("/api/state?session=m").json()
        assert state["card"]["mode"] == "binary"
    finally:
        project.close()
