"""Every hook distil calls, typed and documented. Nothing else lives here.

Plugins implement hooks with ``@distil.hookimpl``. Hooks are called with keyword arguments, so an
implementation may accept fewer arguments than its spec: hooks can grow without breaking plugins.

Registration hooks receive a ``register(name, factory)`` callback owned by core, which records which
plugin registered what and rejects a name registered twice (naming both plugins).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .init_choices import StudentChoice, TeacherChoice
    from .records import Annotation, Completion, Example, Prediction, Prompt, TaskOutput
    from .tasks import Task

hookspec = pluggy.HookspecMarker("distil")

Register = Callable[..., None]


# -- registration -------------------------------------------------------------------------------
@hookspec
def register_tasks(register: Register) -> None:
    """Register task factories: ``register("textcat.v1", make_textcat)``.

    A factory's keyword arguments are the keys its ``[task]`` config block accepts.
    """


@hookspec
def register_teachers(register: Register) -> None:
    """Register teacher factories (anything with ``label(task, examples)``): ``[teacher] @teachers``."""


@hookspec
def register_providers(register: Register) -> None:
    """Register LLM provider factories (``complete(prompt, params)``): ``@providers`` in config."""


@hookspec
def register_students(register: Register) -> None:
    """Register student factories (``fit``/``predict``/``save``/``load``): ``[student] @students``."""


@hookspec
def register_exporters(register: Register) -> None:
    """Register exporter factories (``export(records, path)``, optional ``import_(path)``)."""


@hookspec
def register_executors(register: Register) -> None:
    """Register executors (how the label and predict stages are run): ``[executor] @executors``.

    The project's label and predict stages go through the configured executor (see
    :mod:`distil.execute`); core registers ``local.v1``, the default, and ``distil-ray`` adds
    ``ray.v1``. A factory's keyword arguments are the keys its ``[executor]`` block accepts.
    """


@hookspec
def register_normalisers(register: Register) -> None:
    """Register normalisers (a span of the text → a field's value): ``"price" = "money.v1"``.

    The extract planner picks one by a field's type (a number, an amount, a date) and learns the
    field as a span; the composite applies the normaliser and validates the record. A factory
    builds a :class:`distil.tasks.extract_normalise.Normaliser` (also importable as
    ``distil.extract.normalise.Normaliser``) with no arguments; core registers ``text.v1``,
    ``number.v1``, ``money.v1`` and ``date.v1``.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``distil`` typer app: ``@cli.command()`` or ``cli.add_typer(...)``."""


@hookspec
def distil_init_choices() -> list[TeacherChoice | StudentChoice] | None:
    """Offer ``distil init`` choices: ``--teacher NAME`` and ``--student NAME`` per task kind.

    Return :class:`distil.TeacherChoice` and :class:`distil.StudentChoice` objects (or None). A
    teacher choice carries the ``[teacher]`` block it writes, as text or a function of the
    :class:`distil.InitRequest` (the labels, ``--model``, ``--base-url``) that may raise
    ``ValueError`` saying what would work; a student choice names the registered student (and
    its multi-label variant). ``priority`` makes a choice a candidate for ``--teacher auto`` /
    ``--student auto``: the highest installed one per task kind wins. Called only by
    ``distil init`` (never at start-up), so it may import its own modules; one (name, task kind)
    offered by two plugins is an error naming both.
    """


# -- lifecycle ----------------------------------------------------------------------------------
@hookspec(firstresult=True)
def distil_prompt(
    task: Task, example: Example, shots: list[Example], style: str, teacher: Any
) -> Prompt | None:
    """Build the prompt for one example. First non-None result wins.

    ``style`` says what the teacher needs: ``"chat"`` (messages plus a JSON schema, the default
    built-in implementation renders the task's Jinja2 template) or ``"hypotheses"`` (one sentence
    per label, for zero-shot embedding teachers). ``teacher`` is the teacher asking, so an
    implementation can read its settings (a template, say). Return None to leave the example to
    others.
    """


@hookspec(firstresult=True)
def distil_parse(task: Task, example: Example, completion: Completion) -> TaskOutput | None:
    """Turn a provider's completion into the task's output type. First non-None result wins.

    Raise :class:`distil.ParseError` for an answer that does not fit the task (an unknown label,
    invalid JSON, a truncated or refused answer); the teacher loop stores it as a parse failure
    with the raw text and goes on. Return None to leave the completion to other implementations.
    """


@hookspec
def distil_annotate(task: Task, example: Example, annotation: Annotation) -> Annotation | None:
    """Observe (or route) a human answer before it is stored.

    Called for every annotation that is imported or given in the app. Return a replacement
    annotation to change what is stored, or None to keep it. All implementations are called;
    the last non-None replacement wins.
    """


@hookspec(firstresult=True)
def distil_queue_order(task: Task, pass_name: str, cards: list[Any]) -> list[Any] | None:
    """Order the annotation queue of one pass. First non-None result wins.

    ``cards`` are :class:`distil.annotate.Card` objects (``example``, ``suggestion``,
    ``confidence``, ``student``, ``disagree``) already in the default order: teacher–student
    disagreement first, then lowest teacher confidence. Return them reordered (or a subset: a
    card left out is not shown in this pass), or None to keep the default. ``pass_name`` is the
    pass being planned (``check``, ``check:LABEL``, ``fix`` or ``review``). Called once per pass
    when the app starts, so it may be slow-ish; it must not write to the store.
    """


@hookspec
def distil_train(
    task: Task, student: Any, data: list[tuple[Example, TaskOutput]]
) -> list[tuple[Example, TaskOutput]] | None:
    """Called before a student is fitted, with the merged training data.

    Return a new list to change what the student trains on (filter, augment, re-weight), or None
    to leave it. Implementations are applied in turn, each seeing the previous one's result.
    """


@hookspec
def distil_evaluate(
    task: Task,
    gold: list[Example],
    predictions: list[Prediction | None],
) -> dict[str, Any] | None:
    """Add metrics to a source's scores. Every implementation is called; the dicts are merged.

    ``predictions[i]`` answers ``gold[i]`` (None when the source has no answer for it).
    """
