"""NER end to end: two embedded teachers label train, a spaCy NER student learns from them.

    .venv/bin/python benchmarks/ner_distill.py --datasets wikigold wnut17 \\
        --train-limit 1200 --test-limit 800 --llm-limit 100 --epochs 5 --out docs/ner.md

For each data set (labels read from its train split):

1. Two teachers label the train sample: the pretrained pipeline ``spacy.pipeline.v1``
   (en_core_web_sm, the data set's named label map) and the local LLM (``local.llama.v1`` on
   SmolLM2-135M through ``PromptTeacher``, the ``ner.v1`` task). The LLM is slow, so it labels
   only the first ``--llm-limit`` rows of the train and test samples; its failed answers (entities
   not found in the text, truncated answers) are counted, never dropped silently.
2. Each teacher is scored on gold test: span-exact micro-F1 with a 95% bootstrap CI.
3. The spaCy NER student ``spacy.ner.v1`` (default: sourced from en_core_web_sm's ``ner``) trains
   on each teacher's labels; on the pipeline teacher's labels with 100 / 250 / 500 *simulated
   corrections* (gold replaces the teacher's labels of examples the teacher got wrong, taken in a
   seeded random order: an oracle reviewer who only opens wrong examples); and on all gold train
   (the ceiling). Each is scored on gold test.
4. A Markdown table goes to ``--out`` with the command, the machine, the sampling and the wall time;
   the table is also printed.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import load_split, machine, sample, timed

import distil
from distil.evaluate import paired_bootstrap

LLM_MODEL = "smollm2-135m"
CORRECTIONS = (100, 250, 500)
SEED = 0


@dataclass
class Row:
    """One line of the table for one data set."""

    source: str
    outputs: list[Any]  # test predictions (None = failure), aligned with the scored test rows
    score: dict[str, Any]
    n_train: int | None = None
    failure_rate: float | None = None
    n_test: int = 0
    note: str = ""
    docs_per_s: float | None = None  # test rows per CPU second of this process (one core)
    cards: tuple[int, int] | None = None  # (reviewed, changed) for the correction rows


@dataclass
class Result:
    dataset: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


# -- data ----------------------------------------------------------------------------------------
def load(dataset: str, train_limit: int | None, test_limit: int | None):
    train_all = load_split(dataset, "train")
    labels = sorted({s.label for ex in train_all for s in ex.spans or []})
    task = distil.NerTask(labels)
    train = sample(train_all, train_limit, SEED)
    test = sample(load_split(dataset, "test"), test_limit, SEED)
    return task, train, test, len(train_all)


def gold(task: distil.Task, examples: list[distil.Example]) -> list[distil.Spans]:
    return [task.reference(ex) for ex in examples]


def same_spans(a: distil.Spans, b: distil.Spans) -> bool:
    return {(s.start, s.end, s.label) for s in a.spans} == {
        (s.start, s.end, s.label) for s in b.spans
    }


# -- teachers ------------------------------------------------------------------------------------
def pipeline_teacher(host: Any, dataset: str) -> distil.Teacher:
    # The plugin's named label maps carry the data sets' names ("wikigold", "wnut17").
    return host.create("teachers", "spacy.pipeline.v1", label_map=dataset)


def llm_teacher(host: Any) -> distil.Teacher:
    # llama.cpp's default thread count (one on two cores): two threads ran up to 3x slower
    # whenever anything else used the second core.
    provider = host.create("providers", "local.llama.v1", model=LLM_MODEL, max_tokens=128)
    return distil.PromptTeacher(provider)


def cpu_rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def label(teacher: distil.Teacher, task: distil.Task, examples: list[distil.Example]):
    return teacher.label(task, [ex.without_answer() for ex in examples])


def failure_kind(error: str) -> str:
    if "not found in the text" in error:
        return "entity not in the text"
    if "truncated" in error:
        return "answer truncated (max_tokens)"
    return "other"


def failures(preds: list[distil.Prediction]) -> tuple[float, Counter[str]]:
    kinds = Counter(failure_kind(p.error) for p in preds if not p.ok)
    return sum(kinds.values()) / max(1, len(preds)), kinds


def outputs(preds: list[distil.Prediction]) -> list[Any]:
    return [p.output if p.ok else None for p in preds]


# -- students ------------------------------------------------------------------------------------
def train_student(host: Any, task, pairs, test, epochs: int) -> tuple[list[distil.Spans], float]:
    """Train, predict the test rows; returns the outputs and the prediction's docs per CPU second."""
    student = host.create("students", "spacy.ner.v1", max_epochs=epochs, seed=SEED)
    student.fit(task, pairs)
    texts = [ex.without_answer() for ex in test]
    cpu = time.process_time()
    outs = [p.output for p in student.predict(texts)]
    return outs, cpu_rate(len(texts), time.process_time() - cpu)


def corrected(train, teacher_out, task, n: int, seed: int):
    """Teacher pairs where gold replaces the labels of ``n`` wrong examples (seeded order).

    Returns the pairs and how many corrections were applied (fewer than ``n`` when the teacher
    got fewer examples wrong).
    """
    wrong = [
        i
        for i, (ex, out) in enumerate(zip(train, teacher_out, strict=True))
        if not same_spans(out, task.reference(ex))
    ]
    random.Random(seed).shuffle(wrong)
    fix = set(wrong[:n])
    pairs = [
        (ex.without_answer(), task.reference(ex) if i in fix else out)
        for i, (ex, out) in enumerate(zip(train, teacher_out, strict=True))
    ]
    return pairs, len(fix)


def describe_failures(kinds: Counter[str], n: int) -> str:
    total = sum(kinds.values())
    parts = ", ".join(f"{k} {v}" for k, v in kinds.most_common())
    return f"{total}/{n} ({total / max(1, n):.0%}{': ' + parts if parts else ''})"


# -- one data set --------------------------------------------------------------------------------
class DatasetRun:
    """The steps for one data set; each adds rows and notes to ``self.result``."""

    def __init__(self, host: Any, dataset: str, args: argparse.Namespace) -> None:
        self.host, self.args = host, args
        self.result = Result(dataset)
        self.task, self.train, self.test, n_all = load(dataset, args.train_limit, args.test_limit)
        self.test_gold = gold(self.task, self.test)
        self.result.notes.append(
            f"labels {', '.join(self.task.labels)}; train sample {len(self.train)} of {n_all} "
            f"rows, test sample {len(self.test)} rows"
        )

    def run(self) -> Result:
        pipeline_row, pipeline_train = self.pipeline_teacher()
        llm_row, llm_train_preds, llm_test_rows = self.llm_teacher(pipeline_row)
        self.students(pipeline_train, llm_train_preds)
        self.result.notes.extend(self.comparisons(pipeline_row, llm_row, llm_test_rows))
        return self.result

    def row(
        self,
        source,
        outs,
        n_train=None,
        failure_rate=None,
        rows=None,
        note="",
        speed=None,
        cards=None,
    ) -> Row:
        """Score ``outs`` against gold test (``rows``: which test rows they are for) as a row."""
        rows = rows if rows is not None else range(len(self.test))
        g = [self.test_gold[i] for i in rows]
        score = self.task.score(g, outs)
        r = Row(source, outs, score, n_train, failure_rate, len(g), note, speed, cards)
        self.result.rows.append(r)
        return r

    def pipeline_teacher(self) -> tuple[Row, list[distil.Spans]]:
        """Steps 1–2 for the pretrained pipeline: its train labels and its test row."""
        teacher = pipeline_teacher(self.host, self.result.dataset)
        with timed(self.result, "pipeline teacher labels train + test"):
            train_out = outputs(label(teacher, self.task, self.train))
            cpu = time.process_time()
            test_preds = label(teacher, self.task, self.test)
            speed = cpu_rate(len(self.test), time.process_time() - cpu)
        test_rate, _ = failures(test_preds)
        source = "teacher: spaCy pipeline (en_core_web_sm + label map)"
        teacher_row = self.row(source, outputs(test_preds), failure_rate=test_rate, speed=speed)
        n_wrong = sum(
            not same_spans(out, self.task.reference(ex))
            for ex, out in zip(self.train, train_out, strict=True)
        )
        self.result.notes.append(
            f"the pipeline teacher's train labels differ from gold on {n_wrong} of "
            f"{len(self.train)} rows (the pool the simulated corrections are drawn from)"
        )
        return teacher_row, train_out

    def llm_teacher(self, pipeline_row: Row) -> tuple[Row, list[distil.Prediction], list[int]]:
        """Steps 1–2 for the local LLM, on the first ``--llm-limit`` rows of train and test."""
        teacher = llm_teacher(self.host)
        train = self.train[: self.args.llm_limit]
        test_rows = list(range(min(self.args.llm_limit, len(self.test))))
        step = f"LLM teacher labels {len(train)} train + {len(test_rows)} test"
        with timed(self.result, step):
            train_preds = label(teacher, self.task, train)
            reasks = teacher.ledger.reasks
            cpu = time.process_time()
            test_preds = label(teacher, self.task, [self.test[i] for i in test_rows])
            speed = cpu_rate(len(test_rows), time.process_time() - cpu)
            reasks += teacher.ledger.reasks
        per_doc = self.result.seconds[step] / max(1, len(train) + len(test_rows))
        _, train_kinds = failures(train_preds)
        test_rate, test_kinds = failures(test_preds)
        source = f"teacher: local LLM ({LLM_MODEL}) †"
        llm_row = self.row(
            source, outputs(test_preds), failure_rate=test_rate, rows=test_rows, speed=speed
        )
        same_rows = self.task.score(
            [self.test_gold[i] for i in test_rows], [pipeline_row.outputs[i] for i in test_rows]
        )
        self.result.notes.append(
            f"† the LLM teacher is scored on {len(test_rows)} test rows only (on the same rows "
            f"the pipeline teacher scores {same_rows['micro_f1']:.3f}). Its failed answers: train "
            f"{describe_failures(train_kinds, len(train_preds))}; test "
            f"{describe_failures(test_kinds, len(test_preds))}. It took {per_doc:.1f} s per doc "
            f"(model load and {reasks} re-asks included)"
        )
        return llm_row, train_preds, test_rows

    def student(self, source: str, pairs, failure_rate=None, note: str = "", cards=None) -> Row:
        """Step 3: train the spaCy NER student on ``pairs`` and score it on all test rows."""
        with timed(self.result, source):
            outs, speed = train_student(self.host, self.task, pairs, self.test, self.args.epochs)
        return self.row(source, outs, len(pairs), failure_rate, note=note, speed=speed, cards=cards)

    def students(self, pipeline_train: list[distil.Spans], llm_train_preds) -> None:
        pairs = [
            (ex.without_answer(), out) for ex, out in zip(self.train, pipeline_train, strict=True)
        ]
        self.student("student on pipeline-teacher labels", pairs, failure_rate=0.0, cards=(0, 0))
        for n in CORRECTIONS:
            pairs, applied = corrected(self.train, pipeline_train, self.task, n, SEED)
            note = "" if applied == n else f"only {applied} wrong rows to correct"
            source = f"student on pipeline labels + {n} simulated corrections"
            # The oracle opens only wrong rows: every card it reviews is a change.
            self.student(source, pairs, failure_rate=0.0, note=note, cards=(applied, applied))
        llm_rate, _ = failures(llm_train_preds)
        llm_pairs = [
            (ex.without_answer(), p.output)
            # the LLM labelled a prefix of train
            for ex, p in zip(self.train[: len(llm_train_preds)], llm_train_preds, strict=True)
            if p.ok
        ]
        if llm_pairs:
            self.student("student on local-LLM labels", llm_pairs, failure_rate=llm_rate)
        else:
            self.result.notes.append(
                f"student on local-LLM labels: not trained, all {len(llm_train_preds)} of the "
                "LLM's train answers failed"
            )
        gold_pairs = [(ex.without_answer(), self.task.reference(ex)) for ex in self.train]
        self.student("student on all gold train (ceiling)", gold_pairs)

    def comparisons(self, pipeline_row: Row, llm_row: Row, llm_test_rows: list[int]) -> list[str]:
        """Plain sentences: does each student beat its teacher (paired bootstrap, micro-F1)?"""
        out, beaten_by = [], []
        for r in self.result.rows:
            if not r.source.startswith("student"):
                continue
            if "LLM" in r.source:
                ref, rows, teacher = llm_row, llm_test_rows, "the LLM teacher"
            else:
                ref, rows, teacher = pipeline_row, range(len(self.test)), "the pipeline teacher"
            cmp = paired_bootstrap(
                self.task,
                [self.test_gold[i] for i in rows],
                [r.outputs[i] for i in rows],
                ref.outputs,
                metric="micro_f1",
            )
            lo, hi = cmp["ci"]
            if lo > 0:
                verdict = "beats"
                beaten_by.append(r.source)
            elif hi < 0:
                verdict = "does **not** beat"
            else:
                verdict = "is not distinguishable from"
            out.append(
                f"{r.source} {verdict} {teacher}: micro-F1 {cmp['value_a']:.3f} vs "
                f"{cmp['value_b']:.3f}, Δ {cmp['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}] (paired "
                f"bootstrap on the same {cmp['n']} test rows)"
            )
        out.append(self.summary(beaten_by))
        return out

    @staticmethod
    def summary(beaten_by: list[str]) -> str:
        """One sentence: does distillation alone beat the pipeline teacher, and after how much?"""
        alone = "student on pipeline-teacher labels" in beaten_by
        beat = [n for n in CORRECTIONS if any(f"+ {n} " in s for s in beaten_by)]
        missed = [n for n in CORRECTIONS if n not in beat]
        with_corrections = (
            f"with {'/'.join(map(str, beat))} simulated corrections it beats the teacher"
            if beat
            else "with none of 100/250/500 simulated corrections does it beat the teacher"
        )
        if beat and missed:
            with_corrections += f", with {'/'.join(map(str, missed))} it does not"
        return (
            f"**In short:** trained on the pipeline teacher's labels alone, the student "
            f"{'beats' if alone else 'does not beat'} its teacher; {with_corrections} (beat: the "
            "95% CI of the paired difference in micro-F1 lies above zero)."
        )


# -- the report ----------------------------------------------------------------------------------
def f1_cell(r: Row) -> str:
    lo, hi = r.score["ci"]["micro_f1"]
    return f"{r.score['micro_f1']:.3f} [{lo:.3f}, {hi:.3f}]"


def _rate(docs_per_s: float) -> str:
    """Thousands separated; two significant digits below 10 (an LLM's 0.2 docs/s is not 0)."""
    return f"{docs_per_s:,.0f}" if docs_per_s >= 10 else f"{docs_per_s:.2g}"


def table(results: list[Result]) -> str:
    header = ["source"]
    for res in results:
        header += [
            f"{res.dataset} micro-F1 [95% CI]",
            f"{res.dataset} n train",
            f"{res.dataset} failure rate",
            f"{res.dataset} cards / changed",
            f"{res.dataset} docs/s (CPU)",
        ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    sources = list(dict.fromkeys(r.source for res in results for r in res.rows))
    for source in sources:
        cells = [source]
        for res in results:
            r = next((r for r in res.rows if r.source == source), None)
            if r is None:
                cells += ["—"] * 5
                continue
            n = "—" if r.n_train is None else f"{r.n_train}" + (f" ({r.note})" if r.note else "")
            fail = "—" if r.failure_rate is None else f"{r.failure_rate:.1%}"
            cards = "—" if r.cards is None else f"{r.cards[0]} / {r.cards[1]}"
            speed = "—" if r.docs_per_s is None else _rate(r.docs_per_s)
            cells += [f1_cell(r), n, fail, cards, speed]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(
    results: list[Result], args: argparse.Namespace, command: str, wall: float, load: tuple
) -> str:
    parts = [
        "# NER distillation: embedded teachers → spaCy NER student",
        "",
        "Generated by `benchmarks/ner_distill.py`:",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: the project's 2-core VM ({machine()}), CPU only. Total wall time "
        f"**{wall / 60:.1f} min** for everything below (labelling, training, scoring).",
        "",
        f"Load average (1 min) at the start {load[0]:.1f}, at the end {load[1]:.1f}: other work "
        "shared the two cores at times, so the times are upper bounds.",
        "",
        f"Sampling: a seeded random sample (seed {SEED}) of up to {args.train_limit} train and "
        f"{args.test_limit} test rows per data set (sizes under each data set below); the local "
        f"LLM labels only the first {args.llm_limit} rows of each sample (it is slow: its s/doc "
        f"is under each data set). Student: `spacy.ner.v1` with its defaults (sourced from en_core_web_sm's "
        f"`ner`), {args.epochs} epochs, no dev set, seed {SEED}; *n train* is its training pairs.",
        "",
        "Scores: span-exact micro-F1 on gold test with a 95% percentile bootstrap CI over documents "
        "(`task.score`, 1000 resamples). *Failure rate*: for a teacher row, the share of test rows "
        "whose answer failed (scored as predicting nothing); for a student row, the share of the "
        "teacher's train labels that failed and were left out of training (so *n train* counts only "
        "usable labels). The LLM teacher is `PromptTeacher` (JSON-schema-constrained, one re-ask of an "
        "invalid answer, `max_tokens = 128`).",
        "",
        "*Simulated corrections*: gold replaces the pipeline teacher's labels of N train rows where "
        "those labels differ from gold, taken in a seeded random order — an oracle reviewer who "
        "only opens wrong rows, so this is an upper bound on what N real reviews buy. The sets are "
        "nested (the 250 include the 100). *cards / changed*: cards reviewed and labels changed; "
        "the oracle here opens only wrong rows, so the two are equal (the textcat benchmark, "
        "through `distil simulate`, reviews the queue's cards instead and most are accepts).",
        "",
        "*docs/s (CPU)*: test rows labelled (teachers) or predicted (students, model loaded) per "
        "CPU second of this process (`time.process_time`, all threads), on one core "
        "(`OMP_NUM_THREADS=1`); for the local LLM on its test rows only, model already loaded.",
        "",
        "Every student starts from en_core_web_sm's pretrained `ner` (the plugin's default), so a "
        "student trained on a handful of labels (the local-LLM rows) still finds entities: its "
        "score reflects that start far more than the few labels it saw.",
        "",
        table(results),
        "",
    ]
    for res in results:
        parts.append(f"## {res.dataset}")
        parts.append("")
        parts += [f"- {note}" for note in res.notes]
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in res.seconds.items())
        parts.append(f"- time per step: {steps}")
        parts.append("")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["wikigold", "wnut17"])
    parser.add_argument("--train-limit", type=int, default=1200)
    parser.add_argument("--test-limit", type=int, default=800)
    parser.add_argument("--llm-limit", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/out/ner.md", help="e.g. docs/ner.md")
    args = parser.parse_args()
    command = shlex.join([".venv/bin/python", "benchmarks/ner_distill.py", *sys.argv[1:]])
    if os.environ.get("OMP_NUM_THREADS"):
        command = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} {command}"

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    host = distil.get_host()
    results = [DatasetRun(host, dataset, args).run() for dataset in args.datasets]
    wall = time.perf_counter() - started

    text = report(results, args, command, wall, (load_start, os.getloadavg()[0]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
