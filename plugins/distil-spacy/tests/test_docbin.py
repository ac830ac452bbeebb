"""DocBin export and import round-trip real records."""

from __future__ import annotations

from _helpers import wikigold

import distil
from distil.testing import load_split
from distil_spacy.plugin import make_docbin


def test_wikigold_spans_round_trip_through_a_spacy_file(tmp_path, shared_data):
    rows = list(wikigold("test", 80))
    records = [(e.without_answer(), distil.Spans(spans=e.spans or [])) for e in rows]
    exporter = make_docbin()
    report = exporter.export(records, tmp_path / "ner.spacy")
    assert report["docs"] == 80 and report["spans_misaligned"] == 0
    assert exporter.import_(tmp_path / "ner.spacy") == records


def test_sms_spam_categories_round_trip_and_set_doc_cats(tmp_path, shared_data):
    import spacy
    from spacy.tokens import DocBin

    rows = load_split("sms_spam", "test", limit=60)
    records = [
        (e.without_answer(), distil.Categories(labels=e.labels or [], scores={"spam": 0.25}))
        for e in rows
    ]
    exporter = make_docbin(labels=["ham", "spam"])
    exporter.export(records, tmp_path / "cats.spacy")
    assert exporter.import_(tmp_path / "cats.spacy") == records
    docs = list(DocBin().from_disk(tmp_path / "cats.spacy").get_docs(spacy.blank("en").vocab))
    assert docs[0].cats == {label: float(label in rows[0].labels) for label in ["ham", "spam"]}


def test_overlapping_spans_go_to_doc_spans(tmp_path):
    example = distil.Example(id="o", text="New York City is big")
    spans = distil.Spans(
        spans=[distil.Span(start=0, end=8, label="LOC"), distil.Span(start=0, end=13, label="LOC")]
    )
    exporter = make_docbin()
    exporter.export([(example, spans)], tmp_path / "o.spacy")
    [(back, output)] = exporter.import_(tmp_path / "o.spacy")
    assert back == example and sorted(output.spans, key=lambda s: s.end) == spans.spans
