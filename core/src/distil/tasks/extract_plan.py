"""The decomposition planner: a pydantic schema → atomic subtasks a small model can learn.

The seed compares distillation to refactoring: break the problem into smaller ones. A whole record
(an intent and its slots) is too much for one small model, but each flat part is not. The planner
reads the schema's fields and decides, per field (dotted path for nested models):

* ``Literal`` / ``Enum`` → an exclusive ``textcat`` subtask (``textcat:<field>``);
* ``list[Literal]`` / ``list[Enum]`` (or set, tuple) → a multi-label ``textcat`` subtask;
* ``bool`` → a binary ``textcat`` subtask (labels ``true`` / ``false``);
* ``str`` / ``list[str]`` whose values are spans of the input → a label of the ONE ``ner``
  subtask (``spans``) that every span field shares; the span label is the dotted field name;
* a number, an amount or a date (``int``, ``float``, ``Decimal``, ``date``, or a list of them)
  → a label of the same NER subtask *plus a normaliser* (:mod:`.extract_normalise`): the span
  ("$12.50", "next Friday") is learnt, the normaliser turns it into the value (12.5, a date);
* anything else (nested lists of models, datetimes, free text marked so) → ``teacher``: the field
  stays with the teacher, with the reason in words, and the runtime asks the teacher for it alone.

**Empty values** follow one rule everywhere (:func:`is_blank`): ``None``, a missing key, ``""``,
a whitespace-only string and a list of nothing but those are *no value*. Training reads them as
no value (an optional textcat field's ``null``; no span), and scoring too
(:mod:`.extract_scoring` counts the empty strings apart, so a teacher that writes ``""`` for
"none" is not scored as wrong in every field).

``Optional[X]`` unwraps to ``X`` (a textcat subtask of an optional field gets a ``null`` label);
nested models flatten into dotted names. A decision is overridden in config (``[task.fields]``,
``"price" = "teacher"``, ``"price" = "money.v1"`` for a registered normaliser) or in the schema
(``Field(json_schema_extra={"distil": "teacher"})``); every refusal is a ConfigError that names
the field and the real reason. Fields are matched by their exact dotted name, never by substring.

The planner lives in the tasks layer, beside :class:`~distil.tasks.extract.ExtractTask`, which
keeps the plan so that every stage reads the same one; ``distil.extract.plan`` re-exports it.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from pydantic import BaseModel

from ..errors import ConfigError
from ..records import Categories, Span, Spans, TaskOutput
from .base import Task
from .extract_normalise import Normaliser, choose, get_normaliser, names, reference_of
from .spans import NerTask, occurrences
from .textcat import TextCat

__all__ = [
    "DECISIONS",
    "NULL",
    "SPAN_SUBTASK",
    "FieldOverrides",
    "FieldPlan",
    "NotPlaced",
    "Plan",
    "get_path",
    "is_blank",
    "plan_schema",
    "present",
    "reference_of",
    "set_path",
]

if typing.TYPE_CHECKING:
    import datetime as dt

FieldKind = Literal["exclusive", "multilabel", "binary", "span", "teacher"]
#: What a config (or the schema) may ask for one field.
#: (or the name of a registered normaliser, ``"money.v1"``: a span plus that normaliser).
Decision = str
DECISIONS = ("auto", "textcat", "span", "teacher")
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
    #: The registered normaliser that turns this span field's text into its value (None: the
    #: text itself is the value).
    normaliser: str | None = None

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
            "normaliser": self.normaliser,
        }


class FieldOverrides(BaseModel):
    """``[task.fields]``: a decision per dotted field name (``auto``, ``textcat``, ``span``,
    ``teacher``, or a registered normaliser's name). Unknown names and impossible decisions are
    errors that name the field."""

    model_config = {"extra": "forbid"}
    fields: dict[str, str] = {}


def is_blank(value: Any) -> bool:
    """True for *no value*: None, ``""``, a whitespace-only string, or a list (set, tuple) of
    nothing but those. The one rule for empty values in training, scoring and the report."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | set | frozenset):
        return all(is_blank(v) for v in value)
    return False


def present(values: list[Any]) -> list[Any]:
    """The values of a (list) field that are not blank, in order."""
    return [v for v in values if not is_blank(v)]


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
    many = item is not None
    chosen, why = choose(path, _unwrap_optional(item)[0] if many else tp)
    if chosen is not None:
        reason = f"list: {why}" if many else why
        return FieldPlan(path, "span", name, reason, many=many, optional=optional, normaliser=chosen)  # fmt: skip
    reason = f"{name} is not a label or a span and {why} → stays with the teacher"
    return FieldPlan(path, "teacher", name, reason, optional=optional)


def _apply(
    plan: FieldPlan, decision: Decision, where: str, tp: Any = None, marked: str | None = None
) -> FieldPlan:
    """``plan`` changed by an override; ConfigError when the field cannot take it.

    ``marked`` is the schema's own ``json_schema_extra`` decision: a config that asks a field the
    schema keeps with the teacher to be learnt is refused with that reason (the schema wins).
    """
    if decision == "auto":
        return plan
    if decision == "teacher":
        return FieldPlan(
            plan.path, "teacher", plan.annotation, f"{where}: stays with the teacher",
            many=plan.many, optional=plan.optional, overridden=True,
        )  # fmt: skip
    if marked == "teacher":
        raise ConfigError(
            f"{where}: field '{plan.path}' ({plan.annotation}) cannot be {decision!r}: the schema "
            'marks it teacher (Field(json_schema_extra={"distil": "teacher"})); remove that mark '
            "from the schema to learn it"
        )
    if decision not in DECISIONS:
        return _normalised(plan, decision, where, tp)
    if decision == "span":
        if plan.kind == "span":
            return plan
        raise ConfigError(
            f"{where}: field '{plan.path}' ({plan.annotation}) cannot be a span: its values are "
            "not text copied from the input, and no registered normaliser turns a span into "
            f"{plan.annotation} (registered: {', '.join(names())}); see docs/extract.md"
        )
    if plan.kind in ("exclusive", "multilabel", "binary"):
        return plan
    raise ConfigError(
        f"{where}: field '{plan.path}' ({plan.annotation}) cannot be a textcat: only Literal, Enum, "
        "bool and lists of Literal/Enum have a fixed set of labels"
    )


def _normalised(plan: FieldPlan, name: str, where: str, tp: Any) -> FieldPlan:
    """``plan`` as a span plus the registered normaliser ``name`` (a config override)."""
    import datetime as dt
    from decimal import Decimal

    try:
        normaliser = get_normaliser(name)
    except (KeyError, TypeError):
        raise ConfigError(
            f"{where}: {name!r} is neither a decision (auto, textcat, span, teacher) nor a "
            f"registered normaliser ({', '.join(names())})"
        ) from None
    inner = _unwrap_optional(_list_item(tp))[0] if _list_item(tp) is not None else tp
    makes = set(normaliser.types)
    numeric = {int, float, Decimal}
    fits = (
        inner in makes
        or (inner in numeric and bool(makes & numeric))
        or (inner is dt.date and dt.date in makes)
    )
    if not fits:
        made = ", ".join(t.__name__ for t in normaliser.types) or "nothing"
        raise ConfigError(
            f"{where}: field '{plan.path}' ({plan.annotation}) cannot use normaliser {name!r}: "
            f"it makes {made}"
        )
    reason = f"{where}: span + {name}"
    return FieldPlan(
        plan.path, "span", plan.annotation, reason, many=_list_item(tp) is not None,
        optional=plan.optional, overridden=True, normaliser=name,
    )  # fmt: skip


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


@dataclass(frozen=True)
class NotPlaced:
    """A span field's value that :meth:`Plan.place_spans` could not place in the text."""

    field: str
    value: Any
    #: "not found in the text" or "overlaps another span field" (and the normaliser tried).
    why: str

    def __str__(self) -> str:
        return f"{self.field}: {str(self.value)!r} {self.why}"


@dataclass
class Plan:
    """The plan of one schema: every leaf field's :class:`FieldPlan`, and the subtasks."""

    schema: type[BaseModel]
    fields: list[FieldPlan]
    subtasks: dict[str, Task] = field(default_factory=dict)
    #: The normaliser of every span field that has one, by dotted path.
    normalisers: dict[str, Normaliser] = field(default_factory=dict)

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
        self, data: dict[str, Any], text: str, reference: dt.date | None = None
    ) -> tuple[dict[str, TaskOutput], dict[str, str]]:
        """The answer of every subtask for one record, and why a subtask has none.

        A span subtask has no answer for a record when a span field's value is not found in the
        text, or overlaps another span field's value: the NER answer would be wrong (the value
        missing from it), so the record is left out of that subtask only; the reason names the
        field. Textcat subtasks are unaffected. A normalised field's value (12.5) is placed at
        the first free candidate span its normaliser parses to that value ("$12.50"); relative
        dates count from ``reference``. Blank values (:func:`is_blank`) are no value.
        """
        outputs: dict[str, TaskOutput] = {}
        failed: dict[str, str] = {}
        for f in self.fields:
            if f.kind in ("exclusive", "binary", "multilabel"):
                value = get_path(data, f.path)
                values = present(list(value or [])) if f.many else [value]
                if not f.many and is_blank(value) and f.optional:
                    values = [None]  # "" for "none" in an optional field is its null label
                labels = []
                for v in values:
                    v = v.value if isinstance(v, enum.Enum) else v
                    if v not in f.values:
                        failed[f.subtask or ""] = f"{f.path}: {v!r} is not one of {list(f.choices)}"
                        break
                    labels.append(f.choices[f.values.index(v)])
                else:
                    outputs[f"textcat:{f.path}"] = Categories(labels=labels)
        if self.fields_of(SPAN_SUBTASK):
            placed, missing = self.place_spans(data, text, reference)
            if missing:
                failed[SPAN_SUBTASK] = str(missing[0])
            else:
                outputs[SPAN_SUBTASK] = placed
        return outputs, failed

    def place_spans(
        self, data: dict[str, Any], text: str, reference: dt.date | None = None
    ) -> tuple[Spans, list[NotPlaced]]:
        """Every span field's values of one record placed in ``text``, and the values that could
        not be (not found in the text, or overlapping a value placed before), in field order.

        :meth:`split` gives the span subtask an answer only when nothing is missing; the
        annotation app shows a record with missing values as the part placed here and the values
        listed (``check:not-in-text``), so a human can finish it.
        """
        placed: list[Span] = []
        missing: list[NotPlaced] = []
        for f in self.fields_of(SPAN_SUBTASK):
            value = get_path(data, f.path)
            values = present(list(value or []) if f.many else [value])
            norm = self.normalisers.get(f.path)
            for v in values:
                if norm is not None and norm.candidates(text):
                    found = self._said(f, norm, text, v, reference)
                    pick = next((c for c in found if _free(c, placed)), None)
                    where = f" (as {f.normaliser})"
                else:
                    pick = _place(text, str(v), placed)
                    found = occurrences(text, str(v).strip())
                    where = f" (as {f.normaliser})" if norm is not None else ""
                if pick is None:
                    why = "overlaps another span field" if found else "not found in the text"
                    missing.append(NotPlaced(f.path, v, why + where))
                    continue
                placed.append(Span(start=pick[0], end=pick[1], label=f.path))
        return Spans(spans=sorted(placed, key=lambda s: (s.start, s.end))), missing

    def _said(
        self, f: FieldPlan, norm: Normaliser, text: str, value: Any, reference: dt.date | None
    ) -> list[tuple[int, int]]:
        """The candidate spans of ``text`` that ``norm`` parses to ``value`` (JSON data)."""
        from pydantic import ValidationError

        adapter = _adapter(self.schema, f.path)
        try:
            want = adapter.validate_python(value)
        except ValidationError:
            return []
        out = []
        for start, end in norm.candidates(text):
            try:
                got = adapter.validate_python(norm.parse(text[start:end], reference))
            except (ValueError, ValidationError):
                continue
            if got == want:
                out.append((start, end))
        return out

    # -- subtask answers → record ---------------------------------------------------------
    def assemble(
        self,
        outputs: Mapping[str, TaskOutput | None],
        text: str,
        reference: dt.date | None = None,
    ) -> dict[str, Any]:
        """A record (JSON data) from the subtasks' answers; teacher fields are left out."""
        return self.assemble_checked(outputs, text, reference)[0]

    def assemble_checked(
        self,
        outputs: Mapping[str, TaskOutput | None],
        text: str,
        reference: dt.date | None = None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The record and, per field, why a span its normaliser could not read was left unset
        (the composite leaves such a field pending: it is never guessed)."""
        data: dict[str, Any] = {}
        unread: dict[str, str] = {}
        for f in self.student_fields:
            out = outputs.get(f.subtask or "")
            if isinstance(out, Categories):
                values = [f.values[f.choices.index(x)] for x in out.labels if x in f.choices]
                value: Any = values if f.many else (values[0] if values else None)
            elif isinstance(out, Spans):
                texts: list[Any] = [text[s.start : s.end] for s in out.spans if s.label == f.path]
                norm = self.normalisers.get(f.path)
                if norm is not None:
                    parsed = []
                    for t in texts:
                        try:
                            parsed.append(_jsonable(norm.parse(t, reference)))
                        except ValueError as exc:
                            unread[f.path] = f"{f.normaliser}: {exc}"
                    texts = parsed
                value = texts if f.many else (texts[0] if texts else None)
            else:
                value = [] if f.many else None
            set_path(data, f.path, value)
        return data, unread


def _free(pick: tuple[int, int], placed: list[Span]) -> bool:
    return not any(pick[0] < s.end and s.start < pick[1] for s in placed)


def _jsonable(value: Any) -> Any:
    import datetime as dt
    from decimal import Decimal

    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@functools.cache
def _adapter(schema: type[BaseModel], path: str) -> Any:
    """A pydantic TypeAdapter for one value of the field ``path`` (an item, for a list)."""
    from pydantic import TypeAdapter

    info = field_info(schema, path)
    if info is None:
        return TypeAdapter(Any)
    tp, _ = _unwrap_optional(info.annotation)
    inner = _list_item(tp)
    return TypeAdapter(_unwrap_optional(inner)[0] if inner is not None else tp)


def field_info(schema: type[BaseModel], path: str) -> Any:
    """The pydantic ``FieldInfo`` of the dotted field ``path`` of ``schema`` (None if there is
    none; optional models on the way are unwrapped)."""
    model: Any = schema
    info = None
    for part in path.split("."):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model, _ = _unwrap_optional(info.annotation)
    return info


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
            if not isinstance(in_schema, str):
                raise ConfigError(
                    f"{schema.__name__}.{path}: json_schema_extra distil={in_schema!r}; "
                    "use auto, textcat, span, teacher or a registered normaliser's name"
                )
            plan = _apply(plan, in_schema, f"{schema.__name__}.{path} (schema)", tp)
        if path in checked:
            plan = _apply(plan, checked[path], f"{where}.{path}", tp, in_schema)
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
    normalisers = {f.path: get_normaliser(f.normaliser) for f in fields if f.normaliser}
    return Plan(schema=schema, fields=fields, subtasks=subtasks, normalisers=normalisers)
