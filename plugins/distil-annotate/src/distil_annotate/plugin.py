"""The distil plugin module (entry point ``distil: annotate``): adds the ``distil annotate`` command.

Cheap to import: FastAPI and uvicorn are imported only when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import distil

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@distil.hookimpl
def register_commands(cli: Any) -> None:
    import typer

    @cli.command("annotate")
    def annotate(
        config: Path = typer.Argument(..., help="The project config (distil.cfg)."),
        host: str = typer.Option(
            "127.0.0.1", help="Address to bind; off loopback a token is required."
        ),
        port: int = typer.Option(8080, help="Port to listen on."),
        session: str = typer.Option(
            "default", help="Annotator name when the URL has no ?session=."
        ),
        dataset: str = typer.Option("train", help="Which data set to annotate."),
        token: str | None = typer.Option(
            None, help="Require this token on every API call (generated when binding off loopback)."
        ),
        source: str | None = typer.Option(
            None,
            help="Teacher source to review (default: the one that labelled the most examples).",
        ),
        report: bool = typer.Option(
            False, "--report", help="Print progress and inter-annotator agreement as JSON and exit."
        ),
        reviewer: list[str] | None = typer.Option(
            None,
            "--reviewer",
            help="A session that may review conflicts (repeat; adds to the config's annotate.reviewers).",
        ),
    ) -> None:
        """Serve the annotation app: accept, reject or correct the teacher's labels, one pass at a time."""
        from .server import open_workspace, serve

        workspace, project = open_workspace(
            config, dataset=dataset, source=source, reviewers=reviewer or ()
        )
        try:
            if report:
                print(json.dumps(workspace.summary(), indent=2))
                return
            limit = project.config.annotate.max_body_bytes
            serve(
                workspace, host=host, port=port, token=token, session=session, max_body_bytes=limit
            )
        finally:
            project.close()
