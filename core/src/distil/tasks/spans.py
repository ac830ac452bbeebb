"""Span tasks (``ner``: non-overlapping entities; ``spans``: overlapping spans allowed).

The types and validation are defined here so that records, the store and exporters can carry spans;
the prompt, the alignment of the LLM's entity strings to offsets and span-exact scoring come with the
NER issue. Until then ``from_answer`` and ``score`` raise a clear NotImplementedError.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from ..errors import ParseError
from ..records import Example, Spans, TaskOutput
from .base import Task


class SpanTask(Task):
    kind: ClassVar[str] = "ner"

    def __init__(
        self,
        labels: list[str],
        allow_overlap: bool = False,
        descriptions: dict[str, str] | None = None,
        instructions: str | None = None,
        shots: list[Example] | None = None,
    ) -> None:
        super().__init__(labels, descriptions, instructions, shots)
        self.allow_overlap = allow_overlap

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "allow_overlap": self.allow_overlap}

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "entities": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string"},
                            "label": {"type": "string", "enum": self.labels},
                        },
                        "required": ["text", "label"],
                        "additionalProperties": False,
                    },
                }
            },
            "required": ["entities"],
            "additionalProperties": False,
        }

    def from_answer(self, data: Any, example: Example) -> TaskOutput:
        raise NotImplementedError(
            "parsing LLM answers into spans (string-to-offset alignment) is not built yet"
        )

    def validate_output(self, output: TaskOutput) -> TaskOutput:
        if not isinstance(output, Spans):
            raise ParseError(f"{self.kind} expects spans, got {output.kind}")
        unknown = sorted({s.label for s in output.spans} - set(self.labels))
        if unknown:
            raise ParseError(f"span label(s) {unknown} not in the task's labels {self.labels}")
        if not self.allow_overlap:
            ordered = sorted(output.spans, key=lambda s: (s.start, s.end))
            for a, b in itertools.pairwise(ordered):
                if b.start < a.end:
                    raise ParseError(f"spans overlap: {a} and {b} (use the 'spans' task)")
        return output

    def reference(self, example: Example) -> TaskOutput | None:
        if example.spans is None:
            return None
        return Spans(spans=list(example.spans))

    def score(self, gold: list[TaskOutput], predicted: list[TaskOutput | None]) -> dict[str, Any]:
        raise NotImplementedError("span-exact scoring comes with the NER issue")
