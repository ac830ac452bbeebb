"""The one record type every exporter here writes and reads: an example, its output, provenance.

``spacy.docbin.v1`` (distil-spacy) takes plain ``(Example, output)`` pairs; these exporters take
the same pairs, or :class:`ExportRecord`, which adds who produced the output (``source``), which
human answered (``annotator``, ``answer``, ``pass_name``) and how sure the producer was
(``confidence``). An ``ExportRecord`` unpacks like a pair (``example, output = record``), so code
written for DocBin records reads ours unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import distil

if TYPE_CHECKING:
    from distil import Store

_PROMPT_RE = re.compile(r"#prompt=([^#&,\s]+)")
#: The provenance attributes a record may carry, read from any record type that has them.
PROVENANCE = ("source", "annotator", "answer", "pass_name", "confidence")


class ExportRecord(distil.ExchangeRecord):
    """One example and one output (``Categories`` or ``Spans``), with optional provenance.

    Core's :class:`distil.ExchangeRecord` (it unpacks as the ``(example, output)`` pair that
    ``spacy.docbin.v1`` uses) with this package's helpers.
    """

    @property
    def prompt_hash(self) -> str | None:
        """The ``#prompt=`` part of ``source`` (the teacher's prompt fingerprint), if any."""
        match = _PROMPT_RE.search(self.source or "")
        return match.group(1) if match else None

    @classmethod
    def from_prediction(
        cls, example: distil.Example, prediction: distil.Prediction
    ) -> ExportRecord:
        """A teacher's or student's answer: ``source`` and ``confidence`` come from the prediction."""
        if prediction.output is None:
            raise distil.DataError(
                f"prediction of {prediction.source!r} for example {prediction.example_id!r} has no"
                f" output ({prediction.error or 'failed'}): leave failed predictions out of exports"
            )
        return cls(
            example=example,
            output=prediction.output,
            source=prediction.source,
            confidence=prediction.confidence,
        )

    @classmethod
    def from_annotation(
        cls, example: distil.Example, annotation: distil.Annotation
    ) -> ExportRecord:
        """A human's answer. An ``accept`` or ``reject`` is about the suggestion, so its source is
        the suggestion's; a ``correct`` was written by the human (``human:NAME#pass=PASS``)."""
        if annotation.output is None:
            raise distil.DataError(
                f"annotation of {annotation.annotator!r} for example {annotation.example_id!r}"
                f" ({annotation.answer}) has no output to export"
            )
        if annotation.answer == "correct" or annotation.suggestion_source is None:
            source = f"human:{annotation.annotator}"
            if annotation.pass_name:
                source += f"#pass={annotation.pass_name}"
        else:
            source = annotation.suggestion_source
        return cls(
            example=example,
            output=annotation.output,
            source=source,
            annotator=annotation.annotator,
            answer=annotation.answer,
            pass_name=annotation.pass_name,
        )


Recordish = ExportRecord | tuple[distil.Example, Any] | Sequence[Any]


def as_export_records(records: Iterable[Recordish]) -> list[ExportRecord]:
    """Accept ``ExportRecord`` objects or plain ``(Example, output)`` pairs; return records."""
    out: list[ExportRecord] = []
    for n, item in enumerate(records):
        if isinstance(item, ExportRecord):
            out.append(item)
            continue
        try:
            example, output = item
        except (TypeError, ValueError):
            raise distil.DataError(
                f"record {n} is {type(item).__name__}: expected an ExportRecord or an"
                " (Example, output) pair"
            ) from None
        # Another record type (core's ``distil.exchange.ExchangeRecord``, csv's TableRecord)
        # carries provenance as attributes, as the exporter conformance suite says it may.
        provenance = {name: getattr(item, name, None) for name in PROVENANCE}
        out.append(ExportRecord(example=example, output=output, **provenance))
    for n, record in enumerate(out):
        if not isinstance(record.example, distil.Example):
            raise distil.DataError(f"record {n}: {record.example!r} is not a distil.Example")
        if not isinstance(record.output, distil.Categories | distil.Spans):
            raise distil.DataError(
                f"record {n} (example {record.example.id!r}): output {type(record.output).__name__}"
                " is not Categories or Spans"
            )
    return out


def training_records(
    store: Store,
    dataset: str,
    teacher_source: str | None = None,
    *,
    include_rejected: bool = False,
) -> list[ExportRecord]:
    """The store's training data for ``dataset`` with provenance, by ``distil train``'s rule.

    Per example: the human answer that counts (:func:`distil.resolve_answers`: an undone answer
    does not, a review settles a conflict, else the latest) when it carries an output (``correct``
    or ``accept``), else
    the teacher's parsed answer. An example whose latest answer is ``ignore``, or ``reject`` without
    a correction, is left out, as are failed and missing teacher answers. With
    ``include_rejected`` the rejected suggestions are kept (answer ``reject``), as Prodigy's binary
    training data wants them.
    """
    examples = store.examples(dataset)
    teacher = store.predictions(teacher_source, dataset=dataset) if teacher_source else {}
    human = distil.resolve_answers(store.annotations())  # undone answers do not count
    out: list[ExportRecord] = []
    for example in examples:
        bare = example.without_answer()
        annotation = human.get(example.id)
        if annotation is not None:
            keep = annotation.answer in ("correct", "accept") or (
                include_rejected and annotation.answer == "reject"
            )
            if keep and annotation.output is not None:
                out.append(ExportRecord.from_annotation(bare, annotation))
                continue
            if annotation.answer in ("reject", "ignore"):
                continue
        prediction = teacher.get(example.id)
        if prediction is not None and prediction.ok:
            out.append(ExportRecord.from_prediction(bare, prediction))
    return out
