"""Structured extraction on SNIPS: the local LLM fills a pydantic record, the composite learns it.

    .venv/bin/python benchmarks/extract_snips.py [--train 40] [--gold 40] [--ceiling 1000]

1. ``distil plan``: the SnipsQuery schema (an intent Literal and 39 slot span fields) splits into
   an intent textcat and one slot NER task.
2. ``distil run`` on templates/extract/snips.cfg (data paths made absolute, sizes from the
   arguments): SmolLM2-135M (llama.cpp, output constrained to the schema) fills the records of the
   first ``--train`` training queries and ``--gold`` test queries; the composite student (TF-IDF
   intent + spaCy NER slots) trains on the teacher's valid records; the report compares both per
   field and per record on the gold queries. Invalid teacher records are counted and listed.
3. Simulated corrections: the same composite trained on the *gold* records of the same training
   queries (every teacher record corrected: a simulation, no human involved), and a ceiling trained
   on ``--ceiling`` gold records, both scored on the same gold queries.

The figures go into docs/extract.md between the ``extract-snips`` markers. The tiny teacher is
slow on 2 cores (seconds per record), so the sample is small: expect about 10-15 minutes.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import sample

from distil.config import load_config
from distil.extract.render import plan_text
from distil.project import Project
from distil.records import Example
from distil.testing import load_split

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "extract" / "snips.cfg"
DOC = ROOT / "docs" / "extract.md"
START, END = "<!-- extract-snips:start -->", "<!-- extract-snips:end -->"


def config_text(data: Path, out: Path, n_train: int, n_gold: int) -> str:
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace('"../../extract-output', f'"{out}')
    text = text.replace('"../../../shared/data/snips', f'"{data}')
    text = re.sub(r"train_limit = \d+", f"train_limit = {n_train}", text)
    return re.sub(r"gold_limit = \d+", f"gold_limit = {n_gold}", text)


def composite_on(project: Project, pairs: list[tuple[Example, Any]], gold: list[Example]) -> dict:
    """Train a fresh composite on ``pairs``; its scores on ``gold`` and its docs/s."""
    from distil.config import resolve_section

    task = project.config.task
    student = resolve_section(project.host, "student", project.config.raw["student"])
    started = time.perf_counter()
    report = student.fit(task, pairs, None)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    preds = student.predict([ex.without_answer() for ex in gold])
    seconds = time.perf_counter() - started
    scores = task.score([task.reference(ex) for ex in gold], [p.output for p in preds])
    return {"scores": scores, "fit_s": fit_s, "docs_per_s": len(gold) / seconds, "fit": report}


def ci(scores: dict, metric: str) -> str:
    low, high = scores["ci"][metric]
    return f"{scores[metric]:.3f} [{low:.3f}, {high:.3f}]"


def row(name: str, s: dict, fields: list[str]) -> str:
    per = s["per_label"]
    cells = [f"{s['accuracy']:.3f}", f"{s['micro_f1']:.3f}", f"{s['macro_f1']:.3f}"]
    cells += [f"{per[f]['f1']:.3f}" for f in fields]
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--gold", type=int, default=40)
    parser.add_argument(
        "--gold-train", type=int, nargs="+", default=[200, 1000], help="gold-trained sizes"
    )
    parser.add_argument("--shots", type=int, default=3, help="gold dev queries shown as examples")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/extract.md")
    args = parser.parse_args()
    from distil.testing.data import shared_data_dir

    root = shared_data_dir() or shared_data_dir(Path(__file__))
    assert root is not None, "shared/data not found (set DISTIL_DATA_DIR)"
    data = root / "snips"
    started = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="distil-extract-"))
    cfg = out / "distil.cfg"
    text = config_text(data, out, args.train, args.gold)
    if args.shots:
        # A few gold dev queries as few-shot examples, written beside the run (not in the repo).
        shots = sample(load_split("snips", "dev"), args.shots, seed=0)
        shots_file = out / "shots.jsonl"
        shots_file.write_text("".join(ex.model_dump_json() + "\n" for ex in shots))
        text = text.replace("concurrency = 1\n", f'concurrency = 1\nshots_path = "{shots_file}"\n')
    cfg.write_text(text, encoding="utf-8")
    config = load_config(cfg)
    print(plan_text(config.task.plan, config.student), flush=True)
    with Project(config) as project:
        result = project.run(output_dir=out)
        report = result["report"]
        task = project.config.task
        gold = project.store.examples("gold")
        teacher_source = project.teacher_source
        failures = {
            dataset: [
                (p.example_id, p.error)
                for ex in project.store.examples(dataset)
                if (p := project.store.predictions(teacher_source, [ex.id]).get(ex.id)) and not p.ok
            ]
            for dataset in ("train", "gold")
        }
        train = project.store.examples("train")
        corrected = [(ex.without_answer(), task.reference(ex)) for ex in train]
        all_train = load_split("snips", "train")
        simulated = composite_on(project, corrected, gold)
        full_test = load_split("snips", "test")
        tops = {
            n: composite_on(
                project, [(ex.without_answer(), task.reference(ex)) for ex in all_train[:n]], gold
            )
            for n in args.gold_train
        }
        biggest = max(args.gold_train)
        whole = composite_on(
            project,
            [(ex.without_answer(), task.reference(ex)) for ex in all_train[:biggest]],
            full_test,
        )["scores"]
    total = time.perf_counter() - started
    teacher, student = report["sources"][0], report["sources"][1]
    fields = ["intent", "artist", "object_name", "playlist", "timeRange", "city"]
    header = "| source | exact record | micro-F1 | macro-F1 | " + " | ".join(fields) + " |"
    lines = [
        f"Command: `.venv/bin/python benchmarks/extract_snips.py --train {args.train} "
        f"--gold {args.gold} --gold-train {' '.join(map(str, args.gold_train))} "
        f"--shots {args.shots}` ({total / 60:.1f} min on this machine, "
        "2 cores). Gold: the first "
        f"{len(gold)} queries of snips test.jsonl; teacher: SmolLM2-135M through llama.cpp, "
        f"output constrained to the schema, {args.shots} gold dev queries as few-shot examples.",
        "",
        header,
        "|" + "---|" * (4 + len(fields)),
        row("teacher (SmolLM2-135M)", teacher["scores"], fields),
        row(f"composite on {args.train} teacher records", student["scores"], fields),
        row(
            f"composite on the same {len(corrected)} records, all corrected (simulated)",
            simulated["scores"],
            fields,
        ),
        *[
            row(f"composite on the first {n} gold training records", top["scores"], fields)
            for n, top in tops.items()
        ],
        "",
        "F1 per field is span-exact on the value for slots and label F1 for the intent; "
        "exact record means every one of the 40 fields right.",
        "",
        f"On all {len(full_test)} test queries the composite trained on {biggest} gold records "
        f"scores exact record {ci(whole, 'accuracy')}, micro-F1 {ci(whole, 'micro_f1')}, "
        f"macro-F1 {ci(whole, 'macro_f1')}, intent F1 {whole['per_label']['intent']['f1']:.3f} "
        "(95% bootstrap intervals over queries).",
        "",
        "| | teacher | composite |",
        "|---|---:|---:|",
        f"| docs/s | {teacher['utility'].get('docs_per_s') or 0:.2f} | "
        f"{student['utility'].get('docs_per_s') or 0:,.0f} |",
        f"| p95 latency (ms) | {teacher['utility'].get('p95_latency_ms') or 0:,.0f} | "
        f"{student['utility'].get('p95_latency_ms') or 0:,.1f} |",
        f"| model size (MB) | — | {(student['utility'].get('model_size_bytes') or 0) / 1e6:.1f} |",
        "",
        f"Invalid teacher records (counted as failures, never repaired): "
        f"{len(failures['train'])} of {len(train)} training queries and "
        f"{len(failures['gold'])} of {len(gold)} gold queries. The first reasons:",
        "",
        *[f"- `{i}`: {e}" for i, e in (failures["train"] + failures["gold"])[:5]],
        "",
        *fit_lines(student_fit(project_out=out)),
    ]
    text = "\n".join(lines)
    print(text)
    (out / "figures.md").write_text(text + "\n", encoding="utf-8")
    if not args.no_doc and DOC.exists():
        doc = DOC.read_text(encoding="utf-8")
        if START in doc and END in doc:
            head, rest = doc.split(START, 1)
            _, tail = rest.split(END, 1)
            DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
    print(f"report: {out / 'report.md'}")


def fit_lines(fit: dict[str, Any]) -> list[str]:
    """What each subtask of the composite learnt from the teacher's records, and what it could not."""
    lines = ["The composite trained on the teacher's records, per subtask:", ""]
    for name, entry in fit.items():
        lines.append(
            f"- `{name}`: {entry['n_train']} records, {entry['dropped']} left out, "
            f"student `{entry['student']}`"
            + (
                f" (every record said {entry['constant'].get('labels', 'no spans')})"
                if entry["student"] == "constant"
                else ""
            )
        )
        lines += [f"  - left out: {reason}" for reason in entry["dropped_examples"][:3]]
    return lines


def student_fit(project_out: Path) -> dict[str, Any]:
    """The composite's fit report (per subtask: n_train, dropped, student) from the saved model."""
    for manifest in sorted(project_out.glob("students/*/composite.json")):
        return dict(json.loads(manifest.read_text())["report"]["subtasks"])
    return {}


if __name__ == "__main__":
    main()
