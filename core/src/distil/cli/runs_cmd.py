"""``distil runs``: every run of a project, how it ended, what it did and what it cost.

A plain table, printed literally (an error message may hold brackets): one row per run, newest
first. A run left ``running`` by a process that has since died reads ``interrupted`` (the store
finds it when listing). ``--json`` prints the same rows for scripts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

COLUMNS = ("id", "kind", "status", "started", "duration", "counts", "cost", "note")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _counts(run: dict[str, Any], written: tuple[int, int] | None) -> str:
    """What the run did, from its stats (or, for a label run killed before writing them, from
    the predictions it stored)."""
    stats = run["stats"]
    kind = run["kind"]
    if kind == "label":
        if "labelled" in stats:
            labelled, failures = int(stats["labelled"]), int(stats.get("failures", 0))
        elif written is not None:
            labelled, failures = written
        else:
            return "-"
        text = f"labelled {labelled}, {failures} failed"
        if stats.get("retried"):
            text += f", {stats['retried']} retried"
        return text
    if kind == "train" and "n_train" in stats:
        return f"trained on {stats['n_train']} rows"
    if kind == "predict" and "predicted" in stats:
        return f"predicted {stats['predicted']}"
    return "-"


def _cost(run: dict[str, Any]) -> str:
    from ..teach.pricing import format_cost

    ledger = run["stats"].get("ledger")
    if not isinstance(ledger, dict) or not ledger:
        return "-"
    return format_cost(ledger.get("cost"))


def _note(run: dict[str, Any]) -> str:
    if run["status"] == "running":
        return f"pid {run.get('pid')} on {run.get('host')}" if run.get("pid") else ""
    error = (run.get("error") or "").strip().splitlines()
    return error[0] if error else ""


def run_rows(
    runs: list[dict[str, Any]], written: dict[str, tuple[int, int]]
) -> list[dict[str, str]]:
    """One row of text per run (the table's cells, keyed by column)."""
    now = time.time()
    rows = []
    for run in runs:
        end = run["finished_at"] if run["finished_at"] is not None else None
        if end is None and run["status"] == "running":
            end = now
        started = run["started_at"]
        rows.append(
            {
                "id": run["id"],
                "kind": run["kind"],
                "status": run["status"],
                "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
                "duration": _duration(end - started if end is not None else None),
                "counts": _counts(run, written.get(run["id"])),
                "cost": _cost(run),
                "note": _note(run),
            }
        )
    return rows


def table(rows: list[dict[str, str]]) -> str:
    """The rows as a plain, aligned text table (the last column is not padded)."""
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}

    def line(cells: dict[str, str]) -> str:
        return "  ".join(cells[c].ljust(widths[c]) for c in COLUMNS).rstrip()

    return "\n".join([line({c: c for c in COLUMNS}), *(line(r) for r in rows)])


def register(app: typer.Typer) -> None:
    @app.command("runs")
    def runs(
        config: Path = typer.Argument(..., help="The project config (distil.cfg)."),
        kind: str | None = typer.Option(None, help="Only runs of this kind: label, train, ..."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """List the project's runs: how each ended, what it did, what it cost."""
        from ..project import Project

        with Project.from_config(config) as project:
            found = project.store.runs(kind)
            written = project.store.predictions_by_run()
        rows = run_rows(found, written)
        if as_json:
            typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        elif not rows:
            typer.echo(f"no runs yet in {config}'s store")
        else:
            typer.echo(table(rows))
