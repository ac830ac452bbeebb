"""Write docs/config-reference.md from the code, so the config reference cannot drift from it.

python scripts/gen_config_docs.py          # rewrite docs/config-reference.md
python scripts/gen_config_docs.py --check  # exit 1 if it is out of date (tests do this)

Two halves, both read from the code:

- the sections: every section name core accepts (``distil.config.SECTIONS``), with every key,
  type, default and constraint of its pydantic model (the ``_Section`` models of
  ``distil/config.py``, matched to a section by the ````[name]```` their docstring starts with);
  a section named after a registry (``[task]`` for ``tasks``) is described as a registered block;
- the registered names: every name in every registry (``distil.plugins.REGISTRIES``) of every
  installed plugin, with the plugin and package that registered it and its factory's parameters
  (the keys its config block accepts), types, defaults and docstring.

Plugins are loaded strictly with ``DISTIL_PLUGINS`` / ``DISTIL_DISABLE_PLUGINS`` ignored, so the
page lists everything installed and a broken plugin is an error rather than a missing row.
"""

from __future__ import annotations

import enum
import inspect
import os
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[1] / "docs" / "config-reference.md"

#: Sections that have no pydantic model and are not registered blocks: what they hold.
FREE_SECTIONS = {
    "paths": "Free-form variables for interpolation elsewhere in the file "
    '(`data_dir = "data"`, then `train = "${paths.data_dir}/train.jsonl"`). Not validated.',
}
#: Registered blocks whose registry is not their own name's plural: what else they accept.
ALSO_ACCEPTS = {
    "teacher": 'or `@providers = "..."` (a provider is wrapped in the LLM teacher `llm.v1`)',
}


def _host() -> Any:
    from distil.plugins import PluginHost

    for var in ("DISTIL_PLUGINS", "DISTIL_DISABLE_PLUGINS"):
        os.environ.pop(var, None)
    return PluginHost(strict=True)


def _type(annotation: Any) -> str:
    """A readable type: ``int | None``, ``Literal['online', 'batch']``, ``list[str]``."""
    if annotation is inspect.Parameter.empty or annotation is None:
        return "" if annotation is inspect.Parameter.empty else "None"
    if isinstance(annotation, str):
        return annotation
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in typing.get_args(annotation)) + "]"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return " | ".join(repr(m.value) for m in annotation)
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _value(value: Any) -> str:
    """A default as it would be written in a config file (TOML-ish), stable across runs."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    text = repr(value)
    if re.search(r" at 0x[0-9a-f]+", text):
        text = type(value).__name__
    return f"`{text}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _constraints(field: Any) -> str:
    marks = []
    for meta in getattr(field, "metadata", []):
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                marks.append(f"{sym} {bound}")
    return ", ".join(marks)


def section_models() -> dict[str, type]:
    """``{section name: pydantic model}`` for every section model in ``distil.config``."""
    from pydantic import BaseModel

    from distil import config

    found: dict[str, type] = {}
    for _, obj in inspect.getmembers(config, inspect.isclass):
        if not issubclass(obj, BaseModel) or obj.__module__ != config.__name__:
            continue
        match = re.match(r"``\[([a-z_]+)\]``", inspect.getdoc(obj) or "")
        if match:
            found[match.group(1)] = obj
    return found


def _model_table(model: Any) -> list[str]:
    rows = ["| key | type | default | constraint |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.is_required():
            default = "required"
        elif field.default_factory is not None:
            default = _value(field.default_factory())
        else:
            default = _value(field.default)
        rows.append(
            f"| `{name}` | {_cell(_type(field.annotation))} | {default} | {_constraints(field)} |"
        )
    return [*rows, ""]


def render_sections(registry_of: dict[str, str]) -> list[str]:
    from distil import config
    from distil.teach.pricing import Price

    models = section_models()
    lines = [
        "## Sections",
        "",
        f"Sections core accepts: {', '.join(f'`[{s}]`' for s in sorted(config.SECTIONS))}. "
        f"Required: {', '.join(f'`[{s}]`' for s in config.REQUIRED)}. "
        "Any other section, or any key not listed here, is an error that names it.",
        "",
    ]
    for section in sorted(config.SECTIONS):
        lines += [f"### `[{section}]`", ""]
        if section in models:
            model = models[section]
            doc = inspect.getdoc(model) or ""
            lines += [doc, "", *_model_table(model)]
        elif section in registry_of:
            kind = registry_of[section]
            also = f" {ALSO_ACCEPTS[section]}" if section in ALSO_ACCEPTS else ""
            lines += [
                f'A registered block: `@{kind} = "NAME"`{also}. Its other keys are the '
                f"parameters of that name's factory: see [{kind}](#{kind}) below.",
                "",
            ]
        elif section == "prices":
            lines += [
                '`"provider/model" = {...}` per model, in dollars per million tokens; the key is '
                "the provider's `describe()` string. Each value:",
                "",
                *_model_table(Price),
            ]
        else:
            lines += [FREE_SECTIONS.get(section, "A free-form section (no schema)."), ""]
    return lines


def _params(factory: Any) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters.values() if p.name not in ("self", "cls")]


def render_registries(host: Any) -> list[str]:
    from distil.plugins import REGISTRIES

    lines = [
        "## Registered names",
        "",
        "Every name the installed plugins register, by registry. A block "
        '`@<registry> = "<name>"` builds it; the block\'s other keys are the parameters below '
        "(validated against the signature). `distil plugins` shows what is installed where you "
        "run it.",
        "",
        "| registry | names |",
        "|---|---|",
    ]
    for kind in REGISTRIES:
        names = host.names(kind)
        listing = ", ".join(f"[`{n}`](#{_anchor(n)})" for n in names) or "(none installed)"
        lines.append(f"| [{kind}](#{kind}) | {listing} |")
    lines.append("")
    for kind in REGISTRIES:
        lines += [f"### {kind}", ""]
        names = host.names(kind)
        if not names:
            lines += [f"No {kind} are registered by the installed plugins.", ""]
        for name in names:
            reg = host.get(kind, name)
            info = host.plugins.get(reg.plugin)
            dist = info.distribution if info and info.distribution else reg.plugin
            factory = reg.factory
            where = f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', '?')}"
            lines += [
                f"#### `{name}`",
                "",
                f"Package `{dist}`, plugin `{reg.plugin}`, factory `{where}`.",
                "",
            ]
            doc = inspect.getdoc(factory)
            if doc:
                lines += [doc, ""]
            params = _params(factory)
            if not params:
                lines += ["No parameters.", ""]
                continue
            lines += ["| key | type | default |", "|---|---|---|"]
            for p in params:
                key = p.name
                if p.kind is inspect.Parameter.VAR_KEYWORD:
                    key = f"**{key}"
                elif p.kind is inspect.Parameter.VAR_POSITIONAL:
                    key = f"*{key}"
                default = "required" if p.default is inspect.Parameter.empty else _value(p.default)
                if p.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
                    default = "—"
                lines.append(f"| `{key}` | {_cell(_type(p.annotation))} | {default} |")
            lines.append("")
    return lines


def _anchor(name: str) -> str:
    """The GitHub-style anchor of a ``#### `name` `` heading."""
    return re.sub(r"[^a-z0-9_ -]", "", name.lower()).replace(" ", "-")


def render() -> str:
    from distil import config
    from distil.plugins import REGISTRIES

    host = _host()
    registry_of = {k[:-1]: k for k in REGISTRIES if k.endswith("s")}
    registry_of = {s: k for s, k in registry_of.items() if s in config.SECTIONS}
    head = [
        "# Config reference",
        "",
        "Generated from `core/src/distil/config.py` and the plugin registries by "
        "`scripts/gen_config_docs.py`; do not edit. [config.md](config.md) explains the sections "
        "with examples; this page lists every key and every registered name.",
        "",
    ]
    body = render_sections(registry_of) + render_registries(host)
    return "\n".join(head + body).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
