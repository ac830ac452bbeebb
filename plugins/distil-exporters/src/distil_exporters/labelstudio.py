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

Import reads Label Studio's JSON export (a list of tasks): the output is the task's latest
annotation that was not cancelled (``source`` ``human:<completed_by>``), else its first prediction
(``source`` its ``model_version``). Tasks with neither are skipped and counted in ``report``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import distil

from ._io import check_spans, data_error, make_example, make_span, write_text_atomic
from .records import ExportRecord, Recordish, as_export_records


class LabelStudioExporter:
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
        prediction: dict[str, Any] = {
            "model_version": record.source or "distil",
            "result": self._result(record),
        }
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
        source = Path(path)
        if not source.is_file():
            raise data_error(source, None, "no such file")
        try:
            tasks = json.loads(source.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise data_error(source, err.lineno, f"not valid JSON ({err.msg})") from None
        if isinstance(tasks, dict):
            tasks = [tasks]
        if not isinstance(tasks, list):
            raise data_error(source, None, "expected a JSON list of tasks")
        kind = self.kind
        if kind == "auto":
            kind = "spans" if _any_labels_result(tasks) else "categories"
        records: list[ExportRecord] = []
        skipped = 0
        for n, task in enumerate(tasks):
            record = self._record(source, n, task, kind)
            if record is None:
                skipped += 1
            else:
                records.append(record)
        self.report = {"path": str(source), "records": len(records), "skipped_unlabelled": skipped}
        return records

    def _record(self, path: Path, n: int, task: Any, kind: str) -> ExportRecord | None:
        where = f"task {n}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise distil.DataError(f'{path}: {where}: a task is an object with a "data" object')
        data = task["data"]
        text = data.get(self.text_key)
        if text is None:
            strings = [v for v in data.values() if isinstance(v, str)]
            text = strings[0] if len(strings) == 1 else None
        if not isinstance(text, str):
            raise distil.DataError(f"{path}: {where}: no {self.text_key!r} in its data")
        if task.get("id") is not None:
            where = f"task {n} (id {task['id']})"
        distil_data = data.get("distil") if isinstance(data.get("distil"), dict) else {}
        example_id = data.get("distil_id") or task.get("id") or f"{path.stem}-{n}"
        example = make_example(path, None, example_id, text, distil_data.get("meta"))

        annotator: str | None
        answer: str | None
        pass_name: str | None
        annotation = _latest_annotation(task.get("annotations") or [])
        if annotation is not None:
            who = annotation.get("completed_by")
            if isinstance(who, dict):
                who = who.get("email") or who.get("id")
            annotator = str(who) if who is not None else "labelstudio"
            result, source, confidence = annotation.get("result") or [], f"human:{annotator}", None
            answer, pass_name = "correct", None
        else:
            predictions = task.get("predictions") or []
            if not predictions:
                return None
            prediction = predictions[0]
            if not isinstance(prediction, dict):
                raise distil.DataError(f"{path}: {where}: a prediction is not an object")
            result = prediction.get("result") or []
            source = str(prediction.get("model_version") or "labelstudio")
            score = prediction.get("score")
            confidence = float(score) if isinstance(score, int | float) else None
            annotator = distil_data.get("annotator")
            answer, pass_name = distil_data.get("answer"), distil_data.get("pass")
        output = self._output(path, where, text, result, kind)
        return ExportRecord(
            example=example,
            output=output,
            source=source,
            annotator=annotator,
            answer=answer,
            pass_name=pass_name,
            confidence=confidence,
        )

    def _output(
        self, path: Path, where: str, text: str, result: Any, kind: str
    ) -> distil.Categories | distil.Spans:
        if not isinstance(result, list):
            raise distil.DataError(f'{path}: {where}: "result" is not a list')
        labels: list[str] = []
        spans: list[distil.Span] = []
        for item in result:
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, dict):
                raise distil.DataError(f'{path}: {where}: a result item has no "value" object')
            if item.get("type") == "choices" or "choices" in value:
                labels.extend(str(x) for x in value.get("choices") or [])
            elif "labels" in value and "start" in value:
                for label in value["labels"] or []:
                    spans.append(
                        make_span(f"{path}: {where}", None, value["start"], value["end"], label)
                    )
        if spans or kind == "spans":
            check_spans(f"{path}: {where}", None, text, spans)
            return distil.Spans(spans=sorted(spans, key=lambda s: (s.start, s.end, s.label)))
        return distil.Categories(labels=labels)


def _latest_annotation(annotations: Any) -> dict[str, Any] | None:
    """The last annotation that is not cancelled, by ``updated_at``/``created_at`` then order."""
    if not isinstance(annotations, list):
        return None
    live = [
        (str(a.get("updated_at") or a.get("created_at") or ""), n, a)
        for n, a in enumerate(annotations)
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    return max(live, key=lambda x: (x[0], x[1]))[2] if live else None


def _any_labels_result(tasks: list[Any]) -> bool:
    for task in tasks:
        if not isinstance(task, dict):
            continue
        for group in ("annotations", "predictions"):
            for entry in task.get(group) or []:
                for item in (entry.get("result") or []) if isinstance(entry, dict) else []:
                    if isinstance(item, dict) and item.get("type") in ("labels", "hypertextlabels"):
                        return True
    return False
