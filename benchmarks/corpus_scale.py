"""A corpus of the user's shards at scale: `predict_corpus` and `label_corpus`, local and Ray.

    .venv/bin/python benchmarks/corpus_scale.py [--n 1000000] [--shards 20]
        [--stages predict label] [--executors local ray] [--label-n 200000]

The corpus is the sms_spam test split repeated with new ids to ``--n`` rows, in ``--shards``
Parquet shards (written once, not timed). Each executor reads it where it lies and writes one
JSONL result shard per input shard; nothing goes through the store (no ``--into``).

- **predict**: a TF-IDF + logistic regression student (``sklearn.textcat.v1``) trained on the
  sms_spam train split. Same-run baseline, the physical limit of one process: the raw loop that
  reads each shard with pyarrow, calls ``predict_proba`` + argmax on batches of the same size,
  and writes one JSON line per row (no keys, no resume, no validation).
- **label**: an instant in-process provider (answers a valid label at once, no network), so
  what is measured is distil's teacher loop and the executor (prompt, key, parse, result
  shards, Ray scheduling), not an LLM. ``--label-n`` rows of the same corpus.

Wall time (the executors' point is parallelism), and the driver's peak RSS (``ru_maxrss`` of this
process: the Ray workers are other processes, reported apart as the sum of their peaks when
Ray can tell). Ray's start is timed apart. One run per executor: at these sizes a run is minutes,
and the baseline runs in the same session, just before.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import load_split, machine

import distil
from distil.store.sqlite import Store


class InstantLLM(distil.Provider):
    """Answers every prompt at once with a valid label (a keyword rule), no network."""

    name = "bench.instant"

    def __init__(self) -> None:
        super().__init__("instant-1", {})

    async def complete(self, prompt: distil.Prompt) -> distil.Completion:
        text = prompt.messages[-1].content.lower()
        label = "spam" if ("free" in text or "call" in text or "txt" in text) else "ham"
        return distil.Completion(
            text=json.dumps({"labels": [label]}), usage=distil.Usage(input_tokens=1)
        )


def write_corpus(folder: Path, n: int, shards: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = load_split("sms_spam", "test")
    per = -(-n // shards)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        start, stop = s * per, min(n, (s + 1) * per)
        ids = [f"{base[i % len(base)].id}#{i}" for i in range(start, stop)]
        texts = [base[i % len(base)].text for i in range(start, stop)]
        pq.write_table(pa.table({"id": ids, "text": texts}), folder / f"part-{s:04d}.parquet")


def raw_predict(model: Any, corpus: Path, out: Path, batch: int) -> int:
    """The baseline: pyarrow batches → predict_proba + argmax → one JSON line per row."""
    import numpy as np
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    student, labels = model
    rows = 0
    for shard in sorted(corpus.glob("*.parquet")):
        with (out / (shard.stem + ".jsonl")).open("w") as fh:
            for rb in pq.ParquetFile(shard).iter_batches(batch_size=batch):
                ids, texts = rb.column("id").to_pylist(), rb.column("text").to_pylist()
                proba = student._probabilities(texts)  # the fitted pipeline's predict_proba
                best = np.argmax(proba, axis=1)
                for i, b, p in zip(ids, best, proba.max(axis=1), strict=True):
                    fh.write(json.dumps({"id": i, "label": labels[b], "p": float(p)}) + "\n")
                rows += len(ids)
    return rows


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spam_student(task: distil.TextCat) -> Any:
    """The benchmarks' student: ``sklearn.textcat.v1`` fitted on the sms_spam train split."""
    from distil_sklearn.student import SklearnTextcat

    student = SklearnTextcat()
    train = load_split("sms_spam", "train")
    student.fit(task, [(ex, distil.Categories(labels=ex.labels or [])) for ex in train])
    return student


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--label-n", type=int, default=200_000)
    parser.add_argument("--stages", nargs="+", default=["predict", "label"])
    parser.add_argument("--executors", nargs="+", default=["local", "ray"])
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    print(machine())
    work = Path(tempfile.mkdtemp(prefix="distil-corpus-"))
    try:
        corpus = work / "corpus"
        started = time.perf_counter()
        write_corpus(corpus, args.n, args.shards)
        size = sum(p.stat().st_size for p in corpus.glob("*")) / 1e6
        print(
            f"corpus: {args.n:,} rows in {args.shards} Parquet shards, {size:.0f} MB "
            f"(written in {time.perf_counter() - started:.1f} s, not timed)"
        )
        task = distil.TextCat(["ham", "spam"])
        ray_executor = None
        if "ray" in args.executors:
            from distil_ray import RayExecutor

            ray_executor = RayExecutor(
                num_cpus=2,
                predict_actors=2,
                predict_cpus=1.0,
                label_tasks=2,
                label_batch_size=1000,
                predict_batch_size=args.batch,
            )
            started = time.perf_counter()
            ray = ray_executor.ray()
            print(f"ray.init: {time.perf_counter() - started:.1f} s (not counted)")
            ray.data.DataContext.get_current().enable_progress_bars = False
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            logging.getLogger("ray").setLevel(logging.WARNING)
        executors: dict[str, Any] = {"local": distil.LocalExecutor(batch_size=args.batch)}
        if ray_executor is not None:
            executors["ray"] = ray_executor
        store = Store(work / "distil.db")
        if "predict" in args.stages:
            student = spam_student(task)
            student.save(work / "model")
            started = time.perf_counter()
            rows = raw_predict((student, task.labels), corpus, work / "raw", args.batch)
            raw_s = time.perf_counter() - started
            print(f"\npredict {rows:,} rows")
            print("| run | wall s | docs/s | vs raw loop | driver peak RSS |")
            print("|---|---:|---:|---:|---:|")
            print(
                f"| raw pyarrow + predict_proba loop | {raw_s:.1f} | {rows / raw_s:,.0f} | 1.00x | {peak_mb():.0f} MB |"
            )
            for name in args.executors:
                started = time.perf_counter()
                result = executors[name].predict_corpus(
                    store,
                    task,
                    student,
                    corpus,
                    work / f"pred-{name}",
                    source="student:s",
                    model_dir=work / "model",
                )
                s = time.perf_counter() - started
                assert result.answered == args.n, result
                print(
                    f"| {name} `predict_corpus` | {s:.1f} | {args.n / s:,.0f} | "
                    f"{raw_s / s:.2f}x | {peak_mb():.0f} MB |"
                )
        if "label" in args.stages:
            sub = work / "label-corpus"
            write_corpus(sub, args.label_n, max(2, args.shards * args.label_n // args.n))
            print(f"\nlabel {args.label_n:,} rows, instant provider")
            print("| run | wall s | docs/s | driver peak RSS |")
            print("|---|---:|---:|---:|")
            for name in args.executors:
                teacher = distil.PromptTeacher(InstantLLM(), concurrency=8, max_reasks=0)
                started = time.perf_counter()
                result = executors[name].label_corpus(
                    store, task, teacher, sub, work / f"labels-{name}"
                )
                s = time.perf_counter() - started
                assert result.answered == args.label_n, result
                print(
                    f"| {name} `label_corpus` | {s:.1f} | {args.label_n / s:,.0f} | "
                    f"{peak_mb():.0f} MB |"
                )
        print(
            f"\nstore after every run: {os.path.getsize(work / 'distil.db') / 1e6:.1f} MB, "
            f"{store.count_examples('corpus')} examples (the corpus never entered it)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
