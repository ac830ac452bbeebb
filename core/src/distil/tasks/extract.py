"""The ``extract`` task: fill a user's own pydantic model from a text.

The user names the model by import path (``schema = "myproject.schemas:Booking"``). The LLM
teacher is asked for the whole record through structured output (the model's JSON schema, with
``$ref``s inlined so grammar-constrained local models and strict APIs both accept it); the answer is
validated by pydantic. An answer that fails validation — a wrong type, a value outside a
``Literal``, a missing required field (a *partial* record) — is a
:class:`~distil.errors.ParseError` whose message lists every failing field: the teacher loop
stores it as a failed prediction with the raw answer, so it is counted and shown, never repaired.

The planner (:mod:`distil.tasks.extract_plan`) splits the schema into subtasks a small model can
learn; the task keeps the plan so that every stage (train, annotate, evaluate) reads the same one.
What the task calls lives beside it in the tasks layer, below every stage: the planner, the record
scorer (:mod:`distil.tasks.extract_scoring`) and the per-subtask merge of human answers
(:mod:`distil.tasks.extract_answers`); ``distil.extract.plan``, ``.scoring`` and ``.answers``
re-export them.
"""

from __future__ import annotations

import copy
import importlib
import json
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, DataError, ParseError
from ..records import Categories, Example, Extraction, Prediction, Spans, TaskOutput
from .base import CascadeRequest, StudentAnswer, Task, below_threshold
from .extract_answers import merge_extract_labels
from .extract_plan import (
    SPAN_SUBTASK,
    field_info,
    get_path,
    is_blank,
    plan_schema,
    reference_of,
    set_path,
)
from .extract_scoring import paired_records, score_records


def import_schema(path: str) -> type[BaseModel]:
    """The pydantic model named ``"package.module:Model"`` (``Outer.Inner`` allowed after ``:``)."""
    if not isinstance(path, str) or ":" not in path:
        raise ConfigError(
            f"task.schema: {path!r} must name a pydantic model as 'package.module:Model'"
        )
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"task.schema: cannot import module '{module_name}': {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"task.schema: module '{module_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        raise ConfigError(f"task.schema: '{path}' is not a pydantic model (got {obj!r})")
    return obj


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every ``{"$ref": "#/$defs/X"}`` replaced by the definition (no ``$defs``).

    Recursive models cannot be inlined: they raise a ConfigError (they cannot be decomposed
    either).
    """
    defs = schema.get("$defs", {})

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise ConfigError(f"task.schema: model '{name}' is recursive")
                merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
                return walk(merged, (*seen, name))
            return {k: walk(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        return node

    result: dict[str, Any] = walk(copy.deepcopy(schema), ())
    return result


def validation_reason(exc: ValidationError) -> str:
    """Every failing field of a pydantic error in one line: ``intent: Input should be ...``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<record>"
        kind = "missing" if err["type"] == "missing" else err["msg"]
        parts.append(f"{where}: {kind}")
    return f"{len(parts)} invalid field(s): " + "; ".join(parts)


def failing_fields(exc: ValidationError) -> list[str]:
    """The dotted location of every error of ``exc`` (``""`` for the whole record), in order."""
    return list(dict.fromkeys(".".join(str(p) for p in err["loc"]) for err in exc.errors()))


class ExtractTask(Task):
    """Fill ``schema`` (a pydantic model) from a text; the labels are its dotted leaf fields."""

    kind: ClassVar[str] = "extract"
    template: ClassVar[str] = "extract.jinja2"
    accuracy_title: ClassVar[str] = "exact-record match"
    per_label_title: ClassVar[str] = "F1 per field (span fields exact on the value)"

    def __init__(
        self,
        schema: type[BaseModel],
        fields: dict[str, str] | None = None,
        instructions: str | None = None,
        shots: list[Example] | None = None,
        descriptions: dict[str, str] | None = None,
    ) -> None:
        self.schema = schema
        self.plan = plan_schema(schema, fields)
        self.overrides = dict(fields or {})
        labels = [f.path for f in self.plan.fields]
        schema_descriptions = {
            f.path: info.description
            for f in self.plan.fields
            if (info := field_info(schema, f.path)) is not None and info.description
        }
        super().__init__(
            labels, {**schema_descriptions, **(descriptions or {})}, instructions, shots
        )

    @property
    def schema_path(self) -> str:
        return f"{self.schema.__module__}:{self.schema.__qualname__}"

    @property
    def scoring_mode(self) -> str:
        return f"records of {self.schema_path}, scored per field and per record"

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "schema": self.schema_path,
            "json_schema": self.json_schema(),
            "fields": dict(self.overrides),
        }

    def json_schema(self) -> dict[str, Any]:
        return inline_refs(self.schema.model_json_schema())

    # -- parse and validate -------------------------------------------------------------------
    def validate_data(self, data: Any) -> dict[str, Any]:
        """``data`` validated by the schema, as JSON data; ParseError naming every bad field."""
        if not isinstance(data, dict):
            raise ParseError(f"expected a JSON object for {self.schema.__name__}, got {data!r}")
        try:
            instance = self.schema.model_validate(data)
        except ValidationError as exc:
            error = ParseError(validation_reason(exc))
            error.fields = failing_fields(exc)  # type: ignore[attr-defined]
            raise error from None
        dumped: dict[str, Any] = instance.model_dump(mode="json")
        return dumped

    def from_answer(self, data: Any, example: Example) -> TaskOutput:
        return Extraction(data=self.validate_data(data))

    def validate_output(self, output: TaskOutput) -> TaskOutput:
        if not isinstance(output, Extraction):
            raise ParseError(f"extract expects an extraction, got {output.kind}")
        if output.pending:
            return output  # a composite answer still waiting for the teacher: checked later
        return output.model_copy(update={"data": self.validate_data(output.data)})

    def instance(self, output: Extraction) -> BaseModel:
        """The user's model filled from ``output``: what the teacher and the composite return.

        A record the schema rejects (a required field nobody filled, say one that stays with the
        teacher while no teacher answered) is a :class:`~distil.errors.ParseError` that names
        each failing field and says what to do, not a bare pydantic error.
        """
        try:
            return self.schema.model_validate(output.data)
        except ValidationError as exc:
            plan = {f.path: f for f in self.plan.fields}
            parts = []
            for loc in failing_fields(exc):
                f = plan.get(loc)
                why = ""
                if f is not None and f.kind == "teacher":
                    why = " (it stays with the teacher: label the record through the cascade)"
                elif loc in output.pending:
                    why = " (pending: no one has filled it yet)"
                parts.append(f"'{loc}'{why}")
            raise ParseError(
                f"cannot build {self.schema.__name__} from this record: {validation_reason(exc)}. "
                f"Fill or fix {', '.join(parts)}"
            ) from None

    # -- gold ---------------------------------------------------------------------------------
    def reference(self, example: Example) -> TaskOutput | None:
        """The gold record: ``meta["record"]``, else built from the example's labels and spans.

        From labels and spans: a textcat field takes the example's label that is one of its
        choices; a span field the text of the spans labelled with its dotted name; a field that
        stays with the teacher has no gold there (it needs ``meta["record"]``) and is left unset.
        """
        record = example.meta.get("record")
        if record is None:
            if example.labels is None and example.spans is None:
                return None
            record = self.record_from_annotations(example)
        try:
            return Extraction(data=self.validate_data(record))
        except ParseError as exc:
            raise DataError(f"example '{example.id}': its gold record is invalid: {exc}") from None

    def record_from_annotations(self, example: Example) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        labels = list(example.labels or [])
        for f in self.plan.fields:
            if f.kind in ("exclusive", "binary", "multilabel"):
                mine = [x for x in labels if x in f.choices]
                outputs[f"textcat:{f.path}"] = Categories(labels=mine)
        outputs[SPAN_SUBTASK] = Spans(spans=list(example.spans or []))
        data = self.plan.assemble(outputs, example.text, reference_of(example.meta))
        for f in self.plan.teacher_fields:
            if f.optional:
                set_path(data, f.path, None)
        return data

    def score(self, gold: list[TaskOutput], predicted: list[TaskOutput | None]) -> dict[str, Any]:
        """Per-field P/R/F1 and exact-record match
        (:func:`distil.tasks.extract_scoring.score_records`)."""
        return score_records(self.plan, gold, predicted)

    def paired_bootstrap(
        self,
        gold: list[TaskOutput],
        a: list[TaskOutput | None],
        b: list[TaskOutput | None],
        *,
        metric: str = "macro_f1",
        n_boot: int = 1000,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Paired bootstrap of two sources' records (see :mod:`distil.tasks.extract_scoring`)."""
        return paired_records(self.plan, gold, a, b, metric=metric, n_boot=n_boot, seed=seed)

    def answer_json(self, example: Example) -> str:
        """A few-shot example's record as compact JSON (what the prompt template shows).

        Empty values (None, empty lists) are left out: a shot shows what to fill, and a small
        model that copies forty nulls runs out of tokens before the fields that matter.
        """
        ref = self.reference(example)
        data = ref.data if isinstance(ref, Extraction) else {}
        return json.dumps(_without_empty(data), ensure_ascii=False)

    # -- what the stages ask (the task contract, distil.tasks.base) ----------------------------
    #: The exporters and importers carry labels and spans; a record does not fit them.
    supports_exchange: ClassVar[bool] = False
    #: ``distil simulate`` answers textcat and span cards; a record is annotated per subtask.
    supports_simulation: ClassVar[bool] = False

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> Task:
        """The task of a saved description: its schema is imported again by path."""
        return cls(import_schema(described["schema"]), described.get("fields"))

    def annotation_passes(
        self, *, no_span_pass: bool = True, multilabel: Any = "per_label"
    ) -> list[Any]:
        """Each subtask's own focused passes, named ``SUBTASK/PASS`` (see
        :func:`distil.annotate.passes.extract_passes`)."""
        from .passes import extract_passes

        return extract_passes(self.plan.subtasks)

    def merge_labels(self, store: Any, dataset: str, teacher_source: str | None) -> Any:
        """Human answers per subtask merged over the teacher's records
        (:func:`distil.tasks.extract_answers.merge_extract_labels`)."""
        return merge_extract_labels(store, self, dataset, teacher_source)

    # -- the runtime cascade (distil.cascade.Cascade asks; the record's fields are this task's) --
    def cascade_request(self, prediction: StudentAnswer, threshold: float) -> CascadeRequest:
        """The pending fields always (nobody filled them: not a matter of doubt, so even at
        threshold 0). When the record's confidence is
        :func:`~distil.tasks.base.below_threshold`, also the fields whose own confidence (their
        subtask's, ``field_confidence``) is below it by the same rule — or ``"all"`` for a
        student that gives no per-field confidences (unsure of the record, it cannot say where).
        None when nothing is asked."""
        mine = prediction.output
        pending = list(mine.pending) if isinstance(mine, Extraction) else []
        if not below_threshold(prediction.confidence, threshold):
            return pending or None
        per: dict[str, float | None] | None = getattr(prediction, "field_confidence", None)
        if not per:
            return "all"
        unsure = {p for p, c in per.items() if below_threshold(c, threshold)}
        return [f.path for f in self.plan.fields if f.path in pending or f.path in unsure] or None

    @property
    def cascade_fields(self) -> list[str] | None:
        """Every field of the plan: a cascade counts the ones it asks the teacher."""
        return [f.path for f in self.plan.fields]

    def cascade_task(self, fields: list[str]) -> Task:
        """This task with a schema of only the top-level fields holding ``fields``: the teacher's
        prompt and structured output name only them. The whole task when that is every field."""
        from pydantic import create_model

        schema = self.schema
        tops = list(dict.fromkeys(p.split(".", 1)[0] for p in fields))
        if set(tops) >= set(schema.model_fields):
            return self
        definitions: dict[str, Any] = {
            name: (schema.model_fields[name].annotation, schema.model_fields[name]) for name in tops
        }
        sub = create_model(
            f"{schema.__name__}Missing",
            __config__=schema.model_config,
            __doc__=f"The fields of {schema.__name__} the student could not fill: {', '.join(tops)}.",
            __module__=schema.__module__,
            **definitions,
        )
        descriptions = {k: v for k, v in self.descriptions.items() if k.split(".", 1)[0] in tops}
        return ExtractTask(sub, instructions=self.instructions, descriptions=descriptions)

    def cascade_merge(
        self, student: StudentAnswer, teacher: Prediction, fields: list[str] | None
    ) -> Prediction:
        """The student's record with ``fields`` (None: every field) taken from the teacher's
        answer, validated by the schema; ``Extraction.teacher`` names them.

        Where the teacher failed, or the merged record does not validate (a required field that
        nobody filled is named), the student's partial record *and* an error: a record with
        unfilled fields is no answer, so it counts as a failure and is not repaired.
        """
        mine = student.output
        assert isinstance(mine, Extraction)
        failed = teacher.model_copy(update={"output": mine, "confidence": student.confidence})
        if not teacher.ok or not isinstance(teacher.output, Extraction):
            why = f"the teacher could not fill {mine.pending or 'the record'}: {teacher.error}"
            return failed.model_copy(update={"error": why})
        fields = [f.path for f in self.plan.fields] if fields is None else list(fields)
        data: dict[str, Any] = copy.deepcopy(mine.data)
        for path in fields:
            set_path(data, path, get_path(teacher.output.data, path))
        try:
            data = self.validate_data(data)
        except ParseError as exc:
            bad = getattr(exc, "fields", None) or []
            empty = [b for b in bad if b and is_blank(get_path(data, b))]
            why = f"the merged record is invalid: {exc}"
            if empty:
                why = (
                    f"required field(s) {', '.join(repr(b) for b in empty)} stay empty: neither "
                    f"the student nor the teacher filled them ({exc})"
                )
            return failed.model_copy(update={"error": why})
        confidence = teacher.confidence if teacher.confidence is not None else student.confidence
        return teacher.model_copy(
            update={"output": Extraction(data=data, teacher=fields), "confidence": confidence}
        )


def _without_empty(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = _without_empty(value)
        if value is None or value == [] or value == {}:
            continue
        out[key] = value
    return out


def make_extract(
    schema: str,
    fields: dict[str, str] | None = None,
    instructions: str | None = None,
    descriptions: dict[str, str] | None = None,
    shots_path: str | None = None,
) -> ExtractTask:
    """``extract.v1``: fill the pydantic model ``schema`` ("package.module:Model") from a text.

    ``[task.fields]`` overrides the planner per dotted field name (``auto``, ``textcat``,
    ``span``, ``teacher``); ``distil plan CONFIG`` shows the result before anything runs. Few-shot
    examples (``shots_path``, JSONL) carry their record in ``meta.record`` or labels and spans.
    """
    shots: list[Example] = []
    if shots_path:
        from ..store.jsonl import read_jsonl

        shots = read_jsonl(shots_path).examples
    return ExtractTask(
        import_schema(schema),
        fields=fields,
        instructions=instructions,
        shots=shots,
        descriptions=descriptions,
    )
