"""The teacher and the student as spaCy components give Docs of the same shape, and swapping one for
the other is a one-line change in a spaCy config."""

from __future__ import annotations

import difflib

import pytest
import spacy
from _helpers import WIKIGOLD_LABELS, ner_task, wikigold

from distil.testing.students import gold_pairs
from distil_spacy.plugin import make_ner, make_textcat

TEACHER_CONFIG = """
[nlp]
lang = "en"
pipeline = ["entities_teacher"]

[components]

[components.entities_teacher]
factory = "distil_teacher"
teacher = "spacy.pipeline.v1"
task = "ner"
labels = ["PER", "LOC", "ORG", "MISC"]

[components.entities_teacher.teacher_config]
label_map = "conll"

[components.entities_student]
factory = "distil_student"
path = "{path}"
"""
STUDENT_CONFIG = TEACHER_CONFIG.replace(
    'pipeline = ["entities_teacher"]', 'pipeline = ["entities_student"]'
)


@pytest.fixture(scope="module")
def ner_student_dir(tmp_path_factory):
    task = ner_task()
    student = make_ner(max_epochs=2)
    student.fit(task, gold_pairs(task, wikigold("train", 60)))
    folder = tmp_path_factory.mktemp("ner") / "student"
    student.save(folder)
    return folder


def from_config(text: str):
    return spacy.util.load_model_from_config(spacy.util.load_config_from_str(text), auto_fill=True)


def test_the_two_configs_differ_in_one_line():
    diff = [
        line
        for line in difflib.unified_diff(
            TEACHER_CONFIG.splitlines(), STUDENT_CONFIG.splitlines(), lineterm="", n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert diff == ['-pipeline = ["entities_teacher"]', '+pipeline = ["entities_student"]']


def test_teacher_and_student_pipelines_give_docs_of_the_same_shape(ner_student_dir, shared_data):
    texts = [e.text for e in wikigold("test", 30)]
    teacher_nlp = from_config(TEACHER_CONFIG.format(path=ner_student_dir))
    student_nlp = from_config(STUDENT_CONFIG.format(path=ner_student_dir))
    teacher_docs = list(teacher_nlp.pipe(texts))
    student_docs = list(student_nlp.pipe(texts))
    for docs in (teacher_docs, student_docs):
        assert any(doc.ents for doc in docs)
        for doc in docs:
            assert doc.cats == {}
            assert all(
                isinstance(e, spacy.tokens.Span) and e.label_ in WIKIGOLD_LABELS for e in doc.ents
            )
            assert 0.0 <= doc._.distil_confidence <= 1.0
    assert teacher_docs[0]._.distil_source.startswith("teacher:spacy/")
    assert student_docs[0]._.distil_source.startswith("student:spacy.ner")


def test_textcat_components_set_exactly_the_task_labels_as_cats(tmp_path, shared_data):
    import distil
    from distil.testing.students import default_test_examples, default_train_pairs

    task = distil.TextCat(["ham", "spam"])
    student = make_textcat(architecture="bow", max_epochs=2)
    student.fit(task, default_train_pairs(task, 200))
    student.save(tmp_path / "textcat")
    nlp = spacy.blank("en")
    nlp.add_pipe("distil_student", config={"path": str(tmp_path / "textcat")})
    for doc in nlp.pipe([e.text for e in default_test_examples(20)]):
        assert set(doc.cats) == {"ham", "spam"} and sorted(doc.cats.values()) == [0.0, 1.0]


def test_the_teacher_component_is_found_through_spacys_entry_points():
    nlp = spacy.blank("en")
    nlp.add_pipe("distil_teacher", config={"labels": WIKIGOLD_LABELS})
    doc = nlp("Angela Merkel met Emmanuel Macron in Berlin .")
    assert {(e.text, e.label_) for e in doc.ents} >= {("Angela Merkel", "PER"), ("Berlin", "LOC")}
