"""Calibration: does a source's confidence mean what it says?

A cascade routes on confidence, and a team trusts a "0.9" only if nine in ten such answers are
right. :func:`reliability` bins the answers by confidence (equal-width bins over [0, 1]) and
compares each bin's mean confidence with its accuracy; the expected calibration error (ECE) is the
count-weighted mean gap, ``Σ n_b/n · |acc_b − conf_b|``. :func:`is_correct` decides what "right"
means, and the task decides it (:meth:`distil.tasks.Task.is_correct`): for an exclusive text
classifier the chosen label equals the gold label, for everything else by default the whole output
matches exactly (the same label set, or the same spans).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..records import Prediction, TaskOutput
from ..tasks import Task

#: Number of equal-width confidence bins in a reliability curve.
N_BINS = 10


def is_correct(task: Task, gold: TaskOutput, predicted: TaskOutput | None) -> bool:
    """Whether ``predicted`` answers ``gold`` right (a failure, ``None``, never does): the
    task's own rule (:meth:`distil.tasks.Task.is_correct`)."""
    return task.is_correct(gold, predicted)


def reliability(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = N_BINS
) -> dict[str, Any]:
    """The reliability curve and ECE of paired (confidence, correct) observations.

    Bin ``i`` holds confidences in ``[i/n_bins, (i+1)/n_bins)``; the last bin also holds 1.0 (and
    values are clipped to [0, 1]). Every bin is listed, with ``count`` 0 and ``None`` means when
    empty. ``ece`` is ``None`` when there are no observations.
    """
    if len(confidences) != len(correct):
        raise ValueError(f"{len(confidences)} confidences but {len(correct)} correctness flags")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    sums = [0.0] * n_bins
    hits = [0] * n_bins
    counts = [0] * n_bins
    for conf, ok in zip(confidences, correct, strict=True):
        c = min(1.0, max(0.0, float(conf)))
        b = min(int(c * n_bins), n_bins - 1)
        sums[b] += c
        hits[b] += int(bool(ok))
        counts[b] += 1
    n = sum(counts)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        mean_conf = sums[b] / counts[b] if counts[b] else None
        accuracy = hits[b] / counts[b] if counts[b] else None
        if mean_conf is not None and accuracy is not None:
            ece += counts[b] / n * abs(accuracy - mean_conf)
        bins.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "count": counts[b],
                "mean_confidence": mean_conf,
                "accuracy": accuracy,
            }
        )
    return {"n": n, "n_bins": n_bins, "ece": ece if n else None, "bins": bins}


def calibration(
    task: Task, gold: Sequence[TaskOutput], predictions: Sequence[Prediction | None]
) -> dict[str, Any] | None:
    """Reliability curve and ECE of the answered predictions that carry a confidence.

    ``predictions[i]`` answers ``gold[i]``; missing ones, failures and answers without a confidence
    are left out (``n`` says how many remain). ``None`` when no prediction has a confidence.
    """
    confs: list[float] = []
    correct: list[bool] = []
    for g, p in zip(gold, predictions, strict=True):
        if p is None or not p.ok or p.confidence is None:
            continue
        confs.append(p.confidence)
        correct.append(is_correct(task, g, p.output))
    if not confs:
        return None
    return reliability(confs, correct)
