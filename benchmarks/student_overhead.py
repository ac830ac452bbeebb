"""Overhead of distil's student ``predict`` over calling scikit-learn directly.

    .venv/bin/python benchmarks/student_overhead.py [--dataset banking77] [--repeats 7]

Both sides predict the same test texts with the same fitted pipeline: the baseline is
``pipeline.predict_proba(texts)`` plus an argmax (the least a caller must do to get a label); distil
adds typed ``Categories`` outputs with a score per label and a confidence. Goal: overhead <= 5%.
"""

from __future__ import annotations

import argparse

from _common import best_of, load_split, machine

import distil


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="banking77")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from distil_sklearn.student import SklearnTextcat

    train = load_split(args.dataset, "train")
    test = load_split(args.dataset, "test")
    labels = sorted({label for ex in train for label in ex.labels or []})
    task = distil.TextCat(labels)
    student = SklearnTextcat()
    student.fit(task, [(ex, distil.Categories(labels=ex.labels or [])) for ex in train])
    pipeline = student._pipeline  # the fitted scikit-learn pipeline the student wraps
    texts = [ex.text for ex in test]
    inputs = [ex.without_answer() for ex in test]

    def raw() -> None:
        proba = pipeline.predict_proba(texts)
        proba.argmax(axis=1)

    def wrapped() -> None:
        student.predict(inputs)

    raw()
    wrapped()  # warm up both
    t_raw = best_of(raw, args.repeats)
    t_distil = best_of(wrapped, args.repeats)
    overhead = t_distil / t_raw - 1
    print(f"machine: {machine()}")
    print(f"{args.dataset}: {len(texts)} test docs, {len(labels)} labels, best of {args.repeats}")
    print(
        f"scikit-learn predict_proba+argmax: {t_raw * 1000:8.2f} ms  ({len(texts) / t_raw:,.0f} docs/s)"
    )
    print(
        f"distil student.predict           : {t_distil * 1000:8.2f} ms  ({len(texts) / t_distil:,.0f} docs/s)"
    )
    print(f"overhead: {overhead:+.1%} (goal <= +5%)")


if __name__ == "__main__":
    main()
