"""Span tasks: kinds and registration, the prompt, aligning entity strings to offsets, span-exact
scoring with CIs, paired comparisons and the report."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import distil
from distil import (
    Completion,
    Example,
    NerTask,
    ParseError,
    PromptTeacher,
    Provider,
    Span,
    Spans,
    SpansTask,
    SpanTask,
    Usage,
)
from distil.config import resolve_section
from distil.evaluate.metrics import paired_bootstrap, score_spans
from distil.evaluate.report import SourceResult, build_report, render_markdown, summary_rows
from distil.store.jsonl import read_jsonl

LABELS = ["PER", "LOC", "ORG", "MISC"]


def ents(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"entities": [{"text": t, "label": label} for t, label in pairs]}


def found(task: SpanTask, text: str, *pairs: tuple[str, str]) -> list[tuple[str, int, str]]:
    """Aligned spans as (covered text, start, label), checking every offset on the way."""
    out = task.from_answer(ents(*pairs), Example(id="x", text=text))
    assert isinstance(out, Spans)
    return [(text[s.start : s.end], s.start, s.label) for s in out.spans]


@pytest.fixture
def ner() -> NerTask:
    return NerTask(LABELS, descriptions={"PER": "a person's name"})


# -- kinds and registration ---------------------------------------------------------------------
def test_the_two_span_tasks_say_which_they_are() -> None:
    assert NerTask(["PER"]).kind == "ner" and not NerTask(["PER"]).allow_overlap
    assert SpansTask(["PER"]).kind == "spans" and SpansTask(["PER"]).allow_overlap
    assert isinstance(NerTask(["PER"]), SpanTask) and isinstance(SpansTask(["PER"]), SpanTask)


def test_span_task_with_allow_overlap_builds_the_matching_kind() -> None:
    with pytest.warns(DeprecationWarning):
        assert type(SpanTask(["PER"])) is NerTask
    with pytest.warns(DeprecationWarning):
        assert type(SpanTask(["PER"], allow_overlap=True)) is SpansTask
    with pytest.warns(DeprecationWarning):
        assert SpanTask(["PER"], allow_overlap=True).describe()["allow_overlap"] is True
    with pytest.raises(ValueError, match="use the 'spans' task"):
        NerTask(["PER"], allow_overlap=True)


def test_ner_and_spans_are_registered_with_textcat_keys(isolated_host, tmp_path: Path) -> None:
    shots = tmp_path / "shots.jsonl"
    shots.write_text(
        json.dumps(
            {
                "id": "s1",
                "text": "Ann lives in Oslo",
                "spans": [
                    {"start": 0, "end": 3, "label": "PER"},
                    {"start": 13, "end": 17, "label": "LOC"},
                ],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    block = {
        "@tasks": "ner.v1",
        "labels": ["PER", "LOC"],
        "descriptions": {"LOC": "a place"},
        "instructions": "Tag names.",
        "shots_path": str(shots),
    }
    task = resolve_section(isolated_host, "task", block)
    assert type(task) is NerTask and task.descriptions == {"LOC": "a place"}
    assert task.instructions == "Tag names." and [s.id for s in task.shots] == ["s1"]
    spans = resolve_section(isolated_host, "task", {"@tasks": "spans.v1", "labels": ["A", "B"]})
    assert type(spans) is SpansTask and spans.kind == "spans"


# -- the prompt ---------------------------------------------------------------------------------
def test_the_prompt_lists_labels_and_renders_shots_as_entity_json(isolated_host, ner) -> None:
    shot = Example(
        id="s",
        text="Ann & Bob met at Café Nord in Oslo.",
        spans=[
            Span(start=0, end=3, label="PER"),
            Span(start=6, end=9, label="PER"),
            Span(start=17, end=26, label="ORG"),
            Span(start=30, end=34, label="LOC"),
        ],
    )
    teacher = PromptTeacher(_Scripted({}), shots=[shot])
    prompt = teacher.prompt_for(ner, Example(id="1", text="Who is Ann?", spans=[]))
    system = prompt.messages[0].content
    assert "- PER: a person's name" in system and "- MISC" in system
    assert '{"entities": [{"text": "...", "label": "..."}]}' in system
    assert "never overlap" in system
    assert "Text: Ann & Bob met at Café Nord in Oslo." in system
    answer = system.split("Answer: ")[1].strip()
    assert json.loads(answer) == ents(
        ("Ann", "PER"), ("Bob", "PER"), ("Café Nord", "ORG"), ("Oslo", "LOC")
    )
    assert "Café Nord" in answer  # not escaped to \\u00e9
    assert prompt.messages[-1].content == "Who is Ann?"
    items = prompt.json_schema["properties"]["entities"]["items"]
    assert items["properties"]["label"]["enum"] == LABELS
    overlapping = teacher.prompt_for(SpansTask(["A"]), Example(id="1", text="t"))
    assert "may overlap or nest" in overlapping.messages[0].content


# -- alignment ----------------------------------------------------------------------------------
def test_exact_match_wins_over_a_case_insensitive_one(ner) -> None:
    text = "apple pie, then Apple Inc."
    assert found(ner, text, ("Apple", "ORG")) == [("Apple", 16, "ORG")]


def test_case_insensitive_match_and_flexible_whitespace_are_the_fallback(ner) -> None:
    text = "He moved to NEW  YORK last year."
    assert found(ner, text, ("New York", "LOC")) == [("NEW  YORK", 12, "LOC")]


def test_whole_word_occurrences_come_before_matches_inside_a_word(ner) -> None:
    text = "The Annual report was written by Ann."
    assert found(ner, text, ("Ann", "PER")) == [("Ann", 33, "PER")]
    # inside a word only when nothing better exists
    assert found(ner, "McDonaldland", ("Donald", "PER")) == [("Donald", 2, "PER")]


def test_surrounding_whitespace_of_an_entity_is_ignored(ner) -> None:
    assert found(ner, "Hi Ann!", (" Ann ", "PER")) == [("Ann", 3, "PER")]


def test_an_entity_listed_k_times_takes_the_k_first_occurrences() -> None:
    # No "listed once" extension interferes: the third mention is lower case.
    ner = NerTask(["PER", "LOC"])
    text = "Jordan met Jordan near jordan."
    assert found(ner, text, ("Jordan", "PER"), ("Jordan", "PER")) == [
        ("Jordan", 0, "PER"),
        ("Jordan", 11, "PER"),
    ]


def test_the_same_string_with_two_labels_takes_occurrences_in_answer_order() -> None:
    ner = NerTask(["PER", "LOC"])
    text = "Jordan flew to Jordan."
    assert found(ner, text, ("Jordan", "PER"), ("Jordan", "LOC")) == [
        ("Jordan", 0, "PER"),
        ("Jordan", 15, "LOC"),
    ]


def test_an_entity_listed_once_labels_every_exact_whole_word_mention(ner) -> None:
    text = "Paris is big. paris is lower case. Parisians love Paris."
    assert found(ner, text, ("Paris", "LOC")) == [("Paris", 0, "LOC"), ("Paris", 50, "LOC")]


def test_listing_an_entity_more_often_than_it_occurs_is_not_an_error(ner) -> None:
    assert found(ner, "Ann sings.", ("Ann", "PER"), ("Ann", "PER")) == [("Ann", 0, "PER")]


def test_an_entity_that_is_not_in_the_text_fails_the_whole_answer(ner) -> None:
    with pytest.raises(ParseError, match=r"not found in the text: \['Bob'\]"):
        found(ner, "Ann met Carl.", ("Ann", "PER"), ("Bob", "PER"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"entities": "Ann"}, "expected"),
        ("Ann", "expected"),
        ({"entities": [{"label": "PER"}]}, "must be"),
        ({"entities": [["Ann", "PER"]]}, "must be"),
        ({"entities": [{"text": "Ann", "label": "PERSON"}]}, "not one of the task's labels"),
        ({"entities": [{"text": "  ", "label": "PER"}]}, "empty text"),
    ],
)
def test_malformed_answers_are_parse_errors(ner, data: Any, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        ner.from_answer(data, Example(id="x", text="Ann"))


def test_an_empty_list_and_a_bare_list_are_accepted(ner) -> None:
    assert ner.from_answer({"entities": []}, Example(id="x", text="nothing")) == Spans()
    assert found(ner, "Ann", ("Ann", "PER")) == [("Ann", 0, "PER")]
    assert ner.from_answer([{"text": "Ann", "label": "PER"}], Example(id="x", text="Ann"))


def test_ner_keeps_the_longest_of_overlapping_entities(ner) -> None:
    text = "She lives in New York City, not in York."
    # the shorter one is listed first; the longer still wins, and "York" finds its own mention
    assert found(ner, text, ("New York", "LOC"), ("New York City", "LOC"), ("York", "LOC")) == [
        ("New York City", 13, "LOC"),
        ("York", 35, "LOC"),
    ]
    # equally long and at the same place: the first listed wins
    assert found(ner, "Jordan", ("Jordan", "PER"), ("Jordan", "LOC")) == [("Jordan", 0, "PER")]


def test_spans_keeps_nested_spans_and_one_span_with_two_labels() -> None:
    task = SpansTask(["LOC", "ORG", "PER"])
    text = "Bank of New York"
    assert found(task, text, ("Bank of New York", "ORG"), ("New York", "LOC")) == [
        ("Bank of New York", 0, "ORG"),
        ("New York", 8, "LOC"),
    ]
    assert found(task, "Jordan", ("Jordan", "PER"), ("Jordan", "LOC")) == [
        ("Jordan", 0, "LOC"),
        ("Jordan", 0, "PER"),
    ]


def test_gold_answers_round_trip_through_alignment_on_wikigold(shared_data: Path) -> None:
    examples = read_jsonl(shared_data / "wikigold" / "test.jsonl").examples
    task = NerTask(["LOC", "MISC", "ORG", "PER"])
    for ex in examples:
        out = task.from_answer(task.answer_for(ex), ex)
        assert isinstance(out, Spans)
        want = {(s.start, s.end, s.label) for s in ex.spans or []}
        assert {(s.start, s.end, s.label) for s in out.spans} == want, ex.id
        answer = task.answer_for(ex)["entities"]
        assert Counter(ex.text[s.start : s.end] for s in out.spans) == Counter(
            e["text"] for e in answer
        )


class _Scripted(Provider):
    name = "test.scripted"

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__("scripted-1")
        self.answers = answers

    async def complete(self, prompt: distil.Prompt) -> Completion:
        answer = self.answers.get(prompt.messages[-1].content, '{"entities": []}')
        return Completion(text=answer, usage=Usage(input_tokens=10, output_tokens=5))


def test_the_teacher_loop_stores_an_unalignable_answer_as_a_failure(isolated_host, ner) -> None:
    answers = {
        "Ann met Bob.": json.dumps(ents(("Ann", "PER"), ("Bob", "PER"))),
        "Carl sings.": json.dumps(ents(("Dave", "PER"))),
    }
    examples = [Example(id="a", text="Ann met Bob."), Example(id="b", text="Carl sings.")]
    preds = PromptTeacher(_Scripted(answers), max_reasks=0).label(ner, examples)
    assert preds[0].output == Spans(
        spans=[Span(start=0, end=3, label="PER"), Span(start=8, end=11, label="PER")]
    )
    assert preds[1].output is None and "'Dave'" in (preds[1].error or "")
    assert preds[1].raw == answers["Carl sings."]


# -- scoring ------------------------------------------------------------------------------------
def sp(*triples: tuple[int, int, str]) -> Spans:
    return Spans(spans=[Span(start=s, end=e, label=label) for s, e, label in triples])


def test_span_scores_match_hand_computed_values() -> None:
    task = NerTask(["PER", "LOC"])
    gold = [sp((0, 3, "PER"), (10, 15, "LOC")), sp((0, 4, "PER")), sp((2, 5, "LOC"))]
    predicted: list[Spans | None] = [
        sp((0, 3, "PER"), (10, 14, "LOC")),  # PER tp; LOC boundary wrong: fp + fn
        sp((0, 4, "LOC")),  # right place, wrong label: LOC fp, PER fn
        None,  # failure: LOC fn
    ]
    s = score_spans(task, gold, predicted, n_boot=200)
    # PER: tp 1, fp 0, fn 1 -> p 1, r .5, f1 2/3;  LOC: tp 0, fp 2, fn 2 -> 0
    assert s["per_label"]["PER"] == {"p": 1.0, "r": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert s["per_label"]["LOC"] == {"p": 0.0, "r": 0.0, "f1": 0.0, "support": 2}
    assert s["micro_p"] == pytest.approx(1 / 3) and s["micro_r"] == pytest.approx(1 / 4)
    assert s["micro_f1"] == pytest.approx(2 * 1 / (2 * 1 + 2 + 3))
    assert s["macro_f1"] == pytest.approx(1 / 3) and s["macro_p"] == pytest.approx(0.5)
    assert s["failure_rate"] == pytest.approx(1 / 3) and s["n"] == 3
    assert s["exact_match"] == 0.0 and "accuracy" not in s
    assert set(s["ci"]) == {"micro_f1", "macro_f1"} and s["n_boot"] == 200
    assert task.score(gold, predicted)["micro_f1"] == s["micro_f1"]


def test_perfect_and_empty_answers() -> None:
    task = NerTask(["PER"])
    gold = [sp((0, 3, "PER")), sp((4, 6, "PER"))]
    s = score_spans(task, gold, list(gold), n_boot=50)
    assert s["micro_f1"] == 1.0 and s["exact_match"] == 1.0 and s["ci"]["micro_f1"] == [1.0, 1.0]
    # no spans anywhere: nothing to find, and 0/0 counts as 0 (zero_division=0, like seqeval)
    empty = score_spans(task, [sp()], [sp()], n_boot=10)
    assert empty["micro_f1"] == 0.0 and empty["exact_match"] == 1.0
    with pytest.raises(TypeError, match="expected Spans"):
        score_spans(task, gold, [distil.Categories(labels=["PER"]), None])
    with pytest.raises(ValueError, match="pair up"):
        score_spans(task, gold, [None])


def perturb(examples: list[Example]) -> list[Spans | None]:
    """A deterministic, varied corruption: drop, shift, relabel, add, fail."""
    labels = ["LOC", "MISC", "ORG", "PER"]
    out: list[Spans | None] = []
    for i, ex in enumerate(examples):
        if i % 17 == 0:
            out.append(None)
            continue
        spans = []
        for j, s in enumerate(ex.spans or []):
            k = i + j
            if k % 7 == 0:
                continue  # missed
            if k % 5 == 0:
                spans.append(Span(start=s.start, end=s.end + 1, label=s.label))  # boundary
            elif k % 4 == 0:
                other = labels[(labels.index(s.label) + 1) % 4]
                spans.append(Span(start=s.start, end=s.end, label=other))  # label
            else:
                spans.append(s)
        if i % 6 == 0:
            spans.append(Span(start=0, end=1, label="MISC"))  # spurious (may hit gold)
        out.append(Spans(spans=spans))
    return out


def test_span_scores_match_manual_counts_on_wikigold(shared_data: Path) -> None:
    examples = read_jsonl(shared_data / "wikigold" / "test.jsonl").examples
    task = NerTask(["LOC", "MISC", "ORG", "PER"])
    gold = [Spans(spans=list(ex.spans or [])) for ex in examples]
    predicted = perturb(examples)
    # Manual counting, independent of the scorer: triples per document.
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, predicted, strict=True):
        gs = {(s.start, s.end, s.label) for s in g.spans}
        ps = {(s.start, s.end, s.label) for s in p.spans} if p is not None else set()
        for t in gs & ps:
            tp[t[2]] += 1
        for t in ps - gs:
            fp[t[2]] += 1
        for t in gs - ps:
            fn[t[2]] += 1
    s = score_spans(task, gold, predicted, n_boot=300)
    for label in task.labels:
        a, b, c = tp[label], fp[label], fn[label]
        assert s["per_label"][label]["support"] == a + c
        assert s["per_label"][label]["f1"] == pytest.approx(2 * a / (2 * a + b + c))
    a, b, c = sum(tp.values()), sum(fp.values()), sum(fn.values())
    assert s["micro_f1"] == pytest.approx(2 * a / (2 * a + b + c))
    assert s["micro_p"] == pytest.approx(a / (a + b)) and s["micro_r"] == pytest.approx(a / (a + c))
    macro = sum(s["per_label"][x]["f1"] for x in task.labels) / 4
    assert s["macro_f1"] == pytest.approx(macro)
    assert s["failure_rate"] == pytest.approx(sum(p is None for p in predicted) / len(gold))
    assert 0.4 < s["micro_f1"] < 0.9  # the corruption is substantial but not total
    low, high = s["ci"]["micro_f1"]
    assert low < s["micro_f1"] < high and high - low < 0.15
    assert score_spans(task, gold, predicted, n_boot=300) == s  # seeded: deterministic


def test_paired_bootstrap_compares_span_sources(shared_data: Path) -> None:
    examples = read_jsonl(shared_data / "wikigold" / "test.jsonl").examples
    task = NerTask(["LOC", "MISC", "ORG", "PER"])
    gold = [Spans(spans=list(ex.spans or [])) for ex in examples]
    worse = perturb(examples)
    result = paired_bootstrap(task, gold, list(gold), worse, metric="micro_f1", n_boot=300)
    assert result["value_a"] == 1.0
    assert result["delta"] == pytest.approx(1.0 - score_spans(task, gold, worse)["micro_f1"])
    assert result["ci"][0] > 0 and result["p_value"] < 0.01
    same = paired_bootstrap(task, gold, worse, worse, n_boot=100)
    assert same["delta"] == 0 and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="accuracy is not defined"):
        paired_bootstrap(task, gold, worse, worse, metric="accuracy")


def test_the_report_renders_span_scores_without_accuracy(shared_data: Path) -> None:
    examples = read_jsonl(shared_data / "wikigold" / "test.jsonl").examples
    task = NerTask(["LOC", "MISC", "ORG", "PER"])
    gold = [Spans(spans=list(ex.spans or [])) for ex in examples]
    teacher_pred = perturb(examples)
    student_pred: list[Spans | None] = [g if i % 3 else Spans() for i, g in enumerate(gold)]
    sources = [
        SourceResult(
            "teacher:spacy/en_core_web_sm", "teacher", "spacy", task.score(gold, teacher_pred)
        ),
        SourceResult("student:spacy.ner#run=1", "student", "ner", task.score(gold, student_pred)),
    ]
    comparison = paired_bootstrap(task, gold, student_pred, teacher_pred, metric="micro_f1")
    report = build_report(
        task,
        sources,
        gold_name="wikigold/test",
        n_gold=len(gold),
        comparisons=[comparison | {"a": "ner", "b": "spacy"}],
    )
    _, rows = summary_rows(report)
    names = [r[0] for r in rows]
    assert "accuracy" not in names
    assert names[1:5] == ["micro-F1 (span-exact)", "macro-F1 (span-exact)", "micro-P", "micro-R"]
    md = render_markdown(report)
    low, high = sources[0].scores["ci"]["micro_f1"]
    assert f"{sources[0].scores['micro_f1']:.3f} [{low:.3f}, {high:.3f}]" in md
    assert "ner (non-overlapping entities, span-exact scores, 4 labels)" in md
    assert "## F1 per label (span-exact)" in md
    per = sources[1].scores["per_label"]["PER"]
    assert f"| PER | {per['support']} |" in md
    assert "micro-F1" in " ".join(line for line in md.splitlines() if "Findings" in line)
    json.dumps(report)
