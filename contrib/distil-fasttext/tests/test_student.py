"""The fastText student: quality on real data, labels fastText cannot spell, multi-label
"none", determinism across many fits, safe loading and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import distil
from distil.testing import load_split
from distil.testing.students import gold_pairs, multilabel_examples
from distil_fasttext import FastTextStudent
from distil_fasttext.plugin import make_textcat

SPAM = distil.TextCat(["ham", "spam"])


def test_it_learns_sms_spam_well_from_two_thousand_rows(shared_data):
    train = gold_pairs(SPAM, load_split("sms_spam", "train", limit=2000))
    test = load_split("sms_spam", "test")
    student = make_textcat()
    report = student.fit(SPAM, train)
    predicted = [p.output.labels[0] for p in student.predict([e.without_answer() for e in test])]
    gold = [e.labels[0] for e in test]
    tp = sum(p == g == "spam" for p, g in zip(predicted, gold, strict=True))
    f1 = 2 * tp / (predicted.count("spam") + gold.count("spam"))
    # Measured: spam-F1 0.945, accuracy 0.987, about 32k docs/s predicting on one core.
    assert f1 >= 0.9, f1
    assert report["n_train"] == 2000 and report["vocabulary"] > 1000


def test_labels_with_spaces_and_fasttext_prefixes_are_kept_exactly():
    task = distil.TextCat(["card payment", "__label__x", "ünïcode"])
    words = {"card payment": "card", "__label__x": "prefix", "ünïcode": "accent"}
    train = [
        (
            distil.Example(id=f"{n}", text=f"{words[label]} text {n}"),
            distil.Categories(labels=[label]),
        )
        for n in range(30)
        for label in task.labels
    ]
    student = make_textcat()
    student.fit(task, train)
    inputs = [distil.Example(id=label, text=f"{words[label]} again") for label in task.labels]
    assert [p.output.labels for p in student.predict(inputs)] == [[x] for x in task.labels]


def test_multilabel_examples_without_labels_teach_none(tmp_path: Path):
    task = distil.TextCat(["billing", "bug", "praise"], multilabel=True)
    train = gold_pairs(task, multilabel_examples(300, seed=1))
    test = multilabel_examples(100, seed=2)
    student = make_textcat()
    student.fit(task, train)
    predicted = student.predict([e.without_answer() for e in test])
    empty = [p for p, e in zip(predicted, test, strict=True) if not e.labels]
    assert len(empty) >= 10
    assert sum(not p.output.labels for p in empty) / len(empty) >= 0.8
    assert all(set(p.output.scores) == set(task.labels) for p in predicted)  # no hidden label
    # Confidence is the toolkit's rule, as for every student: the weakest "yes", else the weakest
    # "no" (it used to be a rescaled distance from the threshold).
    for p in predicted:
        scores = [p.output.scores[label] for label in task.labels]
        if p.output.labels:
            assert p.confidence == min(p.output.scores[label] for label in p.output.labels)
        else:
            assert p.confidence == pytest.approx(1.0 - max(scores))


def test_many_fits_in_one_process_give_the_same_model(shared_data):
    # fastText drifts from the fourth in-process fit on: each fit runs in a fresh interpreter.
    train = gold_pairs(SPAM, load_split("sms_spam", "train", limit=150))
    inputs = [e.without_answer() for e in load_split("sms_spam", "test", limit=50)]
    runs = []
    for _ in range(5):
        student = make_textcat(epoch=5)
        student.fit(SPAM, train)
        runs.append([p.output.scores for p in student.predict(inputs)])
    assert all(run == runs[0] for run in runs)


def test_save_writes_fasttexts_format_and_readable_meta(shared_data, tmp_path: Path):
    student = make_textcat(epoch=5, dim=8)
    student.fit(SPAM, gold_pairs(SPAM, load_split("sms_spam", "train", limit=100)))
    student.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["meta.json", "model.fasttext"]
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["format"] == "distil-fasttext.textcat/1"
    assert meta["task"] == SPAM.describe()
    assert meta["config"]["dim"] == 8
    assert FastTextStudent.load(tmp_path / "model").config.dim == 8


def test_a_model_saved_before_meta_json_named_the_task_kind_still_loads(tmp_path: Path):
    student = make_textcat(dim=8)
    student.fit(SPAM, gold_pairs(SPAM, load_split("sms_spam", "train", limit=100)))
    student.save(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["task"] = {"labels": ["ham", "spam"], "multilabel": False}  # the old file's task
    del meta["student"]
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    loaded = FastTextStudent.load(tmp_path)
    assert loaded.task is not None and loaded.task.describe() == SPAM.describe()
    texts = [
        distil.Example(id="a", text="WINNER!! claim your prize now"),
        distil.Example(id="b", text="see you at lunch tomorrow? 🙂"),
    ]
    assert [p.output for p in loaded.predict(texts)] == [p.output for p in student.predict(texts)]


def test_loading_a_folder_that_is_not_a_saved_student_says_so(tmp_path: Path):
    with pytest.raises(distil.DataError, match=r"meta\.json is missing.*fasttext\.textcat"):
        FastTextStudent.load(tmp_path)
    (tmp_path / "model.fasttext").write_bytes(b"")
    (tmp_path / "meta.json").write_text('{"format": "distil-sklearn.textcat/1"}')
    with pytest.raises(distil.DataError, match="not written by this version"):
        FastTextStudent.load(tmp_path)


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (distil.Categories(labels=["eggs"]), r"label\(s\) \['eggs'\] are not in the task"),
        (distil.Categories(labels=["ham", "spam"]), "an exclusive task needs one label"),
        (distil.Spans(spans=[]), "learns Categories, got Spans"),
    ],
)
def test_a_bad_training_pair_is_an_error_naming_the_example(output, reason):
    train = [(distil.Example(id="a", text="hi"), distil.Categories(labels=["ham"]))]
    train.append((distil.Example(id="bad-one", text="x"), output))
    with pytest.raises(distil.DataError, match=rf"training pair 1 \(example 'bad-one'\).*{reason}"):
        make_textcat().fit(SPAM, train)


def test_bad_settings_are_config_errors_naming_the_key():
    with pytest.raises(distil.ConfigError, match=r"student\.threshold"):
        make_textcat(threshold=1.5)
    with pytest.raises(distil.ConfigError, match=r"student\.epoch"):
        make_textcat(epoch=0)


def test_predicting_before_fitting_says_what_to_do():
    with pytest.raises(distil.NotFittedError, match=r"call fit\(\) or load\(\)"):
        make_textcat().predict([distil.Example(id="a", text="hi")])


def test_a_config_block_builds_the_student_and_rejects_unknown_keys(tmp_path: Path):
    from distil.config import load_config

    base = (
        '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n'
        '[teacher]\n@teachers = "local.zeroshot.v1"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "test.jsonl"\n\n'
        '[student]\n@students = "fasttext.textcat.v1"\nepoch = 7\n'
    )
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(base)
    student = load_config(cfg).student
    assert isinstance(student, FastTextStudent) and student.config.epoch == 7
    cfg.write_text(base + "epochs = 3\n")
    with pytest.raises(distil.ConfigError, match=r"student.*epochs"):
        load_config(cfg)


def test_importing_the_plugin_does_not_import_fasttext():
    code = "import sys, distil_fasttext.plugin; print('fasttext' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_entry_point_loads_through_the_plugin_host():
    host = distil.PluginHost(allow={"fasttext"}, strict=True)
    assert host.plugins["fasttext"].status == "loaded"
    assert host.plugins["fasttext"].distribution == "distil-contrib-fasttext"
    assert host.get("students", "fasttext.textcat.v1").plugin == "fasttext"
    assert isinstance(host.create("students", "fasttext.textcat.v1"), FastTextStudent)
