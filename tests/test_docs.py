"""The docs that are generated from the code must match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pluggy

from distil import hookspecs

REPO = Path(__file__).resolve().parents[1]


def test_hook_reference_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_hook_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_hookspec_is_documented_with_its_signature() -> None:
    doc = (REPO / "docs" / "hooks.md").read_text()
    pm = pluggy.PluginManager("distil")
    pm.add_hookspecs(hookspecs)
    names = [n for n in dir(pm.hook) if n.startswith(("register_", "distil_"))]
    assert len(names) >= 12
    for name in names:
        assert f"## `{name}`" in doc
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"{name} has no docstring"
