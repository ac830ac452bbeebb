"""``distil init``: write a project config from a template."""

from __future__ import annotations

from pathlib import Path

import typer

#: --teacher choices and the [teacher] block each renders.
TEACHERS = {
    "local": '@teachers = "local.zeroshot.v1"',
    "llama": '@teachers = "llm.v1"\n\n[teacher.provider]\n@providers = "local.llama.v1"',
}
STUDENTS = {"sklearn": {"textcat": "sklearn.textcat.v1"}}
TASKS = {"textcat": "textcat.v1"}


def render_config(
    *,
    task: str = "textcat",
    teacher: str = "local",
    student: str = "sklearn",
    labels: list[str],
    multilabel: bool = False,
    train: str = "data/train.jsonl",
    gold: str = "data/test.jsonl",
    dev: str | None = None,
    name: str = "distil-project",
) -> str:
    """The text of a config for these choices (every combination is loaded by a test)."""
    import jinja2

    if task not in TASKS:
        raise typer.BadParameter(f"unknown task '{task}'; choose from {sorted(TASKS)}")
    if teacher not in TEACHERS:
        raise typer.BadParameter(f"unknown teacher '{teacher}'; choose from {sorted(TEACHERS)}")
    if student not in STUDENTS or task not in STUDENTS[student]:
        raise typer.BadParameter(
            f"unknown student '{student}' for {task}; choose from {sorted(STUDENTS)}"
        )
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("distil", "templates/init"), keep_trailing_newline=True
    )
    return env.get_template("distil.cfg.jinja2").render(
        name=name,
        task_name=TASKS[task],
        labels=labels,
        multilabel=multilabel,
        teacher_block=TEACHERS[teacher],
        student_name=STUDENTS[student][task],
        train=train,
        gold=gold,
        dev=dev,
    )


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        output: Path = typer.Argument(Path("distil.cfg"), help="Where to write the config."),
        task: str = typer.Option("textcat", help=f"Task kind: {', '.join(TASKS)}."),
        teacher: str = typer.Option("local", help=f"Teacher: {', '.join(TEACHERS)}."),
        student: str = typer.Option("sklearn", help=f"Student: {', '.join(STUDENTS)}."),
        labels: str = typer.Option(..., help="Comma-separated labels, e.g. ham,spam."),
        multilabel: bool = typer.Option(False, help="Texts may have several labels."),
        train: str = typer.Option("data/train.jsonl", help="Training texts (JSONL)."),
        gold: str = typer.Option("data/test.jsonl", help="Gold evaluation set (JSONL)."),
        dev: str | None = typer.Option(None, help="Optional dev set (JSONL)."),
        force: bool = typer.Option(False, help="Overwrite an existing file."),
    ) -> None:
        """Write a project config for a task, a teacher and a student."""
        if output.exists() and not force:
            raise typer.BadParameter(f"{output} exists; pass --force to overwrite")
        text = render_config(
            task=task,
            teacher=teacher,
            student=student,
            labels=[x.strip() for x in labels.split(",") if x.strip()],
            multilabel=multilabel,
            train=train,
            gold=gold,
            dev=dev,
            name=output.resolve().parent.name or "distil-project",
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}; next: distil run {output}")
