"""Structured extraction on SNIPS: the local LLM fills a pydantic record, the composite learns it.

    .venv/bin/python benchmarks/extract_snips.py [--train 40] [--gold 40] [--gold-train 200 1000]
        [--test FILE] [--out PATH] [--doc]
    .venv/bin/python benchmarks/extract_snips.py --sim-accuracy 0.85 [--sim-train N]
        [--review 100 250] [--test FILE] [--out PATH] [--doc]

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

``--test FILE`` scores on another JSONL file of SNIPS-shaped rows instead of snips test.jsonl (its
first ``--gold`` rows, and all of it for the last line). The figures are printed and written to
``--out PATH`` (default: ``figures.md`` in the run's temporary folder); docs/extract.md is
rewritten between the ``extract-snips`` markers only with ``--doc``. The tiny teacher is slow on
2 cores (seconds per record), so the sample is small: expect about 10-15 minutes.

``--sim-accuracy P`` swaps the tiny LLM for a competent one: ``SimulatedExtractTeacher``
(:mod:`distil.testing.simulated_extract`) behind the loopback OpenAI server, through the real
``openai.chat.v1`` provider, each filled field of a record right with probability P. It labels
the training queries (all 5,000, or the first ``--sim-train``) and every test query; the table
shows the teacher on the test queries, the composite trained on its records, the composite after
each ``--review`` budget of check cards answered by an oracle (from gold) in the app's extract
passes (``cards / changed``; ``spans/check:none`` and ``spans/check:not-in-text`` included, with
the records each check pass holds and the cards it got), and the gold ceiling (the composite on the same queries' gold
records), with exact-record and micro-F1 95% CIs, paired deltas against the teacher and docs/s.
With ``--doc`` it rewrites the ``extract-snips-sim`` block of docs/extract.md.
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
SIM_START, SIM_END = "<!-- extract-snips-sim:start -->", "<!-- extract-snips-sim:end -->"


def config_text(data: Path, out: Path, n_train: int, n_gold: int, test: Path | None = None) -> str:
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace('"../../extract-output', f'"{out}')
    text = text.replace('"../../../shared/data/snips', f'"{data}')
    if test is not None:
        text = re.sub(r'^gold = ".*"$', f'gold = "{test.resolve()}"', text, flags=re.M)
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
    return {
        "scores": scores,
        "fit_s": fit_s,
        "docs_per_s": len(gold) / seconds,
        "fit": report,
        "outputs": [p.output for p in preds],
        "student": student,
    }


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
    parser.add_argument("--test", type=Path, help="JSONL rows to score on (default: snips test)")
    parser.add_argument("--out", type=Path, help="write the figures (Markdown) here")
    parser.add_argument(
        "--doc", action="store_true", help="also rewrite docs/extract.md between its markers"
    )
    parser.add_argument(
        "--rules-only",
        action="store_true",
        help="only the empty-value and normaliser figures (no LLM, no training; seconds)",
    )
    parser.add_argument(
        "--sim-accuracy",
        type=float,
        help="a simulated LLM teacher right on this share of each record's filled fields "
        "(distil.testing.simulated_extract) instead of the tiny local LLM",
    )
    parser.add_argument(
        "--sim-train",
        type=int,
        default=0,
        help="with --sim-accuracy: the first N training queries (default: all 5,000)",
    )
    parser.add_argument(
        "--review",
        type=int,
        nargs="+",
        default=[250],
        help="with --sim-accuracy: reviewed-card budgets (cumulative, retrained at each)",
    )
    args = parser.parse_args()
    if args.test is not None and not args.test.is_file():
        parser.error(f"--test {args.test}: no such file")
    if args.sim_accuracy is not None:
        if not 0.0 <= args.sim_accuracy <= 1.0:
            parser.error("--sim-accuracy must be in [0, 1]")
        text = sim_main(args)
        emit(text, args, Path(tempfile.mkdtemp(prefix="distil-extract-sim-")))
        return
    if args.rules_only:
        rows = load_split("snips", "test") if args.test is None else read_test(args.test)
        text = "\n".join(rules_figures(rows, args))
        print(text)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n", encoding="utf-8")
        return
    from distil.testing.data import shared_data_dir

    root = shared_data_dir() or shared_data_dir(Path(__file__))
    assert root is not None, "shared/data not found (set DISTIL_DATA_DIR)"
    data = root / "snips"
    started = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="distil-extract-"))
    cfg = out / "distil.cfg"
    text = config_text(data, out, args.train, args.gold, args.test)
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
        full_test = load_split("snips", "test") if args.test is None else read_test(args.test)
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
        f"--shots {args.shots}"
        + (f" --test {args.test}" if args.test else "")
        + f"` ({total / 60:.1f} min on this machine, 2 cores). Gold: the first "
        f"{len(gold)} queries of {args.test or 'snips test.jsonl'}; teacher: SmolLM2-135M through llama.cpp, "
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
    emit("\n".join(lines), args, out)
    print(f"report: {out / 'report.md'}")


def emit(text: str, args: argparse.Namespace, out: Path) -> None:
    """Print the figures, write them to ``--out`` (else into ``out``), and into docs/extract.md
    between the markers of the mode (``extract-snips`` or ``extract-snips-sim``) only with
    ``--doc``."""
    print(text)
    target = args.out or (out / "figures.md")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + "\n", encoding="utf-8")
    print(f"figures: {target}")
    start, end = (SIM_START, SIM_END) if args.sim_accuracy is not None else (START, END)
    if args.doc and DOC.exists():
        doc = DOC.read_text(encoding="utf-8")
        if start in doc and end in doc:
            head, rest = doc.split(start, 1)
            _, tail = rest.split(end, 1)
            DOC.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")


def rules_figures(rows: list[Example], args: argparse.Namespace) -> list[str]:
    """Two figures that need no model: how the empty-value rule scores a teacher that writes
    ``""`` for "none", and how much of SNIPS's numeric and time slots the normalisers read.

    The teacher is simulated from gold: every slot right, the intent wrong on every 11th query
    (91% right), and ``""`` in every slot the query does not have. "before" emulates the old
    rule (``""`` was an item of its own, so a wrong value in every empty field) by scoring the
    same records with each ``""`` replaced by a marker string; "now" scores them as they are.
    """
    import random

    from distil.extract.examples.snips import Intent, SnipsQuery
    from distil.extract.normalise import DateNormaliser, NumberNormaliser
    from distil.records import Extraction
    from distil.tasks.extract import ExtractTask

    task = ExtractTask(SnipsQuery)
    intents = list(Intent.__args__)  # type: ignore[attr-defined]
    gold = [task.reference(ex) for ex in rows]
    teacher, old = [], []
    for i, g in enumerate(gold):
        assert isinstance(g, Extraction)
        data = {k: ("" if v is None else [""] if v == [] else v) for k, v in g.data.items()}
        if i % 11 == 0:
            data["intent"] = intents[(intents.index(data["intent"]) + 1) % len(intents)]
        teacher.append(Extraction(data=data))
        marked = {k: ("∅" if v == "" else ["∅"] if v == [""] else v) for k, v in data.items()}
        old.append(Extraction(data=marked))
    now, before = task.score(gold, teacher), task.score(gold, old)
    intent_ok = now["per_label"]["intent"]["accuracy"]
    lines = [
        "Command: `.venv/bin/python benchmarks/extract_snips.py --rules-only"
        + (f" --test {args.test}" if args.test else "")
        + f"` (seconds, no model). {len(rows)} queries of "
        f"{args.test or 'snips test.jsonl'}; a simulated teacher with every slot right, the "
        f'intent right on {intent_ok:.1%} of queries, and `""` in every slot a query lacks.',
        "",
        '| rule for `""` | exact record | micro-F1 | macro-F1 | intent F1 | missing | wrong | extra | empty strings |',
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in (("before: a value of its own", before), ("now: no value", now)):
        v = s["values"]
        lines.append(
            f"| {name} | {s['exact_record']:.3f} | {s['micro_f1']:.3f} | {s['macro_f1']:.3f} | "
            f"{s['per_label']['intent']['f1']:.3f} | {v['missing']:,} | {v['wrong']:,} | "
            f"{v['extra']:,} | {v['empty']:,} |"
        )
    number, date = NumberNormaliser(), DateNormaliser()
    lines += [
        "",
        "Normalisers on the gold spans of SNIPS's numeric and time slots (share of spans read; "
        "dates relative to 2026-12-02, examples of spans not read):",
        "",
        "| slot | normaliser | spans | read | not read (examples) |",
        "|---|---|---:|---:|---|",
    ]
    rng = random.Random(0)
    for slot, norm in (
        ("rating_value", number),
        ("best_rating", number),
        ("party_size_number", number),
        ("year", number),
        ("timeRange", date),
    ):
        texts = [ex.text[s.start : s.end] for ex in rows for s in ex.spans or [] if s.label == slot]
        unread = []
        for t in texts:
            try:
                norm.parse(t, __import__("datetime").date(2026, 12, 2))
            except ValueError:
                unread.append(t)
        shown = ", ".join(f"`{t}`" for t in rng.sample(unread, min(3, len(unread))))
        share = 1 - len(unread) / len(texts) if texts else 0.0
        lines.append(f"| {slot} | {norm.name} | {len(texts)} | {share:.1%} | {shown} |")
    return lines


def read_test(path: Path) -> list[Example]:
    """The rows of a ``--test`` file (JSONL, as snips test.jsonl)."""
    from distil.store.jsonl import read_jsonl

    return read_jsonl(path).examples


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


# -- --sim-accuracy: a competent (simulated) teacher ------------------------------------------
def pass_group(name: str) -> str:
    """The row a check pass's cards are counted in (every ``spans/check:FIELD`` pass together)."""
    if name.startswith("spans/check:") and name not in (
        "spans/check:none",
        "spans/check:not-in-text",
    ):
        return "spans/check:FIELD"
    return name


def review_cards(
    ws: Any,
    task: Any,
    gold: dict[str, Any],
    budget: int,
    tally: Any,
    by_pass: dict[str, list[int]],
) -> None:
    """The oracle reviews check cards of the app's extract passes until ``tally.cards`` reaches
    ``budget``: one card of each check pass in turn (round robin over the subtasks' passes,
    each in its own queue order: the intent check, one per slot field, ``spans/check:none`` over
    the records whose slots the teacher left empty and ``spans/check:not-in-text`` over those
    with a value not in the text), accepting a right answer, else rejecting it and correcting it
    on the fix card. The oracle's answer is the gold record split into the subtask's answer (for
    a ``check:none`` or ``check:not-in-text`` card, every gold span against every span shown).
    ``by_pass`` counts ``[cards, changed]`` per :func:`pass_group`."""
    from distil.simulate import ORACLE, Oracle, _review

    oracles: dict[str, Oracle] = {name: Oracle(path=Path("gold"), answers={}) for name in ws.subs}
    for example_id, (record, text) in gold.items():
        answers, _ = task.plan.split(record, text)
        for name, output in answers.items():
            oracles[name].answers[example_id] = output
    open_passes = [p.name for p in ws.passes if p.is_check]
    while tally.cards < budget and open_passes:
        for name in list(open_passes):
            if tally.cards >= budget:
                break
            card = ws.state(ORACLE, name)["card"]
            if card is None or card["pass"] != name:
                open_passes.remove(name)
                continue
            _, subtask, inner = ws.get_pass(name)
            cards, changed = tally.cards, tally.changed
            _review(ws.subs[subtask], inner, card["example_id"], oracles[subtask], tally)
            counts = by_pass.setdefault(pass_group(name), [0, 0])
            counts[0] += tally.cards - cards
            counts[1] += tally.changed - changed


def sim_main(args: argparse.Namespace) -> str:
    """Label SNIPS train with a simulated teacher through ``openai.chat.v1`` on the loopback
    server; score the teacher, the composite on its records, after reviewed cards, and on gold."""
    import os

    from distil.annotate.subtasks import ExtractWorkspace
    from distil.extract.answers import merge_extract_labels
    from distil.simulate import _Tally
    from distil.testing.data import shared_data_dir
    from distil.testing.simulated_extract import simulated_extract_llm

    root = shared_data_dir() or shared_data_dir(Path(__file__))
    assert root is not None, "shared/data not found (set DISTIL_DATA_DIR)"
    started = time.perf_counter()
    cpu0 = time.process_time()
    out = Path(tempfile.mkdtemp(prefix="distil-extract-sim-"))
    train_rows = load_split("snips", "train")
    n_train = args.sim_train or len(train_rows)
    test_rows = load_split("snips", "test") if args.test is None else read_test(args.test)
    n_gold = len(test_rows)
    text = config_text(root / "snips", out, n_train, n_gold, args.test)
    from distil.extract.examples.snips import SnipsQuery
    from distil.tasks.extract import ExtractTask

    known = [*train_rows[:n_train], *test_rows]
    os.environ.setdefault("OPENAI_API_KEY", "sk-simulated-benchmark")
    with simulated_extract_llm(
        known, ExtractTask(SnipsQuery), accuracy=args.sim_accuracy, seed=0
    ) as sim:
        text = re.sub(
            r"\[teacher\].*?(?=\[student\])", sim.config_snippet() + "\n", text, flags=re.S
        )
        cfg = out / "distil.cfg"
        cfg.write_text(text, encoding="utf-8")
        config = load_config(cfg)
        with Project(config) as project:
            t0 = time.perf_counter()
            project.label("train")
            project.label("gold")
            label_s = time.perf_counter() - t0
            teacher_real = sim.teacher.overall_accuracy()
            task = project.config.task
            source = project.teacher_source
            train = project.store.examples("train")
            gold = project.store.examples("gold")
            refs = [task.reference(ex) for ex in gold]
            tpreds = project.store.predictions(source, [ex.id for ex in gold])
            teacher_out = [
                p.output if (p := tpreds.get(ex.id)) is not None and p.ok else None for ex in gold
            ]
            teacher_scores = task.score(refs, teacher_out)
            on_teacher = composite_on(
                project, merge_extract_labels(project.store, task, "train", source).pairs, gold
            )
            # The composite's answers on train, stored as a student's: the app's queue ranks
            # the check cards by teacher-student disagreement, as after `distil train`.
            from distil.records import Prediction

            student_source = "student:extract.composite#sim-teacher-records"
            answers = on_teacher["student"].predict([ex.without_answer() for ex in train])
            project.store.add_predictions(
                [
                    Prediction(
                        example_id=ex.id,
                        source=student_source,
                        output=a.output,
                        confidence=a.confidence,
                    )
                    for ex, a in zip(train, answers, strict=True)
                ],
                "train",
            )
            ws = ExtractWorkspace(
                project.store,
                task,
                dataset="train",
                teacher_source=source,
                student_source=student_source,
                host=project.host,
            )
            oracle = {
                ex.id: (task.reference(ex).data, ex.text)  # type: ignore[union-attr]
                for ex in train_rows[:n_train]
            }
            tally = _Tally()
            reviewed = []
            by_pass: dict[str, list[int]] = {}
            for budget in sorted(args.review):
                review_cards(ws, task, oracle, budget, tally, by_pass)
                merged = merge_extract_labels(project.store, task, "train", source).pairs
                reviewed.append((tally.cards, tally.changed, composite_on(project, merged, gold)))
            held = {row["name"]: row["total"] for row in ws.progress("oracle")}
            ceiling = composite_on(
                project, [(ex.without_answer(), task.reference(ex)) for ex in train], gold
            )
    total, cpu = time.perf_counter() - started, time.process_time() - cpu0

    def cell(s: dict, m: str) -> str:
        low, high = s["ci"][m]
        return f"{s[m]:.3f} [{low:.3f}, {high:.3f}]"

    def delta(outputs: list, metric: str) -> str:
        d = task.paired_bootstrap(refs, outputs, teacher_out, metric=metric, n_boot=1000, seed=0)
        low, high = d["ci"]
        mark = " ✔" if low > 0 else " ✘" if high < 0 else ""
        return f"{d['delta']:+.3f} [{low:+.3f}, {high:+.3f}]{mark}"

    def line(name: str, cards: str, r: dict) -> str:
        s = r["scores"]
        return (
            f"| {name} | {cards} | {cell(s, 'accuracy')} | {cell(s, 'micro_f1')} | "
            f"{delta(r['outputs'], 'accuracy')} | {delta(r['outputs'], 'micro_f1')} | "
            f"{r['docs_per_s']:,.0f} |"
        )

    groups: dict[str, list[str]] = {}
    for p in ws.passes:
        if p.is_check:
            groups.setdefault(pass_group(p.name), []).append(p.name)
    acc = args.sim_accuracy
    command = (
        f"`.venv/bin/python benchmarks/extract_snips.py --sim-accuracy {acc:g}"
        + (f" --sim-train {args.sim_train}" if args.sim_train else "")
        + f" --review {' '.join(map(str, sorted(args.review)))}"
        + (f" --test {args.test}" if args.test else "")
        + "`"
    )
    fields = sim.teacher.field_accuracy()
    v = teacher_scores["values"]
    lines = [
        f"Command: {command} ({total / 60:.1f} min wall, {cpu / 60:.1f} min CPU of this process, "
        f"on the shared 2-core machine). Train: the first {len(train):,} of SNIPS's 5,000 "
        f"training queries{' (a subsample, to fit the CPU budget)' if len(train) < 5000 else ''}"
        f", labelled by the teacher; gold: all {len(gold):,} queries of "
        f"{args.test or 'snips test.jsonl'}. Teacher: `SimulatedExtractTeacher` "
        f"(`distil.testing.simulated_extract`) behind the loopback OpenAI server and the real "
        f"`openai.chat.v1` provider, each filled field of a record right with probability "
        f"{acc:g} (realised {teacher_real:.3f} over train + gold; intent "
        f"{fields.get('intent', 0):.3f}), a wrong field empty with probability 0.25, else another "
        f"query's value of that field; labelling took {label_s:.0f} s.",
        "",
        "| source | cards / changed | exact record [95% CI] | micro-F1 [95% CI] | "
        "Δ exact vs teacher [paired 95% CI] | Δ micro-F1 vs teacher | docs/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| teacher (simulated, p = {acc:g}) | — | {cell(teacher_scores, 'accuracy')} | "
        f"{cell(teacher_scores, 'micro_f1')} | — | — | (simulated) |",
        line(f"composite on {len(train):,} teacher records", "0 / 0", on_teacher),
        *[
            line("+ reviewed cards (app's extract passes)", f"{c} / {ch}", r)
            for c, ch, r in reviewed
        ],
        line(f"gold ceiling: composite on the same {len(train):,} gold records", "—", ceiling),
        "",
        "*cards* are check cards of the annotation app's extract passes (`ExtractWorkspace`: "
        "one pass set per subtask, intent and slots: a check per slot field, `spans/check:none` "
        "over the records whose slots the teacher left empty, `spans/check:not-in-text` over "
        "those holding a value not in the text) that a simulated oracle answered from the "
        "gold record, one card of each check pass in turn, each pass in its own queue order "
        "(the app's queue, which ranks by disagreement with the composite trained on the "
        "teacher's records, stored as the student's answers on train); "
        "*changed* the cards it rejected and corrected on the fix card (the teacher was wrong "
        "there). The composite is retrained on the merged answers "
        "(`distil.tasks.extract_answers.merge_extract_labels`) at each budget. ✔: paired 95% CI above 0. "
        "docs/s: the composite's prediction on the gold queries (wall clock, shared machine). "
        f"Teacher on gold: {v['wrong']:,} wrong, {v['missing']:,} missing, {v['extra']:,} extra "
        "field values.",
        "",
        "| check pass | records it holds | cards / changed (all budgets) |",
        "|---|---:|---:|",
        *[
            f"| `{group}`{f' ({n} passes)' if (n := len(groups[group])) > 1 else ''} | "
            f"{sum(held[name] for name in groups[group]):,} | "
            f"{by_pass.get(group, [0, 0])[0]} / {by_pass.get(group, [0, 0])[1]} |"
            for group in groups
        ],
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
