"""``csv.table.v1``: records as a CSV (or TSV) table a spreadsheet opens, and back.

One row per record, columns::

    id, text, kind, labels, spans, source, confidence, annotator, answer, pass_name, meta

``kind`` is ``categories`` or ``spans``; ``labels`` joins the chosen labels with ``separator``
(``|``); ``spans`` is JSON, ``[[start, end, label], ...]`` (character offsets, end exclusive);
``meta`` is the example's meta as a JSON object; an empty cell is "none". The provenance columns
are read from the records' attributes when they have them (distil-exporters' ``ExportRecord``,
or this package's :class:`TableRecord`), so this exporter needs no other plugin.

Import also reads a hand-made table: only ``id`` (or none: rows are numbered), ``text`` and
``labels`` or ``spans`` are needed, and a missing ``kind`` is taken from which of those is set.
Every problem raises a :class:`distil.DataError` naming ``file:line``.

Writing goes through a temporary file in the same folder and ``os.replace``: an export that
fails leaves the previous file as it was.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from pathlib import Path
from typing import Any

import distil

COLUMNS = (
    "id",
    "text",
    "kind",
    "labels",
    "spans",
    "source",
    "confidence",
    "annotator",
    "answer",
    "pass_name",
    "meta",
)
PROVENANCE = ("source", "confidence", "annotator", "answer", "pass_name")


class TableRecord(distil.ExchangeRecord):
    """One imported row: distil's :class:`~distil.ExchangeRecord` (unpacks as ``(example,
    output)``, provenance as attributes)."""


class CsvExporter(distil.Exporter):
    """CSV by default; ``delimiter="\\t"`` (or a ``.tsv`` path) writes TSV."""

    name = "csv.table.v1"

    def __init__(self, separator: str = "|", delimiter: str | None = None) -> None:
        if len(separator) != 1 or separator.isspace():
            raise distil.ConfigError(
                f"exporter.separator must be one visible character, got {separator!r}"
            )
        if delimiter is not None and len(delimiter) != 1:
            raise distil.ConfigError(f"exporter.delimiter must be one character, got {delimiter!r}")
        self.separator = separator
        self.delimiter = delimiter
        self.report: dict[str, Any] = {}

    def _delimiter(self, path: Path) -> str:
        if self.delimiter is not None:
            return self.delimiter
        return "\t" if path.suffix.lower() == ".tsv" else ","

    # -- export --------------------------------------------------------------------------------
    def export(self, records: list[Any], path: str | Path) -> dict[str, Any]:
        """Write ``records`` to ``path``; every record is checked before the file is touched."""
        target = Path(path)
        rows = [self._row(n, record) for n, record in enumerate(records)]
        target.parent.mkdir(parents=True, exist_ok=True)
        # A new name in the same folder (so os.replace is atomic), with the umask's permissions.
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with tmp.open("x", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, delimiter=self._delimiter(target), lineterminator="\n")
                writer.writerow(COLUMNS)
                writer.writerows(rows)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        self.report = {"path": str(target), "records": len(rows)}
        return dict(self.report)

    def _row(self, n: int, record: Any) -> list[str]:
        try:
            example, output = record
        except (TypeError, ValueError):
            raise distil.DataError(
                f"record {n} is {type(record).__name__}: expected an (Example, output) pair"
            ) from None
        if not isinstance(example, distil.Example):
            raise distil.DataError(f"record {n}: {example!r} is not a distil.Example")
        where = f"record {n} (example {example.id!r})"
        if isinstance(output, distil.Categories):
            bad = [x for x in output.labels if self.separator in x]
            if bad:
                raise distil.DataError(
                    f"{where}: label(s) {bad} contain the separator {self.separator!r}; "
                    "choose another separator"
                )
            kind, labels, spans = "categories", self.separator.join(output.labels), ""
        elif isinstance(output, distil.Spans):
            kind, labels = "spans", ""
            spans = json.dumps([[s.start, s.end, s.label] for s in output.spans])
        else:
            raise distil.DataError(
                f"{where}: output {type(output).__name__} is not Categories or Spans"
            )
        values = {name: getattr(record, name, None) for name in PROVENANCE}
        confidence = values["confidence"]
        meta = json.dumps(example.meta, ensure_ascii=False, sort_keys=True) if example.meta else ""
        return [
            example.id,
            example.text,
            kind,
            labels,
            spans,
            _cell(values["source"]),
            repr(float(confidence)) if confidence is not None else "",
            _cell(values["annotator"]),
            _cell(values["answer"]),
            _cell(values["pass_name"]),
            meta,
        ]

    # -- import --------------------------------------------------------------------------------
    def import_(self, path: str | Path) -> list[TableRecord]:
        source = Path(path)
        if not source.is_file():
            raise distil.DataError(f"{source}: no such file")
        with source.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle, delimiter=self._delimiter(source), strict=True)
            try:
                header = next(reader, None)
                if header is None:
                    raise distil.DataError(f"{source}:1: the file is empty (no header row)")
                columns = self._columns(source, header)
                records = []
                line = reader.line_num + 1
                for row in reader:
                    if any(cell.strip() for cell in row):
                        records.append(self._record(source, line, columns, row, len(records)))
                    line = reader.line_num + 1
            except csv.Error as exc:
                raise distil.DataError(
                    f"{source}:{reader.line_num}: not valid CSV ({exc})"
                ) from None
        self.report = {"path": str(source), "records": len(records)}
        return records

    @staticmethod
    def _columns(path: Path, header: list[str]) -> dict[str, int]:
        columns = {name.strip(): i for i, name in enumerate(header)}
        unknown = sorted(set(columns) - set(COLUMNS))
        if unknown:
            raise distil.DataError(
                f"{path}:1: unknown column(s) {unknown}; the columns are {list(COLUMNS)}"
            )
        if "text" not in columns or not {"labels", "spans"} & set(columns):
            raise distil.DataError(
                f'{path}:1: a table needs a "text" column and a "labels" or "spans" column, '
                f"got {header}"
            )
        return columns

    def _record(
        self, path: Path, line: int, columns: dict[str, int], row: list[str], n: int
    ) -> TableRecord:
        where = f"{path}:{line}"
        if len(row) != len(columns):
            raise distil.DataError(f"{where}: {len(row)} cells, the header has {len(columns)}")

        def cell(name: str) -> str:
            return row[columns[name]] if name in columns else ""

        meta = _json(where, "meta", cell("meta"), dict) if cell("meta") else {}
        try:
            example = distil.Example(
                id=cell("id") or f"{path.stem}-{n}", text=cell("text"), meta=meta
            )
        except ValueError as exc:
            raise distil.DataError(f"{where}: not a valid example: {exc}") from None
        kind = cell("kind") or ("spans" if cell("spans") else "categories")
        output: distil.Categories | distil.Spans
        if kind == "categories":
            labels = cell("labels")
            output = distil.Categories(labels=labels.split(self.separator) if labels else [])
        elif kind == "spans":
            output = distil.Spans(spans=_spans(where, cell("spans"), example.text))
        else:
            raise distil.DataError(f'{where}: kind {kind!r} is not "categories" or "spans"')
        confidence: float | None = None
        if cell("confidence"):
            try:
                confidence = float(cell("confidence"))
            except ValueError:
                raise distil.DataError(
                    f"{where}: confidence {cell('confidence')!r} is not a number"
                ) from None
        return TableRecord(
            example=example,
            output=output,
            source=cell("source") or None,
            confidence=confidence,
            annotator=cell("annotator") or None,
            answer=cell("answer") or None,
            pass_name=cell("pass_name") or None,
        )


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _json(where: str, column: str, text: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise distil.DataError(f"{where}: {column} is not valid JSON ({exc.msg})") from None
    if not isinstance(value, kind):
        raise distil.DataError(f"{where}: {column} must be a JSON {kind.__name__}")
    return value


def _spans(where: str, text: str, doc: str) -> list[distil.Span]:
    raw = _json(where, "spans", text, list) if text else []
    spans = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 3):
            raise distil.DataError(f"{where}: a span is [start, end, label], got {item!r}")
        start, end, label = item
        try:
            span = distil.Span(start=start, end=end, label=str(label))
        except ValueError as exc:
            raise distil.DataError(f"{where}: bad span {item!r}: {exc}".splitlines()[0]) from None
        if span.end > len(doc):
            raise distil.DataError(
                f"{where}: span {span.start}-{span.end} ends past the text ({len(doc)} chars)"
            )
        spans.append(span)
    return spans
