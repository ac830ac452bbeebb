"""Every exporter round-trips real data sets: export, import, the same examples and outputs."""

from __future__ import annotations

import pytest

import distil
from distil_exporters import ExportRecord

TEXTCAT_FORMATS = ["prodigy.jsonl.v1", "labelstudio.json.v1", "doccano.jsonl.v1", "hf.datasets.v1"]
SPAN_FORMATS = [*TEXTCAT_FORMATS, "conll.iob.v1"]
SUFFIX = {"labelstudio.json.v1": ".json", "conll.iob.v1": ".conll"}
# Formats with room for the teacher's source string.
CARRY_SOURCE = {"prodigy.jsonl.v1", "labelstudio.json.v1", "doccano.jsonl.v1", "hf.datasets.v1"}


def exporter(name: str):
    return distil.get_host().create("exporters", name)


def essence(record: ExportRecord) -> tuple:
    output = record.output
    if isinstance(output, distil.Spans):
        answer = frozenset((s.start, s.end, s.label) for s in output.spans)
    else:
        answer = frozenset(output.labels)
    return (record.example.id, record.example.text, type(output).__name__, answer)


def round_trip(name, records, tmp_path):
    path = tmp_path / f"out{SUFFIX.get(name, '.jsonl')}"
    report = exporter(name).export(records, path)
    assert report["records"] == len(records)
    return exporter(name).import_(path)


@pytest.mark.parametrize("dataset", ["sms_spam", "goemotions"])
@pytest.mark.parametrize("name", TEXTCAT_FORMATS)
def test_textcat_data_sets_round_trip(name, dataset, records, tmp_path):
    original = records(dataset)
    if dataset == "goemotions":
        assert any(len(r.output.labels) > 1 for r in original)  # really multi-label
    back = round_trip(name, original, tmp_path)
    assert [essence(r) for r in back] == [essence(r) for r in original]
    if name in CARRY_SOURCE:
        assert [r.source for r in back] == [r.source for r in original]
        assert [r.confidence for r in back] == [r.confidence for r in original]


@pytest.mark.parametrize("dataset", ["wikigold", "wnut17"])
@pytest.mark.parametrize("name", SPAN_FORMATS)
def test_ner_data_sets_round_trip(name, dataset, records, tmp_path):
    original = records(dataset)
    back = round_trip(name, original, tmp_path)
    assert [essence(r) for r in back] == [essence(r) for r in original]
    if name in CARRY_SOURCE:
        assert [r.source for r in back] == [r.source for r in original]


@pytest.mark.parametrize("name", ["prodigy.jsonl.v1", "labelstudio.json.v1"])
def test_teacher_and_human_provenance_survive(name, records, teacher_source, tmp_path):
    original = records("sms_spam")
    back = round_trip(name, original, tmp_path)
    teacher, human = back[1], back[0]
    assert teacher.source == teacher_source and teacher.prompt_hash == "3f2a9c1e"
    assert teacher.confidence == original[1].confidence
    assert (human.source, human.annotator, human.pass_name, human.answer) == (
        "human:alice#pass=review",
        "alice",
        "review",
        "accept",
    )


def test_plain_pairs_are_accepted_like_docbin_records(records, tmp_path):
    pairs = [(r.example, r.output) for r in records("wikigold")[:20]]
    back = round_trip("prodigy.jsonl.v1", pairs, tmp_path)
    assert [(example, output) for example, output in back] == pairs
