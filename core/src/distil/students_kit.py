"""The student toolkit: the plumbing every student needs, written once.

Every student plugin used to carry its own copy of these, and the copies drifted (one multi-label
student scored confidence differently from the others, so the cascade and the calibration report
read its "0.8" differently). What a student may rely on:

* :func:`require_fitted` — the one "not trained yet" check (:class:`NotFittedError`, a
  ``RuntimeError``), which also returns the task typed as the student needs it.
* :func:`write_meta` / :func:`read_meta` — a saved student's readable ``meta.json``: written
  atomically (a crash never leaves half a file), read back with a :class:`~distil.DataError` that
  names the file when it is missing, not JSON, not an object or of another format. A missing file
  is also a ``FileNotFoundError``, so callers that catch that ("no trained student") keep working.
* :func:`label_confidence`, :func:`choose_labels`, :func:`categories_predictions` — **the
  confidence rule** of text classification that the cascade routes on and ECE checks:

  - exclusive: the probability of the chosen label;
  - multi-label with labels chosen: the smallest probability among them (the weakest "yes");
  - multi-label with none chosen: ``1 - max(p)`` (the weakest "no").

* :func:`task_from_description` — the task a saved student was trained for, from the
  ``task.describe()`` it wrote.
* :func:`label_columns` and :func:`dev_scores` — the label bookkeeping of students that fit one
  classifier column per learnable label (which labels can be learned, which are constant, the
  report lines), and the dev accuracy / micro-F1 they report.

Pure Python: core needs no numpy. A student passes numpy arrays where a sequence of floats is
asked for; :func:`categories_predictions` uses an array's own ``argmax`` and ``tolist`` when given
one, so the hot path stays vectorised.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar, overload

from .errors import DataError
from .records import Categories
from .student import Student, StudentPrediction
from .tasks import Task, TextCat

META_FILE = "meta.json"

TaskT = TypeVar("TaskT", bound=Task)


class NotFittedError(RuntimeError):
    """A student was asked to predict or save before ``fit`` or ``load``."""


class MissingModelFileError(DataError, FileNotFoundError):
    """A file a saved student needs is not in its folder (also a ``FileNotFoundError``)."""


# -- the fitted check -------------------------------------------------------------------------------
@overload
def require_fitted(student: Student, *parts: object) -> Task: ...


@overload
def require_fitted(student: Student, *parts: object, task_type: type[TaskT]) -> TaskT: ...


def require_fitted(student: Student, *parts: object, task_type: type[Task] = Task) -> Task:
    """The student's task, once it is trained; :class:`NotFittedError` before.

    A student is trained when its ``task`` attribute is set and none of ``parts`` (its fitted
    model objects, e.g. ``self._pipeline``) is ``None``. ``task_type`` narrows the returned task
    for the type checker and refuses a loaded task of another type.
    """
    task = getattr(student, "task", None)
    if task is None or any(part is None for part in parts):
        raise NotFittedError(
            f"{student.name}: the student is not trained; call fit() or load() first"
        )
    if not isinstance(task, task_type):
        raise TypeError(
            f"{student.name} needs a {task_type.__name__} task, got {type(task).__name__}"
        )
    return task


# -- meta.json --------------------------------------------------------------------------------------
def write_meta(folder: str | Path, **fields: Any) -> Path:
    """Write ``fields`` as ``folder/meta.json`` (UTF-8, indented) and return its path.

    The JSON is built before anything is written (a field that is not JSON-able raises
    ``TypeError`` and leaves any earlier meta.json as it was), then written to a temporary file
    beside it and moved into place, so a reader never sees half a file.
    """
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fields, indent=2, ensure_ascii=False) + "\n"
    target = directory / META_FILE
    handle, temporary = tempfile.mkstemp(prefix=".meta-", suffix=".json.tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_meta(
    folder: str | Path,
    *,
    who: str,
    expected_format: str | None = None,
    needs: Sequence[str] = (),
) -> dict[str, Any]:
    """``folder/meta.json`` as a dict, after checking the folder is a model ``who`` saved.

    ``needs`` names the other files (relative to ``folder``) that loading will read; each one
    missing, like a missing meta.json, is a :class:`MissingModelFileError` naming it. A meta.json
    that is not a JSON object, or whose ``format`` is not ``expected_format``, is a
    :class:`~distil.DataError` naming the file.
    """
    directory = Path(folder)
    path = directory / META_FILE
    for required in (path, *(directory / name for name in needs)):
        if not required.exists():
            raise MissingModelFileError(
                f"{required} is missing: {directory} is not a model saved by {who}"
            )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}); was it saved by {who}?") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); the saved model is damaged: "
            "train the student again"
        ) from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    if expected_format is not None and meta.get("format") != expected_format:
        raise DataError(
            f"{path}: format {meta.get('format')!r} is not {expected_format!r}; it was not "
            f"written by this version of {who}"
        )
    return meta


def package_versions(*distributions: str) -> dict[str, str | None]:
    """The installed version of each distribution (``None`` when absent), for meta.json."""
    versions: dict[str, str | None] = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# -- the confidence rule ----------------------------------------------------------------------------
def label_confidence(
    probabilities: Sequence[float], chosen: Sequence[int], *, multilabel: bool
) -> float:
    """The confidence of choosing label indices ``chosen`` given one probability per label.

    Exclusive: the chosen label's probability. Multi-label: the smallest probability among the
    chosen labels (the weakest "yes"), or ``1 - max(p)`` when none is chosen (the weakest "no").
    Clamped to [0, 1], so float error in a model's probabilities never leaves the range.
    """
    if not multilabel:
        if len(chosen) != 1:
            raise ValueError(f"an exclusive choice is one label, got {len(chosen)}")
        value = float(probabilities[chosen[0]])
    elif chosen:
        value = float(min(probabilities[j] for j in chosen))
    else:
        value = 1.0 - float(max(probabilities))
    return min(1.0, max(0.0, value))


def choose_labels(
    probabilities: Sequence[float],
    *,
    multilabel: bool,
    thresholds: float | Sequence[float] = 0.5,
) -> tuple[list[int], float]:
    """The chosen label indices of one probability row, and their confidence.

    Exclusive: the most probable label (the first on ties). Multi-label: every label whose
    probability reaches its threshold (one number for all labels, or one per label).
    """
    if len(probabilities) == 0:
        raise ValueError("cannot choose labels from an empty probability row")
    if not multilabel:
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return [best], label_confidence(probabilities, [best], multilabel=False)
    if isinstance(thresholds, int | float):
        chosen = [j for j, p in enumerate(probabilities) if p >= thresholds]
    else:
        if len(thresholds) != len(probabilities):
            raise ValueError(
                f"{len(thresholds)} thresholds for a row of {len(probabilities)} probabilities"
            )
        chosen = [j for j, p in enumerate(probabilities) if p >= thresholds[j]]
    return chosen, label_confidence(probabilities, chosen, multilabel=True)


def categories_predictions(
    labels: Sequence[str],
    rows: Any,
    *,
    multilabel: bool,
    thresholds: float | Sequence[float] = 0.5,
) -> list[StudentPrediction]:
    """One ``Categories`` prediction per probability row, scoring every label, with the rule.

    ``rows`` is a list of rows (one probability per label, in ``labels`` order) or a 2-D array
    with ``tolist()`` (and ``argmax(axis=1)``, used for exclusive tasks). Outputs are built with
    ``Categories.trusted``: the labels come from the task and the scores from the model, so
    re-validating them would only cost time.
    """
    names = list(labels)
    construct = Categories.trusted
    if not multilabel and hasattr(rows, "argmax") and hasattr(rows, "tolist"):
        best = rows.argmax(axis=1).tolist() if len(rows) else []
        plain = rows.tolist()
        results = []
        for row, j in zip(plain, best, strict=True):
            scores = dict(zip(names, row, strict=True))
            confidence = label_confidence(row, [j], multilabel=False)
            results.append(StudentPrediction(construct([names[j]], scores), confidence))
        return results
    plain = rows.tolist() if hasattr(rows, "tolist") else rows
    results = []
    for row in plain:
        chosen, confidence = choose_labels(row, multilabel=multilabel, thresholds=thresholds)
        scores = dict(zip(names, row, strict=True))
        results.append(StudentPrediction(construct([names[j] for j in chosen], scores), confidence))
    return results


# -- the task a saved student was trained for --------------------------------------------------------
def task_from_description(described: Any, *, source: str | Path | None = None) -> Task:
    """Rebuild a task from the ``task.describe()`` saved with it (a student's ``meta.json``).

    The task class of the description's kind rebuilds it (:meth:`distil.tasks.Task.from_description`:
    every kind defined so far, a plugin's too). Labels, descriptions and instructions come back
    (shots are not part of a description). Older saves stay readable: a ``ner`` description with
    ``allow_overlap: true`` (written before ``spans`` was its own kind) gives a ``spans`` task.
    Anything else is a :class:`~distil.DataError` naming ``source`` (the meta.json it came from).
    """
    where = f"{source}: " if source is not None else ""
    if not isinstance(described, dict) or not isinstance(described.get("labels"), list):
        raise DataError(f"{where}the saved task is not a task description with a 'labels' list")
    kind = described.get("kind")
    if kind not in Task.known_kinds():
        known = ", ".join(repr(k) for k in Task.known_kinds())
        raise DataError(
            f"{where}the saved task is of kind {kind!r}; a student can rebuild {known} tasks "
            "(a task kind from a plugin needs that plugin installed)"
        )
    try:
        return Task.from_description(described)
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(f"{where}the saved {kind} task cannot be rebuilt: {exc}") from None


# -- label columns of one-classifier-column-per-label students ---------------------------------------
@dataclass(frozen=True)
class LabelColumns:
    """Which task labels a classifier learns, as computed by :func:`label_columns`.

    ``columns`` holds the task-label index of each classifier output column, in column order;
    ``constant`` (multi-label only) the labels that every or no training example carries, with
    their fixed probability (1.0 / 0.0): a binary classifier cannot be fitted on one class.
    """

    multilabel: bool
    n_labels: int
    columns: list[int]
    constant: dict[int, float]
    seen: list[int]

    def targets(self, targets: Sequence[Sequence[int]]) -> list[Any]:
        """The classifier's ``y``: a label index per example (exclusive), a 0/1 row over
        ``columns`` per example (multi-label), or a 0/1 value when there is one column."""
        if not self.multilabel:
            return [int(t[0]) for t in targets]
        rows = [[int(j in set(t)) for j in self.columns] for t in targets]
        return [row[0] for row in rows] if len(self.columns) == 1 else rows

    def report(self, labels: Sequence[str]) -> dict[str, Any]:
        """The fit report's label lines."""
        seen = set(self.seen)
        return {
            "n_labels": len(self.seen),
            "n_labels_task": self.n_labels,
            "labels_unseen": [x for j, x in enumerate(labels) if j not in seen],
        }


def label_columns(task: TextCat, targets: Sequence[Sequence[int]], who: str) -> LabelColumns:
    """The learnable label columns of training ``targets`` (task-label indices per example).

    An exclusive task needs at least two labels present; a multi-label one at least one label
    that some, but not all, examples carry. Otherwise ``ValueError`` says, naming ``who``, what
    to add.
    """
    labels = task.labels
    if not task.multilabel:
        present = sorted({int(t[0]) for t in targets})
        if len(present) == 1:
            others = [x for x in labels if x != labels[present[0]]]
            raise ValueError(
                f"{who}: training needs at least two labels, but every training example is "
                f"labelled {labels[present[0]]!r}; add examples of {others}"
            )
        return LabelColumns(False, len(labels), present, {}, present)
    positives = [0] * len(labels)
    for t in targets:
        for j in set(t):
            positives[j] += 1
    columns = [j for j, n in enumerate(positives) if 0 < n < len(targets)]
    if not columns:
        raise ValueError(
            f"{who}: a multi-label task needs at least one label that some, but not all, "
            "training examples carry; every label here is always or never present"
        )
    constant = {j: float(n > 0) for j, n in enumerate(positives) if j not in columns}
    seen = [j for j, n in enumerate(positives) if n > 0]
    return LabelColumns(True, len(labels), columns, constant, seen)


def dev_scores(
    predicted: Sequence[set[int]], gold: Sequence[set[int]], *, multilabel: bool
) -> dict[str, float]:
    """``dev_accuracy`` (exact label sets) and, multi-label, ``dev_micro_f1``, rounded to 4."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} dev examples")
    if not gold:
        return {}
    accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
    scores = {"dev_accuracy": round(accuracy, 4)}
    if multilabel:
        tp = sum(len(p & g) for p, g in zip(predicted, gold, strict=True))
        total = sum(map(len, predicted)) + sum(map(len, gold))
        scores["dev_micro_f1"] = round(2 * tp / total, 4) if total else 0.0
    return scores
