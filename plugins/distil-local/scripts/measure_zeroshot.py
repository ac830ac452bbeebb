"""Measure the zero-shot teacher: tune on each full dev split, then label the full test split.

Run from the workspace root:
HF_HUB_OFFLINE=1 .venv/bin/python plugins/distil-local/scripts/measure_zeroshot.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import distil
import distil.plugins
import distil_local.plugin as local
from distil.testing import load_split


def f1(gold: list[set[str]], pred: list[set[str]], label: str | None = None) -> float:
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        if label is not None:
            g, p = g & {label}, p & {label}
        tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def labels_of(dataset: str) -> list[str]:
    return sorted({x for ex in load_split(dataset, "train") for x in ex.labels or []})


def main() -> None:
    host = distil.PluginHost(entry_points=False, modules=[("local", local)], strict=True)
    distil.plugins.set_host(host)
    for dataset, multilabel in [("banking77", False), ("sms_spam", False), ("goemotions", True)]:
        teacher = local.make_zeroshot_teacher()
        task = distil.TextCat(labels_of(dataset), multilabel=multilabel)
        tuned = teacher.tune(task, load_split(dataset, "dev"))
        examples = load_split(dataset, "test")
        started = time.perf_counter()
        preds = teacher.label(task, examples)
        elapsed = time.perf_counter() - started
        gold = [set(ex.labels or []) for ex in examples]
        pred = [set(p.output.labels) if p.output else set() for p in preds]
        if multilabel:
            metric = f"micro-F1 {f1(gold, pred):.3f}"
        else:
            macro = sum(f1(gold, pred, x) for x in task.labels) / len(task.labels)
            accuracy = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)
            metric = f"macro-F1 {macro:.3f} acc {accuracy:.3f}"
            if dataset == "sms_spam":
                metric += f" spam-F1 {f1(gold, pred, 'spam'):.3f}"
        rate = len(examples) / elapsed
        print(f"{dataset}: {metric}  tuned={tuned}  {rate:.0f} docs/s  {preds[0].source}")


if __name__ == "__main__":
    main()
