"""The rule teacher: what fires, how rules combine, when it abstains, and errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import distil
from distil.testing import load_split
from distil_rules import ABSTAINED, RulesTeacher
from distil_rules.plugin import make_rules_teacher

SPAM = distil.TextCat(["ham", "spam"])
NER = distil.NerTask(["PER", "LOC", "ORG"])


def ex(text: str, n: int = 0) -> distil.Example:
    return distil.Example(id=f"e{n}", text=text)


def label(teacher: RulesTeacher, task: distil.Task, *texts: str) -> list[distil.Prediction]:
    return teacher.label(task, [ex(t, n) for n, t in enumerate(texts)])


# -- on real data -------------------------------------------------------------------------------
def test_a_few_keywords_label_sms_spam_far_better_than_chance_and_abstain_otherwise(shared_data):
    test = load_split("sms_spam", "test")
    teacher = make_rules_teacher(
        keywords={"spam": ["txt", "claim", "prize", "urgent", "mobile"]},
        patterns=[{"label": "spam", "regex": r"\b0?8\d{8,9}\b", "id": "premium-number"}],
    )
    predictions = teacher.label(SPAM, test)
    base_rate = sum(e.labels == ["spam"] for e in test) / len(test)
    fired = [(p, e) for p, e in zip(predictions, test, strict=True) if p.ok]
    precision = sum(p.output.labels == e.labels for p, e in fired) / len(fired)
    # Measured: 85 of 1000 fire, 0.94 precision against a 0.124 spam base rate (recall 0.65).
    assert len(fired) >= 50, f"only {len(fired)} examples labelled"
    assert precision >= 0.8 and precision > 5 * base_rate, (precision, base_rate)
    abstained = [p for p in predictions if not p.ok]
    assert len(abstained) > len(test) / 2
    assert {p.error for p in abstained} == {ABSTAINED}
    assert all(p.output is None and p.raw == "[]" for p in abstained)


# -- text classification ------------------------------------------------------------------------
def test_phrases_match_whole_words_case_insensitively():
    teacher = make_rules_teacher(keywords={"spam": ["free entry"]})
    hit, inside, caps = label(teacher, SPAM, "Get a FREE  entry now", "freeentry", "Free Entry!")
    assert hit.output.labels == ["spam"] and caps.output.labels == ["spam"]
    assert inside.error == ABSTAINED


def test_case_sensitive_rules_need_the_exact_case():
    teacher = make_rules_teacher(keywords={"spam": ["WIN"]}, case_sensitive=True)
    upper, lower = label(teacher, SPAM, "WIN a car", "you win")
    assert upper.ok and lower.error == ABSTAINED


def test_rules_for_one_label_add_up_as_a_noisy_or():
    teacher = make_rules_teacher(keywords={"spam": ["prize", "claim"]}, confidence=0.8)
    one, both = label(teacher, SPAM, "a prize", "claim your prize")
    assert one.confidence == pytest.approx(0.8)
    assert both.confidence == pytest.approx(0.96)
    assert both.output.scores == pytest.approx({"ham": 0.0, "spam": 0.96})
    assert json.loads(both.raw) == ["teacher.keywords.spam[0]", "teacher.keywords.spam[1]"]


def test_disagreeing_rules_give_a_doubtful_answer_and_a_tie_abstains():
    teacher = make_rules_teacher(
        patterns=[
            {"label": "spam", "pattern": "prize", "confidence": 0.9},
            {"label": "ham", "pattern": "see you", "confidence": 0.6},
            {"label": "ham", "pattern": "tonight", "confidence": 0.9},
        ]
    )
    mixed, tie = label(teacher, SPAM, "see you, prize inside", "prize tonight")
    assert mixed.output.labels == ["spam"]
    assert mixed.confidence == pytest.approx(0.9 * (1 - 0.6))
    assert tie.output is None and "disagree" in tie.error


def test_multilabel_tasks_get_every_label_over_the_threshold():
    task = distil.TextCat(["billing", "bug", "praise"], multilabel=True)
    teacher = make_rules_teacher(
        patterns=[
            {"label": "billing", "pattern": "refund", "confidence": 0.9},
            {"label": "bug", "pattern": "crash", "confidence": 0.4},
            {"label": "praise", "pattern": "love", "confidence": 0.7},
        ],
        threshold=0.5,
    )
    [p] = label(teacher, task, "I love it but it crashed, no: crash. Refund please")
    assert p.output.labels == ["billing", "praise"]
    assert p.confidence == pytest.approx(0.7)


# -- spans --------------------------------------------------------------------------------------
def test_ner_keeps_the_longest_match_then_the_earliest():
    teacher = make_rules_teacher(
        patterns=[
            {"label": "LOC", "pattern": "New York"},
            {"label": "ORG", "pattern": "New York Times"},
            {"label": "PER", "pattern": [{"LOWER": "ada"}, {"TEXT": "Lovelace"}]},
        ]
    )
    [p] = label(teacher, NER, "Ada Lovelace read the New York Times in New York")
    got = [(p.output.spans[i].label, p.output.spans[i].start) for i in range(3)]
    assert got == [("PER", 0), ("ORG", 22), ("LOC", 40)]
    assert p.confidence == pytest.approx(0.8)


def test_token_patterns_check_case_per_token():
    teacher = make_rules_teacher(patterns=[{"label": "PER", "pattern": [{"TEXT": "Ada"}]}])
    right, wrong = label(teacher, NER, "Ada wrote", "ada wrote")
    assert right.output.spans == [distil.Span(start=0, end=3, label="PER")]
    assert wrong.error == ABSTAINED


def test_span_tasks_that_allow_overlap_keep_every_match():
    task = distil.SpansTask(["LOC", "ORG"])
    teacher = make_rules_teacher(
        patterns=[
            {"label": "LOC", "pattern": "New York"},
            {"label": "ORG", "pattern": "New York Times"},
        ]
    )
    [p] = label(teacher, task, "the New York Times")
    assert {(s.start, s.end, s.label) for s in p.output.spans} == {(4, 12, "LOC"), (4, 18, "ORG")}


# -- config, files and errors -------------------------------------------------------------------
def test_a_patterns_file_and_keywords_add_up(tmp_path: Path):
    path = tmp_path / "patterns.jsonl"
    path.write_text(
        '{"label": "spam", "pattern": "prize", "id": "prize"}\n\n'
        '{"label": "ham", "regex": "\\\\bsee (you|ya)\\\\b"}\n',
        encoding="utf-8",
    )
    teacher = make_rules_teacher(patterns_path=str(path), keywords={"spam": ["txt"]})
    assert len(teacher.rules) == 3
    spam, ham = label(teacher, SPAM, "win a prize", "see ya")
    assert (spam.output.labels, json.loads(spam.raw)) == (["spam"], ["prize"])
    assert ham.output.labels == ["ham"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"label": "spam", "patern": "x"}', "unknown key(s) ['patern']"),
        ('{"label": "spam"}', 'exactly one of "pattern" or "regex"'),
        ('{"label": "spam", "regex": "(unclosed"}', "invalid regex"),
        ('{"label": "spam", "pattern": "x", "confidence": 1.5}', "confidence must be"),
        ('{"label": "X", "pattern": [{"SHAPE": "Xxxx"}]}', "'SHAPE' is not supported"),
    ],
)
def test_a_bad_pattern_line_is_an_error_naming_the_file_and_line(tmp_path, line, reason):
    path = tmp_path / "patterns.jsonl"
    path.write_text('{"label": "spam", "pattern": "ok"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(distil.ConfigError) as info:
        make_rules_teacher(patterns_path=str(path))
    assert f"{path}:2" in str(info.value) and reason in str(info.value)


def test_a_rule_for_a_label_the_task_lacks_is_an_error_naming_the_rule():
    teacher = make_rules_teacher(keywords={"spam": ["prize"], "spma": ["txt"]})
    with pytest.raises(distil.ConfigError, match=r"teacher.keywords.spma\[0\].*'spma'"):
        teacher.label(SPAM, [ex("hi")])


def test_no_rules_is_an_error_that_says_what_to_give():
    with pytest.raises(distil.ConfigError, match="patterns, patterns_path or keywords"):
        make_rules_teacher()


def test_editing_a_rule_changes_the_provenance():
    one = make_rules_teacher(keywords={"spam": ["prize"]}).source(SPAM)
    same = make_rules_teacher(keywords={"spam": ["prize"]}).source(SPAM)
    other = make_rules_teacher(keywords={"spam": ["prize"]}, confidence=0.7).source(SPAM)
    assert one == same != other
    assert one.startswith("teacher:rules/1#rules=")


def test_a_project_config_builds_the_teacher_with_a_patterns_file_beside_it(tmp_path):
    from distil.config import load_config

    (tmp_path / "patterns.jsonl").write_text('{"label": "spam", "pattern": "prize"}\n')
    cfg = tmp_path / "distil.cfg"
    cfg.write_text(
        '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n\n'
        '[teacher]\n@teachers = "rules.patterns.v1"\npatterns_path = "patterns.jsonl"\n'
        'keywords = {"ham": ["see you"]}\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "test.jsonl"\n'
    )
    config = load_config(cfg)
    teacher = config.teacher
    assert isinstance(teacher, RulesTeacher) and len(teacher.rules) == 2
    spam, ham = label(teacher, config.task, "a prize", "see you")
    assert (spam.output.labels, ham.output.labels) == (["spam"], ["ham"])


def test_a_fallback_teacher_labels_what_the_rules_abstain_on():
    fallback = make_rules_teacher(keywords={"ham": ["hello"]})
    teacher = make_rules_teacher(keywords={"spam": ["prize"]}, fallback=fallback)
    by_rule, by_fallback, neither = label(teacher, SPAM, "a prize", "hello there", "nothing")
    source = teacher.source(SPAM)
    assert source == f"{teacher.rules_source()}|fallback={fallback.source(SPAM)}"
    assert {p.source for p in (by_rule, by_fallback, neither)} == {source}
    assert by_rule.output.labels == ["spam"] and by_fallback.output.labels == ["ham"]
    assert neither.error == ABSTAINED


def test_the_entry_point_loads_through_the_plugin_host():
    host = distil.PluginHost(allow={"rules"}, strict=True)
    assert host.plugins["rules"].status == "loaded"
    assert host.plugins["rules"].distribution == "distil-contrib-rules"
    registered = host.get("teachers", "rules.patterns.v1")
    assert registered.plugin == "rules"
    teacher = host.create("teachers", "rules.patterns.v1", keywords={"spam": ["prize"]})
    assert isinstance(teacher, RulesTeacher)
