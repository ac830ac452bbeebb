"""Reading Label Studio's exports back: ``Export → JSON`` and ``Export → JSON-MIN``.

**JSON** is a list of tasks, each ``{"id", "data": {...}, "annotations": [...], "predictions":
[...]}``. An annotation has ``result`` (a list of ``{"from_name", "to_name", "type", "value"}``),
``completed_by`` (a user id, or a user object with ``email``), ``was_cancelled`` (the annotator
skipped the task), ``created_at`` / ``updated_at``. Per task the output is the latest annotation
that was not cancelled (by ``updated_at``, then ``created_at``, then file order); a task without
one falls back to its first prediction object. Label Studio's own export writes ``predictions``
as a list of prediction *ids* (integers), which carry no labels: such a task, like a task with
neither annotations nor predictions, is skipped and counted.

**JSON-MIN** is flat: one object per annotation that was not cancelled, holding the task's data
fields, ``id`` (the task id), one key per control tag (its ``from_name``) and ``annotator``,
``annotation_id``, ``created_at``, ``updated_at``, ``lead_time``. A ``Choices`` value is the
label itself when one was chosen, else ``{"choices": [...]}``; a ``Labels`` value is a list of
``{"start", "end", "text", "labels"}``. A task with several annotations has several rows (the
latest wins); a task without annotations is one row with no ``annotation_id`` (skipped).

Span offsets are checked against the span's ``text``: Label Studio versions before the fix of
HumanSignal/label-studio#1347 counted UTF-16 code units (an emoji counts two), so offsets that only
fit when read as UTF-16 are converted to code points; offsets that fit neither way are an error
naming the task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import distil

from ._io import check_spans, data_error, decode_utf8, make_example, make_span, parse_json
from .records import ExportRecord

Output = distil.Categories | distil.Spans
#: Keys Label Studio adds to a JSON-MIN row besides the task data and the control tags.
MIN_KEYS = (
    "id",
    "annotator",
    "annotation_id",
    "created_at",
    "updated_at",
    "lead_time",
    "agreement",
)


class LabelStudioReader:
    """Reads one export file; ``report`` counts what was skipped and why."""

    def __init__(self, from_name: str, text_key: str, kind: str) -> None:
        self.from_name = from_name
        self.text_key = text_key
        self.kind = kind
        self.tag = from_name
        self.report: dict[str, Any] = {}

    def read(self, path: str | Path) -> list[ExportRecord]:
        source = Path(path)
        if not source.is_file():
            raise data_error(source, None, "no such file")
        items = parse_json(source, None, decode_utf8(source, None, source.read_bytes()))
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise data_error(source, None, "expected a JSON list of tasks")
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise distil.DataError(f"{source}: task {n}: a task is a JSON object")
        self.report = {
            "path": str(source),
            "records": 0,
            "skipped_unlabelled": 0,
            "cancelled_annotations": 0,
            "predictions_as_ids": 0,
        }
        if items and all(isinstance(item.get("data"), dict) for item in items):
            self.report["shape"] = "json"
            records = self._read_tasks(source, items)
        else:
            self.report["shape"] = "json-min"
            records = self._read_min(source, items)
        self.report["records"] = len(records)
        return records

    def _control(self, path: Path, names: set[str]) -> str:
        """The control tag (``from_name``) to read: ours, else the file's only one."""
        if self.from_name in names or not names:
            return self.from_name
        if len(names) == 1:
            return next(iter(names))
        raise distil.DataError(
            f"{path}: the results come from several control tags ({', '.join(sorted(names))})"
            f" and none is named {self.from_name!r}: pass from_name= to say which to read"
        )

    def _min_names(self, rows: list[dict[str, Any]]) -> set[str]:
        """The keys of annotated JSON-MIN rows that may hold labels: neither Label Studio's
        own keys nor the text (another data field looks like one: from_name= settles it)."""
        skip = {*MIN_KEYS, self.text_key, "distil_id", "distil"}
        return {
            key
            for row in rows
            if row.get("annotation_id") is not None
            for key, value in row.items()
            if key not in skip and isinstance(value, str | list | dict)
        }

    # -- JSON: full tasks ----------------------------------------------------------------------

    def _read_tasks(self, path: Path, tasks: list[dict[str, Any]]) -> list[ExportRecord]:
        kind = self.kind
        if kind == "auto":
            kind = "spans" if _any_labels_result(tasks) else "categories"
        self.tag = self._control(path, _result_names(tasks))
        records: list[ExportRecord] = []
        for n, task in enumerate(tasks):
            record = self._task_record(path, n, task, kind)
            if record is None:
                self.report["skipped_unlabelled"] += 1
            else:
                records.append(record)
        return records

    def _task_record(
        self, path: Path, n: int, task: dict[str, Any], kind: str
    ) -> ExportRecord | None:
        where = f"{path}: task {n}" + (f" (id {task['id']})" if task.get("id") is not None else "")
        data = task["data"]
        text = self._text(where, data)
        distil_data = data.get("distil") if isinstance(data.get("distil"), dict) else {}
        example_id = data.get("distil_id") or task.get("id") or f"{path.stem}-{n}"
        example = make_example(where, None, example_id, text, distil_data.get("meta"))
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise distil.DataError(f'{where}: "annotations" is not a list')
        self.report["cancelled_annotations"] += sum(
            1 for a in annotations if isinstance(a, dict) and a.get("was_cancelled")
        )
        annotation = _latest_annotation(annotations)
        if annotation is not None:
            annotator = _annotator(annotation.get("completed_by"))
            output = self._output(where, text, annotation.get("result") or [], kind)
            return ExportRecord(
                example, output, source=f"human:{annotator}", annotator=annotator, answer="correct"
            )
        predictions = task.get("predictions") or []
        if not isinstance(predictions, list):
            raise distil.DataError(f'{where}: "predictions" is not a list')
        objects = [p for p in predictions if isinstance(p, dict)]
        if not objects:
            if predictions:  # Label Studio's own export: prediction ids, no labels to read
                self.report["predictions_as_ids"] += 1
            return None
        prediction = objects[0]
        score = prediction.get("score")
        return ExportRecord(
            example,
            self._output(where, text, prediction.get("result") or [], kind),
            source=_prediction_source(prediction, data),
            annotator=distil_data.get("annotator"),
            answer=distil_data.get("answer"),
            pass_name=distil_data.get("pass"),
            confidence=float(score) if isinstance(score, int | float) else None,
        )

    def _text(self, where: str, data: dict[str, Any]) -> str:
        text = data.get(self.text_key)
        if text is None:
            strings = [v for k, v in data.items() if isinstance(v, str) and k != "distil_id"]
            text = strings[0] if len(strings) == 1 else None
        if not isinstance(text, str):
            raise distil.DataError(
                f"{where}: no {self.text_key!r} in its data (pass text_key= to name the field)"
            )
        return text

    def _output(self, where: str, text: str, result: Any, kind: str) -> Output:
        if not isinstance(result, list):
            raise distil.DataError(f'{where}: "result" is not a list')
        items = [r for r in result if isinstance(r, dict)]
        if len(items) != len(result):
            raise distil.DataError(f"{where}: a result item is not an object")
        labels: list[str] = []
        spans: list[distil.Span] = []
        for item in items:
            if item.get("from_name", self.tag) != self.tag:
                continue
            value = item.get("value")
            if not isinstance(value, dict):
                raise distil.DataError(f'{where}: a result item has no "value" object')
            if item.get("type") == "choices" or "choices" in value:
                labels.extend(str(x) for x in value.get("choices") or [])
            elif "labels" in value and "start" in value:
                spans.extend(_spans(where, text, value))
        return _make_output(where, text, labels, spans, kind)

    # -- JSON-MIN: flat rows -------------------------------------------------------------------

    def _read_min(self, path: Path, rows: list[dict[str, Any]]) -> list[ExportRecord]:
        self.tag = self._control(path, self._min_names(rows))
        kind = self.kind
        if kind == "auto":
            kind = "spans" if any(_is_span_list(r.get(self.tag)) for r in rows) else "categories"
        latest: dict[str, tuple[tuple[str, int], ExportRecord]] = {}
        for n, row in enumerate(rows):
            where = f"{path}: row {n}" + (f" (id {row['id']})" if row.get("id") is not None else "")
            if row.get("annotation_id") is None and self.tag not in row:
                self.report["skipped_unlabelled"] += 1
                continue
            record = self._min_record(path, n, where, row, kind)
            when = (str(row.get("updated_at") or row.get("created_at") or ""), n)
            key = record.example.id
            if key not in latest or when > latest[key][0]:
                latest[key] = (when, record)
        return [record for _, record in latest.values()]

    def _min_record(
        self, path: Path, n: int, where: str, row: dict[str, Any], kind: str
    ) -> ExportRecord:
        data = {k: v for k, v in row.items() if k not in MIN_KEYS and k != self.tag}
        text = self._text(where, data)
        distil_data = row.get("distil") if isinstance(row.get("distil"), dict) else {}
        example_id = row.get("distil_id") or row.get("id") or f"{path.stem}-{n}"
        example = make_example(where, None, example_id, text, distil_data.get("meta"))
        value = row.get(self.tag)
        labels: list[str] = []
        spans: list[distil.Span] = []
        if isinstance(value, str):
            labels = [value]
        elif isinstance(value, dict) and "choices" in value:
            labels = [str(x) for x in value.get("choices") or []]
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    labels.append(item)
                elif isinstance(item, dict) and "choices" in item:
                    labels.extend(str(x) for x in item.get("choices") or [])
                elif isinstance(item, dict) and "start" in item:
                    spans.extend(_spans(where, text, item))
                else:
                    raise distil.DataError(
                        f"{where}: {self.tag!r} holds {item!r}, neither a label nor a span"
                    )
        elif value is not None:
            raise distil.DataError(
                f"{where}: {self.tag!r} is {type(value).__name__}, not a label or a list"
            )
        annotator = _annotator(row.get("annotator"))
        return ExportRecord(
            example,
            _make_output(where, text, labels, spans, kind),
            source=f"human:{annotator}",
            annotator=annotator,
            answer="correct",
        )


def _make_output(
    where: str, text: str, labels: list[str], spans: list[distil.Span], kind: str
) -> Output:
    if spans or kind == "spans":
        if labels:
            raise distil.DataError(f"{where}: the result mixes choices and spans")
        check_spans(where, None, text, spans)
        return distil.Spans(spans=sorted(spans, key=lambda s: (s.start, s.end, s.label)))
    return distil.Categories(labels=labels)


def _spans(where: str, text: str, value: dict[str, Any]) -> list[distil.Span]:
    """The spans of one ``labels`` value, offsets in code points (see the module docstring)."""
    start, end = value.get("start"), value.get("end")
    if not isinstance(start, int) or not isinstance(end, int):
        raise distil.DataError(f"{where}: span offsets {start!r}-{end!r} are not integers")
    quoted = value.get("text")
    if isinstance(quoted, str) and text[start:end] != quoted:
        converted = _from_utf16(text, start, end)
        if converted is None or text[converted[0] : converted[1]] != quoted:
            raise distil.DataError(
                f"{where}: span {start}-{end} is {text[start:end]!r} in the text, but Label Studio"
                f" says {quoted!r}: is this the export of another text?"
            )
        start, end = converted
    return [make_span(where, None, start, end, label) for label in value.get("labels") or []]


def _from_utf16(text: str, start: int, end: int) -> tuple[int, int] | None:
    """UTF-16 code-unit offsets of ``text`` as code-point offsets; None when they split a pair."""
    positions: dict[int, int] = {}
    units = 0
    for index, char in enumerate(text):
        positions[units] = index
        units += 2 if ord(char) > 0xFFFF else 1
    positions[units] = len(text)
    if start not in positions or end not in positions:
        return None
    return positions[start], positions[end]


def _prediction_source(prediction: dict[str, Any], data: dict[str, Any]) -> str | None:
    """Its ``model_version``; without one, None for a task distil wrote (a gold label has no
    model) and ``labelstudio:prediction`` for any other: a machine's label, not a human's."""
    if prediction.get("model_version"):
        return str(prediction["model_version"])
    return None if "distil_id" in data else "labelstudio:prediction"


def _annotator(who: Any) -> str:
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return str(who) if who not in (None, "") else "labelstudio"


def _latest_annotation(annotations: list[Any]) -> dict[str, Any] | None:
    """The last annotation that is not cancelled, by ``updated_at``/``created_at`` then order."""
    live = [
        (str(a.get("updated_at") or a.get("created_at") or ""), n, a)
        for n, a in enumerate(annotations)
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    return max(live, key=lambda x: (x[0], x[1]))[2] if live else None


def _is_span_list(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(x, dict) and "start" in x for x in value)


def _result_names(tasks: list[dict[str, Any]]) -> set[str]:
    """Every ``from_name`` in the file's annotations and prediction objects."""
    names = set()
    for task in tasks:
        for group in ("annotations", "predictions"):
            entries = task.get(group)
            for entry in entries if isinstance(entries, list) else []:
                result = entry.get("result") if isinstance(entry, dict) else None
                for item in result if isinstance(result, list) else []:
                    if isinstance(item, dict) and isinstance(item.get("from_name"), str):
                        names.add(item["from_name"])
    return names


def _any_labels_result(tasks: list[dict[str, Any]]) -> bool:
    for task in tasks:
        for group in ("annotations", "predictions"):
            entries = task.get(group)
            for entry in entries if isinstance(entries, list) else []:
                result = entry.get("result") if isinstance(entry, dict) else None
                for item in result if isinstance(result, list) else []:
                    if isinstance(item, dict) and item.get("type") in ("labels", "hypertextlabels"):
                        return True
    return False
