"""Run the ``distil`` command in-process, the way a test wants it: exit code, stdout, stderr.

In-process is what makes a CLI test cheap (no interpreter start, no plugin scan per call); it
goes through :func:`distil.cli.main`, so exit codes and printed errors are those of the real
command::

    from distil.testing import run_cli

    def test_version(monkeypatch, capsys):
        code, out, err = run_cli(monkeypatch, capsys, "--version")
        assert code == 0 and out.startswith("distil ")
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["run_cli"]


def run_cli(monkeypatch: Any, capsys: Any, *args: str) -> tuple[int, str, str]:
    """``distil ARGS…`` with pytest's ``monkeypatch`` and ``capsys``: (exit code, out, err)."""
    from ..cli import main

    monkeypatch.setattr(sys, "argv", ["distil", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
