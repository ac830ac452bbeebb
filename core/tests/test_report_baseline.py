"""The report's majority-class baseline and the "pays for itself" wording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, Example, Prediction, TextCat
from distil.evaluate.metrics import paired_bootstrap, score_categories
from distil.evaluate.report import SourceResult, build_report, findings, render_markdown
from distil.evaluate.stage import BASELINE_NAME, majority_baseline, majority_label
from distil.evaluate.utility import break_even
from distil.store.sqlite import Store
from distil.tasks import NerTask

TEACHER = "teacher:sim#prompt=1"


def read_examples(path: Path, limit: int) -> list[Example]:
    with path.open(encoding="utf-8") as f:
        return [Example.model_validate(json.loads(line)) for line in f if line.strip()][:limit]


def answer(ex_id: str, *labels: str) -> Prediction:
    return Prediction(example_id=ex_id, source=TEACHER, output=Categories(labels=list(labels)))


@pytest.fixture
def spam_store(tmp_path: Path, shared_data: Path) -> Store:
    """Train and gold numbered 1..N alike; the teacher says ham on 7 of 10 train rows and spam
    on every gold row, so a baseline that peeked at gold would pick spam."""
    rows = read_examples(shared_data / "sms_spam" / "train.jsonl", 20)
    train = [r.model_copy(update={"id": str(i)}) for i, r in enumerate(rows[:10], 1)]
    gold = [r.model_copy(update={"id": str(i)}) for i, r in enumerate(rows[10:], 1)]
    store = Store(tmp_path / "distil.db")
    store.add_examples(train, "train")
    store.add_examples(gold, "gold")
    store.add_predictions(
        [answer(ex.id, "ham" if i < 7 else "spam") for i, ex in enumerate(train)], "train"
    )
    store.add_predictions([answer(ex.id, "spam") for ex in gold], "gold")
    store.add_predictions([Prediction(example_id="1", source=TEACHER, error="x")], "dev")
    return store


def test_the_majority_label_counts_the_teachers_train_labels_only(spam_store: Store) -> None:
    task = TextCat(["ham", "spam"])
    assert majority_label(spam_store, task, TEACHER) == ("ham", 10)
    assert majority_label(spam_store, task, TEACHER, dataset="gold") == ("spam", 10)
    assert majority_label(spam_store, task, "teacher:nobody") is None


def test_a_tie_goes_to_the_label_that_sorts_first(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.add_examples([Example(id=str(i), text=f"text {i} 😀") for i in range(4)], "train")
        store.add_predictions(
            [answer("0", "spam"), answer("1", "ham"), answer("2", "spam"), answer("3", "ham")],
            "train",
        )
        assert majority_label(store, TextCat(["spam", "ham"]), TEACHER) == ("ham", 4)


def test_the_baseline_answers_the_majority_label_for_every_gold_row(spam_store: Store) -> None:
    task = TextCat(["ham", "spam"])
    gold = [
        Example(id=str(i), text=f"gold {i}", labels=[label])
        for i, label in enumerate(["ham", "ham", "ham", "spam", "spam"], 1)
    ]
    baseline = majority_baseline(spam_store, task, gold, TEACHER)
    assert baseline is not None
    assert (baseline["name"], baseline["role"], baseline["label"]) == (
        BASELINE_NAME,
        "baseline",
        "ham",
    )
    assert baseline["from"] == {"source": TEACHER, "dataset": "train", "labels": 10}
    scores = baseline["scores"]
    assert scores["accuracy"] == pytest.approx(3 / 5)
    # ham: P 3/5, R 1, F1 0.75; spam: never predicted, F1 0: macro 0.375.
    assert scores["macro_f1"] == pytest.approx(0.375)
    assert scores["per_label"]["spam"]["f1"] == 0.0


def test_no_baseline_for_multilabel_or_span_tasks(spam_store: Store) -> None:
    gold = [Example(id="1", text="x", labels=["ham"])]
    assert (
        majority_baseline(spam_store, TextCat(["ham", "spam"], multilabel=True), gold, TEACHER)
        is None
    )
    assert majority_label(spam_store, NerTask(["PER"]), TEACHER) is None


def two_sources(
    student_every: int, *, comparison: bool = True, baseline: bool = True
) -> dict[str, Any]:
    """A teacher wrong on every 9th gold row, a student wrong on every ``student_every``-th,
    the student cheaper per document (so break-even is a number)."""
    task = TextCat(["ham", "spam"])
    gold = [Categories(labels=["spam" if i % 3 == 0 else "ham"]) for i in range(120)]

    def flip(every: int) -> list[Categories | None]:
        return [
            Categories(labels=["ham" if g.labels == ["spam"] else "spam"]) if i % every == 0 else g
            for i, g in enumerate(gold)
        ]

    teacher_pred, student_pred = flip(9), flip(student_every)
    be = break_even(
        teacher_cost_per_doc=1e-3,
        student_cost_per_doc=1e-6,
        human_annotations=10,
        training_seconds=3.0,
        seconds_per_annotation=10.0,
        annotation_hour_cost=36.0,
        cpu_hour_cost=0.05,
    )
    teacher = SourceResult(TEACHER, "teacher", "gpt", score_categories(task, gold, teacher_pred))
    student = SourceResult(
        "student:sk#run=1",
        "student",
        "sk",
        score_categories(task, gold, student_pred),
        {"break_even": {**be, "teacher": "gpt"}},
    )
    comps = []
    if comparison:
        comps = [paired_bootstrap(task, gold, student_pred, teacher_pred) | {"a": "sk", "b": "gpt"}]
    majority = {
        "name": BASELINE_NAME,
        "role": "baseline",
        "label": "ham",
        "from": {"source": TEACHER, "dataset": "train", "labels": 80},
        "scores": score_categories(task, gold, [Categories(labels=["ham"])] * len(gold)),
    }
    return build_report(
        task,
        [teacher, student],
        gold_name="spam gold",
        n_gold=len(gold),
        comparisons=comps,
        baseline=majority if baseline else None,
    )


def test_the_baseline_is_a_column_of_scores_in_the_markdown_table() -> None:
    report = two_sources(9)
    md = render_markdown(report)
    base = report["baseline"]["scores"]
    header = next(line for line in md.splitlines() if line.startswith("|  | gpt"))
    assert header == "|  | gpt | sk | majority baseline |"
    accuracy = next(line for line in md.splitlines() if line.startswith("| accuracy |"))
    low, high = base["ci"]["accuracy"]
    assert accuracy.endswith(f" | {base['accuracy']:.3f} [{low:.3f}, {high:.3f}] |")
    docs = next(line for line in md.splitlines() if line.startswith("| docs/s |"))
    assert docs.endswith("| — |")  # it answers without running anything: no utility
    role = next(line for line in md.splitlines() if line.startswith("| role |"))
    assert role == "| role | teacher | student | baseline |"


def test_the_findings_say_what_the_baseline_scores_and_who_does_no_better() -> None:
    report = two_sources(1)  # the student flips every answer: below always-ham
    base = report["baseline"]["scores"]
    text = " ".join(findings(report))
    assert (
        f"The majority baseline (always 'ham', the teacher's most frequent train label) scores "
        f"macro-F1 {base['macro_f1']:.3f}, accuracy {base['accuracy']:.3f}; sk does no better."
    ) in text


def test_without_a_baseline_the_report_is_unchanged() -> None:
    report = two_sources(9, baseline=False)
    assert "baseline" not in report
    assert "majority baseline" not in render_markdown(report)


def test_a_student_not_worse_than_the_teacher_pays_for_itself() -> None:
    report = two_sources(9)  # the same errors as the teacher: delta 0
    assert report["comparisons"][0]["ci"][1] >= 0
    text = " ".join(findings(report))
    be = report["sources"][1]["utility"]["break_even"]
    assert (
        f"At the assumed costs sk pays for itself after {be['break_even_docs']:,.0f} documents"
        in text
    )


def test_a_significantly_worse_student_does_not_pay_for_itself() -> None:
    report = two_sources(2)
    low, high = report["comparisons"][0]["ci"]
    assert high < 0
    text = " ".join(findings(report))
    assert "pays for itself" not in text
    interval = f"[{low:+.3f}, {high:+.3f}]".replace("-", "−")
    assert (
        "but it does not pay for itself: its macro-F1 is significantly below the teacher's "
        f"(95% CI of the difference {interval})"
    ) in text


def test_without_a_paired_test_the_break_even_does_not_claim_it_pays() -> None:
    text = " ".join(findings(two_sources(9, comparison=False)))
    assert "pays for itself" not in text
    assert "with no paired test against the teacher, whether its answers are as good" in text
