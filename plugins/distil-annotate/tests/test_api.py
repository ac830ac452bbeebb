"""The HTTP API in-process (no browser): token checks, validation, security headers, import cost."""

from __future__ import annotations

import subprocess
import sys

from fastapi.testclient import TestClient

from distil import Categories, Example, Prediction, Store, TextCat
from distil.annotate import Workspace
from distil_annotate.server import create_app


def _client(token: str | None = None) -> TestClient:
    store = Store(":memory:")
    store.add_examples([Example(id="e1", text="hello"), Example(id="e2", text="win cash")], "train")
    store.add_predictions(
        Prediction(example_id=i, source="teacher:t#prompt=1", output=Categories(labels=["ham"]))
        for i in ("e1", "e2")
    )
    return TestClient(create_app(Workspace(store, TextCat(["ham", "spam"])), token=token))


def test_an_explicit_token_is_required_on_every_api_call() -> None:
    client = _client(token="s3cret")
    assert client.get("/api/state").status_code == 401
    assert client.get("/api/summary", headers={"X-Distil-Token": "nope"}).status_code == 401
    assert client.post("/api/answer", json={}).status_code == 401
    assert client.get("/api/state", headers={"X-Distil-Token": "s3cret"}).status_code == 200
    assert client.get("/api/state", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    page = client.get("/")  # the page holds no data
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_bad_answers_are_refused_and_nothing_is_stored() -> None:
    client = _client()
    body = {"session": "a", "pass": "check", "example_id": "e1"}
    assert client.post("/api/answer", json={**body, "answer": "maybe"}).status_code == 400
    assert (
        client.post("/api/answer", json={**body, "pass": "nope", "answer": "accept"}).status_code
        == 400
    )
    assert (
        client.post(
            "/api/answer", json={**body, "example_id": "zz", "answer": "accept"}
        ).status_code
        == 400
    )
    assert client.get("/api/summary").json()["events"] == 0
    reply = client.post("/api/answer", json={**body, "answer": "accept"}).json()
    assert reply["stored"]["answer"] == "accept" and reply["card"]["example_id"] == "e2"


def test_the_plugin_module_does_not_import_fastapi() -> None:
    code = "import sys, distil_annotate.plugin; print('fastapi' in sys.modules, 'uvicorn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
