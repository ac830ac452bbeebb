"""The extract task end to end: a schema with every field kind, a teacher that answers over the
real OpenAI SDK (loopback server) with crafted records, the plan, the composite student, the
per-field report, and the teacher-kept field served through the cascade at predict time."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from distil.cli import app
from distil.extract.runtime import ExtractCascade, to_instances
from distil.project import Project
from distil.records import Example, Extraction
from distil.testing.loopback import LoopbackLLM
from distil.testing.loopback_openai import install_openai

SCHEMA = """
from typing import Literal
from pydantic import BaseModel


class Address(BaseModel):
    city: str | None = None
    country: Literal["FR", "DE"] | None = None


class Order(BaseModel):
    intent: Literal["buy", "sell"]
    tags: list[Literal["urgent", "gift"]] = []
    paid: bool
    customer: str | None = None
    items: list[str] = []
    address: Address = Address()
    quantity: int | None = None
"""

NAMES = ["Alice", "Bob", "Chen", "Dana", "Eve", "Femi", "Gus", "Hana"]
ITEMS = ["mugs", "plates", "lamps", "chairs", "tables"]
CITIES = {"Paris": "FR", "Lyon": "FR", "Berlin": "DE", "Munich": "DE"}
WORDS = ["three", "two", "five", "seven"]


def make_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Synthetic orders: a text and its record (the record is what a perfect teacher says)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        name, city = rng.choice(NAMES), rng.choice(list(CITIES))
        intent, item = rng.choice(["buy", "sell"]), rng.choice(ITEMS)
        urgent, paid, qty = rng.random() < 0.5, rng.random() < 0.5, rng.randrange(4)
        text = f"{name} wants to {intent} {WORDS[qty]} {item} in {city}"
        text += (", urgent" if urgent else "") + (", already paid" if paid else ", not paid yet")
        record = {
            "intent": intent,
            "tags": ["urgent"] if urgent else [],
            "paid": paid,
            "customer": name,
            "items": [item],
            "address": {"city": city, "country": CITIES[city]},
            "quantity": [3, 2, 5, 7][qty],
        }
        rows.append({"id": f"o{seed}-{i}", "text": text, "record": record})
    return rows


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "orders_schema.py").write_text(SCHEMA)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "orders_schema", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    train = make_rows(60, seed=1)
    train[0]["text"] = "BROKEN " + train[0]["text"]  # the teacher answers an invalid intent
    train[1]["text"] = "PARTIAL " + train[1]["text"]  # the teacher leaves out a required field
    train[2]["text"] = "GHOST " + train[2]["text"]  # a customer that is not in the text
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in train)
    )
    gold = make_rows(24, seed=2)
    (tmp_path / "gold.jsonl").write_text(
        "".join(
            json.dumps({"id": r["id"], "text": r["text"], "meta": {"record": r["record"]}}) + "\n"
            for r in gold
        )
    )
    records = {r["text"]: r["record"] for r in train + gold}
    (tmp_path / "records.json").write_text(json.dumps(records))
    return tmp_path


def teacher_answer(records: dict[str, dict[str, Any]]) -> Any:
    def answer(request: dict[str, Any]) -> str:
        text = request["messages"][-1]["content"]
        record = dict(records[text])
        if text.startswith("BROKEN"):
            record["intent"] = "steal"
        elif text.startswith("PARTIAL"):
            del record["paid"]
        elif text.startswith("GHOST"):
            record["customer"] = "Zed"
        return json.dumps(record)

    return answer


def write_config(folder: Path, url: str) -> Path:
    cfg = folder / "distil.cfg"
    cfg.write_text(
        f"""
[project]
store = "distil.db"
output = "out"

[task]
@tasks = "extract.v1"
schema = "orders_schema:Order"

[task.fields]
"quantity" = "teacher"

[teacher]
@teachers = "llm.v1"
concurrency = 4

[teacher.provider]
@providers = "openai.chat.v1"
model = "loopback-model"
base_url = "{url}"
api_key_env = "OPENAI_API_KEY"
max_tokens = 400

[student]
@students = "extract.composite.v1"

[student.textcat]
@students = "sklearn.textcat.v1"

[student.spans]
@students = "spacy.ner.v1"
max_epochs = 6

[label]
max_reasks = 0

[data]
train = "train.jsonl"
gold = "gold.jsonl"
"""
    )
    return cfg


def test_plan_run_report_and_the_cascade_for_the_teacher_field(project_dir: Path) -> None:
    records = json.loads((project_dir / "records.json").read_text())
    runner = CliRunner()
    with LoopbackLLM(answer=teacher_answer(records)) as server:
        install_openai(server)
        cfg = write_config(project_dir, server.url + "/v1")

        # The plan, before anything runs: every field kind, the int kept by the teacher.
        shown = runner.invoke(app, ["plan", str(cfg), "--json"])
        assert shown.exit_code == 0, shown.output
        plan = json.loads(shown.output)
        kinds = {f["field"]: (f["kind"], f["subtask"]) for f in plan["fields"]}
        assert kinds == {
            "intent": ("exclusive", "textcat:intent"),
            "tags": ("multilabel", "textcat:tags"),
            "paid": ("binary", "textcat:paid"),
            "customer": ("span", "spans"),
            "items": ("span", "spans"),
            "address.city": ("span", "spans"),
            "address.country": ("exclusive", "textcat:address.country"),
            "quantity": ("teacher", None),
        }
        assert plan["teacher_records"] is None  # nothing labelled yet
        assert server.requests == []  # the plan sends nothing
        table = runner.invoke(app, ["plan", str(cfg)])
        assert "teacher (cascade, this field alone)" in table.output
        assert "served by the teacher through the cascade: quantity" in table.output

        with Project.from_config(cfg) as project:
            project.import_data()
            labelled = project.label("train")
            # A person corrects the invalid BROKEN record (a whole record, validated), and sends
            # a record that is still invalid: it is reported and not stored.
            fixed = {**records[project.store.get_examples(["o1-0"])["o1-0"].text]}
            answers = project_dir / "answers.jsonl"
            answers.write_text(
                json.dumps({"id": "o1-0", "record": fixed})
                + "\n"
                + json.dumps({"id": "o1-1", "record": {"intent": "buy"}})
                + "\n"
            )
            imported = project.import_answers(answers, annotator="alice")
            assert imported["stored"] == 1
            assert "paid: missing" in imported["invalid"][0]
            result = project.run(output_dir=project_dir / "out")
            source = project.teacher_source
            preds = project.store.predictions(source)
            trained = project.latest_student()
        assert trained is not None
        composite, _, model_dir = trained

        # Invalid and partial teacher records are counted and kept with their reasons.
        failed = {i: p.error or "" for i, p in preds.items() if not p.ok}
        assert sorted(failed) == ["o1-0", "o1-1"]
        assert "intent: Input should be 'buy' or 'sell'" in failed["o1-0"]
        assert "paid: missing" in failed["o1-1"]
        assert labelled.failures == 2
        assert result["train"]["dropped"] == {"teacher_failed": 1}
        assert result["train"]["from_humans"] == 1
        audit = runner.invoke(app, ["plan", str(cfg), "--json"])
        teacher_records = json.loads(audit.output)["teacher_records"]
        assert teacher_records["invalid"] == 2 and teacher_records["valid"] == 58
        assert teacher_records["invalid_fields"] == {"intent": 1, "paid": 1}
        assert teacher_records["dropped_by_field"] == {"customer": 1}

        # The GHOST record taught the textcat subtasks but not the span subtask.
        fit = result["train"]["report"]["subtasks"]
        assert fit["spans"]["n_train"] == 58 and fit["spans"]["dropped"] == 1
        assert "customer: 'Zed' not found in the text" in fit["spans"]["dropped_examples"][0]
        assert fit["textcat:intent"]["n_train"] == 59
        assert fit["textcat:intent"]["student"] == "sklearn.textcat"

        # The report: per field, per record, teacher against composite.
        report = json.loads((project_dir / "out" / "report.json").read_text())
        teacher_s, student_s = (s["scores"] for s in report["sources"])
        assert teacher_s["exact_record"] == 1.0 and teacher_s["per_label"]["quantity"]["f1"] == 1.0
        assert student_s["per_label"]["intent"]["f1"] >= 0.9
        assert student_s["per_label"]["customer"]["f1"] >= 0.8
        assert student_s["per_label"]["quantity"]["f1"] == 0.0  # not learnt: pending
        assert student_s["exact_record"] == 0.0
        assert "F1 per field" in (project_dir / "out" / "report.md").read_text()

        # At predict time the teacher fills quantity alone; the students keep their fields.
        server.answer = lambda request: json.dumps(
            {"intent": "sell", "paid": True, "quantity": 99, "customer": "Nobody"}
        )
        gold = [
            Example.model_validate(json.loads(line)) for line in (project_dir / "gold.jsonl").open()
        ]
        # The runtime from config: extract.cascade.v1 loads the saved composite.
        runtime_cfg = project_dir / "runtime.cfg"
        runtime_cfg.write_text(
            cfg.read_text().replace(
                '[teacher]\n@teachers = "llm.v1"\nconcurrency = 4\n\n[teacher.provider]',
                f'[teacher]\n@teachers = "extract.cascade.v1"\nstudent_path = "{model_dir}"\n\n'
                '[teacher.student]\n@students = "extract.composite.v1"\n\n[teacher.teacher]',
            )
        )
        from distil.config import load_config

        cascade = load_config(runtime_cfg).teacher
        assert isinstance(cascade, ExtractCascade)
        assert cascade.student.students.keys() == composite.students.keys()
        answered = cascade.label(project.config.task, gold)
        assert cascade.stats.sent_to_teacher == len(gold)
        instances = to_instances(project.config.task, answered)
        Order = type(instances[0])
        assert Order.__name__ == "Order" and all(isinstance(x, Order) for x in instances)
        assert all(x.quantity == 99 for x in instances)
        assert all(
            isinstance(p.output, Extraction) and p.output.teacher == ["quantity"] for p in answered
        )
        gold_records = [ex.meta["record"] for ex in gold]
        right = sum(x.intent == r["intent"] for x, r in zip(instances, gold_records, strict=True))
        assert right >= 0.9 * len(gold)  # the student's intent, not the teacher's "sell"
        assert all(x.customer != "Nobody" for x in instances)

        # A teacher record that does not validate is a failure: the student's partial record is
        # kept with the error, and no object is made from it.
        server.answer = lambda request: json.dumps({"intent": "buy", "paid": True, "quantity": "x"})
        failed_preds = cascade.label(project.config.task, gold[:3])
        assert all(not p.ok for p in failed_preds)
        assert all(
            "quantity: Input should be a valid integer" in (p.error or "") for p in failed_preds
        )
        assert all(
            isinstance(p.output, Extraction) and p.output.pending == ["quantity"]
            for p in failed_preds
        )
        assert to_instances(project.config.task, failed_preds) == [None, None, None]


def test_the_snips_template_plans_an_intent_textcat_and_one_slot_ner(shared_data: Path) -> None:
    from distil.config import load_config
    from distil.testing import load_split

    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "templates" / "extract" / "snips.cfg")
    plan = config.task.plan  # type: ignore[attr-defined]
    assert list(plan.subtasks) == ["textcat:intent", "spans"]
    assert len(plan.subtasks["textcat:intent"].labels) == 7
    assert len(plan.subtasks["spans"].labels) == 39 and not plan.teacher_fields
    # Every gold row becomes a valid record, and splitting it gives back its own slot spans.
    task = config.task
    for ex in load_split("snips", "test"):
        record = task.reference(ex)
        outputs, failed = plan.split(record.data, ex.text)
        assert failed == {}, ex.id
        assert outputs["textcat:intent"].labels == ex.labels
        got = {(s.start, s.end, s.label) for s in outputs["spans"].spans}
        want = {(s.start, s.end, s.label) for s in ex.spans or []}
        # A slot that occurs twice keeps only its first value in a str field (list fields keep all).
        assert got <= want and len(want) - len(got) <= 1, ex.id


def test_plan_of_a_flat_task_says_there_is_nothing_to_decompose() -> None:
    root = Path(__file__).resolve().parent.parent
    shown = CliRunner().invoke(app, ["plan", str(root / "templates" / "quickstart" / "distil.cfg")])
    assert shown.exit_code == 0
    assert (
        "task 'textcat' is already one flat subtask (2 labels): nothing to decompose"
        in shown.output
    )


def test_plan_rejects_an_impossible_override_naming_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        """
[task]
@tasks = "extract.v1"
schema = "distil.extract.examples.snips:SnipsQuery"

[task.fields]
intent = "span"

[teacher]
@teachers = "llm.v1"

[teacher.provider]
@providers = "local.llama.v1"

[data]
train = "train.jsonl"
gold = "gold.jsonl"
"""
    )
    shown = CliRunner().invoke(app, ["plan", str(cfg)])
    assert shown.exit_code != 0
    assert "task.fields.intent: field 'intent' (Literal[7 values]) cannot be a span" in str(
        shown.exception
    )
