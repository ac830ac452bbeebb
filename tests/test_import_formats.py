"""`distil import --format`: other tools' own exports come home as annotations, through the hook.

The Label Studio files in plugins/distil-exporters/tests/fixtures are written by hand after Label
Studio's documented formats (`Export → JSON`: tasks with `annotations` and `predictions`, the
latter as integer ids; `Export → JSON-MIN`: flat rows, one per live annotation): emoji in the
texts, six labels, cancelled annotations, tasks with only predictions, a task with two
annotations, and spans whose offsets an old Label Studio counted in UTF-16 code units.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import distil
from distil.annotate.resolve import resolve_answers
from distil.cli import app
from distil.plugins import PluginHost, set_host
from distil.project import Project

pytest.importorskip("distil_exporters")
pytest.importorskip("distil_rules")

FIXTURES = (
    Path(__file__).resolve().parents[1] / "plugins" / "distil-exporters" / "tests" / "fixtures"
)
INTENTS = [
    "card_arrival",
    "lost_or_stolen_card",
    "exchange_rate",
    "top_up_failed",
    "transfer_not_received_by_recipient",
    "declined_card_payment",
]
ENTITIES = ["person", "location", "group", "corporation", "product", "creative-work"]
runner = CliRunner()


class Recorder:
    """A plugin that sees every answer before it is stored, and tags the ones it may change."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    @distil.hookimpl
    def distil_annotate(
        self, task: Any, example: distil.Example, annotation: distil.Annotation
    ) -> distil.Annotation | None:
        self.seen.append((example.id, annotation.answer, example.text))
        if annotation.annotator == "ana@example.org":  # the hook may route an answer
            return annotation.model_copy(update={"pass_name": "routed"})
        return None


def recording_host() -> Recorder:
    """The process's host with every installed plugin plus the recorder."""
    recorder = Recorder()
    module = types.ModuleType("exchange_recorder")
    module.distil_annotate = recorder.distil_annotate  # type: ignore[attr-defined]
    set_host(PluginHost(modules=[("exchange-recorder", module)]))
    return recorder


def project(
    tmp_path: Path,
    rows: list[dict[str, Any]],
    task: str,
    labels: list[str],
    keywords: dict[str, list[str]],
    gold_rows: list[dict[str, Any]] | None = None,
) -> Path:
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    gold = {"id": "gold-1", "text": "a held-out text 🙂"}
    gold.update({"labels": labels[:1]} if task == "textcat.v1" else {"spans": []})
    (tmp_path / "gold.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in gold_rows or [gold]), "utf-8"
    )
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        f'[task]\n@tasks = "{task}"\nlabels = {json.dumps(labels)}\n\n'
        f'[teacher]\n@teachers = "rules.patterns.v1"\nkeywords = {json.dumps(keywords)}\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n',
        encoding="utf-8",
    )
    cli("label", cfg)
    return cfg


def cli(*args: Any) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.stdout


def fixture_rows(name: str) -> list[dict[str, Any]]:
    """The examples the fixture's tasks were made from, as the project's train data."""
    tasks = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return [
        {"id": str(t["data"].get("distil_id") or t["id"]), "text": t["data"]["text"]} for t in tasks
    ]


def answers(cfg: Path) -> dict[str, distil.Annotation]:
    with Project.from_config(cfg) as p:
        return resolve_answers(p.store.annotations())


# The teacher agrees with the humans on bank-001, -002 and -006, not on 105 (stolen, not arrival).
BANK_KEYWORDS = {
    "card_arrival": ["arrived", "card was"],
    "top_up_failed": ["top up"],
    "declined_card_payment": ["declined"],
    "exchange_rate": ["tipo de cambio"],
}


@pytest.mark.parametrize(
    "fixture", ["labelstudio_textcat_export.json", "labelstudio_textcat_export_min.json"]
)
def test_label_studio_exports_import_the_latest_live_annotation_through_the_hook(
    fixture: str, tmp_path: Path
) -> None:
    cfg = project(
        tmp_path,
        fixture_rows("labelstudio_textcat_export.json"),
        "textcat.v1",
        INTENTS,
        BANK_KEYWORDS,
    )
    recorder = recording_host()
    out = cli(
        "import", cfg, FIXTURES / fixture, "--format", "labelstudio", "--option", "from_name=intent"
    )
    assert (
        f"stored 4 answer(s) from {FIXTURES / fixture} as labelstudio.json.v1 (accept 3, correct 1)"
        in out
    )
    got = {
        k: (a.output.labels, a.answer, a.annotator, a.pass_name) for k, a in answers(cfg).items()
    }
    assert got == {
        "bank-001": (["card_arrival"], "accept", "1", None),
        "bank-002": (["top_up_failed"], "accept", "2", None),  # the later of two annotations
        "105": (
            ["lost_or_stolen_card"],
            "correct",
            "ana@example.org",
            "routed",
        ),  # cancelled later one skipped
        "bank-006": (["declined_card_payment"], "accept", "1", None),
    }
    # nothing for bank-003 (its only annotation was cancelled) or bank-004 (predictions only)
    assert [(i, a) for i, a, _ in recorder.seen] == [
        ("bank-001", "accept"),
        ("bank-002", "accept"),
        ("105", "correct"),
        ("bank-006", "accept"),
    ]
    assert recorder.seen[2][2] == "I think my card was stolen at the station 🚉 please block it"
    with Project.from_config(cfg) as p:
        source = p.teacher_source
        stored = p.store.annotations()
    assert {a.suggestion_source for a in stored} == {source}  # all four had a teacher label


def test_label_studio_json_export_reports_what_it_skipped(tmp_path: Path) -> None:
    cfg = project(
        tmp_path,
        fixture_rows("labelstudio_textcat_export.json"),
        "textcat.v1",
        INTENTS,
        BANK_KEYWORDS,
    )
    out = cli(
        "import",
        cfg,
        FIXTURES / "labelstudio_textcat_export.json",
        "-f",
        "labelstudio.json.v1",
        "--option",
        "from_name=intent",
    )
    assert (
        "labelstudio.json.v1 report: skipped_unlabelled 2, cancelled_annotations 2, predictions_as_ids 2"
        in out
    )


def test_a_project_with_two_control_tags_must_name_the_one_to_read(tmp_path: Path) -> None:
    from cli_helpers import run_distil

    cfg = project(
        tmp_path,
        fixture_rows("labelstudio_textcat_export.json"),
        "textcat.v1",
        INTENTS,
        BANK_KEYWORDS,
    )
    result = run_distil(
        "import",
        str(cfg),
        str(FIXTURES / "labelstudio_textcat_export_min.json"),
        "-f",
        "labelstudio",
    )
    assert result.returncode == 1
    assert "several control tags (intent, urgency)" in result.stderr
    assert "pass from_name=" in result.stderr
    assert answers(cfg) == {}  # a bad file stores nothing


NER_KEYWORDS = {"location": ["Lisbon", "Wembley"], "corporation": ["Google"]}


@pytest.mark.parametrize(
    "fixture", ["labelstudio_ner_export.json", "labelstudio_ner_export_min.json"]
)
def test_label_studio_spans_after_emoji_land_on_their_words(fixture: str, tmp_path: Path) -> None:
    rows = fixture_rows("labelstudio_ner_export.json")
    cfg = project(tmp_path, rows, "ner.v1", ENTITIES, NER_KEYWORDS)
    out = cli("import", cfg, FIXTURES / fixture, "-f", "labelstudio")
    assert "stored 3 answer(s)" in out and "(correct 3)" in out
    if fixture == "labelstudio_ner_export.json":  # tw-203: a teacher's prediction, never reviewed
        assert "skipped 1 record(s) that are a teacher's or student's label nobody reviewed" in out
    texts = {r["id"]: r["text"] for r in rows}
    got = {
        k: [(texts[k][s.start : s.end], s.label) for s in a.output.spans]
        for k, a in answers(cfg).items()
    }
    assert got == {
        "tw-201": [("Lisbon", "location"), ("Ryanair", "corporation"), ("Porto", "location")],
        # exported by a Label Studio that counted UTF-16 units: each 😂 is two
        "tw-202": [
            ("Taylor Swift", "person"),
            ("Wembley", "location"),
            ("ticketmaster", "corporation"),
        ],
        "tw-204": [
            ("Stranger Things", "creative-work"),
            ("Hawkins", "group"),
            ("Netflix", "corporation"),
        ],
    }


def test_conll_reads_tabs_and_spaces_and_moves_spans_onto_the_stored_spacing(
    tmp_path: Path,
) -> None:
    rows = [
        {
            "id": "c1",
            "text": "Visit  Paris with   Air France 🇫🇷 soon",
        },  # the stored text has double spaces
        {"id": "c2", "text": "@katy 😍 loved Roar"},
        {"id": "c3", "text": "Bob at Googel"},
        {"id": "c4", "text": "not in the file"},
    ]
    cfg = project(tmp_path, rows, "ner.v1", ENTITIES, {"location": ["Paris"]})
    conll = tmp_path / "from-doccano.conll"
    conll.write_text(
        "# id = c1\nVisit\tO\nParis\tB-location\nwith\tO\nAir\tB-corporation\nFrance\tI-corporation\n🇫🇷\tO\nsoon\tO\n\n"
        "# id = c2\n@katy B-person\n😍 O\nloved O\nRoar B-creative-work\n\n"
        "# id = c3\nBob B-persn\nat O\nGoogel B-corporation\n\n"
        "# id = nope\nhello O\n\n",
        encoding="utf-8",
    )
    out = cli("import", cfg, conll, "-f", "conll", "--annotator", "dee")
    assert "stored 2 answer(s)" in out
    assert (
        f"skipped {conll}: record 3 (id c3): label 'persn' (did you mean 'person'?) is not one of the task's 6 labels"
        in out
    )
    assert "skipped 1 answer(s) for ids not in the store, e.g. nope" in out
    got = answers(cfg)
    assert [(rows[0]["text"][s.start : s.end], s.label) for s in got["c1"].output.spans] == [
        ("Paris", "location"),
        ("Air France", "corporation"),
    ]
    assert got["c1"].answer == "correct" and got["c1"].annotator == "dee"
    assert [(rows[1]["text"][s.start : s.end], s.label) for s in got["c2"].output.spans] == [
        ("@katy", "person"),
        ("Roar", "creative-work"),
    ]


def test_conll_exports_with_a_tab_for_doccano(tmp_path: Path, shared_data: Path) -> None:
    rows = [
        json.loads(line)
        for line in (shared_data / "wnut17" / "test.jsonl").read_text().splitlines()[:20]
    ]
    cfg = project(tmp_path, rows, "ner.v1", ENTITIES, {"person": ["Trump"]}, gold_rows=rows)
    out_file = tmp_path / "doccano.conll"
    cli(
        "export",
        cfg,
        "-f",
        "conll",
        "--what",
        "gold",
        "-o",
        out_file,
        "--option",
        "delimiter=tab",
        "--option",
        "ids=false",
    )
    lines = [line for line in out_file.read_text(encoding="utf-8").splitlines() if line]
    assert lines and all(line.count("\t") == 1 and " " not in line for line in lines)
    back = distil.get_host().create("exporters", "conll.iob.v1").import_(out_file)
    assert [(r.example.text, r.output) for r in back] == [
        (r["text"], distil.Spans(spans=[distil.Span(**s) for s in r["spans"]])) for r in rows
    ]


def test_import_without_format_keeps_reading_distils_answers_jsonl(tmp_path: Path) -> None:
    rows = fixture_rows("labelstudio_textcat_export.json")
    cfg = project(tmp_path, rows, "textcat.v1", INTENTS, BANK_KEYWORDS)
    answers_file = tmp_path / "answers.jsonl"
    answers_file.write_text(
        json.dumps({"id": "bank-003", "labels": ["exchange_rate"]})
        + "\n"
        + json.dumps({"id": "bank-004", "labels": ["transfer_not_received_by_recipiant"]})
        + "\n",
        encoding="utf-8",
    )
    out = cli("import", cfg, answers_file, "--annotator", "eve")
    assert f"stored 1 answer(s) from {answers_file}\n" in out
    assert "skipped" in out and "transfer_not_received_by_recipiant" in out
    assert {k: (a.answer, a.annotator) for k, a in answers(cfg).items()} == {
        "bank-003": ("correct", "eve")
    }


def test_an_empty_export_says_why_and_writes_nothing(tmp_path: Path) -> None:
    from cli_helpers import run_distil

    rows = fixture_rows("labelstudio_textcat_export.json")
    cfg = project(tmp_path, rows, "textcat.v1", INTENTS, BANK_KEYWORDS)
    target = tmp_path / "answers.jsonl"
    result = run_distil("export", str(cfg), "-f", "doccano", "--what", "answers", "-o", str(target))
    assert result.returncode == 1
    assert "nothing to export for --what answers (the store has none)" in result.stderr
    assert not target.exists()


def write_only_exporters(register: Any) -> None:
    class Png:
        def export(self, records: list[Any], path: Any) -> dict[str, Any]:
            Path(path).write_bytes(b"\x89PNG")
            return {"path": str(path), "records": len(records)}

    register("chart.png.v1", Png)


def test_a_format_that_cannot_be_read_back_is_refused_by_import(tmp_path: Path) -> None:
    rows = fixture_rows("labelstudio_textcat_export.json")
    cfg = project(tmp_path, rows, "textcat.v1", INTENTS, BANK_KEYWORDS)
    module = types.ModuleType("exchange_write_only")
    module.register_exporters = distil.hookimpl(write_only_exporters)  # type: ignore[attr-defined]
    set_host(PluginHost(modules=[("exchange-write-only", module)]))
    out = cli("export", cfg, "-f", "chart", "--what", "teacher", "-o", tmp_path / "c.png")
    assert f"wrote 5 record(s) (teacher) to {tmp_path / 'c.png'} as chart.png.v1" in out
    assert "left out: teacher_failed 1" in out  # bank-004: no keyword fired
    result = runner.invoke(app, ["import", str(cfg), str(tmp_path / "c.png"), "-f", "png"])
    assert isinstance(result.exception, distil.ConfigError)
    assert "chart.png.v1 is export-only" in str(result.exception)
    assert answers(cfg) == {}
