"""Typos get a suggestion: registry names, config sections and keys; plus --version and -h."""

from __future__ import annotations

from pathlib import Path

import pytest

from distil import __version__, hookimpl
from distil.config import load_config
from distil.errors import ConfigError, RegistryError
from distil.plugins import PluginHost, did_you_mean, set_host
from distil.testing import run_cli as cli
from distil.testing.executors import KeywordStudent, KeywordTeacher


def make_student(max_features: int = 100, lowercase: bool = True) -> KeywordStudent:
    return KeywordStudent()


class Plugin:
    @hookimpl
    def register_teachers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordTeacher)

    @hookimpl
    def register_students(self, register) -> None:  # type: ignore[no-untyped-def]
        register("sklearn.textcat.v1", make_student)
        register("sklearn.multilabel.v1", make_student)
        register("spacy.textcat.v1", make_student)


@pytest.fixture(autouse=True)
def host():
    host = PluginHost(entry_points=False, strict=True, modules=[("typos", Plugin())])
    set_host(host)
    yield host
    set_host(None)


BASE = {
    "task": '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n',
    "teacher": '[teacher]\n@teachers = "test.keywords.v1"\n',
    "student": '[student]\n@students = "sklearn.textcat.v1"\n',
    "data": '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n',
}


def config(tmp_path: Path, **replace: str) -> Path:
    cfg = tmp_path / "distil.cfg"
    cfg.write_text("\n".join(replace.get(k, v) for k, v in BASE.items()), "utf-8")
    return cfg


def test_a_misspelled_registry_name_suggests_the_registered_one(tmp_path) -> None:
    cfg = config(tmp_path, student='[student]\n@students = "sklearn.textcat.v2"\n')
    with pytest.raises(RegistryError) as caught:
        load_config(cfg)
    assert str(caught.value) == (
        f"[E002] {cfg}: student: no students registered as 'sklearn.textcat.v2'; did you mean "
        "'sklearn.textcat.v1'? Available: extract.composite.v1, sklearn.multilabel.v1, "
        "sklearn.textcat.v1, spacy.textcat.v1."
    )


def test_a_name_from_a_missing_package_still_says_which_to_install(tmp_path) -> None:
    cfg = config(tmp_path, teacher='[teacher]\n@teachers = "openai.chat.v1"\n')
    with pytest.raises(RegistryError) as caught:
        load_config(cfg)
    message = str(caught.value)
    assert "did you mean" not in message
    assert message.endswith(
        "'openai.chat.v1' may be provided by the package distil-openai: pip install it."
    )


def test_a_misspelled_section_suggests_the_section(tmp_path, monkeypatch, capsys) -> None:
    cfg = config(tmp_path, teacher='[teachr]\n@teachers = "test.keywords.v1"\n')
    code, _, err = cli(monkeypatch, capsys, "train", str(cfg))
    assert code == 1
    assert err.startswith(
        f"error [E001] {cfg}: unknown section(s) [teachr] (did you mean [teacher]?); sections are"
    )


def test_a_misspelled_key_of_a_fixed_section_suggests_the_key(tmp_path) -> None:
    cfg = config(tmp_path, data='[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\ndve = "d"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    assert str(caught.value) == f"[E001] {cfg}: data.dve: unknown key; did you mean 'dev'?"


def test_a_misspelled_argument_of_a_registered_function_suggests_it(tmp_path) -> None:
    student = '[student]\n@students = "sklearn.textcat.v1"\nmax_featurs = 10\n'
    with pytest.raises(ConfigError) as caught:
        load_config(config(tmp_path, student=student))
    assert str(caught.value).endswith(
        "student.max_featurs: unexpected argument: 'max_featurs'; did you mean 'max_features'?"
    )


def test_nothing_close_means_no_suggestion() -> None:
    assert did_you_mean("zzz", ["teacher", "student", "data"], cutoff=0.6) is None
    assert did_you_mean("spacy.ner.v1", ["sklearn.textcat.v1", "llm.v1"]) is None


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_flags_print_the_version(flag, monkeypatch, capsys) -> None:
    code, out, _ = cli(monkeypatch, capsys, flag)
    assert (code, out) == (0, f"distil {__version__}\n")


@pytest.mark.parametrize("command", ["label", "train", "evaluate", "plugins", "init"])
def test_dash_h_is_help_on_every_command(command, monkeypatch, capsys) -> None:
    code, out, _ = cli(monkeypatch, capsys, command, "-h")
    assert code == 0
    assert f"Usage: distil {command}" in out
    assert cli(monkeypatch, capsys, command, "--help")[1] == out
