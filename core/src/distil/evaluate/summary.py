"""What a report says, as rows and sentences: shared by the Markdown, HTML and terminal renderers.

These read a report dict (:func:`~distil.evaluate.report.build_report`) and return plain strings;
they render nothing themselves. They live below both ``report.py`` and ``html.py`` so that the two
renderers import them from here instead of from each other (which was an import cycle).
"""

from __future__ import annotations

import math
from typing import Any

DASH = "—"


def _columns(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The sources, then the baseline (when the report has one) as a column of scores only."""
    baseline = report.get("baseline")
    if not baseline:
        return list(report["sources"])
    column = {
        "name": baseline.get("name", "majority baseline"),
        "role": "baseline",
        "scores": baseline.get("scores") or {},
        "utility": {},
        "extra": {},
    }
    return [*report["sources"], column]


# -- formatting -----------------------------------------------------------------------------------
def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:.{digits}f}"


def _with_ci(scores: dict[str, Any], metric: str) -> str:
    value = scores.get(metric)
    if value is None:
        return DASH
    ci = (scores.get("ci") or {}).get(metric)
    return f"{_num(value)} [{_num(ci[0])}, {_num(ci[1])}]" if ci else _num(value)


def _rate(value: Any) -> str:
    return DASH if value is None else f"{value:,.1f}"


def _megabytes(value: Any) -> str:
    return DASH if value is None else f"{value / 1_000_000:,.1f}"


def _money(value: Any) -> str:
    if value is None:
        return DASH
    if 0 < abs(value) < 0.01:
        return f"{value:.2g}"  # a student's compute cost per 1M docs is often fractions of a cent
    return f"{value:,.2f}"


def _docs(value: Any) -> str:
    return DASH if value is None else f"{value:,.0f}"


def _cost_per_1m(source: dict[str, Any]) -> str:
    """Cost per 1M documents; for a student that leaves documents to the LLM, with those calls."""
    utility = source["utility"]
    be = utility.get("break_even") or {}
    if be.get("teacher_share"):
        per_doc = be.get("student_cost_per_doc")
        return DASH if per_doc is None else _money(per_doc * 1_000_000) + " (with LLM calls)"
    return _money(utility.get("cost_per_1m_docs"))


def _share(value: float | None) -> str:
    return DASH if value is None else f"{value:.1%}"


def _break_even(utility: dict[str, Any]) -> str:
    """The break-even volume cell: docs, "never" (no saving per doc), or a dash (not known)."""
    be = utility.get("break_even")
    if not be:
        return DASH
    if be.get("break_even_docs") is not None:
        return _docs(be["break_even_docs"])
    return DASH if be.get("saving_per_doc") is None else "never"


def _ece(scores: dict[str, Any]) -> str:
    return _num((scores.get("calibration") or {}).get("ece"))


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def _scoring(report: dict[str, Any]) -> dict[str, Any]:
    """How the report's task is scored: what :func:`build_report` wrote from the task
    (``headline_metric``, ``span_exact``, ``mode``, ``accuracy_title``, ``per_label_title``).
    What a report saved before it did lacks is read from its task description, as the built-in
    tasks say it: span tasks' descriptions carry ``allow_overlap``, an extract task's its
    ``schema``."""
    scoring = dict(report.get("scoring") or {})
    task = report.get("task") or {}
    if "span_exact" not in scoring:
        span = "allow_overlap" in task
        scoring.setdefault("headline_metric", "micro_f1" if span else "macro_f1")
        scoring["span_exact"] = span
    span, extract = bool(scoring["span_exact"]), bool(task.get("schema"))
    if extract:
        mode = f"records of {task['schema']}, scored per field and per record"
        per_label = "F1 per field (span fields exact on the value)"
    elif span:
        spans = "overlapping spans" if task.get("allow_overlap") else "non-overlapping entities"
        mode, per_label = f"{spans}, span-exact scores", "F1 per label (span-exact)"
    else:
        mode = "multi-label" if task.get("multilabel") else "exclusive"
        per_label = "F1 per label"
    scoring.setdefault("mode", mode)
    scoring.setdefault("accuracy_title", "exact-record match" if extract else "accuracy")
    scoring.setdefault("per_label_title", per_label)
    return scoring


def scoring_title(report: dict[str, Any], key: str) -> str:
    """``mode``, ``accuracy_title`` or ``per_label_title`` of the report's task
    (:class:`distil.Task`), from the report or, for an older one, its task description."""
    return str(_scoring(report)[key])


def is_span_report(report: dict[str, Any]) -> bool:
    """True for a task scored span-exact (``ner``, ``spans``): no accuracy row."""
    return bool(_scoring(report).get("span_exact"))


def headline_metric(report: dict[str, Any]) -> str:
    """The metric a report leads with: the task's own (micro-F1 for span tasks, the NER
    convention; macro-F1 by default)."""
    return str(_scoring(report).get("headline_metric") or "macro_f1")


def summary_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table: a header (metric, then one column per source) and its rows.

    Span tasks get span-exact micro-F1 (first), macro-F1 and micro P/R, and no accuracy row.
    The majority-class baseline, when the report has one, is the last column.
    """
    sources = _columns(report)
    header = ["", *[s["name"] for s in sources]]

    def row(label: str, cell: Any) -> list[str]:
        return [label, *[cell(s) for s in sources]]

    if is_span_report(report):
        rows = [
            row("role", lambda s: s["role"]),
            row("micro-F1 (span-exact)", lambda s: _with_ci(s["scores"], "micro_f1")),
            row("macro-F1 (span-exact)", lambda s: _with_ci(s["scores"], "macro_f1")),
            row("micro-P", lambda s: _num(s["scores"].get("micro_p"))),
            row("micro-R", lambda s: _num(s["scores"].get("micro_r"))),
        ]
    else:
        rows = [
            row("role", lambda s: s["role"]),
            row(
                scoring_title(report, "accuracy_title"),
                lambda s: _with_ci(s["scores"], "accuracy"),
            ),
            row("macro-F1", lambda s: _with_ci(s["scores"], "macro_f1")),
            row("micro-F1", lambda s: _with_ci(s["scores"], "micro_f1")),
        ]
    positive = next(
        (s["scores"]["positive_label"] for s in sources if "positive_label" in s["scores"]), None
    )
    if positive is not None:
        rows.append(
            row(
                f"{positive} F1",
                lambda s: (
                    _with_ci(s["scores"], "positive_f1")
                    if s["scores"].get("positive_label") == positive
                    else _num(s["scores"].get("per_label", {}).get(positive, {}).get("f1"))
                ),
            )
        )
    rows += [
        row("parse-failure rate", lambda s: _num(s["scores"].get("failure_rate"))),
        row("docs/s", lambda s: _rate(s["utility"].get("docs_per_s"))),
        row("words/s", lambda s: _rate(s["utility"].get("words_per_s"))),
        row("p50 latency (ms)", lambda s: _rate(s["utility"].get("p50_latency_ms"))),
        row("p95 latency (ms)", lambda s: _rate(s["utility"].get("p95_latency_ms"))),
        row("model size (MB)", lambda s: _megabytes(s["utility"].get("model_size_bytes"))),
        row("peak memory (MB)", lambda s: _megabytes(s["utility"].get("peak_memory_bytes"))),
        row("cost per 1M docs", _cost_per_1m),
        row("cost basis", lambda s: s["utility"].get("cost_basis") or DASH),
        row(
            "fixed cost",
            lambda s: _money((s["utility"].get("break_even") or {}).get("fixed_cost")),
        ),
        row("break-even (docs)", lambda s: _break_even(s["utility"])),
        row("ECE (calibration)", lambda s: _ece(s["scores"])),
    ]
    if any((s["scores"].get("pending") or {}).get("document_share") for s in sources):
        rows.append(
            row(
                "docs left to the LLM",
                lambda s: _share((s["scores"].get("pending") or {}).get("document_share")),
            )
        )
    extra_keys = sorted(
        {
            k
            for s in sources
            for k, v in s["extra"].items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    )
    for key in extra_keys:
        rows.append(row(key, lambda s, key=key: _num(s["extra"].get(key))))
    return header, rows


def label_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per-label F1: one row per label (with its gold support), one column per source."""
    sources = report["sources"]
    labels: list[str] = list(report["task"].get("labels", []))
    for s in sources:
        labels += [x for x in s["scores"].get("per_label", {}) if x not in labels]
    header = ["label", "support", *[s["name"] for s in sources]]
    rows = []
    for label in labels:
        cells = [s["scores"].get("per_label", {}).get(label) for s in sources]
        support = next((c["support"] for c in cells if c is not None), None)
        rows.append(
            [
                label,
                DASH if support is None else str(support),
                *[DASH if c is None else _num(c["f1"]) for c in cells],
            ]
        )
    return header, rows


def _comparison(report: dict[str, Any], a: str, b: str) -> dict[str, Any] | None:
    """The comparison of a vs b (delta a − b), flipping one of b vs a when only that exists."""
    for c in report["comparisons"]:
        if c.get("a") == a and c.get("b") == b:
            return c
        if c.get("a") == b and c.get("b") == a:
            low, high = c["ci"]
            return {
                **c,
                "a": a,
                "b": b,
                "value_a": c.get("value_b"),
                "value_b": c.get("value_a"),
                "delta": -c["delta"],
                "ci": [-high, -low],
            }
    return None


def findings(report: dict[str, Any]) -> list[str]:
    """Plain-language sentences comparing each student with the (first) teacher."""
    sources = report["sources"]
    teachers = [s for s in sources if s["role"] == "teacher"]
    students = [s for s in sources if s["role"] == "student"]
    out: list[str] = []
    if teachers and students:
        teacher = teachers[0]
        for student in students:
            parts = []
            fast_s = student["utility"].get("docs_per_s")
            fast_t = teacher["utility"].get("docs_per_s")
            held = (student["scores"].get("pending") or {}).get("document_share") or 0.0
            if fast_s and fast_t and held:
                # The documents it leaves to the teacher wait for an LLM call each.
                fast_s = 1.0 / (1.0 / fast_s + held / fast_t)
            if fast_s and fast_t:
                ratio = fast_s / fast_t
                if ratio >= 1:
                    speed = f"{_times(ratio)} faster than"
                else:
                    speed = f"{_times(1 / ratio)} slower than"
                parts.append(f"student {student['name']} is {speed} teacher {teacher['name']}")
            comp = _comparison(report, student["name"], teacher["name"])
            metric = comp["metric"] if comp else headline_metric(report)
            label = metric.replace("_f1", "-F1").replace("_p", "-P").replace("_r", "-R")
            mine = student["scores"].get(metric)
            theirs = teacher["scores"].get(metric)
            if mine is not None and theirs is not None:
                delta = mine - theirs
                text = f"{label} {_num(mine)} vs {_num(theirs)} (Δ {_signed(delta)}"
                if comp:
                    low, high = comp["ci"]
                    text += f", 95% CI [{_signed(low)}, {_signed(high)}])"
                    if low > 0:
                        text += ": the student is better"
                    elif high < 0:
                        text += ": the student is worse"
                    else:
                        text += ": no clear difference (the interval includes 0)"
                else:
                    text += ", no paired test)"
                    text += (
                        ": the student scores higher"
                        if delta > 0
                        else ": the student scores lower"
                        if delta < 0
                        else ": the same score"
                    )
                parts.append(text)
            if parts:
                out.append("; ".join(parts) + ".")
    baseline = _baseline_finding(report)
    if baseline:
        out.append(baseline)
    for s in students:
        be = s["utility"].get("break_even")
        share = (be or {}).get("teacher_share") or 0.0
        if share:
            out.append(_still_teacher(s, be))
        if be and be.get("saving_per_doc") is not None:
            fixed = (
                f"fixed cost {_money(be['fixed_cost'])}: {be['human_annotations']} human "
                f"annotations {_money(be['annotation_cost'])} + training "
                f"{_money(be['training_cost'])}"
            )
            if be.get("break_even_docs") is not None:
                out.append(_recovers(report, s, be, fixed))
            else:
                out.append(
                    f"At the assumed costs {s['name']} never pays for itself: it saves nothing "
                    f"per document over the teacher ({fixed})."
                )
    for s in sources:
        rate = s["scores"].get("failure_rate")
        if rate:
            out.append(f"{s['name']} gave no usable answer for {rate:.1%} of the gold examples.")
    if not out and sources:
        metric = headline_metric(report)
        best = max(sources, key=lambda s: s["scores"].get(metric) or 0.0)
        name = metric.replace("_f1", "-F1")
        out.append(f"best {name}: {best['name']} ({_num(best['scores'].get(metric))}).")
    return out


def _still_teacher(student: dict[str, Any], be: dict[str, Any]) -> str:
    """The sentence for a student that still needs the teacher on some documents."""
    share = float(be["teacher_share"])
    fields = be.get("pending_fields")
    what = f" ({fields:,} field(s) in all)" if fields else ""
    if share >= 1.0:
        return (
            f"{student['name']} leaves fields to the teacher on every gold document{what}: in "
            "use each document still needs an LLM call, so it is no faster and saves nothing "
            "per document; its cost below counts those calls."
        )
    return (
        f"{student['name']} still needs the teacher on {share:.1%} of the gold documents{what}: "
        "in use those documents still need an LLM call; its cost per document and break-even "
        "below count them."
    )


def _recovers(
    report: dict[str, Any], student: dict[str, Any], be: dict[str, Any], fixed: str
) -> str:
    """The break-even sentence. "Pays for itself" only when the paired test says the student is
    not significantly worse than the teacher (the CI upper bound of student − teacher is ≥ 0):
    a cheaper model that is worse saves money by giving worse answers, which pays for nothing.
    """
    docs = _docs(be["break_even_docs"])
    teacher = be.get("teacher") or next(
        (s["name"] for s in report["sources"] if s["role"] == "teacher"), None
    )
    comp = _comparison(report, student["name"], teacher) if teacher else None
    if comp is None:
        return (
            f"At the assumed costs {student['name']} recovers its fixed cost after {docs} "
            f"documents ({fixed}); with no paired test against the teacher, whether its answers "
            "are as good is not known."
        )
    high = comp["ci"][1]
    if high < 0:
        metric = str(comp.get("metric", "score")).replace("_f1", "-F1")
        return (
            f"At the assumed costs {student['name']} recovers its fixed cost after {docs} "
            f"documents ({fixed}), but it does not pay for itself: its {metric} is significantly "
            f"below the teacher's (95% CI of the difference [{_signed(comp['ci'][0])}, "
            f"{_signed(high)}])."
        )
    return (
        f"At the assumed costs {student['name']} pays for itself after {docs} documents ({fixed})."
    )


def _baseline_finding(report: dict[str, Any]) -> str | None:
    """What the majority-class baseline scores, and which sources do not beat it."""
    baseline = report.get("baseline")
    if not baseline:
        return None
    metric = headline_metric(report)
    value = (baseline.get("scores") or {}).get(metric)
    if value is None:
        return None
    name = metric.replace("_f1", "-F1")
    accuracy = (baseline.get("scores") or {}).get("accuracy")
    text = (
        f"The majority baseline (always {baseline.get('label')!r}, the teacher's most frequent "
        f"train label) scores {name} {_num(value)}"
        + (f", accuracy {_num(accuracy)}" if accuracy is not None else "")
    )
    behind = [
        s["name"]
        for s in report["sources"]
        if s["scores"].get(metric) is not None and s["scores"][metric] <= value
    ]
    if behind:
        text += f"; {', '.join(behind)} {'does' if len(behind) == 1 else 'do'} no better"
    return text + "."
