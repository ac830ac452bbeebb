"""The typed records every stage reads and writes.

Everything that crosses a stage boundary (store, hooks, plugins, exports) is one of these pydantic
models. They forbid unknown fields so that a typo in a plugin's output fails loudly instead of being
dropped. The JSONL schema of the shipped data sets is the exchange format: an :class:`Example` is one
JSONL row (``id``, ``text``, optional ``labels`` / ``spans`` as the reference answer, free ``meta``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Record(BaseModel):
    """Base class: unknown fields are an error, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Span(Record):
    """A labelled character span of a text; ``end`` is exclusive."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    label: str

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before its start {self.start}")
        return self


class Categories(Record):
    """Output of a text classification task: the chosen labels and, optionally, a score per label."""

    kind: Literal["categories"] = "categories"
    labels: list[str]
    scores: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def trusted(cls, labels: list[str], scores: dict[str, float]) -> Categories:
        """Build without validation, for hot paths whose values are already known to be valid
        (a student's labels and float scores come from its fitted model and its task).

        Equal to ``Categories(labels=labels, scores=scores)`` and about 4x cheaper than
        ``model_construct``; a test checks both stay equal. Never use it on outside input.
        """
        obj = cls.__new__(cls)
        object.__setattr__(
            obj, "__dict__", {"kind": "categories", "labels": labels, "scores": scores}
        )
        object.__setattr__(obj, "__pydantic_fields_set__", {"labels", "scores"})
        object.__setattr__(obj, "__pydantic_extra__", None)
        object.__setattr__(obj, "__pydantic_private__", None)
        return obj


class Spans(Record):
    """Output of a span task (``ner`` or ``spans``)."""

    kind: Literal["spans"] = "spans"
    spans: list[Span] = Field(default_factory=list)


class Extraction(Record):
    """Output of an ``extract`` task: one record of the user's pydantic schema, as JSON data.

    ``data`` is the validated record (``model_dump(mode="json")``); the task turns it back into an
    instance of the user's model (:meth:`distil.tasks.extract.ExtractTask.instance`). ``teacher``
    names the fields that the teacher filled where a student filled the rest (a composite
    student's answer served through the cascade); ``pending`` the fields nobody has filled yet.
    Two extractions are equal when their records are: the provenance marks do not count.
    """

    kind: Literal["extraction"] = "extraction"
    data: dict[str, Any]
    teacher: list[str] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Extraction):
            return self.data == other.data
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


TaskOutput = Annotated[Categories | Spans | Extraction, Field(discriminator="kind")]


class Example(Record):
    """One input text, as read from JSONL.

    ``labels`` and ``spans`` hold the reference answer when the file has one (a gold set, or a data
    set used to simulate corrections). Teachers and students never see them.
    """

    id: str = Field(min_length=1)
    text: str
    labels: list[str] | None = None
    spans: list[Span] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]

    def without_answer(self) -> Example:
        """A copy with the reference answer removed, as teachers and students get it."""
        return self.model_copy(update={"labels": None, "spans": None})


class Usage(Record):
    """What one answer cost: tokens, money, time, and whether it came from the cache."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 1
    #: Of ``input_tokens``, those the provider read from its prompt cache (priced
    #: ``cached_input``), and those it wrote to it (Anthropic's cache writes, priced
    #: ``cache_write``). ``cached`` above is distil's own cache (the whole answer).
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost=self.cost + other.cost,
            latency_s=self.latency_s + other.latency_s,
            cached=self.cached and other.cached,
            attempts=self.attempts + other.attempts,
        )


class Prediction(Record):
    """One source's answer for one example.

    ``source`` carries provenance into every later stage and export, for example
    ``teacher:local.zeroshot/all-MiniLM-L6-v2#prompt=3f2a9c1e`` or ``student:sklearn.textcat#run=…``.
    A failed answer has ``output=None`` and an ``error``; ``raw`` keeps what the model said.
    """

    example_id: str
    source: str
    output: TaskOutput | None = None
    confidence: float | None = None
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None
    raw: str | None = None
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.output is not None and self.error is None

    @property
    def partial(self) -> bool:
        """An answer read only in part: ``output`` is the part and ``error`` says what is missing
        (an extract record whose span subtask could place some values in the text, not all). Not
        :attr:`ok`, so nothing trains on it; the annotation app shows it for a human to finish."""
        return self.output is not None and self.error is not None


AnswerKind = Literal["accept", "reject", "ignore", "correct"]


class Annotation(Record):
    """A human's answer about one example.

    ``accept`` confirms ``output`` (usually the teacher's suggestion), ``correct`` replaces it,
    ``reject`` says the suggestion is wrong without giving the right one, ``ignore`` skips the example.
    """

    example_id: str
    annotator: str = "human"
    answer: AnswerKind = "correct"
    output: TaskOutput | None = None
    pass_name: str | None = None
    suggestion_source: str | None = None
    created_at: float | None = None


class Message(Record):
    role: Literal["system", "user", "assistant"]
    content: str


class Prompt(Record):
    """What the ``distil_prompt`` hook builds for one example.

    Chat providers read ``messages`` (and ``json_schema`` for structured output); embedding teachers
    read ``hypotheses`` (one sentence per label). ``template`` names the template that rendered it.
    """

    messages: list[Message] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = None
    hypotheses: dict[str, str] = Field(default_factory=dict)
    template: str | None = None

    def fingerprint(self) -> str:
        """A stable hash of everything the provider will see (used for the cache and provenance)."""
        return hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()


class Completion(Record):
    """What a provider answered for one prompt.

    ``text`` is the raw answer; ``data`` the parsed JSON when the provider does structured output;
    ``scores`` a score per label for scoring providers (zero-shot). ``finish_reason`` ``"length"``
    means the answer was truncated, ``"refusal"`` that the model refused: both parse as failures.
    """

    text: str = ""
    data: Any = None
    scores: dict[str, float] | None = None
    finish_reason: str | None = None
    refusal: str | None = None
    usage: Usage = Field(default_factory=Usage)
    model: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


def output_from_example(example: Example) -> TaskOutput | None:
    """The reference answer of an example as a task output, or None when it has none."""
    if example.spans is not None and example.labels is None:
        return Spans(spans=list(example.spans))
    if example.labels is not None:
        return Categories(labels=list(example.labels))
    return None


@dataclass(frozen=True)
class ExchangeRecord:
    """One example and one output with its provenance, as exporters write and read them.

    Unpacks as the ``(example, output)`` pair the exporter contract asks for; ``source`` follows
    distil's provenance strings (``teacher:openai.chat/gpt-4o-mini#prompt=3f2a``,
    ``human:alice#pass=spam``) and ``answer`` is an :class:`Annotation` answer kind, None for a
    label nobody reviewed. Exporter packages subclass it for their own helpers.
    """

    example: Example
    output: TaskOutput
    source: str | None = None
    confidence: float | None = None
    annotator: str | None = None
    answer: str | None = None
    pass_name: str | None = None

    def __iter__(self) -> Iterator[Any]:
        yield self.example
        yield self.output
