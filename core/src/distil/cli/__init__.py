"""The ``distil`` command line. Thin: each command parses arguments and calls a stage.

Plugins add commands through the ``register_commands(cli)`` hook.

Start-up is lazy: importing this module and printing ``distil --help`` load no plugin, no
template engine and no rich renderer. Each command imports what it uses when it runs. Plugin
commands are looked up only when one is asked for (``distil annotate ...``): then the plugins
are loaded (the guarded loader, a broken one is skipped) and their ``register_commands`` hooks
run. ``distil --help`` lists the commands that installed plugins declare in the
``distil.commands`` entry-point group (see :func:`distil.plugins.declared_commands`) without
importing them, and the commands of a host that is already loaded.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

import typer

from ..errors import DistilError
from . import (
    exchange_cmd,
    init_cmd,
    new_plugin_cmd,
    plan_cmd,
    plugins_cmd,
    runs_cmd,
    simulate_cmd,
    stages,
)
from .root import RootGroup, add_plugin_commands

app = typer.Typer(
    name="distil",
    cls=RootGroup,
    # Plain click help: typer's rich help screen imports rich.markdown, markdown-it and pygments,
    # most of the start-up cost of `distil --help`.
    rich_markup_mode=None,
    help="Human-in-the-loop LLM distillation: prompt, parse, annotate, train, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # -h is --help on every command; click passes it down to each subcommand's context.
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"distil {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Print the distil version and exit.",
        is_eager=True,
        callback=_version,
    ),
) -> None:
    """Human-in-the-loop LLM distillation: prompt, parse, annotate, train, evaluate."""


RootGroup.typer_app = app
plugins_cmd.register(app)
init_cmd.register(app)
plan_cmd.register(app)
new_plugin_cmd.register(app)
stages.register(app)
exchange_cmd.register(app)
simulate_cmd.register(app)
runs_cmd.register(app)


def print_error(exc: BaseException | str, prefix: str = "error") -> None:
    """Print an error to stderr: only the fixed prefix is styled, the message is printed literally.

    Messages carry user text (``[teacher]``, a path like ``data/[/x]``) that rich would otherwise
    read as markup, dropping the words or failing on a closing tag that matches nothing.
    """
    from rich.console import Console
    from rich.text import Text

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    err.print(Text.assemble((prefix, "bold red"), " ", str(exc)))


def main() -> None:
    restore = _show_distil_logs()
    terminated: list[int] = []
    previous = _interrupt_on_sigterm(terminated)
    try:
        code = app(standalone_mode=False, prog_name="distil")
        # typer turns Ctrl-C into an exit code (130) that it returns, without standalone mode
        if code == 130:
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except DistilError as exc:
        print_error(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        from rich.console import Console

        err = Console(stderr=True, soft_wrap=True)
        err.print("[yellow]interrupted[/]: the work done so far is saved; run again to resume")
        sys.exit(143 if terminated else 130)
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
    finally:
        restore()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt_on_sigterm(terminated: list[int]) -> Any:
    """Make SIGTERM take Ctrl-C's path (runs end ``interrupted``, work done is kept, exit 143).

    Inside ``asyncio.run`` the SIGINT handler is asyncio's, which cancels the running task: it is
    called as for Ctrl-C. Returns the handler to restore (None when not on the main thread).
    """

    def on_sigterm(signum: int, frame: Any) -> None:
        terminated.append(signum)
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler is not signal.default_int_handler:
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread
        return None


class _StderrHandler(logging.Handler):
    """Writes each record's message, unstyled, to the ``sys.stderr`` of the moment (pytest swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # pragma: no cover - logging must never break a command
            self.handleError(record)


def _show_distil_logs() -> Callable[[], None]:
    """Show the ``distil`` loggers' INFO notes (e.g. "tuning the teacher on 500 dev examples").

    The Python API logs them; a command prints them, so the CLI and the API say the same things.
    Returns what undoes it (a test calling :func:`main` twice must not print each line twice).
    """
    handler = _StderrHandler(logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("distil")
    level = logger.level
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    return restore


__all__ = ["add_plugin_commands", "app", "main", "print_error"]
