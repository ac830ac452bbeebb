"""A task kind from a plugin through the whole loop: label → annotate → train → evaluate.

Real text, derived ratings: the shared data has no star ratings, so each GoEmotions comment
(Reddit, Apache 2.0, /work/shared/data/goemotions) gets a 1–5 rating from the valence of its
emotion labels (anger, disgust, fear, grief → 1 … admiration, joy, love, gratitude → 5; see
``VALENCE``), keeping only comments whose labels agree on one rating. A lexicon teacher labels
train (deterministic, often wrong), an oracle annotator corrects it through the annotation
session's own passes (``distil.Workspace``: the ``check`` then ``fix`` cards the task planned),
the word-vote student of ``distil.testing`` trains on the merged labels, and ``Project.evaluate``
writes the report. Nothing in core knows the ``ordinal`` kind: the CIs, the paired comparison,
the passes and the MAE row all come through the task contract and the plugin's hooks.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from distil_ordinal import OrdinalTask

import distil
from distil.testing.executors import KeywordStudent

DATA = Path(os.environ.get("DISTIL_SHARED_DATA", "/work/shared/data")) / "goemotions"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared data set is not at {DATA}")

#: The rating an emotion stands for (GoEmotions' 27 emotions + neutral).
VALENCE = {
    **dict.fromkeys(["anger", "disgust", "fear", "grief"], "1"),
    **dict.fromkeys(
        [
            "annoyance",
            "disappointment",
            "disapproval",
            "sadness",
            "remorse",
            "embarrassment",
            "nervousness",
        ],
        "2",
    ),
    **dict.fromkeys(["neutral", "realization", "confusion", "curiosity", "surprise"], "3"),
    **dict.fromkeys(["approval", "caring", "optimism", "desire", "relief"], "4"),
    **dict.fromkeys(
        ["admiration", "amusement", "excitement", "gratitude", "joy", "love", "pride"], "5"
    ),
}
WORD = re.compile(r"[a-z']+")
#: The teacher's lexicon: a few cue words per rating; no cue means "3".
CUES = {
    "1": {"hate", "disgusting", "scared", "awful", "angry", "worst"},
    "2": {"sad", "sorry", "unfortunately", "annoying", "wrong", "bad"},
    "4": {"hope", "agree", "yes", "good", "want", "nice"},
    "5": {"love", "thanks", "thank", "great", "lol", "amazing", "haha", "best"},
}
ORACLE = "oracle"

CONFIG = """
[project]
store = "distil.db"
output = "output"

[task]
@tasks = "ordinal.v1"

[teacher]
@teachers = "ordinaltest.cues.v1"

[student]
@students = "ordinaltest.votes.v1"

[data]
train = "train.jsonl"
gold = "gold.jsonl"

[train]
trust = false

[evaluate]
n_boot = 300
"""


class CueTeacher(distil.Teacher):
    """Rates by cue words (the rating with most cues; ties to the lower one; none: "3")."""

    def source(self, task: distil.Task) -> str:
        return "teacher:ordinaltest.cues#v1"

    async def alabel(self, task, examples, on_results=None):
        preds = []
        for ex in examples:
            words = WORD.findall(ex.text.lower())
            hits = Counter(r for w in words for r, cues in CUES.items() if w in cues)
            rating = max(sorted(hits), key=hits.__getitem__) if hits else "3"
            preds.append(
                distil.Prediction(
                    example_id=ex.id,
                    source=self.source(task),
                    output=distil.Categories(labels=[rating]),
                    confidence=min(0.95, 0.4 + 0.2 * sum(hits.values())),
                )
            )
        if on_results is not None:
            done = on_results(preds)
            if hasattr(done, "__await__"):
                await done
        return preds


@distil.hookimpl
def register_teachers(register):
    register("ordinaltest.cues.v1", CueTeacher)


@distil.hookimpl
def register_students(register):
    register("ordinaltest.votes.v1", KeywordStudent)


def rated_rows(split: str, per_rating: int) -> list[dict[str, Any]]:
    """The first ``per_rating`` comments of each rating whose emotions agree on one rating."""
    taken: Counter[str] = Counter()
    out = []
    for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        ratings = {VALENCE[label] for label in row["labels"]}
        if len(ratings) != 1:
            continue
        (rating,) = ratings
        if taken[rating] < per_rating:
            taken[rating] += 1
            out.append({"id": row["id"], "text": row["text"], "labels": [rating]})
    return out


def write(path: Path, rows: list[dict[str, Any]], with_labels: bool) -> None:
    keep = ("id", "text", "labels") if with_labels else ("id", "text")
    lines = [json.dumps({k: r[k] for k in keep}, ensure_ascii=False) + "\n" for r in rows]
    path.write_text("".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("ordinal")
    train, gold = rated_rows("train", 60), rated_rows("test", 30)
    write(folder / "train.jsonl", train, with_labels=False)
    write(folder / "gold.jsonl", gold, with_labels=True)
    (folder / "distil.cfg").write_text(CONFIG, encoding="utf-8")
    host = distil.PluginHost(
        entry_points=False,
        modules=[("ordinal", "distil_ordinal.plugin"), ("ordinaltest", sys.modules[__name__])],
        strict=True,
    )
    truth = {r["id"]: r["labels"] for r in train}
    with distil.Project.from_config(folder / "distil.cfg", host=host) as project:
        task = project.config.task
        project.import_data()
        project.label("train")
        # Annotate: the oracle takes the session's own cards, 80 of them, as the queue serves.
        ws = distil.Workspace(project.store, task, host=host)
        passes = [p.name for p in ws.passes]
        changed = 0
        for _ in range(80):
            card = ws.state(ORACLE)["card"]
            if card is None or not ws.get_pass(card["pass"]).is_check:
                break
            example_id = card["example_id"]
            teacher = ws.teacher[example_id].output.labels
            if teacher == truth[example_id]:
                ws.answer(ORACLE, card["pass"], example_id, "accept")
            else:
                ws.answer(ORACLE, card["pass"], example_id, "reject")
                right = distil.Categories(labels=truth[example_id])
                ws.answer(ORACLE, "fix", example_id, "correct", right)
                changed += 1
        trained = project.train()
        report, paths = project.evaluate(folder / "output")
    return {
        "task": task,
        "passes": passes,
        "changed": changed,
        "trained": trained,
        "report": report,
        "paths": paths,
        "gold": gold,
    }


def test_the_plugin_task_kind_is_what_the_config_built(loop):
    assert isinstance(loop["task"], OrdinalTask) and loop["task"].kind == "ordinal"
    assert loop["passes"] == ["check", "fix", "review"]


def test_the_oracle_corrected_the_teacher_and_training_used_the_corrections(loop):
    assert loop["changed"] > 10  # the lexicon teacher is often wrong on real comments
    stats = loop["trained"].to_dict()
    assert stats["from_humans"] >= loop["changed"]


def test_the_report_has_intervals_for_both_sources_and_the_plugin_metric(loop):
    report = loop["report"]
    teacher, student = report["sources"][:2]
    for source in (teacher, student):
        scores = source["scores"]
        low, high = scores["ci"]["macro_f1"]
        assert 0.0 <= low <= scores["macro_f1"] <= high <= 1.0
        low, high = scores["ci"]["mae"]
        assert low <= scores["mae"] <= high
        assert source["extra"]["mae"] == pytest.approx(scores["mae"], abs=1e-4)
        assert set(scores["confusion_matrix"]) <= set(loop["task"].labels)
    assert report["task"]["kind"] == "ordinal"


def test_the_report_compares_student_and_teacher_on_the_same_gold_rows(loop):
    [comparison] = loop["report"]["comparisons"]
    assert comparison["metric"] == "macro_f1"
    assert comparison["n"] == len(loop["gold"])
    assert comparison["ci"][0] <= comparison["delta"] <= comparison["ci"][1]
    student, teacher = loop["report"]["sources"][1], loop["report"]["sources"][0]
    assert comparison["value_a"] == pytest.approx(student["scores"]["macro_f1"])
    assert comparison["value_b"] == pytest.approx(teacher["scores"]["macro_f1"])
    markdown = loop["paths"]["md"].read_text(encoding="utf-8")
    assert "ordinal" in markdown and "mae" in markdown
