"""Metrics of the evaluate stage: checked by hand on tiny cases and against scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

from distil import Categories, TextCat
from distil.evaluate.metrics import confusion_matrix, paired_bootstrap, score_categories


def read_labels(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["labels"] for line in f if line.strip()]


def cats(rows: list[list[str] | None]) -> list[Categories | None]:
    return [None if r is None else Categories(labels=r) for r in rows]


def perturb_exclusive(gold: list[list[str]], labels: list[str]) -> list[list[str] | None]:
    """Every 7th answer fails, every 5th (else) is shifted to the next label of the task."""
    out: list[list[str] | None] = []
    for i, g in enumerate(gold):
        if i % 7 == 0:
            out.append(None)
        elif i % 5 == 0:
            out.append([labels[(labels.index(g[0]) + 1) % len(labels)]])
        else:
            out.append(list(g))
    return out


def perturb_multilabel(gold: list[list[str]], labels: list[str]) -> list[list[str] | None]:
    """Every 11th fails; every 3rd loses its first label; every 4th gains the next label."""
    out: list[list[str] | None] = []
    for i, g in enumerate(gold):
        if i % 11 == 0:
            out.append(None)
            continue
        p = list(g)
        if i % 3 == 0:
            p = p[1:]
        if i % 4 == 0:
            extra = labels[(labels.index(g[0]) + 1) % len(labels)]
            p = sorted(set(p) | {extra})
        out.append(p)
    return out


def sklearn_scores(
    gold: list[list[str]], pred: list[list[str] | None], labels: list[str], multilabel: bool
) -> dict[str, float]:
    """The reference numbers, with a failure as no label ("<none>" for an exclusive task)."""
    if multilabel:
        mlb = MultiLabelBinarizer(classes=labels)
        y_true = mlb.fit_transform(gold)
        y_pred = mlb.transform([p or [] for p in pred])
        used = {x for r in gold for x in r} | {x for r in pred if r for x in r}
        present: list = [j for j, label in enumerate(labels) if label in used]
        acc = accuracy_score(y_true, y_pred)
    else:
        y_true = [g[0] for g in gold]
        y_pred = [p[0] if p else "<none>" for p in pred]
        present = sorted((set(y_true) | set(y_pred)) - {"<none>"})
        acc = accuracy_score(y_true, y_pred)
    out = {"accuracy": acc}
    for avg in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=present, average=avg, zero_division=0
        )
        out |= {f"{avg}_p": p, f"{avg}_r": r, f"{avg}_f1": f}
    return out


# -- hand-computed cases ---------------------------------------------------------------------------
def test_exclusive_scores_match_hand_computed_values() -> None:
    task = TextCat(["a", "b", "c", "unused"])
    gold = cats([["a"], ["a"], ["b"], ["c"]])
    pred = cats([["a"], ["b"], ["b"], None])

    s = score_categories(task, gold, pred, n_boot=50)

    assert s["n"] == 4
    assert s["accuracy"] == 0.5
    assert s["failure_rate"] == 0.25
    assert s["micro_p"] == pytest.approx(2 / 3)
    assert s["micro_r"] == pytest.approx(1 / 2)
    assert s["micro_f1"] == pytest.approx(4 / 7)
    # Macro over a, b, c (the labels that occur); "unused" does not pull the mean down.
    assert s["macro_labels"] == 3
    assert s["macro_p"] == pytest.approx(0.5)
    assert s["macro_r"] == pytest.approx(0.5)
    assert s["macro_f1"] == pytest.approx(4 / 9)
    assert s["per_label"]["a"] == pytest.approx({"p": 1.0, "r": 0.5, "f1": 2 / 3, "support": 2})
    assert s["per_label"]["b"] == pytest.approx({"p": 0.5, "r": 1.0, "f1": 2 / 3, "support": 1})
    assert s["per_label"]["c"] == {"p": 0.0, "r": 0.0, "f1": 0.0, "support": 1}
    assert s["per_label"]["unused"] == {"p": 0.0, "r": 0.0, "f1": 0.0, "support": 0}
    assert set(s["ci"]) == {"accuracy", "micro_f1", "macro_f1"}
    json.dumps(s)  # JSON-able


def test_multilabel_scores_match_hand_computed_values() -> None:
    task = TextCat(["x", "y", "z"], multilabel=True)
    gold = cats([["x", "y"], ["z"], ["x"], ["y"]])
    pred = cats([["x"], ["z", "y"], None, ["y"]])

    s = score_categories(task, gold, pred, n_boot=50)

    assert s["accuracy"] == 0.25  # exact set match: only the last one
    assert s["failure_rate"] == 0.25
    assert s["micro_p"] == pytest.approx(3 / 4)
    assert s["micro_r"] == pytest.approx(3 / 5)
    assert s["micro_f1"] == pytest.approx(2 / 3)
    assert s["macro_p"] == pytest.approx(5 / 6)
    assert s["macro_r"] == pytest.approx(2 / 3)
    assert s["macro_f1"] == pytest.approx(13 / 18)
    assert s["per_label"]["x"] == pytest.approx({"p": 1.0, "r": 0.5, "f1": 2 / 3, "support": 2})
    assert s["per_label"]["y"] == pytest.approx({"p": 0.5, "r": 0.5, "f1": 0.5, "support": 2})
    assert s["per_label"]["z"] == pytest.approx({"p": 1.0, "r": 1.0, "f1": 1.0, "support": 1})


def test_a_failure_is_wrong_even_where_the_gold_answer_is_empty() -> None:
    task = TextCat(["x", "y"], multilabel=True)
    gold = cats([[], []])

    assert score_categories(task, gold, cats([[], []]), n_boot=10)["accuracy"] == 1.0
    failed = score_categories(task, gold, cats([None, []]), n_boot=10)
    assert failed["accuracy"] == 0.5
    assert failed["failure_rate"] == 0.5


def test_all_failures_score_zero_with_failure_rate_one() -> None:
    task = TextCat(["ham", "spam"])
    s = score_categories(task, cats([["ham"], ["spam"], ["ham"]]), [None, None, None], n_boot=20)

    assert s["failure_rate"] == 1.0
    assert s["accuracy"] == s["micro_f1"] == s["macro_f1"] == 0.0
    assert s["ci"]["accuracy"] == [0.0, 0.0]


def test_mismatched_or_empty_inputs_are_errors() -> None:
    task = TextCat(["a", "b"])
    with pytest.raises(ValueError, match="pair up"):
        score_categories(task, cats([["a"], ["b"]]), cats([["a"]]))
    with pytest.raises(ValueError, match="no gold"):
        score_categories(task, [], [])


def test_textcat_score_delegates_to_score_categories() -> None:
    task = TextCat(["a", "b", "c"])
    gold = cats([["a"], ["b"], ["c"], ["a"]])
    pred = cats([["a"], ["c"], ["c"], None])

    assert task.score(gold, pred) == score_categories(task, gold, pred)


# -- scikit-learn on real data ---------------------------------------------------------------------
def test_exclusive_scores_match_sklearn_on_banking77(shared_data: Path) -> None:
    gold_rows = read_labels(shared_data / "banking77" / "test.jsonl")
    labels = sorted({x for r in gold_rows for x in r})
    assert len(labels) == 77
    # "never_used" is in the task but nowhere in the data: the macro mean must ignore it.
    task = TextCat([*labels, "never_used"])
    pred_rows = perturb_exclusive(gold_rows, labels)

    s = score_categories(task, cats(gold_rows), cats(pred_rows), n_boot=20)

    expected = sklearn_scores(gold_rows, pred_rows, labels, multilabel=False)
    for key, value in expected.items():
        assert s[key] == pytest.approx(value, abs=1e-12), key
    assert s["failure_rate"] == pytest.approx(sum(p is None for p in pred_rows) / 1000)
    p, r, f, support = precision_recall_fscore_support(
        [g[0] for g in gold_rows],
        [p[0] if p else "<none>" for p in pred_rows],
        labels=labels,
        zero_division=0,
    )
    for j, label in enumerate(labels):
        got = s["per_label"][label]
        assert (got["p"], got["r"], got["f1"]) == pytest.approx((p[j], r[j], f[j]), abs=1e-12)
        assert got["support"] == support[j]


def test_multilabel_scores_match_sklearn_on_goemotions(shared_data: Path) -> None:
    gold_rows = read_labels(shared_data / "goemotions" / "test.jsonl")
    labels = sorted({x for r in gold_rows for x in r})
    assert any(len(r) > 1 for r in gold_rows)
    task = TextCat(labels, multilabel=True)
    pred_rows = perturb_multilabel(gold_rows, labels)

    s = score_categories(task, cats(gold_rows), cats(pred_rows), n_boot=20)

    expected = sklearn_scores(gold_rows, pred_rows, labels, multilabel=True)
    for key, value in expected.items():
        assert s[key] == pytest.approx(value, abs=1e-12), key
    assert 0 < s["accuracy"] < 1


def test_binary_task_reports_the_rare_label_as_positive(shared_data: Path) -> None:
    gold_rows = read_labels(shared_data / "sms_spam" / "test.jsonl")
    task = TextCat(["ham", "spam"])
    pred_rows = perturb_exclusive(gold_rows, task.labels)

    s = score_categories(task, cats(gold_rows), cats(pred_rows), n_boot=50)

    _, _, f, _ = precision_recall_fscore_support(
        [g[0] for g in gold_rows],
        [p[0] if p else "<none>" for p in pred_rows],
        labels=["spam"],
        zero_division=0,
    )
    assert s["positive_label"] == "spam"
    assert s["positive_f1"] == pytest.approx(f[0], abs=1e-12)
    assert s["positive_f1"] == s["per_label"]["spam"]["f1"]
    low, high = s["ci"]["positive_f1"]
    assert low <= s["positive_f1"] <= high


# -- bootstrap ------------------------------------------------------------------------------------
def _banking(shared_data: Path) -> tuple[TextCat, list[list[str]], list[list[str] | None]]:
    gold_rows = read_labels(shared_data / "banking77" / "test.jsonl")
    labels = sorted({x for r in gold_rows for x in r})
    return TextCat(labels), gold_rows, perturb_exclusive(gold_rows, labels)


def test_intervals_contain_the_estimate_and_narrow_with_more_data(shared_data: Path) -> None:
    task, gold_rows, pred_rows = _banking(shared_data)

    small = score_categories(task, cats(gold_rows[:150]), cats(pred_rows[:150]), n_boot=300)
    large = score_categories(task, cats(gold_rows), cats(pred_rows), n_boot=300)

    for metric in ("accuracy", "micro_f1", "macro_f1"):
        for s in (small, large):
            low, high = s["ci"][metric]
            assert low < s[metric] < high, metric
        width_small = small["ci"][metric][1] - small["ci"][metric][0]
        width_large = large["ci"][metric][1] - large["ci"][metric][0]
        assert width_large < width_small / 2, metric  # ~ 1/sqrt(n): 150 → 1000 is ~2.6× narrower


def test_bootstrap_is_deterministic_for_a_seed(shared_data: Path) -> None:
    task, gold_rows, pred_rows = _banking(shared_data)
    gold, pred = cats(gold_rows[:300]), cats(pred_rows[:300])

    first = score_categories(task, gold, pred, n_boot=200, seed=7)
    again = score_categories(task, gold, pred, n_boot=200, seed=7)
    other = score_categories(task, gold, pred, n_boot=200, seed=8)

    assert first["ci"] == again["ci"]
    assert first["ci"] != other["ci"]
    assert first["accuracy"] == other["accuracy"]  # the point estimate does not depend on the seed


def test_paired_bootstrap_of_identical_predictions_has_no_difference(shared_data: Path) -> None:
    task, gold_rows, pred_rows = _banking(shared_data)

    result = paired_bootstrap(task, cats(gold_rows), cats(pred_rows), cats(pred_rows), n_boot=200)

    assert result["delta"] == 0.0
    assert result["ci"] == [0.0, 0.0]
    assert result["p_value"] == 1.0


def test_paired_bootstrap_finds_a_real_difference(shared_data: Path) -> None:
    task, gold_rows, pred_rows = _banking(shared_data)
    gold, better = cats(gold_rows), cats(pred_rows)
    worse = cats([None if i % 3 == 0 else p for i, p in enumerate(pred_rows)])  # more failures

    result = paired_bootstrap(task, gold, better, worse, metric="accuracy", n_boot=500, seed=1)

    a = score_categories(task, gold, better, n_boot=1)["accuracy"]
    b = score_categories(task, gold, worse, n_boot=1)["accuracy"]
    assert result["value_a"] == a
    assert result["value_b"] == b
    assert result["delta"] == pytest.approx(a - b)
    low, high = result["ci"]
    assert 0 < low < result["delta"] < high
    assert result["p_value"] == 0.0
    flipped = paired_bootstrap(task, gold, worse, better, metric="accuracy", n_boot=500, seed=1)
    assert flipped["delta"] == pytest.approx(-result["delta"])
    assert flipped["ci"] == pytest.approx([-high, -low])


def test_paired_bootstrap_rejects_an_unknown_metric() -> None:
    task = TextCat(["a", "b"])
    gold = cats([["a"], ["b"]])
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        paired_bootstrap(task, gold, gold, gold, metric="f2")


# -- confusion matrix -----------------------------------------------------------------------------
def test_confusion_matrix_of_an_exclusive_task_counts_failures_as_none() -> None:
    task = TextCat(["a", "b", "c"])
    gold = cats([["c"], ["a"], ["a"], ["b"], ["a"]])
    pred = cats([None, ["a"], ["b"], ["b"], ["a"]])

    assert confusion_matrix(task, gold, pred) == {
        "a": {"a": 2, "b": 1},
        "b": {"b": 1},
        "c": {"<none>": 1},
    }


def test_confusion_matrix_of_a_multilabel_task_counts_per_label() -> None:
    task = TextCat(["x", "y", "z"], multilabel=True)
    gold = cats([["x", "y"], ["z"], ["x"], ["y"]])
    pred = cats([["x"], ["z", "y"], None, ["y"]])

    assert confusion_matrix(task, gold, pred) == {
        "x": {"tp": 1, "fp": 0, "fn": 1, "tn": 2},
        "y": {"tp": 1, "fp": 1, "fn": 1, "tn": 1},
        "z": {"tp": 1, "fp": 0, "fn": 0, "tn": 3},
    }
