"""Label Studio's own exports (JSON and JSON-MIN) read back: the hand-written fixtures and the
shapes around them. The store-side import (accept vs correct, the hook) is tested in
tests/test_import_formats.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import distil

FIXTURES = Path(__file__).parent / "fixtures"


def reader(**options):
    return distil.get_host().create("exporters", "labelstudio.json.v1", **options)


def summary(records):
    return {r.example.id: (r.output, r.source, r.annotator, r.answer) for r in records}


def test_json_and_json_min_of_one_project_give_the_same_records():
    full = reader(from_name="intent").import_(FIXTURES / "labelstudio_textcat_export.json")
    flat = reader(from_name="intent").import_(FIXTURES / "labelstudio_textcat_export_min.json")
    assert summary(full) == summary(flat)
    assert summary(full)["bank-002"] == (
        distil.Categories(labels=["top_up_failed"]),
        "human:2",
        "2",
        "correct",
    )


def test_predictions_written_as_ids_are_skipped_and_counted_not_a_crash():
    ls = reader(from_name="intent")
    records = ls.import_(FIXTURES / "labelstudio_textcat_export.json")
    assert [r.example.id for r in records] == ["bank-001", "bank-002", "105", "bank-006"]
    assert ls.report["predictions_as_ids"] == 2  # bank-003 (cancelled) and bank-004
    assert ls.report["cancelled_annotations"] == 2
    assert ls.report["shape"] == "json"


def test_a_prediction_object_is_used_when_every_annotation_was_cancelled():
    records = summary(reader().import_(FIXTURES / "labelstudio_ner_export.json"))
    output, source, annotator, answer = records["tw-203"]
    assert output.spans == [distil.Span(start=17, end=23, label="corporation")]
    assert (source, annotator, answer) == ("teacher:rules/6#rules=9c1d2e", None, None)


def test_utf16_offsets_of_an_old_label_studio_are_converted_to_code_points():
    records = summary(reader().import_(FIXTURES / "labelstudio_ner_export.json"))
    assert records["tw-202"][0].spans[0] == distil.Span(start=3, end=15, label="person")


def test_offsets_that_fit_neither_way_name_the_task(tmp_path):
    task = {
        "id": 9,
        "data": {"text": "🎉 Dua Lipa in Leeds"},
        "annotations": [
            {
                "completed_by": 1,
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "text",
                        "type": "labels",
                        "value": {"start": 11, "end": 16, "text": "Leeds", "labels": ["LOC"]},
                    }
                ],
            }
        ],
    }
    path = tmp_path / "shifted.json"
    path.write_text(json.dumps([task], ensure_ascii=False), encoding="utf-8")
    with pytest.raises(distil.DataError, match=r"task 0 \(id 9\): span 11-16 is 'in Le'"):
        reader().import_(path)


def test_json_min_multiple_choices_and_an_empty_annotation(tmp_path):
    rows = [
        {
            "text": "love it 😍 but the price 😬",
            "id": 1,
            "emotion": {"choices": ["love", "nervousness"]},
            "annotator": "kim@example.org",
            "annotation_id": 4,
            "updated_at": "2025-11-05T10:00:00Z",
        },
        {
            "text": "ok.",
            "id": 2,
            "annotator": 3,
            "annotation_id": 5,
            "updated_at": "2025-11-05T10:01:00Z",
        },
    ]
    path = tmp_path / "min.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    records = summary(reader(from_name="emotion").import_(path))
    assert records["1"][0].labels == ["love", "nervousness"]
    assert records["1"][2] == "kim@example.org"
    assert records["2"][0] == distil.Categories(labels=[])  # submitted with nothing chosen


def test_a_gold_label_exported_without_a_model_comes_back_without_a_source(tmp_path):
    example = distil.Example(id="g-1", text="Where is my card? 📭")
    ls = reader()
    ls.export([(example, distil.Categories(labels=["card_arrival"]))], tmp_path / "gold.json")
    [task] = json.loads((tmp_path / "gold.json").read_text(encoding="utf-8"))
    assert "model_version" not in task["predictions"][0]
    [record] = ls.import_(tmp_path / "gold.json")
    assert (record.example.id, record.source) == ("g-1", None)
