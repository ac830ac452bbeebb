"""An honest report for a student that still needs the teacher (issue 19, item 4).

An extraction composite leaves the fields it cannot fill pending; the cascade asks the LLM for
them. Those documents cost a teacher call each, so the break-even, the "pays for itself" sentence
and the speed ratio must count them.
"""

from __future__ import annotations

import pytest

from distil import Categories, TextCat
from distil.evaluate.metrics import paired_bootstrap, score_categories
from distil.evaluate.report import SourceResult, build_report, findings
from distil.evaluate.utility import break_even

COSTS = {
    "teacher_cost_per_doc": 1e-3,
    "student_cost_per_doc": 1e-6,
    "human_annotations": 10,
    "training_seconds": 3.0,
    "seconds_per_annotation": 10.0,
    "annotation_hour_cost": 36.0,
    "cpu_hour_cost": 0.05,
}


def test_documents_left_to_the_teacher_are_a_teacher_call_each() -> None:
    alone = break_even(**COSTS)
    quarter = break_even(**COSTS, teacher_share=0.25)
    assert quarter["student_cost_per_doc"] == pytest.approx(1e-6 + 0.25e-3)
    assert quarter["saving_per_doc"] == pytest.approx(0.75e-3 - 1e-6)
    assert quarter["break_even_docs"] == pytest.approx(quarter["fixed_cost"] / (0.75e-3 - 1e-6))
    assert quarter["break_even_docs"] > alone["break_even_docs"]
    every = break_even(**COSTS, teacher_share=1.0)
    assert every["saving_per_doc"] < 0  # it pays for the student AND the teacher call
    assert every["break_even_docs"] is None
    with pytest.raises(ValueError, match="teacher_share must be between 0 and 1"):
        break_even(**COSTS, teacher_share=1.5)


def report(share: float) -> dict:
    task = TextCat(["BookRestaurant", "PlayMusic 🎵"])
    gold = [Categories(labels=["PlayMusic 🎵" if i % 3 else "BookRestaurant"]) for i in range(90)]
    pred: list[Categories | None] = list(gold)
    scores = score_categories(task, gold, pred)
    held = {
        "documents": round(90 * share),
        "document_share": share,
        "fields": 2 * round(90 * share),
    }
    be = break_even(**COSTS, teacher_share=share)
    be.update(teacher="gpt", pending_fields=held["fields"])
    teacher = SourceResult("teacher:gpt", "teacher", "gpt", scores, {"docs_per_s": 10.0})
    student = SourceResult(
        "student:composite#run=1",
        "student",
        "composite",
        {**scores, "pending": held},
        {"docs_per_s": 1000.0, "break_even": be},
    )
    comp = paired_bootstrap(task, gold, pred, pred) | {"a": "composite", "b": "gpt"}
    return build_report(task, [teacher, student], gold_name="g", n_gold=90, comparisons=[comp])


def test_a_student_that_sends_every_document_to_the_llm_is_neither_faster_nor_paying() -> None:
    text = " ".join(findings(report(1.0)))
    assert "composite leaves fields to the teacher on every gold document (180 field(s)" in text
    assert "never pays for itself" in text
    assert "pays for itself after" not in text
    # 1 / (1/1000 + 1/10) docs/s: the LLM call dominates, so it is slower than the teacher alone.
    assert "faster than teacher" not in text
    assert "slower than teacher gpt" in text


def test_a_student_that_sends_some_documents_says_the_share_and_still_can_pay() -> None:
    text = " ".join(findings(report(0.1)))
    assert "composite still needs the teacher on 10.0% of the gold documents (18 field(s)" in text
    assert "pays for itself after" in text
    # 1 / (1/1000 + 0.1/10) ≈ 90.9 docs/s: about 9x the teacher's 10, not 100x.
    assert "student composite is 9.1× faster than teacher gpt" in text


def test_a_student_that_needs_no_teacher_says_nothing_about_it() -> None:
    text = " ".join(findings(report(0.0)))
    assert "needs the teacher" not in text and "leaves fields" not in text
    assert "100× faster than teacher gpt" in text


def test_the_table_shows_the_share_and_prices_the_llm_calls() -> None:
    from distil.evaluate.report import render_markdown

    md = render_markdown(report(0.25)).splitlines()
    share = next(line for line in md if line.startswith("| docs left to the LLM |"))
    assert share == "| docs left to the LLM | — | 25.0% |"
    cost = next(line for line in md if line.startswith("| cost per 1M docs |"))
    assert cost.endswith(" | 251.00 (with LLM calls) |"), cost  # 1e-6 + 0.25 × 1e-3 per doc
    plain = render_markdown(report(0.0)).splitlines()
    assert not any(line.startswith("| docs left to the LLM |") for line in plain)
