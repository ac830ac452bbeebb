"""Span tasks: ``ner`` (non-overlapping entities) and ``spans`` (overlapping spans allowed).

The LLM is asked for entity *strings* (``{"entities": [{"text": ..., "label": ...}]}``), because
models copy text far more reliably than they count characters. :meth:`SpanTask.from_answer` then
aligns each string to character offsets in the example's text. The rules, which the tests pin down:

1. **Where a string matches.** Occurrences are tried in four tiers, each in text order: exact
   match at word boundaries, case-insensitive match at word boundaries, exact match inside a word,
   case-insensitive match inside a word. Case-insensitive matching also lets any run of whitespace
   stand for any other (``"New  York"`` finds ``"New York"``). A word boundary means the character
   before/after the match is not a letter or digit, so ``"Ann"`` prefers ``Ann`` to ``Annual``.
2. **A string that is found nowhere** (after stripping surrounding whitespace) makes the whole
   answer a :class:`~distil.errors.ParseError` that names the string. It is never dropped: the
   teacher loop stores the failure with the raw answer (and may re-ask).
3. **Repeated mentions.** Entities are placed one listing at a time, longest string first (then
   in answer order), each taking the first occurrence that overlaps no span placed so far; so a
   ``(text, label)`` listed *k* times takes the *k* first free occurrences. Listing a string more
   often than the text holds it is not an error: the extra listings are duplicates.
4. **Listed once, mentioned several times.** Every further *exact, whole-word* occurrence that
   overlaps no placed span gets the same label (spaCy-llm does the same): models tend to list a
   name once, and gold annotations label every mention. Case-insensitive and inside-a-word
   occurrences are not extended, to avoid labelling ``apple`` because ``Apple`` was listed.
5. **Overlaps.** For ``ner``, placing the longest strings first means the longest entity wins; a
   shorter (or equally long, later-listed) entity whose every occurrence overlaps a placed one is
   dropped (spaCy's ``filter_spans`` keeps the longest too). For ``spans`` overlapping is allowed:
   when every occurrence overlaps placed spans, the first occurrence not already carrying the
   same label is taken, so nested spans and one span with two labels are kept.

Every span satisfies ``text[start:end] == <the matched text>``; spans come back sorted by
``(start, end, label)``.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ParseError
from ..records import Example, Span, Spans, TaskOutput
from .base import Task
from .passes import NO_SPAN_PASS, Mode, MultilabelPlan, Pass, check_fix_review, per_label_checks
from .scoring import paired_spans, score_spans


@dataclass(frozen=True)
class _Listing:
    """One entity of the LLM's answer, in answer order."""

    order: int
    text: str
    label: str


def _whole_word(text: str, start: int, end: int) -> bool:
    """True when the match ``text[start:end]`` is not glued to letters or digits around it."""
    glued_left = start > 0 and text[start].isalnum() and text[start - 1].isalnum()
    glued_right = end < len(text) and text[end - 1].isalnum() and text[end].isalnum()
    return not (glued_left or glued_right)


def _matches(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """Every (start, end) where ``pattern`` matches, overlapping matches included."""
    out: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = pattern.search(text, pos)
        if m is None:
            return out
        if m.end() > m.start():
            out.append((m.start(), m.end()))
        pos = m.start() + 1


def occurrences(text: str, entity: str) -> list[tuple[int, int]]:
    """Where ``entity`` occurs in ``text``, best first (the four tiers of the module docstring)."""
    exact = _matches(re.compile(re.escape(entity)), text)
    loose_pattern = r"\s+".join(re.escape(part) for part in entity.split())
    loose = [
        m for m in _matches(re.compile(loose_pattern, re.IGNORECASE), text) if m not in set(exact)
    ]
    tiers: list[tuple[int, int]] = []
    tiers += [m for m in exact if _whole_word(text, *m)]
    tiers += [m for m in loose if _whole_word(text, *m)]
    tiers += [m for m in exact if not _whole_word(text, *m)]
    tiers += [m for m in loose if not _whole_word(text, *m)]
    return tiers


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class SpanTask(Task):
    """The base class of both span tasks: ``isinstance(task, SpanTask)`` asks "is it a span task?".

    One public name per concept: :class:`NerTask` builds a ``ner.v1`` task, :class:`SpansTask` a
    ``spans.v1`` task, and ``SpanTask`` is only their shared base. Building a task through
    ``SpanTask(labels, allow_overlap=...)`` is a deprecated alias of those two (a
    ``DeprecationWarning``): it still works and builds the matching subclass, so its ``kind``
    always says which one it is (``"ner"`` or ``"spans"``).
    """

    kind: ClassVar[str] = "ner"
    template: ClassVar[str] = "ner.jinja2"
    #: Whether spans may overlap (``spans``) or not (``ner``).
    allow_overlap: ClassVar[bool] = False

    def __new__(cls, *args: Any, **kwargs: Any) -> SpanTask:
        if cls is SpanTask:
            overlap = kwargs.get("allow_overlap", args[1] if len(args) > 1 else None)
            cls = SpansTask if overlap else NerTask
            warnings.warn(
                f"SpanTask(...) as a constructor is deprecated: use {cls.__name__}(labels) "
                f"(the '{cls.kind}' task); SpanTask stays the base class of both span tasks",
                DeprecationWarning,
                stacklevel=2,
            )
        return super().__new__(cls)

    def __init__(
        self,
        labels: list[str],
        allow_overlap: bool | None = None,
        descriptions: dict[str, str] | None = None,
        instructions: str | None = None,
        shots: list[Example] | None = None,
    ) -> None:
        if allow_overlap is not None and bool(allow_overlap) != self.allow_overlap:
            raise ValueError(
                f"a '{self.kind}' task has allow_overlap={self.allow_overlap}; "
                f"use the '{'spans' if allow_overlap else 'ner'}' task instead"
            )
        super().__init__(labels, descriptions, instructions, shots)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "allow_overlap": self.allow_overlap}

    @property
    def scoring_mode(self) -> str:
        spans = "overlapping spans" if self.allow_overlap else "non-overlapping entities"
        return f"{spans}, span-exact scores"

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

    # -- the answer, both ways ------------------------------------------------------------------
    def answer_for(self, example: Example | Spans, text: str | None = None) -> dict[str, Any]:
        """The JSON answer an LLM should give for known spans (few-shot examples, test doubles).

        Pass an example with ``spans``, or a :class:`Spans` and the ``text`` it refers to.
        """
        if isinstance(example, Example):
            text, spans = example.text, list(example.spans or [])
        else:
            if text is None:
                raise ValueError("answer_for(Spans) needs the text the spans refer to")
            spans = list(example.spans)
        ordered = sorted(spans, key=lambda s: (s.start, s.end, s.label))
        return {"entities": [{"text": text[s.start : s.end], "label": s.label} for s in ordered]}

    def answer_json(self, example: Example) -> str:
        """:meth:`answer_for` as compact JSON, non-ASCII kept (what the prompt template shows)."""
        return json.dumps(self.answer_for(example), ensure_ascii=False)

    def _listings(self, data: Any) -> list[_Listing]:
        entities = data.get("entities") if isinstance(data, dict) else data
        if not isinstance(entities, list):
            raise ParseError(f'expected {{"entities": [...]}}, got {data!r}')
        out = []
        for i, item in enumerate(entities):
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise ParseError(f'entity {i} must be {{"text": ..., "label": ...}}, got {item!r}')
            label = item.get("label")
            if label not in self.labels:
                listed = (
                    f" {self.labels}" if len(self.labels) <= 10 else f" ({len(self.labels)} labels)"
                )
                raise ParseError(
                    f"entity {item['text']!r} has label {label!r}, not one of the task's "
                    f"labels{listed}"
                )
            text = item["text"].strip()
            if not text:
                raise ParseError(f"entity {i} has an empty text")
            out.append(_Listing(i, text, label))
        return out

    def from_answer(self, data: Any, example: Example) -> TaskOutput:
        """Align the answer's entity strings to offsets in ``example.text`` (module docstring)."""
        listings = self._listings(data)
        text = example.text
        found = {e.text: occurrences(text, e.text) for e in listings}
        missing = [e.text for e in listings if not found[e.text]]
        if missing:
            raise ParseError(
                f"entity text(s) not found in the text: {list(dict.fromkeys(missing))}"
            )
        placed: list[tuple[int, int, str]] = []

        def free(pos: tuple[int, int]) -> bool:
            return not any(_overlaps(pos, (s, e)) for s, e, _ in placed)

        for entity in sorted(listings, key=lambda e: (-len(e.text), e.order)):
            cands = found[entity.text]
            pick = next((c for c in cands if free(c)), None)
            if pick is None and self.allow_overlap:
                pick = next((c for c in cands if (*c, entity.label) not in placed), None)
            if pick is not None:
                placed.append((*pick, entity.label))
        # Rule 4: a name listed once labels its other exact, whole-word mentions too.
        firsts = {e.text: e for e in sorted(listings, key=lambda e: e.order)[::-1]}
        for entity in sorted(firsts.values(), key=lambda e: (-len(e.text), e.order)):
            for start in (m.start() for m in re.finditer(re.escape(entity.text), text)):
                pos = (start, start + len(entity.text))
                if _whole_word(text, *pos) and free(pos):
                    placed.append((*pos, entity.label))
        spans = [Span(start=s, end=e, label=label) for s, e, label in sorted(set(placed))]
        return self.validate_output(Spans(spans=spans))

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

    # -- what the stages ask (see distil.tasks.base) -------------------------------------------
    #: Span-exact micro-F1, the usual NER headline.
    headline_metric: ClassVar[str] = "micro_f1"
    span_exact: ClassVar[bool] = True
    per_label_title: ClassVar[str] = "F1 per label (span-exact)"
    answer_field: ClassVar[str] = "spans"

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> Task:
        """``ner`` with ``allow_overlap: true`` (saved before ``spans`` was its own kind) gives a
        ``spans`` task."""
        overlap = bool(described.get("allow_overlap", cls.allow_overlap))
        return (SpansTask if overlap else NerTask)(
            list(described["labels"]),
            descriptions=described.get("descriptions") or None,
            instructions=described.get("instructions"),
        )

    def score(
        self,
        gold: list[TaskOutput],
        predicted: list[TaskOutput | None],
        *,
        n_boot: int = 1000,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Span-exact P/R/F1 (see :func:`distil.tasks.scoring.score_spans`)."""
        return score_spans(self, gold, predicted, n_boot=n_boot, seed=seed)

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
        """Span-exact comparison; ``accuracy`` is not defined for spans (a ValueError)."""
        return paired_spans(
            self, gold, a, b, metric=metric or self.headline_metric, n_boot=n_boot, seed=seed
        )

    @property
    def correction_mode(self) -> Mode:
        return "spans"

    def annotation_passes(
        self, *, no_span_pass: bool = True, multilabel: MultilabelPlan = "per_label"
    ) -> list[Pass]:
        """``check:LABEL`` per label, then (``no_span_pass``) ``check:none`` over the examples
        where the teacher found no span, then ``fix`` (span correction) and ``review``."""
        checks = per_label_checks(self.labels, "Are the teacher's {label} spans right?")
        if no_span_pass:
            title = "The teacher found no entity: is there really none?"
            # A task with a label called "none" has its own check:none: this one steps aside.
            name = NO_SPAN_PASS if "none" not in self.labels else "check:no-span"
            checks.append(Pass(name, "binary", title, empty=True))
        return check_fix_review(checks, self.correction_mode, "Correct the spans")

    def empty_output(self) -> TaskOutput:
        """No spans: spans are offsets into one text, so a constant can only be "none"."""
        return Spans()


class NerTask(SpanTask):
    """Named entities: labelled spans that never overlap (``ner.v1``)."""

    kind: ClassVar[str] = "ner"
    allow_overlap: ClassVar[bool] = False


class SpansTask(SpanTask):
    """Labelled spans that may overlap or nest (``spans.v1``)."""

    kind: ClassVar[str] = "spans"
    allow_overlap: ClassVar[bool] = True
