"""Embeddings are computed once per text: the process-wide cache and the disk folder.

Encoder calls are counted on the real encoders: a forward hook on the MiniLM torch module counts
the rows it encodes, and the static model's tokenizer is the real one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import distil
from distil.testing import load_split
from distil.testing.students import gold_pairs
from distil_embeddings import encoders
from distil_embeddings.cache import EmbeddingCache, cached_encode, text_key
from distil_embeddings.plugin import make_embeddings_textcat


@pytest.fixture(scope="module")
def snips(shared_data: Path) -> list[distil.Example]:
    """Rows no other test of this package encodes, so the first fit here must encode them."""
    return load_split("snips", "train", limit=240)


@pytest.fixture
def encoded_rows():
    """A list that grows by the number of texts in every batch MiniLM's torch module encodes."""
    rows: list[int] = []

    def count(module, args):
        rows.append(int(args[0]["input_ids"].shape[0]))

    handle = encoders.minilm().register_forward_pre_hook(count)
    yield rows
    handle.remove()


def snips_task(examples: list[distil.Example]) -> distil.TextCat:
    return distil.TextCat(sorted({x for e in examples for x in e.labels or []}))


def test_a_second_fit_on_the_same_texts_encodes_nothing_and_an_overlapping_fit_only_new_texts(
    snips, encoded_rows
):
    task = snips_task(snips)
    first, overlapping = snips[:80], snips[40:140]
    make_embeddings_textcat().fit(task, gold_pairs(task, first))
    assert sum(encoded_rows) == len({e.text for e in first})

    encoded_rows.clear()
    report = make_embeddings_textcat(C=2.0).fit(task, gold_pairs(task, first))
    assert encoded_rows == []
    assert report["n_train"] == 80

    encoded_rows.clear()
    make_embeddings_textcat().fit(task, gold_pairs(task, overlapping))
    new = {e.text for e in overlapping} - {e.text for e in first}
    assert sum(encoded_rows) == len(new) == 60


def test_predict_encodes_only_texts_the_cache_does_not_hold_and_each_distinct_text_once(
    snips, encoded_rows
):
    task = snips_task(snips)
    student = make_embeddings_textcat()
    student.fit(task, gold_pairs(task, snips[:80]))
    text = snips[230].text
    examples = [
        distil.Example(id="dup", text=text),
        distil.Example(id="dup", text=text + " 😀"),  # same id, other text
        distil.Example(id="other", text=text),  # other id, same text
        distil.Example(id="seen", text=snips[0].text),
    ]
    encoded_rows.clear()
    predictions = student.predict(examples)
    assert sum(encoded_rows) == 2  # the text and its emoji variant; snips[0] was cached by fit
    assert predictions[0].output.scores == predictions[2].output.scores  # type: ignore[union-attr]
    assert predictions[0].output.scores != predictions[1].output.scores  # type: ignore[union-attr]


def test_vectors_come_back_from_the_disk_cache_without_encoding(
    snips, encoded_rows, tmp_path: Path
):
    task = snips_task(snips)
    texts = [e.text for e in snips[140:200]]
    student = make_embeddings_textcat(cache_dir=str(tmp_path))
    student.fit(task, gold_pairs(task, snips[140:200]))
    shards = list((tmp_path / encoders.minilm_key()).glob("*.safetensors"))
    assert len(shards) == 1
    expected = student.encode(texts)

    # A process that has never seen these texts: an empty memory cache over the same folder.
    encoded_rows.clear()
    calls: list[int] = []

    def encode(missing: list[str]) -> np.ndarray:
        calls.append(len(missing))
        return encoders.encode_minilm(missing, 32, 1)

    fresh = EmbeddingCache()
    vectors = cached_encode(encoders.minilm_key(), texts, encode, tmp_path, memory=fresh)
    assert calls == [] and encoded_rows == []
    assert np.array_equal(vectors, expected)
    assert len(fresh) == len(set(texts))


def test_the_cache_is_bounded_and_evicts_the_least_recently_used_vector(static_model):
    bag = encoders.bag_encoder(static_model)
    calls: list[list[str]] = []

    def encode(missing: list[str]) -> np.ndarray:
        calls.append(list(missing))
        return bag.encode(missing)

    cache = EmbeddingCache(max_vectors=3)
    texts = ["card declined", "top up failed", "where is my card", "exchange rate?"]
    cached_encode("static-test", texts[:3], encode, memory=cache)
    cached_encode("static-test", texts[:1], encode, memory=cache)  # "card declined" used again
    cached_encode("static-test", texts[3:], encode, memory=cache)  # evicts "top up failed"
    assert len(cache) == 3
    calls.clear()
    cached_encode("static-test", texts, encode, memory=cache)
    assert calls == [["top up failed"]]


def test_vectors_of_different_encoders_never_mix(static_model):
    bag = encoders.bag_encoder(static_model)
    calls: list[str] = []

    def encode(missing: list[str]) -> np.ndarray:
        calls.extend(missing)
        return bag.encode(missing)

    cache = EmbeddingCache()
    cached_encode("encoder-a", ["my card was eaten"], encode, memory=cache)
    cached_encode("encoder-b", ["my card was eaten"], encode, memory=cache)
    assert calls == ["my card was eaten"] * 2
    assert text_key("encoder-a", "x") != text_key("encoder-b", "x")
    assert text_key("a", "card 😀") != text_key("a", "card")
