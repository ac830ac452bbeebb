"""The bad-input corpus (issue 14): every way a user's input can be wrong, through the real CLI.

Each case runs one command of ``distil`` (in-process: :func:`distil.cli.main` with ``sys.argv``
set) on a copy of one prepared project: sms_spam rows imported as train and gold, labelled by a
keyword teacher, and three human answers. The case files are in ``tests/bad_input/`` (exact
bytes: CRLF, a BOM, Latin-1); what a file cannot hold (a 2 MB line, configs with this machine's
paths, a damaged store) is built here. Every case asserts

* the exit code: 0 where the bad rows are quarantined and the rest loads, else the exact code;
* the message, line for line as printed (``file:line: reason``, the names, the suggestion,
  brackets intact);
* that nothing already stored was lost: every stored example, prediction and answer is still
  there, unchanged, and only what the command was meant to add was added. A quarantine case
  also checks the good rows loaded, the quarantine file holds exactly the bad lines, and a
  re-import (after the file gained a row) does not append them again.

docs/data.md ("Bad input") lists the cases and what each gets.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from distil import Categories, Example, Prediction, Teacher, hookimpl
from distil.cli import main
from distil.plugins import PluginHost, set_host
from distil.tasks import Task
from distil.testing.data import load_split
from distil.testing.executors import KeywordStudent, KeywordTeacher

pytest.importorskip("distil_exporters")

CORPUS = Path(__file__).resolve().parent / "bad_input"
N_TRAIN, N_GOLD = 40, 20
TEACHER = "teacher:testing.keywords#v1"
CONFIG = """\
[project]
store = "distil.db"
output = "output"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "test.keywords.v1"

[student]
@students = "test.keywords.v1"

[data]
train = "{data}/train.jsonl"
gold = "{data}/gold.jsonl"
"""
KEYWORDS_TEACHER = '[teacher]\n@teachers = "test.keywords.v1"\n'
KEYWORDS_STUDENT = '[student]\n@students = "test.keywords.v1"\n'
TEXTCAT = '@tasks = "textcat.v1"\nlabels = ["ham", "spam"]'
NER = '@tasks = "ner.v1"\nlabels = ["PER", "LOC", "ORG", "MISC"]'


class HamTeacher(Teacher):
    """A teacher stuck on one answer, as tiny LLMs are: "ham" for every text."""

    def source(self, task: Task) -> str:
        return "teacher:test.ham#v1"

    async def alabel(
        self, task: Task, examples: Sequence[Example], on_results: Any = None
    ) -> list[Prediction]:
        output = Categories(labels=["ham"])
        preds = [
            Prediction(example_id=ex.id, source=self.source(task), output=output) for ex in examples
        ]
        if on_results is not None:
            on_results(preds)
        return preds


class Plugin:
    @hookimpl
    def register_teachers(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordTeacher)
        register("test.ham.v1", HamTeacher)

    @hookimpl
    def register_students(self, register) -> None:  # type: ignore[no-untyped-def]
        register("test.keywords.v1", KeywordStudent)


# -- running the CLI and reading the store -------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return [*self.out.splitlines(), *self.err.splitlines()]


def distil(*args: str | Path) -> Result:
    """``distil ARGS`` in this process, as the installed command runs it."""
    argv = sys.argv
    sys.argv = ["distil", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return Result(code, out.getvalue(), err.getvalue())


Snapshot = dict[str, set[tuple[Any, ...]]]
QUERIES = {
    "examples": "SELECT dataset, id, data FROM examples",
    "predictions": "SELECT source, dataset, example_id, output, error FROM predictions",
    "annotations": "SELECT example_id, annotator, answer, output, pass_name FROM annotations",
}


def snapshot(db: Path) -> Snapshot:
    """Every stored example, prediction and answer (read without distil's own store code)."""
    with closing(sqlite3.connect(db)) as con:
        return {table: set(con.execute(sql)) for table, sql in QUERIES.items()}


def added(before: Snapshot, after: Snapshot) -> dict[str, set[tuple[Any, ...]]]:
    """What the command added; fails if it lost or changed anything that was stored."""
    for table, rows in before.items():
        lost = rows - after[table]
        assert not lost, f"{table}: {len(lost)} stored row(s) lost or changed, e.g. {min(lost)}"
    return {table: after[table] - rows for table, rows in before.items()}


# -- the prepared project ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host() -> PluginHost:
    """Every installed plugin (the exporters, for --format) plus the keyword teacher/student."""
    return PluginHost(modules=[("bad-input", Plugin())])


@pytest.fixture(autouse=True)
def use_host(host: PluginHost) -> Iterator[None]:
    set_host(host)
    yield
    set_host(None)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, host: PluginHost) -> Path:
    """A labelled project: train and gold imported, the teacher's answers, three human answers.

    The data files stay here (the configs name them by absolute path), so a copy of the store
    finds them unchanged and imports nothing again.
    """
    root = tmp_path_factory.mktemp("prepared")
    for name, split, n in (("train", "train", N_TRAIN), ("gold", "test", N_GOLD)):
        rows = [ex.model_dump(exclude_none=True) for ex in load_split("sms_spam", split, limit=n)]
        write_rows(root / f"{name}.jsonl", rows)
    cfg = root / "distil.cfg"
    cfg.write_text(CONFIG.format(data=root), "utf-8")
    set_host(host)
    try:
        assert distil("label", cfg).code == 0
        assert distil("label", cfg, "--dataset", "gold").code == 0
        answers = root / "answers.jsonl"
        train_ids = [json.loads(line)["id"] for line in (root / "train.jsonl").open()]
        write_rows(answers, [{"id": i, "labels": ["ham"]} for i in train_ids[:3]])
        assert distil("import", cfg, answers).code == 0
    finally:
        set_host(None)
    stored = snapshot(root / "distil.db")
    assert [len(stored[t]) for t in QUERIES] == [N_TRAIN + N_GOLD, N_TRAIN + N_GOLD, 3]
    return root


def write_rows(path: Path, rows: Sequence[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@dataclass
class Workdir:
    """One case's copy of the prepared project."""

    root: Path
    data: Path

    @property
    def cfg(self) -> Path:
        return self.root / "distil.cfg"

    @property
    def db(self) -> Path:
        return self.root / "distil.db"

    def edit_config(self, old: str, new: str) -> None:
        text = self.cfg.read_text("utf-8")
        assert old in text, old
        self.cfg.write_text(text.replace(old, new), "utf-8")


@pytest.fixture
def work(prepared: Path, tmp_path: Path) -> Workdir:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(prepared / "distil.cfg", root)
    for db in prepared.glob("distil.db*"):
        shutil.copy(db, root)
    return Workdir(root, prepared)


# -- bad data rows: quarantined, the rest loads --------------------------------------------------

GOOD_DEV = ["sms-01490", "sms-01610", "dev-3", "dev-4"]  # two ids collide with train ids


def huge_jsonl(folder: Path) -> Path:
    rows = [
        {"id": "sms-01490", "text": "Are we still on for pizza tonight? 🍕", "labels": ["ham"]},
        {"id": "dev-huge", "text": "x" * 2_000_000, "labels": ["ham"]},
        {
            "id": "dev-3",
            "text": "Running 10 min late, sorry 🙏 [save me a seat]",
            "labels": ["ham"],
        },
    ]
    return write_rows(folder / "dev_huge_line.jsonl", rows)


def huge_csv(folder: Path) -> Path:
    """A 2 MB cell (over the 1 MB cap) and a 200 kB one (under it, as a JSONL line would be)."""
    path = folder / "dev_huge_field.csv"
    path.write_text(
        f"text,label\nAre we still on? 🍕,ham\n{'x' * 2_000_000},spam\n{'long ' * 40_000},ham\n",
        "utf-8",
    )
    return path


@dataclass(frozen=True)
class Quarantine:
    """A data file of one dev set with bad rows: ``distil label --dataset dev`` loads the rest."""

    name: str
    file: str | Callable[[Path], Path]
    #: ``(line, reason)`` of each bad row, in file order; each is printed as ``file:line: reason``
    bad: tuple[tuple[int, str], ...]
    #: the ids of the rows that load (an int: how many, for files whose ids are text hashes)
    loaded: tuple[str, ...] | int
    #: what the quarantine file keeps of each bad row (None: the line as in the file)
    raws: tuple[str, ...] | None = None
    sets: tuple[str, ...] = ()
    #: a check of the loaded examples' texts
    texts: Callable[[list[str]], bool] | None = None
    folder: str = ""

    def path(self, work: Workdir) -> Path:
        folder = work.root / self.folder
        folder.mkdir(parents=True, exist_ok=True)
        if callable(self.file):
            return self.file(folder)
        return Path(shutil.copy(CORPUS / self.file, folder / self.file))


SURROGATE = "lone UTF-16 surrogate \\ud800 in a string (not a Unicode character; the text cannot be stored as UTF-8)"
QUARANTINE_CASES = [
    Quarantine(
        "malformed-json",
        "dev_malformed_json.jsonl",
        ((3, "invalid JSON: Expecting ',' delimiter at column 69"),),
        tuple(GOOD_DEV),
    ),
    Quarantine(
        "bad-utf8",
        "dev_bad_utf8.jsonl",
        ((3, "invalid UTF-8 at byte offset 33: invalid continuation byte"),),
        tuple(GOOD_DEV),
        raws=('{"id": "dev-latin1", "text": "caf\\xe9 au lait \\xe0 9h?", "labels": ["ham"]}',),
    ),
    Quarantine(
        "utf8-bom",
        "dev_bom.jsonl",
        (),
        tuple(GOOD_DEV),
        texts=lambda texts: not any("\ufeff" in t for t in texts),
    ),
    Quarantine(
        "crlf",
        "dev_crlf.jsonl",
        (),
        tuple(GOOD_DEV),
        texts=lambda texts: not any("\r" in t for t in texts),
    ),
    Quarantine(
        "huge-line",
        huge_jsonl,
        ((2, "line is 2000049 bytes, over the limit of 1000000"),),
        ("sms-01490", "dev-3"),
        raws=('{"id": "dev-huge", "text": "' + "x" * 1972,),
    ),
    Quarantine(
        "deep-nesting",
        "dev_deep_nesting.jsonl",
        ((3, "JSON nested deeper than 32 levels"),),
        tuple(GOOD_DEV),
    ),
    Quarantine(
        "duplicate-id",
        "dev_duplicate_ids.jsonl",
        ((3, "duplicate id 'sms-01490' (first seen on line 1)"),),
        tuple(GOOD_DEV),
    ),
    Quarantine(
        "lone-surrogate",
        "dev_lone_surrogate.jsonl",
        ((3, SURROGATE),),
        ("sms-01490", "sms-01610", "dev-pair", "dev-3", "dev-4"),
        texts=lambda texts: "a whole one 😀" in texts,  # a surrogate pair is one character
    ),
    Quarantine(
        "not-an-object",
        "dev_not_an_object.jsonl",
        ((3, "expected a JSON object, got list"),),
        tuple(GOOD_DEV),
    ),
    Quarantine(
        "missing-id",
        "dev_missing_id.jsonl",
        ((3, "missing 'id' (every row needs a unique string id)"),),
        tuple(GOOD_DEV),
    ),
    Quarantine(
        "csv-empty-text",
        "dev_empty_text.csv",
        ((3, "empty text in column 'text'"), (4, "empty text in column 'text'")),
        2,
        raws=(",spam", "   ,ham"),
    ),
    Quarantine(
        "csv-bom-crlf",
        "dev_bom_crlf.csv",
        (),
        3,
        texts=lambda texts: "Line one\nline two of the same text 📝" in texts,
    ),
    Quarantine(
        "csv-bad-utf8",
        "dev_bad_utf8.csv",
        ((3, "invalid UTF-8 byte 0xe9 in column 'text' at character 3"),),
        2,
        raws=("caf\\xe9 au lait \\xe0 9h?,ham",),
    ),
    Quarantine(
        "csv-huge-field",
        huge_csv,
        ((3, "malformed CSV: field larger than field limit (1000000)"),),
        2,
        raws=("",),
    ),
    Quarantine(
        "path-with-closing-tag",
        "dev_malformed_json.jsonl",
        ((3, "invalid JSON: Expecting ',' delimiter at column 69"),),
        tuple(GOOD_DEV),
        folder="in[/x] [bold]",
    ),
]


def quarantine_file(work: Workdir, data: Path) -> Path:
    return work.root / "quarantine" / f"dev.{data.name}.quarantine.jsonl"


def physical_line(path: Path, line: int) -> str:
    raw = path.read_bytes().split(b"\n")[line - 1].rstrip(b"\r")
    return raw.decode("utf-8", errors="backslashreplace")


def stored_dev(db: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT id, data FROM examples WHERE dataset = 'dev' ORDER BY seq")
        return [(i, json.loads(data)["text"]) for i, data in rows]


def check_loaded(case: Quarantine, work: Workdir, extra: int = 0) -> list[str]:
    dev = stored_dev(work.db)
    ids = [i for i, _ in dev]
    if isinstance(case.loaded, int):
        assert len(ids) == case.loaded + extra
    else:
        assert ids[: len(case.loaded)] == list(case.loaded)
        assert len(ids) == len(case.loaded) + extra
    return ids


@pytest.mark.parametrize("case", QUARANTINE_CASES, ids=lambda c: c.name)
def test_bad_rows_are_quarantined_and_the_rest_loads(case: Quarantine, work: Workdir) -> None:
    data = case.path(work)
    sets = [x for s in (f"data.dev={data}", *case.sets) for x in ("--set", s)]
    before = snapshot(work.db)
    result = distil("label", work.cfg, "--dataset", "dev", *sets)
    assert result.code == 0, result.err
    qfile = quarantine_file(work, data)
    expected = [f"{data}:{line}: {reason}" for line, reason in case.bad]
    if case.bad:
        expected.append(
            f"data.dev: {len(case.bad)} row(s) of {data} did not load (listed above); "
            f"they are in {qfile}"
        )
    assert result.err.splitlines() == expected
    ids = check_loaded(case, work)
    texts = [t for _, t in stored_dev(work.db)]
    assert case.texts is None or case.texts(texts), texts
    assert f"labelled {len(ids)} of {len(ids)} 'dev' examples (0 already done)" in result.out
    new = added(before, snapshot(work.db))
    assert {(d, i) for d, i, _ in new["examples"]} == {("dev", i) for i in ids}
    assert {(s, d, i) for s, d, i, *_ in new["predictions"]} == {(TEACHER, "dev", i) for i in ids}
    assert new["annotations"] == set()
    if not case.bad:
        assert not qfile.exists()
        return
    entries = [json.loads(line) for line in qfile.read_text("utf-8").splitlines()]
    raws = case.raws or tuple(physical_line(data, line) for line, _ in case.bad)
    assert entries == [
        {"path": str(data), "line": line, "reason": reason, "raw": raw}
        for (line, reason), raw in zip(case.bad, raws, strict=True)
    ]
    # The file gains a row: it is imported again, and its bad rows are not quarantined twice.
    with data.open("a", encoding="utf-8") as handle:
        late = '"one more, added later ✍️",ham'
        row = {"id": "dev-late", "text": "one more, added later ✍️", "labels": ["ham"]}
        handle.write(
            (late if data.suffix == ".csv" else json.dumps(row, ensure_ascii=False)) + "\n"
        )
    again = distil("label", work.cfg, "--dataset", "dev", *sets)
    assert again.code == 0, again.err
    assert [json.loads(line) for line in qfile.read_text("utf-8").splitlines()] == entries
    check_loaded(case, work, extra=1)


# -- refused input: a message, a non-zero exit, nothing stored changes --------------------------


def lines_of(*lines: str) -> Callable[[Workdir], list[str]]:
    return lambda work: [line.format(dir=work.root, cfg=work.cfg, data=work.data) for line in lines]


@dataclass(frozen=True)
class Refused:
    """A mistake that stops the command: exit ``code``, the message, nothing stored changed."""

    name: str
    args: tuple[str, ...]
    code: int
    #: the lines printed (stdout then stderr), ``{dir}``, ``{cfg}``, ``{data}`` filled in; a line
    #: ending in "…" is a prefix (the rest lists what happens to be installed)
    message: tuple[str, ...]
    files: tuple[str, ...] = ()
    before: Callable[[Workdir], None] | None = None
    #: files whose bytes the command must leave as they were (a store it cannot open)
    untouched: tuple[str, ...] = ()


def no_teacher(work: Workdir) -> None:
    work.edit_config(KEYWORDS_TEACHER, "")


def teachr(work: Workdir) -> None:
    work.edit_config("[teacher]", "[teachr]")


def student_typo(work: Workdir) -> None:
    work.edit_config('@students = "test.keywords.v1"', '@students = "test.keyword.v1"')


def ner_task(work: Workdir) -> None:
    work.edit_config(TEXTCAT, NER)


def ner_task_without_student(work: Workdir) -> None:
    work.edit_config(TEXTCAT, NER)
    work.edit_config(KEYWORDS_STUDENT, "")


def store_folder(work: Workdir) -> None:
    (work.root / "stores").mkdir()
    work.edit_config('store = "distil.db"', 'store = "stores"')


def not_a_database(work: Workdir) -> None:
    (work.root / "notes.db").write_text("these are my notes, not a database 🙂\n" * 200, "utf-8")
    work.edit_config('store = "distil.db"', 'store = "notes.db"')


def damaged_store(work: Workdir) -> None:
    """Every page but the first (header and schema) overwritten: it opens, the first read fails."""
    shutil.copy(work.db, work.root / "damaged.db")
    data = bytearray((work.root / "damaged.db").read_bytes())
    for start in range(4096, len(data), 4096):
        data[start : start + 4096] = b"\xff" * len(data[start : start + 4096])
    (work.root / "damaged.db").write_bytes(bytes(data))
    work.edit_config('store = "distil.db"', 'store = "damaged.db"')


def one_class_labels(work: Workdir) -> None:
    work.edit_config('@teachers = "test.keywords.v1"', '@teachers = "test.ham.v1"')
    assert distil("label", work.cfg).code == 0


def model_folder_gone(work: Workdir) -> None:
    assert distil("train", work.cfg).code == 0
    shutil.rmtree(work.root / "output" / "students")


MODEL_GONE = "error [E013] no trained student: the model folder {dir}/output/students/"
REFUSED_CASES = [
    Refused(
        "gold-label-outside-the-task",
        ("label", "{cfg}", "--dataset", "gold", "--set", "data.gold={dir}/gold_label_case.jsonl"),
        1,
        (
            "error [E004] {dir}/gold_label_case.jsonl:2: label 'SPAM' is not one of the task's "
            "labels; did you mean 'spam'?",
            "1 row(s) of 'gold' do not fit the task, so nothing from {dir}/gold_label_case.jsonl "
            "was stored: fix them and run again",
        ),
        files=("gold_label_case.jsonl",),
    ),
    Refused(
        "gold-two-labels-on-an-exclusive-task",
        ("label", "{cfg}", "--dataset", "gold", "--set", "data.gold={dir}/gold_two_labels.jsonl"),
        1,
        (
            "error [E004] {dir}/gold_two_labels.jsonl:2: 2 labels ('ham', 'spam') on an exclusive "
            "task: a row needs exactly one label (or set multilabel = true in [task])",
            "1 row(s) of 'gold' do not fit the task, so nothing from {dir}/gold_two_labels.jsonl "
            "was stored: fix them and run again",
        ),
        files=("gold_two_labels.jsonl",),
    ),
    Refused(
        "gold-empty-labels-on-an-exclusive-task",
        ("label", "{cfg}", "--dataset", "gold", "--set", "data.gold={dir}/gold_empty_labels.jsonl"),
        1,
        (
            "error [E004] {dir}/gold_empty_labels.jsonl:2: no label ([]) on an exclusive task: a "
            "row needs exactly one label",
            "1 row(s) of 'gold' do not fit the task, so nothing from {dir}/gold_empty_labels.jsonl "
            "was stored: fix them and run again",
        ),
        files=("gold_empty_labels.jsonl",),
    ),
    Refused(
        # `distil run`: said before anything is labelled or trained
        "gold-row-without-labels",
        ("run", "{cfg}", "--set", "data.gold={dir}/gold_no_labels.jsonl"),
        1,
        (
            "error [E004] {dir}/gold_no_labels.jsonl:2: no 'labels': a gold or dev row needs its "
            "reference answer",
            "1 row(s) of 'gold' do not fit the task, so nothing from {dir}/gold_no_labels.jsonl "
            "was stored: fix them and run again",
        ),
        files=("gold_no_labels.jsonl",),
    ),
    Refused(
        "ner-gold-span-past-the-end",
        (
            "label",
            "{cfg}",
            "--dataset",
            "gold",
            "--set",
            "data.gold={dir}/gold_ner_span_past_end.jsonl",
        ),
        1,
        (
            # the task changed (textcat -> ner): train is read again against it
            "data.train: its [data] settings or the task changed since import (40 -> 40 rows): "
            "re-imported",
            "error [E004] {dir}/gold_ner_span_past_end.jsonl:2: span 1 [20, 27) 'PER' ends past the "
            "end of the text (26 characters); the offsets look like UTF-16 code units (a "
            "browser's count): distil counts characters (code points), where an emoji is one",
            "{dir}/gold_ner_span_past_end.jsonl:3: span 0 [0, 9) 'LOC' ends past the end of the "
            "text (5 characters)",
            "2 row(s) of 'gold' do not fit the task, so nothing from "
            "{dir}/gold_ner_span_past_end.jsonl was stored: fix them and run again",
        ),
        files=("gold_ner_span_past_end.jsonl",),
        before=ner_task_without_student,
    ),
    Refused(
        "csv-configured-text-column-missing",
        (
            "label",
            "{cfg}",
            "--dataset",
            "dev",
            "--set",
            "data.dev={dir}/dev_missing_text_column.csv",
            "--set",
            "data.text_column=message",
        ),
        1,
        (
            # the [data] settings apply to every file: train is read again (and keeps its rows)
            "data.train: its [data] settings or the task changed since import (40 -> 40 rows): "
            "re-imported",
            "error [E004] {dir}/dev_missing_text_column.csv: no text column 'message'; the header "
            "has ['msg', 'label']; did you mean 'msg'? set [data] text_column (distil init "
            "--text-column) to one of the columns",
        ),
        files=("dev_missing_text_column.csv",),
    ),
    Refused(
        "csv-no-text-column",
        ("label", "{cfg}", "--dataset", "dev", "--set", "data.dev={dir}/dev_no_text_column.csv"),
        1,
        (
            "error [E004] {dir}/dev_no_text_column.csv: cannot tell which column holds the text; "
            "the header has ['msg_id', 'label', 'body_txt', 'sender']. Set [data] text_column "
            "(distil init --text-column NAME)",
        ),
        files=("dev_no_text_column.csv",),
    ),
    Refused(
        "data-path-with-a-closing-tag-missing",
        ("label", "{cfg}", "--dataset", "dev", "--set", "data.dev={dir}/in[/x] [bold]/dev.jsonl"),
        1,
        ("error [E004] data.dev: file not found: {dir}/in[/x] [bold]/dev.jsonl",),
    ),
    Refused(
        "config-missing-teacher",
        ("train", "{cfg}"),
        1,
        ("error [E001] {cfg}: missing section(s) [teacher]",),
        before=no_teacher,
    ),
    Refused(
        "config-section-typo",
        ("label", "{cfg}"),
        1,
        (
            "error [E001] {cfg}: unknown section(s) [teachr] (did you mean [teacher]?); sections "
            "are annotate, data, evaluate, executor, label, paths, prices, project, student, "
            "task, teacher, train",
        ),
        before=teachr,
    ),
    Refused(
        "registry-name-typo",
        ("train", "{cfg}"),
        1,
        (
            "error [E002] {cfg}: student: no students registered as 'test.keyword.v1'; did you "
            "mean 'test.keywords.v1'? Available: …",
        ),
        before=student_typo,
    ),
    Refused(
        "store-path-is-a-folder",
        ("label", "{cfg}"),
        1,
        (
            "error [E010] {dir}/stores: is a folder, not a distil store; set [project] store to a "
            "file path such as distil.db",
        ),
        before=store_folder,
    ),
    Refused(
        "store-is-not-sqlite",
        ("label", "{cfg}"),
        1,
        ("error [E010] {dir}/notes.db: not a usable distil store (file is not a database)",),
        before=not_a_database,
        untouched=("notes.db",),
    ),
    Refused(
        "store-with-damaged-pages",
        ("label", "{cfg}"),
        1,
        (
            "error [E010] {dir}/damaged.db: the distil store is damaged (database disk image is "
            "malformed); restore it from a backup, or move it away to start a new store",
        ),
        before=damaged_store,
        untouched=("damaged.db",),
    ),
    Refused(
        "student-that-does-not-fit-the-task",
        ("train", "{cfg}"),
        1,
        (
            "error [E011] {cfg}: student: 'test.keywords.v1' cannot learn the task 'ner.v1': "
            "student testing.keywords learns ['textcat'] tasks, not 'ner'. Pick a student for "
            "ner tasks (`distil plugins` lists them) or change [task]",
        ),
        before=ner_task,
    ),
    Refused(
        "training-data-of-one-class",
        ("train", "{cfg}"),
        1,
        (
            "error [E012] every train row has the label 'ham' (37 from the teacher, 3 from human "
            "answers): a classifier needs two",
        ),
        before=one_class_labels,
    ),
    Refused(
        "evaluate-with-the-model-folder-gone",
        ("evaluate", "{cfg}"),
        1,
        (MODEL_GONE + "…",),
        before=model_folder_gone,
    ),
    Refused(
        "compare-a-missing-folder",
        ("compare", "{dir}/reports[/x]", "{dir}/output"),
        2,
        (
            "error: {dir}/reports[/x]: no report.json there; give a report folder (distil "
            "evaluate --output) or a report.json",
        ),
    ),
    Refused(
        "import-an-unknown-format",
        ("import", "{cfg}", "{dir}/answers.json", "--format", "labelstudo"),
        1,
        ("error [E001] no export format 'labelstudo'. Did you mean 'labelstudio'? Available: …",),
    ),
    Refused(
        "import-prodigy-with-bad-utf8",
        ("import", "{cfg}", "{dir}/prodigy_bad_utf8.jsonl", "--format", "prodigy"),
        1,
        (
            "error [E004] {dir}/prodigy_bad_utf8.jsonl:2: invalid UTF-8 at byte offset 13: "
            "invalid continuation byte",
        ),
        files=("prodigy_bad_utf8.jsonl",),
    ),
    Refused(
        "import-labelstudio-nested-too-deep",
        ("import", "{cfg}", "{dir}/labelstudio_deep_nesting.json", "--format", "labelstudio"),
        1,
        ("error [E004] {dir}/labelstudio_deep_nesting.json: JSON nested too deeply to be read",),
        files=("labelstudio_deep_nesting.json",),
    ),
]


def check_lines(printed: list[str], expected: list[str]) -> None:
    """The printed lines are the expected ones (blank lines and progress bars aside)."""
    printed = [line for line in printed if line.strip() and "━" not in line]
    assert len(printed) == len(expected), printed
    for got, want in zip(printed, expected, strict=True):
        if want.endswith("…"):
            assert got.startswith(want[:-1]), got
        else:
            assert got == want


@pytest.mark.parametrize("case", REFUSED_CASES, ids=lambda c: c.name)
def test_bad_input_is_refused_with_its_message(case: Refused, work: Workdir) -> None:
    for name in case.files:
        shutil.copy(CORPUS / name, work.root / name)
    if case.before is not None:
        case.before(work)
    before = snapshot(work.db)
    untouched = {name: (work.root / name).read_bytes() for name in case.untouched}
    args = [a.format(dir=work.root, cfg=work.cfg) for a in case.args]
    result = distil(*args)
    assert result.code == case.code, result.err
    check_lines(result.lines, lines_of(*case.message)(work))
    assert "Traceback" not in result.err
    assert added(before, snapshot(work.db)) == {t: set() for t in QUERIES}
    for name, data in untouched.items():
        assert (work.root / name).read_bytes() == data, f"{name} was written to"


# -- inputs that look wrong and are fine ---------------------------------------------------------


def test_evaluate_before_train_scores_the_teacher_alone(work: Workdir) -> None:
    """No student yet (no model folder): the report holds the teacher and the baseline."""
    before = snapshot(work.db)
    result = distil("evaluate", work.cfg)
    assert result.code == 0, result.err
    assert f"wrote {work.root / 'output' / 'report.json'}" in result.out.splitlines()
    report = json.loads((work.root / "output" / "report.json").read_text("utf-8"))
    assert [s["role"] for s in report["sources"]] == ["teacher"]
    assert report["baseline"] is not None
    assert added(before, snapshot(work.db)) == {t: set() for t in QUERIES}  # gold was labelled


def label_studio_export(work: Workdir) -> Path:
    """Label Studio's own "Export → JSON": predictions as integer ids, a cancelled annotation."""
    train = [json.loads(line) for line in (work.data / "train.jsonl").open(encoding="utf-8")]

    def task(n: int, annotations: list[dict[str, Any]]) -> dict[str, Any]:
        row = train[n]
        data = {"text": row["text"], "distil_id": row["id"]}
        return {"id": 900 + n, "data": data, "annotations": annotations, "predictions": [70 + n]}

    def annotation(n: int, choices: list[str], cancelled: bool) -> dict[str, Any]:
        result = [
            {
                "value": {"choices": choices},
                "id": f"r{n}",
                "from_name": "label",
                "to_name": "text",
                "type": "choices",
                "origin": "manual",
            }
        ]
        return {
            "id": 10 + n,
            "completed_by": 1,
            "result": [] if cancelled else result,
            "was_cancelled": cancelled,
            "created_at": "2025-11-03T09:12:44.201Z",
            "updated_at": "2025-11-03T09:12:44.201Z",
        }

    tasks = [
        task(5, [annotation(5, ["spam"], cancelled=False)]),
        task(6, [annotation(6, [], cancelled=True)]),
        task(7, []),
    ]
    path = work.root / "labelstudio [export].json"
    path.write_text(json.dumps(tasks, ensure_ascii=False, indent=2), "utf-8")
    return path


def test_a_label_studio_export_with_cancelled_work_and_integer_predictions_imports(
    work: Workdir,
) -> None:
    path = label_studio_export(work)
    before = snapshot(work.db)
    result = distil("import", work.cfg, path, "--format", "labelstudio")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"stored 1 answer(s) from {path} as labelstudio.json.v1 (correct 1)",
        "labelstudio.json.v1 report: skipped_unlabelled 2, cancelled_annotations 1, "
        "predictions_as_ids 2",
    ]
    train_ids = [json.loads(line)["id"] for line in (work.data / "train.jsonl").open()]
    new = added(before, snapshot(work.db))
    assert new["examples"] == new["predictions"] == set()
    assert {(i, who, answer) for i, who, answer, *_ in new["annotations"]} == {
        (train_ids[5], "1", "correct")
    }


def test_answers_with_bad_lines_store_the_good_ones(work: Workdir) -> None:
    """`distil import` of answers: each bad line is skipped with its reason, the rest stored."""
    train_ids = [json.loads(line)["id"] for line in (work.data / "train.jsonl").open()]
    path = work.root / "answers [red].jsonl"
    lines = [
        json.dumps({"id": train_ids[10], "labels": ["spam"]}),
        json.dumps({"id": train_ids[11], "labels": ["SPAM"]}),
        json.dumps({"id": train_ids[12], "labels": ["spam"], "annotator": "ann-\ud800"}),
        "[" * 40 + "]" * 40,
        '{"id": "cut [/x]", ',
    ]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    before = snapshot(work.db)
    result = distil("import", work.cfg, path)
    assert result.code == 0, result.err
    assert sorted(result.out.splitlines()) == sorted(
        [
            f"stored 1 answer(s) from {path}",
            f"skipped {path}:2: [E005] label(s) ['SPAM'] not in the task's labels ['ham', 'spam']; "
            "did you mean 'spam'?",
            f"skipped {path}:3: {SURROGATE}",
            f"skipped {path}:4: JSON nested deeper than 32 levels",
            f"skipped {path}:5: invalid JSON: Expecting property name enclosed in double quotes "
            "at column 20",
        ]
    )
    new = added(before, snapshot(work.db))
    assert [(i, a) for i, _, a, *_ in new["annotations"]] == [(train_ids[10], "correct")]
