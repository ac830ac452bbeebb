"""``spacy.docbin.v1``: export (Example, output) pairs to a spaCy ``.spacy`` file and back.

Each record becomes a Doc (tokenised by a blank pipeline of ``lang``) with:

- ``Categories``: ``doc.cats``, 1.0 for chosen labels and 0.0 for the other known labels (``labels``
  given to the exporter, else every label met in the records), as ``spacy train`` expects;
- ``Spans``: ``doc.ents`` when they do not overlap, else ``doc.spans["sc"]``; offsets are aligned with
  ``alignment_mode="expand"`` and misaligned spans are counted in the export report;
- ``doc.user_data["distil"]``: the example id and meta, and the scores of Categories (msgpack, no
  pickle), so that ``import_`` gives back the same records.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import distil

from .convert import SPANS_KEY, AlignmentReport, doc_spans, set_cats, spans_of

Record = tuple[distil.Example, distil.TaskOutput]


class DocBinExporter(distil.Exporter):
    name = "spacy.docbin.v1"

    def __init__(self, lang: str = "en", labels: list[str] | None = None) -> None:
        self.lang = lang
        self.labels = list(labels) if labels else None
        self.report: dict[str, Any] = {}

    def export(self, records: list[Record], path: str | Path) -> dict[str, Any]:
        import spacy
        from spacy.tokens import DocBin

        nlp = spacy.blank(self.lang)
        labels = self.labels or sorted(
            {x for _, o in records if isinstance(o, distil.Categories) for x in o.labels}
        )
        alignment = AlignmentReport()
        docbin = DocBin(store_user_data=True)
        for example, output in records:
            doc = nlp.make_doc(example.text)
            data: dict[str, Any] = {"id": example.id, "meta": example.meta}
            if isinstance(output, distil.Categories):
                set_cats(doc, output, labels)
                data["labels"] = list(output.labels)
                data["scores"] = dict(output.scores)
            else:
                spans = doc_spans(doc, output.spans, alignment, example.id)
                overlapping = any(
                    b.start < a.end
                    for a, b in itertools.pairwise(sorted(spans, key=lambda s: (s.start, s.end)))
                )
                if overlapping:
                    doc.spans[SPANS_KEY] = spans
                else:
                    doc.ents = spans
                data["kind"] = "spans"
            doc.user_data["distil"] = data
            docbin.add(doc)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        docbin.to_disk(target)
        self.report = {"path": str(target), "docs": len(records), **alignment.to_dict()}
        return dict(self.report)

    def import_(self, path: str | Path) -> list[Record]:
        import spacy
        from spacy.tokens import DocBin

        nlp = spacy.blank(self.lang)
        records: list[Record] = []
        for n, doc in enumerate(DocBin().from_disk(path).get_docs(nlp.vocab)):
            data = doc.user_data.get("distil") or {}
            example = distil.Example(
                id=str(data.get("id") or f"doc-{n}"), text=doc.text, meta=data.get("meta") or {}
            )
            output: distil.TaskOutput
            if data.get("kind") == "spans" or (
                not doc.cats and (doc.ents or SPANS_KEY in doc.spans)
            ):
                output = spans_of(doc.spans.get(SPANS_KEY, doc.ents))
            else:
                labels = data.get("labels")
                if labels is None:
                    labels = [label for label, value in doc.cats.items() if value >= 0.5]
                output = distil.Categories(
                    labels=list(labels), scores=dict(data.get("scores") or {})
                )
            records.append((example, output))
        return records
