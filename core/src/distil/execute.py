"""Executors: where the label and predict stages run.

The label stage (a teacher over a data set) and the predict stage (a trained student over a data
set) do not care whether their work happens in this process or on a cluster; an executor decides.
``local.v1`` (the default) is today's behaviour: the teacher's async loop and the student's
batched ``predict`` in this process, every answer committed to the store as it arrives. Other
executors are plugins (``register_executors``; ``distil-ray`` adds ``ray.v1``) chosen in config::

    [executor]
    @executors = "ray.v1"
    address = "ray://head:10001"

Whatever runs the work, the contract is the same, so a project can switch executors mid-way:

* the results end up in the project's store, keyed by ``(source, dataset, example_id)``: pass
  ``dataset`` to every prediction method of the store (ids are unique within a data set only);
* examples this source already answered are skipped, so a restarted job asks nothing twice;
* the return value is the stage's result (:class:`~distil.teach.runner.LabelResult`,
  :class:`PredictResult`) with the same meaning.
"""

from __future__ import annotations

import time
from abc import ABC
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .records import Example, Prediction
from .student import Student
from .tasks import Task
from .teach.runner import LabelResult, label_dataset
from .teach.teacher import Teacher

if TYPE_CHECKING:
    from .store.sqlite import Store

Progress = Callable[[int], None]


@dataclass
class PredictResult:
    """What one predict run did: ``predicted`` new predictions of ``source`` on ``dataset``."""

    source: str
    dataset: str
    total: int
    already_done: int
    predicted: int
    seconds: float

    @property
    def docs_per_s(self) -> float:
        return self.predicted / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "docs_per_s": self.docs_per_s}


class Executor(ABC):  # noqa: B024 (no abstract method: ``label`` and ``predict`` raise instead)
    """Base class of executors: runs the label and predict stages (see the module docstring).

    Subclass it, as students subclass :class:`~distil.Student` and teachers
    :class:`~distil.Teacher`, and override ``label`` and ``predict``. An executor written before
    this was a base class (any object with ``name``, ``label`` and ``predict``) still counts as
    one: ``isinstance`` checks the shape (callable ``label`` and ``predict``), so config and the conformance suite accept both.
    """

    #: Registered name family, e.g. "local" or "ray".
    name: ClassVar[str] = "executor"

    @classmethod
    def __subclasshook__(cls, other: type) -> Any:
        if cls is Executor and all(
            callable(getattr(other, attr, None)) for attr in ("label", "predict")
        ):
            return True
        return NotImplemented

    def label(
        self,
        store: Store,
        task: Task,
        teacher: Teacher,
        dataset: str,
        *,
        limit: int | None = None,
        run_id: str | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> LabelResult:
        """Label the examples of ``dataset`` the teacher has not answered; store every answer.

        ``options`` are the ``[label]`` settings of :func:`~distil.teach.runner.label_dataset`
        (``mode``, ``batch_size_jobs``, ``poll_interval``); an executor that cannot honour one
        raises :class:`~distil.errors.ConfigError` naming it.
        """
        raise NotImplementedError

    def predict(
        self,
        store: Store,
        task: Task,
        student: Student,
        dataset: str,
        *,
        source: str,
        model_dir: str | Path | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> PredictResult:
        """Predict the examples of ``dataset`` that ``source`` has not answered; store them.

        ``model_dir`` is where the trained student was saved: executors that run elsewhere load
        it from there (once per worker) instead of shipping the fitted object.
        """
        raise NotImplementedError


def pending_examples(
    store: Store, dataset: str, source: str, limit: int | None = None
) -> tuple[list[Example], list[Example]]:
    """``(all, pending)``: the data set's examples, and those ``source`` has not answered yet."""
    examples = store.examples(dataset, limit=limit)
    done = store.answered_ids(source, dataset=dataset)
    return examples, [ex for ex in examples if ex.id not in done]


def student_predictions(student: Student, examples: list[Example], source: str) -> list[Prediction]:
    """One batch through ``student.predict`` as stored predictions (answers never shown to it)."""
    outputs = student.predict([ex.without_answer() for ex in examples])
    return [
        Prediction(example_id=ex.id, source=source, output=o.output, confidence=o.confidence)
        for ex, o in zip(examples, outputs, strict=True)
    ]


class LocalExecutor(Executor):
    """``local.v1``: both stages in this process (the teacher's async loop, batched predict).

    ``batch_size`` is the number of examples per ``predict`` call; each batch is committed to
    the store before the next starts, so a killed predict run resumes where it stopped.
    """

    name = "local"

    def __init__(self, batch_size: int = 1024) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"LocalExecutor(batch_size={self.batch_size})"

    def label(
        self,
        store: Store,
        task: Task,
        teacher: Teacher,
        dataset: str,
        *,
        limit: int | None = None,
        run_id: str | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> LabelResult:
        return label_dataset(
            store,
            task,
            teacher,
            dataset,
            limit=limit,
            run_id=run_id,
            progress=progress,
            **options,
        )

    def predict(
        self,
        store: Store,
        task: Task,
        student: Student,
        dataset: str,
        *,
        source: str,
        model_dir: str | Path | None = None,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> PredictResult:
        started = time.perf_counter()
        examples, pending = pending_examples(store, dataset, source, limit)
        for i in range(0, len(pending), self.batch_size):
            preds = student_predictions(student, pending[i : i + self.batch_size], source)
            store.add_predictions(preds, dataset)  # committed before progress is reported
            if progress is not None:
                progress(len(preds))
        return PredictResult(
            source=source,
            dataset=dataset,
            total=len(examples),
            already_done=len(examples) - len(pending),
            predicted=len(pending),
            seconds=time.perf_counter() - started,
        )


def make_local_executor(batch_size: int = 1024) -> LocalExecutor:
    """``local.v1``: run the label and predict stages in this process (the default)."""
    return LocalExecutor(batch_size=batch_size)
