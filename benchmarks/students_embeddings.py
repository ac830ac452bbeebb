"""Students on pretrained representations against the TF-IDF student, in one Markdown table.

    .venv/bin/python benchmarks/students_embeddings.py [--repeats 3] [--datasets banking77,goemotions]

For banking77 (all 5,000 gold train rows, the 1,000 test rows; macro-F1) and goemotions
(multi-label: 5,000 gold train rows, thresholds tuned on the 500 dev rows, 1,000 test rows;
micro-F1) it fits ``sklearn.textcat.v1``, ``embeddings.textcat.v1`` and ``static.textcat.v1`` (the
last two with ``tfidf`` off and on) and measures, for each:

- the test score;
- training CPU seconds (``time.process_time``: every thread of the process): the first fit, with
  the embedding cache emptied so that encoding the texts is counted, and a refit on the same data
  (what cross-validation and retraining after corrections pay: the MiniLM texts come from the cache);
- prediction docs/s on one core: BLAS limited to one thread (threadpoolctl), one torch thread,
  CPU time, best of ``--repeats`` over the same test texts, the encoder loaded before timing and
  the embedding cache emptied before each run (so MiniLM really encodes);
- size on disk of the saved student, and what it needs at run time besides (the MiniLM weights,
  which the embedding student does not copy).

Ratios are against ``sklearn.textcat.v1`` measured in the same run. The static model is distilled
(or loaded from the disk cache) before anything is timed; its one-off distillation is not counted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import load_split, machine

import distil
from distil.testing.students import gold_pairs

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class Row:
    dataset: str
    student: str
    metric: str
    score: float = 0.0
    fit_cpu_s: float = 0.0
    refit_cpu_s: float = 0.0
    docs_per_s: float = 0.0
    saved_mb: float = 0.0
    runtime_mb: float = 0.0
    notes: list[str] = field(default_factory=list)


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def scores(dataset: str, gold: list[distil.Example], predicted: list[Any]) -> float:
    if dataset == "goemotions":  # micro-F1 over label sets
        tp = n = 0
        for example, prediction in zip(gold, predicted, strict=True):
            want, got = set(example.labels or []), set(prediction.output.labels)
            tp, n = tp + len(want & got), n + len(want) + len(got)
        return 2 * tp / n if n else 0.0
    labels = sorted({x for e in gold for x in e.labels or []})
    total = 0.0
    for label in labels:  # macro-F1
        tp = fp = fn = 0
        for example, prediction in zip(gold, predicted, strict=True):
            want, got = label in (example.labels or []), label in prediction.output.labels
            tp, fp, fn = tp + (want and got), fp + (got and not want), fn + (want and not got)
        total += 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return total / len(labels)


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = fn()
    return time.process_time() - started, result


def students() -> list[tuple[str, Callable[[], distil.Student]]]:
    from distil_embeddings.plugin import make_embeddings_textcat, make_static_textcat
    from distil_sklearn.plugin import make_textcat

    return [
        ("sklearn.textcat.v1", make_textcat),
        (
            "embeddings.textcat.v1 tfidf=off",
            lambda: make_embeddings_textcat(tfidf=False, n_threads=1),
        ),
        (
            "embeddings.textcat.v1 tfidf=on",
            lambda: make_embeddings_textcat(tfidf=True, n_threads=1),
        ),
        ("static.textcat.v1 tfidf=off", lambda: make_static_textcat(tfidf=False)),
        ("static.textcat.v1 tfidf=on", lambda: make_static_textcat(tfidf=True)),
    ]


def run(dataset: str, repeats: int) -> list[Row]:
    import torch
    from threadpoolctl import threadpool_limits

    from distil_embeddings import embedding_cache, encoders

    multilabel = dataset == "goemotions"
    train, dev, test = (load_split(dataset, s) for s in ("train", "dev", "test"))
    labels = sorted({x for split in (train, dev, test) for e in split for x in e.labels or []})
    task = distil.TextCat(labels, multilabel=multilabel)
    pairs = gold_pairs(task, train)
    dev_pairs = gold_pairs(task, dev) if multilabel else None
    inputs = [e.without_answer() for e in test]
    minilm_mb = folder_mb(encoders.minilm_path())
    print(
        f"[{dataset}] {len(train)} train, {len(dev) if multilabel else 0} dev, {len(test)} test, {len(labels)} labels",
        flush=True,
    )

    rows = []
    for name, factory in students():
        row = Row(dataset, name, "micro-F1" if multilabel else "macro-F1")
        embedding_cache.clear()
        student = factory()
        row.fit_cpu_s, _ = cpu(lambda s=student: s.fit(task, pairs, dev_pairs))
        row.refit_cpu_s, _ = cpu(lambda f=factory: f().fit(task, pairs, dev_pairs))
        row.score = scores(dataset, test, student.predict(inputs))
        best = float("inf")
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with threadpool_limits(limits=1):
                for _ in range(repeats):
                    embedding_cache.clear()
                    seconds, _ = cpu(lambda s=student: s.predict(inputs))
                    best = min(best, seconds)
        finally:
            torch.set_num_threads(previous)
        row.docs_per_s = len(inputs) / best
        with tempfile.TemporaryDirectory() as folder:
            student.save(folder)
            row.saved_mb = folder_mb(Path(folder))
        row.runtime_mb = row.saved_mb + (minilm_mb if name.startswith("embeddings") else 0.0)
        print(
            f"[{dataset}] {name}: {row.metric} {row.score:.3f}, fit {row.fit_cpu_s:.1f} s CPU "
            f"(refit {row.refit_cpu_s:.1f}), {row.docs_per_s:,.0f} docs/s, {row.saved_mb:.1f} MB",
            flush=True,
        )
        rows.append(row)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| data | student | score | train CPU s (refit) | predict docs/s, 1 core | MB saved (to run) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for dataset in dict.fromkeys(r.dataset for r in rows):
        group = [r for r in rows if r.dataset == dataset]
        base = group[0]
        for r in group:
            ratio = r is not base
            score = f"{r.score:.3f}" + (f" (×{r.score / base.score:.2f})" if ratio else "")
            fit = f"{r.fit_cpu_s:.1f} ({r.refit_cpu_s:.1f})" + (
                f" ×{r.fit_cpu_s / base.fit_cpu_s:.1f}" if ratio else ""
            )
            speed = f"{r.docs_per_s:,.0f}" + (
                f" (×{r.docs_per_s / base.docs_per_s:.2f})" if ratio else ""
            )
            size = f"{r.saved_mb:.1f}" + (
                f" ({r.runtime_mb:.1f})" if r.runtime_mb != r.saved_mb else ""
            )
            lines.append(
                f"| {dataset} {r.metric} | `{r.student}` | {score} | {fit} | {speed} | {size} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", default="banking77,goemotions")
    args = parser.parse_args()

    from distil_embeddings import encoders

    seconds, _ = cpu(encoders.minilm)
    print(f"MiniLM loaded in {seconds:.1f} s CPU", flush=True)
    seconds, (_, folder) = cpu(lambda: encoders.static_model(256))
    print(f"static model ready in {seconds:.1f} s CPU ({folder})", flush=True)
    rows = [row for dataset in args.datasets.split(",") for row in run(dataset, args.repeats)]
    print(f"\nmachine: {machine()}\n")
    print(table(rows))


if __name__ == "__main__":
    main()
