"""Trust scores for training labels: out-of-fold student probabilities, ranked by cleanlab.

A teacher's label is worth a human's look when a student that never saw it disagrees with it.
:func:`out_of_fold` gets that opinion through the Student API alone: the merged training pairs
are split into ``folds`` stratified, seeded folds, and for each fold a *fresh* student (from a
factory) is fitted on the other folds and predicts the held-out one. :func:`score_labels` then
gives every label a quality score in [0, 1] with cleanlab (``cleanlab.rank.get_label_quality_scores``,
method ``self_confidence``: the out-of-fold probability of the given label) and flags the likely
errors (``cleanlab.filter.find_label_issues`` with ``filter_by="low_self_confidence"``: as many
labels as cleanlab's confident joint estimates to be wrong, taken lowest score first, so the
flagged labels are exactly the head of the trust ranking); multi-label tasks use cleanlab's
``multilabel_classification`` functions.

Why these two choices (1,000–6,000 rows of banking77, sms_spam and snips with 10% of the labels
flipped, TF-IDF + logistic-regression student, 5 folds): ``self_confidence`` put 89–93% of the
flips in the lowest-trust 15% of banking77 (1,000 rows), ``confidence_weighted_entropy`` 91%,
``normalized_margin`` 67%; ``low_self_confidence`` flagged with precision 0.87–0.97 at recall
0.72–0.82 where the default ``prune_by_noise_rate`` had 0.66–0.87 at 0.73–0.91. With a weak
student (1,000 rows for 77 labels, 58% out-of-fold accuracy) every filter flags far more than the
flips (about 400 labels, precision 0.25): rank by the score, and drop only with a decent student.

What callers may rely on:

* Only labels and the student's out-of-fold probabilities are used: a teacher with no confidence
  at all (an LLM without logprobs) gets trust scores like any other.
* Folds are stratified by label and depend only on the pairs' order and ``seed``. A label carried
  by a single pair cannot be held out and still be learnt: such pairs get no score (they are in
  :attr:`TrustResult.unscored` with the reason) and are never flagged.
* Ids in ``exclude`` (human answers) help fit the folds but are never scored or flagged.
* Cost: ``folds`` extra fits of the student, each on ``(folds - 1) / folds`` of the data, plus one
  prediction pass over the data. ``[train] trust = false`` turns it off.
* cleanlab is the optional extra ``distil[trust]``; it is imported only here, inside functions.
  Without it :func:`require_cleanlab` raises :class:`TrustUnavailable` saying how to install it.
"""

from __future__ import annotations

import random
import time
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DataError
from .records import Categories, Prediction, TaskOutput
from .student import Student, StudentPrediction, TrainPair
from .tasks import Task, TextCat

__all__ = [
    "FILTER_BY",
    "INSTALL_HINT",
    "METHODS",
    "TrustError",
    "TrustResult",
    "TrustUnavailable",
    "cleanlab_available",
    "out_of_fold",
    "require_cleanlab",
    "score_labels",
    "trust_predictions",
    "trust_unsupported",
]

StudentFactory = Callable[[], Student]
#: cleanlab's label-quality methods that :func:`score_labels` accepts.
METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
INSTALL_HINT = "pip install 'distil[trust]' (cleanlab==2.9.0)"
#: How cleanlab's ``find_label_issues`` flags labels (see the module docstring).
FILTER_BY = "low_self_confidence"
#: Fewer training labels than this per fold and the folds say too little: no trust scores.
MIN_PER_FOLD = 4


class TrustUnavailable(DataError):
    """cleanlab is not installed: the message says how to install it."""


class TrustError(DataError):
    """A fold's student could not be fitted: the message names the fold and how to go without."""


def cleanlab_available() -> bool:
    """Whether cleanlab can be imported (the ``trust`` extra is installed)."""
    try:
        import cleanlab  # noqa: F401
    except ImportError:
        return False
    return True


def require_cleanlab() -> Any:
    """The cleanlab module, or :class:`TrustUnavailable` with the install command."""
    try:
        import cleanlab
    except ImportError:
        raise TrustUnavailable(
            f"trust scores need cleanlab, which is not installed: {INSTALL_HINT}; "
            "or set `trust = false` in the [train] section"
        ) from None
    return cleanlab


def trust_unsupported(task: Task) -> str | None:
    """Why ``task`` gets no trust scores (None when it does): they are for ``textcat`` tasks."""
    if isinstance(task, TextCat):
        return None
    return (
        f"trust scores need class probabilities, which '{task.kind}' students do not give; "
        "the queue orders by teacher–student disagreement instead"
    )


@dataclass
class TrustResult:
    """The trust of each scored training label, and which labels cleanlab flags as issues.

    ``scores``: example id → label quality in [0, 1] (low: likely wrong). ``issues``: the flagged
    ids, lowest score first. ``oof``: example id → the out-of-fold student's answer (with its
    probabilities in ``scores``). ``unscored``: id → why it has no score.
    """

    scores: dict[str, float]
    issues: list[str]
    oof: dict[str, TaskOutput]
    given: dict[str, TaskOutput]
    unscored: dict[str, str] = field(default_factory=dict)
    method: str = "self_confidence"
    folds: int = 5
    seed: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-able counts for run stats and reports (no per-example data)."""
        return {
            "scored": len(self.scores),
            "label_issues": len(self.issues),
            "unscored": len(self.unscored),
            "method": self.method,
            "folds": self.folds,
            "seed": self.seed,
            "seconds": round(self.seconds, 3),
        }


def _strata(task: TextCat, pairs: Sequence[TrainPair]) -> tuple[list[str], Counter[str]]:
    """Each pair's stratum (its label; multi-label: its rarest label) and the label counts."""
    counts: Counter[str] = Counter()
    for _, out in pairs:
        counts.update(out.labels if isinstance(out, Categories) else [])
    strata = []
    for _, out in pairs:
        labels = out.labels if isinstance(out, Categories) else []
        strata.append(min(labels, key=lambda x: (counts[x], x)) if labels else "")
    return strata, counts


def assign_folds(strata: Sequence[str], folds: int, seed: int) -> list[int]:
    """A fold per item: each stratum shuffled (seeded) and dealt round-robin, strata one after
    the other, so every fold gets its share of each label and folds differ in size by at most 1."""
    rng = random.Random(seed)
    by_stratum: dict[str, list[int]] = {}
    for i, s in enumerate(strata):
        by_stratum.setdefault(s, []).append(i)
    fold_of = [0] * len(strata)
    position = 0
    for stratum in sorted(by_stratum):
        members = by_stratum[stratum]
        rng.shuffle(members)
        for i in members:
            fold_of[i] = position % folds
            position += 1
    return fold_of


def out_of_fold(
    task: Task,
    pairs: Sequence[TrainPair],
    factory: StudentFactory,
    *,
    folds: int = 5,
    seed: int = 0,
) -> list[StudentPrediction]:
    """Each pair's prediction by a fresh student fitted on the other folds (in pair order)."""
    if not isinstance(task, TextCat):
        raise TypeError(f"out-of-fold predictions are for textcat tasks, not '{task.kind}'")
    strata, _ = _strata(task, pairs)
    fold_of = assign_folds(strata, folds, seed)
    found: list[StudentPrediction | None] = [None] * len(pairs)
    for k in range(folds):
        held = [i for i, f in enumerate(fold_of) if f == k]
        if not held:
            continue
        train = [pairs[i] for i, f in enumerate(fold_of) if f != k]
        student = factory()
        try:
            student.fit(task, train, None)
        except (ValueError, TypeError) as exc:
            raise TrustError(
                f"trust: fitting the student for fold {k + 1} of {folds} ({len(train)} labels) "
                f"failed: {exc}; label more examples, lower [train] folds, or set "
                "[train] trust = false"
            ) from exc
        outputs = student.predict([pairs[i][0] for i in held])
        for i, pred in zip(held, outputs, strict=True):
            found[i] = pred
    return [p for p in found if p is not None]


def probabilities(task: TextCat, pred: StudentPrediction) -> list[float]:
    """One probability per task label (task order) from a student's prediction.

    A student's ``scores`` are used as they are; a label without a score gets what the chosen
    labels leave (exclusive: the rest of the mass spread evenly; multi-label: 1 when chosen with
    the prediction's confidence, else 0). Exclusive rows are normalised to sum to 1.
    """
    out = pred.output
    labels = task.labels
    chosen = set(out.labels) if isinstance(out, Categories) else set()
    scores = dict(out.scores) if isinstance(out, Categories) else {}
    conf = pred.confidence if pred.confidence is not None else 1.0
    if task.multilabel:
        return [float(scores[x]) if x in scores else (conf if x in chosen else 0.0) for x in labels]
    if not all(x in scores for x in labels):
        if not scores:
            scores = {x: conf / len(chosen) for x in chosen}
        missing = [x for x in labels if x not in scores]
        left = max(0.0, 1.0 - sum(scores.values()))
        scores.update({x: left / len(missing) for x in missing})
    row = [max(0.0, float(scores[x])) for x in labels]
    total = sum(row)
    return [v / total for v in row] if total > 0 else [1.0 / len(row)] * len(row)


def score_labels(
    task: Task,
    pairs: Sequence[TrainPair],
    factory: StudentFactory,
    *,
    folds: int = 5,
    seed: int = 0,
    exclude: Collection[str] = (),
    method: str = "self_confidence",
) -> TrustResult:
    """Trust scores and label issues for ``pairs`` (see the module docstring for the contract).

    ``exclude`` names example ids (human answers) that are fitted on but never scored or flagged.
    Raises :class:`TrustUnavailable` without cleanlab, ``ValueError`` for a task other than
    ``textcat`` or an unknown method, :class:`TrustError` when a fold cannot be fitted.
    """
    require_cleanlab()
    import numpy as np

    if not isinstance(task, TextCat):
        raise ValueError(trust_unsupported(task))
    if method not in METHODS:
        raise ValueError(f"unknown trust method {method!r}; use one of {', '.join(METHODS)}")
    if folds < 2:
        raise ValueError(f"trust needs at least 2 folds, not {folds}")
    started = time.perf_counter()
    oof = out_of_fold(task, pairs, factory, folds=folds, seed=seed)
    _, counts = _strata(task, pairs)
    excluded = set(exclude)
    unscored: dict[str, str] = {}
    rows: list[int] = []
    for i, (ex, out) in enumerate(pairs):
        labels = out.labels if isinstance(out, Categories) else []
        rare = [x for x in labels if counts[x] < 2]
        if ex.id in excluded:
            continue
        if rare:
            unscored[ex.id] = (
                f"label {rare[0]!r} has only one training example: it cannot be held out and "
                "still be learnt"
            )
            continue
        rows.append(i)
    index = {label: j for j, label in enumerate(task.labels)}
    # cleanlab sees the classes the scored labels use (columns renormalised for exclusive tasks).
    used = sorted({index[x] for i in rows for x in _labels(pairs[i][1])})
    result = TrustResult(
        scores={},
        issues=[],
        oof={pairs[i][0].id: oof[i].output for i in range(len(pairs))},
        given={ex.id: out for ex, out in pairs},
        unscored=unscored,
        method=method,
        folds=folds,
        seed=seed,
    )
    if not rows or (not task.multilabel and len(used) < 2):
        result.seconds = time.perf_counter() - started
        return result
    column = {j: c for c, j in enumerate(used)}
    probs = np.array([probabilities(task, oof[i]) for i in rows], dtype=np.float64)[:, used]
    given = [[column[index[x]] for x in _labels(pairs[i][1])] for i in rows]
    with warnings.catch_warnings():
        # "May not flag all label issues in class K, it has too few examples": expected for
        # rare labels, and a rare label's examples are still ranked by their score.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"cleanlab\.")
        # cleanlab's multi-label filter calls its own deprecated ``multi_label=True`` path.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cleanlab\.")
        if task.multilabel:
            from cleanlab.multilabel_classification import filter as ml_filter
            from cleanlab.multilabel_classification import rank as ml_rank

            quality = ml_rank.get_label_quality_scores(given, probs, method=method)
            flagged = ml_filter.find_label_issues(given, probs, filter_by=FILTER_BY, n_jobs=1)
        else:
            from cleanlab.filter import find_label_issues
            from cleanlab.rank import get_label_quality_scores

            probs = probs / probs.sum(axis=1, keepdims=True).clip(min=1e-12)
            classes = np.array([g[0] for g in given], dtype=np.int64)
            quality = get_label_quality_scores(classes, probs, method=method)
            flagged = find_label_issues(classes, probs, filter_by=FILTER_BY, n_jobs=1)
    for i, q, bad in zip(rows, quality.tolist(), flagged.tolist(), strict=True):
        ex_id = pairs[i][0].id
        result.scores[ex_id] = float(q)
        if bad:
            result.issues.append(ex_id)
    result.issues.sort(key=lambda ex_id: (result.scores[ex_id], ex_id))
    result.seconds = time.perf_counter() - started
    return result


def _labels(out: TaskOutput) -> list[str]:
    return list(out.labels) if isinstance(out, Categories) else []


def trust_predictions(result: TrustResult, source: str, run_id: str | None) -> list[Prediction]:
    """The scored labels as predictions of ``source`` (``trust:STUDENT#run=ID``), for the store.

    ``output`` is the out-of-fold student's answer (its probabilities in ``scores``),
    ``confidence`` the trust score of the label the student was trained on, and ``raw`` a JSON
    object with that label (``given``) and whether cleanlab flags it (``issue``).
    """
    import json

    issues = set(result.issues)
    return [
        Prediction(
            example_id=ex_id,
            source=source,
            output=result.oof[ex_id],
            confidence=min(1.0, max(0.0, score)),
            raw=json.dumps(
                {
                    "given": result.given[ex_id].model_dump(mode="json"),
                    "issue": ex_id in issues,
                    "method": result.method,
                },
                ensure_ascii=False,
            ),
            run_id=run_id,
        )
        for ex_id, score in result.scores.items()
    ]
