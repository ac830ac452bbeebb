"""Each format's shape on disk, foreign files in each tool's documented shape, and bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import distil
from distil_exporters import training_records


def exporter(name: str, **kwargs):
    return distil.get_host().create("exporters", name, **kwargs)


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_importing_the_plugin_loads_no_format_module_and_no_pyarrow():
    code = (
        "import sys, distil_exporters.plugin\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] == 'pyarrow'"
        " or m in ('distil_exporters.prodigy', 'distil_exporters.hf', 'distil_exporters.conll')]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_prodigy_binary_choice_and_ner_tasks_have_prodigys_keys(records, tmp_path):
    spam, emotions, ner = records("sms_spam"), records("goemotions"), records("wikigold")
    exporter("prodigy.jsonl.v1").export(spam[:3], tmp_path / "binary.jsonl")
    exporter("prodigy.jsonl.v1").export(emotions, tmp_path / "choice.jsonl")
    exporter("prodigy.jsonl.v1").export(ner[:3], tmp_path / "ner.jsonl")

    binary = lines(tmp_path / "binary.jsonl")[1]
    assert binary["label"] == spam[1].output.labels[0] and binary["answer"] == "accept"
    assert binary["_view_id"] == "classification"
    assert binary["meta"] == {
        "id": spam[1].example.id,
        "source": "teacher:openai.chat/gpt-4o-mini#prompt=3f2a9c1e",
        "prompt": "3f2a9c1e",
        "score": spam[1].confidence,
    }
    choice = lines(tmp_path / "choice.jsonl")
    multi = next(n for n, r in enumerate(emotions) if len(r.output.labels) > 1)
    assert choice[multi]["accept"] == emotions[multi].output.labels
    assert {o["id"] for o in choice[multi]["options"]} >= set(emotions[multi].output.labels)
    assert choice[multi]["_view_id"] == "choice"
    task = lines(tmp_path / "ner.jsonl")[0]
    assert task["_view_id"] == "ner_manual"
    assert " ".join(t["text"] for t in task["tokens"]) == task["text"]
    first = task["spans"][0]
    assert (
        task["text"][first["start"] : first["end"]] == task["tokens"][first["token_start"]]["text"]
    )
    for key in ("_input_hash", "_task_hash"):
        assert isinstance(task[key], int) and -(2**31) <= task[key] < 2**31


def test_prodigy_hashes_are_stable_and_input_hash_ignores_the_label(tmp_path):
    example = distil.Example(id="a", text="free entry now")
    ham, spam = distil.Categories(labels=["ham"]), distil.Categories(labels=["spam"])
    exporter("prodigy.jsonl.v1").export([(example, ham), (example, spam)], tmp_path / "1.jsonl")
    exporter("prodigy.jsonl.v1").export([(example, ham)], tmp_path / "2.jsonl")
    one, two = lines(tmp_path / "1.jsonl"), lines(tmp_path / "2.jsonl")
    assert one[0]["_input_hash"] == one[1]["_input_hash"] == two[0]["_input_hash"]
    assert one[0]["_task_hash"] == two[0]["_task_hash"] != one[1]["_task_hash"]


def test_prodigy_import_reads_prodigy_written_tasks(tmp_path):
    rows = [
        {"text": "win a prize", "label": "spam", "answer": "reject", "_annotator_id": "ds-bob"},
        {
            "text": "so happy",
            "options": [{"id": 1, "text": "joy"}, {"id": 2, "text": "love"}],
            "accept": [1, 2],
            "answer": "accept",
            "_view_id": "choice",
        },
        {
            "text": "Ada Lovelace wrote",
            "spans": [{"start": 0, "end": 12, "label": "PER"}],
            "answer": "ignore",
        },
    ]
    path = tmp_path / "db-out.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    reject, choice, ner = exporter("prodigy.jsonl.v1").import_(path)
    assert (reject.output.labels, reject.answer, reject.annotator) == (["spam"], "reject", "ds-bob")
    assert choice.output.labels == ["1", "2"]
    assert ner.output.spans == [distil.Span(start=0, end=12, label="PER")]
    assert ner.answer == "ignore" and ner.example.id == "db-out-3"


# Label Studio's JSON export (Export > JSON), trimmed to the documented keys.
LABEL_STUDIO_EXPORT = [
    {
        "id": 71,
        "data": {"text": "The delivery was late again"},
        "annotations": [
            {
                "id": 501,
                "completed_by": 3,
                "result": [
                    {
                        "value": {"choices": ["Neutral"]},
                        "id": "k1",
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                        "origin": "manual",
                    }
                ],
                "was_cancelled": False,
                "ground_truth": False,
                "created_at": "2024-05-02T09:14:11.000000Z",
                "updated_at": "2024-05-02T09:14:11.000000Z",
                "lead_time": 4.1,
            },
            {
                "id": 502,
                "completed_by": 4,
                "result": [
                    {
                        "value": {"choices": ["Negative"]},
                        "id": "k2",
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                        "origin": "prediction-changed",
                    }
                ],
                "was_cancelled": False,
                "ground_truth": False,
                "created_at": "2024-05-03T10:00:00.000000Z",
                "updated_at": "2024-05-03T10:00:00.000000Z",
                "lead_time": 2.0,
            },
            {
                "id": 503,
                "completed_by": 5,
                "result": [],
                "was_cancelled": True,
                "created_at": "2024-05-04T10:00:00.000000Z",
                "updated_at": "2024-05-04T10:00:00.000000Z",
            },
        ],
        "predictions": [
            {
                "id": 9,
                "model_version": "teacher:x#prompt=1",
                "score": 0.4,
                "result": [
                    {
                        "value": {"choices": ["Positive"]},
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                    }
                ],
            }
        ],
        "meta": {},
        "created_at": "2024-05-01T08:00:00.000000Z",
        "updated_at": "2024-05-04T10:00:00.000000Z",
        "inner_id": 1,
        "total_annotations": 2,
        "cancelled_annotations": 1,
        "total_predictions": 1,
        "project": 2,
    },
    {
        "id": 72,
        "data": {"text": "Only the teacher saw this one"},
        "annotations": [],
        "predictions": [
            {
                "model_version": "teacher:x#prompt=1",
                "score": 0.9,
                "result": [
                    {
                        "value": {"choices": ["Positive"]},
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                    }
                ],
            }
        ],
    },
    {"id": 73, "data": {"text": "Nobody looked at this"}, "annotations": [], "predictions": []},
]


def test_label_studio_export_uses_the_latest_live_annotation_else_the_prediction(tmp_path):
    path = tmp_path / "project-2-at-2024.json"
    path.write_text(json.dumps(LABEL_STUDIO_EXPORT), encoding="utf-8")
    ls = exporter("labelstudio.json.v1")
    human, teacher = ls.import_(path)
    assert (human.example.id, human.output.labels) == ("71", ["Negative"])
    assert (human.source, human.annotator, human.answer) == ("human:4", "4", "correct")
    assert (teacher.output.labels, teacher.source, teacher.confidence) == (
        ["Positive"],
        "teacher:x#prompt=1",
        0.9,
    )
    assert ls.report["skipped_unlabelled"] == 1


def test_label_studio_span_annotations_import_as_spans(tmp_path):
    task = {
        "id": 5,
        "data": {"text": "Barack Obama visited Paris"},
        "annotations": [
            {
                "completed_by": {"id": 1, "email": "ann@example.org"},
                "result": [
                    {
                        "value": {"start": 21, "end": 26, "text": "Paris", "labels": ["LOC"]},
                        "from_name": "label",
                        "to_name": "text",
                        "type": "labels",
                    },
                    {
                        "value": {"start": 0, "end": 12, "text": "Barack Obama", "labels": ["PER"]},
                        "from_name": "label",
                        "to_name": "text",
                        "type": "labels",
                    },
                ],
            }
        ],
    }
    path = tmp_path / "ner.json"
    path.write_text(json.dumps([task]), encoding="utf-8")
    [record] = exporter("labelstudio.json.v1").import_(path)
    assert record.output.spans == [
        distil.Span(start=0, end=12, label="PER"),
        distil.Span(start=21, end=26, label="LOC"),
    ]
    assert record.annotator == "ann@example.org"


def test_label_studio_pre_annotations_carry_source_score_and_span_text(records, tmp_path):
    ner = records("wikigold")[1]
    exporter("labelstudio.json.v1").export([ner], tmp_path / "tasks.json")
    [task] = json.loads((tmp_path / "tasks.json").read_text())
    [prediction] = task["predictions"]
    assert prediction["model_version"] == ner.source and prediction["score"] == ner.confidence
    first = prediction["result"][0]
    assert (first["from_name"], first["to_name"], first["type"]) == ("label", "text", "labels")
    assert (
        first["value"]["text"] == ner.example.text[first["value"]["start"] : first["value"]["end"]]
    )


def test_doccano_writes_both_shapes_and_reads_its_newer_entities_export(records, tmp_path):
    exporter("doccano.jsonl.v1").export(records("goemotions")[:2], tmp_path / "cats.jsonl")
    exporter("doccano.jsonl.v1").export(records("wikigold")[:1], tmp_path / "spans.jsonl")
    assert lines(tmp_path / "cats.jsonl")[0]["label"] == records("goemotions")[0].output.labels
    assert lines(tmp_path / "spans.jsonl")[0]["label"][0] == [0, 3, "MISC"]
    newer = {
        "id": 9,
        "text": "Ada Lovelace",
        "entities": [{"id": 1, "label": "PER", "start_offset": 0, "end_offset": 12}],
        "relations": [],
    }
    (tmp_path / "newer.jsonl").write_text(json.dumps(newer) + "\n", encoding="utf-8")
    [record] = exporter("doccano.jsonl.v1").import_(tmp_path / "newer.jsonl")
    assert record.example.id == "9"
    assert record.output.spans == [distil.Span(start=0, end=12, label="PER")]


def test_conll_on_wikigold_gives_back_the_exact_character_offsets(records, tmp_path):
    original = records("wikigold")
    conll = exporter("conll.iob.v1", ids=False)
    report = conll.export(original, tmp_path / "wikigold.conll")
    assert report["spans_misaligned"] == report["texts_respaced"] == 0
    text = (tmp_path / "wikigold.conll").read_text(encoding="utf-8")
    assert "-DOCSTART-" not in text and text.startswith("010 B-MISC\nis O\n")
    back = conll.import_(tmp_path / "wikigold.conll")
    assert [r.example.text for r in back] == [r.example.text for r in original]
    assert [r.output.spans for r in back] == [r.output.spans for r in original]


def test_conll_widens_misaligned_spans_and_respaces_other_texts(tmp_path):
    example = distil.Example(id="x", text="Visit  New York,\tnow")
    spans = distil.Spans(spans=[distil.Span(start=7, end=15, label="LOC")])  # "New York" in "York,"
    conll = exporter("conll.iob.v1")
    report = conll.export([(example, spans)], tmp_path / "x.conll")
    assert (report["spans_misaligned"], report["texts_respaced"]) == (1, 1)
    [back] = conll.import_(tmp_path / "x.conll")
    assert back.example.text == "Visit New York, now"
    assert back.output.spans == [distil.Span(start=6, end=15, label="LOC")]


def test_conll_refuses_text_classification_records(records, tmp_path):
    with pytest.raises(distil.DataError, match="span"):
        exporter("conll.iob.v1").export(records("sms_spam")[:1], tmp_path / "x.conll")


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("prodigy.jsonl.v1", '{"text": "a", "label": "x"}\n{"text": "b", "label"\n', 2),
        ("doccano.jsonl.v1", '{"text": "a", "label": []}\n\n[1, 2]\n', 3),
        (
            "hf.datasets.v1",
            '{"id": "a", "text": "a", "labels": ["x"]}\n{"id": "b", "text": 5, "labels": []}\n',
            2,
        ),
        ("conll.iob.v1", "Ada B-PER\nwrote O\n\nLovelace\n", 4),
        ("conll.iob.v1", "Ada B-PER\nwrote X-PER\n", 2),
        ("labelstudio.json.v1", '[\n {"data": {"text": "a"}},\n {"data": \n', 4),
    ],
)
def test_a_malformed_line_names_the_file_and_line(name, content, line, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(distil.DataError, match=rf"bad\.txt:{line}: "):
        exporter(name).import_(path)


def test_parquet_without_pyarrow_says_which_extra_to_install(records, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"distil-exporters\[parquet\]"):
        exporter("hf.datasets.v1").export(records("sms_spam")[:2], tmp_path / "train.parquet")


def test_parquet_round_trip(records, tmp_path):
    pytest.importorskip("pyarrow")
    original = records("wnut17")
    hf = exporter("hf.datasets.v1")
    hf.export(original, tmp_path / "train.parquet")
    back = hf.import_(tmp_path / "train.parquet")
    assert [(r.example, r.output, r.source) for r in back] == [
        (r.example, r.output, r.source) for r in original
    ]


def test_training_records_follow_the_train_stages_rule(tmp_path):
    from distil.train import merge_labels  # the rule these records must match

    store = distil.Store(tmp_path / "p.db")
    examples = [distil.Example(id=f"e{n}", text=f"text {n}") for n in range(5)]
    store.add_examples(examples, "train")
    teacher = "teacher:t#prompt=ab"
    store.add_predictions(
        distil.Prediction(
            example_id=e.id,
            source=teacher,
            confidence=0.7,
            output=distil.Categories(labels=["ham"]),
        )
        for e in examples[:4]
    )
    spam = distil.Categories(labels=["spam"])
    store.add_annotations(
        [
            distil.Annotation(
                example_id="e0", annotator="bo", answer="correct", output=spam, pass_name="spam"
            ),
            distil.Annotation(
                example_id="e1",
                annotator="bo",
                answer="reject",
                output=distil.Categories(labels=["ham"]),
                suggestion_source=teacher,
            ),
            distil.Annotation(
                example_id="e2",
                annotator="bo",
                answer="accept",
                output=distil.Categories(labels=["ham"]),
                suggestion_source=teacher,
            ),
            # bo corrected e3 to spam, then undid it: the teacher's label counts again
            distil.Annotation(example_id="e3", annotator="bo", answer="correct", output=spam),
        ]
    )
    from distil.annotate.resolve import undo_event

    store.add_annotation(undo_event("e3", "bo"))
    task = distil.TextCat(["ham", "spam"])
    got = training_records(store, "train", teacher)
    assert [(r.example, r.output) for r in got] == merge_labels(store, task, "train", teacher).pairs
    assert [(r.example.id, r.source, r.annotator) for r in got] == [
        ("e0", "human:bo#pass=spam", "bo"),
        ("e2", teacher, "bo"),
        ("e3", teacher, None),
    ]
    rejected = training_records(store, "train", teacher, include_rejected=True)
    assert [(r.example.id, r.answer) for r in rejected][:2] == [("e0", "correct"), ("e1", "reject")]
    store.close()


def test_the_docs_example_exports_the_stores_training_data(records, tmp_path, monkeypatch):
    docs = Path(__file__).resolve().parents[3] / "docs" / "exporters.md"
    [snippet] = re.findall(
        r"```python(?: no-run)?\n(.*?)```", docs.read_text(encoding="utf-8"), re.DOTALL
    )
    teacher_records = [r for r in records("sms_spam")[:30] if r.source.startswith("teacher:")]
    store = distil.Store(tmp_path / "distil.db")
    store.add_examples([r.example for r in teacher_records], "train")
    store.add_predictions(
        distil.Prediction(example_id=r.example.id, source=r.source, output=r.output)
        for r in teacher_records
    )
    store.close()
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, str(docs), "exec"), {})
    back = exporter("labelstudio.json.v1").import_(tmp_path / "export/train.labelstudio.json")
    assert [(r.example.id, r.output, r.source) for r in back] == [
        (r.example.id, r.output, r.source) for r in teacher_records
    ]
