"""Text classification: exclusive (one label per text) or multi-label."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ParseError
from ..records import Categories, Example, TaskOutput
from ..suggest import did_you_mean
from .base import Task


class TextCat(Task):
    """Classify a text into one label (``multilabel=False``) or any subset of labels."""

    kind: ClassVar[str] = "textcat"
    template: ClassVar[str] = "textcat.jinja2"

    def __init__(
        self,
        labels: list[str],
        multilabel: bool = False,
        descriptions: dict[str, str] | None = None,
        instructions: str | None = None,
        shots: list[Example] | None = None,
    ) -> None:
        super().__init__(labels, descriptions, instructions, shots)
        self.multilabel = multilabel

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "multilabel": self.multilabel}

    def json_schema(self) -> dict[str, Any]:
        item = {"type": "string", "enum": self.labels}
        if self.multilabel:
            labels: dict[str, Any] = {"type": "array", "items": item, "uniqueItems": True}
        else:
            labels = {"type": "array", "items": item, "minItems": 1, "maxItems": 1}
        return {
            "type": "object",
            "properties": {"labels": labels},
            "required": ["labels"],
            "additionalProperties": False,
        }

    def from_answer(self, data: Any, example: Example) -> TaskOutput:
        if isinstance(data, dict) and "labels" in data:
            labels = data["labels"]
        elif isinstance(data, dict) and "label" in data:
            labels = data["label"]
        else:
            labels = data
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ParseError(f"expected a list of labels, got {data!r}")
        return self.validate_output(Categories(labels=[x.strip() for x in labels]))

    def validate_output(self, output: TaskOutput) -> TaskOutput:
        if not isinstance(output, Categories):
            raise ParseError(f"textcat expects categories, got {output.kind}")
        unknown = [x for x in output.labels if x not in self.labels]
        if unknown:
            guesses = [g for x in unknown if (g := did_you_mean(x, self.labels, cutoff=0.6))]
            hint = f"; did you mean {', '.join(map(repr, guesses))}?" if guesses else ""
            raise ParseError(f"label(s) {unknown} not in the task's labels {self.labels}{hint}")
        if not self.multilabel and len(output.labels) != 1:
            raise ParseError(
                f"an exclusive task needs exactly one label, got {len(output.labels)}: "
                f"{output.labels}"
            )
        if len(set(output.labels)) != len(output.labels):
            output = output.model_copy(update={"labels": list(dict.fromkeys(output.labels))})
        return output

    def reference(self, example: Example) -> TaskOutput | None:
        if example.labels is None:
            return None
        return Categories(labels=list(example.labels))

    def score(self, gold: list[TaskOutput], predicted: list[TaskOutput | None]) -> dict[str, Any]:
        from ..evaluate.metrics import score_categories

        return score_categories(self, gold, predicted)
