"""Learning curve: does more annotation still pay off?

:func:`learning_curve` trains a fresh student on growing fractions of the training pairs and
scores each on the gold set; :func:`learning_curve_markdown` and :func:`plot_learning_curve`
present it. The fractions are *nested*: one seeded shuffle, then its first 10%, 25%, ... so each
larger training set contains the smaller ones and the curve shows the effect of adding data, not
of drawing a different sample.

The plain-language ``signal`` reads the last step (for example 50% → 100%). Both students are
scored on the same gold examples, so the step's gain gets a paired-bootstrap 95% interval
(the task's :meth:`~distil.tasks.Task.paired_bootstrap`):

- the interval is above 0: *more annotation still pays off*;
- it includes 0: *the curve has flattened* — the gain is within what resampling the gold set
  gives, so more annotation of the same kind is unlikely to help (better labels, other examples,
  or a stronger student may);
- it is below 0: *the score fell*, which points at noisy labels or an unstable student.

The metric is the task's :attr:`~distil.tasks.Task.learning_curve_metric`: macro-F1 for
classification and span-exact micro-F1 for span tasks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..records import Example, TaskOutput
from ..student import Student, TrainPair
from ..tasks import Task

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def _metric_for(task: Task) -> str:
    return task.learning_curve_metric


def _label(metric: str) -> str:
    return metric.replace("_f1", "-F1")


def _signed(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


def _pct(fraction: float) -> str:
    return f"{fraction:.0%}"


def learning_curve(
    task: Task,
    student_factory: Callable[[], Student],
    train_pairs: Sequence[TrainPair],
    gold_examples: Sequence[Example],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    *,
    dev_pairs: list[TrainPair] | None = None,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Train ``student_factory()`` on each fraction of ``train_pairs`` and score it on gold.

    ``fractions`` are increasing, in (0, 1], at least two. Each row has ``fraction``,
    ``n_train``, ``score`` (the task's headline metric, see the module docstring), ``ci`` (its
    95% bootstrap interval), ``scores`` (everything ``task.score`` returned) and
    ``train_time_s``. ``last_step`` holds the paired comparison of the last two rows and
    ``signal`` the sentence that reads it. The result is JSON-able.
    """
    fracs = [float(f) for f in fractions]
    if len(fracs) < 2:
        raise ValueError("a learning curve needs at least two fractions")
    if any(not 0.0 < f <= 1.0 for f in fracs) or fracs != sorted(set(fracs)):
        raise ValueError(f"fractions must increase and lie in (0, 1], got {list(fractions)}")
    if not train_pairs:
        raise ValueError("a learning curve needs training pairs")
    gold: list[TaskOutput] = []
    for ex in gold_examples:
        ref = task.reference(ex)
        if ref is None:
            raise ValueError(f"gold example '{ex.id}' has no reference answer")
        gold.append(ref)
    inputs = [ex.without_answer() for ex in gold_examples]
    order = list(range(len(train_pairs)))
    random.Random(seed).shuffle(order)
    metric = _metric_for(task)
    rows: list[dict[str, Any]] = []
    outputs: list[list[TaskOutput | None]] = []
    for fraction in fracs:
        n_train = max(1, round(fraction * len(train_pairs)))
        subset = [train_pairs[i] for i in order[:n_train]]
        student = student_factory()
        started = time.perf_counter()
        try:
            student.fit(task, subset, dev_pairs)
        except Exception as exc:
            raise ValueError(
                f"training on {_pct(fraction)} of the data ({n_train} examples) failed: {exc}"
            ) from exc
        train_time = time.perf_counter() - started
        predicted: list[TaskOutput | None] = [p.output for p in student.predict(inputs)]
        scores = task.score(gold, predicted)
        outputs.append(predicted)
        rows.append(
            {
                "fraction": fraction,
                "n_train": n_train,
                "score": scores[metric],
                "ci": scores["ci"][metric],
                "scores": scores,
                "train_time_s": round(train_time, 4),
            }
        )
    step = task.paired_bootstrap(list(gold), outputs[-1], outputs[-2], metric=metric, n_boot=n_boot)
    step |= {"from": fracs[-2], "to": fracs[-1]}
    result = {
        "task": task.describe(),
        "metric": metric,
        "seed": seed,
        "n_gold": len(gold),
        "n_train_total": len(train_pairs),
        "rows": rows,
        "last_step": step,
    }
    result["signal"] = learning_curve_signal(result)
    return result


def learning_curve_signal(result: dict[str, Any]) -> str:
    """The plain-language reading of the last step (rules in the module docstring)."""
    step = result["last_step"]
    low, high = step["ci"]
    gain = step["delta"]
    where = f"{_pct(step['from'])} to {_pct(step['to'])}"
    interval = f"95% CI [{_signed(low)}, {_signed(high)}]"
    name = _label(result["metric"])
    if low > 0:
        return f"more annotation still pays off: {_signed(gain)} {name} from {where} ({interval})."
    if high < 0:
        return (
            f"the score fell: {_signed(gain)} {name} from {where} ({interval}): check the new "
            "labels for noise, or the student for instability."
        )
    return (
        f"the curve has flattened: {_signed(gain)} {name} from {where} (within the noise, "
        f"{interval} includes 0): more annotation of the same kind is unlikely to help."
    )


def learning_curve_markdown(result: dict[str, Any]) -> str:
    """A Markdown table (fraction, training examples, score with CI, gain) and the signal."""
    name = _label(result["metric"])
    lines = [
        f"| share of training data | training examples | {name} [95% CI] | gain |",
        "|---:|---:|---:|---:|",
    ]
    previous: float | None = None
    for row in result["rows"]:
        low, high = row["ci"]
        gain = "—" if previous is None else _signed(row["score"] - previous)
        lines.append(
            f"| {_pct(row['fraction'])} | {row['n_train']:,} | "
            f"{row['score']:.3f} [{low:.3f}, {high:.3f}] | {gain} |"
        )
        previous = row["score"]
    lines += ["", f"**Signal.** {result['signal']}", ""]
    return "\n".join(lines)


def plot_learning_curve(result: dict[str, Any], path: str | Path) -> Path:
    """Write the curve (score with its 95% interval against training examples) as a PNG.

    matplotlib is not a dependency of distil: without it this raises ImportError saying how to
    install it. It is imported here, with the non-interactive Agg backend, and nowhere else.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plotting a learning curve needs matplotlib, which distil does not install: "
            "pip install matplotlib"
        ) from exc
    rows = result["rows"]
    xs = [r["n_train"] for r in rows]
    ys = [r["score"] for r in rows]
    name = _label(result["metric"])
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        ax.fill_between(
            xs, [r["ci"][0] for r in rows], [r["ci"][1] for r in rows], alpha=0.25, label="95% CI"
        )
        ax.plot(xs, ys, marker="o", label=name)
        for row in rows:
            ax.annotate(
                _pct(row["fraction"]),
                (row["n_train"], row["score"]),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=8,
            )
        ax.set_xlabel("training examples")
        ax.set_ylabel(name)
        ax.set_title(f"learning curve: {result['task'].get('kind', 'task')}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
    return out
