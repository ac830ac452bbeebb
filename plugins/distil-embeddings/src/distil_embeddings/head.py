"""The head both students share: logistic regression on a text's vector (and, optionally, TF-IDF).

Exclusive tasks get one multinomial logistic regression; multi-label tasks one binary logistic
regression per label (one-vs-rest) and a decision threshold per label, tuned on dev with
:func:`distil.tune_thresholds` as the scikit-learn student does. With ``tfidf`` on, the features
are the vector (unit length) beside word 1-2-gram and char_wb 2-5-gram TF-IDF blocks (each of
unit length, scaled by ``tfidf_weight``): the embedding carries meaning and paraphrase, TF-IDF the
exact words and spellings (product names, codes) an embedding blurs.

The fitted parts are saved with skops, never pickled, and loaded only when every type in the file
is on :data:`TRUSTED_TYPES`; the rest (label columns, thresholds) goes to the student's meta.json.
BLAS runs on one thread while fitting and scoring.

The plumbing the scikit-learn student has too is not copied here: the label columns, the
confidence rule and the dev scores come from core's student toolkit (:func:`distil.label_columns`,
:func:`distil.categories_predictions`, :func:`distil.dev_scores`), the skops trusted load, the
one-BLAS-thread context and the column placement from :mod:`distil_sklearn.linear` (this package
depends on distil-sklearn for them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import distil
from distil_sklearn.linear import (
    UntrustedModelError,
    fit_weighted,
    load_trusted,
    one_blas_thread,
    place_columns,
    plain_vocabulary,
)

from .config import HeadConfig

__all__ = ["TRUSTED_TYPES", "Head", "UntrustedModelError"]

HEAD_FILE = "head.skops"

#: Types a saved head may contain. skops trusts all of them by default today (its
#: ``get_untrusted_types`` returns nothing for our heads, checked with scikit-learn 1.9 and skops
#: 0.16); listing them keeps other skops versions from widening what we load. A file holding any
#: other type is refused before anything in it is constructed.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.preprocessing._label.LabelBinarizer",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float32",
    "numpy.float64",
    "numpy.int64",
)

#: TF-IDF settings of the hybrid features: those that scored best for the scikit-learn student.
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
MAX_FEATURES = 200_000


class Head:
    """A fitted (or loaded) head for one task: features, classifier, label columns, thresholds."""

    def __init__(self, config: HeadConfig, task: distil.TextCat) -> None:
        self.config = config
        self.task = task
        self.classifier: Any = None
        self.word: Any = None
        self.char: Any = None
        #: Task-label index of each probability column the classifier outputs.
        self.columns: list[int] = []
        #: Multi-label only: labels constant in training (never / always present), fixed at 0 / 1.
        self.constant: dict[int, float] = {}
        self.thresholds: list[float] = [config.threshold] * len(task.labels)
        self._linear: tuple[Any, Any, Any] | None = None

    # -- training ----------------------------------------------------------------------------------
    def fit(
        self,
        texts: list[str],
        vectors: Any,
        targets: list[list[int]],
        who: str,
        weights: list[float] | None = None,
    ) -> dict[str, Any]:
        """Fit on ``vectors`` (one row per text) and the task-label indices ``targets``.

        ``weights`` (one per text) scale each text's loss (``sample_weight``). Returns the
        report's head part. ``who`` names the student in error messages.
        """
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        learnable = distil.label_columns(self.task, targets, who)
        y = np.asarray(learnable.targets(targets), dtype=np.int64)
        classifier: Any = LogisticRegression(
            C=self.config.C, class_weight=self.config.class_weight, max_iter=self.config.max_iter
        )
        if self.task.multilabel and len(learnable.columns) > 1:
            classifier = OneVsRestClassifier(classifier)
        with one_blas_thread():
            if self.config.tfidf:
                self._fit_tfidf(texts)
            features = self.features(texts, vectors)
            if weights is None:
                classifier.fit(features, y)
            else:
                fit_weighted(classifier, features, y, np.asarray(weights, dtype=np.float64))
        self.classifier = classifier
        self.constant = learnable.constant
        if self.task.multilabel:
            self.columns = learnable.columns
        else:  # the classifier's own column order (its classes_, the present labels sorted)
            self.columns = [int(c) for c in classifier.classes_]
        return {
            **learnable.report(self.task.labels),
            "n_features": int(vectors.shape[1]) + self._n_tfidf_features(),
        }

    def _fit_tfidf(self, texts: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        common: dict[str, Any] = {"sublinear_tf": True, "max_features": MAX_FEATURES}
        self.word = TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, **common).fit(texts)
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, **common).fit(
            texts
        )
        for vectorizer in (self.word, self.char):
            plain_vocabulary(vectorizer)

    def _n_tfidf_features(self) -> int:
        return sum(len(v.vocabulary_) for v in (self.word, self.char) if v is not None)

    def tune(self, proba: Any, targets: list[list[int]]) -> str:
        """Tune multi-label thresholds on dev probabilities; returns the report line."""
        tuned = distil.tune_thresholds(
            proba.tolist(), [set(t) for t in targets], self.config.threshold
        )
        self.thresholds = tuned.per_label
        return tuned.describe()

    # -- scoring -----------------------------------------------------------------------------------
    def features(self, texts: list[str], vectors: Any) -> Any:
        """The classifier's input (float64): the vectors, or the vectors beside the TF-IDF blocks."""
        import numpy as np

        dense = np.asarray(vectors, dtype=np.float64)
        if self.word is None:
            return dense
        from scipy.sparse import csr_matrix, hstack

        weight = self.config.tfidf_weight
        blocks = [csr_matrix(dense), self.word.transform(texts), self.char.transform(texts)]
        if weight != 1.0:
            blocks[1:] = [block * weight for block in blocks[1:]]
        return hstack(blocks, format="csr", dtype=np.float64)

    def probabilities(self, texts: list[str], vectors: Any) -> Any:
        """An ``(n, n_task_labels)`` float64 array of probabilities, columns in task-label order.

        The classifier's linear map is applied in two parts, the dense vector block and the sparse
        TF-IDF blocks, instead of through scikit-learn's ``predict_proba`` on one stacked sparse
        matrix: the same probabilities (to float rounding), 2-3x faster, since a dense block stored
        as sparse is the slowest way to multiply it.
        """
        import numpy as np

        dense, sparse, bias = self._linear_map()
        with one_blas_thread():
            z = np.asarray(vectors, dtype=np.float64) @ dense
            if sparse is not None:
                tfidf = [self.word.transform(texts), self.char.transform(texts)]
                weight = self.config.tfidf_weight
                z += np.asarray(
                    (tfidf[0] @ sparse[0] + tfidf[1] @ sparse[1]) * weight, dtype=np.float64
                )
            z += bias
        if self.task.multilabel:
            raw = _expit(z)
        elif z.shape[1] == 1:  # a binary logistic regression: P(second class) = expit(z)
            p = _expit(z[:, 0])
            raw = np.stack([1.0 - p, p], axis=1)
        else:
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            raw = z / z.sum(axis=1, keepdims=True)
        return place_columns(raw, len(self.task.labels), self.columns, self.constant)

    def _linear_map(self) -> tuple[Any, Any, Any]:
        """The fitted classifier as ``(dense (dim, k), sparse blocks or None, bias (k,))``."""
        if self._linear is None:
            import numpy as np

            estimators = getattr(self.classifier, "estimators_", None)
            if estimators is not None:  # one-vs-rest: one binary regression per label column
                coef = np.vstack([e.coef_ for e in estimators])
                bias = np.concatenate([e.intercept_ for e in estimators])
            else:
                coef, bias = self.classifier.coef_, self.classifier.intercept_
            coef = np.asarray(coef, dtype=np.float64).T.copy()
            n_word = len(self.word.vocabulary_) if self.word is not None else 0
            dim = coef.shape[0] - n_word - (len(self.char.vocabulary_) if n_word else 0)
            sparse = (coef[dim : dim + n_word], coef[dim + n_word :]) if n_word else None
            self._linear = (coef[:dim], sparse, np.asarray(bias, dtype=np.float64))
        return self._linear

    def choose(self, row: list[float]) -> tuple[list[int], float]:
        """The chosen task-label indices of one probability row, and its confidence (the
        toolkit's rule, :func:`distil.choose_labels`, at this head's thresholds)."""
        return distil.choose_labels(
            row, multilabel=self.task.multilabel, thresholds=self.thresholds
        )

    def predictions(self, proba: Any) -> distil.CategoriesBatch:
        """One prediction per probability row, with a score for every task label, built on access
        (:class:`distil.CategoriesBatch`: the matrix is kept, no dict per document up front)."""
        return distil.CategoriesBatch.from_probabilities(
            self.task.labels, proba, multilabel=self.task.multilabel, thresholds=self.thresholds
        )

    def dev_scores(self, proba: Any, targets: list[list[int]]) -> dict[str, float]:
        predicted = [set(self.choose(row)[0]) for row in proba.tolist()]
        return distil.dev_scores(
            predicted, [set(t) for t in targets], multilabel=self.task.multilabel
        )

    # -- files -------------------------------------------------------------------------------------
    def save(self, folder: Path) -> dict[str, Any]:
        """Write ``head.skops``; returns what meta.json must hold to load it again."""
        import skops.io as sio

        parts = {"classifier": self.classifier, "word": self.word, "char": self.char}
        sio.dump(parts, folder / HEAD_FILE)
        return {
            "columns": self.columns,
            "constant": {str(j): v for j, v in self.constant.items()},
            "thresholds": self.thresholds,
        }

    @classmethod
    def load(
        cls, folder: Path, config: HeadConfig, task: distil.TextCat, meta: dict[str, Any]
    ) -> Head:
        """The head saved in ``folder``; refuses a file holding a type not on TRUSTED_TYPES."""
        path = folder / HEAD_FILE
        if not path.is_file():
            raise distil.MissingModelFileError(
                f"{path} is missing: {folder} is not a saved embedding student"
            )
        parts = load_trusted(path, TRUSTED_TYPES, "distil-embeddings")
        head = cls(config, task)
        head.classifier, head.word, head.char = parts["classifier"], parts["word"], parts["char"]
        head.columns = [int(j) for j in meta["columns"]]
        head.constant = {int(j): float(v) for j, v in meta["constant"].items()}
        head.thresholds = [float(t) for t in meta["thresholds"]]
        return head


def _expit(z: Any) -> Any:
    """The logistic function, without overflow warnings for large ``|z|``."""
    import numpy as np

    return 0.5 * (1.0 + np.tanh(0.5 * z))
