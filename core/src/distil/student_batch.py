"""Array-backed student outputs: a batch of text-classification predictions held as arrays.

A student that scores every label of every document used to build one ``Categories`` (a dict of
scores per document) and one :class:`~distil.StudentPrediction` per document inside ``predict``.
At 10,000 documents and 77 labels that is 770,000 floats boxed into 10,000 dicts, and the garbage
collector walks them again and again while they are built: the student cost 2.5x scikit-learn's
own ``predict_proba``. :class:`CategoriesBatch` keeps the probability matrix, the chosen labels
and the confidences as arrays and builds a document's prediction only when it is read.

What a caller may rely on:

* It is a ``Sequence[StudentPrediction]``: ``len``, indexing (a slice gives a batch), iteration,
  ``==`` against a list of predictions. ``batch[i]`` equals what
  :func:`distil.categories_predictions` builds for row ``i`` (same labels, scores, confidence; a
  test keeps the two equal), so every consumer that reads ``.output`` and ``.confidence`` works
  unchanged.
* Faster accessors for consumers that can use them: :attr:`labels`, :attr:`probabilities` (the
  ``(n, n_labels)`` matrix, columns in task-label order), :meth:`confidence_list` and
  :meth:`chosen_labels`; they read the arrays and build no prediction.
* A document's prediction is built once, on first access, and kept: ``batch[i] is batch[i]``, and
  a change made to it (as to a list's item) is what later reads see.

Pure Python: core needs no numpy. The matrix is any 2-D array with numpy's methods (``argmax``,
``max``, ``min``, ``any``, comparison, ``tolist``); a plain list of rows is accepted too and is
then decided row by row with the toolkit's rule (:func:`distil.choose_labels`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from .records import Categories
from .student import StudentPrediction
from .students_kit import choose_labels

#: Rows materialised per ``tolist`` call while iterating: one call per chunk, not per row.
_CHUNK = 256


class CategoriesBatch(Sequence[StudentPrediction]):
    """One ``Categories`` prediction per probability row, built on access.

    Build it with :meth:`from_probabilities` (the confidence rule of
    :mod:`distil.students_kit`, vectorised). ``probabilities`` has one row per document and one
    column per entry of ``labels``; ``chosen`` is, exclusive, the chosen column of each row (an
    integer array) and, multi-label, a boolean matrix of the chosen labels; ``confidences`` one
    value per row.
    """

    __slots__ = ("_built", "_chosen", "_confidences", "_labels", "_multilabel", "_probabilities")

    def __init__(
        self,
        labels: Sequence[str],
        probabilities: Any,
        chosen: Any,
        confidences: Any,
        *,
        multilabel: bool,
    ) -> None:
        if len(chosen) != len(probabilities) or len(confidences) != len(probabilities):
            raise ValueError(
                f"{len(probabilities)} probability rows, {len(chosen)} choices and "
                f"{len(confidences)} confidences: they must be one per document"
            )
        self._labels = list(labels)
        self._probabilities = probabilities
        self._chosen = chosen
        self._confidences = confidences
        self._multilabel = multilabel
        # The predictions built so far, by row (allocated on the first access).
        self._built: list[StudentPrediction | None] | None = None

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_probabilities(
        cls,
        labels: Sequence[str],
        probabilities: Any,
        *,
        multilabel: bool,
        thresholds: float | Sequence[float] = 0.5,
    ) -> CategoriesBatch:
        """The batch of ``probabilities`` (an ``(n, len(labels))`` array) under the toolkit's
        confidence rule: exclusive, the most probable label (the first on ties) and its
        probability; multi-label, every label at or over its threshold and the weakest "yes"
        (the smallest chosen probability) or, with none chosen, the weakest "no" (``1 - max``).
        Confidences are clamped to [0, 1]. Values are equal, bit for bit, to
        :func:`distil.categories_predictions` of the same rows.
        """
        names = list(labels)
        if not _is_array(probabilities):
            return cls._from_rows(names, probabilities, multilabel, thresholds)
        if probabilities.ndim != 2 or probabilities.shape[1] != len(names):
            raise ValueError(
                f"probabilities of shape {probabilities.shape} for {len(names)} labels: "
                "expected one row per document and one column per label"
            )
        n = probabilities.shape[0]
        if n == 0:
            return cls(names, probabilities, [], [], multilabel=multilabel)
        if not multilabel:
            best = probabilities.argmax(axis=1)
            confidences = probabilities.max(axis=1).clip(0.0, 1.0)
            return cls(names, probabilities, best, confidences, multilabel=False)
        if isinstance(thresholds, int | float):
            mask = probabilities >= thresholds
        else:
            if len(thresholds) != len(names):
                raise ValueError(f"{len(thresholds)} thresholds for {len(names)} labels")
            mask = probabilities >= list(thresholds)
        # The weakest "yes": the chosen probabilities stay as they are (+ 0.0), the others are
        # pushed above 1 (+ 2.0; probabilities are in [0, 1]) so that min() never picks them;
        # rows with none chosen take the weakest "no" instead. No np.where: core has no numpy.
        weakest_yes = (probabilities + (~mask) * 2.0).min(axis=1)
        weakest_no = 1.0 - probabilities.max(axis=1)
        some = mask.any(axis=1)
        confidences = (weakest_yes * some + weakest_no * ~some).clip(0.0, 1.0)
        return cls(names, probabilities, mask, confidences, multilabel=True)

    @classmethod
    def _from_rows(
        cls,
        labels: list[str],
        rows: Sequence[Sequence[float]],
        multilabel: bool,
        thresholds: float | Sequence[float],
    ) -> CategoriesBatch:
        """A batch of plain Python rows, decided one by one (no arrays to vectorise over)."""
        plain = [list(map(float, row)) for row in rows]
        for row in plain:
            if len(row) != len(labels):
                raise ValueError(f"a probability row of {len(row)} values for {len(labels)} labels")
        chosen: list[Any] = []
        confidences: list[float] = []
        for row in plain:
            picked, confidence = choose_labels(row, multilabel=multilabel, thresholds=thresholds)
            chosen.append(
                [j in set(picked) for j in range(len(labels))] if multilabel else picked[0]
            )
            confidences.append(confidence)
        return cls(labels, plain, chosen, confidences, multilabel=multilabel)

    # -- fast accessors ------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """The label of each probability column (a copy: the batch's own list stays as built)."""
        return list(self._labels)

    @property
    def multilabel(self) -> bool:
        return self._multilabel

    @property
    def probabilities(self) -> Any:
        """The ``(n, n_labels)`` probability matrix, as the student built it (do not modify)."""
        return self._probabilities

    def confidence_list(self) -> list[float]:
        """Every document's confidence, as Python floats, in one call."""
        return _tolist(self._confidences)

    def chosen_labels(self) -> list[list[str]]:
        """Every document's chosen labels, without building scores."""
        names = self._labels
        if not self._multilabel:
            return [[names[j]] for j in _tolist(self._chosen)]
        return [[names[j] for j, yes in enumerate(row) if yes] for row in _tolist(self._chosen)]

    # -- the Sequence API ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._confidences)

    @overload
    def __getitem__(self, index: int) -> StudentPrediction: ...

    @overload
    def __getitem__(self, index: slice) -> CategoriesBatch: ...

    def __getitem__(self, index: int | slice) -> StudentPrediction | CategoriesBatch:
        if isinstance(index, slice):
            part = CategoriesBatch(
                self._labels,
                self._probabilities[index],
                self._chosen[index],
                self._confidences[index],
                multilabel=self._multilabel,
            )
            if self._built is not None:
                part._built = self._built[index]
            return part
        n = len(self)
        i = index.__index__()
        if not -n <= i < n:
            raise IndexError(f"prediction index {index} out of range for {n} predictions")
        i %= n
        built = self._cache()
        prediction = built[i]
        if prediction is None:
            row = _tolist(self._probabilities[i])
            chosen = _tolist(self._chosen[i])
            prediction = built[i] = self._build(row, chosen, float(self._confidences[i]))
        return prediction

    def __iter__(self) -> Iterator[StudentPrediction]:
        built = self._cache()
        for start in range(0, len(self), _CHUNK):
            stop = min(start + _CHUNK, len(self))
            if None not in built[start:stop]:  # built already (read before): no conversion
                yield from built[start:stop]  # type: ignore[misc]
                continue
            rows = _tolist(self._probabilities[start:stop])
            chosen = _tolist(self._chosen[start:stop])
            confidences = _tolist(self._confidences[start:stop])
            for offset, (row, picked, confidence) in enumerate(
                zip(rows, chosen, confidences, strict=True)
            ):
                prediction = built[start + offset]
                if prediction is None:
                    prediction = built[start + offset] = self._build(row, picked, confidence)
                yield prediction

    def _cache(self) -> list[StudentPrediction | None]:
        if self._built is None:
            self._built = [None] * len(self)
        return self._built

    def _build(self, row: list[float], chosen: Any, confidence: float) -> StudentPrediction:
        names = self._labels
        if self._multilabel:
            picked = [names[j] for j, yes in enumerate(chosen) if yes]
        else:
            picked = [names[chosen]]
        scores = dict(zip(names, row, strict=True))
        return StudentPrediction(Categories.trusted(picked, scores), confidence)

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of predictions with equal outputs and confidences, in order."""
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        if len(other) != len(self):
            return False
        for mine, theirs in zip(self, other, strict=True):
            if not isinstance(theirs, StudentPrediction):
                return False
            if mine.output != theirs.output or mine.confidence != theirs.confidence:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        kind = "multi-label" if self._multilabel else "exclusive"
        return f"CategoriesBatch({len(self)} predictions, {len(self._labels)} labels, {kind})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled for executors that run predict elsewhere (Ray workers): the arrays travel,
        # with the predictions built so far (they may have been changed).
        state = (self._labels, self._probabilities, self._chosen, self._confidences)
        return (_rebuild, (*state, self._multilabel, self._built))


def _rebuild(
    labels: list[str],
    probabilities: Any,
    chosen: Any,
    confidences: Any,
    multilabel: bool,
    built: list[StudentPrediction | None] | None = None,
) -> CategoriesBatch:
    batch = CategoriesBatch(labels, probabilities, chosen, confidences, multilabel=multilabel)
    batch._built = built
    return batch


def _is_array(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("argmax", "tolist", "shape", "ndim"))


def _tolist(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else list(value) if _listy(value) else value


def _listy(value: Any) -> bool:
    return isinstance(value, list | tuple)


__all__ = ["CategoriesBatch"]
