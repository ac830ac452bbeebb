"""The task contract: what a task names, what its output type is, how it validates and scores.

A task is the typed interface that the LLM prototype and the distilled student share. Prompting,
parsing and scoring read it; it never calls a provider or a model itself.

A task owns its behaviour the way a spacy-llm task owns its template, parser and scorer: every
stage that needs to know something about a task kind asks the task, never ``task.kind``
(``core/tests/test_task_contract.py`` fails if a stage branches on the kind again). So a task kind
that a plugin registers through ``register_tasks`` gets scores with confidence intervals, the
paired comparison, the learning curve, calibration, the report and annotation passes from the
defaults below, and overrides only what differs. The defaults, in one place:

===========================  ===============================================================
what the stages ask           default
===========================  ===============================================================
:attr:`headline_metric`       ``"macro_f1"`` (the report's and the comparison's metric)
:attr:`learning_curve_metric` the headline metric
:attr:`span_exact`            False (the report's rows are labels, not span-exact P/R/F1)
:attr:`scoring_mode`          "exclusive" or "multi-label" (how the report says it scores)
:attr:`accuracy_title`        "accuracy" (the report's accuracy row; extract: exact-record match)
:attr:`per_label_title`       "F1 per label" (the report's per-label section)
:attr:`answer_field`          ``"labels"`` (the :class:`~distil.records.Example` field of gold)
:attr:`exclusive`             False (one label per text: majority baseline, calibration)
:meth:`score`                 P/R/F1 over :meth:`scored_items`, bootstrap CIs
:meth:`paired_bootstrap`      paired bootstrap over :meth:`scored_items`
:meth:`is_correct`            the whole output equals gold (calibration's "right")
:meth:`confusion_matrix`      None (no matrix in the report)
:meth:`annotation_passes`     ``check`` → ``fix`` (mode :attr:`correction_mode`) → ``review``
:meth:`empty_output`          ``Categories(labels=[])`` (what a constant student answers)
:meth:`merge_labels`          None (train's standard merge: human answers over the teacher's)
:meth:`cascade_request`       ``"all"`` below the cascade threshold (:func:`below_threshold`)
:attr:`cascade_fields`        None (the answer is not split into fields the teacher can fill)
:meth:`cascade_task`          the task itself (the teacher is asked for the whole answer)
:meth:`cascade_merge`         the teacher's answer; the student's where the teacher failed
:attr:`supports_exchange`     True (exporters and importers carry its records)
:attr:`supports_simulation`   True (``distil simulate`` can answer its cards from an oracle)
:meth:`from_description`      ``cls(labels, descriptions=..., instructions=...)``
===========================  ===============================================================
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from ..records import Categories, Example, Prediction, Spans, TaskOutput
from .passes import Mode, MultilabelPlan, Pass, check_fix_review
from .scoring import paired_items, score_items

if TYPE_CHECKING:
    from ..store.sqlite import Store
    from ..training_data import TrainingData

#: Every task class by its ``kind`` (the first class that declares a kind keeps it), filled as the
#: classes are defined; :meth:`Task.from_description` rebuilds a saved task through it.
_KINDS: dict[str, type[Task]] = {}

#: Task kinds whose output is :class:`~distil.records.Spans` (scored span-exact). Here, in the
#: module every task kind builds on, so that the scorers (``distil.evaluate.metrics``) can read it
#: without importing the ``distil.tasks`` package, whose task kinds import the scorers.
SPAN_KINDS = frozenset({"ner", "spans"})


class StudentAnswer(Protocol):
    """What a cascade routes on: a student's answer and its confidence in [0, 1] or None
    (a :class:`~distil.student.StudentPrediction`; a composite's adds ``field_confidence``)."""

    output: TaskOutput
    confidence: float | None


#: What a cascade asks the teacher for one student answer (:meth:`Task.cascade_request`): None
#: keeps the student's answer, ``"all"`` asks for the whole answer, a list asks for those fields.
CascadeRequest = Literal["all"] | list[str] | None


def below_threshold(confidence: float | None, threshold: float) -> bool:
    """The one cascade threshold rule, for every task kind: is a student confidence too low?

    ``confidence < threshold``, where a missing confidence counts as 0. So:

    * ``threshold = 0`` finds nothing too low — not even an answer without a confidence. Zero is
      the documented "trust the student" setting: the cascade asks the teacher only for what the
      task says the student did not answer (an extraction's pending fields), never for doubt.
    * Above 0, an answer without a confidence is too low: a student that cannot say how sure it
      is has not shown it reaches the threshold, so the teacher is asked (the safe side).
    * Above 1 every answer is too low (confidences are at most 1): the teacher answers all.

    Why this rule: both cascades documented 0 as "sends nothing", but the label cascade sent an
    answer without a confidence even at 0 and the extraction cascade did not; with one rule a
    student without confidences can be served at 0 and is never trusted blindly above it.
    """
    return (confidence if confidence is not None else 0.0) < threshold


class Task:
    """Base class of every task kind. Subclasses set ``kind`` and implement the abstract methods.

    Everything else has a default (see the module docstring) that a subclass overrides where its
    kind differs; no stage outside ``distil.tasks`` reads ``kind`` to decide what to do.
    """

    kind: ClassVar[str] = "task"
    #: Name of the default Jinja2 template (in ``distil/templates/``) used by the chat prompt.
    template: ClassVar[str] = ""
    #: The metric the report leads with and the paired comparison of two sources uses (a key of
    #: :meth:`score`'s result that :data:`distil.tasks.scoring.PAIRED_METRICS` lists).
    headline_metric: ClassVar[str] = "macro_f1"
    #: Whether the task is scored span-exact (the report shows micro-F1, macro-F1 and micro P/R,
    #: says "span-exact", and has no accuracy row).
    span_exact: ClassVar[bool] = False
    #: What the report calls its accuracy row and its per-label section.
    accuracy_title: ClassVar[str] = "accuracy"
    per_label_title: ClassVar[str] = "F1 per label"
    #: The :class:`~distil.records.Example` field (and JSONL key) that holds a gold answer of
    #: this task: what error messages name and what ``distil simulate``'s oracle rows carry.
    answer_field: ClassVar[str] = "labels"
    #: Whether the exporters and importers (which carry labels and spans) fit this task's records.
    supports_exchange: ClassVar[bool] = True
    #: Whether ``distil simulate`` can answer this task's cards from an oracle file of answers.
    supports_simulation: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            _KINDS.setdefault(kind, cls)

    def __init__(
        self,
        labels: list[str],
        descriptions: dict[str, str] | None = None,
        instructions: str | None = None,
        shots: list[Example] | None = None,
    ) -> None:
        if not labels:
            raise ValueError("a task needs at least one label")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {labels}")
        self.labels = list(labels)
        self.descriptions = dict(descriptions or {})
        unknown = set(self.descriptions) - set(self.labels)
        if unknown:
            raise ValueError(f"descriptions name labels the task does not have: {sorted(unknown)}")
        self.instructions = instructions
        self.shots = list(shots or [])

    # -- what subclasses provide -------------------------------------------------------------
    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the answer the LLM must give (used for structured output)."""
        raise NotImplementedError

    def from_answer(self, data: Any, example: Example) -> TaskOutput:
        """Turn a parsed JSON answer into the task's output; raise ParseError when it does not fit."""
        raise NotImplementedError

    def reference(self, example: Example) -> TaskOutput | None:
        """The example's reference (gold) answer as this task's output type, if it has one."""
        raise NotImplementedError

    def validate_output(self, output: TaskOutput) -> TaskOutput:
        """Check an output against the task (labels in the set, ...); raise ParseError if not."""
        raise NotImplementedError

    @property
    def kinds(self) -> frozenset[str]:
        """This task's kind and the kinds of the task classes it specialises: a student that
        learns any of them learns this task (an ``ordinal`` task built on :class:`TextCat` is
        learned by every ``textcat`` student)."""
        return frozenset(
            c.__dict__["kind"]
            for c in type(self).__mro__
            if issubclass(c, Task) and c is not Task and isinstance(c.__dict__.get("kind"), str)
        )

    # -- scoring (the evaluate stage, the learning curve, simulate) -----------------------------
    @property
    def exclusive(self) -> bool:
        """Whether every answer is exactly one label of :attr:`labels` (an exclusive classifier).

        The stages read it for what only makes sense with one label per text: the majority-class
        baseline, the one-class check before training, calibration's "the chosen label is right".
        """
        return False

    @property
    def scoring_mode(self) -> str:
        """How the task is scored, in the report's words (``exclusive``, ``multi-label``)."""
        return "multi-label" if self.describe().get("multilabel") else "exclusive"

    @property
    def learning_curve_metric(self) -> str:
        """The metric a learning curve plots and tests for a flattening (the headline metric)."""
        return self.headline_metric

    def scored_items(self, output: TaskOutput | None) -> set[tuple[Any, str]] | None:
        """The labelled items an answer asserts, as ``(key, label)`` pairs; None for a failure.

        The default scorers count these: an item is right when gold has the same key. The
        default reads :class:`~distil.records.Categories` (``(label, label)`` per label) and
        :class:`~distil.records.Spans` (``((start, end, label), label)`` per span); a task whose
        output is another type overrides this, or :meth:`score` and :meth:`paired_bootstrap`.
        """
        if output is None:
            return None
        if isinstance(output, Categories):
            return {(label, label) for label in output.labels}
        if isinstance(output, Spans):
            return {((s.start, s.end, s.label), s.label) for s in output.spans}
        raise NotImplementedError(
            f"{type(self).__name__} answers {type(output).__name__}: override scored_items() "
            "(or score() and paired_bootstrap()) to say how it is scored"
        )

    def _items(self, outputs: Iterable[TaskOutput | None]) -> list[set[tuple[Any, str]] | None]:
        return [self.scored_items(o) for o in outputs]

    def score(self, gold: list[TaskOutput], predicted: list[TaskOutput | None]) -> dict[str, Any]:
        """Score predictions against gold; ``None`` predictions (parse failures) count as wrong.

        The result is JSON-able and carries at least :attr:`headline_metric`, ``n``,
        ``failure_rate``, ``per_label`` and ``ci`` (bootstrap 95% intervals of the headline
        metric among others). The default scores :meth:`scored_items` with
        :func:`distil.tasks.scoring.score_items` (1000 resamples, seed 0); the built-in kinds
        also take ``n_boot`` and ``seed`` keywords.
        """
        return score_items(self.labels, self._items(gold), self._items(predicted))

    def paired_bootstrap(
        self,
        gold: list[TaskOutput],
        a: list[TaskOutput | None],
        b: list[TaskOutput | None],
        *,
        metric: str = "",
        n_boot: int = 1000,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Compare sources ``a`` and ``b`` on the same gold answers (paired percentile bootstrap).

        ``metric`` (empty: :attr:`headline_metric`) is one of
        :data:`~distil.tasks.scoring.PAIRED_METRICS`. The result: ``metric``, ``value_a``,
        ``value_b``, ``delta`` (a − b), its ``ci``, ``p_value``, ``n`` and ``n_boot`` (see
        :func:`distil.tasks.scoring.paired_categories`). The default compares
        :meth:`scored_items`.
        """
        if len(a) != len(b):
            raise ValueError(f"the two sources have {len(a)} and {len(b)} predictions")
        return paired_items(
            self.labels,
            self._items(gold),
            self._items(a),
            self._items(b),
            metric=metric or self.headline_metric,
            n_boot=n_boot,
            seed=seed,
        )

    def is_correct(self, gold: TaskOutput, predicted: TaskOutput | None) -> bool:
        """Whether ``predicted`` answers ``gold`` right: what calibration bins count as a hit.

        A failure (``None``) never is. The default: the same items (:meth:`scored_items`), so
        the same label set or the same spans; an exclusive classifier compares its one label.
        """
        if predicted is None:
            return False
        if self.exclusive and isinstance(gold, Categories) and isinstance(predicted, Categories):
            return bool(gold.labels) and predicted.labels[:1] == gold.labels[:1]
        try:
            return self.scored_items(gold) == self.scored_items(predicted)
        except NotImplementedError:
            return gold == predicted

    def confusion_matrix(
        self, gold: list[TaskOutput], predicted: list[TaskOutput | None]
    ) -> dict[str, Any] | None:
        """The confusion matrix the report shows for this task, or None when it has none."""
        return None

    # -- annotation, training, exchange -------------------------------------------------------
    @property
    def correction_mode(self) -> Mode:
        """The mode of the ``fix`` pass, where an annotator corrects a rejected answer."""
        return "choice"

    def annotation_passes(
        self, *, no_span_pass: bool = True, multilabel: MultilabelPlan = "per_label"
    ) -> list[Pass]:
        """The focused passes an annotator takes over this task, in order.

        The default: ``check`` (binary: is the teacher's answer right?) over every answered
        example, ``fix`` (mode :attr:`correction_mode`) over the rejected ones, then ``review``.
        ``no_span_pass`` and ``multilabel`` are the planner's options for span and multi-label
        tasks (:func:`distil.annotate.passes.plan_passes`); a task they do not concern ignores them.
        """
        check = Pass("check", "binary", "Is the teacher's answer right?")
        return check_fix_review([check], self.correction_mode, "Correct the answer")

    def empty_output(self) -> TaskOutput:
        """The answer that asserts nothing: what a student that learned one constant answers
        when the constant cannot be copied (no labels by default)."""
        return Categories(labels=[])

    def merge_labels(
        self, store: Store, dataset: str, teacher_source: str | None
    ) -> TrainingData | None:
        """This task's own merge of human answers over the teacher's labels for training, or
        None for the standard one (:func:`distil.train.merge_labels`: one answer per example)."""
        return None

    # -- the runtime cascade (distil.cascade.Cascade) -----------------------------------------
    def cascade_request(self, prediction: StudentAnswer, threshold: float) -> CascadeRequest:
        """What a cascade asks the teacher for this student answer: None (keep it), ``"all"``
        (the whole answer) or the list of :attr:`cascade_fields` to ask.

        The default: ``"all"`` when the confidence is :func:`below_threshold`, else None.
        """
        return "all" if below_threshold(prediction.confidence, threshold) else None

    @property
    def cascade_fields(self) -> list[str] | None:
        """The fields an answer is made of, where a cascade can ask the teacher for some of them
        (counted in :class:`~distil.cascade.CascadeStats`); None for an answer asked whole."""
        return None

    def cascade_task(self, fields: list[str]) -> Task:
        """The task the teacher is given to answer ``fields`` alone (the default: this task)."""
        return self

    def cascade_merge(
        self, student: StudentAnswer, teacher: Prediction, fields: list[str] | None
    ) -> Prediction:
        """The answer a cascade returns for an example it asked the teacher about (``fields``:
        what it asked, None for the whole answer); the cascade sets its ``source``.

        The default: the teacher's prediction; where the teacher failed, the student's answer
        and confidence with the teacher's usage and no error (a runtime answer must exist).
        """
        if teacher.ok:
            return teacher
        return Prediction(
            example_id=teacher.example_id,
            source=teacher.source,
            output=student.output,
            confidence=student.confidence,
            usage=teacher.usage,
        )

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> Task:
        """The task that :meth:`describe` gave ``described`` (a saved student's ``meta.json``).

        Called on :class:`Task`, it builds the class registered for ``described["kind"]``; a
        subclass whose constructor takes more than labels, descriptions and instructions
        overrides it. Raises ``ValueError`` for an unknown kind, ``TypeError``/``ValueError``
        when the description does not fit the class.
        """
        if cls is Task:
            kind = described.get("kind")
            found = _KINDS.get(kind) if isinstance(kind, str) else None
            if found is None:
                raise ValueError(
                    f"no task class of kind {kind!r} (known: {', '.join(sorted(_KINDS))})"
                )
            return found.from_description(described)
        return cls(
            list(described["labels"]),
            descriptions=described.get("descriptions") or None,
            instructions=described.get("instructions"),
        )

    @classmethod
    def known_kinds(cls) -> list[str]:
        """The kinds :meth:`from_description` can rebuild (every task class defined so far)."""
        return sorted(_KINDS)

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (stored with runs, hashed into provenance)."""
        return {
            "kind": self.kind,
            "labels": self.labels,
            "descriptions": self.descriptions,
            "instructions": self.instructions,
        }

    def fingerprint(self) -> str:
        blob = json.dumps(self.describe(), sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:12]

    def label_text(self, label: str) -> str:
        """The natural-language form of a label: its description, or the label with _ as spaces."""
        return self.descriptions.get(label) or label.replace("_", " ")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} labels={self.labels}>"
