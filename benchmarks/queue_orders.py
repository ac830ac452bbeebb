"""Does the queue's order beat random order, or only one random order? (issue 13)

    .venv/bin/python benchmarks/queue_orders.py --datasets sms_spam banking77 snips \\
        --budget 250 --random-orders 3 --human-weight 1 5

``distil simulate`` compares the queue with ONE seeded random order. This script asks how much of
that comparison is the luck of the random draw: for each exclusive data set it labels the full train
split with the embedded zero-shot teacher (``local.zeroshot.v1``, stored and resumable under
``--work``), scores every teacher label with the same out-of-fold trust step ``distil train`` runs
(5 folds of the default ``embeddings.textcat.v1`` student, cleanlab self-confidence), and then, for
each order, lets an oracle review the first ``--budget`` cards (the gold train label replaces the
teacher's), fits the default student on the result (human answers fitted ``--human-weight`` times,
as ``[train] human_weight`` does) and scores it on the test split.

Orders: ``queue`` is the ``label_issues`` strategy's order at cards 0 (lowest trust first: at one
step of ``--budget`` cards it is exactly what ``distil simulate`` reviews); ``random-K`` are seeded
shuffles (K = 0 is the order ``distil simulate --seed 0`` uses); the variants tried are
``per-label`` (round-robin over the teacher's labels, lowest trust first in each) and ``interleaved``
(queue and random-0 alternately). Each is compared with each random order by a paired bootstrap
(1,000 resamples of the test rows, macro-F1). Multi-label data sets (goemotions) are left out: their
per-label cards are not reproduced here.

The report is printed and written to ``--out`` (default ``benchmarks/out/queue_orders.md``).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine
from distill import labels_of, write_config

from distil import Categories
from distil.config import resolve_section
from distil.project import Project
from distil.testing.data import shared_data_dir
from distil.trust import score_labels

EXCLUSIVE = ("sms_spam", "banking77", "snips")


def prepare(dataset: str, data_dir: Path, work: Path) -> tuple[Project, dict[str, Any]]:
    """Label train and gold with the zero-shot teacher and score every teacher label (cached)."""
    folder = data_dir / dataset
    files = {s: str(folder / f"{s}.jsonl") for s in ("train", "dev")}
    files["gold"] = str(folder / "test.jsonl")
    base = work / dataset
    config = write_config(
        base / "embeddings",
        dataset,
        labels_of(folder / "train.jsonl"),
        "zeroshot",
        "embeddings.textcat.v1",
        files,
        None,
    )
    text = config.read_text(encoding="utf-8")
    student = '@students = "embeddings.textcat.v1"'
    config.write_text(
        text.replace(student, f'{student}\ncache_dir = "{base / "embedding-cache"}"'),
        encoding="utf-8",
    )
    project = Project.from_config(config)
    state_file = base / "state.pkl"
    if state_file.exists():
        return project, pickle.loads(state_file.read_bytes())
    project.import_data()
    project.label("train")
    project.label("gold")
    train = project.store.examples("train")
    gold = project.store.examples("gold")
    dev = project.store.examples("dev")
    source = project.teacher_source
    teacher_train = project.store.predictions(source, [e.id for e in train])
    teacher_gold = project.store.predictions(source, [e.id for e in gold])
    pairs = [(e.without_answer(), teacher_train[e.id].output) for e in train]
    started = time.perf_counter()
    trust = score_labels(project.config.task, pairs, lambda: fresh(project), folds=5, seed=0)
    state = {
        "train": train,
        "gold": gold,
        "dev": dev,
        "teacher": [teacher_train[e.id].output for e in train],
        "teacher_gold": [teacher_gold[e.id].output for e in gold],
        "trust": trust.scores,
        "trust_s": time.perf_counter() - started,
    }
    state_file.write_bytes(pickle.dumps(state))
    return project, state


def fresh(project: Project) -> Any:
    return resolve_section(project.host, "student", project.config.raw["student"])


def macro_f1(truth: np.ndarray, pred: np.ndarray, k: int, rows: np.ndarray | None = None) -> float:
    """Macro-F1 over the labels present in ``truth[rows]`` (distil's rule), from counts."""
    if rows is not None:
        truth, pred = truth[rows], pred[rows]
    hit = truth == pred
    tp = np.bincount(truth[hit], minlength=k)
    fp = np.bincount(pred[~hit & (pred >= 0)], minlength=k)
    fn = np.bincount(truth[~hit], minlength=k)
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[np.bincount(truth, minlength=k) > 0].mean())


def run(dataset: str, args: argparse.Namespace) -> list[str]:
    project, s = prepare(dataset, args.data_dir, args.work)
    task = project.config.task
    labels = list(task.labels)
    index = {x: i for i, x in enumerate(labels)}
    train, gold = s["train"], s["gold"]
    truth_train = [task.reference(e).labels[0] for e in train]
    given = [o.labels[0] if o is not None and o.labels else None for o in s["teacher"]]
    truth = np.array([index[task.reference(e).labels[0]] for e in gold])
    teacher = np.array([index[o.labels[0]] if o and o.labels else -1 for o in s["teacher_gold"]])
    k = len(labels)
    trust = np.array([s["trust"].get(e.id, 1.0) for e in train])
    queue = [int(i) for i in np.lexsort((np.arange(len(train)), trust))]
    orders: dict[str, list[int]] = {"queue": queue}
    for seed in range(args.random_orders):
        orders[f"random-{seed}"] = [
            int(i) for i in np.random.default_rng(seed).permutation(len(train))
        ]
    buckets: dict[str, list[int]] = {}
    for i in queue:
        buckets.setdefault(str(given[i]), []).append(i)
    per_label: list[int] = []
    depth = 0
    while len(per_label) < len(queue):
        per_label.extend(b[depth] for b in buckets.values() if depth < len(b))
        depth += 1
    orders["per-label"] = per_label
    seen: set[int] = set()
    interleaved: list[int] = []
    for a, b in zip(queue, orders["random-0"], strict=True):
        for i in (a, b):
            if i not in seen:
                seen.add(i)
                interleaved.append(i)
    orders["interleaved"] = interleaved
    rng = np.random.default_rng(7)
    resamples = [rng.integers(0, len(truth), len(truth)) for _ in range(1000)]
    dev = [(e.without_answer(), task.reference(e)) for e in s["dev"]]
    bare_gold = [e.without_answer() for e in gold]
    teacher_f1 = macro_f1(truth, teacher, k)
    lines = [
        f"### {dataset}",
        "",
        f"Zero-shot teacher macro-F1 {teacher_f1:.3f}; {len(train):,} train rows, "
        f"{sum(a != b for a, b in zip(truth_train, given, strict=True)):,} teacher labels wrong; "
        f"trust step (5 folds) {s['trust_s']:.0f} s wall.",
        "",
    ]
    for weight in args.human_weight:
        predicted: dict[str, np.ndarray] = {}
        changed: dict[str, int] = {}
        for name, order in orders.items():
            reviewed = set(order[: args.budget])
            changed[name] = sum(truth_train[i] != given[i] for i in reviewed)
            pairs: list[Any] = []
            for i, ex in enumerate(train):
                if i in reviewed:
                    pairs.extend(
                        [(ex.without_answer(), Categories(labels=[truth_train[i]]))] * weight
                    )
                elif s["teacher"][i] is not None:
                    pairs.append((ex.without_answer(), s["teacher"][i]))
            student = fresh(project)
            student.fit(task, pairs, dev)
            out = student.predict(bare_gold)
            predicted[name] = np.array(
                [index[p.output.labels[0]] if p.output.labels else -1 for p in out]
            )
            print(f"[{dataset} w={weight}] {name}: {macro_f1(truth, predicted[name], k):.3f}")
        randoms = [n for n in orders if n.startswith("random-")]
        lines += [
            f"`human_weight = {weight}`, {args.budget} cards:",
            "",
            "| order | changed | macro-F1 | "
            + " | ".join(f"− {r} [95% CI]" for r in randoms)
            + " |",
            "|---|---:|---:|" + "---:|" * len(randoms),
        ]
        for name in orders:
            cells = []
            for r in randoms:
                if r == name:
                    cells.append("—")
                    continue
                a, b = predicted[name], predicted[r]
                diffs = [macro_f1(truth, a, k, x) - macro_f1(truth, b, k, x) for x in resamples]
                lo, hi = np.percentile(diffs, [2.5, 97.5])
                d = macro_f1(truth, a, k) - macro_f1(truth, b, k)
                mark = " ✔" if lo > 0 else (" ✘" if hi < 0 else "")
                cells.append(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}")
            score = macro_f1(truth, predicted[name], k)
            lines.append(f"| {name} | {changed[name]} | {score:.3f} | " + " | ".join(cells) + " |")
        lines.append("")
    project.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(EXCLUSIVE), choices=EXCLUSIVE)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--budget", type=int, default=250)
    parser.add_argument("--random-orders", type=int, default=3)
    parser.add_argument("--human-weight", type=int, nargs="+", default=[1])
    parser.add_argument("--work", type=Path, default=Path("benchmarks/out/queue_orders"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/queue_orders.md"))
    args = parser.parse_args()
    args.data_dir = (args.data_dir or shared_data_dir()).resolve()
    args.work = args.work.resolve()
    started = time.perf_counter()
    lines = ["## Queue vs several random orders (zero-shot teacher)", ""]
    lines += ["```", ".venv/bin/python " + " ".join(sys.argv), "```", ""]
    for dataset in args.datasets:
        lines += run(dataset, args)
    lines.append(f"{machine()}; wall time {(time.perf_counter() - started) / 60:.1f} min.")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
