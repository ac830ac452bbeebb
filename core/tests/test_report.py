"""The evaluation report (JSON, Markdown, rich table) and the utility measurements behind it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import distil
from distil import Categories, Example, TextCat
from distil.evaluate.metrics import paired_bootstrap, score_categories
from distil.evaluate.report import (
    SourceResult,
    build_report,
    render_markdown,
    rich_table,
    write_report,
)
from distil.evaluate.utility import Utility, count_words, dir_size, measure


def read_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def ci_text(scores: dict[str, Any], metric: str) -> str:
    low, high = scores["ci"][metric]
    return f"{scores[metric]:.3f} [{low:.3f}, {high:.3f}]"


@pytest.fixture(scope="module")
def spam_report(shared_data: Path) -> dict[str, Any]:
    """sms_spam gold; a teacher that is wrong on every 9th text, a student wrong on every 4th."""
    rows = read_rows(shared_data / "sms_spam" / "test.jsonl")
    task = TextCat(["ham", "spam"])
    gold = [Categories(labels=r["labels"]) for r in rows]

    def flip(every: int) -> list[Categories | None]:
        out: list[Categories | None] = []
        for i, g in enumerate(gold):
            if i % every == 0:
                out.append(Categories(labels=["spam" if g.labels == ["ham"] else "ham"]))
            else:
                out.append(g)
        return out

    teacher_pred = flip(9)
    teacher_pred[1] = None  # one parse failure
    student_pred = flip(4)
    words = count_words(r["text"] for r in rows)
    teacher = SourceResult(
        source="teacher:openai/gpt-4o-mini#prompt=3f2a9c1e",
        role="teacher",
        name="gpt-4o-mini",
        scores=task.score(gold, teacher_pred),
        utility=Utility.from_timings(docs=1000, words=words, seconds=200.0, cost=0.5).to_dict(),
    )
    student = SourceResult(
        source="student:sklearn.textcat#run=abc123",
        role="student",
        name="sklearn",
        scores=task.score(gold, student_pred),
        utility=Utility.from_timings(
            docs=1000, words=words, seconds=0.5, model_size_bytes=12_345_678
        ).to_dict(),
        extra={"agreement": 0.875},
    )
    comparison = paired_bootstrap(task, gold, student_pred, teacher_pred)
    comparison |= {"a": "sklearn", "b": "gpt-4o-mini"}
    return build_report(
        task,
        [teacher, student],
        gold_name="sms_spam/test",
        n_gold=len(gold),
        comparisons=[comparison],
        meta={"command": "distil evaluate distil.cfg"},
    )


def test_report_json_has_each_source_with_role_scores_ci_and_utility(
    spam_report: dict[str, Any],
) -> None:
    report = json.loads(json.dumps(spam_report))  # JSON-able, and unchanged by the round trip

    assert report == spam_report
    assert report["task"] == {**TextCat(["ham", "spam"]).describe()}
    assert report["gold"] == {"name": "sms_spam/test", "n": 1000}
    assert [(s["name"], s["role"]) for s in report["sources"]] == [
        ("gpt-4o-mini", "teacher"),
        ("sklearn", "student"),
    ]
    teacher, student = report["sources"]
    assert teacher["source"] == "teacher:openai/gpt-4o-mini#prompt=3f2a9c1e"
    assert set(teacher["scores"]["ci"]) == {"accuracy", "micro_f1", "macro_f1", "positive_f1"}
    assert teacher["scores"]["failure_rate"] == 0.001
    assert teacher["utility"]["docs_per_s"] == 5.0
    assert teacher["utility"]["cost_per_1m_docs"] == 500.0
    assert student["utility"]["docs_per_s"] == 2000.0
    assert student["utility"]["model_size_bytes"] == 12_345_678
    assert student["extra"] == {"agreement": 0.875}
    comparison = report["comparisons"][0]
    assert (comparison["a"], comparison["b"], comparison["metric"]) == (
        "sklearn",
        "gpt-4o-mini",
        "macro_f1",
    )
    assert comparison["delta"] == pytest.approx(
        student["scores"]["macro_f1"] - teacher["scores"]["macro_f1"]
    )
    assert report["meta"]["command"] == "distil evaluate distil.cfg"
    assert report["meta"]["distil_version"] == distil.__version__
    assert report["meta"]["created_at"].endswith("+00:00")


def test_markdown_puts_the_sources_side_by_side_with_their_numbers(
    spam_report: dict[str, Any],
) -> None:
    md = render_markdown(spam_report)
    teacher, student = (s["scores"] for s in spam_report["sources"])

    assert md.startswith("# distil evaluation: textcat on sms_spam/test\n")
    assert "Gold set: **sms_spam/test**, 1000 examples." in md
    assert "|  | gpt-4o-mini | sklearn |" in md
    assert "| role | teacher | student |" in md
    for label, metric in [
        ("accuracy", "accuracy"),
        ("macro-F1", "macro_f1"),
        ("spam F1", "positive_f1"),
    ]:
        assert f"| {label} | {ci_text(teacher, metric)} | {ci_text(student, metric)} |" in md
    assert f"| micro-F1 | {ci_text(teacher, 'micro_f1')} |" in md
    assert "| parse-failure rate | 0.001 | 0.000 |" in md
    assert "| docs/s | 5.0 | 2,000.0 |" in md
    assert "| model size (MB) | — | 12.3 |" in md
    assert "| cost per 1M docs | 500.00 | — |" in md
    assert "| agreement | — | 0.875 |" in md
    # The per-label table: label × source F1, with gold support.
    spam_support = teacher["per_label"]["spam"]["support"]
    assert (
        f"| spam | {spam_support} | {teacher['per_label']['spam']['f1']:.3f} "
        f"| {student['per_label']['spam']['f1']:.3f} |"
    ) in md
    assert "- sklearn: `student:sklearn.textcat#run=abc123`" in md


def test_findings_say_plainly_that_the_student_is_faster_but_worse(
    spam_report: dict[str, Any],
) -> None:
    md = render_markdown(spam_report)
    teacher, student = (s["scores"] for s in spam_report["sources"])
    comparison = spam_report["comparisons"][0]
    low, high = comparison["ci"]
    assert high < 0  # the student flips every 4th answer, the teacher every 9th

    expected = (
        f"student sklearn is 400× faster than teacher gpt-4o-mini; macro-F1 "
        f"{student['macro_f1']:.3f} vs {teacher['macro_f1']:.3f} "
        f"(Δ −{abs(comparison['delta']):.3f}, 95% CI [−{abs(low):.3f}, −{abs(high):.3f}]): "
        f"the student is worse."
    )
    assert expected in md
    assert "gpt-4o-mini gave no usable answer for 0.1% of the gold examples." in md


def test_findings_without_a_paired_test_still_compare_scores() -> None:
    task = TextCat(["a", "b"])
    gold = [Categories(labels=["a"]), Categories(labels=["b"])] * 10
    good = score_categories(task, gold, gold, n_boot=20)
    half = score_categories(task, gold, [Categories(labels=["a"])] * 20, n_boot=20)
    report = build_report(
        task,
        [
            SourceResult("teacher:x", "teacher", "t", half, {"docs_per_s": 50.0}),
            SourceResult("student:y", "student", "s", good, {"docs_per_s": 10.0}),
        ],
        gold_name="tiny",
        n_gold=20,
    )

    md = render_markdown(report)

    assert (
        "student s is 5.0× slower than teacher t; macro-F1 1.000 vs 0.333 "
        "(Δ +0.667, no paired test): the student scores higher." in md
    )


def test_write_report_writes_json_and_markdown(spam_report: dict[str, Any], tmp_path: Path) -> None:
    paths = write_report(spam_report, tmp_path / "out")

    out = tmp_path / "out"
    assert paths == {
        "json": out / "report.json",
        "md": out / "report.md",
        "html": out / "report.html",
    }
    text = paths["json"].read_text(encoding="utf-8")
    assert text.startswith('{\n  "task": {')
    assert json.loads(text) == spam_report
    assert paths["md"].read_text(encoding="utf-8") == render_markdown(spam_report)


def test_rich_table_has_a_column_per_source(spam_report: dict[str, Any]) -> None:
    table = rich_table(spam_report)
    console = Console(record=True, width=200)
    console.print(table)
    text = console.export_text()

    assert [str(c.header) for c in table.columns] == ["", "gpt-4o-mini", "sklearn"]
    student = spam_report["sources"][1]["scores"]
    assert ci_text(student, "macro_f1") in text
    assert "2,000.0" in text


def test_report_rejects_duplicate_names_unknown_roles_and_dangling_comparisons() -> None:
    task = TextCat(["a", "b"])
    scores: dict[str, Any] = {"accuracy": 1.0}
    with pytest.raises(ValueError, match="role 'oracle'"):
        SourceResult("x", "oracle", "x", scores)
    twice = [
        SourceResult("t:1", "teacher", "same", scores),
        SourceResult("s:1", "student", "same", scores),
    ]
    with pytest.raises(ValueError, match="repeated: \\['same'\\]"):
        build_report(task, twice, gold_name="g", n_gold=1)
    one = [SourceResult("t:1", "teacher", "t", scores)]
    with pytest.raises(ValueError, match="b='ghost' names no source"):
        build_report(task, one, gold_name="g", n_gold=1, comparisons=[{"a": "t", "b": "ghost"}])


# -- utility ---------------------------------------------------------------------------------------
def test_count_words_splits_on_any_whitespace() -> None:
    assert count_words(["a b  c", "\tx\ny ", ""]) == 5


def test_dir_size_sums_files_below_a_folder(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\0" * 1000)
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "config.json").write_bytes(b"{}")

    assert dir_size(tmp_path / "model") == 1002
    assert dir_size(tmp_path / "model" / "weights.bin") == 1000
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        dir_size(tmp_path / "missing")


def test_utility_derives_rates_percentiles_and_cost() -> None:
    u = Utility.from_timings(
        docs=1000, words=15000, seconds=2.0, latencies_s=[0.1, 0.2, 0.3, 0.4, 0.5], cost=3.0
    )

    assert u.docs_per_s == 500.0
    assert u.words_per_s == 7500.0
    assert u.p50_latency_ms == pytest.approx(300.0)
    assert u.p95_latency_ms == pytest.approx(480.0)  # linear interpolation, as numpy does
    assert u.latency_unit == "doc"
    assert u.cost_per_1m_docs == 3000.0
    assert u.model_size_bytes is None
    assert json.loads(json.dumps(u.to_dict())) == u.to_dict()


def test_measure_times_each_batch_and_keeps_results_in_order() -> None:
    examples = [Example(id=str(i), text=f"text number {i}") for i in range(5)]
    calls: list[int] = []

    def predict(batch: list[Example]) -> list[str]:
        calls.append(len(batch))
        time.sleep(0.01)
        return [e.id for e in batch]

    results, u = measure(predict, examples, batch_size=2, model_size_bytes=42)

    assert results == ["0", "1", "2", "3", "4"]
    assert calls == [2, 2, 1]
    assert (u.docs, u.words, u.batch_size, u.latency_unit) == (5, 15, 2, "batch")
    assert u.seconds >= 0.03
    assert u.docs_per_s == pytest.approx(5 / u.seconds)
    assert u.p50_latency_ms is not None and u.p50_latency_ms >= 10.0
    assert u.model_size_bytes == 42


def test_measure_rejects_a_function_that_drops_results() -> None:
    with pytest.raises(ValueError, match="returned 1 results for a batch of 2"):
        measure(lambda batch: batch[:1], ["a b", "c"], batch_size=2)
