"""The annotation workspace: passes, queues, answers, undo and progress over one project store.

The web app (``distil-annotate``) is a thin HTTP layer over :class:`Workspace`; everything that
decides what is shown and what is stored lives here, in plain Python, so it is testable without
a browser and reusable by other front ends.

What callers may rely on:

* :meth:`Workspace.answer` and :meth:`Workspace.undo` return only after the event is committed to
  SQLite, so whatever the caller shows next is already safe from a crash.
* Nothing is kept only in memory: the next card, the progress and the fix/review queues are all
  derived from the stored events, so a process started again (after a SIGKILL, say) resumes at
  the same place. Events written by other processes are picked up before every read.
* Queue order is computed once per pass when the workspace opens (examples and teacher/student
  predictions do not change while annotating), by the strategy ``queue`` names
  (:mod:`distil.annotate.queue`; ``distil annotate`` passes ``[annotate] queue``). Without one it
  is ``label_issues`` when the newest finished ``distil train`` run stored trust scores, else
  ``disagreement``.
* Several tabs or people sharing one session name never see the same card at once when they
  pass a ``client`` id to :meth:`Workspace.state`: each client leases the card it is shown
  (:class:`distil.annotate.queue.Leases`, in memory; a lease ends on an answer or on expiry).
* With ``reviewers`` named, only they get the review pass and may answer in it
  (:class:`ReviewRefused` otherwise); nobody reviews a conflict they are part of
  (:mod:`distil.annotate.agreement`).
* The queue reads the student predictions and trust scores of the newest finished train run. When
  labels changed after that run merged them (answers given since, or the teacher labelling again),
  the queue is *stale*: ``state()["queue"]["stale"]`` is true and ``notice`` says to run
  ``distil train`` to refresh it. The workspace does not retrain on its own: a fit can take
  minutes, and a queue that reorders itself under the annotator's hands is confusing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from typing import Any

from ..errors import DataError
from ..records import Annotation, Categories, Example, Prediction, Spans, TaskOutput
from ..tasks import Task
from .agreement import (
    agreement_report,
    answer_key,
    conflicts,
    may_review,
    review_refusal,
    reviewable,
)
from .passes import CARD_PASS, FIX_PASS, MultilabelPlan, Pass, card_answer, claim, plan_passes
from .queue import STRATEGIES, Card, Leases, make_card, order_cards
from .resolve import REVIEW_PASS, effective_events, is_undo, resolve_answers, undo_event

__all__ = ["AnswerError", "ReviewRefused", "Workspace"]

ANSWERS = {"accept", "reject", "ignore", "correct"}


class AnswerError(DataError):
    """An answer the workspace cannot store (unknown pass or example, output not fitting the task)."""


class ReviewRefused(AnswerError):
    """A review answer from a session that may not review that example (the app answers 403)."""


def pick_teacher_source(store: Any, ids: list[str], dataset: str | None = None) -> str | None:
    """The ``teacher:`` source with predictions for the most of ``ids`` of ``dataset`` (the
    latest on a tie)."""
    best: tuple[int, str] | None = None
    for source in store.sources():
        if not source.startswith("teacher:"):
            continue
        n = len(store.predictions(source, ids, dataset=dataset))
        if n and (best is None or n >= best[0]):
            best = (n, source)
    return best[1] if best else None


def latest_train_run(store: Any) -> dict[str, Any] | None:
    """The newest finished train run (as :meth:`Store.get_run` gives it), or None."""
    for run in store.runs("train"):
        if run["status"] == "finished":
            return dict(run)
    return None


def pick_trust_source(
    store: Any, ids: list[str], run: dict[str, Any] | None, dataset: str | None = None
) -> str | None:
    """The trust scores the train ``run`` stored for some of ``ids``, or None (trust was off)."""
    source = (run or {}).get("stats", {}).get("trust_source")
    if source and store.predictions(source, ids[:2000], dataset=dataset):
        return str(source)
    return None


def pick_student_source(store: Any, ids: list[str], dataset: str | None = None) -> str | None:
    """The newest trained student with stored predictions for some of ``ids``, or None."""
    candidates = [run["stats"].get("source") for run in store.runs("train")]
    candidates += [s for s in store.sources() if s.startswith("student:")]
    for source in candidates:
        if source and store.predictions(source, ids[:2000], dataset=dataset):
            return str(source)
    return None


class Workspace:
    """One data set of one store, annotated by any number of named annotators.

    ``queue`` names the queue strategy (:data:`distil.annotate.queue.STRATEGIES`; None: see the
    module docstring) and ``seed`` seeds ``random``. ``teacher_source``, ``student_source`` and
    ``trust_source`` default to the teacher that labelled the most examples, the newest trained
    student, and the trust scores of the newest finished train run. ``multilabel`` plans a
    multi-label task as one card per text (``"card"``) or per label (``"per_label"``, the default
    here; the app passes ``[annotate] multilabel``, default ``card``). ``reviewers`` names who may
    review (empty: anyone not part of the conflict) and ``leases`` holds each client's card
    (:class:`~distil.annotate.queue.Leases`, 300 s by default). ``passes`` replaces the task's
    plan (an extract subtask's workspace gets its passes from
    :func:`~distil.annotate.passes.subtask_passes`).

    A teacher answer read only in part (:attr:`Prediction.partial <distil.records.Prediction.
    partial>`: an extract record whose span subtask placed some of its values in the text) is
    held only by a pass marked ``partial`` (:meth:`Pass.holds`); its cards, its queue order and
    an ``accept`` take the part that was read.
    """

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
        trust_source: str | None = None,
        multilabel: MultilabelPlan = "per_label",
        reviewers: Collection[str] | None = None,
        leases: Leases | None = None,
        passes: Sequence[Pass] | None = None,
    ) -> None:
        if queue is not None and queue not in STRATEGIES:
            raise ValueError(
                f"unknown queue strategy {queue!r}; use one of {', '.join(STRATEGIES)}"
            )
        self.store = store
        self.task = task
        self.dataset = dataset
        self.host = host
        self._lock = threading.RLock()
        #: Who may review (empty: anyone not part of the conflict); see the module docstring.
        self.reviewers: frozenset[str] = frozenset(reviewers or ())
        self.leases = leases or Leases()
        self.examples: dict[str, Example] = {ex.id: ex for ex in store.examples(dataset)}
        if not self.examples:
            raise DataError(f"the store has no '{dataset}' examples: run `distil label` first")
        ids = list(self.examples)
        self.teacher_source = teacher_source or pick_teacher_source(store, ids, dataset)
        if self.teacher_source is None:
            raise DataError(
                f"no teacher predictions for '{dataset}' in the store: run `distil label` first"
            )
        self.teacher: dict[str, Prediction] = store.predictions(
            self.teacher_source, ids, dataset=dataset
        )
        self.student_source = student_source or pick_student_source(store, ids, dataset)
        self.student: dict[str, Prediction] = (
            store.predictions(self.student_source, ids, dataset=dataset)
            if self.student_source
            else {}
        )
        self.train_run = latest_train_run(store)
        self.trust_source = trust_source or pick_trust_source(store, ids, self.train_run, dataset)
        self.trust: dict[str, Prediction] = (
            store.predictions(self.trust_source, ids, dataset=dataset) if self.trust_source else {}
        )
        self.queue_requested = queue
        self.queue = queue or ("label_issues" if self.trust else "disagreement")
        self.queue_seed = seed
        self.passes = (
            list(passes) if passes is not None else plan_passes(task, multilabel=multilabel)
        )
        self._by_name = {p.name: p for p in self.passes}
        self._events: list[Annotation] = []
        self._last_id = 0
        self._members: dict[str, set[str]] = {
            p.name: {i for i in ids if p.holds(self.teacher.get(i))}
            for p in self.passes
            if p.over_teacher
        }
        self._queues: dict[str, list[Card]] = {}
        for p in self.passes:
            cards = [
                make_card(
                    p,
                    ex,
                    n,
                    _as_read(self.teacher[ex.id]),
                    self.student.get(ex.id),
                    self.trust.get(ex.id),
                )
                for n, ex in enumerate(self.examples.values())
                if ex.id in self.teacher and self.teacher[ex.id].output is not None
            ]
            hook = host.hook if host is not None else None
            self._queues[p.name] = order_cards(
                task, p.name, cards, hook, strategy=self.queue, seed=seed
            )
        # A card the queue hook left out is not part of its pass.
        self._queued = {name: {c.example_id for c in q} for name, q in self._queues.items()}
        self._refresh()

    # -- events -----------------------------------------------------------------------------------
    def _refresh(self) -> None:
        new = self.store.annotations_since(self._last_id)
        for event_id, a in new:
            if a.example_id in self.examples:
                self._events.append(a)
            self._last_id = event_id

    @property
    def events(self) -> list[Annotation]:
        with self._lock:
            self._refresh()
            return list(self._events)

    def _live(self, annotator: str) -> list[Annotation]:
        return [
            r.annotation
            for r in effective_events(self._events)
            if r.annotation.annotator == annotator
        ]

    def _answered(self, annotator: str) -> dict[str, dict[str, Annotation]]:
        """pass → example → the annotator's latest live answer in that pass."""
        out: dict[str, dict[str, Annotation]] = {}
        for a in self._live(annotator):
            out.setdefault(a.pass_name or "", {})[a.example_id] = a
        return out

    def _reviewable(self, annotator: str) -> set[str]:
        """The open conflicts ``annotator`` may settle (see :mod:`distil.annotate.agreement`)."""
        return reviewable(self._events, annotator, self.reviewers)

    # -- passes -----------------------------------------------------------------------------------
    def get_pass(self, name: str) -> Pass:
        try:
            return self._by_name[name]
        except KeyError:
            names = ", ".join(self._by_name)
            raise AnswerError(f"no pass named {name!r}; the passes are: {names}") from None

    def _members_of(
        self, p: Pass, answered: dict[str, dict[str, Annotation]], open_conflicts: set[str]
    ) -> set[str]:
        return self._candidates(p, answered, open_conflicts) & self._queued[p.name]

    def _candidates(
        self, p: Pass, answered: dict[str, dict[str, Annotation]], open_conflicts: set[str]
    ) -> set[str]:
        if p.over_teacher:
            return self._members[p.name]
        if p.name == FIX_PASS:
            return {
                ex_id
                for name, items in answered.items()
                if name.startswith("check")
                for ex_id, a in items.items()
                if a.answer == "reject"
            }
        return open_conflicts | set(answered.get(REVIEW_PASS, {}))

    def progress(self, annotator: str) -> list[dict[str, Any]]:
        """Each pass with its question, how many cards it holds and how many this annotator did."""
        with self._lock:
            self._refresh()
            return self._progress(annotator, self._answered(annotator), self._reviewable(annotator))

    def _progress(
        self, annotator: str, answered: dict[str, dict[str, Annotation]], open_conflicts: set[str]
    ) -> list[dict[str, Any]]:
        rows = []
        for p in self.passes:
            members = self._members_of(p, answered, open_conflicts)
            done = len(members & set(answered.get(p.name, {})))
            rows.append(
                {
                    "name": p.name,
                    "mode": p.mode,
                    "title": p.title,
                    "label": p.label,
                    "total": len(members),
                    "done": done,
                    "remaining": len(members) - done,
                }
            )
        return rows

    def state(
        self,
        annotator: str,
        pass_name: str | None = None,
        prefer: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """The pass to show (the one asked for while it has cards, else the first with cards),
        its next card (None when every pass is done) and the progress of every pass.

        ``prefer`` names an example to show first when it is still open in that pass (the card
        an undo brought back). ``client`` (a browser tab's id) leases the card shown to that
        client: other clients of the same session skip it while the lease holds, and the same
        client is shown it again until it answers (``leased_elsewhere`` counts the cards other
        clients hold). Without ``client`` nothing is leased and leases are not looked at."""
        with self._lock:
            self._refresh()
            answered = self._answered(annotator)
            open_conflicts = self._reviewable(annotator)
            progress = self._progress(annotator, answered, open_conflicts)
            remaining = {row["name"]: row["remaining"] for row in progress}
            if pass_name is not None:
                self.get_pass(pass_name)
            skip = self.leases.elsewhere(annotator, client) if client is not None else {}
            held = self.leases.held(annotator, client) if client is not None else None
            if held is not None and prefer is None and pass_name in (None, held.pass_name):
                prefer, pass_name = held.example_id, held.pass_name
            order = [pass_name] if pass_name is not None and remaining[pass_name] else []
            order += [n for n, left in remaining.items() if left and n != pass_name]
            card = None
            for name in order:
                card = self._next_card(
                    self._by_name[name], answered, open_conflicts, skip.get(name, set()), prefer
                )
                if card is not None:
                    pass_name = name
                    break
            if pass_name is None or (card is None and not remaining[pass_name]):
                pass_name = next((n for n, left in remaining.items() if left), pass_name)
            if client is not None:
                if card is not None:
                    self.leases.take(annotator, client, card.pass_name, card.example_id)
                else:
                    self.leases.drop(annotator, client)
            visible = [
                row
                for row in progress
                if row["name"] != REVIEW_PASS or may_review(annotator, self.reviewers)
            ]
            return {
                "session": annotator,
                "pass": pass_name,
                "passes": visible,
                "card": self._card_json(card, answered, annotator) if card else None,
                "leased_elsewhere": sum(len(ids) for ids in skip.values()),
                "task": {"kind": self.task.kind, "labels": self.task.labels},
                "teacher_source": self.teacher_source,
                "student_source": self.student_source,
                "queue": self._queue_state(),
            }

    def _next_card(
        self,
        p: Pass,
        answered: dict[str, dict[str, Annotation]],
        open_conflicts: set[str],
        skip: set[str],
        prefer: str | None,
    ) -> Card | None:
        """The first open card of ``p`` not in ``skip`` (``prefer`` first when it is open)."""
        members = self._members_of(p, answered, open_conflicts)
        done = answered.get(p.name, {})
        if prefer is not None and prefer in members and prefer not in done:
            found = next((c for c in self._queues[p.name] if c.example_id == prefer), None)
            if found is not None:
                return found
        return next(
            (
                c
                for c in self._queues[p.name]
                if c.example_id in members and c.example_id not in done and c.example_id not in skip
            ),
            None,
        )

    def _queue_state(self) -> dict[str, Any]:
        """The queue's strategy, what it was built from, and whether a retrain would change it.

        ``stale`` is true when labels changed after the train run merged them: ``answers_since``
        answers (undo events not counted) or ``labelled_since`` teacher labelling runs that
        labelled something. ``notice`` is a sentence for the app to show, or None.
        """
        run = self.train_run
        state: dict[str, Any] = {
            "strategy": self.queue,
            "requested": self.queue_requested,
            "seed": self.queue_seed,
            "trust_source": self.trust_source,
            "student_source": self.student_source,
            "train_run": run["id"] if run else None,
            "stale": False,
            "answers_since": 0,
            "labelled_since": 0,
            "notice": None,
        }
        if run is None:
            if self.queue in ("label_issues", "disagreement") and not self.student:
                state["notice"] = (
                    "no trained student yet: run `distil train` to put likely teacher errors first"
                )
            elif self.queue == "uncertainty" and not self.student:
                state["notice"] = (
                    "no trained student yet: run `distil train` to put the cards it is least "
                    "sure of first"
                )
            return state
        notices = []
        if self.queue == "label_issues" and not self.trust:
            notices.append(
                "the last `distil train` stored no trust scores: the queue falls back to "
                "disagreement (turn [train] trust on; it needs cleanlab)"
            )
        stats = run.get("stats") or {}
        as_of = float(stats.get("labels_as_of") or run.get("started_at") or 0.0)
        answers = sum(1 for a in self._events if not is_undo(a) and (a.created_at or 0.0) > as_of)
        labelled = 0
        for label_run in self.store.runs("label"):
            config = label_run.get("config") or {}
            when = label_run.get("finished_at") or label_run.get("started_at") or 0.0
            if (
                config.get("source") == self.teacher_source
                and config.get("dataset", self.dataset) == self.dataset
                and when > as_of
                and (label_run.get("stats") or {}).get("labelled", 1)
            ):
                labelled += 1
        state.update(answers_since=answers, labelled_since=labelled)
        if answers or labelled:
            changes = []
            if answers:
                changes.append(f"{answers} answer(s)")
            if labelled:
                changes.append("new teacher labels")
            state["stale"] = True
            notices.insert(
                0,
                f"{' and '.join(changes)} since the last `distil train`: retrain to refresh the queue",
            )
        state["notice"] = "; ".join(notices) or None
        return state

    def _card_json(
        self, card: Card, answered: dict[str, dict[str, Annotation]], annotator: str
    ) -> dict[str, Any]:
        p = self._by_name[card.pass_name]
        suggestion = card.suggestion
        shown: TaskOutput | None = suggestion
        if p.is_check and p.label is not None and isinstance(suggestion, Spans):
            shown = Spans(spans=[s for s in suggestion.spans if s.label == p.label])
        if p.name == FIX_PASS and isinstance(suggestion, Categories) and self._multilabel:
            # Start from the teacher's labels with this annotator's per-label rejections applied.
            labels = set(suggestion.labels)
            for name, items in answered.items():
                a = items.get(card.example_id)
                if name.startswith("check:") and a is not None and a.answer == "reject":
                    labels ^= {name.split(":", 1)[1]}
            shown = Categories(labels=[x for x in self.task.labels if x in labels])
        data: dict[str, Any] = {
            "example_id": card.example_id,
            "text": card.example.text,
            "pass": p.name,
            "mode": p.mode,
            "label": p.label,
            "title": p.title,
            "claim": claim(p, suggestion) if p.is_check else "",
            "suggestion": shown.model_dump() if shown is not None else None,
            "confidence": card.confidence,
            "disagree": card.disagree,
            "trust": card.trust,
            "label_issue": card.issue,
            "student": card.student.model_dump() if card.student is not None else None,
            "options": list(self.task.labels),
            "scores": option_scores(suggestion, card.student),
        }
        if p.name == REVIEW_PASS:
            finals = conflicts(self._events).get(card.example_id, {})
            options: dict[str, dict[str, Any]] = {}
            for name, a in sorted(finals.items()):
                opt = options.setdefault(
                    answer_key(a),
                    {
                        "answer": a.answer,
                        "output": a.output.model_dump() if a.output else None,
                        "annotators": [],
                    },
                )
                opt["annotators"].append(name)
            data["review_options"] = list(options.values())
        return data

    @property
    def _multilabel(self) -> bool:
        return bool(getattr(self.task, "multilabel", False))

    # -- answers ----------------------------------------------------------------------------------
    def answer(
        self,
        annotator: str,
        pass_name: str,
        example_id: str,
        answer: str,
        output: dict[str, Any] | TaskOutput | None = None,
    ) -> Annotation:
        """Validate and store one answer; return it once it is committed.

        Binary passes take ``accept`` (stored with the teacher's output), ``reject`` or
        ``ignore``. Correction and review passes take ``correct`` with an output that fits the
        task, or ``reject``/``ignore``; the multi-label card also takes ``accept`` without an
        output (:data:`~distil.annotate.passes.CARD_PASS`). A review answer from a session that
        may not review that example raises :class:`ReviewRefused`. The session's leases on the
        card end here.
        """
        p = self.get_pass(pass_name)
        example = self.examples.get(example_id)
        if example is None:
            raise AnswerError(f"no example {example_id!r} in '{self.dataset}'")
        if answer not in ANSWERS:
            raise AnswerError(f"unknown answer {answer!r}; use one of {sorted(ANSWERS)}")
        if p.name == REVIEW_PASS:
            with self._lock:
                self._refresh()
                refusal = review_refusal(self._events, annotator, example_id, self.reviewers)
            if refusal is not None:
                raise ReviewRefused(refusal)
        teacher = self.teacher.get(example_id)
        # A failed answer has no output; a partial one's output is the part that was read.
        suggestion = teacher.output if teacher is not None else None
        parsed: TaskOutput | None = None
        if p.is_check:
            if answer == "correct":
                raise AnswerError(f"pass {p.name!r} is binary: answer accept, reject or ignore")
            parsed = suggestion if answer == "accept" else None
        elif p.name == CARD_PASS and answer == "accept" and output is None:
            try:
                answer, parsed = card_answer(answer, None, suggestion)
            except ValueError as exc:
                raise AnswerError(str(exc)) from exc
        elif answer in ("correct", "accept"):
            if output is None:
                raise AnswerError(f"answer {answer!r} in pass {p.name!r} needs an output")
            try:
                raw = output if not isinstance(output, dict) else _parse_output(output)
                parsed = self.task.validate_output(raw)
            except Exception as exc:
                raise AnswerError(f"output does not fit the task: {exc}") from exc
            if isinstance(parsed, Spans):
                parsed = _checked_spans(parsed, example.text)
            answer = "correct"
            if p.name == CARD_PASS:
                answer, parsed = card_answer(answer, parsed, suggestion)
        ann = Annotation(
            example_id=example_id,
            annotator=annotator,
            answer=answer,  # type: ignore[arg-type]
            output=parsed,
            pass_name=p.name,
            suggestion_source=self.teacher_source,
            created_at=time.time(),
        )
        if self.host is not None:
            for replaced in self.host.hook.distil_annotate(
                task=self.task, example=example, annotation=ann
            ):
                if replaced is not None:
                    ann = replaced
        with self._lock:
            self.store.add_annotation(ann)
            self.leases.release(annotator, p.name, example_id)
            self._refresh()
        return ann

    def undo(self, annotator: str) -> dict[str, str] | None:
        """Cancel the annotator's latest live answer (another event); return its pass and example,
        or None when there is nothing to undo."""
        with self._lock:
            self._refresh()
            live = self._live(annotator)
            if not live:
                return None
            last = live[-1]
            self.store.add_annotation(undo_event(last.example_id, annotator, time.time()))
            self._refresh()
            return {"pass": last.pass_name or "", "example_id": last.example_id}

    # -- reporting --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Progress per annotator, agreement per pass, what training would take from humans, and
        the queue's strategy and staleness (as in :meth:`state`)."""
        with self._lock:
            self._refresh()
            events = list(self._events)
            annotators = sorted({a.annotator for a in events if a.pass_name != "distil.undo"})
            progress = {
                name: {
                    row["name"]: row["done"]
                    for row in self._progress(name, self._answered(name), self._reviewable(name))
                }
                for name in annotators
            }
            queue = self._queue_state()
        resolved = resolve_answers(events)
        counts: dict[str, int] = {}
        for a in resolved.values():
            counts[a.answer] = counts.get(a.answer, 0) + 1
        return {
            "dataset": self.dataset,
            "examples": len(self.examples),
            "teacher_source": self.teacher_source,
            "annotators": progress,
            "agreement": agreement_report(events),
            "resolved_answers": counts,
            "events": len(events),
            "queue": queue,
        }


def option_scores(teacher: TaskOutput | None, student: TaskOutput | None) -> dict[str, float]:
    """A score per label, for the app to rank a correction card's options by (empty for spans).

    The higher of the teacher's and the student's score (the max, not a sum: a label one source
    is sure of ranks high even when the other never scored it, and an uncalibrated source cannot
    outvote a sure one by spreading mass). A source that names labels without scores (an LLM
    without logprobs) counts 1.0 for each label it names.
    """
    out: dict[str, float] = {}
    for output in (teacher, student):
        if not isinstance(output, Categories):
            continue
        given = {label: float(score) for label, score in output.scores.items()}
        for label in output.labels:
            given.setdefault(label, 1.0)
        for label, score in given.items():
            out[label] = max(out.get(label, 0.0), score)
    return out


def _as_read(pred: Prediction) -> Prediction:
    """``pred`` as its card shows and ranks it: a partial answer as the part that was read."""
    return pred.model_copy(update={"error": None}) if pred.partial else pred


def _parse_output(data: dict[str, Any]) -> TaskOutput:
    if "spans" in data:
        return Spans.model_validate({"spans": data["spans"]})
    return Categories.model_validate({"labels": data.get("labels", [])})


def _checked_spans(output: Spans, text: str) -> Spans:
    for s in output.spans:
        if s.end > len(text) or s.start >= s.end:
            raise AnswerError(f"span {s.start}-{s.end} is outside the text (length {len(text)})")
    return Spans(spans=sorted(output.spans, key=lambda s: (s.start, s.end, s.label)))
