"""SIMULATION: an oracle annotator corrects the zero-shot teacher through the annotation app's HTTP API.

    .venv/bin/python benchmarks/annotation.py [--dataset sms_spam] [--checkpoints 0,100,250,500]

No human is involved: the "annotator" is a script that knows the gold labels. It starts the real
``distil annotate`` server (a subprocess on 127.0.0.1), takes cards in the app's queue order
(teacher–student disagreement first, then lowest teacher confidence), accepts a card when the
teacher's label is right, and otherwise rejects it and gives the gold label in the ``fix`` pass,
exactly as a person at the keyboard would, over HTTP. After 0, 100, 250 and 500 corrections it
trains a fresh TF-IDF + logistic-regression student on the merged labels (human answers over the
teacher's, as ``distil train`` merges them) and scores it on the gold test set against the teacher.
It is a best case: a real annotator makes mistakes and is slower.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import machine

from distil import Categories, Example, Prediction, TaskOutput
from distil.project import Project
from distil.testing import shared_data_dir
from distil.train import merge_labels
from distil_annotate.testing import Server


def f1(
    task_labels: list[str], gold: list[Example], predicted: list[TaskOutput | None], positive: str
) -> float:
    tp = fp = fn = 0
    for ex, out in zip(gold, predicted, strict=True):
        want = positive in (ex.labels or [])
        got = isinstance(out, Categories) and positive in out.labels
        tp += want and got
        fp += got and not want
        fn += want and not got
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def macro_f1(labels: list[str], gold: list[Example], predicted: list[TaskOutput | None]) -> float:
    return sum(f1(labels, gold, predicted, label) for label in labels) / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="sms_spam")
    parser.add_argument("--checkpoints", default="0,100,250,500")
    args = parser.parse_args()
    checkpoints = [int(x) for x in args.checkpoints.split(",")]
    data = shared_data_dir(Path(__file__))
    assert data is not None, "shared data not found"
    root = Path(tempfile.mkdtemp(prefix="distil-annotation-bench-"))
    rows = [
        Example.model_validate_json(x)
        for x in (data / args.dataset / "train.jsonl").read_text().splitlines()
    ]
    labels = sorted({label for ex in rows for label in ex.labels or []})
    positive = "spam" if "spam" in labels else None
    cfg = root / "distil.cfg"
    cfg.write_text(
        f'[task]\n@tasks = "textcat.v1"\nlabels = {labels!r}\n\n'.replace("'", '"')
        + '[teacher]\n@teachers = "local.zeroshot.v1"\n\n[student]\n@students = "sklearn.textcat.v1"\n\n'
        f'[data]\ntrain = "{data / args.dataset / "train.jsonl"}"\n'
        f'dev = "{data / args.dataset / "dev.jsonl"}"\ngold = "{data / args.dataset / "test.jsonl"}"\n'
    )
    started = time.perf_counter()
    with Project.from_config(cfg) as project:
        project.import_data()
        project.label("train")
        project.label("gold")
        task = project.config.task
        source = project.teacher_source
        gold = project.store.examples("gold")
        teacher_preds = project.store.predictions(source, [ex.id for ex in gold])
        teacher_out = [
            teacher_preds[ex.id].output if ex.id in teacher_preds else None for ex in gold
        ]
        train_gold = {ex.id: ex for ex in project.store.examples("train")}

        def score(out: list[TaskOutput | None]) -> float:
            return f1(labels, gold, out, positive) if positive else macro_f1(labels, gold, out)

        def student_score() -> tuple[float, object]:
            from distil_sklearn.plugin import make_textcat

            student = make_textcat()
            pairs = merge_labels(project.store, task, "train", source).pairs
            student.fit(task, pairs)
            preds = student.predict([ex.without_answer() for ex in gold])
            return score([p.output for p in preds]), student

        teacher_f1 = score(teacher_out)
        print(f"machine: {machine()}")
        print(
            f"labelled {len(train_gold)} train + {len(gold)} gold with {source} in {time.perf_counter() - started:.0f}s"
        )
        results: list[tuple[int, int, float]] = []
        s0, student = student_score()
        results.append((0, 0, s0))
        # The student's train predictions go into the store, so the queue puts disagreement first.
        train = list(train_gold.values())
        outs = student.predict([ex.without_answer() for ex in train])  # type: ignore[attr-defined]
        project.store.add_predictions(
            Prediction(
                example_id=ex.id, source="student:sklearn.textcat#run=bench0", output=o.output
            )
            for ex, o in zip(train, outs, strict=True)
        )

    server = Server(cfg, "--session", "oracle").start()
    corrections = cards = 0
    targets = [c for c in checkpoints if c > 0]
    try:
        with Project.from_config(cfg) as project:
            task = project.config.task
            while targets:
                _, state = server.api("GET", "/api/state?session=oracle&pass=check")
                card = state["card"]
                if card is None or state["pass"] != "check":
                    print(f"queue exhausted after {cards} cards and {corrections} corrections")
                    break
                cards += 1
                eid = card["example_id"]
                right = train_gold[eid].labels or []
                body = {"session": "oracle", "pass": "check", "example_id": eid}
                if card["suggestion"]["labels"] == right:
                    server.api("POST", "/api/answer", {**body, "answer": "accept"})
                    continue
                server.api("POST", "/api/answer", {**body, "answer": "reject"})
                status, _ = server.api(
                    "POST",
                    "/api/answer",
                    {**body, "pass": "fix", "answer": "correct", "output": {"labels": right}},
                )
                assert status == 200
                corrections += 1
                if corrections == targets[0]:
                    targets.pop(0)
                    f, _ = student_score()
                    results.append((corrections, cards, f))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    metric = "spam F1" if positive else "macro-F1"
    print(f"\n{args.dataset}: {metric} on {len(gold)} gold test texts (SIMULATED oracle annotator)")
    print(f"teacher (zero-shot MiniLM): {teacher_f1:.3f}")
    print("| corrections | cards shown | share of cards that were teacher errors | student F1 |")
    print("|---:|---:|---:|---:|")
    for n, shown, score_ in results:
        share = f"{n / shown:.0%}" if shown else "–"
        print(f"| {n} | {shown} | {share} | {score_:.3f} |")
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
