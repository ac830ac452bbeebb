"""The three contrib plugins in one real loop, as a user would combine them.

``distil run`` with the rule teacher (``rules.patterns.v1``) labelling the quickstart SMS data
and the fastText student (``fasttext.textcat.v1``) learning from its labels; then the training
data goes out through ``csv.table.v1`` with its provenance. Nothing here is mocked: the CLI runs
in a subprocess against a real SQLite store, the student is really trained and scored.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import distil
from distil_rules import ABSTAINED

CONFIG = """
[project]
name = "rules-to-fasttext"
store = "out/distil.db"
output = "out"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "rules.patterns.v1"
patterns_path = "patterns.jsonl"

[student]
@students = "fasttext.textcat.v1"

[data]
train = "distil:quickstart/sms_spam/train.jsonl"
gold = "distil:quickstart/sms_spam/test.jsonl"
"""
PATTERNS = [
    {"label": "spam", "pattern": word}
    for word in ("txt", "claim", "prize", "urgent", "mobile", "free", "win", "reply")
] + [
    {"label": "ham", "pattern": word, "confidence": 0.9}
    for word in ("i'll", "lol", "sorry", "home", "love", "ok")
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("together")
    (folder / "distil.cfg").write_text(CONFIG, encoding="utf-8")
    lines = "".join(json.dumps(p) + "\n" for p in PATTERNS)
    (folder / "patterns.jsonl").write_text(lines, encoding="utf-8")
    distil_cli = Path(sys.executable).with_name("distil")
    done = subprocess.run(
        [str(distil_cli), "run", "distil.cfg", "--output", "out"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def test_the_student_learns_only_from_what_the_rules_labelled(project: Path):
    store = distil.Store(project / "out" / "distil.db")
    [teacher_source] = [s for s in store.sources() if s.startswith("teacher:rules/")]
    answers = store.predictions(teacher_source)
    train_ids = {e.id for e in store.examples("train")}
    labelled = [p for i, p in answers.items() if i in train_ids and p.ok]
    abstained = [p for i, p in answers.items() if i in train_ids and not p.ok]
    assert labelled and abstained  # a weak labeller: some of each
    assert {p.error for p in abstained} == {ABSTAINED}
    [run] = [r for r in store.runs() if r["kind"] == "train"]
    assert run["stats"]["n_train"] == len(labelled)
    assert run["stats"]["dropped"] == {"teacher_failed": len(abstained)}
    report = json.loads((project / "out" / "report.json").read_text())
    student = next(s for s in report["sources"] if s["role"] == "student")
    teacher = next(s for s in report["sources"] if s["role"] == "teacher")
    # The rules abstain on most gold texts; the student answers every one, and beats them.
    assert teacher["scores"]["failure_rate"] > 0.5
    assert student["scores"]["failure_rate"] == 0.0
    assert student["scores"]["accuracy"] > teacher["scores"]["accuracy"]


def test_the_training_data_exports_to_csv_with_the_rules_provenance(project: Path, tmp_path):
    exporters = pytest.importorskip("distil_exporters")
    store = distil.Store(project / "out" / "distil.db")
    [teacher_source] = [s for s in store.sources() if s.startswith("teacher:rules/")]
    records = exporters.training_records(store, "train", teacher_source)
    csv = distil.get_host().create("exporters", "csv.table.v1")
    report = csv.export(records, tmp_path / "train.csv")
    back = csv.import_(tmp_path / "train.csv")
    assert report["records"] == len(records) == len(back) > 0
    assert {r.source for r in back} == {teacher_source}
    assert [(r.example.id, r.output.labels) for r in back] == [
        (r.example.id, r.output.labels) for r in records
    ]
    assert all(r.confidence is not None and 0 < r.confidence <= 1 for r in back)
