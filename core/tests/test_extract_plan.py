"""The decomposition planner and the extract task: the plan of every field kind, overrides,
validation failures with their reasons, the record ↔ subtask round trip, and the scores."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from distil.errors import ConfigError, DataError, ParseError
from distil.extract.plan import plan_schema
from distil.extract.render import plan_text
from distil.records import Categories, Example, Extraction, Span, Spans
from distil.tasks.extract import ExtractTask, import_schema, make_extract


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


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
    color: Color | None = None
    note: str | None = Field(default=None, json_schema_extra={"distil": "teacher"})


TEXT = "Alice wants to buy mugs and plates in Paris, urgent"
RECORD = {
    "intent": "buy",
    "tags": ["urgent"],
    "paid": False,
    "customer": "Alice",
    "items": ["mugs", "plates"],
    "address": {"city": "Paris", "country": "FR"},
    "quantity": 3,
    "color": None,
    "note": None,
}


def test_each_field_kind_gets_its_subtask_and_the_int_is_a_normalised_span() -> None:
    plan = plan_schema(Order)
    got = {f.path: (f.kind, f.subtask, f.choices, f.many, f.optional) for f in plan.fields}
    assert got == {
        "intent": ("exclusive", "textcat:intent", ("buy", "sell"), False, False),
        "tags": ("multilabel", "textcat:tags", ("urgent", "gift"), True, False),
        "paid": ("binary", "textcat:paid", ("true", "false"), False, False),
        "customer": ("span", "spans", (), False, True),
        "items": ("span", "spans", (), True, False),
        "address.city": ("span", "spans", (), False, True),
        "address.country": ("exclusive", "textcat:address.country", ("FR", "DE", "null"), False, True),
        "quantity": ("span", "spans", (), False, True),
        "color": ("exclusive", "textcat:color", ("red", "blue", "null"), False, True),
        "note": ("teacher", None, (), False, True),
    }  # fmt: skip
    assert list(plan.subtasks) == [
        "textcat:intent",
        "textcat:tags",
        "textcat:paid",
        "textcat:address.country",
        "textcat:color",
        "spans",
    ]
    spans = plan.subtasks["spans"]
    assert spans.kind == "ner" and spans.labels == ["customer", "items", "address.city", "quantity"]
    assert plan.field("quantity").normaliser == "number.v1"
    tags = plan.subtasks["textcat:tags"]
    assert tags.kind == "textcat" and tags.multilabel  # type: ignore[attr-defined]
    assert [f.path for f in plan.teacher_fields] == ["note"]


def test_config_overrides_move_a_field_and_say_so_in_the_plan() -> None:
    plan = plan_schema(Order, {"customer": "teacher", '"address.city"': "teacher"})
    assert plan.field("customer").kind == "teacher" and plan.field("customer").overridden
    assert plan.subtasks["spans"].labels == ["items", "quantity"]
    text = plan_text(plan)
    assert "task.fields.customer: stays with the teacher" in text
    assert (
        "served by the teacher through the cascade: customer, address.city, note, because" in text
    )
    assert "  note: Order.note (schema): stays with the teacher" in text
    assert "[task.fields]" in text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"color": "span"}, "field 'color' (Color | None) cannot be a span: its values are not"),
        ({"note": "span"}, "field 'note' (str | None) cannot be 'span': the schema marks it"),
        ({"customer": "textcat"}, "field 'customer' (str | None) cannot be a textcat"),
        ({"custmer": "teacher"}, "'custmer' is not a field of Order; its fields are ['intent'"),
        ({"intent": "student"}, "task.fields.intent: 'student' is neither a decision (auto,"),
    ],
)
def test_a_bad_override_is_an_error_that_names_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        plan_schema(Order, overrides)
    assert message in str(info.value)


def test_schema_import_path_errors_name_the_problem() -> None:
    assert import_schema("distil.extract.examples.snips:SnipsQuery").__name__ == "SnipsQuery"
    with pytest.raises(ConfigError, match=r"as 'package\.module:Model'"):
        import_schema("distil.extract.examples.snips.SnipsQuery")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module'"):
        import_schema("no_such_module:X")
    with pytest.raises(ConfigError, match="has no attribute 'Nope'"):
        import_schema("distil.extract.examples.snips:Nope")
    with pytest.raises(ConfigError, match="is not a pydantic model"):
        import_schema("distil.extract.examples.snips:Intent")


def test_a_valid_answer_becomes_the_validated_record_and_the_users_type() -> None:
    task = ExtractTask(Order)
    out = task.from_answer({**RECORD, "color": "red"}, Example(id="1", text=TEXT))
    assert isinstance(out, Extraction)
    assert out.data["color"] == "red" and out.data["address"] == {"city": "Paris", "country": "FR"}
    instance = task.instance(out)
    assert isinstance(instance, Order) and instance.color is Color.RED
    assert "$ref" not in str(task.json_schema()) and "$defs" not in task.json_schema()


def test_invalid_and_partial_records_are_parse_failures_naming_every_bad_field() -> None:
    task = ExtractTask(Order)
    example = Example(id="1", text=TEXT)
    with pytest.raises(ParseError) as info:
        task.from_answer({**RECORD, "intent": "steal", "quantity": "many"}, example)
    assert "2 invalid field(s)" in str(info.value)
    assert "intent: Input should be 'buy' or 'sell'" in str(info.value)
    assert "quantity: Input should be a valid integer" in str(info.value)
    partial = {k: v for k, v in RECORD.items() if k != "paid"}
    with pytest.raises(ParseError, match=r"1 invalid field\(s\): paid: missing"):
        task.from_answer(partial, example)
    with pytest.raises(ParseError, match="expected a JSON object"):
        task.from_answer(["buy"], example)


def test_a_record_splits_into_subtask_answers_and_reassembles() -> None:
    task = ExtractTask(Order, {"quantity": "teacher"})  # TEXT does not say its quantity
    data = task.validate_data(RECORD)
    outputs, failed = task.plan.split(data, TEXT)
    assert failed == {}
    assert outputs["textcat:intent"] == Categories(labels=["buy"])
    assert outputs["textcat:tags"] == Categories(labels=["urgent"])
    assert outputs["textcat:paid"] == Categories(labels=["false"])
    assert outputs["textcat:color"] == Categories(labels=["null"])
    assert outputs["spans"] == Spans(
        spans=[
            Span(start=0, end=5, label="customer"),
            Span(start=19, end=23, label="items"),
            Span(start=28, end=34, label="items"),
            Span(start=38, end=43, label="address.city"),
        ]
    )
    back = task.plan.assemble(outputs, TEXT)
    assert back == {k: v for k, v in data.items() if k not in ("quantity", "note")}


def test_a_span_value_missing_from_the_text_fails_only_the_span_subtask() -> None:
    task = ExtractTask(Order)
    data = task.validate_data({**RECORD, "customer": "Bob"})
    outputs, failed = task.plan.split(data, TEXT)
    assert failed == {"spans": "customer: 'Bob' not found in the text"}
    assert "spans" not in outputs and outputs["textcat:intent"] == Categories(labels=["buy"])


def test_gold_records_come_from_labels_and_spans_or_from_meta() -> None:
    task = make_extract("distil.extract.examples.snips:SnipsQuery")
    ex = Example(
        id="q",
        text="Play a song by Rahsaan Patterson.",
        labels=["PlayMusic"],
        spans=[Span(start=7, end=11, label="music_item"), Span(start=15, end=32, label="artist")],
    )
    ref = task.reference(ex)
    assert isinstance(ref, Extraction)
    assert ref.data["intent"] == "PlayMusic"
    assert ref.data["artist"] == "Rahsaan Patterson" and ref.data["music_item"] == ["song"]
    assert ref.data["city"] is None
    order = ExtractTask(Order)
    meta = Example(id="m", text=TEXT, meta={"record": RECORD})
    assert order.reference(meta) == Extraction(data=order.validate_data(RECORD))
    with pytest.raises(
        DataError, match=r"example 'b': its gold record is invalid: .*paid: missing"
    ):
        order.reference(Example(id="b", text=TEXT, meta={"record": {"intent": "buy"}}))


def test_scores_per_field_and_per_record() -> None:
    task = ExtractTask(Order)
    gold_a = task.validate_data(RECORD)
    gold_b = task.validate_data({"intent": "sell", "paid": True, "customer": "Bob", "quantity": 1})
    pred_a = {**gold_a, "items": ["mugs"], "customer": "Alicia"}  # 1 of 2 items, wrong customer
    gold = [Extraction(data=gold_a), Extraction(data=gold_b)]
    scores = task.score(gold, [Extraction(data=pred_a), None])  # the second failed to validate
    per = scores["per_label"]
    assert per["intent"] == {"p": 1.0, "r": 0.5, "f1": 2 / 3, "support": 2, "accuracy": 0.5, "kind": "exclusive", "missing": 1, "wrong": 0, "extra": 0, "empty": 0}  # fmt: skip
    assert per["items"]["p"] == 1.0 and per["items"]["r"] == 0.5 and per["items"]["support"] == 2
    assert per["customer"]["f1"] == 0.0 and per["customer"]["support"] == 2
    assert per["quantity"]["kind"] == "span" and per["quantity"]["r"] == 0.5
    assert per["customer"]["wrong"] == 1 and per["customer"]["missing"] == 1
    assert scores["accuracy"] == scores["exact_record"] == 0.0
    assert scores["failure_rate"] == 0.5 and scores["failures"] == 1
    same = task.score(gold, [Extraction(data=gold_a), Extraction(data=gold_b)])
    assert same["exact_record"] == 1.0 and same["micro_f1"] == 1.0 and same["macro_f1"] == 1.0
    assert same["ci"]["accuracy"] == [1.0, 1.0]
    paired = task.paired_bootstrap(gold, [Extraction(data=gold_a), None], [None, None])
    assert paired["delta"] > 0 and paired["metric"] == "macro_f1"


def test_each_subtask_gets_its_own_focused_passes_then_a_review_each() -> None:
    from distil.annotate.passes import plan_passes

    passes = plan_passes(ExtractTask(Order, {"color": "teacher", "note": "auto"}))
    assert [(p.name, p.mode, p.label) for p in passes] == [
        ("textcat:intent/check", "binary", None),
        ("textcat:intent/fix", "choice", None),
        ("textcat:tags/check:urgent", "binary", "urgent"),
        ("textcat:tags/check:gift", "binary", "gift"),
        ("textcat:tags/fix", "multi", None),
        ("textcat:paid/check", "binary", None),
        ("textcat:paid/fix", "choice", None),
        ("textcat:address.country/check", "binary", None),
        ("textcat:address.country/fix", "choice", None),
        ("spans/check:customer", "binary", "customer"),
        ("spans/check:items", "binary", "items"),
        ("spans/check:address.city", "binary", "address.city"),
        ("spans/check:quantity", "binary", "quantity"),
        ("spans/check:none", "binary", None),  # the records whose slots the teacher left empty
        ("spans/check:not-in-text", "binary", None),  # those with a value not in the text
        ("spans/fix", "spans", None),
        ("textcat:intent/review", "review", None),
        ("textcat:tags/review", "review", None),
        ("textcat:paid/review", "review", None),
        ("textcat:address.country/review", "review", None),
        ("spans/review", "review", None),
    ]
    assert passes[0].title == "intent: Is the teacher's label right?"


def test_a_composite_of_constant_subtasks_saves_loads_and_leaves_the_teacher_field_pending(
    tmp_path: Path,
) -> None:
    from distil.extract.composite import CompositeStudent

    task = ExtractTask(Order, {"quantity": "teacher"})
    record = task.validate_data(RECORD)
    train = [(Example(id=str(i), text=TEXT), Extraction(data=record)) for i in range(3)]
    ghost = task.validate_data({**RECORD, "customer": "Bob"})
    train.append((Example(id="ghost", text=TEXT), Extraction(data=ghost)))
    from distil.student import Student

    class NeverTrained(Student):
        """Every subtask below has one answer: the composite must not train a student for it."""

        name = "never"
        task_kinds = frozenset({"textcat", "ner"})

        def fit(self, *args: object, **kwargs: object) -> dict:
            raise AssertionError("a constant subtask was trained")

    student = CompositeStudent(textcat=NeverTrained(), spans=NeverTrained())
    report = student.fit(task, train)
    subtasks = report["subtasks"]
    assert {name: entry["student"] for name, entry in subtasks.items()} == dict.fromkeys(
        task.plan.subtasks, "constant"
    )
    assert subtasks["spans"]["dropped"] == 1 and subtasks["textcat:intent"]["n_train"] == 4
    assert subtasks["spans"]["dropped_examples"] == ["ghost: customer: 'Bob' not found in the text"]
    student.save(tmp_path / "model")
    loaded = CompositeStudent.load(tmp_path / "model")
    (pred,) = loaded.predict([Example(id="new", text="Bob sells nothing")])
    assert isinstance(pred.output, Extraction) and pred.confidence == 1.0
    assert pred.output.pending == ["quantity", "note"]
    assert pred.output.data["intent"] == "buy" and pred.output.data["customer"] is None
    with pytest.raises(ValueError, match="trained on subtasks"):
        loaded.check_task(ExtractTask(Order, {"color": "teacher", "quantity": "teacher"}))
