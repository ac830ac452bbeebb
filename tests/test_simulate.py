"""`distil simulate`: an oracle annotator replays the annotation app on a copy of the store.

The project is the shipped quickstart sample (280 sms_spam train texts, 180 gold) with a fast
keyword teacher and a word-vote student registered by a small plugin below (the zero-shot teacher
is real but slow to load), installed as a real distribution for the one test that runs the
`distil simulate` command; the multi-label test trains the scikit-learn student.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import distil
from cli_helpers import make_dist, run_distil
from distil.annotate import Workspace
from distil.annotate.resolve import resolve_answers
from distil.errors import ConfigError, DataError
from distil.plugins import PluginHost
from distil.project import Project
from distil.records import Example
from distil.simulate import ORACLE, SimulateError, load_oracle, random_cards, simulate
from distil.store.sqlite import Store
from distil.testing.students import multilabel_examples
from distil.train import merge_labels

PACKAGED = Path(distil.__file__).parent / "data" / "quickstart" / "sms_spam"

#: The plugin both the in-process tests and the CLI test load: a teacher that reads keywords (it
#: misses spam without them, so the oracle has something to correct) and the word-vote student.
PLUGIN = '''
import asyncio
import re

import distil
from distil.testing.executors import KeywordStudent

WORD = re.compile(r"[a-z0-9']+")
SPAM = frozenset({"free", "win", "won", "prize", "call", "txt", "claim", "cash", "urgent"})
#: The multi-label teacher knows only the first two keywords of each label.
HINTS = {"billing": ("invoice", "refund"), "bug": ("crash", "error"), "praise": ("love", "great")}


class HintTeacher(distil.Teacher):
    """Keywords: spam with a spammy word (more words, more confident), else ham; multi-label: a
    label when one of its two hint words shows. Deterministic, no model."""

    def source(self, task):
        return "teacher:simtest.hints#v1"

    async def alabel(self, task, examples, on_results=None):
        preds = []
        for ex in examples:
            words = set(WORD.findall(ex.text.lower()))
            if task.multilabel:
                labels = [label for label, hints in HINTS.items() if words & set(hints)]
                confidence = 0.6 + 0.1 * len(labels)
            else:
                hits = len(words & SPAM)
                labels = ["spam" if hits else "ham"]
                confidence = min(0.99, 0.5 + 0.2 * hits) if hits else 0.5 + len(words) / 100
            preds.append(
                distil.Prediction(
                    example_id=ex.id,
                    source=self.source(task),
                    output=distil.Categories(labels=labels),
                    confidence=min(confidence, 0.99),
                )
            )
        if on_results is not None:
            maybe = on_results(preds)
            if asyncio.iscoroutine(maybe):
                await maybe
        return preds


@distil.hookimpl
def register_teachers(register):
    register("simtest.hints.v1", HintTeacher)


@distil.hookimpl
def register_students(register):
    register("simtest.votes.v1", KeywordStudent)
'''

CONFIG = """
[project]
store = "distil.db"
output = "output"

[task]
@tasks = "textcat.v1"
labels = ["ham", "spam"]

[teacher]
@teachers = "simtest.hints.v1"

{student}

[data]
train = "distil:quickstart/sms_spam/train.jsonl"
gold = "distil:quickstart/sms_spam/test.jsonl"
{limits}

[evaluate]
n_boot = 200
{train}
"""
STUDENT = '[student]\n@students = "simtest.votes.v1"'
#: Trust scores cost `folds` more fits per retrain; the tests that do not look at the queue skip them.
NO_TRUST = "[train]\ntrust = false"
CHECK_ANSWERS = {"accept", "reject"}


def rows(split: str) -> list[dict[str, Any]]:
    text = (PACKAGED / f"{split}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_oracle(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text(
        "".join(json.dumps({"id": r["id"], "labels": r["labels"]}) + "\n" for r in items),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def plugin() -> types.ModuleType:
    module = types.ModuleType("distil_simtest")
    exec(compile(PLUGIN, "distil_simtest.py", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def host(plugin: types.ModuleType) -> PluginHost:
    return PluginHost(entry_points=False, modules=[("simtest", plugin)], strict=True)


def config_text(student: str = STUDENT, limits: str = "", train: str = "") -> str:
    return CONFIG.format(student=student, limits=limits, train=train)


def open_project(
    folder: Path, host: PluginHost, student: str = STUDENT, limits: str = ""
) -> Project:
    cfg = folder / "distil.cfg"
    cfg.write_text(config_text(student, limits), encoding="utf-8")
    return Project.from_config(cfg, host=host)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, host: PluginHost) -> Iterator[dict[str, Any]]:
    """One `both` simulation (budget 60, step 30) with an oracle that knows every other train id
    and a few gold-set ids (which must never be used)."""
    folder = tmp_path_factory.mktemp("simulate")
    train = rows("train")
    known = train[::2]
    oracle = write_oracle(folder / "oracle.jsonl", known + rows("test")[:5])
    with open_project(folder, host) as project:
        result = simulate(project, oracle, 60, 30, "both", 7, folder / "out")
        user_store = project.config.store_path
        teacher_source = project.teacher_source
    yield {
        "result": result,
        "folder": folder,
        "out": folder / "out",
        "known": {r["id"]: r["labels"] for r in known},
        "train": {r["id"]: r for r in train},
        "user_store": user_store,
        "teacher_source": teacher_source,
    }


def annotations(path: Path) -> list[distil.Annotation]:
    with Store(path) as store:
        return store.annotations()


# -- the result ------------------------------------------------------------------------------------
def test_the_json_has_exactly_the_documented_keys(run: dict[str, Any]) -> None:
    data = json.loads((run["out"] / "simulate.json").read_text())
    assert set(data) == {"metric", "teacher", "curves", "queue_vs_random"}
    assert data["metric"] == "macro_f1"
    assert set(data["teacher"]) == {"score", "ci"}
    assert list(data["curves"]) == ["queue", "random"]
    for points in data["curves"].values():
        assert [p["cards"] for p in points] == [0, 30, 60]
        for p in points:
            assert set(p) == {"cards", "changed", "score", "ci", "delta", "delta_ci"}
            assert p["ci"][0] <= p["score"] <= p["ci"][1]
            assert p["delta_ci"][0] <= p["delta"] <= p["delta_ci"][1]
    assert set(data["queue_vs_random"]) == {"cards", "delta", "ci"}
    assert data["queue_vs_random"]["cards"] == 60
    # The returned dict is the file plus `details` (paths, coverage, ignored cards).
    result = dict(run["result"])
    details = result.pop("details")
    assert result == data
    assert details["oracle"] == {
        "path": str(run["folder"] / "oracle.jsonl"),
        "rows": 145,
        "in_train": 140,
        "not_in_train": 5,
    }


def test_step_zero_is_the_teacher_labels_alone_for_both_orders(run: dict[str, Any]) -> None:
    curves = run["result"]["curves"]
    assert curves["queue"][0] == curves["random"][0]
    assert curves["queue"][0]["cards"] == curves["queue"][0]["changed"] == 0


def test_teacher_score_is_the_one_distil_evaluate_reports(
    run: dict[str, Any], host: PluginHost, tmp_path: Path
) -> None:
    # Evaluate the user's project (teacher only: nothing was trained in the user's store).
    with Project.from_config(run["folder"] / "distil.cfg", host=host) as project:
        report, _ = project.evaluate(tmp_path / "report")
    [teacher] = [s for s in report["sources"] if s["role"] == "teacher"]
    assert run["result"]["teacher"] == {
        "score": teacher["scores"]["macro_f1"],
        "ci": teacher["scores"]["ci"]["macro_f1"],
    }
    step0 = run["result"]["curves"]["queue"][0]
    assert step0["delta"] == pytest.approx(step0["score"] - teacher["scores"]["macro_f1"])


def test_the_same_seed_gives_the_same_json(
    run: dict[str, Any], host: PluginHost, tmp_path: Path
) -> None:
    oracle = run["folder"] / "oracle.jsonl"
    with Project.from_config(run["folder"] / "distil.cfg", host=host) as project:
        simulate(project, oracle, 60, 30, "both", 7, tmp_path / "again")
    first = (run["out"] / "simulate.json").read_bytes()
    assert (tmp_path / "again" / "simulate.json").read_bytes() == first


# -- the oracle and the stores ---------------------------------------------------------------------
def test_the_oracle_answers_only_ids_of_its_file_as_the_only_annotator(
    run: dict[str, Any],
) -> None:
    known = run["known"]
    for order in ("queue", "random"):
        events = annotations(run["out"] / f"simulate-{order}.db")
        assert events and {a.annotator for a in events} == {ORACLE}
        answered = [a for a in events if a.answer != "ignore"]
        assert {a.example_id for a in answered} <= set(known)
        ignored = [a for a in events if a.answer == "ignore"]
        assert not {a.example_id for a in ignored} & set(known)
        assert {a.example_id for a in ignored} <= set(run["train"])
        assert len(ignored) == run["result"]["details"]["ignored"][order] > 0
        for a in answered:
            if a.answer == "correct":
                assert a.pass_name == "fix" and a.output.labels == known[a.example_id]


def test_cards_and_changed_add_up_with_what_the_copy_stores(run: dict[str, Any]) -> None:
    for order in ("queue", "random"):
        final = run["result"]["curves"][order][-1]
        events = annotations(run["out"] / f"simulate-{order}.db")
        checks = [a for a in events if a.pass_name == "check" and a.answer in CHECK_ANSWERS]
        corrections = [a for a in events if a.answer == "correct"]
        assert len(checks) == final["cards"] == 60
        assert len(corrections) == final["changed"] <= final["cards"]
        assert sorted(a.example_id for a in corrections) == sorted(
            a.example_id for a in checks if a.answer == "reject"
        )
        points = run["result"]["curves"][order]
        assert [p["changed"] for p in points] == sorted(p["changed"] for p in points)


def test_the_last_student_learned_the_oracle_answers(run: dict[str, Any]) -> None:
    task = distil.TextCat(["ham", "spam"])
    for order in ("queue", "random"):
        final = run["result"]["curves"][order][-1]
        ignored = run["result"]["details"]["ignored"][order]
        events = annotations(run["out"] / f"simulate-{order}.db")
        reviewed = {a.example_id for a in events if a.answer in CHECK_ANSWERS}
        with Store(run["out"] / f"simulate-{order}.db") as store:
            stats = store.runs("train")[0]["stats"]
            pairs = merge_labels(store, task, "train", run["teacher_source"]).pairs
        assert stats["from_answers"] == {
            "accept": final["cards"] - final["changed"],
            "correct": final["changed"],
        }
        assert stats["dropped"] == {"human_ignore": ignored}
        assert stats["n_train"] == 280 - ignored
        labels = {ex.id: out.labels for ex, out in pairs}
        assert len(reviewed) == final["cards"]
        assert {i: labels[i] for i in reviewed} == {i: run["known"][i] for i in reviewed}
        assert Path(run["result"]["details"]["students"][order]).is_dir()


def test_each_order_starts_where_its_workspace_would(run: dict[str, Any]) -> None:
    task = distil.TextCat(["ham", "spam"])
    for order in ("queue", "random"):
        with Store(run["out"] / f"simulate-{order}.db") as store:
            step0 = store.runs("train")[-1]["stats"]  # the oldest run: the teacher's labels alone
            ws = Workspace(
                store,
                task,
                teacher_source=run["teacher_source"],
                student_source=step0["source"],
                trust_source=step0.get("trust_source"),
            )
            first = store.annotations()[0]
            if order == "queue":
                expected = ws.state("someone-else", "check")["card"]["example_id"]
            else:
                expected = random_cards(ws, 7)[0][1]
        assert first.pass_name == "check" and first.example_id == expected


def test_the_users_store_gets_the_teacher_labels_and_no_answer(run: dict[str, Any]) -> None:
    with Store(run["user_store"]) as store:
        assert store.annotations() == []
        assert store.runs("train") == []
        train_ids = [ex.id for ex in store.examples("train")]
        gold_ids = [ex.id for ex in store.examples("gold")]
        assert len(store.predictions(run["teacher_source"], train_ids)) == 280
        assert len(store.predictions(run["teacher_source"], gold_ids)) == 180
        assert not [s for s in store.sources() if s.startswith("student:")]


def test_markdown_and_plot_show_every_point(run: dict[str, Any]) -> None:
    md = (run["out"] / "simulate.md").read_text()
    assert "| cards | changed | macro-F1 [95% CI] | Δ vs teacher [95% CI] |" in md
    for order in ("queue", "random"):
        assert f"## {order} order" in md
        for p in run["result"]["curves"][order]:
            assert f"| {p['cards']:,} | {p['changed']:,} | {p['score']:.3f} " in md
        ignored = run["result"]["details"]["ignored"][order]
        assert f"{ignored:,} card(s) answered `ignore`" in md
    assert "queue − random macro-F1" in md
    png = (run["out"] / "simulate.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_the_majority_class_baseline_is_the_teachers_most_frequent_train_label(
    run: dict[str, Any],
) -> None:
    from collections import Counter

    import distil.store.sqlite as sqlite

    with sqlite.Store(run["user_store"]) as store:
        preds = store.predictions(run["teacher_source"], list(run["train"]))
    counts = Counter(p.output.labels[0] for p in preds.values() if p.ok)
    top = max(sorted(counts), key=counts.__getitem__)
    baseline = run["result"]["details"]["baseline"]
    assert baseline["label"] == top
    gold = rows("test")
    # macro-F1 of always `top`: F1 of that label averaged with 0 for every other gold label
    n_top = sum(r["labels"] == [top] for r in gold)
    f1_top = 2 * n_top / (len(gold) + n_top)
    n_labels = len({r["labels"][0] for r in gold} | {top})
    assert baseline["score"] == pytest.approx(f1_top / n_labels)
    md = (run["out"] / "simulate.md").read_text()
    assert f"Majority-class baseline (always `{top}`" in md


def test_a_relative_output_folder_is_the_working_directory_s_not_the_config_s(
    tmp_path: Path, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_dir, cwd = tmp_path / "project", tmp_path / "cwd"
    project_dir.mkdir()
    cwd.mkdir()
    oracle = write_oracle(tmp_path / "oracle.jsonl", rows("train"))
    monkeypatch.chdir(cwd)
    with open_project(project_dir, host) as project:
        result = simulate(project, oracle, 20, 20, "queue", 0, "sim-out")
    assert [p["cards"] for p in result["curves"]["queue"]] == [0, 20]
    assert (cwd / "sim-out" / "simulate.json").is_file()
    copy = cwd / "sim-out" / "simulate-queue.db"
    assert len([a for a in annotations(copy) if a.pass_name == "check"]) == 20
    assert not (project_dir / "sim-out").exists()


# -- limits ----------------------------------------------------------------------------------------
def test_a_budget_beyond_the_cards_stops_when_the_check_pass_runs_out(
    tmp_path: Path, host: PluginHost
) -> None:
    oracle = write_oracle(tmp_path / "oracle.jsonl", rows("train"))
    with open_project(tmp_path, host, limits="train_limit = 35") as project:
        result = simulate(project, oracle, 1000, 20, "random", 1, tmp_path / "out")
    points = result["curves"]["random"]
    assert [p["cards"] for p in points] == [0, 20, 35]
    assert result["details"]["ignored"] == {"random": 0}
    events = annotations(tmp_path / "out" / "simulate-random.db")
    assert len({a.example_id for a in events if a.pass_name == "check"}) == 35


def test_a_multilabel_oracle_fixes_each_rejected_label_and_training_takes_its_answer(
    tmp_path: Path, plugin: types.ModuleType
) -> None:
    host = PluginHost(modules=[("simtest", plugin)])  # installed plugins too: the sklearn student
    train, gold = multilabel_examples(80, seed=11), multilabel_examples(60, seed=12)
    for name, items in (("train", train), ("gold", gold)):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(ex.model_dump_json() + "\n" for ex in items), encoding="utf-8"
        )
    write_oracle(tmp_path / "oracle.jsonl", [ex.model_dump() for ex in train])
    (tmp_path / "distil.cfg").write_text(
        '[task]\n@tasks = "textcat.v1"\nlabels = ["billing", "bug", "praise"]\nmultilabel = true\n\n'
        '[teacher]\n@teachers = "simtest.hints.v1"\n\n'
        '[student]\n@students = "sklearn.textcat.v1"\n\n'
        '[data]\ntrain = "train.jsonl"\ngold = "gold.jsonl"\n\n' + NO_TRUST + "\n"
    )
    with Project.from_config(tmp_path / "distil.cfg", host=host) as project:
        result = simulate(project, tmp_path / "oracle.jsonl", 120, 60, "queue", 0, tmp_path / "o")
        task, source = project.config.task, project.teacher_source
    assert result["metric"] == "macro_f1"
    points = result["curves"]["queue"]
    assert [p["cards"] for p in points] == [0, 60, 120]
    events = annotations(tmp_path / "o" / "simulate-queue.db")
    checks = [a for a in events if a.pass_name.startswith("check:") and a.answer != "ignore"]
    rejects = [a for a in checks if a.answer == "reject"]
    assert len(checks) == 120 and {a.pass_name for a in checks} >= {"check:billing"}
    assert len(rejects) == points[-1]["changed"] == sum(a.answer == "correct" for a in events)
    truth = {ex.id: ex.labels for ex in train}
    resolved = resolve_answers(events)
    for a in rejects:
        assert resolved[a.example_id].answer == "correct"
        assert resolved[a.example_id].output.labels == truth[a.example_id]
    with Store(tmp_path / "o" / "simulate-queue.db") as store:
        labels = {ex.id: out.labels for ex, out in merge_labels(store, task, "train", source).pairs}
    for a in rejects:
        assert labels[a.example_id] == truth[a.example_id]


# -- errors ----------------------------------------------------------------------------------------
def test_arguments_and_oracle_lines_are_checked_before_the_teacher_runs(
    tmp_path: Path, host: PluginHost
) -> None:
    good = write_oracle(tmp_path / "good.jsonl", rows("train")[:5])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "sms-03816", "labels": ["ham"]}\n\n{"id": "x", "labels": \n')
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"id": "sms-03816", "labels": ["eggs"]}\n')
    elsewhere = write_oracle(tmp_path / "elsewhere.jsonl", rows("test")[:5])  # gold ids only
    with open_project(tmp_path, host) as project:
        with pytest.raises(DataError, match=r"oracle file not found: .*missing\.jsonl"):
            simulate(project, tmp_path / "missing.jsonl", 10, 5)
        with pytest.raises(DataError, match=re.escape(f"{bad}:3: ")):
            simulate(project, bad, 10, 5)
        with pytest.raises(
            DataError, match=re.escape(f"{unknown}:1: the answer does not fit") + ".*eggs"
        ):
            simulate(project, unknown, 10, 5)
        with pytest.raises(DataError, match="none of its 5 answer"):
            simulate(project, elsewhere, 10, 5)
        with pytest.raises(SimulateError, match="--budget must be a positive"):
            simulate(project, good, 0, 5)
        with pytest.raises(SimulateError, match="--step must be a positive"):
            simulate(project, good, 10, -1)
        with pytest.raises(SimulateError, match="--order must be queue, random or both"):
            simulate(project, good, 10, 5, "sideways")
        with Store(project.config.store_path) as store:
            assert store.sources() == []  # nothing was labelled
    no_student = open_project(tmp_path, host, student="")
    with no_student, pytest.raises(ConfigError, match=r"no \[student\] section"):
        simulate(no_student, good, 10, 5)


def test_an_oracle_span_outside_the_stored_text_names_its_line(tmp_path: Path) -> None:
    task = distil.NerTask(["PER", "LOC"])
    text = "🎉 Ada Lovelace met Babbage in London"
    train = {"w-1": Example(id="w-1", text=text)}
    path = tmp_path / "oracle.jsonl"
    path.write_text(
        json.dumps({"id": "w-1", "spans": [{"start": 2, "end": 14, "label": "PER"}]})
        + "\n"
        + json.dumps({"id": "w-1", "spans": [{"start": 31, "end": 40, "label": "LOC"}]})
        + "\n"
    )
    with pytest.raises(
        DataError, match=re.escape(f"{path}:2: span 31-40 is outside the stored text")
    ):
        load_oracle(path, task, train)
    path.write_text(
        json.dumps({"id": "w-1", "spans": [{"start": 2, "end": 14, "label": "PER"}]}) + "\n"
    )
    oracle = load_oracle(path, task, train)
    [span] = oracle.answers["w-1"].spans
    assert text[span.start : span.end] == "Ada Lovelace"


# -- the command -----------------------------------------------------------------------------------
def test_the_command_prints_the_table_and_writes_the_files(
    tmp_path: Path, plugin_path: Path
) -> None:
    make_dist(plugin_path, "distil-simtest", PLUGIN)
    env = {"PYTHONPATH": str(plugin_path)}
    (tmp_path / "distil.cfg").write_text(config_text(train=NO_TRUST))
    oracle = write_oracle(tmp_path / "oracle.jsonl", rows("train"))
    args = ["simulate", str(tmp_path / "distil.cfg"), "--oracle", str(oracle)]
    result = run_distil(
        *args,
        "--budget",
        "40",
        "--step",
        "20",
        "--order",
        "random",
        "--seed",
        "3",
        "--output",
        str(tmp_path / "out"),
        env=env,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "out" / "simulate.json").read_text())
    assert set(data) == {"metric", "teacher", "curves"}
    assert [p["cards"] for p in data["curves"]["random"]] == [0, 20, 40]
    assert "| cards | changed | macro-F1 [95% CI] | Δ vs teacher [95% CI] |" in result.stdout
    last = data["curves"]["random"][-1]
    assert f"| 40 | {last['changed']} | {last['score']:.3f} " in result.stdout
    assert f"wrote {tmp_path / 'out' / 'simulate.json'}" in result.stdout

    missing = run_distil(
        *args[:2],
        "--oracle",
        str(tmp_path / "nope.jsonl"),
        "--budget",
        "4",
        "--step",
        "2",
        "--output",
        str(tmp_path / "out2"),
        env=env,
    )
    assert missing.returncode == 1
    assert "oracle file not found" in missing.stderr and "nope.jsonl" in missing.stderr
    assert not (tmp_path / "out2").exists()


def test_simulate_is_exported_as_the_function_even_after_importing_its_module() -> None:
    import importlib

    module = importlib.import_module("distil.simulate")
    assert distil.simulate is simulate is module.simulate
    assert "simulate" in distil.__all__
