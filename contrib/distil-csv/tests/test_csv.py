"""csv.table.v1: what the table looks like, hand-made tables, and errors that name file:line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import distil
from distil_csv import COLUMNS, CsvExporter, TableRecord

SPAM = distil.Example(id="m1", text='WIN a "prize", now\nreply YES', meta={"batch": 2})


def test_the_table_has_one_row_per_record_with_provenance_columns(tmp_path: Path):
    path = tmp_path / "out.csv"
    records = [
        TableRecord(SPAM, distil.Categories(labels=["spam"]), source="teacher:x", confidence=0.75),
        (
            distil.Example(id="n1", text="Ada in Paris"),
            distil.Spans(
                spans=[
                    distil.Span(start=0, end=3, label="PER"),
                    distil.Span(start=7, end=12, label="LOC"),
                ]
            ),
        ),
    ]
    CsvExporter().export(records, path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0]["text"] == SPAM.text  # quotes, comma and newline survive a spreadsheet reader
    assert (rows[0]["kind"], rows[0]["labels"], rows[0]["source"], rows[0]["confidence"]) == (
        "categories",
        "spam",
        "teacher:x",
        "0.75",
    )
    assert rows[0]["meta"] == '{"batch": 2}'
    assert (rows[1]["kind"], rows[1]["spans"]) == ("spans", '[[0, 3, "PER"], [7, 12, "LOC"]]')
    assert rows[1]["source"] == rows[1]["confidence"] == rows[1]["meta"] == ""


def test_a_hand_made_table_imports_with_numbered_ids(tmp_path: Path):
    path = tmp_path / "mine.csv"
    path.write_text("text,labels\nfree prize,spam\nsee you,ham\nboth,spam|ham\n", encoding="utf-8")
    records = CsvExporter().import_(path)
    assert [(r.example.id, r.example.text, r.output.labels) for r in records] == [
        ("mine-0", "free prize", ["spam"]),
        ("mine-1", "see you", ["ham"]),
        ("mine-2", "both", ["spam", "ham"]),
    ]
    assert all(r.source is None and r.confidence is None for r in records)


def test_a_tsv_path_writes_tabs(tmp_path: Path):
    path = tmp_path / "out.tsv"
    CsvExporter().export([(SPAM, distil.Categories(labels=["spam"]))], path)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "\t".join(COLUMNS)


def test_another_label_separator_round_trips_labels_with_pipes(tmp_path: Path):
    path = tmp_path / "out.csv"
    record = (SPAM, distil.Categories(labels=["a|b", "c"]))
    with pytest.raises(distil.DataError, match=r"record 0 \(example 'm1'\).*separator '\|'"):
        CsvExporter().export([record], path)
    assert not path.exists()
    CsvExporter(separator=";").export([record], path)
    [back] = CsvExporter(separator=";").import_(path)
    assert back.output.labels == ["a|b", "c"]


@pytest.mark.parametrize(
    ("content", "where", "reason"),
    [
        ("", ":1", "empty"),
        ("id,text,label\n", ":1", "unknown column(s) ['label']"),
        ("id,text\n", ":1", '"labels" or "spans"'),
        ("id,text,labels\na,b,c\nd,e\n", ":3", "2 cells, the header has 3"),
        ("id,text,kind,spans\na,abc,spans,[[0 1]]\n", ":2", "spans is not valid JSON"),
        ('id,text,kind,spans\na,abc,spans,"[[0, 9, ""X""]]"\n', ":2", "ends past the text"),
        ("id,text,labels,confidence\na,b,c,high\n", ":2", "confidence 'high' is not a number"),
        ("id,text,kind,labels\na,b,topic,c\n", ":2", "kind 'topic'"),
        ('id,text,labels\na,"multi\nline",c\nb,"unclosed\n', ":4", "not valid CSV"),
    ],
)
def test_a_bad_table_is_an_error_naming_the_file_and_line(tmp_path, content, where, reason):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(distil.DataError) as info:
        CsvExporter().import_(path)
    assert f"{path}{where}" in str(info.value) and reason in str(info.value), str(info.value)


def test_bad_options_are_config_errors():
    with pytest.raises(distil.ConfigError, match="one visible character"):
        CsvExporter(separator=" ")
    with pytest.raises(distil.ConfigError, match="delimiter"):
        CsvExporter(delimiter=";;")


def test_the_entry_point_loads_through_the_plugin_host():
    host = distil.PluginHost(allow={"csv"}, strict=True)
    assert host.plugins["csv"].status == "loaded"
    assert host.plugins["csv"].distribution == "distil-contrib-csv"
    assert host.get("exporters", "csv.table.v1").plugin == "csv"
    assert isinstance(host.create("exporters", "csv.table.v1", separator=";"), CsvExporter)
