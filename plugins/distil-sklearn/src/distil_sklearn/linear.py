"""scikit-learn plumbing of logistic-regression heads, shared with distil-embeddings.

What needs scikit-learn, skops or numpy lives here; the label bookkeeping and the confidence rule
that need none live in core (:func:`distil.label_columns`, :func:`distil.categories_predictions`).
distil-embeddings depends on this package for these helpers instead of keeping its own copies.
Every import of scikit-learn, skops, numpy and threadpoolctl happens inside the function that
needs it, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import distil


class UntrustedModelError(distil.DataError):
    """A saved model file contains types its student does not trust; it was not loaded."""


def load_trusted(path: Path, trusted_types: Sequence[str], package: str) -> Any:
    """The object skops saved in ``path``, refused before anything in it is constructed when the
    file holds a type not on ``trusted_types``.

    skops trusts our types by default today; checking against our own list keeps other skops
    versions from widening what we load. ``package`` names who refuses in the error.
    """
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - set(trusted_types))
    if refused:
        raise UntrustedModelError(
            f"{path}: refusing to load: it contains types {package} does not trust: {refused}. "
            f"Only load models saved by {package}; retrain the student if the file came from "
            "elsewhere."
        )
    return sio.load(path, trusted=list(untrusted))


def fit_weighted(model: Any, inputs: Any, y: Any, weights: Any, classifier: Any = None) -> None:
    """``model.fit(inputs, y)`` with ``sample_weight=weights`` for the logistic regression(s) of
    ``classifier`` (``model`` itself when None; a pipeline's last step, say).

    One mechanism for every shape: scikit-learn's metadata routing, on only for this fit, sends
    the weights to the regression, through a pipeline and through a one-vs-rest wrapper (one per
    label column). The routing request is then taken off again: left on the estimators it would
    be saved with them, and skops cannot serialise it.
    """
    from sklearn import config_context
    from sklearn.multiclass import OneVsRestClassifier

    classifier = model if classifier is None else classifier
    ovr = isinstance(classifier, OneVsRestClassifier)
    regression = classifier.estimator if ovr else classifier
    with config_context(enable_metadata_routing=True):
        regression.set_fit_request(sample_weight=True)
        model.fit(inputs, y, sample_weight=weights)
    for fitted in [regression, *getattr(classifier, "estimators_", [])]:
        vars(fitted).pop("_metadata_request", None)


def one_blas_thread() -> Any:
    """A context that limits BLAS/OpenMP to one thread.

    The logistic regressions gain nothing from BLAS threads, and on a busy 2-core machine
    oversubscription made lbfgs about 70x slower (53 s instead of 0.7 s for 28 one-vs-rest fits).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def plain_vocabulary(vectorizer: Any) -> None:
    """Turn the numpy-int values of a fitted vectorizer's vocabulary into Python ints, in place.

    Same features, but skops writes a dict of plain ints about 20x faster than one of numpy
    scalars (5.6 s instead of 0.27 s for an 18k-term vocabulary).
    """
    vocabulary = getattr(vectorizer, "vocabulary_", None)
    if vocabulary is not None:
        vectorizer.vocabulary_ = {term: int(index) for term, index in vocabulary.items()}


def place_columns(
    raw: Any, n_labels: int, columns: Sequence[int], constant: dict[int, float]
) -> Any:
    """An ``(n, n_labels)`` float64 array: the classifier's probability columns ``raw`` put at
    their task-label indices ``columns`` (see :class:`distil.LabelColumns`), each ``constant``
    label at its fixed value, clipped to [0, 1].

    When the columns are every task label in order (an exclusive task whose training data had
    every label), ``raw`` itself is clipped in place and returned: no copy of the matrix."""
    import numpy as np

    in_place = raw.dtype == np.float64 and raw.flags.writeable
    if in_place and not constant and list(columns) == list(range(n_labels)):
        return np.clip(raw, 0.0, 1.0, out=raw)
    proba = np.zeros((raw.shape[0], n_labels), dtype=np.float64)
    proba[:, list(columns)] = raw
    for j, value in constant.items():
        proba[:, j] = value
    return np.clip(proba, 0.0, 1.0)
