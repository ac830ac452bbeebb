"""``doccano.jsonl.v1``: doccano's JSONL for text classification and sequence labelling.

Export, one line per record:

- text classification: ``{"text", "label": [labels]}``;
- sequence labelling: ``{"text", "label": [[start, end, label], ...]}`` (character offsets, end
  exclusive, as doccano writes them).

Each line also has ``id`` and, when set, ``source``, ``annotator``, ``answer``, ``pass``, ``score``
and ``meta``: doccano keeps columns it does not know as the example's metadata, so provenance
survives a trip through doccano. Import reads both shapes, and also doccano's newer span export
(``"entities": [{"start_offset", "end_offset", "label"}]``) and ``labels`` / ``data`` spellings.
An empty ``label`` is read as spans when any line of the file has spans (``kind="auto"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import distil

from ._io import check_spans, data_error, make_example, make_span, read_json_lines, write_json_lines
from .records import ExportRecord, Recordish, as_export_records

_PROVENANCE = (
    ("source", "source"),
    ("annotator", "annotator"),
    ("answer", "answer"),
    ("pass", "pass_name"),
    ("score", "confidence"),
)


class DoccanoExporter(distil.Exporter):
    name = "doccano.jsonl.v1"

    def __init__(self, kind: Literal["auto", "categories", "spans"] = "auto") -> None:
        self.kind = kind
        self.report: dict[str, Any] = {}

    def export(self, records: list[Recordish], path: str | Path) -> dict[str, Any]:
        items = as_export_records(records)
        target = write_json_lines(path, (self._row(r) for r in items))
        self.report = {"path": str(target), "records": len(items)}
        return dict(self.report)

    def _row(self, record: ExportRecord) -> dict[str, Any]:
        output = record.output
        label: list[Any]
        if isinstance(output, distil.Spans):
            label = [[s.start, s.end, s.label] for s in output.spans]
        else:
            label = list(output.labels)
        row: dict[str, Any] = {"id": record.example.id, "text": record.example.text, "label": label}
        for key, attr in _PROVENANCE:
            value = getattr(record, attr)
            if value is not None:
                row[key] = value
        if record.example.meta:
            row["meta"] = record.example.meta
        return row

    def import_(self, path: str | Path) -> list[ExportRecord]:
        rows = list(read_json_lines(path))
        kind = self.kind
        if kind == "auto":
            kind = "spans" if any(_has_spans(row) for _, row in rows) else "categories"
        return [self._record(path, line, row, kind) for line, row in rows]

    def _record(self, path: str | Path, line: int, row: dict[str, Any], kind: str) -> ExportRecord:
        text = row.get("text", row.get("data"))
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        example = make_example(path, line, row.get("id", f"{Path(path).stem}-{line}"), text, meta)
        output: distil.Categories | distil.Spans
        if "entities" in row:
            raw = row["entities"] or []
            if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
                raise data_error(path, line, '"entities" is not a list of objects')
            spans = [
                make_span(path, line, x.get("start_offset"), x.get("end_offset"), x.get("label"))
                for x in raw
            ]
            check_spans(path, line, example.text, spans)
            output = distil.Spans(spans=spans)
        else:
            raw = row.get("label", row.get("labels", []))
            if raw is None:
                raw = []
            if not isinstance(raw, list):
                raw = [raw]
            if any(isinstance(x, list) for x in raw) or (kind == "spans" and not raw):
                if not all(isinstance(x, list) and len(x) == 3 for x in raw):
                    raise data_error(
                        path, line, '"label" mixes spans [start, end, label] and labels'
                    )
                spans = [make_span(path, line, *x) for x in raw]
                check_spans(path, line, example.text, spans)
                output = distil.Spans(spans=spans)
            else:
                output = distil.Categories(labels=[str(x) for x in raw])
        score = row.get("score")
        return ExportRecord(
            example=example,
            output=output,
            source=row.get("source"),
            annotator=row.get("annotator"),
            answer=row.get("answer"),
            pass_name=row.get("pass"),
            confidence=float(score) if isinstance(score, int | float) else None,
        )


def _has_spans(row: dict[str, Any]) -> bool:
    if row.get("entities"):
        return True
    raw = row.get("label", row.get("labels"))
    return isinstance(raw, list) and any(isinstance(x, list) for x in raw)
