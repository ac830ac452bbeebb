"""Core's own behaviour, shipped as a default plugin through the same path as third-party ones.

It registers the built-in task kinds, the LLM teacher, the cascades, the local executor and the
normalisers, and, last (``trylast``), the default prompt and parse implementations, which live in
:mod:`distil.prompting` (the Jinja2 chat prompt per task) and :mod:`distil.parsing` (the JSON answer
parser). Plugins that implement these hooks run first and may return None to fall back to these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError
from .parsing import default_parse
from .parsing import parse_json_answer as parse_json_answer  # the old import path
from .plugins import hookimpl
from .prompting import TEMPLATES as TEMPLATES  # the old import paths
from .prompting import default_prompt
from .prompting import render_chat as render_chat
from .records import Completion, Example, Prompt, TaskOutput
from .student import Student
from .tasks import NerTask, SpansTask, Task, TextCat
from .teach.provider import Provider
from .teach.teacher import PromptTeacher, Teacher, text_only_prompt


def _load_shots(path: str | None) -> list[Example]:
    if not path:
        return []
    from .store.jsonl import read_jsonl

    result = read_jsonl(path)
    return result.examples


def make_textcat(
    labels: list[str],
    multilabel: bool = False,
    descriptions: dict[str, str] | None = None,
    instructions: str | None = None,
    shots_path: str | None = None,
) -> TextCat:
    """``textcat.v1``: classify texts into one label, or several with ``multilabel = true``."""
    return TextCat(
        labels,
        multilabel=multilabel,
        descriptions=descriptions,
        instructions=instructions,
        shots=_load_shots(shots_path),
    )


def make_ner(
    labels: list[str],
    descriptions: dict[str, str] | None = None,
    instructions: str | None = None,
    shots_path: str | None = None,
) -> NerTask:
    """``ner.v1``: named entities (non-overlapping spans), asked for as entity strings."""
    return NerTask(
        labels, descriptions=descriptions, instructions=instructions, shots=_load_shots(shots_path)
    )


def make_spans(
    labels: list[str],
    descriptions: dict[str, str] | None = None,
    instructions: str | None = None,
    shots_path: str | None = None,
) -> SpansTask:
    """``spans.v1``: labelled spans that may overlap or nest."""
    return SpansTask(
        labels, descriptions=descriptions, instructions=instructions, shots=_load_shots(shots_path)
    )


def make_llm_teacher(
    provider: Provider, concurrency: int = 4, shots_path: str | None = None
) -> PromptTeacher:
    """``llm.v1``: prompt → provider → parse, for any registered provider."""
    if not isinstance(provider, Provider):
        raise ConfigError(
            f"teacher.provider must be a registered provider (@providers = ...), got {provider!r}"
        )
    return PromptTeacher(provider, concurrency=concurrency, shots=_load_shots(shots_path))


def make_cascade(
    student: Student,
    student_path: str,
    teacher: Teacher | Provider,
    threshold: float = 0.5,
    shadow: bool = False,
) -> Teacher:
    """``cascade.v1``: a trained student first, the teacher only below ``threshold`` confidence.

    ``student`` is a registered student block that names the student's class; the trained model
    is loaded from ``student_path`` with that class's ``load``. ``teacher`` is a teacher block or a
    provider block (wrapped in the LLM teacher). ``shadow = true`` runs both on every example and
    returns the student's answers, recording where the two disagree.
    """
    from .cascade import Cascade

    if not isinstance(student, Student):
        raise ConfigError(
            f"teacher.student must be a registered student (@students = ...), got {student!r}"
        )
    if isinstance(teacher, Provider):
        teacher = PromptTeacher(teacher)
    if not isinstance(teacher, Teacher):
        raise ConfigError(
            f"teacher.teacher must be a registered teacher or provider, got {teacher!r}"
        )
    path = Path(student_path)
    if not path.is_dir():
        raise ConfigError(
            f"teacher.student_path: {path} is not a folder; train the student first "
            "(distil train) and point student_path at the saved model"
        )
    loaded = type(student).load(path)
    return Cascade(loaded, teacher, threshold=threshold, shadow=shadow)


def make_extract_cascade(
    student: Student,
    student_path: str,
    teacher: Teacher | Provider,
    threshold: float = 0.0,
    shadow: bool = False,
) -> Teacher:
    """``extract.cascade.v1``: ``cascade.v1`` for a trained composite (``extract.composite.v1``,
    saved by ``distil train``): the teacher fills the fields it leaves pending and, below
    ``threshold``, the unsure ones. ``shadow = true`` asks the teacher for every record and
    returns the composite's, recording where the two disagree."""
    return make_cascade(student, student_path, teacher, threshold=threshold, shadow=shadow)


@hookimpl
def register_tasks(register: Any) -> None:
    register("textcat.v1", make_textcat)
    register("ner.v1", make_ner)
    register("spans.v1", make_spans)
    register("extract.v1", _factory("distil.tasks.extract:make_extract"))


@hookimpl
def register_teachers(register: Any) -> None:
    register("llm.v1", make_llm_teacher)
    register("cascade.v1", make_cascade)
    register("extract.cascade.v1", make_extract_cascade)


@hookimpl
def register_students(register: Any) -> None:
    register("extract.composite.v1", _factory("distil.extract.composite:make_composite"))


def _factory(path: str) -> Any:
    """The factory at ``module:function``, imported when the registry is filled (the extract
    modules import nothing heavy; keeping them out of this module keeps it short)."""
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@hookimpl
def register_normalisers(register: Any) -> None:
    from .tasks.extract_normalise import BUILTIN_NORMALISERS

    for name, factory in BUILTIN_NORMALISERS.items():
        register(name, factory)


@hookimpl
def register_executors(register: Any) -> None:
    from .execute import make_local_executor

    register("local.v1", make_local_executor)


# The prompt and parse stages' defaults live in distil.prompting and distil.parsing; these are
# only their registrations, last (``trylast``) so that any plugin's implementation runs first.
@hookimpl(trylast=True)
@text_only_prompt  # the default templates never read the example: its text is the user message
def distil_prompt(task: Task, example: Example, shots: list[Example], style: str) -> Prompt | None:
    return default_prompt(task, example, shots, style)


@hookimpl(trylast=True)
def distil_parse(task: Task, example: Example, completion: Completion) -> TaskOutput | None:
    return default_parse(task, example, completion)
