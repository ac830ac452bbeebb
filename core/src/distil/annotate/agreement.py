"""Inter-annotator agreement and the conflicts the review pass resolves.

For each pass, every pair of annotators is compared on the examples both answered in that pass:
percent agreement, and Cohen's kappa (``(p_o - p_e) / (1 - p_e)``, chance agreement from each
annotator's own answer distribution). A binary pass compares verdicts (accept / reject / ignore);
a correction pass compares the outputs given. With more than two annotators the report lists every
pair and their mean kappa (Light's kappa).

A **conflict** is an example where two or more annotators' resolved answers (see
:mod:`distil.annotate.resolve`) differ and no review answer settles it yet.

**Who may review.** With reviewers named (``[annotate] reviewers`` or ``distil annotate
--reviewer``), only they see the review pass and only their review answers are stored; without,
any annotator may review. Either way nobody reviews a conflict they are part of (an annotator who
answered that example), and a review answer is only taken for an example with a conflict (or one
already reviewed, to revise it): a review answer decides the training label, so it must come from
a third person and settle a real disagreement.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from ..records import Annotation, Categories, Spans, TaskOutput
from .resolve import REVIEW_PASS, effective_events, resolve_annotator

__all__ = [
    "agreement_report",
    "answer_key",
    "cohen_kappa",
    "conflicts",
    "may_review",
    "review_refusal",
    "reviewable",
]


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two equally long answer lists; None when empty.

    When both annotators always give the same single answer (chance agreement 1), kappa is 1.0 if
    they agree and undefined otherwise (returned as 0.0).
    """
    if len(a) != len(b):
        raise ValueError("both annotators must answer the same items")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def output_key(output: TaskOutput | None) -> str:
    if output is None:
        return "none"
    if isinstance(output, Categories):
        return json.dumps(sorted(output.labels))
    if isinstance(output, Spans):
        return json.dumps(sorted((s.start, s.end, s.label) for s in output.spans))
    return "none"


def answer_key(a: Annotation) -> str:
    """What two answers must share to agree: the verdict, and the output when there is one."""
    if a.answer in ("reject", "ignore") or a.output is None:
        return a.answer
    return output_key(a.output)


def _per_pass(events: Iterable[Annotation]) -> dict[str, dict[str, dict[str, Annotation]]]:
    """pass → annotator → example → the annotator's latest live answer in that pass."""
    out: dict[str, dict[str, dict[str, Annotation]]] = {}
    for r in effective_events(events):
        a = r.annotation
        if a.pass_name in (None, REVIEW_PASS):
            continue
        out.setdefault(a.pass_name, {}).setdefault(a.annotator, {})[a.example_id] = a
    return out


def agreement_report(events: Sequence[Annotation]) -> dict[str, Any]:
    """Per pass: annotators, answers each gave, and for each pair n, agreement and kappa."""
    report: dict[str, Any] = {"passes": {}, "conflicts": len(conflicts(events))}
    kappas: list[float] = []
    for pass_name, by_annotator in sorted(_per_pass(events).items()):
        pairs = []
        for x, y in itertools.combinations(sorted(by_annotator), 2):
            shared = sorted(set(by_annotator[x]) & set(by_annotator[y]))
            ka = [_verdict(by_annotator[x][i]) for i in shared]
            kb = [_verdict(by_annotator[y][i]) for i in shared]
            kappa = cohen_kappa(ka, kb)
            agree = (
                sum(p == q for p, q in zip(ka, kb, strict=True)) / len(shared) if shared else None
            )
            if kappa is not None:
                kappas.append(kappa)
            pairs.append({"a": x, "b": y, "n": len(shared), "agreement": agree, "kappa": kappa})
        report["passes"][pass_name] = {
            "answers": {name: len(items) for name, items in sorted(by_annotator.items())},
            "pairs": pairs,
        }
    report["mean_kappa"] = sum(kappas) / len(kappas) if kappas else None
    return report


def _verdict(a: Annotation) -> str:
    return a.answer if a.pass_name and a.pass_name.startswith("check") else answer_key(a)


def conflicts(events: Sequence[Annotation]) -> dict[str, dict[str, Annotation]]:
    """example id → annotator → resolved answer, for the examples annotators disagree on and no
    review answer settles."""
    grouped: dict[str, dict[str, list[Any]]] = {}
    reviewed: set[str] = set()
    for r in effective_events(events):
        a = r.annotation
        if a.pass_name == REVIEW_PASS:
            reviewed.add(a.example_id)
            continue
        grouped.setdefault(a.example_id, {}).setdefault(a.annotator, []).append(r)
    out: dict[str, dict[str, Annotation]] = {}
    for example_id, by_annotator in grouped.items():
        if example_id in reviewed or len(by_annotator) < 2:
            continue
        finals = {
            name: f.annotation
            for name, evs in by_annotator.items()
            if (f := resolve_annotator(evs)) is not None
        }
        if len({answer_key(a) for a in finals.values()}) > 1:
            out[example_id] = finals
    return out


def may_review(annotator: str, reviewers: Collection[str] | None) -> bool:
    """Whether ``annotator`` may take the review pass at all (no reviewers named: anyone)."""
    return not reviewers or annotator in reviewers


def _involved(events: Iterable[Annotation], annotator: str) -> set[str]:
    """The examples ``annotator`` answered outside the review pass (live answers only)."""
    return {
        r.annotation.example_id
        for r in effective_events(events)
        if r.annotation.annotator == annotator and r.annotation.pass_name != REVIEW_PASS
    }


def reviewable(
    events: Sequence[Annotation], annotator: str, reviewers: Collection[str] | None = None
) -> set[str]:
    """The open conflicts ``annotator`` may settle: none unless they may review, and never one
    they are part of."""
    if not may_review(annotator, reviewers):
        return set()
    return set(conflicts(events)) - _involved(events, annotator)


def review_refusal(
    events: Sequence[Annotation],
    annotator: str,
    example_id: str,
    reviewers: Collection[str] | None = None,
) -> str | None:
    """Why ``annotator`` may not store a review answer on ``example_id``, or None when they may."""
    if not may_review(annotator, reviewers):
        names = ", ".join(sorted(reviewers or ()))
        return (
            f"session {annotator!r} is not a reviewer (the reviewers are: {names}); "
            "name reviewers in [annotate] reviewers or with distil annotate --reviewer"
        )
    if example_id in _involved(events, annotator):
        return (
            f"session {annotator!r} answered example {example_id!r} itself: "
            "a conflict is reviewed by someone who is not part of it"
        )
    reviewed = any(
        r.annotation.pass_name == REVIEW_PASS and r.annotation.example_id == example_id
        for r in effective_events(events)
    )
    if not reviewed and example_id not in conflicts(events):
        return f"example {example_id!r} has no conflict between annotators to review"
    return None
