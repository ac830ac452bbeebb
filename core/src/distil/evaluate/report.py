"""The evaluation report: every source side by side on one gold set, as JSON, Markdown and a table.

:func:`build_report` assembles a JSON-able dict (the format CI jobs read); :func:`render_markdown`
and :func:`rich_table` present the same rows for people, and :func:`write_report` saves the files.
The plain-language findings are computed from the numbers, and say so when the student is worse.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tasks.base import Task
from . import html
from .summary import findings, label_rows, scoring_title, summary_rows

if TYPE_CHECKING:
    from rich.table import Table

ROLES = ("teacher", "student", "human")


@dataclass
class SourceResult:
    """One source's results on the gold set.

    ``source`` is the full provenance string (``student:sklearn.textcat#run=…``), ``name`` a short
    display name (unique within a report), ``scores`` what ``task.score`` returned (with ``ci``),
    ``utility`` a :meth:`Utility.to_dict`, ``extra`` metrics added by plugins (``distil_evaluate``).
    """

    source: str
    role: str
    name: str
    scores: dict[str, Any]
    utility: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(
                f"source {self.name!r} has role {self.role!r}; use one of {', '.join(ROLES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_report(
    task: Task,
    sources: list[SourceResult],
    *,
    gold_name: str,
    n_gold: int,
    comparisons: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
    assumptions: dict[str, Any] | None = None,
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the JSON-able report.

    ``baseline`` (:func:`~distil.evaluate.stage.majority_baseline`: ``name``, ``label``, ``from``,
    ``scores``) is added as a top-level key when given; the tables show it as one more column
    with its scores only (it costs nothing and answers instantly, so its utility cells are dashes).

    ``assumptions`` (the ``[evaluate]`` money settings the costs were computed with) is added as
    a top-level key when given. Each comparison is a :func:`~distil.evaluate.metrics.paired_bootstrap` result with ``a`` and
    ``b`` added: the names of the two sources compared (``delta`` is a − b). ``meta`` is merged over
    the defaults ``created_at`` (UTC, ISO 8601), ``distil_version`` and ``command`` (None).
    """
    from .._version import __version__

    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"source names must be unique in a report; repeated: {duplicates}")
    for comparison in comparisons or []:
        for side in ("a", "b"):
            if comparison.get(side) not in names:
                raise ValueError(
                    f"comparison {side}={comparison.get(side)!r} names no source; "
                    f"the sources are {names}"
                )
    info: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "distil_version": __version__,
        "command": None,
    }
    info.update(meta or {})
    report: dict[str, Any] = {
        "task": task.describe(),
        # how the task is scored, so that a saved report renders without the task's class
        "scoring": {
            "headline_metric": task.headline_metric,
            "span_exact": task.span_exact,
            "mode": task.scoring_mode,
            "accuracy_title": task.accuracy_title,
            "per_label_title": task.per_label_title,
        },
        "gold": {"name": gold_name, "n": n_gold},
        "sources": [s.to_dict() for s in sources],
        "comparisons": list(comparisons or []),
        "meta": info,
    }
    if assumptions is not None:
        report["assumptions"] = dict(assumptions)
    if baseline is not None:
        report["baseline"] = dict(baseline)
    return report


# -- renderers ------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join(["---", *["---:"] * (len(header) - 1)]) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: title, gold set, the side-by-side table, findings, per-label F1."""
    task = report["task"]
    gold = report["gold"]
    mode = scoring_title(report, "mode")
    lines = [
        f"# distil evaluation: {task.get('kind', 'task')} on {gold['name']}",
        "",
        f"Gold set: **{gold['name']}**, {gold['n']} examples. "
        f"Task: {task.get('kind')} ({mode}, {len(task.get('labels', []))} labels).",
        "",
        *_md_table(*summary_rows(report)),
        "",
        "Scores are on the gold set with percentile-bootstrap 95% intervals in brackets; "
        "a failed answer counts as wrong.",
        "",
    ]
    found = findings(report)
    if found:
        lines += ["**Findings.** " + " ".join(found), ""]
    assumed = report.get("assumptions")
    if assumed:
        lines += [
            "**Assumptions.** "
            + ", ".join(f"{k} = {v}" for k, v in assumed.items())
            + " (costs without a price table are measured seconds × cpu_hour_cost; "
            "see docs/report.md).",
            "",
        ]
    for s in report["sources"]:
        lines.append(f"- {s['name']}: `{s['source']}`")
        trained = (s.get("extra") or {}).get("trained_on")
        if trained and trained.get("n") is not None:
            answers = ", ".join(
                f"{k} {v}" for k, v in sorted((trained.get("human_answers") or {}).items())
            )
            lines.append(
                f"  trained on {trained['n']} labels: {trained.get('from_teacher', 0)} from the "
                f"teacher, {trained.get('from_humans', 0)} from humans"
                + (f" ({answers})" if answers else "")
            )
    per_label = f"## {scoring_title(report, 'per_label_title')}"
    lines += ["", per_label, "", *_md_table(*label_rows(report)), ""]
    meta = report.get("meta", {})
    stamp = ", ".join(f"{k}: {v}" for k, v in meta.items() if v is not None)
    if stamp:
        lines += [f"<sub>{stamp}</sub>", ""]
    return "\n".join(lines)


def write_report(report: dict[str, Any], outdir: str | Path) -> dict[str, Path]:
    """Write ``report.json`` (indent 2), ``report.md`` and ``report.html`` into ``outdir``.

    The folder is created if needed. The HTML embeds its plots (matplotlib, the ``plots`` extra)
    and the learning curve when ``learning_curve.json`` is already in ``outdir``.

    Every text is rendered before any file is touched, and each file is written to a temporary
    file in the same folder and renamed over the old one (``os.replace``, atomic): an error or a
    kill never leaves an empty or half-written report, and an error while rendering leaves the
    previous report whole.
    """
    folder = Path(outdir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "report.json",
        "md": folder / "report.md",
        "html": folder / "report.html",
    }
    curve_path = folder / "learning_curve.json"
    curve = json.loads(curve_path.read_text(encoding="utf-8")) if curve_path.exists() else None
    texts = {
        "json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "md": render_markdown(report),
        "html": html.render_html(report, learning_curve=curve),
    }
    for name, path in paths.items():
        write_atomic(path, texts[name])
    return paths


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its folder and an atomic rename."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600): keep the old file's mode, or the usual 0644
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def rich_table(report: dict[str, Any]) -> Table:
    """The side-by-side table as a ``rich`` Table, for the CLI."""
    from rich.table import Table
    from rich.text import Text

    header, rows = summary_rows(report)
    table = Table(title=f"{report['task'].get('kind', 'task')} on {report['gold']['name']}")
    table.add_column(header[0], style="bold", no_wrap=True)
    for name in header[1:]:
        table.add_column(Text(name), justify="right")
    for r in rows:
        # Text, not markup: a CI "[0.1, 0.2]" or a label in brackets must print as written.
        table.add_row(*[Text(c) for c in r])
    return table
