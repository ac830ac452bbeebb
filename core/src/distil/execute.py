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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ._async import run_sync
from .errors import ConfigError
from .records import Example, Prediction
from .store.corpus import (
    CorpusResult,
    ResultShard,
    ShardRows,
    finish_shard,
    start_corpus,
)
from .student import Student
from .tasks import Task
from .teach.ledger import sum_ledgers
from .teach.runner import LabelResult, label_dataset
from .teach.teacher import CacheEntry, PromptTeacher, Teacher

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

    def label_corpus(
        self,
        store: Store,
        task: Task,
        teacher: Teacher,
        corpus: str | Path,
        output: str | Path,
        *,
        dataset: str | None = None,
        run_id: str | None = None,
        progress: Progress | None = None,
    ) -> CorpusResult:
        """Label a folder of JSONL or Parquet shards where it lies, one result shard each.

        Results go to ``output`` (see :mod:`distil.store.corpus`); with ``dataset``, each
        finished shard is also merged into the store (its examples, predictions and cache
        entries). Resumable: finished shards are skipped, a partial one goes on where it
        stopped.
        """
        raise ConfigError(f"the {self.name} executor does not label a corpus of shards")

    def predict_corpus(
        self,
        store: Store,
        task: Task,
        student: Student,
        corpus: str | Path,
        output: str | Path,
        *,
        source: str,
        model_dir: str | Path | None = None,
        dataset: str | None = None,
        progress: Progress | None = None,
    ) -> CorpusResult:
        """Run a trained student over a folder of shards; results as :meth:`label_corpus`."""
        raise ConfigError(f"the {self.name} executor does not predict a corpus of shards")


def pending_examples(
    store: Store, dataset: str, source: str, limit: int | None = None
) -> tuple[list[Example], list[Example]]:
    """``(all, pending)``: the data set's examples, and those ``source`` has not answered yet.

    Loads both lists; the shipped executors read :meth:`~distil.store.sqlite.Store.pending_examples`
    page by page instead, with :func:`pending_counts` for the totals.
    """
    examples = store.examples(dataset, limit=limit)
    done = store.answered_ids(source, dataset=dataset)
    return examples, [ex for ex in examples if ex.id not in done]


def pending_counts(
    store: Store, dataset: str, source: str, limit: int | None = None
) -> tuple[int, int]:
    """``(total, already)``: the data set's first ``limit`` examples, and how many ``source``
    answered, by two counts (nothing loaded)."""
    count = store.count_examples(dataset)
    total = count if limit is None else max(0, min(limit, count))
    return total, store.count_answered(source, dataset, limit=limit)


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
        total, already = pending_counts(store, dataset, source, limit)
        predicted = 0
        # page by page from the store's anti-join: memory holds one batch, not the data set
        for page in store.pending_examples(dataset, source, limit=limit, page_size=self.batch_size):
            preds = student_predictions(student, page, source)
            store.add_predictions(preds, dataset)  # committed before progress is reported
            predicted += len(preds)
            if progress is not None:
                progress(len(preds))
        return PredictResult(
            source=source,
            dataset=dataset,
            total=total,
            already_done=already,
            predicted=predicted,
            seconds=time.perf_counter() - started,
        )

    def label_corpus(
        self,
        store: Store,
        task: Task,
        teacher: Teacher,
        corpus: str | Path,
        output: str | Path,
        *,
        dataset: str | None = None,
        run_id: str | None = None,
        progress: Progress | None = None,
    ) -> CorpusResult:
        started = time.perf_counter()
        source = teacher.source(task)
        result, todo = start_corpus("label", source, corpus, output, store, dataset, run_id)
        if isinstance(teacher, PromptTeacher) and teacher.cache is None:
            teacher.cache = store  # hits from the project's LLM cache, new entries into it
        for shard in todo:
            out = ResultShard(shard, "label", source)
            rows = ShardRows(shard, out, self.batch_size)

            def on_write(
                preds: list[Prediction], entries: Sequence[CacheEntry], rows: ShardRows = rows
            ) -> None:
                store.cache_put_many(list(entries))  # the cache first: a kill re-asks nothing
                rows.write(preds)
                if progress is not None and preds:
                    progress(len(preds))

            def on_results(preds: list[Prediction], rows: ShardRows = rows) -> None:
                rows.write(preds)
                if progress is not None and preds:
                    progress(len(preds))

            try:
                if isinstance(teacher, PromptTeacher) and teacher.cache is store:
                    run_sync(teacher.astream(task, rows.pages(), on_write=on_write))
                else:
                    run_sync(teacher.astream(task, rows.pages(), on_results=on_results))
                finish_shard(out, store, dataset, run_id, result)
            finally:
                out.close()
                if isinstance(teacher, PromptTeacher):  # each shard's pass has its ledger
                    result.ledger = sum_ledgers(result.ledger, teacher.ledger.to_dict())
        result.seconds = time.perf_counter() - started
        return result

    def predict_corpus(
        self,
        store: Store,
        task: Task,
        student: Student,
        corpus: str | Path,
        output: str | Path,
        *,
        source: str,
        model_dir: str | Path | None = None,
        dataset: str | None = None,
        progress: Progress | None = None,
    ) -> CorpusResult:
        started = time.perf_counter()
        result, todo = start_corpus("predict", source, corpus, output, store, dataset)
        for shard in todo:
            out = ResultShard(shard, "predict", source)
            rows = ShardRows(shard, out, self.batch_size)
            try:
                for page in rows.pages():
                    rows.write(student_predictions(student, page, source))
                    if progress is not None:
                        progress(len(page))
                finish_shard(out, store, dataset, None, result)
            finally:
                out.close()
        result.seconds = time.perf_counter() - started
        return result


def make_local_executor(batch_size: int = 1024) -> LocalExecutor:
    """``local.v1``: run the label and predict stages in this process (the default)."""
    return LocalExecutor(batch_size=batch_size)
