"""The ``distil`` command line. Thin: each command parses arguments and calls a stage.

Plugins add commands through the ``register_commands(cli)`` hook.
"""

from __future__ import annotations

import sys

import typer

from ..errors import DistilError
from . import init_cmd, new_plugin_cmd, plan_cmd, plugins_cmd, simulate_cmd, stages

app = typer.Typer(
    name="distil",
    help="Human-in-the-loop LLM distillation: prompt, parse, annotate, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plugins_cmd.register(app)
init_cmd.register(app)
plan_cmd.register(app)
new_plugin_cmd.register(app)
stages.register(app)
simulate_cmd.register(app)


def _add_plugin_commands() -> None:
    from ..plugins import get_host

    get_host().hook.register_commands(cli=app)


def main() -> None:
    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True)
    try:
        _add_plugin_commands()
        app(standalone_mode=False)
    except DistilError as exc:
        err.print(f"[bold red]error[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: the work done so far is saved; run again to resume")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click's own usage errors
        import click

        # typer >= 0.20 raises errors of its vendored click, not of the `click` package.
        vendored = [c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"]
        if isinstance(exc, (click.exceptions.ClickException, *vendored)):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if isinstance(exc, click.exceptions.Abort | typer.Abort):
            sys.exit(1)
        raise


__all__ = ["app", "main"]
