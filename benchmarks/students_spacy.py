"""spaCy students: words/s on one core against ``nlp.pipe`` on the same texts, size, training time.

Run: ``.venv/bin/python benchmarks/students_spacy.py [--repeats 5]`` (one thread: OMP/MKL/BLIS set
to 1 before spaCy is imported, ``spacy.require_cpu()``). Prints a table.

Baseline: ``list(nlp.pipe(texts, batch_size=256))`` on the student's own fitted pipeline, in input
order (the students do not sort by length either: the textcat students call that same
``nlp.pipe`` and read the scores; the NER student runs ``make_doc`` and its own greedy decode of
the ``ner`` pipe, which keeps each token's action probability). Method: CPU time of this process
(``time.process_time``), the two sides interleaved ``--repeats`` rounds, medians; the overhead is
the median of the per-round ratios.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import spacy  # noqa: E402
from _common import interleaved, load_split, machine, median_ratio, medians  # noqa: E402

import distil  # noqa: E402
from distil.testing.students import gold_pairs  # noqa: E402
from distil_spacy.plugin import make_ner, make_textcat  # noqa: E402


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def run(name: str, student, task, train, test, repeats: int) -> dict:
    started = time.perf_counter()
    student.fit(task, train)
    train_s = time.perf_counter() - started
    inputs = [e.without_answer() for e in test]
    texts = [e.text for e in test]
    words = sum(len(t.split()) for t in texts)
    nlp = student.nlp
    times = interleaved(
        {
            "nlp.pipe": lambda: list(nlp.pipe(texts, batch_size=256)),
            "distil": lambda: student.predict(inputs),
        },
        repeats,
    )
    t = medians(times)
    with tempfile.TemporaryDirectory() as tmp:
        student.save(Path(tmp) / "s")
        mb = size_mb(Path(tmp) / "s")
    return {
        "student": name,
        "train_s": train_s,
        "n_train": len(train),
        "pipes": "+".join(nlp.pipe_names),
        "words/s (distil)": words / t["distil"],
        "words/s (nlp.pipe)": words / t["nlp.pipe"],
        "overhead": median_ratio(times, "distil", "nlp.pipe") - 1,
        "MB": mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    spacy.require_cpu()
    rows = []
    ner = distil.NerTask(["PER", "LOC", "ORG", "MISC"])
    rows.append(
        run(
            "spacy.ner.v1 (sourced)",
            make_ner(max_epochs=3),
            ner,
            gold_pairs(ner, load_split("wikigold", "train", limit=300)),
            load_split("wikigold", "test"),
            args.repeats,
        )
    )
    cat = distil.TextCat(["ham", "spam"])
    train = gold_pairs(cat, load_split("sms_spam", "train", limit=600))
    test = load_split("sms_spam", "test")
    ensemble = make_textcat(max_epochs=3, architecture="ensemble")
    rows.append(run("spacy.textcat.v1 ensemble", ensemble, cat, train, test, args.repeats))
    bow = make_textcat(max_epochs=3, architecture="bow")
    rows.append(run("spacy.textcat.v1 bow", bow, cat, train, test, args.repeats))
    print(f"machine: {machine()}, one thread; CPU time, {args.repeats} interleaved rounds, medians")
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(
            " | ".join(
                f"{v:.1%}" if k == "overhead" else f"{v:,.1f}" if isinstance(v, float) else str(v)
                for k, v in row.items()
            )
        )


if __name__ == "__main__":
    main()
