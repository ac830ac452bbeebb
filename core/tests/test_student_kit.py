"""The student toolkit: the fitted check, meta.json I/O, the confidence rule, the task rebuilt
from its description and the label columns, as every student plugin now uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import distil
from distil.testing import load_split

EMOJI = distil.TextCat(
    ["😀 happy", "😡 angry", "neutral"],
    multilabel=True,
    descriptions={"😀 happy": "the writer is glad 🎉"},
    instructions="Pick every mood.",
)


class _Toy(distil.Student):
    name = "toy.textcat"

    def __init__(self) -> None:
        self.task: distil.Task | None = None
        self.model: object | None = None


# -- the fitted check -------------------------------------------------------------------------------
def test_require_fitted_refuses_until_task_and_every_part_are_set():
    student = _Toy()
    with pytest.raises(distil.NotFittedError, match=r"toy\.textcat: .*call fit\(\) or load\(\)"):
        distil.require_fitted(student, student.model)
    student.task = EMOJI
    with pytest.raises(RuntimeError):  # a NotFittedError is a RuntimeError: old callers hold
        distil.require_fitted(student, student.model)
    student.model = object()
    assert distil.require_fitted(student, student.model, task_type=distil.TextCat) is EMOJI
    with pytest.raises(TypeError, match="needs a SpanTask task, got TextCat"):
        distil.require_fitted(student, student.model, task_type=distil.SpanTask)


# -- meta.json --------------------------------------------------------------------------------------
def test_meta_round_trips_unicode_labels_and_leaves_no_temporary_file(tmp_path: Path):
    folder = tmp_path / "new" / "model"
    path = distil.write_meta(folder, format="toy/1", task=EMOJI.describe(), thresholds=[0.3, 0.5])
    assert path == folder / "meta.json"
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json"]
    assert "😀 happy" in path.read_text(encoding="utf-8")  # readable, not \\u escapes
    meta = distil.read_meta(folder, who="toy", expected_format="toy/1")
    assert meta == {"format": "toy/1", "task": EMOJI.describe(), "thresholds": [0.3, 0.5]}


def test_a_field_that_is_not_json_keeps_the_earlier_meta_intact(tmp_path: Path):
    distil.write_meta(tmp_path, format="toy/1", n=1)
    with pytest.raises(TypeError):
        distil.write_meta(tmp_path, format="toy/1", n=object())
    assert distil.read_meta(tmp_path, who="toy") == {"format": "toy/1", "n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_a_missing_meta_or_model_file_is_a_data_error_and_a_file_not_found_error(tmp_path: Path):
    with pytest.raises(distil.MissingModelFileError, match=r"meta\.json is missing.*by toy") as e:
        distil.read_meta(tmp_path, who="toy")
    # Project._load_student turns a FileNotFoundError into "no trained student; retrain".
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, distil.DataError)
    distil.write_meta(tmp_path, format="toy/1")
    with pytest.raises(FileNotFoundError, match=r"model\.skops is missing"):
        distil.read_meta(tmp_path, who="toy", needs=["model.skops"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "toy/1",\n  "task": ', r"meta\.json:2: not valid JSON"),
        ('["toy/1"]', "expected a JSON object, got list"),
        ('{"format": "other/3"}', r"format 'other/3' is not 'toy/1'; .* this version of toy"),
    ],
)
def test_a_damaged_or_foreign_meta_is_a_data_error_naming_the_file(tmp_path, text, message):
    (tmp_path / "meta.json").write_text(text, encoding="utf-8")
    with pytest.raises(distil.DataError, match=message) as caught:
        distil.read_meta(tmp_path, who="toy", expected_format="toy/1")
    assert str(tmp_path / "meta.json") in str(caught.value)
    assert not isinstance(caught.value, FileNotFoundError)


# -- the confidence rule ----------------------------------------------------------------------------
def test_exclusive_confidence_is_the_chosen_labels_probability_first_on_ties():
    assert distil.choose_labels([0.2, 0.5, 0.3], multilabel=False) == ([1], 0.5)
    assert distil.choose_labels([0.4, 0.4, 0.2], multilabel=False) == ([0], 0.4)
    with pytest.raises(ValueError, match="one label"):
        distil.label_confidence([0.5, 0.5], [0, 1], multilabel=False)


def test_multilabel_confidence_is_the_weakest_yes_or_else_the_weakest_no():
    row = [0.9, 0.62, 0.1]
    assert distil.choose_labels(row, multilabel=True) == ([0, 1], 0.62)
    assert distil.choose_labels(row, multilabel=True, thresholds=[0.95, 0.6, 0.05]) == (
        [1, 2],
        0.1,
    )
    chosen, confidence = distil.choose_labels([0.3, 0.45, 0.1], multilabel=True)
    assert chosen == [] and confidence == pytest.approx(0.55)
    assert distil.label_confidence([1.0000001, 0.2], [0], multilabel=True) == 1.0  # clamped
    with pytest.raises(ValueError, match="2 thresholds for a row of 3"):
        distil.choose_labels(row, multilabel=True, thresholds=[0.5, 0.5])


def test_categories_predictions_score_every_label_and_apply_the_rule():
    rows = [[0.7, 0.2, 0.55], [0.1, 0.3, 0.2]]
    out = distil.categories_predictions(EMOJI.labels, rows, multilabel=True, thresholds=0.5)
    assert [p.output.labels for p in out] == [["😀 happy", "neutral"], []]
    assert [p.confidence for p in out] == [0.55, pytest.approx(0.7)]
    assert out[0].output == distil.Categories(
        labels=["😀 happy", "neutral"], scores=dict(zip(EMOJI.labels, rows[0], strict=True))
    )


def test_categories_predictions_of_an_array_match_those_of_its_rows():
    np = pytest.importorskip("numpy")
    proba = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3], [0.3, 0.3, 0.4]])
    from_array = distil.categories_predictions(EMOJI.labels, proba, multilabel=False)
    from_rows = distil.categories_predictions(EMOJI.labels, proba.tolist(), multilabel=False)
    assert [(p.output, p.confidence) for p in from_array] == [
        (p.output, p.confidence) for p in from_rows
    ]
    assert [p.output.labels for p in from_array] == [["😡 angry"], ["😀 happy"], ["neutral"]]
    assert distil.categories_predictions(EMOJI.labels, proba[:0], multilabel=False) == []


# -- the task from its description ------------------------------------------------------------------
@pytest.mark.parametrize(
    "task",
    [
        EMOJI,
        distil.TextCat(["ham", "spam"]),
        distil.NerTask(["PER", "LOC"], descriptions={"PER": "a person"}),
        distil.SpansTask(["SKILL", "TOOL"], instructions="Nested spans are fine."),
    ],
)
def test_every_saved_task_kind_comes_back_equal(task: distil.Task):
    rebuilt = distil.task_from_description(json.loads(json.dumps(task.describe())))
    assert type(rebuilt) is type(task)
    assert rebuilt.describe() == task.describe()


def test_an_old_ner_description_with_overlaps_gives_a_spans_task():
    old = {"kind": "ner", "labels": ["A", "B"], "allow_overlap": True}
    rebuilt = distil.task_from_description(old)
    assert isinstance(rebuilt, distil.SpansTask) and rebuilt.kind == "spans"


@pytest.mark.parametrize(
    ("described", "message"),
    [
        ({"kind": "rating", "labels": ["1", "2"]}, r"of kind 'rating'; a student can rebuild"),
        ({"kind": "textcat", "labels": ["a", "a"]}, "labels must be unique"),
        ({"kind": "textcat"}, "not a task description with a 'labels' list"),
        ("textcat", "not a task description"),
    ],
)
def test_a_description_that_cannot_be_rebuilt_is_a_data_error_naming_its_file(described, message):
    with pytest.raises(distil.DataError, match=message) as caught:
        distil.task_from_description(described, source="/models/x/meta.json")
    assert str(caught.value).startswith("[E004] /models/x/meta.json: ")


# -- label columns and dev scores -------------------------------------------------------------------
def test_label_columns_of_goemotions_keep_rare_labels_constant(shared_data):
    task = distil.TextCat(
        ["admiration", "amusement", "anger", "grief", "pride", "optimism"], multilabel=True
    )
    index = {label: j for j, label in enumerate(task.labels)}
    rows = load_split("goemotions", "train", limit=300)
    targets = [[index[x] for x in e.labels or [] if x in index] for e in rows]
    columns = distil.label_columns(task, targets, "toy.textcat")
    counts = [sum(j in t for t in targets) for j in range(len(task.labels))]
    assert columns.columns == [j for j, n in enumerate(counts) if 0 < n < len(targets)]
    assert columns.constant == {j: 0.0 for j, n in enumerate(counts) if n == 0}
    y = columns.targets(targets)
    assert len(y) == 300 and all(len(row) == len(columns.columns) for row in y)
    assert sum(map(sum, y)) == sum(counts)
    report = columns.report(task.labels)
    assert report["n_labels_task"] == 6
    assert report["labels_unseen"] == [task.labels[j] for j in columns.constant]


def test_label_columns_say_what_to_add_when_nothing_can_be_learned():
    spam = distil.TextCat(["ham", "spam", "🥚 eggs"])
    with pytest.raises(ValueError, match=r"toy: .*every training example is labelled 'ham'"):
        distil.label_columns(spam, [[0], [0]], "toy")
    tags = distil.TextCat(["a", "b"], multilabel=True)
    with pytest.raises(ValueError, match="always or never present"):
        distil.label_columns(tags, [[0], [0]], "toy")
    one = distil.label_columns(tags, [[0], [0, 1]], "toy")
    assert one.columns == [1] and one.constant == {0: 1.0} and one.targets([[0], [0, 1]]) == [0, 1]
    exclusive = distil.label_columns(spam, [[2], [0], [2]], "toy")
    assert exclusive.columns == [0, 2] and exclusive.targets([[2], [0], [2]]) == [2, 0, 2]


def test_dev_scores_are_exact_match_accuracy_and_micro_f1():
    predicted = [{0, 1}, set(), {2}]
    gold = [{0}, set(), {2}]
    assert distil.dev_scores(predicted, gold, multilabel=True) == {
        "dev_accuracy": round(2 / 3, 4),
        "dev_micro_f1": round(2 * 2 / (3 + 2), 4),
    }
    assert distil.dev_scores([{1}], [{1}], multilabel=False) == {"dev_accuracy": 1.0}
