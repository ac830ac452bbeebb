"""``SklearnTextcat``: a TF-IDF + logistic regression student for text classification.

Exclusive tasks get one multinomial logistic regression. Multi-label tasks get one binary logistic
regression per label (one-vs-rest) and a decision threshold per label: ``config.threshold``, or
thresholds tuned on ``dev`` when one is given (see :func:`distil.tune_thresholds`).

Saved models are never pickled: the fitted pipeline is written with skops and loaded only when every
type it contains is on :data:`TRUSTED_TYPES`; everything else (the task, the label columns, the
thresholds, the config, library versions) goes into a readable ``meta.json``.

scikit-learn, skops and numpy are imported inside the methods that need them, so importing this
module (and the plugin) stays cheap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import distil

from .linear import (
    UntrustedModelError,
    fit_weighted,
    load_trusted,
    one_blas_thread,
    place_columns,
)
from .linear import plain_vocabulary as _plain_vocabulary

__all__ = ["SklearnTextcat", "TextcatConfig", "UntrustedModelError"]

FORMAT = "distil-sklearn.textcat/1"
PIPELINE_FILE = "pipeline.skops"
META_FILE = "meta.json"

#: Types a saved pipeline may contain. skops trusts all of them by default today (its
#: ``get_untrusted_types`` returns nothing for our pipelines, checked with scikit-learn 1.9 and
#: skops 0.16); listing them here keeps older/newer skops versions from widening what we load.
#: A file holding any other type is refused before anything in it is constructed.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.pipeline.Pipeline",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.preprocessing._label.LabelBinarizer",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
)

Analyzer = Literal["word", "char_wb", "word+char_wb"]


@dataclass(frozen=True)
class TextcatConfig:
    """The student's settings (the config keys of ``sklearn.textcat.v1``); validated on creation."""

    analyzer: Analyzer = "word"
    ngram_range_max: int = 2
    char_ngram_range: tuple[int, int] = (2, 5)
    min_df: int = 1
    max_features: int | None = 200_000
    sublinear_tf: bool = True
    lowercase: bool = True
    C: float = 4.0
    class_weight: Literal["balanced"] | None = "balanced"
    max_iter: int = 1000
    threshold: float = 0.5
    tune_thresholds: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.analyzer not in ("word", "char_wb", "word+char_wb"):
            problems.append(
                f"analyzer must be 'word', 'char_wb' or 'word+char_wb', not {self.analyzer!r}"
            )
        if self.ngram_range_max < 1:
            problems.append(f"ngram_range_max must be >= 1, not {self.ngram_range_max}")
        low, high = self.char_ngram_range
        if not 1 <= low <= high:
            problems.append(
                f"char_ngram_range must be (min, max) with 1 <= min <= max, not {(low, high)}"
            )
        if self.min_df < 1:
            problems.append(f"min_df must be >= 1, not {self.min_df}")
        if self.max_features is not None and self.max_features < 1:
            problems.append(f"max_features must be >= 1 or None, not {self.max_features}")
        if not self.C > 0:
            problems.append(f"C must be > 0, not {self.C}")
        if self.class_weight not in ("balanced", None):
            problems.append(f"class_weight must be 'balanced' or None, not {self.class_weight!r}")
        if self.max_iter < 1:
            problems.append(f"max_iter must be >= 1, not {self.max_iter}")
        if not 0.0 < self.threshold < 1.0:
            problems.append(f"threshold must be between 0 and 1, not {self.threshold}")
        if problems:
            raise ValueError("sklearn.textcat.v1: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextcatConfig:
        data = dict(data)
        if "char_ngram_range" in data:
            low, high = data["char_ngram_range"]
            data["char_ngram_range"] = (int(low), int(high))
        return cls(**data)


class SklearnTextcat(distil.Student):
    """TF-IDF + logistic regression for ``textcat`` tasks, exclusive or multi-label.

    ``predict`` gives every task label a probability in ``scores`` (0.0 for a label never seen in
    training) and the toolkit's confidence (:func:`distil.label_confidence`): exclusive, the
    probability of the chosen label; multi-label, the weakest "yes" (the smallest probability
    among the chosen labels) or, with none chosen, the weakest "no" (``1 - max(p)``).
    """

    name: ClassVar[str] = "sklearn.textcat"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"textcat"})
    supports_multilabel: ClassVar[bool] = True
    supports_weights: ClassVar[bool] = True

    def __init__(self, config: TextcatConfig | None = None) -> None:
        self.config = config or TextcatConfig()
        self.task: distil.TextCat | None = None
        self.report: dict[str, Any] = {}
        self._pipeline: Any = None
        # Task-label index of each probability column the classifier outputs.
        self._columns: list[int] = []
        # Multi-label only: labels that were constant in training (never / always present) and
        # their fixed probability (0.0 / 1.0), and the decision threshold of each task label.
        self._constant: dict[int, float] = {}
        self._thresholds: list[float] = []

    # -- training ------------------------------------------------------------------------------
    def fit(
        self,
        task: distil.Task,
        train: list[distil.TrainPair],
        dev: list[distil.TrainPair] | None = None,
        weights: list[float] | None = None,
    ) -> dict[str, Any]:
        import numpy as np

        self.check_task(task)
        if not isinstance(task, distil.TextCat):
            raise TypeError(f"{self.name} needs a TextCat task, got {type(task).__name__}")
        distil.check_weights(weights, train, self.name)
        texts, targets = distil.textcat_targets(task, train, "train")
        if not texts:
            raise ValueError(f"{self.name}: training needs examples, got an empty training set")
        started = time.perf_counter()
        columns = distil.label_columns(task, targets, self.name)
        y = np.asarray(columns.targets(targets), dtype=np.int64)
        pipeline = self._build_pipeline(multilabel=task.multilabel)
        with one_blas_thread():
            if weights is None:
                pipeline.fit(texts, y)
            else:
                fit_weighted(
                    pipeline,
                    texts,
                    y,
                    np.asarray(weights, dtype=np.float64),
                    pipeline.named_steps["classifier"],
                )
        _plain_vocabularies(pipeline.named_steps["features"])
        self.task = task
        self._pipeline = pipeline
        # Exclusive: the classifier's own column order (its classes_, the present labels sorted).
        exclusive = [int(c) for c in pipeline.classes_] if not task.multilabel else None
        self._columns = exclusive or columns.columns
        self._constant = columns.constant
        self._thresholds = [self.config.threshold] * len(task.labels)
        train_time = time.perf_counter() - started

        report: dict[str, Any] = {
            "student": self.name,
            "multilabel": task.multilabel,
            "n_train": len(texts),
            **columns.report(task.labels),
            "n_features": _n_features(pipeline.named_steps["features"]),
            "train_time_s": round(train_time, 4),
        }
        if task.multilabel:
            report["thresholds"] = f"fixed at {self.config.threshold}"
        if dev:
            dev_texts, dev_targets = distil.textcat_targets(task, dev, "dev")
            proba = self._probabilities(dev_texts)
            if task.multilabel and self.config.tune_thresholds:
                gold = [set(idx) for idx in dev_targets]
                tuned = distil.tune_thresholds(proba.tolist(), gold, self.config.threshold)
                self._thresholds = tuned.per_label
                report["thresholds"] = tuned.describe()
            report["n_dev"] = len(dev_texts)
            report.update(self._dev_scores(proba, dev_targets))
        self.report = report
        return dict(report)

    def _build_pipeline(self, multilabel: bool) -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import Pipeline

        classifier: Any = LogisticRegression(
            C=self.config.C, class_weight=self.config.class_weight, max_iter=self.config.max_iter
        )
        if multilabel:
            classifier = OneVsRestClassifier(classifier)
        return Pipeline([("features", self._build_features()), ("classifier", classifier)])

    def _build_features(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        cfg = self.config
        common = {
            "min_df": cfg.min_df,
            "max_features": cfg.max_features,
            "sublinear_tf": cfg.sublinear_tf,
            "lowercase": cfg.lowercase,
        }
        word = TfidfVectorizer(analyzer="word", ngram_range=(1, cfg.ngram_range_max), **common)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=cfg.char_ngram_range, **common)
        if cfg.analyzer == "word":
            return word
        if cfg.analyzer == "char_wb":
            return char
        return FeatureUnion([("word", word), ("char", char)])

    def _dev_scores(self, proba: Any, targets: list[list[int]]) -> dict[str, float]:
        task = self._require_fitted()
        predicted = [
            set(
                distil.choose_labels(row, multilabel=task.multilabel, thresholds=self._thresholds)[
                    0
                ]
            )
            for row in proba.tolist()
        ]
        return distil.dev_scores(predicted, [set(t) for t in targets], multilabel=task.multilabel)

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, examples: list[distil.Example]) -> Sequence[distil.StudentPrediction]:
        """One prediction per example, in order, with a score for every task label.

        The hot path stays in numpy: one ``predict_proba`` call and a vectorised choice of labels
        and confidences. What comes back is a :class:`distil.CategoriesBatch`: it holds the
        probability matrix and builds a document's ``Categories`` (a dict of scores) only when it
        is read, so 10,000 documents cost no more than scikit-learn's own ``predict_proba``.
        """
        self._require_fitted()
        if not examples:
            return []
        return self._predictions(self._probabilities([e.text for e in examples]))

    def _predictions(self, proba: Any) -> distil.CategoriesBatch:
        """The toolkit's predictions (labels, scores, confidence rule) of a probability array."""
        task = self._require_fitted()
        return distil.CategoriesBatch.from_probabilities(
            task.labels, proba, multilabel=task.multilabel, thresholds=self._thresholds
        )

    def _probabilities(self, texts: list[str]) -> Any:
        """An (n, n_task_labels) float64 array of probabilities, columns in task-label order."""
        import numpy as np

        task = self._require_fitted()
        # No thread limit here: scoring is a sparse product, which uses no BLAS threads.
        raw = np.asarray(self._pipeline.predict_proba(texts), dtype=np.float64)
        if task.multilabel and len(self._columns) == 1:
            raw = raw[:, 1:]  # a single binary column: keep P(label)
        return place_columns(raw, len(task.labels), self._columns, self._constant)

    def _require_fitted(self) -> distil.TextCat:
        return distil.require_fitted(self, self._pipeline, task_type=distil.TextCat)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write ``pipeline.skops`` (the fitted pipeline, skops format) and ``meta.json``."""
        import skops.io as sio

        task = self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        sio.dump(self._pipeline, folder / PIPELINE_FILE)
        distil.write_meta(
            folder,
            format=FORMAT,
            student=self.name,
            task=task.describe(),
            config=asdict(self.config),
            columns=self._columns,
            constant={str(j): v for j, v in self._constant.items()},
            thresholds=self._thresholds,
            fit_report=self.report,
            versions=distil.package_versions(
                "distil", "distil-sklearn", "scikit-learn", "skops", "numpy", "scipy"
            ),
        )

    @classmethod
    def load(cls, path: str | Path) -> SklearnTextcat:
        """Load a folder written by :meth:`save`; refuses pipelines holding untrusted types."""
        folder = Path(path)
        meta = distil.read_meta(
            folder, who="distil-sklearn", expected_format=FORMAT, needs=[PIPELINE_FILE]
        )
        pipeline = load_trusted(folder / PIPELINE_FILE, TRUSTED_TYPES, "distil-sklearn")
        task = distil.task_from_description(meta["task"], source=folder / META_FILE)
        if not isinstance(task, distil.TextCat):
            raise distil.DataError(f"{folder / META_FILE}: {cls.name} saved a {task.kind} task")
        student = cls(TextcatConfig.from_dict(meta["config"]))
        student.task = task
        student.report = dict(meta.get("fit_report") or {})
        student._pipeline = pipeline
        student._columns = [int(j) for j in meta["columns"]]
        student._constant = {int(j): float(v) for j, v in meta["constant"].items()}
        student._thresholds = [float(t) for t in meta["thresholds"]]
        return student


def _plain_vocabularies(features: Any) -> None:
    """Plain-int vocabularies (see :func:`.linear.plain_vocabulary`), through a FeatureUnion."""
    if hasattr(features, "transformer_list"):  # a FeatureUnion
        for _, step in features.transformer_list:
            _plain_vocabularies(step)
        return
    _plain_vocabulary(features)


def _n_features(features: Any) -> int:
    """The number of features the fitted vectorizer(s) produce."""
    if hasattr(features, "transformer_list"):  # a FeatureUnion
        return sum(_n_features(step) for _, step in features.transformer_list)
    return len(getattr(features, "vocabulary_", {}))
