"""Out and back: a project's records to another tool's file, and that tool's answers home again.

``distil export`` and ``distil import --format`` are thin over this module. Formats are the
registered exporters (``register_exporters``); core imports none of them and drives each only
through the exporter contract (``export(records, path) -> report``, optional
``import_(path) -> records``, records that unpack as ``(example, output)`` and may carry
``source``, ``confidence``, ``annotator``, ``answer`` and ``pass_name`` as attributes).

A format is named by its registered name or by an alias derived from it, so a new exporter gets
aliases without a line of core: the name without its version (``prodigy.jsonl``), its first
dotted part (``prodigy``), or any other part (``docbin`` for ``spacy.docbin.v1``) when exactly
one exporter has it; of several versions the newest is meant.

What can be exported (``WHAT``): the teacher's answers on train (``teacher``), the human answers
that count (``answers``: :func:`distil.annotate.resolve.resolve_answers`, with an output, so
``accept`` and ``correct``), the gold set (``gold``), and what training merges (``merged``:
:func:`distil.train.merge_labels`, before the ``distil_train`` hook and the trust step).

Importing stores each record as an :class:`Annotation`, passed through the ``distil_annotate``
hook (:func:`annotate_hook`, the same call ``import_answers`` makes). A label equal to the
teacher's answer is an ``accept``, any other a ``correct``; a record that is a teacher's or
student's answer nobody reviewed (no answer, a non-human source) is not a human answer and is
skipped, as are unknown ids, labels outside the task and texts that are not the stored ones,
each with a reason that names the file and the record.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from .annotate.hooks import annotate_hook
from .errors import ConfigError, DataError, DistilError
from .records import Annotation, Categories, Example, ExchangeRecord, Spans, TaskOutput
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .plugins import PluginHost
    from .project import Project
    from .tasks import Task

What = Literal["teacher", "answers", "gold", "merged"]
WHAT: tuple[str, ...] = ("teacher", "answers", "gold", "merged")
ANSWERS = ("accept", "reject", "ignore", "correct")
PROVENANCE = ("source", "confidence", "annotator", "answer", "pass_name")
_VERSION_RE = re.compile(r"^(?P<base>.+)\.v(?P<n>[0-9]+)$")
_TOKEN_RE = re.compile(r"\S+")


# -- formats ------------------------------------------------------------------------------------
def _alias_levels(names: list[str]) -> list[dict[str, set[str]]]:
    """Candidate aliases by precedence: the name without its version, its first dotted part,
    any other part; each maps to the newest version of the names that have it."""
    newest: dict[str, tuple[int, str]] = {}
    for name in names:
        match = _VERSION_RE.match(name)
        base, version = (match["base"], int(match["n"])) if match else (name, 0)
        if base not in newest or version > newest[base][0]:
            newest[base] = (version, name)
    levels: list[dict[str, set[str]]] = [{}, {}, {}]
    for base, (_, name) in newest.items():
        parts = base.split(".")
        levels[0].setdefault(base, set()).add(name)
        levels[1].setdefault(parts[0], set()).add(name)
        for part in parts[1:]:
            levels[2].setdefault(part, set()).add(name)
    return levels


def format_aliases(names: list[str]) -> dict[str, str]:
    """alias → registered exporter name, for every alias that names exactly one exporter.

    Precedence: a registered name, then the name without its version, then the first dotted
    part, then any other part; an alias two exporters share is left out (it would be a guess).
    """
    aliases: dict[str, str] = {name: name for name in names}
    for level in _alias_levels(names):
        for alias, targets in level.items():
            if alias not in aliases and len(targets) == 1:
                aliases[alias] = next(iter(targets))
    return aliases


def resolve_format(host: PluginHost, fmt: str) -> str:
    """The registered exporter ``fmt`` names; a ConfigError listing the formats otherwise."""
    names = host.names("exporters")
    aliases = format_aliases(names)
    key = fmt.strip().lower()
    if key in aliases:
        return aliases[key]
    listing = "; ".join(_format_listing(names, aliases)) or "none (pip install distil-exporters)"
    shared = sorted({n for level in _alias_levels(names) for n in level.get(key, set())})
    if len(shared) > 1:
        raise ConfigError(
            f"export format '{fmt}' could be {' or '.join(shared)}: name one. Available: {listing}."
        )
    close = did_you_mean(key, aliases, cutoff=0.6)
    hint = f" Did you mean '{close}'?" if close else ""
    raise ConfigError(f"no export format '{fmt}'.{hint} Available: {listing}.")


def _format_listing(names: list[str], aliases: dict[str, str]) -> list[str]:
    """``spacy.docbin.v1 (spacy, docbin)``: each name with its one-word aliases."""
    short: dict[str, list[str]] = {}
    for alias, name in aliases.items():
        if "." not in alias:
            short.setdefault(name, []).append(alias)
    return [f"{n} ({', '.join(short[n])})" if n in short else n for n in names]


def create_exporter(host: PluginHost, fmt: str, options: dict[str, Any] | None = None) -> Any:
    """A fresh exporter for ``fmt`` (a name or an alias) built with ``options``."""
    name = resolve_format(host, fmt)
    try:
        return host.create("exporters", name, **(options or {}))
    except TypeError as exc:
        raise ConfigError(f"exporter {name}: bad option ({exc})") from None


def can_import(exporter: Any) -> bool:
    return callable(getattr(exporter, "import_", None))


# -- export -------------------------------------------------------------------------------------
@dataclass
class ExportResult:
    format: str
    what: str
    path: str
    records: int
    #: Why examples were left out, with counts (``no_output``, ``teacher_failed``, ...).
    left_out: dict[str, int] = field(default_factory=dict)
    #: The exporter's own report (what the format had to change, if anything).
    report: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_records(project: Project, what: str) -> tuple[list[ExchangeRecord], dict[str, int]]:
    """The records ``what`` names, in store order, and why the others were left out."""
    task = project.config.task
    if not task.supports_exchange:
        raise ConfigError(
            f"the exporters carry labels and spans; a {task.kind} task's records do not fit them"
        )
    if what == "gold":
        return _gold_records(project)
    if what == "teacher":
        return _teacher_records(project)
    if what == "answers":
        return _answer_records(project)
    if what == "merged":
        return _merged_records(project)
    raise ConfigError(f"--what must be one of {', '.join(WHAT)}, got '{what}'")


def _gold_records(project: Project) -> tuple[list[ExchangeRecord], dict[str, int]]:
    task = project.config.task
    out: list[ExchangeRecord] = []
    left: dict[str, int] = {}
    for example in project.store.examples("gold"):
        reference = task.reference(example)
        if reference is None:
            left["no_reference"] = left.get("no_reference", 0) + 1
            continue
        out.append(ExchangeRecord(example.without_answer(), reference))
    return out, left


def _teacher_records(project: Project) -> tuple[list[ExchangeRecord], dict[str, int]]:
    examples = project.store.examples("train")
    predictions = project.store.predictions(project.teacher_source)
    out: list[ExchangeRecord] = []
    left: dict[str, int] = {}
    for example in examples:
        prediction = predictions.get(example.id)
        if prediction is None:
            left["unlabelled"] = left.get("unlabelled", 0) + 1
        elif not prediction.ok or prediction.output is None:
            left["teacher_failed"] = left.get("teacher_failed", 0) + 1
        else:
            out.append(
                ExchangeRecord(
                    example.without_answer(),
                    prediction.output,
                    source=prediction.source,
                    confidence=prediction.confidence,
                )
            )
    return out, left


def _human_record(example: Example, annotation: Annotation) -> ExchangeRecord:
    """A human answer with its provenance: an ``accept`` is about the suggestion, so its source
    is the suggestion's; a ``correct`` was written by the human (``human:NAME#pass=PASS``)."""
    assert annotation.output is not None
    if annotation.answer == "correct" or annotation.suggestion_source is None:
        source = f"human:{annotation.annotator}"
        if annotation.pass_name:
            source += f"#pass={annotation.pass_name}"
    else:
        source = annotation.suggestion_source
    return ExchangeRecord(
        example.without_answer(),
        annotation.output,
        source=source,
        annotator=annotation.annotator,
        answer=annotation.answer,
        pass_name=annotation.pass_name,
    )


def _answer_records(project: Project) -> tuple[list[ExchangeRecord], dict[str, int]]:
    from .annotate.resolve import resolve_answers

    answers = resolve_answers(project.store.annotations())
    examples = project.store.get_examples(list(answers))
    out: list[ExchangeRecord] = []
    left: dict[str, int] = {}
    for example_id, annotation in answers.items():
        if annotation.output is None or annotation.answer not in ("accept", "correct"):
            key = f"human_{annotation.answer}"
            left[key] = left.get(key, 0) + 1
        elif example_id not in examples:
            left["unknown_example"] = left.get("unknown_example", 0) + 1
        else:
            out.append(_human_record(examples[example_id], annotation))
    return out, left


def _merged_records(project: Project) -> tuple[list[ExchangeRecord], dict[str, int]]:
    from .annotate.resolve import resolve_answers
    from .train import merge_labels

    source = project.teacher_source
    data = merge_labels(project.store, project.config.task, "train", source)
    answers = resolve_answers(project.store.annotations())
    predictions = project.store.predictions(source)
    out = []
    for example, output in data.pairs:
        if example.id in data.human_ids:
            human = _human_record(example, answers[example.id])
            out.append(replace(human, example=example, output=output))
        else:
            prediction = predictions[example.id]
            out.append(
                ExchangeRecord(
                    example, output, source=prediction.source, confidence=prediction.confidence
                )
            )
    return out, dict(data.dropped)


_HINTS = {
    "teacher": "run `distil label` first",
    "answers": "annotate (`distil annotate`) or import answers first",
    "gold": "check [data] gold in the config",
    "merged": "run `distil label` or import answers first",
}


def export_file(
    project: Project,
    fmt: str,
    path: str | Path,
    what: str = "merged",
    options: dict[str, Any] | None = None,
) -> ExportResult:
    """Write ``what`` to ``path`` with the exporter ``fmt`` names; the result says how many."""
    exporter = create_exporter(project.host, fmt, options)
    name = resolve_format(project.host, fmt)
    records, left = export_records(project, what)
    if not records:
        reasons = ", ".join(f"{k} {v}" for k, v in left.items()) or "the store has none"
        raise DataError(f"nothing to export for --what {what} ({reasons}): {_HINTS[what]}")
    report = exporter.export(records, path) or {}
    written = report.get("records", report.get("docs", len(records)))
    return ExportResult(name, what, str(path), int(written), left, dict(report))


# -- import -------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    format: str
    path: str
    #: How many records the file held (after the importer's own skips, see ``report``).
    records: int
    stored: int = 0
    #: Stored answers by kind: ``accept`` (the teacher's label), ``correct``, ``reject``, ...
    answers: dict[str, int] = field(default_factory=dict)
    unknown_ids: list[str] = field(default_factory=list)
    #: ``FILE: record N (id X): reason`` for every record that was skipped as invalid.
    invalid: list[str] = field(default_factory=list)
    #: Records that are a teacher's or student's answer nobody reviewed.
    unreviewed: int = 0
    report: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_file(
    project: Project,
    path: str | Path,
    fmt: str,
    annotator: str = "human",
    options: dict[str, Any] | None = None,
) -> ImportResult:
    """Read ``path`` with the importer of ``fmt`` and store its answers (see the module doc).

    A malformed file raises a :class:`DataError` naming the file and line, and nothing is
    stored; records that do not fit are skipped with reasons and the rest are stored.
    """
    name = resolve_format(project.host, fmt)
    if not project.config.task.supports_exchange:
        raise ConfigError(
            f"the importers read labels and spans; a {project.config.task.kind} task's answers "
            "do not fit them"
        )
    exporter = create_exporter(project.host, name, options)
    if not can_import(exporter):
        raise ConfigError(f"{name} is export-only: it has no importer to read {path} back")
    records = list(exporter.import_(path))
    result = ImportResult(
        name, str(path), len(records), report=dict(getattr(exporter, "report", {}) or {})
    )
    task = project.config.task
    source = project.teacher_source
    ids = [_unpack(path, n, r)[0].id for n, r in enumerate(records, start=1)]
    known = project.store.get_examples(ids)
    teacher = project.store.predictions(source, [i for i in ids if i in known])
    annotations = []
    for n, record in enumerate(records, start=1):
        example, output = _unpack(path, n, record)
        where = f"{path}: record {n} (id {example.id})"
        stored = known.get(example.id)
        if stored is None:
            result.unknown_ids.append(example.id)
            continue
        try:
            annotation = _annotation(task, record, example, output, stored, teacher, annotator)
        except DistilError as exc:  # the reason without its error code: the line says "skipped"
            result.invalid.append(f"{where}: {Exception.__str__(exc)}")
            continue
        if annotation is None:
            result.unreviewed += 1
            continue
        if annotation.suggestion_source is None and example.id in teacher:
            annotation = annotation.model_copy(update={"suggestion_source": source})
        annotation = annotate_hook(project.host, task, stored, annotation)
        annotations.append(annotation)
        result.answers[annotation.answer] = result.answers.get(annotation.answer, 0) + 1
    result.stored = project.store.add_annotations(annotations)
    return result


def _unpack(path: str | Path, n: int, record: Any) -> tuple[Example, Any]:
    try:
        example, output = record
    except (TypeError, ValueError):
        raise DataError(f"{path}: record {n}: the importer gave {type(record).__name__}") from None
    if not isinstance(example, Example):
        raise DataError(f"{path}: record {n}: the importer gave no distil Example")
    return example, output


def _annotation(
    task: Task,
    record: Any,
    example: Example,
    output: Any,
    stored: Example,
    teacher: dict[str, Any],
    default_annotator: str,
) -> Annotation | None:
    """The answer a record gives, or None for an unreviewed machine label; DistilError if it
    does not fit the task or the stored example."""
    answer = getattr(record, "answer", None)
    source = getattr(record, "source", None)
    if answer is None and source and not str(source).startswith("human:"):
        return None
    if answer is not None and answer not in ANSWERS:
        raise DataError(f"unknown answer {answer!r} (one of {', '.join(ANSWERS)})")
    who = getattr(record, "annotator", None) or _human_name(source) or default_annotator
    kind = cast(Any, answer)
    final: TaskOutput | None = None
    if answer not in ("reject", "ignore"):
        final = _checked_output(task, _aligned(output, example.text, stored.text))
        prediction = teacher.get(example.id)
        suggestion = prediction.output if prediction is not None and prediction.ok else None
        kind = "accept" if suggestion is not None and same_output(final, suggestion) else "correct"
    return Annotation(
        example_id=stored.id,
        annotator=str(who),
        answer=kind,
        output=final,
        pass_name=getattr(record, "pass_name", None),
        created_at=time.time(),
    )


def _human_name(source: Any) -> str | None:
    if not isinstance(source, str) or not source.startswith("human:"):
        return None
    return source[len("human:") :].split("#", 1)[0] or None


def _checked_output(task: Task, output: Any) -> TaskOutput:
    if not isinstance(output, Categories | Spans):
        raise DataError(f"the output is {type(output).__name__}, not labels or spans")
    labels = output.labels if isinstance(output, Categories) else [s.label for s in output.spans]
    unknown = sorted(set(labels) - set(task.labels))
    if unknown:
        hints = [_did_you_mean(x, task.labels) for x in unknown]
        raise DataError(
            f"label {', '.join(hints)} is not one of the task's {len(task.labels)} labels"
        )
    return task.validate_output(output)


def _did_you_mean(label: str, labels: list[str]) -> str:
    close = did_you_mean(label, labels, cutoff=0.6)
    return f"{label!r} (did you mean {close!r}?)" if close else repr(label)


def _aligned(output: Any, text: str, stored: str) -> Any:
    """``output`` for the stored text. A text that differs only in whitespace (CoNLL keeps
    tokens, not spaces) gets its span offsets moved token by token; any other text is an error."""
    if text == stored:
        return output
    mine, theirs = list(_TOKEN_RE.finditer(text)), list(_TOKEN_RE.finditer(stored))
    if [m.group() for m in mine] != [m.group() for m in theirs]:
        raise DataError("its text is not the stored example's text")
    if not isinstance(output, Spans):
        return output
    moved: dict[int, int] = {}
    for a, b in zip(mine, theirs, strict=True):
        for offset in range(a.end() - a.start() + 1):
            moved[a.start() + offset] = b.start() + offset
    spans = []
    for span in output.spans:
        if span.start not in moved or span.end not in moved:
            raise DataError(f"span {span.start}-{span.end} does not fall on the text's tokens")
        spans.append(span.model_copy(update={"start": moved[span.start], "end": moved[span.end]}))
    return Spans(spans=spans)


def same_output(a: TaskOutput, b: TaskOutput) -> bool:
    """The same answer: the same set of labels, or the same set of (start, end, label) spans."""
    if isinstance(a, Categories) and isinstance(b, Categories):
        return set(a.labels) == set(b.labels)
    if isinstance(a, Spans) and isinstance(b, Spans):
        return {(s.start, s.end, s.label) for s in a.spans} == {
            (s.start, s.end, s.label) for s in b.spans
        }
    return False
