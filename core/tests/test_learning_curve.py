"""The learning curve: a real student on growing shares of sms_spam, a PNG, a table, a signal."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, NerTask, Spans, Student, StudentPrediction, TextCat
from distil.evaluate.learning_curve import (
    learning_curve,
    learning_curve_markdown,
    learning_curve_signal,
    plot_learning_curve,
)
from distil.testing import load_split

pytest.importorskip("distil_sklearn")
from distil_sklearn.student import SklearnTextcat

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def spam_curve() -> dict[str, Any]:
    task = TextCat(["ham", "spam"])
    train = load_split("sms_spam", "train", limit=1000)
    pairs = [(ex, Categories(labels=list(ex.labels or []))) for ex in train]
    gold = load_split("sms_spam", "test")
    return learning_curve(task, SklearnTextcat, pairs, gold, n_boot=300)


def test_each_fraction_trains_a_fresh_student_on_a_nested_seeded_share(spam_curve) -> None:
    rows = spam_curve["rows"]
    assert [r["fraction"] for r in rows] == [0.1, 0.25, 0.5, 1.0]
    assert [r["n_train"] for r in rows] == [100, 250, 500, 1000]
    assert spam_curve["metric"] == "macro_f1" and spam_curve["n_gold"] == 1000
    for r in rows:
        assert r["score"] == r["scores"]["macro_f1"]
        assert r["ci"][0] <= r["score"] <= r["ci"][1]
    assert rows[-1]["score"] > rows[0]["score"]  # 10x the data helps a TF-IDF student
    step = spam_curve["last_step"]
    assert (step["from"], step["to"]) == (0.5, 1.0)
    assert step["delta"] == pytest.approx(rows[-1]["score"] - rows[-2]["score"])


def test_the_signal_states_the_last_gain_and_reads_its_interval(spam_curve) -> None:
    step = spam_curve["last_step"]
    signal = spam_curve["signal"]
    gain = f"{step['delta']:+.3f}".replace("-", "−")
    assert f"{gain} macro-F1 from 50% to 100%" in signal
    if step["ci"][0] > 0:
        assert signal.startswith("more annotation still pays off")
    elif step["ci"][1] < 0:
        assert signal.startswith("the score fell")
    else:
        assert signal.startswith("the curve has flattened")
        assert "unlikely to help" in signal


@pytest.mark.parametrize(
    ("ci", "start"),
    [
        ([0.02, 0.09], "more annotation still pays off: +0.060 macro-F1 from 50% to 100%"),
        ([-0.01, 0.02], "the curve has flattened: +0.060 macro-F1 from 50% to 100% (within"),
        ([-0.09, -0.02], "the score fell: +0.060"),
    ],
)
def test_the_signal_follows_the_paired_interval(ci: list[float], start: str) -> None:
    result = {"metric": "macro_f1", "last_step": {"delta": 0.06, "ci": ci, "from": 0.5, "to": 1.0}}
    assert learning_curve_signal(result).startswith(start)


def test_markdown_has_a_row_per_fraction_and_the_signal(spam_curve) -> None:
    md = learning_curve_markdown(spam_curve)
    for r in spam_curve["rows"]:
        low, high = r["ci"]
        assert f"| {r['n_train']:,} | {r['score']:.3f} [{low:.3f}, {high:.3f}] |" in md
    gains = re.findall(r"\| ([+−]\d\.\d{3}) \|", md)
    assert len(gains) == 3
    assert md.rstrip().endswith(spam_curve["signal"])


def test_the_plot_is_a_real_png(spam_curve, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = plot_learning_curve(spam_curve, tmp_path / "plots" / "curve.png")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (600, 400)


def test_without_matplotlib_the_error_says_how_to_install_it(
    spam_curve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_learning_curve(spam_curve, tmp_path / "curve.png")


def test_bad_fractions_are_refused() -> None:
    task = TextCat(["ham", "spam"])
    pairs = [(ex, Categories(labels=ex.labels or [])) for ex in load_split("sms_spam", "dev", 20)]
    for fractions in [(1.0,), (0.5, 0.25), (0.0, 1.0), (0.5, 1.5)]:
        with pytest.raises(ValueError, match="fraction"):
            learning_curve(task, SklearnTextcat, pairs, [], fractions=fractions)


class _MemoriseSpans(Student):
    """A toy span student: labels every string it saw as an entity in training."""

    name = "test.memorise"
    task_kinds = frozenset({"ner"})

    def fit(self, task, train, dev=None):  # type: ignore[no-untyped-def]
        self.task = task
        self.known: dict[str, str] = {}
        for ex, out in train:
            for s in out.spans:
                self.known[ex.text[s.start : s.end]] = s.label
        return {}

    def predict(self, examples):  # type: ignore[no-untyped-def]
        out = []
        for ex in examples:
            entities = [
                {"text": t, "label": label} for t, label in self.known.items() if t in ex.text
            ]
            try:
                spans = self.task.from_answer({"entities": entities}, ex)
            except Exception:
                spans = Spans()
            out.append(StudentPrediction(spans, 1.0))
        return out


def test_span_tasks_use_span_exact_micro_f1() -> None:
    task = NerTask(["LOC", "MISC", "ORG", "PER"])
    train = load_split("wikigold", "train", limit=300)
    pairs = [(ex, Spans(spans=list(ex.spans or []))) for ex in train]
    gold = load_split("wikigold", "test", limit=150)
    result = learning_curve(task, _MemoriseSpans, pairs, gold, fractions=(0.5, 1.0), n_boot=100)
    assert result["metric"] == "micro_f1"
    assert [r["n_train"] for r in result["rows"]] == [150, 300]
    assert all(r["score"] == r["scores"]["micro_f1"] for r in result["rows"])
    assert "micro-F1 from 50% to 100%" in result["signal"]
