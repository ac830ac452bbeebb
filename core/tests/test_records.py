"""Records: validation, and the trusted fast path staying equal to the validated one."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from distil.records import Categories, Example, Prediction, Span, Spans


def test_trusted_categories_equal_validated_ones() -> None:
    fast = Categories.trusted(["spam"], {"ham": 0.25, "spam": 0.75})
    slow = Categories(labels=["spam"], scores={"ham": 0.25, "spam": 0.75})
    assert fast == slow
    assert fast.model_dump() == slow.model_dump()
    assert json.loads(fast.model_dump_json()) == json.loads(slow.model_dump_json())
    pred = Prediction(example_id="1", source="student:x", output=fast)
    assert Prediction.model_validate_json(pred.model_dump_json()).output == slow


def test_records_forbid_unknown_fields_and_bad_spans() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Example(id="1", text="x", label="typo")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="before its start"):
        Span(start=5, end=2, label="PER")
    with pytest.raises(ValidationError):
        Example(id="", text="x")


def test_prediction_output_is_discriminated_by_kind() -> None:
    spans = Prediction(
        example_id="1", source="s", output=Spans(spans=[Span(start=0, end=3, label="PER")])
    )
    again = Prediction.model_validate_json(spans.model_dump_json())
    assert isinstance(again.output, Spans) and again.output.spans[0].end == 3
