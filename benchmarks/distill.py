"""Text classification end to end: the embedded teacher labels, students learn, gold judges.

    .venv/bin/python benchmarks/distill.py --datasets sms_spam banking77 goemotions snips \\
        --train-limit 2000 --test-limit 600 --students sklearn.textcat.v1 --out docs/distill.md

For each data set (labels read from its train split; goemotions multi-label, snips its intents):

1. The embedded zero-shot teacher ``local.zeroshot.v1`` (MiniLM, label names as hypotheses) is
   tuned on the gold dev split (``teacher.tune``: softmax temperature, or the multi-label
   threshold) and labels the train and test samples. Its test labelling is timed (docs/s).
2. Each student type (``--students``) trains on (a) the teacher's labels; (b) the teacher's labels
   with 100 / 250 / 500 *simulated corrections*: an oracle reviewer works through the train rows in
   the annotation queue's default order (``distil.annotate.queue.default_order``: rows where the
   student of (a) disagrees with the teacher first, then the lowest teacher confidence) and gold
   replaces the teacher's answer of every row reviewed (nested: the 250 include the 100); a
   reference row takes 500 rows in a seeded random order instead; (c) all gold train (the ceiling).
3. Everything is scored on gold test: macro-F1 (exclusive) or micro-F1 (multi-label) with a 95%
   bootstrap CI, and a paired bootstrap of each student against the teacher on the same rows.
   Student prediction is timed on the same test texts (best of 5), so the speed ratio compares
   two numbers taken in the same run.
4. A Markdown report goes to ``--out`` with the command, the machine, the sampling and the wall
   time; it is also printed.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import best_of, load_split, machine, sample, timed

import distil
from distil.annotate.queue import Card, default_order
from distil.evaluate import paired_bootstrap

DATASETS = ("sms_spam", "banking77", "goemotions", "snips")
MULTILABEL = {"goemotions"}
CORRECTIONS = (100, 250, 500)
RANDOM_REFERENCE = 500
SEED = 0
TEACHER = "local.zeroshot.v1"
LLM_MODEL = "smollm2-135m"
SHORT = {
    "sklearn.textcat.v1": "sklearn",
    "spacy.textcat.v1": "spaCy",
    "transformers.textcat.v1": "transformers",
}


@dataclass
class Row:
    """One line of a data set's table."""

    source: str
    outputs: list[Any]  # test predictions, aligned with the test sample
    score: dict[str, Any]
    n_train: int | None = None
    changed: int | None = None  # train labels that gold changed (corrections rows)
    docs_per_s: float | None = None
    cmp: dict[str, Any] | None = None  # paired bootstrap against the teacher


@dataclass
class Result:
    dataset: str
    metric: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    teacher_docs_per_s: float = 0.0
    llm: LLMResult | None = None


@dataclass
class LLMResult:
    """The local LLM teacher on the first ``--llm-limit`` test rows."""

    outputs: list[Any]
    failed: int
    docs_per_s: float
    score: float = 0.0  # on its rows, filled by DatasetRun.compare_llm
    rows: list[str] = field(default_factory=list)  # table lines, filled by DatasetRun.compare_llm


# -- data ----------------------------------------------------------------------------------------
def load(dataset: str, train_limit: int | None, test_limit: int | None):
    train_all = load_split(dataset, "train")
    labels = sorted({label for ex in train_all for label in ex.labels or []})
    task = distil.TextCat(labels, multilabel=dataset in MULTILABEL)
    train = sample(train_all, train_limit, SEED)
    test = sample(load_split(dataset, "test"), test_limit, SEED)
    dev = load_split(dataset, "dev")
    return task, train, dev, test, len(train_all)


def bare(examples: list[distil.Example]) -> list[distil.Example]:
    return [ex.without_answer() for ex in examples]


def same(a: distil.Categories | None, b: distil.Categories) -> bool:
    return a is not None and set(a.labels) == set(b.labels)


# -- the queue's order ---------------------------------------------------------------------------
def queue_order(
    train: list[distil.Example],
    teacher_preds: list[distil.Prediction],
    student_out: list[distil.Categories],
) -> list[int]:
    """Train row indices in the annotation queue's default order for a whole-task pass.

    The cards carry what the app's cards carry: the teacher's suggestion and confidence (for a
    multi-label answer, the smallest score among its chosen labels) and the student's answer; the
    order is ``default_order``'s (disagreement first, then the lowest confidence, then position).
    """
    cards = []
    for i, (ex, pred, stu) in enumerate(zip(train, teacher_preds, student_out, strict=True)):
        suggestion = pred.output if pred.ok else None
        disagree = suggestion is None or set(stu.labels) != set(suggestion.labels)
        card = Card(ex, "labels", suggestion, pred.confidence, stu, disagree, i)
        cards.append(card)
    return [c.position for c in default_order(cards)]


def with_gold(
    task: distil.Task, train: list[distil.Example], teacher_out: list[Any], rows: list[int]
) -> tuple[list[tuple[distil.Example, Any]], int]:
    """Teacher pairs with gold in place of the teacher's answer on ``rows``; and how many of
    those answers gold actually changed (the rest the reviewer accepted as they were)."""
    fix = set(rows)
    pairs, changed = [], 0
    for i, (ex, out) in enumerate(zip(train, teacher_out, strict=True)):
        if i in fix:
            ref = task.reference(ex)
            changed += not same(out, ref)
            pairs.append((ex.without_answer(), ref))
        elif out is not None:
            pairs.append((ex.without_answer(), out))
    return pairs, changed


# -- students ------------------------------------------------------------------------------------
def student_name(kind: str, task: distil.TextCat) -> str:
    """The registered student for ``kind`` on this task (spaCy has a multi-label variant)."""
    if kind == "spacy.textcat.v1" and task.multilabel:
        return "spacy.textcat_multilabel.v1"
    return kind


def fit_predict(host: Any, kind: str, task, pairs, dev_pairs, test, train=None):
    """Train one student; its test outputs, docs/s on test, and (optionally) its train outputs."""
    student = host.create("students", student_name(kind, task))
    student.fit(task, pairs, dev_pairs)
    test_in = bare(test)
    test_out = [p.output for p in student.predict(test_in)]
    seconds = best_of(lambda: student.predict(test_in), repeats=5)
    train_out = [p.output for p in student.predict(bare(train))] if train is not None else None
    return test_out, len(test) / seconds, train_out


# -- one data set --------------------------------------------------------------------------------
class DatasetRun:
    """The steps for one data set; each adds rows and notes to ``self.result``."""

    def __init__(self, host: Any, dataset: str, args: argparse.Namespace) -> None:
        self.host, self.args = host, args
        self.task, self.train, self.dev, self.test, n_all = load(
            dataset, args.train_limit, args.test_limit
        )
        metric = "micro_f1" if self.task.multilabel else "macro_f1"
        self.result = Result(dataset, metric)
        self.test_gold = [self.task.reference(ex) for ex in self.test]
        self.dev_pairs = [(ex.without_answer(), self.task.reference(ex)) for ex in self.dev]
        kind = "multi-label" if self.task.multilabel else "exclusive"
        self.result.notes.append(
            f"{len(self.task.labels)} labels ({kind}); train sample {len(self.train)} of {n_all} "
            f"rows, test sample {len(self.test)} rows, dev {len(self.dev)} gold rows (teacher "
            "tuning; multi-label student thresholds)"
        )

    def run(self) -> Result:
        teacher_row, teacher_preds = self.teacher()
        if self.args.llm_limit:
            self.llm_teacher()
        for kind in self.args.students:
            self.students(kind, teacher_preds)
        self.compare(teacher_row)
        return self.result

    def row(self, source: str, outs: list[Any], **kw: Any) -> Row:
        r = Row(source, outs, self.task.score(self.test_gold, outs), **kw)
        self.result.rows.append(r)
        return r

    def teacher(self) -> tuple[Row, list[distil.Prediction]]:
        """Step 1: tune on dev, label train and test (test timed)."""
        teacher = self.host.create("teachers", TEACHER)
        with timed(self.result, "teacher tune on dev (model load included)"):
            fitted = teacher.tune(self.task, self.dev)
        what = "threshold" if self.task.multilabel else "temperature"
        with timed(self.result, "teacher labels test"):
            test_preds = teacher.label(self.task, bare(self.test))
        self.result.teacher_docs_per_s = len(self.test) / self.result.seconds["teacher labels test"]
        with timed(self.result, "teacher labels train"):
            train_preds = teacher.label(self.task, bare(self.train))
        failed = sum(not p.ok for p in train_preds) + sum(not p.ok for p in test_preds)
        outs = [p.output if p.ok else None for p in test_preds]
        row = self.row(
            f"teacher: {TEACHER} (tuned {what} {fitted:g})",
            outs,
            docs_per_s=self.result.teacher_docs_per_s,
        )
        wrong = sum(
            not same(p.output if p.ok else None, self.task.reference(ex))
            for ex, p in zip(self.train, train_preds, strict=True)
        )
        self.result.notes.append(
            f"the teacher's train labels differ from gold on {wrong} of {len(self.train)} rows "
            f"({wrong / len(self.train):.0%}); {failed} teacher answers failed"
        )
        return row, train_preds

    def llm_teacher(self) -> None:
        """Step 1b: the local LLM labels the first ``--llm-limit`` test rows (timed after one
        warm-up document, so the model load is not counted)."""
        # llama.cpp's default thread count: one on two cores (two ran slower whenever anything
        # else used the second core).
        provider = self.host.create("providers", "local.llama.v1", model=LLM_MODEL, max_tokens=96)
        teacher = distil.PromptTeacher(provider)
        rows = self.test[: self.args.llm_limit]
        with timed(self.result, "LLM teacher load + warm-up (1 train doc)"):
            teacher.label(self.task, bare(self.train[:1]))
        with timed(self.result, f"LLM teacher labels {len(rows)} test"):
            preds = teacher.label(self.task, bare(rows))
        seconds = self.result.seconds[f"LLM teacher labels {len(rows)} test"]
        self.result.llm = LLMResult(
            [p.output if p.ok else None for p in preds],
            sum(not p.ok for p in preds),
            len(rows) / seconds,
        )

    def student(self, kind, label: str, pairs, changed=None, train=None):
        source = f"{SHORT.get(kind, kind)} student on {label}"
        with timed(self.result, source):
            outs, dps, train_out = fit_predict(
                self.host, kind, self.task, pairs, self.dev_pairs, self.test, train
            )
        self.row(source, outs, n_train=len(pairs), changed=changed, docs_per_s=dps)
        return train_out

    def students(self, kind: str, teacher_preds: list[distil.Prediction]) -> None:
        """Step 2 for one student type: (a), (b) with the queue's order and a random one, (c)."""
        teacher_out = [p.output if p.ok else None for p in teacher_preds]
        pairs = [(ex.without_answer(), o) for ex, o in zip(self.train, teacher_out, strict=True)]
        pairs = [(ex, o) for ex, o in pairs if o is not None]
        student_train = self.student(kind, "teacher labels", pairs, train=self.train)
        order = queue_order(self.train, teacher_preds, student_train)
        disagree = sum(
            not same(s, o) if o is not None else True
            for s, o in zip(student_train, teacher_out, strict=True)
        )
        found = {}
        for n in self.args.corrections:
            rows = order[:n]
            pairs_n, changed = with_gold(self.task, self.train, teacher_out, rows)
            found[n] = changed
            label = f"teacher labels + {len(rows)} simulated corrections (queue order)"
            self.student(kind, label, pairs_n, changed=changed)
        against = ""
        if self.args.reference:
            shuffled = list(range(len(self.train)))
            random.Random(SEED).shuffle(shuffled)
            pairs_r, changed_r = with_gold(
                self.task, self.train, teacher_out, shuffled[:RANDOM_REFERENCE]
            )
            n_random = min(RANDOM_REFERENCE, len(self.train))
            label = f"teacher labels + {n_random} random gold rows (reference)"
            self.student(kind, label, pairs_r, changed=changed_r)
            against = f", against {changed_r} of {RANDOM_REFERENCE} random rows"
        gold_pairs = [(ex.without_answer(), self.task.reference(ex)) for ex in self.train]
        self.student(kind, "all gold train (ceiling)", gold_pairs)
        hits = ", ".join(f"{found[n]} of the first {n}" for n in self.args.corrections)
        self.result.notes.append(
            f"{SHORT.get(kind, kind)}: the student of (a) disagrees with the teacher on {disagree} "
            f"train rows (those come first in the queue); the teacher was wrong on {hits} rows "
            f"reviewed in queue order{against}"
        )

    def compare(self, teacher_row: Row) -> None:
        """Step 3: paired bootstrap of every student against the teacher on the same test rows."""
        for r in self.result.rows:
            if r is teacher_row:
                continue
            r.cmp = paired_bootstrap(
                self.task, self.test_gold, r.outputs, teacher_row.outputs, metric=self.result.metric
            )
        self.result.notes.extend(self.verdicts(teacher_row))
        if self.result.llm is not None:
            self.compare_llm(teacher_row)

    def compare_llm(self, teacher_row: Row) -> None:
        """The LLM's rows: the zero-shot teacher and each student's best queue row, scored on
        the same first rows, each against the LLM (paired bootstrap) and timed against it."""
        llm, m = self.result.llm, self.result.metric
        assert llm is not None
        n = len(llm.outputs)
        gold = self.test_gold[:n]
        score = self.task.score(gold, llm.outputs)
        llm.score = score[m]
        lo, hi = score["ci"][m]
        llm.rows.append(
            f"| teacher: local LLM ({LLM_MODEL}) | {score[m]:.3f} [{lo:.3f}, {hi:.3f}] | — "
            f"| {llm.failed} | {llm.docs_per_s:,.1f} | 1× |"
        )
        others = [teacher_row] + [
            [
                r
                for r in self.result.rows
                if r.source.startswith(SHORT.get(k, k) + " student") and "queue order" in r.source
            ][-1]
            for k in self.args.students
        ]
        for r in others:
            mine = r.outputs[:n]
            sc = self.task.score(gold, mine)
            cmp = paired_bootstrap(self.task, gold, mine, llm.outputs, metric=m)
            a, b = sc["ci"][m]
            c, d = cmp["ci"]
            mark = " ✔" if c > 0 else (" ✘" if d < 0 else "")
            failed = sum(o is None for o in mine)
            llm.rows.append(
                f"| {r.source} | {sc[m]:.3f} [{a:.3f}, {b:.3f}] | {cmp['delta']:+.3f} "
                f"[{c:+.3f}, {d:+.3f}]{mark} | {failed} | {r.docs_per_s:,.0f} "
                f"| {r.docs_per_s / llm.docs_per_s:,.0f}× |"
            )

    def verdicts(self, teacher_row: Row) -> list[str]:
        """Plain sentences: which students beat the teacher, which do not."""
        out = []
        name = METRIC_NAMES[self.result.metric]
        for kind in self.args.students:
            short = SHORT.get(kind, kind)
            mine = [r for r in self.result.rows if r.source.startswith(short + " student")]
            queue = [r for r in mine if "queue order" in r.source or tail(r) == "teacher labels"]
            beat = [r for r in queue if r.cmp["ci"][0] > 0]
            lost = [r for r in queue if r.cmp["ci"][1] < 0]
            tied = [r for r in queue if r not in beat and r not in lost]
            parts = []
            if beat:
                parts.append("beats the teacher with " + ", ".join(tail(r) for r in beat))
            if tied:
                parts.append(
                    "is **not distinguishable** from it (the paired CI includes 0) with "
                    + ", ".join(tail(r) for r in tied)
                )
            if lost:
                parts.append("is **worse** than it with " + ", ".join(tail(r) for r in lost))
            best = max(queue, key=lambda r: r.cmp["delta"])
            lo, hi = best.cmp["ci"]
            out.append(
                f"**{short} student vs teacher ({name}):** trained on at most "
                f"{self.args.corrections[-1]} simulated corrections it "
                + "; ".join(parts)
                + ". Best: "
                f"{tail(best)}, Δ {best.cmp['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}]."
            )
            if self.args.reference:
                out.append(self.queue_vs_random(short, mine))
            ceiling = next(r for r in mine if "ceiling" in r.source)
            if ceiling.cmp["ci"][0] <= 0:
                lo, hi = ceiling.cmp["ci"]
                verdict = "is worse than" if hi < 0 else "is not distinguishable from"
                out.append(
                    f"Even trained on all {ceiling.n_train} gold train rows the {short} student "
                    f"{verdict} the teacher here: Δ {ceiling.cmp['delta']:+.3f} "
                    f"[{lo:+.3f}, {hi:+.3f}] (paired 95% CI)."
                )
        return out

    def queue_vs_random(self, short: str, mine: list[Row]) -> str:
        """One sentence: did the queue's order beat a random order at the largest budget?"""
        queue = [r for r in mine if "queue order" in r.source][-1]
        rand = next(r for r in mine if "random gold rows" in r.source)
        cmp = paired_bootstrap(
            self.task, self.test_gold, queue.outputs, rand.outputs, metric=self.result.metric
        )
        lo, hi = cmp["ci"]
        if lo > 0:
            verdict = "beats"
        elif hi < 0:
            verdict = "is **worse** than"
        else:
            verdict = "is not distinguishable from"
        why = ""
        if hi < 0 and queue.changed is not None and rand.changed is not None:
            why = (
                f" although its rows hold more teacher errors ({queue.changed} against "
                f"{rand.changed}): the rows the queue puts first are the teacher's least sure, "
                "not a representative sample of the data"
            )
        return (
            f"**{short}: queue order vs random order** (same number of reviewed rows): the "
            f"student with the queue's simulated corrections {verdict} the one with random gold "
            f"rows, Δ {cmp['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}] (paired bootstrap){why}."
        )


def tail(r: Row) -> str:
    return r.source.split(" student on ", 1)[-1]


# -- the report ----------------------------------------------------------------------------------
METRIC_NAMES = {"macro_f1": "macro-F1", "micro_f1": "micro-F1"}


def metric_cell(r: Row, metric: str) -> str:
    lo, hi = r.score["ci"][metric]
    return f"{r.score[metric]:.3f} [{lo:.3f}, {hi:.3f}]"


def delta_cell(r: Row) -> str:
    if r.cmp is None:
        return "—"
    lo, hi = r.cmp["ci"]
    mark = " ✔" if lo > 0 else (" ✘" if hi < 0 else "")
    return f"{r.cmp['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}"


def dataset_table(res: Result) -> str:
    name = METRIC_NAMES[res.metric]
    lines = [
        f"| source | {name} [95% CI] | Δ vs teacher [paired 95% CI] | n train | labels gold changed "
        "| docs/s | × teacher speed |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res.rows:
        n = "—" if r.n_train is None else str(r.n_train)
        changed = "—" if r.changed is None else str(r.changed)
        dps = "—" if r.docs_per_s is None else f"{r.docs_per_s:,.0f}"
        ratio = (
            "1×" if r.cmp is None else f"{r.docs_per_s / max(1e-9, res.teacher_docs_per_s):,.0f}×"
        )
        lines.append(
            f"| {r.source} | {metric_cell(r, res.metric)} | {delta_cell(r)} | {n} | {changed} "
            f"| {dps} | {ratio} |"
        )
    return "\n".join(lines)


def summary_table(results: list[Result], students: list[str]) -> str:
    lines = [
        "| data set | metric | teacher | student: teacher labels | + 500 simulated corrections "
        "| Δ (+500) vs teacher | ceiling (all gold) | student / teacher speed "
        "| local LLM † | student / LLM speed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        teacher = res.rows[0]
        for kind in students:
            short = SHORT.get(kind, kind)
            mine = [r for r in res.rows if r.source.startswith(short + " student")]
            plain = next(r for r in mine if tail(r) == "teacher labels")
            top = [r for r in mine if "simulated corrections" in r.source][-1]
            ceiling = next(r for r in mine if "ceiling" in r.source)
            m = res.metric
            label = f"{res.dataset} ({short})" if len(students) > 1 else res.dataset
            lines.append(
                f"| {label} | {METRIC_NAMES[m]} | {teacher.score[m]:.3f} | {plain.score[m]:.3f} "
                f"| {top.score[m]:.3f} | {delta_cell(top)} | {ceiling.score[m]:.3f} "
                f"| {top.docs_per_s / max(1e-9, res.teacher_docs_per_s):,.0f}× "
                f"| {llm_cells(res, top)} |"
            )
    return "\n".join(lines)


def llm_cells(res: Result, top: Row) -> str:
    """The LLM's score on its rows and the student's speed against it (or dashes)."""
    if res.llm is None:
        return "— | —"
    return f"{res.llm.score:.3f} | {top.docs_per_s / res.llm.docs_per_s:,.0f}×"


def llm_table(res: Result) -> str:
    assert res.llm is not None
    name = METRIC_NAMES[res.metric]
    head = [
        f"| source (first {len(res.llm.outputs)} test rows) | {name} [95% CI] "
        "| Δ vs local LLM [paired 95% CI] | failed answers | docs/s | × LLM speed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    return "\n".join(head + res.llm.rows)


def report(
    results: list[Result], args: argparse.Namespace, command: str, wall: float, load: tuple
) -> str:
    students = ", ".join(f"`{s}`" for s in args.students)
    parts = [
        "# Distillation benchmark: embedded zero-shot teacher → students, text classification",
        "",
        "Generated by `benchmarks/distill.py`:",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: the project's VM ({machine()}), CPU only. Total wall time "
        f"**{wall / 60:.1f} min** for everything below (tuning, labelling, training, scoring).",
        "",
        f"Load average (1 min) at the start {load[0]:.1f}, at the end {load[1]:.1f}: other work "
        "shared the cores, so times and docs/s are pessimistic, and the two sides of each speed "
        "ratio were measured under the same load in the same run.",
        "",
        f"**Subsampled.** A seeded random sample (seed {SEED}) of up to {args.train_limit} train "
        f"and {args.test_limit} test rows per data set (sizes under each data set), so the "
        "numbers are not those of the full splits; the dev split is used whole. snips is scored "
        "on its intent labels only (its slot spans are ignored).",
        "",
        f"Teacher: `{TEACHER}` (all-MiniLM-L6-v2, label names as hypotheses) tuned on the gold "
        "dev split with `teacher.tune` (softmax temperature for exclusive tasks — it changes "
        "confidences, never the chosen label — and the cosine threshold for multi-label). "
        f"Students: {students} with their defaults; each gets the gold dev split as `dev` "
        "(scikit-learn and transformers use it only to tune multi-label thresholds; spaCy also "
        "keeps the weights of its best epoch on it).",
        "",
        "Scores on gold test: macro-F1 for exclusive tasks, micro-F1 for multi-label (goemotions), "
        "each with a 95% percentile bootstrap CI over documents (1000 resamples). *Δ vs teacher*: "
        "a paired bootstrap (`distil.evaluate.paired_bootstrap`, 1000 resamples) of the student "
        "minus the teacher on the same test rows; ✔ marks a CI above 0 (beats the teacher), "
        "✘ a CI below 0.",
        "",
        "*Simulated corrections* (no human was involved): an oracle reviewer goes through the "
        "train rows in the annotation queue's default order "
        "(`distil.annotate.queue.default_order`): first the rows where the student trained on "
        "the teacher's labels (row *teacher labels*) disagrees with the teacher — as the app "
        "does once that student's predictions are in the store — then the lowest teacher "
        "confidence (the chosen label's probability; for multi-label the smallest score among "
        "the chosen labels). Gold replaces the teacher's answer on each of the first N rows "
        f"reviewed (N = {', '.join(map(str, args.corrections))}, nested); *labels gold changed* "
        "says on how many the teacher was in fact wrong. "
        + (
            f"The *random gold rows (reference)* row does the same with {RANDOM_REFERENCE} rows "
            "in a seeded random order, to show what the queue's order buys."
            if args.reference
            else "(No random-order reference row in this run: `--no-reference`.)"
        ),
        "",
        "Utility: *docs/s* is the teacher's labelling of the test sample (model already loaded) "
        "and each student's prediction on the same texts (best of 5 runs, after one warm-up); "
        "*× teacher speed* is their ratio.",
        "",
        *llm_intro(args),
        "## Summary",
        "",
        summary_table(results, args.students),
        "",
    ]
    for res in results:
        parts += [f"## {res.dataset}", "", dataset_table(res), ""]
        if res.llm is not None:
            parts += [llm_table(res), ""]
        parts += [f"- {note}" for note in res.notes]
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in res.seconds.items())
        parts += [f"- time per step: {steps}", ""]
    return "\n".join(parts)


def llm_intro(args: argparse.Namespace) -> list[str]:
    if not args.llm_limit:
        return []
    return [
        f"† *Local LLM*: the second embedded teacher, `local.llama.v1` ({LLM_MODEL}, llama.cpp "
        "on one thread, answers constrained to the task's JSON schema) through the prompt "
        f"teacher, on the first {args.llm_limit} test rows only: it runs at a few documents per "
        "second, so it labels no train rows here. Its table under each data set scores the "
        "zero-shot teacher and each student (its +500 queue-order row) on the same rows, with a "
        "paired bootstrap against the LLM; its docs/s is timed after one warm-up document, so "
        "the model load is not counted.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--test-limit", type=int, default=600)
    parser.add_argument(
        "--students",
        nargs="+",
        default=["sklearn.textcat.v1"],
        help="student types: sklearn.textcat.v1, spacy.textcat.v1, transformers.textcat.v1",
    )
    parser.add_argument(
        "--llm-limit",
        type=int,
        default=100,
        help="test rows the local LLM teacher labels (0: skip it)",
    )
    parser.add_argument(
        "--corrections",
        nargs="+",
        type=int,
        default=list(CORRECTIONS),
        help="numbers of simulated corrections, each a student (nested, ascending)",
    )
    parser.add_argument(
        "--no-reference",
        dest="reference",
        action="store_false",
        help="skip the student on random gold rows (the queue-order reference)",
    )
    parser.add_argument("--out", default="docs/distill.md")
    parser.add_argument(
        "--summary-into",
        default="docs/benchmarks.md",
        help="also write the summary table between the distill markers of this page ('' to skip)",
    )
    parser.add_argument(
        "--summary-id",
        default="",
        help="which marker pair to write between: <!-- distill.py summary[ ID]: begin/end -->",
    )
    args = parser.parse_args()
    command = shlex.join([".venv/bin/python", "benchmarks/distill.py", *sys.argv[1:]])

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    host = distil.get_host()
    results = [DatasetRun(host, dataset, args).run() for dataset in args.datasets]
    wall = time.perf_counter() - started

    text = report(results, args, command, wall, (load_start, os.getloadavg()[0]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    if args.summary_into:
        write_summary(Path(args.summary_into), results, args, command, wall)
    print(text)


def write_summary(page: Path, results, args, command: str, wall: float) -> None:
    """Replace the text between the markers of ``page`` with this run's summary table."""
    tag = f"distill.py summary{' ' + args.summary_id if args.summary_id else ''}"
    begin, end = f"<!-- {tag}: begin -->", f"<!-- {tag}: end -->"
    text = page.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise SystemExit(f"{page}: no {begin} ... {end} markers to write the summary between")
    block = "\n".join(
        [
            begin,
            "",
            "```",
            command,
            "```",
            "",
            f"{machine()}; {wall / 60:.1f} min. Full tables, sampling and method: "
            f"[{Path(args.out).name}]({Path(args.out).name}).",
            "",
            summary_table(results, args.students),
            "",
            *llm_intro(args),
            end,
        ]
    )
    head, rest = text.split(begin, 1)
    page.write_text(head + block + rest.split(end, 1)[1], encoding="utf-8")


if __name__ == "__main__":
    main()
