"""The executor conformance suite: behaviour every executor plugin must show.

An executor decides where the label and predict stages run (:mod:`distil.execute`). Whatever runs
the work, a project must be able to switch executors mid-way, so the suite checks the contract of
:class:`distil.execute.Executor` against the real SQLite store:

* every answer ends up in the store, keyed by ``(source, example_id)``, equal to what the teacher
  or student gives for that example when asked directly;
* a second run asks nothing again (``already_done`` counts what was there), and a run limited to
  ``limit`` examples does only those, so a later full run finishes the rest;
* the returned :class:`~distil.teach.runner.LabelResult` / :class:`~distil.execute.PredictResult`
  counts are exact, and ``progress`` is called with counts that add up to the work done;
* ``predict`` given a ``model_dir`` gives the same answers as the fitted student it was saved from.

A plugin's tests subclass :class:`ExecutorConformance` and provide ``executor_factory`` (a
zero-argument callable returning a fresh executor)::

    from distil.testing.executors import ExecutorConformance

    class TestRayExecutor(ExecutorConformance):
        @pytest.fixture
        def executor_factory(self):
            return lambda: RayExecutor(num_cpus=2)

The teacher and student the suite uses are defined here (:class:`KeywordTeacher`,
:class:`KeywordStudent`): plain, picklable and importable by name, so an executor that ships work
to other processes can run them. The data are the first rows of the shared sms_spam splits.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ..execute import Executor
from ..records import Categories, Example, Prediction
from ..student import Student, StudentPrediction, TrainPair
from ..tasks import Task, TextCat
from ..teach.teacher import Teacher
from .data import load_split

ExecutorFactory = Callable[[], Any]
WORD = re.compile(r"[a-z0-9']+")
SPAM_WORDS = frozenset({"free", "win", "won", "prize", "call", "txt", "claim", "cash", "urgent"})
DATASET = "train"


class KeywordTeacher(Teacher):
    """A deterministic teacher with no model: "spam" when a text has a spammy word, else "ham"."""

    def source(self, task: Task) -> str:
        return "teacher:testing.keywords#v1"

    async def alabel(
        self, task: Task, examples: Sequence[Example], on_results: Any = None
    ) -> list[Prediction]:
        source = self.source(task)
        preds = []
        for ex in examples:
            spam = bool(set(WORD.findall(ex.text.lower())) & SPAM_WORDS)
            output = Categories(labels=["spam" if spam else "ham"])
            preds.append(Prediction(example_id=ex.id, source=source, output=output, confidence=0.9))
        if on_results is not None:
            maybe = on_results(preds)
            if asyncio.iscoroutine(maybe):
                await maybe
        return preds


class KeywordStudent(Student):
    """A word-vote classifier: each word votes for the labels it was seen with (JSON on disk)."""

    name: ClassVar[str] = "testing.keywords"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"textcat"})

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.votes: dict[str, dict[str, int]] = {}

    def fit(
        self, task: Task, train: list[TrainPair], dev: list[TrainPair] | None = None
    ) -> dict[str, Any]:
        self.labels = list(task.labels)
        votes: dict[str, Counter[str]] = {}
        for example, output in train:
            label = output.labels[0] if isinstance(output, Categories) and output.labels else None
            for word in set(WORD.findall(example.text.lower())):
                if label is not None:
                    votes.setdefault(word, Counter())[label] += 1
        self.votes = {w: dict(sorted(c.items())) for w, c in sorted(votes.items())}
        return {"words": len(self.votes)}

    def predict(self, examples: list[Example]) -> list[StudentPrediction]:
        out = []
        for ex in examples:
            tally = Counter({label: 0 for label in self.labels})
            for word in WORD.findall(ex.text.lower()):
                tally.update(self.votes.get(word, {}))
            total = sum(tally.values()) or 1
            scores = {label: tally[label] / total for label in self.labels}
            best = max(self.labels, key=lambda label: (scores[label], -self.labels.index(label)))
            out.append(StudentPrediction(Categories(labels=[best], scores=scores), scores[best]))
        return out

    def save(self, path: str | Path) -> None:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = {"labels": self.labels, "votes": self.votes}
        (folder / "votes.json").write_text(json.dumps(state), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> KeywordStudent:
        state = json.loads((Path(path) / "votes.json").read_text(encoding="utf-8"))
        student = cls()
        student.labels, student.votes = state["labels"], state["votes"]
        return student


def _dump(pred: Prediction) -> tuple[Any, ...]:
    output = pred.output.model_dump() if pred.output is not None else None
    return (pred.example_id, pred.source, output, pred.confidence, pred.error)


class ExecutorConformance:
    """Subclass and provide ``executor_factory``; see the module docstring for the contract."""

    #: Examples stored for each check (kept small: every check runs both stages).
    rows: ClassVar[int] = 60

    @pytest.fixture
    def executor_factory(self) -> ExecutorFactory:
        pytest.fail(
            f"{type(self).__name__} must define an `executor_factory` fixture returning a "
            "zero-argument callable that builds a fresh executor"
        )

    @pytest.fixture
    def task(self) -> Task:
        return TextCat(["ham", "spam"])

    @pytest.fixture
    def examples(self) -> list[Example]:
        return load_split("sms_spam", "train", limit=self.rows)

    @pytest.fixture
    def store(self, tmp_path: Path, examples: list[Example]) -> Iterator[Any]:
        """A project store in a temporary folder with the examples as data set ``train``."""
        from ..store.sqlite import Store

        with Store(tmp_path / "distil.db") as store:
            store.add_examples(examples, DATASET)
            yield store

    @pytest.fixture
    def teacher(self) -> KeywordTeacher:
        return KeywordTeacher()

    @pytest.fixture
    def student(self, task: Task) -> KeywordStudent:
        student = KeywordStudent()
        pairs = load_split("sms_spam", "dev", limit=200)
        student.fit(
            task, [(ex.without_answer(), Categories(labels=ex.labels or [])) for ex in pairs]
        )
        return student

    # -- label ---------------------------------------------------------------------------------
    def test_the_executor_has_a_name_and_both_stages(
        self, executor_factory: ExecutorFactory
    ) -> None:
        executor = executor_factory()
        assert isinstance(executor, Executor), f"{type(executor).__name__} is not an Executor"
        assert isinstance(executor.name, str) and executor.name

    def test_label_stores_what_the_teacher_answers_for_every_example(
        self,
        executor_factory: ExecutorFactory,
        store: Any,
        task: Task,
        teacher: KeywordTeacher,
        examples: list[Example],
    ) -> None:
        seen: list[int] = []
        result = executor_factory().label(store, task, teacher, DATASET, progress=seen.append)
        source = teacher.source(task)
        assert (result.source, result.dataset) == (source, DATASET)
        assert (result.total, result.already_done, result.labelled) == (
            len(examples),
            0,
            len(examples),
        )
        assert result.failures == 0
        assert sum(seen) == len(examples), f"progress reported {sum(seen)} of {len(examples)}"
        stored = store.predictions(source)
        direct = teacher.label(task, [ex.without_answer() for ex in examples])
        assert sorted(stored) == sorted(ex.id for ex in examples)
        assert sorted(_dump(stored[p.example_id]) for p in direct) == sorted(map(_dump, direct))

    def test_a_second_label_run_asks_nothing_again(
        self,
        executor_factory: ExecutorFactory,
        store: Any,
        task: Task,
        teacher: KeywordTeacher,
        examples: list[Example],
    ) -> None:
        executor = executor_factory()
        executor.label(store, task, teacher, DATASET)
        again = executor_factory().label(store, task, teacher, DATASET)
        assert (again.already_done, again.labelled) == (len(examples), 0)
        assert len(store.predictions(teacher.source(task))) == len(examples)

    def test_a_limited_label_run_is_finished_by_the_next_full_one(
        self,
        executor_factory: ExecutorFactory,
        store: Any,
        task: Task,
        teacher: KeywordTeacher,
        examples: list[Example],
    ) -> None:
        first = executor_factory().label(store, task, teacher, DATASET, limit=10)
        assert (first.total, first.labelled) == (10, 10)
        assert set(store.predictions(teacher.source(task))) == {ex.id for ex in examples[:10]}
        rest = executor_factory().label(store, task, teacher, DATASET)
        assert (rest.already_done, rest.labelled) == (10, len(examples) - 10)

    # -- predict -------------------------------------------------------------------------------
    def test_predict_stores_what_the_student_predicts_for_every_example(
        self,
        executor_factory: ExecutorFactory,
        store: Any,
        task: Task,
        student: KeywordStudent,
        examples: list[Example],
    ) -> None:
        seen: list[int] = []
        source = "student:testing.keywords#run=1"
        result = executor_factory().predict(
            store, task, student, DATASET, source=source, progress=seen.append
        )
        assert (result.source, result.dataset) == (source, DATASET)
        assert (result.total, result.already_done, result.predicted) == (
            len(examples),
            0,
            len(examples),
        )
        assert sum(seen) == len(examples), f"progress reported {sum(seen)} of {len(examples)}"
        stored = store.predictions(source)
        direct = student.predict([ex.without_answer() for ex in examples])
        for ex, want in zip(examples, direct, strict=True):
            got = stored.get(ex.id)
            assert got is not None, f"no stored prediction for {ex.id!r}"
            assert got.output == want.output, (
                f"{ex.id}: stored {got.output}, predicted {want.output}"
            )
            assert got.confidence == pytest.approx(want.confidence)

    def test_predict_from_a_saved_model_gives_the_same_answers(
        self,
        executor_factory: ExecutorFactory,
        store: Any,
        task: Task,
        student: KeywordStudent,
        examples: list[Example],
        tmp_path: Path,
    ) -> None:
        student.save(tmp_path / "model")
        executor = executor_factory()
        executor.predict(store, task, student, DATASET, source="student:a#run=1")
        executor.predict(
            store, task, student, DATASET, source="student:b#run=1", model_dir=tmp_path / "model"
        )
        fitted, loaded = store.predictions("student:a#run=1"), store.predictions("student:b#run=1")
        assert sorted(fitted) == sorted(loaded) == sorted(ex.id for ex in examples)
        for key, pred in fitted.items():
            assert loaded[key].output == pred.output, key

    def test_a_second_predict_run_predicts_nothing_again(
        self,
        executor_factory: ExecutorFactory,
        store: Any,
        task: Task,
        student: KeywordStudent,
        examples: list[Example],
    ) -> None:
        source = "student:testing.keywords#run=1"
        first = executor_factory().predict(store, task, student, DATASET, source=source, limit=25)
        assert (first.total, first.predicted) == (25, 25)
        rest = executor_factory().predict(store, task, student, DATASET, source=source)
        assert (rest.already_done, rest.predicted) == (25, len(examples) - 25)
        again = executor_factory().predict(store, task, student, DATASET, source=source)
        assert (again.already_done, again.predicted) == (len(examples), 0)


__all__ = ["ExecutorConformance", "KeywordStudent", "KeywordTeacher"]
