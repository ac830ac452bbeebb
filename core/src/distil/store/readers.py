"""Read the data users have: JSONL, CSV/TSV, Parquet, a saved Hugging Face dataset, plain text.

One entry point, :func:`read_data`, picks the reader from the path (:func:`detect_format`) and
returns the same :class:`~distil.store.jsonl.JsonlResult` contract for every format:

* **Bad rows never stop a load.** Each is a :class:`~distil.store.jsonl.LineError`
  (``file:line: reason``; for Parquet and Hugging Face data the 1-based row number), logged on
  the ``distil.data`` logger, appended to the quarantine file when one is given, and every other
  row loads: an empty text, a missing field, an undecodable byte, a lone surrogate (which SQLite
  could not store), a duplicate id.
* **A bad header is an error.** A required column that is not there is a
  :class:`~distil.errors.DataError` naming the file, the columns found and the closest match.
* **Ids are stable.** Tabular rows without an id column, and every line of a text file, get
  :func:`text_id`: a prefix of the SHA-256 of the text (the same on every run and platform), not a
  line number, so inserting, removing or reordering rows elsewhere in the file keeps every other
  row's id, and so its stored predictions and annotations. The n-th repeat of a text gets
  ``-n`` appended (the first keeps the bare hash).

JSONL files keep the shared schema (:mod:`distil.store.jsonl`); the column mapping
(:class:`ColumnMapping`) applies to the tabular formats. Tabular files carry labels only: NER
spans are read from JSONL.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from ..errors import DataError
from ..records import Example
from ..suggest import did_you_mean
from .jsonl import MAX_LINE_BYTES, JsonlResult, LineError, logger, read_jsonl

__all__ = [
    "FORMATS",
    "ColumnMapping",
    "detect_format",
    "file_sha256",
    "file_stat",
    "guess_mapping",
    "read_columns",
    "read_data",
    "text_id",
]

#: The formats :func:`read_data` reads (``[data] format``); ``auto`` detects from the path.
FORMATS = ("jsonl", "csv", "tsv", "parquet", "hf", "text")
SUFFIXES = {
    ".jsonl": "jsonl",
    ".json-lines": "jsonl",
    ".jsonlines": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
}
TABULAR = ("csv", "tsv", "parquet", "hf")
#: Header names taken as the text / label / id column when the mapping does not name one, in
#: order of preference (compared case-insensitively).
TEXT_NAMES = (
    "text",
    "sentence",
    "utterance",
    "content",
    "message",
    "document",
    "body",
    "review",
    "comment",
    "tweet",
    "query",
    "question",
    "input",
)
LABEL_NAMES = (
    "label",
    "labels",
    "intent",
    "category",
    "categories",
    "class",
    "target",
    "topic",
    "sentiment",
    "emotion",
    "emotions",
    "tag",
    "tags",
)
ID_NAMES = ("id", "uid", "guid", "example_id", "idx")
#: Columns that hold NER spans in other tools' tables: never read as labels.
SPAN_NAMES = ("spans", "entities", "ner_tags")
_SURROGATE = re.compile("[\ud800-\udfff]")
_RAW_PREVIEW = 2_000


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a table hold the text, the label(s) and the id (``[data]`` keys).

    A column left as None is looked for by name (:data:`TEXT_NAMES`, :data:`LABEL_NAMES`,
    :data:`ID_NAMES`). ``label_separator`` splits one cell into several labels (multi-label,
    e.g. ``"|"``); without it a cell is one label. An empty label cell means the row has no label.
    """

    text_column: str | None = None
    label_column: str | None = None
    label_separator: str | None = None
    id_column: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "text_column": self.text_column,
            "label_column": self.label_column,
            "label_separator": self.label_separator,
            "id_column": self.id_column,
        }


@dataclass(frozen=True)
class _Columns:
    """A mapping resolved against one header: every name is a column that exists."""

    text: str
    label: str | None
    id: str | None
    separator: str | None
    class_names: dict[str, list[str]] = field(default_factory=dict)


def text_id(text: str) -> str:
    """The id of a row that has none: the first 16 hex digits of the SHA-256 of its UTF-8 text.

    The same as :attr:`Example.text_hash`, so it is stable across runs, machines and Python
    versions (``hash()`` is not). A text with a lone surrogate is hashed with it escaped.
    """
    data = text.encode("utf-8", errors="backslashreplace")
    return hashlib.sha256(data).hexdigest()[:16]


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The format of ``path``: ``fmt`` when given (one of :data:`FORMATS`), else from the path.

    A folder holding ``dataset_info.json`` is a Hugging Face dataset saved with
    ``save_to_disk``; files go by suffix. Raises :class:`DataError` when it cannot tell.
    """
    path = Path(path)
    if fmt not in (None, "", "auto"):
        if fmt not in FORMATS:
            raise DataError(f"{path}: unknown data format {fmt!r}; choose from {list(FORMATS)}")
        return fmt
    if path.is_dir():
        if (path / "dataset_info.json").is_file():
            return "hf"
        if (path / "dataset_dict.json").is_file():
            splits = sorted(p.name for p in path.iterdir() if (p / "dataset_info.json").is_file())
            raise DataError(
                f"{path}: a Hugging Face DatasetDict with splits {splits}; point [data] at one "
                f"split's folder, e.g. {path / (splits[0] if splits else 'train')}"
            )
        raise DataError(
            f"{path}: is a folder without dataset_info.json; expected a data file or a "
            "Hugging Face dataset saved with save_to_disk"
        )
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(SUFFIXES))
        raise DataError(
            f"{path}: cannot tell the format from the suffix {path.suffix or '(none)'!r}; "
            f"rename the file ({known}) or set [data] format to one of {list(FORMATS)}"
        )
    return fmt


def read_data(
    path: str | Path,
    fmt: str | None = None,
    *,
    mapping: ColumnMapping | None = None,
    quarantine: str | Path | None = None,
) -> JsonlResult:
    """Read examples from ``path`` in any supported format (see the module docstring).

    ``fmt`` forces a format (:data:`FORMATS`; None or ``"auto"`` detects it); ``mapping`` names
    the columns of tabular files and is ignored for JSONL and text files; bad rows are appended to
    ``quarantine`` as JSONL ``{"path", "line", "reason", "raw"}``. Raises :class:`DataError` for a
    missing or unreadable file, an unknown format or a header without the needed columns.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path (relative to {Path.cwd()})")
    kind = detect_format(path, fmt)
    mapping = mapping or ColumnMapping()
    if kind == "jsonl":
        return read_jsonl(path, quarantine=quarantine)
    sink = _Sink(path, quarantine)
    with sink:
        if kind == "text":
            _read_text(path, sink)
        elif kind in ("csv", "tsv"):
            _read_delimited(path, "\t" if kind == "tsv" else ",", mapping, sink)
        elif kind == "parquet":
            _read_records(path, *_parquet_rows(path), mapping, sink)
        else:
            _read_records(path, *_hf_rows(path), mapping, sink)
    return sink.result


# -- results and quarantine -----------------------------------------------------------------------


class _Sink:
    """Collects examples in order and reports bad rows: logged, kept, quarantined."""

    def __init__(self, path: Path, quarantine: str | Path | None) -> None:
        self.path = path
        self.qpath = Path(quarantine) if quarantine is not None else None
        self.result = JsonlResult()
        self._handle: IO[str] | None = None
        self._seen: dict[str, int] = {}
        self._repeats: Counter[str] = Counter()

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def hashed_id(self, text: str) -> str:
        base = text_id(text)
        self._repeats[base] += 1
        n = self._repeats[base]
        return base if n == 1 else f"{base}-{n}"

    def add(self, line: int, example: Example, raw: str) -> None:
        first = self._seen.get(example.id)
        if first is not None:
            self.error(line, f"duplicate id {example.id!r} (first seen on line {first})", raw)
            return
        self._seen[example.id] = line
        self.result.examples.append(example)

    def error(self, line: int, reason: str, raw: str) -> None:
        raw = _printable(raw)[:_RAW_PREVIEW]
        error = LineError(self.path, line, reason, raw)
        self.result.errors.append(error)
        logger.warning("%s:%d: %s", error.path, error.line, error.reason)
        if self.qpath is None:
            return
        if self._handle is None:
            self.qpath.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.qpath.open("a", encoding="utf-8")
            self.result.quarantine_path = self.qpath
        entry = {"path": str(self.path), "line": line, "reason": reason, "raw": raw}
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._handle.flush()


def _printable(text: str) -> str:
    """``text`` with undecodable bytes (``\\xff``) and lone surrogates (``\\ud83d``) escaped."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"

    return _SURROGATE.sub(escape, text)


def _surrogate_reason(value: str, where: str) -> str | None:
    match = _SURROGATE.search(value)
    if match is None:
        return None
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # how surrogateescape decoding keeps an undecodable byte
        return f"invalid UTF-8 byte 0x{code - 0xDC00:02x} in {where} at character {match.start()}"
    return (
        f"lone surrogate U+{code:04X} in {where} at character {match.start()} (not valid Unicode)"
    )


# -- plain text -----------------------------------------------------------------------------------


def _open_text(path: Path) -> IO[str]:
    """Open as UTF-8 (a byte-order mark skipped), undecodable bytes kept as surrogate escapes,
    so that one bad byte spoils only its own row; line endings are left to the caller."""
    try:
        return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None


def _read_text(path: Path, sink: _Sink) -> None:
    """One unlabelled example per non-blank line; the id is :func:`text_id` of the line."""
    with _open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            reason = _surrogate_reason(text, "the line")
            if reason is not None:
                sink.error(line_no, reason, text)
                continue
            sink.add(line_no, Example(id=sink.hashed_id(text), text=text), text)


# -- tables ---------------------------------------------------------------------------------------


def _closest(name: str, columns: list[str]) -> str | None:
    return did_you_mean(name, columns, cutoff=0.4)


def _missing(path: Path, what: str, name: str, columns: list[str], key: str) -> DataError:
    match = _closest(name, columns)
    hint = f"did you mean {match!r}? " if match else ""
    return DataError(
        f"{path}: no {what} column {name!r}; the header has {columns}; {hint}"
        f"set [data] {key} (distil init --{key.replace('_', '-')}) to one of the columns"
    )


def _find(
    columns: list[str], names: Iterable[str], exclude: Iterable[str | None] = ()
) -> str | None:
    """The first column whose name (case-insensitively) is one of ``names``."""
    taken = {c for c in exclude if c}
    lowered = {c.lower(): c for c in columns if c not in taken}
    return next((lowered[n] for n in names if n in lowered), None)


def guess_mapping(
    path: str | Path,
    columns: list[str],
    mapping: ColumnMapping | None = None,
    string_columns: list[str] | None = None,
) -> ColumnMapping:
    """The mapping for a table with these ``columns``: ``mapping``'s names checked, the rest
    found by name; the text column, if still unknown, is the one string column left.

    ``string_columns`` (None: all) are the columns that may hold text. Raises :class:`DataError`
    when a named column is missing, or no text column can be found, naming the columns.
    """
    path, mapping = Path(path), mapping or ColumnMapping()
    for key, name in (
        ("text_column", mapping.text_column),
        ("label_column", mapping.label_column),
        ("id_column", mapping.id_column),
    ):
        if name is not None and name not in columns:
            raise _missing(path, key.split("_")[0], name, columns, key)
    if mapping.label_column is not None and mapping.label_column.lower() in SPAN_NAMES:
        raise DataError(
            f"{path}: label_column {mapping.label_column!r} looks like NER spans; spans are not "
            "read from tables (labels only): write the file as JSONL in the shared schema "
            "(docs/data.md)"
        )
    id_col = mapping.id_column or _find(columns, ID_NAMES, [mapping.text_column])
    label = mapping.label_column or _find(columns, LABEL_NAMES, [mapping.text_column, id_col])
    text = mapping.text_column or _find(columns, TEXT_NAMES, [label, id_col])
    if text is None:
        candidates = [
            c
            for c in (string_columns if string_columns is not None else columns)
            if c not in (label, id_col) and c.lower() not in SPAN_NAMES
        ]
        if len(candidates) == 1:
            text = candidates[0]
    if text is None:
        raise DataError(
            f"{path}: cannot tell which column holds the text; the header has {columns}. "
            "Set [data] text_column (distil init --text-column NAME)"
            + ("" if label else ", and label_column for the labels (--label-column NAME)")
        )
    if label is None and _find(columns, SPAN_NAMES):
        raise DataError(
            f"{path}: has a {_find(columns, SPAN_NAMES)!r} column but no label column; NER spans "
            "are not read from tables (labels only): write the file as JSONL in the shared "
            "schema (docs/data.md), or set [data] label_column for the labels"
        )
    return ColumnMapping(text, label, mapping.label_separator, id_col)


def _resolve(
    path: Path,
    columns: list[str],
    mapping: ColumnMapping,
    string_columns: list[str] | None = None,
    class_names: dict[str, list[str]] | None = None,
) -> _Columns:
    found = guess_mapping(path, columns, mapping, string_columns)
    assert found.text_column is not None
    return _Columns(
        found.text_column,
        found.label_column,
        found.id_column,
        found.label_separator,
        class_names or {},
    )


def _labels(value: Any, cols: _Columns) -> list[str] | None:
    """The labels of one cell: None when empty; a list cell or ``separator`` gives several."""
    names = cols.class_names.get(cols.label or "")
    values = value if isinstance(value, list | tuple) else [value]
    labels: list[str] = []
    for item in values:
        if item is None:
            continue
        if names is not None and isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item < len(names):
                raise ValueError(f"label id {item} is not one of the {len(names)} class names")
            labels.append(names[item])
            continue
        text = str(item).strip()
        parts = text.split(cols.separator) if cols.separator else [text]
        labels.extend(p.strip() for p in parts if p.strip())
    if not labels and not isinstance(value, list | tuple):
        return None
    return list(dict.fromkeys(labels))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _example(record: Mapping[str, Any], cols: _Columns, sink: _Sink) -> Example:
    """One row as an Example; raises ValueError with the reason when the row is bad."""
    text = record.get(cols.text)
    if text is None or (isinstance(text, str) and not text.strip()):
        raise ValueError(f"empty text in column {cols.text!r}")
    if not isinstance(text, str):
        raise ValueError(f"text in column {cols.text!r} is {type(text).__name__}, not a string")
    for column, value in record.items():
        if isinstance(value, str) and (reason := _surrogate_reason(value, f"column {column!r}")):
            raise ValueError(reason)
    if cols.id is not None:
        raw_id = record.get(cols.id)
        ex_id = "" if raw_id is None else str(raw_id).strip()
        if not ex_id:
            raise ValueError(f"empty id in column {cols.id!r}")
    else:
        ex_id = sink.hashed_id(text)
    labels = _labels(record.get(cols.label), cols) if cols.label is not None else None
    used = {cols.text, cols.label, cols.id}
    meta = {k: _jsonable(v) for k, v in record.items() if k not in used}
    try:
        return Example(id=ex_id, text=text, labels=labels, meta=meta)
    except ValidationError as exc:
        raise ValueError(f"invalid example: {exc.errors()[0]['msg']}") from None


def _csv_raw(fields: list[str], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(fields)
    return out.getvalue()


def _header(path: Path, reader: Iterator[list[str]]) -> list[str]:
    for row in reader:
        if any(cell.strip() for cell in row):
            columns = [cell.strip() for cell in row]
            reason = next(
                (r for c in columns if (r := _surrogate_reason(c, "the header")) is not None),
                None,
            )
            if reason is not None:
                raise DataError(f"{path}: {reason}; save the file as UTF-8")
            blank = [i + 1 for i, c in enumerate(columns) if not c]
            dupes = sorted(c for c, n in Counter(columns).items() if n > 1 and c)
            if blank or dupes:
                what = f"empty column name(s) at position {blank}" if blank else ""
                what += ("; " if what else "") + (f"repeated column(s) {dupes}" if dupes else "")
                raise DataError(f"{path}: the header has {what}: {columns}; name each column once")
            return columns
    raise DataError(f"{path}: is empty; expected a header row naming the columns")


def read_columns(path: str | Path, fmt: str | None = None) -> tuple[list[str], list[str]]:
    """The column names of a table and those that may hold text (all, for CSV/TSV)."""
    path = Path(path)
    kind = detect_format(path, fmt)
    if kind in ("csv", "tsv"):
        with _open_text(path) as handle:
            columns = _header(path, csv.reader(handle, delimiter="\t" if kind == "tsv" else ","))
        return columns, columns
    if kind == "parquet":
        columns, strings, _rows, _names = _parquet_rows(path)
        return columns, strings
    if kind == "hf":
        columns, strings, _rows, _names = _hf_rows(path)
        return columns, strings
    raise DataError(f"{path}: a {kind} file has no columns to map")


def _read_delimited(path: Path, delimiter: str, mapping: ColumnMapping, sink: _Sink) -> None:
    # The csv module refuses a field over 131,072 characters: a text the JSONL reader takes
    # (up to its 1 MB line cap) would be quarantined from a CSV. Raise it to the same cap.
    if csv.field_size_limit() < MAX_LINE_BYTES:
        csv.field_size_limit(MAX_LINE_BYTES)
    with _open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        columns = _header(path, reader)
        cols = _resolve(path, columns, mapping)
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                sink.error(start, f"malformed {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}", "")
                continue
            if not any(cell.strip() for cell in fields):
                continue
            raw = _csv_raw(fields, delimiter)
            if len(fields) != len(columns):
                # A short row is most often half of a text broken by an unquoted line break.
                reason = f"the row has {len(fields)} field(s), the header {len(columns)}"
                if len(fields) < len(columns):
                    reason = f"missing column {columns[len(fields)]!r} ({reason})"
                else:
                    reason += " (an unquoted delimiter in a text?)"
                sink.error(start, reason, raw)
                continue
            # Line endings inside a quoted cell are read as "\n" whatever the file uses.
            record = {c: v.replace("\r\n", "\n") for c, v in zip(columns, fields, strict=False)}
            _add(sink, start, record, cols, raw)


def _add(sink: _Sink, line: int, record: Mapping[str, Any], cols: _Columns, raw: str) -> None:
    try:
        example = _example(record, cols, sink)
    except ValueError as exc:
        sink.error(line, str(exc), raw)
        return
    sink.add(line, example, raw)


def _read_records(
    path: Path,
    columns: list[str],
    strings: list[str],
    rows: Iterator[dict[str, Any]],
    names: dict[str, list[str]],
    mapping: ColumnMapping,
    sink: _Sink,
) -> None:
    """Parquet and Hugging Face rows: numbered from 1, as the rows of a table."""
    cols = _resolve(path, columns, mapping, strings, names)
    for row_no, record in enumerate(rows, start=1):
        raw = json.dumps(_jsonable(record), ensure_ascii=False)
        _add(sink, row_no, record, cols, raw)


# -- Parquet and Hugging Face (optional libraries, imported when such a file is read) -------------


def _pyarrow(path: Path, extra: str) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise DataError(
            f"{path}: reading {extra} needs pyarrow: pip install pyarrow (or distil[parquet])"
        ) from None
    return pyarrow


def _is_string(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


_Rows = tuple[list[str], list[str], Iterator[dict[str, Any]], dict[str, list[str]]]


def _parquet_rows(path: Path) -> _Rows:
    _pyarrow(path, "Parquet")
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...: all say "unreadable"
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    schema = handle.schema_arrow
    columns = list(schema.names)
    strings = [f.name for f in schema if _is_string(f.type)]

    def rows() -> Iterator[dict[str, Any]]:
        for batch in handle.iter_batches(batch_size=1024):
            yield from batch.to_pylist()

    return columns, strings, rows(), {}


def _class_names(features: Mapping[str, Any]) -> dict[str, list[str]]:
    """Column → label names for ClassLabel features (and sequences of them) in dataset_info."""
    names: dict[str, list[str]] = {}
    for column, feature in features.items():
        if isinstance(feature, dict) and feature.get("_type") in ("Sequence", "List", "LargeList"):
            feature = feature.get("feature")
        if isinstance(feature, dict) and feature.get("_type") == "ClassLabel":
            names[column] = list(feature.get("names") or [])
    return names


def _hf_rows(path: Path) -> _Rows:
    """A ``save_to_disk`` folder: its Arrow files in order (state.json), with pyarrow.

    The layout is the one ``datasets`` writes (``dataset_info.json``, ``state.json`` listing
    ``_data_files``, Arrow IPC streams), so ``datasets`` itself is not needed to read it.
    """
    try:
        info = json.loads((path / "dataset_info.json").read_text(encoding="utf-8"))
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
        files = [path / entry["filename"] for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path}: not a readable Hugging Face dataset folder ({exc}); save it with "
            "Dataset.save_to_disk(path)"
        ) from None
    pa = _pyarrow(path, "a Hugging Face dataset")
    try:
        with pa.memory_map(str(files[0])) as source:
            schema = pa.ipc.open_stream(source).schema
    except (OSError, IndexError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: cannot read its Arrow data ({exc})") from None
    columns = list(schema.names)
    strings = [f.name for f in schema if _is_string(f.type)]

    def rows() -> Iterator[dict[str, Any]]:
        for file in files:
            with pa.memory_map(str(file)) as source:
                for batch in pa.ipc.open_stream(source):
                    yield from batch.to_pylist()

    return columns, strings, rows(), _class_names(info.get("features") or {})


# -- change detection -----------------------------------------------------------------------------


def _files_of(path: Path) -> list[Path]:
    """The files whose bytes make up ``path``: itself, or every file in a dataset folder."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def file_stat(path: str | Path) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a data file (of a folder: the total size, the newest mtime).

    The fast path of change detection: equal values mean the file is taken as unchanged.
    """
    stats = [p.stat() for p in _files_of(Path(path))]
    return sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a data file's bytes (of a folder: of each file's relative name and bytes)."""
    path = Path(path)
    digest = hashlib.sha256()
    for file in _files_of(path):
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
