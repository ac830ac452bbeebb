"""Student vs teacher throughput, measured in one run on the same texts.

    .venv/bin/python benchmarks/throughput.py [--dataset sms_spam] [--n 1000]

The teacher is the embedded zero-shot MiniLM teacher (model load excluded: it is timed on a second
pass over an empty cache); the student is the TF-IDF + logistic regression student trained on the
teacher's labels of the train split. Prints docs/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import time

from _common import load_split, machine

import distil


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="sms_spam")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()

    host = distil.get_host()
    train = load_split(args.dataset, "train", limit=2000)
    test = [ex.without_answer() for ex in load_split(args.dataset, "test", limit=args.n)]
    labels = sorted({label for ex in train for label in ex.labels or []})
    task = distil.TextCat(labels)
    teacher = host.create("teachers", "local.zeroshot.v1")
    teacher.label(task, test[:64])  # load the model and warm up

    started = time.perf_counter()
    teacher_preds = teacher.label(task, test)
    t_teacher = time.perf_counter() - started

    train_preds = teacher.label(task, [ex.without_answer() for ex in train])
    pairs = [(ex, p.output) for ex, p in zip(train, train_preds, strict=True) if p.ok]
    student = host.create("students", "sklearn.textcat.v1")
    student.fit(task, pairs)
    student.predict(test[:64])
    started = time.perf_counter()
    student.predict(test)
    t_student = time.perf_counter() - started

    ok = sum(p.ok for p in teacher_preds)
    print(f"machine: {machine()}")
    print(f"{args.dataset}: {len(test)} test docs ({ok} answered by the teacher)")
    print(f"teacher local.zeroshot.v1 : {len(test) / t_teacher:10,.0f} docs/s")
    print(f"student sklearn.textcat.v1: {len(test) / t_student:10,.0f} docs/s")
    print(f"student / teacher speed   : {t_teacher / t_student:10,.0f}x")


if __name__ == "__main__":
    main()
