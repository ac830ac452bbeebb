"""``conll.iob.v1``: CoNLL-style NER data, one ``token TAG`` per line with IOB2 tags.

Tokens are the runs of non-whitespace of the text; documents are separated by a blank line and no
``-DOCSTART-`` line is written. ``delimiter`` separates token and tag: a space (the default) or
a tab (``"\\t"``, also spelled ``"tab"``), which doccano's CoNLL import requires. With
``ids=True`` (the default) each document starts with a comment line ``# id = <example id>`` (the
CoNLL-U convention; a token line always has exactly two fields, so the comment cannot be mistaken
for one); ``ids=False`` writes plain two-column CoNLL, for tools that know no comment lines.

What does not fit the format is counted in ``report`` rather than silently changed: a span that
does not start and end on token boundaries is widened to the tokens it touches
(``spans_misaligned``); of overlapping spans the first, longest is kept (``spans_overlap_dropped``);
a text whose whitespace is not single spaces is re-spaced (``texts_respaced``) since CoNLL keeps
tokens, not whitespace; without ids an empty text has no lines and is lost
(``empty_texts_dropped``). The NER data sets' texts are tokens joined by single spaces, so their
offsets come back exactly.

Import rebuilds each text as its tokens joined by single spaces and the character spans from the
tags; columns may be separated by spaces or tabs (whichever ``delimiter`` says), it takes the
last column as the tag (so four-column CoNLL-2003 reads too), accepts IOB1 (``I-`` opening a
span), and skips ``-DOCSTART-`` lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import distil

from ._io import data_error, require_spans, whitespace_tokens, write_text_atomic
from .records import ExportRecord, Recordish, as_export_records

_ID_RE = re.compile(r"^#\s*id\s*=\s*(.*?)\s*$")
_TAG_RE = re.compile(r"^(O|[BI]-\S+)$")
#: What may separate token and tag: CoNLL's space, or the tab doccano's import insists on.
DELIMITERS = (" ", "\t")
#: Spellings of the delimiters that survive a shell and a config file unchanged.
_NAMED = {"space": " ", "tab": "\t", "\\t": "\t"}


class ConllExporter(distil.Exporter):
    name = "conll.iob.v1"

    def __init__(self, ids: bool = True, delimiter: str = " ") -> None:
        delimiter = _NAMED.get(delimiter, delimiter)
        if delimiter not in DELIMITERS:
            raise distil.ConfigError(
                f"conll.iob.v1 delimiter must be a space or a tab, got {delimiter!r}"
            )
        self.ids = ids
        self.delimiter = delimiter
        self.report: dict[str, Any] = {}

    # -- export --------------------------------------------------------------------------------

    def export(self, records: list[Recordish], path: str | Path) -> dict[str, Any]:
        items = as_export_records(records)
        counts = {
            "spans_misaligned": 0,
            "spans_overlap_dropped": 0,
            "texts_respaced": 0,
            "empty_texts_dropped": 0,
        }
        blocks = [self._block(r, counts) for r in items]
        target = write_text_atomic(path, blocks)
        self.report = {"path": str(target), "records": len(items), **counts}
        return dict(self.report)

    def _block(self, record: ExportRecord, counts: dict[str, int]) -> str:
        example = record.example
        spans = require_spans(record.output, self.name, example.id)
        text = example.text
        tokens = whitespace_tokens(text)
        if not tokens and not self.ids:
            counts["empty_texts_dropped"] += 1  # nothing to write: the doc cannot come back
            return ""
        if " ".join(text[s:e] for s, e in tokens) != text:
            counts["texts_respaced"] += 1
        tags = ["O"] * len(tokens)
        for span in sorted(spans.spans, key=lambda s: (s.start, -(s.end - s.start))):
            covered = [n for n, (s, e) in enumerate(tokens) if s < span.end and e > span.start]
            if not covered:
                counts["spans_misaligned"] += 1
                continue
            first, last = covered[0], covered[-1]
            if tokens[first][0] != span.start or tokens[last][1] != span.end:
                counts["spans_misaligned"] += 1
            if any(tags[n] != "O" for n in covered):
                counts["spans_overlap_dropped"] += 1
                continue
            tags[first] = f"B-{span.label}"
            for n in covered[1:]:
                tags[n] = f"I-{span.label}"
        lines = [f"# id = {example.id}"] if self.ids else []
        lines += [
            f"{text[s:e]}{self.delimiter}{tag}" for (s, e), tag in zip(tokens, tags, strict=True)
        ]
        return "\n".join(lines) + "\n\n"

    # -- import --------------------------------------------------------------------------------

    def import_(self, path: str | Path) -> list[ExportRecord]:
        source = Path(path)
        if not source.is_file():
            raise data_error(source, None, "no such file")
        records: list[ExportRecord] = []
        doc: list[tuple[int, str, str]] = []
        doc_id: str | None = None
        started = False  # a doc with an id comment and no tokens is an empty text

        def flush() -> None:
            nonlocal doc, doc_id, started
            if started:
                records.append(self._record(source, len(records), doc_id, doc))
            doc, doc_id, started = [], None, False

        with source.open(encoding="utf-8") as handle:
            for number, raw in enumerate(handle, start=1):
                fields = raw.split()
                if not fields:
                    flush()
                    continue
                if fields[0] == "-DOCSTART-":
                    continue
                if fields[0].startswith("#") and len(fields) != 2:
                    match = _ID_RE.match(raw.strip())
                    if match and not doc:
                        doc_id, started = match.group(1), True
                    continue
                if len(fields) < 2:
                    raise data_error(source, number, f"expected 'token TAG', got {raw.strip()!r}")
                tag = fields[-1]
                if not _TAG_RE.match(tag):
                    raise data_error(source, number, f"tag {tag!r} is not O, B-LABEL or I-LABEL")
                doc.append((number, fields[0], tag))
                started = True
        flush()
        return records

    def _record(
        self, path: Path, n: int, doc_id: str | None, doc: list[tuple[int, str, str]]
    ) -> ExportRecord:
        text_parts: list[str] = []
        spans: list[distil.Span] = []
        offset = 0
        open_span: tuple[int, int, str] | None = None  # start, end, label
        for _, token, tag in doc:
            start, end = offset, offset + len(token)
            text_parts.append(token)
            offset = end + 1
            prefix, _, label = tag.partition("-")
            if open_span and prefix == "I" and label == open_span[2]:
                open_span = (open_span[0], end, label)
                continue
            if open_span:
                spans.append(distil.Span(start=open_span[0], end=open_span[1], label=open_span[2]))
                open_span = None
            if prefix in ("B", "I"):
                open_span = (start, end, label)
        if open_span:
            spans.append(distil.Span(start=open_span[0], end=open_span[1], label=open_span[2]))
        example = distil.Example(id=doc_id or f"{path.stem}-{n}", text=" ".join(text_parts))
        return ExportRecord(example=example, output=distil.Spans(spans=spans))
