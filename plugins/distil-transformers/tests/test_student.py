"""Registration, import cost, config errors, BIO alignment and decoding, and the save format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import distil
from distil.plugins import PluginHost
from distil.testing.students import assert_no_pickles, gold_pairs
from distil_transformers import EncoderConfig, TransformersNer, TransformersTextcat
from distil_transformers.config import default_model_path
from distil_transformers.ner import bio_tags, decode, word_tags
from distil_transformers.plugin import make_ner, make_textcat


# -- plugin surface ------------------------------------------------------------------------------
def test_the_plugin_registers_both_students_and_config_keys_reach_them():
    host = PluginHost(
        entry_points=False, modules=[("transformers", "distil_transformers.plugin")], strict=True
    )
    assert host.get("students", "transformers.textcat.v1").plugin == "transformers"
    assert host.get("students", "transformers.ner.v1").plugin == "transformers"
    textcat = host.create("students", "transformers.textcat.v1", epochs=1, lr=1e-4)
    assert isinstance(textcat, TransformersTextcat)
    assert textcat.config == EncoderConfig(epochs=1, lr=1e-4)
    ner = host.create("students", "transformers.ner.v1", max_length=64, seed=3)
    assert isinstance(ner, TransformersNer)
    assert ner.config == EncoderConfig(max_length=64, seed=3)


def test_the_entry_point_names_the_plugin_module():
    from importlib import metadata

    eps = {ep.name: ep.value for ep in metadata.entry_points(group="distil")}
    assert eps["transformers"] == "distil_transformers.plugin"


def test_importing_the_plugin_imports_neither_torch_nor_transformers():
    code = (
        "import sys, distil_transformers.plugin\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'torch', 'transformers', 'safetensors', 'tokenizers', 'numpy'})\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_default_model_is_the_packaged_minilm_folder():
    folder = default_model_path()
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert EncoderConfig().resolved_model_path() == folder


def test_bad_config_values_are_reported_together():
    with pytest.raises(distil.ConfigError) as caught:
        make_textcat(epochs=0, lr=-1.0, max_length=4)
    message = str(caught.value)
    assert "epochs must be >= 1, not 0" in message
    assert "lr must be > 0, not -1.0" in message
    assert "max_length must be between 8 and 512, not 4" in message


def test_a_model_path_that_is_not_a_folder_is_a_config_error(tmp_path: Path):
    with pytest.raises(distil.ConfigError, match="is not a folder"):
        make_ner(model_path=str(tmp_path / "missing"))


def test_each_student_refuses_the_other_task_kind_before_loading_a_model():
    pair = (distil.Example(id="a", text="Paris"), distil.Categories(labels=["x"]))
    with pytest.raises(ValueError, match=r"learns \['ner'\] tasks, not 'textcat'"):
        make_ner().fit(distil.TextCat(["x", "y"]), [pair])
    with pytest.raises(ValueError, match=r"learns \['textcat'\] tasks, not 'ner'"):
        make_textcat().fit(distil.NerTask(["LOC"]), [])


# -- BIO over words --------------------------------------------------------------------------------
TAGS = bio_tags(["PER", "LOC"])


def test_bio_tags_are_o_then_b_and_i_per_label():
    assert TAGS == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_gold_spans_become_word_tags_and_mid_word_edges_are_widened():
    # "Ada Lovelace visited New York ." with words by character extent
    words = [(0, 3), (4, 12), (13, 20), (21, 24), (25, 29), (30, 31)]
    spans = [
        distil.Span(start=0, end=12, label="PER"),
        distil.Span(start=22, end=29, label="LOC"),  # starts inside "New"
    ]
    tags, widened = word_tags(words, spans, TAGS)
    assert [TAGS[t] for t in tags] == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]
    assert widened == 1


def test_decoding_joins_b_and_i_words_into_character_spans_with_min_mean_confidence():
    words = [(0, 3), (4, 12), (13, 20), (21, 24), (25, 29)]
    tag_ids = [1, 2, 0, 3, 4]  # B-PER I-PER O B-LOC I-LOC
    probs = [0.9, 0.7, 0.99, 0.6, 0.4]
    spans, confidence = decode(words, tag_ids, probs, TAGS)
    assert spans == [
        distil.Span(start=0, end=12, label="PER"),
        distil.Span(start=21, end=29, label="LOC"),
    ]
    assert confidence == pytest.approx(0.5)  # min(mean(0.9, 0.7), mean(0.6, 0.4))


def test_decoding_is_lenient_and_an_i_tag_without_its_b_starts_an_entity():
    words = [(0, 2), (3, 5), (6, 8)]
    spans, _ = decode(words, [2, 4, 4], [1.0, 1.0, 1.0], TAGS)  # I-PER I-LOC I-LOC
    assert spans == [
        distil.Span(start=0, end=2, label="PER"),
        distil.Span(start=3, end=8, label="LOC"),
    ]


def test_no_predicted_entity_means_confidence_one():
    assert decode([(0, 2)], [0], [0.51], TAGS) == ([], 1.0)


# -- the save format -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ner(shared_data: Path) -> TransformersNer:
    from distil.testing import load_split

    task = distil.NerTask(["PER", "LOC", "ORG", "MISC"])
    student = make_ner(epochs=1, batch_size=8, max_length=32, n_threads=1)
    student.fit(task, gold_pairs(task, load_split("wikigold", "train", limit=16)))
    return student


def test_save_writes_safetensors_config_tokenizer_and_meta_and_no_pickle(
    tiny_ner: TransformersNer, tmp_path: Path
):
    from safetensors import safe_open

    tiny_ner.save(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "meta.json"} <= names
    assert_no_pickles(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as weights:
        keys = set(weights.keys())
        assert weights.metadata() == {"format": "distil-transformers.ner/1"}
    assert {"head.weight", "head.bias"} <= keys
    assert all(k.startswith(("body.", "head.")) for k in keys)
    meta: dict[str, Any] = json.loads((tmp_path / "meta.json").read_text())
    assert meta["format"] == "distil-transformers.ner/1"
    assert meta["task"]["kind"] == "ner" and meta["task"]["labels"] == tiny_ner.task.labels  # type: ignore[union-attr]
    assert meta["tags"][:3] == ["O", "B-PER", "I-PER"]
    assert meta["config"]["max_length"] == 32
    assert meta["versions"]["torch"].startswith("2.13")


def test_load_refuses_a_folder_without_weights_or_of_another_format(
    tiny_ner: TransformersNer, tmp_path: Path
):
    with pytest.raises(FileNotFoundError, match=r"meta\.json is missing"):
        TransformersNer.load(tmp_path)
    tiny_ner.save(tmp_path)
    with pytest.raises(distil.DataError, match=r"is not 'distil-transformers\.textcat/1'"):
        TransformersTextcat.load(tmp_path)
