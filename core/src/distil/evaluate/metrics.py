"""Scores with bootstrap CIs and paired comparisons: the evaluate stage's names for them.

The scorers themselves live in :mod:`distil.tasks.scoring`, beside the task kinds that call them
(a task owns its scoring: :meth:`distil.tasks.Task.score` and
:meth:`~distil.tasks.Task.paired_bootstrap`). This module keeps the import paths that callers and
plugins use (``from distil.evaluate.metrics import score_categories``) and adds
:func:`paired_bootstrap`, which asks the task for its own paired comparison, so a task kind from a
plugin is compared by its own rules with no change here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..records import TaskOutput
from ..tasks.scoring import (
    _CI_METRICS,
    NONE_LABEL,
    PAIRED_METRICS,
    _check_pairing,
    _draws,
    _interval,
    _percentile,
    _prepare,
    _prepare_spans,
    _Prepared,
    _ratio,
    _resample,
    _scores,
    _summary,
    confusion_matrix,
    label_prf,
    paired_categories,
    paired_items,
    paired_resamples,
    paired_spans,
    score_categories,
    score_items,
    score_spans,
)

if TYPE_CHECKING:
    from ..tasks import Task

__all__ = [
    "NONE_LABEL",
    "PAIRED_METRICS",
    "confusion_matrix",
    "label_prf",
    "paired_bootstrap",
    "paired_categories",
    "paired_items",
    "paired_resamples",
    "paired_spans",
    "score_categories",
    "score_items",
    "score_spans",
]
# The private helpers stay importable from here for the modules that reuse them.
_REEXPORTED = (
    _CI_METRICS,
    _Prepared,
    _check_pairing,
    _draws,
    _interval,
    _percentile,
    _prepare,
    _prepare_spans,
    _ratio,
    _resample,
    _scores,
    _summary,
)


def paired_bootstrap(
    task: Task,
    gold: Sequence[TaskOutput],
    pred_a: Sequence[TaskOutput | None],
    pred_b: Sequence[TaskOutput | None],
    metric: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare two sources on the same gold set with a paired percentile bootstrap.

    The comparison is the task's own (:meth:`distil.tasks.Task.paired_bootstrap`): category
    answers for ``textcat``, span-exact scores for ``ner``/``spans`` (where ``accuracy`` is not
    defined), records for ``extract``, labelled items for any other task kind. ``metric``
    defaults to the task's :attr:`~distil.tasks.Task.headline_metric`. See
    :func:`distil.tasks.scoring.paired_categories` for what ``delta``, ``ci`` and ``p_value`` mean.
    """
    return task.paired_bootstrap(
        list(gold),
        list(pred_a),
        list(pred_b),
        metric=metric or task.headline_metric,
        n_boot=n_boot,
        seed=seed,
    )
