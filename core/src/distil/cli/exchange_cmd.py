"""``distil export`` and ``distil import``: records out to another tool's file, answers back.

Thin over :mod:`distil.exchange`. Every line printed here holds user text (paths, ids, labels),
so it is printed literally (``typer.echo``, or ``stages._skipped``: only the word is styled),
never read as rich markup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .stages import CONFIG, _console, _open, _skipped

FORMAT_HELP = (
    "A registered exporter (`distil plugins` lists them) or a short name derived from it, "
    "e.g. prodigy, labelstudio, doccano, conll, hf, docbin, csv."
)


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs for the exporter; a value is JSON when it parses as JSON, else text."""
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(
                f"option '{item}' must look like key=value", param_hint="--option"
            )
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items() if value)


def _print_export(result: Any) -> None:
    typer.echo(
        f"wrote {result.records} record(s) ({result.what}) to {result.path} as {result.format}"
    )
    if _counts(result.left_out):
        typer.echo(f"left out: {_counts(result.left_out)}")
    changed = {
        k: v
        for k, v in result.report.items()
        if k not in ("path", "records", "docs") and isinstance(v, int) and not isinstance(v, bool)
    }
    if _counts(changed):
        typer.echo(f"{result.format} report: {_counts(changed)}")


def _skip(line: str) -> None:
    _console().print(_skipped(line), highlight=False)


def _print_import(result: Any, file: Path) -> None:
    kinds = f" ({_counts(result.answers)})" if _counts(result.answers) else ""
    typer.echo(f"stored {result.stored} answer(s) from {file} as {result.format}{kinds}")
    for line in result.invalid:
        _skip(line)
    if result.unreviewed:
        _skip(
            f"{result.unreviewed} record(s) that are a teacher's or student's label nobody reviewed"
        )
    if result.unknown_ids:
        _skip(
            f"{len(result.unknown_ids)} answer(s) for ids not in the store, "
            f"e.g. {', '.join(result.unknown_ids[:3])}"
        )
    skipped = {k: v for k, v in result.report.items() if k.startswith(("skipped", "cancelled"))}
    skipped.update({k: v for k, v in result.report.items() if k == "predictions_as_ids"})
    if _counts(skipped):
        typer.echo(f"{result.format} report: {_counts(skipped)}")


def _print_answers(result: dict[str, Any], file: Path) -> None:
    """Today's output of ``distil import`` for distil's own answers JSONL."""
    typer.echo(f"stored {result['stored']} answer(s) from {file}")
    for line in result["errors"] + result["invalid"]:
        _skip(line)
    if result["unknown_ids"]:
        _skip(
            f"{len(result['unknown_ids'])} answer(s) for ids not in the store, "
            f"e.g. {result['unknown_ids'][:3]}"
        )


def register(app: typer.Typer) -> None:
    Override = typer.Option(None, "--set", help="Override a config value: section.key=value.")
    Options = typer.Option(
        None, "--option", help="An exporter option, key=value (JSON values): delimiter=tab."
    )

    @app.command("export")
    def export(
        config: Path = CONFIG,
        format: str = typer.Option(..., "--format", "-f", help=FORMAT_HELP),
        what: str = typer.Option(
            "merged",
            "--what",
            help="teacher (its labels on train), answers (human), gold, or merged "
            "(what training uses: human answers over teacher labels).",
        ),
        output: Path = typer.Option(..., "--output", "-o", help="The file to write."),
        options: list[str] | None = Options,
        overrides: list[str] | None = Override,
    ) -> None:
        """Export the teacher's labels, the human answers, the gold set or the training data."""
        from ..exchange import WHAT, export_file

        if what not in WHAT:
            raise typer.BadParameter(f"one of {', '.join(WHAT)}, not '{what}'", param_hint="--what")
        exporter_options = parse_options(options)
        with _open(config, overrides) as project:
            project.import_data()
            result = export_file(project, format, output, what, exporter_options)
        _print_export(result)

    @app.command("import")
    def import_(
        config: Path = CONFIG,
        answers: Path = typer.Argument(
            ...,
            help="The answers: distil's JSONL (id + labels), or with --format that tool's file.",
        ),
        format: str | None = typer.Option(
            None, "--format", "-f", help="Read another tool's file. " + FORMAT_HELP
        ),
        annotator: str = typer.Option(
            "human", help="Who gave these answers (if the file does not say)."
        ),
        options: list[str] | None = Options,
        overrides: list[str] | None = Override,
    ) -> None:
        """Import human answers: distil's answers JSONL, or a file of any registered importer."""
        exporter_options = parse_options(options)
        with _open(config, overrides) as project:
            project.import_data()
            if format is None:
                if exporter_options:
                    raise typer.BadParameter("--option needs --format", param_hint="--option")
                _print_answers(project.import_answers(answers, annotator=annotator), answers)
                return
            from ..exchange import import_file

            result = import_file(project, answers, format, annotator, exporter_options)
        _print_import(result, answers)
