"""``distil new-plugin NAME --kind KIND``: render a plugin package that works the first time.

The skeletons ship inside the ``distil`` package (``distil/templates/plugin/``), so the command
works from a pip-installed distil, not only from a checkout. Each kind is one folder of Jinja2
files (``*.jinja``; a ``__module__`` path part becomes the package's import name) laid over the
files every kind shares (``common/``). The rendered package has a ``src/`` layout, the ``distil``
entry point, a README, a real (small, dependency-free) implementation and a test that runs the
kind's conformance suite from :mod:`distil.testing`; a test renders every kind, installs it into
a fresh virtual environment, checks that ``distil plugins`` lists it and runs those tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import typer

from ..errors import DistilError

#: Each kind, the family of the name it registers, and the registry it fills.
KINDS: dict[str, tuple[str, str]] = {
    "provider": ("chat", "providers"),
    "teacher": ("keywords", "teachers"),
    "student": ("textcat", "students"),
    "exporter": ("jsonl", "exporters"),
}
NAME_RE = re.compile(r"^[a-z][a-z0-9]*([-_][a-z0-9]+)*$")
PLACEHOLDER = "__module__"
SUFFIX = ".jinja"


class NewPluginError(DistilError):
    """The scaffold cannot be rendered (a bad name, an unknown kind, an existing folder)."""

    code = "E010"


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin goes by, derived from the NAME the user typed."""

    name: str  # entry point name and registered-name prefix ("acme_llm")
    dist: str  # distribution ("distil-acme-llm")
    module: str  # import name ("distil_acme_llm")
    class_prefix: str  # ("AcmeLlm")
    kind: str
    registered: str  # ("acme_llm.chat.v1")
    registry: str  # ("providers")
    core_range: str  # the distil versions the skeleton declares (">=0.1,<0.2")

    @classmethod
    def make(cls, raw: str, kind: str, core_version: str) -> PluginNames:
        if kind not in KINDS:
            raise NewPluginError(f"unknown plugin kind '{kind}'; choose from {', '.join(KINDS)}")
        text = raw.strip().lower()
        text = text.removeprefix("distil-").removeprefix("distil_")
        if not NAME_RE.match(text):
            raise NewPluginError(
                f"plugin name '{raw}' is not valid: use lowercase letters, digits, '-' or '_', "
                "starting with a letter (for example 'acme-llm')"
            )
        snake = text.replace("-", "_")
        family, registry = KINDS[kind]
        return cls(
            name=snake,
            dist=f"distil-{snake.replace('_', '-')}",
            module=f"distil_{snake}",
            class_prefix="".join(part.capitalize() for part in snake.split("_")),
            kind=kind,
            registered=f"{snake}.{family}.v1",
            registry=registry,
            core_range=compatible_range(core_version),
        )


def compatible_range(version: str) -> str:
    """The distil versions a fresh plugin supports: this minor release line (``>=0.1,<0.2``).

    Before 1.0 a minor release may change the plugin API; the author widens the range after
    checking a new release.
    """
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        return f">={version}"
    major, minor = int(match.group(1)), int(match.group(2))
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


def template_root() -> Path:
    return Path(__file__).resolve().parent.parent / "templates" / "plugin"


def template_files(kind: str) -> dict[Path, Path]:
    """Relative output path (placeholders unresolved) → template file; the kind's files win."""
    root = template_root()
    files: dict[Path, Path] = {}
    for layer in ("common", kind):
        base = root / layer
        for path in sorted(base.rglob(f"*{SUFFIX}")):
            rel = path.relative_to(base)
            files[rel.with_name(rel.name.removesuffix(SUFFIX))] = path
    if not files:
        raise NewPluginError(f"no plugin templates found under {root}: is distil installed fully?")
    return files


def render_plugin(names: PluginNames, target: Path) -> list[Path]:
    """Write the package into ``target`` (which must not exist yet); return the files written."""
    import jinja2

    if target.exists():
        raise NewPluginError(f"{target} already exists: choose another --dir or remove it")
    env = jinja2.Environment(
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False
    )
    context = {field: getattr(names, field) for field in names.__dataclass_fields__}
    written = []
    for rel, template in template_files(names.kind).items():
        out = target / Path(*(names.module if p == PLACEHOLDER else p for p in rel.parts))
        out.parent.mkdir(parents=True, exist_ok=True)
        text = env.from_string(template.read_text(encoding="utf-8")).render(**context)
        out.write_text(text, encoding="utf-8")
        written.append(out)
    return written


def _core_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("distil")
    except metadata.PackageNotFoundError:
        from .. import __version__

        return __version__


def register(app: typer.Typer) -> None:
    @app.command("new-plugin")
    def new_plugin(
        name: str = typer.Argument(
            ..., help="The plugin's name, e.g. acme-llm (→ distil-acme-llm)."
        ),
        kind: str = typer.Option(..., help=f"What it adds: {', '.join(KINDS)}."),
        directory: Path = typer.Option(
            Path("."), "--dir", help="Where to create the package folder."
        ),
    ) -> None:
        """Create a plugin package: pyproject with the entry point, src/ layout, README, tests."""
        names = PluginNames.make(name, kind, _core_version())
        target = directory / names.dist
        files = render_plugin(names, target)
        typer.echo(f"wrote {len(files)} files to {target} ({names.kind} '{names.registered}')")
        typer.echo(f"next: pip install -e {target} && pytest {target / 'tests'}")
