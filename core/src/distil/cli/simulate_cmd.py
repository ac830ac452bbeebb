"""``distil simulate``: plan an annotation budget with an oracle annotator (:mod:`distil.simulate`)."""

from __future__ import annotations

from pathlib import Path

import typer

from .stages import CONFIG, _open, _progress


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        config: Path = CONFIG,
        oracle: Path = typer.Option(
            ..., "--oracle", help='JSONL of the oracle\'s answers: {"id", "labels"|"spans"}.'
        ),
        budget: int = typer.Option(..., "--budget", help="Review at most this many cards."),
        step: int = typer.Option(..., "--step", help="Retrain and score after every K cards."),
        order: str = typer.Option("queue", "--order", help="queue, random or both."),
        seed: int = typer.Option(0, "--seed", help="Seed of the random order."),
        output: Path = typer.Option(..., "--output", "-o", help="Output folder."),
        overrides: list[str] | None = typer.Option(
            None, "--set", help="Override a config value: section.key=value."
        ),
    ) -> None:
        """How many cards before the student beats the teacher? Replay annotation with an oracle."""
        from ..evaluate.simulation import simulate_markdown
        from ..simulate import simulate as run_simulation

        with _open(config, overrides) as project, _progress() as progress:
            result = run_simulation(
                project, oracle, budget, step, order, seed, output, progress=progress
            )
        details = result.pop("details")
        typer.echo(simulate_markdown(result, details))
        for path in details["paths"].values():
            typer.echo(f"wrote {path}")
        if "png" not in details["paths"]:
            typer.echo("no plot: pip install matplotlib (the distil[plots] extra) for the PNG")
