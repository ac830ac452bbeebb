"""Safety of the HTTP layer: the Host check on loopback (DNS rebinding), the body limit, and
bad input of every kind answered with a 4xx and a sentence, never a 500 and never stored."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from distil import Categories, Example, Prediction, Store, TextCat
from distil.annotate import Workspace
from distil.errors import ConfigError
from distil_annotate.server import create_app
from distil_annotate.testing import Server

SOURCE = "teacher:test.sms#prompt=fixed"


def sms_workspace(shared_data: Path, n: int = 6) -> Workspace:
    """``n`` real SMS texts (one with emoji added) with their gold labels as the teacher's."""
    rows = [json.loads(x) for x in (shared_data / "sms_spam" / "train.jsonl").open()][:n]
    rows[0]["text"] = "😀 " + rows[0]["text"]
    store = Store(":memory:")
    store.add_examples([Example(id=r["id"], text=r["text"]) for r in rows], "train")
    store.add_predictions(
        Prediction(example_id=r["id"], source=SOURCE, output=Categories(labels=r["labels"]))
        for r in rows
    )
    return Workspace(store, TextCat(["ham", "spam"]))


@pytest.fixture
def ws(shared_data: Path) -> Workspace:
    return sms_workspace(shared_data)


# -- the Host header ------------------------------------------------------------------------------
def test_on_a_loopback_bind_only_this_server_s_own_host_names_are_served(ws: Workspace) -> None:
    app = create_app(ws, bind=("127.0.0.1", 8765))
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    assert client.get("/api/state").status_code == 200
    for host in ("localhost:8765", "[::1]:8765", "LOCALHOST:8765"):
        assert client.get("/api/state", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example:8765", "127.0.0.1:9999", "127.0.0.1", "evil.example", ""):
        reply = client.get("/api/state", headers={"Host": host})
        assert reply.status_code == 403, host
        assert "DNS rebinding" in reply.json()["detail"]
        assert reply.headers["content-security-policy"].startswith("default-src 'none'")
    assert client.get("/", headers={"Host": "evil.example:8765"}).status_code == 403
    # Off loopback the token guards the API instead; the Host header is not checked.
    off = TestClient(create_app(ws, token="t", bind=("0.0.0.0", 8765)))
    assert off.get("/api/state", headers={"X-Distil-Token": "t"}).status_code == 200


# -- the body limit -------------------------------------------------------------------------------
def test_a_body_over_the_limit_gets_413_and_nothing_is_stored(ws: Workspace) -> None:
    client = TestClient(create_app(ws, max_body_bytes=4096))
    eid = next(iter(ws.examples))
    body = {"session": "a", "pass": "check", "example_id": eid, "answer": "accept"}
    padded = json.dumps({**body, "pad": "😀" * 2000}).encode()  # 8 kB of emoji
    reply = client.post("/api/answer", content=padded, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert "larger than 4096 bytes" in reply.json()["detail"]

    def chunks() -> Any:  # no Content-Length: the limit is counted as the body streams in
        yield json.dumps(body)[:-1].encode()
        for _ in range(10):
            yield b" " * 1000
        yield b"}"

    assert client.post("/api/answer", content=chunks()).status_code == 413
    assert client.get("/api/summary").json()["events"] == 0
    assert client.post("/api/answer", json=body).status_code == 200  # under the limit: stored
    with pytest.raises(ConfigError, match="--session"):
        create_app(ws, session="tab\tname")


# -- bad input ------------------------------------------------------------------------------------
BAD_BODIES: list[Any] = [
    b"{",
    b"[1, 2]",
    b"null",
    b'"accept"',
    b"17",
    b"\xff\xfe{",
    b"[" * 100_000 + b"]" * 100_000,
]
BAD_FIELDS: list[dict[str, Any]] = [
    {"session": 5},
    {"session": ["a"]},
    {"session": {"name": "a"}},
    {"session": "x" * 65},
    {"session": "   "},
    {"session": "null\x00byte"},
    {"session": "line\nbreak"},
    {"session": "\u202eevil"},
    {"pass": 7},
    {"pass": None},
    {"pass": ["check"]},
    {"pass": "nope"},
    {"pass": "c" * 100_000},
    {"example_id": 123},
    {"example_id": None},
    {"example_id": {"id": 1}},
    {"example_id": "not-in-the-data"},
    {"example_id": "é" * 200_000},
    {"answer": 1},
    {"answer": None},
    {"answer": "maybe"},
    {"answer": ["accept"]},
    {"answer": "correct", "output": "spam"},
    {"answer": "correct", "output": 5},
    {"answer": "correct", "output": ["spam"]},
    {"answer": "correct", "output": {"labels": "spam"}},
    {"answer": "correct", "output": {"labels": [1]}},
    {"answer": "correct", "output": {"labels": ["eggs"]}},
    {"answer": "correct", "output": {"spans": 5}},
    {"answer": "correct", "output": {"spans": [{"start": "a", "end": 2, "label": "x"}]}},
    {"answer": "correct", "output": {"labels": ["ham", "spam"]}},
    {"pass": "fix", "answer": "correct"},
    {"pass": "review", "answer": "correct", "output": {"labels": ["ham"]}},
    {"client": 5},
    {"client": "c" * 500},
]


def test_fuzzed_requests_get_a_4xx_with_a_message_and_store_nothing(ws: Workspace) -> None:
    client = TestClient(create_app(ws), raise_server_exceptions=False)
    eid = next(iter(ws.examples))
    good = {"session": "fuzz", "pass": "check", "example_id": eid, "answer": "accept"}
    replies = []
    for raw in BAD_BODIES:
        for path in ("/api/answer", "/api/undo"):
            replies.append((path, raw[:20], client.post(path, content=raw)))
    for change in BAD_FIELDS:
        replies.append(("answer", change, client.post("/api/answer", json={**good, **change})))
    undo_bad = [c for c in BAD_FIELDS if set(c) <= {"session", "client"}]
    undo_bad += [{"pass": 7}, {"pass": ["check"]}, {"pass": "nope"}, {"pass": "c" * 100_000}]
    for change in undo_bad:
        replies.append(("undo", change, client.post("/api/undo", json={**good, **change})))
    for query in (
        "session=%00",
        "session=" + "x" * 65,
        "session=%E2%80%AEevil",
        "pass=nope",
        "pass=" + "p" * 5000,
        "example=" + "e" * 5000,
    ):
        replies.append(("state", query, client.get("/api/state?" + query)))
    replies.append(("client", "", client.get("/api/state", headers={"X-Distil-Client": "c" * 129})))
    for where, what, reply in replies:
        assert 400 <= reply.status_code < 500, (where, what, reply.status_code, reply.text[:200])
        detail = reply.json()["detail"]
        assert isinstance(detail, str) and 0 < len(detail) <= 400, (where, what, detail[:80])
    assert client.get("/api/summary").json()["events"] == 0
    ok = client.post("/api/answer", json={**good, "session": "  fuzz  "})
    assert ok.status_code == 200 and ok.json()["stored"]["annotator"] == "fuzz"
    emoji = client.post("/api/answer", json={**good, "session": "ana 😀 \u00e9"})
    assert emoji.status_code == 200 and emoji.json()["session"] == "ana 😀 é"


# -- the installed command on its default bind ----------------------------------------------------
def raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send ``head`` (request line and headers) and ``body`` as they are; the status and JSON."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_part, _, payload = data.partition(b"\r\n\r\n")
    return int(head_part.split()[1]), json.loads(payload or b"{}")


def test_the_default_bind_refuses_a_foreign_host_and_a_50_mb_body(
    banking_project: Path, tmp_path: Path
) -> None:
    for path in banking_project.parent.iterdir():
        if path.is_file():
            shutil.copy(path, tmp_path / path.name)
    server = Server(tmp_path / banking_project.name).start()
    port = server.port
    try:
        status, reply = raw_request(
            port, f"GET /api/state HTTP/1.1\nHost: rebound.example:{port}\nConnection: close\n"
        )
        assert status == 403 and "rebound.example" in reply["detail"]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            status, reply = raw_request(
                port, f"GET /api/state?session=s HTTP/1.1\nHost: {host}\nConnection: close\n"
            )
            assert status == 200 and reply["session"] == "s"
        # 50 MB announced, a few bytes sent: refused before the rest is read.
        status, reply = raw_request(
            port,
            f"POST /api/answer HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\n"
            "Content-Length: 50000000\nConnection: close\n",
            b'{"session": "s", "pad": "',
        )
        assert status == 413 and "larger than 1000000 bytes" in reply["detail"]
        body = b'{"session": 5}'
        status, reply = raw_request(
            port,
            f"POST /api/answer HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\n"
            f"Content-Length: {len(body)}\nConnection: close\n",
            body,
        )
        assert status == 400 and reply["detail"] == "a session name is a string, not int"
    finally:
        server.stop()
