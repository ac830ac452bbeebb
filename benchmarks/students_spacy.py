"""spaCy students: words/s on one core against ``nlp.pipe`` on the same texts, size, training time.

Run: ``.venv/bin/python benchmarks/students_spacy.py`` (one thread: OMP/MKL/BLIS set to 1 before
spaCy is imported, ``spacy.require_cpu()``). Prints a table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import spacy  # noqa: E402
from _common import best_of, load_split, machine  # noqa: E402

import distil  # noqa: E402
from distil.testing.students import gold_pairs  # noqa: E402
from distil_spacy.plugin import make_ner, make_textcat  # noqa: E402


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def run(name: str, student, task, train, test) -> dict:
    started = time.perf_counter()
    student.fit(task, train)
    train_s = time.perf_counter() - started
    inputs = [e.without_answer() for e in test]
    texts = [e.text for e in test]
    words = sum(len(t.split()) for t in texts)
    nlp = student.nlp
    direct = best_of(lambda: list(nlp.pipe(texts, batch_size=256)), repeats=3)
    ours = best_of(lambda: student.predict(inputs), repeats=3)
    with tempfile.TemporaryDirectory() as tmp:
        student.save(Path(tmp) / "s")
        mb = size_mb(Path(tmp) / "s")
    return {
        "student": name,
        "train_s": train_s,
        "n_train": len(train),
        "words/s (distil)": words / ours,
        "words/s (nlp.pipe)": words / direct,
        "overhead": ours / direct - 1,
        "MB": mb,
    }


def main() -> None:
    spacy.require_cpu()
    rows = []
    ner = distil.SpanTask(["PER", "LOC", "ORG", "MISC"])
    rows.append(
        run(
            "spacy.ner.v1 (sourced)",
            make_ner(max_epochs=3),
            ner,
            gold_pairs(ner, load_split("wikigold", "train", limit=300)),
            load_split("wikigold", "test"),
        )
    )
    cat = distil.TextCat(["ham", "spam"])
    train = gold_pairs(cat, load_split("sms_spam", "train", limit=600))
    test = load_split("sms_spam", "test")
    rows.append(run("spacy.textcat.v1 ensemble", make_textcat(max_epochs=3), cat, train, test))
    rows.append(
        run(
            "spacy.textcat.v1 bow", make_textcat(max_epochs=3, architecture="bow"), cat, train, test
        )
    )
    print(f"machine: {machine()}, one thread")
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
