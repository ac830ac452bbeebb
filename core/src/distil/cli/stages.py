"""The stage commands: label, train, evaluate, compare, curve, run (import: exchange_cmd)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer

CONFIG = typer.Argument(..., help="The project config (distil.cfg).", exists=False)


def _corpus_job(
    corpus: Path | None, output: Path | None, into: str | None
) -> tuple[Path, Path] | None:
    """The ``(corpus, output)`` of a corpus job when ``label``/``predict``'s options ask for
    one, else None (``--corpus`` and ``--output`` go together; ``--into`` needs them)."""
    if corpus is None and output is None and into is None:
        return None
    if corpus is None or output is None:
        raise typer.BadParameter("--corpus and --output go together")
    return corpus, output


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """A rich progress display; yields a factory (description, total) -> advance callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=False,
    ) as progress:

        def factory(description: str, total: int) -> Callable[[int], None]:
            task_id = progress.add_task(description, total=total)
            return lambda n: progress.advance(task_id, n)

        yield factory


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True)


def _bold(head: str, tail: str = "") -> Any:
    """``head`` in bold, then ``tail``: both literal (user text is never read as markup)."""
    from rich.text import Text

    return Text.assemble((head, "bold"), tail)


def _open(config: Path, overrides: list[str] | None = None) -> Any:
    from ..project import Project

    parsed: dict[str, Any] = {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"override '{item}' must look like section.key=value")
        try:
            parsed[key.lstrip("-")] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.lstrip("-")] = value
    return Project.from_config(config, overrides=parsed)


def _print_label(result: Any) -> None:

    r = result.to_dict()
    console = _console()
    console.print(
        f"labelled {r['labelled']} of {r['total']} '{r['dataset']}' examples "
        f"({r['already_done']} already done) with {r['source']}: {_failures(r)}",
        highlight=False,
        markup=False,
    )
    if r.get("ledger"):
        console.print(f"ledger: {_ledger_line(r['ledger'])}", highlight=False, markup=False)
    for line in _budget_lines(r):
        console.print(line, highlight=False, markup=False)


def _print_corpus(result: Any) -> None:
    r = result.to_dict()
    verb = "labelled" if r["stage"] == "label" else "predicted"
    line = (
        f"{verb} {r['answered']} examples of {r['corpus']} with {r['source']}: "
        f"{r['shards'] - r['shards_done_before']} of {r['shards']} shard(s) in this run "
        f"({r['shards_done_before']} done before), results in {r['output']}"
    )
    if r["stage"] == "label":
        line += f"; {r['failures']} failure(s)"
    if r["rejected"]:
        line += f"; {r['rejected']} row(s) that did not load (kept as 'rejected' lines)"
    if r["dataset"]:
        line += f"; {r['merged']} merged into '{r['dataset']}'"
    console = _console()
    console.print(line, highlight=False, markup=False)
    if r.get("ledger"):
        console.print(f"ledger: {_ledger_line(r['ledger'])}", highlight=False, markup=False)


def _failures(r: dict[str, Any]) -> str:
    """``2 parse failure(s) (1.0%)``, with the requests that got no answer (timeouts, dropped
    connections, server errors after every retry) counted apart: they are not parse failures."""
    failed = int(r.get("request_failures") or 0)
    parsed = int(r["failures"]) - failed
    line = f"{parsed} parse failure(s)"
    if failed:
        line += f", {failed} request(s) without an answer (timeouts, connection or server errors)"
    return line + (f" ({r['failure_rate']:.1%})" if "failure_rate" in r else "")


def _waiting(pid: int | None) -> None:
    who = f"pid {pid}" if pid is not None else "another process"
    typer.echo(f"waiting for another distil label ({who}) on this store", err=True)


def _print_failures(r: dict[str, Any], config: Path) -> None:
    """What was retried, and how many failures are stored with the flag that retries them."""
    if r.get("retried"):
        typer.echo(f"asked {r['retried']} failed example(s) again (--retry-failed)")
    if r.get("failed_total"):
        flag = "" if r["dataset"] == "train" else f" --dataset {r['dataset']}"
        typer.echo(
            f"{r['failed_total']} '{r['dataset']}' example(s) have a failed answer stored: "
            f"`distil label {config}{flag} --retry-failed` asks them again"
        )


def _ledger_line(ledger: dict[str, Any]) -> str:
    from ..teach.ledger import ledger_line

    return ledger_line(ledger)


def _budget_lines(r: dict[str, Any]) -> list[str]:
    """``budget: spent $X of $Y budget on provider/model in this project ($Z in this run)``."""
    from ..teach.runner import budget_line

    return [f"budget: {budget_line(b)}" for b in r.get("budgets") or []]


def _print_plan(plan: Any) -> None:
    """The dry run: the rendered prompts, then the estimate for the whole pending set."""
    from rich.text import Text

    console = _console()
    shown_schema: Any = None
    for example_id, prompt in plan.prompts:
        console.rule(Text(f"example {example_id}"))
        for message in prompt.messages:
            console.print(_bold(message.role, ":"), highlight=False)
            console.print(message.content, markup=False, highlight=False)
        for label, hypothesis in prompt.hypotheses.items():
            console.print(_bold(label, f": {hypothesis}"), highlight=False)
        if prompt.json_schema is not None and prompt.json_schema != shown_schema:
            console.print(_bold("JSON schema", ":"), highlight=False)
            console.print(json.dumps(prompt.json_schema, indent=2), markup=False, highlight=False)
            shown_schema = prompt.json_schema
    console.rule("estimate")
    console.print(
        f"{plan.pending} of {plan.total} '{plan.dataset}' examples pending for {plan.source}"
        + (f" ({plan.cached} answered from the cache)" if plan.cached else ""),
        highlight=False,
        markup=False,
    )
    if plan.sends_requests:
        console.print(
            f"{plan.to_send} request(s) to {plan.provider}: about {plan.input_tokens:,} input "
            f"tokens + at most {plan.output_tokens:,} output tokens "
            f"(max_tokens {plan.max_tokens} per answer)",
            highlight=False,
            markup=False,
        )
    console.print(plan.cost_line(), markup=False, highlight=False)
    console.print("dry run: nothing was sent and no prediction was written", highlight=False)


def _trust_line(result: Any) -> str:
    """What the trust step found (or why it did not run): a TrainResult or its dict."""
    r = result if isinstance(result, dict) else result.to_dict()
    trust = r.get("trust") or {}
    if "skipped" in trust:
        return f"trust scores: skipped: {trust['skipped']}"
    if r.get("label_issues") is None:
        return "trust scores: none"
    line = (
        f"trust scores: {r['label_issues']} label issue(s) found among {trust.get('scored', 0)} "
        f"teacher labels ({trust.get('folds')} folds, {trust.get('seconds', 0.0):.1f}s) "
        f"→ {r.get('trust_source')}"
    )
    dropped = (r.get("dropped") or {}).get("label_issue", 0)
    if dropped:
        line += f"; {dropped} flagged teacher label(s) left out of the fit"
    return line


def _weight_line(result: Any) -> str | None:
    """How ``[train] teacher_weight = "auto"`` chose (None when it was set, not chosen)."""
    r = result if isinstance(result, dict) else result.to_dict()
    weight = r.get("teacher_weight") or {}
    if "why" in weight:
        return f"teacher weight: auto → {weight['chosen']:g} ({weight['why']})"
    if "dev" in weight:
        tried = ", ".join(f"{float(w):g}: {v:.3f}" for w, v in weight["dev"].items())
        return (
            f"teacher weight: auto → {weight['chosen']:g} (dev {weight['metric']}: {tried}; "
            "0: human answers alone)"
        )
    return None


def _print_report(report: dict[str, Any], paths: dict[str, Path]) -> None:

    from rich.text import Text

    from ..evaluate.report import rich_table

    console = _console()
    table = rich_table(report)
    if isinstance(table.title, str):  # the title names the gold file: a path, not markup
        table.title = Text(table.title)
    if not console.is_terminal:  # a pipe or a log file: print the table whole, never wrapped
        wide = console.options.update_width(10_000)
        console.width = max(console.width, console.measure(table, options=wide).maximum)
    console.print(table)
    for path in paths.values():
        console.print(f"wrote {path}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    Override = typer.Option(None, "--set", help="Override a config value: section.key=value.")
    Output = typer.Option(None, "--output", help="With --corpus: the folder for the result shards.")
    Into = typer.Option(
        None,
        "--into",
        help="With --corpus: also merge the results into the store as this data set.",
    )

    @app.command("label")
    def label(
        config: Path = CONFIG,
        dataset: str = typer.Option("train", help="Which data set to label: train, dev or gold."),
        limit: int | None = typer.Option(None, help="Label only the first N examples."),
        dry_run: bool = typer.Option(
            False,
            "--dry-run",
            help="Show the prompts, a token estimate and the cost; send nothing.",
        ),
        n: int = typer.Option(3, "--n", help="With --dry-run: how many prompts to show."),
        retry_failed: bool = typer.Option(
            False,
            "--retry-failed",
            help="Ask the examples whose stored answer failed again (never from the cache).",
        ),
        wait: bool = typer.Option(
            True,
            "--wait/--no-wait",
            help="When another distil label works on this store: wait for it, or refuse.",
        ),
        corpus: Path | None = typer.Option(
            None,
            "--corpus",
            help="Label a folder of JSONL/Parquet shards where it lies (needs --output).",
        ),
        output: Path | None = Output,
        into: str | None = Into,
        overrides: list[str] | None = Override,
    ) -> None:
        """Label a data set with the teacher (resumable: answered examples are skipped)."""
        job = _corpus_job(corpus, output, into)
        if job is not None:
            with _open(config, overrides) as project, _progress() as progress:
                corpus_result = project.label_corpus(
                    *job, dataset=into, progress=progress, wait=wait, on_wait=_waiting
                )
            _print_corpus(corpus_result)
            return
        if dry_run:
            with _open(config, overrides) as project:
                plan = project.plan_label(dataset, n=n, limit=limit)
            _print_plan(plan)
            return
        with _open(config, overrides) as project, _progress() as progress:
            project.import_data()
            result = project.label(
                dataset,
                progress=progress,
                limit=limit,
                retry_failed=retry_failed,
                wait=wait,
                on_wait=_waiting,
            )
        _print_label(result)
        _print_failures(result.to_dict(), config)

    @app.command("predict")
    def predict(
        config: Path = CONFIG,
        dataset: str = typer.Option("train", help="Which data set of the store to predict."),
        limit: int | None = typer.Option(None, help="Predict only the first N examples."),
        corpus: Path | None = typer.Option(
            None,
            "--corpus",
            help="Predict a folder of JSONL/Parquet shards where it lies (needs --output).",
        ),
        output: Path | None = Output,
        into: str | None = Into,
        overrides: list[str] | None = Override,
    ) -> None:
        """Run the latest trained student over a data set or a corpus (resumable)."""
        job = _corpus_job(corpus, output, into)
        if job is not None:
            with _open(config, overrides) as project, _progress() as progress:
                corpus_result = project.predict_corpus(*job, dataset=into, progress=progress)
            _print_corpus(corpus_result)
            return
        with _open(config, overrides) as project, _progress() as progress:
            project.import_data()
            result = project.predict(dataset, progress=progress, limit=limit)
        r = result.to_dict()
        typer.echo(
            f"predicted {r['predicted']} of {r['total']} '{r['dataset']}' examples "
            f"({r['already_done']} already done) with {r['source']}"
        )

    @app.command("train")
    def train(config: Path = CONFIG, overrides: list[str] | None = Override) -> None:
        """Train the student on teacher labels, with human answers taking precedence."""

        with _open(config, overrides) as project:
            result = project.train()
        _console().print(
            f"trained {result.source} on {result.n_train} examples "
            f"({result.from_humans} human, {result.from_teacher} teacher; dropped {result.dropped}) "
            f"in {result.seconds:.1f}s → {result.model_dir}"
            + (f"\nhuman labels by answer: {result.from_answers}" if result.from_answers else ""),
            highlight=False,
            markup=False,
        )
        _console().print(_trust_line(result), highlight=False, markup=False)
        weight = _weight_line(result)
        if weight:
            _console().print(weight, highlight=False, markup=False)

    @app.command("evaluate")
    def evaluate(
        config: Path = CONFIG,
        output: Path | None = typer.Option(None, "--output", "-o", help="Report folder."),
        overrides: list[str] | None = Override,
    ) -> None:
        """Score the teacher and the latest student on the gold set; write report.md/json/html."""
        with _open(config, overrides) as project, _progress() as progress:
            report, paths = project.evaluate(output, progress=progress)
        _print_report(report, paths)

    @app.command("compare")
    def compare(
        runs: list[Path] = typer.Argument(..., help="Report folders or report.json files."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write the table here."),
    ) -> None:
        """Put evaluation runs side by side: each source's score, speed and cost per run."""
        from ..evaluate.compare import compare_markdown, load_report

        try:
            loaded = [load_report(path) for path in runs]
        except (OSError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        text = compare_markdown(loaded)
        typer.echo(text)
        if output is not None:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {output}")

    @app.command("curve")
    def curve(
        config: Path = CONFIG,
        output: Path | None = typer.Option(None, "--output", "-o", help="Output folder."),
        fractions: str = typer.Option("0.1,0.25,0.5,1", help="Shares of the training data."),
        overrides: list[str] | None = Override,
    ) -> None:
        """Learning curve: train on growing shares of the labels; does more annotation pay off?"""
        try:
            shares = tuple(float(x) for x in fractions.split(",") if x.strip())
        except ValueError:
            raise typer.BadParameter(
                f"fractions must be numbers like 0.1,0.5,1: {fractions}"
            ) from None
        with _open(config, overrides) as project:
            project.import_data()
            result, paths = project.learning_curve(output, shares)
        from ..evaluate.learning_curve import learning_curve_markdown

        typer.echo(learning_curve_markdown(result))
        for path in paths.values():
            typer.echo(f"wrote {path}")
        if "png" not in paths:
            typer.echo("no plot: pip install matplotlib (the distil[plots] extra) for the PNG")

    @app.command("run")
    def run(
        config: Path = CONFIG,
        output: Path | None = typer.Option(None, "--output", "-o", help="Report folder."),
        overrides: list[str] | None = Override,
    ) -> None:
        """The whole loop: import, label, train, evaluate, report."""
        with _open(config, overrides) as project, _progress() as progress:
            result = project.run(output, progress=progress)
        _print_label_dict(result["label"])
        _print_failures(result["label"], config)
        t = result["train"]
        typer.echo(f"trained {t['source']} on {t['n_train']} examples in {t['seconds']:.1f}s")
        typer.echo(_trust_line(t))
        _print_report(result["report"], {k: Path(v) for k, v in result["paths"].items()})


def _skipped(line: str) -> Any:
    """``skipped`` in yellow, then the line as written (it holds paths and the user's ids)."""
    from rich.text import Text

    return Text.assemble(("skipped", "yellow"), " ", line)


def _print_label_dict(r: dict[str, Any]) -> None:
    typer.echo(
        f"labelled {r['labelled']} of {r['total']} '{r['dataset']}' examples "
        f"({r['already_done']} already done): {_failures(r)}"
    )
    if r.get("ledger"):
        typer.echo(f"ledger: {_ledger_line(r['ledger'])}")
    for line in _budget_lines(r):
        typer.echo(line)
