"""``distil init`` asks the plugins for its choices (the ``distil_init_choices`` hook).

A contrib-style plugin registered in-process offers its own ``--teacher`` and ``--student``; the
command writes its blocks, ``auto`` follows the priorities of what is installed, a missing plugin
names the package to install, and two plugins offering one choice is an error naming both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

import distil
from distil.cli.init_cmd import init_choices, render_config
from distil.config import load_config
from distil.errors import PluginError
from distil.plugins import PluginHost, set_host
from distil.testing import run_cli
from distil.testing.executors import KeywordStudent, KeywordTeacher

LABELS = ["ham", "spam 🚫", "😀 joy"]


class AcmeTeacher(KeywordTeacher):
    def __init__(self, fallback: str) -> None:
        self.fallback = fallback


def make_acme_teacher(fallback: str) -> AcmeTeacher:
    return AcmeTeacher(fallback)


def _acme_block(request: distil.InitRequest) -> str:
    if len(request.labels) < 2:
        raise ValueError("the acme teacher needs two labels or more; pass --labels a,b")
    return f'@teachers = "acme.keywords.v1"\nfallback = {json.dumps(request.labels[0])}'


def _acme_llm_block(request: distil.InitRequest) -> str:
    return distil.llm_teacher_block(
        "acme.chat.v1", request.model or "acme-small", "ACME_KEY", request.base_url
    )


class AcmePlugin:
    """What a third-party plugin ships: registered factories plus its ``distil init`` choices."""

    @distil.hookimpl
    def register_teachers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("acme.keywords.v1", make_acme_teacher)

    @distil.hookimpl
    def register_students(self, register) -> None:  # type: ignore[no-untyped-def]
        register("acme.votes.v1", KeywordStudent)
        register("acme.votes_multi.v1", KeywordStudent)

    @distil.hookimpl
    def distil_init_choices(self) -> list[distil.TeacherChoice | distil.StudentChoice]:
        return [
            distil.TeacherChoice("acme", "textcat", _acme_block, priority=5),
            distil.TeacherChoice("acme-llm", "textcat", _acme_llm_block, takes_model=True),
            distil.StudentChoice(
                "votes", "textcat", "acme.votes.v1", "acme.votes_multi.v1", priority=5
            ),
        ]


class Rival:
    @distil.hookimpl
    def distil_init_choices(self) -> list[distil.TeacherChoice]:
        return [distil.TeacherChoice("acme", "textcat", '@teachers = "llm.v1"')]


class Confused:
    @distil.hookimpl
    def distil_init_choices(self) -> list[object]:
        return [("acme", "textcat")]


class Stronger:
    @distil.hookimpl
    def distil_init_choices(self) -> list[distil.StudentChoice]:
        return [distil.StudentChoice("better", "textcat", "acme.votes.v1", priority=50)]


@pytest.fixture
def acme():
    host = PluginHost(entry_points=False, strict=True, modules=[("acme", AcmePlugin())])
    set_host(host)
    yield host
    set_host(None)


def test_a_plugin_s_teacher_choice_is_written_by_distil_init_teacher_name(
    acme: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out = tmp_path / "proj" / "distil.cfg"
    code, stdout, err = run_cli(
        monkeypatch,
        capsys,
        "init",
        str(out),
        "--teacher",
        "acme",
        "--student",
        "votes",
        "--labels",
        ",".join(LABELS),
    )
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}")
    text = out.read_text(encoding="utf-8")
    assert '[teacher]\n@teachers = "acme.keywords.v1"\nfallback = "ham"\n' in text
    assert '@students = "acme.votes.v1"' in text
    config = load_config(out)
    assert isinstance(config.teacher, AcmeTeacher) and config.teacher.fallback == "ham"
    assert config.task.labels == LABELS
    assert isinstance(config.student, KeywordStudent)


def test_auto_picks_the_highest_priority_choice_installed(acme: PluginHost) -> None:
    text = render_config(labels=LABELS)
    assert '@teachers = "acme.keywords.v1"' in text and '@students = "acme.votes.v1"' in text
    stronger = PluginHost(
        entry_points=False, modules=[("acme", AcmePlugin()), ("stronger", Stronger())]
    )
    assert init_choices(stronger).auto("student", "textcat") == "better"
    assert init_choices(stronger).auto("teacher", "ner") is None


def test_the_multilabel_variant_of_a_student_choice_is_written(acme: PluginHost) -> None:
    text = render_config(teacher="acme", student="votes", labels=LABELS, multilabel=True)
    assert '@students = "acme.votes_multi.v1"' in text and "multilabel = true" in text


def test_a_teacher_block_s_value_error_is_a_usage_error_with_its_message(
    acme: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    code, _, err = run_cli(
        monkeypatch, capsys, "init", str(tmp_path / "x.cfg"), "--teacher", "acme", "--labels", "a"
    )
    assert code == 2
    assert "the acme teacher needs two labels or more; pass --labels a,b" in err
    assert not (tmp_path / "x.cfg").exists()


def test_model_and_base_url_reach_only_a_choice_that_takes_them(acme: PluginHost) -> None:
    text = render_config(
        teacher="acme-llm", labels=LABELS, model="acme-large", base_url="http://127.0.0.1:9/v1"
    )
    assert 'model = "acme-large"\nbase_url = "http://127.0.0.1:9/v1"\n' in text
    assert 'api_key_env = "ACME_KEY"' in text
    with pytest.raises(typer.BadParameter, match=r"apply to the LLM teachers \(acme-llm\), not to"):
        render_config(teacher="acme", labels=LABELS, model="m")


def test_a_teacher_no_plugin_offers_names_the_package_to_install(acme: PluginHost) -> None:
    with pytest.raises(typer.BadParameter) as caught:
        render_config(teacher="openai", labels=LABELS)
    message = str(caught.value)
    assert message.startswith("unknown teacher 'openai'; for textcat choose from: acme, acme-llm.")
    assert message.endswith(
        "'openai' may be provided by the package distil-openai: pip install it."
    )


def test_a_disabled_plugin_s_choice_says_it_is_disabled_not_to_install_it() -> None:
    host = PluginHost(allow={"sklearn"})  # installed plugins read, only distil-sklearn loaded
    set_host(host)
    try:
        with pytest.raises(typer.BadParameter) as caught:
            render_config(teacher="openai", labels=LABELS)
        assert "the installed plugin 'openai' (distil-openai), which is disabled" in str(
            caught.value
        )
        assert "pip install" not in str(caught.value)
        # what sklearn alone offers: the textcat default student, nothing for ner
        assert init_choices(host).auto("student", "textcat") == "sklearn"
        with pytest.raises(
            typer.BadParameter, match="no installed plugin offers a default student"
        ):
            render_config(task="ner", teacher="openai", labels=["PER"])
    finally:
        set_host(None)


def test_one_choice_offered_by_two_plugins_is_an_error_naming_both() -> None:
    host = PluginHost(entry_points=False, modules=[("acme", AcmePlugin()), ("rival", Rival())])
    with pytest.raises(PluginError, match="offered by both plugin 'acme' and plugin 'rival'"):
        init_choices(host)


def test_a_hook_returning_something_else_names_the_plugin() -> None:
    host = PluginHost(entry_points=False, modules=[("confused", Confused())])
    with pytest.raises(PluginError, match="plugin 'confused': distil_init_choices returned"):
        init_choices(host)


def test_core_keeps_no_plugin_names_in_distil_init() -> None:
    import distil.cli.init_cmd as init_cmd

    source = Path(init_cmd.__file__).read_text(encoding="utf-8")
    for name in ("local.", "spacy", "openai", "anthropic", "sklearn", "embeddings", "llama"):
        assert name not in source, name
