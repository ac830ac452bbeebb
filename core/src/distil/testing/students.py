"""The student conformance suite: behaviour every student plugin must show.

A student plugin's tests subclass :class:`StudentConformance` and provide one fixture,
``student_factory``: a zero-argument callable that returns a fresh, untrained student::

    from distil.testing.students import StudentConformance

    class TestMyStudent(StudentConformance):
        @pytest.fixture
        def student_factory(self):
            return lambda: MyStudent(epochs=1)

The data fixtures have defaults a subclass may override: ``task`` (an exclusive
``TextCat(["ham", "spam"])``), ``train_pairs`` (the first 400 rows of the shared sms_spam train split,
gold labels as targets) and ``test_examples`` (the first 200 test rows, with their reference answers,
which the suite strips before predicting). The multi-label checks use ``multilabel_task``,
``multilabel_train_pairs`` and ``multilabel_test_examples`` (a small synthetic keyword data set by
default) and ``multilabel_student_factory`` (``student_factory`` by default); they are skipped when the
student says ``supports_multilabel = False`` or its factory raises. The example-weight checks
(down-weighted wrong labels must lose to the right ones; bad weights are refused; a weighted fit
survives save/load) run only for a student that says ``supports_weights = True``.

Every check is written so that a wrong implementation fails it; the suite never imports a backend
library. Each test fits its own student (students are mutable), so keep the training data small.
"""

from __future__ import annotations

import json
import math
import random
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import pytest

from ..records import Categories, Example, TaskOutput
from ..student import Student, StudentPrediction, TrainPair
from ..student_batch import CategoriesBatch
from ..tasks import Task, TextCat
from .data import load_split

StudentFactory = Callable[[], Student]

#: The first byte of every pickle since protocol 2 (the PROTO opcode).
PICKLE_MAGIC = b"\x80"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin")


# -- default data -------------------------------------------------------------------------------
def gold_pairs(task: Task, examples: Sequence[Example]) -> list[TrainPair]:
    """Training pairs with each example's reference answer as the target (answer stripped)."""
    pairs: list[TrainPair] = []
    for example in examples:
        reference = task.reference(example)
        if reference is None:
            raise ValueError(f"example {example.id!r} has no reference answer to train on")
        pairs.append((example.without_answer(), reference))
    return pairs


@cache
def _sms_spam(split: str, limit: int) -> tuple[Example, ...]:
    return tuple(load_split("sms_spam", split, limit=limit))


def default_train_pairs(task: Task, limit: int = 400) -> list[TrainPair]:
    """The first ``limit`` rows of the sms_spam train split as gold training pairs."""
    return gold_pairs(task, _sms_spam("train", limit))


def default_test_examples(limit: int = 200) -> list[Example]:
    """The first ``limit`` rows of the sms_spam test split, with their reference answers."""
    return list(_sms_spam("test", limit))


MULTILABEL_KEYWORDS: dict[str, tuple[str, ...]] = {
    "billing": ("invoice", "refund", "charged", "payment", "billing"),
    "bug": ("crash", "error", "broken", "freezes", "bug"),
    "praise": ("love", "great", "awesome", "thanks", "wonderful"),
}
_FILLER = [
    "the",
    "app",
    "today",
    "my",
    "account",
    "again",
    "when",
    "i",
    "open",
    "it",
    "this",
    "morning",
    "please",
    "and",
    "was",
    "so",
    "for",
    "after",
    "update",
    "on",
    "phone",
    "just",
]


def multilabel_examples(n: int, seed: int) -> list[Example]:
    """A synthetic multi-label set: each label is present, independently, with probability 0.4,
    and shows as one or two of its keywords among filler words. Deterministic for a seed."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        labels = [label for label in MULTILABEL_KEYWORDS if rng.random() < 0.4]
        words = rng.sample(_FILLER, rng.randint(4, 8))
        for label in labels:
            for _ in range(rng.randint(1, 2)):
                words.insert(rng.randrange(len(words) + 1), rng.choice(MULTILABEL_KEYWORDS[label]))
        examples.append(Example(id=f"ml-{seed}-{i:04d}", text=" ".join(words), labels=labels))
    return examples


# -- scoring helpers ----------------------------------------------------------------------------
def _labels(output: TaskOutput) -> frozenset[str]:
    assert isinstance(output, Categories), f"expected Categories, got {type(output).__name__}"
    return frozenset(output.labels)


def _accuracy(gold: Sequence[frozenset[str]], predicted: Sequence[frozenset[str]]) -> float:
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def _micro_f1(gold: Sequence[frozenset[str]], predicted: Sequence[frozenset[str]]) -> float:
    tp = sum(len(g & p) for g, p in zip(gold, predicted, strict=True))
    total = sum(map(len, gold)) + sum(map(len, predicted))
    return 2 * tp / total if total else 0.0


def _gold_sets(task: Task, examples: Sequence[Example]) -> list[frozenset[str]]:
    sets = []
    for example in examples:
        reference = task.reference(example)
        assert isinstance(reference, Categories), f"test example {example.id!r} has no labels"
        sets.append(frozenset(reference.labels))
    return sets


def _inputs(examples: Sequence[Example]) -> list[Example]:
    return [example.without_answer() for example in examples]


def assert_same_predictions(
    expected: Sequence[StudentPrediction],
    actual: Sequence[StudentPrediction],
    tolerance: float = 1e-9,
    what: str = "predictions",
) -> None:
    """Same length, same labels, scores and confidence equal within ``tolerance``."""
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs for {len(expected)}"
    for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
        where = f"{what}, example {i}"
        assert got.output.kind == want.output.kind, where
        if isinstance(want.output, Categories) and isinstance(got.output, Categories):
            assert got.output.labels == want.output.labels, f"{where}: labels differ"
            assert set(got.output.scores) == set(want.output.scores), f"{where}: score keys differ"
            for label, score in want.output.scores.items():
                assert got.output.scores[label] == pytest.approx(score, abs=tolerance), (
                    f"{where}: score of {label!r} differs"
                )
        else:
            assert got.output == want.output, f"{where}: outputs differ"
        if want.confidence is None:
            assert got.confidence is None, f"{where}: confidence differs"
        else:
            assert got.confidence is not None, f"{where}: confidence lost"
            assert got.confidence == pytest.approx(want.confidence, abs=tolerance), (
                f"{where}: confidence differs"
            )


def assert_valid_predictions(
    task: Task, examples: Sequence[Example], predictions: Sequence[StudentPrediction]
) -> None:
    """One StudentPrediction per example, each output valid for the task, confidence in [0, 1]."""
    assert isinstance(predictions, list | CategoriesBatch), (
        f"predict must return a list or a distil.CategoriesBatch, got {type(predictions)}"
    )
    assert len(predictions) == len(examples), (
        f"predict returned {len(predictions)} outputs for {len(examples)} examples"
    )
    for i, prediction in enumerate(predictions):
        assert isinstance(prediction, StudentPrediction), f"output {i} is {type(prediction)}"
        task.validate_output(prediction.output)  # raises ParseError when invalid
        confidence = prediction.confidence
        if confidence is not None:
            assert math.isfinite(confidence) and 0.0 <= confidence <= 1.0, (
                f"output {i}: confidence {confidence} is not in [0, 1]"
            )
        if isinstance(prediction.output, Categories):
            for label, score in prediction.output.scores.items():
                assert label in task.labels, f"output {i}: score for unknown label {label!r}"
                assert math.isfinite(score), f"output {i}: score of {label!r} is {score}"


def _saved_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def assert_no_pickles(folder: Path) -> None:
    """No file under ``folder`` (nor any member of a zip file there) is a pickle."""
    files = _saved_files(folder)
    assert files, f"save() wrote no files into {folder}"
    for path in files:
        name = path.relative_to(folder)
        assert path.suffix.lower() not in PICKLE_SUFFIXES, f"{name}: a pickle-format file name"
        with path.open("rb") as handle:
            assert handle.read(1) != PICKLE_MAGIC, f"{name} is a pickle"
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    assert not member.lower().endswith(PICKLE_SUFFIXES), f"{name}:{member}"
                    with archive.open(member) as handle:
                        assert handle.read(1) != PICKLE_MAGIC, f"{name}:{member} is a pickle"


# -- the suite ----------------------------------------------------------------------------------
class StudentConformance:
    """Subclass and provide ``student_factory``; see the module docstring for the fixtures."""

    @pytest.fixture
    def student_factory(self) -> StudentFactory:
        pytest.fail(
            f"{type(self).__name__} must define a `student_factory` fixture returning a zero-argument "
            "callable that builds a fresh, untrained student"
        )

    @pytest.fixture
    def task(self) -> Task:
        return TextCat(["ham", "spam"])

    @pytest.fixture
    def train_pairs(self, task: Task) -> list[TrainPair]:
        return default_train_pairs(task)

    @pytest.fixture
    def test_examples(self) -> list[Example]:
        return default_test_examples()

    @pytest.fixture
    def multilabel_student_factory(self, student_factory: StudentFactory) -> StudentFactory:
        return student_factory

    @pytest.fixture
    def multilabel_task(self) -> Task:
        return TextCat(list(MULTILABEL_KEYWORDS), multilabel=True)

    @pytest.fixture
    def multilabel_train_pairs(self, multilabel_task: Task) -> list[TrainPair]:
        return gold_pairs(multilabel_task, multilabel_examples(300, seed=1))

    @pytest.fixture
    def multilabel_test_examples(self) -> list[Example]:
        return multilabel_examples(100, seed=2)

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def fitted(factory: StudentFactory, task: Task, train_pairs: list[TrainPair]) -> Student:
        student = factory()
        assert isinstance(student, Student), f"the factory built {type(student)}, not a Student"
        student.fit(task, train_pairs)
        return student

    @staticmethod
    def assert_survives_save_load(
        student: Student,
        inputs: list[Example],
        before: Sequence[StudentPrediction],
        folder: Path,
        what: str,
    ) -> None:
        """Save ``student`` into ``folder`` with no pickle, load it back, and get ``before``."""
        student.save(folder)
        assert_no_pickles(folder)
        loaded = type(student).load(folder)
        assert_same_predictions(before, loaded.predict(inputs), what=what)

    # -- exclusive checks --------------------------------------------------------------------
    def test_fit_returns_a_json_able_report(
        self, student_factory: StudentFactory, task: Task, train_pairs: list[TrainPair]
    ) -> None:
        student = student_factory()
        report = student.fit(task, train_pairs)
        assert isinstance(report, dict), f"fit must return a dict report, got {type(report)}"
        json.dumps(report)  # raises TypeError when the report is not JSON-able

    def test_predict_returns_one_valid_prediction_per_example(
        self,
        student_factory: StudentFactory,
        task: Task,
        train_pairs: list[TrainPair],
        test_examples: list[Example],
    ) -> None:
        student = self.fitted(student_factory, task, train_pairs)
        inputs = _inputs(test_examples)
        assert_valid_predictions(task, inputs, student.predict(inputs))

    def test_predictions_follow_the_input_order(
        self,
        student_factory: StudentFactory,
        task: Task,
        train_pairs: list[TrainPair],
        test_examples: list[Example],
    ) -> None:
        student = self.fitted(student_factory, task, train_pairs)
        inputs = _inputs(test_examples)
        batch = student.predict(inputs)
        reverse = student.predict(inputs[::-1])[::-1]
        assert_same_predictions(batch, reverse, tolerance=1e-6, what="reversed batch")
        for i in range(min(5, len(inputs))):
            alone = student.predict([inputs[i]])
            assert_same_predictions(batch[i : i + 1], alone, tolerance=1e-6, what=f"example {i}")

    def test_predict_ignores_reference_answers(
        self,
        student_factory: StudentFactory,
        task: Task,
        train_pairs: list[TrainPair],
        test_examples: list[Example],
    ) -> None:
        student = self.fitted(student_factory, task, train_pairs)
        with_answers = student.predict(list(test_examples))
        without = student.predict(_inputs(test_examples))
        assert_same_predictions(without, with_answers, what="inputs with reference answers")

    def test_beats_the_majority_class_baseline(
        self,
        student_factory: StudentFactory,
        task: Task,
        train_pairs: list[TrainPair],
        test_examples: list[Example],
    ) -> None:
        student = self.fitted(student_factory, task, train_pairs)
        gold = _gold_sets(task, test_examples)
        predicted = [_labels(p.output) for p in student.predict(_inputs(test_examples))]
        majority = Counter(_labels(o) for _, o in train_pairs)
        baseline = _accuracy(gold, [majority.most_common(1)[0][0]] * len(gold))
        accuracy = _accuracy(gold, predicted)
        assert accuracy > baseline, (
            f"accuracy {accuracy:.3f} does not beat the majority-class baseline {baseline:.3f}"
        )

    def test_save_then_load_gives_identical_outputs(
        self,
        student_factory: StudentFactory,
        task: Task,
        train_pairs: list[TrainPair],
        test_examples: list[Example],
        tmp_path: Path,
    ) -> None:
        student = self.fitted(student_factory, task, train_pairs)
        inputs = _inputs(test_examples)
        before = student.predict(inputs)
        student.save(tmp_path / "model")
        loaded = type(student).load(tmp_path / "model")
        assert isinstance(loaded, type(student)) and loaded is not student
        assert_same_predictions(before, loaded.predict(inputs), what="after save/load")

    def test_save_writes_no_pickle_files(
        self,
        student_factory: StudentFactory,
        task: Task,
        train_pairs: list[TrainPair],
        tmp_path: Path,
    ) -> None:
        student = self.fitted(student_factory, task, train_pairs)
        student.save(tmp_path / "model")
        assert_no_pickles(tmp_path / "model")

    def test_predict_of_no_examples_is_an_empty_list(
        self, student_factory: StudentFactory, task: Task, train_pairs: list[TrainPair]
    ) -> None:
        student = self.fitted(student_factory, task, train_pairs)
        assert student.predict([]) == []

    def test_fit_is_deterministic(
        self,
        student_factory: StudentFactory,
        task: Task,
        train_pairs: list[TrainPair],
        test_examples: list[Example],
    ) -> None:
        inputs = _inputs(test_examples)
        first = self.fitted(student_factory, task, train_pairs).predict(inputs)
        second = self.fitted(student_factory, task, train_pairs).predict(inputs)
        assert_same_predictions(first, second, what="second fit on the same data")

    # -- multi-label checks ------------------------------------------------------------------
    def multilabel_student(self, factory: StudentFactory) -> Student:
        """A fresh student for the multi-label checks, or skip when the student has none."""
        try:
            student = factory()
        except Exception as exc:
            pytest.skip(f"the multi-label student factory raised {type(exc).__name__}: {exc}")
        if getattr(student, "supports_multilabel", True) is False:
            pytest.skip(f"{type(student).__name__} does not support multi-label tasks")
        return student

    def test_multilabel_outputs_are_valid_and_beat_the_frequent_label_baseline(
        self,
        multilabel_student_factory: StudentFactory,
        multilabel_task: Task,
        multilabel_train_pairs: list[TrainPair],
        multilabel_test_examples: list[Example],
    ) -> None:
        student = self.multilabel_student(multilabel_student_factory)
        report = student.fit(multilabel_task, multilabel_train_pairs)
        assert isinstance(report, dict)
        json.dumps(report)
        inputs = _inputs(multilabel_test_examples)
        predictions = student.predict(inputs)
        assert_valid_predictions(multilabel_task, inputs, predictions)
        gold = _gold_sets(multilabel_task, multilabel_test_examples)
        predicted = [_labels(p.output) for p in predictions]
        counts = Counter(x for _, o in multilabel_train_pairs for x in _labels(o))
        frequent = frozenset([counts.most_common(1)[0][0]])
        baseline = _micro_f1(gold, [frequent] * len(gold))
        f1 = _micro_f1(gold, predicted)
        assert f1 > baseline, (
            f"micro-F1 {f1:.3f} does not beat the frequent-label baseline {baseline:.3f}"
        )

    def test_multilabel_save_then_load_gives_identical_outputs(
        self,
        multilabel_student_factory: StudentFactory,
        multilabel_task: Task,
        multilabel_train_pairs: list[TrainPair],
        multilabel_test_examples: list[Example],
        tmp_path: Path,
    ) -> None:
        student = self.multilabel_student(multilabel_student_factory)
        student.fit(multilabel_task, multilabel_train_pairs)
        inputs = _inputs(multilabel_test_examples)
        before = student.predict(inputs)
        self.assert_survives_save_load(
            student, inputs, before, tmp_path / "model", "multi-label after save/load"
        )

    # -- example weights (students with ``supports_weights``) --------------------------------
    @staticmethod
    def weighted_student(factory: StudentFactory | Student) -> Student:
        """A fresh student from ``factory`` (or the student given), or skip when it takes no
        example weights."""
        student = factory if isinstance(factory, Student) else factory()
        if not getattr(student, "supports_weights", False):
            pytest.skip(f"{type(student).__name__} takes no example weights (supports_weights)")
        return student

    def test_weights_decide_between_conflicting_labels(
        self,
        student_factory: StudentFactory,
        task: Task,
        train_pairs: list[TrainPair],
        tmp_path: Path,
    ) -> None:
        """Each of 100 texts is given four times: once with its right label at weight 1, three
        times with a wrong one at weight 0.01. Unweighted, the student learns the wrong labels
        (three against one); weighted, the right ones, and keeps them through save/load."""
        if not isinstance(task, TextCat) or task.multilabel:
            pytest.skip("the check gives an exclusive TextCat task's texts conflicting labels")
        labels = list(task.labels)
        texts = train_pairs[:100]
        noisy: list[TrainPair] = []
        weights: list[float] = []
        for example, output in texts:
            (label,) = _labels(output)
            wrong = labels[(labels.index(label) + 1) % len(labels)]
            noisy.append((example, output))
            weights.append(1.0)
            for copy in range(3):
                twin = example.model_copy(update={"id": f"{example.id}~{copy}"})
                noisy.append((twin, Categories(labels=[wrong])))
                weights.append(0.01)
        gold = [_labels(output) for _, output in texts]
        inputs = [example for example, _ in texts]
        plain = self.weighted_student(student_factory)
        plain.fit(task, noisy)
        weighted = self.weighted_student(student_factory)
        weighted.fit(task, noisy, weights=weights)  # type: ignore[call-arg]
        before = weighted.predict(inputs)
        unweighted_acc = _accuracy(gold, [_labels(p.output) for p in plain.predict(inputs)])
        weighted_acc = _accuracy(gold, [_labels(p.output) for p in before])
        assert weighted_acc > 0.8 and unweighted_acc < 0.5, (
            f"the weights should decide between the conflicting labels: accuracy on the 100 "
            f"texts {weighted_acc:.3f} weighted (want > 0.8), {unweighted_acc:.3f} unweighted "
            "(want < 0.5)"
        )
        self.assert_survives_save_load(
            weighted, inputs, before, tmp_path / "model", "weighted fit after save/load"
        )

    def test_weights_of_the_wrong_length_or_sign_are_refused(
        self, student_factory: StudentFactory, task: Task, train_pairs: list[TrainPair]
    ) -> None:
        student = self.weighted_student(student_factory)
        with pytest.raises(ValueError, match="weight"):
            student.fit(task, train_pairs, weights=[1.0] * (len(train_pairs) - 1))  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="weight"):
            student.fit(task, train_pairs, weights=[1.0] * (len(train_pairs) - 1) + [0.0])  # type: ignore[call-arg]

    def test_multilabel_weighted_fit_saves_and_loads(
        self,
        multilabel_student_factory: StudentFactory,
        multilabel_task: Task,
        multilabel_train_pairs: list[TrainPair],
        multilabel_test_examples: list[Example],
        tmp_path: Path,
    ) -> None:
        student = self.weighted_student(self.multilabel_student(multilabel_student_factory))
        weights = [1.0 if n % 2 else 0.5 for n in range(len(multilabel_train_pairs))]
        student.fit(multilabel_task, multilabel_train_pairs, weights=weights)  # type: ignore[call-arg]
        inputs = _inputs(multilabel_test_examples)
        before = student.predict(inputs)
        assert_valid_predictions(multilabel_task, inputs, before)
        self.assert_survives_save_load(
            student, inputs, before, tmp_path / "model", "weighted multi-label fit"
        )
