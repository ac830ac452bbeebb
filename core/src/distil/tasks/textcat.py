"""Text classification: exclusive (one label per text) or multi-label."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ParseError
from ..records import Categories, Example, TaskOutput
from ..suggest import did_you_mean
from .base import Task
from .passes import (
    CARD_PASS,
    Mode,
    MultilabelPlan,
    Pass,
    check_fix_review,
    per_label_checks,
    review_pass,
)
from .scoring import confusion_matrix, paired_categories, score_categories


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
            # Compact: a 77-label list in every stored error and re-ask is noise (the labels
            # are in the prompt the re-ask repeats); short lists are shown.
            listed = (
                f" {self.labels}"
                if len(self.labels) <= 10
                else f" ({len(self.labels)} labels, listed in the instructions)"
            )
            raise ParseError(f"label(s) {unknown} not in the task's labels{listed}{hint}")
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

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> Task:
        return cls(
            list(described["labels"]),
            multilabel=bool(described.get("multilabel", False)),
            descriptions=described.get("descriptions") or None,
            instructions=described.get("instructions"),
        )

    # -- what the stages ask (see distil.tasks.base) -------------------------------------------
    @property
    def exclusive(self) -> bool:
        return not self.multilabel

    def score(
        self,
        gold: list[TaskOutput],
        predicted: list[TaskOutput | None],
        *,
        n_boot: int = 1000,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Accuracy, micro/macro P/R/F1, per label, CIs (:func:`~.scoring.score_categories`)."""
        return score_categories(self, gold, predicted, n_boot=n_boot, seed=seed)

    def paired_bootstrap(
        self,
        gold: list[TaskOutput],
        a: list[TaskOutput | None],
        b: list[TaskOutput | None],
        *,
        metric: str = "",
        n_boot: int = 1000,
        seed: int = 0,
    ) -> dict[str, Any]:
        return paired_categories(
            self, gold, a, b, metric=metric or self.headline_metric, n_boot=n_boot, seed=seed
        )

    def confusion_matrix(
        self, gold: list[TaskOutput], predicted: list[TaskOutput | None]
    ) -> dict[str, Any] | None:
        """Gold label → predicted label → count, for an exclusive task (None for multi-label:
        no single pairing of labels exists)."""
        return confusion_matrix(self, gold, predicted) if self.exclusive else None

    @property
    def correction_mode(self) -> Mode:
        return "multi" if self.multilabel else "choice"

    def annotation_passes(
        self, *, no_span_pass: bool = True, multilabel: MultilabelPlan = "per_label"
    ) -> list[Pass]:
        """Exclusive: ``check`` then ``fix``; multi-label: one card per text (``multilabel=
        "card"``) or ``check:LABEL`` per label then ``fix``; ``review`` last (see
        :mod:`distil.annotate.passes`)."""
        if self.exclusive:
            checks = [Pass("check", "binary", "Is the teacher's label right?")]
            return check_fix_review(checks, self.correction_mode, "Choose the right label")
        if multilabel == "card":
            title = "Which labels apply? Keep or drop the teacher's, add the missing ones"
            return [Pass(CARD_PASS, "multi", title), review_pass()]
        checks = per_label_checks(self.labels, "Is the teacher right about {label}?")
        return check_fix_review(checks, self.correction_mode, "Choose every label that applies")

    def empty_output(self) -> TaskOutput:
        """No labels (multi-label); the first label for an exclusive task, which needs one."""
        return Categories(labels=[] if self.multilabel else [self.labels[0]])
