"""The composite student: one student per subtask of the plan, reassembling the user's record.

``extract.composite.v1`` holds two student blocks from config: ``textcat`` (copied once per textcat
subtask: exclusive, multi-label and binary fields) and ``spans`` (the one NER subtask of the span
fields). ``fit`` splits every training record with :meth:`~distil.extract.plan.Plan.split` and
trains each copy on its own subtask; ``predict`` runs them all and reassembles a record.

What the caller may rely on:

* A training record whose span value is not in the text (or overlaps another span field's value)
  is left out of the span subtask only; ``fit``'s report counts the records each subtask dropped
  and shows the first reasons. The textcat subtasks still learn from it. So is a record whose
  fields of a subtask are ``pending`` (a person rejected them: :mod:`distil.extract.answers`).
* A subtask whose training answers are all the same (or that has none) is not trained: it answers
  that constant with confidence 1.0, and the report says ``"constant"``.
* ``predict`` returns an :class:`~distil.records.Extraction` per example. Fields that stay with
  the teacher are listed in ``pending`` (the cascade, :class:`~distil.extract.runtime.ExtractCascade`,
  fills them); so are student fields whose assembled value the schema rejects. With nothing pending
  the data is the schema-validated record, so the composite and the teacher return the same type.
  ``confidence`` is the lowest of the subtasks' confidences.
* ``save`` writes one folder per subtask plus ``composite.json`` (the schema's import path, the
  overrides, and each subtask's student class); ``load`` rebuilds the plan from the schema. Only
  :class:`~distil.student.Student` subclasses are loaded, each through its own safe ``load``.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConfigError, DataError, ParseError
from ..records import Categories, Example, Extraction, Spans, TaskOutput
from ..student import Student, StudentPrediction, TrainPair
from ..tasks import Task
from ..tasks.extract_plan import SPAN_SUBTASK, Plan, reference_of, set_path

MANIFEST = "composite.json"
FORMAT = "distil.extract.composite/1"


def _folder(subtask: str) -> str:
    return subtask.replace(":", "__").replace(".", "_")


def _class_path(obj: Student) -> str:
    return f"{type(obj).__module__}:{type(obj).__qualname__}"


def _student_class(path: str) -> type[Student]:
    module, _, name = path.partition(":")
    cls: Any = importlib.import_module(module)
    for part in name.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, Student)):
        raise DataError(f"{MANIFEST}: {path} is not a distil Student class")
    return cls


class RecordPrediction(StudentPrediction):
    """A composite's prediction: the record, its lowest confidence, and each student field's
    confidence (its subtask's), so that a cascade can ask the teacher for the unsure fields
    alone."""

    __slots__ = ("field_confidence",)

    def __init__(
        self,
        output: TaskOutput,
        confidence: float | None,
        field_confidence: dict[str, float | None] | None = None,
    ) -> None:
        super().__init__(output, confidence)
        self.field_confidence = dict(field_confidence or {})


class CompositeStudent(Student):
    """One student per subtask; see the module docstring."""

    name: ClassVar[str] = "extract.composite"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"extract"})

    def __init__(self, textcat: Student | None = None, spans: Student | None = None) -> None:
        self.textcat = textcat
        self.spans = spans
        self.task: Task | None = None
        self.students: dict[str, Student] = {}
        self.constants: dict[str, TaskOutput] = {}
        self.report: dict[str, Any] = {}

    @property
    def plan(self) -> Plan:
        plan: Plan | None = getattr(self.task, "plan", None)
        if plan is None:
            raise RuntimeError("the composite student is not trained; call fit() or load() first")
        return plan

    def check_task(self, task: Task) -> None:
        super().check_task(task)
        plan: Plan = getattr(task, "plan")  # noqa: B009  (an ExtractTask)
        trained = set(self.students) | set(self.constants)
        if trained:  # fitted or loaded: the task must have the subtasks it was trained on
            if trained != set(plan.subtasks):
                raise ValueError(
                    f"the composite was trained on subtasks {sorted(trained)}; this task's plan "
                    f"has {sorted(plan.subtasks)}"
                )
            return
        for name, sub in plan.subtasks.items():
            proto = self.spans if name == SPAN_SUBTASK else self.textcat
            role = "spans" if name == SPAN_SUBTASK else "textcat"
            if proto is None:
                raise ConfigError(
                    f"student.{role}: the plan has subtask '{name}' but the composite student "
                    f"has no [student.{role}] block (a registered student)"
                )
            try:
                proto.check_task(sub)
            except ValueError as exc:
                raise ConfigError(f"student.{role}: {exc}") from None

    # -- fit --------------------------------------------------------------------------------
    def fit(
        self, task: Task, train: list[TrainPair], dev: list[TrainPair] | None = None
    ) -> dict[str, Any]:
        self.students, self.constants = {}, {}
        self.check_task(task)
        self.task = task
        plan = self.plan
        per_task = self._split(plan, train)
        dev_split = self._split(plan, dev or [])
        self.students, self.constants, report = {}, {}, {}
        for name, sub in plan.subtasks.items():
            pairs, reasons = per_task[name]
            entry: dict[str, Any] = {
                "kind": sub.kind,
                "fields": [f.path for f in plan.fields_of(name)],
                "n_train": len(pairs),
                "dropped": len(reasons),
                "dropped_examples": reasons[:5],
            }
            keys = Counter(_key(out) for _, out in pairs)
            if len(keys) <= 1:
                # Spans are offsets into one text: a constant can only be "no spans".
                spanish = not pairs or isinstance(pairs[0][1], Spans)
                constant = sub.empty_output() if spanish else pairs[0][1]
                self.constants[name] = constant
                entry["student"] = "constant"
                entry["constant"] = constant.model_dump(mode="json")
            else:
                proto = self.spans if name == SPAN_SUBTASK else self.textcat
                assert proto is not None  # check_task made sure
                student = copy.deepcopy(proto)
                dev_pairs = dev_split[name][0] or None
                entry["student"] = student.name
                entry["report"] = student.fit(sub, pairs, dev_pairs)
                self.students[name] = student
            report[name] = entry
        self.report = {"subtasks": report, "n_train": len(train)}
        return self.report

    @staticmethod
    def _split(plan: Plan, pairs: list[TrainPair]) -> dict[str, tuple[list[TrainPair], list[str]]]:
        out: dict[str, tuple[list[TrainPair], list[str]]] = {
            name: ([], []) for name in plan.subtasks
        }
        for example, output in pairs:
            if not isinstance(output, Extraction):
                raise DataError(f"example '{example.id}': expected an extraction, got {output!r}")
            answers, failed = plan.split(output.data, example.text, reference_of(example.meta))
            for name in plan.subtasks:
                held = [f.path for f in plan.fields_of(name) if f.path in output.pending]
                if held:  # a person rejected this subtask's value without correcting it
                    out[name][1].append(f"{example.id}: {', '.join(held)} pending (rejected)")
                elif name in answers:
                    out[name][0].append((example, answers[name]))
                else:
                    out[name][1].append(f"{example.id}: {failed.get(name, 'no answer')}")
        return out

    # -- predict ----------------------------------------------------------------------------
    def predict(self, examples: list[Example]) -> list[StudentPrediction]:
        plan = self.plan
        task = self.task
        per: dict[str, Sequence[StudentPrediction]] = {}
        for name in plan.subtasks:
            if name in self.students:
                per[name] = self.students[name].predict(examples)
            else:
                per[name] = [StudentPrediction(self.constants[name], 1.0) for _ in examples]
        out: list[StudentPrediction] = []
        for i, example in enumerate(examples):
            outputs = {name: preds[i].output for name, preds in per.items()}
            confs = [preds[i].confidence for preds in per.values()]
            data, unread = plan.assemble_checked(outputs, example.text, reference_of(example.meta))
            pending = [f.path for f in plan.teacher_fields] + list(unread)
            for path in pending:
                set_path(data, path, None)
            try:
                data = task.validate_data(data)  # type: ignore[union-attr]
            except ParseError as exc:
                bad = getattr(exc, "fields", None) or [""]
                pending += [
                    f.path for f in plan.student_fields if any(names(f.path, b) for b in bad)
                ]
                pending = list(dict.fromkeys(pending)) or [f.path for f in plan.fields]
            known = [c for c in confs if c is not None]
            confidence = min(known) if len(known) == len(confs) and known else None
            fields = {
                f.path: per[f.subtask][i].confidence for f in plan.student_fields if f.subtask
            }
            record = Extraction(data=data, pending=pending)
            out.append(RecordPrediction(record, confidence, fields))
        return out

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        plan = self.plan
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        students = {}
        for name, student in self.students.items():
            student.save(folder / _folder(name))
            students[name] = {"class": _class_path(student), "folder": _folder(name)}
        manifest = {
            "format": FORMAT,
            "schema": f"{plan.schema.__module__}:{plan.schema.__qualname__}",
            "fields": getattr(self.task, "overrides", {}),
            "students": students,
            "constants": {k: v.model_dump(mode="json") for k, v in self.constants.items()},
            "report": self.report,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CompositeStudent:
        from pydantic import TypeAdapter

        from ..records import TaskOutput
        from ..tasks.extract import ExtractTask, import_schema

        folder = Path(path)
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise FileNotFoundError(f"{folder} is not a model saved by {cls.name} (no {MANIFEST})")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise DataError(f"{manifest_path}: format {manifest.get('format')!r} is not {FORMAT}")
        student = cls()
        student.task = ExtractTask(import_schema(manifest["schema"]), manifest.get("fields"))
        for name, entry in manifest["students"].items():
            sub_cls = _student_class(entry["class"])
            student.students[name] = sub_cls.load(folder / entry["folder"])
        adapter: TypeAdapter[Any] = TypeAdapter(TaskOutput)
        student.constants = {
            k: adapter.validate_python(v) for k, v in manifest.get("constants", {}).items()
        }
        student.report = manifest.get("report", {})
        return student


def names(path: str, loc: str) -> bool:
    """True when the validation error at ``loc`` (``"item_price"``, ``"items.0"``,
    ``"address"``; ``""`` for the whole record) is about the field ``path``: matched by whole
    dotted parts, never by substring (``item_price`` is not ``item``)."""
    if not loc:
        return True
    return loc == path or loc.startswith(f"{path}.") or path.startswith(f"{loc}.")


def _key(output: TaskOutput) -> Any:
    if isinstance(output, Categories):
        return tuple(sorted(output.labels))
    if isinstance(output, Spans):
        return tuple((s.start, s.end, s.label) for s in output.spans)
    return None


def make_composite(
    textcat: Student | None = None, spans: Student | None = None
) -> CompositeStudent:
    """``extract.composite.v1``: ``[student.textcat]`` learns every textcat subtask (one copy
    each), ``[student.spans]`` the NER subtask of the span fields."""
    for role, student in (("textcat", textcat), ("spans", spans)):
        if student is not None and not isinstance(student, Student):
            raise ConfigError(f"student.{role} must be a registered student, got {student!r}")
    return CompositeStudent(textcat=textcat, spans=spans)
