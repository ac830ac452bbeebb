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
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .plugins import PluginHost, get_host
from .records import Example, TaskOutput
from .student import Student
from .tasks import Task

if TYPE_CHECKING:
    from .store.sqlite import Store


@dataclass
class TrainingData:
    pairs: list[tuple[Example, TaskOutput]]
    from_teacher: int = 0
    from_humans: int = 0
    from_answers: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


def merge_labels(
    store: Store, task: Task, dataset: str, teacher_source: str | None
) -> TrainingData:
    """The training pairs for ``dataset``: human answers over the teacher's labels."""
    if task.kind == "extract":  # answers per subtask, merged field by field
        from .extract.answers import merge_extract_labels

        return merge_extract_labels(store, task, dataset, teacher_source)
    examples = store.examples(dataset)
    teacher = store.predictions(teacher_source) if teacher_source else {}
    from .annotate.resolve import resolve_answers

    human = resolve_answers(store.annotations())
    data = TrainingData(pairs=[])
    dropped: dict[str, int] = {}
    for ex in examples:
        ann = human.get(ex.id)
        if ann is not None and ann.answer in ("correct", "accept") and ann.output is not None:
            data.pairs.append((ex.without_answer(), task.validate_output(ann.output)))
            data.from_humans += 1
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
) -> TrainResult:
    """Fit ``student`` on the merged labels of ``dataset`` and save it under ``model_dir``."""
    host = host or get_host()
    data = merge_labels(store, task, dataset, teacher_source)
    pairs = data.pairs
    # Each implementation sees the previous one's result (in pluggy's call order).
    for impl in reversed(host.hook.distil_train.get_hookimpls()):
        kwargs = {"task": task, "student": student, "data": pairs}
        replaced = impl.function(**{a: kwargs[a] for a in impl.argnames})
        if replaced is not None:
            pairs = replaced
    if not pairs:
        raise ValueError(
            f"no training data in '{dataset}': label it with the teacher or import answers first"
        )
    dev = None
    if dev_dataset:
        dev = [
            (ex.without_answer(), out)
            for ex in store.examples(dev_dataset)
            if (out := task.reference(ex)) is not None
        ] or None
    run_id = store.start_run("train", {"student": student.name, **(config or {})})
    source = f"student:{student.name}#run={run_id}"
    started = time.perf_counter()
    report = student.fit(task, pairs, dev)
    seconds = time.perf_counter() - started
    saved = Path(model_dir) / run_id
    saved.mkdir(parents=True, exist_ok=True)
    student.save(saved)
    (saved / "distil-student.json").write_text(
        json.dumps({"student": student.name, "source": source, "task": task.describe()}, indent=2)
    )
    result = TrainResult(
        run_id=run_id,
        source=source,
        model_dir=str(saved),
        n_train=len(pairs),
        from_teacher=data.from_teacher,
        from_humans=data.from_humans,
        from_answers=data.from_answers,
        dropped=data.dropped,
        seconds=seconds,
        report=report,
    )
    store.finish_run(run_id, "finished", result.to_dict())
    return result
