"""Gold and dev rows that do not fit the task are refused with file:line; train rows are cleaned."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from distil import Example, Prediction, TextCat
from distil.errors import DataError
from distil.project import Project
from distil.store.jsonl import read_jsonl
from distil.store.sqlite import Store
from distil.tasks import NerTask, SpansTask
from distil.validate import suggest_label, validate_examples

SPAM = TextCat(["ham", "spam"])


def read_rows(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return rows[:limit]


def write_rows(path: Path, rows: list[dict[str, Any] | str]) -> Path:
    """One JSON object a line; a string is written as the line itself (blank, broken JSON)."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def validate(task: Any, path: Path, dataset: str = "gold") -> list[Example]:
    return validate_examples(task, read_jsonl(path).examples, path=path, dataset=dataset)


@pytest.fixture
def spam_rows(shared_data: Path) -> list[dict[str, Any]]:
    return read_rows(shared_data / "sms_spam" / "test.jsonl", 20)


def refused(task: Any, path: Path, dataset: str = "gold") -> str:
    with pytest.raises(DataError) as err:
        validate(task, path, dataset)
    return str(err.value)


# -- textcat ----------------------------------------------------------------------------------


def test_a_label_in_the_wrong_case_names_file_line_and_the_label_meant(
    tmp_path: Path, spam_rows: list[dict[str, Any]]
) -> None:
    spam_rows[6]["labels"] = ["SPAM"]
    gold = write_rows(tmp_path / "gold.jsonl", spam_rows)
    message = refused(SPAM, gold)
    assert message.startswith(
        f"[E004] {gold}:7: label 'SPAM' is not one of the task's labels; did you mean 'spam'?\n"
    )
    assert message.endswith(
        f"1 row(s) of 'gold' do not fit the task, so nothing from {gold} was stored: "
        "fix them and run again"
    )


def test_a_typo_is_matched_to_the_closest_label_and_no_match_lists_the_labels(
    tmp_path: Path, shared_data: Path
) -> None:
    rows = read_rows(shared_data / "banking77" / "test.jsonl", 12)
    labels = sorted(
        {
            label
            for r in read_rows(shared_data / "banking77" / "train.jsonl")
            for label in r["labels"]
        }
    )
    task = TextCat(labels)
    rows[2]["labels"] = ["card_arival"]
    rows[9]["labels"] = ["🍕 pizza"]
    message = refused(task, write_rows(tmp_path / "gold.jsonl", rows))
    assert (
        ":3: label 'card_arival' is not one of the task's labels; did you mean 'card_arrival'?"
        in message
    )
    shown = ", ".join(labels[:10])
    assert (
        f":10: label '🍕 pizza' is not one of the task's labels ({shown}, … (77 in all))" in message
    )
    assert suggest_label(" Spam ", ["ham", "spam"]) == "spam"
    assert suggest_label("zzz", ["ham", "spam"]) is None


def test_one_error_lists_the_first_five_bad_lines_and_counts_the_rest(
    tmp_path: Path, spam_rows: list[dict[str, Any]]
) -> None:
    for i in range(0, 16, 2):  # 8 bad rows on lines 1, 3, ..., 15
        spam_rows[i]["labels"] = ["Ham"]
    gold = write_rows(tmp_path / "gold.jsonl", spam_rows)
    lines = refused(SPAM, gold).splitlines()
    bad = "label 'Ham' is not one of the task's labels; did you mean 'ham'?"
    assert lines[:6] == [
        f"[E004] {gold}:1: {bad}",
        f"{gold}:3: {bad}",
        f"{gold}:5: {bad}",
        f"{gold}:7: {bad}",
        f"{gold}:9: {bad}",
        "… and 3 more row(s)",
    ]
    assert lines[6].startswith("8 row(s) of 'gold' do not fit the task")


def test_line_numbers_count_blank_and_quarantined_lines(
    tmp_path: Path, spam_rows: list[dict[str, Any]]
) -> None:
    spam_rows[3]["labels"] = ["spam", "ham"]
    rows: list[dict[str, Any] | str] = ["", '{"id": "broken", ', *spam_rows]
    gold = write_rows(tmp_path / "gold.jsonl", rows)
    message = refused(SPAM, gold)
    assert (
        f"{gold}:6: 2 labels ('spam', 'ham') on an exclusive task: a row needs exactly one "
        "label (or set multilabel = true in [task])"
    ) in message


def test_an_exclusive_row_needs_exactly_one_label_in_dev_and_gold(
    tmp_path: Path, spam_rows: list[dict[str, Any]]
) -> None:
    spam_rows[1]["labels"] = []
    del spam_rows[4]["labels"]
    for dataset in ("gold", "dev"):
        path = write_rows(tmp_path / f"{dataset}.jsonl", spam_rows)
        message = refused(SPAM, path, dataset)
        assert (
            f"{path}:2: no label ([]) on an exclusive task: a row needs exactly one label"
        ) in message
        assert f"{path}:5: no 'labels': a gold or dev row needs its reference answer" in message
        assert f"2 row(s) of '{dataset}' do not fit the task" in message


def test_multilabel_empty_is_a_valid_answer_but_unknown_labels_are_not(
    tmp_path: Path, shared_data: Path
) -> None:
    rows = read_rows(shared_data / "goemotions" / "test.jsonl", 10)
    labels = sorted(
        {
            label
            for r in read_rows(shared_data / "goemotions" / "train.jsonl")
            for label in r["labels"]
        }
    )
    task = TextCat(labels, multilabel=True)
    rows[0]["labels"] = []
    gold = write_rows(tmp_path / "gold.jsonl", rows)
    assert [ex.labels for ex in validate(task, gold)] == [r["labels"] for r in rows]
    rows[5]["labels"] = ["joy", "Gratitude"]
    message = refused(task, write_rows(gold, rows))
    assert (
        f"{gold}:6: label 'Gratitude' is not one of the task's labels; did you mean 'gratitude'?"
        in message
    )


# -- spans ------------------------------------------------------------------------------------


@pytest.fixture
def wikigold(shared_data: Path) -> list[dict[str, Any]]:
    return [r for r in read_rows(shared_data / "wikigold" / "test.jsonl", 40) if r["spans"]][:8]


def test_a_span_past_the_end_of_the_text_is_refused_and_utf16_offsets_are_named(
    tmp_path: Path, wikigold: list[dict[str, Any]]
) -> None:
    task = NerTask(["PER", "LOC", "ORG", "MISC"])
    text = wikigold[1]["text"]
    wikigold[1]["spans"] = [{"start": 0, "end": len(text) + 5, "label": "ORG"}]
    # The browser counts the emoji as two units: its offsets overshoot by one.
    wikigold[3] = {
        "id": "emoji",
        "text": "😀 Paris",
        "spans": [{"start": 3, "end": 8, "label": "LOC"}],
    }
    message = refused(task, write_rows(tmp_path / "gold.jsonl", wikigold))
    gold = tmp_path / "gold.jsonl"
    assert (
        f"{gold}:2: span 0 [0, {len(text) + 5}) 'ORG' ends past the end of the text "
        f"({len(text)} characters)\n"
    ) in message
    assert (
        f"{gold}:4: span 0 [3, 8) 'LOC' ends past the end of the text (7 characters); the "
        "offsets look like UTF-16 code units (a browser's count): distil counts characters "
        "(code points), where an emoji is one"
    ) in message


def test_an_empty_span_and_a_span_label_outside_the_task_are_refused(
    tmp_path: Path, wikigold: list[dict[str, Any]]
) -> None:
    task = SpansTask(["PER", "LOC", "ORG", "MISC"])
    first = wikigold[0]["spans"][0]
    wikigold[0]["spans"] = [{**first, "end": first["start"]}]
    wikigold[2]["spans"] = [{**s, "label": "per"} for s in wikigold[2]["spans"]][:1]
    gold = write_rows(tmp_path / "gold.jsonl", wikigold)
    message = refused(task, gold)
    assert (
        f"{gold}:1: span 0 [{first['start']}, {first['start']}) '{first['label']}' is empty: "
        "its start must be before its end"
    ) in message
    assert (
        f"{gold}:3: span 0 label 'per' is not one of the task's labels; did you mean 'PER'?"
        in message
    )


def test_gold_spans_must_be_there_and_fit_an_ner_task(
    tmp_path: Path, wikigold: list[dict[str, Any]]
) -> None:
    task = NerTask(["PER", "LOC", "ORG", "MISC"])
    del wikigold[0]["spans"]
    span = wikigold[1]["spans"][0]
    wikigold[1]["spans"] = [span, {**span, "start": span["start"], "end": span["end"]}]
    gold = write_rows(tmp_path / "gold.jsonl", wikigold)
    message = refused(task, gold)
    assert (
        f"{gold}:1: no 'spans': a gold or dev row needs its reference answer ([] for no entity)"
    ) in message
    assert f"{gold}:2: spans overlap" in message
    wikigold[0]["spans"] = []
    wikigold[1]["spans"] = [span]
    assert len(validate(task, write_rows(gold, wikigold))) == len(wikigold)


# -- train ------------------------------------------------------------------------------------


def test_train_rows_keep_their_place_and_lose_the_labels_outside_the_task(
    tmp_path: Path, spam_rows: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    spam_rows[2]["labels"] = ["SPAM"]
    spam_rows[8]["labels"] = ["spam", "eggs"]
    train = write_rows(tmp_path / "train.jsonl", spam_rows)
    with caplog.at_level(logging.WARNING, logger="distil.data"):
        examples = validate(SPAM, train, "train")
    assert [ex.id for ex in examples] == [r["id"] for r in spam_rows]
    assert examples[2].labels is None  # nothing of the task is left of an exclusive row
    assert examples[8].labels == ["spam"]
    assert examples[0].labels == spam_rows[0]["labels"]
    [record] = [r for r in caplog.records if r.name == "distil.data"]
    message = record.getMessage()
    assert message.startswith(
        f"{train}: 2 'train' row(s) do not fit the task (2 label(s) outside it)"
    )
    assert (
        f"{train}:3: label 'SPAM' is not one of the task's labels; did you mean 'spam'?" in message
    )
    assert f"{train}:9: label 'eggs' is not one of the task's labels (ham, spam)" in message


def test_rows_that_fit_pass_unchanged(tmp_path: Path, spam_rows: list[dict[str, Any]]) -> None:
    gold = write_rows(tmp_path / "gold.jsonl", spam_rows)
    assert validate(SPAM, gold) == read_jsonl(gold).examples


# -- through the project and the CLI ----------------------------------------------------------


def project_files(tmp_path: Path, shared_data: Path) -> tuple[Path, Path]:
    rows = read_rows(shared_data / "sms_spam" / "train.jsonl", 30)
    write_rows(tmp_path / "train.jsonl", rows[:20])
    gold = write_rows(tmp_path / "gold.jsonl", rows[20:])
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        '[project]\nstore = "distil.db"\n\n[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n'
        '[teacher]\n@teachers = "local.zeroshot.v1"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n'
    )
    return cfg, gold


def test_a_failed_import_loses_nothing_already_stored(tmp_path: Path, shared_data: Path) -> None:
    cfg, gold = project_files(tmp_path, shared_data)
    with Project.from_config(cfg) as project:
        project.import_data()
        store = project.store
        store.add_predictions(
            [Prediction(example_id=ex.id, source="teacher:x") for ex in store.examples("gold")],
            "gold",
        )
        before = (
            store.datasets(),
            store.examples("gold"),
            store.predictions("teacher:x", dataset="gold"),
        )
        rows = read_rows(gold)
        rows[3]["labels"] = ["SPAM"]
        rows.append({"id": "new-row", "text": "a new gold row 🎉", "labels": ["ham"]})
        write_rows(gold, rows)
        with pytest.raises(DataError, match=r"gold\.jsonl:4: label 'SPAM'"):
            project.import_data()
        after = (
            store.datasets(),
            store.examples("gold"),
            store.predictions("teacher:x", dataset="gold"),
        )
    assert after == before
    assert "new-row" not in {ex.id for ex in after[1]}


def test_the_cli_exits_non_zero_and_prints_the_message_literally(
    tmp_path: Path, shared_data: Path
) -> None:
    cfg, gold = project_files(tmp_path, shared_data)
    rows = read_rows(gold)
    rows[0]["labels"] = ["[spam]"]  # rich would read it as markup and drop it
    write_rows(gold, rows)
    distil = str(Path(sys.executable).with_name("distil"))
    result = subprocess.run(
        [distil, "label", str(cfg)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stdout
    expected = f"{gold}:1: label '[spam]' is not one of the task's labels; did you mean 'spam'?"
    assert expected in result.stderr
    with Store(tmp_path / "distil.db") as store:
        assert "gold" not in store.datasets()


def test_new_task_labels_in_the_config_check_an_unchanged_gold_file_again(
    tmp_path: Path, spam_rows: list[dict[str, Any]]
) -> None:
    """The gold file's bytes do not change, the task's labels do: the next import validates it."""
    spam_rows[3]["labels"] = ["promo"]
    write_rows(tmp_path / "train.jsonl", spam_rows)
    gold = write_rows(tmp_path / "gold.jsonl", spam_rows)
    cfg = tmp_path / "distil.cfg"
    base = '[teacher]\n@teachers = "local.zeroshot.v1"\n\n[data]\ntrain = "train.jsonl"\n'
    base += 'gold = "gold.jsonl"\n\n[task]\n@tasks = "textcat.v1"\nlabels = '
    cfg.write_text(base + '["ham", "spam", "promo"]\n', "utf-8")
    with Project.from_config(cfg) as project:
        project.import_data()
        assert project.store.count_examples("gold") == 20
    cfg.write_text(base + '["ham", "spam"]\n', "utf-8")
    with Project.from_config(cfg) as project, pytest.raises(DataError) as err:
        project.import_data()
    assert f"{gold}:4: label 'promo' is not one of the task's labels" in str(err.value)
