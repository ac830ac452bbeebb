"""The head both students share: logistic regression on a text's vector (and, optionally, TF-IDF).

Exclusive tasks get one multinomial logistic regression; multi-label tasks one binary logistic
regression per label (one-vs-rest) and a decision threshold per label, tuned on dev with
:func:`distil.tune_thresholds` as the scikit-learn student does. With ``tfidf`` on, the features
are the vector (unit length) beside word 1-2-gram and char_wb 2-5-gram TF-IDF blocks (each of
unit length, scaled by ``tfidf_weight``): the embedding carries meaning and paraphrase, TF-IDF the
exact words and spellings (product names, codes) an embedding blurs.

The fitted parts are saved with skops, never pickled, and loaded only when every type in the file
is on :data:`TRUSTED_TYPES`; the rest (label columns, thresholds) goes to the student's meta.json.
BLAS runs on one thread while fitting and scoring (see ``one_blas_thread``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import distil

from .config import HeadConfig

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


class UntrustedModelError(distil.DataError):
    """A saved head contains types this package does not trust; it was not loaded."""


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
        self, texts: list[str], vectors: Any, targets: list[list[int]], who: str
    ) -> dict[str, Any]:
        """Fit on ``vectors`` (one row per text) and the task-label indices ``targets``.

        Returns the report's head part. ``who`` names the student in error messages.
        """
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        labels = self.task.labels
        classifier: Any = LogisticRegression(
            C=self.config.C, class_weight=self.config.class_weight, max_iter=self.config.max_iter
        )
        if self.task.multilabel:
            indicator = np.zeros((len(texts), len(labels)), dtype=np.int64)
            for row, idx in enumerate(targets):
                indicator[row, idx] = 1
            positives = indicator.sum(axis=0)
            columns = [j for j in range(len(labels)) if 0 < positives[j] < len(texts)]
            if not columns:
                raise ValueError(
                    f"{who}: a multi-label task needs at least one label that some, but not all, "
                    "training examples carry; every label here is always or never present"
                )
            self.constant = {
                j: float(positives[j] > 0) for j in range(len(labels)) if j not in columns
            }
            y = indicator[:, columns] if len(columns) > 1 else indicator[:, columns[0]]
            if len(columns) > 1:
                classifier = OneVsRestClassifier(classifier)
            seen = [labels[j] for j in range(len(labels)) if positives[j] > 0]
        else:
            y = np.array([idx[0] for idx in targets], dtype=np.int64)
            present = sorted(set(y.tolist()))
            if len(present) < 2:
                others = [x for x in labels if x != labels[present[0]]]
                raise ValueError(
                    f"{who}: training needs at least two labels, but every training example is "
                    f"labelled {labels[present[0]]!r}; add examples of {others}"
                )
            columns = present
            seen = [labels[j] for j in present]
        with one_blas_thread():
            if self.config.tfidf:
                self._fit_tfidf(texts)
            classifier.fit(self.features(texts, vectors), y)
        if not self.task.multilabel:
            columns = [int(c) for c in classifier.classes_]
        self.classifier = classifier
        self.columns = columns
        return {
            "n_labels": len(seen),
            "n_labels_task": len(labels),
            "labels_unseen": [x for x in labels if x not in seen],
            "n_features": int(vectors.shape[1]) + self._n_tfidf_features(),
        }

    def _fit_tfidf(self, texts: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        common: dict[str, Any] = {"sublinear_tf": True, "max_features": MAX_FEATURES}
        self.word = TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, **common).fit(texts)
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, **common).fit(
            texts
        )
        # Plain-int vocabularies: skops writes them about 20x faster than numpy scalars.
        for vectorizer in (self.word, self.char):
            vectorizer.vocabulary_ = {t: int(i) for t, i in vectorizer.vocabulary_.items()}

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
        proba = np.zeros((len(texts), len(self.task.labels)), dtype=np.float64)
        proba[:, self.columns] = raw
        for j, value in self.constant.items():
            proba[:, j] = value
        return np.clip(proba, 0.0, 1.0)

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
        """The chosen task-label indices of one probability row, and its confidence.

        Exclusive: the most probable label, and its probability. Multi-label: every label whose
        probability reaches its threshold, and the smallest of their probabilities (the weakest
        "yes"); with none chosen, ``1 - max(p)`` (the weakest "no").
        """
        if not self.task.multilabel:
            best = max(range(len(row)), key=row.__getitem__)
            return [best], float(row[best])
        chosen = [j for j, p in enumerate(row) if p >= self.thresholds[j]]
        if chosen:
            return chosen, float(min(row[j] for j in chosen))
        return [], float(1.0 - max(row))

    def predictions(self, proba: Any) -> list[distil.StudentPrediction]:
        """One prediction per probability row, with a score for every task label.

        Outputs are built with ``Categories.trusted``: labels and scores come from the fitted head
        and the task, so re-validating them would only cost time.
        """
        labels = self.task.labels
        rows = proba.tolist()
        construct = distil.Categories.trusted
        results = []
        if not self.task.multilabel:
            for row, j in zip(rows, proba.argmax(axis=1).tolist(), strict=True):
                output = construct([labels[j]], dict(zip(labels, row, strict=True)))
                results.append(distil.StudentPrediction(output, row[j]))
            return results
        for row in rows:
            chosen, confidence = self.choose(row)
            output = construct([labels[j] for j in chosen], dict(zip(labels, row, strict=True)))
            results.append(distil.StudentPrediction(output, confidence))
        return results

    def dev_scores(self, proba: Any, targets: list[list[int]]) -> dict[str, float]:
        predicted = [set(self.choose(row)[0]) for row in proba.tolist()]
        gold = [set(t) for t in targets]
        accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
        scores = {"dev_accuracy": round(accuracy, 4)}
        if self.task.multilabel:
            tp = sum(len(p & g) for p, g in zip(predicted, gold, strict=True))
            n_pred, n_gold = sum(map(len, predicted)), sum(map(len, gold))
            scores["dev_micro_f1"] = (
                round(2 * tp / (n_pred + n_gold), 4) if n_pred + n_gold else 0.0
            )
        return scores

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
        import skops.io as sio

        path = folder / HEAD_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: {folder} is not a saved embedding student")
        untrusted = sio.get_untrusted_types(file=path)
        refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if refused:
            raise UntrustedModelError(
                f"{path}: refusing to load: it contains types distil-embeddings does not trust: "
                f"{refused}. Only load models saved by distil-embeddings; retrain the student if "
                "the file came from elsewhere."
            )
        parts = sio.load(path, trusted=list(untrusted))
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


def one_blas_thread() -> Any:
    """A context that limits BLAS/OpenMP to one thread.

    The head's products are small (a few hundred features); on a busy 2-core machine BLAS threads
    only oversubscribe (the scikit-learn student measured lbfgs 70x slower that way).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
