"""spaCy pipeline components that wrap a distil teacher or a trained distil student.

Both set the same Doc attributes, so a pipeline reads ``doc.cats`` / ``doc.ents`` (``doc.spans["sc"]``
for ``spans`` tasks) the same way whichever produced them:

- ``textcat``: ``doc.cats`` has exactly the task's labels, 1.0 for each chosen label, 0.0 otherwise;
- ``ner``: ``doc.ents`` are Spans whose labels are the task's;
- every Doc also gets ``doc._.distil_confidence`` and ``doc._.distil_source``.

``distil_teacher`` config: ``teacher`` (a registered teacher name, e.g. ``"spacy.pipeline.v1"``),
``teacher_config`` (its keyword arguments; a nested distil block is written
``{"distil_registry": "providers", "name": "openai.chat.v1", ...}`` since spaCy reserves ``@``
keys for its own registries), ``task`` (``"ner"``, ``"spans"`` or ``"textcat"``), ``labels`` and
``multilabel``. ``distil_student`` config: ``path``, a folder written by any distil student's
``save`` (the student's own task decides the labels).

Registered by importing this module, and through spaCy's ``spacy_factories`` entry points, so
``spacy.blank("en").add_pipe("distil_teacher", config=...)`` works without importing it first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

import distil

from .convert import SPANS_KEY, AlignmentReport, doc_spans, non_overlapping, set_cats

for _attr in ("distil_confidence", "distil_source"):
    if not Doc.has_extension(_attr):
        Doc.set_extension(_attr, default=None)


def resolve_block(value: Any, host: Any) -> Any:
    """Nested ``{"distil_registry": kind, "name": name, **kwargs}`` blocks built from the registries."""
    if isinstance(value, dict):
        resolved = {k: resolve_block(v, host) for k, v in value.items()}
        if "distil_registry" in resolved:
            kind, name = resolved.pop("distil_registry"), resolved.pop("name")
            return host.create(kind, name, **resolved)
        return resolved
    if isinstance(value, list):
        return [resolve_block(v, host) for v in value]
    return value


def make_task(kind: str, labels: list[str], multilabel: bool) -> distil.Task:
    if kind == "textcat":
        return distil.TextCat(labels, multilabel=multilabel)
    if kind in ("ner", "spans"):
        return distil.task_from_description({"kind": kind, "labels": labels})
    raise ValueError(f"task must be 'ner', 'spans' or 'textcat', not {kind!r}")


class DistilComponent:
    """Shared: run a labeller on batches of Docs and write its outputs onto them."""

    def __init__(self, name: str, task: distil.Task, batch_size: int = 64) -> None:
        self.name = name
        self.task = task
        self.batch_size = batch_size
        self.alignment = AlignmentReport()

    def outputs(
        self, examples: list[distil.Example]
    ) -> list[tuple[distil.TaskOutput | None, float | None, str]]:
        raise NotImplementedError

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        size = batch_size or self.batch_size
        batch: list[Doc] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) >= size:
                yield from self._annotate(batch)
                batch = []
        if batch:
            yield from self._annotate(batch)

    def _annotate(self, docs: list[Doc]) -> list[Doc]:
        examples = [distil.Example(id=f"doc-{i}", text=doc.text) for i, doc in enumerate(docs)]
        for doc, (output, confidence, source) in zip(docs, self.outputs(examples), strict=True):
            self.set(doc, output)
            doc._.distil_confidence = confidence
            doc._.distil_source = source
        return docs

    def set(self, doc: Doc, output: distil.TaskOutput | None) -> None:
        if isinstance(self.task, distil.TextCat):
            chosen = (
                output if isinstance(output, distil.Categories) else distil.Categories(labels=[])
            )
            set_cats(doc, chosen, self.task.labels)
            return
        spans = output.spans if isinstance(output, distil.Spans) else []
        token_spans = doc_spans(doc, spans, self.alignment, self.name)
        if self.task.kind == "spans":
            doc.spans[SPANS_KEY] = token_spans
        else:
            doc.ents = non_overlapping(token_spans, self.alignment)


class TeacherComponent(DistilComponent):
    def __init__(self, name: str, teacher: Any, task: distil.Task, batch_size: int) -> None:
        super().__init__(name, task, batch_size)
        self.teacher = teacher

    def outputs(
        self, examples: list[distil.Example]
    ) -> list[tuple[distil.TaskOutput | None, float | None, str]]:
        predictions = self.teacher.label(self.task, examples)
        return [(p.output, p.confidence, p.source) for p in predictions]


class StudentComponent(DistilComponent):
    def __init__(self, name: str, student: Any, path: str, batch_size: int) -> None:
        super().__init__(name, student.task, batch_size)
        self.student = student
        self.source = f"student:{student.name}#path={Path(path).name}"

    def outputs(
        self, examples: list[distil.Example]
    ) -> list[tuple[distil.TaskOutput | None, float | None, str]]:
        return [(p.output, p.confidence, self.source) for p in self.student.predict(examples)]


@Language.factory(
    "distil_teacher",
    default_config={
        "teacher": "spacy.pipeline.v1",
        "teacher_config": {},
        "task": "ner",
        "labels": [],
        "multilabel": False,
        "batch_size": 64,
    },
)
def make_teacher_component(
    nlp: Language,
    name: str,
    teacher: str,
    teacher_config: dict[str, Any],
    task: str,
    labels: list[str],
    multilabel: bool,
    batch_size: int,
) -> TeacherComponent:
    host = distil.get_host()
    built = host.create("teachers", teacher, **resolve_block(dict(teacher_config), host))
    return TeacherComponent(name, built, make_task(task, list(labels), multilabel), batch_size)


@Language.factory("distil_student", default_config={"path": "", "batch_size": 256})
def make_student_component(
    nlp: Language, name: str, path: str, batch_size: int
) -> StudentComponent:
    return StudentComponent(name, load_student(path), path, batch_size)


def load_student(path: str | Path) -> Any:
    """Load any distil student saved with ``save(path)``: its ``meta.json`` names the student, whose
    registered factory gives the class to ``load`` with."""
    folder = Path(path)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"distil_student: {meta_path} is missing; `path` must be a saved student"
        )
    name = json.loads(meta_path.read_text(encoding="utf-8")).get("student", "")
    host = distil.get_host()
    candidates = sorted(n for n in host.names("students") if n.rsplit(".v", 1)[0] == name)
    if not candidates:
        raise distil.RegistryError(
            f"distil_student: {folder} holds a {name!r} student, but no installed plugin registers it"
        )
    student_cls = type(host.create("students", candidates[-1]))
    return student_cls.load(folder)
