"""The multi-label student tunes its decision thresholds on dev, and a saved model keeps them.

On goemotions (28 labels, about one per text) a model trained on a few hundred rows scores most
labels far below 0.5, so the fixed threshold chooses almost nothing."""

from __future__ import annotations

import pytest

import distil
from distil.testing import load_split
from distil.testing.students import gold_pairs
from distil_spacy.plugin import make_textcat_multilabel


@pytest.fixture(scope="module")
def goemotions(shared_data):
    labels = sorted({x for ex in load_split("goemotions", "dev") for x in ex.labels})
    task = distil.TextCat(labels, multilabel=True)
    train = gold_pairs(task, load_split("goemotions", "train", limit=800))
    dev = gold_pairs(task, load_split("goemotions", "dev", limit=600))
    test = load_split("goemotions", "test", limit=400)
    return task, train, dev, test


def micro_f1(task, student, test):
    predicted = [p.output for p in student.predict([ex.without_answer() for ex in test])]
    return task.score([task.reference(ex) for ex in test], predicted)["micro_f1"]


def test_tuned_thresholds_beat_the_fixed_one_and_survive_save_and_load(goemotions, tmp_path):
    task, train, dev, test = goemotions
    fixed = make_textcat_multilabel(architecture="bow", max_epochs=5, tune_thresholds=False)
    fixed.fit(task, train, dev)
    tuned = make_textcat_multilabel(architecture="bow", max_epochs=5)
    report = tuned.fit(task, train, dev)

    assert set(report["thresholds"]) == set(task.labels)
    assert min(report["thresholds"].values()) < 0.5
    assert "tuned on dev" in report["thresholds_how"]
    assert micro_f1(task, tuned, test) > micro_f1(task, fixed, test) + 0.05

    tuned.save(tmp_path / "m")
    loaded = type(tuned).load(tmp_path / "m")
    texts = [ex.without_answer() for ex in test]
    assert [p.output.labels for p in loaded.predict(texts)] == [
        p.output.labels for p in tuned.predict(texts)
    ]


def test_without_dev_the_configured_threshold_holds(goemotions):
    task, train, _, _ = goemotions
    student = make_textcat_multilabel(architecture="bow", max_epochs=2, threshold=0.3)
    report = student.fit(task, train)
    assert "thresholds" not in report
    assert set(student.thresholds.values()) == {0.3}
