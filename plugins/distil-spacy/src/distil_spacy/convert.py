"""Conversions between distil records and spaCy Docs (spaCy is imported by the caller).

Character offsets become token spans with ``doc.char_span(..., alignment_mode="expand")``: a span
that starts or ends inside a token grows to the token boundaries. A span that cannot be aligned at
all (it covers only whitespace, or the text is not the Doc's) is counted, never dropped silently:
:class:`AlignmentReport` travels into the fit and export reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import distil

#: The ``doc.spans`` key spancat students, components and the DocBin exporter use.
SPANS_KEY = "sc"


@dataclass
class AlignmentReport:
    """How many spans were converted exactly, expanded to token boundaries, or lost."""

    total: int = 0
    expanded: int = 0
    misaligned: int = 0
    overlapping: int = 0
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spans": self.total,
            "spans_expanded": self.expanded,
            "spans_misaligned": self.misaligned,
            "spans_overlapping_dropped": self.overlapping,
            "misaligned_examples": self.examples[:10],
        }


def doc_spans(doc: Any, spans: list[distil.Span], report: AlignmentReport, where: str) -> list[Any]:
    """spaCy Spans for distil spans, in order; misaligned ones are counted in ``report``."""
    out = []
    for span in spans:
        report.total += 1
        token_span = doc.char_span(span.start, span.end, label=span.label, alignment_mode="expand")
        if token_span is None or len(token_span) == 0:
            report.misaligned += 1
            report.examples.append(f"{where}: {span.label} [{span.start}:{span.end}]")
            continue
        if token_span.start_char != span.start or token_span.end_char != span.end:
            report.expanded += 1
        out.append(token_span)
    return out


def non_overlapping(spans: list[Any], report: AlignmentReport | None = None) -> list[Any]:
    """Keep the first of overlapping token spans (in start order); count the others dropped."""
    kept: list[Any] = []
    end = -1
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if span.start < end:
            if report is not None:
                report.overlapping += 1
            continue
        kept.append(span)
        end = span.end
    return kept


def spans_of(token_spans: Any) -> distil.Spans:
    """A distil Spans output from spaCy spans (``doc.ents`` or a ``doc.spans`` group)."""
    return distil.Spans(
        spans=[distil.Span(start=s.start_char, end=s.end_char, label=s.label_) for s in token_spans]
    )


def set_cats(doc: Any, output: distil.Categories, labels: list[str]) -> None:
    """``doc.cats``: 1.0 for each chosen label, 0.0 for the other ``labels``."""
    chosen = set(output.labels)
    doc.cats = {label: 1.0 if label in chosen else 0.0 for label in labels}
