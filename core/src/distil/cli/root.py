"""The root command group of ``distil``: plugin commands are looked up only when asked for.

``distil --help`` and every built-in command run without loading a plugin. A plugin command is
found on first use: :func:`add_plugin_commands` loads the plugins (the guarded loader: a broken
one is skipped with a warning), runs their ``register_commands`` hooks on the typer app and
copies what they added into the click group being run.
"""

from __future__ import annotations

from typing import Any, ClassVar

import typer
from typer.core import TyperGroup


class RootGroup(TyperGroup):
    """The click group typer builds for the ``distil`` app (``typer.Typer(cls=RootGroup)``)."""

    #: The typer app the plugins' ``register_commands`` hooks add to (set by ``distil.cli``).
    typer_app: ClassVar[Any] = None

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and add_plugin_commands(self):
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: Any) -> list[str]:
        from ..plugins import loaded_host

        if loaded_host() is not None:  # plugins already imported (a test, an embedding app)
            add_plugin_commands(self)
        return super().list_commands(ctx)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        super().format_commands(ctx, formatter)
        from ..plugins import declared_commands

        rows = [
            (name, f"{summary} [{distribution}]" if summary else f"[{distribution}]")
            for name, (distribution, summary) in declared_commands().items()
            if name not in self.commands
        ]
        if rows:
            with formatter.section("Plugin commands (run one, or `distil COMMAND -h`)"):
                formatter.write_dl(rows)


#: The plugin host whose commands the app holds (a test may set another host between runs).
_COMMANDS_FROM: list[Any] = [None]


def add_plugin_commands(group: Any) -> bool:
    """Load the plugins (once per host), let them add their commands to the typer app, and copy
    the new ones into the click ``group`` being run. False when this host's were added already."""
    from ..plugins import get_host

    host = get_host()
    if _COMMANDS_FROM[0] is host:
        return False
    _COMMANDS_FROM[0] = host
    app = RootGroup.typer_app
    host.hook.register_commands(cli=app)
    built = typer.main.get_command(app)
    for name, command in getattr(built, "commands", {}).items():
        if name not in group.commands:
            group.add_command(command, name)
    return True
