"""``[train] human_weight``: a human answer counts that many times in the final fit, never in the
trust folds, and ``n_train`` still counts each example once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from distil import Annotation, Categories, Prediction, Store, TextCat
from distil.config import load_config
from distil.plugins import PluginHost
from distil.testing.data import load_split
from distil.train import train_student

pytest.importorskip("distil_sklearn")
from distil_sklearn.student import SklearnTextcat

TEACHER = "teacher:always-ham#v1"


class Recording(SklearnTextcat):
    """The scikit-learn student, remembering the ids of every pair its final fit saw."""

    fitted: list[Counter[str]] = []

    def fit(self, task: Any, train: list[Any], dev: list[Any] | None = None) -> dict[str, Any]:
        Recording.fitted.append(Counter(ex.id for ex, _ in train))
        return super().fit(task, train, dev)


def _store() -> tuple[Store, TextCat, list[str]]:
    """60 sms_spam rows the 'teacher' calls ham; a human says spam on four of the spam ones."""
    task = TextCat(["ham", "spam"])
    rows = load_split("sms_spam", "train", limit=60)
    store = Store(":memory:")
    store.add_examples(rows, "train")
    store.add_predictions(
        Prediction(example_id=ex.id, source=TEACHER, output=Categories(labels=["ham"]))
        for ex in rows
    )
    spam = [ex.id for ex in rows if ex.labels == ["spam"]][:4]
    assert len(spam) == 4
    store.add_annotations(
        Annotation(
            example_id=i, annotator="ann", answer="correct", output=Categories(labels=["spam"])
        )
        for i in spam
    )
    return store, task, spam


@pytest.mark.parametrize("weight", [1, 5])
def test_each_human_answer_is_fitted_weight_times(tmp_path: Path, weight: int) -> None:
    store, task, spam = _store()
    Recording.fitted = []
    result = train_student(
        store,
        task,
        Recording(),
        teacher_source=TEACHER,
        model_dir=tmp_path,
        host=PluginHost(entry_points=False),
        trust=False,
        human_weight=weight,
    )
    (seen,) = Recording.fitted  # trust off: only the final fit
    assert {i: seen[i] for i in spam} == dict.fromkeys(spam, weight)
    assert all(n == 1 for i, n in seen.items() if i not in spam)
    assert sum(seen.values()) == 60 + 4 * (weight - 1)
    assert result.n_train == 60 and result.from_humans == 4


def test_human_weight_is_a_train_setting_from_one_to_a_hundred(tmp_path: Path) -> None:
    base = '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n[teacher]\n'
    base += '@teachers = "local.zeroshot.v1"\n\n[data]\ntrain = "t.jsonl"\ngold = "g.jsonl"\n\n[train]\n'
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(base + "human_weight = 5\n")
    assert load_config(cfg).train.human_weight == 5
    cfg.write_text(base + "human_weight = 0\n")
    with pytest.raises(Exception, match="human_weight"):
        load_config(cfg)
