"""No import cycle between modules of core, counted at top level and inside functions.

import-linter (run by `make lint`) checks the layers between packages; it cannot see a cycle between
two modules of one layer, and a function-level import is how cycles hide. This test builds the graph
itself with `ast` from every `import` and `from ... import` anywhere in a module (functions, methods,
`if TYPE_CHECKING:` blocks included), resolves relative imports, and fails naming each cycle with the
file:line of every edge in it, so whoever adds one sees where to cut.

A package `__init__` counts as its own module: `from distil.evaluate import x` is an edge to
`distil/evaluate/__init__.py`, which is what Python really runs first.
"""

from __future__ import annotations

import ast
import configparser
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT_PACKAGE = "distil"
REPO = SRC.parents[1]
#: The modules of core a plugin may import (docs/writing-plugins.md): the package itself and the
#: test helpers its tests use.
PUBLIC = {"testing"}


@dataclass(frozen=True)
class Edge:
    """One import of a core module by another, with where it is written."""

    source: str
    target: str
    #: The importing file, relative to the folder above the source root (``src/distil/...``).
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.as_posix()}:{self.line}"


def module_names(src: Path = SRC, package: str = ROOT_PACKAGE) -> dict[str, Path]:
    """Every module of `package` under `src`, dotted name -> file (`__init__` named after its package)."""
    modules: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _base_package(module: str, path: Path, level: int) -> str:
    """The package a relative import of `level` dots is resolved against."""
    parts = module.split(".")
    if path.name != "__init__.py":
        parts.pop()
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts)


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, path: Path) -> Iterator[str]:
    """Dotted names one import statement may load: the module and, for `from`, module.name."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if node.level:
        base = _base_package(module, path, node.level)
        origin = f"{base}.{node.module}" if node.module else base
    else:
        origin = node.module or ""
    yield origin
    for alias in node.names:
        yield f"{origin}.{alias.name}"


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The core module a dotted name lands in: the longest prefix that is a module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_edges(src: Path = SRC, package: str = ROOT_PACKAGE) -> list[Edge]:
    """Every import edge between modules of `package`, wherever in the file it is written."""
    modules = module_names(src, package)
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets = {_resolve(name, modules) for name in _imported_names(node, module, path)}
            for target in sorted(t for t in targets if t and t != module):
                # `from distil.evaluate import metrics` names both the package and the submodule:
                # the submodule is the real edge, the package a parent Python loads on the way.
                if any(other.startswith(target + ".") for other in targets if other):
                    continue
                edges.append(Edge(module, target, path.relative_to(src.parent), node.lineno))
    return edges


def strongly_connected(edges: list[Edge]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module, each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def describe(component: list[str], edges: list[Edge]) -> str:
    members = set(component)
    inside = [e for e in edges if e.source in members and e.target in members]
    lines = [f"  {e.source} -> {e.target}  ({e.where()})" for e in inside]
    return "cycle between " + ", ".join(component) + ":\n" + "\n".join(lines)


def test_core_has_no_import_cycle_at_top_level_or_inside_functions() -> None:
    edges = import_edges()
    cycles = strongly_connected(edges)
    assert not cycles, "\n".join(describe(c, edges) for c in cycles)


def test_the_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: a cycle hidden in a function and written relatively is still found."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .leaf import LEAF\n")
    (pkg / "sub" / "leaf.py").write_text("LEAF = '🍃'\n\ndef late():\n    from ..top import TOP\n")
    (pkg / "top.py").write_text("from pkg.sub import leaf\nTOP = 1\n")
    (pkg / "alone.py").write_text("import json\nfrom pkg import top\n")

    edges = import_edges(tmp_path, "pkg")
    assert {(e.source, e.target) for e in edges} == {
        ("pkg.sub", "pkg.sub.leaf"),
        ("pkg.sub.leaf", "pkg.top"),
        ("pkg.top", "pkg.sub.leaf"),
        ("pkg.alone", "pkg.top"),
    }
    cycles = strongly_connected(edges)
    assert cycles == [["pkg.sub.leaf", "pkg.top"]]
    message = describe(cycles[0], edges)
    assert f"pkg.sub.leaf -> pkg.top  ({tmp_path.name}/pkg/sub/leaf.py:4)" in message
    assert f"pkg.top -> pkg.sub.leaf  ({tmp_path.name}/pkg/top.py:1)" in message


@pytest.mark.parametrize(
    ("module", "filename", "level", "expected"),
    [
        ("distil.evaluate.report", "report.py", 1, "distil.evaluate"),
        ("distil.evaluate.report", "report.py", 2, "distil"),
        ("distil.evaluate", "__init__.py", 1, "distil.evaluate"),
        ("distil.evaluate", "__init__.py", 2, "distil"),
    ],
)
def test_relative_imports_resolve_against_the_right_package(
    module: str, filename: str, level: int, expected: str
) -> None:
    assert _base_package(module, Path(filename), level) == expected


def _contracts() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(REPO / ".importlinter", encoding="utf-8")
    return config


def _listed(config: configparser.ConfigParser, section: str, key: str) -> set[str]:
    return set(config[f"importlinter:contract:{section}"][key].split())


def test_the_public_api_contract_forbids_every_private_module_of_core() -> None:
    """A module added to core is private unless said otherwise: the contract must name it."""
    children = {p.stem if p.is_file() else p.name for p in (SRC / ROOT_PACKAGE).iterdir()}
    modules = {
        name
        for name in children
        if name != "__init__"
        and (
            (SRC / ROOT_PACKAGE / f"{name}.py").is_file()
            or (SRC / ROOT_PACKAGE / name / "__init__.py").is_file()
        )
    }
    forbidden = _listed(_contracts(), "plugins-use-the-public-api", "forbidden_modules")
    assert forbidden == {f"{ROOT_PACKAGE}.{m}" for m in modules - PUBLIC}


def test_the_contracts_name_every_plugin_package_in_the_repo() -> None:
    packages = {
        p.parent.name
        for folder in ("plugins", "contrib")
        for p in (REPO / folder).glob("*/src/*/__init__.py")
    }
    config = _contracts()
    assert len(packages) >= 10
    assert _listed(config, "core-never-imports-a-plugin", "forbidden_modules") == packages
    assert _listed(config, "plugins-use-the-public-api", "source_modules") == packages
    assert set(config["importlinter"]["root_packages"].split()) == packages | {ROOT_PACKAGE}
