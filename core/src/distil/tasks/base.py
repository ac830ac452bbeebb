"""The task contract: what a task names, what its output type is, how it validates and scores.

A task is the typed interface that the LLM prototype and the distilled student share. Prompting,
parsing and scoring read it; it never calls a provider or a model itself.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from ..records import Example, TaskOutput

#: Task kinds whose output is :class:`~distil.records.Spans` (scored span-exact). Here, in the
#: module every task kind builds on, so that the scorers (``distil.evaluate.metrics``) can read it
#: without importing the ``distil.tasks`` package, whose task kinds import the scorers.
SPAN_KINDS = frozenset({"ner", "spans"})


class Task:
    """Base class of every task kind. Subclasses set ``kind`` and implement the abstract methods."""

    kind: ClassVar[str] = "task"
    #: Name of the default Jinja2 template (in ``distil/templates/``) used by the chat prompt.
    template: ClassVar[str] = ""

    def __init__(
        self,
        labels: list[str],
        descriptions: dict[str, str] | None = None,
        instructions: str | None = None,
        shots: list[Example] | None = None,
    ) -> None:
        if not labels:
            raise ValueError("a task needs at least one label")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {labels}")
        self.labels = list(labels)
        self.descriptions = dict(descriptions or {})
        unknown = set(self.descriptions) - set(self.labels)
        if unknown:
            raise ValueError(f"descriptions name labels the task does not have: {sorted(unknown)}")
        self.instructions = instructions
        self.shots = list(shots or [])

    # -- what subclasses provide -------------------------------------------------------------
    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the answer the LLM must give (used for structured output)."""
        raise NotImplementedError

    def from_answer(self, data: Any, example: Example) -> TaskOutput:
        """Turn a parsed JSON answer into the task's output; raise ParseError when it does not fit."""
        raise NotImplementedError

    def reference(self, example: Example) -> TaskOutput | None:
        """The example's reference (gold) answer as this task's output type, if it has one."""
        raise NotImplementedError

    def validate_output(self, output: TaskOutput) -> TaskOutput:
        """Check an output against the task (labels in the set, ...); raise ParseError if not."""
        raise NotImplementedError

    def score(self, gold: list[TaskOutput], predicted: list[TaskOutput | None]) -> dict[str, Any]:
        """Score predictions against gold; ``None`` predictions (parse failures) count as wrong."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (stored with runs, hashed into provenance)."""
        return {
            "kind": self.kind,
            "labels": self.labels,
            "descriptions": self.descriptions,
            "instructions": self.instructions,
        }

    def fingerprint(self) -> str:
        blob = json.dumps(self.describe(), sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:12]

    def label_text(self, label: str) -> str:
        """The natural-language form of a label: its description, or the label with _ as spaces."""
        return self.descriptions.get(label) or label.replace("_", " ")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} labels={self.labels}>"
