"""``distil simulate``: plan an annotation budget by replaying the annotation app with an oracle.

How many cards must a team review before the student beats the teacher? :func:`simulate` answers
it before anyone annotates: an *oracle* annotator, who knows only the answers of one JSONL file
(``{"id", "labels"|"spans"}``, the data schema), works through the same :class:`Workspace` the app
serves, and after every ``step`` cards the student is retrained and scored on the gold set.

What a caller may rely on:

* **The user's store gets the teacher's work only.** The train and gold sets are labelled with the
  teacher in the project's own store (resumable and cached, exactly as ``distil label`` does), then
  the store is copied with SQLite's backup API to ``DIR/simulate-<order>.db`` and every answer,
  training run and prediction of the simulation goes to the copy. The copy starts without any
  annotation (a team's own answers are left out: step 0 is the teacher's labels alone), and every
  annotation it ends with is the oracle's (annotator ``oracle``).
* **The oracle sees no other gold.** Not the config's gold set, not the labels of the train file:
  a card whose example is not in the oracle file is answered ``ignore`` (which, as in the app,
  leaves the example out of training) and is not counted as reviewed.
* **A card** is one answered card of a check pass (``check``; ``check:LABEL`` per label, and the
  span tasks' ``check:none``). The oracle accepts when the teacher's answer agrees with its own on
  the card's question, else it rejects and answers the ``fix`` card with its whole answer
  (``correct``). ``changed`` counts those rejections, each one stored correction (a multi-label or
  span example rejected in two check passes is corrected twice, the later answer replacing the
  earlier, so a correction is the last word on it as :mod:`distil.annotate.resolve` requires).
* **Orders.** ``queue``: the Workspace's own queue (the ``[annotate] queue`` strategy, then the
  queue plugins), rebuilt after every retrain so it re-ranks with the new student's predictions
  and trust scores. ``random``: the check passes'
  open cards in one seeded shuffle. ``both`` runs the two on separate copies and compares their
  final students on gold with a paired bootstrap.
* **Scores** are the evaluate report's headline metric (span-exact micro-F1 for ``ner``/``spans``,
  macro-F1 otherwise) with the task scorer's 95% bootstrap interval; ``delta`` is student minus
  teacher with a paired bootstrap on the same gold rows (``[evaluate] n_boot`` and ``seed``).
* **Deterministic.** For one seed, data and config, ``simulate.json`` is the same on every run (no
  timings, paths or run ids in it; the returned dict's ``details`` has the paths).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, DataError, DistilError
from .records import Categories

if TYPE_CHECKING:
    from .annotate.passes import Pass
    from .annotate.session import Workspace
    from .project import Project
    from .records import Example, TaskOutput
    from .tasks import Task

__all__ = [
    "ORACLE",
    "ORDERS",
    "Oracle",
    "SimulateError",
    "copy_store",
    "load_oracle",
    "random_cards",
    "simulate",
]

#: The annotator name of every answer the simulation stores.
ORACLE = "oracle"
#: The review orders; ``both`` runs each of them on its own copy of the store.
ORDERS = ("queue", "random")

ProgressFactory = Callable[[str, int], Callable[[int], None]]


class SimulateError(DistilError):
    """A simulation that cannot run as asked (budget, step or order out of range, a task kind
    the oracle cannot answer)."""

    code = "E011"


# -- the oracle -------------------------------------------------------------------------------------
@dataclass
class Oracle:
    """The oracle's answers by train example id: all the gold it ever sees.

    ``rows`` counts the answers in the file; ``not_in_train`` those whose id the train set of the
    store does not have (they can never come up on a card).
    """

    path: Path
    answers: dict[str, TaskOutput]
    rows: int = 0
    not_in_train: int = 0

    def answer(self, example_id: str) -> TaskOutput | None:
        return self.answers.get(example_id)


def load_oracle(path: str | Path, task: Task, train: dict[str, Example]) -> Oracle:
    """Read the oracle file: one ``{"id", "labels"}`` (textcat) or ``{"id", "spans"}`` row a line.

    Other keys (``text``, ``meta``...) are ignored, so a data file with gold answers serves as it
    is. Raises :class:`DataError` naming ``file:line`` for a line that is not a JSON object, a row
    without an id or answer, an answer that does not fit the task (unknown label, span outside
    the stored text) and an id given twice with different answers.
    """
    from pydantic import ValidationError

    from .records import Example
    from .store.jsonl import LineError, iter_jsonl_dicts

    source = Path(path)
    if not source.is_file():
        raise DataError(f"oracle file not found: {source}: pass --oracle a JSONL file of answers")
    key = task.answer_field
    oracle = Oracle(path=source, answers={})
    seen: dict[str, tuple[int, Any]] = {}
    for line, row in iter_jsonl_dicts(source):
        where = f"{source}:{line}"
        if isinstance(row, LineError):
            raise DataError(f"{where}: {row.reason}")
        example_id = row.get("id")
        if not isinstance(example_id, str) or not example_id:
            raise DataError(f"{where}: each oracle row needs a non-empty string 'id'")
        if row.get(key) is None:
            raise DataError(f"{where}: a {task.kind} oracle answer needs '{key}'")
        stored = train.get(example_id)
        try:
            gold = Example.model_validate(
                {"id": example_id, "text": stored.text if stored else "", key: row[key]}
            )
            output = task.reference(gold)
            assert output is not None  # the answer key is there
            output = task.validate_output(output)
        except (ValidationError, DistilError) as exc:
            raise DataError(f"{where}: the answer does not fit the task: {exc}") from None
        if stored is not None:
            _check_span_bounds(output, stored.text, where)
        dumped = output.model_dump()
        if example_id in seen:
            first, answer = seen[example_id]
            if answer != dumped:
                raise DataError(
                    f"{where}: id {example_id!r} is answered differently on line {first}: "
                    "keep one answer per id"
                )
            continue
        seen[example_id] = (line, dumped)
        oracle.rows += 1
        if stored is None:
            oracle.not_in_train += 1
        else:
            oracle.answers[example_id] = output
    if not oracle.answers:
        raise DataError(
            f"{source}: none of its {oracle.rows} answer(s) is for an example of the train set "
            "(ids are matched exactly): check that it answers the config's [data] train file"
        )
    return oracle


def _check_span_bounds(output: TaskOutput, text: str, where: str) -> None:
    from .records import Spans

    if isinstance(output, Spans):
        for s in output.spans:
            if s.end > len(text) or s.start >= s.end:
                raise DataError(
                    f"{where}: span {s.start}-{s.end} is outside the stored text "
                    f"(length {len(text)} code points)"
                )


# -- answering cards --------------------------------------------------------------------------------
def _headline_metric(task: Task) -> str:
    """The evaluate report's headline (the task's: span-exact micro-F1 for span tasks, else
    macro-F1)."""
    return task.headline_metric


def _question(p: Pass, output: TaskOutput | None) -> Any:
    """The part of an output a check card asks about: the whole label set (exclusive textcat),
    whether ``p.label`` applies (multi-label), the spans labelled ``p.label``, or every span (the
    span tasks' "is there really no entity?" pass, whose teacher side is always empty)."""
    from .records import Categories, Spans

    if isinstance(output, Categories):
        if p.label is not None:
            return p.label in output.labels
        return tuple(sorted(output.labels))
    if isinstance(output, Spans):
        return tuple(
            sorted(
                (s.start, s.end, s.label)
                for s in output.spans
                if p.label is None or s.label == p.label
            )
        )
    return None


@dataclass
class _Tally:
    """What the oracle did so far in one order (cumulative over steps)."""

    cards: int = 0
    changed: int = 0
    ignored: int = 0


def _review(ws: Workspace, pass_name: str, example_id: str, oracle: Oracle, tally: _Tally) -> None:
    """Answer one check card as the oracle, and its fix card when the teacher was wrong."""
    from .annotate.passes import FIX_PASS

    gold = oracle.answer(example_id)
    if gold is None:
        ws.answer(ORACLE, pass_name, example_id, "ignore")
        tally.ignored += 1
        return
    p = ws.get_pass(pass_name)
    teacher = ws.teacher[example_id].output
    if _question(p, teacher) == _question(p, gold):
        ws.answer(ORACLE, pass_name, example_id, "accept")
    else:
        ws.answer(ORACLE, pass_name, example_id, "reject")
        ws.answer(ORACLE, FIX_PASS, example_id, "correct", gold)
        tally.changed += 1
    tally.cards += 1


def _queue_cards(ws: Workspace, oracle: Oracle, tally: _Tally, target: int) -> bool:
    """Answer the Workspace's next cards (its own queue) until ``target`` cards; False when the
    check passes ran out first."""
    while tally.cards < target:
        card = ws.state(ORACLE)["card"]
        if card is None or not ws.get_pass(card["pass"]).is_check:
            return False  # the fix card of each rejection is answered at once: checks are done
        _review(ws, card["pass"], card["example_id"], oracle, tally)
    return True


def random_cards(ws: Workspace, seed: int) -> deque[tuple[str, str]]:
    """Every check card of the workspace as ``(pass, example id)``, in one seeded shuffle.

    Built from the public API: a check pass holds the examples its :meth:`Pass.holds` accepts of
    the teacher's predictions (the queue may still leave some out; those are skipped later).
    """
    cards = [
        (p.name, example_id)
        for p in ws.passes
        if p.is_check
        for example_id in ws.examples
        if p.holds(ws.teacher.get(example_id))
    ]
    random.Random(seed).shuffle(cards)
    return deque(cards)


def _random_cards(
    ws: Workspace, order: deque[tuple[str, str]], oracle: Oracle, tally: _Tally, target: int
) -> bool:
    """Answer the shuffled cards still open, through ``state(prefer=...)`` as the app shows a
    chosen card, until ``target`` cards; False when they ran out first."""
    while tally.cards < target:
        if not order:
            return False
        pass_name, example_id = order.popleft()
        card = ws.state(ORACLE, pass_name, prefer=example_id)["card"]
        if card is None or (card["pass"], card["example_id"]) != (pass_name, example_id):
            continue  # not open in that pass (a queue plugin left it out): not a card
        _review(ws, pass_name, example_id, oracle, tally)
    return True


# -- scoring ---------------------------------------------------------------------------------------
@dataclass
class _Gold:
    """The gold rows, the teacher's answers on them, and how to compare a source with them."""

    task: Task
    ids: list[str]
    outputs: list[TaskOutput]
    teacher: list[TaskOutput | None]
    metric: str
    n_boot: int
    seed: int

    def score(self, predicted: list[TaskOutput | None]) -> tuple[float, list[float]]:
        scores = self.task.score(self.outputs, predicted)
        return float(scores[self.metric]), [float(x) for x in scores["ci"][self.metric]]

    def paired(self, a: list[TaskOutput | None], b: list[TaskOutput | None]) -> dict[str, Any]:
        return self.task.paired_bootstrap(
            self.outputs,
            a,
            b,
            metric=self.metric,
            n_boot=self.n_boot,
            seed=self.seed,
        )


def _gold_rows(project: Project, teacher_source: str) -> _Gold:
    task = project.config.task
    examples = project.store.examples("gold")
    outputs: list[TaskOutput] = []
    for ex in examples:
        ref = task.reference(ex)
        if ref is None:
            raise DataError(f"gold example '{ex.id}' has no reference answer (labels or spans)")
        outputs.append(ref)
    ids = [ex.id for ex in examples]
    preds = project.store.predictions(teacher_source, ids, dataset="gold")
    settings = project.config.evaluate
    return _Gold(
        task=task,
        ids=ids,
        outputs=outputs,
        teacher=[preds[i].output if i in preds and preds[i].ok else None for i in ids],
        metric=_headline_metric(task),
        n_boot=settings.n_boot,
        seed=settings.seed,
    )


@dataclass
class _Curve:
    order: str
    points: list[dict[str, Any]] = field(default_factory=list)
    tally: _Tally = field(default_factory=_Tally)
    final: list[TaskOutput | None] = field(default_factory=list)
    store: str = ""
    student: str = ""


def _point(project: Project, gold: _Gold, tally: _Tally) -> tuple[dict[str, Any], list[Any]]:
    """Predict gold with the latest student of ``project`` (stored in its store) and score it."""
    project.predict("gold")
    latest = project.latest_student()
    assert latest is not None  # train() has just finished a run
    preds = project.store.predictions(latest[1], gold.ids, dataset="gold")
    outputs = [preds[i].output if i in preds and preds[i].ok else None for i in gold.ids]
    score, ci = gold.score(outputs)
    comp = gold.paired(outputs, gold.teacher)
    point = {
        "cards": tally.cards,
        "changed": tally.changed,
        "score": score,
        "ci": ci,
        "delta": float(comp["delta"]),
        "delta_ci": [float(x) for x in comp["ci"]],
    }
    return point, outputs


# -- the copy --------------------------------------------------------------------------------------
def _majority_baseline(project: Project, teacher_source: str, gold: _Gold) -> dict[str, Any] | None:
    """The score of always answering the teacher's most frequent train label (exclusive textcat
    only): what a student must beat before it has learned anything."""
    from .evaluate.stage import majority_label

    # Train labels only: the teacher has labelled the gold set too, and gold must not leak in.
    found = majority_label(project.store, project.config.task, teacher_source)
    if found is None:
        return None
    label = found[0]
    score, ci = gold.score([Categories(labels=[label]) for _ in gold.ids])
    return {"label": label, "score": score, "ci": ci}


def copy_store(source: Path, target: Path) -> None:
    """Copy the store at ``source`` to ``target`` with SQLite's online backup API (a consistent
    snapshot, WAL included, while other connections stay open), then drop the copy's annotations
    so that it starts from the teacher's labels alone. ``target`` is replaced."""
    import sqlite3

    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("DELETE FROM annotations")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()


def _open_copy(project: Project, store: Path, output: Path) -> Project:
    """A project over the copy: same config and plugins, store and student models under DIR."""
    from dataclasses import replace

    from .project import Project

    section = project.config.project.model_copy(update={"store": str(store), "output": str(output)})
    return Project(replace(project.config, project=section), host=project.host)


def _run_order(
    order: str,
    project: Project,
    oracle: Oracle,
    gold: _Gold,
    budget: int,
    step: int,
    seed: int,
    out: Path,
    progress: ProgressFactory | None,
) -> _Curve:
    from .annotate.session import Workspace

    curve = _Curve(order, store=str(out / f"simulate-{order}.db"))
    copy_store(project.config.store_path, Path(curve.store))
    models = out / f"simulate-{order}"
    shutil.rmtree(models, ignore_errors=True)
    sim = _open_copy(project, Path(curve.store), models)
    advance = progress(f"simulate {order}", math.ceil(budget / step) + 1) if progress else None
    try:
        teacher_source = project.teacher_source
        if sim.teacher_source != teacher_source:
            raise SimulateError(
                f"the teacher's source changed between the store and its copy "
                f"({teacher_source} → {sim.teacher_source}): its tuning is not deterministic"
            )
        trained = sim.train()
        point, curve.final = _point(sim, gold, curve.tally)
        curve.points.append(point)
        if advance:
            advance(1)
        settings = sim.config.annotate  # the queue strategy the app would use
        shuffled: deque[tuple[str, str]] | None = None
        more = True
        while more and curve.tally.cards < budget:
            # A fresh workspace after each retrain: its queue re-ranks with the new student.
            ws = Workspace(
                sim.store,
                sim.config.task,
                dataset="train",
                teacher_source=teacher_source,
                student_source=trained.source,
                host=sim.host,
                queue=settings.queue,
                seed=settings.seed,
            )
            target = min(curve.tally.cards + step, budget)
            if order == "queue":
                more = _queue_cards(ws, oracle, curve.tally, target)
            else:
                if shuffled is None:
                    shuffled = random_cards(ws, seed)
                more = _random_cards(ws, shuffled, oracle, curve.tally, target)
            if curve.tally.cards == curve.points[-1]["cards"]:
                break  # no card left to review (ignored ones do not count)
            previous = trained.model_dir
            trained = sim.train()
            shutil.rmtree(previous, ignore_errors=True)  # only the latest student is kept
            point, curve.final = _point(sim, gold, curve.tally)
            curve.points.append(point)
            if advance:
                advance(1)
        curve.student = trained.model_dir
    finally:
        sim.close()
    return curve


# -- the entry point -------------------------------------------------------------------------------
def _orders(project: Project, budget: int, step: int, order: str) -> list[str]:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise SimulateError(f"--budget must be a positive number of cards, got {budget!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise SimulateError(f"--step must be a positive number of cards, got {step!r}")
    if order not in (*ORDERS, "both"):
        raise SimulateError(f"--order must be queue, random or both, got {order!r}")
    if project.config.student is None:
        raise ConfigError(
            "simulate trains a student after every step, but the config has no [student] "
            "section: add one (distil init shows the choices)"
        )
    task = project.config.task
    if not task.supports_simulation:
        raise SimulateError(
            f"simulate answers a task's cards from one oracle answer per example; a "
            f"{task.kind!r} task says it cannot be simulated (an extract task is annotated per "
            "subtask), so it is not supported yet"
        )
    return list(ORDERS) if order == "both" else [order]


def simulate(
    project: Project,
    oracle_path: str | Path,
    budget: int,
    step: int,
    order: str = "queue",
    seed: int = 0,
    output_dir: str | Path | None = None,
    *,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """Replay annotation with an oracle and return the curves (see the module docstring).

    Writes into ``output_dir`` (default ``<project output>/simulate``): ``simulate.json`` (the
    returned dict without ``details``), ``simulate.md`` (the tables), ``simulate.png`` where
    matplotlib is installed, and per order the store copy ``simulate-<order>.db`` and its latest
    student under ``simulate-<order>/``. The result holds ``metric``, ``teacher`` (score, ci),
    ``curves`` (order → points of cards, changed, score, ci, delta, delta_ci), with ``both`` also
    ``queue_vs_random`` (cards, delta, ci: queue minus random), and ``details``: the oracle's
    coverage, the ignored cards per order and the paths written.
    """
    orders = _orders(project, budget, step, order)
    project.import_data()
    train = {ex.id: ex for ex in project.store.examples("train")}
    oracle = load_oracle(oracle_path, project.config.task, train)
    project.label("train", progress=progress)
    project.label("gold", progress=progress)
    teacher_source = project.teacher_source
    gold = _gold_rows(project, teacher_source)
    # Absolute: the copies' store paths go into a config, where a relative path would be read
    # against the config file's folder, not the working directory the user meant.
    out = (
        Path(output_dir).resolve()
        if output_dir is not None
        else project.config.resolve_path(project.config.project.output).resolve() / "simulate"
    )
    out.mkdir(parents=True, exist_ok=True)
    curves = [
        _run_order(name, project, oracle, gold, budget, step, seed, out, progress)
        for name in orders
    ]
    teacher_score, teacher_ci = gold.score(gold.teacher)
    result: dict[str, Any] = {
        "metric": gold.metric,
        "teacher": {"score": teacher_score, "ci": teacher_ci},
        "curves": {c.order: c.points for c in curves},
    }
    if len(curves) == 2:
        queue, rand = curves
        comp = gold.paired(queue.final, rand.final)
        result["queue_vs_random"] = {
            "cards": queue.points[-1]["cards"],
            "delta": float(comp["delta"]),
            "ci": [float(x) for x in comp["ci"]],
        }
    paths = {"json": out / "simulate.json", "md": out / "simulate.md"}
    details: dict[str, Any] = {
        "baseline": _majority_baseline(project, teacher_source, gold),
        "teacher_source": teacher_source,
        "n_gold": len(gold.ids),
        "n_train": len(train),
        "oracle": {
            "path": str(oracle.path),
            "rows": oracle.rows,
            "in_train": len(oracle.answers),
            "not_in_train": oracle.not_in_train,
        },
        "ignored": {c.order: c.tally.ignored for c in curves},
        "stores": {c.order: c.store for c in curves},
        "students": {c.order: c.student for c in curves},
        "paths": {k: str(v) for k, v in paths.items()},
    }
    paths["json"].write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    from .evaluate.simulation import plot_simulation, simulate_markdown

    paths["md"].write_text(simulate_markdown(result, details), encoding="utf-8")
    with contextlib.suppress(ImportError):  # the plot needs matplotlib (the `plots` extra)
        details["paths"]["png"] = str(plot_simulation(result, out / "simulate.png"))
    return {**result, "details": details}
