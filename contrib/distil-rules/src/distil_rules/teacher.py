"""The rule teacher: keywords and patterns as a weak labeller that abstains when no rule fires.

Text classification: each label's score is the noisy-or of the confidences of its rules that
fired (two rules at 0.8 give 0.96). An exclusive task gets the top label, with confidence
``top × (1 − runner-up)`` so that rules that disagree give a doubtful answer; a tie abstains.
A multi-label task gets every label scoring at least ``threshold``.

Span tasks: every match is a span. For ``ner`` (no overlaps) the longest match wins, then the
earliest, as spaCy's ``filter_spans`` does; ``spans`` tasks keep them all. Confidence is the
weakest kept span's rule confidence.

No rule fires: the prediction has no output and ``error = "abstained: no rule matched"`` (a
failed answer to every later stage, so ``distil train`` leaves the example out). With a
``fallback`` teacher (the LLM, say) those examples are labelled by it instead: rules answer what
they are sure of for free, the LLM the rest. ``raw`` lists the rules that fired, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import distil

from .patterns import Rule, rules_hash

ABSTAINED = "abstained: no rule matched"


class RulesTeacher(distil.Teacher):
    """Labels with :class:`~distil_rules.patterns.Rule` objects; see the module docstring."""

    kind = "rules"

    def __init__(
        self,
        rules: list[Rule],
        *,
        threshold: float = 0.5,
        fallback: distil.Teacher | None = None,
    ) -> None:
        if not rules:
            raise distil.ConfigError("the rules teacher needs at least one rule")
        if not 0.0 < threshold <= 1.0:
            raise distil.ConfigError(f"teacher.threshold must be in (0, 1], got {threshold}")
        self.rules = list(rules)
        self.threshold = threshold
        self.fallback = fallback

    def rules_source(self) -> str:
        return f"teacher:rules/{len(self.rules)}#rules={rules_hash(self.rules)}"

    def source(self, task: distil.Task) -> str:
        if self.fallback is None:
            return self.rules_source()
        return f"{self.rules_source()}|fallback={self.fallback.source(task)}"

    def check(self, task: distil.Task) -> None:
        """Every rule's label must be one of the task's: a typo would label nothing."""
        if task.kind not in ("textcat", "ner", "spans"):
            raise distil.ConfigError(
                f"the rules teacher labels textcat and span tasks, not {task.kind}"
            )
        for rule in self.rules:
            if rule.label not in task.labels:
                raise distil.ConfigError(
                    f"{rule.where}: label {rule.label!r} is not a label of the task {task.labels}"
                )

    # -- matching ------------------------------------------------------------------------------
    def fired(self, text: str) -> list[tuple[Rule, list[tuple[int, int]]]]:
        """Each rule that matches ``text``, with its matches (in rule order)."""
        out = []
        for rule in self.rules:
            matches = list(rule.finditer(text))
            if matches:
                out.append((rule, matches))
        return out

    def categories(
        self, task: distil.TextCat, hits: list[tuple[Rule, list[tuple[int, int]]]]
    ) -> tuple[distil.Categories | None, float | None, str | None]:
        miss = {label: 1.0 for label in task.labels}
        for rule, _ in hits:
            miss[rule.label] *= 1.0 - rule.confidence
        scores = {label: round(1.0 - m, 12) for label, m in miss.items()}
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        if task.multilabel:
            chosen = [label for label, score in ranked if score >= self.threshold]
            if not chosen:
                return None, None, f"abstained: no label reached the threshold {self.threshold}"
            return (
                distil.Categories(labels=chosen, scores=scores),
                min(scores[c] for c in chosen),
                None,
            )
        (top, best), (second, runner_up) = ranked[0], ranked[1] if len(ranked) > 1 else ("", 0.0)
        if best == runner_up:
            return None, None, f"abstained: rules disagree ({top} and {second} score {best:.3f})"
        return distil.Categories(labels=[top], scores=scores), best * (1.0 - runner_up), None

    def spans(
        self, task: distil.Task, hits: list[tuple[Rule, list[tuple[int, int]]]]
    ) -> tuple[distil.Spans, float]:
        candidates = {
            (start, end, rule.label): rule.confidence
            for rule, matches in hits
            for start, end in matches
        }
        ordered = sorted(candidates.items(), key=lambda kv: (kv[0][0] - kv[0][1], kv[0][0], -kv[1]))
        kept: list[tuple[tuple[int, int, str], float]] = []
        for (start, end, label), conf in ordered:
            overlaps = any(start < e and s < end for (s, e, _), _c in kept)
            if getattr(task, "allow_overlap", False) or not overlaps:
                kept.append(((start, end, label), conf))
        kept.sort(key=lambda kv: kv[0])
        spans = [distil.Span(start=s, end=e, label=label) for (s, e, label), _ in kept]
        return distil.Spans(spans=spans), min(c for _, c in kept)

    def label_one(
        self, task: distil.Task, example: distil.Example, source: str
    ) -> distil.Prediction:
        started = time.perf_counter()
        hits = self.fired(example.text)
        raw = json.dumps([rule.name for rule, _ in hits])
        output: distil.Categories | distil.Spans | None = None
        confidence: float | None = None
        error: str | None = ABSTAINED
        if hits and isinstance(task, distil.TextCat):
            output, confidence, error = self.categories(task, hits)
        elif hits:
            output, confidence = self.spans(task, hits)
            error = None
        return distil.Prediction(
            example_id=example.id,
            source=source,
            output=output,
            confidence=confidence,
            error=error,
            raw=raw,
            usage=distil.Usage(latency_s=time.perf_counter() - started, attempts=0),
        )

    # -- the teacher interface ---------------------------------------------------------------
    async def alabel(
        self,
        task: distil.Task,
        examples: Sequence[distil.Example],
        on_results: Any = None,
    ) -> list[distil.Prediction]:
        self.check(task)
        source = self.source(task)
        predictions = [self.label_one(task, ex.without_answer(), source) for ex in examples]
        if self.fallback is not None:
            predictions = await self._fall_back(task, examples, predictions, source)
        if on_results is not None and predictions:
            maybe = on_results(predictions)
            if asyncio.iscoroutine(maybe):
                await maybe
        return predictions

    async def _fall_back(
        self,
        task: distil.Task,
        examples: Sequence[distil.Example],
        predictions: list[distil.Prediction],
        source: str,
    ) -> list[distil.Prediction]:
        """Ask the fallback teacher about the examples the rules abstained on."""
        assert self.fallback is not None
        todo = [i for i, p in enumerate(predictions) if not p.ok]
        if not todo:
            return predictions
        answers = await self.fallback.alabel(task, [examples[i].without_answer() for i in todo])
        out = list(predictions)
        for i, answer in zip(todo, answers, strict=True):
            # One source for the whole teacher (the runner resumes by it); ``raw`` keeps the answer.
            out[i] = answer.model_copy(update={"source": source})
        return out
