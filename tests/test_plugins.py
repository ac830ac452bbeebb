"""The guarded loader, as a user meets it through `distil plugins`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import distil
from cli_helpers import make_dist, run_distil
from distil.errors import PluginError
from distil.plugins import PluginHost

BROKEN = "raise ImportError('the vendor SDK is missing')\n"
GOOD = """
import distil

@distil.hookimpl
def register_exporters(register):
    register("good.csv.v1", lambda path="x.csv": path)
"""
MISSPELLED = """
import distil

@distil.hookimpl
def register_exporter(register):
    register("typo.v1", lambda: None)
"""


def _env(path: Path, **extra: str) -> dict[str, str]:
    return {"PYTHONPATH": str(path) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra}


def test_plugins_lists_installed_plugins_and_their_names() -> None:
    result = run_distil("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["local"]["distribution"] == "distil-local"
    assert "local.zeroshot.v1" in plugins["local"]["registered"]["teachers"]
    assert "local.llama.v1" in plugins["local"]["registered"]["providers"]
    assert plugins["sklearn"]["registered"]["students"] == ["sklearn.textcat.v1"]
    assert "textcat.v1" in plugins["distil"]["registered"]["tasks"]
    assert "openai.chat.v1" in plugins["openai"]["registered"]["providers"]
    assert "anthropic.messages.v1" in plugins["anthropic"]["registered"]["providers"]


def test_broken_plugin_is_skipped_with_a_warning_naming_it(plugin_path: Path) -> None:
    make_dist(plugin_path, "distil-broken", BROKEN, ep_name="broken")
    make_dist(plugin_path, "distil-good", GOOD, ep_name="good")
    result = run_distil("plugins", "--json", env=_env(plugin_path))
    assert result.returncode == 0, result.stderr
    assert "skipped plugin 'broken'" in result.stderr
    assert "the vendor SDK is missing" in result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["broken"]["status"] == "failed"
    assert plugins["good"]["registered"] == {"exporters": ["good.csv.v1"]}
    assert plugins["local"]["status"] == "loaded"


def test_strict_mode_turns_a_broken_plugin_into_an_error(plugin_path: Path) -> None:
    make_dist(plugin_path, "distil-broken", BROKEN, ep_name="broken")
    result = run_distil("plugins", env=_env(plugin_path, DISTIL_STRICT_PLUGINS="1"))
    assert result.returncode == 1
    assert "plugin 'broken'" in result.stderr
    assert "the vendor SDK is missing" in result.stderr


def test_misspelled_hook_is_caught_by_check_pending(plugin_path: Path) -> None:
    make_dist(plugin_path, "distil-typo", MISSPELLED, ep_name="typo")
    result = run_distil("plugins", "--json", env=_env(plugin_path))
    assert result.returncode == 0
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["typo"]["status"] == "failed"
    assert "register_exporter" in plugins["typo"]["error"]


def test_allow_and_deny_lists(plugin_path: Path) -> None:
    make_dist(plugin_path, "distil-good", GOOD, ep_name="good")
    only = run_distil("plugins", "--json", env=_env(plugin_path, DISTIL_PLUGINS="good"))
    plugins = {p["name"]: p["status"] for p in json.loads(only.stdout)}
    assert plugins["distil"] == plugins["good"] == "loaded"  # core's built-ins always load
    others = {name: status for name, status in plugins.items() if name not in ("distil", "good")}
    assert {"local", "sklearn", "openai"} <= set(others)
    assert set(others.values()) == {"disabled"}
    denied = run_distil("plugins", "--json", env=_env(plugin_path, DISTIL_DISABLE_PLUGINS="good"))
    plugins = {p["name"]: p["status"] for p in json.loads(denied.stdout)}
    assert plugins["good"] == "disabled" and plugins["local"] == "loaded"


def test_duplicate_registered_name_is_an_error_naming_both_plugins() -> None:
    class First:
        @distil.hookimpl
        def register_students(self, register):  # type: ignore[no-untyped-def]
            register("shared.name.v1", lambda: None)

    class Second(First):
        pass

    with pytest.raises(PluginError, match=r"'first'.*'second'"):
        PluginHost(entry_points=False, modules=[("first", First()), ("second", Second())])


def test_register_rejects_unversioned_names() -> None:
    class Bad:
        @distil.hookimpl
        def register_providers(self, register):  # type: ignore[no-untyped-def]
            register("noversion", lambda: None)

    host = PluginHost(entry_points=False, modules=[("bad", Bad())], strict=False)
    assert host.plugins["bad"].status == "failed"
    assert "versioned" in (host.plugins["bad"].error or "")
    with pytest.raises(PluginError, match="plugin 'bad'"):
        PluginHost(entry_points=False, modules=[("bad", Bad())], strict=True)


def test_hook_implementations_may_take_fewer_arguments() -> None:
    from distil.records import Categories, Completion, Example

    class Lenient:
        @distil.hookimpl(tryfirst=True)
        def distil_parse(self, completion):  # type: ignore[no-untyped-def]
            return Categories(labels=[completion.text.strip()])

    host = PluginHost(entry_points=False, modules=[("lenient", Lenient())], strict=True)
    task = distil.TextCat(["ham", "spam"])
    out = host.hook.distil_parse(
        task=task, example=Example(id="1", text="x"), completion=Completion(text=" spam ")
    )
    assert out == Categories(labels=["spam"])


def test_trace_prints_every_hook_call_with_its_plugins(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTIL_TRACE_PLUGINS", "1")
    host = PluginHost(entry_points=False)
    task = distil.TextCat(["ham", "spam"])
    host.hook.distil_prompt(
        task=task, example=distil.Example(id="1", text="hi"), shots=[], style="chat", teacher=None
    )
    err = capfd.readouterr().err
    assert "distil trace: distil_prompt(" in err and "[distil]" in err
