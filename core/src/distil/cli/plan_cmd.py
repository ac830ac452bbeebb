"""``distil plan CONFIG``: how the task is decomposed, shown before anything runs.

For an ``extract`` task: one row per schema field (field → kind → subtask → student, and why),
the subtasks, the fields that stay with the teacher, and the config keys that override a decision.
Once the teacher has labelled, it also counts the invalid or partial teacher records and the
records each subtask cannot learn from. It sends nothing to any model.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

CONFIG = typer.Argument(..., help="The project config (distil.cfg).", exists=False)


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan(
        config: Path = CONFIG,
        as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    ) -> None:
        """Show how the task is split into subtasks (field → kind → subtask → student)."""
        from rich.console import Console

        from ..config import load_config
        from ..extract.audit import audit_lines, audit_records
        from ..extract.render import plan_table, plan_text

        loaded = load_config(config)
        task = loaded.task
        console = Console(soft_wrap=True)
        the_plan = getattr(task, "plan", None)
        if the_plan is None:
            console.print(
                f"task '{task.kind}' is already one flat subtask ({len(task.labels)} labels): "
                "nothing to decompose",
                highlight=False,
            )
            return
        audit = None
        if loaded.store_path.is_file():
            from ..store.sqlite import Store

            store = Store(loaded.store_path)
            try:
                audit = audit_records(store, the_plan, loaded.teacher.source(task))
            finally:
                store.close()
        if as_json:
            payload = {**the_plan.to_dict(), "teacher_records": audit}
            typer.echo(json.dumps(payload, indent=2, default=str))
            return
        text = plan_text(the_plan, loaded.student)
        if console.is_terminal:
            console.print(plan_table(the_plan, loaded.student))
            text = text.split("\n\n", 1)[1]
        # Piped (or in a test): the plain table, one row per line, whatever the width.
        console.print(text, highlight=False, markup=False, crop=False, overflow="ignore")
        if audit is not None:
            console.print("\n".join(audit_lines(audit)), highlight=False, markup=False)
