"""``distil compare``: several evaluation runs side by side.

Each run is a report folder (holding ``report.json``) or a ``report.json`` itself. The table has one
row per source and run, with the run's headline score (and CI), throughput and cost per million
documents, so a change of prompt, teacher or student shows up as rows next to each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .report import _md_table
from .summary import DASH, _money, _rate, _with_ci, headline_metric


def load_report(path: str | Path) -> tuple[str, dict[str, Any]]:
    """A run's display name (its folder's name) and its report, from a folder or a report.json."""
    target = Path(path)
    file = target / "report.json" if target.is_dir() else target
    if not file.is_file():
        raise FileNotFoundError(
            f"{target}: no report.json there; give a report folder (distil evaluate --output) "
            "or a report.json"
        )
    report = json.loads(file.read_text(encoding="utf-8"))
    if not isinstance(report, dict) or "sources" not in report:
        raise ValueError(f"{file}: not a distil report (no 'sources')")
    return (file.parent.name or str(file.parent)), report


def compare_rows(runs: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: source × run, with the headline metric (CI), docs/s and $ per 1M docs.

    Repeated run names get ``#2``, ``#3`` appended so every row says which run it is.
    """
    names: list[str] = []
    for name, _ in runs:
        unique, k = name, 2
        while unique in names:
            unique, k = f"{name}#{k}", k + 1
        names.append(unique)
    metrics = {headline_metric(r) for _, r in runs}
    metric = metrics.pop() if len(metrics) == 1 else None
    score_header = (metric or "main score").replace("_f1", "-F1") + " [95% CI]"
    header = ["source", "run", "role", score_header, "docs/s", "$ per 1M docs"]
    order: list[str] = []
    for _, report in runs:
        order += [s["name"] for s in report["sources"] if s["name"] not in order]
    rows = []
    for source in order:
        for run, (_, report) in zip(names, runs, strict=True):
            found = next((s for s in report["sources"] if s["name"] == source), None)
            if found is None:
                continue
            m = metric or headline_metric(report)
            rows.append(
                [
                    source,
                    run,
                    found["role"],
                    _with_ci(found["scores"], m),
                    _rate(found["utility"].get("docs_per_s")),
                    _money(found["utility"].get("cost_per_1m_docs")),
                ]
            )
    return header, rows or [[DASH] * len(header)]


def compare_markdown(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """The comparison as Markdown: a title, the runs and their gold sets, and the table."""
    lines = ["# distil compare", ""]
    for name, report in runs:
        lines.append(f"- {name}: {report['gold']['name']} ({report['gold']['n']} gold examples)")
    lines += ["", *_md_table(*compare_rows(runs)), ""]
    return "\n".join(lines)
