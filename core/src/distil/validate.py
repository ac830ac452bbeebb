"""Check the reference answers of imported rows against the task, before anything is stored.

Why: a gold label outside the task (``SPAM`` for ``spam``, a typo, two labels on an exclusive
task, ``[]``) used to import silently, and the report then averaged over a label no source can
ever answer: macro-F1 fell from 0.405 to 0.258 with no word of warning. A span past the end of
its text scored as a miss for every source. Gold must be right or refused, so
:func:`validate_examples` runs on every file :meth:`distil.project.Project.import_data` reads:

* **gold and dev** rows that do not fit the task are a :class:`~distil.errors.DataError` that
  names ``file:line`` and the reason for the first :data:`MAX_LISTED` bad rows and counts the
  rest. It is raised before the file's rows are written, so nothing already stored (other data
  sets, predictions, answers) changes;
* **train** rows keep their place: the teacher labels them and training never reads their
  reference labels (only ``distil simulate`` answers from them, as a simulated human). A
  label outside the task is dropped from its row (a warning on the ``distil.data`` logger
  counts them) so a simulated correction can never train on it; an exclusive row left without
  exactly one label, or a row with an impossible span, loses its reference answer.

The rules, by task kind (other kinds, such as ``extract``, validate their records themselves):

* ``textcat``: every label is one of the task's (with a suggestion: the label differing only
  in case or spacing, else the closest by :func:`difflib.get_close_matches`); an exclusive task
  needs exactly one label per row (two, or ``[]``, is an error); a gold or dev row without
  ``labels`` is an error. A multi-label ``[]`` is a valid answer: "none of the labels".
* ``ner`` / ``spans``: every span lies in the text by code points, ``0 <= start < end <=
  len(text)`` (Python indexes code points, so an offset cannot split a character; offsets
  counted in UTF-16 units, as browsers count, overshoot after an emoji, and the message says
  so); every span label is one of the task's; a gold or dev row without ``spans`` is an error
  (``"spans": []`` says a text has no entity); spans an ``ner`` task cannot hold (overlaps) are
  refused as the task refuses them. ``start < 0``, ``end < start`` and a span carrying a
  ``text`` key never get here: the reader quarantines such a line (the records forbid them).

Line numbers: the readers return examples without their line, and a line in ``Example.meta``
would travel into the store and every export. So only when a row is bad, a JSONL file is scanned
again (:func:`~distil.store.jsonl.iter_jsonl_dicts`) for the first line holding that id, as the
reader keeps the first row of an id. Other formats name the row by its id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError, ParseError
from .records import Example, Span, Spans
from .suggest import did_you_mean
from .tasks import SpanTask, Task, TextCat

__all__ = ["MAX_LISTED", "RowProblem", "row_problems", "suggest_label", "validate_examples"]

logger = logging.getLogger("distil.data")

#: How many bad rows one error lists (the rest are counted).
MAX_LISTED = 5
#: How many of the task's labels a message lists when it has no suggestion.
_LABELS_SHOWN = 10
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonlines", ".json-lines")
#: The data sets whose rows are the reference a score is computed against.
REFERENCE_DATASETS = ("gold", "dev")


@dataclass(frozen=True)
class RowProblem:
    """Why one row does not fit the task; ``dropped_labels`` are what cleaning a train row drops."""

    index: int
    reasons: tuple[str, ...]
    dropped_labels: int = 0


def suggest_label(label: str, labels: Sequence[str]) -> str | None:
    """The task label ``label`` was probably meant as: same but for case and spacing, else the
    closest by name (cutoff 0.6), else None."""
    return did_you_mean(label, labels, cutoff=0.6)


def _unknown(what: str, label: str, labels: Sequence[str]) -> str:
    guess = suggest_label(label, labels)
    if guess is not None:
        return f"{what} {label!r} is not one of the task's labels; did you mean {guess!r}?"
    shown = ", ".join(labels[:_LABELS_SHOWN])
    more = f", … ({len(labels)} in all)" if len(labels) > _LABELS_SHOWN else ""
    return f"{what} {label!r} is not one of the task's labels ({shown}{more})"


def _textcat_reasons(task: TextCat, ex: Example, reference: bool) -> tuple[list[str], int]:
    """(reasons, how many of them are labels outside the task) for one textcat row."""
    if ex.labels is None:
        return (
            ["no 'labels': a gold or dev row needs its reference answer"] if reference else []
        ), 0
    known = set(task.labels)
    unknown = [x for x in ex.labels if x not in known]
    reasons = [_unknown("label", x, task.labels) for x in unknown]
    if not task.multilabel:
        if not ex.labels:
            reasons.append("no label ([]) on an exclusive task: a row needs exactly one label")
        elif len(ex.labels) > 1:
            shown = ", ".join(repr(x) for x in ex.labels)
            reasons.append(
                f"{len(ex.labels)} labels ({shown}) on an exclusive task: a row needs exactly "
                "one label (or set multilabel = true in [task])"
            )
    return reasons, len(unknown)


def _utf16_hint(text: str, end: int) -> str:
    units = len(text.encode("utf-16-le")) // 2
    if len(text) < end <= units:
        return (
            "; the offsets look like UTF-16 code units (a browser's count): distil counts "
            "characters (code points), where an emoji is one"
        )
    return ""


def _span_reason(task: SpanTask, text: str, i: int, span: Span) -> str | None:
    where = f"span {i} [{span.start}, {span.end}) {span.label!r}"
    if span.end > len(text):
        return (
            f"{where} ends past the end of the text ({len(text)} characters)"
            f"{_utf16_hint(text, span.end)}"
        )
    if span.start >= span.end:
        return f"{where} is empty: its start must be before its end"
    if span.label not in task.labels:
        return _unknown(f"span {i} label", span.label, task.labels)
    return None


def _span_reasons(task: SpanTask, ex: Example, reference: bool) -> tuple[list[str], int]:
    if ex.spans is None:
        needed = "no 'spans': a gold or dev row needs its reference answer ([] for no entity)"
        return ([needed] if reference else []), 0
    reasons = [r for i, s in enumerate(ex.spans) if (r := _span_reason(task, ex.text, i, s))]
    unknown = sum(1 for s in ex.spans if s.label not in task.labels)
    if not reasons:
        try:
            task.validate_output(Spans(spans=list(ex.spans)))
        except ParseError as exc:  # the task's own rule (an ner task holds no overlaps)
            reasons.append(Exception.__str__(exc))
    return reasons, unknown


def row_problems(task: Task, examples: Sequence[Example], *, reference: bool) -> list[RowProblem]:
    """The rows whose reference answer does not fit ``task``, in order.

    ``reference``: the rows are a gold or dev set (a missing answer is a problem too).
    """
    problems = []
    for index, ex in enumerate(examples):
        if isinstance(task, TextCat):
            reasons, unknown = _textcat_reasons(task, ex, reference)
        elif isinstance(task, SpanTask):
            reasons, unknown = _span_reasons(task, ex, reference)
        else:
            return []
        if reasons:
            problems.append(RowProblem(index, tuple(reasons), unknown))
    return problems


def _line_numbers(path: Path, ids: set[str]) -> dict[str, int]:
    """id → the 1-based line of the first row with that id (JSONL files only; see the module)."""
    if path.suffix.lower() not in _JSONL_SUFFIXES or not path.is_file():
        return {}
    from .store.jsonl import iter_jsonl_dicts

    found: dict[str, int] = {}
    for line, row in iter_jsonl_dicts(path):
        rid = row.get("id") if isinstance(row, dict) else None
        if isinstance(rid, str) and rid in ids and rid not in found:
            found[rid] = line
            if len(found) == len(ids):
                break
    return found


def _located(path: Path, examples: Sequence[Example], problems: Sequence[RowProblem]) -> list[str]:
    """``file:line: reason`` for each problem (``file: row id 'x': reason`` without a line)."""
    lines = _line_numbers(path, {examples[p.index].id for p in problems})
    out = []
    for p in problems:
        ex_id = examples[p.index].id
        where = f"{path}:{lines[ex_id]}" if ex_id in lines else f"{path}: row id {ex_id!r}"
        out.append(f"{where}: {'; '.join(p.reasons)}")
    return out


def _listing(located: Sequence[str]) -> str:
    shown = "\n".join(located[:MAX_LISTED])
    rest = len(located) - MAX_LISTED
    return shown + (f"\n… and {rest} more row(s)" if rest > 0 else "")


def _cleaned(task: Task, ex: Example) -> Example:
    """A train row without the labels (or spans) that do not fit the task."""
    if isinstance(task, TextCat) and ex.labels is not None:
        labels = [x for x in ex.labels if x in set(task.labels)]
        if not task.multilabel and len(labels) != 1:
            return ex.model_copy(update={"labels": None})
        return ex.model_copy(update={"labels": labels})
    # A span row that fails any rule loses its reference spans: a partial answer would be wrong.
    return ex.model_copy(update={"spans": None})


def validate_examples(
    task: Task, examples: Sequence[Example], *, path: str | Path, dataset: str
) -> list[Example]:
    """The rows of ``dataset`` read from ``path``, checked against ``task`` (see the module).

    Raises :class:`DataError` for a gold or dev row that does not fit; returns the rows, with
    train rows cleaned of what does not fit (logged as one warning on ``distil.data``).
    """
    path = Path(path)
    is_reference = dataset in REFERENCE_DATASETS
    problems = row_problems(task, examples, reference=is_reference)
    if not problems:
        return list(examples)
    located = _located(path, examples, problems)
    if is_reference:
        raise DataError(
            f"{_listing(located)}\n{len(problems)} row(s) of '{dataset}' do not fit the task, so "
            f"nothing from {path} was stored: fix them and run again"
        )
    logger.warning(
        "%s: %d '%s' row(s) do not fit the task (%d label(s) outside it); what does not fit is "
        "dropped from their reference answer, the rows stay (the teacher labels them):\n%s",
        path,
        len(problems),
        dataset,
        sum(p.dropped_labels for p in problems),
        _listing(located),
    )
    bad = {p.index for p in problems}
    return [_cleaned(task, ex) if i in bad else ex for i, ex in enumerate(examples)]
