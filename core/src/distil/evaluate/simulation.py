"""How a simulation reads (:mod:`distil.simulate`): its Markdown tables and its plot.

Plain functions over the JSON-able result of :func:`distil.simulate.simulate`, so a saved
``simulate.json`` can be rendered again. The plot needs matplotlib, imported only when it is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["beats_teacher_at", "plot_simulation", "simulate_markdown"]


def _label(metric: str) -> str:
    return metric.replace("_f1", "-F1")


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def _interval(ci: list[float], signed: bool = False) -> str:
    fmt = _signed if signed else (lambda v: f"{v:.3f}")
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def beats_teacher_at(points: list[dict[str, Any]]) -> int | None:
    """The fewest cards after which the student is better than the teacher (the whole 95%
    interval of delta above 0) at that point and every later one, or None."""
    found: int | None = None
    for point in reversed(points):
        if point["delta_ci"][0] <= 0:
            break
        found = point["cards"]
    return found


def simulate_markdown(result: dict[str, Any], details: dict[str, Any] | None = None) -> str:
    """The tables of :func:`simulate` (one per order) with the plain-language reading."""
    name = _label(result["metric"])
    teacher = result["teacher"]
    lines = ["# Annotation budget: the oracle simulation", ""]
    lines.append(
        f"Teacher {name}: {teacher['score']:.3f} {_interval(teacher['ci'])}"
        + (f" on {details['n_gold']} gold examples." if details else ".")
    )
    baseline = (details or {}).get("baseline")
    if baseline:
        lines.append(
            f"Majority-class baseline (always `{baseline['label']}`, the teacher's most frequent "
            f"train label): {baseline['score']:.3f} {_interval(baseline['ci'])}."
        )
    if details:
        o = details["oracle"]
        lines.append(
            f"Oracle `{o['path']}`: {o['in_train']} answers for train examples "
            f"(of {details['n_train']}); {o['not_in_train']} of its ids are not in the train set."
        )
    for order, points in result["curves"].items():
        lines += [
            "",
            f"## {order} order",
            "",
            f"| cards | changed | {name} [95% CI] | Δ vs teacher [95% CI] |",
            "|---:|---:|---:|---:|",
        ]
        for p in points:
            lines.append(
                f"| {p['cards']:,} | {p['changed']:,} | {p['score']:.3f} {_interval(p['ci'])} | "
                f"{_signed(p['delta'])} {_interval(p['delta_ci'], signed=True)} |"
            )
        lines.append("")
        at = beats_teacher_at(points)
        last = points[-1]["cards"]
        if at is not None:
            lines.append(f"The student beats the teacher from {at:,} cards on (Δ's 95% CI > 0).")
        else:
            lines.append(f"The student does not clearly beat the teacher within {last:,} cards.")
        ignored = (details or {}).get("ignored", {}).get(order)
        if ignored:
            lines.append(
                f"{ignored:,} card(s) answered `ignore` and not counted: their example is not in "
                "the oracle file."
            )
    comp = result.get("queue_vs_random")
    if comp:
        lines += [
            "",
            "## queue vs random",
            "",
            f"After {comp['cards']:,} cards, queue − random {name}: {_signed(comp['delta'])} "
            f"{_interval(comp['ci'], signed=True)}.",
        ]
    return "\n".join(lines) + "\n"


def plot_simulation(result: dict[str, Any], path: str | Path) -> Path:
    """Score against cards for each order (with its 95% band), the teacher as a horizontal band.

    matplotlib is not a dependency of distil: without it this raises ImportError.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plotting the simulation needs matplotlib, which distil does not install: "
            "pip install matplotlib"
        ) from exc
    name = _label(result["metric"])
    teacher = result["teacher"]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        ax.axhspan(*teacher["ci"], color="grey", alpha=0.2, label="teacher 95% CI")
        ax.axhline(teacher["score"], color="grey", linestyle="--", label="teacher")
        for order, points in result["curves"].items():
            xs = [p["cards"] for p in points]
            ax.fill_between(
                xs, [p["ci"][0] for p in points], [p["ci"][1] for p in points], alpha=0.2
            )
            ax.plot(xs, [p["score"] for p in points], marker="o", label=f"student ({order})")
        ax.set_xlabel("cards reviewed")
        ax.set_ylabel(name)
        ax.set_title("annotation budget: student vs teacher")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out
