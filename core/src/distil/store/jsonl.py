"""JSONL in and out: the exchange format of distil (see ``shared/data/README.md``).

Reading is forgiving line by line and strict about the file: a malformed line never stops a load.
It is reported (:class:`LineError`, with its 1-based line number and a reason), logged as a warning
on the ``distil.data`` logger as ``"{path}:{line}: {reason}"``, and optionally appended to a
quarantine file, while every other line loads. A missing file is a
:class:`~distil.errors.DataError`.

Lines are read in binary mode so the size cap applies before decoding, and nesting depth is checked
with a scan before :func:`json.loads` (whose recursion would otherwise blow up on ``[[[[…``).
Writing is atomic: a reader never sees a half-written file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from ..errors import DataError
from ..records import Example

__all__ = ["JsonlResult", "LineError", "iter_jsonl_dicts", "read_jsonl", "write_jsonl"]

logger = logging.getLogger("distil.data")

MAX_LINE_BYTES = 1_000_000
MAX_DEPTH = 32
# The keys an Example reads from the top level of a row; any other key goes into ``meta``.
_EXAMPLE_KEYS = ("id", "text", "labels", "spans", "meta")
# How much of an over-size line is kept in errors and quarantine (the rest is skipped unread).
_RAW_PREVIEW_BYTES = 2_000
_CHUNK = 1 << 16
# Strings (which may hold brackets) or a bracket: the tokens that decide nesting depth.
_DEPTH_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
# A \uD800-\uDFFF escape: valid JSON, but alone it is no Unicode character (UTF-8 cannot hold it).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class LineError:
    """One line that did not load: where it is, why, and its text (a prefix if it was over-size)."""

    path: Path
    line: int
    reason: str
    raw: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class JsonlResult:
    """What :func:`read_jsonl` loaded.

    ``examples`` are in file order; ``errors`` lists the lines that did not load, in file order;
    ``quarantine_path`` is the file the bad lines were appended to (None when nothing was).
    """

    examples: list[Example] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    quarantine_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _too_deep(line: bytes, max_depth: int) -> bool:
    """True when the JSON text nests arrays/objects deeper than ``max_depth`` (no recursion)."""
    if line.count(b"[") + line.count(b"{") <= max_depth:
        return False  # cannot be deeper than the number of openers: the common, fast case
    depth = 0
    for match in _DEPTH_TOKENS.finditer(line):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _read_lines(handle: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes, int | None]]:
    """Yield ``(line_no, content, oversize)``; ``oversize`` is the full byte length of a line over
    the cap (its ``content`` then only a prefix), else None. A line's end-of-line is stripped."""
    line_no = 0
    while True:
        chunk = handle.readline(max_line_bytes + 1)
        if not chunk:
            return
        line_no += 1
        content = chunk.rstrip(b"\r\n")
        if len(content) <= max_line_bytes:
            yield line_no, content, None
            continue
        # Over the cap: skip the rest of the line without holding it in memory.
        size = len(content)
        ended = chunk.endswith(b"\n")
        while not ended:
            more = handle.readline(_CHUNK)
            if not more:
                break
            ended = more.endswith(b"\n")
            size += len(more.rstrip(b"\r\n"))
        yield line_no, content[:_RAW_PREVIEW_BYTES], size


def _decode(content: bytes, line_no: int) -> tuple[str, str | None]:
    """The line as text, and a reason when it is not valid UTF-8."""
    if line_no == 1 and content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]  # a UTF-8 byte-order mark, as some editors write
    try:
        return content.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        raw = content.decode("utf-8", errors="backslashreplace")
        return raw, f"invalid UTF-8 at byte offset {exc.start}: {exc.reason}"


def _scan(
    path: Path, max_line_bytes: int, max_depth: int
) -> Iterator[tuple[int, str, dict[str, Any] | LineError]]:
    """Yield ``(line_no, text, row_or_error)`` for each non-blank line (see iter_jsonl_dicts)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise DataError(
            f"{path}: file not found; check the path (relative to {Path.cwd()})"
        ) from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a JSONL file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None
    with handle:
        for line_no, content, oversize in _read_lines(handle, max_line_bytes):
            if oversize is not None:
                raw = content.decode("utf-8", errors="replace")
                too_big = f"line is {oversize} bytes, over the limit of {max_line_bytes}"
                yield line_no, raw, LineError(path, line_no, too_big, raw)
                continue
            if not content.strip():
                continue
            text, reason = _decode(content, line_no)
            if reason is None and _too_deep(content, max_depth):
                reason = f"JSON nested deeper than {max_depth} levels"
            if reason is None:
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    reason = f"invalid JSON: {exc.msg} at column {exc.colno}"
                except RecursionError:  # pragma: no cover - the depth scan should prevent this
                    reason = f"JSON nested deeper than {max_depth} levels"
                else:
                    if _SURROGATE_ESCAPE.search(content):
                        reason = _lone_surrogate(row)
                    if reason is None and isinstance(row, dict):
                        yield line_no, text, row
                        continue
                    reason = reason or f"expected a JSON object, got {type(row).__name__}"
            yield line_no, text, LineError(path, line_no, reason, text)


def _lone_surrogate(value: Any) -> str | None:
    """Why a decoded row cannot be stored, when one of its strings holds a lone surrogate.

    ``json.loads`` accepts ``"\\ud800"``, but such a string cannot be encoded as UTF-8, so the
    store (and every JSONL writer) would fail on it later, far from the file and line.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            match = _SURROGATE.search(item)
            if match is not None:
                return (
                    f"lone UTF-16 surrogate \\u{ord(match.group()):04x} in a string "
                    "(not a Unicode character; the text cannot be stored as UTF-8)"
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def iter_jsonl_dicts(
    path: str | Path,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Iterator[tuple[int, dict[str, Any] | LineError]]:
    """Yield ``(line_no, row)`` for each non-blank line: the JSON object, or a :class:`LineError`.

    The building block of :func:`read_jsonl` and of importers of other tools' JSONL: it checks
    size, encoding, nesting depth, JSON syntax and that each line is an object, and nothing else.
    It neither logs nor quarantines. Raises :class:`DataError` when the file cannot be opened.
    """
    for line_no, _text, row in _scan(Path(path), max_line_bytes, max_depth):
        yield line_no, row


def _example_from_row(row: dict[str, Any]) -> Example:
    """Build an Example; top-level keys it does not know go into ``meta`` (explicit meta wins)."""
    if "id" not in row:
        raise ValueError("missing 'id' (every row needs a unique string id)")
    meta = row.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"'meta' must be an object, got {type(meta).__name__}")
    extra = {key: value for key, value in row.items() if key not in _EXAMPLE_KEYS}
    data = {key: row[key] for key in _EXAMPLE_KEYS if key in row}
    data["meta"] = {**extra, **meta}
    return Example.model_validate(data)


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "invalid example: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def read_jsonl(
    path: str | Path,
    *,
    quarantine: str | Path | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_depth: int = MAX_DEPTH,
) -> JsonlResult:
    """Read examples from a JSONL file in the shared schema, skipping (and reporting) bad lines.

    A row is ``{"id", "text", "labels"?, "spans"?, "meta"?, ...}``; other top-level keys go into
    ``Example.meta`` so that rows from other tools still load. Blank lines are skipped. Bad lines —
    over ``max_line_bytes``, invalid UTF-8, nested deeper than ``max_depth``, invalid JSON, not an
    object, a missing ``id``, failing validation, an ``id`` already seen (the first one is kept) —
    go to ``errors``, are logged on ``distil.data``, and are appended to ``quarantine`` when given
    as JSONL rows ``{"path", "line", "reason", "raw"}``. Raises :class:`DataError` for a missing
    file.
    """
    path = Path(path)
    result = JsonlResult()
    seen: dict[str, int] = {}
    qpath = Path(quarantine) if quarantine is not None else None
    qhandle: IO[str] | None = None
    try:
        for line_no, text, row in _scan(path, max_line_bytes, max_depth):
            error: LineError | None = None
            if isinstance(row, LineError):
                error = row
            else:
                try:
                    example = _example_from_row(row)
                except ValidationError as exc:
                    reason = _validation_reason(exc)
                except ValueError as exc:
                    reason = str(exc)
                else:
                    first = seen.get(example.id)
                    if first is None:
                        seen[example.id] = line_no
                        result.examples.append(example)
                        continue
                    reason = f"duplicate id {example.id!r} (first seen on line {first})"
                error = LineError(path, line_no, reason, text)
            result.errors.append(error)
            logger.warning("%s:%d: %s", error.path, error.line, error.reason)
            if qpath is not None:
                if qhandle is None:
                    qpath.parent.mkdir(parents=True, exist_ok=True)
                    qhandle = qpath.open("a", encoding="utf-8")
                    result.quarantine_path = qpath
                entry = {
                    "path": str(path),
                    "line": line_no,
                    "reason": error.reason,
                    "raw": error.raw,
                }
                qhandle.write(json.dumps(entry, ensure_ascii=False) + "\n")
                qhandle.flush()
    finally:
        if qhandle is not None:
            qhandle.close()
    return result


def _row_to_dict(row: BaseModel | dict[str, Any]) -> dict[str, Any]:
    if isinstance(row, Example):
        data = row.model_dump(mode="json")
        for key in ("labels", "spans"):
            if data[key] is None:
                del data[key]
        if not data["meta"]:
            del data["meta"]
        return data
    if isinstance(row, BaseModel):
        return row.model_dump(mode="json")
    if isinstance(row, dict):
        return row
    raise TypeError(f"write_jsonl takes pydantic models or dicts, got {type(row).__name__}")


def write_jsonl(path: str | Path, rows: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write rows as UTF-8 JSONL, one object per line, and return how many were written.

    :class:`Example` rows are written in the shared schema (no ``null`` labels/spans, no empty
    ``meta``), so :func:`read_jsonl` reads them back equal. The file is replaced atomically (a temp
    file beside it, then :func:`os.replace`): on error the old file is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # os.open with mode 0o666 lets the umask decide the permissions, as for any new file.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(json.dumps(_row_to_dict(row), ensure_ascii=False) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
