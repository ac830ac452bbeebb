"""``[train] teacher_weight``: below 1 the final fit weighs each teacher label that much against a
human answer (``human_weight``), with example weights instead of repeated rows; a student that
takes no weights is refused by name before anything is fitted."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from distil import Annotation, Categories, Prediction, Store, TextCat
from distil.config import load_config
from distil.errors import ConfigError
from distil.plugins import PluginHost
from distil.testing.data import load_split
from distil.train import train_student

pytest.importorskip("distil_sklearn")
from distil_sklearn.student import SklearnTextcat

TEACHER = "teacher:backwards#v1"


class Recording(SklearnTextcat):
    """The scikit-learn student, remembering the ids and weights of its last fit."""

    seen: ClassVar[list[tuple[list[str], list[float] | None]]] = []

    def fit(
        self,
        task: Any,
        train: list[Any],
        dev: list[Any] | None = None,
        weights: list[float] | None = None,
    ) -> dict[str, Any]:
        Recording.seen.append(([ex.id for ex, _ in train], weights))
        return super().fit(task, train, dev, weights=weights)


class NoWeights(SklearnTextcat):
    name = "nobody.textcat.v1"
    supports_weights = False


def _store(n: int = 300, corrected: int = 40) -> tuple[Store, TextCat, set[str]]:
    """sms_spam train rows whose 'teacher' always says the other label; a human gives the right
    label on ``corrected`` of them, half ham and half spam."""
    task = TextCat(["ham", "spam"])
    rows = load_split("sms_spam", "train", limit=n)
    store = Store(":memory:")
    store.add_examples(rows, "train")
    flip = {"ham": "spam", "spam": "ham"}
    store.add_predictions(
        Prediction(example_id=ex.id, source=TEACHER, output=Categories(labels=[flip[ex.labels[0]]]))
        for ex in rows
    )
    ham = [ex for ex in rows if ex.labels == ["ham"]][: corrected // 2]
    spam = [ex for ex in rows if ex.labels == ["spam"]][: corrected // 2]
    assert len(ham) + len(spam) == corrected
    store.add_annotations(
        Annotation(
            example_id=ex.id, annotator="ann", answer="correct", output=Categories(labels=ex.labels)
        )
        for ex in ham + spam
    )
    return store, task, {ex.id for ex in ham + spam}


def _train(tmp_path: Path, student: Any, **settings: Any) -> Any:
    store, task, humans = _store()
    result = train_student(
        store,
        task,
        student,
        teacher_source=TEACHER,
        model_dir=tmp_path,
        host=PluginHost(entry_points=False),
        trust=False,
        **settings,
    )
    return result, humans


def test_teacher_labels_get_the_teacher_weight_and_human_answers_the_human_weight(
    tmp_path: Path,
) -> None:
    Recording.seen = []
    result, humans = _train(tmp_path, Recording(), teacher_weight=0.05, human_weight=2)
    ((ids, weights),) = Recording.seen
    assert weights is not None and len(ids) == len(weights) == 300  # nothing repeated
    assert {i for i, w in zip(ids, weights, strict=True) if w == 2.0} == humans
    assert all(w == 0.05 for i, w in zip(ids, weights, strict=True) if i not in humans)
    assert result.n_train == 300 and result.from_humans == 40


def test_a_teacher_weight_of_one_fits_without_weights(tmp_path: Path) -> None:
    Recording.seen = []
    _train(tmp_path, Recording(), teacher_weight=1.0, human_weight=3)
    ((ids, weights),) = Recording.seen
    assert weights is None and len(ids) == 300 + 40 * 2  # human_weight repeats human rows


def test_a_low_teacher_weight_lets_one_correction_overrule_three_teacher_labels(
    tmp_path: Path,
) -> None:
    """60 sms_spam texts, each stored four times (ids colliding but for a suffix), the teacher
    wrong on every copy and a human right on one: at weight 1 the teacher's three labels win,
    at 0.01 the human answer does."""
    task = TextCat(["ham", "spam"])
    rows = [ex for ex in load_split("sms_spam", "train", limit=400) if ex.labels == ["ham"]][:30]
    rows += [ex for ex in load_split("sms_spam", "train", limit=400) if ex.labels == ["spam"]][:30]
    flip = {"ham": "spam", "spam": "ham"}
    copies = [ex.model_copy(update={"id": f"{ex.id}#{n}"}) for ex in rows for n in range(4)]
    scores = {}
    for weight in (1.0, 0.01):
        store = Store(":memory:")
        store.add_examples(copies, "train")
        store.add_predictions(
            Prediction(
                example_id=ex.id, source=TEACHER, output=Categories(labels=[flip[ex.labels[0]]])
            )
            for ex in copies
        )
        store.add_annotations(
            Annotation(
                example_id=f"{ex.id}#0", annotator="ann", output=Categories(labels=ex.labels)
            )
            for ex in rows
        )
        student = SklearnTextcat()
        result = train_student(
            store,
            task,
            student,
            teacher_source=TEACHER,
            model_dir=tmp_path / str(weight),
            host=PluginHost(entry_points=False),
            trust=False,
            teacher_weight=weight,
        )
        assert result.from_humans == 60 and result.n_train == 240
        predicted = student.predict([ex.without_answer() for ex in rows])
        scores[weight] = (
            sum(p.output.labels == ex.labels for p, ex in zip(predicted, rows, strict=True)) / 60
        )
    assert scores[1.0] < 0.2 and scores[0.01] > 0.9, scores


def test_a_student_without_weights_is_refused_by_name_before_fitting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nobody\.textcat\.v1.*supports_weights"):
        _train(tmp_path, NoWeights(), teacher_weight=0.1)
    assert not any(tmp_path.iterdir())  # nothing was fitted or saved


def test_teacher_weight_is_a_train_setting_above_zero_up_to_one(tmp_path: Path) -> None:
    base = '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n[teacher]\n'
    base += '@teachers = "local.zeroshot.v1"\n\n[data]\ntrain = "t.jsonl"\ngold = "g.jsonl"\n\n[train]\n'
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(base + "teacher_weight = 0.01\n")
    assert load_config(cfg).train.teacher_weight == 0.01
    cfg.write_text(base + 'teacher_weight = "auto"\n')
    assert load_config(cfg).train.teacher_weight == "auto"
    for bad in ("0", "1.5", "-0.1", '"best"'):
        cfg.write_text(base + f"teacher_weight = {bad}\n")
        with pytest.raises(Exception, match="teacher_weight"):
            load_config(cfg)


def test_with_no_human_answer_yet_the_fit_is_unweighted(tmp_path: Path) -> None:
    """Equal weights on every teacher label change nothing but the regularisation: the student
    at cards 0 must be the unweighted one."""
    store, task, _ = _store(corrected=0)
    Recording.seen = []
    train_student(
        store,
        task,
        Recording(),
        teacher_source=TEACHER,
        model_dir=tmp_path,
        host=PluginHost(entry_points=False),
        trust=False,
        teacher_weight=0.01,
    )
    ((ids, weights),) = Recording.seen
    assert weights is None and len(ids) == 300


def _copies_store(with_dev: bool = True) -> tuple[Store, TextCat, list[Any]]:
    """The four-copies data set above (the teacher backwards on every copy, a human right on
    one), plus 200 sms_spam dev rows with their gold labels."""
    task = TextCat(["ham", "spam"])
    train = load_split("sms_spam", "train", limit=400)
    rows = [ex for ex in train if ex.labels == ["ham"]][:30]
    rows += [ex for ex in train if ex.labels == ["spam"]][:30]
    flip = {"ham": "spam", "spam": "ham"}
    copies = [ex.model_copy(update={"id": f"{ex.id}#{n}"}) for ex in rows for n in range(4)]
    store = Store(":memory:")
    store.add_examples(copies, "train")
    if with_dev:
        store.add_examples(load_split("sms_spam", "dev", limit=200), "dev")
    store.add_predictions(
        Prediction(example_id=ex.id, source=TEACHER, output=Categories(labels=[flip[ex.labels[0]]]))
        for ex in copies
    )
    store.add_annotations(
        Annotation(example_id=f"{ex.id}#0", annotator="ann", output=Categories(labels=ex.labels))
        for ex in rows
    )
    return store, task, rows


def test_auto_chooses_the_teacher_weight_that_scores_best_on_dev(tmp_path: Path) -> None:
    store, task, rows = _copies_store()
    result = train_student(
        store,
        task,
        student := SklearnTextcat(),
        teacher_source=TEACHER,
        model_dir=tmp_path,
        dev_dataset="dev",
        host=PluginHost(entry_points=False),
        trust=False,
        teacher_weight="auto",
    )
    chosen = result.teacher_weight
    assert set(chosen["dev"]) == {"1.0", "0.1", "0.01", "0.0"} and chosen["metric"] == "macro_f1"
    best = max(chosen["dev"].values())
    assert chosen["dev"][str(chosen["chosen"])] == best
    assert chosen["dev"]["1.0"] < 0.5 < best  # the backwards teacher loses on dev
    assert chosen["chosen"] < 1.0
    # The saved final student is the chosen weight's: right on the corrected texts.
    predicted = student.predict([ex.without_answer() for ex in rows])
    right = sum(p.output.labels == ex.labels for p, ex in zip(predicted, rows, strict=True))
    assert right / len(rows) > 0.9
    (run,) = store.runs("train")
    assert run["stats"]["teacher_weight"]["chosen"] == chosen["chosen"]


@pytest.mark.parametrize("case", ["no dev", "no human"])
def test_auto_without_dev_or_human_answers_keeps_the_teacher_at_one(
    tmp_path: Path, case: str
) -> None:
    store, task, _ = _copies_store(with_dev=case != "no dev")
    if case == "no human":
        store, task, _ = _store(corrected=0)
    result = train_student(
        store,
        task,
        SklearnTextcat(),
        teacher_source=TEACHER,
        model_dir=tmp_path,
        dev_dataset="dev" if case != "no dev" else None,
        host=PluginHost(entry_points=False),
        trust=False,
        teacher_weight="auto",
    )
    why = {"no dev": "no dev split", "no human": "no human answer"}[case]
    assert result.teacher_weight["chosen"] == 1.0 and why in result.teacher_weight["why"]


def test_auto_needs_a_student_that_takes_weights(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'auto'.*nobody\.textcat\.v1"):
        _train(tmp_path, NoWeights(), teacher_weight="auto")
