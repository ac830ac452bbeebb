"""`distil label` killed with SIGKILL mid-run resumes and labels every example exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from cli_helpers import DISTIL, run_distil

CONFIG = """
[project]
store = "distil.db"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "local.zeroshot.v1"
batch_size = 16

[data]
train = "{train}"
gold = "{gold}"
"""


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the table is not created yet


def test_sigkill_mid_run_then_resume_labels_each_example_once(
    tmp_path: Path, shared_data: Path
) -> None:
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        CONFIG.format(
            train=shared_data / "sms_spam" / "train.jsonl",
            gold=shared_data / "sms_spam" / "test.jsonl",
        )
    )
    db = tmp_path / "distil.db"
    proc = subprocess.Popen(
        [DISTIL, "label", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ},
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while _count(db) < 300 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _count(db)
    assert 300 <= killed_at < 2658

    with sqlite3.connect(db) as con:
        before = dict(con.execute("SELECT example_id, created_at FROM predictions"))

    result = run_distil("label", str(cfg))
    assert result.returncode == 0, result.stderr
    assert f"({killed_at} already done)" in result.stdout.replace("\n", " ")

    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT example_id, created_at FROM predictions").fetchall()
        cache_entries = con.execute("SELECT COUNT(*) FROM cache").fetchone()[0]
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) == 2658  # every example once
    after = dict(rows)
    # answers given before the kill were not asked or written again
    assert all(after[i] == t for i, t in before.items())
    # the cache holds one entry per example: nothing was asked twice
    assert cache_entries == 2658
    # a third run asks nothing
    again = run_distil("label", str(cfg))
    assert "labelled 0 of 2658" in again.stdout.replace("\n", " ")
