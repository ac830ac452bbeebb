"""Text classification end to end through `distil simulate`: every teacher, every student, full splits.

    .venv/bin/python benchmarks/distill.py --datasets banking77 \\
        --teachers sim85-uniform sim85-systematic sim90-uniform sim90-systematic zeroshot \\
        --students embeddings.textcat.v1 sklearn.textcat.v1 --budget 250 --out docs/distill.md

For each data set, teacher and student type:

1. A project is written (a ``distil.cfg`` under ``--work``) over the data set's *full* train split,
   its dev split and its test split (or ``--test FILE``) as gold. The teacher labels every train and
   gold row (stored, resumable, shared by the student types of that teacher).
   Teachers: ``zeroshot`` is the embedded ``local.zeroshot.v1`` (MiniLM, tuned on dev);
   ``simNN-uniform`` / ``simNN-systematic`` is ``distil.testing.SimulatedTeacher`` behind the
   loopback OpenAI server and the real ``openai.chat.v1`` provider: an LLM teacher that is right on
   exactly NN% of the rows it knows (train + gold), with errors spread over all labels or confined to
   each label's three most similarly named labels (as real LLMs err). It sends no logprobs, so the
   queue cannot use teacher confidence: trust scores and disagreement are what it has.
2. ``distil.simulate`` (the code behind ``distil simulate``) runs the oracle annotator on copies of
   the store, in the queue's order and in a seeded random order: the student is trained on the
   teacher's labels (cards 0) and retrained every ``--step`` cards up to ``--budget``; the oracle's
   answers come from the train split's own gold labels. Each point is scored on gold with a 95%
   bootstrap CI and a paired bootstrap against the teacher.
3. The ceiling: the same student type trained on all gold train labels.
4. Speed: each student's prediction on the gold texts on one core (CPU time, best of 3); the
   zero-shot teacher's labelling of the same texts (CPU time of this process, model loaded).

The Markdown report goes to ``--out`` (default ``benchmarks/out/distill.md``: the defaults never
overwrite docs/) and is printed. ``--summary PAGE`` also writes the summary table between the
``distill.py summary`` markers of PAGE (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import machine

import distil
import distil.testing
from distil.project import Project
from distil.testing.data import shared_data_dir

DATASETS = ("sms_spam", "banking77", "goemotions", "snips")
MULTILABEL = {"goemotions"}
TEACHERS = ("zeroshot", "sim85-uniform", "sim85-systematic", "sim90-uniform", "sim90-systematic")
STUDENTS = ("embeddings.textcat.v1", "sklearn.textcat.v1")
SEED = 0
MARK_BEGIN = "<!-- distill.py summary: begin -->"
MARK_END = "<!-- distill.py summary: end -->"


@dataclass
class Cell:
    """One (data set, teacher, student) run."""

    dataset: str
    teacher: str
    student: str
    metric: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    ceiling: tuple[float, list[float]] | None = None
    student_docs_s: float | None = None
    teacher_docs_s: float | None = None
    teacher_wrong_train: int | None = None
    seconds: float = 0.0


# -- projects ------------------------------------------------------------------------------------
def labels_of(path: Path) -> list[str]:
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            seen.update(json.loads(line).get("labels") or [])
    return sorted(seen)


def teacher_block(teacher: str, sim: Any) -> str:
    if teacher == "zeroshot":
        return '[teacher]\n@teachers = "local.zeroshot.v1"\n'
    return sim.config_snippet()


def extra_sections(settings: Sequence[str]) -> list[str]:
    """``--set train.teacher_weight=0.01`` lines as TOML sections (values are TOML literals)."""
    sections: dict[str, list[str]] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section and name and value):
            raise SystemExit(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. train.trust=false")
        sections.setdefault(section, []).append(f"{name} = {value}")
    lines: list[str] = []
    for section, body in sections.items():
        lines += [f"[{section}]", *body, ""]
    return lines


def queue_words(settings: Sequence[str]) -> str:
    """What the queue order of the run is, in words (``--set annotate.queue=...`` or the default)."""
    chosen = [
        v.strip().strip('"')
        for k, _, v in (x.partition("=") for x in settings)
        if k == "annotate.queue"
    ]
    strategy = chosen[-1] if chosen else "label_issues"
    if strategy == "uncertainty":
        return (
            "`uncertainty`: the card the student is least sure of, then a random one, alternately"
        )
    if strategy == "label_issues":
        return (
            "`label_issues`: trust scores from out-of-fold student probabilities ranked with "
            "cleanlab, then disagreement"
        )
    return f"`{strategy}`"


def write_config(
    folder: Path,
    dataset: str,
    labels: list[str],
    teacher: str,
    student: str,
    files: dict,
    sim: Any,
    settings: Sequence[str] = (),
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    store = folder.parent / "distil.db"  # shared by the student types of one teacher
    text = "\n".join(
        [
            "[project]",
            f'name = "{dataset}-{teacher}"',
            f'store = "{store}"',
            f'output = "{folder}"',
            "",
            "[task]",
            '@tasks = "textcat.v1"',
            f"labels = {json.dumps(labels)}",
            f"multilabel = {'true' if dataset in MULTILABEL else 'false'}",
            "",
            teacher_block(teacher, sim),
            "[student]",
            f'@students = "{student}"',
            "",
            "[data]",
            f'train = "{files["train"]}"',
            f'dev = "{files["dev"]}"',
            f'gold = "{files["gold"]}"',
            "",
            *extra_sections(settings),
        ]
    )
    path = folder / "distil.cfg"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def teacher_server(teacher: str, files: dict, work: Path):
    """The simulated LLM for ``simNN-kind`` (None for the zero-shot teacher)."""
    if teacher == "zeroshot":
        yield None
        return
    accuracy = int(teacher[3:5]) / 100
    errors = teacher.split("-", 1)[1]
    known = work / "teacher-knows.jsonl"  # the rows the simulated LLM answers: train + gold
    with known.open("w", encoding="utf-8") as out:
        for split in ("train", "gold"):
            out.write(Path(files[split]).read_text(encoding="utf-8").rstrip("\n") + "\n")
    os.environ.setdefault("OPENAI_API_KEY", "sk-simulated-benchmark")
    with distil.testing.simulated_llm(known, accuracy=accuracy, errors=errors, seed=SEED) as sim:
        yield sim


# -- figures -------------------------------------------------------------------------------------
def forget_embeddings() -> None:
    """Empty the embedding students' process-wide cache: the gold texts were encoded while scoring,
    and a timing must pay for the encoder as a new document would."""
    with contextlib.suppress(ImportError):
        from distil_embeddings import embedding_cache

        embedding_cache.clear()


def predict_docs_per_s(student: distil.Student, examples: list[distil.Example]) -> float:
    """Prediction on one core, CPU time, best of 3 after a warm-up, nothing cached."""
    from threadpoolctl import threadpool_limits

    bare = [ex.without_answer() for ex in examples]
    with threadpool_limits(limits=1):
        student.predict(bare[:64])
        best = float("inf")
        for _ in range(3):
            forget_embeddings()
            started = time.thread_time()
            student.predict(bare)
            best = min(best, time.thread_time() - started)
    return len(bare) / max(best, 1e-9)


def teacher_docs_per_s(project: Project, examples: list[distil.Example]) -> float:
    """The zero-shot teacher labelling the gold texts, CPU time of this process."""
    teacher = project.config.teacher
    task = project.config.task
    bare = [ex.without_answer() for ex in examples[:300]]
    teacher.label(task, bare[:16])  # load the model first
    started = time.process_time()
    teacher.label(task, bare)
    return len(bare) / max(time.process_time() - started, 1e-9)


def ceiling(project: Project, student_name: str) -> tuple[float, list[float]]:
    """The student type trained on every gold train label, scored on gold."""
    task = project.config.task
    host = project.host
    student = host.create("students", student_name)
    train = [(ex.without_answer(), task.reference(ex)) for ex in project.store.examples("train")]
    dev = [(ex.without_answer(), task.reference(ex)) for ex in project.store.examples("dev")]
    student.fit(task, train, dev)
    gold = project.store.examples("gold")
    predicted = [p.output for p in student.predict([ex.without_answer() for ex in gold])]
    scores = task.score([task.reference(ex) for ex in gold], predicted)
    metric = "macro_f1"
    return float(scores[metric]), [float(x) for x in scores["ci"][metric]]


def run_cell(cell: Cell, config: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    with Project.from_config(config) as project:
        result = distil.simulate(
            project,
            config.parent.parent / "oracle.jsonl",
            budget=args.budget,
            step=args.step,
            order="both",
            seed=SEED,
            output_dir=config.parent / "simulate",
        )
        cell.result = result
        cell.metric = result["metric"]
        gold = project.store.examples("gold")
        loaded = type(project.config.student).load(result["details"]["students"]["queue"])
        cell.student_docs_s = predict_docs_per_s(loaded, gold)
        if cell.teacher == "zeroshot":
            cell.teacher_docs_s = teacher_docs_per_s(project, gold)
        if not args.no_ceiling:
            cell.ceiling = ceiling(project, cell.student)
        task = project.config.task
        train = project.store.examples("train")
        preds = project.store.predictions(project.teacher_source, [ex.id for ex in train])
        cell.teacher_wrong_train = sum(
            1
            for ex in train
            if ex.id not in preds
            or not preds[ex.id].ok
            or set(preds[ex.id].output.labels) != set(task.reference(ex).labels)
        )
    cell.seconds = time.perf_counter() - started


# -- report --------------------------------------------------------------------------------------
def f(x: float) -> str:
    return f"{x:.3f}"


def ci(c: list[float], signed: bool = False) -> str:
    fmt = (lambda v: f"{v:+.3f}") if signed else f
    return f"[{fmt(c[0])}, {fmt(c[1])}]"


def verdict(c: list[float]) -> str:
    return " ✔" if c[0] > 0 else (" ✘" if c[1] < 0 else "")


def point_cells(p: dict[str, Any]) -> str:
    return (
        f"{p['cards']} / {p['changed']} | {f(p['score'])} {ci(p['ci'])} | "
        f"{p['delta']:+.3f} {ci(p['delta_ci'], True)}{verdict(p['delta_ci'])}"
    )


SHORT = {
    "embeddings.textcat.v1": "embeddings",
    "static.textcat.v1": "static",
    "sklearn.textcat.v1": "sklearn",
    "spacy.textcat.v1": "spaCy",
    "transformers.textcat.v1": "transformers",
}


def cell_table(cells: list[Cell]) -> list[str]:
    lines = [
        "| student | cards / changed | score [95% CI] | Δ vs teacher [paired 95% CI] |",
        "|---|---:|---:|---:|",
    ]
    for c in cells:
        name = SHORT.get(c.student, c.student)
        curves = c.result["curves"]
        for order in ("queue", "random"):
            for p in curves[order]:
                if order == "random" and p["cards"] == 0:
                    continue  # the same student as the queue's cards-0 row
                label = "teacher labels" if p["cards"] == 0 else f"+ {order} order"
                lines.append(f"| {name}: {label} | {point_cells(p)} |")
        if c.ceiling is not None:
            score, interval = c.ceiling
            lines.append(
                f"| {name}: all gold train (ceiling) | — | {f(score)} {ci(interval)} | — |"
            )
    return lines


def summary_rows(cells: list[Cell]) -> list[str]:
    lines = [
        "| data set | teacher | student | metric | teacher score | on teacher labels | "
        "+ N cards, queue (changed) | Δ vs teacher | queue − random | ceiling | student docs/s (1 core) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        r = c.result
        q = r["curves"]["queue"]
        last, first = q[-1], q[0]
        qr = r.get("queue_vs_random")
        qr_cell = f"{qr['delta']:+.3f} {ci(qr['ci'], True)}{verdict(qr['ci'])}" if qr else "—"
        ceil = f(c.ceiling[0]) if c.ceiling else "—"
        lines.append(
            f"| {c.dataset} | {c.teacher} | {SHORT.get(c.student, c.student)} | "
            f"{c.metric.replace('_f1', '-F1')} | {f(r['teacher']['score'])} | {f(first['score'])} | "
            f"{f(last['score'])} (+{last['cards']}, {last['changed']}) | "
            f"{last['delta']:+.3f} {ci(last['delta_ci'], True)}{verdict(last['delta_ci'])} | "
            f"{qr_cell} | {ceil} | {c.student_docs_s:,.0f} |"
        )
    return lines


def report(cells: list[Cell], args: argparse.Namespace, command: str, wall: float) -> str:
    parts = [
        "# Distillation benchmark: teachers → students through `distil simulate`",
        "",
        "Generated by `benchmarks/distill.py`:",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: the project's VM ({machine()}), CPU only; wall time {wall / 60:.1f} min, load "
        f"average at the end {os.getloadavg()[0]:.1f} (other work shared the cores).",
        "",
        "Full splits: every train row is labelled by the teacher; gold is the test split "
        f"(`{args.test}`)."
        if args.test
        else "Full splits: every train row is labelled by the "
        "teacher; gold is the whole test split, the dev split is the students' dev set.",
        "",
        "*cards* are cards the oracle annotator reviewed in the `check` pass, *changed* the labels it "
        "changed (the teacher was wrong there): the oracle accepts a right label, rejects a wrong one "
        "and answers the `fix` card with the train split's gold label. *queue order* is the "
        f"annotation queue's own order ({queue_words(args.set)}); *random order* a seeded "
        "shuffle. The student is "
        f"retrained every {args.step} cards. ✔: paired 95% CI above 0; ✘: below 0. *queue − random*: "
        "paired bootstrap of the two final students. Teachers `simNN-*` are simulated LLMs (see the "
        "module docstring); they send no logprobs.",
        "",
        "## Summary",
        "",
        *summary_rows(cells),
    ]
    for dataset in dict.fromkeys(c.dataset for c in cells):
        for teacher in dict.fromkeys(c.teacher for c in cells if c.dataset == dataset):
            group = [c for c in cells if c.dataset == dataset and c.teacher == teacher]
            t = group[0].result["teacher"]
            speed = ""
            if group[0].teacher_docs_s:
                speed = f"; teacher {group[0].teacher_docs_s:,.0f} docs/s (CPU time)"
            parts += [
                "",
                f"## {dataset}, teacher {teacher}",
                "",
                f"Teacher {group[0].metric.replace('_f1', '-F1')} on gold {f(t['score'])} "
                f"{ci(t['ci'])}; wrong on {group[0].teacher_wrong_train} train labels{speed}.",
                "",
                *cell_table(group),
            ]
            for c in group:
                parts.append(
                    f"\n{SHORT.get(c.student, c.student)}: {c.student_docs_s:,.0f} docs/s on one "
                    f"core; run {c.seconds / 60:.1f} min."
                )
    return "\n".join(parts) + "\n"


def write_summary(page: Path, cells: list[Cell], command: str) -> None:
    text = page.read_text(encoding="utf-8")
    block = "\n".join(
        [MARK_BEGIN, "", f"Command: `{command}`", "", *summary_rows(cells), "", MARK_END]
    )
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        _, tail = rest.split(MARK_END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    page.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="default: shared/data")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--teachers", nargs="+", default=list(TEACHERS))
    parser.add_argument("--students", nargs="+", default=list(STUDENTS))
    parser.add_argument("--test", type=Path, default=None, help="gold file (one data set only)")
    parser.add_argument("--budget", type=int, default=250)
    parser.add_argument("--step", type=int, default=250)
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/out/distill-work"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/distill.md"))
    parser.add_argument("--summary", type=Path, default=None, help="e.g. docs/benchmarks.md")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting added to every project's distil.cfg, e.g. train.teacher_weight=0.01",
    )
    args = parser.parse_args()
    if args.test and len(args.datasets) != 1:
        parser.error("--test names the gold file of one data set: give one --datasets")
    for t in args.teachers:
        if t != "zeroshot" and not (
            t.startswith("sim") and t.split("-")[-1] in ("uniform", "systematic")
        ):
            parser.error(f"unknown teacher {t!r}: zeroshot or simNN-uniform / simNN-systematic")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    data_dir = args.data_dir or shared_data_dir()
    if data_dir is None:
        parser.error("no shared/data folder found: pass --data-dir")
    command = ".venv/bin/python " + " ".join(shlex.quote(a) for a in sys.argv)
    started = time.perf_counter()
    cells: list[Cell] = []
    for dataset in args.datasets:
        folder = data_dir / dataset
        files = {
            "train": folder / "train.jsonl",
            "dev": folder / "dev.jsonl",
            "gold": args.test or folder / "test.jsonl",
        }
        labels = labels_of(files["train"])
        for teacher in args.teachers:
            work = (args.work / dataset / teacher).resolve()
            work.mkdir(parents=True, exist_ok=True)
            oracle = work / "oracle.jsonl"
            oracle.write_text(files["train"].read_text(encoding="utf-8"), encoding="utf-8")
            with teacher_server(teacher, files, work) as sim:
                for student in args.students:
                    cell = Cell(dataset, teacher, student)
                    print(f"[{dataset} / {teacher} / {student}] ...", flush=True)
                    config = write_config(
                        work / SHORT.get(student, student),
                        dataset,
                        labels,
                        teacher,
                        student,
                        {k: str(Path(v).resolve()) for k, v in files.items()},
                        sim,
                        args.set,
                    )
                    run_cell(cell, config, args)
                    cells.append(cell)
                    print("\n".join(summary_rows([cell])[2:]), flush=True)
    wall = time.perf_counter() - started
    text = report(cells, args, command, wall)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    if args.summary:
        write_summary(args.summary, cells, command)
    print(text)


if __name__ == "__main__":
    main()
