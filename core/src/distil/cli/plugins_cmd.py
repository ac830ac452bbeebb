"""``distil plugins``: each plugin, its version, and what it registered."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    @app.command("plugins")
    def plugins(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """List the loaded plugins and everything they registered."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from ..plugins import get_host

        host = get_host()
        # Every hook a plugin registers through runs here, register_commands included, so that
        # this diagnostic command sees (and traces) a plugin's commands too; one that raises is
        # reported, and the listing still comes.
        from .root import add_plugin_commands

        try:
            add_plugin_commands(ctx.find_root().command)
        except Exception as exc:
            message = f"a plugin's register_commands hook raised {type(exc).__name__}: {exc}"
            typer.echo(f"warning: {message}", err=True)
        infos = sorted(host.plugins.values(), key=lambda p: (p.name != "distil", p.name))
        if as_json:
            typer.echo(json.dumps([p.to_dict() for p in infos], indent=2))
            return
        table = Table(title="distil plugins")
        for col in ("plugin", "version", "status", "registered"):
            table.add_column(col)
        for info in infos:
            registered = "\n".join(
                f"{kind}: {', '.join(names)}" for kind, names in sorted(info.registered.items())
            )
            if info.error:  # the error's words as written: it may hold brackets
                registered = f"[red]{escape(str(info.error))}[/]"
            status = {"loaded": "[green]loaded[/]", "failed": "[red]failed[/]"}.get(
                info.status, info.status
            )
            version = info.version or "-"
            if info.supports:  # the distil versions it supports; red when this one is not
                style = "red" if info.compatible is False else "dim"
                version += f"\n[{style}]distil {info.supports}[/]"
            table.add_row(info.name, version, status, registered or "-")
        Console().print(table)
