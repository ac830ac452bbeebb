"""``labelstudio.json.v1``: Label Studio tasks with pre-annotations out, its JSON export in.

Export writes one JSON array of tasks, ready for Label Studio's import, each with the record's
output as a prediction (a pre-annotation the annotator sees and corrects)::

    {"data": {"text": ..., "distil_id": ..., "distil": {...}},
     "predictions": [{"model_version": <source>, "score": <confidence>,
                      "result": [{"from_name": "label", "to_name": "text", "type": "choices",
                                  "value": {"choices": [...]}}]}]}

Spans become ``"type": "labels"`` results with ``{"start", "end", "text", "labels": [label]}``.
``from_name`` / ``to_name`` must match the labelling config (defaults: ``label`` and ``text``, as
in ``<Choices name="label" toName="text">`` or ``<Labels name="label" toName="text">``).
``data.distil`` keeps the annotator, answer, pass and example meta when there are any.

Import reads Label Studio's ``Export → JSON`` (a list of tasks) and ``Export → JSON-MIN`` (flat
rows): the output is the task's latest annotation that was not cancelled (``source``
``human:<completed_by>``), else its first prediction object (``source`` its ``model_version``).
Tasks with neither, or whose predictions are only ids, are skipped and counted in ``report``
(details in :mod:`distil_exporters.labelstudio_import`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import distil

from ._io import write_text_atomic
from .records import ExportRecord, Recordish, as_export_records


class LabelStudioExporter(distil.Exporter):
    """Label Studio JSON. ``kind`` says how to read a task whose result is empty (``auto``: spans
    when any task in the file has a ``labels`` result, else categories)."""

    name = "labelstudio.json.v1"

    def __init__(
        self,
        from_name: str = "label",
        to_name: str = "text",
        text_key: str = "text",
        kind: Literal["auto", "categories", "spans"] = "auto",
    ) -> None:
        self.from_name = from_name
        self.to_name = to_name
        self.text_key = text_key
        self.kind = kind
        self.report: dict[str, Any] = {}

    # -- export --------------------------------------------------------------------------------

    def export(self, records: list[Recordish], path: str | Path) -> dict[str, Any]:
        items = as_export_records(records)
        tasks = [self._task(r) for r in items]
        target = write_text_atomic(path, [json.dumps(tasks, ensure_ascii=False, indent=1), "\n"])
        self.report = {"path": str(target), "records": len(items)}
        return dict(self.report)

    def _task(self, record: ExportRecord) -> dict[str, Any]:
        example = record.example
        data: dict[str, Any] = {self.text_key: example.text, "distil_id": example.id}
        extra = {
            k: v
            for k, v in (
                ("annotator", record.annotator),
                ("answer", record.answer),
                ("pass", record.pass_name),
                ("meta", example.meta or None),
            )
            if v is not None
        }
        if extra:
            data["distil"] = extra
        prediction: dict[str, Any] = {"result": self._result(record)}
        if record.source is not None:  # none for a gold label: no model made it
            prediction["model_version"] = record.source
        if record.confidence is not None:
            prediction["score"] = record.confidence
        return {"data": data, "predictions": [prediction]}

    def _result(self, record: ExportRecord) -> list[dict[str, Any]]:
        base = {"from_name": self.from_name, "to_name": self.to_name}
        output, text = record.output, record.example.text
        if isinstance(output, distil.Categories):
            return [{"id": "c0", **base, "type": "choices", "value": {"choices": output.labels}}]
        return [
            {
                "id": f"s{n}",
                **base,
                "type": "labels",
                "value": {
                    "start": s.start,
                    "end": s.end,
                    "text": text[s.start : s.end],
                    "labels": [s.label],
                },
            }
            for n, s in enumerate(output.spans)
        ]

    # -- import --------------------------------------------------------------------------------

    def import_(self, path: str | Path) -> list[ExportRecord]:
        """Label Studio's JSON or JSON-MIN export (told apart by the file's shape); see
        :mod:`distil_exporters.labelstudio_import`. ``report`` counts what was skipped."""
        from .labelstudio_import import LabelStudioReader

        reader = LabelStudioReader(self.from_name, self.text_key, self.kind)
        records = reader.read(path)
        self.report = dict(reader.report)
        return records
