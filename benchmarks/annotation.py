"""SIMULATION: an oracle annotator corrects the zero-shot teacher through the annotation app's HTTP API.

    .venv/bin/python benchmarks/annotation.py [--dataset sms_spam] [--checkpoints 0,100,250,500]

No human is involved: the "annotator" is a script that knows the gold labels. It starts the real
``distil annotate`` server (a subprocess on 127.0.0.1), takes cards in the app's queue order
(teacher–student disagreement first, then lowest teacher confidence), accepts a card when the
teacher's label is right, and otherwise rejects it and gives the gold label in the ``fix`` pass,
exactly as a person at the keyboard would, over HTTP. After 0, 100, 250 and 500 corrections it
trains a fresh TF-IDF + logistic-regression student on the merged labels (human answers over the
teacher's, as ``distil train`` merges them) and scores it on the gold test set against the teacher.
It is a best case: a real annotator makes mistakes and is slower.

    .venv/bin/python benchmarks/annotation.py --browser [--cards 30]

drives the page itself instead (Playwright in Debian's chromium, keys only) and reports seconds per
card for each mode: binary (sms_spam), single choice over banking77's 77 labels (a digit when the
gold label is in the ranked top nine, else typing until it leads the search, then enter),
multi-label (goemotions' 28 labels, one search per label to change, enter) and spans (wikigold: a
digit for the label, a selection, enter). The teacher is synthetic (gold labels, or banking77's
gold ranked 20th), so every card needs the same work; the figure is the app's own cost per card,
what a person's thinking time adds to.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import machine

from distil import Categories, Example, Prediction, TaskOutput
from distil.project import Project
from distil.testing import shared_data_dir
from distil.train import merge_labels
from distil_annotate.testing import Server


def f1(
    task_labels: list[str], gold: list[Example], predicted: list[TaskOutput | None], positive: str
) -> float:
    tp = fp = fn = 0
    for ex, out in zip(gold, predicted, strict=True):
        want = positive in (ex.labels or [])
        got = isinstance(out, Categories) and positive in out.labels
        tp += want and got
        fp += got and not want
        fn += want and not got
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def macro_f1(labels: list[str], gold: list[Example], predicted: list[TaskOutput | None]) -> float:
    return sum(f1(labels, gold, predicted, label) for label in labels) / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="sms_spam")
    parser.add_argument("--checkpoints", default="0,100,250,500")
    parser.add_argument("--browser", action="store_true", help="seconds per card in chromium")
    parser.add_argument("--cards", type=int, default=30, help="cards per mode (--browser)")
    args = parser.parse_args()
    if args.browser:
        run_browser_benchmark(args.cards)
        return
    checkpoints = [int(x) for x in args.checkpoints.split(",")]
    data = shared_data_dir(Path(__file__))
    assert data is not None, "shared data not found"
    root = Path(tempfile.mkdtemp(prefix="distil-annotation-bench-"))
    rows = [
        Example.model_validate_json(x)
        for x in (data / args.dataset / "train.jsonl").read_text().splitlines()
    ]
    labels = sorted({label for ex in rows for label in ex.labels or []})
    positive = "spam" if "spam" in labels else None
    cfg = root / "distil.cfg"
    cfg.write_text(
        f'[task]\n@tasks = "textcat.v1"\nlabels = {labels!r}\n\n'.replace("'", '"')
        + '[teacher]\n@teachers = "local.zeroshot.v1"\n\n[student]\n@students = "sklearn.textcat.v1"\n\n'
        f'[data]\ntrain = "{data / args.dataset / "train.jsonl"}"\n'
        f'dev = "{data / args.dataset / "dev.jsonl"}"\ngold = "{data / args.dataset / "test.jsonl"}"\n'
    )
    started = time.perf_counter()
    with Project.from_config(cfg) as project:
        project.import_data()
        project.label("train")
        project.label("gold")
        task = project.config.task
        source = project.teacher_source
        gold = project.store.examples("gold")
        teacher_preds = project.store.predictions(source, [ex.id for ex in gold])
        teacher_out = [
            teacher_preds[ex.id].output if ex.id in teacher_preds else None for ex in gold
        ]
        train_gold = {ex.id: ex for ex in project.store.examples("train")}

        def score(out: list[TaskOutput | None]) -> float:
            return f1(labels, gold, out, positive) if positive else macro_f1(labels, gold, out)

        def student_score() -> tuple[float, object]:
            from distil_sklearn.plugin import make_textcat

            student = make_textcat()
            pairs = merge_labels(project.store, task, "train", source).pairs
            student.fit(task, pairs)
            preds = student.predict([ex.without_answer() for ex in gold])
            return score([p.output for p in preds]), student

        teacher_f1 = score(teacher_out)
        print(f"machine: {machine()}")
        print(
            f"labelled {len(train_gold)} train + {len(gold)} gold with {source} in {time.perf_counter() - started:.0f}s"
        )
        results: list[tuple[int, int, float]] = []
        s0, student = student_score()
        results.append((0, 0, s0))
        # The student's train predictions go into the store, so the queue puts disagreement first.
        train = list(train_gold.values())
        outs = student.predict([ex.without_answer() for ex in train])  # type: ignore[attr-defined]
        project.store.add_predictions(
            Prediction(
                example_id=ex.id, source="student:sklearn.textcat#run=bench0", output=o.output
            )
            for ex, o in zip(train, outs, strict=True)
        )

    server = Server(cfg, "--session", "oracle").start()
    corrections = cards = 0
    targets = [c for c in checkpoints if c > 0]
    try:
        with Project.from_config(cfg) as project:
            task = project.config.task
            while targets:
                _, state = server.api("GET", "/api/state?session=oracle&pass=check")
                card = state["card"]
                if card is None or state["pass"] != "check":
                    print(f"queue exhausted after {cards} cards and {corrections} corrections")
                    break
                cards += 1
                eid = card["example_id"]
                right = train_gold[eid].labels or []
                body = {"session": "oracle", "pass": "check", "example_id": eid}
                if card["suggestion"]["labels"] == right:
                    server.api("POST", "/api/answer", {**body, "answer": "accept"})
                    continue
                server.api("POST", "/api/answer", {**body, "answer": "reject"})
                status, _ = server.api(
                    "POST",
                    "/api/answer",
                    {**body, "pass": "fix", "answer": "correct", "output": {"labels": right}},
                )
                assert status == 200
                corrections += 1
                if corrections == targets[0]:
                    targets.pop(0)
                    f, _ = student_score()
                    results.append((corrections, cards, f))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    metric = "spam F1" if positive else "macro-F1"
    print(f"\n{args.dataset}: {metric} on {len(gold)} gold test texts (SIMULATED oracle annotator)")
    print(f"teacher (zero-shot MiniLM): {teacher_f1:.3f}")
    print("| corrections | cards shown | share of cards that were teacher errors | student F1 |")
    print("|---:|---:|---:|---:|")
    for n, shown, score_ in results:
        share = f"{n / shown:.0%}" if shown else "–"
        print(f"| {n} | {shown} | {share} | {score_:.3f} |")
    print(f"total {time.perf_counter() - started:.0f}s")


# -- the browser benchmark (--browser) ------------------------------------------------------------
BENCH_TEACHER = "teacher:bench.synthetic#prompt=fixed"


def _rows(data: Path, name: str, n: int) -> list[Example]:
    lines = (data / name / "train.jsonl").read_text().splitlines()
    return [Example.model_validate_json(x) for x in lines[:n]]


def _bench_project(root: Path, task: str, rows: list[Example], preds: list[Prediction]) -> Path:
    root.mkdir(parents=True)
    (root / "train.jsonl").write_text("".join(ex.model_dump_json() + "\n" for ex in rows))
    cfg = root / "distil.cfg"
    cfg.write_text(
        f'{task}\n[teacher]\n@teachers = "llm.v1"\n\n[teacher.provider]\n'
        '@providers = "openai.chat.v1"\nmodel = "gpt-4o-mini"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "train.jsonl"\n'
    )
    with Project.from_config(cfg) as project:
        project.import_data()
        project.store.add_predictions(preds, dataset="train")
    return cfg


def _pred(ex: Example, output: TaskOutput) -> Prediction:
    return Prediction(example_id=ex.id, source=BENCH_TEACHER, output=output, confidence=0.5)


def _projects(data: Path, root: Path, n: int) -> dict[str, tuple[Path, list[Example]]]:
    """One project per mode, with a synthetic teacher (see the module docstring)."""
    import json
    import random

    from distil import Span, Spans

    out: dict[str, tuple[Path, list[Example]]] = {}
    sms = _rows(data, "sms_spam", n + 5)
    task = '[task]\n@tasks = "textcat.v1"\nlabels = ["ham", "spam"]\n'
    preds = [_pred(ex, Categories(labels=ex.labels or [])) for ex in sms]
    out["binary"] = (_bench_project(root / "binary", task, sms, preds), sms)

    lines = (data / "banking77" / "train.jsonl").read_text().splitlines()
    labels = sorted({json.loads(x)["labels"][0] for x in lines})
    bank = _rows(data, "banking77", n + 5)
    preds = []
    for i, ex in enumerate(bank):
        rng = random.Random(i)
        gold = (ex.labels or [""])[0]
        wrong = labels[(labels.index(gold) + 1 + i) % len(labels)]
        scores = {x: rng.uniform(0.03, 0.3) for x in labels}
        if i % 2:  # every other card: the gold label outside the top nine
            scores[gold] = 0.02
        scores[wrong] = 0.6
        preds.append(_pred(ex, Categories(labels=[wrong], scores=scores)))
    task = f'[task]\n@tasks = "textcat.v1"\nlabels = {json.dumps(labels)}\n'
    out["choice (77 labels)"] = (_bench_project(root / "choice", task, bank, preds), bank)

    lines = (data / "goemotions" / "train.jsonl").read_text().splitlines()
    emotions = sorted({x for line in lines for x in json.loads(line)["labels"]})
    goem = _rows(data, "goemotions", n + 5)
    preds = [_pred(ex, Categories(labels=["neutral"], scores={"neutral": 0.6})) for ex in goem]
    task = f'[task]\n@tasks = "textcat.v1"\nlabels = {json.dumps(emotions)}\nmultilabel = true\n'
    out["multi-label (28 labels)"] = (_bench_project(root / "multi", task, goem, preds), goem)

    wiki = [ex for ex in _rows(data, "wikigold", 4 * n) if len(ex.spans or []) >= 2][: n + 5]
    preds = [_pred(ex, Spans(spans=[Span(**s.model_dump()) for s in ex.spans[:-1]])) for ex in wiki]
    task = '[task]\n@tasks = "ner.v1"\nlabels = ["PER", "ORG", "LOC", "MISC"]\n'
    out["spans"] = (_bench_project(root / "spans", task, wiki, preds), wiki)
    return out


def _open_fix_cards(server: Server, mode: str, rows: list[Example], n: int) -> str:
    """Reject ``n`` cards over the API where the correction pass needs a rejection first; the
    name of the pass to time."""
    _, state = server.api("GET", "/api/state?session=warm")
    want = {"binary": "binary", "choice (77 labels)": "choice", "spans": "spans"}.get(mode, "multi")
    target = next(p for p in state["passes"] if p["mode"] == want)
    if want == "binary" or target["total"] >= n:
        return str(target["name"])
    check = next((p for p in state["passes"] if p["mode"] == "binary"), None)
    if check is None:
        raise SystemExit(f"pass {target['name']} holds {target['total']} card(s), not {n}")
    # A few more than n: the API's own (anonymous) client holds a lease on one of them.
    for ex in rows[: n + 2]:
        pass_name = check["name"]
        if want == "spans":
            pass_name = f"check:{(ex.spans or [])[0].label}"
        body = {"session": "bench", "pass": pass_name, "example_id": ex.id, "answer": "reject"}
        assert server.api("POST", "/api/answer", body)[0] == 200
    return str(target["name"])


def _search(page: object, label: str) -> None:
    """Open the search with ``/`` (a label may start with a letter that is a key of its own, such
    as ``a``), type ``label`` (spaces for underscores) until it leads the search, then enter."""
    page.keyboard.press("/")  # type: ignore[attr-defined]
    typed = ""
    for ch in label.replace("_", " "):
        page.keyboard.type(ch)  # type: ignore[attr-defined]
        typed += ch
        first = page.locator("#options .option").first  # type: ignore[attr-defined]
        if first.get_attribute("data-label") == label:
            break
    page.keyboard.press("Enter")  # type: ignore[attr-defined]


def _answer(page: object, mode: str, ex: Example) -> None:
    """Answer the card on ``page`` the way a person at the keyboard would, keys only."""
    from distil_annotate.testing import SELECT

    loc = page.locator  # type: ignore[attr-defined]
    keys = page.keyboard  # type: ignore[attr-defined]
    if mode == "binary":
        keys.press("a")
    elif mode.startswith("choice"):
        gold = (ex.labels or [""])[0]
        shown = loc("#options .option").evaluate_all("bs => bs.map(b => b.dataset.label)")
        if gold in shown:
            keys.press(str(shown.index(gold) + 1))
        else:
            _search(page, gold)
    elif mode.startswith("multi"):
        ticked = set(
            loc("#chosen .chip").evaluate_all("cs => cs.map(c => c.textContent.slice(0, -2))")
        )
        for label in sorted(ticked ^ set(ex.labels or [])):
            _search(page, label)
        keys.press("Enter")
    else:
        missing = (ex.spans or [])[-1]
        keys.press(str(["PER", "ORG", "LOC", "MISC"].index(missing.label) + 1))
        page.evaluate(SELECT, [missing.start, missing.end])  # type: ignore[attr-defined]
        keys.press("Enter")


def run_browser_benchmark(cards: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    from distil_annotate.testing import CHROMIUM, CHROMIUM_ARGS

    data = shared_data_dir(Path(__file__))
    assert data is not None, "shared data not found"
    root = Path(tempfile.mkdtemp(prefix="distil-annotation-browser-"))
    results: list[tuple[str, int, float]] = []
    try:
        projects = _projects(data, root, cards)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for mode, (cfg, rows) in projects.items():
                server = Server(cfg).start()
                try:
                    pass_name = _open_fix_cards(server, mode, rows, cards)
                    page = browser.new_page()
                    page.set_default_timeout(15_000)
                    page.goto(f"{server.url}/?session=bench&pass={pass_name}")
                    by_id = {ex.id: ex for ex in rows}
                    page.locator("#card[data-example]").wait_for(state="attached")
                    started = time.perf_counter()
                    for _ in range(cards):
                        eid = str(page.locator("#card").get_attribute("data-example"))
                        _answer(page, mode, by_id[eid])
                        expect(page.locator("#status")).to_contain_text(f"for {eid}")
                    results.append((mode, cards, (time.perf_counter() - started) / cards))
                    page.close()
                finally:
                    server.stop()
            browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {machine()}")
    print("| mode | cards | seconds per card (keys only, no thinking time) |")
    print("|---|---:|---:|")
    for mode, n, per in results:
        print(f"| {mode} | {n} | {per:.3f} |")


if __name__ == "__main__":
    main()
