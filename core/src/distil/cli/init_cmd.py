"""``distil init``: write a project config from a template."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from ..init_choices import InitRequest, StudentChoice, TeacherChoice

if TYPE_CHECKING:
    from ..plugins import PluginHost


TASKS = {"textcat": "textcat.v1", "ner": "ner.v1"}


@dataclass
class InitChoices:
    """The ``--teacher`` and ``--student`` choices the loaded plugins offer, per task kind.

    ``teachers[name][task]`` and ``students[name][task]``; ``plugin_of[(role, name, task)]`` says
    which plugin offered each. Built by :func:`init_choices` from the ``distil_init_choices`` hook.
    """

    teachers: dict[str, dict[str, TeacherChoice]] = field(default_factory=dict)
    students: dict[str, dict[str, StudentChoice]] = field(default_factory=dict)
    plugin_of: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def auto(self, role: str, task: str) -> str | None:
        """The ``auto`` pick for a task kind: the highest-priority choice (ties: by name)."""
        table = self.teachers if role == "teacher" else self.students
        ranked = sorted(
            (-choice.priority, name)
            for name, per_task in table.items()
            if (choice := per_task.get(task)) is not None and choice.priority is not None
        )
        return ranked[0][1] if ranked else None


def init_choices(host: PluginHost | None = None) -> InitChoices:
    """Ask every loaded plugin for its ``distil init`` choices (the ``distil_init_choices`` hook).

    Called by ``distil init`` only: ``distil --help`` and ``distil init --help`` load no plugin.
    One (teacher or student, name, task kind) offered by two plugins is a
    :class:`~distil.errors.PluginError` naming both.
    """
    from ..errors import PluginError
    from ..plugins import get_host

    host = host or get_host()
    found = InitChoices()
    for impl in host.pm.hook.distil_init_choices.get_hookimpls():
        plugin = host.pm.get_name(impl.plugin) or "?"
        hook = cast("Callable[[], list[Any] | None]", impl.function)
        try:
            offered = hook() or []
        except Exception as exc:  # name the plugin, not only its traceback
            raise PluginError(
                f"plugin '{plugin}': distil_init_choices() raised {type(exc).__name__}: {exc}"
            ) from exc
        for choice in offered:
            table: dict[str, dict[str, Any]]
            if isinstance(choice, TeacherChoice):
                role, table = "teacher", found.teachers
            elif isinstance(choice, StudentChoice):
                role, table = "student", found.students
            else:
                raise PluginError(
                    f"plugin '{plugin}': distil_init_choices returned {choice!r}; return "
                    "distil.TeacherChoice and distil.StudentChoice objects"
                )
            key = (role, choice.name, choice.task)
            if key in found.plugin_of:
                raise PluginError(
                    f"--{role} {choice.name} for {choice.task} is offered by both plugin "
                    f"'{found.plugin_of[key]}' and plugin '{plugin}'. Disable one with "
                    "DISTIL_DISABLE_PLUGINS."
                )
            found.plugin_of[key] = plugin
            table.setdefault(choice.name, {})[choice.task] = choice
    return found


def _missing(role: str, name: str, task: str, offered: dict[str, dict[str, Any]]) -> str:
    """The message for a choice no loaded plugin offers: what is offered, and what to install."""
    from ..plugins import install_hint

    fits = sorted(n for n, per_task in offered.items() if task in per_task)
    if name in offered:
        head = f"the {name} {role} has no {task} model"
        if role == "teacher":
            head = f"no installed plugin offers --teacher {name} for {task}"
        return f"{head}; for {task} choose from {fits}"
    listing = ", ".join(fits) if fits else "(none: install a plugin that offers one)"
    return f"unknown {role} '{name}'; for {task} choose from: {listing}. {install_hint(name)}"


def render_config(
    *,
    task: str = "textcat",
    teacher: str = "auto",
    student: str = "auto",
    labels: list[str],
    multilabel: bool = False,
    train: str = "data/train.jsonl",
    gold: str = "data/test.jsonl",
    dev: str | None = None,
    name: str = "distil-project",
    data_keys: dict[str, str] | None = None,
    model: str | None = None,
    base_url: str | None = None,
    choices: InitChoices | None = None,
) -> str:
    """The text of a config for these choices (every combination is loaded by a test).

    The teacher and student choices come from the plugins (:func:`init_choices`, or ``choices``);
    ``auto`` picks the highest-priority one installed for the task.
    ``data_keys`` are extra ``[data]`` keys: the column mapping of a table (:func:`inspect_data`).
    ``model`` and ``base_url`` set the LLM teacher's model and server, for a choice that takes
    them (``--base-url http://localhost:8000/v1 --model NAME``: a vLLM server, say).
    """
    import jinja2

    if task not in TASKS:
        raise typer.BadParameter(f"unknown task '{task}'; choose from {sorted(TASKS)}")
    offered = choices or init_choices()
    teacher = _pick(offered, "teacher", teacher, task)
    student = _pick(offered, "student", student, task)
    if student not in offered.students or task not in offered.students[student]:
        raise typer.BadParameter(_missing("student", student, task, offered.students))
    if teacher not in offered.teachers or task not in offered.teachers[teacher]:
        raise typer.BadParameter(_missing("teacher", teacher, task, offered.teachers))
    if multilabel and task != "textcat":
        raise typer.BadParameter(f"--multilabel applies to textcat, not {task}")
    picked = offered.students[student][task]
    student_name = (picked.multilabel or picked.student) if multilabel else picked.student
    chosen = offered.teachers[teacher][task]
    if (model is not None or base_url is not None) and not chosen.takes_model:
        llms = sorted(n for n, t in offered.teachers.items() if task in t and t[task].takes_model)
        raise typer.BadParameter(
            f"--model and --base-url apply to the LLM teachers ({', '.join(llms)}), "
            f"not to --teacher {teacher}"
        )
    request = InitRequest(task, list(labels), multilabel, model, base_url)
    try:
        teacher_block = chosen.render(request)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("distil", "templates/init"), keep_trailing_newline=True
    )
    return env.get_template("distil.cfg.jinja2").render(
        name=name,
        task_name=TASKS[task],
        labels=labels,
        multilabel=multilabel,
        teacher_block=teacher_block,
        student_name=student_name,
        weak_teacher=chosen.weak,
        student_weights=picked.weights,
        train=train,
        gold=gold,
        dev=dev,
        data_keys=data_keys or {},
    )


def _pick(offered: InitChoices, role: str, name: str, task: str) -> str:
    if name != "auto":
        return name
    picked = offered.auto(role, task)
    if picked is None:
        from ..plugins import install_hint

        raise typer.BadParameter(
            f"no installed plugin offers a default {role} for {task}; install one that does "
            f"(`distil plugins` lists what is loaded). {install_hint(None)}"
        )
    return picked


def inspect_data(
    task: str, files: dict[str, str | None], mapping: Any
) -> tuple[dict[str, str], list[str]]:
    """The ``[data]`` mapping keys for the data files that exist, and the labels they hold.

    ``files`` is option name → path (``train``, ``gold``, ``dev``); a path that does not exist
    yet is skipped (the config may be written before the data). A table's columns are found by
    name unless ``mapping`` (a :class:`~distil.store.readers.ColumnMapping`) names them; the
    first table decides, and the others must have the same columns. Labels are every label (or,
    for ``ner``, span label) in the files, sorted.
    """
    from ..errors import DataError
    from ..store.readers import TABULAR, detect_format, guess_mapping, read_columns, read_data

    found = mapping
    tables = False
    labels: set[str] = set()
    for option, value in files.items():
        if not value or not Path(value).exists():
            continue
        try:
            fmt = detect_format(value)
            if fmt in TABULAR:
                if task != "textcat":
                    raise DataError(
                        f"{value}: a {fmt} table holds labels only; NER spans are read from "
                        "JSONL in the shared schema (docs/data.md)"
                    )
                columns, strings = read_columns(value, fmt)
                found = guess_mapping(value, columns, found, strings)
                tables = True
            result = read_data(value, fmt, mapping=found)
        except DataError as exc:
            raise typer.BadParameter(str(exc), param_hint=f"--{option}") from None
        for example in result.examples:
            labels.update(example.labels or [])
            labels.update(span.label for span in example.spans or [])
    keys = {k: v for k, v in found.to_dict().items() if v is not None} if tables else {}
    return keys, sorted(labels)


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        output: Path = typer.Argument(Path("distil.cfg"), help="Where to write the config."),
        task: str = typer.Option("textcat", help=f"Task kind: {', '.join(TASKS)}."),
        teacher: str = typer.Option(
            "auto",
            help="Teacher: auto (the installed plugins' default for the task) or a choice a "
            "plugin offers (an unknown name lists them).",
        ),
        student: str = typer.Option(
            "auto",
            help="Student: auto (the installed plugins' default for the task) or a choice a "
            "plugin offers (an unknown name lists them).",
        ),
        labels: str | None = typer.Option(
            None, help="Comma-separated labels, e.g. ham,spam (default: those in the data files)."
        ),
        multilabel: bool = typer.Option(False, help="Texts may have several labels."),
        train: str = typer.Option(
            "data/train.jsonl", help="Training texts: JSONL, CSV, TSV, Parquet, text, HF folder."
        ),
        gold: str = typer.Option("data/test.jsonl", help="Gold evaluation set (same formats)."),
        dev: str | None = typer.Option(None, help="Optional dev set (same formats)."),
        text_column: str | None = typer.Option(None, help="Tables: the column with the text."),
        label_column: str | None = typer.Option(None, help="Tables: the column with the labels."),
        label_separator: str | None = typer.Option(
            None, help='Tables: what separates several labels in one cell, e.g. "|".'
        ),
        id_column: str | None = typer.Option(None, help="Tables: the column with the ids."),
        model: str | None = typer.Option(
            None, help="LLM teachers: the model name (default: the provider plugin's)."
        ),
        base_url: str | None = typer.Option(
            None,
            help="LLM teachers: the server, e.g. http://localhost:8000/v1 for vLLM or any "
            "OpenAI-compatible server (a local one needs no key).",
        ),
        force: bool = typer.Option(False, help="Overwrite an existing file."),
    ) -> None:
        """Write a project config for a task, a teacher and a student."""
        from ..store.readers import ColumnMapping

        if output.exists() and not force:
            raise typer.BadParameter(f"{output} exists; pass --force to overwrite")
        mapping = ColumnMapping(text_column, label_column, label_separator, id_column)
        data_keys, found = inspect_data(task, {"train": train, "gold": gold, "dev": dev}, mapping)
        chosen = [x.strip() for x in labels.split(",") if x.strip()] if labels else found
        if not chosen:
            raise typer.BadParameter(
                f"no labels found in {gold} or {train}; pass them: --labels a,b,c",
                param_hint="--labels",
            )
        text = render_config(
            task=task,
            teacher=teacher,
            student=student,
            labels=chosen,
            multilabel=multilabel,
            train=train,
            gold=gold,
            dev=dev,
            name=output.resolve().parent.name or "distil-project",
            data_keys=data_keys,
            model=model,
            base_url=base_url,
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}; next: distil run {output}")


def __getattr__(name: str) -> Any:
    """``TEACHERS`` and ``STUDENTS``: the installed choices as plain tables (``{name: {task:
    choice}}``; a student's ``textcat_multilabel`` entry when it has its own), built from the
    plugins on first access, so that importing this module loads none."""
    if name == "TEACHERS":
        return init_choices().teachers
    if name == "STUDENTS":
        tables: dict[str, dict[str, str]] = {}
        for student, per_task in init_choices().students.items():
            tables[student] = {task: c.student for task, c in per_task.items()}
            if (textcat := per_task.get("textcat")) is not None and textcat.multilabel:
                tables[student]["textcat_multilabel"] = textcat.multilabel
        return tables
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
