"""distil.testing.load_split: the shared data sets, or the shipped sample where they are missing."""

from __future__ import annotations

import pytest

from distil.testing import load_split


def test_without_shared_data_sms_spam_comes_from_the_shipped_sample(monkeypatch, tmp_path):
    monkeypatch.setenv("DISTIL_DATA_DIR", str(tmp_path / "missing"))
    train = load_split("sms_spam", "train", limit=400)
    assert len(train) == 280  # the sample has fewer rows than asked for: all of them
    assert {label for ex in train for label in ex.labels} == {"ham", "spam"}
    assert len(load_split("sms_spam", "test")) == 180
    with pytest.raises(FileNotFoundError, match="DISTIL_DATA_DIR"):
        load_split("goemotions", "train")


def test_with_shared_data_the_full_split_is_read(shared_data):
    assert len(load_split("sms_spam", "train", limit=400)) == 400
