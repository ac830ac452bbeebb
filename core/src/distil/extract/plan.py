"""The decomposition planner: a pydantic schema → atomic subtasks a small model can learn.

The seed compares distillation to refactoring: break the problem into smaller ones. A whole record
(an intent and its slots) is too much for one small model, but each flat part is not. The planner
reads the schema's fields and decides, per field (dotted path for nested models):

* ``Literal`` / ``Enum`` → an exclusive ``textcat`` subtask (``textcat:<field>``);
* ``list[Literal]`` / ``list[Enum]`` (or set, tuple) → a multi-label ``textcat`` subtask;
* ``bool`` → a binary ``textcat`` subtask (labels ``true`` / ``false``);
* ``str`` / ``list[str]`` whose values are spans of the input → a label of the ONE ``ner``
  subtask (``spans``) that every span field shares; the span label is the dotted field name;
* anything else (numbers, dates, nested lists, free text marked so) → ``teacher``: the field stays
  with the teacher and the runtime asks the teacher for it alone (the cascade).

``Optional[X]`` unwraps to ``X`` (a textcat subtask of an optional field gets a ``null`` label);
nested models flatten into dotted names. A decision is overridden in config (``[task.fields]``,
``"price" = "teacher"``) or in the schema (``Field(json_schema_extra={"distil": "teacher"})``);
:class:`FieldOverrides` validates the config form and names the field in every error.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from pydantic import BaseModel

from ..errors import ConfigError
from ..records import Categories, Span, Spans, TaskOutput
from ..tasks import NerTask, Task, TextCat
from ..tasks.spans import occurrences

FieldKind = Literal["exclusive", "multilabel", "binary", "span", "teacher"]
#: What a config (or the schema) may ask for one field.
Decision = Literal["auto", "textcat", "span", "teacher"]
#: The label a textcat subtask uses for a ``None`` value of an optional field.
NULL = "null"
#: The name of the one span subtask every span field shares.
SPAN_SUBTASK = "spans"


@dataclass(frozen=True)
class FieldPlan:
    """How one (flattened) field is learnt.

    ``choices`` are the textcat labels (strings) and ``values`` the Python values they stand for,
    in the same order. ``many`` marks a list field. ``reason`` says why in words (shown by
    ``distil plan``).
    """

    path: str
    kind: FieldKind
    annotation: str
    reason: str
    choices: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    many: bool = False
    optional: bool = False
    overridden: bool = False

    @property
    def subtask(self) -> str | None:
        if self.kind == "teacher":
            return None
        if self.kind == "span":
            return SPAN_SUBTASK
        return f"textcat:{self.path}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.path,
            "kind": self.kind,
            "subtask": self.subtask,
            "type": self.annotation,
            "reason": self.reason,
            "choices": list(self.choices),
            "many": self.many,
            "optional": self.optional,
            "overridden": self.overridden,
        }


class FieldOverrides(BaseModel):
    """``[task.fields]``: a decision per dotted field name (``auto``, ``textcat``, ``span``,
    ``teacher``). Unknown names and impossible decisions are errors that name the field."""

    model_config = {"extra": "forbid"}
    fields: dict[str, Decision] = {}


# -- reading annotations ---------------------------------------------------------------------
def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap_optional(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(tp)):
            inner, _ = _unwrap_optional(args[0])
            return inner, True
    return tp, False


def _choices(tp: Any) -> tuple[tuple[str, ...], tuple[Any, ...]] | None:
    """Labels and values of a Literal or Enum type, or None for any other type."""
    if typing.get_origin(tp) is Literal:
        values = tuple(typing.get_args(tp))
        return tuple(str(v) for v in values), values
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        members = tuple(tp)
        return tuple(str(m.value) for m in members), tuple(m.value for m in members)
    return None


def _list_item(tp: Any) -> Any | None:
    origin = typing.get_origin(tp)
    if origin in (list, set, frozenset, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if len(args) == 1:
            return args[0]
    return None


def _type_name(tp: Any, optional: bool) -> str:
    name = getattr(tp, "__name__", None) if isinstance(tp, type) else None
    text = name or str(tp).replace("typing.", "")
    if typing.get_origin(tp) is Literal and len(typing.get_args(tp)) > 3:
        text = f"Literal[{len(typing.get_args(tp))} values]"
    return f"{text} | None" if optional else text


def _auto(path: str, tp: Any, optional: bool) -> FieldPlan:
    """The planner's own decision for one leaf field."""
    name = _type_name(tp, optional)
    null = (NULL,) if optional else ()
    nulls = (None,) if optional else ()
    if tp is bool:
        return FieldPlan(
            path, "binary", name, "bool → binary textcat",
            ("true", "false", *null), (True, False, *nulls), optional=optional,
        )  # fmt: skip
    found = _choices(tp)
    if found is not None:
        labels, values = found
        return FieldPlan(
            path, "exclusive", name, f"{len(labels)} choices → exclusive textcat",
            (*labels, *null), (*values, *nulls), optional=optional,
        )  # fmt: skip
    item = _list_item(tp)
    if item is not None:
        inner, _ = _unwrap_optional(item)
        found = _choices(inner)
        if found is not None:
            labels, values = found
            return FieldPlan(
                path, "multilabel", name, f"list of {len(labels)} choices → multi-label textcat",
                labels, values, many=True, optional=optional,
            )  # fmt: skip
        if inner is str:
            return FieldPlan(
                path, "span", name, "list[str] → spans of the text (NER label)",
                many=True, optional=optional,
            )  # fmt: skip
    if tp is str:
        return FieldPlan(
            path, "span", name, "str → a span of the text (NER label)", optional=optional
        )
    return FieldPlan(path, "teacher", name, f"{name} is not a label or a span → stays with the teacher", optional=optional)  # fmt: skip


def _apply(plan: FieldPlan, decision: Decision, where: str) -> FieldPlan:
    """``plan`` changed by an override; ConfigError when the field's type cannot take it."""
    if decision == "auto":
        return plan
    if decision == "teacher":
        return FieldPlan(
            plan.path, "teacher", plan.annotation, f"{where}: stays with the teacher",
            many=plan.many, optional=plan.optional, overridden=True,
        )  # fmt: skip
    if decision == "span":
        if plan.kind == "span":
            return plan
        raise ConfigError(
            f"{where}: field '{plan.path}' ({plan.annotation}) cannot be a span: only str fields "
            "and lists of str hold text copied from the input"
        )
    if plan.kind in ("exclusive", "multilabel", "binary"):
        return plan
    raise ConfigError(
        f"{where}: field '{plan.path}' ({plan.annotation}) cannot be a textcat: only Literal, Enum, "
        "bool and lists of Literal/Enum have a fixed set of labels"
    )


def _leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any, bool, Any]]:
    """(dotted path, unwrapped type, optional, schema-level decision) of every leaf field."""
    out: list[tuple[str, Any, bool, Any]] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        tp, optional = _unwrap_optional(info.annotation)
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        decision = extra.get("distil")
        if isinstance(tp, type) and issubclass(tp, BaseModel) and decision is None:
            out += _leaves(tp, f"{path}.")
            continue
        # "optional" means the type admits None (a default alone does not make None valid).
        out.append((path, tp, optional, decision))
    return out


@dataclass
class Plan:
    """The plan of one schema: every leaf field's :class:`FieldPlan`, and the subtasks."""

    schema: type[BaseModel]
    fields: list[FieldPlan]
    subtasks: dict[str, Task] = field(default_factory=dict)

    @property
    def student_fields(self) -> list[FieldPlan]:
        return [f for f in self.fields if f.kind != "teacher"]

    @property
    def teacher_fields(self) -> list[FieldPlan]:
        return [f for f in self.fields if f.kind == "teacher"]

    def field(self, path: str) -> FieldPlan:
        for f in self.fields:
            if f.path == path:
                return f
        raise KeyError(path)

    def fields_of(self, subtask: str) -> list[FieldPlan]:
        return [f for f in self.fields if f.subtask == subtask]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": f"{self.schema.__module__}:{self.schema.__qualname__}",
            "fields": [f.to_dict() for f in self.fields],
            "subtasks": {name: task.describe() for name, task in self.subtasks.items()},
        }

    # -- record → subtask answers ---------------------------------------------------------
    def split(
        self, data: dict[str, Any], text: str
    ) -> tuple[dict[str, TaskOutput], dict[str, str]]:
        """The answer of every subtask for one record, and why a subtask has none.

        A span subtask has no answer for a record when a span field's value is not found in the
        text, or overlaps another span field's value: the NER answer would be wrong (the value
        missing from it), so the record is left out of that subtask only; the reason names the
        field. Textcat subtasks are unaffected.
        """
        outputs: dict[str, TaskOutput] = {}
        failed: dict[str, str] = {}
        for f in self.fields:
            if f.kind in ("exclusive", "binary", "multilabel"):
                value = get_path(data, f.path)
                values = list(value or []) if f.many else [value]
                labels = []
                for v in values:
                    v = v.value if isinstance(v, enum.Enum) else v
                    if v not in f.values:
                        failed[f.subtask or ""] = f"{f.path}: {v!r} is not one of {list(f.choices)}"
                        break
                    labels.append(f.choices[f.values.index(v)])
                else:
                    outputs[f"textcat:{f.path}"] = Categories(labels=labels)
        spans = self.fields_of(SPAN_SUBTASK)
        if spans:
            placed: list[Span] = []
            reason = None
            for f in spans:
                value = get_path(data, f.path)
                values = [v for v in (list(value or []) if f.many else [value]) if v]
                for v in values:
                    pick = _place(text, str(v), placed)
                    if pick is None:
                        found = occurrences(text, str(v).strip())
                        why = "overlaps another span field" if found else "not found in the text"
                        reason = f"{f.path}: {str(v)!r} {why}"
                        break
                    placed.append(Span(start=pick[0], end=pick[1], label=f.path))
                if reason:
                    break
            if reason:
                failed[SPAN_SUBTASK] = reason
            else:
                outputs[SPAN_SUBTASK] = Spans(spans=sorted(placed, key=lambda s: (s.start, s.end)))
        return outputs, failed

    # -- subtask answers → record ---------------------------------------------------------
    def assemble(self, outputs: Mapping[str, TaskOutput | None], text: str) -> dict[str, Any]:
        """A record (JSON data) from the subtasks' answers; teacher fields are left out."""
        data: dict[str, Any] = {}
        for f in self.student_fields:
            out = outputs.get(f.subtask or "")
            if isinstance(out, Categories):
                values = [f.values[f.choices.index(x)] for x in out.labels if x in f.choices]
                value: Any = values if f.many else (values[0] if values else None)
            elif isinstance(out, Spans):
                texts = [text[s.start : s.end] for s in out.spans if s.label == f.path]
                value = texts if f.many else (texts[0] if texts else None)
            else:
                value = [] if f.many else None
            set_path(data, f.path, value)
        return data


def _place(text: str, value: str, placed: list[Span]) -> tuple[int, int] | None:
    for start, end in occurrences(text, value.strip()):
        if not any(start < s.end and s.start < end for s in placed):
            return start, end
    return None


def get_path(data: dict[str, Any] | None, path: str) -> Any:
    """The value at a dotted path of nested dicts (None where any part is missing)."""
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path in nested dicts, creating the parents."""
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def plan_schema(
    schema: type[BaseModel], overrides: dict[str, str] | None = None, where: str = "task.fields"
) -> Plan:
    """Plan ``schema``: one :class:`FieldPlan` per leaf field, and the subtasks they make up.

    ``overrides`` maps dotted field names to a decision (``auto``, ``textcat``, ``span``,
    ``teacher``); a name that is not a field, or a decision the field's type cannot take, is a
    :class:`~distil.errors.ConfigError` that names the field.
    """
    from pydantic import ValidationError

    try:
        # Config keys may be quoted ("owner.name" = "teacher"): confection keeps the quotes.
        given = {str(k).strip("\"'"): v for k, v in (overrides or {}).items()}
        checked = FieldOverrides.model_validate({"fields": given}).fields
    except ValidationError as exc:
        bad = "; ".join(
            f"{where}.{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(bad) from None
    leaves = _leaves(schema)
    known = [path for path, *_ in leaves]
    unknown = [name for name in checked if name not in known]
    if unknown:
        raise ConfigError(
            f"{where}: {', '.join(repr(u) for u in unknown)} is not a field of "
            f"{schema.__name__}; its fields are {known}"
        )
    fields = []
    for path, tp, optional, in_schema in leaves:
        plan = _auto(path, tp, optional)
        if in_schema is not None:
            if in_schema not in ("auto", "textcat", "span", "teacher"):
                raise ConfigError(
                    f"{schema.__name__}.{path}: json_schema_extra distil={in_schema!r}; "
                    "use auto, textcat, span or teacher"
                )
            plan = _apply(plan, in_schema, f"{schema.__name__}.{path} (schema)")
        if path in checked:
            plan = _apply(plan, checked[path], f"{where}.{path}")
        fields.append(plan)
    subtasks: dict[str, Task] = {}
    for f in fields:
        if f.kind in ("exclusive", "binary", "multilabel"):
            subtasks[f"textcat:{f.path}"] = TextCat(
                list(f.choices), multilabel=f.kind == "multilabel"
            )
    span_labels = [f.path for f in fields if f.kind == "span"]
    if span_labels:
        subtasks[SPAN_SUBTASK] = NerTask(span_labels)
    return Plan(schema=schema, fields=fields, subtasks=subtasks)
