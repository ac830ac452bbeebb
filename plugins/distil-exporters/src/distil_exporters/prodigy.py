"""``prodigy.jsonl.v1``: Prodigy's task format (JSONL), for ``prodigy db-in`` and recipes' sources.

Export, one task per record:

- text classification, one label per record: ``{"text", "label", "answer"}`` (view
  ``classification``, Prodigy's binary textcat: ``reject`` says the label is wrong);
- text classification with several labels or none (or ``style="choice"``): ``{"text", "options":
  [{"id", "text"}], "accept": [ids], "answer"}`` (view ``choice``);
- spans: ``{"text", "tokens", "spans": [{"start", "end", "label", "token_start", "token_end"}],
  "answer"}`` (view ``ner_manual``; tokens split on whitespace).

Every task has ``_input_hash`` (from the text), ``_task_hash`` (text and answer), ``_view_id`` and
``meta`` with the example id and the provenance: ``source``, ``prompt`` (the prompt hash in the
source), ``annotator``, ``pass``, ``score``. ``answer`` is the record's answer, ``accept`` when none.
Import reads all three shapes (and Prodigy's own ``_annotator_id``) back into records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import distil

from ._io import (
    check_spans,
    data_error,
    make_example,
    make_span,
    read_json_lines,
    stable_hash,
    whitespace_tokens,
    write_json_lines,
)
from .records import ExportRecord, Recordish, as_export_records

_PROVENANCE = ("id", "source", "prompt", "annotator", "pass", "score")
_ANSWERS = ("accept", "reject", "ignore")


class ProdigyExporter(distil.Exporter):
    """Prodigy JSONL. ``style``: ``auto`` (binary when every record has exactly one label, else
    choice), ``binary`` or ``choice``; ``labels`` fixes the choice options (default: every label in
    the records, sorted); ``tokens`` adds whitespace tokens to span tasks."""

    name = "prodigy.jsonl.v1"

    def __init__(
        self,
        style: Literal["auto", "binary", "choice"] = "auto",
        labels: list[str] | None = None,
        tokens: bool = True,
    ) -> None:
        self.style = style
        self.labels = list(labels) if labels else None
        self.tokens = tokens
        self.report: dict[str, Any] = {}

    # -- export --------------------------------------------------------------------------------

    def export(self, records: list[Recordish], path: str | Path) -> dict[str, Any]:
        items = as_export_records(records)
        cats = [r.output for r in items if isinstance(r.output, distil.Categories)]
        style = self.style
        if style == "auto":
            style = "binary" if all(len(c.labels) == 1 for c in cats) else "choice"
        options = self.labels or sorted({label for c in cats for label in c.labels})
        target = write_json_lines(path, (self._task(r, style, options) for r in items))
        self.report = {"path": str(target), "records": len(items)}
        if cats:
            self.report["style"] = style
        return dict(self.report)

    def _task(self, record: ExportRecord, style: str, options: list[str]) -> dict[str, Any]:
        example, output = record.example, record.output
        answer = record.answer if record.answer in _ANSWERS else "accept"
        task: dict[str, Any] = {"text": example.text}
        if isinstance(output, distil.Spans):
            view = "ner_manual"
            task.update(self._span_fields(example.text, output))
            key = repr([(s.start, s.end, s.label) for s in output.spans])
        elif style == "binary":
            if len(output.labels) != 1:
                raise distil.DataError(
                    f"prodigy.jsonl.v1 style 'binary' needs one label per record; example"
                    f" {example.id!r} has {output.labels}: use style 'choice'"
                )
            view = "classification"
            task["label"] = output.labels[0]
            key = output.labels[0]
        else:
            view = "choice"
            task["options"] = [{"id": label, "text": label} for label in options]
            task["accept"] = list(output.labels)
            task["config"] = {"choice_style": "multiple"}
            key = repr(sorted(output.labels))
        task["answer"] = answer
        meta = {k: v for k, v in example.meta.items() if k not in _PROVENANCE}
        meta["id"] = example.id
        for name, value in (
            ("source", record.source),
            ("prompt", record.prompt_hash),
            ("annotator", record.annotator),
            ("pass", record.pass_name),
            ("score", record.confidence),
        ):
            if value is not None:
                meta[name] = value
        task["meta"] = meta
        task["_input_hash"] = stable_hash(example.text)
        task["_task_hash"] = stable_hash(example.text, view, key)
        task["_view_id"] = view
        return task

    def _span_fields(self, text: str, output: distil.Spans) -> dict[str, Any]:
        tokens = whitespace_tokens(text)
        starts = {s: n for n, (s, _) in enumerate(tokens)}
        ends = {e: n for n, (_, e) in enumerate(tokens)}
        spans = []
        for span in output.spans:
            item: dict[str, Any] = {"start": span.start, "end": span.end, "label": span.label}
            if self.tokens and span.start in starts and span.end in ends:
                item["token_start"], item["token_end"] = starts[span.start], ends[span.end]
            spans.append(item)
        fields: dict[str, Any] = {"spans": spans}
        if self.tokens:
            fields["tokens"] = [
                {
                    "text": text[s:e],
                    "start": s,
                    "end": e,
                    "id": n,
                    "ws": n + 1 < len(tokens) and tokens[n + 1][0] > e,
                }
                for n, (s, e) in enumerate(tokens)
            ]
        return fields

    # -- import --------------------------------------------------------------------------------

    def import_(self, path: str | Path) -> list[ExportRecord]:
        return [self._record(path, line, task) for line, task in read_json_lines(path)]

    def _record(self, path: str | Path, line: int, task: dict[str, Any]) -> ExportRecord:
        meta = task.get("meta") or {}
        if not isinstance(meta, dict):
            raise data_error(path, line, '"meta" is not an object')
        text = task.get("text")
        example_id = meta.get("id") or task.get("id") or f"{Path(path).stem}-{line}"
        extra = {k: v for k, v in meta.items() if k not in _PROVENANCE}
        example = make_example(path, line, example_id, text, extra)
        answer = task.get("answer", "accept")
        if answer not in _ANSWERS:
            raise data_error(path, line, f"answer {answer!r} is not one of {list(_ANSWERS)}")
        output: distil.Categories | distil.Spans
        if "spans" in task:
            raw = task["spans"] or []
            if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
                raise data_error(path, line, '"spans" is not a list of objects')
            spans = [
                make_span(path, line, s.get("start"), s.get("end"), s.get("label")) for s in raw
            ]
            check_spans(path, line, example.text, spans)
            output = distil.Spans(spans=spans)
        elif "options" in task or "accept" in task:
            accepted = task.get("accept") or []
            if not isinstance(accepted, list):
                raise data_error(path, line, '"accept" is not a list of option ids')
            output = distil.Categories(labels=[str(x) for x in accepted])
        elif "label" in task:
            output = distil.Categories(labels=[str(task["label"])])
        else:
            raise data_error(path, line, 'a task needs "spans", "options"/"accept" or "label"')
        annotator = meta.get("annotator") or task.get("_annotator_id")
        score = meta.get("score")
        return ExportRecord(
            example=example,
            output=output,
            source=meta.get("source"),
            annotator=str(annotator) if annotator is not None else None,
            answer=answer,
            pass_name=meta.get("pass"),
            confidence=float(score) if isinstance(score, int | float) else None,
        )
