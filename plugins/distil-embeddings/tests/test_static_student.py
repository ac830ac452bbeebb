"""StaticTextcat (``static.textcat.v1``): the distilled model, its fast encoder, its save format, and
the head both students share (confidence semantics, probabilities).

The static model is distilled at most once per machine (see conftest.py); every test here reuses it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import distil
from distil.testing import load_split
from distil.testing.students import assert_same_predictions, gold_pairs
from distil_embeddings import StaticTextcat, encoders
from distil_embeddings.head import HEAD_FILE
from distil_embeddings.plugin import make_static_textcat
from distil_embeddings.static import STATIC_DIR, STATIC_WEIGHTS
from distil_embeddings.student import META_FILE


def inputs(examples: list[distil.Example]) -> list[distil.Example]:
    return [e.without_answer() for e in examples]


#: Texts that must leave the fast path (or test its edges): emoji, accents, control characters,
#: special tokens, a word past WordPiece's 100 characters, a text past 512 tokens, underscores.
EDGE_TEXTS = [
    "",
    "   ",
    "I love it 😀😀",
    "naïve café déjà vu",
    "tab\there\nnew line\r\n",
    "form\x0cfeed and \x0bvertical tab",
    "[UNK] and [PAD] are special, [NAME] is not",
    "x" * 150,
    "hello_world foo-bar $5.00 #1!! (ok) {a|b} ~`^",
    " ".join(["card"] * 600),
    "CAPS Mixed cAsE 123abc abc123",
]


@pytest.fixture(scope="module")
def banking_task(banking77, task_for) -> distil.TextCat:
    return task_for(banking77["train"], banking77["test"])


@pytest.fixture(scope="module")
def fitted(banking77, banking_task, static_model) -> StaticTextcat:
    student = make_static_textcat(tfidf=True)
    student.fit(banking_task, gold_pairs(banking_task, banking77["train"]))
    return student


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("static") / "model"
    fitted.save(folder)
    return folder


# -- the fast encoder ----------------------------------------------------------------------------
def test_the_bag_encoder_gives_model2vec_token_ids_on_real_and_edge_case_texts(static_model):
    bag = encoders.bag_encoder(static_model)
    texts = list(EDGE_TEXTS)
    for dataset in ("banking77", "goemotions", "sms_spam", "snips"):
        texts += [e.text for e in load_split(dataset, "test")]
    expected = static_model.tokenize(texts)
    assert [bag.token_ids(t) for t in texts] == expected
    fast = sum(bag._fast_ids(t) is not None for t in texts)
    assert fast > 0.9 * len(texts)  # most real text takes the fast path


def test_bag_vectors_are_model2vecs_normalised_means(static_model):
    bag = encoders.bag_encoder(static_model)
    texts = EDGE_TEXTS + [e.text for e in load_split("goemotions", "dev", limit=300)]
    ours = bag.encode(texts)
    theirs = static_model.encode(texts, use_multiprocessing=False).astype(np.float32)
    assert ours.shape == theirs.shape == (len(texts), 256)
    assert np.abs(ours - theirs).max() < 2e-3  # model2vec rounds means to float16
    # Unit length; the zero vector for a text with no known token ("", spaces, a 150-letter word).
    known = np.array([bool(bag.token_ids(t)) for t in texts], dtype=np.float32)
    assert known[:2].tolist() == [0.0, 0.0] and known[7] == 0.0 and known[2:7].all()
    assert np.allclose(np.linalg.norm(ours, axis=1), known, atol=1e-5)


# -- quality and the head ------------------------------------------------------------------------
def test_on_2000_banking77_rows_the_tfidf_hybrid_reaches_macro_f1_above_0_82(
    banking77, fitted, score_macro_f1
):
    test = banking77["test"]
    # measured 0.854 (0.833 without TF-IDF; sklearn.textcat.v1: 0.766)
    assert score_macro_f1(test, fitted.predict(inputs(test))) > 0.82


def test_head_probabilities_equal_scikit_learns_predict_proba(banking77, fitted, banking_task):
    texts = [e.text for e in banking77["test"][:100]]
    head = fitted._head
    assert head is not None
    vectors = fitted.encode(texts)
    ours = head.probabilities(texts, vectors)
    sklearn_proba = head.classifier.predict_proba(head.features(texts, vectors))
    expected = np.zeros_like(ours)
    expected[:, head.columns] = sklearn_proba
    assert np.abs(ours - expected).max() < 1e-9


def test_multilabel_confidence_is_the_weakest_yes_or_the_weakest_no(static_model):
    task = distil.TextCat(["billing", "bug", "unused"], multilabel=True)

    def pair(n: int, text: str, *labels: str) -> distil.TrainPair:
        return distil.Example(id=f"x{n}", text=text), distil.Categories(labels=list(labels))

    train = [
        pair(1, "refund my invoice please", "billing"),
        pair(2, "the app crashes with an error", "bug"),
        pair(3, "refund after the crash error", "billing", "bug"),
        pair(4, "good morning to you"),
    ] * 5
    student = make_static_textcat(C=50.0, tfidf=True)
    report = student.fit(task, train)
    assert report["labels_unseen"] == ["unused"]
    predictions = student.predict([e for e, _ in train[:4]])
    assert [p.output.labels for p in predictions] == [  # type: ignore[union-attr]
        ["billing"],
        ["bug"],
        ["billing", "bug"],
        [],
    ]
    for prediction in predictions:
        scores = prediction.output.scores  # type: ignore[union-attr]
        chosen = prediction.output.labels  # type: ignore[union-attr]
        assert scores["unused"] == 0.0
        if chosen:
            assert prediction.confidence == min(scores[x] for x in chosen)
        else:
            assert prediction.confidence == 1.0 - max(scores.values())


def test_thresholds_are_tuned_on_dev_and_survive_save(static_model, tmp_path: Path, task_for):
    train = load_split("goemotions", "train", limit=1500)
    dev = load_split("goemotions", "dev")
    test = inputs(load_split("goemotions", "test", limit=200))
    task = task_for(train, dev, multilabel=True)
    student = make_static_textcat()
    report = student.fit(task, gold_pairs(task, train), gold_pairs(task, dev))
    assert report["thresholds"].startswith("tuned on dev")
    assert report["n_dev"] == 500 and 0.0 < report["dev_micro_f1"] < 1.0
    assert student._head is not None and len(set(student._head.thresholds)) > 1
    before = student.predict(test)
    student.save(tmp_path / "model")
    loaded = StaticTextcat.load(tmp_path / "model")
    assert loaded._head is not None and loaded._head.thresholds == student._head.thresholds
    assert_same_predictions(before, loaded.predict(test), tolerance=1e-12)


def test_a_label_without_training_examples_is_never_predicted_and_scores_zero(static_model):
    train = load_split("sms_spam", "train", limit=200)
    task = distil.TextCat(["ham", "spam", "phishing"])
    student = make_static_textcat()
    report = student.fit(task, gold_pairs(task, train))
    assert report["labels_unseen"] == ["phishing"] and report["n_labels"] == 2
    for prediction in student.predict(inputs(train[:50])):
        assert prediction.output.labels != ["phishing"]  # type: ignore[union-attr]
        assert prediction.output.scores["phishing"] == 0.0  # type: ignore[union-attr]


# -- the save format -----------------------------------------------------------------------------
def test_save_holds_the_static_model_itself_in_model2vec_format(fitted, saved):
    assert sorted(p.name for p in saved.iterdir()) == [HEAD_FILE, META_FILE, STATIC_DIR]
    assert (saved / STATIC_DIR / STATIC_WEIGHTS).is_file()
    assert (saved / STATIC_DIR / "tokenizer.json").is_file()
    meta = json.loads((saved / META_FILE).read_text())
    assert meta["encoder"]["sha256"] == encoders.file_sha256(saved / STATIC_DIR / STATIC_WEIGHTS)
    assert meta["encoder"]["source_sha256"] == encoders.minilm_sha256()
    assert meta["encoder"]["pca_dims"] == 256 and meta["encoder"]["dim"] == 256


def test_a_saved_student_loads_in_a_new_process_without_distilling(
    banking77, fitted, saved, tmp_path: Path
):
    empty_cache = tmp_path / "no-cache"
    empty_cache.mkdir()
    texts = [e.text for e in banking77["test"][:50]]
    code = (
        "import json, sys\n"
        "import distil\n"
        "from distil_embeddings import StaticTextcat\n"
        f"student = StaticTextcat.load({str(saved)!r})\n"
        f"texts = {texts!r}\n"
        "out = student.predict([distil.Example(id=str(i), text=t) for i, t in enumerate(texts)])\n"
        "print(json.dumps({'labels': [p.output.labels for p in out],\n"
        "                  'confidence': [p.confidence for p in out],\n"
        "                  'distilled': 'model2vec.distill' in sys.modules}))\n"
    )
    env = {**os.environ, encoders.ENV_CACHE_DIR: str(empty_cache)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    here = fitted.predict([distil.Example(id=str(i), text=t) for i, t in enumerate(texts)])
    assert out["labels"] == [p.output.labels for p in here]  # type: ignore[union-attr]
    assert out["confidence"] == pytest.approx([p.confidence for p in here], abs=1e-12)
    assert out["distilled"] is False
    assert list(empty_cache.iterdir()) == []


def test_a_new_process_reuses_the_distilled_model_from_the_disk_cache(static_model):
    code = (
        "import sys\n"
        "from distil_embeddings import encoders\n"
        "model, folder = encoders.static_model(256)\n"
        "print(folder, 'model2vec.distill' in sys.modules, model.dim)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    folder, distilled, dim = result.stdout.strip().splitlines()[-1].rsplit(" ", 2)
    assert Path(folder) == encoders.static_folder(256)
    assert (distilled, dim) == ("False", "256")


def test_load_refuses_a_static_model_changed_after_saving(saved, tmp_path: Path):
    folder = tmp_path / "tampered"
    shutil.copytree(saved, folder)
    weights = folder / STATIC_DIR / STATIC_WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one bit pattern of one embedding value
    weights.write_bytes(bytes(data))
    with pytest.raises(distil.DataError, match=r"static model .* was changed after it was saved"):
        StaticTextcat.load(folder)


def test_the_distilled_model_cache_follows_distil_cache_dir(monkeypatch, tmp_path: Path):
    monkeypatch.setenv(encoders.ENV_CACHE_DIR, str(tmp_path))
    sha = encoders.minilm_sha256()
    assert encoders.static_folder(128) == tmp_path / "model2vec" / f"{sha[:16]}-128"


def test_invalid_config_values_are_reported_together():
    with pytest.raises(ValueError, match=r"static\.textcat\.v1: C must be > 0.*pca_dims"):
        make_static_textcat(C=-1.0, pca_dims=1000)
