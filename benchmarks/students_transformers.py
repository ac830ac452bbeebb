"""The transformer students: scores, words/s on one thread against the raw model, size, training time.

    .venv/bin/python benchmarks/students_transformers.py [--train 400] [--repeats 5]

For each student (``transformers.textcat.v1`` on sms_spam, ``transformers.ner.v1`` on wikigold) it
fine-tunes from the all-MiniLM-L6-v2 weights on ``--train`` gold rows (2 torch threads), and once
more from a randomly initialised encoder of the same shape (same data, same steps), scores both on
gold test rows, then times ``student.predict`` on one thread against calling the fitted model
directly on the same texts: tokenizer + forward + head + argmax, in batches of 64 (the least a
caller must do to get labels; no typed outputs, no span decoding). The raw model runs twice:

* sorted by length (the baseline, like for like): texts tokenized, ordered by token count,
  each batch padded to its own longest row, labels put back in input order: what the students
  do (``distil_transformers.encoder.predict_batches``);
* in input order: each batch padded to its longest row, as a naive caller would; shown for
  reference, since it is what sorting saves.

Method: CPU time of this process (``time.process_time``, one torch thread), the three sides
interleaved ``--repeats`` rounds, medians; the overhead is the median of per-round ratios
against the sorted baseline. It prints a table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import interleaved, load_split, machine, median_ratio, medians

import distil
from distil.testing.students import gold_pairs

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def spam_f1(gold: list[distil.Example], predicted: list[distil.StudentPrediction]) -> float:
    tp = fp = fn = 0
    for example, prediction in zip(gold, predicted, strict=True):
        want = "spam" in (example.labels or [])
        got = "spam" in prediction.output.labels  # type: ignore[union-attr]
        tp, fp, fn = tp + (want and got), fp + (got and not want), fn + (want and not got)
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def span_f1(gold: list[distil.Example], predicted: list[distil.StudentPrediction]) -> float:
    tp = n = 0
    for example, prediction in zip(gold, predicted, strict=True):
        want = {(s.start, s.end, s.label) for s in example.spans or []}
        got = {(s.start, s.end, s.label) for s in prediction.output.spans}  # type: ignore[union-attr]
        tp, n = tp + len(want & got), n + len(want) + len(got)
    return 2 * tp / n if n else 1.0


def raw_predict(student: Any, texts: list[str], token_level: bool, by_length: bool) -> list[Any]:
    """The model called directly: tokenizer + forward + head + argmax, batches of 64.

    ``by_length``: tokenize first, order the rows by token count, pad each batch to its own
    longest row and put the labels back in input order (what the students do); otherwise batch
    the texts in input order.
    """
    import torch

    encoder = student._encoder  # the fitted tokenizer, body and head the student wraps
    tokenizer, max_length = encoder.tokenizer, student.config.max_length
    out: list[Any] = [None] * len(texts)
    if by_length:
        ids = tokenizer(
            texts,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))

        def batch_of(indices: list[int]) -> Any:
            return tokenizer.pad({"input_ids": [ids[i] for i in indices]}, return_tensors="pt")
    else:
        order = list(range(len(texts)))

        def batch_of(indices: list[int]) -> Any:
            return tokenizer(
                [texts[i] for i in indices],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )

    with torch.inference_mode():
        for start in range(0, len(order), 64):
            indices = order[start : start + 64]
            batch = batch_of(indices)
            hidden = encoder.body(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            if token_level:
                chosen = encoder.head(hidden).argmax(-1)
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                chosen = encoder.head(pooled).argmax(-1)
            for i, row in zip(indices, chosen.tolist(), strict=True):
                out[i] = row
    return out


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()

    import torch

    from distil_transformers.plugin import make_ner, make_textcat

    settings = {"lr": 2e-4, "batch_size": 8, "max_length": 64, "n_threads": 2}
    cases = [
        (
            "transformers.textcat.v1",
            "sms_spam",
            distil.TextCat(["ham", "spam"]),
            make_textcat,
            1,
            spam_f1,
            False,
        ),
        (
            "transformers.ner.v1",
            "wikigold",
            distil.NerTask(["PER", "LOC", "ORG", "MISC"]),
            make_ner,
            2,
            span_f1,
            True,
        ),
    ]
    rows = []
    for name, dataset, task, make, epochs, score, token_level in cases:
        train = load_split(dataset, "train", limit=args.train)
        test = load_split(dataset, "test", limit=args.test)
        inputs = [e.without_answer() for e in test]
        texts = [e.text for e in test]
        words = sum(len(t.split()) for t in texts)
        scores = {}
        for pretrained in (True, False):
            student = make(epochs=epochs, pretrained=pretrained, **settings)
            started = time.perf_counter()
            student.fit(task, gold_pairs(task, train))
            fit_s = time.perf_counter() - started
            scores[pretrained] = (score(test, student.predict(inputs)), fit_s)
            if pretrained:
                fitted = student
        fitted.config = type(fitted.config)(**{**fitted.config.to_dict(), "n_threads": 1})
        torch.set_num_threads(1)
        sides: dict[str, Callable[[], Any]] = {
            "sorted": lambda s=fitted, t=texts, k=token_level: raw_predict(s, t, k, True),
            "unsorted": lambda s=fitted, t=texts, k=token_level: raw_predict(s, t, k, False),
            "distil": lambda s=fitted, i=inputs: s.predict(i),
        }
        times = interleaved(sides, args.repeats)
        t = medians(times)
        overhead = median_ratio(times, "distil", "sorted") - 1
        with tempfile.TemporaryDirectory() as folder:
            fitted.save(folder)
            mb = size_mb(Path(folder))
        rows.append((name, dataset, scores, words, t, overhead, mb))

    print(f"machine: {machine()}; torch {torch.__version__}")
    print(f"{args.train} gold train rows, {args.test} test rows; lr 2e-4, batch 8, max_length 64")
    print(
        f"words/s: one torch thread, CPU time (process_time), {args.repeats} interleaved rounds, "
        "medians; overhead: median of per-round ratios against the sorted raw model"
    )
    print(
        "| student | data | F1 from MiniLM | F1 from random init | train s (2 threads) "
        "| raw model, sorted by length (baseline) | raw model, input order | student "
        "| overhead vs sorted | size MB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, dataset, scores, words, t, overhead, mb in rows:
        print(
            f"| {name} | {dataset} | {scores[True][0]:.3f} | {scores[False][0]:.3f} "
            f"| {scores[True][1]:.1f} | {words / t['sorted']:,.0f} | {words / t['unsorted']:,.0f} "
            f"| {words / t['distil']:,.0f} | {overhead:+.1%} | {mb:.1f} |"
        )
    print("F1: sms_spam spam-F1, wikigold span-exact micro-F1. words/s: whitespace words.")


if __name__ == "__main__":
    main()
