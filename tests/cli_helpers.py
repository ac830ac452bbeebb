"""Helpers for the cross-package tests: run the real `distil` CLI, fake installed plugins.

A module of its own (not conftest) so that `from cli_helpers import ...` cannot pick up another
folder's conftest module."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
