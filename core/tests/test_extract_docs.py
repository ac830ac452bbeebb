"""docs/extract.md §1 as a user meets it: the schema block saved as ``myproject/schemas.py``, the
config block saved as ``distil.cfg`` beside it, both exactly as the page has them, and
``distil plan distil.cfg`` run from another folder without ``PYTHONPATH``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from distil.config import load_config, strip_inline_comments
from distil.plugins import get_host
from distil.testing import run_cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "extract.md"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)


def section_blocks(title: str) -> dict[str, str]:
    """The first block of each language in the section of docs/extract.md titled ``title``."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    found: dict[str, str] = {}
    for lang, body in FENCE.findall(section):
        found.setdefault(lang, body)
    return found


def test_the_docs_config_block_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = section_blocks("1. Name your schema")
    needed = {"teachers": "llm.v1", "providers": "openai.chat.v1", "students": "spacy.ner.v1"}
    host = get_host()
    for kind, name in needed.items():
        if name not in host.names(kind):
            pytest.skip(f"{name} is not installed: the block names it")
    (tmp_path / "myproject").mkdir()
    (tmp_path / "myproject" / "schemas.py").write_text(blocks["python"], encoding="utf-8")
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(blocks["ini"], encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    monkeypatch.delenv("PYTHONPATH", raising=False)
    for name in [m for m in sys.modules if m == "myproject" or m.startswith("myproject.")]:
        monkeypatch.delitem(sys.modules, name)
    try:
        code, out, err = run_cli(monkeypatch, capsys, "plan", str(cfg))
        assert code == 0, err
        rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
        assert "stays with the teacher" in rows["address.city"]
        assert "number.v1" in rows["quantity"] and "span" in rows["quantity"]
        assert "stays with the teacher" in rows["note"]
        loaded = load_config(cfg)
        assert loaded.task.schema.__module__ == "myproject.schemas"  # type: ignore[attr-defined]
        assert loaded.raw["task"]["schema"] == "myproject.schemas:Order"  # no comment in it
        assert loaded.raw["data"]["gold"] == "data/gold.jsonl"
    finally:
        for name in [m for m in sys.modules if m == "myproject" or m.startswith("myproject.")]:
            del sys.modules[name]


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ('schema = "a.b:C"      # "package.module:Model"', 'schema = "a.b:C"'),
        ('url = "http://host/#frag"  # a link', 'url = "http://host/#frag"'),
        ("[task.fields]      # optional", "[task.fields]"),
        ("# a whole-line comment", "# a whole-line comment"),
        ('label = "C#"', 'label = "C#"'),
        ("n = 3#no space before it", "n = 3#no space before it"),
    ],
)
def test_inline_comments_end_the_value_outside_quotes(line: str, kept: str) -> None:
    assert strip_inline_comments(line) == kept
