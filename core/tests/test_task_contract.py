"""The task owns its behaviour: no stage of core branches on the task kind (issue 16, item 1).

Scoring, the paired comparison, the headline and learning-curve metrics, calibration's "right",
the confusion matrix, annotation passes, the training merge, exchange and rebuilding from a
description are methods of :class:`distil.Task` (``distil/tasks/base.py``), so a task kind that a
plugin registers gets all of them without a change to core. The first test reads every module of
core outside ``distil/tasks/`` with ``ast`` and fails, naming file:line, on a comparison of a
``kind`` (``task.kind == "textcat"``, ``kind in (...)``, ``... in SPAN_KINDS``); the allow-list
holds the comparisons of *other* kinds (a schema field's, a file's, a run's), each with why.
The others pin the defaults a plugin's task kind relies on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import distil
from distil.annotate.passes import plan_passes
from distil.annotate.resolve import REVIEW_PASS
from distil.evaluate.calibration import calibration
from distil.evaluate.learning_curve import learning_curve
from distil.evaluate.metrics import paired_bootstrap
from distil.records import Categories, Example, Prediction
from distil.tasks.passes import REVIEW_PASS as TASKS_REVIEW_PASS

SRC = Path(distil.__file__).resolve().parent
_COMPARE = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)

#: (file under distil/, the compared expression) -> why it is not a task kind.
ALLOWED: dict[tuple[str, str], str] = {
    ("extract/render.py", "f.kind"): "a schema field's plan kind (span/exclusive/teacher...)",
    ("testing/loopback.py", "fault.kind"): "the loopback server's planted fault",
    ("testing/students.py", "got.output.kind"): "an output record's type tag, not a task's kind",
    ("testing/students.py", "want.output.kind"): "an output record's type tag",
    ("store/readers.py", "kind"): "a data file's format (jsonl, csv, parquet, hf)",
    ("cli/runs_cmd.py", "kind"): "a stored run's kind (label, train, predict)",
    ("cli/new_plugin_cmd.py", "kind"): "the kind of plugin to scaffold (provider, student...)",
    ("plugins.py", "kind"): "a registry's name (tasks, teachers, students...)",
    ("students_kit.py", "kind"): (
        "checks a saved description's kind against the task classes defined (Task.known_kinds), "
        "to name the plugin that is missing; the class of that kind then rebuilds the task"
    ),
}


def _kind_expr(node: ast.expr) -> str | None:
    """The source of ``node`` when it names a kind: ``x.kind``, ``kind`` or ``SPAN_KINDS``."""
    if isinstance(node, ast.Attribute) and node.attr == "kind":
        return ast.unparse(node)
    if isinstance(node, ast.Name) and node.id in ("kind", "SPAN_KINDS"):
        return node.id
    # a saved description's kind: task.get("kind"), task["kind"]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "kind"
    ):
        return ast.unparse(node)
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and node.slice.value == "kind"
    ):
        return ast.unparse(node)
    return None


def kind_branches(tree: ast.AST) -> list[tuple[int, str]]:
    """Every comparison (``==``, ``!=``, ``in``, ``not in``) with a kind on either side."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare) or not any(isinstance(o, _COMPARE) for o in node.ops):
            continue
        for side in (node.left, *node.comparators):
            expr = _kind_expr(side)
            if expr is not None:
                found.append((node.lineno, expr))
    return found


def _core_modules() -> list[Path]:
    return [p for p in sorted(SRC.rglob("*.py")) if p.relative_to(SRC).parts[0] != "tasks"]


def test_no_stage_of_core_branches_on_the_task_kind():
    offending, seen = [], set()
    for path in _core_modules():
        rel = path.relative_to(SRC).as_posix()
        for line, expr in kind_branches(ast.parse(path.read_text(encoding="utf-8"))):
            if (rel, expr) in ALLOWED:
                seen.add((rel, expr))
            else:
                offending.append(f"distil/{rel}:{line}: compares {expr}")
    assert not offending, (
        "a stage branches on the task kind; ask the task instead (a method or attribute of "
        "distil.Task, see distil/tasks/base.py):\n" + "\n".join(offending)
    )
    stale = sorted(set(ALLOWED) - seen)
    assert not stale, f"allow-list entries that match nothing any more: {stale}"


@pytest.mark.parametrize(
    "source",
    [
        'if task.kind == "textcat":\n    pass',
        'x = "spans" if task.kind in ("ner", "spans") else "labels"',
        "ok = self.config.task.kind != 'extract'",
        "if kind not in ('textcat', *SPAN_KINDS):\n    pass",
        'if report["task"].get("kind") == "extract":\n    pass',
        "mode = 1 if task['kind'] == 'ner' else 2",
    ],
)
def test_the_scan_catches_a_kind_branch(source):
    assert kind_branches(ast.parse(source)), source


# -- what a task kind from a plugin gets from the defaults --------------------------------------
class Stars(distil.Task):
    """A plugin-style task kind: one rating of "1".."5", nothing overridden but the abstract."""

    kind = "test-stars"

    def json_schema(self):
        return {"type": "object", "properties": {"labels": {"type": "array"}}}

    def from_answer(self, data, example):
        return self.validate_output(Categories(labels=list(data["labels"])))

    def reference(self, example):
        return Categories(labels=list(example.labels)) if example.labels else None

    def validate_output(self, output):
        return output


STARS = ["1", "2", "3", "4", "5"]


def _gold_and_two_sources():
    gold = [Categories(labels=[STARS[i % 5]]) for i in range(40)]
    good = [Categories(labels=list(g.labels)) for g in gold[:36]] + [None] * 4
    bad = [Categories(labels=["3"]) for _ in gold]
    return gold, good, bad


def test_a_new_task_kind_is_scored_with_confidence_intervals_by_default():
    gold, good, _ = _gold_and_two_sources()
    scores = Stars(STARS).score(gold, good)
    assert scores["n"] == 40 and scores["failure_rate"] == 0.1
    assert scores["accuracy"] == pytest.approx(0.9)
    assert scores["per_label"]["1"]["support"] == 8
    low, high = scores["ci"]["macro_f1"]
    assert low < scores["macro_f1"] <= high <= 1.0


def test_a_new_task_kind_gets_the_paired_comparison_on_its_headline_metric():
    gold, good, bad = _gold_and_two_sources()
    result = paired_bootstrap(Stars(STARS), gold, good, bad, n_boot=200)
    assert result["metric"] == "macro_f1"
    assert result["delta"] > 0 and result["ci"][0] > 0  # the good source is clearly better
    assert result["value_b"] == pytest.approx(Stars(STARS).score(gold, bad)["macro_f1"])


def test_a_new_task_kind_gets_check_fix_review_passes_and_calibration():
    task = Stars(STARS)
    assert [p.name for p in plan_passes(task)] == ["check", "fix", REVIEW_PASS]
    gold = [Categories(labels=["4"]), Categories(labels=["2"])]
    preds = [
        Prediction(example_id="a", source="t", output=Categories(labels=["4"]), confidence=0.9),
        Prediction(example_id="b", source="t", output=Categories(labels=["5"]), confidence=0.8),
    ]
    assert calibration(task, gold, preds)["ece"] == pytest.approx((0.1 + 0.8) / 2)


def test_a_new_task_kind_is_rebuilt_from_its_description():
    rebuilt = distil.task_from_description(Stars(STARS, instructions="rate it").describe())
    assert type(rebuilt) is Stars and rebuilt.labels == STARS
    assert rebuilt.instructions == "rate it"


def test_the_built_in_kinds_answer_what_the_stages_ask():
    textcat, multi = distil.TextCat(["ham", "spam"]), distil.TextCat(["a", "b"], multilabel=True)
    ner = distil.NerTask(["PER"])
    assert (textcat.exclusive, multi.exclusive, ner.exclusive) == (True, False, False)
    assert (textcat.headline_metric, ner.headline_metric) == ("macro_f1", "micro_f1")
    assert ner.learning_curve_metric == "micro_f1"
    assert (textcat.answer_field, ner.answer_field) == ("labels", "spans")
    assert ner.empty_output() == distil.Spans()
    assert textcat.empty_output() == Categories(labels=["ham"])
    assert multi.empty_output() == Categories(labels=[])
    gold = [Categories(labels=["ham"]), Categories(labels=["spam"])]
    assert textcat.confusion_matrix(gold, [Categories(labels=["spam"])] * 2) == {
        "ham": {"spam": 1},
        "spam": {"spam": 1},
    }
    assert multi.confusion_matrix(gold, gold) is None
    assert ner.correction_mode == "spans" and multi.correction_mode == "multi"
    # The tasks name the review pass without importing the resolver: one name all the same.
    assert TASKS_REVIEW_PASS == REVIEW_PASS


def test_the_learning_curve_reads_the_task_metric():
    class Majority(distil.Student):
        """Learns the most frequent label of its training pairs: more data, same answer."""

        def fit(self, task, train, dev=None):
            labels = [out.labels[0] for _, out in train]
            self.label = max(sorted(set(labels)), key=labels.count)
            return {}

        def predict(self, examples):
            out = Categories(labels=[self.label])
            return [distil.StudentPrediction(out, 1.0) for _ in examples]

    task = Stars(STARS)
    pairs = [
        (Example(id=f"t{i}", text=f"review {i} 👍"), Categories(labels=[STARS[i % 3]]))
        for i in range(30)
    ]
    gold = [Example(id=f"g{i}", text=f"review {i} 👎", labels=[STARS[i % 5]]) for i in range(20)]
    result = learning_curve(task, Majority, pairs, gold, fractions=(0.5, 1.0), n_boot=50)
    assert result["metric"] == task.learning_curve_metric
    assert result["last_step"]["metric"] == "macro_f1"
    assert result["last_step"]["delta"] == 0


def test_a_saved_report_renders_from_its_scoring_not_from_the_task_kind() -> None:
    """The report carries how its task is scored; a report saved before it did still renders."""
    from distil.evaluate.report import SourceResult, build_report
    from distil.evaluate.summary import headline_metric, is_span_report
    from distil.records import Span, Spans

    task = distil.NerTask(["PER", "LOC 🗺"])
    gold = [Spans(spans=[Span(start=0, end=4, label="PER")])]
    scores = task.score(gold, gold)
    report = build_report(
        task, [SourceResult("t", "teacher", "t", scores)], gold_name="g", n_gold=1
    )
    assert report["scoring"] == {
        "headline_metric": "micro_f1",
        "span_exact": True,
        "mode": "non-overlapping entities, span-exact scores",
        "accuracy_title": "accuracy",
        "per_label_title": "F1 per label (span-exact)",
    }
    assert (headline_metric(report), is_span_report(report)) == ("micro_f1", True)
    report.pop("scoring")  # an older report.json
    assert (headline_metric(report), is_span_report(report)) == ("micro_f1", True)
    # a task kind of a plugin decides by its attributes, whatever its kind is called
    report["scoring"] = {"headline_metric": "mae_score", "span_exact": False}
    report["task"]["kind"] = "ner"
    assert (headline_metric(report), is_span_report(report)) == ("mae_score", False)
