"""Write docs/cli.md from the typer app, so the CLI reference cannot drift from the code.

python scripts/gen_cli_docs.py          # rewrite docs/cli.md
python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is out of date (tests do this)

It walks the click command tree that typer builds (not the rich ``--help`` screen, whose layout
depends on the terminal), after every installed plugin's ``register_commands`` hook has run, and
says which plugin added each command. ``DISTIL_PLUGINS`` / ``DISTIL_DISABLE_PLUGINS`` are ignored
and every plugin is loaded strictly: the reference describes everything installed, and a plugin
that fails to load is an error here rather than a silently shorter page.
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _load_app() -> tuple[Any, dict[str, str]]:
    """The typer app with plugin commands added, and ``{command path: "plugin (distribution)"}``."""
    import typer

    from distil.cli import app
    from distil.plugins import PluginHost, set_host

    for var in ("DISTIL_PLUGINS", "DISTIL_DISABLE_PLUGINS"):
        os.environ.pop(var, None)
    host = PluginHost(strict=True)
    set_host(host)
    added_by: dict[str, str] = {}
    before = set(_walk(typer.main.get_command(app)))
    # One implementation at a time, so each new command is attributed to the plugin that added it.
    for impl in reversed(host.hook.register_commands.get_hookimpls()):
        impl.function(**{a: app for a in impl.argnames})
        now = set(_walk(typer.main.get_command(app)))
        plugin = host.pm.get_name(impl.plugin) or "?"
        info = host.plugins.get(plugin)
        dist = info.distribution if info and info.distribution else plugin
        for path in now - before:
            added_by[path] = f"plugin `{plugin}` ({dist})"
        before = now
    return app, added_by


def _walk(cmd: Any, prefix: str = "distil") -> dict[str, Any]:
    """Every command below ``cmd`` by its full path (``distil plugins``), groups included."""
    found: dict[str, Any] = {}
    for name in getattr(cmd, "commands", {}):
        sub = cmd.commands[name]
        if sub.hidden:
            continue
        path = f"{prefix} {name}"
        found[path] = sub
        found.update(_walk(sub, path))
    return found


def _type_name(param: Any) -> str:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if annotation is None:
        return "text"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("pathlib.", "")


def _default(param: Any) -> str:
    if param.required:
        return "required"
    default = param.default
    if default is None or (param.multiple and not default):
        return "—"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, enum.Enum):
        default = default.value
    return f"`{default}`"


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _usage(path: str, cmd: Any) -> str:
    pieces = [path]
    if cmd.params and any(not _is_argument(p) for p in cmd.params):
        pieces.append("[OPTIONS]")
    for p in cmd.params:
        if _is_argument(p):
            name = p.name.upper() + ("..." if p.nargs == -1 else "")
            pieces.append(name if p.required else f"[{name}]")
    if getattr(cmd, "commands", None):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def _is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def _params_table(cmd: Any) -> list[str]:
    rows = []
    for p in cmd.params:
        if getattr(p, "hidden", False):
            continue
        if _is_argument(p):
            name = f"`{p.name.upper()}`" + (" (one or more)" if p.nargs == -1 else "")
            kind = "argument"
        else:
            names = ", ".join(f"`{o}`" for o in p.opts)
            if p.secondary_opts:
                names += " / " + ", ".join(f"`{o}`" for o in p.secondary_opts)
            name = names
            kind = "flag" if getattr(p, "is_flag", False) else "option"
            if p.multiple:
                kind += ", repeatable"
        rows.append(
            f"| {name} | {kind} | {_cell(_type_name(p))} | {_default(p)} | {_cell(p.help)} |"
        )
    if not rows:
        return ["No arguments or options.", ""]
    return [
        "| name | kind | type | default | help |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def render() -> str:
    import typer

    app, added_by = _load_app()
    root = typer.main.get_command(app)
    commands = _walk(root)
    lines = [
        "# CLI reference",
        "",
        "Generated from the `distil` typer app (core's commands and those that installed plugins add",
        "through `register_commands`) by `scripts/gen_cli_docs.py`; do not edit.",
        "",
        f"`distil`: {_cell(root.help)}",
        "",
        "`--help` after any command prints the same information in the terminal.",
        "",
        "| command | summary | from |",
        "|---|---|---|",
    ]
    for path, cmd in commands.items():
        summary = _cell((cmd.help or "").strip().split("\n\n")[0])
        anchor = path.replace(" ", "-")
        lines.append(f"| [`{path}`](#{anchor}) | {summary} | {added_by.get(path, 'core')} |")
    lines.append("")
    for path, cmd in commands.items():
        lines += [f"## `{path}`", ""]
        if path in added_by:
            lines += [f"Added by {added_by[path]}.", ""]
        lines += ["```text", _usage(path, cmd), "```", ""]
        if cmd.help:
            lines += [inspect_clean(cmd.help), ""]
        lines += _params_table(cmd)
    return "\n".join(lines).rstrip() + "\n"


def inspect_clean(text: str) -> str:
    """A docstring as Markdown: indentation removed, typer's ``\\b`` markers dropped."""
    import inspect

    return inspect.cleandoc(text).replace("\b\n", "").strip()


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
