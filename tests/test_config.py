"""Config errors, as a user meets them: the dotted path of the bad key, the available names."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import run_distil
from distil.cli.init_cmd import STUDENTS, TEACHERS, render_config
from distil.config import load_config
from distil.errors import ConfigError, RegistryError

BASE = """
[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "local.zeroshot.v1"

[student]
@students = "sklearn.textcat.v1"
{student_extra}

[data]
train = "train.jsonl"
gold = "test.jsonl"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "distil.cfg"
    path.write_text(text)
    return path


def test_unknown_key_names_its_dotted_path(tmp_path: Path) -> None:
    cfg = write(tmp_path, BASE.format(student_extra="bogus = 3"))
    with pytest.raises(ConfigError, match=r"student\.bogus: unexpected argument: 'bogus'"):
        load_config(cfg)


def test_unknown_key_in_a_plain_section_names_its_path(tmp_path: Path) -> None:
    cfg = write(tmp_path, BASE.format(student_extra="") + "trian_limit = 3\n")
    with pytest.raises(ConfigError, match=r"data\.trian_limit: unknown key"):
        load_config(cfg)


def test_unknown_registered_name_lists_available_and_package(tmp_path: Path) -> None:
    text = BASE.format(student_extra="").replace("local.zeroshot.v1", "openai.chat.v1")
    with pytest.raises(RegistryError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "no teachers registered as 'openai.chat.v1'" in message
    assert "llm.v1" in message and "local.zeroshot.v1" in message
    assert "distil-openai" in message


def test_wrong_type_names_the_path(tmp_path: Path) -> None:
    text = BASE.format(student_extra="").replace('labels = ["ham", "spam"]', "labels = 3")
    with pytest.raises(ConfigError, match=r"task\.labels"):
        load_config(write(tmp_path, text))


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \[studnet\]"):
        load_config(write(tmp_path, BASE.format(student_extra="") + "\n[studnet]\nx = 1\n"))


def test_cli_prints_config_errors_without_a_traceback(tmp_path: Path) -> None:
    cfg = write(tmp_path, BASE.format(student_extra="bogus = 3"))
    result = run_distil("train", str(cfg))
    assert result.returncode == 1
    assert "student.bogus" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("teacher", sorted(TEACHERS))
@pytest.mark.parametrize("student", sorted(STUDENTS))
@pytest.mark.parametrize("multilabel", [False, True])
def test_every_init_template_loads_and_validates(
    tmp_path: Path, teacher: str, student: str, multilabel: bool
) -> None:
    text = render_config(
        teacher=teacher, student=student, labels=["a", "b", "c"], multilabel=multilabel
    )
    config = load_config(write(tmp_path, text))
    assert config.task.labels == ["a", "b", "c"]
    assert config.task.multilabel is multilabel  # type: ignore[attr-defined]
    assert config.student is not None
    assert config.store_path == tmp_path / "distil.db"


def test_init_command_writes_a_config_that_loads(tmp_path: Path) -> None:
    out = tmp_path / "proj" / "distil.cfg"
    result = run_distil("init", str(out), "--labels", "ham,spam", "--teacher", "llama")
    assert result.returncode == 0, result.stderr
    config = load_config(out)
    assert config.teacher.source(config.task).startswith("teacher:local.llama/")
    again = run_distil("init", str(out), "--labels", "ham,spam")
    assert again.returncode != 0 and "--force" in again.stderr


def test_relative_path_keys_are_relative_to_the_config_file(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "shots.jsonl").write_text('{"id": "s1", "text": "WIN NOW", "labels": ["spam"]}\n')
    text = BASE.format(student_extra="").replace(
        'labels = ["ham", "spam"]', 'labels = ["ham", "spam"]\nshots_path = "shots.jsonl"'
    )
    config = load_config(write(project, text))  # loaded from another working directory
    assert [shot.id for shot in config.task.shots] == ["s1"]
