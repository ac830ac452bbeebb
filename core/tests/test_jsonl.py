"""JSONL in and out: bad lines are reported, logged and quarantined; the rest loads."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from distil.errors import DataError
from distil.records import Annotation, Categories, Example, Span
from distil.store import JsonlResult, LineError, read_jsonl, write_jsonl
from distil.store.jsonl import iter_jsonl_dicts


def _row(id_: str, text: str = "hello", **extra: object) -> str:
    return json.dumps({"id": id_, "text": text, **extra})


def _write_lines(path: Path, lines: list[str | bytes]) -> Path:
    data = b"".join(
        (line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines
    )
    path.write_bytes(data)
    return path


def _quarantined(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_malformed_line_is_reported_logged_and_quarantined_and_the_rest_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = '{"id": "c", "text": "oops",'
    src = _write_lines(
        tmp_path / "data.jsonl",
        [_row("a", labels=["ham"]), _row("b", labels=["spam"]), bad, _row("d")],
    )
    quarantine = tmp_path / "bad" / "quarantine.jsonl"

    with caplog.at_level(logging.WARNING, logger="distil.data"):
        result = read_jsonl(src, quarantine=quarantine)

    assert [ex.id for ex in result.examples] == ["a", "b", "d"]
    assert result.examples[0].labels == ["ham"]
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.line == 3
    assert error.path == src
    assert error.raw == bad
    assert error.reason.startswith("invalid JSON")
    messages = [r.getMessage() for r in caplog.records if r.name == "distil.data"]
    assert messages == [f"{src}:3: {error.reason}"]
    assert "data.jsonl:3:" in messages[0]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert result.quarantine_path == quarantine
    assert _quarantined(quarantine) == [
        {"path": str(src), "line": 3, "reason": error.reason, "raw": bad}
    ]


def test_line_numbers_count_blank_lines_which_are_skipped(tmp_path: Path) -> None:
    src = _write_lines(tmp_path / "d.jsonl", [_row("a"), "", "   ", "not json", _row("b")])
    result = read_jsonl(src)
    assert [ex.id for ex in result.examples] == ["a", "b"]
    assert [(e.line, e.raw) for e in result.errors] == [(4, "not json")]


def test_quarantine_appends_and_is_untouched_when_every_line_is_good(tmp_path: Path) -> None:
    quarantine = tmp_path / "q.jsonl"
    good = _write_lines(tmp_path / "good.jsonl", [_row("a")])
    result = read_jsonl(good, quarantine=quarantine)
    assert result.ok and result.quarantine_path is None
    assert not quarantine.exists()

    bad = _write_lines(tmp_path / "bad.jsonl", ["[1, 2]", "42"])
    read_jsonl(bad, quarantine=quarantine)
    read_jsonl(bad, quarantine=quarantine)
    rows = _quarantined(quarantine)
    assert [(r["line"], r["raw"]) for r in rows] == [(1, "[1, 2]"), (2, "42")] * 2
    assert rows[0]["reason"] == "expected a JSON object, got list"
    assert rows[1]["reason"] == "expected a JSON object, got int"


def test_an_oversize_line_is_rejected_before_it_is_decoded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    huge = _row("big", text="x" * 200_000)
    src = _write_lines(tmp_path / "d.jsonl", [_row("a"), huge, _row("b")])
    quarantine = tmp_path / "q.jsonl"

    with caplog.at_level(logging.WARNING, logger="distil.data"):
        result = read_jsonl(src, quarantine=quarantine, max_line_bytes=1000)

    assert [ex.id for ex in result.examples] == ["a", "b"]
    (error,) = result.errors
    assert error.line == 2
    assert error.reason == f"line is {len(huge)} bytes, over the limit of 1000"
    assert huge.startswith(error.raw) and len(error.raw) < len(huge)
    assert f"{src}:2: line is" in caplog.text
    assert _quarantined(quarantine)[0]["line"] == 2


def test_a_line_exactly_at_the_size_limit_loads(tmp_path: Path) -> None:
    line = _row("a", text="y" * 50)
    src = _write_lines(tmp_path / "d.jsonl", [line])
    assert len(read_jsonl(src, max_line_bytes=len(line)).examples) == 1
    assert read_jsonl(src, max_line_bytes=len(line) - 1).errors[0].line == 1


def test_deep_nesting_is_rejected_without_recursion_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deep = "[" * 100_000
    deep_object = '{"id": "z", "text": "t", "meta": ' + '{"a": ' * 40 + "1" + "}" * 41
    src = _write_lines(tmp_path / "d.jsonl", [_row("a"), deep, deep_object, _row("b")])
    quarantine = tmp_path / "q.jsonl"

    with caplog.at_level(logging.WARNING, logger="distil.data"):
        result = read_jsonl(src, quarantine=quarantine)

    assert [ex.id for ex in result.examples] == ["a", "b"]
    assert [(e.line, e.reason) for e in result.errors] == [
        (2, "JSON nested deeper than 32 levels"),
        (3, "JSON nested deeper than 32 levels"),
    ]
    assert f"{src}:2: JSON nested deeper than 32 levels" in caplog.text
    assert _quarantined(quarantine)[0]["raw"] == deep


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path: Path) -> None:
    text = 'quote \\" then ' + "[{" * 100
    src = _write_lines(tmp_path / "d.jsonl", ['{"id": "a", "text": "' + text + '"}'])
    result = read_jsonl(src, max_depth=2)
    assert result.errors == []
    assert result.examples[0].text == 'quote " then ' + "[{" * 100


def test_nesting_up_to_max_depth_loads(tmp_path: Path) -> None:
    meta = '{"a": ' * 3 + "1" + "}" * 3  # the row itself is depth 1, meta reaches depth 4
    src = _write_lines(tmp_path / "d.jsonl", ['{"id": "a", "text": "t", "meta": ' + meta + "}"])
    assert read_jsonl(src, max_depth=4).examples[0].meta == {"a": {"a": {"a": 1}}}
    assert read_jsonl(src, max_depth=3).errors[0].reason == "JSON nested deeper than 3 levels"


def test_invalid_utf8_is_a_line_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = _write_lines(
        tmp_path / "d.jsonl", [_row("a"), b'{"id": "b", "text": "caf\xe9"}', _row("c", "café")]
    )
    quarantine = tmp_path / "q.jsonl"
    with caplog.at_level(logging.WARNING, logger="distil.data"):
        result = read_jsonl(src, quarantine=quarantine)
    assert [ex.text for ex in result.examples] == ["hello", "café"]
    (error,) = result.errors
    assert error.line == 2
    assert error.reason == "invalid UTF-8 at byte offset 24: invalid continuation byte"
    assert error.raw == '{"id": "b", "text": "caf\\xe9"}'
    assert f"{src}:2: invalid UTF-8" in caplog.text
    assert _quarantined(quarantine)[0]["raw"] == error.raw


def test_a_utf8_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    src = tmp_path / "bom.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + _row("a").encode() + b"\r\n" + _row("b").encode() + b"\r\n")
    assert [ex.id for ex in read_jsonl(src).examples] == ["a", "b"]


def test_a_missing_id_is_an_error_and_no_id_is_invented(tmp_path: Path) -> None:
    src = _write_lines(
        tmp_path / "d.jsonl",
        [json.dumps({"text": "no id here"}), json.dumps({"id": "", "text": "x"}), _row("ok")],
    )
    result = read_jsonl(src)
    assert [ex.id for ex in result.examples] == ["ok"]
    assert [e.line for e in result.errors] == [1, 2]
    assert result.errors[0].reason == "missing 'id' (every row needs a unique string id)"
    assert result.errors[1].reason.startswith("invalid example: id:")


def test_rows_failing_validation_name_the_field(tmp_path: Path) -> None:
    src = _write_lines(
        tmp_path / "d.jsonl",
        [
            json.dumps({"id": "a"}),
            json.dumps({"id": "b", "text": "t", "labels": "spam"}),
            json.dumps({"id": "c", "text": "t", "spans": [{"start": 5, "end": 2, "label": "X"}]}),
            json.dumps({"id": "d", "text": "t", "meta": [1]}),
        ],
    )
    result = read_jsonl(src)
    assert result.examples == []
    reasons = [e.reason for e in result.errors]
    assert reasons[0] == "invalid example: text: Field required"
    assert reasons[1].startswith("invalid example: labels: Input should be a valid list")
    assert "span end 2 is before its start 5" in reasons[2]
    assert reasons[3] == "'meta' must be an object, got list"


def test_duplicate_ids_keep_the_first_and_report_the_later(tmp_path: Path) -> None:
    src = _write_lines(tmp_path / "d.jsonl", [_row("a", "first"), _row("b"), _row("a", "second")])
    result = read_jsonl(src)
    assert [(ex.id, ex.text) for ex in result.examples] == [("a", "first"), ("b", "hello")]
    (error,) = result.errors
    assert error.line == 3
    assert error.reason == "duplicate id 'a' (first seen on line 1)"


def test_extra_top_level_keys_go_to_meta(tmp_path: Path) -> None:
    prodigy_like = {
        "id": "p1",
        "text": "Apple buys a startup",
        "_input_hash": 123,
        "answer": "accept",
        "meta": {"source": "news"},
        "spans": [{"start": 0, "end": 5, "label": "ORG"}],
    }
    src = _write_lines(tmp_path / "d.jsonl", [json.dumps(prodigy_like)])
    (example,) = read_jsonl(src).examples
    assert example.meta == {"source": "news", "_input_hash": 123, "answer": "accept"}
    assert example.spans == [Span(start=0, end=5, label="ORG")]
    assert example.labels is None


def test_a_missing_file_raises_data_error_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match=r"nope\.jsonl: file not found"):
        read_jsonl(missing)
    with pytest.raises(DataError, match="is a folder"):
        read_jsonl(tmp_path)


def test_write_then_read_round_trips_examples_exactly(tmp_path: Path) -> None:
    examples = [
        Example(id="1", text="Ünïcödé ✓ text", labels=["ham"]),
        Example(
            id="2",
            text="Paris is in France",
            spans=[Span(start=0, end=5, label="LOC"), Span(start=12, end=18, label="LOC")],
            meta={"source": "wiki", "score": 0.125, "nested": {"k": [1, None]}},
        ),
        Example(id="3", text="both", labels=["a", "b"], spans=[]),
    ]
    out = tmp_path / "out" / "data.jsonl"
    assert write_jsonl(out, examples) == 3

    lines = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"id": "1", "text": "Ünïcödé ✓ text", "labels": ["ham"]}
    assert "Ünïcödé ✓" in lines[0]  # written as UTF-8, not \\u escapes
    assert json.loads(lines[2]) == {"id": "3", "text": "both", "labels": ["a", "b"], "spans": []}
    result = read_jsonl(out)
    assert result.errors == []
    assert result.examples == examples


def test_write_jsonl_accepts_dicts_and_other_models_and_replaces_atomically(
    tmp_path: Path,
) -> None:
    out = tmp_path / "rows.jsonl"
    out.write_text("old content\n", encoding="utf-8")
    rows: list[BaseModel | dict[str, Any]] = [
        {"id": "x", "text": "plain dict"},
        Annotation(example_id="x", answer="accept", output=Categories(labels=["spam"])),
    ]
    assert write_jsonl(out, iter(rows)) == 2
    first, second = (json.loads(line) for line in out.read_text(encoding="utf-8").splitlines())
    assert first == {"id": "x", "text": "plain dict"}
    assert Annotation.model_validate(second) == rows[1]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]  # no temp file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    out.write_text("old\n", encoding="utf-8")

    def rows() -> Iterator[dict[str, Any]]:
        yield {"id": "a", "text": "fine"}
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        write_jsonl(out, rows())
    assert out.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


def test_iter_jsonl_dicts_yields_objects_and_line_errors(tmp_path: Path) -> None:
    src = _write_lines(tmp_path / "d.jsonl", ['{"anything": 1}', "", "[]"])
    rows = list(iter_jsonl_dicts(src))
    assert rows[0] == (1, {"anything": 1})
    line, error = rows[1]
    assert line == 3 and isinstance(error, LineError) and error.line == 3
    assert str(error) == f"{src}:3: expected a JSON object, got list"


def test_reads_the_real_sms_spam_test_split(shared_data: Path) -> None:
    result = read_jsonl(shared_data / "sms_spam" / "test.jsonl")
    assert isinstance(result, JsonlResult)
    assert result.errors == []
    assert len(result.examples) == 1000
    assert len({ex.id for ex in result.examples}) == 1000
    labels = {label for ex in result.examples for label in ex.labels or []}
    assert labels == {"ham", "spam"}
    assert all(ex.labels is not None and len(ex.labels) == 1 for ex in result.examples)


def test_reads_the_real_wnut17_spans_and_round_trips_them(
    shared_data: Path, tmp_path: Path
) -> None:
    examples = read_jsonl(shared_data / "wnut17" / "dev.jsonl").examples
    assert len(examples) == 500
    assert any(ex.spans for ex in examples)
    out = tmp_path / "copy.jsonl"
    write_jsonl(out, examples)
    assert read_jsonl(out).examples == examples
