"""Lazy start-up: `distil --help` loads no plugin, no template engine and no rich renderer.

Each check runs the real command line in a fresh interpreter (a tiny ``-c`` wrapper around
``distil.cli.main``) and reads ``sys.modules`` after it: what a user's ``distil --help`` imports.
Behaviour, not timing: benchmarks/startup.py measures the CPU time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from distil.plugins import declared_commands

PROBE = """
import contextlib, io, json, sys
sys.argv = ["distil", *sys.argv[1:]]
from distil.cli import main
code = 0
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""

#: What the help screen must not import: the template engine, typer's rich help renderer and
#: what it pulls in, the built-in plugin (it imports the task templates) and the stages.
NOT_FOR_HELP = (
    "jinja2",
    "rich.markdown",
    "rich.traceback",
    "markdown_it",
    "pygments",
    "attr",
    "typer.rich_utils",
    "distil.builtins",
    "distil.execute",
    "distil.store.sqlite",
)


def distil(*args: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DISTIL_")}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_distil_help_imports_no_plugin_and_no_heavy_module() -> None:
    result = distil("--help")
    assert result["code"] == 0
    assert "Usage: distil [OPTIONS] COMMAND" in result["out"]
    for command in ("label", "train", "evaluate", "plugins", "init"):
        assert f"\n  {command} " in result["out"], command
    modules = set(result["modules"])
    plugins = sorted(m for m in modules if m.startswith("distil_"))
    assert plugins == [], f"`distil --help` imported plugin modules {plugins}"
    loaded = sorted(m for m in NOT_FOR_HELP if m in modules)
    assert loaded == [], f"`distil --help` imported {loaded}"


@pytest.mark.skipif("annotate" not in declared_commands(), reason="distil-annotate not installed")
def test_help_lists_a_declared_plugin_command_and_running_it_loads_the_plugin() -> None:
    helped = distil("--help")
    assert "Plugin commands" in helped["out"]
    assert "annotate" in helped["out"] and "[distil-annotate]" in helped["out"]
    assert "distil_annotate.plugin" not in helped["modules"]
    ran = distil("annotate", "--help")
    assert ran["code"] == 0
    assert "Usage: distil annotate [OPTIONS]" in ran["out"]
    assert "distil_annotate.plugin" in ran["modules"]


@pytest.mark.skipif("annotate" not in declared_commands(), reason="distil-annotate not installed")
def test_a_disabled_plugin_command_is_not_listed() -> None:
    result = distil("--help", DISTIL_DISABLE_PLUGINS="annotate")
    assert "annotate" not in result["out"].split("Commands:")[1]


def test_a_built_in_command_loads_no_plugin_module() -> None:
    result = distil("init", "--help")
    assert result["code"] == 0 and "Usage: distil init" in result["out"]
    assert [m for m in result["modules"] if m.startswith("distil_")] == []


BROKEN_COMMANDS = """
import sys
import distil
from distil.plugins import PluginHost, set_host
from distil.cli import main

class Broken:
    @distil.hookimpl
    def register_commands(self, cli):
        raise RuntimeError("no commands today")

    @distil.hookimpl
    def register_teachers(self, register):
        register("broken.rules.v1", lambda: None)

set_host(PluginHost(entry_points=False, modules=[("broken", Broken())]))
sys.argv = ["distil", *sys.argv[1:]]
main()
"""


def test_distil_plugins_lists_plugins_when_a_register_commands_hook_raises() -> None:
    run = subprocess.run(
        [sys.executable, "-c", BROKEN_COMMANDS, "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    listed = {p["name"]: p for p in json.loads(run.stdout)}
    assert listed["broken"]["registered"] == {"teachers": ["broken.rules.v1"]}
    assert "register_commands hook raised RuntimeError: no commands today" in run.stderr
