"""The whole loop through the CLI, as a user runs it: real data, SQLite, model, training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli_helpers import REPO, run_distil


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`distil run` on the quickstart config, with its store and output in a temp folder."""
    out = tmp_path_factory.mktemp("quickstart")
    cfg = out / "distil.cfg"
    text = (REPO / "templates" / "quickstart" / "distil.cfg").read_text()
    cfg.write_text(
        text.replace('"../../quickstart-output/distil.db"', '"distil.db"').replace(
            '"../../quickstart-output"', '"output"'
        )
    )
    result = run_distil("run", str(cfg), "--output", str(out / "report"))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_quickstart_prints_the_teacher_vs_student_table(quickstart: tuple[Path, str]) -> None:
    _, stdout = quickstart
    assert "labelled 280 of 280 'train' examples" in stdout
    assert "trained student:sklearn.textcat#run=" in stdout
    for row in ("accuracy", "macro-F1", "spam F1", "parse-failure rate", "docs/s", "model size"):
        assert row in stdout
    assert "local.minilm/all-MiniLM-L6-v2" in stdout and "sklearn.textcat" in stdout


def test_quickstart_report_json_scores_both_roles_on_gold(quickstart: tuple[Path, str]) -> None:
    out, _ = quickstart
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["gold"]["n"] == 180
    roles = {s["role"]: s for s in report["sources"]}
    assert set(roles) == {"teacher", "student"}
    teacher, student = roles["teacher"], roles["student"]
    assert teacher["source"].startswith("teacher:local.minilm/all-MiniLM-L6-v2#prompt=")
    assert student["source"].startswith("student:sklearn.textcat#run=")
    for source in (teacher, student):
        scores = source["scores"]
        assert 0.5 < scores["accuracy"] <= 1.0
        low, high = scores["ci"]["macro_f1"]
        assert low <= scores["macro_f1"] <= high
        assert source["utility"]["docs"] == 180
        assert source["utility"]["docs_per_s"] > 0
    assert student["utility"]["model_size_bytes"] > 10_000
    assert student["utility"]["docs_per_s"] > 10 * teacher["utility"]["docs_per_s"]
    md = (out / "report" / "report.md").read_text()
    assert "| teacher" in md.replace("|  teacher", "| teacher") or "teacher" in md
    assert f"{student['scores']['accuracy']:.3f}" in md


def test_run_again_asks_the_teacher_nothing(quickstart: tuple[Path, str]) -> None:
    out, _ = quickstart
    result = run_distil("label", str(out / "distil.cfg"))
    assert result.returncode == 0, result.stderr
    assert "labelled 0 of 280 'train' examples (280 already done)" in result.stdout


def test_human_corrections_take_precedence_in_training(
    quickstart: tuple[Path, str], shared_data: Path
) -> None:
    out, _ = quickstart
    sample = REPO / "core" / "src" / "distil" / "data" / "quickstart" / "sms_spam" / "train.jsonl"
    rows = [json.loads(line) for line in sample.read_text().splitlines()][:50]
    answers = out / "answers.jsonl"
    answers.write_text(
        "".join(json.dumps({"id": r["id"], "labels": r["labels"]}) + "\n" for r in rows)
        + json.dumps({"id": "not-in-store", "labels": ["spam"]})
        + "\n"
        + json.dumps({"id": rows[0]["id"], "labels": ["eggs"]})
        + "\n"
    )
    imported = run_distil("import", str(out / "distil.cfg"), str(answers), "--annotator", "ann")
    assert imported.returncode == 0, imported.stderr
    assert "stored 50 answer(s)" in imported.stdout
    assert "not in the task's labels" in imported.stdout  # the bad row is reported, not stored
    assert "1 answer(s) for ids not in the store" in imported.stdout
    trained = run_distil("train", str(out / "distil.cfg"))
    assert trained.returncode == 0, trained.stderr
    assert "on 280 examples (50 human, 230 teacher" in trained.stdout
    evaluated = run_distil("evaluate", str(out / "distil.cfg"), "--output", str(out / "after"))
    assert evaluated.returncode == 0, evaluated.stderr
    md = (out / "after" / "report.md").read_text()
    assert "trained on 280 labels: 230 from the teacher, 50 from humans (correct 50)" in md


def test_malformed_jsonl_line_is_named_and_the_rest_loads(
    tmp_path: Path, shared_data: Path
) -> None:
    rows = (shared_data / "sms_spam" / "test.jsonl").read_text().splitlines()[:6]
    rows[2] = '{"id": "broken", "text": '  # line 3 is cut short
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(rows) + "\n")
    shutil.copy(shared_data / "sms_spam" / "dev.jsonl", tmp_path / "gold.jsonl")
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n'
        '[teacher]\n@teachers = "local.zeroshot.v1"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n'
    )
    result = run_distil("label", str(cfg))
    assert result.returncode == 0, result.stderr
    assert f"{train}:3:" in result.stderr
    assert "labelled 5 of 5 'train' examples" in result.stdout
    quarantined = list((tmp_path / "quarantine").glob("*.jsonl"))
    assert len(quarantined) == 1
    record = json.loads(quarantined[0].read_text().splitlines()[0])
    assert record["line"] == 3 and record["raw"].startswith('{"id": "broken"')


def test_evaluate_before_training_scores_the_teacher_alone(
    tmp_path: Path, shared_data: Path
) -> None:
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n'
        '[teacher]\n@teachers = "local.zeroshot.v1"\n\n'
        '[student]\n@students = "sklearn.textcat.v1"\n\n'
        f'[data]\ntrain = "{shared_data}/sms_spam/train.jsonl"\n'
        f'gold = "{shared_data}/sms_spam/dev.jsonl"\ngold_limit = 40\n'
    )
    result = run_distil("evaluate", str(cfg), "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [s["role"] for s in report["sources"]] == ["teacher"]
    assert report["gold"]["n"] == 40
    assert report["sources"][0]["utility"]["docs"] == 40


def test_learning_curve_command_writes_table_signal_and_plot(quickstart: tuple[Path, str]) -> None:
    out, _ = quickstart
    result = run_distil(
        "curve",
        str(out / "distil.cfg"),
        "--output",
        str(out / "curve"),
        "--fractions",
        "0.25,0.5,1",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((out / "curve" / "learning_curve.json").read_text())
    assert [row["fraction"] for row in data["rows"]] == [0.25, 0.5, 1.0]
    assert [row["n_train"] for row in data["rows"]] == [70, 140, 280]
    assert data["signal"] in result.stdout
    assert (
        ("pays off" in data["signal"])
        or ("flattened" in data["signal"])
        or ("fell" in data["signal"])
    )
    png = (out / "curve" / "learning_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
