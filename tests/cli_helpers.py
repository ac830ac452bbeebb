"""Helpers for the cross-package tests: run the real `distil` CLI, fake installed plugins.

A module of its own (not conftest) so that `from cli_helpers import ...` cannot pick up another
folder's conftest module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DISTIL = str(Path(sys.executable).with_name("distil"))


def make_dist(root: Path, name: str, module_source: str, ep_name: str | None = None) -> Path:
    """Install a fake distribution `name` with a `distil` entry point into folder `root`.

    It is a real dist-info on a path entry, so importlib.metadata finds it exactly as it finds a
    pip-installed plugin.
    """
    module = name.replace("-", "_")
    (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{module}-0.3.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3.1\n")
    (info / "entry_points.txt").write_text(f"[distil]\n{ep_name or name} = {module}\n")
    return root


def run_distil(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [DISTIL, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout
    )


def flipping_teacher(
    rows: list[dict[str, Any]], flips: set[str]
) -> Callable[[dict[str, Any]], str]:
    """A loopback model for ham/spam rows: finds the message in the prompt and answers its gold
    label (the other one for the ids in ``flips``), as JSON without logprobs."""
    by_length = sorted(rows, key=lambda r: -len(r["text"]))

    def answer(request: dict[str, Any]) -> str:
        prompt = request["messages"][-1]["content"]
        row = next(r for r in by_length if r["text"] in prompt)
        label = row["labels"][0]
        if row["id"] in flips:
            label = "ham" if label == "spam" else "spam"
        return json.dumps({"labels": [label]})

    return answer


def write_llm_config(
    folder: Path,
    url: str,
    rows: list[dict[str, Any]],
    gold: Path,
    *,
    model: str = "no-logprobs-1",
    student: str = "sklearn.textcat.v1",
    data: str = "",
    extra: str = "",
) -> Path:
    """``folder/distil.cfg`` for ham/spam ``rows`` (written to ``folder/train.jsonl``) labelled by
    ``openai.chat.v1`` at ``url`` (key from $LOOPBACK_KEY), 20 rows of ``gold``; ``data`` adds
    ``[data]`` keys, ``extra`` sections after it."""
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = folder / "distil.cfg"
    cfg.write_text(
        f"""
[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "llm.v1"
concurrency = 8

[teacher.provider]
@providers = "openai.chat.v1"
model = "{model}"
base_url = "{url}"
api_key_env = "LOOPBACK_KEY"
max_tokens = 16

[student]
@students = "{student}"

[data]
train = "train.jsonl"
gold = "{gold}"
gold_limit = 20
{data}
{extra}"""
    )
    return cfg
