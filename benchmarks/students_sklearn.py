"""Overhead of the scikit-learn student's ``predict`` over calling scikit-learn directly.

    .venv/bin/python benchmarks/students_sklearn.py [--dataset banking77] [--sizes 1000 10000]
        [--repeats 15]

Both sides run the same fitted pipeline on the same texts (the test split, cycled to each size):

* baseline: ``pipeline.predict_proba(texts).argmax(axis=1)`` (the least a caller must do to get
  a label per document);
* distil: ``student.predict(examples)``, which returns a ``distil.CategoriesBatch`` (labels,
  a score for every label and a confidence per document, built when read);
* distil, read: the same, then every document's prediction read once (``list(batch)``): what a
  consumer that wants every score dict pays;
* previous predict: what ``predict`` did before the batch (``distil.categories_predictions``:
  one ``Categories`` and one dict of scores per document, built up front), for comparison.

Method: single-threaded CPU time (``time.thread_time``), so other load on the machine does not
skew it; the sides are interleaved, the order rotating round by round, so drift hits all alike; a full garbage
collection before each call; the figure is the median of the repeats, with the median of the
per-round ratios as the overhead. Goal (issue 17): distil <= +10% at 1,000 and 10,000 docs/call.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import load_split, machine

import distil


def cpu(fn: Callable[[], Any]) -> float:
    gc.collect()
    started = time.thread_time()
    fn()
    return time.thread_time() - started


def interleaved(sides: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """CPU seconds of each side per round; the order rotates round by round (A B C, B C A,
    C A B, then reversed), so each side runs as often first, last and after each other side."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for side in names:  # warm up every side once
        sides[side]()
    for round_ in range(repeats):
        shift = round_ % len(names)
        order = names[shift:] + names[:shift]
        if (round_ // len(names)) % 2:
            order = order[::-1]
        for side in order:
            times[side].append(cpu(sides[side]))
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="banking77")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from distil_sklearn.student import SklearnTextcat

    train = load_split(args.dataset, "train")
    test = load_split(args.dataset, "test")
    labels = sorted({label for ex in train for label in ex.labels or []})
    task = distil.TextCat(labels)
    student = SklearnTextcat()
    student.fit(task, [(ex, distil.Categories(labels=ex.labels or [])) for ex in train])
    pipeline = student._pipeline  # the fitted scikit-learn pipeline the student wraps

    print(f"machine: {machine()}")
    print(
        f"{args.dataset}: {len(labels)} labels, test texts cycled to each size; CPU time "
        f"(thread_time), {args.repeats} interleaved rounds, medians"
    )
    for n in args.sizes:
        inputs = [test[i % len(test)].without_answer() for i in range(n)]
        texts = [ex.text for ex in inputs]

        def raw(texts: list[str] = texts) -> None:
            pipeline.predict_proba(texts).argmax(axis=1)

        def lazy(inputs: list[distil.Example] = inputs) -> None:
            student.predict(inputs)

        def read(inputs: list[distil.Example] = inputs) -> None:
            list(student.predict(inputs))

        def eager(inputs: list[distil.Example] = inputs) -> None:
            proba = student._probabilities([e.text for e in inputs])
            distil.categories_predictions(labels, proba, multilabel=False)

        sides = {"raw": raw, "distil": lazy, "read": read, "eager": eager}
        with threadpool_limits(limits=1):
            times = interleaved(sides, args.repeats)
        base = statistics.median(times["raw"])
        print(f"\n{n:,} docs per call")
        print(
            f"  scikit-learn predict_proba+argmax: {base * 1000:8.1f} ms  ({n / base:,.0f} docs/s)"
        )
        for side, what in (
            ("distil", "student.predict"),
            ("read", "student.predict, all read"),
            ("eager", "previous predict (lists)"),
        ):
            median = statistics.median(times[side])
            ratios = [t / r for t, r in zip(times[side], times["raw"], strict=True)]
            overhead = statistics.median(ratios) - 1
            print(
                f"  distil {what:<26}: {median * 1000:8.1f} ms  ({n / median:,.0f} docs/s)  "
                f"overhead {overhead:+.1%}"
            )
    print("\ngoal: student.predict <= +10% over scikit-learn at 1,000 and 10,000 docs per call")


if __name__ == "__main__":
    main()
