"""``hf.datasets.v1``: a table that ``datasets.load_dataset("json" | "parquet", data_files=...)`` reads.

One row per record, columns::

    id, text, labels (list of str) and/or spans (list of {start, end, label}),
    source, annotator, answer, pass_name, confidence, meta (the example's meta as a JSON string)

``labels`` is there when a record has ``Categories``, ``spans`` when one has ``Spans`` (a row of
the other kind has null). JSONL needs nothing; Parquet (``.parquet``, or ``format="parquet"``)
needs pyarrow: ``pip install 'distil-exporters[parquet]'``, imported only when Parquet is used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import distil

from ._io import check_spans, data_error, make_example, make_span, read_json_lines, write_json_lines
from .records import ExportRecord, Recordish, as_export_records

_PROVENANCE = ("source", "annotator", "answer", "pass_name", "confidence")


class MissingDependency(distil.ConfigError, ImportError):
    """An optional dependency is not installed: the message says which extra to install.

    A :class:`distil.ConfigError` (as other plugins' missing extras are) and an ``ImportError``.
    """


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependency(
            "hf.datasets.v1 writes and reads Parquet with pyarrow, which is not installed:"
            " pip install 'distil-exporters[parquet]' (or export to .jsonl, which needs nothing)"
        ) from None
    return pa, pq


class HfDatasetsExporter(distil.Exporter):
    name = "hf.datasets.v1"

    def __init__(self, format: Literal["auto", "jsonl", "parquet"] = "auto") -> None:
        self.format = format
        self.report: dict[str, Any] = {}

    def _parquet(self, path: Path) -> bool:
        if self.format == "auto":
            return path.suffix.lower() in (".parquet", ".pq")
        return self.format == "parquet"

    # -- export --------------------------------------------------------------------------------

    def export(self, records: list[Recordish], path: str | Path) -> dict[str, Any]:
        items = as_export_records(records)
        target = Path(path)
        kinds = {type(r.output) for r in items}
        rows = [self._row(r, kinds) for r in items]
        if self._parquet(target):
            pa, pq = _pyarrow()
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=_schema(pa, kinds)), target)
        else:
            write_json_lines(target, rows)
        self.report = {"path": str(target), "records": len(items)}
        return dict(self.report)

    @staticmethod
    def _row(record: ExportRecord, kinds: set[type]) -> dict[str, Any]:
        example, output = record.example, record.output
        row: dict[str, Any] = {"id": example.id, "text": example.text}
        if distil.Categories in kinds:
            row["labels"] = list(output.labels) if isinstance(output, distil.Categories) else None
        if distil.Spans in kinds:
            row["spans"] = (
                [s.model_dump(mode="json") for s in output.spans]
                if isinstance(output, distil.Spans)
                else None
            )
        for name in _PROVENANCE:
            row[name] = getattr(record, name)
        row["meta"] = json.dumps(example.meta, ensure_ascii=False, sort_keys=True)
        return row

    # -- import --------------------------------------------------------------------------------

    def import_(self, path: str | Path) -> list[ExportRecord]:
        source = Path(path)
        if self._parquet(source):
            _, pq = _pyarrow()
            if not source.is_file():
                raise data_error(source, None, "no such file")
            rows: Any = enumerate(pq.read_table(source).to_pylist(), start=1)
            where = "row"
        else:
            rows, where = read_json_lines(source), "line"
        return [self._record(source, n, row, where) for n, row in rows]

    @staticmethod
    def _record(path: Path, n: int, row: dict[str, Any], where: str) -> ExportRecord:
        place = f"{path}:{n}" if where == "line" else f"{path}: row {n}"
        meta_raw = row.get("meta")
        try:
            meta = json.loads(meta_raw) if isinstance(meta_raw, str) and meta_raw else {}
        except json.JSONDecodeError:
            raise distil.DataError(f'{place}: "meta" is not a JSON object string') from None
        example = make_example(place, None, row.get("id"), row.get("text"), meta)
        output: distil.Categories | distil.Spans
        if row.get("spans") is not None:
            raw = row["spans"]
            if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
                raise distil.DataError(f'{place}: "spans" is not a list of objects')
            spans = [
                make_span(place, None, s.get("start"), s.get("end"), s.get("label")) for s in raw
            ]
            check_spans(place, None, example.text, spans)
            output = distil.Spans(spans=spans)
        elif row.get("labels") is not None:
            if not isinstance(row["labels"], list):
                raise distil.DataError(f'{place}: "labels" is not a list')
            output = distil.Categories(labels=[str(x) for x in row["labels"]])
        else:
            raise distil.DataError(f'{place}: a row needs "labels" or "spans"')
        confidence = row.get("confidence")
        return ExportRecord(
            example=example,
            output=output,
            source=row.get("source"),
            annotator=row.get("annotator"),
            answer=row.get("answer"),
            pass_name=row.get("pass_name"),
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
        )


def _schema(pa: Any, kinds: set[type]) -> Any:
    fields = [pa.field("id", pa.string()), pa.field("text", pa.string())]
    if distil.Categories in kinds:
        fields.append(pa.field("labels", pa.list_(pa.string())))
    if distil.Spans in kinds:
        span = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string())])
        fields.append(pa.field("spans", pa.list_(span)))
    fields += [pa.field(name, pa.string()) for name in _PROVENANCE[:-1]]
    fields += [pa.field("confidence", pa.float64()), pa.field("meta", pa.string())]
    return pa.schema(fields)
