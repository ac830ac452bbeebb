"""Plugin ergonomics: the distil versions a plugin supports, hooks that grow arguments, tracing
every hook call, and the import cost of loading every installed plugin.

A fake third-party distribution (a ``.dist-info`` folder and a module on ``PYTHONPATH``) exercises
the real entry-point path in a subprocess, as ``pip install`` would leave it.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

import distil
from distil import hookspecs
from distil.errors import PluginError
from distil.plugins import PluginHost, requirement_on_distil, version_in_range

DISTIL = "from distil.cli import main; main()"
#: Libraries that must never be imported by `distil --help` (nor by loading every plugin).
HEAVY = ("torch", "spacy", "transformers", "sklearn", "openai", "anthropic", "ray", "llama_cpp")
CORE_VERSION = distil.__version__


def plugin_module(name: str, supports: str | None = None) -> types.ModuleType:
    """A plugin module registering one teacher, declaring ``DISTIL_CORE`` when given."""
    module = types.ModuleType(name)

    @distil.hookimpl
    def register_teachers(register: Any) -> None:
        register(f"{name}.rules.v1", lambda: None)

    module.register_teachers = register_teachers  # type: ignore[attr-defined]
    if supports is not None:
        module.DISTIL_CORE = supports  # type: ignore[attr-defined]
    return module


# -- the distil versions a plugin supports ------------------------------------------------------
def test_a_plugin_outside_its_range_loads_with_a_warning_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="distil.plugins"):
        host = PluginHost(entry_points=False, modules=[("oldie", plugin_module("oldie", ">=99"))])
    info = host.plugins["oldie"]
    assert (info.status, info.supports, info.compatible) == ("loaded", ">=99", False)
    assert host.names("teachers").count("oldie.rules.v1") == 1  # still usable
    assert f"plugin 'oldie' (oldie) supports distil >=99 but this is distil {CORE_VERSION}" in (
        caplog.text
    )


def test_strict_mode_refuses_a_plugin_outside_its_range() -> None:
    with pytest.raises(PluginError, match=r"plugin 'oldie' \(oldie\) supports distil <0\.1"):
        PluginHost(
            entry_points=False, modules=[("oldie", plugin_module("oldie", "<0.1"))], strict=True
        )


def test_a_plugin_inside_its_range_loads_silently(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="distil.plugins"):
        host = PluginHost(
            entry_points=False,
            modules=[("fine", plugin_module("fine", f">={CORE_VERSION},<99"))],
            strict=True,
        )
    assert host.plugins["fine"].compatible is True
    assert caplog.text == ""


def test_a_plugin_without_a_range_is_not_checked() -> None:
    host = PluginHost(entry_points=False, modules=[("free", plugin_module("free"))], strict=True)
    assert (host.plugins["free"].supports, host.plugins["free"].compatible) == (None, None)


def test_a_malformed_range_is_reported_naming_the_plugin(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="distil.plugins"):
        host = PluginHost(entry_points=False, modules=[("typo", plugin_module("typo", "=>0.1"))])
    assert host.plugins["typo"].compatible is False
    assert "plugin 'typo' (typo) declares an invalid distil version range '=>0.1'" in caplog.text


@pytest.mark.parametrize(
    ("requires", "expected"),
    [
        (["numpy>=1", "distil>=0.1,<0.3"], "<0.3,>=0.1"),
        (["Distil >= 0.2"], ">=0.2"),
        (["distil"], None),
        (['distil>=9; extra == "test"', "distil>=0.1"], ">=0.1"),
        (["distil-openai>=0.1"], None),
        (None, None),
    ],
)
def test_the_range_is_read_from_the_requirement_on_distil(
    requires: list[str] | None, expected: str | None
) -> None:
    assert requirement_on_distil(requires) == expected


def test_pre_releases_count_as_inside_the_range() -> None:
    assert version_in_range("0.2.0.dev1", ">=0.1,<0.3") is True
    assert version_in_range("0.3.0", ">=0.1,<0.3") is False
    assert isinstance(version_in_range("0.1", "not a range"), str)


# -- a real distribution, through entry points and the CLI --------------------------------------
@pytest.fixture
def fake_dist(tmp_path: Path) -> dict[str, str]:
    """``distil-fakecore`` 0.1.0 on PYTHONPATH: requires distil>=99, registers one teacher."""
    (tmp_path / "distil_fakecore.py").write_text(
        "import distil\n\n\n@distil.hookimpl\ndef register_teachers(register):\n"
        "    register('fakecore.rules.v1', lambda: None)\n"
    )
    info = tmp_path / "distil_fakecore-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: distil-fakecore\nVersion: 0.1.0\nRequires-Dist: distil>=99\n"
    )
    (info / "entry_points.txt").write_text("[distil]\nfakecore = distil_fakecore\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTIL_")}
    path = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env.update(PYTHONPATH=path, DISTIL_PLUGINS="fakecore", COLUMNS="200")
    return env


def distil_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", DISTIL, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_distil_plugins_shows_the_range_and_warns_for_an_installed_plugin(
    fake_dist: dict[str, str],
) -> None:
    result = distil_cli(fake_dist, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    info = {p["name"]: p for p in json.loads(result.stdout)}["fakecore"]
    assert (info["distribution"], info["supports"], info["compatible"]) == (
        "distil-fakecore",
        ">=99",
        False,
    )
    assert info["registered"] == {"teachers": ["fakecore.rules.v1"]}
    assert "plugin 'fakecore' (distil_fakecore) supports distil >=99" in result.stderr
    table = distil_cli(fake_dist, "plugins")
    assert "distil >=99" in table.stdout


def test_strict_mode_stops_the_cli_naming_the_plugin(fake_dist: dict[str, str]) -> None:
    result = distil_cli({**fake_dist, "DISTIL_STRICT_PLUGINS": "1"}, "plugins")
    assert result.returncode == 1
    assert "plugin 'fakecore' (distil_fakecore) supports distil >=99" in result.stderr
    assert "Traceback" not in result.stderr


# -- hooks may grow arguments ---------------------------------------------------------------------
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith(("register_", "distil_")))


@pytest.mark.parametrize("hook", HOOKS)
def test_an_implementation_taking_no_arguments_is_accepted_and_called(hook: str) -> None:
    """pluggy passes an implementation only the arguments it names, so a hook can gain arguments
    without breaking a plugin written against its older signature."""
    calls: list[str] = []

    class Minimal:
        pass

    def impl(self: Any) -> None:
        calls.append(hook)

    setattr(Minimal, hook, distil.hookimpl(impl))
    host = PluginHost(entry_points=False, modules=[("minimal", Minimal())], strict=True)
    assert host.plugins["minimal"].hooks == [hook]
    if not hook.startswith("register_") or hook == "register_commands":
        spec_args = inspect.signature(getattr(hookspecs, hook)).parameters
        caller = host.pm.subset_hook_caller(hook, remove_plugins=[host.pm.get_plugin("distil")])
        caller(**{name: None for name in spec_args})
    assert calls == [hook]  # registration hooks are called while the host loads


def test_an_implementation_with_a_subset_of_arguments_gets_exactly_those() -> None:
    seen: dict[str, Any] = {}

    class Scorer:
        @distil.hookimpl
        def distil_evaluate(self, predictions: list[Any]) -> dict[str, Any]:
            seen["predictions"] = predictions
            return {"answered": sum(p is not None for p in predictions)}

    host = PluginHost(entry_points=False, modules=[("scorer", Scorer())], strict=True)
    task = distil.TextCat(["ham", "spam"])
    results = host.hook.distil_evaluate(task=task, gold=[], predictions=[None, "x"])
    assert {"answered": 1} in results
    assert seen == {"predictions": [None, "x"]}


def test_an_argument_the_spec_does_not_have_is_an_error_naming_the_plugin() -> None:
    class Wrong:
        @distil.hookimpl
        def distil_parse(self, completion: Any, context: Any) -> None:
            return None

    with pytest.raises(PluginError, match=r"(?s)plugin 'wrong'.*{'context'}.*hookspec"):
        PluginHost(entry_points=False, modules=[("wrong", Wrong())], strict=True)
    host = PluginHost(entry_points=False, modules=[("wrong", Wrong())])
    assert host.plugins["wrong"].status == "failed"


# -- DISTIL_TRACE_PLUGINS -------------------------------------------------------------------------
def test_trace_prints_every_hook_call_with_its_plugin(fake_dist: dict[str, str]) -> None:
    traced = distil_cli({**fake_dist, "DISTIL_TRACE_PLUGINS": "1"}, "plugins", "--json")
    assert traced.returncode == 0, traced.stderr
    lines = [x for x in traced.stderr.splitlines() if x.startswith("distil trace: ")]
    assert "distil trace: register_teachers(register=<teachers>) -> [fakecore]" in lines
    assert "distil trace: register_tasks(register=<tasks>) -> [distil]" in lines
    assert any(x.startswith("distil trace: register_commands(cli=") for x in lines), lines
    assert json.loads(traced.stdout)  # the trace goes to stderr: stdout stays valid JSON
    quiet = distil_cli(fake_dist, "plugins", "--json")
    assert "distil trace:" not in quiet.stderr


def test_trace_names_the_plugins_of_a_lifecycle_hook(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Counter:
        @distil.hookimpl
        def distil_evaluate(self, predictions: list[Any]) -> dict[str, Any]:
            return {"n": len(predictions)}

    monkeypatch.setenv("DISTIL_TRACE_PLUGINS", "1")
    host = PluginHost(entry_points=False, modules=[("counter", Counter())], strict=True)
    host.hook.distil_evaluate(task=distil.TextCat(["a", "b"]), gold=[], predictions=[])
    err = capfd.readouterr().err
    assert "distil trace: distil_evaluate(task=" in err
    assert "-> [counter]" in err


# -- import cost ----------------------------------------------------------------------------------
IMPORT_PROBE = f"""
import contextlib, io, json, sys, time
start = time.perf_counter()
sys.argv = ["distil", "--help"]
from distil.cli import main
code = 0
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main()
    except SystemExit as exc:
        code = exc.code
from distil.plugins import get_host
print(json.dumps({{
    "code": code,
    "usage": "Usage" in out.getvalue(),
    "seconds": time.perf_counter() - start,
    "plugins": sorted(p.name for p in get_host().plugins.values() if p.status == "loaded"),
    "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules),
}}))
"""


def test_distil_help_with_every_plugin_loaded_imports_no_heavy_library() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTIL_")}
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, env=env
        )
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout))
    first = runs[0]
    assert first["code"] in (0, None) and first["usage"]
    assert {"distil", "openai", "anthropic", "spacy", "transformers"} <= set(first["plugins"])
    assert first["heavy"] == [], f"`distil --help` imported {first['heavy']}"
    # Reported, not asserted tightly: the machine is shared.
    best = min(r["seconds"] for r in runs)
    print(f"\ndistil --help, {len(first['plugins'])} plugins loaded: best of 3 {best:.2f} s")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", DISTIL, "--help"], capture_output=True, env=env)
    print(f"distil --help as a whole process: {time.perf_counter() - started:.2f} s")
    assert best < 10, f"`distil --help` took {best:.1f} s"
