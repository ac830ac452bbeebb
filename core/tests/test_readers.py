"""The data readers (JSONL, CSV/TSV, Parquet, saved Hugging Face datasets, text) and the
project's change detection: a data file edited after its import is imported again."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import distil
from distil.config import load_config
from distil.errors import ConfigError, DataError
from distil.plugins import PluginHost
from distil.project import Project
from distil.records import Example
from distil.store.readers import (
    ColumnMapping,
    detect_format,
    read_columns,
    read_data,
    text_id,
)
from distil.testing import load_split
from distil.testing.executors import KeywordTeacher


def write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sha_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- formats and column mapping ---------------------------------------------------------------


def test_the_format_comes_from_the_suffix_or_a_saved_dataset_folder(tmp_path: Path) -> None:
    for name, fmt in [
        ("a.jsonl", "jsonl"),
        ("a.json-lines", "jsonl"),
        ("a.CSV", "csv"),
        ("a.tsv", "tsv"),
        ("a.parquet", "parquet"),
        ("a.txt", "text"),
    ]:
        assert detect_format(tmp_path / name) == fmt
    assert detect_format(tmp_path / "a.data", "csv") == "csv"  # [data] format wins
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "dataset_info.json").write_text("{}")
    assert detect_format(folder) == "hf"
    with pytest.raises(
        DataError, match=r"a\.xlsx: cannot tell the format from the suffix '\.xlsx'"
    ):
        detect_format(tmp_path / "a.xlsx")
    with pytest.raises(DataError, match=r"unknown data format 'xml'"):
        detect_format(tmp_path / "a.csv", "xml")


def test_a_banking77_csv_loads_with_columns_found_by_name(
    tmp_path: Path, shared_data: Path
) -> None:
    rows = load_split("banking77", "train", limit=200)
    path = write_csv(
        tmp_path / "train.csv",
        ["utterance", "Intent", "source"],
        [[ex.text, ex.labels[0], "app"] for ex in rows],  # type: ignore[index]
    )
    result = read_data(path)
    assert result.ok and len(result.examples) == 200
    assert [ex.text for ex in result.examples] == [ex.text for ex in rows]
    assert [ex.labels for ex in result.examples] == [ex.labels for ex in rows]
    assert result.examples[0].meta == {"source": "app"}
    assert result.examples[0].id == sha_id(rows[0].text)
    assert read_columns(path) == (["utterance", "Intent", "source"],) * 2


def test_a_multilabel_column_is_split_on_the_separator(tmp_path: Path, shared_data: Path) -> None:
    rows = [ex for ex in load_split("goemotions", "train", limit=300) if len(ex.labels or []) > 1]
    assert len(rows) >= 10
    path = write_csv(
        tmp_path / "emo.csv",
        ["key", "comment", "emotions"],
        [[ex.id, ex.text, " | ".join(ex.labels or [])] for ex in rows],
    )
    mapping = ColumnMapping(id_column="key", label_separator="|")
    result = read_data(path, mapping=mapping)
    assert result.ok
    assert [(ex.id, ex.text, ex.labels) for ex in result.examples] == [
        (ex.id, ex.text, ex.labels) for ex in rows
    ]
    # Without the separator a cell is one label, whatever it holds.
    whole = read_data(path, mapping=ColumnMapping(id_column="key"))
    assert whole.examples[0].labels == [" | ".join(rows[0].labels or [])]


def test_a_mapped_column_the_header_lacks_names_the_columns_and_the_closest(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "d.csv", ["Text", "label"], [["hi", "a"]])
    with pytest.raises(DataError) as err:
        read_data(path, mapping=ColumnMapping(text_column="text"))
    assert str(err.value) == (
        f"[E004] {path}: no text column 'text'; the header has ['Text', 'label']; did you mean "
        "'Text'? set [data] text_column (distil init --text-column) to one of the columns"
    )
    with pytest.raises(DataError, match=r"no label column 'intnet'.*did you mean 'intent'\?"):
        read_data(
            write_csv(tmp_path / "e.csv", ["body", "intent"], [["x", "y"]]),
            mapping=ColumnMapping(label_column="intnet"),
        )


def test_a_header_without_a_recognisable_text_column_says_which_option_to_pass(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "d.csv", ["a", "b", "stars"], [["x", "y", "5"]])
    with pytest.raises(DataError) as err:
        read_data(path)
    assert str(err.value) == (
        f"[E004] {path}: cannot tell which column holds the text; the header has "
        "['a', 'b', 'stars']. Set [data] text_column (distil init --text-column NAME), and "
        "label_column for the labels (--label-column NAME)"
    )
    # One column left besides the label: it is the text.
    single = read_data(write_csv(tmp_path / "s.csv", ["utt_txt", "intent"], [["hey 👋", "greet"]]))
    assert [(ex.text, ex.labels) for ex in single.examples] == [("hey 👋", ["greet"])]


def test_spans_are_not_read_from_tables(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ner.csv", ["text", "spans"], [["Ann met Bob", "[[0, 3, 'PER']]"]])
    with pytest.raises(DataError, match=r"has a 'spans' column but no label column; NER spans"):
        read_data(path)
    with pytest.raises(DataError, match=r"label_column 'spans' looks like NER spans"):
        read_data(path, mapping=ColumnMapping(label_column="spans"))


def test_ids_without_an_id_column_are_text_hashes_stable_under_edits(tmp_path: Path) -> None:
    texts = ["Where is my card? 💳", "I was charged twice", "Where is my card? 💳", "top up failed"]
    first = read_data(write_csv(tmp_path / "a.csv", ["text"], [[t] for t in texts]))
    ids = [ex.id for ex in first.examples]
    card = sha_id(texts[0])
    assert ids == [card, sha_id(texts[1]), f"{card}-2", sha_id(texts[3])]
    assert text_id(texts[1]) == sha_id(texts[1])
    # A row inserted before the others and one removed: every other text keeps its id.
    edited = ["a new first row", texts[0], texts[2], texts[3]]
    second = read_data(write_csv(tmp_path / "b.csv", ["text"], [[t] for t in edited]))
    assert [ex.id for ex in second.examples] == [sha_id(edited[0]), card, f"{card}-2", ids[3]]


def test_bad_rows_are_quarantined_with_their_line_and_the_rest_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(
        b"id,text,label\n"
        b"1,fine \xf0\x9f\x98\x80,a\n"  # line 2
        b"2,,a\n"  # line 3: empty text
        b"3,caf\xe9 au lait,b\n"  # line 4: Latin-1, not UTF-8
        b"4,only two\n"  # line 5: the label field is missing
        b"5,one,two,three\n"  # line 6: one field too many
        b'6,"a quoted\nline break",b\n'  # lines 7-8: one row
        b"1,same id again,a\n"  # line 9
        b" ,no id,a\n"  # line 10
    )
    quarantine = tmp_path / "q" / "train.quarantine.jsonl"
    with caplog.at_level(logging.WARNING, logger="distil.data"):
        result = read_data(path, quarantine=quarantine)
    assert [(ex.id, ex.text) for ex in result.examples] == [
        ("1", "fine 😀"),
        ("6", "a quoted\nline break"),
    ]
    expected = [
        (3, "empty text in column 'text'"),
        (4, "invalid UTF-8 byte 0xe9 in column 'text' at character 3"),
        (5, "missing column 'label' (the row has 2 field(s), the header 3)"),
        (6, "the row has 4 field(s), the header 3 (an unquoted delimiter in a text?)"),
        (9, "duplicate id '1' (first seen on line 2)"),
        (10, "empty id in column 'id'"),
    ]
    assert [(e.line, e.reason) for e in result.errors] == expected
    assert result.quarantine_path == quarantine
    entries = [json.loads(line) for line in quarantine.read_text(encoding="utf-8").splitlines()]
    assert [(q["line"], q["reason"]) for q in entries] == expected
    assert entries[1]["raw"] == "3,caf\\xe9 au lait,b" and entries[1]["path"] == str(path)
    assert f"{path}:4: invalid UTF-8 byte 0xe9" in caplog.text


def test_a_lone_surrogate_in_jsonl_is_quarantined_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(
        '{"id": "a", "text": "ok \\ud83d\\ude00", "labels": ["x"]}\n'
        '{"id": "b", "text": "half \\ud83d", "labels": ["x"]}\n'
    )
    result = read_data(path, quarantine=tmp_path / "q.jsonl")
    assert [ex.text for ex in result.examples] == ["ok 😀"]
    assert [e.line for e in result.errors] == [2] and "surrogate" in result.errors[0].reason
    with distil.Store(":memory:") as store:
        store.add_examples(result.examples, "gold")  # what loaded can be stored


def test_a_utf8_bom_crlf_line_ends_and_emoji_read_as_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "win.csv"
    path.write_bytes(
        "\ufefftext,label\r\n"
        '"Card 💳 blocked, help",card_blocked\r\n'
        '"two\r\nlines 🎉",other\r\n'
        "\r\n"
        "last,other\r\n".encode()
    )
    result = read_data(path)
    assert result.ok
    assert [(ex.text, ex.labels) for ex in result.examples] == [
        ("Card 💳 blocked, help", ["card_blocked"]),
        ("two\nlines 🎉", ["other"]),
        ("last", ["other"]),
    ]
    unix = tmp_path / "unix.csv"
    unix.write_bytes(path.read_bytes()[3:].replace(b"\r\n", b"\n"))
    assert [ex.id for ex in read_data(unix).examples] == [ex.id for ex in result.examples]


def test_a_tsv_with_quoted_tabs_and_quotes_inside_a_text(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text(
        'sentence\tlabel\n"a\ttab inside"\tx\nsays "hi" mid-text\ty\n"say ""hi"""\tz\n',
        encoding="utf-8",
    )
    result = read_data(path)
    assert result.ok
    assert [(ex.text, ex.labels) for ex in result.examples] == [
        ("a\ttab inside", ["x"]),
        ('says "hi" mid-text', ["y"]),
        ('say "hi"', ["z"]),
    ]


def test_a_text_file_is_one_unlabelled_document_per_line(tmp_path: Path) -> None:
    path = tmp_path / "docs.txt"
    path.write_bytes(
        b"first \xf0\x9f\x9a\x80\r\n\r\n  \nsecond\nbad \xff\nfirst \xf0\x9f\x9a\x80\n"
    )
    result = read_data(path)
    assert [(ex.id, ex.text, ex.labels) for ex in result.examples] == [
        (sha_id("first 🚀"), "first 🚀", None),
        (sha_id("second"), "second", None),
        (sha_id("first 🚀") + "-2", "first 🚀", None),
    ]
    assert [(e.line, e.reason) for e in result.errors] == [
        (5, "invalid UTF-8 byte 0xff in the line at character 4")
    ]


def test_parquet_reads_typed_columns_and_list_labels(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "id": [1, 2, 3, 4],
            "review": ["great 👍", None, "meh", "bad"],
            "tags": [["pos", "short"], ["neg"], [], None],
            "stars": [5, 1, 3, 1],
        }
    )
    path = tmp_path / "r.parquet"
    pq.write_table(table, path)
    result = read_data(path, mapping=ColumnMapping(label_column="tags"))
    assert [(ex.id, ex.text, ex.labels, ex.meta) for ex in result.examples] == [
        ("1", "great 👍", ["pos", "short"], {"stars": 5}),
        ("3", "meh", [], {"stars": 3}),
        ("4", "bad", None, {"stars": 1}),
    ]
    assert [(e.line, e.reason) for e in result.errors] == [(2, "empty text in column 'review'")]
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"bad\.parquet: not a readable Parquet file"):
        read_data(bad)


def save_to_disk(
    folder: Path, shards: list[dict[str, list[Any]]], features: dict[str, Any]
) -> Path:
    """The folder ``datasets.Dataset.save_to_disk`` writes (checked against datasets 5.2.0):
    Arrow IPC streams, ``state.json`` listing them in order, ``dataset_info.json``."""
    pa = pytest.importorskip("pyarrow")
    folder.mkdir()
    names = [f"data-{i:05d}-of-{len(shards):05d}.arrow" for i in range(len(shards))]
    for name, columns in zip(names, shards, strict=True):
        table = pa.table(columns)
        with (
            pa.OSFile(str(folder / name), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as writer,
        ):
            writer.write_table(table)
    state = {"_data_files": [{"filename": n} for n in names], "_fingerprint": "0", "_split": None}
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "dataset_info.json").write_text(json.dumps({"features": features}))
    return folder


def test_a_saved_hugging_face_dataset_reads_its_shards_and_class_names(tmp_path: Path) -> None:
    features = {
        "sentence": {"dtype": "string", "_type": "Value"},
        "label": {"names": ["neg", "pos"], "_type": "ClassLabel"},
    }
    folder = save_to_disk(
        tmp_path / "ds",
        [
            {"sentence": ["lovely 😍", "awful"], "label": [1, 0]},
            {"sentence": ["", "fine"], "label": [1, 7]},
        ],
        features,
    )
    result = read_data(folder)
    assert [(ex.text, ex.labels) for ex in result.examples] == [
        ("lovely 😍", ["pos"]),
        ("awful", ["neg"]),
    ]
    assert [(e.line, e.reason) for e in result.errors] == [
        (3, "empty text in column 'sentence'"),
        (4, "label id 7 is not one of the 2 class names"),
    ]
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "dataset_dict.json").write_text('{"splits": ["train"]}')
    with pytest.raises(DataError, match=r"a Hugging Face DatasetDict .*point \[data\] at one"):
        read_data(tmp_path / "dd")


# -- config -------------------------------------------------------------------------------------


class _Teachers:
    @distil.hookimpl
    def register_teachers(self, register: Any) -> None:
        register("readers.keywords.v1", KeywordTeacher)


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(entry_points=False, modules=[("readers", _Teachers())], strict=True)


CONFIG = (
    '[task]\n@tasks = "textcat.v1"\nlabels = {labels}\n\n'
    '[teacher]\n@teachers = "readers.keywords.v1"\n\n'
    '[data]\ntrain = "{train}"\ngold = "{gold}"\n'
)


def test_data_mapping_keys_are_optional_and_validated(host: PluginHost) -> None:
    plain = load_config(CONFIG.format(labels='["a"]', train="t.jsonl", gold="g.jsonl"), host=host)
    assert (plain.data.format, plain.data.text_column, plain.data.label_separator) == (
        "auto",
        None,
        None,
    )
    text = CONFIG.format(labels='["a"]', train="t.csv", gold="g.csv")
    mapped = load_config(
        text + 'format = "tsv"\ntext_column = "body"\nlabel_column = "tags"\n'
        'label_separator = ";"\nid_column = "key"\n',
        host=host,
    )
    assert (mapped.data.format, mapped.data.id_column, mapped.data.label_separator) == (
        "tsv",
        "key",
        ";",
    )
    with pytest.raises(ConfigError, match=r"data\.format: Input should be 'auto'"):
        load_config(text + 'format = "xlsx"\n', host=host)


# -- change detection ---------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[Example]) -> None:
    path.write_text("".join(ex.model_dump_json(exclude_none=True) + "\n" for ex in rows))


def bump_mtime(path: Path) -> None:
    """Make sure the edit is seen even on a file system with coarse timestamps."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_an_edited_gold_file_is_reimported_and_unchanged_ids_keep_predictions(
    tmp_path: Path, host: PluginHost, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = load_split("sms_spam", "test", limit=22)
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, rows[:20])
    write_jsonl(tmp_path / "train.jsonl", rows[:5])
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(CONFIG.format(labels='["ham", "spam"]', train="train.jsonl", gold="gold.jsonl"))
    with Project.from_config(cfg, host=host) as project:
        first = project.import_data()
        assert (first["gold"]["status"], first["gold"]["examples"]) == ("imported", 20)
        result = project.label("gold")
        source = result.source
        assert len(project.store.predictions(source, dataset="gold")) == 20
        assert project.import_data()["gold"]["status"] == "unchanged"
        # Touched without a change: the hash decides, nothing is re-read.
        bump_mtime(gold)
        assert project.import_data()["gold"]["status"] == "unchanged"

        # Two rows added, the first one removed: the data set follows the file.
        write_jsonl(gold, rows[1:22])
        bump_mtime(gold)
        with caplog.at_level(logging.INFO, logger="distil.data"):
            examples = project._require("gold")
        assert [ex.id for ex in examples] == [ex.id for ex in rows[1:22]]
        assert "data.gold: gold.jsonl changed since import (20 -> 21 rows): re-imported" in (
            caplog.text
        )
        kept = project.store.predictions(source, dataset="gold")
        assert set(kept) >= {ex.id for ex in rows[1:20]}
        again = project.label("gold")
        assert (again.to_dict()["labelled"], again.to_dict()["already_done"]) == (2, 19)
        assert project.store.data_file("gold")["n"] == 21  # type: ignore[index]

        # A changed read setting re-imports even though the file is the same.
        project.config.data.gold_limit = 10
        summary = project.import_data(["gold"])["gold"]
        assert (summary["status"], summary["examples"], summary["removed"]) == (
            "reimported",
            10,
            11,
        )
        assert (
            "its [data] settings or the task changed since import (21 -> 10 rows)"
            in summary["message"]
        )


def test_a_reimport_does_not_duplicate_rows_and_reports_the_quarantine(
    tmp_path: Path, host: PluginHost, caplog: pytest.LogCaptureFixture
) -> None:
    gold = write_csv(
        tmp_path / "gold.csv",
        ["text", "label"],
        [["win a prize now 🎁", "spam"], ["", "ham"], ["see you at 8", "ham"]],
    )
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(CONFIG.format(labels='["ham", "spam"]', train="gold.csv", gold="gold.csv"))
    with Project.from_config(cfg, host=host) as project:
        with caplog.at_level(logging.WARNING, logger="distil.data"):
            summary = project.import_data()["gold"]
        qpath = tmp_path / "quarantine" / "gold.gold.csv.quarantine.jsonl"
        assert summary["quarantine"] == str(qpath)
        assert summary["errors"] == [f"{gold}:3: empty text in column 'text'"]
        assert (
            f"data.gold: 1 row(s) of {gold} did not load (listed above); they are in {qpath}"
            in (caplog.text)
        )
        with gold.open("a", encoding="utf-8") as handle:
            handle.write("free cash,spam\n")
        bump_mtime(gold)
        project.import_data()
        assert project.store.count_examples("gold") == 3
        assert len(qpath.read_text().splitlines()) == 1  # the file as last imported, not twice


# -- distil init ---------------------------------------------------------------------------------


def test_init_writes_the_column_mapping_and_the_labels_of_a_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distil.cli import app

    monkeypatch.chdir(tmp_path)
    write_csv(
        tmp_path / "train.csv", ["sentence", "intent"], [["hi 👋", "greet"], ["bye", "leave"]]
    )
    write_csv(
        tmp_path / "gold.csv", ["sentence", "intent"], [["hello", "greet"], ["ciao", "leave"]]
    )
    runner = CliRunner()
    done = runner.invoke(app, ["init", "--train", "train.csv", "--gold", "gold.csv"])
    assert done.exit_code == 0, done.output
    text = (tmp_path / "distil.cfg").read_text()
    assert 'labels = ["greet", "leave"]' in text
    assert 'text_column = "sentence"\nlabel_column = "intent"\n' in text
    write_csv(tmp_path / "odd.csv", ["a", "b", "c"], [["x", "y", "z"]])
    failed = runner.invoke(app, ["init", "o.cfg", "--train", "odd.csv", "--gold", "gold.csv"])
    assert failed.exit_code == 2 and not (tmp_path / "o.cfg").exists()
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", failed.output).split())  # rich wraps it in a box
    assert (
        "odd.csv: cannot tell which column holds the text; the header has ['a', 'b', 'c']" in said
    )
    assert "(distil init --text-column NAME)" in said
