"""Out and back through the CLI, for every registered exporter: `distil export`, then `distil import`.

Two projects on real data: banking77 (77 intents) and wnut17 (spans in tweets full of emoji).
The teacher is a keyword rule set run by `distil label`; the humans' answers (accepts of the
teacher's label, corrections to the gold label, a reject, an undone correction) are stored as the
annotation app stores them. For each format that can read its files back:

* `--what answers` exported from one project and imported into a fresh copy (same data, same
  teacher labels) gives the same answer per example: output, accept vs correct, and the
  annotator and pass where the format carries them;
* `--what teacher|gold|merged` read back by the format's importer gives the records distil
  exported: ids, texts, labels or spans, and the provenance the format carries.

A format that cannot be read back must be listed in ``EXPORT_ONLY`` (and so in docs/exchange.md).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from distil import Annotation, get_host
from distil.annotate.resolve import resolve_answers, undo_event
from distil.cli import app
from distil.exchange import can_import, export_records, same_output
from distil.plugins import set_host
from distil.project import Project

pytest.importorskip("distil_exporters")
pytest.importorskip("distil_rules")

REPO = Path(__file__).resolve().parents[1]
#: Registered exporters that write a file nothing reads back (none today).
EXPORT_ONLY: set[str] = set()
#: The output kinds a format holds (default: both).
KINDS = {"conll.iob.v1": ("spans",)}
#: The provenance each format carries through a round trip.
ALL = ("source", "confidence", "annotator", "answer", "pass_name")
CARRIES: dict[str, tuple[str, ...]] = {
    "prodigy.jsonl.v1": ("source", "confidence", "annotator", "pass_name"),
    "labelstudio.json.v1": ALL,
    "doccano.jsonl.v1": ALL,
    "hf.datasets.v1": ALL,
    "csv.table.v1": ALL,
    "conll.iob.v1": (),
    "spacy.docbin.v1": (),
}
SUFFIX = {"labelstudio.json.v1": ".json", "conll.iob.v1": ".conll", "spacy.docbin.v1": ".spacy"}
EMOJI = re.compile("[\U0001f300-\U0001faff]")
runner = CliRunner()


def distil(*args: str) -> str:
    """Run a distil command in this process; fail the test with its output when it fails."""
    set_host(None)
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.stdout


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


DATASETS: dict[str, dict[str, Any]] = {
    "banking77": {
        "task": "textcat.v1",
        "keywords": {
            "card_arrival": ["arrived", "arrive"],
            "declined_cash_withdrawal": ["declined"],
            "verify_source_of_funds": ["funds"],
            "failed_transfer": ["transfer"],
            "exchange_rate": ["exchange rate"],
            "lost_or_stolen_card": ["stolen", "lost"],
        },
    },
    "wnut17": {
        "task": "ner.v1",
        # right on some tweets of the sample, wrong on others (Youtube is a product there)
        "keywords": {
            "person": ["Rudy", "emma", "ryan", "alex", "Shaq", "adam", "Marty", "Trump"],
            "location": ["philippines", "Canadian", "London"],
            "creative-work": ["Pokemon", "Madagascar"],
            "corporation": ["Youtube", "Google"],
        },
    },
}


def _train_rows(shared_data: Path, dataset: str) -> list[dict[str, Any]]:
    if dataset == "banking77":
        return _rows(shared_data / dataset / "train.jsonl")[:60]
    # wnut17: every dev tweet with an emoji (spans after the emoji among them), then plain ones
    dev = _rows(shared_data / dataset / "dev.jsonl")
    emoji = [r for r in dev if EMOJI.search(r["text"])]
    return emoji + [r for r in dev if not EMOJI.search(r["text"])][:30]


def _config(folder: Path, shared_data: Path, dataset: str) -> Path:
    spec = DATASETS[dataset]
    rows = [
        r
        for split in ("train", "dev", "test")
        for r in _rows(shared_data / dataset / f"{split}.jsonl")
    ]
    if spec["task"] == "textcat.v1":
        labels = sorted({label for r in rows for label in r["labels"]})
    else:
        labels = sorted({s["label"] for r in rows for s in r["spans"]})
    _write(folder / "train.jsonl", _train_rows(shared_data, dataset))
    _write(folder / "gold.jsonl", _rows(shared_data / dataset / "test.jsonl")[:25])
    cfg = folder / "distil.cfg"
    cfg.write_text(
        f'[task]\n@tasks = "{spec["task"]}"\nlabels = {json.dumps(labels)}\n\n'
        f'[teacher]\n@teachers = "rules.patterns.v1"\nkeywords = {json.dumps(spec["keywords"])}\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n',
        encoding="utf-8",
    )
    return cfg


def _human_answers(cfg: Path, rows: list[dict[str, Any]]) -> None:
    """What the annotation app would have stored: per four examples an accept of the teacher's
    label, a correction (with a pass) and one without, a reject; and an undone correction."""
    with Project.from_config(cfg) as project:
        source = project.teacher_source
        teacher = project.store.predictions(source)
        task = project.config.task
        events: list[Annotation] = []
        for n, row in enumerate(rows[:40]):
            gold = task.reference(project.store.get_examples([row["id"]])[row["id"]])
            prediction = teacher.get(row["id"])
            suggested = prediction.output if prediction is not None and prediction.ok else None
            who = "alice" if n % 2 else "bob"
            if n % 2 == 0 and suggested is not None:
                events.append(
                    Annotation(
                        example_id=row["id"],
                        annotator=who,
                        answer="accept",
                        output=suggested,
                        pass_name="check",
                        suggestion_source=source,
                    )
                )
            elif n % 4 == 3:
                events.append(
                    Annotation(
                        example_id=row["id"],
                        annotator=who,
                        answer="reject",
                        pass_name="check",
                        suggestion_source=source,
                    )
                )
            else:
                events.append(
                    Annotation(
                        example_id=row["id"],
                        annotator=who,
                        answer="correct",
                        output=gold,
                        pass_name="fix" if n % 4 == 1 else None,
                        suggestion_source=source,
                    )
                )
        undone = rows[45]["id"]
        wrong = task.reference(project.store.get_examples([rows[46]["id"]])[rows[46]["id"]])
        events.append(
            Annotation(example_id=undone, annotator="bob", answer="correct", output=wrong)
        )
        events.append(undo_event(undone, "bob"))
        project.store.add_annotations(events)


@pytest.fixture(scope="module")
def projects(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Callable[[str], dict[str, Path]]:
    """``projects(dataset)``: the labelled, annotated project and a labelled, unannotated base
    for the importing side (copied fresh for each test)."""
    built: dict[str, dict[str, Path]] = {}

    def build(dataset: str) -> dict[str, Path]:
        if dataset not in built:
            out = tmp_path_factory.mktemp(dataset)
            (out / "source").mkdir()
            (out / "target").mkdir()
            source = _config(out / "source", shared_data, dataset)
            target = _config(out / "target", shared_data, dataset)
            distil("label", source)
            distil("label", target)
            _human_answers(source, _train_rows(shared_data, dataset))
            built[dataset] = {"source": source, "target": target}
        return built[dataset]

    return build


def _fresh_copy(target_cfg: Path, into: Path) -> Path:
    into.mkdir()
    for item in target_cfg.parent.iterdir():
        if item.is_file():
            shutil.copy(item, into / item.name)
    return into / target_cfg.name


def _answers(cfg: Path) -> dict[str, Annotation]:
    with Project.from_config(cfg) as project:
        return resolve_answers(project.store.annotations())


def _registry() -> list[str]:
    set_host(None)
    return get_host().names("exporters")


CASES = [
    (name, dataset)
    for name in _registry()
    if name not in EXPORT_ONLY
    for dataset in DATASETS
    if ("categories" if DATASETS[dataset]["task"] == "textcat.v1" else "spans")
    in KINDS.get(name, ("categories", "spans"))
]


def test_every_registered_exporter_reads_back_or_is_listed_export_only() -> None:
    host = get_host()
    names = host.names("exporters")
    assert {"prodigy.jsonl.v1", "labelstudio.json.v1", "conll.iob.v1", "csv.table.v1"} <= set(names)
    for name in names:
        assert can_import(host.create("exporters", name)) != (name in EXPORT_ONLY), name
        assert name in CARRIES, f"{name}: say in CARRIES which provenance it keeps"
    doc = (REPO / "docs" / "exchange.md").read_text(encoding="utf-8")
    for name in names:
        assert f"`{name}`" in doc, f"docs/exchange.md does not list {name}"


@pytest.mark.parametrize(("name", "dataset"), CASES)
def test_answers_exported_and_imported_come_back_the_same(
    name: str, dataset: str, projects: Callable[[str], dict[str, Path]], tmp_path: Path
) -> None:
    paths = projects(dataset)
    exported = tmp_path / f"answers{SUFFIX.get(name, '.jsonl')}"
    out = distil("export", paths["source"], "--format", name, "--what", "answers", "-o", exported)
    before = {k: a for k, a in _answers(paths["source"]).items() if a.output is not None}
    assert f"wrote {len(before)} record(s) (answers) to {exported} as {name}" in out
    assert "left out: human_reject" in out  # rejects carry no output to export

    target = _fresh_copy(paths["target"], tmp_path / "target")
    out = distil("import", target, exported, "--format", name, "--annotator", "roundtrip")
    assert f"stored {len(before)} answer(s) from {exported} as {name}" in out
    after = _answers(target)
    assert list(after) == list(before)  # every answer, once, in the same order
    with Project.from_config(target) as project:
        teacher = project.store.predictions(project.teacher_source)
    kinds = set()
    for example_id, was in before.items():
        now = after[example_id]
        assert now.output is not None and was.output is not None
        assert same_output(now.output, was.output), example_id
        suggestion = teacher.get(example_id)
        agrees = (
            suggestion is not None and suggestion.ok and same_output(was.output, suggestion.output)
        )
        assert now.answer == ("accept" if agrees else "correct"), example_id
        kinds.add(now.answer)
        carried = CARRIES[name]
        assert now.annotator == (was.annotator if "annotator" in carried else "roundtrip")
        assert now.pass_name == (was.pass_name if "pass_name" in carried else None)
    assert kinds == {"accept", "correct"}


@pytest.mark.parametrize(("name", "dataset"), CASES)
def test_teacher_gold_and_merged_exports_read_back_as_exported(
    name: str, dataset: str, projects: Callable[[str], dict[str, Path]], tmp_path: Path
) -> None:
    cfg = projects(dataset)["source"]
    set_host(None)
    host = get_host()
    with Project.from_config(cfg) as project:
        expected = {
            what: export_records(project, what)[0] for what in ("teacher", "gold", "merged")
        }
    for what, records in expected.items():
        path = tmp_path / f"{what}{SUFFIX.get(name, '.jsonl')}"
        out = distil("export", cfg, "-f", name, "--what", what, "-o", path)
        assert f"wrote {len(records)} record(s) ({what})" in out
        back = host.create("exporters", name).import_(path)
        assert [next(iter(r)).id for r in back] == [r.example.id for r in records]
        for mine, theirs in zip(records, back, strict=True):
            example, output = theirs
            assert example.text == mine.example.text
            assert same_output(output, mine.output), (what, example.id)
            for attr in CARRIES[name]:
                assert getattr(theirs, attr, None) == getattr(mine, attr), (what, example.id, attr)
    # merged is what training uses: the humans' answers win over the teacher's labels
    merged = expected["merged"]
    assert any(r.source and r.source.startswith("human:") for r in merged)
    assert any(r.source and r.source.startswith("teacher:rules") for r in merged)
    if dataset == "wnut17":
        after_emoji = [
            r
            for r in merged
            if r.output.spans and EMOJI.search(r.example.text[: r.output.spans[-1].start])
        ]
        assert after_emoji, "the sample has spans after an emoji"


def test_an_unknown_format_names_the_close_one_and_lists_the_rest(
    projects: Callable[[str], dict[str, Path]], tmp_path: Path
) -> None:
    from cli_helpers import run_distil

    cfg = projects("banking77")["source"]
    result = run_distil("export", str(cfg), "--format", "prodgy", "-o", str(tmp_path / "x.jsonl"))
    assert result.returncode == 1
    assert "no export format 'prodgy'. Did you mean 'prodigy'?" in result.stderr
    assert "labelstudio.json.v1 (labelstudio, json)" in result.stderr
    assert "spacy.docbin.v1 (spacy, docbin)" in result.stderr
    shared = run_distil("export", str(cfg), "-f", "jsonl", "-o", str(tmp_path / "x.jsonl"))
    assert shared.returncode == 1
    assert "'jsonl' could be doccano.jsonl.v1 or prodigy.jsonl.v1" in shared.stderr
    assert not (tmp_path / "x.jsonl").exists()
