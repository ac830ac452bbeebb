"""Shared plumbing: strict line-numbered reading, atomic writing, stable hashes, whitespace tokens.

Import is strict where core's JSONL reader is forgiving: a file handed back from another tool is
one unit, so the first bad line stops the import with a :class:`distil.DataError` that names the
file and the line (``path:line: reason``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import distil

_TOKEN_RE = re.compile(r"\S+")
# A \uD800-\uDFFF escape: valid JSON, but alone it is no character, so the store cannot hold it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def data_error(path: Path | str, line: int | None, reason: str) -> distil.DataError:
    where = f"{path}:{line}" if line is not None else str(path)
    return distil.DataError(f"{where}: {reason}")


def decode_utf8(source: Path, line: int | None, data: bytes) -> str:
    """``data`` as text (a byte-order mark at the start of the file skipped); bytes that are not
    UTF-8 raise, naming the file and line, instead of a UnicodeDecodeError traceback."""
    try:
        return data.decode("utf-8-sig" if line in (None, 1) else "utf-8")
    except UnicodeDecodeError as err:
        reason = f"invalid UTF-8 at byte offset {err.start}: {err.reason}"
        raise data_error(source, line, reason) from None


def parse_json(source: Path, line: int | None, text: str) -> Any:
    """``json.loads(text)``; every way it can fail is a DataError naming the file (and line).

    Besides invalid JSON: nesting too deep for the parser (a RecursionError otherwise) and a
    lone surrogate (``"\\ud800"`` is valid JSON but no Unicode text: storing it would fail later,
    far from the file).
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        where = line if line is not None else err.lineno
        raise data_error(source, where, f"not valid JSON ({err.msg})") from None
    except RecursionError:
        raise data_error(source, line, "JSON nested too deeply to be read") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as err:
            code = ord(err.object[err.start])
            reason = f"lone UTF-16 surrogate \\u{code:04x} in a string (not a Unicode character)"
            raise data_error(source, line, reason) from None
    return value


def read_json_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for each non-blank line; a bad line raises, naming it."""
    source = Path(path)
    if not source.is_file():
        raise data_error(source, None, "no such file")
    with source.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = decode_utf8(source, number, raw)
            if not line.strip():
                continue
            value = parse_json(source, number, line)
            if not isinstance(value, dict):
                raise data_error(
                    source, number, f"expected a JSON object, got {type(value).__name__}"
                )
            yield number, value


def write_text_atomic(path: str | Path, chunks: Iterable[str]) -> Path:
    """Write ``chunks`` to ``path`` through a temporary file, so no reader sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_json_lines(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    return write_text_atomic(path, (json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def stable_hash(*parts: str) -> int:
    """A signed 32-bit int that is the same on every machine and run (Prodigy's hashes are ints)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def whitespace_tokens(text: str) -> list[tuple[int, int]]:
    """(start, end) of each maximal run of non-whitespace characters."""
    return [(m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def require_spans(output: Any, name: str, example_id: str) -> distil.Spans:
    if not isinstance(output, distil.Spans):
        raise distil.DataError(
            f"{name} writes span (NER) data, but example {example_id!r} has a"
            f" {type(output).__name__} output: use another format for text classification"
        )
    return output


def make_example(
    path: Path | str, line: int | None, example_id: Any, text: Any, meta: Any = None
) -> distil.Example:
    if not isinstance(text, str):
        raise data_error(path, line, f"the text is {type(text).__name__}, not a string")
    try:
        return distil.Example(id=str(example_id), text=text, meta=dict(meta or {}))
    except ValueError as err:
        raise data_error(path, line, f"not a valid example: {err}") from None


def make_span(path: Path | str, line: int | None, start: Any, end: Any, label: Any) -> distil.Span:
    try:
        return distil.Span(start=int(start), end=int(end), label=str(label))
    except (TypeError, ValueError) as err:
        raise data_error(
            path, line, f"bad span ({start!r}, {end!r}, {label!r}): {err}".splitlines()[0]
        ) from None


def check_spans(path: Path | str, line: int | None, text: str, spans: list[distil.Span]) -> None:
    for span in spans:
        if span.end > len(text):
            raise data_error(
                path, line, f"span {span.start}-{span.end} ends past the text ({len(text)} chars)"
            )
