"""The train stage: merge human answers over teacher labels, fit the student, save it.

For each training example the label is, in order of precedence: the human answer that counts
(:func:`distil.annotate.resolve.resolve_answers`: undone answers do not count, a review answer
settles a conflict, otherwise the latest answer) when it carries an output (``correct`` or
``accept``), else the teacher's parsed answer. An example whose human answer is ``reject``
(without a correction) or ``ignore``, or whose teacher answer failed to parse, is left out. The
``distil_train`` hook may then filter or augment the data. ``from_answers`` counts the human
labels by answer (``{"accept": n, "correct": m}``), so the report says where each label came from.
An ``extract`` task's answers are per subtask; :mod:`distil.extract.answers` merges them field by
field over the teacher's record.

Besides the model, a train run stores what the annotation queue needs (so ``distil annotate``
orders its cards with no Python):

* the final student's predictions on every example of the data set (but ids another data set
  also uses), under its source ``student:NAME#run=ID`` (teacher–student disagreement);
* with trust on (``[train] trust``; :mod:`distil.trust`), a trust score per teacher label under
  ``trust:NAME#run=ID``: ``confidence`` is the label's quality score, ``output`` the out-of-fold
  student's answer, ``raw`` a JSON object with the scored label and whether cleanlab flags it.
  ``drop_label_issues`` leaves the flagged teacher labels out of the final fit (counted in
  ``dropped["label_issue"]``); human answers are never scored, flagged or dropped.

The run's stats name both sources (``source``, ``trust_source``) and ``labels_as_of``, the time the
labels were merged, which the workspace compares with later answers and labelling runs to say
when the queue is stale.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, TrainingDataError
from .plugins import PluginHost, get_host
from .records import Categories, Prediction, TaskOutput
from .student import Student, TrainPair
from .tasks import Task
from .training_data import TrainingData

if TYPE_CHECKING:
    from .store.sqlite import Store


def merge_labels(
    store: Store, task: Task, dataset: str, teacher_source: str | None
) -> TrainingData:
    """The training pairs for ``dataset``: human answers over the teacher's labels."""
    own = task.merge_labels(store, dataset, teacher_source)  # extract: per subtask, by field
    if own is not None:
        return own
    examples = store.examples(dataset)
    teacher = store.predictions(teacher_source, dataset=dataset) if teacher_source else {}
    from .annotate.resolve import resolve_answers

    human = resolve_answers(store.annotations())
    data = TrainingData(pairs=[])
    dropped: dict[str, int] = {}
    for ex in examples:
        ann = human.get(ex.id)
        if ann is not None and ann.answer in ("correct", "accept") and ann.output is not None:
            data.pairs.append((ex.without_answer(), task.validate_output(ann.output)))
            data.from_humans += 1
            data.human_ids.add(ex.id)
            data.from_answers[ann.answer] = data.from_answers.get(ann.answer, 0) + 1
            continue
        if ann is not None and ann.answer in ("reject", "ignore"):
            dropped[f"human_{ann.answer}"] = dropped.get(f"human_{ann.answer}", 0) + 1
            continue
        pred = teacher.get(ex.id)
        if pred is None:
            dropped["unlabelled"] = dropped.get("unlabelled", 0) + 1
        elif not pred.ok or pred.output is None:
            dropped["teacher_failed"] = dropped.get("teacher_failed", 0) + 1
        else:
            data.pairs.append((ex.without_answer(), pred.output))
            data.from_teacher += 1
    data.dropped = dropped
    return data


@dataclass
class TrainResult:
    run_id: str
    source: str
    model_dir: str
    n_train: int
    from_teacher: int
    from_humans: int
    dropped: dict[str, int]
    seconds: float
    report: dict[str, Any]
    from_answers: dict[str, int] = field(default_factory=dict)
    #: How many teacher labels cleanlab flagged; None when no trust scores were computed.
    label_issues: int | None = None
    #: The trust summary (:meth:`distil.trust.TrustResult.summary`) or ``{"skipped": reason}``.
    trust: dict[str, Any] = field(default_factory=dict)
    #: Where the trust scores are stored (``trust:NAME#run=ID``), or None.
    trust_source: str | None = None
    #: How many predictions of the final student on the data set were stored under ``source``.
    predicted: int = 0
    #: The teacher labels' weight in the final fit; with ``teacher_weight = "auto"`` also how it
    #: was chosen (``{"chosen": w, "dev": {"1.0": score, ...}}`` or ``{"chosen": 1.0, "why": ...}``).
    teacher_weight: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_student(
    store: Store,
    task: Task,
    student: Student,
    *,
    teacher_source: str | None,
    model_dir: Path,
    dataset: str = "train",
    dev_dataset: str | None = None,
    host: PluginHost | None = None,
    config: dict[str, Any] | None = None,
    student_factory: Callable[[], Student] | None = None,
    trust: bool | None = None,
    folds: int = 5,
    drop_label_issues: bool = False,
    human_weight: int = 1,
    teacher_weight: float | str = 1.0,
    seed: int = 0,
) -> TrainResult:
    """Fit ``student`` on the merged labels of ``dataset`` and save it under ``model_dir``.

    ``trust`` (None: on when cleanlab is installed and the task is a ``textcat``; True: required,
    an error otherwise) scores the labels with ``folds`` fits of fresh students from
    ``student_factory`` (default: copies of ``student`` taken before it is fitted). In the
    automatic mode a trust step that cannot run (no cleanlab, too few labels, a fold that cannot
    be fitted) is skipped, and ``TrainResult.trust["skipped"]`` says why.

    ``human_weight`` repeats each human-labelled pair that many times in the final fit (not in
    the trust folds, which never score human answers): a weight every student honours, since it
    needs no ``sample_weight`` in the Student API. ``n_train`` counts each example once.
    ``teacher_weight`` below 1 fits with example weights instead (``human_weight`` for a human
    answer, ``teacher_weight`` for a teacher label, nothing repeated): only a student with
    ``supports_weights`` takes them, any other is refused before anything is fitted. With no
    human answer yet the fit is unweighted (equal weights would only scale the regularisation).
    ``teacher_weight = "auto"`` chooses the weight on the dev split: one fit per weight of
    :data:`AUTO_TEACHER_WEIGHTS` (0: the human answers alone) on a copy of the student, each
    scored on dev with the task's headline metric; the best (ties: the larger weight) is the final
    fit's. With no human answer, or no dev split with reference answers, it is 1.
    """
    auto = teacher_weight == "auto"
    if not auto and not (isinstance(teacher_weight, int | float) and 0.0 < teacher_weight <= 1.0):
        raise ValueError(f"teacher_weight must be in (0, 1] or 'auto', not {teacher_weight!r}")
    if (auto or float(teacher_weight) < 1.0) and not student.supports_weights:
        raise ConfigError(
            f"[train] teacher_weight = {teacher_weight!r}: student {student.name} takes no example "
            "weights (supports_weights is false); use a student that does (embeddings.textcat.v1, "
            "static.textcat.v1, sklearn.textcat.v1) or leave teacher_weight at 1 and raise "
            "human_weight instead"
        )
    host = host or get_host()
    labels_as_of = time.time()
    data = merge_labels(store, task, dataset, teacher_source)
    pairs = data.pairs
    # Each implementation sees the previous one's result (in pluggy's call order).
    for impl in reversed(host.hook.distil_train.get_hookimpls()):
        kwargs = {"task": task, "student": student, "data": pairs}
        replaced = impl.function(**{a: kwargs[a] for a in impl.argnames})
        if replaced is not None:
            pairs = replaced
    if not pairs:
        raise TrainingDataError(
            f"no training data in '{dataset}': label it with the teacher or import answers first"
        )
    _check_classes(task, pairs, data.human_ids, dataset)
    dev = None
    if dev_dataset:
        dev = [
            (ex.without_answer(), out)
            for ex in store.examples(dev_dataset)
            if (out := task.reference(ex)) is not None
        ] or None
    skip = _trust_skipped(task, pairs, trust, folds)
    factory = student_factory
    if factory is None and skip is None:
        try:
            template = copy.deepcopy(student)  # unfitted: each fold gets a copy of this one
        except (TypeError, copy.Error) as exc:
            if trust:
                raise ValueError(
                    f"trust: the student cannot be copied for the folds ({exc}); "
                    "pass student_factory"
                ) from exc
            skip = f"the student cannot be copied for the folds ({exc}); pass student_factory"
        else:

            def factory() -> Student:
                return copy.deepcopy(template)

    if skip is not None:
        factory = None

    run_id = store.start_run("train", {"student": student.name, **(config or {})})
    source = f"student:{student.name}#run={run_id}"
    dropped = dict(data.dropped)
    trust_summary: dict[str, Any] = {"skipped": skip} if skip else {}
    trust_preds: list[Prediction] = []
    trust_source: str | None = None
    label_issues: int | None = None
    if skip is None and factory is not None:
        from . import trust as trust_mod

        try:
            scored = trust_mod.score_labels(
                task, pairs, factory, folds=folds, seed=seed, exclude=data.human_ids
            )
        except trust_mod.TrustError as exc:
            if trust:
                store.finish_run(run_id, "failed", {"error": str(exc)})
                raise
            trust_summary = {"skipped": str(exc)}
        else:
            trust_source = f"trust:{student.name}#run={run_id}"
            trust_preds = trust_mod.trust_predictions(scored, trust_source, run_id)
            trust_summary = scored.summary()
            label_issues = len(scored.issues)
            if drop_label_issues and scored.issues:
                pairs, n = _without_issues(pairs, set(scored.issues), data.human_ids)
                if n:
                    dropped["label_issue"] = n
    started = time.perf_counter()
    if auto:
        weight, weight_summary = _choose_teacher_weight(
            task, student, pairs, data.human_ids, human_weight, dev
        )
    else:
        weight, weight_summary = float(teacher_weight), {}
    weight_summary = {"chosen": weight, **weight_summary}
    report = _fit(task, student, pairs, data.human_ids, human_weight, weight, dev)
    seconds = time.perf_counter() - started
    saved = Path(model_dir) / run_id
    saved.mkdir(parents=True, exist_ok=True)
    student.save(saved)
    (saved / "distil-student.json").write_text(
        json.dumps({"student": student.name, "source": source, "task": task.describe()}, indent=2)
    )
    predicted = _store_train_predictions(store, student, dataset, source, run_id)
    if trust_preds:
        store.add_predictions(trust_preds, dataset)
    result = TrainResult(
        run_id=run_id,
        source=source,
        model_dir=str(saved),
        n_train=len(pairs),
        from_teacher=data.from_teacher,
        from_humans=data.from_humans,
        from_answers=data.from_answers,
        dropped=dropped,
        seconds=seconds,
        report=report,
        label_issues=label_issues,
        trust=trust_summary,
        trust_source=trust_source if trust_preds else None,
        predicted=predicted,
        teacher_weight=weight_summary,
    )
    store.finish_run(
        run_id,
        "finished",
        {**result.to_dict(), "labels_as_of": labels_as_of, "dataset": dataset},
    )
    return result


#: The weights ``teacher_weight = "auto"`` tries, in order (0: the human answers alone).
AUTO_TEACHER_WEIGHTS: tuple[float, ...] = (1.0, 0.1, 0.01, 0.0)


def _fit(
    task: Task,
    student: Student,
    pairs: list[TrainPair],
    human_ids: set[str],
    human_weight: int,
    teacher_weight: float,
    dev: list[TrainPair] | None,
) -> dict[str, Any]:
    """One fit of ``student``: teacher labels at ``teacher_weight`` against human answers at
    ``human_weight`` (example weights below 1; 0: the human answers alone; at 1, each human pair
    repeated ``human_weight`` times)."""
    if not human_ids:
        # Only against human answers: with none, every label would get the same weight, which
        # changes nothing but the regularisation (a weaker student at cards 0).
        return student.fit(task, pairs, dev)
    if teacher_weight == 0.0:
        return student.fit(task, [p for p in pairs if p[0].id in human_ids], dev)
    if teacher_weight < 1.0:
        human = float(human_weight)
        weights = [human if ex.id in human_ids else teacher_weight for ex, _ in pairs]
        return student.fit(task, pairs, dev, weights=weights)  # type: ignore[call-arg]
    extra = [pair for pair in pairs if pair[0].id in human_ids] if human_weight > 1 else []
    return student.fit(task, pairs + extra * (human_weight - 1), dev)


def _choose_teacher_weight(
    task: Task,
    student: Student,
    pairs: list[TrainPair],
    human_ids: set[str],
    human_weight: int,
    dev: list[TrainPair] | None,
) -> tuple[float, dict[str, Any]]:
    """``teacher_weight = "auto"``: the weight whose fit scores best on dev (see train_student)."""
    if not human_ids:
        return 1.0, {"why": "no human answer yet"}
    if not dev:
        return 1.0, {"why": "no dev split with reference answers to choose on"}
    metric = task.headline_metric
    gold = [out for _, out in dev]
    texts = [ex for ex, _ in dev]
    scores: dict[str, float] = {}
    own = [p for p in pairs if p[0].id in human_ids]
    for weight in AUTO_TEACHER_WEIGHTS:
        if weight == 0.0 and task.exclusive and len(_label_sets(own)) < 2:
            continue  # the human answers alone hold one label: nothing to fit
        candidate = copy.deepcopy(student)  # unfitted: the final fit is the student's own
        _fit(task, candidate, pairs, human_ids, human_weight, weight, None)
        predicted: list[TaskOutput | None] = [p.output for p in candidate.predict(texts)]
        scores[str(weight)] = float(task.score(gold, predicted)[metric])
    best = max(scores, key=lambda w: (scores[w], float(w)))
    return float(best), {"metric": metric, "dev": scores}


def _label_sets(pairs: list[TrainPair]) -> set[tuple[str, ...]]:
    """The distinct label sets of ``pairs`` (what an exclusive classifier needs two of)."""
    return {tuple(out.labels) for _, out in pairs if isinstance(out, Categories)}


def _check_classes(task: Task, pairs: list[TrainPair], human: set[str], dataset: str) -> None:
    """An exclusive classifier cannot be fitted on one class: say so before any fit is tried.

    The usual cause is a teacher that answers one label for everything (a tiny LLM, a bad
    prompt); the student's own error ("needs samples of at least 2 classes") would not say that.
    """
    if not task.exclusive:
        return
    seen = _label_sets(pairs)
    if len(seen) != 1 or len(pairs) < 1:
        return
    (labels,) = seen
    label = labels[0] if labels else ""
    from_humans = sum(1 for ex, _ in pairs if ex.id in human)
    if from_humans == 0:
        raise TrainingDataError(
            f"the teacher gave every {dataset} row the label '{label}': a classifier needs two. "
            "Check the teacher (its prompt, its model), or import corrections with other labels"
        )
    raise TrainingDataError(
        f"every {dataset} row has the label '{label}' ({len(pairs) - from_humans} from the "
        f"teacher, {from_humans} from human answers): a classifier needs two"
    )


def _trust_skipped(
    task: Task, pairs: list[TrainPair], trust: bool | None, folds: int
) -> str | None:
    """Why no trust scores are computed (None: they are); an error when ``trust`` is required."""
    from . import trust as trust_mod

    if trust is False:
        return "off ([train] trust = false)"
    unsupported = trust_mod.trust_unsupported(task)
    if unsupported is not None:
        if trust:
            raise ConfigError(f"train.trust: {unsupported}; remove `trust = true`")
        return unsupported
    if not trust_mod.cleanlab_available():
        if trust:
            trust_mod.require_cleanlab()
        return f"cleanlab is not installed: {trust_mod.INSTALL_HINT}"
    needed = folds * trust_mod.MIN_PER_FOLD
    if len(pairs) < needed:
        return (
            f"{len(pairs)} training labels are too few for {folds} folds (at least {needed}); "
            "lower [train] folds or label more examples"
        )
    return None


def _without_issues(
    pairs: list[TrainPair], issues: set[str], human: set[str]
) -> tuple[list[TrainPair], int]:
    """``pairs`` without the flagged teacher labels (human answers always stay), and how many."""
    kept = [(ex, out) for ex, out in pairs if ex.id not in issues or ex.id in human]
    return kept, len(pairs) - len(kept)


def _store_train_predictions(
    store: Store, student: Student, dataset: str, source: str, run_id: str, batch: int = 1024
) -> int:
    """The fitted student's predictions on every example of ``dataset``, stored under ``source``.

    The annotation queue compares them with the teacher's (disagreement first). One prediction
    pass over the data set: cheap next to the fit for every shipped student. They are stored as
    answers on ``dataset`` (predictions are keyed by data set too), so a gold example with a
    train example's id keeps its own prediction.
    """
    examples = [ex.without_answer() for ex in store.examples(dataset)]
    stored = 0
    for start in range(0, len(examples), batch):
        chunk = examples[start : start + batch]
        outputs = student.predict(chunk)
        preds = [
            Prediction(
                example_id=ex.id,
                source=source,
                output=out.output,
                confidence=out.confidence,
                run_id=run_id,
            )
            for ex, out in zip(chunk, outputs, strict=True)
        ]
        store.add_predictions(preds, dataset)
        stored += len(chunk)
    return stored
