"""`distil init --teacher openai --base-url URL --model NAME` writes a config that labels as written
(issue 18): the real CLI, in a subprocess, against the loopback server, with no key set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from distil.testing import load_split
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai

DISTIL = str(Path(sys.executable).with_name("distil"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "OPENAI_BASE_URL"}}
    return subprocess.run(
        [DISTIL, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_init_then_label_against_a_local_server(tmp_path: Path, shared_data: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for split, name in (("train", "train.jsonl"), ("test", "test.jsonl")):
        rows = [e.model_dump(exclude_none=True) for e in load_split("sms_spam", split, limit=6)]
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def answer(request: dict[str, object]) -> str:
        return '{"labels": ["ham"]}'

    with LoopbackLLM(answer=answer) as server:
        install_openai(server)
        url = server.url + "/v1"
        made = run(
            "init", "distil.cfg", "--teacher", "openai", "--base-url", url,
            "--model", "qwen2.5-7b-instruct", "--student", "sklearn", cwd=tmp_path,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        config = (tmp_path / "distil.cfg").read_text(encoding="utf-8")
        assert f'base_url = "{url}"' in config and 'model = "qwen2.5-7b-instruct"' in config
        labelled = run("label", "distil.cfg", cwd=tmp_path)
        bodies = [r.json() for r in server.requests if r.path == "/v1/chat/completions"]
    assert labelled.returncode == 0, labelled.stdout + labelled.stderr
    assert "labelled 6 of 6 'train' examples" in labelled.stdout
    assert "0 parse failure(s)" in labelled.stdout
    assert len(bodies) == 6 and {b["model"] for b in bodies} == {"qwen2.5-7b-instruct"}
    assert all(b["max_tokens"] == 512 for b in bodies)  # a compatible server reads max_tokens
