"""One focused pass per subtask of an ``extract`` task, over the same store.

An ``extract`` record (an intent and its slots) is never one question: the planner
(:mod:`distil.extract.plan`) splits it into flat subtasks, and each subtask is annotated like a
task of its own kind (binary checks, single or multiple choice, span correction, review). This
module does not re-implement any of that: :class:`ExtractWorkspace` runs one ordinary
:class:`~distil.annotate.session.Workspace` per subtask, each over a :class:`SubtaskStore` view
of the project's store that

* shows the teacher's (and a student's) record as that subtask's answer, using the planner's own
  :meth:`~distil.extract.plan.Plan.split`. A record whose span values the split can place only in
  part (a value not in the text) is shown to the span subtask as a *partial* answer
  (:attr:`Prediction.partial <distil.records.Prediction.partial>`: the spans placed by
  :meth:`~distil.extract.plan.Plan.place_spans`, and why the rest are not), which only its
  ``check:not-in-text`` pass holds; its cards list the values not in the text
  (``not_in_text``). A textcat value outside the field's choices still has no card;
* reads and writes only that subtask's answer events, whose ``pass_name`` carries the subtask as
  a prefix (``"textcat:intent/fix"``, undo as ``"spans/distil.undo"``): see
  :mod:`distil.extract.answers`, which training uses to merge them field by field.

So every answer is committed to SQLite before the next card shows, exactly as for other tasks,
and each pass's cards come in the order of the queue strategy (``queue``, ``[annotate] queue``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, DataError
from ..extract.plan import SPAN_SUBTASK
from ..records import Annotation, Extraction, Prediction
from ..tasks import Task
from .passes import Pass, extract_passes, subtask_passes
from .resolve import effective_events
from .session import AnswerError, Workspace, pick_student_source, pick_teacher_source

__all__ = ["ExtractWorkspace", "SubtaskStore"]


class SubtaskStore:
    """A view of a store for one subtask (see the module docstring); anything else delegates."""

    def __init__(self, store: Any, plan: Any, subtask: str, texts: dict[str, str]) -> None:
        self.store = store
        self.plan = plan
        self.subtask = subtask
        self.prefix = f"{subtask}/"
        self.texts = texts

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def part(self, pred: Prediction) -> Prediction:
        """``pred`` with its record replaced by this subtask's answer: failed when it has none,
        partial when the span subtask's values are placed in part (see the module docstring)."""
        if pred.error is not None:  # a failed (or partial) record is no answer of a subtask
            return pred.model_copy(update={"output": None})
        if not isinstance(pred.output, Extraction):
            return pred
        text = self.texts.get(pred.example_id)
        if text is None:
            return pred.model_copy(update={"output": None, "error": "example not in the data set"})
        answers, failed = self.plan.split(pred.output.data, text)
        if self.subtask in answers:
            return pred.model_copy(update={"output": answers[self.subtask]})
        if self.subtask == SPAN_SUBTASK and self.subtask in failed:
            placed, missing = self.plan.place_spans(pred.output.data, text)
            reason = "; ".join(str(m) for m in missing)
            return pred.model_copy(update={"output": placed, "error": reason})
        reason = failed.get(self.subtask, f"no answer for {self.subtask}")
        return pred.model_copy(update={"output": None, "error": reason})

    def predictions(
        self,
        source: str,
        example_ids: Sequence[str] | None = None,
        *,
        dataset: str | None = None,
    ) -> dict[str, Prediction]:
        found = self.store.predictions(source, example_ids, dataset=dataset)
        return {i: self.part(p) for i, p in found.items()}

    def annotations_since(self, after_id: int = 0) -> list[tuple[int, Annotation]]:
        n = len(self.prefix)
        return [
            (i, a.model_copy(update={"pass_name": a.pass_name[n:]}))
            for i, a in self.store.annotations_since(after_id)
            if a.pass_name is not None and a.pass_name.startswith(self.prefix)
        ]

    def add_annotation(self, a: Annotation) -> int:
        named = a.model_copy(update={"pass_name": self.prefix + (a.pass_name or "")})
        return int(self.store.add_annotation(named))


class ExtractWorkspace:
    """The :class:`~distil.annotate.session.Workspace` interface for an ``extract`` task: its
    passes are every subtask's passes, named ``SUBTASK/PASS`` (:func:`extract_passes`).

    ``queue`` and ``seed`` order every subtask's cards as :class:`Workspace` does (the app passes
    ``[annotate] queue`` and ``seed``; None: ``label_issues`` with trust scores, else
    ``disagreement``)."""

    def __init__(
        self,
        store: Any,
        task: Task,
        *,
        dataset: str = "train",
        teacher_source: str | None = None,
        student_source: str | None = None,
        host: Any | None = None,
        queue: str | None = None,
        seed: int = 0,
    ) -> None:
        plan = getattr(task, "plan", None)
        if plan is None:
            raise ConfigError(f"task '{task.kind}' has no subtask plan: use Workspace")
        if not plan.subtasks:
            raise ConfigError(
                "every field of the schema stays with the teacher: there is nothing to annotate"
            )
        self.store = store
        self.task = task
        self.plan = plan
        self.dataset = dataset
        examples = store.examples(dataset)
        if not examples:
            raise DataError(f"the store has no '{dataset}' examples: run `distil label` first")
        ids = [ex.id for ex in examples]
        self.teacher_source = teacher_source or pick_teacher_source(store, ids, dataset)
        if self.teacher_source is None:
            raise DataError(
                f"no teacher predictions for '{dataset}' in the store: run `distil label` first"
            )
        self.student_source = student_source or pick_student_source(store, ids, dataset)
        texts = {ex.id: ex.text for ex in examples}
        self.subs: dict[str, Workspace] = {
            name: Workspace(
                SubtaskStore(store, plan, name, texts),
                sub,
                dataset=dataset,
                teacher_source=self.teacher_source,
                student_source=self.student_source,
                host=host,
                queue=queue,
                seed=seed,
                passes=subtask_passes(sub),
            )
            for name, sub in plan.subtasks.items()
        }
        self.passes: list[Pass] = extract_passes(plan.subtasks)
        self._by_name = {p.name: p for p in self.passes}

    def get_pass(self, name: str) -> tuple[Pass, str, str]:
        """The pass, its subtask and its name inside the subtask's workspace."""
        p = self._by_name.get(name)
        if p is None:
            names = ", ".join(self._by_name)
            raise AnswerError(f"no pass named {name!r}; the passes are: {names}")
        subtask, _, inner = name.partition("/")
        return p, subtask, inner

    def progress(self, annotator: str) -> list[dict[str, Any]]:
        """Every pass, in :func:`extract_passes` order, with its counts for ``annotator``."""
        rows: dict[str, dict[str, Any]] = {}
        for subtask, ws in self.subs.items():
            for row in ws.progress(annotator):
                name = f"{subtask}/{row['name']}"
                rows[name] = {**row, "name": name, "title": self._by_name[name].title}
        return [rows[p.name] for p in self.passes]

    def state(
        self, annotator: str, pass_name: str | None = None, prefer: str | None = None
    ) -> dict[str, Any]:
        """As :meth:`Workspace.state`; the card, the task and the pass name are the subtask's."""
        progress = self.progress(annotator)
        remaining = {row["name"]: row["remaining"] for row in progress}
        if pass_name is not None:
            self.get_pass(pass_name)
        if pass_name is None or remaining[pass_name] == 0:
            pass_name = next((n for n, left in remaining.items() if left), pass_name)
        subtask = (pass_name or self.passes[0].name).partition("/")[0]
        card = None
        if pass_name is not None and remaining.get(pass_name):
            p, subtask, inner = self.get_pass(pass_name)
            inside = self.subs[subtask].state(annotator, inner, prefer)
            card = inside["card"]
            if card is not None:
                card = {**card, "pass": pass_name, "title": p.title}
                if subtask == SPAN_SUBTASK:
                    card["not_in_text"] = self.not_in_text(card["example_id"])
        sub = self.plan.subtasks[subtask]
        return {
            "session": annotator,
            "pass": pass_name,
            "passes": progress,
            "card": card,
            "task": {"kind": sub.kind, "labels": sub.labels, "subtask": subtask},
            "teacher_source": self.teacher_source,
            "student_source": self.student_source,
        }

    def not_in_text(self, example_id: str) -> list[dict[str, Any]]:
        """The teacher's span values of ``example_id`` that are not in its text (or overlap
        another), as ``{"field", "value", "why"}``: what a ``check:not-in-text`` card (and the
        fix and review cards of such a record) lists beside the spans it shows."""
        found = self.store.predictions(self.teacher_source, [example_id], dataset=self.dataset)
        pred = found.get(example_id)
        text = self.subs[SPAN_SUBTASK].examples.get(example_id)
        if pred is None or not pred.ok or not isinstance(pred.output, Extraction) or text is None:
            return []
        _, missing = self.plan.place_spans(pred.output.data, text.text)
        return [{"field": m.field, "value": m.value, "why": m.why} for m in missing]

    def answer(
        self,
        annotator: str,
        pass_name: str,
        example_id: str,
        answer: str,
        output: Any = None,
    ) -> Annotation:
        """Store one answer about one subtask (committed before it returns)."""
        _, subtask, inner = self.get_pass(pass_name)
        stored = self.subs[subtask].answer(annotator, inner, example_id, answer, output)
        return stored.model_copy(update={"pass_name": pass_name})

    def undo(self, annotator: str) -> dict[str, str] | None:
        """Cancel the annotator's latest live answer, whichever subtask it was about."""
        latest: tuple[int, str] | None = None  # (event id, subtask)
        for subtask, ws in self.subs.items():
            mine = ws.store.annotations_since(0)
            live = [
                mine[r.order][0]
                for r in effective_events(a for _, a in mine)
                if r.annotation.annotator == annotator
            ]
            if live and (latest is None or live[-1] > latest[0]):
                latest = (live[-1], subtask)
        if latest is None:
            return None
        undone = self.subs[latest[1]].undo(annotator)
        if undone is None:
            return None
        return {"pass": f"{latest[1]}/{undone['pass']}", "example_id": undone["example_id"]}

    def summary(self) -> dict[str, Any]:
        """Progress, agreement and resolved answers per pass, over every subtask."""
        parts = {name: ws.summary() for name, ws in self.subs.items()}
        annotators: dict[str, dict[str, int]] = {}
        passes: dict[str, Any] = {}
        kappas: list[float] = []
        conflicts = 0
        counts: dict[str, int] = {}
        for subtask, part in parts.items():
            for who, done in part["annotators"].items():
                mine = annotators.setdefault(who, {})
                mine.update({f"{subtask}/{name}": n for name, n in done.items()})
            for name, entry in part["agreement"]["passes"].items():
                passes[f"{subtask}/{name}"] = entry
                kappas += [p["kappa"] for p in entry["pairs"] if p["kappa"] is not None]
            conflicts += part["agreement"]["conflicts"]
            for answer, n in part["resolved_answers"].items():
                counts[answer] = counts.get(answer, 0) + n
        return {
            "dataset": self.dataset,
            "examples": next(iter(parts.values()))["examples"],
            "teacher_source": self.teacher_source,
            "annotators": annotators,
            "agreement": {
                "passes": passes,
                "conflicts": conflicts,
                "mean_kappa": sum(kappas) / len(kappas) if kappas else None,
            },
            "resolved_answers": counts,
            "resolved_by_subtask": {name: part["resolved_answers"] for name, part in parts.items()},
            "events": sum(part["events"] for part in parts.values()),
        }
