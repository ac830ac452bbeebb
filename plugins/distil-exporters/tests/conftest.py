"""Fixtures: real records from the shared data sets, with provenance on some of them."""

from __future__ import annotations

from functools import cache

import pytest

import distil
from distil.testing import load_split
from distil_exporters import ExportRecord

SOURCE = "teacher:openai.chat/gpt-4o-mini#prompt=3f2a9c1e"
ROWS = 200


@cache
def _records(dataset: str) -> tuple[ExportRecord, ...]:
    """The first 200 test rows as records: every third one a human's correction, the rest the
    teacher's answer with a confidence, so provenance of both kinds is exercised."""
    out = []
    for n, example in enumerate(load_split(dataset, "test", limit=ROWS)):
        output = distil.output_from_example(example)
        assert output is not None
        bare = example.without_answer()
        if n % 3 == 0:
            record = ExportRecord(
                bare,
                output,
                source="human:alice#pass=review",
                annotator="alice",
                answer="accept",
                pass_name="review",
            )
        else:
            record = ExportRecord(bare, output, source=SOURCE, confidence=round(0.5 + n / 1000, 3))
        out.append(record)
    return tuple(out)


@pytest.fixture
def teacher_source() -> str:
    return SOURCE


@pytest.fixture
def records(shared_data):
    """``records("sms_spam")``: 200 records of that data set's test split."""
    return lambda dataset: list(_records(dataset))
