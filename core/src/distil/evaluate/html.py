"""``report.html``: the report as one self-contained page a team can put in front of its managers.

Everything is inline: the CSS, and the plots as base64 PNGs drawn with matplotlib (the ``plots``
extra, imported lazily with the Agg backend). Without matplotlib the page still has every table and
says which package draws the plots. Every piece of text from the report (source names, labels,
file names) is HTML-escaped, so a label like ``<b>`` prints as written. No external URL is used.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from html import escape
from typing import Any

from .summary import (
    findings,
    headline_metric,
    is_span_report,
    label_rows,
    summary_rows,
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
figure{margin:1.5rem 0}
figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9rem;color:#555;max-width:800px}
.note{background:#fff7e0;border:1px solid #e6c96b;padding:.5rem 1rem}
code{font-size:.85rem}
"""

Plot = tuple[str, str, str]  # title, caption, base64 PNG


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _metric_label(metric: str) -> str:
    return metric.replace("_f1", "-F1")


def _f1_plot(report: dict[str, Any]) -> Plot | None:
    import matplotlib.pyplot as plt

    metric = headline_metric(report)
    rows = [s for s in report["sources"] if s["scores"].get(metric) is not None]
    if not rows:
        return None
    values = [s["scores"][metric] for s in rows]
    cis = [
        (s["scores"].get("ci") or {}).get(metric) or [v, v]
        for s, v in zip(rows, values, strict=True)
    ]
    lower = [max(0.0, v - ci[0]) for v, ci in zip(values, cis, strict=True)]
    upper = [max(0.0, ci[1] - v) for v, ci in zip(values, cis, strict=True)]
    colors = ["#d9822b" if s["role"] == "teacher" else "#2b7bd9" for s in rows]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.5))
    ys = list(range(len(rows)))
    ax.barh(ys, values, xerr=[lower, upper], color=colors, capsize=4)
    ax.set_yticks(ys, [f"{s['name']} ({s['role']})" for s in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{_metric_label(metric)} on gold (95% bootstrap CI)")
    return (
        f"{_metric_label(metric)} per source",
        "Bars are the score on the gold set; whiskers the percentile-bootstrap 95% interval.",
        _png(fig),
    )


def _speed_plot(report: dict[str, Any]) -> Plot | None:
    import matplotlib.pyplot as plt

    metric = headline_metric(report)
    rows = [
        s
        for s in report["sources"]
        if s["utility"].get("docs_per_s") and s["scores"].get(metric) is not None
    ]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for s in rows:
        color = "#d9822b" if s["role"] == "teacher" else "#2b7bd9"
        ax.scatter(s["utility"]["docs_per_s"], s["scores"][metric], s=60, color=color)
        ax.annotate(
            s["name"],
            (s["utility"]["docs_per_s"], s["scores"][metric]),
            textcoords="offset points",
            xytext=(6, 4),
        )
    ax.set_xscale("log")
    ax.set_xlabel("documents per second (log scale)")
    ax.set_ylabel(_metric_label(metric))
    ax.set_ylim(0, 1)
    ax.grid(True, which="both", alpha=0.3)
    return (
        f"Speed vs {_metric_label(metric)}",
        "Up and to the right is better. Teacher speed is sequential-equivalent (the sum of its "
        "recorded latencies); the student's is its timed batched predict.",
        _png(fig),
    )


def _cost_plot(report: dict[str, Any]) -> Plot | None:
    import matplotlib.pyplot as plt

    students = [
        s
        for s in report["sources"]
        if s["role"] == "student"
        and (s["utility"].get("break_even") or {}).get("saving_per_doc") is not None
    ]
    if not students:
        return None
    student = students[0]
    be = student["utility"]["break_even"]
    teacher_doc, student_doc = be["teacher_cost_per_doc"], be["student_cost_per_doc"]
    fixed, docs = be["fixed_cost"], be.get("break_even_docs")
    top = max(2.0 * docs, 1000.0) if docs else 1_000_000.0
    xs = [top * i / 100 for i in range(101)]
    fig, ax = plt.subplots(figsize=(7, 4))
    teacher_name = be.get("teacher") or "teacher"
    ax.plot(xs, [x * teacher_doc for x in xs], color="#d9822b", label=f"teacher {teacher_name}")
    ax.plot(
        xs,
        [fixed + x * student_doc for x in xs],
        color="#2b7bd9",
        label=f"student {student['name']} (fixed + per doc)",
    )
    if docs:
        ax.axvline(docs, color="#555", linestyle="--", linewidth=1)
        ax.scatter([docs], [fixed + docs * student_doc], color="black", zorder=3)
        ax.annotate(
            f"break-even: {docs:,.0f} docs",
            (docs, fixed + docs * student_doc),
            textcoords="offset points",
            xytext=(8, -14),
        )
    ax.set_xlabel("documents processed")
    ax.set_ylabel("total cost ($)")
    ax.legend(loc="upper left")
    ax.grid(True, alpha=0.3)
    caption = (
        f"The student starts at its fixed cost (${fixed:,.2f}: human annotations and training) "
        "and then costs its compute per document; the teacher costs its price (or compute) per "
        "document. "
        + (
            f"They cross at {docs:,.0f} documents."
            if docs
            else "The student saves nothing per document, so it never breaks even."
        )
    )
    return ("Cost vs volume", caption, _png(fig))


def _curve_plot(curve: dict[str, Any]) -> Plot | None:
    import matplotlib.pyplot as plt

    rows = curve.get("rows") or []
    if not rows:
        return None
    xs = [r["n_train"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xs, [r["score"] for r in rows], marker="o", color="#2b7bd9")
    ax.fill_between(
        xs, [r["ci"][0] for r in rows], [r["ci"][1] for r in rows], alpha=0.25, color="#2b7bd9"
    )
    ax.set_xlabel("training examples")
    ax.set_ylabel(_metric_label(str(curve.get("metric", "score"))))
    ax.grid(True, alpha=0.3)
    return (
        "Learning curve",
        "The student retrained on growing shares of its labels (band: 95% CI). "
        + str(curve.get("signal", "")),
        _png(fig),
    )


def _confusion_plot(report: dict[str, Any]) -> Plot | None:
    import matplotlib.pyplot as plt

    rows = [s for s in report["sources"] if s["scores"].get("confusion_matrix")]
    if not rows:
        return None
    labels: list[str] = list(report["task"].get("labels", []))
    for s in rows:
        for g, preds in s["scores"]["confusion_matrix"].items():
            labels += [x for x in [g, *preds] if x not in labels]
    many = len(labels) > 25
    size = 4 if not many else 7
    fig, axes = plt.subplots(1, len(rows), figsize=(size * len(rows), size), squeeze=False)
    for ax, s in zip(axes[0], rows, strict=True):
        matrix = s["scores"]["confusion_matrix"]
        grid = [[matrix.get(g, {}).get(p, 0) for p in labels] for g in labels]
        ax.imshow(grid, cmap="Blues")
        if not many:
            ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
            ax.set_yticks(range(len(labels)), labels)
            peak = max(max(r) for r in grid) or 1
            for i, r in enumerate(grid):
                for j, v in enumerate(r):
                    if v:
                        color = "white" if v > peak / 2 else "black"
                        ax.text(j, i, str(v), ha="center", va="center", color=color)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(s["name"])
    fig.tight_layout()
    return (
        "Confusion matrix",
        "Counts of gold label (rows) against predicted label (columns); <none> is a failed answer."
        + (" Too many labels to name them on the axes; see report.json." if many else ""),
        _png(fig),
    )


def _reliability_plot(report: dict[str, Any]) -> Plot | None:
    import matplotlib.pyplot as plt

    rows = [s for s in report["sources"] if (s["scores"].get("calibration") or {}).get("n")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="#888", label="perfect calibration")
    for s in rows:
        cal = s["scores"]["calibration"]
        pts = [b for b in cal["bins"] if b["count"]]
        ax.plot(
            [b["mean_confidence"] for b in pts],
            [b["accuracy"] for b in pts],
            marker="o",
            label=f"{s['name']} (ECE {cal['ece']:.3f})",
        )
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("accuracy in bin")
    ax.legend(loc="lower right")
    ax.grid(True, alpha=0.3)
    return (
        "Reliability curve",
        "Answers binned by confidence (10 equal-width bins); a calibrated source lies on the "
        "diagonal. ECE is the count-weighted mean gap between confidence and accuracy.",
        _png(fig),
    )


def plots(report: dict[str, Any], learning_curve: dict[str, Any] | None = None) -> list[Plot]:
    """Every plot that applies to ``report`` (raises ImportError without matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    makers: list[Callable[[], Plot | None]] = [
        lambda: _f1_plot(report),
        lambda: _speed_plot(report),
        lambda: _cost_plot(report),
    ]
    if learning_curve:
        makers.append(lambda: _curve_plot(learning_curve))
    if not is_span_report(report):
        makers.append(lambda: _confusion_plot(report))
    makers.append(lambda: _reliability_plot(report))
    return [p for make in makers if (p := make()) is not None]


def render_html(report: dict[str, Any], learning_curve: dict[str, Any] | None = None) -> str:
    """The report as one self-contained HTML page (tables, findings, embedded plots)."""
    task, gold = report["task"], report["gold"]
    title = f"distil evaluation: {task.get('kind', 'task')} on {gold['name']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Gold set: <b>{escape(str(gold['name']))}</b>, {int(gold['n'])} examples. "
        f"Task: {escape(str(task.get('kind')))}, {len(task.get('labels', []))} labels. "
        "Scores carry percentile-bootstrap 95% intervals; a failed answer counts as wrong.</p>",
        _table(*summary_rows(report)),
    ]
    found = findings(report)
    if found:
        parts.append("<p><b>Findings.</b> " + escape(" ".join(found)) + "</p>")
    assumed = report.get("assumptions")
    if assumed:
        parts.append(
            "<p><b>Assumptions.</b> "
            + escape(", ".join(f"{k} = {v}" for k, v in assumed.items()))
            + ". Costs without a price table are measured seconds × cpu_hour_cost.</p>"
        )
    parts.append("<ul>")
    for s in report["sources"]:
        parts.append(
            f"<li>{escape(s['name'])} ({escape(s['role'])}): <code>{escape(s['source'])}</code></li>"
        )
    parts.append("</ul><h2>Plots</h2>")
    try:
        figures = plots(report, learning_curve)
    except ImportError:
        parts.append(
            '<p class="note">No plots: matplotlib is not installed. '
            "Install the <code>distil[plots]</code> extra (pip install matplotlib) and run "
            "<code>distil evaluate</code> again.</p>"
        )
    else:
        for name, caption, png in figures:
            parts.append(
                f'<figure><img alt="{escape(name)}" src="data:image/png;base64,{png}">'
                f"<figcaption><b>{escape(name)}.</b> {escape(caption)}</figcaption></figure>"
            )
    heading = "F1 per label (span-exact)" if is_span_report(report) else "F1 per label"
    parts += [f"<h2>{heading}</h2>", _table(*label_rows(report))]
    meta = report.get("meta", {})
    stamp = ", ".join(f"{k}: {v}" for k, v in meta.items() if v is not None)
    if stamp:
        parts.append(f"<p><small>{escape(stamp)}</small></p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
