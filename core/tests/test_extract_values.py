"""Issue 19: one rule for empty values, exact field matching, clear refusals, and normalisers.

Real text where it matters: SNIPS rows (../shared/data/snips) for the empty-value rule, and order
messages with emoji, prices and dates for the normalisers.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from pydantic import BaseModel, Field

import distil
from distil.errors import ConfigError, ParseError
from distil.extract.composite import CompositeStudent, names
from distil.extract.examples.snips import SnipsQuery
from distil.extract.normalise import (
    DateNormaliser,
    MoneyNormaliser,
    Normaliser,
    NumberNormaliser,
)
from distil.extract.plan import is_blank, plan_schema
from distil.extract.runtime import ExtractCascade, to_instances
from distil.records import Example, Extraction, Prediction, Span, Spans, Usage
from distil.student import Student, StudentPrediction, TrainPair
from distil.tasks import Task
from distil.tasks.extract import ExtractTask
from distil.teach.teacher import Teacher
from distil.testing import load_split
from distil.testing.executors import KeywordStudent


# -- 3. one rule for empty values ----------------------------------------------------------------
def _with_empty_strings(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as a teacher that writes ``""`` for "no value" answers it."""
    out = copy.deepcopy(data)
    for key, value in out.items():
        if value is None:
            out[key] = ""
        elif value == []:
            out[key] = [""]
    return out


def test_empty_strings_are_no_value_in_scoring_and_are_counted_apart() -> None:
    task = ExtractTask(SnipsQuery)
    rows = load_split("snips", "test", limit=40)
    gold = [task.reference(ex) for ex in rows]
    teacher = [Extraction(data=task.validate_data(_with_empty_strings(g.data))) for g in gold]
    blanks = sum(1 for g in gold for k, v in g.data.items() if k != "intent" and is_blank(v))
    assert blanks > 30 * 38  # most of the 39 slots are empty in each query
    scores = task.score(gold, teacher)
    assert scores["exact_record"] == 1.0 and scores["micro_f1"] == 1.0
    assert scores["values"] == {"missing": 0, "wrong": 0, "extra": 0, "empty": blanks}
    # the same records with the intent wrong on every 4th query: wrong there, and only there
    wrong = [
        Extraction(data={**t.data, "intent": "RateBook" if g.data["intent"] != "RateBook" else "PlayMusic"})
        if i % 4 == 0 else t
        for i, (g, t) in enumerate(zip(gold, teacher, strict=True))
    ]  # fmt: skip
    scores = task.score(gold, wrong)
    assert scores["exact_record"] == pytest.approx(30 / 40)
    assert scores["per_label"]["intent"]["wrong"] == 10
    assert scores["values"]["wrong"] == 10 and scores["values"]["missing"] == 0


def test_an_empty_string_where_gold_has_a_value_is_missing_not_wrong() -> None:
    task = ExtractTask(SnipsQuery)
    rows = load_split("snips", "test", limit=30)
    gold = [task.reference(ex) for ex in rows]
    pred, dropped = [], 0
    for g in gold:
        data = dict(g.data)
        slot = next((k for k, v in data.items() if k != "intent" and isinstance(v, str)), None)
        if slot is not None:
            data[slot], dropped = "", dropped + 1
        pred.append(Extraction(data=data))
    scores = task.score(gold, pred)
    assert dropped > 20
    assert scores["values"] == {"missing": dropped, "wrong": 0, "extra": 0, "empty": dropped}
    assert scores["micro_p"] == 1.0 and scores["micro_r"] < 1.0


def test_training_reads_empty_strings_as_no_value() -> None:
    task = ExtractTask(SnipsQuery)
    for ex in load_split("snips", "train", limit=40):
        gold = task.reference(ex)
        assert isinstance(gold, Extraction)
        blank = _with_empty_strings(gold.data)
        blank.update({k: "   " for k, v in gold.data.items() if v is None and k.startswith("c")})
        assert task.plan.split(blank, ex.text) == task.plan.split(gold.data, ex.text)
        assert task.plan.split(gold.data, ex.text)[1] == {}  # gold always places


def test_blank_means_none_empty_or_whitespace_and_lists_of_them() -> None:
    assert all(is_blank(v) for v in (None, "", "  \n", [], [""], ("", " ")))
    assert not any(is_blank(v) for v in ("0", 0, False, ["", "x"], "🎵"))


# -- 5. exact field matching, clear refusals --------------------------------------------------
class Purchase(BaseModel):
    kind: Literal["order", "refund"]
    item: str | None = None
    item_price: float | None = Field(None, gt=0)


class RuleSpans(Student):
    """A span student from fixed patterns (label → regex): what it marks is known exactly."""

    name: ClassVar[str] = "test.rules"
    task_kinds: ClassVar[frozenset[str]] = frozenset({"ner"})

    def __init__(self, rules: dict[str, str] | None = None, confidence: float = 0.9) -> None:
        self.rules = rules or {}
        self.confidence = confidence

    def fit(self, task: Task, train: list[TrainPair], dev: list[TrainPair] | None = None) -> dict:
        return {}

    def predict(self, examples: list[Example]) -> list[StudentPrediction]:
        out = []
        for ex in examples:
            spans = [
                Span(start=m.start(), end=m.end(), label=label)
                for label, rule in self.rules.items()
                for m in re.finditer(rule, ex.text)
            ]
            ordered = Spans(spans=sorted(spans, key=lambda s: s.start))
            out.append(StudentPrediction(ordered, self.confidence))
        return out

    def save(self, path: str | Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path) -> RuleSpans:
        raise NotImplementedError


class RecordTeacher(Teacher):
    """Answers every example with a fixed record; counts what it was asked."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.asked: list[str] = []
        self.schemas: list[list[str]] = []

    def source(self, task: Task) -> str:
        return "teacher:test.record"

    async def alabel(
        self, task: Task, examples: Sequence[Example], on_results: Any = None
    ) -> list[Prediction]:
        self.asked += [ex.id for ex in examples]
        self.schemas.append(list(task.schema.model_fields))  # type: ignore[attr-defined]
        return [
            Prediction(
                example_id=ex.id, source="teacher:test.record", output=Extraction(data=self.record),
                usage=Usage(input_tokens=100, output_tokens=10, cost=0.002),
            )
            for ex in examples
        ]  # fmt: skip


PURCHASES = [
    ("a", "order the desk lamp 💡 for $12.50 please", "order", "desk lamp", 12.5),
    ("b", "I want a refund for the kettle, it cost $30", "refund", "kettle", 30.0),
    ("c", "order two mugs ☕ at $4.75", "order", "mugs", 4.75),
    ("d", "refund my desk lamp: $12.50 back", "refund", "desk lamp", 12.5),
]


def _purchase_composite(task: ExtractTask) -> CompositeStudent:
    spans = RuleSpans({"item": r"desk lamp|kettle|mugs", "item_price": r"\$\d[\d.,]*"})
    composite = CompositeStudent(textcat=KeywordStudent(), spans=spans)
    pairs = [
        (Example(id=i, text=t), Extraction(data={"kind": k, "item": it, "item_price": p}))
        for i, t, k, it, p in PURCHASES
    ]
    report = composite.fit(task, pairs)
    assert report["subtasks"]["spans"]["dropped"] == 0  # every price placed through money.v1
    return composite


def test_fields_match_exactly_so_a_bad_item_price_leaves_item_to_the_student() -> None:
    task = ExtractTask(Purchase)
    assert task.plan.field("item_price").normaliser == "money.v1"
    composite = _purchase_composite(task)
    free = Example(id="x", text="order the kettle for $0 today")  # $0 fails gt=0
    [pred] = composite.predict([free])
    assert pred.output.pending == ["item_price"]
    assert pred.output.data["item"] == "kettle"
    teacher = RecordTeacher({"kind": "refund", "item": "WRONG", "item_price": 3.0})
    cascade = ExtractCascade(composite, teacher)
    [merged] = cascade.label(task, [free])
    assert merged.ok and merged.output.teacher == ["item_price"]
    assert merged.output.data == {"kind": "order", "item": "kettle", "item_price": 3.0}
    assert teacher.schemas == [["item_price"]]  # asked for that field alone
    assert (cascade.stats.fields_sent, cascade.stats.fields) == (1, 3)
    assert names("item_price", "item_price") and not names("item", "item_price")
    assert names("items", "items.0") and names("address.city", "address")


def test_the_composite_reads_prices_through_the_normaliser_with_no_teacher_call() -> None:
    task = ExtractTask(Purchase)
    composite = _purchase_composite(task)
    texts = ["I want a refund for the mugs ☕, $4.75", "order a kettle at $1,299.99 🎉"]
    preds = composite.predict([Example(id=str(i), text=t) for i, t in enumerate(texts)])
    assert [p.output.data for p in preds] == [
        {"kind": "refund", "item": "mugs", "item_price": 4.75},
        {"kind": "order", "item": "kettle", "item_price": 1299.99},
    ]
    teacher = RecordTeacher({"kind": "order", "item": None, "item_price": 1.0})
    out = ExtractCascade(composite, teacher).label(task, [Example(id="0", text=texts[0])])
    assert teacher.asked == [] and to_instances(task, out) == [
        Purchase(kind="refund", item="mugs", item_price=4.75)
    ]


class Order(BaseModel):
    """Done-when of issue 19: a choice, a span, a price and a date."""

    kind: Literal["order", "refund"]
    item: str | None = None
    price: float | None = None
    when: dt.date | None = None


ORDERS = [
    ("order the desk lamp 💡 for $12.50, deliver next Friday", "order", "desk lamp", 12.5, "2026-12-04"),
    ("refund the kettle ($30) I got yesterday", "refund", "kettle", 30.0, "2026-12-01"),
    ("order mugs ☕ at $4.75 for tomorrow please", "order", "mugs", 4.75, "2026-12-03"),
    ("I want a refund for the desk lamp, $12.50, bought last monday", "refund", "desk lamp", 12.5, "2026-11-30"),
    ("order a kettle 🫖 for $1,299.99 to arrive December 24th", "order", "kettle", 1299.99, "2026-12-24"),
    ("order two mugs for $9 delivered soon", "order", "mugs", 9.0, None),
]  # fmt: skip


def test_the_composite_fills_every_field_it_can_and_the_teacher_only_the_rest() -> None:
    task = ExtractTask(Order)
    meta = {"reference_date": "2026-12-02"}
    pairs = [
        (Example(id=f"t{i}", text=t, meta=meta), Extraction(data={"kind": k, "item": it, "price": p, "when": w}))
        for i, (t, k, it, p, w) in enumerate(ORDERS)
    ]  # fmt: skip
    spans = RuleSpans(
        {
            "item": r"desk lamp|kettle|mugs",
            "price": r"\$\d+(?:[.,]\d+)*",
            "when": r"next \w+day|last \w+day|tomorrow|yesterday|December \d+\w*|soon",
        }
    )
    composite = CompositeStudent(textcat=KeywordStudent(), spans=spans)
    fit = composite.fit(task, pairs)
    assert fit["subtasks"]["spans"]["dropped"] == 0
    fresh = [
        "order the kettle for $30 next Friday 🙏",
        "refund the mugs I got yesterday, $4.75",
        "order a desk lamp at $12.50, deliver soon",  # "soon" is no date: the teacher's
        "order mugs ☕ for $9 tomorrow",
    ]
    examples = [Example(id=f"n{i}", text=t, meta=meta) for i, t in enumerate(fresh)]
    teacher = RecordTeacher({"kind": "refund", "item": "WRONG", "price": 1.0, "when": "2026-12-10"})
    cascade = ExtractCascade(composite, teacher)
    got = to_instances(task, cascade.label(task, examples))
    assert got == [
        Order(kind="order", item="kettle", price=30.0, when=dt.date(2026, 12, 4)),
        Order(kind="refund", item="mugs", price=4.75, when=dt.date(2026, 12, 1)),
        Order(kind="order", item="desk lamp", price=12.5, when=dt.date(2026, 12, 10)),
        Order(kind="order", item="mugs", price=9.0, when=dt.date(2026, 12, 3)),
    ]
    stats = cascade.stats
    assert teacher.asked == ["n2"] and teacher.schemas == [["when"]]
    assert (stats.sent_to_teacher, stats.fields_sent, stats.fields) == (1, 1, 16)
    assert stats.sent_by_field == {"when": 1} and stats.teacher_cost == pytest.approx(0.002)
    assert "1 of 16 fields (6.2%) asked of the teacher" in stats.summary()
    # With a threshold, the fields whose subtask is unsure go too, and only those.
    composite.students["spans"].confidence = 0.99  # type: ignore[attr-defined]
    teacher = RecordTeacher({"kind": "refund", "item": "WRONG", "price": 1.0, "when": "2026-12-10"})
    unsure = ExtractCascade(composite, teacher, threshold=0.95)
    [first] = unsure.label(task, examples[:1])
    assert teacher.schemas == [["kind"]] and first.output.teacher == ["kind"]
    assert first.output.data == {
        "kind": "refund",
        "item": "kettle",
        "price": 30.0,
        "when": "2026-12-04",
    }


class Booking(BaseModel):
    kind: Literal["order", "refund"]
    starts: dt.datetime  # required, and no normaliser reads a datetime: stays with the teacher
    note: str | None = Field(None, json_schema_extra={"distil": "teacher"})


def test_a_required_teacher_field_is_a_clear_error_naming_it() -> None:
    task = ExtractTask(Booking)
    assert [f.path for f in task.plan.teacher_fields] == ["starts", "note"]
    assert "no normaliser reads a datetime" in task.plan.field("starts").reason
    with pytest.raises(ParseError) as info:
        task.instance(Extraction(data={"kind": "order", "note": None}, pending=["starts"]))
    message = str(info.value)
    assert "cannot build Booking" in message and "'starts' (it stays with the teacher" in message


def test_a_required_field_still_empty_after_the_teacher_is_an_error_naming_it() -> None:
    task = ExtractTask(Booking)
    composite = CompositeStudent(textcat=KeywordStudent())
    pairs = [
        (Example(id="a", text="order it"), Extraction(data={"kind": "order", "starts": "2026-12-04T10:00:00"})),
        (Example(id="b", text="refund it"), Extraction(data={"kind": "refund", "starts": "2026-12-04T10:00:00"})),
    ]  # fmt: skip
    composite.fit(task, pairs)
    teacher = RecordTeacher({"kind": "order", "note": "call first"})  # no "starts"
    [pred] = ExtractCascade(composite, teacher).label(task, [Example(id="c", text="order now")])
    assert not pred.ok and "required field(s) 'starts' stay empty" in (pred.error or "")
    assert teacher.schemas == [["starts", "note"]]


def test_a_span_override_of_a_field_the_schema_marks_teacher_says_so() -> None:
    with pytest.raises(ConfigError, match="the schema marks it teacher") as info:
        plan_schema(Booking, {"note": "span"})
    assert "only str fields" not in str(info.value)
    with pytest.raises(ConfigError, match="no registered normaliser turns a span into datetime"):
        plan_schema(Booking, {"starts": "span"})


# -- 1. normalisers -------------------------------------------------------------------------------
WEDNESDAY = dt.date(2026, 12, 2)


@pytest.mark.parametrize(
    ("text", "value"),
    [("$12.50", 12.5), ("12,50 €", 12.5), ("1,200", 1200), ("twelve", 12), ("30 dollars", 30)],
)
def test_numbers_and_money_parse(text: str, value: float) -> None:
    assert MoneyNormaliser().parse(text) == value
    assert NumberNormaliser().parse(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("next Friday", dt.date(2026, 12, 4)),
        ("Wednesday", dt.date(2026, 12, 9)),
        ("last monday", dt.date(2026, 11, 30)),
        ("tomorrow", dt.date(2026, 12, 3)),
        ("in 2 weeks", dt.date(2026, 12, 16)),
        ("December 24th", dt.date(2026, 12, 24)),
        ("3 Jan 2027", dt.date(2027, 1, 3)),
        ("2027-02-01", dt.date(2027, 2, 1)),
    ],
)
def test_dates_parse_relative_to_the_reference(text: str, value: dt.date) -> None:
    assert DateNormaliser().parse(text, WEDNESDAY) == value
    assert DateNormaliser("2026-12-02").parse(text) == value


def test_a_span_that_is_not_a_value_is_refused_not_guessed() -> None:
    for bad in ("soon", "the lamp", ""):
        with pytest.raises(ValueError):
            DateNormaliser().parse(bad, WEDNESDAY)
        with pytest.raises(ValueError):
            MoneyNormaliser().parse(bad)


class Delivery(BaseModel):
    kind: Literal["order", "refund"]
    item: str | None = None
    price: float | None = None
    when: dt.date | None = None
    quantity: int | None = None
    total: Decimal | None = None
    starts: dt.datetime | None = None


def test_the_planner_picks_a_normaliser_by_type_and_config_overrides_it() -> None:
    plan = plan_schema(Delivery)
    picked = {f.path: (f.kind, f.normaliser) for f in plan.fields}
    assert picked == {
        "kind": ("exclusive", None),
        "item": ("span", None),
        "price": ("span", "money.v1"),
        "when": ("span", "date.v1"),
        "quantity": ("span", "number.v1"),
        "total": ("span", "money.v1"),
        "starts": ("teacher", None),
    }
    assert plan.subtasks["spans"].labels == ["item", "price", "when", "quantity", "total"]
    moved = plan_schema(Delivery, {"price": "number.v1", "quantity": "teacher"})
    assert moved.field("price").normaliser == "number.v1" and moved.field("price").overridden
    assert moved.field("quantity").kind == "teacher"
    with pytest.raises(ConfigError, match=r"task.fields.when: .*cannot use normaliser 'money.v1'"):
        plan_schema(Delivery, {"when": "money.v1"})
    with pytest.raises(ConfigError, match=r"neither a decision .* nor a registered normaliser"):
        plan_schema(Delivery, {"price": "euros.v1"})


def test_normalisers_are_a_registry_like_the_others() -> None:
    from distil.plugins import get_host

    host = get_host()
    assert {"text.v1", "number.v1", "money.v1", "date.v1"} <= set(host.names("normalisers"))
    assert host.registries["normalisers"]["date.v1"].plugin == "distil"


def test_the_extract_paths_re_export_the_task_layer_and_normalisers_register_once() -> None:
    """Issue 16: the planner, normalisers, scorer and merge live in the tasks layer; the old
    ``distil.extract.*`` paths are the same objects, and core registers each normaliser once."""
    import distil.extract.answers as old_answers
    import distil.extract.normalise as old_normalise
    import distil.extract.plan as old_plan
    import distil.extract.scoring as old_scoring
    from distil.plugins import PluginHost
    from distil.tasks import extract_answers, extract_normalise, extract_plan, extract_scoring

    assert old_plan.plan_schema is extract_plan.plan_schema and old_plan.Plan is extract_plan.Plan
    assert old_normalise.Normaliser is extract_normalise.Normaliser is Normaliser
    assert old_scoring.score_records is extract_scoring.score_records
    assert old_answers.merge_extract_labels is extract_answers.merge_extract_labels
    host = PluginHost(entry_points=False, strict=True)
    registered = host.registries["normalisers"]
    assert {n: r.factory for n, r in registered.items()} == extract_normalise.BUILTIN_NORMALISERS
    assert {r.plugin for r in registered.values()} == {"distil"}
    assert registered["date.v1"].factory.__module__ == "distil.tasks.extract_normalise"


def test_the_planner_reads_the_registry_the_host_hands_down() -> None:
    """The tasks layer may not import the plugin host: the host installs its registry
    (``use_registry``); with none installed the planner knows core's own normalisers only."""
    import distil.plugins
    from distil.tasks.extract_normalise import use_registry

    class Sale(BaseModel):
        kind: Literal["order", "refund"]
        discount: float | None = None

    try:
        use_registry(lambda: {"percent.v1": Percent, "number.v1": NumberNormaliser})
        plan = plan_schema(Sale, {"discount": "percent.v1"})
        assert plan.field("discount").normaliser == "percent.v1"
        assert isinstance(plan.normalisers["discount"], Percent)
        use_registry(None)
        with pytest.raises(ConfigError, match=r"nor a registered normaliser \(date.v1, money.v1"):
            plan_schema(Sale, {"discount": "percent.v1"})
        assert plan_schema(Sale, {"discount": "number.v1"}).field("discount").overridden
    finally:
        use_registry(distil.plugins._registered_normalisers)


def test_a_date_field_trains_and_predicts_from_the_examples_reference_date() -> None:
    class Slot(BaseModel):
        kind: Literal["order", "refund"]
        when: dt.date | None = None

    task = ExtractTask(Slot)
    meta = {"reference_date": "2026-12-02"}
    train = [
        ("deliver it next Friday 📦", "order", "2026-12-04"),
        ("refund, it came tomorrow", "refund", "2026-12-03"),
        ("order for December 24th 🎄", "order", "2026-12-24"),
    ]
    pairs = [
        (Example(id=str(i), text=t, meta=meta), Extraction(data={"kind": k, "when": w}))
        for i, (t, k, w) in enumerate(train)
    ]
    [(_, spans)] = [
        (k, v) for k, v in task.plan.split(pairs[0][1].data, train[0][0], WEDNESDAY)[0].items()
        if k == "spans"
    ]  # fmt: skip
    assert [train[0][0][s.start : s.end] for s in spans.spans] == ["next Friday"]
    composite = CompositeStudent(
        textcat=KeywordStudent(),
        spans=RuleSpans({"when": r"next \w+day|tomorrow|December \d+\w*"}),
    )
    composite.fit(task, pairs)
    later = {"reference_date": "2027-01-06"}  # another Wednesday: "next Friday" moves with it
    [pred] = composite.predict([Example(id="z", text="order it for next Friday", meta=later)])
    assert pred.output.data == {"kind": "order", "when": "2027-01-08"} and not pred.output.pending


class Percent(Normaliser):
    """A plugin's normaliser: "15%" → 0.15."""

    name = "percent.v1"
    types: ClassVar[tuple[type, ...]] = (float,)

    def parse(self, text: str, reference: dt.date | None = None) -> float:
        if not re.fullmatch(r"\d+(?:\.\d+)?\s?%", text.strip()):
            raise ValueError(f"{text!r} is not a percentage")
        return float(text.strip().rstrip("%")) / 100

    def candidates(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\d+(?:\.\d+)?\s?%", text)]


class RegistersPercent:
    @distil.hookimpl
    def register_normalisers(self, register: Any) -> None:
        register("percent.v1", Percent)


def test_a_plugin_registers_a_normaliser_that_config_can_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import distil.plugins

    host = distil.plugins.PluginHost(
        entry_points=False, modules=[("units", RegistersPercent())], strict=True
    )
    assert host.registries["normalisers"]["percent.v1"].plugin == "units"
    monkeypatch.setattr(distil.plugins, "get_host", lambda: host)

    class Sale(BaseModel):
        kind: Literal["order", "refund"]
        discount: float | None = None

    assert plan_schema(Sale).field("discount").normaliser == "number.v1"
    plan = plan_schema(Sale, {"discount": "percent.v1"})
    text = "order it with 15% off 🏷️"
    outputs, failed = plan.split({"kind": "order", "discount": 0.15}, text)
    assert failed == {} and [text[s.start : s.end] for s in outputs["spans"].spans] == ["15%"]
    assert plan.assemble(outputs, text) == {"kind": "order", "discount": 0.15}
