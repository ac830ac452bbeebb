"""The transformer students: scores, words/s on one thread against the raw model, size, training time.

    .venv/bin/python benchmarks/students_transformers.py [--train 400] [--repeats 3]

For each student (``transformers.textcat.v1`` on sms_spam, ``transformers.ner.v1`` on wikigold) it
fine-tunes from the all-MiniLM-L6-v2 weights on ``--train`` gold rows (2 torch threads), and once
more from a randomly initialised encoder of the same shape (same data, same steps), scores both on
gold test rows, then times ``student.predict`` on one thread against calling the fitted model
directly on the same texts: tokenizer + forward + head + argmax, in batches of 64 in input order
(the least a caller must do to get labels; no typed outputs, no span decoding). It prints a table.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import best_of, load_split, machine

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


def raw_predict(student: Any, texts: list[str], token_level: bool) -> None:
    """The model called directly: tokenizer + forward + head + argmax, batches of 64."""
    import torch

    encoder = student._encoder  # the fitted tokenizer, body and head the student wraps
    max_length = student.config.max_length
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = encoder.tokenizer(
                texts[start : start + 64],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = encoder.body(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            if token_level:
                encoder.head(hidden).argmax(-1)
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                encoder.head(pooled).argmax(-1)


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
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
            distil.SpanTask(["PER", "LOC", "ORG", "MISC"]),
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
        fitted.predict(inputs)
        raw_predict(fitted, texts, token_level)  # warm up both
        t_distil = best_of(lambda s=fitted, i=inputs: s.predict(i), args.repeats)
        t_raw = best_of(lambda s=fitted, t=texts, k=token_level: raw_predict(s, t, k), args.repeats)
        with tempfile.TemporaryDirectory() as folder:
            fitted.save(folder)
            mb = size_mb(Path(folder))
        rows.append((name, dataset, scores, words / t_raw, words / t_distil, mb))

    print(f"machine: {machine()}; torch {torch.__version__}")
    print(f"{args.train} gold train rows, {args.test} test rows; lr 2e-4, batch 8, max_length 64")
    print(
        "| student | data | F1 from MiniLM | F1 from random init | train s (2 threads) "
        "| raw model words/s (1 thread) | student words/s (1 thread) | overhead | size MB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, dataset, scores, raw_wps, wps, mb in rows:
        print(
            f"| {name} | {dataset} | {scores[True][0]:.3f} | {scores[False][0]:.3f} "
            f"| {scores[True][1]:.1f} | {raw_wps:,.0f} | {wps:,.0f} | {raw_wps / wps - 1:+.1%} "
            f"| {mb:.1f} |"
        )
    print("F1: sms_spam spam-F1, wikigold span-exact micro-F1.")


if __name__ == "__main__":
    main()
